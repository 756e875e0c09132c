/* proto/http_path.c: request-path normalisation for route matching (RFC 3986 6.2.2, 5.2.4).
 *
 * Owns: one pure function that turns a client's path into the one form the router and the
 * backend both see. Runs on a worker, over caller memory; no allocation, no state.
 *
 * Two passes over the caller's output buffer. Pass 1 reads the input left to right, checks
 * and decodes percent-escapes, merges runs of '/' and writes the result to out; every step
 * writes at most as many bytes as it reads, so the write position never passes the read
 * position (which is why out may be in) and the result is never longer than the input.
 * Pass 2 removes dot segments in place over that result, segment by segment: a kept segment
 * is copied down, "." is skipped, ".." pops the last kept segment by scanning back to its
 * '/'. Each byte is copied once and popped at most once, so the whole is O(n).
 *
 * Decoding comes first, so "%2e%2e" is a ".." segment like any other (RFC 3986 6.2.2.2 says
 * the two forms are equivalent; routing on one and serving the other is the bug we fix).
 * Merged slashes mean no empty segment reaches pass 2, so its output has no "//" either.
 *
 * Rejected: decoding every escape (a decoded '?', '#' or '%' changes what the path means to
 * the backend, and a decoded non-ASCII byte is not ours to interpret); RFC 5.2.4's silent
 * drop of a ".." above the root (the request is a traversal attempt, answered 400). */
#include "proto/http_path.h"

#include <stdbool.h>
#include <stdint.h>

static int http_path_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* RFC 3986 2.3: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~". */
static bool http_path_is_unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Pass 1: escapes and slashes, into out. Returns 0 or a negative http_path_rc. */
static int http_path_decode(const char *in, size_t n, char *out, size_t cap, size_t *len)
{
	static const char upper[] = "0123456789ABCDEF";
	size_t w = 0;
	for (size_t r = 0; r < n;) {
		unsigned char c = (unsigned char)in[r];
		if (c <= 0x20 || c >= 0x7f || c == '\\')
			return HTTP_PATH_BAD_CHAR;
		if (c == '/') {
			r++;
			/* nginx merge_slashes: "//" is "/". A decoded byte is never '/' (%2F is
			 * refused), so only raw slashes can meet here. */
			if (w > 0 && out[w - 1] == '/')
				continue;
			if (w >= cap)
				return HTTP_PATH_TOO_LONG;
			out[w++] = '/';
			continue;
		}
		if (c != '%') {
			r++;
			if (w >= cap)
				return HTTP_PATH_TOO_LONG;
			out[w++] = (char)c;
			continue;
		}
		/* RFC 3986 2.1: pct-encoded = "%" HEXDIG HEXDIG. */
		if (n - r < 3)
			return HTTP_PATH_BAD_ESCAPE;
		int hi = http_path_hex((unsigned char)in[r + 1]);
		int lo = http_path_hex((unsigned char)in[r + 2]);
		if (hi < 0 || lo < 0)
			return HTTP_PATH_BAD_ESCAPE;
		r += 3;
		unsigned char v = (unsigned char)(hi * 16 + lo);
		if (v == '/')
			return HTTP_PATH_ENCODED_SLASH;
		if (v == '\0')
			return HTTP_PATH_ENCODED_NUL;
		if (v == '\\')
			return HTTP_PATH_ENCODED_BACKSLASH;
		if (http_path_is_unreserved(v)) {
			/* RFC 3986 6.2.2.2: decode percent-encoded unreserved characters. */
			if (w >= cap)
				return HTTP_PATH_TOO_LONG;
			out[w++] = (char)v;
			continue;
		}
		/* RFC 3986 6.2.2.1: the hex digits of an escape are normalised to upper case. */
		if (cap - w < 3)
			return HTTP_PATH_TOO_LONG;
		out[w++] = '%';
		out[w++] = upper[hi];
		out[w++] = upper[lo];
	}
	*len = w;
	return HTTP_PATH_OK;
}

/* Pass 2: RFC 3986 5.2.4 over [p, p + n), which starts with '/' and has no "//". Writes the
 * result in place and returns 0 or HTTP_PATH_ABOVE_ROOT. */
static int http_path_remove_dots(char *p, size_t n, size_t *len)
{
	size_t w = 0; /* output so far: "" or "/seg/seg" (no trailing '/') */
	size_t r = 0; /* at a '/' */
	bool slash_end = false;
	while (r < n) {
		size_t b = r + 1; /* segment [b, e) */
		size_t e = b;
		while (e < n && p[e] != '/')
			e++;
		size_t sn = e - b;
		r = e;
		if (sn == 1 && p[b] == '.') {
			/* "/./" is "/"; a final "/." leaves the directory: "/a/." is "/a/". */
			slash_end = true;
			continue;
		}
		if (sn == 2 && p[b] == '.' && p[b + 1] == '.') {
			if (w == 0)
				return HTTP_PATH_ABOVE_ROOT;
			while (w > 0 && p[w - 1] != '/')
				w--;
			w--; /* the segment's own '/' */
			slash_end = true;
			continue;
		}
		if (sn == 0) {
			/* Only the empty segment after a final '/' (slashes are merged). */
			slash_end = true;
			continue;
		}
		/* Copy "/seg" down. w <= b - 1 (the segment's '/'), so a forward copy never
		 * overwrites a byte it has yet to read. */
		p[w++] = '/';
		for (size_t i = b; i < e; i++)
			p[w++] = p[i];
		slash_end = false;
	}
	if (w == 0 || slash_end)
		p[w++] = '/';
	*len = w;
	return HTTP_PATH_OK;
}

int http_path_normalize(const char *in, size_t n, char *out, size_t cap, size_t *out_len)
{
	*out_len = 0;
	if (n == 0 || in[0] != '/')
		return HTTP_PATH_BAD_CHAR;
	size_t len = 0;
	int rc = http_path_decode(in, n, out, cap, &len);
	if (rc != HTTP_PATH_OK)
		return rc;
	rc = http_path_remove_dots(out, len, &len);
	if (rc != HTTP_PATH_OK)
		return rc;
	*out_len = len;
	return HTTP_PATH_OK;
}

const char *http_path_rc_name(int rc)
{
	switch (rc) {
	case HTTP_PATH_OK:
		return "ok";
	case HTTP_PATH_BAD_ESCAPE:
		return "bad_escape";
	case HTTP_PATH_ENCODED_SLASH:
		return "encoded_slash";
	case HTTP_PATH_ENCODED_NUL:
		return "encoded_nul";
	case HTTP_PATH_ENCODED_BACKSLASH:
		return "encoded_backslash";
	case HTTP_PATH_ABOVE_ROOT:
		return "above_root";
	case HTTP_PATH_TOO_LONG:
		return "too_long";
	case HTTP_PATH_BAD_CHAR:
		return "bad_char";
	default:
		return "unknown";
	}
}
