/* core/tunnel_access.c: a finished connection as an access-log record (core/access_log.h).
 *
 * Owns: filling struct access_record from what the handshake and the tunnel know, and the
 * rule that each connection that sent a request head is logged exactly once: by the answer
 * that refused it (handshake.c, with the route when one matched), or, for a tunnel that got
 * no refusal, when its last leg is freed (101, or 499 when the client left before any answer,
 * nginx's convention). TF_LOGGED marks a tunnel already written.
 *
 * Cost: nothing unless --access-log is on; then one record copy and one wall-clock read per
 * connection, never per message. */
#include <string.h>
#include <time.h>

#include "core/access_log.h"
#include "core/conn.h"
#include "core/gateway.h"
#include "core/metrics.h"
#include "core/tunnel.h"
#include "core/worker.h"
#include "router/rt.h"

static void tunnel_access_copy(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void tunnel_access_log(struct worker *w, struct conn *c, struct tunnel *t,
                       const struct rt_route *route, uint16_t status, const char *reason)
{
	if (w->access == NULL && !access_log_on())
		return;
	if (t != NULL) {
		if (t->flags & TF_LOGGED)
			return;
		t->flags |= TF_LOGGED;
		route = t->route;
	}
	static _Thread_local struct access_record r;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	r.time_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	/* The handshake's deadline was set at accept: it says when the connection began. */
	uint64_t hs = w->gw->cfg->handshake_timeout_ms;
	uint64_t began = t != NULL                           ? t->created_ms
	                 : c != NULL && c->deadline_ms >= hs ? c->deadline_ms - hs
	                                                     : w->now_ms;
	r.duration_ms = w->now_ms > began ? w->now_ms - began : 0;
	r.status = status;
	r.id[0] = r.peer[0] = r.backend[0] = r.subject[0] = '\0';
	if (t != NULL) {
		tunnel_id_text(w, t, r.id, sizeof(r.id));
		if (t->route != NULL && t->current < t->route->n_backends)
			tunnel_access_copy(r.backend, sizeof(r.backend),
			                   t->route->backends[t->current].url);
		tunnel_access_copy(r.subject, sizeof(r.subject), t->subject);
		r.msgs_up = t->msgs_up;
		r.msgs_down = t->msgs_down;
		r.bytes_up = t->bytes_up;
		r.bytes_down = t->bytes_down;
	} else {
		r.msgs_up = r.msgs_down = r.bytes_up = r.bytes_down = 0;
	}
	if (c != NULL)
		conn_peer_text(c, r.peer, sizeof(r.peer), true);
	tunnel_access_copy(r.route, sizeof(r.route), route ? route->path : NULL);
	tunnel_access_copy(r.reason, sizeof(r.reason), reason);
	if (status != 101) {
		/* An answer of ours (or the backend's, relayed) ended it: no close frame. */
		r.close_code = 0;
		r.closed_by = status == 499 ? METRICS_SIDE_CLIENT : METRICS_SIDE_GATEWAY;
	} else if (t->flags & TF_CLOSE_SEEN) {
		r.close_code = t->close_code;
		r.closed_by = t->close_side;
	} else {
		r.close_code = 0;
		r.closed_by = ACCESS_CLOSED_BY_NONE;
	}
	access_ring_push(w->access, &r);
}
