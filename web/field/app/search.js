// Finding a resident by name or household on a cheap tablet: one lower-cased search key
// per resident is built once when the records change, so each keystroke is a single pass
// of `includes` over plain strings (well under 100 ms for 5,000 residents; the test
// measures it), and only the first rows are drawn, since drawing is what costs on such a
// tablet, not matching.

/**
 * @typedef {Object} SearchIndex
 * @property {Object[]} residents sorted by village, household, name
 * @property {string[]} keys one lower-cased key per resident, same order
 */

/** Rows drawn at most; the doctor narrows the search rather than scroll thousands. */
export const MAX_ROWS = 100;

/**
 * Builds the index over the live residents.
 * @param {Object[]} residents residents as pulled or recorded
 * @returns {SearchIndex}
 */
export function buildIndex(residents) {
  const live = residents.filter((r) => r && !r.deleted && !r.merged_into);
  live.sort((a, b) =>
    cmp(a.village_code, b.village_code) || cmp(a.household_id || '', b.household_id || '') || cmp(a.name, b.name) || cmp(a.id, b.id));
  const keys = live.map((r) => (r.name + '\u0001' + (r.household_id || '') + '\u0001' + (r.phone || '')).toLowerCase());
  return { residents: live, keys };
}

function cmp(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Residents whose name, household id or phone contain every word of the query.
 * @param {SearchIndex} index
 * @param {string} query words separated by spaces; empty finds everyone
 * @param {{village?: string, limit?: number}} [opts] `village`: only that village
 * @returns {{rows: Object[], total: number}} the first `limit` matches and how many matched
 */
export function search(index, query, opts = {}) {
  const words = String(query || '').toLowerCase().split(/\s+/).filter(Boolean);
  const limit = opts.limit ?? MAX_ROWS;
  const village = opts.village || '';
  const rows = [];
  let total = 0;
  const { residents, keys } = index;
  for (let i = 0; i < keys.length; i++) {
    if (village && residents[i].village_code !== village) continue;
    const key = keys[i];
    let hit = true;
    for (let w = 0; w < words.length; w++) {
      if (key.indexOf(words[w]) < 0) { hit = false; break; }
    }
    if (!hit) continue;
    total++;
    if (rows.length < limit) rows.push(residents[i]);
  }
  return { rows, total };
}
