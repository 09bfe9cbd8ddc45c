// One sync: bootstrap (first sync, or after a re-sync), after a server restore push the
// answered ops again (restore.js), push the queue in batches, upload blobs, pull by
// cursor, refresh the questionnaires. Every step stores its progress as it
// goes (a pulled page with its cursor, a push answer with the queue), so a sync stopped
// anywhere — a killed tab, a lost network — goes on from there when called again.

import { SyncError } from './errors.js';
import { errorOf } from './http.js';
import { isCheckpoint, storeResults, takeBatch } from './queue.js';
import { applyChanges, dropSyncedCopy } from './replica.js';
import { uploadBlobs } from './blobs.js';
import { finishRestore, markRestore, pruneAcked, storeResent, takeAcked } from './restore.js';
import { getMeta, inTx, setMeta } from './store.js';

/**
 * What a sync did.
 * @typedef {object} SyncSummary
 * @property {number} pushed ops answered by the server
 * @property {number} applied
 * @property {number} duplicate
 * @property {number} conflict
 * @property {number} rejected
 * @property {number} pulled records received (bootstrap and pull)
 * @property {number} bootstrapped of them, by bootstrap
 * @property {number} blobs blobs uploaded
 * @property {boolean} resynced the re-sync procedure ran
 * @property {number} resent answered ops sent again after a server restore
 * @property {number} restored of them, ops the server had lost and took again
 */

/**
 * What a sync needs.
 * @typedef {object} SyncContext
 * @property {any} db
 * @property {import('./session.js').Auth} auth
 * @property {import('./http.js').Budget} budget
 * @property {string} deviceId
 * @property {{ batchSize?: number, pullLimit: number, bootstrapLimit: number, ackedRetentionDays: number, ackedMaxOps: number }} options
 * @property {(reason: string) => void} changed tells the app the local copy changed
 * @property {(done: import('./restore.js').RestoreProgress) => void} [restored] tells the
 *   app a resend after a server restore ended (what it did)
 */

/** Codes after which the synced copy cannot be brought up to date by pulling (§3). */
const RESYNC = ['resync_required', 'invalid_cursor', 'invalid_page'];

/**
 * Reads a JSON answer, or throws its error.
 * @param {Response} resp
 */
async function json(resp) {
  if (!resp.ok) throw await errorOf(resp);
  return resp.json();
}

/**
 * Runs one sync.
 * @param {SyncContext} ctx
 * @returns {Promise<SyncSummary>}
 */
export async function runSync(ctx) {
  /** @type {SyncSummary} */
  const summary = {
    pushed: 0,
    applied: 0,
    duplicate: 0,
    conflict: 0,
    rejected: 0,
    pulled: 0,
    bootstrapped: 0,
    blobs: 0,
    resynced: false,
    resent: 0,
    restored: 0,
  };
  try {
    const me = await json(await ctx.auth.call('GET', '/api/v1/me', { budget: ctx.budget }));
    await setMeta(ctx.db, 'me', me);
    const keep = { days: ctx.options.ackedRetentionDays, maxOps: ctx.options.ackedMaxOps };
    await pruneAcked(ctx.db, keep);
    // Each cause of a re-sync at most once per call: a restore found after a scope change.
    const resyncs = new Set();
    for (;;) {
      try {
        if (!(await getMeta(ctx.db, 'cursor'))) await bootstrap(ctx, summary);
        if (await getMeta(ctx.db, 'restore')) await resend(ctx, summary, me.limits ?? {});
        await push(ctx, summary, me.limits ?? {}, keep.days > 0 && keep.maxOps > 0);
        summary.blobs += await uploadBlobs(ctx.db, ctx.auth, ctx.budget);
        await pull(ctx, summary);
        break;
      } catch (e) {
        if (!(e instanceof SyncError) || !RESYNC.includes(e.code)) throw e;
        // Only a restored server lost what it acknowledged; after a scope change the
        // kept ops are not sent again (those about records that left the scope would
        // only fill the supervisors' review queue).
        const restored = e.reason === 'server_restored';
        const cause = restored ? 'restore' : 'scope';
        if (resyncs.has(cause)) {
          throw new SyncError('resync_failed', `the server asked for a re-sync again (${e.code})`, {
            status: e.status,
            serverCode: e.code,
            reason: e.reason,
          });
        }
        // Re-sync (§3): drop the synced copy, keep the queue, bootstrap, (after a
        // restore: push the kept answered ops again,) push the queue, pull.
        resyncs.add(cause);
        summary.resynced = true;
        await dropSyncedCopy(ctx.db, restored ? { stores: ['blobs'], also: markRestore } : undefined);
        ctx.changed('resync');
      }
    }
    await refreshCatalog(ctx);
    await setMeta(ctx.db, 'lastSyncAt', new Date().toISOString());
    return summary;
  } catch (e) {
    if (e && typeof e === 'object') e.summary = summary;
    throw e;
  }
}

