#include "auth/jwt.h"

/* JWT verification for admission (SPEC.md "Access control", Tokens).
 *
 * Owns: the key set (struct jwt_keys) and the verifier. The control thread builds a set with
 * jwt_keys_new()/jwt_keys_add_*() (the only file reads in auth/, at build time) and then
 * never changes it; workers call jwt_verify() on it concurrently.
 *
 * Invariants:
 * - The set stores raw public material (RSA n/e, EC x/y + curve, Ed25519 x, HMAC bytes), not
 *   wolfCrypt key objects: wolfCrypt's RsaKey/ecc_key carry operation state that a verify
 *   writes, so sharing one between workers would race. Each verify imports the key into a
 *   stack object (cheap next to the public-key operation; see bench/micro_jwt.c).
 * - Every primitive (HMAC, SHA-2, RSA PKCS#1 v1.5 and PSS, ECDSA, Ed25519, the constant-time
 *   compare) is wolfCrypt's. What is ours is parsing: strict base64url, segment splitting and
 *   claim checks, all bounded by JWT_TOKEN_MAX and done in stack buffers.
 * - The algorithm comes from the header but is only honoured when the chosen key's type can
 *   verify it (an HS256 header against an RSA key is JWT_RC_ALG_MISMATCH, never an HMAC keyed
 *   with the public key: the key-confusion attack). "none" is refused in any case.
 * - jku, x5u, jwk and x5c headers are ignored: keys come only from the set.
 * - No logging, and nothing of the token outlives the call; sub is copied out bounded, and
 *   refused (JWT_RC_BAD_SUB) rather than truncated, since it becomes X-Auth-Subject.
 * - Stack, not heap, for the decoded segments (3 x ~6 KiB) and the per-verify wolfCrypt key;
 *   cJSON allocates its trees (freed before return). Known caveat: cJSON_ParseWithLengthOpts
 *   resets its process-global error position on every call, a write shared by all workers
 *   that we never read; harmless in practice, a data race in C11 terms.
 *
 * Rejected: verifying the payload's JSON before the signature (parsing unauthenticated
 * claims buys nothing); accepting duplicate JSON members (parsers disagree on which wins, so
 * the token could mean two things); truncating a long sub (two subjects would collide). */

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/rsa.h>

#define JWT_PEM_FILE_MAX  (64 * 1024)
#define JWT_JWKS_FILE_MAX (1024 * 1024)
#define JWT_SECRET_MAX    1024
#define JWT_RSA_MIN_BYTES 256 /* 2048 bits */
#define JWT_RSA_MAX_BYTES 512 /* 4096 bits */
#define JWT_JSON_MEMBERS  128 /* top-level members checked for duplicates */
#define JWT_SEG_MAX       ((JWT_TOKEN_MAX / 4) * 3 + 3)

enum jwt_kty {
	JWT_KTY_OCT = 1,
	JWT_KTY_RSA,
	JWT_KTY_EC,
	JWT_KTY_ED25519,
};

enum jwt_alg {
	JWT_ALG_HS256 = 0,
	JWT_ALG_HS384,
	JWT_ALG_HS512,
	JWT_ALG_RS256,
	JWT_ALG_RS384,
	JWT_ALG_RS512,
	JWT_ALG_PS256,
	JWT_ALG_PS384,
	JWT_ALG_PS512,
	JWT_ALG_ES256,
	JWT_ALG_ES384,
	JWT_ALG_EDDSA,
	JWT_ALG_COUNT,
};

struct jwt_alg_def {
	const char *name;
	enum jwt_kty kty;
	enum wc_HashType hash; /* WC_HASH_TYPE_NONE for EdDSA */
	int hmac_type;         /* WC_SHA256.. for HS*, else 0 */
	int mgf;               /* PS* only */
	int curve;             /* ES* only: the one curve RFC 7518 3.4 allows */
	size_t coord;          /* ES* only: bytes of r and of s */
};

static const struct jwt_alg_def jwt_algs[JWT_ALG_COUNT] = {
    [JWT_ALG_HS256] = {"HS256", JWT_KTY_OCT, WC_HASH_TYPE_SHA256, WC_SHA256, 0, 0, 0},
    [JWT_ALG_HS384] = {"HS384", JWT_KTY_OCT, WC_HASH_TYPE_SHA384, WC_SHA384, 0, 0, 0},
    [JWT_ALG_HS512] = {"HS512", JWT_KTY_OCT, WC_HASH_TYPE_SHA512, WC_SHA512, 0, 0, 0},
    [JWT_ALG_RS256] = {"RS256", JWT_KTY_RSA, WC_HASH_TYPE_SHA256, 0, 0, 0, 0},
    [JWT_ALG_RS384] = {"RS384", JWT_KTY_RSA, WC_HASH_TYPE_SHA384, 0, 0, 0, 0},
    [JWT_ALG_RS512] = {"RS512", JWT_KTY_RSA, WC_HASH_TYPE_SHA512, 0, 0, 0, 0},
    [JWT_ALG_PS256] = {"PS256", JWT_KTY_RSA, WC_HASH_TYPE_SHA256, 0, WC_MGF1SHA256, 0, 0},
    [JWT_ALG_PS384] = {"PS384", JWT_KTY_RSA, WC_HASH_TYPE_SHA384, 0, WC_MGF1SHA384, 0, 0},
    [JWT_ALG_PS512] = {"PS512", JWT_KTY_RSA, WC_HASH_TYPE_SHA512, 0, WC_MGF1SHA512, 0, 0},
    [JWT_ALG_ES256] = {"ES256", JWT_KTY_EC, WC_HASH_TYPE_SHA256, 0, 0, ECC_SECP256R1, 32},
    [JWT_ALG_ES384] = {"ES384", JWT_KTY_EC, WC_HASH_TYPE_SHA384, 0, 0, ECC_SECP384R1, 48},
    [JWT_ALG_EDDSA] = {"EdDSA", JWT_KTY_ED25519, WC_HASH_TYPE_NONE, 0, 0, 0, 0},
};

