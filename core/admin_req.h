#ifndef WSG_CORE_ADMIN_REQ_H
#define WSG_CORE_ADMIN_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The admin API's request targets (SPEC.md "Admin API"): which call a path names, the
 * connection id in it, and the query parameters, percent-decoded into the caller's struct. A
 * pure function of its input like the proto/ parsers (no allocation, clock, logging or I/O),
 * so the fuzz target and the unit tests run it without a gateway; it lives in core/ only
 * because the calls it knows are the core's. */

enum admin_call_kind {
	ADMIN_CALL_NONE = 0, /* not a path of these calls (the probes and /metrics are admin.c's) */
	ADMIN_CALL_ROUTES,   /* /routes */
	ADMIN_CALL_CONNS,    /* /connections */
	ADMIN_CALL_CONN,     /* /connections/ID */
	ADMIN_CALL_CONN_MSGS, /* /connections/ID/messages */
	ADMIN_CALL_BROADCAST, /* /broadcast */
};

/* Query parameters, as bits of admin_req.have. */
enum admin_param {
	ADMIN_P_ROUTE = 1u << 0,
	ADMIN_P_PEER = 1u << 1,
	ADMIN_P_SUBJECT = 1u << 2,
	ADMIN_P_LIMIT = 1u << 3,
	ADMIN_P_CODE = 1u << 4,
	ADMIN_P_REASON = 1u << 5,
	ADMIN_P_SCOPE = 1u << 6,
};

/* Buffer sizes, NUL included. */
#define ADMIN_ROUTE_MAX     1024u /* route= (a route path from the config) */
#define ADMIN_PEER_MAX      64u   /* peer=: "[v6]:port" fits in 48 */
#define ADMIN_SUBJECT_MAX   256u  /* subject=: JWT_SUB_MAX, a sub of up to 255 bytes */
#define ADMIN_REASON_MAX    124u  /* 123 bytes + NUL (RFC 6455 5.5: a close payload <= 125) */
#define ADMIN_NODE_MAX      33u   /* the node part of an id, NUL included: a --node-id */
#define ADMIN_LIMIT_MAX     10000u
#define ADMIN_LIMIT_DEFAULT 1000u

struct admin_req {
	enum admin_call_kind call;
	/* ADMIN_CALL_CONN and _CONN_MSGS: the id "NODE.N", split. A path whose id is not of
	 * that shape (or whose node part is too long to be any node's) is ADMIN_REQ_NOT_FOUND:
	 * an unknown connection. */
	char node[ADMIN_NODE_MAX]; /* NUL-terminated */
	uint64_t n;
	unsigned have; /* enum admin_param: which parameters were given */
	/* Decoded values, NUL-terminated; *_len excludes the NUL. */
	char route[ADMIN_ROUTE_MAX];
	size_t route_len;
	char peer[ADMIN_PEER_MAX];
	size_t peer_len;
	char subject[ADMIN_SUBJECT_MAX];
	size_t subject_len;
	char reason[ADMIN_REASON_MAX];
	size_t reason_len;
	uint32_t limit;     /* 1..ADMIN_LIMIT_MAX; ADMIN_LIMIT_DEFAULT when not given */
	uint16_t code;      /* a close code valid on the wire (ws_close_code_is_valid); 1000 */
	bool scope_cluster; /* scope=cluster (scope=local is the default) */
};

enum admin_req_rc {
	ADMIN_REQ_OK = 0,
	ADMIN_REQ_NOT_FOUND = -1, /* 404: no such call, or an id that cannot be a connection's */
	ADMIN_REQ_BAD = -2,       /* 400: *why says which parameter */
};

/* Parses a request target already split by the HTTP parser: path [path, path + path_len)
 * and query [query, query + query_len) (without the '?'; query_len 0 when none). Every
 * parameter is key=value, '&'-separated, percent-decoded (RFC 3986 2.1; '+' is a plus, not a
 * space: subjects are often e-mail addresses); an unknown key, a key given twice, a bad
 * %-escape, a decoded byte below 0x20 or 0x7f, a value over its maximum, a limit outside
 * 1..ADMIN_LIMIT_MAX, a code not valid on the wire (RFC 6455 7.4) or a reason that is not
 * UTF-8 is ADMIN_REQ_BAD with a short static reason in *why. Which parameters a call accepts
 * is the caller's to check (out->have). Reads nothing past either buffer; out is written in
 * full. */
enum admin_req_rc admin_req_parse(const char *path, size_t path_len, const char *query,
                                  size_t query_len, struct admin_req *out, const char **why);

/* "route" for ADMIN_P_ROUTE, and so on: the first parameter of `bits`, for messages. */
const char *admin_param_name(unsigned bits);

enum admin_method {
	ADMIN_M_OTHER = 0,
	ADMIN_M_GET,
	ADMIN_M_HEAD,
	ADMIN_M_PUT,
	ADMIN_M_POST,
	ADMIN_M_DELETE,
	ADMIN_M_OPTIONS,
};

/* The method token [p, p + n) (case-sensitive, RFC 9110 9.1). */
enum admin_method admin_method_of(const char *p, size_t n);

/* Whether a parsed target may be called with m: 0; 405 with the methods it takes in *allow;
 * 400 with one line in why naming a parameter the call does not take (or saying what is
 * missing). *allow is set whenever the call exists. */
int admin_req_check(const struct admin_req *rq, enum admin_method m, const char **allow, char *why,
                    size_t why_len);

#endif
