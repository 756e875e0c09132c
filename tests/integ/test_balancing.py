#!/usr/bin/python3
"""Balancing and backend health (issue 10, router/lb.c, router/health.c, core/health_probe.c):
least-conn spreading long-lived connections by weight, ip-hash stickiness and what moves when a
backend is added (config file + SIGHUP), active health checks marking a backend down and up
again (a sick /health and a killed process), passive checks (--max-fails), and 502 at once
without a dial when every backend of a route is down.

Backends are small threaded Python servers that answer the upgrade, then send their own name
as the first message, and count the upgrades they served (health checks apart).

Run: /usr/bin/python3 test_balancing.py --bin <builddir>/bin [-k name]
"""

import base64
import hashlib
import os
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (GUID, OP_TEXT, Runner, SockReader, T, TestFailure, check, check_eq,  # noqa: E402
                     free_port, read_frame, read_http_response, upgrade_request, ws_accept, ws_key)

runner = Runner(__doc__)


class NamedBackend:
    """A WebSocket backend on 127.0.0.1:port that sends `name` after the 101 and then holds the
    connection until the peer leaves. GET /health answers 101 (the gateway's health check)
    unless `sick`, then 503. restart() listens again on the same port."""

    def __init__(self, name, port=None):
        self.name = name
        self.port = port or free_port()
        self.sick = False
        self.lock = threading.Lock()
        self.upgrades = 0        # upgrades of real clients (not /health)
        self.health_checks = 0
        self.conns = []
        self.lsock = None
        self.start()

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}"

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(512)
        self.lsock = s
        threading.Thread(target=self._accept_loop, args=(s,), daemon=True).start()

    def _accept_loop(self, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(T(30))
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
            head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            lines = head.split("\r\n")
            path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
            key = ""
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                if k.strip().lower() == "sec-websocket-key":
                    key = v.strip()
            health = path.startswith("/health")
            if health:
                with self.lock:
                    self.health_checks += 1
                if self.sick:
                    c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                              b"Connection: close\r\n\r\n")
                    return
            accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
            c.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode())
            if health:
                c.recv(64)  # the gateway's close 1000
                return
            with self.lock:
                self.upgrades += 1
            name = self.name.encode()
            c.sendall(bytes([0x81, len(name)]) + name)
            while c.recv(4096):
                pass
        except OSError:
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def stop(self):
        if self.lsock is not None:
            try:
                self.lsock.close()
            except OSError:
                pass
            self.lsock = None
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
                c.close()
            except OSError:
                pass

    def restart(self):
        self.start()


def backends(ctx, names):
    out = [NamedBackend(n) for n in names]
    ctx.backends.extend(out)  # stopped with the test (Ctx.cleanup calls stop())
    return out


def connect(gw, source="127.0.0.1", timeout=None):
    """A client from `source`: (socket, status, name of the backend or None)."""
    timeout = T(5) if timeout is None else timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", gw.port))
    key = ws_key()
    s.sendall(upgrade_request(path="/", host=f"127.0.0.1:{gw.port}", key=key))
    r = SockReader(s)
    resp = read_http_response(r, time.monotonic() + timeout)
    if resp.status != 101:
        s.close()
        return None, resp.status, None
    check_eq(resp.header("sec-websocket-accept"), ws_accept(key), "accept")
    f = read_frame(r, time.monotonic() + timeout)
    check_eq(f.opcode, OP_TEXT, "first frame from the backend")
    return s, 101, f.payload.decode()


def name_of(gw, source="127.0.0.1"):
    s, st, name = connect(gw, source)
    if s is not None:
        s.close()
    check_eq(st, 101, f"upgrade from {source}")
    return name


def wait_log(gw, needle, timeout, start=0):
    """Seconds until `needle` shows in the gateway's stderr after offset `start`."""
    t0 = time.monotonic()
    while True:
        if needle in gw.stderr()[start:]:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TestFailure(f"no {needle!r} in the log after {timeout:.1f}s:\n{gw.stderr_tail()}")
        time.sleep(0.02)


