// The tablet's IndexedDB database: one per `dbName`, holding everything the SDK keeps.
// Every change that must survive a killed tab together (an op and its local effect; an
// op's answer and its leaving the queue; a pulled page and its cursor) is written in one
// IndexedDB transaction, which the browser commits whole or not at all.

import { openDB, unwrap } from '../vendor/idb/index.js';

/** Schema version of the database; bump with a new `upgrade` step. */
const DB_VERSION = 4;

/**
 * The object stores:
 * - `meta`: small values by name: `deviceId`, `session`, `me`, `cursor`, `bootstrapPage`,
 *   `lastSyncAt`, `checkpoint` (the newest push answer's), `restore` (a resend of the
 *   acknowledged ops after a server restore, while it runs).
 * - `server`: the synced copy, what the server last told (`LocalRecord` by `key`, indexed
 *   by `entity`); tombstones are kept (`deleted: true`) so an older copy arriving later
 *   cannot revive a record.
 * - `records`: the local copy of the records queued ops touch: their `server` copy
 *   overlaid with those ops. Every other record's local copy is its `server` copy as it
 *   is (version 1 kept a row here for every record; version 2 keeps each record once).
 * - `queue`: ops not yet answered, in the order recorded (`seq`).
 * - `rejected`, `conflicts`: answered ops the user must see, by `op_id`.
 * - `blobs`: signature images and photos by SHA-256, with their upload state.
 * - `questionnaires`: every questionnaire version, by `[code, version]`.
 * - `packages`: the service-package catalog, by `code` (version 3).
 * - `acked`: answered ops, kept for the retention window by their queue `seq` (indexed by
 *   `ackedAt`), to send again if the server is restored from an older backup (version 4).
 */
export const STORES = [
  'meta',
  'server',
  'records',
  'queue',
  'rejected',
  'conflicts',
  'blobs',
  'questionnaires',
  'packages',
  'acked',
];

/**
 * Opens (creating or upgrading) the database.
 * @param {string} name
 * @param {{ onClosed?: () => void }} [hooks]
 * @returns {Promise<import('../vendor/idb/index.js').IDBPDatabase>}
 */
export function openStore(name, hooks = {}) {
  return openDB(name, DB_VERSION, {
    upgrade(db, oldVersion, _newVersion, transaction) {
      if (oldVersion < 1) {
        db.createObjectStore('meta');
        db.createObjectStore('server', { keyPath: 'key' }).createIndex('entity', 'entity');
        const records = db.createObjectStore('records', { keyPath: 'key' });
        records.createIndex('entity', 'entity');
        const queue = db.createObjectStore('queue', { keyPath: 'seq', autoIncrement: true });
        queue.createIndex('op_id', 'op.op_id', { unique: true });
        // Every record an op changes (its own, a renewed or amended one): the local copy
        // of a record is rebuilt from its server copy and the ops listed here.
        queue.createIndex('touches', 'touches', { multiEntry: true });
        db.createObjectStore('rejected', { keyPath: 'op_id' });
        db.createObjectStore('conflicts', { keyPath: 'op_id' });
        const blobs = db.createObjectStore('blobs', { keyPath: 'sha256' });
        blobs.createIndex('state', 'state');
        db.createObjectStore('questionnaires', { keyPath: ['code', 'version'] });
      } else if (oldVersion < 2) {
        // Version 2: the local copy keeps rows only for records with queued ops (pending);
        // the others are read from `server`, which gets the `entity` index for that.
        transaction.objectStore('server').createIndex('entity', 'entity');
        const req = unwrap(transaction.objectStore('records')).openCursor();
        req.onsuccess = () => {
          const cursor = req.result;
          if (!cursor) return;
          if (!(cursor.value?.pending > 0)) cursor.delete();
          cursor.continue();
        };
      }
      if (oldVersion < 3) {
        // Version 3: the package catalog, which signing offers (filled by the next sync).
        db.createObjectStore('packages', { keyPath: 'code' });
      }
      if (oldVersion < 4) {
        // Version 4: answered ops kept for a while (restore.js); none before the upgrade.
        db.createObjectStore('acked', { keyPath: 'seq' }).createIndex('ackedAt', 'ackedAt');
      }
    },
    blocking() {
      // Another tab opens a newer schema: let it, this tab reopens on its next call.
      hooks.onClosed?.();
    },
    terminated() {
      hooks.onClosed?.();
    },
  });
}

/**
 * Reads one `meta` value.
 * @param {import('../vendor/idb/index.js').IDBPDatabase} db
 * @param {string} name
 * @returns {Promise<any>}
 */
export function getMeta(db, name) {
  return db.get('meta', name);
}

/**
 * Writes one `meta` value (undefined deletes it), in its own transaction.
 * @param {import('../vendor/idb/index.js').IDBPDatabase} db
 * @param {string} name
 * @param {any} value
 */
export async function setMeta(db, name, value) {
  if (value === undefined) await db.delete('meta', name);
  else await db.put('meta', value, name);
}

/**
 * Runs `fn` in one readwrite transaction over `stores` and waits for the commit. If `fn`
 * throws, the transaction is aborted: IndexedDB would otherwise commit the requests made
 * before the throw, and an op could land in the queue without its local effect.
 * @template T
 * @param {import('../vendor/idb/index.js').IDBPDatabase} db
 * @param {string[]|string} stores
 * @param {(tx: any) => Promise<T>} fn
 * @returns {Promise<T>}
 */
export async function inTx(db, stores, fn) {
  const tx = db.transaction(stores, 'readwrite');
  let result;
  try {
    result = await fn(tx);
  } catch (e) {
    try {
      tx.abort();
    } catch {
      // Already finished (the error came from the transaction itself).
    }
    await tx.done.catch(() => {});
    throw e;
  }
  await tx.done;
  return result;
}

/**
 * Empties every store in one transaction (a revoked device; docs/sync-protocol.md §1).
 * The database itself stays, so other tabs holding it open are not blocked.
 * @param {import('../vendor/idb/index.js').IDBPDatabase} db
 */
export async function wipe(db) {
  const tx = db.transaction(STORES, 'readwrite');
  await Promise.all([...STORES.map((s) => tx.objectStore(s).clear()), tx.done]);
}
