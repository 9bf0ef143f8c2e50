// The C functions node/ reaches through Node 26's built-in node:ffi: libc's
// socket calls and libuv's poll handle (both already in the node process). One
// loader for node/udp_gso.js (GSO sends) and node/udp_gro.js (GRO receives).
//
// Available only where it is safe to use: Linux on x64/arm64 (the LP64 struct
// layouts node/ writes), node:ffi present and allowed (not disabled by
// --no-experimental-ffi, not refused by the permission model), and not turned
// off with SOCKET_IWA_NODE_FFI=off. Elsewhere nativeLib() is null and node/
// uses node:dgram alone.

/** Linux's values, shared by node/udp_gso.js and node/udp_gro.js. */
export const SOL_UDP = 17;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const EAGAIN = 11;
export const EINTR = 4;

let lib; // undefined: not tried yet; null: unavailable

/**
 * { ffi, lib, fn, errno() } or null. `fn` holds the functions; errno() reads the
 * thread's errno after a failed call. The FFI ExperimentalWarning is not
 * printed: the use is ours, not the caller's.
 */
export function nativeLib() {
  if (lib !== undefined) return lib;
  lib = null;
  if (process.env.SOCKET_IWA_NODE_FFI === 'off') return null;
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) return null;
  if (typeof process.getBuiltinModule !== 'function') return null;
  const emitWarning = process.emitWarning;
  process.emitWarning = function (warning, ...rest) {
    if (/\bFFI\b/.test(typeof warning === 'string' ? warning : warning && warning.message)) return;
    return Reflect.apply(emitWarning, this, [warning, ...rest]);
  };
  try {
    const ffi = process.getBuiltinModule('node:ffi');
    if (!ffi || typeof ffi.dlopen !== 'function' || typeof ffi.getRawPointer !== 'function') return null;
    const { lib: handle, functions } = ffi.dlopen(null, {
      sendmsg: { arguments: ['int32', 'pointer', 'int32'], return: 'int64' },
      // ssize_t, read as its low 32 bits: one datagram or GRO run is at most 64 KiB, -1 stays -1 (no BigInt per call).
      recvmsg: { arguments: ['int32', 'pointer', 'int32'], return: 'int32' },
      setsockopt: { arguments: ['int32', 'int32', 'int32', 'pointer', 'uint32'], return: 'int32' },
      dup: { arguments: ['int32'], return: 'int32' },
      close: { arguments: ['int32'], return: 'int32' },
      __errno_location: { arguments: [], return: 'pointer' },
    });
    const errnoAt = functions.__errno_location();
    lib = { ffi, lib: handle, fn: functions, errno: () => ffi.getInt32(errnoAt) };
  } catch {
    lib = null;
  } finally {
    process.emitWarning = emitWarning;
  }
  return lib;
}

let uv; // undefined: not tried yet; null: unavailable

/**
 * libuv's poll handle on Node's own event loop, or null: { handleSize, loop,
 * init(loop, handle, fd), start(handle, events, cb), stop(handle),
 * close(handle, cb), inetNtop, ifIndexToName, callback(signature, fn),
 * uncallback(ptr) } (node:ffi's getCurrentEventLoop and registerCallback,
 * Node >= 26.7).
 */
export function uvPoll() {
  if (uv !== undefined) return uv;
  uv = null;
  const l = nativeLib();
  if (!l || typeof l.ffi.getCurrentEventLoop !== 'function' || typeof l.lib.registerCallback !== 'function') return null;
  try {
    const { functions: f } = l.ffi.dlopen(null, {
      uv_handle_size: { arguments: ['int32'], return: 'uint64' },
      uv_poll_init: { arguments: ['pointer', 'pointer', 'int32'], return: 'int32' },
      uv_poll_start: { arguments: ['pointer', 'int32', 'pointer'], return: 'int32' },
      uv_poll_stop: { arguments: ['pointer'], return: 'int32' },
      uv_close: { arguments: ['pointer', 'pointer'], return: 'void' },
      uv_inet_ntop: { arguments: ['int32', 'pointer', 'pointer', 'uint64'], return: 'int32' },
      if_indextoname: { arguments: ['uint32', 'pointer'], return: 'pointer' },
    });
    const UV_POLL = 8; // uv_handle_type (uv.h): ..., UV_NAMED_PIPE 7, UV_POLL 8
    uv = {
      handleSize: Number(f.uv_handle_size(UV_POLL)),
      loop: l.ffi.getCurrentEventLoop(),
      init: f.uv_poll_init, start: f.uv_poll_start, stop: f.uv_poll_stop, close: f.uv_close,
      inetNtop: f.uv_inet_ntop, ifIndexToName: f.if_indextoname,
      callback: (signature, fn) => l.lib.registerCallback(signature, fn),
      uncallback: (ptr) => l.lib.unregisterCallback(ptr),
    };
  } catch {
    uv = null;
  }
  return uv;
}

/** The UDP handle under a node:dgram socket (no public accessor exists), or null. */
export function dgramHandle(socket) {
  try {
    const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
    return (state && socket[state] && socket[state].handle) || null;
  } catch { return null; }
}

/** The descriptor under a node:dgram socket's handle, or -1. */
export function handleFd(handle) {
  return handle && Number.isInteger(handle.fd) && handle.fd >= 0 ? handle.fd : -1;
}
