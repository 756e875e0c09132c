/* core/admission_token.c: bearer tokens at the handshake (see admission_token.h).
 *
 * Owns: the published key set (struct admission_auth behind one atomic pointer, swapped on
 * SIGHUP and freed after a grace period like the TLS context set), finding a client's token
 * in its parsed head, verifying it once (auth/jwt.c, time passed in), and the rewrite that
 * keeps a verified token out of the backend's request.
 *
 * Order (SPEC.md): the Authorization header with the Bearer scheme, then the access_token
 * query parameter, then the access_token cookie; the first one found is the token, and a bad
 * one is not made good by a later one (a client sending two tokens gets the first judged).
 * The query value is taken as sent, without percent-decoding: a JWS compact token is
 * base64url and dots, which no client needs to escape, and decoding would let one token have
 * many spellings. A verified token is withheld from the backend where it was found: every
 * access_token parameter of the query (or every access_token cookie of its Cookie line), so
 * that a repeated parameter cannot smuggle a copy past the rewrite.
 *
 * The key set is re-read on SIGHUP and published whole; a handshake loads the pointer once
 * and holds it only within the worker's loop turn (quiescent-state reclamation), so a reload
 * never frees keys under a verification.
 *
 * Rejected: keeping the keys in each route table's ext (a reload without --config would then
 * have to rebuild the table only to re-read key files); a cache of verified tokens (measured
 * in docs/BENCHMARKS.md: one verification costs less than a TLS handshake, so a cache would
 * add a lock-free table and a hash of attacker-chosen input to save little). */
#include "core/admission_token.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/worker.h"
#include "router/rt.h"

struct admission_auth {
	struct jwt_keys *keys;
	struct jwt_policy pol;
	char *iss, *aud;
	enum cfg_auth_mode mode; /* the gateway-wide --auth, default applied */
};

static _Atomic(struct admission_auth *) admission_auth_cur;

void admission_auth_free(struct admission_auth *a)
{
	if (a == NULL)
		return;
	jwt_keys_free(a->keys);
	free(a->iss);
	free(a->aud);
	free(a);
}

static void admission_auth_free_void(void *p)
{
	admission_auth_free(p);
}

struct admission_auth *admission_auth_new(const struct wsg_config *cfg, bool *failed, char *err,
                                          size_t err_len)
{
	*failed = false;
	if (!config_has_jwt_key(cfg))
		return NULL;
	*failed = true;
	struct admission_auth *a = calloc(1, sizeof(*a));
	if (a == NULL || (a->keys = jwt_keys_new()) == NULL) {
		free(a);
		snprintf(err, err_len, "wsgate: out of memory");
		return NULL;
	}
	char why[512];
	if (cfg->jwt_secret != NULL &&
	    jwt_keys_add_secret(a->keys, (const uint8_t *)cfg->jwt_secret, strlen(cfg->jwt_secret),
	                        NULL, why, sizeof(why)) != 0) {
		snprintf(err, err_len, "wsgate: %s: %s",
		         cfg->jwt_secret_file ? "--jwt-secret-file" : "--jwt-secret", why);
		goto fail;
	}
	for (unsigned i = 0; i < cfg->n_jwt_public_keys; i++)
		if (jwt_keys_add_pem_file(a->keys, cfg->jwt_public_keys[i], NULL, why,
		                          sizeof(why)) != 0) {
			snprintf(err, err_len, "wsgate: --jwt-public-key: %s", why);
			goto fail;
		}
	if (cfg->jwt_jwks != NULL &&
	    jwt_keys_add_jwks_file(a->keys, cfg->jwt_jwks, why, sizeof(why)) != 0) {
		snprintf(err, err_len, "wsgate: --jwt-jwks: %s", why);
		goto fail;
	}
	if (jwt_keys_count(a->keys) == 0) {
		/* A JWKS whose every key is for encryption ("use": "enc") verifies nothing: an
		 * operator asking for tokens must not get a gateway that refuses everyone
		 * silently. */
		snprintf(err, err_len, "wsgate: --jwt-jwks: \"%s\": no signature key",
		         cfg->jwt_jwks ? cfg->jwt_jwks : "");
		goto fail;
	}
	if ((cfg->jwt_issuer && (a->iss = strdup(cfg->jwt_issuer)) == NULL) ||
	    (cfg->jwt_audience && (a->aud = strdup(cfg->jwt_audience)) == NULL)) {
		snprintf(err, err_len, "wsgate: out of memory");
		goto fail;
	}
	a->pol.iss = a->iss;
	a->pol.aud = a->aud;
	uint64_t leeway_s = cfg->jwt_leeway_ms / 1000u;
	a->pol.leeway_s = leeway_s > UINT32_MAX ? UINT32_MAX : (uint32_t)leeway_s;
	a->mode = config_auth_mode(cfg);
	*failed = false;
	return a;
fail:
	admission_auth_free(a);
	return NULL;
}