/**
 * Bootstrap, page by page from the stored page token (none: the first page). Each page is
 * stored with the next page's token in one transaction, so a failed or interrupted page
 * is fetched again alone, never the pages before it.
 * @param {SyncContext} ctx
 * @param {SyncSummary} summary
 */
async function bootstrap(ctx, summary) {
  const fetchPage = (page) =>
    ctx.auth
      .call('GET', '/api/v1/sync/bootstrap', {
        query: { limit: ctx.options.bootstrapLimit, page },
        budget: ctx.budget,
        sync: true,
      })
      .then(json);
  let next = fetchPage(await getMeta(ctx.db, 'bootstrapPage'));
  for (;;) {
    const body = await next;
    const records = Array.isArray(body.records) ? body.records : [];
    const last = !body.next_page;
    if (last && !body.cursor) throw new SyncError('malformed_answer', 'the last bootstrap page has no cursor');
    // The next page is fetched while this one is stored. Its token is stored with this
    // page's records, so an interrupted sync still resumes at the first page not stored.
    if (!last) {
      next = fetchPage(body.next_page);
      next.catch(() => {}); // awaited on the next turn; a failed store leaves it unread
    }
    await inTx(ctx.db, ['server', 'records', 'queue', 'meta', 'questionnaires', 'packages'], async (tx) => {
      await applyChanges(tx, records);
      const meta = tx.objectStore('meta');
      if (last) {
        await meta.put(body.cursor, 'cursor');
        await meta.delete('bootstrapPage');
        for (const q of body.questionnaires ?? []) await tx.objectStore('questionnaires').put(q);
        if (Array.isArray(body.packages)) await replacePackages(tx.objectStore('packages'), body.packages);
      } else {
        await meta.put(body.next_page, 'bootstrapPage');
      }
    });
    summary.pulled += records.length;
    summary.bootstrapped += records.length;
    if (records.length) ctx.changed('bootstrap');
    if (last) return;
  }
}

/**
 * The stored checkpoint as the header that carries it (docs/sync-protocol.md §2), if any.
 * @param {SyncContext} ctx
 * @returns {Promise<Record<string, string>|undefined>}
 */
async function checkpointHeader(ctx) {
  const checkpoint = await getMeta(ctx.db, 'checkpoint');
  return isCheckpoint(checkpoint) ? { 'X-Sync-Checkpoint': checkpoint } : undefined;
}

/**
 * Pushes batches taken by `take` in order, each of at most `max_batch_ops` ops (and below
 * `max_body_bytes`) with the stored checkpoint, storing each answer (`store`, which
 * answers how many ops it took) before the next batch.
 * @template T
 * @param {SyncContext} ctx
 * @param {{ max_batch_ops?: number, max_body_bytes?: number }} limits
 * @param {(max: number, maxBytes: number) => Promise<T[]>} take
 * @param {(batch: T[], answer: any) => Promise<number>} store
 */
async function pushBatches(ctx, limits, take, store) {
  let max = Math.max(1, Math.min(limits.max_batch_ops ?? 1000, ctx.options.batchSize ?? Infinity));
  const maxBytes = Math.floor((limits.max_body_bytes ?? 16 * 1024 * 1024) * 0.9);
  for (;;) {
    const batch = await take(max, maxBytes);
    if (batch.length === 0) return;
    const resp = await ctx.auth.call('POST', '/api/v1/sync/push', {
      json: { device_id: ctx.deviceId, ops: batch.map((e) => /** @type {any} */ (e).op) },
      headers: await checkpointHeader(ctx),
      budget: ctx.budget,
      sync: true,
    });
    if (resp.status === 413 && batch.length > 1) {
      // Too large for this server after all: nothing was applied, send halves.
      await resp.body?.cancel().catch(() => {});
      max = Math.ceil(batch.length / 2);
      continue;
    }
    const answered = await store(batch, await json(resp));
    ctx.changed('push');
    if (answered === 0) {
      // The same ops would be sent again and again.
      throw new SyncError('malformed_answer', 'the server answered none of the batch');
    }
  }
}

