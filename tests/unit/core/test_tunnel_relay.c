/* tests/unit/core/test_tunnel_relay.c: the relay in memory, driven through the tunnel's
 * conn_ops at every split point of its input, with no socket I/O and no ring submission.
 *
 * What must hold whatever the split: the backend's queue is byte for byte what the client
 * sent (data frames are forwarded verbatim, masks included); a violation after valid frames
 * leaves exactly those frames and then a masked close 1011 in the backend's queue; the client
 * gets its 1007/1002 only once the backend answered the close; a text frame failing after
 * part of it was received is never partly forwarded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"
#include "core/tunnel_int.h"
#include "fake_worker.h"
#include "router/rt.h"

static struct rt_backend test_backend = {.url = "ws://127.0.0.1:1", .path = ""};
static struct rt_route test_route = {
    .path = "/", .path_len = 1, .backends = &test_backend, .n_backends = 1};

struct pair {
	struct tunnel *t;
};

static void pair_open(struct pair *p)
{
	struct worker *w = &fk.w;
	struct tunnel *t = slab_alloc(&w->owners);
	assert_non_null(t);
	memset(t, 0, sizeof(*t));
	t->route = &test_route;
	t->client = fake_conn(&fk, CONN_CLIENT, &tunnel__ops);
	t->backend = fake_conn(&fk, CONN_BACKEND, &tunnel__ops);
	assert_non_null(t->client);
	assert_non_null(t->backend);
	t->client->owner = t;
	t->backend->owner = t;
	t->flags = TF_OPEN;
	tunnel__relay_init(w, t);
	p->t = t;
}

static void pair_close(struct pair *p)
{
	(void)p;
	fake_free_conns(&fk);
	assert_int_equal(slab_in_use(&fk.w.owners), 0);
	assert_int_equal(rbuf_pool_blocks_in_use(fk.w.pool), 0);
}

/* A masked client frame. */
static size_t frame(uint8_t *out, enum ws_op op, bool fin, const void *payload, size_t n,
                    uint32_t seed)
{
	uint8_t mask[4] = {(uint8_t)(0x11 + seed), (uint8_t)(0x22 + seed), 0x33, 0x44};
	size_t h = ws_encode_header(out, op, fin, n, mask);
	memcpy(out + h, payload, n);
	ws_mask(out + h, n, mask, 0);
	return h + n;
}

/* Feeds in at cut, as two receives (the relay gets copies, as it would get ring buffers). */
static void feed_split(struct conn *src, const uint8_t *in, size_t len, size_t cut)
{
	static uint8_t a[1 << 17], b[1 << 17];
	memcpy(a, in, cut);
	memcpy(b, in + cut, len - cut);
	if (cut > 0)
		tunnel__ops.on_data(&fk.w, src, a, cut);
	if (len - cut > 0 && src->state == CONN_OPEN)
		tunnel__ops.on_data(&fk.w, src, b, len - cut);
}

static uint64_t msgs_counted;

static void test_data_frames_forwarded_verbatim_at_every_split(void **state)
{
	(void)state;
	static uint8_t in[1 << 16];
	size_t n = 0;
	uint8_t big[20000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)('a' + i % 26);
	n += frame(in + n, WS_OP_TEXT, true, "hello", 5, 1);
	n += frame(in + n, WS_OP_BINARY, true, "\x00\x01\x02\xff", 4, 2);
	n += frame(in + n, WS_OP_TEXT, false, "frag-\xc3", 6, 3); /* code point split */
	n += frame(in + n, WS_OP_CONT, true, "\xa9nd", 3, 4);
	n += frame(in + n, WS_OP_BINARY, true, "", 0, 5);
	n += frame(in + n, WS_OP_TEXT, true, big, sizeof(big), 6); /* held, then released */
	n += frame(in + n, WS_OP_BINARY, true, big, 300, 7);
	for (size_t cut = 0; cut <= n; cut++) {
		struct pair p;
		pair_open(&p);
		feed_split(p.t->client, in, n, cut);
		static uint8_t out[1 << 16];
		size_t got = fake_out(p.t->backend, out, sizeof(out));
		if (got != n || memcmp(out, in, n) != 0)
			fail_msg("cut %zu: backend queue %zu bytes, want %zu, first difference",
			         cut, got, n);
		assert_false(conn_out_is_held(p.t->backend));
		assert_int_equal(p.t->msgs_up, 6);
		/* The worker's counters moved while the tunnel is still open (live, not at its
		 * end). */
		uint64_t before = msgs_counted;
		msgs_counted = atomic_load(&fk.w.m->messages[METRICS_UP]);
		assert_int_equal(msgs_counted - before, 6);
		pair_close(&p);
	}
}

