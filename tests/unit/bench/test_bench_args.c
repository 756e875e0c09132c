/* Tests for bench/bench_args.c: every flag in its short, long and inline forms, URLs,
 * durations, sizes, and the bad cases that must exit 2 with one line naming the culprit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bench/bench_args.h"

static struct bench_args args;
static char err[512];

#define PARSE(...)                                                                                 \
	({                                                                                         \
		char *argv_[] = {"wsgate-bench", __VA_ARGS__, NULL};                               \
		bench_args_parse(&args, (int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_, err,   \
		                 sizeof(err));                                                     \
	})

/* Bad usage: exit 2 and the message names `what`. */
#define ASSERT_USAGE(what, ...)                                                                    \
	do {                                                                                       \
		assert_int_equal(PARSE(__VA_ARGS__), BENCH_ARGS_USAGE);                            \
		if (strstr(err, what) == NULL)                                                     \
			fail_msg("error '%s' does not name '%s'", err, what);                      \
		assert_null(strchr(err, '\n'));                                                    \
	} while (0)

static void test_defaults_with_only_a_url(void **state)
{
	(void)state;
	assert_int_equal(PARSE("ws://127.0.0.1:9000/"), BENCH_ARGS_OK);
	assert_int_equal(args.conns, BENCH_DEFAULT_CONNS);
	assert_int_equal(args.threads, 0);
	assert_int_equal(args.duration_ns, BENCH_DEFAULT_DURATION_NS);
	assert_int_equal(args.size, 64);
	assert_int_equal(args.pipeline, 1);
	assert_false(args.text);
	assert_true(args.rate == 0);
	assert_false(args.idle);
	assert_false(args.json);
	assert_null(args.histogram_file);
	assert_false(args.url.tls);
	assert_string_equal(args.url.host, "127.0.0.1");
	assert_int_equal(args.url.port, 9000);
	assert_string_equal(args.url.path, "/");
	assert_string_equal(args.url.authority, "127.0.0.1:9000");
}

static void test_short_and_long_flags(void **state)
{
	(void)state;
	assert_int_equal(PARSE("-c", "100", "-t", "4", "-d", "30s", "-s", "4k", "-p", "16",
	                       "--text", "--json", "--histogram", "/tmp/h.csv", "--warmup", "2s",
	                       "--connect-rate", "500", "--src-ips", "10", "ws://h/"),
	                 BENCH_ARGS_OK);
	assert_int_equal(args.conns, 100);
	assert_int_equal(args.threads, 4);
	assert_int_equal(args.duration_ns, 30000000000ull);
	assert_int_equal(args.size, 4096);
	assert_int_equal(args.pipeline, 16);
	assert_true(args.text);
	assert_true(args.json);
	assert_string_equal(args.histogram_file, "/tmp/h.csv");
	assert_int_equal(args.warmup_ns, 2000000000ull);
	assert_true(args.connect_rate == 500);
	assert_int_equal(args.src_ips, 10);

	assert_int_equal(PARSE("--conns=7", "--threads=2", "--duration=500ms", "--size=1m",
	                       "--pipeline=3", "--binary", "ws://h/"),
	                 BENCH_ARGS_OK);
	assert_int_equal(args.conns, 7);
	assert_int_equal(args.threads, 2);
	assert_int_equal(args.duration_ns, 500000000ull);
	assert_int_equal(args.size, 1u << 20);
	assert_int_equal(args.pipeline, 3);
	assert_false(args.text);

	/* Attached short values, URL first, and "--" before a URL. */
	assert_int_equal(PARSE("ws://h/", "-c10", "-d2"), BENCH_ARGS_OK);
	assert_int_equal(args.conns, 10);
	assert_int_equal(args.duration_ns, 2000000000ull);
	assert_int_equal(PARSE("-q", "--", "ws://h/"), BENCH_ARGS_OK);
	assert_true(args.quiet);
}

