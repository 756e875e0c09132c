#include "bench/bench_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_tls.h"

/* Design note. One conn's life: NEW -> CONNECTING (non-blocking connect) -> TLS (wss://) ->
 * UPGRADE (request written, response head read into a small buffer that is freed at once) ->
 * OPEN -> CLOSING (our close 1000 sent) -> DONE. Everything runs on the conn's loop thread,
 * driven by edge-triggered epoll: the socket is registered once for IN|OUT|RDHUP and never
 * modified, so every handler reads or writes until EAGAIN.
 *
 * Receive: the loop's shared rx buffer is used for every read; the only per-conn state kept
 * between reads is the RFC 6455 parser (proto/ws.h, WS_ROLE_CLIENT: it enforces every rule on
 * the server's frames), up to 13 bytes of a split frame header, and the first bytes of the
 * current message (its timestamp). Payloads are validated as they stream by and never
 * buffered, so a 64 MiB echo costs no memory.
 *
 * Send: frames are built in a per-conn out buffer sized for a few messages plus a small
 * reserve for pong and close frames. Each frame gets a fresh random mask (xorshift, not a
 * CSPRNG: RFC 6455 10.3's unpredictability protects intermediaries from chosen-plaintext
 * attacks, which a load tool does not need; the cost is the same as a fixed mask since the
 * payload is masked on every copy anyway). The timestamp is the first 8 payload bytes (little
 * endian) or 16 lower-case hex digits for text; the rest is ASCII, so text is valid UTF-8.
 * Closed loop: at most -p messages unanswered. Open loop: each message carries its scheduled
 * time, and a conn that cannot write just falls behind its schedule, which then shows in the
 * latency of every late message (no coordinated omission). */

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t bench_rand(struct bench_loop *l)
{
	uint64_t x = l->rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	l->rng = x;
	return x * 0x2545F4914F6CDD1Dull;
}

bool bench_conn_is_live(const struct bench_conn *c)
{
	return c->state != BENCH_CONN_NEW && c->state != BENCH_CONN_DONE;
}

static void bench_stats_add_code(struct bench_code_count *tab, unsigned *n, uint16_t code,
                                 uint64_t count)
{
	for (unsigned i = 0; i < *n; i++) {
		if (tab[i].code == code) {
			tab[i].count += count;
			return;
		}
	}
	/* The last slot is kept for code 0, "other". */
	if (*n < BENCH_CODES_MAX - 1 || (*n < BENCH_CODES_MAX && code == 0)) {
		tab[*n].code = code;
		tab[*n].count = count;
		(*n)++;
		return;
	}
	bench_stats_add_code(tab, n, 0, count);
}

void bench_stats_count_code(struct bench_code_count *tab, unsigned *n, uint16_t code)
{
	bench_stats_add_code(tab, n, code, 1);
}

static void bench_stats_merge_codes(struct bench_code_count *dst, unsigned *dn,
                                    const struct bench_code_count *src, unsigned sn)
{
	for (unsigned i = 0; i < sn; i++)
		bench_stats_add_code(dst, dn, src[i].code, src[i].count);
}

void bench_stats_merge(struct bench_stats *d, const struct bench_stats *s)
{
	d->msgs_sent += s->msgs_sent;
	d->msgs_rcvd += s->msgs_rcvd;
	d->win_sent += s->win_sent;
	d->win_msgs += s->win_msgs;
	d->win_bytes += s->win_bytes;
	d->unanswered += s->unanswered;
	d->bad_echoes += s->bad_echoes;
	d->conns_opened += s->conns_opened;
	d->win_conns += s->win_conns;
	d->connect_errors += s->connect_errors;
	d->tls_errors += s->tls_errors;
	d->tls_handshakes += s->tls_handshakes;
	d->tls_resumed += s->tls_resumed;
	d->handshake_errors += s->handshake_errors;
	d->proto_errors += s->proto_errors;
	d->unexpected_closes += s->unexpected_closes;
	d->close_timeouts += s->close_timeouts;
	d->pings += s->pings;
	bench_stats_merge_codes(d->close_codes, &d->n_close_codes, s->close_codes,
	                        s->n_close_codes);
	bench_stats_merge_codes(d->statuses, &d->n_statuses, s->statuses, s->n_statuses);
}

