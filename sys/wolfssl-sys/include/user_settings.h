/* wolfSSL configuration for Socket.IWA (compiled with -DWOLFSSL_USER_SETTINGS).
 *
 * QUIC needs TLS 1.3 only. We enable exactly what a QUIC server/client needs to
 * talk to browsers and to aioquic, and switch off everything else that costs
 * code size (this tree is also compiled to WebAssembly).
 */
#ifndef SOCKET_IWA_WOLFSSL_USER_SETTINGS_H
#define SOCKET_IWA_WOLFSSL_USER_SETTINGS_H

#ifndef __ASSEMBLER__ /* the AES-NI .S files include this header too */
#include <sys/time.h> /* tls13.c calls gettimeofday() */
#endif

/* ---- protocol ---------------------------------------------------------- */
#define WOLFSSL_TLS13
#define WOLFSSL_QUIC
#define WOLFSSL_NO_TLS12
#define NO_OLD_TLS
#define HAVE_TLS_EXTENSIONS
#define HAVE_SUPPORTED_CURVES
#define HAVE_SNI
#define HAVE_ALPN
#define HAVE_SESSION_TICKET
#define WOLFSSL_EARLY_DATA
/* RFC 8446 4.6.1 allows ticket_nonce of 0-255 bytes (rustls sends 32); wolfSSL
 * keeps 8 inline and rejects longer ones with illegal_parameter unless nonces
 * may be heap-allocated. */
#define WOLFSSL_TICKET_NONCE_MALLOC
#define HAVE_HKDF
#define HAVE_EX_DATA        /* SSL app data: the QUIC connection a TLS object belongs to */
#define OPENSSL_EXTRA       /* wolfSSL's quic.c is built on the EVP layer */
#define WOLFSSL_QUIC_MAX_RECORD_CAPACITY (1024 * 1024)

/* ---- ciphers and key exchange -------------------------------------------- */
#define HAVE_AESGCM
/* x86_64 natively: AES-NI/PCLMULQDQ assembly (build.rs adds the .S files), chosen
 * at run time. Defined here, not on the command line, so that bindgen sees the
 * same (larger, 16-byte aligned) Aes layout as the C code. */
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__)
#define WOLFSSL_AESNI
#define WOLFSSL_X86_64_BUILD
#endif
#define GCM_TABLE_4BIT      /* table GHASH: ~10x the bitwise default, small tables */
#define WOLFSSL_AES_128
#define WOLFSSL_AES_256
#define WOLFSSL_AES_DIRECT  /* AES-ECB for QUIC header protection */
#define HAVE_AES_ECB
#define WOLFSSL_AES_COUNTER  /* wolfSSL_quic_get_hp() names AES-CTR ciphers */
#define HAVE_CHACHA
#define HAVE_POLY1305
#define WOLFSSL_SHA384
#define WOLFSSL_SHA512
#define HAVE_ECC
#define ECC_TIMING_RESISTANT
#define ECC_SHAMIR
#define HAVE_CURVE25519
#define WC_RSA_PSS          /* TLS 1.3 signs with RSA-PSS */
#define WC_RSA_BLINDING
#define WOLFSSL_SP_MATH_ALL
#define SP_INT_BITS 4096

/* ---- handshake speed: single-precision ECC, fast X25519 (docs/HANDSHAKE.md) --
 * P-256 (key share and the ECDSA certificate signature) runs on wolfSSL's
 * fixed-size SP code; other curves and RSA keep the generic sp_int code above.
 * x86_64 natively: SP assembly (sp_x86_64.c + sp_x86_64_asm.S) and
 * USE_INTEL_SPEEDUP, which selects the X25519 assembly (fe_x25519_asm.S) and
 * the AVX SHA-2/ChaCha20/Poly1305 code; every AVX/BMI2 path is picked at run
 * time by cpuid.c with a plain x86_64 fallback. wasm32: portable C (sp_c32.c,
 * 32-bit limbs: wasm has 64-bit multiplies but no 64x64->128) and the fast
 * 32-bit-limb X25519 (fe_operations.c) instead of CURVE25519_SMALL. */
#define WOLFSSL_HAVE_SP_ECC
#if defined(__x86_64__) && !defined(__EMSCRIPTEN__)
#define HAVE___UINT128_T 1
#define WOLFSSL_SP_X86_64
#define WOLFSSL_SP_X86_64_ASM
#define USE_INTEL_SPEEDUP
#else
#define SP_WORD_SIZE 32
#endif

/* Self-signed certificate generation for the server's default identity. */
#define WOLFSSL_CERT_GEN
#define WOLFSSL_KEY_GEN
#define WOLFSSL_CERT_EXT
#define WOLFSSL_ALT_NAMES

/* Client certificate checks (src/tls/verify.rs): IP address SANs take part in
 * the name check, and the verify callback sees the leaf even when its chain
 * verified (a --cert-hash pin is compared there). */
#define WOLFSSL_IP_ALT_NAME
#define WOLFSSL_ALWAYS_VERIFY_CB

/* ---- runtime ----------------------------------------------------------- */
#define SINGLE_THREADED     /* one event loop owns every TLS object */
#define NO_FILESYSTEM       /* keys, certificates and tickets come in as buffers */
#define WOLFSSL_USER_IO     /* QUIC moves the bytes, not wolfSSL's socket layer */
#define NO_WRITEV
#define WOLFSSL_IGNORE_FILE_WARN
#define TFM_TIMING_RESISTANT
#define HAVE_HASHDRBG
/* Seed the DRBG from getentropy() (csrc/seed.c) on every target. */
#ifndef __ASSEMBLER__
int socket_iwa_wolfssl_seed(unsigned char *output, unsigned int sz);
#endif
#define CUSTOM_RAND_GENERATE_SEED socket_iwa_wolfssl_seed

/* ---- switched off ---------------------------------------------------------- */
#define NO_DH
#define NO_DSA
#define NO_DES3
#define NO_RC4
#define NO_MD4
#define NO_PSK
#define NO_PWDBASED
#define NO_OLD_RNGNAME
#define WOLFSSL_NO_SHAKE128
#define WOLFSSL_NO_SHAKE256

#endif
