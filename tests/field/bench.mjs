#!/usr/bin/env node
// Benchmark of the field sync SDK (web/field/sdk/) in a browser, for issue 15's
// performance targets. A benchmark, not a test: it prints a Markdown table and one JSON
// line, and exits non-zero only on an error (a server it cannot use, a failed sync), never
// on a missed target.
//
// Measured in headless Chromium (/usr/bin/chromium, or $CHROMIUM, under playwright-core),
// with the renderer's CPU throttled 4× through the DevTools protocol
// (`Emulation.setCPUThrottlingRate`, a low-end tablet), and again without throttling
// (rate 1), so the ratio shows:
//
//   1. First sync of team T01 (doctor1: ≈5,000 residents, ≈30,000 records) into an empty
//      store: from `client.sync()` start until the bootstrap's records are readable by
//      `client.list('resident')` ("usable"). Target < 30 s. Total, pages, records, records/s,
//      and the time the sync's requests spent on the network (Resource Timing).
//   2. Local search of the team's residents through the app's own search
//      (web/field/app/search.js over web/field/app/data.js's index, as the 居民 screen
//      does): p50 / p95 of 20 queries (surnames, given-name fragments, full names, household
//      ids, surname + household number). Target < 100 ms.
//   3. 1,000 ops recorded with `client.record` (700 visits, 300 resident phone updates, for
//      residents of the team), then `client.sync()` (push, and the pull that brings their
//      server shapes back). Target < 5 s. Afterwards the bench deletes the visits it made
//      (from Node, as doctor1), so the team's live records stay at their size.
//
// How to run (do not build here if other builds own the CPU; a built binary is enough):
//
//   cargo build --release   # or use a debug build: the server's speed changes the network share
//   mkdir -p /tmp/field-bench && cp target/release/jiayi /tmp/field-bench/jiayi
//   cd /work/main && DATABASE_URL=sqlite:///tmp/field-bench/db-$RANDOM.db \
//     JIAYI_BIND=127.0.0.1:18383 JIAYI_DEMO_RESIDENTS=56200 JIAYI_SYNC_RATE_PER_MINUTE=100000 \
//     /tmp/field-bench/jiayi
//   node tests/field/bench.mjs http://127.0.0.1:18383
//
// Data size: the demo county spreads its residents over 40 villages with fixed (seeded)
// weights; T01 (doctor1's team, 4 villages of 城关镇) gets 8.9 % of them, so 56,200 demo
// residents give T01 4,981 residents, and 10,900 records (2.2 per resident: contracts,
// visits, surveys, not-signed). The demo loads that in about a minute (debug build). The
// bench itself tops the team up to the targets before measuring, through the push API as
// doctor1, from Node: residents (valid GB 11643 ID numbers with area code 11xxxx, which no
// demo resident has) when T01 has fewer than 95 % of TARGET_RESIDENTS, then visits until
// it holds TARGET_RECORDS. Idempotent: a team already big enough is left as it is; run
// once, the top-up pushes ≈19,100 visits (≈20 s on a debug build).
//
// Environment: RATES=4,1 (CPU throttling rates, in order), TARGET_RESIDENTS=5000,
// TARGET_RECORDS=30000, OPS=1000, PROFILE=1 (after the measured runs, one more throttled
// first sync and ops sync with Chromium's sampling Profiler and counters around fetch,
// JSON parsing and IndexedDB: what bounds them; not used for the figures), CHROMIUM=path.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, cst, idNumber, rand } from './lib/common.mjs';

const BASE = (process.argv[2] ?? '').replace(/\/+$/, '');
if (!/^https?:\/\//.test(BASE)) {
  console.error('usage: node tests/field/bench.mjs <baseUrl>   e.g. http://127.0.0.1:18383');
  process.exit(2);
}
const PASSWORD = 'jiayi-demo';
const USER = 'doctor1';
const HARNESS = `${BASE}/field/sdk/test/harness.html`;
const RATES = (process.env.RATES ?? '4,1').split(',').map(Number).filter((n) => n >= 1);
const TARGET_RESIDENTS = Number(process.env.TARGET_RESIDENTS ?? 5000);
const TARGET_RECORDS = Number(process.env.TARGET_RECORDS ?? 30000);
const OPS = Number(process.env.OPS ?? 1000);
const PROFILE = process.env.PROFILE === '1';
const TARGETS = { firstSyncS: 30, searchMs: 100, opsSyncS: 5 };
/** The Node side's device (one per bench machine, reused across runs). */
const NODE_DEVICE = 'field-bench-node';

// ---------------------------------------------------------------------------------------
// Helpers

const pick = (list) => list[rand(list.length)];
const tag = () => `${Date.now().toString(36)}${rand(1e6).toString(36)}`;
const log = (...a) => console.error('[bench]', ...a);

