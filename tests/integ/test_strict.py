#!/usr/bin/python3
"""Strict wire behaviour found missing from outside (issue 7), each a regression test that
failed before its fix: the close handshake on a half-closed socket, valid messages before a
violation delivered before the close (and their echoes back to the offender before its own
close), the close frame reaching a client that is still sending, 1011 to the other leg on
invalid UTF-8 in both directions, the drain's forced count, path normalisation, connection
ids, the fd budget, and wsgate-echo's own strictness.

Run: /usr/bin/python3 test_strict.py --bin <builddir>/bin [-k name]
"""

import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import note as harness_note  # noqa: E402
from harness import (OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT, PeerClosed, RawWS, Runner,  # noqa: E402
                     SockReader, T, TestFailure, TestTimeout, build_frame, check, check_eq,
                     expect_eof, http_exchange, read_frame, upgrade_request)

runner = Runner(__doc__)


def _setup(ctx):
    echo = ctx.echo()
    return ctx.gateway([f"/={echo.url}"], args=["--max-message", "64k"])


shared = runner.share(_setup)


def frames_until_close(w, timeout):
    """Every frame up to and including the first close; fails on EOF before it."""
    deadline = time.monotonic() + timeout
    out = []
    while True:
        try:
            f = read_frame(w.reader, deadline)
        except PeerClosed as e:
            raise TestFailure(f"TCP closed ({e}) before a close frame; frames: {out!r}")
        out.append(f)
        if f.opcode == OP_CLOSE:
            return out


@runner.test(timeout=20)
def test_issue_7_close_then_shut_wr_gets_close(ctx):
    gw = shared.get(ctx.bindir)
    w = RawWS(gw.port, "/")
    try:
        w.send_frame(OP_TEXT, b"hi")
        check_eq(w.recv_message(T(5)), (OP_TEXT, b"hi"), "echo")
        w.send_close(1000, b"done")
        w.sock.shutdown(socket.SHUT_WR)
        fs = frames_until_close(w, T(5))
        check_eq(fs[-1].close_code, 1000, "close code answered after SHUT_WR")
        expect_eof(w.reader, T(5), "after the close answer")
    finally:
        w.close()


@runner.test(timeout=20)
def test_issue_7_valid_messages_before_violation_are_delivered(ctx):
    gw = shared.get(ctx.bindir)
    w = RawWS(gw.port, "/")
    try:
        burst = (build_frame(OP_TEXT, b"first") + build_frame(OP_BINARY, b"\x00\x01second") +
                 build_frame(OP_TEXT, b"frag-", fin=False) + build_frame(OP_CONT, b"ment") +
                 build_frame(OP_TEXT, b"bad", mask=False))
        w.send_raw(burst)  # one write: one read at the gateway
        fs = frames_until_close(w, T(5))
        data = [(f.opcode, f.payload) for f in fs[:-1]]
        check_eq(data, [(OP_TEXT, b"first"), (OP_BINARY, b"\x00\x01second"),
                        (OP_TEXT, b"frag-"), (OP_CONT, b"ment")],
                 "echoes of the messages before the violation, before the close")
        check_eq(fs[-1].close_code, 1002, "close code")
    finally:
        w.close()


@runner.test(timeout=20)
def test_issue_7_utf8_first_payload_byte_other_leg_gets_1011(ctx):
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/={be.url}"])
    w = RawWS(gw.port, "/")
    try:
        w.send_frame(OP_TEXT, b"\xffabc")
        fs = frames_until_close(w, T(5))
        check_eq(fs[-1].close_code, 1007, "offender's close")
        ev = be.wait_event("close_rcvd", T(5))
        check(ev is not None, f"backend got no close frame: {be.events!r}")
        check_eq(ev[2], 1011, "backend's close code")
        texts = [e for e in be.events_of("frame") if e[2] == OP_TEXT]
        check_eq(texts, [], "no part of the bad frame reached the backend")
    finally:
        w.close()


