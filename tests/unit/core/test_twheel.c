/* Unit tests for core/twheel.c over a simulated clock: timers fire at or after their deadline
 * and at most one tick late, across wheel turns and clock jumps, and fire callbacks may add or
 * delete any entry, including the one the walk would visit next. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/twheel.h"

#define TICK 10u

struct timer {
	struct twheel_entry e; /* first: the callback casts back */
	uint64_t deadline;
	uint64_t fired_at; /* 0: not fired */
	unsigned fires;
	struct twheel *w;
	struct timer *victim; /* deleted by this timer's callback */
	uint64_t rearm_delta; /* re-armed by its callback this far ahead, once */
};

struct clockctx {
	uint64_t now;
};

static void on_fire(struct twheel_entry *e, void *arg)
{
	struct timer *t = (struct timer *)e;
	struct clockctx *c = arg;

	assert_false(twheel_entry_is_armed(e));
	t->fires++;
	t->fired_at = c->now;
	if (t->victim != NULL)
		twheel_del(t->w, &t->victim->e);
	if (t->rearm_delta != 0) {
		t->deadline = c->now + t->rearm_delta;
		t->rearm_delta = 0;
		twheel_add(t->w, &t->e, t->deadline);
	}
}

static void timer_arm(struct twheel *w, struct timer *t, uint64_t deadline)
{
	memset(t, 0, sizeof(*t));
	twheel_entry_init(&t->e);
	t->w = w;
	t->deadline = deadline;
	twheel_add(w, &t->e, deadline);
}

/* Advances the simulated clock by step until `until`, firing as the event loop would. */
static unsigned run_clock(struct twheel *w, struct clockctx *c, uint64_t until, uint64_t step)
{
	unsigned fired = 0;
	while (c->now < until) {
		c->now += step;
		fired += twheel_advance(w, c->now, on_fire, c);
	}
	return fired;
}

static void test_fires_at_or_after_deadline_at_most_one_tick_late(void **state)
{
	(void)state;
	static struct twheel w;
	struct clockctx c = {1000};
	struct timer t[64];

	twheel_init(&w, c.now, TICK);
	for (int i = 0; i < 64; i++)
		timer_arm(&w, &t[i], c.now + (uint64_t)i * 7 + 1);
	assert_int_equal(twheel_armed(&w), 64);
	/* The loop advances one tick at a time (or sooner), the way it wakes on the timeout. */
	assert_int_equal(run_clock(&w, &c, 2000, TICK), 64);
	for (int i = 0; i < 64; i++) {
		assert_int_equal(t[i].fires, 1);
		assert_true(t[i].fired_at >= t[i].deadline);
		assert_true(t[i].fired_at <= t[i].deadline + TICK);
	}
	assert_int_equal(twheel_armed(&w), 0);
}

static void test_deadline_beyond_one_turn_waits_for_its_turn(void **state)
{
	(void)state;
	static struct twheel w;
	struct clockctx c = {0};
	struct timer far, near;
	uint64_t turn = (uint64_t)TWHEEL_SLOTS * TICK;

	twheel_init(&w, 0, TICK);
	timer_arm(&w, &far, 3 * turn + 5);
	timer_arm(&w, &near, 5); /* same slot as far */
	run_clock(&w, &c, 3 * turn, TICK);
	assert_int_equal(near.fires, 1);
	assert_int_equal(far.fires, 0);
	assert_true(twheel_entry_is_armed(&far.e));
	run_clock(&w, &c, 3 * turn + 5 + TICK, 1);
	assert_int_equal(far.fires, 1);
	assert_true(far.fired_at >= far.deadline && far.fired_at <= far.deadline + TICK);
}

static void test_deleted_entry_never_fires(void **state)
{
	(void)state;
	static struct twheel w;
	struct clockctx c = {0};
	struct timer a, b;

	twheel_init(&w, 0, TICK);
	timer_arm(&w, &a, 50);
	timer_arm(&w, &b, 50);
	twheel_del(&w, &a.e);
	twheel_del(&w, &a.e); /* no-op */
	assert_false(twheel_entry_is_armed(&a.e));
	assert_int_equal(twheel_armed(&w), 1);
	assert_int_equal(run_clock(&w, &c, 200, TICK), 1);
	assert_int_equal(a.fires, 0);
	assert_int_equal(b.fires, 1);
}

static void test_rearm_inside_callback_fires_again_later(void **state)
{
	(void)state;
	static struct twheel w;
	struct clockctx c = {0};
	struct timer a;

	twheel_init(&w, 0, TICK);
	timer_arm(&w, &a, 30);
	a.rearm_delta = 100;
	run_clock(&w, &c, 60, TICK);
	assert_int_equal(a.fires, 1);
	assert_true(twheel_entry_is_armed(&a.e));
	uint64_t second = a.deadline;
	run_clock(&w, &c, 300, TICK);
	assert_int_equal(a.fires, 2);
	assert_true(a.fired_at >= second && a.fired_at <= second + TICK);
	assert_int_equal(twheel_armed(&w), 0);
}

static void test_deadline_already_past_fires_on_next_advance(void **state)
{
	(void)state;
	static struct twheel w;
	struct clockctx c = {100};
	struct timer a;

	twheel_init(&w, 100, TICK);
	timer_arm(&w, &a, 105);
	c.now = 110;
	a.rearm_delta = 0;
	assert_int_equal(twheel_advance(&w, c.now, on_fire, &c), 1);
	/* A deadline already behind the wheel's clock is filed where the next advance looks. */
	twheel_add(&w, &a.e, 50);
	assert_int_equal(twheel_advance(&w, c.now, on_fire, &c), 1);
	assert_int_equal(a.fires, 2);
}