/* Parses the close frame at out[at..] (masked or not); returns its code. */
static uint16_t close_code_at(const uint8_t *out, size_t len, size_t at)
{
	struct ws_parser wp;
	struct wsg_limits lim = {.message_max = 1 << 20};
	struct ws_frame f;
	size_t used, pused;
	ws_parser_init(&wp, (out[at + 1] & 0x80) ? WS_ROLE_SERVER : WS_ROLE_CLIENT, 0, &lim);
	assert_int_equal(ws_parse_frame_header(&wp, out + at, len - at, &f, &used), WS_RC_OK);
	assert_int_equal(f.opcode, WS_OP_CLOSE);
	uint8_t payload[WS_CONTROL_MAX];
	memcpy(payload, out + at + used, (size_t)f.payload_len);
	assert_int_equal(ws_parse_payload(&wp, payload, (size_t)f.payload_len, 0, &pused),
	                 WS_RC_OK);
	assert_int_equal(at + used + f.payload_len, len);
	return (uint16_t)(payload[0] << 8 | payload[1]);
}

static void test_violation_after_valid_frames_keeps_them_then_1011(void **state)
{
	(void)state;
	static uint8_t in[1 << 16];
	size_t valid = 0;
	valid += frame(in + valid, WS_OP_TEXT, true, "one", 3, 1);
	valid += frame(in + valid, WS_OP_BINARY, true, "two", 3, 2);
	/* Invalid UTF-8 near the end of a text frame that arrives over two receives (but is no
	 * longer than TUNNEL_HOLD_MAX, so it is held until validated whole). */
	uint8_t bad[TUNNEL_HOLD_MAX - 100];
	memset(bad, 'x', sizeof(bad));
	bad[sizeof(bad) - 50] = 0xff;
	size_t n = valid + frame(in + valid, WS_OP_TEXT, true, bad, sizeof(bad), 3);
	for (size_t cut = 0; cut <= n; cut += (cut < valid + 20 ? 1 : 97)) {
		struct pair p;
		pair_open(&p);
		feed_split(p.t->client, in, n, cut);
		static uint8_t out[1 << 16];
		size_t got = fake_out(p.t->backend, out, sizeof(out));
		if (got <= valid || out[valid] != 0x88)
			fail_msg(
			    "cut %zu: after the valid frames the backend queue has %#x (%zu bytes)",
			    cut, got > valid ? out[valid] : 0, got);
		if (memcmp(out, in, valid) != 0)
			fail_msg("cut %zu: the valid frames did not reach the backend intact", cut);
		assert_int_equal(close_code_at(out, got, valid), 1011);
		/* The offender's close waits for the backend's answer. */
		struct conn *c = p.t->client;
		assert_true(c->ws_flags & WSF_CLOSE_OWED);
		assert_int_equal(rbuf_len(&c->out), 0);
		/* The backend answers our close: now the client gets 1007. */
		uint8_t reply[8];
		size_t rn = ws_encode_close(reply, sizeof(reply), 1011, NULL, 0, NULL);
		tunnel__ops.on_data(&fk.w, p.t->backend, reply, rn);
		got = fake_out(c, out, sizeof(out));
		assert_int_equal(close_code_at(out, got, 0), 1007);
		pair_close(&p);
	}
}

