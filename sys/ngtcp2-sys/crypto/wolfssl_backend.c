/*
 * Socket.IWA's ngtcp2 crypto backend for wolfSSL.
 *
 * ngtcp2's crypto/shared.c implements the QUIC key schedule in terms of a small
 * set of primitives (AEAD, header protection, HKDF, randomness, TLS glue). The
 * registry copy of ngtcp2 ships no wolfSSL backend, so this file provides those
 * primitives on top of wolfSSL's QUIC API (wolfssl/quic.h) and wolfCrypt.
 *
 * Ownership rules:
 *  - The WOLFSSL object's app data is an ngtcp2_crypto_conn_ref*, set by the
 *    application; every callback from wolfSSL reaches the ngtcp2_conn through it.
 *  - AEAD contexts are wolfSSL EVP contexts created by wolfSSL_quic_crypt_new,
 *    in a small struct (aead_state below) that, in the wasm build, can instead
 *    hold a ChaCha20-Poly1305 key for our wasm-SIMD ChaCha20-Poly1305 (chacha20_simd.c).
 *  - Header-protection contexts are our own small struct (hp_ctx below) so the
 *    mask is one block operation, with no EVP padding or IV bookkeeping.
 */
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_wolfssl.h>

#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "shared.h"

#ifdef SOCKET_IWA_CHACHA20_SIMD
#include "chacha20_simd.h"
#endif

/* ---- algorithm descriptors ------------------------------------------------ */

static int cipher_is_chacha(const WOLFSSL_EVP_CIPHER *c) {
  return c == wolfSSL_EVP_chacha20() || wolfSSL_quic_aead_is_chacha20(c);
}

ngtcp2_crypto_aead *ngtcp2_crypto_aead_aes_128_gcm(ngtcp2_crypto_aead *aead) {
  return ngtcp2_crypto_aead_init(aead, (void *)wolfSSL_EVP_aes_128_gcm());
}

ngtcp2_crypto_md *ngtcp2_crypto_md_sha256(ngtcp2_crypto_md *md) {
  md->native_handle = (void *)wolfSSL_EVP_sha256();
  return md;
}

ngtcp2_crypto_ctx *ngtcp2_crypto_ctx_initial(ngtcp2_crypto_ctx *ctx) {
  ngtcp2_crypto_aead_init(&ctx->aead, (void *)wolfSSL_EVP_aes_128_gcm());
  ctx->md.native_handle = (void *)wolfSSL_EVP_sha256();
  ctx->hp.native_handle = (void *)wolfSSL_EVP_aes_128_ctr();
  ctx->max_encryption = 0;
  ctx->max_decryption_failure = 0;
  return ctx;
}

ngtcp2_crypto_aead *ngtcp2_crypto_aead_init(ngtcp2_crypto_aead *aead,
                                            void *aead_native_handle) {
  aead->native_handle = aead_native_handle;
  aead->max_overhead = wolfSSL_quic_get_aead_tag_len(
    (const WOLFSSL_EVP_CIPHER *)aead_native_handle);
  return aead;
}

ngtcp2_crypto_aead *ngtcp2_crypto_aead_retry(ngtcp2_crypto_aead *aead) {
  return ngtcp2_crypto_aead_aes_128_gcm(aead);
}

static void set_limits(ngtcp2_crypto_ctx *ctx) {
  const WOLFSSL_EVP_CIPHER *aead = ctx->aead.native_handle;
  if (wolfSSL_quic_aead_is_chacha20(aead)) {
    ctx->max_encryption = NGTCP2_CRYPTO_MAX_ENCRYPTION_CHACHA20_POLY1305;
    ctx->max_decryption_failure =
      NGTCP2_CRYPTO_MAX_DECRYPTION_FAILURE_CHACHA20_POLY1305;
  } else if (wolfSSL_quic_aead_is_ccm(aead)) {
    ctx->max_encryption = NGTCP2_CRYPTO_MAX_ENCRYPTION_AES_CCM;
    ctx->max_decryption_failure = NGTCP2_CRYPTO_MAX_DECRYPTION_FAILURE_AES_CCM;
  } else {
    ctx->max_encryption = NGTCP2_CRYPTO_MAX_ENCRYPTION_AES_GCM;
    ctx->max_decryption_failure = NGTCP2_CRYPTO_MAX_DECRYPTION_FAILURE_AES_GCM;
  }
}

