#ifndef WSG_CORE_WORKER_H
#define WSG_CORE_WORKER_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/cmdq.h"
#include "core/loopstat.h"
#include "core/rbuf.h"
#include "core/slab.h"
#include "core/twheel.h"

/* A worker: one thread pinned to one CPU, one io_uring, and everything its conns need
 * (slabs, the provided-buffer ring, the rbuf pool, the timing wheel, counters). Nothing here
 * is touched by another thread except the fields marked otherwise. */

struct gateway;
struct conn;

/* What a CQE is for: the low 8 bits of user_data. */
enum worker_op {
	WOP_NONE = 0, /* fire and forget (cancel, close): CQE ignored */
	WOP_RECV,
	WOP_SEND,
	WOP_CONNECT,
	WOP_HANDOFF, /* msg_ring from the acceptor: new sockets in the queue */
	WOP_CMD,     /* msg_ring from the control thread to the acceptor: stop */
	WOP_CMDQ,    /* msg_ring doorbell from the control thread: commands in w->cmdq */
	WOP_FDOP,    /* cancel-by-fd: counted in flight, because it may run after a close we
	              * queued later would have freed the fd number for reuse */
};

/* Commands from the control thread (cmdq_cmd.kind); each gets exactly one reply. */
enum worker_cmd {
	WCMD_DRAIN = 1, /* close every client with 1001, refuse handshakes with 503 */
	WCMD_STOP,      /* close whatever is left now and exit */
	WCMD_COUNT,     /* reply.res = live client conns, reply.arg = live conns */
	WCMD_APP = 64,  /* first of the program's own kinds (gateway_app.on_cmd) */
};

struct worker_handoff {
	int fd;
	bool over_limit;
	uint8_t kind; /* enum conn_kind of the listener that accepted it */
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

struct metrics_worker;

struct worker {
	unsigned id;
	int cpu;
	pthread_t thread;
	struct gateway *gw;
	struct io_uring ring;
	int ring_fd; /* for msg_ring from other threads; written before start */
	struct slab conns;
	struct slab owners;     /* the program's per-client objects (tunnels) */
	struct slab handshakes; /* the program's per-handshake state (a parsed request) */
	struct rbuf_pool *pool;
	struct io_uring_buf_ring *br; /* provided receive buffers */
	uint8_t *bufs;
	unsigned br_entries;
	unsigned br_pending; /* buffers handed back this turn, published at its end */
	struct twheel wheel;
	uint64_t now_ms;     /* the loop turn's clock (CLOCK_MONOTONIC) */
	uint64_t now_us;     /* the same reading in microseconds (latency histograms) */
	uint32_t sendq_tick; /* relay calls so far: every 16th samples send_queue_bytes */
	uint64_t seq;        /* per-worker connection counter: round robin */
	uint64_t tunnel_seq; /* per-worker tunnel counter: ids are seq * workers + id */
	uint64_t rng;        /* xorshift state for masks and keys */
	struct conn *flush_head;
	struct conn *live_head; /* every conn not yet freed */
	bool draining;
	bool stopping;
	uint32_t live_conns;        /* conns not yet freed */
	struct worker_queue *queue; /* written: acceptor; read: this worker */
	_Atomic bool ready;         /* written: worker (ring enabled); read: control thread */
	_Atomic bool exited;        /* written: worker; read: control thread */
	struct metrics_worker *m;   /* this worker's counters (core/metrics.h), single writer */
	struct access_ring *access; /* --access-log: this worker's records (NULL: off) */
	uint64_t last_busy_ms;      /* last loop turn that handled a completion */
	bool trimmed;               /* idle reserves given back since then (worker_trim_idle) */
	_Atomic uint64_t drain_cut; /* clients cut at --drain-timeout; read: control thread */
	struct cmdq cmdq;           /* commands from the control thread, and replies */
	void **tls_resume; /* wss:// backends' last TLS sessions, by backend slot (made lazily) */
	uint32_t *lb_seq;  /* round-robin position per route slot (made lazily; tunnel_dial.c) */
	uint32_t *tadm_ix; /* tunnels by id for the admin API: owner slab index + 1, 0 = empty
	                    * (open addressing, made lazily and grown; tunnel_admin.c) */
	uint32_t tadm_ix_mask; /* capacity - 1; 0 while tadm_ix is NULL */
	uint32_t tadm_ix_used; /* entries in tadm_ix */
	struct loopstat ls;    /* loop-turn and relay-delay bookkeeping (core/loopstat.h) */
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

#define WORKER_BUF_SIZE  (16u * 1024u)
#define WORKER_BUF_GROUP 0

/* Single-writer counters: the owning worker adds with a relaxed load and store (no locked
 * RMW: nobody else writes), readers load relaxed. */
static inline void worker_stat_add(_Atomic uint64_t *v, uint64_t n)
{
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

/* The worker that owns the calling thread (set at thread start). */
extern _Thread_local struct worker *worker_self;

#endif
