#ifndef WSG_AUTH_ORIGIN_H
#define WSG_AUTH_ORIGIN_H

/* The Origin allowlist (SPEC.md, Access control). Built once on the control thread from the
 * --allow-origin / route origin= strings, then read-only: any number of workers may call
 * origin_allowed() on one list concurrently. */

#include <stdbool.h>
#include <stddef.h>

struct origin_list;

/* Builds a list from n entries, each one of:
 *   "*"                      allows every origin;
 *   "null"                   matches only the literal request origin "null";
 *   "scheme://host[:port]"   exact, compared case-insensitively, default ports normalised
 *                            (http and ws 80, https and wss 443);
 *   "scheme://" then "*.domain[:port]": any subdomain of domain at any depth, not domain itself.
 * Entries with a path, query, fragment, userinfo, an empty host or a port outside 1..65535
 * are refused. Borrows entries. Returns the list, or NULL with one line in err naming the
 * bad entry (or the allocation failure). n == 0 gives a list that allows nothing. */
struct origin_list *origin_list_new(const char *const *entries, unsigned n, char *err,
                                    size_t err_len);

/* Frees l; origin_list_free(NULL) is a no-op. */
void origin_list_free(struct origin_list *l);

/* True when the request's Origin value [origin, origin + n) (not NUL-terminated, no
 * surrounding whitespace) is allowed by l. A malformed origin is never allowed except by
 * "*". A request without an Origin header is the caller's decision (SPEC.md: it passes);
 * do not call this for it. Never reads past origin + n; no allocation, no locks. */
bool origin_allowed(const struct origin_list *l, const char *origin, size_t n);

#endif
