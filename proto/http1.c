/* proto/http1.c: the HTTP/1.1 heads of the WebSocket handshake (RFC 9110, RFC 9112,
 * RFC 6455 4).
 *
 * Owns: the client request-head parser and the upgrade checks, the answers we write (101,
 * rejections, relayed backend statuses), the upgrade request we send a backend and the
 * parser for its response. Runs on a worker; every function is pure over caller memory.
 * http_parse_request_http10 is the same parser with one difference, HTTP/1.0 admitted (Host
 * optional for it), for the admin listener's health checks; the upgrade path never uses it.
 *
 * Parsing is two-phase. While a head is incomplete the only work is the search for the blank
 * line that ends it, bounded by lim->head_max, and the only state is how far that search got
 * (_scanned): a client that dribbles a byte at a time costs O(1) per byte, never a rescan
 * (slowloris). Once the end is found the head is tokenised exactly once, line by line, into
 * views of the caller's buffer. So a prefix of a head is always MORE, except at head_max,
 * where it is 431; every other verdict is reached only when the head is complete, and it is
 * the same however the bytes were split (the fuzz targets assert this).
 *
 * Invariants: nothing reads at or past buf + len (the end search stops at min(len, head_max),
 * the tokeniser only walks [buf, head end)); every http_str handed out lies inside the head;
 * writers never write past cap and refuse (-1) rather than truncate.
 *
 * The backend's upgrade request forwards the client's end-to-end header lines as parsed, in
 * the client's order, as nginx and HAProxy do; what is withheld is one table plus the fields
 * a Connection header names (http_header_is_withheld), so "what reaches the backend" has one
 * answer. Rejected: an allowlist of fields (Authorization, X-Tenant and every application
 * header were silently lost that way) and copying the raw head bytes (the line ends, OWS and
 * withheld fields would all need rewriting anyway).
 *
 * Strict on purpose, because we sit in front of backends that may parse differently: obs-fold,
 * whitespace before a colon, bare CR, control bytes in values, duplicate Host or
 * Sec-WebSocket-Key and non-origin-form targets are all 400 rather than "repaired". Rejected:
 * a state machine that tokenises bytes as they arrive (more state and a second set of split
 * bugs, for nothing: a handshake head is small and tokenised once); ignoring an empty line
 * before the request line (RFC 9112 2.2 SHOULD, but no WebSocket client sends one). */
#include "proto/http1.h"

#include <limits.h>
#include <string.h>

#include "proto/wskey.h"

#define HTTP_LIT(s) ((struct http_str){(s), sizeof(s) - 1})

/* ---- character classes and small helpers ---- */

/* RFC 9110 5.6.2: tchar. */
static bool http_is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 5.6.3: OWS. */
static bool http_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9110 5.5: field-value bytes are VCHAR, obs-text, SP and HTAB; every other control
 * byte (NUL, CR, LF, DEL ...) is invalid. */
