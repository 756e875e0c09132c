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
#include "core/access_log.h"
#include "core/admin.h"
#include "core/admission.h"
#include "core/admission_token.h"
#include "core/cluster.h"
#include "core/conn.h"
#include "core/conn_tls.h"
#include "core/health_probe.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/sd_notify.h"
#include "core/worker.h"
#include "router/rt.h"
#include "tls/tls.h"

/* Signals, the workers' reply queues, the health checks in flight (at most 64), the admin
 * listener's fds and the cluster's two Redis links: what the loop polls. */
#define GATEWAY_POLL_MAX 1164

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

/* The TLS client context a wss:// backend needs (verifying or not), built once. 0 or -1. */
static int gateway_tls_client_ctx(struct gateway *gw, bool verify, char *err, size_t err_len)
{
	unsigned i = verify ? 0 : 1;
	if (atomic_load_explicit(&gw->tls_client[i], memory_order_acquire) != NULL)
		return 0;
	char why[400];
	struct tls_ctx *c = tls_client_ctx_new(gw->cfg->backend_ca, verify, why, sizeof(why));
	if (c == NULL) {
		snprintf(err, err_len, "%s: %s", gw->cfg->backend_ca ? "--backend-ca" : "wss://",
		         why);
		return -1;
	}
	atomic_store_explicit(&gw->tls_client[i], c, memory_order_release);
	if (!verify)
		LOG_WARN("tls_verify_off",
		         "why=\"a route has tls-verify=false: its wss:// backends "
		         "are not verified\"");
	return 0;
}

static void gateway_tls_ctx_free(void *c)
{
	tls_ctx_free(c);
}

/* SIGHUP: the verifying client context again, from --backend-ca (or the system bundle), so a
 * CA file rotated in place takes effect for new wss:// dials. Open backend sessions hold
 * references to the context they were made from; the old one is freed after every worker
 * passed a quiescent point (no dial is using the pointer any more). A bad file is logged and
 * the old context stays. */
static void gateway_reload_backend_ca(struct gateway *gw)
{
	if (atomic_load_explicit(&gw->tls_client[0], memory_order_acquire) == NULL)
		return; /* no wss:// backend was ever verified: nothing to refresh */
	char why[400];
	struct tls_ctx *c = tls_client_ctx_new(gw->cfg->backend_ca, true, why, sizeof(why));
	if (c == NULL) {
		LOG_ERROR("backend_ca_reload_failed", "file=%s why=\"%s\"",
		          gw->cfg->backend_ca ? gw->cfg->backend_ca : "(system bundle)", why);
		return;
	}
	struct tls_ctx *old = atomic_exchange_explicit(&gw->tls_client[0], c, memory_order_acq_rel);
	if (old != NULL && rt_retire_object(old, gateway_tls_ctx_free) != 0)
		LOG_WARN("tls_retire", "why=\"out of memory: the old backend context is leaked\"");
	LOG_INFO("backend_ca_reloaded", "file=%s",
	         gw->cfg->backend_ca ? gw->cfg->backend_ca : "(system bundle)");
}

struct rt_table *gateway_table_new(struct gateway *gw, const struct rt_route_def *defs, unsigned n,
                                   char *err, size_t err_len)
{
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = 0; j < defs[i].n_backends; j++)
			if (defs[i].backends[j].tls &&
			    gateway_tls_client_ctx(gw, !defs[i].tls_no_verify, err, err_len) != 0)
				return NULL;
	/* Routes without lb= get the gateway's --lb (the one it started with: a reload reads
	 * only the file's routes). */
	const struct rt_lb_default dflt = {gw->cfg->lb, gw->cfg->lb_header};
	struct rt_table *t = rt_table_new_lb(defs, n, &dflt, err, err_len);
	if (t == NULL)
		return NULL;
	if (admission_attach(t, gw->cfg, err, err_len) != 0) {
		rt_table_free(t);
		return NULL;
	}
	if (gw->reg == NULL)
		return t;
	unsigned nr = rt_table_route_count(t), nb = rt_table_backend_count(t);
	uint32_t *rs = calloc(nr ? nr : 1, sizeof(*rs));
	uint32_t *bs = calloc(nb ? nb : 1, sizeof(*bs));
	if (rs != NULL && bs != NULL) {
		metrics_reg_map_table(gw->reg, t, rs, bs);
		rt_table_set_stat_slots(t, rs, bs);
	}
	free(rs);
	free(bs);
	return t;
}

