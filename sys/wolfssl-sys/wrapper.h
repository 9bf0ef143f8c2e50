#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/quic.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/asn_public.h>

/* csrc/cpu.c */
int socket_iwa_wolfssl_skip_avx2(void);
unsigned int socket_iwa_wolfssl_cpu_flags(void);
#include <wolfssl/wolfcrypt/cpuid.h>

/* csrc/ticket.c */
int socket_iwa_internal_ticket_len(void);
int socket_iwa_ticket_forbid_early_data(unsigned char *ticket, int len);
