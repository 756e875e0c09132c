/* core/handshake.c: wsgate's client side of the upgrade, in SPEC.md's order.
 *
 * Owns: a client conn from its accept to the end of its request head (the conn_ops it runs
 * on until a tunnel takes it), and the error answers (handshake_reject).
 *
 * The head accumulates in the conn's `in` rbuf (it starts at offset 0 of a fresh block and is
 * never consumed before the upgrade, so it stays contiguous). The parser remembers how far it
 * looked, so a slow client costs one scan of its bytes in total. Once the head is complete it
 * is tokenised once, into the dial state the tunnel keeps until the 101 (struct
 * tunnel_dial): route lookup (404) before the method and upgrade checks, then the limits
 * (503, 429), the Origin (403) and the token (401, core/admission_token.c), then the tunnel
 * dials a backend.
 *
 * On a TLS listener the conn's bytes pass through its TLS session first (core/conn_tls.c):
 * this file sees only plaintext, and --handshake-timeout covers the TLS handshake too (the
 * timer runs from the accept).
 *
 * Answers go out through the conn's send queue and the socket is closed once they are sent
 * (lingering close, so that a client still sending does not reset our answer away). */
#include "core/handshake.h"

#include <string.h>

#include "auth/iplimit.h"
#include "core/admission.h"
#include "core/admission_token.h"
#include "core/conn.h"
#include "core/conn_tls.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/tunnel.h"
#include "core/worker.h"
#include "proto/http_path.h"
#include "router/rt.h"

static void handshake_answer(struct worker *w, struct conn *c, const char *buf, int n)
{
	conn_pause(w, c);
	if (n > 0 && conn_queue(w, c, buf, (size_t)n) == 0)
		conn_shut_after_flush(w, c);
	else
		conn_close(w, c);
}

void handshake_reject(struct worker *w, struct conn *c, enum http_reject r)
{
	handshake_reject_retry(w, c, r, 1);
}

/* Every refusal ends here: counted, logged to the access log (with the route when one
 * matched; a tunnel's own route otherwise), answered. */
static void handshake_refuse(struct worker *w, struct conn *c, const struct rt_route *route,
                             enum http_reject r, unsigned retry_after_s)
{
	tunnel_access_log(w, c, (struct tunnel *)c->owner, route, http_reject_status(r),
	                  http_reject_name(r));
	char buf[512];
	int n = http_write_reject(buf, sizeof(buf), r, retry_after_s);
	LOG_DEBUG("handshake_reject", "slot=%u status=%u reason=%s", c->slot, http_reject_status(r),
	          http_reject_name(r));
	metrics_worker_reject(w->m, r);
	handshake_answer(w, c, buf, n);
}

void handshake_reject_retry(struct worker *w, struct conn *c, enum http_reject r,
                            unsigned retry_after_s)
{
	handshake_refuse(w, c, NULL, r, retry_after_s);
}

void handshake_reject_status(struct worker *w, struct conn *c, uint16_t status,
                             struct http_str reason)
{
	char buf[512];
	int n = http_write_status(buf, sizeof(buf), status, reason);
	LOG_DEBUG("handshake_reject", "slot=%u status=%u reason=backend_status", c->slot, status);
	tunnel_access_log(w, c, (struct tunnel *)c->owner, NULL, status, "backend_status");
	/* A backend's own answer relayed: counted with the backend's failures (the attempt
	 * did not upgrade), not as a rejection of ours. */
	handshake_answer(w, c, buf, n);
}

