// afterTask(fn): runs fn as a new task, after the current one and every microtask it
// queued: setImmediate under Node, a MessageChannel hop in pages and workers (no
// timer clamping). Used to coalesce the wakeups of the wasm loop (docs/JS_SERVERS.md,
// "Waking the loop once per task").

let channel = null;
const queue = [];

export function afterTask(fn) {
  if (typeof setImmediate === 'function') { setImmediate(fn); return; }
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => { for (const f of queue.splice(0)) f(); };
  }
  queue.push(fn);
  if (queue.length === 1) channel.port2.postMessage(0);
}

/**
 * fn, called at most once per task: the first call queues it with afterTask, later calls
 * in the same task add nothing. While `now()` is true fn runs at once instead (a server's
 * loop is yielding between its receive and its flush and looks at its wake flag right
 * after, so the answers a handler writes leave with the ACK, without another task).
 */
export function oncePerTask(fn, now = () => false) {
  let queued = false;
  return () => {
    if (now()) { fn(); return; }
    if (queued) return;
    queued = true;
    afterTask(() => { queued = false; fn(); });
  };
}
