/* Worker threads: one io_uring loop per CPU.
 *
 * Each worker owns a ring (SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them, so
 * completions are only produced while we wait, and a cancel we submit takes effect before
 * more receives can complete), a provided-buffer ring for the receives (one in flight per conn),
 * slabs for conns and tunnels, the rbuf pool and the timing wheel. One loop turn: announce
 * quiescence to the router, submit everything prepared and wait once (bounded by the next timer, <=
 * 100 ms), handle the CQEs (at most WORKER_CQE_BATCH), publish the receive buffers handed back,
 * start the sends that the turn queued (so frames that arrive together leave together), fire the
 * timers.
 *
 * New sockets arrive from the acceptor through an SPSC queue whose doorbell is a msg_ring CQE
 * (WOP_HANDOFF); commands from the control thread come the same way: a command queue
 * (core/cmdq.h) whose doorbell is a msg_ring CQE (WOP_CMDQ), each command answered with a
 * reply the control thread reads.
 *
 * Rejected: a mutex-protected accept queue (a lock on the accept path for nothing), and one
 * timeout SQE per conn (the wheel costs nothing per message; the kernel timer per conn would). */
#include "core/worker.h"
#include "auth/jwt.h"
#include "core/access_log.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/bug.h"
#include "core/conn.h"
#include "core/conn_tls.h"
#include "core/gateway.h"
#include "core/log.h"
#include "core/metrics.h"
#include "router/rt.h"

_Thread_local struct worker *worker_self;

#define WORKER_SQ_ENTRIES 4096u
/* 4 MiB of receive buffers per worker, touched on use. A buffer is lent for one CQE and back
 * in the ring the same turn, so the ring only needs to cover one turn's receives; a turn with
 * more completions than that gets -ENOBUFS for the rest, which re-arm and complete next turn.
 * Every buffer ends up resident while the worker is busy (a fixed per-worker cost); an idle
 * worker drops their pages (worker_trim_idle). */
#define WORKER_BUF_ENTRIES  256u
#define WORKER_TICK_MS      10u
#define WORKER_WAIT_MAX_MS  100u       /* idle workers still pass quiescent points this often */
#define WORKER_POOL_CACHE   (2u << 20) /* free rbuf blocks kept for reuse, per worker */
#define WORKER_IDLE_TRIM_MS 500u       /* no completion for this long: give reserves back */
#define WORKER_PARK_MAX_MS  1000u      /* an idle worker's longest wait (then it is offline) */
/* Completions handled per loop turn; the rest stay in the CQ for the next turn, whose wait
 * then returns at once. Without a bound one turn handles whatever piled up (thousands of
 * CQEs when many conns become readable together) and every send it queued waits for the
 * last of them. 256: the provided-buffer ring's size, so a turn never takes more receives
 * than it has buffers for (more would only be -ENOBUFS re-arms), and at about 0.3 us of
 * user time per CQE (wsgate_loop_turn_seconds at 100 conns, pipeline 16: 13-15 us per turn
 * for some 45 CQEs) about 80 us of work before the turn's sends go out. Ordinary turns stay
 * well below it, so batching is unchanged. */
#define WORKER_CQE_BATCH 256u

/* The loop turn's clock, read once per turn in microseconds (the handshake and ping
 * histograms want sub-millisecond times) and in milliseconds (timers, deadlines). */
static void worker_clock(struct worker *w)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	w->now_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
	w->now_ms = w->now_us / 1000u;
}

