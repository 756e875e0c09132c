/* Gateway counters: per-worker blocks, their sum, and the route/backend slot registry.
 *
 * Owns: struct metrics_worker (one per worker), the sum into struct metrics_totals, the
 * label texts, and struct metrics_reg (path/URL -> slot). It does not export: the admin
 * code formats totals as Prometheus text or /stats JSON.
 *
 * Threads: the control thread allocates every block before the workers start (so the block
 * pointer is published by pthread_create), each worker is the only writer of its block, and
 * the control thread reads all of them while they run (metrics_sum) and frees them after
 * joining. The registry is control-thread only: it maps names when a table is built, and
 * names slots when exporting; workers only carry slot numbers.
 *
 * Memory ordering: every counter is an _Atomic uint64_t updated with a relaxed load plus a
 * relaxed store (on x86-64 and arm64 two plain instructions, no lock prefix, no LL/SC loop).
 * That is enough because there is one writer per word; the atomic type is what makes the
 * concurrent read by the control thread defined behaviour (and TSan-clean), and relaxed is
 * enough because no other data is published through a counter. A reader sees each word at
 * some value it had; it does not see a consistent cut across words (fine for metrics).
 *
 * Per-route and per-backend counters are indexed by a slot that the registry assigns to a
 * route *path* (backend *URL*), never reused while the process lives. A reload that keeps a
 * path keeps its slot, hence its series; a tunnel started under an old table keeps counting
 * into the slot its route had, which is the same series. Slot 0 is the overflow slot, so
 * that a registry that is full (or a slot out of range) still counts somewhere, visibly.
 * Slots are bounded (4096 routes, 16384 backends): a block is ~520 KiB of address space,
 * but it comes from mmap and only pages of slots actually used become resident.
 *
 * Histograms live in the same block, as counters: one word per bucket (only its own
 * observations; the exporter accumulates) plus a sum, so an observation is two load-store
 * pairs like any counter, and metrics_sum adds them with everything else. Their bounds are
 * fixed at build time (a series must not change its buckets between scrapes). A sum in
 * integer microseconds or bytes keeps it exact; only the exporter turns it into seconds.
 *
 * Rejected:
 * - Per-observation atomics or a lock on shared histograms (HdrHistogram-style shared
 *   arrays): a locked RMW per message, the cost the counters were built to avoid.
 * - Log-linear buckets with sub-buckets (HdrHistogram, DDSketch): finer, but Prometheus
 *   needs fixed le= bounds anyway, and 10-15 bounds per family is what dashboards use.
 * - One shared set of atomic counters with atomic_fetch_add: a locked RMW on a cache line
 *   every worker writes, on every message; the line bounces between cores.
 * - A lock around shared counters: worse still, and STYLE.md forbids mutexes on workers.
 * - Counters inside each route table (indexed by rt_route.index): a reload would reset every
 *   series (Prometheus sees a counter reset per reload), old tunnels would count into a
 *   retired table, and the exporter would have to sum across live and retired tables.
 * - Reusing the slots of routes that disappeared: a series would silently change meaning.
 * - Keeping the log drop count here too: log.c already counts drops on every thread that
 *   logs (acceptor and control included), so metrics_sum reads log_dropped_total(). */
#include "core/metrics.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "auth/jwt.h"
#include "core/log.h"
#include "router/rt.h"

_Static_assert(METRICS_AUTH_REASONS == JWT_RC_COUNT, "one auth failure counter per jwt_rc");
_Static_assert(sizeof(_Atomic uint64_t) == sizeof(uint64_t), "atomic counters are plain words");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "counters must be lock-free");
_Static_assert(sizeof(struct metrics_worker) % 64 == 0, "blocks fill whole cache lines");
_Static_assert(offsetof(struct metrics_worker, routes) == offsetof(struct metrics__shape, routes),
               "live and plain layouts agree");
