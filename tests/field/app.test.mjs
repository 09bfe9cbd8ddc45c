// Browser tests of the field app (web/field/, served by jiayi at /field/) against a
// running server: `node tests/field/app.test.mjs <baseUrl> [--screenshots]`.
//
// Debian's Chromium (/usr/bin/chromium, or $CHROMIUM) runs headless through
// playwright-core. The server must be a fresh demo county (demo users doctor1, doctor2,
// supervisor1, admin; password jiayi-demo). One line per scenario, then a summary line
// and a JSON summary; exit code 0 only when every scenario passed. With --screenshots,
// every screen is saved at phone (390×844) and tablet (800×1280) size under
// docs/field-app/ for docs/field-app.md.

import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS } from './lib/common.mjs';
import { UNIT_TESTS, makeIdNumber } from './app/unit.mjs';
import { checkChar } from '../../web/field/app/idnumber.js';

const args = process.argv.slice(2);
const BASE = (args.find((a) => !a.startsWith('--')) || '').replace(/\/$/, '');
const SHOTS = args.includes('--screenshots');
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHOT_DIR = join(ROOT, 'docs', 'field-app');
const PASSWORD = process.env.JIAYI_DEMO_PASSWORD || 'jiayi-demo';
const PHONE = { width: 390, height: 844 };
const TABLET = { width: 800, height: 1280 };
const RUN = Math.random().toString(36).slice(2, 8);
const STEP_MS = 20_000;

if (!BASE) {
  console.error('usage: node tests/field/app.test.mjs <baseUrl> [--screenshots]');
  process.exit(2);
}

// ---------------------------------------------------------------- the API, from Node

/** Logs in through the API as a device of its own. */
async function apiLogin(username) {
  const resp = await fetch(BASE + '/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD, device_id: 'app-test-' + username + '-' + RUN, device_name: 'field app test' }),
  });
  const body = await resp.json();
  assert.equal(resp.status, 200, 'login ' + username + ': ' + JSON.stringify(body));
  return { token: body.access_token, user: body.user };
}

/** Calls the API; answers `{ status, body }`. */
async function api(who, method, path, json) {
  const headers = { Authorization: 'Bearer ' + who.token };
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(BASE + '/api/v1' + path, { method, headers, body: json === undefined ? undefined : JSON.stringify(json) });
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = text; }
  return { status: resp.status, body };
}

/** JSON with sorted keys: the same content compares equal whatever the key order. */
function canon(v) {
  const sort = (x) => (Array.isArray(x) ? x.map(sort) : x && typeof x === 'object'
    ? Object.fromEntries(Object.keys(x).filter((k) => x[k] !== undefined).sort().map((k) => [k, sort(x[k])])) : x);
  return JSON.stringify(sort(v));
}

/** Today's year in China time (the reports' calendar). */
function chinaYear() {
  return new Date(Date.now() + 8 * 3600e3).getUTCFullYear();
}

/** Coverage numerators and denominators of the whole county this year. */
async function coverage(admin) {
  const r = await api(admin, 'GET', '/reports/coverage?region=' + admin.user.region_code + '&period=' + chinaYear() + '&group_by=township');
  assert.equal(r.status, 200, 'coverage: ' + JSON.stringify(r.body));
  return r.body.total.indicators;
}

// ---------------------------------------------------------------- the browser

let browser;
const pageErrors = [];

async function newTablet(viewport) {
  const context = await browser.newContext({
    viewport, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', serviceWorkers: 'allow', deviceScaleFactor: 1,
  });
  context.setDefaultTimeout(STEP_MS);
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e && e.stack || e)));
  // FIELD_TEST_DEBUG=1 shows the page's console (offline, failed fetches there are expected).
  if (process.env.FIELD_TEST_DEBUG) page.on('console', (m) => console.log('  [page ' + m.type() + '] ' + m.text()));
  return { context, page };
}

