/* router/rt_publish.c: publishing route tables to the workers, RCU style (STYLE.md 6).
 *
 * One atomic pointer holds the current table; workers load it with acquire once per loop turn
 * and never lock. The control thread swaps in a new table, bumps the global epoch and puts the
 * old table on a retire list (control thread only) tagged with the epoch E the bump returned.
 * Each worker owns one cache-line-aligned slot where it writes the global epoch at the top of
 * each loop turn (rt_quiescent): "I hold no table pointer loaded before this point". A slot
 * value > E can only come from a read of the epoch after the bump, which comes after the swap,
 * so that worker can only see the new table from then on; once every slot is > E the table
 * retired at E is freed. Releases on the slot stores pair with acquires in rt_reclaim, so the
 * workers' reads of a table happen before its free.
 *
 * Slots start at 0 (blocks every free) so a worker that has not started yet is never raced;
 * a stopped worker writes RT_OFFLINE (never blocks). Coming back online from RT_OFFLINE is the
 * one racy edge: the worker may have read an old epoch while the control thread reads its
 * slot as RT_OFFLINE. A seq_cst fence on both sides (worker: after the slot store, before any
 * rt_acquire; control: after the swap, before reading slots) forbids both from missing the
 * other, so either the control thread sees the slot or the worker sees the new table.
 * Regular turns cost one relaxed load of the own slot and one acquire load of the epoch; the
 * slot is written only when the epoch moved, so an idle gateway does not bounce cache lines.
 *
 * Idle workers wake at least every 100 ms (their ring wait has a timeout) and call
 * rt_quiescent, so a retired table waits at most that long plus one loop turn.
 *
 * Tunnels hold the table their route came from (rt_table_hold) for their whole life, so a
 * retired table is freed by the first rt_reclaim after both its grace period and its last
 * release; the control thread calls rt_reclaim periodically, not only after a publish.
 *
 * Retire nodes are allocated by rt_publish. If that malloc fails the old table is leaked
 * rather than freed early: with no node there is no record of when readers are done with it.
 * (An intrusive link inside the table would avoid that, but rt_table is private to rt.c.) */
#include "router/rt.h"

#include <stdlib.h>
#include <string.h>

#define RT_OFFLINE  UINT64_MAX
#define RT_CACHE_LN 64

struct rt_slot {
	/* written: owning worker (release); read: control thread in rt_reclaim (acquire) */
	_Alignas(RT_CACHE_LN) _Atomic uint64_t epoch;
};
_Static_assert(sizeof(struct rt_slot) == RT_CACHE_LN, "one slot per cache line");

struct rt_retired {
	struct rt_table *t; /* a retired table, or NULL for an object: */
	void *obj;          /* another retired snapshot (rt_retire_object) */
	void (*free_fn)(void *obj);
	uint64_t epoch; /* the global epoch before the swap that retired t */
	struct rt_retired *next;
};

static _Atomic(struct rt_table *) rt_current;
static _Atomic uint64_t rt_epoch = 1;
/* Tables published so far (rt_table_generation). Control thread only, like rt_publish. */
static uint64_t rt_generation;
static struct rt_slot *rt_slots; /* set before workers start, read-only while they run */
static unsigned rt_n_slots;
static struct rt_retired *rt_retired_head; /* control thread only */
static unsigned rt_n_retired;              /* control thread only */

int rt_workers_init(unsigned n_workers)
{
	free(rt_slots);
	rt_slots = NULL;
	rt_n_slots = 0;
	if (n_workers == 0)
		return 0;
	rt_slots = aligned_alloc(RT_CACHE_LN, (size_t)n_workers * sizeof(*rt_slots));
	if (rt_slots == NULL)
		return -1;
	for (unsigned i = 0; i < n_workers; i++)
		atomic_init(&rt_slots[i].epoch, 0);
	rt_n_slots = n_workers;
	return 0;
}

