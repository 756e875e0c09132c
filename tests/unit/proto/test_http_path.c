/* Unit tests for proto/http_path.c: RFC 3986 5.2.4 dot-segment removal (the 5.4 examples
 * that apply to an absolute path, after their merge step), decoding of unreserved escapes,
 * upper-case hex, merged slashes, trailing slashes, and every refusal. Every input ends at a
 * PROT_NONE guard page (guard.h) and every output buffer is exactly as large as the input
 * (the documented cap) and guarded too, so an over-read or over-write faults. Each case is
 * also run in place (out == in) and checked for idempotence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "guard.h"
#include "proto/http_path.h"

static const char zeros[256]; /* source for guarded output buffers */

/* Normalises s (guarded input, guarded output of cap strlen(s)) and returns the rc; on 0 the
 * result is copied NUL-terminated into res. Also checks in-place gives the same, that a
 * second pass is the identity, and that the result fits in exactly its own length. */
static int norm(const char *s, char *res, size_t res_cap)
{
	size_t n = strlen(s);
	struct guard_area gi, go;
	const char *in = (const char *)guard_copy(&gi, s, n);
	char *out = (char *)guard_copy(&go, zeros, n);
	size_t len = 12345;
	int rc = http_path_normalize(in, n, out, n, &len);
	if (rc != HTTP_PATH_OK) {
		assert_int_equal(len, 0);
		assert_true(rc < 0);
	} else {
		assert_true(len <= n);
		assert_true(len < res_cap);
		memcpy(res, out, len);
		res[len] = '\0';
	}
	guard_release(&go);

	/* In place: the same verdict and result. */
	char *io = (char *)guard_copy(&go, s, n);
	size_t len2 = 0;
	assert_int_equal(http_path_normalize(io, n, io, n, &len2), rc);
	if (rc == HTTP_PATH_OK) {
		assert_int_equal(len2, len);
		assert_memory_equal(io, res, len);
	}
	guard_release(&go);
	guard_release(&gi);

	if (rc == HTTP_PATH_OK) {
		/* Idempotent, and cap == result length is enough, one less is not. */
		in = (const char *)guard_copy(&gi, res, len);
		out = (char *)guard_copy(&go, zeros, len);
		assert_int_equal(http_path_normalize(in, len, out, len, &len2), HTTP_PATH_OK);
		assert_int_equal(len2, len);
		assert_memory_equal(out, res, len);
		guard_release(&go);
		if (len > 0) {
			out = (char *)guard_copy(&go, zeros, len - 1);
			assert_int_equal(http_path_normalize(in, len, out, len - 1, &len2),
			                 HTTP_PATH_TOO_LONG);
			guard_release(&go);
		}
		guard_release(&gi);
	}
	return rc;
}

