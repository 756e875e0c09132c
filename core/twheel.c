/* core/twheel.c: hashed timing wheel for per-conn deadlines (handshake, idle, ping, connect).
 *
 * Owns nothing but list links: entries are embedded in their owners. Slot i holds every armed
 * entry whose deadline tick (deadline / tick_ms) is congruent to i modulo TWHEEL_SLOTS, except
 * that a deadline already behind _now_ms is filed under _now_ms's tick so the next advance,
 * which always starts at that tick, sees it. Each slot is a circular doubly linked list through
 * its sentinel; an unarmed entry has _next == _prev == NULL.
 *
 * twheel_advance visits the ticks from the last advance's tick (inclusive: entries filed there
 * may have been due later within that tick) to now's tick, never more than TWHEEL_SLOTS slots:
 * after a long stall every slot is visited exactly once, which finds everything due. Each
 * visited slot's list is first spliced onto a local list; entries are then popped one at a
 * time, so a fire callback can add or delete any entry (including ones still on the local
 * list) without the walk holding a stale pointer. Entries not yet due go back to their slot.
 * Entries added by a callback into a slot already visited wait for the next advance, which
 * bounds the work per call even when a callback re-arms in the past.
 *
 * Thread: the owning worker only.
 *
 * Rejected: a heap (O(log n) per re-arm, and conns re-arm often); a hierarchical wheel with
 * cascading (our deadlines are seconds to minutes with coarse ticks, so later-turn entries
 * skipped in place cost little); an exact twheel_next_timeout_ms (it would walk slot lists on
 * every loop turn: we return the distance to the next non-empty slot instead). */
#include "core/twheel.h"

#include <stddef.h>

#define TWHEEL_MASK (TWHEEL_SLOTS - 1u)

_Static_assert((TWHEEL_SLOTS & (TWHEEL_SLOTS - 1u)) == 0, "TWHEEL_SLOTS must be a power of two");

static void twheel_list_init(struct twheel_entry *head)
{
	head->_next = head;
	head->_prev = head;
}

static void twheel_list_push(struct twheel_entry *head, struct twheel_entry *e)
{
	e->_prev = head->_prev;
	e->_next = head;
	head->_prev->_next = e;
	head->_prev = e;
}

static void twheel_unlink(struct twheel_entry *e)
{
	e->_prev->_next = e->_next;
	e->_next->_prev = e->_prev;
	e->_next = NULL;
	e->_prev = NULL;
}

void twheel_init(struct twheel *w, uint64_t now_ms, uint32_t tick_ms)
{
	w->_tick_ms = tick_ms ? tick_ms : 1;
	w->_now_ms = now_ms - now_ms % w->_tick_ms;
	w->_armed = 0;
	for (uint32_t i = 0; i < TWHEEL_SLOTS; i++)
		twheel_list_init(&w->_slots[i]);
}

void twheel_entry_init(struct twheel_entry *e)
{
	e->_next = NULL;
	e->_prev = NULL;
	e->_deadline_ms = 0;
}

bool twheel_entry_is_armed(const struct twheel_entry *e)
{
	return e->_next != NULL;
}

static struct twheel_entry *twheel_slot_for(struct twheel *w, uint64_t deadline_ms)
{
	uint64_t at = deadline_ms < w->_now_ms ? w->_now_ms : deadline_ms;

	return &w->_slots[(at / w->_tick_ms) & TWHEEL_MASK];
}

void twheel_add(struct twheel *w, struct twheel_entry *e, uint64_t deadline_ms)
{
	if (twheel_entry_is_armed(e))
		twheel_unlink(e);
	else
		w->_armed++;
	e->_deadline_ms = deadline_ms;
	twheel_list_push(twheel_slot_for(w, deadline_ms), e);
}

void twheel_del(struct twheel *w, struct twheel_entry *e)
{
	if (!twheel_entry_is_armed(e))
		return;
	twheel_unlink(e);
	w->_armed--;
}

unsigned twheel_advance(struct twheel *w, uint64_t now_ms, twheel_fire_fn *fire, void *arg)
{
	uint64_t tick = w->_tick_ms;
	unsigned fired = 0;

	/* A clock that steps back (it should not: callers pass CLOCK_MONOTONIC) is held at the
	 * last advance, so nothing fires early and the walk below cannot underflow. */
	if (now_ms < w->_now_ms)
		now_ms = w->_now_ms;
	uint64_t first = w->_now_ms / tick, last = now_ms / tick;
	if (last - first >= TWHEEL_SLOTS)
		first = last - (TWHEEL_SLOTS - 1u);
	/* Moved before the walk so callbacks that re-arm file past deadlines under now's tick. */
	w->_now_ms = last * tick;

	for (uint64_t t = first; t <= last; t++) {
		struct twheel_entry *slot = &w->_slots[t & TWHEEL_MASK];
		struct twheel_entry local;

		if (slot->_next == slot)
			continue;
		/* Splice the whole slot onto `local`; the slot is empty until we put entries back.
		 */
		local._next = slot->_next;
		local._prev = slot->_prev;
		local._next->_prev = &local;
		local._prev->_next = &local;
		twheel_list_init(slot);

		while (local._next != &local) {
			struct twheel_entry *e = local._next;

			twheel_unlink(e);
			if (e->_deadline_ms <= now_ms) {
				w->_armed--;
				fired++;
				fire(e, arg);
			} else {
				twheel_list_push(twheel_slot_for(w, e->_deadline_ms), e);
			}
		}
	}
	return fired;
}

uint64_t twheel_next_timeout_ms(const struct twheel *w, uint64_t max_ms)
{
	uint64_t tick = w->_tick_ms, cur = w->_now_ms / tick;

	if (w->_armed == 0)
		return max_ms;
	/* Offset k's slot starts k ticks after the last advance's tick. Its entries may be due
	 * anywhere within that tick (or on a later turn), so waking at its start plus, for the
	 * current slot, one tick keeps every timer at most one tick late without spinning on
	 * entries that belong to a later turn. */
	for (uint64_t k = 0; k < TWHEEL_SLOTS && k * tick < max_ms; k++) {
		const struct twheel_entry *slot = &w->_slots[(cur + k) & TWHEEL_MASK];

		if (slot->_next != slot) {
			uint64_t wait = k ? k * tick : tick;
			return wait < max_ms ? wait : max_ms;
		}
	}
	return max_ms;
}