@runner.test(timeout=90)
def least_conn_spreads_200_long_lived_connections_by_weight(ctx):
    a, b, c = backends(ctx, ["a", "b", "c"])
    gw = ctx.gateway([f"/={a.url},{b.url},{c.url}@2;lb=least-conn"],
                     args=["--health-interval", "0", "--max-conns", "1000"])
    socks, hits = [], {"a": 0, "b": 0, "c": 0}
    try:
        for i in range(200):
            s, st, name = connect(gw)
            check_eq(st, 101, f"client {i}")
            socks.append(s)
            hits[name] += 1
        for n, w in (("a", 1), ("b", 1), ("c", 2)):
            want = 200 * w / 4
            check(abs(hits[n] - want) <= 0.1 * want,
                  f"least-conn 1/1/2 over 200: {hits} (want 50/50/100 within 10%)")
    finally:
        for s in socks:
            s.close()


@runner.test(timeout=90)
def ip_hash_is_sticky_and_a_fourth_backend_takes_about_a_quarter(ctx):
    a, b, c, d = backends(ctx, ["a", "b", "c", "d"])
    fd, path = tempfile.mkstemp(prefix="wsg-lb-", suffix=".json")
    os.close(fd)
    try:
        def write(urls):
            body = ",".join(f'"{u}"' for u in urls)
            with open(path + ".tmp", "w") as f:
                f.write('{"health-interval": "0", "routes": [{"path": "/", "backends": [%s], '
                        '"lb": "ip-hash"}]}' % body)
            os.replace(path + ".tmp", path)

        write([a.url, b.url, c.url])
        gw = ctx.gateway([], args=["--config", path])
        sources = [f"127.0.0.{i}" for i in range(2, 102)]
        before = {}
        for src in sources:
            before[src] = name_of(gw, src)
        check(set(before.values()) == {"a", "b", "c"}, f"all three used: {set(before.values())}")
        # sticky: the same address, another source port, the same backend
        for src in sources[:30]:
            check_eq(name_of(gw, src), before[src], f"ip-hash of {src} again")
        mark = len(gw.stderr())
        write([a.url, b.url, c.url, d.url])
        gw.signal(signal.SIGHUP)
        wait_log(gw, "ev=routes_reloaded", T(10), mark)
        moved = 0
        for src in sources:
            now = name_of(gw, src)
            if now != before[src]:
                check_eq(now, "d", f"{src} moved from {before[src]}, only to the new backend")
                moved += 1
        # 1/N of the new N (1/4) in theory; "about a third" of the old N with 100 addresses
        check(10 <= moved <= 45, f"{moved} of 100 addresses moved to the 4th backend")
        from harness import note
        note(f"adding a 4th backend moved {moved} of 100 client addresses")
    finally:
        for p in (path, path + ".tmp"):
            try:
                os.unlink(p)
            except OSError:
                pass


@runner.test(timeout=90)
def ip_hash_fourth_backend_added_with_put_routes(ctx):
    # The same through the admin API: PUT /routes adds the 4th backend; open clients keep
    # theirs, new ones are hashed over the four
    import http.client
    import json
    a, b, c, d = backends(ctx, ["a", "b", "c", "d"])
    gw = ctx.gateway([f"/={a.url},{b.url},{c.url};lb=ip-hash"], args=["--health-interval", "0"])
    sources = [f"127.0.1.{i}" for i in range(2, 102)]
    before = {src: name_of(gw, src) for src in sources}
    check(set(before.values()) == {"a", "b", "c"}, f"all three used: {set(before.values())}")
    held, st, held_name = connect(gw, sources[0])  # open across the change
    check_eq(st, 101, "the client held across the change")
    conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=T(10))
    body = json.dumps({"routes": [{"path": "/", "backends": [a.url, b.url, c.url, d.url],
                                   "lb": "ip-hash"}]})
    conn.request("PUT", "/routes", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    answer = r.read()
    conn.close()
    check_eq(r.status, 200, f"PUT /routes: {answer!r}")
    moved = 0
    for src in sources:
        now = name_of(gw, src)
        if now != before[src]:
            check_eq(now, "d", f"{src} moved from {before[src]}, only to the new backend")
            moved += 1
    check(10 <= moved <= 45, f"{moved} of 100 addresses moved to the 4th backend")
    from harness import note
    note(f"PUT /routes with a 4th backend moved {moved} of 100 client addresses")
    # the held client is still open, on the backend it had
    conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=T(10))
    conn.request("GET", f"/connections?peer={sources[0]}")
    listed = json.loads(conn.getresponse().read())["connections"]
    conn.close()
    urls = {x.name: x.url for x in (a, b, c, d)}
    check_eq([x["backend"] for x in listed], [urls[held_name]],
             "the held client's backend after the change")
    held.close()


