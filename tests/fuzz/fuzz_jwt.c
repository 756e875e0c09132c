/* Fuzz target for auth/jwt.c: jwt_verify() with a fixed HMAC key and a fixed policy.
 * Asserts with abort():
 *   - the result is inside enum jwt_rc, has a real name, and equals claims.rc;
 *   - a failure leaves sub empty and exp 0; an accepted sub is NUL-terminated, at most 255
 *     bytes and free of control bytes (it becomes a header value);
 *   - an accepted token re-verifies identically (same rc, sub and exp);
 *   - an accepted token with any one signature character replaced is never accepted.
 * Input: byte 0 picks the mode. Even: the rest is header JSON, a NUL, claims JSON; the target
 * base64url-encodes both and signs them with the fixed key, so the claim checks behind the
 * signature are reached. Odd: the rest is the token as is. Each verify reads an exact-size
 * heap copy, so ASan catches any over-read. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "auth/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t key[] = "fuzz-jwt-hmac-key-0123456789abcdef";
static const struct jwt_policy pol = {.iss = "fuzz-iss", .aud = "fuzz-aud", .leeway_s = 60};
#define NOW 1700000000u

static void check(bool ok)
{
	if (!ok)
		abort();
}

static struct jwt_keys *keys(void)
{
	static struct jwt_keys *k;
	if (k == NULL) {
		k = jwt_keys_new();
		check(k != NULL);
		check(jwt_keys_add_secret(k, key, sizeof(key) - 1, NULL, NULL, 0) == 0);
	}
	return k;
}

static enum jwt_rc verify(const char *tok, size_t n, struct jwt_claims *c)
{
	char *copy = malloc(n ? n : 1);
	check(copy != NULL);
	memcpy(copy, tok, n);
	enum jwt_rc rc = jwt_verify(keys(), copy, n, &pol, NOW, c);
	free(copy);
	check((unsigned)rc < JWT_RC_COUNT);
	check(strcmp(jwt_rc_name(rc), "unknown") != 0);
	check(c->rc == rc);
	if (rc != JWT_RC_OK) {
		check(c->sub[0] == '\0' && c->sub_len == 0 && !c->has_sub && c->exp == 0);
	} else {
		check(c->sub_len < JWT_SUB_MAX && strlen(c->sub) == c->sub_len);
		for (size_t i = 0; i < c->sub_len; i++)
			check((unsigned char)c->sub[i] >= 0x20 && c->sub[i] != 0x7f);
	}
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 2 * JWT_TOKEN_MAX)
		return 0;
	static char tok[4 * JWT_TOKEN_MAX];
	size_t n;
	if (data[0] & 1) {
		n = size - 1;
		memcpy(tok, data + 1, n);
	} else {
		const uint8_t *h = data + 1, *end = data + size;
		const uint8_t *z = memchr(h, 0, (size_t)(end - h));
		if (z == NULL)
			return 0;
		n = jwt_b64url_encode(h, (size_t)(z - h), tok);
		tok[n++] = '.';
		n += jwt_b64url_encode(z + 1, (size_t)(end - z - 1), tok + n);
		uint8_t mac[WC_SHA256_DIGEST_SIZE];
		Hmac hm;
		check(wc_HmacInit(&hm, NULL, INVALID_DEVID) == 0);
		check(wc_HmacSetKey(&hm, WC_SHA256, key, sizeof(key) - 1) == 0);
		check(wc_HmacUpdate(&hm, (const uint8_t *)tok, (word32)n) == 0);
		check(wc_HmacFinal(&hm, mac) == 0);
		wc_HmacFree(&hm);
		tok[n++] = '.';
		n += jwt_b64url_encode(mac, sizeof(mac), tok + n);
	}

	struct jwt_claims c, again;
	enum jwt_rc rc = verify(tok, n, &c);
	if (rc != JWT_RC_OK)
		return 0;
	check(verify(tok, n, &again) == JWT_RC_OK);
	check(again.exp == c.exp && again.sub_len == c.sub_len &&
	      memcmp(again.sub, c.sub, c.sub_len + 1) == 0);

	/* One changed signature character: never accepted (it may fail as bad_base64 when the
	 * change lands in the last character's pad bits). */
	const char *dot = memrchr(tok, '.', n);
	check(dot != NULL);
	for (size_t i = (size_t)(dot - tok) + 1; i < n; i++) {
		char o = tok[i];
		tok[i] = o == 'A' ? 'Q' : 'A';
		check(verify(tok, n, &again) != JWT_RC_OK);
		tok[i] = o;
	}
	return 0;
}
