/* router/lb.c: the balancing policies and their per-route data.
 *
 * Owns: struct lb_pool (one per route, built by rt_table_new and freed with the table), the
 * pick (lb_pick, on the worker, once per new client) and the gateway-wide active connection
 * counts for least-conn. Reads backend health (router/health.h) but never writes it.
 *
 * round-robin is a precomputed smooth weighted schedule (nginx's SWRR: each step every
 * backend gains its weight, the largest total is picked and loses the sum), one entry per
 * unit of weight, so weights 5/1/1 give a a b a c a a rather than a a a a a b c; the worker
 * indexes it with its own per-route counter, so there is no shared state at all. Building
 * SWRR costs n x sum(weights); over 256 backends that grows fast, and the schedule is built
 * interleaved instead (round k takes every backend whose weight is at least k), which is
 * still proportional and as smooth as the weights allow to within one round.
 *
 * least-conn compares active/weight (cross-multiplied, no division) over the route's
 * backends, scanning from the rotation point so that ties go round. The counts are
 * gateway-wide atomics indexed by backend slot, incremented when a dial starts (so a burst of
 * clients does not all see the same "least" backend) and decremented when that attempt fails
 * or the backend conn is freed: two atomic adds per connection, none per message.
 *
 * ip-hash and header-hash use a hash ring: each backend puts weight x V points on a 64-bit
 * circle (V = 160, fewer for huge pools), at hashes of its URL and the point number, so a
 * backend's points do not depend on which other backends exist; a key goes to the first
 * point at or after its hash. Adding a backend moves only the keys that fall on its new
 * points (about 1/N); removing one moves only its own keys. A point whose backend is down
 * is passed over, so a down backend's keys spread over the others and come back when it does.
 *
 * Rejected: Maglev (O(1) lookup, but its table of M >= 100 x N entries is rebuilt with a
 * small reshuffle among the remaining backends on every change, where the ring moves exactly
 * the keys of the backend that changed; a binary search over a few hundred points is a few
 * nanoseconds at one pick per connection); key % n, what rt_pick did (adding a 4th backend
 * moved 3/4 of the keys); per-worker least-conn counts (SPEC.md asks for gateway-wide). */
#include "router/lb.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "router/health.h"

#define LB_RING_POINTS     160u       /* ring points per unit of weight */
#define LB_RING_MAX_POINTS (1u << 20) /* a pool's whole ring, at most */
#define LB_SWRR_MAX        256u       /* above this many backends: interleaved schedule */

struct lb_point {
	uint64_t hash;
	uint32_t backend;
};

struct lb_pool {
	enum rt_lb lb;
	unsigned n;
	uint32_t *sched; /* round-robin schedule: n_sched backend indexes */
	unsigned n_sched;
	struct lb_point *ring; /* hash policies: n_ring points sorted by hash */
	unsigned n_ring;
};

static _Atomic uint32_t lb_conns[HEALTH_SLOTS];

static uint64_t lb_mix(uint64_t x)
{
	/* splitmix64's finaliser: FNV-1a alone leaves the high bits of short keys poorly
	 * mixed, and the ring is searched by the whole 64 bits. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t lb_fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t lb_hash_bytes(const void *p, size_t n)
{
	return lb_mix(lb_fnv(0xcbf29ce484222325ull, p, n));
}

static unsigned lb_weight(const struct rt_backend *b)
{
	return b->weight == 0 ? 1u : b->weight;
}

static int lb_sched_build(struct lb_pool *p, const struct rt_backend *b, unsigned n)
{
	unsigned total = 0, max_w = 0;
	for (unsigned i = 0; i < n; i++) {
		unsigned w = lb_weight(&b[i]);
		total += w;
		if (w > max_w)
			max_w = w;
	}
	p->sched = malloc((size_t)total * sizeof(*p->sched));
	if (p->sched == NULL)
		return -1;
	p->n_sched = total;
	if (n > LB_SWRR_MAX) {
		unsigned k = 0;
		for (unsigned round = 1; round <= max_w; round++)
			for (unsigned i = 0; i < n; i++)
				if (lb_weight(&b[i]) >= round)
					p->sched[k++] = i;
		return 0;
	}
	int64_t *cur = calloc(n, sizeof(*cur));
	if (cur == NULL)
		return -1;
	for (unsigned k = 0; k < total; k++) {
		unsigned best = 0;
		for (unsigned i = 0; i < n; i++) {
			cur[i] += lb_weight(&b[i]);
			if (cur[i] > cur[best])
				best = i;
		}
		cur[best] -= total;
		p->sched[k] = best;
	}
	free(cur);
	return 0;
}

static int lb_point_cmp(const void *pa, const void *pb)
{
	const struct lb_point *a = pa, *b = pb;
	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return a->backend < b->backend ? -1 : (a->backend > b->backend ? 1 : 0);
}

static int lb_ring_build(struct lb_pool *p, const struct rt_backend *b, unsigned n)
{
	uint64_t total_w = 0;
	for (unsigned i = 0; i < n; i++)
		total_w += lb_weight(&b[i]);
	uint64_t per = LB_RING_POINTS;
	if (total_w * per > LB_RING_MAX_POINTS)
		per = LB_RING_MAX_POINTS / total_w ? LB_RING_MAX_POINTS / total_w : 1;
	p->n_ring = (unsigned)(total_w * per);
	p->ring = malloc((size_t)p->n_ring * sizeof(*p->ring));
	if (p->ring == NULL)
		return -1;
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++) {
		/* The URL identifies a backend across tables. Its NUL is hashed too, as a
		 * separator, so "ws://a:1" point 12 and "ws://a:11" point 2 never collide. */
		const char *url = b[i].url ? b[i].url : "";
		uint64_t base = lb_fnv(0xcbf29ce484222325ull, url, strlen(url) + 1);
		uint32_t points = (uint32_t)(lb_weight(&b[i]) * per);
		for (uint32_t j = 0; j < points; j++) {
			p->ring[k].hash = lb_mix(lb_fnv(base, &j, sizeof(j)));
			p->ring[k].backend = i;
			k++;
		}
	}
	qsort(p->ring, p->n_ring, sizeof(*p->ring), lb_point_cmp);
	return 0;
}

