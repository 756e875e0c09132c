#!/usr/bin/python3
"""What --cluster costs one node (issue 12, "Measure and record").

  contrib/cluster/bench_overhead.py BINDIR [--quick]

One wsgate (--workers 1, CPU 0) in front of wsgate-echo, wsgate-bench and the echo on CPU 1,
127.0.0.1 only; the same gateway run alone and with --cluster on a local redis-server (no
persistence). Two loads:

1. relay: 100 connections, 64 B, pipeline 16: the gateway's CPU per message (the relay path
   must not touch Redis, so the two should be the same);
2. handshakes: --churn with --max-conns-per-ip set (alone: the local table; clustered: the
   shared limit with its leases): connections per second, the gateway's CPU per handshake,
   and the p50 of wsgate_handshake_duration_seconds from /metrics.

Every process started here is stopped on exit. Prints a markdown table.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from run_push import PROCS, admin, free_port, start, stop_all, wait_tcp  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def hist_p50(text, name):
    """p50 of a Prometheus histogram (upper bound of the bucket holding the median), ms."""
    buckets = []
    for ln in text.split("\n"):
        if ln.startswith(name + "_bucket{"):
            le = ln.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(ln.split()[-1])))
    if not buckets or buckets[-1][1] == 0:
        return None
    half = buckets[-1][1] / 2
    for le, n in buckets:
        if n >= half:
            return le * 1000
    return None


def bench(bindir, port, args, logdir, name):
    out = os.path.join(logdir, name + ".json")
    with open(out, "w") as f:
        subprocess.run(["taskset", "-c", "1", os.path.join(bindir, "wsgate-bench"), "-t", "1",
                        "-q", "--json", *args, f"ws://127.0.0.1:{port}/"], stdout=f,
                       stderr=subprocess.DEVNULL, timeout=120, check=False)
    return json.load(open(out))


def run(bindir, cluster, dur, logdir, log):
    eport, gport, aport = free_port(), free_port(), free_port()
    start([os.path.join(bindir, "wsgate-echo"), "--listen", f"127.0.0.1:{eport}", "--workers",
           "1"], 1, log)
    wait_tcp(eport)
    args = [os.path.join(bindir, "wsgate"), "--listen", f"127.0.0.1:{gport}", "--admin",
            f"127.0.0.1:{aport}", "--workers", "1", "--ping-interval", "0", "--health-interval",
            "0", "--max-conns-per-ip", "100000", "--route", f"/=ws://127.0.0.1:{eport}",
            "--log-level", "warn"]
    if cluster:
        args += ["--cluster", f"redis://127.0.0.1:{cluster}", "--node-id", "a"]
    gw = start(args, 0, log)
    wait_tcp(gport)
    wait_tcp(aport)
    time.sleep(0.5)
    c0 = cpu_s(gw.pid)
    j = bench(bindir, gport, ["-c", "100", "-p", "16", "-d", dur], logdir, f"relay-{bool(cluster)}")
    c1 = cpu_s(gw.pid)
    msgs = j["messages"]["received_total"]
    relay = (c1 - c0) * 1e6 / msgs if msgs else None
    c0 = cpu_s(gw.pid)
    j = bench(bindir, gport, ["--churn", "-c", "50", "-d", dur], logdir, f"churn-{bool(cluster)}")
    c1 = cpu_s(gw.pid)
    conns = j["conns"]["opened"]
    per_hs = (c1 - c0) * 1e6 / conns if conns else None
    st, body = admin(aport, "GET", "/metrics")
    p50 = hist_p50(body.decode(), "wsgate_handshake_duration_seconds") if st == 200 else None
    os.killpg(gw.pid, signal.SIGTERM)
    gw.wait(10)
    return relay, j["conns"]["opened_per_s"], per_hs, p50


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bindir")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    dur = "2s" if a.quick else "5s"
    logdir = tempfile.mkdtemp(prefix="wsgate-cluster-cost-")
    log = open(os.path.join(logdir, "procs.log"), "w")
    try:
        rport = free_port()
        start(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no"], 1, log)
        wait_tcp(rport)
        rows = [("alone",) + run(a.bindir, None, dur, logdir, log),
                ("--cluster",) + run(a.bindir, rport, dur, logdir, log)]
        print("| gateway | relay CPU µs/msg (100 conns, p16) | churn conn/s | CPU µs per handshake "
              "| handshake p50 (bucket) |")
        print("|---|---:|---:|---:|---:|")
        for name, relay, cps, hs, p50 in rows:
            print(f"| {name} | {relay:.3f} | {cps:,.0f} | {hs:.1f} | ≤ {p50:g} ms |")
        print(f"\n(logs in {logdir})")
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
