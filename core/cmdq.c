/* Control-thread-to-worker commands with payloads, and replies (see cmdq.h).
 *
 * Owns: the two SPSC rings of one struct cmdq, the reply eventfd, and the control thread's
 * doorbell ring (struct cmdq_bell). Threads: the control thread pushes commands, rings, and
 * pops replies; the owning worker pops commands and pushes replies. Nothing else.
 *
 * Rings: power-of-two capacity, free-running uint32_t head and tail (tail - head is the
 * fill level, correct across wrap-around), each on its own cache line so the producer's
 * stores do not invalidate the consumer's line and vice versa. The producer writes the
 * record, then stores tail with release; the consumer loads tail with acquire, reads the
 * record, then stores head with release, which the producer's acquire load of head pairs
 * with before it reuses the slot. The payload a command points to is published by the same
 * release/acquire pair, both ways.
 *
 * Command wakeup: a msg_ring on *every* doorbell, not only on empty -> non-empty. Skipping
 * it when the queue "looked non-empty" loses a wakeup: the worker may have read tail, be
 * finishing the last command, and go back to waiting right after the producer decided not
 * to ring (acceptor.c learnt this; its comment says so). Making the skip safe would need a
 * seq_cst fence on both sides and a re-check in the worker's loop; commands are rare (admin
 * calls, drain, stop), so one msg_ring each costs nothing worth that. The CQE is posted
 * after the tail store (the submit is a syscall that follows it), so a worker that sees the
 * CQE and then loads tail with acquire sees the command.
 *
 * The doorbell's result is checked: the control thread sends the msg_ring from a small ring
 * of its own and waits (bounded) for that ring's CQE, whose res says whether the target CQE
 * was posted (-EBADFD for a ring not yet enabled, -EOVERFLOW for a full CQ, ...). One SQE is
 * in flight per call; a CQE from an earlier call that timed out is recognised by its
 * user_data (a sequence number) and skipped.
 *
 * Reply wakeup: an eventfd written only when the reply queue goes from empty to non-empty,
 * because here the producer is a worker and each write(2) is a syscall on the hot thread.
 * The race and how it is closed: the worker stores tail, then (seq_cst fence) loads head;
 * it writes the eventfd if head == the old tail, i.e. the consumer had taken everything
 * before this reply. The control thread, when it finds the queue empty, issues a seq_cst
 * fence after its last head store and loads tail again before answering -EAGAIN. By the
 * seq_cst fence rule (C11 7.17.3: with store A before fence X and fence Y before load B, X before
 * Y in the single total order means B sees A), at least one side sees the other's store:
 * either the worker sees the drained head and writes the eventfd, or the control thread's
 * re-check sees the new reply. Both may happen: a spurious wakeup that finds nothing, which
 * is harmless. The control thread must read the eventfd before draining (cmdq_reply_ack),
 * never after: a read after the drain could consume the write of a reply pushed just after
 * the re-check, and that reply would wait until the next one.
 *
 * Flow control: cmdq_push counts outstanding commands (pushed, reply not yet popped) on the
 * control thread alone, and refuses at cap. With one reply per command, neither ring can
 * then hold more than cap records, so the worker never finds the reply ring full and never
 * has to keep a reply back.
 *
 * Rejected: a mutex-protected list (STYLE.md: no mutexes on workers); a worker-side eventfd
 * for commands instead of msg_ring (the worker waits in io_uring_enter, so it would need a
 * poll SQE re-armed per wakeup, where msg_ring is one CQE); a write SQE on the worker's ring
 * for the reply eventfd (no syscall, but the 8-byte value must live until completion, and
 * the reply path is rare next to the data path); waiting without a bound for the doorbell
 * result (a stuck worker would hang the control thread, which runs reloads and metrics). */
#include "core/cmdq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/bug.h"

#define CMDQ_CAP_MAX 65536u

static int cmdq_ring_init(struct cmdq_ring *g, unsigned cap)
{
	atomic_init(&g->_head, 0);
	atomic_init(&g->_tail, 0);
	g->_mask = cap - 1;
	g->_slots = calloc(cap, sizeof(*g->_slots));
	return g->_slots == NULL ? -ENOMEM : 0;
}

static void cmdq_ring_fini(struct cmdq_ring *g)
{
	free(g->_slots);
	g->_slots = NULL;
}

/* Producer: 0, or -EAGAIN when full. *old_tail: the slot used, for the reply wakeup. */
static int cmdq_ring_put(struct cmdq_ring *g, const struct cmdq_cmd *c, uint32_t *old_tail)
{
	uint32_t tail = atomic_load_explicit(&g->_tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&g->_head, memory_order_acquire);
	if (tail - head > g->_mask)
		return -EAGAIN;
	g->_slots[tail & g->_mask] = *c;
	atomic_store_explicit(&g->_tail, tail + 1, memory_order_release);
	*old_tail = tail;
	return 0;
}

/* Consumer: 0, or -EAGAIN when empty. recheck: before answering empty, fence and look again
 * (the reply side's half of the wakeup argument). */
