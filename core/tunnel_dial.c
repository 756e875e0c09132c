/* core/tunnel_dial.c: dialling a route's backends and the backend side of the upgrade.
 *
 * Owns: the dial state of a tunnel (struct tunnel_dial, from the worker's handshake slab):
 * the client's request parsed once into views of client->in, the joined subprotocol offer,
 * our Sec-WebSocket-Key and the attempts so far. It lives from the end of the client's head
 * to the 101 (or the rejection), so an open tunnel keeps none of it. client->in does not
 * move meanwhile: the client conn is paused, so nothing is appended to it.
 *
 * Backends are tried from the balancer's pick onward, each at most once; a refused connect,
 * a failed upgrade or --connect-timeout moves to the next; the client gets 504 when every
 * attempt timed out, 502 otherwise, or the backend's own non-101 status relayed. Backends that
 * are down (router/health.h: active checks, or --max-fails passive ones) are passed over
 * without a dial, so a route whose backends are all down answers 502 at once. Each failed
 * attempt is a passive-check failure; each attempt holds one least-conn count
 * (lb_conn_acquire) from its dial until it fails or its backend conn is freed (TF_LB_HELD).
 *
 * Rejected: parsing the client's head again for every attempt (the previous design kept
 * nothing but re-tokenised the head up to three times per connection). */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/bug.h"
#include "core/conn_tls.h"
#include "core/gateway.h"
#include "core/handshake.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/tunnel_int.h"
#include "core/worker.h"
#include "router/health.h"
#include "router/lb.h"
#include "router/rt.h"

void tunnel__dial_free(struct worker *w, struct tunnel *t)
{
	if (t->dial != NULL) {
		slab_free(&w->handshakes, t->dial);
		t->dial = NULL;
	}
}

/* The key of the hash policies: the client's address (an IPv4-mapped IPv6 address hashes
 * as the IPv4 one), or the first value of the route's header; false when there is none. */
static bool tunnel_lb_key(const struct tunnel *t, uint64_t *key)
{
	const struct rt_route *r = t->route;
	const struct conn *c = t->client;
	if (r->lb == RT_LB_IP_HASH) {
		if (c->peer.sa.sa_family == AF_INET) {
			*key = lb_hash_bytes(&c->peer.in4.sin_addr, 4);
			return true;
		}
		if (c->peer.sa.sa_family == AF_INET6) {
			const struct in6_addr *a = &c->peer.in6.sin6_addr;
			*key = IN6_IS_ADDR_V4MAPPED(a) ? lb_hash_bytes(a->s6_addr + 12, 4)
			                               : lb_hash_bytes(a->s6_addr, 16);
			return true;
		}
		return false;
	}
	if (r->lb == RT_LB_HEADER_HASH && r->lb_header != NULL) {
		const struct http_request *req = &t->dial->req;
		size_t n = strlen(r->lb_header);
		for (unsigned i = 0; i < req->n_headers; i++) {
			const struct http_header *h = &req->headers[i];
			if (h->name.n == n && strncasecmp(h->name.p, r->lb_header, n) == 0) {
				*key = lb_hash_bytes(h->value.p, h->value.n);
				return true;
			}
		}
	}
	return false;
}

void tunnel__dial_pick(struct worker *w, struct tunnel *t)
{
	const struct rt_route *r = t->route;
	struct tunnel_dial *d = t->dial;
	/* Round robin is kept per worker and per route (a shared counter would let two routes
	 * taking turns see only every other backend). */
	if (w->lb_seq == NULL) /* once per worker: not per message */
		w->lb_seq = calloc(METRICS_ROUTE_SLOTS, sizeof(*w->lb_seq));
	uint64_t seq;
	if (w->lb_seq != NULL && r->stat_slot < METRICS_ROUTE_SLOTS)
		seq = w->lb_seq[r->stat_slot]++;
	else
		seq = w->seq++;
	uint64_t key;
	bool has_key = tunnel_lb_key(t, &key);
	uint32_t first = lb_pick(r, seq, has_key ? &key : NULL, w->now_ms);
	/* LB_NONE (all down): tunnel__dial_next passes over every backend and answers 502. */
	d->first = first == LB_NONE ? 0 : (uint16_t)first;
	d->skipped = 0;
}

