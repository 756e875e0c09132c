/* Unit tests for core/admin_req.c: the admin API's paths, connection ids and query strings.
 * Inputs sit at the end of guard-page buffers (tests/unit/guard.h), so a read past either
 * buffer crashes the test; every prefix of a valid query is parsed too, to catch a read past
 * a '%' at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/admin_req.h"
#include "guard.h"

static enum admin_req_rc parse(const char *path, const char *query, struct admin_req *out,
                               const char **why)
{
	struct guard_area gp, gq;
	size_t pn = strlen(path), qn = strlen(query);
	const char *p = (const char *)guard_copy(&gp, path, pn);
	const char *q = (const char *)guard_copy(&gq, query, qn);
	enum admin_req_rc rc = admin_req_parse(p, pn, q, qn, out, why);
	guard_release(&gq);
	guard_release(&gp);
	return rc;
}

static struct admin_req rq;

static void test_paths_name_their_calls(void **state)
{
	(void)state;
	const char *why;
	assert_int_equal(parse("/routes", "", &rq, &why), ADMIN_REQ_OK);
	assert_int_equal(rq.call, ADMIN_CALL_ROUTES);
	assert_int_equal(parse("/connections", "", &rq, &why), ADMIN_REQ_OK);
	assert_int_equal(rq.call, ADMIN_CALL_CONNS);
	assert_int_equal(rq.limit, ADMIN_LIMIT_DEFAULT);
	assert_int_equal(rq.code, 1000);
	assert_int_equal(parse("/broadcast", "", &rq, &why), ADMIN_REQ_OK);
	assert_int_equal(rq.call, ADMIN_CALL_BROADCAST);
	assert_int_equal(parse("/connections/ab12cd34.42", "", &rq, &why), ADMIN_REQ_OK);
	assert_int_equal(rq.call, ADMIN_CALL_CONN);
	assert_string_equal(rq.node, "ab12cd34");
	assert_int_equal(rq.n, 42);
	assert_int_equal(parse("/connections/ab12cd34.7/messages", "", &rq, &why), ADMIN_REQ_OK);
	assert_int_equal(rq.call, ADMIN_CALL_CONN_MSGS);
	assert_int_equal(rq.n, 7);
	/* a --node-id such as the default "host-8080" names connections too */
	assert_int_equal(parse("/connections/Edge_1-8080.3", "", &rq, &why), ADMIN_REQ_OK);
	assert_string_equal(rq.node, "Edge_1-8080");
	assert_int_equal(parse("/connections/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.1", "", &rq, &why),
	                 ADMIN_REQ_OK);
}

static void test_unknown_paths_and_bad_ids_are_not_found(void **state)
{
	(void)state;
	const char *why;
	static const char *const bad[] = {
	    "/",
	    "/routes/",
	    "/route",
	    "/connections/",
	    "/connections/x",
	    "/connections/.1",
	    "/connections/a.",
	    "/connections/a.1x",
	    "/connections/a*.1",
	    "/connections/a.-1",
	    "/connections/a.1/message",
	    "/connections/a.1/messages/x",
	    "/connections//messages",
	    "/connections/a.12345678901234567890",
	    "/connections/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.1", /* 33: longer than any node id */
	    "/broadcast/x",
	    "/healthz",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], "", &rq, &why), ADMIN_REQ_NOT_FOUND);
}

static void test_query_is_percent_decoded_and_plus_stays_a_plus(void **state)
{
	(void)state;
	const char *why;
	assert_int_equal(parse("/connections",
	                       "route=%2Fchat&subject=a+b%40x.org&peer=127.0.0.1:5&limit=10", &rq,
	                       &why),
	                 ADMIN_REQ_OK);
	assert_string_equal(rq.route, "/chat");
	assert_int_equal(rq.route_len, 5);
	assert_string_equal(rq.subject, "a+b@x.org");
	assert_string_equal(rq.peer, "127.0.0.1:5");
	assert_int_equal(rq.limit, 10);
	assert_int_equal(rq.have, ADMIN_P_ROUTE | ADMIN_P_SUBJECT | ADMIN_P_PEER | ADMIN_P_LIMIT);
	assert_int_equal(parse("/connections/a.1", "code=4000&reason=caf%C3%A9&", &rq, &why),
	                 ADMIN_REQ_OK);
	assert_int_equal(rq.code, 4000);
	assert_string_equal(rq.reason, "caf\xc3\xa9");
	assert_int_equal(parse("/connections", "scope=cluster&&", &rq, &why), ADMIN_REQ_OK);
	assert_true(rq.scope_cluster);
}

