/* core/cluster.c: cluster mode on Redis (see cluster.h, docs/CLUSTER.md).
 *
 * Owns: two non-blocking TCP connections to Redis ("links"): cmd (scripts, keys, PUBLISH,
 * pipelined, replies matched to requests in order through a ring of what each owes) and sub
 * (SUBSCRIBE to this node's channel and the cluster's, then only pushed messages and PINGs);
 * the membership view; the routes version this node applied; the sync of shared per-IP
 * counts (leases in cluster_limit.c); the wire of cross-node admin calls (cluster_request,
 * cluster_reply, handed to the admin's hooks: the admin owns the calls and their deadlines,
 * this file only frames, publishes, and reports PUBLISH's receiver count); this node's
 * cluster counters and the request round-trip histogram. Control thread only: the
 * links are two more pollfds of the control loop, and everything here runs inside
 * cluster_on_poll, bounded per call.
 *
 * Why the control thread and not a thread of its own: the admin API, which starts every
 * cross-node call and answers it, the route publication and the workers' command queues
 * already live there, so a cluster thread would add two queues and a stop protocol for
 * nothing; the loop wakes on the sockets at once (poll), and every timer here (heartbeat
 * 2 s, view 500 ms, sync 250 ms, stall 600 ms) is far above the loop's 100 ms bound. The
 * sockets are driven by poll like the admin's and the health checks', not by an io_uring:
 * the control thread's only ring is the synchronous doorbell (core/cmdq.c). A worker never
 * touches Redis: it reads the published leases, and gets requests through its cmdq.
 *
 * Engine loss is a state: a link that errs, closes, or owes a reply for more than
 * CL_STALL_MS (CLIENT PAUSE, a dead peer without RST) is closed and retried after a
 * jittered backoff (100 ms doubling to 1 s, +-50%); on reconnect the scripts are loaded
 * again, the channels resubscribed, the node re-registered, and the routes version read. The
 * engine is "up" only with both links up, scripts loaded, both channels confirmed and one
 * heartbeat answered; /healthz says "degraded" otherwise, from the first failure on.
 *
 * Membership: one Lua script (CL_HB_LUA) per 500 ms adds this node to a sorted set scored by
 * Redis's own clock (every 2 s, or at once on a state change), removes members silent for
 * 6 s, and returns the live ones with their info: one clock for every node, so a node's
 * death is judged the same way everywhere, whatever the machines' clocks say.
 *
 * Rejected: hiredis's async client (its own I/O and adapters; it aborts on pushes it does not
 * expect); RESP3 on one link (Debian's hiredis 0.14 reader is RESP2 only); key expiry for
 * membership (a KEYS/SCAN per view, or keyspace notifications that must be enabled on the
 * server); the nodes' own clocks for expiry (skew between machines would kill live nodes). */
#include "core/cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/cluster_int.h"
#include "core/config.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/prom.h"
#include "proto/resp.h"
#include "router/rt.h"

#define CL_HEARTBEAT_MS 2000u
#define CL_EXPIRE_MS    6000u
#define CL_VIEW_MS      500u
#define CL_SYNC_MS      250u
#define CL_PING_MS      200u
#define CL_STALL_MS     600u /* a reply owed this long: the link is dead (healthz: < 1 s) */
#define CL_BACKOFF_MIN  100u
#define CL_BACKOFF_MAX  1000u /* so that a returning Redis is used again within 2 s */
#define CL_PEND_MAX     1024u /* replies owed on one link */
#define CL_NODES_MAX    256u
#define CL_SYNC_BATCH   128u /* per-IP syncs per pass */
#define CL_OUT_MAX      (8u << 20)

/* Registers (or refreshes) ARGV[1] with info ARGV[2] (empty: read only), drops members
 * silent for ARGV[3] ms, ARGV[4] == "1": leave instead. Returns {now_ms, id, score, info,
 * ...}. KEYS: members (zset), info (hash). */
static const char CL_HB_LUA[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "if ARGV[4] == '1' then\n"
    "  redis.call('ZREM', KEYS[1], ARGV[1]); redis.call('HDEL', KEYS[2], ARGV[1])\n"
    "  return {now}\n"
    "end\n"
    "if ARGV[2] ~= '' then\n"
    "  redis.call('ZADD', KEYS[1], now, ARGV[1]); redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])\n"
    "end\n"
    "local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))\n"
    "for _, id in ipairs(dead) do\n"
    "  redis.call('ZREM', KEYS[1], id); redis.call('HDEL', KEYS[2], id)\n"
    "end\n"
    "local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')\n"
    "local out = {now}\n"
    "for i = 1, #live, 2 do\n"
    "  out[#out + 1] = live[i]; out[#out + 1] = live[i + 1]\n"
    "  out[#out + 1] = redis.call('HGET', KEYS[2], live[i]) or ''\n"
    "end\n"
    "return out\n";

/* Per-IP counts: sets this node's live count ARGV[2] for the address KEYS[1] (deletes it at
 * 0), expiry ARGV[3] ms, forgets the fields of nodes not in ARGV[4..] (the live ones).
 * Returns {total over live nodes, nodes holding a count}. Atomic: no two nodes interleave. */
static const char CL_LIM_LUA[] =
    "if ARGV[2] == '0' then redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]); redis.call('PEXPIRE', KEYS[1], ARGV[3]) "
    "end\n"
    "local live = {}\n"
    "for i = 4, #ARGV do live[ARGV[i]] = true end\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "local total, holders = 0, 0\n"
    "for i = 1, #all, 2 do\n"
    "  if live[all[i]] then total = total + tonumber(all[i + 1]); holders = holders + 1\n"
    "  else redis.call('HDEL', KEYS[1], all[i]) end\n"
    "end\n"
    "return {total, holders}\n";

/* A new route table: bumps the version, stores the table, announces it. KEYS: version key,
 * table key, the cluster channel; ARGV[1]: the table, ARGV[2]: the announcement's header
 * prefix; the version goes in as the message's RID, so that the version and the message
 * agree. */
static const char CL_ROUTES_LUA[] =
    "local v = redis.call('INCR', KEYS[1])\n"
    "redis.call('SET', KEYS[2], ARGV[1])\n"
    "redis.call('PUBLISH', KEYS[3], ARGV[2] .. ' ' .. v .. ' 0 0\\n')\n"
    "return v\n";

enum cl_pend {
	CL_P_IGNORE = 0,
	CL_P_SCRIPT_HB,
	CL_P_SCRIPT_LIM,
	CL_P_SCRIPT_ROUTES,
	CL_P_HB,
	CL_P_PING,
	CL_P_LIMIT,
	CL_P_ROUTES_GET,
	CL_P_ROUTES_PUT,
	CL_P_PUBLISH,
	CL_P_REQUEST, /* a cross-node request's PUBLISH: arg is its rid */
};

struct cl_pending {
	uint8_t kind;     /* enum cl_pend */
	uint64_t sent_ms; /* for the stall check */
	uint64_t hi, lo;  /* CL_P_LIMIT: the address; its live count reported in arg */
	uint64_t arg;
};

struct cl_link {
	const char *name; /* "cmd" or "sub", for the log */
	int fd;           /* -1: down */
	bool connected;   /* the TCP connect completed */
	struct resp_reader *rd;
	char *out;
	size_t out_off, out_len, out_cap;
	struct cl_pending pend[CL_PEND_MAX];
	uint32_t ph, pt;      /* pending ring: head (oldest), tail */
	uint64_t next_try_ms; /* while down: when to connect again */
	uint32_t backoff_ms;
	uint64_t opened_ms;  /* connect started (a connect that hangs is a stall too) */
	uint32_t pongs_owed; /* sub: PINGs not answered yet */
	uint64_t ping_sent_ms;
	unsigned subscribed; /* sub: channels confirmed */
	bool is_sub;         /* replies are matched by their type, not by the pending ring */
};

struct cl_node {
	char id[33];
	char address[64];
	char admin[64];
	char state[12];
	uint64_t conns;
	uint64_t hb_ms; /* Redis clock */
};

enum cl_msg_kind { CL_K_HEARTBEAT = 0, CL_K_ROUTES, CL_K_LIMIT, CL_K_REQUEST, CL_K_REPLY, CL_K_N };
static const char *const cl_kind_names[CL_K_N] = {"heartbeat", "routes", "limit", "request",
                                                  "reply"};

#define CL_NO_ADMIN "{\"error\":\"that node has no admin API\"}\n"

/* Cross-node request kinds, the label of wsgate_cluster_request_seconds. */
#define CL_REQ_KINDS 5
static const char *const cl_req_names[CL_REQ_KINDS] = {"push", "close", "get", "list", "bcast"};
/* Upper bounds (s) of the round-trip histogram: loopback is ~0.2 ms, a LAN a few ms, and
 * anything near 1 s is about to be a 504. */
#define CL_RTT_BOUNDS 11
static const double cl_rtt_bounds_s[CL_RTT_BOUNDS] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                                      0.05,   0.1,   0.25,  0.5,   1.0};

