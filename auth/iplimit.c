/* auth/iplimit.c: the gateway-wide per-address table (--max-conns-per-ip, --conn-rate).
 *
 * Owns: one open-addressed table of fixed capacity shared by every worker, mapping an
 * address key (IPv4 address, or IPv6 address masked to /ipv6_prefix; 128 bits) to its live
 * conn count, its --conn-rate GCRA state (bucket.c arithmetic) and its last-seen time.
 * Any worker calls admit and release; the control thread only inits and finis.
 *
 * Entry life: FREE -> BUSY -> PENDING -> READY (or back to FREE), and READY -> BUSY when an
 * idle entry is evicted for another key. The state, a generation and the live count share
 * one 64-bit word (_st), so "live == 0, claim it" is one CAS, and a conn reserving a count
 * (live + 1) can never race an eviction: live > 0 pins the entry, which is also why an
 * iplimit_ref is just a slot number. The key is written only while BUSY (by the one thread
 * whose CAS made it BUSY) and the generation moves whenever a slot leaves PENDING, so a
 * reader loads _st, compares the key, and trusts the compare while _st keeps that value or
 * at least that generation and state (seqlock validation; everything here is seq_cst).
 * A CAS that fails only because live moved is retried in place; anything else restarts the
 * attempt, at most IPLIMIT_TRIES times (then FULL: pathological contention only; it is
 * load, not a bug).
 *
 * Probing: linear from hash(key), over max(IPLIMIT_WINDOW, _max_probe) slots. A new key
 * takes a FREE slot of its window, else evicts the least recently seen READY entry with
 * live == 0 among them: approximate LRU by sampling the key's 8-slot window (every slot
 * is a sample, so a flood of new addresses pushes out the oldest idle ones near it). Only
 * when the whole window is pinned by live conns does it look further (first unpinned slot
 * in the rest of the table) and raise _max_probe first, so that lookups look that far;
 * when every entry of the table is pinned the answer is IPLIMIT_FULL (the caller answers
 * 503; a capacity >= --max-conns makes it unreachable, since each pin is a live conn).
 *
 * No duplicate keys, no waiting: two threads inserting one new key may claim different
 * slots, so an insert is two-phase. The inserter claims a slot (BUSY), writes the key and
 * publishes it as PENDING; then any thread that meets a PENDING slot holding its key runs
 * settle() on it: another READY copy aborts it (FREE), a nearer PENDING copy wins over it,
 * farther PENDING copies are aborted, and otherwise it becomes READY. All transitions out
 * of PENDING are CASes from that exact value, so exactly one decision sticks, and a thread
 * stalled in the middle of an insert never holds anyone up: the others settle its slot.
 * A slot becomes READY only after a scan that found no other copy; for two copies that
 * both pass, the nearer one's PENDING store precedes its settle's scan, which then sees
 * the farther one PENDING (and aborts it) or READY (and aborts itself): at most one READY
 * copy. BUSY slots carry no key yet and are skipped by everyone. A scan that finds a slot's
 * word changed across its key compare reads it again rather than skip it (slot_has()):
 * skipping a copy that was settling under the scan is how a duplicate would get in.
 *
 * Costs of the design: an idle address evicted by a flood comes back with a full
 * --conn-rate bucket (its state went with the entry); _max_probe only grows, so after the
 * windows of some keys were once all pinned, every lookup scans that far.
 *
 * Rejected: a mutex per shard (STYLE.md 6: never a lock on a worker); per-worker tables
 * (a client would get one allowance per worker, which SPEC.md forbids); hashing the key to
 * 64 bits to fit a single CAS word (two networks would share an allowance, and without a
 * secret seed a client could aim its address at a victim's); CLOCK over the whole table (a
 * global hand is one more contended cache line, and its sweep is unbounded when most
 * entries are live); a 128-bit CAS (libatomic may take a lock for it). A first version had
 * no PENDING state (inserters backed off on any BUSY slot): the two-thread tests showed it
 * answering FULL when an inserter was preempted while BUSY (everyone else spun out their
 * retries on it), which is why any thread can now settle an insert. */
#include "auth/iplimit.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_int.h"