/** Milliseconds since January 1st of this year, China time (at least a day). */
function sinceNewYearMs() {
  const now = new Date(Date.now() + 8 * 3600 * 1000);
  const jan1 = Date.UTC(now.getUTCFullYear(), 0, 1);
  return Math.max(24 * 3600 * 1000, now.getTime() - jan1);
}

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '黄', '赵', '周', '吴', '徐', '孙', '胡', '朱', '高', '林', '何', '郭', '马', '罗'];
const GIVEN = ['秀英', '建国', '桂英', '德明', '春梅', '志强', '淑珍', '海波', '丽娟', '国华', '玉兰', '文军', '红霞', '永刚', '小平'];
const NOTES = ['血压控制尚可，继续服药', '嘱低盐饮食，规律监测', '血糖偏高，调整饮食', '上门随访，精神状态好', '指导康复训练'];

/** A visit's create data (kinds and measurements as the demo county's). */
function visitData(residentId, agoMs) {
  const kind = pick(['htn_followup', 'htn_followup', 'dm_followup', 'elderly_check', 'home_visit']);
  const systolic = 110 + rand(60);
  const bp = { systolic, diastolic: Math.min(systolic - 20, 65 + rand(30)), heart_rate: 60 + rand(30) };
  const measurements =
    kind === 'htn_followup'
      ? bp
      : kind === 'dm_followup'
        ? { fasting_glucose: Math.round((5 + Math.random() * 5) * 10) / 10 }
        : kind === 'elderly_check'
          ? { ...bp, fasting_glucose: 5.6, weight_kg: 50 + rand(30), height_cm: 150 + rand(30) }
          : {};
  return { resident_id: residentId, kind, occurred_at: cst(agoMs), measurements, notes: pick(NOTES) };
}

/** p-th percentile (nearest rank) of numbers. */
function percentile(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
}

const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

// ---------------------------------------------------------------------------------------
// The server, from Node

