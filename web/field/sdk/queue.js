// The queue of ops recorded on the tablet and not yet answered by the server. An op enters
// it together with its effect on the local copy, and leaves it together with the storing
// of its answer, each in one IndexedDB transaction: a tab killed at any point leaves
// either both or neither.

import { ACTIONS, applyOp, keyOf, touches } from './shapes.js';
import { foldAnswered, rebuild } from './replica.js';
import { inTx } from './store.js';
import { chinaDate, timestamp } from './time.js';
import { uuidv4 } from './uuid.js';

/** @typedef {import('./replica.js').QueueEntry} QueueEntry */

/**
 * Checks an op's entity and action before it is queued: a typo is the app's bug and is
 * better thrown at once than rejected by the server days later.
 * @param {string} entity
 * @param {string} action
 * @param {string} id
 * @param {unknown} data
 */
function check(entity, action, id, data) {
  const actions = ACTIONS[entity];
  if (!actions) throw new TypeError(`unknown entity '${entity}' (one of: ${Object.keys(ACTIONS).join(', ')})`);
  if (!actions.includes(action))
    throw new TypeError(`entity '${entity}' takes no action '${action}' (one of: ${actions.join(', ')})`);
  if (typeof id !== 'string' || id.length === 0) throw new TypeError('id must be a non-empty string (client.newId() makes one)');
  if (action !== 'delete' && (data === null || typeof data !== 'object' || Array.isArray(data))) {
    throw new TypeError('data must be an object');
  }
}

/**
 * Queues an op and applies it to the local copy, in one transaction.
 * @param {any} db
 * @param {{ entity: string, action: string, id: string, data?: object, baseVersion?: number, recordedAt?: string }} input
 * @returns {Promise<{ op: import('./shapes.js').Op, touched: string[] }>}
 */
export async function enqueue(db, input) {
  const { entity, action, id } = input;
  check(entity, action, id, input.data);
  // Frozen as JSON now: a replay must send exactly this content (docs/sync-protocol.md
  // §2, Replays), whatever the app does later with the object it passed.
  const data = action === 'delete' ? {} : JSON.parse(JSON.stringify(input.data));
  return inTx(db, ['queue', 'records', 'server'], async (tx) => {
    const records = tx.objectStore('records');
    const own = keyOf(entity, id);
    const current = (await records.get(own)) ?? null;
    /** @type {import('./shapes.js').Op} */
    const op = { op_id: uuidv4(), entity, action, id, recorded_at: input.recordedAt ?? timestamp(), data };
    let base = input.baseVersion;
    let chained = false;
    if (base === undefined && entity === 'resident' && action === 'update' && current) {
      if (current.pending > 0) {
        // Earlier ops on this resident wait in the queue: the edit starts from the version
        // they will make, which only their answer tells. It is filled in when the op is
        // first sent (takeBatch); sending the server's older version instead would make the
        // tablet's own earlier edit look like another tablet's, and open a field clash.
        chained = true;
      } else {
        base = current.version ?? undefined;
      }
    }
    if (base !== undefined && base !== null) op.base_version = base;
    const keys = touches(op, current);
    await tx.objectStore('queue').add({ op, touches: keys, queuedAt: Date.now(), ...(chained ? { chained: true } : {}) });
    const today = chinaDate();
    for (const key of keys) {
      const rec = key === own ? current : ((await records.get(key)) ?? null);
      const next = applyOp(rec, op, key, today);
      if (next) await records.put({ ...next, pending: (rec?.pending ?? 0) + 1 });
    }
    return { op, touched: keys };
  });
}

/**
 * The first ops of the queue, at most `max` of them and at most `maxBytes` of JSON. A
 * chained resident update (see enqueue) gets its `base_version` here, stored before the
 * op is sent and never changed after: the batch ends before it while an earlier op on
 * the same resident is still unanswered.
 * @param {any} db
 * @param {number} max
 * @param {number} maxBytes
 * @returns {Promise<QueueEntry[]>}
 */
