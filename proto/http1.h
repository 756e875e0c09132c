#ifndef WSG_PROTO_HTTP1_H
#define WSG_PROTO_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/limits.h"

/* HTTP/1.1 heads: the client's upgrade request, our answers to it, the upgrade request we
 * send a backend and the backend's response. Parsers are incremental and zero-copy: every
 * http_str points into the caller's buffer and is valid only while that buffer is. */

struct http_str {
	const char *p;
	size_t n; /* 0 when absent */
};

struct http_header {
	struct http_str name;  /* as sent; compare case-insensitively */
	struct http_str value; /* leading and trailing whitespace removed */
};

enum http_rc {
	HTTP_RC_OK = 0,    /* a whole head parsed; *used bytes are the head, CRLFCRLF included */
	HTTP_RC_MORE = -1, /* the head is not complete yet; keep the bytes, call again */
	HTTP_RC_FAIL = -2, /* reject; http_parser_reject() says with what */
};

/* Why a client is turned away before the upgrade; each maps to exactly one status of the
 * SPEC.md table and one metric label. Order is the order checks run in. */
enum http_reject {
	HTTP_REJ_NONE = 0,
	HTTP_REJ_MALFORMED,       /* 400 malformed request line or header, Host missing */
	HTTP_REJ_HEAD_TOO_LARGE,  /* 431 over 16 KiB or over 100 header lines */
	HTTP_REJ_HTTP_VERSION,    /* 505 not HTTP/1.1 */
	HTTP_REJ_NO_ROUTE,        /* 404 */
	HTTP_REJ_METHOD,          /* 405 + Allow: GET */
	HTTP_REJ_NOT_UPGRADE,     /* 426 + Upgrade: websocket */
	HTTP_REJ_WS_VERSION,      /* 426 + Sec-WebSocket-Version: 13 */
	HTTP_REJ_BAD_KEY,         /* 400 missing or malformed Sec-WebSocket-Key */
	HTTP_REJ_UNAUTHORIZED,    /* 401 + WWW-Authenticate: Bearer (no token) */
	HTTP_REJ_INVALID_TOKEN,   /* 401 + WWW-Authenticate: Bearer error="invalid_token" */
	HTTP_REJ_ORIGIN,          /* 403 */
	HTTP_REJ_RATE_LIMITED,    /* 429 + Retry-After */
	HTTP_REJ_OVERLOADED,      /* 503 over --max-conns, out of slab, or draining */
	HTTP_REJ_BAD_GATEWAY,     /* 502 */
	HTTP_REJ_GATEWAY_TIMEOUT, /* 504 */
	HTTP_REJ_COUNT
};

/* The status code for r (0 for HTTP_REJ_NONE). */
uint16_t http_reject_status(enum http_reject r);
/* Stable lower-case label for logs and wsgate_handshake_rejections_total{reason}:
 * "malformed", "head_too_large", "http_version", "no_route", "method", "not_upgrade",
 * "ws_version", "bad_key", "unauthorized", "invalid_token", "origin", "rate_limited", "overloaded",
 * "bad_gateway", "gateway_timeout" ("none" for HTTP_REJ_NONE). */
const char *http_reject_name(enum http_reject r);

#define HTTP_MAX_HEADERS 100

/* Parser state, embedded by the caller (a conn). Fields are private. */
struct http_parser {
	size_t _scanned;          /* bytes already searched for the end of the head */
	enum http_reject _reject; /* set when a call returned HTTP_RC_FAIL */
};

void http_parser_init(struct http_parser *p);
/* After HTTP_RC_FAIL: what to answer. */
enum http_reject http_parser_reject(const struct http_parser *p);

