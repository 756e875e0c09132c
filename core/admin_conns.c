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
 * In a cluster (docs/CLUSTER.md "Cross-node calls"), a call on a connection of another node
 * (the id's NODE part) is published to that node's channel and the admin client waits the
 * same way; the owner runs it through this same code, with a struct admin_dest that names the
 * requesting node instead of an admin client, and publishes the answer (status, body) back.
 * A listing with scope=cluster and every broadcast go to every node at once (the cluster's
 * channel) and to this node's own workers; Redis's PUBLISH count says how many replies to
 * expect, so the answer comes as soon as the last is in, or at ADMIN_REMOTE_WAIT_MS without
 * the missing ones ("partial": true). Nothing is retried: at most once (a retried push could
 * reach a client twice). A late reply finds no call and is dropped. Bounds: at most
 * ADMIN_REMOTE_MAX calls waiting for other nodes and ADMIN_FOR_NODES_MAX run for other
 * nodes, then 503; bodies are checked against --max-message before they are published.
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
#include "core/cluster.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/tunnel.h"
#include "core/tunnel_admin.h"
#include "core/worker.h"
#include "proto/resp.h"
#include "proto/utf8.h"
#include "proto/ws.h"
#include "router/rt.h"

#define ADMIN_CALL_WAIT_MS   2000u       /* the workers' replies, then 504 */
#define ADMIN_CALLS_MEM_MAX  (64u << 20) /* payloads of every call in flight, then 503 */
#define ADMIN_REMOTE_WAIT_MS 1000u       /* other nodes' replies (SPEC.md: 504 after 1 s) */
#define ADMIN_REMOTE_MAX     1024u       /* calls waiting for other nodes, then 503 */
#define ADMIN_FOR_NODES_MAX  1024u       /* calls run for other nodes at once, then 503 */

/* Where an answer goes: a local admin client, or the node whose request the call runs. */
struct admin_dest {
	struct admin_conn *ac; /* a local client; NULL: see node */
	const char *node;      /* ac NULL: the requesting node's id; NULL too: nobody */
	uint64_t rid;          /* node: its id of the call */
};

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
	/* Run for another node (ac is then NULL): the answer is published to it. */
	bool for_node;
	char node[40]; /* the requester's id */
	uint64_t rid;  /* its id of the call */
	/* Waiting for other nodes too (in a cluster). */
	bool remote;    /* the call went to other nodes; the rest below is theirs */
	bool r_all;     /* to every node (listing, broadcast); else to the id's owner */
	bool r_open;    /* replies still counted; false once all are in or time is up */
	bool r_partial; /* r_all: a node's reply is missing or was an error */
	long r_expect;  /* replies due; -1 until Redis said how many nodes got it */
	unsigned r_got; /* replies taken */
	uint64_t r_deadline_ms;
	uint64_t r_sent_us;         /* when published, for wsgate_cluster_request_seconds */
	const char *r_kind;         /* "push", "close", "get", "list" or "bcast" (a literal) */
	unsigned r_status;          /* one owner: its status; 0: none yet */
	char *r_body;               /* one owner: its body (malloc'd, NUL-terminated) */
	uint64_t r_sent, r_skipped; /* broadcast: the other nodes' counts, summed */
	cJSON *r_items;             /* listing: the other nodes' entries (an array) */
};

struct admin_calls {
	struct admin_call *head; /* calls in flight, newest first */
	uint64_t next_id;
	size_t mem;
	unsigned n_remote;   /* calls with r_open */
	unsigned n_for_node; /* calls with for_node */
};

static uint64_t admin_conns_clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t admin_conns_clock_ms(void)
{
	return admin_conns_clock_us() / 1000u;
}

struct admin_calls *admin__calls_new(void)
{
	struct admin_calls *cs = calloc(1, sizeof(struct admin_calls));
	/* Call ids are also the rids of cross-node requests: start from the wall clock so that
	 * a late reply meant for this node's previous run does not match a call of this one. */
	struct timespec ts;
	if (cs != NULL && clock_gettime(CLOCK_REALTIME, &ts) == 0)
		cs->next_id = (uint64_t)ts.tv_sec << 20;
	return cs;
}