static void expect(const char *in, const char *want)
{
	char res[256];
	int rc = norm(in, res, sizeof(res));
	if (rc != HTTP_PATH_OK)
		fail_msg("%s: rc %d (%s), want \"%s\"", in, rc, http_path_rc_name(rc), want);
	if (strcmp(res, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", in, res, want);
}

static void refuse(const char *in, int want_rc)
{
	char res[256];
	int rc = norm(in, res, sizeof(res));
	if (rc != want_rc)
		fail_msg("%s: rc %d (%s), want %d (%s)", in, rc, http_path_rc_name(rc), want_rc,
		         http_path_rc_name(want_rc));
}

static void test_already_normal_paths_are_unchanged(void **state)
{
	(void)state;
	expect("/", "/");
	expect("/chat", "/chat");
	expect("/chat/room1", "/chat/room1");
	expect("/a;b=c/d,e", "/a;b=c/d,e");
	expect("/%41", "/A");
}

/* RFC 3986 5.4.1 and 5.4.2 with base "http://a/b/c/d;p?q": the reference merged with the
 * base path (5.2.3) gives the absolute path on the left; 5.2.4 gives the right. */
static void test_rfc3986_5_4_dot_segment_examples(void **state)
{
	(void)state;
	expect("/b/c/g", "/b/c/g");               /* "g" */
	expect("/b/c/./g", "/b/c/g");             /* "./g" */
	expect("/b/c/g/", "/b/c/g/");             /* "g/" */
	expect("/g", "/g");                       /* "/g" */
	expect("/b/c/d;p", "/b/c/d;p");           /* "" */
	expect("/b/c/.", "/b/c/");                /* "." */
	expect("/b/c/./", "/b/c/");               /* "./" */
	expect("/b/c/..", "/b/");                 /* ".." */
	expect("/b/c/../", "/b/");                /* "../" */
	expect("/b/c/../g", "/b/g");              /* "../g" */
	expect("/b/c/../..", "/");                /* "../.." */
	expect("/b/c/../../", "/");               /* "../../" */
	expect("/b/c/../../g", "/g");             /* "../../g" */
	expect("/./g", "/g");                     /* "/./g" */
	expect("/b/c/g.", "/b/c/g.");             /* "g." */
	expect("/b/c/.g", "/b/c/.g");             /* ".g" */
	expect("/b/c/g..", "/b/c/g..");           /* "g.." */
	expect("/b/c/..g", "/b/c/..g");           /* "..g" */
	expect("/b/c/./../g", "/b/g");            /* "./../g" */
	expect("/b/c/./g/.", "/b/c/g/");          /* "./g/." */
	expect("/b/c/g/./h", "/b/c/g/h");         /* "g/./h" */
	expect("/b/c/g/../h", "/b/c/h");          /* "g/../h" */
	expect("/b/c/g;x=1/./y", "/b/c/g;x=1/y"); /* "g;x=1/./y" */
	expect("/b/c/g;x=1/../y", "/b/c/y");      /* "g;x=1/../y" */
	expect("/a/b/c/./../../g", "/a/g");       /* 5.2.4's own example */
	expect("/mid/content=5/../6", "/mid/6");  /* 5.2.4's second example, made absolute */
}

/* 5.4.2's abnormal examples climb above the root; 5.2.4 would drop the "..", we refuse. */
static void test_rfc3986_5_4_2_above_root_is_refused(void **state)
{
	(void)state;
	refuse("/../g", HTTP_PATH_ABOVE_ROOT);           /* "/../g" */
	refuse("/b/c/../../../g", HTTP_PATH_ABOVE_ROOT); /* "../../../g" */
	refuse("/b/c/../../../../g", HTTP_PATH_ABOVE_ROOT);
	refuse("/..", HTTP_PATH_ABOVE_ROOT);
	refuse("/../", HTTP_PATH_ABOVE_ROOT);
	refuse("/a/../../x", HTTP_PATH_ABOVE_ROOT);
	refuse("/./../x", HTTP_PATH_ABOVE_ROOT);
	refuse("/%2e%2e/x", HTTP_PATH_ABOVE_ROOT);
	refuse("/a/%2E%2E/%2e./x", HTTP_PATH_ABOVE_ROOT);
}

static void test_traversal_out_of_a_route_is_normalised(void **state)
{
	(void)state;
	/* The defect: "/echo/../admin" must route as "/admin". */
	expect("/echo/../admin", "/admin");
	expect("/echo/./../admin/", "/admin/");
	/* Decode first, then remove dot segments. */
	expect("/a/%2e%2e/b", "/b");
	expect("/a/%2E%2e/b", "/b");
	expect("/a/.%2e/b", "/b");
	expect("/a/%2e/b", "/a/b");
	expect("/echo/%2e%2e/admin", "/admin");
	/* Not dot segments: dots inside a longer segment. */
	expect("/a/...", "/a/...");
	expect("/a/.%2e%2e", "/a/...");
	expect("/a/..;/b", "/a/..;/b");
}

static void test_unreserved_escapes_are_decoded(void **state)
{
	(void)state;
	expect("/%61%62%63", "/abc");
	expect("/%41%5A%7a", "/AZz");
	expect("/%30%39", "/09");
	expect("/%2D%2E%5F%7E", "/-._~");
	expect("/%2d%2e%5f%7e", "/-._~");
	expect("/~user/%7Euser", "/~user/~user");
}

static void test_other_escapes_keep_upper_case_hex(void **state)
{
	(void)state;
	expect("/a%20b", "/a%20b");
	expect("/%3f%23%25", "/%3F%23%25");
	expect("/%c3%a9t%C3%A9", "/%C3%A9t%C3%A9");
	expect("/%ff", "/%FF");
	expect("/%3a%40", "/%3A%40");
	/* "%25" stays encoded: "%2541" is not double-decoded to "A". */
	expect("/%2541", "/%2541");
	expect("/%252e%252e/x", "/%252e%252e/x");
}

static void test_duplicate_slashes_are_merged(void **state)
{
	(void)state;
	expect("//", "/");
	expect("///", "/");
	expect("//a", "/a");
	expect("/a//b", "/a/b");
	expect("/a///b//", "/a/b/");
	expect("/echo//..//admin", "/admin");
	expect("/a/.//b", "/a/b");
	expect("/a//./b", "/a/b");
}

static void test_trailing_slash_is_kept(void **state)
{
	(void)state;
	expect("/a/", "/a/");
	expect("/a/b/", "/a/b/");
	expect("/a/.", "/a/");
	expect("/a/./", "/a/");
	expect("/a/b/..", "/a/");
	expect("/a/b/../", "/a/");
	expect("/.", "/");
	expect("/./", "/");
	expect("/a/..", "/");
}

static void test_encoded_slash_nul_and_backslash_are_refused(void **state)
{
	(void)state;
	refuse("/a%2Fb", HTTP_PATH_ENCODED_SLASH);
	refuse("/a%2fb", HTTP_PATH_ENCODED_SLASH);
	refuse("/%2F", HTTP_PATH_ENCODED_SLASH);
	refuse("/..%2F..%2Fetc", HTTP_PATH_ENCODED_SLASH);
	refuse("/a%00", HTTP_PATH_ENCODED_NUL);
	refuse("/a%00.html", HTTP_PATH_ENCODED_NUL);
	refuse("/a%5Cb", HTTP_PATH_ENCODED_BACKSLASH);
	refuse("/a%5cb", HTTP_PATH_ENCODED_BACKSLASH);
	refuse("/echo/..%5cadmin", HTTP_PATH_ENCODED_BACKSLASH);
	/* A raw backslash is a separator to the same backends. */
	refuse("/echo/..\\admin", HTTP_PATH_BAD_CHAR);
}

static void test_malformed_escapes_are_refused(void **state)
{
	(void)state;
	refuse("/%", HTTP_PATH_BAD_ESCAPE);
	refuse("/a%", HTTP_PATH_BAD_ESCAPE);
	refuse("/a%4", HTTP_PATH_BAD_ESCAPE);
	refuse("/a%4g", HTTP_PATH_BAD_ESCAPE);
	refuse("/a%g4", HTTP_PATH_BAD_ESCAPE);
	refuse("/a%%41", HTTP_PATH_BAD_ESCAPE);
	refuse("/a% 1", HTTP_PATH_BAD_ESCAPE);
	refuse("/a%zz/b", HTTP_PATH_BAD_ESCAPE);
	refuse("/%u0041", HTTP_PATH_BAD_ESCAPE);
	/* The first problem from the left is reported. */
	refuse("/%zz%2F", HTTP_PATH_BAD_ESCAPE);
	refuse("/%2F%zz", HTTP_PATH_ENCODED_SLASH);
	/* Escapes are checked before dot segments: the whole path is read first. */
	refuse("/../%zz", HTTP_PATH_BAD_ESCAPE);
}

static void test_not_a_visible_ascii_absolute_path_is_refused(void **state)
{
	(void)state;
	refuse("", HTTP_PATH_BAD_CHAR);
	refuse("a/b", HTTP_PATH_BAD_CHAR);
	refuse("%2F", HTTP_PATH_BAD_CHAR);
	refuse("/a b", HTTP_PATH_BAD_CHAR);
	refuse("/a\tb", HTTP_PATH_BAD_CHAR);
	refuse("/a\x7f", HTTP_PATH_BAD_CHAR);
	refuse("/a\xc3\xa9", HTTP_PATH_BAD_CHAR);
	/* A NUL byte inside [in, in + n) is a byte like any other: refused. */
	struct guard_area g;
	const char *in = (const char *)guard_copy(&g, "/a\0b", 4);
	char out[4];
	size_t len = 1;
	assert_int_equal(http_path_normalize(in, 4, out, sizeof(out), &len), HTTP_PATH_BAD_CHAR);
	assert_int_equal(len, 0);
	guard_release(&g);
}

static void test_small_cap_is_too_long_and_never_written_past(void **state)
{
	(void)state;
	/* The result fits in a cap smaller than the input. */
	struct guard_area gi, go;
	const char *in = (const char *)guard_copy(&gi, "/a/./b/../c", 11);
	char *out = (char *)guard_copy(&go, zeros, 4);
	size_t len = 0;
	/* Pass 1 writes "/a/./b/../c" before dots go: that does not fit in 4. */
	assert_int_equal(http_path_normalize(in, 11, out, 4, &len), HTTP_PATH_TOO_LONG);
	guard_release(&go);
	out = (char *)guard_copy(&go, zeros, 11);
	assert_int_equal(http_path_normalize(in, 11, out, 11, &len), HTTP_PATH_OK);
	assert_int_equal(len, 4);
	assert_memory_equal(out, "/a/c", 4);
	guard_release(&go);
	guard_release(&gi);
	/* Decoding shrinks: "/%41%42" is "/AB", which fits in 3. */
	in = (const char *)guard_copy(&gi, "/%41%42", 7);
	out = (char *)guard_copy(&go, zeros, 3);
	assert_int_equal(http_path_normalize(in, 7, out, 3, &len), HTTP_PATH_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(out, "/AB", 3);
	guard_release(&go);
	out = (char *)guard_copy(&go, zeros, 0);
	assert_int_equal(http_path_normalize(in, 7, out, 0, &len), HTTP_PATH_TOO_LONG);
	guard_release(&go);
	guard_release(&gi);
}

static void test_every_prefix_is_read_within_its_bounds(void **state)
{
	(void)state;
	/* Each prefix of a path full of escapes and dots, as its own guarded input: a prefix
	 * that cuts an escape is BAD_ESCAPE, never a read of the byte after it. */
	static const char p[] = "/a/%2e%2E/b%41/./c%3f//d/..";
	char res[64];
	for (size_t cut = 1; cut <= sizeof(p) - 1; cut++) {
		char s[64];
		memcpy(s, p, cut);
		s[cut] = '\0';
		int rc = norm(s, res, sizeof(res));
		assert_true(rc == HTTP_PATH_OK || rc == HTTP_PATH_BAD_ESCAPE ||
		            rc == HTTP_PATH_ABOVE_ROOT);
	}
	expect(p, "/bA/c%3F/");
}

static void test_rc_names_are_stable(void **state)
{
	(void)state;
	assert_string_equal(http_path_rc_name(HTTP_PATH_OK), "ok");
	assert_string_equal(http_path_rc_name(HTTP_PATH_BAD_ESCAPE), "bad_escape");
	assert_string_equal(http_path_rc_name(HTTP_PATH_ENCODED_SLASH), "encoded_slash");
	assert_string_equal(http_path_rc_name(HTTP_PATH_ENCODED_NUL), "encoded_nul");
	assert_string_equal(http_path_rc_name(HTTP_PATH_ENCODED_BACKSLASH), "encoded_backslash");
	assert_string_equal(http_path_rc_name(HTTP_PATH_ABOVE_ROOT), "above_root");
	assert_string_equal(http_path_rc_name(HTTP_PATH_TOO_LONG), "too_long");
	assert_string_equal(http_path_rc_name(HTTP_PATH_BAD_CHAR), "bad_char");
	assert_string_equal(http_path_rc_name(-99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_already_normal_paths_are_unchanged),
	    cmocka_unit_test(test_rfc3986_5_4_dot_segment_examples),
	    cmocka_unit_test(test_rfc3986_5_4_2_above_root_is_refused),
	    cmocka_unit_test(test_traversal_out_of_a_route_is_normalised),
	    cmocka_unit_test(test_unreserved_escapes_are_decoded),
	    cmocka_unit_test(test_other_escapes_keep_upper_case_hex),
	    cmocka_unit_test(test_duplicate_slashes_are_merged),
	    cmocka_unit_test(test_trailing_slash_is_kept),
	    cmocka_unit_test(test_encoded_slash_nul_and_backslash_are_refused),
	    cmocka_unit_test(test_malformed_escapes_are_refused),
	    cmocka_unit_test(test_not_a_visible_ascii_absolute_path_is_refused),
	    cmocka_unit_test(test_small_cap_is_too_long_and_never_written_past),
	    cmocka_unit_test(test_every_prefix_is_read_within_its_bounds),
	    cmocka_unit_test(test_rc_names_are_stable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
