/* Fuzz target for tls/tls.c, server side: the input is what a client sends, fed to a fresh
 * server session whole and again in pieces, and these invariants are asserted with abort():
 *   - tls_session_input returns only TLS_RC_OK, TLS_RC_CLOSED or TLS_RC_FAILED, and once
 *     FAILED or CLOSED keeps returning it;
 *   - plaintext is delivered only once the handshake is complete, in pieces of 1..16 KiB;
 *   - what the session appends to out stays under 64 KiB per input (the server's first flight
 *     and an alert are a few KiB: anything near that bound is amplification);
 *   - tls_session_buffered() never exceeds one record (5 + 2^16 bytes);
 *   - after the session is freed, every rbuf block is back in the pool;
 *   - fed in pieces, the stream reaches the same verdict as fed whole: last rc, whether the
 *     handshake completed, plaintext bytes delivered and the failure reason.
 * Input: byte 0 picks the piece size (0: whole only, else also that many bytes per call);
 * the rest is the client's byte stream. The server's random differs per run, so only
 * verdicts are compared, never the bytes it sends.
 *
 * The server certificate is a self-signed P-256 one generated once at start-up with
 * wolfCrypt (WOLFSSL_CERT_GEN is on in Debian's build), written to two temporary files for
 * tls_server_ctx_new and unlinked at once: no key is embedded or committed. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <wolfssl/options.h> /* first: it configures every other wolfSSL header */

#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>

#include "core/rbuf.h"
#include "tls/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_BOUND (64u * 1024u)

static struct tls_ctx *ctx;
static struct rbuf_pool *pool;

static void die(const char *why)
{
	fprintf(stderr, "fuzz_tls_server: %s\n", why);
	abort();
}

static void write_tmp(char *tmpl, const uint8_t *p, size_t n)
{
	int fd = mkstemp(tmpl);
	if (fd < 0 || write(fd, p, n) != (ssize_t)n || close(fd) != 0)
		die("cannot write a temporary file");
}

static void setup(void)
{
	static uint8_t der[4096], pem[8192];
	WC_RNG rng;
	ecc_key key;
	Cert cert;
	char cert_path[] = "/tmp/fuzz_tls_cert_XXXXXX", key_path[] = "/tmp/fuzz_tls_key_XXXXXX";
	char err[256];

	if (wc_InitRng(&rng) != 0 || wc_ecc_init(&key) != 0 ||
	    wc_ecc_make_key_ex(&rng, 32, &key, ECC_SECP256R1) != 0)
		die("cannot make a key");
	wc_InitCert(&cert);
	snprintf(cert.subject.commonName, CTC_NAME_SIZE, "fuzz.example");
	cert.selfSigned = 1;
	cert.daysValid = 30;
	cert.sigType = CTC_SHA256wECDSA;
	int n = wc_MakeCert_ex(&cert, der, sizeof(der), ECC_TYPE, &key, &rng);
	if (n > 0)
		n = wc_SignCert_ex(cert.bodySz, cert.sigType, der, sizeof(der), ECC_TYPE, &key,
		                   &rng);
	if (n <= 0)
		die("cannot make a certificate");
	n = wc_DerToPem(der, (word32)n, pem, sizeof(pem), CERT_TYPE);
	if (n <= 0)
		die("cannot encode the certificate");
	write_tmp(cert_path, pem, (size_t)n);
	n = wc_EccKeyToDer(&key, der, sizeof(der));
	if (n > 0)
		n = wc_DerToPem(der, (word32)n, pem, sizeof(pem), ECC_PRIVATEKEY_TYPE);
	if (n <= 0)
		die("cannot encode the key");
	write_tmp(key_path, pem, (size_t)n);
	wc_ecc_free(&key);
	wc_FreeRng(&rng);

	struct tls_pair pair = {cert_path, key_path};
	ctx = tls_server_ctx_new(&pair, 1, TLS_V12, err, sizeof(err));
	unlink(cert_path);
	unlink(key_path);
	if (ctx == NULL)
		die(err);
	pool = rbuf_pool_new(64, 1u << 17, 64u << 20);
	if (pool == NULL)
		die("no pool");
}

struct run {
	struct tls_session *s;
	size_t delivered;
};

static void deliver(void *arg, uint8_t *pt, size_t len)
{
	struct run *r = arg;
	(void)pt;
	if (!tls_session_is_open(r->s))
		die("plaintext before the handshake completed");
	if (len == 0 || len > 16384)
		die("plaintext piece size");
	r->delivered += len;
}

struct verdict {
	enum tls_rc rc;    /* the last call's */
	bool open;         /* handshake complete at the end */
	size_t delivered;  /* plaintext bytes */
	const char *error; /* tls_session_error at the end */
};

/* Feeds [data, data + size) to a fresh server session, piece bytes per call. */
static struct verdict feed(const uint8_t *data, size_t size, size_t piece)
{
	struct rbuf out = {0};
	struct run r = {0};
	enum tls_rc rc = TLS_RC_OK, sticky = TLS_RC_OK;
	size_t sent = 0;

	r.s = tls_session_new_server(ctx);
	if (r.s == NULL) {
		/* The contract allows NULL (out of memory: core refuses the conn). One NULL was
		 * seen in ~850k sessions of a 5-minute run and never again on replay or in 12M
		 * bare wolfSSL_new calls (wolfSSL's DRBG seed self-test is a suspect): count it
		 * and retry once, but two in a row is a finding. */
		fprintf(stderr, "fuzz_tls_server: tls_session_new_server NULL, retrying\n");
		r.s = tls_session_new_server(ctx);
		if (r.s == NULL)
			die("no session twice in a row");
	}
	for (size_t off = 0; off < size || off == 0;) {
		size_t k = size - off < piece ? size - off : piece;
		rc = tls_session_input(r.s, data + off, k, &out, pool, deliver, &r);
		if (rc != TLS_RC_OK && rc != TLS_RC_CLOSED && rc != TLS_RC_FAILED)
			die("unknown rc");
		if (sticky != TLS_RC_OK && rc != sticky)
			die("FAILED or CLOSED did not stick");
		if (rc != TLS_RC_OK)
			sticky = rc;
		if (rc == TLS_RC_FAILED && tls_session_error(r.s)[0] == '\0')
			die("failure without a reason");
		if (tls_session_buffered(r.s) > 5u + 65535u)
			die("buffered more than a record");
		sent += rbuf_len(&out);
		if (sent >= OUT_BOUND)
			die("out grew past 64 KiB");
		rbuf_consume(&out, pool, rbuf_len(&out));
		off += k;
		if (k == 0)
			break;
	}
	if (r.delivered > 0 && !tls_session_is_open(r.s))
		die("delivered without a handshake");
	struct verdict v = {rc, tls_session_is_open(r.s), r.delivered, tls_session_error(r.s)};
	tls_session_free(r.s, pool);
	rbuf_release(&out, pool);
	if (rbuf_pool_blocks_in_use(pool) != 0)
		die("rbuf blocks leaked");
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (ctx == NULL)
		setup();
	if (size == 0)
		return 0;
	size_t piece = data[0];
	data++;
	size--;
	struct verdict whole = feed(data, size, size > 0 ? size : 1);
	if (piece == 0 || piece >= size)
		return 0;
	/* Split feeding must reach the same verdict as whole feeding. */
	struct verdict split = feed(data, size, piece);
	if (split.rc != whole.rc || split.open != whole.open ||
	    split.delivered != whole.delivered || strcmp(split.error, whole.error) != 0)
		die("split feeding differs from whole feeding");
	return 0;
}
