/* Tunnels: dialling, the backend upgrade, the relay and the close handshake.
 *
 * Dialling: backends are tried from the balancer's pick onward, each at most once; a refused
 * connect, a failed upgrade or --connect-timeout moves to the next; the client gets 504 when
 * every attempt timed out, 502 otherwise, or the backend's own non-101 status relayed.
 *
 * Relay: every frame is parsed in both directions with proto/ws (the parser enforces RFC 6455;
 * this file only turns its verdicts into closes). Data frames are forwarded as they arrive,
 * header bytes verbatim (a client's mask stays on its way to the backend), payload chunk by
 * chunk, with no reassembly: the only copy is into the receiving conn's send queue. A data
 * frame's header is held back until its first payload chunk passed the checks, so a frame
 * rejected at its first byte leaves the other leg's stream on a frame boundary and that leg
 * still gets a clean close frame. Control frames (<= 125 bytes) are collected by the parser
 * and re-encoded whole, so the gateway can answer its own keepalive pongs and run the close
 * handshake; a frame the gateway generates is only inserted between frames.
 *
 * Closing: a close from either side is passed on and each leg's socket is shut once it has
 * both sent and received a close (or after CONN_LINGER_MS). A rule broken by one side closes
 * that side with the parser's code and the other with 1011 (1008 for policy closes). A
 * backend that vanishes closes the client with 1011 (1001 when draining); a client that
 * vanishes closes the backend with 1001. */
#include "core/tunnel.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/bug.h"
#include "core/conn.h"
#include "core/gateway.h"
#include "core/handshake.h"
#include "core/log.h"
#include "router/rt.h"

/* Payload of the gateway's keepalive pings; a client pong carrying it is ours to swallow. */
static const uint8_t tunnel_ka_token[] = {'w', 's', 'g', 'a', 't', 'e', '-', 'k', 'a'};

static void stat_add(_Atomic uint64_t *v, uint64_t n)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

static struct conn *tunnel_peer(const struct tunnel *t, const struct conn *c)
{
	return c == t->client ? t->backend : t->client;
}

/* True when c's outbound stream is inside a data frame its peer is still forwarding, so
 * nothing the gateway generates may be inserted now. */
static bool tunnel_out_mid_frame(const struct tunnel *t, const struct conn *c)
{
	const struct conn *src = tunnel_peer(t, c);
	if (src == NULL || src->state != CONN_OPEN)
		return false;
	return ws_parser_in_frame(&src->p.ws) && !(src->flags & (CF_CTL | CF_HDR_PENDING));
}

static void tunnel_mask(struct worker *w, uint8_t mask[4])
{
	uint64_t r = worker_random(w);
	memcpy(mask, &r, 4);
}

/* Queues a whole control frame to c (masked when c is the backend leg). */
static int tunnel_send_control(struct worker *w, struct conn *c, enum ws_op op,
                               const uint8_t *payload, size_t n)
{
	uint8_t frame[WS_HEADER_MAX + WS_CONTROL_MAX];
	uint8_t mask[4];
	const uint8_t *m = NULL;
	if (c->role == CONN_BACKEND) {
		tunnel_mask(w, mask);
		m = mask;
	}
	size_t h = ws_encode_header(frame, op, true, n, m);
	memcpy(frame + h, payload, n);
	if (m != NULL)
		ws_mask(frame + h, n, m, 0);
	return conn_queue(w, c, frame, h + n);
}

/* Sends a close with code (0: empty payload) to c once, unless its stream is mid-frame, in
 * which case the socket is cut after what is queued (a close frame cannot be placed there). */
