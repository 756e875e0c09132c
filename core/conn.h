#ifndef WSG_CORE_CONN_H
#define WSG_CORE_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/worker.h"

/* Conn I/O mechanics shared by both legs and both modes: accept, multishot receive, queued
 * sends, backpressure, timers, closing as a state and freeing as an event. What the bytes
 * mean is decided by handshake.c, tunnel.c and echo.c. Worker thread only. */

/* Backpressure: stop reading a conn's peer when this conn has more than HIGH bytes waiting,
 * start again below LOW. */
#define CONN_OUT_HIGH (256u * 1024u)
#define CONN_OUT_LOW  (64u * 1024u)
/* How long a conn that sent its close frame waits for the other end before it is cut. */
#define CONN_LINGER_MS 5000u
/* After our last bytes are out, how long we keep reading (and discarding) before closing. */
#define CONN_LINGER_CLOSE_MS 2000u

size_t conn_tunnel_size(void);

/* A socket from the acceptor (takes fd). */
void conn_accept(struct worker *w, int fd, const struct sockaddr_storage *peer, socklen_t len,
                 bool over_limit);
/* A new conn for an fd the worker made (takes fd); NULL when the slab is full. */
struct conn *conn_new(struct worker *w, int fd, enum conn_role role);

void conn_on_cqe(struct worker *w, struct conn *c, enum worker_op op, struct io_uring_cqe *cqe);
void conn_on_timer(struct worker *w, struct conn *c);

void conn_arm_recv(struct worker *w, struct conn *c);
/* Appends to the conn's send queue; the send starts at the end of the loop turn. 0, or -1
 * when no buffer memory is left (the caller fails the conn). */
int conn_queue(struct worker *w, struct conn *c, const void *p, size_t n);
/* Stops reading c until conn_resume (backpressure from its peer). */
void conn_pause(struct worker *w, struct conn *c);
void conn_resume(struct worker *w, struct conn *c);
/* Closes the socket once everything queued has been sent (or CONN_LINGER_MS passed). */
void conn_shut_after_flush(struct worker *w, struct conn *c);
/* Marks c CLOSING, cancels what is in flight; freed when the last CQE is in. */
void conn_close(struct worker *w, struct conn *c);
/* Arms the conn's single timer for an absolute deadline. */
void conn_set_timer(struct worker *w, struct conn *c, uint64_t deadline_ms);

/* End of loop turn: start queued sends, free conns whose last CQE came in. */
void conn_flush_all(struct worker *w);
void conn_drain_all(struct worker *w);
void conn_stop_all(struct worker *w);

/* Parses the next frame header of c's stream from [data, data + len), keeping a header split
 * across receives in c->stash. WS_RC_MORE: all of data went into the stash. WS_RC_OK: *hdr
 * points at the whole header (*hdr_len bytes, in data or in c->stash, whose content stays
 * valid until the next call) and *consumed bytes of data were used. WS_RC_FAIL: see the
 * parser's close code. */
enum ws_rc conn_parse_frame_header(struct conn *c, const uint8_t *data, size_t len,
                                   struct ws_frame *f, const uint8_t **hdr, size_t *hdr_len,
                                   size_t *consumed);

/* "127.0.0.1:5555" / "[::1]:5555" for logs; the address alone for X-Forwarded-For. */
void conn_peer_text(const struct conn *c, char *buf, size_t cap, bool with_port);

#endif