/* ---- destinations ---- */

static struct admin_dest admin_dest_of(struct admin_conn *ac)
{
	return (struct admin_dest){.ac = ac};
}

/* Answers d with status and body (NUL-terminated; ignored for 204 by a local client). */
static void admin_dest_answer(struct admin *a, const struct admin_dest *d, unsigned status,
                              const char *body)
{
	if (d->ac != NULL) {
		admin__answer(a, d->ac, status, body);
		return;
	}
	struct cluster *cl = admin__gw(a)->cluster;
	if (d->node == NULL || cl == NULL)
		return;
	size_t n = status == 204 ? 0 : strlen(body);
	if (cluster_reply(cl, d->node, d->rid, status, body, n) == 0)
		return;
	/* Over the reply's bound (a long listing), or the engine went away: say so briefly. */
	static const char big[] = "{\"error\":\"the answer is over the cluster's reply bound\"}\n";
	if (n > CLUSTER_REPLY_MAX)
		(void)cluster_reply(cl, d->node, d->rid, 507, big, sizeof(big) - 1);
}

static void admin_dest_error(struct admin *a, const struct admin_dest *d, unsigned status,
                             const char *why)
{
	if (d->ac != NULL) {
		admin__answer_error(a, d->ac, status, why);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	char *text = NULL;
	if (o != NULL && cJSON_AddStringToObject(o, "error", why) != NULL)
		text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	admin_dest_answer(a, d, text != NULL ? status : 503,
	                  text != NULL ? text : "{\"error\":\"out of memory\"}");
	cJSON_free(text);
}

/* Who c answers: its client, its requesting node, or nobody. */
static struct admin_dest admin_call_dest(const struct admin_call *c)
{
	if (c->ac != NULL)
		return admin_dest_of(c->ac);
	if (c->for_node)
		return (struct admin_dest){.node = c->node, .rid = c->rid};
	return (struct admin_dest){0};
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
static void admin_answer_json(struct admin *a, const struct admin_dest *d, unsigned status,
                              cJSON *root, bool ok)
{
	char *text = ok && root != NULL ? cJSON_PrintUnformatted(root) : NULL;
	cJSON_Delete(root);
	if (text == NULL) {
		admin_dest_error(a, d, 503, "out of memory");
		return;
	}
	size_t n = strlen(text);
	char *line = malloc(n + 2);
	if (line == NULL) {
		cJSON_free(text);
		admin_dest_error(a, d, 503, "out of memory");
		return;
	}
	memcpy(line, text, n);
	memcpy(line + n, "\n", 2);
	cJSON_free(text);
	admin_dest_answer(a, d, status, line);
	free(line);
}

static int admin_info_by_id(const void *x, const void *y)
{
	const struct tadm_info *p = *(const struct tadm_info *const *)x;
	const struct tadm_info *q = *(const struct tadm_info *const *)y;
	return p->id < q->id ? -1 : p->id > q->id;
}

static void admin_answer_list(struct admin *a, const struct admin_dest *d, struct admin_call *c)
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
		/* scope=cluster: the other nodes' entries after ours, within the same limit. */
		cJSON *it;
		while (ok && c->r_items != NULL && (it = c->r_items->child) != NULL &&
		       total < c->rq.limit) {
			ok = cJSON_AddItemToArray(arr, cJSON_DetachItemViaPointer(c->r_items, it));
			total++;
		}
	}
	free(all);
	if (ok && c->remote) {
		ok = cJSON_AddNumberToObject(root, "nodes", (double)c->r_got + 1) != NULL &&
		     cJSON_AddBoolToObject(root, "partial", c->r_partial) != NULL;
	}
	admin_answer_json(a, d, 200, root, ok);
}

