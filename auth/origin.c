/* auth/origin.c: the Origin allowlist.
 *
 * Owns: parsing allowlist entries into a flat array (control thread, one malloc per list)
 * and matching a request's Origin value against it (workers, read-only, no allocation).
 *
 * Both sides go through one parser, so an entry and a request origin are normalised the
 * same way: scheme and host are compared case-insensitively, and a missing port becomes
 * the scheme's default (http/ws 80, https/wss 443) so "https://a:443" equals "https://a".
 * Schemes without a known default keep "no port" as port 0, which only equals "no port".
 * A wildcard entry stores the suffix ".domain": a host matches when it is longer than the
 * suffix and ends with it, which gives every depth of subdomain and never the domain
 * itself (SPEC.md). Matching is a linear scan: lists are a handful of entries.
 *
 * Rejected: normalising with a URL library (pulls in allocation and IDN rules the browser
 * has already applied: an Origin header is ASCII serialised by the browser); a hash set of
 * exact origins (the lists are tiny, and wildcards need a scan anyway); accepting a
 * trailing "/" in entries (no browser sends one, so such an entry would silently never
 * match: refused instead, like every setting that would not be enforced). */
#include "auth/origin.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ORIGIN_MAX_LEN 1024u /* longer entries or origins are refused / never match */

struct origin_entry {
	char scheme[16]; /* lower case, NUL-terminated */
	char host[256];  /* lower case; for a wildcard the suffix ".domain" */
	uint32_t port;   /* normalised; 0 = none (scheme without a default) */
	bool wildcard;   /* host is a suffix */
};

struct origin_list {
	bool allow_all;  /* a "*" entry */
	bool allow_null; /* a "null" entry */
	unsigned n;
	struct origin_entry e[]; /* n entries */
};

/* A parsed origin, as views into the caller's bytes. */
struct origin_view {
	const char *scheme;
	size_t scheme_n;
	const char *host; /* for a wildcard: starts at the '.' after '*' */
	size_t host_n;
	uint32_t port; /* normalised */
	bool wildcard;
};

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool eq_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return false;
	return true;
}

static uint32_t default_port(const char *s, size_t n)
{
	if ((n == 4 && eq_nocase(s, "http", 4)) || (n == 2 && eq_nocase(s, "ws", 2)))
		return 80;
	if ((n == 5 && eq_nocase(s, "https", 5)) || (n == 3 && eq_nocase(s, "wss", 3)))
		return 443;
	return 0;
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_host_char(char c)
{
	return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_';
}

/* Parses "scheme://host[:port]" from [p, p + n). allow_wild admits a host "*.domain".
 * Returns 0, or -1 with *why set to a short reason. */
static int origin_parse(const char *p, size_t n, bool allow_wild, struct origin_view *v,
                        const char **why)
{
	size_t i = 0;

	if (n == 0 || n > ORIGIN_MAX_LEN) {
		*why = "empty or too long";
		return -1;
	}
	/* RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
	if (!is_alpha(p[0])) {
		*why = "expected scheme://host[:port]";
		return -1;
	}
	while (i < n &&
	       (is_alpha(p[i]) || is_digit(p[i]) || p[i] == '+' || p[i] == '-' || p[i] == '.'))
		i++;
	if (n - i < 3 || memcmp(p + i, "://", 3) != 0 ||
	    i >= sizeof(((struct origin_entry *)0)->scheme)) {
		*why = "expected scheme://host[:port]";
		return -1;
	}
	v->scheme = p;
	v->scheme_n = i;
	i += 3;

	size_t h = i;
	v->wildcard = false;
	if (i < n && p[i] == '[') { /* RFC 3986 3.2.2: IP-literal */
		while (i < n && p[i] != ']') {
			char c = p[i];
			if (i > h && !(is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f') ||
			               c == ':' || c == '.')) {
				*why = "bad character in IPv6 literal";
				return -1;
			}
			i++;
		}
		if (i == n || i - h < 3) {
			*why = "bad IPv6 literal";
			return -1;
		}
		i++; /* ']' */
	} else {
		if (allow_wild && n - i >= 2 && p[i] == '*' && p[i + 1] == '.') {
			v->wildcard = true;
			h = ++i; /* the host view keeps the '.' */
			i++;
		}
		while (i < n && is_host_char(p[i]))
			i++;
		if (i == h || (v->wildcard && i == h + 1)) {
			*why = "empty host";
			return -1;
		}
	}
	v->host = p + h;
	v->host_n = i - h;
	if (v->host_n >= sizeof(((struct origin_entry *)0)->host)) {
		*why = "host too long";
		return -1;
	}

	v->port = default_port(v->scheme, v->scheme_n);
	if (i < n && p[i] == ':') {
		uint32_t port = 0;
		size_t d = ++i;
		while (i < n && is_digit(p[i]) && i - d < 6)
			port = port * 10 + (uint32_t)(p[i++] - '0');
		if (i == d || port == 0 || port > 65535 || (i < n && is_digit(p[i]))) {
			*why = "bad port";
			return -1;
		}
		v->port = port;
	}
	if (i < n) {
		switch (p[i]) {
		case '/':
			*why = "has a path";
			break;
		case '?':
			*why = "has a query";
			break;
		case '#':
			*why = "has a fragment";
			break;
		case '@':
			*why = "has userinfo";
			break;
		default:
			*why = "bad character in host or port";
			break;
		}
		return -1;
	}
	return 0;
}

