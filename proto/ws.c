#include "proto/ws.h"

#include <string.h>

#include "proto/utf8.h"

/* RFC 6455 frames for one direction of one conn: header parser, payload feeder, encoder,
 * masking and close-code rules.
 *
 * Shape: the relay never needs a whole message, so parsing is split in two calls. The header
 * call sees at most WS_HEADER_MAX bytes and either consumes a whole header (OK), consumes
 * nothing and changes nothing (MORE), or fails (FAIL, close code and reason set). The rules
 * that need only the first two bytes (RSV, opcode, mask bit, control-frame shape,
 * fragmentation) are checked as soon as those two bytes are there, before the extended
 * length and mask arrive; the result is still a function of the bytes alone, so a prefix of
 * a header yields MORE or the verdict the whole header gets, however the input is split.
 * The payload call then takes any number of bytes of the current frame, unmasks them in
 * place (or leaves them masked for the relay), runs UTF-8 for text messages and collects
 * control payloads into the parser (125 bytes at most, so they can be answered or validated
 * without keeping the caller's buffer).
 *
 * Invariants: _message_len <= _message_max (checked before adding, so no overflow even with
 * message_max = UINT64_MAX); _in_frame == (_remaining > 0); _mask_off is the payload offset
 * of the next byte mod 4, which is all a split needs; a failure is sticky (every later call
 * fails with the same code) because the stream has no defined state after a violation.
 *
 * Runs on whichever thread owns the parser; no allocation, I/O, clock or logging. */

/* Text is unmasked and validated in chunks of this many bytes so that the chunk is still in
 * L1 when the validator (and, for WS_PAYLOAD_KEEP_MASK, the re-mask) reads it again. */
#define WS_TEXT_CHUNK 4096u

static enum ws_rc ws_fail(struct ws_parser *p, uint16_t code, const char *why)
{
	p->_close_code = code;
	p->_why = why;
	return WS_RC_FAIL;
}

void ws_parser_init(struct ws_parser *p, enum ws_role role, uint8_t rsv_allowed,
                    const struct wsg_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->_message_max = lim != NULL ? lim->message_max : WSG_MESSAGE_MAX_DEFAULT;
	p->_utf8 = UTF8_ACCEPT;
	p->_role = (uint8_t)role;
	p->_rsv_allowed = rsv_allowed & 0x70u;
}

static bool ws_op_is_control(uint8_t op)
{
	return (op & 0x8u) != 0;
}

static bool ws_op_is_reserved(uint8_t op)
{
	/* RFC 6455 5.2: %x3-7 are reserved for further non-control frames, %xB-F for further
	 * control frames. */
	return (op >= 0x3u && op <= 0x7u) || op >= 0xBu;
}

/* Checks a close payload once it is complete. RFC 6455 5.5.1: if there is a body, its first
 * two bytes are the status code, the rest UTF-8. */
static enum ws_rc ws_check_close(struct ws_parser *p)
{
	if (p->_ctl_len == 0)
		return WS_RC_OK;
	uint16_t code = (uint16_t)((unsigned)p->_ctl[0] << 8 | p->_ctl[1]);
	/* RFC 6455 7.4: 1004-1006, 1015 and unassigned codes are never sent on the wire. */
	if (!ws_close_code_is_valid(code))
		return ws_fail(p, 1002, "invalid close code");
	/* RFC 6455 5.5.1: the close reason is UTF-8 encoded data; 8.1: invalid is 1007. */
	if (!utf8_is_valid(p->_ctl + 2, (size_t)p->_ctl_len - 2))
		return ws_fail(p, 1007, "invalid utf-8 in close reason");
	return WS_RC_OK;
}

/* Runs the checks due when the current frame's last payload byte has been fed (also for a
 * frame whose payload is empty). */
