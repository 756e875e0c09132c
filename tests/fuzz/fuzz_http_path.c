/* Fuzz target for http_path_normalize(). Asserts with abort():
 * - the verdict and result equal those of a reference written here the obvious way (split
 *   into segments, decode each, push/pop a stack of segments), so the one-pass in-place
 *   implementation is checked against a second reading of the same rules;
 * - on success: out_len <= len; the result starts with '/', has no "//", no "." or ".."
 *   segment, no "%2F", "%00" or "%5C" (any case), no lower-case hex in an escape, no escape
 *   of an unreserved character; normalising it again gives it back unchanged (idempotence);
 *   it fits in exactly out_len bytes of cap and not in one less;
 * - in place (out == in) gives the same verdict and result;
 * - on failure: out_len is 0 and the rc is one of the enum's.
 * Every call reads from an exact-size heap copy of the input, so ASan catches any read past
 * it, and writes into an exact-size (cap) heap buffer, so it catches any write past cap. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static char *dup_exact(const char *p, size_t n)
{
	char *c = malloc(n ? n : 1);
	check(c != NULL);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* Runs the function on an exact copy of [in, in + n) into a fresh buffer of cap bytes. The
 * result (if any) is copied into res. */
static int run(const char *in, size_t n, size_t cap, char *res, size_t *res_len)
{
	char *i = dup_exact(in, n);
	char *o = malloc(cap ? cap : 1);
	check(o != NULL);
	size_t len = 777;
	int rc = http_path_normalize(i, n, o, cap, &len);
	if (rc == HTTP_PATH_OK) {
		check(len <= cap);
		memcpy(res, o, len);
		*res_len = len;
	} else {
		check(len == 0);
		check(rc >= HTTP_PATH_BAD_CHAR && rc < 0);
	}
	free(o);
	free(i);
	return rc;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* The reference: returns the rc, the result in out (room for n + 1 bytes). */
static int reference(const char *in, size_t n, char *out, size_t *out_len)
{
	if (n == 0 || in[0] != '/')
		return HTTP_PATH_BAD_CHAR;
	/* Pass A: validate and decode the whole input into dec (escape checks come first). */
	char *dec = malloc(n);
	check(dec != NULL);
	size_t dn = 0;
	int rc = HTTP_PATH_OK;
	for (size_t i = 0; i < n && rc == HTTP_PATH_OK;) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x21 || c > 0x7e || c == '\\') {
			rc = HTTP_PATH_BAD_CHAR;
		} else if (c != '%') {
			dec[dn++] = (char)c;
			i++;
		} else if (i + 2 >= n || hexval(in[i + 1]) < 0 || hexval(in[i + 2]) < 0) {
			rc = HTTP_PATH_BAD_ESCAPE;
		} else {
			int v = hexval(in[i + 1]) * 16 + hexval(in[i + 2]);
			static const char up[] = "0123456789ABCDEF";
			if (v == '/')
				rc = HTTP_PATH_ENCODED_SLASH;
			else if (v == 0)
				rc = HTTP_PATH_ENCODED_NUL;
			else if (v == '\\')
				rc = HTTP_PATH_ENCODED_BACKSLASH;
			else if (unreserved((unsigned char)v))
				dec[dn++] = (char)v;
			else {
				dec[dn++] = '%';
				dec[dn++] = up[v >> 4];
				dec[dn++] = up[v & 15];
			}
			i += 3;
		}
	}
	if (rc != HTTP_PATH_OK) {
		free(dec);
		return rc;
	}
	/* Pass B: segments on a stack. Empty segments vanish (merged slashes). */
	size_t *seg_b = malloc(sizeof(size_t) * (dn + 1));
	size_t *seg_e = malloc(sizeof(size_t) * (dn + 1));
	check(seg_b != NULL && seg_e != NULL);
	size_t top = 0;
	bool dir = false; /* the result ends with '/' */
	for (size_t i = 0; i < dn;) {
		while (i < dn && dec[i] == '/')
			i++;
		size_t b = i;
		while (i < dn && dec[i] != '/')
			i++;
		size_t e = i;
		if (e == b) {
			dir = true;
		} else if (e - b == 1 && dec[b] == '.') {
			dir = true;
		} else if (e - b == 2 && dec[b] == '.' && dec[b + 1] == '.') {
			if (top == 0) {
				rc = HTTP_PATH_ABOVE_ROOT;
				break;
			}
			top--;
			dir = true;
		} else {
			seg_b[top] = b;
			seg_e[top] = e;
			top++;
			dir = false;
		}
	}
	if (rc == HTTP_PATH_OK) {
		size_t w = 0;
		for (size_t k = 0; k < top; k++) {
			out[w++] = '/';
			memcpy(out + w, dec + seg_b[k], seg_e[k] - seg_b[k]);
			w += seg_e[k] - seg_b[k];
		}
		if (top == 0 || dir)
			out[w++] = '/';
		*out_len = w;
	}
	free(seg_b);
	free(seg_e);
	free(dec);
	return rc;
}

static bool has(const char *p, size_t n, const char *needle, bool nocase)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++) {
		bool eq = true;
		for (size_t j = 0; j < k && eq; j++) {
			char a = p[i + j], b = needle[j];
			if (nocase && a >= 'a' && a <= 'z')
				a = (char)(a - 'a' + 'A');
			eq = a == b;
		}
		if (eq)
			return true;
	}
	return false;
}

/* The shape every result must have. */
static void check_normal(const char *p, size_t n)
{
	check(n >= 1 && p[0] == '/');
	check(!has(p, n, "//", false));
	check(!has(p, n, "/./", false) && !has(p, n, "/../", false));
	check(!(n >= 2 && memcmp(p + n - 2, "/.", 2) == 0));
	check(!(n >= 3 && memcmp(p + n - 3, "/..", 3) == 0));
	check(!has(p, n, "%2F", true) && !has(p, n, "%00", false) && !has(p, n, "%5C", true));
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '%')
			continue;
		check(i + 2 < n);
		int hi = hexval(p[i + 1]), lo = hexval(p[i + 2]);
		check(hi >= 0 && lo >= 0);
		check(!(p[i + 1] >= 'a' && p[i + 1] <= 'f') &&
		      !(p[i + 2] >= 'a' && p[i + 2] <= 'f'));
		check(!unreserved((unsigned char)(hi * 16 + lo)));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	const char *in = (const char *)data;
	char *res = malloc(size + 1), *ref = malloc(size + 1), *again = malloc(size + 1);
	check(res != NULL && ref != NULL && again != NULL);
	size_t len = 0, ref_len = 0, again_len = 0;

	int rc = run(in, size, size, res, &len);
	int want = reference(in, size, ref, &ref_len);
	check(rc == want);
	if (rc == HTTP_PATH_OK) {
		check(len == ref_len && memcmp(res, ref, len) == 0);
		check(len <= size);
		check_normal(res, len);
		/* Idempotent. */
		check(run(res, len, len, again, &again_len) == HTTP_PATH_OK);
		check(again_len == len && memcmp(again, res, len) == 0);
		/* Bounded: the result needs exactly its length (pass 1 writes at least that). */
		check(run(in, size, len - 1, again, &again_len) == HTTP_PATH_TOO_LONG);
	}

	/* In place. */
	char *io = dup_exact(in, size);
	size_t io_len = 0;
	check(http_path_normalize(io, size, io, size, &io_len) == rc);
	if (rc == HTTP_PATH_OK)
		check(io_len == len && memcmp(io, res, len) == 0);
	free(io);

	free(again);
	free(ref);
	free(res);
	return 0;
}