void rt_publish(struct rt_table *next)
{
	struct rt_retired *node = malloc(sizeof(*node));
	struct rt_table *old = atomic_exchange_explicit(&rt_current, next, memory_order_acq_rel);
	uint64_t e = atomic_fetch_add_explicit(&rt_epoch, 1, memory_order_acq_rel);

	rt_generation++;
	if (old == NULL) {
		free(node);
		return;
	}
	if (node == NULL)
		return; /* leaked on purpose, see the design note */
	node->t = old;
	node->obj = NULL;
	node->free_fn = NULL;
	node->epoch = e;
	node->next = rt_retired_head;
	rt_retired_head = node;
	rt_n_retired++;
}

int rt_retire_object(void *obj, void (*free_fn)(void *obj))
{
	struct rt_retired *node = malloc(sizeof(*node));
	if (node == NULL)
		return -1;
	/* The caller swapped obj out of its own atomic pointer before this call; bumping the
	 * epoch now gives it the same grace period a table gets. */
	node->epoch = atomic_fetch_add_explicit(&rt_epoch, 1, memory_order_acq_rel);
	node->t = NULL;
	node->obj = obj;
	node->free_fn = free_fn;
	node->next = rt_retired_head;
	rt_retired_head = node;
	rt_n_retired++;
	return 0;
}

const struct rt_table *rt_acquire(void)
{
	return atomic_load_explicit(&rt_current, memory_order_acquire);
}

void rt_quiescent(unsigned worker)
{
	if (worker >= rt_n_slots)
		abort(); /* internal invariant: a worker id outside rt_workers_init's count */
	struct rt_slot *s = &rt_slots[worker];
	uint64_t e = atomic_load_explicit(&rt_epoch, memory_order_acquire);
	uint64_t prev = atomic_load_explicit(&s->epoch, memory_order_relaxed);

	if (prev == RT_OFFLINE) {
		atomic_store_explicit(&s->epoch, e, memory_order_seq_cst);
		atomic_thread_fence(memory_order_seq_cst);
	} else if (prev != e) {
		atomic_store_explicit(&s->epoch, e, memory_order_release);
	}
}

void rt_worker_offline(unsigned worker)
{
	if (worker >= rt_n_slots)
		abort();
	atomic_store_explicit(&rt_slots[worker].epoch, RT_OFFLINE, memory_order_release);
}

void rt_reclaim(void)
{
	uint64_t min = RT_OFFLINE;

	if (rt_retired_head == NULL)
		return;
	atomic_thread_fence(memory_order_seq_cst); /* pairs with rt_quiescent's online fence */
	for (unsigned i = 0; i < rt_n_slots; i++) {
		uint64_t v = atomic_load_explicit(&rt_slots[i].epoch, memory_order_acquire);
		if (v < min)
			min = v;
	}
	for (struct rt_retired **pp = &rt_retired_head; *pp != NULL;) {
		struct rt_retired *r = *pp;
		/* Past the grace period no worker can take a new hold (holds are taken only
		 * on tables acquired this turn), so a zero count here stays zero. */
		if (r->epoch < min && (r->t == NULL || !rt_table_is_held(r->t))) {
			*pp = r->next;
			if (r->t != NULL)
				rt_table_free(r->t);
			else
				r->free_fn(r->obj);
			free(r);
			rt_n_retired--;
		} else {
			pp = &r->next;
		}
	}
}

unsigned rt_retired_count(void)
{
	return rt_n_retired;
}

void rt_shutdown(void)
{
	rt_table_free(atomic_exchange_explicit(&rt_current, NULL, memory_order_acq_rel));
	while (rt_retired_head != NULL) {
		struct rt_retired *r = rt_retired_head;
		rt_retired_head = r->next;
		if (r->t != NULL)
			rt_table_free(r->t);
		else
			r->free_fn(r->obj);
		free(r);
	}
	rt_n_retired = 0;
	free(rt_slots);
	rt_slots = NULL;
	rt_n_slots = 0;
}

uint64_t rt_table_generation(void)
{
	return rt_generation;
}
