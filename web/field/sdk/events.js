// A minimal event emitter: the client tells the app when local data changed, when a sync
// ended and when something needs the user's attention.

/** @typedef {'change'|'sync'|'error'|'restore'} EventName */

/** Listeners by event name; a throwing listener never breaks the SDK. */
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<(payload: any) => void>>} */
    this.listeners = new Map();
  }

  /**
   * Adds a listener; returns a function that removes it.
   * @param {EventName} name
   * @param {(payload: any) => void} fn
   * @returns {() => void}
   */
  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.off(name, fn);
  }

  /**
   * Removes a listener.
   * @param {EventName} name
   * @param {(payload: any) => void} fn
   */
  off(name, fn) {
    this.listeners.get(name)?.delete(fn);
  }

  /**
   * Calls every listener of `name` with `payload`.
   * @param {EventName} name
   * @param {any} payload
   */
  emit(name, payload) {
    for (const fn of this.listeners.get(name) ?? []) {
      try {
        fn(payload);
      } catch (e) {
        // The app's bug must not stop a sync half-way; it still shows in the console.
        console.error(`jiayi-sync: a '${name}' listener threw`, e);
      }
    }
  }
}
