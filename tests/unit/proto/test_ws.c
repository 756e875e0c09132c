/* Unit tests for proto/ws.c: the RFC 6455 section 5.7 examples, every length form at its
 * boundaries, every rejection with its close code, headers fed at every split point,
 * payloads fed one byte at a time and at every split, WS_PAYLOAD_KEEP_MASK, ws_mask against
 * a byte-at-a-time reference, and the encoder. Every parser input sits at the end of a
 * guard page (tests/unit/guard.h), so an over-read crashes the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "guard.h"
#include "proto/ws.h"

static const struct wsg_limits lim_1m = {
    .head_max = WSG_HEAD_MAX_DEFAULT,
    .headers_max = WSG_HEADERS_MAX_DEFAULT,
    .message_max = 1024u * 1024u,
};

static const struct wsg_limits lim_max = {
    .head_max = WSG_HEAD_MAX_DEFAULT,
    .headers_max = WSG_HEADERS_MAX_DEFAULT,
    .message_max = UINT64_MAX,
};

/* RFC 6455 5.7 */
static const uint8_t hello_unmasked[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
static const uint8_t hello_masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                       0x7f, 0x9f, 0x4d, 0x51, 0x58};
static const uint8_t hel_lo[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
static const uint8_t ping_unmasked[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
static const uint8_t pong_masked[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                      0x7f, 0x9f, 0x4d, 0x51, 0x58};
static const uint8_t bin_256_header[] = {0x82, 0x7E, 0x01, 0x00};
static const uint8_t bin_64k_header[] = {0x82, 0x7F, 0x00, 0x00, 0x00,
                                         0x00, 0x00, 0x01, 0x00, 0x00};

static const uint8_t mask_a[4] = {0x37, 0xfa, 0x21, 0x3d};

/* One parsed frame, as the helpers below report it. */
struct result {
	enum ws_rc rc;
	uint16_t code;
	struct ws_frame f;
	uint8_t payload[256]; /* the payload bytes as they were left in the buffer */
	size_t payload_len;
};

/* Parses one whole frame (header, then the payload in one call) from a guard-page copy. */
static struct result parse_one(struct ws_parser *p, const uint8_t *frame, size_t len,
                               unsigned flags)
{
	struct result r;
	memset(&r, 0, sizeof(r));
	struct guard_area g;
	uint8_t *buf = guard_copy(&g, frame, len);
	size_t used = 0;
	r.rc = ws_parse_frame_header(p, buf, len, &r.f, &used);
	if (r.rc == WS_RC_OK) {
		assert_int_equal(used, r.f.header_len);
		assert_true(used <= len);
		size_t pused = 0;
		r.rc = ws_parse_payload(p, buf + used, len - used, flags, &pused);
		if (r.rc == WS_RC_OK) {
			assert_true(pused <= len - used);
			r.payload_len = pused < sizeof(r.payload) ? pused : sizeof(r.payload);
			memcpy(r.payload, buf + used, r.payload_len);
		}
	}
	r.code = ws_parser_close_code(p);
	guard_release(&g);
	return r;
}

static void expect_fail(struct ws_parser *p, const uint8_t *frame, size_t len, uint16_t code)
{
	struct result r = parse_one(p, frame, len, 0);
	assert_int_equal(r.rc, WS_RC_FAIL);
	assert_int_equal(r.code, code);
	const char *why = ws_parser_fail_reason(p);
	assert_non_null(why);
	assert_true(why[0] != '\0');
}

#define EXPECT_FAIL(p, code, ...)                                                                  \
	do {                                                                                       \
		const uint8_t frame_[] = {__VA_ARGS__};                                            \
		expect_fail(p, frame_, sizeof(frame_), code);                                      \
	} while (0)

static void test_rfc_single_frame_unmasked_hello_parses(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	struct result r = parse_one(&p, hello_unmasked, sizeof(hello_unmasked), 0);
	assert_int_equal(r.rc, WS_RC_OK);
	assert_int_equal(r.f.opcode, WS_OP_TEXT);
	assert_true(r.f.fin);
	assert_false(r.f.masked);
	assert_int_equal(r.f.header_len, 2);
	assert_int_equal(r.f.payload_len, 5);
	assert_int_equal(r.payload_len, 5);
	assert_memory_equal(r.payload, "Hello", 5);
	assert_false(ws_parser_in_frame(&p));
	assert_false(ws_parser_in_message(&p));
}

static void test_rfc_masked_hello_unmasks_in_place(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_SERVER, 0, &lim_1m);
	struct result r = parse_one(&p, hello_masked, sizeof(hello_masked), 0);
	assert_int_equal(r.rc, WS_RC_OK);
	assert_true(r.f.masked);
	assert_memory_equal(r.f.mask, mask_a, 4);
	assert_int_equal(r.f.header_len, 6);
	assert_memory_equal(r.payload, "Hello", 5);
}

static void test_rfc_fragmented_hello_is_one_text_message(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	struct result r = parse_one(&p, hel_lo, 5, 0);
	assert_int_equal(r.rc, WS_RC_OK);
	assert_int_equal(r.f.opcode, WS_OP_TEXT);
	assert_false(r.f.fin);
	assert_memory_equal(r.payload, "Hel", 3);
	assert_true(ws_parser_in_message(&p));
	r = parse_one(&p, hel_lo + 5, 4, 0);
	assert_int_equal(r.rc, WS_RC_OK);
	assert_int_equal(r.f.opcode, WS_OP_CONT);
	assert_true(r.f.fin);
	assert_memory_equal(r.payload, "lo", 2);
	assert_false(ws_parser_in_message(&p));
}

static void test_rfc_ping_and_masked_pong_collect_payload(void **state)
{
	(void)state;
	struct ws_parser p;
	size_t n;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	struct result r = parse_one(&p, ping_unmasked, sizeof(ping_unmasked), 0);
	assert_int_equal(r.rc, WS_RC_OK);
	assert_int_equal(r.f.opcode, WS_OP_PING);
	const uint8_t *ctl = ws_parser_control_payload(&p, &n);
	assert_int_equal(n, 5);
	assert_memory_equal(ctl, "Hello", 5);

	ws_parser_init(&p, WS_ROLE_SERVER, 0, &lim_1m);
	r = parse_one(&p, pong_masked, sizeof(pong_masked), 0);
	assert_int_equal(r.rc, WS_RC_OK);
	assert_int_equal(r.f.opcode, WS_OP_PONG);
	assert_memory_equal(r.payload, "Hello", 5);
	ctl = ws_parser_control_payload(&p, &n);
	assert_int_equal(n, 5);
	assert_memory_equal(ctl, "Hello", 5);
}

static void test_rfc_256_byte_and_64k_binary_headers_parse(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	struct result r = parse_one(&p, bin_256_header, sizeof(bin_256_header), 0);
	assert_int_equal(r.rc, WS_RC_OK);
	assert_int_equal(r.f.opcode, WS_OP_BINARY);
	assert_int_equal(r.f.header_len, 4);
	assert_int_equal(r.f.payload_len, 256);
	assert_true(ws_parser_in_frame(&p));
	assert_int_equal(ws_parser_remaining(&p), 256);

	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	r = parse_one(&p, bin_64k_header, sizeof(bin_64k_header), 0);
	assert_int_equal(r.rc, WS_RC_OK);
	assert_int_equal(r.f.header_len, 10);
	assert_int_equal(r.f.payload_len, 65536);
	assert_int_equal(ws_parser_remaining(&p), 65536);
}

/* Encodes a header for len and checks the parser reads back the same length and form. */
static void roundtrip_length(uint64_t len, size_t want_hlen, const struct wsg_limits *lim,
                             bool masked)
{
	uint8_t h[WS_HEADER_MAX];
	size_t hlen = ws_encode_header(h, WS_OP_BINARY, true, len, masked ? mask_a : NULL);
	assert_int_equal(hlen, want_hlen + (masked ? 4 : 0));
	struct ws_parser p;
	ws_parser_init(&p, masked ? WS_ROLE_SERVER : WS_ROLE_CLIENT, 0, lim);
	struct result r = parse_one(&p, h, hlen, 0);
	assert_int_equal(r.rc, WS_RC_OK);
	assert_int_equal(r.f.header_len, hlen);
	assert_int_equal(r.f.payload_len, len);
	assert_int_equal(ws_parser_in_frame(&p), len != 0);
}

static void test_every_length_form_parses_at_its_boundaries(void **state)
{
	(void)state;
	for (int m = 0; m < 2; m++) {
		roundtrip_length(0, 2, &lim_1m, m);
		roundtrip_length(125, 2, &lim_1m, m);
		roundtrip_length(126, 4, &lim_1m, m);
		roundtrip_length(65535, 4, &lim_1m, m);
		roundtrip_length(65536, 10, &lim_1m, m);
		roundtrip_length(1024 * 1024, 10, &lim_1m, m);
		roundtrip_length(INT64_MAX, 10, &lim_max, m);
	}
}

static void test_max_64bit_length_over_limit_fails_1009(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	EXPECT_FAIL(&p, 1009, 0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF);
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	EXPECT_FAIL(&p, 1009, 0x82, 0x7F, 0, 0, 0, 0, 0, 0x10, 0x00, 0x01); /* 1 MiB + 1 */
}

static void test_non_minimal_lengths_fail_1002(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_max);
	EXPECT_FAIL(&p, 1002, 0x82, 0x7E, 0x00, 0x7D); /* 125 in the 16-bit form */
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_max);
	EXPECT_FAIL(&p, 1002, 0x82, 0x7E, 0x00, 0x00);
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_max);
	EXPECT_FAIL(&p, 1002, 0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF); /* 65535 in 64 bits */
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_max);
	EXPECT_FAIL(&p, 1002, 0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0);
}

