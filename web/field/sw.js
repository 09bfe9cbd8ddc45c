// The field app's service worker (scope /field/): keeps every file the app needs on the
// tablet, so it opens in a village with no signal for days.
//
// - Install: every file of SHELL goes into a new cache, all or nothing.
// - Fetch: the app's own files come from that cache (no network wait, even on a weak
//   signal); a file not in SHELL is fetched once and kept. The API (/api/…) is never
//   touched here: the SDK keeps the data in IndexedDB and decides what to do offline.
// - Update: when the app is opened with a network, the worker asks the server for every
//   file again (at most every 10 minutes); if any changed, it fills a new cache with the
//   whole new set and only then drops the old one, so the tablet never runs half an old
//   and half a new app. The page is told ("新版本已下载") and uses it on the next opening.
//
// tests/field/app.test.mjs checks that SHELL lists every file the app imports.

const PREFIX = 'jiayi-field-shell-';
const SCOPE = new URL('./', self.location.href).href;
const SCOPE_PATH = new URL(SCOPE).pathname;
const CHECK_EVERY_MS = 10 * 60 * 1000;

/** Every file of the app, relative to the scope. */
const SHELL = [
  './',
  'index.html',
  'manifest.webmanifest',
  'icons/icon-192.png',
  'icons/icon-512.png',
  'app/app.css',
  'app/main.js',
  'app/actions.js',
  'app/data.js',
  'app/dates.js',
  'app/html.js',
  'app/idnumber.js',
  'app/labels.js',
  'app/measurements.js',
  'app/routes.js',
  'app/search.js',
  'app/signature.js',
  'app/state.js',
  'app/ui.js',
  'app/worklist.js',
  'app/screens/edit.js',
  'app/screens/login.js',
  'app/screens/referral.js',
  'app/screens/register.js',
  'app/screens/resident.js',
  'app/screens/residents.js',
  'app/screens/sign.js',
  'app/screens/survey.js',
  'app/screens/sync.js',
  'app/screens/today.js',
  'app/screens/visit.js',
  'sdk/jiayi-sync.js',
  'sdk/blobs.js',
  'sdk/errors.js',
  'sdk/events.js',
  'sdk/http.js',
  'sdk/queue.js',
  'sdk/replica.js',
  'sdk/restore.js',
  'sdk/session.js',
  'sdk/sha256.js',
  'sdk/shapes.js',
  'sdk/store.js',
  'sdk/sync.js',
  'sdk/time.js',
  'sdk/uuid.js',
  'vendor/idb/index.js',
  'vendor/preact/preact.mjs',
  'vendor/preact/hooks.mjs',
  'vendor/preact/htm.mjs',
].map((p) => new URL(p, SCOPE).href);

let lastCheck = 0;

/** The cache in use: the newest complete one. */
async function currentCache() {
  const names = (await caches.keys()).filter((n) => n.startsWith(PREFIX)).sort();
  return names.length ? caches.open(names[names.length - 1]) : null;
}

/**
 * Fetches every SHELL file; null if any fails (then nothing changes).
 * @returns {Promise<Response[]|null>}
 */
async function fetchShell() {
  try {
    const all = await Promise.all(SHELL.map((u) => fetch(u, { cache: 'no-cache', credentials: 'same-origin' })));
    return all.every((r) => r.ok) ? all : null;
  } catch (_) {
    return null;
  }
}

/** Puts a complete set into a new cache, then drops the older ones. */
async function installSet(responses) {
  // Names sort by time: the newest complete cache is the one in use.
  const name = PREFIX + String(Date.now()).padStart(15, '0');
  const cache = await caches.open(name);
  await Promise.all(SHELL.map((u, i) => cache.put(u, responses[i])));
  for (const n of await caches.keys()) {
    if (n.startsWith(PREFIX) && n !== name) await caches.delete(n);
  }
}

/** Looks for a new version of the app; tells the open pages when one is installed. */
async function checkForUpdate() {
  if (Date.now() - lastCheck < CHECK_EVERY_MS) return;
  lastCheck = Date.now();
  const cache = await currentCache();
  const fresh = await fetchShell();
  if (!fresh || !cache) return;
  let changed = false;
  for (let i = 0; i < SHELL.length && !changed; i++) {
    const held = await cache.match(SHELL[i]);
    const tag = fresh[i].headers.get('ETag');
    changed = !held || !tag || held.headers.get('ETag') !== tag;
  }
  if (!changed) return;
  await installSet(fresh);
  for (const c of await self.clients.matchAll({ type: 'window' })) c.postMessage({ type: 'shell-updated' });
}

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const fresh = await fetchShell();
    if (!fresh) throw new Error('the app shell could not be fetched whole');
    await installSet(fresh);
    lastCheck = Date.now();
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith(SCOPE_PATH)) return;
  event.respondWith(serve(req, event));
});

/**
 * @param {Request} req
 * @param {FetchEvent} event
 * @returns {Promise<Response>}
 */
async function serve(req, event) {
  const cache = await currentCache();
  // Every page of the app is the one page: the hash picks the screen.
  const navigate = req.mode === 'navigate';
  const key = navigate ? SCOPE : req;
  const held = cache ? await cache.match(key, { ignoreSearch: true }) : null;
  if (held) {
    if (navigate) event.waitUntil(checkForUpdate().catch(() => {}));
    return held;
  }
  try {
    const resp = await fetch(req);
    if (resp.ok && cache && !navigate) await cache.put(req, resp.clone());
    return resp;
  } catch (e) {
    const page = navigate && cache ? await cache.match(SCOPE) : null;
    if (page) return page;
    throw e;
  }
}