uint64_t worker_random(struct worker *w)
{
	/* xorshift64*: masks and keys only need to be unpredictable to a peer that cannot see
	 * the worker's memory; seeded from getrandom at start. */
	uint64_t x = w->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	w->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

struct io_uring_sqe *worker_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (sqe == NULL) {
		/* The SQ is full: hand what we have to the kernel now rather than fail. */
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	WSG_BUG_ON(sqe == NULL);
	return sqe;
}

uint8_t *worker_buf(struct worker *w, unsigned bid)
{
	return w->bufs + (size_t)bid * WORKER_BUF_SIZE;
}

void worker_buf_return(struct worker *w, unsigned bid)
{
	io_uring_buf_ring_add(w->br, worker_buf(w, bid), WORKER_BUF_SIZE, (unsigned short)bid,
	                      io_uring_buf_ring_mask(w->br_entries), (int)w->br_pending);
	w->br_pending++;
}

void worker_flush_later(struct worker *w, struct conn *c)
{
	if (c->flags & CF_IN_FLUSH)
		return;
	c->flags |= CF_IN_FLUSH;
	c->flush_next = w->flush_head;
	w->flush_head = c;
}

static int worker_setup_ring(struct worker *w)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	/* R_DISABLED: the ring is created here on the main thread but its single issuer is the
	 * worker thread, which enables it when it starts. */
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
	          IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED;
	p.cq_entries = WORKER_SQ_ENTRIES * 4;
	int rc = io_uring_queue_init_params(WORKER_SQ_ENTRIES, &w->ring, &p);
	if (rc == -EINVAL) {
		/* Older kernels: same loop, completions run eagerly instead of deferred. */
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED;
		p.cq_entries = WORKER_SQ_ENTRIES * 4;
		rc = io_uring_queue_init_params(WORKER_SQ_ENTRIES, &w->ring, &p);
	}
	if (rc < 0)
		return rc;
	w->ring_fd = w->ring.ring_fd;
	return 0;
}

static int worker_setup_buffers(struct worker *w)
{
	w->br_entries = WORKER_BUF_ENTRIES;
	size_t ring_bytes = w->br_entries * sizeof(struct io_uring_buf);
	void *ring_mem =
	    mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (ring_mem == MAP_FAILED)
		return -errno;
	w->br = ring_mem;
	w->bufs = mmap(NULL, (size_t)w->br_entries * WORKER_BUF_SIZE, PROT_READ | PROT_WRITE,
	               MAP_ANONYMOUS | MAP_PRIVATE | MAP_NORESERVE, -1, 0);
	if (w->bufs == MAP_FAILED) {
		w->bufs = NULL;
		return -errno;
	}
	struct io_uring_buf_reg reg;
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)w->br;
	reg.ring_entries = w->br_entries;
	reg.bgid = WORKER_BUF_GROUP;
	int rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (rc < 0)
		return rc;
	io_uring_buf_ring_init(w->br);
	w->br_pending = 0;
	for (unsigned i = 0; i < w->br_entries; i++)
		worker_buf_return(w, i);
	io_uring_buf_ring_advance(w->br, (int)w->br_pending);
	w->br_pending = 0;
	return 0;
}