static void test_64bit_length_with_top_bit_fails_1002(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_max);
	EXPECT_FAIL(&p, 1002, 0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0);
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_max);
	EXPECT_FAIL(&p, 1002, 0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF);
}

static void test_unmasked_client_frame_fails_1002(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_SERVER, 0, &lim_1m);
	expect_fail(&p, hello_unmasked, sizeof(hello_unmasked), 1002);
	assert_string_equal(ws_parser_fail_reason(&p), "unmasked client frame");
}

static void test_masked_server_frame_fails_1002(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	expect_fail(&p, hello_masked, sizeof(hello_masked), 1002);
}

static void test_rsv_bits_without_extension_fail_1002(void **state)
{
	(void)state;
	struct ws_parser p;
	for (unsigned bit = 0x10; bit <= 0x40; bit <<= 1) {
		ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
		EXPECT_FAIL(&p, 1002, (uint8_t)(0x81 | bit), 0x00);
		assert_string_equal(ws_parser_fail_reason(&p), "reserved bits set");
	}
}

static void test_rsv_bit_allowed_by_extension_parses(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0x40, &lim_1m);
	const uint8_t fr[] = {0xC2, 0x01, 0xAA};
	struct result r = parse_one(&p, fr, sizeof(fr), 0);
	assert_int_equal(r.rc, WS_RC_OK);
	assert_int_equal(r.f.rsv, 0x40);
	/* RSV2 is still not allowed. */
	EXPECT_FAIL(&p, 1002, 0xA2, 0x00);
}

static void test_reserved_opcodes_fail_1002(void **state)
{
	(void)state;
	struct ws_parser p;
	static const uint8_t ops[] = {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF};
	for (size_t i = 0; i < sizeof(ops); i++) {
		ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
		EXPECT_FAIL(&p, 1002, (uint8_t)(0x80 | ops[i]), 0x00);
		assert_string_equal(ws_parser_fail_reason(&p), "reserved opcode");
		assert_string_equal(ws_op_name(ops[i]), "reserved");
	}
}