/** Opens the app and logs in; waits for the first sync and the service worker. */
async function logIn(tablet, username) {
  const { page } = tablet;
  await page.goto(BASE + '/field/');
  await page.fill('#username', username);
  await page.fill('#password', PASSWORD);
  await page.click('#login-button');
  await page.waitForSelector('.shell[data-route=today]:not([data-last-sync=""])', { timeout: 60_000 });
  await waitSynced(page, 60_000);
  // The service worker holds the app once it controls the page.
  await page.waitForFunction(async () => {
    const reg = await navigator.serviceWorker.ready;
    return !!(reg.active && navigator.serviceWorker.controller);
  }, null, { timeout: 30_000 });
}

/** Waits until no sync runs and nothing is pending. */
async function waitSynced(page, timeout = STEP_MS) {
  await page.waitForFunction(() => {
    const b = document.querySelector('#pending-badge');
    return b && b.getAttribute('data-pending') === '0' && !/同步中/.test(b.textContent);
  }, null, { timeout });
}

async function pendingCount(page) {
  return Number(await page.getAttribute('#pending-badge', 'data-pending'));
}

async function goto(page, hash, route) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForSelector('.shell[data-route=' + route + ']');
}

/**
 * Runs `fn(state, arg)` in the page on the app's own state module (the same instance the
 * page runs). `fn` is sent as source: it must not use anything outside itself.
 */
function appState(page, fn, arg) {
  return page.evaluate(fn, arg);
}

/** The current hash route's id. */
async function routeId(page) {
  return page.evaluate(() => decodeURIComponent(location.hash.split('/')[2] || ''));
}

/** Saves the page at phone and tablet size (with --screenshots); `focus`: scrolled into view. */
async function shoot(page, name, focus) {
  if (!SHOTS) return;
  mkdirSync(SHOT_DIR, { recursive: true });
  const size = page.viewportSize();
  for (const [suffix, vp] of [['phone', PHONE], ['tablet', TABLET]]) {
    await page.setViewportSize(vp);
    if (focus) await page.evaluate((sel) => document.querySelector(sel).scrollIntoView({ block: 'center' }), focus);
    await page.waitForTimeout(150);
    await page.screenshot({ path: join(SHOT_DIR, name + '-' + suffix + '.png'), fullPage: false });
  }
  await page.setViewportSize(size);
}

// ---------------------------------------------------------------- scenarios

const ctx = {};

