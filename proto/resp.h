#ifndef WSG_PROTO_RESP_H
#define WSG_PROTO_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The cluster's wire formats (docs/CLUSTER.md): RESP2 replies from Redis, checked by a
 * bounded scanner of our own before hiredis's reader builds them into trees, commands
 * written by hiredis's formatter, and the cluster's own message framing carried inside
 * pub/sub payloads. Control thread only (the only user is core/cluster.c). */

struct redisReply; /* <hiredis/hiredis.h> */

enum resp_rc {
	RESP_RC_OK = 0,    /* one unit parsed; *used bytes consumed */
	RESP_RC_MORE = -1, /* input ends mid-unit; nothing consumed */
	RESP_RC_FAIL = -2, /* not RESP2, or over a limit: the connection is unusable */
};

/* What the scanner accepts: larger replies are refused rather than buffered. */
struct resp_limits {
	uint32_t bulk_max;  /* bytes of one bulk string */
	uint32_t elems_max; /* elements of one array */
	uint32_t depth_max; /* nested arrays, at most RESP_DEPTH_MAX */
};
#define RESP_DEPTH_MAX 7 /* hiredis 0.14 refuses deeper nesting ("depth > 7") */

/* Scans one complete RESP2 reply (+simple, -error, :integer, $bulk, *array, nil bulk and
 * array) at the start of [buf, buf + len) without building it: RESP_RC_OK with *used its
 * length, RESP_RC_MORE when the input ends inside it, RESP_RC_FAIL on a type byte that is
 * not RESP2, a malformed length, a bulk not followed by CRLF, or anything over lim. A
 * length is never trusted beyond lim: nothing is sized from it. Never allocates; never reads
 * past buf + len. */
enum resp_rc resp_scan(const uint8_t *buf, size_t len, const struct resp_limits *lim, size_t *used);

/* A reply reader: resp_scan in front of hiredis's redisReader, so that hiredis only ever sees
 * whole, bounded replies (its own reader trusts array counts for its allocations). Opaque;
 * allocated by resp_reader_new. */
struct resp_reader;

/* NULL when out of memory. lim is copied. */
struct resp_reader *resp_reader_new(const struct resp_limits *lim);
void resp_reader_free(struct resp_reader *r); /* NULL: no-op */

/* Appends received bytes (copied). -1 when more than the largest reply the limits allow
 * would be buffered without completing one (a peer that streams garbage), else 0. */
int resp_reader_feed(struct resp_reader *r, const uint8_t *p, size_t n);

/* The next complete reply: RESP_RC_OK with *out (the caller frees it with resp_reply_free),
 * RESP_RC_MORE when none is complete yet, RESP_RC_FAIL when the stream is not RESP2 (the
 * reader is then unusable: drop the connection). */
enum resp_rc resp_reader_next(struct resp_reader *r, struct redisReply **out);
void resp_reply_free(struct redisReply *rep); /* NULL: no-op */

/* A command as RESP (hiredis's redisFormatCommandArgv): *out is malloc'd (free()), its length
 * returned, or -1 when out of memory. argv borrowed; argvlen may be NULL for C strings. */
long resp_format_command(char **out, int argc, const char **argv, const size_t *argvlen);

/* ---- cluster messages ------------------------------------------------------------------ */

/* One cluster message, as published on a node's channel or the cluster's:
 *
 *   "WSG1 " KIND " " FROM " " RID " " NUM " " ALEN "\n" ARG BODY
 *
 * KIND: [a-z]{1,15}; FROM: the sender's node id, [A-Za-z0-9_-]{1,32}; RID: request id,
 * decimal u64 (0: not a request); NUM: decimal u32 (a close code, an HTTP status, a count,
 * flags); ALEN: decimal, the bytes of ARG, at most RESP_MSG_ARG_MAX; ARG: a connection id, a
 * route path or a subject; BODY: every byte after ARG (a message, a JSON document). Views
 * point into the caller's buffer. */
struct resp_view {
	const uint8_t *p;
	size_t n;
};

struct resp_msg {
	struct resp_view kind;
	struct resp_view from;
	uint64_t rid;
	uint32_t num;
	struct resp_view arg;
	struct resp_view body;
};

#define RESP_MSG_ARG_MAX  4096u
#define RESP_MSG_HEAD_MAX (5 + 16 + 33 + 21 + 11 + 5 + 1) /* the longest header line */

/* Parses a whole message (a pub/sub payload is never split): RESP_RC_OK or RESP_RC_FAIL (a
 * malformed header, a field outside its charset or bound, ARG longer than what follows).
 * Never allocates; never reads past buf + len. */
enum resp_rc resp_msg_parse(const uint8_t *buf, size_t len, struct resp_msg *out);

/* Writes m into [buf, buf + cap): the length written, or -1 when a field is outside its
 * charset or bound or cap is too small (nothing useful is then in buf). */
long resp_msg_encode(uint8_t *buf, size_t cap, const struct resp_msg *m);

/* True when v holds exactly the C string lit. */
bool resp_view_is(struct resp_view v, const char *lit);

#endif
