#include "bench/bench_args.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Design note. A hand-written option loop instead of getopt_long: getopt keeps global state
 * (optind, opterr) and prints its own messages, and we want a pure function that tests can
 * call repeatedly and that reports exactly one line naming the flag and its value. Every
 * flag is validated here (ranges, exclusive pairs, the timestamp minimum for -s), so main
 * only has to act. Runs on the main thread before anything else. */

static void bench_args_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void bench_args_err(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

static int bench_args_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A positive finite decimal number followed by nothing, or by a suffix returned in *rest. */
static int bench_args_parse_number(const char *s, double *out, const char **rest)
{
	char *end;

	if ((*s < '0' || *s > '9') && *s != '.')
		return -1;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || end == s || !isfinite(v) || v < 0)
		return -1;
	/* strtod also takes hex floats, "inf" and exponents; we only want plain decimals. */
	for (const char *p = s; p < end; p++)
		if ((*p < '0' || *p > '9') && *p != '.')
			return -1;
	*out = v;
	*rest = end;
	return 0;
}

int bench_args_parse_duration(const char *s, uint64_t *ns)
{
	double v;
	const char *unit;
	double mult;

	if (bench_args_parse_number(s, &v, &unit) != 0)
		return -1;
	if (*unit == '\0' || strcmp(unit, "s") == 0)
		mult = 1e9;
	else if (strcmp(unit, "ms") == 0)
		mult = 1e6;
	else if (strcmp(unit, "us") == 0)
		mult = 1e3;
	else if (strcmp(unit, "m") == 0)
		mult = 60e9;
	else if (strcmp(unit, "h") == 0)
		mult = 3600e9;
	else
		return -1;
	double r = v * mult;
	if (r > 1e18) /* about 31 years: anything longer is a typo */
		return -1;
	*ns = (uint64_t)llround(r);
	return 0;
}

