#!/usr/bin/python3
"""The minimal admin listener (SPEC "Admin API"): GET /healthz and GET /readyz, checked with
an independent client (curl), and --admin off; health checks answered while many idle or slow
admin clients are connected, HEAD and HTTP/1.0 probes (HAProxy's httpchk), 405/413/431, and an
admin port that a second gateway cannot share.

Run: /usr/bin/python3 test_admin.py --bin <builddir>/bin [-k name]
"""

import json
import os
import select
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PeerClosed, Runner, SockReader, T, TestFailure, TestTimeout,  # noqa: E402
             check, check_eq, free_port, http_get, note, parse_head, raise_nofile, run_cmd,
             tcp_connectable)

runner = Runner(__doc__)


def _setup(ctx):
    echo = ctx.echo()
    return ctx.gateway([f"/={echo.url}"])


shared = runner.share(_setup)


def curl(port, path, method="GET"):
    """(status, body) from curl; status 0 when curl could not connect."""
    rc, out, err = run_cmd(["curl", "-s", "-X", method, "-o", "-", "-w", "\n%{http_code}",
                "--max-time", str(T(5)), f"http://127.0.0.1:{port}{path}"], T(10))
    body, _, code = out.rpartition("\n")
    try:
        return int(code), body
    except ValueError:
        raise TestFailure(f"curl output {out!r} (rc {rc}, stderr {err!r})")


@runner.test(timeout=30)
def healthz_200_status_ok(ctx):
    gw = shared.get(ctx.bindir)
    code, body = curl(gw.admin_port, "/healthz")
    check_eq(code, 200, "GET /healthz status")
    try:
        doc = json.loads(body)
    except ValueError:
        raise TestFailure(f"/healthz body is not JSON: {body!r}")
    check_eq(doc, {"status": "ok"}, "/healthz body")


@runner.test(timeout=30)
def readyz_200_while_running(ctx):
    gw = shared.get(ctx.bindir)
    for _ in range(3):
        code, _ = curl(gw.admin_port, "/readyz")
        check_eq(code, 200, "GET /readyz status")


@runner.test(timeout=30)
def unknown_admin_path_404(ctx):
    gw = shared.get(ctx.bindir)
    code, _ = curl(gw.admin_port, "/no-such-endpoint")
    check_eq(code, 404, "GET /no-such-endpoint on the admin listener")


@runner.test(timeout=30)
def admin_not_on_data_listener(ctx):
    # /healthz is an admin path only: on the client listener, where "/" is routed, a plain GET
    # is "not an upgrade" (426), not a health answer.
    gw = shared.get(ctx.bindir)
    code, _ = curl(gw.port, "/healthz")
    check_eq(code, 426, "GET /healthz on the client listener (route / exists, not an upgrade)")


@runner.test(timeout=30)
def admin_off_has_no_listener(ctx):
    echo = ctx.echo()
    port = free_port()
    admin_default_busy = tcp_connectable(9090)
    p = ctx.proc([os.path.join(ctx.bindir, "wsgate"), "--listen", f"127.0.0.1:{port}", "--admin", "off",
              "--workers", "1", "--route", f"/={echo.url}"], name="wsgate")
    deadline = time.monotonic() + T(15)
    while not tcp_connectable(port):
        check(p.alive(), f"wsgate --admin off exited with {p.returncode()}: {p.stderr_tail()}")
        check(time.monotonic() < deadline, "wsgate --admin off: listener never came up")
        time.sleep(0.05)
    if not admin_default_busy:
        check(not tcp_connectable(9090), "--admin off, yet something listens on 127.0.0.1:9090")
    check(p.alive(), "wsgate exited")


# ---------------------------------------------------------------------------------------------
# raw exchanges: the admin answers once and closes, so "everything until EOF" is the answer


def raw_answer(port, raw, timeout=None):
    """Send raw bytes, read to EOF. Returns (version, status, headers dict, body bytes)."""
    timeout = T(5) if timeout is None else timeout
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(raw)
        r = SockReader(s)
        try:
            data, _ = r.read_to_eof(deadline, limit=1 << 20)
        except TestTimeout:
            raise TestFailure(f"no EOF within {timeout:.1f}s after {raw[:60]!r}; got {bytes(r.buf)[:200]!r}")
    head, sep, body = data.partition(b"\r\n\r\n")
    check(sep, f"no complete head in the answer to {raw[:60]!r}: {data[:200]!r}")
    version, status, _, headers = parse_head(head)
    return version, status, dict(headers), body


