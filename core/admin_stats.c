/* core/admin_stats.c: GET /stats, the same counters as /metrics as one JSON document.
 *
 * Owns: the document's shape: version, uptime, the build's features, totals, one object per
 * worker, per route (by path), per backend (by URL). Runs on the control thread: each worker
 * block is read with relaxed loads (admin__sum), never by a message to the worker, so /stats
 * costs the workers nothing. Numbers are JSON numbers (doubles: exact up to 2^53, which a
 * counter does not reach in practice).
 *
 * Routes and backends are those the counter registry has named (every path and URL of the
 * tables published so far), so a route that a reload removed still shows its totals.
 *
 * The features are not a hand-kept list: each is probed with config_check_enforceable(), the
 * same check that refuses a setting this build cannot enforce, so /stats cannot claim a
 * feature the gateway would refuse to run with.
 *
 * Backend up/down is not here yet: it belongs to the health checks (router/health.h), and
 * an "up": true with nothing behind it would be a claim, not a measurement; see
 * admin_stats_backend_health below for where it goes.
 *
 * Rejected: building the text by hand like /metrics (cJSON is already linked for the
 * config and escapes strings correctly); per-connection entries (GET /connections's job:
 * that needs a command to each worker, /stats must stay cheap). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "auth/jwt.h"
#include "core/admin_int.h"
#include "core/config.h"
#include "core/gateway.h"
#include "core/metrics.h"
#include "router/health.h"
#include "router/rt.h"

#ifndef WSG_VERSION
#define WSG_VERSION "0.0.0"
#endif

/* Adds a number; false when cJSON is out of memory (the caller gives up on the document). */
static bool admin_num(cJSON *o, const char *k, double v)
{
	return cJSON_AddNumberToObject(o, k, v) != NULL;
}

static bool admin_dirs(cJSON *o, const char *k, const uint64_t v[METRICS_DIR_COUNT])
{
	cJSON *d = cJSON_AddObjectToObject(o, k);
	return d != NULL && admin_num(d, "upstream", (double)v[METRICS_UP]) &&
	       admin_num(d, "downstream", (double)v[METRICS_DOWN]);
}

/* Whether this build would run with the setting that probe() makes. */
static bool admin_feature(void (*probe)(struct wsg_config *c, int arg), int arg)
{
	struct wsg_config c;
	memset(&c, 0, sizeof(c));
	probe(&c, arg);
	char err[256];
	return config_check_enforceable(&c, err, sizeof(err)) == 0;
}

static void admin_probe_jwt(struct wsg_config *c, int arg)
{
	(void)arg;
	c->jwt_secret = (char *)"probe";
}

static void admin_probe_lb(struct wsg_config *c, int arg)
{
	c->lb = (enum rt_lb)arg;
}

static void admin_probe_access_log(struct wsg_config *c, int arg)
{
	(void)arg;
	c->access_log = (char *)"/dev/null";
}

static void admin_probe_health(struct wsg_config *c, int arg)
{
	(void)arg;
	c->health_path = (char *)"/";
}

static bool admin_features(cJSON *root)
{
	cJSON *f = cJSON_AddObjectToObject(root, "features");
	if (f == NULL)
		return false;
	/* wolfSSL is linked into every build: TLS listeners and wss:// backends are always
	 * there (whether this process uses them is in its configuration). */
	if (cJSON_AddBoolToObject(f, "tls", true) == NULL ||
	    cJSON_AddBoolToObject(f, "wss_backends", true) == NULL ||
	    cJSON_AddBoolToObject(f, "jwt", admin_feature(admin_probe_jwt, 0)) == NULL ||
	    cJSON_AddBoolToObject(f, "access_log", admin_feature(admin_probe_access_log, 0)) ==
	        NULL ||
	    cJSON_AddBoolToObject(f, "health_checks", admin_feature(admin_probe_health, 0)) == NULL)
		return false;
	cJSON *lb = cJSON_AddArrayToObject(f, "lb");
	if (lb == NULL)
		return false;
	static const struct {
		enum rt_lb lb;
		const char *name;
	} policies[] = {
	    {RT_LB_ROUND_ROBIN, "round-robin"},
	    {RT_LB_LEAST_CONN, "least-conn"},
	    {RT_LB_IP_HASH, "ip-hash"},
	    {RT_LB_HEADER_HASH, "header-hash"},
	};
	for (size_t i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
		if (!admin_feature(admin_probe_lb, (int)policies[i].lb))
			continue;
		cJSON *s = cJSON_CreateString(policies[i].name);
		if (s == NULL || !cJSON_AddItemToArray(lb, s)) {
			cJSON_Delete(s);
			return false;
		}
	}
	return true;
}

