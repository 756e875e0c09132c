#ifndef WSG_ROUTER_RT_H
#define WSG_ROUTER_RT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The routing table: URL path prefixes to backend pools. A table is immutable once built;
 * the control thread publishes a new one whole behind one atomic pointer and frees the old
 * one after every worker has passed a quiescent point (RCU style, see rt_publish). Lookups
 * take no lock and allocate nothing. */

enum rt_lb {
	RT_LB_ROUND_ROBIN = 0,
	RT_LB_LEAST_CONN,
	RT_LB_IP_HASH,
	RT_LB_HEADER_HASH,
};

enum rt_auth {
	RT_AUTH_DEFAULT = 0, /* the gateway-wide --auth */
	RT_AUTH_REQUIRED,
	RT_AUTH_OPTIONAL,
	RT_AUTH_OFF,
};

/* One backend as configured: ws://host:port[/path] or wss://... */
struct rt_backend_def {
	char *url;  /* as given, for logs, metrics labels and /routes */
	bool tls;   /* wss:// */
	char *host; /* as given (name or literal); an IPv6 literal without its brackets */
	uint16_t port;
	char *path;                   /* the URL's path without a trailing '/', "" when none */
	struct sockaddr_storage addr; /* resolved on the control thread */
	socklen_t addr_len;
	unsigned weight; /* 1..100 (ws://h:9000@3, "weight": 3); 0 = the default, 1 */
};

/* One route as configured (flag or JSON); plain data, owned by whoever built it. */
struct rt_route_def {
	char *path; /* "/chat"; "/" is the catch-all */
	struct rt_backend_def *backends;
	unsigned n_backends;
	bool has_lb; /* lb= given; else the gateway default */
	enum rt_lb lb;
	char *lb_header; /* header-hash:NAME */
	enum rt_auth auth;
	char **origins; /* origin=, repeatable */
	unsigned n_origins;
	uint64_t max_message;         /* 0 = gateway default */
	uint32_t msg_rate, msg_burst; /* 0 = gateway default */
	bool strip_prefix;
	bool tls_no_verify; /* tls-verify=false: wss:// backends of this route are not verified */
	bool forward_token; /* forward-token=true: a verified token still goes to the backend */
	char *subprotocol;  /* NULL = matches any offer */
};

struct rt_backend {
	const char *url;
	bool tls;
	const char *host;
	uint16_t port;
	const char *path; /* "" or "/api" */
	size_t path_len;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	unsigned index;     /* position in the table's flat backend array */
	uint32_t stat_slot; /* the counters' slot for this backend URL (rt_table_set_stat_slots);
	                     * also its health and least-conn state (router/health.h, lb.h) */
	uint8_t weight;     /* 1..100 */
};

struct lb_pool;

struct rt_route {
	const char *path;
	size_t path_len;
	const struct rt_backend *backends;
	unsigned n_backends;
	enum rt_lb lb;
	const char *lb_header;
	const struct lb_pool *lb_pool; /* the policy's data (router/lb.h), built with the table */
	enum rt_auth auth;
	const char *const *origins;
	unsigned n_origins;
	uint64_t max_message;
	uint32_t msg_rate, msg_burst;
	bool strip_prefix;
	bool tls_no_verify;
	bool forward_token;
	const char *subprotocol;
	unsigned index;     /* position in the table */
	uint32_t stat_slot; /* the counters' slot for this route path (rt_table_set_stat_slots) */
};

struct rt_table;

/* Builds a table from defs (borrowed: everything is copied into one allocation). Fails when
 * a path is given twice (same path and same subprotocol), a path does not start with '/', or
 * a route has no backend; err then holds one line naming the route. Trailing '/' of a route
 * path is dropped ("/chat/" is "/chat"), so the two count as the same path. The table keeps
 * the routes in the order given (rt_table_route). Control thread only. */
struct rt_table *rt_table_new(const struct rt_route_def *defs, unsigned n, char *err,
                              size_t err_len);
/* The gateway-wide --lb, for routes without lb= (has_lb false). */
struct rt_lb_default {
	enum rt_lb lb;
	const char *lb_header; /* header-hash:NAME; borrowed */
};
/* rt_table_new with a default policy (dflt NULL: round-robin). Also fails on a backend weight
 * over 100. Each route gets its balancing data (router/lb.h). Control thread only. */
struct rt_table *rt_table_new_lb(const struct rt_route_def *defs, unsigned n,
                                 const struct rt_lb_default *dflt, char *err, size_t err_len);
void rt_table_free(struct rt_table *t);

unsigned rt_table_route_count(const struct rt_table *t);
const struct rt_route *rt_table_route(const struct rt_table *t, unsigned i);
unsigned rt_table_backend_count(const struct rt_table *t);
/* Data of the layer above that lives exactly as long as the table (per-route origin lists
 * built for it): set by the control thread before rt_publish, freed with the table by
 * ext_free. rt_table_ext: any thread that can see the table. */
