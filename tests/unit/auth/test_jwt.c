/* auth/jwt: every rejection reason, every algorithm, the RFC examples, base64url edges and
 * the leeway boundaries. Keys are generated at test time with the openssl CLI into a mkdtemp
 * directory and asymmetric tokens are signed by openssl too, so the verifier is checked
 * against an independent signer; no private key is committed. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include "auth/jwt.h"
#include "guard.h"

static char tdir[64];
static const uint8_t secret[] = "0123456789abcdef0123456789abcdef-hs-secret";
#define NOW 1700000000ull

/* ---- helpers ---- */

static void path_of(char *buf, const char *name)
{
	snprintf(buf, 256, "%s/%s", tdir, name);
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0) {
		fprintf(stderr, "command failed: %s\n", cmd);
		abort();
	}
}

static size_t slurp(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t n = fread(buf, 1, cap, f);
	fclose(f);
	return n;
}

static void spit(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

/* Signs input with openssl (or wolfCrypt HMAC for HS*) and returns the raw JWS signature. */
static size_t sign(const char *alg, const char *input, uint8_t *sig)
{
	char in[256], out[256];
	path_of(in, "in");
	path_of(out, "sig");
	const char *bits = alg + 2;
	if (alg[0] == 'H') {
		Hmac h;
		int t = strcmp(bits, "256") == 0   ? WC_SHA256
		        : strcmp(bits, "384") == 0 ? WC_SHA384
		                                   : WC_SHA512;
		assert_int_equal(wc_HmacInit(&h, NULL, INVALID_DEVID), 0);
		assert_int_equal(wc_HmacSetKey(&h, t, secret, sizeof(secret) - 1), 0);
		assert_int_equal(wc_HmacUpdate(&h, (const uint8_t *)input, (word32)strlen(input)),
		                 0);
		assert_int_equal(wc_HmacFinal(&h, sig), 0);
		wc_HmacFree(&h);
		return (size_t)wc_HmacSizeByType(t);
	}
	spit(in, input, strlen(input));
	if (strcmp(alg, "EdDSA") == 0) {
		run("openssl pkeyutl -sign -rawin -inkey %s/ed.key -in %s -out %s", tdir, in, out);
		return slurp(out, sig, 512);
	}
	if (alg[0] == 'R') {
		run("openssl dgst -sha%s -sign %s/rsa.key -out %s %s", bits, tdir, out, in);
		return slurp(out, sig, 512);
	}
	if (alg[0] == 'P') {
		run("openssl dgst -sha%s -sigopt rsa_padding_mode:pss -sigopt "
		    "rsa_pss_saltlen:digest -sign %s/rsa.key -out %s %s",
		    bits, tdir, out, in);
		return slurp(out, sig, 512);
	}
	/* ES*: openssl writes DER; JWS wants r || s, each the field size. */
	size_t coord = strcmp(bits, "256") == 0 ? 32 : 48;
	run("openssl dgst -sha%s -sign %s/ec%s.key -out %s %s", bits, tdir, bits, out, in);
	uint8_t der[256], r[66], s[66];
	size_t dn = slurp(out, der, sizeof(der));
	word32 rl = sizeof(r), sl = sizeof(s);
	assert_int_equal(wc_ecc_sig_to_rs(der, (word32)dn, r, &rl, s, &sl), 0);
	memset(sig, 0, 2 * coord);
	memcpy(sig + coord - rl, r, rl);
	memcpy(sig + 2 * coord - sl, s, sl);
	return 2 * coord;
}

/* Builds header.payload.signature into tok; sig_alg NULL signs with hdr's alg. */
static void make(char *tok, const char *hdr, const char *claims, const char *sig_alg)
{
	char h[2048], c[4096];
	jwt_b64url_encode((const uint8_t *)hdr, strlen(hdr), h);
	jwt_b64url_encode((const uint8_t *)claims, strlen(claims), c);
	sprintf(tok, "%s.%s", h, c);
	uint8_t sig[512];
	size_t sn = sign(sig_alg, tok, sig);
	strcat(tok, ".");
	jwt_b64url_encode(sig, sn, tok + strlen(tok));
}

static struct jwt_keys *keys_pem(const char *pem, const char *kid)
{
	struct jwt_keys *k = jwt_keys_new();
	char p[256], err[256];
	path_of(p, pem);
	int rc = jwt_keys_add_pem_file(k, p, kid, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
	return k;
}

static struct jwt_keys *keys_secret(void)
{
	struct jwt_keys *k = jwt_keys_new();
	assert_int_equal(jwt_keys_add_secret(k, secret, sizeof(secret) - 1, NULL, NULL, 0), 0);
	return k;
}

static enum jwt_rc verify(const struct jwt_keys *k, const char *tok, const struct jwt_policy *p,
                          uint64_t now, struct jwt_claims *c)
{
	struct jwt_claims tmp;
	if (c == NULL)
		c = &tmp;
	/* From a guard-page buffer: an over-read faults. */
	struct guard_area g;
	size_t n = strlen(tok);
	const char *b = (const char *)guard_copy(&g, tok, n);
	enum jwt_rc rc = jwt_verify(k, b, n, p, now, c);
	guard_release(&g);
	assert_int_equal(c->rc, rc);
	return rc;
}

static const struct jwt_policy pol = {
    .iss = "https://issuer.example", .aud = "wsgate", .leeway_s = 30};
#define GOOD_CLAIMS                                                                                \
	"{\"iss\":\"https://issuer.example\",\"aud\":\"wsgate\",\"sub\":\"user-42\","              \
	"\"exp\":1700000600,\"iat\":1699999990}"

/* ---- setup ---- */

static int setup(void **state)
{
	(void)state;
	strcpy(tdir, "/tmp/wsg_jwt_XXXXXX");
	if (mkdtemp(tdir) == NULL)
		return -1;
	run("cd %s && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key "
	    "2>/dev/null && openssl pkey -in rsa.key -pubout -out rsa.pub && "
	    "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.key "
	    "2>/dev/null && openssl pkey -in rsa1024.key -pubout -out rsa1024.pub && "
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec256.key && "
	    "openssl pkey -in ec256.key -pubout -out ec256.pub && "
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.key && "
	    "openssl pkey -in ec384.key -pubout -out ec384.pub && "
	    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out k1.key && "
	    "openssl pkey -in k1.key -pubout -out k1.pub && "
	    "openssl genpkey -algorithm ED25519 -out ed.key && "
	    "openssl pkey -in ed.key -pubout -out ed.pub",
	    tdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	run("rm -rf %s", tdir);
	return 0;
}

/* ---- RFC examples ---- */

static struct jwt_keys *keys_jwks(const char *json)
{
	char p[256], err[256];
	path_of(p, "keys.jwks");
	spit(p, json, strlen(json));
	struct jwt_keys *k = jwt_keys_new();
	int rc = jwt_keys_add_jwks_file(k, p, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "%s\n", err);
	assert_int_equal(rc, 0);
	return k;
}

/* RFC 7515 A.1: HS256 with the RFC's key; exp 1300819380. */
static const char rfc_a1[] = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
                             "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlL"
                             "mNvbS9pc19yb290Ijp0cnVlfQ."
                             "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

static void test_rfc7515_a1_hs256_and_exp_leeway_boundaries(void **state)
{
	(void)state;
	struct jwt_keys *k = keys_jwks(
	    "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-"
	    "1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow\"}]}");
	struct jwt_policy p = {.iss = "joe"};
	struct jwt_claims c;
	assert_int_equal(verify(k, rfc_a1, &p, 1300819379, &c), JWT_RC_OK);
	assert_int_equal(c.exp, 1300819380);
	assert_false(c.has_sub);
	assert_int_equal(verify(k, rfc_a1, &p, 1300819380, &c), JWT_RC_EXPIRED);
	p.leeway_s = 10;
	assert_int_equal(verify(k, rfc_a1, &p, 1300819389, &c), JWT_RC_OK);
	assert_int_equal(verify(k, rfc_a1, &p, 1300819390, &c), JWT_RC_EXPIRED);
	p.iss = "jo";
	assert_int_equal(verify(k, rfc_a1, &p, 1300819000, &c), JWT_RC_BAD_ISS);
	p.iss = NULL;
	p.aud = "x";
	assert_int_equal(verify(k, rfc_a1, &p, 1300819000, &c), JWT_RC_BAD_AUD);
	jwt_keys_free(k);
}

/* RFC 7515 A.3: ES256 with the RFC's P-256 key. */
static void test_rfc7515_a3_es256(void **state)
{
	(void)state;
	struct jwt_keys *k = keys_jwks("{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
	                               "\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	                               "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}]}");
	static const char tok[] = "eyJhbGciOiJFUzI1NiJ9."
	                          "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
	                          "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
	                          "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-"
	                          "F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
	struct jwt_policy p = {.iss = "joe"};
	assert_int_equal(verify(k, tok, &p, 1300819379, NULL), JWT_RC_OK);
	char bad[sizeof(tok)];
	memcpy(bad, tok, sizeof(tok));
	bad[sizeof(tok) - 5] = bad[sizeof(tok) - 5] == 'A' ? 'B' : 'A';
	assert_int_equal(verify(k, bad, &p, 1300819379, NULL), JWT_RC_BAD_SIGNATURE);
	jwt_keys_free(k);
}

/* RFC 8037 A.4: Ed25519. Its payload is not JSON, so a verified signature shows as
 * bad_json; one changed signature byte shows as bad_signature. */
static void test_rfc8037_a4_eddsa(void **state)
{
	(void)state;
	struct jwt_keys *k = keys_jwks("{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
	                               "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}");
	char tok[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
	             "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvp"
	             "Ar_MuM0KAg";
	assert_int_equal(verify(k, tok, NULL, NOW, NULL), JWT_RC_BAD_JSON);
	tok[strlen(tok) - 10] = tok[strlen(tok) - 10] == 'B' ? 'C' : 'B';
	assert_int_equal(verify(k, tok, NULL, NOW, NULL), JWT_RC_BAD_SIGNATURE);
	jwt_keys_free(k);
}

/* ---- every algorithm, signed by openssl ---- */

static void check_alg(const char *alg, struct jwt_keys *k)
{
	char hdr[64], tok[4096];
	snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
	make(tok, hdr, GOOD_CLAIMS, alg);
	struct jwt_claims c;
	assert_int_equal(verify(k, tok, &pol, NOW, &c), JWT_RC_OK);
	assert_string_equal(c.sub, "user-42");
	assert_int_equal(c.sub_len, 7);
	assert_true(c.has_sub);
	assert_int_equal(c.exp, 1700000600);
	/* One changed byte anywhere in the signature is never accepted. */
	char *s = strrchr(tok, '.') + 1;
	size_t sl = strlen(s);
	for (size_t i = 0; i < sl; i += sl / 7 + 1) {
		char o = s[i];
		s[i] = o == 'A' ? 'B' : 'A';
		enum jwt_rc rc = verify(k, tok, &pol, NOW, &c);
		assert_true(rc == JWT_RC_BAD_SIGNATURE || rc == JWT_RC_BAD_BASE64);
		assert_string_equal(c.sub, "");
		s[i] = o;
	}
	/* Nor a changed claim. */
	char *d = strchr(tok, '.') + 3;
	*d = *d == 'A' ? 'B' : 'A';
	assert_int_equal(verify(k, tok, &pol, NOW, &c), JWT_RC_BAD_SIGNATURE);
}

static void test_hs_algorithms(void **state)
{
	(void)state;
	struct jwt_keys *k = keys_secret();
	check_alg("HS256", k);
	check_alg("HS384", k);
	check_alg("HS512", k);
	jwt_keys_free(k);
}

static void test_rsa_algorithms_pkcs1_and_pss(void **state)
{
	(void)state;
	struct jwt_keys *k = keys_pem("rsa.pub", NULL);
	check_alg("RS256", k);
	check_alg("RS384", k);
	check_alg("RS512", k);
	check_alg("PS256", k);
	check_alg("PS384", k);
	check_alg("PS512", k);
	jwt_keys_free(k);
}

/* RFC 7518 3.5: the PSS salt is the hash size; a maximal salt is refused. */
static void test_ps256_with_other_salt_length_is_refused(void **state)
{
	(void)state;
	struct jwt_keys *k = keys_pem("rsa.pub", NULL);
	char tok[4096], h[256], c[1024], in[256], out[256];
	uint8_t sig[512];
	jwt_b64url_encode((const uint8_t *)"{\"alg\":\"PS256\"}", 15, h);
	jwt_b64url_encode((const uint8_t *)GOOD_CLAIMS, strlen(GOOD_CLAIMS), c);
	sprintf(tok, "%s.%s", h, c);
	path_of(in, "in");
	path_of(out, "sig");
	spit(in, tok, strlen(tok));
	run("openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:max "
	    "-sign %s/rsa.key -out %s %s",
	    tdir, out, in);
	size_t sn = slurp(out, sig, sizeof(sig));
	strcat(tok, ".");
	jwt_b64url_encode(sig, sn, tok + strlen(tok));
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_BAD_SIGNATURE);
	jwt_keys_free(k);
}

static void test_key_set_holds_at_most_32_keys(void **state)
{
	(void)state;
	struct jwt_keys *k = jwt_keys_new();
	char err[256];
	for (int i = 0; i < JWT_KEYS_MAX; i++)
		assert_int_equal(
		    jwt_keys_add_secret(k, secret, sizeof(secret) - 1, NULL, err, sizeof(err)), 0);
	assert_int_equal(jwt_keys_add_secret(k, secret, sizeof(secret) - 1, NULL, err, sizeof(err)),
	                 -1);
	assert_int_equal(jwt_keys_count(k), JWT_KEYS_MAX);
	jwt_keys_free(k);
}

static void test_ecdsa_and_eddsa(void **state)
{
	(void)state;
	struct jwt_keys *k = keys_pem("ec256.pub", NULL);
	check_alg("ES256", k);
	jwt_keys_free(k);
	k = keys_pem("ec384.pub", NULL);
	check_alg("ES384", k);
	jwt_keys_free(k);
	k = keys_pem("ed.pub", NULL);
	check_alg("EdDSA", k);
	jwt_keys_free(k);
}

/* PEM keys exported to a JWKS (n/e, x/y) give the same verdicts, chosen by kid. */
static void test_jwks_rsa_ec_by_kid(void **state)
{
	(void)state;
	char p[256], jwks[4096], n64[700], e64[16], x64[80], y64[80];
	uint8_t pem[4096], der[2048], n[600], e[8], x[66], y[66];
	path_of(p, "rsa.pub");
	size_t pl = slurp(p, pem, sizeof(pem));
	int dl = wc_PubKeyPemToDer(pem, (int)pl, der, sizeof(der));
	assert_true(dl > 0);
	RsaKey rsa;
	word32 idx = 0, nl = sizeof(n), el = sizeof(e);
	assert_int_equal(wc_InitRsaKey(&rsa, NULL), 0);
	assert_int_equal(wc_RsaPublicKeyDecode(der, &idx, &rsa, (word32)dl), 0);
	assert_int_equal(wc_RsaFlattenPublicKey(&rsa, e, &el, n, &nl), 0);
	wc_FreeRsaKey(&rsa);
	jwt_b64url_encode(n, nl, n64);
	jwt_b64url_encode(e, el, e64);
	path_of(p, "ec256.pub");
	pl = slurp(p, pem, sizeof(pem));
	dl = wc_PubKeyPemToDer(pem, (int)pl, der, sizeof(der));
	ecc_key ecc;
	word32 xl = sizeof(x), yl = sizeof(y);
	idx = 0;
	assert_int_equal(wc_ecc_init(&ecc), 0);
	assert_int_equal(wc_EccPublicKeyDecode(der, &idx, &ecc, (word32)dl), 0);
	assert_int_equal(wc_ecc_export_public_raw(&ecc, x, &xl, y, &yl), 0);
	wc_ecc_free(&ecc);
	jwt_b64url_encode(x, xl, x64);
	jwt_b64url_encode(y, yl, y64);
	snprintf(jwks, sizeof(jwks),
	         "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"use\":\"sig\",\"alg\":\"RS256\","
	         "\"n\":\"%s\",\"e\":\"%s\"},{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"x\"},"
	         "{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"}]}",
	         n64, e64, x64, y64);
	struct jwt_keys *k = keys_jwks(jwks);
	assert_int_equal(jwt_keys_count(k), 2);
	char tok[4096];
	make(tok, "{\"alg\":\"RS256\",\"kid\":\"r1\"}", GOOD_CLAIMS, "RS256");
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_OK);
	make(tok, "{\"alg\":\"RS256\"}", GOOD_CLAIMS, "RS256");
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_OK);
	make(tok, "{\"alg\":\"ES256\",\"kid\":\"e1\"}", GOOD_CLAIMS, "ES256");
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_OK);
	/* kid names the RSA key, alg is ES256: that key cannot verify it. */
	make(tok, "{\"alg\":\"ES256\",\"kid\":\"r1\"}", GOOD_CLAIMS, "ES256");
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_ALG_MISMATCH);
	/* The key pinned to RS256 refuses PS256 even with a valid PSS signature. */
	make(tok, "{\"alg\":\"PS256\",\"kid\":\"r1\"}", GOOD_CLAIMS, "PS256");
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_ALG_MISMATCH);
	make(tok, "{\"alg\":\"RS256\",\"kid\":\"nope\"}", GOOD_CLAIMS, "RS256");
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_UNKNOWN_KID);
	jwt_keys_free(k);
}

