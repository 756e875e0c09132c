/* core/access_log.c: the access log (see access_log.h).
 *
 * Owns: the access log's file descriptor and its path (for SIGUSR1), one SPSC ring of fixed
 * records per worker, and the JSON rendering of a record.
 *
 * A worker fills a struct access_record when a connection ends and pushes it into its own ring
 * (a copy into the next slot and a release store of the tail): no lock, no syscall, no
 * formatting on the worker. The control thread, which wakes at least every 100 ms anyway,
 * drains every ring on each turn, renders each record as one JSON line into a batch buffer and
 * appends the batch with one write(2). When a ring is full the record is dropped and counted
 * (wsgate_access_log_dropped_total): a slow disk must never stall a worker.
 *
 * Rotation: SIGUSR1 opens the path again (O_APPEND | O_CREAT) and swaps the descriptor; the
 * control thread is the only writer, so there is no race with a write in progress. A reopen
 * that fails keeps writing to the old descriptor and says why in the event log.
 *
 * Rejected: text lines through the event log's rings (core/log.c): its 512-byte slots cut long
 * lines and its consumer writes to stderr only; a subject or a route path must never be cut in
 * the middle of a JSON string. Formatting on the worker: the JSON escaping of a 255-byte subject
 * costs more than copying the record. */
#include "core/access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"

#define ACCESS_RING_SLOTS 256u  /* power of two; about 250 KiB of records per worker */
#define ACCESS_LINE_MAX   8192u /* the longest record, every byte escaped */
#define ACCESS_BATCH_MAX  (64u * 1024u)

_Static_assert((ACCESS_RING_SLOTS & (ACCESS_RING_SLOTS - 1u)) == 0, "power of two");

struct access_ring {
	_Alignas(64) _Atomic uint32_t head; /* written: drainer (release) */
	_Alignas(64) _Atomic uint32_t tail; /* written: the worker (release) */
	struct access_record rec[ACCESS_RING_SLOTS];
};

static int access_fd = -1;
static bool access_own_fd; /* false for "-" (stderr: not ours to close or reopen) */
static char *access_path;
static _Atomic bool access_enabled;
static _Atomic uint64_t access_dropped;

static int access_open_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int access_log_open(const char *path, char *err, size_t err_len)
{
	if (strcmp(path, "-") == 0) {
		access_fd = STDERR_FILENO;
		access_own_fd = false;
	} else {
		int fd = access_open_file(path);
		if (fd == -1) {
			snprintf(err, err_len, "wsgate: --access-log \"%s\": %s", path,
			         strerror(errno));
			return -1;
		}
		access_fd = fd;
		access_own_fd = true;
	}
	free(access_path);
	access_path = strdup(path);
	atomic_store_explicit(&access_enabled, true, memory_order_release);
	return 0;
}

bool access_log_on(void)
{
	return atomic_load_explicit(&access_enabled, memory_order_relaxed);
}

void access_log_reopen(void)
{
	if (!access_own_fd || access_path == NULL)
		return;
	int fd = access_open_file(access_path);
	if (fd == -1) {
		LOG_ERROR("access_log_reopen_failed", "file=%s why=\"%s\"", access_path,
		          strerror(errno));
		return;
	}
	close(access_fd);
	access_fd = fd;
	LOG_INFO("access_log_reopened", "file=%s", access_path);
}

void access_log_close(void)
{
	atomic_store_explicit(&access_enabled, false, memory_order_release);
	if (access_own_fd && access_fd != -1)
		close(access_fd);
	access_fd = -1;
	access_own_fd = false;
	free(access_path);
	access_path = NULL;
}

struct access_ring *access_ring_new(void)
{
	/* calloc of this size is an mmap: untouched slots cost address space only. */
	return calloc(1, sizeof(struct access_ring));
}

void access_ring_free(struct access_ring *r)
{
	free(r);
}

bool access_ring_push(struct access_ring *r, const struct access_record *rec)
{
	if (r == NULL) {
		atomic_fetch_add_explicit(&access_dropped, 1, memory_order_relaxed);
		return false;
	}
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	if (tail - head >= ACCESS_RING_SLOTS) {
		atomic_fetch_add_explicit(&access_dropped, 1, memory_order_relaxed);
		return false;
	}
	r->rec[tail & (ACCESS_RING_SLOTS - 1u)] = *rec;
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return true;
}

uint64_t access_log_dropped(void)
{
	return atomic_load_explicit(&access_dropped, memory_order_relaxed);
}

struct access_out {
	char *p;
	size_t n, cap;
	bool full;
};

