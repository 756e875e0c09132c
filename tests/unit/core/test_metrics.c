/* Unit tests for core/metrics.c: per-worker blocks written on their own threads sum exactly
 * (and a reader summing meanwhile sees monotonic counters), every close code maps to its
 * label, the slot registry keeps a path's slot across reloads of real route tables, and a
 * full registry answers with the overflow slot. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/loopstat.h"
#include "core/metrics.h"
#include "proto/ws.h"
#include "router/rt.h"

#define N_THREADS 4
#define N_ROUNDS  100000u

struct writer {
	struct metrics_worker *m;
	unsigned id;
};

static _Atomic bool writers_done;

/* Each writer does the same per-round work on its own block, offset by its id, so the sum is
 * known exactly. */
static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	struct metrics_worker *m = wr->m;
	for (unsigned i = 0; i < N_ROUNDS; i++) {
		metrics_worker_conn_open(m);
		metrics_worker_message(m, 1 + wr->id, METRICS_UP);
		metrics_worker_payload(m, 1 + wr->id, METRICS_UP, 10);
		metrics_worker_message(m, 1, METRICS_DOWN);
		metrics_worker_payload(m, 1, METRICS_DOWN, 3);
		metrics_worker_backend_attempt(m, 2);
		metrics_worker_backend_open(m, 2);
		if (i % 2 == 0) {
			metrics_worker_backend_close(m, 2);
			metrics_worker_conn_close(m);
		}
		if (i % 10 == 0) {
			metrics_worker_reject(m, HTTP_REJ_NO_ROUTE);
			metrics_worker_close(m, 1001, METRICS_SIDE_GATEWAY);
			metrics_worker_backend_failure(m, 2);
		}
	}
	metrics_worker_tunnel_open(m);
	metrics_worker_slab_exhausted(m, METRICS_SLAB_TUNNEL);
	metrics_worker_close(m, 4321, METRICS_SIDE_CLIENT);
	metrics_worker_close(m, 0, METRICS_SIDE_BACKEND);
	return NULL;
}

struct reader {
	const struct metrics_worker *const *w;
	unsigned sums;
	bool monotonic;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct metrics_totals *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	if (a == NULL || b == NULL)
		abort(); /* no cmocka asserts off the test's thread */
	metrics_sum(rd->w, N_THREADS, NULL, a);
	rd->monotonic = true;
	while (!atomic_load(&writers_done)) {
		metrics_sum(rd->w, N_THREADS, NULL, b);
		rd->sums++;
		if (b->connections_total < a->connections_total ||
		    b->messages[METRICS_UP] < a->messages[METRICS_UP] ||
		    b->routes[1].bytes[METRICS_DOWN] < a->routes[1].bytes[METRICS_DOWN])
			rd->monotonic = false;
		struct metrics_totals *t = a;
		a = b;
		b = t;
	}
	free(a);
	free(b);
	return NULL;
}