/**
 * Pushes the queue in order; answered ops are kept in `acked` when `keep`.
 * @param {SyncContext} ctx
 * @param {SyncSummary} summary
 * @param {{ max_batch_ops?: number, max_body_bytes?: number }} limits
 * @param {boolean} keep
 */
async function push(ctx, summary, limits, keep) {
  await pushBatches(
    ctx,
    limits,
    (max, maxBytes) => takeBatch(ctx.db, max, maxBytes),
    async (batch, answer) => {
      const counts = await storeResults(ctx.db, batch, answer.results, answer.checkpoint, keep);
      summary.pushed += counts.answered;
      summary.applied += counts.applied;
      summary.duplicate += counts.duplicate;
      summary.conflict += counts.conflict;
      summary.rejected += counts.rejected;
      return counts.answered;
    },
  );
}

/**
 * After a server restore: pushes the kept answered ops again, in their order, from where
 * the resend stopped, then ends it and tells the app (restore.js).
 * @param {SyncContext} ctx
 * @param {SyncSummary} summary
 * @param {{ max_batch_ops?: number, max_body_bytes?: number }} limits
 */
async function resend(ctx, summary, limits) {
  await pushBatches(
    ctx,
    limits,
    async (max, maxBytes) => {
      const progress = await getMeta(ctx.db, 'restore');
      return progress ? takeAcked(ctx.db, progress.after, max, maxBytes) : [];
    },
    async (batch, answer) => {
      const done = await storeResent(ctx.db, batch, answer.results, answer.checkpoint);
      summary.resent += done.resent;
      summary.restored += done.restored;
      return done.answered;
    },
  );
  const done = await finishRestore(ctx.db);
  if (done) ctx.restored?.(done);
}

/**
 * Pulls from the stored cursor while `has_more`; each page is stored with its cursor.
 * @param {SyncContext} ctx
 * @param {SyncSummary} summary
 */
async function pull(ctx, summary) {
  let cursor = await getMeta(ctx.db, 'cursor');
  for (;;) {
    const body = await json(
      await ctx.auth.call('GET', '/api/v1/sync/pull', {
        query: { cursor, limit: ctx.options.pullLimit },
        headers: await checkpointHeader(ctx),
        budget: ctx.budget,
        sync: true,
      }),
    );
    const changes = Array.isArray(body.changes) ? body.changes : [];
    await inTx(ctx.db, ['server', 'records', 'queue', 'meta'], async (tx) => {
      await applyChanges(tx, changes);
      if (body.cursor) await tx.objectStore('meta').put(body.cursor, 'cursor');
    });
    summary.pulled += changes.length;
    if (changes.length) ctx.changed('pull');
    if (!body.has_more || !body.cursor || body.cursor === cursor) return;
    cursor = body.cursor;
  }
}

/**
 * Learns new questionnaire versions and the package catalog as it is now (neither is in
 * the pull; docs/sync-protocol.md §4 and §7). Kept questionnaire versions are never
 * dropped: responses on them are still accepted. The catalog is replaced whole: retired
 * packages come back with `active: false`. A failure here does not fail the sync, except
 * one that concerns the session.
 * @param {SyncContext} ctx
 */
async function refreshCatalog(ctx) {
  const fetchList = async (path) => {
    try {
      const list = await json(await ctx.auth.call('GET', path, { budget: ctx.budget }));
      return Array.isArray(list) ? list : null;
    } catch (e) {
      if (e instanceof SyncError && ['device_revoked', 'login_required', 'upgrade_required'].includes(e.code)) throw e;
      return null;
    }
  };
  const questionnaires = await fetchList('/api/v1/questionnaires');
  if (questionnaires) {
    await inTx(ctx.db, 'questionnaires', async (tx) => {
      for (const q of questionnaires) await tx.store.put(q);
    });
  }
  const packages = await fetchList('/api/v1/packages');
  if (packages) await inTx(ctx.db, 'packages', (tx) => replacePackages(tx.store, packages));
}

/**
 * Replaces the stored catalog with `list` (inside the caller's transaction).
 * @param {any} store the `packages` object store
 * @param {object[]} list
 */
async function replacePackages(store, list) {
  await store.clear();
  for (const p of list) if (p && typeof p.code === 'string') await store.put(p);
}
