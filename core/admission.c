/* core/admission.c: what the handshake needs from auth/, attached to each route table.
 *
 * Owns: struct admission_ext, one per table: the global --allow-origin list and each route's
 * own (origin= replaces the global list for that route), built by the control thread when
 * the table is built (gateway_table_new) and freed with the table (rt_table_set_ext), so a
 * tunnel's table always carries the lists its route was admitted under and a reload swaps
 * them with the routes. Workers only read them.
 *
 * Rejected: building a list per handshake from the route's strings (an allocation and a
 * parse per connection), and one global list keyed by route path (a reload would have to
 * swap it separately from the table, with a window where the two disagree). */
#include "core/admission.h"

#include <stdio.h>
#include <stdlib.h>

#include "auth/iplimit.h"
#include "auth/origin.h"
#include "core/cluster.h"
#include "core/config.h"
#include "core/conn.h"
#include "core/gateway.h"
#include "core/metrics.h"
#include "core/worker.h"
#include "proto/http1.h"
#include "router/rt.h"

struct admission_ext {
	struct origin_list *global; /* --allow-origin; NULL: every origin allowed */
	unsigned n_routes;
	struct origin_list **routes; /* by route index: its own list, or NULL for the global */
};

static void admission_ext_free(void *p)
{
	struct admission_ext *x = p;
	if (x == NULL)
		return;
	for (unsigned i = 0; i < x->n_routes; i++)
		origin_list_free(x->routes[i]);
	free(x->routes);
	origin_list_free(x->global);
	free(x);
}

int admission_attach(struct rt_table *t, const struct wsg_config *cfg, char *err, size_t err_len)
{
	unsigned n = rt_table_route_count(t);
	struct admission_ext *x = calloc(1, sizeof(*x));
	if (x == NULL || (n > 0 && (x->routes = calloc(n, sizeof(*x->routes))) == NULL)) {
		free(x);
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	x->n_routes = n;
	char why[300];
	if (cfg->n_allow_origin > 0) {
		x->global = origin_list_new((const char *const *)cfg->allow_origin,
		                            cfg->n_allow_origin, why, sizeof(why));
		if (x->global == NULL) {
			snprintf(err, err_len, "--allow-origin: %s", why);
			admission_ext_free(x);
			return -1;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		const struct rt_route *r = rt_table_route(t, i);
		if (r->n_origins == 0)
			continue;
		x->routes[i] = origin_list_new(r->origins, r->n_origins, why, sizeof(why));
		if (x->routes[i] == NULL) {
			snprintf(err, err_len, "route \"%s\": origin=: %s", r->path, why);
			admission_ext_free(x);
			return -1;
		}
	}
	rt_table_set_ext(t, x, admission_ext_free);
	return 0;
}

int admission_check_config(const struct wsg_config *cfg, char *err, size_t err_len)
{
	char why[300];
	struct origin_list *l;
	if (cfg->n_allow_origin > 0) {
		l = origin_list_new((const char *const *)cfg->allow_origin, cfg->n_allow_origin,
		                    why, sizeof(why));
		if (l == NULL) {
			snprintf(err, err_len, "wsgate: --allow-origin: %s", why);
			return -1;
		}
		origin_list_free(l);
	}
	for (unsigned i = 0; i < cfg->n_routes; i++) {
		const struct rt_route_def *d = &cfg->routes[i];
		if (d->n_origins == 0)
			continue;
		l = origin_list_new((const char *const *)d->origins, d->n_origins, why,
		                    sizeof(why));
		if (l == NULL) {
			snprintf(err, err_len, "wsgate: --route \"%s\": origin=: %s", d->path, why);
			return -1;
		}
		origin_list_free(l);
	}
	return 0;
}

int admission_limits(struct worker *w, struct conn *c, unsigned *retry_after_s)
{
	struct gateway *gw = w->gw;
	c->ip_ref = IPLIMIT_REF_NONE;
	*retry_after_s = 1;
	if (!gw->iplimit_on)
		return HTTP_REJ_NONE;
	struct iplimit_ref ref = {IPLIMIT_REF_NONE};
	uint32_t retry = 1;
	struct iplimit_rate rate = {gw->cfg->conn_rate.per_sec, gw->cfg->conn_rate.burst};
	uint32_t max_per_ip = (uint32_t)gw->cfg->max_conns_per_ip;
	if (gw->cluster != NULL) /* this node's lease or share of the cluster-wide limits */
		cluster_limit_adjust(&c->peer.sa, &max_per_ip, &rate);
	switch (
	    iplimit_admit(&gw->iplimit, &c->peer.sa, max_per_ip, rate, w->now_ms, &retry, &ref)) {
	case IPLIMIT_OK:
		c->ip_ref = ref.slot;
		return HTTP_REJ_NONE;
	case IPLIMIT_OVER_CONNS:
		metrics_worker_rate_limited(w->m, METRICS_LIMIT_CONNS_PER_IP);
		*retry_after_s = retry ? retry : 1;
		return HTTP_REJ_RATE_LIMITED;
	case IPLIMIT_OVER_RATE:
		metrics_worker_rate_limited(w->m, METRICS_LIMIT_CONN_RATE);
		*retry_after_s = retry ? retry : 1;
		return HTTP_REJ_RATE_LIMITED;
	case IPLIMIT_FULL:
		break;
	}
	return HTTP_REJ_OVERLOADED;
}

void admission_release(struct worker *w, struct conn *c)
{
	if (c->ip_ref == IPLIMIT_REF_NONE || !w->gw->iplimit_on)
		return;
	struct iplimit_ref ref = {c->ip_ref};
	iplimit_release(&w->gw->iplimit, &ref);
	c->ip_ref = IPLIMIT_REF_NONE;
}

bool admission_origin_allowed(const struct rt_table *t, const struct rt_route *r,
                              const struct http_request *req)
{
	if (req->origin.p == NULL)
		return true;
	const struct admission_ext *x = rt_table_ext(t);
	if (x == NULL)
		return true;
	const struct origin_list *l =
	    r->index < x->n_routes && x->routes[r->index] != NULL ? x->routes[r->index] : x->global;
	return l == NULL || origin_allowed(l, req->origin.p, req->origin.n);
}