/* ---- rejections ---- */

static void hs(char *tok, const char *hdr, const char *claims)
{
	make(tok, hdr, claims, "HS256");
}

static void test_structure_rejections(void **state)
{
	(void)state;
	struct jwt_keys *k = keys_secret();
	char tok[12000];
	assert_int_equal(verify(k, "", &pol, NOW, NULL), JWT_RC_MALFORMED);
	assert_int_equal(verify(k, "abc", &pol, NOW, NULL), JWT_RC_MALFORMED);
	assert_int_equal(verify(k, "abc.def", &pol, NOW, NULL), JWT_RC_MALFORMED);
	assert_int_equal(verify(k, "a.b.c.d", &pol, NOW, NULL), JWT_RC_MALFORMED);
	assert_int_equal(verify(k, "a.b.c.d.e", &pol, NOW, NULL), JWT_RC_MALFORMED); /* JWE */
	assert_int_equal(verify(k, ".eyJ9.abc", &pol, NOW, NULL), JWT_RC_MALFORMED);
	assert_int_equal(verify(k, "eyJ9..abc", &pol, NOW, NULL), JWT_RC_MALFORMED);
	memset(tok, 'A', 8193);
	tok[8193] = '\0';
	tok[8] = tok[17] = '.';
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_TOO_LARGE);
	/* Exactly 8192 is not too large (it fails later, on its JSON). */
	tok[8192] = '\0';
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_BAD_JSON);
	hs(tok, "{\"alg\":\"HS256\"}", GOOD_CLAIMS);
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_OK);
	char t2[12008];
	snprintf(t2, sizeof(t2), "%s=", tok); /* padding */
	assert_int_equal(verify(k, t2, &pol, NOW, NULL), JWT_RC_BAD_BASE64);
	strcpy(t2, tok);
	t2[3] = '+';
	assert_int_equal(verify(k, t2, &pol, NOW, NULL), JWT_RC_BAD_BASE64);
	t2[3] = '/';
	assert_int_equal(verify(k, t2, &pol, NOW, NULL), JWT_RC_BAD_BASE64);
	t2[3] = ' ';
	assert_int_equal(verify(k, t2, &pol, NOW, NULL), JWT_RC_BAD_BASE64);
	/* eyJhbGciOiJIUzI1NiJ9 + one character: length 1 mod 4. */
	assert_int_equal(verify(k, "eyJhbGciOiJIUzI1NiJ9A.e30.AAAA", &pol, NOW, NULL),
	                 JWT_RC_BAD_BASE64);
	/* "e30" is {}; "e31" has non-zero pad bits. */
	assert_int_equal(verify(k, "e31.e30.AAAA", &pol, NOW, NULL), JWT_RC_BAD_BASE64);
	jwt_keys_free(k);
}