static void test_callback_deletes_the_next_entry_in_its_slot(void **state)
{
	(void)state;
	static struct twheel w;
	struct clockctx c = {0};
	struct timer a, b, d;

	twheel_init(&w, 0, TICK);
	/* Same deadline, same slot, in list order a, b, d: a deletes b (its successor). */
	timer_arm(&w, &a, 40);
	timer_arm(&w, &b, 40);
	timer_arm(&w, &d, 40);
	a.victim = &b;
	assert_int_equal(run_clock(&w, &c, 100, TICK), 2);
	assert_int_equal(a.fires, 1);
	assert_int_equal(b.fires, 0);
	assert_int_equal(d.fires, 1);
	assert_int_equal(twheel_armed(&w), 0);
}

static void test_callback_deletes_a_later_turn_entry_in_its_slot(void **state)
{
	(void)state;
	static struct twheel w;
	struct clockctx c = {0};
	struct timer a, later;

	twheel_init(&w, 0, TICK);
	timer_arm(&w, &a, 40);
	timer_arm(&w, &later, 40 + (uint64_t)TWHEEL_SLOTS * TICK);
	a.victim = &later;
	run_clock(&w, &c, 100, TICK);
	assert_int_equal(a.fires, 1);
	assert_false(twheel_entry_is_armed(&later.e));
	assert_int_equal(twheel_armed(&w), 0);
}

static void test_huge_time_jump_fires_everything_due(void **state)
{
	(void)state;
	static struct twheel w;
	struct clockctx c = {0};
	struct timer t[300], late;

	twheel_init(&w, 0, TICK);
	for (int i = 0; i < 300; i++)
		timer_arm(&w, &t[i], (uint64_t)i * 997 + 1);
	timer_arm(&w, &late, 100u * 1000u * 1000u + 1);
	c.now = 100u * 1000u * 1000u;
	assert_int_equal(twheel_advance(&w, c.now, on_fire, &c), 300);
	for (int i = 0; i < 300; i++)
		assert_int_equal(t[i].fires, 1);
	assert_int_equal(late.fires, 0);
	assert_int_equal(twheel_armed(&w), 1);
	c.now += TICK;
	assert_int_equal(twheel_advance(&w, c.now, on_fire, &c), 1);
	assert_int_equal(late.fires, 1);
}

static void test_many_entries_with_random_deadlines_and_deletes(void **state)
{
	(void)state;
	static struct twheel w;
	struct clockctx c = {5};
	enum { N = 20000 };
	struct timer *t = calloc(N, sizeof(*t));
	assert_non_null(t);

	srand(12345);
	twheel_init(&w, c.now, TICK);
	for (int i = 0; i < N; i++)
		timer_arm(&w, &t[i], c.now + 1 + (uint64_t)(rand() % 30000));
	for (int i = 0; i < N; i += 7)
		twheel_del(&w, &t[i].e);
	uint64_t step = 1;
	while (c.now < 40000) {
		c.now += step;
		twheel_advance(&w, c.now, on_fire, &c);
		step = 1 + (uint64_t)(rand() % TICK);
	}
	for (int i = 0; i < N; i++) {
		if (i % 7 == 0) {
			assert_int_equal(t[i].fires, 0);
			continue;
		}
		assert_int_equal(t[i].fires, 1);
		assert_true(t[i].fired_at >= t[i].deadline);
		assert_true(t[i].fired_at <= t[i].deadline + TICK);
	}
	assert_int_equal(twheel_armed(&w), 0);
	free(t);
}

static void test_next_timeout_points_at_the_next_nonempty_slot(void **state)
{
	(void)state;
	static struct twheel w;
	struct timer a;

	twheel_init(&w, 1000, TICK);
	assert_int_equal(twheel_next_timeout_ms(&w, 100), 100);
	timer_arm(&w, &a, 1000 + 5 * TICK + 3);
	assert_int_equal(twheel_next_timeout_ms(&w, 1000), 5 * TICK);
	assert_int_equal(twheel_next_timeout_ms(&w, 20), 20);
	twheel_add(&w, &a.e, 1004); /* inside the current tick */
	assert_int_equal(twheel_next_timeout_ms(&w, 1000), TICK);
	twheel_del(&w, &a.e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fires_at_or_after_deadline_at_most_one_tick_late),
	    cmocka_unit_test(test_deadline_beyond_one_turn_waits_for_its_turn),
	    cmocka_unit_test(test_deleted_entry_never_fires),
	    cmocka_unit_test(test_rearm_inside_callback_fires_again_later),
	    cmocka_unit_test(test_deadline_already_past_fires_on_next_advance),
	    cmocka_unit_test(test_callback_deletes_the_next_entry_in_its_slot),
	    cmocka_unit_test(test_callback_deletes_a_later_turn_entry_in_its_slot),
	    cmocka_unit_test(test_huge_time_jump_fires_everything_due),
	    cmocka_unit_test(test_many_entries_with_random_deadlines_and_deletes),
	    cmocka_unit_test(test_next_timeout_points_at_the_next_nonempty_slot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