static enum ws_rc ws_end_frame(struct ws_parser *p)
{
	p->_in_frame = false;
	if (p->_frame_opcode == WS_OP_CLOSE)
		return ws_check_close(p);
	/* RFC 6455 8.1: a text message that ends inside a code point is not valid UTF-8. */
	if (p->_frame_text && p->_frame_fin && p->_utf8 != UTF8_ACCEPT)
		return ws_fail(p, 1007, "invalid utf-8");
	return WS_RC_OK;
}

enum ws_rc ws_parse_frame_header(struct ws_parser *p, const uint8_t *buf, size_t len,
                                 struct ws_frame *out, size_t *used)
{
	*used = 0;
	if (p->_close_code != 0)
		return WS_RC_FAIL;
	/* The caller's contract, not the peer's: say so with 1011 rather than blame the peer. */
	if (p->_in_frame)
		return ws_fail(p, 1011, "header inside frame payload");
	if (len < 2)
		return WS_RC_MORE;

	uint8_t b0 = buf[0], b1 = buf[1];
	bool fin = (b0 & 0x80u) != 0;
	uint8_t rsv = b0 & 0x70u;
	uint8_t op = b0 & 0x0Fu;
	bool masked = (b1 & 0x80u) != 0;
	uint8_t len7 = b1 & 0x7Fu;

	/* RFC 6455 5.2: RSV1-3 must be 0 unless an extension is negotiated that defines them. */
	if ((rsv & (uint8_t)~p->_rsv_allowed) != 0)
		return ws_fail(p, 1002, "reserved bits set");
	/* RFC 6455 5.2: a reserved opcode must fail the connection. */
	if (ws_op_is_reserved(op))
		return ws_fail(p, 1002, "reserved opcode");
	/* RFC 6455 5.1: a server closes on an unmasked frame, a client on a masked one. */
	if (p->_role == WS_ROLE_SERVER && !masked)
		return ws_fail(p, 1002, "unmasked client frame");
	if (p->_role == WS_ROLE_CLIENT && masked)
		return ws_fail(p, 1002, "masked server frame");
	if (ws_op_is_control(op)) {
		/* RFC 6455 5.5: control frames must not be fragmented. */
		if (!fin)
			return ws_fail(p, 1002, "fragmented control frame");
		/* RFC 6455 5.5: control frame payloads are 125 bytes or less. */
		if (len7 > WS_CONTROL_MAX)
			return ws_fail(p, 1002, "control frame too long");
		/* RFC 6455 5.5.1: a close body, if present, starts with a 2-byte code. */
		if (op == WS_OP_CLOSE && len7 == 1)
			return ws_fail(p, 1002, "close payload of 1 byte");
	} else if (op == WS_OP_CONT) {
		/* RFC 6455 5.4: a continuation belongs to a message started by text or binary. */
		if (p->_msg_opcode == 0)
			return ws_fail(p, 1002, "continuation without start");
	} else if (p->_msg_opcode != 0) {
		/* RFC 6455 5.4: fragments of one message are not interleaved with another. */
		return ws_fail(p, 1002, "data frame inside fragmented message");
	}

	size_t hlen = 2;
	if (len7 == 126)
		hlen += 2;
	else if (len7 == 127)
		hlen += 8;
	if (masked)
		hlen += 4;
	if (len < hlen)
		return WS_RC_MORE;

	uint64_t plen = len7;
	if (len7 == 126) {
		plen = (uint64_t)buf[2] << 8 | buf[3];
		/* RFC 6455 5.2: the minimal number of bytes must be used to encode the length. */
		if (plen < 126)
			return ws_fail(p, 1002, "non-minimal length");
	} else if (len7 == 127) {
		plen = 0;
		for (size_t i = 2; i < 10; i++)
			plen = plen << 8 | buf[i];
		/* RFC 6455 5.2: the most significant bit of a 64-bit length must be 0. */
		if (plen >> 63)
			return ws_fail(p, 1002, "64-bit length top bit set");
		if (plen <= 0xFFFFu)
			return ws_fail(p, 1002, "non-minimal length");
	}

