#ifndef WSG_BENCH_BENCH_ARGS_H
#define WSG_BENCH_BENCH_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* wsgate-bench's command line, parsed into a plain struct. Pure: no I/O, no globals, no
 * getopt state, so tests can parse as many command lines as they like. */

#define BENCH_HOST_MAX          255   /* DNS name limit */
#define BENCH_PATH_MAX          2048  /* path and query */
#define BENCH_HEADERS_MAX       16u   /* -H: extra request header lines */
#define BENCH_HEADERS_BYTES_MAX 8192u /* -H: all of them together, CRLFs included */

struct bench_url {
	bool tls;                           /* wss:// */
	char host[BENCH_HOST_MAX + 1];      /* name or address, IPv6 without brackets */
	uint16_t port;                      /* explicit, or 80 / 443 */
	char path[BENCH_PATH_MAX + 1];      /* origin-form target: "/" when the URL has none */
	char authority[BENCH_HOST_MAX + 9]; /* Host header value: host[:port] as in the URL */
};

struct bench_args {
	struct bench_url url;
	unsigned conns;             /* -c: connections, all threads together */
	unsigned threads;           /* -t: event loops; 0 = one per CPU (capped by conns) */
	uint64_t duration_ns;       /* -d: measured part of the run */
	uint64_t warmup_ns;         /* --warmup: traffic before measuring starts */
	uint64_t size;              /* -s: message payload bytes */
	unsigned pipeline;          /* -p: messages in flight per connection (closed loop) */
	bool text;                  /* --text (else --binary) */
	double rate;                /* --rate: messages/s, all connections; 0 = closed loop */
	double connect_rate;        /* --connect-rate: new connections/s; 0 = no ramp */
	bool idle;                  /* --idle: connect and hold, no traffic */
	bool churn;                 /* --churn: connect, one message, close, again */
	unsigned src_ips;           /* --src-ips: 0 = let the kernel pick */
	bool insecure;              /* --insecure: no certificate verification */
	const char *ca_file;        /* --ca, borrowed from argv; NULL = system store */
	bool tls_resume;            /* --tls-resume: reconnects resume the loop's last session */
	unsigned tls_version;       /* --tls-version 12 or 13 (only that one); 0 = 1.2 or 1.3 */
	bool json;                  /* --json */
	const char *histogram_file; /* --histogram, borrowed from argv */
	bool quiet;                 /* -q: no progress line even on a terminal */
	bool help;                  /* -h: print usage, exit 0 */
	bool version;               /* -V: print version, exit 0 */
	/* -H "Name: value" lines, validated, borrowed from argv, in the order given */
	const char *headers[BENCH_HEADERS_MAX];
	unsigned n_headers;   /* entries used in headers[] */
	size_t headers_bytes; /* sum of strlen(headers[i]) + 2 (CRLF) */
};

#define BENCH_DEFAULT_CONNS       10u
#define BENCH_DEFAULT_DURATION_NS 10000000000ull
#define BENCH_DEFAULT_SIZE        64u
#define BENCH_DEFAULT_PIPELINE    1u
#define BENCH_MAX_CONNS           10000000u
#define BENCH_MAX_THREADS         1024u
#define BENCH_MAX_SIZE            (64ull << 20)
#define BENCH_MAX_PIPELINE        65536u
#define BENCH_MAX_SRC_IPS         65534u
#define BENCH_TS_BINARY           8u  /* timestamp bytes at the start of a binary payload */
#define BENCH_TS_TEXT             16u /* the same timestamp as hex in a text payload */

enum bench_args_rc {
	BENCH_ARGS_OK = 0,    /* run */
	BENCH_ARGS_EXIT = 1,  /* -h or -V given: print and exit 0 */
	BENCH_ARGS_USAGE = 2, /* bad usage: print err (one line), exit 2 */
};

/* Parses argv[1..argc-1]: options (short ones as "-c 10" or "-c10", long ones as
 * "--rate 100" or "--rate=100") and exactly one URL, in any order; "--" ends options.
 * On BENCH_ARGS_USAGE err holds one line naming the flag or URL and the bad value. */
enum bench_args_rc bench_args_parse(struct bench_args *a, int argc, char *const argv[], char *err,
                                    size_t err_cap);

/* ws://host[:port][/path][?query] or wss://...; host may be [IPv6]. 0, or -1 with the reason
 * in err (without the URL itself). */
int bench_args_parse_url(struct bench_url *u, const char *s, char *err, size_t err_cap);

/* Durations: a number (decimals allowed) with ms, s, m or h; a bare number is seconds;
 * "us" is also accepted. 0 or -1. */
int bench_args_parse_duration(const char *s, uint64_t *ns);

/* Sizes: a whole number with an optional k, m or g suffix (1024-based). 0 or -1. */
int bench_args_parse_size(const char *s, uint64_t *out);

/* One -H value: "Name: value" with Name an RFC 9110 token and a value of visible bytes,
 * spaces and tabs (no CR, LF or other control bytes), and not a header the tool writes itself
 * (Host, Upgrade, Connection, Sec-WebSocket-Key, Sec-WebSocket-Version, User-Agent). 0, or -1
 * with the reason in err (without the value itself). */
int bench_args_check_header(const char *s, char *err, size_t err_cap);

/* The --help text. */
const char *bench_args_usage(void);

#endif
