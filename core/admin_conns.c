/* core/admin_conns.c: the control thread's half of GET /connections, GET and DELETE
 * /connections/ID, POST /connections/ID/messages and POST /broadcast (SPEC.md "Admin API").
 * The worker's half is core/tunnel_admin.c.
 *
 * Owns: struct admin_call, one per call in flight: the admin client it answers (NULL once
 * that client is gone), the payloads lent to the workers (one struct tadm_req per worker
 * asked, the listing arrays, the control thread's reference to a pushed frame) and how many
 * replies are still due. Control thread only.
 *
 * A call on one connection goes to the worker that owns it, which the id says (NODE.N: N
 * modulo the number of workers, tunnel_start); one that lists or broadcasts goes to every
 * worker. Each command is pushed on the worker's cmdq and rung; the admin client waits
 * (admin__wait: no events) and the control thread goes on with its loop. Replies come back
 * through gateway_take_replies -> admin_on_reply; the last one builds the answer, and only
 * then are the payloads freed, never earlier: a client that left, or a call answered 504 by
 * the sweep, still keeps its payloads until every worker has replied, because until then a
 * worker may be writing into them (cmdq.h's loan). So nothing here ever waits for a worker.
 *
 * Bounds: a listing asks each worker for at most `limit` entries (<= 10,000) and keeps at
 * most `limit` of their union (by id); the payloads of all calls in flight together stay
 * under ADMIN_CALLS_MEM_MAX, and each worker's cmdq holds at most 64 commands: past either,
 * the call is 503. A push's body is at most 1 MiB (admin.c) and --max-message (here, and the
 * route's max-message on the worker); its frame is encoded once here and shared by every
 * worker and tunnel it goes to (struct tadm_frame, reference counted).
 *
 * Rejected: answering from a snapshot the workers publish periodically (stale, and a cost on
 * every worker whether or not anyone asks); waiting in place for the replies (the control
 * thread also runs the drain, reloads and health checks, and one slow worker would stall
 * them all); a worker that formats JSON (the escaping and the allocation belong here, off
 * the hot thread). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core/admin_api_int.h"
#include "core/bug.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/tunnel.h"
#include "core/tunnel_admin.h"
#include "core/worker.h"
#include "proto/utf8.h"
#include "proto/ws.h"
#include "router/rt.h"

#define ADMIN_CALL_WAIT_MS  2000u       /* the workers' replies, then 504 */
#define ADMIN_CALLS_MEM_MAX (64u << 20) /* payloads of every call in flight, then 503 */

struct admin_call {
	struct admin_call *next;
	uint64_t id;               /* cmdq_cmd.id of its commands */
	struct admin_conn *ac;     /* who gets the answer; NULL: nobody (gone, or answered 504) */
	enum admin_call_kind kind; /* which call */
	enum admin_method method;
	unsigned waiting; /* replies still due */
	bool failed;      /* a command could not be queued (the answer is then 503) */
	int res;          /* calls on one connection: the reply's res */
	uint64_t deadline_ms;
	size_t mem;               /* counted in admin_calls.mem */
	struct admin_req rq;      /* the parsed call; the filters lent to workers live here */
	struct tadm_frame *frame; /* push, broadcast: the control thread's reference */
	unsigned n_reqs;
	struct tadm_req *reqs;   /* lent: [worker] for listings and broadcasts, [0] otherwise */
	struct tadm_info *infos; /* lent: reqs[i].out points into it */
};

struct admin_calls {
	struct admin_call *head; /* calls in flight, newest first */
	uint64_t next_id;
	size_t mem;
};

static uint64_t admin_conns_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct admin_calls *admin__calls_new(void)
{
	return calloc(1, sizeof(struct admin_calls));
}

/* ---- answers ---- */

static bool admin_add_u64(cJSON *o, const char *k, uint64_t v)
{
	return cJSON_AddNumberToObject(o, k, (double)v) != NULL;
}