static void admin_answer_one(struct admin *a, const struct admin_dest *d, struct admin_call *c)
{
	if (c->remote) {
		/* The owner's own answer, as it gave it. */
		if (c->r_status != 0)
			admin_dest_answer(a, d, c->r_status, c->r_body != NULL ? c->r_body : "");
		else
			admin_dest_error(
			    a, d, 504,
			    "the owner node did not answer (dead, unknown, or not within 1 s)");
		return;
	}
	switch (c->res) {
	case 0:
		break;
	case -ENOENT:
		admin_dest_error(a, d, 404, "unknown connection");
		return;
	case -EAGAIN:
		admin_dest_error(a, d, 429, "the client's send queue is full");
		return;
	case -EMSGSIZE:
		admin_dest_error(a, d, 413, "message over the route's max-message");
		return;
	default:
		admin_dest_error(a, d, 503, "the worker could not do it (out of memory)");
		return;
	}
	if (c->kind == ADMIN_CALL_CONN && c->method != ADMIN_M_DELETE) {
		if (c->reqs[0].n == 0) {
			admin_dest_error(a, d, 404, "unknown connection");
			return;
		}
		cJSON *o = admin_info_json(admin__gw(a), &c->reqs[0].out[0]);
		admin_answer_json(a, d, 200, o, o != NULL);
		return;
	}
	admin_dest_answer(a, d, 204, "");
}

static void admin_answer_call(struct admin *a, const struct admin_dest *d, struct admin_call *c)
{
	if (c->failed) {
		admin_dest_error(a, d, 503, "the workers' command queues are full");
		return;
	}
	if (c->kind == ADMIN_CALL_CONNS) {
		admin_answer_list(a, d, c);
		return;
	}
	if (c->kind == ADMIN_CALL_BROADCAST) {
		uint64_t sent = c->r_sent, skipped = c->r_skipped;
		for (unsigned i = 0; i < c->n_reqs; i++) {
			sent += c->reqs[i].sent;
			skipped += c->reqs[i].skipped;
		}
		char body[160];
		if (c->remote)
			snprintf(body, sizeof(body),
			         "{\"sent\":%llu,\"skipped\":%llu,\"nodes\":%u,\"partial\":%s}\n",
			         (unsigned long long)sent, (unsigned long long)skipped,
			         c->r_got + 1, c->r_partial ? "true" : "false");
		else
			snprintf(body, sizeof(body), "{\"sent\":%llu,\"skipped\":%llu}\n",
			         (unsigned long long)sent, (unsigned long long)skipped);
		admin_dest_answer(a, d, 200, body);
		return;
	}
	admin_answer_one(a, d, c);
}

/* ---- life of a call ---- */

static struct admin_call *admin_call_new(struct admin *a, const struct admin_dest *d,
                                         const struct admin_req *rq, enum admin_method m,
                                         unsigned n_reqs, uint32_t per_req)
{
	struct admin_calls *cs = admin__calls(a);
	size_t mem = sizeof(struct admin_call) + n_reqs * sizeof(struct tadm_req) +
	             (size_t)n_reqs * per_req * sizeof(struct tadm_info);
	if (cs->mem + mem > ADMIN_CALLS_MEM_MAX ||
	    (d->ac == NULL && cs->n_for_node >= ADMIN_FOR_NODES_MAX)) {
		admin_dest_error(a, d, 503, "too many admin calls in flight");
		return NULL;
	}
	struct admin_call *c = calloc(1, sizeof(*c));
	if (c != NULL)
		c->reqs = calloc(n_reqs ? n_reqs : 1, sizeof(*c->reqs));
	if (c != NULL && c->reqs != NULL && per_req > 0)
		c->infos = calloc((size_t)n_reqs * per_req, sizeof(*c->infos));
	if (c == NULL || c->reqs == NULL || (per_req > 0 && c->infos == NULL)) {
		if (c != NULL) {
			free(c->reqs);
			free(c->infos);
		}
		free(c);
		admin_dest_error(a, d, 503, "out of memory");
		return NULL;
	}
	c->id = ++cs->next_id;
	c->ac = d->ac;
	if (d->ac == NULL && d->node != NULL) {
		c->for_node = true;
		snprintf(c->node, sizeof(c->node), "%s", d->node);
		c->rid = d->rid;
		cs->n_for_node++;
	}
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
	if (c->for_node)
		cs->n_for_node--;
	if (c->remote && c->r_open)
		cs->n_remote--;
	free(c->r_body);
	cJSON_Delete(c->r_items);
	free(c->infos);
	free(c->reqs);
	free(c);
}