async function api(method, path, o = {}) {
  const headers = {};
  if (o.token) headers.Authorization = `Bearer ${o.token}`;
  if (o.sync) headers['X-Sync-Protocol'] = '1';
  if (o.json !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(BASE + path, { method, headers, body: o.json === undefined ? undefined : JSON.stringify(o.json) });
  const text = await r.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return { status: r.status, body, bytes: text.length };
}

async function nodeLogin() {
  const r = await api('POST', '/api/v1/auth/login', {
    json: { username: USER, password: PASSWORD, device_id: NODE_DEVICE, device_name: 'field bench (Node)' },
  });
  if (r.status !== 200) throw new Error(`login ${USER}: ${r.status} ${JSON.stringify(r.body)}`);
  const me = await api('GET', '/api/v1/me', { token: r.body.access_token });
  if (me.status !== 200) throw new Error(`GET /me: ${me.status}`);
  return { token: r.body.access_token, me: me.body };
}

/** T01's live records as a fresh tablet's bootstrap sees them (pages of 2,000). */
async function scope(token) {
  const counts = { resident: 0, contract: 0, visit: 0, survey: 0, not_signed: 0 };
  const residents = [];
  let page;
  let pages = 0;
  let bytes = 0;
  for (;;) {
    const q = new URLSearchParams({ limit: '2000', ...(page ? { page } : {}) });
    const r = await api('GET', `/api/v1/sync/bootstrap?${q}`, { token, sync: true });
    if (r.status !== 200) throw new Error(`bootstrap: ${r.status} ${JSON.stringify(r.body)}`);
    pages += 1;
    bytes += r.bytes;
    for (const rec of r.body.records) {
      counts[rec.entity] = (counts[rec.entity] ?? 0) + 1;
      if (rec.entity === 'resident') residents.push({ id: rec.id, village_code: rec.data.village_code });
    }
    if (!r.body.next_page) break;
    page = r.body.next_page;
  }
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return { counts, total, pages, bytes, residents };
}

/** Pushes ops from Node in batches; throws if more than 1 % are rejected. */
async function pushAll(token, me, ops, what) {
  const max = me.limits?.max_batch_ops ?? 1000;
  const tally = { applied: 0, duplicate: 0, conflict: 0, rejected: 0 };
  let firstError = null;
  for (let i = 0; i < ops.length; i += max) {
    const batch = ops.slice(i, i + max);
    const r = await api('POST', '/api/v1/sync/push', { token, sync: true, json: { device_id: NODE_DEVICE, ops: batch } });
    if (r.status !== 200) throw new Error(`push (${what}): ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    for (const res of r.body.results) {
      tally[res.status] = (tally[res.status] ?? 0) + 1;
      if (res.status === 'rejected' && !firstError) firstError = res.error;
    }
    log(`  ${what}: ${Math.min(i + max, ops.length)} / ${ops.length} pushed`);
  }
  if (tally.rejected > ops.length * 0.01) throw new Error(`push (${what}): ${tally.rejected} rejected, e.g. ${JSON.stringify(firstError)}`);
  return tally;
}

const op = (entity, action, id, data) => ({ op_id: crypto.randomUUID(), entity, action, id, recorded_at: cst(60_000), data });

/** Tops T01 up to TARGET_RESIDENTS residents and TARGET_RECORDS records (idempotent). */
async function setUp() {
  const { token, me } = await nodeLogin();
  const before = await scope(token);
  log(`T01 before set-up: ${before.counts.resident} residents, ${before.total} records (${before.pages} pages)`);
  const added = { residents: 0, visits: 0 };
  if (before.counts.resident < TARGET_RESIDENTS * 0.95) {
    const n = TARGET_RESIDENTS - before.counts.resident;
    const ops = [];
    for (let i = 0; i < n; i++) {
      const sex = rand(2) ? 'M' : 'F';
      const village = pick(me.villages);
      ops.push(
        op('resident', 'create', crypto.randomUUID(), {
          village_code: village,
          name: pick(SURNAMES) + pick(GIVEN),
          sex,
          ...idNumber(sex),
          phone: `139${String(rand(1e8)).padStart(8, '0')}`,
          tags: rand(3) === 0 ? ['hypertension'] : [],
          household_id: `${village}-B${String(Math.floor(i / 3)).padStart(4, '0')}`,
        }),
      );
    }
    added.residents = (await pushAll(token, me, ops, 'residents')).applied;
  }
  let mid = added.residents ? await scope(token) : before;
  if (mid.total < TARGET_RECORDS * 0.98) {
    const n = TARGET_RECORDS - mid.total;
    const span = sinceNewYearMs() - 3600_000;
    const ops = [];
    for (let i = 0; i < n; i++) ops.push(op('visit', 'create', crypto.randomUUID(), visitData(pick(mid.residents).id, 3600_000 + rand(span))));
    added.visits = (await pushAll(token, me, ops, 'visits')).applied;
  }
  const after = added.residents || added.visits ? await scope(token) : mid;
  log(`T01 measured: ${after.counts.resident} residents, ${after.total} records (${after.pages} bootstrap pages of 2,000, ${(after.bytes / 1e6).toFixed(1)} MB JSON)`);
  return { token, me, before: before.counts, beforeTotal: before.total, after: after.counts, afterTotal: after.total, added };
}

// ---------------------------------------------------------------------------------------
// The browser

/** A fresh tablet: persistent profile (IndexedDB on disk, as on a tablet), the harness page. */
async function openTablet(rate) {
  const profile = mkdtempSync(join(tmpdir(), 'jiayi-field-bench-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timezoneId: 'Asia/Shanghai',
    args: CHROMIUM_ARGS,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(HARNESS);
  await page.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout: 30_000 });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Emulation.setCPUThrottlingRate', { rate });
  const version = (await cdp.send('Browser.getVersion').catch(() => ({}))).product ?? '?';
  await installRequests(page);
  const close = async () => {
    await context.close().catch(() => {});
    try {
      rmSync(profile, { recursive: true, force: true });
    } catch {
      // left to the OS's tmp cleaning
    }
  };
  return { context, page, cdp, problems, close, version };
}

/** Makes `window.client` on a new database and logs it in (not timed). */
async function newClient(page, dbName) {
  return page.evaluate(
    async ({ dbName: name, user, password }) => {
      window.client = window.jiayi.createClient({ baseUrl: '', appVersion: 'field-bench-1', dbName: name });
      performance.setResourceTimingBufferSize(100000);
      return window.client.login(user, password);
    },
    { dbName, user: USER, password: PASSWORD },
  );
}

/** Installs `window.benchRequests()` (requestsInPage) in the page. */
function installRequests(page) {
  return page.evaluate(() => {
    window.benchRequests = () =>
      performance
        .getEntriesByType('resource')
        .filter((e) => e.name.includes('/api/v1/'))
        .map((e) => ({
          path: new URL(e.name).pathname,
          start: e.startTime,
          waitMs: e.responseStart - e.startTime,
          ms: e.responseEnd - e.startTime,
          transfer: e.transferSize,
          decoded: e.decodedBodySize,
        }));
  });
}

/** Network share of a sync: requests by path, their summed time and bytes. */
function netSummary(requests) {
  const by = {};
  for (const r of requests) {
    const k = r.path.replace(/^\/api\/v1\//, '');
    by[k] ??= { n: 0, ms: 0, waitMs: 0, transfer: 0, decoded: 0 };
    const b = by[k];
    b.n += 1;
    b.ms += r.ms;
    b.waitMs += r.waitMs;
    b.transfer += r.transfer;
    b.decoded += r.decoded;
  }
  for (const b of Object.values(by)) {
    b.ms = round(b.ms);
    b.waitMs = round(b.waitMs);
  }
  return { ms: round(requests.reduce((s, r) => s + r.ms, 0)), byPath: by };
}

/** 1. First sync into an empty store, until `list('resident')` reads the team. */
async function firstSync(page) {
  const r = await page.evaluate(async () => {
    performance.clearResourceTimings();
    const t0 = performance.now();
    const summary = await window.client.sync();
    const t1 = performance.now();
    const residents = await window.client.list('resident');
    const t2 = performance.now();
    return { summary, syncMs: t1 - t0, listMs: t2 - t1, usableMs: t2 - t0, residents: residents.length, requests: window.benchRequests() };
  });
  const pages = r.requests.filter((q) => q.path.endsWith('/sync/bootstrap')).length;
  return {
    usableMs: round(r.usableMs),
    syncMs: round(r.syncMs),
    listMs: round(r.listMs),
    pages,
    records: r.summary.bootstrapped,
    residents: r.residents,
    recordsPerS: Math.round(r.summary.bootstrapped / (r.usableMs / 1000)),
    net: netSummary(r.requests),
  };
}

/** 2. The app's search (data.js's index, search.js's search) over the local residents. */
async function localSearch(page, villages) {
  return page.evaluate(async (vs) => {
    const t0 = performance.now();
    const { buildLocalData } = await import('/field/app/data.js');
    const { search } = await import('/field/app/search.js');
    const t1 = performance.now();
    // As app/actions.js's reload(): the four lists, then the screens' look-ups.
    const c = window.client;
    const [residents, contracts, visits, surveys] = await Promise.all([c.list('resident'), c.list('contract'), c.list('visit'), c.list('survey')]);
    const t2 = performance.now();
    const data = buildLocalData({ residents, contracts, visits, surveys, villages: vs, villageNames: {}, questionnaires: [] });
    const index = data.index();
    const t3 = performance.now();
    // 20 queries from the team's own residents, spread over the sorted list.
    const rs = index.residents;
    const at = (k) => rs[Math.floor(((k + 0.5) * rs.length) / 20)];
    const queries = [];
    for (let k = 0; k < 6; k++) queries.push(at(k).name.slice(0, 1)); // surname
    for (let k = 6; k < 10; k++) queries.push(at(k).name.slice(1)); // given name
    for (let k = 10; k < 14; k++) queries.push(at(k).name); // full name
    for (let k = 14; k < 18; k++) queries.push(at(k).household_id || at(k).name); // household id
    for (let k = 18; k < 20; k++) {
      const r = at(k);
      queries.push(`${r.name.slice(0, 1)} ${(r.household_id || '').split('-').pop()}`); // surname + household no.
    }
    const runs = queries.map((q) => {
      const s = performance.now();
      const res = search(index, q);
      return { q, ms: performance.now() - s, total: res.total, rows: res.rows.length };
    });
    return { importMs: t1 - t0, listMs: t2 - t1, indexMs: t3 - t2, residents: rs.length, runs };
  }, villages);
}

/** 3. OPS ops recorded (untimed apart), then one `client.sync()`. */
async function opsSync(page, n) {
  return page.evaluate(
    async (count) => {
      const c = window.client;
      const { timestamp } = window.jiayi;
      const residents = (await c.list('resident')).filter((r) => r.pending === 0 && typeof r.version === 'number');
      const nUpdates = Math.round(count * 0.3);
      const nVisits = count - nUpdates;
      const step = Math.max(1, Math.floor(residents.length / Math.max(nUpdates, 1)));
      const ops = [];
      for (let i = 0; i < nUpdates; i++) {
        const r = residents[(i * step) % residents.length];
        ops.push(['resident', 'update', r.id, { phone: `138${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}` }]);
      }
      const visitIds = [];
      for (let i = 0; i < nVisits; i++) {
        const r = residents[Math.floor(Math.random() * residents.length)];
        const id = c.newId();
        visitIds.push(id);
        const s = 110 + Math.floor(Math.random() * 60);
        const kind = i % 3 === 0 ? 'home_visit' : 'htn_followup';
        ops.push([
          'visit',
          'create',
          id,
          {
            resident_id: r.id,
            kind,
            occurred_at: timestamp(new Date(Date.now() - 60_000 - Math.floor(Math.random() * 6 * 3600_000))),
            measurements: kind === 'htn_followup' ? { systolic: s, diastolic: Math.min(s - 20, 70 + Math.floor(Math.random() * 20)) } : {},
            notes: 'field bench',
          },
        ]);
      }
      // Interleaved, as a day's work would be.
      ops.sort(() => Math.random() - 0.5);
      const t0 = performance.now();
      for (const [e, a, id, d] of ops) await c.record(e, a, id, d);
      const recordMs = performance.now() - t0;
      const pending = (await c.counts()).pending;
      performance.clearResourceTimings();
      const t1 = performance.now();
      const summary = await c.sync();
      const syncMs = performance.now() - t1;
      return { recordMs, syncMs, pending, summary, visitIds, requests: window.benchRequests() };
    },
    n,
  );
}

/** Deletes the visits the ops phase made, from Node (the team keeps its size). */
async function cleanUp(setup, visitIds) {
  const ops = visitIds.map((id) => op('visit', 'delete', id, {}));
  const { token } = await nodeLogin();
  return pushAll(token, setup.me, ops, 'clean-up (delete the bench visits)');
}

async function runRate(rate, setup) {
  log(`--- CPU throttling ${rate}× ---`);
  const t = await openTablet(rate);
  try {
    const me = await newClient(t.page, `field-bench-${rate}x-${tag()}`);
    const first = await firstSync(t.page);
    log(`first sync: ${first.usableMs} ms, ${first.pages} pages, ${first.records} records, ${first.residents} residents readable`);
    if (first.residents < setup.after.resident * 0.99) throw new Error(`after the first sync list('resident') reads ${first.residents}, the team has ${setup.after.resident}`);
    const s = await localSearch(t.page, me.villages);
    const ms = s.runs.map((x) => x.ms);
    const searchR = {
      p50: round(percentile(ms, 50), 2),
      p95: round(percentile(ms, 95), 2),
      max: round(Math.max(...ms), 2),
      residents: s.residents,
      listMs: round(s.listMs),
      indexMs: round(s.indexMs),
      queries: s.runs.map((x) => ({ q: x.q, ms: round(x.ms, 2), total: x.total })),
    };
    log(`search: p50 ${searchR.p50} ms, p95 ${searchR.p95} ms over ${s.residents} residents`);
    const o = await opsSync(t.page, OPS);
    const sum = o.summary;
    log(`ops: recorded ${o.pending} in ${round(o.recordMs)} ms, sync ${round(o.syncMs)} ms: ${JSON.stringify(sum)}`);
    if (sum.pushed !== o.pending) throw new Error(`sync pushed ${sum.pushed} of ${o.pending} queued ops`);
    const clean = await cleanUp(setup, o.visitIds);
    const opsR = {
      ops: o.pending,
      syncMs: round(o.syncMs),
      recordMs: round(o.recordMs),
      opsPerS: Math.round(o.pending / (o.syncMs / 1000)),
      applied: sum.applied,
      conflict: sum.conflict,
      rejected: sum.rejected,
      pulled: sum.pulled,
      net: netSummary(o.requests),
      cleanedUp: clean.applied + clean.duplicate,
    };
    if (t.problems.length) log(`page errors: ${t.problems.join('; ')}`);
    return { rate, browser: t.version, firstSync: first, search: searchR, opsSync: opsR };
  } finally {
    await t.close();
  }
}

// ---------------------------------------------------------------------------------------
// PROFILE=1: what bounds the throttled syncs

/**
 * In the page: counters around fetch bodies, JSON parsing and IndexedDB (installed once;
 * each call starts fresh counters in `window.benchStats`).
 */
function instrumentInPage() {
  window.benchStats = { bodyMs: 0, parseMs: 0, parsedBytes: 0, tx: [], req: {} };
  if (window.benchInstrumented) return;
  window.benchInstrumented = true;
  const st = () => window.benchStats;
  Response.prototype.json = async function () {
    const a = performance.now();
    const text = await this.text();
    const b = performance.now();
    const v = JSON.parse(text);
    st().bodyMs += b - a;
    st().parseMs += performance.now() - b;
    st().parsedBytes += text.length;
    return v;
  };
  const transaction = IDBDatabase.prototype.transaction;
  IDBDatabase.prototype.transaction = function (stores, mode, ...rest) {
    const tx = transaction.call(this, stores, mode, ...rest);
    if (mode === 'readwrite') {
      const e = { stores: [].concat(stores).join('+'), start: performance.now(), end: 0, requests: 0 };
      st().tx.push(e);
      tx.addEventListener('complete', () => (e.end = performance.now()));
      tx.addEventListener('abort', () => (e.end = performance.now()));
      tx.benchEntry = e;
    }
    return tx;
  };
  // Each request: count it and time its round trip (issued → success event).
  const wrapReq = (proto, kind, name) => {
    const orig = proto[name];
    proto[name] = function (...args) {
      const req = orig.apply(this, args);
      const store = kind === 'index' ? `${this.objectStore.name}.index(${this.name})` : this.name;
      const k = `${store}.${name}`;
      const a = performance.now();
      const c = (st().req[k] ??= { n: 0, ms: 0 });
      c.n += 1;
      const txe = (kind === 'index' ? this.objectStore : this).transaction.benchEntry;
      if (txe) txe.requests += 1;
      req.addEventListener('success', () => (c.ms += performance.now() - a), { once: true });
      return req;
    };
  };
  for (const m of ['get', 'put', 'add', 'delete', 'getAll', 'count', 'openCursor', 'clear']) wrapReq(IDBObjectStore.prototype, 'store', m);
  for (const m of ['get', 'getAll', 'count']) wrapReq(IDBIndex.prototype, 'index', m);
}

/** Self time by function (and by file) from a V8 CPU profile. */
function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const dt = (timeDeltas[i + 1] ?? timeDeltas[i] ?? 0) / 1000;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + dt);
  }
  const byFn = new Map();
  const byFile = new Map();
  for (const [id, ms] of self) {
    const cf = byId.get(id).callFrame;
    const file = cf.url ? cf.url.replace(/^.*\/field\//, '') : '';
    const fn = `${cf.functionName || '(anonymous)'}${file ? ` ${file}:${cf.lineNumber + 1}` : ''}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + ms);
    const f = file || cf.functionName || '(native)';
    byFile.set(f, (byFile.get(f) ?? 0) + ms);
  }
  const top = (m, n) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => [k, round(v)]);
  const functions = top(byFn, 20);
  Object.defineProperty(functions, 'all', { value: [...byFn], enumerable: false });
  return { totalMs: round((profile.endTime - profile.startTime) / 1000), functions, files: top(byFile, 12) };
}

