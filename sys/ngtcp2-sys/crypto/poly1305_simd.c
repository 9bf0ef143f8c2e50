/*
 * Poly1305 (RFC 8439 section 2.5) for the ChaCha20-Poly1305 AEAD tag, with
 * wasm simd128: two blocks at a time. See poly1305_simd.h.
 *
 * The accumulator is five 26-bit limbs (as in poly1305-donna's 32-bit code,
 * which wolfSSL's portable C also is): each product of limbs fits 64 bits, and
 * i64x2.extmul_low_i32x4_u (one pmuludq on x64) gives two of them at once.
 * A run of n full blocks m0..m(n-1) is h' = h*r^n + sum m_i*r^(n-i). Lane A
 * sums the even blocks and lane B the odd ones, both multiplied by r^2 per
 * step, except the last step, where lane B is multiplied by r instead:
 *   A = (h + m0) r^n + m2 r^(n-2) + ... + m(n-2) r^2
 *   B = m1 r^(n-1) + m3 r^(n-3) + ... + m(n-1) r
 * and h' = A + B. Runs shorter than four blocks, and the first block of an odd
 * run, take the scalar path. Everything is data-independent (constant time).
 */
#include "poly1305_simd.h"

#include <string.h>
#include <wasm_simd128.h>

#define MASK26 0x3ffffffu

static inline uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}

static inline void store_le32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

/* The five limbs of a 16-byte block, plus `hibit` (1 << 24: the 2^128 bit
 * of a full block; 0 for a final partial block, already padded with 0x01). */
static inline void block_limbs(const uint8_t *m, uint32_t t[5], uint32_t hibit) {
  t[0] = le32(m) & MASK26;
  t[1] = (le32(m + 3) >> 2) & MASK26;
  t[2] = (le32(m + 6) >> 4) & MASK26;
  t[3] = (le32(m + 9) >> 6) & MASK26;
  t[4] = (le32(m + 12) >> 8) | hibit;
}
#define FULL (1u << 24)

/* h = h * r mod 2^130 - 5, partly reduced (limbs < 2^26 but h1, which may
 * exceed it by a little): the scalar step. */
static void mul_r(uint32_t h[5], const uint32_t r[5]) {
  uint32_t s1 = r[1] * 5, s2 = r[2] * 5, s3 = r[3] * 5, s4 = r[4] * 5;
  uint64_t d0 = (uint64_t)h[0] * r[0] + (uint64_t)h[1] * s4 + (uint64_t)h[2] * s3 +
                (uint64_t)h[3] * s2 + (uint64_t)h[4] * s1;
  uint64_t d1 = (uint64_t)h[0] * r[1] + (uint64_t)h[1] * r[0] + (uint64_t)h[2] * s4 +
                (uint64_t)h[3] * s3 + (uint64_t)h[4] * s2;
  uint64_t d2 = (uint64_t)h[0] * r[2] + (uint64_t)h[1] * r[1] + (uint64_t)h[2] * r[0] +
                (uint64_t)h[3] * s4 + (uint64_t)h[4] * s3;
  uint64_t d3 = (uint64_t)h[0] * r[3] + (uint64_t)h[1] * r[2] + (uint64_t)h[2] * r[1] +
                (uint64_t)h[3] * r[0] + (uint64_t)h[4] * s4;
  uint64_t d4 = (uint64_t)h[0] * r[4] + (uint64_t)h[1] * r[3] + (uint64_t)h[2] * r[2] +
                (uint64_t)h[3] * r[1] + (uint64_t)h[4] * r[0];
  uint64_t c;
  c = d0 >> 26; h[0] = (uint32_t)d0 & MASK26; d1 += c;
  c = d1 >> 26; h[1] = (uint32_t)d1 & MASK26; d2 += c;
  c = d2 >> 26; h[2] = (uint32_t)d2 & MASK26; d3 += c;
  c = d3 >> 26; h[3] = (uint32_t)d3 & MASK26; d4 += c;
  c = d4 >> 26; h[4] = (uint32_t)d4 & MASK26;
  h[0] += (uint32_t)c * 5;
  c = h[0] >> 26; h[0] &= MASK26; h[1] += (uint32_t)c;
}

