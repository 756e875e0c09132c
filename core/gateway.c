/* Process life: listeners, threads, signals, drain (see gateway.h).
 *
 * The main thread becomes the control thread: it owns the admin listener, the signalfd, the
 * route table's reclamation, and the drain. Signals are blocked in every thread (the mask is
 * set before any thread starts) and read from a signalfd here, so no handler ever runs on a
 * worker. Commands to the acceptor and the workers go through a small io_uring of its own
 * (msg_ring), the same way the acceptor hands sockets over.
 *
 * Drain (SIGTERM/SIGINT, SPEC.md "Signals"): the acceptor closes the listeners at once and
 * /readyz turns 503; every worker sends 1001 to its clients and backends and exits when its
 * last conn is gone; at --drain-timeout the rest are cut and counted. */
#include "core/gateway.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/acceptor.h"
#include "core/admin.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/worker.h"
#include "router/rt.h"

static uint64_t gateway_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A listening socket; SO_REUSEPORT so that a new instance can bind while this one drains.
 * Returns the fd, or -1 after printing the one-line reason. */
static int gateway_listen(const char *prog, const struct cfg_addr *addr, bool nodelay)
{
	/* nodelay false gives a non-blocking socket; every caller passes true today (the admin
	 * listener comes from admin_listen(), without SO_REUSEPORT). */
	int fd = socket(addr->ss.ss_family,
	                SOCK_STREAM | SOCK_CLOEXEC | (nodelay ? 0 : SOCK_NONBLOCK), 0);
	if (fd == -1) {
		fprintf(stderr, "%s: cannot listen on %s: %s\n", prog, addr->text, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (nodelay) /* accepted sockets inherit it */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (addr->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0 || listen(fd, 4096) != 0) {
		fprintf(stderr, "%s: cannot listen on %s: %s\n", prog, addr->text, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Raises the soft fd limit to the hard one (each proxied connection needs two fds) and
 * returns how many client sockets fit: --max-conns, or fewer when the limit cannot hold them,
 * so that clients beyond it get a clean 503 instead of a 502 from a failed backend socket.
 * Only a --max-conns the operator asked for (flag or file) is worth a warning when it does
 * not fit; the default (100000) is over common fd limits, and warning about it on every
 * start would teach people to ignore warnings, so that case is one info line. */
static uint64_t gateway_fd_budget(const struct gateway *gw, uint64_t max_conns, bool max_conns_set)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return max_conns;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return max_conns;
	/* Held back from the clients: listeners, rings, admin connections and logs (64), and
	 * the sockets the acceptor lets in over the limit so that their workers can answer
	 * 503 (ACCEPTOR_OVER_SLACK per worker, one fd each). What is left holds every
	 * admitted client with its backend socket, so a client that got in never meets a 502
	 * for want of a descriptor. */
	uint64_t reserve = 64 + (uint64_t)ACCEPTOR_OVER_SLACK * gw->n_workers;
	uint64_t per_client = gw->app->fds_per_client ? gw->app->fds_per_client : 1;
	uint64_t fit = rl.rlim_cur > reserve ? (rl.rlim_cur - reserve) / per_client : 1;
	if (fit >= max_conns)
		return max_conns;
	if (max_conns_set)
		LOG_WARN("fd_limit", "max_conns=%llu fd_limit=%llu effective_max_conns=%llu",
		         (unsigned long long)max_conns, (unsigned long long)rl.rlim_cur,
		         (unsigned long long)fit);
	else
		LOG_INFO("fd_limit",
		         "max_conns=%llu source=default fd_limit=%llu effective_max_conns=%llu",
		         (unsigned long long)max_conns, (unsigned long long)rl.rlim_cur,
		         (unsigned long long)fit);
	return fit;
}

static int gateway_send_cmd(struct io_uring *ctl, int ring_fd, uint64_t ud, unsigned cmd)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ctl);
	if (sqe == NULL)
		return -EBUSY;
	io_uring_prep_msg_ring(sqe, ring_fd, cmd, ud, 0);
	io_uring_sqe_set_data64(sqe, 0);
	int rc = io_uring_submit_and_wait(ctl, 1);
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(ctl, &cqe) == 0)
		io_uring_cqe_seen(ctl, cqe);
	return rc < 0 ? rc : 0;
}

static unsigned gateway_workers_running(const struct gateway *gw)
{
	unsigned n = 0;
	for (unsigned i = 0; i < gw->n_workers; i++)
		if (!atomic_load_explicit(&gw->workers[i].exited, memory_order_acquire))
			n++;
	return n;
}

static void gateway_reload(struct gateway *gw)
{
	/* SIGHUP: routes from --config again; open tunnels keep the table they hold. */
	if (!gw->app->routes || gw->cfg->config_file == NULL) {
		LOG_WARN("reload_skipped", "why=\"no --config file\"");
		return;
	}
	struct wsg_config next;
	memset(&next, 0, sizeof(next));
	char err[512];
	char *argv[] = {(char *)gw->prog, "--config", gw->cfg->config_file, NULL};
	if (config_parse_args(&next, 3, argv, stdout, err, sizeof(err)) != CFG_RC_OK) {
		LOG_ERROR("reload_failed", "why=\"%s\"", err);
		config_fini(&next);
		return;
	}
	if (config_check_enforceable(&next, err, sizeof(err)) != 0) {
		LOG_ERROR("reload_failed", "why=\"%s\"", err);
		config_fini(&next);
		return;
	}
	struct rt_table *t = rt_table_new(next.routes, next.n_routes, err, sizeof(err));
	if (t == NULL) {
		LOG_ERROR("reload_failed", "why=\"%s\"", err);
	} else {
		rt_publish(t);
		LOG_INFO("routes_reloaded", "routes=%u", next.n_routes);
	}
	config_fini(&next);
}

static int gateway_control_loop(struct gateway *gw, struct admin *admin, int sfd,
                                struct io_uring *ctl)
{
	const struct wsg_config *cfg = gw->cfg;
	bool draining = false;
	bool stopped = false;
	uint64_t drain_deadline = 0;
	for (;;) {
		struct pollfd fds[40];
		unsigned n = 0;
		fds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		unsigned admin_first = n;
		if (admin != NULL)
			n += admin_pollfds(admin, fds + n, 40 - n);
		int rc = poll(fds, n, 100);
		uint64_t now = gateway_clock_ms();
		if (rc > 0 && (fds[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					gateway_reload(gw);
					continue;
				}
				if (draining)
					continue;
				draining = true;
				drain_deadline = now + cfg->drain_timeout_ms;
				atomic_store(&gw->draining, true);
				atomic_store(&gw->listening, false);
				LOG_INFO("drain_start", "signal=%s timeout_ms=%llu",
				         si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM",
				         (unsigned long long)cfg->drain_timeout_ms);
				gateway_send_cmd(ctl, gw->acceptor->ring_fd, ud_pack(0, 0, WOP_CMD),
				                 1);
				for (unsigned i = 0; i < gw->n_workers; i++)
					gateway_send_cmd(ctl, gw->workers[i].ring_fd,
					                 ud_pack(0, 0, WOP_CMD), WCMD_DRAIN);
			}
		}
		if (admin != NULL && rc > 0)
			admin_on_poll(admin, fds + admin_first, n - admin_first, now);
		else if (admin != NULL)
			admin_on_poll(admin, fds + admin_first, 0, now);
		rt_reclaim();
		if (!draining)
			continue;
		if (gateway_workers_running(gw) == 0)
			break;
		if (!stopped && now >= drain_deadline) {
			stopped = true;
			for (unsigned i = 0; i < gw->n_workers; i++)
				gateway_send_cmd(ctl, gw->workers[i].ring_fd,
				                 ud_pack(0, 0, WOP_CMD), WCMD_STOP);
		}
	}
	uint64_t cut = 0;
	for (unsigned i = 0; i < gw->n_workers; i++)
		cut += atomic_load(&gw->workers[i].stats.closed_on_drain_timeout);
	if (stopped)
		LOG_INFO("drain_timeout", "closed=%llu", (unsigned long long)cut);
	LOG_INFO("drain_done", "forced=%llu", (unsigned long long)cut);
	return 0;
}

/* A short, process-unique prefix for connection ids: 40 random bits in base 32 (8 chars),
 * so ids do not repeat across restarts or between instances. */
static void gateway_make_id_prefix(struct gateway *gw)
{
	static const char digits[] = "0123456789abcdefghjkmnpqrstvwxyz";
	uint64_t r = 0;
	if (getentropy(&r, sizeof(r)) != 0)
		r = (uint64_t)gateway_clock_ms() ^ ((uint64_t)getpid() << 24);
	for (unsigned i = 0; i < 8; i++) {
		gw->id_prefix[i] = digits[r & 31u];
		r >>= 5;
	}
	gw->id_prefix[8] = '\0';
}

int gateway_run(const struct wsg_config *cfg, const struct gateway_app *app)
{
	const char *prog = app->prog;
	static struct gateway gw_storage;
	struct gateway *gw = &gw_storage;
	int status = 1;
	memset(gw, 0, sizeof(*gw));
	gw->cfg = cfg;
	gw->app = app;
	gw->prog = prog;
	gateway_make_id_prefix(gw);
	gw->limits.head_max = WSG_HEAD_MAX_DEFAULT;
	gw->limits.headers_max = WSG_HEADERS_MAX_DEFAULT;
	gw->limits.message_max = cfg->max_message;
	gw->n_workers = cfg->workers ? cfg->workers : 1;
	gw->max_clients = gateway_fd_budget(gw, cfg->max_conns, cfg->max_conns_set);

	/* Listeners first: a port in use is a runtime failure before any thread exists. */
	int *fds = calloc(cfg->n_listen ? cfg->n_listen : 1, sizeof(int));
	if (fds == NULL)
		return 1;
	for (unsigned i = 0; i < cfg->n_listen; i++) {
		fds[i] = gateway_listen(prog, &cfg->listen[i], true);
		if (fds[i] == -1) {
			while (i-- > 0)
				close(fds[i]);
			free(fds);
			return 1;
		}
	}
	int admin_fd = -1;
	if (app->admin && !cfg->admin_off) {
		/* Exclusive unless --admin-reuse-port: two gateways must not share health
		 * checks. */
		char err[160];
		admin_fd = admin_listen(&cfg->admin, cfg->admin_reuse_port, err, sizeof(err));
		if (admin_fd == -1) {
			fprintf(stderr, "%s: %s\n", prog, err);
			goto out_close_listeners;
		}
	}

	if (app->routes) {
		char err[512];
		struct rt_table *table = rt_table_new(cfg->routes, cfg->n_routes, err, sizeof(err));
		if (table == NULL) {
			fprintf(stderr, "%s: %s\n", prog, err);
			goto out_close_admin;
		}
		if (rt_workers_init(gw->n_workers) != 0) {
			rt_table_free(table);
			fprintf(stderr, "%s: out of memory\n", prog);
			goto out_close_admin;
		}
		rt_publish(table);
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd == -1) {
		fprintf(stderr, "%s: signalfd: %s\n", prog, strerror(errno));
		goto out_routes;
	}
	struct io_uring ctl;
	if (io_uring_queue_init(8, &ctl, 0) < 0) {
		fprintf(stderr, "%s: io_uring unavailable\n", prog);
		goto out_close_sfd;
	}

	gw->workers = calloc(gw->n_workers, sizeof(struct worker));
	if (gw->workers == NULL)
		goto out_ctl;
	uint64_t per_worker = (gw->max_clients + gw->n_workers - 1) / gw->n_workers;
	if (per_worker > (1u << 23))
		per_worker = 1u << 23;
	unsigned started = 0;
	for (; started < gw->n_workers; started++) {
		int rc = worker_init(&gw->workers[started], gw, started, (uint32_t)per_worker);
		if (rc != 0) {
			fprintf(stderr, "%s: cannot start worker %u: %s\n", prog, started,
			        strerror(rc < 0 ? -rc : rc));
			goto out_workers;
		}
	}
	static struct acceptor acc;
	gw->acceptor = &acc;
	if (acceptor_init(&acc, gw, fds, cfg->n_listen) != 0) {
		fprintf(stderr, "%s: cannot start the acceptor\n", prog);
		goto out_workers;
	}
	fds = NULL; /* the acceptor owns them now */
	struct admin *admin = NULL;
	if (admin_fd != -1) {
		admin = admin_new(gw, admin_fd);
		if (admin == NULL)
			goto out_acceptor;
		admin_fd = -1;
	}

	log_start_drain();
	for (unsigned i = 0; i < gw->n_workers; i++)
		worker_start(&gw->workers[i]);
	/* msg_ring into a ring its worker has not enabled yet would fail: wait (bounded). */
	for (unsigned tries = 0; tries < 5000; tries++) {
		unsigned ready = 0;
		for (unsigned i = 0; i < gw->n_workers; i++)
			ready += atomic_load_explicit(&gw->workers[i].ready, memory_order_acquire);
		if (ready == gw->n_workers)
			break;
		usleep(1000);
	}
	acceptor_start(&acc);
	atomic_store(&gw->listening, true);
	for (unsigned i = 0; i < cfg->n_listen; i++)
		LOG_INFO("listening", "addr=%s", cfg->listen[i].text);
	if (!cfg->admin_off && app->admin)
		LOG_INFO("admin_listening", "addr=%s", cfg->admin.text);
	LOG_INFO("started", "workers=%u prog=%s id_prefix=%s", gw->n_workers, prog, gw->id_prefix);

	status = gateway_control_loop(gw, admin, sfd, &ctl);

	acceptor_join(&acc);
	for (unsigned i = 0; i < gw->n_workers; i++)
		pthread_join(gw->workers[i].thread, NULL);
	admin_free(admin);
	log_stop_drain();
	for (unsigned i = 0; i < gw->n_workers; i++)
		worker_fini(&gw->workers[i]);
	free(gw->workers);
	io_uring_queue_exit(&ctl);
	close(sfd);
	if (app->routes)
		rt_shutdown();
	return status;

out_acceptor:
	io_uring_queue_exit(&acc.ring);
	fds = acc.fds;
out_workers:
	while (started-- > 0)
		worker_fini(&gw->workers[started]);
	free(gw->workers);
out_ctl:
	io_uring_queue_exit(&ctl);
out_close_sfd:
	close(sfd);
out_routes:
	if (app->routes)
		rt_shutdown();
out_close_admin:
	if (admin_fd != -1)
		close(admin_fd);
out_close_listeners:
	if (fds != NULL) {
		for (unsigned i = 0; i < cfg->n_listen; i++)
			close(fds[i]);
		free(fds);
	}
	return status;
}
