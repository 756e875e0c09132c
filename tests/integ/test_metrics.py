#!/usr/bin/python3
"""GET /metrics and GET /stats (SPEC "Admin API"): the exposition passes `promtool check
metrics` (Debian's prometheus package), counters and histograms move exactly as expected after
a known number of messages each way through a real client (Python websockets) and the bundled
echo backend, a 404 counts as handshake_rejections_total{reason="no_route"}, /stats is valid
JSON with the same numbers, keepalive pongs land in ping_rtt_seconds, TLS handshakes are
counted by version and result, and --admin-token guards /stats but not /metrics.

Run: /usr/bin/python3 test_metrics.py --bin <builddir>/bin [-k name]
"""

import asyncio
import json
import os
import re
import shutil
import socket
import ssl
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Runner, T, TestFailure, check, check_eq, free_port, http_exchange,  # noqa: E402
                     http_get, note, run_async, run_cmd, upgrade_request, ws_connect)

runner = Runner(__doc__)

ROUTE = "/echo"
# Message sizes chosen around the size buckets' bounds (64, 256, 1024, ... bytes).
SIZES = [0, 10, 64, 65, 255, 256, 257, 1024, 4097, 70000]
ROUNDS = 4  # each size this many times each way: 40 messages up, 40 down


def _setup(ctx):
    echo = ctx.echo()
    gw = ctx.gateway([f"{ROUTE}={echo.url}", f"/other={echo.url}/x"],
                     args=["--max-message", "1m"])
    gw.echo_url = echo.url
    return gw


