/* Tests for bench/bench_hist.c: bucket arithmetic, < 1% relative error over 1 us .. 60 s,
 * percentiles of known distributions, merge, clamping, CSV. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/bench_hist.h"

static struct bench_hist *hist_new(void)
{
	struct bench_hist *h = malloc(sizeof(*h));
	assert_non_null(h);
	bench_hist_init(h);
	return h;
}

static void assert_within(double got, double want, double rel)
{
	double err = fabs(got - want) / want;
	if (err >= rel)
		fail_msg("got %.3f want %.3f: relative error %.5f >= %.5f", got, want, err, rel);
}

static void test_buckets_are_contiguous_and_cover_the_range(void **state)
{
	(void)state;
	for (unsigned i = 0; i + 1 < BENCH_HIST_BUCKETS; i++) {
		assert_int_equal(bench_hist_bucket_high(i) + 1, bench_hist_bucket_low(i + 1));
		assert_int_equal(bench_hist_bucket_of(bench_hist_bucket_low(i)), i);
		assert_int_equal(bench_hist_bucket_of(bench_hist_bucket_high(i)), i);
	}
	assert_true(bench_hist_bucket_of(BENCH_HIST_MAX_NS) < BENCH_HIST_BUCKETS);
	assert_true(bench_hist_bucket_high(BENCH_HIST_BUCKETS - 1) >= BENCH_HIST_MAX_NS);
}

static void test_bucket_width_is_under_1pct_of_its_values(void **state)
{
	(void)state;
	for (unsigned i = bench_hist_bucket_of(BENCH_HIST_MIN_NS); i < BENCH_HIST_BUCKETS; i++) {
		double lo = (double)bench_hist_bucket_low(i);
		double width = (double)(bench_hist_bucket_high(i) - bench_hist_bucket_low(i) + 1);
		assert_true(width / lo <= 1.0 / 128.0 + 1e-12);
	}
}

/* One value between a smallest and a largest: the reported p50 is that value's bucket. */
static void check_value(uint64_t v)
{
	struct bench_hist *h = hist_new();
	bench_hist_record(h, BENCH_HIST_MIN_NS);
	bench_hist_record(h, v);
	bench_hist_record(h, BENCH_HIST_MAX_NS);
	assert_within((double)bench_hist_percentile(h, 50), (double)v, 0.01);
	free(h);
}

static void test_relative_error_under_1pct_across_the_range(void **state)
{
	(void)state;
	/* Geometric steps of 0.3% from 1 us to 60 s: every bucket visited several times. */
	for (double v = 1000.0; v <= 6e10; v *= 1.003)
		check_value((uint64_t)v);
	/* Power-of-two edges, where log-linear buckets change width. */
	for (unsigned b = 10; b < 36; b++) {
		check_value((1ull << b) - 1);
		check_value(1ull << b);
		check_value((1ull << b) + 1);
	}
	/* And pseudo-random values. */
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		check_value(BENCH_HIST_MIN_NS + x % (BENCH_HIST_MAX_NS - BENCH_HIST_MIN_NS));
	}
}

static void test_uniform_distribution_percentiles(void **state)
{
	(void)state;
	struct bench_hist *h = hist_new();
	for (uint64_t us = 1; us <= 100000; us++)
		bench_hist_record(h, us * 1000);
	assert_int_equal(bench_hist_count(h), 100000);
	assert_within((double)bench_hist_percentile(h, 50), 50000e3, 0.01);
	assert_within((double)bench_hist_percentile(h, 90), 90000e3, 0.01);
	assert_within((double)bench_hist_percentile(h, 99), 99000e3, 0.01);
	assert_within((double)bench_hist_percentile(h, 99.9), 99900e3, 0.01);
	assert_int_equal(bench_hist_max(h), 100000000ull);
	assert_int_equal(bench_hist_min(h), 1000);
	assert_int_equal(bench_hist_percentile(h, 100), 100000000ull);
	assert_int_equal(bench_hist_percentile(h, 0), 1000);
	assert_within(bench_hist_mean(h), 50000.5e3, 1e-9);
	free(h);
}

static void test_bimodal_distribution_tail(void **state)
{
	(void)state;
	struct bench_hist *h = hist_new();
	for (int i = 0; i < 99000; i++)
		bench_hist_record(h, 100000); /* 100 us */
	for (int i = 0; i < 1000; i++)
		bench_hist_record(h, 10000000); /* 10 ms */
	assert_within((double)bench_hist_percentile(h, 50), 100e3, 0.01);
	assert_within((double)bench_hist_percentile(h, 99), 100e3, 0.01);
	assert_within((double)bench_hist_percentile(h, 99.01), 10e6, 0.01);
	assert_within((double)bench_hist_percentile(h, 99.9), 10e6, 0.01);
	assert_int_equal(bench_hist_max(h), 10000000);
	free(h);
}

static void test_exponential_distribution_percentiles(void **state)
{
	(void)state;
	struct bench_hist *h = hist_new();
	/* Quantiles of Exp(mean 1 ms), placed deterministically: value i is the (i+0.5)/n one. */
	const int n = 200000;
	for (int i = 0; i < n; i++)
		bench_hist_record(h, (uint64_t)(-log(1.0 - (i + 0.5) / n) * 1e6));
	assert_within((double)bench_hist_percentile(h, 50), -log(0.5) * 1e6, 0.01);
	assert_within((double)bench_hist_percentile(h, 90), -log(0.1) * 1e6, 0.01);
	assert_within((double)bench_hist_percentile(h, 99), -log(0.01) * 1e6, 0.01);
	assert_within((double)bench_hist_percentile(h, 99.9), -log(0.001) * 1e6, 0.01);
	assert_within(bench_hist_mean(h), 1e6, 0.01);
	free(h);
}

