// jiayi's sync SDK for field tablets: an offline store of the team's records, a queue of
// the changes made on the tablet, and the sync of both with the server by the protocol of
// docs/sync-protocol.md. Plain ES modules, no build step: import this file.
//
//   import { createClient } from './sdk/jiayi-sync.js';
//   const client = createClient({ baseUrl: '', appVersion: '1.0.0' });
//   await client.login('doctor1', password);
//   const id = client.newId();
//   await client.record('visit', 'create', id, { resident_id, kind: 'home_visit', occurred_at: timestamp() });
//   await client.sync();
//
// docs/field-sdk.md is the guide.

import { putBlob as storeBlob } from './blobs.js';
import { SyncError } from './errors.js';
import { Emitter } from './events.js';
import { Http, newBudget } from './http.js';
import { enqueue } from './queue.js';
import { keyOf } from './shapes.js';
import { dropSyncedCopy, fromServer, readLocal } from './replica.js';
import { forgetAcked, MAX_ACKED, RETENTION_DAYS } from './restore.js';
import { Auth, withLock } from './session.js';
import { getMeta, inTx, openStore, setMeta, wipe } from './store.js';
import { runSync } from './sync.js';
import { uuidv4, uuidv7 } from './uuid.js';

// Re-exported helpers, documented where they are defined: the error type, time formats
// for recorded times, UUIDv7 ids, accepted blob types, entities and their actions.
export { SyncError } from './errors.js';
export { timestamp, toUtc, chinaDate } from './time.js';
export { uuidv7 as newId } from './uuid.js';
export { BLOB_TYPES } from './blobs.js';
export { ACTIONS } from './shapes.js';

/** This SDK's version (sent nowhere; for the app's about screen). */
export const SDK_VERSION = '1.0.0';

/**
 * Options of `createClient`.
 * @typedef {object} ClientOptions
 * @property {string} [baseUrl] the server's origin, e.g. `https://jiayi.example.cn`; '' for the page's own (default)
 * @property {string} appVersion the app's version, sent as `X-App-Version` and at login
 * @property {string} [dbName] the IndexedDB database (default `jiayi-sync`); one per user of a shared tablet
 * @property {string} [deviceName] what supervisors see in the device list (default `field tablet`)
 * @property {number} [batchSize] ops per push at most (the server's `max_batch_ops` caps it)
 * @property {number} [pullLimit] changes per pull page (default 500)
 * @property {number} [bootstrapLimit] records per bootstrap page (default 2000)
 * @property {number} [timeoutMs] a request taking longer counts as a network failure (default 60 s)
 * @property {number} [ackedRetentionDays] days an answered op is kept to send again after a
 *   server restore (default 30; 0 keeps none)
 * @property {number} [ackedMaxOps] answered ops kept at most, the oldest dropped first (default 20000)
 * @property {import('./http.js').RetryOptions} [retry]
 * @property {typeof fetch} [fetch] a fetch to use instead of the global one
 */

/**
 * A record of the local copy (see shapes.js): `data` is in the shape pull sends.
 * @typedef {import('./shapes.js').LocalRecord} LocalRecord
 */

/**
 * Creates a client bound to one server and one local database. Nothing is opened until
 * the first call.
 * @param {ClientOptions} options
 * @returns {Client}
 */
export function createClient(options) {
  if (!options || typeof options.appVersion !== 'string' || !options.appVersion) {
    throw new TypeError('createClient needs { appVersion }');
  }
  return new Client(options);
}

/** The tablet's side of the sync protocol. Make it with `createClient`. */
export class Client {
  /** @param {ClientOptions} options */
  constructor(options) {
    this.options = {
      baseUrl: options.baseUrl ?? '',
      appVersion: options.appVersion,
      dbName: options.dbName ?? 'jiayi-sync',
      deviceName: options.deviceName ?? 'field tablet',
      batchSize: options.batchSize,
      pullLimit: options.pullLimit ?? 500,
      bootstrapLimit: options.bootstrapLimit ?? 2000,
      ackedRetentionDays: options.ackedRetentionDays ?? RETENTION_DAYS,
      ackedMaxOps: options.ackedMaxOps ?? MAX_ACKED,
      retry: options.retry ?? {},
    };
    this.events = new Emitter();
    this.http = new Http({
      baseUrl: this.options.baseUrl,
      fetch: options.fetch,
      timeoutMs: options.timeoutMs,
      retry: this.options.retry,
      appVersion: this.options.appVersion,
    });
    /** @type {Promise<any>|null} */
    this.dbPromise = null;
    /** @type {Promise<any>|null} */
    this.running = null;
    this.lockName = `jiayi-sync:${this.options.dbName}`;
    this.auth = new Auth({
      db: () => this.db(),
      http: this.http,
      deviceId: () => this.deviceId(),
      lockName: this.lockName,
      deviceName: this.options.deviceName,
      appVersion: this.options.appVersion,
    });
  }

