#!/usr/bin/env node
// Browser tests of the supervisors' and administrators' console (web/console/, the page
// the binary serves at `/`) against a running jiayi server in demo mode:
//
//   node tests/console/console.test.mjs http://127.0.0.1:8080            every scenario
//   node tests/console/console.test.mjs http://127.0.0.1:8080 --current  the screens on today's API (1–5)
//   node tests/console/console.test.mjs http://127.0.0.1:8080 --contract only the [contract] scenarios (6)
//   ONLY=drill,audit node tests/console/console.test.mjs …                scenarios whose name holds a word
//
// Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) runs headless under playwright-core
// (`npm ci --prefix tests/console`). The suite makes its own records through the API — two
// doctor1 tablets that edit one field at the same base version (a field clash), one ID
// number registered by two teams (a duplicate), an op of an unknown entity (quarantine) —
// and checks each screen against the API. Scenarios marked [contract] use the staff,
// password and resident endpoints (docs/console.md); they fail until the server has them.
// A PNG of every screen at 1366×768 goes to $JIAYI_SCREENSHOT_DIR (default: a temp dir).
// One line per scenario, then "N passed, N failed" and a JSON summary; exit 0 only if every
// scenario run passed.

import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, cst, idNumber, rand } from '../field/lib/common.mjs';

const args = process.argv.slice(2);
const BASE = (args.find((a) => !a.startsWith('--')) || '').replace(/\/+$/, '');
if (!/^https?:\/\//.test(BASE)) {
  console.error('usage: node tests/console/console.test.mjs <baseUrl> [--current|--contract]   e.g. http://127.0.0.1:8080');
  process.exit(2);
}
const MODE = args.includes('--contract') ? 'contract' : args.includes('--current') ? 'current' : 'all';
const ONLY = (process.env.ONLY || '').split(',').map((s) => s.trim()).filter(Boolean);
const PASSWORD = process.env.JIAYI_DEMO_PASSWORD || 'jiayi-demo';
const SHOT_DIR = process.env.JIAYI_SCREENSHOT_DIR || mkdtempSync(join(tmpdir(), 'jiayi-console-shots-'));
const VIEWPORT = { width: 1366, height: 768 };
const NARROW = { width: 1024, height: 768 };
// Generous: the suite also runs beside the other browser suites on a debug build (tests/api/browser_suites.rs).
const STEP_MS = Number(process.env.CONSOLE_STEP_MS) || 30_000;
const RUN = Date.now().toString(36).slice(-5) + rand(1296).toString(36);
const COUNTY = '431126000000';
const CHENGGUAN = '431126100000'; // 城关镇, supervisor1's township, teams T01 and T02
const QINGSHAN = '431126101000'; // 青山乡, another township
mkdirSync(SHOT_DIR, { recursive: true });

// ---------------------------------------------------------------- small helpers

/** @param {unknown} cond @param {string} msg */
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** @param {unknown} a @param {unknown} b @param {string} msg */
function eq(a, b, msg) {
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${msg}: expected ${JSON.stringify(b)}, got ${JSON.stringify(a)}`);
}

const uuid = () => crypto.randomUUID();
const chinaYear = () => String(new Date(Date.now() + 8 * 3600e3).getUTCFullYear());
const phone = () => `139${String(rand(1e8)).padStart(8, '0')}`;

// ---------------------------------------------------------------- the API, from Node

/**
 * Logs in through the API as a device of its own.
 * @returns {Promise<{token: string, user: any, deviceId: string, me: any, username: string}>}
 */
async function apiLogin(username, { password = PASSWORD, deviceId = `console-${username}-${RUN}-${rand(1e6)}`, expect = 200 } = {}) {
  const resp = await fetch(BASE + '/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password, device_id: deviceId, device_name: 'console test ' + username, app_version: 'console-test' }),
  });
  const body = await resp.json().catch(() => null);
  if (expect !== 200) return { status: resp.status, body };
  assert(resp.status === 200, `login ${username}: ${resp.status} ${JSON.stringify(body)}`);
  const who = { token: body.access_token, user: body.user, deviceId, username, login: body };
  const me = await api(who, 'GET', '/me');
  who.me = me.body;
  return who;
}

/** Calls the API; answers `{ status, body }`. */
async function api(who, method, path, json, headers = {}) {
  const h = { ...headers };
  if (who) h.Authorization = 'Bearer ' + who.token;
  if (json !== undefined) h['Content-Type'] = 'application/json';
  const resp = await fetch(BASE + '/api/v1' + path, { method, headers: h, body: json === undefined ? undefined : JSON.stringify(json) });
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = text; }
  return { status: resp.status, body };
}

/** `api` that must answer `status`. */
async function must(status, who, method, path, json) {
  const r = await api(who, method, path, json);
  assert(r.status === status, `${method} ${path}: expected ${status}, got ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
  return r.body;
}

const SYNC = { 'X-Sync-Protocol': '1' };

/** Pushes ops as a tablet; answers the results. */
async function push(tablet, ops) {
  const r = await api(tablet, 'POST', '/sync/push', { device_id: tablet.deviceId, ops }, SYNC);
  return r;
}

async function pushOk(tablet, ops) {
  const r = await push(tablet, ops);
  assert(r.status === 200, `push: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.results;
}

/** A tablet's cursor after everything so far: bootstrap to its end, then pull to the end. */
async function syncedCursor(tablet) {
  let page = '';
  let cursor = null;
  for (let i = 0; i < 100 && !cursor; i++) {
    const r = await api(tablet, 'GET', '/sync/bootstrap?limit=5000' + (page ? '&page=' + encodeURIComponent(page) : ''), undefined, SYNC);
    assert(r.status === 200, `bootstrap: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    cursor = r.body.cursor;
    page = r.body.next_page;
  }
  return (await pullAll(tablet, cursor)).cursor;
}

