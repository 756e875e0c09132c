#ifndef WSG_BENCH_ECHO_CONN_H
#define WSG_BENCH_ECHO_CONN_H

#include <stdbool.h>

#include "proto/http1.h"

/* wsgate-echo's layer over the core's conns (bench/echo_conn.c). Worker thread only. */

struct worker;
struct conn;

/* gateway_app.on_accept / on_drain for wsgate-echo. */
void echo_on_accept(struct worker *w, struct conn *c, bool over_limit);
void echo_on_drain(struct worker *w);
/* Answers a refused upgrade with its status and closes once it is out. */
void echo_reject(struct worker *w, struct conn *c, enum http_reject r);

#endif
