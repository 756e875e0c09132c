#ifndef WSG_CORE_ADMIN_H
#define WSG_CORE_ADMIN_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* The admin listener, served by the control thread (never by a worker): small plain-HTTP
 * requests (HTTP/1.0 or 1.1), one answer each with Connection: close: /healthz, /readyz,
 * /metrics (Prometheus text), /stats (JSON), /routes, /connections and /broadcast (SPEC.md
 * "Admin API"; with --admin-token every call but the probes and /metrics needs
 * "Authorization: Bearer TOKEN"). Nothing here blocks: every socket is non-blocking, the
 * control thread only learns readiness through the one pollfd admin_pollfds() gives it, and
 * each admin_on_poll() does a bounded amount of work. */

struct gateway;
struct admin;

/* Opens the admin's listening socket on addr: non-blocking, close-on-exec, SO_REUSEADDR (so a
 * restart need not wait out TIME_WAIT), and SO_REUSEPORT only when reuse_port is true. Without
 * it a second process cannot bind the same port while this one listens, so /readyz never
 * answers from two gateways in turn. Returns the fd, or -1 with one line (no newline, no
 * program name) in err, e.g. "--admin 127.0.0.1:9090: address already in use". */
int admin_listen(const struct cfg_addr *addr, bool reuse_port, char *err, size_t err_len);

/* Serves the admin API on listen_fd (from admin_listen), which it takes on success
 * (admin_free closes it); on failure (NULL and errno: out of memory or fds) the caller still
 * owns it. Borrows gw for as long as it lives. */
struct admin *admin_new(struct gateway *gw, int listen_fd);
/* Closes every admin client and the listener; admin_free(NULL) is a no-op. */
void admin_free(struct admin *a);

/* Fills up to cap pollfds with what the admin waits on (one: an epoll fd holding the listener
 * and every admin client); returns the count. */
unsigned admin_pollfds(struct admin *a, struct pollfd *fds, unsigned cap);
/* True while any admin client is connected (their deadlines need the loop's 100 ms turns). */
bool admin_busy(const struct admin *a);
/* Handles whatever poll reported on those pollfds (same order as admin_pollfds gave; n may be
 * 0 when poll timed out) and cuts clients past their deadline. Call at least every 100 ms. */
void admin_on_poll(struct admin *a, const struct pollfd *fds, unsigned n, uint64_t now_ms);
/* A worker's reply to one of the admin's commands (kind >= WCMD_APP), popped from that
 * worker's cmdq by the control loop: it answers the call once every worker involved has
 * replied. */
struct cmdq_cmd;
void admin_on_reply(struct admin *a, unsigned worker, const struct cmdq_cmd *r);

#endif
