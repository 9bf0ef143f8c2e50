/*
 * ChaCha20 (RFC 8439) for WebAssembly's 128-bit SIMD: four blocks at a time,
 * and ChaCha20-Poly1305 with our own Poly1305 computed in between its rounds.
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

/* ChaCha20-Poly1305 (RFC 8439 section 2.8) in one pass: out = in XOR the
 * keystream from block 1 on, and tag = Poly1305, keyed by block 0, over aad
 * and the ciphertext with their padding and lengths. The Poly1305 blocks are
 * computed in between the ChaCha20 rounds. seal != 0: the ciphertext is out
 * (out may be in). seal == 0 (open): the ciphertext is in, and out must not
 * overlap it; the caller compares tag with the received one and wipes out if
 * they differ. */
void siwa_chacha20_poly1305(const uint8_t key[32], const uint8_t nonce[12],
                            const uint8_t *aad, size_t aadlen,
                            const uint8_t *in, uint8_t *out, size_t len,
                            int seal, uint8_t tag[16]);

/* The tag alone, over aad and the ciphertext ct: for an open in place, where
 * the tag is checked before anything is decrypted. */
void siwa_chacha20_poly1305_tag(const uint8_t key[32], const uint8_t nonce[12],
                                const uint8_t *aad, size_t aadlen,
                                const uint8_t *ct, size_t len,
                                uint8_t tag[16]);

/* Poly1305 (RFC 8439 section 2.5) of `blocks` whole 16-byte blocks: the code
 * the AEAD above uses, on its own, so that tests can choose the accumulator's
 * edge cases (RFC 8439 appendix A.3), which an AEAD's keys never reach on
 * purpose. */
void siwa_poly1305_blocks_mac(const uint8_t key[32], const uint8_t *m,
                              size_t blocks, uint8_t tag[16]);

#endif