static int cmdq_ring_take(struct cmdq_ring *g, struct cmdq_cmd *out, bool recheck)
{
	uint32_t head = atomic_load_explicit(&g->_head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&g->_tail, memory_order_acquire);
	if (head == tail) {
		if (!recheck)
			return -EAGAIN;
		atomic_thread_fence(memory_order_seq_cst);
		tail = atomic_load_explicit(&g->_tail, memory_order_acquire);
		if (head == tail)
			return -EAGAIN;
	}
	*out = g->_slots[head & g->_mask];
	atomic_store_explicit(&g->_head, head + 1, memory_order_release);
	return 0;
}

int cmdq_bell_init(struct cmdq_bell *b)
{
	memset(b, 0, sizeof(*b));
	return io_uring_queue_init(4, &b->_ring, 0);
}

void cmdq_bell_fini(struct cmdq_bell *b)
{
	io_uring_queue_exit(&b->_ring);
}

int cmdq_bell_ring(struct cmdq_bell *b, int ring_fd, uint64_t user_data, int32_t res)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->_ring);
	if (sqe == NULL) {
		/* Cannot happen: each call submits its one SQE before returning. */
		return -EBUSY;
	}
	io_uring_prep_msg_ring(sqe, ring_fd, (unsigned)res, user_data, 0);
	uint64_t seq = ++b->_seq;
	io_uring_sqe_set_data64(sqe, seq);
	int rc = io_uring_submit(&b->_ring);
	if (rc < 0)
		return rc;
	for (;;) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = {
		    .tv_sec = CMDQ_BELL_TIMEOUT_MS / 1000,
		    .tv_nsec = (CMDQ_BELL_TIMEOUT_MS % 1000) * 1000000LL,
		};
		rc = io_uring_wait_cqe_timeout(&b->_ring, &cqe, &ts);
		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return rc;
		uint64_t ud = cqe->user_data;
		int cres = cqe->res;
		io_uring_cqe_seen(&b->_ring, cqe);
		if (ud == seq)
			return cres;
		/* The late answer of a doorbell that timed out: its caller heard -ETIME. */
	}
}

int cmdq_init(struct cmdq *q, unsigned cap, int worker_ring_fd, uint64_t tag,
              struct cmdq_bell *bell)
{
	if (cap < 2 || cap > CMDQ_CAP_MAX || (cap & (cap - 1)) != 0)
		return -EINVAL;
	memset(q, 0, sizeof(*q));
	q->_efd = -1;
	q->_worker_fd = worker_ring_fd;
	q->_tag = tag;
	q->_bell = bell;
	int rc = cmdq_ring_init(&q->_cmd, cap);
	if (rc != 0)
		goto out_fini_cmd;
	rc = cmdq_ring_init(&q->_reply, cap);
	if (rc != 0)
		goto out_fini_reply;
	q->_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->_efd == -1) {
		rc = -errno;
		goto out_fini_reply;
	}
	return 0;
out_fini_reply:
	cmdq_ring_fini(&q->_reply);
out_fini_cmd:
	cmdq_ring_fini(&q->_cmd);
	return rc;
}

void cmdq_fini(struct cmdq *q)
{
	if (q->_efd != -1)
		close(q->_efd);
	q->_efd = -1;
	cmdq_ring_fini(&q->_reply);
	cmdq_ring_fini(&q->_cmd);
}

int cmdq_push(struct cmdq *q, const struct cmdq_cmd *c)
{
	if (q->_outstanding > q->_cmd._mask)
		return -EAGAIN;
	uint32_t old_tail;
	int rc = cmdq_ring_put(&q->_cmd, c, &old_tail);
	if (rc != 0)
		return rc; /* not reached: outstanding bounds the fill level */
	q->_outstanding++;
	return 0;
}

int cmdq_doorbell(struct cmdq *q)
{
	if (q->_bell == NULL)
		return 0;
	return cmdq_bell_ring(q->_bell, q->_worker_fd, q->_tag, 0);
}

int cmdq_pop(struct cmdq *q, struct cmdq_cmd *out)
{
	/* No re-check needed: every push is followed by its own doorbell. */
	return cmdq_ring_take(&q->_cmd, out, false);
}

int cmdq_reply(struct cmdq *q, const struct cmdq_cmd *r)
{
	uint32_t old_tail;
	int rc = cmdq_ring_put(&q->_reply, r, &old_tail);
	if (rc != 0)
		return rc;
	atomic_thread_fence(memory_order_seq_cst);
	uint32_t head = atomic_load_explicit(&q->_reply._head, memory_order_relaxed);
	if (head == old_tail) {
		uint64_t one = 1;
		/* Non-blocking: EAGAIN means the counter is saturated, so the fd is readable
		 * already, which is all the write is for. */
		ssize_t n = write(q->_efd, &one, sizeof(one));
		(void)n;
	}
	return 0;
}

int cmdq_reply_fd(const struct cmdq *q)
{
	return q->_efd;
}

void cmdq_reply_ack(struct cmdq *q)
{
	uint64_t v;
	/* EAGAIN: nothing to consume (a spurious poll wakeup); fine either way. */
	ssize_t n = read(q->_efd, &v, sizeof(v));
	(void)n;
}

int cmdq_reply_pop(struct cmdq *q, struct cmdq_cmd *out)
{
	int rc = cmdq_ring_take(&q->_reply, out, true);
	/* More replies than commands is a worker bug; do not let the count wrap and block every
	 * later push. */
	if (rc == 0 && !WSG_WARN_ONCE(q->_outstanding == 0))
		q->_outstanding--;
	return rc;
}
