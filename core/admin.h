#ifndef WSG_CORE_ADMIN_H
#define WSG_CORE_ADMIN_H

#include <poll.h>
#include <stdint.h>

/* The admin listener, served by the control thread (never by a worker): small plain-HTTP
 * requests, one answer each, then the connection is closed. GET /healthz and GET /readyz for
 * now. Blocking work is acceptable here; the hot path never waits on it. */

struct gateway;
struct admin;

/* Listens on the configured admin address; NULL and errno when it cannot. */
struct admin *admin_new(struct gateway *gw, int listen_fd);
void admin_free(struct admin *a);

/* Fills up to cap pollfds with what the admin waits on; returns the count. */
unsigned admin_pollfds(struct admin *a, struct pollfd *fds, unsigned cap);
/* Handles whatever poll reported on those pollfds (same order as admin_pollfds gave). */
void admin_on_poll(struct admin *a, const struct pollfd *fds, unsigned n, uint64_t now_ms);

#endif
