#ifndef WSG_CORE_METRICS_H
#define WSG_CORE_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "proto/http1.h"

/* The gateway's counters (SPEC.md "Admin API", STYLE.md 6 and 7). Each worker owns one
 * struct metrics_worker and is its only writer (relaxed load plus store, no RMW, no lock);
 * the control thread sums every block into a struct metrics_totals for /metrics and /stats.
 * Per-route and per-backend counters are indexed by a stable *slot* from the registry
 * (struct metrics_reg), keyed by route path and backend URL, not by the position in a route
 * table, so a series survives a reload that keeps its path. See metrics.c for the design. */

struct rt_table;
struct metrics_reg;

enum metrics_dir {
	METRICS_UP = 0, /* "upstream": client to backend */
	METRICS_DOWN,   /* "downstream": backend to client */
	METRICS_DIR_COUNT
};

/* Who sent the close first (SPEC.md closes_total{side}). */
enum metrics_side {
	METRICS_SIDE_CLIENT = 0,
	METRICS_SIDE_BACKEND,
	METRICS_SIDE_GATEWAY,
	METRICS_SIDE_COUNT
};

/* Which limit turned a client away (SPEC.md rate_limited_total{limit}). */
enum metrics_limit {
	METRICS_LIMIT_CONNS_PER_IP = 0, /* {limit="conns_per_ip"}: --max-conns-per-ip */
	METRICS_LIMIT_CONN_RATE,        /* {limit="conn_rate"}: --conn-rate */
	METRICS_LIMIT_MSG_RATE,         /* {limit="msg_rate"}: --msg-rate, msg-rate= */
	METRICS_LIMIT_COUNT
};

/* auth_failures_total{reason}: index 0 is "missing" (auth=required and no token), then one
 * per enum jwt_rc failure (auth/jwt.h; jwt_rc_name gives the label). */
#define METRICS_AUTH_REASONS 17u

enum metrics_slab {
	METRICS_SLAB_CONN = 0, /* wsgate_slab_exhausted_total{slab="conn"} */
	METRICS_SLAB_TUNNEL,   /* {slab="tunnel"} */
	METRICS_SLAB_COUNT
};

/* Histograms (SPEC.md handshake_duration_seconds, message_size_bytes, ping_rtt_seconds,
 * send_queue_bytes). Fixed bounds; each slot counts the observations of its bucket alone
 * (the exporter makes them cumulative), the last slot those above every bound (+Inf).
 * Latency in microseconds: 0.5 ms .. 10 s in 1-2.5-5 steps (14 bounds), found by a short
 * scan (a handshake or a pong, never per message). Sizes in bytes: 64 B .. 16 MiB in powers
 * of 4 (10 bounds), found from the bit length (per message: a few instructions). */
#define METRICS_LAT_BOUNDS  14u
#define METRICS_LAT_SLOTS   (METRICS_LAT_BOUNDS + 1u)
#define METRICS_SIZE_BOUNDS 10u
#define METRICS_SIZE_SLOTS  (METRICS_SIZE_BOUNDS + 1u)
/* Loop histograms (loop_turn_seconds, relay_delay_seconds; core/loopstat.h): 1 us .. 131 ms
 * in powers of 2 (18 bounds), found from the bit length (once per loop turn). */
#define METRICS_LOOP_BOUNDS 18u
#define METRICS_LOOP_SLOTS  (METRICS_LOOP_BOUNDS + 1u)

/* ping_rtt_seconds{leg}: which leg the gateway's own keepalive ping went out on. */
enum metrics_leg {
	METRICS_LEG_CLIENT = 0, /* --ping-interval, to clients */
	METRICS_LEG_BACKEND,    /* --backend-ping-interval, to backends */
	METRICS_LEG_COUNT
};

