#ifndef WSG_CORE_BUG_H
#define WSG_CORE_BUG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Invariant checks (STYLE.md 4). WSG_BUG_ON(cond) is always compiled: an internal invariant
 * that does not hold means our own state is corrupt, so the process prints
 * `wsgate: BUG at file:line: cond` and aborts. Never use it for anything a peer can cause.
 *
 * WSG_WARN_ONCE(cond) evaluates to cond (so it can sit in an if). The first time cond is true
 * at a given call site, on any thread, it prints one line with file:line to stderr and bumps
 * wsg_warn_total; later hits at that site are silent and not counted, so a hot path pays one
 * relaxed load per hit and never contends on the counter. With WSG_DEBUG (the debug flavour)
 * it aborts instead, so surprises are found in development. Uses a GNU statement expression
 * (gcc and clang) for the per-site flag. */

/* Warn sites that have fired at least once; written by any thread (relaxed RMW, once per
 * site), read by the metrics exporter. */
extern _Atomic uint64_t wsg_warn_total;

#define WSG_BUG_ON(cond)                                                                           \
	do {                                                                                       \
		if (__builtin_expect(!!(cond), 0)) {                                               \
			fprintf(stderr, "wsgate: BUG at %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#if defined(WSG_DEBUG) && WSG_DEBUG
#define WSG__WARN_HIT(condstr)                                                                     \
	do {                                                                                       \
		fprintf(stderr, "wsgate: WARN (fatal in debug) at %s:%d: %s\n", __FILE__,          \
		        __LINE__, condstr);                                                        \
		abort();                                                                           \
	} while (0)
#else
#define WSG__WARN_HIT(condstr)                                                                     \
	do {                                                                                       \
		static atomic_bool wsg__warned_;                                                   \
		if (!atomic_load_explicit(&wsg__warned_, memory_order_relaxed) &&                  \
		    !atomic_exchange_explicit(&wsg__warned_, true, memory_order_relaxed)) {        \
			fprintf(stderr, "wsgate: WARN at %s:%d: %s\n", __FILE__, __LINE__,         \
			        condstr);                                                          \
			atomic_fetch_add_explicit(&wsg_warn_total, 1, memory_order_relaxed);       \
		}                                                                                  \
	} while (0)
#endif

#define WSG_WARN_ONCE(cond)                                                                        \
	__extension__({                                                                            \
		bool wsg__hit_ = !!(cond);                                                         \
		if (__builtin_expect(wsg__hit_, 0))                                                \
			WSG__WARN_HIT(#cond);                                                      \
		wsg__hit_;                                                                         \
	})

#endif