static void tunnel_send_close(struct worker *w, struct tunnel *t, struct conn *c, uint16_t code,
                              const uint8_t *reason, size_t reason_len)
{
	if (c == NULL || c->state == CONN_CLOSING || (c->flags & CF_CLOSE_SENT))
		return;
	if (c->flags & CF_EOF) {
		conn_close(w, c);
		return;
	}
	c->flags |= CF_CLOSE_SENT;
	if (tunnel_out_mid_frame(t, c)) {
		conn_shut_after_flush(w, c);
		return;
	}
	uint8_t frame[WS_HEADER_MAX + WS_CONTROL_MAX];
	uint8_t mask[4];
	const uint8_t *m = NULL;
	if (c->role == CONN_BACKEND) {
		tunnel_mask(w, mask);
		m = mask;
	}
	if (reason_len > WS_CONTROL_MAX - 2)
		reason_len = WS_CONTROL_MAX - 2;
	size_t n = ws_encode_close(frame, sizeof(frame), code, (const char *)reason, reason_len, m);
	if (n == 0 || conn_queue(w, c, frame, n) != 0) {
		conn_close(w, c);
		return;
	}
	c->deadline_ms = w->now_ms + CONN_LINGER_MS;
	conn_set_timer(w, c, c->deadline_ms);
	if (c->flags & CF_CLOSE_RCVD)
		conn_shut_after_flush(w, c);
}

/* Both legs are cut with `code` (idle, keepalive, drain): each waits for its close reply. */
static void tunnel_close_both(struct worker *w, struct tunnel *t, uint16_t code)
{
	tunnel_send_close(w, t, t->client, code, NULL, 0);
	tunnel_send_close(w, t, t->backend, code, NULL, 0);
}

/* src broke RFC 6455 (or a policy): it gets the parser's code and is cut right after it
 * (RFC 6455 7.1.7); the other leg gets 1011, or 1008 for policy closes. */
static void tunnel_fail(struct worker *w, struct tunnel *t, struct conn *src, uint16_t code,
                        const char *why)
{
	struct conn *dst = tunnel_peer(t, src);
	LOG_DEBUG("ws_fail", "tunnel=%llu side=%s code=%u why=\"%s\"", (unsigned long long)t->id,
	          src->role == CONN_CLIENT ? "client" : "backend", code, why);
	tunnel_send_close(w, t, src, code, (const uint8_t *)why, strlen(why));
	conn_shut_after_flush(w, src);
	/* 1009 is the breaker's own code; only a policy close (1008) is passed on as such. */
	uint16_t other = code == 1008 ? 1008 : 1011;
	tunnel_send_close(w, t, dst, other, NULL, 0);
}

/* --- dialling ----------------------------------------------------------------------- */

static void tunnel_dial_next(struct worker *w, struct tunnel *t);

static void tunnel_give_up(struct worker *w, struct tunnel *t)
{
	enum http_reject r = (t->flags & TF_ANY_TIMEOUT) && t->timeouts == t->tries
	                         ? HTTP_REJ_GATEWAY_TIMEOUT
	                         : HTTP_REJ_BAD_GATEWAY;
	LOG_DEBUG("backend_give_up", "tunnel=%llu tries=%u status=%u", (unsigned long long)t->id,
	          t->tries, http_reject_status(r));
	handshake_reject(w, t->client, r);
}

/* The current backend attempt failed: drop its conn and try the next one. */
static void tunnel_backend_failed(struct worker *w, struct tunnel *t, bool timed_out,
                                  const char *why)
{
	struct conn *b = t->backend;
	if (timed_out) {
		t->flags |= TF_ANY_TIMEOUT;
		t->timeouts++;
	}
	if (b != NULL) {
		LOG_DEBUG("backend_fail", "tunnel=%llu backend=%s why=%s",
		          (unsigned long long)t->id, t->route->backends[t->current].url, why);
		t->backend = NULL;
		b->t = NULL;
		conn_close(w, b);
	}
	if (t->client == NULL || t->client->state == CONN_CLOSING)
		return;
	tunnel_dial_next(w, t);
}