	if (!ws_op_is_control(op)) {
		/* RFC 6455 10.4: refuse a message we would not hold, before its payload comes; the
		 * declared lengths of all its frames count, so splitting does not get around it. */
		uint64_t so_far = op == WS_OP_CONT ? p->_message_len : 0;
		if (plen > p->_message_max - so_far)
			return ws_fail(p, 1009, "message too big");
	}

	/* Accepted: from here on the state changes. */
	out->opcode = op;
	out->fin = fin;
	out->rsv = rsv;
	out->masked = masked;
	if (masked)
		memcpy(out->mask, buf + hlen - 4, 4);
	else
		memset(out->mask, 0, 4);
	out->header_len = (uint8_t)hlen;
	out->payload_len = plen;

	p->_frame_opcode = op;
	p->_frame_fin = fin;
	p->_frame_masked = masked;
	memcpy(p->_mask, out->mask, 4);
	p->_mask_off = 0;
	p->_remaining = plen;
	p->_in_frame = plen != 0;
	if (ws_op_is_control(op)) {
		p->_frame_text = false;
		p->_ctl_len = 0;
	} else {
		uint8_t msg_op = op == WS_OP_CONT ? p->_msg_opcode : op;
		if (op == WS_OP_CONT) {
			p->_message_len += plen;
		} else {
			p->_message_len = plen;
			p->_utf8 = UTF8_ACCEPT;
		}
		p->_frame_text = msg_op == WS_OP_TEXT;
		p->_msg_opcode = fin ? 0 : msg_op;
	}
	*used = hlen;
	if (plen == 0) {
		enum ws_rc rc = ws_end_frame(p);
		if (rc != WS_RC_OK) {
			*used = 0;
			return rc;
		}
	}
	return WS_RC_OK;
}

enum ws_rc ws_parse_frame_header_split(struct ws_parser *p, struct ws_stash *st,
                                       const uint8_t *data, size_t len, struct ws_frame *out,
                                       const uint8_t **hdr, size_t *hdr_len, size_t *consumed)
{
	enum ws_rc rc;
	*consumed = 0;
	if (st->len == 0) {
		rc = ws_parse_frame_header(p, data, len, out, hdr_len);
		if (rc == WS_RC_MORE) {
			/* len < WS_HEADER_MAX here: a header is never longer. */
			memcpy(st->buf, data, len);
			st->len = (uint8_t)len;
			return rc;
		}
		*hdr = data;
		if (rc == WS_RC_OK)
			*consumed = *hdr_len;
		return rc;
	}
	size_t take = WS_HEADER_MAX - (size_t)st->len;
	if (take > len)
		take = len;
	memcpy(st->buf + st->len, data, take);
	rc = ws_parse_frame_header(p, st->buf, (size_t)st->len + take, out, hdr_len);
	if (rc == WS_RC_MORE) {
		st->len = (uint8_t)(st->len + take);
		return rc;
	}
	*hdr = st->buf;
	if (rc == WS_RC_OK)
		*consumed = *hdr_len - st->len;
	st->len = 0;
	return rc;
}

/* Text payload [buf, buf + n) at mask offset off: UTF-8 checked, left unmasked unless
 * keep_mask, in which case the bytes are unmasked, checked and masked again chunk by chunk,
 * so the caller's buffer is unchanged on return. */
static void ws_feed_text(struct ws_parser *p, uint8_t *buf, size_t n, bool keep_mask, size_t off)
{
	uint32_t st = p->_utf8;
	if (!p->_frame_masked) {
		p->_utf8 = utf8_validate(st, buf, n);
		return;
	}
	for (size_t i = 0; i < n && st != UTF8_REJECT;) {
		size_t c = n - i < WS_TEXT_CHUNK ? n - i : WS_TEXT_CHUNK;
		ws_mask(buf + i, c, p->_mask, off + i);
		st = utf8_validate(st, buf + i, c);
		if (keep_mask)
			ws_mask(buf + i, c, p->_mask, off + i);
		i += c;
	}
	p->_utf8 = st;
}

