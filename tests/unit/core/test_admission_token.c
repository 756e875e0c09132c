/* Unit tests for core/admission_token.c: where a token is found (Bearer header, then the
 * access_token query parameter, then the access_token cookie, first one wins), how it is
 * withheld from the backend's request (every access_token of the query or the cookie line,
 * other parameters and cookies kept in order, forward-token=true keeps everything), and the
 * check itself against a key set built from a config (missing -> unauthorized, bad ->
 * invalid_token with its reason counted, optional and off, the expiry moved onto the worker
 * clock). The backend's request is written by proto/http1 from what apply filled in, so the
 * assertions read the bytes a backend would get. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "auth/jwt.h"
#include "core/admission_token.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/metrics.h"
#include "core/worker.h"
#include "router/rt.h"

static const char secret[] = "unit-test-secret-of-32-bytes-ok!";

static struct http_request req;
static char head[4096];

static void parse(const char *target, const char *extra)
{
	snprintf(
	    head, sizeof(head),
	    "GET %s HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
	    target, extra);
	struct http_parser p;
	http_parser_init(&p);
	struct wsg_limits lim = {.head_max = WSG_HEAD_MAX_DEFAULT, .headers_max = HTTP_MAX_HEADERS};
	size_t used;
	assert_int_equal(http_parse_request(&p, head, strlen(head), &lim, &req, &used), HTTP_RC_OK);
}

static void assert_found(enum admission_token_where want_where, const char *want)
{
	struct http_str tok;
	uint16_t hdr;
	enum admission_token_where where = admission_token_find(&req, &tok, &hdr);
	assert_int_equal(where, want_where);
	if (want == NULL) {
		assert_int_equal(tok.n, 0);
		return;
	}
	assert_int_equal(tok.n, strlen(want));
	assert_memory_equal(tok.p, want, tok.n);
}

static void test_find_order_and_shapes(void **state)
{
	(void)state;
	parse("/", "Authorization: Bearer aaa.bbb.ccc\r\n");
	assert_found(ADM_TOKEN_HEADER, "aaa.bbb.ccc");
	parse("/", "authorization: bEaReR   aaa.bbb.ccc\r\n"); /* scheme is case-insensitive */
	assert_found(ADM_TOKEN_HEADER, "aaa.bbb.ccc");
	parse("/", "Authorization: Bearer\r\n"); /* an empty credential is a bad token */
	assert_found(ADM_TOKEN_HEADER, "");
	parse("/?access_token=q.q.q", "Authorization: Basic YTpi\r\n"); /* not ours */
	assert_found(ADM_TOKEN_QUERY, "q.q.q");
	parse("/", "Authorization: Bearerx y\r\nCookie: access_token=c.c.c\r\n");
	assert_found(ADM_TOKEN_COOKIE, "c.c.c");
	/* Header before query before cookie. */
	parse("/?access_token=q.q.q",
	      "Cookie: access_token=c.c.c\r\nAuthorization: Bearer h.h.h\r\n");
	assert_found(ADM_TOKEN_HEADER, "h.h.h");
	parse("/?access_token=q.q.q", "Cookie: access_token=c.c.c\r\n");
	assert_found(ADM_TOKEN_QUERY, "q.q.q");
	/* Query shapes: among others, the first one, no prefix match. */
	parse("/p?a=1&xaccess_token=n&access_token=first&access_token=second", "");
	assert_found(ADM_TOKEN_QUERY, "first");
	parse("/p?access_token", "");
	assert_found(ADM_TOKEN_NONE, NULL);
	/* Cookie shapes: second Cookie line, quoted value, spaces. */
	parse("/", "Cookie: a=1\r\nCookie: b=2;  access_token=\"c.c.c\" ; d=4\r\n");
	assert_found(ADM_TOKEN_COOKIE, "c.c.c");
	parse("/", "Cookie: session=abc; my_access_token=x\r\n");
	assert_found(ADM_TOKEN_NONE, NULL);
	parse("/", "");
	assert_found(ADM_TOKEN_NONE, NULL);
}

/* The backend request apply produces for a token found in req on route r. */
static const char *backend_head(const struct rt_route *r, struct admission_token *tok)
{
	static char out[HTTP_UPGRADE_OUT_MAX];
	static char strip[WSG_HEAD_MAX_DEFAULT];
	struct http_str t;
	tok->where = (uint8_t)admission_token_find(&req, &t, &tok->header);
	struct http_upgrade_out u;
	memset(&u, 0, sizeof(u));
	u.req = &req;
	u.path = req.path;
	u.query = req.query;
	u.key = (struct http_str){"dGhlIHNhbXBsZSBub25jZQ==", 24};
	struct http_header_set drop;
	http_header_set_init(&drop);
	u.drop = &drop;
	struct http_header extra[1];
	assert_int_equal(
	    admission_token_apply(tok, r, &req, &u, &drop, extra, strip, sizeof(strip)), 0);
	int n = http_write_upgrade_request(out, sizeof(out) - 1, &u);
	assert_true(n > 0);
	out[n] = '\0';
	return out;
}