static void test_percentiles_never_decrease(void **state)
{
	(void)state;
	struct bench_hist *h = hist_new();
	uint64_t x = 0x12345678abcdefull;
	for (int i = 0; i < 50000; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		bench_hist_record(h, 1000 + (x >> 20) % 5000000000ull);
	}
	uint64_t prev = 0;
	for (double q = 0; q <= 100.0; q += 0.05) {
		uint64_t v = bench_hist_percentile(h, q);
		assert_true(v >= prev);
		assert_true(v >= bench_hist_min(h) && v <= bench_hist_max(h));
		prev = v;
	}
	free(h);
}

static void test_merge_equals_recording_everything_in_one(void **state)
{
	(void)state;
	struct bench_hist *a = hist_new(), *b = hist_new(), *all = hist_new();
	for (uint64_t i = 0; i < 30000; i++) {
		uint64_t v = 1000 + i * i * 37;
		bench_hist_record(i % 3 ? a : b, v);
		bench_hist_record(all, v);
	}
	bench_hist_record(b, 10); /* clamped */
	bench_hist_record(all, 10);
	bench_hist_merge(a, b);
	assert_int_equal(bench_hist_count(a), bench_hist_count(all));
	assert_int_equal(bench_hist_min(a), bench_hist_min(all));
	assert_int_equal(bench_hist_max(a), bench_hist_max(all));
	assert_int_equal(bench_hist_clamped_below(a), 1);
	assert_within(bench_hist_mean(a), bench_hist_mean(all), 1e-9);
	for (double q = 1; q < 100; q += 1.5)
		assert_int_equal(bench_hist_percentile(a, q), bench_hist_percentile(all, q));
	/* Merging an empty histogram changes nothing; merging into an empty one copies. */
	struct bench_hist *e = hist_new();
	bench_hist_merge(a, e);
	assert_int_equal(bench_hist_count(a), bench_hist_count(all));
	bench_hist_merge(e, all);
	assert_int_equal(bench_hist_min(e), bench_hist_min(all));
	assert_int_equal(bench_hist_percentile(e, 50), bench_hist_percentile(all, 50));
	free(a);
	free(b);
	free(all);
	free(e);
}

static void test_values_outside_1us_60s_are_clamped_and_counted(void **state)
{
	(void)state;
	struct bench_hist *h = hist_new();
	bench_hist_record(h, 0);
	bench_hist_record(h, 999);
	bench_hist_record(h, 1000);
	bench_hist_record(h, BENCH_HIST_MAX_NS);
	bench_hist_record(h, BENCH_HIST_MAX_NS + 1);
	bench_hist_record(h, UINT64_MAX);
	assert_int_equal(bench_hist_count(h), 6);
	assert_int_equal(bench_hist_clamped_below(h), 2);
	assert_int_equal(bench_hist_clamped_above(h), 2);
	assert_int_equal(bench_hist_min(h), BENCH_HIST_MIN_NS);
	assert_int_equal(bench_hist_max(h), BENCH_HIST_MAX_NS);
	assert_within((double)bench_hist_percentile(h, 10), (double)BENCH_HIST_MIN_NS, 0.01);
	assert_int_equal(bench_hist_percentile(h, 99), BENCH_HIST_MAX_NS);
	free(h);
}

static void test_empty_histogram_reports_zeros(void **state)
{
	(void)state;
	struct bench_hist *h = hist_new();
	assert_int_equal(bench_hist_count(h), 0);
	assert_int_equal(bench_hist_percentile(h, 50), 0);
	assert_int_equal(bench_hist_max(h), 0);
	assert_int_equal(bench_hist_min(h), 0);
	assert_true(bench_hist_mean(h) == 0.0);
	free(h);
}

static void test_csv_lists_buckets_in_order_up_to_100pct(void **state)
{
	(void)state;
	struct bench_hist *h = hist_new();
	for (int i = 0; i < 1000; i++)
		bench_hist_record(h, 1000 + (uint64_t)i * 1000);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(bench_hist_write_csv(h, f), 0);
	fclose(f);
	char *save = NULL;
	char *line = strtok_r(buf, "\n", &save);
	assert_string_equal(line, "value_us,count,cumulative_count,percentile");
	double prev_v = 0, last_pct = 0;
	unsigned long long total = 0, last_cum = 0;
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		double v, pct;
		unsigned long long cnt, cum;
		assert_int_equal(sscanf(line, "%lf,%llu,%llu,%lf", &v, &cnt, &cum, &pct), 4);
		assert_true(v > prev_v);
		total += cnt;
		assert_int_equal(cum, total);
		prev_v = v;
		last_cum = cum;
		last_pct = pct;
	}
	assert_int_equal(last_cum, 1000);
	assert_true(fabs(last_pct - 100.0) < 1e-9);
	assert_true(fabs(prev_v - 1000.0) < 1e-9); /* the last bucket is clamped to the max */
	free(buf);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buckets_are_contiguous_and_cover_the_range),
	    cmocka_unit_test(test_bucket_width_is_under_1pct_of_its_values),
	    cmocka_unit_test(test_relative_error_under_1pct_across_the_range),
	    cmocka_unit_test(test_uniform_distribution_percentiles),
	    cmocka_unit_test(test_bimodal_distribution_tail),
	    cmocka_unit_test(test_exponential_distribution_percentiles),
	    cmocka_unit_test(test_percentiles_never_decrease),
	    cmocka_unit_test(test_merge_equals_recording_everything_in_one),
	    cmocka_unit_test(test_values_outside_1us_60s_are_clamped_and_counted),
	    cmocka_unit_test(test_empty_histogram_reports_zeros),
	    cmocka_unit_test(test_csv_lists_buckets_in_order_up_to_100pct),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
