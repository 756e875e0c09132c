#ifndef WSG_AUTH_BUCKET_H
#define WSG_AUTH_BUCKET_H

/* A token bucket with the time passed in (SPEC.md: --msg-rate per connection, and the
 * arithmetic behind --conn-rate in iplimit.h). 16 bytes, so every conn can embed one.
 * Single-threaded: a bucket belongs to whoever embeds it (iplimit.h keeps its own atomic
 * state and shares only the arithmetic). */

#include <stdbool.h>
#include <stdint.h>

/* Visible but private: callers embed it; fields starting with _ are not theirs. */
struct bucket {
	uint64_t _tat_ns;      /* theoretical arrival time of the next token's slot (GCRA) */
	uint32_t _interval_ns; /* ceil(1e9 / rate); 0 = off */
	uint32_t _burst;       /* tokens the bucket holds when full, >= 1 */
};
_Static_assert(sizeof(struct bucket) <= 16, "struct bucket lives in every conn");

/* Sets b up full (burst tokens available at any now_ms) for per_sec tokens per second.
 * per_sec == 0 turns it off (every take succeeds). burst == 0 means 1. The refill interval
 * is 1e9 / per_sec nanoseconds rounded up, so the bucket never admits more than per_sec per
 * second; rates above 10^9 per second behave as 10^9 (no conn gets near either). */
void bucket_init(struct bucket *b, uint32_t per_sec, uint32_t burst);

/* Takes one token at now_ms (a monotonic clock in milliseconds, below 2^44: 557 years;
 * later times saturate, they do not wrap). Returns false, and changes nothing, when the
 * bucket is empty. A time earlier than a previous call's never admits more than the
 * previous time would have (the bucket only looks emptier). */
bool bucket_take(struct bucket *b, uint64_t now_ms);

/* Whole seconds from now_ms until bucket_take would succeed, rounded up, at least 1 (the
 * value of a Retry-After header). Off or non-empty buckets answer 1. */
uint32_t bucket_retry_after_s(const struct bucket *b, uint64_t now_ms);

#endif