/* Tells the acceptor to stop: a msg_ring whose own completion says whether it arrived. */
static int gateway_stop_acceptor(struct gateway *gw)
{
	int rc = cmdq_bell_ring(&gw->bell, gw->acceptor->ring_fd, ud_pack(0, 0, WOP_CMD), 1);
	if (rc != 0)
		LOG_ERROR("acceptor_stop", "err=%d why=\"%s\"", -rc, strerror(-rc));
	return rc;
}

/* The same command to every worker (each answers with one reply, read in the loop). */
static void gateway_command_all(struct gateway *gw, enum worker_cmd kind)
{
	for (unsigned i = 0; i < gw->n_workers; i++) {
		struct worker *w = &gw->workers[i];
		if (atomic_load_explicit(&w->exited, memory_order_acquire))
			continue;
		struct cmdq_cmd cmd = {.kind = kind, .id = kind};
		int rc = cmdq_push(&w->cmdq, &cmd);
		if (rc == 0)
			rc = cmdq_doorbell(&w->cmdq);
		if (rc != 0)
			LOG_ERROR("worker_command", "worker=%u cmd=%u err=%d why=\"%s\"", i,
			          (unsigned)kind, -rc, strerror(-rc));
	}
}

/* Replies from the workers (their eventfds polled with the rest); the admin's own go back
 * to it, with the payload they return. */
static void gateway_take_replies(struct gateway *gw, struct admin *admin)
{
	for (unsigned i = 0; i < gw->n_workers; i++) {
		struct cmdq *q = &gw->workers[i].cmdq;
		struct cmdq_cmd r;
		cmdq_reply_ack(q);
		while (cmdq_reply_pop(q, &r) == 0) {
			if (r.kind >= WCMD_APP && admin != NULL)
				admin_on_reply(admin, i, &r);
			else
				LOG_DEBUG("worker_reply", "worker=%u cmd=%u res=%d", i, r.kind,
				          r.res);
		}
	}
}

static unsigned gateway_workers_running(const struct gateway *gw)
{
	unsigned n = 0;
	for (unsigned i = 0; i < gw->n_workers; i++)
		if (!atomic_load_explicit(&gw->workers[i].exited, memory_order_acquire))
			n++;
	return n;
}

/* SIGHUP: the certificates and keys again (the file's pairs if it names any, else the ones
 * the gateway started with: a rotated file on disk is read anew). A bad or mismatched file
 * is refused and logged, and the old context set stays. */
static void gateway_reload_tls(struct gateway *gw, const struct wsg_config *next)
{
	const struct wsg_config *src = next->n_tls_pairs > 0 ? next : gw->cfg;
	if (gw->cfg->n_tls_listen == 0)
		return;
	struct wsg_config view = *src;
	view.n_tls_listen = gw->cfg->n_tls_listen;
	view.tls_min_version = gw->cfg->tls_min_version;
	char err[512];
	bool failed;
	struct tls_ctx *ctx = conn_tls_server_ctx_new(&view, &failed, err, sizeof(err));
	if (failed) {
		LOG_ERROR("tls_reload_failed", "why=\"%s\"", err);
		return;
	}
	conn_tls_publish(ctx);
	LOG_INFO("tls_reloaded", "certs=%u", view.n_tls_pairs);
}

/* SIGHUP: the JWT keys again, from the file when it sets any JWT key (its settings then
 * replace the start's whole), else from the settings the gateway started with (their files
 * read anew: a rotated JWKS takes effect). A bad file is refused and logged, and the old set
 * stays. Returns -1 when refused, so that the routes are not reloaded either: a half-applied
 * reload is harder to reason about than none. */
