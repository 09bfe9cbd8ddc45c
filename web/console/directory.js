// Names for the ids the API answers with: villages and townships (region codes), teams,
// users and devices. Review items, devices and audit entries carry ids only; the console
// looks the names up once per session and redraws when they arrive. Each list comes from
// the endpoint made for it where the caller may read it, else from what else tells it
// (the team breakdown of the coverage report, the device list's user names).

import { useEffect, useState } from './html.js';
import { get } from './api.js';
import { getState } from './store.js';

/** @type {Map<string, string>} region code → name */
const regions = new Map();
/** @type {Map<string, string>} region code → parent code */
const parents = new Map();
/** @type {Map<string, any>} team id → team (`id, code, name, township_code, villages?`) */
const teams = new Map();
/** @type {Map<string, any>} user id → `{ id, username, display_name, role, team_id }` */
const users = new Map();
/** @type {Map<string, any>} device id (the server's) → DeviceView */
const devices = new Map();

const loaded = { regions: null, teams: null, users: null, devices: null };
const listeners = new Set();
let version = 0;

function changed() {
  version++;
  for (const fn of listeners) fn(version);
}

/** Forgets everything (at log-out: the next user may see less). */
export function clearDirectory() {
  for (const m of [regions, parents, teams, users, devices]) m.clear();
  for (const k of Object.keys(loaded)) loaded[k] = null;
  changed();
}

/**
 * Remembers region names (from a report, a children list…).
 * @param {{code: string, name: string, parent_code?: string|null}[]} list
 */
export function noteRegions(list) {
  let any = false;
  for (const r of list || []) {
    if (r && r.code && r.name && regions.get(r.code) !== r.name) { regions.set(r.code, r.name); any = true; }
    if (r && r.code && r.parent_code) parents.set(r.code, r.parent_code);
  }
  if (any) changed();
}

/**
 * Remembers users (from the staff list).
 * @param {any[]} list
 */
export function noteUsers(list) {
  for (const u of list || []) if (u && u.id) users.set(u.id, { ...users.get(u.id), ...u });
  changed();
}

/**
 * Remembers devices (from the device list).
 * @param {any[]} list
 */
export function noteDevices(list) {
  for (const d of list || []) if (d && d.id) devices.set(d.id, d);
  changed();
}

/**
 * The child regions of a region (cached).
 * @param {string} code
 * @returns {Promise<any[]>}
 */
export async function childrenOf(code) {
  const key = 'children:' + code;
  if (!childCache.has(key)) {
    childCache.set(key, get('/regions/' + code + '/children').then((list) => { noteRegions(list); return list; })
      .catch((e) => { childCache.delete(key); throw e; }));
  }
  return childCache.get(key);
}
const childCache = new Map();

async function loadRegions() {
  const me = getState().me;
  if (!me) return;
  const root = me.region_code;
  const kids = await childrenOf(root).catch(() => []);
  // A county's townships have villages below them.
  if (root.endsWith('000000')) await Promise.all(kids.map((k) => childrenOf(k.code).catch(() => [])));
  // A township's own name: its county lists it (a supervisor reads that far).
  else await childrenOf(root.slice(0, 6) + '000000').catch(() => []);
}

async function loadTeams() {
  const me = getState().me;
  if (!me) return;
  try {
    const page = await get('/admin/teams');
    for (const t of page.items || []) teams.set(t.id, t);
  } catch (_) {
    // Before the teams endpoint: the coverage report broken down by team names them.
    const year = new Date(Date.now() + 8 * 3600e3).getUTCFullYear();
    const r = await get('/reports/coverage', { region: me.region_code, period: String(year), group_by: 'team' });
    for (const g of r.groups || []) if (!teams.has(g.code)) teams.set(g.code, { id: g.code, name: g.name });
  }
}

