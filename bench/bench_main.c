/* Design note. wsgate-bench's main thread: parse flags, raise RLIMIT_NOFILE, resolve the host
 * once (loops never call getaddrinfo), build the shared run (upgrade request prefix, message
 * template, TLS context), start one epoll loop thread per -t, then conduct: wait until every
 * conn has opened or failed, fix the run's start/measure/end times, flip the phase to RUN, show
 * a progress line once a second when stderr is a terminal, and join. SIGINT/SIGTERM are
 * blocked in every thread and taken by the main thread in sigtimedwait, which doubles as its
 * sleep: an interrupt ends the run early (the loops still close cleanly) and the summary is
 * printed for the part that ran. Results are merged only after the loops are joined, so the
 * loops' stats need no synchronisation; the progress line reads relaxed counters and a
 * histogram copy the loops refresh under a mutex twice a second. */

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/bench_args.h"
#include "bench/bench_conn.h"
#include "bench/bench_hist.h"
#include "bench/bench_report.h"
#include "bench/bench_tls.h"

#ifndef WSG_VERSION
#define WSG_VERSION "0"
#endif

#define BENCH_RX_CAP (256u * 1024u)

static void bench_main_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void bench_main_die(const char *fmt, ...)
{
	va_list ap;
	fputs("wsgate-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Raises the soft file limit to the hard one; returns the limit now in force. */
static rlim_t bench_main_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

static void bench_main_resolve(struct bench_run *r, const struct bench_url *u)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};
	struct addrinfo *res;
	char port[8];

	if (r->args->src_ips > 0)
		hints.ai_family = AF_INET;
	snprintf(port, sizeof(port), "%u", u->port);
	int e = getaddrinfo(u->host, port, &hints, &res);
	if (e != 0)
		bench_main_die("cannot resolve '%s': %s", u->host, gai_strerror(e));
	memcpy(&r->addr, res->ai_addr, res->ai_addrlen);
	r->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
}

static char *bench_main_request(const struct bench_args *a, size_t *len)
{
	/* Everything up to the key's value; each conn appends its key and the final CRLFCRLF. */
	static const char fmt[] = "GET %s HTTP/1.1\r\n"
	                          "Host: %s\r\n"
	                          "Upgrade: websocket\r\n"
	                          "Connection: Upgrade\r\n"
	                          "Sec-WebSocket-Version: 13\r\n"
	                          "User-Agent: wsgate-bench/" WSG_VERSION "\r\n"
	                          "Sec-WebSocket-Key: ";
	size_t cap =
	    sizeof(fmt) + strlen(a->url.path) + strlen(a->url.authority) + a->headers_bytes;
	char *s = malloc(cap);
	if (s == NULL)
		bench_main_die("out of memory");
	int n = snprintf(s, cap, fmt, a->url.path, a->url.authority);
	size_t off = (size_t)n - strlen("Sec-WebSocket-Key: ");
	/* -H lines go before the key, which every conn appends at the end. */
	memmove(s + off + a->headers_bytes, s + off, (size_t)n - off + 1);
	for (unsigned i = 0; i < a->n_headers; i++) {
		size_t hl = strlen(a->headers[i]);
		memcpy(s + off, a->headers[i], hl);
		memcpy(s + off + hl, "\r\n", 2);
		off += hl + 2;
	}
	*len = (size_t)n + a->headers_bytes;
	return s;
}

static uint8_t *bench_main_payload(const struct bench_args *a)
{
	uint8_t *p = malloc(a->size ? a->size : 1);
	if (p == NULL)
		bench_main_die("out of memory");
	/* Printable ASCII after the timestamp: valid UTF-8 for --text, and readable in a dump. */
	for (uint64_t i = 0; i < a->size; i++)
		p[i] = (uint8_t)('a' + i % 26);
	return p;
}

static void bench_main_wake(struct bench_loop *loops, unsigned n)
{
	uint64_t one = 1;
	for (unsigned i = 0; i < n; i++)
		if (write(loops[i].wake_fd, &one, sizeof(one)) == -1 && errno != EAGAIN)
			bench_main_die("eventfd write: %s", strerror(errno));
}