ngtcp2_crypto_ctx *ngtcp2_crypto_ctx_tls(ngtcp2_crypto_ctx *ctx,
                                         void *tls_native_handle) {
  WOLFSSL *ssl = tls_native_handle;
  ngtcp2_crypto_aead_init(&ctx->aead, (void *)wolfSSL_quic_get_aead(ssl));
  ctx->md.native_handle = (void *)wolfSSL_quic_get_md(ssl);
  ctx->hp.native_handle = (void *)wolfSSL_quic_get_hp(ssl);
  set_limits(ctx);
  return ctx;
}

ngtcp2_crypto_ctx *ngtcp2_crypto_ctx_tls_early(ngtcp2_crypto_ctx *ctx,
                                               void *tls_native_handle) {
  /* wolfSSL reports the resumed session's suite once the ClientHello is out. */
  return ngtcp2_crypto_ctx_tls(ctx, tls_native_handle);
}

size_t ngtcp2_crypto_md_hashlen(const ngtcp2_crypto_md *md) {
  return (size_t)wolfSSL_EVP_MD_size(md->native_handle);
}

size_t ngtcp2_crypto_aead_keylen(const ngtcp2_crypto_aead *aead) {
  return (size_t)wolfSSL_EVP_Cipher_key_length(aead->native_handle);
}

size_t ngtcp2_crypto_aead_noncelen(const ngtcp2_crypto_aead *aead) {
  return (size_t)wolfSSL_EVP_CIPHER_iv_length(aead->native_handle);
}

/* ---- HKDF ------------------------------------------------------------------- */

/* HKDF straight on wolfCrypt (hmac.c). wolfSSL_quic_hkdf_* go through the EVP
 * PKEY layer, which builds and health-tests a fresh DRBG on every call: that
 * was ~10% of the server's CPU per handshake (docs/HANDSHAKE.md). QUIC only
 * uses SHA-256 and SHA-384; any other digest keeps the EVP path. */
static int hkdf_hash_type(const ngtcp2_crypto_md *md) {
  if (md->native_handle == (void *)wolfSSL_EVP_sha256()) {
    return WC_SHA256;
  }
  if (md->native_handle == (void *)wolfSSL_EVP_sha384()) {
    return WC_SHA384;
  }
  return -1;
}

int ngtcp2_crypto_hkdf_extract(uint8_t *dest, const ngtcp2_crypto_md *md,
                               const uint8_t *secret, size_t secretlen,
                               const uint8_t *salt, size_t saltlen) {
  int type = hkdf_hash_type(md);
  if (type >= 0) {
    return wc_HKDF_Extract(type, salt, (word32)saltlen, secret,
                           (word32)secretlen, dest) == 0
             ? 0
             : -1;
  }
  return wolfSSL_quic_hkdf_extract(dest, md->native_handle, secret, secretlen,
                                   salt, saltlen) == WOLFSSL_SUCCESS
           ? 0
           : -1;
}

int ngtcp2_crypto_hkdf_expand(uint8_t *dest, size_t destlen,
                              const ngtcp2_crypto_md *md, const uint8_t *secret,
                              size_t secretlen, const uint8_t *info,
                              size_t infolen) {
  int type = hkdf_hash_type(md);
  if (type >= 0) {
    return wc_HKDF_Expand(type, secret, (word32)secretlen, info,
                          (word32)infolen, dest, (word32)destlen) == 0
             ? 0
             : -1;
  }
  return wolfSSL_quic_hkdf_expand(dest, destlen, md->native_handle, secret,
                                  secretlen, info, infolen) == WOLFSSL_SUCCESS
           ? 0
           : -1;
}

