#!/usr/bin/python3
"""Answers before the upgrade (SPEC "Before the upgrade: HTTP answers"), with raw sockets:
400, 404, 405, 426 (both kinds), 431, 505, 502, 504, relayed backend statuses, and the
handshake timeout. Every error answer must carry Connection: close, a short body, and the
socket must be closed after it.

Run: /usr/bin/python3 test_http_rejections.py --bin <builddir>/bin [-k name]
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (RawWS, Runner, SockReader, T, TestTimeout, TestFailure,  # noqa: E402
             check, check_eq, free_port, http_exchange, upgrade_request, ws_key)

runner = Runner(__doc__)
CONNECT_TIMEOUT = 1.0
HANDSHAKE_TIMEOUT = 2.0


def _setup(ctx):
    echo = ctx.echo()
    silent = ctx.backend(mode="silent")
    forbid = ctx.backend(mode="status", status=403)
    badproto = ctx.backend(mode="ws", subprotocol="other")
    badaccept = ctx.backend(mode="ws", wrong_accept=True)
    down1, down2 = free_port(), free_port()  # nothing listens there
    routes = [
        f"/chat={echo.url}",
        f"/down=ws://127.0.0.1:{down1},ws://127.0.0.1:{down2}",
        f"/slow={silent.url}",
        f"/forbid={forbid.url}",
        f"/badproto={badproto.url}",
        f"/badaccept={badaccept.url}",
        f"/mixed=ws://127.0.0.1:{down1},{echo.url}",
        f"/mixedslow={silent.url},{echo.url}",
    ]
    gw = ctx.gateway(routes, args=["--connect-timeout", f"{CONNECT_TIMEOUT:g}s",
                       "--handshake-timeout", f"{HANDSHAKE_TIMEOUT:g}s"])
    return gw


shared = runner.share(_setup)


def expect_error(port, raw, status, what, header=None, timeout=None):
    """Send `raw`; the answer must be `status` with Connection: close and a body, then the
    gateway must close the socket. `header` = (name, value) that must also be present."""
    resp = http_exchange(port, raw, timeout=timeout)
    check_eq(resp.status, status, f"{what}: status (answer {resp!r})")
    check(resp.version == "HTTP/1.1", f"{what}: status line version {resp.version}")
    conn = [t.strip().lower() for v in resp.header_all("connection") for t in v.split(",")]
    check("close" in conn, f"{what}: no 'Connection: close' in {resp.headers!r}")
    check(len(resp.body) > 0, f"{what}: empty body (SPEC: a short plain-text body)")
    ctype = resp.header("content-type")
    check(ctype is None or ctype.lower().startswith("text/plain"), f"{what}: Content-Type {ctype!r}")
    check(resp.closed_after, f"{what}: socket not closed right after the {status} answer"
          + (f"; {len(resp.after_bytes)} more bytes came: {resp.after_bytes[:160]!r}"
             if resp.after_bytes else f" (still open {T(3):.0f}s later)"))
    if header is not None:
        got = resp.header(header[0])
        check(got is not None and got.strip().lower() == header[1].lower(),
              f"{what}: header {header[0]}: expected {header[1]!r}, got {got!r}")
    return resp


def expect_101(port, path):
    w = RawWS(port, path)
    w.close()


@runner.test(timeout=30)
def malformed_request_line_or_header_400(ctx):
    gw = shared.get(ctx.bindir)
    cases = {
        "garbage request line": b"GARBAGE\r\n\r\n",
        "request line with control bytes": b"G\x01T /chat HTTP/1.1\r\nHost: x\r\n\r\n",
        "header line without a colon": upgrade_request("/chat", extra=["Bogus-header-no-colon"]),
        "space before a header colon": upgrade_request("/chat", extra=["X-Thing : 1"]),
    }
    for what, raw in cases.items():
        expect_error(gw.port, raw, 400, what)


@runner.test(timeout=30)
def missing_or_malformed_key_400(ctx):
    gw = shared.get(ctx.bindir)
    import base64
    cases = {
        "missing Sec-WebSocket-Key": upgrade_request("/chat", key=False),
        "key not base64": upgrade_request("/chat", key="not*base64*at*all!!!!!="),
        "key of 15 bytes": upgrade_request("/chat", key=base64.b64encode(os.urandom(15)).decode()),
        "key of 17 bytes": upgrade_request("/chat", key=base64.b64encode(os.urandom(17)).decode()),
        "empty key": upgrade_request("/chat", key=""),
    }
    for what, raw in cases.items():
        expect_error(gw.port, raw, 400, what)
    expect_101(gw.port, "/chat")  # and a good key passes


@runner.test(timeout=30)
def post_on_routed_path_405(ctx):
    gw = shared.get(ctx.bindir)
    expect_error(gw.port, upgrade_request("/chat", method="POST"), 405, "POST upgrade to /chat",
             header=("Allow", "GET"))
    raw = b"POST /chat/room HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
    expect_error(gw.port, raw, 405, "plain POST to /chat/room", header=("Allow", "GET"))


@runner.test(timeout=30)
def unrouted_path_404(ctx):
    gw = shared.get(ctx.bindir)
    # SPEC: the route lookup comes before the method and upgrade checks.
    expect_error(gw.port, upgrade_request("/nothing", method="POST"), 404, "POST to unrouted /nothing")
    expect_error(gw.port, upgrade_request("/chatter"), 404, "GET upgrade to /chatter (route is /chat)")
    expect_error(gw.port, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n", 404, "plain GET to /nothing")
    expect_error(gw.port, upgrade_request("/"), 404, "GET upgrade to / (no catch-all route)")
    # segment-boundary prefix match: /chat matches /chat and /chat/room1 and /chat?x
    for path in ("/chat", "/chat/room1", "/chat?x=1"):
        expect_101(gw.port, path)


@runner.test(timeout=30)
def not_an_upgrade_426(ctx):
    gw = shared.get(ctx.bindir)
    cases = {
        "plain GET": b"GET /chat HTTP/1.1\r\nHost: x\r\n\r\n",
        "Upgrade: h2c": (f"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {ws_key()}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode(),
        "Upgrade: websocket without Connection: Upgrade": (
            f"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Key: {ws_key()}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n").encode(),
    }
    for what, raw in cases.items():
        expect_error(gw.port, raw, 426, what, header=("Upgrade", "websocket"))
    # header names and the tokens are case-insensitive; Connection may be a list
    raw = (f"GET /chat HTTP/1.1\r\nhost: x\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\n"
           f"sec-websocket-key: {ws_key()}\r\nsec-websocket-version: 13\r\n\r\n").encode()
    resp = http_exchange(gw.port, raw)
    check_eq(resp.status, 101, f"case-insensitive upgrade request ({resp!r})")


@runner.test(timeout=30)
def wrong_websocket_version_426(ctx):
    gw = shared.get(ctx.bindir)
    for version in ("8", "12", "14", None):
        what = f"Sec-WebSocket-Version {version}" if version else "no Sec-WebSocket-Version"
        expect_error(gw.port, upgrade_request("/chat", version=version), 426, what,
                 header=("Sec-WebSocket-Version", "13"))


@runner.test(timeout=30)
def head_too_large_431(ctx):
    gw = shared.get(ctx.bindir)
    big = upgrade_request("/chat", extra=["X-Big: " + "a" * (17 * 1024)])
    expect_error(gw.port, big, 431, "request head over 16 KiB (one 17 KiB header)")
    many = upgrade_request("/chat", extra=[f"X-Filler-{i}: v" for i in range(150)])
    expect_error(gw.port, many, 431, "request head with 150+ header lines")
    # near the limits but under them: accepted (so 431 is not answered to everything)
    ok = upgrade_request("/chat", extra=["X-Big: " + "a" * (14 * 1024)])
    check_eq(http_exchange(gw.port, ok).status, 101, "head of ~14 KiB")
    ok = upgrade_request("/chat", extra=[f"X-Filler-{i}: v" for i in range(85)])
    check_eq(http_exchange(gw.port, ok).status, 101, "head with ~90 header lines")


@runner.test(timeout=30)
def http_1_0_505(ctx):
    gw = shared.get(ctx.bindir)
    expect_error(gw.port, upgrade_request("/chat", http="HTTP/1.0"), 505, "HTTP/1.0 upgrade")
    expect_error(gw.port, upgrade_request("/chat", http="HTTP/2.0"), 505, "HTTP/2.0 upgrade")
    # SPEC order: the version check comes before the method check
    expect_error(gw.port, upgrade_request("/chat", http="HTTP/1.0", method="POST"), 505,
             "HTTP/1.0 POST")


@runner.test(timeout=30)
def check_order_405_before_426_and_426_before_400(ctx):
    gw = shared.get(ctx.bindir)
    expect_error(gw.port, b"POST /chat HTTP/1.1\r\nHost: x\r\n\r\n", 405, "POST that is not an upgrade",
             header=("Allow", "GET"))
    expect_error(gw.port, upgrade_request("/chat", version="8", key=False), 426,
             "bad version and no key", header=("Sec-WebSocket-Version", "13"))


@runner.test(timeout=30)
def all_backends_down_502(ctx):
    gw = shared.get(ctx.bindir)
    t0 = time.monotonic()
    expect_error(gw.port, upgrade_request("/down"), 502, "every backend refusing")
    dt = time.monotonic() - t0
    check(dt < CONNECT_TIMEOUT + T(1), f"502 for refused backends took {dt:.2f}s")


@runner.test(timeout=30)
def refused_backend_is_skipped(ctx):
    # /mixed = [nothing listening, echo]: whichever the balancer picks, the client gets 101.
    gw = shared.get(ctx.bindir)
    for i in range(6):
        expect_101(gw.port, f"/mixed/{i}")


@runner.test(timeout=40)
def timed_out_backend_is_skipped(ctx):
    # /mixedslow = [never answers, echo]: a timed-out attempt moves on to the next backend.
    gw = shared.get(ctx.bindir)
    for i in range(4):
        t0 = time.monotonic()
        expect_101(gw.port, f"/mixedslow/{i}")
        dt = time.monotonic() - t0
        check(dt < CONNECT_TIMEOUT + T(2), f"101 after a timed-out backend took {dt:.2f}s")


@runner.test(timeout=30)
def silent_backend_504(ctx):
    gw = shared.get(ctx.bindir)
    t0 = time.monotonic()
    expect_error(gw.port, upgrade_request("/slow"), 504, "backend accepts TCP, never answers",
             timeout=CONNECT_TIMEOUT + T(5))
    dt = time.monotonic() - t0
    check(CONNECT_TIMEOUT * 0.8 <= dt <= CONNECT_TIMEOUT + T(2),
          f"504 after {dt:.2f}s, expected about --connect-timeout {CONNECT_TIMEOUT}s")


@runner.test(timeout=30)
def backend_status_relayed(ctx):
    gw = shared.get(ctx.bindir)
    expect_error(gw.port, upgrade_request("/forbid"), 403, "backend answered 403")


@runner.test(timeout=30)
def backend_unoffered_subprotocol_502(ctx):
    gw = shared.get(ctx.bindir)
    expect_error(gw.port, upgrade_request("/badproto", protocols=["chat"]), 502,
             "backend chose 'other' when the client offered 'chat'")
    expect_error(gw.port, upgrade_request("/badproto"), 502,
             "backend chose 'other' when the client offered nothing")


@runner.test(timeout=30)
def backend_wrong_accept_502(ctx):
    gw = shared.get(ctx.bindir)
    expect_error(gw.port, upgrade_request("/badaccept"), 502, "backend sent a wrong Sec-WebSocket-Accept")


@runner.test(timeout=40)
def over_max_conns_503(ctx):
    # SPEC --max-conns: gateway-wide limit on client sockets; ISSUE 3: running out is load, not a
    # bug: the newcomer gets 503, everyone else keeps going. One worker, so that a per-worker
    # split of the limit cannot blur the count.
    echo = ctx.echo()
    gw = ctx.gateway([f"/={echo.url}"], args=["--max-conns", "2"], workers=1)
    a = RawWS(gw.port, "/a")
    ctx.track(a.sock)
    b = RawWS(gw.port, "/b")
    ctx.track(b.sock)
    expect_error(gw.port, upgrade_request("/c"), 503, "third client with --max-conns 2")
    for w, name in ((a, "a"), (b, "b")):
        w.send_frame(0x1, name.encode())
        check_eq(w.recv_message(T(5)), (0x1, name.encode()), f"client {name} still served after the 503")
    a.send_close(1000)
    a.expect_close(1000, timeout=T(5), reply=False, what="client a closing")
    deadline = time.monotonic() + T(5)
    while True:  # the freed slot comes back once the gateway has finished with client a
        resp = http_exchange(gw.port, upgrade_request("/d"))
        if resp.status == 101 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check_eq(resp.status, 101, "a new client once one of the two has left")


def _expect_silent_close(port, payload, what):
    """Connect, send `payload` (part of a head), and expect the gateway to close the socket
    with no answer after about --handshake-timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=T(5))
    try:
        if payload:
            s.sendall(payload)
        t0 = time.monotonic()
        r = SockReader(s)
        try:
            data, _ = r.read_to_eof(t0 + HANDSHAKE_TIMEOUT + T(3), limit=1 << 16)
        except TestTimeout:
            raise TestFailure(f"{what}: still open {HANDSHAKE_TIMEOUT + T(3):.1f}s later "
                      f"(--handshake-timeout {HANDSHAKE_TIMEOUT}s)")
        dt = time.monotonic() - t0
        check_eq(data, b"", f"{what}: bytes sent before the close (SPEC: closed without an answer)")
        check(dt >= HANDSHAKE_TIMEOUT * 0.75, f"{what}: closed after only {dt:.2f}s")
    finally:
        s.close()