static void handshake_on_head(struct worker *w, struct conn *c, struct tunnel_dial *d)
{
	const struct http_request *req = &d->req;
	/* SPEC.md: the route is matched on the normalised path, which is also what the
	 * backend receives; a path that cannot be normalised safely is 400. */
	size_t plen;
	/* In place, over the request's own bytes in c->in (ours, writable, and not moved until
	 * the 101): the result is never longer, and nothing reads the raw path afterwards (the
	 * views of the query and the headers lie after it). A copy would cost the dial state a
	 * head-sized buffer. */
	char *path = (char *)req->path.p;
	d->path = path;
	if (http_path_normalize(path, req->path.n, path, req->path.n, &plen) != 0) {
		slab_free(&w->handshakes, d);
		handshake_reject(w, c, HTTP_REJ_MALFORMED);
		return;
	}
	d->path_len = plen;
	/* A client may split its subprotocol offers over several header lines. */
	int offered_len =
	    http_join_header(req, "sec-websocket-protocol", d->offered, sizeof(d->offered));
	if (offered_len < 0) {
		slab_free(&w->handshakes, d);
		handshake_reject(w, c, HTTP_REJ_MALFORMED);
		return;
	}
	d->offered_len = (size_t)offered_len;
	const struct rt_table *table = rt_acquire();
	const struct rt_route *route =
	    table ? rt_lookup(table, d->path, d->path_len, d->offered, d->offered_len) : NULL;
	enum http_reject r = HTTP_REJ_NONE;
	if (route == NULL)
		r = HTTP_REJ_NO_ROUTE;
	else
		r = http_check_upgrade(req);
	if (r == HTTP_REJ_NONE && ((c->ws_flags & WSF_OVER_LIMIT) || w->draining))
		r = HTTP_REJ_OVERLOADED;
	unsigned retry_after = 1;
	if (r == HTTP_REJ_NONE)
		r = (enum http_reject)admission_limits(w, c, &retry_after);
	/* SPEC.md: limits first, then the origin, then the token, so that floods are turned
	 * away before anything costlier. */
	if (r == HTTP_REJ_NONE && !admission_origin_allowed(table, route, req))
		r = HTTP_REJ_ORIGIN;
	if (r == HTTP_REJ_NONE)
		r = (enum http_reject)admission_token_check(w, c, route, req, &d->auth);
	else
		d->auth.where = ADM_TOKEN_NONE;
	if (r != HTTP_REJ_NONE) {
		slab_free(&w->handshakes, d);
		handshake_refuse(w, c, route, r, retry_after);
		return;
	}
	tunnel_start(w, c, d, table, route);
}

static void handshake_on_data(struct worker *w, struct conn *c, uint8_t *data, size_t len)
{
	struct gateway *gw = w->gw;
	if (rbuf_append(&c->in, w->pool, data, len) != 0) {
		handshake_reject(w, c, HTTP_REJ_OVERLOADED);
		return;
	}
	size_t n;
	const char *head = (const char *)rbuf_contig_data(&c->in, &n);
	struct tunnel_dial *d = slab_alloc(&w->handshakes);
	if (d == NULL) {
		metrics_worker_slab_exhausted(w->m, METRICS_SLAB_TUNNEL);
		handshake_reject(w, c, HTTP_REJ_OVERLOADED);
		return;
	}
	size_t used;
	switch (http_parse_request(&c->p.http, head, n, &gw->limits, &d->req, &used)) {
	case HTTP_RC_MORE:
		slab_free(&w->handshakes, d);
		return;
	case HTTP_RC_FAIL:
		slab_free(&w->handshakes, d);
		handshake_reject(w, c, http_parser_reject(&c->p.http));
		return;
	case HTTP_RC_OK:
		break;
	}
	/* The head is complete: the handshake timer has done its job. */
	conn_del_timer(w, c);
	/* Slab objects are not zeroed (STYLE.md 5): every field is set here or below. */
	d->head_len = used;
	d->first = 0;
	d->tries = 0;
	d->timeouts = 0;
	d->key[0] = '\0';
	handshake_on_head(w, c, d);
}

static void handshake_on_timer(struct worker *w, struct conn *c)
{
	/* SPEC.md: on expiry the socket is closed without an answer. */
	LOG_DEBUG("handshake_timeout", "slot=%u", c->slot);
	conn_close(w, c);
}

static const struct conn_ops handshake_ops = {
    .on_data = handshake_on_data,
    .on_timer = handshake_on_timer,
    .on_free = admission_release,
};

void handshake_on_accept(struct worker *w, struct conn *c, bool over_limit)
{
	c->ops = &handshake_ops;
	c->ip_ref = IPLIMIT_REF_NONE;
	c->stamp_us = (uint32_t)w->now_us; /* handshake_duration_seconds runs from here */
	if (over_limit)
		c->ws_flags |= WSF_OVER_LIMIT;
	if (c->kind == CONN_KIND_TLS && conn_tls_attach_server(w, c, conn_tls_current()) != 0) {
		/* Out of memory (or no certificate loaded): nothing can be answered in clear. */
		conn_close(w, c);
		return;
	}
	if (log_enabled(CFG_LOG_DEBUG)) {
		char p[64];
		conn_peer_text(c, p, sizeof(p), true);
		LOG_DEBUG("conn_accept", "slot=%u peer=%s", c->slot, p);
	}
	c->deadline_ms = w->now_ms + w->gw->cfg->handshake_timeout_ms;
	conn_set_timer(w, c, c->deadline_ms);
	conn_arm_recv(w, c);
}

void handshake_drain(struct worker *w)
{
	for (struct conn *c = w->live_head, *next; c != NULL; c = next) {
		next = c->live_next;
		if (c->role != CONN_CLIENT || c->state == CONN_CLOSING)
			continue;
		if (c->owner != NULL)
			tunnel_drain(w, (struct tunnel *)c->owner);
		/* Handshakes still reading their head get 503 when it completes. */
	}
}
