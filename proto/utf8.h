#ifndef WSG_PROTO_UTF8_H
#define WSG_PROTO_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Incremental UTF-8 validation (RFC 3629) as a DFA: the state after a run of bytes is all
 * that must be kept, so a code point split across frames or reads just works. Overlongs,
 * surrogates (U+D800..U+DFFF) and values above U+10FFFF are rejected. */

#define UTF8_ACCEPT 0u /* at a code point boundary, everything so far valid */
#define UTF8_REJECT 1u /* invalid; sticky: feeding more bytes never leaves it */

/* Feeds [p, p + n) to the validator starting in `state` (UTF8_ACCEPT for a fresh text) and
 * returns the new state: UTF8_ACCEPT, UTF8_REJECT or an opaque "inside a code point" value.
 * ASCII runs are checked a machine word at a time. */
uint32_t utf8_validate(uint32_t state, const uint8_t *p, size_t n);

/* True when the whole of [p, p + n) is complete, valid UTF-8. */
bool utf8_is_valid(const uint8_t *p, size_t n);

#endif