static void blocks_scalar(uint32_t h[5], const uint32_t r[5], const uint8_t *m,
                          size_t n, uint32_t hibit) {
  uint32_t t[5];
  for (; n > 0; n--, m += 16) {
    block_limbs(m, t, hibit);
    for (int i = 0; i < 5; i++) h[i] += t[i];
    mul_r(h, r);
  }
}

/* Two limbs (lanes 0, 1 of an i32x4) times two, summed into 64-bit lanes. */
#define MUL(a, b) wasm_u64x2_extmul_low_u32x4((a), (b))

/* n >= 2 and even: h = h r^n + sum m_i r^(n-i), as described at the top. */
static void blocks_simd(uint32_t h[5], const uint32_t r[5], const uint32_t r2[5],
                        const uint8_t *m, size_t n) {
  v128_t R[5], S[5], RL[5], SL[5];  /* [r^2, r^2] and the last step's [r^2, r] */
  for (int i = 0; i < 5; i++) {
    R[i] = wasm_i32x4_make((int32_t)r2[i], (int32_t)r2[i], 0, 0);
    S[i] = wasm_i32x4_make((int32_t)(r2[i] * 5), (int32_t)(r2[i] * 5), 0, 0);
    RL[i] = wasm_i32x4_make((int32_t)r2[i], (int32_t)r[i], 0, 0);
    SL[i] = wasm_i32x4_make((int32_t)(r2[i] * 5), (int32_t)(r[i] * 5), 0, 0);
  }
  const v128_t mask = wasm_i64x2_splat(MASK26);
  v128_t H[5];
  for (int i = 0; i < 5; i++) H[i] = wasm_i32x4_make((int32_t)h[i], 0, 0, 0);
  for (size_t k = 0; k < n; k += 2, m += 32) {
    uint32_t a[5], b[5];
    block_limbs(m, a, FULL);
    block_limbs(m + 16, b, FULL);
    for (int i = 0; i < 5; i++) {
      H[i] = wasm_i32x4_add(H[i], wasm_i32x4_make((int32_t)a[i], (int32_t)b[i], 0, 0));
    }
    const v128_t *r_ = k + 2 < n ? R : RL;
    const v128_t *s_ = k + 2 < n ? S : SL;
    v128_t d0 = wasm_i64x2_add(
        wasm_i64x2_add(MUL(H[0], r_[0]), MUL(H[1], s_[4])),
        wasm_i64x2_add(wasm_i64x2_add(MUL(H[2], s_[3]), MUL(H[3], s_[2])), MUL(H[4], s_[1])));
    v128_t d1 = wasm_i64x2_add(
        wasm_i64x2_add(MUL(H[0], r_[1]), MUL(H[1], r_[0])),
        wasm_i64x2_add(wasm_i64x2_add(MUL(H[2], s_[4]), MUL(H[3], s_[3])), MUL(H[4], s_[2])));
    v128_t d2 = wasm_i64x2_add(
        wasm_i64x2_add(MUL(H[0], r_[2]), MUL(H[1], r_[1])),
        wasm_i64x2_add(wasm_i64x2_add(MUL(H[2], r_[0]), MUL(H[3], s_[4])), MUL(H[4], s_[3])));
    v128_t d3 = wasm_i64x2_add(
        wasm_i64x2_add(MUL(H[0], r_[3]), MUL(H[1], r_[2])),
        wasm_i64x2_add(wasm_i64x2_add(MUL(H[2], r_[1]), MUL(H[3], r_[0])), MUL(H[4], s_[4])));
    v128_t d4 = wasm_i64x2_add(
        wasm_i64x2_add(MUL(H[0], r_[4]), MUL(H[1], r_[3])),
        wasm_i64x2_add(wasm_i64x2_add(MUL(H[2], r_[2]), MUL(H[3], r_[1])), MUL(H[4], r_[0])));
    /* Carry in 64-bit lanes, then back to 32-bit lanes 0 and 1. */
    v128_t c;
    c = wasm_u64x2_shr(d0, 26); d0 = wasm_v128_and(d0, mask); d1 = wasm_i64x2_add(d1, c);
    c = wasm_u64x2_shr(d1, 26); d1 = wasm_v128_and(d1, mask); d2 = wasm_i64x2_add(d2, c);
    c = wasm_u64x2_shr(d2, 26); d2 = wasm_v128_and(d2, mask); d3 = wasm_i64x2_add(d3, c);
    c = wasm_u64x2_shr(d3, 26); d3 = wasm_v128_and(d3, mask); d4 = wasm_i64x2_add(d4, c);
    c = wasm_u64x2_shr(d4, 26); d4 = wasm_v128_and(d4, mask);
    d0 = wasm_i64x2_add(d0, wasm_i64x2_add(c, wasm_i64x2_shl(c, 2)));
    c = wasm_u64x2_shr(d0, 26); d0 = wasm_v128_and(d0, mask); d1 = wasm_i64x2_add(d1, c);
    H[0] = wasm_i32x4_shuffle(d0, d0, 0, 2, 0, 2);
    H[1] = wasm_i32x4_shuffle(d1, d1, 0, 2, 0, 2);
    H[2] = wasm_i32x4_shuffle(d2, d2, 0, 2, 0, 2);
    H[3] = wasm_i32x4_shuffle(d3, d3, 0, 2, 0, 2);
    H[4] = wasm_i32x4_shuffle(d4, d4, 0, 2, 0, 2);
  }
  /* h = A + B, carried back under 2^26 per limb (h1 may exceed it a little). */
  uint32_t t[5];
  for (int i = 0; i < 5; i++) {
    t[i] = (uint32_t)wasm_i32x4_extract_lane(H[i], 0) + (uint32_t)wasm_i32x4_extract_lane(H[i], 1);
  }
  uint32_t cc;
  cc = t[0] >> 26; t[0] &= MASK26; t[1] += cc;
  cc = t[1] >> 26; t[1] &= MASK26; t[2] += cc;
  cc = t[2] >> 26; t[2] &= MASK26; t[3] += cc;
  cc = t[3] >> 26; t[3] &= MASK26; t[4] += cc;
  cc = t[4] >> 26; t[4] &= MASK26; t[0] += cc * 5;
  cc = t[0] >> 26; t[0] &= MASK26; t[1] += cc;
  memcpy(h, t, sizeof(t));
}

