/* core/admin_metrics.c: GET /metrics, the workers' counters as Prometheus text.
 *
 * Owns: the list of exported families (names, types, HELP, labels) and the sum that feeds
 * them. Runs on the control thread, inside one admin answer: it sums every worker's block
 * (metrics_sum: relaxed loads, no lock, no message to any worker, so a scrape never waits
 * for a worker nor makes one wait), then formats the plain totals with core/prom.c. A
 * scrape's cost depends on the configured routes and backends (the slots the registry
 * handed out), not on the number of open connections.
 *
 * Labels come only from configuration and from fixed tables: route paths and backend URLs
 * as the registry holds them (escaped by prom.c), close codes, reasons, directions. Nothing
 * a client sends becomes a label. A route or backend slot appears once the registry named
 * it and keeps its series for the process's life (a reload that drops a route leaves its
 * last values); the overflow slot appears only when something was counted there.
 *
 * Rejected: exporting per-worker series (worker="3"): W times the series for a view /stats
 * already gives; omitting zero-valued series of fixed label sets (closes, reasons): a
 * series that appears only on its first event breaks rate() over its first interval, and
 * these sets are small and known up front. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/jwt.h"
#include "core/access_log.h"
#include "core/admin_int.h"
#include "core/cluster.h"
#include "core/gateway.h"
#include "core/metrics.h"
#include "core/prom.h"
#include "core/worker.h"
#include "router/health.h"
#include "router/rt.h"

struct metrics_totals *admin__sum(struct gateway *gw, struct admin_obs *o, int only)
{
	if (o->tot == NULL) {
		o->tot = malloc(sizeof(*o->tot));
		if (o->tot == NULL)
			return NULL;
	}
	unsigned n = gw->n_workers;
	const struct metrics_worker **ms = calloc(n ? n : 1, sizeof(*ms));
	if (ms == NULL)
		return NULL;
	for (unsigned i = 0; i < n; i++)
		if (only < 0 || (unsigned)only == i)
			ms[i] = gw->workers[i].m;
	metrics_sum(ms, n, gw->reg, o->tot);
	free(ms);
	return o->tot;
}

/* A fixed-label counter family: one sample per label value, in table order. */
static void admin_counter_set(struct prom_buf *b, const char *name, const char *help,
                              const char *label, const char *const *values, const uint64_t *counts,
                              unsigned n)
{
	prom_family(b, name, "counter", help);
	for (unsigned i = 0; i < n; i++) {
		if (values[i] == NULL)
			continue;
		struct prom_label l = {label, values[i]};
		prom_sample_u64(b, name, &l, 1, counts[i]);
	}
}

