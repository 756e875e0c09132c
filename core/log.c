/* core/log.c: the event log (STYLE.md 7).
 *
 * Owns: one SPSC ring of fixed-size text lines per registered thread, the list of those rings,
 * the drain thread, and the text -> JSON rendering.
 *
 * Producer (any registered thread, usually a worker): checks the level with a relaxed load,
 * formats `ts=... lvl=... [wrk=N] ev=... <fmt output>` straight into the next free slot and
 * publishes it with a release store of its tail. No lock, no syscall: the timestamp comes from
 * clock_gettime(CLOCK_REALTIME) (vDSO) and the per-second part of it is cached per thread. A full
 * ring drops the line and bumps the ring's own drop counter (single writer: relaxed load plus
 * store), which log_dropped_total sums.
 *
 * Consumer (the drain thread every 50 ms, or log_drain from tests and exit paths; one at a time
 * under log_drain_mu): copies slots into a batch buffer (rendering JSON there when the format
 * is json, so workers never pay for it), hands each slot back with a release store of the
 * ring's head, and writes each full batch with one write(2).
 *
 * Lines are stored in text form. Raw control bytes in the formatted output become '?', so a
 * line can never be split; a line longer than a slot is cut on a UTF-8 boundary, an open quoted
 * value is closed and ` trunc=1` appended. The JSON renderer turns each key=value token into
 * a JSON member (bare values that are JSON numbers as numbers, everything else as strings),
 * gathers tokens that are not key=value into "msg", and escapes every byte so the output is
 * valid JSON (and valid UTF-8) whatever the values hold: invalid UTF-8 bytes become the text
 * \xNN, the same form log_escape uses.
 *
 * Lifetime: rings are never freed while their thread lives. A thread-exit destructor marks the
 * ring dead; the drainer frees it once empty, folding its drop count into a retired total.
 *
 * Rejected: a shared MPSC queue (a contended cache line on every log call from every worker);
 * formatting in the drain thread from captured arguments (%s pointers would dangle); waking the
 * drain thread from producers (a syscall on the worker; a 256-line ring per 50 ms is ample
 * for rate-limited events, and the drop counter says when it is not). */
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_RING_SLOTS      256u                      /* power of two */
#define LOG_LINE_MAX        512u                      /* bytes per slot, text form, NUL included */
#define LOG_JSON_MAX        (LOG_LINE_MAX * 8u + 64u) /* any line renders within this */
#define LOG_BATCH_MAX       (64u * 1024u)
#define LOG_DRAIN_PERIOD_MS 50
#define LOG_DRAIN_IDLE_MS   400 /* the period after drains that found nothing, doubling up to */
#define LOG_TRUNC_SUFFIX    "\" trunc=1" /* the quote is written only when a value is open */

_Static_assert((LOG_RING_SLOTS & (LOG_RING_SLOTS - 1u)) == 0, "ring slots: power of two");
_Static_assert(LOG_LINE_MAX <= UINT16_MAX, "line lengths are stored as uint16_t");

struct log_ring {
	_Alignas(
	    64) _Atomic uint32_t head; /* written: drainer (release); read: producer (acquire) */
	_Alignas(
	    64) _Atomic uint32_t tail; /* written: producer (release); read: drainer (acquire) */
	_Atomic uint64_t dropped;      /* written: producer (relaxed); read: any (relaxed) */
	_Atomic bool dead;             /* written: thread-exit destructor (release) */
	struct log_ring *next;         /* ring list, under log_list_mu */
	uint16_t len[LOG_RING_SLOTS];  /* bytes in each slot's line */
	char line[LOG_RING_SLOTS][LOG_LINE_MAX];
};

static const char *const log_level_names[] = {"debug", "info", "warn", "error"};

static _Atomic int log_level = CFG_LOG_INFO;
static _Atomic int log_format = CFG_LOG_TEXT;
static _Atomic int log_fd = STDERR_FILENO;
static _Atomic bool log_draining; /* drain thread running: registered threads queue */

static pthread_mutex_t log_list_mu = PTHREAD_MUTEX_INITIALIZER;
static struct log_ring *log_rings;   /* under log_list_mu */
static uint64_t log_retired_dropped; /* drops of freed rings, under log_list_mu */

static pthread_mutex_t log_drain_mu = PTHREAD_MUTEX_INITIALIZER; /* one consumer at a time */
static char log_batch[LOG_BATCH_MAX];                            /* under log_drain_mu */

static pthread_once_t log_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t log_key;
static bool log_key_ok;

