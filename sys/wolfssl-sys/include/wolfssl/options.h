/* Socket.IWA builds wolfSSL from user_settings.h (WOLFSSL_USER_SETTINGS);
 * this stands in for the options.h that ./configure would generate. */
#ifndef WOLFSSL_OPTIONS_H
#define WOLFSSL_OPTIONS_H
#ifndef WOLFSSL_USER_SETTINGS
#define WOLFSSL_USER_SETTINGS
#endif
#endif
