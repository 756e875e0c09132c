/* core/config_routes.c: routes, from --route SPEC strings and from JSON route objects.
 *
 * Owns: the SPEC grammar (PATH=BACKEND[,BACKEND...][;key=value...], SPEC.md), the route keys
 * shared by both forms (config route keys are set through one function, cfg_route_set, so a
 * SPEC key and the JSON member of the same name share validation and wording), the JSON
 * "routes" array, and backend resolution (getaddrinfo, first result, main thread only).
 * config__routes_json is the one parser of a JSON routes array: the --config file goes through
 * it (config_json.c), and so does config_parse_routes_json, the entry point for a body such as
 * a future PUT /routes, so the file and the admin API can never disagree on what a route is.
 * Duplicate paths are not checked here but by rt_table_new, which is what finally consumes the
 * routes (the caller builds one, as config_parse_args does for the whole config).
 *
 * Rejected: a second, lighter parser for admin bodies. Two parsers of one shape drift apart
 * and the drift is only found in production. */
#include "core/config.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/config_int.h"

/* Drops spaces and tabs around s, in place ("a=b; lb=x" reads like "a=b;lb=x"). */
static char *cfg_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

static int cfg_route_add_backend(struct rt_route_def *def, const char *url, char *why, size_t wl)
{
	struct rt_backend_def *nb;

	if (*url == '\0') {
		config__errf(why, wl, "empty backend");
		return -1;
	}
	nb = realloc(def->backends, ((size_t)def->n_backends + 1) * sizeof(*nb));
	if (nb == NULL) {
		config__errf(why, wl, "out of memory");
		return -1;
	}
	def->backends = nb;
	if (rt_backend_def_parse(url, &nb[def->n_backends], why, wl) != 0)
		return -1;
	def->n_backends++;
	return 0;
}

static int cfg_route_set_path(struct rt_route_def *def, const char *path, char *why, size_t wl)
{
	char q[512];

	if (path[0] != '/' || !config__is_printable(path) || strpbrk(path, "?#") != NULL) {
		config__errf(why, wl,
		             "route path \"%s\" must start with '/' and hold no space, '?' or '#'",
		             config__q(q, sizeof(q), path));
		return -1;
	}
	if (config__set_str(&def->path, path) != 0) {
		config__errf(why, wl, "out of memory");
		return -1;
	}
	return 0;
}

/* A route key that takes true or false. */
static int cfg_route_bool(const char *key, const char *val, bool *dst, char *why, size_t wl)
{
	char q[512];
	if (strcmp(val, "true") == 0) {
		*dst = true;
	} else if (strcmp(val, "false") == 0) {
		*dst = false;
	} else {
		config__errf(why, wl, "%s: expected true or false, got \"%s\"", key,
		             config__q(q, sizeof(q), val));
		return -1;
	}
	return 0;
}

/* One route key (the spec's ";key=value" or a JSON route member), value as a string. */
static int cfg_route_set(struct rt_route_def *def, const char *key, const char *val, char *why,
                         size_t wl)
{
	char q[512], kq[128];
	uint64_t u;

	if (strcmp(key, "lb") == 0) {
		enum rt_lb lb;
		char *hdr;
		if (config__parse_lb(val, &lb, &hdr) != 0) {
			config__errf(why, wl,
			             "lb: invalid policy \"%s\" (round-robin, least-conn, ip-hash, "
			             "header-hash:NAME)",
			             config__q(q, sizeof(q), val));
			return -1;
		}
		free(def->lb_header);
		def->lb_header = hdr;
		def->lb = lb;
		def->has_lb = true;
	} else if (strcmp(key, "auth") == 0) {
		if (strcmp(val, "required") == 0)
			def->auth = RT_AUTH_REQUIRED;
		else if (strcmp(val, "optional") == 0)
			def->auth = RT_AUTH_OPTIONAL;
		else if (strcmp(val, "off") == 0)
			def->auth = RT_AUTH_OFF;
		else {
			config__errf(why, wl,
			             "auth: invalid value \"%s\" (required, optional, off)",
			             config__q(q, sizeof(q), val));
			return -1;
		}
	} else if (strcmp(key, "origin") == 0) {
		if (*val == '\0' || !config__is_printable(val)) {
			config__errf(why, wl, "origin: invalid origin \"%s\"",
			             config__q(q, sizeof(q), val));
			return -1;
		}
		if (config__strv_push(&def->origins, &def->n_origins, val) != 0) {
			config__errf(why, wl, "out of memory");
			return -1;
		}
	} else if (strcmp(key, "max-message") == 0) {
		if (config_parse_size(val, &u) != 0 || u == 0) {
			config__errf(why, wl, "max-message: invalid size \"%s\"",
			             config__q(q, sizeof(q), val));
			return -1;
		}
		def->max_message = u;
	} else if (strcmp(key, "msg-rate") == 0) {
		if (config__parse_rate(val, false, &def->msg_rate, &def->msg_burst) != 0) {
			config__errf(why, wl, "msg-rate: invalid rate \"%s\" (R[/BURST], R >= 1)",
			             config__q(q, sizeof(q), val));
			return -1;
		}
	} else if (strcmp(key, "strip-prefix") == 0) {
		if (cfg_route_bool(key, val, &def->strip_prefix, why, wl) != 0)
			return -1;
	} else if (strcmp(key, "forward-token") == 0) {
		if (cfg_route_bool(key, val, &def->forward_token, why, wl) != 0)
			return -1;
	} else if (strcmp(key, "tls-verify") == 0) {
		/* Initialised only for gcc -O2, which cannot see that cfg_route_bool sets it
		 * whenever it returns 0 (-Werror=maybe-uninitialized in the release build). */
		bool verify = true;
		if (cfg_route_bool(key, val, &verify, why, wl) != 0)
			return -1;
		def->tls_no_verify = !verify;
	} else if (strcmp(key, "subprotocol") == 0) {
		/* RFC 6455 4.1: a subprotocol is an RFC 2616 token */
		if (*val == '\0' || !config__is_printable(val) ||
		    strpbrk(val, "()<>@,;:\\\"/[]?={}")) {
			config__errf(why, wl, "subprotocol: invalid token \"%s\"",
			             config__q(q, sizeof(q), val));
			return -1;
		}
		if (config__set_str(&def->subprotocol, val) != 0) {
			config__errf(why, wl, "out of memory");
			return -1;
		}
	} else {
		config__errf(why, wl, "unknown route key \"%s\"", config__q(kq, sizeof(kq), key));
		return -1;
	}
	return 0;
}

