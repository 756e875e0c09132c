#ifndef WSG_PROTO_WSKEY_H
#define WSG_PROTO_WSKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sec-WebSocket-Key and Sec-WebSocket-Accept (RFC 6455 1.3, 4.1, 4.2.2), computed with
 * wolfCrypt's SHA-1 and Base64; nothing home-made. */

#define WSKEY_KEY_LEN    24 /* base64 of 16 bytes */
#define WSKEY_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1 */

/* True when [key, key + len) is base64 that decodes to exactly 16 bytes (RFC 6455 4.2.1). */
bool wskey_is_valid(const char *key, size_t len);

/* Writes the Sec-WebSocket-Accept for `key` into out (WSKEY_ACCEPT_LEN chars and a NUL).
 * Returns 0, or -1 when the key is longer than any valid key could be. */
int wskey_accept(const char *key, size_t len, char out[WSKEY_ACCEPT_LEN + 1]);

/* Encodes 16 random bytes (the caller's: proto/ has no randomness) as a client key:
 * WSKEY_KEY_LEN chars and a NUL. */
void wskey_encode(const uint8_t nonce[16], char out[WSKEY_KEY_LEN + 1]);

/* True when `accept` (as the server sent it) is the right answer to `key`. */
bool wskey_accept_matches(const char *key, size_t key_len, const char *accept, size_t accept_len);

#endif
