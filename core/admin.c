/* core/admin.c: the admin listener (see admin.h). Runs on the control thread only.
 *
 * Owns: the admin listening socket, one epoll instance, and a malloc'd struct admin_conn per
 * admin client on a doubly linked list in accept order. Each client goes READ (collect a
 * request head, parsed with proto/http1's http_parse_request_http10, so HTTP/1.0 health
 * checks work and every other limit and rejection is the upgrade path's) -> WRITE (the answer,
 * Connection: close, sent as the socket takes it; an EAGAIN keeps the unsent tail and waits
 * for EPOLLOUT) -> LINGER (our side shut, unread bytes such as a refused body discarded until
 * the client closes, so that our close does not reset the connection under the answer).
 *
 * The calls that read the counters are built in other files of the admin (admin_int.h):
 * /metrics in admin_metrics.c (text by core/prom.c), /stats in admin_stats.c, and the
 * --admin-token check in admin_token.c; here they are only dispatched. Both sum the
 * workers' counters with relaxed loads (no message to a worker), so they are answered at
 * once like the probes.
 *
 * The calls on routes and connections are built in other files of the admin
 * (admin_api_int.h): the target and its query are parsed by admin_req.c, GET/PUT /routes are
 * admin_routes.c's, /connections and /broadcast admin_conns.c's (commands to the workers),
 * and the --admin-token check is admin_token.c's; here they are only dispatched, and a body
 * is read for them (BODY, below). A call that waits for the workers leaves its client in
 * WAIT, with no events wanted, until admin_conns.c answers it from the replies.
 *
 * Invariants: at most ADMIN_CONNS_MAX clients; when full, a new client evicts the oldest one
 * still reading (a health check is never refused because idle sockets hold every place). An
 * idle client owns no buffer; the head buffer starts at ADMIN_IN_FIRST bytes on the first
 * read and doubles up to ADMIN_HEAD_MAX (16 KiB, then 431). A body is read (BODY) only for a
 * call that takes one (PUT /routes, the POSTs), after its head passed every check, the token
 * included: its Content-Length is checked first (over ADMIN_BODY_MAX is 413; chunked is 411)
 * and the buffer grows with what arrives, never sized from the declared length alone. Any
 * other body is discarded while lingering.
 * Every client has one deadline, ADMIN_DEADLINE_MS after accept, for the whole exchange;
 * since it is the same span for all, the list in accept order is also deadline order, and
 * the sweep stops at the first client that is still in time. Clients closed while a batch of
 * epoll events is handled go on a dead list and are freed after it, so a later event of the
 * same batch never points at freed memory. Work per call is bounded: one epoll_wait of
 * ADMIN_EVENTS, one recv or send per ready client, ADMIN_ACCEPT_BATCH accepts.
 *
 * Rejected: one pollfd per client in the control thread's poll() (the old design: a fixed
 * table of 32, which idle sockets filled and so locked /healthz out; a growable array would
 * be rebuilt and scanned on every 100 ms turn); a thread of its own for the admin (the
 * control thread already wakes every 100 ms and the answers are tiny; another thread is
 * another shutdown to order); the control thread's io_uring (it is used synchronously for
 * commands to workers, and mixing long-lived admin reads into it would need a CQE dispatcher
 * there); keep-alive (health checkers open one connection per check anyway, and one answer
 * per connection keeps every state above one-way). */
#include "core/admin.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/admin_api_int.h"
#include "core/admin_int.h"
#include "core/bug.h"
#include "core/cluster.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/prom.h"
#include "proto/http1.h"

#define ADMIN_CONNS_MAX    1024u                /* clients at once; then the oldest goes */
#define ADMIN_HEAD_MAX     WSG_HEAD_MAX_DEFAULT /* request head bytes, then 431 */
#define ADMIN_BODY_MAX     (1024u * 1024u)      /* declared body bytes, then 413 */
#define ADMIN_IN_FIRST     1024u                /* first head buffer; doubles as needed */
#define ADMIN_DEADLINE_MS  5000u                /* accept to answer sent and client gone */
#define ADMIN_ACCEPT_BATCH 64u                  /* accepts per call */
#define ADMIN_EVENTS       64                   /* epoll events per call */
#define ADMIN_ACCEPT_PAUSE 100u                 /* ms without accepting after EMFILE etc. */
#define ADMIN_ALLOW        "GET, HEAD"          /* methods of every call served so far */

