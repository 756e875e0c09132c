/* Conn I/O mechanics: every socket, either leg, either mode.
 *
 * Receives are one multishot recv per conn into the worker's provided buffers; the bytes are
 * handed to the upper layer in place and the buffer goes back to the ring the same turn.
 * Sends come from the conn's `out` rbuf, one send in flight per conn, started at the end of
 * the loop turn so that everything queued during the turn leaves in one send.
 *
 * Closing is a state, freeing is an event (STYLE.md 4): conn_close() marks the conn CLOSING
 * and cancels what is in flight; the conn goes back to the slab (and its fd is closed) only
 * when the last in-flight CQE has come in, at the end of a loop turn, so no handler ever sees
 * a conn that vanished under it.
 *
 * Backpressure: the upper layer pauses a conn (cancels its multishot recv) when its peer's
 * send queue passes CONN_OUT_HIGH and resumes it when that queue drains under CONN_OUT_LOW.
 * With DEFER_TASKRUN the cancel is submitted before the kernel can complete more receives,
 * so the overshoot is bounded by what was already completed in the same turn. */
#include "core/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/bug.h"
#include "core/echo.h"
#include "core/gateway.h"
#include "core/handshake.h"
#include "core/log.h"
#include "core/tunnel.h"

size_t conn_tunnel_size(void)
{
	return sizeof(struct tunnel);
}

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