struct http_request {
	struct http_str method;
	struct http_str target; /* origin-form as sent: path and optional ?query */
	struct http_str path;   /* target up to '?' */
	struct http_str query;  /* after '?', without it */
	uint8_t version_minor;  /* HTTP/1.x: x */
	unsigned n_headers;
	struct http_header headers[HTTP_MAX_HEADERS];
	/* First occurrence of the headers the gateway acts on; n == 0 when absent. */
	struct http_str host;
	struct http_str ws_key;
	struct http_str ws_version;
	struct http_str ws_protocol; /* all offers joined only if sent in one line; see headers[] */
	struct http_str ws_extensions;
	struct http_str origin;
	struct http_str cookie;
	struct http_str user_agent;
	struct http_str authorization;
	struct http_str x_forwarded_for;
	bool connection_upgrade; /* some Connection header lists the token "upgrade" */
	bool upgrade_websocket;  /* some Upgrade header lists the token "websocket" */
};

/* Parses a request head from [buf, buf + len): everything received so far on the conn.
 * A re-call with more bytes appended resumes the search for the end of the head where the
 * previous call stopped instead of rescanning (slowloris); the head is tokenised once, when
 * complete. FAIL reasons: HTTP_REJ_MALFORMED (bad request line, bad header syntax, obs-fold,
 * bare CR, duplicate Host or Sec-WebSocket-Key, missing Host), HTTP_REJ_HEAD_TOO_LARGE (no
 * end within lim->head_max bytes, or more than lim->headers_max header lines),
 * HTTP_REJ_HTTP_VERSION (anything but HTTP/1.1). Lines end with CRLF; a bare LF is accepted as
 * a line end (RFC 9112 2.2). Never allocates; never reads past buf + len. FAIL is sticky (every
 * later call fails the same way); after OK the parser is ready for another head. */
enum http_rc http_parse_request(struct http_parser *p, const char *buf, size_t len,
                                const struct wsg_limits *lim, struct http_request *out,
                                size_t *used);

/* http_parse_request for the admin listener, whose clients are load-balancer health checks
 * (HAProxy's `option httpchk` sends `OPTIONS / HTTP/1.0`, many probes `HEAD /healthz
 * HTTP/1.0`): exactly the same parsing, limits and rejections, except that HTTP/1.0 is
 * accepted too (out->version_minor says which) and an HTTP/1.0 request may omit Host (RFC
 * 1945 has none; out->host.n is then 0). HTTP/1.1 still needs Host; HTTP/0.9, 1.2 and 2.0 are
 * still HTTP_REJ_HTTP_VERSION. Never used for client upgrades: RFC 6455 4.1 wants 1.1. */
enum http_rc http_parse_request_http10(struct http_parser *p, const char *buf, size_t len,
                                       const struct wsg_limits *lim, struct http_request *out,
                                       size_t *used);

/* The upgrade checks of the SPEC.md table, in its order, on a parsed request: method GET
 * (HTTP_REJ_METHOD), Upgrade: websocket and Connection: upgrade (HTTP_REJ_NOT_UPGRADE),
 * Sec-WebSocket-Version: 13 (HTTP_REJ_WS_VERSION), a key that decodes to 16 bytes
 * (HTTP_REJ_BAD_KEY). Returns HTTP_REJ_NONE when the request is a valid upgrade. */
enum http_reject http_check_upgrade(const struct http_request *r);

/* True when the comma-separated list (as in Connection or Sec-WebSocket-Protocol) holds
 * token; nocase compares ASCII case-insensitively (Connection, Upgrade), otherwise exactly
 * (subprotocol names). Whitespace around elements is ignored. */
bool http_list_has_token(struct http_str list, struct http_str token, bool nocase);

/* Joins the values of every `name` header of r (case-insensitive) with ", " into buf, for
 * list headers a client may split over several lines (Sec-WebSocket-Protocol). Returns the
 * length (0 when absent), or -1 when it does not fit in cap. */
int http_join_header(const struct http_request *r, const char *name, char *buf, size_t cap);

/* Writers return the number of bytes written (no NUL), or -1 when cap is too small or a
 * value would break the head (a CR, LF or other control byte: header injection); on -1 the
 * buffer holds garbage up to cap. They never write past cap. */

