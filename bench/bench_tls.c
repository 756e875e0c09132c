#include "bench/bench_tls.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>

/* Design note. wolfSSL drives the socket itself (wolfSSL_set_fd) instead of the
 * memory-BIO arrangement the gateway's tls/ module uses: the load tool has no rbuf layer to
 * feed, and letting wolfSSL read and write the non-blocking fd is the shortest correct path.
 * The context is built once on the main thread and only read afterwards, which wolfSSL
 * allows from many threads; every session belongs to one loop thread. Verification is on by
 * default (system store, or --ca), with SNI and a host name check; --insecure turns it off. */

struct bench_tls {
	WOLFSSL_CTX *ctx;
};

struct bench_tls *bench_tls_new(bool insecure, const char *ca_file, unsigned version, char *err,
                                size_t err_cap)
{
	static bool inited;
	struct bench_tls *t;

	if (!inited) {
		if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
			snprintf(err, err_cap, "wolfSSL_Init failed");
			return NULL;
		}
		inited = true;
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(err, err_cap, "out of memory");
		return NULL;
	}
	t->ctx = wolfSSL_CTX_new(version == 12   ? wolfTLSv1_2_client_method()
	                         : version == 13 ? wolfTLSv1_3_client_method()
	                                         : wolfSSLv23_client_method());
	if (t->ctx == NULL) {
		snprintf(err, err_cap, "cannot create a TLS context");
		goto out_free_t;
	}
	if (insecure) {
		wolfSSL_CTX_set_verify(t->ctx, WOLFSSL_VERIFY_NONE, NULL);
		return t;
	}
	if (ca_file != NULL) {
		if (wolfSSL_CTX_load_verify_locations(t->ctx, ca_file, NULL) != WOLFSSL_SUCCESS) {
			snprintf(err, err_cap, "--ca: cannot load CA certificates from '%s'",
			         ca_file);
			goto out_free_ctx;
		}
	} else if (wolfSSL_CTX_load_system_CA_certs(t->ctx) != WOLFSSL_SUCCESS) {
		snprintf(err, err_cap,
		         "cannot load the system CA store (use --ca FILE or --insecure)");
		goto out_free_ctx;
	}
	wolfSSL_CTX_set_verify(t->ctx, WOLFSSL_VERIFY_PEER, NULL);
	return t;

out_free_ctx:
	wolfSSL_CTX_free(t->ctx);
out_free_t:
	free(t);
	return NULL;
}

void bench_tls_free(struct bench_tls *t)
{
	if (t == NULL)
		return;
	wolfSSL_CTX_free(t->ctx);
	free(t);
	bench_tls_thread_done();
	wolfSSL_Cleanup();
}

void bench_tls_thread_done(void)
{
#ifdef FP_ECC
	/* wolfSSL built with FP_ECC caches fixed-point tables per thread until told. */
	wc_ecc_fp_free();
#endif
}

struct WOLFSSL *bench_tls_session_new(struct bench_tls *t, int fd, const char *host)
{
	WOLFSSL *s = wolfSSL_new(t->ctx);

	if (s == NULL)
		return NULL;
	if (wolfSSL_set_fd(s, fd) != WOLFSSL_SUCCESS)
		goto out_free_s;
	/* SNI only for names: RFC 6066 3 forbids literal addresses in server_name. */
	bool is_name = strchr(host, ':') == NULL && strspn(host, "0123456789.") != strlen(host);
	if (is_name && wolfSSL_UseSNI(s, WOLFSSL_SNI_HOST_NAME, host,
	                              (unsigned short)strlen(host)) != WOLFSSL_SUCCESS)
		goto out_free_s;
	if (wolfSSL_CTX_get_verify_mode(t->ctx) != WOLFSSL_VERIFY_NONE &&
	    wolfSSL_check_domain_name(s, host) != WOLFSSL_SUCCESS)
		goto out_free_s;
	/* Ask for a TLS 1.2 session ticket (RFC 5077), as browsers do: wsgate resumes 1.2
	 * sessions by ticket only, and --tls-resume needs one to offer. TLS 1.3 tickets come
	 * without asking. */
	wolfSSL_UseSessionTicket(s);
	return s;

out_free_s:
	wolfSSL_free(s);
	return NULL;
}

void bench_tls_session_free(struct WOLFSSL *s)
{
	if (s != NULL)
		wolfSSL_free(s);
}

static int bench_tls_rc_of(WOLFSSL *s, int ret)
{
	switch (wolfSSL_get_error(s, ret)) {
	case WOLFSSL_ERROR_WANT_READ:
		return BENCH_TLS_WANT_READ;
	case WOLFSSL_ERROR_WANT_WRITE:
		return BENCH_TLS_WANT_WRITE;
	case WOLFSSL_ERROR_ZERO_RETURN:
		return BENCH_TLS_EOF;
	case SOCKET_PEER_CLOSED_E:
	case SOCKET_ERROR_E:
		return BENCH_TLS_EOF;
	default:
		return BENCH_TLS_FAIL;
	}
}

int bench_tls_handshake(struct WOLFSSL *s)
{
	int ret = wolfSSL_connect(s);
	if (ret == WOLFSSL_SUCCESS)
		return BENCH_TLS_OK;
	int rc = bench_tls_rc_of(s, ret);
	return rc == BENCH_TLS_EOF ? BENCH_TLS_FAIL : rc;
}

ssize_t bench_tls_read(struct WOLFSSL *s, void *buf, size_t len)
{
	int want = len > INT_MAX ? INT_MAX : (int)len;
	int ret = wolfSSL_read(s, buf, want);
	if (ret > 0)
		return ret;
	if (ret == 0)
		return BENCH_TLS_EOF;
	return bench_tls_rc_of(s, ret);
}

ssize_t bench_tls_write(struct WOLFSSL *s, const void *buf, size_t len)
{
	int want = len > INT_MAX ? INT_MAX : (int)len;
	int ret = wolfSSL_write(s, buf, want);
	if (ret > 0)
		return ret;
	return bench_tls_rc_of(s, ret);
}

const char *bench_tls_why(struct WOLFSSL *s, char *buf, size_t cap)
{
	char tmp[WOLFSSL_MAX_ERROR_SZ];
	int e = wolfSSL_get_error(s, -1); /* -1: the last error stored on s */

	wolfSSL_ERR_error_string_n((unsigned long)e, tmp, sizeof(tmp));
	if (e == DOMAIN_NAME_MISMATCH || e == ASN_NO_SIGNER_E || e == VERIFY_CERT_ERROR ||
	    e == ASN_AFTER_DATE_E || e == ASN_SELF_SIGNED_E)
		snprintf(buf, cap, "certificate not trusted: %s (--ca FILE or --insecure)", tmp);
	else
		snprintf(buf, cap, "%s", tmp);
	return buf;
}

void *bench_tls_save(struct WOLFSSL *s)
{
	return s != NULL ? wolfSSL_get1_session(s) : NULL;
}

void bench_tls_resume(struct WOLFSSL *s, void *saved)
{
	if (s != NULL && saved != NULL)
		wolfSSL_set_session(s, saved);
}

void bench_tls_saved_free(void *saved)
{
	if (saved != NULL)
		wolfSSL_SESSION_free(saved);
}

bool bench_tls_reused(struct WOLFSSL *s)
{
	return s != NULL && wolfSSL_session_reused(s) == 1;
}
