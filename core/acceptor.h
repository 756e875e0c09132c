#ifndef WSG_CORE_ACCEPTOR_H
#define WSG_CORE_ACCEPTOR_H

#include <liburing.h>
#include <pthread.h>
#include <stdint.h>

/* The acceptor thread: one io_uring with a multishot accept on every listener. Each accepted
 * socket is counted against --max-conns, pushed onto the next worker's handoff queue, and the
 * worker is woken with a msg_ring CQE. WOP_CMD (from the control thread) stops it: accepts are
 * cancelled and the listeners closed at once, so a new instance sharing the ports takes over. */

struct gateway;

/* Sockets let in over --max-conns per worker so that the worker can answer 503 (in the
 * SPEC.md order) instead of dropping them; matches the workers' slab reserve. */
#define ACCEPTOR_OVER_SLACK 64u

struct acceptor {
	struct gateway *gw;
	struct io_uring ring;
	int ring_fd;    /* written before start; read: control thread (msg_ring) */
	int *fds;       /* listeners, owned */
	uint8_t *kinds; /* enum conn_kind per listener (NULL: all plain), owned */
	unsigned n_fds;
	unsigned next;                       /* round robin over workers */
	struct __kernel_timespec backoff_ts; /* accept back-off timeout (read by the kernel) */
	pthread_t thread;
	uint64_t doorbell_failures; /* handoff doorbells that did not arrive (logged 1 in 1000) */
};

/* Takes the listener fds. 0 or -errno. */
int acceptor_init(struct acceptor *a, struct gateway *gw, int *fds, unsigned n_fds);
int acceptor_start(struct acceptor *a);
void acceptor_join(struct acceptor *a);

#endif
