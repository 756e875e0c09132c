/* Unit tests for core/access_log.c: a record renders as one JSON line that Python-style
 * parsers accept (checked here by shape: every key, null for empty strings and for no close
 * code, quotes, backslashes, control bytes and invalid UTF-8 escaped, valid UTF-8 kept), a
 * record too long for the buffer renders as nothing rather than half a line, and a full ring
 * drops and counts instead of blocking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/access_log.h"
#include "core/metrics.h"

static struct access_record base(void)
{
	struct access_record r;
	memset(&r, 0, sizeof(r));
	r.time_ms = 1796173200123ull; /* 2026-12-02T01:00:00.123Z */
	r.duration_ms = 1500;
	r.msgs_up = 3;
	r.msgs_down = 4;
	r.bytes_up = 30;
	r.bytes_down = 40;
	r.status = 101;
	r.close_code = 1000;
	r.closed_by = METRICS_SIDE_CLIENT;
	strcpy(r.id, "abcd1234.7");
	strcpy(r.peer, "127.0.0.1:5000");
	strcpy(r.route, "/chat");
	strcpy(r.backend, "ws://127.0.0.1:9000");
	strcpy(r.subject, "alice");
	return r;
}

static void test_render_shape(void **state)
{
	(void)state;
	struct access_record r = base();
	char buf[8192];
	size_t n = access_log_render(&r, buf, sizeof(buf));
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(
	    buf,
	    "{\"time\":\"2026-12-02T01:00:00.123Z\",\"id\":\"abcd1234.7\","
	    "\"peer\":\"127.0.0.1:5000\",\"route\":\"/chat\",\"backend\":\"ws://127.0.0.1:9000\","
	    "\"status\":101,\"reason\":null,\"subject\":\"alice\",\"duration_ms\":1500,"
	    "\"msgs_up\":3,\"msgs_down\":4,\"bytes_up\":30,\"bytes_down\":40,"
	    "\"close_code\":1000,\"closed_by\":\"client\"}\n");
	/* A rejection: no id, no backend, no close code, closed by the gateway. */
	r.id[0] = r.backend[0] = r.subject[0] = '\0';
	r.status = 404;
	strcpy(r.reason, "no_route");
	r.close_code = 0;
	r.closed_by = METRICS_SIDE_GATEWAY;
	n = access_log_render(&r, buf, sizeof(buf));
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\"id\":null,"));
	assert_non_null(strstr(buf, "\"backend\":null,\"status\":404,\"reason\":\"no_route\","
	                            "\"subject\":null,"));
	assert_non_null(strstr(buf, "\"close_code\":null,\"closed_by\":\"gateway\"}\n"));
	r.closed_by = ACCESS_CLOSED_BY_NONE;
	n = access_log_render(&r, buf, sizeof(buf));
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\"closed_by\":null}\n"));
}

static void test_render_escapes_whatever_a_subject_holds(void **state)
{
	(void)state;
	struct access_record r = base();
	/* quote, backslash, newline, DEL, valid 2- and 3-byte UTF-8, a lone continuation byte,
	 * an overlong form and a truncated sequence at the end */
	strcpy(r.subject, "a\"b\\c\nd\x7f"
	                  "\xc3\xa9"
	                  "\xe2\x82\xac"
	                  "\x80"
	                  "\xc0\xaf"
	                  "\xe2\x82");
	char buf[8192];
	size_t n = access_log_render(&r, buf, sizeof(buf));
	buf[n] = '\0';
	assert_non_null(strstr(buf, "\"subject\":\"a\\\"b\\\\c\\u000ad\\u007f\xc3\xa9\xe2\x82\xac"
	                            "\\u0080\\u00c0\\u00af\\u00e2\\u0082\","));
	assert_null(memchr(buf, '\n', n - 1)); /* one line */
}

static void test_render_never_cuts_a_line(void **state)
{
	(void)state;
	struct access_record r = base();
	char buf[64];
	assert_int_equal(access_log_render(&r, buf, sizeof(buf)), 0);
}

static void test_full_ring_drops_and_counts(void **state)
{
	(void)state;
	char path[] = "/tmp/wsgate-access-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char err[256];
	assert_int_equal(access_log_open(path, err, sizeof(err)), 0);
	assert_true(access_log_on());
	struct access_ring *ring = access_ring_new();
	assert_non_null(ring);
	struct access_record r = base();
	uint64_t dropped0 = access_log_dropped();
	unsigned pushed = 0;
	for (unsigned i = 0; i < 300; i++)
		pushed += access_ring_push(ring, &r) ? 1u : 0u;
	assert_int_equal(pushed, 256);
	assert_int_equal(access_log_dropped() - dropped0, 300 - 256);
	access_log_drain(&ring, 1);
	assert_true(access_ring_push(ring, &r)); /* room again after the drain */
	access_log_drain(&ring, 1);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	unsigned lines = 0;
	char line[8192];
	while (fgets(line, sizeof(line), f) != NULL) {
		assert_int_equal(line[0], '{');
		assert_non_null(strstr(line, "}\n"));
		lines++;
	}
	fclose(f);
	assert_int_equal(lines, 257);
	access_ring_free(ring);
	access_log_close();
	assert_false(access_log_on());
	unlink(path);
	assert_int_equal(access_log_open("/nonexistent-dir/x.log", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--access-log"));
	assert_non_null(strstr(err, "/nonexistent-dir/x.log"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_render_shape),
	    cmocka_unit_test(test_render_escapes_whatever_a_subject_holds),
	    cmocka_unit_test(test_render_never_cuts_a_line),
	    cmocka_unit_test(test_full_ring_drops_and_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
