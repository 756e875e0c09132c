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
	char *host; /* as given (name or literal) */
	uint16_t port;
	char *path;                   /* the URL's path without a trailing '/', "" when none */
	struct sockaddr_storage addr; /* resolved on the control thread */
	socklen_t addr_len;
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
	char *subprotocol; /* NULL = matches any offer */
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
	unsigned index; /* position in the table's flat backend array */
};

struct rt_route {
	const char *path;
	size_t path_len;
	const struct rt_backend *backends;
	unsigned n_backends;
	enum rt_lb lb;
	const char *lb_header;
	enum rt_auth auth;
	const char *const *origins;
	unsigned n_origins;
	uint64_t max_message;
	uint32_t msg_rate, msg_burst;
	bool strip_prefix;
	const char *subprotocol;
	unsigned index; /* position in the table */
};

struct rt_table;

/* Builds a table from defs (borrowed: everything is copied into one allocation). Fails when
 * a path is given twice (same path and same subprotocol), a path does not start with '/', or
 * a route has no backend; err then holds one line naming the route. Control thread only. */
struct rt_table *rt_table_new(const struct rt_route_def *defs, unsigned n, char *err,
                              size_t err_len);
void rt_table_free(struct rt_table *t);

unsigned rt_table_route_count(const struct rt_table *t);
const struct rt_route *rt_table_route(const struct rt_table *t, unsigned i);
unsigned rt_table_backend_count(const struct rt_table *t);

/* Longest path-prefix match on segment boundaries ("/chat" matches "/chat", "/chat/x" and
 * "/chat?..." paths, not "/chatter"; "/" matches everything). Among routes with the same
 * path, one whose subprotocol is in `offered` (the client's Sec-WebSocket-Protocol list,
 * comma-separated, may be empty) wins over one without a subprotocol; a route with a
 * subprotocol the client did not offer never matches. NULL when nothing matches. */
const struct rt_route *rt_lookup(const struct rt_table *t, const char *path, size_t path_len,
                                 const char *offered, size_t offered_len);

/* The backend index (0..n_backends-1) to try first. seq is the calling worker's own
 * per-connection counter (round-robin is kept per worker); key_hash is the client IP hash or
 * the header hash for the hash policies; conns (may be NULL) holds each backend's active
 * connection count for least-conn. Later tries go on from there, each backend once. */
unsigned rt_pick(const struct rt_route *r, uint64_t seq, uint64_t key_hash, const uint32_t *conns);

/* Builds the path the backend sees (SPEC.md): the backend URL's path, then the client's path
 * with the route's prefix removed when strip_prefix ("/chat" gives "/"). Writes into out and
 * returns its length, or -1 when it does not fit. */
int rt_backend_path(const struct rt_route *r, const struct rt_backend *b, const char *path,
                    size_t path_len, char *out, size_t cap);

/* Publication (RCU style). rt_publish: control thread only; takes next. rt_acquire: workers,
 * once per loop turn. rt_quiescent: each worker at the top of each loop turn, announcing it
 * holds no pointer from before. rt_reclaim: control thread, frees retired tables that every
 * registered worker has passed. rt_workers_init: before workers start. */
int rt_workers_init(unsigned n_workers);
void rt_publish(struct rt_table *next);
const struct rt_table *rt_acquire(void);
void rt_quiescent(unsigned worker);
void rt_reclaim(void);
/* Frees the current table and everything retired (process exit, no worker running). */
void rt_shutdown(void);

/* Parses ws://host:port[/path] or wss://... into b (host not resolved). 0 or -1. */
int rt_backend_def_parse(const char *url, struct rt_backend_def *b, char *err, size_t err_len);
void rt_route_def_fini(struct rt_route_def *def);

#endif
