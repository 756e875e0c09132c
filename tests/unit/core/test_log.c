/* Unit tests for core/log.c: line shape in text and JSON (every JSON line parses with cJSON,
 * whatever bytes the values hold), log_escape, level filtering, a full ring dropping and
 * counting without blocking, and lines from two threads all arriving through the drain. */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "core/log.h"

#define OUT_MAX (1u << 20)

static int out_fd = -1;

static int setup(void **state)
{
	(void)state;
	out_fd = memfd_create("log", 0);
	if (out_fd == -1)
		return -1;
	log_set_output_fd(out_fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	log_set_output_fd(-1);
	close(out_fd);
	out_fd = -1;
	return 0;
}

/* Everything written so far, NUL-terminated (caller frees); output starts afresh after. */
static char *take_output(size_t *len)
{
	char *buf = malloc(OUT_MAX + 1);
	size_t n = 0;

	assert_non_null(buf);
	assert_int_equal(lseek(out_fd, 0, SEEK_SET), 0);
	for (int i = 0; i < 1000 && n < OUT_MAX; i++) {
		ssize_t r = read(out_fd, buf + n, OUT_MAX - n);
		assert_true(r >= 0);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	assert_int_equal(ftruncate(out_fd, 0), 0);
	assert_int_equal(lseek(out_fd, 0, SEEK_SET), 0);
	if (len)
		*len = n;
	return buf;
}

static bool is_timestamp(const char *s)
{
	const char *pat = "dddd-dd-ddTdd:dd:dd.dddZ";
	for (size_t i = 0; pat[i]; i++) {
		if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i])
			return false;
	}
	return true;
}

struct worker_arg {
	int worker;
	int lines;
	const char *ev;
	uint64_t dropped_seen;
};

static void *worker_main(void *p)
{
	struct worker_arg *a = p;

	if (log_thread_register(a->worker) != 0)
		return NULL;
	for (int i = 0; i < a->lines; i++)
		LOG_WARN(a->ev, "seq=%d pad=\"%s\"", i,
		         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	return NULL;
}

static void test_text_line_has_timestamp_level_worker_and_event(void **state)
{
	(void)state;
	assert_int_equal(log_init(CFG_LOG_INFO, CFG_LOG_TEXT), 0);
	LOG_INFO("conn_open", "conn=%u peer=\"%s\"", 5u, "10.0.0.1:5555");
	LOG_INFO("bare", "%s", "");

	char *out = take_output(NULL);
	assert_memory_equal(out, "ts=", 3);
	assert_true(is_timestamp(out + 3));
	char *second = strchr(out, '\n') + 1;
	assert_true(
	    strncmp(out + 27, " lvl=info ev=conn_open conn=5 peer=\"10.0.0.1:5555\"\n", 51) == 0);
	assert_true(is_timestamp(second + 3));
	assert_string_equal(second + 27, " lvl=info ev=bare\n");
	free(out);

	/* A registered worker thread (no drain running: written directly) carries wrk=. */
	struct worker_arg a = {3, 1, "ws_fail", 0};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, worker_main, &a), 0);
	pthread_join(th, NULL);
	out = take_output(NULL);
	assert_true(is_timestamp(out + 3));
	assert_string_equal(out + 27, " lvl=warn wrk=3 ev=ws_fail seq=0 "
	                              "pad=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"\n");
	free(out);
	log_drain(); /* frees the exited thread's ring */
}

static void test_escape_quotes_backslashes_and_nonprintables(void **state)
{
	(void)state;
	char dst[64];
	const char src[] = "a\"b\\c\nd\xff\xc3\xa9 ok";

	log_escape(dst, sizeof(dst), src, sizeof(src) - 1, 100);
	assert_string_equal(dst, "a\\\"b\\\\c\\x0ad\\xff\\xc3\\xa9 ok");
	/* max bounds the input considered */
	log_escape(dst, sizeof(dst), src, sizeof(src) - 1, 3);
	assert_string_equal(dst, "a\\\"b");
	/* cap truncates on an escape boundary (never inside one) and always terminates */
	static const size_t boundary[] = {0, 1, 3, 4, 6, 7, 11, 12};
	const char *full = "a\\\"b\\\\c\\x0ad";
	for (size_t cap = 1; cap <= 13; cap++) {
		size_t want = 0;
		for (size_t i = 0; i < sizeof(boundary) / sizeof(boundary[0]); i++)
			if (boundary[i] <= cap - 1)
				want = boundary[i];
		memset(dst, 'Z', sizeof(dst));
		assert_ptr_equal(log_escape(dst, cap, src, sizeof(src) - 1, 100), dst);
		assert_int_equal(strlen(dst), want);
		assert_memory_equal(dst, full, want);
	}
	assert_string_equal(log_escape(dst, 1, src, sizeof(src) - 1, 100), "");
	log_escape(dst, sizeof(dst), NULL, 0, 10);
	assert_string_equal(dst, "");
}

