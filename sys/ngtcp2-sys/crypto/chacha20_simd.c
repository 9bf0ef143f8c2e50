/*
 * ChaCha20 (RFC 8439 section 2.3/2.4) with wasm simd128: the "vertical" layout,
 * where vector i holds state word i of four consecutive blocks, so each
 * quarter round is four lanes of the scalar one. See chacha20_simd.h.
 */
#include "chacha20_simd.h"

#include <string.h>
#include <wasm_simd128.h>

static inline uint32_t load32_le(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

/* Rotations by 16 and 8 move whole bytes: one byte shuffle each. */
static inline v128_t rotl16(v128_t v) {
  return wasm_i8x16_shuffle(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15,
                            12, 13);
}
static inline v128_t rotl8(v128_t v) {
  return wasm_i8x16_shuffle(v, v, 3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12,
                            13, 14);
}
#define ROTL(v, n) wasm_v128_or(wasm_i32x4_shl((v), (n)), wasm_u32x4_shr((v), 32 - (n)))

#define QR(a, b, c, d)                                                         \
  do {                                                                         \
    a = wasm_i32x4_add(a, b);                                                  \
    d = rotl16(wasm_v128_xor(d, a));                                           \
    c = wasm_i32x4_add(c, d);                                                  \
    b = ROTL(wasm_v128_xor(b, c), 12);                                         \
    a = wasm_i32x4_add(a, b);                                                  \
    d = rotl8(wasm_v128_xor(d, a));                                            \
    c = wasm_i32x4_add(c, d);                                                  \
    b = ROTL(wasm_v128_xor(b, c), 7);                                          \
  } while (0)

/* Four blocks of keystream (counters counter..counter+3) into ks[256]. */
static void blocks4(const uint32_t in[16], uint32_t counter, uint8_t ks[256]) {
  v128_t x[16], s[16];
  for (int i = 0; i < 16; i++) {
    s[i] = wasm_i32x4_splat((int32_t)in[i]);
  }
  s[12] = wasm_i32x4_add(wasm_i32x4_splat((int32_t)counter),
                         wasm_i32x4_make(0, 1, 2, 3));
  for (int i = 0; i < 16; i++) {
    x[i] = s[i];
  }
  for (int r = 0; r < 10; r++) {
    QR(x[0], x[4], x[8], x[12]);
    QR(x[1], x[5], x[9], x[13]);
    QR(x[2], x[6], x[10], x[14]);
    QR(x[3], x[7], x[11], x[15]);
    QR(x[0], x[5], x[10], x[15]);
    QR(x[1], x[6], x[11], x[12]);
    QR(x[2], x[7], x[8], x[13]);
    QR(x[3], x[4], x[9], x[14]);
  }
  for (int i = 0; i < 16; i++) {
    x[i] = wasm_i32x4_add(x[i], s[i]);
  }
  /* Transpose each group of four words: lane j of x[4g..4g+3] is words
   * 4g..4g+3 of block j, stored at ks + 64*j + 16*g (wasm is little-endian). */
  for (int g = 0; g < 4; g++) {
    v128_t a = x[4 * g], b = x[4 * g + 1], c = x[4 * g + 2], d = x[4 * g + 3];
    v128_t ab_lo = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5);
    v128_t ab_hi = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);
    v128_t cd_lo = wasm_i32x4_shuffle(c, d, 0, 4, 1, 5);
    v128_t cd_hi = wasm_i32x4_shuffle(c, d, 2, 6, 3, 7);
    wasm_v128_store(ks + 0 * 64 + 16 * g, wasm_i64x2_shuffle(ab_lo, cd_lo, 0, 2));
    wasm_v128_store(ks + 1 * 64 + 16 * g, wasm_i64x2_shuffle(ab_lo, cd_lo, 1, 3));
    wasm_v128_store(ks + 2 * 64 + 16 * g, wasm_i64x2_shuffle(ab_hi, cd_hi, 0, 2));
    wasm_v128_store(ks + 3 * 64 + 16 * g, wasm_i64x2_shuffle(ab_hi, cd_hi, 1, 3));
  }
}

/* out[0..n) = in[0..n) XOR ks[0..n), 16 bytes at a time then byte by byte. */
static void xor_keystream(uint8_t *out, const uint8_t *in, const uint8_t *ks,
                          size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    wasm_v128_store(out + i, wasm_v128_xor(wasm_v128_load(in + i),
                                           wasm_v128_load(ks + i)));
  }
  for (; i < n; i++) {
    out[i] = in[i] ^ ks[i];
  }
}

static void init_state(uint32_t st[16], const uint8_t key[32],
                       const uint8_t nonce[12]) {
  st[0] = 0x61707865; /* "expand 32-byte k" */
  st[1] = 0x3320646e;
  st[2] = 0x79622d32;
  st[3] = 0x6b206574;
  for (int i = 0; i < 8; i++) {
    st[4 + i] = load32_le(key + 4 * i);
  }
  st[12] = 0;
  st[13] = load32_le(nonce);
  st[14] = load32_le(nonce + 4);
  st[15] = load32_le(nonce + 8);
}

void siwa_chacha20_xor(const uint8_t key[32], uint32_t counter,
                       const uint8_t nonce[12], const uint8_t *in,
                       uint8_t *out, size_t len) {
  uint32_t st[16];
  uint8_t ks[256] __attribute__((aligned(16)));
  init_state(st, key, nonce);
  while (len > 0) {
    size_t n = len < 256 ? len : 256;
    blocks4(st, counter, ks);
    xor_keystream(out, in, ks, n);
    counter += 4;
    in += n;
    out += n;
    len -= n;
  }
  memset(ks, 0, sizeof(ks));
}

void siwa_chacha20_aead_xor(const uint8_t key[32], const uint8_t nonce[12],
                            const uint8_t *in, uint8_t *out, size_t len,
                            uint8_t poly_key[32]) {
  uint32_t st[16];
  uint8_t ks[256] __attribute__((aligned(16)));
  size_t head = len < 192 ? len : 192;
  init_state(st, key, nonce);
  /* Blocks 0-3: block 0 gives the Poly1305 key, 1-3 the first 192 bytes. */
  blocks4(st, 0, ks);
  memcpy(poly_key, ks, 32);
  xor_keystream(out, in, ks + 64, head);
  memset(ks, 0, sizeof(ks));
  if (len > head) {
    siwa_chacha20_xor(key, 4, nonce, in + head, out + head, len - head);
  }
}
