#!/usr/bin/env node
// Browser tests of the field sync SDK (web/field/sdk/, docs/field-sdk.md) against a running
// jiayi server in demo mode:
//
//   node tests/field/sdk.test.mjs http://127.0.0.1:18181
//
// Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) runs headless under playwright-core
// (`npm ci --prefix tests/field`). Each scenario has its own browser profile, its own
// IndexedDB database and fresh record ids, and checks the server's side through the real
// API. Prints one line per scenario, then "N passed, N failed" and a JSON summary; exits 0
// only if every scenario passed. `ONLY=name,name` runs some scenarios.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, cst, idNumber, rand } from './lib/common.mjs';
import { restoreScenarios } from './lib/restore-scenarios.mjs';

const BASE = (process.argv[2] ?? '').replace(/\/+$/, '');
if (!/^https?:\/\//.test(BASE)) {
  console.error('usage: node tests/field/sdk.test.mjs <baseUrl>   e.g. http://127.0.0.1:18181');
  process.exit(2);
}
const PASSWORD = 'jiayi-demo';
const HARNESS = `${BASE}/field/sdk/test/harness.html`;
const SCENARIO_TIMEOUT_MS = 60_000;
/** Short back-offs: the tests inject failures and should not wait like a tablet in the field. */
const FAST_RETRY = { attempts: 5, baseMs: 100, maxMs: 800, waits: 8 };

// ---------------------------------------------------------------------------------------
// Small helpers

/** @param {unknown} cond @param {string} msg */
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** @param {unknown} a @param {unknown} b @param {string} msg */
function eq(a, b, msg) {
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${msg}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tag = () => `${Date.now().toString(36)}${rand(1e6).toString(36)}`;

/** A new resident's create data in `village`. */
function residentData(village, name = `测试${rand(10000)}`) {
  const sex = rand(2) ? 'M' : 'F';
  const { id_number, birth_date } = idNumber(sex);
  return {
    village_code: village,
    name,
    sex,
    birth_date,
    id_number,
    phone: `139${String(rand(1e8)).padStart(8, '0')}`,
    tags: ['hypertension'],
  };
}

/** A bootstrap page size that splits `records` into at least `pages` pages. */
function pageSize(records, pages) {
  assert(records >= pages, `the scope holds ${records} records, too few for ${pages} bootstrap pages`);
  return Math.max(1, Math.floor(records / pages));
}

/** A visit's create data. */
function visitData(residentId, systolic = 120 + rand(30)) {
  return {
    resident_id: residentId,
    kind: 'home_visit',
    occurred_at: cst(120_000),
    measurements: { systolic, diastolic: 70 + rand(15) },
    notes: 'sdk test',
  };
}

// ---------------------------------------------------------------------------------------
// The server, through its real API (Node's fetch)

/**
 * @param {string} method
 * @param {string} path
 * @param {{ token?: string, json?: unknown, sync?: boolean }} [o]
 */
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
  return { status: r.status, body };
}

/** Logs in from Node as a device of its own; returns the access token and `me`. */
async function serverLogin(username) {
  const r = await api('POST', '/api/v1/auth/login', {
    json: { username, password: PASSWORD, device_id: `node-check-${tag()}`, device_name: 'sdk test checker' },
  });
  assert(r.status === 200, `login ${username}: ${r.status} ${JSON.stringify(r.body)}`);
  const me = await api('GET', '/api/v1/me', { token: r.body.access_token });
  return { token: r.body.access_token, me: me.body };
}

/**
 * A checker that sees what changed in a user's scope: it bootstraps once (its own device),
 * then pulls from its cursor.
 */
class Observer {
  /** @param {string} username */
  static async open(username) {
    const o = new Observer();
    const { token, me } = await serverLogin(username);
    o.token = token;
    o.me = me;
    o.records = new Map();
    let page;
    for (;;) {
      const q = new URLSearchParams({ limit: '10000', ...(page ? { page } : {}) });
      const r = await api('GET', `/api/v1/sync/bootstrap?${q}`, { token, sync: true });
      assert(r.status === 200, `observer bootstrap: ${r.status} ${JSON.stringify(r.body)}`);
      for (const rec of r.body.records) o.records.set(`${rec.entity}/${rec.id}`, rec);
      if (!r.body.next_page) {
        o.cursor = r.body.cursor;
        break;
      }
      page = r.body.next_page;
    }
    return o;
  }

  /** Changes since the last call (or the bootstrap), in server order. */
  async changes() {
    const out = [];
    for (;;) {
      const r = await api('GET', `/api/v1/sync/pull?cursor=${encodeURIComponent(this.cursor)}&limit=5000`, {
        token: this.token,
        sync: true,
      });
      assert(r.status === 200, `observer pull: ${r.status} ${JSON.stringify(r.body)}`);
      out.push(...r.body.changes);
      for (const c of r.body.changes) this.records.set(`${c.entity}/${c.id}`, c);
      this.cursor = r.body.cursor;
      if (!r.body.has_more) return out;
    }
  }

  /** Live records in scope, as the observer knows them. */
  liveCount() {
    return [...this.records.values()].filter((r) => !r.deleted).length;
  }
}

// ---------------------------------------------------------------------------------------
// The browser

/**
 * A browser with a persistent profile (IndexedDB survives closing pages, and closing and
 * relaunching the browser on the same profile: a killed tab, a restarted tablet).
 */
class Tablet {
  constructor(name) {
    this.name = name;
    this.profile = mkdtempSync(join(tmpdir(), `jiayi-field-${name}-`));
    this.dbName = `sdk-test-${name}-${tag()}`;
    /** @type {import('playwright-core').BrowserContext|null} */
    this.context = null;
    this.problems = [];
  }

  async launch() {
    this.context = await chromium.launchPersistentContext(this.profile, {
      executablePath: CHROMIUM,
      headless: true,
      timezoneId: 'Asia/Shanghai',
      args: CHROMIUM_ARGS,
    });
    return this;
  }

