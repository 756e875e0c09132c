/* router/rt.c: the immutable routing table, its lookup, balancing and backend paths.
 *
 * Owns: building a table from plain route defs (control thread), and the pure functions the
 * workers call on a published table (rt_lookup, rt_backend_path), which never lock,
 * allocate or write to the table. Publication and reclamation live in rt_publish.c.
 *
 * Layout: one malloc holds the table header, the routes (in the order given, which is what
 * /routes shows), one flat backend array (each route's backends contiguous, so per-table
 * counters can be indexed by rt_backend.index), the lookup order, the origin pointer arrays
 * and every string. Freeing a table is one free(), and a table never points into the defs.
 * The one mutable field is the holder count: a tunnel keeps the table its route came from
 * for its whole life (SPEC.md: a route change leaves open connections untouched), and
 * rt_reclaim frees a retired table only once it has no holder.
 *
 * Lookup: `order` lists routes by path length, longest first, and within one path the routes
 * with a subprotocol before the plain one. Two different paths of the same length can never
 * both prefix-match one request path, so the first route in that order that matches (prefix
 * on a segment boundary, and its subprotocol offered if it has one) is the longest match with
 * the subprotocol preference of SPEC.md. It is a linear scan: route tables are tens of
 * entries, and a scan over a contiguous array beats a trie there. A segment trie was
 * considered and left for when someone configures thousands of routes. */
#include "router/rt.h"

#include "router/lb.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bounds that keep every size computation below far from overflow. */
#define RT_MAX_ROUTES   65536u
#define RT_MAX_BACKENDS 65536u
#define RT_MAX_URL      2048u
#define RT_MAX_WEIGHT   100u /* SPEC.md: backend weights 1..100 */

struct rt_table {
	/* Tunnels holding the table (rt_table_hold). written: workers (relaxed add, release
	 * sub); read: control thread in rt_reclaim (acquire). The only mutable field. */
	_Atomic uint64_t holders;
	unsigned n_routes;
	unsigned n_backends;
	struct rt_route *routes;     /* n_routes, in the order given */
	struct rt_backend *backends; /* n_backends, route by route */
	unsigned *order;             /* lookup order, see the design note */
	void *ext;                   /* the gateway's per-table data (rt_table_set_ext), or NULL */
	void (*ext_free)(void *ext);
};

