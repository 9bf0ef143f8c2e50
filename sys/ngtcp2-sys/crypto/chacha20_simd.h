/*
 * ChaCha20 (RFC 8439) for WebAssembly's 128-bit SIMD: four blocks at a time.
 *
 * Built only for wasm32 with -msimd128 (sys/ngtcp2-sys/build.rs). wolfSSL's
 * ChaCha20 has x86_64 and ARM assembly but only portable C for wasm, where it
 * was the largest single item of the wasm server's CPU (docs/perf/node.md).
 * Natively the backend keeps wolfSSL's AVX2 code.
 */
#ifndef SOCKET_IWA_CHACHA20_SIMD_H
#define SOCKET_IWA_CHACHA20_SIMD_H

#include <stddef.h>
#include <stdint.h>

/* out = in XOR ChaCha20(key, counter, nonce) over len bytes. in and out may be
 * the same buffer (each 256-byte stretch is read before it is written). */
void siwa_chacha20_xor(const uint8_t key[32], uint32_t counter,
                       const uint8_t nonce[12], const uint8_t *in,
                       uint8_t *out, size_t len);

/* ChaCha20-Poly1305's use of ChaCha20 (RFC 8439 section 2.8): poly_key = the
 * first 32 bytes of block 0, out = in XOR the keystream from block 1 on. One
 * four-block round serves both, so a short packet costs no extra blocks. */
void siwa_chacha20_aead_xor(const uint8_t key[32], const uint8_t nonce[12],
                            const uint8_t *in, uint8_t *out, size_t len,
                            uint8_t poly_key[32]);

#endif
