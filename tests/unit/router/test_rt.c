/* Unit tests for router/rt.c: table build, longest-prefix lookup on segment boundaries,
 * subprotocol routes, balancing picks, backend path composition and backend URL parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "router/rt.h"

#define MAX_DEFS 8

struct defs {
	struct rt_route_def d[MAX_DEFS];
	unsigned n;
};

/* Adds a route with n_urls backends (parsed, not resolved); returns it for tweaks. */
static struct rt_route_def *add_route(struct defs *ds, const char *path, const char *sub,
                                      unsigned n_urls, const char *const *urls)
{
	char err[256];
	struct rt_route_def *d = &ds->d[ds->n++];

	memset(d, 0, sizeof(*d));
	d->path = strdup(path);
	d->subprotocol = sub ? strdup(sub) : NULL;
	d->backends = calloc(n_urls ? n_urls : 1, sizeof(*d->backends));
	d->n_backends = n_urls;
	for (unsigned i = 0; i < n_urls; i++)
		assert_int_equal(rt_backend_def_parse(urls[i], &d->backends[i], err, sizeof(err)),
		                 0);
	return d;
}

static struct rt_route_def *add1(struct defs *ds, const char *path, const char *sub,
                                 const char *url)
{
	return add_route(ds, path, sub, 1, &url);
}

static void defs_fini(struct defs *ds)
{
	for (unsigned i = 0; i < ds->n; i++)
		rt_route_def_fini(&ds->d[i]);
	ds->n = 0;
}

static struct rt_table *build(struct defs *ds)
{
	char err[256] = "";
	struct rt_table *t = rt_table_new(ds->d, ds->n, err, sizeof(err));

	if (t == NULL)
		fail_msg("rt_table_new: %s", err);
	return t;
}

static const char *look(const struct rt_table *t, const char *path, const char *offered)
{
	const struct rt_route *r =
	    rt_lookup(t, path, strlen(path), offered, offered ? strlen(offered) : 0);
	if (r == NULL)
		return NULL;
	/* the backend URL tells which of several same-path routes matched */
	return r->backends[0].url;
}

static void test_lookup_exact_and_deeper_paths_match(void **state)
{
	(void)state;
	struct defs ds = {0};
	add1(&ds, "/chat", NULL, "ws://127.0.0.1:9001");
	struct rt_table *t = build(&ds);

	assert_string_equal(look(t, "/chat", NULL), "ws://127.0.0.1:9001");
	assert_string_equal(look(t, "/chat/room1", NULL), "ws://127.0.0.1:9001");
	assert_string_equal(look(t, "/chat/", NULL), "ws://127.0.0.1:9001");
	assert_string_equal(look(t, "/chat?x=1", NULL), "ws://127.0.0.1:9001");
	assert_null(look(t, "/", NULL));
	assert_null(look(t, "/other", NULL));
	rt_table_free(t);
	defs_fini(&ds);
}

static void test_lookup_respects_segment_boundary(void **state)
{
	(void)state;
	struct defs ds = {0};
	add1(&ds, "/chat", NULL, "ws://127.0.0.1:9001");
	struct rt_table *t = build(&ds);

	assert_null(look(t, "/chatter", NULL));
	assert_null(look(t, "/cha", NULL));
	assert_null(look(t, "/Chat", NULL));
	rt_table_free(t);
	defs_fini(&ds);
}

static void test_lookup_root_is_catch_all(void **state)
{
	(void)state;
	struct defs ds = {0};
	add1(&ds, "/", NULL, "ws://127.0.0.1:9000");
	add1(&ds, "/chat", NULL, "ws://127.0.0.1:9001");
	struct rt_table *t = build(&ds);

	assert_string_equal(look(t, "/", NULL), "ws://127.0.0.1:9000");
	assert_string_equal(look(t, "/chatter", NULL), "ws://127.0.0.1:9000");
	assert_string_equal(look(t, "/x/y/z?q", NULL), "ws://127.0.0.1:9000");
	assert_string_equal(look(t, "/chat/1", NULL), "ws://127.0.0.1:9001");
	rt_table_free(t);
	defs_fini(&ds);
}

