#ifndef WSG_CORE_TUNNEL_H
#define WSG_CORE_TUNNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/bucket.h"
#include "core/admission_token.h"
#include "proto/http1.h"
#include "proto/limits.h"
#include "proto/wskey.h"

/* A tunnel pairs a client conn with its backend conn for the upgrade's lifetime. Three
 * files share it: tunnel_dial.c dials the route's backends in the balancer's order and runs
 * the backend upgrade; tunnel_relay.c relays frames both ways (parsed and enforced,
 * forwarded as they arrive); tunnel.c pairs the two legs (the close handshake, timers,
 * drain). What SPEC.md calls a connection (the admin API, X-Request-Id) is a tunnel, and its
 * id is the tunnel id. Worker thread only. */

struct worker;
struct conn;
struct rt_table;
struct rt_route;

/* A tunnel's dial state, from the end of the client's head to the 101 (or rejection); taken
 * from the worker's handshake slab by the handshake, which fills the first fields. */
struct tunnel_dial {
	struct http_request req; /* the client's head, parsed once; views into client->in */
	size_t head_len;         /* bytes of client->in that are the head */
	size_t path_len;         /* the normalised path (routing and the backend see it) */
	char path[WSG_HEAD_MAX_DEFAULT];
	char offered[1024]; /* every Sec-WebSocket-Protocol offer, joined */
	size_t offered_len;
	char key[WSKEY_KEY_LEN + 1]; /* our Sec-WebSocket-Key for the current backend */
	uint16_t first;              /* the balancer's pick */
	uint16_t tries;              /* backends attempted so far */
	uint16_t timeouts;           /* attempts that hit --connect-timeout */
	struct admission_token auth; /* the verified token: where it was, sub, expiry */
	uint16_t skipped;            /* backends passed over because they are down */
};

enum tunnel_flag {
	TF_OPEN = 1u << 0,       /* 101 sent to the client */
	TF_DRAINING = 1u << 1,   /* the gateway is shutting down */
	TF_COUNTED = 1u << 2,    /* counted as an active tunnel */
	TF_CLOSE_SEEN = 1u << 3, /* close_code/close_side are set */
	TF_BACKEND_UP = 1u << 4, /* counted in its backend's active connections */
	TF_MSG_RATE = 1u << 5,   /* client messages go through msg_rate */
	TF_LB_HELD = 1u << 6,    /* counted in its backend's least-conn count (lb_conn_acquire) */
	TF_LOGGED = 1u << 7,     /* its access-log record is written (tunnel_access.c) */
	TF_RTT = 1u << 8,        /* ping_rtt_ms holds a measured keepalive round trip */
};

struct tadm_pending;

struct tunnel {
	uint64_t id; /* per node; its text is "<prefix>.<id>" (tunnel_id_text) */
	struct conn *client;
	struct conn *backend;
	struct tunnel_dial *dial;     /* while dialling: the parsed request, attempts */
	const struct rt_table *table; /* held (rt_table_hold) for the tunnel's life */
	const struct rt_route *route;
	uint16_t flags;      /* enum tunnel_flag */
	uint16_t current;    /* index of the backend being dialled or used */
	uint16_t close_code; /* the first close code on the wire (0: none yet / none at all) */
	uint8_t close_side;  /* enum metrics_side of who closed first; TF_CLOSE_SEEN */
	uint64_t created_ms;
	uint64_t last_data_ms;       /* last data frame either way (idle timeout) */
	uint64_t drain_by_ms;        /* TF_DRAINING: close handshakes may take until then */
	uint64_t drain_at_ms;        /* --drain-spread: when its close goes out; 0: sent */
	uint64_t msgs_up, msgs_down; /* client -> backend, backend -> client */
	struct bucket msg_rate;      /* --msg-rate / msg-rate=: client data messages */
	const char *fail_why;        /* static reason of the leg that broke a rule, for its close */
	char *subject;               /* the verified token's sub (malloc'd), NULL: none */
	uint64_t auth_expire_ms;     /* the token's exp + leeway on the worker clock; 0: none */
	uint64_t bytes_up, bytes_down;
	uint64_t msg_mark[2];      /* bytes_up / bytes_down where the last message ended, by enum
	                            * metrics_dir: a message's size is the payload since then */
	struct tadm_pending *push; /* admin pushes waiting for the client's next message boundary
	                            * (tunnel_admin.c), oldest first; NULL: none */
	uint8_t n_push;            /* entries on push, at most TADM_PENDING_MAX */
	uint32_t ping_rtt_ms;      /* the last keepalive ping's round trip (TF_RTT) */
};

/* The client's head is complete and passed the checks: the tunnel takes dial (filled by the
 * handshake) and dials the route's backends. */
void tunnel_start(struct worker *w, struct conn *client, struct tunnel_dial *dial,
                  const struct rt_table *table, const struct rt_route *route);
/* SIGTERM: 1001 to both legs of every tunnel (or 503 when still in the handshake). */
void tunnel_drain(struct worker *w, struct tunnel *t);
/* --access-log: the record of a connection that ends now with status (101, a rejection's, a
 * relayed one, 499) and reason (NULL for none); t (may be NULL before the tunnel exists) is
 * logged once, whatever calls this after the first. route: the matched route when t is NULL.
 * A no-op when the access log is off. */
void tunnel_access_log(struct worker *w, struct conn *c, struct tunnel *t,
                       const struct rt_route *route, uint16_t status, const char *reason);
/* "<prefix>.<id>" into buf (cap >= TUNNEL_ID_TEXT_MAX); returns its length. */
#define TUNNEL_ID_TEXT_MAX 48
int tunnel_id_text(const struct worker *w, const struct tunnel *t, char *buf, size_t cap);

#endif