struct cluster {
	struct gateway *gw;
	char id[33];
	char prefix[33];
	char k_members[80], k_info[80], k_routes[80], k_routes_ver[80], k_ip[80];
	char ch_node[80], ch_all[80];
	struct cl_link cmd, sub;
	char sha_hb[41], sha_lim[41], sha_routes[41];
	bool registered; /* a heartbeat that refreshed this node was answered since connect */
	bool engine_up;
	bool draining;
	bool state_changed; /* heartbeat with the info now, not at the next 2 s */
	uint64_t next_hb_ms, next_view_ms, next_sync_ms, next_ping_ms;
	uint64_t routes_applied; /* version of the table this node took (0: none) */
	struct cl_node nodes[CL_NODES_MAX];
	unsigned n_nodes;
	uint64_t view_redis_ms, view_local_ms; /* Redis's clock at the last view, and ours */
	unsigned live_nodes_seen;              /* for the share when the engine is down */
	uint64_t rng;
	/* counters, control thread only (the exporter runs here too) */
	uint64_t msgs[CL_K_N][2]; /* [kind][0 in, 1 out] */
	uint64_t engine_downs;
	uint64_t rtt[CL_REQ_KINDS][CL_RTT_BOUNDS + 1]; /* round trips per bucket (not cumulative) */
	double rtt_sum[CL_REQ_KINDS];
	struct cluster_hooks hooks; /* the admin's; .on_request NULL: none (no admin listener) */
	bool has_hooks;
};

static uint64_t cl_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t cl_random(struct cluster *cl)
{
	uint64_t x = cl->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	cl->rng = x;
	return x;
}

const char *cluster_node_id(const struct cluster *cl)
{
	return cl->id;
}

void cluster_default_node_id(const struct gateway *gw, char *buf, size_t cap)
{
	const struct wsg_config *cfg = gw->cfg;
	if (cfg->node_id != NULL) {
		snprintf(buf, cap, "%s", cfg->node_id);
		return;
	}
	char host[256] = "node";
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "node");
	host[sizeof(host) - 1] = '\0';
	unsigned port = 0;
	const struct cfg_addr *a = cfg->n_listen > 0       ? &cfg->listen[0]
	                           : cfg->n_tls_listen > 0 ? &cfg->tls_listen[0]
	                                                   : NULL;
	if (a != NULL && a->ss.ss_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)(const void *)&a->ss)->sin_port);
	else if (a != NULL && a->ss.ss_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)(const void *)&a->ss)->sin6_port);
	char suffix[8];
	snprintf(suffix, sizeof(suffix), "-%u", port);
	size_t room = cap > 33 ? 32 : cap - 1;
	size_t hl = strlen(host);
	if (hl + strlen(suffix) > room)
		hl = room - strlen(suffix);
	for (size_t i = 0; i < hl; i++) {
		char ch = host[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		          (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
		buf[i] = ok ? ch : '-';
	}
	snprintf(buf + hl, cap - hl, "%s", suffix);
}

/* ---- links ----------------------------------------------------------------------------- */

static void cl_engine_check(struct cluster *cl, uint64_t now_ms);

static void cl_link_close(struct cluster *cl, struct cl_link *l, const char *why, uint64_t now_ms)
{
	if (l->fd != -1) {
		close(l->fd);
		l->fd = -1;
		LOG_WARN("cluster_link_down", "link=%s why=\"%s\"", l->name, why);
	}
	resp_reader_free(l->rd);
	l->rd = NULL;
	free(l->out);
	l->out = NULL;
	l->out_off = l->out_len = l->out_cap = 0;
	l->ph = l->pt = 0;
	l->connected = false;
	l->pongs_owed = 0;
	l->subscribed = 0;
	if (l->backoff_ms == 0)
		l->backoff_ms = CL_BACKOFF_MIN;
	/* +-50% jitter so that nodes cut off together do not come back in lockstep */
	uint64_t j = l->backoff_ms / 2 + cl_random(cl) % (l->backoff_ms + 1);
	l->next_try_ms = now_ms + j;
	l->backoff_ms = l->backoff_ms * 2 > CL_BACKOFF_MAX ? CL_BACKOFF_MAX : l->backoff_ms * 2;
	if (l == &cl->cmd) {
		cl->registered = false;
		cl->sha_hb[0] = cl->sha_lim[0] = cl->sha_routes[0] = '\0';
	}
	cl_engine_check(cl, now_ms);
}

static int cl_link_open(struct cluster *cl, struct cl_link *l, uint64_t now_ms)
{
	const struct cfg_addr *a = &cl->gw->cfg->cluster_addr;
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0 && errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return -e;
	}
	const struct resp_limits lim = {.bulk_max = 4u << 20, .elems_max = 65536, .depth_max = 4};
	l->rd = resp_reader_new(&lim);
	if (l->rd == NULL) {
		close(fd);
		return -ENOMEM;
	}
	l->fd = fd;
	l->connected = false;
	l->opened_ms = now_ms;
	return 0;
}