void admission_auth_publish(struct admission_auth *next)
{
	struct admission_auth *old =
	    atomic_exchange_explicit(&admission_auth_cur, next, memory_order_acq_rel);
	if (old != NULL && rt_retire_object(old, admission_auth_free_void) != 0)
		LOG_WARN("auth_retire", "why=\"out of memory: the old key set is leaked\"");
}

size_t admission_auth_key_count(void)
{
	const struct admission_auth *a =
	    atomic_load_explicit(&admission_auth_cur, memory_order_acquire);
	return a != NULL ? jwt_keys_count(a->keys) : 0;
}

static bool adm_str_eq(struct http_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool adm_name_is(struct http_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && strncasecmp(s.p, lit, n) == 0;
}

/* The next element of a list separated by sep, OWS around it trimmed: [*pos, end). */
static bool adm_next_item(const char *p, size_t n, size_t *pos, char sep, struct http_str *item)
{
	if (*pos > n)
		return false;
	size_t i = *pos, j = i;
	while (j < n && p[j] != sep)
		j++;
	*pos = j + 1;
	size_t a = i, b = j;
	while (a < b && (p[a] == ' ' || p[a] == '\t'))
		a++;
	while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t'))
		b--;
	*item = (struct http_str){p + a, b - a};
	return true;
}

/* name=value: the value of item when its name is name, else false. */
static bool adm_pair_value(struct http_str item, const char *name, struct http_str *value)
{
	size_t n = strlen(name);
	if (item.n <= n || memcmp(item.p, name, n) != 0 || item.p[n] != '=')
		return false;
	*value = (struct http_str){item.p + n + 1, item.n - n - 1};
	return true;
}

enum admission_token_where admission_token_find(const struct http_request *req,
                                                struct http_str *token, uint16_t *header)
{
	/* RFC 6750 2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive
	 * (RFC 9110 11.1). Another scheme (Basic for a backend) is not ours: left alone. */
	for (unsigned i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		if (!adm_name_is(h->name, "authorization") || h->value.n < 6 ||
		    strncasecmp(h->value.p, "bearer", 6) != 0)
			continue;
		if (h->value.n > 6 && h->value.p[6] != ' ')
			continue; /* "Bearerx": another scheme */
		size_t k = 6;
		while (k < h->value.n && h->value.p[k] == ' ')
			k++;
		*token = (struct http_str){h->value.p + k, h->value.n - k};
		*header = (uint16_t)i;
		return ADM_TOKEN_HEADER;
	}
	struct http_str item, v;
	size_t pos = 0;
	while (req->query.n > 0 && adm_next_item(req->query.p, req->query.n, &pos, '&', &item))
		if (adm_pair_value(item, "access_token", &v)) {
			*token = v;
			*header = 0;
			return ADM_TOKEN_QUERY;
		}
	for (unsigned i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		if (!adm_name_is(h->name, "cookie"))
			continue;
		pos = 0;
		while (adm_next_item(h->value.p, h->value.n, &pos, ';', &item))
			if (adm_pair_value(item, "access_token", &v)) {
				/* RFC 6265 4.1.1: a cookie value may be in double quotes. */
				if (v.n >= 2 && v.p[0] == '"' && v.p[v.n - 1] == '"')
					v = (struct http_str){v.p + 1, v.n - 2};
				*token = v;
				*header = (uint16_t)i;
				return ADM_TOKEN_COOKIE;
			}
	}
	*token = (struct http_str){NULL, 0};
	*header = 0;
	return ADM_TOKEN_NONE;
}

static const char *const adm_where_name[] = {"none", "header", "query", "cookie"};

static void adm_log_failure(const struct conn *c, const struct rt_route *route, const char *reason,
                            enum admission_token_where where)
{
	/* The reason, the client and the route: enough to find a misconfigured issuer or a
	 * forging client; never the token (it may be a valid one sent to the wrong route). */
	if (!log_enabled(CFG_LOG_INFO))
		return;
	char p[64];
	conn_peer_text(c, p, sizeof(p), true);
	LOG_INFO("auth_failed", "peer=%s route=%s reason=%s where=%s", p, route->path, reason,
	         adm_where_name[where]);
}

int admission_token_check(struct worker *w, const struct conn *c, const struct rt_route *route,
                          const struct http_request *req, struct admission_token *tok)
{
	tok->where = ADM_TOKEN_NONE;
	tok->header = 0;
	tok->expire_ms = 0;
	tok->sub_len = 0;
	tok->sub[0] = '\0';
	const struct admission_auth *a =
	    atomic_load_explicit(&admission_auth_cur, memory_order_acquire);
	if (a == NULL)
		return HTTP_REJ_NONE;
	enum cfg_auth_mode mode;
	switch (route->auth) {
	case RT_AUTH_REQUIRED:
		mode = CFG_AUTH_REQUIRED;
		break;
	case RT_AUTH_OPTIONAL:
		mode = CFG_AUTH_OPTIONAL;
		break;
	case RT_AUTH_OFF:
		mode = CFG_AUTH_OFF;
		break;
	case RT_AUTH_DEFAULT:
	default:
		mode = a->mode;
		break;
	}
	if (mode != CFG_AUTH_REQUIRED && mode != CFG_AUTH_OPTIONAL)
		return HTTP_REJ_NONE;
	struct http_str token;
	uint16_t header;
	enum admission_token_where where = admission_token_find(req, &token, &header);
	if (where == ADM_TOKEN_NONE) {
		if (mode == CFG_AUTH_OPTIONAL)
			return HTTP_REJ_NONE;
		metrics_worker_auth_failure(w->m, 0);
		adm_log_failure(c, route, "missing", where);
		return HTTP_REJ_UNAUTHORIZED;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now_s = ts.tv_sec > 0 ? (uint64_t)ts.tv_sec : 0;
	struct jwt_claims claims;
	enum jwt_rc rc = jwt_verify(a->keys, token.p, token.n, &a->pol, now_s, &claims);
	if (rc != JWT_RC_OK) {
		metrics_worker_auth_failure(w->m, (unsigned)rc);
		adm_log_failure(c, route, jwt_rc_name(rc), where);
		return HTTP_REJ_INVALID_TOKEN;
	}
	tok->where = (uint8_t)where;
	tok->header = header;
	/* The token stops being valid at exp + leeway (wall clock); the tunnel's timer runs on
	 * the worker's monotonic clock, so the deadline is moved onto it now. */
	uint64_t until = claims.exp + a->pol.leeway_s;
	uint64_t left_s = until > now_s ? until - now_s : 0;
	tok->expire_ms =
	    w->now_ms + (left_s > UINT64_MAX / 2000u ? UINT64_MAX / 2 : left_s * 1000u);
	if (claims.has_sub && claims.sub_len < sizeof(tok->sub)) {
		memcpy(tok->sub, claims.sub, claims.sub_len + 1);
		tok->sub_len = (uint16_t)claims.sub_len;
	}
	return HTTP_REJ_NONE;
}

/* Appends the items of [p, p + n) separated by sep to buf, except the ones named name. */
static int adm_filter(const char *p, size_t n, char sep, const char *joiner, const char *name,
                      char *buf, size_t cap, size_t *len)
{
	struct http_str item, v;
	size_t pos = 0, out = 0, jl = strlen(joiner);
	while (adm_next_item(p, n, &pos, sep, &item)) {
		if (item.n == 0 || adm_pair_value(item, name, &v) || adm_str_eq(item, name))
			continue;
		if (out + (out ? jl : 0) + item.n > cap)
			return -1;
		if (out) {
			memcpy(buf + out, joiner, jl);
			out += jl;
		}
		memcpy(buf + out, item.p, item.n);
		out += item.n;
	}
	*len = out;
	return 0;
}

int admission_token_apply(const struct admission_token *tok, const struct rt_route *route,
                          const struct http_request *req, struct http_upgrade_out *u,
                          struct http_header_set *drop, struct http_header *extra, char *buf,
                          size_t cap)
{
	if (tok->where == ADM_TOKEN_NONE)
		return 0;
	if (tok->sub_len > 0)
		u->auth_subject = (struct http_str){tok->sub, tok->sub_len};
	if (route->forward_token)
		return 0;
	size_t len;
	switch ((enum admission_token_where)tok->where) {
	case ADM_TOKEN_HEADER:
		http_header_set_add(drop, tok->header);
		break;
	case ADM_TOKEN_QUERY:
		if (adm_filter(u->query.p, u->query.n, '&', "&", "access_token", buf, cap, &len) !=
		    0)
			return -1;
		u->query = (struct http_str){buf, len};
		break;
	case ADM_TOKEN_COOKIE: {
		if (tok->header >= req->n_headers)
			return -1;
		const struct http_header *h = &req->headers[tok->header];
		http_header_set_add(drop, tok->header);
		if (adm_filter(h->value.p, h->value.n, ';', "; ", "access_token", buf, cap, &len) !=
		    0)
			return -1;
		if (len > 0) {
			extra[0] = (struct http_header){{"Cookie", 6}, {buf, len}};
			u->extra = extra;
			u->n_extra = 1;
		}
		break;
	}
	case ADM_TOKEN_NONE:
		break;
	}
	return 0;
}