/* Sleeps until `until` (CLOCK_MONOTONIC ns) or a signal; true when a signal came. */
static bool bench_main_sleep(const sigset_t *set, uint64_t until)
{
	uint64_t now = bench_now_ns();
	if (until <= now)
		return false;
	uint64_t w = until - now;
	struct timespec ts = {.tv_sec = (time_t)(w / 1000000000ull),
	                      .tv_nsec = (long)(w % 1000000000ull)};
	return sigtimedwait(set, NULL, &ts) > 0;
}

static void bench_main_progress(const struct bench_run *r, struct bench_loop *loops,
                                struct bench_hist *tmp, uint64_t *last_rcvd, uint64_t *last_ns,
                                uint64_t now, const char *what)
{
	uint64_t rcvd = 0;
	unsigned open = 0;

	bench_hist_init(tmp);
	for (unsigned i = 0; i < r->threads; i++) {
		rcvd += atomic_load_explicit(&loops[i].pub_rcvd, memory_order_relaxed);
		open += atomic_load_explicit(&loops[i].pub_open, memory_order_relaxed);
		pthread_mutex_lock(&loops[i].snap_lock);
		bench_hist_merge(tmp, &loops[i].snap);
		pthread_mutex_unlock(&loops[i].snap_lock);
	}
	double dt = (double)(now - *last_ns) / 1e9;
	double rate = dt > 0 ? (double)(rcvd - *last_rcvd) / dt : 0;
	char p99[32];
	fprintf(stderr, "\r%s: %u/%u conns up, %u failed, %.0f msgs/s, p99 %s\033[K", what, open,
	        r->args->conns, atomic_load_explicit(&r->failed, memory_order_relaxed), rate,
	        bench_hist_count(tmp)
	            ? bench_report_fmt_ns(p99, sizeof(p99), bench_hist_percentile(tmp, 99))
	            : "-");
	*last_rcvd = rcvd;
	*last_ns = now;
}