/* Writes our upgrade request for backend b into bc's send queue, from the client's head. */
static int tunnel_write_request(struct worker *w, struct tunnel *t, struct conn *bc,
                                const struct rt_backend *b)
{
	struct conn *c = t->client;
	size_t n;
	const char *head = (const char *)rbuf_contig_data(&c->in, &n);
	struct http_parser hp;
	struct http_request req;
	size_t used;
	http_parser_init(&hp);
	if (http_parse_request(&hp, head, n, &w->gw->limits, &req, &used) != HTTP_RC_OK)
		return -1;

	/* A client path may be most of a 16 KiB head; the backend's gets the URL's path on top. */
	char path[WSG_HEAD_MAX_DEFAULT + 1024];
	int plen = rt_backend_path(t->route, b, req.path.p, req.path.n, path, sizeof(path));
	if (plen < 0)
		return -1;
	uint8_t nonce[16];
	uint64_t r1 = worker_random(w), r2 = worker_random(w);
	memcpy(nonce, &r1, 8);
	memcpy(nonce + 8, &r2, 8);
	wskey_encode(nonce, t->key);

	char peer[INET6_ADDRSTRLEN + 2];
	conn_peer_text(c, peer, sizeof(peer), false);
	struct http_upgrade_out u;
	memset(&u, 0, sizeof(u));
	u.path_prefix = (struct http_str){"", 0};
	u.path = (struct http_str){path, (size_t)plen};
	u.query = req.query;
	u.req = &req;
	u.key = (struct http_str){t->key, WSKEY_KEY_LEN};
	char offered[1024];
	int offered_len =
	    http_join_header(&req, "sec-websocket-protocol", offered, sizeof(offered));
	if (offered_len < 0)
		return -1;
	u.protocol = (struct http_str){offered, (size_t)offered_len};
	u.trust_forwarded = w->gw->cfg->trust_forwarded;
	u.forwarded_for = (struct http_str){peer, strlen(peer)};
	u.forwarded_proto = (struct http_str){"http", 4};
	char rid[17];
	int rid_len = snprintf(rid, sizeof(rid), "%llx", (unsigned long long)t->id);
	u.request_id = (struct http_str){rid, rid_len > 0 ? (size_t)rid_len : 0};

	/* Sized so that any head the parser accepts, plus what we add, fits (http1.h). */
	char out[HTTP_UPGRADE_OUT_MAX];
	int len = http_write_upgrade_request(out, sizeof(out), &u);
	if (len < 0)
		return -1;
	return conn_queue(w, bc, out, (size_t)len);
}

static void tunnel_dial_next(struct worker *w, struct tunnel *t)
{
	const struct rt_route *route = t->route;
	while (t->tries < route->n_backends) {
		unsigned idx = (t->first + t->tries) % route->n_backends;
		t->tries++;
		t->current = (uint16_t)idx;
		const struct rt_backend *b = &route->backends[idx];
		int fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			/* Out of fds: count it as a failed attempt, say why at most once a second.
			 */
			static _Thread_local uint64_t last_warn_ms;
			if (w->now_ms - last_warn_ms >= 1000) {
				last_warn_ms = w->now_ms;
				LOG_WARN("backend_socket", "err=%d why=\"%s\"", errno,
				         strerror(errno));
			}
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *bc = conn_new(w, fd, CONN_BACKEND);
		if (bc == NULL) {
			close(fd);
			handshake_reject(w, t->client, HTTP_REJ_OVERLOADED);
			return;
		}
		bc->t = t;
		t->backend = bc;
		if (b->addr_len <= sizeof(bc->peer))
			memcpy(&bc->peer, &b->addr, b->addr_len);
		if (tunnel_write_request(w, t, bc, b) != 0) {
			t->backend = NULL;
			bc->t = NULL;
			conn_close(w, bc);
			handshake_reject(w, t->client, HTTP_REJ_BAD_GATEWAY);
			return;
		}
		struct io_uring_sqe *sqe = worker_sqe(w);
		io_uring_prep_connect(sqe, fd, &bc->peer.sa, b->addr_len);
		io_uring_sqe_set_data64(sqe, ud_pack(bc->gen, bc->slot, WOP_CONNECT));
		bc->inflight++;
		bc->deadline_ms = w->now_ms + w->gw->cfg->connect_timeout_ms;
		conn_set_timer(w, bc, bc->deadline_ms);
		return;
	}
	tunnel_give_up(w, t);
}

void tunnel_start(struct worker *w, struct conn *client, const struct rt_table *table,
                  const struct rt_route *route)
{
	struct tunnel *t = slab_alloc(&w->tunnels);
	if (t == NULL) {
		stat_add(&w->stats.slab_exhausted, 1);
		handshake_reject(w, client, HTTP_REJ_OVERLOADED);
		return;
	}
	memset(t, 0, sizeof(*t));
	t->id = atomic_fetch_add_explicit(&w->gw->tunnel_ids, 1, memory_order_relaxed) + 1;
	t->client = client;
	t->table = table;
	t->route = route;
	rt_table_hold(table);
	t->created_ms = w->now_ms;
	t->first = (uint16_t)rt_pick(route, w->seq++, 0, NULL);
	client->t = t;
	client->state = CONN_WAIT_BACKEND;
	/* Nothing more is read from the client until its upgrade is done. */
	conn_pause(w, client);
	tunnel_dial_next(w, t);
}

