/* core/conn.c: the transport. Every socket, either leg, any program on the core.
 *
 * Owns: a conn's socket, its receive and send on the worker's ring, the byte transform seam,
 * backpressure, the lingering close, and the conn's life in the slab. What the bytes mean is
 * reached only through c->ops (conn.h), so this file never names a handshake, a tunnel or an
 * echo server.
 *
 * Receive: one receive in flight per conn, into the worker's provided buffers (16 KiB each),
 * re-armed after each completion unless the conn is paused. The bytes go up in place and the
 * buffer returns to the ring the same turn; nothing keeps a pointer into it past on_data
 * (the layer above copies what it keeps: a split header into the stash, a head into `in`,
 * payload into the peer's send queue). One receive at a time bounds what a paused conn can
 * still take to one buffer, which is what makes CONN_OUT_HIGH a real bound.
 * Rejected: a multishot receive. It saves one SQE per receive, but a single wait can
 * complete dozens of buffers for one conn (the kernel loops while data is there), so a conn
 * paused for backpressure still moved a whole socket buffer (megabytes) into its peer's queue
 * before the cancel landed: 3 MB per slow reader instead of 256 KiB.
 *
 * Send: one send in flight per conn, from `out`, started at the end of the loop turn so that
 * everything queued during the turn leaves together. The send's storage is pinned
 * (rbuf_pin) until its completion: io_uring retries a partial send later, and a growth of
 * `out` meanwhile must not hand that block to anyone else.
 *
 * Closing is a state, freeing is an event (STYLE.md 4): conn_close() marks the conn CLOSING
 * and cancels what is in flight; the conn goes back to the slab (and its fd is closed) only
 * when the last in-flight CQE has come in, at the end of a loop turn, so no handler ever sees
 * a conn that vanished under it.
 *
 * Lingering close: conn_shut_after_flush waits for the queue to drain, shuts our side and
 * reads until EOF (or the linger limits), dropping what comes, then closes. Closing a socket
 * with unread bytes in it makes the kernel answer with a reset, which can destroy our last
 * bytes (a close frame, an error answer) before the peer reads them. */
#include "core/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/bug.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/worker.h"

static void conn_live_link(struct worker *w, struct conn *c)
{
	c->live_prev = NULL;
	c->live_next = w->live_head;
	if (w->live_head != NULL)
		w->live_head->live_prev = c;
	w->live_head = c;
	w->live_conns++;
}

static void conn_live_unlink(struct worker *w, struct conn *c)
{
	if (c->live_prev != NULL)
		c->live_prev->live_next = c->live_next;
	else
		w->live_head = c->live_next;
	if (c->live_next != NULL)
		c->live_next->live_prev = c->live_prev;
	w->live_conns--;
}

struct conn *conn_new(struct worker *w, int fd, enum conn_role role, const struct conn_ops *ops)
{
	struct conn *c = slab_alloc(&w->conns);
	if (c == NULL) {
		metrics_worker_slab_exhausted(w->m, METRICS_SLAB_CONN);
		return NULL;
	}
	/* Slab memory is not zeroed: the generation survives reuse on purpose, so a CQE meant
	 * for the slot's previous conn can be told apart. */
	uint32_t gen = c->gen + 1;
	memset(c, 0, sizeof(*c));
	c->gen = gen;
	c->slot = slab_index(&w->conns, c);
	c->fd = fd;
	c->role = (uint8_t)role;
	c->state = CONN_HANDSHAKE;
	c->ops = ops;
	c->last_rx_ms = w->now_ms;
	twheel_entry_init(&c->timer);
	http_parser_init(&c->p.http);
	conn_live_link(w, c);
	return c;
}

static const char *conn_bits_str(uint16_t bits, const char *const *names, unsigned n, char *buf,
                                 size_t cap)
{
	size_t len = 0;
	if (cap == 0)
		return buf;
	buf[0] = '\0';
	for (unsigned i = 0; i < n && i < 16; i++) {
		if (!(bits & (1u << i)))
			continue;
		int k = snprintf(buf + len, cap - len, "%s%s", len ? "|" : "", names[i]);
		if (k < 0 || (size_t)k >= cap - len) {
			buf[len] = '\0'; /* drop the cut name */
			break;
		}
		len += (size_t)k;
	}
	return buf;
}

const char *conn_flags_str(uint16_t flags, char *buf, size_t cap)
{
	static const char *const names[] = {"recv_armed", "send_busy", "rx_paused", "shut_after",
	                                    "eof",        "in_flush",  "connected", "cancel_sent",
	                                    "wr_shut",    "discard",   "hold",      "stamped"};
	return conn_bits_str(flags, names, sizeof(names) / sizeof(names[0]), buf, cap);
}