int ngtcp2_crypto_hkdf(uint8_t *dest, size_t destlen,
                       const ngtcp2_crypto_md *md, const uint8_t *secret,
                       size_t secretlen, const uint8_t *salt, size_t saltlen,
                       const uint8_t *info, size_t infolen) {
  int type = hkdf_hash_type(md);
  if (type >= 0) {
    return wc_HKDF(type, secret, (word32)secretlen, salt, (word32)saltlen,
                   info, (word32)infolen, dest, (word32)destlen) == 0
             ? 0
             : -1;
  }
  return wolfSSL_quic_hkdf(dest, destlen, md->native_handle, secret, secretlen,
                           salt, saltlen, info, infolen) == WOLFSSL_SUCCESS
           ? 0
           : -1;
}

/* ---- AEAD ------------------------------------------------------------------- */

/* An AEAD context is wolfSSL's EVP context, except ChaCha20-Poly1305 in the
 * wasm build (SOCKET_IWA_CHACHA20_SIMD, set by build.rs for wasm32 only), which
 * keeps the key and runs ChaCha20 four blocks at a time in wasm SIMD with our
 * own Poly1305 in between its rounds (chacha20_simd.c). Natively wolfSSL's AVX2 code is
 * faster than 128-bit lanes, so the EVP path stays. docs/ARCHITECTURE.md,
 * "ChaCha20-Poly1305 in wasm"; which suite is chosen: docs/TLS.md. */
typedef struct aead_state {
  WOLFSSL_EVP_CIPHER_CTX *evp; /* NULL: the SIMD ChaCha20-Poly1305 below */
#ifdef SOCKET_IWA_CHACHA20_SIMD
  uint8_t key[32];
#endif
} aead_state;

static int aead_ctx_init(ngtcp2_crypto_aead_ctx *aead_ctx,
                         const ngtcp2_crypto_aead *aead, const uint8_t *key,
                         int encrypt) {
  aead_state *a = calloc(1, sizeof(*a));
  if (a == NULL) {
    return -1;
  }
#ifdef SOCKET_IWA_CHACHA20_SIMD
  if (wolfSSL_quic_aead_is_chacha20(aead->native_handle)) {
    memcpy(a->key, key, sizeof(a->key));
    aead_ctx->native_handle = a;
    return 0;
  }
#endif
  a->evp = wolfSSL_quic_crypt_new(aead->native_handle, key, NULL, encrypt);
  if (a->evp == NULL) {
    free(a);
    return -1;
  }
  aead_ctx->native_handle = a;
  return 0;
}

int ngtcp2_crypto_aead_ctx_encrypt_init(ngtcp2_crypto_aead_ctx *aead_ctx,
                                        const ngtcp2_crypto_aead *aead,
                                        const uint8_t *key, size_t noncelen) {
  (void)noncelen;
  return aead_ctx_init(aead_ctx, aead, key, 1);
}

int ngtcp2_crypto_aead_ctx_decrypt_init(ngtcp2_crypto_aead_ctx *aead_ctx,
                                        const ngtcp2_crypto_aead *aead,
                                        const uint8_t *key, size_t noncelen) {
  (void)noncelen;
  return aead_ctx_init(aead_ctx, aead, key, 0);
}

void ngtcp2_crypto_aead_ctx_free(ngtcp2_crypto_aead_ctx *aead_ctx) {
  aead_state *a = aead_ctx->native_handle;
  if (a == NULL) {
    return;
  }
  if (a->evp) {
    wolfSSL_EVP_CIPHER_CTX_free(a->evp);
  }
  wc_ForceZero(a, sizeof(*a));
  free(a);
  aead_ctx->native_handle = NULL;
}

