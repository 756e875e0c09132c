#ifndef WSG_CORE_ECHO_H
#define WSG_CORE_ECHO_H

#include <stddef.h>
#include <stdint.h>

#include "core/worker.h"

/* wsgate-echo's frame handling: every message back with its opcode, pings answered, a close
 * answered with the same code. Worker thread only. */

/* The request in c->in passed the upgrade checks: answer 101 and start echoing. */
void echo_accept(struct worker *w, struct conn *c, const struct http_request *req, size_t head);
void echo_on_data(struct worker *w, struct conn *c, uint8_t *data, size_t len);
void echo_on_gone(struct worker *w, struct conn *c, int err);

#endif