/* Queues one command; kind says what its reply is for. -1 when the link is down or over its
 * bounds (the caller's periodic work tries again). */
static int cl_send(struct cl_link *l, const struct cl_pending *p, int argc, const char **argv,
                   const size_t *argvlen)
{
	if (l->fd == -1 || l->pt - l->ph >= CL_PEND_MAX)
		return -1;
	char *cmd = NULL;
	long n = resp_format_command(&cmd, argc, argv, argvlen);
	if (n < 0)
		return -1;
	if (l->out_len + (size_t)n > CL_OUT_MAX) {
		free(cmd);
		return -1;
	}
	if (l->out_len + (size_t)n > l->out_cap) {
		size_t cap = l->out_cap ? l->out_cap : 4096;
		while (cap < l->out_len + (size_t)n)
			cap *= 2;
		char *b = realloc(l->out, cap);
		if (b == NULL) {
			free(cmd);
			return -1;
		}
		l->out = b;
		l->out_cap = cap;
	}
	memcpy(l->out + l->out_len, cmd, (size_t)n);
	l->out_len += (size_t)n;
	free(cmd);
	l->pend[l->pt++ & (CL_PEND_MAX - 1)] = *p;
	return 0;
}

static int cl_cmd(struct cluster *cl, uint8_t kind, uint64_t now_ms, int argc, const char **argv,
                  const size_t *argvlen)
{
	struct cl_pending p = {.kind = kind, .sent_ms = now_ms};
	return cl_send(&cl->cmd, &p, argc, argv, argvlen);
}

static void cl_flush(struct cluster *cl, struct cl_link *l, uint64_t now_ms)
{
	while (l->fd != -1 && l->connected && l->out_off < l->out_len) {
		ssize_t n = send(l->fd, l->out + l->out_off, l->out_len - l->out_off,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			cl_link_close(cl, l, n == 0 ? "send returned 0" : strerror(errno), now_ms);
			return;
		}
		l->out_off += (size_t)n;
	}
	if (l->out_off == l->out_len)
		l->out_off = l->out_len = 0;
}

/* ---- the engine's state ---------------------------------------------------------------- */

static void cl_share_update(struct cluster *cl)
{
	const struct wsg_config *cfg = cl->gw->cfg;
	unsigned n = cl->live_nodes_seen ? cl->live_nodes_seen : 1;
	cluster__limit_set_share((uint32_t)cfg->max_conns_per_ip, cfg->conn_rate.per_sec,
	                         cfg->conn_rate.burst, n);
}

static void cl_engine_check(struct cluster *cl, uint64_t now_ms)
{
	(void)now_ms;
	bool up = cl->cmd.fd != -1 && cl->sub.fd != -1 && cl->sha_hb[0] && cl->sha_lim[0] &&
	          cl->sha_routes[0] && cl->sub.subscribed >= 2 && cl->registered;
	if (up == cl->engine_up)
		return;
	cl->engine_up = up;
	if (up) {
		LOG_INFO("cluster_engine_up", "node=%s nodes=%u", cl->id, cl->n_nodes);
		cl->cmd.backoff_ms = cl->sub.backoff_ms = 0;
	} else {
		cl->engine_downs++;
		LOG_WARN("cluster_engine_down", "node=%s nodes_last_seen=%u", cl->id,
		         cl->live_nodes_seen);
		/* Leases were granted against counts we can no longer see: the share holds. */
		cluster__limit_drop_all();
		cluster__limit_publish();
	}
}

bool cluster_engine_up(const struct cluster *cl)
{
	return cl->engine_up;
}

/* ---- heartbeat and view ---------------------------------------------------------------- */

static void cl_heartbeat(struct cluster *cl, bool refresh, bool leave, uint64_t now_ms)
{
	if (!cl->sha_hb[0])
		return;
	char info[400] = "";
	if (refresh && !leave) {
		const struct wsg_config *cfg = cl->gw->cfg;
		const char *addr = cfg->n_listen > 0       ? cfg->listen[0].text
		                   : cfg->n_tls_listen > 0 ? cfg->tls_listen[0].text
		                                           : "";
		snprintf(
		    info, sizeof(info),
		    "{\"address\":\"%s\",\"admin\":\"%s\",\"state\":\"%s\",\"connections\":%llu}",
		    addr, cfg->admin_off ? "" : cfg->admin.text,
		    cl->draining ? "draining" : "active",
		    (unsigned long long)atomic_load(&cl->gw->client_socks));
	}
	char expire[24];
	snprintf(expire, sizeof(expire), "%u", CL_EXPIRE_MS);
	const char *argv[] = {"EVALSHA", cl->sha_hb, "2",    cl->k_members,    cl->k_info,
	                      cl->id,    info,       expire, leave ? "1" : "0"};
	struct cl_pending p = {.kind = CL_P_HB, .sent_ms = now_ms, .arg = refresh};
	if (cl_send(&cl->cmd, &p, 9, argv, NULL) == 0 && refresh)
		cl->msgs[CL_K_HEARTBEAT][1]++;
}