shared = runner.share(_setup)

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse_metrics(text):
    """{(name, frozenset(labels)): float} of every sample line; fails on a malformed line."""
    out = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        check(m is not None, f"malformed sample line {line!r}")
        labels = frozenset((k, _unescape(v)) for k, v in _LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def scrape(port):
    """(text, Content-Type) of GET /metrics."""
    status, hdrs, body = http_get(port, "/metrics")
    check_eq(status, 200, "GET /metrics status")
    return body.decode("utf-8"), dict(hdrs).get("content-type", "")


def sample(m, name, **labels):
    return m.get((name, frozenset(labels.items())), None)


def metric(m, name, **labels):
    v = sample(m, name, **labels)
    check(v is not None, f"{name}{labels} missing from /metrics")
    return v


def wait_idle(port, timeout=None):
    """Waits until the gateway counts no open client connection and no open backend
    connection (the closes of the previous step are all accounted for); returns the scrape."""
    deadline = time.monotonic() + (timeout or T(10))
    while True:
        text, _ = scrape(port)
        m = parse_metrics(text)
        busy = metric(m, "wsgate_connections_active") + sum(
            v for (n, _), v in m.items() if n == "wsgate_backend_connections_active")
        if busy == 0:
            return m
        if time.monotonic() > deadline:
            raise TestFailure(f"connections still open after {timeout or T(10):.0f}s")
        time.sleep(0.05)


def promtool():
    path = shutil.which("promtool")
    check(path is not None, "promtool not found: install Debian's prometheus package "
                            "(make deps installs it)")
    return path


def promtool_check(text):
    path = promtool()
    with tempfile.NamedTemporaryFile("w", suffix=".prom", delete=False) as f:
        f.write(text)
        name = f.name
    try:
        rc, out, err = run_cmd(["sh", "-c", f"'{path}' check metrics < '{name}'"], T(20))
    finally:
        os.unlink(name)
    return rc, (out + err).strip()


async def _traffic(port, path=ROUTE):
    """ROUNDS x SIZES text messages up, each echoed down; one fragmented message (3 frames,
    one message each way); one client ping (no message). Returns (up_msgs, up_bytes)."""
    n, total = 0, 0
    async with ws_connect(port, path) as ws:
        for _ in range(ROUNDS):
            for size in SIZES:
                msg = "m" * size
                await ws.send(msg)
                got = await ws.recv()
                check_eq(len(got), size, "echoed message size")
                n += 1
                total += size
        # One message in three frames: counted once, its size the sum.
        await ws.send(["ab", "cde", "f" * 95])
        got = await ws.recv()
        check_eq(got, "abcde" + "f" * 95, "fragmented echo")
        n += 1
        total += 100
        pong = await ws.ping(b"x")
        await asyncio.wait_for(pong, T(5))
    return n, total


@runner.test(timeout=60)
def metrics_pass_promtool(ctx):
    gw = shared.get(ctx.bindir)
    run_async(_traffic(gw.port), T(30))  # non-zero histograms and counters, too
    wait_idle(gw.admin_port)
    text, ctype = scrape(gw.admin_port)
    rc, out = promtool_check(text)
    check(rc == 0 and out == "", f"promtool check metrics: rc {rc}: {out}")
    for family in ("wsgate_connections_active", "wsgate_connections_total",
                   "wsgate_handshake_rejections_total", "wsgate_messages_total",
                   "wsgate_bytes_total", "wsgate_closes_total",
                   "wsgate_backend_connections_active", "wsgate_handshake_duration_seconds",
                   "wsgate_message_size_bytes", "wsgate_ping_rtt_seconds",
                   "wsgate_send_queue_bytes", "wsgate_tls_handshakes_total",
                   "wsgate_auth_failures_total", "wsgate_rate_limited_total",
                   "wsgate_slab_exhausted_total", "wsgate_log_dropped_total",
                   "wsgate_backend_attempts_total", "wsgate_backend_failures_total"):
        check(f"# TYPE {family} " in text, f"family {family} missing")
        check(f"# HELP {family} " in text, f"HELP of {family} missing")
    note(f"{len(text)} bytes, {text.count(chr(10))} lines, promtool clean")


@runner.test(timeout=60)
def counters_move_exactly(ctx):
    gw = shared.get(ctx.bindir)
    before = wait_idle(gw.admin_port)
    n, total = run_async(_traffic(gw.port), T(30))
    after = wait_idle(gw.admin_port)

    def delta(name, **labels):
        return metric(after, name, **labels) - (sample(before, name, **labels) or 0)

    check_eq(delta("wsgate_connections_total"), 1, "connections_total delta")
    check_eq(delta("wsgate_tunnels_opened_total"), 1, "tunnels_opened_total delta")
    for d in ("upstream", "downstream"):
        check_eq(delta("wsgate_messages_total", route=ROUTE, direction=d), n,
                 f"messages_total{{route={ROUTE},direction={d}}}")
        check_eq(delta("wsgate_bytes_total", route=ROUTE, direction=d), total,
                 f"bytes_total{{route={ROUTE},direction={d}}}")
        check_eq(delta("wsgate_messages_total", route="/other", direction=d), 0,
                 "messages on the other route")
        check_eq(delta("wsgate_message_size_bytes_count", direction=d), n,
                 f"message_size_bytes_count{{direction={d}}}")
        check_eq(delta("wsgate_message_size_bytes_sum", direction=d), total,
                 f"message_size_bytes_sum{{direction={d}}}")
        # Cumulative buckets: how many of the sizes sent are <= each bound.
        sent = [s for s in SIZES for _ in range(ROUNDS)] + [100]
        for le in ("64", "256", "1024", "4096", "16384", "65536", "262144", "+Inf"):
            want = sum(1 for s in sent if le == "+Inf" or s <= int(le))
            check_eq(delta("wsgate_message_size_bytes_bucket", direction=d, le=le), want,
                     f"message_size_bytes_bucket{{direction={d},le={le}}}")
    check_eq(delta("wsgate_closes_total", code="1000", side="client"), 1,
             "closes_total{code=1000,side=client}")
    check_eq(delta("wsgate_handshake_duration_seconds_count"), 1, "handshake_duration count")
    hs = delta("wsgate_handshake_duration_seconds_sum")
    check(0 < hs < T(5), f"handshake_duration_seconds_sum delta {hs}")
    check_eq(delta("wsgate_backend_attempts_total", backend=gw.echo_url), 1, "backend attempts")
    check_eq(delta("wsgate_backend_failures_total", backend=gw.echo_url), 0, "backend failures")
    check_eq(metric(after, "wsgate_backend_connections_active", backend=gw.echo_url), 0,
             "backend connections active after the close")
    # Sampled one relayed receive in 16 per worker: 80+ receives on one worker give some.
    check(delta("wsgate_send_queue_bytes_count") >= 1, "send_queue_bytes has no sample")
    check_eq(delta("wsgate_send_queue_bytes_count"),
             delta("wsgate_send_queue_bytes_bucket", le="+Inf"), "send_queue _count vs +Inf")
    note(f"{n} messages and {total} payload bytes each way; handshake {hs * 1e3:.2f} ms")


@runner.test(timeout=30)
def no_route_counts_a_rejection(ctx):
    gw = shared.get(ctx.bindir)
    before = parse_metrics(scrape(gw.admin_port)[0])
    for _ in range(3):
        resp = http_exchange(gw.port, upgrade_request("/no-such-route"))
        check_eq(resp.status, 404, "upgrade to an unrouted path")
    after = parse_metrics(scrape(gw.admin_port)[0])
    d = (metric(after, "wsgate_handshake_rejections_total", reason="no_route")
         - metric(before, "wsgate_handshake_rejections_total", reason="no_route"))
    check_eq(d, 3, "handshake_rejections_total{reason=no_route} delta")
    # The client's path is not a label anywhere.
    check("/no-such-route" not in scrape(gw.admin_port)[0], "a client path became a label")


@runner.test(timeout=60)
def stats_json_agrees(ctx):
    gw = shared.get(ctx.bindir)
    m0 = wait_idle(gw.admin_port)
    n, total = run_async(_traffic(gw.port), T(30))
    m = wait_idle(gw.admin_port)
    status, hdrs, body = http_get(gw.admin_port, "/stats")
    check_eq(status, 200, "GET /stats status")
    try:
        doc = json.loads(body)
    except ValueError:
        raise TestFailure(f"/stats is not JSON: {body[:200]!r}")
    check(isinstance(doc.get("version"), str) and doc["version"], "version")
    check(doc.get("uptime_s", 0) > 0, f"uptime_s {doc.get('uptime_s')}")
    check_eq(doc["features"]["tls"], True, "features.tls")
    check_eq(doc["features"]["lb"][0], "round-robin", "features.lb")
    tot = doc["totals"]
    for d in ("upstream", "downstream"):
        check_eq(tot["messages"][d], metric(m, "wsgate_messages_total", route=ROUTE, direction=d)
                 + metric(m, "wsgate_messages_total", route="/other", direction=d),
                 f"totals.messages.{d} vs /metrics")
        check_eq(tot["bytes"][d], metric(m, "wsgate_bytes_total", route=ROUTE, direction=d)
                 + metric(m, "wsgate_bytes_total", route="/other", direction=d),
                 f"totals.bytes.{d} vs /metrics")
    check_eq(tot["connections_active"], 0, "totals.connections_active")
    check_eq(tot["connections_total"], metric(m, "wsgate_connections_total"),
             "totals.connections_total")
    routes = {r["route"]: r for r in doc["routes"]}
    check_eq(set(routes), {ROUTE, "/other"}, "routes listed")
    check_eq(routes[ROUTE]["messages"]["upstream"]
             - metric(m0, "wsgate_messages_total", route=ROUTE, direction="upstream"), n,
             "routes[/echo].messages.upstream delta")
    backends = {b["backend"]: b for b in doc["backends"]}
    check_eq(set(backends), {gw.echo_url, gw.echo_url + "/x"}, "backends listed")
    be = backends[gw.echo_url]
    check_eq(be["attempts"], metric(m, "wsgate_backend_attempts_total", backend=gw.echo_url),
             "backend attempts vs /metrics")
    check_eq(be["active"], 0, "backend active")
    # The echo backend runs: the health state says up, the same as wsgate_backend_up.
    check_eq(be.get("up"), True, "backend up in /stats")
    check_eq(metric(m, "wsgate_backend_up", route=ROUTE, backend=gw.echo_url), 1,
             "wsgate_backend_up for the running backend")
    check_eq(len(doc["workers"]), doc["n_workers"], "one entry per worker")
    for k in ("connections_total", "tunnels_opened"):
        check_eq(sum(w[k] for w in doc["workers"]), tot[k], f"workers' {k} add up to totals")
    check_eq(sum(w["messages"]["downstream"] for w in doc["workers"]),
             tot["messages"]["downstream"], "workers' messages add up")


@runner.test(timeout=60)
def keepalive_pongs_in_ping_rtt(ctx):
    echo = ctx.echo()
    gw = ctx.gateway([f"/={echo.url}"], args=["--ping-interval", "1s"])

    async def go():
        # websockets answers the gateway's pings by itself; stay idle past two intervals.
        async with ws_connect(gw.port, "/") as ws:
            await asyncio.sleep(T(2.6) if T(1) > 1 else 2.6)
            await ws.send("still here")
            check_eq(await ws.recv(), "still here", "echo after the pings")
    run_async(go(), T(20))
    m = parse_metrics(scrape(gw.admin_port)[0])
    cnt = metric(m, "wsgate_ping_rtt_seconds_count", leg="client")
    check(cnt >= 2, f"ping_rtt_seconds_count{{leg=client}} {cnt}, want >= 2")
    s = metric(m, "wsgate_ping_rtt_seconds_sum", leg="client")
    check(0 < s < cnt * T(1), f"ping_rtt_seconds_sum {s} for {cnt} pongs")
    check_eq(metric(m, "wsgate_ping_rtt_seconds_count", leg="backend"), 0,
             "backend leg (the gateway does not ping backends)")
    check_eq(metric(m, "wsgate_messages_total", route="/", direction="upstream"), 1,
             "pongs are not messages")
    note(f"{cnt:.0f} pongs, mean RTT {s / cnt * 1e6:.0f} us")


def _self_signed(tmp):
    crt, key = os.path.join(tmp, "a.crt"), os.path.join(tmp, "a.key")
    rc, out, err = run_cmd(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                            "-days", "2", "-subj", "/CN=a.example"], T(20))
    check_eq(rc, 0, f"openssl req: {err}")
    return crt, key