#define IPLIMIT_WINDOW 8u
#define IPLIMIT_TRIES  256u

#define ST_FREE    0ull
#define ST_BUSY    1ull /* claimed by one inserter, key being written */
#define ST_PENDING 2ull /* key written, waiting for the duplicate check (settle) */
#define ST_READY   3ull

#define ST_LIVE_MASK 0xffffffffull
#define ST_GEN_SHIFT 32
#define ST_GEN_MASK  0x3fffffffull
#define ST_STATE(s)  ((s) >> 62)
#define ST_GEN(s)    (((s) >> ST_GEN_SHIFT) & ST_GEN_MASK)
#define ST_LIVE(s)   ((s)&ST_LIVE_MASK)

static uint64_t st_make(uint64_t state, uint64_t gen, uint64_t live)
{
	return state << 62 | (gen & ST_GEN_MASK) << ST_GEN_SHIFT | live;
}

struct ipkey {
	uint64_t hi, lo;
};

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* IPv4 keys use the IPv4-mapped form, so a dual-stack listener's ::ffff:a.b.c.d and a
 * plain IPv4 listener's a.b.c.d share an entry; a masked native IPv6 key never falls in
 * ::ffff:0:0/96 unless the address does, so the two families cannot collide. */
static int ipkey_from(const struct sockaddr *sa, unsigned prefix, struct ipkey *k)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
		k->hi = 0;
		k->lo = 0xffff00000000ull | ntohl(s4->sin_addr.s_addr);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
		const uint8_t *a = s6->sin6_addr.s6_addr;
		k->hi = be64(a);
		k->lo = be64(a + 8);
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			return 0;
		if (prefix <= 64) {
			k->hi &= prefix == 0 ? 0 : ~0ull << (64 - prefix);
			k->lo = 0;
		} else {
			k->lo &= ~0ull << (128 - prefix);
		}
		return 0;
	}
	return -1;
}

static uint32_t ipkey_hash(const struct ipkey *k)
{
	/* murmur3 fmix64 over both halves: spreads neighbouring networks over the table */
	uint64_t h = k->hi * 0x9e3779b97f4a7c15ull ^ k->lo;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h;
}

static bool key_is(struct iplimit_entry *e, const struct ipkey *k)
{
	return atomic_load(&e->_key_hi) == k->hi && atomic_load(&e->_key_lo) == k->lo;
}

static uint32_t probe_span(struct iplimit *t)
{
	uint32_t mp = atomic_load(&t->_max_probe);
	return mp > IPLIMIT_WINDOW ? mp : IPLIMIT_WINDOW;
}

int iplimit_init(struct iplimit *t, uint32_t capacity, unsigned ipv6_prefix)
{
	if (capacity < IPLIMIT_WINDOW || capacity > (1u << 30) || (capacity & (capacity - 1)))
		return -EINVAL;
	if (ipv6_prefix < 1 || ipv6_prefix > 128)
		return -EINVAL;
	t->_e = calloc(capacity, sizeof(*t->_e));
	if (t->_e == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < capacity; i++) {
		atomic_init(&t->_e[i]._st, st_make(ST_FREE, 0, 0));
		atomic_init(&t->_e[i]._key_hi, 0);
		atomic_init(&t->_e[i]._key_lo, 0);
		atomic_init(&t->_e[i]._tat_ns, 0);
		atomic_init(&t->_e[i]._seen_ms, 0);
	}
	t->_mask = capacity - 1;
	t->_ipv6_prefix = ipv6_prefix;
	atomic_init(&t->_max_probe, 0);
	return 0;
}

void iplimit_fini(struct iplimit *t)
{
	free(t->_e);
	t->_e = NULL;
}

/* Loads slot i's state and, when it is PENDING or READY, compares its key with k: the key
 * is written only while BUSY, so a state word unchanged across the compare proves the key
 * belonged to it. A word that changed is read again (a slot settling right under the scan
 * must not be missed: settle() depends on seeing every copy), and after 64 changes in a
 * row the slot counts as holding k, which only costs the caller a retry. Returns true for
 * "PENDING or READY with key k", with the state in *st. */