enum ws_rc ws_parse_payload(struct ws_parser *p, uint8_t *buf, size_t len, unsigned flags,
                            size_t *used)
{
	*used = 0;
	if (p->_close_code != 0)
		return WS_RC_FAIL;
	if (!p->_in_frame)
		return WS_RC_OK;

	size_t n = len;
	if ((uint64_t)n > p->_remaining)
		n = (size_t)p->_remaining;
	bool keep_mask = (flags & WS_PAYLOAD_KEEP_MASK) != 0;
	size_t off = p->_mask_off;

	if (ws_op_is_control(p->_frame_opcode)) {
		/* _remaining <= 125 - _ctl_len here (checked in the header), so this fits. */
		uint8_t *dst = p->_ctl + p->_ctl_len;
		memcpy(dst, buf, n);
		if (p->_frame_masked) {
			ws_mask(dst, n, p->_mask, off);
			if (!keep_mask)
				memcpy(buf, dst, n);
		}
		p->_ctl_len = (uint8_t)(p->_ctl_len + n);
	} else if (p->_frame_text) {
		ws_feed_text(p, buf, n, keep_mask, off);
		/* RFC 6455 8.1: fail as soon as the bytes cannot be valid UTF-8. */
		if (p->_utf8 == UTF8_REJECT)
			return ws_fail(p, 1007, "invalid utf-8");
	} else if (p->_frame_masked && !keep_mask) {
		ws_mask(buf, n, p->_mask, off);
	}

	p->_mask_off = (uint8_t)((off + n) & 3u);
	p->_remaining -= n;
	*used = n;
	if (p->_remaining == 0) {
		enum ws_rc rc = ws_end_frame(p);
		if (rc != WS_RC_OK) {
			*used = 0;
			return rc;
		}
	}
	return WS_RC_OK;
}

bool ws_parser_in_frame(const struct ws_parser *p)
{
	return p->_in_frame;
}

bool ws_parser_in_message(const struct ws_parser *p)
{
	return p->_msg_opcode != 0;
}

bool ws_parser_frame_is_text(const struct ws_parser *p)
{
	return p->_frame_text;
}

uint64_t ws_parser_remaining(const struct ws_parser *p)
{
	return p->_remaining;
}

const uint8_t *ws_parser_control_payload(const struct ws_parser *p, size_t *len)
{
	*len = p->_ctl_len;
	return p->_ctl;
}

uint16_t ws_parser_close_code(const struct ws_parser *p)
{
	return p->_close_code;
}

const char *ws_parser_fail_reason(const struct ws_parser *p)
{
	return p->_why != NULL ? p->_why : "";
}

void ws_close_payload_split(const uint8_t *payload, size_t len, uint16_t *code,
                            const uint8_t **reason, size_t *reason_len)
{
	/* RFC 6455 7.1.5: no status code in the close frame reads as 1005. A 1-byte body
	 * never passes the parser; it is treated as empty rather than read past. */
	if (len < 2) {
		*code = 1005;
		*reason = payload;
		*reason_len = 0;
		return;
	}
	*code = (uint16_t)((unsigned)payload[0] << 8 | payload[1]);
	*reason = payload + 2;
	*reason_len = len - 2;
}

