#ifndef WSG_ROUTER_LB_H
#define WSG_ROUTER_LB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router/rt.h"

/* Balancing: which backend of a route a new client is sent to first (SPEC.md "--lb").
 *
 * round-robin: smooth weighted round robin, per worker (the caller passes its own counter
 *   for the route); least-conn: fewest active connections per unit of weight, gateway-wide
 *   (lb_conn_acquire/release), ties broken in rotation; ip-hash and header-hash: a consistent
 *   hash ring, so that adding or removing one of N backends moves about 1/N of the keys.
 * Every policy honours weights (1..100) and skips backends that are down
 * (router/health.h). The per-route data (struct lb_pool) is built with the route table and
 * immutable once published; a pick allocates nothing and takes no lock. */

#define LB_NONE UINT32_MAX /* lb_pick: every backend of the route is down */

struct lb_pool;

/* Builds the balancing data for the n backends of one route (borrowed: their url and weight
 * are read; weight 0 counts as 1). NULL when out of memory or n is 0 or over 65536. Control
 * thread (the table builder). */
struct lb_pool *lb_pool_new(enum rt_lb lb, const struct rt_backend *backends, unsigned n);
/* NULL is a no-op. */
void lb_pool_free(struct lb_pool *p);

/* The backend index (0..r->n_backends-1) to try first, or LB_NONE when all are down at
 * now_ms. seq: the calling worker's own counter for this route (incremented by the caller per
 * pick); key: the hash policies' key hash (lb_hash_bytes of the client address or of the
 * header value), NULL when there is none (header-hash without the header), which falls back to
 * round robin. A route without a pool (r->lb_pool NULL, table built without one) is plain
 * rotation from seq. Any worker. */
uint32_t lb_pick(const struct rt_route *r, uint64_t seq, const uint64_t *key, uint64_t now_ms);

/* A 64-bit hash of [p, p + n), well mixed (FNV-1a then the splitmix64 finaliser). */
uint64_t lb_hash_bytes(const void *p, size_t n);

/* Gateway-wide active connection counts by backend slot (rt_backend.stat_slot), for
 * least-conn: acquire when a dial to the backend starts, release exactly once when that
 * attempt fails or its backend conn is freed. Any worker (one atomic add each: connection
 * open and close only, never per message). */
void lb_conn_acquire(uint32_t slot);
void lb_conn_release(uint32_t slot);
uint32_t lb_conns_active(uint32_t slot);

#endif
