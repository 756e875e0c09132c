#ifndef WSG_AUTH_JWT_H
#define WSG_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* JWT (RFC 7519) admission: JWS compact form (RFC 7515) only, verified against an immutable
 * key set with wolfCrypt. The control thread builds a struct jwt_keys (files are read only
 * here, at build time); workers call jwt_verify() with the time passed in. Nothing in this
 * module logs, and no token byte is kept after jwt_verify() returns. */

#define JWT_TOKEN_MAX 8192 /* longer tokens are JWT_RC_TOO_LARGE */
#define JWT_SUB_MAX   256  /* sub buffer incl. the NUL: a sub of up to 255 bytes */
#define JWT_KID_MAX   128  /* kid buffer incl. the NUL */
#define JWT_KEYS_MAX  32   /* keys per set */

enum jwt_rc {
	JWT_RC_OK = 0,
	JWT_RC_MALFORMED,     /* not three dot-separated segments, empty header, no alg */
	JWT_RC_TOO_LARGE,     /* over JWT_TOKEN_MAX bytes */
	JWT_RC_BAD_BASE64,    /* a segment is not strict unpadded base64url */
	JWT_RC_BAD_JSON,      /* header or claims not one JSON object, duplicate member, bad type */
	JWT_RC_ALG_NONE,      /* alg "none" (any case) */
	JWT_RC_ALG_MISMATCH,  /* unknown alg, or no key of the set can verify it (HS* vs RSA) */
	JWT_RC_UNKNOWN_KID,   /* kid names no key and the set has no kid-less key */
	JWT_RC_CRIT,          /* any crit header: no extension is understood */
	JWT_RC_BAD_SIGNATURE, /* no candidate key verifies the signature */
	JWT_RC_NO_EXP,        /* exp claim missing */
	JWT_RC_EXPIRED,       /* now >= exp + leeway */
	JWT_RC_NOT_YET_VALID, /* now + leeway < nbf */
	JWT_RC_IAT_FUTURE,    /* iat > now + leeway */
	JWT_RC_BAD_ISS,       /* policy names an iss and the token's differs or is missing */
	JWT_RC_BAD_AUD,       /* policy names an aud the token's aud (string or array) lacks */
	JWT_RC_BAD_SUB,       /* sub not a string, over 255 bytes, or with a control byte */
	JWT_RC_COUNT,
};

/* Stable lower-case name for metrics labels ("ok", "malformed", "bad_signature", ...);
 * "unknown" for a value outside the enum. */
const char *jwt_rc_name(enum jwt_rc rc);

/* What an admitted token must also satisfy. Borrowed by jwt_verify(). */
struct jwt_policy {
	const char *iss;   /* required issuer (exact match), NULL: not checked */
	const char *aud;   /* required audience (exact match), NULL: not checked */
	uint32_t leeway_s; /* clock skew allowed on exp, nbf and iat */
};

/* Filled by jwt_verify(); sub is a bounded copy, never a view into the token. */
struct jwt_claims {
	enum jwt_rc rc;        /* same as jwt_verify()'s return */
	bool has_sub;          /* the token carried a sub */
	size_t sub_len;        /* bytes in sub, without the NUL */
	char sub[JWT_SUB_MAX]; /* NUL-terminated; "" when absent or on failure */
	uint64_t exp;          /* the exp claim (seconds, fraction dropped); 0 on failure */
};

struct jwt_keys;

/* Allocates an empty key set (NULL on allocation failure). Control thread only. */
struct jwt_keys *jwt_keys_new(void);
/* Frees a key set and wipes its secrets; NULL is a no-op. No verify may be running on it. */
void jwt_keys_free(struct jwt_keys *k);
/* Number of keys in the set. */
size_t jwt_keys_count(const struct jwt_keys *k);

/* Adds an HMAC secret (HS256/384/512), copied; at least 32 bytes (RFC 7518 3.2). kid may be
 * NULL. Returns 0, or -1 with one line in err. */
int jwt_keys_add_secret(struct jwt_keys *k, const uint8_t *secret, size_t n, const char *kid,
                        char *err, size_t err_len);

/* Adds the public key of a PEM "PUBLIC KEY" (SubjectPublicKeyInfo) file: RSA (2048..4096
 * bits), EC P-256 or P-384, or Ed25519. kid may be NULL. Returns 0, or -1 with one line
 * naming the file and why in err. */
int jwt_keys_add_pem_file(struct jwt_keys *k, const char *path, const char *kid, char *err,
                          size_t err_len);

/* Adds every key of a JWKS file (RFC 7517 {"keys": [...]}): kty RSA (n, e), EC (crv P-256 or
 * P-384, x, y), OKP (crv Ed25519, x), oct (k). A key's "alg", when present, pins it to that
 * algorithm; keys with "use" other than "sig" are skipped. Returns 0, or -1 with one line
 * naming the file, the key index and why in err (the set is then left as it was). */
int jwt_keys_add_jwks_file(struct jwt_keys *k, const char *path, char *err, size_t err_len);

/* Verifies the JWS compact token [token, token + n) against k and pol at time now_s (Unix
 * seconds). Key choice: a kid in the header selects the keys with that kid, or, when none
 * has it, the kid-less keys; no kid selects every key. Of those, the keys able to verify
 * alg are tried in order. Signature first, then exp (required), nbf, iat, iss, aud, sub.
 * Reentrant: any number of threads may verify against one set. Borrows everything; fills
 * *out (when not NULL) and returns its rc. Never allocates beyond cJSON's parse trees. */
enum jwt_rc jwt_verify(const struct jwt_keys *k, const char *token, size_t n,
                       const struct jwt_policy *pol, uint64_t now_s, struct jwt_claims *out);

/* Call on every thread that ran jwt_verify() before it exits: frees wolfCrypt's per-thread
 * ECC fixed-point cache (FP_ECC, thread-local in Debian's wolfSSL), which ES256/ES384
 * verification fills and which otherwise leaks with the thread. */
void jwt_thread_fini(void);

/* Strict base64url (RFC 4648 5) without padding: rejects '=', any byte outside the
 * alphabet, a length of 1 mod 4 and non-zero unused bits. Writes at most out_cap bytes.
 * Returns the decoded length, or -1. Exposed for the tests and the key loaders. */
long jwt_b64url_decode(const char *in, size_t n, uint8_t *out, size_t out_cap);
/* The other way, without padding: writes ceil(4n/3) characters and a NUL into out (which
 * holds at least 4 * ((n + 2) / 3) + 1 bytes) and returns the length without the NUL. For
 * the tests, the fuzz target and the benchmark that build tokens. */
size_t jwt_b64url_encode(const uint8_t *in, size_t n, char *out);

#endif