@runner.test(timeout=20)
def test_issue_7_utf8_from_backend_client_gets_1011(ctx):
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/={be.url}"])
    w = RawWS(gw.port, "/")
    try:
        w.send_frame(OP_TEXT, b"badutf8")
        fs = frames_until_close(w, T(5))
        check_eq(fs[-1].close_code, 1011, "client's close")
        check_eq([f for f in fs[:-1] if f.opcode == OP_TEXT], [], "no bad text reached the client")
        ev = be.wait_event("close_rcvd", T(5))
        check(ev is not None, f"backend got no close frame: {be.events!r}")
        check_eq(ev[2], 1007, "backend's (the offender's) close code")
    finally:
        w.close()


@runner.test(timeout=20)
def test_issue_7_utf8_in_frame_split_across_reads_is_held_back(ctx):
    """A 20 KB text frame (more than one 16 KiB receive) that fails near its end: the backend
    must get none of it and a clean 1011."""
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/={be.url}"])
    w = RawWS(gw.port, "/")
    try:
        payload = b"a" * 20000 + b"\xc3\x28"
        frame = build_frame(OP_TEXT, payload)
        w.send_raw(frame[:9000])
        time.sleep(0.1)
        w.send_raw(frame[9000:])
        fs = frames_until_close(w, T(5))
        check_eq(fs[-1].close_code, 1007, "offender's close")
        ev = be.wait_event("close_rcvd", T(5))
        check(ev is not None, f"backend got no close frame: {be.events!r}")
        check_eq(ev[2], 1011, "backend's close code")
        check_eq([e for e in be.events_of("frame") if e[2] == OP_TEXT], [],
                 "no part of the bad frame reached the backend")
    finally:
        w.close()


@runner.test(timeout=30)
def test_issue_7_utf8_deep_in_large_frame_offender_gets_1007(ctx):
    """Invalid UTF-8 200 KB into a 300 KB text frame (its start already forwarded): the
    offender still gets its close frame."""
    gw = ctx.gateway([f"/={ctx.echo().url}"])
    w = RawWS(gw.port, "/")
    try:
        payload = b"b" * 200000 + b"\xff" + b"c" * 100000
        frame = build_frame(OP_TEXT, payload)
        for i in range(0, len(frame), 32768):
            try:
                w.send_raw(frame[i:i + 32768])
            except OSError:
                break
        fs = frames_until_close(w, T(10))
        check_eq(fs[-1].close_code, 1007, "offender's close")
    finally:
        w.close()


@runner.test(timeout=60)
def test_issue_7_client_still_sending_sees_1009(ctx):
    """A client that writes its whole (too big) message before it reads anything, as most
    client libraries do, over about 3 s: the gateway's close must still be there when it
    reads, not be destroyed by a reset because the gateway closed with unread bytes in the
    socket (it must keep reading and dropping while the client sends)."""
    gw = shared.get(ctx.bindir)
    w = RawWS(gw.port, "/")
    try:
        size = 16 << 20
        head = build_frame(OP_BINARY, b"", length=size, mask=False)
        w.sock.settimeout(T(30))
        try:
            w.sock.sendall(bytes([head[0], head[1] | 0x80]) + head[2:] + b"\x01\x02\x03\x04")
            chunk = b"\x55" * (1 << 16)
            for i in range(size >> 16):  # about 3 s in all: a client on a slower link
                w.sock.sendall(chunk)
                time.sleep(0.012)
        except OSError as e:
            raise TestFailure(f"the gateway stopped reading before the client was done: {e!r}")
        fs = frames_until_close(w, T(15))
        check_eq(fs[-1].close_code, 1009, "close code read after the whole message was sent")
    finally:
        w.close()


@runner.test(timeout=30)
def test_issue_7_drain_log_counts_forced_closes(ctx):
    gw = ctx.gateway([f"/={ctx.echo().url}"], args=["--drain-timeout", "1s"])
    socks = [RawWS(gw.port, "/") for _ in range(3)]
    try:
        gw.signal(signal.SIGTERM)
        rc = gw.wait(T(10))
        check_eq(rc, 0, "exit status after the drain timeout")
        err = gw.stderr()
        m = re.search(r"ev=drain_done forced=(\d+)", err)
        check(m is not None, f"no drain_done line:\n{err[-2000:]}")
        check_eq(int(m.group(1)), 3, "forced closes (3 clients that never answered the close)")
    finally:
        for s in socks:
            s.close()


