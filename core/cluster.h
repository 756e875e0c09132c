#ifndef WSG_CORE_CLUSTER_H
#define WSG_CORE_CLUSTER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "auth/iplimit.h"

/* Cluster mode (--cluster redis://HOST:PORT, docs/CLUSTER.md): membership by heartbeat,
 * cross-node requests and broadcasts over pub/sub, routes replicated through a versioned key,
 * shared per-IP limits. All of it runs on the control thread, over two non-blocking sockets
 * to Redis in the control loop's poll set; workers only ever read published snapshots
 * (cluster_limit_adjust) and get commands through their cmdq, like the admin's. */

struct gateway;
struct cluster;
struct prom_buf;

/* Sets up the cluster for gw (gw->cfg->cluster_url non-NULL): the node id, the keys, the
 * first connection attempt. NULL with one line in err (out of memory). Control thread. */
struct cluster *cluster_new(struct gateway *gw, char *err, size_t err_len);
/* Deregisters (best effort, bounded by ~300 ms) and closes everything; NULL: no-op. */
void cluster_free(struct cluster *cl);

/* The node id: --node-id, or host name + first listener port, sanitised to
 * [A-Za-z0-9_-]{1,32}. Written into buf (cap >= 33). */
void cluster_default_node_id(const struct gateway *gw, char *buf, size_t cap);
const char *cluster_node_id(const struct cluster *cl);

/* The control loop's part: fills up to cap pollfds (at most CLUSTER_POLLFDS), then handles
 * what poll reported on them (same order; n may be 0) and every timer that is due. Call at
 * least every 100 ms. */
#define CLUSTER_POLLFDS 2
unsigned cluster_pollfds(struct cluster *cl, struct pollfd *fds, unsigned cap);
void cluster_on_poll(struct cluster *cl, const struct pollfd *fds, unsigned n, uint64_t now_ms);

/* SIGTERM: the node shows "draining" to the others from the next heartbeat (sent now). */
void cluster_drain(struct cluster *cl);

/* True when both links are up, the scripts loaded, the channels subscribed and this node
 * registered: the only state in which /healthz says "cluster":"ok". */
bool cluster_engine_up(const struct cluster *cl);

/* GET /cluster: the document (malloc'd, NUL-terminated, *len bytes) or NULL (no memory). */
char *cluster_nodes_json(struct cluster *cl, uint64_t now_ms, size_t *len);

/* The cluster's metric families (cluster_nodes, cluster_engine_up, cluster_messages_total,
 * cluster_request_seconds) into b. */
void cluster_metrics(struct cluster *cl, struct prom_buf *b);

/* A route table accepted by this node's PUT /routes (json: the body, borrowed): stored under
 * a new version in Redis and announced to every node. 0 when sent (not yet acknowledged), or
 * -1 when the engine is down (the table applies here only). */
int cluster_routes_publish(struct cluster *cl, const char *json, size_t len);

/* ---- cross-node calls (docs/CLUSTER.md "Cross-node calls") ---------------------------- */

/* Bounds of one cross-node message: a request's ARG (a connection id, or a query string of
 * filters) and BODY (a pushed message or a close reason: the admin's 1 MiB body bound), and a
 * reply's BODY (a listing). The sub link's reader refuses anything larger as a broken link,
 * so nothing larger is ever published. */
#define CLUSTER_BODY_MAX  (1024u * 1024u)
#define CLUSTER_REPLY_MAX (3u * 1024u * 1024u)

/* A request from another node, or the reply to one of ours. Views into the pub/sub payload:
 * valid only during the hook. */
struct cluster_msg {
	const char
	    *kind; /* NUL-terminated copy: "push", "close", "get", "list", "bcast", "reply" */
	const char *from; /* NUL-terminated copy: the sender's node id */
	uint64_t rid;     /* the requester's id of the call */
	uint32_t num;     /* push/bcast: flags (CLUSTER_F_TEXT); close: the code; reply: status */
	const uint8_t *arg;
	size_t arg_len;
	const uint8_t *body;
	size_t body_len;
};

#define CLUSTER_F_TEXT 1u /* push, bcast: the body is a text message */

/* What the admin API lends the cluster to run requests and take replies (admin.c sets it
 * once it exists, and clears it before it is freed). Control thread only. */
struct cluster_hooks {
	void *arg;
	/* A request addressed to this node (or to every node, from another one). */
	void (*on_request)(void *arg, const struct cluster_msg *m);
	/* A reply to one of this node's requests. */
	void (*on_reply)(void *arg, const struct cluster_msg *m);
	/* Redis answered the PUBLISH of request rid: receivers is how many nodes it reached (this
	 * one included for a request to every node), or -1 when the publish failed. */
	void (*on_published)(void *arg, uint64_t rid, long receivers);
};
void cluster_set_hooks(struct cluster *cl, const struct cluster_hooks *h); /* NULL: none */

/* Publishes request kind (see cluster_msg) to node `to`'s channel, or to every node's when to
 * is NULL. 0 when queued (on_published follows, unless the link drops first: the caller's
 * deadline covers that), -1 when the engine is down, a bound is exceeded or memory ran out.
 * Borrows everything. */
int cluster_request(struct cluster *cl, const char *to, const char *kind, uint64_t rid,
                    uint32_t num, const void *arg, size_t arg_len, const void *body,
                    size_t body_len);
/* Publishes the reply (status, body) to request rid of node `to`. 0, or -1 (down, too large). */
int cluster_reply(struct cluster *cl, const char *to, uint64_t rid, unsigned status,
                  const void *body, size_t body_len);
/* One request's round trip (publish to reply), for wsgate_cluster_request_seconds. */
void cluster_observe_request(struct cluster *cl, const char *kind, uint64_t us);

/* ---- shared limits (core/cluster_limit.c) ----------------------------------------------- */

/* Worker, on each admission when the gateway is in a cluster: lowers *max_conns_per_ip and
 * *rate to this node's allowance for sa: a lease from the last sync with Redis for an address
 * that has one, else this node's share (the limit divided by the live nodes last seen). Reads
 * published snapshots only: no round trip, no lock. */
void cluster_limit_adjust(const struct sockaddr *sa, uint32_t *max_conns_per_ip,
                          struct iplimit_rate *rate);

#endif