int bench_args_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned shift = 0;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	else if (*end != '\0')
		return -1;
	if (shift && end[1] != '\0')
		return -1;
	if (v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int bench_args_parse_url(struct bench_url *u, const char *s, char *err, size_t err_cap)
{
	const char *p;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(s, "ws://", 5) == 0) {
		u->tls = false;
		p = s + 5;
	} else if (strncasecmp(s, "wss://", 6) == 0) {
		u->tls = true;
		p = s + 6;
	} else {
		bench_args_err(err, err_cap, "expected ws:// or wss://");
		return -1;
	}
	for (const char *q = s; *q; q++) {
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f) {
			bench_args_err(err, err_cap, "spaces or control characters");
			return -1;
		}
	}
	if (strchr(s, '#') != NULL) {
		bench_args_err(err, err_cap, "a fragment (#) has no meaning in a WebSocket URL");
		return -1;
	}

	/* Authority: up to the first '/' or '?'. */
	size_t alen = strcspn(p, "/?");
	const char *auth_end = p + alen;
	const char *host = p, *host_end, *port_s = NULL;
	if (memchr(p, '@', alen) != NULL) {
		bench_args_err(err, err_cap, "user information (user@) is not supported");
		return -1;
	}
	if (*p == '[') {
		const char *rb = memchr(p, ']', alen);
		if (rb == NULL) {
			bench_args_err(err, err_cap, "unterminated [IPv6] address");
			return -1;
		}
		host = p + 1;
		host_end = rb;
		if (rb + 1 < auth_end) {
			if (rb[1] != ':') {
				bench_args_err(err, err_cap, "junk after ]");
				return -1;
			}
			port_s = rb + 2;
		}
	} else {
		const char *colon = memchr(p, ':', alen);
		host_end = colon ? colon : auth_end;
		if (colon)
			port_s = colon + 1;
	}
	size_t hlen = (size_t)(host_end - host);
	if (hlen == 0) {
		bench_args_err(err, err_cap, "no host");
		return -1;
	}
	if (hlen > BENCH_HOST_MAX) {
		bench_args_err(err, err_cap, "host name too long");
		return -1;
	}
	for (size_t i = 0; i < hlen; i++) {
		char c = host[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		          (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		          (*p == '[' && (c == ':' || c == '%'));
		if (!ok) {
			bench_args_err(err, err_cap, "bad character '%c' in host", c);
			return -1;
		}
	}
	memcpy(u->host, host, hlen);
	u->host[hlen] = '\0';

	u->port = u->tls ? 443 : 80;
	if (port_s != NULL) {
		char pbuf[8];
		size_t plen = (size_t)(auth_end - port_s);
		uint64_t port;
		if (plen == 0 || plen >= sizeof(pbuf)) {
			bench_args_err(err, err_cap, "bad port");
			return -1;
		}
		memcpy(pbuf, port_s, plen);
		pbuf[plen] = '\0';
		if (bench_args_parse_uint(pbuf, 1, 65535, &port) != 0) {
			bench_args_err(err, err_cap, "bad port '%s'", pbuf);
			return -1;
		}
		u->port = (uint16_t)port;
	}
	memcpy(u->authority, p, alen);
	u->authority[alen] = '\0';

	/* Path and query, origin-form: "?a=1" becomes "/?a=1". */
	size_t rlen = strlen(auth_end);
	size_t off = 0;
	if (*auth_end != '/')
		u->path[off++] = '/';
	if (off + rlen > BENCH_PATH_MAX) {
		bench_args_err(err, err_cap, "path too long");
		return -1;
	}
	memcpy(u->path + off, auth_end, rlen);
	u->path[off + rlen] = '\0';
	return 0;
}

/* RFC 9110 5.6.2 tchar. */
static bool bench_args_is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A header value for an error line: at most ~60 bytes of it, control bytes as \xNN, so that a
 * bad value (a CR or LF in it) still gives one line. */
static const char *bench_args_escape(const char *s, char *buf, size_t cap)
{
	size_t o = 0;

	for (; *s && o + 8 < cap && o < 60; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	if (*s)
		o += (size_t)snprintf(buf + o, cap - o, "...");
	buf[o] = '\0';
	return buf;
}

int bench_args_check_header(const char *s, char *err, size_t err_cap)
{
	/* The tool writes these itself; a second copy would make the request ambiguous
	 * (RFC 6455 4.1 wants exactly one of each) and measure the server's 400 instead. */
	static const char *const own[] = {
	    "Host",      "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
	    "User-Agent"};
	size_t n = 0;

	while (bench_args_is_tchar((unsigned char)s[n]))
		n++;
	if (n == 0) {
		bench_args_err(err, err_cap, "expected \"Name: value\" (a header name first)");
		return -1;
	}
	if (s[n] != ':') {
		bench_args_err(err, err_cap, "the header name must be followed by ':' (no spaces)");
		return -1;
	}
	for (const char *p = s + n + 1; *p; p++) {
		unsigned char c = (unsigned char)*p;
		/* RFC 9110 5.5: field-vchar, SP, HTAB; obs-text (>= 0x80) passes as is. */
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			bench_args_err(err, err_cap, "control character 0x%02x in the value", c);
			return -1;
		}
	}
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		if (strlen(own[i]) == n && strncasecmp(own[i], s, n) == 0) {
			bench_args_err(err, err_cap, "wsgate-bench sends %s itself", own[i]);
			return -1;
		}
	}
	return 0;
}

enum bench_opt {
	OPT_CONNS = 1,
	OPT_THREADS,
	OPT_DURATION,
	OPT_WARMUP,
	OPT_SIZE,
	OPT_PIPELINE,
	OPT_TEXT,
	OPT_BINARY,
	OPT_RATE,
	OPT_CONNECT_RATE,
	OPT_IDLE,
	OPT_CHURN,
	OPT_SRC_IPS,
	OPT_INSECURE,
	OPT_CA,
	OPT_TLS_RESUME,
	OPT_TLS_VERSION,
	OPT_JSON,
	OPT_HISTOGRAM,
	OPT_HEADER,
	OPT_QUIET,
	OPT_HELP,
	OPT_VERSION,
};

struct bench_opt_def {
	char short_name; /* 0 when none */
	const char *long_name;
	bool has_arg;
	enum bench_opt id;
};

