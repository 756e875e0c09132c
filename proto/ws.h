#ifndef WSG_PROTO_WS_H
#define WSG_PROTO_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/limits.h"

/* RFC 6455 frames: an incremental, zero-copy parser that enforces every rule of sections 5
 * and 7 (the relay forwards frames as they arrive, so the parser never needs a whole
 * message), the encoder, masking and close-code rules. */

enum ws_op {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

enum ws_rc {
	WS_RC_OK = 0,    /* one unit parsed; *used bytes consumed */
	WS_RC_MORE = -1, /* input ends mid-unit; nothing consumed, state unchanged */
	WS_RC_FAIL = -2, /* protocol violation; ws_parser_close_code() says which */
};

enum ws_role {
	WS_ROLE_SERVER = 0, /* we are the server: frames come from a client, must be masked */
	WS_ROLE_CLIENT = 1, /* we are the client: frames come from a server, must not be */
};

#define WS_CONTROL_MAX 125 /* RFC 6455 5.5 */
#define WS_HEADER_MAX  14  /* 2 + 8 extended length + 4 mask */

struct ws_frame {
	uint8_t opcode;
	bool fin;
	uint8_t rsv; /* the three RSV bits as in the first byte (0x70 mask) */
	bool masked;
	uint8_t mask[4];
	uint8_t header_len;
	uint64_t payload_len;
};

/* Parser state for one direction of one conn; embedded by the caller, fields private. */
struct ws_parser {
	uint64_t _message_max; /* payload bytes allowed per message */
	uint64_t _message_len; /* declared payload bytes of the open data message so far */
	uint64_t _remaining;   /* payload bytes of the current frame not yet fed */
	uint32_t _utf8;        /* DFA state of the open text message */
	uint16_t _close_code;  /* code for the last WS_RC_FAIL */
	const char *_why;      /* static text for the last WS_RC_FAIL */
	uint8_t _role;         /* enum ws_role */
	uint8_t _rsv_allowed;  /* RSV bits a negotiated extension allows */
	uint8_t _msg_opcode;   /* WS_OP_TEXT/BINARY while a fragmented message is open, else 0 */
	uint8_t _frame_opcode; /* opcode of the frame whose payload is being fed */
	bool _frame_fin;
	bool _frame_text; /* the current frame's payload is text (UTF-8 checked) */
	bool _in_frame;   /* a header was parsed and payload bytes remain */
	bool _frame_masked;
	uint8_t _mask[4];
	uint8_t _mask_off;            /* payload bytes fed so far, mod 4 */
	uint8_t _ctl_len;             /* control payload bytes collected */
	uint8_t _ctl[WS_CONTROL_MAX]; /* control frame payload, unmasked */
};

void ws_parser_init(struct ws_parser *p, enum ws_role role, uint8_t rsv_allowed,
                    const struct wsg_limits *lim);

/* Parses one frame header from [buf, buf + len). Rejects (1002) RSV bits without a
 * negotiated extension, reserved opcodes, a masked frame to a client or an unmasked one to a
 * server, non-minimal lengths and 64-bit lengths with the top bit set, fragmented or >125
 * byte control frames, a continuation without an open message, a new data frame inside an
 * open message, and a close payload of length 1; rejects (1009) a data frame that would take
 * the message over lim->message_max, before any payload arrives. Must not be called while
 * ws_parser_in_frame(). A zero-length frame is complete on return (a FIN text frame may then
 * FAIL with 1007 if the message ended inside a code point). Never allocates. */
enum ws_rc ws_parse_frame_header(struct ws_parser *p, const uint8_t *buf, size_t len,
                                 struct ws_frame *out, size_t *used);

#define WS_PAYLOAD_KEEP_MASK 1u /* relay: masked bytes stay masked in buf when we return */

/* Feeds payload bytes of the current frame, [buf, buf + len), in place: *used is
 * min(len, bytes left in the frame). Masked payload is unmasked in place unless
 * WS_PAYLOAD_KEEP_MASK (then it is unmasked to check and masked again only where text or a
 * close reason must be validated). Text is checked incrementally as UTF-8 (1007 as soon as a
 * byte cannot continue a valid sequence, and at the end of a FIN frame inside a code point).
 * Control payloads are also collected in the parser (see ws_parser_control_payload); a close
 * payload is validated when complete (1002 for an invalid code, 1007 for a bad reason).
 * Returns WS_RC_OK or WS_RC_FAIL; never WS_RC_MORE. */
enum ws_rc ws_parse_payload(struct ws_parser *p, uint8_t *buf, size_t len, unsigned flags,
                            size_t *used);

/* True between a parsed header and the last byte of its payload. */
bool ws_parser_in_frame(const struct ws_parser *p);
/* True while a fragmented data message is open (its FIN frame not seen yet). */
bool ws_parser_in_message(const struct ws_parser *p);
/* True when the current (or last) frame's payload is text: a text frame or a continuation
 * of a text message (its UTF-8 is checked). */
bool ws_parser_frame_is_text(const struct ws_parser *p);
/* Payload bytes of the current frame not yet fed. */
uint64_t ws_parser_remaining(const struct ws_parser *p);
/* After a control frame is complete, its unmasked payload (valid until the next header). */
const uint8_t *ws_parser_control_payload(const struct ws_parser *p, size_t *len);
/* After WS_RC_FAIL: the close code to send (1002, 1007, 1009; 1011 only when the caller broke
 * the contract by asking for a header inside a frame) and a short static reason. Failure is
 * sticky: every later call fails with the same code. */
uint16_t ws_parser_close_code(const struct ws_parser *p);
const char *ws_parser_fail_reason(const struct ws_parser *p);

/* A frame header split across reads, kept by the caller between calls (STYLE.md 3: the only
 * bytes a parser user must copy out of a receive buffer are these at most 14). */
struct ws_stash {
	uint8_t buf[WS_HEADER_MAX];
	uint8_t len; /* bytes kept */
};

/* ws_parse_frame_header over a stream whose header may be split across reads: the bytes of
 * [data, data + len) are joined to what st kept. WS_RC_MORE: all of data went into st.
 * WS_RC_OK: *hdr points at the whole header (*hdr_len bytes, in data or in st->buf, valid
 * until the next call on st), *consumed bytes of data were used, and st is empty again.
 * WS_RC_FAIL: see ws_parser_close_code; *consumed is 0. */
enum ws_rc ws_parse_frame_header_split(struct ws_parser *p, struct ws_stash *st,
                                       const uint8_t *data, size_t len, struct ws_frame *out,
                                       const uint8_t **hdr, size_t *hdr_len, size_t *consumed);

/* Splits a validated close payload: *code is 1005 when empty (RFC 6455 7.1.5). */
void ws_close_payload_split(const uint8_t *payload, size_t len, uint16_t *code,
                            const uint8_t **reason, size_t *reason_len);

/* RFC 6455 7.4: codes allowed on the wire: 1000-1003, 1007-1014, 3000-4999. */
bool ws_close_code_is_valid(uint16_t code);

/* Writes a frame header for payload_len bytes into out and returns its length (2..14);
 * mask == NULL writes an unmasked header. */
size_t ws_encode_header(uint8_t out[WS_HEADER_MAX], enum ws_op opcode, bool fin,
                        uint64_t payload_len, const uint8_t *mask);

/* A whole close frame (header + code + reason) into out; the payload is masked when mask is
 * not NULL. Returns its length, or 0 when cap is too small or the reason over 123 bytes.
 * code 0 writes an empty close payload. */
size_t ws_encode_close(uint8_t *out, size_t cap, uint16_t code, const char *reason,
                       size_t reason_len, const uint8_t *mask);

/* XORs [buf, buf + len) with mask starting at mask byte (offset % 4), a machine word at a
 * time, for any alignment of buf. Masking and unmasking are the same operation. */
void ws_mask(uint8_t *buf, size_t len, const uint8_t mask[4], size_t offset);

/* "cont", "text", "binary", "close", "ping", "pong" or "reserved". */
const char *ws_op_name(uint8_t opcode);

#endif
