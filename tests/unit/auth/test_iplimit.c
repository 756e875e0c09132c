/* Unit tests for auth/iplimit.c: exact per-address limits across threads, IPv6 grouping,
 * bounded memory under an address flood, --conn-rate with a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "auth/iplimit.h"

static const struct iplimit_rate no_rate = {0, 0};

static struct sockaddr_storage v4(uint32_t addr)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	s->sin_family = AF_INET;
	s->sin_addr.s_addr = htonl(addr);
	s->sin_port = htons((uint16_t)(addr * 7)); /* ports must not matter */
	return ss;
}

static struct sockaddr_storage v6(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	s->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, text, &s->sin6_addr), 1);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static enum iplimit_rc admit(struct iplimit *t, struct sockaddr_storage *ss, uint32_t max,
                             struct iplimit_rate r, uint64_t now, uint32_t *ra,
                             struct iplimit_ref *ref)
{
	return iplimit_admit(t, SA(*ss), max, r, now, ra, ref);
}

/* Peeks at the private table (tests only): after every conn is gone each slot is FREE or
 * READY with no live count (no slot left half-inserted) and no key is held twice. */
static void assert_table_settled(struct iplimit *t)
{
	for (uint32_t i = 0; i <= t->_mask; i++) {
		uint64_t s = atomic_load(&t->_e[i]._st);
		uint64_t state = s >> 62;
		assert_true(state == 0 || state == 3);
		assert_int_equal(s & 0xffffffffu, 0);
		if (state != 3)
			continue;
		for (uint32_t j = i + 1; j <= t->_mask; j++) {
			if (atomic_load(&t->_e[j]._st) >> 62 != 3)
				continue;
			assert_false(
			    atomic_load(&t->_e[i]._key_hi) == atomic_load(&t->_e[j]._key_hi) &&
			    atomic_load(&t->_e[i]._key_lo) == atomic_load(&t->_e[j]._key_lo));
		}
	}
}

static void test_init_rejects_bad_arguments(void **state)
{
	struct iplimit t;
	(void)state;

	assert_int_equal(iplimit_init(&t, 1000, 64), -EINVAL); /* not a power of two */
	assert_int_equal(iplimit_init(&t, 4, 64), -EINVAL);
	assert_int_equal(iplimit_init(&t, 1024, 0), -EINVAL);
	assert_int_equal(iplimit_init(&t, 1024, 129), -EINVAL);
	assert_int_equal(iplimit_init(&t, 1024, 128), 0);
	iplimit_fini(&t);
}

static void test_limit_is_exact_and_counts_return_to_zero(void **state)
{
	struct iplimit t;
	struct iplimit_ref refs[10], r;
	struct sockaddr_storage a = v4(0x0a000001);
	uint32_t ra = 0;
	(void)state;

	assert_int_equal(iplimit_init(&t, 64, 64), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(admit(&t, &a, 10, no_rate, 0, &ra, &refs[i]), IPLIMIT_OK);
	assert_int_equal(admit(&t, &a, 10, no_rate, 0, &ra, &r), IPLIMIT_OVER_CONNS);
	assert_int_equal(ra, 1);
	assert_int_equal(r.slot, IPLIMIT_REF_NONE);
	assert_int_equal(iplimit_live(&t, SA(a)), 10);
	iplimit_release(&t, &refs[3]);
	iplimit_release(&t, &refs[3]); /* reset by the first call: a no-op */
	assert_int_equal(admit(&t, &a, 10, no_rate, 0, &ra, &refs[3]), IPLIMIT_OK);
	for (int i = 0; i < 10; i++)
		iplimit_release(&t, &refs[i]);
	assert_int_equal(iplimit_live(&t, SA(a)), 0);
	iplimit_fini(&t);
}

static void test_limits_off_track_nothing(void **state)
{
	struct iplimit t;
	struct iplimit_ref r;
	struct sockaddr_storage a = v4(1);
	struct sockaddr_storage un;
	uint32_t ra;
	(void)state;

	assert_int_equal(iplimit_init(&t, 8, 64), 0);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(admit(&t, &a, 0, no_rate, 0, &ra, &r), IPLIMIT_OK);
		assert_int_equal(r.slot, IPLIMIT_REF_NONE);
	}
	memset(&un, 0, sizeof(un));
	un.ss_family = AF_UNIX;
	assert_int_equal(admit(&t, &un, 1, no_rate, 0, &ra, &r), IPLIMIT_OK);
	assert_int_equal(r.slot, IPLIMIT_REF_NONE);
	iplimit_release(&t, &r);
	iplimit_fini(&t);
}

