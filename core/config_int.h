#ifndef WSG_CORE_CONFIG_INT_H
#define WSG_CORE_CONFIG_INT_H

/* Shared between the files of core/config*.c only (STYLE.md 2): the option table, the state
 * of one config_parse_args call, and the helpers more than one of those files needs. Nothing
 * outside core/config*.c includes this. */

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"
#include "router/rt.h"

#ifndef WSG_VERSION
#define WSG_VERSION "0.0.0"
#endif

#define CFG_MAX_WORKERS    1024u
#define CFG_MAX_FILE       (16u << 20) /* --config and --jwt-secret-file */
#define CFG_REDACTED       "<redacted>"
#define CFG_DEFAULT_LISTEN "0.0.0.0:8080"
#define CFG_DEFAULT_ADMIN  "127.0.0.1:9090"

enum cfg_kind {
	CFG_K_FLAG = 0, /* no value: --trust-forwarded; JSON true/false */
	CFG_K_VALUE,    /* one value; the last one wins */
	CFG_K_LIST,     /* repeatable; flags replace the file's list */
	CFG_K_ACTION,   /* --help, --version: not a setting */
};

enum cfg_opt {
	CFG_O_LISTEN = 0,
	CFG_O_TLS_LISTEN,
	CFG_O_TLS_CERT,
	CFG_O_TLS_KEY,
	CFG_O_TLS_MIN_VERSION,
	CFG_O_BACKEND_CA,
	CFG_O_IPV6_PREFIX,
	CFG_O_ROUTE,
	CFG_O_CONFIG,
	CFG_O_WORKERS,
	CFG_O_ADMIN,
	CFG_O_ADMIN_REUSE_PORT,
	CFG_O_ADMIN_TOKEN,
	CFG_O_MAX_CONNS,
	CFG_O_MAX_CONNS_PER_IP,
	CFG_O_CONN_RATE,
	CFG_O_MSG_RATE,
	CFG_O_MAX_MESSAGE,
	CFG_O_HANDSHAKE_TIMEOUT,
	CFG_O_IDLE_TIMEOUT,
	CFG_O_PING_INTERVAL,
	CFG_O_BACKEND_PING_INTERVAL,
	CFG_O_CONNECT_TIMEOUT,
	CFG_O_DRAIN_TIMEOUT,
	CFG_O_DRAIN_CLOSE_CODE,
	CFG_O_DRAIN_SPREAD,
	CFG_O_ALLOW_ORIGIN,
	CFG_O_JWT_SECRET,
	CFG_O_JWT_SECRET_FILE,
	CFG_O_JWT_PUBLIC_KEY,
	CFG_O_JWT_JWKS,
	CFG_O_JWT_LEEWAY,
	CFG_O_JWT_ISSUER,
	CFG_O_JWT_AUDIENCE,
	CFG_O_AUTH,
	CFG_O_LB,
	CFG_O_HEALTH_INTERVAL,
	CFG_O_HEALTH_PATH,
	CFG_O_HEALTH_FAILS,
	CFG_O_HEALTH_PASSES,
	CFG_O_MAX_FAILS,
	CFG_O_FAIL_TIMEOUT,
	CFG_O_TRUST_FORWARDED,
	CFG_O_CLUSTER,
	CFG_O_NODE_ID,
	CFG_O_CLUSTER_PREFIX,
	CFG_O_LOG_LEVEL,
	CFG_O_LOG_FORMAT,
	CFG_O_ACCESS_LOG,
	CFG_O_CHECK_CONFIG,
	CFG_O_HELP,
	CFG_O_VERSION,
	CFG_O_COUNT,
};

struct cfg_opt_def {
	const char *name; /* long flag without "--", and the JSON key */
	char short_name;  /* 0 = none */
	enum cfg_kind kind;
	bool in_file;    /* allowed as a JSON key */
	const char *arg; /* for --help */
	const char *help;
};

_Static_assert(CFG_O_COUNT <= 64, "cfg_parse.flag_lists is a 64-bit mask");

/* One row per option, indexed by enum cfg_opt (config_opts.c). */
extern const struct cfg_opt_def config__opts[CFG_O_COUNT];

/* State of one config_parse_args call. */
struct cfg_parse {
	struct wsg_config *cfg;
	char *err;
	size_t err_len;
	const char *file;    /* set while applying the config file: errors name it */
	uint64_t flag_lists; /* CFG_K_LIST options already cleared by a flag */
	bool listen_set;     /* "listen" given (file or flag): no default */
	bool routes_from_flags;
	unsigned n_cert, n_key;
};

/* ---- config.c: errors and growable arrays ------------------------------------------------ */

