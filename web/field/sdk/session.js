// The login session: tokens kept in the store, the access token refreshed by the refresh
// token exactly as docs/sync-protocol.md §1 asks — the new pair stored before it is used,
// and a refresh whose answer was lost sent again with the same refresh token.

import { SyncError } from './errors.js';
import { errorOf, PROTOCOL } from './http.js';
import { getMeta, setMeta } from './store.js';

/**
 * The stored session.
 * @typedef {object} Session
 * @property {string} access_token
 * @property {string} refresh_token
 * @property {number} expires_at epoch ms when the access token expires
 * @property {object} user the login answer's `user`
 */

/** Refresh this long before the access token expires: the tablet's clock may be off. */
const EARLY_MS = 60_000;

/** Refresh-token failures that end the session (log in again; local data stays). */
const SESSION_ENDED = ['invalid_refresh_token', 'refresh_token_expired', 'refresh_token_reused', 'invalid_token'];

/**
 * Runs `fn` holding a lock shared by every tab of this origin (Web Locks), so two tabs
 * never spend the same refresh token or push the same queue at once; without Web Locks,
 * runs it directly.
 * @template T
 * @param {string} name
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
export function withLock(name, fn) {
  const locks = globalThis.navigator?.locks;
  return locks ? locks.request(name, fn) : fn();
}

/** Tokens, login, refresh, and requests that carry them. */
export class Auth {
  /**
   * @param {{ db: () => Promise<any>, http: import('./http.js').Http, deviceId: () => Promise<string>, lockName: string, deviceName: string, appVersion?: string }} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    /** @type {Promise<Session>|null} */
    this.refreshing = null;
  }

  /**
   * Logs in and stores the session.
   * @param {string} username
   * @param {string} password
   * @returns {Promise<Session>}
   */
  async login(username, password) {
    const { http } = this.ctx;
    const resp = await http.send('POST', '/api/v1/auth/login', {
      json: {
        username,
        password,
        device_id: await this.ctx.deviceId(),
        device_name: this.ctx.deviceName,
        app_version: this.ctx.appVersion ?? null,
      },
    });
    if (!resp.ok) throw await errorOf(resp);
    const t = await resp.json();
    const session = toSession(t);
    await setMeta(await this.ctx.db(), 'session', session);
    return session;
  }

  /** Forgets the tokens (log out, or the session ended); the queue and data stay. */
  async end() {
    await setMeta(await this.ctx.db(), 'session', undefined);
  }

  /** @returns {Promise<Session|undefined>} */
  async session() {
    return getMeta(await this.ctx.db(), 'session');
  }

  /**
   * A valid access token: the stored one, or a refreshed one when it expires soon.
   * @param {import('./http.js').Budget} [budget]
   * @returns {Promise<string>}
   */
  async accessToken(budget) {
    const s = await this.session();
    if (!s?.access_token) throw new SyncError('login_required', 'not logged in');
    if (Date.now() < s.expires_at - EARLY_MS) return s.access_token;
    return (await this.refresh(budget, s.access_token)).access_token;
  }

  /**
   * Exchanges the refresh token for a new pair, once at a time. `stale` is the access
   * token found wanting: if the stored one differs, another call (or tab) refreshed
   * already and its pair is used.
   * @param {import('./http.js').Budget} [budget]
   * @param {string} [stale]
   * @returns {Promise<Session>}
   */
  refresh(budget, stale) {
    if (!this.refreshing) {
      this.refreshing = withLock(`${this.ctx.lockName}:refresh`, () => this.doRefresh(budget, stale)).finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  /**
   * @param {import('./http.js').Budget} [budget]
   * @param {string} [stale]
   * @returns {Promise<Session>}
   */
  async doRefresh(budget, stale) {
    const db = await this.ctx.db();
    const s = await getMeta(db, 'session');
    if (!s?.refresh_token) throw new SyncError('login_required', 'not logged in');
    if (stale !== undefined && s.access_token !== stale && Date.now() < s.expires_at - EARLY_MS) return s;
    // A lost answer (network error, timeout) is retried inside `send` with the same body,
    // so with the same refresh token: within the grace window the server answers the same
    // pair (§1). The old token stays stored until an answer arrives, so a tab killed
    // mid-refresh sends it again too.
    const resp = await this.ctx.http.send('POST', '/api/v1/auth/refresh', {
      json: { refresh_token: s.refresh_token, device_id: await this.ctx.deviceId() },
      budget,
    });
    if (!resp.ok) {
      const e = await errorOf(resp);
      if (e.code === 'device_revoked') throw e;
      if (resp.status === 401 || SESSION_ENDED.includes(e.code)) {
        await this.end();
        throw new SyncError('login_required', `the session ended (${e.code}): log in again`, {
          status: resp.status,
          serverCode: e.code,
        });
      }
      throw e;
    }
    const next = toSession(await resp.json(), s.user);
    // Stored before it is used: from now on only the new refresh token is sent.
    await setMeta(db, 'session', next);
    return next;
  }

  /**
   * Sends a request with the access token. A 401 refreshes once and sends again; a
   * second 401 ends the session (`login_required`); `device_revoked` and 426 are thrown.
   * Other answers are returned for the caller to read.
   * @param {string} method
   * @param {string} path
   * @param {{ query?: object, json?: unknown, body?: BodyInit, headers?: Record<string,string>, budget?: import('./http.js').Budget, sync?: boolean }} [opts]
   * @returns {Promise<Response>}
   */
  async call(method, path, opts = {}) {
    let token = await this.accessToken(opts.budget);
    let refreshed = false;
    for (;;) {
      const headers = { ...(opts.headers ?? {}), Authorization: `Bearer ${token}` };
      if (opts.sync) headers['X-Sync-Protocol'] = PROTOCOL;
      const resp = await this.ctx.http.send(method, path, { ...opts, headers });
      if (resp.status === 401) {
        const e = await errorOf(resp);
        if (e.code === 'device_revoked') throw e;
        if (!refreshed) {
          refreshed = true;
          token = (await this.refresh(opts.budget, token)).access_token;
          continue;
        }
        await this.end();
        throw new SyncError('login_required', `the server refused the session (${e.code}): log in again`, {
          status: 401,
          serverCode: e.code,
        });
      }
      if (resp.status === 426) {
        const e = await errorOf(resp);
        throw new SyncError('upgrade_required', `the server needs a newer app (${e.message})`, {
          status: 426,
          serverCode: e.code,
        });
      }
      return resp;
    }
  }
}

/**
 * A session from a token answer (`TokenResponse`).
 * @param {any} t
 * @param {object} [user] kept from before when the answer lacks it
 * @returns {Session}
 */
function toSession(t, user) {
  if (!t || typeof t.access_token !== 'string' || typeof t.refresh_token !== 'string') {
    throw new SyncError('malformed_answer', 'the token answer lacks its tokens');
  }
  return {
    access_token: t.access_token,
    refresh_token: t.refresh_token,
    expires_at: Date.now() + Number(t.expires_in ?? 900) * 1000,
    user: t.user ?? user ?? null,
  };
}