int config_parse_route(const char *spec, struct rt_route_def *def, char *err, size_t err_len)
{
	char *s, *opts, *eq, *tok, *save = NULL;
	int rc = -1;

	memset(def, 0, sizeof(*def));
	s = spec ? strdup(spec) : NULL;
	if (s == NULL) {
		config__errf(err, err_len, "out of memory");
		return -1;
	}
	opts = strchr(s, ';');
	if (opts != NULL)
		*opts++ = '\0';
	eq = strchr(s, '=');
	if (eq != NULL)
		*eq++ = '\0';
	if (cfg_route_set_path(def, cfg_trim(s), err, err_len) != 0)
		goto out_free_s;
	if (eq == NULL || *eq == '\0') {
		config__errf(err, err_len, "no backend");
		goto out_free_s;
	}
	/* strsep, not strtok: "a,,b" must be an empty backend, not two */
	for (char *p = eq; (tok = strsep(&p, ",")) != NULL;)
		if (cfg_route_add_backend(def, cfg_trim(tok), err, err_len) != 0)
			goto out_free_s;
	for (tok = opts ? strtok_r(opts, ";", &save) : NULL; tok != NULL;
	     tok = strtok_r(NULL, ";", &save)) {
		char q[512];
		char *v;
		tok = cfg_trim(tok);
		if (*tok == '\0')
			continue;
		v = strchr(tok, '=');
		if (v == NULL) {
			config__errf(err, err_len, "route option \"%s\" is not key=value",
			             config__q(q, sizeof(q), tok));
			goto out_free_s;
		}
		*v++ = '\0';
		if (cfg_route_set(def, cfg_trim(tok), cfg_trim(v), err, err_len) != 0)
			goto out_free_s;
	}
	rc = 0;
out_free_s:
	free(s);
	if (rc != 0)
		rt_route_def_fini(def);
	return rc;
}

/* Resolves every backend host on the main thread (first getaddrinfo result). */
static int cfg_route_resolve(struct rt_route_def *def, char *why, size_t wl)
{
	for (unsigned i = 0; i < def->n_backends; i++) {
		struct rt_backend_def *b = &def->backends[i];
		struct addrinfo hints, *res = NULL;
		char port[8], q[512], hq[300];
		int rc;

		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV;
		snprintf(port, sizeof(port), "%u", b->port);
		rc = getaddrinfo(b->host, port, &hints, &res);
		if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(b->addr)) {
			config__errf(why, wl, "backend \"%s\": cannot resolve \"%s\": %s",
			             config__q(q, sizeof(q), b->url),
			             config__q(hq, sizeof(hq), b->host),
			             rc != 0 ? gai_strerror(rc) : "no address");
			if (res != NULL)
				freeaddrinfo(res);
			return -1;
		}
		memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
		b->addr_len = res->ai_addrlen;
		freeaddrinfo(res);
	}
	return 0;
}