static void test_header_rejections(void **state)
{
	(void)state;
	struct jwt_keys *k = keys_secret();
	char tok[4096];
	static const struct {
		const char *hdr;
		enum jwt_rc rc;
	} cases[] = {
	    {"not json", JWT_RC_BAD_JSON},
	    {"[\"HS256\"]", JWT_RC_BAD_JSON},
	    {"{\"alg\":\"HS256\"} x", JWT_RC_BAD_JSON},
	    {"{\"alg\":\"HS256\"} \n", JWT_RC_OK},
	    {"{\"alg\":\"HS256\",\"alg\":\"none\"}", JWT_RC_BAD_JSON},
	    {"{\"alg\":256}", JWT_RC_BAD_JSON},
	    {"{\"typ\":\"JWT\"}", JWT_RC_MALFORMED},
	    {"{\"alg\":\"none\"}", JWT_RC_ALG_NONE},
	    {"{\"alg\":\"NoNe\"}", JWT_RC_ALG_NONE},
	    {"{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", JWT_RC_CRIT},
	    {"{\"alg\":\"HS256\",\"b64\":false,\"crit\":[\"b64\"]}", JWT_RC_CRIT},
	    {"{\"alg\":\"XS256\"}", JWT_RC_ALG_MISMATCH},
	    {"{\"alg\":\"hs256\"}", JWT_RC_ALG_MISMATCH},
	    {"{\"alg\":\"RS256\"}", JWT_RC_ALG_MISMATCH},
	    {"{\"alg\":\"HS256\",\"kid\":7}", JWT_RC_BAD_JSON},
	    /* The secret has no kid: it stays a candidate for any kid. */
	    {"{\"alg\":\"HS256\",\"kid\":\"whatever\"}", JWT_RC_OK},
	    {"{\"alg\":\"HS256\",\"jku\":\"https://evil/keys\"}", JWT_RC_OK},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		hs(tok, cases[i].hdr, GOOD_CLAIMS);
		enum jwt_rc rc = verify(k, tok, &pol, NOW, NULL);
		if (rc != cases[i].rc)
			fail_msg("%s: got %s want %s", cases[i].hdr, jwt_rc_name(rc),
			         jwt_rc_name(cases[i].rc));
	}
	/* alg none with an empty signature, the classic form. */
	assert_int_equal(verify(k, "eyJhbGciOiJub25lIn0.e30.", &pol, NOW, NULL), JWT_RC_ALG_NONE);
	hs(tok, "{\"alg\":\"HS256\"}", GOOD_CLAIMS);
	*strrchr(tok, '.') = '\0';
	strcat(tok, ".");
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_BAD_SIGNATURE);
	jwt_keys_free(k);
}