@runner.test(timeout=20)
def test_issue_7_path_normalised_before_routing(ctx):
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/echo={be.url}"])
    cases = [("/echo/../admin", 404), ("/echo/%2e%2e/admin", 404), ("/echo/%2F", 400),
             ("/../echo", 400), ("/echo/a%zz", 400), ("/echo/a/../b", 101),
             ("//echo//x", 101), ("/%65cho/y?q=%2e", 101)]
    for path, want in cases:
        resp = http_exchange(gw.port, upgrade_request(path=path), check_closed=False)
        check_eq(resp.status, want, f"GET {path}")
    lines = [r["line"] for r in be.requests]
    check_eq(lines, ["GET /echo/b HTTP/1.1", "GET /echo/x HTTP/1.1", "GET /echo/y?q=%2e HTTP/1.1"],
             "what the backend received (the normalised path, the query as sent)")


@runner.test(timeout=20)
def test_issue_7_request_ids_unique_across_instances(ctx):
    be = ctx.backend(after="echo")
    ids = []
    for _ in range(2):
        gw = ctx.gateway([f"/={be.url}"])
        for _ in range(2):
            w = RawWS(gw.port, "/")
            w.close()
        gw.kill()
    for r in be.requests:
        ids.append(r["hdr"].get("x-request-id"))
    check_eq(len(ids), 4, "requests seen")
    for i in ids:
        check(i is not None and re.fullmatch(r"[0-9a-z]{8}\.[0-9]+", i), f"id {i!r}")
    check_eq(len(set(ids)), 4, f"ids unique: {ids!r}")
    check(ids[0].split(".")[0] != ids[2].split(".")[0], f"instance prefixes differ: {ids!r}")


@runner.test(timeout=60)
def test_issue_7_fd_limit_gives_503_not_502(ctx):
    """At the fd limit every client is answered 101 or 503, never 502: the sockets let in
    over --max-conns (to be answered 503) must not take the descriptors an admitted client's
    backend socket needs. Every socket connects first (handshakes in progress count as
    clients), then all send their requests."""
    echo = ctx.echo()
    import harness
    port, admin = harness.free_port(), harness.free_port()
    gw = ctx.proc(["prlimit", "--nofile=260:260", os.path.join(ctx.bindir, "wsgate"),
                   "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}",
                   "--workers", "1", "--route", f"/={echo.url}"], name="wsgate")
    deadline = time.monotonic() + T(10)
    while not harness.tcp_connectable(port):
        check(time.monotonic() < deadline and gw.alive(), f"not listening:\n{gw.stderr_tail()}")
        time.sleep(0.05)
    statuses = {}
    held = []
    try:
        for _ in range(170):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=T(5)))
        time.sleep(0.3)  # let the acceptor hand all of them over
        for s in held:
            try:
                s.sendall(upgrade_request(path="/"))
            except OSError:
                statuses["closed"] = statuses.get("closed", 0) + 1
        for s in held:
            r = SockReader(s)
            try:
                head = r.read_until(b"\r\n\r\n", time.monotonic() + T(5))
                st = int(head.split(b" ")[1])
            except (PeerClosed, TestTimeout):
                st = "closed"
            statuses[st] = statuses.get(st, 0) + 1
        check(502 not in statuses, f"502 answers at the fd limit: {statuses!r}")
        check(statuses.get(101, 0) > 0 and statuses.get(503, 0) > 0,
              f"expected both 101 and 503: {statuses!r}")
    finally:
        for s in held:
            s.close()