enum admin_state {
	ADMIN_S_READ = 1, /* collecting the request head */
	ADMIN_S_WRITE,    /* sending out[out_off, out_len) */
	ADMIN_S_LINGER,   /* answer sent, write side shut; discarding until EOF or deadline */
	ADMIN_S_BODY,     /* collecting body[0, body_want) for an API call */
	ADMIN_S_WAIT,     /* the answer waits for the workers (admin_conns.c) */
};

struct admin_conn {
	struct admin_conn *prev, *next; /* a->head..a->tail in accept (= deadline) order */
	int fd;                         /* -1 once closed (on the dead list) */
	enum admin_state state;
	uint64_t deadline_ms; /* accept + ADMIN_DEADLINE_MS; cut when passed */
	struct http_parser hp;
	char *in;      /* request head bytes; NULL until the first read */
	size_t in_len; /* bytes in `in` */
	size_t in_cap; /* allocated size of `in`, <= ADMIN_HEAD_MAX */
	char *out;     /* the whole answer; NULL outside WRITE */
	size_t out_len;
	size_t out_off; /* bytes of out already sent */
	bool head_only; /* HEAD: answers carry no body */
	bool text;      /* Content-Type text/... (a pushed message is text) */
	enum admin_method method;
	struct admin_req *rq; /* BODY: the call the body is for; NULL otherwise */
	char *body;           /* BODY: what arrived so far; NULL otherwise */
	size_t body_len, body_cap, body_want;
};

struct admin {
	struct gateway *gw; /* borrowed: readiness flags */
	int listen_fd;
	int epfd;
	struct admin_conn *head, *tail; /* live clients, oldest first */
	struct admin_conn *dead;        /* closed during this call, freed at its end (via next) */
	unsigned n_conns;               /* live clients */
	bool accept_paused;             /* listener out of the epoll set after EMFILE and such */
	uint64_t accept_resume_ms;
	uint64_t evicted;          /* clients cut to make room, for the log */
	struct admin_obs obs;      /* /metrics and /stats: scratch sum, start time */
	struct admin_calls *calls; /* calls waiting for the workers (admin_conns.c) */
};

static uint64_t admin_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the listening socket ---- */

int admin_listen(const struct cfg_addr *addr, bool reuse_port, char *err, size_t err_len)
{
	int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		goto out_err;
	int one = 1;
	/* SO_REUSEADDR only lets us bind past TIME_WAIT; on Linux it never lets two sockets
	 * listen on one port. SO_REUSEPORT would, and the kernel would then split health checks
	 * between an old and a new gateway: only on request. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto out_close;
	if (reuse_port && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
		goto out_close;
	if (addr->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
		goto out_close;
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) != 0 || listen(fd, 512) != 0)
		goto out_close;
	return fd;

out_close:;
	int saved = errno;
	close(fd);
	errno = saved;
out_err:;
	/* "Address already in use" -> "address already in use": it follows a colon. */
	const char *why = strerror(errno);
	int n = snprintf(err, err_len, "--admin %s: %s", addr->text, why);
	size_t at = strlen("--admin ") + strlen(addr->text) + 2;
	if (n > 0 && at < err_len && err[at] >= 'A' && err[at] <= 'Z')
		err[at] = (char)(err[at] - 'A' + 'a');
	return -1;
}

/* ---- client list ---- */

static int admin_watch(struct admin *a, struct admin_conn *ac, int op, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = ac};
	return epoll_ctl(a->epfd, op, ac->fd, &ev);
}

/* Closes the client's socket and moves it to the dead list; its memory lives until the end
 * of the current admin_on_poll, so that later events of the batch can see fd == -1. */
static void admin_conn_close(struct admin *a, struct admin_conn *ac)
{
	if (ac->fd == -1)
		return;
	close(ac->fd); /* also drops it from the epoll set */
	ac->fd = -1;
	if (ac->prev != NULL)
		ac->prev->next = ac->next;
	else
		a->head = ac->next;
	if (ac->next != NULL)
		ac->next->prev = ac->prev;
	else
		a->tail = ac->prev;
	a->n_conns--;
	if (ac->state == ADMIN_S_WAIT)
		admin__calls_detach(a, ac);
	free(ac->rq);
	ac->rq = NULL;
	free(ac->body);
	ac->body = NULL;
	free(ac->in);
	ac->in = NULL;
	free(ac->out);
	ac->out = NULL;
	ac->prev = NULL;
	ac->next = a->dead;
	a->dead = ac;
}

static void admin_free_dead(struct admin *a)
{
	while (a->dead != NULL) {
		struct admin_conn *ac = a->dead;
		a->dead = ac->next;
		free(ac);
	}
}

/* Makes room for one more client: the oldest that is still reading goes (it has had the
 * longest to send a request; one that is being answered is about to leave anyway). */