static bool http_is_field_byte(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static char http_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool http_mem_eq(const char *a, const char *b, size_t n, bool nocase)
{
	if (!nocase)
		return memcmp(a, b, n) == 0;
	for (size_t i = 0; i < n; i++) {
		if (http_lower(a[i]) != http_lower(b[i]))
			return false;
	}
	return true;
}

/* True when field name `name` is `lower` (given in lower case), ASCII case-insensitively
 * (RFC 9110 5.1: field names are case-insensitive). */
static bool http_name_is(struct http_str name, struct http_str lower)
{
	return name.n == lower.n && http_mem_eq(name.p, lower.p, lower.n, true);
}

bool http_list_has_token(struct http_str list, struct http_str token, bool nocase)
{
	if (token.n == 0)
		return false;
	size_t i = 0;
	while (i < list.n) {
		size_t b = i;
		while (i < list.n && list.p[i] != ',')
			i++;
		size_t e = i;
		i++; /* past the ',' (or past the end, which ends the loop) */
		/* RFC 9110 5.6.1: OWS around list elements; empty elements are ignored. */
		while (b < e && http_is_ows(list.p[b]))
			b++;
		while (e > b && http_is_ows(list.p[e - 1]))
			e--;
		if (e - b == token.n && http_mem_eq(list.p + b, token.p, token.n, nocase))
			return true;
	}
	return false;
}

/* ---- rejections ---- */

struct http_rej_info {
	uint16_t status;
	const char *name;
	const char *body; /* one line, ends in "\n" */
};

static const struct http_rej_info http_rej_table[HTTP_REJ_COUNT] = {
    [HTTP_REJ_NONE] = {0, "none", ""},
    [HTTP_REJ_MALFORMED] = {400, "malformed", "malformed request\n"},
    [HTTP_REJ_HEAD_TOO_LARGE] = {431, "head_too_large", "request head too large\n"},
    [HTTP_REJ_HTTP_VERSION] = {505, "http_version", "only HTTP/1.1 is supported\n"},
    [HTTP_REJ_NO_ROUTE] = {404, "no_route", "no route for this path\n"},
    [HTTP_REJ_METHOD] = {405, "method", "only GET can upgrade\n"},
    [HTTP_REJ_NOT_UPGRADE] = {426, "not_upgrade", "websocket upgrade required\n"},
    [HTTP_REJ_WS_VERSION] = {426, "ws_version", "unsupported Sec-WebSocket-Version\n"},
    [HTTP_REJ_BAD_KEY] = {400, "bad_key", "missing or malformed Sec-WebSocket-Key\n"},
    [HTTP_REJ_UNAUTHORIZED] = {401, "unauthorized", "unauthorized\n"},
    [HTTP_REJ_INVALID_TOKEN] = {401, "invalid_token", "unauthorized\n"},
    [HTTP_REJ_ORIGIN] = {403, "origin", "origin not allowed\n"},
    [HTTP_REJ_RATE_LIMITED] = {429, "rate_limited", "too many requests\n"},
    [HTTP_REJ_OVERLOADED] = {503, "overloaded", "service unavailable\n"},
    [HTTP_REJ_BAD_GATEWAY] = {502, "bad_gateway", "bad gateway\n"},
    [HTTP_REJ_GATEWAY_TIMEOUT] = {504, "gateway_timeout", "gateway timeout\n"},
};

uint16_t http_reject_status(enum http_reject r)
{
	if ((unsigned)r >= HTTP_REJ_COUNT)
		return 0;
	return http_rej_table[r].status;
}

const char *http_reject_name(enum http_reject r)
{
	if ((unsigned)r >= HTTP_REJ_COUNT)
		return "unknown";
	return http_rej_table[r].name;
}

void http_parser_init(struct http_parser *p)
{
	p->_scanned = 0;
	p->_reject = HTTP_REJ_NONE;
}

enum http_reject http_parser_reject(const struct http_parser *p)
{
	return p->_reject;
}

static enum http_rc http_fail(struct http_parser *p, enum http_reject r)
{
	p->_reject = r;
	return HTTP_RC_FAIL;
}

/* ---- head framing ---- */

/* Searches [p->_scanned, min(len, max)) for the LF that ends the head's blank line and
 * returns the head length, blank line included, or 0 when it is not there yet. The bytes
 * before _scanned were searched by an earlier call with the same buffer prefix; looking back
 * two bytes from a hit is still inside buf. */
static size_t http_find_head_end(struct http_parser *p, const char *buf, size_t len, size_t max)
{
	size_t stop = len < max ? len : max;
	size_t i = p->_scanned;
	while (i < stop) {
		const char *lf = memchr(buf + i, '\n', stop - i);
		if (lf == NULL)
			break;
		i = (size_t)(lf - buf);
		/* RFC 9112 2.2: a bare LF is accepted as a line end, so the blank line is LF or
		 * CRLF after a line's LF. Line 0 (i < 1 or 2) never ends the head: an empty
		 * request line is malformed, found by the tokeniser. */
		if (i >= 1 && buf[i - 1] == '\n')
			return i + 1;
		if (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n')
			return i + 1;
		i++;
	}
	p->_scanned = stop;
	return 0;
}

/* Takes the next line of the complete head [buf, end) starting at *pos, without its LF or
 * CRLF, and moves *pos past it. Returns false on a bare CR (RFC 9112 2.2: a recipient of a
 * bare CR MAY reject the message; we do, since a backend might treat it as a line end). */
static bool http_next_line(const char *buf, size_t end, size_t *pos, struct http_str *line)
{
	const char *lf = memchr(buf + *pos, '\n', end - *pos);
	if (lf == NULL)
		return false; /* cannot happen: the head ends with LF */
	size_t at = (size_t)(lf - buf);
	size_t n = at - *pos;
	if (n > 0 && buf[at - 1] == '\r')
		n--;
	line->p = buf + *pos;
	line->n = n;
	*pos = at + 1;
	return n == 0 || memchr(line->p, '\r', n) == NULL;
}

/* Splits a header line into name and trimmed value. Returns false when it is not
 * `token ":" OWS field-value OWS`. */
static bool http_parse_field(struct http_str line, struct http_header *h)
{
	size_t i = 0;
	/* RFC 9112 5.2: a line starting with SP or HTAB is obs-fold, which a server MUST
	 * reject or replace; we reject (so does the empty name check below). */
	while (i < line.n && http_is_tchar((unsigned char)line.p[i]))
		i++;
	/* RFC 9112 5.1: no whitespace between field name and colon (400); RFC 9110 5.1: the
	 * name is a non-empty token. */
	if (i == 0 || i == line.n || line.p[i] != ':')
		return false;
	h->name.p = line.p;
	h->name.n = i;

	size_t b = i + 1, e = line.n;
	while (b < e && http_is_ows(line.p[b]))
		b++;
	while (e > b && http_is_ows(line.p[e - 1]))
		e--;
	for (size_t k = b; k < e; k++) {
		if (!http_is_field_byte((unsigned char)line.p[k]))
			return false;
	}
	h->value.p = line.p + b;
	h->value.n = e - b;
	return true;
}

/* Parses "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3). Returns false when it is not that shape. */
static bool http_parse_version(const char *s, size_t n, uint8_t *major, uint8_t *minor)
{
	if (n != 8 || memcmp(s, "HTTP/", 5) != 0)
		return false;
	if (s[5] < '0' || s[5] > '9' || s[6] != '.' || s[7] < '0' || s[7] > '9')
		return false;
	*major = (uint8_t)(s[5] - '0');
	*minor = (uint8_t)(s[7] - '0');
	return true;
}

/* ---- request ---- */

/* RFC 9112 3: request-line = method SP request-target SP HTTP-version, single SPs. */
static bool http_parse_request_line(struct http_str l, struct http_request *out, uint8_t *major)
{
	size_t i = 0;
	while (i < l.n && http_is_tchar((unsigned char)l.p[i]))
		i++;
	if (i == 0 || i == l.n || l.p[i] != ' ')
		return false;
	out->method.p = l.p;
	out->method.n = i;

	size_t t = ++i;
	/* RFC 3986: a target is visible ASCII; SP ends it, anything else is invalid. */
	while (i < l.n && l.p[i] > 0x20 && l.p[i] < 0x7f)
		i++;
	if (i == t || i == l.n || l.p[i] != ' ')
		return false;
	/* RFC 9112 3.2.1: origin-form only. The absolute-form is for proxies, authority-form
	 * for CONNECT and asterisk-form for OPTIONS; none of them can be an upgrade to us. */
	if (l.p[t] != '/')
		return false;
	out->target.p = l.p + t;
	out->target.n = i - t;
	const char *q = memchr(out->target.p, '?', out->target.n);
	if (q != NULL) {
		out->path.p = out->target.p;
		out->path.n = (size_t)(q - out->target.p);
		out->query.p = q + 1;
		out->query.n = out->target.n - out->path.n - 1;
	} else {
		out->path = out->target;
	}

	i++;
	return http_parse_version(l.p + i, l.n - i, major, &out->version_minor);
}

/* RFC 9112 3.2 and RFC 3986 3.2.2/3.2.3: Host is uri-host [":" port]. We check the
 * alphabet (reg-name, IP-literal, port), not the grammar; an empty Host is legal only for
 * a target without authority, which an origin-form request to us never is. */
static bool http_host_is_valid(struct http_str h)
{
	if (h.n == 0)
		return false;
	for (size_t i = 0; i < h.n; i++) {
		unsigned char c = (unsigned char)h.p[i];
		if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			continue;
		if (c != '\0' && strchr("-._~%!$&'()*+,;=:[]", c) != NULL)
			continue;
		return false;
	}
	return true;
}

/* Records a header the gateway acts on. Returns false on a fatal duplicate or a bad Host. */
static bool http_request_note(struct http_request *out, const struct http_header *h)
{
	struct http_str n = h->name;
	struct http_str *slot = NULL;

	switch (http_lower(n.n > 0 ? n.p[0] : '\0')) {
	case 'a':
		if (http_name_is(n, HTTP_LIT("authorization")))
			slot = &out->authorization;
		break;
	case 'c':
		if (http_name_is(n, HTTP_LIT("connection"))) {
			/* RFC 9110 7.6.1: a token list, possibly over several lines. */
			if (http_list_has_token(h->value, HTTP_LIT("upgrade"), true))
				out->connection_upgrade = true;
		} else if (http_name_is(n, HTTP_LIT("cookie"))) {
			slot = &out->cookie;
		}
		break;
	case 'h':
		if (http_name_is(n, HTTP_LIT("host"))) {
			/* RFC 9112 3.2: more than one Host, or an invalid one, is 400. */
			if (out->host.p != NULL || !http_host_is_valid(h->value))
				return false;
			slot = &out->host;
		}
		break;
	case 'o':
		if (http_name_is(n, HTTP_LIT("origin")))
			slot = &out->origin;
		break;
	case 's':
		if (http_name_is(n, HTTP_LIT("sec-websocket-key"))) {
			/* RFC 6455 4.1: the key appears exactly once; two keys are ambiguous. */
			if (out->ws_key.p != NULL)
				return false;
			slot = &out->ws_key;
		} else if (http_name_is(n, HTTP_LIT("sec-websocket-version"))) {
			slot = &out->ws_version;
		} else if (http_name_is(n, HTTP_LIT("sec-websocket-protocol"))) {
			slot = &out->ws_protocol;
		} else if (http_name_is(n, HTTP_LIT("sec-websocket-extensions"))) {
			slot = &out->ws_extensions;
		}
		break;
	case 'u':
		if (http_name_is(n, HTTP_LIT("upgrade"))) {
			/* RFC 9110 7.8: a list of protocols; RFC 6455 4.2.1 (3) wants "websocket",
			 * case-insensitively. */
			if (http_list_has_token(h->value, HTTP_LIT("websocket"), true))
				out->upgrade_websocket = true;
		} else if (http_name_is(n, HTTP_LIT("user-agent"))) {
			slot = &out->user_agent;
		}
		break;
	case 'x':
		if (http_name_is(n, HTTP_LIT("x-forwarded-for")))
			slot = &out->x_forwarded_for;
		break;
	default:
		break;
	}
	/* First occurrence wins; p (not n) marks presence, since a value may be empty. */
	if (slot != NULL && slot->p == NULL)
		*slot = h->value;
	return true;
}

static unsigned http_headers_cap(const struct wsg_limits *lim)
{
	return lim->headers_max < HTTP_MAX_HEADERS ? lim->headers_max : HTTP_MAX_HEADERS;
}

/* Tokenises the complete head [buf, end). Returns the first check that fails, in SPEC.md's
 * order: 400 (syntax, Host), 431 (header lines), 505 (version). A line past the header cap
 * is 431 at once, without looking at the rest. http10_ok also admits HTTP/1.0, with or
 * without Host (see http_parse_request_http10). */
static enum http_reject http_request_tokenise(const char *buf, size_t end,
                                              const struct wsg_limits *lim,
                                              struct http_request *out, bool http10_ok)
{
	memset(out, 0, sizeof(*out));
	size_t pos = 0;
	struct http_str line;
	uint8_t major = 0;
	if (!http_next_line(buf, end, &pos, &line) || !http_parse_request_line(line, out, &major))
		return HTTP_REJ_MALFORMED;

	unsigned cap = http_headers_cap(lim);
	for (;;) {
		if (!http_next_line(buf, end, &pos, &line))
			return HTTP_REJ_MALFORMED;
		if (line.n == 0)
			break;
		if (out->n_headers >= cap)
			return HTTP_REJ_HEAD_TOO_LARGE;
		struct http_header *h = &out->headers[out->n_headers];
		if (!http_parse_field(line, h))
			return HTTP_REJ_MALFORMED;
		out->n_headers++;
		if (!http_request_note(out, h))
			return HTTP_REJ_MALFORMED;
	}
	/* HTTP/1.0 (RFC 1945) has no Host requirement; only the lenient entry point asks for
	 * this, and only an exact "HTTP/1.0" qualifies (a missing Host on 2.0 stays 400, as in
	 * the strict order). */
	bool is_http10 = http10_ok && major == 1 && out->version_minor == 0;
	/* RFC 9112 3.2: an HTTP/1.1 request without Host is 400. */
	if (out->host.p == NULL && !is_http10)
		return HTTP_REJ_MALFORMED;
	/* RFC 6455 4.1: the handshake is HTTP/1.1 or higher; HTTP/1.2+ does not exist and
	 * HTTP/2 is not spoken in this form, so only 1.1 is served. */
	if (major != 1 || (out->version_minor != 1 && !is_http10))
		return HTTP_REJ_HTTP_VERSION;
	return HTTP_REJ_NONE;
}

static enum http_rc http_parse_request_versions(struct http_parser *p, const char *buf, size_t len,
                                                const struct wsg_limits *lim,
                                                struct http_request *out, size_t *used,
                                                bool http10_ok)
{
	*used = 0;
	if (p->_reject != HTTP_REJ_NONE)
		return HTTP_RC_FAIL;
	size_t end = http_find_head_end(p, buf, len, lim->head_max);
	if (end == 0) {
		/* head_max bytes searched without an end: the head can only be larger. Answer
		 * now rather than buffer more. */
		if (len >= lim->head_max)
			return http_fail(p, HTTP_REJ_HEAD_TOO_LARGE);
		return HTTP_RC_MORE;
	}
	enum http_reject r = http_request_tokenise(buf, end, lim, out, http10_ok);
	if (r != HTTP_REJ_NONE)
		return http_fail(p, r);
	p->_scanned = 0; /* ready for the next head, should the caller reuse the parser */
	*used = end;
	return HTTP_RC_OK;
}

enum http_rc http_parse_request(struct http_parser *p, const char *buf, size_t len,
                                const struct wsg_limits *lim, struct http_request *out,
                                size_t *used)
{
	return http_parse_request_versions(p, buf, len, lim, out, used, false);
}

enum http_rc http_parse_request_http10(struct http_parser *p, const char *buf, size_t len,
                                       const struct wsg_limits *lim, struct http_request *out,
                                       size_t *used)
{
	return http_parse_request_versions(p, buf, len, lim, out, used, true);
}

enum http_reject http_check_upgrade(const struct http_request *r)
{
	/* RFC 6455 4.1 (2) and RFC 9110 9.1: the method is GET, case-sensitively. */
	if (r->method.n != 3 || memcmp(r->method.p, "GET", 3) != 0)
		return HTTP_REJ_METHOD;
	/* RFC 6455 4.2.1 (3), (4). */
	if (!r->upgrade_websocket || !r->connection_upgrade)
		return HTTP_REJ_NOT_UPGRADE;
	/* RFC 6455 4.2.1 (6), 4.4: version 13 only, missing counts as wrong. */
	if (r->ws_version.n != 2 || memcmp(r->ws_version.p, "13", 2) != 0)
		return HTTP_REJ_WS_VERSION;
	/* RFC 6455 4.2.1 (5). */
	if (!wskey_is_valid(r->ws_key.p, r->ws_key.n))
		return HTTP_REJ_BAD_KEY;
	return HTTP_REJ_NONE;
}

/* ---- response ---- */

/* RFC 9112 4: status-line = HTTP-version SP status-code SP [ reason-phrase ]. The SP before
 * an empty reason is often missing in the wild; we accept that (RFC 9112 4 lets a client
 * ignore the reason). */
static bool http_parse_status_line(struct http_str l, struct http_response *out)
{
	uint8_t major = 0;
	if (l.n < 12 || !http_parse_version(l.p, 8, &major, &out->version_minor) || major != 1)
		return false;
	if (l.p[8] != ' ')
		return false;
	uint16_t status = 0;
	for (size_t i = 9; i < 12; i++) {
		if (l.p[i] < '0' || l.p[i] > '9')
			return false;
		status = (uint16_t)(status * 10u + (uint16_t)(l.p[i] - '0'));
	}
	/* RFC 9110 15: valid status codes are 100 to 599. */
	if (status < 100 || status > 599)
		return false;
	out->status = status;
	out->reason.p = l.p + l.n;
	if (l.n == 12)
		return true;
	if (l.p[12] != ' ')
		return false;
	for (size_t i = 13; i < l.n; i++) {
		if (!http_is_field_byte((unsigned char)l.p[i]))
			return false;
	}
	out->reason.p = l.p + 13;
	out->reason.n = l.n - 13;
	return true;
}

static void http_response_note(struct http_response *out, const struct http_header *h)
{
	struct http_str n = h->name;
	struct http_str *slot = NULL;

	if (http_name_is(n, HTTP_LIT("connection"))) {
		if (http_list_has_token(h->value, HTTP_LIT("upgrade"), true))
			out->connection_upgrade = true;
	} else if (http_name_is(n, HTTP_LIT("upgrade"))) {
		if (http_list_has_token(h->value, HTTP_LIT("websocket"), true))
			out->upgrade_websocket = true;
	} else if (http_name_is(n, HTTP_LIT("sec-websocket-accept"))) {
		slot = &out->ws_accept;
	} else if (http_name_is(n, HTTP_LIT("sec-websocket-protocol"))) {
		slot = &out->ws_protocol;
	} else if (http_name_is(n, HTTP_LIT("sec-websocket-extensions"))) {
		slot = &out->ws_extensions;
	}
	if (slot != NULL && slot->p == NULL)
		*slot = h->value;
}

static bool http_response_tokenise(const char *buf, size_t end, const struct wsg_limits *lim,
                                   struct http_response *out)
{
	memset(out, 0, sizeof(*out));
	size_t pos = 0;
	struct http_str line;
	if (!http_next_line(buf, end, &pos, &line) || !http_parse_status_line(line, out))
		return false;

	unsigned cap = http_headers_cap(lim);
	for (;;) {
		if (!http_next_line(buf, end, &pos, &line))
			return false;
		if (line.n == 0)
			break;
		if (out->n_headers >= cap)
			return false;
		struct http_header *h = &out->headers[out->n_headers];
		if (!http_parse_field(line, h))
			return false;
		out->n_headers++;
		http_response_note(out, h);
	}
	return true;
}

enum http_rc http_parse_response(struct http_parser *p, const char *buf, size_t len,
                                 const struct wsg_limits *lim, struct http_response *out,
                                 size_t *used)
{
	*used = 0;
	if (p->_reject != HTTP_REJ_NONE)
		return HTTP_RC_FAIL;
	size_t end = http_find_head_end(p, buf, len, lim->head_max);
	if (end == 0) {
		if (len >= lim->head_max)
			return http_fail(p, HTTP_REJ_BAD_GATEWAY);
		return HTTP_RC_MORE;
	}
	if (!http_response_tokenise(buf, end, lim, out))
		return http_fail(p, HTTP_REJ_BAD_GATEWAY);
	p->_scanned = 0;
	*used = end;
	return HTTP_RC_OK;
}

bool http_response_is_upgrade(const struct http_response *r, struct http_str key,
                              struct http_str offered)
{
	/* RFC 6455 4.1 (1)-(3): 101 (over HTTP/1.1: Upgrade does not exist in 1.0), Upgrade:
	 * websocket and Connection: upgrade. */
	if (r->status != 101 || r->version_minor < 1 || !r->upgrade_websocket ||
	    !r->connection_upgrade)
		return false;

	unsigned n_accept = 0, n_protocol = 0;
	for (unsigned i = 0; i < r->n_headers; i++) {
		struct http_str n = r->headers[i].name;
		if (http_name_is(n, HTTP_LIT("sec-websocket-accept")))
			n_accept++;
		else if (http_name_is(n, HTTP_LIT("sec-websocket-protocol")))
			n_protocol++;
		/* RFC 6455 4.1 (5): we offered no extension, so any is a failure. */
		else if (http_name_is(n, HTTP_LIT("sec-websocket-extensions")))
			return false;
	}
	/* RFC 6455 4.1 (4): exactly the accept for our key; two lines would be one value
	 * "a, b" to an intermediary, so that fails too. */
	if (n_accept != 1 || !wskey_accept_matches(key.p, key.n, r->ws_accept.p, r->ws_accept.n))
		return false;
	/* RFC 6455 4.1 (6), 4.2.2: at most one subprotocol, one the client offered (names are
	 * compared exactly). An empty value chooses nothing. */
	if (n_protocol > 1)
		return false;
	if (r->ws_protocol.n > 0) {
		if (memchr(r->ws_protocol.p, ',', r->ws_protocol.n) != NULL)
			return false;
		if (!http_list_has_token(offered, r->ws_protocol, false))
			return false;
	}
	return true;
}

/* ---- writers ---- */

/* An append-only view of the caller's buffer. Once an append does not fit (or a value
 * would break the head) nothing more is written and the writer returns -1. */
struct http_wbuf {
	char *p;
	size_t cap;
	size_t len;
	bool failed;
};

static void http_put(struct http_wbuf *w, const char *s, size_t n)
{
	if (w->failed || n > w->cap - w->len) {
		w->failed = true;
		return;
	}
	if (n > 0)
		memcpy(w->p + w->len, s, n);
	w->len += n;
}

#define HTTP_PUT_LIT(w, s) http_put((w), (s), sizeof(s) - 1)

static void http_put_str(struct http_wbuf *w, struct http_str s)
{
	http_put(w, s.p, s.n);
}

static void http_put_cstr(struct http_wbuf *w, const char *s)
{
	http_put(w, s, strlen(s));
}

static void http_put_dec(struct http_wbuf *w, uint64_t v)
{
	char tmp[20];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + v % 10u);
		v /= 10u;
	} while (v != 0);
	http_put(w, tmp + i, sizeof(tmp) - i);
}

