#ifndef WSG_TLS_TLS_H
#define WSG_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rbuf.h"

/* TLS on wolfSSL as a byte transform: contexts (certificates, SNI, ALPN, versions, ciphers,
 * session tickets) and per-conn sessions that take ciphertext from the caller and give back
 * plaintext, and take plaintext and append ciphertext to the caller's rbuf. wolfSSL never
 * touches a socket and never blocks (custom I/O callbacks over in-memory buffers); the caller
 * (core) does all socket I/O on its ring. Contexts are built by the control thread and are
 * immutable once built; sessions belong to one worker thread. */

struct tls_ctx;
struct tls_session;

enum tls_version {
	TLS_V12 = 0,
	TLS_V13,
};

/* One certificate (chain, PEM) and its private key (PEM). */
struct tls_pair {
	const char *cert_file;
	const char *key_file;
};

/* A server context set: pairs[0] is the default; SNI picks the pair whose certificate names
 * (subjectAltName DNS entries, else the subject CN) match the client's server name exactly,
 * then a "*." wildcard of one label; no match or no SNI gets pairs[0]. TLS 1.2 and 1.3 from
 * min on (never older), server cipher order, TLS 1.2 with ECDHE and AEAD only, ALPN
 * "http/1.1" (a client offering only other protocols gets no_application_protocol), session
 * tickets with keys rotated at least daily, no renegotiation. Checks every file: readable,
 * parseable, key matching its certificate. NULL with one line in err (naming the file and
 * the reason) otherwise. Control thread. */
struct tls_ctx *tls_server_ctx_new(const struct tls_pair *pairs, unsigned n, enum tls_version min,
                                   char *err, size_t err_len);

/* A client context for wss:// backends: the chain verified against ca_file (PEM bundle;
 * NULL: the system bundle) when verify, TLS 1.2 and 1.3, ALPN "http/1.1". NULL with one line
 * in err. Control thread. */
struct tls_ctx *tls_client_ctx_new(const char *ca_file, bool verify, char *err, size_t err_len);

/* Frees the context set; sessions made from it keep what they need alive (wolfSSL counts
 * references to its contexts), so this may run while they live. NULL is a no-op. */
void tls_ctx_free(struct tls_ctx *c);

/* Narrows the versions a context offers or accepts (a client pinned to TLS 1.2 for an old
 * backend; tests). 0, or -1 when max < min or wolfSSL refuses. Control thread, before any
 * session is made from c. */
int tls_ctx_set_versions(struct tls_ctx *c, enum tls_version min, enum tls_version max);

/* Replaces the cipher suites c offers or accepts, in preference order (wolfSSL names, ':'
 * separated, e.g. "TLS13-AES128-GCM-SHA256"); the caller keeps to ECDHE and AEAD suites.
 * 0, or -1 when wolfSSL refuses the list. Control thread, before any session is made from c
 * (benchmarks; an operator's cipher flag). */
int tls_ctx_set_ciphers(struct tls_ctx *c, const char *list);

/* A new server session on ctx (a tls_server_ctx_new one), or a client session that sends
 * server_name as SNI and, when the context verifies, checks the certificate against it.
 * NULL when out of memory. The worker thread that uses it from then on. */
struct tls_session *tls_session_new_server(struct tls_ctx *ctx);
struct tls_session *tls_session_new_client(struct tls_ctx *ctx, const char *server_name);
/* Frees s and its wolfSSL state; pool: where its buffers came from (today the session holds
 * no rbuf between calls: wolfSSL keeps a partial record in its own heap buffer, which
 * tls_session_buffered counts). NULL is a no-op. */
void tls_session_free(struct tls_session *s, struct rbuf_pool *pool);

enum tls_rc {
	TLS_RC_OK = 0,      /* progress (or nothing to do yet) */
	TLS_RC_CLOSED = -1, /* the peer sent close_notify: no more plaintext will come */
	TLS_RC_FAILED = -2, /* fatal: handshake failure, bad record, alert received; an alert
	                     * for the peer may have been appended to out: send it, then close */
};

/* Feeds ciphertext [p, p + n) (any split: records may straddle calls) and runs the handshake
 * or decrypts records. Plaintext is handed to deliver(arg, pt, len) as it is decrypted, in
 * pieces of at most 16 KiB, from a buffer valid for the call only. Handshake messages and
 * alerts to send are appended to out (from pool). A client session starts its handshake on
 * the first call (n may be 0). Renegotiation requests are refused; TLS 1.3 key updates are
 * handled. */
enum tls_rc tls_session_input(struct tls_session *s, const uint8_t *p, size_t n, struct rbuf *out,
                              struct rbuf_pool *pool,
                              void (*deliver)(void *arg, uint8_t *pt, size_t len), void *arg);

/* Encrypts plaintext [p, p + n) into records appended to out. Before the handshake is done
 * nothing is encrypted: *taken tells how many bytes were consumed (0 then, n once open).
 * TLS_RC_OK or TLS_RC_FAILED. */
enum tls_rc tls_session_output(struct tls_session *s, const uint8_t *p, size_t n, size_t *taken,
                               struct rbuf *out, struct rbuf_pool *pool);

/* Appends a close_notify alert to out (once). Only on an open session that has not failed:
 * a handshake not yet complete is abandoned, not closed, and a failed session has already
 * appended its fatal alert, so nothing is appended then: just close. */
void tls_session_close_notify(struct tls_session *s, struct rbuf *out, struct rbuf_pool *pool);

bool tls_session_is_open(const struct tls_session *s); /* handshake complete */
/* "TLSv1.2" / "TLSv1.3" once open, "" before; and whether the session was resumed. */
const char *tls_session_version(const struct tls_session *s);
bool tls_session_resumed(const struct tls_session *s);
/* Bytes the session holds for the peer's records not yet complete (counted by the caller
 * against its memory bounds). */
size_t tls_session_buffered(const struct tls_session *s);
/* After a failure: a short static reason for the log ("handshake failure", "bad record",
 * "alert received: ...", "certificate verify failed", ...). */
const char *tls_session_error(const struct tls_session *s);

/* Server: the index of the pair SNI chose (0 until the ClientHello is read, and for no
 * match); client: -1. For the log and tests. */
int tls_session_pair(const struct tls_session *s);
/* The negotiated suite's wolfSSL name once open ("TLS13-CHACHA20-POLY1305-SHA256"), "" before.
 * For the log and tests. */
const char *tls_session_cipher(const struct tls_session *s);
/* "http/1.1" once open when that was negotiated by ALPN, "" otherwise. */
const char *tls_session_alpn(const struct tls_session *s);

/* Client resumption for a per-backend cache. tls_session_save: a copy of an open client
 * session's resumption state (for TLS 1.3 the ticket comes after the handshake, so call it
 * once some input after tls_session_is_open has been fed), or NULL; the caller owns it and
 * may keep it past s. tls_session_resume: before the first tls_session_input of a new client
 * session, offers saved (borrows it; it stays the caller's); 0 or -1. tls_saved_free: NULL is
 * a no-op. A saved state may be shared by sessions of one thread at a time. */
void *tls_session_save(const struct tls_session *s);
int tls_session_resume(struct tls_session *s, void *saved);
void tls_saved_free(void *saved);

#endif