static void admin_evict_one(struct admin *a)
{
	struct admin_conn *victim = a->head;
	for (struct admin_conn *ac = a->head; ac != NULL; ac = ac->next) {
		if (ac->state == ADMIN_S_READ) {
			victim = ac;
			break;
		}
	}
	if (victim == NULL)
		return;
	if (a->evicted++ == 0)
		LOG_WARN("admin_evict", "conns=%u why=\"admin client limit reached, oldest cut\"",
		         a->n_conns);
	admin_conn_close(a, victim);
}

/* ---- answers ---- */

/* Shuts our side once the answer is out and waits for the client's EOF (see the note at
 * the top); the head buffer is no longer needed. */
static void admin_conn_linger(struct admin *a, struct admin_conn *ac)
{
	free(ac->out);
	ac->out = NULL;
	free(ac->in);
	ac->in = NULL;
	ac->in_len = ac->in_cap = 0;
	shutdown(ac->fd, SHUT_WR);
	ac->state = ADMIN_S_LINGER;
	if (admin_watch(a, ac, EPOLL_CTL_MOD, EPOLLIN) != 0)
		admin_conn_close(a, ac);
}

/* Sends what the socket takes of the answer's tail. Returns with the client lingering (all
 * sent), waiting for EPOLLOUT (some left), or closed (an error). */
static void admin_conn_flush(struct admin *a, struct admin_conn *ac)
{
	while (ac->out_off < ac->out_len) {
		ssize_t n = send(ac->fd, ac->out + ac->out_off, ac->out_len - ac->out_off,
		                 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (admin_watch(a, ac, EPOLL_CTL_MOD, EPOLLOUT) != 0)
				admin_conn_close(a, ac);
			return;
		}
		if (n == -1) {
			admin_conn_close(a, ac);
			return;
		}
		ac->out_off += (size_t)n;
	}
	admin_conn_linger(a, ac);
}

/* Queues one answer and starts sending it. head_only (HEAD) keeps status and headers,
 * Content-Length included, and drops the body (RFC 9110 9.3.2). status 204 carries no
 * Content-Length and no body (RFC 9110 8.6, 15.3.5). extra, when not NULL, is whole header
 * lines ("Allow: GET\r\n"). The status line is always HTTP/1.1, also to an HTTP/1.0 client:
 * RFC 9110 2.5 has a server send the highest minor version it conforms to, and Connection:
 * close means an HTTP/1.0 client never meets a 1.1 feature it lacks. */
static void admin_reply_typed(struct admin *a, struct admin_conn *ac, unsigned status,
                              const char *reason, const char *ctype, const char *body, size_t blen,
                              const char *extra, bool head_only)
{
	if (status == 204)
		blen = 0;
	char head[512];
	int hn;
	if (status == 204)
		hn = snprintf(head, sizeof(head),
		              "HTTP/1.1 204 %s\r\n%sCache-Control: no-store\r\n"
		              "Connection: close\r\n\r\n",
		              reason, extra ? extra : "");
	else
		hn = snprintf(head, sizeof(head),
		              "HTTP/1.1 %u %s\r\nContent-Type: %s\r\n"
		              "Content-Length: %zu\r\n%sCache-Control: no-store\r\n"
		              "Connection: close\r\n\r\n",
		              status, reason, ctype, blen, extra ? extra : "");
	/* The heads are ours and short; overflowing 512 bytes would be a bug here. */
	WSG_BUG_ON(hn <= 0 || (size_t)hn >= sizeof(head));
	size_t send_body = head_only ? 0 : blen;
	ac->out = malloc((size_t)hn + send_body);
	if (ac->out == NULL) {
		admin_conn_close(a, ac); /* out of memory is load: this client goes, others stay */
		return;
	}
	memcpy(ac->out, head, (size_t)hn);
	memcpy(ac->out + hn, body, send_body);
	ac->out_len = (size_t)hn + send_body;
	ac->out_off = 0;
	ac->state = ADMIN_S_WRITE;
	admin_conn_flush(a, ac);
}

/* A JSON answer; allow, when not NULL, is sent as Allow. */
static void admin_reply(struct admin *a, struct admin_conn *ac, unsigned status, const char *reason,
                        const char *body, const char *allow, bool head_only)
{
	char extra[64];
	if (allow != NULL)
		snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
	admin_reply_typed(a, ac, status, reason, "application/json", body, strlen(body),
	                  allow ? extra : NULL, head_only);
}

