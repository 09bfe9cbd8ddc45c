// The synced copy (`server` store) and the local copy built from it (`records` store).
// The local copy of a record is always: its server copy, then every queued op that touches
// it, in queue order. Only records with queued ops have a `records` row; for the others the
// server copy is the local copy (`readLocal`). Whatever changes one side (an op recorded, an op answered, a page
// pulled) rebuilds the records it touches inside the same transaction.

import { applyOp, keyOf } from './shapes.js';
import { unwrap } from '../vendor/idb/index.js';
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
 * The local record built from a server copy and the queued ops touching it (null: none).
 * @param {LocalRecord|undefined|null} server
 * @param {QueueEntry[]} list
 * @param {string} key
 * @param {string} today
 * @returns {LocalRecord|null}
 */
export function buildLocal(server, list, key, today) {
  let rec = fromServer(server ?? undefined);
  for (const e of list) rec = applyOp(rec, e.op, key, today);
  return rec ? { ...rec, pending: list.length } : null;
}

/**
 * Writes (or deletes) one local record with a plain IndexedDB request, not awaited: the
 * caller's transaction (inTx) waits for it and aborts on its failure. A record no queued
 * op touches has no `records` row: its server copy is its local copy.
 * @param {IDBObjectStore} records the plain `records` store (idb's `unwrap`)
 * @param {string} key
 * @param {LocalRecord|null} rec
 */
export function writeLocal(records, key, rec) {
  if (rec && rec.pending > 0) records.put(rec);
  else records.delete(key);
}

/**
 * The local record `key` as the app sees it: its `records` row (queued ops touch it),
 * else its server copy.
 * @param {any} records the `records` store (idb-wrapped)
 * @param {any} server the `server` store (idb-wrapped)
 * @param {string} key
 * @returns {Promise<{ rec: LocalRecord|null, server: LocalRecord|undefined }>}
 */
export async function readLocal(records, server, key) {
  const [local, s] = await Promise.all([records.get(key), server.get(key)]);
  return { rec: local ?? fromServer(s), server: s };
}

/**
 * Reads many keys of a store at once: the gets are issued together and answered in one
 * wait, instead of one wait per key. Resolves inside the last request's success event,
 * so the transaction is still active for the caller's next requests.
 * @param {IDBObjectStore|IDBIndex} store a plain store (idb's `unwrap`)
 * @param {IDBValidKey[]} keys
 * @returns {Promise<any[]>} the values, in the order of `keys` (undefined: none)
 */
export function getMany(store, keys) {
  return new Promise((resolve, reject) => {
    const out = new Array(keys.length);
    let left = keys.length;
    if (left === 0) {
      resolve(out);
      return;
    }
    keys.forEach((k, i) => {
      const req = store.get(k);
      req.onsuccess = () => {
        out[i] = req.result;
        left -= 1;
        if (left === 0) resolve(out);
      };
      req.onerror = () => reject(req.error);
    });
  });
}

/**
 * A plain IndexedDB request as a promise (resolved inside its success event, so the
 * transaction is still active for the caller's next requests).
 * @param {IDBRequest} req
 * @returns {Promise<any>}
 */
