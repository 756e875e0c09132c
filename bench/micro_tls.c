/* Microbenchmark for tls/tls.c on one core, client and server sessions in one thread through
 * memory (each side's out is the other's input), as the gateway drives them. Prints Markdown:
 *   - bulk: MB/s of plaintext for 16 KiB records per TLS 1.3 suite (the client encrypts, the
 *     server decrypts; one figure covers both, plus the server's decrypt alone);
 *   - full handshakes per second, TLS 1.3, ECDSA P-256 vs RSA 2048 server certificates (client
 *     and server CPU together, and the server's share alone), plus ticket resumptions;
 *   - heap per idle open session (glibc mallinfo2 deltas over 1,000 sessions, everything
 *     wolfSSL and tls.c allocate), server side alone and client side alone.
 * Certificates are generated with the openssl command into a mkdtemp directory, removed at
 * the end. The figures choose the server's cipher order in tls.c.
 *
 * Usage: micro_tls [seconds-per-case]   (default 1) */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rbuf.h"
#include "tls/tls.h"

static char dir[64];
static struct rbuf_pool *pool;
static double secs = 1.0;
static double server_time; /* seconds spent in server calls */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run(const char *cmd)
{
	char full[1024];
	snprintf(full, sizeof(full), "cd %s && ( %s ) >/dev/null 2>&1", dir, cmd);
	if (system(full) != 0) {
		fprintf(stderr, "micro_tls: failed: %s\n", cmd);
		exit(1);
	}
}

static const char *path(const char *name)
{
	static char bufs[4][128];
	static unsigned next;
	char *b = bufs[next++ % 4];
	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, name);
	return b;
}

struct side {
	struct tls_session *s;
	struct rbuf out;
	bool server;
	size_t got;
};

static void deliver(void *arg, uint8_t *pt, size_t len)
{
	struct side *sd = arg;
	(void)pt;
	sd->got += len;
}

static void xfer(struct side *from, struct side *to)
{
	static uint8_t buf[1 << 16];
	while (!rbuf_is_empty(&from->out)) {
		size_t n = rbuf_peek(&from->out, buf, sizeof(buf));
		rbuf_consume(&from->out, pool, n);
		double t0 = to->server ? now_s() : 0;
		enum tls_rc rc = tls_session_input(to->s, buf, n, &to->out, pool, deliver, to);
		if (to->server)
			server_time += now_s() - t0;
		if (rc != TLS_RC_OK) {
			fprintf(stderr, "micro_tls: %s failed: %s\n",
			        to->server ? "server" : "client", tls_session_error(to->s));
			exit(1);
		}
	}
}

static void handshake(struct side *c, struct side *sv)
{
	if (tls_session_input(c->s, NULL, 0, &c->out, pool, deliver, c) != TLS_RC_OK)
		exit(1);
	while (!rbuf_is_empty(&c->out) || !rbuf_is_empty(&sv->out)) {
		xfer(c, sv);
		xfer(sv, c);
	}
	if (!tls_session_is_open(c->s) || !tls_session_is_open(sv->s)) {
		fprintf(stderr, "micro_tls: handshake did not complete\n");
		exit(1);
	}
}

static void pair_new(struct side *c, struct side *sv, struct tls_ctx *cc, struct tls_ctx *sc)
{
	memset(c, 0, sizeof(*c));
	memset(sv, 0, sizeof(*sv));
	c->s = tls_session_new_client(cc, "bench.example");
	sv->s = tls_session_new_server(sc);
	sv->server = true;
	if (c->s == NULL || sv->s == NULL)
		exit(1);
}

static void side_free(struct side *sd)
{
	tls_session_free(sd->s, pool);
	rbuf_release(&sd->out, pool);
	sd->s = NULL;
}

static struct tls_ctx *server_ctx(const char *stem)
{
	char err[256], cert[128], key[128];
	snprintf(cert, sizeof(cert), "%s.pem", stem);
	snprintf(key, sizeof(key), "%s.key", stem);
	struct tls_pair p = {strdup(path(cert)), strdup(path(key))};
	struct tls_ctx *c = tls_server_ctx_new(&p, 1, TLS_V12, err, sizeof(err));
	free((void *)p.cert_file);
	free((void *)p.key_file);
	if (c == NULL) {
		fprintf(stderr, "micro_tls: %s\n", err);
		exit(1);
	}
	return c;
}

static struct tls_ctx *client_ctx(const char *suite)
{
	char err[256];
	struct tls_ctx *c = tls_client_ctx_new(NULL, false, err, sizeof(err));
	if (c == NULL || (suite != NULL && tls_ctx_set_ciphers(c, suite) != 0)) {
		fprintf(stderr, "micro_tls: client ctx: %s\n", c == NULL ? err : suite);
		exit(1);
	}
	return c;
}