static bool admin_str_is(struct http_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool admin_name_is(struct http_str name, const char *lower)
{
	size_t n = strlen(lower);
	if (name.n != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name.p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lower[i])
			return false;
	}
	return true;
}

enum admin_body {
	ADMIN_BODY_OK = 0,  /* none, or a Content-Length within ADMIN_BODY_MAX */
	ADMIN_BODY_BAD,     /* 400: Content-Length not a number, or two that differ */
	ADMIN_BODY_LARGE,   /* 413: over ADMIN_BODY_MAX */
	ADMIN_BODY_CHUNKED, /* 411: Transfer-Encoding, whose size we cannot bound up front */
};

/* What the request declares about its body. RFC 9110 8.6: Content-Length is 1*DIGIT; RFC
 * 9112 6.3: several that differ, or one next to Transfer-Encoding, are a framing error (400,
 * the request-smuggling case). The value is only compared against the limit, never used to
 * size anything. */
static enum admin_body admin_check_body(const struct http_request *req, size_t *out_len)
{
	bool have_len = false, chunked = false;
	*out_len = 0;
	uint64_t len = 0;
	for (unsigned i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		if (admin_name_is(h->name, "transfer-encoding")) {
			chunked = true;
			continue;
		}
		if (!admin_name_is(h->name, "content-length"))
			continue;
		if (h->value.n == 0)
			return ADMIN_BODY_BAD;
		uint64_t v = 0;
		for (size_t k = 0; k < h->value.n; k++) {
			char c = h->value.p[k];
			if (c < '0' || c > '9')
				return ADMIN_BODY_BAD;
			if (v <= ADMIN_BODY_MAX) /* saturate: anything past the limit is "large" */
				v = v * 10 + (uint64_t)(c - '0');
		}
		if (have_len && v != len)
			return ADMIN_BODY_BAD;
		have_len = true;
		len = v;
	}
	if (chunked && have_len)
		return ADMIN_BODY_BAD;
	if (chunked)
		return ADMIN_BODY_CHUNKED;
	if (len > ADMIN_BODY_MAX)
		return ADMIN_BODY_LARGE;
	*out_len = (size_t)len;
	return ADMIN_BODY_OK;
}

#define ADMIN_401_BODY "{\"error\":\"missing or wrong admin token\"}\n"

/* GET or HEAD of /metrics (Prometheus text, core/admin_metrics.c) or /stats (JSON,
 * core/admin_stats.c); the body is built in full, also for HEAD, so its Content-Length is
 * the GET's. */
static void admin_serve_counters(struct admin *a, struct admin_conn *ac, bool metrics,
                                 bool head_only)
{
	if (metrics) {
		struct prom_buf b;
		prom_init(&b, ADMIN_METRICS_MAX);
		if (admin__metrics_text(a->gw, &a->obs, &b) == 0)
			admin_reply_typed(a, ac, 200, "OK",
			                  "text/plain; version=0.0.4; charset=utf-8", b.p, b.len,
			                  NULL, head_only);
		else
			admin_reply(a, ac, 500, "Internal Server Error",
			            "{\"error\":\"out of memory\"}\n", NULL, head_only);
		prom_fini(&b);
		return;
	}
	size_t len = 0;
	char *json = admin__stats_json(a->gw, &a->obs, admin_clock_ms(), &len);
	if (json == NULL) {
		admin_reply(a, ac, 500, "Internal Server Error", "{\"error\":\"out of memory\"}\n",
		            NULL, head_only);
		return;
	}
	admin_reply_typed(a, ac, 200, "OK", "application/json", json, len, NULL, head_only);
	cJSON_free(json);
}

/* ---- the calls on routes and connections ---- */

struct gateway *admin__gw(const struct admin *a)
{
	return a->gw;
}

struct admin_calls *admin__calls(const struct admin *a)
{
	return a->calls;
}

static const char *admin_status_reason(unsigned status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Content Too Large";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Internal Server Error";
	}
}

void admin__answer(struct admin *a, struct admin_conn *ac, unsigned status, const char *body)
{
	if (ac->fd == -1 || ac->state == ADMIN_S_WRITE || ac->state == ADMIN_S_LINGER)
		return;
	admin_reply(a, ac, status, admin_status_reason(status), body, NULL, ac->head_only);
}

void admin__answer_error(struct admin *a, struct admin_conn *ac, unsigned status, const char *why)
{
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	if (o != NULL && cJSON_AddStringToObject(o, "error", why) != NULL)
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (text == NULL) {
		admin__answer(a, ac, 503, "{\"error\":\"out of memory\"}\n");
		return;
	}
	size_t n = strlen(text);
	char *line = malloc(n + 2);
	if (line != NULL) {
		memcpy(line, text, n);
		memcpy(line + n, "\n", 2);
	}
	admin__answer(a, ac, status, line != NULL ? line : text);
	free(line);
	cJSON_free(text);
}