const SCENARIOS = {
  ...UNIT_TESTS,

  async 'login online, first sync, work list equals the server\'s'() {
    ctx.admin = await apiLogin('admin');
    ctx.supervisor = await apiLogin('supervisor1');
    ctx.doctorApi = await apiLogin('doctor1');
    ctx.before = await coverage(ctx.admin);
    ctx.a = await newTablet(PHONE);
    await ctx.a.page.goto(BASE + '/field/');
    await ctx.a.page.waitForSelector('#login-form');
    await shoot(ctx.a.page, 'login');
    await logIn(ctx.a, 'doctor1');
    const local = await appState(ctx.a.page, async () => {
      const s = (await import('/field/app/state.js')).getState();
      return { n: s.data.residents.length, w: s.data.worklist(), team: s.user.team_id };
    });
    assert.ok(local.n > 0, 'residents were downloaded');
    const server = await api(ctx.doctorApi, 'GET', '/teams/' + local.team + '/worklist?date=' + local.w.date);
    assert.equal(server.status, 200, JSON.stringify(server.body));
    for (const section of ['followups_due', 'followups_overdue', 'recalls_due', 'referrals_suggested', 'referrals_overdue', 'referral_followups_due', 'contracts_expiring', 'elderly_checks_missing']) {
      // Village names are compared apart: the tablet may not have learnt them.
      const strip = (list) => list.map((e) => canon({ ...e, resident: { ...e.resident, village_name: undefined } }));
      assert.deepEqual(strip(local.w[section]), strip(server.body[section]), section + ' differs from the server');
    }
    assert.deepEqual(local.w.quarter, server.body.quarter);
    await shoot(ctx.a.page, 'today');
  },

  async 'search stays under 100 ms (the team, and 5,000 residents in the browser)'() {
    const { page } = ctx.a;
    await goto(page, '#/residents', 'residents');
    const name = await page.textContent('#resident-list li .row-title');
    const q = name.trim().slice(0, 2);
    await page.fill('#resident-search', q);
    await page.waitForSelector('#resident-list[data-query="' + q + '"]');
    const ms = Number(await page.getAttribute('#resident-list', 'data-search-ms'));
    assert.ok(ms < 100, 'team search took ' + ms + ' ms');
    assert.ok(await page.locator('#resident-list li[data-id]').count() > 0);
    const worst = await page.evaluate(async () => {
      const { buildIndex, search } = await import('/field/app/search.js');
      const names = ['王秀英', '李建国', '张桂英', '刘德明', '陈春梅', '杨志强', '黄淑珍', '赵海波', '欧阳晓东', '周丽娟'];
      const index = buildIndex(Array.from({ length: 5000 }, (_, i) => ({
        id: 'r' + i, name: names[i % 10] + (i % 97), village_code: '4311261002' + (10 + (i % 4)), household_id: 'H' + Math.floor(i / 3),
      })));
      let w = 0;
      for (const q of ['王', '秀英4', 'H12', '欧阳 9', '不存在', '']) {
        const t0 = performance.now();
        search(index, q);
        w = Math.max(w, performance.now() - t0);
      }
      return w;
    });
    assert.ok(worst < 100, '5,000-resident search took ' + worst.toFixed(1) + ' ms');
    await page.fill('#resident-search', '');
    await shoot(page, 'residents');
  },

  async 'offline: register, sign with a drawn signature, follow-up, survey'() {
    const { page, context } = ctx.a;
    await context.setOffline(true);
    await page.waitForSelector('#offline-banner');
    assert.match(await page.textContent('#offline-banner'), /离线/);

    // Register: the ID number gives birth date and sex before anything is queued.
    await goto(page, '#/register', 'register');
    ctx.name = '测试' + RUN;
    ctx.idNumber = makeIdNumber('431126', '1975-06-15', 100 + Math.floor(Math.random() * 800), 'F', checkChar);
    await page.fill('#reg-name', ctx.name);
    await page.fill('#reg-id-number', ctx.idNumber);
    await page.waitForSelector('#id-derived[data-birth-date="1975-06-15"][data-sex=F]');
    assert.match(await page.textContent('#id-derived'), /1975-06-15.*女/);
    await page.selectOption('#reg-village', { index: 1 });
    await page.fill('#reg-household', 'HH-' + RUN);
    await page.check('input[data-tag=hypertension]');
    await shoot(page, 'register');
    await page.click('#register-submit');
    await page.waitForSelector('.shell[data-route=resident] #resident-card');
    ctx.residentId = await routeId(page);
    assert.equal(await pendingCount(page), 1);

    // Sign: the packages offered are the server's active catalog (the suite added REHAB
    // and a retired OLDCARE to it, tests/api/browser_suites.rs), BASIC always in; HTN and
    // REHAB added; the resident signs with the mouse.
    await page.click('#action-sign');
    await page.waitForSelector('.shell[data-route=sign]');
    const catalog = await api(ctx.admin, 'GET', '/packages');
    assert.equal(catalog.status, 200);
    const active = catalog.body.filter((p) => p.active).map((p) => p.code).sort();
    assert.ok(active.includes('REHAB') && !active.includes('OLDCARE'), JSON.stringify(catalog.body));
    const offered = await page.$$eval('input[data-package]', (xs) => xs.map((x) => x.getAttribute('data-package')));
    assert.deepEqual(offered.slice().sort(), active, 'the signing screen offers the active catalog');
    assert.equal(await page.isChecked('input[data-package=BASIC]'), true);
    assert.equal(await page.isDisabled('input[data-package=BASIC]'), true);
    await page.check('input[data-package=HTN]');
    await page.check('input[data-package=REHAB]');
    assert.match(await page.textContent('#packages'), /康复护理包[\s\S]*定价 ¥80\.50，个人支付 ¥10\.25/);
    assert.equal(await page.textContent('#self-pay'), '¥40.25', 'self-pay: HTN ¥30.00 + REHAB ¥10.25');
    await page.click('#sign-submit');
    await page.waitForSelector('#sign-error');
    assert.equal(await pendingCount(page), 1, 'no contract without a signature');
    const box = await page.locator('#signature').boundingBox();
    for (const stroke of [[[0.15, 0.6], [0.25, 0.3], [0.35, 0.7], [0.45, 0.35]], [[0.55, 0.5], [0.7, 0.45], [0.85, 0.55]]]) {
      await page.mouse.move(box.x + box.width * stroke[0][0], box.y + box.height * stroke[0][1]);
      await page.mouse.down();
      for (const [x, y] of stroke.slice(1)) await page.mouse.move(box.x + box.width * x, box.y + box.height * y, { steps: 8 });
      await page.mouse.up();
    }
    await page.waitForSelector('#signature[data-empty=false]');
    await shoot(page, 'sign');
    await page.click('#sign-submit');
    await page.waitForSelector('.shell[data-route=resident] #contract-list li[data-id]');
    assert.equal(await pendingCount(page), 2);
    ctx.signature = await appState(page, async (id) => (await import('/field/app/state.js')).getState().data.contractsOf(id)[0].signature_sha256, ctx.residentId);
    assert.deepEqual(
      await appState(page, async (id) => (await import('/field/app/state.js')).getState().data.contractsOf(id)[0].packages, ctx.residentId),
      ['BASIC', 'HTN', 'REHAB']);
    assert.match(await page.textContent('#contract-list'), /康复护理包/, 'the contract names its packages from the catalog');
    assert.match(ctx.signature, /^[0-9a-f]{64}$/);

    // Follow-up: an impossible reading is refused on the tablet, then corrected.
    await page.click('#action-visit');
    await page.waitForSelector('.shell[data-route=visit]');
    assert.equal(await page.inputValue('#visit-kind'), 'htn_followup');
    await page.fill('#m-systolic', '350');
    await page.fill('#m-diastolic', '85');
    await page.click('#visit-submit');
    await page.waitForSelector('#visit-error');
    assert.match(await page.textContent('.shell[data-route=visit]'), /收缩压应在 50–300/);
    await page.fill('#m-systolic', '80');
    await page.fill('#m-diastolic', '85');
    await page.click('#visit-submit');
    assert.match(await page.textContent('.shell[data-route=visit]'), /舒张压应低于收缩压/);
    assert.equal(await pendingCount(page), 2, 'nothing queued while the readings are wrong');
    await page.fill('#m-systolic', '135');
    await page.fill('#m-diastolic', '85');
    await page.fill('#m-heart_rate', '72');
    await shoot(page, 'visit', '#visit-kind');
    await page.click('#visit-submit');
    await page.waitForSelector('.shell[data-route=resident] #visit-list li[data-id]');
    assert.equal(await pendingCount(page), 3);

    // Survey: the questionnaire version the server sent, options by their labels.
    await page.click('#action-survey');
    await page.waitForSelector('#survey-form[data-questionnaire=satisfaction]');
    assert.match(await page.textContent('#survey-form'), /非常满意/);
    await page.check('fieldset[data-item=satisfaction] input[data-option=very_satisfied]');
    await page.check('fieldset[data-item=awareness] input[data-option=aware]');
    await shoot(page, 'survey');
    await page.click('#survey-submit');
    await page.waitForSelector('.shell[data-route=resident] #survey-list li[data-id]');
    assert.equal(await pendingCount(page), 4);
    await shoot(page, 'resident');
  },

  async 'reloaded offline, the app opens from the service worker with 4 pending'() {
    const { page } = ctx.a;
    await page.reload();
    await page.waitForSelector('.shell[data-route=resident] #resident-card');
    await page.waitForSelector('#offline-banner');
    await page.waitForSelector('#pending-badge[data-pending="4"]');
    await goto(page, '#/sync', 'sync');
    await page.waitForSelector('#pending-list li[data-id]');
    assert.equal(await page.getAttribute('#count-pending', 'data-count'), '4');
    assert.deepEqual(
      (await page.$$eval('#pending-list li', (lis) => lis.map((l) => l.getAttribute('data-id')))).length, 4);
    assert.equal(await page.isDisabled('#sync-now'), true, 'no sync button while offline');
    await shoot(page, 'sync');
  },

  async 'back online: sync, coverage moves by exactly those records, the blob is up'() {
    const { page, context } = ctx.a;
    await context.setOffline(false);
    await page.waitForSelector('#offline-banner', { state: 'detached' });
    await page.waitForSelector('#sync-now:not([disabled])', { timeout: 60_000 });
    await page.click('#sync-now');
    await waitSynced(page, 60_000);
    await page.waitForSelector('#count-pending[data-count="0"]');
    assert.equal(await page.getAttribute('#count-rejected', 'data-count'), '0', await page.textContent('main'));
    const after = await coverage(ctx.admin);
    const expected = {
      record_rate: 1, signing_rate: 1, key_signing_rate: 1, 'signing_rate.hypertension': 1, key_share_of_signed: 1,
      contracts_signed: 1, personalised_contracts: 1, htn_managed: 1, htn_controlled: 1, followup_visits: 1,
      satisfaction_rate: 1, awareness_rate: 1,
    };
    const moved = {};
    for (const [id, f] of Object.entries(after)) {
      const d = f.numerator - (ctx.before[id] ? ctx.before[id].numerator : 0);
      if (d) moved[id] = d;
    }
    assert.deepEqual(moved, expected, 'coverage numerators moved');
    for (const id of ['satisfaction_rate', 'awareness_rate', 'personalised_contracts', 'htn_controlled']) {
      assert.equal(after[id].denominator - ctx.before[id].denominator, 1, id + ' denominator');
    }
    const head = await fetch(BASE + '/api/v1/blobs/' + ctx.signature, { method: 'HEAD', headers: { Authorization: 'Bearer ' + ctx.doctorApi.token } });
    assert.equal(head.status, 200, 'HEAD blob');
    // The local copy now holds the server's versions.
    const version = await appState(page, async (id) => (await import('/field/app/state.js')).getState().data.residentById.get(id).version, ctx.residentId);
    assert.equal(version, 1);
  },

  async 'a referral recorded offline, received and returned: on the work list, then on the server'() {
    const { page, context } = ctx.a;
    await context.setOffline(true);
    await page.waitForSelector('#offline-banner');
    await goto(page, '#/referral/' + ctx.residentId, 'referral');
    await page.selectOption('#referral-direction', 'up');
    await page.selectOption('#referral-reason-code', 'other');
    await page.click('#referral-submit');
    await page.waitForSelector('#referral-form .error');
    assert.equal(await pendingCount(page), 0, 'nothing queued without a facility and a reason');
    await page.fill('#referral-facility', '县人民医院');
    await page.fill('#referral-reason', '血压波动，需专科评估');
    await shoot(page, 'referral');
    await page.click('#referral-submit');
    await page.waitForSelector('.shell[data-route=resident] #referral-list li[data-status=SENT]');
    await page.click('#referral-list li[data-status=SENT] button[data-step=RECEIVED]');
    await page.waitForSelector('#referral-list li[data-status=RECEIVED]');
    await page.click('#referral-list li[data-status=RECEIVED] button[data-step=RETURNED]');
    await page.click('#referral-list li[data-status=RECEIVED] button[data-step=RETURNED]');
    await page.waitForSelector('#referral-list li[data-status=RECEIVED] .error');
    await page.fill('#referral-list .referral-summary', '血压已平稳，回社区按月随访');
    await page.click('#referral-list li[data-status=RECEIVED] button[data-step=RETURNED]');
    await page.waitForSelector('#referral-list li[data-status=RETURNED]');
    assert.equal(await pendingCount(page), 3, 'the referral and its two steps wait to go up');
    // Back from hospital with no visit since: on the tablet's work list at once.
    await goto(page, '#/today', 'today');
    await page.waitForSelector(`[data-section=referral_followups_due] li[data-resident-id="${ctx.residentId}"]`);
    await context.setOffline(false);
    await page.waitForSelector('#offline-banner', { state: 'detached' });
    await goto(page, '#/sync', 'sync');
    await page.waitForSelector('#sync-now:not([disabled])', { timeout: 60_000 });
    await page.click('#sync-now');
    await waitSynced(page, 60_000);
    await page.waitForSelector('#count-pending[data-count="0"]');
    const rec = await api(ctx.doctorApi, 'GET', '/residents/' + ctx.residentId + '/record');
    assert.equal(rec.status, 200);
    const [f] = rec.body.referrals.map((x) => x.record);
    assert.equal(f.status, 'RETURNED');
    assert.equal(f.summary, '血压已平稳，回社区按月随访');
    assert.equal(f.facility.name, '县人民医院');
    assert.equal(f.reason_code, 'other');
    const local = await appState(page, async () => {
      const s = (await import('/field/app/state.js')).getState();
      return { w: s.data.worklist(), team: s.user.team_id };
    });
    const server = await api(ctx.doctorApi, 'GET', '/teams/' + local.team + '/worklist?date=' + local.w.date);
    const strip = (list) => list.map((e) => canon({ ...e, resident: { ...e.resident, village_name: undefined } }));
    for (const section of ['referrals_overdue', 'referral_followups_due', 'referrals_suggested']) {
      assert.deepEqual(strip(local.w[section]), strip(server.body[section]), section + ' differs from the server');
    }
    assert.ok(server.body.referral_followups_due.some((e) => e.resident.id === ctx.residentId), 'the server lists the returned patient too');
  },

  async 'an invalid ID number is refused on the tablet before queuing'() {
    const { page } = ctx.a;
    await goto(page, '#/register', 'register');
    const good = makeIdNumber('431126', '1980-02-29', 33, 'M', checkChar);
    const wrongCheck = good.slice(0, 17) + (good[17] === '0' ? '1' : '0');
    await page.fill('#reg-name', '错号' + RUN);
    await page.fill('#reg-id-number', wrongCheck);
    await page.waitForSelector('#id-derived[data-code=id_number_checksum]');
    await page.selectOption('#reg-village', { index: 1 });
    await page.click('#register-submit');
    await page.waitForSelector('#register-error');
    assert.equal(await page.getAttribute('#reg-id-number', 'aria-invalid'), 'true');
    await page.fill('#reg-id-number', good.slice(0, 17));
    await page.click('#register-submit');
    assert.match(await page.textContent('#register-form'), /应为18位/);
    const noDate = makeIdNumber('431126', '1981-02-29', 33, 'M', checkChar);
    await page.fill('#reg-id-number', noDate);
    await page.waitForSelector('#id-derived[data-code=id_number_birth_date]');
    await page.click('#register-submit');
    assert.equal(await page.evaluate(() => location.hash), '#/register');
    assert.equal(await pendingCount(page), 0);
    const queued = await page.evaluate(async () => {
      const { sdk } = await import('/field/app/actions.js');
      return (await sdk().pending()).length;
    });
    assert.equal(queued, 0, 'nothing was queued');
  },

  async 'two tablets edit one field offline: conflict, supervisor decides, both tablets get it'() {
    const a = ctx.a;
    const b = await newTablet(TABLET);
    ctx.b = b;
    await logIn(b, 'doctor1');
    // A demo resident both tablets hold.
    const rid = await appState(a.page, async () => (await import('/field/app/state.js')).getState().data.residents.find((r) => r.version >= 1 && !r.name.startsWith('测试')).id);
    await a.context.setOffline(true);
    await b.context.setOffline(true);
    const edit = async (t, phone) => {
      await goto(t.page, '#/residents/' + rid + '/edit', 'edit');
      await t.page.fill('#edit-phone', phone);
      await t.page.click('#edit-submit');
      await t.page.waitForSelector('.shell[data-route=resident] #resident-card');
      assert.equal((await t.page.textContent('#resident-phone')).trim(), phone);
    };
    // A edits first, B a moment later: B's edit is the later clinical time and wins;
    // A's losing value is kept for the supervisor.
    const base = String(Math.floor(Math.random() * 1e7)).padStart(7, '0');
    const phoneA = '139' + base + '1';
    const phoneB = '139' + base + '2';
    await edit(a, phoneA);
    await a.page.waitForTimeout(1500);
    await edit(b, phoneB);
    await shoot(b.page, 'edit');
    await b.context.setOffline(false);
    await waitSynced(b.page, 60_000);
    await a.context.setOffline(false);
    await waitSynced(a.page, 60_000);
    await goto(a.page, '#/sync', 'sync');
    await a.page.waitForSelector('#count-conflicts[data-count="1"]');
    await a.page.waitForSelector('#conflict-list li[data-id="' + rid + '"]');
    await shoot(a.page, 'sync-conflict', '#conflict-list');

    const items = await api(ctx.supervisor, 'GET', '/review/items?status=open&kind=field_clash&limit=200');
    assert.equal(items.status, 200, JSON.stringify(items.body));
    const item = items.body.items.find((i) => i.entity_id === rid);
    assert.ok(item, 'the clash is in the supervisor\'s review queue');
    assert.match(item.field || '', /phone/);
    assert.ok(item.decisions.includes('keep_client'), JSON.stringify(item.decisions));
    const decided = await api(ctx.supervisor, 'POST', '/review/items/' + item.id + '/decision', { decision: 'keep_client', reason: '电话核实：以较早登记的号码为准' });
    assert.equal(decided.status, 200, JSON.stringify(decided.body));
    assert.ok(decided.body.changed.some((c) => c.entity === 'resident' && c.id === rid), 'the decision wrote the resident');

    for (const t of [a, b]) {
      await goto(t.page, '#/sync', 'sync');
      await t.page.click('#sync-now');
      await waitSynced(t.page, 60_000);
      await goto(t.page, '#/residents/' + rid, 'resident');
      await t.page.waitForFunction((p) => document.querySelector('#resident-phone').textContent.trim() === p, phoneA);
    }
  },

  async 'a record the server refuses shows on the sync page with what to do'() {
    const { page } = ctx.a;
    // The app's own checks would stop this reading: it is queued through the SDK directly,
    // as an older app version without those checks would have.
    await page.evaluate(async (rid) => {
      const { sdk, now } = await import('/field/app/actions.js');
      const c = sdk();
      await c.record('visit', 'create', c.newId(), { resident_id: rid, kind: 'htn_followup', occurred_at: now(), measurements: { systolic: 400, diastolic: 80 } });
    }, ctx.residentId);
    await goto(page, '#/sync', 'sync');
    await page.click('#sync-now');
    await waitSynced(page, 60_000);
    await page.waitForSelector('#rejected-list li[data-code=out_of_range]');
    assert.match(await page.textContent('#rejected-list'), /测量值超出合理范围/);
    assert.equal(await page.getAttribute('#count-rejected', 'data-count'), '1');
    assert.match(await page.textContent('#pending-badge'), /被退回 1/);
    await shoot(page, 'sync-rejected', '#rejected-list');
    await page.click('#rejected-list button[data-dismiss]');
    await page.waitForSelector('#count-rejected[data-count="0"]');
  },
};

