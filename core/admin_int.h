#ifndef WSG_CORE_ADMIN_INT_H
#define WSG_CORE_ADMIN_INT_H

/* Shared by admin.c, admin_metrics.c and admin_stats.c only: the answers that read the
 * counters, and the --admin-token check. Control thread only. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/http1.h"

struct gateway;
struct metrics_totals;
struct prom_buf;

/* Upper bound of one /metrics answer: far above what METRICS_MAX_ROUTES routes and
 * METRICS_MAX_BACKENDS backends produce (~8 MiB), so only a bug reaches it (then 500). */
#define ADMIN_METRICS_MAX (32u * 1024u * 1024u)

/* What the counter answers need besides the gateway: a scratch sum (large: every slot;
 * taken on the first scrape, so a gateway never scraped never pays for it) and the start
 * time. */
struct admin_obs {
	struct metrics_totals *tot; /* NULL until the first /metrics or /stats */
	uint64_t started_ms;        /* CLOCK_MONOTONIC at admin_new, for uptime */
	double started_unix;        /* CLOCK_REALTIME at admin_new, seconds */
};

/* Every worker's block summed into the scratch (allocated on first use; only the slots the
 * registry handed out are read). With only >= 0, that worker's block alone. NULL when out of
 * memory. */
struct metrics_totals *admin__sum(struct gateway *gw, struct admin_obs *o, int only);

/* The /metrics text of every worker's counters into b (prom_init'ed by the caller). 0, or
 * -1 when out of memory or over the bound. */
int admin__metrics_text(struct gateway *gw, struct admin_obs *o, struct prom_buf *b);

/* The /stats document (malloc'd, NUL-terminated, *len bytes), or NULL when out of memory.
 * now_ms: CLOCK_MONOTONIC now. */
char *admin__stats_json(struct gateway *gw, struct admin_obs *o, uint64_t now_ms, size_t *len);

/* --admin-token: true when req carries "Authorization: Bearer <token>" (scheme in any case,
 * RFC 9110 11.1), compared in constant time (the time depends on the token's length, never
 * on how much of it matched). token NULL: always true. */
bool admin__token_ok(const char *token, const struct http_request *req);

#endif
