#!/usr/bin/env node
// One phase of the restore drill that tests/api/restore_drill.rs runs: two field tablets
// (the SDK in Chromium, persistent profiles under <dir>) against a server that is backed
// up between the phases and then restored from that backup, on the same address.
//
//   node tests/field/restore.drill.mjs <baseUrl> <phase> <dir>
//
// - `before`: tablets A and B log in as doctor1, bootstrap, and A records and syncs what
//   the backup will hold.
// - `after` (the backup taken): A records and syncs more; B records and syncs, but the
//   pull after its push fails, so its cursor stays from before the backup point.
// - `restored` (the server on the backup's copy): both sync, twice.
//
// Each phase prints one JSON line last: what the Rust side checks against the database.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, cst, idNumber, rand } from './lib/common.mjs';

const [BASE, PHASE, DIR] = process.argv.slice(2);
if (!BASE || !PHASE || !DIR) {
  console.error('usage: node tests/field/restore.drill.mjs <baseUrl> <before|after|restored> <dir>');
  process.exit(2);
}
const STATE = join(DIR, 'state.json');
const FAST_RETRY = { attempts: 2, baseMs: 100, maxMs: 400, waits: 4 };

/** @param {unknown} cond @param {string} msg */
function assert(cond, msg) {
  if (!cond) throw new Error(msg);
}

/** A new resident's create data in `village`. */
function resident(village) {
  const sex = rand(2) ? 'M' : 'F';
  const { id_number, birth_date } = idNumber(sex);
  return { village_code: village, name: `恢复${rand(10000)}`, sex, birth_date, id_number, tags: ['hypertension'] };
}

/** A visit's create data. */
function visit(residentId) {
  return { resident_id: residentId, kind: 'home_visit', occurred_at: cst(120_000), measurements: { systolic: 130, diastolic: 80 } };
}

/**
 * Opens tablet `name` (its own profile and database) with the SDK's client on the page.
 * @param {string} name
 */
async function open(name) {
  const context = await chromium.launchPersistentContext(join(DIR, `profile-${name}`), {
    executablePath: CHROMIUM,
    headless: true,
    timezoneId: 'Asia/Shanghai',
    args: CHROMIUM_ARGS,
  });
  const page = await context.newPage();
  await page.goto(`${BASE}/field/sdk/test/harness.html`);
  await page.waitForFunction(() => document.body.dataset.ready === '1', null, { timeout: 15_000 });
  await page.evaluate(
    ({ dbName, retry }) => {
      window.client = window.jiayi.createClient({ baseUrl: '', appVersion: 'restore-drill', dbName, retry });
      window.restores = [];
      window.client.on('restore', (p) => window.restores.push(p));
    },
    { dbName: `restore-drill-${name}`, retry: FAST_RETRY },
  );
  return { context, page };
}

/** `client.sync()`: `{ ok, summary }` or `{ ok: false, code, message }`. */
function sync(page) {
  return page.evaluate(async () => {
    try {
      return { ok: true, summary: await window.client.sync() };
    } catch (e) {
      return { ok: false, code: e.code, message: e.message, summary: e.summary };
    }
  });
}

/** Records `ops` ([entity, action, id, data]) and answers their op ids. */
function record(page, ops) {
  return page.evaluate(async (list) => {
    const out = [];
    for (const [e, a, id, d] of list) out.push(await window.client.record(e, a, id, d));
    return out;
  }, ops);
}

/** `n` new record ids. */
const ids = (page, n) => page.evaluate((k) => Array.from({ length: k }, () => window.client.newId()), n);

async function before() {
  const state = { village: null, kept: [], lostA: [], lostB: [] };
  for (const name of ['a', 'b']) {
    const { context, page } = await open(name);
    const me = await page.evaluate((p) => window.client.login('doctor1', p), 'jiayi-demo');
    state.village = me.villages[0];
    let r = await sync(page);
    assert(r.ok, `${name}: first sync ${JSON.stringify(r)}`);
    if (name === 'a') {
      const [r0, v0] = await ids(page, 2);
      await record(page, [
        ['resident', 'create', r0, resident(state.village)],
        ['visit', 'create', v0, visit(r0)],
      ]);
      r = await sync(page);
      assert(r.ok && r.summary.applied === 2, `a: ${JSON.stringify(r)}`);
      state.kept.push(['resident', r0], ['visit', v0]);
    }
    await context.close();
  }
  return state;
}

async function after(state) {
  {
    const { context, page } = await open('a');
    const [r1, v1, v2] = await ids(page, 3);
    await record(page, [
      ['resident', 'create', r1, resident(state.village)],
      ['visit', 'create', v1, visit(r1)],
      ['visit', 'create', v2, visit(state.kept[0][1])],
      ['resident', 'update', state.kept[0][1], { phone: '13900000088' }],
    ]);
    const r = await sync(page);
    assert(r.ok && r.summary.applied === 4, `a: ${JSON.stringify(r)}`);
    state.lostA.push(['resident', r1], ['visit', v1], ['visit', v2]);
    await context.close();
  }
  {
    const { context, page } = await open('b');
    const [r2, v3] = await ids(page, 2);
    await record(page, [
      ['resident', 'create', r2, resident(state.village)],
      ['visit', 'create', v3, visit(r2)],
    ]);
    await page.route('**/api/v1/sync/pull**', (route) => route.abort('failed'));
    const r = await sync(page);
    assert(!r.ok && r.summary.applied === 2, `b: the push is answered, the pull fails: ${JSON.stringify(r)}`);
    state.lostB.push(['resident', r2], ['visit', v3]);
    await context.close();
  }
  return state;
}

async function restored(state) {
  const out = {};
  for (const name of ['a', 'b']) {
    const { context, page } = await open(name);
    const first = await sync(page);
    const second = await sync(page);
    out[name] = { first, second, restores: await page.evaluate(() => window.restores) };
    await context.close();
  }
  return { ...state, ...out };
}

const phases = { before, after, restored };
try {
  assert(phases[PHASE], `unknown phase ${PHASE}`);
  const state = PHASE === 'before' ? {} : JSON.parse(readFileSync(STATE, 'utf8'));
  const next = await phases[PHASE](state);
  writeFileSync(STATE, JSON.stringify(next));
  console.log(JSON.stringify(next));
  process.exit(0);
} catch (e) {
  console.error(e);
  process.exit(1);
}
