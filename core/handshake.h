#ifndef WSG_CORE_HANDSHAKE_H
#define WSG_CORE_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "core/worker.h"

/* The client side of the upgrade: accumulate and parse the request head, run the checks of
 * SPEC.md's table in its order, answer a rejection, or hand the conn to the tunnel (proxy)
 * or to the echo handler. Worker thread only. */

void handshake_on_data(struct worker *w, struct conn *c, const uint8_t *data, size_t len);
/* Sends the error answer for r and closes the conn once it is out. */
void handshake_reject(struct worker *w, struct conn *c, enum http_reject r);
/* Relays a backend's non-101 status. */
void handshake_reject_status(struct worker *w, struct conn *c, uint16_t status,
                             struct http_str reason);

#endif