static void admin_gateway_families(struct prom_buf *b, const struct metrics_totals *t)
{
	prom_family(b, "wsgate_connections_active", "gauge",
	            "Client connections open now (accepted and not yet closed).");
	prom_sample_u64(b, "wsgate_connections_active", NULL, 0, t->connections_active);
	prom_family(b, "wsgate_connections_total", "counter", "Client connections accepted.");
	prom_sample_u64(b, "wsgate_connections_total", NULL, 0, t->connections_total);
	prom_family(b, "wsgate_tunnels_opened_total", "counter",
	            "Upgrades completed: 101 sent to the client, tunnel to a backend open.");
	prom_sample_u64(b, "wsgate_tunnels_opened_total", NULL, 0, t->tunnels_opened);

	const char *reasons[HTTP_REJ_COUNT];
	for (unsigned r = 0; r < HTTP_REJ_COUNT; r++)
		reasons[r] = r == HTTP_REJ_NONE ? NULL : http_reject_name((enum http_reject)r);
	admin_counter_set(b, "wsgate_handshake_rejections_total",
	                  "Upgrade requests answered with an HTTP error, by reason.", "reason",
	                  reasons, t->handshake_rejections, HTTP_REJ_COUNT);

	prom_family(b, "wsgate_handshake_duration_seconds", "histogram",
	            "Accept to 101 of completed upgrades, TLS handshake and backend dial "
	            "included.");
	prom_histogram(b, "wsgate_handshake_duration_seconds", NULL, 0, metrics_lat_bounds_s,
	               METRICS_LAT_BOUNDS, t->handshake_hist.slots,
	               (double)t->handshake_hist.sum / 1e6);

	prom_family(b, "wsgate_closes_total", "counter",
	            "Tunnels ended, by the first close code on the wire (none: no close frame) "
	            "and by who sent it first.");
	for (unsigned c = 0; c < METRICS_CLOSE_CODES; c++)
		for (unsigned s = 0; s < METRICS_SIDE_COUNT; s++) {
			struct prom_label l[2] = {
			    {"code", metrics_close_code_label(c)},
			    {"side", metrics_side_label((enum metrics_side)s)},
			};
			prom_sample_u64(b, "wsgate_closes_total", l, 2, t->closes[c][s]);
		}

	prom_family(b, "wsgate_message_size_bytes", "histogram",
	            "WebSocket message sizes (payload bytes of all its frames), by direction.");
	for (unsigned d = 0; d < METRICS_DIR_COUNT; d++) {
		struct prom_label l = {"direction", metrics_dir_label((enum metrics_dir)d)};
		prom_histogram(b, "wsgate_message_size_bytes", &l, 1, metrics_size_bounds,
		               METRICS_SIZE_BOUNDS, t->msg_size_hist[d].slots,
		               (double)t->msg_size_hist[d].sum);
	}

	prom_family(b, "wsgate_ping_rtt_seconds", "histogram",
	            "Round trip of the gateway's own keepalive pings, by leg.");
	for (unsigned g = 0; g < METRICS_LEG_COUNT; g++) {
		struct prom_label l = {"leg", metrics_leg_label((enum metrics_leg)g)};
		prom_histogram(b, "wsgate_ping_rtt_seconds", &l, 1, metrics_lat_bounds_s,
		               METRICS_LAT_BOUNDS, t->ping_hist[g].slots,
		               (double)t->ping_hist[g].sum / 1e6);
	}

	prom_family(b, "wsgate_send_queue_bytes", "histogram",
	            "Bytes waiting in a connection's send queue, sampled on one relayed "
	            "receive in 16.");
	prom_histogram(b, "wsgate_send_queue_bytes", NULL, 0, metrics_size_bounds,
	               METRICS_SIZE_BOUNDS, t->send_queue_hist.slots,
	               (double)t->send_queue_hist.sum);

	/* Debug figures for the tail (issue 11, core/loopstat.h). Each worker keeps its own
	 * (single writer); exported summed like every family here (per-worker series are
	 * rejected above), so one worker's view is a --workers 1 run. */
	prom_family(b, "wsgate_loop_turn_seconds", "histogram",
	            "Work of one worker loop turn: from the wait's return with completions to "
	            "the submit that ends the turn.");
	prom_histogram(b, "wsgate_loop_turn_seconds", NULL, 0, metrics_loop_bounds_s,
	               METRICS_LOOP_BOUNDS, t->loop_turn_hist.slots,
	               (double)t->loop_turn_hist.sum / 1e6);
	prom_family(b, "wsgate_relay_delay_seconds", "histogram",
	            "From the loop turn that queued bytes for a connection (the receive that "
	            "carried them) to the submit of the send that carries them.");
	prom_histogram(b, "wsgate_relay_delay_seconds", NULL, 0, metrics_loop_bounds_s,
	               METRICS_LOOP_BOUNDS, t->relay_delay_hist.slots,
	               (double)t->relay_delay_hist.sum / 1e6);

	prom_family(b, "wsgate_tls_handshakes_total", "counter",
	            "Client-facing TLS handshakes, by negotiated version and result.");
	for (unsigned v = 0; v < METRICS_TLS_VERSIONS; v++)
		for (unsigned r = 0; r < METRICS_TLS_RESULTS; r++) {
			/* Only a finished handshake has a version: the other pairs are empty by
			 * construction and not exported unless something landed there. */
			bool possible = (v == METRICS_TLS_UNKNOWN) != (r == METRICS_TLS_OK);
			if (!possible && t->tls_handshakes[v][r] == 0)
				continue;
			struct prom_label l[2] = {
			    {"version", metrics_tls_version_label((enum metrics_tls_version)v)},
			    {"result", metrics_tls_result_label((enum metrics_tls_result)r)},
			};
			prom_sample_u64(b, "wsgate_tls_handshakes_total", l, 2,
			                t->tls_handshakes[v][r]);
		}

	const char *auth[METRICS_AUTH_REASONS];
	auth[0] = "missing";
	for (unsigned i = 1; i < METRICS_AUTH_REASONS; i++)
		auth[i] = jwt_rc_name((enum jwt_rc)i);
	admin_counter_set(b, "wsgate_auth_failures_total",
	                  "Upgrades refused for their token: missing, or why it failed.", "reason",
	                  auth, t->auth_failures, METRICS_AUTH_REASONS);

	const char *limits[METRICS_LIMIT_COUNT];
	for (unsigned i = 0; i < METRICS_LIMIT_COUNT; i++)
		limits[i] = metrics_limit_label((enum metrics_limit)i);
	admin_counter_set(b, "wsgate_rate_limited_total",
	                  "Clients turned away (429) or closed (1008) by a limit.", "limit", limits,
	                  t->rate_limited, METRICS_LIMIT_COUNT);

	const char *slabs[METRICS_SLAB_COUNT];
	for (unsigned i = 0; i < METRICS_SLAB_COUNT; i++)
		slabs[i] = metrics_slab_label((enum metrics_slab)i);
	admin_counter_set(b, "wsgate_slab_exhausted_total",
	                  "Times a worker's slab was full when a conn or tunnel was needed.",
	                  "slab", slabs, t->slab_exhausted, METRICS_SLAB_COUNT);

	prom_family(b, "wsgate_log_dropped_total", "counter",
	            "Log lines dropped because a thread's log ring was full.");
	prom_sample_u64(b, "wsgate_log_dropped_total", NULL, 0, t->log_dropped);
	prom_family(b, "wsgate_access_log_dropped_total", "counter",
	            "Access-log records dropped because a worker's ring was full (a slow disk).");
	prom_sample_u64(b, "wsgate_access_log_dropped_total", NULL, 0, access_log_dropped());
}