  /**
   * Opens the harness page and makes `window.client` with this tablet's database.
   * @param {object} [clientOptions]
   * @returns {Promise<import('playwright-core').Page>}
   */
  async open(clientOptions = {}) {
    const page = await this.context.newPage();
    page.on('pageerror', (e) => this.problems.push(`pageerror: ${e.message}`));
    await page.goto(HARNESS);
    await page.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout: 15_000 });
    await page.evaluate(
      (o) => {
        window.client = window.jiayi.createClient(o);
        window.events = [];
        for (const name of ['error', 'sync']) {
          window.client.on(name, (p) => window.events.push({ name, code: p?.code, pending: p?.pending, message: p?.message }));
        }
      },
      { baseUrl: '', appVersion: 'sdk-test-1', dbName: this.dbName, retry: FAST_RETRY, ...clientOptions },
    );
    return page;
  }

  async close() {
    await this.context?.close().catch(() => {});
    this.context = null;
  }

  dispose() {
    try {
      rmSync(this.profile, { recursive: true, force: true });
    } catch {
      // A profile Chromium still writes to is left to the OS's tmp cleaning.
    }
  }
}

/** `client.sync()` in the page: `{ ok, summary }` or `{ ok: false, code, pending, summary }`. */
function sync(page) {
  return page.evaluate(async () => {
    try {
      return { ok: true, summary: await window.client.sync() };
    } catch (e) {
      return { ok: false, code: e.code, message: e.message, pending: e.pending, summary: e.summary };
    }
  });
}

/** Logs the page's client in. */
async function login(page, username = 'doctor1') {
  return page.evaluate(({ u, p }) => window.client.login(u, p), { u: username, p: PASSWORD });
}

/** Records many ops in the page; returns their op ids. `ops`: [entity, action, id, data, opts?]. */
function recordAll(page, ops) {
  return page.evaluate(async (list) => {
    const ids = [];
    for (const [e, a, id, d, o] of list) ids.push(await window.client.record(e, a, id, d, o ?? {}));
    return ids;
  }, ops);
}

/** Record ids made in the page (UUIDv7), `n` of them. */
function newIds(page, n) {
  return page.evaluate((k) => Array.from({ length: k }, () => window.client.newId()), n);
}

/** `client.counts()`. */
function counts(page) {
  return page.evaluate(() => window.client.counts());
}

/**
 * Edits a `meta` value of the page's database with plain IndexedDB, as a crash, an expiry
 * or a bit flip would: `how` is 'corrupt-access', 'corrupt-refresh', 'expire-access' or
 * 'set-cursor'.
 */