void admin__wait(struct admin *a, struct admin_conn *ac)
{
	ac->state = ADMIN_S_WAIT;
	if (admin_watch(a, ac, EPOLL_CTL_MOD, 0) != 0)
		admin_conn_close(a, ac);
}

static void admin_conn_body_done(struct admin *a, struct admin_conn *ac);

/* The call has its body: run it. */
static void admin_api_run(struct admin *a, struct admin_conn *ac, const struct admin_req *rq,
                          const char *body, size_t len)
{
	if (rq->call == ADMIN_CALL_ROUTES) {
		if (ac->method == ADMIN_M_PUT)
			admin__routes_put(a, ac, body, len);
		else
			admin__routes_get(a, ac);
		return;
	}
	admin__conns_call(a, ac, rq, ac->method, ac->text, body, len);
}

/* RFC 9110 8.3: the media type's type is case-insensitive; "text/..." is a text message. */
static bool admin_is_text(const struct http_request *req)
{
	for (unsigned i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		if (!admin_name_is(h->name, "content-type"))
			continue;
		struct http_str v = {h->value.p, h->value.n < 5 ? h->value.n : 5};
		return admin_name_is(v, "text/");
	}
	return false;
}

/* One of the calls of admin_req.h: answered (an error), run, or waiting for its body. False
 * when the path is none of them (admin_route goes on). rest: bytes after the head. */
static bool admin_api_route(struct admin *a, struct admin_conn *ac, const struct http_request *req,
                            size_t body_len, const char *rest, size_t rest_len)
{
	struct admin_req *rq = malloc(sizeof(*rq));
	if (rq == NULL) {
		admin_reply(a, ac, 503, "Service Unavailable", "{\"error\":\"out of memory\"}\n",
		            NULL, false);
		return true;
	}
	const char *why;
	switch (admin_req_parse(req->path.p, req->path.n, req->query.p, req->query.n, rq, &why)) {
	case ADMIN_REQ_NOT_FOUND:
		free(rq); /* admin_route's 404, like any other unknown path */
		return false;
	case ADMIN_REQ_BAD:
		free(rq);
		ac->head_only = admin_str_is(req->method, "HEAD");
		admin__answer_error(a, ac, 400, why);
		return true;
	case ADMIN_REQ_OK:
		break;
	}
	ac->method = admin_method_of(req->method.p, req->method.n);
	ac->head_only = ac->method == ADMIN_M_HEAD;
	ac->text = admin_is_text(req);
	const char *allow;
	char msg[160];
	int st = admin_req_check(rq, ac->method, &allow, msg, sizeof(msg));
	if (st == 405) {
		free(rq);
		admin_reply(a, ac, 405, "Method Not Allowed",
		            "{\"error\":\"method not allowed\"}\n", allow, false);
		return true;
	}
	if (st != 0) {
		free(rq);
		admin__answer_error(a, ac, (unsigned)st, msg);
		return true;
	}
	bool takes_body = ac->method == ADMIN_M_PUT || ac->method == ADMIN_M_POST;
	if (!takes_body || body_len == 0) {
		admin_api_run(a, ac, rq, "", 0);
		free(rq);
		return true;
	}
	/* Read the body: what came with the head first, then as it arrives (admin_conn_body). */
	size_t have = rest_len < body_len ? rest_len : body_len;
	size_t cap = have > ADMIN_IN_FIRST ? have : ADMIN_IN_FIRST;
	if (cap > body_len)
		cap = body_len;
	ac->body = malloc(cap);
	if (ac->body == NULL) {
		free(rq);
		admin_reply(a, ac, 503, "Service Unavailable", "{\"error\":\"out of memory\"}\n",
		            NULL, false);
		return true;
	}
	memcpy(ac->body, rest, have);
	ac->body_len = have;
	ac->body_cap = cap;
	ac->body_want = body_len;
	ac->rq = rq;
	ac->state = ADMIN_S_BODY;
	if (have == body_len)
		admin_conn_body_done(a, ac);
	return true;
}

/* The whole body is in: the head buffer is no longer needed; run the call. */
static void admin_conn_body_done(struct admin *a, struct admin_conn *ac)
{
	struct admin_req *rq = ac->rq;
	char *body = ac->body;
	size_t len = ac->body_len;
	ac->rq = NULL;
	ac->body = NULL;
	ac->body_len = ac->body_cap = ac->body_want = 0;
	ac->state = ADMIN_S_READ; /* neither BODY nor WAIT until the call says */
	admin_api_run(a, ac, rq, body, len);
	free(body);
	free(rq);
}

