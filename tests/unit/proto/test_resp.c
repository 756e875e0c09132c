/* proto/resp.c: the RESP2 scanner at every split point and from guard-page buffers, the reader
 * in front of hiredis, and the cluster message header both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "guard.h"
#include "proto/resp.h"

static const struct resp_limits lim = {.bulk_max = 1024, .elems_max = 64, .depth_max = 4};

static const char view[] = "*4\r\n:1700000000123\r\n$1\r\na\r\n$13\r\n1700000000000\r\n"
                           "$0\r\n\r\n";

static void test_scan_whole_reply_ok_every_prefix_more(void **state)
{
	(void)state;
	size_t n = sizeof(view) - 1;
	for (size_t cut = 0; cut <= n; cut++) {
		struct guard_area g;
		uint8_t *b = guard_copy(&g, view, cut);
		size_t used = 0;
		enum resp_rc rc = resp_scan(b, cut, &lim, &used);
		assert_int_equal(rc, cut < n ? RESP_RC_MORE : RESP_RC_OK);
		if (rc == RESP_RC_OK)
			assert_int_equal(used, n);
		guard_release(&g);
	}
}

static void test_scan_refuses_over_limits_and_garbage(void **state)
{
	(void)state;
	const char *bad[] = {"*65\r\n", "$1025\r\n",   "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n",
	                     "%1\r\n",  "$3\r\nabcXY", ":12a\r\n",
	                     "$-2\r\n", "+a\nb\r\n",   "*99999999999\r\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t used = 0;
		assert_int_equal(resp_scan((const uint8_t *)bad[i], strlen(bad[i]), &lim, &used),
		                 RESP_RC_FAIL);
	}
	size_t used = 0;
	assert_int_equal(resp_scan((const uint8_t *)"$-1\r\n*-1\r\n", 10, &lim, &used), RESP_RC_OK);
	assert_int_equal(used, 5);
	assert_int_equal(resp_scan((const uint8_t *)"*0\r\n", 4, &lim, &used), RESP_RC_OK);
	assert_int_equal(used, 4);
}

static void test_reader_one_byte_at_a_time_gives_the_tree(void **state)
{
	(void)state;
	struct resp_reader *r = resp_reader_new(&lim);
	assert_non_null(r);
	size_t n = sizeof(view) - 1;
	struct redisReply *rep = NULL;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(resp_reader_feed(r, (const uint8_t *)view + i, 1), 0);
		enum resp_rc rc = resp_reader_next(r, &rep);
		assert_int_equal(rc, i + 1 < n ? RESP_RC_MORE : RESP_RC_OK);
	}
	assert_non_null(rep);
	assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
	assert_int_equal(rep->elements, 4);
	assert_int_equal(rep->element[0]->integer, 1700000000123LL);
	assert_string_equal(rep->element[1]->str, "a");
	resp_reply_free(rep);
	assert_int_equal(resp_reader_feed(r, (const uint8_t *)"%x\r\n", 4), 0);
	assert_int_equal(resp_reader_next(r, &rep), RESP_RC_FAIL);
	resp_reader_free(r);
}

static void test_format_command_is_resp_array(void **state)
{
	(void)state;
	const char *argv[] = {"PUBLISH", "wsgate:all", "x y"};
	char *out = NULL;
	long n = resp_format_command(&out, 3, argv, NULL);
	const char want[] = "*3\r\n$7\r\nPUBLISH\r\n$10\r\nwsgate:all\r\n$3\r\nx y\r\n";
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, sizeof(want) - 1);
	free(out);
}

static void test_msg_roundtrip_and_rejections(void **state)
{
	(void)state;
	struct resp_msg m = {.kind = {(const uint8_t *)"push", 4},
	                     .from = {(const uint8_t *)"node-a", 6},
	                     .rid = 42,
	                     .num = 1000,
	                     .arg = {(const uint8_t *)"b.17", 4},
	                     .body = {(const uint8_t *)"hello\n\0x", 8}};
	uint8_t buf[256];
	long n = resp_msg_encode(buf, sizeof(buf), &m);
	assert_true(n > 0);
	struct guard_area g;
	uint8_t *b = guard_copy(&g, buf, (size_t)n);
	struct resp_msg p;
	assert_int_equal(resp_msg_parse(b, (size_t)n, &p), RESP_RC_OK);
	assert_true(resp_view_is(p.kind, "push") && resp_view_is(p.from, "node-a"));
	assert_int_equal(p.rid, 42);
	assert_int_equal(p.num, 1000);
	assert_true(resp_view_is(p.arg, "b.17"));
	assert_int_equal(p.body.n, 8);
	/* every strict prefix that cuts the header or the arg is refused */
	size_t head = (size_t)(memchr(buf, '\n', (size_t)n) - (void *)buf) + 1;
	for (size_t cut = 0; cut < head + 4; cut++)
		assert_int_equal(resp_msg_parse(b, cut, &p), RESP_RC_FAIL);
	guard_release(&g);
	assert_int_equal(resp_msg_encode(buf, 10, &m), -1);
	const char *bad[] = {"WSG1 Push a 1 0 0\n",    "WSG1 push a.b 1 0 0\n",
	                     "WSG1 push a 01 0 0\n",   "WSG1 push a 1 4294967296 0\n",
	                     "WSG1 push a 1 0 4097\n", "WSG2 push a 1 0 0\n",
	                     "WSG1 push a 1 0\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(resp_msg_parse((const uint8_t *)bad[i], strlen(bad[i]), &p),
		                 RESP_RC_FAIL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scan_whole_reply_ok_every_prefix_more),
	    cmocka_unit_test(test_scan_refuses_over_limits_and_garbage),
	    cmocka_unit_test(test_reader_one_byte_at_a_time_gives_the_tree),
	    cmocka_unit_test(test_format_command_is_resp_array),
	    cmocka_unit_test(test_msg_roundtrip_and_rejections),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