/** Pulls from `cursor` until nothing more waits. */
async function pullAll(tablet, cursor) {
  const changes = [];
  for (let i = 0; i < 100; i++) {
    const r = await api(tablet, 'GET', '/sync/pull?limit=500' + (cursor ? '&cursor=' + encodeURIComponent(cursor) : ''), undefined, SYNC);
    assert(r.status === 200, `pull: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    changes.push(...r.body.changes);
    cursor = r.body.cursor;
    if (!r.body.has_more) break;
  }
  return { changes, cursor };
}

function op(entity, action, id, data, extra = {}) {
  return { op_id: uuid(), entity, action, id, recorded_at: cst(60_000), data, ...extra };
}

function residentData(village, name) {
  const sex = rand(2) ? 'M' : 'F';
  const { id_number, birth_date } = idNumber(sex);
  return { village_code: village, name, sex, birth_date, id_number, phone: phone(), tags: ['hypertension'] };
}

/** Finds an open review item through the API (as `who`). */
async function findItem(who, kind, pred) {
  const page = await must(200, who, 'GET', `/review/items?status=open&kind=${kind}&limit=200`);
  return page.items.find(pred) || null;
}

// ---------------------------------------------------------------- the browser

let browser;
const pageErrors = [];

async function newPage(viewport = VIEWPORT) {
  const context = await browser.newContext({ viewport, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', deviceScaleFactor: 1, acceptDownloads: true });
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e && e.stack || e)));
  page.on('console', (m) => {
    const t = m.text();
    // The page's CSP refusing something is a bug of the console (an inline handler, eval…).
    if (/Content Security Policy|Refused to (execute|load|apply)/i.test(t)) pageErrors.push('CSP: ' + t);
    if (process.env.CONSOLE_TEST_DEBUG) console.log('  [page ' + m.type() + '] ' + t);
  });
  return page;
}

/** Opens the console and logs in; waits for the frame. */
async function logIn(page, username, password = PASSWORD, hash = '') {
  await page.goto(BASE + '/' + hash);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#login-button');
  await page.waitForSelector('.console[data-role]');
}

async function goto(page, hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
}

/** Saves the screen at 1366×768; `focus`: a selector scrolled to the top first. */
async function shoot(page, name, focus) {
  const vp = page.viewportSize();
  if (vp.width !== VIEWPORT.width || vp.height !== VIEWPORT.height) await page.setViewportSize(VIEWPORT);
  if (focus) await page.evaluate((sel) => document.querySelector(sel).scrollIntoView({ block: 'start' }), focus);
  else await page.evaluate(() => window.scrollTo(0, 0));
  // Fonts and the charts' canvases are drawn before the picture is taken.
  await page.evaluate(() => document.fonts.ready.then(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))));
  await page.screenshot({ path: join(SHOT_DIR, name + '.png'), fullPage: false });
  shots.push(name);
}
const shots = [];

/**
 * What every screen must be: each action a button or a link with a label, no inline
 * handlers, nothing wider than a 1024 px window.
 */
async function checkScreen(page, what) {
  const bad = await page.evaluate(() => {
    const out = [];
    for (const el of document.querySelectorAll('button, a')) {
      const label = (el.getAttribute('aria-label') || el.textContent || el.getAttribute('title') || '').trim();
      if (!label) out.push('unlabelled ' + el.tagName + ' ' + el.outerHTML.slice(0, 120));
      if (el.tagName === 'A' && !el.hasAttribute('href')) out.push('link without href: ' + el.outerHTML.slice(0, 120));
    }
    for (const el of document.querySelectorAll('*')) {
      for (const a of el.attributes) if (/^on/i.test(a.name)) out.push('inline handler ' + a.name + ' on ' + el.tagName);
    }
    return out;
  });
  assert(!bad.length, what + ': ' + bad.slice(0, 5).join(' | '));
  const vp = page.viewportSize();
  await page.setViewportSize(NARROW);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.setViewportSize(vp);
  assert(wide <= NARROW.width + 1, `${what}: the page is ${wide} px wide in a 1024 px window`);
}

/** Waits until the dashboard shows `region/period/group_by`. */
async function dashboardAt(page, region, groupBy, period = chinaYear()) {
  const key = `${region}/${period}/${groupBy}`;
  try {
    await page.waitForFunction((k) => document.body.getAttribute('data-loaded') === k, key);
  } catch (e) {
    const seen = await page.evaluate(() => (document.body.getAttribute('data-loaded') || '') + ' / ' + (document.querySelector('#status') || {}).textContent);
    throw new Error(`the dashboard did not show ${key} (it shows ${seen})`);
  }
}

/** The report's groups as the table shows them: `[code, name]`. */
async function tableGroups(page) {
  return page.$$eval('#group-table tbody tr', (rows) => rows.map((r) => [r.getAttribute('data-group-code'), r.querySelector('th').textContent.trim()]));
}

/** Clicks the bar chart's column of group `index` (anywhere in the column opens it). */
async function clickBar(page, index) {
  await page.locator('#bar-chart').scrollIntoViewIfNeeded();
  const at = await page.evaluate((i) => {
    const el = document.getElementById('bar-chart');
    const chart = /** @type {any} */ (window).echarts.getInstanceByDom(el);
    const [x, y] = chart.convertToPixel({ seriesIndex: 0 }, [i, 0]);
    const r = el.getBoundingClientRect();
    return { x: r.left + x, y: r.top + y - 12 };
  }, index);
  await page.mouse.click(at.x, at.y);
}

/** Downloads the CSV the dashboard offers; answers its request's query, file name and text. */
async function downloadCsv(page) {
  const [download, request] = await Promise.all([
    page.waitForEvent('download'),
    page.waitForRequest((r) => r.url().includes('/api/v1/reports/coverage') && r.url().includes('format=csv')),
    page.click('#download-csv'),
  ]);
  const path = await download.path();
  const text = readFileSync(path, 'utf8');
  return { query: Object.fromEntries(new URL(request.url()).searchParams), name: download.suggestedFilename(), text };
}

// ---------------------------------------------------------------- the records the scenarios read

const ctx = {};

/** Makes, through the API, what the review scenarios look at. Runs once. */
async function setup() {
  if (ctx.ready) return;
  ctx.admin = await apiLogin('admin');
  ctx.supervisor = await apiLogin('supervisor1');
  ctx.tabletA = await apiLogin('doctor1', { deviceId: `console-A-${RUN}` });
  ctx.tabletB = await apiLogin('doctor1', { deviceId: `console-B-${RUN}` });
  ctx.doctor2 = await apiLogin('doctor2', { deviceId: `console-D2-${RUN}` });
  ctx.village = ctx.tabletA.me.villages[0];
  ctx.village2 = ctx.doctor2.me.villages[0];
  ctx.startedAt = new Date(Date.now() - 1000).toISOString();

  // A field clash: A and B both hold version 1; A's edit is later in clinical time and
  // applied first, B's earlier one arrives after it and loses: the tablet's value waits
  // for the supervisor.
  ctx.rid = uuid();
  ctx.residentName = '审核测试' + RUN;
  const data = residentData(ctx.village, ctx.residentName);
  ctx.residentIdNumber = data.id_number;
  ctx.phoneA = phone();
  ctx.phoneB = phone();
  let res = await pushOk(ctx.tabletA, [op('resident', 'create', ctx.rid, data)]);
  eq(res[0].status, 'applied', 'the resident is registered');
  ctx.cursorB = await syncedCursor(ctx.tabletB);
  res = await pushOk(ctx.tabletA, [op('resident', 'update', ctx.rid, { phone: ctx.phoneA }, { base_version: 1, recorded_at: cst(30_000) })]);
  eq(res[0].status, 'applied', 'tablet A\'s edit');
  res = await pushOk(ctx.tabletB, [op('resident', 'update', ctx.rid, { phone: ctx.phoneB }, { base_version: 1, recorded_at: cst(120_000) })]);
  eq(res[0].status, 'conflict', 'tablet B\'s older edit of the same field at the same base version');
  ctx.conflictId = res[0].conflict_id;
  assert(ctx.conflictId, 'the conflict has an id: ' + JSON.stringify(res[0]));
  ctx.cursorB = (await pullAll(ctx.tabletB, ctx.cursorB)).cursor;

  // A duplicate: the same ID number registered by T01 (doctor1) and T02 (doctor2), both
  // in 城关镇, so its supervisor sees the pair.
  ctx.dupFirst = uuid();
  ctx.dupSecond = uuid();
  const dup = residentData(ctx.village, '重复测试' + RUN);
  await pushOk(ctx.tabletA, [op('resident', 'create', ctx.dupFirst, dup)]);
  await pushOk(ctx.doctor2, [op('resident', 'create', ctx.dupSecond, { ...dup, village_code: ctx.village2, phone: phone() })]);
  const dupItem = await findItem(ctx.supervisor, 'duplicate_resident', (i) => i.entity_id === ctx.dupSecond || i.other_entity_id === ctx.dupSecond);
  assert(dupItem, 'the duplicate is in supervisor1\'s queue');
  ctx.duplicateId = dupItem.id;

  // A quarantined op: an entity the protocol does not have.
  ctx.badOp = op('prescription', 'create', uuid(), { resident_id: ctx.rid, drug: 'amlodipine', phone: '13912345678' });
  res = await pushOk(ctx.tabletA, [ctx.badOp]);
  eq(res[0].status, 'rejected', 'an op of an unknown entity');
  const q = await findItem(ctx.supervisor, 'quarantine', (i) => i.op_id === ctx.badOp.op_id);
  assert(q, 'the refused op is in supervisor1\'s queue');
  ctx.quarantineId = q.id;

  // A double signing: two doctor1 tablets sign one resident offline for the same term; the
  // later signing is held for review.
  const rid2 = uuid();
  await pushOk(ctx.tabletA, [op('resident', 'create', rid2, residentData(ctx.tabletA.me.villages[1] || ctx.village, '双签测试' + RUN))]);
  const today = cst(0).slice(0, 10);
  const contract = () => op('contract', 'create', uuid(), { resident_id: rid2, team_id: ctx.tabletA.user.team_id, packages: ['BASIC', 'HTN'], status: 'SIGNED', signed_at: cst(60_000), effective_from: today });
  eq((await pushOk(ctx.tabletA, [contract()]))[0].status, 'applied', 'the first signing');
  res = await pushOk(ctx.tabletB, [contract()]);
  eq(res[0].status, 'conflict', 'the second signing is held');
  ctx.doubleId = res[0].conflict_id;

  // The second township's supervisor, made through the admin API.
  ctx.otherSupervisorName = 'sup-qs-' + RUN;
  await must(200, ctx.admin, 'POST', '/admin/users', {
    username: ctx.otherSupervisorName, password: PASSWORD, role: 'supervisor', display_name: '青山乡督导（测试）', region_code: QINGSHAN,
  }).catch(async (e) => {
    // 201 is as good as 200.
    if (!/expected 200, got 201/.test(String(e.message))) throw e;
  });
  ctx.ready = true;
}

// ---------------------------------------------------------------- scenarios

const SCENARIOS = [
  {
    name: '1. a supervisor decides a field clash from #/review; the tablet\'s next pull has the decision',
    async run() {
      await setup();
      const page = await newPage();
      await page.goto(BASE + '/');
      await page.waitForSelector('#login-form');
      await shoot(page, 'login');
      await logIn(page, 'supervisor1');
      await dashboardAt(page, CHENGGUAN, 'village');
      await goto(page, '#/review');
      const row = page.locator(`#review-table tr[data-item-id="${ctx.conflictId}"]`);
      await row.waitFor();
      for (const id of [ctx.duplicateId, ctx.quarantineId]) await page.waitForSelector(`#review-table tr[data-item-id="${id}"]`);
      // Every row names its item.
      const rows = await page.$$eval('#review-table tbody tr', (rs) => rs.map((r) => r.getAttribute('data-item-id')));
      assert(rows.every(Boolean), 'every row carries data-item-id');
      const cells = await row.locator('td').allTextContents();
      eq(cells[0].trim(), '字段冲突', 'the row\'s kind');
      assert(/电话/.test(cells[4]), 'the summary names the field: ' + cells[4]);
      await checkScreen(page, 'review list');
      await shoot(page, 'review-list');

      // The duplicate and the quarantined op, for the guide's pictures.
      // Each kind offers the decisions the API lists for it, as buttons.
      const buttons = () => page.$$eval('#decision button[data-decision]', (bs) => bs.map((b) => b.getAttribute('data-decision')));
      for (const [id, table] of [[ctx.duplicateId, '#duplicate-table'], [ctx.quarantineId, '#quarantine-op'], [ctx.doubleId, '#contract-table']]) {
        await goto(page, '#/review/' + id);
        await page.waitForSelector(`.item[data-item-id="${id}"] ${table}`);
        const item = await must(200, ctx.supervisor, 'GET', '/review/items/' + id);
        eq(await buttons(), item.decisions, item.kind + ' decisions');
      }
      await page.waitForSelector('#contract-table td[data-side=client]');
      assert((await page.textContent('#contract-table')).includes('待审核'), 'the held contract is shown as held');
      await shoot(page, 'review-double-signing');

      await goto(page, '#/review/' + ctx.duplicateId);
      await page.waitForSelector('#duplicate-table');
      const dupText = await page.textContent('#duplicate-table');
      assert(!dupText.includes(ctx.residentIdNumber), 'no ID number in clear');
      await shoot(page, 'review-duplicate');
      await goto(page, '#/review/' + ctx.quarantineId);
      await page.waitForSelector('#quarantine-error[data-code=unknown_entity]');
      const sent = await page.textContent('#quarantine-op');
      assert(sent.includes('prescription') && sent.includes('amlodipine'), 'what the tablet sent is shown: ' + sent);
      assert(!sent.includes('13912345678'), 'the phone in the refused op is masked');
      await shoot(page, 'review-quarantine');

      await goto(page, '#/review');
      await row.waitFor();
      await row.locator('a').click();
      await page.waitForSelector(`.item[data-item-id="${ctx.conflictId}"] #clash-table[data-ready=true] tr[data-field=phone]`);
      // Both sides, masked, and whose they are.
      const server = await page.textContent('#clash-table tr[data-field=phone] td[data-side=server]');
      const tablet = await page.textContent('#clash-table tr[data-field=phone] td[data-side=client]');
      assert(/\*/.test(server) && server.includes(ctx.phoneA.slice(0, 3)) && server.includes(ctx.phoneA.slice(-2)), 'the server side is A\'s phone, masked: ' + server);
      assert(/\*/.test(tablet) && tablet.includes(ctx.phoneB.slice(-2)), 'the tablet side is B\'s phone, masked: ' + tablet);
      assert(!(await page.content()).includes(ctx.phoneB), 'no phone in clear on the page');
      // The names arrive with the staff and device lists.
      await page.waitForFunction(() => /doctor1/.test(document.querySelector('#tablet-who').textContent));
      const decisions = await page.$$eval('#decision button[data-decision]', (bs) => bs.map((b) => b.getAttribute('data-decision')));
      eq(decisions, ['keep_server', 'keep_client'], 'a field clash takes these decisions');
      // No reason, no decision.
      await page.click('#decision button[data-decision=keep_client]');
      await page.waitForSelector('#reason-missing');
      await checkScreen(page, 'review item');
      await page.fill('#decision-reason', '电话核实：以平板 B 录入的号码为准（控制台测试）');
      await shoot(page, 'review-conflict');
      const [resp] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/review/items/' + ctx.conflictId + '/decision')),
        page.click('#decision button[data-decision=keep_client]'),
      ]);
      eq(resp.status(), 200, 'the decision is taken');
      await page.waitForSelector('#resolution[data-resolution=keep_client]');
      const by = await page.textContent('#resolved-by');
      assert(/supervisor1/.test(by), 'resolved with the supervisor\'s name: ' + by);
      eq(await page.getAttribute('#resolution', 'data-resolved-by'), ctx.supervisor.me.id, 'resolved by supervisor1');
      await page.waitForSelector(`#changed li[data-entity=resident][data-id="${ctx.rid}"]`);
      await shoot(page, 'review-resolved');

      // The tablet learns it on its next pull: B's value is the record's, as a new version.
      const { changes } = await pullAll(ctx.tabletB, ctx.cursorB);
      const mine = changes.filter((c) => c.entity === 'resident' && c.id === ctx.rid);
      assert(mine.length, 'the pull after the decision carries the resident');
      const last = mine[mine.length - 1];
      eq(last.data.phone, ctx.phoneB, 'the pulled record has the tablet\'s value');
      assert(last.version >= 3, 'a new version: ' + last.version);

      // And the item reads as resolved in the resolved list.
      await goto(page, '#/review?status=resolved');
      await page.waitForSelector(`#review-table[data-status=resolved] tr[data-item-id="${ctx.conflictId}"]`);
      await page.context().close();
    },
  },
  {
    name: '2. a supervisor of another township sees none of this township\'s items',
    async run() {
      await setup();
      const page = await newPage();
      await logIn(page, ctx.otherSupervisorName);
      await dashboardAt(page, QINGSHAN, 'village');
      for (const status of ['open', 'resolved']) {
        await goto(page, '#/review' + (status === 'resolved' ? '?status=resolved' : ''));
        // The answer for this status (not the previous one still showing).
        await page.waitForSelector(`#review-table[data-status=${status}], #review-empty[data-status=${status}]`);
        const ids = await page.$$eval('[data-item-id]', (rs) => rs.map((r) => r.getAttribute('data-item-id')));
        for (const id of [ctx.conflictId, ctx.duplicateId, ctx.quarantineId]) assert(!ids.includes(id), `${status}: 青山乡's supervisor sees 城关镇's item ${id}`);
      }
      for (const id of [ctx.conflictId, ctx.duplicateId, ctx.quarantineId]) {
        await goto(page, '#/review/' + id);
        await page.waitForSelector('#item-not-found');
        assert(!(await page.$(`.item[data-item-id="${id}"]`)), 'nothing of the item is shown');
      }
      await shoot(page, 'review-not-found');
      await page.context().close();
    },
  },
  {
    name: '3. drill-down: township → village → team, breadcrumb back, CSV follows the level',
    async run() {
      await setup();
      const page = await newPage();
      await logIn(page, 'admin');
      await dashboardAt(page, COUNTY, 'township');
      await page.waitForSelector('#bar-chart canvas');
      await page.waitForSelector('#trend-chart canvas');
      const townships = await tableGroups(page);
      const county = (await must(200, ctx.admin, 'GET', `/reports/coverage?region=${COUNTY}&period=${chinaYear()}&group_by=township`));
      eq(townships.map((t) => t[0]), county.groups.map((g) => g.code), 'the table lists the county\'s townships');
      let csv = await downloadCsv(page);
      eq([csv.query.region, csv.query.group_by], [COUNTY, 'township'], 'CSV of the county by township');
      assert(county.groups.every((g) => csv.text.includes(g.name)), 'the CSV holds every township');
      await checkScreen(page, 'dashboard');
      await shoot(page, 'dashboard');

      // A click on 城关镇's column opens its villages.
      const i = townships.findIndex((t) => t[0] === CHENGGUAN);
      await clickBar(page, i);
      await dashboardAt(page, CHENGGUAN, 'village');
      await page.waitForFunction(() => document.querySelector('#breadcrumb [aria-current]').textContent.trim() === '城关镇');
      const crumbs = await page.$$eval('#breadcrumb .crumb', (cs) => cs.map((c) => [c.getAttribute('data-code'), c.textContent.trim(), c.tagName]));
      eq(crumbs.map((c) => c[0]), [COUNTY, CHENGGUAN], 'breadcrumb county › township');
      eq(crumbs[1][1], '城关镇', 'the township is named');
      eq(crumbs.map((c) => c[2]), ['A', 'SPAN'], 'the county is a link back, the township the current level');
      const villages = await tableGroups(page);
      const town = await must(200, ctx.admin, 'GET', `/reports/coverage?region=${CHENGGUAN}&period=${chinaYear()}&group_by=village`);
      eq(villages.map((v) => v[0]), town.groups.map((g) => g.code), 'the table lists the township\'s villages');
      csv = await downloadCsv(page);
      eq([csv.query.region, csv.query.group_by], [CHENGGUAN, 'village'], 'CSV of the township by village');
      assert(csv.name.includes(CHENGGUAN), 'the file is named after the level: ' + csv.name);
      assert(town.groups.every((g) => csv.text.includes(g.name)), 'the CSV holds every village');
      await shoot(page, 'dashboard-township', '.charts');

      // A table row opens the village's teams.
      const v = town.groups.find((g) => g.code === ctx.village) || town.groups[0];
      await page.click(`#group-table tr[data-group-code="${v.code}"] th a`);
      await dashboardAt(page, v.code, 'team');
      const teams = await tableGroups(page);
      const vill = await must(200, ctx.admin, 'GET', `/reports/coverage?region=${v.code}&period=${chinaYear()}&group_by=team`);
      eq(teams.map((t) => t[0]), vill.groups.map((g) => g.code), 'the table lists the village\'s teams');
      assert(teams.length >= 1, 'the village has a team');
      eq(await page.$$eval('#breadcrumb .crumb', (cs) => cs.map((c) => c.getAttribute('data-code'))), [COUNTY, CHENGGUAN, v.code], 'breadcrumb county › township › village');
      csv = await downloadCsv(page);
      eq([csv.query.region, csv.query.group_by], [v.code, 'team'], 'CSV of the village by team');
      assert(vill.groups.every((g) => csv.text.includes(g.name)), 'the CSV holds the teams');
      eq(await page.$$eval('#group-table tbody tr th a', (as) => as.length), 0, 'teams are the last level');
      await shoot(page, 'dashboard-village', '.charts');

      // Back up by the breadcrumb, and by the browser's back button.
      await page.click(`#breadcrumb a[data-code="${CHENGGUAN}"]`);
      await dashboardAt(page, CHENGGUAN, 'village');
      await page.click(`#breadcrumb a[data-code="${COUNTY}"]`);
      await dashboardAt(page, COUNTY, 'township');
      await page.goBack();
      await dashboardAt(page, CHENGGUAN, 'village');
      // The review count is the queue's, and opens it.
      const count = await must(200, ctx.admin, 'GET', '/review/count');
      eq((await page.textContent('#review-count')).trim(), String(count.total), 'the review count');
      await page.click('#review');
      await page.waitForSelector('#review-list');
      await page.context().close();
    },
  },
  {
    name: '4. devices: an admin revokes a tablet; its next push answers device_revoked',
    async run() {
      await setup();
      const tablet = await apiLogin('doctor2', { deviceId: `console-revoke-${RUN}` });
      const key = tablet.me.device_key;
      assert(key, 'GET /me answers the device key');
      const page = await newPage();
      await logIn(page, 'admin');
      await goto(page, '#/devices');
      const row = page.locator(`#device-table tr[data-device-id="${key}"]`);
      await row.waitFor();
      eq(await row.getAttribute('data-revoked'), 'false', 'the tablet is in use');
      assert((await row.textContent()).includes('console-test'), 'the row shows the app version');
      await checkScreen(page, 'devices');
      await shoot(page, 'devices');
      await row.locator('button[data-action=revoke]').click();
      await page.waitForSelector('#revoke-dialog[open] #revoke-form');
      // The reason is required.
      await page.click('#revoke-form button[type=submit]');
      await page.waitForSelector('#revoke-form .error');
      await page.fill('#revoke-form textarea', '平板遗失（控制台测试）');
      await shoot(page, 'devices-revoke');
      const [resp] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith(`/devices/${key}/revoke`)),
        page.click('#revoke-form button[type=submit]'),
      ]);
      eq(resp.status(), 204, 'revoked');
      await page.waitForSelector(`#device-table tr[data-device-id="${key}"][data-revoked=true]`);
      await page.waitForSelector('#device-done');
      const r = await push(tablet, [op('resident', 'create', uuid(), residentData(tablet.me.villages[0], '停用后' + RUN))]);
      eq(r.status, 401, 'the revoked tablet\'s push is refused');
      eq(r.body.error.code, 'device_revoked', 'the code says why');
      await page.context().close();
    },
  },
  {
    name: '5. audit: the table shows what the API answers for each filter',
    async run() {
      await setup();
      const page = await newPage();
      await logIn(page, 'admin');
      await goto(page, '#/audit');
      await page.waitForSelector('#audit-table tbody tr');
      const rowsOf = () => page.$$eval('#audit-table tbody tr', (rs) => rs.map((r) => r.getAttribute('data-audit-id')));
      const first = await must(200, ctx.admin, 'GET', '/audit?limit=100');
      // The first page is newest first; entries may have been added since, so compare the tail.
      const shown = await rowsOf();
      eq(shown.length, Math.min(100, first.entries.length), 'a page of up to 100');
      await checkScreen(page, 'audit');
      await shoot(page, 'audit');

      const apply = async (expectFilters) => {
        await Promise.all([page.waitForResponse((r) => r.url().includes('/api/v1/audit?')), page.click('#audit-apply')]);
        await page.waitForSelector(`#audit-table[data-filters="${expectFilters}"], #audit-empty[data-filters="${expectFilters}"]`);
      };
      // By record.
      await page.selectOption('#audit-entity', 'resident');
      await page.fill('#audit-entity-id', ctx.rid);
      await apply(['resident', ctx.rid, '', '', '', '', ''].join('|'));
      let want = await must(200, ctx.admin, 'GET', `/audit?entity=resident&entity_id=${ctx.rid}`);
      eq(await rowsOf(), want.entries.map((e) => e.id), 'entries of the resident');
      assert(want.entries.length >= 2, 'registered and updated: ' + want.entries.map((e) => e.action));
      const ents = await page.$$eval('#audit-table tbody tr', (rs) => rs.map((r) => r.getAttribute('data-entity-id')));
      assert(ents.every((e) => e === ents[0]), 'one record');
      await shoot(page, 'audit-resident');
      // By device (tablet B).
      await page.click('#audit-clear');
      await page.waitForFunction(() => location.hash === '#/audit');
      // The cleared page has loaded (and reset its form) before new filters are typed in.
      await page.waitForSelector('#audit-table[data-filters="||||||"], #audit-empty[data-filters="||||||"]');
      await page.fill('#audit-device', ctx.tabletB.me.device_key);
      await apply(['', '', '', ctx.tabletB.me.device_key, '', '', ''].join('|'));
      want = await must(200, ctx.admin, 'GET', `/audit?device_id=${ctx.tabletB.me.device_key}`);
      eq(await rowsOf(), want.entries.map((e) => e.id), 'entries of tablet B');
      assert(want.entries.length >= 1, 'tablet B logged in');
      // By user, in a time window.
      await page.click('#audit-clear');
      await page.waitForFunction(() => location.hash === '#/audit');
      // The cleared page has loaded (and reset its form) before new filters are typed in.
      await page.waitForSelector('#audit-table[data-filters="||||||"], #audit-empty[data-filters="||||||"]');
      const userId = ctx.tabletA.me.id;
      if (await page.$('select#audit-user')) await page.selectOption('#audit-user', userId);
      else await page.fill('#audit-user', userId);
      const from = new Date(Date.parse(ctx.startedAt) - 60_000);
      const to = new Date(Date.now() + 120_000);
      // datetime-local takes China wall time.
      const local = (d) => new Date(d.getTime() + 8 * 3600e3).toISOString().slice(0, 16);
      await page.fill('#audit-from', local(from));
      await page.fill('#audit-to', local(to));
      const rfc = (d) => local(d) + ':00+08:00';
      await apply(['', '', userId, '', rfc(from), rfc(to), ''].join('|'));
      want = await must(200, ctx.admin, 'GET', `/audit?user_id=${userId}&from=${encodeURIComponent(rfc(from))}&to=${encodeURIComponent(rfc(to))}`);
      eq(await rowsOf(), want.entries.map((e) => e.id), 'doctor1\'s entries in the window');
      const users = await page.$$eval('#audit-table tbody tr', (rs) => rs.map((r) => r.getAttribute('data-user-id')));
      assert(users.length && users.every((u) => u === userId), 'only doctor1');
      // Paging: a small page, then the next one.
      await page.selectOption('#audit-limit', '50');
      await apply(['', '', userId, '', rfc(from), rfc(to), '50'].join('|'));
      const p1 = await must(200, ctx.admin, 'GET', `/audit?user_id=${userId}&from=${encodeURIComponent(rfc(from))}&to=${encodeURIComponent(rfc(to))}&limit=50`);
      eq(await rowsOf(), p1.entries.map((e) => e.id), 'page 1 of 50');
      if (p1.next_before) {
        await Promise.all([page.waitForResponse((r) => r.url().includes('before=')), page.click('#page-next')]);
        const p2 = await must(200, ctx.admin, 'GET', `/audit?user_id=${userId}&from=${encodeURIComponent(rfc(from))}&to=${encodeURIComponent(rfc(to))}&limit=50&before=${p1.next_before}`);
        await page.waitForFunction((id) => document.querySelector('#audit-table tbody tr').getAttribute('data-audit-id') === id, p2.entries[0].id);
        eq(await rowsOf(), p2.entries.map((e) => e.id), 'page 2');
      }
      // Unfiltered, the first page again: every id the API had then is still in order.
      await page.click('#audit-clear');
      await page.waitForSelector('#audit-table[data-filters="||||||"]');
      const again = await rowsOf();
      const tail = first.entries.map((e) => e.id).filter((id) => again.includes(id));
      eq(again.filter((id) => tail.includes(id)), tail, 'newest first, as the API');
      await page.context().close();
    },
  },

  // -------------------------------------------------------------- [contract] scenarios:
  // the staff, password and resident endpoints (docs/console.md); they fail until the
  // server has them.
  {
    name: '6a. [contract] an admin deactivates a doctor; the doctor\'s tablet is refused (401)',
    contract: true,
    async run() {
      await setup();
      const username = 'doc-off-' + RUN;
      const t01 = ctx.tabletA.user.team_id;
      const teams = await must(200, ctx.admin, 'GET', '/admin/teams');
      const team = teams.items.find((t) => t.id === t01);
      assert(team, 'GET /admin/teams lists T01');
      const made = await api(ctx.admin, 'POST', '/admin/users', { username, password: PASSWORD, role: 'doctor', display_name: '停用测试医生', team_code: team.code });
      assert(made.status === 200 || made.status === 201, 'user made: ' + JSON.stringify(made.body));
      const tablet = await apiLogin(username);
      const page = await newPage();
      await logIn(page, 'admin');
      await goto(page, '#/staff?q=' + username);
      const row = page.locator(`#user-table tr[data-user-id="${tablet.me.id}"]`);
      await row.waitFor();
      await checkScreen(page, 'staff');
      await goto(page, '#/staff');
      await page.waitForSelector('#user-table tbody tr');
      await shoot(page, 'staff-users');
      await goto(page, '#/staff?q=' + username);
      await row.waitFor();
      await row.locator('button[data-action=deactivate]').click();
      await page.waitForSelector('#deactivate-dialog[open] #deactivate-form');
      await page.fill('#deactivate-form textarea', '调离本院（控制台测试）');
      await shoot(page, 'staff-deactivate');
      await page.click('#deactivate-form button[type=submit]');
      await page.waitForSelector(`#user-table tr[data-user-id="${tablet.me.id}"][data-active=false]`);
      const r = await api(tablet, 'GET', '/me');
      eq(r.status, 401, 'the deactivated doctor\'s token is refused at once');
      const p = await push(tablet, [op('resident', 'create', uuid(), residentData(tablet.me.villages[0], '停用' + RUN))]);
      eq(p.status, 401, 'and so is the tablet\'s push');
      const l = await apiLogin(username, { expect: 401 });
      eq(l.status, 401, 'and a new login');
      // The teams tab, for the guide.
      await goto(page, '#/staff?tab=teams');
      await page.waitForSelector(`#team-table tr[data-team-id="${t01}"]`);
      await checkScreen(page, 'teams');
      await shoot(page, 'staff-teams');
      await page.context().close();
    },
  },
  {
    name: '6b. [contract] a user changes their password at #/me; the old one no longer logs in',
    contract: true,
    async run() {
      await setup();
      const username = 'sup-pw-' + RUN;
      const made = await api(ctx.admin, 'POST', '/admin/users', { username, password: PASSWORD, role: 'supervisor', display_name: '改密测试', region_code: CHENGGUAN });
      assert(made.status === 200 || made.status === 201, 'user made: ' + JSON.stringify(made.body));
      const page = await newPage();
      await logIn(page, username);
      await goto(page, '#/me');
      await page.waitForSelector('#password-form');
      await checkScreen(page, 'me');
      await shoot(page, 'me');
      // A wrong old password is refused with the API's code.
      await page.fill('#old-password', 'not-the-password');
      await page.fill('#new-password', 'new-pass-' + RUN + '-x');
      await page.fill('#new-password-again', 'new-pass-' + RUN + '-x');
      await page.click('#password-submit');
      await page.waitForSelector('#password-error[data-code=wrong_password]');
      const fresh = 'new-pass-' + RUN + '-ok';
      await page.fill('#old-password', PASSWORD);
      await page.fill('#new-password', fresh);
      await page.fill('#new-password-again', fresh);
      await Promise.all([page.waitForResponse((r) => r.url().endsWith('/me/password')), page.click('#password-submit')]);
      await page.waitForSelector('#password-done');
      eq((await apiLogin(username, { expect: 401 })).status, 401, 'the old password no longer logs in');
      await apiLogin(username, { password: fresh });
      // Sign out everywhere ends this browser's session too.
      await page.click('#sign-out-everywhere');
      await page.waitForSelector('#login-form');
      assert(/所有设备/.test(await page.textContent('#login-error')), 'the login form says why');
      await page.context().close();
    },
  },
  {
    name: '6c. [contract] an admin resets a password; the user logs in with it and is sent to #/me',
    contract: true,
    async run() {
      await setup();
      const username = 'sup-otp-' + RUN;
      const made = await api(ctx.admin, 'POST', '/admin/users', { username, password: PASSWORD, role: 'supervisor', display_name: '重置测试', region_code: CHENGGUAN });
      assert(made.status === 200 || made.status === 201, 'user made: ' + JSON.stringify(made.body));
      const userId = made.body.id;
      const page = await newPage();
      await logIn(page, 'admin');
      await goto(page, '#/staff?q=' + username);
      const row = page.locator(`#user-table tr[data-user-id="${userId}"]`);
      await row.waitFor();
      await row.locator('button[data-action=reset]').click();
      await page.waitForSelector('#reset-dialog[open] #confirm-yes');
      await page.click('#confirm-yes');
      await page.waitForSelector('#otp-dialog[open] #one-time-password');
      const otp = (await page.textContent('#one-time-password')).trim();
      assert(otp.length >= 8, 'a one-time password: ' + otp);
      await shoot(page, 'staff-reset');
      await page.click('#otp-close');
      await page.waitForSelector(`#user-table tr[data-user-id="${userId}"] .chip`);
      eq((await apiLogin(username, { expect: 401 })).status, 401, 'the old password ends');

      const user = await newPage();
      await logIn(user, username, otp);
      await user.waitForSelector('.console[data-route=me] #must-change');
      await user.waitForFunction(() => location.hash === '#/me');
      await shoot(user, 'me-must-change');
      // Other screens wait for the new password.
      await goto(user, '#/review');
      await user.waitForSelector('.console[data-route=me]');
      const fresh = 'after-reset-' + RUN + '-ok';
      await user.fill('#old-password', otp);
      await user.fill('#new-password', fresh);
      await user.fill('#new-password-again', fresh);
      await user.click('#password-submit');
      await user.waitForSelector('#password-done');
      await goto(user, '#/review');
      await user.waitForSelector('.console[data-route=review] #review-list');
      const again = await apiLogin(username, { password: fresh });
      assert(!again.login.password_change_required, 'the new password is a plain login');
      await user.context().close();
      await page.context().close();
    },
  },
  {
    name: '6d. [contract] resident search by name and whole phone (not by its end); the record page is masked',
    contract: true,
    async run() {
      await setup();
      const page = await newPage();
      await logIn(page, 'supervisor1');
      await goto(page, '#/residents');
      await page.fill('#resident-search', ctx.residentName);
      await page.click('#resident-search-button');
      await page.waitForSelector(`#resident-table tr[data-resident-id="${ctx.rid}"]`);
      await checkScreen(page, 'residents');
      await shoot(page, 'residents');
      // The phone (B's value, kept by the decision of scenario 1, or A's): a supervisor, who
      // sees it masked, finds it by the whole number and not by its last digits.
      const record = await must(200, ctx.tabletA, 'GET', '/residents/' + ctx.rid);
      const suffix = record.phone.slice(-4);
      await page.fill('#resident-search', suffix);
      await page.click('#resident-search-button');
      await page.waitForSelector('#resident-none');
      assert(!(await page.$(`#resident-table tr[data-resident-id="${ctx.rid}"]`)), 'a phone suffix finds nothing for a supervisor');
      await page.fill('#resident-search', record.phone);
      await page.click('#resident-search-button');
      await page.waitForSelector(`#resident-table[data-query="${record.phone}|"]`);
      await page.waitForSelector(`#resident-table tr[data-resident-id="${ctx.rid}"]`);
      const masked = await page.textContent(`#resident-table tr[data-resident-id="${ctx.rid}"] td[data-field=id_number]`);
      assert(/^\*+/.test(masked.trim()) && !masked.includes(ctx.residentIdNumber.slice(0, 6)), 'the ID number is masked: ' + masked);
      // A referral up, received by the hospital: on the record page in its current state.
      const referralId = uuid();
      const [sent, received] = await pushOk(ctx.tabletA, [
        op('referral', 'create', referralId, { resident_id: ctx.rid, direction: 'up', facility: { name: '县人民医院' },
          reason_code: 'htn_uncontrolled', referred_at: cst(7_200_000) }),
        op('referral', 'transition', referralId, { to: 'RECEIVED', at: cst(3_600_000) }),
      ]);
      assert(sent.status === 'applied' && received.status === 'applied', 'referral pushed: ' + JSON.stringify([sent, received]));
      await page.click(`#resident-table tr[data-resident-id="${ctx.rid}"] a`);
      await page.waitForSelector(`.record[data-resident-id="${ctx.rid}"]`);
      for (const s of ['#resident-contracts', '#resident-visits', '#resident-surveys', '#resident-referrals', '#resident-audit']) await page.waitForSelector(s);
      const referralRow = await page.textContent(`#resident-referrals tr[data-referral-id="${referralId}"][data-status=RECEIVED]`);
      assert(referralRow.includes('上转') && referralRow.includes('县人民医院') && referralRow.includes('已接收'), 'the referral row: ' + referralRow);
      const idText = await page.textContent('#resident-id-number');
      const phoneText = await page.textContent('#resident-phone');
      assert(/\*/.test(idText), 'ID number masked: ' + idText);
      assert(/\*/.test(phoneText), 'phone masked for the supervisor: ' + phoneText);
      const html = await page.content();
      assert(!html.includes(ctx.residentIdNumber) && !html.includes(record.phone), 'no ID number or phone in clear on the page');
      // The audit section has the resident's history; a read is logged as it is answered, so
      // the next read shows it.
      await page.reload();
      await page.waitForSelector(`.record[data-resident-id="${ctx.rid}"]`);
      await page.waitForSelector('#resident-audit tr[data-action=resident_viewed]');
      await page.waitForSelector('#resident-audit tr[data-action=review_decision], #resident-audit tr[data-action=resident_created]');
      await checkScreen(page, 'resident');

      // For the guide: a demo resident with contracts and visits.
      const list = await must(200, ctx.supervisor, 'GET', `/residents?village=${ctx.village}&limit=50`);
      let demo = null;
      for (const r of list.items) {
        const rec = await must(200, ctx.supervisor, 'GET', `/residents/${r.id}/record`);
        if (rec.contracts.length && rec.visits.length >= 2) { demo = r; break; }
      }
      if (demo) {
        await goto(page, '#/residents/' + demo.id);
        await page.waitForSelector(`.record[data-resident-id="${demo.id}"] #resident-contracts [data-contract-id]`);
        await shoot(page, 'resident');
      } else {
        await shoot(page, 'resident');
      }
      await page.context().close();
    },
  },
];

