#ifndef WSG_CORE_WORKER_H
#define WSG_CORE_WORKER_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/rbuf.h"
#include "core/slab.h"
#include "core/twheel.h"
#include "proto/http1.h"
#include "proto/ws.h"

/* A worker: one thread pinned to one CPU, one io_uring, and everything its conns need
 * (slabs, the provided-buffer ring, the rbuf pool, the timing wheel, counters). Nothing here
 * is touched by another thread except the fields marked otherwise. */

struct gateway;
struct tunnel;
struct rt_route;

/* What a CQE is for: the low 8 bits of user_data. */
enum worker_op {
	WOP_NONE = 0, /* fire and forget (cancel, close): CQE ignored */
	WOP_RECV,
	WOP_SEND,
	WOP_CONNECT,
	WOP_HANDOFF, /* msg_ring from the acceptor: new sockets in the queue */
	WOP_CMD,     /* msg_ring from the control thread: res is enum worker_cmd */
	WOP_FDOP,    /* cancel-by-fd: counted in flight, because it may run after a close we
	              * queued later would have freed the fd number for reuse */
};

enum worker_cmd {
	WCMD_DRAIN = 1, /* close every client with 1001, refuse handshakes with 503 */
	WCMD_STOP,      /* close whatever is left now and exit */
};

enum conn_role {
	CONN_CLIENT = 0, /* accepted: we are the WebSocket server */
	CONN_BACKEND,    /* dialled: we are the WebSocket client */
};

enum conn_state {
	CONN_HANDSHAKE = 0, /* client: reading the request head; backend: connecting/upgrading */
	CONN_WAIT_BACKEND,  /* client: head accepted, a backend is being dialled */
	CONN_OPEN,          /* frames flow */
	CONN_CLOSING,       /* conn_close() called: waiting for in-flight CQEs */
};

/* Conn flags (conn.flags). */
enum conn_flag {
	CF_RECV_ARMED = 1u << 0,   /* a multishot recv is in flight */
	CF_SEND_BUSY = 1u << 1,    /* a send is in flight */
	CF_RX_PAUSED = 1u << 2,    /* backpressure: peer's out over the high watermark */
	CF_CLOSE_SENT = 1u << 3,   /* a close frame is queued in out */
	CF_CLOSE_RCVD = 1u << 4,   /* the peer's close frame arrived */
	CF_SHUT_AFTER = 1u << 5,   /* close the socket once out is drained */
	CF_EOF = 1u << 6,          /* the peer closed or reset its side */
	CF_IN_FLUSH = 1u << 7,     /* on the worker's flush list */
	CF_OVER_LIMIT = 1u << 8,   /* accepted over --max-conns: answer 503 */
	CF_PING_OUT = 1u << 9,     /* a keepalive ping awaits its pong */
	CF_CONNECTED = 1u << 10,   /* backend TCP connect completed */
	CF_CANCEL_SENT = 1u << 11, /* cancel of everything in flight submitted */
	CF_CTL = 1u << 12,         /* the frame being parsed is a control frame */
	CF_HDR_PENDING = 1u << 13, /* a data frame header waits in stash for its first payload */
	CF_WR_SHUT = 1u << 14,     /* lingering close: our side shut, reading until EOF/linger */
};

/* One socket with its buffers and its half of the WebSocket state. Lives in the worker's conn
 * slab; both legs of a tunnel are conns. */
