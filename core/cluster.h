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

/* ---- shared limits (core/cluster_limit.c) ----------------------------------------------- */

/* Worker, on each admission when the gateway is in a cluster: lowers *max_conns_per_ip and
 * *rate to this node's allowance for sa: a lease from the last sync with Redis for an address
 * that has one, else this node's share (the limit divided by the live nodes last seen). Reads
 * published snapshots only: no round trip, no lock. */
void cluster_limit_adjust(const struct sockaddr *sa, uint32_t *max_conns_per_ip,
                          struct iplimit_rate *rate);

#endif
