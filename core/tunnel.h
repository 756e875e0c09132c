#ifndef WSG_CORE_TUNNEL_H
#define WSG_CORE_TUNNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/worker.h"
#include "proto/wskey.h"

/* A tunnel pairs a client conn with its backend conn for the upgrade's lifetime: it dials the
 * route's backends in the balancer's order, completes the upgrade on both legs, relays
 * frames both ways (parsed and enforced, forwarded as they arrive), and runs the close
 * handshake, keepalive and idle rules. Worker thread only. */

struct rt_table;
struct rt_route;

enum tunnel_flag {
	TF_ANY_TIMEOUT = 1u << 0, /* some backend attempt timed out (504 if all fail) */
	TF_OPEN = 1u << 1,        /* 101 sent to the client */
	TF_DRAINING = 1u << 2,    /* the gateway is shutting down */
};

struct tunnel {
	uint64_t id; /* X-Request-Id and the admin API's connection id */
	struct conn *client;
	struct conn *backend;
	const struct rt_table *table; /* held (rt_table_hold) for the tunnel's life */
	const struct rt_route *route;
	uint16_t first;              /* the balancer's pick */
	uint16_t tries;              /* backends attempted so far */
	uint16_t flags;              /* enum tunnel_flag */
	uint16_t current;            /* index of the backend being dialled or used */
	uint16_t timeouts;           /* attempts that hit --connect-timeout */
	char key[WSKEY_KEY_LEN + 1]; /* our Sec-WebSocket-Key for the current backend */
	uint64_t created_ms;
	uint64_t last_data_ms;      /* last data frame either way (idle timeout) */
	uint64_t msgs_in, msgs_out; /* client -> backend, backend -> client */
	uint64_t bytes_in, bytes_out;
};

/* The client's head is complete and routed: dial. `client->in` holds the head (it is parsed
 * again when needed, so nothing of the request is copied into the tunnel). */
void tunnel_start(struct worker *w, struct conn *client, const struct rt_table *table,
                  const struct rt_route *route);

void tunnel_on_connect(struct worker *w, struct conn *b, int res);
void tunnel_on_data(struct worker *w, struct conn *c, uint8_t *data, size_t len);
void tunnel_on_gone(struct worker *w, struct conn *c, int err);
void tunnel_on_timer(struct worker *w, struct conn *c);
/* c's send queue went under CONN_OUT_LOW: read its peer again. */
void tunnel_on_drained(struct worker *w, struct conn *c);
void tunnel_conn_freed(struct worker *w, struct conn *c);
/* SIGTERM: 1001 to both legs (or 503 when still in the handshake). */
void tunnel_drain(struct worker *w, struct tunnel *t);

#endif