static int cfg_routes_push(struct rt_route_def **routes, unsigned *n, struct rt_route_def *def)
{
	struct rt_route_def *nv = realloc(*routes, ((size_t)*n + 1) * sizeof(*nv));

	if (nv == NULL)
		return -1;
	nv[(*n)++] = *def;
	*routes = nv;
	memset(def, 0, sizeof(*def));
	return 0;
}

void config__routes_free(struct rt_route_def **routes, unsigned *n)
{
	for (unsigned i = 0; i < *n; i++)
		rt_route_def_fini(&(*routes)[i]);
	free(*routes);
	*routes = NULL;
	*n = 0;
}

int config__route_from_spec(const char *spec, struct rt_route_def **routes, unsigned *n, char *why,
                            size_t wl)
{
	struct rt_route_def def;
	char q[512], rwhy[512];

	if (config_parse_route(spec, &def, rwhy, sizeof(rwhy)) != 0) {
		config__errf(why, wl, "\"%s\": %s", config__q(q, sizeof(q), spec), rwhy);
		return -1;
	}
	if (cfg_route_resolve(&def, rwhy, sizeof(rwhy)) != 0) {
		config__errf(why, wl, "\"%s\": %s", config__q(q, sizeof(q), spec), rwhy);
		rt_route_def_fini(&def);
		return -1;
	}
	if (cfg_routes_push(routes, n, &def) != 0) {
		config__errf(why, wl, "out of memory");
		rt_route_def_fini(&def);
		return -1;
	}
	return 0;
}

/* One route object of a JSON routes array; key and why as for config__routes_json. */
static int cfg_json_route_obj(const cJSON *o, unsigned idx, struct rt_route_def **routes,
                              unsigned *n, char *key, size_t kl, char *why, size_t wl)
{
	struct rt_route_def def;
	char num[64];
	const cJSON *m;
	int rc = -1;

	memset(&def, 0, sizeof(def));
	cJSON_ArrayForEach(m, o)
	{
		const char *k = m->string ? m->string : "";
		snprintf(key, kl, "routes[%u].%s", idx, k);
		if (strcmp(k, "resolved") == 0) {
			/* What --check-config prints next to "backends" (the addresses they
			 * resolved to), so that its output reads back as a config. Checked for
			 * shape only: the backends are resolved afresh, never taken from here. */
			const cJSON *e;
			unsigned i = 0;
			if (!cJSON_IsArray(m)) {
				config__errf(why, wl, "expected an array of strings, got %s",
				             config__json_type(m));
				goto out_fail;
			}
			cJSON_ArrayForEach(e, m)
			{
				snprintf(key, kl, "routes[%u].%s[%u]", idx, k, i++);
				if (!cJSON_IsString(e)) {
					config__errf(why, wl, "expected a string, got %s",
					             config__json_type(e));
					goto out_fail;
				}
			}
		} else if (strcmp(k, "path") == 0) {
			if (!cJSON_IsString(m)) {
				config__errf(why, wl, "expected a string, got %s",
				             config__json_type(m));
				goto out_fail;
			}
			if (cfg_route_set_path(&def, m->valuestring, why, wl) != 0)
				goto out_fail;
		} else if (strcmp(k, "backends") == 0 || strcmp(k, "origin") == 0) {
			bool is_backend = k[0] == 'b';
			const cJSON *e;
			if (cJSON_IsString(m)) {
				if ((is_backend
				         ? cfg_route_add_backend(&def, m->valuestring, why, wl)
				         : cfg_route_set(&def, k, m->valuestring, why, wl)) != 0)
					goto out_fail;
				continue;
			}
			if (!cJSON_IsArray(m)) {
				config__errf(why, wl, "expected an array of strings, got %s",
				             config__json_type(m));
				goto out_fail;
			}
			unsigned i = 0;
			cJSON_ArrayForEach(e, m)
			{
				snprintf(key, kl, "routes[%u].%s[%u]", idx, k, i++);
				if (!cJSON_IsString(e)) {
					config__errf(why, wl, "expected a string, got %s",
					             config__json_type(e));
					goto out_fail;
				}
				if ((is_backend
				         ? cfg_route_add_backend(&def, e->valuestring, why, wl)
				         : cfg_route_set(&def, k, e->valuestring, why, wl)) != 0)
					goto out_fail;
			}
		} else {
			const char *v = config__json_str(m, num, sizeof(num), true);
			if (v == NULL) {
				config__errf(why, wl, "expected a string, got %s",
				             config__json_type(m));
				goto out_fail;
			}
			if (cfg_route_set(&def, k, v, why, wl) != 0)
				goto out_fail;
		}
	}
	snprintf(key, kl, "routes[%u]", idx);
	if (def.path == NULL) {
		config__errf(why, wl, "missing \"path\"");
		goto out_fail;
	}
	if (def.n_backends == 0) {
		char q[512];
		config__errf(why, wl, "route \"%s\": no backend",
		             config__q(q, sizeof(q), def.path));
		goto out_fail;
	}
	if (cfg_route_resolve(&def, why, wl) != 0)
		goto out_fail;
	if (cfg_routes_push(routes, n, &def) != 0) {
		config__errf(why, wl, "out of memory");
		goto out_fail;
	}
	return 0;
out_fail:
	rt_route_def_fini(&def);
	return rc;
}