static cJSON *admin_info_json(const struct gateway *gw, const struct tadm_info *in)
{
	char id[TUNNEL_ID_TEXT_MAX];
	snprintf(id, sizeof(id), "%s.%llu", gw->id_prefix, (unsigned long long)in->id);
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL && cJSON_AddStringToObject(o, "id", id) != NULL &&
	          cJSON_AddStringToObject(o, "peer", in->peer) != NULL &&
	          cJSON_AddStringToObject(o, "route", in->route) != NULL &&
	          cJSON_AddStringToObject(o, "backend", in->backend ? in->backend : "") != NULL;
	if (ok)
		ok = (in->has_subject ? cJSON_AddStringToObject(o, "subject", in->subject)
		                      : cJSON_AddNullToObject(o, "subject")) != NULL;
	ok = ok && admin_add_u64(o, "age_ms", in->age_ms) &&
	     admin_add_u64(o, "idle_ms", in->idle_ms);
	if (ok)
		ok = (in->has_rtt ? cJSON_AddNumberToObject(o, "ping_rtt_ms", in->rtt_ms)
		                  : cJSON_AddNullToObject(o, "ping_rtt_ms")) != NULL;
	ok = ok && admin_add_u64(o, "msgs_up", in->msgs_up) &&
	     admin_add_u64(o, "msgs_down", in->msgs_down) &&
	     admin_add_u64(o, "bytes_up", in->bytes_up) &&
	     admin_add_u64(o, "bytes_down", in->bytes_down) &&
	     admin_add_u64(o, "send_queue_bytes", in->send_queue);
	if (!ok) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

/* Answers with root printed (and deletes it); 503 when anything ran out of memory. */
static void admin_answer_json(struct admin *a, struct admin_conn *ac, unsigned status, cJSON *root,
                              bool ok)
{
	char *text = ok && root != NULL ? cJSON_PrintUnformatted(root) : NULL;
	cJSON_Delete(root);
	if (text == NULL) {
		admin__answer_error(a, ac, 503, "out of memory");
		return;
	}
	size_t n = strlen(text);
	char *line = malloc(n + 2);
	if (line == NULL) {
		cJSON_free(text);
		admin__answer_error(a, ac, 503, "out of memory");
		return;
	}
	memcpy(line, text, n);
	memcpy(line + n, "\n", 2);
	cJSON_free(text);
	admin__answer(a, ac, status, line);
	free(line);
}

static int admin_info_by_id(const void *x, const void *y)
{
	const struct tadm_info *p = *(const struct tadm_info *const *)x;
	const struct tadm_info *q = *(const struct tadm_info *const *)y;
	return p->id < q->id ? -1 : p->id > q->id;
}

static void admin_answer_list(struct admin *a, struct admin_conn *ac, struct admin_call *c)
{
	struct gateway *gw = admin__gw(a);
	size_t total = 0;
	for (unsigned i = 0; i < c->n_reqs; i++)
		total += c->reqs[i].n;
	const struct tadm_info **all = malloc((total ? total : 1) * sizeof(*all));
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = root != NULL ? cJSON_AddArrayToObject(root, "connections") : NULL;
	bool ok = all != NULL && arr != NULL;
	if (ok) {
		size_t k = 0;
		for (unsigned i = 0; i < c->n_reqs; i++)
			for (uint32_t j = 0; j < c->reqs[i].n; j++)
				all[k++] = &c->reqs[i].out[j];
		qsort(all, total, sizeof(*all), admin_info_by_id);
		if (total > c->rq.limit)
			total = c->rq.limit;
		for (size_t j = 0; ok && j < total; j++) {
			cJSON *o = admin_info_json(gw, all[j]);
			ok = o != NULL && cJSON_AddItemToArray(arr, o);
		}
	}
	free(all);
	admin_answer_json(a, ac, 200, root, ok);
}

static void admin_answer_one(struct admin *a, struct admin_conn *ac, struct admin_call *c)
{
	switch (c->res) {
	case 0:
		break;
	case -ENOENT:
		admin__answer_error(a, ac, 404, "unknown connection");
		return;
	case -EAGAIN:
		admin__answer_error(a, ac, 429, "the client's send queue is full");
		return;
	case -EMSGSIZE:
		admin__answer_error(a, ac, 413, "message over the route's max-message");
		return;
	default:
		admin__answer_error(a, ac, 503, "the worker could not do it (out of memory)");
		return;
	}
	if (c->kind == ADMIN_CALL_CONN && c->method != ADMIN_M_DELETE) {
		if (c->reqs[0].n == 0) {
			admin__answer_error(a, ac, 404, "unknown connection");
			return;
		}
		cJSON *o = admin_info_json(admin__gw(a), &c->reqs[0].out[0]);
		admin_answer_json(a, ac, 200, o, o != NULL);
		return;
	}
	admin__answer(a, ac, 204, "");
}

static void admin_answer_call(struct admin *a, struct admin_conn *ac, struct admin_call *c)
{
	if (c->failed) {
		admin__answer_error(a, ac, 503, "the workers' command queues are full");
		return;
	}
	if (c->kind == ADMIN_CALL_CONNS) {
		admin_answer_list(a, ac, c);
		return;
	}
	if (c->kind == ADMIN_CALL_BROADCAST) {
		uint64_t sent = 0, skipped = 0;
		for (unsigned i = 0; i < c->n_reqs; i++) {
			sent += c->reqs[i].sent;
			skipped += c->reqs[i].skipped;
		}
		char body[96];
		snprintf(body, sizeof(body), "{\"sent\":%llu,\"skipped\":%llu}\n",
		         (unsigned long long)sent, (unsigned long long)skipped);
		admin__answer(a, ac, 200, body);
		return;
	}
	admin_answer_one(a, ac, c);
}

/* ---- life of a call ---- */

static struct admin_call *admin_call_new(struct admin *a, struct admin_conn *ac,
                                         const struct admin_req *rq, enum admin_method m,
                                         unsigned n_reqs, uint32_t per_req)
{
	struct admin_calls *cs = admin__calls(a);
	size_t mem = sizeof(struct admin_call) + n_reqs * sizeof(struct tadm_req) +
	             (size_t)n_reqs * per_req * sizeof(struct tadm_info);
	if (cs->mem + mem > ADMIN_CALLS_MEM_MAX) {
		admin__answer_error(a, ac, 503, "too many admin calls in flight");
		return NULL;
	}
	struct admin_call *c = calloc(1, sizeof(*c));
	if (c != NULL)
		c->reqs = calloc(n_reqs, sizeof(*c->reqs));
	if (c != NULL && c->reqs != NULL && per_req > 0)
		c->infos = calloc((size_t)n_reqs * per_req, sizeof(*c->infos));
	if (c == NULL || c->reqs == NULL || (per_req > 0 && c->infos == NULL)) {
		if (c != NULL) {
			free(c->reqs);
			free(c->infos);
		}
		free(c);
		admin__answer_error(a, ac, 503, "out of memory");
		return NULL;
	}
	c->id = ++cs->next_id;
	c->ac = ac;
	c->kind = rq->call;
	c->method = m;
	c->rq = *rq;
	c->n_reqs = n_reqs;
	c->mem = mem;
	c->deadline_ms = admin_conns_clock_ms() + ADMIN_CALL_WAIT_MS;
	for (unsigned i = 0; i < n_reqs; i++) {
		struct tadm_req *q = &c->reqs[i];
		q->cap = per_req;
		q->out = per_req > 0 ? c->infos + (size_t)i * per_req : NULL;
		q->id = rq->n;
		q->route = (rq->have & ADMIN_P_ROUTE) ? c->rq.route : NULL;
		q->peer = (rq->have & ADMIN_P_PEER) ? c->rq.peer : NULL;
		q->subject = (rq->have & ADMIN_P_SUBJECT) ? c->rq.subject : NULL;
		q->code = rq->code;
		q->reason_len = (uint8_t)rq->reason_len;
		memcpy(q->reason, rq->reason, rq->reason_len);
	}
	cs->mem += mem;
	c->next = cs->head;
	cs->head = c;
	return c;
}

/* Frees what the workers gave back (held tables) and what was lent; unlinks c. */
static void admin_call_free(struct admin *a, struct admin_call *c)
{
	struct admin_calls *cs = admin__calls(a);
	for (struct admin_call **p = &cs->head; *p != NULL; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	for (unsigned i = 0; i < c->n_reqs; i++)
		for (uint32_t j = 0; j < c->reqs[i].n; j++)
			rt_table_release(c->reqs[i].out[j].table);
	tadm_frame_unref(c->frame);
	cs->mem -= c->mem;
	free(c->infos);
	free(c->reqs);
	free(c);
}

/* Every reply is in: answer whoever is still there, then free. */
static void admin_call_done(struct admin *a, struct admin_call *c)
{
	struct admin_conn *ac = c->ac;
	c->ac = NULL;
	if (ac != NULL)
		admin_answer_call(a, ac, c);
	admin_call_free(a, c);
}

/* Queues command kind with payload q for worker i and rings. 0, or -errno with nothing lent
 * (-ESRCH: that worker has exited). */
static int admin_call_send(struct admin *a, struct admin_call *c, unsigned i, uint32_t kind,
                           struct tadm_req *q)
{
	struct gateway *gw = admin__gw(a);
	struct worker *w = &gw->workers[i];
	if (atomic_load_explicit(&w->exited, memory_order_acquire))
		return -ESRCH;
	struct cmdq_cmd cmd = {.kind = kind, .id = c->id, .payload = q};
	int rc = cmdq_push(&w->cmdq, &cmd);
	if (rc != 0)
		return rc;
	c->waiting++;
	rc = cmdq_doorbell(&w->cmdq);
	/* Still lent: the worker takes it with the next doorbell, or it is reclaimed at exit;
	 * the sweep answers 504 meanwhile. */
	if (rc != 0)
		LOG_WARN("admin_doorbell", "worker=%u err=%d", i, -rc);
	return 0;
}

/* After the commands went out: wait for the replies, or answer now if none is due. */
static void admin_call_launched(struct admin *a, struct admin_conn *ac, struct admin_call *c)
{
	if (c->waiting == 0) {
		admin_call_done(a, c);
		return;
	}
	admin__wait(a, ac);
}

/* ---- the calls ---- */

static void admin_call_all(struct admin *a, struct admin_conn *ac, const struct admin_req *rq,
                           enum admin_method m, uint32_t kind, uint32_t per_req,
                           struct tadm_frame *frame)
{
	struct gateway *gw = admin__gw(a);
	struct admin_call *c = admin_call_new(a, ac, rq, m, gw->n_workers, per_req);
	if (c == NULL) {
		tadm_frame_unref(frame);
		return;
	}
	c->frame = frame;
	for (unsigned i = 0; i < gw->n_workers; i++) {
		c->reqs[i].frame = frame;
		int rc = admin_call_send(a, c, i, kind, &c->reqs[i]);
		if (rc != 0 && rc != -ESRCH)
			c->failed = true;
	}
	admin_call_launched(a, ac, c);
}

static void admin_call_one(struct admin *a, struct admin_conn *ac, const struct admin_req *rq,
                           enum admin_method m, uint32_t kind, struct tadm_frame *frame)
{
	struct gateway *gw = admin__gw(a);
	/* The node part must be this gateway's (no cluster yet: any other node is unknown). */
	if (strcmp(rq->node, gw->id_prefix) != 0) {
		tadm_frame_unref(frame);
		admin__answer_error(a, ac, 404, "unknown connection");
		return;
	}
	struct admin_call *c = admin_call_new(a, ac, rq, m, 1, kind == TADM_GET ? 1 : 0);
	if (c == NULL) {
		tadm_frame_unref(frame);
		return;
	}
	c->frame = frame;
	c->reqs[0].frame = frame;
	int rc = admin_call_send(a, c, (unsigned)(rq->n % gw->n_workers), kind, &c->reqs[0]);
	if (rc == -ESRCH)
		c->res = -ENOENT; /* its worker has exited: so has the connection */
	else if (rc != 0)
		c->failed = true;
	admin_call_launched(a, ac, c);
}

/* The message to push, encoded once: 413 over --max-message, 400 for text that is not
 * UTF-8 (the client would fail the connection with 1007). NULL when answered. */
static struct tadm_frame *admin_frame_new(struct admin *a, struct admin_conn *ac, bool text,
                                          const char *body, size_t len)
{
	struct gateway *gw = admin__gw(a);
	if (len > gw->limits.message_max) {
		admin__answer_error(a, ac, 413, "message over --max-message");
		return NULL;
	}
	if (text && !utf8_is_valid((const uint8_t *)body, len)) {
		admin__answer_error(a, ac, 400,
		                    "a text message (Content-Type text/...) must be UTF-8");
		return NULL;
	}
	uint8_t hdr[WS_HEADER_MAX];
	size_t h = ws_encode_header(hdr, text ? WS_OP_TEXT : WS_OP_BINARY, true, len, NULL);
	struct tadm_frame *f = malloc(sizeof(*f) + h + len);
	if (f == NULL) {
		admin__answer_error(a, ac, 503, "out of memory");
		return NULL;
	}
	atomic_init(&f->refs, 1);
	f->len = (uint32_t)(h + len);
	f->payload_len = len;
	memcpy(f->bytes, hdr, h);
	if (len > 0)
		memcpy(f->bytes + h, body, len);
	return f;
}

void admin__conns_call(struct admin *a, struct admin_conn *ac, const struct admin_req *rq,
                       enum admin_method m, bool text, const char *body, size_t len)
{
	struct tadm_frame *f;
	switch (rq->call) {
	case ADMIN_CALL_CONNS:
		if (rq->scope_cluster) {
			admin__answer_error(a, ac, 404, "not in a cluster");
			return;
		}
		admin_call_all(a, ac, rq, m, TADM_LIST, rq->limit, NULL);
		return;
	case ADMIN_CALL_CONN:
		admin_call_one(a, ac, rq, m, m == ADMIN_M_DELETE ? TADM_CLOSE : TADM_GET, NULL);
		return;
	case ADMIN_CALL_CONN_MSGS:
		f = admin_frame_new(a, ac, text, body, len);
		if (f != NULL)
			admin_call_one(a, ac, rq, m, TADM_PUSH, f);
		return;
	case ADMIN_CALL_BROADCAST:
		f = admin_frame_new(a, ac, text, body, len);
		if (f != NULL)
			admin_call_all(a, ac, rq, m, TADM_BROADCAST, 0, f);
		return;
	case ADMIN_CALL_ROUTES:
	case ADMIN_CALL_NONE:
		break;
	}
	admin__answer_error(a, ac, 404, "not found");
}

/* ---- replies ---- */

void admin__calls_on_reply(struct admin *a, unsigned worker, const struct cmdq_cmd *r)
{
	struct admin_calls *cs = admin__calls(a);
	struct admin_call *c = cs->head;
	while (c != NULL && c->id != r->id)
		c = c->next;
	/* A reply nobody waits for would mean a payload lent twice or freed early. */
	if (WSG_WARN_ONCE(c == NULL || c->waiting == 0)) {
		LOG_ERROR("admin_reply_unknown", "worker=%u kind=%u", worker, r->kind);
		return;
	}
	if (r->kind != TADM_LIST && r->kind != TADM_BROADCAST)
		c->res = r->res;
	if (--c->waiting == 0)
		admin_call_done(a, c);
}

void admin__calls_detach(struct admin *a, struct admin_conn *ac)
{
	for (struct admin_call *c = admin__calls(a)->head; c != NULL; c = c->next)
		if (c->ac == ac)
			c->ac = NULL;
}

void admin__calls_sweep(struct admin *a, uint64_t now_ms)
{
	for (struct admin_call *c = admin__calls(a)->head; c != NULL; c = c->next) {
		if (c->ac == NULL || now_ms < c->deadline_ms)
			continue;
		struct admin_conn *ac = c->ac;
		c->ac = NULL;
		LOG_WARN("admin_call_timeout", "kind=%u waiting=%u", (unsigned)c->kind, c->waiting);
		admin__answer_error(a, ac, 504, "a worker did not answer in time");
	}
}

void admin__calls_free(struct admin *a, struct admin_calls *cs)
{
	if (cs == NULL)
		return;
	struct gateway *gw = admin__gw(a);
	/* The workers are joined: their replies are taken, and the commands they never popped
	 * are taken back from the command rings (cmdq.h allows it after the join), so that
	 * every payload comes back before it is freed. */
	for (unsigned i = 0; cs->head != NULL && gw->workers != NULL && i < gw->n_workers; i++) {
		struct cmdq *q = &gw->workers[i].cmdq;
		struct cmdq_cmd r;
		while (cmdq_reply_pop(q, &r) == 0)
			if (r.kind >= WCMD_APP)
				admin__calls_on_reply(a, i, &r);
		while (cmdq_pop(q, &r) == 0)
			if (r.kind >= WCMD_APP)
				admin__calls_on_reply(a, i, &r);
	}
	while (cs->head != NULL) {
		cs->head->ac = NULL;
		admin_call_free(a, cs->head);
	}
	free(cs);
}
