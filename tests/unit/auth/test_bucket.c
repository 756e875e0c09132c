/* Unit tests for auth/bucket.c: GCRA token buckets driven by a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "auth/bucket.h"

#define DAY_MS (24ull * 3600 * 1000)

/* Takes as many tokens as are available at now_ms (bounded by max). */
static uint32_t drain(struct bucket *b, uint64_t now_ms, uint32_t max)
{
	uint32_t n = 0;

	while (n < max && bucket_take(b, now_ms))
		n++;
	return n;
}

static void test_starts_full_and_gives_exactly_burst(void **state)
{
	struct bucket b;
	(void)state;

	bucket_init(&b, 10, 5);
	assert_int_equal(drain(&b, 1000, 100), 5);
	assert_false(bucket_take(&b, 1000));

	bucket_init(&b, 10, 0); /* burst 0 means 1 */
	assert_int_equal(drain(&b, 0, 100), 1);
}

static void test_refills_one_token_per_interval(void **state)
{
	struct bucket b;
	(void)state;

	bucket_init(&b, 10, 1); /* one token per 100 ms */
	assert_true(bucket_take(&b, 5000));
	assert_false(bucket_take(&b, 5099));
	assert_true(bucket_take(&b, 5100));
	assert_false(bucket_take(&b, 5100));

	/* 3 per second: interval 333,333,334 ns, so the next token is at 334 ms, not 333 */
	bucket_init(&b, 3, 1);
	assert_true(bucket_take(&b, 0));
	assert_false(bucket_take(&b, 333));
	assert_true(bucket_take(&b, 334));

	/* over a long run the count admitted is the rate, never more */
	bucket_init(&b, 7, 3);
	uint32_t got = 0;
	for (uint64_t t = 0; t < 100000; t++) /* 100 s, a try every ms */
		got += bucket_take(&b, t);
	assert_true(got <= 3 + 7 * 100);
	assert_true(got >= 7 * 100 - 1);
}

static void test_refused_take_costs_nothing(void **state)
{
	struct bucket b;
	(void)state;

	bucket_init(&b, 1, 1);
	assert_true(bucket_take(&b, 0));
	for (uint64_t t = 0; t < 1000; t++)
		assert_false(bucket_take(&b, t));
	assert_true(bucket_take(&b, 1000));
}

static void test_long_gap_fills_to_burst_not_beyond(void **state)
{
	struct bucket b;
	(void)state;

	bucket_init(&b, 2, 4);
	assert_int_equal(drain(&b, 0, 100), 4);
	assert_int_equal(drain(&b, 30 * DAY_MS, 100), 4);
	assert_int_equal(drain(&b, 400 * DAY_MS, 100), 4);

	/* largest rate and burst: no overflow, gaps of days */
	bucket_init(&b, UINT32_MAX, UINT32_MAX);
	assert_int_equal(drain(&b, 7 * DAY_MS, 1000000), 1000000);
	assert_true(bucket_take(&b, 60 * DAY_MS));

	/* rate 1, burst 2^32 - 1: the largest tolerance */
	bucket_init(&b, 1, UINT32_MAX);
	assert_int_equal(drain(&b, 0, 1000), 1000);
	assert_true(bucket_take(&b, 1));

	/* the top of the documented clock range (2^44 ms) still limits exactly */
	bucket_init(&b, 1, 1);
	assert_true(bucket_take(&b, (1ull << 44) - 2000));
	assert_false(bucket_take(&b, (1ull << 44) - 1001));
	assert_true(bucket_take(&b, (1ull << 44) - 1000));
	/* beyond it the clock saturates: no wrap, no crash, Retry-After stays >= 1 */
	(void)bucket_take(&b, UINT64_MAX);
	assert_true(bucket_retry_after_s(&b, UINT64_MAX) >= 1);
}

static void test_rate_above_1e9_behaves_as_1e9(void **state)
{
	struct bucket b;
	(void)state;

	bucket_init(&b, UINT32_MAX, 1);
	assert_true(bucket_take(&b, 10));
	assert_false(bucket_take(&b, 10)); /* interval 1 ns: the same ms has no new token */
	assert_true(bucket_take(&b, 11));
}

static void test_retry_after_rounds_up_at_least_one(void **state)
{
	struct bucket b;
	(void)state;

	bucket_init(&b, 1, 1);
	assert_int_equal(bucket_retry_after_s(&b, 0), 1); /* a token is there: still 1 */
	assert_true(bucket_take(&b, 50000));
	/* every ms of the 1 s interval: 1000 ms .. 1 ms to wait, all round up to 1 */
	for (uint64_t t = 50000; t < 51000; t++)
		assert_int_equal(bucket_retry_after_s(&b, t), 1);
	assert_true(bucket_take(&b, 51000));

	/* With integer rates the next token is never more than 1 s away, so only a clock
	 * read before the last take shows the rounding: next token at 52 s, asked at
	 * 45.999 s (6.001 s) and 46 s (6 s exactly). */
	assert_int_equal(bucket_retry_after_s(&b, 45999), 7);
	assert_int_equal(bucket_retry_after_s(&b, 46000), 6);

	bucket_init(&b, 3, 4);
	assert_int_equal(drain(&b, 0, 10), 4);
	assert_int_equal(bucket_retry_after_s(&b, 0), 1);
	assert_int_equal(bucket_retry_after_s(&b, 333), 1);

	bucket_init(&b, 0, 1);
	assert_int_equal(bucket_retry_after_s(&b, 0), 1); /* off */
}

static void test_off_bucket_always_takes(void **state)
{
	struct bucket b;
	(void)state;

	bucket_init(&b, 0, 0);
	assert_int_equal(drain(&b, 0, 100000), 100000);
}

static void test_size_fits_every_conn(void **state)
{
	(void)state;
	assert_true(sizeof(struct bucket) <= 16);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_starts_full_and_gives_exactly_burst),
	    cmocka_unit_test(test_refills_one_token_per_interval),
	    cmocka_unit_test(test_refused_take_costs_nothing),
	    cmocka_unit_test(test_long_gap_fills_to_burst_not_beyond),
	    cmocka_unit_test(test_rate_above_1e9_behaves_as_1e9),
	    cmocka_unit_test(test_retry_after_rounds_up_at_least_one),
	    cmocka_unit_test(test_off_bucket_always_takes),
	    cmocka_unit_test(test_size_fits_every_conn),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