static void test_blocks_written_on_their_threads_sum_exactly(void **state)
{
	(void)state;
	struct metrics_worker *blocks[N_THREADS];
	struct writer wr[N_THREADS];
	pthread_t th[N_THREADS], rth;
	struct reader rd = {(const struct metrics_worker *const *)blocks, 0, false};

	for (unsigned i = 0; i < N_THREADS; i++) {
		blocks[i] = metrics_worker_new();
		assert_non_null(blocks[i]);
		assert_int_equal((uintptr_t)blocks[i] % 64, 0);
		wr[i] = (struct writer){blocks[i], i};
	}
	atomic_store(&writers_done, false);
	assert_int_equal(pthread_create(&rth, NULL, reader_main, &rd), 0);
	for (unsigned i = 0; i < N_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer_main, &wr[i]), 0);
	for (unsigned i = 0; i < N_THREADS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&writers_done, true);
	pthread_join(rth, NULL);
	assert_true(rd.monotonic);

	struct metrics_totals *t = malloc(sizeof(*t));
	assert_non_null(t);
	memset(t, 0xff, sizeof(*t));
	metrics_sum((const struct metrics_worker *const *)blocks, N_THREADS, NULL, t);
	uint64_t n = N_THREADS * (uint64_t)N_ROUNDS;
	assert_int_equal(t->connections_total, n);
	assert_int_equal(t->connections_active, n / 2);
	assert_int_equal(t->tunnels_opened, N_THREADS);
	assert_int_equal(t->messages[METRICS_UP], n);
	assert_int_equal(t->messages[METRICS_DOWN], n);
	assert_int_equal(t->bytes[METRICS_UP], 10 * n);
	assert_int_equal(t->bytes[METRICS_DOWN], 3 * n);
	for (unsigned i = 0; i < N_THREADS; i++) {
		assert_int_equal(t->routes[1 + i].messages[METRICS_UP], N_ROUNDS);
		assert_int_equal(t->routes[1 + i].bytes[METRICS_UP], 10u * N_ROUNDS);
	}
	assert_int_equal(t->routes[1].messages[METRICS_DOWN], n);
	assert_int_equal(t->routes[1].bytes[METRICS_DOWN], 3 * n);
	assert_int_equal(t->routes[0].messages[METRICS_UP], 0);
	assert_int_equal(t->backends[2].attempts, n);
	assert_int_equal(t->backends[2].active, n / 2);
	assert_int_equal(t->backends[2].failures, n / 10);
	assert_int_equal(t->handshake_rejections[HTTP_REJ_NO_ROUTE], n / 10);
	assert_int_equal(t->handshake_rejections[HTTP_REJ_METHOD], 0);
	assert_int_equal(t->closes[metrics_close_code_index(1001)][METRICS_SIDE_GATEWAY], n / 10);
	assert_int_equal(t->closes[METRICS_CLOSE_OTHER][METRICS_SIDE_CLIENT], N_THREADS);
	assert_int_equal(t->closes[METRICS_CLOSE_NONE][METRICS_SIDE_BACKEND], N_THREADS);
	assert_int_equal(t->slab_exhausted[METRICS_SLAB_TUNNEL], N_THREADS);
	assert_int_equal(t->slab_exhausted[METRICS_SLAB_CONN], 0);
	assert_int_equal(t->backends[METRICS_BACKEND_SLOTS - 1].attempts, 0);

	/* A NULL block (a worker that failed to start) is skipped. */
	struct metrics_worker *one[2] = {blocks[0], NULL};
	metrics_sum((const struct metrics_worker *const *)one, 2, NULL, t);
	assert_int_equal(t->connections_total, N_ROUNDS);
	free(t);
	for (unsigned i = 0; i < N_THREADS; i++)
		metrics_worker_free(blocks[i]);
	metrics_worker_free(NULL);
}

static void test_out_of_range_values_count_in_the_overflow_buckets(void **state)
{
	(void)state;
	struct metrics_worker *m = metrics_worker_new();
	struct metrics_totals *t = malloc(sizeof(*t));
	assert_non_null(m);
	assert_non_null(t);

	metrics_worker_message(m, METRICS_ROUTE_SLOTS, METRICS_UP);
	metrics_worker_payload(m, UINT32_MAX, METRICS_DOWN, 7);
	metrics_worker_backend_attempt(m, METRICS_BACKEND_SLOTS);
	metrics_worker_reject(m, HTTP_REJ_COUNT);
	metrics_worker_close(m, 1000, METRICS_SIDE_COUNT);
	const struct metrics_worker *const w[1] = {m};
	metrics_sum(w, 1, NULL, t);
	assert_int_equal(t->routes[METRICS_SLOT_OVERFLOW].messages[METRICS_UP], 1);
	assert_int_equal(t->routes[METRICS_SLOT_OVERFLOW].bytes[METRICS_DOWN], 7);
	assert_int_equal(t->backends[METRICS_SLOT_OVERFLOW].attempts, 1);
	assert_int_equal(t->handshake_rejections[HTTP_REJ_NONE], 1);
	assert_int_equal(t->closes[0][METRICS_SIDE_GATEWAY], 1);
	free(t);
	metrics_worker_free(m);
}

