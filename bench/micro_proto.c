/* Microbenchmarks for proto/ws.c and proto/utf8.c on one core: prints a Markdown table of
 * bytes per second (payload bytes) for
 *   - a masked text message: header parse + in-place unmask + UTF-8 validation, as the echo
 *     server and load tool use the parser (64 B, 1 KiB, 64 KiB);
 *   - the same with WS_PAYLOAD_KEEP_MASK, the relay's client->backend path (unmask, validate
 *     and re-mask, bytes left as they came), on ASCII and on mixed multi-byte text;
 *   - ws_mask alone, and utf8_validate alone on ASCII-heavy and on multi-byte text.
 * Each case repeats until at least 0.5 s of CLOCK_MONOTONIC time has passed.
 *
 * The in-place case is run on ASCII text with a mask whose bytes are all below 0x80: one
 * pass leaves text ^ mask in the buffer, which is ASCII too, so the next pass (same header,
 * same mask) unmasks it back and both passes do the full work without a copy to restore the
 * buffer distorting the figure. Multi-byte text is measured through KEEP_MASK instead, which
 * leaves the buffer as it found it.
 *
 * Usage: micro_proto [seconds-per-case]   (default 0.5) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/utf8.h"
#include "proto/ws.h"

static volatile uint64_t sink;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const uint8_t mask_ascii[4] = {0x11, 0x2a, 0x35, 0x4c};

/* Fills n bytes of ASCII-heavy text: JSON-ish words with a two-byte character every ~200
 * bytes when multibyte is set, plain ASCII otherwise. */
static void fill_ascii(uint8_t *p, size_t n, bool sprinkle)
{
	static const char words[] = "{\"user\":\"alice\",\"msg\":\"hello world\",\"seq\":12345} ";
	size_t i = 0;
	while (i < n) {
		if (sprinkle && i % 200 == 199 && i + 2 <= n) {
			p[i++] = 0xC3; /* U+00E9 */
			p[i++] = 0xA9;
			continue;
		}
		p[i] = (uint8_t)words[i % (sizeof(words) - 1)];
		i++;
	}
}

