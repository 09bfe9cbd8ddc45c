// Signature images and photos (docs/sync-protocol.md §5): kept on the tablet by SHA-256 and
// uploaded on sync, HEAD first (the bytes may be there already, e.g. after a reinstall)
// and then PUT. Each blob's upload state is stored, so an interrupted sync goes on with
// the blobs not yet uploaded.

import { errorOf } from './http.js';
import { sha256Hex } from './sha256.js';
import { inTx } from './store.js';

/** The content types the server stores (anything else answers 415). */
export const BLOB_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'application/pdf'];

/**
 * A stored blob.
 * @typedef {{ sha256: string, type: string, size: number, bytes: ArrayBuffer, state: 'pending'|'uploaded'|'failed', error?: { code: string, message: string }, createdAt: string }} StoredBlob
 */

/**
 * Stores bytes as a blob to upload; returns its SHA-256 (hex), the name records use.
 * @param {any} db
 * @param {ArrayBuffer|ArrayBufferView|Blob} bytes
 * @param {string} type one of BLOB_TYPES
 * @param {number} [maxBytes] the server's `max_blob_bytes`, when known
 * @returns {Promise<string>}
 */
export async function putBlob(db, bytes, type, maxBytes) {
  const t = String(type ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
  if (!BLOB_TYPES.includes(t)) throw new TypeError(`blob type must be one of: ${BLOB_TYPES.join(', ')}`);
  let buf;
  if (typeof Blob !== 'undefined' && bytes instanceof Blob) buf = await bytes.arrayBuffer();
  else if (bytes instanceof ArrayBuffer) buf = bytes.slice(0);
  else if (ArrayBuffer.isView(bytes)) buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  else throw new TypeError('bytes must be an ArrayBuffer, a typed array or a Blob');
  if (buf.byteLength === 0) throw new TypeError('a blob needs at least one byte');
  if (maxBytes && buf.byteLength > maxBytes) throw new TypeError(`a blob is at most ${maxBytes} bytes`);
  const sha256 = await sha256Hex(new Uint8Array(buf));
  await inTx(db, 'blobs', async (tx) => {
    const held = await tx.store.get(sha256);
    if (!held)
      await tx.store.put({
        sha256,
        type: t,
        size: buf.byteLength,
        bytes: buf,
        state: 'pending',
        createdAt: new Date().toISOString(),
      });
  });
  return sha256;
}

/**
 * Uploads every pending blob; returns how many reached the server. A blob the server
 * refuses for what it is (type, size, hash) is marked failed and not sent again.
 * @param {any} db
 * @param {import('./session.js').Auth} auth
 * @param {import('./http.js').Budget} budget
 * @returns {Promise<number>}
 */
export async function uploadBlobs(db, auth, budget) {
  const keys = await db.getAllKeysFromIndex('blobs', 'state', 'pending');
  let uploaded = 0;
  for (const sha256 of keys) {
    const b = await db.get('blobs', sha256);
    if (!b || b.state !== 'pending') continue;
    const path = `/api/v1/blobs/${sha256}`;
    const head = await auth.call('HEAD', path, { budget });
    let done = head.status === 200;
    if (!done && head.status !== 404) throw await errorOf(head);
    if (!done) {
      const put = await auth.call('PUT', path, { body: b.bytes, headers: { 'Content-Type': b.type }, budget });
      if (put.status === 200 || put.status === 201) done = true;
      else if (put.status === 400) {
        // incomplete_body: cut off on the way; the next sync sends it again.
        throw await errorOf(put);
      } else {
        const e = await errorOf(put);
        await markBlob(db, sha256, 'failed', { code: e.code, message: e.message });
        continue;
      }
    }
    await markBlob(db, sha256, 'uploaded');
    uploaded += 1;
  }
  return uploaded;
}

/**
 * @param {any} db
 * @param {string} sha256
 * @param {'uploaded'|'failed'} state
 * @param {{ code: string, message: string }} [error]
 */
async function markBlob(db, sha256, state, error) {
  await inTx(db, 'blobs', async (tx) => {
    const b = await tx.store.get(sha256);
    if (b) await tx.store.put({ ...b, state, ...(error ? { error } : {}) });
  });
}