static void test_control_frame_over_125_bytes_fails_1002(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	EXPECT_FAIL(&p, 1002, 0x89, 0x7E, 0x00, 0x7E);
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	EXPECT_FAIL(&p, 1002, 0x8A, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0);
	/* Detected from the first two bytes, before the extended length arrives. */
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	EXPECT_FAIL(&p, 1002, 0x88, 0x7E);
}

static void test_control_frame_of_125_bytes_parses(void **state)
{
	(void)state;
	uint8_t fr[2 + 125];
	memset(fr, 'x', sizeof(fr));
	fr[0] = 0x89;
	fr[1] = 125;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	struct result r = parse_one(&p, fr, sizeof(fr), 0);
	assert_int_equal(r.rc, WS_RC_OK);
	size_t n;
	ws_parser_control_payload(&p, &n);
	assert_int_equal(n, 125);
}

static void test_fragmented_control_frame_fails_1002(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	EXPECT_FAIL(&p, 1002, 0x09, 0x00);
	assert_string_equal(ws_parser_fail_reason(&p), "fragmented control frame");
}

static void test_close_payload_of_one_byte_fails_1002(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	EXPECT_FAIL(&p, 1002, 0x88, 0x01, 0x03);
}

static void test_continuation_without_start_fails_1002(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	EXPECT_FAIL(&p, 1002, 0x80, 0x00);
	/* Also after a message has ended. */
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	assert_int_equal(parse_one(&p, hel_lo, sizeof(hel_lo), 0).rc, WS_RC_OK);
	assert_int_equal(parse_one(&p, hel_lo + 5, 4, 0).rc, WS_RC_OK);
	EXPECT_FAIL(&p, 1002, 0x80, 0x00);
}

static void test_new_data_frame_inside_message_fails_1002(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	assert_int_equal(parse_one(&p, hel_lo, 5, 0).rc, WS_RC_OK);
	EXPECT_FAIL(&p, 1002, 0x81, 0x00);
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	assert_int_equal(parse_one(&p, hel_lo, 5, 0).rc, WS_RC_OK);
	EXPECT_FAIL(&p, 1002, 0x02, 0x00);
}

static void test_control_frames_between_fragments_parse(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	/* A euro sign split across two frames with a ping and a pong in between. */
	const uint8_t f1[] = {0x01, 0x02, 0xE2, 0x82};
	const uint8_t f3[] = {0x80, 0x01, 0xAC};
	assert_int_equal(parse_one(&p, f1, sizeof(f1), 0).rc, WS_RC_OK);
	assert_int_equal(parse_one(&p, ping_unmasked, sizeof(ping_unmasked), 0).rc, WS_RC_OK);
	assert_true(ws_parser_in_message(&p));
	const uint8_t pong[] = {0x8A, 0x00};
	assert_int_equal(parse_one(&p, pong, sizeof(pong), 0).rc, WS_RC_OK);
	struct result r = parse_one(&p, f3, sizeof(f3), 0);
	assert_int_equal(r.rc, WS_RC_OK);
	assert_false(ws_parser_in_message(&p));
}

static void test_message_over_limit_in_one_frame_fails_1009_before_payload(void **state)
{
	(void)state;
	struct wsg_limits lim = lim_1m;
	lim.message_max = 10;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim);
	EXPECT_FAIL(&p, 1009, 0x82, 0x0B); /* no payload bytes follow: the header is enough */
	assert_string_equal(ws_parser_fail_reason(&p), "message too big");
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim);
	const uint8_t ok[] = {0x82, 0x0A, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	assert_int_equal(parse_one(&p, ok, sizeof(ok), 0).rc, WS_RC_OK);
}

static void test_message_over_limit_across_frames_fails_1009(void **state)
{
	(void)state;
	struct wsg_limits lim = lim_1m;
	lim.message_max = 10;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim);
	const uint8_t f1[] = {0x02, 0x06, 1, 2, 3, 4, 5, 6};
	const uint8_t f2[] = {0x00, 0x04, 1, 2, 3, 4};
	assert_int_equal(parse_one(&p, f1, sizeof(f1), 0).rc, WS_RC_OK);
	assert_int_equal(parse_one(&p, f2, sizeof(f2), 0).rc, WS_RC_OK); /* exactly 10 */
	/* Control frames do not count towards the message. */
	assert_int_equal(parse_one(&p, ping_unmasked, sizeof(ping_unmasked), 0).rc, WS_RC_OK);
	EXPECT_FAIL(&p, 1009, 0x80, 0x01, 0x07);
	/* A new message starts counting from zero. */
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim);
	const uint8_t f2fin[] = {0x80, 0x04, 1, 2, 3, 4};
	assert_int_equal(parse_one(&p, f1, sizeof(f1), 0).rc, WS_RC_OK);
	assert_int_equal(parse_one(&p, f2fin, sizeof(f2fin), 0).rc, WS_RC_OK);
	assert_int_equal(parse_one(&p, f1, sizeof(f1), 0).rc, WS_RC_OK);
	/* Many empty-ish frames add up too. */
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim);
	const uint8_t one[] = {0x02, 0x01, 9};
	const uint8_t cont1[] = {0x00, 0x01, 9};
	assert_int_equal(parse_one(&p, one, sizeof(one), 0).rc, WS_RC_OK);
	for (int i = 0; i < 9; i++)
		assert_int_equal(parse_one(&p, cont1, sizeof(cont1), 0).rc, WS_RC_OK);
	EXPECT_FAIL(&p, 1009, 0x00, 0x01, 9);
}

static void test_invalid_close_codes_fail_1002(void **state)
{
	(void)state;
	static const uint16_t bad[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
	struct ws_parser p;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
		EXPECT_FAIL(&p, 1002, 0x88, 0x02, (uint8_t)(bad[i] >> 8), (uint8_t)bad[i]);
		assert_string_equal(ws_parser_fail_reason(&p), "invalid close code");
	}
}

