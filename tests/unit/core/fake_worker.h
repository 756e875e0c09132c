/* A real worker (ring, slabs, buffers, pool, wheel) without its thread, for unit tests that
 * drive the layers through their tables in memory: conns get socketpair fds, their queues
 * are read back with rbuf_peek, and nothing is submitted unless a test does it itself. */
#ifndef WSG_TESTS_UNIT_CORE_FAKE_WORKER_H
#define WSG_TESTS_UNIT_CORE_FAKE_WORKER_H

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/config.h"
#include "core/conn.h"
#include "core/gateway.h"
#include "core/tunnel.h"
#include "core/worker.h"

struct fake {
	struct wsg_config cfg;
	struct gateway_app app;
	struct gateway gw;
	struct worker w;
	int peer_fds[8]; /* the other ends of the socketpairs */
	unsigned n_peer;
};

static inline int fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	f->cfg.max_message = 1 << 20;
	f->cfg.drain_timeout_ms = 1000;
	f->cfg.connect_timeout_ms = 1000;
	f->app.prog = "test";
	f->app.owner_size = sizeof(struct tunnel);
	f->app.handshake_size = sizeof(struct tunnel_dial);
	f->gw.cfg = &f->cfg;
	f->gw.app = &f->app;
	f->gw.prog = "test";
	f->gw.n_workers = 1;
	f->gw.limits.head_max = WSG_HEAD_MAX_DEFAULT;
	f->gw.limits.headers_max = WSG_HEADERS_MAX_DEFAULT;
	f->gw.limits.message_max = f->cfg.max_message;
	strcpy(f->gw.id_prefix, "testtest");
	int rc = worker_init(&f->w, &f->gw, 0, 64);
	if (rc != 0)
		return rc;
	/* The worker thread would enable its ring (SINGLE_ISSUER): this thread is its issuer. */
	return (int)syscall(__NR_io_uring_register, f->w.ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
	                    NULL, 0);
}

/* A conn with no socket (fd -1): what it prepares on the ring is never submitted, unless
 * the SQ fills up, and then those SQEs fail harmlessly with -EBADF. */
static inline struct conn *fake_conn(struct fake *f, enum conn_role role,
                                     const struct conn_ops *ops)
{
	struct conn *c = conn_new(&f->w, -1, role, ops);
	if (c != NULL && role == CONN_BACKEND)
		c->flags |= CF_CONNECTED;
	return c;
}

/* A conn on one end of a fresh socketpair (the other end kept in f->peer_fds), for tests that
 * submit and complete real I/O. */
static inline struct conn *fake_conn_socket(struct fake *f, enum conn_role role,
                                            const struct conn_ops *ops, int *peer)
{
	int sv[2];
	if (f->n_peer >= 8 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
		return NULL;
	f->peer_fds[f->n_peer++] = sv[1];
	*peer = sv[1];
	struct conn *c = conn_new(&f->w, sv[0], role, ops);
	if (c != NULL && role == CONN_BACKEND)
		c->flags |= CF_CONNECTED;
	return c;
}

/* Everything queued on c for the socket (plaintext conns: what the layer above queued). */
static inline size_t fake_out(const struct conn *c, uint8_t *buf, size_t cap)
{
	return rbuf_peek(&c->out, buf, cap);
}

/* Frees every conn as the worker would once their CQEs are in (none were submitted), and
 * drops whatever completions came meanwhile. */
static inline void fake_free_conns(struct fake *f)
{
	for (struct conn *c = f->w.live_head; c != NULL; c = c->live_next) {
		c->inflight = 0;
		c->flags &= (uint16_t)~CF_CANCEL_SENT;
		conn_close(&f->w, c);
		c->inflight = 0;
	}
	conn_flush_all(&f->w);
	struct io_uring_cqe *cqe;
	while (io_uring_peek_cqe(&f->w.ring, &cqe) == 0)
		io_uring_cqe_seen(&f->w.ring, cqe);
}

static inline void fake_fini(struct fake *f)
{
	fake_free_conns(f);
	for (unsigned i = 0; i < f->n_peer; i++)
		close(f->peer_fds[i]);
	worker_fini(&f->w);
}

/* One worker for a whole cmocka group (cmocka_run_group_tests(tests, fake_setup,
 * fake_teardown)): tests make and free their conns on it. */
static struct fake fk;

static int fake_setup(void **state)
{
	(void)state;
	return fake_init(&fk);
}

static int fake_teardown(void **state)
{
	(void)state;
	fake_fini(&fk);
	return 0;
}

#endif