static bool admin_route_used(const struct metrics_totals *t, uint32_t s)
{
	for (unsigned d = 0; d < METRICS_DIR_COUNT; d++)
		if (t->routes[s].messages[d] || t->routes[s].bytes[d])
			return true;
	return false;
}

static void admin_route_families(struct prom_buf *b, const struct metrics_totals *t,
                                 const struct metrics_reg *reg)
{
	unsigned used = reg ? metrics_route_slots_used(reg) : 0;
	static const char *const names[2] = {"wsgate_messages_total", "wsgate_bytes_total"};
	static const char *const helps[2] = {
	    "WebSocket messages relayed, by route and direction.",
	    "Payload bytes of data frames relayed, by route and direction.",
	};
	for (unsigned k = 0; k < 2; k++) {
		prom_family(b, names[k], "counter", helps[k]);
		for (uint32_t s = 0; s < used; s++) {
			if (s == METRICS_SLOT_OVERFLOW && !admin_route_used(t, s))
				continue;
			for (unsigned d = 0; d < METRICS_DIR_COUNT; d++) {
				struct prom_label l[2] = {
				    {"route", metrics_route_name(reg, s)},
				    {"direction", metrics_dir_label((enum metrics_dir)d)},
				};
				uint64_t v =
				    k == 0 ? t->routes[s].messages[d] : t->routes[s].bytes[d];
				prom_sample_u64(b, names[k], l, 2, v);
			}
		}
	}
}