/* BODY: one recv into the body buffer (grown first, up to body_want). */
static void admin_conn_body(struct admin *a, struct admin_conn *ac)
{
	if (ac->body_len == ac->body_cap) {
		size_t cap = ac->body_cap * 2;
		if (cap > ac->body_want)
			cap = ac->body_want;
		char *b = realloc(ac->body, cap);
		if (b == NULL) {
			admin_conn_close(a, ac);
			return;
		}
		ac->body = b;
		ac->body_cap = cap;
	}
	ssize_t n =
	    recv(ac->fd, ac->body + ac->body_len, ac->body_cap - ac->body_len, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		admin_conn_close(a, ac); /* gone before the whole body: nothing to answer */
		return;
	}
	ac->body_len += (size_t)n;
	if (ac->body_len == ac->body_want)
		admin_conn_body_done(a, ac);
}

static void admin_route(struct admin *a, struct admin_conn *ac, const struct http_request *req,
                        const char *rest, size_t rest_len)
{
	bool get = admin_str_is(req->method, "GET");
	bool head = admin_str_is(req->method, "HEAD");
	bool options = admin_str_is(req->method, "OPTIONS");
	size_t body_len;
	switch (admin_check_body(req, &body_len)) {
	case ADMIN_BODY_OK:
		break;
	case ADMIN_BODY_BAD:
		admin_reply(a, ac, 400, "Bad Request", "{\"error\":\"bad request\"}\n", NULL, head);
		return;
	case ADMIN_BODY_LARGE:
		admin_reply(a, ac, 413, "Content Too Large", "{\"error\":\"body over 1 MiB\"}\n",
		            NULL, head);
		return;
	case ADMIN_BODY_CHUNKED:
		admin_reply(a, ac, 411, "Length Required",
		            "{\"error\":\"a body needs Content-Length\"}\n", NULL, head);
		return;
	}
	bool healthz = admin_str_is(req->path, "/healthz");
	bool readyz = admin_str_is(req->path, "/readyz");
	bool metrics = admin_str_is(req->path, "/metrics");
	bool stats = admin_str_is(req->path, "/stats");
	/* SPEC.md: with --admin-token every call but the probes and /metrics needs the token
	 * (OPTIONS / is HAProxy's default probe). */
	bool open = healthz || readyz || metrics || (options && admin_str_is(req->path, "/"));
	if (!open && !admin__token_ok(a->gw->cfg->admin_token, req)) {
		admin_reply_typed(a, ac, 401, "Unauthorized", "application/json", ADMIN_401_BODY,
		                  strlen(ADMIN_401_BODY),
		                  "WWW-Authenticate: Bearer realm=\"wsgate-admin\"\r\n", head);
		return;
	}
	if (metrics || stats) {
		if (!get && !head) {
			admin_reply(a, ac, 405, "Method Not Allowed",
			            "{\"error\":\"method not allowed\"}\n", ADMIN_ALLOW, false);
			return;
		}
		admin_serve_counters(a, ac, metrics, head);
		return;
	}
	if (admin_api_route(a, ac, req, body_len, rest, rest_len))
		return;
	/* OPTIONS / is what HAProxy's `option httpchk` sends by default and it wants a 2xx or
	 * 3xx: "/" stands in for the server as a whole (OPTIONS *, which the parser refuses as
	 * not origin-form). Allow names what the health endpoints take; OPTIONS itself is
	 * answered but not advertised. */
	if (options && (healthz || readyz || admin_str_is(req->path, "/"))) {
		admin_reply(a, ac, 204, "No Content", "", ADMIN_ALLOW, false);
		return;
	}
	if (admin_str_is(req->path, "/cluster") && a->gw->cluster != NULL && (get || head)) {
		size_t len = 0;
		char *doc = cluster_nodes_json(a->gw->cluster, admin_clock_ms(), &len);
		if (doc == NULL) {
			admin_reply(a, ac, 503, "Service Unavailable",
			            "{\"error\":\"out of memory\"}\n", NULL, head);
			return;
		}
		admin_reply_typed(a, ac, 200, "OK", "application/json", doc, len, NULL, head);
		free(doc);
		return;
	}
	if (!healthz && !readyz) {
		admin_reply(a, ac, 404, "Not Found", "{\"error\":\"not found\"}\n", NULL, head);
		return;
	}
	if (!get && !head) {
		admin_reply(a, ac, 405, "Method Not Allowed",
		            "{\"error\":\"method not allowed\"}\n", ADMIN_ALLOW, false);
		return;
	}
	if (healthz) {
		/* The process runs (200, so that a liveness probe never restarts every node when
		 * Redis goes away), but a cluster node never says its cluster is fine when it is
		 * not: "cluster":"degraded" from the first failure until it has re-registered. */
		const char *body = a->gw->cluster == NULL ? "{\"status\":\"ok\"}\n"
		                   : cluster_engine_up(a->gw->cluster)
		                       ? "{\"status\":\"ok\",\"cluster\":\"ok\"}\n"
		                       : "{\"status\":\"ok\",\"cluster\":\"degraded\"}\n";
		admin_reply(a, ac, 200, "OK", body, NULL, head);
		return;
	}
	bool ready = atomic_load(&a->gw->listening) && !atomic_load(&a->gw->draining);
	if (ready)
		admin_reply(a, ac, 200, "OK", "{\"status\":\"ready\"}\n", NULL, head);
	else
		admin_reply(a, ac, 503, "Service Unavailable", "{\"status\":\"draining\"}\n", NULL,
		            head);
}