/* Releases everything but the socket's accounting; safe on any state. */
void bench_conn_finish(struct bench_conn *c)
{
	struct bench_loop *l = c->loop;

	if (c->state == BENCH_CONN_DONE || c->state == BENCH_CONN_NEW)
		return;
	if (c->state == BENCH_CONN_OPEN || c->state == BENCH_CONN_CLOSING) {
		atomic_store_explicit(&l->pub_open,
		                      atomic_load_explicit(&l->pub_open, memory_order_relaxed) - 1,
		                      memory_order_relaxed);
		if (c->sent > c->rcvd)
			l->st.unanswered += c->sent - c->rcvd;
	}
	if (c->ssl != NULL && l->run->args->tls_resume &&
	    (c->state == BENCH_CONN_OPEN || c->state == BENCH_CONN_CLOSING)) {
		/* The session as it ends: by now it holds the server's tickets (TLS 1.3 sends
		 * them after the handshake), so the next connection of this loop resumes. */
		void *saved = bench_tls_save(c->ssl);
		if (saved != NULL) {
			bench_tls_saved_free(l->tls_saved);
			l->tls_saved = saved;
		}
	}
	bench_tls_session_free(c->ssl);
	c->ssl = NULL;
	if (c->fd != -1) {
		close(c->fd); /* also leaves the epoll set: the fd is never duplicated */
		c->fd = -1;
	}
	free(c->head);
	c->head = NULL;
	free(c->out);
	c->out = NULL;
	c->out_cap = c->out_off = c->out_len = 0;
	c->state = BENCH_CONN_DONE;
	l->live--;
}

enum bench_fail_kind {
	BENCH_FAIL_CONNECT = 0,
	BENCH_FAIL_TLS,
	BENCH_FAIL_HANDSHAKE,
};

static void bench_conn_fail(struct bench_conn *c, enum bench_fail_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A conn that never opened: count it, remember the first reason, release it. */
static void bench_conn_fail(struct bench_conn *c, enum bench_fail_kind kind, const char *fmt, ...)
{
	struct bench_loop *l = c->loop;
	struct bench_run *r = l->run;

	if (kind == BENCH_FAIL_CONNECT)
		l->st.connect_errors++;
	else if (kind == BENCH_FAIL_TLS)
		l->st.tls_errors++;
	else
		l->st.handshake_errors++;
	if (l->first_err[0] == '\0') {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(l->first_err, sizeof(l->first_err), fmt, ap);
		va_end(ap);
	}
	l->pending--;
	atomic_fetch_add_explicit(&r->failed, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->settled, 1, memory_order_release);
	bench_conn_finish(c);
}

static const char *bench_conn_peer(const struct bench_conn *c, char *buf, size_t cap)
{
	const struct bench_url *u = &c->loop->run->args->url;
	snprintf(buf, cap, strchr(u->host, ':') ? "[%s]:%u" : "%s:%u", u->host, u->port);
	return buf;
}

/* Appends a control frame (masked) to the out buffer if the reserve allows. */
static bool bench_conn_queue_control(struct bench_conn *c, enum ws_op op, const uint8_t *payload,
                                     size_t len, uint16_t close_code)
{
	uint32_t m = (uint32_t)bench_rand(c->loop);
	uint8_t mask[4];
	memcpy(mask, &m, 4);

	if (c->out_off > 0 && c->tls_wlen == 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_cap - c->out_len < WS_HEADER_MAX + WS_CONTROL_MAX)
		return false;
	uint8_t *p = c->out + c->out_len;
	size_t n;
	if (op == WS_OP_CLOSE) {
		n = ws_encode_close(p, c->out_cap - c->out_len, close_code, NULL, 0, mask);
		if (n == 0)
			return false;
	} else {
		n = ws_encode_header(p, op, true, len, mask);
		memcpy(p + n, payload, len);
		ws_mask(p + n, len, mask, 0);
		n += len;
	}
	c->out_len += (uint32_t)n;
	return true;
}

/* Writes [out_off, out_len). 0 when everything was written or the socket is full; -1 when
 * the conn failed and is finished. */
static int bench_conn_flush(struct bench_conn *c);

/* The connection dropped or broke after the upgrade. */
static void bench_conn_lost(struct bench_conn *c)
{
	struct bench_loop *l = c->loop;

	if (c->state == BENCH_CONN_OPEN) {
		l->st.unexpected_closes++;
		bench_stats_count_code(l->st.close_codes, &l->st.n_close_codes, 1006);
	}
	bench_conn_finish(c);
}

static int bench_conn_flush(struct bench_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w;
		size_t len = c->out_len - c->out_off;
		if (c->ssl != NULL) {
			if (c->tls_wlen != 0)
				len = c->tls_wlen;
			w = bench_tls_write(c->ssl, c->out + c->out_off, len);
			if (w == BENCH_TLS_WANT_WRITE || w == BENCH_TLS_WANT_READ) {
				c->tls_wlen = (uint32_t)len;
				return 0;
			}
			c->tls_wlen = 0;
			if (w < 0)
				goto broken;
		} else {
			w = send(c->fd, c->out + c->out_off, len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w == -1) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return 0;
				if (errno == EINTR)
					continue;
				goto broken;
			}
		}
		c->out_off += (uint32_t)w;
	}
	c->out_off = c->out_len = 0;
	return 0;

