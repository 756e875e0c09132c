#ifndef WSG_CORE_ACCESS_LOG_H
#define WSG_CORE_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The access log (--access-log FILE|-): one JSON object per line for every connection that sent
 * a request head, written when it ends. Workers fill a fixed-size record into their own ring
 * (no lock, no syscall, no formatting); the control thread drains every ring on its loop turn,
 * renders the JSON and appends it to the file with one write per batch. SIGUSR1 reopens the
 * file (log rotation). A full ring drops the record and counts it. */

#define ACCESS_ID_MAX      48
#define ACCESS_PEER_MAX    56
#define ACCESS_ROUTE_MAX   256
#define ACCESS_BACKEND_MAX 256
#define ACCESS_SUBJECT_MAX 256
#define ACCESS_REASON_MAX  24

/* What a worker knows when a connection ends. Strings are NUL-terminated copies (cut to
 * fit); an empty string is written as null. */
struct access_record {
	uint64_t time_ms;     /* wall clock at the end (Unix ms) */
	uint64_t duration_ms; /* accept to end */
	uint64_t msgs_up, msgs_down, bytes_up, bytes_down;
	uint16_t status;     /* 101, the rejection's status, a relayed status, 499: client left */
	uint16_t close_code; /* the first close code on the wire; 0: none (null) */
	uint8_t closed_by;   /* enum metrics_side; ACCESS_CLOSED_BY_NONE: null */
	char id[ACCESS_ID_MAX];
	char peer[ACCESS_PEER_MAX];
	char route[ACCESS_ROUTE_MAX];
	char backend[ACCESS_BACKEND_MAX];
	char reason[ACCESS_REASON_MAX];
	char subject[ACCESS_SUBJECT_MAX];
};
#define ACCESS_CLOSED_BY_NONE 0xffu

struct access_ring;

/* Opens path ("-": stderr) for appending (created 0640 when missing). 0, or -1 with one line
 * in err naming the file. Control thread, before the workers start. */
int access_log_open(const char *path, char *err, size_t err_len);
/* True once access_log_open succeeded (workers read it to skip the work otherwise). */
bool access_log_on(void);
/* SIGUSR1: the file again by its name (after logrotate moved it). Control thread. */
void access_log_reopen(void);
/* Closes the file after a last drain. Control thread, after the workers are joined. */
void access_log_close(void);

/* A ring for one worker (NULL when out of memory: that worker's records are counted as
 * dropped). Control thread, before the worker starts; freed after it is joined. */
struct access_ring *access_ring_new(void);
void access_ring_free(struct access_ring *r);
/* Owning worker: queues *rec (copied); false when the ring was full (dropped, counted). */
bool access_ring_push(struct access_ring *r, const struct access_record *rec);
/* Control thread: renders and writes every record queued in the n rings. */
void access_log_drain(struct access_ring *const *rings, unsigned n);
/* Records dropped so far because a ring was full (any thread). */
uint64_t access_log_dropped(void);

/* One record as a JSON line (with '\n') into buf; returns the length, or 0 when cap is too
 * small. Exposed for the unit test. */
size_t access_log_render(const struct access_record *rec, char *buf, size_t cap);

#endif
