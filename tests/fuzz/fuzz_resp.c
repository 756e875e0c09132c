/* fuzz_resp: proto/resp.c's scanner, reader and message header. Invariants: *used <= len; a
 * prefix of an accepted reply is MORE (never a different verdict); the reader fed in two
 * pieces yields exactly the replies the scanner counts; a parsed message re-encodes to the
 * same bytes. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct resp_limits lim = {.bulk_max = 4096, .elems_max = 256, .depth_max = 7};
	size_t used = 0;
	enum resp_rc rc = resp_scan(data, size, &lim, &used);
	if (rc == RESP_RC_OK) {
		assert(used > 0 && used <= size);
		size_t u2 = 0;
		if (used > 1)
			assert(resp_scan(data, used - 1, &lim, &u2) == RESP_RC_MORE);
	}
	/* count the replies the scanner sees, then feed the reader in two halves */
	unsigned want = 0;
	size_t off = 0;
	while (off < size && resp_scan(data + off, size - off, &lim, &used) == RESP_RC_OK) {
		off += used;
		want++;
	}
	struct resp_reader *r = resp_reader_new(&lim);
	if (r != NULL) {
		unsigned got = 0;
		size_t half = size / 2;
		struct redisReply *rep;
		bool failed = false;
		for (int part = 0; part < 2 && !failed; part++) {
			const uint8_t *p = part ? data + half : data;
			size_t n = part ? size - half : half;
			if (resp_reader_feed(r, p, n) != 0)
				break;
			for (;;) {
				enum resp_rc x = resp_reader_next(r, &rep);
				if (x != RESP_RC_OK) {
					failed = x == RESP_RC_FAIL;
					break;
				}
				resp_reply_free(rep);
				got++;
			}
		}
		assert(got == want);
		resp_reader_free(r);
	}
	struct resp_msg m;
	if (resp_msg_parse(data, size, &m) == RESP_RC_OK) {
		uint8_t *out = malloc(size + 64);
		assert(out != NULL);
		long n = resp_msg_encode(out, size + 64, &m);
		assert(n > 0 && (size_t)n <= size);
		struct resp_msg m2;
		assert(resp_msg_parse(out, (size_t)n, &m2) == RESP_RC_OK);
		assert(m2.rid == m.rid && m2.num == m.num && m2.arg.n == m.arg.n &&
		       m2.body.n == m.body.n);
		free(out);
	}
	return 0;
}
