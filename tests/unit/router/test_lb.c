/* Unit tests for router/lb.c: the smooth weighted round robin schedule, weighted least-conn
 * with ties in rotation, the consistent hash ring (what moves when the set changes), and
 * every policy passing over backends that are down (router/health.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "router/health.h"
#include "router/lb.h"
#include "router/rt.h"

#define MAX_B 16

/* One route "/" over backends ws://10.0.0.K:9000 for the given K (1..MAX_B) and weights; the
 * backend with K gets slot K, as the registry would give a URL the same slot in every table. */
struct pool {
	struct rt_table *t;
	const struct rt_route *r;
	unsigned k[MAX_B]; /* index -> K */
};

static void pool_build(struct pool *p, enum rt_lb lb, const unsigned *ks, const unsigned *weights,
                       unsigned n)
{
	struct rt_route_def d;
	char err[256], url[64];
	uint32_t bslots[MAX_B], rslot = 1;

	memset(&d, 0, sizeof(d));
	d.path = strdup("/");
	d.has_lb = true;
	d.lb = lb;
	d.lb_header = lb == RT_LB_HEADER_HASH ? strdup("x-user") : NULL;
	d.backends = calloc(n, sizeof(*d.backends));
	d.n_backends = n;
	for (unsigned i = 0; i < n; i++) {
		snprintf(url, sizeof(url), "ws://10.0.0.%u:9000", ks[i]);
		assert_int_equal(rt_backend_def_parse(url, &d.backends[i], err, sizeof(err)), 0);
		d.backends[i].weight = weights ? weights[i] : 1;
		bslots[i] = ks[i];
		p->k[i] = ks[i];
	}
	p->t = rt_table_new_lb(&d, 1, NULL, err, sizeof(err));
	assert_non_null(p->t);
	rt_table_set_stat_slots(p->t, &rslot, bslots);
	p->r = rt_table_route(p->t, 0);
	rt_route_def_fini(&d);
}

static void pool_free(struct pool *p)
{
	rt_table_free(p->t);
	p->t = NULL;
}

/* The K of the backend picked for key i (ip-hash of 127.0.x.y style keys). */
static unsigned pick_k(const struct pool *p, uint32_t i)
{
	uint64_t key = lb_hash_bytes(&i, sizeof(i));
	uint32_t b = lb_pick(p->r, 0, &key, 0);
	assert_true(b < p->r->n_backends);
	return p->k[b];
}

static int reset(void **state)
{
	(void)state;
	health_reset_all();
	return 0;
}

static void test_round_robin_unweighted_is_exactly_even(void **state)
{
	(void)state;
	struct pool p;
	unsigned hits[5] = {0};
	pool_build(&p, RT_LB_ROUND_ROBIN, (const unsigned[]){1, 2, 3, 4, 5}, NULL, 5);
	for (uint64_t seq = 0; seq < 100000; seq++)
		hits[lb_pick(p.r, seq, NULL, 0)]++;
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(hits[i], 20000);
	/* a counter that wrapped still picks in range */
	assert_true(lb_pick(p.r, UINT64_MAX, NULL, 0) < 5);
	pool_free(&p);
}

static void test_round_robin_weights_are_exact_and_smooth(void **state)
{
	(void)state;
	struct pool p;
	const unsigned w[3] = {5, 1, 1};
	pool_build(&p, RT_LB_ROUND_ROBIN, (const unsigned[]){1, 2, 3}, w, 3);
	/* nginx's smooth weighted round robin: a a b a c a a */
	const unsigned want[7] = {0, 0, 1, 0, 2, 0, 0};
	for (uint64_t seq = 0; seq < 70; seq++)
		assert_int_equal(lb_pick(p.r, seq, NULL, 0), want[seq % 7]);
	pool_free(&p);

	/* 1/1/2 over 4000 picks: exactly 1000/1000/2000, and never the heavy one 3 times running */
	unsigned hits[3] = {0}, run = 0, last = 99;
	pool_build(&p, RT_LB_ROUND_ROBIN, (const unsigned[]){1, 2, 3}, (const unsigned[]){1, 1, 2},
	           3);
	for (uint64_t seq = 0; seq < 4000; seq++) {
		unsigned b = lb_pick(p.r, seq, NULL, 0);
		hits[b]++;
		run = b == last ? run + 1 : 1;
		last = b;
		assert_true(run <= 2);
	}
	assert_int_equal(hits[0], 1000);
	assert_int_equal(hits[1], 1000);
	assert_int_equal(hits[2], 2000);
	pool_free(&p);
}

