/* bench/echo_conn.c: wsgate-echo's protocol layer on the gateway's core (same workers,
 * conns, buffers and frame parser as wsgate).
 *
 * Owns: an echo conn from its accept on: the upgrade (the request head parsed with
 * proto/http1, answered 101 or with the error of SPEC.md's table), then every data frame
 * echoed as it arrives with its opcode and FIN (header re-encoded unmasked, payload unmasked
 * in place and queued), pings answered with pongs, a close answered with the same code.
 *
 * Strict like the gateway, because it is the peer our tests and benchmarks trust: a text
 * frame's echo is held back in the send queue (conn_out_hold) until the frame has been
 * validated whole, so invalid UTF-8 anywhere in it is answered with a clean close 1007
 * instead of a close frame where the promised payload should be. Frames over
 * ECHO_HOLD_MAX are released once that much passed (a later violation then cuts the
 * connection after what was queued: the rare case). Binary payload cannot fail once its
 * header passed and is never held. */
#include "bench/echo_conn.h"

#include <string.h>

#include "core/conn.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/worker.h"
#include "proto/wskey.h"

#define ECHO_HOLD_MAX (1u << 20)

/* Per-conn flags of the echo layer (conn.ws_flags). */
enum echo_flag {
	EF_CLOSE_SENT = 1u << 0,
	EF_CLOSE_RCVD = 1u << 1,
	EF_CTL = 1u << 2,      /* the frame being parsed is a control frame */
	EF_HOLD = 1u << 3,     /* the current text frame's echo is held back */
	EF_MID = 1u << 4,      /* an echoed frame's header is out, its payload not all */
	EF_HANDSHAKE = 1u << 5 /* still reading the request head */
};

static void echo_close(struct worker *w, struct conn *c, uint16_t code, const uint8_t *reason,
                       size_t reason_len)
{
	if (c->ws_flags & EF_HOLD) {
		conn_out_rollback(w, c);
		c->ws_flags &= (uint16_t) ~(EF_HOLD | EF_MID);
	}
	if (!(c->ws_flags & EF_CLOSE_SENT)) {
		c->ws_flags |= EF_CLOSE_SENT;
		if (c->ws_flags & EF_MID) {
			/* A close frame cannot be placed inside a frame: cut. */
			conn_shut_after_flush(w, c);
			return;
		}
		uint8_t frame[WS_HEADER_MAX + WS_CONTROL_MAX];
		size_t n = ws_encode_close(frame, sizeof(frame), code, (const char *)reason,
		                           reason_len, NULL);
		if (n == 0 || conn_queue(w, c, frame, n) != 0) {
			conn_close(w, c);
			return;
		}
	}
	conn_shut_after_flush(w, c);
}

static void echo_fail(struct worker *w, struct conn *c)
{
	const char *why = ws_parser_fail_reason(&c->p.ws);
	echo_close(w, c, ws_parser_close_code(&c->p.ws), (const uint8_t *)why, strlen(why));
}

static void echo_on_control(struct worker *w, struct conn *c)
{
	size_t n;
	const uint8_t *payload = ws_parser_control_payload(&c->p.ws, &n);
	if (c->ctl_op == WS_OP_PING) {
		if (c->ws_flags & (EF_CLOSE_SENT | EF_MID))
			return; /* mid-frame: a pong cannot go in there, and one may be skipped */
		uint8_t frame[WS_HEADER_MAX + WS_CONTROL_MAX];
		size_t h = ws_encode_header(frame, WS_OP_PONG, true, n, NULL);
		memcpy(frame + h, payload, n);
		if (conn_queue(w, c, frame, h + n) != 0)
			conn_close(w, c);
	} else if (c->ctl_op == WS_OP_CLOSE) {
		uint16_t code;
		const uint8_t *reason;
		size_t reason_len;
		ws_close_payload_split(payload, n, &code, &reason, &reason_len);
		c->ws_flags |= EF_CLOSE_RCVD;
		echo_close(w, c, code == 1005 ? 0 : code, reason, reason_len);
	}
}

