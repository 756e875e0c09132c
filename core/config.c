/* core/config.c: the command line and the --config JSON file, into struct wsg_config.
 *
 * Owns: the option table (one row per SPEC.md flag: long name, short name, value kind, help
 * line), the unit parsers (sizes, durations, addresses, counts, rates), --route specs, the
 * JSON file, cross-checks, and config_print_json. Runs on the main thread before anything
 * starts (it calls getaddrinfo and reads files); the result is read-only afterwards.
 *
 * Order: defaults, then the file, then the flags, then cross-checks (TLS pairs, duplicate
 * route paths through rt_table_new, auth needing a key). argv is tokenized first (option,
 * value) so that --help/--version and --config are known before any value is applied: a flag
 * then always overrides the file whatever their order on the line. Every setting goes through
 * one setter (cfg_set) that takes the value as a string, so the flag and the JSON key share
 * validation and wording; only the prefix of the error differs ("--idle-timeout:" vs
 * "file.json: key \"idle-timeout\":"). Repeatable flags replace the file's list on their first
 * occurrence on the command line, and --listen replaces the default the same way.
 *
 * Errors: exactly one line, no trailing newline, naming the flag or key and the bad value
 * (quoted, escaped, truncated, so a hostile value cannot break the line); secrets are never
 * echoed. getopt_long was not used: its messages go to stderr in its own words, and it does
 * not give us the file-then-flags order. */
#include "core/config.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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
	CFG_O_ROUTE,
	CFG_O_CONFIG,
	CFG_O_WORKERS,
	CFG_O_ADMIN,
	CFG_O_ADMIN_TOKEN,
	CFG_O_MAX_CONNS,
	CFG_O_MAX_CONNS_PER_IP,
	CFG_O_CONN_RATE,
	CFG_O_MSG_RATE,
	CFG_O_MAX_MESSAGE,
	CFG_O_HANDSHAKE_TIMEOUT,
	CFG_O_IDLE_TIMEOUT,
	CFG_O_PING_INTERVAL,
	CFG_O_CONNECT_TIMEOUT,
	CFG_O_DRAIN_TIMEOUT,
	CFG_O_ALLOW_ORIGIN,
	CFG_O_JWT_SECRET,
	CFG_O_JWT_SECRET_FILE,
	CFG_O_JWT_PUBLIC_KEY,
	CFG_O_JWT_ISSUER,
	CFG_O_JWT_AUDIENCE,
	CFG_O_AUTH,
	CFG_O_LB,
	CFG_O_HEALTH_INTERVAL,
	CFG_O_HEALTH_PATH,
	CFG_O_TRUST_FORWARDED,
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

