#ifndef WSG_CORE_ADMISSION_TOKEN_H
#define WSG_CORE_ADMISSION_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/jwt.h"
#include "proto/http1.h"

/* Bearer tokens at the handshake (SPEC.md "Access control", Tokens): the key set the gateway
 * verifies against, published like the TLS context set; where a client's token is found
 * (Authorization: Bearer, then the access_token query parameter, then the access_token
 * cookie); its verification once per handshake; and the token's removal from the request
 * the backend gets. Worker threads verify; the control thread builds and publishes. */

struct wsg_config;
struct worker;
struct rt_route;
struct conn;

/* An immutable key set with its policy (iss, aud, leeway) and the gateway-wide --auth. */
struct admission_auth;

/* Builds the set cfg names, reading every key file now. NULL with *failed false when cfg
 * names no key (auth is then off everywhere); NULL with *failed true and one line in err
 * naming the bad flag and file. Control thread (or main, for --check-config). */
struct admission_auth *admission_auth_new(const struct wsg_config *cfg, bool *failed, char *err,
                                          size_t err_len);
void admission_auth_free(struct admission_auth *a);
/* Makes next (may be NULL) the set new handshakes use; the old one is freed after every
 * worker passed a quiescent point (rt_retire_object). Control thread. */
void admission_auth_publish(struct admission_auth *next);
/* Number of keys in the published set (0: none), for the reload log line. Control thread. */
size_t admission_auth_key_count(void);

/* Where a verified token was found, so that it can be withheld from the backend. */
enum admission_token_where {
	ADM_TOKEN_NONE = 0,
	ADM_TOKEN_HEADER, /* Authorization: Bearer; header is its line */
	ADM_TOKEN_QUERY,  /* an access_token query parameter */
	ADM_TOKEN_COOKIE, /* an access_token cookie; header is its Cookie line */
};

/* What the handshake learnt from a client's token; part of the dial state (the views point
 * into the client's head, which stays put until the 101). */
struct admission_token {
	uint8_t where;      /* enum admission_token_where; NONE when not verified or not sent */
	uint16_t header;    /* index into the request's headers[] for HEADER and COOKIE */
	uint64_t expire_ms; /* worker clock time when exp + --jwt-leeway passes; 0: no token */
	uint16_t sub_len;
	char sub[JWT_SUB_MAX]; /* the verified sub, NUL-terminated; "" when none */
};

/* The token check for a request on route: HTTP_REJ_NONE (admitted: auth off for the route, or
 * optional with no token, or a valid token, *tok filled), HTTP_REJ_UNAUTHORIZED (required and
 * no token) or HTTP_REJ_INVALID_TOKEN (a token that does not verify). Counts and logs a
 * failure (its reason, never the token). */
int admission_token_check(struct worker *w, const struct conn *c, const struct rt_route *route,
                          const struct http_request *req, struct admission_token *tok);

/* Fills the parts of u that carry the client's token and subject: X-Auth-Subject from tok,
 * and, unless route has forward-token=true, the token withheld from where it was found (its
 * Authorization line in drop; the query rewritten without access_token into buf; its Cookie
 * line in drop and rewritten without the access_token cookie as *extra). Returns 0, or -1
 * when buf (cap bytes) is too small. u->query must already hold the client's query. */
int admission_token_apply(const struct admission_token *tok, const struct rt_route *route,
                          const struct http_request *req, struct http_upgrade_out *u,
                          struct http_header_set *drop, struct http_header *extra, char *buf,
                          size_t cap);

/* The token found in req per SPEC.md's order (Bearer header, query, cookie), for the tests
 * and the fuzz target: where (ADM_TOKEN_NONE when none) and its bytes as a view into req. */
enum admission_token_where admission_token_find(const struct http_request *req,
                                                struct http_str *token, uint16_t *header);

#endif
