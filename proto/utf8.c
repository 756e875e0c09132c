#include "proto/utf8.h"

#include <string.h>

/* Incremental UTF-8 validation, RFC 3629 section 4 grammar, as a byte-class DFA in the
 * manner of Bjoern Hoehrmann's decoder (own tables: this one only validates, it never builds
 * the code point, and its states are numbered so that UTF8_ACCEPT = 0 and UTF8_REJECT = 1 as
 * utf8.h promises; internally a state is kept as state * 6, see utf8_row).
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
	C_ASC = 0,  /* 00..7F */
	C_C8 = 1,   /* 80..8F continuation */
	C_C9 = 2,   /* 90..9F continuation */
	C_CA = 3,   /* A0..BF continuation */
	C_L2 = 4,   /* C2..DF: lead of a 2-byte sequence */
	C_E0 = 5,   /* E0: 3-byte lead, second byte A0..BF (no overlongs) */
	C_L3 = 6,   /* E1..EC, EE..EF: 3-byte lead */
	C_ED = 7,   /* ED: 3-byte lead, second byte 80..9F (no surrogates) */
	C_F0 = 8,   /* F0: 4-byte lead, second byte 90..BF (no overlongs) */
	C_L4 = 9,   /* F1..F3: 4-byte lead */
	C_F4 = 10,  /* F4: 4-byte lead, second byte 80..8F (nothing above U+10FFFF) */
	C_BAD = 11, /* C0, C1 (overlong 2-byte), F5..FF (beyond U+10FFFF, 5/6-byte forms, FE/FF) */
	C_COUNT = 12,
};

/* States besides UTF8_ACCEPT (0) and UTF8_REJECT (1). */
enum {
	S_ACC = 0,
	S_REJ = 1,
	S_T1 = 2, /* one continuation byte (80..BF) left */
	S_T2 = 3, /* two continuation bytes left */
	S_E0 = 4, /* after E0: A0..BF, then one more */
	S_ED = 5, /* after ED: 80..9F, then one more */
	S_T3 = 6, /* three continuation bytes left */
	S_F0 = 7, /* after F0: 90..BF, then two more */
	S_F4 = 8, /* after F4: 80..8F, then two more */
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

/* The transition table, stored by class in the "shift DFA" layout: each class's row packs
 * the next state for all 9 states into one 64-bit word, 6 bits per state, and a state is kept
 * as its bit offset (state * 6). A step is then
 *
 *	off = (utf8_row[utf8_class[byte]] >> off) & 63;
 *
 * where both loads depend only on the byte, so the chain from one byte to the next is a
 * shift and a mask rather than a load whose address waits on the previous state (the plain
 * [state][class] table). Starting the word loop only on an ASCII byte keeps multi-byte
 * text from paying for failed word checks; figures in docs/BENCHMARKS.md.
 * NEXT(s, t) places "from state s go to t"; every state of every row is written out, since
 * a missing one would read as a move to UTF8_ACCEPT. */
#define NEXT(s, t) ((uint64_t)((t)*6) << ((s)*6))
#define ROW(acc, rej, t1, t2, e0, ed, t3, f0, f4)                                                  \
	(NEXT(S_ACC, acc) | NEXT(S_REJ, rej) | NEXT(S_T1, t1) | NEXT(S_T2, t2) | NEXT(S_E0, e0) |  \
	 NEXT(S_ED, ed) | NEXT(S_T3, t3) | NEXT(S_F0, f0) | NEXT(S_F4, f4))

/* clang-format off */
static const uint64_t utf8_row[C_COUNT] = {
	/*            from: ACC    REJ    T1     T2     E0     ED     T3     F0     F4 */
	[C_ASC] = ROW(S_ACC, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ),
	[C_C8]  = ROW(S_REJ, S_REJ, S_ACC, S_T1,  S_REJ, S_T1,  S_T2,  S_REJ, S_T2),
	[C_C9]  = ROW(S_REJ, S_REJ, S_ACC, S_T1,  S_REJ, S_T1,  S_T2,  S_T2,  S_REJ),
	[C_CA]  = ROW(S_REJ, S_REJ, S_ACC, S_T1,  S_T1,  S_REJ, S_T2,  S_T2,  S_REJ),
	[C_L2]  = ROW(S_T1,  S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ),
	[C_E0]  = ROW(S_E0,  S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ),
	[C_L3]  = ROW(S_T2,  S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ),
	[C_ED]  = ROW(S_ED,  S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ),
	[C_F0]  = ROW(S_F0,  S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ),
	[C_L4]  = ROW(S_T3,  S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ),
	[C_F4]  = ROW(S_F4,  S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ),
	[C_BAD] = ROW(S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ, S_REJ),
};
/* clang-format on */
_Static_assert(S_COUNT * 6 <= 64, "states fit one row word");

#define UTF8_HIGH_BITS 0x8080808080808080ull

uint32_t utf8_validate(uint32_t state, const uint8_t *p, size_t n)
{
	/* An out-of-range state can only come from a caller's corrupted memory: treat it as
	 * invalid rather than shift by a meaningless amount. REJECT is sticky. */
	if (state >= S_COUNT || state == S_REJ)
		return UTF8_REJECT;
	uint64_t off = (uint64_t)state * 6;
	size_t i = 0;
	while (i < n) {
		/* Only an ASCII byte at a code point boundary starts the word loop, so text
		 * that is mostly multi-byte does not pay for failed word checks. */
		if (off == S_ACC * 6 && p[i] < 0x80) {
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
			/* The ASCII bytes before the first non-ASCII one, one at a time: cheaper
			 * than a DFA step each. */
			while (i < n && p[i] < 0x80)
				i++;
			continue;
		}
		off = (utf8_row[utf8_class[p[i]]] >> off) & 63;
		if (off == S_REJ * 6)
			return UTF8_REJECT;
		i++;
	}
	return (uint32_t)(off / 6);
}

bool utf8_is_valid(const uint8_t *p, size_t n)
{
	return utf8_validate(UTF8_ACCEPT, p, n) == UTF8_ACCEPT;
}
