/* tls/tls.c: wolfSSL contexts and per-conn sessions as a byte transform over rbufs.
 *
 * Owns: one WOLFSSL_CTX per certificate pair (a server set) or one (a client context), the
 * name table SNI is matched against, the session-ticket master secret, and per conn one
 * WOLFSSL plus a few words of framing state. wolfSSL never sees a socket: its receive callback
 * reads from the ciphertext the current tls_session_input call was given, and returns
 * WOLFSSL_CBIO_ERR_WANT_READ when that is used up; its send callback appends to the out rbuf
 * of the current call. The input is always drained (wolfSSL_read is called until it wants
 * more), so no ciphertext outlives a call except what wolfSSL itself keeps of an incomplete
 * record; tls_session_buffered() reports that by following the record framing (5-byte
 * headers and their lengths) of the bytes handed over.
 *
 * Threads: contexts are built and freed by the control thread and never change after
 * tls_*_ctx_new returns; sessions belong to one worker. A session holds a reference on its
 * tls_ctx (atomic, since the last drop may happen on either thread), because wolfSSL's own
 * WOLFSSL_CTX reference counting does not cover what our callbacks point at (the SNI name
 * table and the ticket secret). Departure from STYLE 6: wolfSSL_new, wolfSSL_free and
 * wolfSSL_set_SSL_CTX take the WOLFSSL_CTX's reference-count mutex, once per session on the
 * worker (short and rarely contended; a WOLFSSL_CTX per worker would avoid it at the cost of
 * loading every certificate once per core).
 *
 * SNI: every certificate's names (SAN DNS entries, else the subject CN) are read once, at
 * build; the servername callback matches exactly, then "*." + everything after the first
 * label, and switches the session to that pair's WOLFSSL_CTX with wolfSSL_set_SSL_CTX.
 *
 * Tickets: one callback for the whole set (so a ticket issued under one pair resumes under
 * another), ChaCha20-Poly1305 with a key derived per 12-hour period as
 * HMAC-SHA256(master, period). A ticket of the previous period is still accepted (and
 * replaced), anything older is refused (full handshake): keys rotate twice a day and live at
 * most a day, with no mutable state shared between workers. The IV comes from the session's
 * own RNG (wolfSSL_GetRNG), so no lock is taken.
 *
 * Rejected: a session-owned copy of the ciphertext (a stash rbuf the receive callback reads
 * from): wolfSSL already keeps an incomplete record in its input buffer, so a stash would
 * only add a copy; wolfSSL's default ticket callback (its keys are per WOLFSSL_CTX, so SNI
 * switching would break resumption across pairs, and its rotation mutates the context from
 * worker threads); wolfSSL's server session cache (a global, locked table: tickets carry the
 * state instead); memory BIOs (an extra copy each way and the OpenSSL-compat layer). */
#include "tls/tls.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <wolfssl/options.h> /* first: it configures every other wolfSSL header */

#include <wolfssl/error-ssl.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>

#define TLS_PT_MAX        16384u /* plaintext delivered per piece (one record's worth) */
#define TLS_NAME_MAX      253u   /* DNS name */
#define TLS_TICKET_PERIOD (12 * 3600)
#define TLS_ALPN          "http/1.1"
#define TLS_TICKET_KEY_SZ 32
#define TLS_TICKET_NONCE  12
#define TLS_TICKET_TAG    16
#define TLS_TICKET_ID_SZ  8 /* key_name = ctx id (8) | period (8, big endian) */

/* Server preference, fastest first as measured by bench/micro_tls.c (docs/BENCHMARKS.md):
 * Debian's wolfSSL has no AES-NI, so ChaCha20-Poly1305 (~200 MB/s encrypt + decrypt) leads
 * AES-128-GCM (~80) and AES-256-GCM (~68). TLS 1.2: ECDHE with AEAD only (no static RSA,
 * CBC, RC4, 3DES). The TLS 1.3 CCM suites are left out (slower still, CCM_8 weaker). */
static const char tls_cipher_list[] = "TLS13-CHACHA20-POLY1305-SHA256:"
                                      "TLS13-AES128-GCM-SHA256:"
                                      "TLS13-AES256-GCM-SHA384:"
                                      "ECDHE-ECDSA-CHACHA20-POLY1305:"
                                      "ECDHE-RSA-CHACHA20-POLY1305:"
                                      "ECDHE-ECDSA-AES128-GCM-SHA256:"
                                      "ECDHE-RSA-AES128-GCM-SHA256:"
                                      "ECDHE-ECDSA-AES256-GCM-SHA384:"
                                      "ECDHE-RSA-AES256-GCM-SHA384";

struct tls_name {
	char name[TLS_NAME_MAX + 1]; /* lower case; may start with "*." */
	unsigned pair;               /* index into ctxs */
};

