/* core/health_probe.c: active health checks, run by the control thread.
 *
 * Owns: one target per distinct backend (by counter slot) of the current route table, each
 * with its hysteresis (struct health_sm) and its next due time, and at most HP_INFLIGHT
 * probes in flight, each a non-blocking socket in the control thread's poll set. Verdicts are
 * published through router/health.h (health_active_set), so a worker learns that a backend is
 * down with one relaxed load on its next pick; the checker never talks to a worker.
 *
 * A probe: a TCP connect; with --health-path (and a ws:// backend) then a WebSocket upgrade
 * to that path (sent as given, not under the backend URL's path), which must be answered 101
 * with the right Sec-WebSocket-Accept, after which a masked close 1000 is sent and the socket
 * closed. The whole probe is bounded by --connect-timeout. Each target is checked every
 * --health-interval, new targets spread over their first interval so that a large table does
 * not probe everything in one turn. A wss:// backend is checked by TCP connect only (its TLS
 * handshake would need a TLS session on this thread; not built yet).
 *
 * The table is read with rt_acquire on this thread, which is the one that frees tables
 * (rt_reclaim), so nothing is freed while a call below looks at it; a new table is noticed by
 * rt_table_generation changing, and what is needed is copied out.
 *
 * Rejected: checks on every worker (N times the probes, N verdicts to reconcile); a dedicated
 * thread (it would need its own copy of the table handed over, and a way to stop; the control
 * thread already polls every 100 ms and a probe costs a few syscalls); blocking connects
 * (one dead backend would stall the control thread for --connect-timeout). */
#include "core/health_probe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "proto/http1.h"
#include "proto/wskey.h"
#include "router/health.h"
#include "router/rt.h"

_Static_assert(HEALTH_SLOTS == METRICS_BACKEND_SLOTS, "health state is indexed by backend slot");

#define HP_INFLIGHT 64u  /* probes in flight at once, at most (pollfds of the control loop) */
#define HP_BUF      4096 /* request out, then the response head in */

enum hp_state {
	HP_IDLE = 0,
	HP_CONNECTING,
	HP_WRITING, /* the upgrade request */
	HP_READING, /* the response head */
};

struct hp_target {
	uint32_t slot;
	char *url;      /* for logs */
	char *host_hdr; /* "host:port", IPv6 literals bracketed */
	bool tls;       /* wss://: TCP connect only */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct health_sm sm;
	uint64_t next_ms;     /* next check due */
	enum hp_state state;  /* HP_IDLE: nothing in flight */
	int fd;               /* -1 when idle */
	uint64_t deadline_ms; /* of the check in flight */
	char key[WSKEY_KEY_LEN + 1];
	char *buf; /* HP_BUF bytes while in flight */
	size_t len, off;
	struct http_parser parser;
};

struct health_probe {
	const struct wsg_config *cfg;
	uint64_t generation; /* rt_table_generation() the targets come from */
	struct hp_target *t;
	unsigned n;
	unsigned inflight;
	unsigned polled[HP_INFLIGHT]; /* target index of each pollfd handed out */
	unsigned n_polled;
	uint64_t rng;
};

struct health_probe *health_probe_new(const struct wsg_config *cfg)
{
	if (cfg->health_interval_ms == 0)
		return NULL;
	struct health_probe *hp = calloc(1, sizeof(*hp));
	if (hp == NULL)
		return NULL;
	hp->cfg = cfg;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	hp->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ull;
	return hp;
}

static uint64_t hp_random(struct health_probe *hp)
{
	/* xorshift64*: a Sec-WebSocket-Key and a mask need to vary, not to be secret */
	hp->rng ^= hp->rng >> 12;
	hp->rng ^= hp->rng << 25;
	hp->rng ^= hp->rng >> 27;
	return hp->rng * 0x2545f4914f6cdd1dull;
}

