/* wsgate-floor: the floor of issue 11, a byte relay on io_uring that parses nothing.
 *
 * Owns: its listeners, one ring per thread, and pairs (a client socket and the backend socket
 * dialled for it). Every byte that comes in on one socket of a pair goes out on the other, in
 * order; nothing is looked at, so a WebSocket upgrade, its 101 and every frame pass as bytes
 * and wsgate-bench can drive it against wsgate-echo exactly as it drives wsgate. It is what
 * any proxy on this kernel and this machine costs at least, so that issue 11's aims are judged
 * against a measured lower bound and not a guess (docs/BENCHMARKS.md, "The floor").
 *
 * The ring is set up and batched as wsgate's workers do it (core/worker.c, core/conn.c):
 * SINGLE_ISSUER | DEFER_TASKRUN | SUBMIT_ALL, a registered ring fd, one provided-buffer ring of
 * 256 x 16 KiB, one single-shot receive in flight per socket, one send in flight per socket,
 * sends started at the end of the loop turn (so bytes that arrived together leave together),
 * one submit and wait per turn, at most FLOOR_CQE_BATCH completions handled per turn. Where
 * it is leaner than wsgate, on purpose, since a floor must not carry costs a proxy could avoid:
 * - no copy: a receive buffer goes out as it is (send, or sendmsg over every buffer queued
 *   for that socket) and returns to the ring when its send completes, instead of being copied
 *   into a send queue and returned the same turn;
 * - accept and connect on the same ring (multishot accept), no acceptor thread hand-off;
 * - no timers, no parsing, no metrics.
 * Backpressure: a side's receive is re-armed only while fewer than FLOOR_QMAX buffers
 * (128 KiB, about wsgate's CONN_OUT_HIGH) wait to be sent to the other side; a receive that
 * found the buffer ring empty waits on the starved list until a send hands buffers back.
 * Half-close: EOF from one side becomes shutdown(SHUT_WR) on the other once its queue is
 * sent; the pair closes when both directions are done, or at once on an error.
 *
 * Threads: --threads N runs N copies of the loop, each with its own SO_REUSEPORT listener,
 * ring, buffers and pairs (shared nothing). Signals are blocked everywhere; the main thread
 * waits for SIGTERM/SIGINT and writes an eventfd that every loop polls, and each loop then
 * closes what it holds and exits.
 *
 * Rejected: a multishot receive (wsgate rejected it for its backpressure: a paused conn still
 * drains a whole socket buffer before the cancel lands, conn.c); splice through a pipe (that
 * is a lever for wsgate to try, not the floor of the design it has); a copy into a ring
 * buffer per socket (wsgate's design, but the floor should show what the copy costs). */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define FLOOR_SQ_ENTRIES  4096u
#define FLOOR_BUF_ENTRIES 256u
#define FLOOR_BUF_SIZE    (16u * 1024u)
#define FLOOR_BUF_GROUP   0
#define FLOOR_QMAX        8u   /* buffers queued for one socket before its peer stops reading */
#define FLOOR_CQE_BATCH   256u /* completions handled per loop turn, as wsgate's workers */
#define FLOOR_MAX_PAIRS   (1u << 17)

enum floor_op {
	FOP_NONE = 0, /* close: CQE ignored */
	FOP_ACCEPT,
	FOP_CONNECT,
	FOP_RECV,
	FOP_SEND,
	FOP_CANCEL,
	FOP_STOP,
};

/* One socket of a pair, and the buffers received on the other socket that wait for it. */
struct floor_side {
	int fd;
	uint8_t q_head;  /* first queued buffer in q[] */
	uint8_t q_len;   /* buffers queued */
	uint8_t send_n;  /* buffers covered by the send in flight */
	bool recv_armed; /* a receive is in flight */
	bool eof;        /* this socket said EOF: nothing more to read from it */
	bool wr_shut;    /* shutdown(SHUT_WR) done on this socket */
	bool send_busy;  /* a send is in flight */
	bool starved;    /* on the starved list: its receive found no buffer */
	uint8_t _pad;
	struct {
		uint16_t bid; /* provided buffer id */
		uint16_t off; /* bytes of it already sent */
		uint16_t len; /* bytes received into it */
	} q[FLOOR_QMAX];
};

