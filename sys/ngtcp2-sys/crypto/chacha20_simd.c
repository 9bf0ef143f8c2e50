/*
 * ChaCha20 (RFC 8439 section 2.3/2.4) with wasm simd128: the "vertical" layout,
 * where vector i holds state word i of four consecutive blocks, so each
 * quarter round is four lanes of the scalar one. And ChaCha20-Poly1305
 * (section 2.8) in one pass: Poly1305 is scalar 64-bit arithmetic bound by
 * its serial carry chain, ChaCha20 is SIMD work, so each Poly1305 block is
 * computed between two of the ChaCha20 rounds and the CPU runs both at once
 * (the "stitched" layout of OpenSSL's x86 ChaCha20-Poly1305). See
 * chacha20_simd.h.
 */
#include "chacha20_simd.h"

#include <string.h>
#include <wasm_simd128.h>

static inline uint32_t load32_le(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4); /* wasm is little-endian */
  return v;
}
static inline void store32_le(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* Clears secrets: memset (memory.fill), then an empty asm statement that
 * claims to read the memory, so the compiler cannot drop the memset as a dead
 * store (the explicit_bzero idiom). */
static void wipe(void *p, size_t n) {
  memset(p, 0, n);
  __asm__ __volatile__("" : : "r"(p) : "memory");
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

/* Poly1305 (RFC 8439 section 2.5) in base 2^32: h in five 32-bit limbs (h4
 * holds the bits from 2^128 up), r in four. Clamping clears the low two bits
 * of r1..r3, so s_i = r_i + r_i / 4 = 5 r_i / 4 is exact and folds the
 * product's part above 2^130 back in (2^130 = 5 mod p): 20 multiplies of
 * 32-bit values into 64 bits per block, where the 26-bit limbs of wolfSSL's
 * portable C take 25. The limbs live in 64-bit variables between blocks. */
typedef struct {
  uint64_t h0, h1, h2, h3, h4;
  uint64_t r0, r1, r2, r3, s1, s2, s3;
} poly1305;

static void poly1305_init(poly1305 *p, const uint8_t key[32]) {
  p->r0 = load32_le(key) & 0x0fffffff;
  p->r1 = load32_le(key + 4) & 0x0ffffffc;
  p->r2 = load32_le(key + 8) & 0x0ffffffc;
  p->r3 = load32_le(key + 12) & 0x0ffffffc;
  p->s1 = p->r1 + (p->r1 >> 2);
  p->s2 = p->r2 + (p->r2 >> 2);
  p->s3 = p->r3 + (p->r3 >> 2);
  p->h0 = p->h1 = p->h2 = p->h3 = p->h4 = 0;
}

/* The state in locals (POLY_LOAD), so that a block inside the ChaCha20 rounds
 * costs no memory traffic; POLY_STORE writes h back. */
#define POLY_LOAD(p)                                                           \
  uint64_t h0 = (p)->h0, h1 = (p)->h1, h2 = (p)->h2, h3 = (p)->h3,             \
           h4 = (p)->h4;                                                       \
  const uint64_t r0 = (p)->r0, r1 = (p)->r1, r2 = (p)->r2, r3 = (p)->r3,       \
                 s1 = (p)->s1, s2 = (p)->s2, s3 = (p)->s3
#define POLY_STORE(p)                                                          \
  do {                                                                         \
    (p)->h0 = h0; (p)->h1 = h1; (p)->h2 = h2; (p)->h3 = h3; (p)->h4 = h4;      \
  } while (0)

/* The bits of h from 2^130 up, times 5 (2^130 = 5 mod p), added back at the
 * bottom and carried through: h4 ends at most a few bits wide. */
#define POLY_FOLD()                                                            \
  do {                                                                         \
    uint64_t c_ = (h4 >> 2) + (h4 & ~(uint64_t)3);                             \
    h4 &= 3;                                                                   \
    h0 += c_;                                                                  \
    h1 += h0 >> 32; h0 = (uint32_t)h0;                                         \
    h2 += h1 >> 32; h1 = (uint32_t)h1;                                         \
    h3 += h2 >> 32; h2 = (uint32_t)h2;                                         \
    h4 += h3 >> 32; h3 = (uint32_t)h3;                                         \
  } while (0)

/* h = (h + m + 2^128) * r mod 2^130 - 5, partly reduced (h4 stays small). */
#define POLY_BLOCK(m)                                                          \
  do {                                                                         \
    uint64_t d0, d1, d2, d3;                                                   \
    h0 += load32_le(m);                                                        \
    h1 += load32_le((m) + 4) + (h0 >> 32);                                     \
    h2 += load32_le((m) + 8) + (h1 >> 32);                                     \
    h3 += load32_le((m) + 12) + (h2 >> 32);                                    \
    h4 += (h3 >> 32) + 1;                                                      \
    h0 = (uint32_t)h0; h1 = (uint32_t)h1; h2 = (uint32_t)h2; h3 = (uint32_t)h3; \
    d0 = h0 * r0 + h1 * s3 + h2 * s2 + h3 * s1;                                \
    d1 = h0 * r1 + h1 * r0 + h2 * s3 + h3 * s2 + h4 * s1;                      \
    d2 = h0 * r2 + h1 * r1 + h2 * r0 + h3 * s3 + h4 * s2;                      \
    d3 = h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s3;                      \
    h4 = h4 * r0;                                                              \
    d1 += d0 >> 32;                                                            \
    d2 += d1 >> 32;                                                            \
    d3 += d2 >> 32;                                                            \
    h4 += d3 >> 32;                                                            \
    h0 = (uint32_t)d0; h1 = (uint32_t)d1; h2 = (uint32_t)d2; h3 = (uint32_t)d3; \
    POLY_FOLD();                                                               \
  } while (0)

static void poly1305_blocks(poly1305 *p, const uint8_t *m, size_t blocks) {
  POLY_LOAD(p);
  for (size_t i = 0; i < blocks; i++) {
    POLY_BLOCK(m + 16 * i);
  }
  POLY_STORE(p);
}

/* m, then zeros up to a multiple of 16 bytes (the AEAD's padding). */
static void poly1305_padded(poly1305 *p, const uint8_t *m, size_t n) {
  poly1305_blocks(p, m, n / 16);
  if (n % 16 != 0) {
    uint8_t b[16] = {0};
    memcpy(b, m + n - n % 16, n % 16);
    poly1305_blocks(p, b, 1);
  }
}

/* tag = (h mod 2^130 - 5) + s mod 2^128, s = key[16..32), in constant time. */
static void poly1305_final(const poly1305 *p, const uint8_t key[32],
                           uint8_t tag[16]) {
  uint64_t h0 = p->h0, h1 = p->h1, h2 = p->h2, h3 = p->h3, h4 = p->h4;
  uint64_t g0, g1, g2, g3, g4, mask;
  POLY_FOLD();
  /* g = h + 5 - 2^130; no borrow (bit 2 of g4 set) means h >= p, and h - p = g */
  g0 = h0 + 5;
  g1 = h1 + (g0 >> 32);
  g2 = h2 + (g1 >> 32);
  g3 = h3 + (g2 >> 32);
  g4 = h4 + (g3 >> 32);
  mask = 0 - (g4 >> 2);
  h0 = (h0 & ~mask) | ((uint32_t)g0 & mask);
  h1 = (h1 & ~mask) | ((uint32_t)g1 & mask);
  h2 = (h2 & ~mask) | ((uint32_t)g2 & mask);
  h3 = (h3 & ~mask) | ((uint32_t)g3 & mask);
  h0 += load32_le(key + 16);
  h1 += load32_le(key + 20) + (h0 >> 32);
  h2 += load32_le(key + 24) + (h1 >> 32);
  h3 += load32_le(key + 28) + (h2 >> 32);
  store32_le(tag, (uint32_t)h0);
  store32_le(tag + 4, (uint32_t)h1);
  store32_le(tag + 8, (uint32_t)h2);
  store32_le(tag + 12, (uint32_t)h3);
}

/* Four blocks of keystream (counters counter..counter+3) into ks[256] and
 * `mac_blocks` Poly1305 blocks of mac, the first 20 of them in between the
 * half rounds (two per double round), any more after them. */
static void blocks4_mac(const uint32_t in[16], uint32_t counter, uint8_t ks[256],
                        poly1305 *p, const uint8_t *mac, size_t mac_blocks) {
  v128_t x[16], s[16];
  size_t done = 0;
  POLY_LOAD(p);
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
    if (done < mac_blocks) {
      POLY_BLOCK(mac + 16 * done);
      done++;
    }
    QR(x[2], x[6], x[10], x[14]);
    QR(x[3], x[7], x[11], x[15]);
    QR(x[0], x[5], x[10], x[15]);
    QR(x[1], x[6], x[11], x[12]);
    if (done < mac_blocks) {
      POLY_BLOCK(mac + 16 * done);
      done++;
    }
    QR(x[2], x[7], x[8], x[13]);
    QR(x[3], x[4], x[9], x[14]);
  }
  for (; done < mac_blocks; done++) {
    POLY_BLOCK(mac + 16 * done);
  }
  POLY_STORE(p);
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

/* Four blocks of keystream alone. */
static void blocks4(const uint32_t in[16], uint32_t counter, uint8_t ks[256]) {
  poly1305 unused = {0};
  blocks4_mac(in, counter, ks, &unused, NULL, 0);
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
  wipe(ks, sizeof(ks));
  wipe(st, sizeof(st));
}

/* Block 0 of (key, nonce): its first 32 bytes are the Poly1305 key; ks gets
 * blocks 0-3 (blocks 1-3 are the first 192 bytes of the AEAD's keystream). */
static void aead_start(uint32_t st[16], const uint8_t key[32],
                       const uint8_t nonce[12], uint8_t ks[256], poly1305 *p,
                       const uint8_t *aad, size_t aadlen) {
  init_state(st, key, nonce);
  blocks4(st, 0, ks);
  poly1305_init(p, ks);
  poly1305_padded(p, aad, aadlen);
}

/* The tag's end: the lengths block, then h + s. */
static void aead_finish(poly1305 *p, const uint8_t ks[256], size_t aadlen,
                        size_t len, uint8_t tag[16]) {
  uint8_t lens[16];
  uint64_t a = aadlen, c = len;
  memcpy(lens, &a, 8);
  memcpy(lens + 8, &c, 8);
  poly1305_blocks(p, lens, 1);
  poly1305_final(p, ks, tag);
}

void siwa_chacha20_poly1305(const uint8_t key[32], const uint8_t nonce[12],
                            const uint8_t *aad, size_t aadlen,
                            const uint8_t *in, uint8_t *out, size_t len,
                            int seal, uint8_t tag[16]) {
  uint32_t st[16];
  uint8_t ks[256] __attribute__((aligned(16)));
  uint8_t poly_key[32];
  poly1305 p;
  const uint8_t *ct = seal ? out : in;
  size_t head = len < 192 ? len : 192;
  size_t done, mac_at = 0;
  uint32_t counter = 4;
  aead_start(st, key, nonce, ks, &p, aad, aadlen);
  memcpy(poly_key, ks, 32);
  xor_keystream(out, in, ks + 64, head);
  /* The ciphertext before mac_at is in the tag. Each round of four blocks
   * takes in up to 20 of the whole 16-byte blocks that exist by then: when
   * sealing, those the rounds before produced (16 a round); when opening, any
   * (the whole ciphertext is there), so only block 0 runs on its own. */
  for (done = head; done < len; counter += 4) {
    size_t n = len - done < 256 ? len - done : 256;
    size_t blocks = ((seal ? done : len) - mac_at) / 16;
    if (blocks > 20) {
      blocks = 20;
    }
    blocks4_mac(st, counter, ks, &p, ct + mac_at, blocks);
    mac_at += 16 * blocks;
    xor_keystream(out + done, in + done, ks, n);
    done += n;
  }
  poly1305_padded(&p, ct + mac_at, len - mac_at);
  aead_finish(&p, poly_key, aadlen, len, tag);
  wipe(ks, sizeof(ks));
  wipe(poly_key, sizeof(poly_key));
  wipe(&p, sizeof(p));
  wipe(st, sizeof(st));
}

void siwa_chacha20_poly1305_tag(const uint8_t key[32], const uint8_t nonce[12],
                                const uint8_t *aad, size_t aadlen,
                                const uint8_t *ct, size_t len,
                                uint8_t tag[16]) {
  uint32_t st[16];
  uint8_t ks[256] __attribute__((aligned(16)));
  poly1305 p;
  aead_start(st, key, nonce, ks, &p, aad, aadlen);
  poly1305_padded(&p, ct, len);
  aead_finish(&p, ks, aadlen, len, tag);
  wipe(ks, sizeof(ks));
  wipe(&p, sizeof(p));
  wipe(st, sizeof(st));
}

void siwa_poly1305_blocks_mac(const uint8_t key[32], const uint8_t *m,
                              size_t blocks, uint8_t tag[16]) {
  poly1305 p;
  poly1305_init(&p, key);
  poly1305_blocks(&p, m, blocks);
  poly1305_final(&p, key, tag);
  wipe(&p, sizeof(p));
}
