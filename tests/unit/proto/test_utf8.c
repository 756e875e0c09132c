/* Unit tests for proto/utf8.c: the classes of malformed input from Markus Kuhn's UTF-8
 * decoder stress test, boundaries of every sequence length, the word-at-a-time ASCII path at
 * every offset, split feeding, and an exhaustive comparison with a code-point reference for
 * every input of up to three bytes. Every input sits at the end of a guard page. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "guard.h"
#include "proto/utf8.h"
#include "tests/common/utf8_ref.h"

static int dfa_verdict(uint32_t st)
{
	return st == UTF8_ACCEPT ? REF_OK : st == UTF8_REJECT ? REF_BAD : REF_PARTIAL;
}

/* Validates s from a guard-page copy, whole and at every split into two calls, and checks
 * all of them agree on the verdict. */
static int verdict_of(const void *s, size_t n)
{
	struct guard_area g;
	uint8_t *buf = guard_copy(&g, s, n);
	int whole = dfa_verdict(utf8_validate(UTF8_ACCEPT, buf, n));
	for (size_t cut = 0; cut <= n; cut++) {
		uint32_t st = utf8_validate(UTF8_ACCEPT, buf, cut);
		st = utf8_validate(st, buf + cut, n - cut);
		assert_int_equal(dfa_verdict(st), whole);
	}
	assert_int_equal(utf8_is_valid(buf, n), whole == REF_OK);
	guard_release(&g);
	return whole;
}

#define BAD(lit)     assert_int_equal(verdict_of(lit, sizeof(lit) - 1), REF_BAD)
#define OK(lit)      assert_int_equal(verdict_of(lit, sizeof(lit) - 1), REF_OK)
#define PARTIAL(lit) assert_int_equal(verdict_of(lit, sizeof(lit) - 1), REF_PARTIAL)

static void test_valid_boundaries_of_every_length_accept(void **state)
{
	(void)state;
	OK("");
	OK("\x00");
	OK("\x7f");
	OK("\xc2\x80");         /* U+0080 */
	OK("\xdf\xbf");         /* U+07FF */
	OK("\xe0\xa0\x80");     /* U+0800 */
	OK("\xed\x9f\xbf");     /* U+D7FF */
	OK("\xee\x80\x80");     /* U+E000 */
	OK("\xef\xbf\xbd");     /* U+FFFD */
	OK("\xef\xbf\xbf");     /* U+FFFF: a noncharacter, still valid UTF-8 (Kuhn 5.3) */
	OK("\xf0\x90\x80\x80"); /* U+10000 */
	OK("\xf4\x8f\xbf\xbf"); /* U+10FFFF */
	OK("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"); /* Kuhn 1: "kosme" in Greek */
	OK("Hello-\xc2\xb5\x40\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!");
}

static void test_unexpected_continuation_bytes_reject(void **state)
{
	(void)state;
	/* Kuhn 3.1: every continuation byte on its own, and runs of them. */
	for (unsigned c = 0x80; c <= 0xBF; c++) {
		uint8_t b[2] = {'a', (uint8_t)c};
		assert_int_equal(verdict_of(b, 2), REF_BAD);
	}
	BAD("\x80\xbf");
	BAD("\x80\xbf\x80");
	BAD("\x80\xbf\x80\xbf\x80\xbf\x80");
	BAD("\xc3\xa4\xa4"); /* one continuation too many */
}

static void test_lonely_start_bytes_reject(void **state)
{
	(void)state;
	/* Kuhn 3.2: each start byte followed by a space. */
	for (unsigned c = 0xC0; c <= 0xFF; c++) {
		uint8_t b[2] = {(uint8_t)c, ' '};
		assert_int_equal(verdict_of(b, 2), REF_BAD);
	}
}

static void test_truncated_sequences_stay_inside_a_code_point(void **state)
{
	(void)state;
	/* Kuhn 3.3: last continuation byte missing. At the end of input the DFA is neither
	 * ACCEPT nor REJECT for a prefix that could still be valid... */
	PARTIAL("\xdf");
	PARTIAL("\xef\xbf");
	PARTIAL("\xf4\x8f\xbf");
	PARTIAL("\xe0");
	PARTIAL("\xf0\x90");
	/* ...and rejects at once when no continuation could make it valid. */
	BAD("\xc0");
	BAD("\xe0\x80");
	BAD("\xf0\x80\x80");
	BAD("\xf7\xbf\xbf");
	BAD("\xf8\x80\x80\x80");
	BAD("\xfb\xbf\xbf\xbf");
	BAD("\xfc\x80\x80\x80\x80");
	BAD("\xfd\xbf\xbf\xbf\xbf");
	/* Kuhn 3.4: concatenation of incomplete sequences. */
	BAD("\xc0\xe0\x80\xf0\x80\x80\xf8\x80\x80\x80\xfc\x80\x80\x80\x80\xdf\xef\xbf\xf7\xbf\xbf");
	BAD("\xdf\xef\xbf");
	BAD("\xe1\x80\x41");
}