const char *conn_ws_flags_str(uint16_t ws_flags, char *buf, size_t cap)
{
	static const char *const names[] = {"close_sent", "close_rcvd", "ping_out",
	                                    "ctl",        "fwd_open",   "hold",
	                                    "failed",     "over_limit", "close_owed"};
	return conn_bits_str(ws_flags, names, sizeof(names) / sizeof(names[0]), buf, cap);
}

void conn_peer_text(const struct conn *c, char *buf, size_t cap, bool with_port)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (c->peer.sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &c->peer.in4.sin_addr, addr, sizeof(addr));
		port = ntohs(c->peer.in4.sin_port);
	} else if (c->peer.sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &c->peer.in6.sin6_addr, addr, sizeof(addr));
		port = ntohs(c->peer.in6.sin6_port);
	}
	if (!with_port)
		snprintf(buf, cap, "%s", addr);
	else if (c->peer.sa.sa_family == AF_INET6)
		snprintf(buf, cap, "[%s]:%u", addr, port);
	else
		snprintf(buf, cap, "%s:%u", addr, port);
}

void conn_arm_recv(struct worker *w, struct conn *c)
{
	if (c->flags & (CF_RECV_ARMED | CF_EOF | CF_RX_PAUSED) || c->state == CONN_CLOSING)
		return;
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_recv(sqe, c->fd, NULL, WORKER_BUF_SIZE, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = WORKER_BUF_GROUP;
	io_uring_sqe_set_data64(sqe, ud_pack(c->gen, c->slot, WOP_RECV));
	c->inflight++;
	c->flags |= CF_RECV_ARMED;
}

void conn_connect(struct worker *w, struct conn *c, socklen_t addr_len)
{
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_connect(sqe, c->fd, &c->peer.sa, addr_len);
	io_uring_sqe_set_data64(sqe, ud_pack(c->gen, c->slot, WOP_CONNECT));
	c->inflight++;
}

void conn_pause(struct worker *w, struct conn *c)
{
	(void)w;
	/* The receive in flight (if any) is left alone: it completes with at most one buffer,
	 * which is handed up as usual; only the re-arm waits for conn_resume. Cancelling it
	 * would gain nothing but a CQE. */
	c->flags |= CF_RX_PAUSED;
}

void conn_resume(struct worker *w, struct conn *c)
{
	if (!(c->flags & CF_RX_PAUSED))
		return;
	c->flags &= (uint16_t)~CF_RX_PAUSED;
	conn_arm_recv(w, c);
}

void conn_discard_input(struct worker *w, struct conn *c)
{
	c->flags |= CF_DISCARD;
	conn_resume(w, c);
}

static struct rbuf *conn_txq(struct conn *c)
{
	return c->xf != NULL ? &c->xf->pt : &c->out;
}

size_t conn_out_len(const struct conn *c)
{
	size_t n = rbuf_len(&c->out);
	if (c->xf != NULL) {
		n += rbuf_len(&c->xf->pt);
		if (c->xf->ops->pending != NULL)
			n += c->xf->ops->pending(c);
	}
	/* Held bytes do not count: they cannot drain until the holder releases them, so
	 * counting them could pause the very conn whose input would complete the hold. */
	return n - ((c->flags & CF_HOLD) ? c->hold_len : 0);
}

int conn_queue_raw(struct worker *w, struct conn *c, const void *p, size_t n)
{
	if (c->state == CONN_CLOSING)
		return 0;
	if (rbuf_append(&c->out, w->pool, p, n) != 0)
		return -1;
	worker_flush_later(w, c);
	return 0;
}

int conn_queue(struct worker *w, struct conn *c, const void *p, size_t n)
{
	if (c->state == CONN_CLOSING)
		return 0;
	if (rbuf_append(conn_txq(c), w->pool, p, n) != 0)
		return -1;
	if (!(c->flags & CF_STAMPED)) { /* wsgate_relay_delay_seconds starts here */
		c->relay_at = loopstat_stamp(&w->ls);
		c->flags |= CF_STAMPED;
	}
	if (c->flags & CF_HOLD)
		c->hold_len += (uint32_t)n;
	worker_flush_later(w, c);
	return 0;
}

void conn_out_hold(struct conn *c)
{
	c->flags |= CF_HOLD;
	c->hold_len = 0;
}

bool conn_out_is_held(const struct conn *c)
{
	return (c->flags & CF_HOLD) != 0;
}

void conn_out_release(struct worker *w, struct conn *c)
{
	if (!(c->flags & CF_HOLD))
		return;
	c->flags &= (uint16_t)~CF_HOLD;
	worker_flush_later(w, c);
}

void conn_out_rollback(struct worker *w, struct conn *c)
{
	if (!(c->flags & CF_HOLD))
		return;
	struct rbuf *q = conn_txq(c);
	rbuf_truncate(q, rbuf_tail_pos(q) - c->hold_len);
	if (rbuf_is_empty(q) && !rbuf_is_pinned(q))
		rbuf_release(q, w->pool);
	c->flags &= (uint16_t)~CF_HOLD;
	c->hold_len = 0;
}

/* Bytes of q that may be handed on (all but a held tail). */
static size_t conn_sendable(const struct conn *c, const struct rbuf *q)
{
	size_t len = rbuf_len(q);
	if (c->flags & CF_HOLD)
		return len > c->hold_len ? len - c->hold_len : 0;
	return len;
}

void conn_set_timer(struct worker *w, struct conn *c, uint64_t deadline_ms)
{
	twheel_add(&w->wheel, &c->timer, deadline_ms);
}

void conn_del_timer(struct worker *w, struct conn *c)
{
	twheel_del(&w->wheel, &c->timer);
}

void conn_shut_after_flush(struct worker *w, struct conn *c)
{
	if (c->state == CONN_CLOSING || (c->flags & CF_SHUT_AFTER))
		return;
	c->flags |= CF_SHUT_AFTER | CF_DISCARD;
	c->flags &= (uint16_t)~CF_HOLD;
	/* The layer above is done with its deadline: it is the linger's hard end now. */
	c->deadline_ms = w->now_ms + CONN_LINGER_MAX_MS;
	conn_set_timer(w, c, c->deadline_ms);
	/* Keep reading (and dropping) meanwhile: a peer blocked in a send of its own would
	 * otherwise never read what we are sending it. */
	conn_resume(w, c);
	worker_flush_later(w, c);
}

void conn_close(struct worker *w, struct conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	c->state = CONN_CLOSING;
	if (c->inflight > 0 && !(c->flags & CF_CANCEL_SENT)) {
		struct io_uring_sqe *sqe = worker_sqe(w);
		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data64(sqe, ud_pack(c->gen, c->slot, WOP_FDOP));
		c->inflight++;
		c->flags |= CF_CANCEL_SENT;
	}
	twheel_del(&w->wheel, &c->timer);
	worker_flush_later(w, c);
}

static void conn_free(struct worker *w, struct conn *c)
{
	WSG_BUG_ON(c->inflight != 0);
	if (c->ops->on_free != NULL)
		c->ops->on_free(w, c);
	if (c->xf != NULL) {
		rbuf_release(&c->xf->pt, w->pool);
		if (c->xf->ops->release != NULL)
			c->xf->ops->release(w, c);
		c->xf = NULL;
	}
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, 0);
	rbuf_unpin(&c->out, w->pool);
	rbuf_release(&c->out, w->pool);
	rbuf_release(&c->in, w->pool);
	twheel_del(&w->wheel, &c->timer);
	if (c->role == CONN_CLIENT) { /* taken by the acceptor against --max-conns */
		atomic_fetch_sub_explicit(&w->gw->client_socks, 1, memory_order_relaxed);
		metrics_worker_conn_close(w->m);
	}
	LOG_DEBUG("conn_free", "slot=%u role=%s", c->slot,
	          c->role == CONN_CLIENT ? "client" : "backend");
	conn_live_unlink(w, c);
	c->fd = -1;
	slab_free(&w->conns, c);
}

