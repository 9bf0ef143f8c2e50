// Feature detection for source-specific multicast (SSM) in Direct Sockets,
// shared as is by the JavaScript API (api/udp.js) and the wasm bridge's
// IP_ADD_SOURCE_MEMBERSHIP (emscripten/build_support.rs turns this file into
// the library item $SSM_PROBE; hence the style: one exported object,
// `name: function` members, plain data, no imports).

export const SSM_PROBE = {
  /**
   * [MulticastController class, answer] pairs already probed; normally one
   * entry (the runtime's class), bounded by MAX_SEEN all the same.
   */
  seen: [],
  MAX_SEEN: 8,

  /**
   * Does this MulticastController honour joinGroup's `sourceAddress`? Chromium
   * only has the member in its IDL dictionary when the
   * SourceSpecificMulticastInDirectSockets feature is on; otherwise the V8
   * conversion drops it silently and the join becomes any-source. The probe
   * calls joinGroup with a group that is not multicast (always refused, after
   * the arguments are converted: no membership changes) and an options object
   * whose `sourceAddress` getter records whether the binding read it. An
   * implementation may say so itself with a static boolean
   * `supportsSourceSpecific` (node/direct-sockets.js: true); then no probe runs.
   * @param {any} mc a MulticastController
   * @returns {boolean}
   */
  supports: function (mc) {
    var P = SSM_PROBE;
    if (!mc) return false;
    var C = mc.constructor;
    var flag = C ? C.supportsSourceSpecific : undefined;
    if (flag === true || flag === false) return flag;
    for (var i = 0; i < P.seen.length; i++) {
      if (P.seen[i][0] === C) return P.seen[i][1];
    }
    var read = false;
    var probe = { get sourceAddress() { read = true; return undefined; } };
    try {
      var p = mc.joinGroup('0.0.0.0', probe); // not a multicast address: refused
      if (p && typeof p.catch === 'function') p.catch(function () {});
    } catch (e) {}
    if (C) {
      if (P.seen.length >= P.MAX_SEEN) P.seen.shift();
      P.seen.push([C, read]);
    }
    return read;
  },
};