int worker_init(struct worker *w, struct gateway *gw, unsigned id, uint32_t max_clients)
{
	memset(w, 0, sizeof(*w));
	w->id = id;
	w->gw = gw;
	w->cpu = -1;
	/* A client conn may need a backend conn and a tunnel; a small reserve lets a worker
	 * still answer 503 when it is full instead of dropping the socket. */
	uint32_t reserve = 64;
	if (slab_init(&w->conns, sizeof(struct conn), 2 * max_clients + reserve) != 0)
		return -ENOMEM;
	size_t owner_size = gw->app->owner_size ? gw->app->owner_size : 16;
	if (slab_init(&w->owners, owner_size, max_clients + reserve) != 0)
		goto out_fini_conns;
	size_t hs_size = gw->app->handshake_size ? gw->app->handshake_size : 16;
	if (slab_init(&w->handshakes, hs_size, max_clients + reserve) != 0)
		goto out_fini_owners;
	/* Send queues stay under 128 KiB (CONN_OUT_HIGH plus one receive and a held frame);
	 * larger blocks are for a program's own needs (wsgate-echo holds a text frame up to
	 * 1 MiB until it is validated). Free blocks beyond WORKER_POOL_CACHE go back to the
	 * system, so a burst of slow readers costs memory only while it lasts. */
	w->pool = rbuf_pool_new(4096, 8u << 20, (uint64_t)1 << 36);
	if (w->pool == NULL)
		goto out_fini_handshakes;
	rbuf_pool_set_cache_max(w->pool, WORKER_POOL_CACHE);
	w->m = metrics_worker_new();
	if (w->m == NULL)
		goto out_free_pool;
	/* Out of memory here only loses this worker's access records (counted as dropped). */
	w->access = access_log_on() ? access_ring_new() : NULL;
	w->queue = calloc(1, sizeof(*w->queue));
	if (w->queue == NULL)
		goto out_free_metrics;
	int rc = worker_setup_ring(w);
	if (rc < 0) {
		errno = -rc;
		goto out_free_queue;
	}
	rc = worker_setup_buffers(w);
	if (rc < 0)
		goto out_exit_ring;
	worker_clock(w);
	uint64_t seed;
	if (getentropy(&seed, sizeof(seed)) != 0)
		seed = w->now_us ^ ((uint64_t)id << 48) ^ (uint64_t)getpid();
	w->rng = seed | 1;
	twheel_init(&w->wheel, w->now_ms, WORKER_TICK_MS);
	return 0;

out_exit_ring:
	io_uring_queue_exit(&w->ring);
out_free_queue:
	free(w->queue);
	w->queue = NULL;
out_free_metrics:
	access_ring_free(w->access);
	w->access = NULL;
	metrics_worker_free(w->m);
	w->m = NULL;
out_free_pool:
	rbuf_pool_free(w->pool);
	w->pool = NULL;
out_fini_handshakes:
	slab_fini(&w->handshakes);
out_fini_owners:
	slab_fini(&w->owners);
out_fini_conns:
	slab_fini(&w->conns);
	return -ENOMEM;
}

void worker_fini(struct worker *w)
{
	access_ring_free(w->access);
	w->access = NULL;
	if (w->bufs != NULL)
		munmap(w->bufs, (size_t)w->br_entries * WORKER_BUF_SIZE);
	if (w->br != NULL)
		munmap(w->br, w->br_entries * sizeof(struct io_uring_buf));
	io_uring_queue_exit(&w->ring);
	free(w->queue);
	if (w->tls_resume != NULL) {
		for (unsigned i = 0; i < METRICS_BACKEND_SLOTS; i++)
			conn_tls_saved_free(w->tls_resume[i]);
		free(w->tls_resume);
	}
	free(w->lb_seq);
	free(w->tadm_ix);
	metrics_worker_free(w->m);
	rbuf_pool_free(w->pool);
	slab_fini(&w->handshakes);
	slab_fini(&w->owners);
	slab_fini(&w->conns);
}

/* A socket from the acceptor (takes fd): a client conn, handed to the program's layer. */
static void worker_accept(struct worker *w, const struct worker_handoff *h)
{
	struct gateway *gw = w->gw;
	struct conn *c = conn_new(w, h->fd, CONN_CLIENT, NULL);
	if (c == NULL) {
		/* No slot even in the reserve: nothing to answer with. Load, not a bug. */
		close(h->fd);
		atomic_fetch_sub_explicit(&gw->client_socks, 1, memory_order_relaxed);
		return;
	}
	if (h->peer_len <= sizeof(c->peer))
		memcpy(&c->peer, &h->peer, h->peer_len);
	c->kind = h->kind;
	metrics_worker_conn_open(w->m);
	gw->app->on_accept(w, c, h->over_limit);
}

static void worker_take_handoffs(struct worker *w)
{
	struct worker_queue *q = w->queue;
	uint32_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	while (head != tail) {
		worker_accept(w, &q->items[head % WORKER_HANDOFF_CAP]);
		head++;
	}
	atomic_store_explicit(&q->head, head, memory_order_release);
}

/* --drain-timeout passed: close whatever is left now; the clients cut are counted for the
 * drain's log line. */
