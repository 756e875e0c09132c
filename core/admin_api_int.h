#ifndef WSG_CORE_ADMIN_API_INT_H
#define WSG_CORE_ADMIN_API_INT_H

/* Shared by admin.c, admin_routes.c, admin_conns.c and admin_token.c only: the admin calls
 * on routes and connections, and what admin.c lends them to answer with. Control thread
 * only. (The counters' answers, /metrics and /stats, have their own files.) */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/admin_req.h"
#include "proto/http1.h"

struct admin;
struct admin_conn;
struct admin_calls;
struct cmdq_cmd;
struct gateway;

/* admin.c */
struct gateway *admin__gw(const struct admin *a);
struct admin_calls *admin__calls(const struct admin *a);
/* Answers ac with status and a JSON body (NUL-terminated; ignored for 204) and starts
 * sending; a HEAD request gets the head only. ac may be closed on return (a send error). */
void admin__answer(struct admin *a, struct admin_conn *ac, unsigned status, const char *body);
/* {"error": why} (why escaped) with status. */
void admin__answer_error(struct admin *a, struct admin_conn *ac, unsigned status, const char *why);
/* ac's answer waits for the workers: no events are wanted from it until admin__answer (an
 * error or hang-up on its socket still closes it, and the call is told). */
void admin__wait(struct admin *a, struct admin_conn *ac);

/* admin_routes.c: GET and PUT /routes. */
void admin__routes_get(struct admin *a, struct admin_conn *ac);
void admin__routes_put(struct admin *a, struct admin_conn *ac, const char *body, size_t len);

/* admin_conns.c: /connections and /broadcast, as commands to the workers. */
struct admin_calls *admin__calls_new(void);
/* After every worker was joined: takes the replies still queued and the commands never
 * popped, frees what they lent, then everything else. NULL is a no-op. */
void admin__calls_free(struct admin *a, struct admin_calls *cs);
/* Starts call rq (already checked with admin_req_check) for ac: answered at once (a bad
 * body, an unknown id) or sent to the workers and answered when they all replied. text: the
 * body is a text message (Content-Type text/...). Borrows body. */
void admin__conns_call(struct admin *a, struct admin_conn *ac, const struct admin_req *rq,
                       enum admin_method m, bool text, const char *body, size_t len);
/* A reply of kind >= WCMD_APP from worker `worker`. */
void admin__calls_on_reply(struct admin *a, unsigned worker, const struct cmdq_cmd *r);
/* ac is going away: calls waiting for it answer nobody. */
void admin__calls_detach(struct admin *a, struct admin_conn *ac);
/* In a cluster: requests of other nodes run as calls answered to them, and the replies to
 * this node's cross-node calls end them (cluster_set_hooks). */
void admin__cluster_attach(struct admin *a);
/* Calls whose workers have not all answered by their deadline answer 504 (and still wait
 * for the replies, which return what was lent). */
void admin__calls_sweep(struct admin *a, uint64_t now_ms);

#endif
