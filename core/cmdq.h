#ifndef WSG_CORE_CMDQ_H
#define WSG_CORE_CMDQ_H

#include <liburing.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Commands with a payload from the control thread to one worker, and their replies back
 * (STYLE.md 6: an SPSC queue plus a wakeup). One struct cmdq per worker: a command ring
 * (control thread produces, worker consumes) woken by an IORING_OP_MSG_RING on the worker's
 * ring, and a reply ring (worker produces, control consumes) woken by an eventfd the control
 * thread polls. See cmdq.c for the memory ordering and the wakeup arguments.
 *
 * Ownership of a command's payload: the control thread owns it throughout, but lends it to
 * the worker from cmdq_push until it pops the reply carrying the same id. In between the
 * control thread must neither read, write nor free it; the worker may read and write it
 * (that is how answers come back) and keeps no pointer into it after cmdq_reply. If
 * cmdq_push fails, nothing was lent. Every command gets exactly one reply: that is what
 * returns the loan, and what keeps the reply ring from ever filling (see cmdq_push). */

/* A command or a reply (same record both ways). */
struct cmdq_cmd {
	uint32_t kind; /* the caller's command kind; cmdq does not interpret it */
	int32_t res;   /* replies: 0 or -errno; commands: unused (0) */
	uint64_t id;   /* the caller's correlation id; a reply carries its command's */
	uint64_t arg;  /* a small inline argument (a close code, a limit) */
	void *payload; /* lent (see above); a reply hands back the command's, or NULL */
};

/* One bounded SPSC ring. Private: only cmdq.c touches the fields. */
struct cmdq_ring {
	_Alignas(64) _Atomic uint32_t _head; /* free-running; written: consumer (release);
	                                      * read: producer (acquire) */
	_Alignas(64) _Atomic uint32_t _tail; /* free-running; written: producer (release);
	                                      * read: consumer (acquire) */
	_Alignas(64) uint32_t _mask;         /* capacity - 1; read-only after cmdq_init */
	struct cmdq_cmd *_slots;             /* read-only pointer after cmdq_init */
};

/* The control thread's doorbell: a small ring of its own from which it sends msg_ring SQEs
 * and reads their results. One per control thread, shared by every worker's cmdq; control
 * thread only. Private fields. */
struct cmdq_bell {
	struct io_uring _ring;
	uint64_t _seq; /* user_data of the last msg_ring sent; older CQEs are late ones */
};

/* How long cmdq_bell_ring waits for the kernel's answer. A msg_ring to a ring with
 * DEFER_TASKRUN completes only once the target's thread runs its task work, i.e. as soon as
 * it wakes; a worker that does not within this long is stuck, and the caller hears -ETIME. */
#define CMDQ_BELL_TIMEOUT_MS 1000

/* A 4-entry ring. 0 or -errno from io_uring_queue_init. */
int cmdq_bell_init(struct cmdq_bell *b);
void cmdq_bell_fini(struct cmdq_bell *b);

/* Posts a CQE {user_data, res} on the ring behind ring_fd (IORING_OP_MSG_RING, no fd
 * passed) and waits for the result of that on b's own ring. Returns 0 when the CQE was
 * posted, else -errno as the kernel said it: -EBADF (not an open fd), -EBADFD (not an
 * io_uring, or a ring still IORING_SETUP_R_DISABLED: a worker that has not started),
 * -EOVERFLOW (the target's CQ is full and it cannot take more), -EOWNERDEAD (its thread has
 * exited), -ETIME (no answer within CMDQ_BELL_TIMEOUT_MS; the CQE may still be posted
 * later). Control thread only. */
int cmdq_bell_ring(struct cmdq_bell *b, int ring_fd, uint64_t user_data, int32_t res);

/* One worker's queues. Embedded by the caller; private fields. */
struct cmdq {
	struct cmdq_ring _cmd;   /* control -> worker */
	struct cmdq_ring _reply; /* worker -> control */
	_Alignas(64) int _efd;   /* reply wakeup; read-only after init (the worker writes it) */
	int _worker_fd;          /* the worker's ring fd (doorbell target); control only */
	uint64_t _tag;           /* user_data of the doorbell CQE; control only */
	struct cmdq_bell *_bell; /* borrowed; NULL: no doorbell; control only */
	_Alignas(64) uint32_t _outstanding; /* control thread only: pushed, reply not popped; on
	                                     * its own line, away from what the worker reads */
};

/* Sets up q with room for cap outstanding commands (a power of two, 2..65536; -EINVAL
 * otherwise): both rings, and the reply eventfd (non-blocking, close-on-exec). The doorbell
 * posts {tag, 0} on worker_ring_fd through bell (borrowed, must outlive q); tag is what the
 * worker recognises in its CQEs and must differ from any user_data it uses otherwise.
 * bell == NULL gives a queue without a doorbell, for a consumer that polls. Before the
 * worker starts (its thread creation publishes q). 0 or -errno. */
int cmdq_init(struct cmdq *q, unsigned cap, int worker_ring_fd, uint64_t tag,
              struct cmdq_bell *bell);
/* After the worker has been joined. Commands still queued are dropped: pop them first
 * (after the join the control thread may consume the command ring itself) to reclaim
 * their payloads. */
void cmdq_fini(struct cmdq *q);

/* Control thread. Queues *c (copied) for the worker; does not ring. -EAGAIN when cap
 * commands are outstanding (pushed, their reply not yet popped): nothing is queued and the
 * payload was not lent. Counting outstanding commands rather than ring slots is what
 * guarantees the worker always has room to reply. */
int cmdq_push(struct cmdq *q, const struct cmdq_cmd *c);

/* Control thread. Wakes the worker for everything pushed so far: call after each push or
 * after a batch (one doorbell covers every command pushed before it). Always rings, even
 * when the queue was non-empty already: see cmdq.c for why skipping races. 0, or the error
 * of cmdq_bell_ring; on an error the commands stay queued (and lent): the worker still
 * takes them if it polls the queue, or they can be reclaimed after it is joined. Returns 0
 * without ringing for a queue set up without a bell. */
int cmdq_doorbell(struct cmdq *q);

/* Worker. Takes the oldest command into *out: 0, or -EAGAIN when none. Call it until
 * -EAGAIN on each doorbell CQE (several commands may share one; a doorbell may find the
 * queue already empty). */
int cmdq_pop(struct cmdq *q, struct cmdq_cmd *out);

/* Worker. Queues reply *r (copied; set r->id to the command's) and, when the reply queue
 * was empty, makes the eventfd readable (a non-blocking write(2): once per empty to
 * non-empty change, not per reply). -EAGAIN only if more replies than commands were sent. */
int cmdq_reply(struct cmdq *q, const struct cmdq_cmd *r);

/* Control thread: the fd to poll for POLLIN; readable when replies may be waiting. */
int cmdq_reply_fd(const struct cmdq *q);
/* Control thread: consumes the eventfd's wakeup. Call it when the fd polls readable, BEFORE
 * draining with cmdq_reply_pop, never after (a wakeup consumed after the drain could be one
 * for a reply the drain missed). */
void cmdq_reply_ack(struct cmdq *q);
/* Control thread: takes the oldest reply into *out and with it the payload back: 0, or
 * -EAGAIN when none (an answer that re-checks, so after -EAGAIN it is safe to poll again). */
int cmdq_reply_pop(struct cmdq *q, struct cmdq_cmd *out);

#endif
