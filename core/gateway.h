#ifndef WSG_CORE_GATEWAY_H
#define WSG_CORE_GATEWAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/iplimit.h"
#include "core/cmdq.h"
#include "core/config.h"
#include "proto/limits.h"

/* The process: listeners, the acceptor, the workers and the control thread's loop (signals,
 * admin API, drain, route reclamation). Both wsgate and wsgate-echo run through here; the
 * program says what its workers do with an accepted socket through a small table
 * (struct gateway_app), so the core never names either program's protocol layer. */

struct worker;
struct acceptor;
struct conn;

struct gateway_app {
	const char *prog; /* "wsgate" or "wsgate-echo", for messages */
	/* A client socket arrived (the conn is new, its peer address set): install ops, arm
	 * the handshake timer and the first receive. over_limit: over --max-conns, answer
	 * 503. */
	void (*on_accept)(struct worker *w, struct conn *c, bool over_limit);
	/* SIGTERM on this worker: say goodbye to every client (the worker exits once its last
	 * conn is freed). */
	void (*on_drain)(struct worker *w);
	/* A command of the program's own (cmd->kind >= WCMD_APP, core/worker.h) on this worker:
	 * act, set cmd->res (and whatever the payload carries back) and return true; false for
	 * a kind it does not know. The worker replies. NULL: the program has none. */
	bool (*on_cmd)(struct worker *w, struct cmdq_cmd *cmd);
	unsigned fds_per_client; /* 2 for a proxy (client + backend), 1 for a server */
	size_t owner_size;       /* per-client object of the program's layer (a tunnel), 0: none;
	                          * each worker has a slab of them (worker.owners) */
	size_t handshake_size;   /* per-handshake state, freed at the upgrade (worker.handshakes) */
	bool routes;             /* publishes route tables: workers pass quiescent points */
	bool admin;              /* runs the admin listener */
	bool drain_log;          /* logs drain_done/drain_timeout lines */
};

struct gateway {
	const struct wsg_config *cfg;
	const struct gateway_app *app;
	const char *prog;         /* app->prog */
	struct wsg_limits limits; /* head/headers limits and --max-message */
	struct worker *workers;
	unsigned n_workers;
	struct acceptor *acceptor;
	_Atomic uint64_t client_socks; /* written: acceptor (+), workers (-); read: all */
	_Atomic bool draining;         /* written: control thread; read: admin, workers */
	_Atomic bool listening;        /* written: control thread; read: admin */
	uint64_t max_clients;          /* --max-conns, lowered to what the fd limit can hold */
	char id_prefix[40];            /* connection ids: "<prefix>.<n>" (tunnel_id_text); in a
	                                * cluster the node id (NODE.N, SPEC.md) */
	struct cluster *cluster;       /* --cluster: core/cluster.c (control thread); NULL: alone.
	                                * Workers only test it for NULL. */
	struct metrics_reg *reg;       /* route/backend counter slots; control thread only */
	struct cmdq_bell bell;         /* doorbells of the workers' command queues; control */
	/* TLS client contexts for wss:// backends, [0] verifying (--backend-ca or the system
	 * bundle), [1] not (tls-verify=false); built by the control thread before a table that
	 * needs them is published. written: control (release); read: workers (acquire). */
	_Atomic(struct tls_ctx *) tls_client[2];
	/* --max-conns-per-ip / --conn-rate: the gateway-wide per-address table (auth/iplimit),
	 * shared by every worker (lock-free); set up before the workers start. */
	bool iplimit_on;
	struct iplimit iplimit;
};

struct rt_route_def;
struct rt_table;
struct tls_ctx;
/* Builds a route table from defs with its counter slots assigned (control thread), ready to
 * publish; NULL with one line in err. */
struct rt_table *gateway_table_new(struct gateway *gw, const struct rt_route_def *defs, unsigned n,
                                   char *err, size_t err_len);

/* Runs the gateway until a signal ends it. Returns the process exit status: 0 after a clean
 * drain, 1 on a runtime failure (the reason printed as the last stderr line). */
int gateway_run(const struct wsg_config *cfg, const struct gateway_app *app);

#endif