#ifdef SOCKET_IWA_CHACHA20_SIMD
#define CHACHA20_POLY1305_TAGLEN 16

/* RFC 8439 section 2.8 in one pass (chacha20_simd.c): the tag is Poly1305
 * over aad, ciphertext, their padding and lengths, keyed by the first 32
 * bytes of ChaCha20 block 0. */
static int chacha20_poly1305_seal(uint8_t *dest, const aead_state *a,
                                  const uint8_t *plaintext, size_t len,
                                  const uint8_t *nonce, const uint8_t *aad,
                                  size_t aadlen) {
  /* dest may be plaintext itself (ngtcp2 allows it): each stretch is read
   * before it is written, and the tag reads the ciphertext written. */
  siwa_chacha20_poly1305(a->key, nonce, aad, aadlen, plaintext, dest, len, 1,
                         dest + len);
  return 0;
}

static int chacha20_poly1305_open(uint8_t *dest, const aead_state *a,
                                  const uint8_t *ciphertext, size_t ctlen,
                                  const uint8_t *nonce, const uint8_t *aad,
                                  size_t aadlen) {
  uint8_t tag[CHACHA20_POLY1305_TAGLEN];
  size_t len, i;
  uint8_t diff = 0;
  uintptr_t d = (uintptr_t)dest, c = (uintptr_t)ciphertext;
  int in_place;
  if (ctlen < CHACHA20_POLY1305_TAGLEN) {
    return -1;
  }
  len = ctlen - CHACHA20_POLY1305_TAGLEN;
  in_place = d < c + ctlen && c < d + len;
  if (in_place) {
    /* dest overlaps the ciphertext: the tag is checked before anything is
     * decrypted, at the cost of one more four-block round (block 0). */
    siwa_chacha20_poly1305_tag(a->key, nonce, aad, aadlen, ciphertext, len, tag);
  } else {
    /* One pass gives the plaintext and the tag; the ciphertext stays intact,
     * and dest is wiped if the tag is wrong. */
    siwa_chacha20_poly1305(a->key, nonce, aad, aadlen, ciphertext, dest, len, 0,
                           tag);
  }
  for (i = 0; i < CHACHA20_POLY1305_TAGLEN; i++) {
    diff |= (uint8_t)(tag[i] ^ ciphertext[len + i]);
  }
  if (diff != 0) {
    if (!in_place) {
      wc_ForceZero(dest, len);
    }
    return -1;
  }
  if (in_place) {
    siwa_chacha20_xor(a->key, 1, nonce, ciphertext, dest, len);
  }
  return 0;
}
#endif

int ngtcp2_crypto_encrypt(uint8_t *dest, const ngtcp2_crypto_aead *aead,
                          const ngtcp2_crypto_aead_ctx *aead_ctx,
                          const uint8_t *plaintext, size_t plaintextlen,
                          const uint8_t *nonce, size_t noncelen,
                          const uint8_t *aad, size_t aadlen) {
  const aead_state *a = aead_ctx->native_handle;
  (void)aead;
  (void)noncelen;
#ifdef SOCKET_IWA_CHACHA20_SIMD
  if (a->evp == NULL) {
    return chacha20_poly1305_seal(dest, a, plaintext, plaintextlen, nonce, aad,
                                  aadlen);
  }
#endif
  return wolfSSL_quic_aead_encrypt(dest, a->evp, plaintext, plaintextlen,
                                   nonce, aad, aadlen) == WOLFSSL_SUCCESS
           ? 0
           : -1;
}

