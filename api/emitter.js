// A small event emitter (on / off / once / emit), the same in browsers and Node.

/** Minimal, dependency-free event emitter. */
export class Emitter {
  #listeners = new Map();

  /**
   * Add a listener.
   * @param {string} event
   * @param {(...args: any[]) => void} fn
   * @returns {this}
   */
  on(event, fn) {
    if (typeof fn !== 'function') throw new TypeError('listener must be a function');
    let list = this.#listeners.get(event);
    if (!list) { list = []; this.#listeners.set(event, list); }
    list.push(fn);
    return this;
  }

  /** Alias of on(). */
  addListener(event, fn) { return this.on(event, fn); }

  /**
   * Add a listener called at most once.
   * @param {string} event
   * @param {(...args: any[]) => void} fn
   * @returns {this}
   */
  once(event, fn) {
    const wrapper = (...args) => { this.off(event, wrapper); fn.apply(this, args); };
    wrapper.listener = fn;
    return this.on(event, wrapper);
  }

  /**
   * Remove a listener (or all listeners of `event` when fn is omitted).
   * @param {string} event
   * @param {(...args: any[]) => void} [fn]
   * @returns {this}
   */
  off(event, fn) {
    const list = this.#listeners.get(event);
    if (!list) return this;
    if (!fn) { this.#listeners.delete(event); return this; }
    const i = list.findIndex((l) => l === fn || l.listener === fn);
    if (i >= 0) list.splice(i, 1);
    if (!list.length) this.#listeners.delete(event);
    return this;
  }

  /** Alias of off(). */
  removeListener(event, fn) { return this.off(event, fn); }

  /**
   * Remove every listener, or every listener of one event.
   * @param {string} [event]
   * @returns {this}
   */
  removeAllListeners(event) {
    if (event === undefined) this.#listeners.clear(); else this.#listeners.delete(event);
    return this;
  }

  /**
   * A copy of the listeners of `event`, once() wrappers included (as Node's EventEmitter#rawListeners).
   * @param {string} event
   * @returns {Function[]}
   */
  rawListeners(event) {
    return [...(this.#listeners.get(event) || [])];
  }

  /**
   * Number of listeners for an event.
   * @param {string} event
   * @returns {number}
   */
  listenerCount(event) {
    const list = this.#listeners.get(event);
    return list ? list.length : 0;
  }

  /**
   * A copy of the listeners of `event` (for callers that run them one by one).
   * @param {string} event
   * @returns {Function[]}
   */
  listeners(event) {
    return [...(this.#listeners.get(event) || [])];
  }

  /**
   * Call the listeners of `event` locally with `args`. Returns whether any ran.
   * A throwing listener does not stop the others; its error is re-emitted as
   * 'error' (or reported with reportError when nobody listens).
   * @param {string} event
   * @param {...any} args
   * @returns {boolean}
   */
  emitLocal(event, ...args) {
    const list = this.#listeners.get(event);
    if (!list || !list.length) return false;
    for (const fn of [...list]) {
      try { fn.apply(this, args); } catch (err) {
        if (event !== 'error' && this.listenerCount('error')) this.emitLocal('error', err);
        else if (typeof reportError === 'function') reportError(err);
        else queueMicrotask(() => { throw err; });
      }
    }
    return true;
  }

  /**
   * Emit locally. Subclasses that carry events over the wire override this.
   * @param {string} event
   * @param {...any} args
   * @returns {boolean|this}
   */
  emit(event, ...args) { return this.emitLocal(event, ...args); }
}