/** Runs `fn` under Chromium's sampling profiler (1 ms); self times of the run. */
async function withProfiler(cdp, fn) {
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 1000 });
  await cdp.send('Profiler.start');
  const result = await fn();
  const { profile } = await cdp.send('Profiler.stop');
  await cdp.send('Profiler.disable');
  return { result, profile: selfTimes(profile) };
}

/** Runs `fn` with the counters of instrumentInPage; what they counted. */
async function withCounters(page, fn) {
  await page.evaluate(instrumentInPage);
  const result = await fn();
  const stats = await page.evaluate(() => {
    const st = window.benchStats;
    const group = {};
    for (const t of st.tx.filter((x) => x.end)) {
      const g = (group[t.stores] ??= { n: 0, ms: 0, requests: 0, longestMs: 0 });
      g.n += 1;
      g.ms += t.end - t.start;
      g.requests += t.requests;
      g.longestMs = Math.max(g.longestMs, t.end - t.start);
    }
    for (const g of Object.values(group)) {
      g.ms = Math.round(g.ms);
      g.longestMs = Math.round(g.longestMs);
    }
    const req = Object.fromEntries(
      Object.entries(st.req).map(([k, v]) => [k, { n: v.n, ms: Math.round(v.ms), meanMs: Math.round((v.ms / v.n) * 1000) / 1000 }]),
    );
    return { bodyMs: Math.round(st.bodyMs), parseMs: Math.round(st.parseMs), parsedBytes: st.parsedBytes, transactions: group, requests: req };
  });
  return { result, stats };
}