static void cl_json_str(const cJSON *o, const char *key, char *dst, size_t cap)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	snprintf(dst, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static void cl_on_view(struct cluster *cl, const redisReply *r, bool refreshed, uint64_t now_ms)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER)
		return;
	cl->view_redis_ms = (uint64_t)r->element[0]->integer;
	cl->view_local_ms = now_ms;
	unsigned n = 0;
	bool self = false;
	for (size_t i = 1; i + 3 <= r->elements && n < CL_NODES_MAX; i += 3) {
		const redisReply *id = r->element[i], *score = r->element[i + 1],
		                 *info = r->element[i + 2];
		if (id->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING ||
		    info->type != REDIS_REPLY_STRING)
			continue;
		struct cl_node *nd = &cl->nodes[n];
		memset(nd, 0, sizeof(*nd));
		snprintf(nd->id, sizeof(nd->id), "%.*s", (int)(id->len < 32 ? id->len : 32),
		         id->str);
		nd->hb_ms = strtoull(score->str, NULL, 10);
		cJSON *o = cJSON_ParseWithLength(info->str, info->len);
		if (o != NULL) {
			cl_json_str(o, "address", nd->address, sizeof(nd->address));
			cl_json_str(o, "admin", nd->admin, sizeof(nd->admin));
			cl_json_str(o, "state", nd->state, sizeof(nd->state));
			const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "connections");
			nd->conns =
			    cJSON_IsNumber(c) && c->valuedouble > 0 ? (uint64_t)c->valuedouble : 0;
			cJSON_Delete(o);
		}
		if (strcmp(nd->id, cl->id) == 0)
			self = true;
		n++;
	}
	if (n != cl->n_nodes)
		LOG_INFO("cluster_view", "nodes=%u", n);
	cl->n_nodes = n;
	if (refreshed && self && !cl->registered) {
		cl->registered = true;
		LOG_INFO("cluster_registered", "node=%s nodes=%u", cl->id, n);
	}
	if (n > 0) {
		cl->live_nodes_seen = n;
		cl_share_update(cl);
	}
	cl_engine_check(cl, now_ms);
}

/* ---- routes ---------------------------------------------------------------------------- */

static void cl_routes_fetch(struct cluster *cl, uint64_t now_ms)
{
	const char *argv[] = {"MGET", cl->k_routes_ver, cl->k_routes};
	(void)cl_cmd(cl, CL_P_ROUTES_GET, now_ms, 3, argv, NULL);
}

static void cl_on_routes(struct cluster *cl, const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
		return; /* no table stored yet: this node's own stays */
	uint64_t ver = strtoull(r->element[0]->str, NULL, 10);
	if (ver == 0 || ver == cl->routes_applied)
		return;
	char err[512];
	struct rt_route_def *defs = NULL;
	unsigned n = 0;
	if (config_parse_routes_json(r->element[1]->str, r->element[1]->len, &defs, &n, err,
	                             sizeof(err)) != 0) {
		LOG_ERROR("cluster_routes_refused", "version=%llu why=\"%s\"",
		          (unsigned long long)ver, err);
		cl->routes_applied = ver; /* not again until the next version */
		return;
	}
	struct rt_table *t = gateway_table_new(cl->gw, defs, n, err, sizeof(err));
	config_routes_free(defs, n);
	if (t == NULL) {
		LOG_ERROR("cluster_routes_refused", "version=%llu why=\"%s\"",
		          (unsigned long long)ver, err);
		cl->routes_applied = ver;
		return;
	}
	rt_publish(t);
	LOG_INFO("cluster_routes_applied", "version=%llu routes=%u previous=%llu",
	         (unsigned long long)ver, n, (unsigned long long)cl->routes_applied);
	cl->routes_applied = ver;
}

int cluster_routes_publish(struct cluster *cl, const char *json, size_t len)
{
	if (!cl->engine_up)
		return -1;
	char head[64];
	snprintf(head, sizeof(head), "WSG1 routes %s", cl->id);
	const char *argv[] = {"EVALSHA",    cl->sha_routes, "3",  cl->k_routes_ver,
	                      cl->k_routes, cl->ch_all,     json, head};
	size_t lens[] = {7,
	                 strlen(cl->sha_routes),
	                 1,
	                 strlen(cl->k_routes_ver),
	                 strlen(cl->k_routes),
	                 strlen(cl->ch_all),
	                 len,
	                 strlen(head)};
	if (cl_cmd(cl, CL_P_ROUTES_PUT, cl_clock_ms(), 8, argv, lens) != 0)
		return -1;
	cl->msgs[CL_K_ROUTES][1]++;
	return 0;
}

/* ---- shared limits --------------------------------------------------------------------- */

struct cl_sync_ctx {
	struct cluster *cl;
	uint64_t now_ms;
	unsigned sent;
};

static void cl_sync_one(struct cl_sync_ctx *x, uint64_t hi, uint64_t lo, uint32_t live)
{
	struct cluster *cl = x->cl;
	if (x->sent >= CL_SYNC_BATCH || cl->n_nodes == 0)
		return;
	char key[128], node_count[16], ttl[16];
	snprintf(key, sizeof(key), "%s%016llx%016llx", cl->k_ip, (unsigned long long)hi,
	         (unsigned long long)lo);
	snprintf(node_count, sizeof(node_count), "%u", live);
	snprintf(ttl, sizeof(ttl), "%u", CL_EXPIRE_MS * 2);
	const char *argv[4 + 3 + CL_NODES_MAX];
	int argc = 0;
	argv[argc++] = "EVALSHA";
	argv[argc++] = cl->sha_lim;
	argv[argc++] = "1";
	argv[argc++] = key;
	argv[argc++] = cl->id;
	argv[argc++] = node_count;
	argv[argc++] = ttl;
	for (unsigned i = 0; i < cl->n_nodes; i++)
		argv[argc++] = cl->nodes[i].id;
	struct cl_pending p = {
	    .kind = CL_P_LIMIT, .sent_ms = x->now_ms, .hi = hi, .lo = lo, .arg = live};
	if (cl_send(&cl->cmd, &p, argc, argv, NULL) == 0) {
		x->sent++;
		cl->msgs[CL_K_LIMIT][1]++;
	}
}

static void cl_sync_visit(void *arg, uint64_t hi, uint64_t lo, uint32_t live)
{
	struct cl_sync_ctx *x = arg;
	uint32_t share = cluster__limit_share();
	/* Far below the share: no need to tell anyone (and no lease needed). */
	if (cluster__limit_find(hi, lo) == NULL && (uint64_t)live * 2 < share)
		return;
	cl_sync_one(x, hi, lo, live);
}

