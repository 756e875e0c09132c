/* core/cluster_limit.c: this node's allowance under the cluster's shared per-IP limits.
 *
 * Owns: the share (--max-conns-per-ip and --conn-rate divided by the live nodes last seen)
 * and the lease table (per address: how many live conns this node may hold, from the last
 * sync with Redis), both published to the workers: the share as relaxed atomics, the leases
 * as an immutable open-addressed snapshot behind one atomic pointer, replaced whole and
 * retired through rt_retire_object like a route table. The control thread writes
 * (core/cluster.c calls the cluster__limit_* functions after each sync); workers read
 * (cluster_limit_adjust, once per admission: one hash probe, no round trip).
 *
 * Why leases rather than a script call per admission: the handshake would wait for Redis
 * (a round trip on every connection and a suspended handshake state), and a Redis outage
 * would turn into refused or stalled clients. Here an admission costs nothing beyond the
 * local table; the sync (core/cluster.c, every 250 ms) reports this node's live count for
 * each busy address to Redis with one EVALSHA and gets back the cluster's total, from which
 * the lease is: what this node holds + (limit - total - the shares reserved for the live
 * nodes that hold nothing for the address yet) / live nodes. A node never takes more than
 * its share of what is free, so the sum over nodes stays within the limit (rounding down),
 * and an address that is far below its limit (under half of the share on this node) is
 * never synced at all.
 *
 * Rejected: a GCRA script per admission for --conn-rate (same round-trip argument: the rate
 * is enforced as each node's share of it, which holds the cluster-wide rate when clients are
 * spread over the nodes, and is the fallback the spec asks for with the engine down). */
#include "core/cluster.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/cluster_int.h"
#include "router/rt.h"

struct cl_lease_snap {
	uint32_t mask;
	struct cl_lease_slot {
		uint64_t hi, lo;
		uint32_t allow;
		uint32_t used; /* 1: slot holds a key */
	} slot[];
};

static _Atomic uint32_t cl_share_conns; /* 0: limit off */
static _Atomic uint32_t cl_share_rate, cl_share_burst;
static _Atomic(const struct cl_lease_snap *) cl_snap;
static struct iplimit *cl_iplimit; /* for the key of an address; set before workers run */

/* The control thread's master list of leases (published as the snapshot when dirty). */
static struct cl_lease_ent cl_master[CL_LEASES_MAX];
static unsigned cl_n_master;
static bool cl_dirty;

static uint32_t cl_hash(uint64_t hi, uint64_t lo)
{
	uint64_t h = hi * 0x9e3779b97f4a7c15ull ^ lo;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)h;
}

void cluster__limit_init(struct iplimit *t)
{
	cl_iplimit = t;
}

void cluster__limit_set_share(uint32_t conns, uint32_t rate, uint32_t burst, unsigned nodes)
{
	if (nodes == 0)
		nodes = 1;
	uint32_t c = conns ? conns / nodes : 0, r = rate ? rate / nodes : 0,
	         b = burst ? burst / nodes : 0;
	atomic_store_explicit(&cl_share_conns, conns && c == 0 ? 1 : c, memory_order_relaxed);
	atomic_store_explicit(&cl_share_rate, rate && r == 0 ? 1 : r, memory_order_relaxed);
	atomic_store_explicit(&cl_share_burst, burst && b == 0 ? 1 : b, memory_order_relaxed);
}

uint32_t cluster__limit_share(void)
{
	return atomic_load_explicit(&cl_share_conns, memory_order_relaxed);
}

struct cl_lease_ent *cluster__limit_find(uint64_t hi, uint64_t lo)
{
	for (unsigned i = 0; i < cl_n_master; i++)
		if (cl_master[i].hi == hi && cl_master[i].lo == lo)
			return &cl_master[i];
	return NULL;
}

struct cl_lease_ent *cluster__limit_master(unsigned *n)
{
	*n = cl_n_master;
	return cl_master;
}

int cluster__limit_set(uint64_t hi, uint64_t lo, uint32_t allow, uint64_t now_ms)
{
	struct cl_lease_ent *e = cluster__limit_find(hi, lo);
	if (e == NULL) {
		if (cl_n_master >= CL_LEASES_MAX)
			return -1; /* the address keeps the share */
		e = &cl_master[cl_n_master++];
		e->hi = hi;
		e->lo = lo;
		e->allow = UINT32_MAX;
	}
	e->synced_ms = now_ms;
	if (e->allow != allow) {
		e->allow = allow;
		cl_dirty = true;
	}
	return 0;
}

void cluster__limit_forget(uint64_t hi, uint64_t lo)
{
	struct cl_lease_ent *e = cluster__limit_find(hi, lo);
	if (e == NULL)
		return;
	*e = cl_master[--cl_n_master];
	cl_dirty = true;
}

void cluster__limit_drop_all(void)
{
	if (cl_n_master > 0)
		cl_dirty = true;
	cl_n_master = 0;
}

static void cl_snap_free(void *p)
{
	free(p);
}

void cluster__limit_publish(void)
{
	if (!cl_dirty)
		return;
	struct cl_lease_snap *s = NULL;
	if (cl_n_master > 0) {
		uint32_t cap = 16;
		while (cap < 2u * cl_n_master)
			cap <<= 1;
		s = calloc(1, sizeof(*s) + cap * sizeof(s->slot[0]));
		if (s == NULL)
			return; /* try again next sync; the old snapshot stays */
		s->mask = cap - 1;
		for (unsigned i = 0; i < cl_n_master; i++) {
			uint32_t j = cl_hash(cl_master[i].hi, cl_master[i].lo) & s->mask;
			while (s->slot[j].used)
				j = (j + 1) & s->mask;
			s->slot[j] = (struct cl_lease_slot){cl_master[i].hi, cl_master[i].lo,
			                                    cl_master[i].allow, 1};
		}
	}
	const struct cl_lease_snap *old =
	    atomic_exchange_explicit(&cl_snap, s, memory_order_acq_rel);
	/* Out of memory in rt_retire_object: the old snapshot is leaked, never freed under a
	 * worker that may still be reading it. */
	if (old != NULL)
		(void)rt_retire_object((void *)old, cl_snap_free);
	cl_dirty = false;
}

void cluster__limit_fini(void)
{
	const struct cl_lease_snap *old = atomic_exchange(&cl_snap, NULL);
	free((void *)old); /* the workers have been joined */
	cl_n_master = 0;
	cl_iplimit = NULL;
}

void cluster_limit_adjust(const struct sockaddr *sa, uint32_t *max_conns_per_ip,
                          struct iplimit_rate *rate)
{
	if (rate->per_sec > 0) {
		rate->per_sec = atomic_load_explicit(&cl_share_rate, memory_order_relaxed);
		rate->burst = atomic_load_explicit(&cl_share_burst, memory_order_relaxed);
	}
	if (*max_conns_per_ip == 0)
		return;
	uint32_t allow = atomic_load_explicit(&cl_share_conns, memory_order_relaxed);
	const struct cl_lease_snap *s = atomic_load_explicit(&cl_snap, memory_order_acquire);
	uint64_t hi, lo;
	if (s != NULL && cl_iplimit != NULL && iplimit_key(cl_iplimit, sa, &hi, &lo) == 0) {
		for (uint32_t j = cl_hash(hi, lo) & s->mask; s->slot[j].used;
		     j = (j + 1) & s->mask) {
			if (s->slot[j].hi == hi && s->slot[j].lo == lo) {
				allow = s->slot[j].allow;
				break;
			}
		}
	}
	*max_conns_per_ip = allow;
}
