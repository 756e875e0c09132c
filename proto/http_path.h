#ifndef WSG_PROTO_HTTP_PATH_H
#define WSG_PROTO_HTTP_PATH_H

#include <stddef.h>

/* Request-path normalisation for route matching (RFC 3986 6.2.2).
 *
 * Contract for the caller (core/handshake.c, route lookup):
 * - Normalise req.path (the path only: http_request.path, never the query) into a buffer of
 *   req.path.n bytes (the output is never longer than the input), before rt_lookup().
 * - Any negative result is answered 400 (HTTP_REJ_MALFORMED), with http_path_rc_name() as the
 *   log/metric detail; it comes before the route lookup, since no route can be chosen for a
 *   path we cannot read one way only.
 * - Route on the normalised path, and send the backend the same normalised path (after the
 *   backend URL's path and strip-prefix, rt_backend_path() over the normalised path), so the
 *   route decision and the backend see the same thing: this is what nginx does for
 *   proxy_pass with a URI part. The query goes to the backend unchanged.
 * - The result is not NUL-terminated; *out_len gives its length. */

enum http_path_rc {
	HTTP_PATH_OK = 0,
	HTTP_PATH_BAD_ESCAPE = -1,        /* '%' not followed by two hex digits */
	HTTP_PATH_ENCODED_SLASH = -2,     /* %2F: a '/' inside a segment */
	HTTP_PATH_ENCODED_NUL = -3,       /* %00 */
	HTTP_PATH_ENCODED_BACKSLASH = -4, /* %5C */
	HTTP_PATH_ABOVE_ROOT = -5,        /* a ".." segment with nothing left to remove */
	HTTP_PATH_TOO_LONG = -6,          /* the result does not fit in cap */
	HTTP_PATH_BAD_CHAR = -7, /* empty, not starting with '/', a raw byte outside visible
	                          * ASCII (0x21..0x7e), or a raw '\' */
};

/* Normalises the absolute path [in, in + n) into out (at most cap bytes) and sets *out_len:
 * - percent-escapes are checked (HTTP_PATH_BAD_ESCAPE); those of unreserved characters
 *   (ALPHA / DIGIT / "-" / "." / "_" / "~") are decoded, the others kept with their hex
 *   digits in upper case (RFC 3986 6.2.2.1, 6.2.2.2); "%2F", "%00" and "%5C" (either case)
 *   are refused;
 * - runs of '/' are merged into one (as nginx's merge_slashes does);
 * - then dot segments are removed (RFC 3986 5.2.4), so a "." or ".." produced by decoding
 *   ("%2e%2e") counts as one: "/a/%2e%2e/b" is "/b". A ".." that would climb above the root
 *   is refused (HTTP_PATH_ABOVE_ROOT) rather than dropped as 5.2.4 would;
 * - a trailing '/' is kept ("/a/" stays "/a/"; "/a/." and "/a/b/.." give "/a/").
 * The result starts with '/', has no empty, "." or ".." segment, no "%2F", "%00" or "%5C",
 * no lower-case escape and no escape of an unreserved character, and normalising it again
 * gives it back unchanged. Its length is <= n, so cap >= n always suffices; cap < n works
 * when the result fits. out may be in (in-place) but must not overlap it otherwise. On a
 * negative result out holds garbage and *out_len is 0. Reads only [in, in + n); pure.
 *
 * Why refuse rather than decode:
 * - %2F: decoded it would add a segment boundary the client hid; kept it means the route
 *   decision and a backend that decodes it (many do) see different paths;
 * - %5C: Windows servers, IIS, and several Java and Node stacks treat '\' as '/', so an
 *   encoded or raw backslash is a path separator to them and a plain byte to us: "/echo/..\x"
 *   would route to /echo and reach x on the backend. Raw '\' is refused for the same reason;
 * - %00: terminates the path in any backend written in C, so it would see a prefix of what
 *   we routed;
 * - a malformed escape: backends disagree on it (keep, drop, 400), so there is no one
 *   reading to route on;
 * - above the root: RFC 3986 5.2.4 would silently drop the "..", but a request that tries
 *   it is a traversal attempt and no honest client sends one. */
int http_path_normalize(const char *in, size_t n, char *out, size_t cap, size_t *out_len);

/* Stable lower-case label for logs and metrics: "ok", "bad_escape", "encoded_slash",
 * "encoded_nul", "encoded_backslash", "above_root", "too_long", "bad_char" ("unknown" for
 * anything else). */
const char *http_path_rc_name(int rc);

#endif
