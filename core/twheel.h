#ifndef WSG_CORE_TWHEEL_H
#define WSG_CORE_TWHEEL_H

#include <stdbool.h>
#include <stdint.h>

/* A hashed timing wheel: O(1) add and delete, entries embedded in their owner (a conn), and
 * an advance that visits only the slots the clock has passed. Deadlines beyond one turn of
 * the wheel wait in their slot and are skipped until their turn. Timers fire at or after
 * their deadline, at most one tick late. Owners keep their deadlines coarse and re-arm
 * lazily (check "is it really due?" on fire) so nothing is touched per message.
 * Single-threaded: the owning worker. */

struct twheel_entry {
	struct twheel_entry *_next, *_prev; /* slot list; NULL/NULL when not armed */
	uint64_t _deadline_ms;
};

typedef void twheel_fire_fn(struct twheel_entry *e, void *arg);

#define TWHEEL_SLOTS 512u /* power of two */

struct twheel {
	struct twheel_entry _slots[TWHEEL_SLOTS]; /* list heads (sentinels) */
	uint64_t _now_ms;  /* time of the last advance, rounded down to a tick */
	uint32_t _tick_ms; /* slot width */
	uint32_t _armed;   /* entries in the wheel */
};

void twheel_init(struct twheel *w, uint64_t now_ms, uint32_t tick_ms);
void twheel_entry_init(struct twheel_entry *e);
bool twheel_entry_is_armed(const struct twheel_entry *e);

/* Arms (or re-arms) e for deadline_ms (absolute, same clock as now_ms). */
void twheel_add(struct twheel *w, struct twheel_entry *e, uint64_t deadline_ms);
/* Disarms e; a no-op when not armed. */
void twheel_del(struct twheel *w, struct twheel_entry *e);

/* Moves the clock to now_ms and calls fire for every entry whose deadline has passed, each
 * disarmed before its call (fire may re-arm or delete any entry, also others). Returns the
 * number fired. */
unsigned twheel_advance(struct twheel *w, uint64_t now_ms, twheel_fire_fn *fire, void *arg);

/* Milliseconds until the earliest armed deadline could be due, capped at max_ms (for the
 * loop's wait timeout). */
uint64_t twheel_next_timeout_ms(const struct twheel *w, uint64_t max_ms);

static inline uint32_t twheel_armed(const struct twheel *w)
{
	return w->_armed;
}

#endif
