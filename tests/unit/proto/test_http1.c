/* Unit tests for proto/http1.c: the request-head parser and upgrade checks (every rejection
 * class with its status), split and byte-at-a-time feeding, the writers' exact bytes and
 * bounds, and the backend-response parser with http_response_is_upgrade(). Every parser input
 * ends at a PROT_NONE guard page (guard.h), and the writers write into guarded buffers, so a
 * read or write past the end faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "proto/http1.h"
#include "proto/wskey.h"

static const struct wsg_limits lim = {
    .head_max = WSG_HEAD_MAX_DEFAULT,
    .headers_max = WSG_HEADERS_MAX_DEFAULT,
    .message_max = WSG_MESSAGE_MAX_DEFAULT,
};

#define S(lit) ((struct http_str){(lit), sizeof(lit) - 1})

/* RFC 6455 1.2's sample handshake, with a query added. */
static const char good_req[] = "GET /chat?room=1 HTTP/1.1\r\n"
                               "Host: server.example.com\r\n"
                               "Upgrade: websocket\r\n"
                               "Connection: Upgrade\r\n"
                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                               "Origin: http://example.com\r\n"
                               "Sec-WebSocket-Protocol: chat, superchat\r\n"
                               "Sec-WebSocket-Version: 13\r\n"
                               "\r\n";

static const char good_resp[] = "HTTP/1.1 101 Switching Protocols\r\n"
                                "Upgrade: websocket\r\n"
                                "Connection: Upgrade\r\n"
                                "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                "Sec-WebSocket-Protocol: chat\r\n"
                                "\r\n";

static const char sample_key[] = "dGhlIHNhbXBsZSBub25jZQ==";

/* One parse of a request that keeps its guarded buffer alive for the views. */
struct req {
	struct guard_area g;
	const char *buf;
	size_t len;
	struct http_parser p;
	struct http_request r;
	size_t used;
	enum http_rc rc;
};

static enum http_rc req_parse_n(struct req *c, const char *s, size_t n, const struct wsg_limits *l)
{
	c->buf = (const char *)guard_copy(&c->g, s, n);
	c->len = n;
	http_parser_init(&c->p);
	c->used = 12345;
	c->rc = http_parse_request(&c->p, c->buf, n, l, &c->r, &c->used);
	assert_true(c->used <= n);
	if (c->rc != HTTP_RC_OK)
		assert_int_equal(c->used, 0);
	return c->rc;
}

static enum http_rc req_parse(struct req *c, const char *s)
{
	return req_parse_n(c, s, strlen(s), &lim);
}

static void req_done(struct req *c)
{
	guard_release(&c->g);
}

/* Parses s as a whole; returns the reject (HTTP_REJ_NONE on OK, asserting it is not MORE). */
static enum http_reject req_reject_of(const char *s)
{
	struct req c;
	enum http_rc rc = req_parse(&c, s);
	req_done(&c);
	assert_int_not_equal(rc, HTTP_RC_MORE);
	return rc == HTTP_RC_OK ? HTTP_REJ_NONE : http_parser_reject(&c.p);
}

/* Parses s and runs the upgrade checks: what the gateway would answer. */
static enum http_reject req_check_of(const char *s)
{
	struct req c;
	enum http_rc rc = req_parse(&c, s);
	assert_int_equal(rc, HTTP_RC_OK);
	enum http_reject r = http_check_upgrade(&c.r);
	req_done(&c);
	return r;
}

static bool str_is(struct http_str s, const char *want)
{
	return s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}

static bool in_buf(struct http_str s, const char *buf, size_t len)
{
	return s.n == 0 || (s.p >= buf && s.p + s.n <= buf + len);
}

/* ---- request: a valid upgrade ---- */

static void test_valid_upgrade_parses_and_passes_checks(void **state)
{
	(void)state;
	struct req c;
	assert_int_equal(req_parse(&c, good_req), HTTP_RC_OK);
	assert_int_equal(c.used, sizeof(good_req) - 1);
	assert_true(str_is(c.r.method, "GET"));
	assert_true(str_is(c.r.target, "/chat?room=1"));
	assert_true(str_is(c.r.path, "/chat"));
	assert_true(str_is(c.r.query, "room=1"));
	assert_int_equal(c.r.version_minor, 1);
	assert_int_equal(c.r.n_headers, 7);
	assert_true(str_is(c.r.host, "server.example.com"));
	assert_true(str_is(c.r.ws_key, sample_key));
	assert_true(str_is(c.r.ws_version, "13"));
	assert_true(str_is(c.r.ws_protocol, "chat, superchat"));
	assert_true(str_is(c.r.origin, "http://example.com"));
	assert_int_equal(c.r.ws_extensions.n, 0);
	assert_int_equal(c.r.cookie.n, 0);
	assert_true(c.r.connection_upgrade);
	assert_true(c.r.upgrade_websocket);
	assert_true(str_is(c.r.headers[0].name, "Host"));
	assert_true(str_is(c.r.headers[6].value, "13"));
	/* zero-copy: every view points into the caller's buffer */
	for (unsigned i = 0; i < c.r.n_headers; i++) {
		assert_true(in_buf(c.r.headers[i].name, c.buf, c.len));
		assert_true(in_buf(c.r.headers[i].value, c.buf, c.len));
	}
	assert_true(c.r.host.p >= c.buf && c.r.host.p < c.buf + c.len);
	assert_int_equal(http_check_upgrade(&c.r), HTTP_REJ_NONE);
	req_done(&c);
}

static void test_bytes_after_head_are_not_consumed(void **state)
{
	(void)state;
	char s[sizeof(good_req) + 4];
	memcpy(s, good_req, sizeof(good_req) - 1);
	memcpy(s + sizeof(good_req) - 1, "\x81\x85\x00\x00", 4); /* a frame already sent */
	struct req c;
	assert_int_equal(req_parse_n(&c, s, sizeof(s), &lim), HTTP_RC_OK);
	assert_int_equal(c.used, sizeof(good_req) - 1);
	req_done(&c);
}

static void test_join_header_joins_every_line_of_a_list_header(void **state)
{
	(void)state;
	static const char two_lines[] = "GET / HTTP/1.1\r\nHost: h\r\n"
	                                "Sec-WebSocket-Protocol: chat\r\n"
	                                "sec-websocket-protocol: superchat, v2\r\n\r\n";
	struct req c;
	char out[64];
	assert_int_equal(req_parse(&c, two_lines), HTTP_RC_OK);
	int n = http_join_header(&c.r, "sec-websocket-protocol", out, sizeof(out));
	assert_int_equal(n, (int)strlen("chat, superchat, v2"));
	assert_memory_equal(out, "chat, superchat, v2", (size_t)n);
	/* too small: -1, never a silent truncation */
	assert_int_equal(http_join_header(&c.r, "sec-websocket-protocol", out, 10), -1);
	/* absent: 0 */
	assert_int_equal(http_join_header(&c.r, "origin", out, sizeof(out)), 0);
	req_done(&c);
}

