#!/usr/bin/python3
"""wsgate-bench end to end (tests/integ/bench/test_bench.py).

Starts wsgate-echo (`--listen 127.0.0.1:PORT --workers 1`) from --bin, or, when it is not built
there, a Python echo server (Debian's python3-websockets, hence /usr/bin/python3), and runs the
real wsgate-bench against it: closed loop, text, open loop, idle, large messages, wss:// with a
throw-away CA, and every error path (bad URL, bad flag, refused, failed handshake, a server
that closes first, SIGINT). Checks the --json object and the exit status each time. Standard
library only, apart from the fallback echo server. Every process runs in its own process group
and is killed at the end. Prints `ok NAME` / `FAIL NAME: why`, then `N passed, M failed`.
Timeouts scale with $WSG_TEST_TIMEOUT_MULT.
"""

import argparse
import base64
import csv
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

MULT = float(os.environ.get("WSG_TEST_TIMEOUT_MULT", "1") or "1")
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PROCS = []

PY_ECHO = r"""
import asyncio, ssl, sys, websockets
async def echo(ws, path=None):
    try:
        async for m in ws:
            await ws.send(m)
    except websockets.ConnectionClosed:
        pass
async def main():
    ctx = None
    if len(sys.argv) > 3:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    async with websockets.serve(echo, "127.0.0.1", int(sys.argv[1]), ssl=ctx, max_size=None,
                                compression=None):
        await asyncio.Future()
asyncio.run(main())
"""


class Failure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, timeout):
    deadline = time.monotonic() + timeout * MULT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure(f"server exited with {proc.returncode}: {stderr_tail(proc)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise Failure(f"nothing listening on {port} after {timeout}s")


def spawn(argv):
    """A server in its own process group, stderr to a temp file (see stderr_tail)."""
    log = tempfile.TemporaryFile()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                         start_new_session=True)
    p.log = log
    PROCS.append(p)
    return p


def stderr_tail(p, lines=20):
    p.log.seek(0)
    return "\n".join(p.log.read().decode(errors="replace").splitlines()[-lines:])


def kill_all():
    for p in PROCS:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()