static void worker_stop_all(struct worker *w)
{
	uint64_t n = 0;
	for (struct conn *c = w->live_head; c != NULL; c = c->live_next) {
		if (c->state == CONN_CLOSING)
			continue;
		if (c->role == CONN_CLIENT)
			n++;
		conn_close(w, c);
	}
	worker_stat_add(&w->drain_cut, n);
}

static void worker_on_cmd(struct worker *w, struct cmdq_cmd *cmd)
{
	switch (cmd->kind) {
	case WCMD_DRAIN:
		if (!w->draining) {
			w->draining = true;
			if (w->gw->app->on_drain != NULL)
				w->gw->app->on_drain(w);
		}
		cmd->res = 0;
		break;
	case WCMD_STOP:
		w->stopping = true;
		worker_stop_all(w);
		cmd->res = 0;
		break;
	case WCMD_COUNT: {
		uint64_t clients = 0;
		for (struct conn *c = w->live_head; c != NULL; c = c->live_next)
			clients += c->role == CONN_CLIENT;
		cmd->res = (int32_t)clients;
		cmd->arg = w->live_conns;
		break;
	}
	default:
		if (cmd->kind >= WCMD_APP && w->gw->app->on_cmd != NULL &&
		    w->gw->app->on_cmd(w, cmd))
			break;
		WSG_WARN_ONCE(true);
		cmd->res = -EINVAL;
		break;
	}
	/* Every command gets its reply; the reply ring always has room (cmdq.h). */
	int rc = cmdq_reply(&w->cmdq, cmd);
	WSG_WARN_ONCE(rc != 0);
}

static void worker_take_cmds(struct worker *w)
{
	struct cmdq_cmd cmd;
	while (cmdq_pop(&w->cmdq, &cmd) == 0)
		worker_on_cmd(w, &cmd);
}

static void worker_on_timer(struct twheel_entry *e, void *arg)
{
	struct worker *w = arg;
	struct conn *c = (struct conn *)((char *)e - offsetof(struct conn, timer));
	conn_on_timer(w, c);
}

