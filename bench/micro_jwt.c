/* Microbenchmark for auth/jwt.c on one core: the full cost of jwt_verify() per token
 * (split, base64url, header JSON, key import, signature, claims JSON and checks) for
 * HS256, RS256 and PS256 (2048-bit key), ES256 (P-256) and EdDSA (Ed25519). Keys are made
 * with the openssl CLI in a mkdtemp directory and the tokens are signed by openssl, as in
 * tests/unit/auth/test_jwt.c; nothing private is kept. Each case repeats until at least
 * the given time of CLOCK_MONOTONIC has passed; prints a Markdown table.
 *
 * Usage: micro_jwt [seconds-per-case]   (default 0.5) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "auth/jwt.h"

static char dir[64];
static const uint8_t secret[] = "micro-jwt-hmac-secret-0123456789abcdef";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sh(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "micro_jwt: failed: %s\n", cmd);
		exit(1);
	}
}

static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

/* Makes a token for alg: HMAC here, or the openssl command writes the signature (dgst gets
 * the signing input file as its last argument, pkeyutl names it with -in itself). */
static void make(char *tok, const char *alg, const char *ossl)
{
	char hdr[64], cmd[1024], path[128];
	static const char claims[] = "{\"iss\":\"https://issuer.example\",\"aud\":\"wsgate\","
	                             "\"sub\":\"user-42\",\"exp\":1700000600,\"iat\":1699999990}";
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
	jwt_b64url_encode((const uint8_t *)hdr, strlen(hdr), tok);
	strcat(tok, ".");
	jwt_b64url_encode((const uint8_t *)claims, strlen(claims), tok + strlen(tok));
	uint8_t sig[512];
	size_t sn;
	if (ossl == NULL) {
		Hmac h;
		if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0 ||
		    wc_HmacSetKey(&h, WC_SHA256, secret, sizeof(secret) - 1) != 0 ||
		    wc_HmacUpdate(&h, (const uint8_t *)tok, (word32)strlen(tok)) != 0 ||
		    wc_HmacFinal(&h, sig) != 0)
			exit(1);
		wc_HmacFree(&h);
		sn = 32;
	} else {
		snprintf(path, sizeof(path), "%s/in", dir);
		FILE *f = fopen(path, "wb");
		if (f == NULL || fwrite(tok, 1, strlen(tok), f) != strlen(tok))
			exit(1);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "cd %s && %s -out sig%s", dir, ossl,
		         strstr(ossl, "pkeyutl") ? "" : " in");
		sh(cmd);
		snprintf(path, sizeof(path), "%s/sig", dir);
		sn = slurp(path, sig, sizeof(sig));
		if (strcmp(alg, "ES256") == 0) {
			uint8_t r[66], s[66];
			word32 rl = sizeof(r), sl = sizeof(s);
			if (wc_ecc_sig_to_rs(sig, (word32)sn, r, &rl, s, &sl) != 0)
				exit(1);
			memset(sig, 0, 64);
			memcpy(sig + 32 - rl, r, rl);
			memcpy(sig + 64 - sl, s, sl);
			sn = 64;
		}
	}
	strcat(tok, ".");
	jwt_b64url_encode(sig, sn, tok + strlen(tok));
}

static struct jwt_keys *pem(const char *name)
{
	char path[128], err[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	struct jwt_keys *k = jwt_keys_new();
	if (k == NULL || jwt_keys_add_pem_file(k, path, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "micro_jwt: %s\n", err);
		exit(1);
	}
	return k;
}

static void bench(const char *what, const struct jwt_keys *k, const char *tok, double secs)
{
	static const struct jwt_policy pol = {
	    .iss = "https://issuer.example", .aud = "wsgate", .leeway_s = 30};
	struct jwt_claims c;
	size_t n = strlen(tok);
	if (jwt_verify(k, tok, n, &pol, 1700000000, &c) != JWT_RC_OK) {
		fprintf(stderr, "micro_jwt: %s token rejected (%s)\n", what, jwt_rc_name(c.rc));
		exit(1);
	}
	uint64_t iters = 0;
	double t0 = now_s(), t;
	do {
		for (int i = 0; i < 16; i++)
			if (jwt_verify(k, tok, n, &pol, 1700000000, &c) != JWT_RC_OK)
				exit(1);
		iters += 16;
		t = now_s();
	} while (t - t0 < secs);
	double us = (t - t0) * 1e6 / (double)iters;
	printf("| %-22s | %5zu | %9.1f | %10.0f |\n", what, n, us, 1e6 / us);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	strcpy(dir, "/tmp/micro_jwt_XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
	         "cd %s && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "
	         "rsa.key 2>/dev/null && openssl pkey -in rsa.key -pubout -out rsa.pub && "
	         "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key && "
	         "openssl pkey -in ec.key -pubout -out ec.pub && "
	         "openssl genpkey -algorithm ED25519 -out ed.key && "
	         "openssl pkey -in ed.key -pubout -out ed.pub",
	         dir);
	sh(cmd);

	static char hs[2048], rs[2048], ps[2048], es[2048], ed[2048];
	make(hs, "HS256", NULL);
	make(rs, "RS256", "openssl dgst -sha256 -sign rsa.key");
	make(ps, "PS256",
	     "openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt "
	     "rsa_pss_saltlen:digest -sign rsa.key");
	make(es, "ES256", "openssl dgst -sha256 -sign ec.key");
	make(ed, "EdDSA", "openssl pkeyutl -sign -rawin -inkey ed.key -in in");

	struct jwt_keys *ks = jwt_keys_new();
	if (ks == NULL || jwt_keys_add_secret(ks, secret, sizeof(secret) - 1, NULL, NULL, 0) != 0)
		return 1;
	struct jwt_keys *kr = pem("rsa.pub"), *ke = pem("ec.pub"), *kd = pem("ed.pub");

	printf("| jwt_verify             | bytes | us/token | tokens/s |\n");
	printf("|---|---:|---:|---:|\n");
	bench("HS256", ks, hs, secs);
	bench("RS256 (2048)", kr, rs, secs);
	bench("PS256 (2048)", kr, ps, secs);
	bench("ES256 (P-256)", ke, es, secs);
	bench("EdDSA (Ed25519)", kd, ed, secs);

	jwt_keys_free(ks);
	jwt_keys_free(kr);
	jwt_keys_free(ke);
	jwt_keys_free(kd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	sh(cmd);
	return 0;
}