static void hp_abort(struct hp_target *x)
{
	if (x->fd != -1)
		close(x->fd);
	x->fd = -1;
	free(x->buf);
	x->buf = NULL;
	x->state = HP_IDLE;
}

static void hp_target_fini(struct hp_target *x)
{
	hp_abort(x);
	free(x->url);
	free(x->host_hdr);
}

void health_probe_free(struct health_probe *hp)
{
	if (hp == NULL)
		return;
	for (unsigned i = 0; i < hp->n; i++)
		hp_target_fini(&hp->t[i]);
	free(hp->t);
	free(hp);
}

/* The result of one check: counted, fed to the hysteresis, a change published and logged. */
static void hp_finish(struct health_probe *hp, struct hp_target *x, bool ok, const char *why,
                      uint64_t now_ms)
{
	hp_abort(x);
	if (hp->inflight > 0)
		hp->inflight--;
	x->next_ms = now_ms + hp->cfg->health_interval_ms;
	health_count_check(x->slot, ok ? HEALTH_RESULT_SUCCESS : HEALTH_RESULT_FAILURE);
	if (!ok)
		LOG_DEBUG("health_check_failed", "backend=%s why=%s", x->url, why);
	if (!health_sm_step(&x->sm, ok, hp->cfg->health_fails, hp->cfg->health_passes))
		return;
	health_active_set(x->slot, x->sm.down);
	if (x->sm.down)
		LOG_WARN("backend_down", "backend=%s check=active fails=%u why=%s", x->url,
		         hp->cfg->health_fails, why);
	else
		LOG_INFO("backend_up", "backend=%s check=active passes=%u", x->url,
		         hp->cfg->health_passes);
}

/* The new table's backends as targets; those already known keep their state. */
static void hp_take_table(struct health_probe *hp, uint64_t now_ms)
{
	const struct rt_table *t = rt_acquire();
	unsigned nb = t != NULL ? rt_table_backend_count(t) : 0;
	struct hp_target *next = calloc(nb ? nb : 1, sizeof(*next));
	if (next == NULL)
		return; /* keep the old targets; tried again next turn */
	unsigned n = 0;
	for (unsigned r = 0; t != NULL && r < rt_table_route_count(t); r++) {
		const struct rt_route *route = rt_table_route(t, r);
		for (unsigned k = 0; k < route->n_backends; k++) {
			const struct rt_backend *b = &route->backends[k];
			bool dup =
			    b->stat_slot == METRICS_SLOT_OVERFLOW || b->stat_slot >= HEALTH_SLOTS;
			for (unsigned j = 0; j < n && !dup; j++)
				dup = next[j].slot == b->stat_slot;
			if (dup)
				continue;
			struct hp_target *x = &next[n];
			unsigned old = hp->n;
			for (unsigned j = 0; j < hp->n; j++)
				if (hp->t[j].slot == b->stat_slot && hp->t[j].url != NULL)
					old = j;
			if (old < hp->n) {
				*x = hp->t[old]; /* state, schedule and the check in flight move */
				memset(&hp->t[old], 0, sizeof(hp->t[old]));
				hp->t[old].fd = -1;
				n++;
				continue;
			}
			char host[300];
			bool v6 = strchr(b->host, ':') != NULL;
			snprintf(host, sizeof(host), "%s%s%s:%u", v6 ? "[" : "", b->host,
			         v6 ? "]" : "", b->port);
			x->url = strdup(b->url);
			x->host_hdr = strdup(host);
			if (x->url == NULL || x->host_hdr == NULL) {
				hp_target_fini(x);
				continue;
			}
			x->slot = b->stat_slot;
			x->tls = b->tls;
			memcpy(&x->addr, &b->addr, sizeof(x->addr));
			x->addr_len = b->addr_len;
			health_sm_init(&x->sm);
			x->fd = -1;
			x->state = HP_IDLE;
			n++;
		}
	}
	/* Spread new targets' first checks over one interval (SPEC.md: up until checked). */
	for (unsigned i = 0; i < n; i++)
		if (next[i].next_ms == 0)
			next[i].next_ms = now_ms + 1 + hp->cfg->health_interval_ms * (i + 1) / n;
	for (unsigned j = 0; j < hp->n; j++) {
		if (hp->t[j].url == NULL)
			continue; /* moved */
		if (hp->t[j].state != HP_IDLE && hp->inflight > 0)
			hp->inflight--;
		health_slot_reset(hp->t[j].slot);
		hp_target_fini(&hp->t[j]);
	}
	free(hp->t);
	hp->t = next;
	hp->n = n;
	hp->generation = rt_table_generation();
	LOG_DEBUG("health_targets", "backends=%u", n);
}