function editMeta(page, dbName, how, value) {
  return page.evaluate(
    async ({ dbName: name, how: h, value: v }) => {
      const db = await new Promise((res, rej) => {
        const r = indexedDB.open(name);
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      await new Promise((res, rej) => {
        const tx = db.transaction('meta', 'readwrite');
        const store = tx.objectStore('meta');
        const key = h === 'set-cursor' ? 'cursor' : 'session';
        const g = store.get(key);
        g.onsuccess = () => {
          let x = g.result;
          if (h === 'corrupt-access') x = { ...x, access_token: `${x.access_token.slice(0, -6)}AAAAAA` };
          if (h === 'expire-access') x = { ...x, expires_at: Date.now() - 1000 };
          if (h === 'corrupt-refresh') x = { ...x, refresh_token: `${x.refresh_token}x` };
          if (h === 'set-cursor') x = v;
          store.put(x, key);
        };
        tx.oncomplete = () => res();
        tx.onerror = () => rej(tx.error);
      });
      db.close();
    },
    { dbName, how, value },
  );
}

// ---------------------------------------------------------------------------------------
// Scenarios

const scenarios = [];
/** @param {string} name @param {(t: Tablet) => Promise<string|void>} fn */
const scenario = (name, fn) => scenarios.push({ name, fn });

scenario('record_is_atomic', async (t) => {
  await t.launch();
  let page = await t.open();
  const me = await login(page);
  const [rid, rid2] = await newIds(page, 2);
  await recordAll(page, [['resident', 'create', rid, residentData(me.villages[0], '原子甲')]]);
  let c = await counts(page);
  eq(c.pending, 1, 'pending after one record');
  const rec = await page.evaluate((id) => window.client.get('resident', id), rid);
  assert(
    rec && rec.data.name === '原子甲' && rec.pending === 1 && rec.version === null,
    `local copy after record: ${JSON.stringify(rec)}`,
  );
  assert(
    /^\*{16}[0-9X]\*$/.test(rec.data.id_number_masked) && !('id_number' in rec.data),
    'the local copy holds the mask, not the number',
  );
  // The local apply fails half-way (a put into the local copy throws): the op must not be
  // left in the queue either.
  const failed = await page.evaluate(
    async ({ id, data }) => {
      const put = IDBObjectStore.prototype.put;
      IDBObjectStore.prototype.put = function (...args) {
        if (this.name === 'records') throw new Error('injected failure');
        return put.apply(this, args);
      };
      try {
        await window.client.record('resident', 'create', id, data);
        return 'no error';
      } catch (e) {
        return e.message;
      } finally {
        IDBObjectStore.prototype.put = put;
      }
    },
    { id: rid2, data: residentData(me.villages[0]) },
  );
  eq(failed, 'injected failure', 'record() with a failing local apply');
  c = await counts(page);
  eq(c.pending, 1, 'pending after the failed record (its op rolled back)');
  eq(await page.evaluate((id) => window.client.get('resident', id), rid2), null, 'no local copy of the failed record');
  // A killed tab: both halves of the first record are still there.
  await page.close();
  page = await t.open();
  c = await counts(page);
  eq(c.pending, 1, 'pending after reopening');
  const again = await page.evaluate((id) => window.client.get('resident', id), rid);
  eq(again?.data?.name, '原子甲', 'local copy after reopening');
  const r = await sync(page);
  assert(r.ok, `sync: ${JSON.stringify(r)}`);
  eq([r.summary.applied, (await counts(page)).pending], [1, 0], 'applied, pending after sync');
  const synced = await page.evaluate((id) => window.client.get('resident', id), rid);
  eq([synced.version, synced.pending, synced.data.registered_on != null], [1, 0, true], 'local copy after sync (server version)');
  return 'op + local copy in one transaction; rollback leaves neither';
});

scenario('offline_300_ops_one_invalid', async (t) => {
  const obs = await Observer.open('doctor1');
  await t.launch();
  let page = await t.open();
  const me = await login(page);
  let r = await sync(page);
  assert(r.ok && r.summary.bootstrapped > 0, `first sync: ${JSON.stringify(r)}`);
  // The field app's service worker, installed while online, holds the app and the SDK, so
  // a page can be opened with no network at all (the harness page itself is not cached).
  const app = await t.context.newPage();
  await app.goto(`${BASE}/field/`);
  await app.waitForFunction(async () => {
    const reg = await navigator.serviceWorker.ready;
    return !!(reg.active && navigator.serviceWorker.controller);
  }, null, { timeout: 30_000 });
  await app.close();
  await t.context.setOffline(true);
  const ids = await newIds(page, 300);
  const rid = ids[0];
  const ops = [['resident', 'create', rid, residentData(me.villages[0])]];
  const phones = [];
  for (let i = 1; i <= 9; i++) {
    const phone = `1370000${String(i).padStart(4, '0')}`;
    phones.push(phone);
    ops.push(['resident', 'update', rid, { phone }]);
  }
  const visits = ids.slice(10);
  const bad = visits[140];
  for (const v of visits) ops.push(['visit', 'create', v, v === bad ? visitData(rid, 999) : visitData(rid)]);
  eq(ops.length, 300, 'ops');
  await recordAll(page, ops);
  r = await sync(page);
  assert(!r.ok && r.code === 'network', `sync offline must fail with network: ${JSON.stringify(r)}`);
  await page.close();
  // A new page with no network: the app from the service worker's cache, the SDK imported
  // there, the tablet's database opened — all 300 ops are still queued.
  const offline = await t.context.newPage();
  await offline.goto(`${BASE}/field/`);
  const reopened = await offline.evaluate(async ({ dbName, retry }) => {
    const sdk = await import('/field/sdk/jiayi-sync.js');
    const client = sdk.createClient({ baseUrl: '', appVersion: 'sdk-test-1', dbName, retry });
    const n = await client.counts();
    const r = await client.sync().then(() => 'synced', (e) => e.code);
    return { pending: n.pending, sync: r, online: navigator.onLine };
  }, { dbName: t.dbName, retry: { ...FAST_RETRY, attempts: 0 } });
  eq(reopened, { pending: 300, sync: 'network', online: false }, 'a page opened offline');
  // The worker answers every navigation in /field/ with the app, the harness page too:
  // let it go (it is gone once its last page is closed).
  await offline.evaluate(async () => {
    for (const reg of await navigator.serviceWorker.getRegistrations()) await reg.unregister();
  });
  await offline.close();
  // The harness page needs the network to load; the SDK does not sync by itself, so the
  // queue is as the closed pages left it.
  await t.context.setOffline(false);
  page = await t.open();
  let c = await counts(page);
  eq(c.pending, 300, 'pending after the page was closed and a new one opened');
  const local = await page.evaluate((id) => window.client.get('resident', id), rid);
  eq([local.data.phone, local.pending], [phones[8], 10], 'local copy overlays the pending updates');
  r = await sync(page);
  assert(r.ok, `sync online: ${JSON.stringify(r)}`);
  const s = r.summary;
  eq([s.pushed, s.applied, s.duplicate, s.conflict, s.rejected], [300, 299, 0, 0, 1], 'push results');
  c = await counts(page);
  eq([c.pending, c.rejected, c.conflicts], [0, 1, 0], 'counts after sync');
  const rej = await page.evaluate(() => window.client.rejected());
  eq(
    [rej.length, rej[0]?.op.id, rej[0]?.code, rej[0]?.field],
    [1, bad, 'out_of_range', 'measurements.systolic'],
    'rejected list',
  );
  // The server: the resident once, at version 10 (a doubled update would make more), with
  // the last phone; every valid visit once, the invalid one nowhere.
  const res = await api('GET', `/api/v1/residents/${rid}`, { token: obs.token });
  eq([res.status, res.body?.version, res.body?.phone], [200, 10, phones[8]], 'resident on the server');
  const changes = await obs.changes();
  const seen = new Map();
  for (const ch of changes) if (ch.entity === 'visit') seen.set(ch.id, (seen.get(ch.id) ?? 0) + 1);
  const missing = visits.filter((v) => v !== bad && seen.get(v) !== 1);
  eq(missing.length, 0, 'valid visits missing or doubled on the server');
  assert(!seen.has(bad), 'the invalid visit must not be on the server');
  const localVisits = await page.evaluate((id) => window.client.list('visit', { resident_id: id }), rid);
  eq(localVisits.length, 289, 'local visits after sync');
  assert(
    localVisits.every((v) => v.version === 1 && v.pending === 0 && v.data.occurred_at.endsWith('Z')),
    'local visits carry server versions and the pulled shape',
  );
  return `300 ops offline across closed pages (one opened offline): 299 applied once, 1 rejected (out_of_range, measurements.systolic)`;
});

scenario('tab_killed_mid_push', async (t) => {
  const obs = await Observer.open('doctor1');
  await t.launch();
  let page = await t.open({ batchSize: 40 });
  const me = await login(page);
  let r = await sync(page);
  assert(r.ok, `first sync: ${JSON.stringify(r)}`);
  const ids = await newIds(page, 100);
  const rid = ids[0];
  const ops = [['resident', 'create', rid, residentData(me.villages[0])]];
  for (const v of ids.slice(1, 60)) ops.push(['visit', 'create', v, visitData(rid)]);
  ops.push(['resident', 'update', rid, { phone: '13611112222' }]);
  for (const v of ids.slice(60)) ops.push(['visit', 'create', v, visitData(rid)]);
  await recordAll(page, ops);
  // The second push reaches the server and is applied; its answer never comes back, and
  // the browser is killed while the tab waits for it.
  let pushes = 0;
  let reached;
  const applied = new Promise((res) => (reached = res));
  await page.route('**/api/v1/sync/push', async (route) => {
    pushes += 1;
    if (pushes === 2) {
      const resp = await route.fetch();
      reached(await resp.json());
      return; // held: never answered
    }
    await route.continue();
  });
  // Not awaited: the tab dies before it can end.
  sync(page).catch(() => null);
  const answer = await applied;
  eq(
    answer.results.map((x) => x.status).every((x) => x === 'applied'),
    true,
    'the held batch was applied on the server',
  );
  await t.close(); // the tablet dies
  await t.launch();
  page = await t.open({ batchSize: 40 });
  const c = await counts(page);
  eq(c.pending, 61, 'pending after the kill (the unanswered batch and the last one)');
  r = await sync(page);
  assert(r.ok, `sync after relaunch: ${JSON.stringify(r)}`);
  eq([r.summary.duplicate, r.summary.applied, r.summary.rejected], [40, 21, 0], 'replayed batch answers duplicate');
  eq((await counts(page)).pending, 0, 'pending after sync');
  const res = await api('GET', `/api/v1/residents/${rid}`, { token: obs.token });
  eq([res.body?.version, res.body?.phone], [2, '13611112222'], 'resident on the server');
  const changes = await obs.changes();
  const visits = new Set(changes.filter((ch) => ch.entity === 'visit').map((ch) => ch.id));
  eq(ids.slice(1).filter((v) => !visits.has(v)).length, 0, 'visits missing on the server');
  return '40 replayed ops answered duplicate, none lost or doubled';
});

for (const [status, code, retryAfter] of [
  [429, 'rate_limited', '1'],
  [503, 'server_busy', '1'],
  [500, 'internal_error', null],
]) {
  scenario(`retry_after_${status}`, async (t) => {
    await t.launch();
    const page = await t.open();
    const me = await login(page);
    let r = await sync(page);
    assert(r.ok, `first sync: ${JSON.stringify(r)}`);
    const [rid] = await newIds(page, 1);
    await recordAll(page, [['resident', 'create', rid, residentData(me.villages[0])]]);
    const times = [];
    await page.route('**/api/v1/sync/push', async (route) => {
      times.push(Date.now());
      if (times.length === 1) {
        await route.fulfill({
          status,
          headers: { ...(retryAfter ? { 'Retry-After': retryAfter } : {}), 'Content-Type': 'application/json' },
          body: JSON.stringify({ error: { code, message: 'injected' } }),
        });
      } else {
        await route.continue();
      }
    });
    r = await sync(page);
    assert(r.ok, `sync: ${JSON.stringify(r)}`);
    eq([times.length, r.summary.applied], [2, 1], 'pushes, applied');
    const waited = times[1] - times[0];
    if (retryAfter) assert(waited >= 1000 && waited < 6000, `waited ${waited} ms after Retry-After: 1`);
    else assert(waited >= 50 && waited < 3000, `backed off ${waited} ms after a 500 (test back-off 100 ms)`);
    return `${retryAfter ? 'waited' : 'backed off'} ${waited} ms, then the same batch was applied`;
  });
}

scenario('token_expiry_mid_queue', async (t) => {
  await t.launch();
  const page = await t.open({ batchSize: 10 });
  const me = await login(page);
  let r = await sync(page);
  assert(r.ok, `first sync: ${JSON.stringify(r)}`);
  const ids = await newIds(page, 30);
  await recordAll(page, [
    ['resident', 'create', ids[0], residentData(me.villages[0])],
    ...ids.slice(1).map((v) => ['visit', 'create', v, visitData(ids[0])]),
  ]);
  const pushes = [];
  let refreshes = 0;
  page.on('request', (req) => {
    if (req.url().endsWith('/api/v1/auth/refresh')) refreshes += 1;
  });
  await page.route('**/api/v1/sync/push', async (route) => {
    pushes.push(route.request().headers().authorization);
    // While the second batch is on its way, the stored access token goes bad (as an
    // expired one would): the third batch is sent with it.
    if (pushes.length === 2) await editMeta(page, t.dbName, 'corrupt-access');
    await route.continue();
  });
  r = await sync(page);
  assert(r.ok, `sync: ${JSON.stringify(r)}`);
  eq([r.summary.applied, r.summary.duplicate, (await counts(page)).pending], [30, 0, 0], 'applied, duplicate, pending');
  eq(refreshes, 1, 'refreshes');
  eq(pushes.length, 4, 'push requests (the third sent twice: 401, then after the refresh)');
  // The resent batch carries the refreshed token, not the bad one. (It may equal the
  // token of batch 2: an access token names user, device and issue second only, so one
  // refreshed in the login's second is the same text.)
  assert(pushes[2] !== pushes[3], 'the resent batch carries the new access token');
  // And a token that simply expired is refreshed before the request.
  await editMeta(page, t.dbName, 'expire-access');
  r = await sync(page);
  assert(r.ok, `sync after expiry: ${JSON.stringify(r)}`);
  eq(refreshes, 2, 'refreshes after the expiry');
  return '401 on batch 3 → one refresh → batch resent, 30 applied';
});

scenario('session_ended_login_again', async (t) => {
  await t.launch();
  const page = await t.open();
  const me = await login(page);
  let r = await sync(page);
  assert(r.ok, `first sync: ${JSON.stringify(r)}`);
  const ids = await newIds(page, 2);
  await recordAll(page, [
    ['resident', 'create', ids[0], residentData(me.villages[0])],
    ['visit', 'create', ids[1], visitData(ids[0])],
  ]);
  // Both tokens go bad: the 401 refreshes once, the refresh is refused, the app is asked
  // to log in again, and the queue stays.
  await editMeta(page, t.dbName, 'corrupt-access');
  await editMeta(page, t.dbName, 'corrupt-refresh');
  r = await sync(page);
  eq([r.ok, r.code], [false, 'login_required'], 'sync with a dead session');
  const state = await page.evaluate(async () => ({
    loggedIn: await window.client.isLoggedIn(),
    counts: await window.client.counts(),
  }));
  eq([state.loggedIn, state.counts.pending], [false, 2], 'tokens dropped, queue kept');
  await login(page);
  r = await sync(page);
  assert(r.ok && r.summary.applied === 2, `sync after logging in again: ${JSON.stringify(r)}`);
  return 'refresh refused → login_required, queue kept, pushed after a new login';
});

scenario('refresh_answer_lost', async (t) => {
  await t.launch();
  const page = await t.open();
  const me = await login(page);
  let r = await sync(page);
  assert(r.ok, `first sync: ${JSON.stringify(r)}`);
  const ids = await newIds(page, 5);
  await recordAll(page, [
    ['resident', 'create', ids[0], residentData(me.villages[0])],
    ...ids.slice(1).map((v) => ['visit', 'create', v, visitData(ids[0])]),
  ]);
  const sent = [];
  const answers = [];
  await page.route('**/api/v1/auth/refresh', async (route) => {
    sent.push(JSON.parse(route.request().postData()).refresh_token);
    const resp = await route.fetch();
    answers.push(await resp.json());
    if (sent.length === 1) {
      await route.abort('connectionreset'); // the server answered; the tablet never hears it
    } else {
      await route.fulfill({ response: resp, json: answers.at(-1) });
    }
  });
  await editMeta(page, t.dbName, 'expire-access');
  r = await sync(page);
  assert(r.ok, `sync: ${JSON.stringify(r)}`);
  eq(sent.length, 2, 'refresh requests');
  eq(sent[0], sent[1], 'the retry sends the same refresh token');
  eq(answers[1].refresh_token, answers[0].refresh_token, 'the retry gets the same pair');
  eq(r.summary.applied, 5, 'applied');
  // The session goes on with the new pair: another expiry refreshes with the new token.
  await editMeta(page, t.dbName, 'expire-access');
  r = await sync(page);
  assert(r.ok, `sync after a second expiry: ${JSON.stringify(r)}`);
  eq(sent.length, 3, 'refresh requests after the second expiry');
  eq(sent[2], answers[0].refresh_token, 'the next refresh uses the new token');
  return 'lost answer → same token again → same pair; session continues';
});

scenario('resync_invalid_cursor', async (t) => {
  const obs = await Observer.open('doctor1');
  await t.launch();
  const page = await t.open();
  const me = await login(page);
  let r = await sync(page);
  assert(r.ok, `first sync: ${JSON.stringify(r)}`);
  const ids = await newIds(page, 3);
  await recordAll(page, [
    ['resident', 'create', ids[0], residentData(me.villages[0])],
    ['visit', 'create', ids[1], visitData(ids[0])],
    ['visit', 'create', ids[2], visitData(ids[0])],
  ]);
  await editMeta(page, t.dbName, 'set-cursor', 'v1.0.not-a-cursor');
  const requests = [];
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.pathname.startsWith('/api/v1/sync/')) requests.push(u.pathname.slice('/api/v1/sync/'.length));
  });
  r = await sync(page);
  assert(r.ok, `sync: ${JSON.stringify(r)}`);
  assert(r.summary.resynced, 'a re-sync ran');
  eq([r.summary.applied, r.summary.duplicate, (await counts(page)).pending], [3, 0, 0], 'applied, duplicate, pending');
  eq(requests.join(','), 'push,pull,bootstrap,pull', 'requests');
  await obs.changes();
  const all = await page.evaluate(async () => {
    let n = 0;
    for (const e of ['resident', 'contract', 'visit', 'survey', 'not_signed']) n += (await window.client.list(e)).length;
    return n;
  });
  eq(all, obs.liveCount(), 'local records after the re-sync = live records in scope');
  const rec = await page.evaluate((id) => window.client.get('visit', id), ids[1]);
  eq([rec?.version, rec?.pending], [1, 0], 'a pushed record after the re-sync');
  return 'invalid_cursor → synced copy dropped, bootstrap, pull; queue pushed once';
});