/* A run of full blocks: SIMD for the even part of four or more. */
static void blocks(uint32_t h[5], const uint32_t r[5], const uint32_t r2[5],
                   const uint8_t *m, size_t n) {
  if (n < 4) {
    blocks_scalar(h, r, m, n, FULL);
    return;
  }
  if (n & 1) {
    blocks_scalar(h, r, m, 1, FULL);
    m += 16;
    n--;
  }
  blocks_simd(h, r, r2, m, n);
}

/* A message zero-padded to whole blocks (RFC 8439 section 2.8). */
static void padded(uint32_t h[5], const uint32_t r[5], const uint32_t r2[5],
                   const uint8_t *m, size_t len) {
  blocks(h, r, r2, m, len / 16);
  if (len % 16) {
    uint8_t last[16] = {0};
    memcpy(last, m + len - len % 16, len % 16);
    blocks_scalar(h, r, last, 1, FULL);
  }
}

/* r (clamped) and r^2 from the key's first half. */
static void setup(uint32_t r[5], uint32_t r2[5], const uint8_t key[32]) {
  r[0] = le32(key) & 0x3ffffff;
  r[1] = (le32(key + 3) >> 2) & 0x3ffff03;
  r[2] = (le32(key + 6) >> 4) & 0x3ffc0ff;
  r[3] = (le32(key + 9) >> 6) & 0x3f03fff;
  r[4] = (le32(key + 12) >> 8) & 0x00fffff;
  memcpy(r2, r, 5 * sizeof(uint32_t));
  mul_r(r2, r);
}