static void cl_sync(struct cluster *cl, uint64_t now_ms)
{
	struct gateway *gw = cl->gw;
	if (!gw->iplimit_on || gw->cfg->max_conns_per_ip == 0 || !cl->engine_up)
		return;
	struct cl_sync_ctx x = {cl, now_ms, 0};
	iplimit_scan(&gw->iplimit, cl_sync_visit, &x);
	/* Leases of addresses with no live conn any more: report 0 (removes our count). */
	unsigned n;
	struct cl_lease_ent *m = cluster__limit_master(&n);
	for (unsigned i = 0; i < n && x.sent < CL_SYNC_BATCH; i++)
		if (now_ms - m[i].synced_ms > CL_SYNC_MS * 2)
			cl_sync_one(&x, m[i].hi, m[i].lo, 0);
}

static void cl_on_limit(struct cluster *cl, const struct cl_pending *p, const redisReply *r,
                        uint64_t now_ms)
{
	cl->msgs[CL_K_LIMIT][0]++;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_INTEGER ||
	    r->element[1]->type != REDIS_REPLY_INTEGER)
		return;
	if (p->arg == 0) {
		cluster__limit_forget(p->hi, p->lo);
		return;
	}
	uint64_t limit = cl->gw->cfg->max_conns_per_ip;
	uint64_t total = (uint64_t)(r->element[0]->integer > 0 ? r->element[0]->integer : 0);
	uint64_t holders = (uint64_t)(r->element[1]->integer > 0 ? r->element[1]->integer : 0);
	uint64_t nodes = cl->n_nodes ? cl->n_nodes : 1;
	uint64_t share = cluster__limit_share();
	/* Live nodes that hold nothing for this address may still admit their share of it
	 * without asking: keep that much aside. */
	uint64_t reserved = nodes > holders ? (nodes - holders) * share : 0;
	uint64_t used = total + reserved;
	uint64_t free_ = limit > used ? limit - used : 0;
	uint64_t allow = p->arg + free_ / nodes;
	if (allow > UINT32_MAX)
		allow = UINT32_MAX;
	(void)cluster__limit_set(p->hi, p->lo, (uint32_t)allow, now_ms);
}

/* ---- replies --------------------------------------------------------------------------- */

static void cl_on_script(struct cluster *cl, char *dst, const redisReply *r, uint64_t now_ms)
{
	if (r->type != REDIS_REPLY_STRING || r->len != 40) {
		LOG_ERROR("cluster_script", "why=\"SCRIPT LOAD refused\" reply=%d", r->type);
		return;
	}
	memcpy(dst, r->str, 40);
	dst[40] = '\0';
	if (cl->sha_hb[0] && cl->sha_lim[0] && cl->sha_routes[0]) {
		cl_heartbeat(cl, true, false, now_ms);
		cl->next_hb_ms = now_ms + CL_HEARTBEAT_MS;
		cl_routes_fetch(cl, now_ms);
	}
}

static void cl_on_cmd_reply(struct cluster *cl, const struct cl_pending *p, const redisReply *r,
                            uint64_t now_ms)
{
	if (r->type == REDIS_REPLY_ERROR && p->kind != CL_P_IGNORE)
		LOG_WARN("cluster_redis_error", "kind=%u err=\"%.*s\"", p->kind,
		         (int)(r->len < 200 ? r->len : 200), r->str);
	switch ((enum cl_pend)p->kind) {
	case CL_P_SCRIPT_HB:
		cl_on_script(cl, cl->sha_hb, r, now_ms);
		break;
	case CL_P_SCRIPT_LIM:
		cl_on_script(cl, cl->sha_lim, r, now_ms);
		break;
	case CL_P_SCRIPT_ROUTES:
		cl_on_script(cl, cl->sha_routes, r, now_ms);
		break;
	case CL_P_HB:
		cl_on_view(cl, r, p->arg != 0, now_ms);
		break;
	case CL_P_LIMIT:
		cl_on_limit(cl, p, r, now_ms);
		break;
	case CL_P_ROUTES_GET:
		cl_on_routes(cl, r);
		break;
	case CL_P_ROUTES_PUT:
		if (r->type == REDIS_REPLY_INTEGER) {
			LOG_INFO("cluster_routes_published", "version=%lld", r->integer);
			cl->routes_applied = (uint64_t)r->integer; /* ours already */
		}
		break;
	case CL_P_REQUEST:
		if (cl->has_hooks)
			cl->hooks.on_published(cl->hooks.arg, p->arg,
			                       r->type == REDIS_REPLY_INTEGER ? (long)r->integer
			                                                      : -1);
		break;
	case CL_P_IGNORE:
	case CL_P_PING:
	case CL_P_PUBLISH:
		break;
	}
}

/* A message on one of our channels. */
static void cl_on_message(struct cluster *cl, const redisReply *payload, uint64_t now_ms)
{
	struct resp_msg m;
	if (resp_msg_parse((const uint8_t *)payload->str, payload->len, &m) != RESP_RC_OK) {
		LOG_WARN("cluster_bad_message", "bytes=%zu", payload->len);
		return;
	}
	if (resp_view_is(m.kind, "routes")) {
		cl->msgs[CL_K_ROUTES][0]++;
		if (m.rid != cl->routes_applied)
			cl_routes_fetch(cl, now_ms);
		return;
	}
	char kind[16], from[33];
	snprintf(kind, sizeof(kind), "%.*s", (int)m.kind.n, (const char *)m.kind.p);
	snprintf(from, sizeof(from), "%.*s", (int)m.from.n, (const char *)m.from.p);
	struct cluster_msg cm = {.kind = kind,
	                         .from = from,
	                         .rid = m.rid,
	                         .num = m.num,
	                         .arg = m.arg.p,
	                         .arg_len = m.arg.n,
	                         .body = m.body.p,
	                         .body_len = m.body.n};
	bool is_req = false;
	for (unsigned i = 0; i < CL_REQ_KINDS; i++)
		is_req = is_req || strcmp(kind, cl_req_names[i]) == 0;
	if (is_req) {
		/* A request to every node comes back to its sender too: the sender has already
		 * done its own part locally, so that every client gets a broadcast once. */
		if (strcmp(from, cl->id) == 0)
			return;
		cl->msgs[CL_K_REQUEST][0]++;
		if (cl->has_hooks)
			cl->hooks.on_request(cl->hooks.arg, &cm);
		else
			(void)cluster_reply(cl, from, m.rid, 503, CL_NO_ADMIN, strlen(CL_NO_ADMIN));
		return;
	}
	if (resp_view_is(m.kind, "reply")) {
		cl->msgs[CL_K_REPLY][0]++;
		if (cl->has_hooks)
			cl->hooks.on_reply(cl->hooks.arg, &cm);
		return;
	}
	LOG_DEBUG("cluster_message_ignored", "kind=%.*s", (int)m.kind.n, (const char *)m.kind.p);
}