static void test_close_reason_invalid_utf8_fails_1007(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	EXPECT_FAIL(&p, 1007, 0x88, 0x04, 0x03, 0xE8, 'a', 0xFF);
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	EXPECT_FAIL(&p, 1007, 0x88, 0x04, 0x03, 0xE8, 'a', 0xE2); /* truncated */
}

static void test_valid_close_splits_into_code_and_reason(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_SERVER, 0, &lim_1m);
	uint8_t fr[64];
	size_t n = ws_encode_close(fr, sizeof(fr), 1001, "bye \xE2\x82\xAC", 7, mask_a);
	assert_int_equal(n, 6 + 2 + 7);
	struct result r = parse_one(&p, fr, n, 0);
	assert_int_equal(r.rc, WS_RC_OK);
	size_t len;
	const uint8_t *ctl = ws_parser_control_payload(&p, &len);
	uint16_t code;
	const uint8_t *reason;
	size_t reason_len;
	ws_close_payload_split(ctl, len, &code, &reason, &reason_len);
	assert_int_equal(code, 1001);
	assert_int_equal(reason_len, 7);
	assert_memory_equal(reason, "bye \xE2\x82\xAC", 7);

	const uint8_t empty[] = {0x88, 0x00};
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	assert_int_equal(parse_one(&p, empty, sizeof(empty), 0).rc, WS_RC_OK);
	ctl = ws_parser_control_payload(&p, &len);
	ws_close_payload_split(ctl, len, &code, &reason, &reason_len);
	assert_int_equal(code, 1005);
	assert_int_equal(reason_len, 0);
}

static void test_invalid_utf8_text_fails_1007_as_soon_as_seen(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	/* 100-byte frame, the bad byte is the 3rd: fails on a payload call that has only 3. */
	uint8_t fr[2 + 100];
	memset(fr, 'a', sizeof(fr));
	fr[0] = 0x81;
	fr[1] = 100;
	fr[4] = 0xC0;
	struct guard_area g;
	uint8_t *buf = guard_copy(&g, fr, 5);
	struct ws_frame f;
	size_t used;
	assert_int_equal(ws_parse_frame_header(&p, buf, 5, &f, &used), WS_RC_OK);
	assert_int_equal(ws_parse_payload(&p, buf + 2, 3, 0, &used), WS_RC_FAIL);
	assert_int_equal(ws_parser_close_code(&p), 1007);
	assert_string_equal(ws_parser_fail_reason(&p), "invalid utf-8");
	guard_release(&g);
	/* In a continuation frame of a text message, too. */
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	assert_int_equal(parse_one(&p, hel_lo, 5, 0).rc, WS_RC_OK);
	EXPECT_FAIL(&p, 1007, 0x80, 0x02, 0xED, 0xA0);
}

static void test_text_ending_inside_code_point_fails_1007(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	EXPECT_FAIL(&p, 1007, 0x81, 0x02, 'a', 0xE2);
	/* An empty FIN continuation ends the message inside the code point: the header call
	 * is where that is found. */
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	const uint8_t f1[] = {0x01, 0x02, 'a', 0xE2};
	assert_int_equal(parse_one(&p, f1, sizeof(f1), 0).rc, WS_RC_OK);
	EXPECT_FAIL(&p, 1007, 0x80, 0x00);
}

static void test_binary_with_invalid_utf8_parses(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	const uint8_t fr[] = {0x82, 0x03, 0xFF, 0xC0, 0xE2};
	assert_int_equal(parse_one(&p, fr, sizeof(fr), 0).rc, WS_RC_OK);
}

static void test_failure_is_sticky(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_SERVER, 0, &lim_1m);
	expect_fail(&p, hello_unmasked, sizeof(hello_unmasked), 1002);
	struct result r = parse_one(&p, hello_masked, sizeof(hello_masked), 0);
	assert_int_equal(r.rc, WS_RC_FAIL);
	assert_int_equal(r.code, 1002);
}

static void test_zero_length_frames_are_complete_after_header(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_SERVER, 0, &lim_1m);
	const uint8_t fr[] = {0x81, 0x80, 1, 2, 3, 4, 0x89, 0x80, 1, 2, 3, 4};
	struct result r = parse_one(&p, fr, 6, 0);
	assert_int_equal(r.rc, WS_RC_OK);
	assert_false(ws_parser_in_frame(&p));
	r = parse_one(&p, fr + 6, 6, 0);
	assert_int_equal(r.rc, WS_RC_OK);
	size_t n;
	ws_parser_control_payload(&p, &n);
	assert_int_equal(n, 0);
}

/* Every prefix of a valid frame's header yields MORE with the parser untouched; from the
 * header's length on, OK with *used = header length. */
static void check_header_splits(enum ws_role role, const uint8_t *fr, size_t len, size_t hlen,
                                const struct wsg_limits *lim)
{
	struct guard_area g;
	for (size_t cut = 0; cut <= len; cut++) {
		struct ws_parser p, before;
		ws_parser_init(&p, role, 0, lim);
		memcpy(&before, &p, sizeof(p));
		uint8_t *buf = guard_copy(&g, fr, cut);
		struct ws_frame f;
		size_t used = 99;
		enum ws_rc rc = ws_parse_frame_header(&p, buf, cut, &f, &used);
		if (cut < hlen) {
			assert_int_equal(rc, WS_RC_MORE);
			assert_int_equal(used, 0);
			assert_memory_equal(&p, &before, sizeof(p));
		} else {
			assert_int_equal(rc, WS_RC_OK);
			assert_int_equal(used, hlen);
		}
		guard_release(&g);
	}
}

