/* router/health.c: backend health state, gateway-wide, published without a lock.
 *
 * Owns: one struct health_slot per backend slot (a static array: its untouched pages are
 * never resident), the active checks' hysteresis (health_sm_step, a pure function), the
 * passive checks' failure window, and the active checks' counters. No I/O: the probes
 * themselves are core's (core/health_probe.c, control thread).
 *
 * Writers and readers, per field:
 * - active_down: written by the checker (control thread, relaxed store); read by every
 *   worker on each pick (relaxed load). Nothing else is published with it, so no ordering is
 *   needed: a worker that reads the old value for a few more microseconds makes one more
 *   attempt that the dial's fallback absorbs.
 * - passive: packed {first failure ms:48 | failures:16} of the current run, written by any
 *   worker whose attempt failed (compare-and-swap loop, so two workers failing at once both
 *   count); a failure path, never per message.
 * - down_until: written by the worker whose failure completed a run (relaxed store), read on
 *   each pick.
 * - checks[]: written by the checker only (relaxed load plus store), read by the exporter.
 *
 * Rejected: a per-table array of states (a reload would forget that a backend is down, and
 * tables are immutable); a lock around the state (the pick runs on every worker); an up-flag
 * per worker pushed by command queue (the state is one byte per backend; every worker reading
 * the same byte is cheaper than N copies kept in step). */
#include "router/health.h"

#include <stdatomic.h>
#include <stddef.h>

#define HEALTH_FAILS_BITS 16u
#define HEALTH_FAILS_MASK ((1u << HEALTH_FAILS_BITS) - 1u)

struct health_slot {
	_Atomic uint64_t passive;    /* {first failure ms << 16 | failures} of the current run */
	_Atomic uint64_t down_until; /* passive: down until this ms (0: not) */
	_Atomic uint64_t checks[HEALTH_RESULT_COUNT];
	_Atomic uint8_t active_down; /* 1: the active checks say down */
};

static struct health_slot health_slots[HEALTH_SLOTS];

static struct health_slot *health_slot(uint32_t slot)
{
	return slot < HEALTH_SLOTS ? &health_slots[slot] : &health_slots[0];
}

void health_sm_init(struct health_sm *sm)
{
	sm->down = false;
	sm->fail = 0;
	sm->pass = 0;
}

bool health_sm_step(struct health_sm *sm, bool ok, uint32_t fails, uint32_t passes)
{
	if (fails == 0)
		fails = 1;
	if (passes == 0)
		passes = 1;
	if (ok) {
		sm->fail = 0;
		if (!sm->down)
			return false;
		if (++sm->pass < passes)
			return false;
		sm->pass = 0;
		sm->down = false;
		return true;
	}
	sm->pass = 0;
	if (sm->down)
		return false;
	if (++sm->fail < fails)
		return false;
	sm->fail = 0;
	sm->down = true;
	return true;
}

bool health_backend_is_up(uint32_t slot, uint64_t now_ms)
{
	if (slot == 0 || slot >= HEALTH_SLOTS)
		return true;
	const struct health_slot *h = &health_slots[slot];
	if (atomic_load_explicit(&h->active_down, memory_order_relaxed))
		return false;
	return atomic_load_explicit(&h->down_until, memory_order_relaxed) <= now_ms;
}

bool health_active_is_down(uint32_t slot)
{
	if (slot == 0 || slot >= HEALTH_SLOTS)
		return false;
	return atomic_load_explicit(&health_slots[slot].active_down, memory_order_relaxed) != 0;
}

void health_active_set(uint32_t slot, bool down)
{
	if (slot == 0 || slot >= HEALTH_SLOTS)
		return;
	atomic_store_explicit(&health_slots[slot].active_down, down ? 1 : 0, memory_order_relaxed);
}

bool health_passive_fail(uint32_t slot, uint64_t now_ms, uint32_t max_fails, uint64_t window_ms)
{
	if (max_fails == 0 || window_ms == 0 || slot == 0 || slot >= HEALTH_SLOTS)
		return false;
	if (max_fails > HEALTH_FAILS_MASK)
		max_fails = HEALTH_FAILS_MASK;
	struct health_slot *h = &health_slots[slot];
	uint64_t old = atomic_load_explicit(&h->passive, memory_order_relaxed), next;
	bool tripped;
	do {
		uint64_t start = old >> HEALTH_FAILS_BITS;
		uint32_t n = (uint32_t)(old & HEALTH_FAILS_MASK);
		/* A run starts at its first failure and lasts window_ms (SPEC.md: N failures
		 * within DUR); an older run is forgotten. */
		if (n == 0 || now_ms < start || now_ms - start >= window_ms) {
			start = now_ms;
			n = 0;
		}
		n++;
		tripped = n >= max_fails;
		next = tripped ? 0 : (start << HEALTH_FAILS_BITS) | n;
	} while (!atomic_compare_exchange_weak_explicit(
	    &h->passive, &old, next, memory_order_relaxed, memory_order_relaxed));
	if (tripped)
		atomic_store_explicit(&h->down_until, now_ms + window_ms, memory_order_relaxed);
	return tripped;
}

uint64_t health_passive_down_until(uint32_t slot)
{
	return atomic_load_explicit(&health_slot(slot)->down_until, memory_order_relaxed);
}

void health_count_check(uint32_t slot, enum health_result r)
{
	unsigned i =
	    (unsigned)r < HEALTH_RESULT_COUNT ? (unsigned)r : (unsigned)HEALTH_RESULT_FAILURE;
	_Atomic uint64_t *c = &health_slot(slot)->checks[i];
	/* Single writer (the checker): a plain load and store, no locked add. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
}

uint64_t health_checks_total(uint32_t slot, enum health_result r)
{
	if ((unsigned)r >= HEALTH_RESULT_COUNT)
		return 0;
	return atomic_load_explicit(&health_slot(slot)->checks[r], memory_order_relaxed);
}

const char *health_result_label(enum health_result r)
{
	switch (r) {
	case HEALTH_RESULT_SUCCESS:
		return "success";
	case HEALTH_RESULT_FAILURE:
		return "failure";
	case HEALTH_RESULT_COUNT:
		break;
	}
	return NULL;
}

void health_slot_reset(uint32_t slot)
{
	if (slot >= HEALTH_SLOTS)
		return;
	struct health_slot *h = &health_slots[slot];
	atomic_store_explicit(&h->active_down, 0, memory_order_relaxed);
	atomic_store_explicit(&h->passive, 0, memory_order_relaxed);
	atomic_store_explicit(&h->down_until, 0, memory_order_relaxed);
}

void health_reset_all(void)
{
	for (uint32_t i = 0; i < HEALTH_SLOTS; i++) {
		health_slot_reset(i);
		for (unsigned r = 0; r < HEALTH_RESULT_COUNT; r++)
			atomic_store_explicit(&health_slots[i].checks[r], 0, memory_order_relaxed);
	}
}
