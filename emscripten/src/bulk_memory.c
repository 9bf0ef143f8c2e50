/*
 * bulk_memory.c: memcpy, memmove and memset as WebAssembly's bulk-memory
 * instructions (memory.copy, memory.fill), which the engine runs as its own
 * native memmove/memset.
 *
 * Emscripten 3.1.6's libc sends every memcpy of 512 bytes or more out of the
 * module to JavaScript (emscripten_memcpy_big: HEAPU8.copyWithin), a wasm-to-JS
 * call per copy; in the server that is one more per packet (ngtcp2 copying a
 * STREAM frame's data), as many as the sendmsg calls themselves, and smaller
 * copies run as a word loop in wasm. The C libraries (ngtcp2, nghttp3, wolfSSL)
 * are built without bulk memory and call these; Rust's code already uses the
 * instructions itself. These definitions take libc's names (libc's own are
 * weak), as syscall_shims.c does; emcc compiles this file with -mbulk-memory
 * (emscripten/build_support.rs), which every engine we run on has (Node 26,
 * Chromium 156). Measured: docs/perf/node.md item 9.
 */
#include <stddef.h>

void *memcpy(void *restrict dest, const void *restrict src, size_t n) {
  __builtin_memcpy(dest, src, n); /* memory.copy */
  return dest;
}

void *memmove(void *dest, const void *src, size_t n) {
  __builtin_memmove(dest, src, n); /* memory.copy (defined for overlapping ranges) */
  return dest;
}

void *memset(void *dest, int c, size_t n) {
  __builtin_memset(dest, c, n); /* memory.fill */
  return dest;
}