/* Runs queued plaintext through the transform, up to the hold mark. */
static int conn_run_xform(struct worker *w, struct conn *c)
{
	struct rbuf *pt = &c->xf->pt;
	while (!rbuf_is_empty(pt)) {
		size_t n;
		uint8_t *p = rbuf_contig_data(pt, &n);
		size_t sendable = conn_sendable(c, pt);
		if (sendable == 0)
			break;
		if (n > sendable)
			n = sendable;
		size_t taken = 0;
		if (c->xf->ops->output(w, c, p, n, &taken) != 0)
			return -1;
		rbuf_consume(pt, w->pool, taken);
		if (taken < n)
			break; /* the transform cannot send yet (handshake): offered again later */
	}
	return 0;
}

static void conn_start_send(struct worker *w, struct conn *c)
{
	size_t n;
	uint8_t *p = rbuf_contig_data(&c->out, &n);
	if (c->xf == NULL) {
		size_t sendable = conn_sendable(c, &c->out);
		if (n > sendable)
			n = sendable;
	}
	if (n == 0)
		return;
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_send(sqe, c->fd, p, n, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_pack(c->gen, c->slot, WOP_SEND));
	rbuf_pin(&c->out);
	c->inflight++;
	c->flags |= CF_SEND_BUSY;
	if (c->flags & CF_STAMPED) { /* observed at the submit that carries this send */
		loopstat_send(&w->ls, c->relay_at);
		c->flags &= (uint16_t)~CF_STAMPED;
	}
}