/* tls_handshakes_total{version,result}, client-facing handshakes only. */
enum metrics_tls_version {
	METRICS_TLS_UNKNOWN = 0, /* not negotiated (the handshake did not finish) */
	METRICS_TLS_12,          /* "TLSv1.2" */
	METRICS_TLS_13,          /* "TLSv1.3" */
	METRICS_TLS_VERSIONS
};
enum metrics_tls_result {
	METRICS_TLS_OK = 0,  /* "success" */
	METRICS_TLS_FAILED,  /* "failure": a TLS error (alert, bad record, no shared cipher) */
	METRICS_TLS_ABORTED, /* "aborted": the conn ended first (EOF, reset, handshake timeout) */
	METRICS_TLS_RESULTS
};

/* Close-code index space: 1000-1003 -> 0-3, 1007-1014 -> 4-11, 3000-4999 -> OTHER, anything
 * else -> NONE (see metrics_close_code_index). */
#define METRICS_CLOSE_OTHER 12u
#define METRICS_CLOSE_NONE  13u
#define METRICS_CLOSE_CODES 14u

/* Slot 0 of each space is the overflow slot: what the registry answers when it is full, and
 * where an out-of-range slot passed to a helper is counted. Named slots start at 1. */
#define METRICS_SLOT_OVERFLOW  0u
#define METRICS_MAX_ROUTES     4096u  /* named route slots (distinct paths) per process */
#define METRICS_MAX_BACKENDS   16384u /* named backend slots (distinct URLs) per process */
#define METRICS_ROUTE_SLOTS    (METRICS_MAX_ROUTES + 1u)
#define METRICS_BACKEND_SLOTS  (METRICS_MAX_BACKENDS + 1u)
#define METRICS_OVERFLOW_LABEL "(overflow)"

/* The counter layout, shared by the live (atomic) block and the plain totals so that a field
 * added here is summed and exported without touching metrics_sum. Every member is a T or an
 * array of T. Order: gateway totals first, then the slot arrays (metrics_sum relies on it). */
#define METRICS__FIELDS(T)                                                                         \
	T connections_total;  /* client conns accepted */                                          \
	T connections_active; /* gauge: client conns not yet freed */                              \
	T tunnels_opened;                                                                          \
	T handshake_rejections[HTTP_REJ_COUNT]; /* [HTTP_REJ_NONE] only counts caller bugs */      \
	T messages[METRICS_DIR_COUNT];          /* WebSocket messages, by direction */             \
	T bytes[METRICS_DIR_COUNT];             /* payload bytes of data frames */                 \
	T closes[METRICS_CLOSE_CODES][METRICS_SIDE_COUNT];                                         \
	T slab_exhausted[METRICS_SLAB_COUNT];                                                      \
	T auth_failures[METRICS_AUTH_REASONS]; /* [0] missing token, else by enum jwt_rc */        \
	T rate_limited[METRICS_LIMIT_COUNT];                                                       \
	T tls_handshakes[METRICS_TLS_VERSIONS][METRICS_TLS_RESULTS];                               \
	struct {                                                                                   \
		T slots[METRICS_LAT_SLOTS];                                                        \
		T sum; /* microseconds */                                                          \
	} handshake_hist, ping_hist[METRICS_LEG_COUNT];                                            \
	struct {                                                                                   \
		T slots[METRICS_SIZE_SLOTS];                                                       \
		T sum; /* bytes */                                                                 \
	} msg_size_hist[METRICS_DIR_COUNT], send_queue_hist;                                       \
	struct {                                                                                   \
		T slots[METRICS_LOOP_SLOTS];                                                       \
		T sum; /* microseconds */                                                          \
	} loop_turn_hist, relay_delay_hist;                                                        \
	/* Aligned, not padded by hand: adding a counter above never misplaces routes[]. */        \
	_Alignas(32) struct {                                                                      \
		T messages[METRICS_DIR_COUNT];                                                     \
		T bytes[METRICS_DIR_COUNT];                                                        \
	} routes[METRICS_ROUTE_SLOTS]; /* by route slot: one route's four share a line */          \
	struct {                                                                                   \
		T active;                 /* gauge: open backend conns */                          \
		T attempts;               /* connects started */                                   \
		T failures;               /* connect or upgrade failed */                          \
	} backends[METRICS_BACKEND_SLOTS] /* by backend slot */

