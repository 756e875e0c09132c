/* core/config_opts.c: the option table and the one setter behind every flag and file key.
 *
 * Owns: config__opts (one row per SPEC.md flag: long name, short name, value kind, whether it
 * is a file key, help line) and config__set, which applies one value given as a string. The
 * command line (config.c) and the JSON file (config_json.c) both end here, so a flag and the
 * file key of the same name accept exactly the same values and fail with the same words; only
 * the prefix of the error ("--idle-timeout:" or "file.json: key \"idle-timeout\":") differs,
 * and that is config__fail_flag / config__fail_key. The order of the table is the order of
 * --help.
 *
 * Rejected: one setter per option behind function pointers in the table. The switch keeps
 * each option's checks next to its field and lets the compiler warn about a missing case. */
#include "core/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/config_int.h"

const struct cfg_opt_def config__opts[CFG_O_COUNT] = {
    [CFG_O_LISTEN] = {"listen", 'l', CFG_K_LIST, true, "ADDR:PORT",
                      "plain listener, repeatable (default " CFG_DEFAULT_LISTEN ")"},
    [CFG_O_TLS_LISTEN] = {"tls-listen", 0, CFG_K_LIST, true, "ADDR:PORT",
                          "TLS listener, repeatable (needs --tls-cert/--tls-key)"},
    [CFG_O_TLS_CERT] = {"tls-cert", 0, CFG_K_LIST, true, "FILE",
                        "certificate (PEM); repeat with --tls-key for SNI, first is default"},
    [CFG_O_TLS_KEY] = {"tls-key", 0, CFG_K_LIST, true, "FILE",
                       "private key (PEM) for the --tls-cert of the same position"},
    [CFG_O_TLS_MIN_VERSION] = {"tls-min-version", 0, CFG_K_VALUE, true, "1.2|1.3",
                               "oldest TLS version a client may use (default 1.2)"},
    [CFG_O_BACKEND_CA] = {"backend-ca", 0, CFG_K_VALUE, true, "FILE",
                          "CA bundle (PEM) wss:// backends are verified against "
                          "(default: the system bundle)"},
    [CFG_O_IPV6_PREFIX] = {"ipv6-prefix", 0, CFG_K_VALUE, true, "N",
                           "per-IP limits count IPv6 clients per /N network, 1..128 (default 64)"},
    [CFG_O_ROUTE] = {"route", 'r', CFG_K_LIST, true, "SPEC",
                     "PATH=BACKEND[,BACKEND...][;key=value...], repeatable"},
    [CFG_O_CONFIG] = {"config", 'c', CFG_K_VALUE, false, "FILE",
                      "JSON config file; flags override it"},
    [CFG_O_WORKERS] = {"workers", 'w', CFG_K_VALUE, true, "N",
                       "worker threads, 1..1024 (default: number of CPUs)"},
    [CFG_O_ADMIN] = {"admin", 0, CFG_K_VALUE, true, "ADDR:PORT|off",
                     "admin listener (default " CFG_DEFAULT_ADMIN ")"},
    [CFG_O_ADMIN_REUSE_PORT] =
        {"admin-reuse-port", 0, CFG_K_FLAG, true, NULL,
         "let another process share the admin port (SO_REUSEPORT); off by default"},
    [CFG_O_ADMIN_TOKEN] = {"admin-token", 0, CFG_K_VALUE, true, "TOKEN",
                           "bearer token every admin call but /healthz, /readyz, /metrics needs"},
    [CFG_O_MAX_CONNS] = {"max-conns", 0, CFG_K_VALUE, true, "N",
                         "gateway-wide limit on client sockets (default 100000)"},
    [CFG_O_MAX_CONNS_PER_IP] = {"max-conns-per-ip", 0, CFG_K_VALUE, true, "N",
                                "limit per client IP (default 0 = off)"},
    [CFG_O_CONN_RATE] = {"conn-rate", 0, CFG_K_VALUE, true, "R[/BURST]|off",
                         "new connections per second per client IP (default off)"},
    [CFG_O_MSG_RATE] = {"msg-rate", 0, CFG_K_VALUE, true, "R[/BURST]|off",
                        "client messages per second per connection (default off)"},
    [CFG_O_MAX_MESSAGE] = {"max-message", 0, CFG_K_VALUE, true, "SIZE",
                           "largest message either way, k/m/g suffixes (default 1m)"},
    [CFG_O_HANDSHAKE_TIMEOUT] = {"handshake-timeout", 0, CFG_K_VALUE, true, "DUR",
                                 "accept until request head complete (default 10s)"},
    [CFG_O_IDLE_TIMEOUT] = {"idle-timeout", 0, CFG_K_VALUE, true, "DUR",
                            "no data frame either way: close 1001 (default 300s)"},
    [CFG_O_PING_INTERVAL] = {"ping-interval", 0, CFG_K_VALUE, true, "DUR",
                             "ping clients silent this long, 0 = off (default 30s)"},
    [CFG_O_BACKEND_PING_INTERVAL] = {"backend-ping-interval", 0, CFG_K_VALUE, true, "DUR",
                                     "ping backend legs silent this long and measure the "
                                     "RTT, 0 = off (default 0)"},
    [CFG_O_CONNECT_TIMEOUT] = {"connect-timeout", 0, CFG_K_VALUE, true, "DUR",
                               "backend TCP connect + upgrade (default 5s)"},
    [CFG_O_DRAIN_TIMEOUT] = {"drain-timeout", 0, CFG_K_VALUE, true, "DUR",
                             "on SIGTERM, time given to clients to leave (default 30s)"},
    [CFG_O_DRAIN_CLOSE_CODE] = {"drain-close-code", 0, CFG_K_VALUE, true, "1001|1012",
                                "close code clients get when draining (default 1001)"},
    [CFG_O_DRAIN_SPREAD] = {"drain-spread", 0, CFG_K_VALUE, true, "DUR",
                            "spread the drain's close frames over DUR, with jitter (default 0)"},
    [CFG_O_ALLOW_ORIGIN] = {"allow-origin", 0, CFG_K_LIST, true, "ORIGIN",
                            "allowed Origin, repeatable; * = all (default all)"},
    [CFG_O_JWT_SECRET] = {"jwt-secret", 0, CFG_K_VALUE, true, "SECRET",
                          "HMAC key for HS256/384/512 tokens, at least 32 bytes"},
    [CFG_O_JWT_SECRET_FILE] = {"jwt-secret-file", 0, CFG_K_VALUE, true, "FILE",
                               "HMAC key read from FILE (one trailing newline dropped)"},
    [CFG_O_JWT_PUBLIC_KEY] = {"jwt-public-key", 0, CFG_K_LIST, true, "FILE",
                              "RSA, EC or Ed25519 public key (PEM), repeatable"},
    [CFG_O_JWT_JWKS] = {"jwt-jwks", 0, CFG_K_VALUE, true, "FILE",
                        "JSON Web Key Set; a token's kid picks the key"},
    [CFG_O_JWT_LEEWAY] = {"jwt-leeway", 0, CFG_K_VALUE, true, "DUR",
                          "clock skew allowed on exp, nbf, iat (default 30s)"},
    [CFG_O_JWT_ISSUER] = {"jwt-issuer", 0, CFG_K_VALUE, true, "ISS", "required iss claim"},
    [CFG_O_JWT_AUDIENCE] = {"jwt-audience", 0, CFG_K_VALUE, true, "AUD", "required aud claim"},
    [CFG_O_AUTH] = {"auth", 0, CFG_K_VALUE, true, "required|optional|off",
                    "token policy (default required with a JWT key, else off)"},
    [CFG_O_LB] = {"lb", 0, CFG_K_VALUE, true, "round-robin|least-conn|ip-hash|header-hash:NAME",
                  "default balancing policy (default round-robin)"},
    [CFG_O_HEALTH_INTERVAL] = {"health-interval", 0, CFG_K_VALUE, true, "DUR",
                               "active health checks, 0 = off (default 5s)"},
    [CFG_O_HEALTH_PATH] = {"health-path", 0, CFG_K_VALUE, true, "PATH",
                           "health check upgrade path (default: TCP connect only)"},
    [CFG_O_HEALTH_FAILS] = {"health-fails", 0, CFG_K_VALUE, true, "N",
                            "failed checks in a row that mark a backend down (default 2)"},
    [CFG_O_HEALTH_PASSES] = {"health-passes", 0, CFG_K_VALUE, true, "N",
                             "passed checks in a row that mark it up again (default 2)"},
    [CFG_O_MAX_FAILS] = {"max-fails", 0, CFG_K_VALUE, true, "N",
                         "passive: failed attempts within --fail-timeout that mark a backend "
                         "down, 0 = off (default 3)"},
    [CFG_O_FAIL_TIMEOUT] = {"fail-timeout", 0, CFG_K_VALUE, true, "DUR",
                            "passive: the window, and how long it stays down (default 10s)"},
    [CFG_O_TRUST_FORWARDED] = {"trust-forwarded", 0, CFG_K_FLAG, true, NULL,
                               "append to X-Forwarded-For instead of replacing it"},
    [CFG_O_CLUSTER] = {"cluster", 0, CFG_K_VALUE, true, "redis://HOST:PORT|off",
                       "join the cluster whose state lives in that Redis (default off)"},
    [CFG_O_NODE_ID] = {"node-id", 0, CFG_K_VALUE, true, "ID",
                       "this node's name in the cluster, [A-Za-z0-9_-]{1,32} "
                       "(default: host name + listener port)"},
    [CFG_O_CLUSTER_PREFIX] = {"cluster-prefix", 0, CFG_K_VALUE, true, "PREFIX",
                              "prefix of every Redis key and channel, [A-Za-z0-9_-]{1,32} "
                              "(default wsgate)"},
    [CFG_O_LOG_LEVEL] = {"log-level", 0, CFG_K_VALUE, true, "debug|info|warn|error",
                         "(default info)"},
    [CFG_O_LOG_FORMAT] = {"log-format", 0, CFG_K_VALUE, true, "text|json", "(default text)"},
    [CFG_O_ACCESS_LOG] = {"access-log", 0, CFG_K_VALUE, true, "FILE|-|off",
                          "one line per finished connection (default off)"},
    [CFG_O_CHECK_CONFIG] = {"check-config", 0, CFG_K_FLAG, false, NULL,
                            "validate, print the effective config as JSON, exit"},
    [CFG_O_HELP] = {"help", 'h', CFG_K_ACTION, false, NULL, "print this help and exit"},
    [CFG_O_VERSION] = {"version", 'V', CFG_K_ACTION, false, NULL, "print the version and exit"},
};