/* Values we copy into a head come from parsed heads (already checked) or from config; a CR,
 * LF or other control byte would still split or corrupt the head, so refuse it here too. */
static void http_put_value(struct http_wbuf *w, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!http_is_field_byte((unsigned char)s[i])) {
			w->failed = true;
			return;
		}
	}
	http_put(w, s, n);
}

/* "name: value\r\n" */
static void http_put_field(struct http_wbuf *w, const char *name, struct http_str value)
{
	http_put_cstr(w, name);
	HTTP_PUT_LIT(w, ": ");
	http_put_value(w, value.p, value.n);
	HTTP_PUT_LIT(w, "\r\n");
}

static void http_put_field_opt(struct http_wbuf *w, const char *name, struct http_str value)
{
	if (value.n > 0)
		http_put_field(w, name, value);
}

static int http_done(const struct http_wbuf *w)
{
	if (w->failed || w->len > INT_MAX)
		return -1;
	return (int)w->len;
}

struct http_phrase {
	uint16_t status;
	const char *phrase;
};

/* RFC 9110 15 (and RFC 6585 for 428, 429, 431): the reason phrases we send, or substitute
 * for a backend's unprintable one. */
static const struct http_phrase http_phrases[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {451, "Unavailable For Legal Reasons"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

/* The phrase for status; a class name for codes without one (the phrase carries no
 * meaning, RFC 9112 4, but an empty one reads badly in logs and browsers). */
static const char *http_status_phrase(uint16_t status)
{
	for (size_t i = 0; i < sizeof(http_phrases) / sizeof(http_phrases[0]); i++) {
		if (http_phrases[i].status == status)
			return http_phrases[i].phrase;
	}
	static const char *const classes[] = {"Informational", "Success", "Redirection",
	                                      "Client Error", "Server Error"};
	unsigned cls = status / 100u;
	return (cls >= 1 && cls <= 5) ? classes[cls - 1] : "Unknown";
}

/* Content-Type, Content-Length, Connection: close, the blank line and the body. */
static void http_put_plain_body(struct http_wbuf *w, const char *body)
{
	size_t n = strlen(body);
	HTTP_PUT_LIT(w, "Content-Type: text/plain\r\nContent-Length: ");
	http_put_dec(w, n);
	HTTP_PUT_LIT(w, "\r\nConnection: close\r\n\r\n");
	http_put(w, body, n);
}

int http_write_reject(char *buf, size_t cap, enum http_reject r, unsigned retry_after_s)
{
	if (r == HTTP_REJ_NONE || (unsigned)r >= HTTP_REJ_COUNT)
		return -1;
	const struct http_rej_info *ri = &http_rej_table[r];
	struct http_wbuf w = {buf, cap, 0, false};

	HTTP_PUT_LIT(&w, "HTTP/1.1 ");
	http_put_dec(&w, ri->status);
	HTTP_PUT_LIT(&w, " ");
	http_put_cstr(&w, http_status_phrase(ri->status));
	HTTP_PUT_LIT(&w, "\r\n");
	switch (r) {
	case HTTP_REJ_METHOD:
		/* RFC 9110 15.5.6: a 405 MUST carry Allow. */
		HTTP_PUT_LIT(&w, "Allow: GET\r\n");
		break;
	case HTTP_REJ_NOT_UPGRADE:
		/* RFC 9110 15.5.22: a 426 MUST carry Upgrade. RFC 9110 7.8 would also want
		 * "Connection: upgrade"; we close instead, as every error answer does, and
		 * the client retries on a new connection. */
		HTTP_PUT_LIT(&w, "Upgrade: websocket\r\n");
		break;
	case HTTP_REJ_WS_VERSION:
		/* RFC 6455 4.4: name the versions we speak. */
		HTTP_PUT_LIT(&w, "Sec-WebSocket-Version: 13\r\n");
		break;
	case HTTP_REJ_UNAUTHORIZED:
		/* RFC 9110 11.6.1 / RFC 6750 3: a 401 MUST carry a challenge. */
		HTTP_PUT_LIT(&w, "WWW-Authenticate: Bearer\r\n");
		break;
	case HTTP_REJ_INVALID_TOKEN:
		/* RFC 6750 3.1: a token was sent and is bad; no detail beyond the code (the
		 * reason goes to the log and the counters, not to whoever forged it). */
		HTTP_PUT_LIT(&w, "WWW-Authenticate: Bearer error=\"invalid_token\"\r\n");
		break;
	case HTTP_REJ_RATE_LIMITED:
		/* RFC 6585 4, RFC 9110 10.2.3: delay-seconds. */
		HTTP_PUT_LIT(&w, "Retry-After: ");
		http_put_dec(&w, retry_after_s);
		HTTP_PUT_LIT(&w, "\r\n");
		break;
	default:
		break;
	}
	http_put_plain_body(&w, ri->body);
	return http_done(&w);
}

static bool http_reason_is_printable(struct http_str reason)
{
	if (reason.n == 0)
		return false;
	for (size_t i = 0; i < reason.n; i++) {
		if (reason.p[i] < 0x20 || reason.p[i] > 0x7e)
			return false;
	}
	return true;
}

int http_write_status(char *buf, size_t cap, uint16_t status, struct http_str reason)
{
	/* RFC 9110 15: nothing outside 100..599 is a status we could relay. */
	if (status < 100 || status > 599)
		return -1;
	/* The backend's reason goes to the client only if it is printable ASCII (no obs-text
	 * or control bytes from someone else's server in our answer). */
	if (!http_reason_is_printable(reason)) {
		reason.p = http_status_phrase(status);
		reason.n = strlen(reason.p);
	}
	struct http_wbuf w = {buf, cap, 0, false};
	HTTP_PUT_LIT(&w, "HTTP/1.1 ");
	http_put_dec(&w, status);
	HTTP_PUT_LIT(&w, " ");
	http_put_str(&w, reason);
	HTTP_PUT_LIT(&w, "\r\n");

	/* Body: "<status> <reason>\n". */
	char code[4] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10),
	                (char)('0' + status % 10), ' '};
	HTTP_PUT_LIT(&w, "Content-Type: text/plain\r\nContent-Length: ");
	http_put_dec(&w, (uint64_t)sizeof(code) + reason.n + 1);
	HTTP_PUT_LIT(&w, "\r\nConnection: close\r\n\r\n");
	http_put(&w, code, sizeof(code));
	http_put_str(&w, reason);
	HTTP_PUT_LIT(&w, "\n");
	return http_done(&w);
}