/* An error answer for r: status line, the extra header SPEC.md names for it (Allow,
 * Upgrade, Sec-WebSocket-Version, WWW-Authenticate, Retry-After with retry_after_s),
 * Content-Type: text/plain, Content-Length, Connection: close and a one-line body. */
int http_write_reject(char *buf, size_t cap, enum http_reject r, unsigned retry_after_s);

/* Relays a backend's non-101 answer as status + reason phrase (a standard phrase when the
 * backend's is empty or unprintable) with Connection: close and a one-line body. */
int http_write_status(char *buf, size_t cap, uint16_t status, struct http_str reason);

/* 101 Switching Protocols with Upgrade, Connection, Sec-WebSocket-Accept and, when
 * subprotocol.n > 0, Sec-WebSocket-Protocol. */
int http_write_101(char *buf, size_t cap, const char *accept, struct http_str subprotocol);

/* A set of header positions (indices into http_request.headers[]), for the headers a caller
 * wants withheld from the backend: the auth layer adds the Authorization or Cookie line it took
 * a token from. Zero-initialise it (or http_header_set_init) before use. */
struct http_header_set {
	uint64_t bits[(HTTP_MAX_HEADERS + 63) / 64];
};

void http_header_set_init(struct http_header_set *s);
/* Adds index i; an index >= HTTP_MAX_HEADERS is ignored (no such header can exist). */
void http_header_set_add(struct http_header_set *s, unsigned i);
bool http_header_set_has(const struct http_header_set *s, unsigned i);

/* What the gateway sends a backend. Every http_str but key and req may be empty (n == 0). */
struct http_upgrade_out {
	struct http_str path_prefix; /* the backend URL's own path, no trailing '/' ("" if none) */
	struct http_str path;        /* client path (after strip-prefix), starts with '/' */
	struct http_str query;       /* without '?'; the client's, unchanged (or token removed) */
	struct http_str key;         /* our Sec-WebSocket-Key for this backend */
	struct http_str protocol; /* the client's Sec-WebSocket-Protocol offer, all lines joined */
	const struct http_request *req;     /* borrowed: the parsed client request; its Host and
	                                     * end-to-end headers are forwarded. Required. */
	const struct http_header_set *drop; /* borrowed, NULL for none: more of req's headers to
	                                     * withhold (a consumed token's line) */
	const struct http_header *extra;    /* borrowed, n_extra of them: written after the
	                                     * client's headers (a Cookie line rewritten without
	                                     * the token it carried) */
	unsigned n_extra;
	bool trust_forwarded;            /* --trust-forwarded: keep the client's X-Forwarded-For
	                                  * (appended to) and X-Forwarded-Proto */
	struct http_str auth_subject;    /* X-Auth-Subject; empty: none is sent */
	struct http_str forwarded_for;   /* the client's address, appended / sole value */
	struct http_str forwarded_proto; /* "http" or "https" */
	struct http_str request_id;      /* X-Request-Id text (the tunnel id); empty: none sent */
};

/* True when header i of r is one the gateway never forwards as sent: hop-by-hop (RFC 9110
 * 7.6.1: Connection, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Upgrade, Trailer,
 * Proxy-Authorization, Proxy-Authenticate, and every field a Connection header names), a body
 * framing field (Content-Length: an upgrade GET has no body), a handshake field the gateway
 * negotiates itself (Sec-WebSocket-Key, -Version, -Extensions, -Accept, -Protocol: the offer
 * is sent once, joined, from u.protocol), Host (written first from r->host), or one the
 * gateway sets: X-Request-Id, X-Auth-Subject and X-Forwarded-For always (a client cannot
 * forge them; with trust_forwarded the client's X-Forwarded-For values are joined into ours
 * rather than forwarded as they are), X-Forwarded-Proto unless trust_forwarded (with it, the
 * client's goes as sent). Field names compare case-insensitively. i >= r->n_headers is true
 * (nothing to forward). */