/* tag = (h mod p) + s mod 2^128, s being the key's second half; wipes h. */
static void finish(uint8_t tag[16], uint32_t h[5], const uint8_t key[32]) {
  /* Fully carry h, then subtract p = 2^130 - 5 if h >= p. */
  uint32_t c, g[5], sel;
  c = h[1] >> 26; h[1] &= MASK26; h[2] += c;
  c = h[2] >> 26; h[2] &= MASK26; h[3] += c;
  c = h[3] >> 26; h[3] &= MASK26; h[4] += c;
  c = h[4] >> 26; h[4] &= MASK26; h[0] += c * 5;
  c = h[0] >> 26; h[0] &= MASK26; h[1] += c;
  g[0] = h[0] + 5; c = g[0] >> 26; g[0] &= MASK26;
  g[1] = h[1] + c; c = g[1] >> 26; g[1] &= MASK26;
  g[2] = h[2] + c; c = g[2] >> 26; g[2] &= MASK26;
  g[3] = h[3] + c; c = g[3] >> 26; g[3] &= MASK26;
  g[4] = h[4] + c - (1u << 26);
  sel = (g[4] >> 31) - 1; /* all ones when h + 5 - 2^130 did not go negative */
  for (int i = 0; i < 5; i++) h[i] = (h[i] & ~sel) | (g[i] & sel);

  /* h mod 2^128, plus s, mod 2^128. */
  uint32_t w0 = h[0] | (h[1] << 26);
  uint32_t w1 = (h[1] >> 6) | (h[2] << 20);
  uint32_t w2 = (h[2] >> 12) | (h[3] << 14);
  uint32_t w3 = (h[3] >> 18) | (h[4] << 8);
  uint64_t f;
  f = (uint64_t)w0 + le32(key + 16); store_le32(tag, (uint32_t)f);
  f = (uint64_t)w1 + le32(key + 20) + (f >> 32); store_le32(tag + 4, (uint32_t)f);
  f = (uint64_t)w2 + le32(key + 24) + (f >> 32); store_le32(tag + 8, (uint32_t)f);
  f = (uint64_t)w3 + le32(key + 28) + (f >> 32); store_le32(tag + 12, (uint32_t)f);
  memset(h, 0, 5 * sizeof(uint32_t));
}

void siwa_poly1305_aead_tag(uint8_t tag[16], const uint8_t key[32],
                            const uint8_t *aad, size_t aadlen,
                            const uint8_t *ct, size_t ctlen) {
  uint32_t r[5], r2[5], h[5] = {0, 0, 0, 0, 0};
  setup(r, r2, key);
  padded(h, r, r2, aad, aadlen);
  padded(h, r, r2, ct, ctlen);
  uint8_t lens[16];
  for (int i = 0; i < 8; i++) {
    lens[i] = (uint8_t)((uint64_t)aadlen >> (8 * i));
    lens[8 + i] = (uint8_t)((uint64_t)ctlen >> (8 * i));
  }
  blocks_scalar(h, r, lens, 1, FULL);
  finish(tag, h, key);
  memset(r, 0, sizeof(r));
  memset(r2, 0, sizeof(r2));
}

void siwa_poly1305_mac(uint8_t tag[16], const uint8_t key[32],
                       const uint8_t *m, size_t len) {
  uint32_t r[5], r2[5], h[5] = {0, 0, 0, 0, 0};
  setup(r, r2, key);
  blocks(h, r, r2, m, len / 16);
  if (len % 16) {
    uint8_t last[16] = {0};
    memcpy(last, m + len - len % 16, len % 16);
    last[len % 16] = 1;
    blocks_scalar(h, r, last, 1, 0);
  }
  finish(tag, h, key);
  memset(r, 0, sizeof(r));
  memset(r2, 0, sizeof(r2));
}
