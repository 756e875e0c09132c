/* Admin API over plain HTTP/1.1 on the control thread (see admin.h).
 *
 * Each admin connection gets a fixed buffer; a request head is parsed with the same
 * proto/http1 parser as client upgrades (so the same limits and rejections apply), answered
 * with Connection: close, and the socket is closed. Slow or silent admin clients are cut after
 * ADMIN_TIMEOUT_MS so they cannot pin slots. */
#include "core/admin.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/gateway.h"
#include "proto/http1.h"

#define ADMIN_MAX_CONNS  32
#define ADMIN_BUF        8192
#define ADMIN_TIMEOUT_MS 5000u

struct admin_conn {
	int fd; /* -1 when the slot is free */
	size_t len;
	uint64_t started_ms;
	struct http_parser hp;
	char buf[ADMIN_BUF];
};

struct admin {
	struct gateway *gw;
	int listen_fd;
	struct admin_conn conns[ADMIN_MAX_CONNS];
};

struct admin *admin_new(struct gateway *gw, int listen_fd)
{
	struct admin *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->gw = gw;
	a->listen_fd = listen_fd;
	for (unsigned i = 0; i < ADMIN_MAX_CONNS; i++)
		a->conns[i].fd = -1;
	return a;
}

void admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	for (unsigned i = 0; i < ADMIN_MAX_CONNS; i++)
		if (a->conns[i].fd != -1)
			close(a->conns[i].fd);
	close(a->listen_fd);
	free(a);
}

unsigned admin_pollfds(struct admin *a, struct pollfd *fds, unsigned cap)
{
	unsigned n = 0;
	if (cap == 0)
		return 0;
	fds[n++] = (struct pollfd){.fd = a->listen_fd, .events = POLLIN};
	for (unsigned i = 0; i < ADMIN_MAX_CONNS && n < cap; i++)
		fds[n++] = (struct pollfd){.fd = a->conns[i].fd, .events = POLLIN};
	return n;
}

static void admin_close(struct admin_conn *ac)
{
	close(ac->fd);
	ac->fd = -1;
}

static void admin_reply(struct admin_conn *ac, unsigned status, const char *reason,
                        const char *ctype, const char *body)
{
	char out[1024];
	size_t blen = strlen(body);
	int n = snprintf(out, sizeof(out),
	                 "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                 "Connection: close\r\nCache-Control: no-store\r\n\r\n%s",
	                 status, reason, ctype, blen, body);
	if (n > 0 && (size_t)n < sizeof(out)) {
		/* Small answers on a fresh socket: one send fits in its buffer. */
		ssize_t rc = send(ac->fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)rc;
	}
	admin_close(ac);
}

static bool admin_path_is(const struct http_request *req, const char *path)
{
	size_t n = strlen(path);
	return req->path.n == n && memcmp(req->path.p, path, n) == 0;
}

static void admin_route(struct admin *a, struct admin_conn *ac, const struct http_request *req)
{
	bool get = req->method.n == 3 && memcmp(req->method.p, "GET", 3) == 0;
	if (admin_path_is(req, "/healthz")) {
		if (!get)
			goto method;
		admin_reply(ac, 200, "OK", "application/json", "{\"status\":\"ok\"}\n");
		return;
	}
	if (admin_path_is(req, "/readyz")) {
		if (!get)
			goto method;
		bool ready = atomic_load(&a->gw->listening) && !atomic_load(&a->gw->draining);
		if (ready)
			admin_reply(ac, 200, "OK", "application/json", "{\"status\":\"ready\"}\n");
		else
			admin_reply(ac, 503, "Service Unavailable", "application/json",
			            "{\"status\":\"draining\"}\n");
		return;
	}
	admin_reply(ac, 404, "Not Found", "application/json", "{\"error\":\"not found\"}\n");
	return;
method:
	admin_reply(ac, 405, "Method Not Allowed", "application/json",
	            "{\"error\":\"method not allowed\"}\n");
}

static void admin_on_readable(struct admin *a, struct admin_conn *ac)
{
	ssize_t n = recv(ac->fd, ac->buf + ac->len, sizeof(ac->buf) - ac->len, MSG_DONTWAIT);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		admin_close(ac);
		return;
	}
	if (n < 0)
		return;
	ac->len += (size_t)n;
	struct wsg_limits lim = {.head_max = sizeof(ac->buf), .headers_max = 100};
	struct http_request req;
	size_t used;
	switch (http_parse_request(&ac->hp, ac->buf, ac->len, &lim, &req, &used)) {
	case HTTP_RC_MORE:
		return;
	case HTTP_RC_FAIL: {
		char out[512];
		int len = http_write_reject(out, sizeof(out), http_parser_reject(&ac->hp), 0);
		if (len > 0) {
			ssize_t rc = send(ac->fd, out, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
			(void)rc;
		}
		admin_close(ac);
		return;
	}
	case HTTP_RC_OK:
		admin_route(a, ac, &req);
		return;
	}
}

void admin_on_poll(struct admin *a, const struct pollfd *fds, unsigned n, uint64_t now_ms)
{
	if (n > 0 && (fds[0].revents & POLLIN)) {
		for (unsigned k = 0; k < ADMIN_MAX_CONNS; k++) {
			int fd = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd == -1)
				break;
			struct admin_conn *ac = NULL;
			for (unsigned i = 0; i < ADMIN_MAX_CONNS && ac == NULL; i++)
				if (a->conns[i].fd == -1)
					ac = &a->conns[i];
			if (ac == NULL) {
				close(fd);
				break;
			}
			ac->fd = fd;
			ac->len = 0;
			ac->started_ms = now_ms;
			http_parser_init(&ac->hp);
		}
	}
	for (unsigned i = 1; i < n; i++) {
		struct admin_conn *ac = &a->conns[i - 1];
		if (ac->fd == -1)
			continue;
		if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
			admin_on_readable(a, ac);
		if (ac->fd != -1 && now_ms - ac->started_ms > ADMIN_TIMEOUT_MS)
			admin_close(ac);
	}
}
