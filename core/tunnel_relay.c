/* core/tunnel_relay.c: frames both ways, parsed and enforced, forwarded as they arrive.
 *
 * Owns: one receive's walk through its frames (tunnel__relay), from src to its peer dst.
 * Every frame is parsed with proto/ws (the parser enforces RFC 6455; this file only turns
 * its verdicts into actions). Data frames are forwarded without reassembly, header bytes
 * verbatim (a client's mask stays on its way to the backend) and payload as it comes; a run
 * of frames that arrived in one receive is queued with one copy (a span of that receive).
 * Control frames (<= 125 bytes) are collected by the parser and re-encoded whole, so the
 * gateway can swallow its own keepalive pongs and run the close handshake; a frame the
 * gateway generates is only ever inserted between frames.
 *
 * What reaches dst is always what src sent, and dst's stream is kept on a frame boundary
 * whenever a violation could be detected:
 * - a frame rejected at its header is never forwarded (the span stops before it);
 * - a text frame complete in this receive joins the span only as a provisional part: if its
 *   UTF-8 fails, the span is cut back to where the frame began;
 * - a text frame that goes on past this receive is held back in dst's queue
 *   (conn_out_hold) until it has been validated whole, or until TUNNEL_HOLD_MAX of it passed,
 *   and rolled back if it fails. Only a text frame longer than that, invalid after its first
 *   TUNNEL_HOLD_MAX bytes, can leave dst mid-frame; dst is then cut without a close frame.
 * Binary payload cannot fail once its header passed, so it is never held.
 * Everything valid that came before a violation is forwarded before the close.
 *
 * Invariants: src->ws_flags & WSF_FWD_OPEN <=> dst's stream is inside a frame from src (a
 * header went out, its payload has not all gone); WSF_HOLD <=> that frame is held in dst's
 * queue. The stash only ever holds a header whose bytes have not been queued. */
#include <string.h>

#include "core/bug.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/tunnel_admin.h"
#include "core/tunnel_int.h"
#include "core/worker.h"
#include "router/rt.h"

/* Bytes of the current receive that go to dst unchanged, kept as one run so that frames
 * that arrived together are queued with one copy. frame_at: where in the run a text frame
 * begins whose payload has not passed whole yet (SIZE_MAX: none). */
struct relay_span {
	const uint8_t *p;
	size_t n;
	size_t frame_at;
};

