#include "proto/utf8.h"

#include <string.h>

/* Incremental UTF-8 validation, RFC 3629 section 4 grammar, as a byte-class DFA in the
 * manner of Bjoern Hoehrmann's decoder (own tables: this one only validates, it never builds
 * the code point, and its states are numbered so that UTF8_ACCEPT = 0 and UTF8_REJECT = 1 as
 * utf8.h promises).
 *
 * Each byte maps to one of 12 classes; the 9 states say exactly which continuation bytes are
 * still acceptable, so the awkward second-byte ranges (E0 A0..BF against overlongs, ED 80..9F
 * against surrogates, F0 90..BF against overlongs, F4 80..8F against > U+10FFFF) are single
 * table entries rather than branches. REJECT maps to itself for every class, so it is sticky.
 *
 * Fast path: while the DFA is at a code point boundary, 16 and then 8 bytes at a time are
 * loaded (memcpy, so any alignment is fine) and skipped when no byte has its top bit set;
 * text on the wire is mostly ASCII, and this is what keeps validation near memory speed.
 * A SIMD validator was considered and left out: proto/ stays portable C11, and the word loop
 * is already several GB/s (see docs/BENCHMARKS.md).
 *
 * Pure code: no allocation, no state outside the caller's uint32_t, any thread. */

enum {
	C_ASC = 0, /* 00..7F */
	C_C8 = 1,  /* 80..8F continuation */
	C_C9 = 2,  /* 90..9F continuation */
	C_CA = 3,  /* A0..BF continuation */
	C_L2 = 4,  /* C2..DF: lead of a 2-byte sequence */
	C_E0 = 5,  /* E0: 3-byte lead, second byte A0..BF (no overlongs) */
	C_L3 = 6,  /* E1..EC, EE..EF: 3-byte lead */
	C_ED = 7,  /* ED: 3-byte lead, second byte 80..9F (no surrogates) */
	C_F0 = 8,  /* F0: 4-byte lead, second byte 90..BF (no overlongs) */
	C_L4 = 9,  /* F1..F3: 4-byte lead */
	C_F4 = 10, /* F4: 4-byte lead, second byte 80..8F (nothing above U+10FFFF) */
	C_BAD = 11, /* C0, C1 (overlong 2-byte), F5..FF (beyond U+10FFFF, 5/6-byte forms, FE/FF) */
	C_COUNT = 12,
};

/* States besides UTF8_ACCEPT (0) and UTF8_REJECT (1). */
enum {
	S_ACC = 0,
	S_REJ = 1,
	S_T1 = 2,  /* one continuation byte (80..BF) left */
	S_T2 = 3,  /* two continuation bytes left */
	S_E0 = 4,  /* after E0: A0..BF, then one more */
	S_ED = 5,  /* after ED: 80..9F, then one more */
	S_T3 = 6,  /* three continuation bytes left */
	S_F0 = 7,  /* after F0: 90..BF, then two more */
	S_F4 = 8,  /* after F4: 80..8F, then two more */
	S_COUNT = 9,
};

_Static_assert(S_ACC == UTF8_ACCEPT && S_REJ == UTF8_REJECT, "utf8.h state numbering");

