/* core/tunnel_admin.c: the worker's half of the admin calls on connections (see
 * tunnel_admin.h): list, get, close, push, broadcast, run on the worker that owns the
 * tunnels, as commands from the control thread (core/admin_conns.c).
 *
 * Owns: the worker's index of tunnels by id (w->tadm_ix), the pending pushes of each tunnel
 * (t->push), and the reference counts of the frames they hold. Worker thread only, except
 * tadm_frame_unref (any thread).
 *
 * Index: open addressing with linear probing over owner-slab indices (4 bytes a slot, the id
 * itself is read from the tunnel), grown by doubling at half full and never shrunk, deleted
 * from by backward shift so that no tombstones build up. One insert at tunnel_start and one
 * delete at its free: nothing per message. A table that cannot grow (out of memory) leaves
 * that tunnel out of the index: the admin API then answers 404 for it, the tunnel is not
 * otherwise affected.
 *
 * Pushes and message boundaries: a pushed message must not land inside a message the
 * backend is sending (RFC 6455 5.4: the frames of one message are not interleaved with
 * another's; only control frames may come between them). The client's stream is between
 * messages when no backend frame is half forwarded (the backend leg's WSF_FWD_OPEN, which
 * also covers a held text frame) and the backend's parser has no fragmented message open
 * (ws_parser_in_message). Then the frame is queued at once; otherwise it waits on t->push
 * and the relay calls tunnel_admin_push_flush when a backend frame ends, which sends
 * everything pending once the message is over. The list is bounded (TADM_PENDING_MAX); a
 * client over it, or whose send queue is over CONN_OUT_HIGH, is refused (429), like one
 * that does not read. A push accepted while pending is lost if the tunnel closes first.
 *
 * Rejected: a walk of w->live_head for every call by id (a list of 100,000 conns per push);
 * encoding the slab index into the id (ids are the X-Request-Id and the access log's, NODE.N
 * by SPEC.md, and stay meaningful after the slot is reused); copying the frame per pending
 * tunnel (a broadcast to many clients in mid-message would copy it to each; a shared
 * reference-counted frame costs one atomic add per holder, per admin call); queueing the
 * push in the middle of the backend's message (a client would fail the connection, 1002). */
#include "core/tunnel_admin.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/bug.h"
#include "core/conn.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/tunnel.h"
#include "core/tunnel_int.h"
#include "router/rt.h"

#define TADM_IX_FIRST    64u /* first index capacity; doubles at half full */
#define TADM_PENDING_MAX 8u  /* pushes waiting on one tunnel; then 429 */

struct tadm_pending {
	struct tadm_pending *next;
	struct tadm_frame *frame; /* one reference */
};

void tadm_frame_unref(struct tadm_frame *f)
{
	if (f == NULL)
		return;
	/* acq_rel: the last holder sees every use of the frame before it frees it. */
	if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
		free(f);
}

/* ---- the index ---- */

