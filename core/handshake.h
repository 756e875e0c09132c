#ifndef WSG_CORE_HANDSHAKE_H
#define WSG_CORE_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/http1.h"

/* wsgate's client side of the upgrade: accumulate and parse the request head, run the checks
 * of SPEC.md's table in its order, answer a rejection, or hand the conn to a tunnel. Worker
 * thread only. */

struct worker;
struct conn;

/* gateway_app.on_accept for wsgate: the conn reads its request head from here on. */
void handshake_on_accept(struct worker *w, struct conn *c, bool over_limit);
/* gateway_app.on_drain for wsgate: every tunnel says goodbye (or gets 503 before its 101). */
void handshake_drain(struct worker *w);
/* Sends the error answer for r and closes the conn once it is out. */
void handshake_reject(struct worker *w, struct conn *c, enum http_reject r);
/* The same with the Retry-After of a 429. */
void handshake_reject_retry(struct worker *w, struct conn *c, enum http_reject r,
                            unsigned retry_after_s);
/* Relays a backend's non-101 status. */
void handshake_reject_status(struct worker *w, struct conn *c, uint16_t status,
                             struct http_str reason);

#endif
