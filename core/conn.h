#ifndef WSG_CORE_CONN_H
#define WSG_CORE_CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/rbuf.h"
#include "core/twheel.h"
#include "proto/http1.h"
#include "proto/ws.h"

/* A conn is one socket with its buffers: the transport. It owns the socket, the receive
 * and send paths on the worker's ring, backpressure, the lingering close, and closing as a
 * state and freeing as an event. What the bytes mean belongs to the layer above (the
 * handshake, a tunnel, an echo server), which installs a table of callbacks (conn_ops) and
 * is reached only through it: conn.c never names a layer above.
 *
 * A byte transform (TLS) can sit between the socket and the plaintext the layer above sees
 * (conn_xform): received bytes go through it before on_data, queued plaintext goes through it
 * on its way to the socket, and a send queue's size counts what waits on both sides of it.
 * Worker thread only. */

struct worker;
struct conn;

/* Backpressure: stop reading a conn's peer when this conn has more than HIGH bytes waiting,
 * start again at or below LOW. One receive is at most WORKER_BUF_SIZE (16 KiB) and a held
 * frame at most TUNNEL_HOLD_MAX (16 KiB), so a queue never holds more than 88 + 16 + 16 KiB
 * plus a few control frames: it fits a 128 KiB block. While a send is in flight to a peer
 * that does not read, the block it reads from stays pinned (at most 64 KiB, the block before
 * the last growth), so one stalled direction costs at most 192 KiB (docs/ARCHITECTURE.md). */
#define CONN_OUT_HIGH (88u * 1024u)
#define CONN_OUT_LOW  (32u * 1024u)
/* Lingering close (nginx's lingering_time/lingering_timeout): after our last bytes, keep
 * reading and discarding until the peer's EOF, for at most LINGER_MAX_MS in all and at most
 * LINGER_IDLE_MS without a byte, so that closing with unread data never makes the kernel
 * reset the connection and destroy our last bytes (a close frame, an error answer) before
 * the peer read them. */
#define CONN_LINGER_MAX_MS  30000u
#define CONN_LINGER_IDLE_MS 2000u

enum conn_role {
	CONN_CLIENT = 0, /* accepted: we are the WebSocket server */
	CONN_BACKEND,    /* dialled: we are the WebSocket client */
};

/* What kind of listener accepted a client conn (a backend conn's is CONN_KIND_PLAIN or the
 * kind of its URL). The transport layer picks a byte transform from it. */
enum conn_kind {
	CONN_KIND_PLAIN = 0,
	CONN_KIND_TLS,
};

enum conn_state {
	CONN_HANDSHAKE = 0, /* client: reading the request head; backend: connecting/upgrading */
	CONN_WAIT_BACKEND,  /* client: head accepted, a backend is being dialled */
	CONN_OPEN,          /* frames flow */
	CONN_CLOSING,       /* conn_close() called: waiting for in-flight CQEs */
};

/* Transport flags (conn.flags): written by conn.c only. */
enum conn_flag {
	CF_RECV_ARMED = 1u << 0,  /* a receive is in flight */
	CF_SEND_BUSY = 1u << 1,   /* a send is in flight (c->out is pinned) */
	CF_RX_PAUSED = 1u << 2,   /* no receive is armed until conn_resume */
	CF_SHUT_AFTER = 1u << 3,  /* close once out is drained (lingering close) */
	CF_EOF = 1u << 4,         /* the peer closed or reset its side: nothing more to read */
	CF_IN_FLUSH = 1u << 5,    /* on the worker's flush list */
	CF_CONNECTED = 1u << 6,   /* backend: TCP connect completed (sends may start) */
	CF_CANCEL_SENT = 1u << 7, /* cancel of everything in flight submitted */
	CF_WR_SHUT = 1u << 8,     /* lingering: our side shut, reading until EOF or the limits */
	CF_DISCARD = 1u << 9,     /* received bytes are dropped, not handed up */
	CF_HOLD = 1u << 10,       /* the last hold_len bytes queued are held back */
	CF_STAMPED = 1u << 11,    /* relay_at stamps the oldest bytes no send carries yet */
};

/* Callbacks of the layer that owns what a conn's bytes mean. Every one may be NULL except
 * on_data. They are called on the worker thread, never for a CLOSING conn. */
struct conn_ops {
	/* Received plaintext [p, p + n), in a buffer on loan until return (parse in place;
	 * copy what must outlive the call). */
	void (*on_data)(struct worker *w, struct conn *c, uint8_t *p, size_t n);
	/* A send brought the queue from over CONN_OUT_LOW to at or below it (the peer may be
	 * read again if it was paused at CONN_OUT_HIGH). */
	void (*on_drained)(struct worker *w, struct conn *c);
	/* The peer is gone for reading (err 0: EOF; else -errno of the receive or send). The
	 * conn is not closed: the layer decides (queued bytes may still go out on a half-closed
	 * socket). NULL: conn_close. */
	void (*on_gone)(struct worker *w, struct conn *c, int err);
	/* The conn's timer is due (conn_set_timer). */
	void (*on_timer)(struct worker *w, struct conn *c);
	/* A connect started with conn_connect completed (res 0 or -errno). */
	void (*on_connect)(struct worker *w, struct conn *c, int res);
	/* The conn is about to go back to the slab (last CQE in): drop references to it. */
	void (*on_free)(struct worker *w, struct conn *c);
};