/* ---- reading ---- */

/* One recv into the head buffer (taken or grown first), then a parse of everything so far. */
static void admin_conn_read(struct admin *a, struct admin_conn *ac)
{
	if (ac->in_len == ac->in_cap) {
		/* The parser answers 431 as soon as ADMIN_HEAD_MAX bytes hold no end, so a full
		 * buffer below the limit is the only case left. */
		size_t cap = ac->in_cap == 0 ? ADMIN_IN_FIRST : ac->in_cap * 2;
		if (cap > ADMIN_HEAD_MAX)
			cap = ADMIN_HEAD_MAX;
		char *in = realloc(ac->in, cap);
		if (in == NULL) {
			admin_conn_close(a, ac);
			return;
		}
		ac->in = in;
		ac->in_cap = cap;
	}
	ssize_t n = recv(ac->fd, ac->in + ac->in_len, ac->in_cap - ac->in_len, MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		admin_conn_close(a, ac); /* gone before a whole request: nothing to answer */
		return;
	}
	ac->in_len += (size_t)n;

	const struct wsg_limits lim = {.head_max = ADMIN_HEAD_MAX,
	                               .headers_max = WSG_HEADERS_MAX_DEFAULT};
	/* Static: struct http_request is ~3.5 KiB of views, too big to want on the stack of a
	 * loop that may grow; the control thread is the only caller. */
	static struct http_request req;
	size_t used;
	switch (http_parse_request_http10(&ac->hp, ac->in, ac->in_len, &lim, &req, &used)) {
	case HTTP_RC_MORE:
		return;
	case HTTP_RC_FAIL:
		switch (http_parser_reject(&ac->hp)) {
		case HTTP_REJ_HEAD_TOO_LARGE:
			admin_reply(a, ac, 431, "Request Header Fields Too Large",
			            "{\"error\":\"request head over 16 KiB or 100 lines\"}\n", NULL,
			            false);
			return;
		case HTTP_REJ_HTTP_VERSION:
			admin_reply(a, ac, 505, "HTTP Version Not Supported",
			            "{\"error\":\"HTTP/1.0 and HTTP/1.1 only\"}\n", NULL, false);
			return;
		default:
			admin_reply(a, ac, 400, "Bad Request", "{\"error\":\"bad request\"}\n",
			            NULL, false);
			return;
		}
	case HTTP_RC_OK:
		admin_route(a, ac, &req, ac->in + used, ac->in_len - used);
		return;
	}
}

/* Lingering: discard what the client still sends; its EOF (or an error) ends it. */
static void admin_conn_discard(struct admin *a, struct admin_conn *ac)
{
	char scratch[4096];
	ssize_t n = recv(ac->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0)
		admin_conn_close(a, ac);
}

/* ---- accepting ---- */

static void admin_accept_pause(struct admin *a, uint64_t now_ms)
{
	int why = errno;
	struct epoll_event ev = {.events = 0, .data.ptr = NULL};
	if (epoll_ctl(a->epfd, EPOLL_CTL_MOD, a->listen_fd, &ev) != 0)
		return;
	a->accept_paused = true;
	a->accept_resume_ms = now_ms + ADMIN_ACCEPT_PAUSE;
	LOG_WARN("admin_accept_error", "err=\"%s\" paused_ms=%u", strerror(why),
	         ADMIN_ACCEPT_PAUSE);
}

