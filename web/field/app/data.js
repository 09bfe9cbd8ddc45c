// The local copy as the screens read it: every record in its pulled shape
// (docs/sync-protocol.md §6), with what the tablet knows beyond it (`_pending`: ops still
// waiting to go up; `_version`: the server version the record was last seen at), and the
// look-ups the screens need, built once per change of the data rather than per screen.

import { buildIndex } from './search.js';
import { buildWorklist } from './worklist.js';
import { today } from './dates.js';

/**
 * A record as the SDK's `list()`/`get()` answer it (a `LocalRecord` with `data`), made
 * into the plain pulled shape plus `_pending`, `_version`, `_deleted`.
 * @param {any} rec
 * @returns {any|null}
 */
export function unwrap(rec) {
  if (!rec) return null;
  if (rec.data && typeof rec.data === 'object' && 'entity' in rec) {
    return {
      ...rec.data,
      id: rec.data.id ?? rec.id,
      version: rec.data.version ?? rec.version,
      merged_into: rec.data.merged_into ?? rec.merged_into ?? null,
      _pending: rec.pending || 0,
      _version: rec.version ?? null,
      _deleted: !!rec.deleted,
    };
  }
  return { ...rec, _pending: rec._pending || rec.pending || 0, _version: rec.version ?? null, _deleted: !!rec.deleted };
}

/** Newest first by an instant field. */
function newestFirst(field) {
  return (a, b) => Date.parse(b[field] || 0) - Date.parse(a[field] || 0);
}

/**
 * @typedef {Object} LocalData
 * @property {Object[]} residents live residents
 * @property {Map<string, Object>} residentById every resident held, merged-away ones included
 * @property {(id: string) => Object[]} contractsOf a resident's contracts, newest first
 * @property {(id: string) => Object[]} visitsOf a resident's visits, newest first (amended ones left out)
 * @property {(id: string) => Object[]} surveysOf a resident's surveys, newest first (amended ones left out)
 * @property {(id: string) => Object[]} referralsOf a resident's referrals, newest first (corrected ones left out)
 * @property {(id: string) => (Object|null)} contractInEffect the resident's contract in effect today, if any
 * @property {() => import('./search.js').SearchIndex} index the search index (built on first use)
 * @property {(on?: string) => import('./worklist.js').Worklist} worklist the work list (built on first use per date)
 * @property {string[]} villages the team's village codes
 * @property {Object<string, string>} villageNames village code → name
 * @property {Object[]} questionnaires every questionnaire version held
 * @property {Package[]} packages the service-package catalog the server sent, by code
 */

/**
 * A service package as the signing screen shows it (prices in fen).
 * @typedef {Object} Package
 * @property {string} code
 * @property {string} name
 * @property {boolean} basic every contract holds it (kind `basic`)
 * @property {number} price
 * @property {number} selfPay
 * @property {boolean} active new contracts may take it
 */

/**
 * Builds the look-ups over the records read from the SDK.
 * @param {Object} raw
 * @param {any[]} raw.residents
 * @param {any[]} raw.contracts
 * @param {any[]} raw.visits
 * @param {any[]} raw.surveys
 * @param {any[]} [raw.referrals]
 * @param {number} [raw.referralReceiveDays] the county's setting (`GET /api/v1/me`, `work_list`)
 * @param {string[]} [raw.villages]
 * @param {Object<string, string>} [raw.villageNames]
 * @param {Object[]} [raw.questionnaires]
 * @param {Object[]} [raw.packages] the SDK's catalog rows (`price_fen`, `self_pay_fen`, `kind`)
 * @returns {LocalData}
 */
export function buildLocalData(raw) {
  const all = (list) => (list || []).map(unwrap).filter((r) => r && !r._deleted && !r.deleted);
  const residentsAll = all(raw.residents);
  const contracts = all(raw.contracts);
  const visits = all(raw.visits);
  const surveys = all(raw.surveys);
  const referrals = all(raw.referrals);
  const residentById = new Map(residentsAll.map((r) => [r.id, r]));
  const residents = residentsAll.filter((r) => !r.merged_into);

  const group = (list) => {
    const m = new Map();
    for (const x of list) {
      if (!m.has(x.resident_id)) m.set(x.resident_id, []);
      m.get(x.resident_id).push(x);
    }
    return m;
  };
  // Corrections supersede what they correct, also before the server's `amended_by` is back.
  const superseded = (list) => {
    const s = new Set();
    for (const x of list) if (x.amends) s.add(x.amends);
    return list.filter((x) => !x.amended_by && !s.has(x.id));
  };
  const contractsBy = group(contracts.slice().sort((a, b) => String(b.effective_from).localeCompare(String(a.effective_from)) || newestFirst('signed_at')(a, b)));
  const visitsBy = group(superseded(visits).sort(newestFirst('occurred_at')));
  const surveysBy = group(superseded(surveys).sort(newestFirst('answered_at')));
  const liveReferrals = superseded(referrals).sort(newestFirst('referred_at'));
  const referralsBy = group(liveReferrals);

  const villages = raw.villages && raw.villages.length
    ? raw.villages.slice().sort()
    : Array.from(new Set(residents.map((r) => r.village_code))).sort();
  const villageNames = raw.villageNames || {};

  let index = null;
  const worklists = new Map();
  const day = today();
  return {
    residents,
    residentById,
    contractsOf: (id) => contractsBy.get(id) || [],
    visitsOf: (id) => visitsBy.get(id) || [],
    surveysOf: (id) => surveysBy.get(id) || [],
    referralsOf: (id) => referralsBy.get(id) || [],
    contractInEffect: (id) =>
      (contractsBy.get(id) || []).find((c) =>
        ['SIGNED', 'ACTIVE', 'PENDING_REVIEW'].includes(c.status) && !c.ended_on &&
        (!c.effective_to || c.effective_to >= day)) || null,
    index: () => (index || (index = buildIndex(residents))),
    worklist: (on = day) => {
      if (!worklists.has(on)) {
        worklists.set(on, buildWorklist({ residents, visits, contracts, referrals: liveReferrals, villageNames, referralReceiveDays: raw.referralReceiveDays }, on));
      }
      return worklists.get(on);
    },
    villages,
    villageNames,
    questionnaires: raw.questionnaires || [],
    packages: (raw.packages || [])
      .filter((p) => p && typeof p.code === 'string')
      .map((p) => ({
        code: p.code,
        name: String(p.name || p.code),
        basic: p.kind === 'basic',
        price: Number(p.price_fen) || 0,
        selfPay: Number(p.self_pay_fen) || 0,
        active: p.active !== false,
      }))
      .sort((a, b) => Number(b.basic) - Number(a.basic) || a.code.localeCompare(b.code)),
  };
}

/**
 * A package's name for display: its name in the catalog, else its code.
 * @param {LocalData|null} data
 * @param {string} code
 * @returns {string}
 */
export function packageName(data, code) {
  const p = data && data.packages.find((x) => x.code === code);
  return p ? p.name : code;
}

/**
 * A village's name for display: the name if the tablet learnt it, else its code.
 * @param {LocalData|null} data
 * @param {string} code
 * @returns {string}
 */
export function villageName(data, code) {
  return (data && data.villageNames[code]) || code || '';
}
