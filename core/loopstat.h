#ifndef WSG_CORE_LOOPSTAT_H
#define WSG_CORE_LOOPSTAT_H

/* core/loopstat.h: what a worker's loop turns cost, for the tail hunt of issue 11.
 *
 * Owns two per-worker histograms' bookkeeping (the histograms themselves live in the
 * worker's metrics block: wsgate_loop_turn_seconds, wsgate_relay_delay_seconds):
 * - a loop turn: from the moment the wait returned (completions in hand) to the submit that
 *   ends the turn, i.e. the work one turn did while every other conn waited;
 * - the relay delay: from the turn in which bytes were queued for a conn (the receive
 *   completion that carried them, nearly always) to the submit that carries the send of the
 *   first of them; a send that had to wait for the previous send's completion counts the
 *   turns it waited. Bytes queued for a backend before its connect completed count from the
 *   connect's completion (the connect time is not the loop's).
 *
 * Cost: no clock call of its own. The loop already reads the clock right after the wait and
 * right before the submit (worker.c); a turn records both readings here, once per turn. Per
 * message there is a flag test and a 16-bit store when a conn's queue first gets bytes
 * (conn_queue), and a flag test and an increment when its send starts (conn_start_send).
 * Delays are resolved to turns: a send prepared k turns after its bytes were queued is
 * observed at (this submit - the reap time of k turns ago), for k < LOOPSTAT_TURNS; one that
 * waited longer (a slow reader: the kernel's send buffer is full) is observed at the oldest
 * remembered turn, a lower bound.
 *
 * Worker thread only, like everything in struct worker.
 *
 * Rejected: a clock reading per receive and per send (two vDSO calls per message: the cost
 * the brief rules out); a timestamp per conn in microseconds (4 more bytes per idle conn,
 * where a 16-bit turn number fits in padding struct conn already has). */

#include <stdint.h>

#include "core/metrics.h"

#define LOOPSTAT_TURNS 16u /* power of two */

struct loopstat {
	uint32_t turn;                    /* turns begun so far; its low 16 bits stamp conns */
	uint16_t sends_mask;              /* bit k: sends[k] > 0 */
	uint16_t _pad;                    /* explicit: no hole */
	uint64_t reap_us[LOOPSTAT_TURNS]; /* [t % LOOPSTAT_TURNS]: when turn t's wait returned */
	uint32_t sends[LOOPSTAT_TURNS];   /* this turn's sends, by turns their bytes waited */
};

/* The wait returned at now_us: a new turn begins. */
static inline void loopstat_reaped(struct loopstat *ls, uint64_t now_us)
{
	ls->turn++;
	ls->reap_us[ls->turn % LOOPSTAT_TURNS] = now_us;
}

/* The stamp for bytes queued in this turn. */
static inline uint16_t loopstat_stamp(const struct loopstat *ls)
{
	return (uint16_t)ls->turn;
}

/* A send starts in this turn for bytes stamped `stamp`. */
static inline void loopstat_send(struct loopstat *ls, uint16_t stamp)
{
	unsigned k = (uint16_t)((uint16_t)ls->turn - stamp);
	if (k >= LOOPSTAT_TURNS)
		k = LOOPSTAT_TURNS - 1;
	ls->sends[k]++;
	ls->sends_mask = (uint16_t)(ls->sends_mask | (1u << k));
}

/* The turn ends: its submit happens at now_us. Records the turn and its sends. */
static inline void loopstat_submit(struct loopstat *ls, struct metrics_worker *m, uint64_t now_us)
{
	if (ls->turn == 0)
		return; /* the first submit ends no turn */
	uint64_t reap = ls->reap_us[ls->turn % LOOPSTAT_TURNS];
	metrics_worker_loop_turn(m, now_us - reap);
	while (ls->sends_mask != 0) {
		unsigned k = (unsigned)__builtin_ctz(ls->sends_mask);
		uint64_t at = ls->reap_us[(ls->turn - k) % LOOPSTAT_TURNS];
		/* A turn not yet begun (k > turn) has a zero reap time: count from this one. */
		if (at == 0)
			at = reap;
		metrics_worker_relay_delay(m, now_us - at, ls->sends[k]);
		ls->sends[k] = 0;
		ls->sends_mask = (uint16_t)(ls->sends_mask & ~(1u << k));
	}
}

#endif