static void rt_errf(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void rt_errf(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
}

/* Copies s into dst for an error message: at most 120 bytes, non-printables as '?', so one
 * bad byte cannot break the one-line error contract. */
static const char *rt_quote(char *dst, size_t cap, const char *s)
{
	size_t i = 0;

	if (s == NULL)
		s = "(null)";
	for (; s[i] != '\0' && i + 4 < cap && i < 120; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[i] = (c < 0x20 || c >= 0x7f || c == '"') ? '?' : (char)c;
	}
	if (s[i] != '\0' && i + 4 <= cap) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
	return dst;
}

static size_t rt_align(size_t n, size_t a)
{
	return (n + a - 1) & ~(a - 1);
}

/* A route path's length without trailing slashes ("/" stays "/"). */
static size_t rt_path_norm_len(const char *p)
{
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		n--;
	return n;
}

static bool rt_path_is_valid(const char *p)
{
	if (p[0] != '/')
		return false;
	for (; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#')
			return false;
	}
	return true;
}

static bool rt_same_sub(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Checks defs and returns the bytes the strings need, or SIZE_MAX with err set. */
static size_t rt_defs_check(const struct rt_route_def *defs, unsigned n,
                            const struct rt_lb_default *dflt, unsigned *n_backends, char *err,
                            size_t err_len)
{
	char q[128];
	size_t strings = 0;
	unsigned nb = 0;

	if (n > RT_MAX_ROUTES) {
		rt_errf(err, err_len, "too many routes (%u, at most %u)", n, RT_MAX_ROUTES);
		return SIZE_MAX;
	}
	for (unsigned i = 0; i < n; i++) {
		const struct rt_route_def *d = &defs[i];

		if (d->path == NULL || !rt_path_is_valid(d->path)) {
			rt_errf(
			    err, err_len,
			    "route \"%s\": path must start with '/' and hold no space, '?' or '#'",
			    rt_quote(q, sizeof(q), d->path));
			return SIZE_MAX;
		}
		if (d->n_backends == 0 || d->backends == NULL) {
			rt_errf(err, err_len, "route \"%s\": no backend",
			        rt_quote(q, sizeof(q), d->path));
			return SIZE_MAX;
		}
		if (d->subprotocol != NULL && d->subprotocol[0] == '\0') {
			rt_errf(err, err_len, "route \"%s\": empty subprotocol",
			        rt_quote(q, sizeof(q), d->path));
			return SIZE_MAX;
		}
		if (d->n_origins != 0 && d->origins == NULL) {
			rt_errf(err, err_len, "route \"%s\": origins missing",
			        rt_quote(q, sizeof(q), d->path));
			return SIZE_MAX;
		}
		if (d->n_backends > RT_MAX_BACKENDS - nb) {
			rt_errf(err, err_len, "too many backends (at most %u)", RT_MAX_BACKENDS);
			return SIZE_MAX;
		}
		for (unsigned k = 0; k < d->n_backends; k++)
			if (d->backends[k].weight > RT_MAX_WEIGHT) {
				rt_errf(err, err_len, "route \"%s\": backend weight %u (1..%u)",
				        rt_quote(q, sizeof(q), d->path), d->backends[k].weight,
				        RT_MAX_WEIGHT);
				return SIZE_MAX;
			}
		nb += d->n_backends;

		size_t plen = rt_path_norm_len(d->path);
		for (unsigned j = 0; j < i; j++) {
			const struct rt_route_def *o = &defs[j];
			if (rt_path_norm_len(o->path) == plen &&
			    memcmp(o->path, d->path, plen) == 0 &&
			    rt_same_sub(o->subprotocol, d->subprotocol)) {
				char q2[128];
				if (d->subprotocol != NULL)
					rt_errf(
					    err, err_len,
					    "route \"%s\" (subprotocol \"%s\"): path given twice",
					    rt_quote(q, sizeof(q), d->path),
					    rt_quote(q2, sizeof(q2), d->subprotocol));
				else
					rt_errf(err, err_len, "route \"%s\": path given twice",
					        rt_quote(q, sizeof(q), d->path));
				return SIZE_MAX;
			}
		}

		strings += plen + 1;
		if (d->lb_header != NULL)
			strings += strlen(d->lb_header) + 1;
		else if (!d->has_lb && dflt != NULL && dflt->lb_header != NULL)
			strings += strlen(dflt->lb_header) + 1;
		if (d->subprotocol != NULL)
			strings += strlen(d->subprotocol) + 1;
		for (unsigned k = 0; k < d->n_origins; k++)
			strings += strlen(d->origins[k] ? d->origins[k] : "") + 1;
		for (unsigned k = 0; k < d->n_backends; k++) {
			const struct rt_backend_def *b = &d->backends[k];
			strings += strlen(b->url ? b->url : "") + 1;
			strings += strlen(b->host ? b->host : "") + 1;
			strings += strlen(b->path ? b->path : "") + 1;
		}
	}
	*n_backends = nb;
	return strings;
}

struct rt_sort_key {
	size_t len;
	unsigned has_sub;
	unsigned idx;
};

static int rt_sort_cmp(const void *pa, const void *pb)
{
	const struct rt_sort_key *a = pa, *b = pb;

	if (a->len != b->len)
		return a->len > b->len ? -1 : 1;
	if (a->has_sub != b->has_sub)
		return a->has_sub > b->has_sub ? -1 : 1;
	return a->idx < b->idx ? -1 : (a->idx > b->idx ? 1 : 0);
}

/* Bump allocator over the string area of the table's single allocation. */
struct rt_strs {
	char *p;
};

static const char *rt_strs_put(struct rt_strs *s, const char *src, size_t n)
{
	char *dst = s->p;

	if (n != 0)
		memcpy(dst, src, n);
	dst[n] = '\0';
	s->p += n + 1;
	return dst;
}

static const char *rt_strs_dup(struct rt_strs *s, const char *src)
{
	if (src == NULL)
		src = "";
	return rt_strs_put(s, src, strlen(src));
}

struct rt_table *rt_table_new(const struct rt_route_def *defs, unsigned n, char *err,
                              size_t err_len)
{
	return rt_table_new_lb(defs, n, NULL, err, err_len);
}

static void rt_pools_free(struct rt_table *t)
{
	for (unsigned i = 0; i < t->n_routes; i++) {
		lb_pool_free((struct lb_pool *)t->routes[i].lb_pool);
		t->routes[i].lb_pool = NULL;
	}
}

struct rt_table *rt_table_new_lb(const struct rt_route_def *defs, unsigned n,
                                 const struct rt_lb_default *dflt, char *err, size_t err_len)
{
	unsigned nb = 0;
	size_t n_origin_ptrs = 0;

	if (n != 0 && defs == NULL) {
		rt_errf(err, err_len, "no routes given");
		return NULL;
	}
	size_t strings = rt_defs_check(defs, n, dflt, &nb, err, err_len);
	if (strings == SIZE_MAX)
		return NULL;
	for (unsigned i = 0; i < n; i++)
		n_origin_ptrs += defs[i].n_origins;

	size_t off_routes = rt_align(sizeof(struct rt_table), _Alignof(struct rt_route));
	size_t off_backends =
	    rt_align(off_routes + n * sizeof(struct rt_route), _Alignof(struct rt_backend));
	size_t off_order =
	    rt_align(off_backends + nb * sizeof(struct rt_backend), _Alignof(unsigned));
	size_t off_origins = rt_align(off_order + n * sizeof(unsigned), _Alignof(const char *));
	size_t off_strings = off_origins + n_origin_ptrs * sizeof(const char *);
	size_t total = off_strings + strings;

	char *mem = calloc(1, total);
	if (mem == NULL) {
		rt_errf(err, err_len, "out of memory building the route table");
		return NULL;
	}
	struct rt_table *t = (struct rt_table *)(void *)mem;
	atomic_init(&t->holders, 0);
	t->n_routes = n;
	t->n_backends = nb;
	t->routes = (struct rt_route *)(void *)(mem + off_routes);
	t->backends = (struct rt_backend *)(void *)(mem + off_backends);
	t->order = (unsigned *)(void *)(mem + off_order);
	const char **origin_ptrs = (const char **)(void *)(mem + off_origins);
	struct rt_strs s = {mem + off_strings};

	unsigned bi = 0;
	for (unsigned i = 0; i < n; i++) {
		const struct rt_route_def *d = &defs[i];
		struct rt_route *r = &t->routes[i];
		size_t plen = rt_path_norm_len(d->path);

		r->path = rt_strs_put(&s, d->path, plen);
		r->path_len = plen;
		r->backends = &t->backends[bi];
		r->n_backends = d->n_backends;
		r->lb = d->lb;
		r->lb_header = d->lb_header ? rt_strs_dup(&s, d->lb_header) : NULL;
		if (!d->has_lb && dflt != NULL) {
			/* lb= not given: the gateway's --lb */
			r->lb = dflt->lb;
			r->lb_header = dflt->lb_header ? rt_strs_dup(&s, dflt->lb_header) : NULL;
		}
		r->auth = d->auth;
		r->origins = origin_ptrs;
		r->n_origins = d->n_origins;
		for (unsigned k = 0; k < d->n_origins; k++)
			*origin_ptrs++ = rt_strs_dup(&s, d->origins[k]);
		r->max_message = d->max_message;
		r->msg_rate = d->msg_rate;
		r->msg_burst = d->msg_burst;
		r->strip_prefix = d->strip_prefix;
		r->tls_no_verify = d->tls_no_verify;
		r->forward_token = d->forward_token;
		r->subprotocol = d->subprotocol ? rt_strs_dup(&s, d->subprotocol) : NULL;
		r->index = i;
		for (unsigned k = 0; k < d->n_backends; k++, bi++) {
			const struct rt_backend_def *bd = &d->backends[k];
			struct rt_backend *b = &t->backends[bi];

			b->url = rt_strs_dup(&s, bd->url);
			b->tls = bd->tls;
			b->host = rt_strs_dup(&s, bd->host);
			b->port = bd->port;
			b->path = rt_strs_dup(&s, bd->path);
			b->path_len = strlen(b->path);
			memcpy(&b->addr, &bd->addr, sizeof(b->addr));
			b->addr_len = bd->addr_len;
			b->index = bi;
			b->weight = (uint8_t)(bd->weight == 0 ? 1u : bd->weight);
		}
	}
	for (unsigned i = 0; i < n; i++) {
		struct rt_route *r = &t->routes[i];
		r->lb_pool = lb_pool_new(r->lb, r->backends, r->n_backends);
		if (r->lb_pool == NULL) {
			rt_pools_free(t);
			free(mem);
			rt_errf(err, err_len, "out of memory building the route table");
			return NULL;
		}
	}

	if (n != 0) {
		struct rt_sort_key *keys = malloc(n * sizeof(*keys));
		if (keys == NULL) {
			rt_pools_free(t);
			free(mem);
			rt_errf(err, err_len, "out of memory building the route table");
			return NULL;
		}
		for (unsigned i = 0; i < n; i++) {
			keys[i].len = t->routes[i].path_len;
			keys[i].has_sub = t->routes[i].subprotocol != NULL;
			keys[i].idx = i;
		}
		qsort(keys, n, sizeof(*keys), rt_sort_cmp);
		for (unsigned i = 0; i < n; i++)
			t->order[i] = keys[i].idx;
		free(keys);
	}
	return t;
}

void rt_table_free(struct rt_table *t)
{
	if (t != NULL && t->ext != NULL && t->ext_free != NULL)
		t->ext_free(t->ext);
	if (t != NULL)
		rt_pools_free(t);
	free(t);
}

void rt_table_set_ext(struct rt_table *t, void *ext, void (*ext_free)(void *ext))
{
	t->ext = ext;
	t->ext_free = ext_free;
}

void *rt_table_ext(const struct rt_table *t)
{
	return t != NULL ? t->ext : NULL;
}

/* A hold is only ever taken on a table the caller can already see alive (acquired this loop
 * turn, or held), so a relaxed increment is enough; the release decrement pairs with the
 * acquire load in rt_table_is_held so every read a tunnel made happens before the free. */
void rt_table_hold(const struct rt_table *t)
{
	if (t != NULL)
		atomic_fetch_add_explicit(&((struct rt_table *)t)->holders, 1,
		                          memory_order_relaxed);
}

void rt_table_release(const struct rt_table *t)
{
	if (t != NULL)
		atomic_fetch_sub_explicit(&((struct rt_table *)t)->holders, 1,
		                          memory_order_release);
}

bool rt_table_is_held(const struct rt_table *t)
{
	return t != NULL && atomic_load_explicit(&t->holders, memory_order_acquire) != 0;
}

unsigned rt_table_route_count(const struct rt_table *t)
{
	return t ? t->n_routes : 0;
}

const struct rt_route *rt_table_route(const struct rt_table *t, unsigned i)
{
	if (t == NULL || i >= t->n_routes)
		return NULL;
	return &t->routes[i];
}

unsigned rt_table_backend_count(const struct rt_table *t)
{
	return t ? t->n_backends : 0;
}

void rt_table_set_stat_slots(struct rt_table *t, const uint32_t *route_slots,
                             const uint32_t *backend_slots)
{
	for (unsigned i = 0; route_slots != NULL && i < t->n_routes; i++)
		t->routes[i].stat_slot = route_slots[i];
	for (unsigned i = 0; backend_slots != NULL && i < t->n_backends; i++)
		t->backends[i].stat_slot = backend_slots[i];
}

/* "/chat" matches "/chat" and "/chat/..." (path already cut at '?'); "/" matches all. */
static bool rt_prefix_matches(const struct rt_route *r, const char *path, size_t len)
{
	if (r->path_len == 1)
		return true;
	if (len < r->path_len || memcmp(path, r->path, r->path_len) != 0)
		return false;
	return len == r->path_len || path[r->path_len] == '/';
}

static bool rt_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 6455 4.1: Sec-WebSocket-Protocol is a comma-separated list of tokens with optional
 * whitespace; tokens compare exactly (case matters). Repeated headers are joined by the
 * caller with ','. */
static bool rt_offer_has(const char *list, size_t len, const char *tok, size_t tok_len)
{
	size_t i = 0;

	if (list == NULL)
		return false;
	while (i < len) {
		while (i < len && (rt_is_ows(list[i]) || list[i] == ','))
			i++;
		size_t start = i;
		while (i < len && list[i] != ',')
			i++;
		size_t end = i;
		while (end > start && rt_is_ows(list[end - 1]))
			end--;
		if (end - start == tok_len && memcmp(list + start, tok, tok_len) == 0)
			return true;
	}
	return false;
}

const struct rt_route *rt_lookup(const struct rt_table *t, const char *path, size_t path_len,
                                 const char *offered, size_t offered_len)
{
	if (t == NULL || path == NULL)
		return NULL;
	const char *q = memchr(path, '?', path_len);
	if (q != NULL)
		path_len = (size_t)(q - path);

	for (unsigned k = 0; k < t->n_routes; k++) {
		const struct rt_route *r = &t->routes[t->order[k]];

		if (!rt_prefix_matches(r, path, path_len))
			continue;
		if (r->subprotocol != NULL &&
		    !rt_offer_has(offered, offered_len, r->subprotocol, strlen(r->subprotocol)))
			continue;
		return r;
	}
	return NULL;
}

int rt_backend_path(const struct rt_route *r, const struct rt_backend *b, const char *path,
                    size_t path_len, char *out, size_t cap)
{
	const char *rest = path;
	size_t rest_len = path_len;

	if (r->strip_prefix && r->path_len > 1 && path_len >= r->path_len &&
	    memcmp(path, r->path, r->path_len) == 0 &&
	    (path_len == r->path_len || path[r->path_len] == '/' || path[r->path_len] == '?')) {
		rest += r->path_len;
		rest_len -= r->path_len;
	}
	/* "/chat" stripped from "/chat" leaves "": the backend still needs an absolute path. */
	size_t slash = (rest_len == 0 || rest[0] != '/') ? 1 : 0;
	size_t total = b->path_len + slash + rest_len;
	if (total >= cap || total > INT_MAX)
		return -1;
	memcpy(out, b->path, b->path_len);
	if (slash)
		out[b->path_len] = '/';
	if (rest_len != 0)
		memcpy(out + b->path_len + slash, rest, rest_len);
	out[total] = '\0';
	return (int)total;
}

static bool rt_host_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

static char *rt_strndup(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d != NULL) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

int rt_backend_def_parse(const char *url, struct rt_backend_def *b, char *err, size_t err_len)
{
	char q[128];
	const char *p, *host, *host_end, *end;
	uint32_t port;

	memset(b, 0, sizeof(*b));
	if (url == NULL || url[0] == '\0') {
		rt_errf(err, err_len, "backend \"\": empty URL");
		return -1;
	}
	rt_quote(q, sizeof(q), url);
	size_t len = strlen(url);
	if (len > RT_MAX_URL) {
		rt_errf(err, err_len, "backend \"%s\": URL longer than %u bytes", q, RT_MAX_URL);
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];
		if (c <= 0x20 || c >= 0x7f) {
			rt_errf(err, err_len, "backend \"%s\": space or non-ASCII byte in URL", q);
			return -1;
		}
	}
	if (strncasecmp(url, "ws://", 5) == 0) {
		p = url + 5;
		port = 80;
	} else if (strncasecmp(url, "wss://", 6) == 0) {
		b->tls = true;
		p = url + 6;
		port = 443;
	} else {
		rt_errf(err, err_len, "backend \"%s\": expected ws://host[:port][/path] or wss://",
		        q);
		return -1;
	}
	if (strpbrk(p, "?#") != NULL) {
		rt_errf(err, err_len, "backend \"%s\": no query or fragment allowed", q);
		return -1;
	}
	end = p + strcspn(p, "/");
	if (memchr(p, '@', (size_t)(end - p)) != NULL) {
		rt_errf(err, err_len, "backend \"%s\": no user info allowed", q);
		return -1;
	}

	if (*p == '[') {
		char v6[64];
		struct in6_addr a6;
		host = p + 1;
		host_end = memchr(host, ']', (size_t)(end - host));
		if (host_end == NULL || (size_t)(host_end - host) >= sizeof(v6)) {
			rt_errf(err, err_len, "backend \"%s\": bad IPv6 literal", q);
			return -1;
		}
		memcpy(v6, host, (size_t)(host_end - host));
		v6[host_end - host] = '\0';
		if (inet_pton(AF_INET6, v6, &a6) != 1) {
			rt_errf(err, err_len, "backend \"%s\": bad IPv6 literal", q);
			return -1;
		}
		p = host_end + 1;
		if (p != end && *p != ':') {
			rt_errf(err, err_len, "backend \"%s\": garbage after ']'", q);
			return -1;
		}
	} else {
		host = p;
		while (p < end && *p != ':') {
			if (!rt_host_char_ok(*p)) {
				rt_errf(err, err_len, "backend \"%s\": bad host name", q);
				return -1;
			}
			p++;
		}
		host_end = p;
	}
	if (host_end == host) {
		rt_errf(err, err_len, "backend \"%s\": empty host", q);
		return -1;
	}
	if (p < end) { /* *p == ':' */
		p++;
		if (p == end || end - p > 5) {
			rt_errf(err, err_len, "backend \"%s\": bad port", q);
			return -1;
		}
		port = 0;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9') {
				rt_errf(err, err_len, "backend \"%s\": bad port", q);
				return -1;
			}
			port = port * 10 + (uint32_t)(*p - '0');
		}
		if (port == 0 || port > 65535) {
			rt_errf(err, err_len, "backend \"%s\": port must be 1..65535", q);
			return -1;
		}
	}
	b->port = (uint16_t)port;

	size_t plen = strlen(end);
	while (plen > 0 && end[plen - 1] == '/')
		plen--;
	b->url = rt_strndup(url, len);
	b->host = rt_strndup(host, (size_t)(host_end - host));
	b->path = rt_strndup(end, plen);
	if (b->url == NULL || b->host == NULL || b->path == NULL) {
		rt_backend_def_fini(b);
		rt_errf(err, err_len, "backend \"%s\": out of memory", q);
		return -1;
	}
	return 0;
}

void rt_backend_def_fini(struct rt_backend_def *b)
{
	if (b == NULL)
		return;
	free(b->url);
	free(b->host);
	free(b->path);
	memset(b, 0, sizeof(*b));
}

void rt_route_def_fini(struct rt_route_def *def)
{
	if (def == NULL)
		return;
	free(def->path);
	if (def->backends != NULL) {
		for (unsigned i = 0; i < def->n_backends; i++)
			rt_backend_def_fini(&def->backends[i]);
		free(def->backends);
	}
	free(def->lb_header);
	if (def->origins != NULL) {
		for (unsigned i = 0; i < def->n_origins; i++)
			free(def->origins[i]);
		free(def->origins);
	}
	free(def->subprotocol);
	memset(def, 0, sizeof(*def));
}

const char *rt_lb_name(enum rt_lb lb, const char *header, char *buf, size_t cap)
{
	switch (lb) {
	case RT_LB_LEAST_CONN:
		return "least-conn";
	case RT_LB_IP_HASH:
		return "ip-hash";
	case RT_LB_HEADER_HASH:
		snprintf(buf, cap, "header-hash:%s", header ? header : "");
		return buf;
	case RT_LB_ROUND_ROBIN:
		break;
	}
	return "round-robin";
}
