#!/usr/bin/python3
"""The admin API's calls on routes and connections (SPEC "Admin API"), driven by independent
clients: curl for the API, Python websockets and raw sockets for the WebSocket clients.
GET/PUT /routes (a new route usable at once while an old client keeps its table; a bad body
400 and nothing changes), GET /connections with a client's JWT subject and counters, GET and
DELETE /connections/ID (the close code on both legs), push and broadcast to the right clients
only, also while the backend streams large fragmented messages to the same client (the client
sees only valid frames), 429 for a client that does not read, 413/411/400 for bodies, and
--admin-token.

Run: /usr/bin/python3 test_admin_api.py --bin <builddir>/bin [-k name]
"""

import atexit
import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, PeerClosed,  # noqa: E402
                     RawWS, Runner, T, TestFailure, TestTimeout, check, check_eq,
                     http_exchange, run_async, run_cmd, ws_connect)
from jwt_mint import Keys  # noqa: E402

runner = Runner(__doc__)

TOKEN = "admin-test-token"
_tmp = tempfile.mkdtemp(prefix="wsgate-admin-api-")
atexit.register(shutil.rmtree, _tmp, True)
_keys = None


def keys():
    global _keys
    if _keys is None:
        _keys = Keys(_tmp)
    return _keys


def bearer_for(sub):
    tok = keys().mint("HS256", {"sub": sub, "exp": int(time.time()) + 600})
    return f"Authorization: Bearer {tok}"


