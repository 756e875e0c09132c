#ifndef WSG_BENCH_BENCH_CONN_H
#define WSG_BENCH_BENCH_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "bench/bench_args.h"
#include "bench/bench_hist.h"
#include "proto/http1.h"
#include "proto/ws.h"
#include "proto/wskey.h"

/* wsgate-bench's run, loops and conns. One struct bench_run is shared by every thread (set
 * up by main, read-only afterwards except for its atomics); each loop thread owns a struct
 * bench_loop and the conns in it, and nothing of theirs is touched by another thread except
 * the fields marked "published". */

#define BENCH_CODES_MAX          16
#define BENCH_CONNECT_TIMEOUT_NS 10000000000ull /* TCP + TLS + upgrade of one conn */
#define BENCH_DRAIN_NS           1000000000ull  /* after the end: wait for echoes in flight */
#define BENCH_CLOSE_WAIT_NS      1000000000ull  /* then: wait for the close handshakes */
#define BENCH_MAX_PENDING        256u           /* handshakes in progress per loop */
#define BENCH_HEAD_MAX           4096u          /* the server's response head */
#define BENCH_CTL_RESERVE        256u           /* out buffer kept for pong and close */

struct bench_code_count {
	uint16_t code; /* close code or HTTP status; 0 = "other" once the table is full */
	uint64_t count;
};

/* Counters of one loop (or, merged, of the run). "Window" means the measured part of the run:
 * after the warm-up, before the end. */
struct bench_stats {
	uint64_t msgs_sent;         /* data messages queued for sending, whole run */
	uint64_t msgs_rcvd;         /* echoes received, whole run (drain included) */
	uint64_t win_sent;          /* messages sent in the window */
	uint64_t win_msgs;          /* echoes received in the window */
	uint64_t win_bytes;         /* their payload bytes */
	uint64_t unanswered;        /* sent but never echoed (conn closed or drain ran out) */
	uint64_t bad_echoes;        /* echo of the wrong size, or with an impossible timestamp */
	uint64_t conns_opened;      /* upgrades completed */
	uint64_t win_conns;         /* upgrades completed in the window (--churn: conns/s) */
	uint64_t connect_errors;    /* socket, connect, timeouts before the upgrade completed */
	uint64_t tls_errors;        /* TLS handshake failures */
	uint64_t tls_handshakes;    /* TLS handshakes completed */
	uint64_t tls_resumed;       /* of which resumed a session (--tls-resume) */
	uint64_t handshake_errors;  /* HTTP answers other than a valid 101 */
	uint64_t proto_errors;      /* server frames breaking RFC 6455: we closed 1002/1007/1009 */
	uint64_t unexpected_closes; /* closes we did not start (by code below; 1006 = no frame) */
	uint64_t close_timeouts;    /* close handshakes not finished within the bound */
	uint64_t pings;             /* pings answered */
	unsigned n_close_codes;
	struct bench_code_count close_codes[BENCH_CODES_MAX];
	unsigned n_statuses;
	struct bench_code_count statuses[BENCH_CODES_MAX]; /* handshake HTTP statuses != 101 */
};

enum bench_phase {
	BENCH_PHASE_CONNECT = 0, /* loops open their conns */
	BENCH_PHASE_RUN = 1,     /* start_ns/measure_ns/end_ns are set: traffic */
	BENCH_PHASE_STOP = 2,    /* abort: close everything now and return */
};

struct bench_run {
	const struct bench_args *args;
	struct sockaddr_storage addr; /* the server, resolved once by main */
	socklen_t addr_len;
	struct bench_tls *tls; /* NULL for ws:// */
	const char *request;   /* upgrade request up to the key's value */
	size_t request_len;
	const uint8_t *payload; /* args->size bytes: the message template, timestamp zeroed */
	uint8_t hdr_len;        /* frame header length of one message (masked) */
	uint8_t ts_len;         /* BENCH_TS_BINARY or BENCH_TS_TEXT */
	unsigned threads;
	bool progress;         /* main shows a progress line: loops publish histograms */
	uint64_t pace_ns;      /* open loop: interval between two messages of one conn */
	double pace_offset_ns; /* open loop: start offset of conn g is g * this */
	struct wsg_limits lim; /* for the response head and the frame parser */
	_Atomic int phase;     /* enum bench_phase; written: main; read: loops */
	_Atomic uint64_t start_ns, measure_ns, end_ns; /* written: main (before phase RUN) */
	_Atomic unsigned settled;                      /* conns opened or failed; loops add */
	_Atomic unsigned opened;                       /* conns opened; loops add */
	_Atomic unsigned failed;                       /* conns failed before opening */
};

