// The app's one state object and the hook screens read it with. Screens never talk to
// IndexedDB themselves: they read `state.data` (the local copy, loaded through the SDK)
// and call the actions in app/actions.js, which go through the SDK and then reload.

import { useEffect, useState } from './html.js';

/**
 * @typedef {Object} AppState
 * @property {Object|null} user the logged-in user (`{ id, username, role, team_id, region_code }`)
 * @property {boolean} online what the browser says about the network
 * @property {boolean} syncing a sync is running
 * @property {string} syncStep what the running sync is doing, for people
 * @property {Object|null} lastSync the last sync's summary (`{ pushed, applied, … }`) and when
 * @property {Object|null} lastError the last sync or login error: `{ code, message }` (Chinese)
 * @property {{pending: number, rejected: number, conflicts: number, lastSyncAt: (string|number|null)}} counts
 * @property {import('./data.js').LocalData} data the local copy
 * @property {boolean} loaded the local copy was read at least once
 * @property {boolean} needLogin the session ended (refresh refused): work goes on, the sync page asks to log in
 * @property {boolean} updateReady the service worker holds a newer app version
 * @property {string} flash a short message shown once (after saving)
 */

/** @type {AppState} */
const state = {
  user: null,
  online: typeof navigator === 'undefined' ? true : navigator.onLine,
  syncing: false,
  syncStep: '',
  lastSync: null,
  lastError: null,
  counts: { pending: 0, rejected: 0, conflicts: 0, lastSyncAt: null },
  data: /** @type {any} */ (null),
  loaded: false,
  needLogin: false,
  updateReady: false,
  flash: '',
};

const listeners = new Set();

/** @returns {AppState} */
export function getState() {
  return state;
}

/**
 * Changes some fields and redraws every screen that reads the state.
 * @param {Partial<AppState>} patch
 */
export function setState(patch) {
  Object.assign(state, patch);
  for (const fn of listeners) fn();
}

/**
 * The state, redrawing the calling component whenever it changes.
 * @returns {AppState}
 */
export function useAppState() {
  const [, tick] = useState(0);
  useEffect(() => {
    const fn = () => tick((n) => n + 1);
    listeners.add(fn);
    return () => listeners.delete(fn);
  }, []);
  return state;
}
