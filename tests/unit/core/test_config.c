/* Unit tests for core/config.c: every flag's good value, defaults, --flag=value and short
 * forms, repeatable flags, each bad-input class giving CFG_RC_USAGE with one line naming the
 * flag (or JSON key) and the value, the JSON file with flags overriding it, and
 * config_print_json output read back as a --config file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "core/config.h"

#define MAX_ARGS 96

struct run {
	struct wsg_config cfg;
	enum cfg_rc rc;
	char err[1024];
	char *out; /* what went to `out` */
	size_t out_len;
};

/* Runs config_parse_args on a NULL-terminated list (argv[0] added). */
static void run_argv(struct run *r, const char *const *args)
{
	char *argv[MAX_ARGS];
	int argc = 0;
	FILE *out;

	memset(r, 0, sizeof(*r));
	argv[argc++] = (char *)"wsgate";
	for (; *args != NULL && argc < MAX_ARGS - 1; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	out = open_memstream(&r->out, &r->out_len);
	assert_non_null(out);
	r->rc = config_parse_args(&r->cfg, argc, argv, out, r->err, sizeof(r->err));
	fclose(out);
}

#define RUN(r, ...)                                                                                \
	do {                                                                                       \
		const char *const args_[] = {__VA_ARGS__, NULL};                                   \
		run_argv((r), args_);                                                              \
	} while (0)

static void run_fini(struct run *r)
{
	config_fini(&r->cfg);
	free(r->out);
	r->out = NULL;
}

static void expect_ok(struct run *r)
{
	if (r->rc != CFG_RC_OK)
		fail_msg("expected OK, got %d: %s", r->rc, r->err);
}

/* The error contract: usage, one line, "wsgate: " first, naming the flag and the value. */
static void expect_usage(struct run *r, const char *flag, const char *value)
{
	if (r->rc != CFG_RC_USAGE)
		fail_msg("expected usage error naming %s %s, got rc %d", flag, value, r->rc);
	assert_null(strchr(r->err, '\n'));
	assert_true(strncmp(r->err, "wsgate: ", 8) == 0);
	if (flag != NULL && strstr(r->err, flag) == NULL)
		fail_msg("error does not name %s: %s", flag, r->err);
	if (value != NULL && strstr(r->err, value) == NULL)
		fail_msg("error does not name %s: %s", value, r->err);
	run_fini(r);
}

/* Temp files live until unlinked by the test. */
static void write_tmp(char *path, size_t cap, const char *content)
{
	snprintf(path, cap, "/tmp/wsg_test_config_XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(content);
	assert_int_equal(write(fd, content, n), (ssize_t)n);
	close(fd);
}

static void test_defaults_match_the_header(void **state)
{
	(void)state;
	struct run r;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	RUN(&r, "--check-config");
	expect_ok(&r);
	assert_true(r.cfg.check_config);
	assert_int_equal(r.cfg.n_listen, 1);
	assert_string_equal(r.cfg.listen[0].text, "0.0.0.0:8080");
	assert_int_equal(r.cfg.listen[0].ss.ss_family, AF_INET);
	assert_int_equal(r.cfg.n_tls_listen, 0);
	assert_int_equal(r.cfg.n_tls_pairs, 0);
	assert_int_equal(r.cfg.n_routes, 0);
	assert_int_equal(r.cfg.workers, cpus > 1024 ? 1024 : cpus);
	assert_false(r.cfg.admin_off);
	assert_string_equal(r.cfg.admin.text, "127.0.0.1:9090");
	assert_null(r.cfg.admin_token);
	assert_int_equal(r.cfg.max_conns, 100000);
	assert_int_equal(r.cfg.max_conns_per_ip, 0);
	assert_int_equal(r.cfg.conn_rate.per_sec, 0);
	assert_int_equal(r.cfg.msg_rate.per_sec, 0);
	assert_int_equal(r.cfg.max_message, 1024 * 1024);
	assert_int_equal(r.cfg.handshake_timeout_ms, 10000);
	assert_int_equal(r.cfg.idle_timeout_ms, 300000);
	assert_int_equal(r.cfg.ping_interval_ms, 30000);
	assert_int_equal(r.cfg.connect_timeout_ms, 5000);
	assert_int_equal(r.cfg.drain_timeout_ms, 30000);
	assert_int_equal(r.cfg.n_allow_origin, 0);
	assert_null(r.cfg.jwt_secret);
	assert_int_equal(r.cfg.auth, CFG_AUTH_UNSET);
	assert_int_equal(r.cfg.lb, RT_LB_ROUND_ROBIN);
	assert_int_equal(r.cfg.health_interval_ms, 5000);
	assert_null(r.cfg.health_path);
	assert_false(r.cfg.trust_forwarded);
	assert_false(r.cfg.admin_reuse_port);
	assert_false(r.cfg.max_conns_set); /* the default is not "given" */
	assert_int_equal(r.cfg.log_level, CFG_LOG_INFO);
	assert_int_equal(r.cfg.log_format, CFG_LOG_TEXT);
	assert_null(r.cfg.access_log);
	assert_null(r.cfg.config_file);
	assert_int_equal(r.out_len, 0);
	run_fini(&r);
}

static void test_every_flag_takes_a_good_value(void **state)
{
	(void)state;
	char cert[64], key[64], secret[64], pub[64];
	struct run r;

	write_tmp(cert, sizeof(cert), "CERT");
	write_tmp(key, sizeof(key), "KEY");
	write_tmp(secret, sizeof(secret), "s3cret\n");
	write_tmp(pub, sizeof(pub), "PUB");
	RUN(&r, "--listen", "127.0.0.1:8081", "--tls-listen", "[::1]:8443", "--tls-cert", cert,
	    "--tls-key", key, "--route",
	    "/chat=ws://127.0.0.1:9001,wss://localhost:9002/api;lb=least-conn;auth=off;"
	    "origin=https://a.example;origin=https://b.example;max-message=64k;msg-rate=10/20;"
	    "strip-prefix=true;subprotocol=chat",
	    "--workers", "3", "--admin", "127.0.0.1:9191", "--admin-reuse-port", "--admin-token",
	    "tok", "--max-conns", "500", "--max-conns-per-ip", "7", "--conn-rate", "5/10",
	    "--msg-rate", "100", "--max-message", "2m", "--handshake-timeout", "1500ms",
	    "--idle-timeout", "2m", "--ping-interval", "0", "--connect-timeout", "3",
	    "--drain-timeout", "1h", "--allow-origin", "https://x.example", "--jwt-secret-file",
	    secret, "--jwt-public-key", pub, "--jwt-issuer", "iss", "--jwt-audience", "aud",
	    "--auth", "optional", "--lb", "header-hash:X-User", "--health-interval", "250ms",
	    "--health-path", "/healthz", "--trust-forwarded", "--log-level", "debug",
	    "--log-format", "json", "--access-log", "-", "--check-config");
	expect_ok(&r);
	struct wsg_config *c = &r.cfg;
	assert_int_equal(c->n_listen, 1);
	assert_string_equal(c->listen[0].text, "127.0.0.1:8081");
	assert_int_equal(c->n_tls_listen, 1);
	assert_string_equal(c->tls_listen[0].text, "[::1]:8443");
	assert_int_equal(c->tls_listen[0].ss.ss_family, AF_INET6);
	assert_int_equal(c->n_tls_pairs, 1);
	assert_string_equal(c->tls_cert[0], cert);
	assert_string_equal(c->tls_key[0], key);

	assert_int_equal(c->n_routes, 1);
	struct rt_route_def *d = &c->routes[0];
	assert_string_equal(d->path, "/chat");
	assert_int_equal(d->n_backends, 2);
	assert_string_equal(d->backends[0].host, "127.0.0.1");
	assert_int_equal(d->backends[0].port, 9001);
	assert_int_equal(d->backends[0].addr.ss_family, AF_INET);
	assert_true(d->backends[0].addr_len > 0);
	assert_true(d->backends[1].tls);
	assert_string_equal(d->backends[1].path, "/api");
	assert_true(d->backends[1].addr_len > 0);
	assert_true(d->has_lb);
	assert_int_equal(d->lb, RT_LB_LEAST_CONN);
	assert_int_equal(d->auth, RT_AUTH_OFF);
	assert_int_equal(d->n_origins, 2);
	assert_string_equal(d->origins[1], "https://b.example");
	assert_int_equal(d->max_message, 65536);
	assert_int_equal(d->msg_rate, 10);
	assert_int_equal(d->msg_burst, 20);
	assert_true(d->strip_prefix);
	assert_string_equal(d->subprotocol, "chat");

	assert_int_equal(c->workers, 3);
	assert_string_equal(c->admin.text, "127.0.0.1:9191");
	assert_string_equal(c->admin_token, "tok");
	assert_true(c->admin_reuse_port);
	assert_int_equal(c->max_conns, 500);
	assert_true(c->max_conns_set);
	assert_int_equal(c->max_conns_per_ip, 7);
	assert_int_equal(c->conn_rate.per_sec, 5);
	assert_int_equal(c->conn_rate.burst, 10);
	assert_int_equal(c->msg_rate.per_sec, 100);
	assert_int_equal(c->msg_rate.burst, 100);
	assert_int_equal(c->max_message, 2 * 1024 * 1024);
	assert_int_equal(c->handshake_timeout_ms, 1500);
	assert_int_equal(c->idle_timeout_ms, 120000);
	assert_int_equal(c->ping_interval_ms, 0);
	assert_int_equal(c->connect_timeout_ms, 3000);
	assert_int_equal(c->drain_timeout_ms, 3600000);
	assert_int_equal(c->n_allow_origin, 1);
	assert_string_equal(c->allow_origin[0], "https://x.example");
	assert_string_equal(c->jwt_secret, "s3cret");
	assert_string_equal(c->jwt_secret_file, secret);
	assert_int_equal(c->n_jwt_public_keys, 1);
	assert_string_equal(c->jwt_public_keys[0], pub);
	assert_string_equal(c->jwt_issuer, "iss");
	assert_string_equal(c->jwt_audience, "aud");
	assert_int_equal(c->auth, CFG_AUTH_OPTIONAL);
	assert_int_equal(c->lb, RT_LB_HEADER_HASH);
	assert_string_equal(c->lb_header, "X-User");
	assert_int_equal(c->health_interval_ms, 250);
	assert_string_equal(c->health_path, "/healthz");
	assert_true(c->trust_forwarded);
	assert_int_equal(c->log_level, CFG_LOG_DEBUG);
	assert_int_equal(c->log_format, CFG_LOG_JSON);
	assert_string_equal(c->access_log, "-");
	assert_true(c->check_config);
	run_fini(&r);
	unlink(cert);
	unlink(key);
	unlink(secret);
	unlink(pub);
}

static void test_equals_and_short_forms(void **state)
{
	(void)state;
	struct run r;

	RUN(&r, "--listen=127.0.0.1:7000", "-l", "[::1]:7001", "-w", "2", "--idle-timeout=45s",
	    "-r", "/a=ws://127.0.0.1:1", "--route=/b=ws://127.0.0.1:2", "--admin=off",
	    "--lb=ip-hash", "--log-level=warn", "--access-log=off", "--jwt-secret=k",
	    "--auth=required");
	expect_ok(&r);
	assert_int_equal(r.cfg.n_listen, 2);
	assert_string_equal(r.cfg.listen[1].text, "[::1]:7001");
	assert_int_equal(r.cfg.workers, 2);
	assert_int_equal(r.cfg.idle_timeout_ms, 45000);
	assert_int_equal(r.cfg.n_routes, 2);
	assert_string_equal(r.cfg.routes[1].path, "/b");
	assert_true(r.cfg.admin_off);
	assert_int_equal(r.cfg.lb, RT_LB_IP_HASH);
	assert_int_equal(r.cfg.log_level, CFG_LOG_WARN);
	assert_null(r.cfg.access_log);
	assert_string_equal(r.cfg.jwt_secret, "k");
	assert_null(r.cfg.jwt_secret_file);
	assert_int_equal(r.cfg.auth, CFG_AUTH_REQUIRED);
	run_fini(&r);

	RUN(&r, "-w4", "-llocalhost:7002", "--log-format", "text", "--lb", "round-robin", "--auth",
	    "off", "--log-level", "error");
	expect_ok(&r);
	assert_int_equal(r.cfg.workers, 4);
	assert_string_equal(r.cfg.listen[0].text, "127.0.0.1:7002"); /* resolved */
	assert_int_equal(r.cfg.auth, CFG_AUTH_OFF);
	assert_int_equal(r.cfg.log_level, CFG_LOG_ERROR);
	run_fini(&r);
}

static void test_repeatable_flags_accumulate_and_last_value_wins(void **state)
{
	(void)state;
	struct run r;

	RUN(&r, "--allow-origin", "https://a", "--allow-origin", "*", "--workers", "2", "-w", "5",
	    "--listen", "127.0.0.1:1", "--listen", "127.0.0.1:2", "--listen", "127.0.0.1:3");
	expect_ok(&r);
	assert_int_equal(r.cfg.n_allow_origin, 2);
	assert_string_equal(r.cfg.allow_origin[1], "*");
	assert_int_equal(r.cfg.workers, 5);
	assert_int_equal(r.cfg.n_listen, 3); /* the default is replaced, not kept */
	assert_string_equal(r.cfg.listen[2].text, "127.0.0.1:3");
	run_fini(&r);
}

static void test_size_duration_and_address_parsers(void **state)
{
	(void)state;
	uint64_t v;
	struct cfg_addr a;

	assert_int_equal(config_parse_size("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_size("10", &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(config_parse_size("64k", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(config_parse_size("3M", &v), 0);
	assert_int_equal(v, 3u << 20);
	assert_int_equal(config_parse_size("2g", &v), 0);
	assert_int_equal(v, 2ull << 30);
	assert_int_equal(config_parse_size("17179869183g", &v), 0);
	assert_int_equal(config_parse_size("17179869184g", &v), -1); /* 2^64 */
	assert_int_equal(config_parse_size("18446744073709551616", &v), -1);
	static const char *const bad_sizes[] = {"",   "k",  "-1",   "1x", "1kb",
	                                        " 1", "1 ", "1.5m", "+1"};
	for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++)
		assert_int_equal(config_parse_size(bad_sizes[i], &v), -1);

	assert_int_equal(config_parse_duration_ms("7", &v), 0);
	assert_int_equal(v, 7000);
	assert_int_equal(config_parse_duration_ms("7s", &v), 0);
	assert_int_equal(v, 7000);
	assert_int_equal(config_parse_duration_ms("250ms", &v), 0);
	assert_int_equal(v, 250);
	assert_int_equal(config_parse_duration_ms("2m", &v), 0);
	assert_int_equal(v, 120000);
	assert_int_equal(config_parse_duration_ms("3h", &v), 0);
	assert_int_equal(v, 10800000);
	assert_int_equal(config_parse_duration_ms("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_duration_ms("18446744073709551615ms", &v), 0);
	assert_int_equal(config_parse_duration_ms("18446744073709551615s", &v), -1);
	assert_int_equal(config_parse_duration_ms("5124095576030432h", &v), -1);
	static const char *const bad_durs[] = {
	    "", "s", "-1", "5x", "5sec", "1.5s", " 5", "5 ", "5S", "ms", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad_durs) / sizeof(bad_durs[0]); i++)
		assert_int_equal(config_parse_duration_ms(bad_durs[i], &v), -1);

	assert_int_equal(config_parse_addr("10.1.2.3:65535", &a), 0);
	assert_string_equal(a.text, "10.1.2.3:65535");
	assert_int_equal(config_parse_addr("[::]:80", &a), 0);
	assert_string_equal(a.text, "[::]:80");
	assert_int_equal(a.len, sizeof(struct sockaddr_in6));
	assert_int_equal(config_parse_addr("localhost:1", &a), 0);
	static const char *const bad_addrs[] = {"",
	                                        "8080",
	                                        ":8080",
	                                        "1.2.3.4",
	                                        "1.2.3.4:",
	                                        "1.2.3.4:0",
	                                        "1.2.3.4:65536",
	                                        "1.2.3.4:80x",
	                                        "::1:80",
	                                        "[::1]",
	                                        "[::1]80",
	                                        "[1.2.3.4]:80",
	                                        "[zz::1]:80",
	                                        "no-such-host.invalid:80"};
	for (size_t i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++)
		if (config_parse_addr(bad_addrs[i], &a) != -1)
			fail_msg("accepted address %s", bad_addrs[i]);
}

static void test_route_spec_parses_keys(void **state)
{
	(void)state;
	struct rt_route_def d;
	char err[256];

	assert_int_equal(config_parse_route("/x=ws://h:1, ws://h:2 ; lb=header-hash:X-Id; "
	                                    "auth=required;strip-prefix=false;",
	                                    &d, err, sizeof(err)),
	                 0);
	assert_string_equal(d.path, "/x");
	assert_int_equal(d.n_backends, 2);
	assert_int_equal(d.lb, RT_LB_HEADER_HASH);
	assert_string_equal(d.lb_header, "X-Id");
	assert_int_equal(d.auth, RT_AUTH_REQUIRED);
	assert_false(d.strip_prefix);
	assert_null(d.subprotocol);
	assert_int_equal(d.backends[0].addr_len, 0); /* not resolved here */
	rt_route_def_fini(&d);

	static const struct {
		const char *spec, *needle;
	} bad[] = {
	    {"/x", "no backend"},
	    {"/x=", "no backend"},
	    {"/x=;lb=ip-hash", "no backend"},
	    {"x=ws://h:1", "\"x\""},
	    {"/x=ws://h:1,,ws://h:2", "empty backend"},
	    {"/x=http://h:1", "http://h:1"},
	    {"/x=ws://h:1;colour=red", "colour"},
	    {"/x=ws://h:1;lb", "\"lb\""},
	    {"/x=ws://h:1;lb=random", "random"},
	    {"/x=ws://h:1;lb=header-hash:", "header-hash:"},
	    {"/x=ws://h:1;auth=maybe", "maybe"},
	    {"/x=ws://h:1;max-message=0", "max-message"},
	    {"/x=ws://h:1;max-message=9x", "9x"},
	    {"/x=ws://h:1;msg-rate=0", "msg-rate"},
	    {"/x=ws://h:1;msg-rate=5/", "5/"},
	    {"/x=ws://h:1;strip-prefix=yes", "yes"},
	    {"/x=ws://h:1;subprotocol=", "subprotocol"},
	    {"/x=ws://h:1;subprotocol=a,b", "a,b"},
	    {"/x=ws://h:1;origin=", "origin"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (config_parse_route(bad[i].spec, &d, err, sizeof(err)) != -1)
			fail_msg("accepted %s", bad[i].spec);
		if (strstr(err, bad[i].needle) == NULL)
			fail_msg("%s: error \"%s\" lacks %s", bad[i].spec, err, bad[i].needle);
		assert_null(d.path);
		assert_null(d.backends);
	}
}

static void test_bad_flags_name_flag_and_value(void **state)
{
	(void)state;
	struct run r;

	RUN(&r, "--bogus");
	expect_usage(&r, "--bogus", NULL);
	RUN(&r, "--bogus=secret");
	expect_usage(&r, "--bogus", NULL);
	assert_null(strstr(r.err, "secret"));
	RUN(&r, "-x");
	expect_usage(&r, "-x", NULL);
	RUN(&r, "stray");
	expect_usage(&r, "stray", NULL);
	RUN(&r, "--workers");
	expect_usage(&r, "--workers", "missing value");
	RUN(&r, "-r");
	expect_usage(&r, "--route", "missing value");
	RUN(&r, "--trust-forwarded=yes");
	expect_usage(&r, "--trust-forwarded", "yes");
	RUN(&r, "--check-config=1");
	expect_usage(&r, "--check-config", "1");
	RUN(&r, "--admin-reuse-port=yes");
	expect_usage(&r, "--admin-reuse-port", "yes");
}

static void test_bad_values_name_flag_and_value(void **state)
{
	(void)state;
	static const struct {
		const char *flag, *value, *named_flag;
	} bad[] = {
	    {"--listen", "1.2.3.4", NULL},
	    {"--listen", "1.2.3.4:0", NULL},
	    {"--listen", "1.2.3.4:70000", NULL},
	    {"--listen", "[::1:80", NULL},
	    {"-l", "no-such-host.invalid:80", "--listen"},
	    {"--tls-listen", "localhost", NULL},
	    {"--admin", "on", NULL},
	    {"--admin", "127.0.0.1:", NULL},
	    {"--idle-timeout", "5x", NULL},
	    {"--idle-timeout", "-5", NULL},
	    {"--idle-timeout", "", NULL},
	    {"--idle-timeout", "0", NULL},
	    {"--handshake-timeout", "99999999999999999999", NULL},
	    {"--ping-interval", "1.5s", NULL},
	    {"--connect-timeout", "5 s", NULL},
	    {"--drain-timeout", "forever", NULL},
	    {"--health-interval", "1d", NULL},
	    {"--max-message", "17179869184g", NULL},
	    {"--max-message", "1t", NULL},
	    {"--max-message", "0", NULL},
	    {"-w", "0", "--workers"},
	    {"--workers", "1025", NULL},
	    {"--workers", "two", NULL},
	    {"--workers", "-1", NULL},
	    {"--max-conns", "0", NULL},
	    {"--max-conns-per-ip", "-3", NULL},
	    {"--conn-rate", "fast", NULL},
	    {"--conn-rate", "5/0", NULL},
	    {"--msg-rate", "5/x", NULL},
	    {"--lb", "random", NULL},
	    {"--lb", "header-hash:", NULL},
	    {"--auth", "sometimes", NULL},
	    {"--log-level", "verbose", NULL},
	    {"--log-format", "xml", NULL},
	    {"--health-path", "healthz", NULL},
	    {"--allow-origin", "", NULL},
	    {"--tls-cert", "/nonexistent/cert.pem", NULL},
	    {"--jwt-public-key", "/nonexistent/key.pem", NULL},
	    {"--jwt-secret-file", "/nonexistent/secret", NULL},
	    {"--config", "/nonexistent/wsgate.json", NULL},
	    {"-r", "/chat", "--route"},
	    {"--route", "/chat=", NULL},
	    {"--route", "/chat=ftp://h:1", NULL},
	    {"--route", "/chat=ws://h:0", NULL},
	    {"--route", "/chat=ws://127.0.0.1:1;color=red", NULL},
	    {"--route", "/chat=ws://no-such-host.invalid:1", NULL},
	};
	struct run r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		RUN(&r, bad[i].flag, bad[i].value);
		expect_usage(&r, bad[i].named_flag ? bad[i].named_flag : bad[i].flag,
		             bad[i].value[0] ? bad[i].value : NULL);
	}

	/* the example wording */
	RUN(&r, "--idle-timeout", "5x");
	assert_non_null(strstr(r.err, "wsgate: --idle-timeout: invalid duration \"5x\""));
	run_fini(&r);
	RUN(&r, "--route", "/chat");
	assert_string_equal(r.err, "wsgate: --route \"/chat\": no backend");
	run_fini(&r);
}

static void test_secrets_are_not_echoed_in_errors(void **state)
{
	(void)state;
	struct run r;

	RUN(&r, "--jwt-secret", "");
	expect_usage(&r, "--jwt-secret", NULL);
	RUN(&r, "--admin-token", "");
	expect_usage(&r, "--admin-token", NULL);
	/* auth required without a key is refused */
	RUN(&r, "--auth", "required");
	expect_usage(&r, "--auth", "required");
	RUN(&r, "--route", "/a=ws://127.0.0.1:1;auth=optional");
	expect_usage(&r, "--route", "/a");
}

static void test_cross_checks(void **state)
{
	(void)state;
	char cert[64], key[64];
	struct run r;

	write_tmp(cert, sizeof(cert), "C");
	write_tmp(key, sizeof(key), "K");
	RUN(&r, "--tls-cert", cert);
	expect_usage(&r, "--tls-cert", cert);
	RUN(&r, "--tls-key", key);
	expect_usage(&r, "--tls-key", key);
	RUN(&r, "--tls-cert", cert, "--tls-key", key, "--tls-cert", cert);
	expect_usage(&r, "--tls-key", cert);
	RUN(&r, "--tls-listen", "127.0.0.1:8443");
	expect_usage(&r, "--tls-listen", "127.0.0.1:8443");
	RUN(&r, "--route", "/chat=ws://127.0.0.1:1", "--route", "/x=ws://127.0.0.1:2", "--route",
	    "/chat=ws://127.0.0.1:3");
	expect_usage(&r, "--route", "/chat");
	RUN(&r, "--tls-cert", cert, "--tls-key", key, "--tls-cert", cert, "--tls-key", key,
	    "--tls-listen", "127.0.0.1:8443");
	expect_ok(&r);
	assert_int_equal(r.cfg.n_tls_pairs, 2);
	run_fini(&r);
	unlink(cert);
	unlink(key);
}

static void test_help_and_version_exit(void **state)
{
	(void)state;
	struct run r;
	static const char *const flags[] = {"--listen",
	                                    "--tls-listen",
	                                    "--tls-cert",
	                                    "--tls-key",
	                                    "--route",
	                                    "--config",
	                                    "--workers",
	                                    "--admin",
	                                    "--admin-reuse-port",
	                                    "--admin-token",
	                                    "--max-conns",
	                                    "--max-conns-per-ip",
	                                    "--conn-rate",
	                                    "--msg-rate",
	                                    "--max-message",
	                                    "--handshake-timeout",
	                                    "--idle-timeout",
	                                    "--ping-interval",
	                                    "--connect-timeout",
	                                    "--drain-timeout",
	                                    "--allow-origin",
	                                    "--jwt-secret",
	                                    "--jwt-secret-file",
	                                    "--jwt-public-key",
	                                    "--jwt-issuer",
	                                    "--jwt-audience",
	                                    "--auth",
	                                    "--lb",
	                                    "--health-interval",
	                                    "--health-path",
	                                    "--trust-forwarded",
	                                    "--log-level",
	                                    "--log-format",
	                                    "--access-log",
	                                    "--check-config",
	                                    "--help",
	                                    "--version",
	                                    "-l,",
	                                    "-r,",
	                                    "-c,",
	                                    "-w,",
	                                    "-h,",
	                                    "-V,"};

	RUN(&r, "--help");
	assert_int_equal(r.rc, CFG_RC_EXIT);
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (strstr(r.out, flags[i]) == NULL)
			fail_msg("--help does not list %s", flags[i]);
	run_fini(&r);
	RUN(&r, "--workers", "0", "-h"); /* help wins over bad values */
	assert_int_equal(r.rc, CFG_RC_EXIT);
	run_fini(&r);
	RUN(&r, "--version");
	assert_int_equal(r.rc, CFG_RC_EXIT);
	assert_string_equal(r.out, "wsgate " WSG_VERSION "\n");
	run_fini(&r);
	RUN(&r, "-V");
	assert_int_equal(r.rc, CFG_RC_EXIT);
	assert_string_equal(r.out, "wsgate " WSG_VERSION "\n");
	run_fini(&r);
}

static const char file_json[] =
    "{\n"
    "  \"listen\": [\"127.0.0.1:8080\", \"[::1]:8080\"],\n"
    "  \"workers\": 2,\n"
    "  \"idle-timeout\": \"300s\",\n"
    "  \"max-message\": \"64k\",\n"
    "  \"max-conns\": 1000,\n"
    "  \"allow-origin\": \"https://file.example\",\n"
    "  \"trust-forwarded\": true,\n"
    "  \"admin-reuse-port\": true,\n"
    "  \"log-format\": \"json\",\n"
    "  \"routes\": [{\"path\":\"/chat\",\"backends\":[\"ws://127.0.0.1:9001\"],"
    "\"lb\":\"least-conn\",\"strip-prefix\":true,\"origin\":[\"https://a.example\"],"
    "\"max-message\":\"64k\",\"msg-rate\":\"10/20\",\"subprotocol\":\"chat\",\"auth\":\"off\"},"
    "\"/=ws://127.0.0.1:9000\"]\n"
    "}\n";

static void test_file_values_apply_and_flags_override(void **state)
{
	(void)state;
	char path[64];
	struct run r;

	write_tmp(path, sizeof(path), file_json);
	RUN(&r, "--config", path);
	expect_ok(&r);
	assert_string_equal(r.cfg.config_file, path);
	assert_int_equal(r.cfg.n_listen, 2);
	assert_string_equal(r.cfg.listen[1].text, "[::1]:8080");
	assert_int_equal(r.cfg.workers, 2);
	assert_int_equal(r.cfg.idle_timeout_ms, 300000);
	assert_int_equal(r.cfg.max_message, 65536);
	assert_int_equal(r.cfg.max_conns, 1000);
	assert_int_equal(r.cfg.n_allow_origin, 1);
	assert_true(r.cfg.trust_forwarded);
	assert_true(r.cfg.admin_reuse_port);
	assert_true(r.cfg.max_conns_set); /* from the file counts as given */
	assert_int_equal(r.cfg.log_format, CFG_LOG_JSON);
	assert_int_equal(r.cfg.n_routes, 2);
	struct rt_route_def *d = &r.cfg.routes[0];
	assert_string_equal(d->path, "/chat");
	assert_int_equal(d->lb, RT_LB_LEAST_CONN);
	assert_true(d->strip_prefix);
	assert_int_equal(d->n_origins, 1);
	assert_int_equal(d->max_message, 65536);
	assert_int_equal(d->msg_burst, 20);
	assert_string_equal(d->subprotocol, "chat");
	assert_int_equal(d->auth, RT_AUTH_OFF);
	assert_true(d->backends[0].addr_len > 0);
	assert_string_equal(r.cfg.routes[1].path, "/");
	run_fini(&r);

	/* flags win whatever their position; a repeatable flag replaces the file's list */
	RUN(&r, "-w", "6", "--listen", "127.0.0.1:9999", "-c", path, "--route",
	    "/only=ws://127.0.0.1:1", "--idle-timeout", "10s");
	expect_ok(&r);
	assert_int_equal(r.cfg.workers, 6);
	assert_int_equal(r.cfg.n_listen, 1);
	assert_string_equal(r.cfg.listen[0].text, "127.0.0.1:9999");
	assert_int_equal(r.cfg.n_routes, 1);
	assert_string_equal(r.cfg.routes[0].path, "/only");
	assert_int_equal(r.cfg.idle_timeout_ms, 10000);
	assert_int_equal(r.cfg.max_message, 65536); /* not overridden: the file's */
	assert_int_equal(r.cfg.n_allow_origin, 1);
	run_fini(&r);
	unlink(path);
}

static void expect_file_error(const char *json, const char *key, const char *value)
{
	char path[64];
	struct run r;

	write_tmp(path, sizeof(path), json);
	RUN(&r, "--config", path);
	if (r.rc == CFG_RC_USAGE && strstr(r.err, path) == NULL)
		fail_msg("error does not name the file: %s", r.err);
	expect_usage(&r, key, value);
	unlink(path);
}

static void test_bad_file_names_file_and_key(void **state)
{
	(void)state;
	expect_file_error("{\"workers\": 2,", NULL, "invalid JSON");
	expect_file_error("{\"workers\": 2}\n}", NULL, "line 2");
	expect_file_error("[1,2]", NULL, "object");
	expect_file_error("{\"workerz\": 2}", "\"workerz\"", "unknown key");
	expect_file_error("{\"config\": \"x.json\"}", "\"config\"", "unknown key");
	expect_file_error("{\"workers\": 0}", "\"workers\"", "\"0\"");
	expect_file_error("{\"workers\": -3}", "\"workers\"", "\"-3\"");
	expect_file_error("{\"workers\": 2.5}", "\"workers\"", "2.5");
	expect_file_error("{\"workers\": true}", "\"workers\"", "boolean");
	expect_file_error("{\"workers\": 2, \"workers\": 3}", "\"workers\"", "twice");
	expect_file_error("{\"idle-timeout\": \"5x\"}", "\"idle-timeout\"", "\"5x\"");
	expect_file_error("{\"listen\": [\"1.2.3.4:0\"]}", "\"listen[0]\"", "1.2.3.4:0");
	expect_file_error("{\"listen\": [3]}", "\"listen[0]\"", "\"3\"");
	expect_file_error("{\"trust-forwarded\": \"yes\"}", "\"trust-forwarded\"", "true or false");
	expect_file_error("{\"admin-reuse-port\": 1}", "\"admin-reuse-port\"", "true or false");
	expect_file_error("{\"routes\": [{\"path\":\"/a\",\"backends\":[\"ws://127.0.0.1:1\"],"
	                  "\"resolved\":\"127.0.0.1:1\"}]}",
	                  "\"routes[0].resolved\"", "array of strings");
	expect_file_error("{\"routes\": [{\"path\":\"/a\",\"backends\":[\"ws://127.0.0.1:1\"],"
	                  "\"resolved\":[\"127.0.0.1:1\", 2]}]}",
	                  "\"routes[0].resolved[1]\"", "a number");
	expect_file_error("{\"routes\": {}}", "\"routes\"", "array");
	expect_file_error("{\"routes\": [{\"backends\":[\"ws://127.0.0.1:1\"]}]}", "\"routes[0]\"",
	                  "path");
	expect_file_error("{\"routes\": [{\"path\":\"/a\"}]}", "\"routes[0]\"", "no backend");
	expect_file_error("{\"routes\": [{\"path\":\"/a\",\"backends\":[\"ftp://x\"]}]}",
	                  "\"routes[0].backends[0]\"", "ftp://x");
	expect_file_error("{\"routes\": [{\"path\":\"/a\",\"backends\":\"ws://127.0.0.1:1\","
	                  "\"colour\":\"red\"}]}",
	                  "\"routes[0].colour\"", "colour");
	expect_file_error("{\"routes\": [{\"path\":\"/a\",\"backends\":[\"ws://127.0.0.1:1\"],"
	                  "\"strip-prefix\":\"maybe\"}]}",
	                  "\"routes[0].strip-prefix\"", "maybe");
	expect_file_error("{\"routes\": [\"/a=ws://127.0.0.1:1\", \"/a=ws://127.0.0.1:2\"]}",
	                  "\"routes\"", "\"/a\"");
	expect_file_error("{\"routes\": [\"/a\"]}", "\"routes[0]\"", "no backend");
}

static void test_print_json_reads_back_as_config(void **state)
{
	(void)state;
	char secret[64], path[64];
	char *json = NULL;
	size_t json_len = 0;
	struct run r, r2;

	write_tmp(secret, sizeof(secret), "topsecret\n");
	RUN(&r, "--listen", "127.0.0.1:8081", "-l", "[::1]:8082", "--route",
	    "/chat=ws://127.0.0.1:9001,ws://localhost:9002/api;lb=header-hash:X-U;"
	    "origin=https://a.example;max-message=64k;msg-rate=10/20;strip-prefix=true;"
	    "subprotocol=chat;auth=required",
	    "--route", "/=wss://127.0.0.1:9443", "-w", "3", "--admin", "off", "--admin-reuse-port",
	    "--admin-token", "hunter2", "--max-conns", "77", "--max-conns-per-ip", "5",
	    "--conn-rate", "3/9", "--max-message", "1536", "--idle-timeout", "90s",
	    "--ping-interval", "0", "--handshake-timeout", "750ms", "--drain-timeout", "2h",
	    "--allow-origin", "*", "--jwt-secret-file", secret, "--lb", "least-conn",
	    "--health-path", "/hc", "--trust-forwarded", "--log-level", "warn", "--access-log",
	    "/tmp/a.log");
	expect_ok(&r);
	FILE *out = open_memstream(&json, &json_len);
	assert_int_equal(config_print_json(&r.cfg, out), 0);
	fclose(out);

	cJSON *root = cJSON_Parse(json);
	assert_non_null(root);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "admin-reuse-port")));
	/* each route says what its backends resolved to, in order */
	const cJSON *rt0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "routes"), 0);
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(rt0, "resolved");
	assert_int_equal(cJSON_GetArraySize(res), 2);
	assert_string_equal(cJSON_GetArrayItem(res, 0)->valuestring, "127.0.0.1:9001");
	const char *lh = cJSON_GetArrayItem(res, 1)->valuestring;
	assert_true(strcmp(lh, "127.0.0.1:9002") == 0 || strcmp(lh, "[::1]:9002") == 0);
	cJSON_Delete(root);
	assert_null(strstr(json, "topsecret"));
	assert_null(strstr(json, "hunter2"));
	assert_non_null(strstr(json, "<redacted>"));

	write_tmp(path, sizeof(path), json);
	RUN(&r2, "--config", path);
	expect_ok(&r2);
	const struct wsg_config *a = &r.cfg, *b = &r2.cfg;
	assert_int_equal(b->n_listen, 2);
	assert_string_equal(b->listen[1].text, a->listen[1].text);
	assert_int_equal(b->n_routes, 2);
	assert_string_equal(b->routes[0].path, "/chat");
	assert_int_equal(b->routes[0].n_backends, 2);
	assert_string_equal(b->routes[0].backends[1].url, "ws://localhost:9002/api");
	assert_int_equal(b->routes[0].lb, RT_LB_HEADER_HASH);
	assert_string_equal(b->routes[0].lb_header, "X-U");
	assert_int_equal(b->routes[0].auth, RT_AUTH_REQUIRED);
	assert_int_equal(b->routes[0].n_origins, 1);
	assert_int_equal(b->routes[0].max_message, 65536);
	assert_int_equal(b->routes[0].msg_rate, 10);
	assert_int_equal(b->routes[0].msg_burst, 20);
	assert_true(b->routes[0].strip_prefix);
	assert_string_equal(b->routes[0].subprotocol, "chat");
	assert_false(b->routes[1].has_lb);
	assert_true(b->routes[1].backends[0].tls);
	assert_int_equal(b->workers, 3);
	assert_true(b->admin_off);
	assert_true(b->admin_reuse_port);
	assert_non_null(b->admin_token);
	assert_int_equal(b->max_conns, 77);
	assert_int_equal(b->max_conns_per_ip, 5);
	assert_int_equal(b->conn_rate.per_sec, 3);
	assert_int_equal(b->conn_rate.burst, 9);
	assert_int_equal(b->msg_rate.per_sec, 0);
	assert_int_equal(b->max_message, 1536);
	assert_int_equal(b->idle_timeout_ms, 90000);
	assert_int_equal(b->ping_interval_ms, 0);
	assert_int_equal(b->handshake_timeout_ms, 750);
	assert_int_equal(b->drain_timeout_ms, 7200000);
	assert_int_equal(b->connect_timeout_ms, a->connect_timeout_ms);
	assert_int_equal(b->n_allow_origin, 1);
	assert_string_equal(b->jwt_secret, "topsecret"); /* through the file's path */
	assert_int_equal(b->auth, CFG_AUTH_REQUIRED);    /* the effective default, printed */
	assert_int_equal(b->lb, RT_LB_LEAST_CONN);
	assert_string_equal(b->health_path, "/hc");
	assert_true(b->trust_forwarded);
	assert_int_equal(b->log_level, CFG_LOG_WARN);
	assert_string_equal(b->access_log, "/tmp/a.log");
	assert_int_equal(b->n_tls_listen, 0);

	/* printing the re-read config gives the same document */
	char *json2 = NULL;
	size_t json2_len = 0;
	out = open_memstream(&json2, &json2_len);
	assert_int_equal(config_print_json(b, out), 0);
	fclose(out);
	assert_string_equal(json, json2);
	free(json2);

	free(json);
	run_fini(&r);
	run_fini(&r2);
	unlink(path);
	unlink(secret);
}