/* Everything queued is sent: shut our side and read (dropping it) until the peer closes or
 * the linger limits pass. A backend (we are its client: RFC 6455 7.1.1 has the server close
 * first) and a peer already at EOF are closed at once. */
static void conn_linger(struct worker *w, struct conn *c)
{
	if ((c->flags & CF_EOF) || c->role == CONN_BACKEND) {
		conn_close(w, c);
		return;
	}
	c->flags |= CF_WR_SHUT;
	/* A plain shutdown(2), not IORING_OP_SHUTDOWN: io_uring always punts shutdown to an
	 * io-wq thread, and thousands of closes at once (a client going away with all its
	 * connections) would spawn a crowd of them; the syscall itself never blocks on TCP. */
	shutdown(c->fd, SHUT_WR);
	c->last_rx_ms = w->now_ms;
	uint64_t at = w->now_ms + CONN_LINGER_IDLE_MS;
	conn_set_timer(w, c, at < c->deadline_ms ? at : c->deadline_ms);
	conn_resume(w, c);
}

static bool conn_has_sendable(const struct conn *c)
{
	if (c->xf != NULL)
		return !rbuf_is_empty(&c->out) || conn_sendable(c, &c->xf->pt) > 0;
	return conn_sendable(c, &c->out) > 0;
}

void conn_flush_all(struct worker *w)
{
	while (w->flush_head != NULL) {
		struct conn *c = w->flush_head;
		w->flush_head = c->flush_next;
		c->flush_next = NULL;
		c->flags &= (uint16_t)~CF_IN_FLUSH;
		if (c->state == CONN_CLOSING) {
			if (c->inflight == 0)
				conn_free(w, c);
			continue;
		}
		if (c->xf != NULL && conn_run_xform(w, c) != 0) {
			conn_close(w, c);
			continue;
		}
		if (c->flags & CF_SEND_BUSY)
			continue;
		if (conn_has_sendable(c)) {
			if (c->flags & CF_CONNECTED || c->role == CONN_CLIENT)
				conn_start_send(w, c);
		} else if ((c->flags & CF_SHUT_AFTER) && !(c->flags & CF_WR_SHUT) &&
		           rbuf_is_empty(&c->out) && (c->xf == NULL || rbuf_is_empty(&c->xf->pt))) {
			conn_linger(w, c);
		}
	}
}

static void conn_gone(struct worker *w, struct conn *c, int err)
{
	if (log_enabled(CFG_LOG_DEBUG)) {
		char f[160], wf[160];
		LOG_DEBUG("conn_gone", "slot=%u err=%d flags=%s ws_flags=%s", c->slot, err,
		          conn_flags_str(c->flags, f, sizeof(f)),
		          conn_ws_flags_str(c->ws_flags, wf, sizeof(wf)));
	}
	if ((c->flags & CF_SHUT_AFTER) || c->ops->on_gone == NULL)
		conn_close(w, c);
	else
		c->ops->on_gone(w, c, err);
}

static void conn_deliver(struct worker *w, struct conn *c, uint8_t *p, size_t n)
{
	if (c->state == CONN_CLOSING || (c->flags & CF_DISCARD))
		return;
	c->ops->on_data(w, c, p, n);
}