/* Key confusion: an HS256 token whose HMAC key is the RSA public key's PEM bytes must not
 * verify against a set holding only that public key. */
static void test_hs256_with_public_key_is_alg_mismatch(void **state)
{
	(void)state;
	struct jwt_keys *k = keys_pem("rsa.pub", NULL);
	char p[256], tok[4096], h[256], c[1024];
	uint8_t pem[4096], mac[32];
	path_of(p, "rsa.pub");
	size_t pl = slurp(p, pem, sizeof(pem));
	jwt_b64url_encode((const uint8_t *)"{\"alg\":\"HS256\"}", 15, h);
	jwt_b64url_encode((const uint8_t *)GOOD_CLAIMS, strlen(GOOD_CLAIMS), c);
	sprintf(tok, "%s.%s", h, c);
	Hmac hm;
	assert_int_equal(wc_HmacInit(&hm, NULL, INVALID_DEVID), 0);
	assert_int_equal(wc_HmacSetKey(&hm, WC_SHA256, pem, (word32)pl), 0);
	assert_int_equal(wc_HmacUpdate(&hm, (const uint8_t *)tok, (word32)strlen(tok)), 0);
	assert_int_equal(wc_HmacFinal(&hm, mac), 0);
	wc_HmacFree(&hm);
	strcat(tok, ".");
	jwt_b64url_encode(mac, sizeof(mac), tok + strlen(tok));
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_ALG_MISMATCH);
	/* And an RS256 token never verifies against an HMAC-only set. */
	struct jwt_keys *ks = keys_secret();
	make(tok, "{\"alg\":\"RS256\"}", GOOD_CLAIMS, "RS256");
	assert_int_equal(verify(ks, tok, &pol, NOW, NULL), JWT_RC_ALG_MISMATCH);
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_OK);
	/* ES384 against a P-256 key: wrong curve for the alg. */
	struct jwt_keys *ke = keys_pem("ec256.pub", NULL);
	make(tok, "{\"alg\":\"ES384\"}", GOOD_CLAIMS, "ES384");
	assert_int_equal(verify(ke, tok, &pol, NOW, NULL), JWT_RC_ALG_MISMATCH);
	jwt_keys_free(ke);
	jwt_keys_free(ks);
	jwt_keys_free(k);
}