  /**
   * The open database (opened on first use, reopened if the browser closed it).
   * @returns {Promise<any>}
   */
  db() {
    if (!this.dbPromise) {
      this.dbPromise = openStore(this.options.dbName, {
        onClosed: () => {
          this.dbPromise?.then((d) => d.close()).catch(() => {});
          this.dbPromise = null;
        },
      });
      this.dbPromise.catch(() => {
        this.dbPromise = null;
      });
    }
    return this.dbPromise;
  }

  /**
   * The tablet's device id: made once (a UUID) and kept in the store.
   * @returns {Promise<string>}
   */
  async deviceId() {
    return inTx(await this.db(), 'meta', async (tx) => {
      let id = await tx.store.get('deviceId');
      if (!id) {
        id = uuidv4();
        await tx.store.put(id, 'deviceId');
      }
      return id;
    });
  }

  /**
   * A new record id (UUIDv7).
   * @returns {string}
   */
  newId() {
    return uuidv7();
  }

  /**
   * Logs in, keeps the tokens, and reads the caller's villages and the server's limits.
   * @param {string} username
   * @param {string} password
   * @returns {Promise<object>} the caller (`GET /api/v1/me`)
   */
  async login(username, password) {
    return this.guard(async () => {
      const before = await getMeta(await this.db(), 'me');
      await this.auth.login(username, password);
      const resp = await this.auth.call('GET', '/api/v1/me');
      if (!resp.ok) throw new SyncError('login_failed', `GET /api/v1/me answered ${resp.status}`, { status: resp.status });
      const me = await resp.json();
      const db = await this.db();
      if (before && before.id !== me.id) {
        // Another user's synced copy is of another scope: drop it (the queue stays), and
        // the ops kept to send again after a restore (theirs, from their device).
        await dropSyncedCopy(db, { stores: ['acked'], also: forgetAcked });
        this.events.emit('change', { reason: 'login' });
      }
      await setMeta(db, 'me', me);
      return me;
    });
  }

  /** Forgets the tokens. The queue and the local copy stay for the next login. */
  async logout() {
    await this.auth.end();
  }

  /**
   * Is there a session (tokens) on this tablet?
   * @returns {Promise<boolean>}
   */
  async isLoggedIn() {
    return Boolean((await this.auth.session())?.refresh_token);
  }

  /**
   * An authenticated request to any other endpoint of the server (region names, the work
   * list …), with the session's token refreshed as for sync. A second 401 ends the session
   * (`login_required`); other answers are returned as they are, for the caller to read.
   * @param {string} method
   * @param {string} path e.g. `/api/v1/regions/431126100000/children`
   * @param {{ query?: object, json?: unknown, headers?: Record<string,string> }} [opts]
   * @returns {Promise<Response>}
   */
  async request(method, path, opts = {}) {
    return this.auth.call(method, path, opts);
  }

  /**
   * The caller as last read from the server (`GET /api/v1/me`: villages, limits,
   * device_key), or null.
   * @returns {Promise<object|null>}
   */
  async me() {
    return (await getMeta(await this.db(), 'me')) ?? null;
  }

  /**
   * Records a change: the op is queued and applied to the local copy in one transaction
   * before this returns. Returns the op's id.
   * @param {string} entity `resident`, `contract`, `visit`, `survey` or `not_signed`
   * @param {string} action `create`, `update`, `transition`, `amend` or `delete`
   * @param {string} id the record's id (`newId()` for a new record)
   * @param {object} [data] the op's data (docs/sync-protocol.md §2); `{}` for a delete
   * @param {{ baseVersion?: number, recordedAt?: string }} [opts] `baseVersion`: the
   *   version the edit started from (default: the local copy's); `recordedAt`: the
   *   clinical time of the op (default: now, with the tablet's offset)
   * @returns {Promise<string>}
   */
  async record(entity, action, id, data = {}, opts = {}) {
    const { op, touched } = await enqueue(await this.db(), {
      entity,
      action,
      id,
      data,
      baseVersion: opts.baseVersion,
      recordedAt: opts.recordedAt,
    });
    this.events.emit('change', { reason: 'record', op_id: op.op_id, keys: touched });
    return op.op_id;
  }