struct tls_ctx {
	_Atomic unsigned refs;  /* 1 for the owner + 1 per live session */
	bool server;            /* a tls_server_ctx_new set */
	bool verify;            /* client: chain and host name checked */
	unsigned n;             /* ctxs in use */
	WOLFSSL_CTX **ctxs;     /* ctxs[0]: the default pair (or the client context) */
	struct tls_name *names; /* server: names of every pair, in pair order */
	size_t n_names;
	uint8_t ticket_id[TLS_TICKET_ID_SZ];      /* tells our tickets from a previous set's */
	uint8_t ticket_master[TLS_TICKET_KEY_SZ]; /* per-period keys derive from this */
};

struct tls_session {
	WOLFSSL *ssl;
	struct tls_ctx *ctx; /* holds a reference */
	const uint8_t *in_p; /* ciphertext of the current call not yet given to wolfSSL */
	size_t in_n;
	struct rbuf *out;       /* the current call's out, NULL between calls */
	struct rbuf_pool *pool; /* the current call's pool */
	const char *err;        /* static reason after a failure, "" before */
	int pair;               /* server: pair chosen by SNI; client: -1 */
	uint32_t rec_have;      /* bytes of the current record handed over (header included) */
	uint32_t rec_len;       /* its total length once the header is known, else 0 */
	uint8_t rec_hdr[5];     /* the header as it arrives */
	bool server;
	bool open;        /* handshake complete */
	bool closed;      /* close_notify received */
	bool failed;      /* fatal error seen */
	bool notify_sent; /* our close_notify appended */
	bool out_oom;     /* the send callback could not append */
};

/* One line in err: "what" or "what: why" (what names the file when there is one). */
static void tls_err(char *err, size_t err_len, const char *what, const char *why)
{
	if (err != NULL && err_len > 0)
		snprintf(err, err_len, "%s%s%s", what, why != NULL ? ": " : "",
		         why != NULL ? why : "");
}

static int tls_lib_init(void)
{
	static atomic_bool inited;
	static atomic_flag busy = ATOMIC_FLAG_INIT;

	if (atomic_load(&inited))
		return 0;
	while (atomic_flag_test_and_set(&busy))
		;
	int rc = 0;
	if (!atomic_load(&inited)) {
		if (wolfSSL_Init() != WOLFSSL_SUCCESS)
			rc = -1;
		else
			atomic_store(&inited, true);
	}
	atomic_flag_clear(&busy);
	return rc;
}

/* ---- I/O callbacks: the only way wolfSSL sees bytes ---- */

/* Follows the record framing of the bytes handed to wolfSSL, for tls_session_buffered. */
static void tls_track_records(struct tls_session *s, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (s->rec_have < 5) {
			s->rec_hdr[s->rec_have++] = *p++;
			n--;
			if (s->rec_have == 5)
				s->rec_len = 5u + (((uint32_t)s->rec_hdr[3] << 8) | s->rec_hdr[4]);
		} else {
			uint32_t want = s->rec_len - s->rec_have;
			uint32_t take = n < want ? (uint32_t)n : want;
			s->rec_have += take;
			p += take;
			n -= take;
		}
		if (s->rec_have == 5 && s->rec_len == 5) {
			s->rec_have = 0; /* an empty record */
			s->rec_len = 0;
		} else if (s->rec_have >= 5 && s->rec_have == s->rec_len) {
			s->rec_have = 0;
			s->rec_len = 0;
		}
	}
}

static int tls_io_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_session *s = arg;

	(void)ssl;
	if (s->in_n == 0 || sz <= 0)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	size_t n = s->in_n < (size_t)sz ? s->in_n : (size_t)sz;
	memcpy(buf, s->in_p, n);
	tls_track_records(s, s->in_p, n);
	s->in_p += n;
	s->in_n -= n;
	return (int)n;
}

static int tls_io_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_session *s = arg;

	(void)ssl;
	if (sz <= 0)
		return 0;
	if (s->out == NULL || rbuf_append(s->out, s->pool, buf, (size_t)sz) != 0) {
		s->out_oom = true;
		return WOLFSSL_CBIO_ERR_GENERAL;
	}
	return sz;
}

/* ---- names and SNI ---- */