/* A byte transform between the socket and the plaintext (TLS). Each direction is a function
 * of the conn's buffers only: no socket, no ring. `input` consumes ciphertext [p, p + n) and
 * hands plaintext to deliver(w, c, pt, len) (any number of times); it may also queue bytes
 * to send (a handshake answer) with conn_queue_raw. `output` turns plaintext [p, p + n) into
 * bytes for the socket, appended with conn_queue_raw. Both return 0, or -1 to fail the conn
 * (it is then closed). `pending` is how many plaintext bytes the transform holds that are
 * not in c->out yet (counted against the watermarks). */
struct conn_xform;

/* A transformed conn's state: the transform allocates a struct whose first member is this
 * (its own state follows) and sets c->xf; only transformed conns pay for it, so a plaintext
 * conn carries one NULL pointer. pt is the plaintext waiting to go through the transform,
 * separate from the socket bytes in c->out. */
struct conn_xf {
	const struct conn_xform *ops;
	struct rbuf pt;
	bool said_goodbye; /* ops->goodbye ran */
};

struct conn_xform {
	/* 0; CONN_XF_PEER_CLOSED: the peer closed the transport cleanly (TLS close_notify), no
	 * more input; -1: failed (what the transform queued for the peer, an alert, is sent,
	 * then the conn closes). */
	int (*input)(struct worker *w, struct conn *c, const uint8_t *p, size_t n,
	             void (*deliver)(struct worker *w, struct conn *c, uint8_t *pt, size_t len));
	/* Takes up to n plaintext bytes (*taken; fewer while the transform cannot send yet, a
	 * handshake in progress: the rest waits in pt and is offered again after the next
	 * input). 0 or -1. */
	int (*output)(struct worker *w, struct conn *c, const uint8_t *p, size_t n, size_t *taken);
	size_t (*pending)(const struct conn *c);
	/* Optional: the transform's own goodbye (close_notify) appended to c->out, once, when
	 * the conn is shut after its last bytes. */
	void (*goodbye)(struct worker *w, struct conn *c);
	void (*release)(struct worker *w, struct conn *c); /* at free: drop its state */
};

#define CONN_XF_PEER_CLOSED 1

/* Upper-layer WebSocket state flags (conn.ws_flags): owned by whoever owns the conn's
 * ops; conn.c never reads them. */
enum conn_ws_flag {
	WSF_CLOSE_SENT = 1u << 0, /* a close frame to this conn is queued */
	WSF_CLOSE_RCVD = 1u << 1, /* this conn's close frame arrived */
	WSF_PING_OUT = 1u << 2,   /* a keepalive ping awaits its pong */
	WSF_CTL = 1u << 3,        /* the frame being parsed is a control frame */
	WSF_FWD_OPEN = 1u << 4,   /* a frame from this conn is half forwarded: peer mid-frame */
	WSF_HOLD = 1u << 5,       /* the frame being forwarded is held back in the peer's queue */
	WSF_FAILED = 1u << 6,     /* this conn broke a rule: its input is dropped */
	WSF_OVER_LIMIT = 1u << 7, /* accepted over --max-conns: answer 503 */
	WSF_CLOSE_OWED = 1u << 8, /* owes its close frame once the peer answered ours */
};