bool http_header_is_withheld(const struct http_request *r, unsigned i, bool trust_forwarded);

/* GET <prefix><path>[?query] HTTP/1.1, then Host (from u->req), Upgrade, Connection,
 * Sec-WebSocket-Key, Sec-WebSocket-Version: 13, Sec-WebSocket-Protocol (when u->protocol is
 * not empty), then every header of u->req that is neither withheld (http_header_is_withheld)
 * nor in u->drop, in the client's order, name and value as parsed, then u->extra, then
 * X-Auth-Subject, X-Forwarded-For (with trust_forwarded, first the values of the client's
 * X-Forwarded-For lines that are not in u->drop nor named by Connection; then forwarded_for),
 * X-Forwarded-Proto (omitted when trust_forwarded and the client sent one) and X-Request-Id. No
 * Sec-WebSocket-Extensions is ever sent. A value with a control byte, a name that is not a token
 * (extra) or a target byte outside visible ASCII gives -1, as does a head that does not fit in cap
 * (the caller answers 502). With cap HTTP_UPGRADE_OUT_MAX any client head the parser accepts (<=
 * WSG_HEAD_MAX_DEFAULT) fits, provided the caller's own fields (path_prefix, auth_subject, extra,
 * request_id, forwarded_for) stay within HTTP_UPGRADE_OUT_CALLER_MAX bytes in total. */
int http_write_upgrade_request(char *buf, size_t cap, const struct http_upgrade_out *u);

/* Size budget of http_write_upgrade_request's output over the client's head:
 * - fixed lines we add: "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key"
 *   with a 24-byte key, "Sec-WebSocket-Version: 13", the names and separators of
 *   Sec-WebSocket-Protocol, X-Auth-Subject, X-Forwarded-For (", " before ours),
 *   X-Forwarded-Proto and X-Request-Id: under 300 bytes;
 * - each forwarded line may grow by 2 bytes (a bare LF becomes CRLF, "name:value" gets a
 *   space): 2 * HTTP_MAX_HEADERS = 200 bytes; the joined Sec-WebSocket-Protocol offer is
 *   never longer than the lines it joins;
 * - the caller's own fields: HTTP_UPGRADE_OUT_CALLER_MAX, counting path_prefix,
 *   auth_subject, request_id and forwarded_for by their length and each extra header as its
 *   whole line (name, value and 4 bytes of ": " and CRLF).
 * tests/unit/proto/test_http1.c writes the worst case (a 16 KiB head of 100 bare-LF lines
 * without spaces, and a full caller budget) into exactly HTTP_UPGRADE_OUT_MAX bytes. */
#define HTTP_UPGRADE_OUT_CALLER_MAX (3u * 1024u)
#define HTTP_UPGRADE_OUT_MAX        (WSG_HEAD_MAX_DEFAULT + 4u * 1024u)

struct http_response {
	uint16_t status;
	struct http_str reason;
	uint8_t version_minor;
	unsigned n_headers;
	struct http_header headers[HTTP_MAX_HEADERS];
	struct http_str ws_accept;
	struct http_str ws_protocol;
	struct http_str ws_extensions;
	bool connection_upgrade;
	bool upgrade_websocket;
};

/* Parses a backend's response head, incrementally like http_parse_request. FAIL means the
 * backend spoke something that is not an HTTP/1.x response head within the limits
 * (http_parser_reject() is then HTTP_REJ_BAD_GATEWAY). */
enum http_rc http_parse_response(struct http_parser *p, const char *buf, size_t len,
                                 const struct wsg_limits *lim, struct http_response *out,
                                 size_t *used);

/* True when a parsed 101 completes our upgrade: Upgrade: websocket, Connection: upgrade, the
 * Sec-WebSocket-Accept for `key`, no extension, and a subprotocol (if any) that the client's
 * `offered` list contains. */
bool http_response_is_upgrade(const struct http_response *r, struct http_str key,
                              struct http_str offered);

#endif