static void tls_lower(char *dst, const char *src, size_t cap)
{
	size_t i = 0;
	for (; src[i] != '\0' && i + 1 < cap; i++) {
		char c = src[i];
		dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	dst[i] = '\0';
}

static int tls_add_name(struct tls_ctx *c, const char *name, unsigned pair)
{
	if (name == NULL || name[0] == '\0' || strlen(name) > TLS_NAME_MAX)
		return 0; /* not a DNS name we could ever match */
	struct tls_name *nn = realloc(c->names, (c->n_names + 1) * sizeof(*nn));
	if (nn == NULL)
		return -1;
	c->names = nn;
	tls_lower(nn[c->n_names].name, name, sizeof(nn[c->n_names].name));
	nn[c->n_names].pair = pair;
	c->n_names++;
	return 0;
}

/* Reads the leaf certificate's names (SAN DNS entries, else the subject CN). */
static int tls_load_names(struct tls_ctx *c, WOLFSSL_X509 *x, unsigned pair)
{
	int rc = 0;
	bool any = false;
	char *alt;
	while ((alt = wolfSSL_X509_get_next_altname(x)) != NULL) {
		any = true;
		if (tls_add_name(c, alt, pair) != 0)
			rc = -1;
	}
	if (!any) {
		char cn[TLS_NAME_MAX + 1];
		WOLFSSL_X509_NAME *subj = wolfSSL_X509_get_subject_name(x);
		if (subj != NULL && wolfSSL_X509_NAME_get_text_by_NID(subj, NID_commonName, cn,
		                                                      (int)sizeof(cn)) > 0)
			rc = tls_add_name(c, cn, pair);
	}
	return rc;
}

/* Whether an EC private key (PEM file) belongs to the certificate x: 1 yes, 0 no, -1 the key
 * is not an EC key (wolfSSL_CTX_check_private_key's verdict stands then). Needed because
 * Debian's wolfSSL 5.5.4 check_private_key accepts any P-256 key for any P-256 certificate
 * (it catches RSA mismatches only): the public point derived from the key is compared with
 * the certificate's. */
static int tls_ec_key_matches(WOLFSSL_X509 *x, const char *key_file)
{
	static uint8_t pem[65536], der[65536];
	uint8_t cert_spki[1024], a[160], b[160];
	word32 a_len = sizeof(a), b_len = sizeof(b), idx = 0;
	int spki_len = (int)sizeof(cert_spki);
	ecc_key priv, pub;
	WC_RNG rng;
	int rc = 0;

	FILE *f = fopen(key_file, "rb");
	if (f == NULL)
		return 0;
	size_t n = fread(pem, 1, sizeof(pem), f);
	fclose(f);
	int der_len = wc_KeyPemToDer(pem, (int)n, der, (int)sizeof(der), NULL);
	explicit_bzero(pem, sizeof(pem));
	if (der_len <= 0)
		return 0;
	if (wc_GetPkcs8TraditionalOffset(der, &idx, (word32)der_len) < 0)
		idx = 0; /* not PKCS#8: a traditional key from the start */
	if (wc_ecc_init(&priv) != 0)
		goto out_zero;
	if (wc_EccPrivateKeyDecode(der, &idx, &priv, (word32)der_len) != 0) {
		rc = -1; /* not EC */
		goto out_free_priv;
	}
	if (wc_InitRng(&rng) != 0)
		goto out_free_priv;
	if (wc_ecc_set_rng(&priv, &rng) != 0 || wc_ecc_make_pub(&priv, NULL) != 0 ||
	    wc_ecc_export_x963(&priv, a, &a_len) != 0)
		goto out_free_rng;
	if (wolfSSL_X509_get_pubkey_buffer(x, cert_spki, &spki_len) != WOLFSSL_SUCCESS ||
	    wc_ecc_init(&pub) != 0)
		goto out_free_rng;
	idx = 0;
	if (wc_EccPublicKeyDecode(cert_spki, &idx, &pub, (word32)spki_len) == 0 &&
	    wc_ecc_export_x963(&pub, b, &b_len) == 0)
		rc = a_len == b_len && memcmp(a, b, a_len) == 0;
	wc_ecc_free(&pub);
out_free_rng:
	wc_FreeRng(&rng);
out_free_priv:
	wc_ecc_free(&priv);
out_zero:
	explicit_bzero(der, sizeof(der));
	return rc;
}

/* The pair for server name sni: exact match first, then a one-label wildcard; 0 otherwise. */
static unsigned tls_pick_pair(const struct tls_ctx *c, const char *sni)
{
	char name[TLS_NAME_MAX + 1];

	if (sni == NULL || sni[0] == '\0' || strlen(sni) > TLS_NAME_MAX)
		return 0;
	tls_lower(name, sni, sizeof(name));
	for (size_t i = 0; i < c->n_names; i++)
		if (strcmp(c->names[i].name, name) == 0)
			return c->names[i].pair;
	const char *dot = strchr(name, '.');
	if (dot == NULL || dot == name || dot[1] == '\0')
		return 0;
	for (size_t i = 0; i < c->n_names; i++) {
		const char *w = c->names[i].name;
		if (w[0] == '*' && w[1] == '.' && strcmp(w + 1, dot) == 0)
			return c->names[i].pair;
	}
	return 0;
}

static int tls_sni_cb(WOLFSSL *ssl, int *ad, void *arg)
{
	struct tls_ctx *c = arg;
	struct tls_session *s = wolfSSL_GetIOReadCtx(ssl);

	(void)ad;
	unsigned pair = tls_pick_pair(c, wolfSSL_get_servername(ssl, WOLFSSL_SNI_HOST_NAME));
	if (s != NULL)
		s->pair = (int)pair;
	if (pair != 0 && wolfSSL_set_SSL_CTX(ssl, c->ctxs[pair]) == NULL)
		return fatal_return;
	return 0;
}

/* ---- session tickets ---- */

static void tls_put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t tls_get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static int tls_ticket_key(const struct tls_ctx *c, uint64_t period, uint8_t key[TLS_TICKET_KEY_SZ])
{
	Hmac h;
	uint8_t msg[8];
	int rc = -1;

	tls_put64(msg, period);
	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		return -1;
	if (wc_HmacSetKey(&h, WC_SHA256, c->ticket_master, sizeof(c->ticket_master)) == 0 &&
	    wc_HmacUpdate(&h, msg, sizeof(msg)) == 0 && wc_HmacFinal(&h, key) == 0)
		rc = 0;
	wc_HmacFree(&h);
	return rc;
}

static int tls_ticket_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                         unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                         unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
                         int in_len, int *out_len, void *arg)
{
	const struct tls_ctx *c = arg;
	uint8_t key[TLS_TICKET_KEY_SZ];
	uint64_t now = (uint64_t)time(NULL) / TLS_TICKET_PERIOD;
	int ret = WOLFSSL_TICKET_RET_OK;

	_Static_assert(WOLFSSL_TICKET_NAME_SZ == 2 * TLS_TICKET_ID_SZ, "key_name layout");
	_Static_assert(WOLFSSL_TICKET_IV_SZ >= TLS_TICKET_NONCE, "nonce fits");
	_Static_assert(WOLFSSL_TICKET_MAC_SZ >= TLS_TICKET_TAG, "tag fits");
	if (in_len <= 0)
		return WOLFSSL_TICKET_RET_REJECT;
	if (enc) {
		WC_RNG *rng = wolfSSL_GetRNG(ssl);
		memcpy(key_name, c->ticket_id, TLS_TICKET_ID_SZ);
		tls_put64(key_name + TLS_TICKET_ID_SZ, now);
		memset(iv, 0, WOLFSSL_TICKET_IV_SZ);
		memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
		if (rng == NULL || wc_RNG_GenerateBlock(rng, iv, TLS_TICKET_NONCE) != 0 ||
		    tls_ticket_key(c, now, key) != 0 ||
		    wc_ChaCha20Poly1305_Encrypt(key, iv, key_name, WOLFSSL_TICKET_NAME_SZ, ticket,
		                                (word32)in_len, ticket, mac) != 0)
			ret = WOLFSSL_TICKET_RET_FATAL;
		*out_len = in_len;
	} else {
		uint64_t period = tls_get64(key_name + TLS_TICKET_ID_SZ);
		if (memcmp(key_name, c->ticket_id, TLS_TICKET_ID_SZ) != 0 || period > now ||
		    period + 1 < now)
			return WOLFSSL_TICKET_RET_REJECT;
		if (tls_ticket_key(c, period, key) != 0 ||
		    wc_ChaCha20Poly1305_Decrypt(key, iv, key_name, WOLFSSL_TICKET_NAME_SZ, ticket,
		                                (word32)in_len, mac, ticket) != 0)
			ret = WOLFSSL_TICKET_RET_REJECT;
		else if (period != now)
			ret = WOLFSSL_TICKET_RET_CREATE; /* still good: reissue under today's key */
		*out_len = in_len;
	}
	explicit_bzero(key, sizeof(key));
	return ret;
}