@runner.test(timeout=30)
def handshake_timeout_half_head(ctx):
    gw = shared.get(ctx.bindir)
    _expect_silent_close(gw.port, b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: webs",
                 "half a request head")


@runner.test(timeout=30)
def handshake_timeout_nothing_sent(ctx):
    gw = shared.get(ctx.bindir)
    _expect_silent_close(gw.port, b"", "connection that sends nothing")


@runner.test(timeout=30)
def handshake_timeout_trickle(ctx):
    # the timeout runs from accept to a complete head: sending a byte now and then does not
    # extend it (slowloris)
    gw = shared.get(ctx.bindir)
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=T(5))
    try:
        head = upgrade_request("/chat")
        t0 = time.monotonic()
        closed_at = None
        for i in range(len(head) - 4):
            if time.monotonic() - t0 > HANDSHAKE_TIMEOUT + T(3):
                break
            try:
                s.sendall(head[i:i + 1])
            except OSError:
                closed_at = time.monotonic() - t0
                break
            s.settimeout(0.2)
            try:
                data = s.recv(4096)
                check_eq(data, b"", "bytes from the gateway during a trickled head")
                closed_at = time.monotonic() - t0
                break
            except socket.timeout:
                pass
            except ConnectionResetError:
                closed_at = time.monotonic() - t0
                break
        check(closed_at is not None, f"trickled head still open after {time.monotonic() - t0:.1f}s")
        check(closed_at <= HANDSHAKE_TIMEOUT + T(2), f"trickled head closed only after {closed_at:.2f}s")
    finally:
        s.close()


if __name__ == "__main__":
    runner.main()
