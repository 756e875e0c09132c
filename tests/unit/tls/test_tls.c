/* Unit tests for tls/tls.c: a client session and a server session handshake entirely in
 * memory (each side's out is the other's input), at every split point of the ClientHello and
 * one byte at a time; plaintext both ways; SNI selection; ALPN; versions; ticket resumption
 * (TLS 1.2 and 1.3); verification failures; garbage; close_notify; bad files.
 *
 * Certificates are generated at test time with the openssl command into a mkdtemp directory
 * (removed at the end): no private key is committed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/rbuf.h"
#include "tls/tls.h"

static char dir[64];
static struct rbuf_pool *pool;

static char *path(const char *name)
{
	static char bufs[8][128];
	static unsigned next;
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

static void run(const char *cmd)
{
	char full[2048];
	snprintf(full, sizeof(full), "cd %s && ( %s ) >/dev/null 2>&1", dir, cmd);
	if (system(full) != 0) {
		fprintf(stderr, "test_tls: failed: %s\n", cmd);
		abort();
	}
}

static const char ext_conf[] = "[ca]\n"
                               "basicConstraints=critical,CA:TRUE\n"
                               "keyUsage=critical,keyCertSign,cRLSign\n"
                               "[a]\n"
                               "subjectAltName=DNS:a.example\n"
                               "extendedKeyUsage=serverAuth\n"
                               "[b]\n"
                               "subjectAltName=DNS:*.b.example\n"
                               "extendedKeyUsage=serverAuth\n"
                               "[d]\n"
                               "subjectAltName=DNS:d.example\n"
                               "extendedKeyUsage=serverAuth\n";

#define EC  "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
#define RSA "-newkey rsa:2048 -nodes"

static int group_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/wsg_tls_XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	FILE *f = fopen(path("ext.cnf"), "w");
	if (f == NULL)
		return -1;
	fputs(ext_conf, f);
	fclose(f);
	/* Root CA, an intermediate, and a second unrelated CA. */
	run("openssl req -x509 " EC " -keyout ca.key -out ca.pem -subj /CN=wsg-test-ca -days 2 "
	    "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign");
	run("openssl req -x509 " EC " -keyout other.key -out other.pem -subj /CN=wsg-other-ca "
	    "-days 2 -addext basicConstraints=critical,CA:TRUE");
	run("openssl req " EC " -keyout int.key -out int.csr -subj /CN=wsg-test-int");
	run("openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
	    "-extfile ext.cnf -extensions ca -out int.pem");
	/* d.example: the default pair, P-256, straight from the root. */
	run("openssl req " EC " -keyout d.key -out d.csr -subj /CN=d.example");
	run("openssl x509 -req -in d.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
	    "-extfile ext.cnf -extensions d -out d.pem");
	/* a.example: P-256 via the intermediate, the chain file holds leaf then intermediate. */
	run("openssl req " EC " -keyout a.key -out a.csr -subj /CN=a.example");
	run("openssl x509 -req -in a.csr -CA int.pem -CAkey int.key -CAcreateserial -days 2 "
	    "-extfile ext.cnf -extensions a -out a.leaf");
	run("cat a.leaf int.pem > a.pem");
	/* *.b.example: RSA 2048 from the root. */
	run("openssl req " RSA " -keyout b.key -out b.csr -subj /CN=b-wildcard");
	run("openssl x509 -req -in b.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
	    "-extfile ext.cnf -extensions b -out b.pem");
	/* A CN-only certificate (no SAN) for c.example. */
	run("openssl req -x509 " EC " -keyout c.key -out c.pem -subj /CN=c.example -days 2");
	pool = rbuf_pool_new(64, 1u << 21, 256u << 20);
	return pool == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		return -1;
	if (rbuf_pool_blocks_in_use(pool) != 0)
		return -1;
	rbuf_pool_free(pool);
	return 0;
}

/* ---- the two ends ---- */

struct side {
	struct tls_session *s;
	struct rbuf out; /* what this side sends */
	uint8_t *got;    /* plaintext received */
	size_t got_n, got_cap;
	enum tls_rc last; /* worst rc seen */
};

