/* Which of wolfSSL's x86_64 code paths run (docs/HANDSHAKE.md "The AVX2 table lookup").
 *
 * wolfSSL's P-256 AVX2 table lookups (sp_256_get_entry_65_avx2_4 and friends in
 * sp_x86_64_asm.S) return with the upper halves of YMM registers dirty: no
 * vzeroupper. On CPUs that charge for legacy-SSE instructions in that state, the
 * key schedule that follows (SHA-256 with SHA-NI, legacy SSE) runs ~100x slower:
 * measured on our 2-core CI machine, a full handshake cost 1.0-1.1 ms of server
 * CPU instead of 0.45-0.5. Clearing wolfSSL's AVX2 flag before first use makes it
 * take the P-256 code without those lookups (and the AVX1 versions of ChaCha20,
 * Poly1305 and AES-GCM). Returns 1 when the flag was cleared, 0 where wolfSSL
 * has no x86 CPU dispatch (wasm32, other architectures). */
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/cpuid.h>

int socket_iwa_wolfssl_skip_avx2(void) {
#if defined(HAVE_CPUID_INTEL)
  /* Detect first: clearing a bit of the still-unset flags (all ones) would leave
   * every feature "present", including ones this CPU lacks. */
  (void)cpuid_get_flags();
  cpuid_clear_flag(CPUID_AVX2);
  return 1;
#else
  return 0;
#endif
}

/* The x86 feature flags wolfSSL dispatches on (CPUID_* in cpuid.h), detected if they
 * were not yet; 0 where wolfSSL has no x86 CPU dispatch. Lets a test check that
 * socket_iwa_wolfssl_skip_avx2 cleared AVX2 and nothing else. */
unsigned int socket_iwa_wolfssl_cpu_flags(void) {
#if defined(HAVE_CPUID_INTEL)
  return (unsigned int)cpuid_get_flags();
#else
  return 0;
#endif
}