static void test_impossible_bytes_fe_ff_reject(void **state)
{
	(void)state;
	/* Kuhn 3.5 */
	BAD("\xfe");
	BAD("\xff");
	BAD("\xfe\xfe\xff\xff");
}

static void test_five_and_six_byte_forms_reject(void **state)
{
	(void)state;
	/* Kuhn 2.1/2.2: RFC 3629 removed the 5- and 6-byte forms. */
	BAD("\xf8\x88\x80\x80\x80");
	BAD("\xfc\x84\x80\x80\x80\x80");
	BAD("\xfb\xbf\xbf\xbf\xbf");
	BAD("\xfd\xbf\xbf\xbf\xbf\xbf");
}

static void test_overlong_forms_reject(void **state)
{
	(void)state;
	/* Kuhn 4.1: "/" overlong. */
	BAD("\xc0\xaf");
	BAD("\xe0\x80\xaf");
	BAD("\xf0\x80\x80\xaf");
	BAD("\xf8\x80\x80\x80\xaf");
	BAD("\xfc\x80\x80\x80\x80\xaf");
	/* Kuhn 4.2: maximum overlongs. */
	BAD("\xc1\xbf");
	BAD("\xe0\x9f\xbf");
	BAD("\xf0\x8f\xbf\xbf");
	BAD("\xf8\x87\xbf\xbf\xbf");
	BAD("\xfc\x83\xbf\xbf\xbf\xbf");
	/* Kuhn 4.3: overlong NUL. */
	BAD("\xc0\x80");
	BAD("\xe0\x80\x80");
	BAD("\xf0\x80\x80\x80");
	BAD("\xf8\x80\x80\x80\x80");
	BAD("\xfc\x80\x80\x80\x80\x80");
	/* Rejected at the second byte, before the sequence could end. */
	BAD("\xe0\x80");
	BAD("\xe0\x9f");
	BAD("\xf0\x8f");
}

static void test_surrogates_reject(void **state)
{
	(void)state;
	/* Kuhn 5.1: single surrogates. */
	BAD("\xed\xa0\x80");
	BAD("\xed\xad\xbf");
	BAD("\xed\xae\x80");
	BAD("\xed\xaf\xbf");
	BAD("\xed\xb0\x80");
	BAD("\xed\xbe\x80");
	BAD("\xed\xbf\xbf");
	/* Kuhn 5.2: paired surrogates (CESU-8). */
	BAD("\xed\xa0\x80\xed\xb0\x80");
	BAD("\xed\xaf\xbf\xed\xbf\xbf");
	BAD("\xed\xa0"); /* detected at the second byte */
}

static void test_above_u10ffff_rejects(void **state)
{
	(void)state;
	BAD("\xf4\x90\x80\x80"); /* U+110000 */
	BAD("\xf4\x90");
	BAD("\xf5\x80\x80\x80");
	BAD("\xf7\xbf\xbf\xbf"); /* U+1FFFFF */
}

static void test_reject_is_sticky(void **state)
{
	(void)state;
	static const uint8_t ascii[] = "plain ascii text that is fine";
	struct guard_area g;
	uint8_t *buf = guard_copy(&g, ascii, sizeof(ascii) - 1);
	assert_int_equal(utf8_validate(UTF8_REJECT, buf, sizeof(ascii) - 1), UTF8_REJECT);
	assert_int_equal(utf8_validate(UTF8_REJECT, buf, 0), UTF8_REJECT);
	guard_release(&g);
	buf = guard_copy(&g, "\xff\x41\x42", 3);
	uint32_t st = utf8_validate(UTF8_ACCEPT, buf, 1);
	assert_int_equal(st, UTF8_REJECT);
	assert_int_equal(utf8_validate(st, buf + 1, 2), UTF8_REJECT);
	guard_release(&g);
}

static void test_ascii_fast_path_finds_bad_byte_at_every_offset(void **state)
{
	(void)state;
	uint8_t text[80];
	struct guard_area g;
	for (size_t len = 1; len <= sizeof(text); len++) {
		for (size_t at = 0; at < len; at++) {
			memset(text, 'a', len);
			text[at] = 0x80;
			uint8_t *buf = guard_copy(&g, text, len);
			assert_int_equal(utf8_validate(UTF8_ACCEPT, buf, len), UTF8_REJECT);
			guard_release(&g);
			if (at + 2 <= len) {
				text[at] = 0xC3; /* U+00E4 amid ASCII */
				text[at + 1] = 0xA4;
				buf = guard_copy(&g, text, len);
				assert_int_equal(utf8_validate(UTF8_ACCEPT, buf, len), UTF8_ACCEPT);
				guard_release(&g);
			}
		}
		memset(text, 'a', len);
		text[len - 1] = 0xE2; /* ends inside a code point */
		uint8_t *buf = guard_copy(&g, text, len);
		uint32_t st = utf8_validate(UTF8_ACCEPT, buf, len);
		assert_int_not_equal(st, UTF8_ACCEPT);
		assert_int_not_equal(st, UTF8_REJECT);
		guard_release(&g);
	}
}