static void deliver(void *arg, uint8_t *pt, size_t len)
{
	struct side *sd = arg;
	assert_true(len > 0 && len <= 16384);
	assert_true(tls_session_is_open(sd->s));
	if (sd->got_n + len > sd->got_cap) {
		sd->got_cap = (sd->got_n + len) * 2;
		sd->got = realloc(sd->got, sd->got_cap);
		assert_non_null(sd->got);
	}
	memcpy(sd->got + sd->got_n, pt, len);
	sd->got_n += len;
}

static void side_init(struct side *sd, struct tls_session *s)
{
	memset(sd, 0, sizeof(*sd));
	assert_non_null(s);
	sd->s = s;
}

static void side_fini(struct side *sd)
{
	tls_session_free(sd->s, pool);
	rbuf_release(&sd->out, pool);
	free(sd->got);
	memset(sd, 0, sizeof(*sd));
}

static void note(struct side *sd, enum tls_rc rc)
{
	assert_true(rc == TLS_RC_OK || rc == TLS_RC_CLOSED || rc == TLS_RC_FAILED);
	if (rc < sd->last)
		sd->last = rc;
}

/* Moves everything from->out into to: the first piece `first` bytes (0: no special first
 * piece), then pieces of `step` bytes (0: the rest at once). */
static void xfer(struct side *from, struct side *to, size_t first, size_t step)
{
	size_t len = rbuf_len(&from->out);
	if (len == 0)
		return;
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	assert_int_equal(rbuf_peek(&from->out, buf, len), len);
	rbuf_consume(&from->out, pool, len);
	size_t off = 0;
	while (off < len) {
		size_t piece = len - off;
		if (off == 0 && first > 0 && first < piece)
			piece = first;
		else if (step > 0 && step < piece)
			piece = step;
		note(to, tls_session_input(to->s, buf + off, piece, &to->out, pool, deliver, to));
		off += piece;
	}
	free(buf);
}

/* Runs the exchange until both sides are quiet. cfirst/sfirst: first-piece sizes for the
 * client's and the server's first flights; step: piece size for everything. */
static void pump_ex(struct side *c, struct side *sv, size_t cfirst, size_t sfirst, size_t step)
{
	bool first_c = true, first_s = true;
	for (int round = 0; round < 50; round++) {
		if (rbuf_is_empty(&c->out) && rbuf_is_empty(&sv->out))
			return;
		bool fc = first_c && !rbuf_is_empty(&c->out);
		xfer(c, sv, fc ? cfirst : 0, step);
		if (fc)
			first_c = false;
		bool fs = first_s && !rbuf_is_empty(&sv->out);
		xfer(sv, c, fs ? sfirst : 0, step);
		if (fs)
			first_s = false;
	}
	fail_msg("exchange did not settle");
}

static void start(struct side *c)
{
	note(c, tls_session_input(c->s, NULL, 0, &c->out, pool, deliver, c));
}

static void pump(struct side *c, struct side *sv)
{
	pump_ex(c, sv, 0, 0, 0);
}

static void send_pt(struct side *from, const void *p, size_t n)
{
	size_t taken = 0;
	assert_int_equal(tls_session_output(from->s, p, n, &taken, &from->out, pool), TLS_RC_OK);
	assert_int_equal(taken, n);
}

static struct tls_ctx *server_ctx(enum tls_version min)
{
	char err[256] = "";
	struct tls_pair pairs[] = {
	    {path("d.pem"), path("d.key")},
	    {path("a.pem"), path("a.key")},
	    {path("b.pem"), path("b.key")},
	    {path("c.pem"), path("c.key")},
	};
	struct tls_ctx *c = tls_server_ctx_new(pairs, 4, min, err, sizeof(err));
	if (c == NULL)
		fail_msg("server ctx: %s", err);
	return c;
}

static struct tls_ctx *client_ctx(const char *ca, bool verify)
{
	char err[256] = "";
	struct tls_ctx *c =
	    tls_client_ctx_new(ca != NULL ? path(ca) : NULL, verify, err, sizeof(err));
	if (c == NULL)
		fail_msg("client ctx: %s", err);
	return c;
}