/* Every reply is in: answer whoever is still there, then free. */
static void admin_call_done(struct admin *a, struct admin_call *c)
{
	struct admin_dest d = admin_call_dest(c);
	c->ac = NULL;
	c->for_node = false;
	admin__calls(a)->n_for_node -= d.ac == NULL && d.node != NULL;
	if (d.ac != NULL || d.node != NULL)
		admin_answer_call(a, &d, c);
	admin_call_free(a, c);
}

/* Done when the workers have all replied and the other nodes have too (or their time is
 * up). */
static void admin_call_check(struct admin *a, struct admin_call *c)
{
	if (c->waiting == 0 && !(c->remote && c->r_open))
		admin_call_done(a, c);
}

/* No more replies from other nodes are counted for c. */
static void admin_call_remote_close(struct admin *a, struct admin_call *c)
{
	if (!c->r_open)
		return;
	c->r_open = false;
	admin__calls(a)->n_remote--;
	if (c->r_all && (c->r_expect < 0 || c->r_got < (unsigned long)c->r_expect))
		c->r_partial = true;
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
static void admin_call_launched(struct admin *a, const struct admin_dest *d, struct admin_call *c)
{
	if (c->waiting == 0 && !(c->remote && c->r_open)) {
		admin_call_done(a, c);
		return;
	}
	if (d->ac != NULL)
		admin__wait(a, d->ac);
}

/* Appends v percent-encoded as "&key=v" (RFC 3986 unreserved and '/', ':', '@', '[', ']'
 * kept) to q. false when it does not fit. */
static bool admin_query_add(char *q, size_t cap, size_t *len, const char *key, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	int n = snprintf(q + *len, cap - *len, "%s%s=", *len ? "&" : "", key);
	if (n < 0 || (size_t)n >= cap - *len)
		return false;
	*len += (size_t)n;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		            (*p >= '0' && *p <= '9') || strchr("-._~/:@[]", *p) != NULL;
		if (*len + 4 > cap)
			return false;
		if (keep) {
			q[(*len)++] = (char)*p;
		} else {
			q[(*len)++] = '%';
			q[(*len)++] = hex[*p >> 4];
			q[(*len)++] = hex[*p & 15];
		}
	}
	q[*len] = '\0';
	return true;
}

/* rq's filters as a query string the owner parses again (admin_req_parse). */
static bool admin_query_of(const struct admin_req *rq, bool limit, char *q, size_t cap, size_t *len)
{
	char num[16];
	*len = 0;
	q[0] = '\0';
	bool ok = true;
	if (rq->have & ADMIN_P_ROUTE)
		ok = ok && admin_query_add(q, cap, len, "route", rq->route);
	if (rq->have & ADMIN_P_PEER)
		ok = ok && admin_query_add(q, cap, len, "peer", rq->peer);
	if (rq->have & ADMIN_P_SUBJECT)
		ok = ok && admin_query_add(q, cap, len, "subject", rq->subject);
	snprintf(num, sizeof(num), "%u", (unsigned)rq->limit);
	if (limit)
		ok = ok && admin_query_add(q, cap, len, "limit", num);
	return ok;
}

/* Publishes c's request (kind, to `to` or to every node) and starts waiting for the
 * replies. -1 when it could not be queued (nothing is then waited for). */
static int admin_call_publish(struct admin *a, struct admin_call *c, const char *to,
                              const char *kind, uint32_t num, const char *arg, size_t arg_len,
                              const void *body, size_t body_len)
{
	struct admin_calls *cs = admin__calls(a);
	if (cluster_request(admin__gw(a)->cluster, to, kind, c->id, num, arg, arg_len, body,
	                    body_len) != 0)
		return -1;
	c->remote = true;
	c->r_all = to == NULL;
	c->r_open = true;
	c->r_expect = to == NULL ? -1 : 1;
	c->r_kind = kind;
	c->r_sent_us = admin_conns_clock_us();
	c->r_deadline_ms = c->r_sent_us / 1000u + ADMIN_REMOTE_WAIT_MS;
	cs->n_remote++;
	return 0;
}

/* In a cluster, calls that reach other nodes need the engine, and a place among the calls
 * waiting for them. false when answered (503). */