static const struct bench_opt_def bench_opts[] = {
    {'c', "conns", true, OPT_CONNS},
    {'t', "threads", true, OPT_THREADS},
    {'d', "duration", true, OPT_DURATION},
    {0, "warmup", true, OPT_WARMUP},
    {'s', "size", true, OPT_SIZE},
    {'p', "pipeline", true, OPT_PIPELINE},
    {0, "text", false, OPT_TEXT},
    {0, "binary", false, OPT_BINARY},
    {0, "rate", true, OPT_RATE},
    {0, "connect-rate", true, OPT_CONNECT_RATE},
    {0, "idle", false, OPT_IDLE},
    {0, "churn", false, OPT_CHURN},
    {0, "src-ips", true, OPT_SRC_IPS},
    {0, "insecure", false, OPT_INSECURE},
    {0, "ca", true, OPT_CA},
    {0, "tls-resume", false, OPT_TLS_RESUME},
    {0, "tls-version", true, OPT_TLS_VERSION},
    {0, "json", false, OPT_JSON},
    {0, "histogram", true, OPT_HISTOGRAM},
    {'H', "header", true, OPT_HEADER},
    {'q', "quiet", false, OPT_QUIET},
    {'h', "help", false, OPT_HELP},
    {'V', "version", false, OPT_VERSION},
};

static const struct bench_opt_def *bench_args_find(const char *arg, char *name, size_t name_cap,
                                                   const char **inline_val)
{
	*inline_val = NULL;
	if (arg[1] == '-') {
		const char *n = arg + 2;
		const char *eq = strchr(n, '=');
		size_t nlen = eq ? (size_t)(eq - n) : strlen(n);
		snprintf(name, name_cap, "--%.*s", (int)nlen, n);
		for (size_t i = 0; i < sizeof(bench_opts) / sizeof(bench_opts[0]); i++) {
			if (strlen(bench_opts[i].long_name) == nlen &&
			    memcmp(bench_opts[i].long_name, n, nlen) == 0) {
				if (eq)
					*inline_val = eq + 1;
				return &bench_opts[i];
			}
		}
		return NULL;
	}
	snprintf(name, name_cap, "-%c", arg[1]);
	for (size_t i = 0; i < sizeof(bench_opts) / sizeof(bench_opts[0]); i++) {
		if (bench_opts[i].short_name == arg[1]) {
			if (arg[2] != '\0')
				*inline_val = arg + 2;
			return &bench_opts[i];
		}
	}
	return NULL;
}