broken:
	if (c->state < BENCH_CONN_OPEN) {
		char peer[300];
		bench_conn_fail(c, BENCH_FAIL_CONNECT, "connection to %s lost during the handshake",
		                bench_conn_peer(c, peer, sizeof(peer)));
	} else {
		bench_conn_lost(c);
	}
	return -1;
}

void bench_conn_begin_close(struct bench_conn *c)
{
	if (c->state != BENCH_CONN_OPEN)
		return;
	/* Frames we cannot send now are not worth more than the close: the run is over. */
	if (!bench_conn_queue_control(c, WS_OP_CLOSE, NULL, 0, 1000)) {
		bench_conn_finish(c);
		return;
	}
	c->state = BENCH_CONN_CLOSING;
	bench_conn_flush(c);
}

static void bench_conn_write_ts(uint8_t *p, uint64_t ts, bool text)
{
	if (text) {
		static const char hex[] = "0123456789abcdef";
		for (int i = 15; i >= 0; i--) {
			p[i] = (uint8_t)hex[ts & 0xf];
			ts >>= 4;
		}
	} else {
		for (int i = 0; i < 8; i++)
			p[i] = (uint8_t)(ts >> (8 * i));
	}
}

/* Decodes a timestamp; false when the bytes cannot be one of ours. */
static bool bench_conn_read_ts(const uint8_t *p, bool text, uint64_t *ts)
{
	uint64_t v = 0;
	if (text) {
		for (int i = 0; i < 16; i++) {
			uint8_t ch = p[i];
			unsigned d;
			if (ch >= '0' && ch <= '9')
				d = ch - '0';
			else if (ch >= 'a' && ch <= 'f')
				d = ch - 'a' + 10u;
			else
				return false;
			v = (v << 4) | d;
		}
	} else {
		for (int i = 7; i >= 0; i--)
			v = (v << 8) | p[i];
	}
	*ts = v;
	return true;
}

