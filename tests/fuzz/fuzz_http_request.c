/* Fuzz target for http_parse_request() and what the gateway does with a parsed request:
 * http_check_upgrade(), the 101 and reject writers, and the upgrade request to a backend.
 *
 * Invariants asserted (abort() on violation), under two limit sets (the defaults, and tight
 * ones so that 431 is reachable with short inputs):
 * - *used <= len; *used == 0 unless OK; on OK every view lies inside the head;
 * - a prefix of the input parses as MORE or as the whole input's verdict;
 * - feeding one byte at a time (re-calls on the growing buffer) reaches the whole input's
 *   verdict, reject reason and *used, and _scanned follows the bytes searched;
 * - feeding in two pieces equals feeding the whole;
 * - on OK, the upgrade request we would send fits in HTTP_UPGRADE_OUT_MAX, re-parses to the
 *   same path, query and Host and passes the upgrade checks; it carries exactly the client's
 *   lines that are neither withheld nor dropped, in order, after our fixed lines, and one
 *   X-Request-Id, X-Auth-Subject and X-Forwarded-For each, with our values; our 101 parses as
 *   an upgrade for the client's key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/http1.h"
#include "proto/wskey.h"
#include "tests/fuzz/fuzz_http_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_request req_whole, req_part;

/* The split checks parse into the scratch output. */
static enum http_rc parse_part(struct http_parser *p, const char *buf, size_t len,
                               const struct wsg_limits *lim, size_t *used)
{
	return http_parse_request(p, buf, len, lim, &req_part, used);
}

static enum http_rc parse_whole(struct http_parser *p, const char *buf, size_t len,
                                const struct wsg_limits *lim, size_t *used)
{
	return http_parse_request(p, buf, len, lim, &req_whole, used);
}

static struct verdict parse_once(const char *buf, size_t len, const struct wsg_limits *lim)
{
	struct verdict v = fuzz_http_parse_once(parse_whole, buf, len, lim);
	CHECK((v.rc == HTTP_RC_FAIL) == (v.rej != HTTP_REJ_NONE));
	return v;
}

static void check_in(struct http_str s, const char *buf, size_t used)
{
	if (s.n == 0)
		return;
	CHECK(s.p >= buf && s.p + s.n <= buf + used);
}

static void check_views(const struct http_request *r, const char *buf, size_t used)
{
	CHECK(r->n_headers <= HTTP_MAX_HEADERS);
	check_in(r->method, buf, used);
	check_in(r->target, buf, used);
	check_in(r->path, buf, used);
	check_in(r->query, buf, used);
	CHECK(r->path.n > 0 && r->path.p[0] == '/');
	for (unsigned i = 0; i < r->n_headers; i++) {
		CHECK(r->headers[i].name.n > 0);
		check_in(r->headers[i].name, buf, used);
		check_in(r->headers[i].value, buf, used);
	}
	const struct http_str *f[] = {
	    &r->host,   &r->ws_key, &r->ws_version, &r->ws_protocol,   &r->ws_extensions,
	    &r->origin, &r->cookie, &r->user_agent, &r->authorization, &r->x_forwarded_for};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		check_in(*f[i], buf, used);
	CHECK(r->host.n > 0);
	CHECK(r->version_minor == 1);
}

