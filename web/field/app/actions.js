// What the screens ask for: log in and out, sync, and record residents, contracts, visits
// and surveys. Every record goes through the SDK's `record()`, which queues the op and
// changes the local copy in one step, so what the doctor saved is on the tablet even if
// the battery dies the next second; the screens then read it back from the local copy.

import { buildLocalData } from './data.js';
import { getState, setState } from './state.js';
import { rfc3339China } from './dates.js';

/** @type {any} the SDK client (app/main.js creates it) */
let client = null;

const USER_KEY = 'jiayi.field.user';
const VILLAGES_KEY = 'jiayi.field.villages';

/**
 * Hands the SDK client to the actions and reads what is kept on the tablet.
 * @param {any} c the client of `createClient()`
 */
export function init(c) {
  client = c;
  let user = null;
  try { user = JSON.parse(localStorage.getItem(USER_KEY) || 'null'); } catch (_) { user = null; }
  setState({ user });
  client.on('change', scheduleReload);
  client.on('sync', () => { refreshCounts(); scheduleReload(); });
  // The server had been restored from a backup: the records it lost were sent again.
  client.on('restore', (r) => { setState({ flash: restoreNotice(r) }); });
  client.on('error', (e) => {
    if (e && (e.code === 'login_required' || e.code === 'device_revoked')) sessionEnded(e);
  });
  // The doctor keeps working offline after the session ended (days without signal let
  // the refresh token lapse): only the sync page asks to log in again.
  if (user) {
    client.isLoggedIn().then((yes) => { if (!yes) setState({ needLogin: true }); }).catch(() => {});
  }
}

/** @returns {any} */
export function sdk() {
  return client;
}

/**
 * The Chinese words for an SDK error, for the doctor.
 * @param {any} e a SyncError (or anything thrown)
 * @returns {{code: string, message: string}}
 */
export function describeError(e) {
  const code = (e && e.code) || 'unknown';
  const words = {
    network: '连不上服务器：请到有信号的地方再同步。记录都保存在平板上，不会丢失。',
    login_required: '登录已过期，请重新登录。平板上的记录不会丢失。',
    device_revoked: '这台平板已被督导停用，本机数据已清除。请联系乡镇督导。',
    upgrade_required: '服务器已升级，请联网打开本应用以更新后再同步。记录仍保存在平板上。',
    server_error: '服务器暂时出错，请稍后再同步。记录仍保存在平板上。',
    busy: '服务器正忙，请过几分钟再同步。记录仍保存在平板上。',
    resync_failed: '同步需要重新下载资料但未完成，请再点一次“立即同步”。',
    invalid_credentials: '用户名或密码错误。',
    too_many_attempts: '登录失败次数太多，请' + (e && e.retryAfter ? Math.ceil(e.retryAfter / 60) + ' 分钟' : '稍等') + '后再试。',
  };
  return { code, message: words[code] || ('操作失败：' + ((e && e.message) || code)) };
}

/**
 * The doctor's words for a resend after a server restore (the SDK's 'restore' event).
 * @param {{ restored: number, refused: number }} r
 * @returns {string}
 */
export function restoreNotice(r) {
  const sent = r && r.restored > 0 ? '本机已重新上传服务器丢失的 ' + r.restored + ' 条记录。' : '服务器上的记录完整，无需重新上传。';
  const refused = r && r.refused > 0 ? '其中 ' + r.refused + ' 条被拒绝，请在同步页查看。' : '';
  return '服务器已从备份恢复：' + sent + refused;
}

function sessionEnded(e) {
  const err = describeError(e);
  if (e.code === 'device_revoked') {
    localStorage.removeItem(USER_KEY);
    setState({ user: null, lastError: err });
  } else {
    setState({ lastError: err, needLogin: true });
  }
}

let reloadTimer = 0;
function scheduleReload() {
  clearTimeout(reloadTimer);
  // A sync this app runs reloads once when it ends (sync() below): reloading the four
  // lists after each of its pages (a first sync sends one 'change' per bootstrap page)
  // would only compete with it for the tablet's CPU.
  if (running) return;
  // Several ops in a row (a sync page of 500 records) make one reload, not 500.
  reloadTimer = setTimeout(() => { reload().catch((e) => console.error(e)); }, 30);
}

/** @type {Promise<void>|null} the reload running now */
let reloading = null;
/** @type {Promise<void>|null} the one reload queued after it, shared by its callers */
let reloadQueued = null;

/**
 * Reads the local copy through the SDK and rebuilds the screens' look-ups. At most one
 * reload runs at a time and at most one more waits: a call made while one runs gets the
 * queued one, which starts after it and so sees the caller's change.
 * @returns {Promise<void>}
 */
export function reload() {
  if (!client) return Promise.resolve();
  if (!reloading) {
    reloading = loadOnce().finally(() => { reloading = null; });
    return reloading;
  }
  if (!reloadQueued) {
    reloadQueued = reloading.catch(() => {}).then(() => {
      reloadQueued = null;
      return reload();
    });
  }
  return reloadQueued;
}

