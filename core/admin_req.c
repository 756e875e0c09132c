/* core/admin_req.c: the admin API's request targets (see admin_req.h).
 *
 * Owns: matching a path to one of the calls that act on routes and connections, splitting a
 * connection id, and decoding the query string into fixed buffers of struct admin_req. Pure:
 * the input is the HTTP parser's views, the output the caller's struct, nothing else is read
 * or written, so tests/fuzz/fuzz_admin_req.c runs it with the head parser in front.
 *
 * Invariants: every *_len is below its buffer's size and every string is NUL-terminated; a value
 * is decoded into its buffer only after its key was recognised, so a bad parameter never
 * leaves half a value behind a have bit. The query is walked once, left to right.
 *
 * Rejected: decoding '+' as a space (the HTML form convention, not RFC 3986's: a subject
 * such as "a+b@example.com" would be looked up as "a b@..."); ignoring unknown parameters
 * (a misspelt "subjet=x" on a broadcast would send to every client of the route: better a
 * 400 that names it); a generic key/value table handed back to the caller (every caller
 * would re-check names and lengths; here each is checked once). */
#include "core/admin_req.h"

#include <stdio.h>
#include <string.h>

#include "proto/utf8.h"
#include "proto/ws.h"

static bool admin_req_is(const char *p, size_t n, const char *lit)
{
	size_t k = strlen(lit);
	return n == k && memcmp(p, lit, k) == 0;
}

static int admin_req_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes [p, p + n) into out (cap bytes). -1 on a bad escape, a control byte or
 * when it does not fit; else the decoded length. */
static long admin_req_decode(const char *p, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '%') {
			if (n - i < 3)
				return -1;
			int hi = admin_req_hex(p[i + 1]), lo = admin_req_hex(p[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c < 0x20 || c == 0x7f || o >= cap)
			return -1;
		out[o++] = (char)c;
	}
	return (long)o;
}

/* A decimal number of at most 19 digits (no sign, no leading '+'); false otherwise. */
static bool admin_req_number(const char *p, size_t n, uint64_t *out)
{
	if (n == 0 || n > 19)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return true;
}

/* "NODE.N": NODE of [A-Za-z0-9_-] (a --node-id, or the random [0-9a-v] prefix of a node
 * alone), shorter than ADMIN_NODE_MAX; N decimal. */
static bool admin_req_id(const char *p, size_t n, struct admin_req *out)
{
	const char *dot = memchr(p, '.', n);
	if (dot == NULL)
		return false;
	size_t node_len = (size_t)(dot - p);
	if (node_len == 0 || node_len >= ADMIN_NODE_MAX)
		return false;
	for (size_t i = 0; i < node_len; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z') ||
		      (p[i] >= 'A' && p[i] <= 'Z') || p[i] == '_' || p[i] == '-'))
			return false;
	if (!admin_req_number(dot + 1, n - node_len - 1, &out->n))
		return false;
	memcpy(out->node, p, node_len);
	out->node[node_len] = '\0';
	return true;
}

static enum admin_req_rc admin_req_path(const char *p, size_t n, struct admin_req *out)
{
	static const char conns[] = "/connections/";
	static const char msgs[] = "/messages";
	const size_t cl = sizeof(conns) - 1, ml = sizeof(msgs) - 1;
	if (admin_req_is(p, n, "/routes")) {
		out->call = ADMIN_CALL_ROUTES;
		return ADMIN_REQ_OK;
	}
	if (admin_req_is(p, n, "/connections")) {
		out->call = ADMIN_CALL_CONNS;
		return ADMIN_REQ_OK;
	}
	if (admin_req_is(p, n, "/broadcast")) {
		out->call = ADMIN_CALL_BROADCAST;
		return ADMIN_REQ_OK;
	}
	if (n <= cl || memcmp(p, conns, cl) != 0)
		return ADMIN_REQ_NOT_FOUND;
	p += cl;
	n -= cl;
	enum admin_call_kind call = ADMIN_CALL_CONN;
	if (n > ml && memcmp(p + n - ml, msgs, ml) == 0) {
		call = ADMIN_CALL_CONN_MSGS;
		n -= ml;
	}
	if (!admin_req_id(p, n, out))
		return ADMIN_REQ_NOT_FOUND;
	out->call = call;
	return ADMIN_REQ_OK;
}