struct metrics__shape {
	METRICS__FIELDS(uint64_t);
};
#define METRICS__WORDS (sizeof(struct metrics__shape) / sizeof(uint64_t))

/* One worker's counters. Written only by the owning worker, through the helpers below; read
 * by the control thread (metrics_sum, relaxed). Allocated by the control thread before the
 * workers start (metrics_worker_new), freed after they are joined. Fields are private to
 * this header and metrics.c. */
struct metrics_worker {
	_Alignas(64) union {
		struct {
			METRICS__FIELDS(_Atomic uint64_t);
		};
		_Atomic uint64_t _words[METRICS__WORDS];
	};
};

/* The sum over all workers (plain numbers; the control thread's own copy). A sum is not a
 * snapshot: counters read a little apart may be off by the updates in between, and each
 * one is monotonic (gauges excepted) across successive sums. log_dropped comes from
 * log_dropped_total() (log.c already counts drops on every thread, not only workers). */
struct metrics_totals {
	union {
		struct {
			METRICS__FIELDS(uint64_t);
		};
		uint64_t _words[METRICS__WORDS];
	};
	uint64_t log_dropped;
};

/* A zeroed block, cache-line (in fact page) aligned; its untouched pages are not resident,
 * so unused slots cost address space only. NULL when out of memory. Control thread, before
 * the worker that will own it starts. */
struct metrics_worker *metrics_worker_new(void);
/* NULL is a no-op. Only after the owning worker has been joined. */
void metrics_worker_free(struct metrics_worker *m);

/* Sums n blocks (borrowed; NULL entries are skipped) into *out, overwriting it. With reg,
 * only the slots reg has handed out are read (the others are zero in out); reg == NULL reads
 * every slot. Control thread; safe while the workers run. */
void metrics_sum(const struct metrics_worker *const *w, unsigned n, const struct metrics_reg *reg,
                 struct metrics_totals *out);

/* 1000-1003 -> 0..3, 1007-1014 -> 4..11, 3000-4999 -> METRICS_CLOSE_OTHER; everything else
 * -> METRICS_CLOSE_NONE: 0 (no close frame: EOF, reset, timeout), 1005 (empty close payload),
 * 1006, and codes not allowed on the wire (the ws parser fails those with 1002 first, so
 * the 1002 is what gets counted). Inline: it runs on the close path. */
static inline unsigned metrics_close_code_index(uint16_t code)
{
	if (code >= 1000 && code <= 1003)
		return code - 1000u;
	if (code >= 1007 && code <= 1014)
		return code - 1003u;
	if (code >= 3000 && code <= 4999)
		return METRICS_CLOSE_OTHER;
	return METRICS_CLOSE_NONE;
}

/* Label text for an index: "1000".."1003", "1007".."1014", "other", "none"; NULL when
 * idx >= METRICS_CLOSE_CODES. */
const char *metrics_close_code_label(unsigned idx);
/* "upstream", "downstream"; "client", "backend", "gateway"; "conn", "tunnel". NULL when out
 * of range. */
const char *metrics_dir_label(enum metrics_dir d);
const char *metrics_side_label(enum metrics_side s);
const char *metrics_slab_label(enum metrics_slab s);
/* "conns_per_ip", "conn_rate", "msg_rate"; NULL when out of range. */
const char *metrics_limit_label(enum metrics_limit l);
/* "client", "backend"; "unknown", "TLSv1.2", "TLSv1.3"; "success", "failure", "aborted".
 * NULL when out of range. */
const char *metrics_leg_label(enum metrics_leg l);
const char *metrics_tls_version_label(enum metrics_tls_version v);
const char *metrics_tls_result_label(enum metrics_tls_result r);
/* The enum for a wolfSSL version text ("TLSv1.3"); METRICS_TLS_UNKNOWN for anything else. */
enum metrics_tls_version metrics_tls_version_of(const char *text);

