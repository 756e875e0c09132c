/* Fuzz target for http_parse_response() and http_response_is_upgrade(), plus the relay of a
 * backend's status with http_write_status().
 *
 * Invariants asserted (abort() on violation), under the default limits and tight ones:
 * - *used <= len; *used == 0 unless OK; FAIL always means HTTP_REJ_BAD_GATEWAY; on OK every
 *   view lies inside the head and the status is 100..599;
 * - a prefix parses as MORE or as the whole input's verdict;
 * - feeding one byte at a time reaches the whole input's verdict and *used, with _scanned
 *   following the bytes searched; two pieces equal the whole;
 * - http_response_is_upgrade() is true only for a 101 with Upgrade, Connection, no extension,
 *   an offered subprotocol (if any) and the accept of the key it is given, never for two keys;
 * - the relayed status re-parses with the same status (and the reason, when printable). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"
#include "proto/wskey.h"
#include "tests/fuzz/fuzz_http_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_response resp_whole, resp_part;

/* The split checks parse into the scratch output. */
static enum http_rc parse_part(struct http_parser *p, const char *buf, size_t len,
                               const struct wsg_limits *lim, size_t *used)
{
	return http_parse_response(p, buf, len, lim, &resp_part, used);
}

static enum http_rc parse_whole(struct http_parser *p, const char *buf, size_t len,
                                const struct wsg_limits *lim, size_t *used)
{
	return http_parse_response(p, buf, len, lim, &resp_whole, used);
}

static struct verdict parse_once(const char *buf, size_t len, const struct wsg_limits *lim)
{
	struct verdict v = fuzz_http_parse_once(parse_whole, buf, len, lim);
	CHECK(v.rc == HTTP_RC_FAIL ? v.rej == HTTP_REJ_BAD_GATEWAY : v.rej == HTTP_REJ_NONE);
	return v;
}

static void check_in(struct http_str s, const char *buf, size_t used)
{
	if (s.n == 0)
		return;
	CHECK(s.p >= buf && s.p + s.n <= buf + used);
}

static void check_views(const struct http_response *r, const char *buf, size_t used)
{
	CHECK(r->status >= 100 && r->status <= 599);
	CHECK(r->n_headers <= HTTP_MAX_HEADERS);
	check_in(r->reason, buf, used);
	check_in(r->ws_accept, buf, used);
	check_in(r->ws_protocol, buf, used);
	check_in(r->ws_extensions, buf, used);
	for (unsigned i = 0; i < r->n_headers; i++) {
		CHECK(r->headers[i].name.n > 0);
		check_in(r->headers[i].name, buf, used);
		check_in(r->headers[i].value, buf, used);
	}
}

static bool printable(struct http_str s)
{
	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < 0x20 || s.p[i] > 0x7e)
			return false;
	}
	return true;
}

static void exercise(const struct http_response *r)
{
	static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
	static const char other[] = "AAAAAAAAAAAAAAAAAAAAAA==";
	static const struct http_str offers[] = {{"", 0}, {"chat, superchat", 15}, {"chat", 4}};
	for (size_t i = 0; i < sizeof(offers) / sizeof(offers[0]); i++) {
		bool up = http_response_is_upgrade(r, (struct http_str){key, 24}, offers[i]);
		if (up) {
			CHECK(r->status == 101 && r->upgrade_websocket && r->connection_upgrade);
			CHECK(wskey_accept_matches(key, 24, r->ws_accept.p, r->ws_accept.n));
			CHECK(r->ws_extensions.p == NULL);
			CHECK(r->ws_protocol.n == 0 ||
			      http_list_has_token(offers[i], r->ws_protocol, false));
		}
		/* another key: upgrades only if the accept is that key's, never for both */
		bool up_other =
		    http_response_is_upgrade(r, (struct http_str){other, 24}, offers[i]);
		CHECK(!up_other || wskey_accept_matches(other, 24, r->ws_accept.p, r->ws_accept.n));
		CHECK(!(up && up_other));
	}

	static char out[32 * 1024];
	static const struct wsg_limits roomy = {64 * 1024, 100, 1};
	int n = http_write_status(out, sizeof(out), r->status, r->reason);
	CHECK(n > 0 && (size_t)n <= sizeof(out));
	CHECK(http_write_status(out, (size_t)n - 1, r->status, r->reason) == -1);
	struct http_parser p;
	size_t used;
	http_parser_init(&p);
	CHECK(http_parse_response(&p, out, (size_t)n, &roomy, &resp_part, &used) == HTTP_RC_OK);
	CHECK(resp_part.status == r->status);
	if (printable(r->reason))
		CHECK(resp_part.reason.n == r->reason.n &&
		      memcmp(resp_part.reason.p, r->reason.p, r->reason.n) == 0);
	else
		CHECK(printable(resp_part.reason));
}

static void run(const char *data, size_t size, const struct wsg_limits *lim)
{
	struct verdict whole = parse_once(data, size, lim);
	if (whole.rc == HTTP_RC_OK) {
		check_views(&resp_whole, data, whole.used);
		exercise(&resp_whole);
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
