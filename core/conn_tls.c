/* core/conn_tls.c: a tls/ session as the conn's byte transform.
 *
 * Owns: struct conn_tls (the transport's struct conn_xf first, then the session), one per
 * TLS conn, allocated when the conn is accepted on a TLS listener (or a wss:// backend conn
 * is dialled) and freed with the conn, so plaintext conns pay for none of it. The transform
 * ops only move bytes between the session and the conn's queues: ciphertext from the ring
 * goes in, plaintext goes up to the layer above; plaintext from the layer above goes in,
 * records go to c->out. The handshake's own messages and alerts land in c->out the same way,
 * and the conn is put on the flush list whenever c->out grew, so they leave at the end of the
 * turn like everything else (one send per turn, on the ring).
 *
 * The server context set is published like the route table (conn_tls_publish): SIGHUP's new
 * certificates are used by new handshakes, and open sessions keep the wolfSSL context they
 * were made from (wolfSSL counts its references).
 *
 * Rejected: a TLS session slab sized at start (wolfSSL allocates per session anyway, and a
 * fixed slab would charge every gateway the worst case of TLS connections). */
#include "core/conn_tls.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/config.h"
#include "core/conn.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/worker.h"
#include "router/rt.h"
#include "tls/tls.h"

struct conn_tls {
	struct conn_xf xf; /* first: what the transport sees */
	struct tls_session *s;
	bool hs_counted; /* client conns: tls_handshakes_total has its outcome */
};

/* tls_handshakes_total{version,result}, once per client-facing session: success when it
 * opens, failure on a TLS error before that, aborted when the conn is freed first (EOF,
 * reset, --handshake-timeout). Backend (wss://) sessions are not counted here: a backend's
 * failure already shows in wsgate_backend_failures_total. */
static void conn_tls_count(struct worker *w, struct conn *c, struct conn_tls *t,
                           enum metrics_tls_result r)
{
	if (c->role != CONN_CLIENT || t->hs_counted)
		return;
	t->hs_counted = true;
	enum metrics_tls_version v = METRICS_TLS_UNKNOWN;
	if (r == METRICS_TLS_OK)
		v = metrics_tls_version_of(tls_session_version(t->s));
	metrics_worker_tls_handshake(w->m, v, r);
}

/* written: control thread (exchange); read: workers (acquire), once per handshake */
static _Atomic(struct tls_ctx *) conn_tls_ctx;

static void conn_tls_ctx_free(void *p)
{
	tls_ctx_free(p);
}

struct tls_ctx *conn_tls_server_ctx_new(const struct wsg_config *cfg, bool *failed, char *err,
                                        size_t err_len)
{
	*failed = false;
	if (cfg->n_tls_listen == 0 || cfg->n_tls_pairs == 0)
		return NULL;
	struct tls_pair *pairs = calloc(cfg->n_tls_pairs, sizeof(*pairs));
	if (pairs == NULL) {
		snprintf(err, err_len, "wsgate: --tls-cert: out of memory");
		*failed = true;
		return NULL;
	}
	for (unsigned i = 0; i < cfg->n_tls_pairs; i++) {
		pairs[i] = (struct tls_pair){cfg->tls_cert[i], cfg->tls_key[i]};
		/* A private key others can read is served all the same, but said out loud. */
		struct stat st;
		if (stat(cfg->tls_key[i], &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) &&
		    (st.st_mode & S_IROTH)) {
			char q[300];
			LOG_WARN(
			    "tls_key_readable",
			    "file=\"%s\" mode=%03o why=\"readable by other users\"",
			    log_escape(q, sizeof(q), cfg->tls_key[i], strlen(cfg->tls_key[i]), 200),
			    (unsigned)(st.st_mode & 0777));
		}
	}
	char why[400];
	struct tls_ctx *ctx =
	    tls_server_ctx_new(pairs, cfg->n_tls_pairs,
	                       cfg->tls_min_version == 13 ? TLS_V13 : TLS_V12, why, sizeof(why));
	free(pairs);
	if (ctx == NULL) {
		snprintf(err, err_len, "wsgate: --tls-cert/--tls-key: %s", why);
		*failed = true;
	}
	return ctx;
}

void conn_tls_publish(struct tls_ctx *next)
{
	struct tls_ctx *old = atomic_exchange_explicit(&conn_tls_ctx, next, memory_order_acq_rel);
	if (old != NULL && rt_retire_object(old, conn_tls_ctx_free) != 0)
		LOG_WARN("tls_retire", "why=\"out of memory: the old context set is leaked\"");
}

struct tls_ctx *conn_tls_current(void)
{
	return atomic_load_explicit(&conn_tls_ctx, memory_order_acquire);
}

struct conn_tls_up {
	struct worker *w;
	struct conn *c;
	void (*deliver)(struct worker *w, struct conn *c, uint8_t *pt, size_t len);
};

static void conn_tls_deliver(void *arg, uint8_t *pt, size_t len)
{
	struct conn_tls_up *up = arg;
	up->deliver(up->w, up->c, pt, len);
}

