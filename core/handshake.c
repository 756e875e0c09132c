/* The client side of the upgrade, in SPEC.md's order.
 *
 * The head accumulates in the conn's `in` rbuf (it starts at offset 0 of a fresh block and is
 * never consumed before the upgrade, so it stays contiguous). The parser remembers how far it
 * looked, so a slow client costs one scan of its bytes in total. Once the head is complete:
 * route lookup (404) before the method and upgrade checks, then the limits (503), then the
 * tunnel dials a backend. The head stays in `in` until the 101 is sent: the tunnel parses it
 * again instead of copying any of it, so an open tunnel keeps none of it.
 *
 * Answers go out through the conn's send queue and the socket is closed once they are sent. */
#include "core/handshake.h"

#include <string.h>

#include "core/conn.h"
#include "core/echo.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/tunnel.h"
#include "router/rt.h"

static void handshake_count_reject(struct worker *w)
{
	atomic_store_explicit(
	    &w->stats.handshake_rejects,
	    atomic_load_explicit(&w->stats.handshake_rejects, memory_order_relaxed) + 1,
	    memory_order_relaxed);
}

void handshake_reject(struct worker *w, struct conn *c, enum http_reject r)
{
	char buf[512];
	int n = http_write_reject(buf, sizeof(buf), r, 1);
	handshake_count_reject(w);
	LOG_DEBUG("handshake_reject", "slot=%u status=%u reason=%s", c->slot, http_reject_status(r),
	          http_reject_name(r));
	conn_pause(w, c);
	if (n > 0 && conn_queue(w, c, buf, (size_t)n) == 0)
		conn_shut_after_flush(w, c);
	else
		conn_close(w, c);
}

void handshake_reject_status(struct worker *w, struct conn *c, uint16_t status,
                             struct http_str reason)
{
	char buf[512];
	int n = http_write_status(buf, sizeof(buf), status, reason);
	handshake_count_reject(w);
	LOG_DEBUG("handshake_reject", "slot=%u status=%u reason=backend_status", c->slot, status);
	conn_pause(w, c);
	if (n > 0 && conn_queue(w, c, buf, (size_t)n) == 0)
		conn_shut_after_flush(w, c);
	else
		conn_close(w, c);
}

void handshake_on_data(struct worker *w, struct conn *c, const uint8_t *data, size_t len)
{
	struct gateway *gw = w->gw;
	if (rbuf_append(&c->in, w->pool, data, len) != 0) {
		handshake_reject(w, c, HTTP_REJ_OVERLOADED);
		return;
	}
	size_t n;
	const char *head = (const char *)rbuf_contig_data(&c->in, &n);
	struct http_request req;
	size_t used;
	switch (http_parse_request(&c->p.http, head, n, &gw->limits, &req, &used)) {
	case HTTP_RC_MORE:
		return;
	case HTTP_RC_FAIL:
		handshake_reject(w, c, http_parser_reject(&c->p.http));
		return;
	case HTTP_RC_OK:
		break;
	}

	/* The head is complete: the handshake timer has done its job. */
	twheel_del(&w->wheel, &c->timer);

	if (gw->mode == GW_MODE_ECHO) {
		enum http_reject r = http_check_upgrade(&req);
		if (r != HTTP_REJ_NONE) {
			handshake_reject(w, c, r);
			return;
		}
		echo_accept(w, c, &req, used);
		return;
	}

	/* A client may split its subprotocol offers over several header lines. */
	char offered[1024];
	int offered_len =
	    http_join_header(&req, "sec-websocket-protocol", offered, sizeof(offered));
	if (offered_len < 0) {
		handshake_reject(w, c, HTTP_REJ_MALFORMED);
		return;
	}
	const struct rt_table *table = rt_acquire();
	const struct rt_route *route =
	    table ? rt_lookup(table, req.path.p, req.path.n, offered, (size_t)offered_len) : NULL;
	if (route == NULL) {
		handshake_reject(w, c, HTTP_REJ_NO_ROUTE);
		return;
	}
	enum http_reject r = http_check_upgrade(&req);
	if (r != HTTP_REJ_NONE) {
		handshake_reject(w, c, r);
		return;
	}
	if ((c->flags & CF_OVER_LIMIT) || w->draining) {
		handshake_reject(w, c, HTTP_REJ_OVERLOADED);
		return;
	}
	tunnel_start(w, c, table, route);
}