static void worker_handle_cqe(struct worker *w, struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	enum worker_op op = ud_op(ud);

	switch (op) {
	case WOP_NONE:
		return;
	case WOP_HANDOFF:
		worker_take_handoffs(w);
		return;
	case WOP_CMDQ:
		worker_take_cmds(w);
		return;
	case WOP_CMD:
		WSG_WARN_ONCE(true); /* the acceptor's, never a worker's */
		return;
	case WOP_RECV:
	case WOP_SEND:
	case WOP_CONNECT:
	case WOP_FDOP:
		break;
	}
	uint32_t slot = ud_slot(ud);
	struct conn *c = slab_at(&w->conns, slot);
	if (c == NULL || c->gen != ud_gen(ud)) {
		/* A CQE for a conn's earlier life (STYLE.md 4): dropped, its buffer handed back.
		 * With in-flight counting this should not happen; count it if it does. */
		WSG_WARN_ONCE(true);
		if (cqe->flags & IORING_CQE_F_BUFFER)
			worker_buf_return(w, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		return;
	}
	conn_on_cqe(w, c, op, cqe);
}

/* io_uring_enable_rings() is declared by Debian's liburing 2.3 but missing from its shared
 * library, so the register call is made directly. */
static void worker_enable_ring(struct worker *w)
{
	syscall(__NR_io_uring_register, w->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

/* Nothing completed for WORKER_IDLE_TRIM_MS: the memory a busy worker keeps at hand goes back
 * to the system, so that idle connections cost only their own structs. The receive buffers'
 * pages are dropped (MADV_DONTNEED: zero-filled again on the next receive into them; safe
 * because the kernel writes them only while this thread is in io_uring_enter, DEFER_TASKRUN,
 * or in task work on its way back to user space, never while it runs here), the free-block
 * cache of the rbuf pool is emptied (its large blocks are their own mappings), and the pages
 * of the handshake slab are dropped when no handshake is in progress (a burst of upgrades
 * touches one 4.8 KB dial state per concurrent handshake). Once per
 * transition from busy to idle: a few syscalls, never per message. Not malloc_trim(): it walks
 * every arena under their locks (other workers' mallocs would wait), and the sanitizers'
 * allocators do not support it. */
static void worker_trim_idle(struct worker *w)
{
	w->trimmed = true;
	if (w->bufs != NULL)
		madvise(w->bufs, (size_t)w->br_entries * WORKER_BUF_SIZE, MADV_DONTNEED);
	rbuf_pool_trim(w->pool);
	slab_trim(&w->handshakes); /* the dial states of a burst of upgrades, all done by now */
	LOG_DEBUG("worker_trim", "live_conns=%u", w->live_conns);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	worker_self = w;
	log_thread_register((int)w->id);
	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	/* Submitter task is this thread from here on (SINGLE_ISSUER): enable the ring now. */
	worker_enable_ring(w);
	/* Every loop turn enters the ring once; a registered ring fd spares the fd lookup. */
	io_uring_register_ring_fd(&w->ring);
	atomic_store_explicit(&w->ready, true, memory_order_release);

	bool proxy = w->gw->app->routes;
	for (;;) {
		if (proxy)
			rt_quiescent(w->id);
		worker_clock(w);
		loopstat_submit(&w->ls, w->m, w->now_us); /* the last turn ends at this submit */
		/* Nothing due soon and nothing to give back: park for up to a second, offline for
		 * the route table's reclamation (it does not wait for a parked worker), instead of
		 * waking every 100 ms to pass a quiescent point. Commands and sockets wake it. */
		uint64_t wait_ms = twheel_next_timeout_ms(&w->wheel, WORKER_PARK_MAX_MS);
		bool park = proxy && wait_ms > WORKER_WAIT_MAX_MS && w->trimmed;
		if (!park && wait_ms > WORKER_WAIT_MAX_MS)
			wait_ms = WORKER_WAIT_MAX_MS;
		if (park)
			rt_worker_offline(w->id);
		struct __kernel_timespec ts = {.tv_sec = (long long)(wait_ms / 1000),
		                               .tv_nsec = (long long)(wait_ms % 1000) * 1000000};
		struct io_uring_cqe *cqe;
		int rc = io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		if (park)
			rt_quiescent(w->id); /* online again before anything can rt_acquire */
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY)
			LOG_ERROR("ring_wait", "err=%d", -rc);
		worker_clock(w);
		loopstat_reaped(&w->ls, w->now_us);

		unsigned head, seen = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe)
		{
			worker_handle_cqe(w, cqe);
			if (++seen == WORKER_CQE_BATCH)
				break;
		}
		io_uring_cq_advance(&w->ring, seen);
		if (w->br_pending) {
			io_uring_buf_ring_advance(w->br, (int)w->br_pending);
			w->br_pending = 0;
		}
		conn_flush_all(w);
		twheel_advance(&w->wheel, w->now_ms, worker_on_timer, w);
		conn_flush_all(w);
		if (seen > 0) {
			w->last_busy_ms = w->now_ms;
			w->trimmed = false;
		} else if (!w->trimmed && w->now_ms - w->last_busy_ms >= WORKER_IDLE_TRIM_MS) {
			worker_trim_idle(w);
		}
		if ((w->stopping || w->draining) && w->live_conns == 0)
			break;
	}
	/* Let the kernel finish the closes we queued before the ring goes away. */
	io_uring_submit(&w->ring);
	if (proxy)
		rt_worker_offline(w->id);
	/* wolfCrypt's per-thread ECC cache (filled by ES256/ES384 token checks) goes with us. */
	jwt_thread_fini();
	atomic_store_explicit(&w->exited, true, memory_order_release);
	return NULL;
}

int worker_start(struct worker *w)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu > 0)
		w->cpu = (int)(w->id % (unsigned)ncpu);
	return pthread_create(&w->thread, NULL, worker_main, w);
}
