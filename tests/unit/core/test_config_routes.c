/* Unit tests for config_parse_routes_json (core/config_routes.c): the {"routes": [...]} body a
 * PUT /routes would carry, parsed by the same code as the --config file's "routes" key. Good
 * bodies (objects, SPEC strings, a backend given as a plain URL with no weight, an empty list,
 * a body that is not NUL-terminated, the "resolved" key --check-config prints), and bad ones:
 * each fails with one line naming the key and the value, with no file name and no "wsgate: "
 * prefix, and leaves the outputs empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "core/config.h"

struct body {
	struct rt_route_def *routes;
	unsigned n;
	int rc;
	char err[1024];
};

static void parse_len(struct body *b, const char *json, size_t len)
{
	memset(b, 0, sizeof(*b));
	b->routes = (struct rt_route_def *)(uintptr_t)1; /* must be overwritten */
	b->n = 99;
	b->rc = config_parse_routes_json(json, len, &b->routes, &b->n, b->err, sizeof(b->err));
}

static void parse(struct body *b, const char *json)
{
	parse_len(b, json, strlen(json));
}

static void expect_ok(struct body *b)
{
	if (b->rc != 0)
		fail_msg("expected 0, got %d: %s", b->rc, b->err);
}

/* One line, no prefix, outputs cleared, and exactly the wording given. */
static void expect_err(const char *json, const char *want)
{
	struct body b;

	parse(&b, json);
	if (b.rc != -1)
		fail_msg("expected -1 for %s, got %d", json, b.rc);
	assert_null(b.routes);
	assert_int_equal(b.n, 0);
	assert_null(strchr(b.err, '\n'));
	assert_true(strncmp(b.err, "wsgate", 6) != 0);
	if (strcmp(b.err, want) != 0)
		fail_msg("for %s\n  got:  %s\n  want: %s", json, b.err, want);
}

static void test_objects_and_spec_strings_parse_and_resolve(void **state)
{
	(void)state;
	struct body b;

	parse(&b, "{\"routes\": ["
	          "{\"path\": \"/chat\", \"backends\": [\"ws://127.0.0.1:9001\", "
	          "\"ws://[::1]:9002/api\"], \"strip-prefix\": true, \"subprotocol\": \"chat\", "
	          "\"max-message\": \"64k\", \"auth\": \"off\"},"
	          "\"/=ws://127.0.0.1:9000;strip-prefix=false\"]}");
	expect_ok(&b);
	assert_int_equal(b.n, 2);
	const struct rt_route_def *d = &b.routes[0];
	assert_string_equal(d->path, "/chat");
	assert_int_equal(d->n_backends, 2);
	assert_int_equal(d->backends[0].port, 9001);
	assert_int_equal(d->backends[0].addr.ss_family, AF_INET);
	assert_true(d->backends[0].addr_len > 0);
	assert_int_equal(d->backends[1].addr.ss_family, AF_INET6);
	assert_string_equal(d->backends[1].path, "/api");
	assert_true(d->strip_prefix);
	assert_string_equal(d->subprotocol, "chat");
	assert_int_equal(d->max_message, 65536);
	assert_int_equal(d->auth, RT_AUTH_OFF);
	assert_string_equal(b.routes[1].path, "/");
	assert_true(b.routes[1].backends[0].addr_len > 0);
	config_routes_free(b.routes, b.n);
}

static void test_weightless_backend_as_one_string(void **state)
{
	(void)state;
	struct body b;

	/* A backend given as a plain URL, no weight, and "backends" as one string, not an array. */
	parse(&b, "{\"routes\": [{\"path\": \"/a\", \"backends\": \"ws://127.0.0.1:9001\"}]}");
	expect_ok(&b);
	assert_int_equal(b.n, 1);
	assert_int_equal(b.routes[0].n_backends, 1);
	assert_string_equal(b.routes[0].backends[0].url, "ws://127.0.0.1:9001");
	assert_string_equal(b.routes[0].backends[0].host, "127.0.0.1");
	assert_false(b.routes[0].has_lb);
	config_routes_free(b.routes, b.n);
}