static void test_apply_withholds_the_token(void **state)
{
	(void)state;
	struct rt_route route;
	memset(&route, 0, sizeof(route));
	struct admission_token tok;
	memset(&tok, 0, sizeof(tok));
	strcpy(tok.sub, "alice");
	tok.sub_len = 5;

	parse("/r?a=1", "Authorization: Bearer h.h.h\r\nX-Auth-Subject: root\r\nCookie: k=v\r\n");
	const char *out = backend_head(&route, &tok);
	assert_non_null(strstr(out, "GET /r?a=1 HTTP/1.1\r\n"));
	assert_null(strstr(out, "h.h.h"));
	assert_null(strstr(out, "root"));
	assert_non_null(strstr(out, "\r\nX-Auth-Subject: alice\r\n"));
	assert_non_null(strstr(out, "\r\nCookie: k=v\r\n"));

	parse("/r?a=1&access_token=q.q.q&b=2&access_token=again", "");
	out = backend_head(&route, &tok);
	assert_non_null(strstr(out, "GET /r?a=1&b=2 HTTP/1.1\r\n"));
	assert_null(strstr(out, "access_token"));
	parse("/r?access_token=q.q.q", "");
	out = backend_head(&route, &tok);
	assert_non_null(strstr(out, "GET /r HTTP/1.1\r\n"));

	parse("/r", "Cookie: a=1; access_token=c.c.c; b=2\r\nCookie: z=9\r\n");
	out = backend_head(&route, &tok);
	assert_null(strstr(out, "c.c.c"));
	assert_non_null(strstr(out, "\r\nCookie: z=9\r\n"));
	assert_non_null(strstr(out, "\r\nCookie: a=1; b=2\r\n"));
	parse("/r", "Cookie: access_token=c.c.c\r\n");
	out = backend_head(&route, &tok);
	assert_null(strstr(out, "Cookie"));

	/* forward-token=true: everything as sent, the subject added all the same. */
	route.forward_token = true;
	parse("/r?access_token=q.q.q", "Authorization: Bearer h.h.h\r\n");
	out = backend_head(&route, &tok);
	assert_non_null(strstr(out, "GET /r?access_token=q.q.q HTTP/1.1\r\n"));
	assert_non_null(strstr(out, "\r\nAuthorization: Bearer h.h.h\r\n"));
	assert_non_null(strstr(out, "\r\nX-Auth-Subject: alice\r\n"));

	/* No verified token (auth off): nothing touched, no subject. */
	route.forward_token = false;
	parse("/r?access_token=q.q.q", "Authorization: Bearer h.h.h\r\n");
	struct admission_token none;
	memset(&none, 0, sizeof(none));
	struct http_upgrade_out u;
	memset(&u, 0, sizeof(u));
	u.query = req.query;
	struct http_header_set drop;
	http_header_set_init(&drop);
	char buf[64];
	assert_int_equal(
	    admission_token_apply(&none, &route, &req, &u, &drop, NULL, buf, sizeof(buf)), 0);
	assert_int_equal(u.auth_subject.n, 0);
	assert_false(http_header_set_has(&drop, 6));
	assert_ptr_equal(u.query.p, req.query.p);
}

static char *hs256(const char *claims_json)
{
	static char tok[1024];
	static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char h[128], c[512];
	jwt_b64url_encode((const uint8_t *)hdr, strlen(hdr), h);
	jwt_b64url_encode((const uint8_t *)claims_json, strlen(claims_json), c);
	char input[700];
	snprintf(input, sizeof(input), "%s.%s", h, c);
	/* Signed by the openssl CLI, independently of the verifier under test. */
	char cmd[1200];
	snprintf(cmd, sizeof(cmd),
	         "printf '%%s' '%s' | openssl dgst -sha256 -mac HMAC -macopt key:%s -binary | "
	         "base64 -w0 | tr '+/' '-_' | tr -d '='",
	         input, secret);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char sig[128] = "";
	assert_non_null(fgets(sig, sizeof(sig), p));
	pclose(p);
	snprintf(tok, sizeof(tok), "%s.%s", input, sig);
	return tok;
}