def api(gw, method, path, data=None, token=TOKEN, ctype=None, headers=()):
    """(status, body text, parsed JSON or None) from curl."""
    argv = ["curl", "-s", "-X", method, "-o", "-", "-w", "\n%{http_code}",
            "--max-time", str(T(5))]
    if token is not None:
        argv += ["-H", f"Authorization: Bearer {token}"]
    if ctype is not None:
        argv += ["-H", f"Content-Type: {ctype}"]
    for h in headers:
        argv += ["-H", h]
    if data is not None:
        path_file = os.path.join(_tmp, f"body-{threading.get_ident()}")
        with open(path_file, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        argv += ["--data-binary", f"@{path_file}"]
    argv.append(f"http://127.0.0.1:{gw.admin_port}{path}")
    rc, out, err = run_cmd(argv, T(10))
    body, _, code = out.rpartition("\n")
    try:
        status = int(code)
    except ValueError:
        raise TestFailure(f"curl {method} {path}: {rc} {err!r}")
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    return status, body, doc


def conns(gw, query=""):
    st, body, doc = api(gw, "GET", "/connections" + query)
    check_eq(st, 200, f"GET /connections{query}: {body}")
    return doc["connections"]


def wait_conns(gw, query, n, what):
    deadline = time.monotonic() + T(5)
    while True:
        got = conns(gw, query)
        if len(got) == n or time.monotonic() > deadline:
            check_eq(len(got), n, f"{what}: connections{query} ({got})")
            return got
        time.sleep(0.05)


def admin_args(extra=()):
    return ["--admin-token", TOKEN] + list(extra)


def expect_silence(ws, seconds, what):
    """No data frame arrives on a RawWS within `seconds`."""
    try:
        f = ws.recv_frame(timeout=seconds)
    except TestTimeout:
        return
    raise TestFailure(f"{what}: got {f!r}")


# ---------------------------------------------------------------------------------------------
# routes


@runner.test(timeout=60)
def put_routes_adds_a_route_while_an_old_client_keeps_its_table(ctx):
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/old={be.url}"], args=admin_args())
    st, _, doc = api(gw, "GET", "/routes")
    check_eq(st, 200, "GET /routes")
    check_eq([r["path"] for r in doc["routes"]], ["/old"], "the start's table")
    check_eq(doc["routes"][0]["backends"], [be.url], "its backend")
    old = RawWS(gw.port, "/old")
    ctx.track(old.sock)
    old.send_frame(OP_TEXT, b"before")
    check_eq(old.recv_message(), (OP_TEXT, b"before"), "echo on the old route")
    # The whole table is replaced: /old goes, /new comes.
    body = json.dumps({"routes": [{"path": "/new", "backends": [be.url]}]})
    st, text, doc = api(gw, "PUT", "/routes", body, ctype="application/json")
    check_eq(st, 200, f"PUT /routes: {text}")
    check_eq([r["path"] for r in doc["routes"]], ["/new"], "the answer is the new table")
    st, _, doc2 = api(gw, "GET", "/routes")
    check_eq(doc2, doc, "GET /routes after the PUT")
    new = RawWS(gw.port, "/new")
    ctx.track(new.sock)
    new.send_frame(OP_TEXT, b"hello new")
    check_eq(new.recv_message(), (OP_TEXT, b"hello new"), "a new client on the new route")
    r = http_exchange(gw.port, b"GET /old HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", check_closed=False)
    check_eq(r.status, 404, "a new client on the removed route")
    old.send_frame(OP_TEXT, b"after")
    check_eq(old.recv_message(), (OP_TEXT, b"after"), "the old client keeps its route")
    # GET's body reads back as a PUT.
    st, text, _ = api(gw, "PUT", "/routes", json.dumps(doc2))
    check_eq(st, 200, f"PUT of GET's own body: {text}")


@runner.test(timeout=60)
def put_routes_bad_body_is_400_and_changes_nothing(ctx):
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/a={be.url}"], args=admin_args())
    _, before, _ = api(gw, "GET", "/routes")
    bad = [
        ("not JSON", "{", "invalid JSON"),
        ("not an object", "[]", "expected a JSON object"),
        ("unknown key", '{"routes": [], "x": 1}', "unknown key"),
        ("no routes", "{}", "routes: missing"),
        ("bad scheme", '{"routes": [{"path": "/b", "backends": ["ftp://x"]}]}', "ftp://x"),
        ("no backend", '{"routes": [{"path": "/b", "backends": []}]}', "no backend"),
        ("twice", json.dumps({"routes": [{"path": "/b", "backends": [be.url]},
                                         {"path": "/b", "backends": [be.url]}]}), "/b"),
        ("empty body", "", "invalid JSON"),
    ]
    for what, body, needle in bad:
        st, text, doc = api(gw, "PUT", "/routes", body)
        check_eq(st, 400, f"{what}: {text}")
        check(doc is not None and needle in doc.get("error", ""), f"{what}: reason {text!r}")
        check("\n" not in doc["error"], f"{what}: one line")
    _, after, _ = api(gw, "GET", "/routes")
    check_eq(after, before, "the table after the refused PUTs")
    ws = RawWS(gw.port, "/a")
    ctx.track(ws.sock)
    ws.send_frame(OP_TEXT, b"still")
    check_eq(ws.recv_message(), (OP_TEXT, b"still"), "the old route still serves")
    st, _, _ = api(gw, "DELETE", "/routes")
    check_eq(st, 405, "DELETE /routes")


# ---------------------------------------------------------------------------------------------
# connections


@runner.test(timeout=60)
def connections_list_a_client_with_its_subject_and_counters(ctx):
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/chat={be.url}", f"/other={be.url}"],
                     args=admin_args(["--jwt-secret-file", keys().secret_file()]))
    ws = RawWS(gw.port, "/chat", extra=[bearer_for("alice@example.com")])
    ctx.track(ws.sock)
    for i in range(3):
        ws.send_frame(OP_TEXT, b"m%d" % i)
        check_eq(ws.recv_message(), (OP_TEXT, b"m%d" % i), "echo")
    other = RawWS(gw.port, "/other", extra=[bearer_for("bob")])
    ctx.track(other.sock)
    got = wait_conns(gw, "?subject=alice@example.com", 1, "by subject")
    c = got[0]
    check_eq(c["subject"], "alice@example.com", "subject")
    check_eq(c["route"], "/chat", "route")
    check_eq(c["backend"], be.url, "backend")
    check_eq((c["msgs_up"], c["msgs_down"]), (3, 3), "messages each way")
    check_eq((c["bytes_up"], c["bytes_down"]), (6, 6), "payload bytes each way")
    check(c["id"].count(".") == 1, f"id NODE.N: {c['id']}")
    host, port = ws.sock.getsockname()
    check_eq(c["peer"], f"{host}:{port}", "peer ip:port")
    check(c["age_ms"] >= 0 and c["idle_ms"] >= 0 and c["send_queue_bytes"] == 0, f"{c}")
    check("ping_rtt_ms" in c, "ping_rtt_ms is there (null until measured)")
    check_eq(len(conns(gw)), 2, "all")
    check_eq([x["subject"] for x in conns(gw, "?route=/other")], ["bob"], "by route")
    check_eq(len(conns(gw, f"?peer={host}")), 2, "by peer address")
    check_eq([x["id"] for x in conns(gw, f"?peer={host}:{port}")], [c["id"]], "by peer:port")
    check_eq(conns(gw, "?subject=nobody"), [], "an unknown subject")
    check_eq(len(conns(gw, "?limit=1")), 1, "limit")
    st, _, one = api(gw, "GET", f"/connections/{c['id']}")
    check_eq(st, 200, "GET /connections/ID")
    check_eq((one["id"], one["subject"]), (c["id"], c["subject"]), "the same one")
    node, n = c["id"].split(".")
    for bad in (f"{node}.{int(n) + 1000}", f"other.{n}", "nodot", f"{node}.x"):
        st, _, _ = api(gw, "GET", f"/connections/{bad}")
        check_eq(st, 404, f"GET /connections/{bad}")
    for q in ("?limit=0", "?limit=x", "?subjet=alice", "?route=/a&route=/b", "?peer=a%zz"):
        st, text, _ = api(gw, "GET", f"/connections{q}")
        check_eq(st, 400, f"GET /connections{q}: {text}")
    st, _, _ = api(gw, "GET", "/connections?scope=cluster")
    check_eq(st, 404, "scope=cluster outside a cluster")