/**
 * What the bootstrap's store writes cost, and could cost: one bootstrap page written into
 * scratch databases of the SDK's own schema (sdk/store.js), in one transaction, five ways:
 *   sdk        as sdk/replica.js's applyChanges + rebuild do it: per record get the held
 *              copy, put the server copy, get it again (rebuild), put the local copy, each
 *              request awaited before the next (idb wrapper)
 *   pipelined  the same reads in one batch (Promise.all), rebuild's re-read dropped, the
 *              puts issued without waiting, one wait for the commit (idb wrapper)
 *   raw        as pipelined, plain IndexedDB requests (no idb wrapper promise per request)
 *   raw-empty  as raw without the held-copy reads (a first bootstrap into an empty store)
 *   one-copy   as raw-empty with one put per record (the server copy only)
 * The SDK is not changed; this only shows what bounds it.
 */
async function writePatterns(page, records) {
  return page.evaluate(async (recs) => {
    const { openStore } = await import('/field/sdk/store.js');
    const { unwrap } = await import('/field/vendor/idb/index.js');
    const keyOf = (c) => `${c.entity}/${c.id}`;
    const row = (c) => ({ key: keyOf(c), entity: c.entity, id: c.id, version: c.version, deleted: !!c.deleted, data: c.data ?? null, merged_into: c.merged_into ?? null });
    const local = (x) => ({ key: x.key, entity: x.entity, id: x.id, version: x.version, deleted: false, pending: 0, data: x.data });
    const run = async (name, fn) => {
      const dbName = `field-bench-scratch-${name}-${Date.now()}`;
      const db = await openStore(dbName);
      const t0 = performance.now();
      const tx = db.transaction(['server', 'records', 'queue', 'meta'], 'readwrite');
      await fn(tx);
      await tx.done;
      const ms = performance.now() - t0;
      db.close();
      await new Promise((r) => {
        const d = indexedDB.deleteDatabase(dbName);
        d.onsuccess = d.onerror = d.onblocked = () => r();
      });
      return Math.round(ms);
    };
    const out = { records: recs.length };
    out.sdk = await run('sdk', async (tx) => {
      await tx.objectStore('queue').getAll();
      for (const c of recs) {
        const k = keyOf(c);
        const held = await tx.objectStore('server').get(k);
        if (held && held.version > c.version) continue;
        const x = row(c);
        await tx.objectStore('server').put(x);
        await tx.objectStore('server').get(k);
        await tx.objectStore('records').put(local(x));
      }
    });
    out.pipelined = await run('pipe', async (tx) => {
      const server = tx.objectStore('server');
      const records = tx.objectStore('records');
      const [, held] = await Promise.all([tx.objectStore('queue').getAll(), Promise.all(recs.map((c) => server.get(keyOf(c))))]);
      recs.forEach((c, i) => {
        if (held[i] && held[i].version > c.version) return;
        const x = row(c);
        server.put(x).catch(() => {});
        records.put(local(x)).catch(() => {});
      });
    });
    const raw = (withReads, copies) => async (wrapped) => {
      const tx = unwrap(wrapped);
      const server = tx.objectStore('server');
      const records = tx.objectStore('records');
      let held = [];
      if (withReads) {
        held = await new Promise((res, rej) => {
          const got = new Array(recs.length);
          let left = recs.length;
          recs.forEach((c, i) => {
            const q = server.get(keyOf(c));
            q.onsuccess = () => {
              got[i] = q.result;
              if (--left === 0) res(got);
            };
            q.onerror = () => rej(q.error);
          });
        });
      }
      recs.forEach((c, i) => {
        if (held[i] && held[i].version > c.version) return;
        const x = row(c);
        server.put(x);
        if (copies === 2) records.put(local(x));
      });
    };
    out.raw = await run('raw', raw(true, 2));
    out.rawEmpty = await run('raw-empty', raw(false, 2));
    out.oneCopy = await run('one-copy', raw(false, 1));
    return out;
  }, records);
}

