// The console's one door to the API: the session (tokens in sessionStorage, as the
// dashboard always kept them), a single shared refresh when an access token expires, and
// one error type carrying the API's `{ "error": { "code", "message", "field" } }`.

const API = '/api/v1';
const SESSION_KEY = 'jiayi.session';
const DEVICE_KEY = 'jiayi.device_id';

/** Sent as `app_version` at login: supervisors see it in the device list. */
export const APP_VERSION = 'console-1';

/**
 * An error answer of the API (or of the network, code `network`).
 */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status (0 for a network failure)
   * @param {string} code the API's stable code
   * @param {string} message the API's explanation (English)
   * @param {string|null} [field] the request field at fault
   */
  constructor(status, code, message, field) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

/**
 * @typedef {Object} Session
 * @property {string} access access token
 * @property {string} refresh refresh token
 * @property {{id: string, role: string, region_code: string, team_id?: string|null}} user
 * @property {boolean} [mustChangePassword] the login answered `password_change_required`
 */

/** @type {Session|null} */
let session = null;
try { session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null'); } catch (_) { session = null; }

const listeners = new Set();

/**
 * Listens for session events: `('ended', message)` when the server ended the session,
 * `('password', null)` when it asks for a new password first.
 * @param {(kind: string, message: string|null) => void} fn
 * @returns {() => void} unsubscribe
 */
export function onSessionEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(kind, message) {
  for (const fn of listeners) fn(kind, message);
}

/** @returns {Session|null} */
export function getSession() {
  return session;
}

/**
 * Stores (or with null forgets) the session.
 * @param {Session|null} s
 */
export function setSession(s) {
  session = s;
  if (s) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(SESSION_KEY);
}

/**
 * This browser's stable device id (the device list shows one row per user and browser).
 * @returns {string}
 */
export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    const rnd = (crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + '-' + Math.random().toString(16).slice(2);
    id = 'web-' + rnd;
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

async function errorOf(resp) {
  let body = null;
  try { body = await resp.json(); } catch (_) { body = null; }
  const e = body && body.error;
  return new ApiError(resp.status, (e && e.code) || 'http_' + resp.status, (e && e.message) || resp.statusText || '', e && e.field);
}

/**
 * Logs in. The answer carries the tokens and, after an administrator reset the password,
 * `password_change_required: true`.
 * @param {string} username
 * @param {string} password
 * @returns {Promise<Session>}
 */
export async function login(username, password) {
  let resp;
  try {
    resp = await fetch(API + '/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password, device_id: deviceId(), device_name: '浏览器控制台', app_version: APP_VERSION }),
    });
  } catch (e) {
    throw new ApiError(0, 'network', String(e && e.message || e));
  }
  if (!resp.ok) {
    const err = await errorOf(resp);
    const wait = Number(resp.headers.get('retry-after'));
    if (Number.isFinite(wait)) /** @type {any} */ (err).retryAfter = wait;
    throw err;
  }
  const b = await resp.json();
  const s = { access: b.access_token, refresh: b.refresh_token, user: b.user, mustChangePassword: !!b.password_change_required };
  setSession(s);
  return s;
}

/** @type {Promise<boolean>|null} one refresh at a time: a refresh token works once */
let refreshing = null;

function refresh() {
  if (!refreshing) {
    const s = session;
    refreshing = (async () => {
      if (!s) return false;
      try {
        const resp = await fetch(API + '/auth/refresh', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ refresh_token: s.refresh, device_id: deviceId() }),
        });
        if (!resp.ok) return false;
        const b = await resp.json();
        setSession({ ...s, access: b.access_token, refresh: b.refresh_token, user: b.user || s.user });
        return true;
      } catch (_) {
        return false;
      }
    })().finally(() => { refreshing = null; });
  }
  return refreshing;
}

/** Why a 401 ended the session, for people. */
const ENDED = {
  device_revoked: '本浏览器的登录已被停用，请重新登录。',
  invalid_token: '登录已失效，请重新登录。',
  token_expired: '登录已过期，请重新登录。',
  missing_token: '请先登录。',
};

/**
 * Builds a query string from an object, leaving out empty values.
 * @param {Object<string, any>} [query]
 * @returns {string} `?a=1&b=2`, or empty
 */
export function qs(query) {
  if (!query) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  return s ? '?' + s : '';
}

/**
 * Calls the API with the session's token. Answers the parsed JSON (null for 204), or the
 * Response itself with `raw`. A 401 refreshes once and retries; if that fails the session
 * ends (`'ended'` event). A 403 `password_change_required` raises the `'password'` event.
 * @param {string} method
 * @param {string} path under /api/v1, e.g. `/review/items`
 * @param {{query?: Object<string, any>, body?: any, raw?: boolean}} [opts]
 * @returns {Promise<any>}
 */
export async function request(method, path, opts = {}) {
  const url = API + path + qs(opts.query);
  for (let attempt = 0; ; attempt++) {
    const headers = {};
    if (session) headers.Authorization = 'Bearer ' + session.access;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    let resp;
    try {
      resp = await fetch(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    } catch (e) {
      throw new ApiError(0, 'network', String(e && e.message || e));
    }
    if (resp.status === 401 && session) {
      const err = await errorOf(resp);
      if (attempt === 0 && err.code !== 'device_revoked' && await refresh()) continue;
      setSession(null);
      emit('ended', ENDED[err.code] || '登录已失效，请重新登录。');
      throw err;
    }
    if (!resp.ok) {
      const err = await errorOf(resp);
      if (err.code === 'password_change_required') emit('password', null);
      throw err;
    }
    if (opts.raw) return resp;
    if (resp.status === 204) return null;
    const text = await resp.text();
    return text ? JSON.parse(text) : null;
  }
}

/**
 * @param {string} path
 * @param {Object<string, any>} [query]
 * @returns {Promise<any>}
 */
export const get = (path, query) => request('GET', path, { query });

/**
 * @param {string} path
 * @param {any} [body]
 * @returns {Promise<any>}
 */
export const post = (path, body) => request('POST', path, { body: body === undefined ? {} : body });

/**
 * @param {string} path
 * @param {any} body
 * @returns {Promise<any>}
 */
export const patch = (path, body) => request('PATCH', path, { body });
