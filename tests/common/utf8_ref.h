#ifndef WSG_TESTS_COMMON_UTF8_REF_H
#define WSG_TESTS_COMMON_UTF8_REF_H

/* An independent UTF-8 reference for tests and fuzz targets: decodes code points
 * arithmetically (RFC 3629), with none of proto/utf8.c's DFA tables, so the two can be
 * compared. Header-only; used by tests/unit/proto/test_utf8.c and tests/fuzz/fuzz_utf8.c. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { REF_OK = 0, REF_BAD = 1, REF_PARTIAL = 2 };

static inline bool ref_cp_ok(uint32_t cp, uint32_t min)
{
	return cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
}

/* RFC 3629: decode each sequence; a truncated last sequence is REF_PARTIAL when the
 * smallest or the largest completion of it would be a valid code point (the invalid ranges
 * are aligned so that checking the two ends is enough), else REF_BAD. */
static inline int ref_utf8(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		size_t len;
		uint32_t min;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0) {
			len = 2;
			min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			len = 3;
			min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			len = 4;
			min = 0x10000;
		} else {
			return REF_BAD;
		}
		uint32_t lo = c & (0x7Fu >> len), hi = lo;
		for (size_t k = 1; k < len; k++) {
			if (i + k < n) {
				if ((s[i + k] & 0xC0) != 0x80)
					return REF_BAD;
				lo = lo << 6 | (s[i + k] & 0x3Fu);
				hi = hi << 6 | (s[i + k] & 0x3Fu);
			} else {
				lo = lo << 6;
				hi = hi << 6 | 0x3F;
			}
		}
		if (i + len > n)
			return ref_cp_ok(lo, min) || ref_cp_ok(hi, min) ? REF_PARTIAL : REF_BAD;
		if (!ref_cp_ok(lo, min))
			return REF_BAD;
		i += len;
	}
	return REF_OK;
}

#endif
