// Numbers and times as the console shows them: digits grouped the Chinese way
// (12,345), instants in China time whatever the browser's own zone, dates as written.

const DATE_TIME = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
const DATE = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' });

/**
 * A whole number with thousands separators; `—` for none.
 * @param {number|null|undefined} n
 * @returns {string}
 */
export function num(n) {
  return n === null || n === undefined || Number.isNaN(Number(n)) ? '—' : Number(n).toLocaleString('zh-CN');
}

/**
 * A rate (0–1) as a percentage with two decimals; `—` when there is none.
 * @param {number|null|undefined} r
 * @returns {string}
 */
export function pct(r) {
  return r === null || r === undefined ? '—' : (r * 100).toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 }) + '%';
}

/**
 * An instant (RFC 3339 text or epoch milliseconds) in China time, `2026/03/01 09:30:00`.
 * @param {string|number|null|undefined} v
 * @returns {string}
 */
export function dateTime(v) {
  if (v === null || v === undefined || v === '') return '—';
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : DATE_TIME.format(d);
}

/**
 * A calendar date. `YYYY-MM-DD` text is shown as written (a birth date has no zone);
 * an instant is shown as its day in China.
 * @param {string|number|null|undefined} v
 * @returns {string}
 */
export function date(v) {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v)) return v.replace(/-/g, '/');
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : DATE.format(d);
}

/**
 * Today in China as `YYYY-MM-DD`.
 * @returns {string}
 */
export function chinaToday() {
  return new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
}

/**
 * A `datetime-local` input's value (China wall time) as RFC 3339 with +08:00.
 * @param {string} local e.g. `2026-03-01T09:30`
 * @returns {string} empty when the input is empty
 */
export function localToRfc3339(local) {
  if (!local) return '';
  const s = local.length === 16 ? local + ':00' : local.slice(0, 19);
  return s + '+08:00';
}

/**
 * The inverse of {@link localToRfc3339}: an instant as a `datetime-local` value in China time.
 * @param {string} rfc
 * @returns {string}
 */
export function rfc3339ToLocal(rfc) {
  if (!rfc) return '';
  const d = new Date(rfc);
  if (Number.isNaN(d.getTime())) return '';
  return new Date(d.getTime() + 8 * 3600e3).toISOString().slice(0, 16);
}

/**
 * The last eight characters of an id, for tables (ids are UUIDv7: their first characters
 * are a timestamp, the same for everything made in the same minutes).
 * @param {string|null|undefined} id
 * @returns {string}
 */
export function shortId(id) {
  return id ? String(id).slice(-8) : '—';
}

/**
 * A value of a record (a review item's side, an op's data) as one line of text.
 * @param {any} v
 * @returns {string}
 */
export function plain(v) {
  if (v === null || v === undefined || v === '') return '（空）';
  if (Array.isArray(v)) return v.length ? v.map(plain).join('、') : '（无）';
  if (typeof v === 'object') return JSON.stringify(v);
  if (typeof v === 'boolean') return v ? '是' : '否';
  return String(v);
}