static void test_query_absent_gives_empty_query(void **state)
{
	(void)state;
	struct req c;
	assert_int_equal(req_parse(&c, "GET /a/b HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_RC_OK);
	assert_true(str_is(c.r.path, "/a/b"));
	assert_int_equal(c.r.query.n, 0);
	req_done(&c);
	assert_int_equal(req_parse(&c, "GET /?x=1?y HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_RC_OK);
	assert_true(str_is(c.r.path, "/"));
	assert_true(str_is(c.r.query, "x=1?y"));
	req_done(&c);
}

static void test_bare_lf_line_ends_are_accepted(void **state)
{
	(void)state;
	const char *s =
	    "GET / HTTP/1.1\nHost: h\nUpgrade: websocket\nConnection: upgrade\n"
	    "Sec-WebSocket-Version: 13\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n\n";
	struct req c;
	assert_int_equal(req_parse(&c, s), HTTP_RC_OK);
	assert_int_equal(c.used, strlen(s));
	assert_true(str_is(c.r.host, "h"));
	assert_int_equal(http_check_upgrade(&c.r), HTTP_REJ_NONE);
	req_done(&c);
	/* mixed: LF line, then CRLF blank line */
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: h\n\r\n"), HTTP_REJ_NONE);
}

/* ---- request: split and incremental feeding ---- */

static void test_request_at_every_split_point_is_more_until_complete(void **state)
{
	(void)state;
	const size_t n = sizeof(good_req) - 1;
	for (size_t cut = 0; cut <= n; cut++) {
		struct req c;
		enum http_rc rc = req_parse_n(&c, good_req, cut, &lim);
		assert_int_equal(rc, cut < n ? HTTP_RC_MORE : HTTP_RC_OK);
		if (rc == HTTP_RC_OK)
			assert_int_equal(c.used, n);
		req_done(&c);
	}
}

static void test_request_one_byte_at_a_time_resumes_the_scan(void **state)
{
	(void)state;
	const size_t n = sizeof(good_req) - 1;
	struct http_parser p;
	struct http_request r;
	size_t used;
	http_parser_init(&p);
	for (size_t have = 0; have <= n; have++) {
		/* the same bytes, one more each call, at the end of a fresh guard page */
		struct guard_area g;
		const char *buf = (const char *)guard_copy(&g, good_req, have);
		enum http_rc rc = http_parse_request(&p, buf, have, &lim, &r, &used);
		if (have < n) {
			assert_int_equal(rc, HTTP_RC_MORE);
			assert_int_equal(used, 0);
			/* the search got to the end of what it was given: the next call starts
			 * there, not at zero */
			assert_int_equal(p._scanned, have);
		} else {
			assert_int_equal(rc, HTTP_RC_OK);
			assert_int_equal(used, n);
			assert_true(str_is(r.ws_key, sample_key));
			assert_int_equal(http_check_upgrade(&r), HTTP_REJ_NONE);
		}
		guard_release(&g);
	}
}

static void test_recall_does_not_rescan_searched_bytes(void **state)
{
	(void)state;
	/* First call searches 22 bytes (no blank line yet). The second call's buffer has a
	 * blank line planted inside those 22 bytes, which must not be looked at again: only
	 * the new bytes are searched, and they hold no end. */
	const char *first = "GET / HTTP/1.1\r\nHost: ";
	const char *second = "GET / HTTP/1.1\r\n\r\nt: hxxxx";
	struct http_parser p;
	struct http_request r;
	size_t used;
	http_parser_init(&p);
	assert_int_equal(http_parse_request(&p, first, strlen(first), &lim, &r, &used),
	                 HTTP_RC_MORE);
	assert_int_equal(p._scanned, strlen(first));
	assert_int_equal(http_parse_request(&p, second, strlen(second), &lim, &r, &used),
	                 HTTP_RC_MORE);
	assert_int_equal(p._scanned, strlen(second));
}

static void test_blank_line_split_across_calls_is_found(void **state)
{
	(void)state;
	/* the end "\r\n\r\n" straddles the previous stopping point at every offset */
	const char *s = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	const size_t n = strlen(s);
	for (size_t first = 0; first < n; first++) {
		struct http_parser p;
		struct http_request r;
		size_t used;
		http_parser_init(&p);
		assert_int_equal(http_parse_request(&p, s, first, &lim, &r, &used), HTTP_RC_MORE);
		assert_int_equal(http_parse_request(&p, s, n, &lim, &r, &used), HTTP_RC_OK);
		assert_int_equal(used, n);
	}
}

static void test_fail_is_sticky(void **state)
{
	(void)state;
	struct req c;
	assert_int_equal(req_parse(&c, "GET / HTTP/1.0\r\nHost: h\r\n\r\n"), HTTP_RC_FAIL);
	assert_int_equal(http_parser_reject(&c.p), HTTP_REJ_HTTP_VERSION);
	size_t used = 99;
	assert_int_equal(
	    http_parse_request(&c.p, good_req, sizeof(good_req) - 1, &lim, &c.r, &used),
	    HTTP_RC_FAIL);
	assert_int_equal(used, 0);
	assert_int_equal(http_parser_reject(&c.p), HTTP_REJ_HTTP_VERSION);
	req_done(&c);
}

/* ---- request: limits (431) ---- */

/* A request line, Host, and filler header lines, exactly total bytes long, ending with the
 * blank line when complete (else with the last filler line's CRLF). */
static size_t make_big_head(char *out, size_t total, bool complete)
{
	size_t n = (size_t)sprintf(out, "GET / HTTP/1.1\r\nHost: h\r\n");
	size_t left = total - n - (complete ? 2 : 0);
	while (left > 0) {
		/* "X: " value "\r\n": at least 6 bytes, and never leave 1..5 bytes behind */
		size_t line = left > 4006 ? 4006 : left;
		if (left - line > 0 && left - line < 6)
			line = left - 6;
		assert_true(line >= 6);
		memcpy(out + n, "X: ", 3);
		memset(out + n + 3, 'a', line - 5);
		memcpy(out + n + line - 2, "\r\n", 2);
		n += line;
		left -= line;
	}
	if (complete) {
		memcpy(out + n, "\r\n", 2);
		n += 2;
	}
	return n;
}

static void test_head_of_exactly_16k_is_ok(void **state)
{
	(void)state;
	static char s[WSG_HEAD_MAX_DEFAULT + 64];
	size_t n = make_big_head(s, WSG_HEAD_MAX_DEFAULT, true);
	assert_int_equal(n, WSG_HEAD_MAX_DEFAULT);
	struct req c;
	assert_int_equal(req_parse_n(&c, s, n, &lim), HTTP_RC_OK);
	assert_int_equal(c.used, n);
	req_done(&c);
}

static void test_head_over_16k_is_431(void **state)
{
	(void)state;
	static char s[WSG_HEAD_MAX_DEFAULT + 64];
	size_t n = make_big_head(s, WSG_HEAD_MAX_DEFAULT + 1, true);
	assert_int_equal(n, WSG_HEAD_MAX_DEFAULT + 1);
	struct req c;
	assert_int_equal(req_parse_n(&c, s, n, &lim), HTTP_RC_FAIL);
	assert_int_equal(http_parser_reject(&c.p), HTTP_REJ_HEAD_TOO_LARGE);
	assert_int_equal(http_reject_status(http_parser_reject(&c.p)), 431);
	req_done(&c);
}

static void test_incomplete_head_reaching_16k_is_431_at_once(void **state)
{
	(void)state;
	static char s[WSG_HEAD_MAX_DEFAULT + 64];
	size_t n = make_big_head(s, WSG_HEAD_MAX_DEFAULT, false);
	assert_int_equal(n, WSG_HEAD_MAX_DEFAULT);
	struct req c;
	/* one byte short: still waiting */
	assert_int_equal(req_parse_n(&c, s, n - 1, &lim), HTTP_RC_MORE);
	req_done(&c);
	/* head_max bytes and no end: the head can only be bigger, answer now */
	assert_int_equal(req_parse_n(&c, s, n, &lim), HTTP_RC_FAIL);
	assert_int_equal(http_parser_reject(&c.p), HTTP_REJ_HEAD_TOO_LARGE);
	req_done(&c);
}

static void test_incremental_feed_reaching_limit_is_431(void **state)
{
	(void)state;
	const struct wsg_limits small = {.head_max = 64, .headers_max = 100, .message_max = 1};
	char s[200];
	memset(s, 'a', sizeof(s));
	memcpy(s, "GET / HTTP/1.1\r\nX: ", 19);
	struct http_parser p;
	struct http_request r;
	size_t used;
	http_parser_init(&p);
	for (size_t have = 0; have < 64; have++)
		assert_int_equal(http_parse_request(&p, s, have, &small, &r, &used), HTTP_RC_MORE);
	assert_int_equal(http_parse_request(&p, s, 64, &small, &r, &used), HTTP_RC_FAIL);
	assert_int_equal(http_parser_reject(&p), HTTP_REJ_HEAD_TOO_LARGE);
}

static char *make_n_headers(char *s, unsigned n)
{
	char *w = s + sprintf(s, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (unsigned i = 1; i < n; i++)
		w += sprintf(w, "X-%u: v\r\n", i);
	sprintf(w, "\r\n");
	return s;
}

static void test_100_header_lines_are_ok(void **state)
{
	(void)state;
	static char s[4096];
	struct req c;
	assert_int_equal(req_parse(&c, make_n_headers(s, 100)), HTTP_RC_OK);
	assert_int_equal(c.r.n_headers, 100);
	req_done(&c);
}

static void test_101_header_lines_is_431(void **state)
{
	(void)state;
	static char s[4096];
	assert_int_equal(req_reject_of(make_n_headers(s, 101)), HTTP_REJ_HEAD_TOO_LARGE);
}

static void test_header_count_limit_comes_from_limits(void **state)
{
	(void)state;
	const struct wsg_limits three = {.head_max = 1024, .headers_max = 3, .message_max = 1};
	static char s[4096];
	struct req c;
	make_n_headers(s, 3);
	assert_int_equal(req_parse_n(&c, s, strlen(s), &three), HTTP_RC_OK);
	req_done(&c);
	make_n_headers(s, 4);
	assert_int_equal(req_parse_n(&c, s, strlen(s), &three), HTTP_RC_FAIL);
	assert_int_equal(http_parser_reject(&c.p), HTTP_REJ_HEAD_TOO_LARGE);
	req_done(&c);
}

/* ---- request: version (505 vs 400) ---- */

static void test_http10_is_505(void **state)
{
	(void)state;
	assert_int_equal(req_reject_of("GET / HTTP/1.0\r\nHost: h\r\n\r\n"), HTTP_REJ_HTTP_VERSION);
	assert_int_equal(http_reject_status(HTTP_REJ_HTTP_VERSION), 505);
}

static void test_http20_and_http12_are_505(void **state)
{
	(void)state;
	assert_int_equal(req_reject_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), HTTP_REJ_HTTP_VERSION);
	assert_int_equal(req_reject_of("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), HTTP_REJ_HTTP_VERSION);
	assert_int_equal(req_reject_of("GET / HTTP/0.9\r\nHost: h\r\n\r\n"), HTTP_REJ_HTTP_VERSION);
}

static void test_garbage_version_is_400(void **state)
{
	(void)state;
	assert_int_equal(req_reject_of("GET / HTTX/1.1\r\nHost: h\r\n\r\n"), HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / http/1.1\r\nHost: h\r\n\r\n"), HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / HTTP/1\r\nHost: h\r\n\r\n"), HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET /\r\nHost: h\r\n\r\n"), HTTP_REJ_MALFORMED);
}

/* ---- request: http_parse_request_http10 (the admin listener's entry point) ---- */

/* Parses s as a whole with the lenient entry point, from a guarded buffer. */
static enum http_reject req10_reject_of(const char *s, struct http_request *out)
{
	struct guard_area g;
	size_t n = strlen(s);
	const char *buf = (const char *)guard_copy(&g, s, n);
	struct http_parser p;
	size_t used = 12345;
	http_parser_init(&p);
	enum http_rc rc = http_parse_request_http10(&p, buf, n, &lim, out, &used);
	guard_release(&g);
	assert_int_not_equal(rc, HTTP_RC_MORE);
	if (rc != HTTP_RC_OK) {
		assert_int_equal(used, 0);
		return http_parser_reject(&p);
	}
	assert_int_equal(used, n);
	return HTTP_REJ_NONE;
}

static void test_http10_entry_accepts_http10_with_and_without_host(void **state)
{
	(void)state;
	struct http_request r;
	assert_int_equal(req10_reject_of("HEAD /healthz HTTP/1.0\r\n\r\n", &r), HTTP_REJ_NONE);
	assert_int_equal(r.version_minor, 0);
	assert_int_equal(r.host.n, 0);
	assert_null(r.host.p);
	assert_int_equal(r.method.n, 4);
	assert_int_equal(r.path.n, strlen("/healthz"));
	/* HAProxy's `option httpchk` default */
	assert_int_equal(req10_reject_of("OPTIONS / HTTP/1.0\r\n\r\n", &r), HTTP_REJ_NONE);
	assert_int_equal(req10_reject_of("GET /readyz HTTP/1.0\r\nHost: h\r\n\r\n", &r),
	                 HTTP_REJ_NONE);
	assert_int_equal(r.host.n, 1);
}

static void test_http10_entry_accepts_http11_but_still_wants_its_host(void **state)
{
	(void)state;
	struct http_request r;
	assert_int_equal(req10_reject_of("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n", &r),
	                 HTTP_REJ_NONE);
	assert_int_equal(r.version_minor, 1);
	assert_int_equal(req10_reject_of("GET /healthz HTTP/1.1\r\n\r\n", &r), HTTP_REJ_MALFORMED);
}

static void test_http10_entry_rejects_other_versions_505(void **state)
{
	(void)state;
	struct http_request r;
	assert_int_equal(req10_reject_of("GET / HTTP/0.9\r\nHost: h\r\n\r\n", &r),
	                 HTTP_REJ_HTTP_VERSION);
	assert_int_equal(req10_reject_of("GET / HTTP/1.2\r\nHost: h\r\n\r\n", &r),
	                 HTTP_REJ_HTTP_VERSION);
	assert_int_equal(req10_reject_of("GET / HTTP/2.0\r\nHost: h\r\n\r\n", &r),
	                 HTTP_REJ_HTTP_VERSION);
	/* without Host only 1.0 is excused: the strict order (400 before 505) holds otherwise */
	assert_int_equal(req10_reject_of("GET / HTTP/2.0\r\n\r\n", &r), HTTP_REJ_MALFORMED);
}

static void test_http10_entry_keeps_every_other_rejection(void **state)
{
	(void)state;
	struct http_request r;
	assert_int_equal(req10_reject_of("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", &r),
	                 HTTP_REJ_MALFORMED);
	assert_int_equal(req10_reject_of("GET / HTTP/1.0\r\nX : y\r\n\r\n", &r),
	                 HTTP_REJ_MALFORMED);
	assert_int_equal(req10_reject_of("GET * HTTP/1.0\r\n\r\n", &r), HTTP_REJ_MALFORMED);
	assert_int_equal(req10_reject_of("GET / HTTP/1.0 \r\n\r\n", &r), HTTP_REJ_MALFORMED);
	static char big[WSG_HEAD_MAX_DEFAULT + 64];
	int n = snprintf(big, sizeof(big), "GET / HTTP/1.0\r\nX: ");
	memset(big + n, 'a', sizeof(big) - (size_t)n - 5);
	memcpy(big + sizeof(big) - 5, "\r\n\r\n", 5);
	assert_int_equal(req10_reject_of(big, &r), HTTP_REJ_HEAD_TOO_LARGE);
}

static void test_http10_entry_at_every_split_point_is_more_until_complete(void **state)
{
	(void)state;
	static const char s[] = "HEAD /healthz HTTP/1.0\r\nUser-Agent: probe\r\n\r\n";
	const size_t n = sizeof(s) - 1;
	for (size_t cut = 0; cut <= n; cut++) {
		struct guard_area g;
		const char *buf = (const char *)guard_copy(&g, s, cut);
		struct http_parser p;
		struct http_request r;
		size_t used;
		http_parser_init(&p);
		enum http_rc rc = http_parse_request_http10(&p, buf, cut, &lim, &r, &used);
		assert_int_equal(rc, cut < n ? HTTP_RC_MORE : HTTP_RC_OK);
		guard_release(&g);
	}
}

static void test_strict_entry_is_unchanged_for_http10(void **state)
{
	(void)state;
	/* the upgrade path: 1.0 with Host stays 505, 1.0 without Host stays 400 (Host first) */
	assert_int_equal(req_reject_of("GET / HTTP/1.0\r\nHost: h\r\n\r\n"), HTTP_REJ_HTTP_VERSION);
	assert_int_equal(req_reject_of("HEAD /healthz HTTP/1.0\r\n\r\n"), HTTP_REJ_MALFORMED);
}

/* ---- request: malformed (400) ---- */

static void test_malformed_request_lines_are_400(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",        /* two SPs */
	    " / HTTP/1.1\r\nHost: h\r\n\r\n",            /* no method */
	    "G(T / HTTP/1.1\r\nHost: h\r\n\r\n",         /* not a token */
	    "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n",        /* HTAB separator */
	    "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", /* absolute-form */
	    "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",     /* asterisk-form */
	    "CONNECT h:80 HTTP/1.1\r\nHost: h\r\n\r\n",  /* authority-form */
	    "GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n",     /* DEL in target */
	    "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", /* raw UTF-8 in target */
	    "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",     /* leading empty line */
	    "GET / HTTP/1.1\r\r\nHost: h\r\n\r\n",       /* bare CR */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		enum http_reject r = req_reject_of(bad[i]);
		if (r != HTTP_REJ_MALFORMED)
			fail_msg("case %zu: reject %s", i, http_reject_name(r));
	}
	assert_int_equal(http_reject_status(HTTP_REJ_MALFORMED), 400);
}

static void test_header_without_colon_is_400(void **state)
{
	(void)state;
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: h\r\nUpgrade websocket\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
}

static void test_whitespace_before_colon_is_400(void **state)
{
	(void)state;
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: h\r\nX\t: v\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
}

static void test_invalid_name_chars_are_400(void **state)
{
	(void)state;
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: h\r\nX(y): v\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: v\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
}

static void test_control_chars_in_values_are_400(void **state)
{
	(void)state;
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01z\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7fz\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
	static const char nul[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0z\r\n\r\n";
	struct req c;
	assert_int_equal(req_parse_n(&c, nul, sizeof(nul) - 1, &lim), HTTP_RC_FAIL);
	assert_int_equal(http_parser_reject(&c.p), HTTP_REJ_MALFORMED);
	req_done(&c);
	/* obs-text and HTAB inside a value are allowed (RFC 9110 5.5) */
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb\xe9\r\n\r\n"),
	                 HTTP_REJ_NONE);
}

static void test_obs_fold_is_400(void **state)
{
	(void)state;
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\n\tHost: h\r\n\r\n"), HTTP_REJ_MALFORMED);
}

static void test_bare_cr_in_header_is_400(void **state)
{
	(void)state;
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
}

static void test_missing_host_is_400(void **state)
{
	(void)state;
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
}

static void test_duplicate_host_is_400(void **state)
{
	(void)state;
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
}

static void test_empty_or_invalid_host_is_400(void **state)
{
	(void)state;
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost:\r\n\r\n"), HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"),
	                 HTTP_REJ_NONE);
}

static void test_duplicate_ws_key_is_400(void **state)
{
	(void)state;
	assert_int_equal(req_reject_of("GET / HTTP/1.1\r\nHost: a\r\n"
	                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
}

static void test_malformed_is_checked_before_version(void **state)
{
	(void)state;
	/* SPEC.md order: 400 before 505 */
	assert_int_equal(req_reject_of("GET / HTTP/1.0\r\n\r\n"), HTTP_REJ_MALFORMED);
	assert_int_equal(req_reject_of("GET / HTTP/1.0\r\nHost: h\r\nX : y\r\n\r\n"),
	                 HTTP_REJ_MALFORMED);
}

/* ---- request: header semantics ---- */

static void test_header_names_are_case_insensitive(void **state)
{
	(void)state;
	struct req c;
	assert_int_equal(req_parse(&c, "GET / HTTP/1.1\r\nHOST: h\r\nuPgRaDe: WebSocket\r\n"
	                               "CONNECTION: UPGRADE\r\n"
	                               "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	                               "SEC-WEBSOCKET-VERSION: 13\r\nsec-WebSocket-PROTOCOL: p\r\n"
	                               "ORIGIN: o\r\ncookie: c=1\r\nUser-agent: ua\r\n"
	                               "AUTHORIZATION: Bearer t\r\nx-FORWARDED-for: 10.0.0.1\r\n"
	                               "Sec-Websocket-Extensions: x\r\n\r\n"),
	                 HTTP_RC_OK);
	assert_true(str_is(c.r.host, "h"));
	assert_true(c.r.upgrade_websocket);
	assert_true(c.r.connection_upgrade);
	assert_true(str_is(c.r.ws_key, sample_key));
	assert_true(str_is(c.r.ws_version, "13"));
	assert_true(str_is(c.r.ws_protocol, "p"));
	assert_true(str_is(c.r.origin, "o"));
	assert_true(str_is(c.r.cookie, "c=1"));
	assert_true(str_is(c.r.user_agent, "ua"));
	assert_true(str_is(c.r.authorization, "Bearer t"));
	assert_true(str_is(c.r.x_forwarded_for, "10.0.0.1"));
	assert_true(str_is(c.r.ws_extensions, "x"));
	/* names are kept as sent */
	assert_true(str_is(c.r.headers[0].name, "HOST"));
	assert_int_equal(http_check_upgrade(&c.r), HTTP_REJ_NONE);
	req_done(&c);
}

static void test_header_value_whitespace_is_trimmed(void **state)
{
	(void)state;
	struct req c;
	assert_int_equal(req_parse(&c, "GET / HTTP/1.1\r\nHost:h\r\nOrigin: \t o r \t\r\n"
	                               "X-Empty:   \r\n\r\n"),
	                 HTTP_RC_OK);
	assert_true(str_is(c.r.host, "h"));
	assert_true(str_is(c.r.origin, "o r"));
	assert_true(str_is(c.r.headers[2].name, "X-Empty"));
	assert_int_equal(c.r.headers[2].value.n, 0);
	req_done(&c);
}

static void test_duplicate_other_headers_keep_the_first(void **state)
{
	(void)state;
	struct req c;
	assert_int_equal(req_parse(&c, "GET / HTTP/1.1\r\nHost: h\r\nOrigin: first\r\n"
	                               "Origin: second\r\nSec-WebSocket-Protocol: a\r\n"
	                               "Sec-WebSocket-Protocol: b\r\n\r\n"),
	                 HTTP_RC_OK);
	assert_true(str_is(c.r.origin, "first"));
	assert_true(str_is(c.r.ws_protocol, "a"));
	assert_int_equal(c.r.n_headers, 5);
	req_done(&c);
}

static void test_connection_keep_alive_upgrade_is_an_upgrade(void **state)
{
	(void)state;
	/* Firefox sends "keep-alive, Upgrade" */
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	                              "Connection: keep-alive, Upgrade\r\n"
	                              "Sec-WebSocket-Version: 13\r\n"
	                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
	                 HTTP_REJ_NONE);
}

static void test_connection_tokens_count_across_repeated_headers(void **state)
{
	(void)state;
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	                              "Connection: keep-alive\r\nConnection: ,upgrade ,\r\n"
	                              "Sec-WebSocket-Version: 13\r\n"
	                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
	                 HTTP_REJ_NONE);
}

static void test_upgrade_token_list_is_searched(void **state)
{
	(void)state;
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c, WebSocket\r\n"
	                              "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
	                 HTTP_REJ_NONE);
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n"
	                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	                              "Sec-WebSocket-Version: 13\r\n"
	                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
	                 HTTP_REJ_NONE);
}

static void test_list_has_token_matches_whole_elements(void **state)
{
	(void)state;
	assert_true(http_list_has_token(S("a, b ,c"), S("b"), false));
	assert_true(http_list_has_token(S(" \tUpgrade\t"), S("upgrade"), true));
	assert_false(http_list_has_token(S("Upgrade"), S("upgrade"), false));
	assert_false(http_list_has_token(S("upgrades, xupgrade"), S("upgrade"), true));
	assert_false(http_list_has_token(S("up grade"), S("upgrade"), true));
	assert_true(http_list_has_token(S(",,upgrade,,"), S("upgrade"), true));
	assert_false(http_list_has_token(S(""), S("x"), true));
	assert_false(http_list_has_token(S("a,,b"), S(""), true));
}

/* ---- upgrade checks (405, 426, 426, 400) ---- */

#define UPG_TAIL                                                                                   \
	"Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"    \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"

static void test_post_is_405(void **state)
{
	(void)state;
	assert_int_equal(req_check_of("POST / HTTP/1.1\r\n" UPG_TAIL), HTTP_REJ_METHOD);
	assert_int_equal(http_reject_status(HTTP_REJ_METHOD), 405);
}

static void test_lowercase_get_is_405(void **state)
{
	(void)state;
	/* RFC 9110 9.1: methods are case-sensitive */
	assert_int_equal(req_check_of("get / HTTP/1.1\r\n" UPG_TAIL), HTTP_REJ_METHOD);
	assert_int_equal(req_check_of("GETX / HTTP/1.1\r\n" UPG_TAIL), HTTP_REJ_METHOD);
}

static void test_method_is_checked_before_upgrade(void **state)
{
	(void)state;
	assert_int_equal(req_check_of("POST / HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_REJ_METHOD);
}

static void test_missing_upgrade_is_426_not_upgrade(void **state)
{
	(void)state;
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
	                              "Sec-WebSocket-Version: 13\r\n"
	                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
	                 HTTP_REJ_NOT_UPGRADE);
	assert_int_equal(http_reject_status(HTTP_REJ_NOT_UPGRADE), 426);
	/* a plain GET is not an upgrade either */
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_REJ_NOT_UPGRADE);
	/* "Upgrade: websocket/13" names another protocol */
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket/13\r\n"
	                              "Connection: Upgrade\r\n\r\n"),
	                 HTTP_REJ_NOT_UPGRADE);
}