async function profileRun(setup) {
  const rate = RATES[0];
  const out = { rate };
  {
    log(`--- PROFILE 1/3: sampling profiler, CPU ${rate}× ---`);
    const t = await openTablet(rate);
    try {
      await newClient(t.page, `field-bench-profile-${tag()}`);
      out.firstSync = await withProfiler(t.cdp, () => firstSync(t.page));
      log(`first sync (profiled): ${out.firstSync.result.usableMs} ms`);
      const ops = await withProfiler(t.cdp, () => opsSync(t.page, OPS));
      await cleanUp(setup, ops.result.visitIds);
      ops.result = { syncMs: round(ops.result.syncMs), recordMs: round(ops.result.recordMs), summary: ops.result.summary };
      out.opsSync = ops;
      log(`ops sync (profiled): ${ops.result.syncMs} ms`);
    } finally {
      await t.close();
    }
  }
  {
    log('--- PROFILE 2/3: request counters (CPU 1×: counts do not depend on the rate) ---');
    const t = await openTablet(1);
    try {
      await newClient(t.page, `field-bench-count-${tag()}`);
      out.firstSyncCounts = await withCounters(t.page, () => firstSync(t.page));
      const ops = await withCounters(t.page, () => opsSync(t.page, OPS));
      await cleanUp(setup, ops.result.visitIds);
      ops.result = { syncMs: round(ops.result.syncMs), summary: ops.result.summary };
      out.opsSyncCounts = ops;
    } finally {
      await t.close();
    }
  }
  {
    log('--- PROFILE 3/3: one bootstrap page written five ways into scratch stores ---');
    const { token } = await nodeLogin();
    const page1 = await api('GET', '/api/v1/sync/bootstrap?limit=2000', { token, sync: true });
    const t = await openTablet(rate);
    try {
      out.writePatterns = [];
      for (const r of [...new Set([rate, 1])]) {
        await t.cdp.send('Emulation.setCPUThrottlingRate', { rate: r });
        out.writePatterns.push({ rate: r, ...(await writePatterns(t.page, page1.body.records)) });
      }
    } finally {
      await t.close();
    }
  }
  return out;
}

