/* Fuzz target for proto/utf8.c. Asserts with abort():
 *   - the DFA's verdict (valid, invalid, or a valid prefix ending inside a code point) equals
 *     that of a simple reference decoder written here, which decodes code points
 *     arithmetically instead of using a state table;
 *   - feeding in three pieces split at input-chosen points, and one byte at a time, ends in
 *     the same state as feeding the input whole;
 *   - once rejected, the state stays UTF8_REJECT; utf8_is_valid agrees with the verdict.
 * Input: bytes 0-1 pick the split points, the rest is the text. Each call gets an exact-size
 * copy of the bytes it may read, so ASan catches any over-read. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/utf8.h"
#include "tests/common/utf8_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static uint32_t feed(uint32_t st, const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	check(copy != NULL);
	memcpy(copy, p, n);
	uint32_t out = utf8_validate(st, copy, n);
	if (st == UTF8_REJECT)
		check(out == UTF8_REJECT);
	free(copy);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	const uint8_t *s = data + 2;
	size_t n = size - 2;
	size_t a = data[0] % (n + 1), b = data[1] % (n + 1);
	if (a > b) {
		size_t t = a;
		a = b;
		b = t;
	}

	uint32_t whole = feed(UTF8_ACCEPT, s, n);
	int want = ref_utf8(s, n);
	int got = whole == UTF8_ACCEPT ? REF_OK : whole == UTF8_REJECT ? REF_BAD : REF_PARTIAL;
	check(got == want);
	check(utf8_is_valid(s, n) == (want == REF_OK));

	uint32_t st = feed(UTF8_ACCEPT, s, a);
	st = feed(st, s + a, b - a);
	st = feed(st, s + b, n - b);
	check(st == whole);

	st = UTF8_ACCEPT;
	for (size_t i = 0; i < n; i++) {
		st = feed(st, s + i, 1);
		/* Every prefix's state agrees with the reference on that prefix: rejection
		 * happens at the first byte that no continuation could make valid. */
		if (n <= 64) {
			int pw = ref_utf8(s, i + 1);
			int pg = st == UTF8_ACCEPT   ? REF_OK
			         : st == UTF8_REJECT ? REF_BAD
			                             : REF_PARTIAL;
			check(pw == pg);
		}
	}
	check(st == whole);
	return 0;
}
