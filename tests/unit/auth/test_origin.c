/* Unit tests for auth/origin.c: the Origin allowlist, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/origin.h"
#include "guard.h"

struct origin_case {
	const char *origin;
	bool allowed;
};

/* Checks every case through a guard-page copy, so an over-read past n faults. */
static void check_cases(const char *const *entries, unsigned n, const struct origin_case *c,
                        size_t nc)
{
	char err[256] = "";
	struct origin_list *l = origin_list_new(entries, n, err, sizeof(err));

	assert_non_null(l);
	for (size_t i = 0; i < nc; i++) {
		struct guard_area g;
		size_t len = strlen(c[i].origin);
		const char *p = (const char *)guard_copy(&g, c[i].origin, len);
		bool got = origin_allowed(l, p, len);
		if (got != c[i].allowed)
			fail_msg("origin \"%s\": got %d, want %d", c[i].origin, got, c[i].allowed);
		guard_release(&g);
	}
	origin_list_free(l);
}

static void test_exact_entries_case_insensitive_default_ports(void **state)
{
	(void)state;
	static const char *const entries[] = {"https://App.Example.com", "http://a.test:8080",
	                                      "wss://b.test:443", "ws://[::1]:80"};
	static const struct origin_case c[] = {
	    {"https://app.example.com", true},
	    {"HTTPS://APP.EXAMPLE.COM", true},
	    {"https://app.example.com:443", true},
	    {"https://app.example.com:8443", false},
	    {"http://app.example.com", false},
	    {"https://sub.app.example.com", false},
	    {"https://app.example.co", false},
	    {"https://app.example.comm", false},
	    {"http://a.test:8080", true},
	    {"http://a.test", false},
	    {"http://a.test:80", false},
	    {"wss://b.test", true},
	    {"wss://b.test:443", true},
	    {"ws://[::1]", true},
	    {"ws://[::1]:80", true},
	    {"ws://[::2]", false},
	    {"https://app.example.com/", false},
	    {"https://app.example.com:0443", true},
	    {"", false},
	    {"https://", false},
	    {"null", false},
	};
	check_cases(entries, 4, c, sizeof(c) / sizeof(c[0]));
}

static void test_wildcard_matches_subdomains_any_depth_not_domain(void **state)
{
	(void)state;
	static const char *const entries[] = {"https://*.example.com"};
	static const struct origin_case c[] = {
	    {"https://a.example.com", true},       {"https://a.b.c.example.com", true},
	    {"https://A.EXAMPLE.COM:443", true},   {"https://example.com", false},
	    {"https://.example.com", false},       {"https://aexample.com", false},
	    {"https://a.example.com.evil", false}, {"https://a.example.com:8443", false},
	    {"http://a.example.com", false},       {"https://*.example.com", false},
	};
	check_cases(entries, 1, c, sizeof(c) / sizeof(c[0]));
}

static void test_star_allows_all(void **state)
{
	(void)state;
	static const char *const entries[] = {"https://a.test", "*"};
	static const struct origin_case c[] = {
	    {"https://x.y", true},
	    {"null", true},
	    {"garbage", true},
	};
	check_cases(entries, 2, c, sizeof(c) / sizeof(c[0]));
}

static void test_null_matches_only_literal_null_entry(void **state)
{
	(void)state;
	static const char *const with_null[] = {"null", "https://a.test"};
	static const struct origin_case c1[] = {
	    {"null", true},           {"NULL", false},         {"null ", false},
	    {"https://a.test", true}, {"https://null", false},
	};
	check_cases(with_null, 2, c1, sizeof(c1) / sizeof(c1[0]));

	static const char *const without[] = {"https://a.test"};
	static const struct origin_case c2[] = {{"null", false}};
	check_cases(without, 1, c2, 1);
}

static void test_empty_list_allows_nothing(void **state)
{
	(void)state;
	static const struct origin_case c[] = {{"https://a.test", false}, {"null", false}};
	check_cases(NULL, 0, c, 2);
}

static void test_malformed_entries_refused_naming_entry(void **state)
{
	(void)state;
	static const struct {
		const char *entry;
		const char *why;
	} bad[] = {
	    {"https://a.test/", "has a path"},
	    {"https://a.test/app", "has a path"},
	    {"https://a.test?x=1", "has a query"},
	    {"https://a.test#f", "has a fragment"},
	    {"https://user@a.test", "has userinfo"},
	    {"https://user:pw@a.test", "bad port"},
	    {"https://a.test:", "bad port"},
	    {"https://a.test:0", "bad port"},
	    {"https://a.test:65536", "bad port"},
	    {"https://a.test:99999999", "bad port"},
	    {"https://a.test:8x", "bad character"},
	    {"https://", "empty host"},
	    {"https://*.", "empty host"},
	    {"a.test", "expected scheme"},
	    {"://a.test", "expected scheme"},
	    {"https:/a.test", "expected scheme"},
	    {"", "empty"},
	    {"https://[::1", "bad IPv6"},
	    {"https://[zz]", "bad character in IPv6"},
	    {"https://a b", "bad character"},
	    {"https://*a.test", "empty host"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		const char *const e[] = {"https://ok.test", bad[i].entry};
		struct origin_list *l = origin_list_new(e, 2, err, sizeof(err));
		if (l != NULL)
			fail_msg("entry \"%s\" accepted", bad[i].entry);
		if (strstr(err, bad[i].entry) == NULL || strstr(err, bad[i].why) == NULL ||
		    strchr(err, '\n') != NULL)
			fail_msg("entry \"%s\": error \"%s\", want \"%s\"", bad[i].entry, err,
			         bad[i].why);
	}
}

static void test_free_null_is_noop(void **state)
{
	(void)state;
	origin_list_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_exact_entries_case_insensitive_default_ports),
	    cmocka_unit_test(test_wildcard_matches_subdomains_any_depth_not_domain),
	    cmocka_unit_test(test_star_allows_all),
	    cmocka_unit_test(test_null_matches_only_literal_null_entry),
	    cmocka_unit_test(test_empty_list_allows_nothing),
	    cmocka_unit_test(test_malformed_entries_refused_naming_entry),
	    cmocka_unit_test(test_free_null_is_noop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
