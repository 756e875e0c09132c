/* core/tunnel.c: pairing a client conn with its backend conn: the close handshake, the
 * keepalive and idle timers, drain, and the tunnel's life.
 *
 * Owns: struct tunnel (from the worker's owner slab) and the conn_ops both legs run on
 * (tunnel__ops): data goes to the backend upgrade (tunnel_dial.c) or the relay
 * (tunnel_relay.c); gone, timer and drained land here.
 *
 * Closing, per leg (conn.ws_flags): CLOSE_SENT (we queued a close to it), CLOSE_RCVD (its
 * close arrived). A leg with both is shut after its queue drains (lingering close).
 * - A close from one side is passed on; the other side's answer comes back the same way, so
 *   each side's handshake completes end to end. A side that is not answered within
 *   TUNNEL_CLOSE_WAIT_MS gets the gateway's own answer (its code echoed, RFC 6455 5.5.1).
 * - A side that half-closes after its close frame (shutdown(SHUT_WR)) still gets its answer:
 *   EOF only ends reading.
 * - A side that breaks a rule (tunnel__fail) gets its close code (1002, 1007, 1009, 1008),
 *   but only after the other side answered the gateway's 1011 (1008 for policy closes) or
 *   after TUNNEL_FAIL_LINGER_MS, so that what the other side sent back before its close (an
 *   echo of the messages that preceded the violation) still reaches the offender first.
 *   Meanwhile the offender's input is read and dropped, and after its close it lingers.
 * - A backend that vanishes closes the client with 1011 (1001 when draining); a client that
 *   vanishes closes the backend with 1001. */
#include "core/tunnel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/admission.h"
#include "core/bug.h"
#include "core/gateway.h"
#include "core/handshake.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/tunnel_admin.h"
#include "core/tunnel_int.h"
#include "core/worker.h"
#include "router/rt.h"

/* Payload of the gateway's keepalive pings; a client pong carrying it is ours to swallow. */
static const uint8_t tunnel_ka_token[] = {'w', 's', 'g', 'a', 't', 'e', '-', 'k', 'a'};

void tunnel__note_close(struct tunnel *t, uint16_t code, unsigned side)
{
	if (t->flags & TF_CLOSE_SEEN)
		return;
	t->flags |= TF_CLOSE_SEEN;
	t->close_code = code;
	t->close_side = (uint8_t)side;
}

int tunnel_id_text(const struct worker *w, const struct tunnel *t, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s.%llu", w->gw->id_prefix, (unsigned long long)t->id);
	return n < 0 ? 0 : ((size_t)n >= cap ? (int)cap - 1 : n);
}

static void tunnel_mask(struct worker *w, uint8_t mask[4])
{
	uint64_t r = worker_random(w);
	memcpy(mask, &r, 4);
}

int tunnel__send_control(struct worker *w, struct conn *c, enum ws_op op, const uint8_t *payload,
                         size_t n)
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

/* True when a frame from c's peer is half forwarded to c: nothing the gateway generates may
 * be inserted into c's stream now. abandon: the rest of that frame will never be forwarded
 * (a close goes to c), so a held frame is taken back instead (its bytes were never sent),
 * which puts c on a frame boundary again. Without abandon (a ping), a held frame is waited
 * for like any other: the peer's parser is still inside it and its rest will follow. */
static bool tunnel_mid_frame(struct worker *w, struct tunnel *t, struct conn *c, bool abandon)
{
	struct conn *src = tunnel__peer(t, c);
	if (src == NULL || !(src->ws_flags & WSF_FWD_OPEN))
		return false;
	if (abandon && (src->ws_flags & WSF_HOLD)) {
		conn_out_rollback(w, c);
		src->ws_flags &= (uint16_t) ~(WSF_HOLD | WSF_FWD_OPEN);
		return false;
	}
	return true;
}

/* Once a leg has both sent and received its close, it is done: shut after the queue. */
static void tunnel_check_done(struct worker *w, struct conn *c)
{
	if ((c->ws_flags & (WSF_CLOSE_SENT | WSF_CLOSE_RCVD)) == (WSF_CLOSE_SENT | WSF_CLOSE_RCVD))
		conn_shut_after_flush(w, c);
}