void rt_table_set_ext(struct rt_table *t, void *ext, void (*ext_free)(void *ext));
void *rt_table_ext(const struct rt_table *t);

/* Records, for each route and backend (indexed by their index), the slot their counters use
 * (the registry that assigns slots is core's). Control thread, before rt_publish: a
 * published table is never written again. NULL arrays leave the slots at 0. */
void rt_table_set_stat_slots(struct rt_table *t, const uint32_t *route_slots,
                             const uint32_t *backend_slots);

/* Longest path-prefix match on segment boundaries ("/chat" matches "/chat", "/chat/x" and
 * "/chat?..." paths, not "/chatter"; "/" matches everything). Among routes with the same
 * path, one whose subprotocol is in `offered` (the client's Sec-WebSocket-Protocol list,
 * comma-separated, may be empty) wins over one without a subprotocol; a route with a
 * subprotocol the client did not offer never matches. NULL when nothing matches. */
const struct rt_route *rt_lookup(const struct rt_table *t, const char *path, size_t path_len,
                                 const char *offered, size_t offered_len);

/* Builds the path the backend sees (SPEC.md): the backend URL's path, then the client's path
 * with the route's prefix removed when strip_prefix ("/chat" gives "/"). path is the path
 * only: the caller appends "?query". Writes into out, NUL-terminated, and returns its length,
 * or -1 when it (and the NUL) does not fit in cap. */
/* The policy's name as the flags and the JSON file spell it: "round-robin", "least-conn",
 * "ip-hash", or "header-hash:NAME" written into buf (cap bytes). */
const char *rt_lb_name(enum rt_lb lb, const char *header, char *buf, size_t cap);

int rt_backend_path(const struct rt_route *r, const struct rt_backend *b, const char *path,
                    size_t path_len, char *out, size_t cap);

/* Publication (RCU style). rt_publish: control thread only; takes next (may be NULL).
 * rt_acquire: workers, once per loop turn, after rt_quiescent. rt_quiescent: each worker at
 * the top of each loop turn, announcing it holds no pointer from before; a worker waiting
 * for I/O must wake at least every 100 ms to call it, or reclamation waits for it.
 * rt_reclaim: control thread, frees retired tables that every registered worker has passed.
 * rt_workers_init: before workers start (0 or -1); every slot starts as "holds an old
 * pointer" until that worker's first rt_quiescent, so a worker that has not started yet
 * delays frees but is never raced. */
int rt_workers_init(unsigned n_workers);
void rt_publish(struct rt_table *next);
const struct rt_table *rt_acquire(void);
void rt_quiescent(unsigned worker);
/* A worker that stops (exit) or parks for long announces it holds no pointer and will not
 * call rt_acquire until its next rt_quiescent, so reclamation no longer waits for it. */
void rt_worker_offline(unsigned worker);
void rt_reclaim(void);
/* The same grace period for another immutable snapshot the workers load once per turn (a TLS
 * context set): the caller has already swapped obj out of its atomic pointer; free_fn(obj)
 * runs in the first rt_reclaim after every worker passed a quiescent point. Control thread.
 * 0, or -1 when out of memory (obj is then not freed: leaked rather than freed early). */
int rt_retire_object(void *obj, void (*free_fn)(void *obj));
/* How many tables rt_publish has published so far: a reader on the control thread (the health
 * checker) notices a new table by this number changing, where comparing table pointers could be
 * fooled by a new table allocated where a freed one was. Control thread only. */
uint64_t rt_table_generation(void);
/* Retired tables not yet freed (control thread; for tests and a gauge). */
unsigned rt_retired_count(void);
/* A tunnel keeps the table its route came from for its whole life (open connections are
 * untouched by a route change): hold takes a reference, release drops it; a retired table is
 * freed only when it has no holder left. Any thread. */
void rt_table_hold(const struct rt_table *t);
void rt_table_release(const struct rt_table *t);
/* True while some holder has not released t (acquire: pairs with the last release). Only
 * rt_reclaim needs it; a retired, unheld table is freed on the next rt_reclaim. */
bool rt_table_is_held(const struct rt_table *t);
/* Frees the current table and everything retired (process exit, no worker running). */
void rt_shutdown(void);

/* Parses ws://host[:port][/path] or wss://... into b (host not resolved; b is overwritten,
 * free it with rt_backend_def_fini). The port defaults to 80 / 443. Rejects other schemes,
 * an empty host, port 0 or over 65535, user info, a query or fragment, and bytes that are not
 * printable ASCII. 0, or -1 with one line in err naming the URL. */
int rt_backend_def_parse(const char *url, struct rt_backend_def *b, char *err, size_t err_len);
void rt_backend_def_fini(struct rt_backend_def *b);
/* Frees everything def owns (backends included) and zeroes it; NULL fields are fine. */
void rt_route_def_fini(struct rt_route_def *def);

#endif