static void test_every_close_code_maps_to_its_label(void **state)
{
	(void)state;
	char want[8];
	unsigned seen[METRICS_CLOSE_CODES] = {0};

	for (uint32_t code = 0; code <= UINT16_MAX; code++) {
		unsigned idx = metrics_close_code_index((uint16_t)code);
		assert_true(idx < METRICS_CLOSE_CODES);
		seen[idx]++;
		const char *label = metrics_close_code_label(idx);
		assert_non_null(label);
		if (!ws_close_code_is_valid((uint16_t)code)) {
			assert_int_equal(idx, METRICS_CLOSE_NONE);
		} else if (code >= 3000) {
			assert_int_equal(idx, METRICS_CLOSE_OTHER);
			assert_string_equal(label, "other");
		} else {
			snprintf(want, sizeof(want), "%u", (unsigned)code);
			assert_string_equal(label, want);
		}
	}
	/* 12 registered codes once each, 2000 private/registered-by-IANA codes, the rest none. */
	for (unsigned i = 0; i < METRICS_CLOSE_OTHER; i++)
		assert_int_equal(seen[i], 1);
	assert_int_equal(seen[METRICS_CLOSE_OTHER], 2000);
	assert_int_equal(seen[METRICS_CLOSE_NONE], 65536 - 12 - 2000);
	assert_string_equal(metrics_close_code_label(metrics_close_code_index(0)), "none");
	assert_string_equal(metrics_close_code_label(metrics_close_code_index(1005)), "none");
	assert_string_equal(metrics_close_code_label(metrics_close_code_index(1006)), "none");
	assert_string_equal(metrics_close_code_label(metrics_close_code_index(1014)), "1014");
	assert_null(metrics_close_code_label(METRICS_CLOSE_CODES));

	assert_string_equal(metrics_dir_label(METRICS_UP), "upstream");
	assert_string_equal(metrics_dir_label(METRICS_DOWN), "downstream");
	assert_null(metrics_dir_label(METRICS_DIR_COUNT));
	assert_string_equal(metrics_side_label(METRICS_SIDE_CLIENT), "client");
	assert_string_equal(metrics_side_label(METRICS_SIDE_BACKEND), "backend");
	assert_string_equal(metrics_side_label(METRICS_SIDE_GATEWAY), "gateway");
	assert_null(metrics_side_label(METRICS_SIDE_COUNT));
	assert_string_equal(metrics_slab_label(METRICS_SLAB_CONN), "conn");
	assert_string_equal(metrics_slab_label(METRICS_SLAB_TUNNEL), "tunnel");
	assert_null(metrics_slab_label(METRICS_SLAB_COUNT));
}

/* Route defs with one backend each: paths[i] -> urls[i]. */
static struct rt_table *table_of(const char *const *paths, const char *const *urls, unsigned n)
{
	struct rt_route_def defs[8];
	struct rt_backend_def bdefs[8];
	char err[128];

	assert_true(n <= 8);
	memset(defs, 0, sizeof(defs));
	memset(bdefs, 0, sizeof(bdefs));
	for (unsigned i = 0; i < n; i++) {
		bdefs[i].url = (char *)urls[i];
		bdefs[i].host = (char *)"127.0.0.1";
		bdefs[i].port = 9000;
		bdefs[i].path = (char *)"";
		defs[i].path = (char *)paths[i];
		defs[i].backends = &bdefs[i];
		defs[i].n_backends = 1;
	}
	struct rt_table *t = rt_table_new(defs, n, err, sizeof(err));
	assert_non_null(t);
	return t;
}