static bool slot_has(struct iplimit *t, uint32_t i, const struct ipkey *k, uint64_t *st)
{
	uint64_t s = atomic_load(&t->_e[i]._st);

	for (unsigned n = 0; n < 64; n++) {
		if (ST_STATE(s) != ST_PENDING && ST_STATE(s) != ST_READY)
			return false;
		bool same = key_is(&t->_e[i], k);
		uint64_t again = atomic_load(&t->_e[i]._st);
		if (again == s) {
			*st = s;
			return same;
		}
		s = again;
	}
	*st = s;
	return true;
}

/* Finds k within the probe span: returns its READY slot (state in *st), or
 * IPLIMIT_REF_NONE with *pend set to the nearest PENDING slot holding k (its state in
 * *pend_st), IPLIMIT_REF_NONE when there is none. */
static uint32_t lookup(struct iplimit *t, const struct ipkey *k, uint32_t h, uint64_t *st,
                       uint32_t *pend, uint64_t *pend_st)
{
	uint32_t span = probe_span(t);

	*pend = IPLIMIT_REF_NONE;
	for (uint32_t d = 0; d < span && d <= t->_mask; d++) {
		uint32_t i = (h + d) & t->_mask;
		uint64_t s;
		if (!slot_has(t, i, k, &s))
			continue;
		if (ST_STATE(s) == ST_READY) {
			*st = s;
			return i;
		}
		if (*pend == IPLIMIT_REF_NONE) {
			*pend = i;
			*pend_st = s;
		}
	}
	return IPLIMIT_REF_NONE;
}

/* Decides PENDING slot j (state sj) for key k; any thread may, so an inserter that stalls
 * never holds anyone up. Another READY k: j is aborted (FREE). A nearer PENDING k: settled
 * first (recursively; nearer is strictly closer, so depth <= span), then j is looked at
 * again. Farther PENDING k's: aborted. Then j becomes READY with no live count (the caller
 * restarts and admits through the ordinary path). Every transition is a CAS from a PENDING
 * value, so exactly one decision sticks. Returns with j no longer PENDING at sj, except
 * after IPLIMIT_TRIES rounds of churn (then lookup's clean-up finishes it). */
static void settle(struct iplimit *t, const struct ipkey *k, uint32_t h, uint32_t j, uint64_t sj)
{
	uint32_t dj = (j - h) & t->_mask;

	for (unsigned round = 0; round < IPLIMIT_TRIES; round++) {
		uint32_t span = probe_span(t);
		bool again = false;

		if (atomic_load(&t->_e[j]._st) != sj)
			return; /* decided by someone else */
		for (uint32_t d = 0; d < span && d <= t->_mask && !again; d++) {
			uint32_t i = (h + d) & t->_mask;
			uint64_t s;
			if (i == j || !slot_has(t, i, k, &s))
				continue;
			if (ST_STATE(s) == ST_READY) {
				atomic_compare_exchange_strong(&t->_e[j]._st, &sj,
				                               st_make(ST_FREE, ST_GEN(sj) + 1, 0));
				return;
			}
			if (d < dj) {
				settle(t, k, h, i, s);
				again = true;
			} else if (!atomic_compare_exchange_strong(
			               &t->_e[i]._st, &s, st_make(ST_FREE, ST_GEN(s) + 1, 0))) {
				again = true; /* it moved on: look again */
			}
		}
		if (!again) {
			atomic_compare_exchange_strong(&t->_e[j]._st, &sj,
			                               st_make(ST_READY, ST_GEN(sj) + 1, 0));
			return;
		}
	}
}

static bool unpinned(uint64_t s)
{
	return ST_STATE(s) == ST_FREE || (ST_STATE(s) == ST_READY && ST_LIVE(s) == 0);
}

/* Picks a slot for a new key: a FREE slot of the window, else its least recently seen
 * unpinned entry, else the first unpinned slot further on. *st is the value to CAS from. */