void tunnel_on_connect(struct worker *w, struct conn *b, int res)
{
	struct tunnel *t = b->t;
	if (t == NULL)
		return;
	if (res < 0) {
		tunnel_backend_failed(w, t, res == -ETIMEDOUT, "connect");
		return;
	}
	b->flags |= CF_CONNECTED;
	worker_flush_later(w, b);
	conn_arm_recv(w, b);
}

static void tunnel_relay(struct worker *w, struct tunnel *t, struct conn *src, uint8_t *data,
                         size_t len);

/* The backend answered 101 and it checks out: answer the client and open the tunnel. */
static void tunnel_open(struct worker *w, struct tunnel *t, const struct http_response *resp,
                        size_t resp_len)
{
	struct conn *c = t->client, *b = t->backend;
	struct gateway *gw = w->gw;
	size_t n;
	const char *head = (const char *)rbuf_contig_data(&c->in, &n);
	struct http_parser hp;
	struct http_request req;
	size_t used;
	http_parser_init(&hp);
	char accept[WSKEY_ACCEPT_LEN + 1];
	char out[1024];
	int len = -1;
	if (http_parse_request(&hp, head, n, &gw->limits, &req, &used) == HTTP_RC_OK &&
	    wskey_accept(req.ws_key.p, req.ws_key.n, accept) == 0)
		len = http_write_101(out, sizeof(out), accept, resp->ws_protocol);
	if (len < 0 || conn_queue(w, c, out, (size_t)len) != 0) {
		handshake_reject(w, c, HTTP_REJ_BAD_GATEWAY);
		return;
	}
	t->flags |= TF_OPEN;
	t->last_data_ms = w->now_ms;
	stat_add(&w->stats.tunnels_opened, 1);
	stat_add(&w->stats.tunnels_active, 1);

	struct wsg_limits lim = gw->limits;
	if (t->route->max_message)
		lim.message_max = t->route->max_message;
	c->state = CONN_OPEN;
	b->state = CONN_OPEN;
	ws_parser_init(&c->p.ws, WS_ROLE_SERVER, 0, &lim);
	ws_parser_init(&b->p.ws, WS_ROLE_CLIENT, 0, &lim);
	twheel_del(&w->wheel, &b->timer);
	c->last_rx_ms = w->now_ms;
	if (gw->cfg->idle_timeout_ms || gw->cfg->ping_interval_ms)
		tunnel_on_timer(w, c);
	if (log_enabled(CFG_LOG_DEBUG)) {
		char p[64];
		conn_peer_text(c, p, sizeof(p), true);
		LOG_DEBUG("tunnel_open", "tunnel=%llu peer=%s route=%s backend=%s",
		          (unsigned long long)t->id, p, t->route->path,
		          t->route->backends[t->current].url);
	}

	/* Frames that came along with either head are relayed now, then the heads go. */
	if (b->in._data != NULL && resp_len < rbuf_len(&b->in)) {
		uint8_t *p = (uint8_t *)rbuf_contig_data(&b->in, &n);
		tunnel_relay(w, t, b, p + resp_len, n - resp_len);
	}
	rbuf_release(&b->in, w->pool);
	if (c->state == CONN_OPEN && used < rbuf_len(&c->in)) {
		uint8_t *p = (uint8_t *)rbuf_contig_data(&c->in, &n);
		tunnel_relay(w, t, c, p + used, n - used);
	}
	rbuf_release(&c->in, w->pool);
	if (c->state == CONN_OPEN && !(c->flags & CF_SHUT_AFTER))
		conn_resume(w, c);
}