scenario('resync_villages_changed', async (t) => {
  const admin = await serverLogin('admin');
  // Pages small enough for at least five, whatever the size of the demo county.
  const limit = pageSize((await Observer.open('doctor2')).liveCount(), 5);
  await t.launch();
  const page = await t.open({ bootstrapLimit: limit, retry: { ...FAST_RETRY, attempts: 0 } });
  const me = await login(page, 'doctor2');
  const villages = me.villages;
  assert(villages.length >= 2, `doctor2 villages: ${JSON.stringify(villages)}`);
  // A first sync stopped half-way through bootstrap leaves a page token.
  let pages = 0;
  await page.route('**/api/v1/sync/bootstrap**', async (route) => {
    pages += 1;
    if (pages === 3) await route.abort('failed');
    else await route.continue();
  });
  let r = await sync(page);
  assert(!r.ok && r.code === 'network', `first sync must stop: ${JSON.stringify(r)}`);
  await page.unroute('**/api/v1/sync/bootstrap**');
  // Offline work, then the county moves one village away from the team.
  const ids = await newIds(page, 3);
  await recordAll(page, [
    ['resident', 'create', ids[0], residentData(villages[0])],
    ['visit', 'create', ids[1], visitData(ids[0])],
    ['visit', 'create', ids[2], visitData(ids[0])],
  ]);
  const kept = villages.slice(0, -1);
  const moved = await api('PUT', `/api/v1/admin/teams/${me.team_id}/villages`, {
    token: admin.token,
    json: { village_codes: kept },
  });
  eq(moved.status, 200, `PUT villages ${JSON.stringify(moved.body)}`);
  try {
    const requests = [];
    page.on('request', (req) => {
      const u = new URL(req.url());
      if (u.pathname.startsWith('/api/v1/sync/'))
        requests.push(u.pathname.slice('/api/v1/sync/'.length) + (u.searchParams.has('page') ? '+page' : ''));
    });
    r = await sync(page);
    assert(r.ok, `sync: ${JSON.stringify(r)}`);
    assert(r.summary.resynced, 'a re-sync ran');
    eq(requests[0], 'bootstrap+page', 'the stored page is asked first');
    const firstPush = requests.indexOf('push');
    assert(
      requests[1] === 'bootstrap' && firstPush > 1 && requests.slice(1, firstPush).every((x) => x.startsWith('bootstrap')),
      `bootstrap from the first page, then push: ${requests}`,
    );
    eq([r.summary.applied, (await counts(page)).pending], [3, 0], 'the queue was kept and pushed');
    const obs = await Observer.open('doctor2');
    const local = await page.evaluate(() => window.client.list('resident'));
    eq(
      local.length,
      [...obs.records.values()].filter((x) => x.entity === 'resident' && !x.deleted).length,
      'local residents = residents in the new scope',
    );
    const dropped = villages.at(-1);
    assert(!local.some((x) => x.data.village_code === dropped), 'no resident of the moved village is kept');
    assert(
      local.some((x) => x.id === ids[0] && x.version === 1),
      'the pushed resident is in the local copy',
    );
  } finally {
    const back = await api('PUT', `/api/v1/admin/teams/${me.team_id}/villages`, {
      token: admin.token,
      json: { village_codes: villages },
    });
    eq(back.status, 200, 'restoring the villages');
  }
  return '409 resync_required on a stored page token → bootstrap from zero, queue kept and pushed';
});