/* The counters both the totals and each worker have. */
static bool admin_common(cJSON *o, const struct metrics_totals *t)
{
	return admin_num(o, "connections_active", (double)t->connections_active) &&
	       admin_num(o, "connections_total", (double)t->connections_total) &&
	       admin_num(o, "tunnels_opened", (double)t->tunnels_opened) &&
	       admin_dirs(o, "messages", t->messages) && admin_dirs(o, "bytes", t->bytes);
}

/* A {label: count} object of the entries that are not zero. */
static bool admin_nonzero(cJSON *o, const char *k, const char *const *labels, const uint64_t *v,
                          unsigned n)
{
	cJSON *d = cJSON_AddObjectToObject(o, k);
	if (d == NULL)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (labels[i] != NULL && v[i] != 0 && !admin_num(d, labels[i], (double)v[i]))
			return false;
	return true;
}

static bool admin_totals(cJSON *root, const struct metrics_totals *t)
{
	cJSON *o = cJSON_AddObjectToObject(root, "totals");
	if (o == NULL || !admin_common(o, t))
		return false;
	const char *reasons[HTTP_REJ_COUNT];
	for (unsigned r = 0; r < HTTP_REJ_COUNT; r++)
		reasons[r] = r == HTTP_REJ_NONE ? NULL : http_reject_name((enum http_reject)r);
	if (!admin_nonzero(o, "handshake_rejections", reasons, t->handshake_rejections,
	                   HTTP_REJ_COUNT))
		return false;
	cJSON *closes = cJSON_AddArrayToObject(o, "closes");
	if (closes == NULL)
		return false;
	for (unsigned c = 0; c < METRICS_CLOSE_CODES; c++)
		for (unsigned s = 0; s < METRICS_SIDE_COUNT; s++) {
			if (t->closes[c][s] == 0)
				continue;
			cJSON *e = cJSON_CreateObject();
			if (e == NULL || !cJSON_AddItemToArray(closes, e)) {
				cJSON_Delete(e);
				return false;
			}
			if (cJSON_AddStringToObject(e, "code", metrics_close_code_label(c)) ==
			        NULL ||
			    cJSON_AddStringToObject(
			        e, "side", metrics_side_label((enum metrics_side)s)) == NULL ||
			    !admin_num(e, "count", (double)t->closes[c][s]))
				return false;
		}
	const char *auth[METRICS_AUTH_REASONS];
	auth[0] = "missing";
	for (unsigned i = 1; i < METRICS_AUTH_REASONS; i++)
		auth[i] = jwt_rc_name((enum jwt_rc)i);
	const char *limits[METRICS_LIMIT_COUNT], *slabs[METRICS_SLAB_COUNT];
	for (unsigned i = 0; i < METRICS_LIMIT_COUNT; i++)
		limits[i] = metrics_limit_label((enum metrics_limit)i);
	for (unsigned i = 0; i < METRICS_SLAB_COUNT; i++)
		slabs[i] = metrics_slab_label((enum metrics_slab)i);
	uint64_t tls[3] = {0, 0, 0}; /* by result, over versions */
	for (unsigned v = 0; v < METRICS_TLS_VERSIONS; v++)
		for (unsigned r = 0; r < METRICS_TLS_RESULTS; r++)
			tls[r] += t->tls_handshakes[v][r];
	const char *tls_labels[METRICS_TLS_RESULTS];
	for (unsigned r = 0; r < METRICS_TLS_RESULTS; r++)
		tls_labels[r] = metrics_tls_result_label((enum metrics_tls_result)r);
	return admin_nonzero(o, "auth_failures", auth, t->auth_failures, METRICS_AUTH_REASONS) &&
	       admin_nonzero(o, "rate_limited", limits, t->rate_limited, METRICS_LIMIT_COUNT) &&
	       admin_nonzero(o, "slab_exhausted", slabs, t->slab_exhausted, METRICS_SLAB_COUNT) &&
	       admin_nonzero(o, "tls_handshakes", tls_labels, tls, METRICS_TLS_RESULTS) &&
	       admin_num(o, "log_dropped", (double)t->log_dropped);
}