class Ctx:
    def __init__(self, bindir):
        self.bench = os.path.join(bindir, "wsgate-bench")
        self.echo_bin = os.path.join(bindir, "wsgate-echo")
        self.tmp = tempfile.mkdtemp(prefix="wsg-bench-")
        self.port = free_port()
        if os.access(self.echo_bin, os.X_OK):
            self.echo_kind = "wsgate-echo"
            argv = [self.echo_bin, "--listen", f"127.0.0.1:{self.port}", "--workers", "1"]
        else:
            self.echo_kind = "python websockets (wsgate-echo not built)"
            argv = ["/usr/bin/python3", "-c", PY_ECHO, str(self.port)]
        self.echo = spawn(argv)
        wait_port(self.port, self.echo, 15)
        self.url = f"ws://127.0.0.1:{self.port}/"

    def run(self, *args, timeout=30):
        """Runs wsgate-bench; returns (rc, stdout, stderr)."""
        p = subprocess.Popen([self.bench, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True, text=True)
        PROCS.append(p)
        try:
            out, err = p.communicate(timeout=timeout * MULT)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise Failure(f"wsgate-bench {' '.join(args)} did not finish in {timeout}s")
        check("Sanitizer" not in err, f"sanitizer report:\n{err}")
        return p.returncode, out, err

    def run_json(self, *args, rc=0, timeout=30):
        code, out, err = self.run("--json", *args, timeout=timeout)
        check(code == rc, f"exit status {code}, expected {rc}; stderr: {err.strip()}")
        lines = out.strip().splitlines()
        check(len(lines) == 1, f"expected one JSON line, got {out!r}")
        return json.loads(lines[0]), err


def check_clean(j):
    c = j["conns"]
    for k in ("failed", "connect_errors", "tls_errors", "handshake_errors", "unexpected_closes",
              "protocol_errors", "close_timeouts"):
        check(c[k] == 0, f"conns.{k} = {c[k]}")
    check(c["close_codes"] == {}, f"close codes {c['close_codes']}")
    check(j["messages"]["bad_echoes"] == 0, f"bad echoes {j['messages']['bad_echoes']}")
    check(j["completed"] is True, "completed is not true")


def check_latency(j):
    lat = j["latency_us"]
    check(lat["count"] > 0, "no latency recorded")
    order = [lat["min"], lat["p50"], lat["p90"], lat["p99"], lat["p99_9"], lat["max"]]
    check(order == sorted(order), f"percentiles out of order: {order}")
    check(lat["min"] >= 1, f"min below 1 us: {lat['min']}")
    check(lat["max"] < 10e6, f"max over 10 s: {lat['max']}")
    check(lat["min"] <= lat["mean"] <= lat["max"], f"mean {lat['mean']} outside min..max")


# ---------------------------------------------------------------------------------------------
# tests


def test_closed_loop_json(ctx):
    j, err = ctx.run_json("-c", "10", "-d", "2s", ctx.url)
    check(err == "", f"stderr not empty when not a terminal: {err!r}")
    check(j["mode"] == "closed" and j["connections"] == 10, f"header fields {j}")
    check(j["conns"]["opened"] == 10, f"opened {j['conns']['opened']}")
    m = j["messages"]
    check(m["received"] > 0 and m["per_s"] > 0, f"no messages: {m}")
    check(1.9 <= j["duration_s"] <= 2.1, f"duration {j['duration_s']}")
    check(m["unanswered"] == 0, f"unanswered {m['unanswered']}")
    check(m["received_total"] == m["sent_total"], f"sent {m['sent_total']} != echoed {m['received_total']}")
    check(abs(j["bytes"]["received"] - 64 * m["received"]) == 0, "bytes != 64 * messages")
    check_latency(j)
    check_clean(j)


def test_human_summary(ctx):
    rc, out, err = ctx.run("-c", "2", "-d", "500ms", ctx.url)
    check(rc == 0, f"exit {rc}: {err}")
    for word in ("p50", "p99.9", "max", "msgs/s", "MB/s", "unexpected"):
        check(word.lower() in out.lower() or word in out, f"summary lacks {word!r}:\n{out}")


def test_text_pipeline_histogram_csv(ctx):
    path = os.path.join(ctx.tmp, "h.csv")
    j, _ = ctx.run_json("-c", "4", "-t", "2", "-d", "1s", "--text", "-p", "8", "-s", "100",
                        "--histogram", path, ctx.url)
    check(j["payload"] == "text" and j["pipeline"] == 8, f"fields {j}")
    check_latency(j)
    check_clean(j)
    with open(path) as f:
        rows = list(csv.DictReader(f))
    check(len(rows) > 0, "empty CSV")
    check(int(rows[-1]["cumulative_count"]) == j["latency_us"]["count"],
          f"CSV total {rows[-1]['cumulative_count']} != {j['latency_us']['count']}")
    check(abs(float(rows[-1]["percentile"]) - 100.0) < 1e-6, "CSV does not end at 100%")
    values = [float(r["value_us"]) for r in rows]
    check(values == sorted(values), "CSV values not increasing")


def test_open_loop_rate(ctx):
    j, _ = ctx.run_json("-c", "20", "-d", "2s", "--rate", "1000", ctx.url)
    check(j["mode"] == "open", f"mode {j['mode']}")
    got = j["messages"]["per_s"]
    check(900 <= got <= 1100, f"rate {got}/s, expected about 1000")
    check(1800 <= j["messages"]["sent"] <= 2200, f"sent {j['messages']['sent']}")
    check_latency(j)
    check_clean(j)


def test_large_messages(ctx):
    j, _ = ctx.run_json("-c", "2", "-d", "1s", "-s", "64k", "-p", "4", ctx.url)
    check(j["messages"]["received"] > 0, "no 64 KiB echoes")
    check(j["bytes"]["received"] == 65536 * j["messages"]["received"], "byte count")
    check_clean(j)


def test_idle_holds_connections(ctx):
    t0 = time.monotonic()
    j, _ = ctx.run_json("--idle", "-c", "200", "--connect-rate", "1000", "-d", "1s", ctx.url)
    took = time.monotonic() - t0
    check(j["mode"] == "idle" and j["conns"]["opened"] == 200, f"idle {j['conns']}")
    check(j["messages"]["sent_total"] == 0, "idle sent messages")
    # 200 at 1000/s takes ~0.2 s to ramp, then 1 s held.
    check(took >= 1.15, f"ramp + hold took only {took:.2f}s")
    check_clean(j)


def test_churn(ctx):
    j, _ = ctx.run_json("--churn", "-c", "4", "-d", "1s", ctx.url)
    check(j["mode"] == "churn", f"mode {j['mode']}")
    c = j["conns"]
    check(c["opened_per_s"] > 0 and c["opened"] > 4, f"no churn: {c}")
    check(j["messages"]["received_total"] == j["messages"]["sent_total"], "lost echoes")
    check_latency(j)
    check_clean(j)


def test_src_ips(ctx):
    j, _ = ctx.run_json("-c", "6", "--src-ips", "3", "-d", "500ms", ctx.url)
    check(j["conns"]["opened"] == 6, f"opened {j['conns']['opened']}")
    check_clean(j)


def test_bad_url_exits_2(ctx):
    rc, out, err = ctx.run("http://127.0.0.1:1/")
    check(rc == 2, f"exit {rc}")
    check(err.count("\n") == 1 and "http://127.0.0.1:1/" in err, f"stderr {err!r}")
    rc, _, err = ctx.run("ws://127.0.0.1:99999/")
    check(rc == 2 and "99999" in err, f"exit {rc} {err!r}")


def test_bad_flag_exits_2(ctx):
    for args, name in ((["--bogus"], "--bogus"), (["-c", "zero"], "-c"), (["-s", "4"], "-s"),
                       (["-d", "10x"], "-d")):
        rc, _, err = ctx.run(*args, ctx.url)
        check(rc == 2, f"{args}: exit {rc}")
        check(err.count("\n") == 1 and name in err, f"{args}: stderr {err!r}")


def test_refused_exits_1(ctx):
    port = free_port()
    rc, out, err = ctx.run("-c", "3", "-d", "1s", f"ws://127.0.0.1:{port}/")
    check(rc == 1, f"exit {rc}")
    check(err.count("\n") == 1 and "refused" in err.lower(), f"stderr {err!r}")
    check(out == "", f"stdout {out!r}")


def serve_raw(handler):
    """A loopback TCP server running handler(sock) per connection on threads; returns port."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)

    def loop():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()
    return ls, ls.getsockname()[1]


def read_head(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            return None
        buf += d
    return buf


def test_failed_handshake_shows_status(ctx):
    def h404(c):
        with c:
            if read_head(c) is not None:
                c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    ls, port = serve_raw(h404)
    try:
        rc, out, err = ctx.run("-c", "2", "-d", "1s", f"ws://127.0.0.1:{port}/nope")
        check(rc == 1, f"exit {rc}")
        check(err.count("\n") == 1 and "404" in err, f"stderr {err!r}")
    finally:
        ls.close()


def test_extra_headers_reach_the_server(ctx):
    heads = []

    def record(c):
        with c:
            head = read_head(c)
            if head is not None:
                heads.append(head)
                c.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n"
                          b"Connection: close\r\n\r\n")

    ls, port = serve_raw(record)
    try:
        rc, _, err = ctx.run("-c", "2", "-d", "1s", "-H", "Authorization: Bearer a.b.c",
                             "--header=Cookie: access_token=x", f"ws://127.0.0.1:{port}/p")
        check(rc == 1 and "401" in err, f"exit {rc} stderr {err!r}")
        check(len(heads) >= 2, f"{len(heads)} requests seen")
        lines = heads[0].split(b"\r\n")
        check(lines[0] == b"GET /p HTTP/1.1", f"request line {lines[0]!r}")
        check(b"Authorization: Bearer a.b.c" in lines and b"Cookie: access_token=x" in lines,
              f"head {heads[0]!r}")
        check(lines.index(b"Authorization: Bearer a.b.c") < lines.index(b"Cookie: access_token=x"),
              "headers out of order")
        check(sum(l.lower().startswith(b"sec-websocket-key:") for l in lines) == 1,
              f"head {heads[0]!r}")
        check(heads[0].endswith(b"\r\n\r\n") and heads[0].count(b"\r\n\r\n") == 1,
              f"head {heads[0]!r}")
    finally:
        ls.close()
    # Through the echo server: the run is clean, and --json names the headers, never a value.
    j, _ = ctx.run_json("-c", "2", "-d", "1s", "-H", "Authorization: Bearer a.b.c",
                        "-H", "X-Trace: 7", ctx.url)
    check_clean(j)
    check(j["extra_headers"] == ["Authorization", "X-Trace"], f"extra_headers {j['extra_headers']}")
    check("a.b.c" not in json.dumps(j), "a header value is in the JSON")
    for bad in ("NoColon", "X-A: v\r\nEvil: 1", "Host: x"):
        rc, _, err = ctx.run("-H", bad, ctx.url)
        check(rc == 2 and err.count("\n") == 1 and "-H: bad header" in err,
              f"{bad!r}: exit {rc} stderr {err!r}")


def test_server_close_is_reported_with_its_code(ctx):
    def closer(c):
        with c:
            head = read_head(c)
            if head is None:
                return
            key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n")
                   if l.lower().startswith(b"sec-websocket-key:")][0]
            acc = base64.b64encode(hashlib.sha1(key + GUID).digest())
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
            c.settimeout(5)
            try:
                c.recv(100)  # the first message
                c.sendall(b"\x88\x02" + struct.pack("!H", 4000))
                c.recv(100)  # the echoed close
            except OSError:
                pass

    ls, port = serve_raw(closer)
    try:
        j, err = ctx.run_json("-c", "3", "-d", "1s", f"ws://127.0.0.1:{port}/", rc=1)
        c = j["conns"]
        check(c["opened"] == 3, f"opened {c['opened']}")
        check(c["unexpected_closes"] == 3 and c["close_codes"] == {"4000": 3},
              f"closes {c['unexpected_closes']} {c['close_codes']}")
        check(j["completed"] is False, "completed with every conn closed by the server")
        check(err.count("\n") == 1 and "closed" in err, f"stderr {err!r}")
    finally:
        ls.close()


def test_sigint_ends_early_with_a_summary(ctx):
    p = subprocess.Popen([ctx.bench, "--json", "-c", "4", "-d", "60s", ctx.url],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True, text=True)
    PROCS.append(p)
    time.sleep(1.5 * MULT)
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=10 * MULT)
    except subprocess.TimeoutExpired:
        raise Failure("did not stop within 10 s of SIGINT")
    check(p.returncode == 1, f"exit {p.returncode}")
    j = json.loads(out)
    check(j["interrupted"] is True and j["messages"]["received"] > 0, f"json {j}")
    check(j["duration_s"] < 10, f"duration {j['duration_s']}")
    check("interrupted" in err, f"stderr {err!r}")


def test_wss_with_ca_and_without(ctx):
    if shutil.which("openssl") is None:
        print("skip wss: no openssl")
        return
    key, cert = os.path.join(ctx.tmp, "key.pem"), os.path.join(ctx.tmp, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    port = free_port()
    srv = spawn(["/usr/bin/python3", "-c", PY_ECHO, str(port), cert, key])
    wait_port(port, srv, 15)
    j, _ = ctx.run_json("-c", "4", "-d", "1s", "--ca", cert, f"wss://localhost:{port}/")
    check(j["messages"]["received"] > 0, "no messages over TLS")
    check_latency(j)
    check_clean(j)
    j, _ = ctx.run_json("-c", "2", "-d", "500ms", "--insecure", f"wss://127.0.0.1:{port}/")
    check_clean(j)
    rc, out, err = ctx.run("-c", "2", "-d", "1s", f"wss://localhost:{port}/")
    check(rc == 1 and "certificate" in err and err.count("\n") == 1, f"exit {rc} {err!r}")
    # --tls-resume: reconnects offer the last session, and the server (OpenSSL, via Python's
    # ssl) resumes them; without it every handshake is a full one
    for ver in ("1.3", "1.2"):
        j, _ = ctx.run_json("--churn", "-c", "2", "-d", "1s", "--ca", cert, "--tls-resume",
                            "--tls-version", ver, f"wss://localhost:{port}/")
        hs, res = j["conns"]["tls_handshakes"], j["conns"]["tls_resumed"]
        check(hs > 4 and res >= hs - 4, f"TLS {ver} with --tls-resume: {res} of {hs} resumed")
    j, _ = ctx.run_json("--churn", "-c", "2", "-d", "500ms", "--ca", cert,
                        f"wss://localhost:{port}/")
    check(j["conns"]["tls_handshakes"] > 0 and j["conns"]["tls_resumed"] == 0,
          f"without --tls-resume: {j['conns']}")


TESTS = [
    test_closed_loop_json,
    test_human_summary,
    test_text_pipeline_histogram_csv,
    test_open_loop_rate,
    test_large_messages,
    test_idle_holds_connections,
    test_churn,
    test_src_ips,
    test_bad_url_exits_2,
    test_bad_flag_exits_2,
    test_refused_exits_1,
    test_failed_handshake_shows_status,
    test_extra_headers_reach_the_server,
    test_server_close_is_reported_with_its_code,
    test_sigint_ends_early_with_a_summary,
    test_wss_with_ca_and_without,
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="build dir's bin/ with wsgate-bench")
    ap.add_argument("-k", default="", help="run only tests whose name contains this")
    opts = ap.parse_args()
    passed = failed = 0
    ctx = None
    try:
        ctx = Ctx(opts.bin)
        print(f"echo server: {ctx.echo_kind}")
        for t in TESTS:
            if opts.k not in t.__name__:
                continue
            try:
                t(ctx)
                print(f"ok {t.__name__}")
                passed += 1
            except Exception as e:  # one failure must not stop the others
                print(f"FAIL {t.__name__}: {e}")
                if not isinstance(e, Failure):
                    traceback.print_exc()
                failed += 1
            if ctx.echo.poll() is not None:
                print(f"FAIL echo server died ({ctx.echo.returncode}): {stderr_tail(ctx.echo)}")
                failed += 1
                break
    except Failure as e:
        print(f"FAIL setup: {e}")
        failed += 1
    finally:
        if ctx is not None:
            shutil.rmtree(ctx.tmp, ignore_errors=True)
        kill_all()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or passed == 0 else 0)


if __name__ == "__main__":
    main()
