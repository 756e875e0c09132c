/* Fuzz target for proto/ws.c: drives one parser over a byte stream (header, then payload,
 * repeatedly) the way the relay does, and asserts invariants with abort():
 *   - *used <= len on every call; MORE consumes nothing and leaves the parser unchanged;
 *   - every prefix of a header yields MORE (state unchanged) or the verdict and close code
 *     the whole header gets;
 *   - the stream fed whole, in three pieces split at input-chosen points, and one byte at a
 *     time gives the same sequence of verdicts, frames and close codes;
 *   - WS_PAYLOAD_KEEP_MASK gives the same verdicts as unmasking, and leaves the stream's
 *     bytes exactly as they were; without it, payload bytes end up unmasked and control
 *     payloads are collected unmasked.
 * Input: byte 0 picks the role (bit 0), an allowed RSV1 (bit 1) and a 300-byte message limit
 * (bit 2, else unlimited); bytes 1-2 pick the split points; the rest is the stream. Every
 * call gets a copy of exactly the bytes it may read, so ASan catches any over-read. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ev {
	uint8_t kind; /* 'H' header, 'E' frame end, 'F' failure, 'M' stream ended mid-unit */
	uint8_t op;
	uint8_t fin;
	uint16_t code;
	uint64_t len;
	uint32_t ctl; /* hash of the control payload at frame end */
};

struct cfg {
	enum ws_role role;
	uint8_t rsv_allowed;
	struct wsg_limits lim;
};

struct run {
	struct ev *ev;
	size_t nev, cap;
	uint8_t *buf; /* the stream as the parser left it */
};

enum { FEED_WHOLE, FEED_SPLIT, FEED_BYTES };

static void check(bool ok)
{
	if (!ok)
		abort();
}

static void push(struct run *r, struct ev e)
{
	check(r->nev < r->cap);
	r->ev[r->nev++] = e;
}

static uint32_t hash(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h ^ (uint32_t)n;
}

/* A header call on an exact-size copy of [b, b + n). */
static enum ws_rc header_call(struct ws_parser *p, const uint8_t *b, size_t n, struct ws_frame *f,
                              size_t *used)
{
	uint8_t *copy = malloc(n ? n : 1);
	check(copy != NULL);
	memcpy(copy, b, n);
	struct ws_parser before;
	memcpy(&before, p, sizeof(before));
	*used = 12345;
	enum ws_rc rc = ws_parse_frame_header(p, copy, n, f, used);
	check(*used <= n);
	check(memcmp(copy, b, n) == 0); /* the header parser never writes */
	if (rc == WS_RC_MORE)
		check(*used == 0 && memcmp(&before, p, sizeof(before)) == 0);
	if (rc == WS_RC_OK)
		check(*used == f->header_len && *used >= 2 && *used <= WS_HEADER_MAX);
	free(copy);
	return rc;
}

/* Every prefix of the bytes a header call saw yields MORE with the state unchanged or the
 * same verdict and close code as the whole. */
static void check_prefixes(const struct ws_parser *start, const uint8_t *b, size_t n,
                           enum ws_rc whole, size_t whole_used, uint16_t whole_code)
{
	size_t lim = n < WS_HEADER_MAX ? n : WS_HEADER_MAX;
	for (size_t k = 0; k < lim; k++) {
		struct ws_parser p;
		struct ws_frame f;
		size_t used;
		memcpy(&p, start, sizeof(p));
		enum ws_rc rc = header_call(&p, b, k, &f, &used);
		if (whole == WS_RC_OK) {
			check(k < whole_used ? rc == WS_RC_MORE : rc == WS_RC_OK);
			if (rc == WS_RC_OK)
				check(used == whole_used);
		} else {
			check(rc == WS_RC_MORE ||
			      (rc == WS_RC_FAIL && ws_parser_close_code(&p) == whole_code));
		}
	}
}