static void tunnel_on_backend_head(struct worker *w, struct tunnel *t, struct conn *b,
                                   const uint8_t *data, size_t len)
{
	if (rbuf_append(&b->in, w->pool, data, len) != 0) {
		tunnel_backend_failed(w, t, false, "memory");
		return;
	}
	size_t n;
	const char *head = (const char *)rbuf_contig_data(&b->in, &n);
	struct http_response resp;
	size_t used;
	switch (http_parse_response(&b->p.http, head, n, &w->gw->limits, &resp, &used)) {
	case HTTP_RC_MORE:
		return;
	case HTTP_RC_FAIL:
		tunnel_backend_failed(w, t, false, "bad response");
		return;
	case HTTP_RC_OK:
		break;
	}
	if (resp.status != 101) {
		/* SPEC.md: a backend's non-101 answer is relayed as it is. */
		handshake_reject_status(w, t->client, resp.status, resp.reason);
		t->backend = NULL;
		b->t = NULL;
		conn_close(w, b);
		return;
	}
	size_t cn;
	const char *chead = (const char *)rbuf_contig_data(&t->client->in, &cn);
	struct http_parser hp;
	struct http_request req;
	size_t cused;
	http_parser_init(&hp);
	char offered[1024];
	int offered_len = -1;
	if (http_parse_request(&hp, chead, cn, &w->gw->limits, &req, &cused) == HTTP_RC_OK)
		offered_len =
		    http_join_header(&req, "sec-websocket-protocol", offered, sizeof(offered));
	if (offered_len < 0 ||
	    !http_response_is_upgrade(&resp, (struct http_str){t->key, WSKEY_KEY_LEN},
	                              (struct http_str){offered, (size_t)offered_len})) {
		tunnel_backend_failed(w, t, false, "bad upgrade");
		return;
	}
	tunnel_open(w, t, &resp, used);
}

/* --- relay -------------------------------------------------------------------------- */

static void tunnel_on_control(struct worker *w, struct tunnel *t, struct conn *src)
{
	struct conn *dst = tunnel_peer(t, src);
	size_t n;
	const uint8_t *payload = ws_parser_control_payload(&src->p.ws, &n);

	switch (src->ctl_op) {
	case WS_OP_PING:
		if (dst != NULL && !(dst->flags & CF_CLOSE_SENT) &&
		    tunnel_send_control(w, dst, WS_OP_PING, payload, n) != 0)
			tunnel_fail(w, t, src, 1011, "out of memory");
		break;
	case WS_OP_PONG:
		if (src == t->client && (src->flags & CF_PING_OUT) &&
		    n == sizeof(tunnel_ka_token) && memcmp(payload, tunnel_ka_token, n) == 0) {
			src->flags &= (uint16_t)~CF_PING_OUT;
			break;
		}
		if (dst != NULL && !(dst->flags & CF_CLOSE_SENT) &&
		    tunnel_send_control(w, dst, WS_OP_PONG, payload, n) != 0)
			tunnel_fail(w, t, src, 1011, "out of memory");
		break;
	case WS_OP_CLOSE: {
		src->flags |= CF_CLOSE_RCVD;
		uint16_t code;
		const uint8_t *reason;
		size_t reason_len;
		ws_close_payload_split(payload, n, &code, &reason, &reason_len);
		/* Pass the close on: a reply to a close the other side started completes its
		 * handshake, a first close starts one there. */
		if (dst != NULL)
			tunnel_send_close(w, t, dst, code == 1005 ? 0 : code, reason, reason_len);
		if (src->flags & CF_CLOSE_SENT) {
			conn_shut_after_flush(w, src);
		} else {
			/* Wait (bounded) for the other side's answer to pass back. */
			src->deadline_ms = w->now_ms + CONN_LINGER_MS;
			conn_set_timer(w, src, src->deadline_ms);
			if (dst == NULL)
				tunnel_send_close(w, t, src, code == 1005 ? 0 : code, reason,
				                  reason_len);
		}
		break;
	}
	default:
		WSG_BUG_ON(true);
	}
}

/* Bytes of the current receive that go to the other leg unchanged, kept as one span so that
 * a run of frames that arrived together is queued with one copy. `frame_at` is where the
 * frame whose header is in the span but whose payload has not passed yet begins (SIZE_MAX:
 * none), so a frame rejected at its first payload byte is cut off before anything of it is
 * queued. */