int http_write_101(char *buf, size_t cap, const char *accept, struct http_str subprotocol)
{
	struct http_wbuf w = {buf, cap, 0, false};
	/* RFC 6455 4.2.2 (5). */
	HTTP_PUT_LIT(&w, "HTTP/1.1 101 Switching Protocols\r\n"
	                 "Upgrade: websocket\r\n"
	                 "Connection: Upgrade\r\n");
	http_put_field(&w, "Sec-WebSocket-Accept", (struct http_str){accept, strlen(accept)});
	http_put_field_opt(&w, "Sec-WebSocket-Protocol", subprotocol);
	HTTP_PUT_LIT(&w, "\r\n");
	return http_done(&w);
}

void http_header_set_init(struct http_header_set *s)
{
	memset(s, 0, sizeof(*s));
}

void http_header_set_add(struct http_header_set *s, unsigned i)
{
	if (i < HTTP_MAX_HEADERS)
		s->bits[i / 64u] |= (uint64_t)1 << (i % 64u);
}

bool http_header_set_has(const struct http_header_set *s, unsigned i)
{
	return i < HTTP_MAX_HEADERS && (s->bits[i / 64u] >> (i % 64u) & 1u) != 0;
}

/* Fields never forwarded as sent, lower case. RFC 9110 7.6.1 hop-by-hop fields (Connection,
 * Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade) and the others that only
 * describe one connection (Trailer, Proxy-Authorization; Proxy-Authenticate belongs in
 * responses, but a client sending it gets no further either); Content-Length (RFC 9110 8.6:
 * an upgrade GET has no content, and a stray length could make a backend wait for a body);
 * the RFC 6455 handshake fields, which are per connection and which we negotiate ourselves;
 * Host (written first, from the request's one Host); and the fields the gateway sets, which
 * a client must not be able to forge. */
