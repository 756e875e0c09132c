#ifndef WSG_TESTS_FUZZ_FUZZ_HTTP_SPLIT_H
#define WSG_TESTS_FUZZ_FUZZ_HTTP_SPLIT_H

/* The split-feeding invariants shared by the HTTP request and response fuzz targets, which
 * differ only in the parse function and its output struct:
 * - one byte at a time on a growing buffer reaches the whole input's verdict, reject reason
 *   and *used, with _scanned following the bytes searched, and the verdict arrives with the
 *   byte that decides it;
 * - a few prefixes, each copied into an exact-size buffer so an over-read is caught, parse as
 *   MORE or as the whole verdict (OK exactly when the prefix holds the whole head);
 * - two pieces (a prefix, then the whole) on one parser equal the whole.
 * Header-only; violations abort(). */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			abort();                                                                   \
	} while (0)

struct verdict {
	enum http_rc rc;
	enum http_reject rej;
	size_t used;
};

/* Parses [buf, buf + len) with p into the target's scratch output. */
typedef enum http_rc fuzz_http_parse_fn(struct http_parser *p, const char *buf, size_t len,
                                        const struct wsg_limits *lim, size_t *used);

/* One fresh parse with the generic checks (used <= len, used only on OK); the target adds
 * its own check of the reject reason. */
static inline struct verdict fuzz_http_parse_once(fuzz_http_parse_fn *parse, const char *buf,
                                                  size_t len, const struct wsg_limits *lim)
{
	struct http_parser p;
	struct verdict v;
	http_parser_init(&p);
	v.used = 777;
	v.rc = parse(&p, buf, len, lim, &v.used);
	CHECK(v.rc == HTTP_RC_OK || v.rc == HTTP_RC_MORE || v.rc == HTTP_RC_FAIL);
	CHECK(v.used <= len);
	CHECK(v.rc == HTTP_RC_OK || v.used == 0);
	CHECK(v.rc != HTTP_RC_OK || v.used > 0);
	v.rej = http_parser_reject(&p);
	return v;
}

static inline bool same_verdict(struct verdict a, struct verdict b)
{
	return a.rc == b.rc && a.rej == b.rej && (a.rc != HTTP_RC_OK || a.used == b.used);
}

static inline void fuzz_http_split_checks(fuzz_http_parse_fn *parse, const char *data, size_t size,
                                          const struct wsg_limits *lim, struct verdict whole)
{
	struct http_parser p;
	struct verdict inc = {HTTP_RC_MORE, HTTP_REJ_NONE, 0};
	size_t stop = 0;
	http_parser_init(&p);
	for (size_t have = 0; have <= size; have++) {
		inc.used = 777;
		inc.rc = parse(&p, data, have, lim, &inc.used);
		inc.rej = http_parser_reject(&p);
		stop = have;
		if (inc.rc != HTTP_RC_MORE)
			break;
		CHECK(inc.used == 0);
		CHECK(p._scanned == (have < lim->head_max ? have : lim->head_max));
	}
	CHECK(same_verdict(inc, whole));
	if (whole.rc == HTTP_RC_OK)
		CHECK(stop == whole.used);

	size_t cuts[] = {0,
	                 1,
	                 size / 3,
	                 size / 2,
	                 size - (size > 0),
	                 whole.used,
	                 whole.used ? whole.used - 1 : 0};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		size_t cut = cuts[i] <= size ? cuts[i] : size;
		char *copy = malloc(cut ? cut : 1);
		CHECK(copy != NULL);
		if (cut)
			memcpy(copy, data, cut);
		struct verdict v = fuzz_http_parse_once(parse, copy, cut, lim);
		CHECK(v.rc == HTTP_RC_MORE || same_verdict(v, whole));
		if (whole.rc == HTTP_RC_OK)
			CHECK((v.rc == HTTP_RC_OK) == (cut >= whole.used));
		if (whole.rc == HTTP_RC_MORE)
			CHECK(v.rc == HTTP_RC_MORE);

		struct http_parser p2;
		size_t used;
		http_parser_init(&p2);
		enum http_rc rc1 = parse(&p2, copy, cut, lim, &used);
		free(copy);
		if (rc1 == HTTP_RC_MORE) {
			struct verdict v2;
			v2.rc = parse(&p2, data, size, lim, &v2.used);
			v2.rej = http_parser_reject(&p2);
			CHECK(same_verdict(v2, whole));
		}
	}
}

#endif