static void admin_backend_families(struct prom_buf *b, const struct metrics_totals *t,
                                   const struct metrics_reg *reg)
{
	unsigned used = reg ? metrics_backend_slots_used(reg) : 0;
	static const char *const names[3] = {
	    "wsgate_backend_connections_active",
	    "wsgate_backend_attempts_total",
	    "wsgate_backend_failures_total",
	};
	static const char *const types[3] = {"gauge", "counter", "counter"};
	static const char *const helps[3] = {
	    "Backend connections open now (upgraded, not yet closed), by backend URL.",
	    "Connects to a backend started, by backend URL.",
	    "Backend connects or upgrades that failed (refused, timed out, bad answer).",
	};
	for (unsigned k = 0; k < 3; k++) {
		prom_family(b, names[k], types[k], helps[k]);
		for (uint32_t s = 0; s < used; s++) {
			const uint64_t v[3] = {t->backends[s].active, t->backends[s].attempts,
			                       t->backends[s].failures};
			if (s == METRICS_SLOT_OVERFLOW && !v[0] && !v[1] && !v[2])
				continue;
			struct prom_label l = {"backend", metrics_backend_name(reg, s)};
			prom_sample_u64(b, names[k], &l, 1, v[k]);
		}
	}
	/* Health (router/health.h), kept by backend slot like the counters: the checks' results,
	 * and up/down per route and backend of the table in use (the control thread is the one
	 * that frees tables, so the current one stays valid while it is read here). */
	prom_family(b, "wsgate_health_checks_total", "counter",
	            "Active health checks of a backend, by result (success or failure).");
	for (uint32_t s = 1; s < used; s++)
		for (unsigned r = 0; r < HEALTH_RESULT_COUNT; r++) {
			const struct prom_label l[2] = {
			    {"backend", metrics_backend_name(reg, s)},
			    {"result", health_result_label((enum health_result)r)},
			};
			prom_sample_u64(b, "wsgate_health_checks_total", l, 2,
			                health_checks_total(s, (enum health_result)r));
		}
	prom_family(b, "wsgate_backend_up", "gauge",
	            "1 when the backend gets new connections (active and passive checks say up), "
	            "by route and backend.");
	const struct rt_table *tab = rt_acquire();
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	for (unsigned i = 0; tab != NULL && i < rt_table_route_count(tab); i++) {
		const struct rt_route *rt = rt_table_route(tab, i);
		for (unsigned j = 0; j < rt->n_backends; j++) {
			const struct rt_backend *be = &rt->backends[j];
			const struct prom_label l[2] = {{"route", rt->path}, {"backend", be->url}};
			prom_sample_u64(b, "wsgate_backend_up", l, 2,
			                health_backend_is_up(be->stat_slot, now_ms) ? 1 : 0);
		}
	}
	prom_family(b, "wsgate_metric_slot_overflows_total", "counter",
	            "Route paths or backend URLs that found the counter registry full; their "
	            "traffic is counted under the label (overflow).");
	prom_sample_u64(b, "wsgate_metric_slot_overflows_total", NULL, 0,
	                reg ? metrics_reg_overflows(reg) : 0);
}

int admin__metrics_text(struct gateway *gw, struct admin_obs *o, struct prom_buf *b)
{
	const struct metrics_totals *t = admin__sum(gw, o, -1);
	if (t == NULL)
		return -1;
	prom_family(b, "wsgate_build_info", "gauge", "The running build; the value is always 1.");
	struct prom_label v = {"version", WSG_VERSION};
	prom_sample_u64(b, "wsgate_build_info", &v, 1, 1);
	prom_family(b, "wsgate_start_time_seconds", "gauge",
	            "When the gateway started, in seconds since the Unix epoch.");
	prom_sample_f64(b, "wsgate_start_time_seconds", NULL, 0, o->started_unix);
	admin_gateway_families(b, t);
	admin_route_families(b, t, gw->reg);
	admin_backend_families(b, t, gw->reg);
	if (gw->cluster != NULL)
		cluster_metrics(gw->cluster, b);
	return b->failed ? -1 : 0;
}