int config__find_opt(const char *name, bool long_only)
{
	for (int i = 0; i < CFG_O_COUNT; i++)
		if (strcmp(config__opts[i].name, name) == 0 &&
		    (!long_only || config__opts[i].in_file))
			return i;
	return -1;
}

static int cfg_check_readable(const char *path, char *why, size_t wl)
{
	char q[512];
	FILE *f;

	if (*path == '\0') {
		config__errf(why, wl, "empty file name");
		return -1;
	}
	f = fopen(path, "rb");
	if (f == NULL) {
		config__errf(why, wl, "cannot read \"%s\": %s", config__q(q, sizeof(q), path),
		             strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

void config__list_clear(struct cfg_parse *ps, enum cfg_opt id)
{
	struct wsg_config *cfg = ps->cfg;

	switch (id) {
	case CFG_O_LISTEN:
		free(cfg->listen);
		cfg->listen = NULL;
		cfg->n_listen = 0;
		break;
	case CFG_O_TLS_LISTEN:
		free(cfg->tls_listen);
		cfg->tls_listen = NULL;
		cfg->n_tls_listen = 0;
		break;
	case CFG_O_TLS_CERT:
		config__strv_free(&cfg->tls_cert, &ps->n_cert);
		break;
	case CFG_O_TLS_KEY:
		config__strv_free(&cfg->tls_key, &ps->n_key);
		break;
	case CFG_O_ROUTE:
		config__routes_free(&cfg->routes, &cfg->n_routes);
		break;
	case CFG_O_ALLOW_ORIGIN:
		config__strv_free(&cfg->allow_origin, &cfg->n_allow_origin);
		break;
	case CFG_O_JWT_PUBLIC_KEY:
		config__strv_free(&cfg->jwt_public_keys, &cfg->n_jwt_public_keys);
		break;
	default:
		break;
	}
}

static int cfg_set_duration(const char *v, uint64_t *dst, bool allow_zero, char *why, size_t wl)
{
	char q[512];
	uint64_t ms;

	if (config_parse_duration_ms(v, &ms) != 0) {
		config__errf(why, wl, "invalid duration \"%s\" (N, Nms, Ns, Nm or Nh)",
		             config__q(q, sizeof(q), v));
		return -1;
	}
	if (ms == 0 && !allow_zero) {
		config__errf(why, wl, "invalid duration \"%s\": must be more than 0",
		             config__q(q, sizeof(q), v));
		return -1;
	}
	*dst = ms;
	return 0;
}

static int cfg_set_count(const char *v, uint64_t lo, uint64_t hi, uint64_t *dst, char *why,
                         size_t wl)
{
	char q[512];
	uint64_t n;

	if (config__parse_u64(v, &n) != 0 || n < lo || n > hi) {
		if (hi == UINT64_MAX)
			config__errf(why, wl, "invalid count \"%s\" (at least %llu)",
			             config__q(q, sizeof(q), v), (unsigned long long)lo);
		else
			config__errf(why, wl, "invalid count \"%s\" (%llu..%llu)",
			             config__q(q, sizeof(q), v), (unsigned long long)lo,
			             (unsigned long long)hi);
		return -1;
	}
	*dst = n;
	return 0;
}

/* Lists append (the caller clears them first). */
int config__set(struct cfg_parse *ps, enum cfg_opt id, const char *v, char *why, size_t wl)
{
	struct wsg_config *cfg = ps->cfg;
	char q[512];
	struct cfg_addr a;
	const char *reason;
	uint64_t u;
	int rc = 0;

	switch (id) {
	case CFG_O_LISTEN:
	case CFG_O_TLS_LISTEN:
		if (config__addr_parse(v, &a, &reason) != 0) {
			config__errf(why, wl, "invalid address \"%s\": %s",
			             config__q(q, sizeof(q), v), reason);
			return -1;
		}
		if (id == CFG_O_LISTEN) {
			ps->listen_set = true;
			rc = config__addr_push(&cfg->listen, &cfg->n_listen, &a);
		} else {
			rc = config__addr_push(&cfg->tls_listen, &cfg->n_tls_listen, &a);
		}
		break;
	case CFG_O_TLS_CERT:
	case CFG_O_TLS_KEY:
		if (cfg_check_readable(v, why, wl) != 0)
			return -1;
		rc = id == CFG_O_TLS_CERT ? config__strv_push(&cfg->tls_cert, &ps->n_cert, v)
		                          : config__strv_push(&cfg->tls_key, &ps->n_key, v);
		break;
	case CFG_O_ROUTE:
		return config__route_from_spec(v, &cfg->routes, &cfg->n_routes, why, wl);
	case CFG_O_CONFIG:
		rc = config__set_str(&cfg->config_file, v);
		break;
	case CFG_O_WORKERS:
		if (cfg_set_count(v, 1, CFG_MAX_WORKERS, &u, why, wl) != 0)
			return -1;
		cfg->workers = (unsigned)u;
		break;
	case CFG_O_ADMIN:
		if (strcmp(v, "off") == 0) {
			cfg->admin_off = true;
			break;
		}
		if (config__addr_parse(v, &a, &reason) != 0) {
			config__errf(why, wl, "invalid address \"%s\": %s (or off)",
			             config__q(q, sizeof(q), v), reason);
			return -1;
		}
		cfg->admin_off = false;
		cfg->admin = a;
		break;
	case CFG_O_ADMIN_TOKEN:
	case CFG_O_JWT_SECRET:
		if (*v == '\0') {
			config__errf(why, wl, "empty value");
			return -1;
		}
		if (id == CFG_O_ADMIN_TOKEN) {
			rc = config__set_str(&cfg->admin_token, v);
		} else {
			rc = config__set_str(&cfg->jwt_secret, v);
			free(cfg->jwt_secret_file);
			cfg->jwt_secret_file = NULL;
		}
		break;
	case CFG_O_JWT_SECRET_FILE: {
		size_t len;
		char *buf = *v ? config__read_file(v, &len, &reason) : NULL;
		if (*v == '\0')
			reason = "empty file name";
		if (buf == NULL) {
			config__errf(why, wl, "cannot read \"%s\": %s", config__q(q, sizeof(q), v),
			             reason);
			return -1;
		}
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (len > 0 && buf[len - 1] == '\r')
			buf[--len] = '\0';
		if (len == 0 || strlen(buf) != len) {
			config__errf(why, wl, "\"%s\": %s", config__q(q, sizeof(q), v),
			             len == 0 ? "empty secret" : "secret holds a NUL byte");
			free(buf);
			return -1;
		}
		free(cfg->jwt_secret);
		cfg->jwt_secret = buf;
		rc = config__set_str(&cfg->jwt_secret_file, v);
		break;
	}
	case CFG_O_MAX_CONNS:
		rc = cfg_set_count(v, 1, UINT64_MAX, &cfg->max_conns, why, wl);
		if (rc != 0)
			return -1;
		cfg->max_conns_set = true;
		break;
	case CFG_O_MAX_CONNS_PER_IP:
		rc = cfg_set_count(v, 0, UINT64_MAX, &cfg->max_conns_per_ip, why, wl);
		if (rc != 0)
			return -1;
		break;
	case CFG_O_CONN_RATE:
	case CFG_O_MSG_RATE: {
		struct cfg_rate *r = id == CFG_O_CONN_RATE ? &cfg->conn_rate : &cfg->msg_rate;
		if (config__parse_rate(v, true, &r->per_sec, &r->burst) != 0) {
			config__errf(why, wl, "invalid rate \"%s\" (R[/BURST] or off)",
			             config__q(q, sizeof(q), v));
			return -1;
		}
		break;
	}
	case CFG_O_MAX_MESSAGE:
		if (config_parse_size(v, &u) != 0 || u == 0) {
			config__errf(why, wl, "invalid size \"%s\" (N, Nk, Nm or Ng, more than 0)",
			             config__q(q, sizeof(q), v));
			return -1;
		}
		cfg->max_message = u;
		break;
	case CFG_O_HANDSHAKE_TIMEOUT:
		return cfg_set_duration(v, &cfg->handshake_timeout_ms, false, why, wl);
	case CFG_O_IDLE_TIMEOUT:
		return cfg_set_duration(v, &cfg->idle_timeout_ms, false, why, wl);
	case CFG_O_PING_INTERVAL:
		return cfg_set_duration(v, &cfg->ping_interval_ms, true, why, wl);
	case CFG_O_BACKEND_PING_INTERVAL:
		return cfg_set_duration(v, &cfg->backend_ping_interval_ms, true, why, wl);
	case CFG_O_CONNECT_TIMEOUT:
		return cfg_set_duration(v, &cfg->connect_timeout_ms, false, why, wl);
	case CFG_O_DRAIN_CLOSE_CODE:
		if (strcmp(v, "1001") == 0) {
			cfg->drain_close_code = 1001;
		} else if (strcmp(v, "1012") == 0) {
			cfg->drain_close_code = 1012;
		} else {
			config__errf(why, wl, "invalid close code \"%s\" (1001 or 1012)",
			             config__q(q, sizeof(q), v));
			return -1;
		}
		break;
	case CFG_O_DRAIN_SPREAD:
		return cfg_set_duration(v, &cfg->drain_spread_ms, true, why, wl);
	case CFG_O_DRAIN_TIMEOUT:
		return cfg_set_duration(v, &cfg->drain_timeout_ms, true, why, wl);
	case CFG_O_HEALTH_INTERVAL:
		return cfg_set_duration(v, &cfg->health_interval_ms, true, why, wl);
	case CFG_O_FAIL_TIMEOUT:
		return cfg_set_duration(v, &cfg->fail_timeout_ms, true, why, wl);
	case CFG_O_HEALTH_FAILS:
	case CFG_O_HEALTH_PASSES:
	case CFG_O_MAX_FAILS:
		if (cfg_set_count(v, id == CFG_O_MAX_FAILS ? 0 : 1, 65535, &u, why, wl) != 0)
			return -1;
		*(id == CFG_O_HEALTH_FAILS    ? &cfg->health_fails
		  : id == CFG_O_HEALTH_PASSES ? &cfg->health_passes
		                              : &cfg->max_fails) = (uint32_t)u;
		break;
	case CFG_O_ALLOW_ORIGIN:
		if (*v == '\0' || !config__is_printable(v)) {
			config__errf(why, wl, "invalid origin \"%s\"", config__q(q, sizeof(q), v));
			return -1;
		}
		rc = config__strv_push(&cfg->allow_origin, &cfg->n_allow_origin, v);
		break;
	case CFG_O_JWT_PUBLIC_KEY:
		if (cfg_check_readable(v, why, wl) != 0)
			return -1;
		rc = config__strv_push(&cfg->jwt_public_keys, &cfg->n_jwt_public_keys, v);
		break;
	case CFG_O_JWT_JWKS:
		if (cfg_check_readable(v, why, wl) != 0)
			return -1;
		rc = config__set_str(&cfg->jwt_jwks, v);
		break;
	case CFG_O_JWT_LEEWAY:
		return cfg_set_duration(v, &cfg->jwt_leeway_ms, true, why, wl);
	case CFG_O_JWT_ISSUER:
	case CFG_O_JWT_AUDIENCE:
		if (*v == '\0') {
			config__errf(why, wl, "empty value");
			return -1;
		}
		rc = config__set_str(id == CFG_O_JWT_ISSUER ? &cfg->jwt_issuer : &cfg->jwt_audience,
		                     v);
		break;
	case CFG_O_AUTH:
		if (strcmp(v, "required") == 0)
			cfg->auth = CFG_AUTH_REQUIRED;
		else if (strcmp(v, "optional") == 0)
			cfg->auth = CFG_AUTH_OPTIONAL;
		else if (strcmp(v, "off") == 0)
			cfg->auth = CFG_AUTH_OFF;
		else {
			config__errf(why, wl, "invalid value \"%s\" (required, optional, off)",
			             config__q(q, sizeof(q), v));
			return -1;
		}
		break;
	case CFG_O_LB: {
		enum rt_lb lb;
		char *hdr;
		if (config__parse_lb(v, &lb, &hdr) != 0) {
			config__errf(why, wl,
			             "invalid value \"%s\" (round-robin, least-conn, ip-hash, "
			             "header-hash:NAME)",
			             config__q(q, sizeof(q), v));
			return -1;
		}
		free(cfg->lb_header);
		cfg->lb_header = hdr;
		cfg->lb = lb;
		break;
	}
	case CFG_O_HEALTH_PATH:
		if (v[0] != '/' || !config__is_printable(v)) {
			config__errf(why, wl, "invalid path \"%s\" (must start with '/')",
			             config__q(q, sizeof(q), v));
			return -1;
		}
		rc = config__set_str(&cfg->health_path, v);
		break;
	case CFG_O_LOG_LEVEL:
		if (strcmp(v, "debug") == 0)
			cfg->log_level = CFG_LOG_DEBUG;
		else if (strcmp(v, "info") == 0)
			cfg->log_level = CFG_LOG_INFO;
		else if (strcmp(v, "warn") == 0)
			cfg->log_level = CFG_LOG_WARN;
		else if (strcmp(v, "error") == 0)
			cfg->log_level = CFG_LOG_ERROR;
		else {
			config__errf(why, wl, "invalid value \"%s\" (debug, info, warn, error)",
			             config__q(q, sizeof(q), v));
			return -1;
		}
		break;
	case CFG_O_LOG_FORMAT:
		if (strcmp(v, "text") == 0)
			cfg->log_format = CFG_LOG_TEXT;
		else if (strcmp(v, "json") == 0)
			cfg->log_format = CFG_LOG_JSON;
		else {
			config__errf(why, wl, "invalid value \"%s\" (text, json)",
			             config__q(q, sizeof(q), v));
			return -1;
		}
		break;
	case CFG_O_CLUSTER:
		if (strcmp(v, "off") == 0) {
			free(cfg->cluster_url);
			cfg->cluster_url = NULL;
			break;
		}
		if (strncmp(v, "redis://", 8) != 0 ||
		    config__addr_parse(v + 8, &cfg->cluster_addr, &reason) != 0) {
			config__errf(why, wl, "invalid Redis address \"%s\" (redis://HOST:PORT)",
			             config__q(q, sizeof(q), v));
			return -1;
		}
		rc = config__set_str(&cfg->cluster_url, v);
		break;
	case CFG_O_NODE_ID:
	case CFG_O_CLUSTER_PREFIX:
		if (!config__is_cluster_name(v)) {
			config__errf(why, wl, "invalid name \"%s\" ([A-Za-z0-9_-]{1,32})",
			             config__q(q, sizeof(q), v));
			return -1;
		}
		rc = config__set_str(id == CFG_O_NODE_ID ? &cfg->node_id : &cfg->cluster_prefix, v);
		break;
	case CFG_O_ACCESS_LOG:
		if (*v == '\0') {
			config__errf(why, wl, "empty value (FILE, - or off)");
			return -1;
		}
		if (strcmp(v, "off") == 0) {
			free(cfg->access_log);
			cfg->access_log = NULL;
		} else {
			rc = config__set_str(&cfg->access_log, v);
		}
		break;
	case CFG_O_TRUST_FORWARDED:
		cfg->trust_forwarded = true;
		break;
	case CFG_O_ADMIN_REUSE_PORT:
		cfg->admin_reuse_port = true;
		break;
	case CFG_O_TLS_MIN_VERSION:
		if (strcmp(v, "1.2") == 0) {
			cfg->tls_min_version = 12;
		} else if (strcmp(v, "1.3") == 0) {
			cfg->tls_min_version = 13;
		} else {
			config__errf(why, wl, "invalid version \"%s\" (1.2 or 1.3)",
			             config__q(q, sizeof(q), v));
			return -1;
		}
		break;
	case CFG_O_IPV6_PREFIX:
		if (cfg_set_count(v, 1, 128, &u, why, wl) != 0)
			return -1;
		cfg->ipv6_prefix = (unsigned)u;
		break;
	case CFG_O_BACKEND_CA:
		if (cfg_check_readable(v, why, wl) != 0)
			return -1;
		rc = config__set_str(&cfg->backend_ca, v);
		break;
	case CFG_O_CHECK_CONFIG:
		cfg->check_config = true;
		break;
	case CFG_O_HELP:
	case CFG_O_VERSION:
	case CFG_O_COUNT:
		break;
	}
	if (rc != 0) {
		config__errf(why, wl, "out of memory");
		return -1;
	}
	return 0;
}

/* Error for a flag: "wsgate: --flag: why", or "wsgate: --route "SPEC": why" when why starts
 * with the quoted value. */
void config__fail_flag(struct cfg_parse *ps, enum cfg_opt id, const char *why)
{
	config__errf(ps->err, ps->err_len, "wsgate: --%s%s%s", config__opts[id].name,
	             why[0] == '"' ? " " : ": ", why);
}

void config__fail_key(struct cfg_parse *ps, const char *key, const char *why)
{
	char fq[512], kq[256];

	config__errf(ps->err, ps->err_len, "wsgate: %s: key \"%s\": %s",
	             config__q(fq, sizeof(fq), ps->file), config__q(kq, sizeof(kq), key), why);
}
