#!/usr/bin/python3
"""Cross-node push and broadcast through the admin API (issue 12, "Measure and record").

  contrib/cluster/bench_push.py BINDIR [--conns 3000] [--quick]

One redis-server and three wsgate nodes (a, b, c; --workers 1 each) on 127.0.0.1 in front
of one wsgate-echo; wsgate-bench holds idle clients that time every message they get (each
body starts with the sender's CLOCK_MONOTONIC ns, the load tool's own format), so latency is
"admin call sent -> message read by the client". It reuses bench/run_push.py's helpers.

1. Push: one idle client on node c; POST /connections/ID/messages back to back for a few
   seconds, on c's own admin (local: the baseline) and on a's (cross-node: a publishes, c
   runs it, c's reply ends a's call). Reported: pushes per second (one admin client, one TCP
   connection per call) and arrival latency.
2. Broadcast: --conns idle clients spread evenly over the three nodes, POST /broadcast?route=/
   on node a five times; reported: the admin call's time (until every node's "sent" is in)
   and arrival latency over all clients (max = the time until the last has it).

Everything here shares one machine (the numbers in docs/BENCHMARKS.md come from a noisy,
shared 2-core VM: a node, Redis and the load tool compete for the same cores).
"""

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from run_push import (PROCS, admin, bench_clients, free_port, stamped, start,  # noqa: E402
                      stop_all, wait_tcp)


def active(aport):
    st, body = admin(aport, "GET", "/stats")
    return json.loads(body)["totals"]["connections_active"] if st == 200 else -1


def wait_active(aports, n, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(active(p) for p in aports) == n:
            return
        time.sleep(0.25)
    raise SystemExit(f"{n} clients did not connect in {timeout}s")


def push_run(bindir, gport, owner_admin, via_admin, seconds, logdir, name):
    bp, bjson = bench_clients(bindir, gport, 1, seconds + 10, logdir, name)
    wait_active([owner_admin], 1)
    st, body = admin(owner_admin, "GET", "/connections?limit=1")
    cid = json.loads(body)["connections"][0]["id"]
    n, errors = 0, 0
    stop_at = time.monotonic() + seconds
    t0 = time.monotonic()
    while time.monotonic() < stop_at:
        st, _ = admin(via_admin, "POST", f"/connections/{cid}/messages", stamped())
        n += st == 204
        errors += st != 204
    rate = n / (time.monotonic() - t0)
    time.sleep(0.5)
    os.killpg(bp.pid, signal.SIGINT)
    bp.wait(60)
    rep = json.load(open(bjson))
    lat = rep.get("latency_us", {})
    return (name, 1, f"{rate:,.0f}/s" + (f" ({errors} errors)" if errors else ""),
            rep.get("messages", {}).get("received_total"), lat.get("p50"), lat.get("p99"),
            lat.get("max"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bindir")
    ap.add_argument("--conns", type=int, default=3000)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    conns = 300 if a.quick else a.conns
    conns -= conns % 3
    push_s = 2 if a.quick else 5
    logdir = tempfile.mkdtemp(prefix="wsgate-cluster-push-")
    log = open(os.path.join(logdir, "procs.log"), "w")
    redis = shutil.which("redis-server") or "/usr/bin/redis-server"
    try:
        rport, eport = free_port(), free_port()
        start([redis, "--save", "", "--appendonly", "no", "--port", str(rport), "--bind",
               "127.0.0.1"], 1, log)
        start([os.path.join(a.bindir, "wsgate-echo"), "--listen", f"127.0.0.1:{eport}",
               "--workers", "1"], 1, log)
        wait_tcp(rport)
        wait_tcp(eport)
        nodes = []
        for i, name in enumerate("abc"):
            gport, aport = free_port(), free_port()
            start([os.path.join(a.bindir, "wsgate"), "--listen", f"127.0.0.1:{gport}",
                   "--admin", f"127.0.0.1:{aport}", "--workers", "1", "--ping-interval", "0",
                   "--idle-timeout", "1h", "--health-interval", "0", "--route",
                   f"/=ws://127.0.0.1:{eport}", "--cluster", f"redis://127.0.0.1:{rport}",
                   "--node-id", name], i % 2, log)
            nodes.append((gport, aport))
        for gport, aport in nodes:
            wait_tcp(gport)
            wait_tcp(aport)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st, body = admin(nodes[0][1], "GET", "/cluster")
            if st == 200 and len(json.loads(body)["nodes"]) == 3:
                break
            time.sleep(0.1)
        (ga, aa), _, (gc, ac) = nodes
        rows = [push_run(a.bindir, gc, ac, ac, push_s, logdir, "push, local (c to c)"),
                push_run(a.bindir, gc, ac, aa, push_s, logdir, "push, cross-node (a to c)")]

        hold = 30 + conns // 1000
        per = conns // 3
        bench = [bench_clients(a.bindir, g, per, hold, logdir, f"bcast-{i}")
                 for i, (g, _) in enumerate(nodes)]
        wait_active([p for _, p in nodes], conns)
        calls = []
        for _ in range(5):
            t0 = time.monotonic()
            st, body = admin(aa, "POST", "/broadcast?route=/", stamped())
            calls.append((time.monotonic() - t0) * 1000)
            doc = json.loads(body) if st == 200 else {}
            if doc.get("sent") != conns:
                raise SystemExit(f"broadcast answered {st} {body!r}, want sent={conns}")
            time.sleep(1)
        lat_p50, lat_p99, lat_max, got = [], [], [], 0
        for bp, bjson in bench:
            os.killpg(bp.pid, signal.SIGINT)
            bp.wait(60)
            rep = json.load(open(bjson))
            lat = rep.get("latency_us", {})
            lat_p50.append(lat.get("p50") or 0)
            lat_p99.append(lat.get("p99") or 0)
            lat_max.append(lat.get("max") or 0)
            got += rep.get("messages", {}).get("received_total") or 0
        rows.append((f"broadcast from a, {per} clients on each node", conns,
                     f"{sorted(calls)[2]:.1f} ms", got, f"{min(lat_p50)}-{max(lat_p50)}",
                     f"{min(lat_p99)}-{max(lat_p99)}", max(lat_max)))
        print("| case | clients | admin call / rate | messages received | p50 µs | p99 µs | max µs |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print("| " + " | ".join("" if v is None else str(v) for v in r) + " |")
        print(f"\n(logs in {logdir}; broadcast p50/p99: the range over the three nodes' clients)")
    finally:
        stop_all()


if __name__ == "__main__":
    main()