static void drive(const struct cfg *c, unsigned flags, int mode, size_t cut_a, size_t cut_b,
                  const uint8_t *stream, size_t n, struct run *r)
{
	struct ws_parser p;
	ws_parser_init(&p, c->role, c->rsv_allowed, &c->lim);
	memcpy(r->buf, stream, n);
	r->nev = 0;
	size_t pos = 0;
	size_t avail = mode == FEED_WHOLE ? n : mode == FEED_SPLIT ? cut_a : (n ? 1 : 0);
	uint64_t frame_off = 0; /* payload bytes of the current frame fed so far */
	struct ws_frame f;
	memset(&f, 0, sizeof(f));

	for (;;) {
		enum ws_rc rc;
		size_t used;
		if (ws_parser_in_frame(&p)) {
			size_t len = avail - pos;
			uint64_t before_rem = ws_parser_remaining(&p);
			uint8_t *copy = malloc(len ? len : 1);
			check(copy != NULL);
			memcpy(copy, r->buf + pos, len);
			used = 12345;
			rc = ws_parse_payload(&p, copy, len, flags, &used);
			check(rc != WS_RC_MORE);
			if (rc == WS_RC_OK) {
				check(used == (len < before_rem ? len : before_rem));
				check(ws_parser_remaining(&p) == before_rem - used);
				/* Without KEEP_MASK the bytes come back unmasked; with it, as
				 * they were. */
				for (size_t i = 0; i < used; i++) {
					uint8_t want = stream[pos + i];
					if (f.masked && !(flags & WS_PAYLOAD_KEEP_MASK))
						want ^= f.mask[(frame_off + i) & 3];
					check(copy[i] == want);
				}
				memcpy(r->buf + pos, copy, used);
				frame_off += used;
			} else if (flags & WS_PAYLOAD_KEEP_MASK) {
				check(memcmp(copy, r->buf + pos, len) == 0);
			}
			free(copy);
		} else {
			struct ws_parser start;
			memcpy(&start, &p, sizeof(start));
			rc = header_call(&p, r->buf + pos, avail - pos, &f, &used);
			if (mode == FEED_WHOLE && rc != WS_RC_MORE)
				check_prefixes(&start, r->buf + pos, avail - pos, rc, used,
				               ws_parser_close_code(&p));
			if (rc == WS_RC_OK) {
				push(r, (struct ev){.kind = 'H',
				                    .op = f.opcode,
				                    .fin = f.fin,
				                    .len = f.payload_len});
				check(ws_parser_in_frame(&p) == (f.payload_len != 0));
				check(f.payload_len <= c->lim.message_max);
				frame_off = 0;
			}
		}
		if (rc == WS_RC_FAIL) {
			uint16_t code = ws_parser_close_code(&p);
			check(code == 1002 || code == 1007 || code == 1009);
			check(ws_parser_fail_reason(&p)[0] != '\0');
			push(r, (struct ev){.kind = 'F', .code = code});
			/* A failure is sticky. */
			size_t u;
			check(ws_parse_frame_header(&p, r->buf, n, &f, &u) == WS_RC_FAIL);
			check(ws_parser_close_code(&p) == code);
			return;
		}
		if (rc == WS_RC_OK && !ws_parser_in_frame(&p)) {
			struct ev e = {.kind = 'E', .op = f.opcode};
			if (f.opcode & 0x8) {
				size_t cl;
				const uint8_t *ctl = ws_parser_control_payload(&p, &cl);
				check(cl == f.payload_len);
				/* The collected payload is the unmasked wire payload. */
				for (size_t i = 0; i < cl; i++) {
					uint8_t w = stream[pos + used - cl + i];
					if (f.masked)
						w ^= f.mask[i & 3];
					check(ctl[i] == w);
				}
				e.ctl = hash(ctl, cl);
			}
			push(r, e);
		}
		pos += used;
		check(pos <= avail);
		if (rc == WS_RC_MORE || pos == avail) {
			if (avail == n) {
				if (rc == WS_RC_MORE || ws_parser_in_frame(&p))
					push(r, (struct ev){.kind = 'M'});
				return;
			}
			if (mode == FEED_SPLIT)
				avail = avail < cut_b ? cut_b : n;
			else
				avail++;
		}
	}
}

/* The stream as a relay sees it: three receives [0, a), [a, b), [b, n), each consumed once,
 * headers through ws_parse_frame_header_split (a header cut by a receive boundary waits in
 * the stash). Must give the same events as feeding the whole stream. */