static void test_round_robin_passes_over_down_backends(void **state)
{
	(void)state;
	struct pool p;
	unsigned hits[3] = {0};
	pool_build(&p, RT_LB_ROUND_ROBIN, (const unsigned[]){1, 2, 3}, NULL, 3);
	health_active_set(2, true); /* K=2 is index 1 */
	for (uint64_t seq = 0; seq < 3000; seq++)
		hits[lb_pick(p.r, seq, NULL, 0)]++;
	assert_int_equal(hits[1], 0);
	assert_int_equal(hits[0] + hits[2], 3000);
	assert_in_range(hits[0], 1000, 2000);
	health_active_set(1, true);
	health_active_set(3, true);
	assert_int_equal(lb_pick(p.r, 0, NULL, 0), LB_NONE);
	health_active_set(2, false);
	assert_int_equal(lb_pick(p.r, 5, NULL, 0), 1);
	pool_free(&p);
}

static void test_least_conn_takes_fewest_and_rotates_ties(void **state)
{
	(void)state;
	struct pool p;
	pool_build(&p, RT_LB_LEAST_CONN, (const unsigned[]){1, 2, 3, 4}, NULL, 4);
	const unsigned conns[4] = {5, 2, 7, 2};
	for (unsigned i = 0; i < 4; i++)
		for (unsigned c = 0; c < conns[i]; c++)
			lb_conn_acquire(i + 1);
	assert_int_equal(lb_pick(p.r, 0, NULL, 0), 1);
	assert_int_equal(lb_pick(p.r, 1, NULL, 0), 1);
	assert_int_equal(lb_pick(p.r, 2, NULL, 0), 3);
	assert_int_equal(lb_pick(p.r, 3, NULL, 0), 3);
	for (unsigned i = 0; i < 4; i++)
		for (unsigned c = 0; c < conns[i]; c++)
			lb_conn_release(i + 1);
	/* all equal: rotation */
	for (uint64_t seq = 0; seq < 8; seq++)
		assert_int_equal(lb_pick(p.r, seq, NULL, 0), seq % 4);
	pool_free(&p);
}

static void test_least_conn_weighted_converges_to_weights(void **state)
{
	(void)state;
	struct pool p;
	pool_build(&p, RT_LB_LEAST_CONN, (const unsigned[]){1, 2, 3}, (const unsigned[]){1, 1, 2},
	           3);
	/* 200 long-lived connections, each counted as it is dialled */
	unsigned hits[3] = {0};
	for (uint64_t seq = 0; seq < 200; seq++) {
		uint32_t b = lb_pick(p.r, seq, NULL, 0);
		hits[b]++;
		lb_conn_acquire(p.k[b]);
	}
	assert_int_equal(hits[0], 50);
	assert_int_equal(hits[1], 50);
	assert_int_equal(hits[2], 100);
	/* backend 0 loses 30: the next 30 go there */
	for (unsigned i = 0; i < 30; i++)
		lb_conn_release(1);
	for (uint64_t seq = 0; seq < 30; seq++) {
		uint32_t b = lb_pick(p.r, seq, NULL, 0);
		assert_int_equal(b, 0);
		lb_conn_acquire(1);
	}
	/* down: never picked even though it has the fewest */
	health_active_set(2, true);
	for (unsigned i = 0; i < 50; i++)
		lb_conn_release(2);
	for (uint64_t seq = 0; seq < 10; seq++)
		assert_int_not_equal(lb_pick(p.r, seq, NULL, 0), 1);
	for (unsigned i = 0; i < 50; i++)
		lb_conn_release(1);
	for (unsigned i = 0; i < 100; i++)
		lb_conn_release(3);
	assert_int_equal(lb_conns_active(1), 0);
	assert_int_equal(lb_conns_active(2), 0);
	assert_int_equal(lb_conns_active(3), 0);
	pool_free(&p);
}