static void test_lookup_longest_prefix_wins_in_any_order(void **state)
{
	(void)state;
	struct defs ds = {0};
	add1(&ds, "/a", NULL, "ws://h:1");
	add1(&ds, "/a/b/c", NULL, "ws://h:3");
	add1(&ds, "/a/b", NULL, "ws://h:2");
	add1(&ds, "/a/bc", NULL, "ws://h:4");
	struct rt_table *t = build(&ds);

	assert_string_equal(look(t, "/a/b/c/d", NULL), "ws://h:3");
	assert_string_equal(look(t, "/a/b/cd", NULL), "ws://h:2");
	assert_string_equal(look(t, "/a/b", NULL), "ws://h:2");
	assert_string_equal(look(t, "/a/bc", NULL), "ws://h:4");
	assert_string_equal(look(t, "/a/x", NULL), "ws://h:1");
	/* table order is the order given */
	assert_int_equal(rt_table_route_count(t), 4);
	assert_string_equal(rt_table_route(t, 1)->path, "/a/b/c");
	assert_int_equal(rt_table_route(t, 1)->index, 1);
	assert_null(rt_table_route(t, 4));
	rt_table_free(t);
	defs_fini(&ds);
}

static void test_lookup_trailing_slash_in_route_path_is_ignored(void **state)
{
	(void)state;
	struct defs ds = {0};
	add1(&ds, "/chat/", NULL, "ws://h:1");
	struct rt_table *t = build(&ds);

	assert_string_equal(rt_table_route(t, 0)->path, "/chat");
	assert_int_equal(rt_table_route(t, 0)->path_len, 5);
	assert_string_equal(look(t, "/chat", NULL), "ws://h:1");
	rt_table_free(t);
	defs_fini(&ds);
}

static void test_lookup_prefers_offered_subprotocol_route(void **state)
{
	(void)state;
	struct defs ds = {0};
	add1(&ds, "/chat", NULL, "ws://h:1");
	add1(&ds, "/chat", "mqtt", "ws://h:2");
	add1(&ds, "/chat", "v2.chat", "ws://h:3");
	struct rt_table *t = build(&ds);

	assert_string_equal(look(t, "/chat/x", NULL), "ws://h:1");
	assert_string_equal(look(t, "/chat/x", ""), "ws://h:1");
	assert_string_equal(look(t, "/chat/x", "mqtt"), "ws://h:2");
	assert_string_equal(look(t, "/chat/x", "a, \tmqtt ,b"), "ws://h:2");
	assert_string_equal(look(t, "/chat/x", "v2.chat"), "ws://h:3");
	/* exact tokens only: no substrings, no case folding */
	assert_string_equal(look(t, "/chat/x", "mqtt5"), "ws://h:1");
	assert_string_equal(look(t, "/chat/x", "MQTT"), "ws://h:1");
	assert_string_equal(look(t, "/chat/x", "xmqtt,v2"), "ws://h:1");
	rt_table_free(t);
	defs_fini(&ds);
}

static void test_lookup_subprotocol_route_excludes_other_offers(void **state)
{
	(void)state;
	struct defs ds = {0};
	add1(&ds, "/", NULL, "ws://h:10");
	add1(&ds, "/mq", "mqtt", "ws://h:1");
	struct rt_table *t = build(&ds);

	assert_string_equal(look(t, "/mq", "mqtt"), "ws://h:1");
	/* not offered: falls through to the shorter prefix */
	assert_string_equal(look(t, "/mq", "chat"), "ws://h:10");
	assert_string_equal(look(t, "/mq", NULL), "ws://h:10");
	rt_table_free(t);
	defs_fini(&ds);

	add1(&ds, "/mq", "mqtt", "ws://h:1");
	t = build(&ds);
	assert_null(look(t, "/mq", "chat"));
	rt_table_free(t);
	defs_fini(&ds);
}

static void test_table_rejects_duplicate_path_naming_it(void **state)
{
	(void)state;
	char err[256] = "";
	struct defs ds = {0};
	add1(&ds, "/chat", NULL, "ws://h:1");
	add1(&ds, "/x", NULL, "ws://h:1");
	add1(&ds, "/chat/", NULL, "ws://h:2");

	assert_null(rt_table_new(ds.d, ds.n, err, sizeof(err)));
	assert_non_null(strstr(err, "\"/chat/\""));
	assert_non_null(strstr(err, "twice"));
	assert_null(strchr(err, '\n'));
	defs_fini(&ds);

	add1(&ds, "/chat", "a", "ws://h:1");
	add1(&ds, "/chat", "a", "ws://h:2");
	assert_null(rt_table_new(ds.d, ds.n, err, sizeof(err)));
	assert_non_null(strstr(err, "\"/chat\""));
	defs_fini(&ds);
}

static void test_table_rejects_bad_path_and_missing_backend(void **state)
{
	(void)state;
	char err[256] = "";
	struct defs ds = {0};

	add1(&ds, "chat", NULL, "ws://h:1");
	assert_null(rt_table_new(ds.d, ds.n, err, sizeof(err)));
	assert_non_null(strstr(err, "\"chat\""));
	defs_fini(&ds);

	add_route(&ds, "/none", NULL, 0, NULL);
	assert_null(rt_table_new(ds.d, ds.n, err, sizeof(err)));
	assert_non_null(strstr(err, "\"/none\""));
	assert_non_null(strstr(err, "no backend"));
	defs_fini(&ds);
}

