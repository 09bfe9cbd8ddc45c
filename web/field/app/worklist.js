// The team work list (团队工作清单), computed on the tablet from the synced records, so that
// the doctor knows whom to see while offline for days. It is the server's list
// (`GET /api/v1/teams/{id}/worklist`, src/domain/worklist.rs and src/domain/followup.rs,
// rules in docs/domain.md §4) rebuilt in JavaScript with the same thresholds, the same
// sections, the same sort order and the same reason texts, so the two can be compared
// entry by entry (tests/field/app.test.mjs does).

import { ageOn, addDays, chinaDate, daysBetween, quarterOf, previousQuarter } from './dates.js';

/** Systolic at or above this is uncontrolled (mmHg). */
export const SYSTOLIC_LIMIT = 140;
/** Diastolic at or above this is uncontrolled (mmHg). */
export const DIASTOLIC_LIMIT = 90;
/** Fasting glucose at or above this is uncontrolled (mmol/L). */
export const GLUCOSE_LIMIT = 7.0;
/** An uncontrolled reading calls the patient back within this many days. */
export const RECALL_DAYS = 14;
/** Contracts whose term ends within this many days of the date are listed. */
export const EXPIRING_WITHIN_DAYS = 30;
/** Age from which a resident needs the annual elderly health check. */
export const ELDERLY_AGE = 65;
/** Days an up-referral may wait for the receiving side, unless the county set otherwise. */
export const REFERRAL_RECEIVE_DAYS = 7;
/** Days within which a patient back from hospital is seen. */
export const REFERRAL_FOLLOWUP_DAYS = 14;

/** Conditions in the order the server lists them, with their tag and follow-up kind. */
const CONDITIONS = [
  { code: 'hypertension', kind: 'htn_followup', words: '高血压' },
  { code: 'diabetes', kind: 'dm_followup', words: '糖尿病' },
];
const CONDITION_RANK = { hypertension: 0, diabetes: 1 };

/**
 * @typedef {Object} WorkResident
 * @property {string} id
 * @property {string} name
 * @property {string} village_code
 * @property {string} village_name
 * @property {string} id_number_masked
 */
/**
 * @typedef {Object} Reading
 * @property {string} visit_id
 * @property {string} on `YYYY-MM-DD`
 * @property {number} [systolic]
 * @property {number} [diastolic]
 * @property {number} [fasting_glucose]
 * @property {boolean} controlled
 */
/**
 * @typedef {Object} Worklist
 * @property {string} date
 * @property {{start: string, end: string}} quarter
 * @property {Array<{resident: WorkResident, condition: string, last_followup_on: (string|null), reason: string}>} followups_due
 * @property {Array<{resident: WorkResident, condition: string, last_followup_on: (string|null), reason: string}>} followups_overdue
 * @property {Array<{resident: WorkResident, condition: string, reading: Reading, due_on: string, overdue: boolean, reason: string}>} recalls_due
 * @property {Array<{resident: WorkResident, condition: string, readings: Reading[], reason: string}>} referrals_suggested
 * @property {Array<{resident: WorkResident, referral_id: string, facility_name: string, referred_on: string, days_waiting: number, reason: string}>} referrals_overdue
 * @property {Array<{resident: WorkResident, referral_id: string, direction: string, facility_name: string, since_on: string, due_on: string, overdue: boolean, reason: string}>} referral_followups_due
 * @property {Array<{resident: WorkResident, contract_id: string, team_id: string, effective_to: string, days_left: number, reason: string}>} contracts_expiring
 * @property {Array<{resident: WorkResident, age: number, last_check_on: (string|null), reason: string}>} elderly_checks_missing
 */

/**
 * Is a follow-up's reading under control? `null` when it carries no reading for the
 * condition. Hypertension: either pressure at or above its limit is uncontrolled; both
 * below is controlled; half a normal reading decides nothing.
 * @param {string} condition
 * @param {Object} m measurements
 * @returns {boolean|null}
 */
export function controlled(condition, m) {
  m = m || {};
  const has = (v) => v !== null && v !== undefined;
  if (condition === 'hypertension') {
    const high = (has(m.systolic) && m.systolic >= SYSTOLIC_LIMIT) || (has(m.diastolic) && m.diastolic >= DIASTOLIC_LIMIT);
    if (high) return false;
    return has(m.systolic) && has(m.diastolic) ? true : null;
  }
  return has(m.fasting_glucose) ? m.fasting_glucose < GLUCOSE_LIMIT : null;
}

