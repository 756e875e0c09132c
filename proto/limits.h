#ifndef WSG_PROTO_LIMITS_H
#define WSG_PROTO_LIMITS_H

#include <stddef.h>
#include <stdint.h>

/* Limits every parser in proto/ is given by its caller. Nothing is ever sized from a length
 * the peer declared: these are the only bounds. */
struct wsg_limits {
	size_t head_max;      /* request/response head bytes, request line included (16 KiB) */
	unsigned headers_max; /* header lines (100) */
	uint64_t message_max; /* payload bytes of one message, all its frames (1009 above) */
};

#define WSG_HEAD_MAX_DEFAULT    (16u * 1024u)
#define WSG_HEADERS_MAX_DEFAULT 100u
#define WSG_MESSAGE_MAX_DEFAULT (1024u * 1024u)

#endif