static uint32_t pick_victim(struct iplimit *t, uint32_t h, uint64_t *st, uint32_t *dist)
{
	uint32_t best = IPLIMIT_REF_NONE;
	uint64_t best_seen = UINT64_MAX;

	for (uint32_t d = 0; d < IPLIMIT_WINDOW; d++) {
		uint32_t i = (h + d) & t->_mask;
		uint64_t s = atomic_load(&t->_e[i]._st);
		if (!unpinned(s))
			continue;
		uint64_t seen = ST_STATE(s) == ST_FREE ? 0 : atomic_load(&t->_e[i]._seen_ms);
		if (best == IPLIMIT_REF_NONE || seen < best_seen) {
			best = i;
			best_seen = seen;
			*st = s;
			*dist = d;
			if (ST_STATE(s) == ST_FREE)
				break;
		}
	}
	for (uint32_t d = IPLIMIT_WINDOW; best == IPLIMIT_REF_NONE && d <= t->_mask; d++) {
		uint32_t i = (h + d) & t->_mask;
		uint64_t s = atomic_load(&t->_e[i]._st);
		if (unpinned(s)) {
			best = i;
			*st = s;
			*dist = d;
		}
	}
	return best;
}

/* Claims victim v (state vst) for k: BUSY, key, a full bucket, then PENDING, and settles it
 * at once. Returns false when the claim CAS lost (the caller looks again either way). */
static bool claim(struct iplimit *t, const struct ipkey *k, uint32_t h, uint32_t v, uint64_t vst,
                  uint32_t dist, uint64_t now_ms)
{
	struct iplimit_entry *e = &t->_e[v];
	uint64_t gen = ST_GEN(vst);

	if (dist >= IPLIMIT_WINDOW) { /* lookups must reach this far before it holds k */
		uint32_t mp = atomic_load(&t->_max_probe);
		while (mp < dist + 1 &&
		       !atomic_compare_exchange_weak(&t->_max_probe, &mp, dist + 1))
			;
	}
	if (!atomic_compare_exchange_strong(&e->_st, &vst, st_make(ST_BUSY, gen, 0)))
		return false;
	atomic_store(&e->_key_hi, k->hi);
	atomic_store(&e->_key_lo, k->lo);
	atomic_store(&e->_tat_ns, 0); /* full: tat <= any now */
	atomic_store(&e->_seen_ms, now_ms);
	uint64_t pending = st_make(ST_PENDING, gen, 0);
	atomic_store(&e->_st, pending); /* only the BUSY owner writes a BUSY slot */
	settle(t, k, h, v, pending);
	return true;
}

/* Takes one --conn-rate token from entry e (pinned by the caller). */
static bool take_token(struct iplimit_entry *e, struct iplimit_rate rate, uint64_t now_ms,
                       uint32_t *retry_after_s)
{
	uint32_t iv = bucket__interval_ns(rate.per_sec);
	uint32_t burst = rate.burst == 0 ? 1 : rate.burst;
	uint64_t now_ns = bucket__ns(now_ms);
	uint64_t tat = atomic_load(&e->_tat_ns);
	uint64_t next;

	for (;;) {
		if (!bucket__conform(tat, now_ns, iv, burst, &next)) {
			*retry_after_s = bucket__retry_after_s(tat, now_ns, iv, burst);
			return false;
		}
		if (atomic_compare_exchange_weak(&e->_tat_ns, &tat, next))
			return true;
	}
}