static void echo_frames(struct worker *w, struct conn *c, uint8_t *data, size_t len)
{
	while (len > 0 && c->state == CONN_OPEN && !(c->ws_flags & EF_CLOSE_RCVD)) {
		if (!ws_parser_in_frame(&c->p.ws)) {
			struct ws_frame f;
			const uint8_t *hdr;
			size_t hlen, used;
			enum ws_rc rc = ws_parse_frame_header_split(&c->p.ws, &c->stash, data, len,
			                                            &f, &hdr, &hlen, &used);
			if (rc == WS_RC_MORE)
				return;
			if (rc == WS_RC_FAIL) {
				echo_fail(w, c);
				return;
			}
			data += used;
			len -= used;
			if (f.opcode & 0x8) {
				c->ws_flags |= EF_CTL;
				c->ctl_op = f.opcode;
				if (!ws_parser_in_frame(&c->p.ws))
					echo_on_control(w, c);
				continue;
			}
			c->ws_flags &= (uint16_t)~EF_CTL;
			if (f.payload_len > 0 && ws_parser_frame_is_text(&c->p.ws)) {
				conn_out_hold(c);
				c->ws_flags |= EF_HOLD;
			}
			uint8_t out[WS_HEADER_MAX];
			size_t h =
			    ws_encode_header(out, (enum ws_op)f.opcode, f.fin, f.payload_len, NULL);
			if (conn_queue(w, c, out, h) != 0) {
				conn_close(w, c);
				return;
			}
			if (f.payload_len > 0)
				c->ws_flags |= EF_MID;
			continue;
		}
		size_t used;
		if (ws_parse_payload(&c->p.ws, data, len, 0, &used) != WS_RC_OK) {
			echo_fail(w, c);
			return;
		}
		bool done = !ws_parser_in_frame(&c->p.ws);
		if (!(c->ws_flags & EF_CTL)) {
			if (conn_queue(w, c, data, used) != 0) {
				conn_close(w, c);
				return;
			}
			if ((c->ws_flags & EF_HOLD) && (done || c->hold_len >= ECHO_HOLD_MAX)) {
				c->ws_flags &= (uint16_t)~EF_HOLD;
				conn_out_release(w, c);
			}
			if (done)
				c->ws_flags &= (uint16_t)~EF_MID;
		}
		data += used;
		len -= used;
		if ((c->ws_flags & EF_CTL) && done)
			echo_on_control(w, c);
	}
	/* A client that sends faster than it reads: stop reading until our answers drain. */
	if (conn_out_len(c) > CONN_OUT_HIGH)
		conn_pause(w, c);
}

static void echo_on_head(struct worker *w, struct conn *c)
{
	size_t n;
	const char *head = (const char *)rbuf_contig_data(&c->in, &n);
	static _Thread_local struct http_request req;
	size_t used;
	switch (http_parse_request(&c->p.http, head, n, &w->gw->limits, &req, &used)) {
	case HTTP_RC_MORE:
		return;
	case HTTP_RC_FAIL:
		echo_reject(w, c, http_parser_reject(&c->p.http));
		return;
	case HTTP_RC_OK:
		break;
	}
	conn_del_timer(w, c);
	enum http_reject r = http_check_upgrade(&req);
	if (r != HTTP_REJ_NONE) {
		echo_reject(w, c, r);
		return;
	}
	char accept[WSKEY_ACCEPT_LEN + 1];
	char out[512];
	int len = -1;
	if (wskey_accept(req.ws_key.p, req.ws_key.n, accept) == 0)
		len = http_write_101(out, sizeof(out), accept, (struct http_str){NULL, 0});
	if (len < 0 || conn_queue(w, c, out, (size_t)len) != 0) {
		conn_close(w, c);
		return;
	}
	c->ws_flags &= (uint16_t)~EF_HANDSHAKE;
	c->state = CONN_OPEN;
	ws_parser_init(&c->p.ws, WS_ROLE_SERVER, 0, &w->gw->limits);
	uint8_t *p = rbuf_contig_data(&c->in, &n);
	if (used < n)
		echo_frames(w, c, p + used, n - used);
	rbuf_release(&c->in, w->pool);
}

void echo_reject(struct worker *w, struct conn *c, enum http_reject r)
{
	char buf[512];
	int n = http_write_reject(buf, sizeof(buf), r, 1);
	if (n > 0 && conn_queue(w, c, buf, (size_t)n) == 0)
		conn_shut_after_flush(w, c);
	else
		conn_close(w, c);
}

static void echo_on_data(struct worker *w, struct conn *c, uint8_t *data, size_t len)
{
	if (c->ws_flags & EF_HANDSHAKE) {
		if (rbuf_append(&c->in, w->pool, data, len) != 0) {
			echo_reject(w, c, HTTP_REJ_OVERLOADED);
			return;
		}
		echo_on_head(w, c);
		return;
	}
	echo_frames(w, c, data, len);
}

static void echo_on_drained(struct worker *w, struct conn *c)
{
	conn_resume(w, c);
}

static void echo_on_timer(struct worker *w, struct conn *c)
{
	/* The handshake timeout, or a close handshake that took too long. */
	conn_close(w, c);
}

static const struct conn_ops echo_ops = {
    .on_data = echo_on_data,
    .on_drained = echo_on_drained,
    .on_timer = echo_on_timer,
};

void echo_on_accept(struct worker *w, struct conn *c, bool over_limit)
{
	c->ops = &echo_ops;
	c->ws_flags = EF_HANDSHAKE;
	if (over_limit) {
		echo_reject(w, c, HTTP_REJ_OVERLOADED);
		return;
	}
	conn_set_timer(w, c, w->now_ms + w->gw->cfg->handshake_timeout_ms);
	conn_arm_recv(w, c);
}

void echo_on_drain(struct worker *w)
{
	for (struct conn *c = w->live_head, *next; c != NULL; c = next) {
		next = c->live_next;
		if (c->state == CONN_CLOSING)
			continue;
		if (c->state == CONN_OPEN) {
			echo_close(w, c, 1001, NULL, 0);
		} else {
			conn_close(w, c);
		}
	}
}