static void test_backend_weights_in_both_forms(void **state)
{
	(void)state;
	struct body b;

	/* SPEC.md: ws://h:9000@3 in a SPEC string, {"url": ..., "weight": 3} in the file */
	parse(&b, "{\"routes\": [{\"path\": \"/a\", \"backends\": [{\"url\": "
	          "\"ws://127.0.0.1:9001\", \"weight\": 3}, \"ws://127.0.0.1:9002@100\", "
	          "\"ws://127.0.0.1:9003\"]}, \"/b=ws://127.0.0.1:9004@7,ws://127.0.0.1:9005\"]}");
	expect_ok(&b);
	assert_int_equal(b.n, 2);
	assert_int_equal(b.routes[0].backends[0].weight, 3);
	assert_string_equal(b.routes[0].backends[0].url, "ws://127.0.0.1:9001");
	assert_int_equal(b.routes[0].backends[1].weight, 100);
	assert_string_equal(b.routes[0].backends[1].url, "ws://127.0.0.1:9002");
	assert_int_equal(b.routes[0].backends[2].weight, 0); /* default: 1 */
	assert_int_equal(b.routes[1].backends[0].weight, 7);
	assert_string_equal(b.routes[1].backends[0].url, "ws://127.0.0.1:9004");
	assert_int_equal(b.routes[1].backends[1].weight, 0);
	config_routes_free(b.routes, b.n);
}

static void test_empty_list_and_unterminated_body(void **state)
{
	(void)state;
	struct body b;
	static const char buf[] = "{\"routes\": [\"/x=ws://127.0.0.1:1\"]}GARBAGE";

	parse(&b, "{\"routes\": []}");
	expect_ok(&b);
	assert_int_equal(b.n, 0);
	assert_null(b.routes);
	config_routes_free(b.routes, b.n); /* harmless */

	/* only len bytes are read: the body need not end in a NUL */
	parse_len(&b, buf, strlen(buf) - strlen("GARBAGE"));
	expect_ok(&b);
	assert_int_equal(b.n, 1);
	assert_string_equal(b.routes[0].path, "/x");
	config_routes_free(b.routes, b.n);
}

static void test_resolved_key_is_accepted_and_ignored(void **state)
{
	(void)state;
	struct body b;

	/* what --check-config prints reads back; the addresses given are not used */
	parse(&b, "{\"routes\": [{\"path\": \"/a\", \"backends\": [\"ws://127.0.0.1:9001\"], "
	          "\"resolved\": [\"10.9.9.9:1\"]}]}");
	expect_ok(&b);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&b.routes[0].backends[0].addr;
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	assert_int_equal(ntohs(sin->sin_port), 9001);
	config_routes_free(b.routes, b.n);
}

static void test_check_config_routes_read_back_as_a_body(void **state)
{
	(void)state;
	struct wsg_config cfg;
	char err[512], *json = NULL, *body;
	size_t len = 0;
	char *argv[] = {"wsgate",
	                "--route",
	                "/a=ws://127.0.0.1:9001,ws://localhost:9002;subprotocol=x",
	                "--route",
	                "/=ws://127.0.0.1:9000",
	                NULL};
	struct body b;

	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(config_parse_args(&cfg, 5, argv, stdout, err, sizeof(err)), CFG_RC_OK);
	FILE *out = open_memstream(&json, &len);
	assert_int_equal(config_print_json(&cfg, out), 0);
	fclose(out);
	cJSON *root = cJSON_Parse(json), *doc = cJSON_CreateObject();
	assert_non_null(root);
	cJSON_AddItemToObject(doc, "routes",
	                      cJSON_DetachItemFromObjectCaseSensitive(root, "routes"));
	body = cJSON_PrintUnformatted(doc);
	parse(&b, body);
	expect_ok(&b);
	assert_int_equal(b.n, 2);
	assert_string_equal(b.routes[0].subprotocol, "x");
	assert_string_equal(b.routes[0].backends[1].url, "ws://localhost:9002");
	config_routes_free(b.routes, b.n);
	cJSON_free(body);
	cJSON_Delete(doc);
	cJSON_Delete(root);
	free(json);
	config_fini(&cfg);
}