static void test_open_loop_idle_and_tls_flags(void **state)
{
	(void)state;
	assert_int_equal(PARSE("--rate", "20000", "-c", "1000", "ws://h/"), BENCH_ARGS_OK);
	assert_true(args.rate == 20000);
	assert_int_equal(PARSE("--rate=2.5", "ws://h/"), BENCH_ARGS_OK);
	assert_true(args.rate == 2.5);
	assert_int_equal(PARSE("--idle", "-c", "10000", "ws://h/"), BENCH_ARGS_OK);
	assert_true(args.idle);
	/* --idle sends nothing, so any -s is fine. */
	assert_int_equal(PARSE("--idle", "-s", "1", "ws://h/"), BENCH_ARGS_OK);
	assert_int_equal(PARSE("--insecure", "wss://h/"), BENCH_ARGS_OK);
	assert_true(args.insecure);
	assert_true(args.url.tls);
	assert_int_equal(args.url.port, 443);
	assert_int_equal(PARSE("--ca", "/etc/ca.pem", "wss://h:8443/x"), BENCH_ARGS_OK);
	assert_string_equal(args.ca_file, "/etc/ca.pem");
	assert_int_equal(PARSE("--tls-resume", "--tls-version", "1.2", "wss://h/"), BENCH_ARGS_OK);
	assert_true(args.tls_resume);
	assert_int_equal(args.tls_version, 12);
	assert_int_equal(PARSE("--tls-version=1.3", "wss://h/"), BENCH_ARGS_OK);
	assert_int_equal(args.tls_version, 13);
	assert_false(args.tls_resume);
}

static void test_help_and_version_exit_zero(void **state)
{
	(void)state;
	assert_int_equal(PARSE("-h"), BENCH_ARGS_EXIT);
	assert_true(args.help);
	assert_int_equal(PARSE("--help", "--bogus"), BENCH_ARGS_EXIT);
	assert_int_equal(PARSE("-V"), BENCH_ARGS_EXIT);
	assert_true(args.version);
	assert_non_null(strstr(bench_args_usage(), "--rate"));
	assert_non_null(strstr(bench_args_usage(), "send time"));
}

static void test_urls(void **state)
{
	(void)state;
	struct bench_url u;
	char why[128];

	assert_int_equal(bench_args_parse_url(&u, "ws://example.com", why, sizeof(why)), 0);
	assert_string_equal(u.host, "example.com");
	assert_int_equal(u.port, 80);
	assert_string_equal(u.path, "/");
	assert_string_equal(u.authority, "example.com");

	assert_int_equal(
	    bench_args_parse_url(&u, "WSS://Example.com:8443/chat/room?a=1&b=2", why, sizeof(why)),
	    0);
	assert_true(u.tls);
	assert_int_equal(u.port, 8443);
	assert_string_equal(u.path, "/chat/room?a=1&b=2");
	assert_string_equal(u.authority, "Example.com:8443");

	assert_int_equal(bench_args_parse_url(&u, "ws://[::1]:9000/x", why, sizeof(why)), 0);
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 9000);
	assert_string_equal(u.authority, "[::1]:9000");

	assert_int_equal(bench_args_parse_url(&u, "ws://h?x=1", why, sizeof(why)), 0);
	assert_string_equal(u.path, "/?x=1");
	assert_int_equal(bench_args_parse_url(&u, "ws://h:65535", why, sizeof(why)), 0);
	assert_int_equal(u.port, 65535);

	static const char *const bad[] = {
	    "http://h/",     "h:80",        "ws://",       "ws:///x",   "ws://:80/", "ws://h:0/",
	    "ws://h:65536/", "ws://h:abc/", "ws://h:/",    "ws://u@h/", "ws://h/#f", "ws://[::1/",
	    "ws://[::1]x/",  "ws://h /",    "ws://h\x01/", "ws://a,b/", "wss//h/",   "ws:/h/",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (bench_args_parse_url(&u, bad[i], why, sizeof(why)) != -1)
			fail_msg("accepted bad URL '%s'", bad[i]);
		assert_true(why[0] != '\0');
	}
}

