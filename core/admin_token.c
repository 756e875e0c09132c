/* core/admin_token.c: --admin-token, the bearer token that guards the admin API.
 *
 * Owns: finding "Authorization: Bearer <token>" in a parsed admin request and comparing it
 * with the configured token in constant time. admin.c decides which calls are guarded
 * (SPEC.md: all but /healthz, /readyz and /metrics) and answers 401.
 *
 * The comparison walks the whole configured token whatever was sent (missing bytes compare
 * as zero, a length mismatch is folded into the result), so its time depends only on the
 * configured token's length, which an attacker learns nothing from by varying guesses.
 * Only the first Authorization header counts: a second one cannot turn a failure into a
 * success, and proxies that add one are not our case.
 *
 * Rejected: strcmp/memcmp (stop at the first difference: the time leaks the matching
 * prefix); hashing both sides first (also constant time, but a dependency for nothing the
 * loop below does not do). */
#include <string.h>

#include "core/admin_api_int.h"

static bool admin_ci_prefix(const char *p, size_t n, const char *lower)
{
	size_t k = strlen(lower);
	if (n < k)
		return false;
	for (size_t i = 0; i < k; i++) {
		char c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lower[i])
			return false;
	}
	return true;
}

static bool admin_token_equal(const char *want, size_t wn, const char *got, size_t gn)
{
	volatile unsigned char diff = (unsigned char)(wn != gn);
	for (size_t i = 0; i < wn; i++) {
		unsigned char g = i < gn ? (unsigned char)got[i] : 0;
		diff |= (unsigned char)(g ^ (unsigned char)want[i]);
	}
	return diff == 0;
}

bool admin__token_ok(const char *token, const struct http_request *req)
{
	if (token == NULL)
		return true;
	for (unsigned i = 0; i < req->n_headers; i++) {
		const struct http_header *h = &req->headers[i];
		if (h->name.n != 13 || !admin_ci_prefix(h->name.p, h->name.n, "authorization"))
			continue;
		const char *v = h->value.p;
		size_t n = h->value.n;
		/* RFC 9110 11.1: the scheme is case-insensitive; RFC 6750 2.1: one or more
		 * spaces, then the token. The parser has trimmed the value's ends. */
		if (!admin_ci_prefix(v, n, "bearer "))
			return false;
		v += 7;
		n -= 7;
		while (n > 0 && *v == ' ') {
			v++;
			n--;
		}
		return admin_token_equal(token, strlen(token), v, n);
	}
	return false;
}
