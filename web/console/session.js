// Ending the session in this browser: forget the tokens and every name looked up with
// them (the next user may see less), and show the login form with the reason.

import { setSession } from './api.js';
import { setState } from './store.js';
import { clearDirectory } from './directory.js';

/**
 * Logs out in this browser.
 * @param {string} [message] why, shown on the login form
 */
export function logout(message) {
  setSession(null);
  clearDirectory();
  document.body.removeAttribute('data-loaded');
  setState({ session: null, me: null, mustChangePassword: false, notice: null, loginMessage: message || '' });
}