static int relay_span_flush(struct worker *w, struct relay_span *s, struct conn *dst)
{
	int rc = 0;
	if (s->n > 0 && dst != NULL && !(dst->ws_flags & WSF_CLOSE_SENT))
		rc = conn_queue(w, dst, s->p, s->n);
	s->p += s->n;
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

static bool relay_can_forward(const struct conn *dst)
{
	return dst != NULL && dst->state != CONN_CLOSING && !(dst->ws_flags & WSF_CLOSE_SENT);
}

void tunnel__relay_init(struct worker *w, struct tunnel *t)
{
	struct conn *c = t->client, *b = t->backend;
	struct wsg_limits lim = w->gw->limits;
	if (t->route->max_message)
		lim.message_max = t->route->max_message;
	ws_parser_init(&c->p.ws, WS_ROLE_SERVER, 0, &lim);
	ws_parser_init(&b->p.ws, WS_ROLE_CLIENT, 0, &lim);
	c->state = CONN_OPEN;
	b->state = CONN_OPEN;
}

/* src's frame broke a rule at its payload: take back whatever of it is in dst's queue or
 * in the span, so that dst stays on a frame boundary. */
static void relay_unforward(struct worker *w, struct conn *src, struct conn *dst,
                            struct relay_span *span)
{
	if (span->frame_at != SIZE_MAX) {
		span->n = span->frame_at;
		span->frame_at = SIZE_MAX;
		src->ws_flags &= (uint16_t)~WSF_FWD_OPEN;
	}
	if (src->ws_flags & WSF_HOLD) {
		if (dst != NULL)
			conn_out_rollback(w, dst);
		src->ws_flags &= (uint16_t) ~(WSF_HOLD | WSF_FWD_OPEN);
	}
}

/* The frame src is forwarding has ended, or enough of it passed: dst may send it. */
static void relay_release(struct worker *w, struct conn *src, struct conn *dst)
{
	if (!(src->ws_flags & WSF_HOLD))
		return;
	src->ws_flags &= (uint16_t)~WSF_HOLD;
	if (dst != NULL)
		conn_out_release(w, dst);
}

/* A backend frame just ended and admin pushes are pending for the client: what the span
 * holds goes first, then the pushes if that ended the backend's message (tunnel_admin.c).
 * One pointer test per frame on the way here; nothing when no push is pending. */
static int relay_push_point(struct worker *w, struct tunnel *t, struct relay_span *span,
                            struct conn *dst)
{
	if (relay_span_flush(w, span, dst) != 0)
		return -1;
	return tunnel_admin_push_flush(w, t);
}

void tunnel__relay(struct worker *w, struct tunnel *t, struct conn *src, uint8_t *data, size_t len)
{
	bool up = src == t->client;
	struct conn *dst = tunnel__peer(t, src);
	bool forward = relay_can_forward(dst);
	struct relay_span span = {.p = data, .n = 0, .frame_at = SIZE_MAX};

	while (len > 0) {
		if (src->state != CONN_OPEN || (src->ws_flags & (WSF_CLOSE_RCVD | WSF_FAILED)))
			break; /* RFC 6455 5.5.1: nothing after a close frame is data */
		if (!ws_parser_in_frame(&src->p.ws)) {
			struct ws_frame f;
			const uint8_t *hdr;
			size_t hlen, used;
			enum ws_rc rc = ws_parse_frame_header_split(&src->p.ws, &src->stash, data,
			                                            len, &f, &hdr, &hlen, &used);
			if (rc == WS_RC_MORE)
				break;
			if (rc == WS_RC_FAIL) {
				if (relay_span_flush(w, &span, dst) != 0)
					goto out_of_memory;
				tunnel__fail(w, t, src, ws_parser_close_code(&src->p.ws),
				             ws_parser_fail_reason(&src->p.ws));
				return;
			}
			data += used;
			len -= used;
			if (f.opcode & 0x8) {
				/* Control frame: its bytes are not forwarded as they are. */
				src->ws_flags |= WSF_CTL;
				src->ctl_op = f.opcode;
				if (relay_span_flush(w, &span, dst) != 0)
					goto out_of_memory;
				span.p = data;
				if (!ws_parser_in_frame(&src->p.ws)) {
					tunnel__on_control(w, t, src);
					forward = relay_can_forward(dst);
				}
				continue;
			}
			src->ws_flags &= (uint16_t)~WSF_CTL;
			t->last_data_ms = w->now_ms;
			if (f.opcode != WS_OP_CONT && up && (t->flags & TF_MSG_RATE) &&
			    !bucket_take(&t->msg_rate, w->now_ms)) {
				/* SPEC.md: over --msg-rate, 1008 to both legs; what came before
				 * this message is still forwarded. */
				if (relay_span_flush(w, &span, dst) != 0)
					goto out_of_memory;
				metrics_worker_rate_limited(w->m, METRICS_LIMIT_MSG_RATE);
				tunnel__fail(w, t, src, 1008, "message rate exceeded");
				return;
			}
			if (f.opcode != WS_OP_CONT) {
				/* Counted live (the counters are the worker's own, no RMW). */
				if (up)
					t->msgs_up++;
				else
					t->msgs_down++;
				metrics_worker_message(w->m, t->route->stat_slot,
				                       up ? METRICS_UP : METRICS_DOWN);
			}
			if (f.fin) {
				/* The message ends with this frame: its size is every data payload
				 * byte since the last one ended (control frames are not counted in
				 * bytes_*), this frame's included. Observed at the header, so a
				 * frame that fails later was still counted, as its message was. */
				uint64_t at = (up ? t->bytes_up : t->bytes_down) + f.payload_len;
				metrics_worker_message_size(w->m, up ? METRICS_UP : METRICS_DOWN,
				                            at - t->msg_mark[!up]);
				t->msg_mark[!up] = at;
			}
			if (!forward) {
				span.p = data;
				continue;
			}
			bool text = ws_parser_frame_is_text(&src->p.ws);
			bool in_span = hdr + hlen == data; /* the header is in this receive */
			if (text && f.payload_len > 0 && (f.payload_len > len || !in_span)) {
				/* Goes on past this receive, or its header came in pieces: hold it
				 * in dst's queue until it is valid. */
				if (relay_span_flush(w, &span, dst) != 0)
					goto out_of_memory;
				conn_out_hold(dst);
				if (conn_queue(w, dst, hdr, hlen) != 0)
					goto out_of_memory;
				span.p = data;
				src->ws_flags |= WSF_HOLD;
			} else if (in_span) {
				if (text && f.payload_len > 0)
					span.frame_at = span.n;
				relay_span_add(&span, hdr, hlen);
			} else {
				/* A header split across receives, rebuilt in the stash. */
				if (relay_span_flush(w, &span, dst) != 0 ||
				    conn_queue(w, dst, hdr, hlen) != 0)
					goto out_of_memory;
				span.p = data;
			}
			if (f.payload_len > 0)
				src->ws_flags |= WSF_FWD_OPEN;
			else if (!up && t->push != NULL && relay_push_point(w, t, &span, dst) != 0)
				goto out_of_memory;
			continue;
		}

		size_t used;
		if (ws_parse_payload(&src->p.ws, data, len, WS_PAYLOAD_KEEP_MASK, &used) !=
		    WS_RC_OK) {
			relay_unforward(w, src, dst, &span);
			if (relay_span_flush(w, &span, dst) != 0)
				goto out_of_memory;
			tunnel__fail(w, t, src, ws_parser_close_code(&src->p.ws),
			             ws_parser_fail_reason(&src->p.ws));
			return;
		}
		bool frame_done = !ws_parser_in_frame(&src->p.ws);
		if (src->ws_flags & WSF_CTL) {
			data += used;
			len -= used;
			span.p = data;
			if (frame_done) {
				tunnel__on_control(w, t, src);
				forward = relay_can_forward(dst);
			}
			continue;
		}
		if (up)
			t->bytes_up += used;
		else
			t->bytes_down += used;
		metrics_worker_payload(w->m, t->route->stat_slot, up ? METRICS_UP : METRICS_DOWN,
		                       used);
		if (forward) {
			if (src->ws_flags & WSF_HOLD) {
				if (conn_queue(w, dst, data, used) != 0)
					goto out_of_memory;
				if (frame_done || dst->hold_len >= TUNNEL_HOLD_MAX)
					relay_release(w, src, dst);
				span.p = data + used;
			} else {
				relay_span_add(&span, data, used);
				if (frame_done)
					span.frame_at = SIZE_MAX;
			}
		} else {
			span.p = data + used;
		}
		if (frame_done)
			src->ws_flags &= (uint16_t)~WSF_FWD_OPEN;
		data += used;
		len -= used;
		if (frame_done && !up && t->push != NULL && relay_push_point(w, t, &span, dst) != 0)
			goto out_of_memory;
	}
	if (relay_span_flush(w, &span, dst) != 0)
		goto out_of_memory;
	/* send_queue_bytes, sampled: one receive in 16 per worker records what now waits for
	 * dst (a deterministic 1/16 keeps the cost off most receives, and any conn that keeps
	 * receiving is sampled in proportion to its traffic). */
	if (dst != NULL && (++w->sendq_tick & 15u) == 0)
		metrics_worker_send_queue(w->m, conn_out_len(dst));
	/* Don't read more from src while dst's queue is over its high watermark: reading
	 * would only move the backlog into our memory. */
	if (dst != NULL && conn_out_len(dst) > CONN_OUT_HIGH)
		conn_pause(w, src);
	return;

out_of_memory:
	LOG_WARN("relay_no_memory", "tunnel=%llu", (unsigned long long)t->id);
	conn_close(w, t->client);
	if (t->backend != NULL)
		conn_close(w, t->backend);
}
