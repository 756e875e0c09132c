/* Unit tests for core/cmdq.c: a million commands and replies between two threads arrive in
 * order with their payloads, the queue refuses at cap outstanding commands, a real msg_ring
 * doorbell lands on a worker ring (also one owned and waited on by another thread, set up
 * like a worker's), doorbell failures reach the caller, and the reply eventfd is readable
 * exactly when a reply waits. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/cmdq.h"

#define TAG         0xc0ffee0000000042ull
#define N_CMDS      1000000u
#define SPSC_CAP    64u
#define KIND_ECHO   7u
#define KIND_FINISH 8u

/* Readable now? (poll with a zero timeout) */
static bool fd_readable(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

struct spsc_worker {
	struct cmdq *q;
	uint64_t bad; /* first mismatch + 1, 0 when none (no cmocka asserts off-thread) */
};

static void *spsc_worker_main(void *arg)
{
	struct spsc_worker *sw = arg;
	uint64_t want = 0;
	while (want < N_CMDS) {
		struct cmdq_cmd c;
		if (cmdq_pop(sw->q, &c) != 0) {
			sched_yield();
			continue;
		}
		uint64_t *p = c.payload;
		if (sw->bad == 0 && (c.id != want || c.kind != KIND_ECHO || c.arg != want * 3 ||
		                     p == NULL || *p != want))
			sw->bad = want + 1;
		*p = ~want; /* the answer goes back through the lent payload */
		struct cmdq_cmd r = {.kind = KIND_ECHO, .res = 0, .id = c.id, .payload = p};
		if (cmdq_reply(sw->q, &r) != 0 && sw->bad == 0)
			sw->bad = want + 1;
		want++;
	}
	return NULL;
}

static void test_million_commands_and_replies_keep_order_and_payload(void **state)
{
	(void)state;
	struct cmdq q;
	uint64_t payload[SPSC_CAP];
	struct spsc_worker sw = {&q, 0};
	pthread_t th;

	assert_int_equal(cmdq_init(&q, SPSC_CAP, -1, TAG, NULL), 0);
	assert_int_equal(pthread_create(&th, NULL, spsc_worker_main, &sw), 0);
	uint64_t sent = 0, answered = 0;
	while (answered < N_CMDS) {
		if (sent < N_CMDS) {
			struct cmdq_cmd c = {.kind = KIND_ECHO, .id = sent, .arg = sent * 3};
			if (sent - answered == SPSC_CAP) {
				/* cap outstanding: refused, and nothing is lent. */
				assert_int_equal(cmdq_push(&q, &c), -EAGAIN);
			} else {
				/* The slot of id sent is free: the reply for sent - SPSC_CAP was
				 * popped. */
				uint64_t *p = &payload[sent % SPSC_CAP];
				*p = sent;
				c.payload = p;
				assert_int_equal(cmdq_push(&q, &c), 0);
				sent++;
				continue;
			}
		}
		struct cmdq_cmd r;
		if (cmdq_reply_pop(&q, &r) != 0) {
			sched_yield();
			continue;
		}
		assert_int_equal(r.id, answered);
		assert_ptr_equal(r.payload, &payload[answered % SPSC_CAP]);
		assert_int_equal(*(uint64_t *)r.payload, ~answered);
		answered++;
	}
	pthread_join(th, NULL);
	assert_int_equal(sw.bad, 0);
	struct cmdq_cmd r;
	assert_int_equal(cmdq_reply_pop(&q, &r), -EAGAIN);
	assert_int_equal(cmdq_pop(&q, &r), -EAGAIN);
	cmdq_fini(&q);
}

static void test_full_queue_refuses_until_a_reply_is_popped(void **state)
{
	(void)state;
	struct cmdq q;
	struct cmdq_cmd c = {.kind = 1}, out;

	assert_int_equal(cmdq_init(&q, 4, -1, TAG, NULL), 0);
	for (uint64_t i = 0; i < 4; i++) {
		c.id = i;
		assert_int_equal(cmdq_push(&q, &c), 0);
	}
	c.id = 4;
	assert_int_equal(cmdq_push(&q, &c), -EAGAIN);
	/* Taken by the worker but not answered: still outstanding, still refused. */
	assert_int_equal(cmdq_pop(&q, &out), 0);
	assert_int_equal(out.id, 0);
	assert_int_equal(cmdq_pop(&q, &out), 0);
	assert_int_equal(cmdq_push(&q, &c), -EAGAIN);
	/* Answered but the reply not yet popped: still refused. */
	struct cmdq_cmd r = {.id = 0};
	assert_int_equal(cmdq_reply(&q, &r), 0);
	assert_int_equal(cmdq_push(&q, &c), -EAGAIN);
	assert_int_equal(cmdq_reply_pop(&q, &out), 0);
	assert_int_equal(out.id, 0);
	assert_int_equal(cmdq_push(&q, &c), 0);
	assert_int_equal(cmdq_push(&q, &c), -EAGAIN);
	cmdq_fini(&q);

	assert_int_equal(cmdq_init(&q, 3, -1, TAG, NULL), -EINVAL);
	assert_int_equal(cmdq_init(&q, 1, -1, TAG, NULL), -EINVAL);
	assert_int_equal(cmdq_init(&q, 1u << 17, -1, TAG, NULL), -EINVAL);
}

static void test_doorbell_posts_the_tag_on_the_worker_ring(void **state)
{
	(void)state;
	struct io_uring worker;
	struct cmdq_bell bell;
	struct cmdq q;
	struct io_uring_cqe *cqe;
	int v = 0xabc;

	assert_int_equal(io_uring_queue_init(8, &worker, 0), 0);
	assert_int_equal(cmdq_bell_init(&bell), 0);
	assert_int_equal(cmdq_init(&q, 8, worker.ring_fd, TAG, &bell), 0);

	assert_int_equal(io_uring_peek_cqe(&worker, &cqe), -EAGAIN); /* nothing before */
	struct cmdq_cmd c = {.kind = 3, .id = 99, .payload = &v};
	assert_int_equal(cmdq_push(&q, &c), 0);
	assert_int_equal(cmdq_doorbell(&q), 0);
	assert_int_equal(io_uring_peek_cqe(&worker, &cqe), 0);
	assert_int_equal(cqe->user_data, TAG);
	assert_int_equal(cqe->res, 0);
	io_uring_cqe_seen(&worker, cqe);
	struct cmdq_cmd out;
	assert_int_equal(cmdq_pop(&q, &out), 0);
	assert_int_equal(out.kind, 3);
	assert_int_equal(out.id, 99);
	assert_ptr_equal(out.payload, &v);
	assert_int_equal(cmdq_pop(&q, &out), -EAGAIN);

	/* Two pushes, one doorbell: one CQE, both commands. */
	assert_int_equal(cmdq_push(&q, &c), 0);
	assert_int_equal(cmdq_push(&q, &c), 0);
	assert_int_equal(cmdq_doorbell(&q), 0);
	assert_int_equal(io_uring_peek_cqe(&worker, &cqe), 0);
	assert_int_equal(cqe->user_data, TAG);
	io_uring_cqe_seen(&worker, cqe);
	assert_int_equal(io_uring_peek_cqe(&worker, &cqe), -EAGAIN);
	assert_int_equal(cmdq_pop(&q, &out), 0);
	assert_int_equal(cmdq_pop(&q, &out), 0);
	assert_int_equal(cmdq_pop(&q, &out), -EAGAIN);

	/* A raw bell carries res through. */
	assert_int_equal(cmdq_bell_ring(&bell, worker.ring_fd, 5, 1234), 0);
	assert_int_equal(io_uring_peek_cqe(&worker, &cqe), 0);
	assert_int_equal(cqe->user_data, 5);
	assert_int_equal(cqe->res, 1234);
	io_uring_cqe_seen(&worker, cqe);

	cmdq_fini(&q);
	cmdq_bell_fini(&bell);
	io_uring_queue_exit(&worker);
}

/* A worker thread like core/worker.c's: its ring is created R_DISABLED (with SINGLE_ISSUER |
 * DEFER_TASKRUN where the kernel has them) before the thread starts, enabled by the thread,
 * which then sleeps in io_uring_wait_cqe until a doorbell. */
struct ring_worker {
	struct cmdq *q;
	struct io_uring ring;
	unsigned handled;
	uint64_t bad; /* no cmocka asserts off the test's thread */
};

static void *ring_worker_main(void *arg)
{
	struct ring_worker *rw = arg;
	/* io_uring_enable_rings() is missing from Debian's liburing 2.3 library (worker.c). */
	if (syscall(__NR_io_uring_register, rw->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL,
	            0) != 0)
		abort();
	bool done = false;
	while (!done) {
		struct io_uring_cqe *cqe;
		int rc = io_uring_wait_cqe(&rw->ring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc != 0)
			abort();
		if (cqe->user_data != TAG && rw->bad == 0)
			rw->bad = 1;
		io_uring_cqe_seen(&rw->ring, cqe);
		struct cmdq_cmd c;
		while (cmdq_pop(rw->q, &c) == 0) {
			if (c.id != rw->handled && rw->bad == 0)
				rw->bad = c.id + 2;
			rw->handled++;
			done = c.kind == KIND_FINISH;
			struct cmdq_cmd r = {.kind = c.kind, .res = -(int32_t)c.arg, .id = c.id};
			if (cmdq_reply(rw->q, &r) != 0 && rw->bad == 0)
				rw->bad = 1;
		}
	}
	return NULL;
}

static void test_doorbell_wakes_a_worker_waiting_on_its_ring(void **state)
{
	(void)state;
	struct ring_worker rw;
	struct io_uring_params p;
	struct cmdq_bell bell;
	struct cmdq q;
	pthread_t th;
	const unsigned n = 200;

	memset(&rw, 0, sizeof(rw));
	rw.q = &q;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED;
	int rc = io_uring_queue_init_params(8, &rw.ring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_R_DISABLED;
		rc = io_uring_queue_init_params(8, &rw.ring, &p);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(cmdq_bell_init(&bell), 0);
	assert_int_equal(cmdq_init(&q, 16, rw.ring.ring_fd, TAG, &bell), 0);
	/* Not started yet: the doorbell says so, and the command waits for it. */
	struct cmdq_cmd first = {.kind = KIND_ECHO, .id = 0, .arg = 0};
	assert_int_equal(cmdq_push(&q, &first), 0);
	assert_int_equal(cmdq_doorbell(&q), -EBADFD);
	assert_int_equal(pthread_create(&th, NULL, ring_worker_main, &rw), 0);

	unsigned replies = 0;
	for (unsigned i = 0; i < n; i++) {
		if (i > 0) {
			struct cmdq_cmd c = {
			    .kind = i + 1 == n ? KIND_FINISH : KIND_ECHO, .id = i, .arg = i};
			assert_int_equal(cmdq_push(&q, &c), 0);
		}
		/* The first doorbell can race the thread's enable: retry while -EBADFD. */
		while ((rc = cmdq_doorbell(&q)) == -EBADFD && i == 0)
			sched_yield();
		assert_int_equal(rc, 0);
		/* Wait for this reply the way the control thread would: poll, ack, drain. */
		while (replies <= i) {
			assert_true(fd_readable(cmdq_reply_fd(&q), 5000));
			cmdq_reply_ack(&q);
			struct cmdq_cmd r;
			while (cmdq_reply_pop(&q, &r) == 0) {
				assert_int_equal(r.id, replies);
				assert_int_equal(r.res, -(int32_t)replies);
				replies++;
			}
		}
	}
	pthread_join(th, NULL);
	assert_int_equal(rw.bad, 0);
	assert_int_equal(rw.handled, n);
	assert_int_equal(replies, n);
	assert_false(fd_readable(cmdq_reply_fd(&q), 0));
	cmdq_fini(&q);
	cmdq_bell_fini(&bell);
	io_uring_queue_exit(&rw.ring);
}

static void test_doorbell_errors_reach_the_caller(void **state)
{
	(void)state;
	struct cmdq_bell bell;
	struct cmdq q;
	struct cmdq_cmd c = {.kind = 1, .id = 1}, out;

	assert_int_equal(cmdq_bell_init(&bell), 0);

	/* A closed fd. */
	struct io_uring gone;
	assert_int_equal(io_uring_queue_init(4, &gone, 0), 0);
	assert_int_equal(cmdq_init(&q, 4, gone.ring_fd, TAG, &bell), 0);
	io_uring_queue_exit(&gone); /* after cmdq_init, so its eventfd cannot reuse the number */
	assert_int_equal(cmdq_push(&q, &c), 0);
	assert_int_equal(cmdq_doorbell(&q), -EBADF);
	/* The command stays queued: the worker (or the control thread after the join) takes it. */
	assert_int_equal(cmdq_pop(&q, &out), 0);
	assert_int_equal(out.id, 1);
	cmdq_fini(&q);

	/* An fd that is not an io_uring. */
	int efd = eventfd(0, EFD_CLOEXEC);
	assert_true(efd >= 0);
	assert_int_equal(cmdq_bell_ring(&bell, efd, TAG, 0), -EBADFD);
	close(efd);

	/* A worker ring that has not been enabled yet (worker.c creates them R_DISABLED). */
	struct io_uring disabled;
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_R_DISABLED;
	assert_int_equal(io_uring_queue_init_params(4, &disabled, &p), 0);
	assert_int_equal(cmdq_bell_ring(&bell, disabled.ring_fd, TAG, 0), -EBADFD);
	io_uring_queue_exit(&disabled);

	/* The bell still works after errors. */
	struct io_uring ok;
	struct io_uring_cqe *cqe;
	assert_int_equal(io_uring_queue_init(4, &ok, 0), 0);
	assert_int_equal(cmdq_bell_ring(&bell, ok.ring_fd, TAG, 0), 0);
	assert_int_equal(io_uring_peek_cqe(&ok, &cqe), 0);
	assert_int_equal(cqe->user_data, TAG);
	io_uring_cqe_seen(&ok, cqe);
	io_uring_queue_exit(&ok);
	cmdq_bell_fini(&bell);
}

static void test_reply_eventfd_readable_only_when_a_reply_waits(void **state)
{
	(void)state;
	struct cmdq q;
	struct cmdq_cmd c = {.kind = 1}, out;
	uint64_t count;
	int efd;

	assert_int_equal(cmdq_init(&q, 8, -1, TAG, NULL), 0);
	efd = cmdq_reply_fd(&q);
	assert_true(efd >= 0);
	for (uint64_t i = 0; i < 3; i++) {
		c.id = i;
		assert_int_equal(cmdq_push(&q, &c), 0);
		assert_int_equal(cmdq_pop(&q, &out), 0);
	}
	assert_false(fd_readable(efd, 0)); /* commands alone never wake the control thread */

	struct cmdq_cmd r = {.id = 0};
	assert_int_equal(cmdq_reply(&q, &r), 0);
	assert_true(fd_readable(efd, 0));
	/* More replies while one waits do not write again: empty -> non-empty only. */
	r.id = 1;
	assert_int_equal(cmdq_reply(&q, &r), 0);
	assert_int_equal(read(efd, &count, sizeof(count)), (ssize_t)sizeof(count));
	assert_int_equal(count, 1);
	assert_false(fd_readable(efd, 0));
	assert_int_equal(cmdq_reply_pop(&q, &out), 0);
	assert_int_equal(out.id, 0);
	assert_int_equal(cmdq_reply_pop(&q, &out), 0);
	assert_int_equal(out.id, 1);
	assert_int_equal(cmdq_reply_pop(&q, &out), -EAGAIN);
	assert_false(fd_readable(efd, 0));

	/* Drained: the next reply wakes again; ack consumes the wakeup, and is harmless twice. */
	r.id = 2;
	assert_int_equal(cmdq_reply(&q, &r), 0);
	assert_true(fd_readable(efd, 0));
	cmdq_reply_ack(&q);
	assert_false(fd_readable(efd, 0));
	cmdq_reply_ack(&q);
	assert_int_equal(cmdq_reply_pop(&q, &out), 0);
	assert_int_equal(out.id, 2);

	/* A reply with no command outstanding has no room to go (contract broken). */
	for (uint64_t i = 0; i < 8; i++)
		assert_int_equal(cmdq_reply(&q, &r), 0);
	assert_int_equal(cmdq_reply(&q, &r), -EAGAIN);
	cmdq_fini(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_million_commands_and_replies_keep_order_and_payload),
	    cmocka_unit_test(test_full_queue_refuses_until_a_reply_is_popped),
	    cmocka_unit_test(test_doorbell_posts_the_tag_on_the_worker_ring),
	    cmocka_unit_test(test_doorbell_wakes_a_worker_waiting_on_its_ring),
	    cmocka_unit_test(test_doorbell_errors_reach_the_caller),
	    cmocka_unit_test(test_reply_eventfd_readable_only_when_a_reply_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
