#!/usr/bin/python3
"""Push and broadcast through the admin API (issue 10, "Measure and record").

  bench/run_push.py BINDIR [--conns 9000] [--quick]

wsgate (--workers 1, CPU 0) in front of wsgate-echo; wsgate-bench (CPU 1) holds idle client
connections that only answer pings and time every message they get: each pushed body starts
with the sender's CLOCK_MONOTONIC nanoseconds (little endian, the load tool's own format), so
the tool's latency histogram is "admin call sent -> message read by the client".

1. Broadcast: N idle clients, POST /broadcast?route=/ five times, 1 s apart. Reported: the
   admin call's own time (until its 200 {"sent":N}), and the clients' arrival latency (p50,
   p99, max = the time until the last client has it).
2. Push: one idle client, POST /connections/ID/messages back to back for a few seconds from
   one and from four admin clients (one TCP connection per call, as the admin API answers
   with Connection: close). Reported: pushes per second and their arrival latency.

Everything on 127.0.0.1; every process started here is stopped on exit. Figures go to stdout
as a markdown table (docs/BENCHMARKS.md quotes a run).
"""

import argparse
import http.client
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

PROCS = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(argv, cpu, log):
    p = subprocess.Popen(["taskset", "-c", str(cpu)] + argv, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True)
    PROCS.append(p)
    return p


def stop_all():
    for p in PROCS:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 10
    for p in PROCS:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def admin(port, method, path, body=None, ctype="application/octet-stream"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": ctype} if body is not None else {}
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def wait_tcp(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def wait_active(aport, n, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st, body = admin(aport, "GET", "/stats")
        if st == 200 and json.loads(body)["totals"]["connections_active"] == n:
            return
        time.sleep(0.25)
    raise SystemExit(f"{n} clients did not connect in {timeout}s")


def stamped(size=64):
    return struct.pack("<Q", time.monotonic_ns()) + b"\0" * (size - 8)


def bench_clients(bindir, port, conns, seconds, logdir, name):
    out = open(os.path.join(logdir, f"{name}.json"), "w")
    argv = [os.path.join(bindir, "wsgate-bench"), "--idle", "-c", str(conns), "-t", "1",
            "-s", "64", "--binary", "-d", f"{seconds}s", "--connect-rate", "3000", "--json", "-q",
            f"ws://127.0.0.1:{port}/"]
    p = subprocess.Popen(["taskset", "-c", "1"] + argv, stdout=out,
                         stderr=open(os.path.join(logdir, f"{name}.err"), "w"),
                         start_new_session=True)
    PROCS.append(p)
    return p, out.name


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bindir")
    ap.add_argument("--conns", type=int, default=9000)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    conns = 1000 if a.quick else a.conns
    push_s = 2 if a.quick else 5
    logdir = tempfile.mkdtemp(prefix="wsgate-push-")
    log = open(os.path.join(logdir, "procs.log"), "w")
    try:
        eport, gport, aport = free_port(), free_port(), free_port()
        start([os.path.join(a.bindir, "wsgate-echo"), "--listen", f"127.0.0.1:{eport}",
               "--workers", "1"], 1, log)
        wait_tcp(eport)
        start([os.path.join(a.bindir, "wsgate"), "--listen", f"127.0.0.1:{gport}", "--admin",
               f"127.0.0.1:{aport}", "--workers", "1", "--ping-interval", "0",
               "--idle-timeout", "1h", "--health-interval", "0", "--route",
               f"/=ws://127.0.0.1:{eport}"], 0, log)
        wait_tcp(gport)
        wait_tcp(aport)
        rows = []

        # 1. broadcast to `conns` idle clients
        hold = 30 + conns // 1000
        bp, bjson = bench_clients(a.bindir, gport, conns, hold, logdir, "broadcast")
        wait_active(aport, conns)
        calls = []
        for _ in range(5):
            t0 = time.monotonic()
            st, body = admin(aport, "POST", "/broadcast?route=/", stamped())
            calls.append((time.monotonic() - t0) * 1000)
            sent = json.loads(body)["sent"] if st == 200 else None
            if sent != conns:
                raise SystemExit(f"broadcast answered {st} {body!r}, want sent={conns}")
            time.sleep(1)
        os.killpg(bp.pid, signal.SIGINT)  # ends the run early: the report is printed
        bp.wait(60)
        wait_active(aport, 0)
        rep = json.load(open(bjson))
        lat = rep.get("latency_us", {})
        rows.append(("broadcast", conns, f"{sorted(calls)[2]:.1f} ms", rep.get("messages", {}).get("received_total"),
                     lat.get("p50"), lat.get("p99"), lat.get("max")))

        # 2. push to one client, from 1 and 4 admin clients
        for workers in (1, 4):
            bp, bjson = bench_clients(a.bindir, gport, 1, push_s + 10, logdir, f"push{workers}")
            wait_active(aport, 1)
            st, body = admin(aport, "GET", "/connections?limit=1")
            if st != 200:
                raise SystemExit(f"GET /connections: {st} {body!r}")
            cid = json.loads(body)["connections"][0]["id"]
            counts = [0] * workers
            stop_at = time.monotonic() + push_s

            def pusher(i):
                while time.monotonic() < stop_at:
                    st, _ = admin(aport, "POST", f"/connections/{cid}/messages", stamped())
                    if st == 204:
                        counts[i] += 1
            ts = [threading.Thread(target=pusher, args=(i,)) for i in range(workers)]
            t0 = time.monotonic()
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            rate = sum(counts) / (time.monotonic() - t0)
            time.sleep(0.5)
            os.killpg(bp.pid, signal.SIGINT)
            bp.wait(60)
            rep = json.load(open(bjson))
            lat = rep.get("latency_us", {})
            rows.append((f"push, {workers} admin client(s)", 1, f"{rate:,.0f}/s",
                         rep.get("messages", {}).get("received_total"), lat.get("p50"), lat.get("p99"), lat.get("max")))

        print("| case | clients | admin call / rate | messages received | p50 µs | p99 µs | max µs |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print("| " + " | ".join("" if v is None else str(v) for v in r) + " |")
        print(f"\n(logs in {logdir})")
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