static void test_unknown_kid(void **state)
{
	(void)state;
	struct jwt_keys *k = jwt_keys_new();
	assert_int_equal(jwt_keys_add_secret(k, secret, sizeof(secret) - 1, "k1", NULL, 0), 0);
	char tok[4096];
	hs(tok, "{\"alg\":\"HS256\",\"kid\":\"k1\"}", GOOD_CLAIMS);
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_OK);
	hs(tok, "{\"alg\":\"HS256\",\"kid\":\"k2\"}", GOOD_CLAIMS);
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_UNKNOWN_KID);
	hs(tok, "{\"alg\":\"HS256\"}", GOOD_CLAIMS);
	assert_int_equal(verify(k, tok, &pol, NOW, NULL), JWT_RC_OK);
	struct jwt_keys *empty = jwt_keys_new();
	assert_int_equal(verify(empty, tok, &pol, NOW, NULL), JWT_RC_UNKNOWN_KID);
	jwt_keys_free(empty);
	jwt_keys_free(k);
}

static enum jwt_rc claims_rc(struct jwt_keys *k, const char *claims, uint64_t now,
                             struct jwt_claims *c)
{
	char tok[4096];
	hs(tok, "{\"alg\":\"HS256\"}", claims);
	return verify(k, tok, &pol, now, c);
}