void bench_conn_pump(struct bench_conn *c, uint64_t now)
{
	struct bench_loop *l = c->loop;
	struct bench_run *r = l->run;
	const struct bench_args *a = r->args;

	if (c->state != BENCH_CONN_OPEN || !l->started || l->ended || a->idle)
		return;
	uint64_t measure = atomic_load_explicit(&r->measure_ns, memory_order_relaxed);
	uint64_t end = atomic_load_explicit(&r->end_ns, memory_order_relaxed);
	size_t frame = r->hdr_len + a->size;
	for (;;) {
		uint64_t ts;
		if (a->rate > 0) {
			if (c->next_sched > now)
				break;
			ts = c->next_sched;
		} else {
			if (c->sent - c->rcvd >= a->pipeline)
				break;
			ts = now;
		}
		if (ts >= end)
			break; /* the loop has not noticed the end yet: nothing is sent after it */
		if (a->churn && c->sent > 0)
			break; /* one message per connection */
		if (c->out_len + frame + BENCH_CTL_RESERVE > c->out_cap) {
			if (c->out_off == 0 || c->tls_wlen != 0)
				break;
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
			if (c->out_len + frame + BENCH_CTL_RESERVE > c->out_cap)
				break;
		}
		uint32_t m = (uint32_t)bench_rand(l);
		uint8_t mask[4];
		memcpy(mask, &m, 4);
		uint8_t *p = c->out + c->out_len;
		size_t h =
		    ws_encode_header(p, a->text ? WS_OP_TEXT : WS_OP_BINARY, true, a->size, mask);
		memcpy(p + h, r->payload, a->size);
		bench_conn_write_ts(p + h, ts, a->text);
		ws_mask(p + h, a->size, mask, 0);
		c->out_len += (uint32_t)(h + a->size);
		c->sent++;
		l->st.msgs_sent++;
		if (ts >= measure)
			l->st.win_sent++;
		if (a->rate > 0)
			c->next_sched += r->pace_ns;
	}
	bench_conn_flush(c);
}

/* A whole echo arrived. */
static void bench_conn_on_message(struct bench_conn *c, uint64_t now)
{
	struct bench_loop *l = c->loop;
	struct bench_run *r = l->run;
	const struct bench_args *a = r->args;
	uint64_t ts;

	c->rcvd++;
	l->st.msgs_rcvd++;
	uint64_t start = atomic_load_explicit(&r->start_ns, memory_order_relaxed);
	uint64_t measure = atomic_load_explicit(&r->measure_ns, memory_order_relaxed);
	uint64_t end = atomic_load_explicit(&r->end_ns, memory_order_relaxed);
	if (c->msg_len != a->size || c->ts_have < r->ts_len ||
	    !bench_conn_read_ts(c->ts, a->text, &ts) || ts < start || ts > now) {
		l->st.bad_echoes++;
	} else if (ts >= measure) {
		bench_hist_record(&l->hist, now - ts);
	}
	if (now >= measure && now <= end) {
		l->st.win_msgs++;
		l->st.win_bytes += c->msg_len;
	}
	if ((l->ended || a->churn) && c->state == BENCH_CONN_OPEN && c->rcvd >= c->sent)
		bench_conn_begin_close(c);
}

/* A control frame is complete. -1 when c was finished. */
static int bench_conn_on_control(struct bench_conn *c)
{
	struct bench_loop *l = c->loop;
	size_t len;
	const uint8_t *pl = ws_parser_control_payload(&c->ws, &len);

	switch (c->fr_op) {
	case WS_OP_PING:
		l->st.pings++;
		if (c->state == BENCH_CONN_OPEN)
			bench_conn_queue_control(c, WS_OP_PONG, pl, len, 0);
		return bench_conn_flush(c);
	case WS_OP_CLOSE: {
		uint16_t code;
		const uint8_t *reason;
		size_t rlen;
		ws_close_payload_split(pl, len, &code, &reason, &rlen);
		if (c->state == BENCH_CONN_OPEN) {
			/* The server closed first: echo its code (RFC 6455 5.5.1), then leave. */
			l->st.unexpected_closes++;
			bench_stats_count_code(l->st.close_codes, &l->st.n_close_codes, code);
			if (bench_conn_queue_control(c, WS_OP_CLOSE, NULL, 0,
			                             code == 1005 ? 0 : code))
				bench_conn_flush(c);
			bench_conn_finish(c);
			return -1;
		}
		bench_conn_finish(c);
		/* --churn: the close handshake completed, so the next connection starts now
		 * (on the same struct: its old socket is closed and out of the epoll set, and
		 * epoll reports an fd at most once per batch, so no stale event can reach it). */
		if (l->run->args->churn && l->started && !l->ended)
			bench_conn_start(c, bench_now_ns());
		return -1;
	}
	default:
		return 0; /* pong */
	}
}

