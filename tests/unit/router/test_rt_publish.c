/* Unit tests for router/rt_publish.c: a retired table lives until every worker has passed a
 * quiescent point and its last holder has released it, offline workers never hold
 * reclamation up, and readers on two threads (holding tables across turns like tunnels)
 * racing ~1000 publications see only live tables (run under ASan/TSan: no use after free, no
 * leak). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "router/rt.h"

/* A one-route table whose backend port carries `tag`, so readers can check what they see. */
static struct rt_table *mk_table(unsigned tag)
{
	char url[64], err[256];
	struct rt_route_def d;
	struct rt_table *t;

	memset(&d, 0, sizeof(d));
	d.path = strdup("/chat");
	d.backends = calloc(1, sizeof(*d.backends));
	d.n_backends = 1;
	snprintf(url, sizeof(url), "ws://127.0.0.1:%u/t", 1 + tag % 65535);
	assert_int_equal(rt_backend_def_parse(url, &d.backends[0], err, sizeof(err)), 0);
	t = rt_table_new(&d, 1, err, sizeof(err));
	assert_non_null(t);
	rt_route_def_fini(&d);
	return t;
}

static void test_retired_table_waits_for_every_worker(void **state)
{
	(void)state;
	assert_int_equal(rt_workers_init(2), 0);
	rt_publish(mk_table(1));
	rt_quiescent(0);
	rt_quiescent(1);
	const struct rt_table *held = rt_acquire(); /* worker 1 keeps using this one */
	assert_non_null(held);

	rt_publish(mk_table(2));
	rt_reclaim();
	assert_int_equal(rt_retired_count(), 1);

	rt_quiescent(0);
	rt_reclaim();
	assert_int_equal(rt_retired_count(), 1);
	/* still valid: under ASan this would fault if it had been freed */
	assert_non_null(rt_lookup(held, "/chat/x", 7, NULL, 0));
	assert_int_equal(rt_table_route(held, 0)->backends[0].port, 2);

	rt_quiescent(1);
	held = NULL;
	rt_reclaim();
	assert_int_equal(rt_retired_count(), 0);
	assert_int_equal(rt_table_route(rt_acquire(), 0)->backends[0].port, 3);
	rt_shutdown();
}

static int objects_freed;

static void count_free(void *obj)
{
	(void)obj;
	objects_freed++;
}

static void test_retired_object_waits_for_every_worker(void **state)
{
	(void)state;
	static int snapshot;
	assert_int_equal(rt_workers_init(2), 0);
	rt_quiescent(0);
	rt_quiescent(1);
	objects_freed = 0;
	assert_int_equal(rt_retire_object(&snapshot, count_free), 0);
	rt_reclaim();
	assert_int_equal(objects_freed, 0); /* neither worker passed a quiescent point since */
	rt_quiescent(0);
	rt_reclaim();
	assert_int_equal(objects_freed, 0);
	rt_quiescent(1);
	rt_reclaim();
	assert_int_equal(objects_freed, 1);
	assert_int_equal(rt_retired_count(), 0);
	rt_shutdown();
}

static void test_held_table_outlives_its_grace_period_until_released(void **state)
{
	(void)state;
	assert_int_equal(rt_workers_init(1), 0);
	rt_publish(mk_table(1));
	rt_quiescent(0);
	const struct rt_table *t = rt_acquire();
	rt_table_hold(t); /* two tunnels on this table */
	rt_table_hold(t);
	assert_true(rt_table_is_held(t));

	rt_publish(mk_table(2));
	rt_quiescent(0);
	rt_reclaim();
	assert_int_equal(rt_retired_count(), 1); /* grace period over, still held */
	assert_non_null(rt_lookup(t, "/chat", 5, NULL, 0));

	rt_table_release(t);
	rt_reclaim();
	assert_int_equal(rt_retired_count(), 1);
	rt_table_release(t);
	assert_false(rt_table_is_held(t));
	t = NULL;
	rt_reclaim();
	assert_int_equal(rt_retired_count(), 0);

	/* a held current table is simply kept; hold/release of NULL are no-ops */
	rt_table_hold(NULL);
	rt_table_release(NULL);
	assert_false(rt_table_is_held(NULL));
	rt_shutdown();
}

static void test_slots_block_until_first_quiescent(void **state)
{
	(void)state;
	assert_int_equal(rt_workers_init(1), 0);
	rt_publish(mk_table(1));
	rt_publish(mk_table(2));
	rt_publish(mk_table(3));
	rt_reclaim();
	assert_int_equal(rt_retired_count(), 2);
	rt_quiescent(0);
	rt_reclaim();
	assert_int_equal(rt_retired_count(), 0);
	rt_shutdown();
}