#define ISS_AUD "\"iss\":\"https://issuer.example\",\"aud\":\"wsgate\""

static void test_claim_rejections_and_leeway(void **state)
{
	(void)state;
	struct jwt_keys *k = keys_secret();
	struct jwt_claims c;
	assert_int_equal(claims_rc(k, "{" ISS_AUD "}", NOW, &c), JWT_RC_NO_EXP);
	assert_int_equal(claims_rc(k, "{" ISS_AUD ",\"exp\":\"1700000600\"}", NOW, &c),
	                 JWT_RC_BAD_JSON);
	assert_int_equal(claims_rc(k, "{" ISS_AUD ",\"exp\":-1}", NOW, &c), JWT_RC_BAD_JSON);
	assert_int_equal(claims_rc(k, "[1]", NOW, &c), JWT_RC_BAD_JSON);
	assert_int_equal(claims_rc(k, "{" ISS_AUD ",\"exp\":1,\"exp\":1800000000}", NOW, &c),
	                 JWT_RC_BAD_JSON);
	/* exp with leeway 30: valid while now < exp + 30. */
	assert_int_equal(claims_rc(k, "{" ISS_AUD ",\"exp\":1700000000}", NOW + 29, &c), JWT_RC_OK);
	assert_int_equal(claims_rc(k, "{" ISS_AUD ",\"exp\":1700000000}", NOW + 30, &c),
	                 JWT_RC_EXPIRED);
	assert_int_equal(claims_rc(k, "{" ISS_AUD ",\"exp\":1700000000.9}", NOW + 30, &c),
	                 JWT_RC_EXPIRED);
	/* nbf: valid from nbf - 30. */
	const char *nbf = "{" ISS_AUD ",\"exp\":1800000000,\"nbf\":1700000100}";
	assert_int_equal(claims_rc(k, nbf, NOW + 70, &c), JWT_RC_OK);
	assert_int_equal(claims_rc(k, nbf, NOW + 69, &c), JWT_RC_NOT_YET_VALID);
	/* iat: at most now + 30. */
	const char *iat = "{" ISS_AUD ",\"exp\":1800000000,\"iat\":1700000100}";
	assert_int_equal(claims_rc(k, iat, NOW + 70, &c), JWT_RC_OK);
	assert_int_equal(claims_rc(k, iat, NOW + 69, &c), JWT_RC_IAT_FUTURE);
	assert_int_equal(claims_rc(k, "{" ISS_AUD ",\"exp\":1800000000,\"iat\":\"x\"}", NOW, &c),
	                 JWT_RC_BAD_JSON);
	/* iss */
	assert_int_equal(claims_rc(k, "{\"aud\":\"wsgate\",\"exp\":1800000000}", NOW, &c),
	                 JWT_RC_BAD_ISS);
	assert_int_equal(
	    claims_rc(k,
	              "{\"iss\":\"https://issuer.example/\",\"aud\":\"wsgate\",\"exp\":1800000000}",
	              NOW, &c),
	    JWT_RC_BAD_ISS);
	/* aud: string or array */
	const char *iss = "\"iss\":\"https://issuer.example\",\"exp\":1800000000";
	char buf[512];
	snprintf(buf, sizeof(buf), "{%s}", iss);
	assert_int_equal(claims_rc(k, buf, NOW, &c), JWT_RC_BAD_AUD);
	snprintf(buf, sizeof(buf), "{%s,\"aud\":\"wsgatex\"}", iss);
	assert_int_equal(claims_rc(k, buf, NOW, &c), JWT_RC_BAD_AUD);
	snprintf(buf, sizeof(buf), "{%s,\"aud\":[\"a\",\"b\"]}", iss);
	assert_int_equal(claims_rc(k, buf, NOW, &c), JWT_RC_BAD_AUD);
	snprintf(buf, sizeof(buf), "{%s,\"aud\":[\"a\",\"wsgate\"]}", iss);
	assert_int_equal(claims_rc(k, buf, NOW, &c), JWT_RC_OK);
	snprintf(buf, sizeof(buf), "{%s,\"aud\":[]}", iss);
	assert_int_equal(claims_rc(k, buf, NOW, &c), JWT_RC_BAD_AUD);
	/* sub: bounded, no control bytes (it becomes a header) */
	char sub[300];
	memset(sub, 's', 255);
	sub[255] = '\0';
	snprintf(buf, sizeof(buf), "{" ISS_AUD ",\"exp\":1800000000,\"sub\":\"%s\"}", sub);
	assert_int_equal(claims_rc(k, buf, NOW, &c), JWT_RC_OK);
	assert_int_equal(c.sub_len, 255);
	assert_string_equal(c.sub, sub);
	snprintf(buf, sizeof(buf), "{" ISS_AUD ",\"exp\":1800000000,\"sub\":\"%ss\"}", sub);
	assert_int_equal(claims_rc(k, buf, NOW, &c), JWT_RC_BAD_SUB);
	assert_string_equal(c.sub, "");
	assert_int_equal(
	    claims_rc(k, "{" ISS_AUD ",\"exp\":1800000000,\"sub\":\"a\\r\\nX-Evil: 1\"}", NOW, &c),
	    JWT_RC_BAD_SUB);
	assert_int_equal(claims_rc(k, "{" ISS_AUD ",\"exp\":1800000000,\"sub\":42}", NOW, &c),
	                 JWT_RC_BAD_SUB);
	jwt_keys_free(k);
}