/* Our side of a protocol failure: close with the parser's code, count it, leave. */
static void bench_conn_proto_fail(struct bench_conn *c)
{
	struct bench_loop *l = c->loop;

	l->st.proto_errors++;
	if (l->first_err[0] == '\0')
		snprintf(l->first_err, sizeof(l->first_err), "server broke RFC 6455: %s (close %u)",
		         ws_parser_fail_reason(&c->ws), ws_parser_close_code(&c->ws));
	if (c->state == BENCH_CONN_OPEN &&
	    bench_conn_queue_control(c, WS_OP_CLOSE, NULL, 0, ws_parser_close_code(&c->ws)))
		bench_conn_flush(c);
	bench_conn_finish(c);
}

/* Parses received frames in [buf, buf + len) (mutable: payloads are validated in place).
 * Returns -1 when c was finished. */
static int bench_conn_on_bytes(struct bench_conn *c, uint8_t *buf, size_t len, uint64_t now)
{
	struct bench_run *r = c->loop->run;
	size_t pos = 0;

	while (pos < len) {
		if (!ws_parser_in_frame(&c->ws)) {
			struct ws_frame f;
			size_t used;
			switch (ws_parse_frame_header(&c->ws, buf + pos, len - pos, &f, &used)) {
			case WS_RC_MORE:
				/* A split header is never longer than WS_HEADER_MAX - 1 bytes. */
				c->stash_len = (uint8_t)(len - pos);
				memcpy(c->stash, buf + pos, len - pos);
				return 0;
			case WS_RC_FAIL:
				bench_conn_proto_fail(c);
				return -1;
			case WS_RC_OK:
				break;
			}
			pos += used;
			c->fr_op = f.opcode;
			c->fr_fin = f.fin;
			if (f.opcode == WS_OP_TEXT || f.opcode == WS_OP_BINARY) {
				c->in_msg = true;
				c->msg_len = 0;
				c->ts_have = 0;
			}
			if (f.payload_len != 0)
				continue;
		} else {
			size_t used;
			uint8_t *p = buf + pos;
			if (ws_parse_payload(&c->ws, p, len - pos, 0, &used) != WS_RC_OK) {
				bench_conn_proto_fail(c);
				return -1;
			}
			if (c->fr_op < WS_OP_CLOSE) {
				if (c->ts_have < r->ts_len) {
					size_t take = r->ts_len - c->ts_have;
					if (take > used)
						take = used;
					memcpy(c->ts + c->ts_have, p, take);
					c->ts_have = (uint8_t)(c->ts_have + take);
				}
				c->msg_len += used;
			}
			pos += used;
			if (ws_parser_in_frame(&c->ws))
				continue;
		}
		/* The frame is complete. */
		if (c->fr_op >= WS_OP_CLOSE) {
			if (bench_conn_on_control(c) != 0)
				return -1;
		} else if (c->fr_fin && c->in_msg) {
			c->in_msg = false;
			bench_conn_on_message(c, now);
			if (c->state == BENCH_CONN_DONE)
				return -1;
		}
	}
	c->stash_len = 0;
	return 0;
}