async function loadOnce() {
  const [residents, contracts, visits, surveys, referrals, questionnaires, packages] = await Promise.all([
    client.list('resident'),
    client.list('contract'),
    client.list('visit'),
    client.list('survey'),
    client.list('referral'),
    Promise.resolve(client.questionnaires()).catch(() => []),
    Promise.resolve(client.packages()).catch(() => []),
  ]);
  const user = getState().user;
  const me = await client.me().catch(() => null);
  let villageNames = {};
  try { villageNames = JSON.parse(localStorage.getItem(VILLAGES_KEY) || '{}'); } catch (_) { villageNames = {}; }
  const villages = (me && me.villages) || (user && user.villages) || [];
  setState({
    data: buildLocalData({
      residents, contracts, visits, surveys, referrals, villages, villageNames,
      questionnaires: questionnaires || [], packages: packages || [],
      referralReceiveDays: me && me.work_list ? me.work_list.referral_receive_days : undefined,
    }),
    loaded: true,
  });
  await refreshCounts();
}

/** Re-reads pending / rejected / conflict counts. */
export async function refreshCounts() {
  if (!client) return;
  try {
    setState({ counts: await client.counts() });
  } catch (e) {
    console.error(e);
  }
}

/**
 * Logs in (needs the network) and downloads the team's records (the first sync).
 * @param {string} username
 * @param {string} password
 * @returns {Promise<{ok: boolean, message?: string}>}
 */
export async function login(username, password) {
  try {
    // The SDK answers the caller as GET /api/v1/me has it: team, villages, limits.
    const me = await client.login(username.trim(), password);
    const user = {
      id: me.id,
      username: me.username || username.trim(),
      role: me.role,
      team_id: me.team_id || null,
      region_code: me.region_code,
      villages: me.villages || [],
    };
    localStorage.setItem(USER_KEY, JSON.stringify(user));
    // The first sync (bootstrap) follows at once: the screens say so from the start.
    setState({ user, needLogin: false, lastError: null, syncing: true, syncStep: '正在下载本团队的居民资料…' });
    await learnVillageNames(user);
    await sync(true);
    return { ok: true };
  } catch (e) {
    return { ok: false, message: describeError(e).message };
  }
}

/**
 * Village names for the screens, asked once while online (the protocol's records carry
 * only the village code).
 * @param {Object} user
 */
async function learnVillageNames(user) {
  // The names are only a nicety: without them the screens show village codes.
  const call = (method, path) => client.request(method, path);
  if (!user.region_code) return;
  try {
    const resp = await call('GET', '/api/v1/regions/' + encodeURIComponent(user.region_code) + '/children');
    if (!resp.ok) return;
    const names = {};
    for (const r of (await resp.json()) || []) names[r.code] = r.name;
    localStorage.setItem(VILLAGES_KEY, JSON.stringify(names));
  } catch (e) {
    console.warn('village names not loaded', e);
  }
}

/** Logs out: the tokens go, the local records and the queue stay (another login resumes). */
export async function logout() {
  try { await client.logout(); } catch (_) { /* the tokens are local: nothing to wait for */ }
  localStorage.removeItem(USER_KEY);
  setState({ user: null, needLogin: false });
}

/**
 * The queue, the refused ops and the conflicts, for the sync page.
 * @returns {Promise<{pending: Object[], rejected: Object[], conflicts: Object[]}>}
 */
export async function syncDetails() {
  const [pending, rejected, conflicts] = await Promise.all([client.pending(), client.rejected(), client.conflicts()]);
  return { pending, rejected, conflicts };
}

/**
 * Takes an answered op the doctor has dealt with off its list.
 * @param {'rejected'|'conflicts'} list
 * @param {string} opId
 */
export async function dismiss(list, opId) {
  await client.dismiss(list, opId);
  await refreshCounts();
}

let running = null;

/**
 * Pushes the queue and pulls what changed; one at a time (a second call joins the first).
 * @param {boolean} [first] the first sync after a login (it downloads the team's records)
 * @returns {Promise<void>}
 */
export function sync(first = false) {
  if (running) return running;
  setState({ syncing: true, syncStep: first ? '正在下载本团队的居民资料…' : '正在同步…', lastError: null });
  running = (async () => {
    try {
      const summary = await client.sync();
      setState({ lastSync: { ...summary, at: Date.now() } });
    } catch (e) {
      setState({ lastError: describeError(e) });
      if (e && (e.code === 'login_required' || e.code === 'device_revoked')) sessionEnded(e);
    } finally {
      running = null;
      setState({ syncing: false, syncStep: '' });
      await reload().catch((e) => console.error(e));
    }
  })();
  return running;
}

/**
 * Queues one op (and changes the local copy with it).
 * @param {string} entity
 * @param {string} action
 * @param {string} id
 * @param {Object} data
 * @param {{baseVersion?: number}} [opts]
 * @returns {Promise<string>} the op id
 */
export async function record(entity, action, id, data, opts) {
  const opId = await client.record(entity, action, id, data, opts || {});
  await reload();
  return opId;
}

/** A new record id (UUIDv7). @returns {string} */
export function newId() {
  return client.newId();
}

/** Now, as a clinical time. @returns {string} */
export function now() {
  return rfc3339China(new Date());
}

/**
 * Keeps a blob (a signature PNG) on the tablet until it can be uploaded.
 * @param {Uint8Array} bytes
 * @param {string} type
 * @returns {Promise<string>} its SHA-256, hex
 */
export function putBlob(bytes, type) {
  return client.putBlob(bytes, type);
}