static void ao_put(struct access_out *o, const char *s, size_t n)
{
	if (o->full || o->n + n > o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
}

static void ao_lit(struct access_out *o, const char *s)
{
	ao_put(o, s, strlen(s));
}

static void ao_u64(struct access_out *o, uint64_t v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	ao_put(o, b, (size_t)n);
}

/* A JSON string (RFC 8259): quotes, backslash and control bytes escaped; bytes >= 0x80 that
 * are not valid UTF-8 as \u00XX of the byte, so the line stays valid UTF-8 whatever a value
 * holds (a subject comes from a token). An empty value is null. */
static void ao_str(struct access_out *o, const char *s)
{
	if (s[0] == '\0') {
		ao_lit(o, "null");
		return;
	}
	ao_lit(o, "\"");
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; u[i] != '\0';) {
		unsigned char c = u[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			ao_put(o, esc, 2);
			i++;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			ao_put(o, esc, 6);
			i++;
		} else if (c < 0x80) {
			ao_put(o, (const char *)&u[i], 1);
			i++;
		} else {
			/* The length of a well-formed UTF-8 sequence starting here, else 0. */
			size_t len = c >= 0xc2 && c <= 0xdf   ? 2
			             : c >= 0xe0 && c <= 0xef ? 3
			             : c >= 0xf0 && c <= 0xf4 ? 4
			                                      : 0;
			for (size_t k = 1; k < len; k++)
				if ((u[i + k] & 0xc0) != 0x80) {
					len = 0; /* stops at the NUL too: never reads past it */
					break;
				}
			if (len == 3 &&
			    ((c == 0xe0 && u[i + 1] < 0xa0) || (c == 0xed && u[i + 1] > 0x9f)))
				len = 0; /* overlong, or a surrogate */
			if (len == 4 &&
			    ((c == 0xf0 && u[i + 1] < 0x90) || (c == 0xf4 && u[i + 1] > 0x8f)))
				len = 0;
			if (len == 0) {
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				ao_put(o, esc, 6);
				i++;
			} else {
				ao_put(o, (const char *)&u[i], len);
				i += len;
			}
		}
	}
	ao_lit(o, "\"");
}

size_t access_log_render(const struct access_record *r, char *buf, size_t cap)
{
	struct access_out o = {buf, 0, cap, false};
	/* 80, not the 25 a date needs: gcc -O2 sizes each %d as 11 chars (-Wformat-truncation). */
	char ts[80];
	time_t secs = (time_t)(r->time_ms / 1000u);
	struct tm tm;
	gmtime_r(&secs, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	         (unsigned)(r->time_ms % 1000u));
	ao_lit(&o, "{\"time\":\"");
	ao_lit(&o, ts);
	ao_lit(&o, "\",\"id\":");
	ao_str(&o, r->id);
	ao_lit(&o, ",\"peer\":");
	ao_str(&o, r->peer);
	ao_lit(&o, ",\"route\":");
	ao_str(&o, r->route);
	ao_lit(&o, ",\"backend\":");
	ao_str(&o, r->backend);
	ao_lit(&o, ",\"status\":");
	ao_u64(&o, r->status);
	ao_lit(&o, ",\"reason\":");
	ao_str(&o, r->reason);
	ao_lit(&o, ",\"subject\":");
	ao_str(&o, r->subject);
	ao_lit(&o, ",\"duration_ms\":");
	ao_u64(&o, r->duration_ms);
	ao_lit(&o, ",\"msgs_up\":");
	ao_u64(&o, r->msgs_up);
	ao_lit(&o, ",\"msgs_down\":");
	ao_u64(&o, r->msgs_down);
	ao_lit(&o, ",\"bytes_up\":");
	ao_u64(&o, r->bytes_up);
	ao_lit(&o, ",\"bytes_down\":");
	ao_u64(&o, r->bytes_down);
	ao_lit(&o, ",\"close_code\":");
	if (r->close_code)
		ao_u64(&o, r->close_code);
	else
		ao_lit(&o, "null");
	ao_lit(&o, ",\"closed_by\":");
	const char *side = r->closed_by == ACCESS_CLOSED_BY_NONE
	                       ? NULL
	                       : metrics_side_label((enum metrics_side)r->closed_by);
	if (side != NULL) {
		ao_lit(&o, "\"");
		ao_lit(&o, side);
		ao_lit(&o, "\"");
	} else {
		ao_lit(&o, "null");
	}
	ao_lit(&o, "}\n");
	return o.full ? 0 : o.n;
}

static void access_write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(access_fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			/* A full disk: the lines are lost, the gateway goes on. Said at most once a
			 * batch, in the event log. */
			LOG_ERROR("access_log_write", "why=\"%s\"",
			          w < 0 ? strerror(errno) : "short");
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

void access_log_drain(struct access_ring *const *rings, unsigned n)
{
	if (access_fd == -1)
		return;
	static char batch[ACCESS_BATCH_MAX];
	size_t used = 0;
	for (unsigned i = 0; i < n; i++) {
		struct access_ring *r = rings[i];
		if (r == NULL)
			continue;
		uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
		uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		for (; head != tail; head++) {
			if (ACCESS_BATCH_MAX - used < ACCESS_LINE_MAX) {
				access_write_all(batch, used);
				used = 0;
			}
			used += access_log_render(&r->rec[head & (ACCESS_RING_SLOTS - 1u)],
			                          batch + used, ACCESS_LINE_MAX);
			atomic_store_explicit(&r->head, head + 1, memory_order_release);
		}
	}
	if (used > 0)
		access_write_all(batch, used);
}