async function loadUsers() {
  const me = getState().me;
  if (!me) return;
  let cursor;
  // A county has a few hundred staff at most: every page, up to a bound.
  for (let i = 0; i < 20; i++) {
    const page = await get('/admin/users', { limit: 200, cursor });
    for (const u of page.items || []) users.set(u.id, u);
    cursor = page.cursor || page.next_cursor;
    if (!cursor) break;
  }
}

async function loadDevices() {
  const list = await get('/devices');
  for (const d of list || []) devices.set(d.id, d);
}

const LOADERS = { regions: loadRegions, teams: loadTeams, users: loadUsers, devices: loadDevices };

/**
 * Loads the named lists once per session (again with `force`).
 * @param {('regions'|'teams'|'users'|'devices')[]} kinds
 * @param {boolean} [force]
 * @returns {Promise<void>}
 */
export function ensure(kinds, force) {
  const role = getState().me && getState().me.role;
  const staff = role === 'admin' || role === 'supervisor';
  return Promise.all(kinds.map((k) => {
    if ((k === 'users' || k === 'devices') && !staff) return null;
    if (!loaded[k] || force) {
      loaded[k] = LOADERS[k]().catch(() => { /* names are a help, not a need: ids stay shown */ }).then(changed);
    }
    return loaded[k];
  })).then(() => {});
}

/**
 * Redraws the calling component when names arrive, after asking for the named lists.
 * @param {('regions'|'teams'|'users'|'devices')[]} kinds
 * @returns {number} a version that changes with every arrival
 */
export function useDirectory(kinds) {
  const [v, setV] = useState(version);
  useEffect(() => {
    listeners.add(setV);
    ensure(kinds);
    return () => { listeners.delete(setV); };
  }, [kinds.join(',')]);
  return v;
}

/**
 * A region's name, or its code until the name is known.
 * @param {string|null|undefined} code
 * @returns {string}
 */
export function regionName(code) {
  if (!code) return '—';
  return regions.get(code) || code;
}

/**
 * Whether a region's name is known.
 * @param {string} code
 * @returns {boolean}
 */
export function knowsRegion(code) {
  return regions.has(code);
}

/**
 * A team's name (and code), or its id until known.
 * @param {string|null|undefined} id
 * @returns {string}
 */
export function teamName(id) {
  if (!id) return '—';
  const t = teams.get(id);
  if (!t) return '团队 ' + id.slice(-8);
  return t.code && !String(t.name).includes(t.code) ? t.name + '（' + t.code + '）' : t.name;
}

/** @returns {any[]} the teams known, by code */
export function allTeams() {
  return [...teams.values()].sort((a, b) => String(a.code || a.name).localeCompare(String(b.code || b.name)));
}

/** @returns {any[]} the users known */
export function allUsers() {
  return [...users.values()].sort((a, b) => String(a.username).localeCompare(String(b.username)));
}

/**
 * A person for people: display name and user name where known. `device` (the server's
 * device id) helps when the user list cannot be read: the device list names its user.
 * @param {string|null|undefined} userId
 * @param {string|null} [deviceId]
 * @returns {string}
 */
export function userName(userId, deviceId) {
  const me = getState().me;
  const u = userId ? users.get(userId) : null;
  if (u) return u.display_name && u.display_name !== u.username ? u.display_name + '（' + u.username + '）' : u.username;
  if (me && userId && me.id === userId) return me.display_name ? me.display_name + '（' + me.username + '）' : me.username;
  const d = deviceId ? devices.get(deviceId) : null;
  if (d && d.username) return d.username;
  return userId ? '用户 ' + userId.slice(-8) : '—';
}

/**
 * A person's display name alone (the user name until the staff list is in).
 * @param {string} userId
 * @param {string} fallback
 * @returns {string}
 */
export function displayName(userId, fallback) {
  const u = users.get(userId);
  return (u && (u.display_name || u.username)) || fallback;
}

/**
 * A device for people: its name and its user.
 * @param {string|null|undefined} id the server's device id
 * @returns {any|null} the DeviceView, if known
 */
export function deviceOf(id) {
  return id ? devices.get(id) || null : null;
}
