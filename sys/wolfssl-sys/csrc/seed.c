/* Entropy for wolfCrypt's DRBG on both our targets: getentropy() is glibc's
 * getrandom(2) natively and crypto.getRandomValues() under Emscripten. */
#include <stddef.h>
#include <unistd.h>
#include <sys/random.h>

int socket_iwa_wolfssl_seed(unsigned char *output, unsigned int sz) {
  while (sz > 0) {
    size_t n = sz > 256 ? 256 : sz; /* getentropy's per-call limit */
    if (getentropy(output, n) != 0) {
      return -1;
    }
    output += n;
    sz -= (unsigned int)n;
  }
  return 0;
}