static void cl_on_sub_reply(struct cluster *cl, const redisReply *r, uint64_t now_ms)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return;
	const redisReply *k = r->element[0];
	if (k->len == 7 && memcmp(k->str, "message", 7) == 0 && r->elements == 3 &&
	    r->element[2]->type == REDIS_REPLY_STRING) {
		cl_on_message(cl, r->element[2], now_ms);
	} else if (k->len == 9 && memcmp(k->str, "subscribe", 9) == 0) {
		cl->sub.subscribed++;
		cl_engine_check(cl, now_ms);
	} else if (k->len == 4 && memcmp(k->str, "pong", 4) == 0) {
		if (cl->sub.pongs_owed > 0)
			cl->sub.pongs_owed--;
	}
}

static void cl_link_read(struct cluster *cl, struct cl_link *l, uint64_t now_ms)
{
	uint8_t buf[16384];
	for (unsigned rounds = 0; rounds < 16 && l->fd != -1; rounds++) {
		ssize_t n = recv(l->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			cl_link_close(cl, l, n == 0 ? "closed by Redis" : strerror(errno), now_ms);
			return;
		}
		if (resp_reader_feed(l->rd, buf, (size_t)n) != 0) {
			cl_link_close(cl, l, "reply over its bounds", now_ms);
			return;
		}
		for (;;) {
			struct redisReply *r = NULL;
			enum resp_rc rc = resp_reader_next(l->rd, &r);
			if (rc == RESP_RC_MORE)
				break;
			if (rc == RESP_RC_FAIL) {
				cl_link_close(cl, l, "not RESP2", now_ms);
				return;
			}
			if (l == &cl->sub) {
				cl_on_sub_reply(cl, r, now_ms);
			} else if (l->ph != l->pt) {
				struct cl_pending p = l->pend[l->ph++ & (CL_PEND_MAX - 1)];
				cl_on_cmd_reply(cl, &p, r, now_ms);
			}
			resp_reply_free(r);
			if (l->fd == -1)
				return;
		}
	}
}

/* A link's connect completed: what every (re)connection starts with. */
static void cl_link_ready(struct cluster *cl, struct cl_link *l, uint64_t now_ms)
{
	l->connected = true;
	LOG_INFO("cluster_link_up", "link=%s redis=%s", l->name, cl->gw->cfg->cluster_addr.text);
	if (l == &cl->sub) {
		const char *argv[] = {"SUBSCRIBE", cl->ch_node, cl->ch_all};
		struct cl_pending p = {.kind = CL_P_IGNORE, .sent_ms = now_ms};
		(void)cl_send(l, &p, 3, argv, NULL);
		l->ph = l->pt; /* the sub link matches what comes back by its type */
		return;
	}
	const char *a1[] = {"SCRIPT", "LOAD", CL_HB_LUA};
	const char *a2[] = {"SCRIPT", "LOAD", CL_LIM_LUA};
	const char *a3[] = {"SCRIPT", "LOAD", CL_ROUTES_LUA};
	(void)cl_cmd(cl, CL_P_SCRIPT_HB, now_ms, 3, a1, NULL);
	(void)cl_cmd(cl, CL_P_SCRIPT_LIM, now_ms, 3, a2, NULL);
	(void)cl_cmd(cl, CL_P_SCRIPT_ROUTES, now_ms, 3, a3, NULL);
}

/* ---- the poll loop's part -------------------------------------------------------------- */

unsigned cluster_pollfds(struct cluster *cl, struct pollfd *fds, unsigned cap)
{
	unsigned n = 0;
	struct cl_link *links[2] = {&cl->cmd, &cl->sub};
	for (unsigned i = 0; i < 2 && n < cap; i++) {
		struct cl_link *l = links[i];
		short ev = POLLIN;
		if (!l->connected || l->out_off < l->out_len)
			ev |= POLLOUT;
		fds[n++] = (struct pollfd){.fd = l->fd, .events = ev}; /* fd -1: ignored by poll */
	}
	return n;
}

static void cl_link_poll(struct cluster *cl, struct cl_link *l, short revents, uint64_t now_ms)
{
	if (l->fd == -1)
		return;
	if (!l->connected) {
		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return;
		int err = 0;
		socklen_t el = sizeof(err);
		if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
			cl_link_close(cl, l, strerror(err ? err : errno), now_ms);
			return;
		}
		cl_link_ready(cl, l, now_ms);
	}
	if (revents & (POLLIN | POLLERR | POLLHUP))
		cl_link_read(cl, l, now_ms);
}

/* Owes a reply (or a connect) for too long: CLIENT PAUSE, a peer gone without a RST. */
static bool cl_link_stalled(const struct cl_link *l, uint64_t now_ms)
{
	if (l->fd == -1)
		return false;
	if (!l->connected)
		return now_ms - l->opened_ms > CL_STALL_MS;
	if (l->pongs_owed > 0 && now_ms - l->ping_sent_ms > CL_STALL_MS)
		return true;
	if (l->is_sub && l->subscribed < 2 && now_ms - l->opened_ms > CL_STALL_MS)
		return true;
	/* A command queued from outside cluster_on_poll (an admin call, PUT /routes) is stamped
	 * with a clock read after the loop's now_ms: later than it, not stalled. */
	uint64_t sent = l->pend[l->ph & (CL_PEND_MAX - 1)].sent_ms;
	return l->ph != l->pt && now_ms > sent && now_ms - sent > CL_STALL_MS;
}