static void test_headers_fed_at_every_split_point(void **state)
{
	(void)state;
	check_header_splits(WS_ROLE_CLIENT, hello_unmasked, sizeof(hello_unmasked), 2, &lim_1m);
	check_header_splits(WS_ROLE_SERVER, hello_masked, sizeof(hello_masked), 6, &lim_1m);
	check_header_splits(WS_ROLE_CLIENT, ping_unmasked, sizeof(ping_unmasked), 2, &lim_1m);
	check_header_splits(WS_ROLE_SERVER, pong_masked, sizeof(pong_masked), 6, &lim_1m);
	check_header_splits(WS_ROLE_CLIENT, bin_256_header, sizeof(bin_256_header), 4, &lim_1m);
	check_header_splits(WS_ROLE_CLIENT, bin_64k_header, sizeof(bin_64k_header), 10, &lim_1m);
	uint8_t h[WS_HEADER_MAX];
	size_t n = ws_encode_header(h, WS_OP_BINARY, false, INT64_MAX, mask_a);
	check_header_splits(WS_ROLE_SERVER, h, n, 14, &lim_max);
	n = ws_encode_header(h, WS_OP_TEXT, true, 300, mask_a);
	check_header_splits(WS_ROLE_SERVER, h, n, 8, &lim_max);
}

/* Feeds one frame's payload in pieces ending at the given cut points (ascending). */
static void feed_payload_in_pieces(const uint8_t *fr, size_t len, enum ws_role role, unsigned flags,
                                   const size_t *cuts, size_t ncuts, uint8_t *out)
{
	struct ws_parser p;
	ws_parser_init(&p, role, 0, &lim_1m);
	struct guard_area g;
	uint8_t *buf = guard_copy(&g, fr, len);
	struct ws_frame f;
	size_t used;
	assert_int_equal(ws_parse_frame_header(&p, buf, len, &f, &used), WS_RC_OK);
	size_t pos = used, hlen = used;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? hlen + cuts[i] : len;
		size_t pused;
		assert_int_equal(ws_parse_payload(&p, buf + pos, end - pos, flags, &pused),
		                 WS_RC_OK);
		assert_int_equal(pused, end - pos);
		pos = end;
	}
	assert_false(ws_parser_in_frame(&p));
	memcpy(out, buf + hlen, len - hlen);
	guard_release(&g);
}

static void test_masked_text_payload_one_byte_at_a_time_and_at_every_split(void **state)
{
	(void)state;
	static const char text[] = "Gr\xc3\xbc\xc3\x9f"
	                           "e \xe2\x82\xac \xf0\x9f\x98\x80 "
	                           "and some ASCII to reach the word path...";
	size_t tlen = sizeof(text) - 1;
	uint8_t fr[2 + 4 + 128], out[128];
	size_t hlen = ws_encode_header(fr, WS_OP_TEXT, true, tlen, mask_a);
	memcpy(fr + hlen, text, tlen);
	ws_mask(fr + hlen, tlen, mask_a, 0);
	size_t len = hlen + tlen;

	size_t cuts[128];
	for (size_t i = 0; i < tlen; i++)
		cuts[i] = i + 1;
	feed_payload_in_pieces(fr, len, WS_ROLE_SERVER, 0, cuts, tlen, out);
	assert_memory_equal(out, text, tlen);
	feed_payload_in_pieces(fr, len, WS_ROLE_SERVER, WS_PAYLOAD_KEEP_MASK, cuts, tlen, out);
	assert_memory_equal(out, fr + hlen, tlen);
	for (size_t cut = 0; cut <= tlen; cut++) {
		feed_payload_in_pieces(fr, len, WS_ROLE_SERVER, 0, &cut, 1, out);
		assert_memory_equal(out, text, tlen);
		feed_payload_in_pieces(fr, len, WS_ROLE_SERVER, WS_PAYLOAD_KEEP_MASK, &cut, 1, out);
		assert_memory_equal(out, fr + hlen, tlen);
	}
}

static void test_masked_close_payload_one_byte_at_a_time(void **state)
{
	(void)state;
	uint8_t fr[64], out[64];
	size_t n = ws_encode_close(fr, sizeof(fr), 1000, "\xe2\x82\xac done", 9, mask_a);
	size_t cuts[11];
	for (size_t i = 0; i < 11; i++)
		cuts[i] = i + 1;
	feed_payload_in_pieces(fr, n, WS_ROLE_SERVER, 0, cuts, 10, out);
	assert_memory_equal(out, "\x03\xe8\xe2\x82\xac done", 11);
	feed_payload_in_pieces(fr, n, WS_ROLE_SERVER, WS_PAYLOAD_KEEP_MASK, cuts, 10, out);
	assert_memory_equal(out, fr + 6, 11);
}

