#ifndef WSG_CORE_CONFIG_H
#define WSG_CORE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "router/rt.h"

/* Settings from the command line and the JSON config file (--config), flags overriding the
 * file, checked whole before anything starts. Built by the main thread, read-only after. */

struct cfg_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64]; /* "127.0.0.1:8080" or "[::1]:8080", as given after resolution */
};

enum cfg_log_level {
	CFG_LOG_DEBUG = 0,
	CFG_LOG_INFO,
	CFG_LOG_WARN,
	CFG_LOG_ERROR,
};

enum cfg_log_format {
	CFG_LOG_TEXT = 0,
	CFG_LOG_JSON,
};

enum cfg_auth_mode {
	CFG_AUTH_UNSET = 0, /* "required when a JWT key is set, else off" */
	CFG_AUTH_REQUIRED,
	CFG_AUTH_OPTIONAL,
	CFG_AUTH_OFF,
};

struct cfg_rate {
	uint32_t per_sec; /* 0 = off */
	uint32_t burst;   /* defaults to per_sec */
};

struct wsg_config {
	struct cfg_addr *listen; /* --listen, default 0.0.0.0:8080 */
	unsigned n_listen;
	struct cfg_addr *tls_listen; /* --tls-listen */
	unsigned n_tls_listen;
	char **tls_cert; /* --tls-cert / --tls-key pairs, same count */
	char **tls_key;
	unsigned n_tls_pairs;
	unsigned tls_min_version; /* 12 or 13 (--tls-min-version, default 12) */
	char *backend_ca;         /* --backend-ca FILE; NULL: the system bundle */
	unsigned ipv6_prefix;     /* --ipv6-prefix, default 64 */

	struct rt_route_def *routes; /* --route and the file's "routes"; owned */
	unsigned n_routes;

	unsigned workers;      /* --workers, default: CPUs */
	bool admin_off;        /* --admin off */
	struct cfg_addr admin; /* --admin, default 127.0.0.1:9090 */
	bool admin_reuse_port; /* --admin-reuse-port: SO_REUSEPORT on the admin listener */
	char *admin_token;

	uint64_t max_conns;        /* default 100000 */
	bool max_conns_set;        /* --max-conns given (flag or file), not the default */
	uint64_t max_conns_per_ip; /* 0 = off */
	struct cfg_rate conn_rate; /* --conn-rate R[/BURST] */
	struct cfg_rate msg_rate;  /* --msg-rate R[/BURST] */
	uint64_t max_message;      /* bytes, default 1 MiB */

	uint64_t handshake_timeout_ms;     /* default 10 s */
	uint64_t idle_timeout_ms;          /* default 300 s */
	uint64_t ping_interval_ms;         /* default 30 s; 0 = off */
	uint64_t backend_ping_interval_ms; /* --backend-ping-interval, default 0 = off */
	uint64_t connect_timeout_ms;       /* default 5 s */
	uint64_t drain_timeout_ms;         /* default 30 s */
	uint16_t drain_close_code;         /* --drain-close-code 1001 (default) or 1012 */
	uint64_t drain_spread_ms;          /* --drain-spread, default 0: every close at once */

	char **allow_origin; /* --allow-origin, repeatable; none = all */
	unsigned n_allow_origin;
	char *jwt_secret;       /* --jwt-secret or the contents of --jwt-secret-file */
	char *jwt_secret_file;  /* --jwt-secret-file path (printed instead of the secret); NULL
	                         * when the secret was given inline */
	char **jwt_public_keys; /* --jwt-public-key paths, repeatable */
	unsigned n_jwt_public_keys;
	char *jwt_jwks; /* --jwt-jwks path */
	char *jwt_issuer;
	char *jwt_audience;
	uint64_t jwt_leeway_ms;      /* --jwt-leeway, default 30 s */
	enum cfg_auth_mode auth;     /* as given; config_auth_mode() resolves CFG_AUTH_UNSET */
	enum rt_lb lb;               /* --lb default policy */
	char *lb_header;             /* header-hash:NAME */
	uint64_t health_interval_ms; /* default 5 s; 0 = off */
	char *health_path;
	uint32_t health_fails;    /* --health-fails, default 2 */
	uint32_t health_passes;   /* --health-passes, default 2 */
	uint32_t max_fails;       /* --max-fails, default 3; 0 = passive checks off */
	uint64_t fail_timeout_ms; /* --fail-timeout, default 10 s */
	bool trust_forwarded;
	char *cluster_url;            /* --cluster redis://HOST:PORT as given; NULL = alone */
	struct cfg_addr cluster_addr; /* its address, resolved at parse time */
	char *node_id;                /* --node-id; NULL = host name + first listener port */
	char *cluster_prefix;         /* --cluster-prefix; NULL = "wsgate" */

