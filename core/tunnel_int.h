#ifndef WSG_CORE_TUNNEL_INT_H
#define WSG_CORE_TUNNEL_INT_H

/* Shared by tunnel.c, tunnel_dial.c and tunnel_relay.c only. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/conn.h"
#include "core/tunnel.h"

/* How long a leg that broke a rule waits for the other leg's answer to our close before it
 * gets its own close: what the other side sent back meanwhile (an echo of messages that came
 * before the violation) still reaches it first. */
#define TUNNEL_FAIL_LINGER_MS 1000u
/* How long a close handshake may take on one leg before it is cut. */
#define TUNNEL_CLOSE_WAIT_MS 5000u
/* A text frame is held back in the other leg's queue until it has been validated whole, or
 * until this many of its bytes passed: a violation inside it then leaves the other leg on a
 * frame boundary, where it still gets a clean close frame. */
#define TUNNEL_HOLD_MAX (16u * 1024u)

extern const struct conn_ops tunnel__ops;

static inline struct tunnel *tunnel__of(const struct conn *c)
{
	return (struct tunnel *)c->owner;
}

static inline struct conn *tunnel__peer(const struct tunnel *t, const struct conn *c)
{
	return c == t->client ? t->backend : t->client;
}

/* Records who closed first and with what code (the first call wins): side is an enum
 * metrics_side. */
void tunnel__note_close(struct tunnel *t, uint16_t code, unsigned side);

/* tunnel_dial.c */
/* The balancer's pick (router/lb.h) into t->dial->first; before the first tunnel__dial_next. */
void tunnel__dial_pick(struct worker *w, struct tunnel *t);
/* The backend attempt in t->current no longer counts for least-conn (idempotent). */
void tunnel__lb_release(struct tunnel *t);
void tunnel__dial_next(struct worker *w, struct tunnel *t);
void tunnel__dial_free(struct worker *w, struct tunnel *t);
void tunnel__on_backend_head(struct worker *w, struct tunnel *t, struct conn *b,
                             const uint8_t *data, size_t len);
void tunnel__backend_failed(struct worker *w, struct tunnel *t, bool timed_out, const char *why);

/* tunnel_relay.c */
void tunnel__relay(struct worker *w, struct tunnel *t, struct conn *src, uint8_t *data, size_t len);
/* The WebSocket state of both legs once the 101 is out. */
void tunnel__relay_init(struct worker *w, struct tunnel *t);

/* tunnel.c: the close handshake. */
/* Queues a close with code (0: empty payload) to c once; when c's stream is mid-frame (its
 * peer's frame half forwarded) no frame can go there and c is cut after what is queued. */
void tunnel__send_close(struct worker *w, struct tunnel *t, struct conn *c, uint16_t code,
                        const uint8_t *reason, size_t reason_len);
/* src broke RFC 6455 (or a policy): see tunnel.c. */
void tunnel__fail(struct worker *w, struct tunnel *t, struct conn *src, uint16_t code,
                  const char *why);
/* A complete control frame from src (its payload in src's parser). */
void tunnel__on_control(struct worker *w, struct tunnel *t, struct conn *src);
/* The backend answered 101: open the tunnel (tunnel.c). */
void tunnel__opened(struct worker *w, struct tunnel *t);
/* Queues a whole control frame to c (masked when c is the backend leg). */
int tunnel__send_control(struct worker *w, struct conn *c, enum ws_op op, const uint8_t *payload,
                         size_t n);

#endif
