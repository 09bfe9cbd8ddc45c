// What an op does to the local copy. The local copy of a record is kept in the shape pull
// sends it (docs/sync-protocol.md §6, `…Pulled` schemas of api-spec/openapi.json), so a
// screen reads one shape whether the record came from the server or was just recorded.
// These functions guess that shape as far as the tablet can know it: the server's answer
// (by pull) replaces the guess.

import { chinaDate, termEnd, toUtc } from './time.js';

/**
 * A record of the local copy.
 * @typedef {object} LocalRecord
 * @property {string} key `entity/id`
 * @property {string} entity
 * @property {string} id
 * @property {number|null} version the server's version of the record (null: never synced)
 * @property {boolean} deleted true when deleted by an op not yet answered
 * @property {number} pending ops in the queue that touch this record
 * @property {object|null} data the record in its pulled shape
 * @property {string|null} [merged_into] on a resident merged away by a supervisor
 * @property {boolean} [provisional] (server copy only) made from a push answer, not pulled yet
 */

/**
 * An op as the queue keeps it and the server receives it (`PushOp`).
 * @typedef {object} Op
 * @property {string} op_id
 * @property {string} entity
 * @property {string} action
 * @property {string} id
 * @property {number} [base_version]
 * @property {string} recorded_at
 * @property {object} data
 */

/** Entities and the actions each takes (docs/sync-protocol.md §2). */
export const ACTIONS = Object.freeze({
  resident: ['create', 'update', 'delete'],
  contract: ['create', 'transition', 'delete'],
  visit: ['create', 'amend', 'delete'],
  survey: ['create', 'amend', 'delete'],
  not_signed: ['create', 'delete'],
  referral: ['create', 'amend', 'transition', 'delete'],
});

/**
 * The store key of a record.
 * @param {string} entity
 * @param {string} id
 * @returns {string}
 */
export const keyOf = (entity, id) => `${entity}/${id}`;

/**
 * Every record an op changes locally: its own, and the one it renews or amends.
 * @param {Op} op
 * @param {LocalRecord|null} current the op's own record as the tablet holds it now
 * @returns {string[]}
 */
export function touches(op, current) {
  const keys = [keyOf(op.entity, op.id)];
  const d = op.data ?? {};
  if (op.entity === 'contract') {
    // A signed renewal marks its predecessor RENEWED.
    const renews =
      op.action === 'create'
        ? d.status === 'SIGNED' && d.renews
        : op.action === 'transition' && d.to === 'SIGNED' && current?.data?.renews;
    if (typeof renews === 'string' && renews) keys.push(keyOf('contract', renews));
  }
  if (['visit', 'survey', 'referral'].includes(op.entity) && op.action === 'amend' && typeof d.amends === 'string') {
    keys.push(keyOf(op.entity, d.amends));
  }
  return keys;
}

/** @param {unknown} v */
const orNull = (v) => (v === undefined ? null : v);

/**
 * An ID number's display mask: only the 17th character shows (docs/domain.md §1).
 * @param {unknown} n
 * @returns {string|null}
 */
export function maskIdNumber(n) {
  if (typeof n !== 'string' || n.length < 17) return null;
  return `${'*'.repeat(16)}${n.toUpperCase()[16]}${'*'.repeat(Math.max(0, n.length - 17))}`;
}

/**
 * A contract's status as of today, as pull reports it: a stored SIGNED reads ACTIVE inside
 * its term and EXPIRED after it.
 * @param {string} status
 * @param {string} from
 * @param {string} to
 * @param {string} today
 */
export function statusAsOf(status, from, to, today) {
  if (status !== 'SIGNED') return status;
  if (to && today > to) return 'EXPIRED';
  if (from && today >= from) return 'ACTIVE';
  return 'SIGNED';
}

/** @param {object|undefined} m measurements as pushed; those not taken are absent when pulled */
function measurements(m) {
  const out = {};
  for (const [k, v] of Object.entries(m ?? {})) if (v !== null && v !== undefined) out[k] = v;
  return out;
}

/**
 * The pulled shape of a record created by `op`.
 * @param {Op} op
 * @param {string} today China date
 * @returns {object}
 */
function created(op, today) {
  const d = op.data ?? {};
  const base = { id: op.id, version: null };
  switch (op.entity) {
    case 'resident':
      return {
        ...base,
        village_code: d.village_code,
        name: d.name,
        sex: typeof d.sex === 'string' ? d.sex.toUpperCase() : d.sex,
        birth_date: d.birth_date,
        id_number_masked: maskIdNumber(d.id_number),
        phone: orNull(d.phone),
        tags: Array.isArray(d.tags) ? [...d.tags] : [],
        household_id: orNull(d.household_id),
        registered_on: today,
        merged_into: null,
      };
    case 'contract': {
      const to = d.effective_to ?? termEnd(d.effective_from);
      return {
        ...base,
        resident_id: d.resident_id,
        team_id: d.team_id,
        doctor_id: orNull(d.doctor_id),
        packages: Array.isArray(d.packages) ? [...d.packages] : [],
        status: statusAsOf(d.status, d.effective_from, to, today),
        signed_at: d.signed_at == null ? null : toUtc(d.signed_at),
        effective_from: d.effective_from,
        effective_to: to,
        signature_sha256: orNull(d.signature_sha256),
        renews: orNull(d.renews),
        renewed_by: null,
        ended_on: null,
        end_reason: null,
      };
    }
    case 'visit':
      return {
        ...base,
        resident_id: d.resident_id,
        contract_id: orNull(d.contract_id),
        kind: d.kind,
        occurred_at: toUtc(d.occurred_at),
        measurements: measurements(d.measurements),
        notes: orNull(d.notes),
        amends: op.action === 'amend' ? orNull(d.amends) : null,
        amended_by: null,
      };
    case 'survey':
      return {
        ...base,
        resident_id: d.resident_id,
        questionnaire: d.questionnaire,
        questionnaire_version: d.questionnaire_version,
        answers: { ...(d.answers ?? {}) },
        answered_at: toUtc(d.answered_at),
        amends: op.action === 'amend' ? orNull(d.amends) : null,
        amended_by: null,
      };
    case 'not_signed':
      return {
        ...base,
        resident_id: d.resident_id,
        reason: d.reason,
        reason_text: orNull(d.reason_text),
        recorded_at: toUtc(d.recorded_at),
      };
    case 'referral':
      // An amendment carries on its original's state on the server; the tablet shows it
      // as sent until the server's copy comes back.
      return {
        ...base,
        resident_id: d.resident_id,
        direction: d.direction,
        facility: { name: d.facility?.name, code: orNull(d.facility?.code) },
        reason_code: orNull(d.reason_code),
        reason_text: orNull(d.reason_text),
        referred_at: toUtc(d.referred_at),
        visit_id: orNull(d.visit_id),
        contract_id: orNull(d.contract_id),
        status: 'SENT',
        received_at: null,
        ended_at: null,
        summary: null,
        amends: op.action === 'amend' ? orNull(d.amends) : null,
        amended_by: null,
      };
    default:
      return { ...base, ...d };
  }
}

