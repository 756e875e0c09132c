/* tests/unit/core/test_conn.c: the transport's byte-transform seam (struct conn_xform), proven
 * with a trivial stateful transform (XOR with a running key stream) over a real socketpair and
 * the worker's real ring: received ciphertext reaches on_data as plaintext at every split
 * point, queued plaintext reaches the socket transformed, the watermark counts both sides of
 * the transform, and a held tail is neither transformed nor sent until released. This is the
 * seam TLS will sit behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fake_worker.h"

/* --- the transform: XOR with key[(offset) % 7], one offset per direction --------------- */

struct xor_state {
	struct conn_xf xf; /* first: what the transport sees */
	size_t in_off, out_off;
};

static const uint8_t xor_key[7] = {0x5a, 0x13, 0xc7, 0x01, 0xfe, 0x88, 0x3d};

static void xor_apply(uint8_t *p, size_t n, size_t *off)
{
	for (size_t i = 0; i < n; i++)
		p[i] ^= xor_key[(*off + i) % sizeof(xor_key)];
	*off += n;
}

static int xor_input(struct worker *w, struct conn *c, const uint8_t *p, size_t n,
                     void (*deliver)(struct worker *w, struct conn *c, uint8_t *pt, size_t len))
{
	struct xor_state *st = (struct xor_state *)c->xf;
	uint8_t buf[WORKER_BUF_SIZE];
	memcpy(buf, p, n);
	xor_apply(buf, n, &st->in_off);
	deliver(w, c, buf, n);
	return 0;
}

static int xor_output(struct worker *w, struct conn *c, const uint8_t *p, size_t n, size_t *taken)
{
	*taken = n;
	struct xor_state *st = (struct xor_state *)c->xf;
	uint8_t buf[4096];
	while (n > 0) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);
		memcpy(buf, p, k);
		xor_apply(buf, k, &st->out_off);
		if (conn_queue_raw(w, c, buf, k) != 0)
			return -1;
		p += k;
		n -= k;
	}
	return 0;
}

static const struct conn_xform xor_xf = {.input = xor_input, .output = xor_output};

/* --- the layer above: records what it is handed ----------------------------------------- */

static uint8_t got[1 << 18];
static size_t got_len;

static void rec_on_data(struct worker *w, struct conn *c, uint8_t *p, size_t n)
{
	(void)w;
	(void)c;
	assert_true(got_len + n <= sizeof(got));
	memcpy(got + got_len, p, n);
	got_len += n;
}

static const struct conn_ops rec_ops = {.on_data = rec_on_data};

/* Submits what is prepared, waits for one CQE and hands every CQE for c to the transport. */
static void run_ring(struct conn *c)
{
	struct io_uring_cqe *cqe;
	assert_true(io_uring_submit_and_wait(&fk.w.ring, 1) >= 0);
	unsigned head, seen = 0;
	io_uring_for_each_cqe(&fk.w.ring, head, cqe)
	{
		seen++;
		uint64_t ud = cqe->user_data;
		if (ud == 0 || ud_slot(ud) != c->slot || ud_gen(ud) != c->gen)
			continue;
		conn_on_cqe(&fk.w, c, ud_op(ud), cqe);
	}
	io_uring_cq_advance(&fk.w.ring, seen);
	if (fk.w.br_pending) {
		io_uring_buf_ring_advance(fk.w.br, (int)fk.w.br_pending);
		fk.w.br_pending = 0;
	}
	conn_flush_all(&fk.w);
}

static void test_received_ciphertext_reaches_on_data_as_plaintext_at_every_split(void **state)
{
	(void)state;
	uint8_t plain[600], wire[600];
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i * 31 + 7);
	for (size_t cut = 0; cut <= sizeof(plain); cut += 7) {
		int peer = -1;
		struct conn *c = fake_conn_socket(&fk, CONN_CLIENT, &rec_ops, &peer);
		assert_non_null(c);
		struct xor_state st = {.xf = {.ops = &xor_xf}};
		c->xf = &st.xf;
		memcpy(wire, plain, sizeof(wire));
		size_t off = 0;
		xor_apply(wire, sizeof(wire), &off);
		got_len = 0;
		conn_arm_recv(&fk.w, c);
		if (cut > 0) {
			assert_int_equal(write(peer, wire, cut), (ssize_t)cut);
			run_ring(c);
		}
		if (cut < sizeof(wire)) {
			assert_int_equal(write(peer, wire + cut, sizeof(wire) - cut),
			                 (ssize_t)(sizeof(wire) - cut));
			while (got_len < sizeof(plain))
				run_ring(c);
		}
		assert_int_equal(got_len, sizeof(plain));
		assert_memory_equal(got, plain, sizeof(plain));
		fake_free_conns(&fk);
		close(peer);
		fk.n_peer--;
	}
}