struct floor_pair {
	uint32_t gen;           /* bumped on every allocation: stale CQEs are recognised */
	uint32_t inflight;      /* SQEs whose final CQE has not come */
	bool live;              /* allocated */
	bool closing;           /* cancelled; freed once inflight is 0 */
	bool connected;         /* the backend connect completed */
	bool in_flush;          /* on the flush list */
	uint32_t flush_next;    /* flush list link: index + 1, 0 ends it */
	uint32_t free_next;     /* free list link: index + 1, 0 ends it */
	struct floor_side s[2]; /* [0] the client, [1] the backend */
};

/* sendmsg's header and vector for one socket: they must stay put until the send's CQE. */
struct floor_vec {
	struct msghdr msg;
	struct iovec iov[FLOOR_QMAX];
};

struct floor_loop {
	unsigned id;
	pthread_t thread;
	int listen_fd;
	int stop_fd; /* eventfd the main thread writes on SIGTERM/SIGINT; polled */
	struct io_uring ring;
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	unsigned br_pending;      /* buffers handed back this turn, published at its end */
	struct floor_pair *pairs; /* mmap'd, pages touched on use */
	struct floor_vec (*vecs)[2];
	uint32_t max_pairs;
	uint32_t used;       /* indices handed out so far (high-water mark) */
	uint32_t free_head;  /* freed pairs: index + 1, 0: none */
	uint32_t flush_head; /* pairs with sends to start or a free pending: index + 1 */
	uint32_t *starved;   /* index << 1 | side, receives waiting for buffers */
	uint32_t n_starved;
	bool stop;
	int rc; /* 0, or the setup error the thread ran into */
};

static struct sockaddr_storage floor_backend;
static socklen_t floor_backend_len;
static struct sockaddr_storage floor_listen_addr;
static socklen_t floor_listen_len;

static uint64_t floor_ud(uint32_t gen, uint32_t idx, unsigned side, enum floor_op op)
{
	return ((uint64_t)gen << 32) | ((uint64_t)(idx & 0xfffffu) << 12) |
	       ((uint64_t)(side & 0xfu) << 8) | (uint64_t)op;
}

static struct io_uring_sqe *floor_sqe(struct floor_loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
	if (sqe == NULL) {
		/* The SQ is full: hand what we have to the kernel now rather than fail. */
		io_uring_submit(&l->ring);
		sqe = io_uring_get_sqe(&l->ring);
	}
	if (sqe == NULL)
		abort(); /* an empty SQ after a submit cannot be full */
	return sqe;
}

static uint8_t *floor_buf(struct floor_loop *l, unsigned bid)
{
	return l->bufs + (size_t)bid * FLOOR_BUF_SIZE;
}

static void floor_buf_return(struct floor_loop *l, unsigned bid)
{
	io_uring_buf_ring_add(l->br, floor_buf(l, bid), FLOOR_BUF_SIZE, (unsigned short)bid,
	                      io_uring_buf_ring_mask(FLOOR_BUF_ENTRIES), (int)l->br_pending);
	l->br_pending++;
}

static void floor_flush_later(struct floor_loop *l, uint32_t idx)
{
	struct floor_pair *p = &l->pairs[idx];
	if (p->in_flush)
		return;
	p->in_flush = true;
	p->flush_next = l->flush_head;
	l->flush_head = idx + 1;
}

