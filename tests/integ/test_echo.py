#!/usr/bin/python3
"""Echo through wsgate with an independent client (Python websockets): sizes, fragments,
ping/pong, subprotocols, what the backend is told, 1,000 concurrent connections, round-robin.

Run: /usr/bin/python3 test_echo.py --bin <builddir>/bin [-k name]
"""

import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (OP_PING, OP_PONG, RawWS, build_frame, Runner, T, TestFailure,  # noqa: E402
             check, check_eq, note, raise_nofile, run_async, ws_connect)

runner = Runner(__doc__)
NOFILE = raise_nofile()  # before any process starts: the gateway and the echo inherit it
SIZES = [0, 125, 126, 65535, 65536, 1 << 20]


def _gw_echo(ctx):
    echo = ctx.echo()
    gw = ctx.gateway([f"/={echo.url}"], args=["--max-message", "2m"])
    return gw, echo


shared = runner.share(_gw_echo)


def text_of(n, alphabet="abcdefghijklmnopqrstuvwxyz0123456789"):
    return (alphabet * (n // len(alphabet) + 1))[:n]


@runner.test(timeout=60)
def echo_text_sizes(ctx):
    gw, _ = shared.get(ctx.bindir)

    async def go():
        async with ws_connect(gw.port) as ws:
            check_eq(ws.extensions, [], "negotiated extensions (the gateway must not offer any)")
            for n in SIZES:
                msg = text_of(n)
                await ws.send(msg)
                got = await ws.recv()
                check(isinstance(got, str), f"size {n}: text came back as {type(got).__name__}")
                check(got == msg, f"size {n}: text echo differs (got {len(got)} chars)")
    run_async(go(), T(40))


@runner.test(timeout=60)
def echo_multibyte_text_sizes(ctx):
    # 3-byte code points: code points land across TCP reads and buffer edges.
    gw, _ = shared.get(ctx.bindir)

    async def go():
        async with ws_connect(gw.port) as ws:
            for n in (1, 42, 21845, 21846, 349525):  # 3n bytes around 64 KiB and 1 MiB
                msg = "\u20ac" * n
                await ws.send(msg)
                got = await ws.recv()
                check(got == msg, f"{n} euro signs: echo differs")
    run_async(go(), T(40))


@runner.test(timeout=60)
def echo_binary_sizes(ctx):
    gw, _ = shared.get(ctx.bindir)

    async def go():
        async with ws_connect(gw.port) as ws:
            for n in SIZES:
                msg = os.urandom(n)
                await ws.send(msg)
                got = await ws.recv()
                check(isinstance(got, bytes), f"size {n}: binary came back as {type(got).__name__}")
                check(got == msg, f"size {n}: binary echo differs (got {len(got)} bytes)")
    run_async(go(), T(40))


@runner.test(timeout=60)
def echo_fragmented_messages(ctx):
    gw, _ = shared.get(ctx.bindir)

    async def go():
        async with ws_connect(gw.port) as ws:
            parts = ["Hello, ", "fragmented ", "w\u00f6rld", "", "!"]
            await ws.send(parts)  # a list is sent as one fragmented text message
            check_eq(await ws.recv(), "".join(parts), "fragmented text echo")

            chunks = [os.urandom(n) for n in (1000, 70000, 0, 5)]

            async def agen():
                for c in chunks:
                    yield c
            await ws.send(agen())  # fragmented binary message
            got = await ws.recv()
            check(got == b"".join(chunks), f"fragmented binary echo differs ({len(got)} bytes)")
    run_async(go(), T(30))


@runner.test(timeout=30)
def ping_gets_pong(ctx):
    gw, _ = shared.get(ctx.bindir)

    async def go():
        async with ws_connect(gw.port) as ws:
            for payload in (b"", b"ping-1", os.urandom(125)):
                waiter = await ws.ping(payload)
                try:
                    await asyncio.wait_for(waiter, T(5))
                except asyncio.TimeoutError:
                    raise TestFailure(f"no pong for ping {payload[:10]!r} within {T(5)}s")
            await ws.send("still alive")
            check_eq(await ws.recv(), "still alive", "echo after pings")
    run_async(go(), T(20))

    # and byte-exact with a raw client: the pong carries the ping's payload
    w = RawWS(gw.port, "/")
    try:
        w.send_frame(OP_PING, b"raw-ping")
        f = w.recv_frame(T(5))
        check_eq((f.opcode, f.payload, f.fin, f.masked), (OP_PONG, b"raw-ping", True, False),
             "pong frame (opcode, payload, fin, masked)")
    finally:
        w.close()


@runner.test(timeout=30)
def pings_pass_end_to_end(ctx):
    # SPEC: pings and pongs pass end to end (the gateway's own keepalive pings excepted).
    b = ctx.backend(mode="ws", after="echo")
    gw = ctx.gateway([f"/={b.url}"])
    w = RawWS(gw.port, "/")
    try:
        w.send_frame(OP_PING, b"from-client")
        f = w.recv_frame(T(5))
        check_eq((f.opcode, f.payload), (OP_PONG, b"from-client"), "pong from the backend")
        check_eq([e[2] for e in b.events_of("ping")], [b"from-client"], "pings seen by the backend")
        b.send_on(-1, build_frame(OP_PING, b"from-backend", mask=False))
        f = w.recv_frame(T(5))
        check_eq((f.opcode, f.payload), (OP_PING, b"from-backend"), "backend's ping at the client")
        w.send_frame(OP_PONG, f.payload)
        ev = b.wait_event("pong", T(5))
        check(ev is not None and ev[2] == b"from-backend", f"client's pong at the backend: {b.events!r}")
        # the gateway is the backend's client: every frame it sends there is masked (RFC 6455 5.1)
        unmasked = [e for e in b.events_of("frame") if not e[5]]
        check_eq(unmasked, [], "unmasked frames received by the backend")
    finally:
        w.close()


@runner.test(timeout=40)
def longest_prefix_match_on_segment_boundaries(ctx):
    # SPEC: longest path-prefix match on segment boundaries; "/" is the catch-all.
    root, chat, vip = (ctx.backend(mode="ws", after="echo") for _ in range(3))
    gw = ctx.gateway([f"/={root.url}", f"/chat={chat.url}", f"/chat/vip={vip.url}"])
    expect = {"/": root, "/x": root, "/chatter": root, "/chat": chat, "/chat/": chat,
              "/chat/room1?a=b": chat, "/chat/vipx": chat, "/chat/vip": vip, "/chat/vip/1": vip,
              "/chat?x=1": chat}
    for path, backend in expect.items():
        before = [b.upgrades for b in (root, chat, vip)]
        RawWS(gw.port, path).close()
        after = [b.upgrades for b in (root, chat, vip)]
        got = [n for n, (x, y) in zip(("/", "/chat", "/chat/vip"), zip(before, after)) if y > x]
        want = {root: "/", chat: "/chat", vip: "/chat/vip"}[backend]
        check_eq(got, [want], f"route taken by {path}")


@runner.test(timeout=40)
def subprotocol_negotiated_via_backend(ctx):
    b = ctx.backend(mode="ws", after="echo", subprotocol="superchat")
    gw = ctx.gateway([f"/={b.url}"])

    async def go():
        async with ws_connect(gw.port, "/", subprotocols=["chat", "superchat"]) as ws:
            check_eq(ws.subprotocol, "superchat", "subprotocol seen by the client")
            check_eq(ws.extensions, [], "negotiated extensions")
            await ws.send("hi")
            check_eq(await ws.recv(), "hi", "echo through the subprotocol connection")
    run_async(go(), T(20))
    check_eq(b.upgrades, 1, "upgrade requests seen by the backend")
    hdr = b.requests[0]["headers"]
    offer = [p.strip() for k, v in hdr if k == "sec-websocket-protocol" for p in v.split(",")]
    check_eq(offer, ["chat", "superchat"], "Sec-WebSocket-Protocol offer forwarded to the backend")
    exts = [v for k, v in hdr if k == "sec-websocket-extensions"]
    check_eq(exts, [], "Sec-WebSocket-Extensions sent to the backend (none must be offered)")


@runner.test(timeout=40)
def subprotocol_offers_split_over_two_lines(ctx):
    # RFC 6455 4.1 / RFC 9110 5.3: a list header may come as several lines; every offer
    # counts, both for the backend and for checking the backend's choice
    b = ctx.backend(mode="ws", after="echo", subprotocol="superchat")
    gw = ctx.gateway([f"/={b.url}"])
    ws = RawWS(gw.port, "/", extra=["Sec-WebSocket-Protocol: chat",
                                    "Sec-WebSocket-Protocol: superchat"])
    try:
        check_eq(ws.response.header("sec-websocket-protocol"), "superchat",
                 "subprotocol chosen from the second offer line")
    finally:
        ws.sock.close()
    hdr = b.requests[0]["headers"]
    offer = [p.strip() for k, v in hdr if k == "sec-websocket-protocol" for p in v.split(",")]
    check_eq(offer, ["chat", "superchat"], "both offer lines forwarded to the backend")


@runner.test(timeout=40)
def no_subprotocol_when_backend_chooses_none(ctx):
    b = ctx.backend(mode="ws", after="echo", subprotocol=None)
    gw = ctx.gateway([f"/={b.url}"])

    async def go():
        async with ws_connect(gw.port, "/", subprotocols=["chat"]) as ws:
            check_eq(ws.subprotocol, None, "subprotocol seen by the client")
            await ws.send("x")
            check_eq(await ws.recv(), "x", "echo")
    run_async(go(), T(20))


@runner.test(timeout=40)
def backend_sees_path_query_and_forwarded_headers(ctx):
    # SPEC: the backend sees path and query after the backend URL's own path; X-Forwarded-For
    # (client address, replacing the client's), X-Forwarded-Proto, X-Request-Id (replaced).
    b = ctx.backend(mode="ws", after="echo")
    gw = ctx.gateway([f"/chat={b.url}/api", f"/={b.url}"])
    extra = ["X-Forwarded-For: 203.0.113.9", "X-Request-Id: client-chosen",
         "Origin: http://example.test", "Cookie: a=b", "User-Agent: integ-test/1"]
    w = RawWS(gw.port, "/chat/x?a=1", extra=extra)
    w.close()
    w = RawWS(gw.port, "/other?q=2")
    w.close()
    check_eq(b.upgrades, 2, "upgrade requests seen by the backend")
    r0, r1 = b.requests[:2]
    check_eq(r0["line"], "GET /api/chat/x?a=1 HTTP/1.1", "request line at the backend (URL path /api)")
    check_eq(r1["line"], "GET /other?q=2 HTTP/1.1", "request line at the backend")
    h = r0["hdr"]
    xff = [v for k, v in r0["headers"] if k == "x-forwarded-for"]
    check_eq(xff, ["127.0.0.1"], "X-Forwarded-For at the backend (client's value replaced)")
    check_eq(h.get("x-forwarded-proto"), "http", "X-Forwarded-Proto at the backend")
    rid = [v for k, v in r0["headers"] if k == "x-request-id"]
    check(len(rid) == 1 and rid[0] and rid[0] != "client-chosen",
          f"X-Request-Id at the backend must be the gateway's connection id, got {rid!r}")
    check_eq(h.get("origin"), "http://example.test", "Origin forwarded")
    check_eq(h.get("cookie"), "a=b", "Cookie forwarded")
    check_eq(h.get("user-agent"), "integ-test/1", "User-Agent forwarded")
    check(h.get("host") is not None, "Host header missing at the backend")
    check(r1["hdr"].get("x-request-id") != h.get("x-request-id"), "X-Request-Id not unique per connection")


@runner.test(timeout=40)
def backend_sees_end_to_end_headers_in_order_and_no_hop_by_hop(ctx):
    # Every end-to-end header reaches the backend in the client's order (Authorization and
    # application headers included); hop-by-hop ones, those named by Connection and the
    # gateway's own (X-Auth-Subject forged by the client) do not.
    b = ctx.backend(mode="ws", after="echo")
    gw = ctx.gateway([f"/={b.url}"])
    extra = ["X-Tenant: acme", "Authorization: Bearer abc", "Cookie: a=1",
             "Connection: X-Hop", "X-Hop: secret", "Keep-Alive: 5", "TE: trailers",
             "X-Auth-Subject: admin", "Cookie: b=2", "X-Last: z"]
    RawWS(gw.port, "/t", extra=extra).close()
    check_eq(b.upgrades, 1, "upgrade requests seen by the backend")
    got = [(k, v) for k, v in b.requests[0]["headers"]
           if k in ("x-tenant", "authorization", "cookie", "x-last")]
    check_eq(got, [("x-tenant", "acme"), ("authorization", "Bearer abc"), ("cookie", "a=1"),
                   ("cookie", "b=2"), ("x-last", "z")], "end-to-end headers, in order")
    names = [k for k, _ in b.requests[0]["headers"]]
    for gone in ("x-hop", "keep-alive", "te", "x-auth-subject"):
        check(gone not in names, f"{gone} must not reach the backend: {names!r}")
    check_eq(names.count("connection"), 1, "one Connection line (ours)")


@runner.test(timeout=40)
def strip_prefix_route_key(ctx):
    # SPEC route key strip-prefix=true: /chat/x gives /x, /chat gives /.
    b = ctx.backend(mode="ws", after="echo")
    gw = ctx.gateway([f"/strip={b.url};strip-prefix=true"])
    for path in ("/strip/y?q=2", "/strip"):
        RawWS(gw.port, path).close()
    check_eq([r["line"] for r in b.requests], ["GET /y?q=2 HTTP/1.1", "GET / HTTP/1.1"],
         "request lines at the backend")


@runner.test(timeout=150)
def thousand_concurrent_connections(ctx):
    check(NOFILE >= 4096, f"RLIMIT_NOFILE hard limit {NOFILE} too low for 1,000 connections")
    gw, _ = shared.get(ctx.bindir)
    n, rounds = 1000, 3

    async def go():
        sem = asyncio.Semaphore(100)  # at most 100 handshakes in flight; all 1,000 stay open
        conns = []

        async def opener(i):
            async with sem:
                ws = await ws_connect(gw.port, f"/c{i}", open_timeout=T(30))
                conns.append((i, ws))
        await asyncio.gather(*(opener(i) for i in range(n)))
        check_eq(len(conns), n, "connections open at once")

        async def talk(i, ws):
            for r in range(rounds):
                msg = f"conn {i} round {r} " + "x" * (i % 300)
                await ws.send(msg)
                got = await ws.recv()
                if got != msg:
                    raise TestFailure(f"conn {i} round {r}: got {got[:60]!r}")
            await ws.send(os.urandom(16))
            await ws.recv()
        t0 = time.monotonic()
        await asyncio.gather(*(talk(i, ws) for i, ws in conns))
        note(f"1,000 connections open at once; {n * (rounds + 1)} round trips in "
             f"{time.monotonic() - t0:.1f}s")
        await asyncio.gather(*(ws.close() for _, ws in conns))
        codes = sorted({ws.close_code for _, ws in conns})
        check_eq(codes, [1000], "close codes after the client-initiated close handshakes")
    run_async(go(), T(120))


def _spread(ctx, workers, n=100):
    b1 = ctx.backend(mode="ws", after="echo")
    b2 = ctx.backend(mode="ws", after="echo")
    gw = ctx.gateway([f"/={b1.url},{b2.url}"], workers=workers)

    async def go():
        for i in range(n):  # one after the other: each is upgraded before the next starts
            async with ws_connect(gw.port, f"/rr{i}") as ws:
                await ws.send("x")
                check_eq(await ws.recv(), "x", f"echo on connection {i}")
    run_async(go(), T(60))
    # Count upgrade requests, not TCP accepts: active health checks may open plain TCP
    # connections to the backends.
    c1, c2 = b1.upgrades, b2.upgrades
    note(f"{workers} worker(s): {c1}/{c2}")
    check_eq(c1 + c2, n, "upgrade requests over both backends")
    return c1, c2


@runner.test(timeout=90)
def round_robin_two_workers(ctx):
    c1, c2 = _spread(ctx, workers=2)
    # SPEC: round-robin is kept per worker. Each worker alternates b1, b2, b1, ... from wherever
    # its counter starts, so a worker that got an odd number of connections gives one backend a
    # single extra; with 2 workers the counts are 50 +- 1 whatever the acceptor's spread.
    check(abs(c1 - 50) <= 1 and abs(c2 - 50) <= 1,
          f"round-robin spread with 2 workers: {c1}/{c2}, expected 50 +- 1 each")


@runner.test(timeout=90)
def round_robin_one_worker_exact(ctx):
    c1, c2 = _spread(ctx, workers=1)
    check_eq((c1, c2), (50, 50), "round-robin spread with 1 worker")


if __name__ == "__main__":
    runner.main()