struct origin_list *origin_list_new(const char *const *entries, unsigned n, char *err,
                                    size_t err_len)
{
	struct origin_list *l = calloc(1, sizeof(*l) + (size_t)n * sizeof(l->e[0]));

	if (l == NULL) {
		snprintf(err, err_len, "origin list: out of memory");
		return NULL;
	}
	for (unsigned k = 0; k < n; k++) {
		const char *s = entries[k];
		size_t sn = strlen(s);
		struct origin_view v;
		const char *why = NULL;

		if (sn == 1 && s[0] == '*') {
			l->allow_all = true;
			continue;
		}
		if (sn == 4 && memcmp(s, "null", 4) == 0) {
			l->allow_null = true;
			continue;
		}
		if (origin_parse(s, sn, true, &v, &why) != 0) {
			snprintf(err, err_len, "invalid origin \"%.100s\": %s", s, why);
			goto out_free_l;
		}
		struct origin_entry *e = &l->e[l->n++];
		for (size_t i = 0; i < v.scheme_n; i++)
			e->scheme[i] = lower(v.scheme[i]);
		e->scheme[v.scheme_n] = '\0';
		for (size_t i = 0; i < v.host_n; i++)
			e->host[i] = lower(v.host[i]);
		e->host[v.host_n] = '\0';
		e->port = v.port;
		e->wildcard = v.wildcard;
	}
	return l;

out_free_l:
	free(l);
	return NULL;
}

void origin_list_free(struct origin_list *l)
{
	free(l);
}

bool origin_allowed(const struct origin_list *l, const char *origin, size_t n)
{
	struct origin_view v;
	const char *why;

	if (l->allow_all)
		return true;
	/* RFC 6454 7.3: an opaque origin serialises as "null"; only a "null" entry admits it. */
	if (n == 4 && memcmp(origin, "null", 4) == 0)
		return l->allow_null;
	if (origin_parse(origin, n, false, &v, &why) != 0)
		return false;
	for (unsigned k = 0; k < l->n; k++) {
		const struct origin_entry *e = &l->e[k];
		size_t hn = strlen(e->host);

		if (strlen(e->scheme) != v.scheme_n || !eq_nocase(v.scheme, e->scheme, v.scheme_n))
			continue;
		if (e->port != v.port)
			continue;
		if (e->wildcard) {
			/* ".a.com" matches "x.a.com" and "y.x.a.com", never "a.com" or ".a.com" */
			if (v.host_n > hn && v.host[0] != '.' &&
			    eq_nocase(v.host + v.host_n - hn, e->host, hn))
				return true;
		} else if (v.host_n == hn && eq_nocase(v.host, e->host, hn)) {
			return true;
		}
	}
	return false;
}