static void test_check_against_a_published_set(void **state)
{
	(void)state;
	struct wsg_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.jwt_secret = (char *)secret;
	cfg.jwt_leeway_ms = 5000;
	bool failed;
	char err[256];
	struct admission_auth *a = admission_auth_new(&cfg, &failed, err, sizeof(err));
	assert_false(failed);
	assert_non_null(a);
	admission_auth_publish(a);
	assert_int_equal(admission_auth_key_count(), 1);

	struct worker w;
	memset(&w, 0, sizeof(w));
	w.m = metrics_worker_new();
	assert_non_null(w.m);
	w.now_ms = 1000000;
	struct conn c;
	memset(&c, 0, sizeof(c));
	c.peer.in4.sin_family = AF_INET;
	c.peer.in4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct rt_route route;
	memset(&route, 0, sizeof(route));
	route.path = "/";
	struct admission_token tok;

	/* Default mode with a key: required. */
	parse("/", "");
	assert_int_equal(admission_token_check(&w, &c, &route, &req, &tok), HTTP_REJ_UNAUTHORIZED);
	assert_int_equal(tok.where, ADM_TOKEN_NONE);

	long now = (long)time(NULL);
	char claims[256], extra[1200];
	snprintf(claims, sizeof(claims), "{\"sub\":\"bob\",\"exp\":%ld}", now + 60);
	snprintf(extra, sizeof(extra), "Authorization: Bearer %s\r\n", hs256(claims));
	parse("/", extra);
	assert_int_equal(admission_token_check(&w, &c, &route, &req, &tok), HTTP_REJ_NONE);
	assert_int_equal(tok.where, ADM_TOKEN_HEADER);
	assert_string_equal(tok.sub, "bob");
	/* exp + leeway - now, on the worker's clock (a second of slack for the clock tick). */
	assert_true(tok.expire_ms >= w.now_ms + 64000 && tok.expire_ms <= w.now_ms + 65000);

	snprintf(claims, sizeof(claims), "{\"sub\":\"bob\",\"exp\":%ld}", now - 60);
	snprintf(extra, sizeof(extra), "Cookie: access_token=%s\r\n", hs256(claims));
	parse("/", extra);
	assert_int_equal(admission_token_check(&w, &c, &route, &req, &tok), HTTP_REJ_INVALID_TOKEN);
	assert_int_equal(tok.where, ADM_TOKEN_NONE);
	assert_int_equal(atomic_load(&w.m->auth_failures[JWT_RC_EXPIRED]), 1);
	assert_int_equal(atomic_load(&w.m->auth_failures[0]), 1); /* the missing one above */

	/* Optional: missing passes, bad does not. Off: anything passes. */
	route.auth = RT_AUTH_OPTIONAL;
	parse("/", "");
	assert_int_equal(admission_token_check(&w, &c, &route, &req, &tok), HTTP_REJ_NONE);
	parse("/?access_token=x.y.z", "");
	assert_int_equal(admission_token_check(&w, &c, &route, &req, &tok), HTTP_REJ_INVALID_TOKEN);
	route.auth = RT_AUTH_OFF;
	assert_int_equal(admission_token_check(&w, &c, &route, &req, &tok), HTTP_REJ_NONE);
	assert_int_equal(tok.where, ADM_TOKEN_NONE);

	/* No published set: auth is off everywhere. */
	admission_auth_publish(NULL);
	route.auth = RT_AUTH_REQUIRED;
	assert_int_equal(admission_token_check(&w, &c, &route, &req, &tok), HTTP_REJ_NONE);
	rt_shutdown(); /* frees the retired sets */
	metrics_worker_free(w.m);
}

static void test_bad_key_settings_fail_with_one_line(void **state)
{
	(void)state;
	struct wsg_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	bool failed;
	char err[512];
	assert_null(admission_auth_new(&cfg, &failed, err, sizeof(err)));
	assert_false(failed); /* no key: auth off, not an error */
	cfg.jwt_secret = "short";
	assert_null(admission_auth_new(&cfg, &failed, err, sizeof(err)));
	assert_true(failed);
	assert_non_null(strstr(err, "--jwt-secret"));
	assert_null(strstr(err, "short\"")); /* the secret itself is never echoed */
	assert_null(strchr(err, '\n'));
	cfg.jwt_secret = NULL;
	char *keys[] = {"/nonexistent/key.pem"};
	cfg.jwt_public_keys = keys;
	cfg.n_jwt_public_keys = 1;
	assert_null(admission_auth_new(&cfg, &failed, err, sizeof(err)));
	assert_true(failed);
	assert_non_null(strstr(err, "--jwt-public-key"));
	assert_non_null(strstr(err, "/nonexistent/key.pem"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_find_order_and_shapes),
	    cmocka_unit_test(test_apply_withholds_the_token),
	    cmocka_unit_test(test_check_against_a_published_set),
	    cmocka_unit_test(test_bad_key_settings_fail_with_one_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
