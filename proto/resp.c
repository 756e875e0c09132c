/* proto/resp.c: RESP2 replies, commands and the cluster's message framing (see resp.h).
 *
 * Owns: resp_scan, a bounded scanner that decides where one complete reply ends without
 * building it; struct resp_reader, which puts that scanner in front of hiredis's redisReader
 * (the reader gets only whole replies that passed the scan, one at a time); the command
 * formatter (hiredis's); and resp_msg_parse/encode, the header line of a cluster message.
 *
 * Invariants: resp_scan and resp_msg_parse never read past buf + len, never allocate and
 * never trust a length beyond their limits (an array count sizes nothing here, and hiredis,
 * which would calloc that many pointers, never sees a count over elems_max). The reader's
 * buffer holds at most one incomplete reply (bounded by resp_reader_feed) plus what arrived
 * with it.
 *
 * The one exception to proto/'s "never allocates": the reader copies received bytes and
 * hiredis allocates reply trees. Both run on the control thread, once per Redis reply, never
 * on a worker or per relayed message.
 *
 * Rejected: hiredis's whole client (redisContext/redisAsyncContext): it owns its sockets and
 * its async layer wants an event library adapter (and aborts on pushes it does not expect),
 * where ours are the control thread's non-blocking sockets in its poll set; feeding hiredis
 * raw socket bytes directly (its reader allocates an array of whatever count a peer sends
 * before the elements arrive); a RESP reader of our own building trees (hiredis's is what
 * every Redis client in C already trusts; the scanner in front is small). JSON for the message
 * header (a parse per message where the header is five short fields; the body may be
 * binary). */
#include "proto/resp.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Finds the CRLF ending the line that starts at pos: RESP_RC_OK with *eol at its '\r',
 * RESP_RC_MORE when the input ends first, RESP_RC_FAIL when the line is longer than max or
 * holds a lone '\r' or '\n' (RESP lines never do). */
static enum resp_rc resp_line(const uint8_t *buf, size_t len, size_t pos, size_t max, size_t *eol)
{
	for (size_t i = pos; i < len; i++) {
		if (i - pos > max)
			return RESP_RC_FAIL;
		if (buf[i] == '\n')
			return RESP_RC_FAIL;
		if (buf[i] != '\r')
			continue;
		if (i + 1 >= len)
			return RESP_RC_MORE;
		if (buf[i + 1] != '\n')
			return RESP_RC_FAIL;
		*eol = i;
		return RESP_RC_OK;
	}
	return len - pos > max ? RESP_RC_FAIL : RESP_RC_MORE;
}