/** @returns {Reading|null} */
function readingOf(condition, v) {
  const m = v.measurements || {};
  const c = controlled(condition, m);
  if (c === null) return null;
  /** @type {Reading} */
  const r = { visit_id: v.id, on: v.on };
  if (condition === 'hypertension') {
    if (m.systolic !== null && m.systolic !== undefined) r.systolic = m.systolic;
    if (m.diastolic !== null && m.diastolic !== undefined) r.diastolic = m.diastolic;
  } else if (m.fasting_glucose !== null && m.fasting_glucose !== undefined) {
    r.fasting_glucose = m.fasting_glucose;
  }
  r.controlled = c;
  return r;
}

function readingWords(condition, r) {
  const show = (v) => (v === undefined || v === null ? '-' : String(v));
  return condition === 'hypertension'
    ? '血压 ' + show(r.systolic) + '/' + show(r.diastolic) + ' mmHg（' + r.on + '）'
    : '空腹血糖 ' + show(r.fasting_glucose) + ' mmol/L（' + r.on + '）';
}

/**
 * The follow-up rules for one resident and condition (src/domain/followup.rs `assess`).
 * @param {string} condition
 * @param {Array<{id: string, at: number, on: string, measurements: Object}>} visits live follow-ups of the kind on or before `on`
 * @param {string} on `YYYY-MM-DD`
 * @param {string|null} registeredOn
 */