struct jwt_key {
	enum jwt_kty kty;
	int pin;                      /* enum jwt_alg the JWK's "alg" pinned it to, or -1 */
	int curve;                    /* EC: ECC_SECP256R1 or ECC_SECP384R1 */
	bool has_kid;                 /* kid-less keys are candidates for any token */
	char kid[JWT_KID_MAX];        /* NUL-terminated when has_kid */
	size_t a_len, b_len;          /* bytes used in a and b */
	uint8_t a[JWT_SECRET_MAX];    /* oct: secret; RSA: n; EC: x; Ed25519: public key */
	uint8_t b[JWT_RSA_MAX_BYTES]; /* RSA: e; EC: y */
};

struct jwt_keys {
	size_t n;                         /* keys used; written before publication only */
	struct jwt_key key[JWT_KEYS_MAX]; /* immutable once published */
};

static const char *const jwt_rc_names[JWT_RC_COUNT] = {
    [JWT_RC_OK] = "ok",
    [JWT_RC_MALFORMED] = "malformed",
    [JWT_RC_TOO_LARGE] = "too_large",
    [JWT_RC_BAD_BASE64] = "bad_base64",
    [JWT_RC_BAD_JSON] = "bad_json",
    [JWT_RC_ALG_NONE] = "alg_none",
    [JWT_RC_ALG_MISMATCH] = "alg_mismatch",
    [JWT_RC_UNKNOWN_KID] = "unknown_kid",
    [JWT_RC_CRIT] = "crit",
    [JWT_RC_BAD_SIGNATURE] = "bad_signature",
    [JWT_RC_NO_EXP] = "no_exp",
    [JWT_RC_EXPIRED] = "expired",
    [JWT_RC_NOT_YET_VALID] = "not_yet_valid",
    [JWT_RC_IAT_FUTURE] = "iat_future",
    [JWT_RC_BAD_ISS] = "bad_iss",
    [JWT_RC_BAD_AUD] = "bad_aud",
    [JWT_RC_BAD_SUB] = "bad_sub",
};

const char *jwt_rc_name(enum jwt_rc rc)
{
	if ((unsigned)rc >= JWT_RC_COUNT)
		return "unknown";
	return jwt_rc_names[rc];
}

