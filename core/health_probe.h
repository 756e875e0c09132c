#ifndef WSG_CORE_HEALTH_PROBE_H
#define WSG_CORE_HEALTH_PROBE_H

#include <poll.h>
#include <stdint.h>

/* Active health checks (SPEC.md --health-interval, --health-path, --health-fails,
 * --health-passes): the probes' I/O, run by the control thread inside its poll loop. The
 * verdicts go to router/health.h, which every worker reads without a lock. */

struct wsg_config;
struct health_probe;

/* A checker for cfg (borrowed; it must outlive the checker), or NULL when the checks are off
 * (--health-interval 0) or out of memory; every function below takes NULL as "off". */
struct health_probe *health_probe_new(const struct wsg_config *cfg);
/* Closes what is in flight and frees. NULL is a no-op. */
void health_probe_free(struct health_probe *hp);

/* Picks up a newly published route table (its backends become the targets: a backend that
 * left is forgotten and counts as up again, one that stays keeps its state), starts the
 * checks that are due, and fills at most cap pollfds for the checks in flight. Returns how
 * many it filled. Control thread, once per loop turn, before poll(). */
unsigned health_probe_pollfds(struct health_probe *hp, struct pollfd *fds, unsigned cap,
                              uint64_t now_ms);
/* When the checker next needs the loop (a check due, or the deadline of one in flight), on
 * the same clock as now_ms; UINT64_MAX when never (NULL, or no targets). Control thread. */
uint64_t health_probe_next_ms(const struct health_probe *hp);
/* Advances the checks poll reported on (fds as filled by health_probe_pollfds, n of them; 0
 * when poll timed out) and fails those past --connect-timeout. Control thread, after poll(). */
void health_probe_on_poll(struct health_probe *hp, const struct pollfd *fds, unsigned n,
                          uint64_t now_ms);

#endif