/* clang-format off */
static const uint8_t utf8_class[256] = {
	/* 00..7F: C_ASC, which is 0, so the default initialisation is meant here */
	[0x00] = C_ASC,
	/* 80..BF */
	[0x80] = C_C8, C_C8, C_C8, C_C8, C_C8, C_C8, C_C8, C_C8,
	C_C8, C_C8, C_C8, C_C8, C_C8, C_C8, C_C8, C_C8,
	[0x90] = C_C9, C_C9, C_C9, C_C9, C_C9, C_C9, C_C9, C_C9,
	C_C9, C_C9, C_C9, C_C9, C_C9, C_C9, C_C9, C_C9,
	[0xA0] = C_CA, C_CA, C_CA, C_CA, C_CA, C_CA, C_CA, C_CA,
	C_CA, C_CA, C_CA, C_CA, C_CA, C_CA, C_CA, C_CA,
	C_CA, C_CA, C_CA, C_CA, C_CA, C_CA, C_CA, C_CA,
	C_CA, C_CA, C_CA, C_CA, C_CA, C_CA, C_CA, C_CA,
	/* C0..DF */
	[0xC0] = C_BAD, C_BAD, C_L2, C_L2, C_L2, C_L2, C_L2, C_L2,
	C_L2, C_L2, C_L2, C_L2, C_L2, C_L2, C_L2, C_L2,
	C_L2, C_L2, C_L2, C_L2, C_L2, C_L2, C_L2, C_L2,
	C_L2, C_L2, C_L2, C_L2, C_L2, C_L2, C_L2, C_L2,
	/* E0..EF */
	[0xE0] = C_E0, C_L3, C_L3, C_L3, C_L3, C_L3, C_L3, C_L3,
	C_L3, C_L3, C_L3, C_L3, C_L3, C_ED, C_L3, C_L3,
	/* F0..FF */
	[0xF0] = C_F0, C_L4, C_L4, C_L4, C_F4, C_BAD, C_BAD, C_BAD,
	C_BAD, C_BAD, C_BAD, C_BAD, C_BAD, C_BAD, C_BAD, C_BAD,
};
/* clang-format on */

/* next = utf8_next[state][class]. Written out whole: a missing entry would read as 0, which
 * is UTF8_ACCEPT, so nothing here relies on default initialisation. */
/* clang-format off */
static const uint8_t utf8_next[S_COUNT][C_COUNT] = {
	/*          ASC    80-8F  90-9F  A0-BF  C2-DF  E0     E1-EF  ED     F0     F1-F3  F4     bad */
	[S_ACC] = { S_ACC, S_REJ, S_REJ, S_REJ, S_T1,  S_E0,  S_T2,  S_ED,  S_F0,  S_T3,  S_F4,  S_REJ },
	[S_REJ] = { S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ },
	[S_T1]  = { S_REJ, S_ACC, S_ACC, S_ACC, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ },
	[S_T2]  = { S_REJ, S_T1,  S_T1,  S_T1,  S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ },
	[S_E0]  = { S_REJ, S_REJ, S_REJ, S_T1,  S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ },
	[S_ED]  = { S_REJ, S_T1,  S_T1,  S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ },
	[S_T3]  = { S_REJ, S_T2,  S_T2,  S_T2,  S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ },
	[S_F0]  = { S_REJ, S_REJ, S_T2,  S_T2,  S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ },
	[S_F4]  = { S_REJ, S_T2,  S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ },
};
/* clang-format on */

#define UTF8_HIGH_BITS 0x8080808080808080ull

uint32_t utf8_validate(uint32_t state, const uint8_t *p, size_t n)
{
	/* An out-of-range state can only come from a caller's corrupted memory: treat it as
	 * invalid rather than index past the table. */
	if (state >= S_COUNT)
		return UTF8_REJECT;
	size_t i = 0;
	while (i < n) {
		if (state == S_ACC) {
			uint64_t a, b;
			while (n - i >= 16) {
				memcpy(&a, p + i, 8);
				memcpy(&b, p + i + 8, 8);
				if ((a | b) & UTF8_HIGH_BITS)
					break;
				i += 16;
			}
			if (n - i >= 8) {
				memcpy(&a, p + i, 8);
				if ((a & UTF8_HIGH_BITS) == 0)
					i += 8;
			}
			/* Skip the ASCII bytes before the first non-ASCII one one at a time:
			 * cheaper than a DFA step each. */
			while (i < n && p[i] < 0x80)
				i++;
			if (i == n)
				break;
		}
		state = utf8_next[state][utf8_class[p[i]]];
		if (state == S_REJ)
			return UTF8_REJECT;
		i++;
	}
	return state;
}

bool utf8_is_valid(const uint8_t *p, size_t n)
{
	return utf8_validate(UTF8_ACCEPT, p, n) == UTF8_ACCEPT;
}
