// Ids made on the tablet. Record ids are UUIDv7 (time-ordered, so the server's indexes
// stay compact and a list sorted by id is roughly sorted by creation); op ids and the
// device id are random UUIDv4. Both use crypto.getRandomValues, which (unlike
// crypto.randomUUID) also exists on pages served over plain http from a LAN address.

/**
 * Random bytes from the platform's cryptographic generator.
 * @param {number} n
 * @returns {Uint8Array}
 */
export function randomBytes(n) {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return b;
}

/** @param {Uint8Array} b @returns {string} */
function format(b) {
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

let lastMs = 0;
let lastTail = 0;

/**
 * A new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Ids made in
 * the same millisecond still sort in the order they were made (a 12-bit counter).
 * @returns {string}
 */
export function uuidv7() {
  const b = randomBytes(16);
  let ms = Date.now();
  if (ms <= lastMs) {
    // Same millisecond (or the clock stepped back): count up inside the last one.
    lastTail += 1;
    if (lastTail > 0xfff) {
      lastMs += 1;
      lastTail = 0;
    }
    ms = lastMs;
  } else {
    lastMs = ms;
    lastTail = ((b[6] & 0x07) << 8) | b[7]; // start low, leaving room to count up
  }
  const hi = Math.floor(ms / 0x100000000);
  const lo = ms >>> 0;
  b[0] = (hi >>> 8) & 0xff;
  b[1] = hi & 0xff;
  b[2] = (lo >>> 24) & 0xff;
  b[3] = (lo >>> 16) & 0xff;
  b[4] = (lo >>> 8) & 0xff;
  b[5] = lo & 0xff;
  b[6] = 0x70 | ((lastTail >>> 8) & 0x0f);
  b[7] = lastTail & 0xff;
  b[8] = (b[8] & 0x3f) | 0x80;
  return format(b);
}

/**
 * A new random UUIDv4.
 * @returns {string}
 */
export function uuidv4() {
  const b = randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  return format(b);
}