int ngtcp2_crypto_decrypt(uint8_t *dest, const ngtcp2_crypto_aead *aead,
                          const ngtcp2_crypto_aead_ctx *aead_ctx,
                          const uint8_t *ciphertext, size_t ciphertextlen,
                          const uint8_t *nonce, size_t noncelen,
                          const uint8_t *aad, size_t aadlen) {
  const aead_state *a = aead_ctx->native_handle;
  (void)aead;
  (void)noncelen;
#ifdef SOCKET_IWA_CHACHA20_SIMD
  if (a->evp == NULL) {
    return chacha20_poly1305_open(dest, a, ciphertext, ciphertextlen, nonce,
                                  aad, aadlen);
  }
#endif
  return wolfSSL_quic_aead_decrypt(dest, a->evp, ciphertext, ciphertextlen,
                                   nonce, aad, aadlen) == WOLFSSL_SUCCESS
           ? 0
           : -1;
}

/* ---- header protection ----------------------------------------------------- */

/* AES suites: mask = AES-ECB(hp_key, sample). ChaCha20 suites: mask =
 * ChaCha20(hp_key, counter = sample[0..4] little-endian, nonce = sample[4..16])
 * applied to zeros (RFC 9001 section 5.4.3/5.4.4). */
typedef struct hp_ctx {
  int chacha;
  union {
    Aes aes;
    ChaCha chacha;
  } u;
} hp_ctx;

int ngtcp2_crypto_cipher_ctx_encrypt_init(ngtcp2_crypto_cipher_ctx *cipher_ctx,
                                          const ngtcp2_crypto_cipher *cipher,
                                          const uint8_t *key) {
  const WOLFSSL_EVP_CIPHER *c = cipher->native_handle;
  hp_ctx *h = calloc(1, sizeof(*h));
  if (h == NULL) {
    return -1;
  }
  if (cipher_is_chacha(c)) {
    h->chacha = 1;
    if (wc_Chacha_SetKey(&h->u.chacha, key, 32) != 0) {
      free(h);
      return -1;
    }
  } else {
    int keylen = wolfSSL_EVP_Cipher_key_length(c);
    if (wc_AesInit(&h->u.aes, NULL, INVALID_DEVID) != 0) {
      free(h);
      return -1;
    }
    if (wc_AesSetKey(&h->u.aes, key, (word32)keylen, NULL, AES_ENCRYPTION) !=
        0) {
      wc_AesFree(&h->u.aes);
      free(h);
      return -1;
    }
  }
  cipher_ctx->native_handle = h;
  return 0;
}

void ngtcp2_crypto_cipher_ctx_free(ngtcp2_crypto_cipher_ctx *cipher_ctx) {
  hp_ctx *h = cipher_ctx->native_handle;
  if (h == NULL) {
    return;
  }
  if (!h->chacha) {
    wc_AesFree(&h->u.aes);
  }
  free(h);
  cipher_ctx->native_handle = NULL;
}

int ngtcp2_crypto_hp_mask(uint8_t *dest, const ngtcp2_crypto_cipher *hp,
                          const ngtcp2_crypto_cipher_ctx *hp_ctx_,
                          const uint8_t *sample) {
  static const uint8_t zeros[NGTCP2_HP_MASKLEN] = {0};
  hp_ctx *h = hp_ctx_->native_handle;
  (void)hp;
  if (h->chacha) {
    word32 counter = (word32)sample[0] | ((word32)sample[1] << 8) |
                     ((word32)sample[2] << 16) | ((word32)sample[3] << 24);
    if (wc_Chacha_SetIV(&h->u.chacha, sample + 4, counter) != 0 ||
        wc_Chacha_Process(&h->u.chacha, dest, zeros, NGTCP2_HP_MASKLEN) != 0) {
      return -1;
    }
    return 0;
  }
  /* dest has room for NGTCP2_HP_SAMPLELEN (16) bytes. */
  return wc_AesEncryptDirect(&h->u.aes, dest, sample) == 0 ? 0 : -1;
}

/* ---- TLS glue ---------------------------------------------------------------- */