void tunnel__lb_release(struct tunnel *t)
{
	if (!(t->flags & TF_LB_HELD))
		return;
	t->flags &= (uint16_t)~TF_LB_HELD;
	lb_conn_release(t->route->backends[t->current].stat_slot);
}

static void tunnel_give_up(struct worker *w, struct tunnel *t)
{
	struct tunnel_dial *d = t->dial;
	unsigned attempts = (unsigned)d->tries - d->skipped;
	enum http_reject r = d->timeouts > 0 && d->timeouts == attempts ? HTTP_REJ_GATEWAY_TIMEOUT
	                                                                : HTTP_REJ_BAD_GATEWAY;
	LOG_DEBUG("backend_give_up", "tunnel=%llu tries=%u down=%u status=%u",
	          (unsigned long long)t->id, attempts, d->skipped, http_reject_status(r));
	tunnel__dial_free(w, t);
	handshake_reject(w, t->client, r);
}

void tunnel__backend_failed(struct worker *w, struct tunnel *t, bool timed_out, const char *why)
{
	struct conn *b = t->backend;
	const struct rt_backend *be = &t->route->backends[t->current];
	const struct wsg_config *cfg = w->gw->cfg;
	if (timed_out)
		t->dial->timeouts++;
	metrics_worker_backend_failure(w->m, be->stat_slot);
	tunnel__lb_release(t);
	/* Passive check: our own shortage (memory) says nothing about the backend. */
	if (strcmp(why, "memory") != 0 &&
	    health_passive_fail(be->stat_slot, w->now_ms, cfg->max_fails, cfg->fail_timeout_ms))
		LOG_WARN("backend_down", "backend=%s check=passive fails=%u within_ms=%llu",
		         be->url, cfg->max_fails, (unsigned long long)cfg->fail_timeout_ms);
	if (b != NULL) {
		LOG_DEBUG("backend_fail", "tunnel=%llu backend=%s why=%s",
		          (unsigned long long)t->id, t->route->backends[t->current].url, why);
		t->backend = NULL;
		b->owner = NULL;
		conn_close(w, b);
	}
	if (t->client == NULL || t->client->state == CONN_CLOSING)
		return;
	tunnel__dial_next(w, t);
}

/* Writes our upgrade request for backend b into bc's send queue. */
static int tunnel_write_request(struct worker *w, struct tunnel *t, struct conn *bc,
                                const struct rt_backend *b)
{
	struct tunnel_dial *d = t->dial;
	const struct http_request *req = &d->req;
	struct conn *c = t->client;

	/* The backend URL's path, then the client's (up to a whole head's worth). */
	static _Thread_local char
	    path[WSG_HEAD_MAX_DEFAULT + 2048]; /* + a backend URL (<= 2 KiB) */
	int plen = rt_backend_path(t->route, b, d->path, d->path_len, path, sizeof(path));
	if (plen < 0)
		return -1;
	uint8_t nonce[16];
	uint64_t r1 = worker_random(w), r2 = worker_random(w);
	memcpy(nonce, &r1, 8);
	memcpy(nonce + 8, &r2, 8);
	wskey_encode(nonce, d->key);

	char peer[INET6_ADDRSTRLEN + 2];
	conn_peer_text(c, peer, sizeof(peer), false);
	char id[TUNNEL_ID_TEXT_MAX];
	int id_len = tunnel_id_text(w, t, id, sizeof(id));
	struct http_upgrade_out u;
	memset(&u, 0, sizeof(u));
	u.req = req;
	u.path_prefix = (struct http_str){"", 0};
	u.path = (struct http_str){path, (size_t)plen};
	u.query = req->query;
	u.key = (struct http_str){d->key, WSKEY_KEY_LEN};
	u.protocol = (struct http_str){d->offered, d->offered_len};
	u.trust_forwarded = w->gw->cfg->trust_forwarded;
	u.forwarded_for = (struct http_str){peer, strlen(peer)};
	u.forwarded_proto =
	    c->kind == CONN_KIND_TLS ? (struct http_str){"https", 5} : (struct http_str){"http", 4};
	u.request_id = (struct http_str){id, (size_t)id_len};
	/* X-Auth-Subject, and the verified token withheld from where it was found (unless the
	 * route forwards it). */
	struct http_header_set drop;
	http_header_set_init(&drop);
	u.drop = &drop;
	struct http_header extra[1];
	static _Thread_local char strip[WSG_HEAD_MAX_DEFAULT];
	if (admission_token_apply(&d->auth, t->route, req, &u, &drop, extra, strip,
	                          sizeof(strip)) != 0)
		return -1;

	static _Thread_local char out[HTTP_UPGRADE_OUT_MAX];
	int len = http_write_upgrade_request(out, sizeof(out), &u);
	if (len < 0)
		return -1;
	return conn_queue(w, bc, out, (size_t)len);
}