enum bench_conn_state {
	BENCH_CONN_NEW = 0,    /* not started */
	BENCH_CONN_CONNECTING, /* TCP connect in progress */
	BENCH_CONN_TLS,        /* TLS handshake */
	BENCH_CONN_UPGRADE,    /* request sent or being sent; reading the response head */
	BENCH_CONN_OPEN,       /* WebSocket open */
	BENCH_CONN_CLOSING,    /* our close sent; waiting for the server's */
	BENCH_CONN_DONE,       /* socket closed, nothing owned */
};

struct bench_loop;

struct bench_conn {
	struct bench_loop *loop;
	struct WOLFSSL *ssl; /* wss:// only */
	int fd;              /* -1 when none */
	uint32_t gidx;       /* index over all loops: source address, pacing offset */
	uint8_t state;       /* enum bench_conn_state */
	uint8_t stash_len;   /* bytes of a split frame header kept between reads */
	uint8_t fr_op;       /* opcode of the frame being received */
	bool fr_fin;
	uint8_t ts_have; /* timestamp bytes of the current message collected */
	bool in_msg;     /* a data message is being received */
	uint8_t stash[WS_HEADER_MAX];
	uint8_t ts[BENCH_TS_TEXT];
	char key[WSKEY_KEY_LEN + 1];
	uint64_t msg_len; /* payload bytes of the current message so far */
	char *head;       /* response head while upgrading, else NULL */
	uint32_t head_len;
	uint8_t *out; /* bytes to send: [out_off, out_len) */
	uint32_t out_cap, out_off, out_len;
	uint32_t tls_wlen;    /* length of a TLS write to retry as is, 0 = none */
	uint64_t sent, rcvd;  /* data messages */
	uint64_t next_sched;  /* open loop: scheduled time of the next message */
	uint64_t deadline_ns; /* handshake deadline */
	struct http_parser hp;
	struct ws_parser ws;
};

struct bench_loop {
	struct bench_run *run;
	unsigned id;
	pthread_t thread;
	int ep;      /* epoll */
	int wake_fd; /* eventfd: main writes it on phase and end changes */
	struct bench_conn *conns;
	unsigned n; /* conns of this loop: global index id, id + threads, ... */
	unsigned next_start;
	unsigned pending;   /* conns between start and open/fail */
	unsigned live;      /* conns holding a socket */
	uint64_t ramp_next; /* --connect-rate: earliest start of the next conn */
	uint64_t ramp_step;
	uint64_t rng; /* xorshift64* state: masks and keys */
	uint8_t *rx;  /* receive buffer shared by the conns of this loop */
	size_t rx_cap;
	bool started, ended, drained;
	unsigned pace_cur;
	uint64_t pace_round;
	uint64_t last_scan_ns, last_pub_ns;
	struct bench_stats st;
	struct bench_hist hist;
	char first_err[256]; /* first failure of a conn of this loop */
	/* Published for main's progress line. */
	_Atomic uint64_t pub_rcvd; /* written: loop (relaxed); read: main */
	_Atomic unsigned pub_open; /* written: loop (relaxed); read: main */
	pthread_mutex_t snap_lock; /* a mutex once a second only; no mutex on the data path */
	struct bench_hist snap;    /* copy of hist, under snap_lock */
	void *tls_saved;           /* --tls-resume: the last finished conn's session */
};

uint64_t bench_now_ns(void);
uint64_t bench_rand(struct bench_loop *l);

/* Starts a conn's TCP connect (and the rest of the handshake as events arrive). */
void bench_conn_start(struct bench_conn *c, uint64_t now);
/* Handles epoll events for c. */
void bench_conn_on_event(struct bench_conn *c, uint32_t events);
/* Queues the messages c may send now (pipeline room or due schedule) and writes them. */
void bench_conn_pump(struct bench_conn *c, uint64_t now);
/* Sends close 1000 (once) and waits for the server's close. */
void bench_conn_begin_close(struct bench_conn *c);
/* Fails c if its handshake deadline has passed. */
void bench_conn_check_deadline(struct bench_conn *c, uint64_t now);
/* Closes the socket and releases everything c owns; c becomes DONE. */
void bench_conn_finish(struct bench_conn *c);
/* True while c has a socket. */
bool bench_conn_is_live(const struct bench_conn *c);

/* Counts one more `code` in a code table (a full table counts it under code 0). */
void bench_stats_count_code(struct bench_code_count *tab, unsigned *n, uint16_t code);
void bench_stats_merge(struct bench_stats *dst, const struct bench_stats *src);

/* The loop thread. */
void *bench_loop_main(void *arg);

#endif