static void bench_conn_opened(struct bench_conn *c)
{
	struct bench_loop *l = c->loop;
	struct bench_run *r = l->run;

	free(c->head);
	c->head = NULL;
	ws_parser_init(&c->ws, WS_ROLE_CLIENT, 0, &r->lim);
	c->state = BENCH_CONN_OPEN;
	c->stash_len = 0;
	c->in_msg = false;
	l->pending--;
	l->st.conns_opened++;
	uint64_t now = bench_now_ns();
	if (now >= atomic_load_explicit(&r->measure_ns, memory_order_relaxed) &&
	    now <= atomic_load_explicit(&r->end_ns, memory_order_relaxed) && l->started)
		l->st.win_conns++;
	atomic_store_explicit(&l->pub_open,
	                      atomic_load_explicit(&l->pub_open, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
	if (l->started) {
		/* --churn reconnected during the run: start at once, or close if it is over. */
		if (l->ended)
			bench_conn_begin_close(c);
		else
			bench_conn_pump(c, now);
		return;
	}
	atomic_fetch_add_explicit(&r->opened, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->settled, 1, memory_order_release);
}

/* The response head is in c->head. -1 when c was finished (failed). */
static int bench_conn_on_head(struct bench_conn *c, uint64_t now)
{
	struct bench_loop *l = c->loop;
	struct http_response resp;
	size_t used;
	char peer[300];

	switch (http_parse_response(&c->hp, c->head, c->head_len, &l->run->lim, &resp, &used)) {
	case HTTP_RC_MORE:
		if (c->head_len >= BENCH_HEAD_MAX) {
			bench_conn_fail(c, BENCH_FAIL_HANDSHAKE,
			                "handshake with %s failed: response head over %u bytes",
			                bench_conn_peer(c, peer, sizeof(peer)), BENCH_HEAD_MAX);
			return -1;
		}
		return 0;
	case HTTP_RC_FAIL:
		bench_conn_fail(c, BENCH_FAIL_HANDSHAKE,
		                "handshake with %s failed: the answer is not an HTTP response",
		                bench_conn_peer(c, peer, sizeof(peer)));
		return -1;
	case HTTP_RC_OK:
		break;
	}
	if (resp.status != 101) {
		char reason[64];
		size_t rn = resp.reason.n < sizeof(reason) - 1 ? resp.reason.n : sizeof(reason) - 1;
		for (size_t i = 0; i < rn; i++) {
			char ch = resp.reason.p[i];
			reason[i] = ch >= 0x20 && ch < 0x7f ? ch : '?';
		}
		reason[rn] = '\0';
		bench_stats_count_code(l->st.statuses, &l->st.n_statuses, resp.status);
		bench_conn_fail(c, BENCH_FAIL_HANDSHAKE, "handshake with %s failed: HTTP %u%s%s",
		                bench_conn_peer(c, peer, sizeof(peer)), resp.status, rn ? " " : "",
		                reason);
		return -1;
	}
	struct http_str key = {c->key, WSKEY_KEY_LEN};
	struct http_str none = {NULL, 0};
	if (!http_response_is_upgrade(&resp, key, none)) {
		bench_stats_count_code(l->st.statuses, &l->st.n_statuses, 101);
		bench_conn_fail(c, BENCH_FAIL_HANDSHAKE,
		                "handshake with %s failed: HTTP 101 without a valid upgrade "
		                "(Upgrade, Connection, Sec-WebSocket-Accept or an extension)",
		                bench_conn_peer(c, peer, sizeof(peer)));
		return -1;
	}
	/* Frames that came with the head (a server may speak first). */
	size_t extra = c->head_len - used;
	uint8_t *tail = NULL;
	if (extra > 0) {
		tail = l->rx;
		memcpy(tail, c->head + used, extra);
	}
	bench_conn_opened(c);
	if (extra > 0)
		return bench_conn_on_bytes(c, tail, extra, now);
	return 0;
}

/* Reads until EAGAIN, or (plain sockets) until a short read: with edge-triggered epoll a
 * read that did not fill the buffer emptied the socket, and anything arriving later raises a
 * new edge, so the extra recv() that would only say EAGAIN is skipped (one syscall less per
 * echo batch). Not when the peer has hung up (its FIN may have come with the data), nor for
 * TLS, where wolfSSL may hold decrypted bytes. -1 when c was finished. */
static int bench_conn_read(struct bench_conn *c, uint32_t events)
{
	bool short_read_drains = c->ssl == NULL && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));

	struct bench_loop *l = c->loop;

	for (;;) {
		uint8_t *dst;
		size_t cap, off = 0;
		if (c->state == BENCH_CONN_UPGRADE) {
			dst = (uint8_t *)c->head + c->head_len;
			cap = BENCH_HEAD_MAX - c->head_len;
		} else {
			off = c->stash_len;
			memcpy(l->rx, c->stash, off);
			dst = l->rx + off;
			cap = l->rx_cap - off;
		}
		ssize_t n;
		if (c->ssl != NULL) {
			n = bench_tls_read(c->ssl, dst, cap);
			if (n == BENCH_TLS_WANT_READ || n == BENCH_TLS_WANT_WRITE)
				return 0;
			if (n == BENCH_TLS_EOF)
				n = 0;
			else if (n < 0)
				n = -2;
		} else {
			n = recv(c->fd, dst, cap, MSG_DONTWAIT);
			if (n == -1) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					return 0;
				if (errno == EINTR)
					continue;
				n = -2;
			}
		}
		uint64_t now = bench_now_ns();
		if (n <= 0) {
			/* EOF or error. */
			if (c->state == BENCH_CONN_UPGRADE) {
				char peer[300];
				bench_conn_fail(
				    c, BENCH_FAIL_HANDSHAKE,
				    "handshake with %s failed: connection closed before "
				    "the response",
				    bench_conn_peer(c, peer, sizeof(peer)));
			} else {
				bench_conn_lost(c);
			}
			return -1;
		}
		if (c->state == BENCH_CONN_UPGRADE) {
			c->head_len += (uint32_t)n;
			if (bench_conn_on_head(c, now) != 0)
				return -1;
			continue;
		}
		if (bench_conn_on_bytes(c, l->rx, off + (size_t)n, now) != 0)
			return -1;
		if (short_read_drains && (size_t)n < cap)
			return 0;
	}
}