	enum cfg_log_level log_level;
	enum cfg_log_format log_format;
	char *access_log; /* NULL = off, "-" = stderr */

	char *config_file; /* --config, kept for SIGHUP */
	bool check_config;
};

enum cfg_rc {
	CFG_RC_OK = 0,   /* run with the config */
	CFG_RC_EXIT = 1, /* --help or --version was printed to out: exit 0 */
	CFG_RC_USAGE =
	    -1 /* err holds exactly one line naming the flag or key and the value: exit 2 */
};

/* Parses argv (and the --config file it names, flags overriding it) into cfg, which the
 * caller has zeroed. Resolves backend and listener host names (getaddrinfo, main thread only).
 * Validates everything: unknown flag, missing value, bad address, duration, size, count,
 * route syntax, duplicate route path, a route without backends. Prints --help/--version to
 * out. err gets one line without a trailing newline, starting "wsgate: ". On anything but
 * CFG_RC_OK cfg is already finalised (zeroed); config_fini on it is a harmless no-op. */
enum cfg_rc config_parse_args(struct wsg_config *cfg, int argc, char **argv, FILE *out, char *err,
                              size_t err_len);

/* Writes the effective configuration as one JSON document (cJSON) with a trailing newline;
 * secrets (admin token, JWT secret) are printed as "<redacted>". Returns 0 or -1. */
int config_print_json(const struct wsg_config *cfg, FILE *out);

/* Refuses settings whose feature this build does not have yet (core/config_support.c):
 * returns 0, or -1 with one line in err naming the flag or route. */
int config_check_enforceable(const struct wsg_config *cfg, char *err, size_t err_len);

/* Frees everything config_parse_args allocated; cfg may be partly filled. */
void config_fini(struct wsg_config *cfg);

/* Unit parsers shared with the route-spec and JSON paths; each returns 0 or -1.
 * Sizes: bare bytes or k/m/g (1024-based). Durations: ms, s, m, h; bare number = seconds. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration_ms(const char *s, uint64_t *out);
int config_parse_addr(const char *s, struct cfg_addr *out);

/* Parses one --route SPEC (PATH=BACKEND[,BACKEND...][;key=value...], SPEC.md) into def, which
 * the caller frees with rt_route_def_fini. Host names are not resolved here. err gets one
 * line naming the bad part. Returns 0 or -1. */
int config_parse_route(const char *spec, struct rt_route_def *def, char *err, size_t err_len);

/* Parses a routes document, {"routes": [...]}, the shape of the --config file's "routes" key
 * (route objects or --route SPEC strings, "resolved" accepted and ignored), with exactly the
 * code the file goes through: every key checked, backends resolved (getaddrinfo: main or
 * control thread only), duplicate paths refused (rt_table_new). Meant for bodies such as an
 * admin PUT /routes; json need not be NUL-terminated, a NUL inside it is an error. On success
 * *routes (owned by the caller, free with config_routes_free; NULL when the list is empty) and
 * *n_routes are set and 0 is returned. On failure they are NULL and 0, and err gets one line
 * naming the key and the value, with no file name and no "wsgate: " prefix:
 * `routes[0].backends[1]: backend "ftp://x": expected ws://host[:port][/path] or wss://`.
 * Settings this build cannot enforce are not refused here: config_check_enforceable is the
 * caller's to run. Returns 0 or -1. */
int config_parse_routes_json(const char *json, size_t len, struct rt_route_def **routes,
                             unsigned *n_routes, char *err, size_t err_len);

/* Frees routes from config_parse_routes_json (each def, then the array); NULL is a no-op. */
void config_routes_free(struct rt_route_def *routes, unsigned n_routes);

/* True when cfg names a JWT key (--jwt-secret[-file], --jwt-public-key or --jwt-jwks). */
bool config_has_jwt_key(const struct wsg_config *cfg);
/* The gateway-wide --auth with its default applied: required when a JWT key is set, else
 * off. */
enum cfg_auth_mode config_auth_mode(const struct wsg_config *cfg);

#endif