  /**
   * Syncs: bootstrap if needed, push the queue, upload blobs, pull. One at a time: a call
   * while a sync runs joins it. Rejects with a SyncError (also sent as an 'error' event).
   * @returns {Promise<import('./sync.js').SyncSummary>}
   */
  sync() {
    if (!this.running) {
      this.running = withLock(`${this.lockName}:sync`, () => this.guard(() => this.syncOnce())).finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  /** @returns {Promise<import('./sync.js').SyncSummary>} */
  async syncOnce() {
    const db = await this.db();
    const summary = await runSync({
      db,
      auth: this.auth,
      budget: newBudget(this.options.retry),
      deviceId: await this.deviceId(),
      options: this.options,
      changed: (reason) => this.events.emit('change', { reason }),
      restored: (done) =>
        this.events.emit('restore', {
          resent: done.resent,
          restored: done.restored,
          refused: done.refused,
          startedAt: done.startedAt,
        }),
    });
    this.events.emit('sync', summary);
    return summary;
  }

  /**
   * Runs `fn`; a failure is sent as an 'error' event and thrown. A revoked device is
   * wiped (docs/sync-protocol.md §1) after the event has told how many ops were pending.
   * @template T
   * @param {() => Promise<T>} fn
   * @returns {Promise<T>}
   */
  async guard(fn) {
    try {
      return await fn();
    } catch (e) {
      let err = e instanceof SyncError ? e : new SyncError('internal', String(e?.message ?? e), { cause: e });
      if (err.code === 'device_revoked') {
        const db = await this.db();
        const pending = await db.count('queue');
        const revoked = new SyncError(
          'device_revoked',
          `this device was revoked; the local data (${pending} pending ops) is wiped`,
          {
            status: err.status,
            serverCode: 'device_revoked',
            pending,
          },
        );
        revoked.summary = err.summary;
        err = revoked;
        this.events.emit('error', err);
        await wipe(db);
        this.events.emit('change', { reason: 'wipe' });
        throw err;
      }
      this.events.emit('error', err);
      throw err;
    }
  }

  /**
   * Numbers for the app's status line.
   * `acked`: answered ops kept to send again after a server restore.
   * @returns {Promise<{ pending: number, rejected: number, conflicts: number, blobs: number, acked: number, lastSyncAt: string|null }>}
   */
  async counts() {
    const db = await this.db();
    const tx = db.transaction(['queue', 'rejected', 'conflicts', 'blobs', 'acked', 'meta']);
    const [pending, rejected, conflicts, blobs, acked, lastSyncAt] = await Promise.all([
      tx.objectStore('queue').count(),
      tx.objectStore('rejected').count(),
      tx.objectStore('conflicts').count(),
      tx.objectStore('blobs').index('state').count('pending'),
      tx.objectStore('acked').count(),
      tx.objectStore('meta').get('lastSyncAt'),
    ]);
    return { pending, rejected, conflicts, blobs, acked, lastSyncAt: lastSyncAt ?? null };
  }

  /**
   * One record of the local copy, or null. A resident merged away by a supervisor gives
   * the surviving record (its `id` then differs from the one asked).
   * @param {string} entity
   * @param {string} id
   * @returns {Promise<LocalRecord|null>}
   */
  async get(entity, id) {
    const db = await this.db();
    let key = keyOf(entity, id);
    for (let hops = 0; hops < 8; hops++) {
      const tx = db.transaction(['records', 'server']);
      const { rec, server: s } = await readLocal(tx.objectStore('records'), tx.objectStore('server'), key);
      if (rec) return rec;
      if (!s?.merged_into) return null;
      key = keyOf(entity, s.merged_into);
    }
    return null;
  }

  /**
   * The local records of an entity, deleted ones left out unless asked.
   * @param {string} entity
   * @param {Record<string, unknown>|((data: any, rec: LocalRecord) => boolean)} [filter]
   *   fields of `data` that must equal, or a predicate
   * @param {{ includeDeleted?: boolean }} [opts]
   * @returns {Promise<LocalRecord[]>}
   */
  async list(entity, filter, opts = {}) {
    const db = await this.db();
    // The server copies, overlaid with the local rows of the records queued ops touch.
    const tx = db.transaction(['records', 'server']);
    const [held, local] = await Promise.all([
      tx.objectStore('server').index('entity').getAll(entity),
      tx.objectStore('records').index('entity').getAll(entity),
    ]);
    const byKey = new Map();
    for (const s of held) {
      const r = fromServer(s);
      if (r) byKey.set(r.key, r);
    }
    for (const r of local) byKey.set(r.key, r);
    const all = [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const pred =
      typeof filter === 'function'
        ? filter
        : filter && typeof filter === 'object'
          ? (d) => Object.entries(filter).every(([k, v]) => d?.[k] === v)
          : () => true;
    return all.filter((r) => (opts.includeDeleted || !r.deleted) && pred(r.data, r));
  }

  /**
   * The ops waiting to be sent, in order.
   * @returns {Promise<import('./shapes.js').Op[]>}
   */
  async pending() {
    return (await (await this.db()).getAll('queue')).map((e) => e.op);
  }

  /**
   * Ops the server refused, oldest first: `{ op_id, op, code, field, message, at }`.
   * They stay until dismissed; a corrected record is a new op.
   * @returns {Promise<object[]>}
   */
  async rejected() {
    return (await (await this.db()).getAll('rejected')).sort((a, b) => a.seq - b.seq);
  }

  /**
   * Ops answered `conflict`, oldest first: `{ op_id, op, conflict_id, version, at }`.
   * The server stored them by the entity's rule; a supervisor's decision arrives by pull.
   * @returns {Promise<object[]>}
   */
  async conflicts() {
    return (await (await this.db()).getAll('conflicts')).sort((a, b) => a.seq - b.seq);
  }

  /**
   * Removes an entry the user has seen from the rejected or conflicts list.
   * @param {'rejected'|'conflicts'} list
   * @param {string} opId
   */
  async dismiss(list, opId) {
    if (list !== 'rejected' && list !== 'conflicts') throw new TypeError("list must be 'rejected' or 'conflicts'");
    await (await this.db()).delete(list, opId);
    this.events.emit('change', { reason: 'dismiss' });
  }

  /**
   * Every questionnaire version kept (from bootstrap and later syncs).
   * @returns {Promise<object[]>}
   */
  async questionnaires() {
    return (await this.db()).getAll('questionnaires');
  }

  /**
   * The service-package catalog kept (from bootstrap and later syncs), by code: `{code,
   * name, kind: 'basic'|'personalised', price_fen, self_pay_fen, active}`. Offer only the
   * active ones on a new contract; retired ones still name the contracts that hold them.
   * Empty until the first sync with a server that sends it.
   * @returns {Promise<object[]>}
   */
  async packages() {
    return (await this.db()).getAll('packages');
  }

  /**
   * Keeps bytes (a signature image, a photo) to upload on sync; returns their SHA-256
   * (hex), the name a record uses (e.g. a contract's `signature_sha256`).
   * @param {ArrayBuffer|ArrayBufferView|Blob} bytes
   * @param {string} type `image/png`, `image/jpeg`, `image/webp` or `application/pdf`
   * @returns {Promise<string>}
   */
  async putBlob(bytes, type) {
    const db = await this.db();
    const me = await getMeta(db, 'me');
    const sha = await storeBlob(db, bytes, type, me?.limits?.max_blob_bytes);
    this.events.emit('change', { reason: 'blob', sha256: sha });
    return sha;
  }

  /**
   * A kept blob: `{ sha256, type, size, bytes, state }` (`state`: pending, uploaded,
   * failed), or null.
   * @param {string} sha256
   * @returns {Promise<object|null>}
   */
  async getBlob(sha256) {
    return (await (await this.db()).get('blobs', sha256)) ?? null;
  }

  /**
   * Adds a listener: 'change' (the local copy or the lists changed), 'sync' (a sync
   * ended; its summary), 'error' (a SyncError), 'restore' (the server had been restored
   * from a backup and the answered ops were sent again: `{ resent, restored, refused,
   * startedAt }`). Returns a function removing it.
   * @param {import('./events.js').EventName} name
   * @param {(payload: any) => void} fn
   * @returns {() => void}
   */
  on(name, fn) {
    return this.events.on(name, fn);
  }

  /**
   * Removes a listener.
   * @param {import('./events.js').EventName} name
   * @param {(payload: any) => void} fn
   */
  off(name, fn) {
    this.events.off(name, fn);
  }

  /**
   * Empties the local store: the queue, the copies, the session, the device id.
   * What the SDK does itself when the device is revoked.
   */
  async wipe() {
    await wipe(await this.db());
    this.events.emit('change', { reason: 'wipe' });
  }

  /** Closes the database (a new call reopens it). */
  async close() {
    const p = this.dbPromise;
    this.dbPromise = null;
    if (p) (await p).close();
  }
}