static void test_offline_worker_does_not_stall_reclaim(void **state)
{
	(void)state;
	assert_int_equal(rt_workers_init(2), 0);
	rt_quiescent(0);
	rt_worker_offline(1);
	rt_publish(mk_table(1));
	rt_publish(mk_table(2));
	rt_quiescent(0);
	rt_reclaim();
	assert_int_equal(rt_retired_count(), 0);

	/* back online: blocks again from its first quiescent on */
	rt_quiescent(1);
	(void)rt_acquire();
	rt_publish(mk_table(3));
	rt_quiescent(0);
	rt_reclaim();
	assert_int_equal(rt_retired_count(), 1);
	rt_quiescent(1);
	rt_reclaim();
	assert_int_equal(rt_retired_count(), 0);
	rt_shutdown();
}

static void test_idle_quiescent_calls_keep_reclaim_going(void **state)
{
	(void)state;
	assert_int_equal(rt_workers_init(1), 0);
	/* a worker with nothing to do still calls rt_quiescent on each (timed-out) wait */
	for (unsigned i = 0; i < 50; i++) {
		rt_publish(mk_table(i));
		rt_quiescent(0);
		rt_reclaim();
		assert_int_equal(rt_retired_count(), 0);
	}
	rt_shutdown();
}

static void test_publish_null_and_shutdown_free_everything(void **state)
{
	(void)state;
	assert_int_equal(rt_workers_init(1), 0);
	rt_publish(mk_table(1));
	rt_publish(NULL);
	assert_null(rt_acquire());
	rt_publish(mk_table(2));
	assert_int_equal(rt_retired_count(), 1);
	rt_shutdown(); /* frees the current and the retired table (ASan checks the leak) */
	assert_int_equal(rt_retired_count(), 0);
	assert_null(rt_acquire());
}

#define N_READERS   2
#define N_TABLES    1000
#define MAX_READ_IT 20000000u

struct reader {
	pthread_t th;
	unsigned worker;
	uint64_t lookups;
	unsigned bad;
};

static atomic_bool publishing_done;

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	unsigned last = 0;
	const struct rt_table *held = NULL; /* like a tunnel: kept across loop turns */

	for (unsigned it = 0; it < MAX_READ_IT; it++) {
		rt_quiescent(rd->worker);
		const struct rt_table *t = rt_acquire();
		if (t != NULL) {
			const struct rt_route *r = rt_lookup(t, "/chat/room", 10, NULL, 0);
			char out[64];
			if (r == NULL || r->n_backends != 1 ||
			    rt_backend_path(r, &r->backends[0], "/chat/room", 10, out,
			                    sizeof(out)) != 12 ||
			    strcmp(out, "/t/chat/room") != 0) {
				rd->bad++;
			} else {
				/* tables are published in order: a reader never goes back */
				unsigned port = r->backends[0].port;
				if (port < last)
					rd->bad++;
				last = port;
				rd->lookups++;
			}
			if (it % 64 == 0) {
				rt_table_hold(t);
				rt_table_release(held);
				held = t;
			}
		}
		if (held != NULL && rt_table_route(held, 0)->backends[0].port == 0)
			rd->bad++; /* touches the held table: ASan faults if it was freed */
		if (atomic_load(&publishing_done) && t != NULL && last == N_TABLES)
			break;
	}
	rt_table_release(held);
	rt_worker_offline(rd->worker);
	return NULL;
}

static void test_readers_race_publications_without_use_after_free(void **state)
{
	(void)state;
	struct reader rd[N_READERS];

	atomic_store(&publishing_done, false);
	assert_int_equal(rt_workers_init(N_READERS), 0);
	for (unsigned i = 0; i < N_READERS; i++) {
		rd[i] = (struct reader){.worker = i};
		assert_int_equal(pthread_create(&rd[i].th, NULL, reader_main, &rd[i]), 0);
	}
	for (unsigned i = 1; i <= N_TABLES; i++) {
		rt_publish(mk_table(i - 1));
		rt_reclaim();
	}
	atomic_store(&publishing_done, true);
	for (unsigned i = 0; i < N_READERS; i++) {
		assert_int_equal(pthread_join(rd[i].th, NULL), 0);
		assert_int_equal(rd[i].bad, 0);
		assert_true(rd[i].lookups > 0);
	}
	rt_reclaim(); /* both readers are offline now */
	assert_int_equal(rt_retired_count(), 0);
	rt_shutdown();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_retired_table_waits_for_every_worker),
	    cmocka_unit_test(test_retired_object_waits_for_every_worker),
	    cmocka_unit_test(test_held_table_outlives_its_grace_period_until_released),
	    cmocka_unit_test(test_slots_block_until_first_quiescent),
	    cmocka_unit_test(test_offline_worker_does_not_stall_reclaim),
	    cmocka_unit_test(test_idle_quiescent_calls_keep_reclaim_going),
	    cmocka_unit_test(test_publish_null_and_shutdown_free_everything),
	    cmocka_unit_test(test_readers_race_publications_without_use_after_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