static int conn_tls_input(struct worker *w, struct conn *c, const uint8_t *p, size_t n,
                          void (*deliver)(struct worker *w, struct conn *c, uint8_t *pt,
                                          size_t len))
{
	struct conn_tls *t = (struct conn_tls *)c->xf;
	struct conn_tls_up up = {w, c, deliver};
	uint32_t before = rbuf_len(&c->out);
	bool was_open = tls_session_is_open(t->s);
	enum tls_rc rc = tls_session_input(t->s, p, n, &c->out, w->pool, conn_tls_deliver, &up);
	if (rbuf_len(&c->out) != before)
		worker_flush_later(w, c);
	if (!was_open && tls_session_is_open(t->s)) {
		conn_tls_count(w, c, t, METRICS_TLS_OK);
		LOG_DEBUG("tls_open", "slot=%u version=%s resumed=%d", c->slot,
		          tls_session_version(t->s), tls_session_resumed(t->s));
	}
	switch (rc) {
	case TLS_RC_OK:
		return 0;
	case TLS_RC_CLOSED:
		return CONN_XF_PEER_CLOSED;
	case TLS_RC_FAILED:
		break;
	}
	if (!tls_session_is_open(t->s))
		conn_tls_count(w, c, t, METRICS_TLS_FAILED);
	LOG_DEBUG("tls_fail", "slot=%u role=%s why=\"%s\"", c->slot,
	          c->role == CONN_CLIENT ? "client" : "backend", tls_session_error(t->s));
	return -1;
}

static int conn_tls_output(struct worker *w, struct conn *c, const uint8_t *p, size_t n,
                           size_t *taken)
{
	struct conn_tls *t = (struct conn_tls *)c->xf;
	uint32_t before = rbuf_len(&c->out);
	enum tls_rc rc = tls_session_output(t->s, p, n, taken, &c->out, w->pool);
	if (rbuf_len(&c->out) != before)
		worker_flush_later(w, c);
	return rc == TLS_RC_OK ? 0 : -1;
}

static void conn_tls_goodbye(struct worker *w, struct conn *c)
{
	struct conn_tls *t = (struct conn_tls *)c->xf;
	if (tls_session_is_open(t->s))
		tls_session_close_notify(t->s, &c->out, w->pool);
}

static void conn_tls_release(struct worker *w, struct conn *c)
{
	struct conn_tls *t = (struct conn_tls *)c->xf;
	conn_tls_count(w, c, t, METRICS_TLS_ABORTED); /* a no-op once the outcome is known */
	tls_session_free(t->s, w->pool);
	free(t);
}

static const struct conn_xform conn_tls_xform = {
    .input = conn_tls_input,
    .output = conn_tls_output,
    .goodbye = conn_tls_goodbye,
    .release = conn_tls_release,
};

static int conn_tls_attach(struct conn *c, struct tls_session *s)
{
	if (s == NULL)
		return -1;
	struct conn_tls *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		tls_session_free(s, NULL);
		return -1;
	}
	t->xf.ops = &conn_tls_xform;
	t->s = s;
	c->xf = &t->xf;
	return 0;
}

int conn_tls_attach_server(struct worker *w, struct conn *c, struct tls_ctx *ctx)
{
	(void)w;
	if (ctx == NULL)
		return -1;
	return conn_tls_attach(c, tls_session_new_server(ctx));
}

int conn_tls_attach_client(struct worker *w, struct conn *c, struct tls_ctx *ctx,
                           const char *server_name, void *resume)
{
	if (ctx == NULL || conn_tls_attach(c, tls_session_new_client(ctx, server_name)) != 0)
		return -1;
	/* Offer the last session to this backend: a resumed handshake instead of a full one, so
	 * a reconnect storm does not cost the backends a full handshake per client. */
	if (resume != NULL)
		tls_session_resume(((struct conn_tls *)c->xf)->s, resume);
	/* The client speaks first: its ClientHello goes out with the first flush after the
	 * connect completes. */
	struct conn_tls *t = (struct conn_tls *)c->xf;
	uint32_t before = rbuf_len(&c->out);
	enum tls_rc rc = tls_session_input(t->s, NULL, 0, &c->out, w->pool, NULL, NULL);
	if (rbuf_len(&c->out) != before)
		worker_flush_later(w, c);
	return rc == TLS_RC_FAILED ? -1 : 0;
}

void *conn_tls_save(const struct conn *c)
{
	if (c->xf == NULL || c->xf->ops != &conn_tls_xform)
		return NULL;
	return tls_session_save(((const struct conn_tls *)c->xf)->s);
}

void conn_tls_saved_free(void *saved)
{
	tls_saved_free(saved);
}

bool conn_tls_resumed(const struct conn *c)
{
	return c->xf != NULL && c->xf->ops == &conn_tls_xform &&
	       tls_session_resumed(((const struct conn_tls *)c->xf)->s);
}

const char *conn_tls_version(const struct conn *c)
{
	if (c->xf == NULL || c->xf->ops != &conn_tls_xform)
		return NULL;
	return tls_session_version(((const struct conn_tls *)c->xf)->s);
}