static void test_table_copies_everything_out_of_the_defs(void **state)
{
	(void)state;
	struct defs ds = {0};
	const char *urls[] = {"ws://a:1/x", "wss://b:2"};
	struct rt_route_def *d = add_route(&ds, "/chat", "sub", 2, urls);
	d->lb = RT_LB_HEADER_HASH;
	d->lb_header = strdup("X-User");
	d->origins = calloc(2, sizeof(char *));
	d->origins[0] = strdup("https://a.example");
	d->origins[1] = strdup("https://b.example");
	d->n_origins = 2;
	d->max_message = 65536;
	d->msg_rate = 10;
	d->msg_burst = 20;
	d->strip_prefix = true;
	add1(&ds, "/", NULL, "ws://c:3");
	struct rt_table *t = build(&ds);
	defs_fini(&ds);

	const struct rt_route *r = rt_table_route(t, 0);
	assert_string_equal(r->path, "/chat");
	assert_int_equal(r->n_backends, 2);
	assert_string_equal(r->backends[0].host, "a");
	assert_string_equal(r->backends[0].path, "/x");
	assert_int_equal(r->backends[0].path_len, 2);
	assert_true(r->backends[1].tls);
	assert_int_equal(r->backends[1].port, 2);
	assert_int_equal(r->backends[1].index, 1);
	assert_int_equal(r->lb, RT_LB_HEADER_HASH);
	assert_string_equal(r->lb_header, "X-User");
	assert_int_equal(r->n_origins, 2);
	assert_string_equal(r->origins[1], "https://b.example");
	assert_int_equal(r->max_message, 65536);
	assert_int_equal(r->msg_burst, 20);
	assert_true(r->strip_prefix);
	assert_string_equal(r->subprotocol, "sub");
	assert_int_equal(rt_table_backend_count(t), 3);
	assert_int_equal(rt_table_route(t, 1)->backends[0].index, 2);
	rt_table_free(t);
}

static void test_empty_table_and_null_lookups(void **state)
{
	(void)state;
	char err[64];
	struct rt_table *t = rt_table_new(NULL, 0, err, sizeof(err));

	assert_non_null(t);
	assert_int_equal(rt_table_route_count(t), 0);
	assert_null(rt_lookup(t, "/", 1, NULL, 0));
	assert_null(rt_lookup(NULL, "/", 1, NULL, 0));
	rt_table_free(t);
	rt_table_free(NULL);
}

static void test_backend_path_composition(void **state)
{
	(void)state;
	char out[64];
	struct defs ds = {0};
	const char *urls[] = {"ws://b:9000/api/", "ws://b:9000", "ws://b:9000/"};
	add_route(&ds, "/chat", NULL, 3, urls);
	add_route(&ds, "/", NULL, 3, urls)->strip_prefix = true;
	add_route(&ds, "/s", NULL, 3, urls)->strip_prefix = true;
	struct rt_table *t = build(&ds);
	const struct rt_route *chat = rt_table_route(t, 0);
	const struct rt_route *root = rt_table_route(t, 1);
	const struct rt_route *s = rt_table_route(t, 2);

	assert_int_equal(rt_backend_path(chat, &chat->backends[0], "/chat/x", 7, out, sizeof(out)),
	                 11);
	assert_string_equal(out, "/api/chat/x");
	rt_backend_path(chat, &chat->backends[1], "/chat/x", 7, out, sizeof(out));
	assert_string_equal(out, "/chat/x");
	rt_backend_path(chat, &chat->backends[2], "/chat", 5, out, sizeof(out));
	assert_string_equal(out, "/chat");

	/* strip-prefix */
	rt_backend_path(s, &s->backends[1], "/s/x", 4, out, sizeof(out));
	assert_string_equal(out, "/x");
	assert_int_equal(rt_backend_path(s, &s->backends[1], "/s", 2, out, sizeof(out)), 1);
	assert_string_equal(out, "/");
	rt_backend_path(s, &s->backends[0], "/s/x/y", 6, out, sizeof(out));
	assert_string_equal(out, "/api/x/y");
	rt_backend_path(s, &s->backends[0], "/s", 2, out, sizeof(out));
	assert_string_equal(out, "/api/");
	/* route "/" with strip-prefix leaves the path */
	rt_backend_path(root, &root->backends[1], "/a/b", 4, out, sizeof(out));
	assert_string_equal(out, "/a/b");
	rt_backend_path(root, &root->backends[0], "/", 1, out, sizeof(out));
	assert_string_equal(out, "/api/");
	rt_table_free(t);
	defs_fini(&ds);
}