/* Hot-path helpers: owning worker only. Out-of-range enum values and slots are counted in a
 * harmless bucket (HTTP_REJ_NONE, METRICS_SLOT_OVERFLOW, upstream) instead of aborting. */
static inline void metrics__add(_Atomic uint64_t *c, uint64_t v)
{
	/* Single writer: a plain load and store is enough, and costs no locked instruction. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
	                      memory_order_relaxed);
}

static inline void metrics__sub(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) - v,
	                      memory_order_relaxed);
}

static inline uint32_t metrics__route(uint32_t slot)
{
	return slot < METRICS_ROUTE_SLOTS ? slot : METRICS_SLOT_OVERFLOW;
}

static inline uint32_t metrics__backend(uint32_t slot)
{
	return slot < METRICS_BACKEND_SLOTS ? slot : METRICS_SLOT_OVERFLOW;
}

/* A client conn was accepted (connections_total, connections_active + 1). */
static inline void metrics_worker_conn_open(struct metrics_worker *m)
{
	metrics__add(&m->connections_total, 1);
	metrics__add(&m->connections_active, 1);
}

/* A client conn was freed: connections_active - 1. Exactly once per conn_open. */
static inline void metrics_worker_conn_close(struct metrics_worker *m)
{
	metrics__sub(&m->connections_active, 1);
}

static inline void metrics_worker_tunnel_open(struct metrics_worker *m)
{
	metrics__add(&m->tunnels_opened, 1);
}

static inline void metrics_worker_reject(struct metrics_worker *m, enum http_reject r)
{
	unsigned i = (unsigned)r < HTTP_REJ_COUNT ? (unsigned)r : (unsigned)HTTP_REJ_NONE;
	metrics__add(&m->handshake_rejections[i], 1);
}

/* A whole message went dir on the route in slot route_slot: the total and the route's. */
static inline void metrics_worker_message(struct metrics_worker *m, uint32_t route_slot,
                                          enum metrics_dir dir)
{
	unsigned d = (unsigned)dir & 1u;
	metrics__add(&m->messages[d], 1);
	metrics__add(&m->routes[metrics__route(route_slot)].messages[d], 1);
}

/* n payload bytes of data frames went dir (count them as they are relayed, per frame). */
static inline void metrics_worker_payload(struct metrics_worker *m, uint32_t route_slot,
                                          enum metrics_dir dir, uint64_t n)
{
	unsigned d = (unsigned)dir & 1u;
	metrics__add(&m->bytes[d], n);
	metrics__add(&m->routes[metrics__route(route_slot)].bytes[d], n);
}

/* A tunnel or conn ended with code (0 when no close frame was exchanged); side sent the
 * close first. */
static inline void metrics_worker_close(struct metrics_worker *m, uint16_t code,
                                        enum metrics_side side)
{
	unsigned s = (unsigned)side < METRICS_SIDE_COUNT ? (unsigned)side : METRICS_SIDE_GATEWAY;
	metrics__add(&m->closes[metrics_close_code_index(code)][s], 1);
}

static inline void metrics_worker_slab_exhausted(struct metrics_worker *m, enum metrics_slab s)
{
	unsigned i = (unsigned)s < METRICS_SLAB_COUNT ? (unsigned)s : (unsigned)METRICS_SLAB_CONN;
	metrics__add(&m->slab_exhausted[i], 1);
}

/* A token check failed: reason 0 for a missing token, else the enum jwt_rc value. */
static inline void metrics_worker_auth_failure(struct metrics_worker *m, unsigned reason)
{
	metrics__add(&m->auth_failures[reason < METRICS_AUTH_REASONS ? reason : 0u], 1);
}

static inline void metrics_worker_rate_limited(struct metrics_worker *m, enum metrics_limit l)
{
	unsigned i = (unsigned)l < METRICS_LIMIT_COUNT ? (unsigned)l : 0u;
	metrics__add(&m->rate_limited[i], 1);
}

/* The size-bucket slot of v bytes: 0 for v <= 64, k for 64 * 4^(k-1) < v <= 64 * 4^k,
 * METRICS_SIZE_BOUNDS above 16 MiB. From the bit length of v - 1 (ceil(log2 v)), so a
 * message costs a bit scan, a shift and a compare, no loop. */
static inline unsigned metrics_size_slot(uint64_t v)
{
	if (v <= 64)
		return 0;
	unsigned bits = 64u - (unsigned)__builtin_clzll(v - 1); /* v <= 2^bits, v > 2^(bits-1) */
	unsigned k = (bits - 5u) / 2u;                          /* bits 7,8 -> 1; 9,10 -> 2 ... */
	return k < METRICS_SIZE_BOUNDS ? k : METRICS_SIZE_BOUNDS;
}

/* The latency-bucket slot of us microseconds (a scan of the 14 bounds; not for per-message
 * use). */
unsigned metrics_lat_slot(uint64_t us);

/* Upper bounds for the exporter: seconds (latency) and bytes (sizes), ascending. */
extern const double metrics_lat_bounds_s[METRICS_LAT_BOUNDS];
extern const double metrics_size_bounds[METRICS_SIZE_BOUNDS];

/* A client's upgrade completed: us from its accept to the 101 (TLS handshake included). */
static inline void metrics_worker_handshake_done(struct metrics_worker *m, uint64_t us)
{
	metrics__add(&m->handshake_hist.slots[metrics_lat_slot(us)], 1);
	metrics__add(&m->handshake_hist.sum, us);
}

/* The gateway's keepalive ping on leg was answered after us microseconds. */
static inline void metrics_worker_ping_rtt(struct metrics_worker *m, enum metrics_leg leg,
                                           uint64_t us)
{
	unsigned l = (unsigned)leg < METRICS_LEG_COUNT ? (unsigned)leg : 0u;
	metrics__add(&m->ping_hist[l].slots[metrics_lat_slot(us)], 1);
	metrics__add(&m->ping_hist[l].sum, us);
}

/* A whole message of n payload bytes went dir (observed at its last frame's header). */
static inline void metrics_worker_message_size(struct metrics_worker *m, enum metrics_dir dir,
                                               uint64_t n)
{
	unsigned d = (unsigned)dir & 1u;
	metrics__add(&m->msg_size_hist[d].slots[metrics_size_slot(n)], 1);
	metrics__add(&m->msg_size_hist[d].sum, n);
}

/* One sample of a send queue's depth in bytes. */
static inline void metrics_worker_send_queue(struct metrics_worker *m, uint64_t n)
{
	metrics__add(&m->send_queue_hist.slots[metrics_size_slot(n)], 1);
	metrics__add(&m->send_queue_hist.sum, n);
}

/* The loop-bucket slot of us microseconds: 0 for us <= 1, k for 2^(k-1) < us <= 2^k,
 * METRICS_LOOP_BOUNDS above 2^17 us. */
static inline unsigned metrics_loop_slot(uint64_t us)
{
	if (us <= 1)
		return 0;
	unsigned bits = 64u - (unsigned)__builtin_clzll(us - 1); /* us <= 2^bits */
	return bits < METRICS_LOOP_BOUNDS ? bits : METRICS_LOOP_BOUNDS;
}
extern const double metrics_loop_bounds_s[METRICS_LOOP_BOUNDS];

/* One loop turn did us microseconds of work (wait's return to the next submit). */
static inline void metrics_worker_loop_turn(struct metrics_worker *m, uint64_t us)
{
	metrics__add(&m->loop_turn_hist.slots[metrics_loop_slot(us)], 1);
	metrics__add(&m->loop_turn_hist.sum, us);
}

/* n sends were submitted us microseconds after the turn that queued their bytes. */
static inline void metrics_worker_relay_delay(struct metrics_worker *m, uint64_t us, uint64_t n)
{
	metrics__add(&m->relay_delay_hist.slots[metrics_loop_slot(us)], n);
	metrics__add(&m->relay_delay_hist.sum, us * n);
}

/* A client-facing TLS handshake ended (once per TLS conn). */
static inline void metrics_worker_tls_handshake(struct metrics_worker *m,
                                                enum metrics_tls_version v,
                                                enum metrics_tls_result r)
{
	unsigned vi = (unsigned)v < METRICS_TLS_VERSIONS ? (unsigned)v : 0u;
	unsigned ri =
	    (unsigned)r < METRICS_TLS_RESULTS ? (unsigned)r : (unsigned)METRICS_TLS_FAILED;
	metrics__add(&m->tls_handshakes[vi][ri], 1);
}

/* A connect to the backend in slot started. */
static inline void metrics_worker_backend_attempt(struct metrics_worker *m, uint32_t slot)
{
	metrics__add(&m->backends[metrics__backend(slot)].attempts, 1);
}

/* That connect or its upgrade failed (the conn is not counted active). */
static inline void metrics_worker_backend_failure(struct metrics_worker *m, uint32_t slot)
{
	metrics__add(&m->backends[metrics__backend(slot)].failures, 1);
}

/* A backend conn became open (upgraded) / was freed after having been open; paired. */
static inline void metrics_worker_backend_open(struct metrics_worker *m, uint32_t slot)
{
	metrics__add(&m->backends[metrics__backend(slot)].active, 1);
}

static inline void metrics_worker_backend_close(struct metrics_worker *m, uint32_t slot)
{
	metrics__sub(&m->backends[metrics__backend(slot)].active, 1);
}

/* The slot registry: route paths and backend URLs to slot ids, for the life of the process.
 * Control thread only (it builds tables and exports); workers only ever see slot numbers.
 * A slot, once handed out, is never reused nor renamed, so a series keeps its meaning. */

/* max_routes in 1..METRICS_MAX_ROUTES, max_backends in 1..METRICS_MAX_BACKENDS named slots.
 * NULL on bad arguments or out of memory. */
struct metrics_reg *metrics_reg_new(unsigned max_routes, unsigned max_backends);
/* NULL is a no-op. Names returned earlier become invalid. */
void metrics_reg_free(struct metrics_reg *r);

/* The slot for path (borrowed; copied when new): the one it got before, else the next free
 * one, else METRICS_SLOT_OVERFLOW when max_routes are taken (or out of memory). Routes that
 * share a path (they differ by subprotocol) share a slot, as they share the route label. */
uint32_t metrics_route_slot(struct metrics_reg *r, const char *path);
/* Same for backend URLs ("ws://10.0.0.5:9000/api", as configured). */
uint32_t metrics_backend_slot(struct metrics_reg *r, const char *url);

/* The label for a slot: the path / URL, METRICS_OVERFLOW_LABEL for slot 0, NULL for a slot
 * not handed out. Valid until metrics_reg_free. */
const char *metrics_route_name(const struct metrics_reg *r, uint32_t slot);
const char *metrics_backend_name(const struct metrics_reg *r, uint32_t slot);

/* Slots [0, used) are meaningful (the overflow slot and every named one so far). */
unsigned metrics_route_slots_used(const struct metrics_reg *r);
unsigned metrics_backend_slots_used(const struct metrics_reg *r);
/* How many lookups were answered with the overflow slot (for a warning and a gauge). */
uint64_t metrics_reg_overflows(const struct metrics_reg *r);

/* For a table about to be published: route_slots[i] = the slot of rt_table_route(t, i)'s
 * path, backend_slots[j] = the slot of the URL of the backend whose index is j (arrays of
 * rt_table_route_count(t) and rt_table_backend_count(t) entries, caller's). Keep them with
 * the table (a tunnel holds its table, so they live as long as it needs them). */
void metrics_reg_map_table(struct metrics_reg *r, const struct rt_table *t, uint32_t *route_slots,
                           uint32_t *backend_slots);

#endif