static void test_ipv4_addresses_are_separate(void **state)
{
	struct iplimit t;
	struct iplimit_ref r1, r2, r3;
	struct sockaddr_storage a = v4(0xc0000201), b = v4(0xc0000202);
	struct sockaddr_storage mapped = v6("::ffff:192.0.2.1");
	uint32_t ra;
	(void)state;

	assert_int_equal(iplimit_init(&t, 64, 64), 0);
	assert_int_equal(admit(&t, &a, 1, no_rate, 0, &ra, &r1), IPLIMIT_OK);
	assert_int_equal(admit(&t, &b, 1, no_rate, 0, &ra, &r2), IPLIMIT_OK);
	assert_int_equal(admit(&t, &a, 1, no_rate, 0, &ra, &r3), IPLIMIT_OVER_CONNS);
	/* a dual-stack listener's ::ffff:192.0.2.1 is the same client as 192.0.2.1 */
	assert_int_equal(admit(&t, &mapped, 1, no_rate, 0, &ra, &r3), IPLIMIT_OVER_CONNS);
	iplimit_release(&t, &r1);
	iplimit_release(&t, &r2);
	iplimit_fini(&t);
}

static void test_ipv6_grouped_per_prefix(void **state)
{
	struct iplimit t;
	struct iplimit_ref r[4];
	struct sockaddr_storage a1 = v6("2001:db8:1:2::1");
	struct sockaddr_storage a2 = v6("2001:db8:1:2:ffff:ffff:ffff:ffff");
	struct sockaddr_storage b = v6("2001:db8:1:3::1");
	uint32_t ra;
	(void)state;

	assert_int_equal(iplimit_init(&t, 64, 64), 0);
	assert_int_equal(admit(&t, &a1, 2, no_rate, 0, &ra, &r[0]), IPLIMIT_OK);
	assert_int_equal(admit(&t, &a2, 2, no_rate, 0, &ra, &r[1]), IPLIMIT_OK);
	assert_int_equal(admit(&t, &a1, 2, no_rate, 0, &ra, &r[2]), IPLIMIT_OVER_CONNS);
	assert_int_equal(admit(&t, &a2, 2, no_rate, 0, &ra, &r[2]), IPLIMIT_OVER_CONNS);
	assert_int_equal(iplimit_live(&t, SA(a2)), 2);
	assert_int_equal(admit(&t, &b, 2, no_rate, 0, &ra, &r[3]), IPLIMIT_OK); /* other /64 */
	for (int i = 0; i < 2; i++)
		iplimit_release(&t, &r[i]);
	iplimit_release(&t, &r[3]);
	iplimit_fini(&t);

	/* /128: every address on its own; /48: the two /64s above are one network */
	assert_int_equal(iplimit_init(&t, 64, 128), 0);
	assert_int_equal(admit(&t, &a1, 1, no_rate, 0, &ra, &r[0]), IPLIMIT_OK);
	assert_int_equal(admit(&t, &a2, 1, no_rate, 0, &ra, &r[1]), IPLIMIT_OK);
	iplimit_release(&t, &r[0]);
	iplimit_release(&t, &r[1]);
	iplimit_fini(&t);
	assert_int_equal(iplimit_init(&t, 64, 48), 0);
	assert_int_equal(admit(&t, &a1, 1, no_rate, 0, &ra, &r[0]), IPLIMIT_OK);
	assert_int_equal(admit(&t, &b, 1, no_rate, 0, &ra, &r[1]), IPLIMIT_OVER_CONNS);
	iplimit_release(&t, &r[0]);
	iplimit_fini(&t);
}

static void test_conn_rate_with_fake_clock_and_retry_after(void **state)
{
	struct iplimit t;
	struct iplimit_ref r;
	struct sockaddr_storage a = v4(0x0a000009);
	const struct iplimit_rate rate = {2, 3}; /* 2 per second, burst 3 */
	uint32_t ra = 0;
	(void)state;

	assert_int_equal(iplimit_init(&t, 64, 64), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(admit(&t, &a, 0, rate, 1000, &ra, &r), IPLIMIT_OK);
		iplimit_release(&t, &r);
	}
	for (int i = 0; i < 5; i++) { /* refused attempts cost no token and no count */
		assert_int_equal(admit(&t, &a, 0, rate, 1000, &ra, &r), IPLIMIT_OVER_RATE);
		assert_int_equal(ra, 1);
		assert_int_equal(r.slot, IPLIMIT_REF_NONE);
	}
	assert_int_equal(iplimit_live(&t, SA(a)), 0);
	assert_int_equal(admit(&t, &a, 0, rate, 1499, &ra, &r), IPLIMIT_OVER_RATE);
	assert_int_equal(admit(&t, &a, 0, rate, 1500, &ra, &r), IPLIMIT_OK); /* 500 ms later */
	iplimit_release(&t, &r);
	assert_int_equal(admit(&t, &a, 0, rate, 1500, &ra, &r), IPLIMIT_OVER_RATE);
	/* a clock read before the last token shows the rounding: next token at 2 s */
	assert_int_equal(admit(&t, &a, 0, rate, 0, &ra, &r), IPLIMIT_OVER_RATE);
	assert_int_equal(ra, 2);
	/* a long gap refills to the burst, not beyond */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(admit(&t, &a, 0, rate, 5ull * 86400000, &ra, &r), IPLIMIT_OK);
		iplimit_release(&t, &r);
	}
	assert_int_equal(admit(&t, &a, 0, rate, 5ull * 86400000, &ra, &r), IPLIMIT_OVER_RATE);
	iplimit_fini(&t);
}