/**
 * A resident after a field-merge update: the changed fields replace the held ones. The ID
 * number itself is never kept in the copy, only its mask (as pull sends it).
 * @param {object} data
 * @param {object} changes
 */
function updatedResident(data, changes) {
  const next = { ...data };
  for (const [k, v] of Object.entries(changes ?? {})) {
    if (k === 'id_number') next.id_number_masked = maskIdNumber(v);
    else next[k] = Array.isArray(v) ? [...v] : v;
  }
  return next;
}

/**
 * A contract after a transition (the server's rules of src/domain/contract/transition.rs,
 * as far as the tablet can tell them).
 * @param {object} data
 * @param {object} t `ContractTransitionPush`
 * @param {string} today
 */
function transitioned(data, t, today) {
  const next = { ...data, status: t.to };
  if (t.to === 'SIGNED') {
    next.signed_at = toUtc(t.at);
    next.status = statusAsOf('SIGNED', data.effective_from, data.effective_to, today);
  } else if (t.to === 'TERMINATED') {
    next.ended_on = chinaDate(String(t.at));
    next.end_reason = orNull(t.reason);
  } else if (t.to === 'VOIDED') {
    next.end_reason = 'voided';
  }
  return next;
}

/**
 * A referral after a transition (src/domain/referral/transition.rs): the state, and when
 * it was received or ended.
 * @param {object} data
 * @param {object} t `ReferralTransitionPush`
 */
function referralMoved(data, t) {
  const next = { ...data, status: t.to };
  if (t.to === 'RECEIVED') next.received_at = toUtc(t.at);
  else next.ended_at = toUtc(t.at);
  if (t.to === 'RETURNED' && t.summary) next.summary = t.summary;
  return next;
}

/**
 * The record `key` after `op`, from the record before it (null: not held). Pure: the
 * same inputs give the same output, so replaying the queue over a fresh server copy
 * rebuilds the local copy exactly.
 * @param {LocalRecord|null} rec
 * @param {Op} op
 * @param {string} key
 * @param {string} [today] China date (default: today)
 * @returns {LocalRecord|null}
 */
export function applyOp(rec, op, key, today = chinaDate()) {
  const own = key === keyOf(op.entity, op.id);
  if (!own) return applySideEffect(rec, op, today);
  const d = op.data ?? {};
  const shell = (data, deleted = false) => ({
    key,
    entity: op.entity,
    id: op.id,
    version: rec?.version ?? null,
    deleted,
    pending: rec?.pending ?? 0,
    data,
  });
  switch (op.action) {
    case 'create':
    case 'amend':
      // A create over a record already held (a re-registration after a reinstall) keeps
      // the server version: the server answers it with the stored one.
      return shell(created(op, today));
    case 'update':
      // An edit of a record the tablet does not hold (dropped by a re-sync, not yet
      // bootstrapped again) cannot be shown: it waits for the server copy.
      if (!rec?.data) return rec;
      return shell(updatedResident(rec.data, d), rec.deleted);
    case 'transition':
      if (!rec?.data) return rec;
      if (op.entity === 'referral') return shell(referralMoved(rec.data, d), rec.deleted);
      return shell(transitioned(rec.data, d, today), rec.deleted);
    case 'delete':
      if (!rec) return rec;
      return shell(rec.data, true);
    default:
      return rec;
  }
}

/**
 * What an op does to a record other than its own: a signed renewal marks its predecessor
 * RENEWED; an amendment marks the original `amended_by`.
 * @param {LocalRecord|null} rec
 * @param {Op} op
 * @param {string} today
 * @returns {LocalRecord|null}
 */
function applySideEffect(rec, op, today) {
  if (!rec?.data) return rec;
  if (op.entity === 'contract') {
    const status = rec.data.status;
    // Only a contract still in force is renewed (docs/domain.md §2).
    if (['SIGNED', 'ACTIVE', 'EXPIRED'].includes(statusAsOf(status, rec.data.effective_from, rec.data.effective_to, today))) {
      return { ...rec, data: { ...rec.data, status: 'RENEWED', renewed_by: op.id } };
    }
    return rec;
  }
  if (op.action === 'amend') return { ...rec, data: { ...rec.data, amended_by: op.id } };
  return rec;
}