/* ---- contexts ---- */

static void tls_ctx_put(struct tls_ctx *c)
{
	if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (unsigned i = 0; i < c->n; i++)
		wolfSSL_CTX_free(c->ctxs[i]);
	free(c->ctxs);
	free(c->names);
	explicit_bzero(c->ticket_master, sizeof(c->ticket_master));
	free(c);
}

void tls_ctx_free(struct tls_ctx *c)
{
	if (c != NULL)
		tls_ctx_put(c);
}

static struct tls_ctx *tls_ctx_alloc(unsigned n, bool server)
{
	struct tls_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->ctxs = calloc(n, sizeof(*c->ctxs));
	if (c->ctxs == NULL) {
		free(c);
		return NULL;
	}
	atomic_init(&c->refs, 1);
	c->server = server;
	return c;
}

/* Settings every context of ours shares. */
static const char *tls_ctx_common(WOLFSSL_CTX *x, int min_version)
{
	if (wolfSSL_CTX_SetMinVersion(x, min_version) != WOLFSSL_SUCCESS)
		return "cannot set the minimum TLS version";
	if (wolfSSL_CTX_set_cipher_list(x, tls_cipher_list) != WOLFSSL_SUCCESS)
		return "cannot set the cipher list";
	wolfSSL_CTX_SetIORecv(x, tls_io_recv);
	wolfSSL_CTX_SetIOSend(x, tls_io_send);
	return NULL;
}