static void floor_arm_recv(struct floor_loop *l, uint32_t idx, unsigned side)
{
	struct floor_pair *p = &l->pairs[idx];
	struct floor_side *s = &p->s[side];
	/* Backpressure: while the other socket has FLOOR_QMAX buffers waiting, reading more
	 * from this one would only hold more buffers. */
	if (s->recv_armed || s->eof || s->starved || p->closing ||
	    p->s[side ^ 1].q_len >= FLOOR_QMAX)
		return;
	struct io_uring_sqe *sqe = floor_sqe(l);
	io_uring_prep_recv(sqe, s->fd, NULL, FLOOR_BUF_SIZE, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = FLOOR_BUF_GROUP;
	io_uring_sqe_set_data64(sqe, floor_ud(p->gen, idx, side, FOP_RECV));
	p->inflight++;
	s->recv_armed = true;
}

/* Closing is a state, freeing is an event: cancel what is in flight, free at inflight 0. */
static void floor_close(struct floor_loop *l, uint32_t idx)
{
	struct floor_pair *p = &l->pairs[idx];
	if (p->closing)
		return;
	p->closing = true;
	for (unsigned i = 0; i < 2; i++) {
		if (p->s[i].fd < 0)
			continue;
		struct io_uring_sqe *sqe = floor_sqe(l);
		io_uring_prep_cancel_fd(sqe, p->s[i].fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, floor_ud(p->gen, idx, i, FOP_CANCEL));
		p->inflight++;
	}
	floor_flush_later(l, idx);
}

static void floor_free(struct floor_loop *l, uint32_t idx)
{
	struct floor_pair *p = &l->pairs[idx];
	for (unsigned i = 0; i < 2; i++) {
		struct floor_side *s = &p->s[i];
		for (unsigned k = 0; k < s->q_len; k++)
			floor_buf_return(l, s->q[(s->q_head + k) % FLOOR_QMAX].bid);
		s->q_len = 0;
		if (s->fd >= 0) {
			struct io_uring_sqe *sqe = floor_sqe(l);
			io_uring_prep_close(sqe, s->fd);
			io_uring_sqe_set_data64(sqe, 0);
			s->fd = -1;
		}
	}
	p->live = false;
	p->free_next = l->free_head;
	l->free_head = idx + 1;
}

/* A direction is done once its source said EOF and all it sent went out: shut the other
 * socket's writing side then. The pair closes when both directions are done. */
static void floor_maybe_shut(struct floor_loop *l, uint32_t idx)
{
	struct floor_pair *p = &l->pairs[idx];
	for (unsigned i = 0; i < 2; i++) {
		struct floor_side *dst = &p->s[i];
		if (p->s[i ^ 1].eof && dst->q_len == 0 && !dst->wr_shut) {
			/* A plain shutdown(2): io_uring would punt IORING_OP_SHUTDOWN to io-wq. */
			shutdown(dst->fd, SHUT_WR);
			dst->wr_shut = true;
		}
	}
	if (p->s[0].wr_shut && p->s[1].wr_shut)
		floor_close(l, idx);
}

static void floor_start_send(struct floor_loop *l, uint32_t idx, unsigned side)
{
	struct floor_pair *p = &l->pairs[idx];
	struct floor_side *s = &p->s[side];
	struct io_uring_sqe *sqe = floor_sqe(l);
	if (s->q_len == 1) {
		unsigned h = s->q_head;
		io_uring_prep_send(sqe, s->fd, floor_buf(l, s->q[h].bid) + s->q[h].off,
		                   (size_t)(s->q[h].len - s->q[h].off), MSG_NOSIGNAL);
	} else {
		/* Every buffer queued for this socket in one sendmsg: what arrived in one turn
		 * leaves in one send. */
		struct floor_vec *v = &l->vecs[idx][side];
		for (unsigned k = 0; k < s->q_len; k++) {
			unsigned h = (s->q_head + k) % FLOOR_QMAX;
			v->iov[k].iov_base = floor_buf(l, s->q[h].bid) + s->q[h].off;
			v->iov[k].iov_len = (size_t)(s->q[h].len - s->q[h].off);
		}
		memset(&v->msg, 0, sizeof(v->msg));
		v->msg.msg_iov = v->iov;
		v->msg.msg_iovlen = s->q_len;
		io_uring_prep_sendmsg(sqe, s->fd, &v->msg, MSG_NOSIGNAL);
	}
	s->send_n = s->q_len;
	io_uring_sqe_set_data64(sqe, floor_ud(p->gen, idx, side, FOP_SEND));
	p->inflight++;
	s->send_busy = true;
}

/* End of the turn: start the sends the turn queued, free what is closed and quiet. */
static void floor_flush_all(struct floor_loop *l)
{
	while (l->flush_head != 0) {
		uint32_t idx = l->flush_head - 1;
		struct floor_pair *p = &l->pairs[idx];
		l->flush_head = p->flush_next;
		p->in_flush = false;
		if (p->closing) {
			if (p->inflight == 0)
				floor_free(l, idx);
			continue;
		}
		if (!p->connected)
			continue;
		for (unsigned i = 0; i < 2; i++)
			if (!p->s[i].send_busy && p->s[i].q_len > 0)
				floor_start_send(l, idx, i);
	}
}

static void floor_on_recv(struct floor_loop *l, uint32_t idx, unsigned side,
                          const struct io_uring_cqe *cqe)
{
	struct floor_pair *p = &l->pairs[idx];
	struct floor_side *s = &p->s[side];
	s->recv_armed = false;
	int res = cqe->res;
	if (res > 0) {
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		struct floor_side *dst = &p->s[side ^ 1];
		if (p->closing) {
			floor_buf_return(l, bid);
			return;
		}
		/* Room is certain: the receive was armed only while q_len < FLOOR_QMAX. */
		unsigned t = (dst->q_head + dst->q_len) % FLOOR_QMAX;
		dst->q[t].bid = (uint16_t)bid;
		dst->q[t].off = 0;
		dst->q[t].len = (uint16_t)res;
		dst->q_len++;
		floor_flush_later(l, idx);
		floor_arm_recv(l, idx, side);
	} else if (res == -ENOBUFS) {
		/* Every buffer is waiting in some send queue: re-armed when one comes back. */
		if (!p->closing) {
			s->starved = true;
			l->starved[l->n_starved++] = idx << 1 | side;
		}
	} else if (res == 0) {
		s->eof = true;
		if (!p->closing)
			floor_maybe_shut(l, idx);
	} else if (res == -EINTR || res == -EAGAIN) {
		floor_arm_recv(l, idx, side);
	} else {
		floor_close(l, idx); /* reset, or cancelled by a close already under way */
	}
}

static void floor_on_send(struct floor_loop *l, uint32_t idx, unsigned side, int res)
{
	struct floor_pair *p = &l->pairs[idx];
	struct floor_side *s = &p->s[side];
	s->send_busy = false;
	if (p->closing)
		return; /* the queue's buffers go back when the pair is freed */
	if (res < 0) {
		floor_close(l, idx);
		return;
	}
	size_t left = (size_t)res;
	for (unsigned k = 0; k < s->send_n && left > 0; k++) {
		unsigned h = s->q_head;
		size_t n = (size_t)(s->q[h].len - s->q[h].off);
		if (left < n) {
			s->q[h].off = (uint16_t)(s->q[h].off + left); /* a short send */
			break;
		}
		left -= n;
		floor_buf_return(l, s->q[h].bid);
		s->q_head = (uint8_t)((h + 1) % FLOOR_QMAX);
		s->q_len--;
	}
	s->send_n = 0;
	if (s->q_len > 0)
		floor_flush_later(l, idx);
	/* The other socket may have stopped reading on our full queue. */
	floor_arm_recv(l, idx, side ^ 1);
	floor_maybe_shut(l, idx);
}

static void floor_on_connect(struct floor_loop *l, uint32_t idx, int res)
{
	struct floor_pair *p = &l->pairs[idx];
	if (p->closing)
		return;
	if (res < 0) {
		floor_close(l, idx); /* the client sees its connection end */
		return;
	}
	p->connected = true;
	floor_arm_recv(l, idx, 0);
	floor_arm_recv(l, idx, 1);
}

static void floor_on_accept(struct floor_loop *l, int fd)
{
	uint32_t idx;
	if (l->free_head != 0) {
		idx = l->free_head - 1;
		l->free_head = l->pairs[idx].free_next;
	} else if (l->used < l->max_pairs) {
		idx = l->used++;
	} else {
		close(fd); /* full: load, not a bug */
		return;
	}
	int bfd = socket(floor_backend.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bfd == -1) {
		close(fd);
		struct floor_pair *q = &l->pairs[idx];
		q->free_next = l->free_head;
		l->free_head = idx + 1;
		return;
	}
	int one = 1;
	setsockopt(bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct floor_pair *p = &l->pairs[idx];
	uint32_t gen = p->gen + 1;
	memset(p, 0, sizeof(*p));
	p->gen = gen;
	p->live = true;
	p->s[0].fd = fd;
	p->s[1].fd = bfd;
	struct io_uring_sqe *sqe = floor_sqe(l);
	io_uring_prep_connect(sqe, bfd, (struct sockaddr *)&floor_backend, floor_backend_len);
	io_uring_sqe_set_data64(sqe, floor_ud(p->gen, idx, 1, FOP_CONNECT));
	p->inflight++;
}

static void floor_arm_accept(struct floor_loop *l)
{
	struct io_uring_sqe *sqe = floor_sqe(l);
	io_uring_prep_multishot_accept(sqe, l->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, FOP_ACCEPT);
}

static void floor_handle_cqe(struct floor_loop *l, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	enum floor_op op = (enum floor_op)(ud & 0xffu);
	switch (op) {
	case FOP_NONE:
		return;
	case FOP_STOP:
		l->stop = true;
		return;
	case FOP_ACCEPT:
		if (cqe->res >= 0)
			floor_on_accept(l, cqe->res);
		if (!(cqe->flags & IORING_CQE_F_MORE) && !l->stop)
			floor_arm_accept(l);
		return;
	case FOP_CONNECT:
	case FOP_RECV:
	case FOP_SEND:
	case FOP_CANCEL:
		break;
	}
	uint32_t idx = (uint32_t)(ud >> 12) & 0xfffffu;
	unsigned side = (unsigned)(ud >> 8) & 1u;
	struct floor_pair *p = idx < l->used ? &l->pairs[idx] : NULL;
	if (p == NULL || !p->live || p->gen != (uint32_t)(ud >> 32)) {
		/* Cannot happen with in-flight counting; drop it, keep its buffer. */
		if (cqe->flags & IORING_CQE_F_BUFFER)
			floor_buf_return(l, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		return;
	}
	p->inflight--;
	switch (op) {
	case FOP_CONNECT:
		floor_on_connect(l, idx, cqe->res);
		break;
	case FOP_RECV:
		floor_on_recv(l, idx, side, cqe);
		break;
	case FOP_SEND:
		floor_on_send(l, idx, side, cqe->res);
		break;
	default:
		break;
	}
	if (p->closing && p->inflight == 0)
		floor_flush_later(l, idx);
}

/* Receives that found the buffer ring empty, now that buffers came back. */
static void floor_feed_starved(struct floor_loop *l)
{
	uint32_t n = l->n_starved;
	l->n_starved = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t idx = l->starved[i] >> 1;
		unsigned side = l->starved[i] & 1u;
		struct floor_pair *p = &l->pairs[idx];
		p->s[side].starved = false;
		if (p->live && !p->closing)
			floor_arm_recv(l, idx, side);
	}
}

static int floor_setup(struct floor_loop *l, uint32_t max_pairs)
{
	struct io_uring_params prm;
	memset(&prm, 0, sizeof(prm));
	prm.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
	            IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE;
	prm.cq_entries = FLOOR_SQ_ENTRIES * 4;
	int rc = io_uring_queue_init_params(FLOOR_SQ_ENTRIES, &l->ring, &prm);
	if (rc == -EINVAL) {
		memset(&prm, 0, sizeof(prm));
		prm.flags = IORING_SETUP_CQSIZE;
		prm.cq_entries = FLOOR_SQ_ENTRIES * 4;
		rc = io_uring_queue_init_params(FLOOR_SQ_ENTRIES, &l->ring, &prm);
	}
	if (rc < 0)
		return rc;
	io_uring_register_ring_fd(&l->ring);
	size_t ring_bytes = FLOOR_BUF_ENTRIES * sizeof(struct io_uring_buf);
	l->br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	l->bufs = mmap(NULL, (size_t)FLOOR_BUF_ENTRIES * FLOOR_BUF_SIZE, PROT_READ | PROT_WRITE,
	               MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, -1, 0);
	l->pairs = mmap(NULL, (size_t)max_pairs * sizeof(*l->pairs), PROT_READ | PROT_WRITE,
	                MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, -1, 0);
	l->vecs = mmap(NULL, (size_t)max_pairs * sizeof(*l->vecs), PROT_READ | PROT_WRITE,
	               MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, -1, 0);
	/* Each side is on the starved list at most once. */
	l->starved = mmap(NULL, (size_t)max_pairs * 2 * sizeof(*l->starved), PROT_READ | PROT_WRITE,
	                  MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, -1, 0);
	if (l->br == MAP_FAILED || l->bufs == MAP_FAILED || l->pairs == MAP_FAILED ||
	    l->vecs == MAP_FAILED || l->starved == MAP_FAILED)
		return -ENOMEM;
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)l->br;
	reg.ring_entries = FLOOR_BUF_ENTRIES;
	reg.bgid = FLOOR_BUF_GROUP;
	rc = io_uring_register_buf_ring(&l->ring, &reg, 0);
	if (rc < 0)
		return rc;
	io_uring_buf_ring_init(l->br);
	for (unsigned i = 0; i < FLOOR_BUF_ENTRIES; i++)
		floor_buf_return(l, i);
	io_uring_buf_ring_advance(l->br, (int)l->br_pending);
	l->br_pending = 0;
	return 0;
}

static void floor_teardown(struct floor_loop *l)
{
	if (l->pairs != NULL && l->pairs != MAP_FAILED) {
		for (uint32_t i = 0; i < l->used; i++)
			for (unsigned k = 0; l->pairs[i].live && k < 2; k++)
				if (l->pairs[i].s[k].fd >= 0)
					close(l->pairs[i].s[k].fd);
		munmap(l->pairs, (size_t)l->max_pairs * sizeof(*l->pairs));
	}
	if (l->vecs != NULL && l->vecs != MAP_FAILED)
		munmap(l->vecs, (size_t)l->max_pairs * sizeof(*l->vecs));
	if (l->starved != NULL && l->starved != MAP_FAILED)
		munmap(l->starved, (size_t)l->max_pairs * 2 * sizeof(*l->starved));
	if (l->bufs != NULL && l->bufs != MAP_FAILED)
		munmap(l->bufs, (size_t)FLOOR_BUF_ENTRIES * FLOOR_BUF_SIZE);
	if (l->br != NULL && l->br != MAP_FAILED)
		munmap(l->br, FLOOR_BUF_ENTRIES * sizeof(struct io_uring_buf));
	if (l->ring.ring_fd > 0)
		io_uring_queue_exit(&l->ring);
}

static void *floor_main(void *arg)
{
	struct floor_loop *l = arg;
	/* The ring is made here: with SINGLE_ISSUER its one submitter is the task that made
	 * it, and a registered ring fd belongs to the thread that registers it. */
	int e = floor_setup(l, l->max_pairs);
	if (e < 0) {
		fprintf(stderr, "wsgate-floor: thread %u: ring setup: %s\n", l->id, strerror(-e));
		l->rc = e;
		kill(getpid(), SIGTERM); /* the main thread stops the others and exits 1 */
		return NULL;
	}
	floor_arm_accept(l);
	struct io_uring_sqe *sqe = floor_sqe(l);
	io_uring_prep_poll_add(sqe, l->stop_fd, POLLIN);
	io_uring_sqe_set_data64(sqe, FOP_STOP);
	while (!l->stop) {
		int rc = io_uring_submit_and_wait(&l->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -ETIME) {
			fprintf(stderr, "wsgate-floor: thread %u: ring wait: %s\n", l->id,
			        strerror(-rc));
			l->rc = rc;
			break;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&l->ring, head, cqe)
		{
			floor_handle_cqe(l, cqe);
			/* Bounded work per turn, as in wsgate: what is left waits one turn. */
			if (++seen == FLOOR_CQE_BATCH)
				break;
		}
		io_uring_cq_advance(&l->ring, seen);
		bool returned = l->br_pending > 0;
		if (l->br_pending) {
			io_uring_buf_ring_advance(l->br, (int)l->br_pending);
			l->br_pending = 0;
		}
		if (returned && l->n_starved)
			floor_feed_starved(l);
		floor_flush_all(l);
	}
	return NULL;
}

static int floor_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port < 1 || port > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return -1;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return 0;
	}
	struct sockaddr_in *a = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -1;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	*len = sizeof(*a);
	return 0;
}

