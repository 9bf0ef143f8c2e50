// Test helpers: install the Node.js Direct Sockets as globals (what an IWA has).
import { install } from '../../node/direct-sockets.js';
install(globalThis);

/** Resolve on the first `event` from an emitter-like (on/once), reject after ms. */
export function waitFor(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for "${event}"`)), ms);
    emitter.once(event, (...args) => { clearTimeout(t); resolve(args); });
  });
}

/** Reject if `p` does not settle in ms. */
export function within(p, ms, what = 'operation') {
  let t;
  return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`${what} timed out after ${ms} ms`)), ms); })]).finally(() => clearTimeout(t));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
