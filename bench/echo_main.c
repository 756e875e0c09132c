/* wsgate-echo: a small, fast WebSocket echo backend on the gateway's own core (same workers,
 * conns, buffers and parser), for demos, tests and benchmarks. Echoes each message with its
 * opcode, answers pings, answers a close with the same code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/echo_conn.h"
#include "core/config.h"
#include "core/gateway.h"
#include "core/log.h"

static const struct gateway_app echo_app = {
    .prog = "wsgate-echo",
    .on_accept = echo_on_accept,
    .on_drain = echo_on_drain,
    .fds_per_client = 1,
};

static void echo_usage(FILE *out)
{
	fprintf(out, "usage: wsgate-echo [options]\n"
	             "  -l, --listen ADDR:PORT   listen here (repeatable; default 127.0.0.1:9001)\n"
	             "  -w, --workers N          worker threads (default: number of CPUs)\n"
	             "  --max-message SIZE       largest message accepted (default 64m)\n"
	             "  --log-level LEVEL        debug|info|warn|error (default warn)\n"
	             "  -h, --help / -V, --version\n");
}

static int echo_bad(const char *flag, const char *value)
{
	if (value == NULL)
		fprintf(stderr, "wsgate-echo: %s: missing value\n", flag);
	else
		fprintf(stderr, "wsgate-echo: %s: invalid value \"%s\"\n", flag, value);
	return 2;
}

int main(int argc, char **argv)
{
	struct wsg_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	struct cfg_addr addrs[16];
	unsigned n_addrs = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cfg.workers = ncpu > 0 ? (unsigned)ncpu : 1;
	cfg.max_message = 64u << 20;
	cfg.max_conns = 100000;
	cfg.handshake_timeout_ms = 10000;
	cfg.drain_timeout_ms = 5000;
	cfg.connect_timeout_ms = 5000;
	cfg.admin_off = true;
	cfg.log_level = CFG_LOG_WARN;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			echo_usage(stdout);
			return 0;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("wsgate-echo %s\n", WSG_VERSION);
			return 0;
		} else if (!strcmp(a, "-l") || !strcmp(a, "--listen")) {
			if (v == NULL || n_addrs == 16 ||
			    config_parse_addr(v, &addrs[n_addrs]) != 0)
				return echo_bad(a, v);
			n_addrs++;
			i++;
		} else if (!strcmp(a, "-w") || !strcmp(a, "--workers")) {
			char *end;
			long n = v ? strtol(v, &end, 10) : 0;
			if (v == NULL || *end != '\0' || n < 1 || n > 1024)
				return echo_bad(a, v);
			cfg.workers = (unsigned)n;
			i++;
		} else if (!strcmp(a, "--max-message")) {
			if (v == NULL || config_parse_size(v, &cfg.max_message) != 0 ||
			    cfg.max_message == 0)
				return echo_bad(a, v);
			i++;
		} else if (!strcmp(a, "--log-level")) {
			static const char *const names[] = {"debug", "info", "warn", "error"};
			unsigned k = 0;
			while (v != NULL && k < 4 && strcmp(v, names[k]) != 0)
				k++;
			if (v == NULL || k == 4)
				return echo_bad(a, v);
			cfg.log_level = (enum cfg_log_level)k;
			i++;
		} else {
			fprintf(stderr, "wsgate-echo: %s: unknown flag\n", a);
			return 2;
		}
	}
	if (n_addrs == 0) {
		config_parse_addr("127.0.0.1:9001", &addrs[0]);
		n_addrs = 1;
	}
	cfg.listen = addrs;
	cfg.n_listen = n_addrs;
	log_init(cfg.log_level, CFG_LOG_TEXT);
	return gateway_run(&cfg, &echo_app);
}
