#ifndef WSG_BENCH_BENCH_TLS_H
#define WSG_BENCH_BENCH_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* wolfSSL client side of wsgate-bench: one context for the run (shared read-only by every
 * loop thread after setup), one session per conn on its non-blocking socket. */

struct bench_tls;
struct WOLFSSL;

enum bench_tls_rc {
	BENCH_TLS_OK = 0,
	BENCH_TLS_WANT_READ = -1,  /* retry when the socket is readable */
	BENCH_TLS_WANT_WRITE = -2, /* retry when the socket is writable (same arguments) */
	BENCH_TLS_FAIL = -3,       /* fatal: bench_tls_why() says why */
	BENCH_TLS_EOF = -4,        /* the peer closed the connection */
};

/* A client context: verification against ca_file (PEM), or the system store when ca_file is
 * NULL, or none when insecure. NULL with the reason in err. Main thread, before the loops. */
struct bench_tls *bench_tls_new(bool insecure, const char *ca_file, unsigned version, char *err,
                                size_t err_cap);
void bench_tls_free(struct bench_tls *t);

/* Frees what wolfSSL keeps per thread (the FP_ECC point cache); each loop thread calls it
 * before it returns. */
void bench_tls_thread_done(void);

/* A session on fd, with SNI and (when verifying) the host name check for host. */
struct WOLFSSL *bench_tls_session_new(struct bench_tls *t, int fd, const char *host);
void bench_tls_session_free(struct WOLFSSL *s);

/* Session resumption (--tls-resume): a copy of s's session with the tickets it got (NULL when
 * none), offered by the next session of the loop; freed with bench_tls_saved_free. */
void *bench_tls_save(struct WOLFSSL *s);
void bench_tls_resume(struct WOLFSSL *s, void *saved);
void bench_tls_saved_free(void *saved);
/* True when s's finished handshake resumed a session. */
bool bench_tls_reused(struct WOLFSSL *s);

/* One step of the handshake: BENCH_TLS_OK when done. */
int bench_tls_handshake(struct WOLFSSL *s);
/* Bytes read (> 0), or a bench_tls_rc. */
ssize_t bench_tls_read(struct WOLFSSL *s, void *buf, size_t len);
/* Bytes written (all of len), or a bench_tls_rc; after WANT_WRITE call again with the same
 * bytes and length. */
ssize_t bench_tls_write(struct WOLFSSL *s, const void *buf, size_t len);
/* The reason for the last BENCH_TLS_FAIL on s, into buf. */
const char *bench_tls_why(struct WOLFSSL *s, char *buf, size_t cap);

#endif