static void bench_main_setup_loop(struct bench_run *r, struct bench_loop *l, unsigned id)
{
	const struct bench_args *a = r->args;

	l->run = r;
	l->id = id;
	l->n = a->conns / r->threads + (id < a->conns % r->threads ? 1 : 0);
	l->conns = calloc(l->n ? l->n : 1, sizeof(*l->conns));
	l->rx_cap = BENCH_RX_CAP;
	l->rx = malloc(l->rx_cap);
	if (l->conns == NULL || l->rx == NULL)
		bench_main_die("out of memory for %u connections", l->n);
	for (unsigned i = 0; i < l->n; i++) {
		l->conns[i].loop = l;
		l->conns[i].fd = -1;
		l->conns[i].gidx = id + i * r->threads;
	}
	if (getrandom(&l->rng, sizeof(l->rng), 0) != sizeof(l->rng) || l->rng == 0)
		l->rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)id << 32) ^ bench_now_ns();
	if (a->connect_rate > 0)
		l->ramp_step = (uint64_t)((double)r->threads * 1e9 / a->connect_rate);
	bench_hist_init(&l->hist);
	bench_hist_init(&l->snap);
	pthread_mutex_init(&l->snap_lock, NULL);
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->ep == -1 || l->wake_fd == -1)
		bench_main_die("epoll/eventfd: %s", strerror(errno));
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake_fd, &ev) != 0)
		bench_main_die("epoll_ctl: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	struct bench_args a;
	struct bench_run r;
	char err[600];

	switch (bench_args_parse(&a, argc, argv, err, sizeof(err))) {
	case BENCH_ARGS_USAGE:
		fprintf(stderr, "wsgate-bench: %s\n", err);
		return 2;
	case BENCH_ARGS_EXIT:
		if (a.help)
			fputs(bench_args_usage(), stdout);
		else
			printf("wsgate-bench %s\n", WSG_VERSION);
		return 0;
	case BENCH_ARGS_OK:
		break;
	}
	signal(SIGPIPE, SIG_IGN);

	memset(&r, 0, sizeof(r));
	r.args = &a;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	r.threads = a.threads ? a.threads : ncpu > 0 ? (unsigned)ncpu : 1;
	if (r.threads > a.conns)
		r.threads = a.conns;

	rlim_t nofile = bench_main_raise_nofile();
	uint64_t need = (uint64_t)a.conns + 2ull * r.threads + 16;
	if (need > nofile)
		bench_main_die("-c %u needs about %llu file descriptors and the limit is %llu "
		               "(raise the hard limit: ulimit -Hn)",
		               a.conns, (unsigned long long)need, (unsigned long long)nofile);

	bench_main_resolve(&r, &a.url);
	if (a.url.tls) {
		r.tls = bench_tls_new(a.insecure, a.ca_file, a.tls_version, err, sizeof(err));
		if (r.tls == NULL)
			bench_main_die("%s", err);
	}
	char *request = bench_main_request(&a, &r.request_len);
	r.request = request;
	uint8_t *payload = bench_main_payload(&a);
	r.payload = payload;
	uint8_t hdr[WS_HEADER_MAX], mask[4] = {0};
	r.hdr_len = (uint8_t)ws_encode_header(hdr, WS_OP_BINARY, true, a.size, mask);
	r.ts_len = a.text ? BENCH_TS_TEXT : BENCH_TS_BINARY;
	r.lim.head_max = BENCH_HEAD_MAX;
	r.lim.headers_max = HTTP_MAX_HEADERS;
	r.lim.message_max = BENCH_MAX_SIZE;
	if (a.rate > 0) {
		r.pace_ns = (uint64_t)((double)a.conns * 1e9 / a.rate);
		r.pace_offset_ns = 1e9 / a.rate;
		if (r.pace_ns == 0)
			bench_main_die(
			    "--rate %.0f over %u connections is more than one message per "
			    "nanosecond each",
			    a.rate, a.conns);
	}
	r.progress = !a.quiet && isatty(STDERR_FILENO);

	struct bench_loop *loops = calloc(r.threads, sizeof(*loops));
	struct bench_hist *tmp = malloc(sizeof(*tmp));
	if (loops == NULL || tmp == NULL)
		bench_main_die("out of memory");
	for (unsigned i = 0; i < r.threads; i++)
		bench_main_setup_loop(&r, &loops[i], i);

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	for (unsigned i = 0; i < r.threads; i++) {
		int e = pthread_create(&loops[i].thread, NULL, bench_loop_main, &loops[i]);
		if (e != 0)
			bench_main_die("pthread_create: %s", strerror(e));
	}

	/* Connect phase: until every conn has opened or failed (each has a deadline). */
	bool interrupted = false;
	uint64_t last_ns = bench_now_ns(), last_rcvd = 0, next_progress = last_ns + 1000000000ull;
	while (atomic_load_explicit(&r.settled, memory_order_acquire) < a.conns) {
		uint64_t now = bench_now_ns();
		if (bench_main_sleep(&sigs, now + 50000000ull)) {
			interrupted = true;
			break;
		}
		now = bench_now_ns();
		if (r.progress && now >= next_progress) {
			bench_main_progress(&r, loops, tmp, &last_rcvd, &last_ns, now,
			                    "connecting");
			next_progress = now + 1000000000ull;
		}
	}
	unsigned opened = atomic_load_explicit(&r.opened, memory_order_acquire);
	if (interrupted || opened == 0) {
		atomic_store_explicit(&r.phase, BENCH_PHASE_STOP, memory_order_release);
		bench_main_wake(loops, r.threads);
		for (unsigned i = 0; i < r.threads; i++)
			pthread_join(loops[i].thread, NULL);
		if (r.progress)
			fputs("\r\033[K", stderr);
		const char *why = "interrupted while connecting";
		for (unsigned i = 0; !interrupted && i < r.threads; i++)
			if (loops[i].first_err[0] != '\0') {
				why = loops[i].first_err;
				break;
			}
		if (interrupted)
			bench_main_die("%s", why);
		if (a.conns == 1)
			bench_main_die("%s", why);
		bench_main_die("all %u connections failed; first: %s", a.conns, why);
	}

	/* Run phase. */
	uint64_t start = bench_now_ns() + 1000000ull;
	uint64_t measure = start + a.warmup_ns;
	uint64_t end = measure + a.duration_ns;
	atomic_store_explicit(&r.start_ns, start, memory_order_relaxed);
	atomic_store_explicit(&r.measure_ns, measure, memory_order_relaxed);
	atomic_store_explicit(&r.end_ns, end, memory_order_relaxed);
	atomic_store_explicit(&r.phase, BENCH_PHASE_RUN, memory_order_release);
	bench_main_wake(loops, r.threads);
	last_ns = start;
	next_progress = start + 1000000000ull;
	for (;;) {
		uint64_t now = bench_now_ns();
		if (now >= end)
			break;
		uint64_t until = r.progress && next_progress < end ? next_progress : end;
		if (bench_main_sleep(&sigs, until)) {
			interrupted = true;
			end = bench_now_ns();
			atomic_store_explicit(&r.end_ns, end, memory_order_relaxed);
			bench_main_wake(loops, r.threads);
			break;
		}
		now = bench_now_ns();
		if (r.progress && now >= next_progress && now < end) {
			bench_main_progress(&r, loops, tmp, &last_rcvd, &last_ns, now,
			                    now < measure ? "warm-up" : "running");
			next_progress += 1000000000ull;
		}
	}
	for (unsigned i = 0; i < r.threads; i++)
		pthread_join(loops[i].thread, NULL);
	if (r.progress)
		fputs("\r\033[K", stderr);

	/* Results. */
	struct bench_result res = {.args = &a, .threads = r.threads, .interrupted = interrupted};
	bench_hist_init(tmp);
	const char *first_err = NULL;
	for (unsigned i = 0; i < r.threads; i++) {
		bench_stats_merge(&res.st, &loops[i].st);
		bench_hist_merge(tmp, &loops[i].hist);
		if (first_err == NULL && loops[i].first_err[0] != '\0')
			first_err = loops[i].first_err;
	}
	res.h = tmp;
	res.duration_s = end > measure ? (double)(end - measure) / 1e9 : 0.0;
	res.conns_failed = atomic_load_explicit(&r.failed, memory_order_relaxed);
	const struct bench_stats *st = &res.st;
	char why[700] = "";
	if (interrupted)
		snprintf(why, sizeof(why), "interrupted after %.2f s", res.duration_s);
	else if (res.conns_failed)
		snprintf(why, sizeof(why), "%u of %u connections failed; first: %s",
		         res.conns_failed, a.conns, first_err ? first_err : "?");
	else if (st->unexpected_closes || st->proto_errors)
		snprintf(why, sizeof(why),
		         "%llu connections closed by the server or lost during the run%s%s",
		         (unsigned long long)(st->unexpected_closes + st->proto_errors),
		         first_err ? "; first: " : "", first_err ? first_err : "");
	else if (st->bad_echoes)
		snprintf(why, sizeof(why), "%llu echoes were not what was sent",
		         (unsigned long long)st->bad_echoes);
	res.completed = why[0] == '\0';

	int rc = res.completed ? 0 : 1;
	if (a.json) {
		if (bench_report_json(stdout, &res) != 0)
			rc = 1;
	} else {
		bench_report_print(stdout, &res);
		fflush(stdout);
	}
	if (a.histogram_file != NULL) {
		FILE *f = fopen(a.histogram_file, "w");
		if (f == NULL || bench_hist_write_csv(tmp, f) != 0) {
			fprintf(stderr, "wsgate-bench: --histogram: cannot write '%s': %s\n",
			        a.histogram_file, strerror(errno));
			rc = 1;
		}
		if (f != NULL)
			fclose(f);
	}
	if (why[0] != '\0')
		fprintf(stderr, "wsgate-bench: %s\n", why);

	for (unsigned i = 0; i < r.threads; i++) {
		close(loops[i].ep);
		close(loops[i].wake_fd);
		free(loops[i].conns);
		free(loops[i].rx);
		pthread_mutex_destroy(&loops[i].snap_lock);
	}
	free(loops);
	free(tmp);
	free(request);
	free(payload);
	bench_tls_free(r.tls);
	return rc;
}
