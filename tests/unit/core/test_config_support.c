/* Tests for core/config_support.c: settings whose feature is not built are refused with one
 * line naming the flag; everything this build enforces passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"

/* Parses a NULL-terminated flag list (argv[0] added) that must be valid, then runs the
 * enforceability check; returns its result with the line in err. */
static int check(char *err, size_t err_len, ...)
{
	char *argv[32] = {"wsgate"};
	int argc = 1;
	va_list ap;
	va_start(ap, err_len);
	for (const char *a; (a = va_arg(ap, const char *)) != NULL && argc < 31;)
		argv[argc++] = (char *)a;
	va_end(ap);
	struct wsg_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	char perr[512];
	FILE *out = fopen("/dev/null", "w");
	assert_non_null(out);
	assert_int_equal(config_parse_args(&cfg, argc, argv, out, perr, sizeof(perr)), CFG_RC_OK);
	fclose(out);
	err[0] = '\0';
	int rc = config_check_enforceable(&cfg, err, err_len);
	config_fini(&cfg);
	return rc;
}

static void test_enforced_settings_pass(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(check(err, sizeof(err), "--route",
	                       "/chat=ws://127.0.0.1:9000/api;strip-prefix=true", "--allow-origin",
	                       "*", "--lb", "round-robin", "--access-log", "off",
	                       "--trust-forwarded", "--health-interval", "0", NULL),
	                 0);
	assert_string_equal(err, "");
}

static void test_origin_allowlist_is_enforced(void **state)
{
	(void)state;
	char err[512];
	/* Built now: the allowlist and a route's origin= pass the check (and are enforced). */
	assert_int_equal(check(err, sizeof(err), "--allow-origin", "https://a.example", "--route",
	                       "/a=ws://127.0.0.1:9000;origin=https://b.example;msg-rate=5", NULL),
	                 0);
	assert_string_equal(err, "");
}

static void test_token_settings_are_enforced(void **state)
{
	(void)state;
	char err[512];
	/* Built now (core/admission_token.c): keys, policy and the route keys pass. */
	assert_int_equal(check(err, sizeof(err), "--jwt-secret", "s3cret-s3cret-s3cret-s3cret-s3cr",
	                       "--jwt-issuer", "iss", "--jwt-audience", "aud", "--jwt-leeway", "5s",
	                       "--auth", "required", "--route",
	                       "/a=ws://127.0.0.1:9000;auth=optional;forward-token=true", NULL),
	                 0);
	assert_string_equal(err, "");
}

static void test_limits_and_policies_are_refused(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(check(err, sizeof(err), "--msg-rate", "10/20", NULL), 0); /* built */
	/* Built: the per-IP limits. */
	assert_int_equal(check(err, sizeof(err), "--conn-rate", "5", "--max-conns-per-ip", "3",
	                       "--ipv6-prefix", "56", NULL),
	                 0);
	/* Built: the balancing policies and active health checks. */
	assert_int_equal(check(err, sizeof(err), "--lb", "least-conn", "--health-path", "/h", NULL),
	                 0);
	/* Built: the access log (core/access_log.c). */
	assert_int_equal(check(err, sizeof(err), "--access-log", "-", NULL), 0);
}

static void test_route_keys_are_refused(void **state)
{
	(void)state;
	char err[512];
	/* Built: lb= (router/lb.c) */
	assert_int_equal(
	    check(err, sizeof(err), "--route", "/a=ws://127.0.0.1:9000;lb=ip-hash", NULL), 0);
	assert_int_equal(
	    check(err, sizeof(err), "--route", "/b=ws://127.0.0.1:9000@3;lb=least-conn", NULL), 0);
}

static void test_tls_settings_and_wss_backends_are_enforced(void **state)
{
	(void)state;
	char err[512];
	/* TLS is built now: a wss:// backend and tls-verify= pass the check. */
	assert_int_equal(check(err, sizeof(err), "--route",
	                       "/c=wss://127.0.0.1:9443;tls-verify=false", "--tls-min-version",
	                       "1.3", NULL),
	                 0);
	assert_string_equal(err, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enforced_settings_pass),
	    cmocka_unit_test(test_origin_allowlist_is_enforced),
	    cmocka_unit_test(test_token_settings_are_enforced),
	    cmocka_unit_test(test_limits_and_policies_are_refused),
	    cmocka_unit_test(test_route_keys_are_refused),
	    cmocka_unit_test(test_tls_settings_and_wss_backends_are_enforced),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