export function assess(condition, visits, on, registeredOn) {
  const live = visits.slice().sort((a, b) => (a.at - b.at) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const lastVisit = live.length ? live[live.length - 1] : null;
  const last = lastVisit ? readingOf(condition, lastVisit) : null;
  let recall = null;
  if (last && !last.controlled) {
    const dueOn = addDays(last.on, RECALL_DAYS);
    recall = { reading: last, due_on: dueOn, overdue: on > dueOn };
  }
  let referral = null;
  if (live.length >= 2) {
    const x = readingOf(condition, live[live.length - 2]);
    const y = readingOf(condition, live[live.length - 1]);
    if (x && y && !x.controlled && !y.controlled) referral = [x, y];
  }
  const quarter = quarterOf(on);
  const lastOn = lastVisit ? lastVisit.on : null;
  let duty;
  if (lastOn && lastOn >= quarter.start) duty = 'done';
  else if (lastOn && lastOn >= previousQuarter(on).start) duty = 'due';
  else if (registeredOn && registeredOn >= quarter.start) duty = 'due';
  else duty = 'overdue';
  return { last_followup_on: lastOn, last, recall, referral, duty };
}

const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
/** The server's order: village, name, id (code-point order, as Rust compares strings). */
function byPlace(a, b) {
  return cmp(a.village_code, b.village_code) || cmp(a.name, b.name) || cmp(a.id, b.id);
}

/**
 * Builds the work list as of `on` from the tablet's records.
 * @param {Object} data
 * @param {Object[]} data.residents residents as pulled (deleted and merged-away ones are skipped)
 * @param {Object[]} data.visits visits as pulled or recorded
 * @param {Object[]} data.contracts contracts as pulled or recorded
 * @param {Object[]} [data.referrals] referrals as pulled or recorded, corrected ones left out
 * @param {Object<string, string>} [data.villageNames] village code → name
 * @param {number} [data.referralReceiveDays] the county's limit for an up-referral's receipt
 * @param {string} on `YYYY-MM-DD` (China time)
 * @returns {Worklist}
 */
export function buildWorklist({ residents, visits, contracts, referrals = [], villageNames = {}, referralReceiveDays = REFERRAL_RECEIVE_DAYS }, on) {
  const quarter = quarterOf(on);
  /** @type {Worklist} */
  const list = {
    date: on,
    quarter,
    followups_due: [],
    followups_overdue: [],
    recalls_due: [],
    referrals_suggested: [],
    referrals_overdue: [],
    referral_followups_due: [],
    contracts_expiring: [],
    elderly_checks_missing: [],
  };

  /** @type {Map<string, {view: WorkResident, birth: string, registered: (string|null), tags: string[]}>} */
  const people = new Map();
  for (const r of residents) {
    if (!r || r.deleted || r.merged_into) continue;
    people.set(r.id, {
      view: {
        id: r.id,
        name: r.name,
        village_code: r.village_code,
        village_name: villageNames[r.village_code] || '',
        id_number_masked: r.id_number_masked || '',
      },
      birth: r.birth_date,
      // A record registered on this tablet and not yet synced has no `registered_on`
      // from the server: it was registered today.
      registered: r.registered_on || chinaDate(Date.now()),
      tags: r.tags || [],
    });
  }

  // A correction recorded offline has not yet come back with `amended_by` on its
  // original: the original is superseded all the same.
  const superseded = new Set();
  for (const v of visits) {
    if (v && !v.deleted && v.amends) superseded.add(v.amends);
  }
  /** resident → condition → follow-ups; resident → last elderly check date */
  const followups = new Map();
  const lastCheck = new Map();
  /** resident → the instant of their latest visit of any kind on or before the date */
  const lastVisitAt = new Map();
  for (const v of visits) {
    if (!v || v.deleted || v.amended_by || superseded.has(v.id) || !people.has(v.resident_id)) continue;
    const visitOn = chinaDate(v.occurred_at);
    if (visitOn > on) continue;
    const at = Date.parse(v.occurred_at);
    if (!(lastVisitAt.get(v.resident_id) >= at)) lastVisitAt.set(v.resident_id, at);
    if (v.kind === 'elderly_check') {
      const prev = lastCheck.get(v.resident_id);
      if (!prev || visitOn > prev) lastCheck.set(v.resident_id, visitOn);
      continue;
    }
    const cond = CONDITIONS.find((c) => c.kind === v.kind);
    if (!cond) continue;
    let per = followups.get(v.resident_id);
    if (!per) followups.set(v.resident_id, (per = { hypertension: [], diabetes: [] }));
    per[cond.code].push({ id: v.id, at: Date.parse(v.occurred_at), on: visitOn, measurements: v.measurements });
  }

  // Referrals made on or before the date, by resident (the newest of each chain).
  const referred = new Map();
  for (const r of referrals) {
    if (!r || r.deleted || r.amended_by || !people.has(r.resident_id) || chinaDate(r.referred_at) > on) continue;
    if (!referred.has(r.resident_id)) referred.set(r.resident_id, []);
    referred.get(r.resident_id).push(r);
  }
  // A suggestion is taken once an up-referral is recorded on or after the second reading.
  const taken = (id, since) => (referred.get(id) || []).some((r) => r.direction === 'up' && r.status !== 'CANCELLED' && chinaDate(r.referred_at) >= since);

  for (const [id, p] of people) {
    const per = followups.get(id);
    for (const cond of CONDITIONS) {
      const visitsOf = per ? per[cond.code] : [];
      const isPatient = p.tags.includes(cond.code);
      if (visitsOf.length === 0 && !isPatient) continue;
      const a = assess(cond.code, visitsOf, on, p.registered);
      const what = cond.words;
      if (isPatient && a.duty !== 'done') {
        const last = a.last_followup_on ? '上次随访 ' + a.last_followup_on : '从未随访';
        const entry = { resident: p.view, condition: cond.code, last_followup_on: a.last_followup_on };
        if (a.duty === 'due') {
          list.followups_due.push({ ...entry, reason: what + '患者本季度（' + quarter.start + ' 至 ' + quarter.end + '）尚未随访；' + last });
        } else {
          list.followups_overdue.push({ ...entry, reason: what + '患者本季度和上季度均未随访；' + last });
        }
      }
      // Readings call for action whether or not the tag is (still) recorded.
      if (a.recall) {
        list.recalls_due.push({
          resident: p.view,
          condition: cond.code,
          reason: what + '随访未控制：' + readingWords(cond.code, a.recall.reading) + '；应于 ' + a.recall.due_on + ' 前召回' +
            (a.recall.overdue ? '，已逾期' : ''),
          reading: a.recall.reading,
          due_on: a.recall.due_on,
          overdue: a.recall.overdue,
        });
      }
      if (a.referral && !taken(id, a.referral[1].on)) {
        const [x, y] = a.referral;
        list.referrals_suggested.push({
          resident: p.view,
          condition: cond.code,
          reason: '连续两次' + what + '随访未控制：' + readingWords(cond.code, x) + '、' + readingWords(cond.code, y) + '；建议转诊',
          readings: [x, y],
        });
      }
    }
  }

  for (const [id, list_] of referred) {
    const p = people.get(id);
    for (const r of list_) {
      const referredOn = chinaDate(r.referred_at);
      const facility = (r.facility && r.facility.name) || '';
      const waited = daysBetween(referredOn, on);
      if (r.direction === 'up' && r.status === 'SENT' && waited > referralReceiveDays) {
        list.referrals_overdue.push({
          resident: p.view,
          referral_id: r.id,
          facility_name: facility,
          referred_on: referredOn,
          days_waiting: waited,
          reason: referredOn + ' 上转至' + facility + '，已 ' + waited + ' 天未确认接收（超过 ' + referralReceiveDays + ' 天），请联系接收医院',
        });
      }
      // Back from hospital: a down-referral still open, or an up-referral returned by the date.
      let since = null;
      if (r.direction === 'down' && r.status !== 'CANCELLED' && r.status !== 'CLOSED') since = [Date.parse(r.referred_at), referredOn];
      else if (r.direction === 'up' && r.status === 'RETURNED' && r.ended_at && chinaDate(r.ended_at) <= on) since = [Date.parse(r.ended_at), chinaDate(r.ended_at)];
      if (!since || lastVisitAt.get(id) > since[0]) continue;
      const dueOn = addDays(since[1], REFERRAL_FOLLOWUP_DAYS);
      const what = r.direction === 'down' ? '下转' : '上转后转回';
      list.referral_followups_due.push({
        resident: p.view,
        referral_id: r.id,
        direction: r.direction,
        facility_name: facility,
        since_on: since[1],
        due_on: dueOn,
        overdue: on > dueOn,
        reason: since[1] + ' 自' + facility + what + '，尚未随访；应于 ' + dueOn + ' 前随访' + (on > dueOn ? '，已逾期' : ''),
      });
    }
  }

  const until = addDays(on, EXPIRING_WITHIN_DAYS);
  for (const c of contracts) {
    if (!c || c.deleted || c.ended_on) continue;
    if (c.status !== 'SIGNED' && c.status !== 'ACTIVE') continue;
    if (!(c.effective_from <= on && c.effective_to >= on && c.effective_to <= until)) continue;
    const p = people.get(c.resident_id);
    if (!p) continue;
    const daysLeft = daysBetween(on, c.effective_to);
    list.contracts_expiring.push({
      resident: p.view,
      contract_id: c.id,
      team_id: c.team_id,
      effective_to: c.effective_to,
      days_left: daysLeft,
      reason: '签约服务协议将于 ' + c.effective_to + ' 到期（还有 ' + daysLeft + ' 天），请办理续约',
    });
  }

  const year = on.slice(0, 4);
  const yearStart = year + '-01-01';
  for (const [id, p] of people) {
    if (!p.birth) continue;
    const age = ageOn(p.birth, on);
    if (age < ELDERLY_AGE) continue;
    const last = lastCheck.get(id) || null;
    if (last && last >= yearStart) continue;
    list.elderly_checks_missing.push({
      resident: p.view,
      age,
      last_check_on: last,
      reason: age + ' 岁，' + +year + ' 年尚未做老年人健康体检' + (last ? '（上次 ' + last + '）' : ''),
    });
  }

  const byCond = (a, b) => byPlace(a.resident, b.resident) || CONDITION_RANK[a.condition] - CONDITION_RANK[b.condition];
  list.followups_due.sort(byCond);
  list.followups_overdue.sort(byCond);
  list.recalls_due.sort((a, b) => cmp(a.due_on, b.due_on) || byCond(a, b));
  list.referrals_suggested.sort(byCond);
  list.referrals_overdue.sort((a, b) => cmp(a.referred_on, b.referred_on) || byPlace(a.resident, b.resident) || cmp(a.referral_id, b.referral_id));
  list.referral_followups_due.sort((a, b) => cmp(a.due_on, b.due_on) || byPlace(a.resident, b.resident) || cmp(a.referral_id, b.referral_id));
  list.contracts_expiring.sort((a, b) => cmp(a.effective_to, b.effective_to) || byPlace(a.resident, b.resident) || cmp(a.contract_id, b.contract_id));
  list.elderly_checks_missing.sort((a, b) => byPlace(a.resident, b.resident));
  return list;
}