/* One line into err (newlines become spaces); err may be NULL. */
void config__errf(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* s escaped for an error message: quotes, backslashes and non-printables as \xNN, at most
 * 100 source bytes then "...". Returns dst. */
const char *config__q(char *dst, size_t cap, const char *s);
/* char * lists stay NULL-terminated so config_fini needs no count. 0 or -1 (no memory). */
int config__strv_push(char ***v, unsigned *n, const char *s);
/* Frees the list and zeroes *n (n may be NULL). */
void config__strv_free(char ***v, unsigned *n);
int config__addr_push(struct cfg_addr **v, unsigned *n, const struct cfg_addr *a);
/* Replaces *dst by a copy of s; 0 or -1 (no memory, *dst unchanged). */
int config__set_str(char **dst, const char *s);
/* Reads a whole file (at most CFG_MAX_FILE bytes) into a NUL-terminated buffer the caller
 * frees; NULL with a short reason on failure. */
char *config__read_file(const char *path, size_t *len, const char **reason);

/* ---- config_units.c ---------------------------------------------------------------------- */

/* Decimal digits only (no sign, no space), at least one; 0 or -1 on junk or overflow. */
int config__parse_u64(const char *s, uint64_t *out);
/* ADDR:PORT, resolved (first result); reason gets a short phrase on failure. */
int config__addr_parse(const char *s, struct cfg_addr *out, const char **reason);
/* R[/BURST]; "off" and "0" give {0, 0} only when allow_off. */
int config__parse_rate(const char *s, bool allow_off, uint32_t *rate, uint32_t *burst);
/* round-robin|least-conn|ip-hash|header-hash:NAME; *header gets a copy of NAME (or NULL). */
int config__parse_lb(const char *s, enum rt_lb *lb, char **header);
/* True when every byte is printable ASCII other than space. */
bool config__is_printable(const char *s);
/* True for a cluster name (--node-id, --cluster-prefix): [A-Za-z0-9_-]{1,32}. */
bool config__is_cluster_name(const char *s);

/* ---- config_opts.c ----------------------------------------------------------------------- */

/* The option named name (long form), or -1; long_only: only options allowed in the file. */
int config__find_opt(const char *name, bool long_only);
/* Empties the list option id (before a flag or file key replaces it). */
void config__list_clear(struct cfg_parse *ps, enum cfg_opt id);
/* Applies one value of option id, as a string. Lists append. why gets the reason, naming the
 * value but never a secret. 0 or -1. */
int config__set(struct cfg_parse *ps, enum cfg_opt id, const char *v, char *why, size_t wl);
/* "wsgate: --flag: why" into ps->err, or "wsgate: --route "SPEC": why" when why starts with
 * the quoted value. */
void config__fail_flag(struct cfg_parse *ps, enum cfg_opt id, const char *why);
/* "wsgate: FILE: key "KEY": why" into ps->err. */
void config__fail_key(struct cfg_parse *ps, const char *key, const char *why);

/* ---- config_routes.c --------------------------------------------------------------------- */

/* Parses one --route SPEC, resolves its backends and appends it to *routes. why gets
 * "\"SPEC\": reason" on failure. 0 or -1. */
/* Frees every route and the array; zeroes *routes and *n. */
void config__routes_free(struct rt_route_def **routes, unsigned *n);
int config__route_from_spec(const char *spec, struct rt_route_def **routes, unsigned *n, char *why,
                            size_t wl);
/* Parses a JSON "routes" array (route objects or SPEC strings), resolving every backend, and
 * appends to *routes. On failure key gets the JSON key at fault ("routes[1].backends[0]"),
 * why the reason, and what was appended stays (the caller frees it). 0 or -1. */
int config__routes_json(const cJSON *arr, struct rt_route_def **routes, unsigned *n, char *key,
                        size_t kl, char *why, size_t wl);

/* ---- config_json.c ----------------------------------------------------------------------- */

/* A JSON scalar as the string the flag would take: strings as is, integral non-negative
 * numbers in decimal, booleans only for bool_ok; NULL for anything else. */
const char *config__json_str(const cJSON *j, char *buf, size_t cap, bool bool_ok);
/* "a string", "an array", ... for error messages. */
const char *config__json_type(const cJSON *j);
/* Where cJSON stopped, as 1-based line and column of buf. */
void config__json_pos(const char *buf, size_t len, const char *end, unsigned *line, unsigned *col);
/* Reads and applies the --config file; 0, or -1 with ps->err set. */
int config__load_file(struct cfg_parse *ps, const char *path);

/* ---- config_print.c ---------------------------------------------------------------------- */

void config__print_help(FILE *out);

#endif