static void hp_start(struct health_probe *hp, struct hp_target *x, uint64_t now_ms)
{
	x->deadline_ms = now_ms + hp->cfg->connect_timeout_ms;
	hp->inflight++;
	x->state = HP_CONNECTING;
	x->fd = socket(x->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (x->fd == -1) {
		hp_finish(hp, x, false, "socket", now_ms);
		return;
	}
	if (connect(x->fd, (const struct sockaddr *)&x->addr, x->addr_len) != 0 &&
	    errno != EINPROGRESS)
		hp_finish(hp, x, false, "connect", now_ms);
}

/* Connected: done for a TCP check, else the upgrade request goes out. */
static void hp_connected(struct health_probe *hp, struct hp_target *x, uint64_t now_ms)
{
	const char *path = hp->cfg->health_path;
	if (path == NULL || x->tls) {
		hp_finish(hp, x, true, "", now_ms);
		return;
	}
	uint8_t nonce[16];
	uint64_t r1 = hp_random(hp), r2 = hp_random(hp);
	memcpy(nonce, &r1, 8);
	memcpy(nonce + 8, &r2, 8);
	wskey_encode(nonce, x->key);
	x->buf = malloc(HP_BUF);
	if (x->buf == NULL) {
		hp_finish(hp, x, false, "memory", now_ms);
		return;
	}
	int n = snprintf(x->buf, HP_BUF,
	                 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	                 "Sec-WebSocket-Version: 13\r\nUser-Agent: wsgate-health-check\r\n\r\n",
	                 path, x->host_hdr, x->key);
	if (n < 0 || n >= HP_BUF) {
		hp_finish(hp, x, false, "request too long", now_ms);
		return;
	}
	x->len = (size_t)n;
	x->off = 0;
	x->state = HP_WRITING;
}

static void hp_write(struct health_probe *hp, struct hp_target *x, uint64_t now_ms)
{
	ssize_t w = send(x->fd, x->buf + x->off, x->len - x->off, MSG_NOSIGNAL);
	if (w == -1) {
		if (errno != EAGAIN && errno != EINTR)
			hp_finish(hp, x, false, "send", now_ms);
		return;
	}
	x->off += (size_t)w;
	if (x->off < x->len)
		return;
	x->len = 0;
	http_parser_init(&x->parser);
	x->state = HP_READING;
}

static void hp_read(struct health_probe *hp, struct hp_target *x, uint64_t now_ms)
{
	ssize_t r = recv(x->fd, x->buf + x->len, HP_BUF - x->len, 0);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		hp_finish(hp, x, false, r == 0 ? "eof" : "recv", now_ms);
		return;
	}
	x->len += (size_t)r;
	static const struct wsg_limits lim = {HP_BUF, WSG_HEADERS_MAX_DEFAULT,
	                                      WSG_MESSAGE_MAX_DEFAULT};
	static struct http_response resp; /* control thread only; large */
	size_t used;
	switch (http_parse_response(&x->parser, x->buf, x->len, &lim, &resp, &used)) {
	case HTTP_RC_MORE:
		if (x->len == HP_BUF)
			hp_finish(hp, x, false, "head too large", now_ms);
		return;
	case HTTP_RC_FAIL:
		hp_finish(hp, x, false, "bad response", now_ms);
		return;
	case HTTP_RC_OK:
		break;
	}
	if (resp.status != 101 ||
	    !http_response_is_upgrade(&resp, (struct http_str){x->key, WSKEY_KEY_LEN},
	                              (struct http_str){"", 0})) {
		hp_finish(hp, x, false, resp.status != 101 ? "status" : "bad upgrade", now_ms);
		return;
	}
	/* RFC 6455 5.5.1: a close with 1000, masked as a client's must be; one small send that
	 * fits any socket buffer, best effort: the check has passed either way. */
	uint8_t fr[8] = {0x88, 0x82};
	uint32_t mask = (uint32_t)hp_random(hp);
	memcpy(fr + 2, &mask, 4);
	fr[6] = (uint8_t)(0x03 ^ fr[2]);
	fr[7] = (uint8_t)(0xe8 ^ fr[3]);
	(void)!send(x->fd, fr, sizeof(fr), MSG_NOSIGNAL);
	hp_finish(hp, x, true, "", now_ms);
}