static void test_durations(void **state)
{
	(void)state;
	uint64_t ns;
	assert_int_equal(bench_args_parse_duration("500ms", &ns), 0);
	assert_int_equal(ns, 500000000ull);
	assert_int_equal(bench_args_parse_duration("2", &ns), 0);
	assert_int_equal(ns, 2000000000ull);
	assert_int_equal(bench_args_parse_duration("1.5s", &ns), 0);
	assert_int_equal(ns, 1500000000ull);
	assert_int_equal(bench_args_parse_duration("2m", &ns), 0);
	assert_int_equal(ns, 120000000000ull);
	assert_int_equal(bench_args_parse_duration("1h", &ns), 0);
	assert_int_equal(ns, 3600000000000ull);
	assert_int_equal(bench_args_parse_duration("250us", &ns), 0);
	assert_int_equal(ns, 250000ull);
	static const char *const bad[] = {"",   "s",   "-1",  "1e3", "0x10",        "1 s",
	                                  "5x", "inf", "nan", "1ss", "99999999999h"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (bench_args_parse_duration(bad[i], &ns) != -1)
			fail_msg("accepted bad duration '%s'", bad[i]);
}

static void test_sizes(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(bench_args_parse_size("64", &v), 0);
	assert_int_equal(v, 64);
	assert_int_equal(bench_args_parse_size("4k", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(bench_args_parse_size("64K", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(bench_args_parse_size("1m", &v), 0);
	assert_int_equal(v, 1048576);
	assert_int_equal(bench_args_parse_size("1g", &v), 0);
	assert_int_equal(v, 1073741824ull);
	static const char *const bad[] = {
	    "", "k", "1.5k", "4kb", "-1", "1t", " 1", "0x40", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (bench_args_parse_size(bad[i], &v) != -1)
			fail_msg("accepted bad size '%s'", bad[i]);
}

static void test_bad_flags_name_the_culprit(void **state)
{
	(void)state;
	ASSERT_USAGE("--bogus", "--bogus", "ws://h/");
	ASSERT_USAGE("-x", "-x", "ws://h/");
	ASSERT_USAGE("-c", "ws://h/", "-c");
	ASSERT_USAGE("-c", "-c", "0", "ws://h/");
	ASSERT_USAGE("-c", "-c", "-1", "ws://h/");
	ASSERT_USAGE("-c", "-c", "ten", "ws://h/");
	ASSERT_USAGE("-c", "-c", "10000001", "ws://h/");
	ASSERT_USAGE("--conns", "--conns=", "ws://h/");
	ASSERT_USAGE("-t", "-t", "0", "ws://h/");
	ASSERT_USAGE("-d", "-d", "0", "ws://h/");
	ASSERT_USAGE("-d", "-d", "5x", "ws://h/");
	ASSERT_USAGE("--warmup", "--warmup", "soon", "ws://h/");
	ASSERT_USAGE("-s", "-s", "0", "ws://h/");
	ASSERT_USAGE("-s", "-s", "65m", "ws://h/");
	ASSERT_USAGE("-p", "-p", "0", "ws://h/");
	ASSERT_USAGE("--rate", "--rate", "0", "ws://h/");
	ASSERT_USAGE("--rate", "--rate", "-5", "ws://h/");
	ASSERT_USAGE("--connect-rate", "--connect-rate", "fast", "ws://h/");
	ASSERT_USAGE("--src-ips", "--src-ips", "0", "ws://h/");
	ASSERT_USAGE("--json", "--json=1", "ws://h/");
	ASSERT_USAGE("--ca", "--ca", "", "wss://h/");
}

static void test_bad_combinations(void **state)
{
	(void)state;
	/* Timestamps: 8 bytes binary, 16 hex digits text. */
	ASSERT_USAGE("-s", "-s", "7", "ws://h/");
	assert_int_equal(PARSE("-s", "8", "ws://h/"), BENCH_ARGS_OK);
	ASSERT_USAGE("-s", "--text", "-s", "15", "ws://h/");
	assert_int_equal(PARSE("--text", "-s", "16", "ws://h/"), BENCH_ARGS_OK);
	ASSERT_USAGE("-p", "--rate", "100", "-p", "4", "ws://h/");
	ASSERT_USAGE("--idle", "--idle", "--rate", "100", "ws://h/");
	assert_int_equal(PARSE("--churn", "-c", "50", "ws://h/"), BENCH_ARGS_OK);
	assert_true(args.churn);
	ASSERT_USAGE("--rate", "--churn", "--rate", "100", "ws://h/");
	ASSERT_USAGE("-p", "--churn", "-p", "2", "ws://h/");
	ASSERT_USAGE("--idle", "--churn", "--idle", "ws://h/");
	ASSERT_USAGE("--insecure", "--insecure", "ws://h/");
	ASSERT_USAGE("--ca", "--ca", "x.pem", "ws://h/");
	ASSERT_USAGE("--insecure", "--insecure", "--ca", "x.pem", "wss://h/");
	ASSERT_USAGE("--src-ips", "--src-ips", "4", "ws://[::1]:80/");
	ASSERT_USAGE("--tls-resume", "--tls-resume", "ws://h/");
	ASSERT_USAGE("--tls-version", "--tls-version", "1.3", "ws://h/");
	ASSERT_USAGE("--tls-version", "--tls-version", "1.1", "wss://h/");
}

static void test_url_errors(void **state)
{
	(void)state;
	ASSERT_USAGE("missing URL", "-c", "10");
	ASSERT_USAGE("bad URL 'http://h/'", "http://h/");
	ASSERT_USAGE("bad URL 'ws://h:99999/'", "ws://h:99999/");
	ASSERT_USAGE("'ws://b/'", "ws://a/", "ws://b/");
}

static void test_headers_are_kept_in_order(void **state)
{
	(void)state;
	assert_int_equal(PARSE("-H", "Authorization: Bearer a.b.c",
	                       "--header=X-Empty:", "-HCookie: access_token=x; y=z", "--header",
	                       "X-Tab:\tv\xc3\xa9", "ws://h/"),
	                 BENCH_ARGS_OK);
	assert_int_equal(args.n_headers, 4);
	assert_string_equal(args.headers[0], "Authorization: Bearer a.b.c");
	assert_string_equal(args.headers[1], "X-Empty:");
	assert_string_equal(args.headers[2], "Cookie: access_token=x; y=z");
	assert_string_equal(args.headers[3], "X-Tab:\tv\xc3\xa9");
	assert_int_equal(args.headers_bytes, 27 + 2 + 8 + 2 + 27 + 2 + 10 + 2);
	assert_int_equal(PARSE("ws://h/"), BENCH_ARGS_OK);
	assert_int_equal(args.n_headers, 0);
	assert_int_equal(args.headers_bytes, 0);
	/* RFC 9110 tchar: every one of them is a valid name byte. */
	assert_int_equal(PARSE("-H", "!#$%&'*+-.^_`|~09azAZ: v", "ws://h/"), BENCH_ARGS_OK);
}

static void test_bad_headers_name_the_flag_and_value(void **state)
{
	(void)state;
	ASSERT_USAGE("-H: bad header 'NoColon'", "-H", "NoColon", "ws://h/");
	ASSERT_USAGE("-H: bad header ': v'", "-H", ": v", "ws://h/");
	ASSERT_USAGE("-H: bad header 'Bad Name: v'", "-H", "Bad Name: v", "ws://h/");
	ASSERT_USAGE("--header: bad header 'X-A : v'", "--header", "X-A : v", "ws://h/");
	ASSERT_USAGE("-H: bad header '(x): v'", "-H", "(x): v", "ws://h/");
	ASSERT_USAGE("-H", "-H", "", "ws://h/");
	ASSERT_USAGE("-H", "ws://h/", "-H");
	/* CR, LF and other control bytes would split or corrupt the request: shown escaped, so
	 * the error is still one line. */
	ASSERT_USAGE("'X-A: v\\x0d\\x0aEvil: 1'", "-H", "X-A: v\r\nEvil: 1", "ws://h/");
	ASSERT_USAGE("0x0a", "-H", "X-A: v\nw", "ws://h/");
	ASSERT_USAGE("0x01", "-H", "X-A: \x01", "ws://h/");
	ASSERT_USAGE("0x7f", "-H", "X-A: \x7f", "ws://h/");
	ASSERT_USAGE("followed by ':'", "-H", "X-A\r: v", "ws://h/");
	/* What the tool writes itself, in any case. */
	ASSERT_USAGE("sends Host itself", "-H", "host: other", "ws://h/");
	ASSERT_USAGE("Upgrade", "-H", "Upgrade: h2c", "ws://h/");
	ASSERT_USAGE("Connection", "-H", "CONNECTION: close", "ws://h/");
	ASSERT_USAGE("Sec-WebSocket-Key", "-H", "Sec-WebSocket-Key: x", "ws://h/");
	ASSERT_USAGE("Sec-WebSocket-Version", "-H", "sec-websocket-version: 8", "ws://h/");
	ASSERT_USAGE("User-Agent", "-H", "User-Agent: x", "ws://h/");
	assert_int_equal(PARSE("-H", "Sec-WebSocket-Protocol: chat", "-H", "Hosts: x", "ws://h/"),
	                 BENCH_ARGS_OK);
}

static void test_header_limits(void **state)
{
	(void)state;
	char *argv[2 * BENCH_HEADERS_MAX + 5]; /* name, 17 pairs, URL, NULL */
	int n = 0;

	argv[n++] = "wsgate-bench";
	for (unsigned i = 0; i < BENCH_HEADERS_MAX; i++) {
		argv[n++] = "-H";
		argv[n++] = "X-A: 1";
	}
	argv[n++] = "ws://h/";
	argv[n] = NULL;
	assert_int_equal(bench_args_parse(&args, n, argv, err, sizeof(err)), BENCH_ARGS_OK);
	assert_int_equal(args.n_headers, BENCH_HEADERS_MAX);
	argv[n - 1] = "-H";
	argv[n++] = "X-B: 2";
	argv[n++] = "ws://h/";
	argv[n] = NULL;
	assert_int_equal(bench_args_parse(&args, n, argv, err, sizeof(err)), BENCH_ARGS_USAGE);
	assert_non_null(strstr(err, "-H: more than 16 headers (at 'X-B: 2')"));

	/* 8 KiB in all, each line's CRLF counted: exactly the limit passes, a byte more fails. */
	static char big[BENCH_HEADERS_BYTES_MAX];
	memset(big, 'v', sizeof(big));
	memcpy(big, "X-Big: ", 7);
	big[BENCH_HEADERS_BYTES_MAX - 2] = '\0';
	assert_int_equal(PARSE("-H", big, "ws://h/"), BENCH_ARGS_OK);
	assert_int_equal(args.headers_bytes, BENCH_HEADERS_BYTES_MAX);
	ASSERT_USAGE("-H: headers over 8192 bytes in all (at 'X-A: 1')", "-H", big, "-H", "X-A: 1",
	             "ws://h/");
	big[BENCH_HEADERS_BYTES_MAX - 2] = 'v';
	big[BENCH_HEADERS_BYTES_MAX - 1] = '\0';
	ASSERT_USAGE("-H: headers over 8192 bytes", "-H", big, "ws://h/");
	assert_true(strlen(err) < 200); /* the value is shown truncated */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_with_only_a_url),
	    cmocka_unit_test(test_short_and_long_flags),
	    cmocka_unit_test(test_open_loop_idle_and_tls_flags),
	    cmocka_unit_test(test_help_and_version_exit_zero),
	    cmocka_unit_test(test_urls),
	    cmocka_unit_test(test_durations),
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_bad_flags_name_the_culprit),
	    cmocka_unit_test(test_bad_combinations),
	    cmocka_unit_test(test_url_errors),
	    cmocka_unit_test(test_headers_are_kept_in_order),
	    cmocka_unit_test(test_bad_headers_name_the_flag_and_value),
	    cmocka_unit_test(test_header_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