static int bench_conn_send_request(struct bench_conn *c)
{
	struct bench_loop *l = c->loop;
	struct bench_run *r = l->run;
	uint8_t nonce[16];
	uint64_t a = bench_rand(l), b = bench_rand(l);

	memcpy(nonce, &a, 8);
	memcpy(nonce + 8, &b, 8);
	wskey_encode(nonce, c->key);
	c->head = malloc(BENCH_HEAD_MAX);
	if (c->head == NULL) {
		bench_conn_fail(c, BENCH_FAIL_CONNECT, "out of memory");
		return -1;
	}
	c->head_len = 0;
	http_parser_init(&c->hp);
	memcpy(c->out, r->request, r->request_len);
	memcpy(c->out + r->request_len, c->key, WSKEY_KEY_LEN);
	memcpy(c->out + r->request_len + WSKEY_KEY_LEN, "\r\n\r\n", 4);
	c->out_off = 0;
	c->out_len = (uint32_t)(r->request_len + WSKEY_KEY_LEN + 4);
	c->state = BENCH_CONN_UPGRADE;
	return bench_conn_flush(c);
}

/* One TLS handshake step; then the upgrade request. -1 when c was finished. */
static int bench_conn_tls_step(struct bench_conn *c)
{
	char peer[300], why[200];

	switch (bench_tls_handshake(c->ssl)) {
	case BENCH_TLS_OK:
		c->loop->st.tls_handshakes++;
		if (bench_tls_reused(c->ssl))
			c->loop->st.tls_resumed++;
		return bench_conn_send_request(c);
	case BENCH_TLS_WANT_READ:
	case BENCH_TLS_WANT_WRITE:
		return 0;
	default:
		bench_conn_fail(c, BENCH_FAIL_TLS, "TLS handshake with %s failed: %s",
		                bench_conn_peer(c, peer, sizeof(peer)),
		                bench_tls_why(c->ssl, why, sizeof(why)));
		return -1;
	}
}

static int bench_conn_connected(struct bench_conn *c)
{
	struct bench_run *r = c->loop->run;
	char peer[300];

	if (r->tls == NULL)
		return bench_conn_send_request(c);
	c->ssl = bench_tls_session_new(r->tls, c->fd, r->args->url.host);
	if (c->ssl == NULL) {
		bench_conn_fail(c, BENCH_FAIL_TLS, "TLS session for %s: cannot create",
		                bench_conn_peer(c, peer, sizeof(peer)));
		return -1;
	}
	if (r->args->tls_resume)
		bench_tls_resume(c->ssl, c->loop->tls_saved);
	c->state = BENCH_CONN_TLS;
	return bench_conn_tls_step(c);
}

