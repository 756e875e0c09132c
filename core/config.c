/* core/config.c: the command line into struct wsg_config, file first, flags over it.
 *
 * Owns: config_parse_args (tokenising argv, the file-then-flags order, the whole-config
 * cross-checks), config_fini, and the small helpers every config file shares (one-line
 * errors, quoting, growable arrays, reading a file). Runs on the main thread before anything
 * starts (it calls getaddrinfo and reads files); the result is read-only afterwards. The rest
 * of the module, one concern per file: config_opts.c (the option table and config__set, the
 * one setter shared by flags and JSON keys), config_units.c (value parsers), config_routes.c
 * (route SPEC strings, route JSON objects, backend resolution, config_parse_routes_json),
 * config_json.c (the --config file), config_print.c (config_print_json, --help).
 *
 * Order: defaults, then the file, then the flags, then cross-checks (TLS pairs, duplicate
 * route paths through rt_table_new, auth needing a key). argv is tokenized first (option,
 * value) so that --help/--version and --config are known before any value is applied: a flag
 * then always overrides the file whatever their order on the line. Every setting goes through
 * one setter (config__set) that takes the value as a string, so the flag and the JSON key
 * share validation and wording; only the prefix of the error differs ("--idle-timeout:" vs
 * "file.json: key \"idle-timeout\":"). Repeatable flags replace the file's list on their first
 * occurrence on the command line, and --listen replaces the default the same way.
 *
 * Errors: exactly one line, no trailing newline, naming the flag or key and the bad value
 * (quoted, escaped, truncated, so a hostile value cannot break the line); secrets are never
 * echoed. getopt_long was not used: its messages go to stderr in its own words, and it does
 * not give us the file-then-flags order. One 2000-line file was split by concern once it
 * held six of them; the split moved code without changing a message. */
#include "core/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config_int.h"

