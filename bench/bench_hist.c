#include "bench/bench_hist.h"

#include <math.h>
#include <string.h>

/* Design note. An HDR-style log-linear histogram: values (ns) below 256 get one bucket each;
 * above, a value v with highest set bit b lands in bucket (b - 7) * 128 + (v >> (b - 7)), i.e.
 * its top 8 bits select one of 128 sub-buckets of its power of two. Indexes are contiguous
 * (v = 255 is index 255, v = 256 is index 256) and a bucket's width is at most 1/128 of its
 * lowest value, which bounds the relative error of the reported midpoint to 1/256. 1 us .. 60 s
 * needs 3,840 buckets (30 KiB): one per thread, merged once at the end, so recording is an
 * increment and a few compares, with no allocation and no floating point except the sum.
 * Rejected: HdrHistogram's own C library (not packaged in Debian), and a plain log histogram
 * (percentiles too coarse between powers of two). Runs on whichever thread owns the struct. */

void bench_hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
}

unsigned bench_hist_bucket_of(uint64_t ns)
{
	if (ns < 2u * BENCH_HIST_SUB)
		return (unsigned)ns;
	unsigned shift = (unsigned)(63 - __builtin_clzll(ns)) - BENCH_HIST_SUB_BITS;
	return shift * BENCH_HIST_SUB + (unsigned)(ns >> shift);
}

uint64_t bench_hist_bucket_low(unsigned idx)
{
	if (idx < 2u * BENCH_HIST_SUB)
		return idx;
	unsigned shift = idx / BENCH_HIST_SUB - 1;
	uint64_t mant = idx % BENCH_HIST_SUB + BENCH_HIST_SUB;
	return mant << shift;
}

uint64_t bench_hist_bucket_high(unsigned idx)
{
	if (idx < 2u * BENCH_HIST_SUB)
		return idx;
	unsigned shift = idx / BENCH_HIST_SUB - 1;
	uint64_t mant = idx % BENCH_HIST_SUB + BENCH_HIST_SUB;
	return ((mant + 1) << shift) - 1;
}

_Static_assert(BENCH_HIST_BUCKETS == 30u * 128u, "bucket count for 1 us .. 60 s");

void bench_hist_record(struct bench_hist *h, uint64_t ns)
{
	if (ns < BENCH_HIST_MIN_NS) {
		ns = BENCH_HIST_MIN_NS;
		h->_below++;
	} else if (ns > BENCH_HIST_MAX_NS) {
		ns = BENCH_HIST_MAX_NS;
		h->_above++;
	}
	h->_counts[bench_hist_bucket_of(ns)]++;
	if (h->_count == 0 || ns < h->_min)
		h->_min = ns;
	if (ns > h->_max)
		h->_max = ns;
	h->_count++;
	h->_sum += (double)ns;
}

void bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	if (src->_count == 0)
		return;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++)
		dst->_counts[i] += src->_counts[i];
	if (dst->_count == 0 || src->_min < dst->_min)
		dst->_min = src->_min;
	if (src->_max > dst->_max)
		dst->_max = src->_max;
	dst->_count += src->_count;
	dst->_below += src->_below;
	dst->_above += src->_above;
	dst->_sum += src->_sum;
}

static uint64_t bench_hist_bucket_mid(unsigned idx)
{
	uint64_t lo = bench_hist_bucket_low(idx);
	return lo + (bench_hist_bucket_high(idx) - lo) / 2;
}

uint64_t bench_hist_percentile(const struct bench_hist *h, double q)
{
	if (h->_count == 0)
		return 0;
	if (!(q > 0.0))
		return h->_min;
	if (q >= 100.0)
		return h->_max;
	/* The rank of the value asked for, 1-based: ceil(q% of count), at least the first. */
	uint64_t rank = (uint64_t)ceil(q / 100.0 * (double)h->_count);
	if (rank < 1)
		rank = 1;
	if (rank >= h->_count)
		return h->_max; /* the last rank is the max, known exactly */
	uint64_t seen = 0;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		seen += h->_counts[i];
		if (seen >= rank) {
			uint64_t v = bench_hist_bucket_mid(i);
			if (v < h->_min)
				v = h->_min;
			if (v > h->_max)
				v = h->_max;
			return v;
		}
	}
	return h->_max;
}

uint64_t bench_hist_count(const struct bench_hist *h)
{
	return h->_count;
}

uint64_t bench_hist_min(const struct bench_hist *h)
{
	return h->_count ? h->_min : 0;
}

uint64_t bench_hist_max(const struct bench_hist *h)
{
	return h->_count ? h->_max : 0;
}

double bench_hist_mean(const struct bench_hist *h)
{
	return h->_count ? h->_sum / (double)h->_count : 0.0;
}

uint64_t bench_hist_clamped_below(const struct bench_hist *h)
{
	return h->_below;
}

uint64_t bench_hist_clamped_above(const struct bench_hist *h)
{
	return h->_above;
}

int bench_hist_write_csv(const struct bench_hist *h, FILE *out)
{
	if (fprintf(out, "value_us,count,cumulative_count,percentile\n") < 0)
		return -1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < BENCH_HIST_BUCKETS; i++) {
		if (h->_counts[i] == 0)
			continue;
		seen += h->_counts[i];
		uint64_t v = bench_hist_bucket_mid(i);
		if (v < h->_min)
			v = h->_min;
		if (v > h->_max)
			v = h->_max;
		if (fprintf(out, "%.3f,%llu,%llu,%.6f\n", (double)v / 1000.0,
		            (unsigned long long)h->_counts[i], (unsigned long long)seen,
		            100.0 * (double)seen / (double)h->_count) < 0)
			return -1;
	}
	return fflush(out) == 0 ? 0 : -1;
}