static void conn_on_recv(struct worker *w, struct conn *c, struct io_uring_cqe *cqe)
{
	c->inflight--;
	c->flags &= (uint16_t)~CF_RECV_ARMED;
	int res = cqe->res;
	if (res > 0) {
		WSG_BUG_ON(!(cqe->flags & IORING_CQE_F_BUFFER));
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		if (c->state != CONN_CLOSING && !(c->flags & CF_EOF)) {
			c->last_rx_ms = w->now_ms;
			uint8_t *p = worker_buf(w, bid);
			if (c->xf != NULL && !(c->flags & CF_DISCARD)) {
				int rc = c->xf->ops->input(w, c, p, (size_t)res, conn_deliver);
				if (rc < 0 && c->state != CONN_CLOSING) {
					/* Nothing more is read. The layer above decides (a failed
					 * attempt, a cut leg); without one, the transform's alert
					 * (if any) goes out and the conn closes. */
					c->flags |= CF_EOF;
					if (c->ops->on_gone != NULL)
						c->ops->on_gone(w, c, -EPROTO);
					else if (rbuf_is_empty(&c->out))
						conn_close(w, c);
					else
						conn_shut_after_flush(w, c);
				} else if (rc == CONN_XF_PEER_CLOSED && c->state != CONN_CLOSING) {
					c->flags |= CF_EOF;
					conn_gone(w, c, 0);
				} else if (c->xf != NULL && !rbuf_is_empty(&c->xf->pt)) {
					/* Plaintext may have waited for the handshake. */
					worker_flush_later(w, c);
				}
			} else {
				conn_deliver(w, c, p, (size_t)res);
			}
		}
		worker_buf_return(w, bid);
	} else if (res == -ENOBUFS || res == -ECANCELED || res == -EAGAIN || res == -EINTR) {
		/* Out of buffers (they come back this turn), or cancelled: re-armed below. */
	} else if (c->state != CONN_CLOSING && !(c->flags & CF_EOF)) {
		c->flags |= CF_EOF;
		conn_gone(w, c, res);
	}
	if (c->state != CONN_CLOSING && !(c->flags & CF_EOF))
		conn_arm_recv(w, c);
	if (c->state == CONN_CLOSING && c->inflight == 0)
		worker_flush_later(w, c);
}

static void conn_on_send(struct worker *w, struct conn *c, int res)
{
	c->inflight--;
	c->flags &= (uint16_t)~CF_SEND_BUSY;
	rbuf_unpin(&c->out, w->pool);
	if (c->state == CONN_CLOSING) {
		if (c->inflight == 0)
			worker_flush_later(w, c);
		return;
	}
	if (res < 0) {
		/* Nothing more can be sent; the peer's reading side is gone. */
		if (!(c->flags & CF_EOF)) {
			c->flags |= CF_EOF;
			conn_gone(w, c, res);
		}
		if (c->state != CONN_CLOSING)
			conn_close(w, c);
		return;
	}
	size_t before = conn_out_len(c);
	rbuf_consume(&c->out, w->pool, (size_t)res);
	worker_flush_later(w, c);
	if (before > CONN_OUT_LOW && conn_out_len(c) <= CONN_OUT_LOW && c->ops->on_drained)
		c->ops->on_drained(w, c);
}

void conn_on_cqe(struct worker *w, struct conn *c, unsigned op, struct io_uring_cqe *cqe)
{
	switch (op) {
	case WOP_RECV:
		conn_on_recv(w, c, cqe);
		break;
	case WOP_SEND:
		conn_on_send(w, c, cqe->res);
		break;
	case WOP_FDOP:
		c->inflight--;
		if (c->state == CONN_CLOSING && c->inflight == 0)
			worker_flush_later(w, c);
		break;
	case WOP_CONNECT:
		c->inflight--;
		if (c->state == CONN_CLOSING) {
			if (c->inflight == 0)
				worker_flush_later(w, c);
			break;
		}
		if (cqe->res == 0) {
			c->flags |= CF_CONNECTED;
			/* Bytes queued before the connect (the upgrade request) could not leave
			 * earlier: their relay delay counts from here, not the connect's time. */
			c->relay_at = loopstat_stamp(&w->ls);
			worker_flush_later(w, c);
			conn_arm_recv(w, c);
		}
		if (c->ops->on_connect != NULL)
			c->ops->on_connect(w, c, cqe->res);
		break;
	default:
		WSG_BUG_ON(true);
	}
}

void conn_on_timer(struct worker *w, struct conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	if (c->flags & CF_SHUT_AFTER) {
		/* Lingering: cut at the hard limit, or when the peer went quiet after our side
		 * was shut; else look again at the next of the two. */
		uint64_t idle_at = c->last_rx_ms + CONN_LINGER_IDLE_MS;
		if (w->now_ms >= c->deadline_ms ||
		    ((c->flags & CF_WR_SHUT) && w->now_ms >= idle_at)) {
			conn_close(w, c);
			return;
		}
		uint64_t next = c->deadline_ms;
		if ((c->flags & CF_WR_SHUT) && idle_at < next)
			next = idle_at;
		conn_set_timer(w, c, next);
		return;
	}
	if (c->ops->on_timer != NULL)
		c->ops->on_timer(w, c);
}
