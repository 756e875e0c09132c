#ifndef WSG_CORE_LOG_H
#define WSG_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

/* One line per event with stable keys (STYLE.md 7): text
 *   lvl=warn wrk=3 conn=8812 ev=ws_fail code=1002 why="unmasked client frame"
 * or the same keys as one JSON object per line. Workers never write to a file: each thread
 * that logs formats into its own ring (a fixed SPSC ring of lines), and the control thread
 * drains every ring to stderr. A full ring drops the line and counts it
 * (wsgate_log_dropped_total). Before log_start_drain() and after log_stop_drain(), and on
 * threads that never called log_thread_register(), lines are written to stderr directly. */

int log_init(enum cfg_log_level level, enum cfg_log_format format);
/* Gives the calling thread a ring; `worker` is printed as wrk= (-1: none, e.g. main). */
int log_thread_register(int worker);
/* Starts the drain thread / stops it after a final drain. */
int log_start_drain(void);
void log_stop_drain(void);
/* Drains every ring once (the drain thread calls this; exposed for tests and exit). */
void log_drain(void);
/* Sends all output to fd instead of stderr (tests); fd is borrowed, -1 restores stderr. */
void log_set_output_fd(int fd);

bool log_enabled(enum cfg_log_level level);
uint64_t log_dropped_total(void);

/* fmt produces the key=value pairs after ev=: `conn=%llu code=%u why="%s"`. Values with
 * spaces must be quoted by the caller; use log_escape for anything a peer sent. */
void log_emit(enum cfg_log_level level, const char *ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copies at most max bytes of src into dst (cap bytes) escaping quotes, backslashes and
 * non-printables as \xNN, so peer bytes never break a line. Returns dst. */
char *log_escape(char *dst, size_t cap, const char *src, size_t len, size_t max);

#define LOG_DEBUG(ev, ...)                                                                         \
	do {                                                                                       \
		if (log_enabled(CFG_LOG_DEBUG))                                                    \
			log_emit(CFG_LOG_DEBUG, ev, __VA_ARGS__);                                  \
	} while (0)
#define LOG_INFO(ev, ...)  log_emit(CFG_LOG_INFO, ev, __VA_ARGS__)
#define LOG_WARN(ev, ...)  log_emit(CFG_LOG_WARN, ev, __VA_ARGS__)
#define LOG_ERROR(ev, ...) log_emit(CFG_LOG_ERROR, ev, __VA_ARGS__)

#endif