static void assert_both_ways(struct side *c, struct side *sv, size_t n)
{
	uint8_t *msg = malloc(n);
	assert_non_null(msg);
	for (size_t i = 0; i < n; i++)
		msg[i] = (uint8_t)(i * 7 + 3);
	size_t c0 = c->got_n, s0 = sv->got_n;
	for (size_t off = 0; off < n; off += 65536) {
		size_t k = n - off < 65536 ? n - off : 65536;
		send_pt(c, msg + off, k);
		send_pt(sv, msg + off, k);
		pump(c, sv);
	}
	assert_int_equal(sv->got_n - s0, n);
	assert_int_equal(c->got_n - c0, n);
	assert_memory_equal(sv->got + s0, msg, n);
	assert_memory_equal(c->got + c0, msg, n);
	free(msg);
}

/* ---- tests ---- */

static void test_handshake_at_every_split_of_client_hello(void **state)
{
	(void)state;
	struct tls_ctx *sc = server_ctx(TLS_V12), *cc = client_ctx("ca.pem", true);
	struct side c, sv;

	/* Learn the ClientHello's length once. */
	side_init(&c, tls_session_new_client(cc, "a.example"));
	start(&c);
	size_t hello = rbuf_len(&c.out);
	assert_true(hello > 50);
	side_fini(&c);

	for (size_t cut = 1; cut <= hello; cut++) {
		side_init(&c, tls_session_new_client(cc, "a.example"));
		side_init(&sv, tls_session_new_server(sc));
		start(&c);
		assert_int_equal(rbuf_len(&c.out), hello);
		pump_ex(&c, &sv, cut, 0, 0);
		assert_int_equal(c.last, TLS_RC_OK);
		assert_int_equal(sv.last, TLS_RC_OK);
		assert_true(tls_session_is_open(c.s));
		assert_true(tls_session_is_open(sv.s));
		if (cut == hello) {
			assert_string_equal(tls_session_version(c.s), "TLSv1.3");
			assert_string_equal(tls_session_version(sv.s), "TLSv1.3");
			assert_string_equal(tls_session_alpn(c.s), "http/1.1");
			assert_string_equal(tls_session_alpn(sv.s), "http/1.1");
			assert_int_equal(tls_session_pair(sv.s), 1);
			assert_int_equal(tls_session_pair(c.s), -1);
			assert_false(tls_session_resumed(c.s));
			assert_both_ways(&c, &sv, 5);
		}
		side_fini(&c);
		side_fini(&sv);
	}
	tls_ctx_free(cc);
	tls_ctx_free(sc);
}

static void test_server_flight_at_many_splits_and_one_byte_at_a_time(void **state)
{
	(void)state;
	struct tls_ctx *sc = server_ctx(TLS_V12), *cc = client_ctx("ca.pem", true);
	struct side c, sv;

	for (size_t cut = 1; cut < 3000; cut += 37) {
		side_init(&c, tls_session_new_client(cc, "a.example"));
		side_init(&sv, tls_session_new_server(sc));
		start(&c);
		pump_ex(&c, &sv, 0, cut, 0);
		assert_int_equal(c.last, TLS_RC_OK);
		assert_int_equal(sv.last, TLS_RC_OK);
		assert_true(tls_session_is_open(c.s) && tls_session_is_open(sv.s));
		side_fini(&c);
		side_fini(&sv);
	}
	side_init(&c, tls_session_new_client(cc, "a.example"));
	side_init(&sv, tls_session_new_server(sc));
	start(&c);
	pump_ex(&c, &sv, 0, 0, 1);
	assert_int_equal(c.last, TLS_RC_OK);
	assert_int_equal(sv.last, TLS_RC_OK);
	assert_true(tls_session_is_open(c.s) && tls_session_is_open(sv.s));
	send_pt(&c, "hello", 5);
	send_pt(&sv, "world!", 6);
	pump_ex(&c, &sv, 0, 0, 1);
	assert_int_equal(sv.got_n, 5);
	assert_memory_equal(sv.got, "hello", 5);
	assert_int_equal(c.got_n, 6);
	assert_memory_equal(c.got, "world!", 6);
	side_fini(&c);
	side_fini(&sv);
	tls_ctx_free(cc);
	tls_ctx_free(sc);
}