void cluster_on_poll(struct cluster *cl, const struct pollfd *fds, unsigned n, uint64_t now_ms)
{
	struct cl_link *links[2] = {&cl->cmd, &cl->sub};
	for (unsigned i = 0; i < 2; i++) {
		struct cl_link *l = links[i];
		if (i < n && fds[i].fd == l->fd)
			cl_link_poll(cl, l, fds[i].revents, now_ms);
		if (cl_link_stalled(l, now_ms))
			cl_link_close(cl, l, "no answer within 600 ms", now_ms);
		if (l->fd == -1 && now_ms >= l->next_try_ms) {
			int rc = cl_link_open(cl, l, now_ms);
			if (rc != 0)
				cl_link_close(cl, l, strerror(-rc), now_ms);
		}
	}
	if (cl->cmd.connected && cl->sha_hb[0]) {
		bool refresh = cl->state_changed || now_ms >= cl->next_hb_ms || !cl->registered;
		if (refresh || now_ms >= cl->next_view_ms) {
			/* Not while one is owed: a stalled engine gets no pile of heartbeats. */
			bool owed = false;
			for (uint32_t j = cl->cmd.ph; j != cl->cmd.pt; j++)
				if (cl->cmd.pend[j & (CL_PEND_MAX - 1)].kind == CL_P_HB)
					owed = true;
			if (!owed) {
				cl_heartbeat(cl, refresh, false, now_ms);
				cl->next_view_ms = now_ms + CL_VIEW_MS;
				if (refresh) {
					cl->next_hb_ms = now_ms + CL_HEARTBEAT_MS;
					cl->state_changed = false;
				}
			}
		}
	}
	if (cl->cmd.connected && now_ms >= cl->next_ping_ms && cl->cmd.ph == cl->cmd.pt) {
		const char *argv[] = {"PING"};
		(void)cl_cmd(cl, CL_P_PING, now_ms, 1, argv, NULL);
	}
	if (cl->sub.connected && now_ms >= cl->next_ping_ms && cl->sub.pongs_owed == 0) {
		const char *argv[] = {"PING"};
		struct cl_pending p = {.kind = CL_P_IGNORE, .sent_ms = now_ms};
		if (cl_send(&cl->sub, &p, 1, argv, NULL) == 0) {
			cl->sub.ph = cl->sub.pt; /* the sub link matches replies by type */
			cl->sub.pongs_owed++;
			cl->sub.ping_sent_ms = now_ms;
		}
	}
	if (now_ms >= cl->next_ping_ms)
		cl->next_ping_ms = now_ms + CL_PING_MS;
	if (now_ms >= cl->next_sync_ms) {
		cl->next_sync_ms = now_ms + CL_SYNC_MS;
		cl_sync(cl, now_ms);
		cluster__limit_publish();
	}
	cl_flush(cl, &cl->cmd, now_ms);
	cl_flush(cl, &cl->sub, now_ms);
}

void cluster_drain(struct cluster *cl)
{
	cl->draining = true;
	cl->state_changed = true;
	LOG_INFO("cluster_draining", "node=%s", cl->id);
}

/* ---- cross-node calls ------------------------------------------------------------------ */

void cluster_set_hooks(struct cluster *cl, const struct cluster_hooks *h)
{
	cl->has_hooks = h != NULL;
	if (h != NULL)
		cl->hooks = *h;
}

/* PUBLISHes message m on channel ch; pending p. 0 or -1. */
static int cl_publish(struct cluster *cl, const char *ch, const struct resp_msg *m,
                      const struct cl_pending *p)
{
	size_t cap = RESP_MSG_HEAD_MAX + m->arg.n + m->body.n;
	uint8_t *buf = malloc(cap);
	if (buf == NULL)
		return -1;
	long n = resp_msg_encode(buf, cap, m);
	int rc = -1;
	if (n > 0) {
		const char *argv[] = {"PUBLISH", ch, (const char *)buf};
		size_t lens[] = {7, strlen(ch), (size_t)n};
		rc = cl_send(&cl->cmd, p, 3, argv, lens);
	}
	free(buf);
	return rc;
}

int cluster_request(struct cluster *cl, const char *to, const char *kind, uint64_t rid,
                    uint32_t num, const void *arg, size_t arg_len, const void *body,
                    size_t body_len)
{
	if (!cl->engine_up || arg_len > RESP_MSG_ARG_MAX || body_len > CLUSTER_BODY_MAX)
		return -1;
	char ch[80];
	if (to != NULL)
		snprintf(ch, sizeof(ch), "%s:node:%s", cl->prefix, to);
	else
		snprintf(ch, sizeof(ch), "%s", cl->ch_all);
	struct resp_msg m = {.kind = {(const uint8_t *)kind, strlen(kind)},
	                     .from = {(const uint8_t *)cl->id, strlen(cl->id)},
	                     .rid = rid,
	                     .num = num,
	                     .arg = {arg, arg_len},
	                     .body = {body, body_len}};
	struct cl_pending p = {.kind = CL_P_REQUEST, .sent_ms = cl_clock_ms(), .arg = rid};
	if (cl_publish(cl, ch, &m, &p) != 0)
		return -1;
	cl->msgs[CL_K_REQUEST][1]++;
	return 0;
}

int cluster_reply(struct cluster *cl, const char *to, uint64_t rid, unsigned status,
                  const void *body, size_t body_len)
{
	if (cl->cmd.fd == -1 || !cl->cmd.connected || body_len > CLUSTER_REPLY_MAX)
		return -1;
	char ch[80];
	snprintf(ch, sizeof(ch), "%s:node:%s", cl->prefix, to);
	struct resp_msg m = {.kind = {(const uint8_t *)"reply", 5},
	                     .from = {(const uint8_t *)cl->id, strlen(cl->id)},
	                     .rid = rid,
	                     .num = status,
	                     .body = {body, body_len}};
	struct cl_pending p = {.kind = CL_P_PUBLISH, .sent_ms = cl_clock_ms()};
	if (cl_publish(cl, ch, &m, &p) != 0)
		return -1;
	cl->msgs[CL_K_REPLY][1]++;
	return 0;
}

void cluster_observe_request(struct cluster *cl, const char *kind, uint64_t us)
{
	unsigned k = 0;
	while (k < CL_REQ_KINDS && strcmp(kind, cl_req_names[k]) != 0)
		k++;
	if (k == CL_REQ_KINDS)
		return;
	double s = (double)us / 1e6;
	unsigned b = 0;
	while (b < CL_RTT_BOUNDS && s > cl_rtt_bounds_s[b])
		b++;
	cl->rtt[k][b]++;
	cl->rtt_sum[k] += s;
}

/* ---- admin and metrics ----------------------------------------------------------------- */