struct relay_span {
	const uint8_t *p;
	size_t n;
	size_t frame_at;
};

static int relay_span_flush(struct worker *w, struct relay_span *s, struct conn *dst)
{
	int rc = 0;
	if (s->n > 0 && dst != NULL && !(dst->flags & CF_CLOSE_SENT))
		rc = conn_queue(w, dst, s->p, s->n);
	s->n = 0;
	s->frame_at = SIZE_MAX;
	return rc;
}

/* Extends the span by [p, p + n), which callers place right after it; anything else is a
 * bug, caught here rather than forwarded out of order. */
static void relay_span_add(struct relay_span *s, const uint8_t *p, size_t n)
{
	if (s->n == 0)
		s->p = p;
	WSG_BUG_ON(s->p + s->n != p);
	s->n += n;
}

static void tunnel_relay(struct worker *w, struct tunnel *t, struct conn *src, uint8_t *data,
                         size_t len)
{
	bool from_client = src == t->client;
	struct conn *dst = tunnel_peer(t, src);
	bool forward = dst != NULL && !(dst->flags & CF_CLOSE_SENT);
	struct relay_span span = {.p = data, .n = 0, .frame_at = SIZE_MAX};

	while (len > 0 && src->state == CONN_OPEN && !(src->flags & CF_CLOSE_RCVD)) {
		if (!ws_parser_in_frame(&src->p.ws)) {
			struct ws_frame f;
			const uint8_t *hdr;
			size_t used, from_data;
			enum ws_rc rc =
			    conn_parse_frame_header(src, data, len, &f, &hdr, &used, &from_data);
			if (rc == WS_RC_MORE)
				break;
			if (rc == WS_RC_FAIL) {
				if (relay_span_flush(w, &span, dst) != 0)
					goto out_of_memory;
				tunnel_fail(w, t, src, ws_parser_close_code(&src->p.ws),
				            ws_parser_fail_reason(&src->p.ws));
				return;
			}
			if (f.opcode & 0x8) {
				src->flags |= CF_CTL;
				src->ctl_op = f.opcode;
			} else {
				src->flags &= (uint16_t)~CF_CTL;
				t->last_data_ms = w->now_ms;
				if (f.opcode != WS_OP_CONT) {
					if (from_client)
						t->msgs_in++;
					else
						t->msgs_out++;
				}
				if (forward && hdr == data) {
					/* Header in this receive: it joins the span, provisionally
					 * until its payload passes. */
					if (f.payload_len > 0)
						span.frame_at = span.n;
					relay_span_add(&span, hdr, used);
				} else if (forward) {
					/* Header split across receives, assembled in the stash:
					 * held back there until its first payload bytes pass. */
					if (relay_span_flush(w, &span, dst) != 0)
						goto out_of_memory;
					if (f.payload_len == 0) {
						if (conn_queue(w, dst, hdr, used) != 0)
							goto out_of_memory;
					} else {
						src->stash_len = (uint8_t)used;
						src->flags |= CF_HDR_PENDING;
					}
				}
			}
			data += from_data;
			len -= from_data;
			if (!ws_parser_in_frame(&src->p.ws) && (src->flags & CF_CTL)) {
				if (relay_span_flush(w, &span, dst) != 0)
					goto out_of_memory;
				tunnel_on_control(w, t, src);
				forward = dst != NULL && !(dst->flags & CF_CLOSE_SENT);
				span.p = data;
			}
			continue;
		}

		size_t used;
		if (ws_parse_payload(&src->p.ws, data, len, WS_PAYLOAD_KEEP_MASK, &used) !=
		    WS_RC_OK) {
			/* Nothing of a frame rejected at its first payload bytes is passed on. */
			if (span.frame_at != SIZE_MAX)
				span.n = span.frame_at;
			src->flags &= (uint16_t)~CF_HDR_PENDING;
			src->stash_len = 0;
			if (relay_span_flush(w, &span, dst) != 0)
				goto out_of_memory;
			tunnel_fail(w, t, src, ws_parser_close_code(&src->p.ws),
			            ws_parser_fail_reason(&src->p.ws));
			return;
		}
		if (!(src->flags & CF_CTL)) {
			if (from_client)
				t->bytes_in += used;
			else
				t->bytes_out += used;
			if (forward) {
				if (src->flags & CF_HDR_PENDING) {
					if (conn_queue(w, dst, src->stash, src->stash_len) != 0)
						goto out_of_memory;
					span.p = data;
				}
				relay_span_add(&span, data, used);
				span.frame_at = SIZE_MAX;
			}
			src->flags &= (uint16_t)~CF_HDR_PENDING;
			src->stash_len = 0;
		} else if (span.n > 0) {
			/* Control payload is not forwarded as is: the span ends here. */
			if (relay_span_flush(w, &span, dst) != 0)
				goto out_of_memory;
		}
		data += used;
		len -= used;
		if (!(src->flags & CF_CTL) && span.n == 0)
			span.p = data;
		if (!ws_parser_in_frame(&src->p.ws) && (src->flags & CF_CTL)) {
			if (relay_span_flush(w, &span, dst) != 0)
				goto out_of_memory;
			tunnel_on_control(w, t, src);
			forward = dst != NULL && !(dst->flags & CF_CLOSE_SENT);
			span.p = data;
		}
	}
	/* A header still waiting for its payload stays out of the queue (and in the buffer it
	 * came in, which is handed back now): keep its bytes in the stash instead. */
	if (span.frame_at != SIZE_MAX) {
		size_t held = span.n - span.frame_at;
		memcpy(src->stash, span.p + span.frame_at, held);
		src->stash_len = (uint8_t)held;
		src->flags |= CF_HDR_PENDING;
		span.n = span.frame_at;
	}
	if (relay_span_flush(w, &span, dst) != 0)
		goto out_of_memory;
	if (dst != NULL && rbuf_len(&dst->out) > CONN_OUT_HIGH)
		conn_pause(w, src);
	return;

out_of_memory:
	LOG_WARN("relay_no_memory", "tunnel=%llu", (unsigned long long)t->id);
	conn_close(w, t->client);
	if (t->backend != NULL)
		conn_close(w, t->backend);
}