int config__routes_json(const cJSON *arr, struct rt_route_def **routes, unsigned *n, char *key,
                        size_t kl, char *why, size_t wl)
{
	const cJSON *e;
	unsigned i = 0;

	if (!cJSON_IsArray(arr)) {
		config__errf(why, wl, "expected an array, got %s", config__json_type(arr));
		snprintf(key, kl, "routes");
		return -1;
	}
	cJSON_ArrayForEach(e, arr)
	{
		unsigned idx = i++;
		if (cJSON_IsObject(e)) {
			if (cfg_json_route_obj(e, idx, routes, n, key, kl, why, wl) != 0)
				return -1;
			continue;
		}
		snprintf(key, kl, "routes[%u]", idx);
		if (!cJSON_IsString(e)) {
			config__errf(why, wl, "expected an object or a route spec, got %s",
			             config__json_type(e));
			return -1;
		}
		/* the --route SPEC string form */
		if (config__route_from_spec(e->valuestring, routes, n, why, wl) != 0)
			return -1;
	}
	return 0;
}

void config_routes_free(struct rt_route_def *routes, unsigned n_routes)
{
	if (routes == NULL)
		return;
	config__routes_free(&routes, &n_routes);
}

/* "KEY: why" into err, the key escaped (it comes from the body) but not quoted. */
static void cfg_body_fail(char *err, size_t err_len, const char *key, const char *why)
{
	char kq[256];

	config__errf(err, err_len, "%s: %s", config__q(kq, sizeof(kq), key), why);
}

int config_parse_routes_json(const char *json, size_t len, struct rt_route_def **routes,
                             unsigned *n_routes, char *err, size_t err_len)
{
	char key[160], why[768];
	const char *end = NULL;
	const cJSON *m, *list = NULL;
	cJSON *root = NULL;
	char *buf;
	int rc = -1;

	*routes = NULL;
	*n_routes = 0;
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (json == NULL && len != 0) {
		config__errf(err, err_len, "no body");
		return -1;
	}
	if (len > CFG_MAX_FILE) {
		config__errf(err, err_len, "body too large (%zu bytes, at most %u)", len,
		             CFG_MAX_FILE);
		return -1;
	}
	/* cJSON wants the NUL inside the length, so the body is copied; a NUL inside the body
	 * would end the parse early and hide what follows it, so that is refused first. */
	const char *nul = len != 0 ? memchr(json, '\0', len) : NULL;
	if (nul != NULL) {
		unsigned line, col;
		config__json_pos(json, len, nul, &line, &col);
		config__errf(err, err_len, "invalid JSON at line %u, column %u", line, col);
		return -1;
	}
	buf = malloc(len + 1);
	if (buf == NULL) {
		config__errf(err, err_len, "out of memory");
		return -1;
	}
	if (len != 0)
		memcpy(buf, json, len);
	buf[len] = '\0';
	root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, true);
	if (root == NULL || end != buf + len) {
		unsigned line, col;
		config__json_pos(buf, len, end, &line, &col);
		config__errf(err, err_len, "invalid JSON at line %u, column %u", line, col);
		goto out_free_root;
	}
	if (!cJSON_IsObject(root)) {
		config__errf(err, err_len, "expected a JSON object, got %s",
		             config__json_type(root));
		goto out_free_root;
	}
	cJSON_ArrayForEach(m, root)
	{
		const char *k = m->string ? m->string : "";
		if (strcmp(k, "routes") != 0) {
			cfg_body_fail(err, err_len, k, "unknown key");
			goto out_free_root;
		}
		if (list != NULL) {
			cfg_body_fail(err, err_len, k, "given twice");
			goto out_free_root;
		}
		list = m;
	}
	if (list == NULL) {
		config__errf(err, err_len, "routes: missing (expected {\"routes\": [...]})");
		goto out_free_root;
	}
	if (config__routes_json(list, routes, n_routes, key, sizeof(key), why, sizeof(why)) != 0) {
		cfg_body_fail(err, err_len, key, why);
		goto out_free_routes;
	}
	struct rt_table *t = rt_table_new(*routes, *n_routes, why, sizeof(why));
	if (t == NULL) {
		cfg_body_fail(err, err_len, "routes", why);
		goto out_free_routes;
	}
	rt_table_free(t);
	rc = 0;
	goto out_free_root;
out_free_routes:
	config__routes_free(routes, n_routes);
out_free_root:
	cJSON_Delete(root);
	free(buf);
	return rc;
}