static void test_one_mib_both_ways_in_pieces_of_at_most_16k(void **state)
{
	(void)state;
	struct tls_ctx *sc = server_ctx(TLS_V12), *cc = client_ctx("ca.pem", true);
	struct side c, sv;

	side_init(&c, tls_session_new_client(cc, "d.example"));
	side_init(&sv, tls_session_new_server(sc));
	start(&c);
	pump(&c, &sv);
	assert_true(tls_session_is_open(c.s) && tls_session_is_open(sv.s));
	assert_both_ways(&c, &sv, 1u << 20);
	assert_int_equal(tls_session_buffered(c.s), 0);
	assert_int_equal(tls_session_buffered(sv.s), 0);
	side_fini(&c);
	side_fini(&sv);
	tls_ctx_free(cc);
	tls_ctx_free(sc);
}

/* Handshakes a client for name (verify against ca.pem when verify) and returns the pair the
 * server chose, or -2 when the handshake failed. */
static int sni_pair(struct tls_ctx *sc, const char *name, bool verify)
{
	struct tls_ctx *cc = client_ctx(verify ? "ca.pem" : NULL, verify);
	struct side c, sv;
	int pair = -2;

	side_init(&c, tls_session_new_client(cc, name));
	side_init(&sv, tls_session_new_server(sc));
	start(&c);
	pump(&c, &sv);
	if (c.last == TLS_RC_OK && sv.last == TLS_RC_OK && tls_session_is_open(c.s))
		pair = tls_session_pair(sv.s);
	side_fini(&c);
	side_fini(&sv);
	tls_ctx_free(cc);
	return pair;
}

static void test_sni_exact_then_one_label_wildcard_else_default(void **state)
{
	(void)state;
	struct tls_ctx *sc = server_ctx(TLS_V12);

	/* Verified clients: the certificate served really is the chosen pair's. */
	assert_int_equal(sni_pair(sc, "a.example", true), 1);
	assert_int_equal(sni_pair(sc, "A.Example", true), 1);
	assert_int_equal(sni_pair(sc, "x.b.example", true), 2);
	assert_int_equal(sni_pair(sc, "d.example", true), 0);
	/* c.pem has no SAN: its CN is the name. */
	assert_int_equal(sni_pair(sc, "c.example", false), 3);
	/* Two labels under the wildcard, the wildcard's own base, unknown, none: default. */
	assert_int_equal(sni_pair(sc, "x.y.b.example", false), 0);
	assert_int_equal(sni_pair(sc, "b.example", false), 0);
	assert_int_equal(sni_pair(sc, "nowhere.example", false), 0);
	assert_int_equal(sni_pair(sc, NULL, false), 0);
	/* The default certificate does not carry the name: verification refuses it. */
	assert_int_equal(sni_pair(sc, "x.y.b.example", true), -2);
	tls_ctx_free(sc);
}

/* Handshakes a client offering suites (TLS 1.2 only when v12) against the default server;
 * returns the suite chosen, or "" when the handshake failed. */
static const char *suite_chosen_for(const char *name_, const char *suites, bool v12)
{
	static char name[64];
	struct tls_ctx *sc = server_ctx(TLS_V12), *cc = client_ctx("ca.pem", true);
	struct side c, sv;

	if (v12)
		assert_int_equal(tls_ctx_set_versions(cc, TLS_V12, TLS_V12), 0);
	if (tls_ctx_set_ciphers(cc, suites) != 0)
		fail_msg("client refused suites %s", suites);
	side_init(&c, tls_session_new_client(cc, name_));
	side_init(&sv, tls_session_new_server(sc));
	start(&c);
	pump(&c, &sv);
	snprintf(name, sizeof(name), "%s", c.last == TLS_RC_OK ? tls_session_cipher(sv.s) : "");
	if (name[0] != '\0')
		assert_string_equal(tls_session_cipher(c.s), name);
	else
		assert_string_equal(tls_session_cipher(sv.s), "");
	side_fini(&c);
	side_fini(&sv);
	tls_ctx_free(cc);
	tls_ctx_free(sc);
	return name;
}

