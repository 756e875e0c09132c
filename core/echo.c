/* wsgate-echo's conns: the same conn mechanics as the gateway, with a frame handler that
 * answers instead of relaying. Each data frame goes back as it arrives (header re-encoded
 * unmasked with the same opcode and FIN, payload unmasked in place and queued), so messages
 * of any size echo without reassembly; pings get pongs; a close is answered with the same code
 * and the socket is shut once the answer is out. Protocol errors close with the parser's code,
 * so the echo server is also a strict peer in tests. */
#include "core/echo.h"

#include <string.h>

#include "core/conn.h"
#include "core/gateway.h"
#include "core/log.h"
#include "proto/wskey.h"

static void echo_close(struct worker *w, struct conn *c, uint16_t code, const uint8_t *reason,
                       size_t reason_len)
{
	if (!(c->flags & CF_CLOSE_SENT)) {
		uint8_t frame[WS_HEADER_MAX + WS_CONTROL_MAX];
		size_t n = ws_encode_close(frame, sizeof(frame), code, (const char *)reason,
		                           reason_len, NULL);
		c->flags |= CF_CLOSE_SENT;
		if (n == 0 || conn_queue(w, c, frame, n) != 0) {
			conn_close(w, c);
			return;
		}
	}
	conn_shut_after_flush(w, c);
}

void echo_accept(struct worker *w, struct conn *c, const struct http_request *req, size_t head)
{
	char accept[WSKEY_ACCEPT_LEN + 1];
	char out[512];
	int n = -1;
	if (wskey_accept(req->ws_key.p, req->ws_key.n, accept) == 0)
		n = http_write_101(out, sizeof(out), accept, (struct http_str){NULL, 0});
	if (n < 0 || conn_queue(w, c, out, (size_t)n) != 0) {
		conn_close(w, c);
		return;
	}
	c->state = CONN_OPEN;
	ws_parser_init(&c->p.ws, WS_ROLE_SERVER, 0, &w->gw->limits);
	size_t len;
	uint8_t *p = rbuf_contig_data(&c->in, &len);
	if (head < len)
		echo_on_data(w, c, p + head, len - head);
	rbuf_release(&c->in, w->pool);
}

static void echo_on_control(struct worker *w, struct conn *c)
{
	size_t n;
	const uint8_t *payload = ws_parser_control_payload(&c->p.ws, &n);
	if (c->ctl_op == WS_OP_PING) {
		uint8_t frame[WS_HEADER_MAX + WS_CONTROL_MAX];
		size_t h = ws_encode_header(frame, WS_OP_PONG, true, n, NULL);
		memcpy(frame + h, payload, n);
		if (!(c->flags & CF_CLOSE_SENT) && conn_queue(w, c, frame, h + n) != 0)
			conn_close(w, c);
	} else if (c->ctl_op == WS_OP_CLOSE) {
		uint16_t code;
		const uint8_t *reason;
		size_t reason_len;
		ws_close_payload_split(payload, n, &code, &reason, &reason_len);
		c->flags |= CF_CLOSE_RCVD;
		echo_close(w, c, code == 1005 ? 0 : code, reason, reason_len);
	}
}

void echo_on_data(struct worker *w, struct conn *c, uint8_t *data, size_t len)
{
	while (len > 0 && c->state == CONN_OPEN && !(c->flags & CF_CLOSE_RCVD)) {
		if (!ws_parser_in_frame(&c->p.ws)) {
			/* The header is re-encoded unmasked below; the parsed bytes are not needed.
			 */
			struct ws_frame f;
			const uint8_t *hdr;
			size_t used, from_data;
			enum ws_rc rc =
			    conn_parse_frame_header(c, data, len, &f, &hdr, &used, &from_data);
			if (rc == WS_RC_MORE)
				return;
			if (rc == WS_RC_FAIL) {
				const char *why = ws_parser_fail_reason(&c->p.ws);
				echo_close(w, c, ws_parser_close_code(&c->p.ws),
				           (const uint8_t *)why, strlen(why));
				return;
			}
			data += from_data;
			len -= from_data;
			if (f.opcode & 0x8) {
				c->flags |= CF_CTL;
				c->ctl_op = f.opcode;
				if (!ws_parser_in_frame(&c->p.ws))
					echo_on_control(w, c);
				continue;
			}
			c->flags &= (uint16_t)~CF_CTL;
			uint8_t out[WS_HEADER_MAX];
			size_t h =
			    ws_encode_header(out, (enum ws_op)f.opcode, f.fin, f.payload_len, NULL);
			if (conn_queue(w, c, out, h) != 0) {
				conn_close(w, c);
				return;
			}
			continue;
		}
		size_t used;
		if (ws_parse_payload(&c->p.ws, data, len, 0, &used) != WS_RC_OK) {
			const char *why = ws_parser_fail_reason(&c->p.ws);
			echo_close(w, c, ws_parser_close_code(&c->p.ws), (const uint8_t *)why,
			           strlen(why));
			return;
		}
		if (!(c->flags & CF_CTL) && conn_queue(w, c, data, used) != 0) {
			conn_close(w, c);
			return;
		}
		data += used;
		len -= used;
		if ((c->flags & CF_CTL) && !ws_parser_in_frame(&c->p.ws))
			echo_on_control(w, c);
	}
	/* A client that sends faster than it reads: stop reading until our answers drain. */
	if (rbuf_len(&c->out) > CONN_OUT_HIGH)
		conn_pause(w, c);
}

void echo_on_gone(struct worker *w, struct conn *c, int err)
{
	(void)err;
	conn_close(w, c);
}