enum bench_args_rc bench_args_parse(struct bench_args *a, int argc, char *const argv[], char *err,
                                    size_t err_cap)
{
	const char *url = NULL;
	bool pipeline_set = false, only_args = false;

	memset(a, 0, sizeof(*a));
	a->conns = BENCH_DEFAULT_CONNS;
	a->duration_ns = BENCH_DEFAULT_DURATION_NS;
	a->size = BENCH_DEFAULT_SIZE;
	a->pipeline = BENCH_DEFAULT_PIPELINE;
	if (err_cap)
		err[0] = '\0';

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (only_args || arg[0] != '-' || arg[1] == '\0') {
			if (url != NULL) {
				bench_args_err(err, err_cap,
				               "unexpected argument '%s' (one URL only)", arg);
				return BENCH_ARGS_USAGE;
			}
			url = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_args = true;
			continue;
		}
		char name[64];
		const char *val;
		const struct bench_opt_def *o = bench_args_find(arg, name, sizeof(name), &val);
		if (o == NULL) {
			bench_args_err(err, err_cap, "unknown option '%s' (see --help)", name);
			return BENCH_ARGS_USAGE;
		}
		if (!o->has_arg && val != NULL) {
			bench_args_err(err, err_cap, "%s takes no value", name);
			return BENCH_ARGS_USAGE;
		}
		if (o->has_arg && val == NULL) {
			if (i + 1 >= argc) {
				bench_args_err(err, err_cap, "%s needs a value", name);
				return BENCH_ARGS_USAGE;
			}
			val = argv[++i];
		}
		uint64_t u;
		double d;
		const char *rest;
		switch (o->id) {
		case OPT_CONNS:
			if (bench_args_parse_uint(val, 1, BENCH_MAX_CONNS, &u) != 0)
				goto bad_range;
			a->conns = (unsigned)u;
			break;
		case OPT_THREADS:
			if (bench_args_parse_uint(val, 1, BENCH_MAX_THREADS, &u) != 0)
				goto bad_range;
			a->threads = (unsigned)u;
			break;
		case OPT_DURATION:
			if (bench_args_parse_duration(val, &a->duration_ns) != 0 ||
			    a->duration_ns == 0)
				goto bad_duration;
			break;
		case OPT_WARMUP:
			if (bench_args_parse_duration(val, &a->warmup_ns) != 0)
				goto bad_duration;
			break;
		case OPT_SIZE:
			if (bench_args_parse_size(val, &a->size) != 0 || a->size == 0 ||
			    a->size > BENCH_MAX_SIZE) {
				bench_args_err(err, err_cap,
				               "%s: bad size '%s' (1 to 64m; k, m, g suffixes)",
				               name, val);
				return BENCH_ARGS_USAGE;
			}
			break;
		case OPT_PIPELINE:
			if (bench_args_parse_uint(val, 1, BENCH_MAX_PIPELINE, &u) != 0)
				goto bad_range;
			a->pipeline = (unsigned)u;
			pipeline_set = true;
			break;
		case OPT_TEXT:
			a->text = true;
			break;
		case OPT_BINARY:
			a->text = false;
			break;
		case OPT_RATE:
		case OPT_CONNECT_RATE:
			if (bench_args_parse_number(val, &d, &rest) != 0 || *rest != '\0' ||
			    !(d > 0) || d > 1e9) {
				bench_args_err(err, err_cap,
				               "%s: bad rate '%s' (a positive number per second)",
				               name, val);
				return BENCH_ARGS_USAGE;
			}
			if (o->id == OPT_RATE)
				a->rate = d;
			else
				a->connect_rate = d;
			break;
		case OPT_IDLE:
			a->idle = true;
			break;
		case OPT_CHURN:
			a->churn = true;
			break;
		case OPT_SRC_IPS:
			if (bench_args_parse_uint(val, 1, BENCH_MAX_SRC_IPS, &u) != 0)
				goto bad_range;
			a->src_ips = (unsigned)u;
			break;
		case OPT_INSECURE:
			a->insecure = true;
			break;
		case OPT_TLS_RESUME:
			a->tls_resume = true;
			break;
		case OPT_TLS_VERSION:
			if (strcmp(val, "1.2") == 0) {
				a->tls_version = 12;
			} else if (strcmp(val, "1.3") == 0) {
				a->tls_version = 13;
			} else {
				bench_args_err(err, err_cap,
				               "%s: invalid version '%s' (1.2 or 1.3)", name, val);
				return BENCH_ARGS_USAGE;
			}
			break;
		case OPT_CA:
			if (*val == '\0') {
				bench_args_err(err, err_cap, "%s: empty file name", name);
				return BENCH_ARGS_USAGE;
			}
			a->ca_file = val;
			break;
		case OPT_JSON:
			a->json = true;
			break;
		case OPT_HISTOGRAM:
			if (*val == '\0') {
				bench_args_err(err, err_cap, "%s: empty file name", name);
				return BENCH_ARGS_USAGE;
			}
			a->histogram_file = val;
			break;
		case OPT_HEADER: {
			char why[128], shown[80];
			size_t hlen = strlen(val);
			if (bench_args_check_header(val, why, sizeof(why)) != 0) {
				bench_args_err(err, err_cap, "%s: bad header '%s': %s", name,
				               bench_args_escape(val, shown, sizeof(shown)), why);
				return BENCH_ARGS_USAGE;
			}
			if (a->n_headers == BENCH_HEADERS_MAX) {
				bench_args_err(err, err_cap, "%s: more than %u headers (at '%s')",
				               name, BENCH_HEADERS_MAX,
				               bench_args_escape(val, shown, sizeof(shown)));
				return BENCH_ARGS_USAGE;
			}
			if (hlen + 2 > BENCH_HEADERS_BYTES_MAX - a->headers_bytes) {
				bench_args_err(err, err_cap,
				               "%s: headers over %u bytes in all (at '%s')", name,
				               BENCH_HEADERS_BYTES_MAX,
				               bench_args_escape(val, shown, sizeof(shown)));
				return BENCH_ARGS_USAGE;
			}
			a->headers[a->n_headers++] = val;
			a->headers_bytes += hlen + 2;
			break;
		}
		case OPT_QUIET:
			a->quiet = true;
			break;
		case OPT_HELP:
			a->help = true;
			return BENCH_ARGS_EXIT;
		case OPT_VERSION:
			a->version = true;
			return BENCH_ARGS_EXIT;
		}
		continue;
bad_range:
		bench_args_err(err, err_cap, "%s: bad value '%s' (a whole number, %s)", name, val,
		               o->id == OPT_CONNS      ? "1 to 10000000"
		               : o->id == OPT_THREADS  ? "1 to 1024"
		               : o->id == OPT_PIPELINE ? "1 to 65536"
		                                       : "1 to 65534");
		return BENCH_ARGS_USAGE;
bad_duration:
		bench_args_err(err, err_cap, "%s: bad duration '%s' (e.g. 500ms, 10s, 2m, 1h)",
		               name, val);
		return BENCH_ARGS_USAGE;
	}

	if (url == NULL) {
		bench_args_err(err, err_cap, "missing URL (ws://host:port/path or wss://...)");
		return BENCH_ARGS_USAGE;
	}
	char why[128];
	if (bench_args_parse_url(&a->url, url, why, sizeof(why)) != 0) {
		bench_args_err(err, err_cap, "bad URL '%s': %s", url, why);
		return BENCH_ARGS_USAGE;
	}
	if (a->rate > 0 && pipeline_set) {
		bench_args_err(err, err_cap,
		               "--rate and -p exclude each other (open loop has no pipeline)");
		return BENCH_ARGS_USAGE;
	}
	if (a->churn && (a->idle || a->rate > 0 || pipeline_set)) {
		bench_args_err(err, err_cap, "--churn excludes %s (one message per connection)",
		               a->idle       ? "--idle"
		               : a->rate > 0 ? "--rate"
		                             : "-p");
		return BENCH_ARGS_USAGE;
	}
	if (a->idle && a->rate > 0) {
		bench_args_err(err, err_cap, "--idle and --rate exclude each other");
		return BENCH_ARGS_USAGE;
	}
	if (a->insecure && a->ca_file != NULL) {
		bench_args_err(err, err_cap, "--insecure and --ca exclude each other");
		return BENCH_ARGS_USAGE;
	}
	if (!a->url.tls && (a->insecure || a->ca_file != NULL || a->tls_resume || a->tls_version)) {
		bench_args_err(err, err_cap, "%s needs a wss:// URL",
		               a->insecure          ? "--insecure"
		               : a->ca_file != NULL ? "--ca"
		               : a->tls_resume      ? "--tls-resume"
		                                    : "--tls-version");
		return BENCH_ARGS_USAGE;
	}
	unsigned ts = a->text ? BENCH_TS_TEXT : BENCH_TS_BINARY;
	if (!a->idle && a->size < ts) {
		bench_args_err(err, err_cap,
		               "-s: %llu bytes cannot hold the %u-byte send timestamp every %s "
		               "message carries (use -s %u or more)",
		               (unsigned long long)a->size, ts, a->text ? "text" : "binary", ts);
		return BENCH_ARGS_USAGE;
	}
	if (a->src_ips > 0 && a->url.host[0] != '\0' && strchr(a->url.host, ':') != NULL) {
		bench_args_err(err, err_cap, "--src-ips binds 127.0.0.x: needs an IPv4 target");
		return BENCH_ARGS_USAGE;
	}
	return BENCH_ARGS_OK;
}