@runner.test(timeout=60)
def delete_closes_both_legs_with_the_code(ctx):
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/={be.url}"], args=admin_args())
    ws = RawWS(gw.port, "/")
    ctx.track(ws.sock)
    ws.send_frame(OP_TEXT, b"x")
    ws.recv_message()
    cid = wait_conns(gw, "", 1, "one client")[0]["id"]
    for bad in ("1005", "999", "5000", "2999", "1004", "abc"):
        st, text, _ = api(gw, "DELETE", f"/connections/{cid}?code={bad}")
        check_eq(st, 400, f"code={bad}: {text}")
    st, text, _ = api(gw, "DELETE", f"/connections/{cid}?code=4000&reason=go%20away")
    check_eq(st, 204, f"DELETE: {text}")
    f = ws.expect_close(4000, timeout=T(5))
    check_eq(f.close_reason, b"go away", "the client's close reason")
    ev = be.wait_event("close_rcvd", T(5))
    check(ev is not None, f"the backend got a close: {be.events!r}")
    check_eq((ev[2], ev[3]), (4000, b"go away"), "the backend's close")
    deadline = time.monotonic() + T(5)
    while api(gw, "GET", f"/connections/{cid}")[0] != 404 and time.monotonic() < deadline:
        time.sleep(0.05)
    check_eq(api(gw, "GET", f"/connections/{cid}")[0], 404, "gone after the close")
    check_eq(api(gw, "DELETE", f"/connections/{cid}")[0], 404, "DELETE of a gone one")
    # Default code 1000.
    ws2 = RawWS(gw.port, "/")
    ctx.track(ws2.sock)
    cid2 = wait_conns(gw, "", 1, "a second client")[0]["id"]
    check_eq(api(gw, "DELETE", f"/connections/{cid2}")[0], 204, "DELETE without code")
    ws2.expect_close(1000, timeout=T(5))