/* Drain thread control; log_start_drain/log_stop_drain run on one (control) thread. */
static pthread_mutex_t log_thr_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t log_thr_cv;
static bool log_thr_stop; /* under log_thr_mu */
static bool log_thr_running;
static pthread_t log_thr;

static _Thread_local struct log_ring *log_tl_ring;
static _Thread_local int log_tl_worker = -1;
static _Thread_local time_t log_tl_sec = (time_t)-1;
static _Thread_local char log_tl_secstr[32]; /* "YYYY-MM-DDTHH:MM:SS" for log_tl_sec */

/* ---- output ---------------------------------------------------------------------------- */

struct log_out {
	char *p;
	size_t len, cap;
};

static void log_out_put(struct log_out *o, const char *s, size_t n)
{
	if (n > o->cap - o->len)
		n = o->cap - o->len; /* cannot happen within LOG_JSON_MAX; never overrun */
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void log_out_ch(struct log_out *o, char c)
{
	log_out_put(o, &c, 1);
}

static void log_write_all(const char *p, size_t n)
{
	int fd = atomic_load_explicit(&log_fd, memory_order_relaxed);

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return; /* nowhere to report it; the lines are lost */
		}
		p += w;
		n -= (size_t)w;
	}
}

/* ---- tokens of a text line ------------------------------------------------------------- */

struct log_tok {
	const char *key; /* NULL: not a key=value token; val is the whole token */
	size_t key_len;
	const char *val; /* raw: still backslash-escaped when quoted */
	size_t val_len;
	bool quoted;
	bool open;         /* quoted value ran to the end of the input */
	bool dangling_esc; /* open, and the input ends right after a backslash */
};

static bool log_is_key_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-';
}

/* Reads the token at p (skipping spaces); returns where the next one may start, or NULL when
 * [p, end) holds no more tokens. A value is quoted when its first byte is '"'; inside, a
 * backslash escapes the next byte and an unescaped '"' ends it. */
static const char *log_tok_next(const char *p, const char *end, struct log_tok *t)
{
	while (p < end && *p == ' ')
		p++;
	if (p == end)
		return NULL;
	memset(t, 0, sizeof(*t));

	const char *start = p;
	while (p < end && log_is_key_char((unsigned char)*p))
		p++;
	if (p == start || p == end || *p != '=') {
		p = start;
		while (p < end && *p != ' ')
			p++;
		t->val = start;
		t->val_len = (size_t)(p - start);
		return p;
	}
	t->key = start;
	t->key_len = (size_t)(p - start);
	p++;
	if (p < end && *p == '"') {
		t->quoted = true;
		t->val = ++p;
		while (p < end) {
			if (*p == '\\') {
				if (p + 1 == end) {
					t->dangling_esc = true;
					p = end;
					break;
				}
				p += 2;
				continue;
			}
			if (*p == '"') {
				t->val_len = (size_t)(p - t->val);
				return p + 1;
			}
			p++;
		}
		if (p > end)
			p = end;
		t->open = true;
		t->val_len = (size_t)(p - t->val);
		return p;
	}
	t->val = p;
	while (p < end && *p != ' ')
		p++;
	t->val_len = (size_t)(p - t->val);
	return p;
}

/* ---- JSON rendering -------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence starting at s[0] (a byte >= 0x80), or 0 when invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t log_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* Writes s as the inside of a JSON string. unescape: s is a quoted text value, so \" and \\
 * stand for one byte (other backslashes are literal, which keeps \xNN as that text). */