function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * The held server rows of `keys`, by key. Bootstrap pages come in id order per entity, so
 * the keys of one entity usually span a key range holding little else (nothing, on a first
 * sync): that range is read with one `getAll`. Keys spread over a range holding many other
 * rows (a pull's changes) are read with one get each, issued together.
 * @param {IDBObjectStore} server the plain `server` store
 * @param {string[]} keys
 * @returns {Promise<Map<string, any>>}
 */
async function heldRows(server, keys) {
  const groups = new Map();
  for (const k of keys) {
    const entity = k.slice(0, k.indexOf('/'));
    if (!groups.has(entity)) groups.set(entity, []);
    groups.get(entity).push(k);
  }
  const held = new Map();
  const scattered = [];
  for (const group of groups.values()) {
    if (group.length < 32) {
      scattered.push(...group);
      continue;
    }
    let lo = group[0];
    let hi = group[0];
    for (const k of group) {
      if (k < lo) lo = k;
      if (k > hi) hi = k;
    }
    const range = IDBKeyRange.bound(lo, hi);
    if ((await request(server.count(range))) > 2 * group.length) {
      scattered.push(...group);
      continue;
    }
    for (const row of await request(server.getAll(range))) held.set(row.key, row);
  }
  const rows = await getMany(server, scattered);
  scattered.forEach((k, i) => held.set(k, rows[i]));
  return held;
}

/**
 * Rebuilds the local record `key` from its server copy and the queued ops touching it.
 * @param {any} tx a transaction over `server`, `records` and `queue`
 * @param {string} key
 * @param {QueueEntry[]} [ops] the queued ops touching `key`, if the caller has them
 * @param {string} [today]
 * @param {{ server: LocalRecord|undefined|null }} [known] the server copy, if the caller
 *   has it (then it is not read again)
 */
export async function rebuild(tx, key, ops, today = chinaDate(), known) {
  const server = known ? known.server : await tx.objectStore('server').get(key);
  const list = ops ?? (await tx.objectStore('queue').index('touches').getAll(key));
  writeLocal(unwrap(tx.objectStore('records')), key, buildLocal(server, list, key, today));
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
  const server = unwrap(tx.objectStore('server'));
  const records = unwrap(tx.objectStore('records'));
  const today = chinaDate();
  const valid = (changes ?? []).filter((c) => c && typeof c.entity === 'string' && typeof c.id === 'string');
  // The page's held rows in one wait; rows written below replace them in `held`, so a
  // record arriving twice in a page compares with its first arrival.
  const keys = [...new Set(valid.map((c) => keyOf(c.entity, c.id)))];
  const held = await heldRows(server, keys);
  let stored = 0;
  for (const c of valid) {
    const key = keyOf(c.entity, c.id);
    const h = held.get(key);
    // Equal versions are the same server state: the pulled shape replaces a guess.
    if (h && typeof h.version === 'number' && h.version > c.version) continue;
    const row = {
      key,
      entity: c.entity,
      id: c.id,
      version: c.version,
      deleted: Boolean(c.deleted),
      data: c.deleted ? null : (c.data ?? null),
      merged_into: c.merged_into ?? null,
    };
    // Not awaited: requests of one transaction run in order, and inTx waits for them all
    // (and aborts the whole transaction if one fails).
    server.put(row);
    held.set(key, row);
    stored += 1;
    // A record no queued op touches is read from its server copy: no `records` row.
    const ops = byKey.get(key);
    if (ops) writeLocal(records, key, buildLocal(row, ops, key, today));
    if (c.entity === 'resident' && c.deleted && c.merged_into) {
      const changed = await repoint(tx, c.id, c.merged_into, byKey, today);
      for (const [k, r] of changed) if (held.has(k)) held.set(k, r);
    }
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
 * @returns {Promise<Map<string, LocalRecord>>} the server rows changed, by key
 */
async function repoint(tx, from, to, byKey, today) {
  const server = tx.objectStore('server');
  let cursor = await server.openCursor();
  const changed = new Map();
  while (cursor) {
    const s = cursor.value;
    if (s.data && s.data.resident_id === from) {
      const row = { ...s, data: { ...s.data, resident_id: to } };
      await cursor.update(row);
      changed.set(s.key, row);
    }
    cursor = await cursor.continue();
  }
  for (const [key, row] of changed) await rebuild(tx, key, byKey.get(key) ?? [], today, { server: row });
  return changed;
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
  const server = unwrap(tx.objectStore('server'));
  const found = await getMany(server, entry.touches);
  const rows = new Map(entry.touches.map((k, i) => [k, found[i]]));
  foldInto(server, rows, entry, version, today);
}

/**
 * foldAnswered over server rows the caller has read already (`rows`, key → row, holding
 * every key the op touches): the new rows replace them in `rows` and are written without
 * waiting (the caller's inTx waits for them).
 * @param {IDBObjectStore} server the plain `server` store (idb's `unwrap`)
 * @param {Map<string, any>} rows
 * @param {QueueEntry} entry
 * @param {number|undefined|null} version
 * @param {string} today
 */
export function foldInto(server, rows, entry, version, today) {
  const { op } = entry;
  const own = keyOf(op.entity, op.id);
  const write = (row) => {
    server.put(row);
    rows.set(row.key, row);
  };
  for (const key of entry.touches) {
    const held = rows.get(key);
    if (key === own) {
      // Already pulled at this version or later (e.g. bootstrapped during a re-sync): the
      // pulled copy holds the op's effect.
      if (held && !held.provisional && typeof version === 'number' && held.version >= version) continue;
      if (op.action === 'delete') {
        write({
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
      write({
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
      if (next) write({ ...held, data: next.data });
    }
  }
}

/**
 * Drops the synced copy, the cursor and the bootstrap page token, and rebuilds the local
 * copy from the queue alone (step 1–2 of the re-sync procedure, docs/sync-protocol.md §3).
 * `extra.also` runs in the same transaction, over `extra.stores` too (a restore's start).
 * @param {any} db
 * @param {{ stores: string[], also: (tx: any) => Promise<void> }} [extra]
 */
export async function dropSyncedCopy(db, extra) {
  await inTx(db, ['server', 'records', 'queue', 'meta', ...(extra?.stores ?? [])], async (tx) => {
    await extra?.also(tx);
    await tx.objectStore('server').clear();
    await tx.objectStore('records').clear();
    await tx.objectStore('meta').delete('cursor');
    await tx.objectStore('meta').delete('bootstrapPage');
    const byKey = await opsByKey(tx);
    const today = chinaDate();
    for (const [key, ops] of byKey) await rebuild(tx, key, ops, today);
  });
}