static int tls_wolf_version(enum tls_version v)
{
	return v == TLS_V13 ? WOLFSSL_TLSV1_3 : WOLFSSL_TLSV1_2;
}

struct tls_ctx *tls_server_ctx_new(const struct tls_pair *pairs, unsigned n, enum tls_version min,
                                   char *err, size_t err_len)
{
	struct tls_ctx *c;
	WC_RNG rng;

	if (pairs == NULL || n == 0) {
		tls_err(err, err_len, "no certificate configured", NULL);
		return NULL;
	}
	if (tls_lib_init() != 0) {
		tls_err(err, err_len, "wolfSSL_Init failed", NULL);
		return NULL;
	}
	c = tls_ctx_alloc(n, true);
	if (c == NULL)
		goto out_oom;
	if (wc_InitRng(&rng) != 0)
		goto out_free_c;
	int rr = wc_RNG_GenerateBlock(&rng, c->ticket_master, sizeof(c->ticket_master));
	if (rr == 0)
		rr = wc_RNG_GenerateBlock(&rng, c->ticket_id, sizeof(c->ticket_id));
	wc_FreeRng(&rng);
	if (rr != 0) {
		tls_err(err, err_len, "cannot seed the session-ticket key", NULL);
		goto out_free_c;
	}
	for (unsigned i = 0; i < n; i++) {
		const char *cert = pairs[i].cert_file, *key = pairs[i].key_file;
		const char *why;
		if (cert == NULL || key == NULL) {
			tls_err(err, err_len, "certificate pair without a file", NULL);
			goto out_free_c;
		}
		WOLFSSL_CTX *x = wolfSSL_CTX_new(wolfSSLv23_server_method());
		if (x == NULL)
			goto out_oom_c;
		c->ctxs[c->n++] = x;
		why = tls_ctx_common(x, tls_wolf_version(min));
		if (why != NULL) {
			tls_err(err, err_len, why, NULL);
			goto out_free_c;
		}
		if (wolfSSL_CTX_use_certificate_chain_file(x, cert) != WOLFSSL_SUCCESS) {
			tls_err(err, err_len, cert,
			        "cannot read or parse the certificate chain (PEM)");
			goto out_free_c;
		}
		if (wolfSSL_CTX_use_PrivateKey_file(x, key, WOLFSSL_FILETYPE_PEM) !=
		    WOLFSSL_SUCCESS) {
			tls_err(err, err_len, key, "cannot read or parse the private key (PEM)");
			goto out_free_c;
		}
		if (wolfSSL_CTX_check_private_key(x) != WOLFSSL_SUCCESS) {
			tls_err(err, err_len, key, "private key does not match its certificate");
			goto out_free_c;
		}
		WOLFSSL_X509 *leaf = wolfSSL_X509_load_certificate_file(cert, WOLFSSL_FILETYPE_PEM);
		if (leaf == NULL) {
			tls_err(err, err_len, cert, "cannot read the certificate");
			goto out_free_c;
		}
		int names_rc = tls_load_names(c, leaf, i);
		int ec_rc = tls_ec_key_matches(leaf, key);
		wolfSSL_X509_free(leaf);
		if (ec_rc == 0) {
			tls_err(err, err_len, key, "private key does not match its certificate");
			goto out_free_c;
		}
		if (names_rc != 0) {
			tls_err(err, err_len, cert, "cannot read the certificate's names");
			goto out_free_c;
		}
		/* Server order; no session cache (tickets carry the state); one ticket callback
		 * and secret for the whole set. */
		wolfSSL_CTX_set_options(x, WOLFSSL_OP_CIPHER_SERVER_PREFERENCE);
		wolfSSL_CTX_set_session_cache_mode(x, WOLFSSL_SESS_CACHE_OFF);
		wolfSSL_CTX_set_servername_callback(x, tls_sni_cb);
		wolfSSL_CTX_set_servername_arg(x, c);
		if (wolfSSL_CTX_set_TicketEncCb(x, tls_ticket_cb) != WOLFSSL_SUCCESS ||
		    wolfSSL_CTX_set_TicketEncCtx(x, c) != WOLFSSL_SUCCESS ||
		    wolfSSL_CTX_set_TicketHint(x, TLS_TICKET_PERIOD) != WOLFSSL_SUCCESS) {
			tls_err(err, err_len, "cannot set up session tickets", NULL);
			goto out_free_c;
		}
	}
	return c;

out_oom_c:
	tls_err(err, err_len, "out of memory", NULL);
out_free_c:
	tls_ctx_put(c);
	return NULL;
out_oom:
	tls_err(err, err_len, "out of memory", NULL);
	return NULL;
}

struct tls_ctx *tls_client_ctx_new(const char *ca_file, bool verify, char *err, size_t err_len)
{
	struct tls_ctx *c;
	const char *why;