static const struct cfg_opt_def cfg_opts[CFG_O_COUNT] = {
    [CFG_O_LISTEN] = {"listen", 'l', CFG_K_LIST, true, "ADDR:PORT",
                      "plain listener, repeatable (default " CFG_DEFAULT_LISTEN ")"},
    [CFG_O_TLS_LISTEN] = {"tls-listen", 0, CFG_K_LIST, true, "ADDR:PORT",
                          "TLS listener, repeatable (needs --tls-cert/--tls-key)"},
    [CFG_O_TLS_CERT] = {"tls-cert", 0, CFG_K_LIST, true, "FILE",
                        "certificate (PEM); repeat with --tls-key for SNI, first is default"},
    [CFG_O_TLS_KEY] = {"tls-key", 0, CFG_K_LIST, true, "FILE",
                       "private key (PEM) for the --tls-cert of the same position"},
    [CFG_O_ROUTE] = {"route", 'r', CFG_K_LIST, true, "SPEC",
                     "PATH=BACKEND[,BACKEND...][;key=value...], repeatable"},
    [CFG_O_CONFIG] = {"config", 'c', CFG_K_VALUE, false, "FILE",
                      "JSON config file; flags override it"},
    [CFG_O_WORKERS] = {"workers", 'w', CFG_K_VALUE, true, "N",
                       "worker threads, 1..1024 (default: number of CPUs)"},
    [CFG_O_ADMIN] = {"admin", 0, CFG_K_VALUE, true, "ADDR:PORT|off",
                     "admin listener (default " CFG_DEFAULT_ADMIN ")"},
    [CFG_O_ADMIN_TOKEN] = {"admin-token", 0, CFG_K_VALUE, true, "TOKEN",
                           "bearer token required by mutating admin calls"},
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
    [CFG_O_CONNECT_TIMEOUT] = {"connect-timeout", 0, CFG_K_VALUE, true, "DUR",
                               "backend TCP connect + upgrade (default 5s)"},
    [CFG_O_DRAIN_TIMEOUT] = {"drain-timeout", 0, CFG_K_VALUE, true, "DUR",
                             "on SIGTERM, time given to clients to leave (default 30s)"},
    [CFG_O_ALLOW_ORIGIN] = {"allow-origin", 0, CFG_K_LIST, true, "ORIGIN",
                            "allowed Origin, repeatable; * = all (default all)"},
    [CFG_O_JWT_SECRET] = {"jwt-secret", 0, CFG_K_VALUE, true, "SECRET", "HS256 key"},
    [CFG_O_JWT_SECRET_FILE] = {"jwt-secret-file", 0, CFG_K_VALUE, true, "FILE",
                               "HS256 key read from FILE (one trailing newline dropped)"},
    [CFG_O_JWT_PUBLIC_KEY] = {"jwt-public-key", 0, CFG_K_VALUE, true, "FILE",
                              "RS256/ES256 public key (PEM)"},
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
    [CFG_O_TRUST_FORWARDED] = {"trust-forwarded", 0, CFG_K_FLAG, true, NULL,
                               "append to X-Forwarded-For instead of replacing it"},
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

static void cfg_errf(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void cfg_errf(char *err, size_t err_len, const char *fmt, ...)
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
static const char *cfg_q(char *dst, size_t cap, const char *s)
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

/* ---- unit parsers -------------------------------------------------------------------- */

/* Decimal digits only (no sign, no space), at least one; 0 or -1 on junk or overflow.
 * *end gets the first non-digit. */
static int cfg_digits(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	*end = p;
	return 0;
}

static int cfg_parse_u64(const char *s, uint64_t *out)
{
	const char *end;

	if (s == NULL || cfg_digits(s, out, &end) != 0 || *end != '\0')
		return -1;
	return 0;
}

int config_parse_size(const char *s, uint64_t *out)
{
	uint64_t v, mul = 1;
	const char *end;

	if (s == NULL || cfg_digits(s, &v, &end) != 0)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1024;
		end++;
		break;
	case 'm':
	case 'M':
		mul = 1024 * 1024;
		end++;
		break;
	case 'g':
	case 'G':
		mul = 1024 * 1024 * 1024;
		end++;
		break;
	default:
		return -1;
	}
	if (*end != '\0' || (v != 0 && v > UINT64_MAX / mul))
		return -1;
	*out = v * mul;
	return 0;
}

int config_parse_duration_ms(const char *s, uint64_t *out)
{
	uint64_t v, mul;
	const char *end;

	if (s == NULL || cfg_digits(s, &v, &end) != 0)
		return -1;
	if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
		mul = 1000;
	else if (strcmp(end, "ms") == 0)
		mul = 1;
	else if (strcmp(end, "m") == 0)
		mul = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		mul = 3600 * 1000;
	else
		return -1;
	if (v != 0 && v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/* ADDR:PORT with ADDR an IPv4 literal, a host name or [IPv6]; the port 1..65535 is required.
 * Names are resolved (first result, AF_UNSPEC). reason gets a short phrase on failure. */
static int cfg_addr_parse(const char *s, struct cfg_addr *out, const char **reason)
{
	char host[256], port_s[8], num[INET6_ADDRSTRLEN];
	const char *colon, *h = s;
	size_t hlen;
	uint64_t port;
	bool bracket = false;
	struct addrinfo hints, *res = NULL;

	*reason = "expected ADDR:PORT";
	if (s == NULL || *s == '\0')
		return -1;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return -1;
		h = s + 1;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
		bracket = true;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - s);
		if (memchr(s, ':', hlen) != NULL) {
			*reason = "IPv6 addresses go in brackets: [::1]:8080";
			return -1;
		}
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*reason = hlen == 0 ? "empty host" : "host name too long";
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	for (size_t i = 0; i < hlen; i++) {
		unsigned char c = (unsigned char)host[i];
		if (c <= 0x20 || c >= 0x7f || c == '[' || c == ']' || c == '/') {
			*reason = "bad host";
			return -1;
		}
	}
	if (cfg_parse_u64(colon + 1, &port) != 0 || port == 0 || port > 65535) {
		*reason = "port must be 1..65535";
		return -1;
	}
	snprintf(port_s, sizeof(port_s), "%u", (unsigned)port);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = bracket ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (bracket ? AI_NUMERICHOST : 0);
	if (getaddrinfo(host, port_s, &hints, &res) != 0 || res == NULL) {
		*reason = bracket ? "bad IPv6 address" : "host does not resolve";
		return -1;
	}
	if (res->ai_addrlen > sizeof(out->ss)) {
		freeaddrinfo(res);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
	out->len = res->ai_addrlen;
	freeaddrinfo(res);
	if (getnameinfo((struct sockaddr *)&out->ss, out->len, num, sizeof(num), NULL, 0,
	                NI_NUMERICHOST) != 0) {
		*reason = "cannot print address";
		return -1;
	}
	int n = out->ss.ss_family == AF_INET6
	            ? snprintf(out->text, sizeof(out->text), "[%s]:%s", num, port_s)
	            : snprintf(out->text, sizeof(out->text), "%s:%s", num, port_s);
	if (n < 0 || (size_t)n >= sizeof(out->text)) {
		*reason = "address too long";
		return -1;
	}
	return 0;
}

int config_parse_addr(const char *s, struct cfg_addr *out)
{
	const char *reason;

	return cfg_addr_parse(s, out, &reason);
}

/* R[/BURST]: R and BURST 1..2^32-1, BURST defaults to R. "off" and "0" (only when allow_off)
 * give {0, 0}. */
static int cfg_parse_rate(const char *s, bool allow_off, uint32_t *rate, uint32_t *burst)
{
	uint64_t r, b;
	const char *end;

	if (s == NULL)
		return -1;
	if (allow_off && (strcmp(s, "off") == 0 || strcmp(s, "0") == 0)) {
		*rate = *burst = 0;
		return 0;
	}
	if (cfg_digits(s, &r, &end) != 0 || r == 0 || r > UINT32_MAX)
		return -1;
	b = r;
	if (*end == '/') {
		if (cfg_digits(end + 1, &b, &end) != 0 || b == 0 || b > UINT32_MAX)
			return -1;
	}
	if (*end != '\0')
		return -1;
	*rate = (uint32_t)r;
	*burst = (uint32_t)b;
	return 0;
}

/* lb policy: round-robin|least-conn|ip-hash|header-hash:NAME; *header gets a copy of NAME. */
static int cfg_parse_lb(const char *s, enum rt_lb *lb, char **header)
{
	*header = NULL;
	if (strcmp(s, "round-robin") == 0)
		*lb = RT_LB_ROUND_ROBIN;
	else if (strcmp(s, "least-conn") == 0)
		*lb = RT_LB_LEAST_CONN;
	else if (strcmp(s, "ip-hash") == 0)
		*lb = RT_LB_IP_HASH;
	else if (strncmp(s, "header-hash:", 12) == 0) {
		const char *name = s + 12;
		/* RFC 9110 5.1: a field name is a token */
		if (*name == '\0' || strspn(name, "!#$%&'*+-.^_`|~0123456789"
		                                  "abcdefghijklmnopqrstuvwxyz"
		                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(name))
			return -1;
		*header = strdup(name);
		if (*header == NULL)
			return -1;
		*lb = RT_LB_HEADER_HASH;
	} else {
		return -1;
	}
	return 0;
}

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

static bool cfg_is_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* ---- growable arrays; char * lists stay NULL-terminated so config_fini needs no count --- */

static int cfg_strv_push(char ***v, unsigned *n, const char *s)
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

static void cfg_strv_free(char ***v, unsigned *n)
{
	if (*v != NULL)
		for (char **p = *v; *p != NULL; p++)
			free(*p);
	free(*v);
	*v = NULL;
	if (n != NULL)
		*n = 0;
}

static int cfg_addr_push(struct cfg_addr **v, unsigned *n, const struct cfg_addr *a)
{
	struct cfg_addr *nv = realloc(*v, ((size_t)*n + 1) * sizeof(**v));

	if (nv == NULL)
		return -1;
	nv[(*n)++] = *a;
	*v = nv;
	return 0;
}

static int cfg_set_str(char **dst, const char *s)
{
	char *copy = strdup(s);

	if (copy == NULL)
		return -1;
	free(*dst);
	*dst = copy;
	return 0;
}

/* Reads a whole file (at most CFG_MAX_FILE bytes) into a NUL-terminated buffer. */
static char *cfg_read_file(const char *path, size_t *len, const char **reason)
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

static int cfg_check_readable(const char *path, char *why, size_t wl)
{
	char q[512];
	FILE *f;

	if (*path == '\0') {
		cfg_errf(why, wl, "empty file name");
		return -1;
	}
	f = fopen(path, "rb");
	if (f == NULL) {
		cfg_errf(why, wl, "cannot read \"%s\": %s", cfg_q(q, sizeof(q), path),
		         strerror(errno));
		return -1;
	}
	fclose(f);
	return 0;
}

/* ---- routes ------------------------------------------------------------------------------ */

static int cfg_route_add_backend(struct rt_route_def *def, const char *url, char *why, size_t wl)
{
	struct rt_backend_def *nb;

	if (*url == '\0') {
		cfg_errf(why, wl, "empty backend");
		return -1;
	}
	nb = realloc(def->backends, ((size_t)def->n_backends + 1) * sizeof(*nb));
	if (nb == NULL) {
		cfg_errf(why, wl, "out of memory");
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

	if (path[0] != '/' || !cfg_is_printable(path) || strpbrk(path, "?#") != NULL) {
		cfg_errf(why, wl,
		         "route path \"%s\" must start with '/' and hold no space, '?' or '#'",
		         cfg_q(q, sizeof(q), path));
		return -1;
	}
	if (cfg_set_str(&def->path, path) != 0) {
		cfg_errf(why, wl, "out of memory");
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
		if (cfg_parse_lb(val, &lb, &hdr) != 0) {
			cfg_errf(why, wl,
			         "lb: invalid policy \"%s\" (round-robin, least-conn, ip-hash, "
			         "header-hash:NAME)",
			         cfg_q(q, sizeof(q), val));
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
			cfg_errf(why, wl, "auth: invalid value \"%s\" (required, optional, off)",
			         cfg_q(q, sizeof(q), val));
			return -1;
		}
	} else if (strcmp(key, "origin") == 0) {
		if (*val == '\0' || !cfg_is_printable(val)) {
			cfg_errf(why, wl, "origin: invalid origin \"%s\"",
			         cfg_q(q, sizeof(q), val));
			return -1;
		}
		if (cfg_strv_push(&def->origins, &def->n_origins, val) != 0) {
			cfg_errf(why, wl, "out of memory");
			return -1;
		}
	} else if (strcmp(key, "max-message") == 0) {
		if (config_parse_size(val, &u) != 0 || u == 0) {
			cfg_errf(why, wl, "max-message: invalid size \"%s\"",
			         cfg_q(q, sizeof(q), val));
			return -1;
		}
		def->max_message = u;
	} else if (strcmp(key, "msg-rate") == 0) {
		if (cfg_parse_rate(val, false, &def->msg_rate, &def->msg_burst) != 0) {
			cfg_errf(why, wl, "msg-rate: invalid rate \"%s\" (R[/BURST], R >= 1)",
			         cfg_q(q, sizeof(q), val));
			return -1;
		}
	} else if (strcmp(key, "strip-prefix") == 0) {
		if (strcmp(val, "true") == 0)
			def->strip_prefix = true;
		else if (strcmp(val, "false") == 0)
			def->strip_prefix = false;
		else {
			cfg_errf(why, wl, "strip-prefix: expected true or false, got \"%s\"",
			         cfg_q(q, sizeof(q), val));
			return -1;
		}
	} else if (strcmp(key, "subprotocol") == 0) {
		/* RFC 6455 4.1: a subprotocol is an RFC 2616 token */
		if (*val == '\0' || !cfg_is_printable(val) || strpbrk(val, "()<>@,;:\\\"/[]?={}")) {
			cfg_errf(why, wl, "subprotocol: invalid token \"%s\"",
			         cfg_q(q, sizeof(q), val));
			return -1;
		}
		if (cfg_set_str(&def->subprotocol, val) != 0) {
			cfg_errf(why, wl, "out of memory");
			return -1;
		}
	} else {
		cfg_errf(why, wl, "unknown route key \"%s\"", cfg_q(kq, sizeof(kq), key));
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
		cfg_errf(err, err_len, "out of memory");
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
		cfg_errf(err, err_len, "no backend");
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
			cfg_errf(err, err_len, "route option \"%s\" is not key=value",
			         cfg_q(q, sizeof(q), tok));
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
			cfg_errf(why, wl, "backend \"%s\": cannot resolve \"%s\": %s",
			         cfg_q(q, sizeof(q), b->url), cfg_q(hq, sizeof(hq), b->host),
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

static int cfg_routes_push(struct wsg_config *cfg, struct rt_route_def *def)
{
	struct rt_route_def *nv = realloc(cfg->routes, ((size_t)cfg->n_routes + 1) * sizeof(*nv));

	if (nv == NULL)
		return -1;
	nv[cfg->n_routes++] = *def;
	cfg->routes = nv;
	memset(def, 0, sizeof(*def));
	return 0;
}

static void cfg_routes_free(struct wsg_config *cfg)
{
	for (unsigned i = 0; i < cfg->n_routes; i++)
		rt_route_def_fini(&cfg->routes[i]);
	free(cfg->routes);
	cfg->routes = NULL;
	cfg->n_routes = 0;
}

/* ---- the setter shared by flags and file keys ------------------------------------------- */

static void cfg_list_clear(struct cfg_parse *ps, enum cfg_opt id)
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
		cfg_strv_free(&cfg->tls_cert, &ps->n_cert);
		break;
	case CFG_O_TLS_KEY:
		cfg_strv_free(&cfg->tls_key, &ps->n_key);
		break;
	case CFG_O_ROUTE:
		cfg_routes_free(cfg);
		break;
	case CFG_O_ALLOW_ORIGIN:
		cfg_strv_free(&cfg->allow_origin, &cfg->n_allow_origin);
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
		cfg_errf(why, wl, "invalid duration \"%s\" (N, Nms, Ns, Nm or Nh)",
		         cfg_q(q, sizeof(q), v));
		return -1;
	}
	if (ms == 0 && !allow_zero) {
		cfg_errf(why, wl, "invalid duration \"%s\": must be more than 0",
		         cfg_q(q, sizeof(q), v));
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

	if (cfg_parse_u64(v, &n) != 0 || n < lo || n > hi) {
		if (hi == UINT64_MAX)
			cfg_errf(why, wl, "invalid count \"%s\" (at least %llu)",
			         cfg_q(q, sizeof(q), v), (unsigned long long)lo);
		else
			cfg_errf(why, wl, "invalid count \"%s\" (%llu..%llu)",
			         cfg_q(q, sizeof(q), v), (unsigned long long)lo,
			         (unsigned long long)hi);
		return -1;
	}
	*dst = n;
	return 0;
}

/* Applies one value of option id. Lists append (the caller clears them first). why gets the
 * reason, naming the value but never a secret. */
static int cfg_set(struct cfg_parse *ps, enum cfg_opt id, const char *v, char *why, size_t wl)
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
		if (cfg_addr_parse(v, &a, &reason) != 0) {
			cfg_errf(why, wl, "invalid address \"%s\": %s", cfg_q(q, sizeof(q), v),
			         reason);
			return -1;
		}
		if (id == CFG_O_LISTEN) {
			ps->listen_set = true;
			rc = cfg_addr_push(&cfg->listen, &cfg->n_listen, &a);
		} else {
			rc = cfg_addr_push(&cfg->tls_listen, &cfg->n_tls_listen, &a);
		}
		break;
	case CFG_O_TLS_CERT:
	case CFG_O_TLS_KEY:
		if (cfg_check_readable(v, why, wl) != 0)
			return -1;
		rc = id == CFG_O_TLS_CERT ? cfg_strv_push(&cfg->tls_cert, &ps->n_cert, v)
		                          : cfg_strv_push(&cfg->tls_key, &ps->n_key, v);
		break;
	case CFG_O_ROUTE: {
		struct rt_route_def def;
		char rwhy[512];
		if (config_parse_route(v, &def, rwhy, sizeof(rwhy)) != 0) {
			cfg_errf(why, wl, "\"%s\": %s", cfg_q(q, sizeof(q), v), rwhy);
			return -1;
		}
		if (cfg_route_resolve(&def, rwhy, sizeof(rwhy)) != 0) {
			cfg_errf(why, wl, "\"%s\": %s", cfg_q(q, sizeof(q), v), rwhy);
			rt_route_def_fini(&def);
			return -1;
		}
		rc = cfg_routes_push(cfg, &def);
		if (rc != 0)
			rt_route_def_fini(&def);
		break;
	}
	case CFG_O_CONFIG:
		rc = cfg_set_str(&cfg->config_file, v);
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
		if (cfg_addr_parse(v, &a, &reason) != 0) {
			cfg_errf(why, wl, "invalid address \"%s\": %s (or off)",
			         cfg_q(q, sizeof(q), v), reason);
			return -1;
		}
		cfg->admin_off = false;
		cfg->admin = a;
		break;
	case CFG_O_ADMIN_TOKEN:
	case CFG_O_JWT_SECRET:
		if (*v == '\0') {
			cfg_errf(why, wl, "empty value");
			return -1;
		}
		if (id == CFG_O_ADMIN_TOKEN) {
			rc = cfg_set_str(&cfg->admin_token, v);
		} else {
			rc = cfg_set_str(&cfg->jwt_secret, v);
			free(cfg->jwt_secret_file);
			cfg->jwt_secret_file = NULL;
		}
		break;
	case CFG_O_JWT_SECRET_FILE: {
		size_t len;
		char *buf = *v ? cfg_read_file(v, &len, &reason) : NULL;
		if (*v == '\0')
			reason = "empty file name";
		if (buf == NULL) {
			cfg_errf(why, wl, "cannot read \"%s\": %s", cfg_q(q, sizeof(q), v), reason);
			return -1;
		}
		if (len > 0 && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (len > 0 && buf[len - 1] == '\r')
			buf[--len] = '\0';
		if (len == 0 || strlen(buf) != len) {
			cfg_errf(why, wl, "\"%s\": %s", cfg_q(q, sizeof(q), v),
			         len == 0 ? "empty secret" : "secret holds a NUL byte");
			free(buf);
			return -1;
		}
		free(cfg->jwt_secret);
		cfg->jwt_secret = buf;
		rc = cfg_set_str(&cfg->jwt_secret_file, v);
		break;
	}
	case CFG_O_MAX_CONNS:
		rc = cfg_set_count(v, 1, UINT64_MAX, &cfg->max_conns, why, wl);
		if (rc != 0)
			return -1;
		break;
	case CFG_O_MAX_CONNS_PER_IP:
		rc = cfg_set_count(v, 0, UINT64_MAX, &cfg->max_conns_per_ip, why, wl);
		if (rc != 0)
			return -1;
		break;
	case CFG_O_CONN_RATE:
	case CFG_O_MSG_RATE: {
		struct cfg_rate *r = id == CFG_O_CONN_RATE ? &cfg->conn_rate : &cfg->msg_rate;
		if (cfg_parse_rate(v, true, &r->per_sec, &r->burst) != 0) {
			cfg_errf(why, wl, "invalid rate \"%s\" (R[/BURST] or off)",
			         cfg_q(q, sizeof(q), v));
			return -1;
		}
		break;
	}
	case CFG_O_MAX_MESSAGE:
		if (config_parse_size(v, &u) != 0 || u == 0) {
			cfg_errf(why, wl, "invalid size \"%s\" (N, Nk, Nm or Ng, more than 0)",
			         cfg_q(q, sizeof(q), v));
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
	case CFG_O_CONNECT_TIMEOUT:
		return cfg_set_duration(v, &cfg->connect_timeout_ms, false, why, wl);
	case CFG_O_DRAIN_TIMEOUT:
		return cfg_set_duration(v, &cfg->drain_timeout_ms, true, why, wl);
	case CFG_O_HEALTH_INTERVAL:
		return cfg_set_duration(v, &cfg->health_interval_ms, true, why, wl);
	case CFG_O_ALLOW_ORIGIN:
		if (*v == '\0' || !cfg_is_printable(v)) {
			cfg_errf(why, wl, "invalid origin \"%s\"", cfg_q(q, sizeof(q), v));
			return -1;
		}
		rc = cfg_strv_push(&cfg->allow_origin, &cfg->n_allow_origin, v);
		break;
	case CFG_O_JWT_PUBLIC_KEY:
		if (cfg_check_readable(v, why, wl) != 0)
			return -1;
		rc = cfg_set_str(&cfg->jwt_public_key, v);
		break;
	case CFG_O_JWT_ISSUER:
	case CFG_O_JWT_AUDIENCE:
		if (*v == '\0') {
			cfg_errf(why, wl, "empty value");
			return -1;
		}
		rc = cfg_set_str(id == CFG_O_JWT_ISSUER ? &cfg->jwt_issuer : &cfg->jwt_audience, v);
		break;
	case CFG_O_AUTH:
		if (strcmp(v, "required") == 0)
			cfg->auth = CFG_AUTH_REQUIRED;
		else if (strcmp(v, "optional") == 0)
			cfg->auth = CFG_AUTH_OPTIONAL;
		else if (strcmp(v, "off") == 0)
			cfg->auth = CFG_AUTH_OFF;
		else {
			cfg_errf(why, wl, "invalid value \"%s\" (required, optional, off)",
			         cfg_q(q, sizeof(q), v));
			return -1;
		}
		break;
	case CFG_O_LB: {
		enum rt_lb lb;
		char *hdr;
		if (cfg_parse_lb(v, &lb, &hdr) != 0) {
			cfg_errf(why, wl,
			         "invalid value \"%s\" (round-robin, least-conn, ip-hash, "
			         "header-hash:NAME)",
			         cfg_q(q, sizeof(q), v));
			return -1;
		}
		free(cfg->lb_header);
		cfg->lb_header = hdr;
		cfg->lb = lb;
		break;
	}
	case CFG_O_HEALTH_PATH:
		if (v[0] != '/' || !cfg_is_printable(v)) {
			cfg_errf(why, wl, "invalid path \"%s\" (must start with '/')",
			         cfg_q(q, sizeof(q), v));
			return -1;
		}
		rc = cfg_set_str(&cfg->health_path, v);
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
			cfg_errf(why, wl, "invalid value \"%s\" (debug, info, warn, error)",
			         cfg_q(q, sizeof(q), v));
			return -1;
		}
		break;
	case CFG_O_LOG_FORMAT:
		if (strcmp(v, "text") == 0)
			cfg->log_format = CFG_LOG_TEXT;
		else if (strcmp(v, "json") == 0)
			cfg->log_format = CFG_LOG_JSON;
		else {
			cfg_errf(why, wl, "invalid value \"%s\" (text, json)",
			         cfg_q(q, sizeof(q), v));
			return -1;
		}
		break;
	case CFG_O_ACCESS_LOG:
		if (*v == '\0') {
			cfg_errf(why, wl, "empty value (FILE, - or off)");
			return -1;
		}
		if (strcmp(v, "off") == 0) {
			free(cfg->access_log);
			cfg->access_log = NULL;
		} else {
			rc = cfg_set_str(&cfg->access_log, v);
		}
		break;
	case CFG_O_TRUST_FORWARDED:
		cfg->trust_forwarded = true;
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
		cfg_errf(why, wl, "out of memory");
		return -1;
	}
	return 0;
}

/* Error for a flag: "wsgate: --flag: why", or "wsgate: --route "SPEC": why" when why starts
 * with the quoted value. */
static void cfg_fail_flag(struct cfg_parse *ps, enum cfg_opt id, const char *why)
{
	cfg_errf(ps->err, ps->err_len, "wsgate: --%s%s%s", cfg_opts[id].name,
	         why[0] == '"' ? " " : ": ", why);
}

static void cfg_fail_key(struct cfg_parse *ps, const char *key, const char *why)
{
	char fq[512], kq[256];

	cfg_errf(ps->err, ps->err_len, "wsgate: %s: key \"%s\": %s",
	         cfg_q(fq, sizeof(fq), ps->file), cfg_q(kq, sizeof(kq), key), why);
}

/* ---- the JSON file ------------------------------------------------------------------------ */

/* A JSON scalar as the string the flag would take: strings as is, integral non-negative
 * numbers in decimal, booleans only for bool_ok ("true"/"false"). */
static const char *cfg_json_str(const cJSON *j, char *buf, size_t cap, bool bool_ok)
{
	if (cJSON_IsString(j))
		return j->valuestring;
	if (cJSON_IsNumber(j)) {
		double d = j->valuedouble;
		if (d >= 0 && d <= 9007199254740992.0 && (double)(unsigned long long)d == d) {
			snprintf(buf, cap, "%llu", (unsigned long long)d);
			return buf;
		}
		snprintf(buf, cap, "%g", d); /* fails the value's own check, and names it */
		return buf;
	}
	if (bool_ok && cJSON_IsBool(j))
		return cJSON_IsTrue(j) ? "true" : "false";
	return NULL;
}

static const char *cfg_json_type(const cJSON *j)
{
	if (cJSON_IsNull(j))
		return "null";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsNumber(j))
		return "a number";
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsArray(j))
		return "an array";
	return "an object";
}

static int cfg_json_route_obj(struct cfg_parse *ps, const cJSON *o, unsigned idx)
{
	struct rt_route_def def;
	char key[160], why[768], num[64];
	const cJSON *m;
	int rc = -1;

	memset(&def, 0, sizeof(def));
	cJSON_ArrayForEach(m, o)
	{
		const char *k = m->string ? m->string : "";
		snprintf(key, sizeof(key), "routes[%u].%s", idx, k);
		if (strcmp(k, "path") == 0) {
			if (!cJSON_IsString(m)) {
				cfg_errf(why, sizeof(why), "expected a string, got %s",
				         cfg_json_type(m));
				goto out_fail;
			}
			if (cfg_route_set_path(&def, m->valuestring, why, sizeof(why)) != 0)
				goto out_fail;
		} else if (strcmp(k, "backends") == 0 || strcmp(k, "origin") == 0) {
			bool is_backend = k[0] == 'b';
			const cJSON *e;
			if (cJSON_IsString(m)) {
				if ((is_backend ? cfg_route_add_backend(&def, m->valuestring, why,
				                                        sizeof(why))
				                : cfg_route_set(&def, k, m->valuestring, why,
				                                sizeof(why))) != 0)
					goto out_fail;
				continue;
			}
			if (!cJSON_IsArray(m)) {
				cfg_errf(why, sizeof(why), "expected an array of strings, got %s",
				         cfg_json_type(m));
				goto out_fail;
			}
			unsigned i = 0;
			cJSON_ArrayForEach(e, m)
			{
				snprintf(key, sizeof(key), "routes[%u].%s[%u]", idx, k, i++);
				if (!cJSON_IsString(e)) {
					cfg_errf(why, sizeof(why), "expected a string, got %s",
					         cfg_json_type(e));
					goto out_fail;
				}
				if ((is_backend ? cfg_route_add_backend(&def, e->valuestring, why,
				                                        sizeof(why))
				                : cfg_route_set(&def, k, e->valuestring, why,
				                                sizeof(why))) != 0)
					goto out_fail;
			}
		} else {
			const char *v = cfg_json_str(m, num, sizeof(num), true);
			if (v == NULL) {
				cfg_errf(why, sizeof(why), "expected a string, got %s",
				         cfg_json_type(m));
				goto out_fail;
			}
			if (cfg_route_set(&def, k, v, why, sizeof(why)) != 0)
				goto out_fail;
		}
	}
	snprintf(key, sizeof(key), "routes[%u]", idx);
	if (def.path == NULL) {
		cfg_errf(why, sizeof(why), "missing \"path\"");
		goto out_fail;
	}
	if (def.n_backends == 0) {
		char q[512];
		cfg_errf(why, sizeof(why), "route \"%s\": no backend",
		         cfg_q(q, sizeof(q), def.path));
		goto out_fail;
	}
	if (cfg_route_resolve(&def, why, sizeof(why)) != 0)
		goto out_fail;
	if (cfg_routes_push(ps->cfg, &def) != 0) {
		cfg_errf(why, sizeof(why), "out of memory");
		goto out_fail;
	}
	return 0;
out_fail:
	cfg_fail_key(ps, key, why);
	rt_route_def_fini(&def);
	return rc;
}

static int cfg_json_routes(struct cfg_parse *ps, const cJSON *arr)
{
	char key[64], why[768];
	const cJSON *e;
	unsigned i = 0;

	if (!cJSON_IsArray(arr)) {
		cfg_errf(why, sizeof(why), "expected an array, got %s", cfg_json_type(arr));
		cfg_fail_key(ps, "routes", why);
		return -1;
	}
	cJSON_ArrayForEach(e, arr)
	{
		unsigned idx = i++;
		if (cJSON_IsObject(e)) {
			if (cfg_json_route_obj(ps, e, idx) != 0)
				return -1;
			continue;
		}
		snprintf(key, sizeof(key), "routes[%u]", idx);
		if (!cJSON_IsString(e)) {
			cfg_errf(why, sizeof(why), "expected an object or a route spec, got %s",
			         cfg_json_type(e));
			cfg_fail_key(ps, key, why);
			return -1;
		}
		/* the --route SPEC string form */
		if (cfg_set(ps, CFG_O_ROUTE, e->valuestring, why, sizeof(why)) != 0) {
			cfg_fail_key(ps, key, why);
			return -1;
		}
	}
	return 0;
}

static int cfg_find_opt(const char *name, bool long_only)
{
	for (int i = 0; i < CFG_O_COUNT; i++)
		if (strcmp(cfg_opts[i].name, name) == 0 && (!long_only || cfg_opts[i].in_file))
			return i;
	return -1;
}

static int cfg_json_apply(struct cfg_parse *ps, const cJSON *root)
{
	char why[768], num[64];
	const cJSON *m;

	if (!cJSON_IsObject(root)) {
		char fq[512];
		cfg_errf(ps->err, ps->err_len, "wsgate: %s: expected a JSON object, got %s",
		         cfg_q(fq, sizeof(fq), ps->file), cfg_json_type(root));
		return -1;
	}
	cJSON_ArrayForEach(m, root)
	{
		const char *k = m->string ? m->string : "";
		for (const cJSON *p = root->child; p != m; p = p->next) {
			if (p->string != NULL && strcmp(p->string, k) == 0) {
				cfg_fail_key(ps, k, "given twice");
				return -1;
			}
		}
		if (strcmp(k, "routes") == 0) {
			cfg_list_clear(ps, CFG_O_ROUTE);
			if (cfg_json_routes(ps, m) != 0)
				return -1;
			continue;
		}
		int id = cfg_find_opt(k, true);
		if (id < 0 || id == CFG_O_ROUTE) {
			cfg_fail_key(ps, k, "unknown key");
			return -1;
		}
		const struct cfg_opt_def *o = &cfg_opts[id];
		if (o->kind == CFG_K_FLAG) {
			if (!cJSON_IsBool(m)) {
				cfg_errf(why, sizeof(why), "expected true or false, got %s",
				         cfg_json_type(m));
				cfg_fail_key(ps, k, why);
				return -1;
			}
			if (id == CFG_O_TRUST_FORWARDED)
				ps->cfg->trust_forwarded = cJSON_IsTrue(m);
			continue;
		}
		if (o->kind == CFG_K_LIST) {
			cfg_list_clear(ps, (enum cfg_opt)id);
			if (id == CFG_O_LISTEN)
				ps->listen_set = true;
			if (cJSON_IsArray(m)) {
				const cJSON *e;
				unsigned i = 0;
				cJSON_ArrayForEach(e, m)
				{
					char ek[160];
					const char *v = cfg_json_str(e, num, sizeof(num), false);
					snprintf(ek, sizeof(ek), "%s[%u]", k, i++);
					if (v == NULL) {
						cfg_errf(why, sizeof(why),
						         "expected a string, got %s",
						         cfg_json_type(e));
						cfg_fail_key(ps, ek, why);
						return -1;
					}
					if (cfg_set(ps, (enum cfg_opt)id, v, why, sizeof(why)) !=
					    0) {
						cfg_fail_key(ps, ek, why);
						return -1;
					}
				}
				continue;
			}
		}
		const char *v = cfg_json_str(m, num, sizeof(num), false);
		if (v == NULL) {
			cfg_errf(why, sizeof(why), "expected %s, got %s",
			         o->kind == CFG_K_LIST ? "a string or an array of strings"
			                               : "a string or a number",
			         cfg_json_type(m));
			cfg_fail_key(ps, k, why);
			return -1;
		}
		if (cfg_set(ps, (enum cfg_opt)id, v, why, sizeof(why)) != 0) {
			cfg_fail_key(ps, k, why);
			return -1;
		}
	}
	return 0;
}

static int cfg_load_file(struct cfg_parse *ps, const char *path)
{
	char fq[512];
	const char *reason, *end = NULL;
	size_t len;
	char *buf = cfg_read_file(path, &len, &reason);
	int rc;

	if (buf == NULL) {
		cfg_errf(ps->err, ps->err_len, "wsgate: --config \"%s\": cannot read: %s",
		         cfg_q(fq, sizeof(fq), path), reason);
		return -1;
	}
	cJSON *root = cJSON_ParseWithLengthOpts(buf, len + 1, &end, true);
	if (root == NULL) {
		unsigned line = 1, col = 1;
		if (end == NULL || end < buf || end > buf + len)
			end = buf + len;
		for (const char *p = buf; p < end; p++) {
			if (*p == '\n') {
				line++;
				col = 1;
			} else {
				col++;
			}
		}
		cfg_errf(ps->err, ps->err_len, "wsgate: %s: invalid JSON at line %u, column %u",
		         cfg_q(fq, sizeof(fq), path), line, col);
		free(buf);
		return -1;
	}
	ps->file = path;
	rc = cfg_json_apply(ps, root);
	ps->file = NULL;
	cJSON_Delete(root);
	free(buf);
	return rc;
}

/* ---- argv ----------------------------------------------------------------------------------- */

struct cfg_tok {
	enum cfg_opt id;
	const char *val; /* NULL for flags and actions */
};

static void cfg_print_help(FILE *out)
{
	fprintf(out, "usage: wsgate [options]\n"
	             "wsgate " WSG_VERSION " - edge WebSocket gateway\n\n"
	             "Sizes take k, m, g (1024-based); durations take ms, s, m, h (bare number = "
	             "seconds).\n\n");
	for (int i = 0; i < CFG_O_COUNT; i++) {
		const struct cfg_opt_def *o = &cfg_opts[i];
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
	             "strip-prefix=true|false, subprotocol=NAME\n"
	             "Exit status: 0 ok, 1 runtime failure, 2 bad usage or config.\n");
}

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
				id = cfg_find_opt(name, false);
			}
			if (eq != NULL) {
				val = eq + 1;
				inline_val = true;
			}
		} else if (a[0] == '-' && a[1] != '\0' && a[1] != '-') {
			for (int k = 0; k < CFG_O_COUNT; k++)
				if (cfg_opts[k].short_name == a[1])
					id = k;
			if (a[2] != '\0') {
				if (id >= 0 && (cfg_opts[id].kind == CFG_K_VALUE ||
				                cfg_opts[id].kind == CFG_K_LIST)) {
					val = a + 2; /* -w4 */
					inline_val = true;
				} else {
					id = -1;
				}
			}
		} else {
			cfg_errf(ps->err, ps->err_len, "wsgate: unexpected argument \"%s\"",
			         cfg_q(q, sizeof(q), a));
			return -1;
		}
		if (id < 0) {
			char fq[128];
			const char *eq = strchr(a, '=');
			/* name the flag, not a value that might be a secret */
			snprintf(fq, sizeof(fq), "%.*s", eq ? (int)(eq - a) : 100, a);
			cfg_errf(ps->err, ps->err_len, "wsgate: unknown flag \"%s\"",
			         cfg_q(q, sizeof(q), fq));
			return -1;
		}
		const struct cfg_opt_def *o = &cfg_opts[id];
		if (o->kind == CFG_K_FLAG || o->kind == CFG_K_ACTION) {
			if (inline_val) {
				cfg_errf(ps->err, ps->err_len,
				         "wsgate: --%s: takes no value, got \"%s\"", o->name,
				         cfg_q(q, sizeof(q), val));
				return -1;
			}
		} else if (!inline_val) {
			if (i + 1 >= argc) {
				cfg_errf(ps->err, ps->err_len, "wsgate: --%s: missing value (%s)",
				         o->name, o->arg);
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
	(void)cfg_addr_parse(CFG_DEFAULT_ADMIN, &cfg->admin, &reason);
	cfg->max_conns = 100000;
	cfg->max_message = 1024 * 1024;
	cfg->handshake_timeout_ms = 10 * 1000;
	cfg->idle_timeout_ms = 300 * 1000;
	cfg->ping_interval_ms = 30 * 1000;
	cfg->connect_timeout_ms = 5 * 1000;
	cfg->drain_timeout_ms = 30 * 1000;
	cfg->health_interval_ms = 5 * 1000;
	cfg->lb = RT_LB_ROUND_ROBIN;
	cfg->auth = CFG_AUTH_UNSET;
	cfg->log_level = CFG_LOG_INFO;
	cfg->log_format = CFG_LOG_TEXT;
}

/* Whole-config checks once file and flags are in. */
static int cfg_check(struct cfg_parse *ps)
{
	struct wsg_config *cfg = ps->cfg;
	char q[512], why[768];
	const char *reason;

	if (ps->n_cert > ps->n_key) {
		cfg_errf(ps->err, ps->err_len, "wsgate: --tls-cert \"%s\": no matching --tls-key",
		         cfg_q(q, sizeof(q), cfg->tls_cert[ps->n_key]));
		return -1;
	}
	if (ps->n_key > ps->n_cert) {
		cfg_errf(ps->err, ps->err_len, "wsgate: --tls-key \"%s\": no matching --tls-cert",
		         cfg_q(q, sizeof(q), cfg->tls_key[ps->n_cert]));
		return -1;
	}
	cfg->n_tls_pairs = ps->n_cert;
	if (cfg->n_tls_listen > 0 && cfg->n_tls_pairs == 0) {
		cfg_errf(ps->err, ps->err_len,
		         "wsgate: --tls-listen \"%s\": needs --tls-cert and --tls-key",
		         cfg->tls_listen[0].text);
		return -1;
	}
	if (!ps->listen_set) {
		struct cfg_addr a;
		if (cfg_addr_parse(CFG_DEFAULT_LISTEN, &a, &reason) != 0 ||
		    cfg_addr_push(&cfg->listen, &cfg->n_listen, &a) != 0) {
			cfg_errf(ps->err, ps->err_len, "wsgate: --listen: out of memory");
			return -1;
		}
	}
	if (cfg->n_listen == 0 && cfg->n_tls_listen == 0) {
		cfg_errf(ps->err, ps->err_len, "wsgate: --listen: empty list and no --tls-listen");
		return -1;
	}

	struct rt_table *t = rt_table_new(cfg->routes, cfg->n_routes, why, sizeof(why));
	if (t == NULL) {
		if (ps->routes_from_flags || cfg->config_file == NULL)
			cfg_errf(ps->err, ps->err_len, "wsgate: --route: %s", why);
		else
			cfg_errf(ps->err, ps->err_len, "wsgate: %s: key \"routes\": %s",
			         cfg_q(q, sizeof(q), cfg->config_file), why);
		return -1;
	}
	rt_table_free(t);

	bool has_key = cfg->jwt_secret != NULL || cfg->jwt_public_key != NULL;
	if (!has_key && (cfg->auth == CFG_AUTH_REQUIRED || cfg->auth == CFG_AUTH_OPTIONAL)) {
		cfg_errf(ps->err, ps->err_len,
		         "wsgate: --auth \"%s\": needs --jwt-secret, --jwt-secret-file or "
		         "--jwt-public-key",
		         cfg->auth == CFG_AUTH_REQUIRED ? "required" : "optional");
		return -1;
	}
	for (unsigned i = 0; i < cfg->n_routes && !has_key; i++) {
		const struct rt_route_def *d = &cfg->routes[i];
		if (d->auth == RT_AUTH_REQUIRED || d->auth == RT_AUTH_OPTIONAL) {
			cfg_errf(ps->err, ps->err_len,
			         "wsgate: --route \"%s\": auth=%s needs --jwt-secret, "
			         "--jwt-secret-file or --jwt-public-key",
			         cfg_q(q, sizeof(q), d->path),
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
		cfg_errf(err, err_len, "wsgate: out of memory");
		return CFG_RC_USAGE;
	}
	if (cfg_tokenize(&ps, argc, argv, toks, &n_toks) != 0)
		goto out_free_toks;

	for (unsigned i = 0; i < n_toks; i++) {
		if (toks[i].id == CFG_O_HELP || toks[i].id == CFG_O_VERSION) {
			if (toks[i].id == CFG_O_HELP)
				cfg_print_help(out);
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
			cfg_errf(err, err_len, "wsgate: --config: empty file name");
			goto out_free_toks;
		}
		if (cfg_set_str(&cfg->config_file, file) != 0 || cfg_load_file(&ps, file) != 0)
			goto out_free_toks;
	}

	for (unsigned i = 0; i < n_toks; i++) {
		enum cfg_opt id = toks[i].id;
		const char *v = toks[i].val ? toks[i].val : "";

		if (id == CFG_O_CONFIG)
			continue;
		if (cfg_opts[id].kind == CFG_K_LIST && !(ps.flag_lists & (1ull << id))) {
			cfg_list_clear(&ps, id);
			ps.flag_lists |= 1ull << id;
			if (id == CFG_O_ROUTE)
				ps.routes_from_flags = true;
		}
		if (cfg_set(&ps, id, v, why, sizeof(why)) != 0) {
			cfg_fail_flag(&ps, id, why);
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
	cfg_strv_free(&cfg->tls_cert, NULL);
	cfg_strv_free(&cfg->tls_key, NULL);
	cfg_routes_free(cfg);
	free(cfg->admin_token);
	cfg_strv_free(&cfg->allow_origin, NULL);
	if (cfg->jwt_secret != NULL)
		explicit_bzero(cfg->jwt_secret, strlen(cfg->jwt_secret));
	free(cfg->jwt_secret);
	free(cfg->jwt_secret_file);
	free(cfg->jwt_public_key);
	free(cfg->jwt_issuer);
	free(cfg->jwt_audience);
	free(cfg->lb_header);
	free(cfg->health_path);
	free(cfg->access_log);
	free(cfg->config_file);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- printing ------------------------------------------------------------------------------ */

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

static const char *cfg_lb_name(enum rt_lb lb, const char *hdr, char *buf, size_t cap)
{
	switch (lb) {
	case RT_LB_LEAST_CONN:
		return "least-conn";
	case RT_LB_IP_HASH:
		return "ip-hash";
	case RT_LB_HEADER_HASH:
		snprintf(buf, cap, "header-hash:%s", hdr ? hdr : "");
		return buf;
	case RT_LB_ROUND_ROBIN:
		break;
	}
	return "round-robin";
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
		cJSON *s = cJSON_CreateString(d->backends[i].url);
		ok = s != NULL && cJSON_AddItemToArray(b, s);
	}
	if (ok && d->has_lb)
		ok = cJSON_AddStringToObject(
		         o, "lb", cfg_lb_name(d->lb, d->lb_header, buf, sizeof(buf))) != NULL;
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
	ok = ok && cfg_add_strs(o, "tls-key", cfg->tls_key, cfg->n_tls_pairs);
	routes = ok ? cJSON_AddArrayToObject(o, "routes") : NULL;
	ok = ok && routes != NULL;
	for (unsigned i = 0; ok && i < cfg->n_routes; i++)
		ok = cfg_add_route(routes, &cfg->routes[i]);
	ok = ok && cJSON_AddNumberToObject(o, "workers", cfg->workers) != NULL;
	ok = ok && cJSON_AddStringToObject(o, "admin", cfg->admin_off ? "off" : cfg->admin.text);
	if (ok && cfg->admin_token != NULL)
		ok = cJSON_AddStringToObject(o, "admin-token", CFG_REDACTED) != NULL;
	ok = ok && cfg_add_u64(o, "max-conns", cfg->max_conns);
	ok = ok && cfg_add_u64(o, "max-conns-per-ip", cfg->max_conns_per_ip);
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
	    {"connect-timeout", cfg->connect_timeout_ms},
	    {"drain-timeout", cfg->drain_timeout_ms},
	    {"health-interval", cfg->health_interval_ms},
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
	if (ok && cfg->jwt_public_key != NULL)
		ok = cJSON_AddStringToObject(o, "jwt-public-key", cfg->jwt_public_key) != NULL;
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
		auth = (cfg->jwt_secret || cfg->jwt_public_key) ? "required" : "off";
		break;
	}
	ok = ok && cJSON_AddStringToObject(o, "auth", auth) != NULL;
	ok = ok && cJSON_AddStringToObject(o, "lb",
	                                   cfg_lb_name(cfg->lb, cfg->lb_header, buf, sizeof(buf)));
	if (ok && cfg->health_path != NULL)
		ok = cJSON_AddStringToObject(o, "health-path", cfg->health_path) != NULL;
	ok = ok && cJSON_AddBoolToObject(o, "trust-forwarded", cfg->trust_forwarded) != NULL;
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