bool ws_close_code_is_valid(uint16_t code)
{
	/* RFC 6455 7.4.1 and the IANA registry (7.4.2, 11.7): 1004 is reserved, 1005, 1006
	 * and 1015 are never sent on the wire; 1012-1014 are registered since; 3000-3999 are
	 * registered by libraries, 4000-4999 private. */
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

size_t ws_encode_header(uint8_t out[WS_HEADER_MAX], enum ws_op opcode, bool fin,
                        uint64_t payload_len, const uint8_t *mask)
{
	size_t n = 0;
	uint8_t mbit = mask != NULL ? 0x80u : 0;
	out[n++] = (uint8_t)((fin ? 0x80u : 0) | ((unsigned)opcode & 0x0Fu));
	/* RFC 6455 5.2: the minimal number of bytes for the length. */
	if (payload_len < 126) {
		out[n++] = (uint8_t)(mbit | payload_len);
	} else if (payload_len <= 0xFFFFu) {
		out[n++] = (uint8_t)(mbit | 126u);
		out[n++] = (uint8_t)(payload_len >> 8);
		out[n++] = (uint8_t)payload_len;
	} else {
		out[n++] = (uint8_t)(mbit | 127u);
		for (int shift = 56; shift >= 0; shift -= 8)
			out[n++] = (uint8_t)(payload_len >> shift);
	}
	if (mask != NULL) {
		memcpy(out + n, mask, 4);
		n += 4;
	}
	return n;
}

size_t ws_encode_close(uint8_t *out, size_t cap, uint16_t code, const char *reason,
                       size_t reason_len, const uint8_t *mask)
{
	/* RFC 6455 5.5: the whole control payload, code included, is at most 125 bytes. */
	if (reason_len > WS_CONTROL_MAX - 2)
		return 0;
	size_t plen = code != 0 ? 2 + reason_len : 0;
	size_t hlen = mask != NULL ? 6 : 2;
	if (cap < hlen + plen)
		return 0;
	ws_encode_header(out, WS_OP_CLOSE, true, plen, mask);
	if (code != 0) {
		out[hlen] = (uint8_t)(code >> 8);
		out[hlen + 1] = (uint8_t)code;
		if (reason_len != 0)
			memcpy(out + hlen + 2, reason, reason_len);
		if (mask != NULL)
			ws_mask(out + hlen, plen, mask, 0);
	}
	return hlen + plen;
}

void ws_mask(uint8_t *buf, size_t len, const uint8_t mask[4], size_t offset)
{
	size_t i = 0;
	offset &= 3u;
	/* Bring buf up to 8-byte alignment first: unaligned loads are cheap on the machines we
	 * run on, but stores that straddle cache lines are not. */
	while (i < len && ((uintptr_t)(buf + i) & 7u) != 0) {
		buf[i] ^= mask[(offset + i) & 3u];
		i++;
	}
	if (len - i >= 8) {
		/* Eight mask bytes starting where byte i falls in the mask; as 8 is a multiple
		 * of 4 the same word serves every later word. memcpy keeps the byte order, so
		 * this is endian-neutral. */
		uint8_t rot[8];
		for (size_t k = 0; k < 8; k++)
			rot[k] = mask[(offset + i + k) & 3u];
		uint64_t m;
		memcpy(&m, rot, 8);
		for (; len - i >= 32; i += 32) {
			uint64_t w[4];
			memcpy(w, buf + i, 32);
			w[0] ^= m;
			w[1] ^= m;
			w[2] ^= m;
			w[3] ^= m;
			memcpy(buf + i, w, 32);
		}
		for (; len - i >= 8; i += 8) {
			uint64_t w;
			memcpy(&w, buf + i, 8);
			w ^= m;
			memcpy(buf + i, &w, 8);
		}
	}
	for (; i < len; i++)
		buf[i] ^= mask[(offset + i) & 3u];
}

const char *ws_op_name(uint8_t opcode)
{
	switch (opcode) {
	case WS_OP_CONT:
		return "cont";
	case WS_OP_TEXT:
		return "text";
	case WS_OP_BINARY:
		return "binary";
	case WS_OP_CLOSE:
		return "close";
	case WS_OP_PING:
		return "ping";
	case WS_OP_PONG:
		return "pong";
	default:
		return "reserved";
	}
}