static int floor_listen(void)
{
	int fd = socket(floor_listen_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* inherited by accepts */
	if (bind(fd, (struct sockaddr *)&floor_listen_addr, floor_listen_len) != 0 ||
	    listen(fd, 4096) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void floor_usage(FILE *out)
{
	fprintf(out, "usage: wsgate-floor --listen ADDR:PORT --backend ADDR:PORT [--threads N]\n"
	             "  relays bytes between each client and a connection to the backend, on\n"
	             "  io_uring, parsing nothing (the floor of docs/BENCHMARKS.md)\n");
}

static int floor_bad(const char *flag, const char *value)
{
	if (value == NULL)
		fprintf(stderr, "wsgate-floor: %s: missing value\n", flag);
	else
		fprintf(stderr, "wsgate-floor: %s: invalid value \"%s\"\n", flag, value);
	return 2;
}

int main(int argc, char **argv)
{
	bool have_listen = false, have_backend = false;
	unsigned threads = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			floor_usage(stdout);
			return 0;
		} else if (!strcmp(a, "--listen")) {
			if (v == NULL || floor_parse_addr(v, &floor_listen_addr, &floor_listen_len))
				return floor_bad(a, v);
			have_listen = true;
			i++;
		} else if (!strcmp(a, "--backend")) {
			if (v == NULL || floor_parse_addr(v, &floor_backend, &floor_backend_len))
				return floor_bad(a, v);
			have_backend = true;
			i++;
		} else if (!strcmp(a, "--threads")) {
			char *end;
			long n = v ? strtol(v, &end, 10) : 0;
			if (v == NULL || *end != '\0' || n < 1 || n > 64)
				return floor_bad(a, v);
			threads = (unsigned)n;
			i++;
		} else {
			fprintf(stderr, "wsgate-floor: %s: unknown flag\n", a);
			return 2;
		}
	}
	if (!have_listen || !have_backend) {
		fprintf(stderr, "wsgate-floor: --listen and --backend are required\n");
		return 2;
	}
	/* Signals are blocked in every thread (the mask is inherited) and taken by sigwait. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	int stop_fd = eventfd(0, EFD_CLOEXEC);
	struct floor_loop *loops = calloc(threads, sizeof(*loops));
	if (stop_fd == -1 || loops == NULL) {
		fprintf(stderr, "wsgate-floor: out of memory\n");
		return 1;
	}
	int rc = 0;
	unsigned started = 0;
	for (unsigned i = 0; i < threads; i++) {
		struct floor_loop *l = &loops[i];
		l->id = i;
		l->stop_fd = stop_fd;
		l->ring.ring_fd = -1;
		l->listen_fd = floor_listen();
		if (l->listen_fd == -1) {
			fprintf(stderr, "wsgate-floor: listen: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		l->max_pairs = FLOOR_MAX_PAIRS / threads;
	}
	for (unsigned i = 0; rc == 0 && i < threads; i++) {
		if (pthread_create(&loops[i].thread, NULL, floor_main, &loops[i]) != 0) {
			fprintf(stderr, "wsgate-floor: thread: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		started++;
	}
	if (rc == 0) {
		int sig = 0;
		sigwait(&set, &sig);
	}
	uint64_t one = 1;
	if (write(stop_fd, &one, sizeof(one)) != sizeof(one))
		rc = 1;
	for (unsigned i = 0; i < started; i++) {
		pthread_join(loops[i].thread, NULL);
		if (loops[i].rc != 0)
			rc = 1;
	}
	for (unsigned i = 0; i < threads; i++) {
		if (loops[i].listen_fd > 0)
			close(loops[i].listen_fd);
		floor_teardown(&loops[i]);
	}
	free(loops);
	close(stop_fd);
	return rc;
}