static void test_connection_keep_alive_only_is_426_not_upgrade(void **state)
{
	(void)state;
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	                              "Connection: keep-alive\r\nSec-WebSocket-Version: 13\r\n"
	                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
	                 HTTP_REJ_NOT_UPGRADE);
}

static void test_missing_ws_version_is_426_ws_version(void **state)
{
	(void)state;
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	                              "Connection: Upgrade\r\n"
	                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
	                 HTTP_REJ_WS_VERSION);
	assert_int_equal(http_reject_status(HTTP_REJ_WS_VERSION), 426);
}

static void test_ws_version_8_is_426_ws_version(void **state)
{
	(void)state;
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	                              "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
	                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
	                 HTTP_REJ_WS_VERSION);
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	                              "Connection: Upgrade\r\nSec-WebSocket-Version: 13, 8\r\n"
	                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
	                 HTTP_REJ_WS_VERSION);
}

static void test_missing_ws_key_is_400_bad_key(void **state)
{
	(void)state;
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	                              "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"),
	                 HTTP_REJ_BAD_KEY);
	assert_int_equal(http_reject_status(HTTP_REJ_BAD_KEY), 400);
}

static void test_malformed_ws_key_is_400_bad_key(void **state)
{
	(void)state;
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	                              "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	                              "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"),
	                 HTTP_REJ_BAD_KEY);
	assert_int_equal(req_check_of("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	                              "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	                              "Sec-WebSocket-Key: \r\n\r\n"),
	                 HTTP_REJ_BAD_KEY);
}