static void test_registry_keeps_slots_across_reloads(void **state)
{
	(void)state;
	struct metrics_reg *r = metrics_reg_new(16, 16);
	assert_non_null(r);
	assert_int_equal(metrics_route_slots_used(r), 1);
	assert_string_equal(metrics_route_name(r, METRICS_SLOT_OVERFLOW), METRICS_OVERFLOW_LABEL);
	assert_null(metrics_route_name(r, 1));

	const char *p1[] = {"/chat", "/feed"};
	const char *u1[] = {"ws://10.0.0.1:9000", "ws://10.0.0.2:9000"};
	struct rt_table *t1 = table_of(p1, u1, 2);
	uint32_t rs1[2], bs1[2];
	metrics_reg_map_table(r, t1, rs1, bs1);
	assert_true(rs1[0] != METRICS_SLOT_OVERFLOW && rs1[1] != METRICS_SLOT_OVERFLOW);
	assert_true(rs1[0] != rs1[1]);
	assert_string_equal(metrics_route_name(r, rs1[0]), "/chat");
	assert_string_equal(metrics_route_name(r, rs1[1]), "/feed");
	assert_string_equal(metrics_backend_name(r, bs1[1]), "ws://10.0.0.2:9000");

	/* The reload reorders, drops /chat, adds /new (and "/feed/" is "/feed" to the table), and
	 * moves a backend URL to another route. */
	const char *p2[] = {"/new", "/feed/"};
	const char *u2[] = {"ws://10.0.0.3:9000", "ws://10.0.0.1:9000"};
	struct rt_table *t2 = table_of(p2, u2, 2);
	uint32_t rs2[2], bs2[2];
	metrics_reg_map_table(r, t2, rs2, bs2);
	assert_int_equal(rs2[1], rs1[1]); /* /feed kept its series */
	assert_true(rs2[0] != rs1[0] && rs2[0] != rs1[1]);
	assert_string_equal(metrics_route_name(r, rs2[0]), "/new");
	assert_int_equal(bs2[1], bs1[0]); /* same URL, same backend series */
	assert_true(bs2[0] != bs1[0] && bs2[0] != bs1[1]);

	/* /chat comes back: its old slot, not a recycled one. */
	assert_int_equal(metrics_route_slot(r, "/chat"), rs1[0]);
	assert_string_equal(metrics_route_name(r, rs1[0]), "/chat");
	assert_int_equal(metrics_route_slots_used(r), 4);
	assert_int_equal(metrics_backend_slots_used(r), 4);
	assert_int_equal(metrics_reg_overflows(r), 0);

	/* A sum bounded by the registry reads only those slots. */
	struct metrics_worker *m = metrics_worker_new();
	struct metrics_totals *t = malloc(sizeof(*t));
	assert_non_null(m);
	assert_non_null(t);
	metrics_worker_message(m, rs2[1], METRICS_UP);
	metrics_worker_message(m, 10, METRICS_UP); /* not handed out: not read */
	const struct metrics_worker *const w[1] = {m};
	metrics_sum(w, 1, r, t);
	assert_int_equal(t->routes[rs1[1]].messages[METRICS_UP], 1);
	assert_int_equal(t->routes[10].messages[METRICS_UP], 0);
	assert_int_equal(t->messages[METRICS_UP], 2);
	free(t);
	metrics_worker_free(m);

	rt_table_free(t1);
	rt_table_free(t2);
	metrics_reg_free(r);
}

static void test_full_registry_answers_overflow_slot(void **state)
{
	(void)state;
	char name[32];
	struct metrics_reg *r = metrics_reg_new(3, 1);
	assert_non_null(r);

	for (unsigned i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "/r%u", i);
		assert_int_equal(metrics_route_slot(r, name), i + 1);
	}
	assert_int_equal(metrics_route_slot(r, "/r3"), METRICS_SLOT_OVERFLOW);
	assert_int_equal(metrics_route_slot(r, "/r4"), METRICS_SLOT_OVERFLOW);
	assert_int_equal(metrics_route_slot(r, "/r1"), 2); /* known names still resolve */
	assert_int_equal(metrics_backend_slot(r, "ws://a"), 1);
	assert_int_equal(metrics_backend_slot(r, "ws://b"), METRICS_SLOT_OVERFLOW);
	assert_int_equal(metrics_reg_overflows(r), 3);
	assert_int_equal(metrics_route_slots_used(r), 4);
	assert_null(metrics_route_name(r, 4));
	metrics_reg_free(r);

	/* The real bound: every named slot once, then overflow. */
	r = metrics_reg_new(METRICS_MAX_ROUTES, METRICS_MAX_BACKENDS);
	assert_non_null(r);
	for (unsigned i = 0; i < METRICS_MAX_BACKENDS; i++) {
		snprintf(name, sizeof(name), "ws://b%u", i);
		assert_int_equal(metrics_backend_slot(r, name), i + 1);
	}
	assert_int_equal(metrics_backend_slot(r, "ws://one-more"), METRICS_SLOT_OVERFLOW);
	assert_int_equal(metrics_backend_slot(r, "ws://b16383"), METRICS_MAX_BACKENDS);
	assert_int_equal(metrics_backend_slots_used(r), METRICS_BACKEND_SLOTS);
	metrics_reg_free(r);

	assert_null(metrics_reg_new(0, 1));
	assert_null(metrics_reg_new(METRICS_MAX_ROUTES + 1, 1));
	assert_null(metrics_reg_new(1, METRICS_MAX_BACKENDS + 1));
	metrics_reg_free(NULL);
}