void tunnel__dial_next(struct worker *w, struct tunnel *t)
{
	const struct rt_route *route = t->route;
	struct tunnel_dial *d = t->dial;
	while (d->tries < route->n_backends) {
		unsigned idx = (d->first + d->tries) % route->n_backends;
		d->tries++;
		t->current = (uint16_t)idx;
		const struct rt_backend *b = &route->backends[idx];
		if (!health_backend_is_up(b->stat_slot, w->now_ms)) {
			d->skipped++;
			continue;
		}
		metrics_worker_backend_attempt(w->m, b->stat_slot);
		int fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			/* Out of fds: a failed attempt; say why at most once a second. */
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
		struct conn *bc = conn_new(w, fd, CONN_BACKEND, &tunnel__ops);
		if (bc == NULL) {
			close(fd);
			tunnel__dial_free(w, t);
			handshake_reject(w, t->client, HTTP_REJ_OVERLOADED);
			return;
		}
		bc->owner = t;
		t->backend = bc;
		lb_conn_acquire(b->stat_slot);
		t->flags |= TF_LB_HELD;
		if (b->addr_len <= sizeof(bc->peer))
			memcpy(&bc->peer, &b->addr, b->addr_len);
		if (b->tls) {
			/* wss://: a TLS client session (SNI and, unless the route says
			 * tls-verify=false, the chain and the host name checked); a failed
			 * verification is a failed attempt like a refused connect. */
			struct tls_ctx *ctx = atomic_load_explicit(
			    &w->gw->tls_client[route->tls_no_verify ? 1 : 0], memory_order_acquire);
			bc->kind = CONN_KIND_TLS;
			void *resume =
			    w->tls_resume != NULL && b->stat_slot != METRICS_SLOT_OVERFLOW
			        ? w->tls_resume[b->stat_slot]
			        : NULL;
			if (conn_tls_attach_client(w, bc, ctx, b->host, resume) != 0) {
				tunnel__backend_failed(w, t, false, "tls");
				return;
			}
		}
		if (tunnel_write_request(w, t, bc, b) != 0) {
			tunnel__lb_release(t);
			t->backend = NULL;
			bc->owner = NULL;
			conn_close(w, bc);
			tunnel__dial_free(w, t);
			handshake_reject(w, t->client, HTTP_REJ_BAD_GATEWAY);
			return;
		}
		conn_connect(w, bc, b->addr_len);
		bc->deadline_ms = w->now_ms + w->gw->cfg->connect_timeout_ms;
		conn_set_timer(w, bc, bc->deadline_ms);
		return;
	}
	tunnel_give_up(w, t);
}

/* A wss:// backend upgraded: keep its TLS session (the server's ticket has come by now, ahead
 * of its 101) so the next dial to it resumes. One per backend per worker; the newest wins. */