static void test_reject_statuses_and_names_match_spec(void **state)
{
	(void)state;
	static const struct {
		enum http_reject r;
		uint16_t status;
		const char *name;
	} t[] = {
	    {HTTP_REJ_NONE, 0, "none"},
	    {HTTP_REJ_MALFORMED, 400, "malformed"},
	    {HTTP_REJ_HEAD_TOO_LARGE, 431, "head_too_large"},
	    {HTTP_REJ_HTTP_VERSION, 505, "http_version"},
	    {HTTP_REJ_NO_ROUTE, 404, "no_route"},
	    {HTTP_REJ_METHOD, 405, "method"},
	    {HTTP_REJ_NOT_UPGRADE, 426, "not_upgrade"},
	    {HTTP_REJ_WS_VERSION, 426, "ws_version"},
	    {HTTP_REJ_BAD_KEY, 400, "bad_key"},
	    {HTTP_REJ_UNAUTHORIZED, 401, "unauthorized"},
	    {HTTP_REJ_INVALID_TOKEN, 401, "invalid_token"},
	    {HTTP_REJ_ORIGIN, 403, "origin"},
	    {HTTP_REJ_RATE_LIMITED, 429, "rate_limited"},
	    {HTTP_REJ_OVERLOADED, 503, "overloaded"},
	    {HTTP_REJ_BAD_GATEWAY, 502, "bad_gateway"},
	    {HTTP_REJ_GATEWAY_TIMEOUT, 504, "gateway_timeout"},
	};
	_Static_assert(sizeof(t) / sizeof(t[0]) == HTTP_REJ_COUNT, "every reason listed");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(http_reject_status(t[i].r), t[i].status);
		assert_string_equal(http_reject_name(t[i].r), t[i].name);
	}
	assert_int_equal(http_reject_status(HTTP_REJ_COUNT), 0);
}

/* ---- writers ---- */

static const char zeros[8192];

/* Runs a writer into guarded buffers of every capacity up to the full size: a too-small
 * cap gives -1 and never a write past it (the guard page would fault). Returns the full
 * output in out (NUL-terminated). */
typedef int writer_fn(char *buf, size_t cap, const void *arg);

static int write_checked(writer_fn *fn, const void *arg, char *out, size_t out_cap)
{
	struct guard_area g;
	char *buf = (char *)guard_copy(&g, zeros, out_cap);
	int n = fn(buf, out_cap, arg);
	assert_true(n > 0);
	assert_true((size_t)n < out_cap);
	memcpy(out, buf, (size_t)n);
	out[n] = '\0';
	guard_release(&g);
	for (size_t cap = 0; cap < (size_t)n; cap++) {
		buf = (char *)guard_copy(&g, zeros, cap);
		assert_int_equal(fn(buf, cap, arg), -1);
		guard_release(&g);
	}
	buf = (char *)guard_copy(&g, zeros, (size_t)n);
	assert_int_equal(fn(buf, (size_t)n, arg), n);
	guard_release(&g);
	return n;
}

struct w101 {
	const char *accept;
	struct http_str proto;
};

static int do_101(char *buf, size_t cap, const void *arg)
{
	const struct w101 *a = arg;
	return http_write_101(buf, cap, a->accept, a->proto);
}

static void test_write_101_exact_bytes(void **state)
{
	(void)state;
	char out[512];
	struct w101 a = {"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", {NULL, 0}};
	write_checked(do_101, &a, out, sizeof(out));
	assert_string_equal(out, "HTTP/1.1 101 Switching Protocols\r\n"
	                         "Upgrade: websocket\r\n"
	                         "Connection: Upgrade\r\n"
	                         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	                         "\r\n");
}

static void test_write_101_with_subprotocol_exact_bytes(void **state)
{
	(void)state;
	char out[512];
	struct w101 a = {"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", S("chat")};
	write_checked(do_101, &a, out, sizeof(out));
	assert_string_equal(out, good_resp);
}

static void test_write_101_refuses_crlf_in_subprotocol(void **state)
{
	(void)state;
	char out[512];
	assert_int_equal(http_write_101(out, sizeof(out), "x", S("chat\r\nX-Evil: 1")), -1);
}

struct wrej {
	enum http_reject r;
	unsigned retry;
};

static int do_reject(char *buf, size_t cap, const void *arg)
{
	const struct wrej *a = arg;
	return http_write_reject(buf, cap, a->r, a->retry);
}

/* Checks the common shape of an error answer and returns its body. */
static const char *check_error_answer(const char *out, uint16_t status)
{
	char line[32];
	snprintf(line, sizeof(line), "HTTP/1.1 %u ", (unsigned)status);
	assert_memory_equal(out, line, strlen(line));
	assert_non_null(strstr(out, "\r\nContent-Type: text/plain\r\n"));
	assert_non_null(strstr(out, "\r\nConnection: close\r\n"));
	const char *body = strstr(out, "\r\n\r\n");
	assert_non_null(body);
	body += 4;
	const char *cl = strstr(out, "\r\nContent-Length: ");
	assert_non_null(cl);
	assert_int_equal(strtoul(cl + 18, NULL, 10), strlen(body));
	assert_true(strlen(body) > 1);
	assert_int_equal(body[strlen(body) - 1], '\n');
	assert_null(strchr(body, '\r'));
	assert_ptr_equal(strchr(body, '\n'), body + strlen(body) - 1); /* one line */
	return body;
}