/* Parses one JSON line, checking the keys every line has. */
static cJSON *parse_line(const char *line, size_t n, const char *lvl, const char *ev)
{
	cJSON *j = cJSON_ParseWithLength(line, n);
	if (j == NULL)
		fail_msg("not JSON: %.*s", (int)n, line);
	assert_true(cJSON_IsObject(j));
	cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "ts");
	assert_true(cJSON_IsString(ts) && is_timestamp(ts->valuestring));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "lvl")->valuestring, lvl);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "ev")->valuestring, ev);
	assert_string_equal(j->child->string, "ts");
	return j;
}

static void test_json_line_is_valid_json_whatever_the_bytes(void **state)
{
	(void)state;
	char esc[256];
	const char peer[] = "x\"y\\z\n\r\t\x01\x7f\xff\xfe\xc3\xa9\xe2\x82";

	assert_int_equal(log_init(CFG_LOG_DEBUG, CFG_LOG_JSON), 0);
	log_escape(esc, sizeof(esc), peer, sizeof(peer) - 1, 200);
	LOG_WARN("ws_fail", "conn=%llu code=%u why=\"%s\" neg=-12 f=1.5e3 lead=007", 8812ULL, 1002u,
	         esc);
	/* Unescaped raw bytes (a careless caller): still valid JSON and still one line. */
	LOG_ERROR("raw", "bare=%s q=\"%s\" stray words here", peer, peer);
	LOG_DEBUG("utf8", "name=\"caf\xc3\xa9\" emoji=\xf0\x9f\x98\x80");
	LOG_INFO("empty", "%s", "");

	size_t len;
	char *out = take_output(&len);
	char *line = out, *nl;
	int lines = 0;
	while ((nl = strchr(line, '\n')) != NULL && lines < 10) {
		size_t n = (size_t)(nl - line);
		cJSON *j;
		switch (lines) {
		case 0:
			j = parse_line(line, n, "warn", "ws_fail");
			assert_int_equal(cJSON_GetObjectItem(j, "conn")->valuedouble, 8812);
			assert_true(cJSON_IsNumber(cJSON_GetObjectItem(j, "code")));
			assert_int_equal(cJSON_GetObjectItem(j, "code")->valueint, 1002);
			assert_int_equal(cJSON_GetObjectItem(j, "neg")->valueint, -12);
			assert_true(cJSON_GetObjectItem(j, "f")->valuedouble == 1500.0);
			assert_string_equal(cJSON_GetObjectItem(j, "lead")->valuestring, "007");
			assert_string_equal(cJSON_GetObjectItem(j, "why")->valuestring,
			                    "x\"y\\z\\x0a\\x0d\\x09\\x01\\x7f\\xff\\xfe\\xc3\\xa9"
			                    "\\xe2\\x82");
			break;
		case 1:
			j = parse_line(line, n, "error", "raw");
			assert_non_null(cJSON_GetObjectItem(j, "bare"));
			assert_non_null(cJSON_GetObjectItem(j, "q"));
			/* The raw quote ends q's value early; what follows lands in msg. */
			const char *msg = cJSON_GetObjectItem(j, "msg")->valuestring;
			assert_non_null(strstr(msg, "stray words here"));
			break;
		case 2:
			j = parse_line(line, n, "debug", "utf8");
			assert_string_equal(cJSON_GetObjectItem(j, "name")->valuestring,
			                    "caf\xc3\xa9");
			assert_string_equal(cJSON_GetObjectItem(j, "emoji")->valuestring,
			                    "\xf0\x9f\x98\x80");
			break;
		default:
			j = parse_line(line, n, "info", "empty");
			break;
		}
		cJSON_Delete(j);
		line = nl + 1;
		lines++;
	}
	assert_int_equal(lines, 4);
	assert_int_equal((size_t)(line - out), len);
	free(out);
}

static void test_overlong_line_is_cut_closed_and_marked(void **state)
{
	(void)state;
	char big[2000];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int fmt = CFG_LOG_TEXT; fmt <= CFG_LOG_JSON; fmt++) {
		assert_int_equal(log_init(CFG_LOG_INFO, (enum cfg_log_format)fmt), 0);
		LOG_INFO("big", "k=1 v=\"%s\"", big);
		LOG_INFO("big", "k=2 v=\"%.450s\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\\"", big);
		size_t len;
		char *out = take_output(&len);
		char *second = strchr(out, '\n') + 1;
		if (fmt == CFG_LOG_TEXT) {
			assert_true(second - out <= 512);
			assert_memory_equal(second - 10, "\" trunc=1\n", 10);
			assert_memory_equal(out + len - 10, "\" trunc=1\n", 10);
		} else {
			for (char *l = out; l < out + len; l = strchr(l, '\n') + 1) {
				cJSON *j =
				    parse_line(l, (size_t)(strchr(l, '\n') - l), "info", "big");
				assert_int_equal(cJSON_GetObjectItem(j, "trunc")->valueint, 1);
				cJSON_Delete(j);
			}
		}
		free(out);
	}
}

