/* core/config_print.c: the effective configuration as JSON (--check-config), and --help.
 *
 * Owns: config_print_json and the formatting of values back into the forms the parser takes
 * (durations and sizes in their largest exact unit, rates as R/BURST, numbers past 2^53 as
 * strings), so that what --check-config prints is itself a valid --config file; and the
 * --help text, generated from the option table. Secrets are never printed. Any thread may
 * call config_print_json on a config nobody writes to.
 *
 * Rejected: printing the raw values as given. The point of --check-config is to show what the
 * gateway will do (defaults filled in, auth resolved, names resolved), not to echo input. */
#include "core/config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netdb.h>
#include <string.h>

#include "core/config_int.h"

void config__print_help(FILE *out)
{
	fprintf(out, "usage: wsgate [options]\n"
	             "wsgate " WSG_VERSION " - edge WebSocket gateway\n\n"
	             "Sizes take k, m, g (1024-based); durations take ms, s, m, h (bare number = "
	             "seconds).\n\n");
	for (int i = 0; i < CFG_O_COUNT; i++) {
		const struct cfg_opt_def *o = &config__opts[i];
		char left[96];
		if (o->short_name)
			snprintf(left, sizeof(left), "-%c, --%s%s%s", o->short_name, o->name,
			         o->arg ? " " : "", o->arg ? o->arg : "");
		else
			snprintf(left, sizeof(left), "    --%s%s%s", o->name, o->arg ? " " : "",
			         o->arg ? o->arg : "");
		fprintf(out, "  %-34s %s\n", left, o->help);
	}
	fprintf(out, "\nRoute keys after ';': lb=, auth=required|optional|off, origin= "
	             "(repeatable),\n  max-message=SIZE, msg-rate=R[/BURST], "
	             "strip-prefix=true|false, subprotocol=NAME, tls-verify=true|false\n"
	             "Exit status: 0 ok, 1 runtime failure, 2 bad usage or config.\n");
}

static void cfg_fmt_duration(char *buf, size_t cap, uint64_t ms)
{
	if (ms != 0 && ms % 3600000 == 0)
		snprintf(buf, cap, "%lluh", (unsigned long long)(ms / 3600000));
	else if (ms != 0 && ms % 60000 == 0)
		snprintf(buf, cap, "%llum", (unsigned long long)(ms / 60000));
	else if (ms % 1000 == 0)
		snprintf(buf, cap, "%llus", (unsigned long long)(ms / 1000));
	else
		snprintf(buf, cap, "%llums", (unsigned long long)ms);
}

static void cfg_fmt_size(char *buf, size_t cap, uint64_t n)
{
	static const char suffix[] = {'g', 'm', 'k'};
	static const uint64_t unit[] = {1ull << 30, 1ull << 20, 1ull << 10};

	for (size_t i = 0; i < sizeof(unit) / sizeof(unit[0]); i++) {
		if (n != 0 && n % unit[i] == 0) {
			snprintf(buf, cap, "%llu%c", (unsigned long long)(n / unit[i]), suffix[i]);
			return;
		}
	}
	snprintf(buf, cap, "%llu", (unsigned long long)n);
}

static void cfg_fmt_rate(char *buf, size_t cap, uint32_t rate, uint32_t burst)
{
	if (rate == 0)
		snprintf(buf, cap, "off");
	else
		snprintf(buf, cap, "%u/%u", rate, burst);
}