// ---------------------------------------------------------------- runner

async function main() {
  const started = Date.now();
  const results = [];
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  let failedBefore = false;
  for (const [name, fn] of Object.entries(SCENARIOS)) {
    const t0 = Date.now();
    const errorsBefore = pageErrors.length;
    try {
      // The browser scenarios build on each other: after a failure the rest cannot run.
      if (failedBefore && !name.startsWith('unit:')) throw new Error('skipped: an earlier scenario failed');
      await fn();
      if (pageErrors.length > errorsBefore) throw new Error('page errors: ' + pageErrors.slice(errorsBefore).join(' | '));
      results.push({ name, ok: true, ms: Date.now() - t0 });
      console.log('ok - ' + name + ' (' + ((Date.now() - t0) / 1000).toFixed(1) + ' s)');
    } catch (e) {
      if (!name.startsWith('unit:')) failedBefore = true;
      results.push({ name, ok: false, ms: Date.now() - t0, error: String(e && e.message || e).slice(0, 2000) });
      console.log('not ok - ' + name + ': ' + String(e && e.stack || e).split('\n').slice(0, 12).join(' / ').slice(0, 3000));
    }
  }
  await browser.close().catch(() => {});
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(passed + ' passed, ' + failed + ' failed');
  console.log(JSON.stringify({ passed, failed, total: results.length, seconds: (Date.now() - started) / 1000, screenshots: SHOTS ? SHOT_DIR : null,
    failures: results.filter((r) => !r.ok).map((r) => ({ name: r.name, error: r.error })) }));
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