struct conn {
	uint32_t gen;       /* bumped on every allocation: stale CQEs are recognised */
	uint32_t slot;      /* slab index */
	int fd;             /* a plain fd (not a fixed-file index) */
	uint16_t flags;     /* enum conn_flag, conn.c only */
	uint16_t ws_flags;  /* enum conn_ws_flag, the layer above only */
	uint8_t role;       /* enum conn_role */
	uint8_t state;      /* enum conn_state */
	uint8_t kind;       /* enum conn_kind */
	uint16_t inflight;  /* SQEs whose final CQE has not arrived */
	uint8_t ctl_op;     /* opcode of the control frame being collected */
	uint16_t fail_code; /* the close code this conn is owed (WSF_CLOSE_OWED) */
	uint16_t relay_at;  /* CF_STAMPED: the loop turn that queued those bytes (loopstat.h);
	                     * in what was padding, so it costs no byte */
	uint32_t ip_ref;    /* the layer above: its per-IP table entry (IPLIMIT_REF_NONE: none) */
	struct ws_stash stash;      /* the layer above: a frame header split across receives */
	const struct conn_ops *ops; /* the layer above */
	struct conn_xf *xf;         /* NULL: plaintext socket; else the transform's state */
	void *owner;                /* the layer above's object (a tunnel) */
	struct conn *flush_next;    /* worker flush list */
	struct rbuf out;            /* bytes for the socket (after the transform) */
	struct rbuf in;             /* for the layer above: the head being read */
	uint32_t hold_len;          /* CF_HOLD: bytes at the send queue's tail held back */
	uint32_t stamp_us;          /* the layer above: low 32 bits of worker.now_us at an event
	                             * it times (a client: its accept until the 101, then the
	                             * send of the keepalive ping awaiting its pong); differences
	                             * are exact below 71 minutes */
	struct twheel_entry timer;  /* one timer, owned by the layer above (but lingering) */
	uint64_t last_rx_ms;        /* last bytes from the peer */
	uint64_t deadline_ms;       /* the layer above's deadline (handshake, connect, close);
	                             * once lingering (CF_SHUT_AFTER), the linger's hard end */
	union {
		struct http_parser http; /* CONN_HANDSHAKE */
		struct ws_parser ws;     /* CONN_OPEN */
	} p;
	struct conn *live_prev, *live_next; /* the worker's list of live conns (drain, admin) */
	union {
		struct sockaddr sa;
		struct sockaddr_in in4;
		struct sockaddr_in6 in6;
	} peer; /* client: its address; backend: the backend's */
};

/* A new conn for fd (takes fd) with the given ops; NULL when the slab is full (the caller
 * still owns fd then). */
struct conn *conn_new(struct worker *w, int fd, enum conn_role role, const struct conn_ops *ops);

/* Starts the receive loop (one receive in flight at a time, into the worker's provided
 * buffers). */
void conn_arm_recv(struct worker *w, struct conn *c);
/* Starts a TCP connect to the conn's peer address; on_connect gets the result. */
void conn_connect(struct worker *w, struct conn *c, socklen_t addr_len);
/* Appends plaintext to the send queue (through the transform, if any); the send starts at
 * the end of the loop turn. 0, or -1 when no buffer memory is left (the caller fails the
 * conn). A no-op on a CLOSING conn. */
int conn_queue(struct worker *w, struct conn *c, const void *p, size_t n);
/* Appends bytes for the socket as they are (the transform's own output). */
int conn_queue_raw(struct worker *w, struct conn *c, const void *p, size_t n);
/* Bytes waiting to be sent, on both sides of the transform (for the watermarks); held bytes
 * (conn_out_hold) are not counted. */
size_t conn_out_len(const struct conn *c);

/* Holding back: what is queued after conn_out_hold is not sent until conn_out_release (a
 * frame kept until it has been validated whole), and conn_out_rollback drops it instead. The
 * caller bounds how much it holds. */
void conn_out_hold(struct conn *c);
bool conn_out_is_held(const struct conn *c);
void conn_out_release(struct worker *w, struct conn *c);
void conn_out_rollback(struct worker *w, struct conn *c);

/* Stops reading c until conn_resume (backpressure from its peer). */
void conn_pause(struct worker *w, struct conn *c);
void conn_resume(struct worker *w, struct conn *c);
/* From now on received bytes are read and dropped (a conn that broke the rules is still
 * read, so that closing it later does not reset the connection). */
void conn_discard_input(struct worker *w, struct conn *c);
/* Lingering close: once everything queued has been sent, shut our side and read (dropping
 * it) until the peer's EOF or the linger limits, then close. */
void conn_shut_after_flush(struct worker *w, struct conn *c);
/* Marks c CLOSING, cancels what is in flight; freed when the last CQE is in. */
void conn_close(struct worker *w, struct conn *c);
/* Arms the conn's single timer for an absolute deadline (replacing any earlier one). */
void conn_set_timer(struct worker *w, struct conn *c, uint64_t deadline_ms);
void conn_del_timer(struct worker *w, struct conn *c);

/* Worker loop hooks: a CQE for c, c's timer, end of turn (start queued sends, free conns
 * whose last CQE came in). */
struct io_uring_cqe;
void conn_on_cqe(struct worker *w, struct conn *c, unsigned op, struct io_uring_cqe *cqe);
void conn_on_timer(struct worker *w, struct conn *c);
void conn_flush_all(struct worker *w);

/* "recv_armed|send_busy|..." for logs and the debugger: the transport flags (conn.flags)
 * and the tunnel layer's (conn.ws_flags, enum conn_ws_flag). Write into buf (cap bytes) and
 * return it; a name that does not fit is left out whole. */
const char *conn_flags_str(uint16_t flags, char *buf, size_t cap);
const char *conn_ws_flags_str(uint16_t ws_flags, char *buf, size_t cap);

/* "127.0.0.1:5555" / "[::1]:5555" for logs; the address alone for X-Forwarded-For. */
void conn_peer_text(const struct conn *c, char *buf, size_t cap, bool with_port);

#endif
