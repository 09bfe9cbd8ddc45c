// Times as the protocol wants them: clinical instants in RFC 3339 with the tablet's own
// offset (docs/sync-protocol.md §2), pulled back in UTC; dates in China time (UTC+8).

const CHINA_OFFSET_MS = 8 * 3600 * 1000;

/** @param {number} n @param {number} [w] */
const pad = (n, w = 2) => String(n).padStart(w, '0');

/**
 * An instant as RFC 3339 with the device's UTC offset, e.g. `2026-03-01T09:30:00+08:00`.
 * @param {Date} [d]
 * @returns {string}
 */
export function timestamp(d = new Date()) {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const a = Math.abs(off);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${sign}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/**
 * An RFC 3339 instant in the shape pull sends it: UTC with milliseconds (`…Z`). A value
 * that is not an instant is returned unchanged (the server will judge it).
 * @param {unknown} s
 * @returns {unknown}
 */
export function toUtc(s) {
  if (typeof s !== 'string') return s;
  const t = Date.parse(s);
  return Number.isNaN(t) ? s : new Date(t).toISOString();
}

/**
 * The calendar date (`YYYY-MM-DD`) in China time of an instant (default: now).
 * @param {Date|string} [d]
 * @returns {string}
 */
export function chinaDate(d = new Date()) {
  const t = typeof d === 'string' ? Date.parse(d) : d.getTime();
  if (Number.isNaN(t)) return String(d);
  return new Date(t + CHINA_OFFSET_MS).toISOString().slice(0, 10);
}

/**
 * The last day of a term of `months` months starting on `from` (`YYYY-MM-DD`): the day
 * before the anniversary, as the server's default contract term (docs/domain.md §2).
 * @param {string} from
 * @param {number} [months]
 * @returns {string}
 */
export function termEnd(from, months = 12) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(from);
  if (!m) return from;
  const y = Number(m[1]);
  const mo = Number(m[2]) - 1 + months;
  const day = Number(m[3]);
  // The anniversary's month may be shorter (29 Feb): clamp to its last day.
  const ty = y + Math.floor(mo / 12);
  const tm = mo % 12;
  const last = new Date(Date.UTC(ty, tm + 1, 0)).getUTCDate();
  const anniversary = Date.UTC(ty, tm, Math.min(day, last));
  return new Date(anniversary - 24 * 3600 * 1000).toISOString().slice(0, 10);
}