static void test_queued_plaintext_leaves_transformed_and_counts_both_sides(void **state)
{
	(void)state;
	int peer = -1;
	struct conn *c = fake_conn_socket(&fk, CONN_CLIENT, &rec_ops, &peer);
	assert_non_null(c);
	struct xor_state st = {.xf = {.ops = &xor_xf}};
	c->xf = &st.xf;
	static uint8_t plain[100000];
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i % 251);
	assert_int_equal(conn_queue(&fk.w, c, plain, sizeof(plain)), 0);
	/* Before the transform ran, the plaintext side counts. */
	assert_int_equal(conn_out_len(c), sizeof(plain));
	assert_true(conn_out_len(c) > CONN_OUT_HIGH);
	/* A held tail stays plaintext and unsent until released. */
	conn_out_hold(c);
	assert_int_equal(conn_queue(&fk.w, c, "held", 4), 0);
	assert_int_equal(conn_out_len(c), sizeof(plain));
	conn_flush_all(&fk.w); /* runs the transform, starts the send */
	assert_int_equal(rbuf_len(&c->xf->pt), 4);
	static uint8_t wire[sizeof(plain) + 16];
	size_t n = 0;
	for (int tries = 0; tries < 1000 && n < sizeof(plain); tries++) {
		ssize_t k = read(peer, wire + n, sizeof(wire) - n);
		if (k > 0)
			n += (size_t)k;
		if (c->flags & CF_SEND_BUSY)
			run_ring(c);
		else
			conn_flush_all(&fk.w);
	}
	assert_int_equal(n, sizeof(plain));
	size_t off = 0;
	xor_apply(wire, n, &off);
	assert_memory_equal(wire, plain, sizeof(plain));
	assert_true(read(peer, wire, 16) < 0); /* nothing of the held tail went out */
	conn_out_release(&fk.w, c);
	conn_flush_all(&fk.w);
	run_ring(c);
	assert_int_equal(read(peer, wire, 16), 4);
	off = sizeof(plain);
	xor_apply(wire, 4, &off);
	assert_memory_equal(wire, "held", 4);
	fake_free_conns(&fk);
	close(peer);
	fk.n_peer--;
	assert_int_equal(rbuf_pool_blocks_in_use(fk.w.pool), 0);
}

static void test_rollback_drops_only_the_held_tail(void **state)
{
	(void)state;
	struct conn *c = fake_conn(&fk, CONN_CLIENT, &rec_ops);
	assert_int_equal(conn_queue(&fk.w, c, "keep", 4), 0);
	conn_out_hold(c);
	assert_int_equal(conn_queue(&fk.w, c, "drop-me", 7), 0);
	assert_true(conn_out_is_held(c));
	assert_int_equal(conn_out_len(c), 4);
	conn_out_rollback(&fk.w, c);
	assert_false(conn_out_is_held(c));
	uint8_t out[16];
	assert_int_equal(rbuf_peek(&c->out, out, sizeof(out)), 4);
	assert_memory_equal(out, "keep", 4);
	fake_free_conns(&fk);
}

static void test_flags_decode_for_logs(void **state)
{
	(void)state;
	char buf[160];
	assert_string_equal(conn_flags_str(CF_RECV_ARMED | CF_EOF | CF_HOLD, buf, sizeof(buf)),
	                    "recv_armed|eof|hold");
	assert_string_equal(conn_flags_str(0, buf, sizeof(buf)), "");
	assert_string_equal(conn_ws_flags_str(WSF_CLOSE_SENT | WSF_CLOSE_OWED, buf, sizeof(buf)),
	                    "close_sent|close_owed");
	char small[8];
	assert_string_equal(conn_flags_str(CF_RECV_ARMED | CF_SEND_BUSY, small, sizeof(small)),
	                    ""); /* does not fit: nothing rather than a cut name */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_received_ciphertext_reaches_on_data_as_plaintext_at_every_split),
	    cmocka_unit_test(test_queued_plaintext_leaves_transformed_and_counts_both_sides),
	    cmocka_unit_test(test_rollback_drops_only_the_held_tail),
	    cmocka_unit_test(test_flags_decode_for_logs),
	};
	return cmocka_run_group_tests(tests, fake_setup, fake_teardown);
}