static const char *suite_chosen(const char *suites, bool v12)
{
	return suite_chosen_for("d.example", suites, v12);
}

static void test_server_order_and_tls12_ecdhe_aead_only(void **state)
{
	(void)state;
	assert_string_equal(suite_chosen("TLS13-AES256-GCM-SHA384:TLS13-AES128-GCM-SHA256:"
	                                 "TLS13-CHACHA20-POLY1305-SHA256",
	                                 false),
	                    "TLS13-CHACHA20-POLY1305-SHA256");
	assert_string_equal(suite_chosen("TLS13-AES256-GCM-SHA384:TLS13-AES128-GCM-SHA256", false),
	                    "TLS13-AES128-GCM-SHA256");
	assert_string_equal(suite_chosen("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-"
	                                 "SHA256:ECDHE-ECDSA-CHACHA20-POLY1305",
	                                 true),
	                    "ECDHE-ECDSA-CHACHA20-POLY1305");
	assert_string_equal(
	    suite_chosen_for("x.b.example",
	                     "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305", true),
	    "ECDHE-RSA-CHACHA20-POLY1305");
	/* No CBC and no finite-field DHE in TLS 1.2 (static RSA is not even compiled into
	 * Debian's wolfSSL). */
	assert_string_equal(suite_chosen("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA", true),
	                    "");
	assert_string_equal(suite_chosen_for("x.b.example",
	                                     "ECDHE-RSA-AES128-SHA256:DHE-RSA-AES128-GCM-SHA256",
	                                     true),
	                    "");
}

static void test_client_pinned_to_12_fails_against_server_min_13(void **state)
{
	(void)state;
	struct tls_ctx *sc = server_ctx(TLS_V13), *cc = client_ctx("ca.pem", true);
	struct side c, sv;

	assert_int_equal(tls_ctx_set_versions(cc, TLS_V12, TLS_V12), 0);
	assert_int_equal(tls_ctx_set_versions(cc, TLS_V13, TLS_V12), -1);
	side_init(&c, tls_session_new_client(cc, "a.example"));
	side_init(&sv, tls_session_new_server(sc));
	start(&c);
	pump(&c, &sv);
	assert_int_equal(sv.last, TLS_RC_FAILED);
	assert_int_equal(c.last, TLS_RC_FAILED);
	assert_false(tls_session_is_open(c.s));
	assert_false(tls_session_is_open(sv.s));
	assert_string_not_equal(tls_session_error(sv.s), "");
	assert_string_not_equal(tls_session_error(c.s), "");
	side_fini(&c);
	side_fini(&sv);
	tls_ctx_free(cc);
	tls_ctx_free(sc);
}

/* Full handshake, then a resumed one from the saved state; for max version v. */
static void resume_at(enum tls_version v, const char *want_version)
{
	struct tls_ctx *sc = server_ctx(TLS_V12), *cc = client_ctx("ca.pem", true);
	struct side c, sv;

	assert_int_equal(tls_ctx_set_versions(cc, TLS_V12, v), 0);
	side_init(&c, tls_session_new_client(cc, "x.b.example"));
	side_init(&sv, tls_session_new_server(sc));
	start(&c);
	pump(&c, &sv);
	assert_int_equal(c.last, TLS_RC_OK);
	assert_string_equal(tls_session_version(c.s), want_version);
	assert_false(tls_session_resumed(sv.s));
	assert_both_ways(&c, &sv, 10); /* a TLS 1.3 ticket comes after the handshake */
	void *saved = tls_session_save(c.s);
	assert_non_null(saved);
	assert_null(tls_session_save(sv.s));
	side_fini(&c);
	side_fini(&sv);

	for (int i = 0; i < 2; i++) {
		side_init(&c, tls_session_new_client(cc, "x.b.example"));
		side_init(&sv, tls_session_new_server(sc));
		assert_int_equal(tls_session_resume(c.s, saved), 0);
		start(&c);
		pump(&c, &sv);
		assert_int_equal(c.last, TLS_RC_OK);
		assert_int_equal(sv.last, TLS_RC_OK);
		assert_string_equal(tls_session_version(c.s), want_version);
		assert_true(tls_session_resumed(c.s));
		assert_true(tls_session_resumed(sv.s));
		assert_both_ways(&c, &sv, 100);
		side_fini(&c);
		side_fini(&sv);
	}
	tls_saved_free(saved);
	tls_saved_free(NULL);
	tls_ctx_free(cc);
	tls_ctx_free(sc);
}

