// The console's one state object: who is logged in, what the server says about them
// (`GET /api/v1/me`), and a notice shown once at the top of the next screen.

import { useEffect, useState } from './html.js';
import { getSession } from './api.js';

/**
 * @typedef {Object} ConsoleState
 * @property {import('./api.js').Session|null} session
 * @property {Object|null} me `GET /api/v1/me` (id, username, role, region_code, team_id, device_key, …)
 * @property {boolean} mustChangePassword the password was reset: only `#/me` works until a new one is set
 * @property {{text: string, kind: string}|null} notice shown above the next screen
 * @property {string} loginMessage shown on the login form (why the session ended)
 */

/** @type {ConsoleState} */
const state = {
  session: getSession(),
  me: null,
  mustChangePassword: !!(getSession() && getSession().mustChangePassword),
  notice: null,
  loginMessage: '',
};

const listeners = new Set();

/** @returns {ConsoleState} */
export function getState() {
  return state;
}

/**
 * Changes some fields and redraws every component that reads the state.
 * @param {Partial<ConsoleState>} patch
 */
export function setState(patch) {
  Object.assign(state, patch);
  for (const fn of listeners) fn();
}

/**
 * The state, redrawing the calling component when it changes.
 * @returns {ConsoleState}
 */
export function useStore() {
  const [, tick] = useState(0);
  useEffect(() => {
    const fn = () => tick((n) => n + 1);
    listeners.add(fn);
    return () => { listeners.delete(fn); };
  }, []);
  return state;
}
