// The queue of ops recorded on the tablet and not yet answered by the server. An op enters
// it together with its effect on the local copy, and leaves it together with the storing
// of its answer, each in one IndexedDB transaction: a tab killed at any point leaves
// either both or neither.

import { ACTIONS, applyOp, keyOf, touches } from './shapes.js';
import { unwrap } from '../vendor/idb/index.js';
import { buildLocal, foldInto, getMany, opsByKey, readLocal, writeLocal } from './replica.js';
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
    const server = tx.objectStore('server');
    const own = keyOf(entity, id);
    const current = (await readLocal(records, server, own)).rec;
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
      const rec = key === own ? current : (await readLocal(records, server, key)).rec;
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
 * Is `v` a checkpoint as the server gives it (`<position>.<mark>`, docs/sync-protocol.md
 * §2)? Only such a one is stored and sent back.
 * @param {unknown} v
 * @returns {v is string}
 */
export function isCheckpoint(v) {
  return typeof v === 'string' && /^[0-9]{1,18}\.[0-9a-f]{1,32}$/.test(v);
}

/**
 * What one push's answer did.
 * @typedef {{ answered: number, applied: number, duplicate: number, conflict: number, rejected: number }} ResultCounts
 */

/**
 * Stores a push's per-op results and takes the answered ops out of the queue, in one
 * transaction (docs/sync-protocol.md §2): `applied` and `duplicate` leave it, `conflict`
 * leaves it into the conflicts list, `rejected` into the rejected list. An op without a
 * readable result stays queued and goes in the next batch. Every answered op is kept in
 * `acked` (to send again after a server restore, restore.js), and the answer's
 * checkpoint replaces the stored one, in the same transaction: an op never leaves the
 * queue without the checkpoint that covers it.
 * @param {any} db
 * @param {QueueEntry[]} batch the entries sent, in the order sent
 * @param {object[]} results the answer's `results`
 * @param {unknown} [checkpoint] the answer's `checkpoint`
 * @param {boolean} [keep] keep answered ops in `acked` (the retention window is not 0)
 * @returns {Promise<ResultCounts>}
 */
export async function storeResults(db, batch, results, checkpoint, keep = true) {
  const counts = { answered: 0, applied: 0, duplicate: 0, conflict: 0, rejected: 0 };
  const stores = ['queue', 'records', 'server', 'rejected', 'conflicts', 'acked', 'meta'];
  return inTx(db, stores, async (tx) => {
    const queue = unwrap(tx.objectStore('queue'));
    const server = unwrap(tx.objectStore('server'));
    const records = unwrap(tx.objectStore('records'));
    const today = chinaDate();
    const at = new Date().toISOString();
    const now = Date.now();
    const acked = unwrap(tx.objectStore('acked'));
    // Which of the batch's ops are still queued, in one read over the batch's seq range.
    const seqs = batch.map((e) => e?.seq).filter((s) => typeof s === 'number');
    const queued = new Set(
      seqs.length ? await tx.objectStore('queue').getAllKeys(IDBKeyRange.bound(Math.min(...seqs), Math.max(...seqs))) : [],
    );
    /** @type {{ entry: QueueEntry, r: any }[]} */
    const answered = [];
    for (const [i, r] of (results ?? []).entries()) {
      const index = typeof r?.index === 'number' ? r.index : i;
      const entry = batch[index];
      if (!entry) continue;
      // A result naming another op than the one sent at its index is not trusted.
      if (r.op_id && r.op_id !== entry.op.op_id) continue;
      // Gone already: another tab of this app stored the same answer.
      if (!queued.has(entry.seq)) continue;
      const status = r.status;
      // A status this SDK does not know: keep the op.
      if (!['applied', 'duplicate', 'conflict', 'rejected'].includes(status)) continue;
      queued.delete(entry.seq);
      answered.push({ entry, r });
    }
    // The server copies of every record the answered ops touch, in one wait.
    const keys = [...new Set(answered.flatMap((a) => a.entry.touches))];
    const found = await getMany(server, keys);
    const rows = new Map(keys.map((k, i) => [k, found[i]]));
    // From here on the requests are not awaited one by one: they run in order, and inTx
    // waits for them all and aborts the whole transaction if one fails.
    for (const { entry, r } of answered) {
      const status = r.status;
      if (status === 'applied' || status === 'duplicate' || status === 'conflict') {
        foldInto(server, rows, entry, r.version, today);
        if (status === 'conflict') {
          unwrap(tx.objectStore('conflicts')).put({
            op_id: entry.op.op_id,
            seq: entry.seq,
            op: entry.op,
            conflict_id: r.conflict_id ?? null,
            version: r.version ?? null,
            replayed: Boolean(r.replayed),
            at,
          });
        }
      } else {
        const err = r.error ?? {};
        unwrap(tx.objectStore('rejected')).put({
          op_id: entry.op.op_id,
          seq: entry.seq,
          op: entry.op,
          code: err.code ?? 'unknown',
          field: err.field ?? null,
          message: err.message ?? '',
          replayed: Boolean(r.replayed),
          at,
        });
      }
      counts[status] += 1;
      counts.answered += 1;
      queue.delete(entry.seq);
      if (keep) acked.put({ seq: entry.seq, op: entry.op, touches: entry.touches, status, ackedAt: now });
    }
    if (answered.length === 0) return counts;
    if (isCheckpoint(checkpoint)) unwrap(tx.objectStore('meta')).put(checkpoint, 'checkpoint');
    // The ops still queued, read once after the deletes (requests run in order).
    const byKey = await opsByKey(tx);
    for (const k of keys) writeLocal(records, k, buildLocal(rows.get(k), byKey.get(k) ?? [], k, today));
    return counts;
  });
}