ngtcp2_encryption_level ngtcp2_crypto_wolfssl_from_wolfssl_encryption_level(
  WOLFSSL_ENCRYPTION_LEVEL wolfssl_level) {
  switch (wolfssl_level) {
  case wolfssl_encryption_initial:
    return NGTCP2_ENCRYPTION_LEVEL_INITIAL;
  case wolfssl_encryption_early_data:
    return NGTCP2_ENCRYPTION_LEVEL_0RTT;
  case wolfssl_encryption_handshake:
    return NGTCP2_ENCRYPTION_LEVEL_HANDSHAKE;
  case wolfssl_encryption_application:
  default:
    return NGTCP2_ENCRYPTION_LEVEL_1RTT;
  }
}

WOLFSSL_ENCRYPTION_LEVEL ngtcp2_crypto_wolfssl_from_ngtcp2_encryption_level(
  ngtcp2_encryption_level encryption_level) {
  switch (encryption_level) {
  case NGTCP2_ENCRYPTION_LEVEL_INITIAL:
    return wolfssl_encryption_initial;
  case NGTCP2_ENCRYPTION_LEVEL_0RTT:
    return wolfssl_encryption_early_data;
  case NGTCP2_ENCRYPTION_LEVEL_HANDSHAKE:
    return wolfssl_encryption_handshake;
  case NGTCP2_ENCRYPTION_LEVEL_1RTT:
  default:
    return wolfssl_encryption_application;
  }
}

static int tls_error_is_retryable(WOLFSSL *ssl, int rv) {
  int err = wolfSSL_get_error(ssl, rv);
  return err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE;
}

int ngtcp2_crypto_read_write_crypto_data(
  ngtcp2_conn *conn, ngtcp2_encryption_level encryption_level,
  const uint8_t *data, size_t datalen) {
  WOLFSSL *ssl = ngtcp2_conn_get_tls_native_handle(conn);
  int rv;

  if (datalen > 0 &&
      wolfSSL_provide_quic_data(
        ssl,
        ngtcp2_crypto_wolfssl_from_ngtcp2_encryption_level(encryption_level),
        data, datalen) != WOLFSSL_SUCCESS) {
    return -1;
  }

  if (!ngtcp2_conn_get_handshake_completed(conn)) {
    rv = wolfSSL_quic_do_handshake(ssl);
    if (rv <= 0) {
      if (tls_error_is_retryable(ssl, rv)) {
        return 0;
      }
      return -1;
    }
    if (!ngtcp2_conn_is_server(conn) &&
        wolfSSL_get_early_data_status(ssl) == WOLFSSL_EARLY_DATA_REJECTED) {
      if (ngtcp2_conn_tls_early_data_rejected(conn) != 0) {
        return -1;
      }
    }
    ngtcp2_conn_tls_handshake_completed(conn);
  }

  rv = wolfSSL_process_quic_post_handshake(ssl);
  if (rv != WOLFSSL_SUCCESS && !tls_error_is_retryable(ssl, rv)) {
    return -1;
  }
  return 0;
}

int ngtcp2_crypto_set_remote_transport_params(ngtcp2_conn *conn, void *tls) {
  WOLFSSL *ssl = tls;
  const uint8_t *tp = NULL;
  size_t tplen = 0;
  int rv;

  wolfSSL_get_peer_quic_transport_params(ssl, &tp, &tplen);
  rv = ngtcp2_conn_decode_and_set_remote_transport_params(conn, tp, tplen);
  if (rv != 0) {
    ngtcp2_conn_set_tls_error(conn, rv);
    return -1;
  }
  return 0;
}

int ngtcp2_crypto_set_local_transport_params(void *tls, const uint8_t *buf,
                                             size_t len) {
  return wolfSSL_set_quic_transport_params(tls, buf, len) == WOLFSSL_SUCCESS
           ? 0
           : -1;
}

/* ---- randomness ---------------------------------------------------------------- */

int ngtcp2_crypto_random(uint8_t *data, size_t datalen) {
  return wolfSSL_RAND_bytes(data, (int)datalen) == WOLFSSL_SUCCESS ? 0 : -1;
}