static void tunnel_remember_tls(struct worker *w, struct tunnel *t, struct conn *b)
{
	uint32_t slot = t->route->backends[t->current].stat_slot;
	if (slot == METRICS_SLOT_OVERFLOW || slot >= METRICS_BACKEND_SLOTS)
		return;
	if (w->tls_resume == NULL) {
		/* Control-path allocation, once per worker: not per message. */
		w->tls_resume = calloc(METRICS_BACKEND_SLOTS, sizeof(*w->tls_resume));
		if (w->tls_resume == NULL)
			return;
	}
	void *saved = conn_tls_save(b);
	if (saved == NULL)
		return;
	conn_tls_saved_free(w->tls_resume[slot]);
	w->tls_resume[slot] = saved;
	LOG_DEBUG("tls_upstream", "tunnel=%llu resumed=%d", (unsigned long long)t->id,
	          conn_tls_resumed(b));
}

/* The backend answered 101 and it checks out: answer the client. */
static void tunnel_answer_client(struct worker *w, struct tunnel *t,
                                 const struct http_response *resp, size_t resp_len)
{
	struct conn *c = t->client, *b = t->backend;
	struct tunnel_dial *d = t->dial;
	char accept[WSKEY_ACCEPT_LEN + 1];
	char out[1024];
	int len = -1;
	if (wskey_accept(d->req.ws_key.p, d->req.ws_key.n, accept) == 0)
		len = http_write_101(out, sizeof(out), accept, resp->ws_protocol);
	if (len < 0 || conn_queue(w, c, out, (size_t)len) != 0) {
		tunnel__dial_free(w, t);
		handshake_reject(w, c, HTTP_REJ_BAD_GATEWAY);
		return;
	}
	size_t head_len = d->head_len;
	tunnel__dial_free(w, t);
	tunnel__opened(w, t);

	/* Frames that came along with either head are relayed now, then the heads go. The
	 * views into client->in died with the dial state above. */
	size_t n;
	if (rbuf_len(&b->in) > resp_len) {
		uint8_t *p = rbuf_contig_data(&b->in, &n);
		tunnel__relay(w, t, b, p + resp_len, n - resp_len);
	}
	rbuf_release(&b->in, w->pool);
	if (c->state == CONN_OPEN && rbuf_len(&c->in) > head_len) {
		uint8_t *p = rbuf_contig_data(&c->in, &n);
		tunnel__relay(w, t, c, p + head_len, n - head_len);
	}
	rbuf_release(&c->in, w->pool);
	if (c->state == CONN_OPEN && !(c->ws_flags & WSF_FAILED) &&
	    conn_out_len(b) <= CONN_OUT_HIGH)
		conn_resume(w, c);
}

void tunnel__on_backend_head(struct worker *w, struct tunnel *t, struct conn *b,
                             const uint8_t *data, size_t len)
{
	if (rbuf_append(&b->in, w->pool, data, len) != 0) {
		tunnel__backend_failed(w, t, false, "memory");
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
		tunnel__backend_failed(w, t, false, "bad response");
		return;
	case HTTP_RC_OK:
		break;
	}
	if (resp.status != 101) {
		/* SPEC.md: a backend's non-101 answer is relayed as it is. */
		metrics_worker_backend_failure(w->m, t->route->backends[t->current].stat_slot);
		tunnel__lb_release(t);
		tunnel__dial_free(w, t);
		handshake_reject_status(w, t->client, resp.status, resp.reason);
		t->backend = NULL;
		b->owner = NULL;
		conn_close(w, b);
		return;
	}
	struct tunnel_dial *d = t->dial;
	if (!http_response_is_upgrade(&resp, (struct http_str){d->key, WSKEY_KEY_LEN},
	                              (struct http_str){d->offered, d->offered_len})) {
		tunnel__backend_failed(w, t, false, "bad upgrade");
		return;
	}
	conn_del_timer(w, b);
	if (b->kind == CONN_KIND_TLS)
		tunnel_remember_tls(w, t, b);
	tunnel_answer_client(w, t, &resp, used);
}