	if (tls_lib_init() != 0) {
		tls_err(err, err_len, "wolfSSL_Init failed", NULL);
		return NULL;
	}
	c = tls_ctx_alloc(1, false);
	if (c == NULL) {
		tls_err(err, err_len, "out of memory", NULL);
		return NULL;
	}
	c->verify = verify;
	WOLFSSL_CTX *x = wolfSSL_CTX_new(wolfSSLv23_client_method());
	if (x == NULL) {
		tls_err(err, err_len, "out of memory", NULL);
		goto out_free_c;
	}
	c->ctxs[c->n++] = x;
	why = tls_ctx_common(x, WOLFSSL_TLSV1_2);
	if (why != NULL) {
		tls_err(err, err_len, why, NULL);
		goto out_free_c;
	}
	if (wolfSSL_CTX_UseSessionTicket(x) != WOLFSSL_SUCCESS) {
		tls_err(err, err_len, "cannot enable session tickets", NULL);
		goto out_free_c;
	}
	if (!verify) {
		wolfSSL_CTX_set_verify(x, WOLFSSL_VERIFY_NONE, NULL);
		return c;
	}
	wolfSSL_CTX_set_verify(x, WOLFSSL_VERIFY_PEER, NULL);
	if (ca_file != NULL) {
		if (wolfSSL_CTX_load_verify_locations(x, ca_file, NULL) != WOLFSSL_SUCCESS) {
			tls_err(err, err_len, ca_file, "cannot read or parse the CA bundle (PEM)");
			goto out_free_c;
		}
	} else if (wolfSSL_CTX_load_system_CA_certs(x) != WOLFSSL_SUCCESS) {
		tls_err(err, err_len, "cannot load the system CA certificates", NULL);
		goto out_free_c;
	}
	return c;

out_free_c:
	tls_ctx_put(c);
	return NULL;
}

int tls_ctx_set_versions(struct tls_ctx *c, enum tls_version min, enum tls_version max)
{
	if (c == NULL || max < min)
		return -1;
	for (unsigned i = 0; i < c->n; i++) {
		if (wolfSSL_CTX_SetMinVersion(c->ctxs[i], tls_wolf_version(min)) !=
		        WOLFSSL_SUCCESS ||
		    wolfSSL_CTX_set_max_proto_version(
		        c->ctxs[i], max == TLS_V13 ? TLS1_3_VERSION : TLS1_2_VERSION) !=
		        WOLFSSL_SUCCESS)
			return -1;
	}
	return 0;
}

int tls_ctx_set_ciphers(struct tls_ctx *c, const char *list)
{
	if (c == NULL || list == NULL)
		return -1;
	for (unsigned i = 0; i < c->n; i++)
		if (wolfSSL_CTX_set_cipher_list(c->ctxs[i], list) != WOLFSSL_SUCCESS)
			return -1;
	return 0;
}

/* ---- sessions ---- */

static struct tls_session *tls_session_new(struct tls_ctx *ctx, bool server)
{
	struct tls_session *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->ssl = wolfSSL_new(ctx->ctxs[0]);
	if (s->ssl == NULL) {
		free(s);
		return NULL;
	}
	wolfSSL_SetIOReadCtx(s->ssl, s);
	wolfSSL_SetIOWriteCtx(s->ssl, s);
	s->server = server;
	s->pair = server ? 0 : -1;
	s->err = "";
	s->ctx = ctx;
	atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
	return s;
}