static void admin_accept(struct admin *a, uint64_t now_ms)
{
	for (unsigned k = 0; k < ADMIN_ACCEPT_BATCH; k++) {
		int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM: the listener stays readable, and a
			 * level-triggered poll would spin the control thread. */
			admin_accept_pause(a, now_ms);
			return;
		}
		if (a->n_conns >= ADMIN_CONNS_MAX)
			admin_evict_one(a);
		struct admin_conn *ac = calloc(1, sizeof(*ac));
		if (ac == NULL) {
			close(fd);
			continue;
		}
		ac->fd = fd;
		ac->state = ADMIN_S_READ;
		ac->deadline_ms = now_ms + ADMIN_DEADLINE_MS;
		http_parser_init(&ac->hp);
		if (admin_watch(a, ac, EPOLL_CTL_ADD, EPOLLIN) != 0) {
			close(fd);
			free(ac);
			continue;
		}
		ac->prev = a->tail;
		if (a->tail != NULL)
			a->tail->next = ac;
		else
			a->head = ac;
		a->tail = ac;
		a->n_conns++;
	}
}

/* ---- life ---- */

struct admin *admin_new(struct gateway *gw, int listen_fd)
{
	struct admin *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->gw = gw;
	a->listen_fd = listen_fd;
	a->obs.started_ms = admin_clock_ms();
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	a->obs.started_unix = (double)rt.tv_sec + (double)rt.tv_nsec / 1e9;
	a->calls = admin__calls_new();
	if (a->calls == NULL)
		goto out_free_a;
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (a->epfd == -1)
		goto out_free_calls;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, listen_fd, &ev) != 0)
		goto out_close_epfd;
	/* Requests from other nodes run through the same calls; their replies end ours. */
	if (gw->cluster != NULL)
		admin__cluster_attach(a);
	return a;

out_close_epfd:;
	int saved = errno;
	close(a->epfd);
	errno = saved;
out_free_calls:
	admin__calls_free(a, a->calls);
out_free_a:
	free(a);
	return NULL;
}

void admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	while (a->head != NULL)
		admin_conn_close(a, a->head);
	admin_free_dead(a);
	free(a->obs.tot);
	/* cluster_free still reads the links after this: nothing may call back into us. */
	if (a->gw->cluster != NULL)
		cluster_set_hooks(a->gw->cluster, NULL);
	admin__calls_free(a, a->calls);
	close(a->epfd);
	close(a->listen_fd);
	free(a);
}

bool admin_busy(const struct admin *a)
{
	return a != NULL && a->n_conns > 0;
}

unsigned admin_pollfds(struct admin *a, struct pollfd *fds, unsigned cap)
{
	if (cap == 0)
		return 0;
	fds[0] = (struct pollfd){.fd = a->epfd, .events = POLLIN};
	return 1;
}

void admin_on_poll(struct admin *a, const struct pollfd *fds, unsigned n, uint64_t now_ms)
{
	if (n > 0 && (fds[0].revents & POLLIN)) {
		struct epoll_event evs[ADMIN_EVENTS];
		int got = epoll_wait(a->epfd, evs, ADMIN_EVENTS, 0);
		for (int i = 0; i < got; i++) {
			struct admin_conn *ac = evs[i].data.ptr;
			if (ac == NULL) {
				admin_accept(a, now_ms);
				continue;
			}
			if (ac->fd == -1)
				continue; /* closed earlier in this batch (evicted, say) */
			switch (ac->state) {
			case ADMIN_S_READ:
				admin_conn_read(a, ac);
				break;
			case ADMIN_S_WRITE:
				admin_conn_flush(a, ac);
				break;
			case ADMIN_S_LINGER:
				admin_conn_discard(a, ac);
				break;
			case ADMIN_S_BODY:
				admin_conn_body(a, ac);
				break;
			case ADMIN_S_WAIT:
				/* No events were asked for: an error or a hang-up. */
				admin_conn_close(a, ac);
				break;
			}
		}
	}
	admin__calls_sweep(a, now_ms);
	/* Accept order is deadline order (one span for all): stop at the first in time. */
	while (a->head != NULL && a->head->deadline_ms <= now_ms)
		admin_conn_close(a, a->head);
	if (a->accept_paused && now_ms >= a->accept_resume_ms) {
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
		if (epoll_ctl(a->epfd, EPOLL_CTL_MOD, a->listen_fd, &ev) == 0)
			a->accept_paused = false;
	}
	admin_free_dead(a);
}

void admin_on_reply(struct admin *a, unsigned worker, const struct cmdq_cmd *r)
{
	admin__calls_on_reply(a, worker, r);
	admin_free_dead(a);
}
