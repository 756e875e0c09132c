#ifndef WSG_AUTH_AUTH_INT_H
#define WSG_AUTH_AUTH_INT_H

/* Shared between files of auth/ only (STYLE.md 2); no other module includes this. */

#include <stdbool.h>
#include <stdint.h>

/* GCRA arithmetic of bucket.c, on a bare state word so iplimit.c can run it in a CAS loop.
 * interval_ns != 0 and burst >= 1. */
uint64_t bucket__ns(uint64_t now_ms);
uint32_t bucket__interval_ns(uint32_t per_sec);
/* True, with *next the new state, when a token is available at now_ns in state tat. */
bool bucket__conform(uint64_t tat, uint64_t now_ns, uint32_t interval_ns, uint32_t burst,
                     uint64_t *next);
uint32_t bucket__retry_after_s(uint64_t tat, uint64_t now_ns, uint32_t interval_ns, uint32_t burst);

#endif
