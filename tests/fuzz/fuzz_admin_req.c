/* Fuzz target for the admin API's request parsing: the head as the admin listener parses it
 * (http_parse_request_http10, the same code as the upgrade path's but HTTP/1.0 allowed), then
 * the target and query (admin_req_parse, core/admin_req.c) and the method/parameter check
 * (admin_req_check). The input is a request head; what follows the head is the body and is
 * ignored, as admin.c reads it separately.
 *
 * Invariants asserted (abort() on violation):
 * - the target is parsed from exact-size copies of path and query, so a read past either is
 *   an ASan report;
 * - every decoded value is NUL-terminated, its length is below its buffer, and it holds no
 *   byte below 0x20 and no 0x7f; limit is in 1..ADMIN_LIMIT_MAX and code is 1000..4999;
 * - OK names a call; a have bit is set only for a parameter the query names;
 * - parsing the same target twice gives the same struct (no hidden state);
 * - admin_req_check answers 0, 400 or 405, always with a reason, and Allow on 405. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/admin_req.h"
#include "proto/http1.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct http_request req;
static struct admin_req a, b;

static void check_str(const char *s, size_t n, size_t cap)
{
	CHECK(n < cap);
	CHECK(s[n] == '\0');
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] != 0x7f);
}

static bool query_names(const char *q, size_t qn, const char *key)
{
	size_t k = strlen(key);
	for (size_t i = 0; i + k < qn; i++)
		if ((i == 0 || q[i - 1] == '&') && memcmp(q + i, key, k) == 0 && q[i + k] == '=')
			return true;
	return false;
}

static void check_target(const char *path, size_t pn, const char *query, size_t qn)
{
	char *p = malloc(pn ? pn : 1), *q = malloc(qn ? qn : 1);
	if (p == NULL || q == NULL)
		abort();
	if (pn > 0) /* an absent query is a NULL view */
		memcpy(p, path, pn);
	if (qn > 0)
		memcpy(q, query, qn);
	const char *why = NULL, *why2 = NULL;
	enum admin_req_rc rc = admin_req_parse(p, pn, q, qn, &a, &why);
	enum admin_req_rc rc2 = admin_req_parse(p, pn, q, qn, &b, &why2);
	CHECK(rc == rc2 && memcmp(&a, &b, sizeof(a)) == 0 && why == why2);
	CHECK(rc == ADMIN_REQ_OK || rc == ADMIN_REQ_NOT_FOUND || rc == ADMIN_REQ_BAD);
	CHECK(why != NULL);
	check_str(a.node, strlen(a.node), sizeof(a.node));
	if (rc == ADMIN_REQ_OK) {
		CHECK(a.call != ADMIN_CALL_NONE);
		check_str(a.route, a.route_len, sizeof(a.route));
		check_str(a.peer, a.peer_len, sizeof(a.peer));
		check_str(a.subject, a.subject_len, sizeof(a.subject));
		check_str(a.reason, a.reason_len, sizeof(a.reason));
		CHECK(a.limit >= 1 && a.limit <= ADMIN_LIMIT_MAX);
		CHECK(a.code >= 1000 && a.code <= 4999);
		static const char *const keys[] = {"route", "peer",   "subject", "limit",
		                                   "code",  "reason", "scope"};
		for (unsigned i = 0; i < 7; i++)
			if (a.have & (1u << i))
				CHECK(query_names(q, qn, keys[i]));
		for (enum admin_method m = ADMIN_M_OTHER; m <= ADMIN_M_OPTIONS; m++) {
			const char *allow;
			char msg[160];
			int st = admin_req_check(&a, m, &allow, msg, sizeof(msg));
			CHECK(st == 0 || st == 400 || st == 405);
			CHECK(st != 405 || allow != NULL);
			CHECK(strlen(msg) < sizeof(msg));
		}
	}
	free(p);
	free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 32 * 1024)
		return 0;
	const struct wsg_limits lim = {.head_max = WSG_HEAD_MAX_DEFAULT,
	                               .headers_max = WSG_HEADERS_MAX_DEFAULT};
	char *buf = malloc(size ? size : 1);
	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	struct http_parser hp;
	http_parser_init(&hp);
	size_t used = 0;
	enum http_rc rc = http_parse_request_http10(&hp, buf, size, &lim, &req, &used);
	CHECK(used <= size);
	if (rc == HTTP_RC_OK) {
		admin_method_of(req.method.p, req.method.n);
		check_target(req.path.p, req.path.n, req.query.p, req.query.n);
	}
	/* The target parser on its own, on raw input: path up to the first '?'. */
	const char *qm = memchr(buf, '?', size);
	size_t pn = qm != NULL ? (size_t)(qm - buf) : size;
	check_target(buf, pn, qm != NULL ? qm + 1 : buf + size, qm != NULL ? size - pn - 1 : 0);
	free(buf);
	return 0;
}