static void test_client_offering_only_another_protocol_gets_no_application_protocol(void **state)
{
	(void)state;
	struct tls_ctx *sc = server_ctx(TLS_V12), *cc = client_ctx("ca.pem", true);
	struct side c, sv;
	uint8_t hello[4096], alert[7];

	side_init(&c, tls_session_new_client(cc, "a.example"));
	side_init(&sv, tls_session_new_server(sc));
	start(&c);
	size_t n = rbuf_peek(&c.out, hello, sizeof(hello));
	assert_int_equal(n, rbuf_len(&c.out));
	/* The ALPN list holds only "\x08http/1.1": make it "http/9.9". */
	uint8_t *p = memmem(hello, n, "\x08http/1.1", 9);
	assert_non_null(p);
	memcpy(p + 6, "9.9", 3);
	assert_int_equal(tls_session_input(sv.s, hello, n, &sv.out, pool, deliver, &sv),
	                 TLS_RC_FAILED);
	assert_string_equal(tls_session_error(sv.s), "no application protocol in common");
	/* A plaintext fatal alert, no_application_protocol (120, RFC 7301 3.2). */
	assert_int_equal(rbuf_peek(&sv.out, alert, sizeof(alert)), sizeof(alert));
	assert_int_equal(alert[0], 0x15);
	assert_int_equal(alert[5], 2);
	assert_int_equal(alert[6], 120);
	side_fini(&c);
	side_fini(&sv);
	tls_ctx_free(cc);
	tls_ctx_free(sc);
}

static void test_ticket_resumption_tls13(void **state)
{
	(void)state;
	resume_at(TLS_V13, "TLSv1.3");
}

static void test_tls12_works_when_allowed_and_resumes_by_ticket(void **state)
{
	(void)state;
	resume_at(TLS_V12, "TLSv1.2");
}

static void test_ticket_from_another_server_set_is_a_full_handshake(void **state)
{
	(void)state;
	struct tls_ctx *sc = server_ctx(TLS_V12), *sc2 = server_ctx(TLS_V12);
	struct tls_ctx *cc = client_ctx("ca.pem", true);
	struct side c, sv;

	side_init(&c, tls_session_new_client(cc, "a.example"));
	side_init(&sv, tls_session_new_server(sc));
	start(&c);
	pump(&c, &sv);
	assert_both_ways(&c, &sv, 10);
	void *saved = tls_session_save(c.s);
	assert_non_null(saved);
	side_fini(&c);
	side_fini(&sv);

	side_init(&c, tls_session_new_client(cc, "a.example"));
	side_init(&sv, tls_session_new_server(sc2));
	assert_int_equal(tls_session_resume(c.s, saved), 0);
	start(&c);
	pump(&c, &sv);
	assert_int_equal(c.last, TLS_RC_OK);
	assert_true(tls_session_is_open(sv.s));
	assert_false(tls_session_resumed(sv.s));
	side_fini(&c);
	side_fini(&sv);
	tls_saved_free(saved);
	tls_ctx_free(cc);
	tls_ctx_free(sc2);
	tls_ctx_free(sc);
}

