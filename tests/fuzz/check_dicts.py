#!/usr/bin/python3
r"""Checks libFuzzer dictionaries (tests/fuzz/*.dict) so that a broken one fails `make test`.

libFuzzer refuses a whole dictionary when one line does not parse, and `make fuzz` then
reports the target as crashed; the gcc builds that `make test` uses never run libFuzzer, so
this script parses each file by the format's rules instead:

- a blank line, or a comment (first non-blank character `#`), is skipped;
- any other line is one entry, `name="value"` or `"value"`, optionally surrounded by spaces
  or tabs; `name` is letters, digits, `_`, `-` and `.`;
- between the quotes only printable ASCII (0x20..0x7e); a backslash starts an escape, and the
  only escapes are `\\`, `\"` and `\xAB` (two hex digits); a bare `"` inside is an error;
- the value is not empty (libFuzzer refuses `""`) and decodes to at most 64 bytes (libFuzzer
  silently drops longer entries, so one would never be used).

This is stricter than libFuzzer on purpose: libFuzzer accepts anything before the opening
quote, a bare `"` or a tab inside the value, a carriage return after the closing quote and
entries over 64 bytes (which it then ignores). Each is more likely a mistake than intent, and
each has a spelling every parser agrees on (`\"`, `\x09`). Everything libFuzzer refuses is
refused here too (checked against libFuzzer 14 with every self-test sample below).

Usage: check_dicts.py [FILE_OR_DIR...] (default: the directory of this script). Every error
is printed as FILE:LINE: why; exit status 1 on any error or when no dictionary was found,
2 when the built-in self-test fails. Python standard library only.
"""

import os
import re
import sys

MAX_ENTRY = 64  # libFuzzer's Word::GetMaxSize() (kMaxDictElementSize)
NAME = re.compile(rb"[A-Za-z0-9_.-]+\Z")
HEX = b"0123456789abcdefABCDEF"


def parse_value(body):
    """Decodes the text between the quotes; returns (bytes, None) or (None, why)."""
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c < 0x20 or c > 0x7E:
            return None, "byte 0x%02x inside quotes (write it as \\x%02x)" % (c, c)
        if c == ord('"'):
            return None, 'unescaped " inside the value (write \\")'
        if c == ord("\\"):
            nxt = body[i + 1 : i + 2]
            if nxt in (b"\\", b'"'):
                out += nxt
                i += 2
                continue
            if nxt == b"x":
                hh = body[i + 2 : i + 4]
                if len(hh) == 2 and all(h in HEX for h in hh):
                    out.append(int(hh, 16))
                    i += 4
                    continue
                return None, "\\x needs two hex digits"
            return None, "invalid escape \\%s (only \\\\, \\\" and \\xAB)" % (
                nxt.decode("ascii", "backslashreplace") or "<end of line>"
            )
        out.append(c)
        i += 1
    return bytes(out), None


def check_line(line):
    """Returns None for a good line (entry, comment or blank), else why it is bad."""
    s = line.strip(b" \t")
    if s == b"" or s.startswith(b"#"):
        return None
    if s.endswith(b"\r"):
        return "carriage return at the end of the line (CRLF line endings)"
    q = s.find(b'"')
    if q < 0:
        return 'no opening " (an entry is name="value" or "value")'
    name = s[:q]
    if name:
        if not name.endswith(b"="):
            return 'expected = between the name and the opening "'
        if not NAME.match(name[:-1]):
            return "bad entry name %r (letters, digits, _ - .)" % name[:-1].decode(
                "ascii", "backslashreplace"
            )
    rest = s[q + 1 :]
    if len(rest) == 0 or not rest.endswith(b'"') or _escaped_quote_at_end(rest):
        return 'no closing " on this line (a newline inside a value is written \\x0a)'
    value, why = parse_value(rest[:-1])
    if why:
        return why
    if len(value) == 0:
        return "empty value (libFuzzer refuses it)"
    if len(value) > MAX_ENTRY:
        return "value is %d bytes, over libFuzzer's %d (it would be dropped silently)" % (
            len(value),
            MAX_ENTRY,
        )
    return None


def _escaped_quote_at_end(rest):
    """True when the final " of rest is escaped (an odd run of backslashes before it)."""
    n = 0
    i = len(rest) - 2
    while i >= 0 and rest[i] == ord("\\"):
        n += 1
        i -= 1
    return n % 2 == 1


def check_text(data):
    """Yields (line_number, why) for every bad line of one file's bytes."""
    if data == b"":
        yield 1, "empty file (libFuzzer refuses it)"
        return
    # libFuzzer splits on \n only; a \r left at a line's end is reported as a bad byte.
    for n, line in enumerate(data.split(b"\n"), 1):
        why = check_line(line)
        if why:
            yield n, why


SELF_TEST = [
    # (file text, line numbers that must be reported)
    (b'a="x"\n"y"\n# c\n\n  b="\\x0a\\\\\\"" \n', []),
    (b'"?"\n"\n"\n" "\n', [2, 3]),  # the raw newline once in rt_config.dict
    (b'""\n', [1]),
    (b'a="\\q"\n', [1]),
    (b'a="\\x4"\n', [1]),
    (b'a="x\ty"\n', [1]),
    (b'a="\xc3\xa9"\n', [1]),
    (b'a b="x"\n', [1]),
    (b'a:"x"\n', [1]),
    (b'a="x\\"\n', [1]),
    (b'a="x"y"\n', [1]),
    (b'a=x\n', [1]),
    (b'a="x"\r\n', [1]),
    (b'a="' + b"x" * 64 + b'"\n', []),
    (b'a="' + b"x" * 65 + b'"\n', [1]),
    (b"", [1]),
]


def self_test():
    ok = True
    for text, want in SELF_TEST:
        got = [n for n, _ in check_text(text)]
        if got != want:
            print("check_dicts: self-test: %r: reported lines %s, expected %s" % (text, got, want))
            ok = False
    return ok


def main(argv):
    if not self_test():
        return 2
    args = argv[1:] or [os.path.dirname(os.path.abspath(__file__))]
    files = []
    for a in args:
        if os.path.isdir(a):
            files += sorted(os.path.join(a, f) for f in os.listdir(a) if f.endswith(".dict"))
        else:
            files.append(a)
    if not files:
        print("check_dicts: no .dict file in %s" % " ".join(args))
        return 1
    errors = 0
    for path in files:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            print("%s: cannot read: %s" % (path, e.strerror))
            errors += 1
            continue
        entries = 0
        bad = list(check_text(data))
        for n, why in bad:
            print("%s:%d: %s" % (path, n, why))
        errors += len(bad)
        if not bad:
            entries = sum(
                1 for l in data.split(b"\n") if l.strip(b" \t") and not l.strip(b" \t").startswith(b"#")
            )
            print("%s: ok, %d entries" % (path, entries))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
