// The synced copy (`server` store) and the local copy built from it (`records` store).
// The local copy of a record is always: its server copy, then every queued op that touches
// it, in queue order. Whatever changes one side (an op recorded, an op answered, a page
// pulled) rebuilds the records it touches inside the same transaction.

import { applyOp, keyOf } from './shapes.js';
import { inTx } from './store.js';
import { chinaDate } from './time.js';

/** @typedef {import('./shapes.js').LocalRecord} LocalRecord */
/** @typedef {{ seq: number, op: import('./shapes.js').Op, touches: string[], queuedAt: number }} QueueEntry */

/**
 * A server copy as the start of a local record (null for a tombstone or nothing).
 * @param {LocalRecord|undefined} s
 * @returns {LocalRecord|null}
 */
export function fromServer(s) {
  if (!s || s.deleted) return null;
  return { key: s.key, entity: s.entity, id: s.id, version: s.version, deleted: false, pending: 0, data: s.data };
}

/**
 * Rebuilds the local record `key` from its server copy and the queued ops touching it.
 * @param {any} tx a transaction over `server`, `records` and `queue`
 * @param {string} key
 * @param {QueueEntry[]} [ops] the queued ops touching `key`, if the caller has them
 * @param {string} [today]
 */
export async function rebuild(tx, key, ops, today = chinaDate()) {
  const server = await tx.objectStore('server').get(key);
  const list = ops ?? (await tx.objectStore('queue').index('touches').getAll(key));
  let rec = fromServer(server);
  for (const e of list) rec = applyOp(rec, e.op, key, today);
  const records = tx.objectStore('records');
  if (rec) await records.put({ ...rec, pending: list.length });
  else await records.delete(key);
}

/**
 * The queued ops by every key they touch, in queue order.
 * @param {any} tx a transaction over `queue`
 * @returns {Promise<Map<string, QueueEntry[]>>}
 */
export async function opsByKey(tx) {
  const all = await tx.objectStore('queue').getAll();
  const map = new Map();
  for (const e of all) {
    for (const k of e.touches) {
      if (!map.has(k)) map.set(k, []);
      map.get(k).push(e);
    }
  }
  return map;
}

/**
 * Stores pulled changes or bootstrap records (`PulledChange`) into the synced copy and
 * rebuilds their local records. A record that arrives twice keeps its higher version;
 * a tombstone is kept as one; a merge tombstone re-points the records naming the
 * merged-away resident to the survivor.
 * @param {any} tx a transaction over `server`, `records` and `queue`
 * @param {object[]} changes
 * @returns {Promise<number>} how many changes were stored (not older than held)
 */
export async function applyChanges(tx, changes) {
  const byKey = await opsByKey(tx);
  const server = tx.objectStore('server');
  const today = chinaDate();
  let stored = 0;
  for (const c of changes) {
    if (!c || typeof c.entity !== 'string' || typeof c.id !== 'string') continue;
    const key = keyOf(c.entity, c.id);
    const held = await server.get(key);
    // Equal versions are the same server state: the pulled shape replaces a guess.
    if (held && typeof held.version === 'number' && held.version > c.version) continue;
    await server.put({
      key,
      entity: c.entity,
      id: c.id,
      version: c.version,
      deleted: Boolean(c.deleted),
      data: c.deleted ? null : (c.data ?? null),
      merged_into: c.merged_into ?? null,
    });
    stored += 1;
    await rebuild(tx, key, byKey.get(key) ?? [], today);
    if (c.entity === 'resident' && c.deleted && c.merged_into) await repoint(tx, c.id, c.merged_into, byKey, today);
  }
  return stored;
}

/**
 * Points the held records of a merged-away resident at the survivor, as the server did
 * (docs/sync-protocol.md §3). The queued ops are left as they are: they must be sent
 * exactly as recorded, and the server moves them to the survivor itself.
 * @param {any} tx
 * @param {string} from merged-away resident id
 * @param {string} to survivor id
 * @param {Map<string, QueueEntry[]>} byKey
 * @param {string} today
 */
async function repoint(tx, from, to, byKey, today) {
  const server = tx.objectStore('server');
  let cursor = await server.openCursor();
  const changed = [];
  while (cursor) {
    const s = cursor.value;
    if (s.data && s.data.resident_id === from) {
      await cursor.update({ ...s, data: { ...s.data, resident_id: to } });
      changed.push(s.key);
    }
    cursor = await cursor.continue();
  }
  for (const key of changed) await rebuild(tx, key, byKey.get(key) ?? [], today);
}

/**
 * Folds an answered op into the synced copy, so the record stays visible (in its pushed
 * form, with the server's version) until the pull brings the server's own shape.
 * @param {any} tx
 * @param {QueueEntry} entry
 * @param {number|undefined|null} version the version the server answered
 * @param {string} today
 */
export async function foldAnswered(tx, entry, version, today) {
  const server = tx.objectStore('server');
  const { op } = entry;
  const own = keyOf(op.entity, op.id);
  for (const key of entry.touches) {
    const held = await server.get(key);
    if (key === own) {
      // Already pulled at this version or later (e.g. bootstrapped during a re-sync): the
      // pulled copy holds the op's effect.
      if (held && !held.provisional && typeof version === 'number' && held.version >= version) continue;
      if (op.action === 'delete') {
        await server.put({
          key,
          entity: op.entity,
          id: op.id,
          version: version ?? held?.version ?? null,
          deleted: true,
          data: null,
          provisional: true,
        });
        continue;
      }
      const next = applyOp(fromServer(held), op, key, today);
      if (!next) continue;
      await server.put({
        key,
        entity: op.entity,
        id: op.id,
        version: version ?? held?.version ?? null,
        deleted: false,
        data: { ...next.data, version: version ?? next.data?.version ?? null },
        provisional: true,
      });
    } else if (held && !held.deleted) {
      const next = applyOp(fromServer(held), op, key, today);
      if (next) await server.put({ ...held, data: next.data });
    }
  }
}

/**
 * Drops the synced copy, the cursor and the bootstrap page token, and rebuilds the local
 * copy from the queue alone (step 1–2 of the re-sync procedure, docs/sync-protocol.md §3).
 * @param {any} db
 */
export async function dropSyncedCopy(db) {
  await inTx(db, ['server', 'records', 'queue', 'meta'], async (tx) => {
    await tx.objectStore('server').clear();
    await tx.objectStore('records').clear();
    await tx.objectStore('meta').delete('cursor');
    await tx.objectStore('meta').delete('bootstrapPage');
    const byKey = await opsByKey(tx);
    const today = chinaDate();
    for (const [key, ops] of byKey) await rebuild(tx, key, ops, today);
  });
}