static void test_multibyte_text_split_at_every_byte_validates(void **state)
{
	(void)state;
	/* 1-, 2-, 3- and 4-byte code points, with ASCII runs long enough for the word path. */
	static const char text[] = "The quick brown fox \xc3\xa4\xc3\xb6\xc3\xbc "
	                           "\xe2\x82\xac\xe6\x97\xa5\xe6\x9c\xac "
	                           "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf jumps over the lazy dog";
	size_t n = sizeof(text) - 1;
	assert_int_equal(verdict_of(text, n), REF_OK);
	/* Three calls: every pair of cuts. */
	struct guard_area g;
	uint8_t *buf = guard_copy(&g, text, n);
	for (size_t a = 0; a <= n; a++) {
		for (size_t b = a; b <= n; b++) {
			uint32_t st = utf8_validate(UTF8_ACCEPT, buf, a);
			st = utf8_validate(st, buf + a, b - a);
			st = utf8_validate(st, buf + b, n - b);
			assert_int_equal(st, UTF8_ACCEPT);
		}
	}
	guard_release(&g);
}

static void test_every_input_up_to_three_bytes_matches_reference(void **state)
{
	(void)state;
	struct guard_area g;
	uint8_t *buf = guard_copy(&g, "\0\0\0", 3);
	for (unsigned v = 0; v < 256; v++) {
		buf[2] = (uint8_t)v;
		assert_int_equal(dfa_verdict(utf8_validate(UTF8_ACCEPT, buf + 2, 1)),
		                 ref_utf8(buf + 2, 1));
	}
	for (unsigned v = 0; v < 65536; v++) {
		buf[1] = (uint8_t)(v >> 8);
		buf[2] = (uint8_t)v;
		assert_int_equal(dfa_verdict(utf8_validate(UTF8_ACCEPT, buf + 1, 2)),
		                 ref_utf8(buf + 1, 2));
	}
	for (uint32_t v = 0; v < (1u << 24); v++) {
		buf[0] = (uint8_t)(v >> 16);
		buf[1] = (uint8_t)(v >> 8);
		buf[2] = (uint8_t)v;
		int want = ref_utf8(buf, 3);
		if (dfa_verdict(utf8_validate(UTF8_ACCEPT, buf, 3)) != want)
			fail_msg("mismatch at %02x %02x %02x", buf[0], buf[1], buf[2]);
	}
	guard_release(&g);
}

static void test_four_byte_inputs_match_reference(void **state)
{
	(void)state;
	static const uint8_t last[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0xBF, 0xC0, 0xF4, 0xFF};
	struct guard_area g;
	uint8_t *buf = guard_copy(&g, "\0\0\0\0", 4);
	for (unsigned lead = 0xE0; lead <= 0xFF; lead++) {
		for (unsigned v = 0; v < 65536; v++) {
			for (size_t k = 0; k < sizeof(last); k++) {
				buf[0] = (uint8_t)lead;
				buf[1] = (uint8_t)(v >> 8);
				buf[2] = (uint8_t)v;
				buf[3] = last[k];
				int want = ref_utf8(buf, 4);
				if (dfa_verdict(utf8_validate(UTF8_ACCEPT, buf, 4)) != want)
					fail_msg("mismatch at %02x %02x %02x %02x", buf[0], buf[1],
					         buf[2], buf[3]);
			}
		}
	}
	guard_release(&g);
}

static void test_out_of_range_state_rejects(void **state)
{
	(void)state;
	struct guard_area g;
	uint8_t *buf = guard_copy(&g, "a", 1);
	assert_int_equal(utf8_validate(0xFFFFu, buf, 1), UTF8_REJECT);
	guard_release(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_boundaries_of_every_length_accept),
	    cmocka_unit_test(test_unexpected_continuation_bytes_reject),
	    cmocka_unit_test(test_lonely_start_bytes_reject),
	    cmocka_unit_test(test_truncated_sequences_stay_inside_a_code_point),
	    cmocka_unit_test(test_impossible_bytes_fe_ff_reject),
	    cmocka_unit_test(test_five_and_six_byte_forms_reject),
	    cmocka_unit_test(test_overlong_forms_reject),
	    cmocka_unit_test(test_surrogates_reject),
	    cmocka_unit_test(test_above_u10ffff_rejects),
	    cmocka_unit_test(test_reject_is_sticky),
	    cmocka_unit_test(test_ascii_fast_path_finds_bad_byte_at_every_offset),
	    cmocka_unit_test(test_multibyte_text_split_at_every_byte_validates),
	    cmocka_unit_test(test_every_input_up_to_three_bytes_matches_reference),
	    cmocka_unit_test(test_four_byte_inputs_match_reference),
	    cmocka_unit_test(test_out_of_range_state_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