@runner.test(timeout=60)
def tls_handshakes_by_version_and_result(ctx):
    tmp = tempfile.mkdtemp(prefix="wsg-metrics-")
    try:
        crt, key = _self_signed(tmp)
        echo = ctx.echo()
        tport = free_port()
        gw = ctx.gateway([f"/={echo.url}"], args=["--tls-listen", f"127.0.0.1:{tport}",
                                                 "--tls-cert", crt, "--tls-key", key,
                                                 "--handshake-timeout", "1s"])
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.check_hostname = False
        cctx.verify_mode = ssl.CERT_NONE
        for ver in (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2):
            cctx.minimum_version = cctx.maximum_version = ver
            with socket.create_connection(("127.0.0.1", tport), timeout=T(5)) as raw:
                with cctx.wrap_socket(raw, server_hostname="a.example") as s:
                    s.sendall(upgrade_request("/"))
                    check(s.recv(12).startswith(b"HTTP/1.1 101"), "upgrade over TLS")
        # Not TLS at all: a TLS error before any version.
        with socket.create_connection(("127.0.0.1", tport), timeout=T(5)) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
        # Connects and leaves without a byte: aborted.
        socket.create_connection(("127.0.0.1", tport), timeout=T(5)).close()
        want = {("TLSv1.3", "success"): 1, ("TLSv1.2", "success"): 1,
                ("unknown", "failure"): 1, ("unknown", "aborted"): 1}
        deadline = time.monotonic() + T(10)
        while True:
            m = parse_metrics(scrape(gw.admin_port)[0])
            got = {k: metric(m, "wsgate_tls_handshakes_total", version=k[0], result=k[1])
                   for k in want}
            if got == want or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        check_eq(got, want, "tls_handshakes_total by (version, result)")
        rc, out = promtool_check(scrape(gw.admin_port)[0])
        check(rc == 0 and out == "", f"promtool with TLS counters: {out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _request(port, method, path, headers=()):
    raw = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    for h in headers:
        raw += h + "\r\n"
    return http_exchange(port, (raw + "\r\n").encode(), check_closed=False)


@runner.test(timeout=30)
def admin_token_guards_stats_not_metrics(ctx):
    echo = ctx.echo()
    gw = ctx.gateway([f"/={echo.url}"], args=["--admin-token", "s3cret-token"])
    check_eq(_request(gw.admin_port, "GET", "/metrics").status, 200, "/metrics without token")
    check_eq(_request(gw.admin_port, "GET", "/healthz").status, 200, "/healthz without token")
    r = _request(gw.admin_port, "GET", "/stats")
    check_eq(r.status, 401, "/stats without a token")
    check(r.header("www-authenticate") is not None, "401 without WWW-Authenticate")
    for bad in ("Bearer s3cret-toke", "Bearer s3cret-token2", "Basic s3cret-token",
                "Bearer S3CRET-TOKEN", "Bearer"):
        check_eq(_request(gw.admin_port, "GET", "/stats", [f"Authorization: {bad}"]).status,
                 401, f"/stats with Authorization: {bad}")
    for good in ("Bearer s3cret-token", "bearer s3cret-token", "BEARER   s3cret-token"):
        r = _request(gw.admin_port, "GET", "/stats", [f"Authorization: {good}"])
        check_eq(r.status, 200, f"/stats with Authorization: {good}")
        json.loads(r.body)
    check_eq(_request(gw.admin_port, "GET", "/nope").status, 401, "unknown call, no token")


@runner.test(timeout=30)
def head_and_methods(ctx):
    gw = shared.get(ctx.bindir)
    for path in ("/metrics", "/stats"):
        get = _request(gw.admin_port, "GET", path)
        head = _request(gw.admin_port, "HEAD", path)
        check_eq(head.status, 200, f"HEAD {path}")
        check_eq(head.body, b"", f"HEAD {path} body")
        # The body is built afresh for each call, so compare lengths only roughly for
        # /stats (uptime changes); /metrics of an idle gateway keeps its length unless a
        # counter gained a digit.
        hl, gl = int(head.header("content-length")), len(get.body)
        check(abs(hl - gl) <= 16, f"HEAD {path} Content-Length {hl} vs GET body {gl}")
        check_eq(_request(gw.admin_port, "POST", path).status, 405, f"POST {path}")
    r = _request(gw.admin_port, "GET", "/metrics")
    check(r.header("content-type").startswith("text/plain; version=0.0.4"),
          f"/metrics Content-Type {r.header('content-type')!r}")
    check_eq(_request(gw.admin_port, "GET", "/stats").header("content-type"),
             "application/json", "/stats Content-Type")


if __name__ == "__main__":
    runner.main()