scenario('device_revoked', async (t) => {
  const admin = await serverLogin('admin');
  await t.launch();
  const page = await t.open();
  const me = await login(page);
  let r = await sync(page);
  assert(r.ok, `first sync: ${JSON.stringify(r)}`);
  const before = await page.evaluate(() => window.client.deviceId());
  const ids = await newIds(page, 7);
  await recordAll(page, [
    ['resident', 'create', ids[0], residentData(me.villages[0])],
    ...ids.slice(1).map((v) => ['visit', 'create', v, visitData(ids[0])]),
  ]);
  const rv = await api('POST', `/api/v1/devices/${me.device_key}/revoke`, {
    token: admin.token,
    json: { reason: 'sdk test: tablet lost' },
  });
  eq(rv.status, 204, `revoke ${JSON.stringify(rv.body)}`);
  r = await sync(page);
  eq([r.ok, r.code, r.pending], [false, 'device_revoked', 7], 'sync after the revoke');
  const events = await page.evaluate(() => window.events.filter((e) => e.name === 'error'));
  eq(
    events.map((e) => [e.code, e.pending]),
    [['device_revoked', 7]],
    "the 'error' event reports the pending ops",
  );
  const after = await page.evaluate(
    async (id) => ({
      counts: await window.client.counts(),
      resident: await window.client.get('resident', id),
      residents: (await window.client.list('resident')).length,
      loggedIn: await window.client.isLoggedIn(),
      me: await window.client.me(),
    }),
    ids[0],
  );
  eq(
    [after.counts.pending, after.resident, after.residents, after.loggedIn, after.me],
    [0, null, 0, false, null],
    'the local store is wiped',
  );
  const fresh = await page.evaluate(() => window.client.deviceId());
  assert(fresh !== before, 'a wiped tablet gets a new device id');
  return 'revoked → error event with 7 pending, local store wiped';
});