void tunnel_on_data(struct worker *w, struct conn *c, uint8_t *data, size_t len)
{
	struct tunnel *t = c->t;
	if (c->role == CONN_BACKEND && c->state == CONN_HANDSHAKE) {
		tunnel_on_backend_head(w, t, c, data, len);
		return;
	}
	if (c->state == CONN_OPEN)
		tunnel_relay(w, t, c, data, len);
}

void tunnel_on_drained(struct worker *w, struct conn *c)
{
	struct tunnel *t = c->t;
	struct conn *src = tunnel_peer(t, c);
	if (src != NULL && src->state == CONN_OPEN && !(src->flags & CF_SHUT_AFTER))
		conn_resume(w, src);
}

void tunnel_on_gone(struct worker *w, struct conn *c, int err)
{
	struct tunnel *t = c->t;
	if (!(t->flags & TF_OPEN)) {
		if (c->role == CONN_BACKEND) {
			tunnel_backend_failed(w, t, false, err == 0 ? "eof" : "reset");
		} else {
			/* The client left before its upgrade finished. */
			conn_close(w, c);
			if (t->backend != NULL)
				conn_close(w, t->backend);
		}
		return;
	}
	struct conn *peer = tunnel_peer(t, c);
	conn_close(w, c);
	if (peer == NULL)
		return;
	if (c->flags & CF_CLOSE_RCVD) {
		/* It said goodbye properly first; its close was passed on already. */
		if (peer->flags & CF_CLOSE_RCVD)
			conn_shut_after_flush(w, peer);
		return;
	}
	uint16_t code;
	if (c == t->backend)
		code = (t->flags & TF_DRAINING) ? 1001 : 1011;
	else
		code = 1001;
	tunnel_send_close(w, t, peer, code, NULL, 0);
}