@runner.test(timeout=20)
def test_issue_7_echo_invalid_utf8_gets_clean_1007(ctx):
    """wsgate-echo itself: a text frame invalid at its end is not echoed in part (a close
    frame where its payload should be); the client gets exactly a close 1007."""
    echo = ctx.echo()
    w = RawWS(echo.port, "/")
    try:
        w.send_frame(OP_TEXT, b"x" * 30000 + b"\xed\xa0\x80")  # a surrogate: invalid
        fs = frames_until_close(w, T(5))
        check_eq([(f.opcode, len(f.payload)) for f in fs[:-1]], [], "frames before the close")
        check_eq(fs[-1].close_code, 1007, "close code")
    finally:
        w.close()


@runner.test(timeout=90)
def test_issue_7_memory_of_non_reading_clients_is_bounded_and_returned(ctx):
    """100 clients that never read while their backends flood them: the gateway holds at
    most the documented bound for each, and gives the memory back when they leave."""
    be = ctx.backend(after="flood", flood_size=65536)
    echo = ctx.echo()
    # ASan's quarantine keeps freed memory on purpose (to catch use after free); it is off
    # for this gateway only, so that RSS shows what wsgate itself holds.
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = {"ASAN_OPTIONS": (asan + ":" if asan else "") + "quarantine_size_mb=0"}
    gw = ctx.gateway([f"/={be.url}", f"/warm={echo.url}"], workers=2, env=env)
    with open(f"/proc/{gw.pid}/maps") as f:
        if "libtsan" in f.read():
            # ThreadSanitizer shadows every byte the program maps: RSS says nothing about
            # wsgate's own memory there (the ASan and release builds check the bound).
            harness_note("ThreadSanitizer build: RSS bound not checked")
            return
    # The per-worker receive buffers (256 x 16 KiB) become resident as they are first filled:
    # fill them all before the baseline, so that what is measured next is what the stalled
    # clients cost.
    for _ in range(2):  # round robin: one client per worker
        w = RawWS(gw.port, "/warm")
        for i in range(300):
            w.send_frame(OP_BINARY, b"w" * 40000)
            w.recv_message(T(5))
        w.close()
    time.sleep(0.5)
    base = gw.vm_rss_kib()
    socks = []
    try:
        for _ in range(100):
            s = socket.create_connection(("127.0.0.1", gw.port), timeout=T(5))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.sendall(upgrade_request(path="/"))
            r = SockReader(s)
            head = r.read_until(b"\r\n\r\n", time.monotonic() + T(5))
            check(head.startswith(b"HTTP/1.1 101"), f"upgrade: {head[:40]!r}")
            socks.append(s)
        # Wait until the floods have filled what they can (RSS stops growing).
        peak, last, stable = base, base, 0
        deadline = time.monotonic() + T(30)
        while time.monotonic() < deadline and stable < 5:
            time.sleep(0.3)
            now = gw.vm_rss_kib()
            peak = max(peak, now)
            stable = stable + 1 if abs(now - last) < 512 else 0
            last = now
        grown = peak - base
        per_client = grown * 1024 / 100
        harness_note(f"RSS {base} KiB at start, {peak} KiB with 100 stalled clients: "
                     f"{per_client:.0f} B per client")
        # docs/ARCHITECTURE.md "Memory": at most 192 KiB per stalled direction (a 128 KiB
        # queue block and the 64 KiB one a pending send pins), plus each worker's cache of
        # free blocks (2 MiB) that the growth of those queues fills.
        bound = 100 * 192 + 2 * 2 * 1024 + 2048
        check(grown < bound, f"RSS grew {grown} KiB for 100 stalled clients (bound {bound} KiB: "
                             f"100 x 192 KiB + 2 x 2 MiB block cache + 2 MiB)")
    finally:
        for s in socks:
            s.close()
    deadline = time.monotonic() + T(20)
    after = gw.vm_rss_kib()
    # Back to the start, give or take the block caches (2 x 2 MiB) and the allocator's slack.
    while time.monotonic() < deadline and after - base > 6 * 1024:
        time.sleep(0.3)
        after = gw.vm_rss_kib()
    harness_note(f"RSS {after} KiB after they left")
    check(after - base <= 6 * 1024, f"RSS {after} KiB after the clients left, {base} KiB at "
                                     f"start: memory not given back")


if __name__ == "__main__":
    runner.main()