static bool admin_routes(cJSON *root, const struct metrics_totals *t, const struct metrics_reg *r)
{
	cJSON *a = cJSON_AddArrayToObject(root, "routes");
	if (a == NULL)
		return false;
	unsigned used = r ? metrics_route_slots_used(r) : 0;
	for (uint32_t s = 0; s < used; s++) {
		const uint64_t *m = t->routes[s].messages, *b = t->routes[s].bytes;
		if (s == METRICS_SLOT_OVERFLOW && !m[0] && !m[1] && !b[0] && !b[1])
			continue;
		cJSON *e = cJSON_CreateObject();
		if (e == NULL || !cJSON_AddItemToArray(a, e)) {
			cJSON_Delete(e);
			return false;
		}
		if (cJSON_AddStringToObject(e, "route", metrics_route_name(r, s)) == NULL ||
		    !admin_dirs(e, "messages", m) || !admin_dirs(e, "bytes", b))
			return false;
	}
	return true;
}

/* "up" from router/health.h (the active checks' state and the passive window), and the
 * checks' counts. */
static bool admin_stats_backend_health(cJSON *e, uint32_t slot)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	return cJSON_AddBoolToObject(e, "up", health_backend_is_up(slot, now_ms)) != NULL &&
	       cJSON_AddNumberToObject(e, "checks_ok",
	                               (double)health_checks_total(slot, HEALTH_RESULT_SUCCESS)) !=
	           NULL &&
	       cJSON_AddNumberToObject(e, "checks_failed",
	                               (double)health_checks_total(slot, HEALTH_RESULT_FAILURE)) !=
	           NULL;
}

static bool admin_backends(cJSON *root, const struct metrics_totals *t, const struct metrics_reg *r)
{
	cJSON *a = cJSON_AddArrayToObject(root, "backends");
	if (a == NULL)
		return false;
	unsigned used = r ? metrics_backend_slots_used(r) : 0;
	for (uint32_t s = 0; s < used; s++) {
		const uint64_t active = t->backends[s].active, att = t->backends[s].attempts,
		               fail = t->backends[s].failures;
		if (s == METRICS_SLOT_OVERFLOW && !active && !att && !fail)
			continue;
		cJSON *e = cJSON_CreateObject();
		if (e == NULL || !cJSON_AddItemToArray(a, e)) {
			cJSON_Delete(e);
			return false;
		}
		if (cJSON_AddStringToObject(e, "backend", metrics_backend_name(r, s)) == NULL ||
		    !admin_num(e, "active", (double)active) ||
		    !admin_num(e, "attempts", (double)att) ||
		    !admin_num(e, "failures", (double)fail) || !admin_stats_backend_health(e, s))
			return false;
	}
	return true;
}

static bool admin_workers(cJSON *root, struct gateway *gw, struct admin_obs *o)
{
	cJSON *a = cJSON_AddArrayToObject(root, "workers");
	if (a == NULL)
		return false;
	for (unsigned i = 0; i < gw->n_workers; i++) {
		const struct metrics_totals *t = admin__sum(gw, o, (int)i);
		if (t == NULL)
			return false;
		cJSON *e = cJSON_CreateObject();
		if (e == NULL || !cJSON_AddItemToArray(a, e)) {
			cJSON_Delete(e);
			return false;
		}
		if (!admin_num(e, "id", i) || !admin_common(e, t))
			return false;
	}
	return true;
}

char *admin__stats_json(struct gateway *gw, struct admin_obs *o, uint64_t now_ms, size_t *len)
{
	cJSON *root = cJSON_CreateObject();
	if (root == NULL)
		return NULL;
	char *text = NULL;
	if (cJSON_AddStringToObject(root, "version", WSG_VERSION) == NULL ||
	    !admin_num(root, "uptime_s", (double)(now_ms - o->started_ms) / 1000.0) ||
	    !admin_num(root, "n_workers", gw->n_workers) || !admin_features(root))
		goto out_delete;
	/* Totals first (the one sum the routes and backends also read), workers last: their
	 * sums reuse the scratch. */
	const struct metrics_totals *t = admin__sum(gw, o, -1);
	if (t == NULL || !admin_totals(root, t) || !admin_routes(root, t, gw->reg) ||
	    !admin_backends(root, t, gw->reg) || !admin_workers(root, gw, o))
		goto out_delete;
	text = cJSON_PrintUnformatted(root);
	if (text != NULL)
		*len = strlen(text);
out_delete:
	cJSON_Delete(root);
	return text;
}