scenario('upgrade_required_426', async (t) => {
  await t.launch();
  const page = await t.open();
  const me = await login(page);
  let r = await sync(page);
  assert(r.ok, `first sync: ${JSON.stringify(r)}`);
  const ids = await newIds(page, 3);
  await recordAll(page, [
    ['resident', 'create', ids[0], residentData(me.villages[0])],
    ['visit', 'create', ids[1], visitData(ids[0])],
    ['visit', 'create', ids[2], visitData(ids[0])],
  ]);
  await page.route('**/api/v1/sync/**', (route) =>
    route.fulfill({
      status: 426,
      contentType: 'application/json',
      body: JSON.stringify({
        error: { code: 'unsupported_protocol', message: 'send X-Sync-Protocol with one of: 2', field: 'X-Sync-Protocol' },
      }),
    }),
  );
  r = await sync(page);
  eq([r.ok, r.code], [false, 'upgrade_required'], 'sync answered 426');
  const events = await page.evaluate(() => window.events.filter((e) => e.name === 'error').map((e) => e.code));
  eq(events, ['upgrade_required'], "'error' events");
  eq((await counts(page)).pending, 3, 'the queue is kept');
  await page.unroute('**/api/v1/sync/**');
  r = await sync(page);
  assert(r.ok && r.summary.applied === 3, `sync after the upgrade: ${JSON.stringify(r)}`);
  return 'upgrade needed reported, queue kept, pushed later';
});

scenario('bootstrap_resumable', async (t) => {
  // Pages small enough for at least six, whatever the size of the demo county.
  const limit = pageSize((await Observer.open('doctor1')).liveCount(), 6);
  await t.launch();
  let page = await t.open({ bootstrapLimit: limit });
  await login(page);
  // One page fails once: retried alone, within the same sync.
  const seen = [];
  let failed = false;
  const route = async (r) => {
    const page = new URL(r.request().url()).searchParams.get('page') ?? '(first)';
    seen.push(page);
    if (seen.length === 4 && !failed) {
      failed = true;
      await r.abort('failed');
    } else {
      await r.continue();
    }
  };
  await page.route('**/api/v1/sync/bootstrap**', route);
  // As from a server without the catalog endpoint: the packages must come from the
  // bootstrap's last page alone.
  await page.route('**/api/v1/packages', (rt) =>
    rt.fulfill({ status: 404, contentType: 'application/json', body: '{"error":{"code":"not_found","message":"no route"}}' }));
  let r = await sync(page);
  assert(r.ok, `sync: ${JSON.stringify(r)}`);
  assert(seen.length >= 6, `bootstrap pages: ${seen.length}`);
  eq(seen[4], seen[3], 'the failed page is asked again');
  eq(new Set(seen).size, seen.length - 1, 'every other page is asked once');
  const obs = await Observer.open('doctor1');
  const local = await page.evaluate(async () => {
    let n = 0;
    for (const e of ['resident', 'contract', 'visit', 'survey', 'not_signed']) n += (await window.client.list(e)).length;
    return n;
  });
  eq(local, obs.liveCount(), 'local records = live records in scope');
  eq(r.summary.bootstrapped, local, 'records bootstrapped');
  const qs = await page.evaluate(() => window.client.questionnaires());
  assert(
    qs.some((q) => q.code === 'satisfaction' && q.version === 1),
    'questionnaires kept from the last page',
  );
  const catalog = (await api('GET', '/api/v1/packages', { token: obs.token })).body;
  const pk = await page.evaluate(() => window.client.packages());
  eq(pk.map((p) => p.code).sort(), catalog.map((p) => p.code).sort(), 'packages kept from the last page');
  const htn = pk.find((p) => p.code === 'HTN');
  eq([htn?.kind, htn?.price_fen, htn?.self_pay_fen, htn?.active], ['personalised', 12000, 3000, true], 'a package as kept');
  await page.unroute('**/api/v1/packages');

  // Interrupted across a closed tab: the next sync goes on from the stored page token.
  const t2 = new Tablet('bootstrap-resumable-2');
  try {
    await t2.launch();
    page = await t2.open({ bootstrapLimit: limit, retry: { ...FAST_RETRY, attempts: 0 } });
    await login(page);
    const first = [];
    await page.route('**/api/v1/sync/bootstrap**', async (rt) => {
      first.push(new URL(rt.request().url()).searchParams.get('page') ?? '(first)');
      if (first.length === 3) await rt.abort('failed');
      else await rt.continue();
    });
    r = await sync(page);
    assert(!r.ok && r.code === 'network', `the interrupted sync fails: ${JSON.stringify(r)}`);
    await page.close();
    page = await t2.open({ bootstrapLimit: limit });
    const second = [];
    page.on('request', (req) => {
      const u = new URL(req.url());
      if (u.pathname.endsWith('/sync/bootstrap')) second.push(u.searchParams.get('page') ?? '(first)');
    });
    r = await sync(page);
    assert(r.ok, `the next sync: ${JSON.stringify(r)}`);
    eq(second[0], first[2], 'the next sync starts at the failed page');
    assert(!second.includes('(first)') && !second.includes(first[1]), 'pages stored before are not asked again');
  } finally {
    await t2.close();
    t2.dispose();
  }
  return `${seen.length} page requests, the failed page alone asked twice; resumed after a closed tab`;
});