static void test_backend_path_fails_when_out_is_too_small(void **state)
{
	(void)state;
	char out[12];
	struct defs ds = {0};
	add1(&ds, "/chat", NULL, "ws://b:9000/api");
	struct rt_table *t = build(&ds);
	const struct rt_route *r = rt_table_route(t, 0);

	/* "/api/chat/x" is 11 bytes + NUL = 12 */
	assert_int_equal(rt_backend_path(r, &r->backends[0], "/chat/x", 7, out, 12), 11);
	assert_int_equal(rt_backend_path(r, &r->backends[0], "/chat/x", 7, out, 11), -1);
	assert_int_equal(rt_backend_path(r, &r->backends[0], "/chat/xy", 8, out, 12), -1);
	rt_table_free(t);
	defs_fini(&ds);
}

/* The balancing policies are tested in test_lb.c. */

struct url_case {
	const char *url;
	bool tls;
	const char *host;
	unsigned port;
	const char *path;
};

static void test_backend_url_parses_good_forms(void **state)
{
	(void)state;
	static const struct url_case good[] = {
	    {"ws://127.0.0.1:9001", false, "127.0.0.1", 9001, ""},
	    {"wss://example.com:8443/api", true, "example.com", 8443, "/api"},
	    {"ws://backend", false, "backend", 80, ""},
	    {"wss://backend/", true, "backend", 443, ""},
	    {"ws://[::1]:9000/a/b/", false, "::1", 9000, "/a/b"},
	    {"ws://[2001:db8::1]", false, "2001:db8::1", 80, ""},
	    {"WS://Host-1.example:65535", false, "Host-1.example", 65535, ""},
	    {"ws://h:1//", false, "h", 1, ""},
	};
	char err[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct rt_backend_def b;
		if (rt_backend_def_parse(good[i].url, &b, err, sizeof(err)) != 0)
			fail_msg("%s: %s", good[i].url, err);
		assert_string_equal(b.url, good[i].url);
		assert_int_equal(b.tls, good[i].tls);
		assert_string_equal(b.host, good[i].host);
		assert_int_equal(b.port, good[i].port);
		assert_string_equal(b.path, good[i].path);
		rt_backend_def_fini(&b);
		rt_backend_def_fini(&b); /* fini twice is harmless */
	}
}

static void test_backend_url_rejects_bad_forms_naming_the_url(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "",
	    "http://h:80",
	    "ftp://h",
	    "h:9000",
	    "ws://",
	    "ws://:9000",
	    "ws://h:0",
	    "ws://h:65536",
	    "ws://h:99999999",
	    "ws://h:",
	    "ws://h:8x",
	    "ws://h:-1",
	    "ws://h:80/a?b=1",
	    "ws://h:80#frag",
	    "ws://user@h:80",
	    "ws://h h:80",
	    "ws://[::1:80",
	    "ws://[nothex]:80",
	    "ws://[::1]x:80",
	    "ws://::1:80",
	    "ws://h:80/a b",
	    "ws://h\x01:80",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rt_backend_def b;
		err[0] = '\0';
		if (rt_backend_def_parse(bad[i], &b, err, sizeof(err)) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_null(b.url);
		assert_null(b.host);
		assert_null(strchr(err, '\n'));
		assert_non_null(strstr(err, "backend \""));
		if (strchr(bad[i], ' ') == NULL && strchr(bad[i], '\x01') == NULL)
			assert_non_null(strstr(err, bad[i]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lookup_exact_and_deeper_paths_match),
	    cmocka_unit_test(test_lookup_respects_segment_boundary),
	    cmocka_unit_test(test_lookup_root_is_catch_all),
	    cmocka_unit_test(test_lookup_longest_prefix_wins_in_any_order),
	    cmocka_unit_test(test_lookup_trailing_slash_in_route_path_is_ignored),
	    cmocka_unit_test(test_lookup_prefers_offered_subprotocol_route),
	    cmocka_unit_test(test_lookup_subprotocol_route_excludes_other_offers),
	    cmocka_unit_test(test_table_rejects_duplicate_path_naming_it),
	    cmocka_unit_test(test_table_rejects_bad_path_and_missing_backend),
	    cmocka_unit_test(test_table_copies_everything_out_of_the_defs),
	    cmocka_unit_test(test_empty_table_and_null_lookups),
	    cmocka_unit_test(test_backend_path_composition),
	    cmocka_unit_test(test_backend_path_fails_when_out_is_too_small),
	    cmocka_unit_test(test_backend_url_parses_good_forms),
	    cmocka_unit_test(test_backend_url_rejects_bad_forms_naming_the_url),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