static void log_json_str(struct log_out *o, const char *str, size_t n, bool unescape)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		char esc[8];

		if (unescape && c == '\\' && i + 1 < n && (s[i + 1] == '"' || s[i + 1] == '\\'))
			c = s[++i];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			log_out_put(o, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			log_out_put(o, esc, 6);
		} else if (c < 0x80) {
			log_out_ch(o, (char)c);
		} else {
			size_t u = log_utf8_len(s + i, n - i);
			if (u != 0) {
				log_out_put(o, (const char *)s + i, u);
				i += u - 1;
			} else {
				memcpy(esc, "\\\\x", 3);
				esc[3] = hex[c >> 4];
				esc[4] = hex[c & 15];
				log_out_put(o, esc, 5);
			}
		}
	}
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? (RFC 8259 6) */
static bool log_is_json_number(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i == n)
		return false;
	if (s[i] == '0') {
		i++;
	} else if (s[i] >= '1' && s[i] <= '9') {
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else {
		return false;
	}
	if (i < n && s[i] == '.') {
		size_t d = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t d = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	return i == n;
}

/* Renders text line [line, line + n) as one JSON object (no newline). */
static void log_render_json(struct log_out *o, const char *line, size_t n)
{
	const char *end = line + n, *p;
	struct log_tok t;
	bool first = true, any_msg = false;

	log_out_ch(o, '{');
	for (p = line; (p = log_tok_next(p, end, &t)) != NULL;) {
		if (t.key == NULL) {
			any_msg = true;
			continue;
		}
		if (!first)
			log_out_ch(o, ',');
		first = false;
		log_out_ch(o, '"');
		log_json_str(o, t.key, t.key_len, false);
		log_out_put(o, "\":", 2);
		if (!t.quoted && log_is_json_number(t.val, t.val_len)) {
			log_out_put(o, t.val, t.val_len);
		} else {
			log_out_ch(o, '"');
			log_json_str(o, t.val, t.val_len, t.quoted);
			log_out_ch(o, '"');
		}
	}
	if (any_msg) {
		bool sep = false;
		log_out_put(o, first ? "\"msg\":\"" : ",\"msg\":\"", first ? 7 : 8);
		for (p = line; (p = log_tok_next(p, end, &t)) != NULL;) {
			if (t.key != NULL)
				continue;
			if (sep)
				log_out_ch(o, ' ');
			sep = true;
			log_json_str(o, t.val, t.val_len, false);
		}
		log_out_ch(o, '"');
	}
	log_out_ch(o, '}');
}

/* Appends one line plus newline in the configured format. o must have LOG_JSON_MAX + 1 free. */
static void log_render(struct log_out *o, const char *line, size_t n)
{
	if (atomic_load_explicit(&log_format, memory_order_relaxed) == CFG_LOG_JSON)
		log_render_json(o, line, n);
	else
		log_out_put(o, line, n);
	log_out_ch(o, '\n');
}

/* ---- producing a line ------------------------------------------------------------------ */

/* Cuts an over-long line so it still parses: on a UTF-8 boundary, outside an escape, with an
 * open quoted value closed, and marked ` trunc=1`. body is where the caller's text starts. */
static size_t log_truncate(char *buf, size_t body)
{
	size_t cut = LOG_LINE_MAX - sizeof(LOG_TRUNC_SUFFIX);
	struct log_tok t = {0};
	bool open = false;

	while (cut > body && ((unsigned char)buf[cut] & 0xc0) == 0x80)
		cut--;
	for (const char *p = buf + body; (p = log_tok_next(p, buf + cut, &t)) != NULL;)
		open = t.open;
	if (open && t.dangling_esc)
		cut--;
	if (open)
		buf[cut++] = '"';
	memcpy(buf + cut, &LOG_TRUNC_SUFFIX[1], sizeof(LOG_TRUNC_SUFFIX) - 1);
	return cut + sizeof(LOG_TRUNC_SUFFIX) - 2;
}

/* Formats the text form of a line into buf (LOG_LINE_MAX bytes); returns its length. */
__attribute__((format(printf, 4, 0))) static size_t
log_format_line(char *buf, enum cfg_log_level level, const char *ev, const char *fmt, va_list ap)
{
	struct timespec ts;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != log_tl_sec) {
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		strftime(log_tl_secstr, sizeof(log_tl_secstr), "%Y-%m-%dT%H:%M:%S", &tm);
		log_tl_sec = ts.tv_sec;
	}
	const char *lvl = (unsigned)level < 4 ? log_level_names[level] : "error";
	if (ev == NULL)
		ev = "-";
	if (log_tl_worker >= 0)
		n = snprintf(buf, LOG_LINE_MAX, "ts=%s.%03ldZ lvl=%s wrk=%d ev=%s", log_tl_secstr,
		             ts.tv_nsec / 1000000, lvl, log_tl_worker, ev);
	else
		n = snprintf(buf, LOG_LINE_MAX, "ts=%s.%03ldZ lvl=%s ev=%s", log_tl_secstr,
		             ts.tv_nsec / 1000000, lvl, ev);
	if (n < 0)
		n = 0;
	size_t len = (size_t)n, body = len + 1;
	if (body + sizeof(LOG_TRUNC_SUFFIX) >= LOG_LINE_MAX) {
		/* Only an absurd ev gets here: keep the prefix, cut inside ev. */
		len = len < LOG_LINE_MAX - 1 ? len : LOG_LINE_MAX - 1;
	} else {
		buf[len] = ' ';
		int m = vsnprintf(buf + body, LOG_LINE_MAX - body, fmt, ap);
		if (m <= 0)
			buf[len] = '\0';
		else if ((size_t)m < LOG_LINE_MAX - body)
			len = body + (size_t)m;
		else
			len = log_truncate(buf, body);
	}
	/* A raw newline (or any control byte) would split or garble the line. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	buf[len] = '\0';
	return len;
}

bool log_enabled(enum cfg_log_level level)
{
	return (int)level >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

void log_emit(enum cfg_log_level level, const char *ev, const char *fmt, ...)
{
	struct log_ring *r = log_tl_ring;
	va_list ap;

	if (!log_enabled(level))
		return;
	if (r != NULL && atomic_load_explicit(&log_draining, memory_order_relaxed)) {
		uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
		if (tail - head >= LOG_RING_SLOTS) {
			uint64_t d = atomic_load_explicit(&r->dropped, memory_order_relaxed);
			atomic_store_explicit(&r->dropped, d + 1, memory_order_relaxed);
			return;
		}
		uint32_t i = tail & (LOG_RING_SLOTS - 1u);
		va_start(ap, fmt);
		r->len[i] = (uint16_t)log_format_line(r->line[i], level, ev, fmt, ap);
		va_end(ap);
		atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
		return;
	}

	char line[LOG_LINE_MAX], out[LOG_JSON_MAX + 1];
	struct log_out o = {out, 0, sizeof(out)};
	va_start(ap, fmt);
	size_t n = log_format_line(line, level, ev, fmt, ap);
	va_end(ap);
	log_render(&o, line, n);
	log_write_all(out, o.len);
}

char *log_escape(char *dst, size_t cap, const char *src, size_t len, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (cap == 0)
		return dst;
	if (len > max)
		len = max;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		char esc[4];
		size_t n;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			n = 2;
		} else if (c >= 0x20 && c < 0x7f) {
			esc[0] = (char)c;
			n = 1;
		} else {
			esc[0] = '\\';
			esc[1] = 'x';
			esc[2] = hex[c >> 4];
			esc[3] = hex[c & 15];
			n = 4;
		}
		if (n > cap - 1 - o)
			break; /* never split an escape */
		memcpy(dst + o, esc, n);
		o += n;
	}
	dst[o] = '\0';
	return dst;
}