#define KEYS 20000u

static void test_hash_is_sticky_and_spreads_by_weight(void **state)
{
	(void)state;
	struct pool p;
	unsigned hits[4] = {0};
	pool_build(&p, RT_LB_IP_HASH, (const unsigned[]){1, 2, 3}, (const unsigned[]){1, 1, 2}, 3);
	for (uint32_t i = 0; i < KEYS; i++) {
		unsigned k = pick_k(&p, i);
		hits[k]++;
		/* the same key, any counter: the same backend */
		uint64_t key = lb_hash_bytes(&i, sizeof(i));
		assert_int_equal(p.k[lb_pick(p.r, i * 7u + 3u, &key, 0)], k);
	}
	/* 1/4, 1/4, 1/2 within a few percent */
	assert_in_range(hits[1], KEYS / 4 - KEYS / 20, KEYS / 4 + KEYS / 20);
	assert_in_range(hits[2], KEYS / 4 - KEYS / 20, KEYS / 4 + KEYS / 20);
	assert_in_range(hits[3], KEYS / 2 - KEYS / 20, KEYS / 2 + KEYS / 20);
	pool_free(&p);
}

static void test_hash_adding_fourth_backend_moves_about_a_quarter(void **state)
{
	(void)state;
	struct pool a, b;
	static unsigned before[KEYS];
	unsigned moved = 0;
	pool_build(&a, RT_LB_IP_HASH, (const unsigned[]){1, 2, 3}, NULL, 3);
	/* the new backend in the middle of the list: positions do not matter, URLs do */
	pool_build(&b, RT_LB_IP_HASH, (const unsigned[]){1, 4, 2, 3}, NULL, 4);
	for (uint32_t i = 0; i < KEYS; i++)
		before[i] = pick_k(&a, i);
	for (uint32_t i = 0; i < KEYS; i++) {
		unsigned k = pick_k(&b, i);
		if (k != before[i]) {
			/* a key that moves, moves to the new backend only */
			assert_int_equal(k, 4);
			moved++;
		}
	}
	assert_in_range(moved, KEYS / 4 - KEYS / 16, KEYS / 4 + KEYS / 16);
	pool_free(&a);
	pool_free(&b);
}

static void test_hash_removing_a_backend_moves_only_its_keys(void **state)
{
	(void)state;
	struct pool a, b;
	static unsigned before[KEYS];
	unsigned had = 0;
	pool_build(&a, RT_LB_HEADER_HASH, (const unsigned[]){1, 2, 3, 4}, NULL, 4);
	pool_build(&b, RT_LB_HEADER_HASH, (const unsigned[]){1, 2, 4}, NULL, 3);
	for (uint32_t i = 0; i < KEYS; i++) {
		before[i] = pick_k(&a, i);
		had += before[i] == 3;
	}
	assert_in_range(had, KEYS / 4 - KEYS / 16, KEYS / 4 + KEYS / 16);
	for (uint32_t i = 0; i < KEYS; i++) {
		unsigned k = pick_k(&b, i);
		if (before[i] != 3)
			assert_int_equal(k, before[i]);
		else
			assert_int_not_equal(k, 3);
	}
	pool_free(&a);
	pool_free(&b);
}