static bool admin_remote_ok(struct admin *a, const struct admin_dest *d)
{
	struct cluster *cl = admin__gw(a)->cluster;
	if (!cluster_engine_up(cl)) {
		admin_dest_error(a, d, 503, "the cluster's engine is down: cross-node calls fail");
		return false;
	}
	if (admin__calls(a)->n_remote >= ADMIN_REMOTE_MAX) {
		admin_dest_error(a, d, 503, "too many cross-node calls in flight");
		return false;
	}
	return true;
}

/* ---- the calls ---- */

/* A listing or broadcast on this node's workers; r_kind non-NULL: on every other node too
 * (published first, so that a failure to publish leaves nothing half done), which then
 * runs it on its own workers with body (the message) and r_num (its flags). */
static void admin_call_all(struct admin *a, const struct admin_dest *d, const struct admin_req *rq,
                           enum admin_method m, uint32_t kind, uint32_t per_req,
                           struct tadm_frame *frame, const char *r_kind, uint32_t r_num,
                           const char *body, size_t len)
{
	struct gateway *gw = admin__gw(a);
	char q[RESP_MSG_ARG_MAX];
	size_t qlen = 0;
	if (r_kind != NULL) {
		if (!admin_remote_ok(a, d)) {
			tadm_frame_unref(frame);
			return;
		}
		if (!admin_query_of(rq, kind == TADM_LIST, q, sizeof(q), &qlen)) {
			tadm_frame_unref(frame);
			admin_dest_error(a, d, 400, "filters too long for a cross-node call");
			return;
		}
	}
	struct admin_call *c = admin_call_new(a, d, rq, m, gw->n_workers, per_req);
	if (c == NULL) {
		tadm_frame_unref(frame);
		return;
	}
	c->frame = frame;
	if (r_kind != NULL &&
	    admin_call_publish(a, c, NULL, r_kind, r_num, q, qlen, body, len) != 0) {
		admin_call_free(a, c);
		admin_dest_error(a, d, 503, "could not publish to the cluster");
		return;
	}
	for (unsigned i = 0; i < gw->n_workers; i++) {
		c->reqs[i].frame = frame;
		int rc = admin_call_send(a, c, i, kind, &c->reqs[i]);
		if (rc != 0 && rc != -ESRCH)
			c->failed = true;
	}
	admin_call_launched(a, d, c);
}

/* A call on another node's connection: published to its owner, answered with its reply. */
static void admin_call_owner(struct admin *a, const struct admin_dest *d,
                             const struct admin_req *rq, enum admin_method m, uint32_t kind,
                             bool text, const char *body, size_t len)
{
	if (!admin_remote_ok(a, d))
		return;
	struct admin_call *c = admin_call_new(a, d, rq, m, 0, 0);
	if (c == NULL)
		return;
	char id[ADMIN_NODE_MAX + 24];
	int n = snprintf(id, sizeof(id), "%s.%llu", rq->node, (unsigned long long)rq->n);
	const char *k = kind == TADM_CLOSE ? "close" : kind == TADM_PUSH ? "push" : "get";
	uint32_t num = kind == TADM_CLOSE          ? rq->code
	               : kind == TADM_PUSH && text ? CLUSTER_F_TEXT
	                                           : 0;
	if (kind == TADM_CLOSE) {
		body = rq->reason;
		len = rq->reason_len;
	} else if (kind != TADM_PUSH) {
		body = "";
		len = 0;
	}
	if (admin_call_publish(a, c, rq->node, k, num, id, (size_t)n, body, len) != 0) {
		admin_call_free(a, c);
		admin_dest_error(a, d, 503, "could not publish to the cluster");
		return;
	}
	admin_call_launched(a, d, c);
}

static void admin_call_one(struct admin *a, const struct admin_dest *d, const struct admin_req *rq,
                           enum admin_method m, uint32_t kind, struct tadm_frame *frame)
{
	struct gateway *gw = admin__gw(a);
	/* Another node's id that reached here: not ours to know (a node never forwards). */
	if (strcmp(rq->node, gw->id_prefix) != 0) {
		tadm_frame_unref(frame);
		admin_dest_error(a, d, 404, "unknown connection");
		return;
	}
	struct admin_call *c = admin_call_new(a, d, rq, m, 1, kind == TADM_GET ? 1 : 0);
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
	admin_call_launched(a, d, c);
}