static const struct http_str http_withheld[] = {
    HTTP_LIT("connection"),
    HTTP_LIT("keep-alive"),
    HTTP_LIT("proxy-connection"),
    HTTP_LIT("te"),
    HTTP_LIT("transfer-encoding"),
    HTTP_LIT("upgrade"),
    HTTP_LIT("trailer"),
    HTTP_LIT("proxy-authorization"),
    HTTP_LIT("proxy-authenticate"),
    HTTP_LIT("content-length"),
    HTTP_LIT("sec-websocket-key"),
    HTTP_LIT("sec-websocket-version"),
    HTTP_LIT("sec-websocket-extensions"),
    HTTP_LIT("sec-websocket-accept"),
    HTTP_LIT("sec-websocket-protocol"),
    HTTP_LIT("host"),
    HTTP_LIT("x-request-id"),
    HTTP_LIT("x-auth-subject"),
    HTTP_LIT("x-forwarded-for"),
};

bool http_header_is_withheld(const struct http_request *r, unsigned i, bool trust_forwarded)
{
	if (i >= r->n_headers)
		return true;
	struct http_str name = r->headers[i].name;
	for (size_t k = 0; k < sizeof(http_withheld) / sizeof(http_withheld[0]); k++) {
		if (http_name_is(name, http_withheld[k]))
			return true;
	}
	if (!trust_forwarded && http_name_is(name, HTTP_LIT("x-forwarded-proto")))
		return true;
	/* RFC 9110 7.6.1: a proxy removes every field the Connection header names. The cost
	 * is bounded by the head: at most HTTP_MAX_HEADERS scans of the Connection values. */
	for (unsigned k = 0; k < r->n_headers; k++) {
		if (http_name_is(r->headers[k].name, HTTP_LIT("connection")) &&
		    http_list_has_token(r->headers[k].value, name, true))
			return true;
	}
	return false;
}