static void bench_bulk(struct tls_ctx *sc, const char *suite)
{
	static uint8_t pt[16384];
	struct tls_ctx *cc = client_ctx(suite);
	struct side c, sv;
	double best = 0, best_srv = 0;

	memset(pt, 0x5a, sizeof(pt));
	pair_new(&c, &sv, cc, sc);
	handshake(&c, &sv);
	for (int rep = 0; rep < 3; rep++) {
		size_t total = 0;
		server_time = 0;
		double t0 = now_s(), t;
		do {
			for (int i = 0; i < 64; i++) {
				size_t taken;
				if (tls_session_output(c.s, pt, sizeof(pt), &taken, &c.out, pool) !=
				        TLS_RC_OK ||
				    taken != sizeof(pt))
					exit(1);
				xfer(&c, &sv);
				total += sizeof(pt);
			}
			t = now_s() - t0;
		} while (t < secs / 3);
		if (sv.got < total)
			exit(1);
		double mbs = (double)total / t / 1e6, srv = (double)total / server_time / 1e6;
		if (mbs > best)
			best = mbs;
		if (srv > best_srv)
			best_srv = srv;
	}
	printf("| %s | %.0f | %.0f |\n", suite, best, best_srv);
	side_free(&c);
	side_free(&sv);
	tls_ctx_free(cc);
}

static void bench_handshakes(struct tls_ctx *sc, const char *what, bool resume)
{
	struct tls_ctx *cc = client_ctx(NULL);
	struct side c, sv;
	void *saved = NULL;
	unsigned n = 0;

	if (resume) {
		pair_new(&c, &sv, cc, sc);
		handshake(&c, &sv);
		size_t taken;
		tls_session_output(sv.s, (const uint8_t *)"x", 1, &taken, &sv.out, pool);
		xfer(&sv, &c); /* the TLS 1.3 ticket came with the server's last flight */
		saved = tls_session_save(c.s);
		side_free(&c);
		side_free(&sv);
		if (saved == NULL)
			exit(1);
	}
	server_time = 0;
	double t0 = now_s(), t;
	do {
		pair_new(&c, &sv, cc, sc);
		if (saved != NULL && tls_session_resume(c.s, saved) != 0)
			exit(1);
		handshake(&c, &sv);
		if (resume != tls_session_resumed(sv.s))
			exit(1);
		side_free(&c);
		side_free(&sv);
		n++;
		t = now_s() - t0;
	} while (t < secs);
	printf("| %s%s | %.0f | %.0f |\n", what, resume ? ", resumed by ticket" : "", n / t,
	       n / server_time);
	tls_saved_free(saved);
	tls_ctx_free(cc);
}

#define IDLE_N 1000

/* Heap per open, idle session after each side sent one message of msg_len bytes. */
static void bench_idle(struct tls_ctx *sc, size_t msg_len)
{
	static struct side c[IDLE_N], sv[IDLE_N];
	static uint8_t msg[16384];
	struct tls_ctx *cc = client_ctx(NULL);

	size_t base = mallinfo2().uordblks;
	for (int i = 0; i < IDLE_N; i++) {
		pair_new(&c[i], &sv[i], cc, sc);
		handshake(&c[i], &sv[i]);
		size_t taken;
		tls_session_output(c[i].s, msg, msg_len, &taken, &c[i].out, pool);
		tls_session_output(sv[i].s, msg, msg_len, &taken, &sv[i].out, pool);
		xfer(&c[i], &sv[i]);
		xfer(&sv[i], &c[i]);
	}
	size_t both = mallinfo2().uordblks;
	for (int i = 0; i < IDLE_N; i++)
		side_free(&c[i]);
	size_t servers = mallinfo2().uordblks;
	for (int i = 0; i < IDLE_N; i++)
		side_free(&sv[i]);
	printf("| server session, idle after a %zu-byte message each way | %zu |\n", msg_len,
	       (servers - base) / IDLE_N);
	printf("| client session, idle after a %zu-byte message each way | %zu |\n", msg_len,
	       (both - servers) / IDLE_N);
	tls_ctx_free(cc);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		secs = atof(argv[1]);
	snprintf(dir, sizeof(dir), "/tmp/micro_tls_XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec.key "
	    "-out ec.pem -subj /CN=bench.example -days 2");
	run("openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem "
	    "-subj /CN=bench.example -days 2");
	pool = rbuf_pool_new(64, 1u << 20, 1u << 30);
	struct tls_ctx *ec = server_ctx("ec"), *rsa = server_ctx("rsa");

	printf("| TLS 1.3 suite, 16 KiB records | MB/s (encrypt + decrypt) | MB/s (server "
	       "decrypt) |\n|---|---:|---:|\n");
	bench_bulk(ec, "TLS13-CHACHA20-POLY1305-SHA256");
	bench_bulk(ec, "TLS13-AES128-GCM-SHA256");
	bench_bulk(ec, "TLS13-AES256-GCM-SHA384");
	printf("\n| TLS 1.3 handshake | per s (client + server) | per s (server CPU) "
	       "|\n|---|---:|---:|\n");
	bench_handshakes(ec, "ECDSA P-256", false);
	bench_handshakes(rsa, "RSA 2048", false);
	bench_handshakes(ec, "ECDSA P-256", true);
	printf("\n| heap per session (glibc, %d sessions) | bytes |\n|---|---:|\n", IDLE_N);
	bench_idle(ec, 4);
	bench_idle(ec, 16384);

	tls_ctx_free(ec);
	tls_ctx_free(rsa);
	rbuf_pool_free(pool);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