@runner.test(timeout=90)
def push_and_broadcast_reach_the_right_clients_only(ctx):
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/a={be.url}", f"/b={be.url}"],
                     args=admin_args(["--jwt-secret-file", keys().secret_file()]))
    a1 = RawWS(gw.port, "/a", extra=[bearer_for("alice")])
    a2 = RawWS(gw.port, "/a", extra=[bearer_for("bob")])
    b1 = RawWS(gw.port, "/b", extra=[bearer_for("alice")])
    for w in (a1, a2, b1):
        ctx.track(w.sock)
    ids = {c["subject"] + c["route"]: c["id"] for c in wait_conns(gw, "", 3, "three")}
    st, text, _ = api(gw, "POST", f"/connections/{ids['alice/a']}/messages", "to a1",
                      ctype="text/plain; charset=utf-8")
    check_eq(st, 204, f"push: {text}")
    check_eq(a1.recv_message(), (OP_TEXT, b"to a1"), "a1 gets the push as text")
    st, _, _ = api(gw, "POST", f"/connections/{ids['bob/a']}/messages", b"\x00\x01bin")
    check_eq(st, 204, "binary push")
    check_eq(a2.recv_message(), (OP_BINARY, b"\x00\x01bin"), "a2 gets it as binary")
    expect_silence(a1, 0.3, "a1 after a2's push")
    expect_silence(b1, 0.3, "b1 after the pushes")
    st, _, doc = api(gw, "POST", "/broadcast?route=/a", "to route a", ctype="text/plain")
    check_eq((st, doc), (200, {"sent": 2, "skipped": 0}), "broadcast to /a")
    check_eq(a1.recv_message(), (OP_TEXT, b"to route a"), "a1")
    check_eq(a2.recv_message(), (OP_TEXT, b"to route a"), "a2")
    expect_silence(b1, 0.3, "b1 is not on /a")
    st, _, doc = api(gw, "POST", "/broadcast?subject=alice", "to alice", ctype="text/plain")
    check_eq((st, doc), (200, {"sent": 2, "skipped": 0}), "broadcast to alice")
    check_eq(a1.recv_message(), (OP_TEXT, b"to alice"), "a1 is alice")
    check_eq(b1.recv_message(), (OP_TEXT, b"to alice"), "b1 is alice")
    expect_silence(a2, 0.3, "a2 is bob")
    st, _, doc = api(gw, "POST", "/broadcast?route=/a&subject=bob", "ab", ctype="text/plain")
    check_eq(doc, {"sent": 1, "skipped": 0}, "both filters")
    check_eq(a2.recv_message(), (OP_TEXT, b"ab"), "a2")
    # Errors.
    check_eq(api(gw, "POST", "/broadcast", "x")[0], 400, "broadcast without a filter")
    check_eq(api(gw, "POST", f"/connections/{ids['alice/a']}/messages", b"\xff\xfe",
                 ctype="text/plain")[0], 400, "text that is not UTF-8")
    node = ids["alice/a"].split(".")[0]
    check_eq(api(gw, "POST", f"/connections/{node}.999999/messages", "x")[0], 404, "unknown")
    check_eq(api(gw, "GET", f"/connections/{ids['alice/a']}/messages")[0], 405, "GET messages")
    # The backend saw only what the clients sent: nothing pushed went upstream.
    check_eq(be.events_of("frame"), [], "nothing reached the backend")
    # A closed connection is 404.
    a2.send_close(1000)
    a2.expect_close(1000, reply=False)
    deadline = time.monotonic() + T(5)
    st = None
    while time.monotonic() < deadline:
        st = api(gw, "POST", f"/connections/{ids['bob/a']}/messages", "late")[0]
        if st == 404:
            break
        time.sleep(0.05)
    check_eq(st, 404, "push to a closed connection")