// ---------------------------------------------------------------- runner

async function main() {
  const started = Date.now();
  const results = [];
  // Chinese browser UI: date inputs read 年/月/日 as a county's browsers do.
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, '--lang=zh-CN'] });
  const chosen = SCENARIOS.filter((s) => (MODE === 'all' || (MODE === 'contract') === !!s.contract)
    && (!ONLY.length || ONLY.some((w) => s.name.toLowerCase().includes(w.toLowerCase()))));
  for (const s of chosen) {
    const t0 = Date.now();
    const errorsBefore = pageErrors.length;
    try {
      await s.run();
      if (pageErrors.length > errorsBefore) throw new Error('page errors: ' + pageErrors.slice(errorsBefore).join(' | '));
      results.push({ name: s.name, ok: true, ms: Date.now() - t0 });
      console.log('ok - ' + s.name + ' (' + ((Date.now() - t0) / 1000).toFixed(1) + ' s)');
    } catch (e) {
      results.push({ name: s.name, ok: false, ms: Date.now() - t0, error: String(e && e.message || e).slice(0, 2000) });
      console.log('not ok - ' + s.name + ': ' + String(e && e.stack || e).split('\n').slice(0, 8).join(' / ').slice(0, 3000));
    }
  }
  await browser.close().catch(() => {});
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(passed + ' passed, ' + failed + ' failed');
  console.log(JSON.stringify({ passed, failed, total: results.length, mode: MODE, seconds: (Date.now() - started) / 1000, screenshots: SHOT_DIR, shots,
    failures: results.filter((r) => !r.ok).map((r) => ({ name: r.name, error: r.error })) }));
  process.exit(failed || !results.length ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