/** Self time grouped: what the main thread did. */
function categories(p) {
  const cat = { idle: 0, idbNative: 0, idbWrapper: 0, sdk: 0, program: 0, gc: 0, other: 0 };
  const native = new Set(['put', 'get', 'add', 'delete', 'getAll', 'count', 'openCursor', 'transaction', 'objectStore', 'index', 'continue']);
  for (const [k, v] of p.functions.all) {
    const name = k.split(' ')[0];
    if (k === '(idle)') cat.idle += v;
    else if (k === '(program)') cat.program += v;
    else if (k === '(garbage collector)') cat.gc += v;
    else if (!k.includes(' ') && native.has(name)) cat.idbNative += v;
    else if (k.includes('vendor/idb/') || ['addEventListener', 'removeEventListener'].includes(k)) cat.idbWrapper += v;
    else if (k.includes('sdk/')) cat.sdk += v;
    else cat.other += v;
  }
  for (const k of Object.keys(cat)) cat[k] = Math.round(cat[k]);
  return cat;
}

// ---------------------------------------------------------------------------------------
// Report

function table(runs) {
  const cols = runs.map((r) => `CPU ${r.rate}×`);
  const ratio = runs.length === 2;
  const head = `| measure | target | ${cols.join(' | ')} |${ratio ? ` ${runs[0].rate}× / ${runs[1].rate}× |` : ''}`;
  const sep = `| --- | --- | ${cols.map(() => '---').join(' | ')} |${ratio ? ' --- |' : ''}`;
  const lines = [head, sep];
  const row = (name, target, get, fmt, met) => {
    const v = runs.map(get);
    const cells = v.map((x) => `${fmt(x)}${met ? (met(x) ? ' ✓' : ' ✗') : ''}`);
    const r = ratio && typeof v[0] === 'number' && v[1] ? ` ${(v[0] / v[1]).toFixed(1)} |` : ratio ? ' |' : '';
    lines.push(`| ${name} | ${target} | ${cells.join(' | ')} |${r}`);
  };
  const s = (ms) => `${(ms / 1000).toFixed(2)} s`;
  const m = (x) => `${x.toFixed(1)} ms`;
  const n = (x) => x.toLocaleString('en-US');
  row('**1. first sync to usable**', '< 30 s', (r) => r.firstSync.usableMs, s, (x) => x < TARGETS.firstSyncS * 1000);
  row('  bootstrap pages / records', '', (r) => `${r.firstSync.pages} / ${n(r.firstSync.records)}`, (x) => x);
  row('  records/s', '', (r) => r.firstSync.recordsPerS, n);
  row('  of which requests on the network', '', (r) => r.firstSync.net.ms, s);
  row("  of which list('resident') after sync", '', (r) => r.firstSync.listMs, m);
  row('**2. search p50**', '< 100 ms', (r) => r.search.p50, m, (x) => x < TARGETS.searchMs);
  row('**2. search p95**', '< 100 ms', (r) => r.search.p95, m, (x) => x < TARGETS.searchMs);
  row('  residents searched', '', (r) => r.search.residents, n);
  row('  reload: 4 lists / build index (once per change)', '', (r) => `${r.search.listMs.toFixed(0)} / ${r.search.indexMs.toFixed(0)} ms`, (x) => x);
  row(`**3. sync of ${n(OPS)} queued ops**`, '< 5 s', (r) => r.opsSync.syncMs, s, (x) => x < TARGETS.opsSyncS * 1000);
  row('  applied / conflict / rejected, pulled back', '', (r) => `${r.opsSync.applied} / ${r.opsSync.conflict} / ${r.opsSync.rejected}, ${r.opsSync.pulled}`, (x) => x);
  row('  of which requests on the network', '', (r) => r.opsSync.net.ms, s);
  row(`  recording the ${n(OPS)} ops (client.record, not in 3.)`, '', (r) => r.opsSync.recordMs, s);
  return lines.join('\n');
}

