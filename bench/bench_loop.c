#include "bench/bench_conn.h"

#include "bench/bench_tls.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* Design note. One epoll loop per thread owns its conns (global indexes id, id + threads, ...)
 * and everything they hold; main only flips run->phase, sets the run's times and pokes the
 * loop's eventfd. Each turn: read the clock, start conns the ramp allows (at most
 * BENCH_MAX_PENDING handshakes at once, so a big -c does not overflow the server's accept
 * backlog), start or end the run, send open-loop messages that fell due, check handshake
 * deadlines, then sleep in epoll_pwait2 until the next thing that is due (ns precision; the
 * thread's timer slack is set to 1 ns so open-loop sends leave on time).
 *
 * Open-loop pacing: conn g's k-th message is due at start + g / rate + k * conns / rate, so the
 * due times of one loop's conns come round in index order; a cursor (pace_cur, pace_round)
 * walks them and no heap is needed. Alternatives tried on paper: a timerfd per conn (100k fds
 * more) and a heap (log n per send for nothing, the order is already known).
 *
 * End: after end_ns no new messages; a conn sends close 1000 when its last echo is back, or
 * after BENCH_DRAIN_NS anyway; BENCH_CLOSE_WAIT_NS later every socket still open is closed
 * and counted as a close timeout. */

static uint64_t bench_loop_pace_due(const struct bench_loop *l)
{
	const struct bench_run *r = l->run;
	uint64_t start = atomic_load_explicit(&r->start_ns, memory_order_relaxed);
	uint64_t g = l->conns[l->pace_cur].gidx;
	return start + (uint64_t)((double)g * r->pace_offset_ns) + l->pace_round * r->pace_ns;
}

static void bench_loop_launch(struct bench_loop *l, uint64_t now)
{
	while (l->next_start < l->n && l->pending < BENCH_MAX_PENDING) {
		if (l->ramp_step != 0) {
			if (now < l->ramp_next)
				return;
			l->ramp_next += l->ramp_step;
		}
		bench_conn_start(&l->conns[l->next_start++], now);
	}
}

static void bench_loop_begin_run(struct bench_loop *l, uint64_t now)
{
	const struct bench_run *r = l->run;
	uint64_t start = atomic_load_explicit(&r->start_ns, memory_order_relaxed);

	l->started = true;
	for (unsigned i = 0; i < l->n; i++) {
		struct bench_conn *c = &l->conns[i];
		c->next_sched = start + (uint64_t)((double)c->gidx * r->pace_offset_ns);
		if (r->args->rate == 0)
			bench_conn_pump(c, now);
	}
}

static void bench_loop_end_run(struct bench_loop *l)
{
	l->ended = true;
	for (unsigned i = 0; i < l->n; i++) {
		struct bench_conn *c = &l->conns[i];
		if (c->state == BENCH_CONN_OPEN && c->rcvd >= c->sent)
			bench_conn_begin_close(c);
	}
}

static void bench_loop_abort_all(struct bench_loop *l)
{
	for (unsigned i = 0; i < l->n; i++)
		bench_conn_finish(&l->conns[i]);
}

/* Sends every open-loop message that is due; returns the next due time. */
static uint64_t bench_loop_pace(struct bench_loop *l, uint64_t now)
{
	for (;;) {
		uint64_t due = bench_loop_pace_due(l);
		if (due > now)
			return due;
		bench_conn_pump(&l->conns[l->pace_cur], now);
		if (++l->pace_cur == l->n) {
			l->pace_cur = 0;
			l->pace_round++;
		}
	}
}

static void bench_loop_publish(struct bench_loop *l, uint64_t now)
{
	atomic_store_explicit(&l->pub_rcvd, l->st.msgs_rcvd, memory_order_relaxed);
	if (l->run->progress && now - l->last_pub_ns >= 500000000ull) {
		l->last_pub_ns = now;
		pthread_mutex_lock(&l->snap_lock);
		l->snap = l->hist;
		pthread_mutex_unlock(&l->snap_lock);
	}
}

void *bench_loop_main(void *arg)
{
	struct bench_loop *l = arg;
	struct bench_run *r = l->run;
	struct epoll_event evs[256];

	prctl(PR_SET_TIMERSLACK, 1ul, 0ul, 0ul, 0ul);
	l->ramp_next = bench_now_ns();
	for (;;) {
		uint64_t now = bench_now_ns();
		uint64_t wake = now + 100000000ull; /* at least every 100 ms */
		int phase = atomic_load_explicit(&r->phase, memory_order_acquire);

		if (phase == BENCH_PHASE_STOP) {
			bench_loop_abort_all(l);
			break;
		}
		bench_loop_launch(l, now);
		if (l->next_start < l->n && l->ramp_step != 0 && l->pending < BENCH_MAX_PENDING &&
		    l->ramp_next < wake)
			wake = l->ramp_next;

		if (phase == BENCH_PHASE_RUN) {
			uint64_t start = atomic_load_explicit(&r->start_ns, memory_order_relaxed);
			uint64_t end = atomic_load_explicit(&r->end_ns, memory_order_relaxed);
			if (!l->started) {
				if (now >= start)
					bench_loop_begin_run(l, now);
				else if (start < wake)
					wake = start;
			}
			if (l->started && !l->ended) {
				if (now >= end)
					bench_loop_end_run(l);
				else if (end < wake)
					wake = end;
			}
			if (l->started && !l->ended && r->args->rate > 0 && l->n > 0) {
				uint64_t due = bench_loop_pace(l, now);
				if (due < wake)
					wake = due;
			}
			if (l->ended) {
				if (!l->drained && now >= end + BENCH_DRAIN_NS) {
					l->drained = true;
					for (unsigned i = 0; i < l->n; i++)
						bench_conn_begin_close(&l->conns[i]);
				}
				if (now >= end + BENCH_DRAIN_NS + BENCH_CLOSE_WAIT_NS) {
					for (unsigned i = 0; i < l->n; i++) {
						if (bench_conn_is_live(&l->conns[i])) {
							l->st.close_timeouts++;
							bench_conn_finish(&l->conns[i]);
						}
					}
				}
				if (l->live == 0)
					break;
				uint64_t t = l->drained ? end + BENCH_DRAIN_NS + BENCH_CLOSE_WAIT_NS
				                        : end + BENCH_DRAIN_NS;
				if (t < wake)
					wake = t;
			}
		}
		if (l->pending > 0 && now - l->last_scan_ns >= 100000000ull) {
			l->last_scan_ns = now;
			for (unsigned i = 0; i < l->next_start; i++)
				bench_conn_check_deadline(&l->conns[i], now);
		}
		bench_loop_publish(l, now);

		now = bench_now_ns();
		uint64_t wait = wake > now ? wake - now : 0;
		struct timespec ts = {.tv_sec = (time_t)(wait / 1000000000ull),
		                      .tv_nsec = (long)(wait % 1000000000ull)};
		int n = epoll_pwait2(l->ep, evs, (int)(sizeof(evs) / sizeof(evs[0])), &ts, NULL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			break; /* cannot happen with a valid epoll fd; leave rather than spin */
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				uint64_t v;
				if (read(l->wake_fd, &v, sizeof(v)) == -1 && errno != EAGAIN)
					continue;
				continue;
			}
			struct bench_conn *c = evs[i].data.ptr;
			if (bench_conn_is_live(c))
				bench_conn_on_event(c, evs[i].events);
		}
	}
	bench_loop_abort_all(l);
	if (r->tls != NULL) {
		bench_tls_saved_free(l->tls_saved);
		l->tls_saved = NULL;
		bench_tls_thread_done();
	}
	atomic_store_explicit(&l->pub_rcvd, l->st.msgs_rcvd, memory_order_relaxed);
	return NULL;
}