static void test_levels_below_the_configured_one_are_filtered(void **state)
{
	(void)state;
	assert_int_equal(log_init(CFG_LOG_WARN, CFG_LOG_TEXT), 0);
	assert_false(log_enabled(CFG_LOG_DEBUG));
	assert_false(log_enabled(CFG_LOG_INFO));
	assert_true(log_enabled(CFG_LOG_WARN));
	assert_true(log_enabled(CFG_LOG_ERROR));
	LOG_DEBUG("d", "x=%d", 1);
	LOG_INFO("i", "x=%d", 2);
	LOG_WARN("w", "x=%d", 3);
	LOG_ERROR("e", "x=%d", 4);
	char *out = take_output(NULL);
	assert_null(strstr(out, "ev=d "));
	assert_null(strstr(out, "ev=i "));
	assert_non_null(strstr(out, "lvl=warn ev=w x=3\n"));
	assert_non_null(strstr(out, "lvl=error ev=e x=4\n"));
	free(out);
	assert_int_equal(log_init((enum cfg_log_level)9, CFG_LOG_TEXT), -1);
}

struct reader_arg {
	int fd;
	int lines;
};

static void *reader_main(void *p)
{
	struct reader_arg *r = p;
	char buf[4096];
	ssize_t n;

	while ((n = read(r->fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			r->lines += buf[i] == '\n';
	return NULL;
}

static void test_full_ring_drops_and_counts_without_blocking(void **state)
{
	(void)state;
	int p[2];
	enum { LINES = 5000 };

	assert_int_equal(log_init(CFG_LOG_INFO, CFG_LOG_TEXT), 0);
	assert_int_equal(pipe(p), 0);
	fcntl(p[1], F_SETPIPE_SZ, 4096);
	log_set_output_fd(p[1]);
	uint64_t dropped0 = log_dropped_total();

	/* Nobody reads the pipe: the drain thread blocks in write(2) once it is full, so the
	 * worker's ring fills and must drop rather than wait. */
	assert_int_equal(log_start_drain(), 0);
	struct worker_arg a = {1, LINES, "flood", 0};
	pthread_t th, rd;
	assert_int_equal(pthread_create(&th, NULL, worker_main, &a), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	uint64_t dropped = log_dropped_total() - dropped0;
	assert_true(dropped > 0);
	assert_true(dropped < LINES);

	struct reader_arg r = {p[0], 0};
	assert_int_equal(pthread_create(&rd, NULL, reader_main, &r), 0);
	log_stop_drain();
	log_set_output_fd(out_fd);
	close(p[1]);
	assert_int_equal(pthread_join(rd, NULL), 0);
	close(p[0]);
	assert_int_equal(log_dropped_total() - dropped0, dropped); /* survives the ring's free */
	assert_int_equal((uint64_t)r.lines + dropped, LINES);
}

static void test_lines_from_two_threads_all_arrive_through_the_drain(void **state)
{
	(void)state;
	enum { PER = 200 }; /* below the ring size: nothing may drop */
	struct worker_arg a = {0, PER, "ta", 0}, b = {1, PER, "tb", 0};
	pthread_t ta, tb;

	assert_int_equal(log_init(CFG_LOG_INFO, CFG_LOG_JSON), 0);
	uint64_t dropped0 = log_dropped_total();
	assert_int_equal(log_start_drain(), 0);
	assert_int_equal(log_start_drain(), 0); /* idempotent */
	assert_int_equal(pthread_create(&ta, NULL, worker_main, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, worker_main, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	log_stop_drain();
	log_stop_drain(); /* idempotent */
	assert_int_equal(log_dropped_total(), dropped0);

	size_t len;
	char *out = take_output(&len);
	int next[2] = {0, 0}, lines = 0;
	for (char *l = out, *nl; (nl = strchr(l, '\n')) != NULL && lines < 2 * PER + 1;
	     l = nl + 1, lines++) {
		cJSON *j = cJSON_ParseWithLength(l, (size_t)(nl - l));
		assert_non_null(j);
		int w = cJSON_GetObjectItem(j, "wrk")->valueint;
		assert_true(w == 0 || w == 1);
		assert_string_equal(cJSON_GetObjectItem(j, "ev")->valuestring, w ? "tb" : "ta");
		assert_int_equal(cJSON_GetObjectItem(j, "seq")->valueint, next[w]); /* in order */
		next[w]++;
		cJSON_Delete(j);
	}
	assert_int_equal(lines, 2 * PER);
	assert_int_equal(next[0], PER);
	assert_int_equal(next[1], PER);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_text_line_has_timestamp_level_worker_and_event,
	                                    setup, teardown),
	    cmocka_unit_test(test_escape_quotes_backslashes_and_nonprintables),
	    cmocka_unit_test_setup_teardown(test_json_line_is_valid_json_whatever_the_bytes, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_overlong_line_is_cut_closed_and_marked, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_levels_below_the_configured_one_are_filtered,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_full_ring_drops_and_counts_without_blocking, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_lines_from_two_threads_all_arrive_through_the_drain, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