/* --check-config shows what the gateway will use: listeners as resolved, and next to each
 * route's backend URLs the addresses they resolved to (printed through a real FILE, as
 * main() does with stdout). */
static void test_check_config_prints_resolved_addresses(void **state)
{
	(void)state;
	struct run r;
	char buf[8192];

	RUN(&r, "--listen", "localhost:8085", "--listen", "[::1]:8086", "--route",
	    "/v6=ws://[::1]:9003,ws://127.0.0.1:9004/api", "--admin", "127.0.0.1:9191");
	expect_ok(&r);
	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(config_print_json(&r.cfg, f), 0);
	rewind(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	cJSON *root = cJSON_Parse(buf);
	assert_non_null(root);
	const cJSON *l = cJSON_GetObjectItemCaseSensitive(root, "listen");
	assert_int_equal(cJSON_GetArraySize(l), 2);
	const char *l0 = cJSON_GetArrayItem(l, 0)->valuestring;
	assert_true(strcmp(l0, "127.0.0.1:8085") == 0 || strcmp(l0, "[::1]:8085") == 0);
	assert_string_equal(cJSON_GetArrayItem(l, 1)->valuestring, "[::1]:8086");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "admin")->valuestring,
	                    "127.0.0.1:9191");
	const cJSON *rt = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "routes"), 0);
	const cJSON *be = cJSON_GetObjectItemCaseSensitive(rt, "backends");
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(rt, "resolved");
	/* "backends" stays the URLs as given; "resolved" is a sibling, same order */
	assert_string_equal(cJSON_GetArrayItem(be, 0)->valuestring, "ws://[::1]:9003");
	assert_string_equal(cJSON_GetArrayItem(be, 1)->valuestring, "ws://127.0.0.1:9004/api");
	assert_int_equal(cJSON_GetArraySize(res), 2);
	assert_string_equal(cJSON_GetArrayItem(res, 0)->valuestring, "[::1]:9003");
	assert_string_equal(cJSON_GetArrayItem(res, 1)->valuestring, "127.0.0.1:9004");
	cJSON_Delete(root);
	run_fini(&r);
}

