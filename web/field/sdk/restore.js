// After the server was restored from a backup (docs/sync-protocol.md §3, "After a
// restore"): whatever it acknowledged after the backup point is gone from it, and the
// tablet dropped those ops from its queue when they were answered. So answered ops are
// kept in `acked` for a retention window, and when the server says it was restored
// (`409 resync_required` with `reason: server_restored`) they are pushed again after the
// bootstrap, in their order and under their op ids, before the queue: the server answers
// `duplicate` for the ones it holds and applies the ones it lost.
//
// The resend's progress is `meta.restore`, stored with each answer: a sync stopped
// half-way (a killed tab, the network) goes on with the ops not yet sent again.

import { unwrap } from '../vendor/idb/index.js';
import { isCheckpoint } from './queue.js';
import { buildLocal, foldInto, getMany, opsByKey, writeLocal } from './replica.js';
import { inTx } from './store.js';
import { chinaDate } from './time.js';

/** Days an answered op is kept to send again (the `ackedRetentionDays` option). */
export const RETENTION_DAYS = 30;
/** Answered ops kept at most (the `ackedMaxOps` option); the oldest go first. */
export const MAX_ACKED = 20000;

/**
 * An answered op kept for a resend: its queue `seq`, the op as sent, the records it
 * touches, its first answer's status and when that came (ms).
 * @typedef {{ seq: number, op: import('./shapes.js').Op, touches: string[], status: string, ackedAt: number }} AckedEntry
 */

/**
 * A restore's resend while it runs: after which `seq` to go on, and what it did so far.
 * @typedef {{ after: number, resent: number, restored: number, refused: number, startedAt: string }} RestoreProgress
 */

/**
 * Drops kept ops older than `days` and the oldest beyond `maxOps`. Nothing is dropped
 * while a resend runs: it needs them all.
 * @param {any} db
 * @param {{ days: number, maxOps: number }} keep
 * @param {number} [now]
 * @returns {Promise<number>} how many were dropped
 */
export async function pruneAcked(db, keep, now = Date.now()) {
  return inTx(db, ['acked', 'meta'], async (tx) => {
    if (await tx.objectStore('meta').get('restore')) return 0;
    const store = tx.objectStore('acked');
    let dropped = 0;
    const cutoff = now - Math.max(0, keep.days) * 86_400_000;
    let c = await store.index('ackedAt').openCursor(IDBKeyRange.upperBound(cutoff, true));
    while (c) {
      await c.delete();
      dropped += 1;
      c = await c.continue();
    }
    let over = (await store.count()) - Math.max(0, keep.maxOps);
    let k = over > 0 ? await store.openCursor() : null;
    while (k && over > 0) {
      await k.delete();
      dropped += 1;
      over -= 1;
      k = await k.continue();
    }
    return dropped;
  });
}

/**
 * Starts a restore's resend inside the re-sync's transaction (with the drop of the
 * synced copy): the resend from the first kept op, no checkpoint (the server's were of
 * the lost history), and every uploaded blob checked again (HEAD first).
 * @param {any} tx a transaction over `meta` and `blobs`
 */
export async function markRestore(tx) {
  const meta = tx.objectStore('meta');
  /** @type {RestoreProgress} */
  const progress = { after: 0, resent: 0, restored: 0, refused: 0, startedAt: new Date().toISOString() };
  await meta.put(progress, 'restore');
  await meta.delete('checkpoint');
  let c = await tx.objectStore('blobs').index('state').openCursor('uploaded');
  while (c) {
    await c.update({ ...c.value, state: 'pending' });
    c = await c.continue();
  }
}

/**
 * Forgets the kept ops, the checkpoint and a resend (another user logged in: what the
 * previous one sent is theirs to send again, from their own device).
 * @param {any} tx a transaction over `acked` and `meta`
 */
export async function forgetAcked(tx) {
  await tx.objectStore('acked').clear();
  await tx.objectStore('meta').delete('checkpoint');
  await tx.objectStore('meta').delete('restore');
}

/**
 * The next kept ops to send again: after `after`, at most `max` and `maxBytes` of JSON.
 * @param {any} db
 * @param {number} after
 * @param {number} max
 * @param {number} maxBytes
 * @returns {Promise<AckedEntry[]>}
 */
