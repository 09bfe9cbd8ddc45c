// Hash routes (`#/today`, `#/residents/{id}`…): the app is one page cached by the service
// worker, so every screen is a fragment of `/field/` and a reload offline lands on the
// same screen.

/**
 * @typedef {Object} Route
 * @property {string} name today | residents | resident | edit | register | sign | visit | survey | referral | sync | login
 * @property {string} [id] the record the screen is about (a resident id)
 */

const PATTERNS = [
  [/^\/today$/, 'today'],
  [/^\/residents$/, 'residents'],
  [/^\/residents\/([^/]+)\/edit$/, 'edit'],
  [/^\/residents\/([^/]+)$/, 'resident'],
  [/^\/register$/, 'register'],
  [/^\/sign\/([^/]+)$/, 'sign'],
  [/^\/visit\/([^/]+)$/, 'visit'],
  [/^\/survey\/([^/]+)$/, 'survey'],
  [/^\/referral\/([^/]+)$/, 'referral'],
  [/^\/sync$/, 'sync'],
];

/**
 * Reads a location hash.
 * @param {string} hash e.g. `#/residents/0190…`
 * @returns {Route} unknown hashes go to today's list
 */
export function parseRoute(hash) {
  const path = String(hash || '').replace(/^#/, '') || '/today';
  for (const [re, name] of PATTERNS) {
    const m = re.exec(path);
    if (m) return m[1] ? { name, id: decodeURIComponent(m[1]) } : { name };
  }
  return { name: 'today' };
}

/**
 * The hash of a screen.
 * @param {string} name
 * @param {string} [id]
 * @returns {string}
 */
export function href(name, id) {
  switch (name) {
    case 'resident': return '#/residents/' + encodeURIComponent(id);
    case 'edit': return '#/residents/' + encodeURIComponent(id) + '/edit';
    case 'sign': case 'visit': case 'survey': case 'referral': return '#/' + name + '/' + encodeURIComponent(id);
    default: return '#/' + name;
  }
}

/**
 * Goes to a screen.
 * @param {string} name
 * @param {string} [id]
 */
export function go(name, id) {
  location.hash = href(name, id);
}
