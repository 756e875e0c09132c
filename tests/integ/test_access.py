#!/usr/bin/python3
"""Access control at the edge (issue 9), the parts built so far: the Origin allowlist
(--allow-origin and a route's origin=, exact, *.domain, *, null, default ports), --msg-rate
(1008 to both legs), and the per-IP limits (--max-conns-per-ip exact across workers and
per address, --conn-rate with Retry-After). Real requests through wsgate on loopback.

Run: /usr/bin/python3 test_access.py --bin <builddir>/bin [-k name]
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (OP_TEXT, PeerClosed, RawWS, Runner, T, TestFailure, build_frame,  # noqa: E402
                     check, check_eq, http_exchange, read_frame, upgrade_request)

runner = Runner(__doc__)


def status(gw, path, origin=None):
    extra = [f"Origin: {origin}"] if origin is not None else []
    return http_exchange(gw.port, upgrade_request(path=path, extra=extra),
                         check_closed=False).status


@runner.test(timeout=40)
def origin_allowlist_global_wildcard_null_and_route_override(ctx):
    echo = ctx.echo()
    gw = ctx.gateway([f"/={echo.url}", f"/own={echo.url};origin=https://own.example"],
                     args=["--allow-origin", "https://app.example", "--allow-origin",
                           "https://*.corp.example", "--allow-origin", "null"])
    cases = [
        ("/", None, 101),                              # no Origin: not a browser, passes
        ("/", "https://app.example", 101),
        ("/", "HTTPS://APP.EXAMPLE:443", 101),         # case and default port normalised
        ("/", "https://app.example:8443", 403),
        ("/", "http://app.example", 403),
        ("/", "https://a.corp.example", 101),
        ("/", "https://a.b.corp.example", 101),        # any depth
        ("/", "https://corp.example", 403),            # not the domain itself
        ("/", "https://evilcorp.example", 403),
        ("/", "null", 101),                            # the literal null entry
        ("/own", "https://own.example", 101),          # the route's list replaces the global
        ("/own", "https://app.example", 403),
    ]
    for path, origin, want in cases:
        check_eq(status(gw, path, origin), want, f"GET {path} Origin: {origin}")


@runner.test(timeout=40)
def origin_star_allows_everything_and_bad_entry_is_refused(ctx):
    echo = ctx.echo()
    gw = ctx.gateway([f"/={echo.url}"], args=["--allow-origin", "*"])
    check_eq(status(gw, "/", "https://anything.example"), 101, "* allows all")
    from harness import run_cmd
    rc, out, err = run_cmd([os.path.join(ctx.bindir, "wsgate"), "--check-config", "--route",
                            f"/={echo.url}", "--allow-origin", "https://a.example/path"], T(10))
    lines = [ln for ln in err.split("\n") if ln.strip()]
    check(rc == 2 and len(lines) == 1 and "allow-origin" in lines[0],
          f"a malformed origin is exit 2 with one line: rc {rc} {err!r}")


@runner.test(timeout=40)
def msg_rate_closes_both_legs_with_1008(ctx):
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/={be.url}"], args=["--msg-rate", "5/5"])
    w = RawWS(gw.port, "/")
    try:
        # The burst passes; the next messages in the same second are over the rate.
        burst = b"".join(build_frame(OP_TEXT, f"m{i}".encode()) for i in range(12))
        w.send_raw(burst)
        deadline = time.monotonic() + T(5)
        got, close = [], None
        while close is None:
            try:
                f = read_frame(w.reader, deadline)
            except PeerClosed:
                raise TestFailure(f"TCP closed before a close frame; frames {got!r}")
            if f.opcode == 0x8:
                close = f
            else:
                got.append(f.payload)
        check_eq(close.close_code, 1008, "the client's close")
        check_eq(got, [f"m{i}".encode() for i in range(5)],
                 "the burst's echoes, then the close")
        ev = be.wait_event("close_rcvd", T(5))
        check(ev is not None and ev[2] == 1008, f"the backend's close: {be.events!r}")
    finally:
        w.close()


def upgrade_from(port, src="127.0.0.1", path="/"):
    """(status, retry-after, socket) of an upgrade from source address src; the socket is
    kept open when the answer is 101."""
    import socket
    from harness import SockReader, read_http_response
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(T(5))
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(upgrade_request(path=path))
    resp = read_http_response(SockReader(s), time.monotonic() + T(5))
    if resp.status != 101:
        s.close()
        return resp.status, resp.header("retry-after"), None
    return 101, None, s


@runner.test(timeout=60)
def max_conns_per_ip_exact_across_workers_and_addresses(ctx):
    echo = ctx.echo()
    gw = ctx.gateway([f"/={echo.url}"], args=["--max-conns-per-ip", "3"], workers=2)
    held = []
    try:
        # Exactly 3 from one address, whichever of the 2 workers each lands on.
        for i in range(3):
            st, _, s = upgrade_from(gw.port)
            check_eq(st, 101, f"connection {i + 1} of 3")
            held.append(s)
        for i in range(4):
            st, retry, _ = upgrade_from(gw.port)
            check_eq(st, 429, f"attempt {i + 1} over the limit")
            check(retry is not None and int(retry) >= 1, f"Retry-After on a 429: {retry!r}")
        # Other loopback addresses are other clients.
        for src in ("127.0.0.2", "127.0.0.3"):
            st, _, s = upgrade_from(gw.port, src)
            check_eq(st, 101, f"from {src}")
            held.append(s)
        # A connection that ends gives its place back (also after an answer that failed).
        held.pop(0).close()
        deadline = time.monotonic() + T(5)
        while True:
            st, _, s = upgrade_from(gw.port)
            if st == 101:
                held.append(s)
                break
            check(time.monotonic() < deadline, "the place of a closed connection came back")
            time.sleep(0.1)
        st, _, _ = upgrade_from(gw.port, path="/nowhere-else")
        check_eq(st, 429, "still exactly 3")
    finally:
        for s in held:
            s.close()


@runner.test(timeout=60)
def failed_upgrades_give_their_count_back(ctx):
    """Admitted, then refused further on (the backend is down: 502): the count comes back."""
    gw = ctx.gateway(["/=ws://127.0.0.1:1"], args=["--max-conns-per-ip", "2"])
    for i in range(6):
        st, _, _ = upgrade_from(gw.port)
        check_eq(st, 502, f"attempt {i + 1}: a 502, never a 429 (counts released)")


@runner.test(timeout=60)
def conn_rate_with_retry_after(ctx):
    echo = ctx.echo()
    gw = ctx.gateway([f"/={echo.url}"], args=["--conn-rate", "1/2"], workers=2)
    held = []
    try:
        for i in range(2):
            st, _, s = upgrade_from(gw.port)
            check_eq(st, 101, f"burst connection {i + 1}")
            held.append(s)
        st, retry, _ = upgrade_from(gw.port)
        check_eq(st, 429, "over --conn-rate")
        check(retry is not None and int(retry) >= 1, f"Retry-After {retry!r}")
        st, _, s = upgrade_from(gw.port, "127.0.0.2")
        check_eq(st, 101, "another address has its own bucket")
        held.append(s)
        time.sleep(1.2)  # one token back (a refused attempt cost none)
        st, _, s = upgrade_from(gw.port)
        check_eq(st, 101, "after a second")
        held.append(s)
    finally:
        for s in held:
            s.close()


if __name__ == "__main__":
    runner.main()