/* One key=value of the query into out. */
static enum admin_req_rc admin_req_param(const char *k, size_t kn, const char *v, size_t vn,
                                         struct admin_req *out, const char **why)
{
	static const struct {
		const char *name;
		unsigned bit;
	} keys[] = {
	    {"route", ADMIN_P_ROUTE}, {"peer", ADMIN_P_PEER}, {"subject", ADMIN_P_SUBJECT},
	    {"limit", ADMIN_P_LIMIT}, {"code", ADMIN_P_CODE}, {"reason", ADMIN_P_REASON},
	    {"scope", ADMIN_P_SCOPE},
	};
	unsigned bit = 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (admin_req_is(k, kn, keys[i].name))
			bit = keys[i].bit;
	if (bit == 0) {
		*why = "unknown query parameter";
		return ADMIN_REQ_BAD;
	}
	if (out->have & bit) {
		*why = "query parameter given twice";
		return ADMIN_REQ_BAD;
	}
	char num[32];
	long len;
	uint64_t x;
	switch (bit) {
	case ADMIN_P_ROUTE:
		len = admin_req_decode(v, vn, out->route, sizeof(out->route) - 1);
		if (len <= 0 || out->route[0] != '/') {
			*why = "route: expected a route path such as /chat";
			return ADMIN_REQ_BAD;
		}
		out->route_len = (size_t)len;
		out->route[len] = '\0';
		break;
	case ADMIN_P_PEER:
		len = admin_req_decode(v, vn, out->peer, sizeof(out->peer) - 1);
		if (len <= 0) {
			*why = "peer: expected an IP address, or ip:port";
			return ADMIN_REQ_BAD;
		}
		for (long i = 0; i < len; i++) {
			char c = out->peer[i];
			if (admin_req_hex(c) < 0 && c != '.' && c != ':' && c != '[' && c != ']') {
				*why = "peer: expected an IP address, or ip:port";
				return ADMIN_REQ_BAD;
			}
		}
		out->peer_len = (size_t)len;
		out->peer[len] = '\0';
		break;
	case ADMIN_P_SUBJECT:
		len = admin_req_decode(v, vn, out->subject, sizeof(out->subject) - 1);
		if (len <= 0 || !utf8_is_valid((const uint8_t *)out->subject, (size_t)len)) {
			*why = "subject: expected 1 to 255 bytes of UTF-8";
			return ADMIN_REQ_BAD;
		}
		out->subject_len = (size_t)len;
		out->subject[len] = '\0';
		break;
	case ADMIN_P_LIMIT:
		len = admin_req_decode(v, vn, num, sizeof(num));
		if (len <= 0 || !admin_req_number(num, (size_t)len, &x) || x < 1 ||
		    x > ADMIN_LIMIT_MAX) {
			*why = "limit: expected a number from 1 to 10000";
			return ADMIN_REQ_BAD;
		}
		out->limit = (uint32_t)x;
		break;
	case ADMIN_P_CODE:
		len = admin_req_decode(v, vn, num, sizeof(num));
		/* RFC 6455 7.4: 1005, 1006 and 1015 are never sent, 1004 and 1016-2999 are
		 * reserved; what ws_close_code_is_valid accepts is what a peer accepts. */
		if (len <= 0 || !admin_req_number(num, (size_t)len, &x) || x > 4999 ||
		    !ws_close_code_is_valid((uint16_t)x)) {
			*why = "code: not a close code that may be sent (1000-1003, 1007-1014, "
			       "3000-4999)";
			return ADMIN_REQ_BAD;
		}
		out->code = (uint16_t)x;
		break;
	case ADMIN_P_REASON:
		len = admin_req_decode(v, vn, out->reason, sizeof(out->reason) - 1);
		if (len < 0 || !utf8_is_valid((const uint8_t *)out->reason, (size_t)len)) {
			*why = "reason: expected at most 123 bytes of UTF-8";
			return ADMIN_REQ_BAD;
		}
		out->reason_len = (size_t)len;
		out->reason[len] = '\0';
		break;
	case ADMIN_P_SCOPE:
		if (admin_req_is(v, vn, "cluster")) {
			out->scope_cluster = true;
		} else if (!admin_req_is(v, vn, "local")) {
			*why = "scope: expected local or cluster";
			return ADMIN_REQ_BAD;
		}
		break;
	}
	out->have |= bit;
	return ADMIN_REQ_OK;
}