/* True when header i of u->req goes to the backend as sent. */
static bool http_upgrade_forwards(const struct http_upgrade_out *u, unsigned i)
{
	if (u->drop != NULL && http_header_set_has(u->drop, i))
		return false;
	return !http_header_is_withheld(u->req, i, u->trust_forwarded);
}

static bool http_is_token(struct http_str s)
{
	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		if (!http_is_tchar((unsigned char)s.p[i]))
			return false;
	}
	return true;
}

/* "name: value\r\n" for a name given as an http_str, checked to be a token. */
static void http_put_header(struct http_wbuf *w, struct http_str name, struct http_str value)
{
	if (!http_is_token(name)) {
		w->failed = true;
		return;
	}
	http_put_str(w, name);
	HTTP_PUT_LIT(w, ": ");
	http_put_value(w, value.p, value.n);
	HTTP_PUT_LIT(w, "\r\n");
}

int http_write_upgrade_request(char *buf, size_t cap, const struct http_upgrade_out *u)
{
	struct http_wbuf w = {buf, cap, 0, false};
	const struct http_request *r = u->req;
	if (r == NULL || r->n_headers > HTTP_MAX_HEADERS)
		return -1;

	/* The target is copied into the request line, where SP or a control byte would
	 * change its meaning: only visible ASCII passes. */
	struct http_str parts[3] = {u->path_prefix, u->path, u->query};
	for (size_t k = 0; k < 3; k++) {
		for (size_t i = 0; i < parts[k].n; i++) {
			if (parts[k].p[i] <= 0x20 || parts[k].p[i] >= 0x7f)
				return -1;
		}
	}

	/* RFC 6455 4.1 (2): GET, origin-form, HTTP/1.1. */
	HTTP_PUT_LIT(&w, "GET ");
	http_put_str(&w, u->path_prefix);
	if (u->path.n > 0)
		http_put_str(&w, u->path);
	else
		HTTP_PUT_LIT(&w, "/");
	if (u->query.n > 0) {
		HTTP_PUT_LIT(&w, "?");
		http_put_str(&w, u->query);
	}
	HTTP_PUT_LIT(&w, " HTTP/1.1\r\n");
	/* RFC 9112 3.2: Host is always sent, empty if we have none. */
	http_put_field(&w, "Host", r->host);
	HTTP_PUT_LIT(&w, "Upgrade: websocket\r\nConnection: Upgrade\r\n");
	http_put_field(&w, "Sec-WebSocket-Key", u->key);
	HTTP_PUT_LIT(&w, "Sec-WebSocket-Version: 13\r\n");
	http_put_field_opt(&w, "Sec-WebSocket-Protocol", u->protocol);

	/* End-to-end fields in the client's order (RFC 9110 5.3: the order of lines with the
	 * same name is significant, and some backends read others in order too). */
	bool client_proto = false;
	for (unsigned i = 0; i < r->n_headers; i++) {
		if (!http_upgrade_forwards(u, i))
			continue;
		const struct http_header *h = &r->headers[i];
		if (http_name_is(h->name, HTTP_LIT("x-forwarded-proto")))
			client_proto = true;
		http_put_header(&w, h->name, h->value);
	}
	for (unsigned i = 0; i < u->n_extra; i++)
		http_put_header(&w, u->extra[i].name, u->extra[i].value);

	http_put_field_opt(&w, "X-Auth-Subject", u->auth_subject);

	/* X-Forwarded-For: with trust_forwarded, the client's values (every line, in order:
	 * RFC 9110 5.3 makes them one list) and then ours. A line the caller dropped or the
	 * Connection header named stays out of the list too. */
	bool xff = false;
	if (u->trust_forwarded) {
		for (unsigned i = 0; i < r->n_headers; i++) {
			const struct http_header *h = &r->headers[i];
			if (h->value.n == 0 || !http_name_is(h->name, HTTP_LIT("x-forwarded-for")))
				continue;
			if (u->drop != NULL && http_header_set_has(u->drop, i))
				continue;
			bool named = false;
			for (unsigned k = 0; k < r->n_headers && !named; k++)
				named = http_name_is(r->headers[k].name, HTTP_LIT("connection")) &&
				        http_list_has_token(r->headers[k].value, h->name, true);
			if (named)
				continue;
			if (xff)
				HTTP_PUT_LIT(&w, ", ");
			else
				HTTP_PUT_LIT(&w, "X-Forwarded-For: ");
			http_put_value(&w, h->value.p, h->value.n);
			xff = true;
		}
	}
	if (u->forwarded_for.n > 0) {
		if (xff)
			HTTP_PUT_LIT(&w, ", ");
		else
			HTTP_PUT_LIT(&w, "X-Forwarded-For: ");
		http_put_value(&w, u->forwarded_for.p, u->forwarded_for.n);
		xff = true;
	}
	if (xff)
		HTTP_PUT_LIT(&w, "\r\n");
	if (!client_proto)
		http_put_field_opt(&w, "X-Forwarded-Proto", u->forwarded_proto);
	http_put_field_opt(&w, "X-Request-Id", u->request_id);
	HTTP_PUT_LIT(&w, "\r\n");
	return http_done(&w);
}

int http_join_header(const struct http_request *r, const char *name, char *buf, size_t cap)
{
	size_t name_len = strlen(name), n = 0;
	for (unsigned i = 0; i < r->n_headers; i++) {
		const struct http_header *h = &r->headers[i];
		if (h->name.n != name_len || !http_mem_eq(h->name.p, name, name_len, true) ||
		    h->value.n == 0)
			continue;
		size_t need = h->value.n + (n > 0 ? 2 : 0);
		if (need > cap - n)
			return -1;
		if (n > 0) {
			buf[n++] = ',';
			buf[n++] = ' ';
		}
		memcpy(buf + n, h->value.p, h->value.n);
		n += h->value.n;
	}
	return (int)n;
}
