"""Cluster mode (issue 12): three wsgate nodes and one redis-server on loopback, started and
stopped by each test (random port, no persistence). What is covered so far: membership and
GET /cluster (a killed node drops out within 6 s, a draining one shows "draining" and a node
that exits deregisters), engine loss (Redis stopped and restarted, CLIENT PAUSE, CLIENT KILL
TYPE pubsub: /healthz degraded within 1 s, local traffic unharmed, recovery within 2 s),
PUT /routes on one node applied by the others within 1 s, and the shared per-IP limit (30
over three nodes, and each node's share with Redis down). Clients are real (Python
websockets) where they hold connections.

Run: /usr/bin/python3 test_cluster.py --bin <builddir>/bin [-k name]
"""

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Runner, SockReader, T, TestFailure, check, check_eq, free_port,  # noqa: E402
                     http_exchange, http_get, note, read_http_response, run_async,
                     upgrade_request)

import websockets  # noqa: E402

runner = Runner(__doc__)
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"


class Redis:
    """redis-server on a random loopback port, no persistence; restartable on the same port."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = self.ctx.proc([REDIS, "--save", "", "--appendonly", "no", "--port",
                                   str(self.port), "--bind", "127.0.0.1"])
        deadline = time.monotonic() + T(10)
        while time.monotonic() < deadline:
            if self.cli("PING").strip() == "PONG":
                return
            time.sleep(0.05)
        raise TestFailure("redis-server did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait(T(5))

    def cli(self, *args):
        r = subprocess.run([REDIS_CLI, "-p", str(self.port), *args], capture_output=True,
                           text=True, timeout=T(10))
        return r.stdout

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"


def node(ctx, redis, name, echo, args=()):
    return ctx.gateway([f"/={echo.url}"], workers=1,
                       args=["--cluster", redis.url, "--node-id", name, *args])


def admin_json(gw, path):
    status, _, body = http_get(gw.admin_port, path, timeout=T(2))
    return status, json.loads(body) if body else None


def cluster_ids(gw):
    status, doc = admin_json(gw, "/cluster")
    check_eq(status, 200, "GET /cluster")
    return sorted(n["id"] for n in doc["nodes"]), doc


def wait_for(what, pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    start = time.monotonic()
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return time.monotonic() - start
        time.sleep(step)
    raise TestFailure(f"{what}: not within {timeout:.1f} s")


def healthz(gw):
    try:
        _, doc = admin_json(gw, "/healthz")
        return doc
    except Exception:  # noqa: BLE001 - a probe that fails is not "ok" either
        return {}


def three(ctx, extra=()):
    redis = Redis(ctx)
    echo = ctx.echo()
    nodes = [node(ctx, redis, n, echo, extra) for n in ("a", "b", "c")]
    wait_for("three nodes in every view",
             lambda: all(cluster_ids(g)[0] == ["a", "b", "c"] for g in nodes), T(5))
    return redis, echo, nodes


@runner.test(timeout=60)
def membership_get_cluster_and_a_killed_node_drops_out_within_6s(ctx):
    redis, echo, (a, b, c) = three(ctx)
    ids, doc = cluster_ids(a)
    check_eq(doc["engine"], "up", "engine")
    mine = [n for n in doc["nodes"] if n["self"]]
    check(len(mine) == 1 and mine[0]["id"] == "a" and mine[0]["state"] == "active",
          f"self entry: {doc}")
    check_eq(healthz(a).get("cluster"), "ok", "/healthz cluster")
    # connection ids are NODE.N
    rq = http_exchange(b.port, upgrade_request(path="/"), check_closed=False)
    check_eq(rq.status, 101, "upgrade through b")
    c.kill()
    t0 = time.monotonic()
    took = wait_for("c gone from a's and b's views",
                    lambda: all(cluster_ids(g)[0] == ["a", "b"] for g in (a, b)), T(7.5))
    note(f"killed node left the view after {time.monotonic() - t0:.2f} s")
    check(took <= T(6.5), f"dropped after {took:.2f} s")
    # a node alone without --cluster has no /cluster
    solo = ctx.gateway([f"/={echo.url}"], workers=1)
    check_eq(http_get(solo.admin_port, "/cluster", timeout=T(2))[0], 404, "/cluster alone")
    check_eq(healthz(solo), {"status": "ok"}, "/healthz alone")


@runner.test(timeout=60)
def draining_node_shows_draining_then_deregisters(ctx):
    redis, echo, (a, b, c) = three(ctx, ["--drain-timeout", "3s"])

    async def hold():
        async with websockets.connect(f"ws://127.0.0.1:{c.port}/") as ws:
            c.signal(signal.SIGTERM)
            wait_for("c draining in a's view",
                     lambda: any(n["id"] == "c" and n["state"] == "draining"
                                 for n in cluster_ids(a)[1]["nodes"]), T(3))
            try:
                await asyncio.wait_for(ws.recv(), T(5))
            except websockets.ConnectionClosed as e:
                return e.code
        return None

    code = run_async(hold(), T(15))
    check_eq(code, 1001, "drain close code")
    c.wait(T(10))
    took = wait_for("c deregistered", lambda: cluster_ids(a)[0] == ["a", "b"], T(2))
    note(f"exited node left the view {took:.2f} s after its exit")


@runner.test(timeout=90)
def engine_down_degraded_within_1s_local_traffic_goes_on_and_recovers_within_2s(ctx):
    redis, echo, (a, b, c) = three(ctx)

    async def echo_once(gw):
        async with websockets.connect(f"ws://127.0.0.1:{gw.port}/") as ws:
            await ws.send("hi")
            return await asyncio.wait_for(ws.recv(), T(3))

    async def traffic(gw, seconds):
        """One connection kept open and used every 50 ms, plus new ones: never stops."""
        async with websockets.connect(f"ws://127.0.0.1:{gw.port}/") as ws:
            end = time.monotonic() + seconds
            n = 0
            while time.monotonic() < end:
                await ws.send(f"m{n}")
                check_eq(await asyncio.wait_for(ws.recv(), T(2)), f"m{n}", "echo")
                n += 1
                if n % 10 == 0:
                    check_eq(await echo_once(gw), "hi", "new connection")
                await asyncio.sleep(0.05)
            return n

    # Redis stopped for 5 s, then back.
    redis.stop()
    t0 = time.monotonic()
    took = wait_for("degraded", lambda: healthz(a).get("cluster") == "degraded", T(1.5))
    note(f"degraded {took:.2f} s after Redis stopped")
    check(took <= T(1.0), f"degraded only after {took:.2f} s")
    st, doc = admin_json(a, "/cluster")
    check(st == 200 and doc["engine"] == "down" and doc["stale"], f"/cluster when down: {doc}")
    metrics = http_get(a.admin_port, "/metrics", timeout=T(2))[2].decode()
    check("wsgate_cluster_engine_up 0" in metrics, "cluster_engine_up 0")
    n = run_async(traffic(b, 4.0), T(20))
    check(n > 20, f"only {n} echoes while Redis was down")
    time.sleep(max(0, 5 - (time.monotonic() - t0)))
    redis.start()
    t1 = time.monotonic()
    took = wait_for("every node ok again",
                    lambda: all(healthz(g).get("cluster") == "ok" for g in (a, b, c)), T(3))
    note(f"recovered {took:.2f} s after Redis returned")
    check(took <= T(2.0), f"recovered after {took:.2f} s")
    # Healthy again on each node does not yet mean every node's heartbeat is in a's view (it
    # is refreshed every 500 ms): re-registered within the spec's 2 s of Redis returning.
    wait_for("every node re-registered in a's view",
             lambda: cluster_ids(a)[0] == ["a", "b", "c"], max(0.1, T(2.0) - (time.monotonic() - t1)))
    check("wsgate_cluster_engine_up 1" in http_get(a.admin_port, "/metrics",
                                                   timeout=T(2))[2].decode(), "engine_up 1")
    del t1

    # CLIENT PAUSE 3000: replies stop; degraded within 1 s, fine again after.
    redis.cli("CLIENT", "PAUSE", "3000")
    took = wait_for("degraded under CLIENT PAUSE",
                    lambda: healthz(a).get("cluster") == "degraded", T(1.5))
    check(took <= T(1.0), f"pause seen after {took:.2f} s")
    check_eq(run_async(echo_once(c), T(5)), "hi", "local traffic during the pause")
    wait_for("ok after the pause", lambda: healthz(a).get("cluster") == "ok", T(5))

    # CLIENT KILL TYPE pubsub: resubscribed at once.
    redis.cli("CLIENT", "KILL", "TYPE", "pubsub")
    wait_for("ok after pubsub kill",
             lambda: all(healthz(g).get("cluster") == "ok" for g in (a, b, c)), T(2))
    subs = redis.cli("PUBSUB", "NUMSUB", "wsgate:node:a", "wsgate:node:b", "wsgate:node:c")
    check_eq(subs.split(), ["wsgate:node:a", "1", "wsgate:node:b", "1", "wsgate:node:c", "1"],
             "every node resubscribed")


@runner.test(timeout=60)
def put_routes_on_a_is_applied_by_c_within_1s_and_a_joining_node_takes_it(ctx):
    redis, echo, (a, b, c) = three(ctx)
    body = json.dumps({"routes": [{"path": "/new", "backends": [echo.url]}]}).encode()
    req = (b"PUT /routes HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    check_eq(http_exchange(a.admin_port, req, check_closed=False).status, 200, "PUT /routes")
    t0 = time.monotonic()

    def c_has_new():  # the old table routed "/" (and so /new too): gone on c
        return http_exchange(c.port, upgrade_request(path="/"),
                             check_closed=False).status == 404
    took = wait_for("/new on c", c_has_new, T(2), step=0.02)
    note(f"route on c {time.monotonic() - t0:.3f} s after PUT on a")
    check(took <= T(1.0), f"route replicated after {took:.2f} s")
    check_eq(http_exchange(c.port, upgrade_request(path="/new"), check_closed=False).status,
             101, "the new route on c")
    d = node(ctx, redis, "d", echo)
    wait_for("the table on the joining node",
             lambda: http_exchange(d.port, upgrade_request(path="/"),
                                   check_closed=False).status == 404, T(3))
    check("ev=cluster_routes_applied version=1" in d.stderr(), "the joiner logs the version")


def open_many(ports, n, hold):
    """n upgrade attempts spread round robin over ports, one after the other, each held open
    (raw socket) if admitted; returns (admitted, refused with 429)."""
    admitted = refused = 0
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", ports[i % len(ports)]), timeout=T(5))
        s.sendall(upgrade_request(path="/"))
        resp = read_http_response(SockReader(s), time.monotonic() + T(5))
        if resp.status == 101:
            admitted += 1
            hold.append(s)
        else:
            refused += resp.status == 429
            s.close()
    return admitted, refused


def close_all(hold):
    for s in hold:
        s.close()
    hold.clear()


@runner.test(timeout=120)
def per_ip_limit_30_holds_over_three_nodes_and_falls_back_to_the_share(ctx):
    redis, echo, nodes = three(ctx, ["--max-conns-per-ip", "30"])
    hold = []
    ports = [g.port for g in nodes]
    admitted, refused = open_many(ports, 60, hold)
    note(f"engine up: {admitted} admitted, {refused} refused of 60 over three nodes")
    check(27 <= admitted <= 33, f"{admitted} admitted (want 30 +-10%)")
    check_eq(admitted + refused, 60, "every other attempt is a 429")
    # The lease sync (250 ms) lets nodes whose own share is used up take what others left.
    close_all(hold)
    time.sleep(1.0)
    redis.stop()
    wait_for("degraded", lambda: all(healthz(g).get("cluster") == "degraded" for g in nodes),
             T(2))
    per_node = []
    for g in nodes:
        ok, _ = open_many([g.port], 15, hold)
        per_node.append(ok)
    note(f"engine down: admitted per node {per_node} (share 30/3)")
    check_eq(per_node, [10, 10, 10], "each node admits its share")
    close_all(hold)


if __name__ == "__main__":
    runner.main()