/* Every value lands in the first bucket whose bound is >= it (Prometheus's le), checked
 * against the exported bounds themselves, at each bound and one past it. */
static void test_size_slot_is_first_bound_at_or_above(void **state)
{
	(void)state;
	const uint64_t probes[] = {0, 1, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025};
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		unsigned want = 0;
		while (want < METRICS_SIZE_BOUNDS &&
		       probes[i] > (uint64_t)metrics_size_bounds[want])
			want++;
		assert_int_equal(metrics_size_slot(probes[i]), want);
	}
	for (unsigned k = 0; k < METRICS_SIZE_BOUNDS; k++) {
		uint64_t bound = (uint64_t)metrics_size_bounds[k];
		assert_int_equal(metrics_size_slot(bound), k);
		assert_int_equal(metrics_size_slot(bound + 1), k + 1);
		if (k > 0)
			assert_int_equal(metrics_size_slot(bound - 1), k);
	}
	assert_int_equal(metrics_size_slot(UINT64_MAX), METRICS_SIZE_BOUNDS);
}

static void test_lat_slot_is_first_bound_at_or_above(void **state)
{
	(void)state;
	assert_int_equal(metrics_lat_slot(0), 0);
	for (unsigned k = 0; k < METRICS_LAT_BOUNDS; k++) {
		uint64_t us = (uint64_t)(metrics_lat_bounds_s[k] * 1e6 + 0.5);
		assert_int_equal(metrics_lat_slot(us), k);
		assert_int_equal(metrics_lat_slot(us + 1), k + 1);
	}
	assert_int_equal(metrics_lat_slot(UINT64_MAX), METRICS_LAT_BOUNDS);
}

static void test_loop_slot_is_first_bound_at_or_above(void **state)
{
	(void)state;
	assert_int_equal(metrics_loop_slot(0), 0);
	for (unsigned k = 0; k < METRICS_LOOP_BOUNDS; k++) {
		uint64_t us = (uint64_t)(metrics_loop_bounds_s[k] * 1e6 + 0.5);
		assert_int_equal(metrics_loop_slot(us), k);
		assert_int_equal(metrics_loop_slot(us + 1), k + 1);
	}
	assert_int_equal(metrics_loop_slot(UINT64_MAX), METRICS_LOOP_BOUNDS);
}

/* A turn is observed from its reap to its submit; a send from the reap of the turn that
 * stamped its bytes; one that waited past the remembered turns counts from the oldest. */