void tunnel__send_close(struct worker *w, struct tunnel *t, struct conn *c, uint16_t code,
                        const uint8_t *reason, size_t reason_len)
{
	if (c == NULL || c->state == CONN_CLOSING || (c->ws_flags & WSF_CLOSE_SENT))
		return;
	c->ws_flags |= WSF_CLOSE_SENT;
	tunnel__note_close(t, code, METRICS_SIDE_GATEWAY); /* unless a peer's close came first */
	if (tunnel_mid_frame(w, t, c, true)) {
		/* A close frame cannot be placed inside a frame: cut after what is queued. */
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
	if (!(c->ws_flags & WSF_CLOSE_RCVD) && !(c->ws_flags & WSF_FAILED)) {
		/* Wait (bounded) for its answer. */
		c->deadline_ms =
		    (t->flags & TF_DRAINING) ? t->drain_by_ms : w->now_ms + TUNNEL_CLOSE_WAIT_MS;
		conn_set_timer(w, c, c->deadline_ms);
	}
	if (c->ws_flags & WSF_FAILED)
		conn_shut_after_flush(w, c);
	else
		tunnel_check_done(w, c);
}

/* src broke a rule earlier and is owed its close: send it now. */
static void tunnel_pay_owed(struct worker *w, struct tunnel *t, struct conn *src)
{
	if (!(src->ws_flags & WSF_CLOSE_OWED))
		return;
	src->ws_flags &= (uint16_t)~WSF_CLOSE_OWED;
	const char *why = t->fail_why != NULL ? t->fail_why : ws_parser_fail_reason(&src->p.ws);
	tunnel__send_close(w, t, src, src->fail_code, (const uint8_t *)why, strlen(why));
	conn_shut_after_flush(w, src);
}

void tunnel__fail(struct worker *w, struct tunnel *t, struct conn *src, uint16_t code,
                  const char *why)
{
	struct conn *dst = tunnel__peer(t, src);
	LOG_DEBUG("ws_fail", "tunnel=%llu side=%s code=%u why=\"%s\"", (unsigned long long)t->id,
	          src->role == CONN_CLIENT ? "client" : "backend", code, why);
	src->ws_flags |= WSF_FAILED | WSF_CLOSE_OWED;
	src->fail_code = code;
	t->fail_why = why;
	tunnel__note_close(t, code, METRICS_SIDE_GATEWAY);
	/* Keep reading the offender (and dropping it): a peer blocked in a send would never
	 * read our close, and closing with its bytes unread would reset the connection. */
	conn_discard_input(w, src);
	/* 1009 and the rest are the breaker's own codes; only a policy close is passed on. */
	uint16_t other = code == 1008 ? 1008 : 1011;
	bool waits = dst != NULL && dst->state != CONN_CLOSING &&
	             !(dst->ws_flags & (WSF_CLOSE_SENT | WSF_CLOSE_RCVD)) && !(dst->flags & CF_EOF);
	tunnel__send_close(w, t, dst, other, NULL, 0);
	if (waits && dst->state != CONN_CLOSING && !(dst->flags & CF_SHUT_AFTER)) {
		src->deadline_ms = w->now_ms + TUNNEL_FAIL_LINGER_MS;
		conn_set_timer(w, src, src->deadline_ms);
		return;
	}
	tunnel_pay_owed(w, t, src);
}

void tunnel__on_control(struct worker *w, struct tunnel *t, struct conn *src)
{
	struct conn *dst = tunnel__peer(t, src);
	size_t n;
	const uint8_t *payload = ws_parser_control_payload(&src->p.ws, &n);

	switch (src->ctl_op) {
	case WS_OP_PING:
		if (dst != NULL && !(dst->ws_flags & WSF_CLOSE_SENT) &&
		    !tunnel_mid_frame(w, t, dst, false) &&
		    tunnel__send_control(w, dst, WS_OP_PING, payload, n) != 0)
			tunnel__fail(w, t, src, 1011, "out of memory");
		break;
	case WS_OP_PONG:
		if ((src->ws_flags & WSF_PING_OUT) && n == sizeof(tunnel_ka_token) &&
		    memcmp(payload, tunnel_ka_token, n) == 0) {
			/* The answer to our own keepalive (--ping-interval to the client,
			 * --backend-ping-interval to the backend): measured, not passed on. */
			src->ws_flags &= (uint16_t)~WSF_PING_OUT;
			metrics_worker_ping_rtt(
			    w->m, src == t->client ? METRICS_LEG_CLIENT : METRICS_LEG_BACKEND,
			    (uint32_t)w->now_us - src->stamp_us);
			if (src == t->client) {
				/* deadline_ms is when the ping went out (tunnel_on_timer): the
				 * admin API shows the last round trip, in the loop turn's ms. */
				t->ping_rtt_ms = (uint32_t)(w->now_ms - src->deadline_ms);
				t->flags |= TF_RTT;
			}
			break;
		}
		if (dst != NULL && !(dst->ws_flags & WSF_CLOSE_SENT) &&
		    !tunnel_mid_frame(w, t, dst, false) &&
		    tunnel__send_control(w, dst, WS_OP_PONG, payload, n) != 0)
			tunnel__fail(w, t, src, 1011, "out of memory");
		break;
	case WS_OP_CLOSE: {
		src->ws_flags |= WSF_CLOSE_RCVD;
		uint16_t code;
		const uint8_t *reason;
		size_t reason_len;
		ws_close_payload_split(payload, n, &code, &reason, &reason_len);
		/* src closed first unless a close of ours or of the other side came before:
		 * noted here, ahead of the tunnel__send_close below that would otherwise record
		 * the passed-on close as the gateway's own. */
		tunnel__note_close(t, code,
		                   src == t->client ? METRICS_SIDE_CLIENT : METRICS_SIDE_BACKEND);
		src->fail_code =
		    code == 1005 ? 0 : code; /* for our own answer, if it comes to it */
		if (dst != NULL && (dst->ws_flags & WSF_CLOSE_OWED)) {
			/* src answered the close we sent it for dst's violation: dst gets its own
			 * code now, after everything src sent before its close. */
			tunnel_pay_owed(w, t, dst);
		} else if (dst != NULL && dst->state != CONN_CLOSING) {
			/* Pass it on: a reply to a close the other side started completes that
			 * side's handshake, a first close starts one there. */
			tunnel__send_close(w, t, dst, src->fail_code, reason, reason_len);
			tunnel_check_done(w, dst);
		}
		if (src->ws_flags & WSF_CLOSE_SENT) {
			conn_shut_after_flush(w, src);
		} else if (dst == NULL || dst->state == CONN_CLOSING ||
		           (dst->ws_flags & WSF_CLOSE_RCVD) || (dst->flags & CF_SHUT_AFTER)) {
			/* Nobody left to answer for: the gateway answers itself. */
			tunnel__send_close(w, t, src, src->fail_code, reason, reason_len);
		} else {
			/* Wait (bounded) for the other side's answer to pass back. */
			src->deadline_ms = w->now_ms + TUNNEL_CLOSE_WAIT_MS;
			conn_set_timer(w, src, src->deadline_ms);
		}
		break;
	}
	default:
		WSG_BUG_ON(true);
	}
}

/* Both legs are closed with `code` (idle, keepalive, drain): each waits for its answer. */
static void tunnel_close_both(struct worker *w, struct tunnel *t, uint16_t code)
{
	tunnel__send_close(w, t, t->client, code, NULL, 0);
	tunnel__send_close(w, t, t->backend, code, NULL, 0);
}

void tunnel_start(struct worker *w, struct conn *client, struct tunnel_dial *dial,
                  const struct rt_table *table, const struct rt_route *route)
{
	struct tunnel *t = slab_alloc(&w->owners);
	if (t == NULL) {
		slab_free(&w->handshakes, dial);
		metrics_worker_slab_exhausted(w->m, METRICS_SLAB_TUNNEL);
		handshake_reject(w, client, HTTP_REJ_OVERLOADED);
		return;
	}
	memset(t, 0, sizeof(*t));
	/* Per-node ids that say which worker owns the tunnel: id % workers. */
	t->id = ++w->tunnel_seq * w->gw->n_workers + w->id;
	t->client = client;
	t->table = table;
	t->route = route;
	t->dial = dial;
	if (dial->auth.where != ADM_TOKEN_NONE) {
		t->auth_expire_ms = dial->auth.expire_ms;
		/* Kept for the connection's life (the admin API lists it); once per connection,
		 * never per message. Out of memory only loses the listing, not the check. */
		if (dial->auth.sub_len > 0)
			t->subject = strndup(dial->auth.sub, dial->auth.sub_len);
	}
	rt_table_hold(table);
	t->created_ms = w->now_ms;
	tunnel_admin_index_add(w, t);
	tunnel__dial_pick(w, t);
	client->owner = t;
	client->ops = &tunnel__ops;
	client->state = CONN_WAIT_BACKEND;
	/* Nothing more is read from the client until its upgrade is done. */
	conn_pause(w, client);
	tunnel__dial_next(w, t);
}

void tunnel__opened(struct worker *w, struct tunnel *t)
{
	struct conn *c = t->client;
	struct gateway *gw = w->gw;
	t->flags |= TF_OPEN | TF_COUNTED | TF_BACKEND_UP;
	t->last_data_ms = w->now_ms;
	metrics_worker_tunnel_open(w->m);
	metrics_worker_handshake_done(w->m, (uint32_t)w->now_us - c->stamp_us);
	metrics_worker_backend_open(w->m, t->route->backends[t->current].stat_slot);
	tunnel__relay_init(w, t);
	/* --msg-rate, or the route's msg-rate=: a token bucket on the client's data messages;
	 * the relay reads the loop turn's clock, no clock call of its own. */
	uint32_t rate = t->route->msg_rate ? t->route->msg_rate : gw->cfg->msg_rate.per_sec;
	uint32_t burst = t->route->msg_rate ? t->route->msg_burst : gw->cfg->msg_rate.burst;
	if (rate > 0) {
		bucket_init(&t->msg_rate, rate, burst ? burst : rate);
		t->flags |= TF_MSG_RATE;
	}
	c->last_rx_ms = w->now_ms;
	conn_del_timer(w, t->backend);
	if (gw->cfg->idle_timeout_ms || gw->cfg->ping_interval_ms || t->auth_expire_ms)
		conn_set_timer(w, c, w->now_ms);
	if (gw->cfg->backend_ping_interval_ms)
		conn_set_timer(w, t->backend, w->now_ms + gw->cfg->backend_ping_interval_ms);
	if (log_enabled(CFG_LOG_DEBUG)) {
		char p[64];
		conn_peer_text(c, p, sizeof(p), true);
		LOG_DEBUG("tunnel_open", "tunnel=%llu peer=%s route=%s backend=%s",
		          (unsigned long long)t->id, p, t->route->path,
		          t->route->backends[t->current].url);
	}
}

static void tunnel_on_data(struct worker *w, struct conn *c, uint8_t *data, size_t len)
{
	struct tunnel *t = tunnel__of(c);
	if (c->state == CONN_OPEN) {
		tunnel__relay(w, t, c, data, len);
	} else if (c->role == CONN_BACKEND && c->state == CONN_HANDSHAKE) {
		tunnel__on_backend_head(w, t, c, data, len);
	} else {
		/* A client waiting for its backend is paused after the receive that completed
		 * its head: nothing more can arrive before the 101. */
		WSG_WARN_ONCE(true);
		conn_close(w, c);
	}
}

static void tunnel_on_drained(struct worker *w, struct conn *c)
{
	struct tunnel *t = tunnel__of(c);
	struct conn *src = tunnel__peer(t, c);
	if (src != NULL && src->state == CONN_OPEN)
		conn_resume(w, src);
}

static void tunnel_on_gone(struct worker *w, struct conn *c, int err)
{
	struct tunnel *t = tunnel__of(c);
	if (!(t->flags & TF_OPEN)) {
		if (c->role == CONN_BACKEND) {
			tunnel__backend_failed(w, t, false, err == 0 ? "eof" : "reset");
		} else {
			/* The client left before its upgrade finished. */
			conn_close(w, c);
			if (t->backend != NULL)
				conn_close(w, t->backend);
		}
		return;
	}
	struct conn *peer = tunnel__peer(t, c);
	tunnel__note_close(t, 0, c == t->client ? METRICS_SIDE_CLIENT : METRICS_SIDE_BACKEND);
	if (c->ws_flags & WSF_CLOSE_RCVD) {
		/* It said goodbye properly and half-closed: it still gets its answer (its
		 * close was passed on; the reply or our own comes back the usual way). */
		if (c->ws_flags & WSF_CLOSE_SENT)
			conn_shut_after_flush(w, c);
		return;
	}
	if (c->ws_flags & WSF_FAILED) {
		/* The offender stopped sending: it may still read its close. */
		tunnel_pay_owed(w, t, c);
		return;
	}
	if (err == 0 && !(c->ws_flags & WSF_CLOSE_SENT))
		conn_shut_after_flush(w, c); /* a half-close: what is queued still goes */
	else
		conn_close(w, c);
	if (peer == NULL)
		return;
	uint16_t code;
	if (c == t->backend)
		code = (t->flags & TF_DRAINING) ? 1001 : 1011;
	else
		code = 1001;
	if (peer->ws_flags & WSF_CLOSE_OWED)
		tunnel_pay_owed(w, t, peer);
	else
		tunnel__send_close(w, t, peer, code, NULL, 0);
}

static void tunnel_count_drain_cut(struct worker *w, struct tunnel *t, struct conn *c)
{
	if ((t->flags & TF_DRAINING) && c == t->client)
		worker_stat_add(&w->drain_cut, 1);
}

/* The drain's goodbye: --drain-close-code (1001, or 1012 "come back") to the client, 1001 to
 * the backend. */
static void tunnel_drain_close(struct worker *w, struct tunnel *t)
{
	t->drain_at_ms = 0;
	tunnel__send_close(w, t, t->client, w->gw->cfg->drain_close_code, NULL, 0);
	tunnel__send_close(w, t, t->backend, 1001, NULL, 0);
}

/* --backend-ping-interval: a backend leg silent that long gets our ping; no pong within
 * another interval and the backend is taken for dead (1011 to the client, 1001 to it). The
 * round trip goes to ping_rtt_seconds{leg="backend"}. */
static void tunnel_backend_keepalive(struct worker *w, struct tunnel *t, struct conn *b,
                                     uint64_t now)
{
	uint64_t every = w->gw->cfg->backend_ping_interval_ms;
	if (every == 0 || b != t->backend)
		return;
	uint64_t next;
	if (b->ws_flags & WSF_PING_OUT) {
		next = b->deadline_ms + every;
		if (now >= next) {
			LOG_DEBUG("backend_keepalive_timeout", "tunnel=%llu",
			          (unsigned long long)t->id);
			tunnel__send_close(w, t, t->client, 1011, NULL, 0);
			tunnel__send_close(w, t, b, 1001, NULL, 0);
			return;
		}
	} else {
		next = b->last_rx_ms + every;
		if (now >= next && !tunnel_mid_frame(w, t, b, false)) {
			if (tunnel__send_control(w, b, WS_OP_PING, tunnel_ka_token,
			                         sizeof(tunnel_ka_token)) == 0) {
				b->ws_flags |= WSF_PING_OUT;
				b->deadline_ms = now;
				b->stamp_us = (uint32_t)w->now_us;
				next = now + every;
			} else {
				next = now + 100; /* no memory for the ping now: soon again */
			}
		} else if (now >= next) {
			next = now + 100; /* mid-frame: try again shortly */
		}
	}
	conn_set_timer(w, b, next);
}

static void tunnel_on_timer(struct worker *w, struct conn *c)
{
	struct tunnel *t = tunnel__of(c);
	const struct wsg_config *cfg = w->gw->cfg;
	uint64_t now = w->now_ms;

	if (!(t->flags & TF_OPEN)) {
		if (c->role == CONN_BACKEND) {
			if (now >= c->deadline_ms)
				tunnel__backend_failed(w, t, true, "timeout");
			else
				conn_set_timer(w, c, c->deadline_ms);
		}
		return;
	}
	if (c->ws_flags & (WSF_CLOSE_SENT | WSF_CLOSE_RCVD | WSF_CLOSE_OWED)) {
		if (now < c->deadline_ms) {
			conn_set_timer(w, c, c->deadline_ms);
			return;
		}
		if (c->ws_flags & WSF_CLOSE_OWED) {
			tunnel_pay_owed(w, t, c); /* the other side did not answer in time */
		} else if (!(c->ws_flags & WSF_CLOSE_SENT)) {
			/* Its close was not answered from the other side in time: answer it. */
			tunnel__send_close(w, t, c, c->fail_code, NULL, 0);
		} else {
			/* Our close was not answered in time: cut this leg. */
			tunnel_count_drain_cut(w, t, c);
			conn_close(w, c);
		}
		return;
	}
	if (c != t->client) {
		tunnel_backend_keepalive(w, t, c, now);
		return;
	}

	uint64_t next = UINT64_MAX;
	if (t->drain_at_ms) {
		if (now >= t->drain_at_ms) {
			tunnel_drain_close(w, t);
			return;
		}
		next = t->drain_at_ms;
	}
	if (t->auth_expire_ms) {
		if (now >= t->auth_expire_ms) {
			/* SPEC.md: the token's exp (plus leeway) passed while connected. */
			static const char why[] = "token expired";
			LOG_DEBUG("token_expired", "tunnel=%llu", (unsigned long long)t->id);
			tunnel__send_close(w, t, t->client, 1008, (const uint8_t *)why,
			                   sizeof(why) - 1);
			tunnel__send_close(w, t, t->backend, 1008, (const uint8_t *)why,
			                   sizeof(why) - 1);
			return;
		}
		if (t->auth_expire_ms < next)
			next = t->auth_expire_ms;
	}
	if (cfg->idle_timeout_ms) {
		uint64_t idle_at = t->last_data_ms + cfg->idle_timeout_ms;
		if (now >= idle_at) {
			LOG_DEBUG("idle_timeout", "tunnel=%llu", (unsigned long long)t->id);
			tunnel_close_both(w, t, 1001);
			return;
		}
		if (idle_at < next)
			next = idle_at;
	}
	if (cfg->ping_interval_ms) {
		if (c->ws_flags & WSF_PING_OUT) {
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
			if (now >= ping_at && !tunnel_mid_frame(w, t, c, false)) {
				if (tunnel__send_control(w, c, WS_OP_PING, tunnel_ka_token,
				                         sizeof(tunnel_ka_token)) == 0) {
					c->ws_flags |= WSF_PING_OUT;
					c->deadline_ms = now;
					c->stamp_us = (uint32_t)w->now_us;
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
			tunnel__lb_release(t);
			t->backend = NULL;
			b->owner = NULL;
			conn_close(w, b);
		}
		tunnel__dial_free(w, t);
		if (c != NULL && c->state != CONN_CLOSING && !(c->flags & CF_SHUT_AFTER))
			handshake_reject(w, c, HTTP_REJ_OVERLOADED);
		return;
	}
	/* Every close handshake of the drain may take until --drain-timeout. */
	const struct wsg_config *cfg = w->gw->cfg;
	t->drain_by_ms = w->now_ms + cfg->drain_timeout_ms;
	if (cfg->drain_spread_ms > 0 && c != NULL &&
	    !(c->ws_flags & (WSF_CLOSE_SENT | WSF_CLOSE_RCVD | WSF_CLOSE_OWED))) {
		/* --drain-spread: each client's close at its own moment, uniform over the
		 * spread, so that they do not all reconnect at once. The client timer carries it
		 * (tunnel_on_timer). */
		t->drain_at_ms = w->now_ms + 1 + worker_random(w) % cfg->drain_spread_ms;
		conn_set_timer(w, c, t->drain_at_ms);
		return;
	}
	tunnel_drain_close(w, t);
}

static void tunnel_on_free(struct worker *w, struct conn *c)
{
	if (c->role == CONN_CLIENT)
		admission_release(w, c); /* whatever path ended it: the count is right again */
	struct tunnel *t = tunnel__of(c);
	if (t == NULL)
		return;
	if (t->client == c)
		tunnel_access_log(w, c, t, NULL, (t->flags & TF_OPEN) ? 101 : 499,
		                  (t->flags & TF_OPEN) ? NULL : "client_closed");
	c->owner = NULL;
	if (t->client == c) {
		t->client = NULL;
	} else if (t->backend == c) {
		t->backend = NULL;
		tunnel__lb_release(t);
		if (t->flags & TF_BACKEND_UP) {
			t->flags &= (uint16_t)~TF_BACKEND_UP;
			metrics_worker_backend_close(w->m,
			                             t->route->backends[t->current].stat_slot);
		}
	}
	if (t->client != NULL || t->backend != NULL)
		return;
	if (t->flags & TF_OPEN)
		metrics_worker_close(w->m, t->close_code, (enum metrics_side)t->close_side);
	LOG_DEBUG("tunnel_free", "tunnel=%llu msgs_up=%llu msgs_down=%llu close=%u",
	          (unsigned long long)t->id, (unsigned long long)t->msgs_up,
	          (unsigned long long)t->msgs_down, t->close_code);
	tunnel__dial_free(w, t);
	tunnel_admin_index_del(w, t);
	tunnel_admin_push_drop(t);
	free(t->subject);
	rt_table_release(t->table);
	slab_free(&w->owners, t);
}

static void tunnel_on_connect(struct worker *w, struct conn *b, int res)
{
	struct tunnel *t = tunnel__of(b);
	if (t != NULL && res < 0)
		tunnel__backend_failed(w, t, res == -ETIMEDOUT, "connect");
}

const struct conn_ops tunnel__ops = {
    .on_data = tunnel_on_data,
    .on_drained = tunnel_on_drained,
    .on_gone = tunnel_on_gone,
    .on_timer = tunnel_on_timer,
    .on_connect = tunnel_on_connect,
    .on_free = tunnel_on_free,
};