static void test_b64url_edges(void **state)
{
	(void)state;
	uint8_t out[300];
	assert_int_equal(jwt_b64url_decode("", 0, out, 0), 0);
	assert_int_equal(jwt_b64url_decode("QQ", 2, out, sizeof(out)), 1);
	assert_int_equal(out[0], 'A');
	assert_int_equal(jwt_b64url_decode("QR", 2, out, sizeof(out)), -1); /* pad bits */
	assert_int_equal(jwt_b64url_decode("QUI", 3, out, sizeof(out)), 2);
	assert_int_equal(jwt_b64url_decode("QUJ", 3, out, sizeof(out)), -1);
	assert_int_equal(jwt_b64url_decode("QQ==", 4, out, sizeof(out)), -1);
	assert_int_equal(jwt_b64url_decode("Q", 1, out, sizeof(out)), -1);
	assert_int_equal(jwt_b64url_decode("QUJD", 4, out, 2), -1); /* no room */
	assert_int_equal(jwt_b64url_decode("QUJD", 4, out, 3), 3);
	assert_memory_equal(out, "ABC", 3);
	assert_int_equal(jwt_b64url_decode("-_-_", 4, out, 3), 3);
	assert_int_equal(out[0], 0xfb);
	assert_int_equal(jwt_b64url_decode("+/+/", 4, out, 3), -1);
	assert_int_equal(jwt_b64url_decode("QU\0D", 4, out, 3), -1);
	/* Every byte value and every length round-trip. */
	uint8_t all[256], back[256];
	char enc[400];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	for (size_t n = 0; n <= 256; n++) {
		jwt_b64url_encode(all + (256 - n), n, enc);
		assert_int_equal(jwt_b64url_decode(enc, strlen(enc), back, n), (long)n);
		assert_memory_equal(back, all + (256 - n), n);
	}
}

static void test_key_loading_errors_name_the_file(void **state)
{
	(void)state;
	struct jwt_keys *k = jwt_keys_new();
	char p[256], err[256];
	path_of(p, "missing.pem");
	assert_int_equal(jwt_keys_add_pem_file(k, p, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, p));
	path_of(p, "rsa.key");
	assert_int_equal(jwt_keys_add_pem_file(k, p, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "PUBLIC KEY"));
	path_of(p, "rsa1024.pub");
	assert_int_equal(jwt_keys_add_pem_file(k, p, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "2048"));
	path_of(p, "k1.pub");
	assert_int_equal(jwt_keys_add_pem_file(k, p, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, p));
	assert_int_equal(
	    jwt_keys_add_secret(k, (const uint8_t *)"short", 5, NULL, err, sizeof(err)), -1);
	assert_int_equal(jwt_keys_count(k), 0);
	static const char *const bad[] = {
	    "not json",
	    "{\"keys\":{}}",
	    "{\"keys\":[]}",
	    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-521\",\"x\":\"AA\",\"y\":\"AA\"}]}",
	    "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"}]}",
	    "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}]}",
	    "{\"keys\":[{\"kty\":\"oct\",\"k\":\"a+b\"}]}",
	    "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
	    "{\"keys\":[{\"kty\":\"DSA\"}]}",
	    "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"alg\":\"ES256\","
	    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}",
	    "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
	    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"},{\"kty\":\"oct\"}]}",
	};
	path_of(p, "bad.jwks");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		spit(p, bad[i], strlen(bad[i]));
		err[0] = '\0';
		if (jwt_keys_add_jwks_file(k, p, err, sizeof(err)) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_non_null(strstr(err, p));
		assert_null(strchr(err, '\n'));
		assert_int_equal(jwt_keys_count(k), 0);
	}
	jwt_keys_free(k);
	jwt_keys_free(NULL);
}