static void test_text_split_across_two_frames_at_every_byte_validates(void **state)
{
	(void)state;
	static const char text[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 \xf0\x9f\x98\x80";
	size_t tlen = sizeof(text) - 1;
	for (size_t cut = 0; cut <= tlen; cut++) {
		struct ws_parser p;
		ws_parser_init(&p, WS_ROLE_SERVER, 0, &lim_1m);
		uint8_t f1[64], f2[64];
		size_t h1 = ws_encode_header(f1, WS_OP_TEXT, false, cut, mask_a);
		memcpy(f1 + h1, text, cut);
		ws_mask(f1 + h1, cut, mask_a, 0);
		size_t h2 = ws_encode_header(f2, WS_OP_CONT, true, tlen - cut, mask_a);
		memcpy(f2 + h2, text + cut, tlen - cut);
		ws_mask(f2 + h2, tlen - cut, mask_a, 0);
		struct result r = parse_one(&p, f1, h1 + cut, WS_PAYLOAD_KEEP_MASK);
		assert_int_equal(r.rc, WS_RC_OK);
		r = parse_one(&p, f2, h2 + tlen - cut, 0);
		assert_int_equal(r.rc, WS_RC_OK);
		assert_memory_equal(r.payload, text + cut, tlen - cut);
	}
}

static void test_keep_mask_leaves_buffer_unchanged(void **state)
{
	(void)state;
	uint8_t fr[WS_HEADER_MAX + 200], copy[sizeof(fr)];
	static const uint8_t ops[] = {WS_OP_TEXT, WS_OP_BINARY, WS_OP_PING, WS_OP_CLOSE};
	for (size_t k = 0; k < sizeof(ops); k++) {
		size_t plen = ops[k] & 0x8 ? 100 : 200;
		size_t hlen = ws_encode_header(fr, ops[k], true, plen, mask_a);
		memset(fr + hlen, 'z', plen);
		if (ops[k] == WS_OP_CLOSE) {
			fr[hlen] = 0x03; /* code 1000 */
			fr[hlen + 1] = 0xE8;
		}
		ws_mask(fr + hlen, plen, mask_a, 0);
		memcpy(copy, fr, hlen + plen);
		struct ws_parser p;
		ws_parser_init(&p, WS_ROLE_SERVER, 0, &lim_1m);
		struct guard_area g;
		uint8_t *buf = guard_copy(&g, fr, hlen + plen);
		struct ws_frame f;
		size_t used, pused;
		assert_int_equal(ws_parse_frame_header(&p, buf, hlen + plen, &f, &used), WS_RC_OK);
		assert_int_equal(
		    ws_parse_payload(&p, buf + used, plen, WS_PAYLOAD_KEEP_MASK, &pused), WS_RC_OK);
		assert_memory_equal(buf, copy, hlen + plen);
		if (ops[k] & 0x8) {
			size_t n;
			const uint8_t *ctl = ws_parser_control_payload(&p, &n);
			assert_int_equal(n, plen);
			assert_int_equal(ctl[2], 'z'); /* unmasked in the parser's copy */
		}
		guard_release(&g);
	}
	/* On a 1007 failure, too. */
	uint8_t bad[] = {0x81, 0x84, 1, 2, 3, 4, 'a' ^ 1, 0xFF ^ 2, 'b' ^ 3, 'c' ^ 4};
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_SERVER, 0, &lim_1m);
	struct guard_area g;
	uint8_t *buf = guard_copy(&g, bad, sizeof(bad));
	struct ws_frame f;
	size_t used, pused;
	assert_int_equal(ws_parse_frame_header(&p, buf, sizeof(bad), &f, &used), WS_RC_OK);
	assert_int_equal(ws_parse_payload(&p, buf + used, 4, WS_PAYLOAD_KEEP_MASK, &pused),
	                 WS_RC_FAIL);
	assert_int_equal(ws_parser_close_code(&p), 1007);
	assert_memory_equal(buf, bad, sizeof(bad));
	guard_release(&g);
}

static void test_payload_call_stops_at_frame_end(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	/* Two frames back to back: the payload call consumes only the first one's bytes. */
	const uint8_t two[] = {0x82, 0x02, 1, 2, 0x82, 0x01, 3};
	struct guard_area g;
	uint8_t *buf = guard_copy(&g, two, sizeof(two));
	struct ws_frame f;
	size_t used;
	assert_int_equal(ws_parse_frame_header(&p, buf, sizeof(two), &f, &used), WS_RC_OK);
	assert_int_equal(ws_parse_payload(&p, buf + 2, sizeof(two) - 2, 0, &used), WS_RC_OK);
	assert_int_equal(used, 2);
	assert_int_equal(ws_parse_frame_header(&p, buf + 4, 3, &f, &used), WS_RC_OK);
	assert_int_equal(f.payload_len, 1);
	assert_int_equal(ws_parse_payload(&p, buf + 6, 1, 0, &used), WS_RC_OK);
	assert_int_equal(used, 1);
	/* Called outside a frame, it consumes nothing. */
	assert_int_equal(ws_parse_payload(&p, buf + 6, 1, 0, &used), WS_RC_OK);
	assert_int_equal(used, 0);
	guard_release(&g);
}

static void test_header_call_inside_frame_fails_1011(void **state)
{
	(void)state;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_CLIENT, 0, &lim_1m);
	struct result r = parse_one(&p, bin_256_header, sizeof(bin_256_header), 0);
	assert_int_equal(r.rc, WS_RC_OK);
	r = parse_one(&p, bin_256_header, sizeof(bin_256_header), 0);
	assert_int_equal(r.rc, WS_RC_FAIL);
	assert_int_equal(r.code, 1011);
}

static void ref_mask(uint8_t *buf, size_t len, const uint8_t mask[4], size_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] ^= mask[(off + i) % 4];
}

static void test_mask_matches_bytewise_reference_at_any_offset_and_alignment(void **state)
{
	(void)state;
	static const uint8_t m[4] = {0xA1, 0xB2, 0xC3, 0xD4};
	enum { MAXLEN = 300 };
	uint8_t src[MAXLEN + 8], a[MAXLEN + 16], b[MAXLEN + 16];
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len <= MAXLEN; len++) {
		for (size_t align = 0; align < 8; align++) {
			for (size_t off = 0; off < 8; off++) {
				memcpy(a + align, src, len);
				memcpy(b + align, src, len);
				a[align + len] = b[align + len] = 0x5A; /* sentinel */
				ws_mask(a + align, len, m, off);
				ref_mask(b + align, len, m, off);
				assert_memory_equal(a + align, b + align, len);
				assert_int_equal(a[align + len], 0x5A);
				ws_mask(a + align, len, m, off);
				assert_memory_equal(a + align, src, len);
			}
		}
	}
	/* Large buffers, and a mask split across calls at odd points. */
	enum { BIG = 70000 };
	static uint8_t x[BIG + 8], y[BIG + 8];
	for (size_t i = 0; i < sizeof(x); i++)
		x[i] = y[i] = (uint8_t)(i ^ (i >> 8));
	ws_mask(x + 3, 12345, m, 0);
	ws_mask(x + 3 + 12345, BIG - 12345, m, 12345);
	ref_mask(y + 3, BIG, m, 0);
	assert_memory_equal(x, y, sizeof(x));
}