/* 413 over --max-message, 400 for text that is not UTF-8 (the client would fail the
 * connection with 1007). false when answered. */
static bool admin_frame_check(struct admin *a, const struct admin_dest *d, bool text,
                              const char *body, size_t len)
{
	struct gateway *gw = admin__gw(a);
	if (len > gw->limits.message_max) {
		admin_dest_error(a, d, 413, "message over --max-message");
		return false;
	}
	if (text && !utf8_is_valid((const uint8_t *)body, len)) {
		admin_dest_error(a, d, 400, "a text message (Content-Type text/...) must be UTF-8");
		return false;
	}
	return true;
}

/* The message to push, checked (admin_frame_check) and encoded once. NULL when answered. */
static struct tadm_frame *admin_frame_new(struct admin *a, const struct admin_dest *d, bool text,
                                          const char *body, size_t len)
{
	if (!admin_frame_check(a, d, text, body, len))
		return NULL;
	uint8_t hdr[WS_HEADER_MAX];
	size_t h = ws_encode_header(hdr, text ? WS_OP_TEXT : WS_OP_BINARY, true, len, NULL);
	struct tadm_frame *f = malloc(sizeof(*f) + h + len);
	if (f == NULL) {
		admin_dest_error(a, d, 503, "out of memory");
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
	struct gateway *gw = admin__gw(a);
	struct admin_dest d = admin_dest_of(ac);
	bool cluster = gw->cluster != NULL;
	bool theirs = cluster && strcmp(rq->node, gw->id_prefix) != 0;
	struct tadm_frame *f;
	switch (rq->call) {
	case ADMIN_CALL_CONNS:
		if (rq->scope_cluster && !cluster) {
			admin_dest_error(a, &d, 404, "not in a cluster");
			return;
		}
		admin_call_all(a, &d, rq, m, TADM_LIST, rq->limit, NULL,
		               rq->scope_cluster ? "list" : NULL, 0, "", 0);
		return;
	case ADMIN_CALL_CONN:
		if (theirs)
			admin_call_owner(a, &d, rq, m, m == ADMIN_M_DELETE ? TADM_CLOSE : TADM_GET,
			                 false, "", 0);
		else
			admin_call_one(a, &d, rq, m, m == ADMIN_M_DELETE ? TADM_CLOSE : TADM_GET,
			               NULL);
		return;
	case ADMIN_CALL_CONN_MSGS:
		if (theirs) {
			if (admin_frame_check(a, &d, text, body, len))
				admin_call_owner(a, &d, rq, m, TADM_PUSH, text, body, len);
			return;
		}
		f = admin_frame_new(a, &d, text, body, len);
		if (f != NULL)
			admin_call_one(a, &d, rq, m, TADM_PUSH, f);
		return;
	case ADMIN_CALL_BROADCAST:
		f = admin_frame_new(a, &d, text, body, len);
		if (f != NULL)
			admin_call_all(a, &d, rq, m, TADM_BROADCAST, 0, f, cluster ? "bcast" : NULL,
			               text ? CLUSTER_F_TEXT : 0, body, len);
		return;
	case ADMIN_CALL_ROUTES:
	case ADMIN_CALL_NONE:
		break;
	}
	admin_dest_error(a, &d, 404, "not found");
}

/* ---- requests from other nodes, and their replies ---- */

static bool admin_str_is(const char *s, const char *lit)
{
	return strcmp(s, lit) == 0;
}

/* A request of another node for this one: run through the same calls as a local client's,
 * answered to that node (struct admin_dest). */
static void admin_on_cluster_request(void *arg, const struct cluster_msg *m)
{
	struct admin *a = arg;
	struct admin_dest d = {.node = m->from, .rid = m->rid};
	struct admin_req rq;
	const char *why = "not found";
	bool text = (m->num & CLUSTER_F_TEXT) != 0;
	const char *body = (const char *)m->body;
	if (admin_str_is(m->kind, "push") || admin_str_is(m->kind, "close") ||
	    admin_str_is(m->kind, "get")) {
		bool push = admin_str_is(m->kind, "push"), close = admin_str_is(m->kind, "close");
		char path[128];
		int n = snprintf(path, sizeof(path), "/connections/%.*s%s",
		                 (int)(m->arg_len < 64 ? m->arg_len : 64), (const char *)m->arg,
		                 push ? "/messages" : "");
		if (m->arg_len >= 64 || n < 0 || (size_t)n >= sizeof(path) ||
		    memchr(m->arg, '\0', m->arg_len) != NULL ||
		    admin_req_parse(path, (size_t)n, "", 0, &rq, &why) != ADMIN_REQ_OK) {
			admin_dest_error(a, &d, 404, "unknown connection");
			return;
		}
		if (close) {
			/* Checked again here: a node trusts no other node's bytes. */
			if (m->num > 4999 || !ws_close_code_is_valid((uint16_t)m->num) ||
			    m->body_len >= ADMIN_REASON_MAX ||
			    !utf8_is_valid(m->body, m->body_len)) {
				admin_dest_error(a, &d, 400, "bad close code or reason");
				return;
			}
			rq.code = (uint16_t)m->num;
			memcpy(rq.reason, m->body, m->body_len);
			rq.reason[m->body_len] = '\0';
			rq.reason_len = m->body_len;
			admin_call_one(a, &d, &rq, ADMIN_M_DELETE, TADM_CLOSE, NULL);
		} else if (push) {
			struct tadm_frame *f = admin_frame_new(a, &d, text, body, m->body_len);
			if (f != NULL)
				admin_call_one(a, &d, &rq, ADMIN_M_POST, TADM_PUSH, f);
		} else {
			admin_call_one(a, &d, &rq, ADMIN_M_GET, TADM_GET, NULL);
		}
		return;
	}
	bool list = admin_str_is(m->kind, "list");
	const char *path = list ? "/connections" : "/broadcast";
	enum admin_method meth = list ? ADMIN_M_GET : ADMIN_M_POST;
	const char *allow;
	char msg[160];
	if (admin_req_parse(path, strlen(path), (const char *)m->arg, m->arg_len, &rq, &why) !=
	    ADMIN_REQ_OK) {
		admin_dest_error(a, &d, 400, why);
		return;
	}
	int st = admin_req_check(&rq, meth, &allow, msg, sizeof(msg));
	if (st != 0 || rq.scope_cluster) {
		admin_dest_error(a, &d, 400, st != 0 ? msg : "scope: not from another node");
		return;
	}
	if (list) {
		admin_call_all(a, &d, &rq, meth, TADM_LIST, rq.limit, NULL, NULL, 0, "", 0);
		return;
	}
	struct tadm_frame *f = admin_frame_new(a, &d, text, body, m->body_len);
	if (f != NULL)
		admin_call_all(a, &d, &rq, meth, TADM_BROADCAST, 0, f, NULL, 0, "", 0);
}

static struct admin_call *admin_call_remote_find(struct admin *a, uint64_t rid)
{
	for (struct admin_call *c = admin__calls(a)->head; c != NULL; c = c->next)
		if (c->id == rid && c->remote && c->r_open)
			return c;
	return NULL;
}

/* One node's reply to a listing or broadcast of every node: its part, into c. */
static void admin_remote_take(struct admin_call *c, const struct cluster_msg *m)
{
	cJSON *o = m->num == 200 ? cJSON_ParseWithLength((const char *)m->body, m->body_len) : NULL;
	if (o == NULL) {
		c->r_partial = true;
		return;
	}
	if (c->kind == ADMIN_CALL_BROADCAST) {
		const cJSON *sent = cJSON_GetObjectItemCaseSensitive(o, "sent");
		const cJSON *skipped = cJSON_GetObjectItemCaseSensitive(o, "skipped");
		if (cJSON_IsNumber(sent) && sent->valuedouble >= 0)
			c->r_sent += (uint64_t)sent->valuedouble;
		else
			c->r_partial = true;
		if (cJSON_IsNumber(skipped) && skipped->valuedouble >= 0)
			c->r_skipped += (uint64_t)skipped->valuedouble;
	} else {
		cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "connections");
		if (c->r_items == NULL)
			c->r_items = cJSON_CreateArray();
		cJSON *it;
		while (cJSON_IsArray(arr) && c->r_items != NULL && (it = arr->child) != NULL)
			cJSON_AddItemToArray(c->r_items, cJSON_DetachItemViaPointer(arr, it));
		if (!cJSON_IsArray(arr) || c->r_items == NULL)
			c->r_partial = true;
	}
	cJSON_Delete(o);
}