struct par {
	const struct jwt_keys *k;
	const char *tok[3];
	int ok;
};

static void *par_run(void *arg)
{
	struct par *p = arg;
	struct jwt_claims c;
	for (int i = 0; i < 60; i++)
		for (int j = 0; j < 3; j++)
			p->ok += jwt_verify(p->k, p->tok[j], strlen(p->tok[j]), &pol, NOW, &c) ==
			             JWT_RC_OK &&
			         strcmp(c.sub, "user-42") == 0;
	jwt_thread_fini(); /* else each thread's wolfCrypt ECC cache leaks (LeakSanitizer) */
	return NULL;
}

/* Workers verify concurrently against one set: it is only read (keys are imported into
 * stack objects per verify), so every verdict stays right. */
static void test_concurrent_verifies_on_one_set(void **state)
{
	(void)state;
	struct jwt_keys *k = jwt_keys_new();
	char p1[256], p2[256], p3[256], err[256];
	path_of(p1, "rsa.pub");
	path_of(p2, "ec256.pub");
	path_of(p3, "ed.pub");
	assert_int_equal(jwt_keys_add_pem_file(k, p1, "r", err, sizeof(err)), 0);
	assert_int_equal(jwt_keys_add_pem_file(k, p2, "e", err, sizeof(err)), 0);
	assert_int_equal(jwt_keys_add_pem_file(k, p3, "d", err, sizeof(err)), 0);
	static char t1[4096], t2[4096], t3[4096];
	make(t1, "{\"alg\":\"RS256\",\"kid\":\"r\"}", GOOD_CLAIMS, "RS256");
	make(t2, "{\"alg\":\"ES256\",\"kid\":\"e\"}", GOOD_CLAIMS, "ES256");
	make(t3, "{\"alg\":\"EdDSA\",\"kid\":\"d\"}", GOOD_CLAIMS, "EdDSA");
	struct par p[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		p[i] = (struct par){.k = k, .tok = {t1, t2, t3}, .ok = 0};
		assert_int_equal(pthread_create(&th[i], NULL, par_run, &p[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(p[i].ok, 180);
	}
	jwt_keys_free(k);
}

static void test_rc_names_are_stable(void **state)
{
	(void)state;
	static const char *const want[] = {
	    "ok",       "malformed",    "too_large",     "bad_base64", "bad_json",
	    "alg_none", "alg_mismatch", "unknown_kid",   "crit",       "bad_signature",
	    "no_exp",   "expired",      "not_yet_valid", "iat_future", "bad_iss",
	    "bad_aud",  "bad_sub",
	};
	_Static_assert(sizeof(want) / sizeof(want[0]) == JWT_RC_COUNT, "one name per rc");
	for (int i = 0; i < JWT_RC_COUNT; i++)
		assert_string_equal(jwt_rc_name((enum jwt_rc)i), want[i]);
	assert_string_equal(jwt_rc_name(JWT_RC_COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc7515_a1_hs256_and_exp_leeway_boundaries),
	    cmocka_unit_test(test_rfc7515_a3_es256),
	    cmocka_unit_test(test_rfc8037_a4_eddsa),
	    cmocka_unit_test(test_hs_algorithms),
	    cmocka_unit_test(test_rsa_algorithms_pkcs1_and_pss),
	    cmocka_unit_test(test_ps256_with_other_salt_length_is_refused),
	    cmocka_unit_test(test_key_set_holds_at_most_32_keys),
	    cmocka_unit_test(test_ecdsa_and_eddsa),
	    cmocka_unit_test(test_jwks_rsa_ec_by_kid),
	    cmocka_unit_test(test_structure_rejections),
	    cmocka_unit_test(test_header_rejections),
	    cmocka_unit_test(test_hs256_with_public_key_is_alg_mismatch),
	    cmocka_unit_test(test_unknown_kid),
	    cmocka_unit_test(test_claim_rejections_and_leeway),
	    cmocka_unit_test(test_b64url_edges),
	    cmocka_unit_test(test_key_loading_errors_name_the_file),
	    cmocka_unit_test(test_concurrent_verifies_on_one_set),
	    cmocka_unit_test(test_rc_names_are_stable),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
