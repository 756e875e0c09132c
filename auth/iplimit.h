#ifndef WSG_AUTH_IPLIMIT_H
#define WSG_AUTH_IPLIMIT_H

/* Gateway-wide per-client-address state behind --max-conns-per-ip and --conn-rate
 * (SPEC.md, Access control): one table shared by every worker, bounded in memory, no locks.
 * A client gets one allowance for the whole gateway whichever worker its socket lands on.
 * IPv4 clients (and IPv4-mapped IPv6 ones, ::ffff:a.b.c.d) count per address, IPv6 clients
 * per /ipv6_prefix network.
 *
 * Memory: 40 bytes per entry (struct iplimit_entry below), capacity * 40 bytes in one
 * allocation made by iplimit_init, plus sizeof(struct iplimit); nothing is allocated
 * afterwards, whatever the number of distinct addresses seen. Capacity 131072 (a
 * --max-conns of 100000 rounded up to a power of two) is 5 MiB. */

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Visible but private: the caller embeds struct iplimit; no field is theirs. */
struct iplimit_entry {
	/* live:32 (bits 0-31) | gen:30 | state:2 (FREE, BUSY, READY). written: any worker
	 * (CAS); read: any worker. live > 0 pins the entry: it is never evicted. */
	_Atomic uint64_t _st;
	_Atomic uint64_t _key_hi; /* the address key; written only while BUSY */
	_Atomic uint64_t _key_lo;
	_Atomic uint64_t _tat_ns;  /* --conn-rate GCRA state (bucket.c); CAS by any worker */
	_Atomic uint64_t _seen_ms; /* last admission attempt, for eviction; any worker */
};
_Static_assert(sizeof(struct iplimit_entry) == 40, "memory per entry stated above");

struct iplimit {
	struct iplimit_entry *_e; /* _mask + 1 entries */
	uint32_t _mask;
	unsigned _ipv6_prefix;
	_Atomic uint32_t _max_probe; /* longest probe distance ever used + 1; only grows */
};

/* The --conn-rate setting, laid out like struct cfg_rate (core/config.h). */
struct iplimit_rate {
	uint32_t per_sec; /* 0 = off */
	uint32_t burst;   /* 0 = 1 */
};

enum iplimit_rc {
	IPLIMIT_OK = 0,          /* admitted: *ref is set, call iplimit_release once at the end */
	IPLIMIT_OVER_CONNS = -1, /* --max-conns-per-ip reached: 429, Retry-After 1 */
	IPLIMIT_OVER_RATE = -2,  /* --conn-rate bucket empty: 429 with *retry_after_s */
	IPLIMIT_FULL = -3,       /* every entry holds a live conn (or the table stayed
	                          * contended for 256 restarts in a row): load, 503 */
};

/* Which entry an admitted conn counts against. Kept in the conn; valid until released
 * (an entry with a live conn is never evicted, so the slot cannot change owner). */
struct iplimit_ref {
	uint32_t slot; /* IPLIMIT_REF_NONE: nothing to release */
};
#define IPLIMIT_REF_NONE UINT32_MAX

/* Sets t up with capacity entries (a power of two, 8 .. 2^30) and the IPv6 grouping
 * ipv6_prefix (1 .. 128). Allocates capacity * 40 bytes (control thread, at start-up).
 * Returns 0, -EINVAL for a bad argument, -ENOMEM. */
int iplimit_init(struct iplimit *t, uint32_t capacity, unsigned ipv6_prefix);

/* Frees what iplimit_init allocated; no admit or release may run concurrently. */
void iplimit_fini(struct iplimit *t);

/* Admits one new conn from sa (borrowed; AF_INET or AF_INET6) at now_ms (monotonic).
 * max_conns_per_ip == 0 and rate.per_sec == 0 mean off. Checks the live count first, then
 * the rate bucket; a refused attempt costs neither a token nor a count (SPEC.md). The
 * limit is exact whatever threads call: with a limit of 10 there are never more than 10
 * live admissions for one key. On IPLIMIT_OK *ref identifies the entry; on OVER_CONNS and
 * OVER_RATE *retry_after_s is the Retry-After value (whole seconds, >= 1); on every other
 * outcome *ref is IPLIMIT_REF_NONE. With both limits off, or an address of another family,
 * nothing is tracked: IPLIMIT_OK with IPLIMIT_REF_NONE. Any thread; never blocks or
 * allocates; obstruction-free (bounded CAS retries, see iplimit.c). */
enum iplimit_rc iplimit_admit(struct iplimit *t, const struct sockaddr *sa,
                              uint32_t max_conns_per_ip, struct iplimit_rate rate, uint64_t now_ms,
                              uint32_t *retry_after_s, struct iplimit_ref *ref);

/* Ends the admission ref stands for, exactly once per IPLIMIT_OK (any thread), and resets
 * *ref to IPLIMIT_REF_NONE so a second call is a no-op. */
void iplimit_release(struct iplimit *t, struct iplimit_ref *ref);

/* The 128-bit key sa counts under (what --ipv6-prefix groups), for a table of leases kept
 * beside this one (core/cluster_limit.c). 0, or -1 for an address of another family. */
int iplimit_key(const struct iplimit *t, const struct sockaddr *sa, uint64_t *hi, uint64_t *lo);

/* Calls fn for every key with live conns (a consistent {key, live} read of each entry; the
 * count may have moved by the time fn runs). Any thread; reads only. For the cluster's
 * periodic sync of per-IP counts (control thread). */
typedef void iplimit_visit_fn(void *arg, uint64_t hi, uint64_t lo, uint32_t live);
void iplimit_scan(struct iplimit *t, iplimit_visit_fn *fn, void *arg);

/* Live conns counted for sa's key right now (0 when it has no entry): admin API, tests. */
uint32_t iplimit_live(struct iplimit *t, const struct sockaddr *sa);

#endif