struct conn *conn_new(struct worker *w, int fd, enum conn_role role)
{
	struct conn *c = slab_alloc(&w->conns);
	if (c == NULL) {
		atomic_store_explicit(
		    &w->stats.slab_exhausted,
		    atomic_load_explicit(&w->stats.slab_exhausted, memory_order_relaxed) + 1,
		    memory_order_relaxed);
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
	c->last_rx_ms = w->now_ms;
	twheel_entry_init(&c->timer);
	http_parser_init(&c->p.http);
	conn_live_link(w, c);
	return c;
}

enum ws_rc conn_parse_frame_header(struct conn *c, const uint8_t *data, size_t len,
                                   struct ws_frame *f, const uint8_t **hdr, size_t *hdr_len,
                                   size_t *consumed)
{
	enum ws_rc rc;
	if (c->stash_len == 0) {
		rc = ws_parse_frame_header(&c->p.ws, data, len, f, hdr_len);
		if (rc == WS_RC_MORE) {
			/* len < WS_HEADER_MAX here: a header is never longer. */
			memcpy(c->stash, data, len);
			c->stash_len = (uint8_t)len;
			return rc;
		}
		*hdr = data;
		*consumed = *hdr_len;
		return rc;
	}
	size_t take = WS_HEADER_MAX - c->stash_len;
	if (take > len)
		take = len;
	memcpy(c->stash + c->stash_len, data, take);
	rc = ws_parse_frame_header(&c->p.ws, c->stash, c->stash_len + take, f, hdr_len);
	if (rc == WS_RC_MORE) {
		c->stash_len = (uint8_t)(c->stash_len + take);
		return rc;
	}
	*hdr = c->stash;
	*consumed = rc == WS_RC_OK ? *hdr_len - c->stash_len : 0;
	c->stash_len = 0;
	return rc;
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

void conn_accept(struct worker *w, int fd, const struct sockaddr_storage *peer, socklen_t len,
                 bool over_limit)
{
	struct gateway *gw = w->gw;
	struct conn *c = conn_new(w, fd, CONN_CLIENT);
	if (c == NULL) {
		/* No slot even in the reserve: nothing to answer with. Load, not a bug. */
		close(fd);
		atomic_fetch_sub_explicit(&gw->client_socks, 1, memory_order_relaxed);
		return;
	}
	if (len <= sizeof(c->peer))
		memcpy(&c->peer, peer, len);
	if (over_limit)
		c->flags |= CF_OVER_LIMIT;
	atomic_store_explicit(&w->stats.conns_accepted,
	                      atomic_load_explicit(&w->stats.conns_accepted, memory_order_relaxed) +
	                          1,
	                      memory_order_relaxed);
	if (log_enabled(CFG_LOG_DEBUG)) {
		char p[64];
		conn_peer_text(c, p, sizeof(p), true);
		LOG_DEBUG("conn_accept", "slot=%u peer=%s", c->slot, p);
	}
	conn_set_timer(w, c, w->now_ms + gw->cfg->handshake_timeout_ms);
	c->deadline_ms = w->now_ms + gw->cfg->handshake_timeout_ms;
	conn_arm_recv(w, c);
}

void conn_arm_recv(struct worker *w, struct conn *c)
{
	if (c->flags & (CF_RECV_ARMED | CF_EOF) || c->state == CONN_CLOSING)
		return;
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, ud_pack(c->gen, c->slot, WOP_RECV));
	c->inflight++;
	c->flags |= CF_RECV_ARMED;
}

void conn_pause(struct worker *w, struct conn *c)
{
	if (c->flags & CF_RX_PAUSED)
		return;
	c->flags |= CF_RX_PAUSED;
	if (c->flags & CF_RECV_ARMED) {
		struct io_uring_sqe *sqe = worker_sqe(w);
		io_uring_prep_cancel64(sqe, ud_pack(c->gen, c->slot, WOP_RECV), 0);
		io_uring_sqe_set_data64(sqe, 0);
	}
}

void conn_resume(struct worker *w, struct conn *c)
{
	if (!(c->flags & CF_RX_PAUSED))
		return;
	c->flags &= (uint16_t)~CF_RX_PAUSED;
	/* If the cancelled recv's last CQE is still on its way, re-arm when it arrives. */
	conn_arm_recv(w, c);
}

int conn_queue(struct worker *w, struct conn *c, const void *p, size_t n)
{
	if (c->state == CONN_CLOSING)
		return 0;
	if (rbuf_append(&c->out, w->pool, p, n) != 0)
		return -1;
	worker_flush_later(w, c);
	return 0;
}

void conn_set_timer(struct worker *w, struct conn *c, uint64_t deadline_ms)
{
	twheel_add(&w->wheel, &c->timer, deadline_ms);
}

void conn_shut_after_flush(struct worker *w, struct conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	if (!(c->flags & CF_SHUT_AFTER)) {
		c->flags |= CF_SHUT_AFTER;
		c->deadline_ms = w->now_ms + CONN_LINGER_MS;
		conn_set_timer(w, c, c->deadline_ms);
	}
	/* Nothing more is read from a conn that is going away after its last bytes. */
	conn_pause(w, c);
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
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_close(sqe, c->fd);
	io_uring_sqe_set_data64(sqe, 0);
	rbuf_release(&c->out, w->pool);
	rbuf_release(&c->in, w->pool);
	twheel_del(&w->wheel, &c->timer);
	if (c->t != NULL)
		tunnel_conn_freed(w, c);
	if (c->role == CONN_CLIENT)
		atomic_fetch_sub_explicit(&w->gw->client_socks, 1, memory_order_relaxed);
	LOG_DEBUG("conn_free", "slot=%u role=%s", c->slot,
	          c->role == CONN_CLIENT ? "client" : "backend");
	conn_live_unlink(w, c);
	c->fd = -1;
	slab_free(&w->conns, c);
}

static void conn_start_send(struct worker *w, struct conn *c)
{
	size_t n;
	uint8_t *p = rbuf_contig_data(&c->out, &n);
	if (n == 0)
		return;
	struct io_uring_sqe *sqe = worker_sqe(w);
	io_uring_prep_send(sqe, c->fd, p, n, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_pack(c->gen, c->slot, WOP_SEND));
	c->inflight++;
	c->flags |= CF_SEND_BUSY;
}

/* Everything queued is sent: shut our side and read (discarding) until the peer closes or
 * the linger deadline passes. Closing with unread bytes in the socket would make the kernel
 * answer with RST, which can destroy our last bytes (an error answer, a close frame) before
 * the peer reads them; this is nginx's lingering close. */
static void conn_linger(struct worker *w, struct conn *c)
{
	if ((c->flags & CF_EOF) || c->role == CONN_BACKEND) {
		/* The peer is gone, or it is a backend (it closes first, RFC 6455 7.1.1). */
		conn_close(w, c);
		return;
	}
	c->flags |= CF_WR_SHUT;
	/* A plain shutdown(2), not IORING_OP_SHUTDOWN: io_uring always punts shutdown to an
	 * io-wq thread, and thousands of closes at once (a client going away with all its
	 * connections) would spawn a crowd of them; the syscall itself never blocks on TCP. */
	shutdown(c->fd, SHUT_WR);
	uint64_t deadline = w->now_ms + CONN_LINGER_CLOSE_MS;
	if (deadline < c->deadline_ms)
		c->deadline_ms = deadline;
	conn_set_timer(w, c, c->deadline_ms);
	c->flags &= (uint16_t)~CF_RX_PAUSED;
	conn_arm_recv(w, c);
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
		if (c->flags & CF_SEND_BUSY)
			continue;
		if (!rbuf_is_empty(&c->out)) {
			if (c->flags & CF_CONNECTED || c->role == CONN_CLIENT)
				conn_start_send(w, c);
		} else if ((c->flags & CF_SHUT_AFTER) && !(c->flags & CF_WR_SHUT)) {
			conn_linger(w, c);
		}
	}
}

static void conn_dispatch_data(struct worker *w, struct conn *c, uint8_t *data, size_t len)
{
	if (c->flags & CF_SHUT_AFTER) {
		/* Going away: what the peer still sends is read only to be discarded. */
		return;
	}
	if (c->role == CONN_CLIENT && c->state == CONN_HANDSHAKE) {
		handshake_on_data(w, c, data, len);
	} else if (c->role == CONN_CLIENT && c->state == CONN_WAIT_BACKEND) {
		/* Frames sent before our 101 (a client that does not wait): keep them with the
		 * head; the conn is paused, so this is bounded by what was already read. */
		if (rbuf_append(&c->in, w->pool, data, len) != 0)
			conn_close(w, c);
	} else if (c->t != NULL) {
		tunnel_on_data(w, c, data, len);
	} else if (c->state == CONN_OPEN) {
		echo_on_data(w, c, data, len);
	}
}

