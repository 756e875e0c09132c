/* auth/bucket.c: token buckets as GCRA (the generic cell rate algorithm), time passed in.
 *
 * Owns: the arithmetic of every rate limit in wsgate: struct bucket for --msg-rate (one per
 * conn, owning worker only) and, through auth_int.h, the state word of each iplimit entry
 * for --conn-rate (CAS loop there).
 *
 * State is one number, tat: the time at which the bucket would be full again. A token is
 * available at t when tat - t <= (burst - 1) * interval, and taking it moves tat to
 * max(tat, t) + interval. That is exactly a bucket of `burst` tokens refilled one per
 * interval, with no separate token count, so the whole state plus its parameters is 16
 * bytes. Time is in nanoseconds inside (milliseconds * 10^6) so that the interval,
 * ceil(10^9 / rate), is an integer for every rate up to 10^9 per second and errs on the
 * strict side by under 1 ns per token; the largest tolerance, (2^32 - 2) * 10^9 ns, and a
 * clock below 2^44 ms both fit in 64 bits with room to spare, and every addition saturates
 * so a gap of days (or years) just fills the bucket.
 *
 * Rejected: a token count plus a last-refill time (needs 8 more bytes for the count, or a
 * 32-bit millisecond clock that aliases after 49.7 days idle); milli-tokens refilled as
 * rate * elapsed_ms (overflows 64 bits after 49 days at rate 2^32 - 1, and still needs a
 * count); floating point (rounding that differs between builds, and STYLE forbids it
 * for the limit a client is held to). */
#include "auth/bucket.h"

#include "auth/auth_int.h"

#define NS_PER_MS  1000000ull
#define NS_PER_SEC 1000000000ull

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint64_t bucket__ns(uint64_t now_ms)
{
	return now_ms > UINT64_MAX / NS_PER_MS ? UINT64_MAX : now_ms * NS_PER_MS;
}

uint32_t bucket__interval_ns(uint32_t per_sec)
{
	if (per_sec == 0)
		return 0;
	return (uint32_t)((NS_PER_SEC + per_sec - 1) / per_sec);
}

bool bucket__conform(uint64_t tat, uint64_t now_ns, uint32_t interval_ns, uint32_t burst,
                     uint64_t *next)
{
	uint64_t tau = (uint64_t)(burst - 1) * interval_ns; /* < 2^62 */

	if (tat > sat_add(now_ns, tau))
		return false;
	*next = sat_add(tat > now_ns ? tat : now_ns, interval_ns);
	return true;
}

uint32_t bucket__retry_after_s(uint64_t tat, uint64_t now_ns, uint32_t interval_ns, uint32_t burst)
{
	uint64_t tau = (uint64_t)(burst - 1) * interval_ns;
	uint64_t at = tat - tau; /* the first conforming time; tat > now + tau >= tau here */
	uint64_t d, s;

	if (tat <= sat_add(now_ns, tau))
		return 1;
	d = at - now_ns;
	s = d / NS_PER_SEC + (d % NS_PER_SEC != 0); /* rounded up without overflowing */
	return s == 0 ? 1 : s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

void bucket_init(struct bucket *b, uint32_t per_sec, uint32_t burst)
{
	b->_tat_ns = 0; /* full from the start: tat <= any now */
	b->_interval_ns = bucket__interval_ns(per_sec);
	b->_burst = burst == 0 ? 1 : burst;
}

bool bucket_take(struct bucket *b, uint64_t now_ms)
{
	if (b->_interval_ns == 0)
		return true;
	return bucket__conform(b->_tat_ns, bucket__ns(now_ms), b->_interval_ns, b->_burst,
	                       &b->_tat_ns);
}

uint32_t bucket_retry_after_s(const struct bucket *b, uint64_t now_ms)
{
	if (b->_interval_ns == 0)
		return 1;
	return bucket__retry_after_s(b->_tat_ns, bucket__ns(now_ms), b->_interval_ns, b->_burst);
}
