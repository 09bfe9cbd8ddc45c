// Hash routes: the console is the one page the binary serves at `/`, each screen a
// fragment of it (`#/review/0190…`, `#/audit?user_id=…`), so links, reloads and the
// browser's back button work without the server knowing about screens.

/**
 * @typedef {Object} Route
 * @property {string} name dashboard | review | review-item | devices | audit | staff | residents | resident | me
 * @property {string} [id] the record the screen is about
 * @property {Object<string, string>} query the hash's query (`#/audit?entity=resident`)
 */

const PATTERNS = [
  [/^\/?$/, 'dashboard'],
  [/^\/dashboard$/, 'dashboard'],
  [/^\/review$/, 'review'],
  [/^\/review\/([^/]+)$/, 'review-item'],
  [/^\/devices$/, 'devices'],
  [/^\/audit$/, 'audit'],
  [/^\/staff$/, 'staff'],
  [/^\/residents$/, 'residents'],
  [/^\/residents\/([^/]+)$/, 'resident'],
  [/^\/me$/, 'me'],
];

/**
 * Reads a location hash.
 * @param {string} hash e.g. `#/review/0190…?status=open`
 * @returns {Route} an unknown hash is the dashboard
 */
export function parseRoute(hash) {
  const raw = String(hash || '').replace(/^#/, '');
  const [path, search] = raw.split('?');
  const query = Object.fromEntries(new URLSearchParams(search || ''));
  for (const [re, name] of PATTERNS) {
    const m = re.exec(path);
    if (m) return m[1] ? { name, id: decodeURIComponent(m[1]), query } : { name, query };
  }
  return { name: 'dashboard', query };
}

/**
 * The hash of a screen.
 * @param {string} name a route name
 * @param {string|null} [id] the record, for review-item and resident
 * @param {Object<string, any>} [query] left out when empty
 * @returns {string}
 */
export function href(name, id, query) {
  let path;
  switch (name) {
    case 'review-item': path = '/review/' + encodeURIComponent(id || ''); break;
    case 'resident': path = '/residents/' + encodeURIComponent(id || ''); break;
    case 'dashboard': path = '/dashboard'; break;
    default: path = '/' + name;
  }
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return '#' + path + (s ? '?' + s : '');
}

/**
 * Goes to a screen.
 * @param {string} name
 * @param {string|null} [id]
 * @param {Object<string, any>} [query]
 */
export function go(name, id, query) {
  location.hash = href(name, id, query);
}

/** The console's screens in the order of the navigation bar, and who may use each. */
export const NAV = [
  { name: 'dashboard', label: '指标看板', roles: ['admin', 'supervisor', 'team_lead', 'doctor'] },
  { name: 'review', label: '审核队列', roles: ['admin', 'supervisor'] },
  { name: 'residents', label: '居民档案', roles: ['admin', 'supervisor'] },
  { name: 'staff', label: '人员与团队', roles: ['admin', 'supervisor'] },
  { name: 'devices', label: '设备管理', roles: ['admin', 'supervisor'] },
  { name: 'audit', label: '审计日志', roles: ['admin', 'supervisor'] },
  { name: 'me', label: '我的账号', roles: ['admin', 'supervisor', 'team_lead', 'doctor'] },
];

/**
 * The navigation entry a route belongs to.
 * @param {string} route
 * @returns {string}
 */
export function section(route) {
  if (route === 'review-item') return 'review';
  if (route === 'resident') return 'residents';
  return route;
}

/**
 * May this role use this screen?
 * @param {string} role
 * @param {string} route
 * @returns {boolean}
 */
export function allowed(role, route) {
  const entry = NAV.find((n) => n.name === section(route));
  return !!entry && entry.roles.includes(role);
}