/* ---- setup, rings, draining ------------------------------------------------------------ */

int log_init(enum cfg_log_level level, enum cfg_log_format format)
{
	if ((unsigned)level > CFG_LOG_ERROR || (unsigned)format > CFG_LOG_JSON)
		return -1;
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
	atomic_store_explicit(&log_format, (int)format, memory_order_relaxed);
	return 0;
}

void log_set_output_fd(int fd)
{
	atomic_store_explicit(&log_fd, fd < 0 ? STDERR_FILENO : fd, memory_order_relaxed);
}

static void log_thread_exit(void *arg)
{
	struct log_ring *r = arg;

	log_tl_ring = NULL; /* later destructors that log write directly */
	atomic_store_explicit(&r->dead, true, memory_order_release);
}

static void log_key_create(void)
{
	log_key_ok = pthread_key_create(&log_key, log_thread_exit) == 0;
}

int log_thread_register(int worker)
{
	pthread_once(&log_key_once, log_key_create);
	if (!log_key_ok)
		return -1;
	log_tl_worker = worker < 0 ? -1 : worker;
	if (log_tl_ring != NULL)
		return 0;

	struct log_ring *r = aligned_alloc(64, sizeof(*r));
	if (r == NULL)
		return -1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->dropped, 0);
	atomic_init(&r->dead, false);
	if (pthread_setspecific(log_key, r) != 0) {
		free(r);
		return -1;
	}
	pthread_mutex_lock(&log_list_mu);
	r->next = log_rings;
	log_rings = r;
	pthread_mutex_unlock(&log_list_mu);
	log_tl_ring = r;
	return 0;
}

uint64_t log_dropped_total(void)
{
	pthread_mutex_lock(&log_list_mu);
	uint64_t n = log_retired_dropped;
	for (struct log_ring *r = log_rings; r != NULL; r = r->next)
		n += atomic_load_explicit(&r->dropped, memory_order_relaxed);
	pthread_mutex_unlock(&log_list_mu);
	return n;
}

