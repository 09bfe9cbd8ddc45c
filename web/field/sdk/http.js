// Requests to the server with the protocol's failure rules (docs/sync-protocol.md §2):
// network errors and 5xx back off exponentially, 429 and 503 wait `Retry-After` plus a
// random fraction of a second, each within a budget that one sync call shares, so a
// tablet with a bad network reports after a bounded time instead of spinning.

import { SyncError } from './errors.js';

/** The protocol version this SDK speaks (`X-Sync-Protocol`). */
export const PROTOCOL = '1';

/**
 * Retry settings.
 * @typedef {object} RetryOptions
 * @property {number} [attempts] network errors and 5xx retried per sync call (default 5)
 * @property {number} [baseMs] first back-off (default 500 ms), doubled each time
 * @property {number} [maxMs] longest back-off (default 30 s)
 * @property {number} [waits] 429/503 answers waited out per sync call (default 8)
 * @property {number} [maxWaitMs] longest Retry-After waited; beyond it the sync reports (default 5 min)
 */

/**
 * What is left of one sync call's retries.
 * @typedef {{ transient: number, waits: number }} Budget
 */

/**
 * A fresh retry budget.
 * @param {RetryOptions} retry
 * @returns {Budget}
 */
export function newBudget(retry) {
  return { transient: retry.attempts ?? 5, waits: retry.waits ?? 8 };
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Seconds of a `Retry-After` header (seconds or an HTTP date); undefined if absent.
 * @param {Response} resp
 * @returns {number|undefined}
 */
export function retryAfter(resp) {
  const v = resp.headers.get('retry-after');
  if (!v) return undefined;
  const n = Number(v);
  if (Number.isFinite(n)) return Math.max(0, n);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, (t - Date.now()) / 1000);
}

/**
 * The SyncError an error answer carries (`{ error: { code, message, field } }`).
 * @param {Response} resp
 * @returns {Promise<SyncError>}
 */
export async function errorOf(resp) {
  let body = null;
  try {
    body = await resp.json();
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  const e = body?.error ?? {};
  return new SyncError(e.code || `http_${resp.status}`, e.message || `the server answered ${resp.status}`, {
    status: resp.status,
    field: e.field ?? undefined,
    reason: typeof e.reason === 'string' ? e.reason : undefined,
    retryAfter: retryAfter(resp),
  });
}

/** Sends requests to one server. */
export class Http {
  /**
   * @param {{ baseUrl: string, fetch?: typeof fetch, timeoutMs?: number, retry?: RetryOptions, appVersion?: string }} opts
   */
  constructor(opts) {
    this.baseUrl = (opts.baseUrl ?? '').replace(/\/+$/, '');
    this.fetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.retry = opts.retry ?? {};
    this.appVersion = opts.appVersion;
  }

  /**
   * Back-off before retry number `k` (from 0): exponential, with full jitter in its
   * upper half so tablets that failed together do not retry together.
   * @param {number} k
   */
  backoff(k) {
    const base = this.retry.baseMs ?? 500;
    const max = this.retry.maxMs ?? 30_000;
    const d = Math.min(max, base * 2 ** k);
    return d / 2 + Math.random() * (d / 2);
  }

  /**
   * Sends one request, retrying network errors, 5xx, 429 and 503 within `budget`.
   * Returns every other answer (2xx, 4xx) for the caller to read.
   * @param {string} method
   * @param {string} path starting with `/`
   * @param {{ query?: Record<string, string|number|undefined>, json?: unknown, body?: BodyInit, headers?: Record<string, string>, budget?: Budget, timeoutMs?: number }} [opts]
   * @returns {Promise<Response>}
   */
  async send(method, path, opts = {}) {
    const budget = opts.budget ?? { transient: 0, waits: 0 };
    let url = this.baseUrl + path;
    const q = Object.entries(opts.query ?? {}).filter(([, v]) => v !== undefined && v !== null);
    if (q.length) url += `?${new URLSearchParams(q.map(([k, v]) => [k, String(v)]))}`;
    const headers = { ...(opts.headers ?? {}) };
    if (this.appVersion) headers['X-App-Version'] = this.appVersion;
    let body = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['Content-Type'] = 'application/json';
    }
    let failures = 0;
    for (;;) {
      const ctrl = new AbortController();
      const timer = setTimeout(() => ctrl.abort(), opts.timeoutMs ?? this.timeoutMs);
      let resp;
      try {
        resp = await this.fetch(url, { method, headers, body, signal: ctrl.signal, credentials: 'omit', cache: 'no-store' });
      } catch (cause) {
        // Offline, reset, timed out: the request may or may not have reached the server.
        // Every request of the protocol is safe to send again (op ids, refresh grace).
        clearTimeout(timer);
        // The browser knows it has no network (navigator.onLine is reliable when false):
        // retrying now would only delay the report.
        if (budget.transient <= 0 || globalThis.navigator?.onLine === false) {
          throw new SyncError('network', `cannot reach the server (${method} ${path})`, { cause });
        }
        budget.transient -= 1;
        await sleep(this.backoff(failures++));
        continue;
      }
      clearTimeout(timer);
      if (resp.status === 429 || resp.status === 503) {
        const wait = retryAfter(resp) ?? 1;
        if (budget.waits <= 0 || wait * 1000 > (this.retry.maxWaitMs ?? 300_000)) {
          const e = await errorOf(resp);
          throw new SyncError('busy', `the server asked to wait ${wait} s (${e.code})`, {
            status: resp.status,
            retryAfter: wait,
            serverCode: e.code,
          });
        }
        budget.waits -= 1;
        await resp.body?.cancel().catch(() => {});
        // Retry-After plus a random fraction of a second (docs/sync-protocol.md, intro).
        await sleep(wait * 1000 + Math.random() * 1000);
        continue;
      }
      if (resp.status >= 500) {
        if (budget.transient <= 0) {
          const e = await errorOf(resp);
          throw new SyncError('server_error', `the server kept failing (${resp.status} ${e.code})`, {
            status: resp.status,
            serverCode: e.code,
          });
        }
        budget.transient -= 1;
        await resp.body?.cancel().catch(() => {});
        await sleep(this.backoff(failures++));
        continue;
      }
      return resp;
    }
  }
}