unsigned health_probe_pollfds(struct health_probe *hp, struct pollfd *fds, unsigned cap,
                              uint64_t now_ms)
{
	if (hp == NULL)
		return 0;
	if (hp->generation != rt_table_generation())
		hp_take_table(hp, now_ms);
	if (cap > HP_INFLIGHT)
		cap = HP_INFLIGHT;
	for (unsigned i = 0; i < hp->n && hp->inflight < cap; i++)
		if (hp->t[i].state == HP_IDLE && now_ms >= hp->t[i].next_ms)
			hp_start(hp, &hp->t[i], now_ms);
	hp->n_polled = 0;
	for (unsigned i = 0; i < hp->n && hp->n_polled < cap; i++) {
		struct hp_target *x = &hp->t[i];
		if (x->state == HP_IDLE)
			continue;
		fds[hp->n_polled] = (struct pollfd){
		    .fd = x->fd, .events = x->state == HP_READING ? POLLIN : POLLOUT};
		hp->polled[hp->n_polled++] = i;
	}
	return hp->n_polled;
}

uint64_t health_probe_next_ms(const struct health_probe *hp)
{
	uint64_t next = UINT64_MAX;
	if (hp == NULL)
		return next;
	for (unsigned i = 0; i < hp->n; i++) {
		uint64_t t = hp->t[i].state == HP_IDLE ? hp->t[i].next_ms : hp->t[i].deadline_ms;
		if (t < next)
			next = t;
	}
	return next;
}

void health_probe_on_poll(struct health_probe *hp, const struct pollfd *fds, unsigned n,
                          uint64_t now_ms)
{
	if (hp == NULL)
		return;
	for (unsigned i = 0; i < n && i < hp->n_polled; i++) {
		struct hp_target *x = &hp->t[hp->polled[i]];
		short ev = fds[i].revents;
		if (ev == 0 || x->state == HP_IDLE || fds[i].fd != x->fd)
			continue;
		switch (x->state) {
		case HP_CONNECTING: {
			int err = 0;
			socklen_t len = sizeof(err);
			if (getsockopt(x->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
				hp_finish(hp, x, false, "connect", now_ms);
				break;
			}
			hp_connected(hp, x, now_ms);
			if (x->state == HP_WRITING)
				hp_write(hp, x, now_ms);
			break;
		}
		case HP_WRITING:
			hp_write(hp, x, now_ms);
			break;
		case HP_READING:
			hp_read(hp, x, now_ms);
			break;
		case HP_IDLE:
			break;
		}
	}
	hp->n_polled = 0;
	for (unsigned i = 0; i < hp->n; i++) {
		struct hp_target *x = &hp->t[i];
		if (x->state != HP_IDLE && now_ms >= x->deadline_ms)
			hp_finish(hp, x, false, "timeout", now_ms);
	}
}