struct tls_session *tls_session_new_server(struct tls_ctx *ctx)
{
	if (ctx == NULL || !ctx->server)
		return NULL;
	struct tls_session *s = tls_session_new(ctx, true);
	if (s == NULL)
		return NULL;
	/* A client offering only other protocols gets no_application_protocol; a client that
	 * offers no ALPN at all is served. */
	if (wolfSSL_UseALPN(s->ssl, (char *)TLS_ALPN, sizeof(TLS_ALPN) - 1,
	                    WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS) {
		tls_session_free(s, NULL);
		return NULL;
	}
	return s;
}

/* Whether name is an IP literal (never sent as SNI, RFC 6066 3). */
static bool tls_is_ip_literal(const char *name)
{
	if (strchr(name, ':') != NULL)
		return true;
	for (const char *p = name; *p != '\0'; p++)
		if ((*p < '0' || *p > '9') && *p != '.')
			return false;
	return true;
}

struct tls_session *tls_session_new_client(struct tls_ctx *ctx, const char *server_name)
{
	if (ctx == NULL || ctx->server)
		return NULL;
	struct tls_session *s = tls_session_new(ctx, false);
	if (s == NULL)
		return NULL;
	if (wolfSSL_UseALPN(s->ssl, (char *)TLS_ALPN, sizeof(TLS_ALPN) - 1,
	                    WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) != WOLFSSL_SUCCESS)
		goto out_free_s;
	if (server_name != NULL && server_name[0] != '\0') {
		size_t len = strlen(server_name);
		if (len > TLS_NAME_MAX)
			goto out_free_s;
		if (!tls_is_ip_literal(server_name) &&
		    wolfSSL_UseSNI(s->ssl, WOLFSSL_SNI_HOST_NAME, server_name, (word16)len) !=
		        WOLFSSL_SUCCESS)
			goto out_free_s;
		if (ctx->verify &&
		    wolfSSL_check_domain_name(s->ssl, server_name) != WOLFSSL_SUCCESS)
			goto out_free_s;
	}
	return s;

out_free_s:
	tls_session_free(s, NULL);
	return NULL;
}

void tls_session_free(struct tls_session *s, struct rbuf_pool *pool)
{
	(void)pool; /* no rbuf is held between calls */
	if (s == NULL)
		return;
	wolfSSL_free(s->ssl);
	tls_ctx_put(s->ctx);
	free(s);
}

static const char *tls_alert_reason(int code)
{
	switch (code) {
	case close_notify:
		return "alert received: close_notify";
	case unexpected_message:
		return "alert received: unexpected_message";
	case bad_record_mac:
		return "alert received: bad_record_mac";
	case record_overflow:
		return "alert received: record_overflow";
	case handshake_failure:
		return "alert received: handshake_failure";
	case bad_certificate:
		return "alert received: bad_certificate";
	case unsupported_certificate:
		return "alert received: unsupported_certificate";
	case certificate_revoked:
		return "alert received: certificate_revoked";
	case certificate_expired:
		return "alert received: certificate_expired";
	case certificate_unknown:
		return "alert received: certificate_unknown";
	case illegal_parameter:
		return "alert received: illegal_parameter";
	case unknown_ca:
		return "alert received: unknown_ca";
	case decode_error:
		return "alert received: decode_error";
	case decrypt_error:
		return "alert received: decrypt_error";
	case protocol_version:
		return "alert received: protocol_version";
	case insufficient_security:
		return "alert received: insufficient_security";
	case internal_error:
		return "alert received: internal_error";
	case inappropriate_fallback:
		return "alert received: inappropriate_fallback";
	case no_renegotiation:
		return "alert received: no_renegotiation";
	case missing_extension:
		return "alert received: missing_extension";
	case unsupported_extension:
		return "alert received: unsupported_extension";
	case unrecognized_name:
		return "alert received: unrecognized_name";
	case no_application_protocol:
		return "alert received: no_application_protocol";
	default:
		return "alert received";
	}
}

static const char *tls_reason(struct tls_session *s, int e)
{
	WOLFSSL_ALERT_HISTORY h;

	if (s->out_oom)
		return "out of memory";
	switch (e) {
	case FATAL_ERROR:
		memset(&h, 0, sizeof(h));
		if (wolfSSL_get_alert_history(s->ssl, &h) == WOLFSSL_SUCCESS &&
		    h.last_rx.level != 0)
			return tls_alert_reason(h.last_rx.code);
		return "alert received";
	case DOMAIN_NAME_MISMATCH:
		return "certificate verify failed: host name mismatch";
	case ASN_NO_SIGNER_E:
		return "certificate verify failed: unknown issuer";
	case ASN_AFTER_DATE_E:
	case ASN_BEFORE_DATE_E:
		return "certificate verify failed: outside its validity";
	case ASN_SIG_CONFIRM_E:
	case ASN_SIG_OID_E:
	case ASN_SIG_HASH_E:
	case ASN_SIG_KEY_E:
	case VERIFY_CERT_ERROR:
		return "certificate verify failed";
	case VERSION_ERROR:
		return "protocol version not accepted";
	case MATCH_SUITE_ERROR:
	case UNSUPPORTED_SUITE:
		return "no shared cipher suite";
	case UNKNOWN_ALPN_PROTOCOL_NAME_E:
		return "no application protocol in common";
	case VERIFY_MAC_ERROR:
	case DECRYPT_ERROR:
		return "bad record";
	case UNKNOWN_RECORD_TYPE:
	case LENGTH_ERROR:
	case PARSE_ERROR:
	case BUFFER_ERROR:
	case INCOMPLETE_DATA:
		return "bad record";
	case MEMORY_E:
	case MEMORY_ERROR:
		return "out of memory";
	default:
		return s->open ? "bad record" : "handshake failure";
	}
}

/* Records a fatal outcome of wolfSSL call result r (already not a success). Returns the rc. */
static enum tls_rc tls_settle(struct tls_session *s, int r)
{
	int e = wolfSSL_get_error(s->ssl, r);

	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return TLS_RC_OK;
	if (e == WOLFSSL_ERROR_ZERO_RETURN) {
		s->closed = true;
		return TLS_RC_CLOSED;
	}
	s->failed = true;
	s->err = tls_reason(s, e); /* wolfSSL's own negative code for anything but the above */
	return TLS_RC_FAILED;
}

static void tls_call_begin(struct tls_session *s, const uint8_t *p, size_t n, struct rbuf *out,
                           struct rbuf_pool *pool)
{
	s->in_p = p;
	s->in_n = n;
	s->out = out;
	s->pool = pool;
}

static void tls_call_end(struct tls_session *s)
{
	s->in_p = NULL;
	s->in_n = 0;
	s->out = NULL;
	s->pool = NULL;
}

enum tls_rc tls_session_input(struct tls_session *s, const uint8_t *p, size_t n, struct rbuf *out,
                              struct rbuf_pool *pool,
                              void (*deliver)(void *arg, uint8_t *pt, size_t len), void *arg)
{
	uint8_t pt[TLS_PT_MAX];
	enum tls_rc rc = TLS_RC_OK;
	int r;

	if (s->failed)
		return TLS_RC_FAILED;
	if (s->closed)
		return TLS_RC_CLOSED;
	tls_call_begin(s, p, n, out, pool);
	if (!s->open) {
		r = s->server ? wolfSSL_accept(s->ssl) : wolfSSL_connect(s->ssl);
		if (r != WOLFSSL_SUCCESS) {
			rc = tls_settle(s, r);
			goto out;
		}
		s->open = true;
		/* Idle sessions are most sessions: drop the handshake's hashes, key shares and
		 * certificate copies now. */
		wolfSSL_FreeHandshakeResources(s->ssl);
	}
	for (;;) {
		r = wolfSSL_read(s->ssl, pt, (int)sizeof(pt));
		if (r > 0) {
			if (deliver != NULL)
				deliver(arg, pt, (size_t)r);
			continue;
		}
		rc = tls_settle(s, r);
		break;
	}
out:
	tls_call_end(s);
	return rc;
}

enum tls_rc tls_session_output(struct tls_session *s, const uint8_t *p, size_t n, size_t *taken,
                               struct rbuf *out, struct rbuf_pool *pool)
{
	enum tls_rc rc = TLS_RC_OK;