void bench_conn_start(struct bench_conn *c, uint64_t now)
{
	struct bench_loop *l = c->loop;
	struct bench_run *r = l->run;
	const struct bench_args *a = r->args;
	char peer[300];

	l->pending++;
	l->live++;
	c->state = BENCH_CONN_CONNECTING;
	c->sent = c->rcvd = 0;
	c->stash_len = 0;
	c->tls_wlen = 0;
	c->in_msg = false;
	c->deadline_ns = now + BENCH_CONNECT_TIMEOUT_NS;
	c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		bench_conn_fail(c, BENCH_FAIL_CONNECT, "socket: %s%s", strerror(errno),
		                errno == EMFILE ? " (raise ulimit -Hn)" : "");
		return;
	}
	/* Room for the upgrade request now, for a few messages later (grown at open). */
	size_t frame = a->idle ? 0 : r->hdr_len + a->size;
	size_t batch = a->rate > 0 ? 4 : a->pipeline < 16 ? a->pipeline : 16;
	if (frame > (1u << 20))
		batch = 1;
	size_t cap = frame * batch + BENCH_CTL_RESERVE;
	if (cap < r->request_len + WSKEY_KEY_LEN + 4)
		cap = r->request_len + WSKEY_KEY_LEN + 4;
	c->out = malloc(cap);
	if (c->out == NULL) {
		bench_conn_fail(c, BENCH_FAIL_CONNECT, "out of memory");
		return;
	}
	c->out_cap = (uint32_t)cap;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (a->src_ips > 0) {
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr = htonl(0x7f000002u + c->gidx % a->src_ips);
		/* Leave the port to connect(): the 4-tuple, not the local port alone, is then
		 * what must be unique. */
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)) == -1) {
			char ip[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, &src.sin_addr, ip, sizeof(ip));
			bench_conn_fail(c, BENCH_FAIL_CONNECT, "bind %s: %s", ip, strerror(errno));
			return;
		}
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
	                         .data.ptr = c};
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
		bench_conn_fail(c, BENCH_FAIL_CONNECT, "epoll_ctl: %s", strerror(errno));
		return;
	}
	if (connect(c->fd, (const struct sockaddr *)&r->addr, r->addr_len) == 0) {
		bench_conn_connected(c);
		return;
	}
	if (errno != EINPROGRESS) {
		bench_conn_fail(c, BENCH_FAIL_CONNECT, "connect %s: %s%s",
		                bench_conn_peer(c, peer, sizeof(peer)), strerror(errno),
		                errno == EADDRNOTAVAIL ? " (out of local ports: try --src-ips)"
		                                       : "");
		return;
	}
}

void bench_conn_check_deadline(struct bench_conn *c, uint64_t now)
{
	char peer[300];

	if (c->state < BENCH_CONN_CONNECTING || c->state > BENCH_CONN_UPGRADE ||
	    now < c->deadline_ns)
		return;
	bench_conn_fail(c, BENCH_FAIL_CONNECT, "%s %s: timed out after %llu s",
	                c->state == BENCH_CONN_CONNECTING ? "connect"
	                : c->state == BENCH_CONN_TLS      ? "TLS handshake with"
	                                                  : "upgrade with",
	                bench_conn_peer(c, peer, sizeof(peer)),
	                (unsigned long long)(BENCH_CONNECT_TIMEOUT_NS / 1000000000ull));
}

void bench_conn_on_event(struct bench_conn *c, uint32_t events)
{
	char peer[300];

	if (c->state == BENCH_CONN_CONNECTING) {
		int err = 0;
		socklen_t elen = sizeof(err);
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
			err = errno;
		if (err == 0 && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (err != 0) {
			bench_conn_fail(c, BENCH_FAIL_CONNECT, "connect %s: %s",
			                bench_conn_peer(c, peer, sizeof(peer)), strerror(err));
			return;
		}
		if (bench_conn_connected(c) != 0)
			return;
		events |= EPOLLIN; /* bytes may have arrived with the connect's completion */
	}
	if (c->state == BENCH_CONN_TLS) {
		if (bench_conn_tls_step(c) != 0 || c->state == BENCH_CONN_TLS)
			return;
		events |= EPOLLIN;
	}
	if (c->state == BENCH_CONN_DONE)
		return;
	if ((events & EPOLLOUT) && bench_conn_flush(c) != 0)
		return;
	if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) &&
	    bench_conn_read(c, events) != 0)
		return;
	if (c->state == BENCH_CONN_OPEN)
		bench_conn_pump(c, bench_now_ns());
}