static void verify_fails(const char *ca, const char *name, const char *want_err)
{
	struct tls_ctx *sc = server_ctx(TLS_V12), *cc = client_ctx(ca, true);
	struct side c, sv;

	side_init(&c, tls_session_new_client(cc, name));
	side_init(&sv, tls_session_new_server(sc));
	start(&c);
	pump(&c, &sv);
	assert_int_equal(c.last, TLS_RC_FAILED);
	assert_false(tls_session_is_open(c.s));
	assert_non_null(strstr(tls_session_error(c.s), want_err));
	/* The client's alert reaches the server, which fails too. */
	assert_int_equal(sv.last, TLS_RC_FAILED);
	assert_int_equal(sv.got_n, 0);
	side_fini(&c);
	side_fini(&sv);
	tls_ctx_free(cc);
	tls_ctx_free(sc);
}

static void test_verification_fails_against_a_wrong_ca(void **state)
{
	(void)state;
	verify_fails("other.pem", "a.example", "certificate verify failed");
}

static void test_verification_fails_for_a_wrong_host_name(void **state)
{
	(void)state;
	verify_fails("ca.pem", "d.example.org", "certificate verify failed");
}

static void test_garbage_fails_without_crash(void **state)
{
	(void)state;
	struct tls_ctx *sc = server_ctx(TLS_V12), *cc = client_ctx("ca.pem", true);
	static const uint8_t junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const uint8_t bad_rec[] = {
	    0x17, 0x03, 0x03, 0x00, 0x20, 1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,
	    15,   16,   17,   18,   19,   20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
	struct side c, sv;

	side_init(&sv, tls_session_new_server(sc));
	assert_int_equal(
	    tls_session_input(sv.s, junk, sizeof(junk) - 1, &sv.out, pool, deliver, &sv),
	    TLS_RC_FAILED);
	assert_string_not_equal(tls_session_error(sv.s), "");
	/* Failed stays failed. */
	assert_int_equal(tls_session_input(sv.s, junk, 3, &sv.out, pool, deliver, &sv),
	                 TLS_RC_FAILED);
	side_fini(&sv);

	/* A forged application-data record after the handshake: bad record. */
	side_init(&c, tls_session_new_client(cc, "a.example"));
	side_init(&sv, tls_session_new_server(sc));
	start(&c);
	pump(&c, &sv);
	assert_true(tls_session_is_open(sv.s));
	assert_int_equal(tls_session_input(sv.s, bad_rec, 3, &sv.out, pool, deliver, &sv),
	                 TLS_RC_OK);
	assert_int_equal(tls_session_buffered(sv.s), 3);
	assert_int_equal(
	    tls_session_input(sv.s, bad_rec + 3, sizeof(bad_rec) - 3, &sv.out, pool, deliver, &sv),
	    TLS_RC_FAILED);
	assert_string_not_equal(tls_session_error(sv.s), "");
	assert_int_equal(sv.got_n, 0);
	/* The alert the server appended makes the client fail as well. */
	xfer(&sv, &c, 0, 0);
	assert_int_equal(c.last, TLS_RC_FAILED);
	assert_non_null(strstr(tls_session_error(c.s), "alert received"));
	side_fini(&c);
	side_fini(&sv);
	tls_ctx_free(cc);
	tls_ctx_free(sc);
}

static void test_close_notify_gives_closed(void **state)
{
	(void)state;
	struct tls_ctx *sc = server_ctx(TLS_V12), *cc = client_ctx("ca.pem", true);
	struct side c, sv;
	size_t taken = 1;

	side_init(&c, tls_session_new_client(cc, "a.example"));
	side_init(&sv, tls_session_new_server(sc));
	assert_int_equal(tls_session_output(c.s, (const uint8_t *)"x", 1, &taken, &c.out, pool),
	                 TLS_RC_OK);
	assert_int_equal(taken, 0); /* not open yet */
	start(&c);
	pump(&c, &sv);
	send_pt(&c, "bye", 3);
	tls_session_close_notify(c.s, &c.out, pool);
	size_t once = rbuf_len(&c.out);
	tls_session_close_notify(c.s, &c.out, pool);
	assert_int_equal(rbuf_len(&c.out), once);
	xfer(&c, &sv, 0, 0);
	assert_int_equal(sv.last, TLS_RC_CLOSED);
	assert_int_equal(sv.got_n, 3);
	assert_int_equal(
	    tls_session_input(sv.s, (const uint8_t *)"zz", 2, &sv.out, pool, deliver, &sv),
	    TLS_RC_CLOSED);
	/* Half close: the side that got close_notify may still send (RFC 8446 6.1). */
	send_pt(&sv, "late", 4);
	xfer(&sv, &c, 0, 0);
	assert_int_equal(c.got_n, 4);
	assert_memory_equal(c.got, "late", 4);
	side_fini(&c);
	side_fini(&sv);
	tls_ctx_free(cc);
	tls_ctx_free(sc);
}

static void test_bad_files_refused_with_one_line_naming_the_file(void **state)
{
	(void)state;
	char err[256];
	struct tls_pair mismatched[] = {{path("d.pem"), path("d.key")},
	                                {path("a.pem"), path("d.key")}};
	struct tls_pair missing[] = {{path("nope.pem"), path("d.key")}};
	struct tls_pair missing_key[] = {{path("d.pem"), path("nope.key")}};

	err[0] = '\0';
	assert_null(tls_server_ctx_new(mismatched, 2, TLS_V12, err, sizeof(err)));
	assert_non_null(strstr(err, path("d.key")));
	assert_non_null(strstr(err, "does not match"));
	assert_null(strchr(err, '\n'));
	err[0] = '\0';
	assert_null(tls_server_ctx_new(missing, 1, TLS_V12, err, sizeof(err)));
	assert_non_null(strstr(err, path("nope.pem")));
	err[0] = '\0';
	assert_null(tls_server_ctx_new(missing_key, 1, TLS_V12, err, sizeof(err)));
	assert_non_null(strstr(err, path("nope.key")));
	err[0] = '\0';
	assert_null(tls_server_ctx_new(missing, 0, TLS_V12, err, sizeof(err)));
	assert_string_not_equal(err, "");
	err[0] = '\0';
	assert_null(tls_client_ctx_new(path("nope.pem"), true, err, sizeof(err)));
	assert_non_null(strstr(err, path("nope.pem")));
	tls_ctx_free(NULL);
	tls_session_free(NULL, pool);
}

static void test_ctx_freed_while_sessions_live(void **state)
{
	(void)state;
	struct tls_ctx *sc = server_ctx(TLS_V12), *cc = client_ctx("ca.pem", true);
	struct side c, sv;

	side_init(&c, tls_session_new_client(cc, "x.b.example"));
	side_init(&sv, tls_session_new_server(sc));
	tls_ctx_free(cc);
	tls_ctx_free(sc);
	start(&c);
	pump(&c, &sv);
	assert_int_equal(tls_session_pair(sv.s), 2);
	assert_both_ways(&c, &sv, 1000);
	side_fini(&c);
	side_fini(&sv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handshake_at_every_split_of_client_hello),
	    cmocka_unit_test(test_server_flight_at_many_splits_and_one_byte_at_a_time),
	    cmocka_unit_test(test_one_mib_both_ways_in_pieces_of_at_most_16k),
	    cmocka_unit_test(test_sni_exact_then_one_label_wildcard_else_default),
	    cmocka_unit_test(test_server_order_and_tls12_ecdhe_aead_only),
	    cmocka_unit_test(test_client_pinned_to_12_fails_against_server_min_13),
	    cmocka_unit_test(
	        test_client_offering_only_another_protocol_gets_no_application_protocol),
	    cmocka_unit_test(test_ticket_resumption_tls13),
	    cmocka_unit_test(test_tls12_works_when_allowed_and_resumes_by_ticket),
	    cmocka_unit_test(test_ticket_from_another_server_set_is_a_full_handshake),
	    cmocka_unit_test(test_verification_fails_against_a_wrong_ca),
	    cmocka_unit_test(test_verification_fails_for_a_wrong_host_name),
	    cmocka_unit_test(test_garbage_fails_without_crash),
	    cmocka_unit_test(test_close_notify_gives_closed),
	    cmocka_unit_test(test_bad_files_refused_with_one_line_naming_the_file),
	    cmocka_unit_test(test_ctx_freed_while_sessions_live),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