void config__errf(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || err_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	/* the one-line contract holds even if something upstream slipped a newline in */
	for (char *p = err; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

/* s escaped for an error message: quotes, backslashes and non-printables as \xNN, at most
 * 100 source bytes then "...". Returns dst. */
const char *config__q(char *dst, size_t cap, const char *s)
{
	size_t o = 0, i = 0;

	if (s == NULL)
		s = "";
	for (; s[i] != '\0' && i < 100; i++) {
		unsigned char c = (unsigned char)s[i];
		if (o + 5 >= cap)
			break;
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(dst + o, cap - o, "\\x%02x", c);
		else
			dst[o++] = (char)c;
	}
	if (s[i] != '\0' && o + 4 < cap) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

/* ---- growable arrays; char * lists stay NULL-terminated so config_fini needs no count --- */

int config__strv_push(char ***v, unsigned *n, const char *s)
{
	char *copy = strdup(s);
	char **nv = copy ? realloc(*v, ((size_t)*n + 2) * sizeof(**v)) : NULL;

	if (nv == NULL) {
		free(copy);
		return -1;
	}
	nv[*n] = copy;
	nv[*n + 1] = NULL;
	*v = nv;
	(*n)++;
	return 0;
}

void config__strv_free(char ***v, unsigned *n)
{
	if (*v != NULL)
		for (char **p = *v; *p != NULL; p++)
			free(*p);
	free(*v);
	*v = NULL;
	if (n != NULL)
		*n = 0;
}

int config__addr_push(struct cfg_addr **v, unsigned *n, const struct cfg_addr *a)
{
	struct cfg_addr *nv = realloc(*v, ((size_t)*n + 1) * sizeof(**v));

	if (nv == NULL)
		return -1;
	nv[(*n)++] = *a;
	*v = nv;
	return 0;
}

int config__set_str(char **dst, const char *s)
{
	char *copy = strdup(s);

	if (copy == NULL)
		return -1;
	free(*dst);
	*dst = copy;
	return 0;
}

/* Reads a whole file (at most CFG_MAX_FILE bytes) into a NUL-terminated buffer. */
char *config__read_file(const char *path, size_t *len, const char **reason)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (f == NULL) {
		*reason = strerror(errno);
		return NULL;
	}
	for (;;) {
		if (cap - n < 4096) {
			size_t ncap = cap ? cap * 2 : 8192;
			char *nb = ncap <= CFG_MAX_FILE + 1 ? realloc(buf, ncap + 1) : NULL;
			if (nb == NULL) {
				*reason =
				    ncap > CFG_MAX_FILE + 1 ? "file too large" : "out of memory";
				goto out_free;
			}
			buf = nb;
			cap = ncap;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				*reason = strerror(errno ? errno : EIO);
				goto out_free;
			}
			break;
		}
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
out_free:
	free(buf);
	fclose(f);
	return NULL;
}

/* ---- argv ----------------------------------------------------------------------------------- */

struct cfg_tok {
	enum cfg_opt id;
	const char *val; /* NULL for flags and actions */
};

/* Splits argv into (option, value) tokens; values are not checked yet. */
static int cfg_tokenize(struct cfg_parse *ps, int argc, char **argv, struct cfg_tok *toks,
                        unsigned *n_toks)
{
	char q[512];
	unsigned n = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		int id = -1;
		bool inline_val = false;

		if (a[0] == '-' && a[1] == '-' && a[2] != '\0') {
			char name[64];
			const char *eq = strchr(a + 2, '=');
			size_t nl = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
			if (nl < sizeof(name)) {
				memcpy(name, a + 2, nl);
				name[nl] = '\0';
				id = config__find_opt(name, false);
			}
			if (eq != NULL) {
				val = eq + 1;
				inline_val = true;
			}
		} else if (a[0] == '-' && a[1] != '\0' && a[1] != '-') {
			for (int k = 0; k < CFG_O_COUNT; k++)
				if (config__opts[k].short_name == a[1])
					id = k;
			if (a[2] != '\0') {
				if (id >= 0 && (config__opts[id].kind == CFG_K_VALUE ||
				                config__opts[id].kind == CFG_K_LIST)) {
					val = a + 2; /* -w4 */
					inline_val = true;
				} else {
					id = -1;
				}
			}
		} else {
			config__errf(ps->err, ps->err_len, "wsgate: unexpected argument \"%s\"",
			             config__q(q, sizeof(q), a));
			return -1;
		}
		if (id < 0) {
			char fq[128];
			const char *eq = strchr(a, '=');
			/* name the flag, not a value that might be a secret */
			snprintf(fq, sizeof(fq), "%.*s", eq ? (int)(eq - a) : 100, a);
			config__errf(ps->err, ps->err_len, "wsgate: unknown flag \"%s\"",
			             config__q(q, sizeof(q), fq));
			return -1;
		}
		const struct cfg_opt_def *o = &config__opts[id];
		if (o->kind == CFG_K_FLAG || o->kind == CFG_K_ACTION) {
			if (inline_val) {
				config__errf(ps->err, ps->err_len,
				             "wsgate: --%s: takes no value, got \"%s\"", o->name,
				             config__q(q, sizeof(q), val));
				return -1;
			}
		} else if (!inline_val) {
			if (i + 1 >= argc) {
				config__errf(ps->err, ps->err_len,
				             "wsgate: --%s: missing value (%s)", o->name, o->arg);
				return -1;
			}
			val = argv[++i];
		}
		toks[n].id = (enum cfg_opt)id;
		toks[n].val = val;
		n++;
	}
	*n_toks = n;
	return 0;
}

static void cfg_defaults(struct wsg_config *cfg)
{
	const char *reason;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	cfg->workers =
	    cpus < 1 ? 1 : (cpus > (long)CFG_MAX_WORKERS ? CFG_MAX_WORKERS : (unsigned)cpus);
	(void)config__addr_parse(CFG_DEFAULT_ADMIN, &cfg->admin, &reason);
	cfg->max_conns = 100000;
	cfg->max_message = 1024 * 1024;
	cfg->handshake_timeout_ms = 10 * 1000;
	cfg->idle_timeout_ms = 300 * 1000;
	cfg->ping_interval_ms = 30 * 1000;
	cfg->connect_timeout_ms = 5 * 1000;
	cfg->drain_timeout_ms = 30 * 1000;
	cfg->drain_close_code = 1001;
	cfg->health_interval_ms = 5 * 1000;
	cfg->health_fails = 2;
	cfg->health_passes = 2;
	cfg->max_fails = 3;
	cfg->fail_timeout_ms = 10 * 1000;
	cfg->lb = RT_LB_ROUND_ROBIN;
	cfg->auth = CFG_AUTH_UNSET;
	cfg->jwt_leeway_ms = 30 * 1000;
	cfg->log_level = CFG_LOG_INFO;
	cfg->log_format = CFG_LOG_TEXT;
	cfg->tls_min_version = 12;
	cfg->ipv6_prefix = 64;
}

bool config_has_jwt_key(const struct wsg_config *cfg)
{
	return cfg->jwt_secret != NULL || cfg->n_jwt_public_keys > 0 || cfg->jwt_jwks != NULL;
}

enum cfg_auth_mode config_auth_mode(const struct wsg_config *cfg)
{
	if (cfg->auth != CFG_AUTH_UNSET)
		return cfg->auth;
	return config_has_jwt_key(cfg) ? CFG_AUTH_REQUIRED : CFG_AUTH_OFF;
}

/* Whole-config checks once file and flags are in. */
static int cfg_check(struct cfg_parse *ps)
{
	struct wsg_config *cfg = ps->cfg;
	char q[512], why[768];
	const char *reason;

	if (ps->n_cert > ps->n_key) {
		config__errf(ps->err, ps->err_len,
		             "wsgate: --tls-cert \"%s\": no matching --tls-key",
		             config__q(q, sizeof(q), cfg->tls_cert[ps->n_key]));
		return -1;
	}
	if (ps->n_key > ps->n_cert) {
		config__errf(ps->err, ps->err_len,
		             "wsgate: --tls-key \"%s\": no matching --tls-cert",
		             config__q(q, sizeof(q), cfg->tls_key[ps->n_cert]));
		return -1;
	}
	cfg->n_tls_pairs = ps->n_cert;
	if (cfg->n_tls_listen > 0 && cfg->n_tls_pairs == 0) {
		config__errf(ps->err, ps->err_len,
		             "wsgate: --tls-listen \"%s\": needs --tls-cert and --tls-key",
		             cfg->tls_listen[0].text);
		return -1;
	}
	if (!ps->listen_set) {
		struct cfg_addr a;
		if (config__addr_parse(CFG_DEFAULT_LISTEN, &a, &reason) != 0 ||
		    config__addr_push(&cfg->listen, &cfg->n_listen, &a) != 0) {
			config__errf(ps->err, ps->err_len, "wsgate: --listen: out of memory");
			return -1;
		}
	}
	if (cfg->n_listen == 0 && cfg->n_tls_listen == 0) {
		config__errf(ps->err, ps->err_len,
		             "wsgate: --listen: empty list and no --tls-listen");
		return -1;
	}

	struct rt_table *t = rt_table_new(cfg->routes, cfg->n_routes, why, sizeof(why));
	if (t == NULL) {
		if (ps->routes_from_flags || cfg->config_file == NULL)
			config__errf(ps->err, ps->err_len, "wsgate: --route: %s", why);
		else
			config__errf(ps->err, ps->err_len, "wsgate: %s: key \"routes\": %s",
			             config__q(q, sizeof(q), cfg->config_file), why);
		return -1;
	}
	rt_table_free(t);

	if (cfg->drain_spread_ms > 0 && cfg->drain_spread_ms >= cfg->drain_timeout_ms) {
		/* The last close frames would go out after the drain had cut their clients. */
		config__errf(ps->err, ps->err_len,
		             "wsgate: --drain-spread: must be shorter than --drain-timeout");
		return -1;
	}
	bool has_key = config_has_jwt_key(cfg);
	if (!has_key && (cfg->auth == CFG_AUTH_REQUIRED || cfg->auth == CFG_AUTH_OPTIONAL)) {
		config__errf(ps->err, ps->err_len,
		             "wsgate: --auth \"%s\": needs --jwt-secret, --jwt-secret-file, "
		             "--jwt-public-key or --jwt-jwks",
		             cfg->auth == CFG_AUTH_REQUIRED ? "required" : "optional");
		return -1;
	}
	for (unsigned i = 0; i < cfg->n_routes && !has_key; i++) {
		const struct rt_route_def *d = &cfg->routes[i];
		if (d->auth == RT_AUTH_REQUIRED || d->auth == RT_AUTH_OPTIONAL) {
			config__errf(ps->err, ps->err_len,
			             "wsgate: --route \"%s\": auth=%s needs --jwt-secret, "
			             "--jwt-secret-file, --jwt-public-key or --jwt-jwks",
			             config__q(q, sizeof(q), d->path),
			             d->auth == RT_AUTH_REQUIRED ? "required" : "optional");
			return -1;
		}
	}
	return 0;
}

enum cfg_rc config_parse_args(struct wsg_config *cfg, int argc, char **argv, FILE *out, char *err,
                              size_t err_len)
{
	struct cfg_parse ps = {.cfg = cfg, .err = err, .err_len = err_len};
	char why[768];
	struct cfg_tok *toks;
	unsigned n_toks = 0;
	enum cfg_rc rc = CFG_RC_USAGE;

	if (err != NULL && err_len > 0)
		err[0] = '\0';
	cfg_defaults(cfg);
	toks = calloc(argc > 0 ? (size_t)argc : 1, sizeof(*toks));
	if (toks == NULL) {
		config__errf(err, err_len, "wsgate: out of memory");
		return CFG_RC_USAGE;
	}
	if (cfg_tokenize(&ps, argc, argv, toks, &n_toks) != 0)
		goto out_free_toks;

	for (unsigned i = 0; i < n_toks; i++) {
		if (toks[i].id == CFG_O_HELP || toks[i].id == CFG_O_VERSION) {
			if (toks[i].id == CFG_O_HELP)
				config__print_help(out);
			else
				fprintf(out, "wsgate %s\n", WSG_VERSION);
			fflush(out);
			rc = CFG_RC_EXIT;
			goto out_free_toks;
		}
	}
	const char *file = NULL;
	for (unsigned i = 0; i < n_toks; i++)
		if (toks[i].id == CFG_O_CONFIG)
			file = toks[i].val;
	if (file != NULL) {
		if (*file == '\0') {
			config__errf(err, err_len, "wsgate: --config: empty file name");
			goto out_free_toks;
		}
		if (config__set_str(&cfg->config_file, file) != 0 ||
		    config__load_file(&ps, file) != 0)
			goto out_free_toks;
	}

	for (unsigned i = 0; i < n_toks; i++) {
		enum cfg_opt id = toks[i].id;
		const char *v = toks[i].val ? toks[i].val : "";

		if (id == CFG_O_CONFIG)
			continue;
		if (config__opts[id].kind == CFG_K_LIST && !(ps.flag_lists & (1ull << id))) {
			config__list_clear(&ps, id);
			ps.flag_lists |= 1ull << id;
			if (id == CFG_O_ROUTE)
				ps.routes_from_flags = true;
		}
		if (config__set(&ps, id, v, why, sizeof(why)) != 0) {
			config__fail_flag(&ps, id, why);
			goto out_free_toks;
		}
	}
	if (cfg_check(&ps) != 0)
		goto out_free_toks;
	rc = CFG_RC_OK;
out_free_toks:
	free(toks);
	/* Nothing half-built is handed back; calling config_fini again is still harmless. */
	if (rc != CFG_RC_OK)
		config_fini(cfg);
	return rc;
}

void config_fini(struct wsg_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->listen);
	free(cfg->tls_listen);
	config__strv_free(&cfg->tls_cert, NULL);
	config__strv_free(&cfg->tls_key, NULL);
	config__routes_free(&cfg->routes, &cfg->n_routes);
	free(cfg->admin_token);
	config__strv_free(&cfg->allow_origin, NULL);
	if (cfg->jwt_secret != NULL)
		explicit_bzero(cfg->jwt_secret, strlen(cfg->jwt_secret));
	free(cfg->jwt_secret);
	free(cfg->jwt_secret_file);
	config__strv_free(&cfg->jwt_public_keys, NULL);
	free(cfg->jwt_jwks);
	free(cfg->jwt_issuer);
	free(cfg->jwt_audience);
	free(cfg->lb_header);
	free(cfg->health_path);
	free(cfg->backend_ca);
	free(cfg->access_log);
	free(cfg->cluster_url);
	free(cfg->node_id);
	free(cfg->cluster_prefix);
	free(cfg->config_file);
	memset(cfg, 0, sizeof(*cfg));
}