struct lb_pool *lb_pool_new(enum rt_lb lb, const struct rt_backend *backends, unsigned n)
{
	if (n == 0 || n > 65536u || backends == NULL)
		return NULL;
	struct lb_pool *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->lb = lb;
	p->n = n;
	/* Every pool has a schedule: header-hash without the header is round robin. */
	if (lb_sched_build(p, backends, n) != 0)
		goto out_free_p;
	if ((lb == RT_LB_IP_HASH || lb == RT_LB_HEADER_HASH) && lb_ring_build(p, backends, n) != 0)
		goto out_free_p;
	return p;
out_free_p:
	lb_pool_free(p);
	return NULL;
}

void lb_pool_free(struct lb_pool *p)
{
	if (p == NULL)
		return;
	free(p->sched);
	free(p->ring);
	free(p);
}

static bool lb_up(const struct rt_route *r, unsigned i, uint64_t now_ms)
{
	return health_backend_is_up(r->backends[i].stat_slot, now_ms);
}

/* The first up backend from start on, in index order; LB_NONE when none is. */
static uint32_t lb_scan_up(const struct rt_route *r, unsigned start, uint64_t now_ms)
{
	unsigned n = r->n_backends;
	for (unsigned k = 0; k < n; k++) {
		unsigned i = start + k < n ? start + k : start + k - n;
		if (lb_up(r, i, now_ms))
			return i;
	}
	return LB_NONE;
}

static uint32_t lb_pick_rr(const struct rt_route *r, const struct lb_pool *p, uint64_t seq,
                           uint64_t now_ms)
{
	unsigned at = (unsigned)(seq % p->n_sched);
	uint32_t i = p->sched[at];
	if (lb_up(r, i, now_ms))
		return i;
	/* Down: the schedule's next entries, so the others keep their proportions; bounded
	 * by the number of backends before falling back to a plain scan. */
	for (unsigned k = 1; k <= p->n && k < p->n_sched; k++) {
		unsigned j = at + k < p->n_sched ? at + k : at + k - p->n_sched;
		if (lb_up(r, p->sched[j], now_ms))
			return p->sched[j];
	}
	return lb_scan_up(r, i, now_ms);
}

static uint32_t lb_pick_least(const struct rt_route *r, uint64_t seq, uint64_t now_ms)
{
	unsigned n = r->n_backends, start = (unsigned)(seq % n);
	uint32_t best = LB_NONE;
	uint64_t best_c = 0, best_w = 1;
	for (unsigned k = 0; k < n; k++) {
		unsigned i = start + k < n ? start + k : start + k - n;
		if (!lb_up(r, i, now_ms))
			continue;
		uint64_t c = lb_conns_active(r->backends[i].stat_slot);
		uint64_t w = lb_weight(&r->backends[i]);
		/* c/w < best_c/best_w; strict, so the first in rotation wins a tie */
		if (best == LB_NONE || c * best_w < best_c * w) {
			best = i;
			best_c = c;
			best_w = w;
		}
	}
	return best;
}

static uint32_t lb_pick_ring(const struct rt_route *r, const struct lb_pool *p, uint64_t key,
                             uint64_t now_ms)
{
	/* The first point with hash >= key, wrapping to the start. */
	unsigned lo = 0, hi = p->n_ring;
	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (p->ring[mid].hash < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (unsigned k = 0; k < p->n_ring; k++) {
		unsigned at = lo + k;
		if (at >= p->n_ring)
			at -= p->n_ring;
		if (lb_up(r, p->ring[at].backend, now_ms))
			return p->ring[at].backend;
	}
	return LB_NONE;
}

uint32_t lb_pick(const struct rt_route *r, uint64_t seq, const uint64_t *key, uint64_t now_ms)
{
	const struct lb_pool *p = r->lb_pool;
	if (r->n_backends == 0)
		return LB_NONE;
	if (p == NULL || p->n != r->n_backends)
		return lb_scan_up(r, (unsigned)(seq % r->n_backends), now_ms);
	switch (r->lb) {
	case RT_LB_LEAST_CONN:
		return lb_pick_least(r, seq, now_ms);
	case RT_LB_IP_HASH:
	case RT_LB_HEADER_HASH:
		if (key != NULL && p->ring != NULL)
			return lb_pick_ring(r, p, *key, now_ms);
		break;
	case RT_LB_ROUND_ROBIN:
		break;
	}
	return lb_pick_rr(r, p, seq, now_ms);
}

void lb_conn_acquire(uint32_t slot)
{
	atomic_fetch_add_explicit(&lb_conns[slot < HEALTH_SLOTS ? slot : 0], 1,
	                          memory_order_relaxed);
}

void lb_conn_release(uint32_t slot)
{
	atomic_fetch_sub_explicit(&lb_conns[slot < HEALTH_SLOTS ? slot : 0], 1,
	                          memory_order_relaxed);
}

uint32_t lb_conns_active(uint32_t slot)
{
	return atomic_load_explicit(&lb_conns[slot < HEALTH_SLOTS ? slot : 0],
	                            memory_order_relaxed);
}