def open_idle(port, n):
    """n TCP connections to port that never send a byte (the caller closes them)."""
    socks = []
    try:
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=T(5)))
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def still_open(sock):
    """True when the peer has neither sent anything nor closed (a non-blocking peek)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) is None
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def timed_get(port, path, limit):
    t0 = time.monotonic()
    try:
        status, _, body = http_get(port, path, timeout=limit)
    except (OSError, TestTimeout, PeerClosed) as e:
        raise TestFailure(f"GET {path}: no answer within {limit:.1f}s ({e!r})")
    return status, time.monotonic() - t0


@runner.test(timeout=60)
def health_answers_with_200_idle_admin_clients(ctx):
    # Issue: 32 idle sockets filled the admin's fixed slot table and /healthz went unanswered
    # until the 5 s timeout cut them. 200 idle clients must not delay a check past 1 s.
    gw = shared.get(ctx.bindir)
    raise_nofile()
    for s in open_idle(gw.admin_port, 200):
        ctx.track(s)
    worst, rounds = 0.0, 0
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        for path in ("/healthz", "/readyz"):
            status, dt = timed_get(gw.admin_port, path, T(1))
            check_eq(status, 200, f"GET {path} with 200 idle admin clients")
            check(dt < T(1), f"GET {path} took {dt:.2f}s with 200 idle admin clients")
            worst = max(worst, dt)
        rounds += 1
        time.sleep(0.05)
    note(f"{rounds} rounds of /healthz + /readyz, slowest {worst * 1000:.0f} ms")


@runner.test(timeout=60)
def admin_client_cap_evicts_the_oldest_idle_one(ctx):
    # Past 1024 admin clients a new one evicts the oldest still reading: a check is answered
    # and the first idle socket is the one cut.
    gw = shared.get(ctx.bindir)
    raise_nofile()
    socks = open_idle(gw.admin_port, 1100)
    for s in socks:
        ctx.track(s)
    status, dt = timed_get(gw.admin_port, "/healthz", T(1))
    check_eq(status, 200, "GET /healthz with 1100 idle admin clients")
    r = SockReader(socks[0])
    try:
        extra, _ = r.read_to_eof(time.monotonic() + T(2))
    except TestTimeout:
        raise TestFailure("the oldest idle admin client was not cut when the cap was passed")
    check_eq(extra, b"", "bytes sent to an evicted idle client")
    # the newest one is still open: nothing to read, not even an EOF
    check(still_open(socks[-1]), "the newest idle admin client was closed instead of the oldest")


@runner.test(timeout=60)
def slow_admin_client_is_cut_after_its_timeout(ctx):
    # One byte every 100 ms never completes a request within the 5 s deadline: it is cut
    # (EOF or reset) between 4 and 7 s after connecting, and /healthz is served meanwhile.
    gw = shared.get(ctx.bindir)
    req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200 + b"\r\n\r\n"
    slow = ctx.track(socket.create_connection(("127.0.0.1", gw.admin_port), timeout=T(5)))
    t0 = time.monotonic()
    cut_at = None
    served = 0
    next_get = t0 + 0.5
    for i in range(len(req)):
        now = time.monotonic()
        if now - t0 > T(10):
            break
        poller = select.poll()
        poller.register(slow, select.POLLIN)
        if poller.poll(0):
            try:
                data = slow.recv(4096)
            except ConnectionResetError:
                data = b""
            check_eq(data, b"", "the slow client must get no answer, only its close")
            cut_at = now - t0
            break
        try:
            slow.send(req[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            cut_at = now - t0
            break
        if now >= next_get:
            status, dt = timed_get(gw.admin_port, "/healthz", T(1))
            check_eq(status, 200, "GET /healthz while a slow client dribbles")
            served += 1
            next_get = now + 0.5
        time.sleep(0.1)
    check(cut_at is not None, f"slow client still connected after {time.monotonic() - t0:.1f}s")
    check(cut_at >= 4.0, f"slow client cut after only {cut_at:.1f}s (deadline is 5 s)")
    check(cut_at <= T(7), f"slow client cut only after {cut_at:.1f}s (deadline is 5 s)")
    check(served >= 6, f"only {served} /healthz answered while the slow client was connected")
    note(f"slow client cut after {cut_at:.2f}s; {served} checks served meanwhile")


@runner.test(timeout=30)
def head_healthz_http11_and_http10_have_length_and_no_body(ctx):
    gw = shared.get(ctx.bindir)
    _, _, get_headers, get_body = raw_answer(
        gw.admin_port, b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n")
    for raw in (b"HEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n",
                b"HEAD /healthz HTTP/1.0\r\n\r\n",
                b"HEAD /healthz HTTP/1.0\r\nHost: a\r\n\r\n"):
        version, status, headers, body = raw_answer(gw.admin_port, raw)
        what = raw.split(b"\r\n")[0].decode()
        check_eq(status, 200, what)
        check_eq(version, "HTTP/1.1", f"{what}: status line version (documented: always 1.1)")
        check_eq(headers.get("content-length"), str(len(get_body)),
                 f"{what}: Content-Length (of the GET body)")
        check_eq(headers.get("content-type"), get_headers.get("content-type"), f"{what}: Content-Type")
        check_eq(body, b"", f"{what}: body bytes")
    _, status, headers, body = raw_answer(gw.admin_port, b"HEAD /readyz HTTP/1.0\r\n\r\n")
    check_eq((status, body), (200, b""), "HEAD /readyz HTTP/1.0")
    check(headers.get("content-length") is not None, "HEAD /readyz: Content-Length missing")
    _, status, _, body = raw_answer(gw.admin_port, b"GET /healthz HTTP/1.0\r\n\r\n")
    check_eq(status, 200, "GET /healthz HTTP/1.0 without Host")
    check_eq(json.loads(body), {"status": "ok"}, "GET /healthz HTTP/1.0 body")


@runner.test(timeout=30)
def curl_head_healthz(ctx):
    gw = shared.get(ctx.bindir)
    for extra in ([], ["-0"]):  # HTTP/1.1, then HTTP/1.0
        rc, out, err = run_cmd(["curl", "-sI", *extra, "--max-time", str(T(5)),
                                f"http://127.0.0.1:{gw.admin_port}/healthz"], T(10))
        check_eq(rc, 0, f"curl -sI {' '.join(extra)} exit status (stderr {err!r})")
        lines = out.replace("\r", "").split("\n")
        check(lines[0].startswith("HTTP/1.1 200"), f"curl -sI {' '.join(extra)}: {lines[0]!r}")
        check("content-length: 16" in [ln.lower() for ln in lines],
              f"curl -sI {' '.join(extra)}: no Content-Length: 16 in {out!r}")


@runner.test(timeout=30)
def options_http10_is_204_with_allow(ctx):
    # HAProxy's `option httpchk` default probe; it counts 2xx and 3xx as up.
    gw = shared.get(ctx.bindir)
    for raw in (b"OPTIONS / HTTP/1.0\r\n\r\n", b"OPTIONS /healthz HTTP/1.0\r\n\r\n",
                b"OPTIONS /readyz HTTP/1.1\r\nHost: a\r\n\r\n"):
        what = raw.split(b"\r\n")[0].decode()
        _, status, headers, body = raw_answer(gw.admin_port, raw)
        check_eq(status, 204, what)
        check_eq(headers.get("allow"), "GET, HEAD", f"{what}: Allow")
        check("content-length" not in headers, f"{what}: a 204 carries no Content-Length")
        check_eq(body, b"", f"{what}: body")
    _, status, _, _ = raw_answer(gw.admin_port, b"OPTIONS /nope HTTP/1.0\r\n\r\n")
    check_eq(status, 404, "OPTIONS on an unknown path")


@runner.test(timeout=30)
def post_healthz_is_405_with_allow(ctx):
    gw = shared.get(ctx.bindir)
    for path in ("/healthz", "/readyz"):
        _, status, headers, _ = raw_answer(
            gw.admin_port, f"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n".encode())
        check_eq(status, 405, f"POST {path}")
        check_eq(headers.get("allow"), "GET, HEAD", f"POST {path}: Allow")
    code, _ = curl(gw.admin_port, "/healthz", method="DELETE")
    check_eq(code, 405, "curl -X DELETE /healthz")


@runner.test(timeout=30)
def body_over_1mib_is_413_and_the_answer_survives(ctx):
    # Content-Length 2000000 is refused from the head alone; the client goes on sending body
    # bytes, and the answer must still arrive (no reset from closing with unread data).
    gw = shared.get(ctx.bindir)
    s = ctx.track(socket.create_connection(("127.0.0.1", gw.admin_port), timeout=T(5)))
    s.sendall(b"PUT /routes HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
              b"Content-Length: 2000000\r\n\r\n")
    try:
        s.sendall(b"x" * 65536)
    except (BrokenPipeError, ConnectionResetError):
        pass
    r = SockReader(s)
    head = r.read_until(b"\r\n\r\n", time.monotonic() + T(5))
    _, status, _, headers = parse_head(head[:-4])
    check_eq(status, 413, "Content-Length 2000000")
    # a body within the limit is not refused (it is discarded: nothing here takes one yet)
    _, status, _, body = raw_answer(
        gw.admin_port, b"GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello")
    check_eq(status, 200, "GET /healthz with a 5-byte body")
    check_eq(json.loads(body), {"status": "ok"}, "GET /healthz with a 5-byte body: body")
    _, status, _, _ = raw_answer(
        gw.admin_port, b"GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n")
    check_eq(status, 400, "a Content-Length that is not a number")


@runner.test(timeout=30)
def bad_requests_400_and_heads_over_16k_431(ctx):
    gw = shared.get(ctx.bindir)
    _, status, _, _ = raw_answer(gw.admin_port, b"GET /healthz HTTP/1.1\r\n\r\n")
    check_eq(status, 400, "HTTP/1.1 without Host")
    _, status, _, _ = raw_answer(gw.admin_port, b"GET /healthz\r\n\r\n")
    check_eq(status, 400, "request line without a version")
    _, status, _, _ = raw_answer(gw.admin_port, b"GET /healthz HTTP/2.0\r\nHost: a\r\n\r\n")
    check_eq(status, 505, "HTTP/2.0 in an HTTP/1 request line")
    big = b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 17000 + b"\r\n\r\n"
    s = ctx.track(socket.create_connection(("127.0.0.1", gw.admin_port), timeout=T(5)))
    try:
        s.sendall(big)
    except (BrokenPipeError, ConnectionResetError):
        pass
    head = SockReader(s).read_until(b"\r\n\r\n", time.monotonic() + T(5))
    _, status, _, _ = parse_head(head[:-4])
    check_eq(status, 431, "a 17 KB request head")


@runner.test(timeout=30)
def second_gateway_on_the_same_admin_port_exits_1(ctx):
    # Issue: the admin listener used SO_REUSEPORT, so a second gateway bound the same admin
    # port and /readyz alternated between the two.
    gw = shared.get(ctx.bindir)
    # --max-conns within the fd limit keeps the fd_limit warning out of stderr.
    rc, out, err = run_cmd([os.path.join(ctx.bindir, "wsgate"), "--listen", f"127.0.0.1:{free_port()}",
                            "--admin", f"127.0.0.1:{gw.admin_port}", "--workers", "1",
                            "--max-conns", "1000", "--route", "/=ws://127.0.0.1:1"], T(10))
    lines = [ln for ln in err.split("\n") if ln.strip()]
    check_eq(rc, 1, f"second wsgate on admin port {gw.admin_port}: exit status (stderr {err!r})")
    check_eq(len(lines), 1, f"stderr lines of the second wsgate ({err!r})")
    check(f"127.0.0.1:{gw.admin_port}" in lines[0] and "in use" in lines[0],
          f"the stderr line should name the admin address and the reason: {lines[0]!r}")
    check(lines[0].startswith("wsgate: --admin "), f"stderr line format: {lines[0]!r}")
    for _ in range(10):
        code, _ = curl(gw.admin_port, "/readyz")
        check_eq(code, 200, "the first gateway's /readyz after the second failed")


@runner.test(timeout=40)
def admin_reuse_port_lets_two_gateways_share_the_admin_port(ctx):
    """With --admin-reuse-port on both, a new instance can bind the admin port while the old
    one still runs (the restart procedure that wants one health-check address)."""
    admin = free_port()
    # ctx.gateway picks its own admin port: two by hand on a shared one instead.
    a = ctx.proc([os.path.join(ctx.bindir, "wsgate"), "--listen", f"127.0.0.1:{free_port()}",
                  "--admin", f"127.0.0.1:{admin}", "--admin-reuse-port", "--workers", "1",
                  "--max-conns", "1000", "--route", "/=ws://127.0.0.1:1"], name="wsgate")
    b = ctx.proc([os.path.join(ctx.bindir, "wsgate"), "--listen", f"127.0.0.1:{free_port()}",
                  "--admin", f"127.0.0.1:{admin}", "--admin-reuse-port", "--workers", "1",
                  "--max-conns", "1000", "--route", "/=ws://127.0.0.1:1"], name="wsgate")
    deadline = time.monotonic() + T(10)
    while time.monotonic() < deadline:
        code, _ = curl(admin, "/readyz")
        if code == 200 and a.alive() and b.alive():
            break
        time.sleep(0.1)
    check(a.alive() and b.alive(), f"both instances run: {a.stderr_tail()} / {b.stderr_tail()}")
    code, _ = curl(admin, "/readyz")
    check_eq(code, 200, "/readyz on the shared admin port")


if __name__ == "__main__":
    runner.main()