struct conn {
	uint32_t gen;  /* bumped on every allocation: stale CQEs are recognised */
	uint32_t slot; /* slab index */
	int fd;
	uint16_t flags;    /* enum conn_flag */
	uint8_t role;      /* enum conn_role */
	uint8_t state;     /* enum conn_state */
	uint16_t inflight; /* SQEs whose final CQE has not arrived */
	uint8_t stash_len; /* bytes of a split frame header kept in stash */
	uint8_t ctl_op;    /* opcode of the control frame being collected */
	uint8_t stash[WS_HEADER_MAX];
	struct tunnel *t;          /* NULL for echo conns and before the route is chosen */
	struct conn *flush_next;   /* worker flush list */
	struct rbuf out;           /* bytes waiting to be sent */
	struct rbuf in;            /* handshake: the head so far (and anything after it) */
	struct twheel_entry timer; /* handshake, connect, keepalive, idle, close linger */
	uint64_t last_rx_ms;       /* last bytes from the peer (keepalive) */
	uint64_t deadline_ms;      /* the state's hard deadline (handshake, connect, linger) */
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

struct worker_handoff {
	int fd;
	bool over_limit;
	struct sockaddr_storage peer;
	socklen_t peer_len;
};

/* Single-producer (acceptor) single-consumer (worker) queue of accepted sockets. */
#define WORKER_HANDOFF_CAP 4096u
struct worker_queue {
	_Atomic uint32_t head; /* written: worker (consumer); read: acceptor */
	_Atomic uint32_t tail; /* written: acceptor (producer); read: worker */
	struct worker_handoff items[WORKER_HANDOFF_CAP];
};

struct worker_stats {
	/* single writer (the worker), relaxed; read by the control thread */
	_Atomic uint64_t conns_accepted;
	_Atomic uint64_t tunnels_opened;
	_Atomic uint64_t tunnels_active;
	_Atomic uint64_t handshake_rejects;
	_Atomic uint64_t msgs_in;  /* client -> backend */
	_Atomic uint64_t msgs_out; /* backend -> client */
	_Atomic uint64_t bytes_in;
	_Atomic uint64_t bytes_out;
	_Atomic uint64_t slab_exhausted;
	_Atomic uint64_t closed_on_drain_timeout;
};

struct worker {
	unsigned id;
	int cpu;
	pthread_t thread;
	struct gateway *gw;
	struct io_uring ring;
	int ring_fd; /* for msg_ring from other threads; written before start */
	struct slab conns;
	struct slab tunnels;
	struct rbuf_pool *pool;
	struct io_uring_buf_ring *br; /* provided receive buffers */
	uint8_t *bufs;
	unsigned br_entries;
	unsigned br_pending; /* buffers handed back this turn, published at its end */
	struct twheel wheel;
	uint64_t now_ms; /* the loop turn's clock (CLOCK_MONOTONIC) */
	uint64_t seq;    /* per-worker connection counter: round robin, ids */
	uint64_t rng;    /* xorshift state for masks and keys */
	struct conn *flush_head;
	struct conn *live_head; /* every conn not yet freed */
	bool draining;
	bool stopping;
	uint32_t live_conns;        /* conns not yet freed */
	struct worker_queue *queue; /* written: acceptor; read: this worker */
	_Atomic bool ready;         /* written: worker (ring enabled); read: control thread */
	_Atomic bool exited;        /* written: worker; read: control thread */
	struct worker_stats stats;
};

/* user_data: gen:32 | slot:24 | op:8 (STYLE.md 4). */
static inline uint64_t ud_pack(uint32_t gen, uint32_t slot, enum worker_op op)
{
	return ((uint64_t)gen << 32) | ((uint64_t)(slot & 0xffffffu) << 8) | (uint64_t)op;
}

static inline enum worker_op ud_op(uint64_t ud)
{
	return (enum worker_op)(ud & 0xffu);
}

static inline uint32_t ud_slot(uint64_t ud)
{
	return (uint32_t)((ud >> 8) & 0xffffffu);
}

static inline uint32_t ud_gen(uint64_t ud)
{
	return (uint32_t)(ud >> 32);
}

/* Sets up w (ring, slabs, buffers) on the calling thread's behalf; worker_start runs it. */
int worker_init(struct worker *w, struct gateway *gw, unsigned id, uint32_t max_clients);
int worker_start(struct worker *w);
void worker_fini(struct worker *w);

/* Hot-path helpers for conn.c and tunnel.c (worker thread only). */
struct io_uring_sqe *worker_sqe(struct worker *w);
uint64_t worker_random(struct worker *w);
void worker_flush_later(struct worker *w, struct conn *c);
uint8_t *worker_buf(struct worker *w, unsigned bid);
void worker_buf_return(struct worker *w, unsigned bid);

#define WORKER_BUF_SIZE (16u * 1024u)

/* The worker that owns the calling thread (set at thread start). */
extern _Thread_local struct worker *worker_self;

#endif
