/* Layout facts about wolfSSL's InternalTicket, the plaintext that our session
 * ticket callback (src/tls/ticket.rs) seals and opens. The struct lives in
 * wolfssl/internal.h, which bindgen does not see, so the one field our 0-RTT
 * anti-replay policy edits is reached here with offsetof. See docs/TLS.md. */
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/internal.h>
#include <stddef.h>

/* Bytes of a plaintext InternalTicket (what the ticket callback receives). */
int socket_iwa_internal_ticket_len(void) {
  return (int)WOLFSSL_INTERNAL_TICKET_LEN;
}

/* Sets the ticket's max_early_data to 0 in an opened (plaintext) ticket, so
 * wolfSSL resumes the session but refuses its 0-RTT data. Returns 0, or -1 if
 * `len` is too short to be an InternalTicket. */
int socket_iwa_ticket_forbid_early_data(unsigned char *ticket, int len) {
#ifdef WOLFSSL_EARLY_DATA
  if (ticket == NULL || len < (int)WOLFSSL_INTERNAL_TICKET_LEN) {
    return -1;
  }
  XMEMSET(ticket + offsetof(InternalTicket, maxEarlyDataSz), 0, MAXEARLYDATASZ_LEN);
  return 0;
#else
  (void)ticket;
  (void)len;
  return 0;
#endif
}