static void test_jwt_secret_inline_is_redacted(void **state)
{
	(void)state;
	char *json = NULL;
	size_t len = 0;
	struct run r;

	RUN(&r, "--jwt-secret", "inline-secret");
	expect_ok(&r);
	FILE *out = open_memstream(&json, &len);
	assert_int_equal(config_print_json(&r.cfg, out), 0);
	fclose(out);
	assert_null(strstr(json, "inline-secret"));
	assert_non_null(strstr(json, "\"jwt-secret\":\t\"<redacted>\""));
	free(json);
	run_fini(&r);
}

static void test_empty_listen_list_in_file_needs_tls_listen(void **state)
{
	(void)state;
	char path[64];
	struct run r;

	write_tmp(path, sizeof(path), "{\"listen\": []}");
	RUN(&r, "--config", path);
	expect_usage(&r, "--listen", NULL);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_match_the_header),
	    cmocka_unit_test(test_every_flag_takes_a_good_value),
	    cmocka_unit_test(test_equals_and_short_forms),
	    cmocka_unit_test(test_repeatable_flags_accumulate_and_last_value_wins),
	    cmocka_unit_test(test_size_duration_and_address_parsers),
	    cmocka_unit_test(test_route_spec_parses_keys),
	    cmocka_unit_test(test_bad_flags_name_flag_and_value),
	    cmocka_unit_test(test_bad_values_name_flag_and_value),
	    cmocka_unit_test(test_secrets_are_not_echoed_in_errors),
	    cmocka_unit_test(test_cross_checks),
	    cmocka_unit_test(test_help_and_version_exit),
	    cmocka_unit_test(test_file_values_apply_and_flags_override),
	    cmocka_unit_test(test_bad_file_names_file_and_key),
	    cmocka_unit_test(test_print_json_reads_back_as_config),
	    cmocka_unit_test(test_check_config_prints_resolved_addresses),
	    cmocka_unit_test(test_jwt_secret_inline_is_redacted),
	    cmocka_unit_test(test_empty_listen_list_in_file_needs_tls_listen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