@runner.test(timeout=90)
def sick_backend_gets_no_new_clients_and_comes_back(ctx):
    a, b = backends(ctx, ["a", "b"])
    interval, fails = 0.3, 2
    gw = ctx.gateway([f"/={a.url},{b.url}"],
                     args=["--health-interval", "300ms", "--health-path", "/health",
                           "--health-fails", str(fails), "--health-passes", "2",
                           "--max-fails", "0", "--log-level", "info"])
    # both used while healthy
    names = {name_of(gw) for _ in range(6)}
    check_eq(names, {"a", "b"}, "round robin over both")
    deadline = time.monotonic() + T(5)
    while a.health_checks == 0 or b.health_checks == 0:
        check(time.monotonic() < deadline, "no health check reached the backends")
        time.sleep(0.05)
    mark = len(gw.stderr())
    b.sick = True
    took = wait_log(gw, f"ev=backend_down backend={b.url}", T(10), mark)
    check(took <= interval * fails + interval + T(0.5),
          f"down after {took:.2f}s (interval {interval}s x {fails} fails + one interval)")
    served = b.upgrades
    for _ in range(20):
        check_eq(name_of(gw), "a", "a client while b is down")
    check_eq(b.upgrades, served, "no client was sent to the down backend")
    mark = len(gw.stderr())
    b.sick = False
    wait_log(gw, f"ev=backend_up backend={b.url}", T(10), mark)
    names = {name_of(gw) for _ in range(6)}
    check_eq(names, {"a", "b"}, "b takes clients again")


@runner.test(timeout=90)
def killed_backend_is_marked_down_in_time_and_back_after_restart(ctx):
    a, b, c = backends(ctx, ["a", "b", "c"])
    interval, fails = 0.4, 2
    gw = ctx.gateway([f"/={a.url},{b.url},{c.url}"],
                     args=["--health-interval", "400ms", "--health-fails", str(fails),
                           "--max-fails", "0"])
    time.sleep(interval * 2)  # a first round of checks, all passing
    mark = len(gw.stderr())
    t0 = time.monotonic()
    c.stop()
    wait_log(gw, f"ev=backend_down backend={c.url}", T(10), mark)
    took = time.monotonic() - t0
    check(took <= interval * fails + interval + T(0.5),
          f"down after {took:.2f}s (interval {interval}s x {fails} fails + one interval)")
    # no attempt goes there: every client is answered by a or b, and no backend_fail for c
    for _ in range(12):
        check(name_of(gw) in ("a", "b"), "a client while c is down")
    mark = len(gw.stderr())
    c.restart()
    wait_log(gw, f"ev=backend_up backend={c.url}", T(10), mark)
    names = {name_of(gw) for _ in range(9)}
    check_eq(names, {"a", "b", "c"}, "c takes clients again after its restart")


@runner.test(timeout=60)
def all_backends_down_is_502_at_once_without_a_dial(ctx):
    a, b = backends(ctx, ["a", "b"])
    gw = ctx.gateway([f"/={a.url},{b.url}"],
                     args=["--health-interval", "200ms", "--health-path", "/health",
                           "--health-fails", "1", "--max-fails", "0",
                           "--connect-timeout", "3s"])
    a.sick = b.sick = True
    wait_log(gw, f"ev=backend_down backend={a.url}", T(10))
    wait_log(gw, f"ev=backend_down backend={b.url}", T(10))
    served = (a.upgrades, b.upgrades)
    for _ in range(5):
        t0 = time.monotonic()
        s, st, _ = connect(gw)
        took = time.monotonic() - t0
        check_eq(st, 502, "every backend down")
        check(took < T(1), f"502 took {took:.2f}s")
    check_eq((a.upgrades, b.upgrades), served, "no backend was dialled")


@runner.test(timeout=60)
def passive_checks_mark_a_refusing_backend_down(ctx):
    a, = backends(ctx, ["a"])
    dead = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    gw = ctx.gateway([f"/={dead},{a.url}"],
                     args=["--health-interval", "0", "--max-fails", "2", "--fail-timeout", "30s",
                           "--log-level", "info"])
    # round robin starts at the dead one every other client; the dial falls back to a
    for _ in range(6):
        check_eq(name_of(gw), "a", "fallback to the live backend")
    wait_log(gw, f"ev=backend_down backend={dead} check=passive", T(5))
    text = gw.stderr()
    check("check=passive fails=2" in text, "passive mark logged with its threshold")


if __name__ == "__main__":
    runner.main()