static void test_over_conns_costs_no_token(void **state)
{
	struct iplimit t;
	struct iplimit_ref r, r2;
	struct sockaddr_storage a = v4(0x0a00000a);
	const struct iplimit_rate rate = {1, 1};
	uint32_t ra;
	(void)state;

	assert_int_equal(iplimit_init(&t, 64, 64), 0);
	assert_int_equal(admit(&t, &a, 1, rate, 0, &ra, &r), IPLIMIT_OK);
	for (int i = 0; i < 10; i++)
		assert_int_equal(admit(&t, &a, 1, rate, 1000, &ra, &r2), IPLIMIT_OVER_CONNS);
	iplimit_release(&t, &r);
	assert_int_equal(admit(&t, &a, 1, rate, 1000, &ra, &r), IPLIMIT_OK);
	iplimit_release(&t, &r);
	iplimit_fini(&t);
}

static void test_flood_evicts_idle_keeps_live(void **state)
{
	static struct iplimit_ref held[100];
	struct iplimit t;
	struct iplimit_ref r;
	uint32_t ra;
	(void)state;

	assert_int_equal(iplimit_init(&t, 1024, 64), 0);
	struct iplimit_entry *before = t._e;
	for (uint32_t i = 0; i < 100; i++) {
		struct sockaddr_storage a = v4(0x0b000000 + i);
		assert_int_equal(admit(&t, &a, 1, no_rate, 0, &ra, &held[i]), IPLIMIT_OK);
	}
	/* 100,000 distinct spoofed-looking addresses, each admitted and gone at once */
	for (uint32_t i = 0; i < 100000; i++) {
		struct sockaddr_storage a = v4(0x64000000 + i * 2654435761u % 0x10000000);
		assert_int_equal(admit(&t, &a, 1, no_rate, 1 + i, &ra, &r), IPLIMIT_OK);
		iplimit_release(&t, &r);
	}
	assert_ptr_equal(t._e, before); /* memory fixed: same single allocation */
	for (uint32_t i = 0; i < 100; i++) {
		struct sockaddr_storage a = v4(0x0b000000 + i);
		assert_int_equal(iplimit_live(&t, SA(a)), 1); /* live entries kept */
		assert_int_equal(admit(&t, &a, 1, no_rate, 200000, &ra, &r), IPLIMIT_OVER_CONNS);
		iplimit_release(&t, &held[i]);
		assert_int_equal(iplimit_live(&t, SA(a)), 0);
	}
	assert_table_settled(&t);
	iplimit_fini(&t);
}

static void test_full_of_live_entries_refuses_then_recovers(void **state)
{
	struct iplimit t;
	struct iplimit_ref held[16], r;
	uint32_t ra;
	(void)state;

	/* capacity 16: every 8-slot window fills before the table does, so the later
	 * addresses need slots beyond their window; all 16 still fit */
	assert_int_equal(iplimit_init(&t, 16, 64), 0);
	for (uint32_t i = 0; i < 16; i++) {
		struct sockaddr_storage a = v4(0x0c000000 + i);
		assert_int_equal(admit(&t, &a, 5, no_rate, i, &ra, &held[i]), IPLIMIT_OK);
	}
	for (uint32_t i = 0; i < 16; i++) { /* and each is found again */
		struct sockaddr_storage a = v4(0x0c000000 + i);
		assert_int_equal(iplimit_live(&t, SA(a)), 1);
	}
	struct sockaddr_storage x = v4(0x0d000000);
	assert_int_equal(admit(&t, &x, 5, no_rate, 100, &ra, &r), IPLIMIT_FULL);
	assert_int_equal(r.slot, IPLIMIT_REF_NONE);
	iplimit_release(&t, &held[7]);
	assert_int_equal(admit(&t, &x, 5, no_rate, 101, &ra, &r), IPLIMIT_OK);
	iplimit_release(&t, &r);
	for (uint32_t i = 0; i < 16; i++)
		iplimit_release(&t, &held[i]);
	iplimit_fini(&t);
}