static void test_encode_header_uses_minimal_length_forms(void **state)
{
	(void)state;
	uint8_t h[WS_HEADER_MAX];
	assert_int_equal(ws_encode_header(h, WS_OP_TEXT, true, 5, NULL), 2);
	assert_memory_equal(h, hello_unmasked, 2);
	assert_int_equal(ws_encode_header(h, WS_OP_TEXT, true, 5, mask_a), 6);
	assert_memory_equal(h, hello_masked, 6);
	assert_int_equal(ws_encode_header(h, WS_OP_TEXT, false, 3, NULL), 2);
	assert_memory_equal(h, hel_lo, 2);
	assert_int_equal(ws_encode_header(h, WS_OP_BINARY, true, 256, NULL), 4);
	assert_memory_equal(h, bin_256_header, 4);
	assert_int_equal(ws_encode_header(h, WS_OP_BINARY, true, 65536, NULL), 10);
	assert_memory_equal(h, bin_64k_header, 10);
	assert_int_equal(ws_encode_header(h, WS_OP_BINARY, true, 125, NULL), 2);
	assert_int_equal(ws_encode_header(h, WS_OP_BINARY, true, 126, NULL), 4);
	assert_int_equal(ws_encode_header(h, WS_OP_BINARY, true, 65535, NULL), 4);
	assert_int_equal(ws_encode_header(h, WS_OP_BINARY, true, INT64_MAX, mask_a), 14);
	const uint8_t want[] = {0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF,
	                        0xFF, 0xFF, 0xFF, 0x37, 0xfa, 0x21, 0x3d};
	assert_memory_equal(h, want, sizeof(want));
}

static void test_encode_close_bounds_and_empty_payload(void **state)
{
	(void)state;
	uint8_t out[256];
	char reason[124];
	memset(reason, 'r', sizeof(reason));
	assert_int_equal(ws_encode_close(out, sizeof(out), 1000, reason, 123, NULL), 2 + 125);
	assert_int_equal(ws_encode_close(out, sizeof(out), 1000, reason, 124, NULL), 0);
	assert_int_equal(ws_encode_close(out, 3, 1000, NULL, 0, NULL), 0);
	assert_int_equal(ws_encode_close(out, 4, 1000, NULL, 0, NULL), 4);
	const uint8_t normal[] = {0x88, 0x02, 0x03, 0xE8};
	assert_memory_equal(out, normal, 4);
	assert_int_equal(ws_encode_close(out, sizeof(out), 0, NULL, 0, NULL), 2);
	assert_int_equal(out[1], 0);
	assert_int_equal(ws_encode_close(out, sizeof(out), 0, NULL, 0, mask_a), 6);
	assert_int_equal(out[1], 0x80);
}

