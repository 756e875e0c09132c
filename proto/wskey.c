/* proto/wskey.c: Sec-WebSocket-Key and Sec-WebSocket-Accept (RFC 6455 1.3, 4.1, 4.2.2).
 *
 * Owns the handshake key arithmetic for both legs: checking a client's key, answering it,
 * minting our own key for a backend and checking the backend's answer. Runs on workers; pure
 * functions over the caller's memory, no state.
 *
 * SHA-1 and Base64 are wolfCrypt's (already linked for TLS): a home-made SHA-1 was rejected
 * as one more thing to get wrong. wolfCrypt's Base64_Decode skips line breaks and is lenient
 * about what it accepts, so wskey_is_valid() checks the exact shape (22 alphabet characters
 * then "==") itself and uses the decoder only to confirm the 16-byte length. */
#include "proto/wskey.h"

#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>

#include <wolfssl/wolfcrypt/coding.h>
#include <wolfssl/wolfcrypt/sha.h>

/* RFC 6455 1.3: the GUID appended to the key before hashing. */
static const char wskey_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static bool wskey_is_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

bool wskey_is_valid(const char *key, size_t len)
{
	/* RFC 6455 4.2.1 (5): base64 of a 16-byte value, i.e. 22 characters and "==". A single
	 * '=' (17 bytes) or none (18) is another length; 20 characters would be 15 bytes. */
	if (key == NULL || len != WSKEY_KEY_LEN)
		return false;
	for (size_t i = 0; i < WSKEY_KEY_LEN - 2; i++) {
		if (!wskey_is_b64_char(key[i]))
			return false;
	}
	if (key[WSKEY_KEY_LEN - 2] != '=' || key[WSKEY_KEY_LEN - 1] != '=')
		return false;

	byte raw[32]; /* wolfCrypt wants room for (len * 3 + 3) / 4 before it trims padding */
	word32 raw_len = sizeof(raw);
	if (Base64_Decode((const byte *)key, WSKEY_KEY_LEN, raw, &raw_len) != 0)
		return false;
	return raw_len == 16;
}

int wskey_accept(const char *key, size_t len, char out[WSKEY_ACCEPT_LEN + 1])
{
	/* Keys arrive trimmed; anything longer than a valid key cannot be answered usefully, and
	 * bounding it keeps the word32 conversion below exact. */
	if (len > WSKEY_KEY_LEN || (key == NULL && len > 0))
		return -1;

	wc_Sha sha;
	byte digest[WC_SHA_DIGEST_SIZE];
	if (wc_InitSha(&sha) != 0)
		return -1;
	int rc = wc_ShaUpdate(&sha, (const byte *)key, (word32)len);
	if (rc == 0)
		rc = wc_ShaUpdate(&sha, (const byte *)wskey_guid, (word32)(sizeof(wskey_guid) - 1));
	if (rc == 0)
		rc = wc_ShaFinal(&sha, digest);
	wc_ShaFree(&sha);
	if (rc != 0)
		return -1;

	word32 out_len = WSKEY_ACCEPT_LEN + 1;
	if (Base64_Encode_NoNl(digest, sizeof(digest), (byte *)out, &out_len) != 0 ||
	    out_len != WSKEY_ACCEPT_LEN)
		return -1;
	out[WSKEY_ACCEPT_LEN] = '\0';
	return 0;
}

void wskey_encode(const uint8_t nonce[16], char out[WSKEY_KEY_LEN + 1])
{
	word32 out_len = WSKEY_KEY_LEN + 1;
	/* Cannot fail with this much room; if wolfCrypt ever disagrees, sending a backend a
	 * garbage key would be worse than stopping (an internal invariant, not peer input). */
	if (Base64_Encode_NoNl(nonce, 16, (byte *)out, &out_len) != 0 || out_len != WSKEY_KEY_LEN)
		abort();
	out[WSKEY_KEY_LEN] = '\0';
}

bool wskey_accept_matches(const char *key, size_t key_len, const char *accept, size_t accept_len)
{
	char want[WSKEY_ACCEPT_LEN + 1];
	if (accept == NULL || accept_len != WSKEY_ACCEPT_LEN)
		return false;
	if (wskey_accept(key, key_len, want) != 0)
		return false;
	/* RFC 6455 4.1 (4): the value is compared exactly; it is not a secret, so a plain
	 * memcmp is fine. */
	return memcmp(want, accept, WSKEY_ACCEPT_LEN) == 0;
}