const char *bench_args_usage(void)
{
	return "usage: wsgate-bench [options] URL\n"
	       "\n"
	       "WebSocket load generator. URL is ws://host[:port][/path] or wss://...\n"
	       "Each connection sends masked client frames and expects them echoed back\n"
	       "(run it against wsgate-echo, or wsgate in front of it).\n"
	       "\n"
	       "Load:\n"
	       "  -c, --conns N         connections, all threads together (default 10)\n"
	       "  -t, --threads N       event loops, one per thread (default: one per CPU,\n"
	       "                        at most one per connection)\n"
	       "  -d, --duration DUR    measured time (default 10s; ms, s, m, h)\n"
	       "      --warmup DUR      traffic before measuring starts (default 0)\n"
	       "  -s, --size SIZE       message payload bytes (default 64; k, m suffixes);\n"
	       "                        at least 8 (--binary) or 16 (--text): see Latency\n"
	       "  -p, --pipeline N      closed loop: messages in flight per connection\n"
	       "                        (default 1); each echo releases the next message\n"
	       "      --rate R          open loop: R messages/s in total, paced evenly over\n"
	       "                        the connections, whatever the echoes do\n"
	       "      --text            send text messages (valid UTF-8)\n"
	       "      --binary          send binary messages (default)\n"
	       "      --idle            open the connections and hold them for the duration\n"
	       "                        without traffic (answers pings only)\n"
	       "      --churn           each connection: upgrade, one message, close, and\n"
	       "                        again until the end (connections/s in the report)\n"
	       "      --connect-rate R  open at most R new connections per second\n"
	       "      --src-ips N       bind successive connections to 127.0.0.2 .. 127.0.0.N+1\n"
	       "                        (more than 64k loopback connections to one port)\n"
	       "\n"
	       "TLS (wss://):\n"
	       "      --ca FILE         verify the server against these CA certificates\n"
	       "                        (default: the system store)\n"
	       "      --insecure        do not verify the server certificate\n"
	       "      --tls-resume      a reconnect (--churn) resumes the loop's last session\n"
	       "                        (tickets), so handshakes are abbreviated ones\n"
	       "      --tls-version V   1.2 or 1.3 only (default: either, 1.3 preferred)\n"
	       "\n"
	       "Request:\n"
	       "  -H, --header \"N: v\"  add this header line to every upgrade request\n"
	       "                        (repeatable, at most 16 and 8 KiB in all; not Host,\n"
	       "                        Upgrade, Connection, Sec-WebSocket-Key/-Version or\n"
	       "                        User-Agent, which the tool sends itself),\n"
	       "                        e.g. -H \"Authorization: Bearer TOKEN\"\n"
	       "\n"
	       "Output:\n"
	       "      --json            print one JSON object with every figure on stdout\n"
	       "      --histogram FILE  write the latency distribution as CSV\n"
	       "  -q, --quiet           no progress line (shown only when stderr is a terminal)\n"
	       "  -h, --help            this text\n"
	       "  -V, --version         print the version\n"
	       "\n"
	       "Latency: every message carries its send time (CLOCK_MONOTONIC, ns) in its\n"
	       "first 8 payload bytes (binary), or as 16 hex digits (text); the echo's arrival\n"
	       "minus that time is recorded in a log-linear histogram (1 us .. 60 s, <1% error).\n"
	       "In open loop the time written is the scheduled send time, so a stall of the\n"
	       "server (or of this tool) shows up in the latency of every message it delays\n"
	       "(no coordinated omission). Messages sent before the warm-up ends are not\n"
	       "counted. Frames are masked with a fresh random mask each.\n"
	       "\n"
	       "At the end every connection sends close 1000 and waits (at most 2 s) for the\n"
	       "echoes still in flight and the close handshake.\n"
	       "\n"
	       "Exit status: 0 the run completed with every connection up to the end;\n"
	       "1 a connection failed (refused, TLS, handshake: reason on stderr, summary\n"
	       "still printed when any connection ran) or the run was interrupted;\n"
	       "2 bad usage.\n";
}
