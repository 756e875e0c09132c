#ifndef WSG_CORE_TUNNEL_ADMIN_H
#define WSG_CORE_TUNNEL_ADMIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/jwt.h"
#include "core/cmdq.h"
#include "core/worker.h"

/* The worker's half of the admin calls that act on connections (SPEC.md "Admin API"): the
 * commands the control thread sends through the worker's cmdq (core/admin_conns.c builds
 * them), what they carry, and the hooks the tunnel calls. Who owns what: a command's payload
 * (struct tadm_req) is allocated by the control thread and lent to the worker until the reply
 * (cmdq.h); the message a push or broadcast sends (struct tadm_frame) is reference counted,
 * because a tunnel that is in the middle of a backend message keeps it past the reply. */

struct tunnel;
struct rt_table;

/* Commands (cmdq_cmd.kind); each gets one reply whose res is 0 or -errno: -ENOENT (no such
 * tunnel on this worker, or it is closing), -EAGAIN (the client's send queue is over
 * CONN_OUT_HIGH, or its pending pushes are full), -EMSGSIZE (over the route's max-message). */
enum tadm_cmd {
	TADM_LIST = WCMD_APP, /* fill req->out with the tunnels matching req's filters */
	TADM_GET,             /* req->out[0] = the tunnel req->id */
	TADM_CLOSE,           /* close tunnel req->id with req->code and req->reason */
	TADM_PUSH,            /* send req->frame to tunnel req->id's client */
	TADM_BROADCAST,       /* send req->frame to every client matching req's filters */
};

/* One encoded, unmasked server-to-client frame (FIN, text or binary), built once by the
 * control thread and shared read-only by every worker and tunnel it goes to. refs: one for
 * the control thread until its call is done, one per tunnel that holds it pending;
 * tadm_frame_unref frees it at zero, on whichever thread that is. */
struct tadm_frame {
	_Atomic uint32_t refs;
	uint32_t len;         /* bytes[] */
	uint64_t payload_len; /* the message's size, for max-message */
	uint8_t bytes[];
};

/* One connection as GET /connections shows it; written by the worker, read by the control
 * thread after the reply. table is held (rt_table_hold) so that route and backend stay
 * valid after the tunnel is gone: the reader releases it. */
struct tadm_info {
	uint64_t id;
	const struct rt_table *table; /* held; the reader calls rt_table_release */
	const char *route;            /* the route's path, in table */
	const char *backend;          /* the backend's URL, in table; NULL while none */
	char peer[64];                /* "ip:port" / "[v6]:port" */
	char subject[JWT_SUB_MAX];    /* "" when none */
	bool has_subject;
	bool has_rtt;
	uint32_t rtt_ms; /* the last keepalive ping's round trip (has_rtt) */
	uint64_t age_ms, idle_ms;
	uint64_t msgs_up, msgs_down, bytes_up, bytes_down;
	uint64_t send_queue; /* bytes queued towards the client */
};

/* The payload of every command: what each kind reads is said at its field. */
struct tadm_req {
	uint64_t id; /* GET, CLOSE, PUSH: the tunnel (its id % workers is this worker) */
	/* LIST, BROADCAST: filters, each NULL when not given; borrowed from the control
	 * thread's call for the loan. */
	const char *route; /* exact route path */
	const char *peer;  /* "ip" or "ip:port" ("[v6]:port") */
	const char *subject;
	uint32_t cap;             /* LIST, GET: room in out */
	uint32_t n;               /* LIST, GET: entries written (worker) */
	struct tadm_info *out;    /* LIST, GET */
	uint16_t code;            /* CLOSE */
	uint8_t reason_len;       /* CLOSE */
	char reason[123];         /* CLOSE: UTF-8, checked by the control thread */
	struct tadm_frame *frame; /* PUSH, BROADCAST: the control thread's reference */
	uint64_t sent, skipped;   /* BROADCAST (worker): clients it went to / was refused */
};

/* Worker: handles a command of enum tadm_cmd (the program's on_cmd); false for a kind that
 * is not one of them. Sets cmd->res; the caller replies. */
bool tunnel_admin_on_cmd(struct worker *w, struct cmdq_cmd *cmd);

/* Any thread: drops one reference (NULL is a no-op). */
void tadm_frame_unref(struct tadm_frame *f);

/* Tunnel hooks (tunnel.c, tunnel_relay.c): the per-worker index by id, kept from
 * tunnel_start to the tunnel's free (worker_fini frees the table); pending pushes sent at the next
 * message boundary of the backend leg, and dropped with the tunnel. */
void tunnel_admin_index_add(struct worker *w, struct tunnel *t);
void tunnel_admin_index_del(struct worker *w, struct tunnel *t);
/* The backend leg ended a frame and t->push is not NULL: send what is pending if the client
 * is now between messages. 0, or -1 when out of buffer memory (the relay fails the tunnel). */
int tunnel_admin_push_flush(struct worker *w, struct tunnel *t);
void tunnel_admin_push_drop(struct tunnel *t);

#endif