static bool str_eq(struct http_str a, struct http_str b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* First non-empty element of a comma list, trimmed, or an empty str. */
static struct http_str first_element(struct http_str l)
{
	size_t i = 0;
	while (i < l.n) {
		size_t b = i;
		while (i < l.n && l.p[i] != ',')
			i++;
		size_t e = i++;
		while (b < e && (l.p[b] == ' ' || l.p[b] == '\t'))
			b++;
		while (e > b && (l.p[e - 1] == ' ' || l.p[e - 1] == '\t'))
			e--;
		if (e > b)
			return (struct http_str){l.p + b, e - b};
	}
	return (struct http_str){"", 0};
}

/* What the gateway does with an accepted request. */
static void exercise_writers(const struct http_request *r)
{
	static char out[64 * 1024];
	static char small[64];
	static const struct wsg_limits roomy = {64 * 1024, 100, 1};
	enum http_reject chk = http_check_upgrade(r);
	CHECK((unsigned)chk < HTTP_REJ_COUNT);

	if (chk != HTTP_REJ_NONE) {
		int n = http_write_reject(out, sizeof(out), chk, 1);
		CHECK(n > 0 && (size_t)n <= sizeof(out));
		CHECK(http_write_reject(small, 10, chk, 1) == -1);
	}

	/* Every other line withheld by the caller, and one extra line, when the input's header
	 * count is odd: the drop set and extras are exercised without a second corpus. */
	struct http_header_set drop;
	http_header_set_init(&drop);
	bool odd = (r->n_headers & 1u) != 0;
	for (unsigned i = 0; odd && i < r->n_headers; i += 2)
		http_header_set_add(&drop, i);
	static const struct http_header extra[] = {{{"X-Extra", 7}, {"e", 1}}};
	struct http_upgrade_out u = {
	    .path_prefix = {"/p", 2},
	    .path = r->path,
	    .query = r->query,
	    .key = {"AAAAAAAAAAAAAAAAAAAAAA==", 24},
	    .protocol = r->ws_protocol,
	    .req = r,
	    .drop = odd ? &drop : NULL,
	    .extra = extra,
	    .n_extra = odd ? 1 : 0,
	    .trust_forwarded = (r->n_headers & 2u) != 0,
	    .auth_subject = {"sub", 3},
	    .forwarded_for = {"192.0.2.1", 9},
	    .forwarded_proto = {"http", 4},
	    .request_id = {"node.1", 6},
	};
	int n = http_write_upgrade_request(out, sizeof(out), &u);
	/* every value came out of a valid head, so it must be writable */
	CHECK(n > 0 && (size_t)n <= sizeof(out));
	CHECK(http_write_upgrade_request(out, (size_t)n - 1, &u) == -1);
	/* The worst case of http1.h's budget: any accepted head fits in HTTP_UPGRADE_OUT_MAX. */
	CHECK((size_t)n <= HTTP_UPGRADE_OUT_MAX);

	/* What we forward: exactly the lines not withheld and not dropped, in order. */
	unsigned want[HTTP_MAX_HEADERS], n_want = 0;
	for (unsigned i = 0; i < r->n_headers; i++) {
		if (!http_header_is_withheld(r, i, u.trust_forwarded) &&
		    !(u.drop != NULL && http_header_set_has(u.drop, i)))
			want[n_want++] = i;
	}
	/* Our lines: Host, Upgrade, Connection, Key, Version, maybe Protocol, extras, Subject,
	 * X-Forwarded-For, maybe X-Forwarded-Proto, X-Request-Id. The parser caps a head at
	 * HTTP_MAX_HEADERS lines, so only re-parse what it can hold. */
	if (n_want + 12 > HTTP_MAX_HEADERS)
		return;
	struct http_parser p;
	size_t used;
	http_parser_init(&p);
	CHECK(http_parse_request(&p, out, (size_t)n, &roomy, &req_part, &used) == HTTP_RC_OK);
	CHECK(used == (size_t)n);
	CHECK(req_part.path.n == 2 + r->path.n && memcmp(req_part.path.p, "/p", 2) == 0 &&
	      memcmp(req_part.path.p + 2, r->path.p, r->path.n) == 0);
	CHECK(str_eq(req_part.query, r->query));
	CHECK(str_eq(req_part.host, r->host));
	CHECK(str_eq(req_part.ws_protocol, r->ws_protocol));
	CHECK(http_check_upgrade(&req_part) == HTTP_REJ_NONE);
	unsigned fixed = 5 + (r->ws_protocol.n > 0 ? 1u : 0u);
	CHECK(req_part.n_headers >= fixed + n_want);
	for (unsigned k = 0; k < n_want; k++) {
		const struct http_header *a = &r->headers[want[k]],
		                         *b = &req_part.headers[fixed + k];
		CHECK(str_eq(a->name, b->name) && str_eq(a->value, b->value));
	}
	/* The gateway's own fields appear once, with our values, whatever the client sent. */
	unsigned n_rid = 0, n_sub = 0, n_xff = 0;
	for (unsigned i = 0; i < req_part.n_headers; i++) {
		const struct http_header *h = &req_part.headers[i];
		if (h->name.n == 12 && strncasecmp(h->name.p, "x-request-id", 12) == 0)
			n_rid += str_eq(h->value, u.request_id) ? 1u : 100u;
		else if (h->name.n == 14 && strncasecmp(h->name.p, "x-auth-subject", 14) == 0)
			n_sub += str_eq(h->value, u.auth_subject) ? 1u : 100u;
		else if (h->name.n == 15 && strncasecmp(h->name.p, "x-forwarded-for", 15) == 0)
			n_xff += h->value.n >= 9 &&
			                 memcmp(h->value.p + h->value.n - 9, "192.0.2.1", 9) == 0
			             ? 1u
			             : 100u;
	}
	CHECK(n_rid == 1 && n_sub == 1 && n_xff == 1);

	if (chk != HTTP_REJ_NONE)
		return;
	char accept[WSKEY_ACCEPT_LEN + 1];
	CHECK(wskey_accept(r->ws_key.p, r->ws_key.n, accept) == 0);
	struct http_str proto = first_element(r->ws_protocol);
	n = http_write_101(out, sizeof(out), accept, proto);
	CHECK(n > 0);
	static struct http_response resp;
	http_parser_init(&p);
	CHECK(http_parse_response(&p, out, (size_t)n, &roomy, &resp, &used) == HTTP_RC_OK);
	CHECK(used == (size_t)n);
	CHECK(http_response_is_upgrade(&resp, r->ws_key, r->ws_protocol));
}

static void run(const char *data, size_t size, const struct wsg_limits *lim)
{
	struct verdict whole = parse_once(data, size, lim);
	if (whole.rc == HTTP_RC_OK) {
		check_views(&req_whole, data, whole.used);
		exercise_writers(&req_whole);
	}
	fuzz_http_split_checks(parse_part, data, size, lim, whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct wsg_limits dflt = {WSG_HEAD_MAX_DEFAULT, WSG_HEADERS_MAX_DEFAULT,
	                                       WSG_MESSAGE_MAX_DEFAULT};
	static const struct wsg_limits tight = {96, 3, 1};
	run((const char *)data, size, &dflt);
	run((const char *)data, size, &tight);
	return 0;
}
