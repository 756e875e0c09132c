#ifndef WSG_BENCH_BENCH_REPORT_H
#define WSG_BENCH_BENCH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "bench/bench_args.h"
#include "bench/bench_conn.h"
#include "bench/bench_hist.h"

/* wsgate-bench's results: the summary for people, the JSON object for scripts. */

struct bench_result {
	const struct bench_args *args;
	unsigned threads;
	double duration_s;          /* measured window actually run (shorter when interrupted) */
	bool interrupted;           /* SIGINT/SIGTERM ended the run early */
	bool completed;             /* the exit status will be 0 */
	unsigned conns_failed;      /* conns that never opened */
	struct bench_stats st;      /* merged over the loops */
	const struct bench_hist *h; /* merged over the loops */
};

/* The human summary (stdout unless --json). */
void bench_report_print(FILE *out, const struct bench_result *res);

/* One JSON object with every figure, and a newline. 0 or -1. */
int bench_report_json(FILE *out, const struct bench_result *res);

/* "12.3us", "4.56ms", "1.20s" into buf. */
const char *bench_report_fmt_ns(char *buf, size_t cap, uint64_t ns);

#endif