def _read_stream(ws, want_stream, deadline, seen):
    """Reads frames until want_stream stream messages and the pushes in `seen['want']` are
    in; checks every frame is valid and that messages are never interleaved."""
    opcode, parts = None, []
    while time.monotonic() < deadline:
        if seen["stream"] >= want_stream and seen["pushed_done"] and \
                len(seen["other"]) >= seen["want"]:
            return
        try:
            f = ws.recv_frame(timeout=0.2)
        except TestTimeout:
            continue
        check(not f.masked and f.rsv == 0, f"a valid server frame: {f!r}")
        if f.opcode >= 8:
            check(f.fin and len(f.payload) <= 125, f"a valid control frame: {f!r}")
            if f.opcode == OP_PING:
                ws.send_frame(0xA, f.payload)
            check(f.opcode != OP_CLOSE, f"no close: {f!r}")
            continue
        if opcode is None:
            check(f.opcode in (OP_TEXT, OP_BINARY), f"a message starts with text/binary: {f!r}")
            opcode = f.opcode
        else:
            check(f.opcode == OP_CONT, f"a continuation inside a message, got {f!r}")
        parts.append(f.payload)
        if not f.fin:
            continue
        msg = b"".join(parts)
        opcode, parts = None, []
        if msg.startswith(b"m"):
            i = int(msg[1:6])
            check_eq(i, seen["stream"], "stream messages in order")
            check(msg == b"m%05d:" % i + b"x" * (len(msg) - 7) and len(msg) == 48 * 1024,
                  f"stream message {i} intact")
            seen["stream"] += 1
        else:
            seen["other"].append(msg)
    raise TestFailure(f"timed out: {seen['stream']} stream messages, {len(seen['other'])} "
                      f"others of {seen['want']}")


@runner.test(timeout=120)
def push_and_broadcast_wait_for_the_end_of_a_fragmented_backend_message(ctx):
    # 150 messages of 12 fragments, 1 ms apart: the stream lasts as long as the pushes, so
    # they arrive while the backend is in the middle of a message.
    count = 150
    be = ctx.backend(after="stream", stream_count=count, stream_size=48 * 1024, stream_frag=4096,
                     stream_pause=0.001)
    quiet = ctx.backend(after="echo")
    gw = ctx.gateway([f"/s={be.url}", f"/q={quiet.url}"], args=admin_args())
    other = RawWS(gw.port, "/q")
    ctx.track(other.sock)
    ws = RawWS(gw.port, "/s")
    ctx.track(ws.sock)
    cid = wait_conns(gw, "?route=/s", 1, "the streaming client")[0]["id"]
    seen = {"stream": 0, "other": [], "want": 0, "pushed_done": False}
    sent = []

    def pusher():
        try:
            for i in range(30):
                body = (b"push-%02d:" % i) + b"p" * (i * 997)
                st, text, _ = api(gw, "POST", f"/connections/{cid}/messages", body,
                                  ctype="text/plain")
                if st == 204:
                    sent.append(body)
                else:
                    check_eq(st, 429, f"push {i}: {text}")
                if i % 10 == 9:
                    st, _, doc = api(gw, "POST", "/broadcast?route=/s", b"bc-%02d" % i,
                                     ctype="text/plain")
                    if st == 200 and doc["sent"] == 1:
                        sent.append(b"bc-%02d" % i)
                time.sleep(0.01)
        finally:
            seen["want"] = len(sent)
            seen["pushed_done"] = True

    th = threading.Thread(target=pusher, daemon=True)
    th.start()
    _read_stream(ws, count, time.monotonic() + T(60), seen)
    th.join(T(10))
    check(len(sent) >= 10, f"most pushes were accepted ({len(sent)})")
    check_eq(sorted(seen["other"]), sorted(sent), "every accepted push arrived once, whole")
    check(be.wait_event("stream_done", T(5)) is not None, "the backend finished its stream")
    expect_silence(other, 0.2, "the client on another route got none of it")


@runner.test(timeout=60)
def push_to_a_client_that_does_not_read_gets_429(ctx):
    be = ctx.backend(after="flood", flood_size=65536)
    gw = ctx.gateway([f"/={be.url}"], args=admin_args())
    ws = RawWS(gw.port, "/")  # never reads
    ctx.track(ws.sock)
    cid = wait_conns(gw, "", 1, "the client")[0]["id"]
    deadline = time.monotonic() + T(15)
    st = None
    while time.monotonic() < deadline:
        st, text, _ = api(gw, "POST", f"/connections/{cid}/messages", "hello?")
        if st == 429:
            break
        check(st == 204, f"push before the queue is full: {st} {text}")
        time.sleep(0.05)
    check_eq(st, 429, "push to a client whose send queue is over the high watermark")
    c = conns(gw)[0]
    check(c["send_queue_bytes"] > 88 * 1024, f"its send queue: {c['send_queue_bytes']}")
    st, _, doc = api(gw, "POST", "/broadcast?route=/", "x")
    check_eq((st, doc), (200, {"sent": 0, "skipped": 1}), "a broadcast skips it")