void tunnel_on_timer(struct worker *w, struct conn *c)
{
	struct tunnel *t = c->t;
	const struct wsg_config *cfg = w->gw->cfg;
	uint64_t now = w->now_ms;

	if (!(t->flags & TF_OPEN)) {
		if (c->role == CONN_BACKEND) {
			if (now >= c->deadline_ms)
				tunnel_backend_failed(w, t, true, "timeout");
			else
				conn_set_timer(w, c, c->deadline_ms);
		}
		return;
	}
	if (c->flags & (CF_CLOSE_SENT | CF_CLOSE_RCVD)) {
		/* The close handshake is taking too long: cut this leg. */
		if (now >= c->deadline_ms)
			conn_close(w, c);
		else
			conn_set_timer(w, c, c->deadline_ms);
		return;
	}
	if (c != t->client)
		return;

	uint64_t next = UINT64_MAX;
	if (cfg->idle_timeout_ms) {
		uint64_t idle_at = t->last_data_ms + cfg->idle_timeout_ms;
		if (now >= idle_at) {
			LOG_DEBUG("idle_timeout", "tunnel=%llu", (unsigned long long)t->id);
			tunnel_close_both(w, t, 1001);
			return;
		}
		next = idle_at;
	}
	if (cfg->ping_interval_ms) {
		if (c->flags & CF_PING_OUT) {
			uint64_t pong_by = c->deadline_ms + cfg->ping_interval_ms;
			if (now >= pong_by) {
				LOG_DEBUG("keepalive_timeout", "tunnel=%llu",
				          (unsigned long long)t->id);
				tunnel_close_both(w, t, 1001);
				return;
			}
			if (pong_by < next)
				next = pong_by;
		} else {
			uint64_t ping_at = c->last_rx_ms + cfg->ping_interval_ms;
			if (now >= ping_at && !tunnel_out_mid_frame(t, c)) {
				if (tunnel_send_control(w, c, WS_OP_PING, tunnel_ka_token,
				                        sizeof(tunnel_ka_token)) == 0) {
					c->flags |= CF_PING_OUT;
					c->deadline_ms = now;
					ping_at = now + cfg->ping_interval_ms;
				}
			} else if (now >= ping_at) {
				ping_at = now + 100; /* mid-frame: try again shortly */
			}
			if (ping_at < next)
				next = ping_at;
		}
	}
	if (next != UINT64_MAX)
		conn_set_timer(w, c, next);
}

void tunnel_drain(struct worker *w, struct tunnel *t)
{
	t->flags |= TF_DRAINING;
	struct conn *c = t->client;
	if (!(t->flags & TF_OPEN)) {
		/* SPEC.md: a handshake still in progress when draining began gets 503. */
		if (t->backend != NULL) {
			struct conn *b = t->backend;
			t->backend = NULL;
			b->t = NULL;
			conn_close(w, b);
		}
		if (c != NULL && !(c->flags & CF_SHUT_AFTER))
			handshake_reject(w, c, HTTP_REJ_OVERLOADED);
		return;
	}
	tunnel_close_both(w, t, 1001);
	uint64_t deadline = w->now_ms + w->gw->cfg->drain_timeout_ms;
	if (c != NULL && c->state != CONN_CLOSING) {
		c->deadline_ms = deadline;
		conn_set_timer(w, c, deadline);
	}
	if (t->backend != NULL && t->backend->state != CONN_CLOSING) {
		t->backend->deadline_ms = deadline;
		conn_set_timer(w, t->backend, deadline);
	}
}

void tunnel_conn_freed(struct worker *w, struct conn *c)
{
	struct tunnel *t = c->t;
	c->t = NULL;
	if (t->client == c)
		t->client = NULL;
	else if (t->backend == c)
		t->backend = NULL;
	if (t->client != NULL || t->backend != NULL)
		return;
	if (t->flags & TF_OPEN)
		atomic_store_explicit(
		    &w->stats.tunnels_active,
		    atomic_load_explicit(&w->stats.tunnels_active, memory_order_relaxed) - 1,
		    memory_order_relaxed);
	LOG_DEBUG("tunnel_free", "tunnel=%llu msgs_in=%llu msgs_out=%llu",
	          (unsigned long long)t->id, (unsigned long long)t->msgs_in,
	          (unsigned long long)t->msgs_out);
	stat_add(&w->stats.msgs_in, t->msgs_in);
	stat_add(&w->stats.msgs_out, t->msgs_out);
	stat_add(&w->stats.bytes_in, t->bytes_in);
	stat_add(&w->stats.bytes_out, t->bytes_out);
	rt_table_release(t->table);
	slab_free(&w->tunnels, t);
}
