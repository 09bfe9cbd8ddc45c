// Calendar arithmetic in China Standard Time (UTC+8, no daylight saving).
//
// The server counts every clinical date in China time (docs/sync-protocol.md §6: dates are
// `YYYY-MM-DD` "in China time"; the work list's "today" is China's today), so the app does
// the same whatever time zone the tablet was set to; otherwise a visit at 07:00 in Beijing
// on a tablet left on UTC would land on the previous day locally but not on the server.
// Dates are plain `YYYY-MM-DD` strings: they compare correctly as strings.

const CST_MS = 8 * 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;

/** @param {number} n @returns {string} */
function pad(n) {
  return n < 10 ? '0' + n : String(n);
}

/**
 * The China-time calendar date of an instant.
 * @param {Date|number|string} instant a Date, epoch ms, or an RFC 3339 string
 * @returns {string} `YYYY-MM-DD`
 */
export function chinaDate(instant) {
  const ms = instant instanceof Date ? instant.getTime() : typeof instant === 'number' ? instant : Date.parse(instant);
  const d = new Date(ms + CST_MS);
  return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate());
}

/**
 * Today in China time.
 * @param {Date} [now]
 * @returns {string} `YYYY-MM-DD`
 */
export function today(now = new Date()) {
  return chinaDate(now);
}

/**
 * An instant as RFC 3339 with the `+08:00` offset and whole seconds, the form clinical
 * times are pushed in (docs/sync-protocol.md §2, "Clinical times are RFC 3339 with the
 * tablet's offset").
 * @param {Date} [now]
 * @returns {string} e.g. `2026-03-01T09:30:00+08:00`
 */
export function rfc3339China(now = new Date()) {
  const d = new Date(Math.floor(now.getTime() / 1000) * 1000 + CST_MS);
  return (
    d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) +
    'T' + pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds()) + '+08:00'
  );
}

/**
 * A date as days since 1970-01-01 (for differences).
 * @param {string} date `YYYY-MM-DD`
 * @returns {number}
 */
export function dayNumber(date) {
  return Math.round(Date.UTC(+date.slice(0, 4), +date.slice(5, 7) - 1, +date.slice(8, 10)) / DAY_MS);
}

/**
 * @param {number} n days since 1970-01-01
 * @returns {string} `YYYY-MM-DD`
 */
export function fromDayNumber(n) {
  const d = new Date(n * DAY_MS);
  return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate());
}

/**
 * @param {string} date `YYYY-MM-DD`
 * @param {number} days may be negative
 * @returns {string}
 */
export function addDays(date, days) {
  return fromDayNumber(dayNumber(date) + days);
}

/**
 * Whole days from `a` to `b` (positive when `b` is later).
 * @param {string} a @param {string} b
 * @returns {number}
 */
export function daysBetween(a, b) {
  return dayNumber(b) - dayNumber(a);
}

/**
 * Is `date` a real calendar date in `YYYY-MM-DD` form?
 * @param {string} date
 * @returns {boolean}
 */
export function isRealDate(date) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) return false;
  return fromDayNumber(dayNumber(date)) === date;
}

/**
 * The calendar quarter (Jan–Mar, Apr–Jun, Jul–Sep, Oct–Dec) a date falls in.
 * @param {string} date
 * @returns {{start: string, end: string}}
 */
export function quarterOf(date) {
  const y = +date.slice(0, 4);
  const firstMonth = Math.floor((+date.slice(5, 7) - 1) / 3) * 3 + 1;
  const start = y + '-' + pad(firstMonth) + '-01';
  const next = firstMonth === 10 ? (y + 1) + '-01-01' : y + '-' + pad(firstMonth + 3) + '-01';
  return { start, end: addDays(next, -1) };
}

/**
 * The quarter before the one `date` falls in.
 * @param {string} date
 * @returns {{start: string, end: string}}
 */
export function previousQuarter(date) {
  return quarterOf(addDays(quarterOf(date).start, -1));
}

/**
 * Age in whole years on a date (the birthday itself counts), as the server's `age_on`.
 * @param {string} birth `YYYY-MM-DD`
 * @param {string} on `YYYY-MM-DD`
 * @returns {number}
 */
export function ageOn(birth, on) {
  let age = +on.slice(0, 4) - +birth.slice(0, 4);
  if (on.slice(5) < birth.slice(5)) age -= 1;
  return age;
}

/**
 * A short Chinese form of an instant for lists: `3月1日 09:30` (China time).
 * @param {string|number|null|undefined} instant
 * @returns {string}
 */
export function shortTime(instant) {
  if (instant === null || instant === undefined || instant === '') return '—';
  const ms = typeof instant === 'number' ? instant : Date.parse(instant);
  if (Number.isNaN(ms)) return '—';
  const d = new Date(ms + CST_MS);
  return (d.getUTCMonth() + 1) + '月' + d.getUTCDate() + '日 ' + pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes());
}