int ngtcp2_crypto_get_path_challenge_data_cb(ngtcp2_conn *conn, uint8_t *data,
                                             void *user_data) {
  (void)conn;
  (void)user_data;
  return ngtcp2_crypto_random(data, NGTCP2_PATH_CHALLENGE_DATALEN) == 0
           ? 0
           : NGTCP2_ERR_CALLBACK_FAILURE;
}

int ngtcp2_crypto_get_path_challenge_data2_cb(ngtcp2_conn *conn,
                                              ngtcp2_path_challenge_data *data,
                                              void *user_data) {
  (void)conn;
  (void)user_data;
  return ngtcp2_crypto_random(data->data, NGTCP2_PATH_CHALLENGE_DATALEN) == 0
           ? 0
           : NGTCP2_ERR_CALLBACK_FAILURE;
}

/* ---- wolfSSL QUIC method ------------------------------------------------------------ */

static ngtcp2_conn *conn_of(WOLFSSL *ssl) {
  ngtcp2_crypto_conn_ref *ref = wolfSSL_get_app_data(ssl);
  return ref->get_conn(ref);
}

static int quic_set_encryption_secrets(WOLFSSL *ssl,
                                       WOLFSSL_ENCRYPTION_LEVEL wolfssl_level,
                                       const uint8_t *rx_secret,
                                       const uint8_t *tx_secret,
                                       size_t secretlen) {
  ngtcp2_conn *conn = conn_of(ssl);
  ngtcp2_encryption_level level =
    ngtcp2_crypto_wolfssl_from_wolfssl_encryption_level(wolfssl_level);

  if (rx_secret &&
      ngtcp2_crypto_derive_and_install_rx_key(conn, NULL, NULL, NULL, level,
                                              rx_secret, secretlen) != 0) {
    return 0;
  }
  if (tx_secret &&
      ngtcp2_crypto_derive_and_install_tx_key(conn, NULL, NULL, NULL, level,
                                              tx_secret, secretlen) != 0) {
    return 0;
  }
  return 1;
}

static int quic_add_handshake_data(WOLFSSL *ssl,
                                   WOLFSSL_ENCRYPTION_LEVEL wolfssl_level,
                                   const uint8_t *data, size_t datalen) {
  ngtcp2_conn *conn = conn_of(ssl);
  ngtcp2_encryption_level level =
    ngtcp2_crypto_wolfssl_from_wolfssl_encryption_level(wolfssl_level);
  int rv = ngtcp2_conn_submit_crypto_data(conn, level, data, datalen);
  if (rv != 0) {
    ngtcp2_conn_set_tls_error(conn, rv);
    return 0;
  }
  return 1;
}

static int quic_flush_flight(WOLFSSL *ssl) {
  (void)ssl;
  return 1;
}

static int quic_send_alert(WOLFSSL *ssl, WOLFSSL_ENCRYPTION_LEVEL level,
                           uint8_t alert) {
  (void)level;
  ngtcp2_conn_set_tls_alert(conn_of(ssl), alert);
  return 1;
}

static WOLFSSL_QUIC_METHOD quic_method = {
  quic_set_encryption_secrets,
  quic_add_handshake_data,
  quic_flush_flight,
  quic_send_alert,
};

int ngtcp2_crypto_wolfssl_configure_server_context(WOLFSSL_CTX *ssl_ctx) {
  return wolfSSL_CTX_set_quic_method(ssl_ctx, &quic_method) == WOLFSSL_SUCCESS
           ? 0
           : -1;
}

int ngtcp2_crypto_wolfssl_configure_client_context(WOLFSSL_CTX *ssl_ctx) {
  return wolfSSL_CTX_set_quic_method(ssl_ctx, &quic_method) == WOLFSSL_SUCCESS
           ? 0
           : -1;
}