scenario('pull_versions_and_tombstones', async (t) => {
  const other = await serverLogin('doctor1');
  await t.launch();
  const page = await t.open();
  const me = await login(page);
  let r = await sync(page);
  assert(r.ok, `first sync: ${JSON.stringify(r)}`);
  const ids = await newIds(page, 3);
  await recordAll(page, [
    ['resident', 'create', ids[0], residentData(me.villages[0])],
    ['visit', 'create', ids[1], visitData(ids[0])],
    ['visit', 'create', ids[2], visitData(ids[0])],
  ]);
  r = await sync(page);
  assert(r.ok && r.summary.applied === 3, `sync: ${JSON.stringify(r)}`);
  // Another tablet edits the resident and deletes a visit.
  const push = await api('POST', '/api/v1/sync/push', {
    token: other.token,
    sync: true,
    json: {
      device_id: other.me.device_id,
      ops: [
        {
          op_id: crypto.randomUUID(),
          entity: 'resident',
          action: 'update',
          id: ids[0],
          base_version: 1,
          recorded_at: cst(30_000),
          data: { phone: '13822223333' },
        },
        { op_id: crypto.randomUUID(), entity: 'visit', action: 'delete', id: ids[2], recorded_at: cst(30_000), data: {} },
      ],
    },
  });
  eq(
    push.body?.results?.map((x) => x.status),
    ['applied', 'applied'],
    'the other tablet pushed',
  );
  // This tablet deletes the other visit locally: marked deleted until answered.
  await recordAll(page, [['visit', 'delete', ids[1], {}]]);
  const marked = await page.evaluate((id) => window.client.get('visit', id), ids[1]);
  eq([marked?.deleted, marked?.pending], [true, 1], 'a local delete marks the record deleted');
  eq(
    (await page.evaluate((id) => window.client.list('visit', { resident_id: id }), ids[0])).length,
    1,
    'list leaves out the deleted visit',
  );
  r = await sync(page);
  assert(r.ok, `sync: ${JSON.stringify(r)}`);
  const after = await page.evaluate(
    async (x) => ({
      resident: await window.client.get('resident', x[0]),
      v1: await window.client.get('visit', x[1]),
      v2: await window.client.get('visit', x[2]),
    }),
    ids,
  );
  eq(
    [after.resident?.version, after.resident?.data.phone],
    [2, '13822223333'],
    'the other tablet’s edit arrived with its version',
  );
  eq([after.v1, after.v2], [null, null], 'tombstones delete locally');
  // Update with the default baseVersion (the local copy's server version).
  await recordAll(page, [['resident', 'update', ids[0], { phone: '13833334444' }]]);
  const op = await page.evaluate(() => window.client.pending());
  eq(op[0]?.base_version, 2, 'default base_version is the local server version');
  r = await sync(page);
  assert(r.ok && r.summary.applied === 1 && r.summary.conflict === 0, `sync: ${JSON.stringify(r)}`);
  // Both tablets change the phone; this tablet's edit is earlier in clinical time and
  // loses: it answers conflict, lands in the conflicts list, the winner arrives by pull.
  const clash = await api('POST', '/api/v1/sync/push', {
    token: other.token,
    sync: true,
    json: {
      device_id: other.me.device_id,
      ops: [
        {
          op_id: crypto.randomUUID(),
          entity: 'resident',
          action: 'update',
          id: ids[0],
          base_version: 3,
          recorded_at: cst(10_000),
          data: { phone: '13844445555' },
        },
      ],
    },
  });
  eq(clash.body?.results?.[0]?.status, 'applied', 'the other tablet’s later edit');
  const opId = (
    await recordAll(page, [['resident', 'update', ids[0], { phone: '13855556666' }, { recordedAt: cst(50_000) }]])
  )[0];
  r = await sync(page);
  assert(r.ok && r.summary.conflict === 1, `sync with a clash: ${JSON.stringify(r)}`);
  const conflicts = await page.evaluate(() => window.client.conflicts());
  eq([conflicts.length, conflicts[0]?.op_id, typeof conflicts[0]?.conflict_id], [1, opId, 'string'], 'the conflicts list');
  eq((await counts(page)).conflicts, 1, 'counts().conflicts');
  const final = await page.evaluate((id) => window.client.get('resident', id), ids[0]);
  eq([final.data.phone, final.pending], ['13844445555', 0], 'the server’s decision arrived by pull');
  return 'pulled versions kept, tombstones delete, base_version from the local copy, conflict listed';
});

