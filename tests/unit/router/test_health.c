/* Unit tests for router/health.c: the active checks' hysteresis (--health-fails /
 * --health-passes), the passive checks' window (--max-fails / --fail-timeout), the check
 * counters, and that slot 0 (the registry's overflow slot) is never marked down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "router/health.h"

static int reset(void **state)
{
	(void)state;
	health_reset_all();
	return 0;
}

static void test_sm_starts_up_and_needs_fails_in_a_row_to_go_down(void **state)
{
	(void)state;
	struct health_sm sm;
	health_sm_init(&sm);
	assert_false(sm.down);
	/* fail, pass, fail: never two in a row */
	assert_false(health_sm_step(&sm, false, 2, 2));
	assert_false(health_sm_step(&sm, true, 2, 2));
	assert_false(health_sm_step(&sm, false, 2, 2));
	assert_false(sm.down);
	/* the second in a row flips it, once */
	assert_true(health_sm_step(&sm, false, 2, 2));
	assert_true(sm.down);
	assert_false(health_sm_step(&sm, false, 2, 2));
	assert_true(sm.down);
}

static void test_sm_needs_passes_in_a_row_to_come_back(void **state)
{
	(void)state;
	struct health_sm sm;
	health_sm_init(&sm);
	assert_true(health_sm_step(&sm, false, 1, 3));
	assert_true(sm.down);
	assert_false(health_sm_step(&sm, true, 1, 3));
	assert_false(health_sm_step(&sm, true, 1, 3));
	assert_false(health_sm_step(&sm, false, 1, 3)); /* resets the run of passes */
	assert_true(sm.down);
	assert_false(health_sm_step(&sm, true, 1, 3));
	assert_false(health_sm_step(&sm, true, 1, 3));
	assert_true(health_sm_step(&sm, true, 1, 3));
	assert_false(sm.down);
}

static void test_sm_zero_thresholds_count_as_one(void **state)
{
	(void)state;
	struct health_sm sm;
	health_sm_init(&sm);
	assert_true(health_sm_step(&sm, false, 0, 0));
	assert_true(health_sm_step(&sm, true, 0, 0));
	assert_false(sm.down);
}

static void test_active_verdict_is_published_per_slot(void **state)
{
	(void)state;
	assert_true(health_backend_is_up(7, 0));
	health_active_set(7, true);
	assert_false(health_backend_is_up(7, 0));
	assert_true(health_active_is_down(7));
	assert_true(health_backend_is_up(8, 0));
	health_active_set(7, false);
	assert_true(health_backend_is_up(7, 0));
	/* the overflow slot and slots out of range are never down */
	health_active_set(0, true);
	assert_true(health_backend_is_up(0, 0));
	health_active_set(HEALTH_SLOTS + 5, true);
	assert_true(health_backend_is_up(HEALTH_SLOTS + 5, 0));
}

static void test_passive_needs_max_fails_within_the_window(void **state)
{
	(void)state;
	/* 3 within 10 s: failures 11 s apart never add up */
	assert_false(health_passive_fail(4, 0, 3, 10000));
	assert_false(health_passive_fail(4, 5000, 3, 10000));
	assert_false(health_passive_fail(4, 11000, 3, 10000)); /* new run from here */
	assert_false(health_passive_fail(4, 12000, 3, 10000));
	assert_true(health_backend_is_up(4, 12000));
	assert_true(health_passive_fail(4, 13000, 3, 10000));
	/* down for fail-timeout from the failure that tripped it */
	assert_false(health_backend_is_up(4, 13000));
	assert_false(health_backend_is_up(4, 22999));
	assert_true(health_backend_is_up(4, 23000));
	assert_int_equal(health_passive_down_until(4), 23000);
	/* a fresh run after that */
	assert_false(health_passive_fail(4, 23500, 3, 10000));
	assert_true(health_backend_is_up(4, 23500));
}

static void test_passive_off_with_zero(void **state)
{
	(void)state;
	for (uint64_t t = 0; t < 100; t++) {
		assert_false(health_passive_fail(5, t, 0, 10000));
		assert_false(health_passive_fail(5, t, 3, 0));
	}
	assert_true(health_backend_is_up(5, 50));
	/* max-fails 1: the first failure trips */
	assert_true(health_passive_fail(5, 100, 1, 1000));
	assert_false(health_backend_is_up(5, 100));
}

static void test_reset_forgets_state_but_keeps_counters(void **state)
{
	(void)state;
	health_active_set(9, true);
	assert_true(health_passive_fail(9, 10, 1, 1000));
	health_count_check(9, HEALTH_RESULT_FAILURE);
	health_count_check(9, HEALTH_RESULT_FAILURE);
	health_count_check(9, HEALTH_RESULT_SUCCESS);
	health_slot_reset(9);
	assert_true(health_backend_is_up(9, 10));
	assert_int_equal(health_checks_total(9, HEALTH_RESULT_FAILURE), 2);
	assert_int_equal(health_checks_total(9, HEALTH_RESULT_SUCCESS), 1);
	assert_string_equal(health_result_label(HEALTH_RESULT_SUCCESS), "success");
	assert_string_equal(health_result_label(HEALTH_RESULT_FAILURE), "failure");
	assert_null(health_result_label(HEALTH_RESULT_COUNT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_sm_starts_up_and_needs_fails_in_a_row_to_go_down, reset),
	    cmocka_unit_test_setup(test_sm_needs_passes_in_a_row_to_come_back, reset),
	    cmocka_unit_test_setup(test_sm_zero_thresholds_count_as_one, reset),
	    cmocka_unit_test_setup(test_active_verdict_is_published_per_slot, reset),
	    cmocka_unit_test_setup(test_passive_needs_max_fails_within_the_window, reset),
	    cmocka_unit_test_setup(test_passive_off_with_zero, reset),
	    cmocka_unit_test_setup(test_reset_forgets_state_but_keeps_counters, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