static void jwt_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void jwt_err(char *err, size_t err_len, const char *fmt, ...)
{
	if (err == NULL || err_len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

/* ---- base64url ---- */

static int jwt_b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

size_t jwt_b64url_encode(const uint8_t *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = a[(v >> 18) & 63];
		out[o++] = a[(v >> 12) & 63];
		if (i + 1 < n)
			out[o++] = a[(v >> 6) & 63];
		if (i + 2 < n)
			out[o++] = a[v & 63];
	}
	out[o] = '\0';
	return o;
}

long jwt_b64url_decode(const char *in, size_t n, uint8_t *out, size_t out_cap)
{
	if (n % 4 == 1)
		return -1;
	size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (need > out_cap || need > (size_t)LONG_MAX)
		return -1;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int v = jwt_b64_val((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* RFC 4648 3.5: the pad bits of the last character must be zero, so that every
	 * byte string has exactly one encoding. */
	if (acc != 0)
		return -1;
	return (long)o;
}

/* ---- key set ---- */

struct jwt_keys *jwt_keys_new(void)
{
	return calloc(1, sizeof(struct jwt_keys));
}

void jwt_keys_free(struct jwt_keys *k)
{
	if (k == NULL)
		return;
	explicit_bzero(k, sizeof(*k));
	free(k);
}

size_t jwt_keys_count(const struct jwt_keys *k)
{
	return k ? k->n : 0;
}

static int jwt_alg_lookup(const char *name)
{
	for (int i = 0; i < JWT_ALG_COUNT; i++)
		if (strcmp(jwt_algs[i].name, name) == 0)
			return i;
	return -1;
}

static int jwt_key_set_kid(struct jwt_key *key, const char *kid)
{
	if (kid == NULL) {
		key->has_kid = false;
		return 0;
	}
	size_t l = strlen(kid);
	if (l >= JWT_KID_MAX)
		return -1;
	memcpy(key->kid, kid, l + 1);
	key->has_kid = true;
	return 0;
}

static size_t jwt_strip_zeros(const uint8_t **p, size_t n)
{
	while (n > 1 && (*p)[0] == 0) {
		(*p)++;
		n--;
	}
	return n;
}

/* Checks raw material by importing it the way jwt_verify() will; 0 or a reason. */
static const char *jwt_key_check(const struct jwt_key *key)
{
	const char *why = NULL;
	switch (key->kty) {
	case JWT_KTY_OCT:
		if (key->a_len < 32)
			return "HMAC secret shorter than 32 bytes";
		return NULL;
	case JWT_KTY_RSA: {
		if (key->a_len < JWT_RSA_MIN_BYTES || key->a_len > JWT_RSA_MAX_BYTES)
			return "RSA modulus not 2048..4096 bits";
		RsaKey rsa;
		if (wc_InitRsaKey(&rsa, NULL) != 0)
			return "RSA init failed";
		if (wc_RsaPublicKeyDecodeRaw(key->a, (word32)key->a_len, key->b, (word32)key->b_len,
		                             &rsa) != 0)
			why = "RSA public key rejected";
		wc_FreeRsaKey(&rsa);
		return why;
	}
	case JWT_KTY_EC: {
		ecc_key ecc;
		if (wc_ecc_init(&ecc) != 0)
			return "EC init failed";
		if (wc_ecc_import_unsigned(&ecc, key->a, key->b, NULL, key->curve) != 0 ||
		    wc_ecc_check_key(&ecc) != 0)
			why = "EC point not on the curve";
		wc_ecc_free(&ecc);
		return why;
	}
	case JWT_KTY_ED25519: {
		ed25519_key ed;
		if (key->a_len != ED25519_PUB_KEY_SIZE)
			return "Ed25519 public key not 32 bytes";
		if (wc_ed25519_init(&ed) != 0)
			return "Ed25519 init failed";
		if (wc_ed25519_import_public(key->a, (word32)key->a_len, &ed) != 0)
			why = "Ed25519 public key rejected";
		wc_ed25519_free(&ed);
		return why;
	}
	}
	return "unknown key type";
}

static struct jwt_key *jwt_keys_slot(struct jwt_keys *k)
{
	if (k->n >= JWT_KEYS_MAX)
		return NULL;
	struct jwt_key *key = &k->key[k->n];
	memset(key, 0, sizeof(*key));
	key->pin = -1;
	return key;
}

int jwt_keys_add_secret(struct jwt_keys *k, const uint8_t *secret, size_t n, const char *kid,
                        char *err, size_t err_len)
{
	struct jwt_key *key = jwt_keys_slot(k);
	if (key == NULL) {
		jwt_err(err, err_len, "secret: more than %d keys", JWT_KEYS_MAX);
		return -1;
	}
	if (n < 32 || n > JWT_SECRET_MAX) {
		jwt_err(err, err_len, "secret: length %zu not in 32..%d bytes", n, JWT_SECRET_MAX);
		return -1;
	}
	if (jwt_key_set_kid(key, kid) != 0) {
		jwt_err(err, err_len, "secret: kid longer than %d bytes", JWT_KID_MAX - 1);
		return -1;
	}
	key->kty = JWT_KTY_OCT;
	memcpy(key->a, secret, n);
	key->a_len = n;
	k->n++;
	return 0;
}

/* Reads a whole file of at most max bytes into a NUL-terminated malloc'd buffer. */
static char *jwt_read_file(const char *path, size_t max, size_t *len, char *err, size_t err_len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		jwt_err(err, err_len, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(max + 1);
	if (buf == NULL) {
		fclose(f);
		jwt_err(err, err_len, "%s: out of memory", path);
		return NULL;
	}
	size_t got = fread(buf, 1, max + 1, f);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		jwt_err(err, err_len, "%s: read error", path);
		free(buf);
		return NULL;
	}
	if (got > max) {
		jwt_err(err, err_len, "%s: larger than %zu bytes", path, max);
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	*len = got;
	return buf;
}

static const char *jwt_key_from_der(struct jwt_key *key, const uint8_t *der, word32 der_len)
{
	word32 idx = 0;
	RsaKey rsa;
	if (wc_InitRsaKey(&rsa, NULL) == 0) {
		int rc = wc_RsaPublicKeyDecode(der, &idx, &rsa, der_len);
		if (rc == 0) {
			word32 nl = sizeof(key->a), el = sizeof(key->b);
			rc = wc_RsaFlattenPublicKey(&rsa, key->b, &el, key->a, &nl);
			wc_FreeRsaKey(&rsa);
			if (rc != 0)
				return "RSA key export failed";
			key->kty = JWT_KTY_RSA;
			key->a_len = nl;
			key->b_len = el;
			return NULL;
		}
		wc_FreeRsaKey(&rsa);
	}
	ecc_key ecc;
	idx = 0;
	if (wc_ecc_init(&ecc) == 0) {
		int rc = wc_EccPublicKeyDecode(der, &idx, &ecc, der_len);
		if (rc == 0) {
			int curve = ecc.dp ? ecc.dp->id : -1;
			word32 xl = sizeof(key->a), yl = sizeof(key->b);
			rc = wc_ecc_export_public_raw(&ecc, key->a, &xl, key->b, &yl);
			wc_ecc_free(&ecc);
			if (curve != ECC_SECP256R1 && curve != ECC_SECP384R1)
				return "EC curve is not P-256 or P-384";
			if (rc != 0)
				return "EC key export failed";
			key->kty = JWT_KTY_EC;
			key->curve = curve;
			key->a_len = xl;
			key->b_len = yl;
			return NULL;
		}
		wc_ecc_free(&ecc);
	}
	ed25519_key ed;
	idx = 0;
	if (wc_ed25519_init(&ed) == 0) {
		int rc = wc_Ed25519PublicKeyDecode(der, &idx, &ed, der_len);
		if (rc == 0) {
			word32 l = sizeof(key->a);
			rc = wc_ed25519_export_public(&ed, key->a, &l);
			wc_ed25519_free(&ed);
			if (rc != 0)
				return "Ed25519 key export failed";
			key->kty = JWT_KTY_ED25519;
			key->a_len = l;
			return NULL;
		}
		wc_ed25519_free(&ed);
	}
	return "not an RSA, EC or Ed25519 public key";
}

int jwt_keys_add_pem_file(struct jwt_keys *k, const char *path, const char *kid, char *err,
                          size_t err_len)
{
	struct jwt_key *key = jwt_keys_slot(k);
	if (key == NULL) {
		jwt_err(err, err_len, "%s: more than %d keys", path, JWT_KEYS_MAX);
		return -1;
	}
	if (jwt_key_set_kid(key, kid) != 0) {
		jwt_err(err, err_len, "%s: kid longer than %d bytes", path, JWT_KID_MAX - 1);
		return -1;
	}
	size_t len = 0;
	char *pem = jwt_read_file(path, JWT_PEM_FILE_MAX, &len, err, err_len);
	if (pem == NULL)
		return -1;
	int rc = -1;
	uint8_t *der = malloc(len + 1);
	if (der == NULL) {
		jwt_err(err, err_len, "%s: out of memory", path);
		goto out_free_pem;
	}
	int der_len = wc_PubKeyPemToDer((const unsigned char *)pem, (int)len, der, (int)len + 1);
	if (der_len <= 0) {
		jwt_err(err, err_len, "%s: no PEM \"PUBLIC KEY\" block (private keys are refused)",
		        path);
		goto out_free_der;
	}
	const char *why = jwt_key_from_der(key, der, (word32)der_len);
	if (why == NULL)
		why = jwt_key_check(key);
	if (why != NULL) {
		jwt_err(err, err_len, "%s: %s", path, why);
		goto out_free_der;
	}
	k->n++;
	rc = 0;
out_free_der:
	free(der);
out_free_pem:
	free(pem);
	return rc;
}

/* Decodes a base64url JWK member into [out, out + cap); NULL or a reason. */
static const char *jwt_jwk_bytes(const cJSON *jwk, const char *name, uint8_t *out, size_t cap,
                                 size_t *len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(jwk, name);
	if (!cJSON_IsString(v))
		return "member missing or not a string";
	long l = jwt_b64url_decode(v->valuestring, strlen(v->valuestring), out, cap);
	if (l <= 0)
		return "member is not base64url of a sane length";
	*len = (size_t)l;
	return NULL;
}

static const char *jwt_jwk_parse(const cJSON *jwk, struct jwt_key *key, const char **member,
                                 bool *skip)
{
	*skip = false;
	if (!cJSON_IsObject(jwk))
		return "not an object";
	const cJSON *use = cJSON_GetObjectItemCaseSensitive(jwk, "use");
	if (use != NULL) {
		if (!cJSON_IsString(use))
			return "\"use\" not a string";
		if (strcmp(use->valuestring, "sig") != 0) {
			*skip = true;
			return NULL;
		}
	}
	const cJSON *kid = cJSON_GetObjectItemCaseSensitive(jwk, "kid");
	if (kid != NULL && (!cJSON_IsString(kid) || jwt_key_set_kid(key, kid->valuestring) != 0))
		return "\"kid\" not a string of at most 127 bytes";
	const cJSON *kty = cJSON_GetObjectItemCaseSensitive(jwk, "kty");
	if (!cJSON_IsString(kty))
		return "\"kty\" missing or not a string";
	const cJSON *crv = cJSON_GetObjectItemCaseSensitive(jwk, "crv");
	const char *crvs = cJSON_IsString(crv) ? crv->valuestring : "";
	const char *why;
	uint8_t tmp[JWT_SECRET_MAX];
	size_t l = 0;
	if (strcmp(kty->valuestring, "oct") == 0) {
		key->kty = JWT_KTY_OCT;
		*member = "k";
		if ((why = jwt_jwk_bytes(jwk, "k", key->a, sizeof(key->a), &key->a_len)))
			return why;
	} else if (strcmp(kty->valuestring, "RSA") == 0) {
		key->kty = JWT_KTY_RSA;
		*member = "n";
		if ((why = jwt_jwk_bytes(jwk, "n", tmp, sizeof(tmp), &l)))
			return why;
		const uint8_t *p = tmp;
		l = jwt_strip_zeros(&p, l);
		if (l > sizeof(key->a))
			return "RSA modulus over 4096 bits";
		memcpy(key->a, p, l);
		key->a_len = l;
		*member = "e";
		if ((why = jwt_jwk_bytes(jwk, "e", key->b, sizeof(key->b), &key->b_len)))
			return why;
	} else if (strcmp(kty->valuestring, "EC") == 0) {
		key->kty = JWT_KTY_EC;
		*member = "crv";
		size_t coord;
		if (strcmp(crvs, "P-256") == 0) {
			key->curve = ECC_SECP256R1;
			coord = 32;
		} else if (strcmp(crvs, "P-384") == 0) {
			key->curve = ECC_SECP384R1;
			coord = 48;
		} else {
			return "curve is not P-256 or P-384";
		}
		*member = "x";
		if ((why = jwt_jwk_bytes(jwk, "x", key->a, sizeof(key->a), &key->a_len)))
			return why;
		*member = "y";
		if ((why = jwt_jwk_bytes(jwk, "y", key->b, sizeof(key->b), &key->b_len)))
			return why;
		/* RFC 7518 6.2.1.2: coordinates are the full field size, zero-padded. */
		*member = "x/y";
		if (key->a_len != coord || key->b_len != coord)
			return "coordinate is not the curve's field size";
	} else if (strcmp(kty->valuestring, "OKP") == 0) {
		key->kty = JWT_KTY_ED25519;
		*member = "crv";
		if (strcmp(crvs, "Ed25519") != 0)
			return "OKP curve is not Ed25519";
		*member = "x";
		if ((why = jwt_jwk_bytes(jwk, "x", key->a, sizeof(key->a), &key->a_len)))
			return why;
	} else {
		*member = "kty";
		return "kty is not RSA, EC, OKP or oct";
	}
	*member = "alg";
	const cJSON *alg = cJSON_GetObjectItemCaseSensitive(jwk, "alg");
	if (alg != NULL) {
		int a = cJSON_IsString(alg) ? jwt_alg_lookup(alg->valuestring) : -1;
		if (a < 0)
			return "alg is not a supported JWS algorithm";
		if (jwt_algs[a].kty != key->kty ||
		    (key->kty == JWT_KTY_EC && jwt_algs[a].curve != key->curve))
			return "alg does not fit the key type";
		key->pin = a;
	}
	*member = NULL;
	return jwt_key_check(key);
}

int jwt_keys_add_jwks_file(struct jwt_keys *k, const char *path, char *err, size_t err_len)
{
	size_t len = 0;
	char *txt = jwt_read_file(path, JWT_JWKS_FILE_MAX, &len, err, err_len);
	if (txt == NULL)
		return -1;
	int rc = -1;
	size_t n0 = k->n;
	cJSON *root = cJSON_ParseWithLength(txt, len);
	const cJSON *keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
	if (root == NULL || !cJSON_IsArray(keys)) {
		jwt_err(err, err_len, "%s: not a JWKS (a JSON object with a \"keys\" array)", path);
		goto out_free;
	}
	int i = 0, added = 0;
	const cJSON *jwk;
	cJSON_ArrayForEach(jwk, keys)
	{
		struct jwt_key *key = jwt_keys_slot(k);
		if (key == NULL) {
			jwt_err(err, err_len, "%s: keys[%d]: more than %d keys", path, i,
			        JWT_KEYS_MAX);
			goto out_undo;
		}
		const char *member = NULL;
		bool skip;
		const char *why = jwt_jwk_parse(jwk, key, &member, &skip);
		if (why != NULL) {
			if (member)
				jwt_err(err, err_len, "%s: keys[%d]: \"%s\": %s", path, i, member,
				        why);
			else
				jwt_err(err, err_len, "%s: keys[%d]: %s", path, i, why);
			goto out_undo;
		}
		if (!skip) {
			k->n++;
			added++;
		}
		i++;
	}
	if (added == 0) {
		jwt_err(err, err_len, "%s: no signature key in \"keys\"", path);
		goto out_undo;
	}
	rc = 0;
	goto out_free;
out_undo:
	explicit_bzero(&k->key[n0], (JWT_KEYS_MAX - n0) * sizeof(k->key[0]));
	k->n = n0;
out_free:
	cJSON_Delete(root);
	explicit_bzero(txt, len);
	free(txt);
	return rc;
}

/* ---- verification ---- */

static bool jwt_verify_hmac(const struct jwt_key *key, const struct jwt_alg_def *a,
                            const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len)
{
	uint8_t mac[WC_MAX_DIGEST_SIZE];
	int dlen = wc_HashGetDigestSize(a->hash);
	if (dlen <= 0 || sig_len != (size_t)dlen)
		return false;
	Hmac h;
	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		return false;
	bool ok = wc_HmacSetKey(&h, a->hmac_type, key->a, (word32)key->a_len) == 0 &&
	          wc_HmacUpdate(&h, msg, (word32)msg_len) == 0 && wc_HmacFinal(&h, mac) == 0 &&
	          wolfSSL_CRYPTO_memcmp(mac, sig, sig_len) == 0;
	wc_HmacFree(&h);
	explicit_bzero(mac, sizeof(mac));
	return ok;
}

static bool jwt_verify_rsa(const struct jwt_key *key, const struct jwt_alg_def *a,
                           const uint8_t *digest, int dlen, uint8_t *sig, size_t sig_len)
{
	/* RFC 7518 3.3: the signature is exactly the modulus length. */
	if (sig_len != key->a_len)
		return false;
	RsaKey rsa;
	if (wc_InitRsaKey(&rsa, NULL) != 0)
		return false;
	bool ok = false;
	uint8_t dec[JWT_RSA_MAX_BYTES];
	if (wc_RsaPublicKeyDecodeRaw(key->a, (word32)key->a_len, key->b, (word32)key->b_len,
	                             &rsa) != 0)
		goto out_free_rsa;
	if (a->mgf != 0) {
		int rc = wc_RsaPSS_VerifyCheck(sig, (word32)sig_len, dec, sizeof(dec), digest,
		                               (word32)dlen, a->hash, a->mgf, &rsa);
		ok = rc >= 0;
	} else {
		uint8_t enc[MAX_ENCODED_SIG_SZ];
		int rc = wc_RsaSSL_Verify(sig, (word32)sig_len, dec, sizeof(dec), &rsa);
		word32 el = wc_EncodeSignature(enc, digest, (word32)dlen, wc_HashGetOID(a->hash));
		ok = rc > 0 && el > 0 && (word32)rc == el &&
		     wolfSSL_CRYPTO_memcmp(dec, enc, el) == 0;
	}
out_free_rsa:
	wc_FreeRsaKey(&rsa);
	return ok;
}

static bool jwt_verify_ecdsa(const struct jwt_key *key, const struct jwt_alg_def *a,
                             const uint8_t *digest, int dlen, const uint8_t *sig, size_t sig_len)
{
	if (key->curve != a->curve || sig_len != 2 * a->coord)
		return false;
	/* JWS carries r || s (RFC 7518 3.4); wolfCrypt verifies a DER ECDSA-Sig-Value. */
	uint8_t der[2 * 48 + 16];
	word32 der_len = sizeof(der);
	if (wc_ecc_rs_raw_to_sig(sig, (word32)a->coord, sig + a->coord, (word32)a->coord, der,
	                         &der_len) != 0)
		return false;
	ecc_key ecc;
	if (wc_ecc_init(&ecc) != 0)
		return false;
	int res = 0;
	bool ok = wc_ecc_import_unsigned(&ecc, key->a, key->b, NULL, key->curve) == 0 &&
	          wc_ecc_verify_hash(der, der_len, digest, (word32)dlen, &res, &ecc) == 0 &&
	          res == 1;
	wc_ecc_free(&ecc);
	return ok;
}

static bool jwt_verify_ed25519(const struct jwt_key *key, const uint8_t *msg, size_t msg_len,
                               const uint8_t *sig, size_t sig_len)
{
	if (sig_len != ED25519_SIG_SIZE)
		return false;
	ed25519_key ed;
	if (wc_ed25519_init(&ed) != 0)
		return false;
	int res = 0;
	bool ok =
	    wc_ed25519_import_public(key->a, (word32)key->a_len, &ed) == 0 &&
	    wc_ed25519_verify_msg(sig, (word32)sig_len, msg, (word32)msg_len, &res, &ed) == 0 &&
	    res == 1;
	wc_ed25519_free(&ed);
	return ok;
}

static bool jwt_key_fits(const struct jwt_key *key, int alg)
{
	const struct jwt_alg_def *a = &jwt_algs[alg];
	if (key->kty != a->kty || (key->pin >= 0 && key->pin != alg))
		return false;
	return key->kty != JWT_KTY_EC || key->curve == a->curve;
}

/* Parses [p, p + n) as exactly one JSON object with unique top-level member names. */
static cJSON *jwt_json_object(const uint8_t *p, size_t n)
{
	const char *end = NULL;
	cJSON *o = cJSON_ParseWithLengthOpts((const char *)p, n, &end, 0);
	if (o == NULL)
		return NULL;
	if (!cJSON_IsObject(o))
		goto out_bad;
	for (const char *q = end; q < (const char *)p + n; q++)
		if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n')
			goto out_bad;
	int count = 0;
	for (const cJSON *a = o->child; a != NULL; a = a->next) {
		if (++count > JWT_JSON_MEMBERS)
			goto out_bad;
		for (const cJSON *b = o->child; b != a; b = b->next)
			if (strcmp(a->string, b->string) == 0)
				goto out_bad;
	}
	return o;
out_bad:
	cJSON_Delete(o);
	return NULL;
}

/* A NumericDate (RFC 7519 2): a non-negative finite number; fraction dropped. */
static int jwt_numeric_date(const cJSON *v, uint64_t *out)
{
	if (!cJSON_IsNumber(v))
		return -1;
	double d = v->valuedouble;
	if (!isfinite(d) || d < 0 || d > 9007199254740992.0) /* 2^53 */
		return -1;
	*out = (uint64_t)d;
	return 0;
}

static enum jwt_rc jwt_check_claims(const cJSON *c, const struct jwt_policy *pol, uint64_t now_s,
                                    struct jwt_claims *out)
{
	uint64_t leeway = pol ? pol->leeway_s : 0, exp, t;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, "exp");
	if (v == NULL)
		return JWT_RC_NO_EXP;
	if (jwt_numeric_date(v, &exp) != 0)
		return JWT_RC_BAD_JSON;
	/* RFC 7519 4.1.4: valid only while now is before exp. */
	if (now_s >= exp + leeway)
		return JWT_RC_EXPIRED;
	if ((v = cJSON_GetObjectItemCaseSensitive(c, "nbf")) != NULL) {
		if (jwt_numeric_date(v, &t) != 0)
			return JWT_RC_BAD_JSON;
		if (now_s + leeway < t)
			return JWT_RC_NOT_YET_VALID;
	}
	if ((v = cJSON_GetObjectItemCaseSensitive(c, "iat")) != NULL) {
		if (jwt_numeric_date(v, &t) != 0)
			return JWT_RC_BAD_JSON;
		if (t > now_s + leeway)
			return JWT_RC_IAT_FUTURE;
	}
	if (pol && pol->iss) {
		v = cJSON_GetObjectItemCaseSensitive(c, "iss");
		if (!cJSON_IsString(v) || strcmp(v->valuestring, pol->iss) != 0)
			return JWT_RC_BAD_ISS;
	}
	if (pol && pol->aud) {
		v = cJSON_GetObjectItemCaseSensitive(c, "aud");
		bool found = false;
		if (cJSON_IsString(v)) {
			found = strcmp(v->valuestring, pol->aud) == 0;
		} else if (cJSON_IsArray(v)) {
			const cJSON *e;
			cJSON_ArrayForEach(e, v)
			{
				if (cJSON_IsString(e) && strcmp(e->valuestring, pol->aud) == 0)
					found = true;
			}
		}
		if (!found)
			return JWT_RC_BAD_AUD;
	}
	v = cJSON_GetObjectItemCaseSensitive(c, "sub");
	if (v != NULL) {
		if (!cJSON_IsString(v))
			return JWT_RC_BAD_SUB;
		size_t l = strlen(v->valuestring);
		if (l >= JWT_SUB_MAX)
			return JWT_RC_BAD_SUB;
		/* It becomes a header value (X-Auth-Subject): no CR, LF or other control. */
		for (size_t i = 0; i < l; i++) {
			unsigned char ch = (unsigned char)v->valuestring[i];
			if (ch < 0x20 || ch == 0x7f)
				return JWT_RC_BAD_SUB;
		}
		if (out) {
			memcpy(out->sub, v->valuestring, l + 1);
			out->sub_len = l;
			out->has_sub = true;
		}
	}
	if (out)
		out->exp = exp;
	return JWT_RC_OK;
}

static enum jwt_rc jwt_verify_sig(const struct jwt_keys *k, const cJSON *hdr, int alg,
                                  const uint8_t *msg, size_t msg_len, uint8_t *sig, size_t sig_len)
{
	const cJSON *kid = cJSON_GetObjectItemCaseSensitive(hdr, "kid");
	if (kid != NULL && !cJSON_IsString(kid))
		return JWT_RC_BAD_JSON;
	bool by_kid = false;
	if (kid != NULL)
		for (size_t i = 0; i < k->n; i++)
			if (k->key[i].has_kid && strcmp(k->key[i].kid, kid->valuestring) == 0)
				by_kid = true;
	const struct jwt_alg_def *a = &jwt_algs[alg];
	uint8_t digest[WC_MAX_DIGEST_SIZE];
	int dlen = 0;
	bool candidates = false, fits = false;
	for (size_t i = 0; i < k->n; i++) {
		const struct jwt_key *key = &k->key[i];
		if (kid != NULL &&
		    (by_kid ? !key->has_kid || strcmp(key->kid, kid->valuestring) != 0
		            : key->has_kid))
			continue;
		candidates = true;
		if (!jwt_key_fits(key, alg))
			continue;
		fits = true;
		bool ok = false;
		if (a->kty != JWT_KTY_OCT && a->kty != JWT_KTY_ED25519 && dlen == 0) {
			dlen = wc_HashGetDigestSize(a->hash);
			if (dlen <= 0 ||
			    wc_Hash(a->hash, msg, (word32)msg_len, digest, (word32)dlen) != 0)
				return JWT_RC_BAD_SIGNATURE;
		}
		switch (a->kty) {
		case JWT_KTY_OCT:
			ok = jwt_verify_hmac(key, a, msg, msg_len, sig, sig_len);
			break;
		case JWT_KTY_RSA: {
			/* wolfCrypt may work in place: give each try a fresh copy. */
			uint8_t tmp[JWT_RSA_MAX_BYTES];
			if (sig_len > sizeof(tmp))
				break;
			memcpy(tmp, sig, sig_len);
			ok = jwt_verify_rsa(key, a, digest, dlen, tmp, sig_len);
			break;
		}
		case JWT_KTY_EC:
			ok = jwt_verify_ecdsa(key, a, digest, dlen, sig, sig_len);
			break;
		case JWT_KTY_ED25519:
			ok = jwt_verify_ed25519(key, msg, msg_len, sig, sig_len);
			break;
		}
		if (ok)
			return JWT_RC_OK;
	}
	if (!candidates)
		return JWT_RC_UNKNOWN_KID;
	if (!fits)
		return JWT_RC_ALG_MISMATCH;
	return JWT_RC_BAD_SIGNATURE;
}

static enum jwt_rc jwt_verify_inner(const struct jwt_keys *k, const char *token, size_t n,
                                    const struct jwt_policy *pol, uint64_t now_s,
                                    struct jwt_claims *out)
{
	if (token == NULL || n == 0)
		return JWT_RC_MALFORMED;
	if (n > JWT_TOKEN_MAX)
		return JWT_RC_TOO_LARGE;
	const char *d1 = memchr(token, '.', n);
	if (d1 == NULL)
		return JWT_RC_MALFORMED;
	const char *d2 = memchr(d1 + 1, '.', (size_t)(token + n - d1 - 1));
	if (d2 == NULL || memchr(d2 + 1, '.', (size_t)(token + n - d2 - 1)) != NULL)
		return JWT_RC_MALFORMED;
	size_t hl = (size_t)(d1 - token), pl = (size_t)(d2 - d1 - 1);
	size_t sl = (size_t)(token + n - d2 - 1);
	if (hl == 0 || pl == 0)
		return JWT_RC_MALFORMED;

	uint8_t hdr[JWT_SEG_MAX], body[JWT_SEG_MAX], sig[JWT_SEG_MAX];
	long hn = jwt_b64url_decode(token, hl, hdr, sizeof(hdr));
	long pn = jwt_b64url_decode(d1 + 1, pl, body, sizeof(body));
	long sn = jwt_b64url_decode(d2 + 1, sl, sig, sizeof(sig));
	if (hn < 0 || pn < 0 || sn < 0)
		return JWT_RC_BAD_BASE64;

	cJSON *h = jwt_json_object(hdr, (size_t)hn);
	if (h == NULL)
		return JWT_RC_BAD_JSON;
	enum jwt_rc rc;
	const cJSON *alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
	if (alg == NULL) {
		rc = JWT_RC_MALFORMED;
		goto out_free_h;
	}
	if (!cJSON_IsString(alg)) {
		rc = JWT_RC_BAD_JSON;
		goto out_free_h;
	}
	if (strcasecmp(alg->valuestring, "none") == 0) {
		rc = JWT_RC_ALG_NONE;
		goto out_free_h;
	}
	/* RFC 7515 4.1.11: an extension we do not understand must fail; we understand none. */
	if (cJSON_GetObjectItemCaseSensitive(h, "crit") != NULL) {
		rc = JWT_RC_CRIT;
		goto out_free_h;
	}
	int a = jwt_alg_lookup(alg->valuestring);
	if (a < 0) {
		rc = JWT_RC_ALG_MISMATCH;
		goto out_free_h;
	}
	rc = jwt_verify_sig(k, h, a, (const uint8_t *)token, (size_t)(d2 - token), sig, (size_t)sn);
	if (rc != JWT_RC_OK)
		goto out_free_h;
	cJSON *c = jwt_json_object(body, (size_t)pn);
	if (c == NULL) {
		rc = JWT_RC_BAD_JSON;
		goto out_free_h;
	}
	rc = jwt_check_claims(c, pol, now_s, out);
	cJSON_Delete(c);
out_free_h:
	cJSON_Delete(h);
	explicit_bzero(body, sizeof(body));
	return rc;
}

void jwt_thread_fini(void)
{
#ifdef FP_ECC
	wc_ecc_fp_free();
#endif
}

enum jwt_rc jwt_verify(const struct jwt_keys *k, const char *token, size_t n,
                       const struct jwt_policy *pol, uint64_t now_s, struct jwt_claims *out)
{
	if (out) {
		out->has_sub = false;
		out->sub_len = 0;
		out->sub[0] = '\0';
		out->exp = 0;
	}
	enum jwt_rc rc = k ? jwt_verify_inner(k, token, n, pol, now_s, out) : JWT_RC_UNKNOWN_KID;
	if (out) {
		out->rc = rc;
		if (rc != JWT_RC_OK) {
			out->has_sub = false;
			out->sub_len = 0;
			out->sub[0] = '\0';
			out->exp = 0;
		}
	}
	return rc;
}