/* "127.0.0.1:9001" or "[::1]:9001"; "" for a backend not resolved (never after parsing). */
static void cfg_fmt_sockaddr(char *buf, size_t cap, const struct rt_backend_def *b)
{
	char host[INET6_ADDRSTRLEN], port[8];

	buf[0] = '\0';
	if (b->addr_len == 0 ||
	    getnameinfo((const struct sockaddr *)&b->addr, b->addr_len, host, sizeof(host), port,
	                sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return;
	if (b->addr.ss_family == AF_INET6)
		snprintf(buf, cap, "[%s]:%s", host, port);
	else
		snprintf(buf, cap, "%s:%s", host, port);
}

/* Numbers past 2^53 do not survive a JSON double: those go out as strings (both parse). */
static bool cfg_add_u64(cJSON *o, const char *k, uint64_t v)
{
	char buf[32];

	if (v <= (1ull << 53))
		return cJSON_AddNumberToObject(o, k, (double)v) != NULL;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return cJSON_AddStringToObject(o, k, buf) != NULL;
}

static bool cfg_add_strs(cJSON *o, const char *k, char *const *v, unsigned n)
{
	cJSON *a = cJSON_AddArrayToObject(o, k);

	if (a == NULL)
		return false;
	for (unsigned i = 0; i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i]);
		if (s == NULL || !cJSON_AddItemToArray(a, s))
			return false;
	}
	return true;
}

static bool cfg_add_addrs(cJSON *o, const char *k, const struct cfg_addr *v, unsigned n)
{
	cJSON *a = cJSON_AddArrayToObject(o, k);

	if (a == NULL)
		return false;
	for (unsigned i = 0; i < n; i++) {
		cJSON *s = cJSON_CreateString(v[i].text);
		if (s == NULL || !cJSON_AddItemToArray(a, s))
			return false;
	}
	return true;
}

static bool cfg_add_route(cJSON *arr, const struct rt_route_def *d)
{
	static const char *const auth[] = {"", "required", "optional", "off"};
	char buf[320];
	cJSON *o = cJSON_CreateObject(), *b;
	bool ok;

	if (o == NULL || !cJSON_AddItemToArray(arr, o))
		return false;
	ok = cJSON_AddStringToObject(o, "path", d->path) != NULL;
	b = cJSON_AddArrayToObject(o, "backends");
	ok = ok && b != NULL;
	for (unsigned i = 0; ok && i < d->n_backends; i++) {
		/* A weighted backend prints as the object form, which reads back. */
		unsigned w = d->backends[i].weight;
		cJSON *s = w > 1 ? cJSON_CreateObject() : cJSON_CreateString(d->backends[i].url);
		ok = s != NULL && cJSON_AddItemToArray(b, s);
		if (ok && w > 1)
			ok = cJSON_AddStringToObject(s, "url", d->backends[i].url) != NULL &&
			     cJSON_AddNumberToObject(s, "weight", w) != NULL;
	}
	/* The addresses the backends resolved to, in the same order: what the gateway will
	 * connect to. The parser accepts the key back and ignores it (it resolves afresh). */
	b = ok ? cJSON_AddArrayToObject(o, "resolved") : NULL;
	ok = ok && b != NULL;
	for (unsigned i = 0; ok && i < d->n_backends; i++) {
		cfg_fmt_sockaddr(buf, sizeof(buf), &d->backends[i]);
		cJSON *s = cJSON_CreateString(buf);
		ok = s != NULL && cJSON_AddItemToArray(b, s);
	}
	if (ok && d->has_lb)
		ok = cJSON_AddStringToObject(
		         o, "lb", rt_lb_name(d->lb, d->lb_header, buf, sizeof(buf))) != NULL;
	if (ok && d->auth != RT_AUTH_DEFAULT && (unsigned)d->auth < 4)
		ok = cJSON_AddStringToObject(o, "auth", auth[d->auth]) != NULL;
	if (ok && d->n_origins > 0)
		ok = cfg_add_strs(o, "origin", d->origins, d->n_origins);
	if (ok && d->max_message != 0) {
		cfg_fmt_size(buf, sizeof(buf), d->max_message);
		ok = cJSON_AddStringToObject(o, "max-message", buf) != NULL;
	}
	if (ok && d->msg_rate != 0) {
		cfg_fmt_rate(buf, sizeof(buf), d->msg_rate, d->msg_burst);
		ok = cJSON_AddStringToObject(o, "msg-rate", buf) != NULL;
	}
	if (ok)
		ok = cJSON_AddBoolToObject(o, "strip-prefix", d->strip_prefix) != NULL;
	if (ok && d->tls_no_verify)
		ok = cJSON_AddBoolToObject(o, "tls-verify", false) != NULL;
	if (ok && d->forward_token)
		ok = cJSON_AddBoolToObject(o, "forward-token", true) != NULL;
	if (ok && d->subprotocol != NULL)
		ok = cJSON_AddStringToObject(o, "subprotocol", d->subprotocol) != NULL;
	return ok;
}