enum iplimit_rc iplimit_admit(struct iplimit *t, const struct sockaddr *sa,
                              uint32_t max_conns_per_ip, struct iplimit_rate rate, uint64_t now_ms,
                              uint32_t *retry_after_s, struct iplimit_ref *ref)
{
	struct ipkey k;
	uint32_t h;

	ref->slot = IPLIMIT_REF_NONE;
	if ((max_conns_per_ip == 0 && rate.per_sec == 0) ||
	    ipkey_from(sa, t->_ipv6_prefix, &k) != 0)
		return IPLIMIT_OK;
	h = ipkey_hash(&k);
	for (unsigned attempt = 0; attempt < IPLIMIT_TRIES; attempt++) {
		uint64_t s, ps;
		uint32_t p;
		uint32_t i = lookup(t, &k, h, &s, &p, &ps);

		if (i != IPLIMIT_REF_NONE && p != IPLIMIT_REF_NONE) {
			settle(t, &k, h, p, ps); /* a stray copy before the READY one: abort it */
			continue;
		}
		if (i == IPLIMIT_REF_NONE) {
			uint64_t vst = 0;
			uint32_t dist = 0, v;
			if (p != IPLIMIT_REF_NONE) {
				settle(t, &k, h, p, ps); /* help whoever is inserting k */
				continue;
			}
			v = pick_victim(t, h, &vst, &dist);
			if (v == IPLIMIT_REF_NONE)
				return IPLIMIT_FULL;
			(void)claim(t, &k, h, v, vst, dist, now_ms);
			continue; /* the next lookup finds k READY (or helps settle it) */
		}

		struct iplimit_entry *e = &t->_e[i];
		uint64_t gen = ST_GEN(s);
		bool pinned = false;
		/* Reserve a count first: the CAS keeps the limit exact, and a word of the same
		 * generation, still READY, proves the entry still holds k. */
		while (ST_STATE(s) == ST_READY && ST_GEN(s) == gen) {
			uint64_t live = ST_LIVE(s);
			if ((max_conns_per_ip != 0 && live >= max_conns_per_ip) ||
			    live == ST_LIVE_MASK) {
				atomic_store(&e->_seen_ms, now_ms);
				*retry_after_s = 1;
				return IPLIMIT_OVER_CONNS;
			}
			if (atomic_compare_exchange_weak(&e->_st, &s, s + 1)) {
				pinned = true;
				break;
			}
		}
		if (!pinned)
			continue; /* evicted under us: look again */
		atomic_store(&e->_seen_ms, now_ms);
		if (rate.per_sec != 0 && !take_token(e, rate, now_ms, retry_after_s)) {
			atomic_fetch_sub(&e->_st, 1); /* a refused attempt keeps no count */
			return IPLIMIT_OVER_RATE;
		}
		ref->slot = i;
		return IPLIMIT_OK;
	}
	return IPLIMIT_FULL;
}

void iplimit_release(struct iplimit *t, struct iplimit_ref *ref)
{
	if (ref->slot == IPLIMIT_REF_NONE)
		return;
	uint64_t old = atomic_fetch_sub(&t->_e[ref->slot]._st, 1);
	/* Invariant, not peer input: a release without its admission would borrow from the
	 * generation bits and unpin someone else's entry. */
	if (ST_LIVE(old) == 0 || ST_STATE(old) != ST_READY)
		abort();
	ref->slot = IPLIMIT_REF_NONE;
}

uint32_t iplimit_live(struct iplimit *t, const struct sockaddr *sa)
{
	struct ipkey k;
	uint64_t s, ps;
	uint32_t p, i;

	if (ipkey_from(sa, t->_ipv6_prefix, &k) != 0)
		return 0;
	i = lookup(t, &k, ipkey_hash(&k), &s, &p, &ps);
	return i == IPLIMIT_REF_NONE ? 0 : (uint32_t)ST_LIVE(s);
}

int iplimit_key(const struct iplimit *t, const struct sockaddr *sa, uint64_t *hi, uint64_t *lo)
{
	struct ipkey k;
	if (ipkey_from(sa, t->_ipv6_prefix, &k) != 0)
		return -1;
	*hi = k.hi;
	*lo = k.lo;
	return 0;
}

void iplimit_scan(struct iplimit *t, iplimit_visit_fn *fn, void *arg)
{
	for (uint32_t i = 0; i <= t->_mask; i++) {
		struct iplimit_entry *e = &t->_e[i];
		uint64_t s = atomic_load(&e->_st);
		if (ST_STATE(s) != ST_READY || ST_LIVE(s) == 0)
			continue;
		uint64_t hi = atomic_load(&e->_key_hi), lo = atomic_load(&e->_key_lo);
		uint64_t s2 = atomic_load(&e->_st);
		/* seqlock: the key is the entry's if state and generation held across it */
		if ((s2 & ~ST_LIVE_MASK) != (s & ~ST_LIVE_MASK) || ST_LIVE(s2) == 0)
			continue;
		fn(arg, hi, lo, (uint32_t)ST_LIVE(s2));
	}
}
