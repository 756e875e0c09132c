/* Unit tests for proto/wskey.c: the RFC 6455 handshake key arithmetic. Inputs are placed at
 * the end of a guard page so any over-read faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "guard.h"
#include "proto/wskey.h"

static const char sample_key[] = "dGhlIHNhbXBsZSBub25jZQ==";        /* RFC 6455 1.3 */
static const char sample_accept[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; /* RFC 6455 1.3 */

static bool is_valid_guarded(const char *key)
{
	struct guard_area g;
	size_t n = strlen(key);
	const char *k = (const char *)guard_copy(&g, key, n);
	bool ok = wskey_is_valid(k, n);
	guard_release(&g);
	return ok;
}

static void test_rfc6455_sample_key_gives_sample_accept(void **state)
{
	(void)state;
	struct guard_area g;
	const char *k = (const char *)guard_copy(&g, sample_key, WSKEY_KEY_LEN);
	char out[WSKEY_ACCEPT_LEN + 1];
	memset(out, 'x', sizeof(out));
	assert_int_equal(wskey_accept(k, WSKEY_KEY_LEN, out), 0);
	assert_string_equal(out, sample_accept);
	guard_release(&g);
}

static void test_accept_of_overlong_key_is_minus_one(void **state)
{
	(void)state;
	char out[WSKEY_ACCEPT_LEN + 1];
	char key[WSKEY_KEY_LEN + 1];
	memcpy(key, sample_key, WSKEY_KEY_LEN);
	key[WSKEY_KEY_LEN] = 'A';
	assert_int_equal(wskey_accept(key, sizeof(key), out), -1);
}

static void test_accept_matches_sample(void **state)
{
	(void)state;
	assert_true(
	    wskey_accept_matches(sample_key, WSKEY_KEY_LEN, sample_accept, WSKEY_ACCEPT_LEN));
}

static void test_accept_matches_rejects_wrong_accept(void **state)
{
	(void)state;
	char bad[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
	bad[0] = 'S';
	assert_false(wskey_accept_matches(sample_key, WSKEY_KEY_LEN, bad, WSKEY_ACCEPT_LEN));
	/* right bytes, wrong length: a truncated or padded accept is not the accept */
	assert_false(
	    wskey_accept_matches(sample_key, WSKEY_KEY_LEN, sample_accept, WSKEY_ACCEPT_LEN - 1));
	assert_false(wskey_accept_matches(sample_key, WSKEY_KEY_LEN, "", 0));
	/* the accept for another key */
	assert_false(wskey_accept_matches("AAAAAAAAAAAAAAAAAAAAAA==", WSKEY_KEY_LEN, sample_accept,
	                                  WSKEY_ACCEPT_LEN));
}

static void test_sample_key_is_valid(void **state)
{
	(void)state;
	assert_true(is_valid_guarded(sample_key));
	assert_true(is_valid_guarded("AAAAAAAAAAAAAAAAAAAAAA=="));
	assert_true(is_valid_guarded("/+9azAZ09azAZ09azAZ09w=="));
}

static void test_key_decoding_to_17_bytes_is_invalid(void **state)
{
	(void)state;
	assert_false(is_valid_guarded("AAAAAAAAAAAAAAAAAAAAAAA="));
}

static void test_key_decoding_to_18_bytes_is_invalid(void **state)
{
	(void)state;
	assert_false(is_valid_guarded("AAAAAAAAAAAAAAAAAAAAAAAA"));
}

static void test_key_decoding_to_15_bytes_is_invalid(void **state)
{
	(void)state;
	assert_false(is_valid_guarded("AAAAAAAAAAAAAAAAAAAA"));
}

static void test_key_with_bad_chars_is_invalid(void **state)
{
	(void)state;
	assert_false(is_valid_guarded("dGhlIHNhbXBsZSBub25jZQ-="));  /* '-' not in alphabet */
	assert_false(is_valid_guarded("dGhlIHNhbXBsZSBub25j_Q=="));  /* base64url */
	assert_false(is_valid_guarded("dGhlIHNhbXBsZSBub25j Q=="));  /* space */
	assert_false(is_valid_guarded("dGhlIHNhbXBsZS=ub25jZQ=="));  /* '=' in the middle */
	assert_false(is_valid_guarded("dGhlIHNhbXBsZSBub25j\nQ==")); /* line break */
	assert_false(is_valid_guarded("dGhlIHNhbXBsZSBub25jZ\x80=="));
}

static void test_key_of_wrong_length_is_invalid(void **state)
{
	(void)state;
	assert_false(is_valid_guarded(""));
	assert_false(is_valid_guarded("dGhlIHNhbXBsZSBub25jZQ="));   /* 23 */
	assert_false(is_valid_guarded("dGhlIHNhbXBsZSBub25jZQ===")); /* 25 */
	assert_false(is_valid_guarded("dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ=="));
	assert_false(wskey_is_valid(NULL, 0));
}

static void test_encode_of_sample_nonce_is_sample_key(void **state)
{
	(void)state;
	const uint8_t nonce[16] = "the sample nonce"; /* RFC 6455 1.3: what the key encodes */
	char out[WSKEY_KEY_LEN + 1];
	wskey_encode(nonce, out);
	assert_string_equal(out, sample_key);
	assert_true(wskey_is_valid(out, WSKEY_KEY_LEN));
}

static void test_encoded_keys_are_valid_for_all_byte_values(void **state)
{
	(void)state;
	uint8_t nonce[16];
	char out[WSKEY_KEY_LEN + 1];
	for (unsigned v = 0; v < 256; v++) {
		for (unsigned i = 0; i < 16; i++)
			nonce[i] = (uint8_t)(v + i * 17u);
		wskey_encode(nonce, out);
		assert_int_equal(strlen(out), WSKEY_KEY_LEN);
		assert_true(wskey_is_valid(out, WSKEY_KEY_LEN));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc6455_sample_key_gives_sample_accept),
	    cmocka_unit_test(test_accept_of_overlong_key_is_minus_one),
	    cmocka_unit_test(test_accept_matches_sample),
	    cmocka_unit_test(test_accept_matches_rejects_wrong_accept),
	    cmocka_unit_test(test_sample_key_is_valid),
	    cmocka_unit_test(test_key_decoding_to_17_bytes_is_invalid),
	    cmocka_unit_test(test_key_decoding_to_18_bytes_is_invalid),
	    cmocka_unit_test(test_key_decoding_to_15_bytes_is_invalid),
	    cmocka_unit_test(test_key_with_bad_chars_is_invalid),
	    cmocka_unit_test(test_key_of_wrong_length_is_invalid),
	    cmocka_unit_test(test_encode_of_sample_nonce_is_sample_key),
	    cmocka_unit_test(test_encoded_keys_are_valid_for_all_byte_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