int config_print_json(const struct wsg_config *cfg, FILE *out)
{
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	char buf[320];
	cJSON *o = cJSON_CreateObject(), *routes;
	bool ok = o != NULL;
	int rc = -1;

	ok = ok && cfg_add_addrs(o, "listen", cfg->listen, cfg->n_listen);
	ok = ok && cfg_add_addrs(o, "tls-listen", cfg->tls_listen, cfg->n_tls_listen);
	ok = ok && cfg_add_strs(o, "tls-cert", cfg->tls_cert, cfg->n_tls_pairs);
	ok = ok && cJSON_AddStringToObject(o, "tls-min-version",
	                                   cfg->tls_min_version == 13 ? "1.3" : "1.2") != NULL;
	if (ok && cfg->backend_ca != NULL)
		ok = cJSON_AddStringToObject(o, "backend-ca", cfg->backend_ca) != NULL;
	ok = ok && cfg_add_strs(o, "tls-key", cfg->tls_key, cfg->n_tls_pairs);
	routes = ok ? cJSON_AddArrayToObject(o, "routes") : NULL;
	ok = ok && routes != NULL;
	for (unsigned i = 0; ok && i < cfg->n_routes; i++)
		ok = cfg_add_route(routes, &cfg->routes[i]);
	ok = ok && cJSON_AddNumberToObject(o, "workers", cfg->workers) != NULL;
	ok = ok && cJSON_AddStringToObject(o, "admin", cfg->admin_off ? "off" : cfg->admin.text);
	ok = ok && cJSON_AddBoolToObject(o, "admin-reuse-port", cfg->admin_reuse_port) != NULL;
	if (ok && cfg->admin_token != NULL)
		ok = cJSON_AddStringToObject(o, "admin-token", CFG_REDACTED) != NULL;
	ok = ok && cfg_add_u64(o, "max-conns", cfg->max_conns);
	ok = ok && cfg_add_u64(o, "max-conns-per-ip", cfg->max_conns_per_ip);
	ok = ok && cfg_add_u64(o, "ipv6-prefix", cfg->ipv6_prefix);
	ok = ok && cfg_add_u64(o, "drain-close-code", cfg->drain_close_code);
	cfg_fmt_rate(buf, sizeof(buf), cfg->conn_rate.per_sec, cfg->conn_rate.burst);
	ok = ok && cJSON_AddStringToObject(o, "conn-rate", buf) != NULL;
	cfg_fmt_rate(buf, sizeof(buf), cfg->msg_rate.per_sec, cfg->msg_rate.burst);
	ok = ok && cJSON_AddStringToObject(o, "msg-rate", buf) != NULL;
	cfg_fmt_size(buf, sizeof(buf), cfg->max_message);
	ok = ok && cJSON_AddStringToObject(o, "max-message", buf) != NULL;

	const struct {
		const char *k;
		uint64_t ms;
	} durs[] = {
	    {"handshake-timeout", cfg->handshake_timeout_ms},
	    {"idle-timeout", cfg->idle_timeout_ms},
	    {"ping-interval", cfg->ping_interval_ms},
	    {"backend-ping-interval", cfg->backend_ping_interval_ms},
	    {"connect-timeout", cfg->connect_timeout_ms},
	    {"drain-timeout", cfg->drain_timeout_ms},
	    {"drain-spread", cfg->drain_spread_ms},
	    {"health-interval", cfg->health_interval_ms},
	    {"jwt-leeway", cfg->jwt_leeway_ms},
	    {"fail-timeout", cfg->fail_timeout_ms},
	};
	for (size_t i = 0; ok && i < sizeof(durs) / sizeof(durs[0]); i++) {
		cfg_fmt_duration(buf, sizeof(buf), durs[i].ms);
		ok = cJSON_AddStringToObject(o, durs[i].k, buf) != NULL;
	}
	ok = ok && cfg_add_strs(o, "allow-origin", cfg->allow_origin, cfg->n_allow_origin);
	/* The secret itself is never printed: its file's path is, when it came from one. */
	if (ok && cfg->jwt_secret_file != NULL)
		ok = cJSON_AddStringToObject(o, "jwt-secret-file", cfg->jwt_secret_file) != NULL;
	else if (ok && cfg->jwt_secret != NULL)
		ok = cJSON_AddStringToObject(o, "jwt-secret", CFG_REDACTED) != NULL;
	if (ok && cfg->n_jwt_public_keys > 0)
		ok =
		    cfg_add_strs(o, "jwt-public-key", cfg->jwt_public_keys, cfg->n_jwt_public_keys);
	if (ok && cfg->jwt_jwks != NULL)
		ok = cJSON_AddStringToObject(o, "jwt-jwks", cfg->jwt_jwks) != NULL;
	if (ok && cfg->jwt_issuer != NULL)
		ok = cJSON_AddStringToObject(o, "jwt-issuer", cfg->jwt_issuer) != NULL;
	if (ok && cfg->jwt_audience != NULL)
		ok = cJSON_AddStringToObject(o, "jwt-audience", cfg->jwt_audience) != NULL;

	const char *auth;
	switch (cfg->auth) {
	case CFG_AUTH_REQUIRED:
		auth = "required";
		break;
	case CFG_AUTH_OPTIONAL:
		auth = "optional";
		break;
	case CFG_AUTH_OFF:
		auth = "off";
		break;
	case CFG_AUTH_UNSET:
	default:
		auth = config_has_jwt_key(cfg) ? "required" : "off";
		break;
	}
	ok = ok && cJSON_AddStringToObject(o, "auth", auth) != NULL;
	ok = ok && cJSON_AddStringToObject(o, "lb",
	                                   rt_lb_name(cfg->lb, cfg->lb_header, buf, sizeof(buf)));
	if (ok && cfg->health_path != NULL)
		ok = cJSON_AddStringToObject(o, "health-path", cfg->health_path) != NULL;
	ok = ok && cJSON_AddNumberToObject(o, "health-fails", cfg->health_fails) != NULL;
	ok = ok && cJSON_AddNumberToObject(o, "health-passes", cfg->health_passes) != NULL;
	ok = ok && cJSON_AddNumberToObject(o, "max-fails", cfg->max_fails) != NULL;
	ok = ok && cJSON_AddBoolToObject(o, "trust-forwarded", cfg->trust_forwarded) != NULL;
	ok = ok && cJSON_AddStringToObject(o, "cluster",
	                                   cfg->cluster_url ? cfg->cluster_url : "off") != NULL;
	if (ok && cfg->node_id != NULL)
		ok = cJSON_AddStringToObject(o, "node-id", cfg->node_id) != NULL;
	ok = ok &&
	     cJSON_AddStringToObject(o, "cluster-prefix",
	                             cfg->cluster_prefix ? cfg->cluster_prefix : "wsgate") != NULL;
	ok = ok && cJSON_AddStringToObject(o, "log-level",
	                                   (unsigned)cfg->log_level < 4 ? levels[cfg->log_level]
	                                                                : "info") != NULL;
	ok = ok && cJSON_AddStringToObject(
	               o, "log-format", cfg->log_format == CFG_LOG_JSON ? "json" : "text") != NULL;
	ok = ok && cJSON_AddStringToObject(o, "access-log",
	                                   cfg->access_log ? cfg->access_log : "off") != NULL;
	if (ok) {
		char *s = cJSON_Print(o);
		if (s != NULL) {
			if (fprintf(out, "%s\n", s) > 0 && fflush(out) == 0)
				rc = 0;
			cJSON_free(s);
		}
	}
	cJSON_Delete(o);
	return rc;
}
