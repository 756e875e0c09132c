#ifndef WSG_CORE_GATEWAY_H
#define WSG_CORE_GATEWAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "proto/limits.h"

/* The process: listeners, the acceptor, the workers and the control thread's loop (signals,
 * admin API, drain, route reclamation). Both wsgate and wsgate-echo run through here; the mode
 * says what a worker does with an upgraded conn. */

enum gw_mode {
	GW_MODE_PROXY = 0, /* wsgate: route, dial a backend, relay */
	GW_MODE_ECHO,      /* wsgate-echo: answer every message itself */
};

struct worker;
struct acceptor;

struct gateway {
	const struct wsg_config *cfg;
	enum gw_mode mode;
	const char *prog;         /* "wsgate" or "wsgate-echo", for messages */
	struct wsg_limits limits; /* head/headers limits and --max-message */
	struct worker *workers;
	unsigned n_workers;
	struct acceptor *acceptor;
	_Atomic uint64_t client_socks; /* written: acceptor (+), workers (-); read: all */
	_Atomic bool draining;         /* written: control thread; read: admin, workers */
	_Atomic bool listening;        /* written: control thread; read: admin */
	_Atomic uint64_t tunnel_ids;   /* X-Request-Id source, shared by workers */
	uint64_t max_clients;          /* --max-conns, lowered to what the fd limit can hold */
};

/* Runs the gateway until a signal ends it. Returns the process exit status: 0 after a clean
 * drain, 1 on a runtime failure (the reason printed as the last stderr line). */
int gateway_run(const struct wsg_config *cfg, enum gw_mode mode, const char *prog);

#endif