enum admin_req_rc admin_req_parse(const char *path, size_t path_len, const char *query,
                                  size_t query_len, struct admin_req *out, const char **why)
{
	memset(out, 0, sizeof(*out));
	out->limit = ADMIN_LIMIT_DEFAULT;
	out->code = 1000;
	*why = "not found";
	enum admin_req_rc rc = admin_req_path(path, path_len, out);
	if (rc != ADMIN_REQ_OK)
		return rc;
	size_t i = 0;
	while (i < query_len) {
		const char *amp = memchr(query + i, '&', query_len - i);
		size_t end = amp != NULL ? (size_t)(amp - query) : query_len;
		const char *k = query + i;
		size_t pn = end - i;
		i = end + 1;
		if (pn == 0)
			continue; /* "a=1&&b=2", or a trailing '&' */
		const char *eq = memchr(k, '=', pn);
		if (eq == NULL) {
			*why = "query parameter without a value";
			return ADMIN_REQ_BAD;
		}
		size_t kn = (size_t)(eq - k);
		rc = admin_req_param(k, kn, eq + 1, pn - kn - 1, out, why);
		if (rc != ADMIN_REQ_OK)
			return rc;
	}
	return ADMIN_REQ_OK;
}

const char *admin_param_name(unsigned bits)
{
	static const char *const names[] = {"route", "peer",   "subject", "limit",
	                                    "code",  "reason", "scope"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (bits & (1u << i))
			return names[i];
	return "";
}

enum admin_method admin_method_of(const char *p, size_t n)
{
	static const struct {
		const char *name;
		enum admin_method m;
	} ms[] = {{"GET", ADMIN_M_GET},   {"HEAD", ADMIN_M_HEAD},     {"PUT", ADMIN_M_PUT},
	          {"POST", ADMIN_M_POST}, {"DELETE", ADMIN_M_DELETE}, {"OPTIONS", ADMIN_M_OPTIONS}};
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
		if (admin_req_is(p, n, ms[i].name))
			return ms[i].m;
	return ADMIN_M_OTHER;
}

int admin_req_check(const struct admin_req *rq, enum admin_method m, const char **allow, char *why,
                    size_t why_len)
{
	unsigned params = 0;
	*allow = NULL;
	snprintf(why, why_len, "method not allowed");
	switch (rq->call) {
	case ADMIN_CALL_NONE:
		snprintf(why, why_len, "not found");
		return 404;
	case ADMIN_CALL_ROUTES:
		*allow = "GET, HEAD, PUT";
		if (m != ADMIN_M_GET && m != ADMIN_M_HEAD && m != ADMIN_M_PUT)
			return 405;
		break;
	case ADMIN_CALL_CONNS:
		*allow = "GET, HEAD";
		if (m != ADMIN_M_GET && m != ADMIN_M_HEAD)
			return 405;
		params =
		    ADMIN_P_ROUTE | ADMIN_P_PEER | ADMIN_P_SUBJECT | ADMIN_P_LIMIT | ADMIN_P_SCOPE;
		break;
	case ADMIN_CALL_CONN:
		*allow = "GET, HEAD, DELETE";
		if (m != ADMIN_M_GET && m != ADMIN_M_HEAD && m != ADMIN_M_DELETE)
			return 405;
		if (m == ADMIN_M_DELETE)
			params = ADMIN_P_CODE | ADMIN_P_REASON;
		break;
	case ADMIN_CALL_CONN_MSGS:
		*allow = "POST";
		if (m != ADMIN_M_POST)
			return 405;
		break;
	case ADMIN_CALL_BROADCAST:
		*allow = "POST";
		if (m != ADMIN_M_POST)
			return 405;
		params = ADMIN_P_ROUTE | ADMIN_P_SUBJECT;
		if (!(rq->have & params)) {
			snprintf(why, why_len, "broadcast needs route= or subject=");
			return 400;
		}
		break;
	}
	if (rq->have & ~params) {
		snprintf(why, why_len, "%s: not a parameter of this call",
		         admin_param_name(rq->have & ~params));
		return 400;
	}
	return 0;
}
