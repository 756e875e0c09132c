#ifndef WSG_CORE_CONN_TLS_H
#define WSG_CORE_CONN_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* TLS on a conn: the tls/ session behind the transport's byte-transform seam (conn_xform),
 * and the server context set the workers use, published like the route table (one atomic
 * pointer, the old set freed after every worker passed a quiescent point). */

struct worker;
struct conn;
struct tls_ctx;

struct wsg_config;

/* The server context set for cfg's --tls-cert/--tls-key pairs and --tls-min-version: NULL
 * when cfg has no TLS listener; else built, or NULL with one line in err (the file and why).
 * *failed tells the two NULLs apart. Control thread (start, SIGHUP, --check-config). */
struct tls_ctx *conn_tls_server_ctx_new(const struct wsg_config *cfg, bool *failed, char *err,
                                        size_t err_len);

/* Control thread: makes next the context set new TLS handshakes use (takes it; NULL: none).
 * The one it replaces is freed after the grace period; sessions made from it live on. */
void conn_tls_publish(struct tls_ctx *next);
/* Worker: the current server context set (valid for this loop turn), or NULL. */
struct tls_ctx *conn_tls_current(void);

/* A server session on ctx for an accepted conn of a TLS listener, or a client session (SNI
 * server_name) for a wss:// backend conn: from now on the conn's bytes pass through it. 0, or
 * -1 when out of memory (the caller closes the conn). */
int conn_tls_attach_server(struct worker *w, struct conn *c, struct tls_ctx *ctx);
int conn_tls_attach_client(struct worker *w, struct conn *c, struct tls_ctx *ctx,
                           const char *server_name, void *resume);
/* The upstream session cache: a client conn's resumption state once its handshake is done
 * (and the server's ticket has come; call it when the backend's 101 arrived), to offer on
 * the next dial of the same backend (resume above, borrowed). NULL when there is none.
 * Free with conn_tls_saved_free. */
void *conn_tls_save(const struct conn *c);
void conn_tls_saved_free(void *saved);
bool conn_tls_resumed(const struct conn *c);
/* "TLSv1.3" once the handshake is done ("" before, NULL for a plaintext conn). */
const char *conn_tls_version(const struct conn *c);

#endif
