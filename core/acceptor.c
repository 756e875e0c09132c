/* The acceptor thread (see acceptor.h).
 *
 * Why an SPSC queue plus a msg_ring doorbell rather than passing the fd in the msg_ring CQE:
 * the worker also needs the peer address, and a CQE carries only 32 + 64 bits. getpeername()
 * runs here, off the workers. The gateway-wide --max-conns count is taken here too: a socket
 * over the limit is still handed on (flagged) so that its worker can answer 503 in SPEC.md's
 * order; far over it (past the workers' reserve) it is closed at once. */
#include "core/acceptor.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/gateway.h"
#include "core/log.h"
#include "core/worker.h"

/* Out of file descriptors (or kernel memory): every accept would fail at once and a
 * re-armed multishot accept would spin. Stop accepting for a while instead, as nginx does;
 * the connections wait in the listen backlog meanwhile. */
#define ACCEPTOR_BACKOFF_MS 100

static void acceptor_backoff(struct acceptor *a, unsigned i)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);
	if (sqe == NULL) {
		io_uring_submit(&a->ring);
		sqe = io_uring_get_sqe(&a->ring);
	}
	a->backoff_ts.tv_sec = 0;
	a->backoff_ts.tv_nsec = ACCEPTOR_BACKOFF_MS * 1000000LL;
	io_uring_prep_timeout(sqe, &a->backoff_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, ud_pack(0, i, WOP_CONNECT));
}

static void acceptor_arm(struct acceptor *a, unsigned i)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);
	if (sqe == NULL) {
		io_uring_submit(&a->ring);
		sqe = io_uring_get_sqe(&a->ring);
	}
	io_uring_prep_multishot_accept(sqe, a->fds[i], NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud_pack(0, i, WOP_RECV));
}

int acceptor_init(struct acceptor *a, struct gateway *gw, int *fds, unsigned n_fds)
{
	memset(a, 0, sizeof(*a));
	a->gw = gw;
	a->fds = fds;
	a->n_fds = n_fds;
	int rc = io_uring_queue_init(256, &a->ring, 0);
	if (rc < 0)
		return rc;
	a->ring_fd = a->ring.ring_fd;
	return 0;
}

static void acceptor_handoff(struct acceptor *a, int fd, unsigned ud_listener)
{
	struct gateway *gw = a->gw;
	uint64_t before = atomic_fetch_add_explicit(&gw->client_socks, 1, memory_order_relaxed);
	uint64_t max = gw->max_clients;
	if (before >= max + ACCEPTOR_OVER_SLACK * gw->n_workers) {
		close(fd);
		atomic_fetch_sub_explicit(&gw->client_socks, 1, memory_order_relaxed);
		return;
	}
	struct worker *w = &gw->workers[a->next++ % gw->n_workers];
	struct worker_queue *q = w->queue;
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&q->head, memory_order_acquire);
	if (tail - head >= WORKER_HANDOFF_CAP) {
		/* The worker is this far behind: it would not answer in time anyway. */
		close(fd);
		atomic_fetch_sub_explicit(&gw->client_socks, 1, memory_order_relaxed);
		return;
	}
	struct worker_handoff *h = &q->items[tail % WORKER_HANDOFF_CAP];
	h->fd = fd;
	h->over_limit = before >= max;
	h->kind = a->kinds != NULL ? a->kinds[ud_listener] : 0;
	h->peer_len = sizeof(h->peer);
	if (getpeername(fd, (struct sockaddr *)&h->peer, &h->peer_len) != 0) {
		memset(&h->peer, 0, sizeof(h->peer));
		h->peer_len = 0;
	}
	atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
	/* Ring the doorbell for every socket: skipping it when the queue looked non-empty races
	 * with a worker that has just finished draining it (a lost wakeup). One msg_ring per
	 * accepted socket is cheap next to the accept itself. */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);
	if (sqe == NULL) {
		io_uring_submit(&a->ring);
		sqe = io_uring_get_sqe(&a->ring);
	}
	io_uring_prep_msg_ring(sqe, w->ring_fd, 0, ud_pack(0, 0, WOP_HANDOFF), 0);
	/* Our own completion of the doorbell says whether it arrived (see acceptor_main). */
	io_uring_sqe_set_data64(sqe, ud_pack(0, (uint32_t)w->id, WOP_HANDOFF));
}

static void *acceptor_main(void *arg)
{
	struct acceptor *a = arg;
	log_thread_register(-1);
	for (unsigned i = 0; i < a->n_fds; i++)
		acceptor_arm(a, i);
	bool stopping = false;
	unsigned cancels = 0;
	while (!stopping || cancels > 0) {
		struct io_uring_cqe *cqe;
		int rc = io_uring_submit_and_wait(&a->ring, 1);
		if (rc < 0 && rc != -EINTR)
			break;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&a->ring, head, cqe)
		{
			seen++;
			uint64_t ud = cqe->user_data;
			if (ud == 0)
				continue;
			if (ud_op(ud) == WOP_HANDOFF) {
				/* A doorbell that did not arrive (the worker's CQ overflowing, or
				 * the worker gone): its sockets wait in the queue until the next
				 * doorbell to that worker, so say so rather than stay silent. */
				if (cqe->res < 0 && a->doorbell_failures++ % 1000 == 0)
					LOG_WARN("handoff_doorbell",
					         "worker=%u err=%d why=\"%s\" failures=%llu",
					         ud_slot(ud), -cqe->res, strerror(-cqe->res),
					         (unsigned long long)a->doorbell_failures);
				continue;
			}
			if (ud_op(ud) == WOP_CMD) {
				stopping = true;
				for (unsigned i = 0; i < a->n_fds; i++) {
					struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);
					io_uring_prep_cancel_fd(sqe, a->fds[i], 0);
					io_uring_sqe_set_data64(sqe, 0);
				}
				cancels = a->n_fds;
				continue;
			}
			unsigned i = ud_slot(ud);
			if (ud_op(ud) == WOP_CONNECT) {
				/* The back-off timer of listener i expired. */
				if (stopping)
					cancels--;
				else
					acceptor_arm(a, i);
				continue;
			}
			bool exhausted = cqe->res == -EMFILE || cqe->res == -ENFILE ||
			                 cqe->res == -ENOBUFS || cqe->res == -ENOMEM;
			if (cqe->res >= 0) {
				if (stopping)
					close(cqe->res);
				else
					acceptor_handoff(a, cqe->res, i);
			} else if (cqe->res != -ECANCELED) {
				LOG_WARN("accept_error", "err=%d why=\"%s\"%s", -cqe->res,
				         strerror(-cqe->res), exhausted ? " paused_ms=100" : "");
			}
			if (!(cqe->flags & IORING_CQE_F_MORE)) {
				if (stopping)
					cancels--;
				else if (exhausted)
					acceptor_backoff(a, i);
				else
					acceptor_arm(a, i);
			}
		}
		io_uring_cq_advance(&a->ring, seen);
	}
	for (unsigned i = 0; i < a->n_fds; i++)
		close(a->fds[i]);
	a->n_fds = 0;
	return NULL;
}

int acceptor_start(struct acceptor *a)
{
	return pthread_create(&a->thread, NULL, acceptor_main, a);
}

void acceptor_join(struct acceptor *a)
{
	pthread_join(a->thread, NULL);
	io_uring_queue_exit(&a->ring);
	free(a->fds);
	a->fds = NULL;
	free(a->kinds);
	a->kinds = NULL;
}