/* Frees r (dead and empty); caller holds log_drain_mu. */
static void log_ring_retire(struct log_ring *r)
{
	pthread_mutex_lock(&log_list_mu);
	for (struct log_ring **pp = &log_rings; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	log_retired_dropped += atomic_load_explicit(&r->dropped, memory_order_relaxed);
	pthread_mutex_unlock(&log_list_mu);
	free(r);
}

static unsigned log_drain_lines(void);

void log_drain(void)
{
	(void)log_drain_lines();
}

/* log_drain, returning how many lines it wrote (the drain thread's backoff). */
static unsigned log_drain_lines(void)
{
	unsigned lines = 0;
	struct log_out o = {log_batch, 0, sizeof(log_batch)};

	pthread_mutex_lock(&log_drain_mu);
	pthread_mutex_lock(&log_list_mu);
	struct log_ring *r = log_rings;
	pthread_mutex_unlock(&log_list_mu);

	/* Only this (serialised) drainer unlinks rings, and pushes touch only the list head, so
	 * the next pointers read below are stable without log_list_mu. */
	while (r != NULL) {
		struct log_ring *next = r->next;
		bool dead = atomic_load_explicit(&r->dead, memory_order_acquire);
		uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
		uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

		/* One pass up to the tail seen now: a busy producer cannot keep us here. */
		for (; head != tail; head++) {
			uint32_t i = head & (LOG_RING_SLOTS - 1u);
			if (o.cap - o.len < LOG_JSON_MAX + 1) {
				log_write_all(o.p, o.len);
				o.len = 0;
			}
			log_render(&o, r->line[i], r->len[i]);
			atomic_store_explicit(&r->head, head + 1, memory_order_release);
			lines++;
		}
		if (dead)
			log_ring_retire(r);
		r = next;
	}
	if (o.len > 0)
		log_write_all(o.p, o.len);
	pthread_mutex_unlock(&log_drain_mu);
	return lines;
}

static void *log_drain_main(void *arg)
{
	(void)arg;
	/* Every 50 ms while lines come; after drains that found none, the period doubles up to
	 * LOG_DRAIN_IDLE_MS, so an idle gateway's drain thread wakes two or three times a second
	 * instead of twenty times (each wakeup costs tens of microseconds on a VM). The first lines
	 * after a quiet spell wait at most that long; at debug level the period stays short. */
	long period_ms = LOG_DRAIN_PERIOD_MS;
	pthread_mutex_lock(&log_thr_mu);
	while (!log_thr_stop) {
		pthread_mutex_unlock(&log_thr_mu);
		unsigned lines = log_drain_lines();
		if (lines > 0 || log_enabled(CFG_LOG_DEBUG))
			period_ms = LOG_DRAIN_PERIOD_MS;
		else if (period_ms < LOG_DRAIN_IDLE_MS)
			period_ms =
			    period_ms * 2 < LOG_DRAIN_IDLE_MS ? period_ms * 2 : LOG_DRAIN_IDLE_MS;
		pthread_mutex_lock(&log_thr_mu);

		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += period_ms * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		if (!log_thr_stop)
			pthread_cond_timedwait(&log_thr_cv, &log_thr_mu, &until);
	}
	pthread_mutex_unlock(&log_thr_mu);
	return NULL;
}

int log_start_drain(void)
{
	pthread_condattr_t ca;
	sigset_t all, old;

	if (log_thr_running)
		return 0;
	if (pthread_condattr_init(&ca) != 0)
		return -1;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&log_thr_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		return -1;
	log_thr_stop = false;
	atomic_store_explicit(&log_draining, true, memory_order_relaxed);

	/* Signals belong to the threads that handle them, never to the drain thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&log_thr, NULL, log_drain_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		atomic_store_explicit(&log_draining, false, memory_order_relaxed);
		pthread_cond_destroy(&log_thr_cv);
		return -1;
	}
	log_thr_running = true;
	return 0;
}

void log_stop_drain(void)
{
	if (!log_thr_running)
		return;
	/* From here producers write directly; what they queued is written below. A producer
	 * that read the flag just before this store may still queue one line after the final
	 * drain: it goes out with the next log_drain (if any). */
	atomic_store_explicit(&log_draining, false, memory_order_relaxed);
	pthread_mutex_lock(&log_thr_mu);
	log_thr_stop = true;
	pthread_cond_signal(&log_thr_cv);
	pthread_mutex_unlock(&log_thr_mu);
	pthread_join(log_thr, NULL);
	pthread_cond_destroy(&log_thr_cv);
	log_thr_running = false;
	log_drain();
}