static void drive_stash(const struct cfg *c, size_t cut_a, size_t cut_b, const uint8_t *stream,
                        size_t n, struct run *r)
{
	struct ws_parser p;
	struct ws_stash st = {.len = 0};
	ws_parser_init(&p, c->role, c->rsv_allowed, &c->lim);
	memcpy(r->buf, stream, n);
	r->nev = 0;
	size_t bounds[4] = {0, cut_a, cut_b, n};
	struct ws_frame f;
	memset(&f, 0, sizeof(f));
	for (int k = 0; k < 3; k++) {
		/* Each receive in its own exact-size buffer, so an over-read is caught. */
		size_t len = bounds[k + 1] - bounds[k];
		uint8_t *rx = malloc(len ? len : 1);
		check(rx != NULL);
		memcpy(rx, stream + bounds[k], len);
		size_t pos = 0;
		while (pos < len) {
			enum ws_rc rc;
			size_t used;
			if (ws_parser_in_frame(&p)) {
				rc = ws_parse_payload(&p, rx + pos, len - pos, WS_PAYLOAD_KEEP_MASK,
				                      &used);
			} else {
				const uint8_t *hdr;
				size_t hlen;
				rc = ws_parse_frame_header_split(&p, &st, rx + pos, len - pos, &f,
				                                 &hdr, &hlen, &used);
				if (rc == WS_RC_MORE) {
					check(st.len <= WS_HEADER_MAX && used == 0);
					break;
				}
				if (rc == WS_RC_OK) {
					check(hlen == f.header_len && used <= len - pos &&
					      st.len == 0);
					push(r, (struct ev){.kind = 'H',
					                    .op = f.opcode,
					                    .fin = f.fin,
					                    .len = f.payload_len});
				}
			}
			if (rc == WS_RC_FAIL) {
				push(r, (struct ev){.kind = 'F', .code = ws_parser_close_code(&p)});
				free(rx);
				return;
			}
			if (!ws_parser_in_frame(&p)) {
				struct ev e = {.kind = 'E', .op = f.opcode};
				if (f.opcode & 0x8) {
					size_t cl;
					const uint8_t *ctl = ws_parser_control_payload(&p, &cl);
					e.ctl = hash(ctl, cl);
				}
				push(r, e);
			}
			pos += used;
		}
		free(rx);
	}
	/* As drive() counts it: an empty stream, or one that ends inside a header or a payload,
	 * ended mid-unit. */
	if (n == 0 || st.len > 0 || ws_parser_in_frame(&p))
		push(r, (struct ev){.kind = 'M'});
}

static bool same_events(const struct run *a, const struct run *b)
{
	if (a->nev != b->nev)
		return false;
	for (size_t i = 0; i < a->nev; i++) {
		const struct ev *x = &a->ev[i], *y = &b->ev[i];
		if (x->kind != y->kind || x->op != y->op || x->fin != y->fin ||
		    x->code != y->code || x->len != y->len || x->ctl != y->ctl)
			return false;
	}
	return true;
}

static bool has_failure(const struct run *r)
{
	return r->nev && r->ev[r->nev - 1].kind == 'F';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	struct cfg c = {
	    .role = data[0] & 1 ? WS_ROLE_CLIENT : WS_ROLE_SERVER,
	    .rsv_allowed = data[0] & 2 ? 0x40 : 0,
	    .lim = {.message_max = data[0] & 4 ? 300 : UINT64_MAX},
	};
	const uint8_t *stream = data + 3;
	size_t n = size - 3;
	size_t a = n ? data[1] % (n + 1) : 0, b = n ? data[2] % (n + 1) : 0;
	if (a > b) {
		size_t t = a;
		a = b;
		b = t;
	}

	struct run runs[7];
	for (int i = 0; i < 7; i++) {
		runs[i].cap = n + 2;
		runs[i].ev = malloc(runs[i].cap * sizeof(struct ev));
		runs[i].buf = malloc(n ? n : 1);
		check(runs[i].ev != NULL && runs[i].buf != NULL);
	}
	for (unsigned k = 0; k < 2; k++) {
		unsigned flags = k ? WS_PAYLOAD_KEEP_MASK : 0;
		drive(&c, flags, FEED_WHOLE, a, b, stream, n, &runs[3 * k]);
		drive(&c, flags, FEED_SPLIT, a, b, stream, n, &runs[3 * k + 1]);
		drive(&c, flags, FEED_BYTES, a, b, stream, n, &runs[3 * k + 2]);
	}
	drive_stash(&c, a, b, stream, n, &runs[6]);
	for (int i = 1; i < 7; i++)
		check(same_events(&runs[0], &runs[i]));
	/* Unmasked output does not depend on the split (bytes after a failure may be left
	 * half-done, so only compare clean runs); KEEP_MASK never changes the stream. */
	if (!has_failure(&runs[0])) {
		check(memcmp(runs[0].buf, runs[1].buf, n) == 0);
		check(memcmp(runs[0].buf, runs[2].buf, n) == 0);
	}
	for (int i = 3; i < 6; i++)
		check(memcmp(runs[i].buf, stream, n) == 0);
	for (int i = 0; i < 7; i++) {
		free(runs[i].ev);
		free(runs[i].buf);
	}
	return 0;
}
