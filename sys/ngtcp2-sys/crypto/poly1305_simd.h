/*
 * Poly1305 (RFC 8439) for WebAssembly's 128-bit SIMD: the ChaCha20-Poly1305
 * tag, two blocks at a time.
 *
 * Built only for wasm32 with -msimd128 (sys/ngtcp2-sys/build.rs), like
 * chacha20_simd.c: wolfSSL's Poly1305 has x86_64 and ARM assembly but only
 * portable C for wasm, where it was the second largest item of the wasm
 * server's CPU after ChaCha20 (docs/perf/node.md). Natively the backend keeps
 * wolfSSL's AVX2 code.
 */
#ifndef SOCKET_IWA_POLY1305_SIMD_H
#define SOCKET_IWA_POLY1305_SIMD_H

#include <stddef.h>
#include <stdint.h>

/* tag = Poly1305(key, aad | pad16 | ct | pad16 | le64(aadlen) | le64(ctlen)):
 * the ChaCha20-Poly1305 AEAD tag of RFC 8439 section 2.8, key being the
 * one-time key from ChaCha20 block 0. */
void siwa_poly1305_aead_tag(uint8_t tag[16], const uint8_t key[32],
                            const uint8_t *aad, size_t aadlen,
                            const uint8_t *ct, size_t ctlen);

/* tag = Poly1305(key, m): the one-time authenticator itself (RFC 8439
 * section 2.5), for tests against the RFC's vectors and wolfSSL. */
void siwa_poly1305_mac(uint8_t tag[16], const uint8_t key[32],
                       const uint8_t *m, size_t len);

#endif