char *cluster_nodes_json(struct cluster *cl, uint64_t now_ms, size_t *len)
{
	cJSON *o = cJSON_CreateObject();
	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "node", cl->id);
	cJSON_AddStringToObject(o, "engine", cl->engine_up ? "up" : "down");
	cJSON_AddStringToObject(o, "redis", cl->gw->cfg->cluster_addr.text);
	cJSON_AddStringToObject(o, "prefix", cl->prefix);
	cJSON_AddNumberToObject(o, "routes_version", (double)cl->routes_applied);
	/* With the engine down the list is the last one seen, and says so. */
	cJSON_AddBoolToObject(o, "stale", !cl->engine_up);
	cJSON *arr = cJSON_AddArrayToObject(o, "nodes");
	uint64_t redis_now = cl->view_redis_ms + (now_ms - cl->view_local_ms);
	for (unsigned i = 0; arr != NULL && i < cl->n_nodes; i++) {
		const struct cl_node *nd = &cl->nodes[i];
		uint64_t age = redis_now > nd->hb_ms ? redis_now - nd->hb_ms : 0;
		if (cl->engine_up && age > CL_EXPIRE_MS)
			continue; /* dead since the last view */
		cJSON *e = cJSON_CreateObject();
		if (e == NULL)
			break;
		cJSON_AddStringToObject(e, "id", nd->id);
		cJSON_AddStringToObject(e, "address", nd->address);
		cJSON_AddStringToObject(e, "admin", nd->admin);
		cJSON_AddStringToObject(e, "state", nd->state);
		cJSON_AddNumberToObject(e, "connections", (double)nd->conns);
		cJSON_AddNumberToObject(e, "last_heartbeat_ms", (double)age);
		cJSON_AddBoolToObject(e, "self", strcmp(nd->id, cl->id) == 0);
		cJSON_AddItemToArray(arr, e);
	}
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (s == NULL)
		return NULL;
	size_t n = strlen(s);
	char *out = malloc(n + 2);
	if (out != NULL) {
		memcpy(out, s, n);
		out[n] = '\n';
		out[n + 1] = '\0';
		*len = n + 1;
	}
	cJSON_free(s);
	return out;
}

void cluster_metrics(struct cluster *cl, struct prom_buf *b)
{
	prom_family(b, "wsgate_cluster_nodes", "gauge",
	            "Live nodes in the cluster as last seen (this one included).");
	prom_sample_u64(b, "wsgate_cluster_nodes", NULL, 0, cl->n_nodes);
	prom_family(b, "wsgate_cluster_engine_up", "gauge",
	            "1 while the cluster's Redis is reachable and this node registered.");
	prom_sample_u64(b, "wsgate_cluster_engine_up", NULL, 0, cl->engine_up ? 1 : 0);
	prom_family(b, "wsgate_cluster_engine_down_total", "counter",
	            "Times the cluster's Redis was lost.");
	prom_sample_u64(b, "wsgate_cluster_engine_down_total", NULL, 0, cl->engine_downs);
	prom_family(b, "wsgate_cluster_messages_total", "counter",
	            "Cluster messages and engine calls by kind and direction.");
	for (unsigned k = 0; k < CL_K_N; k++)
		for (unsigned d = 0; d < 2; d++) {
			struct prom_label l[2] = {{"kind", cl_kind_names[k]},
			                          {"direction", d ? "out" : "in"}};
			prom_sample_u64(b, "wsgate_cluster_messages_total", l, 2, cl->msgs[k][d]);
		}
	prom_family(b, "wsgate_cluster_request_seconds", "histogram",
	            "Cross-node admin requests: publish to the owner's reply, by kind.");
	for (unsigned k = 0; k < CL_REQ_KINDS; k++) {
		struct prom_label l = {"kind", cl_req_names[k]};
		prom_histogram(b, "wsgate_cluster_request_seconds", &l, 1, cl_rtt_bounds_s,
		               CL_RTT_BOUNDS, cl->rtt[k], cl->rtt_sum[k]);
	}
}

/* ---- life ------------------------------------------------------------------------------ */

struct cluster *cluster_new(struct gateway *gw, char *err, size_t err_len)
{
	struct cluster *cl = calloc(1, sizeof(*cl));
	if (cl == NULL) {
		snprintf(err, err_len, "--cluster: out of memory");
		return NULL;
	}
	cl->gw = gw;
	cluster_default_node_id(gw, cl->id, sizeof(cl->id));
	snprintf(cl->prefix, sizeof(cl->prefix), "%s",
	         gw->cfg->cluster_prefix ? gw->cfg->cluster_prefix : "wsgate");
	snprintf(cl->k_members, sizeof(cl->k_members), "%s:members", cl->prefix);
	snprintf(cl->k_info, sizeof(cl->k_info), "%s:info", cl->prefix);
	snprintf(cl->k_routes, sizeof(cl->k_routes), "%s:routes", cl->prefix);
	snprintf(cl->k_routes_ver, sizeof(cl->k_routes_ver), "%s:routes:version", cl->prefix);
	snprintf(cl->k_ip, sizeof(cl->k_ip), "%s:ip:", cl->prefix);
	snprintf(cl->ch_node, sizeof(cl->ch_node), "%s:node:%s", cl->prefix, cl->id);
	snprintf(cl->ch_all, sizeof(cl->ch_all), "%s:all", cl->prefix);
	cl->cmd = (struct cl_link){.name = "cmd", .fd = -1};
	cl->sub = (struct cl_link){.name = "sub", .fd = -1, .is_sub = true};
	if (getentropy(&cl->rng, sizeof(cl->rng)) != 0 || cl->rng == 0)
		cl->rng = (uint64_t)cl_clock_ms() * 0x9e3779b97f4a7c15ull | 1;
	cl->live_nodes_seen = 1;
	if (gw->iplimit_on)
		cluster__limit_init(&gw->iplimit);
	cl_share_update(cl);
	LOG_INFO("cluster", "node=%s redis=%s prefix=%s", cl->id, gw->cfg->cluster_addr.text,
	         cl->prefix);
	return cl;
}

void cluster_free(struct cluster *cl)
{
	if (cl == NULL)
		return;
	/* Leave at once rather than after 6 s of silence: bounded, best effort. */
	if (cl->engine_up) {
		uint64_t now = cl_clock_ms();
		cl_heartbeat(cl, false, true, now);
		uint64_t until = now + 300;
		while (cl->cmd.fd != -1 && cl->cmd.ph != cl->cmd.pt &&
		       (now = cl_clock_ms()) < until) {
			cl_flush(cl, &cl->cmd, now);
			struct pollfd p = {.fd = cl->cmd.fd, .events = POLLIN};
			if (poll(&p, 1, 50) > 0)
				cl_link_read(cl, &cl->cmd, now);
		}
		LOG_INFO("cluster_left", "node=%s", cl->id);
	}
	struct cl_link *links[2] = {&cl->cmd, &cl->sub};
	for (unsigned i = 0; i < 2; i++) {
		if (links[i]->fd != -1)
			close(links[i]->fd);
		resp_reader_free(links[i]->rd);
		free(links[i]->out);
	}
	cluster__limit_fini();
	free(cl);
}