async function main() {
  const health = await fetch(HARNESS).catch((e) => e);
  if (!(health instanceof Response) || health.status !== 200) {
    console.error(`cannot load ${HARNESS}: ${health instanceof Response ? health.status : health.message}`);
    process.exit(2);
  }
  const started = Date.now();
  const setup = await setUp();
  const runs = [];
  for (const rate of RATES) runs.push(await runRate(rate, setup));
  const prof = PROFILE ? await profileRun(setup) : null;

  console.log(`## Field SDK benchmark — ${BASE}, T01: ${setup.after.resident.toLocaleString('en-US')} residents, ${setup.afterTotal.toLocaleString('en-US')} records`);
  console.log(`Chromium ${runs[0]?.browser ?? '?'}, headless; CPU throttling by Emulation.setCPUThrottlingRate`);
  console.log('');
  console.log(table(runs));
  console.log('');
  for (const r of runs) {
    console.log(`search queries at ${r.rate}× (ms, matches): ${r.search.queries.map((q) => `${q.q} ${q.ms} (${q.total})`).join('; ')}`);
  }
  if (prof) {
    for (const k of ['firstSync', 'opsSync']) prof[k].profile.categories = categories(prof[k].profile);
    console.log('');
    console.log(`### Where the time goes (PROFILE=1; separate instrumented runs, not the figures above)`);
    for (const [name, p, c] of [
      ['first sync', prof.firstSync, prof.firstSyncCounts],
      [`sync of ${OPS} ops`, prof.opsSync, prof.opsSyncCounts],
    ]) {
      const cat = p.profile.categories;
      console.log('');
      console.log(`${name}, CPU ${prof.rate}×, sampled: ${p.profile.totalMs} ms profiled — main thread idle (waiting for the IndexedDB backend / network) ${cat.idle} ms, ` +
        `IndexedDB calls (native put/get/… incl. value serialisation) ${cat.idbNative} ms, idb wrapper + event listeners ${cat.idbWrapper} ms, SDK code ${cat.sdk} ms, ` +
        `(program) ${cat.program} ms, GC ${cat.gc} ms, other ${cat.other} ms`);
      console.log(`  top self time: ${p.profile.functions.slice(0, 14).map(([f, v]) => `${f} ${v}`).join('; ')}`);
      const st = c.stats;
      console.log(`  counters (CPU 1×, sync ${c.result.syncMs ?? c.result.usableMs} ms): response bodies read ${st.bodyMs} ms, JSON.parse ${st.parseMs} ms (${(st.parsedBytes / 1e6).toFixed(1)} MB)`);
      for (const [k, g] of Object.entries(st.transactions).sort((a, b) => b[1].ms - a[1].ms).slice(0, 4)) {
        console.log(`  readwrite transactions over ${k}: ${g.n}, open ${g.ms} ms in all (longest ${g.longestMs} ms), ${g.requests} requests`);
      }
      const reqs = Object.entries(st.requests).sort((a, b) => b[1].n - a[1].n);
      console.log(`  requests: ${reqs.slice(0, 10).map(([k, g]) => `${k} ${g.n}× (${g.meanMs} ms each)`).join(', ')}`);
    }
    console.log('');
    for (const w of prof.writePatterns) {
      console.log(`one bootstrap page (${w.records} records) into a scratch store, CPU ${w.rate}×: sdk ${w.sdk} ms, pipelined ${w.pipelined} ms, raw ${w.raw} ms, raw-empty ${w.rawEmpty} ms, one-copy ${w.oneCopy} ms`);
    }
  }
  const out = {
    base: BASE,
    seconds: Math.round((Date.now() - started) / 1000),
    team: { residents: setup.after.resident, records: setup.afterTotal, counts: setup.after, added: setup.added },
    targets: TARGETS,
    runs: runs.map((r) => ({ ...r, search: { ...r.search } })),
    met: Object.fromEntries(
      runs.map((r) => [
        `${r.rate}x`,
        {
          firstSync: r.firstSync.usableMs < TARGETS.firstSyncS * 1000,
          search: r.search.p95 < TARGETS.searchMs,
          opsSync: r.opsSync.syncMs < TARGETS.opsSyncS * 1000,
        },
      ]),
    ),
    profile: prof,
  };
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