static int gateway_reload_auth(struct gateway *gw, const struct wsg_config *next)
{
	const struct wsg_config *src = next != NULL && config_has_jwt_key(next) ? next : gw->cfg;
	char err[512];
	bool failed;
	struct admission_auth *a = admission_auth_new(src, &failed, err, sizeof(err));
	if (failed) {
		LOG_ERROR("auth_reload_failed", "why=\"%s\"", err);
		return -1;
	}
	admission_auth_publish(a);
	LOG_INFO("auth_reloaded", "keys=%zu", admission_auth_key_count());
	return 0;
}

static void gateway_reload(struct gateway *gw)
{
	/* SIGHUP: routes from --config again; open tunnels keep the table they hold. */
	if (!gw->app->routes || gw->cfg->config_file == NULL) {
		/* No file to read routes from; the certificate files are read again all the
		 * same (they may have been rotated in place). */
		gateway_reload_tls(gw, gw->cfg);
		gateway_reload_backend_ca(gw);
		if (gw->app->routes)
			(void)gateway_reload_auth(gw, NULL);
		LOG_WARN("reload_skipped", "what=routes why=\"no --config file\"");
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
	gateway_reload_tls(gw, &next);
	gateway_reload_backend_ca(gw);
	if (gateway_reload_auth(gw, &next) != 0) {
		LOG_ERROR("reload_failed", "why=\"the JWT keys were refused: routes kept too\"");
		config_fini(&next);
		return;
	}
	struct rt_table *t = gateway_table_new(gw, next.routes, next.n_routes, err, sizeof(err));
	if (t == NULL) {
		LOG_ERROR("reload_failed", "why=\"%s\"", err);
	} else {
		rt_publish(t);
		LOG_INFO("routes_reloaded", "routes=%u", next.n_routes);
	}
	config_fini(&next);
}

/* The workers' access records to the file, once per loop turn (at least every 100 ms). */
static void gateway_drain_access_log(struct gateway *gw)
{
	if (!access_log_on())
		return;
	struct access_ring *rings[GATEWAY_POLL_MAX];
	unsigned n = gw->n_workers < GATEWAY_POLL_MAX ? gw->n_workers : GATEWAY_POLL_MAX;
	for (unsigned i = 0; i < n; i++)
		rings[i] = gw->workers[i].access;
	access_log_drain(rings, n);
}

/* The service manager waits for these (wsgate.service is Type=notify); a failed send is
 * logged, never fatal: without a manager listening there is nothing else to do. */
static void gateway_notify(int rc, const char *state)
{
	if (rc < 0)
		LOG_WARN("sd_notify_failed", "state=%s why=\"%s\"", state, strerror(-rc));
}

/* How long the control loop may sleep. 100 ms while anything needs its turns (admin clients'
 * deadlines, objects waiting for reclamation, a drain, the cluster's timers, the access log's
 * writer); otherwise until the next health check is due, at most a second, so that an idle
 * gateway's control thread wakes once a second, not ten times. Signals, worker replies and
 * admin connections wake it at once whatever the timeout. */
static int gateway_poll_timeout_ms(const struct gateway *gw, const struct admin *admin,
                                   const struct health_probe *hp, bool draining)
{
	if (draining || admin_busy(admin) || rt_retired_count() > 0 || gw->cluster != NULL ||
	    access_log_on())
		return 100;
	uint64_t next = health_probe_next_ms(hp), now = gateway_clock_ms();
	if (next == UINT64_MAX || next > now + 1000)
		return 1000;
	/* At least 10 ms: a check that is due but waits for a free slot must not spin us. */
	return next > now + 10 ? (int)(next - now) : 10;
}

static int gateway_control_loop(struct gateway *gw, struct admin *admin, int sfd)
{
	const struct wsg_config *cfg = gw->cfg;
	bool draining = false;
	bool stopped = false;
	uint64_t drain_deadline = 0;
	/* Active health checks (router/health.h has the verdicts): only when there are routes. */
	struct health_probe *hp = gw->app->routes ? health_probe_new(cfg) : NULL;
	for (;;) {
		struct pollfd fds[GATEWAY_POLL_MAX];
		unsigned n = 0;
		fds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		for (unsigned i = 0; i < gw->n_workers && n < GATEWAY_POLL_MAX - 72; i++)
			fds[n++] = (struct pollfd){.fd = cmdq_reply_fd(&gw->workers[i].cmdq),
			                           .events = POLLIN};
		unsigned hp_first = n;
		unsigned hp_n =
		    health_probe_pollfds(hp, fds + n, GATEWAY_POLL_MAX - n, gateway_clock_ms());
		n += hp_n;
		unsigned cl_first = n, cl_n = 0;
		if (gw->cluster != NULL)
			cl_n = cluster_pollfds(gw->cluster, fds + n, GATEWAY_POLL_MAX - n);
		n += cl_n;
		unsigned admin_first = n;
		if (admin != NULL)
			n += admin_pollfds(admin, fds + n, GATEWAY_POLL_MAX - n);
		int rc = poll(fds, n, gateway_poll_timeout_ms(gw, admin, hp, draining));
		uint64_t now = gateway_clock_ms();
		if (rc > 0 && (fds[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGHUP) {
					/* Not while draining: READY=1 after STOPPING=1 would
					 * tell systemd the service is up again. */
					if (!draining)
						gateway_notify(sd_notify_reloading(), "RELOADING");
					gateway_reload(gw);
					if (!draining)
						gateway_notify(sd_notify_ready(), "READY");
					continue;
				}
				if (si.ssi_signo == SIGUSR1) {
					access_log_reopen(); /* log rotation */
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
				gateway_notify(sd_notify_stopping(), "STOPPING");
				gateway_stop_acceptor(gw);
				gateway_command_all(gw, WCMD_DRAIN);
				if (gw->cluster != NULL)
					cluster_drain(gw->cluster);
			}
		}
		if (rc > 0)
			gateway_take_replies(gw, admin);
		health_probe_on_poll(hp, fds + hp_first, rc > 0 ? hp_n : 0, now);
		if (gw->cluster != NULL)
			cluster_on_poll(gw->cluster, fds + cl_first, rc > 0 ? cl_n : 0, now);
		if (admin != NULL && rc > 0)
			admin_on_poll(admin, fds + admin_first, n - admin_first, now);
		else if (admin != NULL)
			admin_on_poll(admin, fds + admin_first, 0, now);
		rt_reclaim();
		gateway_drain_access_log(gw);
		if (!draining)
			continue;
		if (gateway_workers_running(gw) == 0)
			break;
		if (!stopped && now >= drain_deadline) {
			stopped = true;
			gateway_command_all(gw, WCMD_STOP);
		}
	}
	health_probe_free(hp);
	uint64_t cut = 0;
	for (unsigned i = 0; i < gw->n_workers; i++)
		cut += atomic_load(&gw->workers[i].drain_cut);
	if (stopped)
		LOG_INFO("drain_timeout", "closed=%llu", (unsigned long long)cut);
	if (gw->app->drain_log) {
		/* The totals of the process's life, from the workers' counters. */
		const struct metrics_worker *ms[GATEWAY_POLL_MAX];
		unsigned nm = gw->n_workers < GATEWAY_POLL_MAX ? gw->n_workers : GATEWAY_POLL_MAX;
		for (unsigned i = 0; i < nm; i++)
			ms[i] = gw->workers[i].m;
		static struct metrics_totals tot;
		metrics_sum(ms, nm, gw->reg, &tot);
		LOG_INFO("drain_done",
		         "forced=%llu connections=%llu tunnels=%llu msgs_up=%llu msgs_down=%llu "
		         "bytes_up=%llu bytes_down=%llu",
		         (unsigned long long)cut, (unsigned long long)tot.connections_total,
		         (unsigned long long)tot.tunnels_opened,
		         (unsigned long long)tot.messages[METRICS_UP],
		         (unsigned long long)tot.messages[METRICS_DOWN],
		         (unsigned long long)tot.bytes[METRICS_UP],
		         (unsigned long long)tot.bytes[METRICS_DOWN]);
	} else {
		LOG_INFO("drain_done", "forced=%llu", (unsigned long long)cut);
	}
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

	/* Listeners first: a port in use is a runtime failure before any thread exists. The
	 * plain ones, then the TLS ones; each socket the acceptor hands on carries its
	 * listener's kind. */
	unsigned n_fds = cfg->n_listen + cfg->n_tls_listen;
	int *fds = calloc(n_fds ? n_fds : 1, sizeof(int));
	uint8_t *kinds = calloc(n_fds ? n_fds : 1, sizeof(uint8_t));
	if (fds == NULL || kinds == NULL) {
		free(fds);
		free(kinds);
		return 1;
	}
	for (unsigned i = 0; i < n_fds; i++) {
		bool tls = i >= cfg->n_listen;
		const struct cfg_addr *addr =
		    tls ? &cfg->tls_listen[i - cfg->n_listen] : &cfg->listen[i];
		kinds[i] = tls ? CONN_KIND_TLS : CONN_KIND_PLAIN;
		fds[i] = gateway_listen(prog, addr, true);
		if (fds[i] == -1) {
			while (i-- > 0)
				close(fds[i]);
			free(fds);
			free(kinds);
			return 1;
		}
	}
	if (cfg->n_tls_listen > 0) {
		char err[512];
		bool failed;
		struct tls_ctx *ctx = conn_tls_server_ctx_new(cfg, &failed, err, sizeof(err));
		if (failed) {
			fprintf(stderr, "%s\n", err);
			for (unsigned i = 0; i < n_fds; i++)
				close(fds[i]);
			free(fds);
			free(kinds);
			return 2;
		}
		conn_tls_publish(ctx);
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

	if (app->routes && (cfg->max_conns_per_ip > 0 || cfg->conn_rate.per_sec > 0)) {
		/* One entry per client socket the gateway can hold, rounded up to a power of
		 * two: live entries are never evicted, so the table cannot fill with them. */
		uint64_t cap = 8;
		while (cap < gw->max_clients + 64u * gw->n_workers && cap < (1u << 30))
			cap <<= 1;
		if (iplimit_init(&gw->iplimit, (uint32_t)cap, cfg->ipv6_prefix) != 0) {
			fprintf(stderr, "%s: --max-conns-per-ip: out of memory\n", prog);
			goto out_close_admin;
		}
		gw->iplimit_on = true;
		LOG_INFO("iplimit", "entries=%llu bytes=%llu", (unsigned long long)cap,
		         (unsigned long long)(cap * sizeof(struct iplimit_entry)));
	}
	if (app->routes) {
		char err[512];
		bool auth_failed;
		struct admission_auth *auth =
		    admission_auth_new(cfg, &auth_failed, err, sizeof(err));
		if (auth_failed) {
			fprintf(stderr, "%s\n", err);
			goto out_close_admin;
		}
		admission_auth_publish(auth);
		if (auth != NULL)
			LOG_INFO("auth", "keys=%zu", admission_auth_key_count());
		gw->reg = metrics_reg_new(METRICS_MAX_ROUTES, METRICS_MAX_BACKENDS);
		struct rt_table *table =
		    gateway_table_new(gw, cfg->routes, cfg->n_routes, err, sizeof(err));
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

	if (cfg->cluster_url != NULL && app->routes) {
		char err[512];
		gw->cluster = cluster_new(gw, err, sizeof(err));
		if (gw->cluster == NULL) {
			fprintf(stderr, "%s: %s\n", prog, err);
			goto out_routes;
		}
		/* Connection ids are NODE.N: any node can tell which one owns an id. */
		snprintf(gw->id_prefix, sizeof(gw->id_prefix), "%s", cluster_node_id(gw->cluster));
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd == -1) {
		fprintf(stderr, "%s: signalfd: %s\n", prog, strerror(errno));
		goto out_routes;
	}
	if (cmdq_bell_init(&gw->bell) != 0) {
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
		struct worker *w = &gw->workers[started];
		int rc = worker_init(w, gw, started, (uint32_t)per_worker);
		if (rc != 0) {
			fprintf(stderr, "%s: cannot start worker %u: %s\n", prog, started,
			        strerror(rc < 0 ? -rc : rc));
			goto out_workers;
		}
		rc = cmdq_init(&w->cmdq, 64, w->ring_fd, ud_pack(0, 0, WOP_CMDQ), &gw->bell);
		if (rc != 0) {
			worker_fini(w);
			fprintf(stderr, "%s: cannot start worker %u: %s\n", prog, started,
			        strerror(-rc));
			goto out_workers;
		}
	}
	static struct acceptor acc;
	gw->acceptor = &acc;
	if (acceptor_init(&acc, gw, fds, n_fds) != 0) {
		fprintf(stderr, "%s: cannot start the acceptor\n", prog);
		goto out_workers;
	}
	acc.kinds = kinds;
	fds = NULL; /* the acceptor owns them now */
	kinds = NULL;
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
	for (unsigned i = 0; i < cfg->n_tls_listen; i++)
		LOG_INFO("listening", "addr=%s tls=1 certs=%u", cfg->tls_listen[i].text,
		         cfg->n_tls_pairs);
	if (!cfg->admin_off && app->admin)
		LOG_INFO("admin_listening", "addr=%s", cfg->admin.text);
	LOG_INFO("started", "workers=%u prog=%s id_prefix=%s", gw->n_workers, prog, gw->id_prefix);
	gateway_notify(sd_notify_ready(), "READY");

	status = gateway_control_loop(gw, admin, sfd);

	acceptor_join(&acc);
	for (unsigned i = 0; i < gw->n_workers; i++)
		pthread_join(gw->workers[i].thread, NULL);
	admin_free(admin);
	cluster_free(gw->cluster); /* deregisters; after the joins: workers read its leases */
	gw->cluster = NULL;
	gateway_drain_access_log(gw); /* what the workers wrote last */
	log_stop_drain();
	for (unsigned i = 0; i < gw->n_workers; i++) {
		cmdq_fini(&gw->workers[i].cmdq);
		worker_fini(&gw->workers[i]);
	}
	free(gw->workers);
	cmdq_bell_fini(&gw->bell);
	close(sfd);
	conn_tls_publish(NULL);
	admission_auth_publish(NULL);
	for (unsigned i = 0; i < 2; i++)
		tls_ctx_free(atomic_exchange(&gw->tls_client[i], NULL));
	if (app->routes)
		rt_shutdown();
	metrics_reg_free(gw->reg);
	if (gw->iplimit_on)
		iplimit_fini(&gw->iplimit);
	return status;

out_acceptor:
	io_uring_queue_exit(&acc.ring);
	fds = acc.fds;
out_workers:
	while (started-- > 0) {
		cmdq_fini(&gw->workers[started].cmdq);
		worker_fini(&gw->workers[started]);
	}
	free(gw->workers);
out_ctl:
	cmdq_bell_fini(&gw->bell);
out_close_sfd:
	close(sfd);
out_routes:
	cluster_free(gw->cluster);
	gw->cluster = NULL;
	if (app->routes)
		rt_shutdown();
	metrics_reg_free(gw->reg);
out_close_admin:
	if (app->routes) {
		admission_auth_publish(NULL); /* retired, and freed by rt_shutdown */
		rt_shutdown();
	}
	if (gw->iplimit_on)
		iplimit_fini(&gw->iplimit);
	gw->iplimit_on = false;
	if (admin_fd != -1)
		close(admin_fd);
out_close_listeners:
	if (fds != NULL) {
		for (unsigned i = 0; i < n_fds; i++)
			close(fds[i]);
		free(fds);
	}
	free(kinds);
	conn_tls_publish(NULL);
	return status;
}