static void conn_dispatch_gone(struct worker *w, struct conn *c, int err)
{
	LOG_DEBUG("conn_gone", "slot=%u err=%d", c->slot, err);
	if (c->flags & CF_SHUT_AFTER)
		conn_close(w, c);
	else if (c->t != NULL)
		tunnel_on_gone(w, c, err);
	else if (c->state == CONN_OPEN)
		echo_on_gone(w, c, err);
	else
		conn_close(w, c);
}

static void conn_on_recv(struct worker *w, struct conn *c, struct io_uring_cqe *cqe)
{
	bool more = cqe->flags & IORING_CQE_F_MORE;
	if (!more) {
		c->inflight--;
		c->flags &= (uint16_t)~CF_RECV_ARMED;
	}
	int res = cqe->res;
	if (res > 0) {
		WSG_BUG_ON(!(cqe->flags & IORING_CQE_F_BUFFER));
		unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		if (c->state != CONN_CLOSING && !(c->flags & CF_EOF)) {
			c->last_rx_ms = w->now_ms;
			conn_dispatch_data(w, c, worker_buf(w, bid), (size_t)res);
		}
		worker_buf_return(w, bid);
	} else if (res == -ENOBUFS || res == -ECANCELED) {
		/* Out of buffers (they come back this turn) or paused: re-armed below. */
	} else if (c->state != CONN_CLOSING && !(c->flags & CF_EOF)) {
		c->flags |= CF_EOF;
		conn_dispatch_gone(w, c, res);
	}
	if (!more && c->state != CONN_CLOSING && !(c->flags & (CF_RX_PAUSED | CF_EOF)))
		conn_arm_recv(w, c);
	if (c->state == CONN_CLOSING && c->inflight == 0)
		worker_flush_later(w, c);
}

static void conn_on_send(struct worker *w, struct conn *c, int res)
{
	c->inflight--;
	c->flags &= (uint16_t)~CF_SEND_BUSY;
	if (c->state == CONN_CLOSING) {
		if (c->inflight == 0)
			worker_flush_later(w, c);
		return;
	}
	if (res < 0) {
		if (!(c->flags & CF_EOF)) {
			c->flags |= CF_EOF;
			conn_dispatch_gone(w, c, res);
		}
		if (c->state != CONN_CLOSING)
			conn_close(w, c);
		return;
	}
	uint32_t before = rbuf_len(&c->out);
	rbuf_consume(&c->out, w->pool, (size_t)res);
	if (!rbuf_is_empty(&c->out) || (c->flags & CF_SHUT_AFTER))
		worker_flush_later(w, c);
	if (before > CONN_OUT_LOW && rbuf_len(&c->out) <= CONN_OUT_LOW) {
		if (c->t != NULL)
			tunnel_on_drained(w, c);
		else
			conn_resume(w, c);
	}
}

void conn_on_cqe(struct worker *w, struct conn *c, enum worker_op op, struct io_uring_cqe *cqe)
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
		tunnel_on_connect(w, c, cqe->res);
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
		if (w->now_ms >= c->deadline_ms)
			conn_close(w, c);
		else
			conn_set_timer(w, c, c->deadline_ms);
		return;
	}
	if (c->role == CONN_CLIENT && c->state == CONN_HANDSHAKE) {
		/* SPEC.md: on expiry the socket is closed without an answer. */
		LOG_DEBUG("handshake_timeout", "slot=%u", c->slot);
		conn_close(w, c);
		return;
	}
	if (c->t != NULL)
		tunnel_on_timer(w, c);
}

void conn_drain_all(struct worker *w)
{
	for (struct conn *c = w->live_head, *next; c != NULL; c = next) {
		next = c->live_next;
		if (c->role != CONN_CLIENT || c->state == CONN_CLOSING)
			continue;
		if (c->t != NULL) {
			tunnel_drain(w, c->t);
		} else if (c->state == CONN_OPEN) {
			uint8_t frame[4];
			size_t n = ws_encode_close(frame, sizeof(frame), 1001, NULL, 0, NULL);
			if (!(c->flags & CF_CLOSE_SENT) && conn_queue(w, c, frame, n) == 0)
				c->flags |= CF_CLOSE_SENT;
			c->deadline_ms = w->now_ms + w->gw->cfg->drain_timeout_ms;
			conn_set_timer(w, c, c->deadline_ms);
		}
		/* Handshakes still reading their head get 503 when it completes (handshake.c). */
	}
}

void conn_stop_all(struct worker *w)
{
	unsigned n = 0;
	for (struct conn *c = w->live_head; c != NULL; c = c->live_next) {
		if (c->state != CONN_CLOSING) {
			conn_close(w, c);
			if (c->role == CONN_CLIENT)
				n++;
		}
	}
	if (n > 0) {
		atomic_store_explicit(&w->stats.closed_on_drain_timeout, n, memory_order_relaxed);
	}
}
