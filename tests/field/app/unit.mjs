// Checks of the field app's pure modules, run in Node by tests/field/app.test.mjs before
// the browser scenarios: the ID number rules, the measurement ranges, the work-list rules
// (the examples of docs/domain.md §4), the resident search on 5,000 residents, and that the
// service worker's SHELL lists every file the app imports.

import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..'));
const FIELD = join(ROOT, 'web', 'field');
const mod = (p) => import(pathToFileURL(join(FIELD, p)).href);

/** A valid ID number for a birth date and sex (test data). */
export function makeIdNumber(area, birth, seq, sex, checkChar) {
  let s = seq % 1000;
  if ((s % 2 === 1) !== (sex === 'M')) s = (s + 1) % 1000;
  const first17 = area + birth.replaceAll('-', '') + String(s).padStart(3, '0');
  return first17 + checkChar(first17);
}

export const UNIT_TESTS = {
  async 'unit: GB 11643 ID numbers'() {
    const { checkIdNumber, checkChar } = await mod('app/idnumber.js');
    // The protocol's own example (docs/sync-protocol.md §2).
    const ok = checkIdNumber('11010519491231002x', '2026-01-01');
    assert.equal(ok.ok, true);
    assert.equal(ok.value, '11010519491231002X');
    assert.equal(ok.birthDate, '1949-12-31');
    assert.equal(ok.sex, 'F');
    assert.equal(checkIdNumber('110105194912310021').code, 'id_number_checksum');
    assert.equal(checkIdNumber('11010519491231002').code, 'invalid_id_number');
    assert.equal(checkIdNumber('1101051949123100AX').code, 'invalid_id_number');
    const bad = makeIdNumber('431126', '2023-02-30', 11, 'M', checkChar);
    assert.equal(checkIdNumber(bad).code, 'id_number_birth_date');
    const old = makeIdNumber('431126', '1870-01-01', 11, 'M', checkChar);
    assert.equal(checkIdNumber(old).code, 'id_number_birth_date');
    const man = makeIdNumber('431126', '1975-06-15', 21, 'M', checkChar);
    assert.equal(checkIdNumber(man).sex, 'M');
    const future = makeIdNumber('431126', '2031-01-01', 2, 'F', checkChar);
    assert.equal(checkIdNumber(future, '2026-01-01').code, 'future_date');
    // A legacy 15-digit number: 19 inserted before the year, check character added.
    const legacy = checkIdNumber('110105491231002');
    assert.equal(legacy.ok, true);
    assert.equal(legacy.value, '11010519491231002X');
    assert.equal(legacy.converted, true);
  },

  async 'unit: measurement ranges'() {
    const { checkMeasurements } = await mod('app/measurements.js');
    assert.equal(checkMeasurements('htn_followup', { systolic: '135', diastolic: '85' }).ok, true);
    assert.ok(checkMeasurements('htn_followup', { systolic: '301', diastolic: '85' }).errors.systolic);
    assert.ok(checkMeasurements('htn_followup', { systolic: '49', diastolic: '40' }).errors.systolic);
    assert.ok(checkMeasurements('htn_followup', { systolic: '120', diastolic: '120' }).errors.diastolic, 'diastolic below systolic');
    assert.ok(checkMeasurements('htn_followup', { systolic: '120', diastolic: '29' }).errors.diastolic);
    assert.ok(checkMeasurements('htn_followup', { systolic: '120.5', diastolic: '80' }).errors.systolic, 'whole mmHg');
    assert.ok(checkMeasurements('htn_followup', { systolic: '120' }).errors.diastolic, 'both pressures required');
    assert.ok(checkMeasurements('dm_followup', {}).errors.fasting_glucose, 'glucose required');
    assert.ok(checkMeasurements('dm_followup', { fasting_glucose: '35.1' }).errors.fasting_glucose);
    assert.ok(checkMeasurements('dm_followup', { fasting_glucose: '0.9' }).errors.fasting_glucose);
    const g = checkMeasurements('dm_followup', { fasting_glucose: '6.9', weight_kg: '60.5' });
    assert.deepEqual(g.measurements, { fasting_glucose: 6.9, weight_kg: 60.5 });
    assert.ok(checkMeasurements('home_visit', { heart_rate: '251' }).errors.heart_rate);
    assert.ok(checkMeasurements('home_visit', { height_cm: '29' }).errors.height_cm);
    assert.ok(checkMeasurements('home_visit', { waist_cm: 'abc' }).errors.waist_cm);
    assert.equal(checkMeasurements('home_visit', {}).ok, true);
  },

  async 'unit: work-list rules (docs/domain.md §4)'() {
    const { buildWorklist, controlled } = await mod('app/worklist.js');
    assert.equal(controlled('hypertension', { systolic: 139, diastolic: 89 }), true);
    assert.equal(controlled('hypertension', { systolic: 140, diastolic: 80 }), false);
    assert.equal(controlled('hypertension', { systolic: 120, diastolic: 90 }), false);
    assert.equal(controlled('hypertension', { systolic: 120 }), null);
    assert.equal(controlled('diabetes', { fasting_glucose: 6.9 }), true);
    assert.equal(controlled('diabetes', { fasting_glucose: 7.0 }), false);
    const res = (id, extra) => ({ id, name: id, village_code: '431126100201', id_number_masked: '****************1*',
      birth_date: '1970-01-01', registered_on: '2025-01-01', tags: [], version: 1, ...extra });
    const bp = (id, rid, at, s, d) => ({ id, resident_id: rid, kind: 'htn_followup', occurred_at: at, measurements: { systolic: s, diastolic: d } });
    const data = {
      residents: [
        res('a', { tags: ['hypertension'] }), // uncontrolled on 1 Aug: recall due 15 Aug
        res('b', { tags: ['hypertension'] }), // nothing this quarter, one last quarter: due
        res('c', { tags: ['hypertension'] }), // nothing for two quarters: overdue
        res('d', { tags: ['diabetes'], registered_on: '2026-07-20' }), // new this quarter: due
        res('e', { birth_date: '1950-03-01' }), // 76, no elderly check this year
        res('f', { tags: ['hypertension'] }), // two uncontrolled in a row: referral
      ],
      visits: [
        bp('v1', 'a', '2026-08-01T02:00:00.000Z', 150, 95),
        bp('v2', 'b', '2026-05-10T02:00:00.000Z', 130, 80),
        bp('v3', 'c', '2026-01-10T02:00:00.000Z', 130, 80),
        bp('v4', 'f', '2026-07-02T02:00:00.000Z', 160, 100),
        bp('v5', 'f', '2026-07-20T02:00:00.000Z', 150, 95),
        { id: 'v6', resident_id: 'e', kind: 'elderly_check', occurred_at: '2025-06-01T02:00:00.000Z', measurements: {} },
      ],
      contracts: [
        { id: 'k1', resident_id: 'b', team_id: 't', status: 'ACTIVE', effective_from: '2025-08-16', effective_to: '2026-08-15', ended_on: null },
        { id: 'k2', resident_id: 'c', team_id: 't', status: 'ACTIVE', effective_from: '2025-09-30', effective_to: '2026-09-29', ended_on: null },
        { id: 'k3', resident_id: 'a', team_id: 't', status: 'TERMINATED', effective_from: '2025-08-16', effective_to: '2026-08-15', ended_on: '2026-02-01' },
      ],
    };
    const on15 = buildWorklist(data, '2026-08-15');
    const recallA = on15.recalls_due.find((e) => e.resident.id === 'a');
    assert.equal(recallA.due_on, '2026-08-15');
    assert.equal(recallA.overdue, false, 'due on the 14th day');
    assert.equal(buildWorklist(data, '2026-08-16').recalls_due.find((e) => e.resident.id === 'a').overdue, true, 'overdue from the 15th');
    assert.deepEqual(on15.followups_due.map((e) => e.resident.id).sort(), ['b', 'd']);
    assert.deepEqual(on15.followups_overdue.map((e) => e.resident.id), ['c']);
    assert.deepEqual(on15.referrals_suggested.map((e) => e.resident.id), ['f']);
    assert.deepEqual(on15.elderly_checks_missing.map((e) => e.resident.id), ['e']);
    assert.equal(on15.elderly_checks_missing[0].reason, '76 岁，2026 年尚未做老年人健康体检（上次 2025-06-01）');
    assert.deepEqual(on15.contracts_expiring.map((e) => [e.contract_id, e.days_left]), [['k1', 0]], 'terminated contracts never expire');
    assert.equal(buildWorklist(data, '2026-07-15').contracts_expiring.length, 0, '31 days left: not yet');
    assert.equal(buildWorklist(data, '2026-07-16').contracts_expiring.length, 1, '30 days left: time to renew');
    assert.equal(recallA.reason, '高血压随访未控制：血压 150/95 mmHg（2026-08-01）；应于 2026-08-15 前召回');
    // A correction replaces what it corrects, also before `amended_by` comes back.
    const fixed = { ...data, visits: [...data.visits, { ...bp('v7', 'a', '2026-08-01T02:00:00.000Z', 130, 80), amends: 'v1' }] };
    assert.equal(buildWorklist(fixed, '2026-08-15').recalls_due.some((e) => e.resident.id === 'a'), false);
    // Referrals (docs/domain.md, "Referrals"): an up-referral since the second reading
    // takes the suggestion; one not received waits 7 days (or the county's setting);
    // a patient back from hospital is seen within 14 days.
    const ref = (id, rid, direction, at, extra) => ({ id, resident_id: rid, direction, facility: { name: '县医院' },
      referred_at: at, status: 'SENT', received_at: null, ended_at: null, amended_by: null, ...extra });
    const referred = { ...data, referrals: [
      ref('r1', 'f', 'up', '2026-07-20T03:00:00.000Z'),
      ref('r2', 'b', 'down', '2026-08-02T02:00:00.000Z'),
      ref('r3', 'c', 'up', '2026-07-01T02:00:00.000Z', { status: 'RETURNED', ended_at: '2026-08-10T02:00:00.000Z' }),
    ] };
    const w = buildWorklist(referred, '2026-08-15');
    assert.deepEqual(w.referrals_suggested.map((e) => e.resident.id), [], 'the up-referral took the suggestion');
    assert.deepEqual(w.referrals_overdue.map((e) => [e.resident.id, e.days_waiting]), [['f', 26]]);
    assert.deepEqual(buildWorklist({ ...referred, referralReceiveDays: 30 }, '2026-08-15').referrals_overdue, []);
    assert.deepEqual(w.referral_followups_due.map((e) => [e.resident.id, e.due_on, e.overdue]),
      [['b', '2026-08-16', false], ['c', '2026-08-24', false]]);
    const seen = { ...referred, visits: [...referred.visits, bp('v8', 'b', '2026-08-03T02:00:00.000Z', 120, 80)] };
    assert.deepEqual(buildWorklist(seen, '2026-08-17').referral_followups_due.map((e) => e.resident.id), ['c']);
    assert.equal(buildWorklist(referred, '2026-08-17').referral_followups_due[0].overdue, true, 'overdue from the 15th day');
  },

  async 'unit: search 5,000 residents under 100 ms'() {
    const { buildIndex, search } = await mod('app/search.js');
    const names = ['王秀英', '李建国', '张桂英', '刘德明', '陈春梅', '杨志强', '黄淑珍', '赵海波', '欧阳晓东', '周丽娟'];
    const residents = Array.from({ length: 5000 }, (_, i) => ({
      id: 'r' + i, name: names[i % 10] + (i % 7), village_code: '4311261002' + String(i % 4).padStart(2, '0'),
      household_id: '4311261002' + String(i % 4).padStart(2, '0') + '-' + String(Math.floor(i / 3)).padStart(4, '0'),
    }));
    const index = buildIndex(residents);
    let worst = 0;
    for (const q of ['王', '王秀英3', '-0042', '欧阳 5', 'zzz', '']) {
      const t0 = performance.now();
      const r = search(index, q);
      worst = Math.max(worst, performance.now() - t0);
      if (q === '王秀英3') assert.ok(r.total > 0 && r.rows.every((x) => x.name === '王秀英3'));
      if (q === 'zzz') assert.equal(r.total, 0);
      if (q === '') assert.equal(r.total, 5000);
    }
    assert.ok(worst < 100, 'slowest search ' + worst.toFixed(1) + ' ms');
  },

  async 'unit: the service worker caches every file the app imports'() {
    const sw = readFileSync(join(FIELD, 'sw.js'), 'utf8');
    const listed = new Set([...sw.slice(sw.indexOf('const SHELL'), sw.indexOf('].map(')).matchAll(/'([^']+)'/g)].map((m) => m[1]));
    const needed = new Set(['index.html', 'manifest.webmanifest']);
    const html = readFileSync(join(FIELD, 'index.html'), 'utf8');
    for (const m of html.matchAll(/(?:src|href)="([^"#:]+)"/g)) needed.add(m[1]);
    const manifest = JSON.parse(readFileSync(join(FIELD, 'manifest.webmanifest'), 'utf8'));
    for (const i of manifest.icons) needed.add(i.src);
    // Follow the static imports from every module named so far.
    const queue = [...needed].filter((p) => /\.m?js$/.test(p));
    while (queue.length) {
      const file = queue.pop();
      // Comments may show imports as examples: not the module's own.
      const text = readFileSync(join(FIELD, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
      for (const m of text.matchAll(/(?:^|[\s;}])(?:import|export)\s*(?:[\w*{}\s,$]*?\s*from\s*)?["'](\.{1,2}\/[^"']+)["']/g)) {
        const target = relative(FIELD, join(FIELD, dirname(file), m[1])).split('\\').join('/');
        if (!needed.has(target)) { needed.add(target); queue.push(target); }
      }
    }
    const missing = [...needed].filter((p) => !listed.has(p));
    assert.deepEqual(missing, [], 'add to SHELL in web/field/sw.js');
    const absent = [...listed].filter((p) => p !== './' && !existsSync(join(FIELD, p)));
    assert.deepEqual(absent, [], 'SHELL names files that do not exist');
  },
};