scenario('merge_repoints', async (t) => {
  const supervisor = await serverLogin('supervisor1');
  await t.launch();
  const page = await t.open();
  const me = await login(page);
  let r = await sync(page);
  assert(r.ok, `first sync: ${JSON.stringify(r)}`);
  // The same person registered twice on this tablet: the second answers conflict (a
  // duplicate candidate), and a supervisor merges it into the first.
  const [a, b, visit] = await newIds(page, 3);
  const person = residentData(me.villages[0], '合并甲');
  await recordAll(page, [
    ['resident', 'create', a, person],
    ['resident', 'create', b, { ...person, name: '合并乙', village_code: me.villages.at(-1) }],
    ['visit', 'create', visit, visitData(b)],
  ]);
  r = await sync(page);
  assert(r.ok, `sync: ${JSON.stringify(r)}`);
  eq([r.summary.applied, r.summary.conflict], [2, 1], 'applied, conflict');
  const [conflict] = await page.evaluate(() => window.client.conflicts());
  eq(conflict?.op.id, b, 'the duplicate registration is in the conflicts list');
  const decided = await api('POST', `/api/v1/review/items/${conflict.conflict_id}/decision`, {
    token: supervisor.token,
    json: { decision: 'merge', reason: 'sdk test: the same person', keep: a },
  });
  assert(decided.status === 200, `merge decision: ${decided.status} ${JSON.stringify(decided.body)}`);
  r = await sync(page);
  assert(r.ok, `sync after the merge: ${JSON.stringify(r)}`);
  const after = await page.evaluate(
    async (x) => ({
      viaOld: await window.client.get('resident', x.b),
      residents: (await window.client.list('resident', (d) => d.id === x.a || d.id === x.b)).map((r) => r.id),
      visit: await window.client.get('visit', x.visit),
    }),
    { a, b, visit },
  );
  eq(after.viaOld?.id, a, 'get() of the merged-away resident gives the survivor');
  eq(after.residents, [a], 'only the survivor is listed');
  eq(after.visit?.data.resident_id, a, 'the visit is re-pointed to the survivor');
  return 'duplicate → conflict list → merge → tombstone with merged_into re-points locally';
});

// restore_resends_acknowledged, resync_scope_change_does_not_resend
restoreScenarios(scenario, {
  assert,
  eq,
  api,
  serverLogin,
  Observer,
  login,
  sync,
  recordAll,
  newIds,
  counts,
  residentData,
  visitData,
});

scenario('blobs_and_joined_sync', async (t) => {
  const obs = await serverLogin('doctor1');
  await t.launch();
  const page = await t.open();
  await login(page);
  let r = await sync(page);
  assert(r.ok, `first sync: ${JSON.stringify(r)}`);
  const sha = await page.evaluate(async () => {
    // A tiny PNG-like byte string, unique per run.
    const bytes = new Uint8Array(64);
    crypto.getRandomValues(bytes);
    bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    return window.client.putBlob(bytes, 'image/png');
  });
  assert(/^[0-9a-f]{64}$/.test(sha), `sha256 ${sha}`);
  eq((await counts(page)).blobs, 1, 'blobs pending');
  const blobRequests = [];
  page.on('request', (req) => {
    if (req.url().includes('/api/v1/blobs/')) blobRequests.push(req.method());
  });
  let pulls = 0;
  page.on('request', (req) => {
    if (req.url().includes('/api/v1/sync/pull')) pulls += 1;
  });
  // Two sync calls at once: the second joins the first.
  const both = await page.evaluate(async () => {
    const a = window.client.sync();
    const b = window.client.sync();
    const [x, y] = await Promise.all([a, b]);
    return { same: x === y, blobs: x.blobs };
  });
  eq([both.same, both.blobs], [true, 1], 'joined syncs, blobs uploaded');
  eq(pulls, 1, 'one pull for two sync calls');
  eq(blobRequests, ['HEAD', 'PUT'], 'blob requests');
  const head = await fetch(`${BASE}/api/v1/blobs/${sha}`, { method: 'HEAD', headers: { Authorization: `Bearer ${obs.token}` } });
  eq(head.status, 200, 'the blob is on the server');
  const b = await page.evaluate(
    (s) => window.client.getBlob(s).then((x) => x && { state: x.state, size: x.size, type: x.type }),
    sha,
  );
  eq(b, { state: 'uploaded', size: 64, type: 'image/png' }, 'the local blob');
  r = await sync(page);
  assert(r.ok && r.summary.blobs === 0, `no second upload: ${JSON.stringify(r)}`);
  eq((await counts(page)).blobs, 0, 'blobs pending after sync');
  return 'blob HEAD then PUT once; a second sync() call joins the running one';
});

// ---------------------------------------------------------------------------------------
// Runner

async function main() {
  const only = (process.env.ONLY ?? '').split(',').filter(Boolean);
  const chosen = only.length ? scenarios.filter((s) => only.includes(s.name)) : scenarios;
  const health = await fetch(`${BASE}/field/sdk/test/harness.html`).catch((e) => e);
  if (!(health instanceof Response) || health.status !== 200) {
    console.error(`cannot load ${HARNESS}: ${health instanceof Response ? health.status : health.message}`);
    process.exit(2);
  }
  const started = Date.now();
  const results = [];
  for (const s of chosen) {
    const t = new Tablet(s.name);
    const t0 = Date.now();
    let timer;
    try {
      const detail = await Promise.race([
        s.fn(t),
        new Promise((_, rej) => {
          timer = setTimeout(() => rej(new Error(`timed out after ${SCENARIO_TIMEOUT_MS / 1000} s`)), SCENARIO_TIMEOUT_MS);
        }),
      ]);
      const ms = Date.now() - t0;
      results.push({ name: s.name, ok: true, ms, detail: detail ?? '' });
      console.log(`ok   ${s.name} (${(ms / 1000).toFixed(1)} s)${detail ? ` — ${detail}` : ''}`);
    } catch (e) {
      const ms = Date.now() - t0;
      const problems = t.problems.length ? ` [page: ${t.problems.join('; ')}]` : '';
      results.push({ name: s.name, ok: false, ms, error: `${e.message}${problems}` });
      console.log(`FAIL ${s.name} (${(ms / 1000).toFixed(1)} s) — ${e.message}${problems}`);
    } finally {
      clearTimeout(timer);
      await t.close();
      t.dispose();
    }
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  const seconds = Number(((Date.now() - started) / 1000).toFixed(1));
  console.log(`${passed} passed, ${failed} failed`);
  console.log(JSON.stringify({ passed, failed, total: results.length, seconds, base: BASE, scenarios: results }));
  process.exit(failed === 0 && results.length > 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