static void test_close_code_validity_table(void **state)
{
	(void)state;
	for (unsigned c = 0; c <= 65535; c++) {
		bool want = (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
		            (c >= 3000 && c <= 4999);
		assert_int_equal(ws_close_code_is_valid((uint16_t)c), want);
	}
}

static void test_op_names(void **state)
{
	(void)state;
	assert_string_equal(ws_op_name(WS_OP_CONT), "cont");
	assert_string_equal(ws_op_name(WS_OP_TEXT), "text");
	assert_string_equal(ws_op_name(WS_OP_BINARY), "binary");
	assert_string_equal(ws_op_name(WS_OP_CLOSE), "close");
	assert_string_equal(ws_op_name(WS_OP_PING), "ping");
	assert_string_equal(ws_op_name(WS_OP_PONG), "pong");
	assert_string_equal(ws_op_name(0xFF), "reserved");
}

/* Drives a parser over a byte stream delivered in pieces that end at cuts[], logging each
 * verdict; the log must not depend on where the pieces end. */
static void drive(enum ws_role role, unsigned flags, const uint8_t *stream, size_t len,
                  const size_t *cuts, size_t ncuts, char *log, size_t cap)
{
	struct ws_parser p;
	ws_parser_init(&p, role, 0, &lim_1m);
	struct guard_area g;
	uint8_t *buf = guard_copy(&g, stream, len);
	size_t pos = 0, ci = 0, avail = ncuts ? cuts[ci++] : len, lp = 0;
	log[0] = '\0';
	for (;;) {
		enum ws_rc rc;
		size_t used;
		struct ws_frame f;
		if (ws_parser_in_frame(&p)) {
			rc = ws_parse_payload(&p, buf + pos, avail - pos, flags, &used);
			if (rc == WS_RC_OK && !ws_parser_in_frame(&p))
				lp += (size_t)snprintf(log + lp, cap - lp, "E ");
		} else {
			rc = ws_parse_frame_header(&p, buf + pos, avail - pos, &f, &used);
			if (rc == WS_RC_OK)
				lp += (size_t)snprintf(log + lp, cap - lp, "H%u%c%llu%s ", f.opcode,
				                       f.fin ? 'f' : '-',
				                       (unsigned long long)f.payload_len,
				                       ws_parser_in_frame(&p) ? "" : " E");
		}
		if (rc == WS_RC_FAIL) {
			snprintf(log + lp, cap - lp, "F%u", ws_parser_close_code(&p));
			break;
		}
		pos += used;
		if (pos == avail && avail == len)
			break;
		if (rc == WS_RC_MORE || pos == avail) {
			if (avail == len)
				break;
			avail = ci < ncuts ? cuts[ci++] : len;
		}
	}
	guard_release(&g);
}

static void test_stream_fed_at_every_split_and_bytewise_gives_same_verdicts(void **state)
{
	(void)state;
	/* Client frames: fragmented text with a ping between, close with a reason, then a
	 * bad text frame that must fail 1007 the same way however it is split. */
	uint8_t s[256];
	size_t n = 0;
	static const char t1[] = "caf\xc3";
	static const char t2[] = "\xa9 \xe2\x82\xac";
	static const uint8_t m[4] = {9, 8, 7, 6};
	n += ws_encode_header(s + n, WS_OP_TEXT, false, 4, m);
	memcpy(s + n, t1, 4);
	ws_mask(s + n, 4, m, 0);
	n += 4;
	n += ws_encode_header(s + n, WS_OP_PING, true, 3, m);
	memcpy(s + n, "abc", 3);
	ws_mask(s + n, 3, m, 0);
	n += 3;
	n += ws_encode_header(s + n, WS_OP_CONT, true, 5, m);
	memcpy(s + n, t2, 5);
	ws_mask(s + n, 5, m, 0);
	n += 5;
	n += ws_encode_header(s + n, WS_OP_BINARY, true, 0, m);
	n += ws_encode_close(s + n, sizeof(s) - n, 1000, "ok", 2, m);
	size_t ok_end = n;
	n += ws_encode_header(s + n, WS_OP_TEXT, true, 6, m);
	memcpy(s + n, "ab\xed\xa0\x80z", 6);
	ws_mask(s + n, 6, m, 0);
	n += 6;

	char whole[512], split[512];
	for (unsigned flags = 0; flags <= WS_PAYLOAD_KEEP_MASK; flags++) {
		drive(WS_ROLE_SERVER, flags, s, n, NULL, 0, whole, sizeof(whole));
		assert_non_null(strstr(whole, "F1007"));
		for (size_t a = 0; a <= n; a++) {
			size_t cuts[2] = {a, n};
			drive(WS_ROLE_SERVER, flags, s, n, cuts, 1, split, sizeof(split));
			assert_string_equal(split, whole);
		}
		size_t bytewise[256];
		for (size_t i = 0; i < n; i++)
			bytewise[i] = i + 1;
		drive(WS_ROLE_SERVER, flags, s, n, bytewise, n, split, sizeof(split));
		assert_string_equal(split, whole);
		drive(WS_ROLE_SERVER, flags, s, ok_end, NULL, 0, whole, sizeof(whole));
		assert_null(strchr(whole, 'F'));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc_single_frame_unmasked_hello_parses),
	    cmocka_unit_test(test_rfc_masked_hello_unmasks_in_place),
	    cmocka_unit_test(test_rfc_fragmented_hello_is_one_text_message),
	    cmocka_unit_test(test_rfc_ping_and_masked_pong_collect_payload),
	    cmocka_unit_test(test_rfc_256_byte_and_64k_binary_headers_parse),
	    cmocka_unit_test(test_every_length_form_parses_at_its_boundaries),
	    cmocka_unit_test(test_max_64bit_length_over_limit_fails_1009),
	    cmocka_unit_test(test_non_minimal_lengths_fail_1002),
	    cmocka_unit_test(test_64bit_length_with_top_bit_fails_1002),
	    cmocka_unit_test(test_unmasked_client_frame_fails_1002),
	    cmocka_unit_test(test_masked_server_frame_fails_1002),
	    cmocka_unit_test(test_rsv_bits_without_extension_fail_1002),
	    cmocka_unit_test(test_rsv_bit_allowed_by_extension_parses),
	    cmocka_unit_test(test_reserved_opcodes_fail_1002),
	    cmocka_unit_test(test_control_frame_over_125_bytes_fails_1002),
	    cmocka_unit_test(test_control_frame_of_125_bytes_parses),
	    cmocka_unit_test(test_fragmented_control_frame_fails_1002),
	    cmocka_unit_test(test_close_payload_of_one_byte_fails_1002),
	    cmocka_unit_test(test_continuation_without_start_fails_1002),
	    cmocka_unit_test(test_new_data_frame_inside_message_fails_1002),
	    cmocka_unit_test(test_control_frames_between_fragments_parse),
	    cmocka_unit_test(test_message_over_limit_in_one_frame_fails_1009_before_payload),
	    cmocka_unit_test(test_message_over_limit_across_frames_fails_1009),
	    cmocka_unit_test(test_invalid_close_codes_fail_1002),
	    cmocka_unit_test(test_close_reason_invalid_utf8_fails_1007),
	    cmocka_unit_test(test_valid_close_splits_into_code_and_reason),
	    cmocka_unit_test(test_invalid_utf8_text_fails_1007_as_soon_as_seen),
	    cmocka_unit_test(test_text_ending_inside_code_point_fails_1007),
	    cmocka_unit_test(test_binary_with_invalid_utf8_parses),
	    cmocka_unit_test(test_failure_is_sticky),
	    cmocka_unit_test(test_zero_length_frames_are_complete_after_header),
	    cmocka_unit_test(test_headers_fed_at_every_split_point),
	    cmocka_unit_test(test_masked_text_payload_one_byte_at_a_time_and_at_every_split),
	    cmocka_unit_test(test_masked_close_payload_one_byte_at_a_time),
	    cmocka_unit_test(test_text_split_across_two_frames_at_every_byte_validates),
	    cmocka_unit_test(test_keep_mask_leaves_buffer_unchanged),
	    cmocka_unit_test(test_payload_call_stops_at_frame_end),
	    cmocka_unit_test(test_header_call_inside_frame_fails_1011),
	    cmocka_unit_test(test_mask_matches_bytewise_reference_at_any_offset_and_alignment),
	    cmocka_unit_test(test_encode_header_uses_minimal_length_forms),
	    cmocka_unit_test(test_encode_close_bounds_and_empty_payload),
	    cmocka_unit_test(test_close_code_validity_table),
	    cmocka_unit_test(test_op_names),
	    cmocka_unit_test(test_stream_fed_at_every_split_and_bytewise_gives_same_verdicts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