_Static_assert(offsetof(struct metrics_totals, backends) ==
                   offsetof(struct metrics__shape, backends),
               "totals and plain layouts agree");
_Static_assert(sizeof(((struct metrics__shape *)0)->routes[0]) == 4 * sizeof(uint64_t),
               "route slot size");
_Static_assert(offsetof(struct metrics__shape, routes) % 32 == 0, "a route slot is in one line");
_Static_assert(sizeof(((struct metrics__shape *)0)->backends[0]) == 3 * sizeof(uint64_t),
               "backend slot size");
_Static_assert(sizeof(((struct metrics__shape *)0)->msg_size_hist[0]) ==
                   (METRICS_SIZE_SLOTS + 1) * sizeof(uint64_t),
               "a size histogram is its slots and its sum");

struct metrics_worker *metrics_worker_new(void)
{
	void *p = mmap(NULL, sizeof(struct metrics_worker), PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void metrics_worker_free(struct metrics_worker *m)
{
	if (m != NULL)
		munmap(m, sizeof(*m));
}

#define METRICS__WORD(member) (offsetof(struct metrics__shape, member) / sizeof(uint64_t))
#define METRICS__ROUTE_WORDS  (sizeof(((struct metrics__shape *)0)->routes[0]) / sizeof(uint64_t))
#define METRICS__BACKEND_WORDS                                                                     \
	(sizeof(((struct metrics__shape *)0)->backends[0]) / sizeof(uint64_t))

/* Adds words [from, to) of every block into out. */
static void metrics_sum_range(const struct metrics_worker *const *w, unsigned n, size_t from,
                              size_t to, struct metrics_totals *out)
{
	for (unsigned i = 0; i < n; i++) {
		if (w[i] == NULL)
			continue;
		const _Atomic uint64_t *src = w[i]->_words;
		for (size_t k = from; k < to; k++)
			out->_words[k] += atomic_load_explicit(&src[k], memory_order_relaxed);
	}
}

void metrics_sum(const struct metrics_worker *const *w, unsigned n, const struct metrics_reg *reg,
                 struct metrics_totals *out)
{
	size_t routes = METRICS_ROUTE_SLOTS, backends = METRICS_BACKEND_SLOTS;
	if (reg != NULL) {
		routes = metrics_route_slots_used(reg);
		backends = metrics_backend_slots_used(reg);
	}
	memset(out, 0, sizeof(*out));
	size_t r0 = METRICS__WORD(routes), b0 = METRICS__WORD(backends);
	metrics_sum_range(w, n, 0, r0, out);
	metrics_sum_range(w, n, r0, r0 + routes * METRICS__ROUTE_WORDS, out);
	metrics_sum_range(w, n, b0, b0 + backends * METRICS__BACKEND_WORDS, out);
	out->log_dropped = log_dropped_total();
}

/* Latency bounds in microseconds, and the same in seconds for the exporter. */
static const uint32_t metrics_lat_bounds_us[METRICS_LAT_BOUNDS] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
const double metrics_lat_bounds_s[METRICS_LAT_BOUNDS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
const double metrics_loop_bounds_s[METRICS_LOOP_BOUNDS] = {
    0.000001, 0.000002, 0.000004, 0.000008, 0.000016, 0.000032, 0.000064, 0.000128, 0.000256,
    0.000512, 0.001024, 0.002048, 0.004096, 0.008192, 0.016384, 0.032768, 0.065536, 0.131072,
};
const double metrics_size_bounds[METRICS_SIZE_BOUNDS] = {
    64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216,
};

unsigned metrics_lat_slot(uint64_t us)
{
	unsigned i = 0;
	while (i < METRICS_LAT_BOUNDS && us > metrics_lat_bounds_us[i])
		i++;
	return i;
}

static const char *const metrics_close_labels[METRICS_CLOSE_CODES] = {
    "1000", "1001", "1002", "1003", "1007", "1008",  "1009",
    "1010", "1011", "1012", "1013", "1014", "other", "none",
};

const char *metrics_close_code_label(unsigned idx)
{
	return idx < METRICS_CLOSE_CODES ? metrics_close_labels[idx] : NULL;
}

const char *metrics_dir_label(enum metrics_dir d)
{
	switch (d) {
	case METRICS_UP:
		return "upstream";
	case METRICS_DOWN:
		return "downstream";
	case METRICS_DIR_COUNT:
		break;
	}
	return NULL;
}

const char *metrics_side_label(enum metrics_side s)
{
	switch (s) {
	case METRICS_SIDE_CLIENT:
		return "client";
	case METRICS_SIDE_BACKEND:
		return "backend";
	case METRICS_SIDE_GATEWAY:
		return "gateway";
	case METRICS_SIDE_COUNT:
		break;
	}
	return NULL;
}

const char *metrics_slab_label(enum metrics_slab s)
{
	switch (s) {
	case METRICS_SLAB_CONN:
		return "conn";
	case METRICS_SLAB_TUNNEL:
		return "tunnel";
	case METRICS_SLAB_COUNT:
		break;
	}
	return NULL;
}

const char *metrics_limit_label(enum metrics_limit l)
{
	switch (l) {
	case METRICS_LIMIT_CONNS_PER_IP:
		return "conns_per_ip";
	case METRICS_LIMIT_CONN_RATE:
		return "conn_rate";
	case METRICS_LIMIT_MSG_RATE:
		return "msg_rate";
	case METRICS_LIMIT_COUNT:
		break;
	}
	return NULL;
}

/* One name space (routes or backends): open addressing over slot numbers, names by slot. */
struct metrics_names {
	unsigned max;    /* named slots allowed */
	unsigned named;  /* named slots handed out: 1..named are taken */
	uint32_t mask;   /* hash size - 1; the size is a power of two >= 2 * max */
	uint32_t *hash;  /* 0 = empty, else a slot */
	char **name;     /* [slot], slot 1..max; [0] unused */
	uint64_t misses; /* lookups answered with the overflow slot */
};

struct metrics_reg {
	struct metrics_names routes;
	struct metrics_names backends;
};

static int metrics_names_init(struct metrics_names *s, unsigned max)
{
	uint32_t size = 2;
	while (size < 2u * max)
		size <<= 1;
	memset(s, 0, sizeof(*s));
	s->max = max;
	s->mask = size - 1;
	s->hash = calloc(size, sizeof(*s->hash));
	s->name = calloc((size_t)max + 1, sizeof(*s->name));
	if (s->hash == NULL || s->name == NULL)
		return -ENOMEM;
	return 0;
}

static void metrics_names_fini(struct metrics_names *s)
{
	if (s->name != NULL) {
		for (unsigned i = 1; i <= s->named; i++)
			free(s->name[i]);
	}
	free(s->name);
	free(s->hash);
	memset(s, 0, sizeof(*s));
}

static uint64_t metrics_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint32_t metrics_names_slot(struct metrics_names *s, const char *key)
{
	uint32_t i = (uint32_t)metrics_hash(key) & s->mask;
	/* The table is at most half full, so the probe ends at an empty entry. */
	for (;; i = (i + 1) & s->mask) {
		uint32_t slot = s->hash[i];
		if (slot == 0)
			break;
		if (strcmp(s->name[slot], key) == 0)
			return slot;
	}
	if (s->named >= s->max)
		goto out_overflow;
	char *copy = strdup(key);
	if (copy == NULL)
		goto out_overflow;
	uint32_t slot = ++s->named;
	s->name[slot] = copy;
	s->hash[i] = slot;
	return slot;
out_overflow:
	s->misses++;
	return METRICS_SLOT_OVERFLOW;
}

static const char *metrics_names_name(const struct metrics_names *s, uint32_t slot)
{
	if (slot == METRICS_SLOT_OVERFLOW)
		return METRICS_OVERFLOW_LABEL;
	return slot <= s->named ? s->name[slot] : NULL;
}

struct metrics_reg *metrics_reg_new(unsigned max_routes, unsigned max_backends)
{
	if (max_routes == 0 || max_routes > METRICS_MAX_ROUTES || max_backends == 0 ||
	    max_backends > METRICS_MAX_BACKENDS)
		return NULL;
	struct metrics_reg *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	if (metrics_names_init(&r->routes, max_routes) != 0)
		goto out_fini_routes;
	if (metrics_names_init(&r->backends, max_backends) != 0)
		goto out_fini_backends;
	return r;
out_fini_backends:
	metrics_names_fini(&r->backends);
out_fini_routes:
	metrics_names_fini(&r->routes);
	free(r);
	return NULL;
}

void metrics_reg_free(struct metrics_reg *r)
{
	if (r == NULL)
		return;
	metrics_names_fini(&r->routes);
	metrics_names_fini(&r->backends);
	free(r);
}

uint32_t metrics_route_slot(struct metrics_reg *r, const char *path)
{
	return metrics_names_slot(&r->routes, path);
}

uint32_t metrics_backend_slot(struct metrics_reg *r, const char *url)
{
	return metrics_names_slot(&r->backends, url);
}

const char *metrics_route_name(const struct metrics_reg *r, uint32_t slot)
{
	return metrics_names_name(&r->routes, slot);
}

const char *metrics_backend_name(const struct metrics_reg *r, uint32_t slot)
{
	return metrics_names_name(&r->backends, slot);
}

unsigned metrics_route_slots_used(const struct metrics_reg *r)
{
	return r->routes.named + 1;
}

unsigned metrics_backend_slots_used(const struct metrics_reg *r)
{
	return r->backends.named + 1;
}

uint64_t metrics_reg_overflows(const struct metrics_reg *r)
{
	return r->routes.misses + r->backends.misses;
}

void metrics_reg_map_table(struct metrics_reg *r, const struct rt_table *t, uint32_t *route_slots,
                           uint32_t *backend_slots)
{
	unsigned n = rt_table_route_count(t);
	for (unsigned i = 0; i < n; i++) {
		const struct rt_route *rt = rt_table_route(t, i);
		route_slots[rt->index] = metrics_route_slot(r, rt->path);
		for (unsigned j = 0; j < rt->n_backends; j++) {
			const struct rt_backend *b = &rt->backends[j];
			backend_slots[b->index] = metrics_backend_slot(r, b->url);
		}
	}
}

const char *metrics_leg_label(enum metrics_leg l)
{
	switch (l) {
	case METRICS_LEG_CLIENT:
		return "client";
	case METRICS_LEG_BACKEND:
		return "backend";
	case METRICS_LEG_COUNT:
		break;
	}
	return NULL;
}

const char *metrics_tls_version_label(enum metrics_tls_version v)
{
	switch (v) {
	case METRICS_TLS_UNKNOWN:
		return "unknown";
	case METRICS_TLS_12:
		return "TLSv1.2";
	case METRICS_TLS_13:
		return "TLSv1.3";
	case METRICS_TLS_VERSIONS:
		break;
	}
	return NULL;
}

const char *metrics_tls_result_label(enum metrics_tls_result r)
{
	switch (r) {
	case METRICS_TLS_OK:
		return "success";
	case METRICS_TLS_FAILED:
		return "failure";
	case METRICS_TLS_ABORTED:
		return "aborted";
	case METRICS_TLS_RESULTS:
		break;
	}
	return NULL;
}

enum metrics_tls_version metrics_tls_version_of(const char *text)
{
	if (text != NULL && strcmp(text, "TLSv1.3") == 0)
		return METRICS_TLS_13;
	if (text != NULL && strcmp(text, "TLSv1.2") == 0)
		return METRICS_TLS_12;
	return METRICS_TLS_UNKNOWN;
}