static void test_bad_bodies_name_key_and_value(void **state)
{
	(void)state;

	expect_err("{\"routes\": [", "invalid JSON at line 1, column 13");
	expect_err("{\"routes\": []}\n}", "invalid JSON at line 2, column 1");
	expect_err("", "invalid JSON at line 1, column 1");
	expect_err("[]", "expected a JSON object, got an array");
	expect_err("{}", "routes: missing (expected {\"routes\": [...]})");
	expect_err("{\"routes\": {}}", "routes: expected an array, got an object");
	expect_err("{\"routes\": [], \"colour\": \"red\"}", "colour: unknown key");
	expect_err("{\"routes\": [], \"routes\": []}", "routes: given twice");
	expect_err("{\"routes\": [3]}",
	           "routes[0]: expected an object or a route spec, got a number");
	expect_err("{\"routes\": [{\"path\": 3, \"backends\": \"ws://127.0.0.1:1\"}]}",
	           "routes[0].path: expected a string, got a number");
	expect_err("{\"routes\": [{\"backends\": \"ws://127.0.0.1:1\"}]}",
	           "routes[0]: missing \"path\"");
	expect_err("{\"routes\": [{\"path\": \"/a\"}]}", "routes[0]: route \"/a\": no backend");
	expect_err("{\"routes\": [{\"path\": \"/a\", \"backends\": [\"ws://127.0.0.1:1\", "
	           "\"ftp://x\"]}]}",
	           "routes[0].backends[1]: backend \"ftp://x\": expected ws://host[:port][/path] "
	           "or wss://");
	expect_err(
	    "{\"routes\": [{\"path\": \"/a\", \"backends\": [{\"url\": \"ws://127.0.0.1:1\", "
	    "\"weight\": 101}]}]}",
	    "routes[0].backends[0]: backend \"ws://127.0.0.1:1\": weight \"101\" (1..100)");
	expect_err("{\"routes\": [{\"path\": \"/a\", \"backends\": [{\"weight\": 2}]}]}",
	           "routes[0].backends[0]: backend object without \"url\"");
	expect_err(
	    "{\"routes\": [{\"path\": \"/a\", \"backends\": [{\"url\": \"ws://127.0.0.1:1\", "
	    "\"wieght\": 2}]}]}",
	    "routes[0].backends[0].wieght: unknown backend key");
	expect_err(
	    "{\"routes\": [\"/a=ws://127.0.0.1:1@0\"]}",
	    "routes[0]: \"/a=ws://127.0.0.1:1@0\": backend \"ws://127.0.0.1:1\": weight \"0\" "
	    "(1..100)");
	expect_err("{\"routes\": [{\"path\": \"/a\", \"backends\": \"ws://127.0.0.1:1\", "
	           "\"strip-prefix\": \"maybe\"}]}",
	           "routes[0].strip-prefix: strip-prefix: expected true or false, got \"maybe\"");
	expect_err("{\"routes\": [{\"path\": \"/a\", \"backends\": \"ws://127.0.0.1:1\", "
	           "\"colour\": \"red\"}]}",
	           "routes[0].colour: unknown route key \"colour\"");
	expect_err("{\"routes\": [{\"path\": \"/a\", \"backends\": \"ws://127.0.0.1:1\", "
	           "\"resolved\": \"x\"}]}",
	           "routes[0].resolved: expected an array of strings, got a string");
	expect_err("{\"routes\": [\"/a\"]}", "routes[0]: \"/a\": no backend");
	expect_err("{\"routes\": [\"/a=ws://no-such-host.invalid:1\"]}",
	           "routes[0]: \"/a=ws://no-such-host.invalid:1\": backend "
	           "\"ws://no-such-host.invalid:1\": cannot resolve \"no-such-host.invalid\": "
	           "Name or service not known");
	/* a key from the body cannot break the one-line contract */
	expect_err("{\"routes\": [], \"a\\nb\": 1}", "a\\x0ab: unknown key");
}

static void test_duplicate_paths_are_refused(void **state)
{
	(void)state;

	/* as in the file: rt_table_new decides, a trailing '/' is the same path */
	expect_err("{\"routes\": [\"/a=ws://127.0.0.1:1\", \"/a=ws://127.0.0.1:2\"]}",
	           "routes: route \"/a\": path given twice");
	expect_err("{\"routes\": [\"/a=ws://127.0.0.1:1\", {\"path\": \"/a/\", "
	           "\"backends\": \"ws://127.0.0.1:2\"}]}",
	           "routes: route \"/a/\": path given twice");
	/* the same path with different subprotocols is two routes */
	struct body b;
	parse(&b, "{\"routes\": [\"/a=ws://127.0.0.1:1\", \"/a=ws://127.0.0.1:2;subprotocol=x\"]}");
	expect_ok(&b);
	assert_int_equal(b.n, 2);
	config_routes_free(b.routes, b.n);
}

static void test_nul_inside_body_is_refused(void **state)
{
	(void)state;
	struct body b;
	static const char buf[] = "{\"routes\": []}\0{\"x\": 1}";

	parse_len(&b, buf, sizeof(buf) - 1);
	assert_int_equal(b.rc, -1);
	assert_null(b.routes);
	assert_string_equal(b.err, "invalid JSON at line 1, column 15");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_objects_and_spec_strings_parse_and_resolve),
	    cmocka_unit_test(test_weightless_backend_as_one_string),
	    cmocka_unit_test(test_backend_weights_in_both_forms),
	    cmocka_unit_test(test_empty_list_and_unterminated_body),
	    cmocka_unit_test(test_resolved_key_is_accepted_and_ignored),
	    cmocka_unit_test(test_check_config_routes_read_back_as_a_body),
	    cmocka_unit_test(test_bad_bodies_name_key_and_value),
	    cmocka_unit_test(test_duplicate_paths_are_refused),
	    cmocka_unit_test(test_nul_inside_body_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
