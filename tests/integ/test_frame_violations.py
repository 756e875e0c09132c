#!/usr/bin/python3
"""RFC 6455 enforcement after the upgrade (SPEC "After the upgrade: frames"), raw client
through wsgate to wsgate-echo: every violation gets the close code the spec names (1002,
1007, 1009), then the TCP close. Also: a ping between fragments, valid close codes passed
through, and what the other leg (the backend) is told.

Run: /usr/bin/python3 test_frame_violations.py --bin <builddir>/bin [-k name]
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RawWS, Runner,  # noqa: E402
             T, TestFailure, build_frame, check, check_eq, close_payload)

runner = Runner(__doc__)
MAX_MESSAGE = 64 * 1024


def _setup(ctx):
    echo = ctx.echo()
    gw = ctx.gateway([f"/={echo.url}"], args=["--max-message", "64k"])
    return gw


shared = runner.share(_setup)


def violation(ctx, frames, code, what, warmup=True):
    """Open a raw connection, check it echoes, send `frames` (bytes or list of bytes), and
    expect close `code` from the gateway, then the TCP close."""
    gw = shared.get(ctx.bindir)
    w = RawWS(gw.port, "/")
    try:
        if warmup:
            w.send_frame(OP_TEXT, b"warm-up")
            check_eq(w.recv_message(T(5)), (OP_TEXT, b"warm-up"), f"{what}: echo before the violation")
        if isinstance(frames, bytes):
            frames = [frames]
        for f in frames:
            try:
                w.send_raw(f)
            except OSError:
                break  # the gateway may already have closed; the close frame is still readable
        w.expect_close(code, timeout=T(5), what=what)
    finally:
        w.close()


@runner.test(timeout=20)
def unmasked_client_frame_1002(ctx):
    violation(ctx, build_frame(OP_TEXT, b"hello", mask=False), 1002, "unmasked text frame")


@runner.test(timeout=20)
def unmasked_client_ping_1002(ctx):
    violation(ctx, build_frame(OP_PING, b"p", mask=False), 1002, "unmasked ping")


@runner.test(timeout=20)
def rsv1_set_1002(ctx):
    violation(ctx, build_frame(OP_TEXT, b"hello", rsv=4), 1002, "RSV1 without an extension")


@runner.test(timeout=20)
def rsv2_rsv3_set_1002(ctx):
    violation(ctx, build_frame(OP_BINARY, b"x", rsv=2), 1002, "RSV2")
    violation(ctx, build_frame(OP_BINARY, b"x", rsv=1), 1002, "RSV3")


@runner.test(timeout=20)
def reserved_opcode_0x3_1002(ctx):
    violation(ctx, build_frame(0x3, b"data"), 1002, "reserved data opcode 0x3")


@runner.test(timeout=20)
def reserved_opcode_0xb_1002(ctx):
    violation(ctx, build_frame(0xB, b""), 1002, "reserved control opcode 0xB")


@runner.test(timeout=20)
def ping_payload_126_1002(ctx):
    violation(ctx, build_frame(OP_PING, b"p" * 126), 1002, "ping with a 126-byte payload")


@runner.test(timeout=20)
def fragmented_ping_1002(ctx):
    violation(ctx, build_frame(OP_PING, b"p", fin=False), 1002, "ping with FIN=0")


@runner.test(timeout=20)
def continuation_without_start_1002(ctx):
    violation(ctx, build_frame(OP_CONT, b"orphan", fin=True), 1002, "continuation without a start")


@runner.test(timeout=20)
def new_data_frame_inside_fragmented_message_1002(ctx):
    frames = [build_frame(OP_TEXT, b"first part", fin=False), build_frame(OP_TEXT, b"intruder", fin=True)]
    violation(ctx, frames, 1002, "text frame inside an open fragmented message")


@runner.test(timeout=20)
def invalid_utf8_split_across_frames_1007(ctx):
    # U+20AC is E2 82 AC; E2 82 followed by 0x28 '(' is invalid (RFC 6455 / Autobahn 6.x style)
    frames = [build_frame(OP_TEXT, b"abc\xe2\x82", fin=False), build_frame(OP_CONT, b"\x28def", fin=True)]
    violation(ctx, frames, 1007, "invalid UTF-8 split across two frames")


@runner.test(timeout=20)
def invalid_utf8_detected_before_message_end_1007(ctx):
    # SPEC: 1007 "as soon as it is detected": the first fragment is already invalid and no
    # further fragment is ever sent.
    violation(ctx, build_frame(OP_TEXT, b"ok \xff not ok", fin=False), 1007,
          "invalid UTF-8 in an unfinished message")


@runner.test(timeout=20)
def invalid_utf8_single_frame_1007(ctx):
    for bad in (b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"):  # overlong, surrogate, > U+10FFFF
        violation(ctx, build_frame(OP_TEXT, b"x" + bad), 1007, f"invalid UTF-8 {bad!r}", warmup=False)


@runner.test(timeout=20)
def truncated_utf8_at_message_end_1007(ctx):
    violation(ctx, build_frame(OP_TEXT, b"abc\xe2\x82"), 1007, "text message ending inside a code point")


@runner.test(timeout=20)
def valid_utf8_split_across_frames_echoes(ctx):
    gw = shared.get(ctx.bindir)
    w = RawWS(gw.port, "/")
    try:
        w.send_frame(OP_TEXT, b"abc\xe2", fin=False)
        w.send_frame(OP_CONT, b"\x82", fin=False)
        w.send_frame(OP_CONT, b"\xacdef", fin=True)
        check_eq(w.recv_message(T(5)), (OP_TEXT, "abc\u20acdef".encode()), "split code point echo")
    finally:
        w.close()


@runner.test(timeout=30)
def invalid_close_codes_1002(ctx):
    for code in (1005, 999, 2000, 1004, 1006, 1015, 1016, 2999, 5000, 0):
        violation(ctx, build_frame(OP_CLOSE, close_payload(code)), 1002, f"close code {code}",
              warmup=False)


@runner.test(timeout=20)
def close_with_one_byte_payload_1002(ctx):
    violation(ctx, build_frame(OP_CLOSE, b"\x03"), 1002, "close frame with a 1-byte payload")


@runner.test(timeout=20)
def message_over_max_message_declared_in_header_1009(ctx):
    # Only the header goes out, declaring 100,000 bytes (> 64 KiB): the gateway must close
    # with 1009 before any payload arrives.
    gw = shared.get(ctx.bindir)
    w = RawWS(gw.port, "/")
    try:
        w.send_raw(build_frame(OP_BINARY, b"", length=100000))  # header + mask key, no payload
        w.expect_close(1009, timeout=T(5), what="frame header declaring 100,000 bytes")
    finally:
        w.close()


@runner.test(timeout=20)
def message_over_max_message_by_fragments_1009(ctx):
    # 40 KiB + 40 KiB in one message: over 64 KiB only in total. The second header already
    # declares the overflow, so its payload is never sent.
    frames = [build_frame(OP_BINARY, b"a" * 40960, fin=False),
          build_frame(OP_CONT, b"", fin=True, length=40960)]
    violation(ctx, frames, 1009, "fragmented message over --max-message")


@runner.test(timeout=20)
def message_at_max_message_echoes(ctx):
    gw = shared.get(ctx.bindir)
    w = RawWS(gw.port, "/")
    try:
        payload = os.urandom(MAX_MESSAGE)
        w.send_frame(OP_BINARY, payload)
        check(w.recv_message(T(10)) == (OP_BINARY, payload), "64 KiB message (= --max-message) echo")
    finally:
        w.close()


@runner.test(timeout=20)
def ping_between_fragments(ctx):
    gw = shared.get(ctx.bindir)
    w = RawWS(gw.port, "/")
    try:
        w.send_frame(OP_TEXT, b"Hello, ", fin=False)
        w.send_frame(OP_PING, b"mid-message")
        w.send_frame(OP_CONT, b"frag", fin=False)
        w.send_frame(OP_PONG, b"unsolicited")  # RFC 6455 5.5.3: allowed, needs no answer
        w.send_frame(OP_CONT, b"mented world", fin=True)
        deadline = time.monotonic() + T(5)
        got_pong, message, parts, op = None, None, [], None
        while (got_pong is None or message is None) and time.monotonic() < deadline:
            f = w.recv_frame(deadline - time.monotonic())
            if f.opcode == OP_PONG:
                check(got_pong is None, f"second pong {f!r}")
                got_pong = f.payload
            elif f.opcode == OP_PING:
                w.send_frame(OP_PONG, f.payload)
            elif f.opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                if op is None:
                    op = f.opcode
                parts.append(f.payload)
                if f.fin:
                    message = (op, b"".join(parts))
            else:
                raise TestFailure(f"unexpected frame {f!r}")
        check_eq(got_pong, b"mid-message", "pong for the ping sent between fragments")
        check_eq(message, (OP_TEXT, b"Hello, fragmented world"), "fragmented message echo")
    finally:
        w.close()


@runner.test(timeout=20)
def normal_close_1000_with_reason_via_echo(ctx):
    gw = shared.get(ctx.bindir)
    w = RawWS(gw.port, "/")
    try:
        w.send_close(1000, "bye now")
        f = w.expect_close(1000, timeout=T(5), reply=False, skip_data=False, what="close 1000")
        # wsgate-echo answers "with the same code"; the reason is checked end to end below
        # with the scripted backend, which echoes it.
        check(f.close_reason in (b"bye now", b""), f"close reason {f.close_reason!r}")
    finally:
        w.close()


@runner.test(timeout=30)
def close_code_and_reason_pass_through(ctx):
    b = ctx.backend(mode="ws", after="echo")
    gw = ctx.gateway([f"/={b.url}"])
    for code in (1000, 1001, 1003, 1007, 1008, 1011, 1014, 3000, 4321, 4999):
        w = RawWS(gw.port, "/")
        try:
            reason = f"reason {code} \u00e9".encode()
            w.send_close(code, reason)
            f = w.expect_close(code, timeout=T(5), reply=False, skip_data=False, what=f"close {code}")
            check_eq(f.close_reason, reason, f"close {code}: reason back at the client")
        finally:
            w.close()
    rcvd = [(e[2], e[3]) for e in b.events_of("close_rcvd")]
    want = [(c, f"reason {c} \u00e9".encode()) for c in (1000, 1001, 1003, 1007, 1008, 1011, 1014, 3000,
                                 4321, 4999)]
    check_eq(rcvd, want, "close codes and reasons received by the backend")


@runner.test(timeout=20)
def empty_close_passes(ctx):
    # a close without a payload is valid (status 1005 is then *reported*, never sent)
    gw = shared.get(ctx.bindir)
    w = RawWS(gw.port, "/")
    try:
        w.send_close()
        f = w.expect_close(None, timeout=T(5), reply=False, skip_data=False, what="empty close")
        check(f.close_code in (None, 1000), f"answer to an empty close carries code {f.close_code}")
    finally:
        w.close()


@runner.test(timeout=30)
def violation_tells_backend_1011(ctx):
    # SPEC: the side that broke the rule gets 1002; the other leg gets 1011.
    b = ctx.backend(mode="ws", after="echo")
    gw = ctx.gateway([f"/={b.url}"])
    w = RawWS(gw.port, "/")
    try:
        w.send_raw(build_frame(OP_TEXT, b"x", mask=False))
        w.expect_close(1002, timeout=T(5), what="unmasked frame (scripted backend)")
    finally:
        w.close()
    ev = b.wait_event("close_rcvd", T(5))
    check(ev is not None, f"backend got no close frame; its events: {b.events!r}")
    check_eq(ev[2], 1011, "close code at the backend after the client's violation")


@runner.test(timeout=30)
def backend_violation_gets_1002_client_1011(ctx):
    # A masked frame from the backend (server frames must not be masked) breaks the rule on the
    # backend leg: backend gets 1002, client gets 1011.
    b = ctx.backend(mode="ws", after="echo")
    gw = ctx.gateway([f"/={b.url}"])
    w = RawWS(gw.port, "/")
    try:
        check(b.upgrades == 1, "backend not upgraded")
        b.send_on(-1, build_frame(OP_TEXT, b"masked from server", mask=True))
        w.expect_close(1011, timeout=T(5), what="client after the backend's masked frame")
    finally:
        w.close()
    ev = b.wait_event("close_rcvd", T(5))
    check(ev is not None and ev[2] == 1002, f"backend close: expected 1002, events {b.events!r}")


@runner.test(timeout=30)
def client_message_over_max_message_tells_backend_1011(ctx):
    # The other leg of a 1009: SPEC "the other leg gets 1011 (or 1008 for policy closes)";
    # the policy closes are the 1008 ones (--msg-rate), so a size close gives the other leg 1011.
    b = ctx.backend(mode="ws", after="echo")
    gw = ctx.gateway([f"/={b.url}"], args=["--max-message", "64k"])
    w = RawWS(gw.port, "/")
    try:
        w.send_raw(build_frame(OP_BINARY, b"", length=100000))
        w.expect_close(1009, timeout=T(5), what="client's oversized message")
    finally:
        w.close()
    ev = b.wait_event("close_rcvd", T(5))
    check(ev is not None and ev[2] == 1011, f"backend close: expected 1011, events {b.events!r}")


@runner.test(timeout=30)
def backend_message_over_max_message_1009(ctx):
    # SPEC: --max-message is the largest message either way. The backend declares 100,000
    # bytes (> 64k) in a header: it gets 1009, the client 1011, before any payload is sent.
    b = ctx.backend(mode="ws", after="echo")
    gw = ctx.gateway([f"/={b.url}"], args=["--max-message", "64k"])
    w = RawWS(gw.port, "/")
    try:
        b.send_on(-1, build_frame(OP_BINARY, b"", mask=False, length=100000))
        w.expect_close(1011, timeout=T(5), what="client after the backend's oversized message")
    finally:
        w.close()
    ev = b.wait_event("close_rcvd", T(5))
    check(ev is not None and ev[2] == 1009, f"backend close: expected 1009, events {b.events!r}")


@runner.test(timeout=30)
def backend_initiated_close_passes_through(ctx):
    b = ctx.backend(mode="ws", after="echo")
    gw = ctx.gateway([f"/={b.url}"])
    w = RawWS(gw.port, "/")
    try:
        b.send_on(-1, build_frame(OP_CLOSE, close_payload(4001, "backend leaving"), mask=False),
                  closing=True)
        f = w.recv_frame(T(5))
        check_eq((f.opcode, f.close_code, f.close_reason), (OP_CLOSE, 4001, b"backend leaving"),
                 "close frame passed to the client")
        w.send_close(4001, "ok")
        ev = b.wait_event("close_rcvd", T(5))
        check(ev is not None, f"the client's close answer never reached the backend: {b.events!r}")
        check_eq(ev[2], 4001, "close code of the answer at the backend")
        from harness import expect_eof
        expect_eof(w.reader, T(5), what="client after the completed close handshake")
    finally:
        w.close()


if __name__ == "__main__":
    runner.main()