static void test_write_reject_for_every_reason(void **state)
{
	(void)state;
	static const struct {
		enum http_reject r;
		const char *extra; /* the header SPEC.md names, or NULL */
	} t[] = {
	    {HTTP_REJ_MALFORMED, NULL},
	    {HTTP_REJ_HEAD_TOO_LARGE, NULL},
	    {HTTP_REJ_HTTP_VERSION, NULL},
	    {HTTP_REJ_NO_ROUTE, NULL},
	    {HTTP_REJ_METHOD, "\r\nAllow: GET\r\n"},
	    {HTTP_REJ_NOT_UPGRADE, "\r\nUpgrade: websocket\r\n"},
	    {HTTP_REJ_WS_VERSION, "\r\nSec-WebSocket-Version: 13\r\n"},
	    {HTTP_REJ_BAD_KEY, NULL},
	    {HTTP_REJ_UNAUTHORIZED, "\r\nWWW-Authenticate: Bearer\r\n"},
	    {HTTP_REJ_INVALID_TOKEN, "\r\nWWW-Authenticate: Bearer error=\"invalid_token\"\r\n"},
	    {HTTP_REJ_ORIGIN, NULL},
	    {HTTP_REJ_RATE_LIMITED, "\r\nRetry-After: 7\r\n"},
	    {HTTP_REJ_OVERLOADED, NULL},
	    {HTTP_REJ_BAD_GATEWAY, NULL},
	    {HTTP_REJ_GATEWAY_TIMEOUT, NULL},
	};
	static const char *const extras[] = {
	    "Allow:", "Upgrade:", "Sec-WebSocket-Version:", "WWW-Authenticate:", "Retry-After:"};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char out[1024];
		struct wrej a = {t[i].r, 7};
		write_checked(do_reject, &a, out, sizeof(out));
		check_error_answer(out, http_reject_status(t[i].r));
		if (t[i].extra != NULL)
			assert_non_null(strstr(out, t[i].extra));
		/* no other reason's extra header */
		for (size_t k = 0; k < sizeof(extras) / sizeof(extras[0]); k++) {
			if (t[i].extra == NULL || strstr(t[i].extra, extras[k]) == NULL)
				assert_null(strstr(out, extras[k]));
		}
		/* our own answer parses as a response with that status */
		struct http_parser p;
		struct http_response resp;
		size_t used;
		http_parser_init(&p);
		assert_int_equal(http_parse_response(&p, out, strlen(out), &lim, &resp, &used),
		                 HTTP_RC_OK);
		assert_int_equal(resp.status, http_reject_status(t[i].r));
	}
	char out[256];
	assert_int_equal(http_write_reject(out, sizeof(out), HTTP_REJ_NONE, 0), -1);
	assert_int_equal(http_write_reject(out, sizeof(out), HTTP_REJ_COUNT, 0), -1);
}

static void test_write_reject_405_exact_bytes(void **state)
{
	(void)state;
	char out[512];
	struct wrej a = {HTTP_REJ_METHOD, 0};
	write_checked(do_reject, &a, out, sizeof(out));
	assert_string_equal(out, "HTTP/1.1 405 Method Not Allowed\r\n"
	                         "Allow: GET\r\n"
	                         "Content-Type: text/plain\r\n"
	                         "Content-Length: 21\r\n"
	                         "Connection: close\r\n"
	                         "\r\n"
	                         "only GET can upgrade\n");
}

static void test_write_reject_429_carries_retry_after_seconds(void **state)
{
	(void)state;
	char out[512];
	struct wrej a = {HTTP_REJ_RATE_LIMITED, 4294967295u};
	write_checked(do_reject, &a, out, sizeof(out));
	assert_non_null(strstr(out, "\r\nRetry-After: 4294967295\r\n"));
	assert_memory_equal(out, "HTTP/1.1 429 Too Many Requests\r\n", 32);
}

struct wstatus {
	uint16_t status;
	struct http_str reason;
};

static int do_status(char *buf, size_t cap, const void *arg)
{
	const struct wstatus *a = arg;
	return http_write_status(buf, cap, a->status, a->reason);
}

static void test_write_status_relays_printable_reason(void **state)
{
	(void)state;
	char out[512];
	struct wstatus a = {403, S("Go Away")};
	write_checked(do_status, &a, out, sizeof(out));
	assert_string_equal(out, "HTTP/1.1 403 Go Away\r\n"
	                         "Content-Type: text/plain\r\n"
	                         "Content-Length: 12\r\n"
	                         "Connection: close\r\n"
	                         "\r\n"
	                         "403 Go Away\n");
	check_error_answer(out, 403);
}

static void test_write_status_replaces_unprintable_reason(void **state)
{
	(void)state;
	char out[512];
	struct wstatus a = {404, S("Nicht gefunden \xc3\xa4")};
	write_checked(do_status, &a, out, sizeof(out));
	assert_memory_equal(out, "HTTP/1.1 404 Not Found\r\n", 24);
	check_error_answer(out, 404);
	a = (struct wstatus){500, S("a\tb")};
	write_checked(do_status, &a, out, sizeof(out));
	assert_memory_equal(out, "HTTP/1.1 500 Internal Server Error\r\n", 36);
	a = (struct wstatus){418, S("")};
	write_checked(do_status, &a, out, sizeof(out));
	assert_memory_equal(out, "HTTP/1.1 418 Client Error\r\n", 27);
	check_error_answer(out, 418);
}

static void test_write_status_out_of_range_is_minus_one(void **state)
{
	(void)state;
	char out[512];
	assert_int_equal(http_write_status(out, sizeof(out), 99, S("x")), -1);
	assert_int_equal(http_write_status(out, sizeof(out), 600, S("x")), -1);
}

static int do_upgrade(char *buf, size_t cap, const void *arg)
{
	return http_write_upgrade_request(buf, cap, arg);
}

/* Parses the client head `client` (which must be OK) and writes the backend request for it
 * with u's other fields into out, checked at every cap (write_checked). */
static int upgrade_for(const char *client, struct http_upgrade_out u, char *out, size_t cap)
{
	struct req c;
	assert_int_equal(req_parse(&c, client), HTTP_RC_OK);
	u.req = &c.r;
	int n = write_checked(do_upgrade, &u, out, cap);
	req_done(&c);
	return n;
}

#define KEY_A "AAAAAAAAAAAAAAAAAAAAAA=="
/* What every backend request starts with after its request line, for Host h. */
#define OUT_FIXED(h)                                                                               \
	"Host: " h "\r\n"                                                                          \
	"Upgrade: websocket\r\n"                                                                   \
	"Connection: Upgrade\r\n"                                                                  \
	"Sec-WebSocket-Key: " KEY_A "\r\n"                                                         \
	"Sec-WebSocket-Version: 13\r\n"
/* A client upgrade's mandatory lines, after Host. */
#define CLIENT_UPGRADE                                                                             \
	"Upgrade: websocket\r\n"                                                                   \
	"Connection: Upgrade\r\n"                                                                  \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"                                          \
	"Sec-WebSocket-Version: 13\r\n"

static const struct http_upgrade_out base_u = {
    .key = S(KEY_A),
    .forwarded_for = S("192.0.2.7"),
    .forwarded_proto = S("http"),
    .request_id = S("7"),
};

static void test_write_upgrade_request_composes_prefix_path_query(void **state)
{
	(void)state;
	/* SPEC.md: ws://b:9000/api with /chat/x?a=1 gives /api/chat/x?a=1 */
	struct http_upgrade_out u = {
	    .path_prefix = S("/api"),
	    .path = S("/chat/x"),
	    .query = S("a=1"),
	    .key = S(KEY_A),
	    .protocol = S("chat, superchat"),
	    .auth_subject = S("alice"),
	    .forwarded_for = S("192.0.2.7"),
	    .forwarded_proto = S("https"),
	    .request_id = S("1f2e"),
	};
	char out[1024];
	upgrade_for("GET /chat/x?a=1 HTTP/1.1\r\n"
	            "Host: gw.example.com\r\n" CLIENT_UPGRADE
	            "Sec-WebSocket-Protocol: chat, superchat\r\n"
	            "Origin: https://example.com\r\n"
	            "Cookie: access_token=x\r\n"
	            "User-Agent: ua/1\r\n"
	            "\r\n",
	            u, out, sizeof(out));
	assert_string_equal(out, "GET /api/chat/x?a=1 HTTP/1.1\r\n" OUT_FIXED(
	                             "gw.example.com") "Sec-WebSocket-Protocol: chat, superchat\r\n"
	                                               "Origin: https://example.com\r\n"
	                                               "Cookie: access_token=x\r\n"
	                                               "User-Agent: ua/1\r\n"
	                                               "X-Auth-Subject: alice\r\n"
	                                               "X-Forwarded-For: 192.0.2.7\r\n"
	                                               "X-Forwarded-Proto: https\r\n"
	                                               "X-Request-Id: 1f2e\r\n"
	                                               "\r\n");
}

static void test_write_upgrade_request_forwards_end_to_end_headers_in_client_order(void **state)
{
	(void)state;
	struct http_upgrade_out u = base_u;
	u.path = S("/x");
	char out[2048];
	/* Bare LF and no space after the colon: re-emitted as "name: value\r\n", names as
	 * sent (case kept), values trimmed, repeated Cookie lines each kept, in order. */
	upgrade_for("GET /x HTTP/1.1\n"
	            "X-Tenant: acme\n"
	            "Host: h\n"
	            "authorization:Bearer abc.def.ghi\n"
	            "Cookie: a=1\n" CLIENT_UPGRADE "X-Custom-Thing:   spaced value  \n"
	            "Cookie: b=2\n"
	            "Accept-Language: fr\n"
	            "cookie: c=3\n"
	            "\n",
	            u, out, sizeof(out));
	assert_string_equal(out,
	                    "GET /x HTTP/1.1\r\n" OUT_FIXED("h") "X-Tenant: acme\r\n"
	                                                         "authorization: Bearer "
	                                                         "abc.def.ghi\r\n"
	                                                         "Cookie: a=1\r\n"
	                                                         "X-Custom-Thing: spaced "
	                                                         "value\r\n"
	                                                         "Cookie: b=2\r\n"
	                                                         "Accept-Language: fr\r\n"
	                                                         "cookie: c=3\r\n"
	                                                         "X-Forwarded-For: 192.0.2.7\r\n"
	                                                         "X-Forwarded-Proto: http\r\n"
	                                                         "X-Request-Id: 7\r\n"
	                                                         "\r\n");
}

