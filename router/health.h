#ifndef WSG_ROUTER_HEALTH_H
#define WSG_ROUTER_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

/* Backend health, gateway-wide: whether a backend may get new connections, and why not.
 *
 * State is kept per backend *slot* (rt_backend.stat_slot, assigned by core's counter registry
 * by backend URL), which is stable across reloads, so a backend keeps its state when the
 * route table is replaced. Slot 0 (the registry's overflow slot, shared by every backend past
 * the registry's limit) is never marked down: its state would mix unrelated backends.
 *
 * Two sources mark a backend down:
 * - active checks (the control thread probes every backend; health_sm_step's hysteresis
 *   decides, health_active_set publishes);
 * - passive checks: real connection attempts that failed (health_passive_fail, from any
 *   worker), --max-fails within --fail-timeout marking it down for --fail-timeout.
 * A backend is up when neither says down (health_backend_is_up). Everything is relaxed
 * atomics: a worker that sees a change a little late sends one more client to the old
 * answer, which the dial's fallback absorbs; no data is published along with a flag. */

#define HEALTH_SLOTS 16385u /* == METRICS_BACKEND_SLOTS (asserted in core/health_probe.c) */

enum health_result {
	HEALTH_RESULT_SUCCESS = 0, /* health_checks_total{result="success"} */
	HEALTH_RESULT_FAILURE,     /* {result="failure"} */
	HEALTH_RESULT_COUNT
};

/* The hysteresis of active checks for one backend: `fails` consecutive failures mark an up
 * backend down, `passes` consecutive successes mark a down one up. Plain data, owned by the
 * checker (control thread). */
struct health_sm {
	bool down;     /* the verdict so far; starts up (SPEC.md: up until checks say otherwise) */
	uint32_t fail; /* consecutive failures so far */
	uint32_t pass; /* consecutive successes so far */
};

/* Starts sm up with no history. */
void health_sm_init(struct health_sm *sm);
/* Feeds one check result (ok: it passed). fails and passes are >= 1 (0 is taken as 1).
 * Returns true when the verdict (sm->down) changed with this result. */
bool health_sm_step(struct health_sm *sm, bool ok, uint32_t fails, uint32_t passes);

/* Is the backend in slot up for a new connection at now_ms (CLOCK_MONOTONIC ms, as the
 * workers' loop clock)? Any thread; two relaxed loads. */
bool health_backend_is_up(uint32_t slot, uint64_t now_ms);

/* The active verdict of the backend in slot (true: the checks say down). Any thread. */
bool health_active_is_down(uint32_t slot);
/* Publishes the active verdict for slot (control thread: the checker). */
void health_active_set(uint32_t slot, bool down);

/* A real connection attempt to slot failed (connect refused or timed out, TLS or upgrade
 * failed) at now_ms. With max_fails > 0, the max_fails-th failure within window_ms of the
 * first one of its run marks the backend down until now_ms + window_ms. Any thread (one CAS
 * loop: a failure path, never per message). Returns true when this call marked it down (the
 * caller logs it, once). */
bool health_passive_fail(uint32_t slot, uint64_t now_ms, uint32_t max_fails, uint64_t window_ms);
/* Until when slot is passively down (0 or a time in the past: it is not). Any thread. */
uint64_t health_passive_down_until(uint32_t slot);

/* Counts one active check result for slot (control thread only: single writer). */
void health_count_check(uint32_t slot, enum health_result r);
/* health_checks_total{backend,result} for slot. Any thread (relaxed). */
uint64_t health_checks_total(uint32_t slot, enum health_result r);
/* "success", "failure"; NULL when out of range. */
const char *health_result_label(enum health_result r);

/* Forgets the state of slot (its backend left the table): up, no failures remembered. The
 * check counters stay (they are monotonic). Control thread. */
void health_slot_reset(uint32_t slot);
/* Every slot back to the start state (tests, and process start). Not while workers run. */
void health_reset_all(void);

#endif