export async function takeAcked(db, after, max, maxBytes) {
  const entries = await db.getAll('acked', IDBKeyRange.lowerBound(after, true), max);
  const enc = new TextEncoder();
  let bytes = 64;
  const out = [];
  for (const e of entries) {
    const n = enc.encode(JSON.stringify(e.op)).length + 1;
    if (out.length > 0 && bytes + n > maxBytes) break;
    bytes += n;
    out.push(e);
  }
  return out;
}

/**
 * Stores the answer to a resent batch, in one transaction: the progress (past the
 * answered ops), the checkpoint, the ops the server took again folded into the synced
 * copy, and an op it now refuses though it was taken before into the rejected list.
 * An op answered without `replayed` is one the server had lost: `restored` when applied
 * (or a conflict), `refused` when rejected now but not the first time.
 * @param {any} db
 * @param {AckedEntry[]} batch
 * @param {object[]} results
 * @param {unknown} checkpoint
 * @returns {Promise<{ answered: number, resent: number, restored: number, refused: number }>}
 */
export async function storeResent(db, batch, results, checkpoint) {
  const stores = ['acked', 'meta', 'server', 'records', 'queue', 'rejected'];
  return inTx(db, stores, async (tx) => {
    const progress = await tx.objectStore('meta').get('restore');
    const out = { answered: 0, resent: 0, restored: 0, refused: 0 };
    if (!progress) return out;
    /** @type {Map<number, any>} */
    const byIndex = new Map();
    for (const [i, r] of (results ?? []).entries()) {
      const index = typeof r?.index === 'number' ? r.index : i;
      const entry = batch[index];
      if (!entry || (r.op_id && r.op_id !== entry.op.op_id)) continue;
      if (!['applied', 'duplicate', 'conflict', 'rejected'].includes(r.status)) continue;
      byIndex.set(index, r);
    }
    // The answered prefix of the batch: an op without a readable answer is sent again.
    let n = 0;
    while (n < batch.length && byIndex.has(n)) n += 1;
    if (n === 0) return out;
    const done = batch.slice(0, n);
    const server = unwrap(tx.objectStore('server'));
    const records = unwrap(tx.objectStore('records'));
    const keys = [...new Set(done.flatMap((e) => e.touches ?? []))];
    const found = await getMany(server, keys);
    const rows = new Map(keys.map((k, i) => [k, found[i]]));
    const today = chinaDate();
    const at = new Date().toISOString();
    done.forEach((entry, i) => {
      const r = byIndex.get(i);
      out.answered += 1;
      out.resent += 1;
      const lost = !r.replayed;
      if (r.status === 'rejected') {
        if (lost && entry.status !== 'rejected') {
          out.refused += 1;
          const err = r.error ?? {};
          unwrap(tx.objectStore('rejected')).put({
            op_id: entry.op.op_id,
            seq: entry.seq,
            op: entry.op,
            code: err.code ?? 'unknown',
            field: err.field ?? null,
            message: err.message ?? '',
            replayed: false,
            restored: true,
            at,
          });
        }
        return;
      }
      if (lost) out.restored += 1;
      foldInto(server, rows, { ...entry, touches: entry.touches ?? [] }, r.version, today);
    });
    const byKey = await opsByKey(tx);
    for (const k of keys) writeLocal(records, k, buildLocal(rows.get(k), byKey.get(k) ?? [], k, today));
    /** @type {RestoreProgress} */
    const next = {
      ...progress,
      after: done[n - 1].seq,
      resent: progress.resent + out.resent,
      restored: progress.restored + out.restored,
      refused: progress.refused + out.refused,
    };
    const meta = unwrap(tx.objectStore('meta'));
    meta.put(next, 'restore');
    if (isCheckpoint(checkpoint)) meta.put(checkpoint, 'checkpoint');
    return out;
  });
}

/**
 * Ends a resend: its progress is dropped, and returned (what the whole resend did).
 * @param {any} db
 * @returns {Promise<RestoreProgress|null>}
 */
export async function finishRestore(db) {
  return inTx(db, 'meta', async (tx) => {
    const progress = await tx.store.get('restore');
    if (progress) await tx.store.delete('restore');
    return progress ?? null;
  });
}