static uint32_t tadm_hash(uint64_t id, uint32_t mask)
{
	return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static struct tunnel *tadm_ix_tunnel(const struct worker *w, uint32_t v)
{
	return slab_at(&w->owners, v - 1);
}

static void tadm_ix_put(uint32_t *ix, uint32_t mask, uint64_t id, uint32_t v)
{
	uint32_t i = tadm_hash(id, mask);
	while (ix[i] != 0)
		i = (i + 1) & mask;
	ix[i] = v;
}

static int tadm_ix_grow(struct worker *w)
{
	uint32_t cap = w->tadm_ix == NULL ? TADM_IX_FIRST : (w->tadm_ix_mask + 1) * 2;
	uint32_t *ix = calloc(cap, sizeof(*ix));
	if (ix == NULL)
		return -1;
	if (w->tadm_ix != NULL)
		for (uint32_t i = 0; i <= w->tadm_ix_mask; i++)
			if (w->tadm_ix[i] != 0)
				tadm_ix_put(ix, cap - 1, tadm_ix_tunnel(w, w->tadm_ix[i])->id,
				            w->tadm_ix[i]);
	free(w->tadm_ix);
	w->tadm_ix = ix;
	w->tadm_ix_mask = cap - 1;
	return 0;
}

void tunnel_admin_index_add(struct worker *w, struct tunnel *t)
{
	if ((w->tadm_ix == NULL || (w->tadm_ix_used + 1) * 2 > w->tadm_ix_mask + 1) &&
	    tadm_ix_grow(w) != 0) {
		WSG_WARN_ONCE(true); /* out of memory: this tunnel is not found by the admin API */
		return;
	}
	tadm_ix_put(w->tadm_ix, w->tadm_ix_mask, t->id, slab_index(&w->owners, t) + 1);
	w->tadm_ix_used++;
}

void tunnel_admin_index_del(struct worker *w, struct tunnel *t)
{
	if (w->tadm_ix == NULL)
		return;
	uint32_t mask = w->tadm_ix_mask, v = slab_index(&w->owners, t) + 1;
	uint32_t i = tadm_hash(t->id, mask);
	while (w->tadm_ix[i] != v) {
		if (w->tadm_ix[i] == 0)
			return; /* never indexed (the table could not grow) */
		i = (i + 1) & mask;
	}
	w->tadm_ix[i] = 0;
	w->tadm_ix_used--;
	/* Backward shift: an entry after the hole moves into it unless its home slot lies
	 * cyclically in (hole, entry], where a lookup would still reach it. */
	for (uint32_t j = (i + 1) & mask; w->tadm_ix[j] != 0; j = (j + 1) & mask) {
		uint32_t k = tadm_hash(tadm_ix_tunnel(w, w->tadm_ix[j])->id, mask);
		bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
		if (stays)
			continue;
		w->tadm_ix[i] = w->tadm_ix[j];
		w->tadm_ix[j] = 0;
		i = j;
	}
}

static struct tunnel *tadm_find(struct worker *w, uint64_t id)
{
	if (w->tadm_ix == NULL)
		return NULL;
	uint32_t mask = w->tadm_ix_mask;
	for (uint32_t i = tadm_hash(id, mask); w->tadm_ix[i] != 0; i = (i + 1) & mask) {
		struct tunnel *t = tadm_ix_tunnel(w, w->tadm_ix[i]);
		if (t->id == id)
			return t;
	}
	return NULL;
}

/* ---- pushes ---- */

/* The client leg can still take a data frame from the gateway. */
static bool tadm_client_open(const struct tunnel *t)
{
	const struct conn *c = t->client;
	return (t->flags & TF_OPEN) && c != NULL && c->state == CONN_OPEN &&
	       !(c->ws_flags & (WSF_CLOSE_SENT | WSF_CLOSE_RCVD | WSF_FAILED)) &&
	       !(c->flags & CF_SHUT_AFTER);
}

/* The client's stream is between two messages from the backend (see the note at the top). */
static bool tadm_at_boundary(const struct tunnel *t)
{
	const struct conn *b = t->backend;
	return b == NULL || (!(b->ws_flags & WSF_FWD_OPEN) && !ws_parser_in_message(&b->p.ws));
}

void tunnel_admin_push_drop(struct tunnel *t)
{
	while (t->push != NULL) {
		struct tadm_pending *p = t->push;
		t->push = p->next;
		tadm_frame_unref(p->frame);
		free(p);
	}
	t->n_push = 0;
}

int tunnel_admin_push_flush(struct worker *w, struct tunnel *t)
{
	if (!tadm_at_boundary(t))
		return 0;
	int rc = 0;
	while (t->push != NULL && rc == 0) {
		struct tadm_pending *p = t->push;
		t->push = p->next;
		t->n_push--;
		if (tadm_client_open(t))
			rc = conn_queue(w, t->client, p->frame->bytes, p->frame->len);
		tadm_frame_unref(p->frame);
		free(p);
	}
	if (rc != 0)
		tunnel_admin_push_drop(t);
	return rc;
}

/* One message to t's client: queued now at a boundary, else pending. 0 or -errno. */
static int tadm_push(struct worker *w, struct tunnel *t, struct tadm_frame *f)
{
	if (!tadm_client_open(t))
		return -ENOENT;
	uint64_t max = t->route->max_message ? t->route->max_message : w->gw->limits.message_max;
	if (f->payload_len > max)
		return -EMSGSIZE;
	if (conn_out_len(t->client) > CONN_OUT_HIGH || t->n_push >= TADM_PENDING_MAX)
		return -EAGAIN;
	if (t->push == NULL && tadm_at_boundary(t))
		return conn_queue(w, t->client, f->bytes, f->len) == 0 ? 0 : -ENOMEM;
	struct tadm_pending *p = malloc(sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
	p->frame = f;
	p->next = NULL;
	struct tadm_pending **tail = &t->push;
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = p;
	t->n_push++;
	return 0;
}

/* ---- listing ---- */

static bool tadm_peer_matches(const struct conn *c, const char *want)
{
	/* "1.2.3.4" or "::1": the address alone; "1.2.3.4:5" or "[::1]:5": with the port. */
	const char *colon = strchr(want, ':');
	bool with_port = want[0] == '[' || (colon != NULL && strchr(colon + 1, ':') == NULL);
	char buf[64];
	conn_peer_text(c, buf, sizeof(buf), with_port);
	return strcmp(buf, want) == 0;
}

static bool tadm_matches(const struct tunnel *t, const struct tadm_req *q)
{
	if (q->route != NULL && strcmp(t->route->path, q->route) != 0)
		return false;
	if (q->subject != NULL && (t->subject == NULL || strcmp(t->subject, q->subject) != 0))
		return false;
	if (q->peer != NULL && !tadm_peer_matches(t->client, q->peer))
		return false;
	return true;
}

static void tadm_fill(struct worker *w, const struct tunnel *t, struct tadm_info *o)
{
	o->id = t->id;
	rt_table_hold(t->table);
	o->table = t->table;
	o->route = t->route->path;
	o->backend = t->route->backends[t->current].url;
	conn_peer_text(t->client, o->peer, sizeof(o->peer), true);
	o->has_subject = t->subject != NULL;
	o->subject[0] = '\0';
	if (t->subject != NULL) {
		size_t n = strlen(t->subject);
		if (n >= sizeof(o->subject))
			n = sizeof(o->subject) - 1;
		memcpy(o->subject, t->subject, n);
		o->subject[n] = '\0';
	}
	o->has_rtt = (t->flags & TF_RTT) != 0;
	o->rtt_ms = t->ping_rtt_ms;
	o->age_ms = w->now_ms - t->created_ms;
	o->idle_ms = w->now_ms - t->last_data_ms;
	o->msgs_up = t->msgs_up;
	o->msgs_down = t->msgs_down;
	o->bytes_up = t->bytes_up;
	o->bytes_down = t->bytes_down;
	o->send_queue = conn_out_len(t->client);
}

/* Every open tunnel of w, through its client conn (the live list holds every conn). */
static struct tunnel *tadm_tunnel_of(const struct conn *c)
{
	if (c->role != CONN_CLIENT || c->ops != &tunnel__ops || c->owner == NULL)
		return NULL;
	struct tunnel *t = c->owner;
	return (t->flags & TF_OPEN) && t->client == c ? t : NULL;
}

static void tadm_list(struct worker *w, struct tadm_req *q)
{
	q->n = 0;
	for (struct conn *c = w->live_head; c != NULL && q->n < q->cap; c = c->live_next) {
		struct tunnel *t = tadm_tunnel_of(c);
		if (t != NULL && tadm_matches(t, q))
			tadm_fill(w, t, &q->out[q->n++]);
	}
}

static void tadm_broadcast(struct worker *w, struct tadm_req *q)
{
	q->sent = q->skipped = 0;
	for (struct conn *c = w->live_head; c != NULL; c = c->live_next) {
		struct tunnel *t = tadm_tunnel_of(c);
		if (t == NULL || !tadm_client_open(t) || !tadm_matches(t, q))
			continue;
		if (tadm_push(w, t, q->frame) == 0)
			q->sent++;
		else
			q->skipped++;
	}
}

static int tadm_close(struct worker *w, struct tunnel *t, const struct tadm_req *q)
{
	struct conn *c = t->client;
	if (c == NULL || c->state == CONN_CLOSING || (c->ws_flags & WSF_CLOSE_SENT))
		return -ENOENT;
	LOG_DEBUG("admin_close", "tunnel=%llu code=%u", (unsigned long long)t->id, q->code);
	const uint8_t *r = (const uint8_t *)q->reason;
	tunnel__send_close(w, t, t->client, q->code, r, q->reason_len);
	tunnel__send_close(w, t, t->backend, q->code, r, q->reason_len);
	return 0;
}

bool tunnel_admin_on_cmd(struct worker *w, struct cmdq_cmd *cmd)
{
	struct tadm_req *q = cmd->payload;
	struct tunnel *t;
	if (cmd->kind < TADM_LIST || cmd->kind > TADM_BROADCAST)
		return false;
	cmd->res = 0;
	switch ((enum tadm_cmd)cmd->kind) {
	case TADM_LIST:
		tadm_list(w, q);
		return true;
	case TADM_BROADCAST:
		tadm_broadcast(w, q);
		return true;
	case TADM_GET:
	case TADM_CLOSE:
	case TADM_PUSH:
		break;
	}
	t = tadm_find(w, q->id);
	if (t == NULL || !(t->flags & TF_OPEN) || t->client == NULL) {
		cmd->res = -ENOENT;
		return true;
	}
	switch ((enum tadm_cmd)cmd->kind) {
	case TADM_GET:
		q->n = 0;
		if (q->cap > 0)
			tadm_fill(w, t, &q->out[q->n++]);
		break;
	case TADM_CLOSE:
		cmd->res = tadm_close(w, t, q);
		break;
	case TADM_PUSH:
		cmd->res = tadm_push(w, t, q->frame);
		break;
	case TADM_LIST:
	case TADM_BROADCAST:
		break;
	}
	return true;
}