static void admin_on_cluster_reply(void *arg, const struct cluster_msg *m)
{
	struct admin *a = arg;
	struct admin_call *c = admin_call_remote_find(a, m->rid);
	if (c == NULL) {
		/* Late (after its 504 or partial answer), or meant for an earlier run. */
		LOG_DEBUG("cluster_reply_late", "from=%s rid=%llu", m->from,
		          (unsigned long long)m->rid);
		return;
	}
	c->r_got++;
	cluster_observe_request(admin__gw(a)->cluster, c->r_kind,
	                        admin_conns_clock_us() - c->r_sent_us);
	if (!c->r_all) {
		bool ok = m->num >= 200 && m->num <= 599;
		c->r_status = ok ? m->num : 502;
		free(c->r_body);
		c->r_body = malloc(m->body_len + 1);
		if (c->r_body != NULL && ok) {
			memcpy(c->r_body, m->body, m->body_len);
			c->r_body[m->body_len] = '\0';
		} else if (c->r_body != NULL) {
			c->r_body[0] = '\0';
		}
		admin_call_remote_close(a, c);
	} else {
		admin_remote_take(c, m);
		if (c->r_expect >= 0 && c->r_got >= (unsigned long)c->r_expect)
			admin_call_remote_close(a, c);
	}
	admin_call_check(a, c);
}