/* A length field: "-1" (nil: *nil true) or 1..10 decimal digits up to max. 0 or -1. */
static int resp_len(const uint8_t *p, size_t n, uint32_t max, uint32_t *out, bool *nil)
{
	*nil = false;
	if (n == 2 && p[0] == '-' && p[1] == '1') {
		*nil = true;
		*out = 0;
		return 0;
	}
	if (n == 0 || n > 10)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10u + (uint64_t)(p[i] - '0');
	}
	if (v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* An integer reply: an optional '-' and 1..19 digits. */
static bool resp_is_integer(const uint8_t *p, size_t n)
{
	size_t i = n > 0 && p[0] == '-' ? 1 : 0;
	if (n - i == 0 || n - i > 19)
		return false;
	for (; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

enum resp_rc resp_scan(const uint8_t *buf, size_t len, const struct resp_limits *lim, size_t *used)
{
	uint32_t left[RESP_DEPTH_MAX]; /* elements still to come, per open array */
	unsigned depth = 0;
	unsigned depth_max = lim->depth_max < RESP_DEPTH_MAX ? lim->depth_max : RESP_DEPTH_MAX;
	size_t pos = 0;
	for (;;) {
		if (pos >= len)
			return RESP_RC_MORE;
		uint8_t type = buf[pos];
		bool simple = type == '+' || type == '-';
		size_t eol = 0;
		enum resp_rc rc = resp_line(buf, len, pos + 1, simple ? lim->bulk_max : 21, &eol);
		if (rc != RESP_RC_OK)
			return rc;
		const uint8_t *f = buf + pos + 1;
		size_t fn = eol - pos - 1;
		uint32_t n = 0;
		bool nil = false;
		switch (type) {
		case '+':
		case '-':
			pos = eol + 2;
			break;
		case ':':
			if (!resp_is_integer(f, fn))
				return RESP_RC_FAIL;
			pos = eol + 2;
			break;
		case '$':
			if (resp_len(f, fn, lim->bulk_max, &n, &nil) != 0)
				return RESP_RC_FAIL;
			pos = eol + 2;
			if (nil)
				break;
			if (len - pos < (size_t)n + 2)
				return RESP_RC_MORE;
			if (buf[pos + n] != '\r' || buf[pos + n + 1] != '\n')
				return RESP_RC_FAIL;
			pos += (size_t)n + 2;
			break;
		case '*':
			if (resp_len(f, fn, lim->elems_max, &n, &nil) != 0)
				return RESP_RC_FAIL;
			pos = eol + 2;
			if (nil || n == 0)
				break;
			if (depth >= depth_max)
				return RESP_RC_FAIL;
			left[depth++] = n;
			continue; /* its first element next */
		default:
			return RESP_RC_FAIL; /* RESP3 types, inline commands, garbage */
		}
		/* One element is complete: close every array it completes. */
		while (depth > 0) {
			if (--left[depth - 1] > 0)
				break;
			depth--;
		}
		if (depth == 0) {
			*used = pos;
			return RESP_RC_OK;
		}
	}
}

struct resp_reader {
	struct resp_limits lim;
	redisReader *rd;
	uint8_t *buf;
	size_t off, len, cap; /* [off, len) not yet handed to hiredis */
	size_t pending_max;   /* bytes of one incomplete reply we agree to hold */
};

struct resp_reader *resp_reader_new(const struct resp_limits *lim)
{
	struct resp_reader *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->lim = *lim;
	r->rd = redisReaderCreate();
	if (r->rd == NULL) {
		free(r);
		return NULL;
	}
	/* Replies the cluster reads are one bulk (a message, a table) or small arrays: twice the
	 * largest bulk plus framing is far above any, and bounds a stream that never ends. */
	r->pending_max = 2u * (size_t)lim->bulk_max + 65536u;
	return r;
}

void resp_reader_free(struct resp_reader *r)
{
	if (r == NULL)
		return;
	redisReaderFree(r->rd);
	free(r->buf);
	free(r);
}

int resp_reader_feed(struct resp_reader *r, const uint8_t *p, size_t n)
{
	if (r->off > 0 && r->off == r->len)
		r->off = r->len = 0;
	if (r->len - r->off + n > r->pending_max)
		return -1;
	if (r->len + n > r->cap) {
		if (r->off > 0) { /* compact first: replies already taken leave room */
			memmove(r->buf, r->buf + r->off, r->len - r->off);
			r->len -= r->off;
			r->off = 0;
		}
		if (r->len + n > r->cap) {
			size_t cap = r->cap ? r->cap : 4096;
			while (cap < r->len + n)
				cap *= 2;
			uint8_t *b = realloc(r->buf, cap);
			if (b == NULL)
				return -1;
			r->buf = b;
			r->cap = cap;
		}
	}
	if (n > 0)
		memcpy(r->buf + r->len, p, n);
	r->len += n;
	return 0;
}

enum resp_rc resp_reader_next(struct resp_reader *r, struct redisReply **out)
{
	*out = NULL;
	size_t used = 0;
	enum resp_rc rc = resp_scan(r->buf + r->off, r->len - r->off, &r->lim, &used);
	if (rc != RESP_RC_OK)
		return rc;
	if (redisReaderFeed(r->rd, (const char *)r->buf + r->off, used) != REDIS_OK)
		return RESP_RC_FAIL;
	r->off += used;
	void *rep = NULL;
	/* The scan said one whole reply: hiredis must produce exactly it. */
	if (redisReaderGetReply(r->rd, &rep) != REDIS_OK || rep == NULL) {
		if (rep != NULL)
			freeReplyObject(rep);
		return RESP_RC_FAIL;
	}
	*out = rep;
	return RESP_RC_OK;
}

void resp_reply_free(struct redisReply *rep)
{
	if (rep != NULL)
		freeReplyObject(rep);
}

long resp_format_command(char **out, int argc, const char **argv, const size_t *argvlen)
{
	*out = NULL;
	int n = redisFormatCommandArgv(out, argc, argv, argvlen);
	return n < 0 ? -1 : (long)n;
}

/* ---- cluster messages ------------------------------------------------------------------ */

bool resp_view_is(struct resp_view v, const char *lit)
{
	size_t n = strlen(lit);
	return v.n == n && (n == 0 || memcmp(v.p, lit, n) == 0);
}

static bool resp_is_kind(struct resp_view v)
{
	if (v.n == 0 || v.n > 15)
		return false;
	for (size_t i = 0; i < v.n; i++)
		if (v.p[i] < 'a' || v.p[i] > 'z')
			return false;
	return true;
}

static bool resp_is_node(struct resp_view v)
{
	if (v.n == 0 || v.n > 32)
		return false;
	for (size_t i = 0; i < v.n; i++) {
		uint8_t ch = v.p[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

/* A field up to the next sep at or after *pos, within the header line [.., end). */
static struct resp_view resp_field(const uint8_t *buf, size_t end, size_t *pos, uint8_t sep,
                                   bool *ok)
{
	struct resp_view v = {buf + *pos, 0};
	size_t i = *pos;
	while (i < end && buf[i] != sep)
		i++;
	if (i >= end) {
		*ok = false;
		return v;
	}
	v.n = i - *pos;
	*pos = i + 1;
	return v;
}

/* Decimal without sign or leading zeros (but "0"), up to max. */
static bool resp_decimal(struct resp_view v, uint64_t max, uint64_t *out)
{
	if (v.n == 0 || v.n > 20 || (v.n > 1 && v.p[0] == '0'))
		return false;
	uint64_t x = 0;
	for (size_t i = 0; i < v.n; i++) {
		if (v.p[i] < '0' || v.p[i] > '9')
			return false;
		uint64_t d = (uint64_t)(v.p[i] - '0');
		if (x > (max - d) / 10u)
			return false;
		x = x * 10u + d;
	}
	*out = x;
	return true;
}

enum resp_rc resp_msg_parse(const uint8_t *buf, size_t len, struct resp_msg *out)
{
	memset(out, 0, sizeof(*out));
	size_t end = 0; /* index of the header's '\n' */
	while (end < len && end < RESP_MSG_HEAD_MAX && buf[end] != '\n')
		end++;
	if (end >= len || buf[end] != '\n' || end < 5 || memcmp(buf, "WSG1 ", 5) != 0)
		return RESP_RC_FAIL;
	size_t pos = 5;
	bool ok = true;
	out->kind = resp_field(buf, end, &pos, ' ', &ok);
	out->from = resp_field(buf, end, &pos, ' ', &ok);
	struct resp_view rid = resp_field(buf, end, &pos, ' ', &ok);
	struct resp_view num = resp_field(buf, end, &pos, ' ', &ok);
	struct resp_view alen = {buf + pos, end - pos};
	uint64_t rid_v = 0, num_v = 0, alen_v = 0;
	if (!ok || !resp_is_kind(out->kind) || !resp_is_node(out->from) ||
	    !resp_decimal(rid, UINT64_MAX, &rid_v) || !resp_decimal(num, UINT32_MAX, &num_v) ||
	    !resp_decimal(alen, RESP_MSG_ARG_MAX, &alen_v) || len - end - 1 < alen_v)
		return RESP_RC_FAIL;
	out->rid = rid_v;
	out->num = (uint32_t)num_v;
	out->arg = (struct resp_view){buf + end + 1, (size_t)alen_v};
	out->body = (struct resp_view){buf + end + 1 + alen_v, len - end - 1 - (size_t)alen_v};
	return RESP_RC_OK;
}

/* Appends n bytes at *pos if they fit. */
static bool resp_put(uint8_t *buf, size_t cap, size_t *pos, const void *p, size_t n)
{
	if (cap - *pos < n)
		return false;
	if (n > 0)
		memcpy(buf + *pos, p, n);
	*pos += n;
	return true;
}

long resp_msg_encode(uint8_t *buf, size_t cap, const struct resp_msg *m)
{
	if (!resp_is_kind(m->kind) || !resp_is_node(m->from) || m->arg.n > RESP_MSG_ARG_MAX)
		return -1;
	char nums[64];
	int nn = snprintf(nums, sizeof(nums), " %llu %u %zu\n", (unsigned long long)m->rid,
	                  (unsigned)m->num, m->arg.n);
	if (nn < 0 || (size_t)nn >= sizeof(nums))
		return -1;
	size_t pos = 0;
	bool ok = resp_put(buf, cap, &pos, "WSG1 ", 5) &&
	          resp_put(buf, cap, &pos, m->kind.p, m->kind.n) &&
	          resp_put(buf, cap, &pos, " ", 1) &&
	          resp_put(buf, cap, &pos, m->from.p, m->from.n) &&
	          resp_put(buf, cap, &pos, nums, (size_t)nn) &&
	          resp_put(buf, cap, &pos, m->arg.p, m->arg.n) &&
	          resp_put(buf, cap, &pos, m->body.p, m->body.n);
	return ok && pos <= (size_t)INT64_MAX ? (long)pos : -1;
}