static void test_backend_messages_before_its_close_reach_the_offender_first(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p);
	uint8_t in[64];
	size_t n = frame(in, WS_OP_TEXT, true, "x", 1, 1);
	in[1] &= 0x7f; /* unmasked: 1002 */
	tunnel__ops.on_data(&fk.w, p.t->client, in, n - 4);
	/* The backend still sends an echo, then answers the 1011. */
	uint8_t b[64];
	size_t bn = ws_encode_header(b, WS_OP_TEXT, true, 4, NULL);
	memcpy(b + bn, "echo", 4);
	bn += 4;
	bn += ws_encode_close(b + bn, sizeof(b) - bn, 1011, NULL, 0, NULL);
	tunnel__ops.on_data(&fk.w, p.t->backend, b, bn);
	uint8_t out[256];
	size_t got = fake_out(p.t->client, out, sizeof(out));
	assert_true(got >= 6);
	assert_memory_equal(out,
	                    "\x81\x04"
	                    "echo",
	                    6);
	assert_int_equal(close_code_at(out, got, 6), 1002);
	pair_close(&p);
}

static void test_backend_frames_split_at_every_point(void **state)
{
	(void)state;
	uint8_t in[40000];
	size_t n = 0;
	n += ws_encode_header(in, WS_OP_TEXT, true, 3, NULL);
	memcpy(in + n, "abc", 3);
	n += 3;
	size_t h = ws_encode_header(in + n, WS_OP_BINARY, true, 30000, NULL);
	memset(in + n + h, 0x5a, 30000);
	n += h + 30000;
	for (size_t cut = 0; cut <= n; cut += (cut < 64 ? 1 : 509)) {
		struct pair p;
		pair_open(&p);
		feed_split(p.t->backend, in, n, cut);
		static uint8_t out[1 << 16];
		size_t got = fake_out(p.t->client, out, sizeof(out));
		assert_int_equal(got, n);
		assert_memory_equal(out, in, n);
		assert_int_equal(p.t->msgs_down, 2);
		pair_close(&p);
	}
}

/* A keepalive ping due while a backend text frame is held for the client must wait for the
 * frame's end, not take the frame back (its rest would then follow without a header). */
static void test_keepalive_ping_waits_for_a_held_frame(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p);
	uint8_t in[3000];
	size_t h = ws_encode_header(in, WS_OP_TEXT, true, 2000, NULL);
	memset(in + h, 'q', 2000);
	size_t n = h + 2000;
	feed_split(p.t->backend, in, 1000, 1000); /* the frame's start: held */
	assert_true(conn_out_is_held(p.t->client));
	fk.cfg.ping_interval_ms = 1000;
	fk.w.now_ms += 10000;
	tunnel__ops.on_timer(&fk.w, p.t->client); /* a ping is due: it must wait */
	feed_split(p.t->backend, in + 1000, n - 1000, n - 1000);
	fk.w.now_ms += 200;
	tunnel__ops.on_timer(&fk.w, p.t->client); /* now between frames: the ping goes */
	uint8_t out[4096];
	size_t got = fake_out(p.t->client, out, sizeof(out));
	assert_true(got > n);
	assert_memory_equal(out, in, n);
	assert_int_equal(out[n], 0x89); /* then the ping */
	fk.cfg.ping_interval_ms = 0;
	pair_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_data_frames_forwarded_verbatim_at_every_split),
	    cmocka_unit_test(test_violation_after_valid_frames_keeps_them_then_1011),
	    cmocka_unit_test(test_backend_messages_before_its_close_reach_the_offender_first),
	    cmocka_unit_test(test_backend_frames_split_at_every_point),
	    cmocka_unit_test(test_keepalive_ping_waits_for_a_held_frame),
	};
	return cmocka_run_group_tests(tests, fake_setup, fake_teardown);
}
