#ifndef WSG_BENCH_BENCH_HIST_H
#define WSG_BENCH_BENCH_HIST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Latency histogram, HDR style: log-linear buckets over nanoseconds. Each power of two is
 * cut into BENCH_HIST_SUB sub-buckets, so a bucket is at most 1/128 of the values it holds
 * wide and the value reported for it (its midpoint) is within 0.4% of any value recorded in
 * it. Values are clamped to [BENCH_HIST_MIN_NS, BENCH_HIST_MAX_NS] (1 us .. 60 s); the
 * clamped counts are kept so a report can say so. Visible but private: embedded by the
 * caller (one per thread), merged at the end. Not thread-safe. */

#define BENCH_HIST_MIN_NS   1000ull        /* 1 us */
#define BENCH_HIST_MAX_NS   60000000000ull /* 60 s */
#define BENCH_HIST_SUB_BITS 7u
#define BENCH_HIST_SUB      (1u << BENCH_HIST_SUB_BITS) /* sub-buckets per power of two */
/* 60e9 < 2^36: the top power of two is 2^35, its shift 35 - 7 = 28, its last index
 * 28 * 128 + 255. */
#define BENCH_HIST_BUCKETS (29u * BENCH_HIST_SUB + BENCH_HIST_SUB)

struct bench_hist {
	uint64_t _count;                      /* values recorded */
	uint64_t _min;                        /* smallest value (after clamping) */
	uint64_t _max;                        /* largest value (after clamping) */
	uint64_t _below;                      /* values clamped up to BENCH_HIST_MIN_NS */
	uint64_t _above;                      /* values clamped down to BENCH_HIST_MAX_NS */
	double _sum;                          /* of clamped values, for the mean */
	uint64_t _counts[BENCH_HIST_BUCKETS]; /* per bucket */
};

void bench_hist_init(struct bench_hist *h);

/* Records one value in nanoseconds (clamped to 1 us .. 60 s). */
void bench_hist_record(struct bench_hist *h, uint64_t ns);

/* Adds every value of src into dst. */
void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src);

/* The value (ns) below or at which q percent of the recorded values lie, q in [0, 100]:
 * the midpoint of the bucket holding that rank, kept within [min, max] so that p100 is the
 * exact max and percentiles never decrease with q. 0 when empty. */
uint64_t bench_hist_percentile(const struct bench_hist *h, double q);

uint64_t bench_hist_count(const struct bench_hist *h);
uint64_t bench_hist_min(const struct bench_hist *h); /* 0 when empty */
uint64_t bench_hist_max(const struct bench_hist *h); /* 0 when empty */
double bench_hist_mean(const struct bench_hist *h);  /* 0 when empty */
/* Values that were outside 1 us .. 60 s and were clamped (below, above). */
uint64_t bench_hist_clamped_below(const struct bench_hist *h);
uint64_t bench_hist_clamped_above(const struct bench_hist *h);

/* Bucket arithmetic, exposed for tests: the bucket of a value, and the lowest and highest
 * value a bucket holds. */
unsigned bench_hist_bucket_of(uint64_t ns);
uint64_t bench_hist_bucket_low(unsigned idx);
uint64_t bench_hist_bucket_high(unsigned idx);

/* Writes the distribution as CSV: a header line
 * "value_us,count,cumulative_count,percentile", then one line per non-empty bucket in
 * increasing order (value = bucket midpoint in microseconds, percentile = share of values at
 * or below it, 0..100). Returns 0, or -1 on a write error. */
int bench_hist_write_csv(const struct bench_hist *h, FILE *out);

#endif