export async function takeBatch(db, max, maxBytes) {
  const entries = await db.getAll('queue', null, max);
  const enc = new TextEncoder();
  let bytes = 64;
  const out = [];
  const inBatch = new Set();
  for (let e of entries) {
    if (e.chained) {
      const own = keyOf(e.op.entity, e.op.id);
      if (inBatch.has(own)) break;
      e = await resolveBase(db, e);
    }
    const n = enc.encode(JSON.stringify(e.op)).length + 1;
    if (out.length > 0 && bytes + n > maxBytes) break;
    bytes += n;
    out.push(e);
    for (const k of e.touches) inBatch.add(k);
  }
  return out;
}

/**
 * Fills in a chained update's `base_version` from the server copy, which now holds the
 * answer to every earlier op on the record, and stores it.
 * @param {any} db
 * @param {QueueEntry} entry
 * @returns {Promise<QueueEntry>}
 */
async function resolveBase(db, entry) {
  return inTx(db, ['queue', 'server'], async (tx) => {
    const held = await tx.objectStore('queue').get(entry.seq);
    if (!held || !held.chained) return held ?? entry;
    const server = await tx.objectStore('server').get(keyOf(held.op.entity, held.op.id));
    const op = { ...held.op };
    if (server && typeof server.version === 'number') op.base_version = server.version;
    const next = { ...held, op };
    delete next.chained;
    await tx.objectStore('queue').put(next);
    return next;
  });
}

/**
 * What one push's answer did.
 * @typedef {{ answered: number, applied: number, duplicate: number, conflict: number, rejected: number }} ResultCounts
 */

/**
 * Stores a push's per-op results and takes the answered ops out of the queue, in one
 * transaction (docs/sync-protocol.md §2): `applied` and `duplicate` leave it, `conflict`
 * leaves it into the conflicts list, `rejected` into the rejected list. An op without a
 * readable result stays queued and goes in the next batch.
 * @param {any} db
 * @param {QueueEntry[]} batch the entries sent, in the order sent
 * @param {object[]} results the answer's `results`
 * @returns {Promise<ResultCounts>}
 */
export async function storeResults(db, batch, results) {
  const counts = { answered: 0, applied: 0, duplicate: 0, conflict: 0, rejected: 0 };
  return inTx(db, ['queue', 'records', 'server', 'rejected', 'conflicts'], async (tx) => {
    const queue = tx.objectStore('queue');
    const today = chinaDate();
    const at = new Date().toISOString();
    const touched = new Set();
    for (const [i, r] of (results ?? []).entries()) {
      const index = typeof r?.index === 'number' ? r.index : i;
      const entry = batch[index];
      if (!entry) continue;
      // A result naming another op than the one sent at its index is not trusted.
      if (r.op_id && r.op_id !== entry.op.op_id) continue;
      // Gone already: another tab of this app stored the same answer.
      if (!(await queue.get(entry.seq))) continue;
      const status = r.status;
      if (status === 'applied' || status === 'duplicate' || status === 'conflict') {
        await foldAnswered(tx, entry, r.version, today);
        if (status === 'conflict') {
          await tx.objectStore('conflicts').put({
            op_id: entry.op.op_id,
            seq: entry.seq,
            op: entry.op,
            conflict_id: r.conflict_id ?? null,
            version: r.version ?? null,
            replayed: Boolean(r.replayed),
            at,
          });
        }
      } else if (status === 'rejected') {
        const err = r.error ?? {};
        await tx.objectStore('rejected').put({
          op_id: entry.op.op_id,
          seq: entry.seq,
          op: entry.op,
          code: err.code ?? 'unknown',
          field: err.field ?? null,
          message: err.message ?? '',
          replayed: Boolean(r.replayed),
          at,
        });
      } else {
        continue; // a status this SDK does not know: keep the op
      }
      counts[status] += 1;
      counts.answered += 1;
      await queue.delete(entry.seq);
      for (const k of entry.touches) touched.add(k);
    }
    for (const k of touched) await rebuild(tx, k, undefined, today);
    return counts;
  });
}