@runner.test(timeout=60)
def bodies_over_the_limits_and_chunked_bodies(ctx):
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/={be.url}"], args=admin_args(["--max-message", "1k"]))
    ws = RawWS(gw.port, "/")
    ctx.track(ws.sock)
    cid = wait_conns(gw, "", 1, "the client")[0]["id"]
    check_eq(api(gw, "POST", f"/connections/{cid}/messages", b"x" * 2000)[0], 413,
             "push over --max-message")
    check_eq(api(gw, "POST", f"/connections/{cid}/messages", b"y" * 1024)[0], 204,
             "push at --max-message")
    check_eq(ws.recv_message(), (OP_BINARY, b"y" * 1024), "it arrives")
    check_eq(api(gw, "POST", "/broadcast?route=/", b"x" * (1024 * 1024 + 1))[0], 413,
             "a body over 1 MiB")
    st, _, _ = api(gw, "PUT", "/routes", '{"routes": []}',
                   headers=["Transfer-Encoding: chunked"])
    check_eq(st, 411, "a chunked body")
    # A body sent slowly, byte by byte, still ends with an answer (nothing blocks).
    import socket
    s = socket.create_connection(("127.0.0.1", gw.admin_port), timeout=T(5))
    ctx.track(s)
    body = b'{"routes": [{"path": "/", "backends": ["%s"]}]}' % be.url.encode()
    s.sendall(b"PUT /routes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
              b"Content-Length: %d\r\n\r\n" % (TOKEN.encode(), len(body)))
    for i in range(0, len(body), 7):
        s.sendall(body[i:i + 7])
        check_eq(api(gw, "GET", "/healthz", token=None)[0], 200, "healthz while a body trickles")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    check(data.startswith(b"HTTP/1.1 200"), f"the slow PUT: {data[:80]!r}")


@runner.test(timeout=60)
def admin_token_is_required_except_for_the_probes_and_metrics(ctx):
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/={be.url}"], args=admin_args())
    guarded = [("GET", "/routes", None), ("PUT", "/routes", '{"routes": []}'),
               ("GET", "/connections", None), ("GET", "/connections/x.1", None),
               ("DELETE", "/connections/x.1", None), ("POST", "/connections/x.1/messages", "m"),
               ("POST", "/broadcast?route=/", "m"), ("GET", "/nothing-here", None)]
    for method, path, data in guarded:
        for tok, what in ((None, "no token"), ("wrong", "a wrong token"),
                          (TOKEN + "x", "a longer token"), (TOKEN[:-1], "a prefix")):
            st, _, _ = api(gw, method, path, data, token=tok)
            check_eq(st, 401, f"{method} {path} with {what}")
    st, _, _ = api(gw, "GET", "/routes", token=None, headers=[f"Authorization: bearer {TOKEN}"])
    check_eq(st, 200, "the scheme is case-insensitive")
    check_eq(api(gw, "GET", "/routes")[0], 200, "GET /routes with the token")
    check_eq(api(gw, "GET", "/connections")[0], 200, "GET /connections with the token")
    check_eq(api(gw, "POST", "/broadcast?route=/", "m")[0], 200, "broadcast with the token")
    for path in ("/healthz", "/readyz"):
        check_eq(api(gw, "GET", path, token=None)[0], 200, f"{path} without a token")
    check(api(gw, "GET", "/metrics", token=None)[0] != 401, "/metrics is not guarded")
    # Without --admin-token nothing is guarded.
    gw2 = ctx.gateway([f"/={be.url}"])
    check_eq(api(gw2, "GET", "/routes", token=None)[0], 200, "no token configured")


if __name__ == "__main__":
    runner.main()