static void admin_on_cluster_published(void *arg, uint64_t rid, long receivers)
{
	struct admin *a = arg;
	struct admin_call *c = admin_call_remote_find(a, rid);
	if (c == NULL)
		return;
	if (receivers < 0 || (!c->r_all && receivers == 0)) {
		/* Redis refused it, or nobody listens on the owner's channel: the owner is dead
		 * or unknown, which is the owner not answering (504) without waiting 1 s. */
		if (!c->r_all)
			c->r_status = 0;
		admin_call_remote_close(a, c);
	} else if (c->r_all) {
		c->r_expect = receivers - 1; /* this node got it too, and ignored it */
		if (c->r_got >= (unsigned long)c->r_expect)
			admin_call_remote_close(a, c);
	}
	admin_call_check(a, c);
}

void admin__cluster_attach(struct admin *a)
{
	const struct cluster_hooks h = {.arg = a,
	                                .on_request = admin_on_cluster_request,
	                                .on_reply = admin_on_cluster_reply,
	                                .on_published = admin_on_cluster_published};
	cluster_set_hooks(admin__gw(a)->cluster, &h);
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
	--c->waiting;
	admin_call_check(a, c);
}

void admin__calls_detach(struct admin *a, struct admin_conn *ac)
{
	for (struct admin_call *c = admin__calls(a)->head; c != NULL; c = c->next)
		if (c->ac == ac)
			c->ac = NULL;
}

void admin__calls_sweep(struct admin *a, uint64_t now_ms)
{
	struct admin_calls *cs = admin__calls(a);
	struct admin_call *next;
	for (struct admin_call *c = cs->head; c != NULL; c = next) {
		next = c->next; /* admin_call_check may free c */
		if (c->remote && c->r_open && now_ms >= c->r_deadline_ms) {
			admin_call_remote_close(a, c);
			admin_call_check(a, c);
			continue;
		}
		if ((c->ac == NULL && !c->for_node) || now_ms < c->deadline_ms)
			continue;
		struct admin_dest d = admin_call_dest(c);
		c->ac = NULL;
		if (c->for_node) {
			c->for_node = false;
			cs->n_for_node--;
		}
		LOG_WARN("admin_call_timeout", "kind=%u waiting=%u", (unsigned)c->kind, c->waiting);
		admin_dest_error(a, &d, 504, "a worker did not answer in time");
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