static void test_loopstat_times_turns_and_sends_from_their_turn(void **state)
{
	(void)state;
	struct metrics_worker *m = metrics_worker_new();
	assert_non_null(m);
	static struct loopstat ls;
	memset(&ls, 0, sizeof(ls));
	loopstat_submit(&ls, m, 50); /* the first submit ends no turn */
	loopstat_reaped(&ls, 100);
	uint16_t early = loopstat_stamp(&ls);
	loopstat_send(&ls, early); /* queued and sent in the same turn */
	loopstat_submit(&ls, m, 103);
	loopstat_reaped(&ls, 1000);
	loopstat_send(&ls, early); /* waited one turn for the previous send */
	loopstat_send(&ls, loopstat_stamp(&ls));
	loopstat_submit(&ls, m, 1010);
	for (unsigned t = 0; t < 40; t++) {
		loopstat_reaped(&ls, 2000 + t);
		loopstat_submit(&ls, m, 2000 + t);
	}
	loopstat_send(&ls, early); /* 42 turns: counted from the oldest turn remembered */
	loopstat_submit(&ls, m, 5000);
	const struct metrics_worker *ws[1] = {m};
	static struct metrics_totals t;
	metrics_sum(ws, 1, NULL, &t);
	assert_int_equal(t.loop_turn_hist.sum, 3 + 10 + 0 + 5000 - 2039);
	assert_int_equal(t.loop_turn_hist.slots[metrics_loop_slot(3)], 1);
	assert_int_equal(t.loop_turn_hist.slots[metrics_loop_slot(10)], 1);
	assert_int_equal(t.loop_turn_hist.slots[0], 40);
	uint64_t oldest = 2039 - (LOOPSTAT_TURNS - 1);
	assert_int_equal(t.relay_delay_hist.sum, 3 + (1010 - 100) + 10 + (5000 - oldest));
	assert_int_equal(t.relay_delay_hist.slots[metrics_loop_slot(910)], 1);
	assert_int_equal(t.relay_delay_hist.slots[metrics_loop_slot(5000 - oldest)], 1);
	metrics_worker_free(m);
}

/* Histograms are counters of the block: metrics_sum adds their slots and sums too. */
static void test_histograms_sum_across_blocks(void **state)
{
	(void)state;
	struct metrics_worker *a = metrics_worker_new(), *b = metrics_worker_new();
	assert_non_null(a);
	assert_non_null(b);
	metrics_worker_message_size(a, METRICS_UP, 10);
	metrics_worker_message_size(b, METRICS_UP, 100);
	metrics_worker_message_size(b, METRICS_DOWN, 1u << 30);
	metrics_worker_handshake_done(a, 700);
	metrics_worker_ping_rtt(b, METRICS_LEG_CLIENT, 20);
	metrics_worker_send_queue(a, 0);
	metrics_worker_tls_handshake(b, METRICS_TLS_13, METRICS_TLS_OK);
	const struct metrics_worker *ws[2] = {a, b};
	static struct metrics_totals t;
	metrics_sum(ws, 2, NULL, &t);
	assert_int_equal(t.msg_size_hist[METRICS_UP].slots[0], 1);
	assert_int_equal(t.msg_size_hist[METRICS_UP].slots[1], 1);
	assert_int_equal(t.msg_size_hist[METRICS_UP].sum, 110);
	assert_int_equal(t.msg_size_hist[METRICS_DOWN].slots[METRICS_SIZE_BOUNDS], 1);
	assert_int_equal(t.handshake_hist.slots[1], 1);
	assert_int_equal(t.handshake_hist.sum, 700);
	assert_int_equal(t.ping_hist[METRICS_LEG_CLIENT].slots[0], 1);
	assert_int_equal(t.send_queue_hist.slots[0], 1);
	assert_int_equal(t.tls_handshakes[METRICS_TLS_13][METRICS_TLS_OK], 1);
	metrics_worker_free(a);
	metrics_worker_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_blocks_written_on_their_threads_sum_exactly),
	    cmocka_unit_test(test_out_of_range_values_count_in_the_overflow_buckets),
	    cmocka_unit_test(test_every_close_code_maps_to_its_label),
	    cmocka_unit_test(test_registry_keeps_slots_across_reloads),
	    cmocka_unit_test(test_full_registry_answers_overflow_slot),
	    cmocka_unit_test(test_size_slot_is_first_bound_at_or_above),
	    cmocka_unit_test(test_lat_slot_is_first_bound_at_or_above),
	    cmocka_unit_test(test_loop_slot_is_first_bound_at_or_above),
	    cmocka_unit_test(test_loopstat_times_turns_and_sends_from_their_turn),
	    cmocka_unit_test(test_histograms_sum_across_blocks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