	*taken = 0;
	if (s->failed)
		return TLS_RC_FAILED;
	if (!s->open || n == 0)
		return TLS_RC_OK;
	tls_call_begin(s, NULL, 0, out, pool);
	while (*taken < n) {
		size_t chunk = n - *taken > (size_t)INT32_MAX ? (size_t)INT32_MAX : n - *taken;
		int r = wolfSSL_write(s->ssl, p + *taken, (int)chunk);
		if (r <= 0) {
			int e = wolfSSL_get_error(s->ssl, r);
			s->failed = true;
			s->err = tls_reason(s, e);
			rc = TLS_RC_FAILED;
			break;
		}
		*taken += (size_t)r;
	}
	tls_call_end(s);
	return rc;
}

void tls_session_close_notify(struct tls_session *s, struct rbuf *out, struct rbuf_pool *pool)
{
	if (s->notify_sent || !s->open || s->failed)
		return;
	s->notify_sent = true;
	tls_call_begin(s, NULL, 0, out, pool);
	(void)wolfSSL_shutdown(s->ssl); /* sends the alert; the peer's reply is not awaited */
	tls_call_end(s);
}

bool tls_session_is_open(const struct tls_session *s)
{
	return s->open;
}

const char *tls_session_version(const struct tls_session *s)
{
	if (!s->open)
		return "";
	return wolfSSL_get_version(s->ssl);
}

bool tls_session_resumed(const struct tls_session *s)
{
	return s->open && wolfSSL_session_reused(s->ssl) == 1;
}

size_t tls_session_buffered(const struct tls_session *s)
{
	return s->rec_have;
}

const char *tls_session_error(const struct tls_session *s)
{
	return s->err;
}

int tls_session_pair(const struct tls_session *s)
{
	return s->pair;
}

const char *tls_session_cipher(const struct tls_session *s)
{
	const char *name = s->open ? wolfSSL_get_cipher_name(s->ssl) : NULL;
	return name != NULL ? name : "";
}

const char *tls_session_alpn(const struct tls_session *s)
{
	char *name = NULL;
	word16 len = 0;

	if (!s->open || wolfSSL_ALPN_GetProtocol(s->ssl, &name, &len) != WOLFSSL_SUCCESS ||
	    name == NULL || len != sizeof(TLS_ALPN) - 1 || memcmp(name, TLS_ALPN, len) != 0)
		return "";
	return TLS_ALPN;
}

void *tls_session_save(const struct tls_session *s)
{
	if (s == NULL || !s->open || s->server)
		return NULL;
	return wolfSSL_get1_session(s->ssl);
}

int tls_session_resume(struct tls_session *s, void *saved)
{
	if (s == NULL || saved == NULL || s->server || s->open)
		return -1;
	return wolfSSL_set_session(s->ssl, saved) == WOLFSSL_SUCCESS ? 0 : -1;
}

void tls_saved_free(void *saved)
{
	if (saved != NULL)
		wolfSSL_SESSION_free(saved);
}
