/* Fuzz target for the router's parsers and lookup: the input is split on newlines into
 * "PATH BACKEND-URL" route lines (at most 16) and one final request path. Asserts: a URL
 * that parses has a port in range and a path without a trailing '/'; a table that builds
 * answers every lookup with a route whose path is a segment-boundary prefix of the request
 * path, and no longer matching route exists; rt_backend_path never reports more than it
 * wrote; the balancer's pick is in range. Everything allocated is freed (LeakSanitizer in the fuzz
 * build). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router/lb.h"
#include "router/rt.h"

#define MAX_ROUTES 16

static bool prefix_matches(const char *route, size_t rlen, const char *path, size_t plen)
{
	if (rlen == 1 && route[0] == '/')
		return true;
	if (rlen > plen || memcmp(route, path, rlen) != 0)
		return false;
	return rlen == plen || path[rlen] == '/' || path[rlen] == '?';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	struct rt_route_def defs[MAX_ROUTES];
	memset(defs, 0, sizeof(defs));
	unsigned n = 0;
	char *save = NULL;
	char *line = strtok_r(text, "\n", &save);
	const char *request = "/";
	while (line != NULL) {
		char *next = strtok_r(NULL, "\n", &save);
		if (next == NULL) {
			request = line;
			break;
		}
		char *sp = strchr(line, ' ');
		if (sp != NULL && n < MAX_ROUTES) {
			*sp = '\0';
			struct rt_backend_def *b = calloc(1, sizeof(*b));
			char err[256];
			if (b != NULL && rt_backend_def_parse(sp + 1, b, err, sizeof(err)) == 0) {
				if (b->port == 0)
					abort();
				size_t pl = strlen(b->path);
				if (pl > 0 && b->path[pl - 1] == '/')
					abort();
				defs[n].path = strdup(line);
				defs[n].backends = b;
				defs[n].n_backends = 1;
				n++;
			} else if (b != NULL) {
				rt_backend_def_fini(b);
				free(b);
			}
		}
		line = next;
	}

	char err[256];
	struct rt_table *t = rt_table_new(defs, n, err, sizeof(err));
	if (t != NULL) {
		size_t plen = strlen(request);
		const struct rt_route *r = rt_lookup(t, request, plen, "", 0);
		if (r != NULL) {
			if (!prefix_matches(r->path, r->path_len, request, plen))
				abort();
			for (unsigned i = 0; i < rt_table_route_count(t); i++) {
				const struct rt_route *o = rt_table_route(t, i);
				if (o->subprotocol == NULL && o->path_len > r->path_len &&
				    prefix_matches(o->path, o->path_len, request, plen))
					abort();
			}
			char out[8192];
			int len =
			    rt_backend_path(r, &r->backends[0], request, plen, out, sizeof(out));
			if (len >= (int)sizeof(out))
				abort();
			uint64_t key = lb_hash_bytes(request, plen);
			uint32_t pick = lb_pick(r, (uint64_t)plen, &key, 0);
			if (pick == LB_NONE || pick >= r->n_backends)
				abort();
		}
		rt_table_free(t);
	}
	for (unsigned i = 0; i < n; i++)
		rt_route_def_fini(&defs[i]);
	free(text);
	return 0;
}
