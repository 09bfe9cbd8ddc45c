// The one error type the SDK throws for anything the server or the network did, so an
// app can switch on `code` (stable) and show `message` (English, for developers).

/**
 * Codes of the SDK's own (beyond the server's codes of docs/sync-protocol.md §8, which
 * pass through unchanged in `code`):
 * - `login_required`: no session, or the session ended (refresh refused): log in again;
 *   the queue and local data are kept.
 * - `device_revoked`: a supervisor revoked this device; the local store has been wiped.
 * - `upgrade_required`: the server does not speak this SDK's protocol (426); queue kept.
 * - `network`: the server could not be reached after the attempts allowed for one sync.
 * - `server_error`: the server kept failing (5xx) after the attempts allowed.
 * - `busy`: the server kept answering 429/503 beyond the waits allowed for one sync.
 * - `resync_failed`: a re-sync was needed twice in one sync call.
 * - `malformed_answer`: an answer lacked what the protocol promises (a bug on one side).
 * - `login_failed`: logged in, but `GET /api/v1/me` failed.
 * - `internal`: an unexpected error inside the SDK (`cause` holds it).
 * @typedef {'login_required'|'device_revoked'|'upgrade_required'|'network'|'server_error'|'busy'|'resync_failed'|'malformed_answer'|'login_failed'|'internal'|string} ErrorCode
 */

/** An error of the sync SDK: `code` is stable, `message` is for people. */
export class SyncError extends Error {
  /**
   * @param {ErrorCode} code
   * @param {string} message
   * @param {{ status?: number, field?: string, reason?: string, retryAfter?: number, serverCode?: string, pending?: number, cause?: unknown }} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message);
    this.name = 'SyncError';
    /** @type {ErrorCode} */
    this.code = code;
    /** HTTP status of the answer that caused it, if any. @type {number|undefined} */
    this.status = extra.status;
    /** The field the server named, if any. @type {string|undefined} */
    this.field = extra.field;
    /**
     * The server's `reason`, where one code has causes to tell apart (`resync_required`:
     * `scope_changed` or `server_restored`). @type {string|undefined}
     */
    this.reason = extra.reason;
    /** Seconds the server asked to wait (Retry-After), if any. @type {number|undefined} */
    this.retryAfter = extra.retryAfter;
    /** The server's own error code when `code` is one of the SDK's. @type {string|undefined} */
    this.serverCode = extra.serverCode;
    /** Ops that were waiting in the queue (set on `device_revoked`). @type {number|undefined} */
    this.pending = extra.pending;
    /** What the sync had done before it stopped (set by `sync()`). @type {object|undefined} */
    this.summary = undefined;
    if (extra.cause !== undefined) this.cause = extra.cause;
  }
}