static void test_write_upgrade_request_withholds_every_hop_by_hop_header(void **state)
{
	(void)state;
	struct http_upgrade_out u = base_u;
	u.path = S("/x");
	char out[2048];
	upgrade_for("GET /x HTTP/1.1\r\n"
	            "Host: h\r\n"
	            "Upgrade: websocket, h2c\r\n"
	            "Connection: keep-alive, Upgrade\r\n"
	            "X-Before: 1\r\n"
	            "Keep-Alive: timeout=5\r\n"
	            "Proxy-Connection: keep-alive\r\n"
	            "TE: trailers\r\n"
	            "Transfer-Encoding: chunked\r\n"
	            "Content-Length: 10\r\n"
	            "Trailer: X-Sum\r\n"
	            "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
	            "Proxy-Authenticate: Basic\r\n"
	            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	            "Sec-WebSocket-Version: 13\r\n"
	            "Sec-WebSocket-Extensions: permessage-deflate\r\n"
	            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	            "Sec-WebSocket-Protocol: chat\r\n"
	            "X-After: 2\r\n"
	            "\r\n",
	            u, out, sizeof(out));
	/* No protocol in u: the client's offer goes only through u.protocol. */
	assert_string_equal(out,
	                    "GET /x HTTP/1.1\r\n" OUT_FIXED("h") "X-Before: 1\r\n"
	                                                         "X-After: 2\r\n"
	                                                         "X-Forwarded-For: 192.0.2.7\r\n"
	                                                         "X-Forwarded-Proto: http\r\n"
	                                                         "X-Request-Id: 7\r\n"
	                                                         "\r\n");
}

static void test_write_upgrade_request_withholds_headers_named_by_connection(void **state)
{
	(void)state;
	struct http_upgrade_out u = base_u;
	u.path = S("/x");
	char out[2048];
	/* RFC 9110 7.6.1: every field a Connection line names is for this hop only, whichever
	 * Connection line names it and whatever its case. */
	upgrade_for("GET /x HTTP/1.1\r\n"
	            "Host: h\r\n"
	            "Connection: Upgrade, X-Hop\r\n"
	            "X-Hop: secret\r\n"
	            "X-Keep: 1\r\n"
	            "x-other: gone\r\n"
	            "Connection: X-OTHER , authorization\r\n"
	            "Authorization: Bearer t\r\n"
	            "X-Hop-Not: kept\r\n" CLIENT_UPGRADE "\r\n",
	            u, out, sizeof(out));
	assert_string_equal(out,
	                    "GET /x HTTP/1.1\r\n" OUT_FIXED("h") "X-Keep: 1\r\n"
	                                                         "X-Hop-Not: kept\r\n"
	                                                         "X-Forwarded-For: 192.0.2.7\r\n"
	                                                         "X-Forwarded-Proto: http\r\n"
	                                                         "X-Request-Id: 7\r\n"
	                                                         "\r\n");
}

static const char forged_req[] = "GET /x HTTP/1.1\r\n"
                                 "Host: h\r\n" CLIENT_UPGRADE "X-Request-Id: client-chosen\r\n"
                                 "X-Auth-Subject: admin\r\n"
                                 "x-auth-subject: root\r\n"
                                 "X-Forwarded-For: 203.0.113.1\r\n"
                                 "X-Forwarded-Proto: https\r\n"
                                 "X-Forwarded-For: 10.0.0.2\r\n"
                                 "X-Real: 1\r\n"
                                 "\r\n";

static void test_write_upgrade_request_replaces_forged_gateway_headers(void **state)
{
	(void)state;
	struct http_upgrade_out u = base_u;
	u.path = S("/x");
	u.auth_subject = S("alice");
	char out[2048];
	upgrade_for(forged_req, u, out, sizeof(out));
	assert_string_equal(out,
	                    "GET /x HTTP/1.1\r\n" OUT_FIXED("h") "X-Real: 1\r\n"
	                                                         "X-Auth-Subject: alice\r\n"
	                                                         "X-Forwarded-For: 192.0.2.7\r\n"
	                                                         "X-Forwarded-Proto: http\r\n"
	                                                         "X-Request-Id: 7\r\n"
	                                                         "\r\n");
	/* Without a verified subject the client's X-Auth-Subject is still removed. */
	u.auth_subject = S("");
	upgrade_for(forged_req, u, out, sizeof(out));
	assert_null(strstr(out, "X-Auth-Subject"));
	assert_null(strstr(out, "x-auth-subject"));
	assert_null(strstr(out, "client-chosen"));
}

static void test_write_upgrade_request_appends_to_prior_forwarded_for(void **state)
{
	(void)state;
	/* --trust-forwarded: every X-Forwarded-For line, in order, then ours; the client's
	 * X-Forwarded-Proto goes as sent instead of ours. X-Request-Id and X-Auth-Subject are
	 * replaced all the same. */
	struct http_upgrade_out u = base_u;
	u.path = S("/x");
	u.trust_forwarded = true;
	char out[2048];
	upgrade_for(forged_req, u, out, sizeof(out));
	assert_string_equal(out,
	                    "GET /x HTTP/1.1\r\n" OUT_FIXED("h") "X-Forwarded-Proto: https\r\n"
	                                                         "X-Real: 1\r\n"
	                                                         "X-Forwarded-For: 203.0.113.1, "
	                                                         "10.0.0.2, 192.0.2.7\r\n"
	                                                         "X-Request-Id: 7\r\n"
	                                                         "\r\n");
	/* Trusted, but the client sent no X-Forwarded-Proto: ours. */
	upgrade_for("GET /x HTTP/1.1\r\nHost: h\r\n" CLIENT_UPGRADE "\r\n", u, out, sizeof(out));
	assert_string_equal(out,
	                    "GET /x HTTP/1.1\r\n" OUT_FIXED("h") "X-Forwarded-For: 192.0.2.7\r\n"
	                                                         "X-Forwarded-Proto: http\r\n"
	                                                         "X-Request-Id: 7\r\n"
	                                                         "\r\n");
}

static void test_write_upgrade_request_drop_set_and_extra_headers(void **state)
{
	(void)state;
	/* What the auth layer does with a token it consumed: drop the Authorization line, and
	 * replace a Cookie line by one without the access_token cookie. */
	struct req c;
	assert_int_equal(req_parse(&c, "GET /x HTTP/1.1\r\n"
	                               "Host: h\r\n"
	                               "Authorization: Bearer t\r\n"
	                               "Cookie: access_token=t; theme=dark\r\n"
	                               "X-Tenant: acme\r\n" CLIENT_UPGRADE "\r\n"),
	                 HTTP_RC_OK);
	struct http_header_set drop;
	http_header_set_init(&drop);
	assert_false(http_header_set_has(&drop, 1));
	http_header_set_add(&drop, 1);
	http_header_set_add(&drop, 2);
	http_header_set_add(&drop, HTTP_MAX_HEADERS); /* ignored, no such line */
	assert_true(http_header_set_has(&drop, 1));
	assert_true(http_header_set_has(&drop, 2));
	assert_false(http_header_set_has(&drop, 3));
	assert_false(http_header_set_has(&drop, HTTP_MAX_HEADERS));
	const struct http_header extra[] = {{S("Cookie"), S("theme=dark")}};
	struct http_upgrade_out u = base_u;
	u.path = S("/x");
	u.req = &c.r;
	u.drop = &drop;
	u.extra = extra;
	u.n_extra = 1;
	char out[2048];
	write_checked(do_upgrade, &u, out, sizeof(out));
	assert_string_equal(out,
	                    "GET /x HTTP/1.1\r\n" OUT_FIXED("h") "X-Tenant: acme\r\n"
	                                                         "Cookie: theme=dark\r\n"
	                                                         "X-Forwarded-For: 192.0.2.7\r\n"
	                                                         "X-Forwarded-Proto: http\r\n"
	                                                         "X-Request-Id: 7\r\n"
	                                                         "\r\n");
	req_done(&c);
}

static void test_header_is_withheld_answers_per_line(void **state)
{
	(void)state;
	struct req c;
	assert_int_equal(req_parse(&c, "GET /x HTTP/1.1\r\n"
	                               "Host: h\r\n"
	                               "X-Forwarded-Proto: https\r\n"
	                               "Connection: x-a\r\n"
	                               "X-A: 1\r\n"
	                               "X-B: 2\r\n"
	                               "\r\n"),
	                 HTTP_RC_OK);
	assert_true(http_header_is_withheld(&c.r, 0, false));  /* Host */
	assert_true(http_header_is_withheld(&c.r, 1, false));  /* X-Forwarded-Proto */
	assert_false(http_header_is_withheld(&c.r, 1, true));  /* trusted */
	assert_true(http_header_is_withheld(&c.r, 2, false));  /* Connection */
	assert_true(http_header_is_withheld(&c.r, 3, false));  /* named by Connection */
	assert_false(http_header_is_withheld(&c.r, 4, false)); /* X-B */
	assert_true(http_header_is_withheld(&c.r, 5, false));  /* no such line */
	req_done(&c);
}

static void test_write_upgrade_request_roundtrips_through_the_parser(void **state)
{
	(void)state;
	struct req c0;
	assert_int_equal(req_parse(&c0, "GET / HTTP/1.1\r\nHost: h:8080\r\n" CLIENT_UPGRADE
	                                "X-Tenant: acme\r\n\r\n"),
	                 HTTP_RC_OK);
	const struct http_upgrade_out u = {
	    .path_prefix = S("/api"),
	    .path = S("/"),
	    .req = &c0.r,
	    .key = S("dGhlIHNhbXBsZSBub25jZQ=="),
	    .protocol = S("chat"),
	    .forwarded_for = S("::1"),
	    .forwarded_proto = S("http"),
	    .request_id = S("node-a.18446744073709551615"),
	};
	char out[1024];
	int n = http_write_upgrade_request(out, sizeof(out), &u);
	req_done(&c0);
	assert_true(n > 0);
	struct req c;
	assert_int_equal(req_parse_n(&c, out, (size_t)n, &lim), HTTP_RC_OK);
	assert_int_equal(c.used, (size_t)n);
	assert_true(str_is(c.r.target, "/api/"));
	assert_true(str_is(c.r.host, "h:8080"));
	assert_true(str_is(c.r.ws_protocol, "chat"));
	assert_true(str_is(c.r.headers[c.r.n_headers - 1].value, "node-a.18446744073709551615"));
	assert_int_equal(http_check_upgrade(&c.r), HTTP_REJ_NONE);
	req_done(&c);
}