static void test_hash_down_backend_keys_go_elsewhere_and_come_back(void **state)
{
	(void)state;
	struct pool p;
	static unsigned before[KEYS];
	pool_build(&p, RT_LB_IP_HASH, (const unsigned[]){1, 2, 3}, NULL, 3);
	for (uint32_t i = 0; i < KEYS; i++)
		before[i] = pick_k(&p, i);
	/* passive: 3 failures within 10 s mark K=2 down for 10 s (from the third) */
	assert_false(health_passive_fail(2, 1000, 3, 10000));
	assert_false(health_passive_fail(2, 2000, 3, 10000));
	assert_true(health_passive_fail(2, 3000, 3, 10000));
	for (uint32_t i = 0; i < KEYS; i++) {
		uint64_t key = lb_hash_bytes(&i, sizeof(i));
		unsigned k = p.k[lb_pick(p.r, 0, &key, 5000)];
		if (before[i] == 2)
			assert_int_not_equal(k, 2);
		else
			assert_int_equal(k, before[i]);
		/* after the window, the keys are back */
		assert_int_equal(p.k[lb_pick(p.r, 0, &key, 13000)], before[i]);
	}
	pool_free(&p);
}

static void test_header_hash_without_key_is_round_robin(void **state)
{
	(void)state;
	struct pool p;
	unsigned hits[3] = {0};
	pool_build(&p, RT_LB_HEADER_HASH, (const unsigned[]){1, 2, 3}, NULL, 3);
	for (uint64_t seq = 0; seq < 300; seq++)
		hits[lb_pick(p.r, seq, NULL, 0)]++;
	assert_int_equal(hits[0], 100);
	assert_int_equal(hits[1], 100);
	assert_int_equal(hits[2], 100);
	pool_free(&p);
}

static void test_default_policy_applies_to_routes_without_lb(void **state)
{
	(void)state;
	struct rt_route_def d[2];
	char err[256];
	memset(d, 0, sizeof(d));
	d[0].path = strdup("/a");
	d[1].path = strdup("/b");
	d[1].has_lb = true;
	d[1].lb = RT_LB_LEAST_CONN;
	for (unsigned i = 0; i < 2; i++) {
		d[i].backends = calloc(1, sizeof(*d[i].backends));
		d[i].n_backends = 1;
		assert_int_equal(rt_backend_def_parse("ws://b:1", d[i].backends, err, sizeof(err)),
		                 0);
	}
	const struct rt_lb_default dflt = {RT_LB_HEADER_HASH, "x-user"};
	struct rt_table *t = rt_table_new_lb(d, 2, &dflt, err, sizeof(err));
	assert_non_null(t);
	assert_int_equal(rt_table_route(t, 0)->lb, RT_LB_HEADER_HASH);
	assert_string_equal(rt_table_route(t, 0)->lb_header, "x-user");
	assert_int_equal(rt_table_route(t, 1)->lb, RT_LB_LEAST_CONN);
	rt_table_free(t);
	/* weights over 100 are refused */
	d[0].backends[0].weight = 101;
	assert_null(rt_table_new_lb(d, 2, &dflt, err, sizeof(err)));
	assert_non_null(strstr(err, "weight"));
	for (unsigned i = 0; i < 2; i++)
		rt_route_def_fini(&d[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_round_robin_unweighted_is_exactly_even, reset),
	    cmocka_unit_test_setup(test_round_robin_weights_are_exact_and_smooth, reset),
	    cmocka_unit_test_setup(test_round_robin_passes_over_down_backends, reset),
	    cmocka_unit_test_setup(test_least_conn_takes_fewest_and_rotates_ties, reset),
	    cmocka_unit_test_setup(test_least_conn_weighted_converges_to_weights, reset),
	    cmocka_unit_test_setup(test_hash_is_sticky_and_spreads_by_weight, reset),
	    cmocka_unit_test_setup(test_hash_adding_fourth_backend_moves_about_a_quarter, reset),
	    cmocka_unit_test_setup(test_hash_removing_a_backend_moves_only_its_keys, reset),
	    cmocka_unit_test_setup(test_hash_down_backend_keys_go_elsewhere_and_come_back, reset),
	    cmocka_unit_test_setup(test_header_hash_without_key_is_round_robin, reset),
	    cmocka_unit_test_setup(test_default_policy_applies_to_routes_without_lb, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