static void test_bad_parameters_are_400_with_a_reason(void **state)
{
	(void)state;
	const char *why;
	static const char *const bad[] = {
	    "x=1",
	    "route",
	    "route=/a&route=/b",
	    "route=chat",
	    "route=",
	    "route=%2",
	    "route=%zz",
	    "route=/a%00b",
	    "route=/a%0a",
	    "peer=a b",
	    "peer=host.example",
	    "limit=0",
	    "limit=10001",
	    "limit=-1",
	    "limit=",
	    "limit=99999999999999999999",
	    "code=1005",
	    "code=1006",
	    "code=999",
	    "code=5000",
	    "code=1004",
	    "code=2999",
	    "code=x",
	    "code=65536",
	    "reason=%ff",
	    "subject=",
	    "subject=%c3",
	    "scope=galaxy",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(parse("/connections", bad[i], &rq, &why), ADMIN_REQ_BAD);
		assert_non_null(why);
	}
	char reason[200] = "reason=";
	memset(reason + 7, 'r', 124);
	assert_int_equal(parse("/connections", reason, &rq, &why), ADMIN_REQ_BAD);
	reason[7 + 123] = '\0';
	assert_int_equal(parse("/connections", reason, &rq, &why), ADMIN_REQ_OK);
	assert_int_equal(rq.reason_len, 123);
}

static void test_every_prefix_of_a_query_is_safe(void **state)
{
	(void)state;
	const char *why;
	const char *q = "route=%2Fa%2Fb&subject=%E2%82%AC&code=3000&reason=%41";
	char buf[128];
	for (size_t cut = 0; cut <= strlen(q); cut++) {
		memcpy(buf, q, cut);
		buf[cut] = '\0';
		enum admin_req_rc rc = parse("/connections", buf, &rq, &why);
		assert_true(rc == ADMIN_REQ_OK || rc == ADMIN_REQ_BAD);
		assert_true(rq.route_len < sizeof(rq.route) && rq.subject_len < sizeof(rq.subject));
	}
}

static void test_check_says_which_methods_and_parameters_a_call_takes(void **state)
{
	(void)state;
	const char *why, *allow;
	char msg[160];
	assert_int_equal(parse("/routes", "", &rq, &why), ADMIN_REQ_OK);
	assert_int_equal(admin_req_check(&rq, ADMIN_M_PUT, &allow, msg, sizeof(msg)), 0);
	assert_int_equal(admin_req_check(&rq, ADMIN_M_POST, &allow, msg, sizeof(msg)), 405);
	assert_string_equal(allow, "GET, HEAD, PUT");
	assert_int_equal(parse("/connections/a.1", "code=1001", &rq, &why), ADMIN_REQ_OK);
	assert_int_equal(admin_req_check(&rq, ADMIN_M_DELETE, &allow, msg, sizeof(msg)), 0);
	assert_int_equal(admin_req_check(&rq, ADMIN_M_GET, &allow, msg, sizeof(msg)), 400);
	assert_string_equal(msg, "code: not a parameter of this call");
	assert_int_equal(parse("/broadcast", "", &rq, &why), ADMIN_REQ_OK);
	assert_int_equal(admin_req_check(&rq, ADMIN_M_POST, &allow, msg, sizeof(msg)), 400);
	assert_int_equal(parse("/broadcast", "subject=s&limit=3", &rq, &why), ADMIN_REQ_OK);
	assert_int_equal(admin_req_check(&rq, ADMIN_M_POST, &allow, msg, sizeof(msg)), 400);
	assert_string_equal(msg, "limit: not a parameter of this call");
	assert_int_equal(parse("/connections/a.1/messages", "", &rq, &why), ADMIN_REQ_OK);
	assert_int_equal(admin_req_check(&rq, ADMIN_M_GET, &allow, msg, sizeof(msg)), 405);
	assert_string_equal(allow, "POST");
	assert_int_equal(admin_method_of("DELETE", 6), ADMIN_M_DELETE);
	assert_int_equal(admin_method_of("delete", 6), ADMIN_M_OTHER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_paths_name_their_calls),
	    cmocka_unit_test(test_unknown_paths_and_bad_ids_are_not_found),
	    cmocka_unit_test(test_query_is_percent_decoded_and_plus_stays_a_plus),
	    cmocka_unit_test(test_bad_parameters_are_400_with_a_reason),
	    cmocka_unit_test(test_every_prefix_of_a_query_is_safe),
	    cmocka_unit_test(test_check_says_which_methods_and_parameters_a_call_takes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