/* Two threads hammering one address with a limit of 10. */
struct hammer {
	struct iplimit *t;
	uint32_t base; /* 0: all on one address; else distinct addresses from base */
	atomic_uint *admitted;
	struct iplimit_ref refs[16];
	unsigned n_refs;
	bool churn;      /* release at once, check the count never exceeds the limit */
	bool over;       /* churn saw more than 10 live */
	unsigned n_full; /* IPLIMIT_FULL answers: none expected, no table is all live */
	pthread_barrier_t *start;
};

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	uint32_t ra;

	pthread_barrier_wait(h->start); /* both threads at once, for real contention */
	for (uint32_t i = 0; i < 20000; i++) {
		struct sockaddr_storage a = v4(h->base ? h->base + i % 4096 : 0x0a0a0a0a);
		struct iplimit_ref r;
		enum iplimit_rc rc = iplimit_admit(h->t, SA(a), 10, no_rate, i, &ra, &r);
		h->n_full += rc == IPLIMIT_FULL;
		if (rc != IPLIMIT_OK)
			continue;
		atomic_fetch_add(h->admitted, 1);
		if (h->churn) {
			if (iplimit_live(h->t, SA(a)) > 10)
				h->over = true;
			iplimit_release(h->t, &r);
			atomic_fetch_sub(h->admitted, 1);
		} else {
			h->refs[h->n_refs++] = r;
		}
	}
	return NULL;
}

static void run_hammer(struct iplimit *t, uint32_t base, bool churn, atomic_uint *admitted,
                       struct hammer h[2])
{
	pthread_t th[2];
	pthread_barrier_t start;

	assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
	for (int i = 0; i < 2; i++) {
		memset(&h[i], 0, sizeof(h[i]));
		h[i].t = t;
		h[i].base = base;
		h[i].admitted = admitted;
		h[i].churn = churn;
		h[i].start = &start;
		assert_int_equal(pthread_create(&th[i], NULL, hammer_run, &h[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	pthread_barrier_destroy(&start);
	assert_int_equal(h[0].n_full + h[1].n_full, 0);
}

static void test_two_threads_exact_limit_on_one_address(void **state)
{
	struct iplimit t;
	struct hammer h[2];
	atomic_uint admitted = 0;
	struct sockaddr_storage a = v4(0x0a0a0a0a);
	(void)state;

	assert_int_equal(iplimit_init(&t, 1024, 64), 0);
	run_hammer(&t, 0, false, &admitted, h);
	assert_int_equal(atomic_load(&admitted), 10);
	assert_int_equal(h[0].n_refs + h[1].n_refs, 10);
	assert_int_equal(iplimit_live(&t, SA(a)), 10);
	for (int i = 0; i < 2; i++)
		for (unsigned j = 0; j < h[i].n_refs; j++)
			iplimit_release(&t, &h[i].refs[j]);
	assert_int_equal(iplimit_live(&t, SA(a)), 0);

	/* churn: admit and release at once, the live count stays within the limit */
	run_hammer(&t, 0, true, &admitted, h);
	assert_false(h[0].over || h[1].over);
	assert_int_equal(iplimit_live(&t, SA(a)), 0);
	assert_table_settled(&t);
	iplimit_fini(&t);
}

static void test_two_threads_churn_many_addresses_small_table(void **state)
{
	struct iplimit t;
	struct hammer h[2];
	atomic_uint admitted = 0;
	(void)state;

	/* 4096 addresses through 64 slots from two threads: evictions race admissions */
	assert_int_equal(iplimit_init(&t, 64, 64), 0);
	run_hammer(&t, 0x0e000000, true, &admitted, h);
	assert_false(h[0].over || h[1].over);
	assert_int_equal(atomic_load(&admitted), 0);
	for (uint32_t i = 0; i < 4096; i++) {
		struct sockaddr_storage a = v4(0x0e000000 + i);
		assert_int_equal(iplimit_live(&t, SA(a)), 0);
	}
	assert_table_settled(&t);
	iplimit_fini(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_init_rejects_bad_arguments),
	    cmocka_unit_test(test_limit_is_exact_and_counts_return_to_zero),
	    cmocka_unit_test(test_limits_off_track_nothing),
	    cmocka_unit_test(test_ipv4_addresses_are_separate),
	    cmocka_unit_test(test_ipv6_grouped_per_prefix),
	    cmocka_unit_test(test_conn_rate_with_fake_clock_and_retry_after),
	    cmocka_unit_test(test_over_conns_costs_no_token),
	    cmocka_unit_test(test_flood_evicts_idle_keeps_live),
	    cmocka_unit_test(test_full_of_live_entries_refuses_then_recovers),
	    cmocka_unit_test(test_two_threads_exact_limit_on_one_address),
	    cmocka_unit_test(test_two_threads_churn_many_addresses_small_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