static void test_write_upgrade_request_refuses_injection(void **state)
{
	(void)state;
	struct req c;
	assert_int_equal(req_parse(&c, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n"), HTTP_RC_OK);
	char out[1024];
	struct http_header extra[] = {{S("Cookie"), S("a=1\r\nX-Auth-Subject: admin")}};
	struct http_upgrade_out u = base_u;
	u.path = S("/x");
	u.req = &c.r;
	u.extra = extra;
	u.n_extra = 1;
	assert_int_equal(http_write_upgrade_request(out, sizeof(out), &u), -1);
	extra[0] = (struct http_header){S("X-A\r\nX-Auth-Subject"), S("admin")};
	assert_int_equal(http_write_upgrade_request(out, sizeof(out), &u), -1);
	extra[0] = (struct http_header){S(""), S("v")};
	assert_int_equal(http_write_upgrade_request(out, sizeof(out), &u), -1);
	u.n_extra = 0;
	u.request_id = S("1\r\nX-Auth-Subject: admin");
	assert_int_equal(http_write_upgrade_request(out, sizeof(out), &u), -1);
	u.request_id = S("1");
	u.path = S("/x HTTP/1.0\r\n");
	assert_int_equal(http_write_upgrade_request(out, sizeof(out), &u), -1);
	u.path = S("/x");
	assert_true(http_write_upgrade_request(out, sizeof(out), &u) > 0);
	/* A request that did not come from the parser: its values are checked too. */
	c.r.headers[c.r.n_headers++] = (struct http_header){S("X-Evil"), S("a\nb")};
	assert_int_equal(http_write_upgrade_request(out, sizeof(out), &u), -1);
	u.req = NULL;
	assert_int_equal(http_write_upgrade_request(out, sizeof(out), &u), -1);
	req_done(&c);
}

/* The largest head the parser accepts, shaped to grow the most when re-emitted (100 lines,
 * bare LF, no space after the colon, all forwarded), with a full caller budget: fits in
 * HTTP_UPGRADE_OUT_MAX. One byte less of cap is -1, written inside a guarded buffer. */
static void test_write_upgrade_request_worst_case_head_fits_out_max(void **state)
{
	(void)state;
	static char head[WSG_HEAD_MAX_DEFAULT + 1];
	size_t n = 0;
	n += (size_t)snprintf(head + n, sizeof(head) - n,
	                      "GET /p HTTP/1.1\nHost:h\nSec-WebSocket-Protocol:a\n"
	                      "X-Forwarded-For:1\nX-Forwarded-For:2\n");
	unsigned lines = 4;
	/* Filler lines "X-F<nn>:vvv\n" sharing what is left, the last one taking the rest. */
	size_t blank = 1;
	unsigned fill = HTTP_MAX_HEADERS - lines;
	size_t room = WSG_HEAD_MAX_DEFAULT - n - blank;
	for (unsigned i = 0; i < fill; i++) {
		size_t each = room / (fill - i);
		int k = snprintf(head + n, sizeof(head) - n, "X-F%02u:", i);
		n += (size_t)k;
		size_t v = each - (size_t)k - 1;
		memset(head + n, 'v', v);
		n += v;
		head[n++] = '\n';
		room -= each;
	}
	head[n++] = '\n';
	assert_int_equal(n, WSG_HEAD_MAX_DEFAULT);

	struct req c;
	assert_int_equal(req_parse_n(&c, head, n, &lim), HTTP_RC_OK);
	assert_int_equal(c.r.n_headers, HTTP_MAX_HEADERS);

	/* The caller's budget: path prefix, subject, id, address and one extra line. */
	static char budget[HTTP_UPGRADE_OUT_CALLER_MAX];
	memset(budget, 'c', sizeof(budget));
	budget[0] = '/';
	const size_t pfx = 1000, sub = 1000, rid = 40, addr = 39;
	size_t extra_v = HTTP_UPGRADE_OUT_CALLER_MAX - pfx - sub - rid - addr - 4 - 6;
	const struct http_header extra[] = {{S("Cookie"), {budget, extra_v}}};
	struct http_upgrade_out u = {
	    .path_prefix = {budget, pfx},
	    .path = c.r.path,
	    .key = S(KEY_A),
	    .protocol = S("a"),
	    .req = &c.r,
	    .extra = extra,
	    .n_extra = 1,
	    .trust_forwarded = true,
	    .auth_subject = {budget, sub},
	    .forwarded_for = {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", addr},
	    .forwarded_proto = S("https"),
	    .request_id = {budget, rid},
	};
	static const char zeros_out[HTTP_UPGRADE_OUT_MAX];
	struct guard_area g;
	char *buf = (char *)guard_copy(&g, zeros_out, HTTP_UPGRADE_OUT_MAX);
	int w = http_write_upgrade_request(buf, HTTP_UPGRADE_OUT_MAX, &u);
	assert_true(w > 0);
	print_message("worst case: %d of %u bytes\n", w, (unsigned)HTTP_UPGRADE_OUT_MAX);
	guard_release(&g);
	buf = (char *)guard_copy(&g, zeros_out, (size_t)w - 1);
	assert_int_equal(http_write_upgrade_request(buf, (size_t)w - 1, &u), -1);
	guard_release(&g);
	req_done(&c);
}

/* ---- response ---- */

struct resp {
	struct guard_area g;
	const char *buf;
	struct http_parser p;
	struct http_response r;
	size_t used;
	enum http_rc rc;
};

static enum http_rc resp_parse_n(struct resp *c, const char *s, size_t n,
                                 const struct wsg_limits *l)
{
	c->buf = (const char *)guard_copy(&c->g, s, n);
	http_parser_init(&c->p);
	c->used = 12345;
	c->rc = http_parse_response(&c->p, c->buf, n, l, &c->r, &c->used);
	assert_true(c->used <= n);
	if (c->rc == HTTP_RC_FAIL)
		assert_int_equal(http_parser_reject(&c->p), HTTP_REJ_BAD_GATEWAY);
	return c->rc;
}

static enum http_rc resp_parse(struct resp *c, const char *s)
{
	return resp_parse_n(c, s, strlen(s), &lim);
}

/* Parses s (must be OK) and answers http_response_is_upgrade for our sample key. */
static bool resp_upgrades(const char *s, const char *offered)
{
	struct resp c;
	assert_int_equal(resp_parse(&c, s), HTTP_RC_OK);
	bool ok = http_response_is_upgrade(&c.r, S(sample_key),
	                                   (struct http_str){offered, strlen(offered)});
	guard_release(&c.g);
	return ok;
}

#define ACCEPT_OK "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
#define RESP_101  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"

static void test_response_101_parses_and_upgrades(void **state)
{
	(void)state;
	struct resp c;
	assert_int_equal(resp_parse(&c, good_resp), HTTP_RC_OK);
	assert_int_equal(c.used, sizeof(good_resp) - 1);
	assert_int_equal(c.r.status, 101);
	assert_int_equal(c.r.version_minor, 1);
	assert_true(str_is(c.r.reason, "Switching Protocols"));
	assert_int_equal(c.r.n_headers, 4);
	assert_true(str_is(c.r.ws_accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
	assert_true(str_is(c.r.ws_protocol, "chat"));
	assert_true(c.r.upgrade_websocket);
	assert_true(c.r.connection_upgrade);
	assert_true(http_response_is_upgrade(&c.r, S(sample_key), S("chat, superchat")));
	guard_release(&c.g);
}

static void test_response_at_every_split_point_is_more_until_complete(void **state)
{
	(void)state;
	const size_t n = sizeof(good_resp) - 1;
	for (size_t cut = 0; cut <= n; cut++) {
		struct resp c;
		assert_int_equal(resp_parse_n(&c, good_resp, cut, &lim),
		                 cut < n ? HTTP_RC_MORE : HTTP_RC_OK);
		guard_release(&c.g);
	}
}

static void test_response_one_byte_at_a_time_resumes_the_scan(void **state)
{
	(void)state;
	const size_t n = sizeof(good_resp) - 1;
	struct http_parser p;
	struct http_response r;
	size_t used;
	http_parser_init(&p);
	for (size_t have = 0; have <= n; have++) {
		struct guard_area g;
		const char *buf = (const char *)guard_copy(&g, good_resp, have);
		enum http_rc rc = http_parse_response(&p, buf, have, &lim, &r, &used);
		assert_int_equal(rc, have < n ? HTTP_RC_MORE : HTTP_RC_OK);
		if (have < n)
			assert_int_equal(p._scanned, have);
		guard_release(&g);
	}
	assert_int_equal(used, n);
	assert_int_equal(r.status, 101);
}

static void test_response_with_wrong_accept_is_not_upgrade(void **state)
{
	(void)state;
	assert_false(resp_upgrades(RESP_101 "Sec-WebSocket-Accept: "
	                                    "S3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	                           ""));
	assert_false(resp_upgrades(RESP_101 "\r\n", ""));
	assert_false(resp_upgrades(RESP_101 ACCEPT_OK ACCEPT_OK "\r\n", ""));
}

static void test_response_without_upgrade_is_not_upgrade(void **state)
{
	(void)state;
	assert_true(resp_upgrades(RESP_101 ACCEPT_OK "\r\n", ""));
	assert_false(resp_upgrades(
	    "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n" ACCEPT_OK "\r\n", ""));
	assert_false(resp_upgrades(
	    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" ACCEPT_OK "\r\n", ""));
	assert_false(resp_upgrades("HTTP/1.1 200 OK\r\nUpgrade: websocket\r\n"
	                           "Connection: Upgrade\r\n" ACCEPT_OK "\r\n",
	                           ""));
	assert_false(resp_upgrades("HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                           "Connection: Upgrade\r\n" ACCEPT_OK "\r\n",
	                           ""));
}

static void test_response_with_extension_is_not_upgrade(void **state)
{
	(void)state;
	assert_false(resp_upgrades(
	    RESP_101 ACCEPT_OK "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", ""));
}

static void test_response_with_unoffered_subprotocol_is_not_upgrade(void **state)
{
	(void)state;
	assert_false(resp_upgrades(RESP_101 ACCEPT_OK "Sec-WebSocket-Protocol: mqtt\r\n\r\n",
	                           "chat, superchat"));
	/* chosen when none was offered */
	assert_false(resp_upgrades(RESP_101 ACCEPT_OK "Sec-WebSocket-Protocol: chat\r\n\r\n", ""));
	/* subprotocol names compare exactly */
	assert_false(
	    resp_upgrades(RESP_101 ACCEPT_OK "Sec-WebSocket-Protocol: Chat\r\n\r\n", "chat"));
	/* more than one choice */
	assert_false(resp_upgrades(RESP_101 ACCEPT_OK
	                           "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n",
	                           "chat, superchat"));
	assert_false(resp_upgrades(RESP_101 ACCEPT_OK "Sec-WebSocket-Protocol: chat\r\n"
	                                              "Sec-WebSocket-Protocol: superchat\r\n\r\n",
	                           "chat, superchat"));
	/* an offered one is fine */
	assert_true(resp_upgrades(RESP_101 ACCEPT_OK "Sec-WebSocket-Protocol: superchat\r\n\r\n",
	                          "chat,superchat"));
}

static void test_response_header_names_are_case_insensitive(void **state)
{
	(void)state;
	assert_true(resp_upgrades("HTTP/1.1 101 x\r\nUPGRADE: WebSocket\r\nconnection: upgrade\r\n"
	                          "SEC-WEBSOCKET-ACCEPT: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	                          ""));
}

static void test_response_status_line_variants(void **state)
{
	(void)state;
	struct resp c;
	/* no reason, no SP: accepted */
	assert_int_equal(resp_parse(&c, "HTTP/1.1 404\r\n\r\n"), HTTP_RC_OK);
	assert_int_equal(c.r.status, 404);
	assert_int_equal(c.r.reason.n, 0);
	guard_release(&c.g);
	assert_int_equal(resp_parse(&c, "HTTP/1.0 403 \r\n\r\n"), HTTP_RC_OK);
	assert_int_equal(c.r.version_minor, 0);
	assert_int_equal(c.r.reason.n, 0);
	guard_release(&c.g);
	assert_int_equal(resp_parse(&c, "HTTP/1.1 500 It broke\r\nX: y\r\n\r\nbody"), HTTP_RC_OK);
	assert_true(str_is(c.r.reason, "It broke"));
	guard_release(&c.g);
}

static void test_response_bad_heads_are_502(void **state)
{
	(void)state;
	static const char *const bad[] = {
	    "HTTP/2.0 101 x\r\n\r\n",
	    "HTTX/1.1 101 x\r\n\r\n",
	    "HTTP/1.1 99 x\r\n\r\n",
	    "HTTP/1.1 1010 x\r\n\r\n",
	    "HTTP/1.1 600 x\r\n\r\n",
	    "HTTP/1.1  101 x\r\n\r\n",
	    "HTTP/1.1 101x\r\n\r\n",
	    "HTTP/1.1 101 a\x01z\r\n\r\n",
	    "HTTP/1.1 101 x\r\nX : y\r\n\r\n",
	    "HTTP/1.1 101 x\r\nX: y\r\n z\r\n\r\n",
	    "HTTP/1.1 101 x\r\nX: y\rz\r\n\r\n",
	    "\r\nHTTP/1.1 101 x\r\n\r\n",
	    "SSH-2.0-OpenSSH_9.2\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct resp c;
		if (resp_parse(&c, bad[i]) != HTTP_RC_FAIL)
			fail_msg("case %zu parsed", i);
		guard_release(&c.g);
	}
}

static void test_response_over_head_max_is_502(void **state)
{
	(void)state;
	const struct wsg_limits small = {.head_max = 32, .headers_max = 2, .message_max = 1};
	struct resp c;
	assert_int_equal(resp_parse_n(&c, "HTTP/1.1 101 Switching Protocols\r\n", 32, &small),
	                 HTTP_RC_FAIL);
	guard_release(&c.g);
	const char *three = "HTTP/1.1 200 \r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
	assert_int_equal(resp_parse_n(&c, three, strlen(three), &small), HTTP_RC_FAIL);
	guard_release(&c.g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_upgrade_parses_and_passes_checks),
	    cmocka_unit_test(test_bytes_after_head_are_not_consumed),
	    cmocka_unit_test(test_query_absent_gives_empty_query),
	    cmocka_unit_test(test_bare_lf_line_ends_are_accepted),
	    cmocka_unit_test(test_request_at_every_split_point_is_more_until_complete),
	    cmocka_unit_test(test_request_one_byte_at_a_time_resumes_the_scan),
	    cmocka_unit_test(test_recall_does_not_rescan_searched_bytes),
	    cmocka_unit_test(test_blank_line_split_across_calls_is_found),
	    cmocka_unit_test(test_fail_is_sticky),
	    cmocka_unit_test(test_head_of_exactly_16k_is_ok),
	    cmocka_unit_test(test_head_over_16k_is_431),
	    cmocka_unit_test(test_incomplete_head_reaching_16k_is_431_at_once),
	    cmocka_unit_test(test_incremental_feed_reaching_limit_is_431),
	    cmocka_unit_test(test_100_header_lines_are_ok),
	    cmocka_unit_test(test_101_header_lines_is_431),
	    cmocka_unit_test(test_header_count_limit_comes_from_limits),
	    cmocka_unit_test(test_http10_is_505),
	    cmocka_unit_test(test_http20_and_http12_are_505),
	    cmocka_unit_test(test_garbage_version_is_400),
	    cmocka_unit_test(test_http10_entry_accepts_http10_with_and_without_host),
	    cmocka_unit_test(test_http10_entry_accepts_http11_but_still_wants_its_host),
	    cmocka_unit_test(test_http10_entry_rejects_other_versions_505),
	    cmocka_unit_test(test_http10_entry_keeps_every_other_rejection),
	    cmocka_unit_test(test_http10_entry_at_every_split_point_is_more_until_complete),
	    cmocka_unit_test(test_strict_entry_is_unchanged_for_http10),
	    cmocka_unit_test(test_malformed_request_lines_are_400),
	    cmocka_unit_test(test_header_without_colon_is_400),
	    cmocka_unit_test(test_whitespace_before_colon_is_400),
	    cmocka_unit_test(test_invalid_name_chars_are_400),
	    cmocka_unit_test(test_control_chars_in_values_are_400),
	    cmocka_unit_test(test_obs_fold_is_400),
	    cmocka_unit_test(test_bare_cr_in_header_is_400),
	    cmocka_unit_test(test_missing_host_is_400),
	    cmocka_unit_test(test_duplicate_host_is_400),
	    cmocka_unit_test(test_empty_or_invalid_host_is_400),
	    cmocka_unit_test(test_duplicate_ws_key_is_400),
	    cmocka_unit_test(test_malformed_is_checked_before_version),
	    cmocka_unit_test(test_header_names_are_case_insensitive),
	    cmocka_unit_test(test_header_value_whitespace_is_trimmed),
	    cmocka_unit_test(test_duplicate_other_headers_keep_the_first),
	    cmocka_unit_test(test_connection_keep_alive_upgrade_is_an_upgrade),
	    cmocka_unit_test(test_connection_tokens_count_across_repeated_headers),
	    cmocka_unit_test(test_upgrade_token_list_is_searched),
	    cmocka_unit_test(test_list_has_token_matches_whole_elements),
	    cmocka_unit_test(test_post_is_405),
	    cmocka_unit_test(test_lowercase_get_is_405),
	    cmocka_unit_test(test_method_is_checked_before_upgrade),
	    cmocka_unit_test(test_missing_upgrade_is_426_not_upgrade),
	    cmocka_unit_test(test_connection_keep_alive_only_is_426_not_upgrade),
	    cmocka_unit_test(test_missing_ws_version_is_426_ws_version),
	    cmocka_unit_test(test_ws_version_8_is_426_ws_version),
	    cmocka_unit_test(test_missing_ws_key_is_400_bad_key),
	    cmocka_unit_test(test_malformed_ws_key_is_400_bad_key),
	    cmocka_unit_test(test_reject_statuses_and_names_match_spec),
	    cmocka_unit_test(test_write_101_exact_bytes),
	    cmocka_unit_test(test_write_101_with_subprotocol_exact_bytes),
	    cmocka_unit_test(test_write_101_refuses_crlf_in_subprotocol),
	    cmocka_unit_test(test_write_reject_for_every_reason),
	    cmocka_unit_test(test_write_reject_405_exact_bytes),
	    cmocka_unit_test(test_write_reject_429_carries_retry_after_seconds),
	    cmocka_unit_test(test_write_status_relays_printable_reason),
	    cmocka_unit_test(test_write_status_replaces_unprintable_reason),
	    cmocka_unit_test(test_write_status_out_of_range_is_minus_one),
	    cmocka_unit_test(test_write_upgrade_request_composes_prefix_path_query),
	    cmocka_unit_test(
	        test_write_upgrade_request_forwards_end_to_end_headers_in_client_order),
	    cmocka_unit_test(test_write_upgrade_request_withholds_every_hop_by_hop_header),
	    cmocka_unit_test(test_write_upgrade_request_withholds_headers_named_by_connection),
	    cmocka_unit_test(test_write_upgrade_request_replaces_forged_gateway_headers),
	    cmocka_unit_test(test_write_upgrade_request_appends_to_prior_forwarded_for),
	    cmocka_unit_test(test_write_upgrade_request_drop_set_and_extra_headers),
	    cmocka_unit_test(test_header_is_withheld_answers_per_line),
	    cmocka_unit_test(test_write_upgrade_request_worst_case_head_fits_out_max),
	    cmocka_unit_test(test_write_upgrade_request_roundtrips_through_the_parser),
	    cmocka_unit_test(test_write_upgrade_request_refuses_injection),
	    cmocka_unit_test(test_response_101_parses_and_upgrades),
	    cmocka_unit_test(test_response_at_every_split_point_is_more_until_complete),
	    cmocka_unit_test(test_response_one_byte_at_a_time_resumes_the_scan),
	    cmocka_unit_test(test_response_with_wrong_accept_is_not_upgrade),
	    cmocka_unit_test(test_response_without_upgrade_is_not_upgrade),
	    cmocka_unit_test(test_response_with_extension_is_not_upgrade),
	    cmocka_unit_test(test_response_with_unoffered_subprotocol_is_not_upgrade),
	    cmocka_unit_test(test_response_header_names_are_case_insensitive),
	    cmocka_unit_test(test_response_status_line_variants),
	    cmocka_unit_test(test_response_bad_heads_are_502),
	    cmocka_unit_test(test_response_over_head_max_is_502),
	    cmocka_unit_test(test_join_header_joins_every_line_of_a_list_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