/* Mixed 1-4 byte code points (Greek, CJK, emoji, ASCII), truncated at a code point. */
static size_t fill_multibyte(uint8_t *p, size_t n)
{
	static const char chunk[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 "
	                            "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
	                            "\xf0\x9f\x98\x80 abc ";
	size_t k = sizeof(chunk) - 1, i = 0;
	while (i + k <= n) {
		memcpy(p + i, chunk, k);
		i += k;
	}
	while (i < n)
		p[i++] = 'x';
	return n;
}

struct frame_case {
	uint8_t *buf;
	size_t len;  /* whole frame */
	size_t plen; /* payload */
};

static struct frame_case make_frame(const uint8_t *text, size_t n)
{
	struct frame_case f;
	f.buf = malloc(n + WS_HEADER_MAX);
	if (f.buf == NULL)
		abort();
	size_t h = ws_encode_header(f.buf, WS_OP_TEXT, true, n, mask_ascii);
	memcpy(f.buf + h, text, n);
	ws_mask(f.buf + h, n, mask_ascii, 0);
	f.len = h + n;
	f.plen = n;
	return f;
}

static const struct wsg_limits lim = {.message_max = UINT64_MAX};

/* One parser per case, as one per conn direction: each call parses the next whole frame. */
static void parse_frame(struct ws_parser *p, struct frame_case *f, unsigned flags)
{
	struct ws_frame fr;
	size_t used, pused;
	if (ws_parse_frame_header(p, f->buf, f->len, &fr, &used) != WS_RC_OK ||
	    ws_parse_payload(p, f->buf + used, f->len - used, flags, &pused) != WS_RC_OK) {
		fprintf(stderr, "micro_proto: frame did not parse (%s)\n",
		        ws_parser_fail_reason(p));
		exit(1);
	}
	sink += pused;
}

enum kind { K_PARSE, K_PARSE_KEEP, K_MASK, K_UTF8 };

static double run_case(enum kind k, struct frame_case *f, uint8_t *raw, size_t n, double secs)
{
	uint64_t iters = 0, batch = 1;
	struct ws_parser p;
	ws_parser_init(&p, WS_ROLE_SERVER, 0, &lim);
	double t0 = now_s(), el = 0;
	while (el < secs) {
		for (uint64_t i = 0; i < batch; i++) {
			switch (k) {
			case K_PARSE:
				parse_frame(&p, f, 0);
				break;
			case K_PARSE_KEEP:
				parse_frame(&p, f, WS_PAYLOAD_KEEP_MASK);
				break;
			case K_MASK:
				ws_mask(raw, n, mask_ascii, (size_t)i);
				break;
			case K_UTF8:
				if (utf8_validate(UTF8_ACCEPT, raw, n) != UTF8_ACCEPT) {
					fprintf(stderr, "micro_proto: text not valid\n");
					exit(1);
				}
				break;
			}
		}
		iters += batch;
		el = now_s() - t0;
		if (batch < (1u << 20))
			batch *= 2;
	}
	/* An even number of in-place passes leaves the buffer as it started. */
	if (k == K_PARSE && iters % 2)
		parse_frame(&p, f, 0);
	return (double)iters * (double)n / el;
}

static void row(const char *what, size_t n, double bps)
{
	char size[32];
	if (n >= 1024 && n % 1024 == 0)
		snprintf(size, sizeof(size), "%zu KiB", n / 1024);
	else
		snprintf(size, sizeof(size), "%zu B", n);
	printf("| %-52s | %7s | %8.2f | %10.1f |\n", what, size, bps / 1e9, 1e9 * (double)n / bps);
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 0.5;
	if (secs <= 0)
		secs = 0.5;
	static const size_t sizes[] = {64, 1024, 65536};
	enum { BIG = 65536 };
	uint8_t *ascii = malloc(BIG), *multi = malloc(BIG), *sprinkled = malloc(BIG);
	uint8_t *scratch = malloc(BIG);
	if (ascii == NULL || multi == NULL || sprinkled == NULL || scratch == NULL)
		abort();
	memset(scratch, 'a', BIG);
	fill_ascii(ascii, BIG, false);
	fill_ascii(sprinkled, BIG, true);
	fill_multibyte(multi, BIG);

	printf("| case | payload | GB/s | ns/op |\n");
	printf("|---|---:|---:|---:|\n");
	for (size_t i = 0; i < 3; i++) {
		struct frame_case f = make_frame(ascii, sizes[i]);
		row("header + unmask in place + UTF-8 (ASCII text)", sizes[i],
		    run_case(K_PARSE, &f, NULL, sizes[i], secs));
		free(f.buf);
	}
	for (size_t i = 0; i < 3; i++) {
		struct frame_case f = make_frame(ascii, sizes[i]);
		row("header + KEEP_MASK relay path (ASCII text)", sizes[i],
		    run_case(K_PARSE_KEEP, &f, NULL, sizes[i], secs));
		free(f.buf);
	}
	struct frame_case fm = make_frame(multi, BIG);
	row("header + KEEP_MASK relay path (multi-byte text)", BIG,
	    run_case(K_PARSE_KEEP, &fm, NULL, BIG, secs));
	free(fm.buf);
	row("ws_mask", 1024, run_case(K_MASK, NULL, scratch, 1024, secs));
	row("ws_mask", BIG, run_case(K_MASK, NULL, scratch, BIG, secs));
	row("ws_mask, unaligned start (buf + 1)", BIG - 1,
	    run_case(K_MASK, NULL, scratch + 1, BIG - 1, secs));
	row("utf8_validate, pure ASCII", BIG, run_case(K_UTF8, NULL, ascii, BIG, secs));
	row("utf8_validate, ASCII-heavy (one U+00E9 per 200 B)", BIG,
	    run_case(K_UTF8, NULL, sprinkled, BIG, secs));
	row("utf8_validate, multi-byte (Greek, CJK, emoji)", BIG,
	    run_case(K_UTF8, NULL, multi, BIG, secs));
	free(ascii);
	free(multi);
	free(sprinkled);
	free(scratch);
	return 0;
}
