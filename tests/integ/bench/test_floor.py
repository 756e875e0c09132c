#!/usr/bin/python3
"""wsgate-floor end to end (tests/integ/bench/test_floor.py).

Starts wsgate-echo and, in front of it, wsgate-floor (the byte relay of issue 11, bench/
floor_relay.c) from --bin, each on an ephemeral loopback port in its own process group, and
drives the relay with a real, independent client (Debian's python3-websockets): the upgrade
must pass as bytes and come back as a 101, and every byte of every echoed message must be the
byte sent, for text and binary from 0 B to 1 MiB, from several clients at once, one of them
pipelining. Also: a client that closes leaves no socket behind in the relay, a refused backend
ends the client's connection, wsgate-bench runs through it, --threads 2 works, a bad flag is
one line and exit 2, SIGTERM ends it with status 0 (no sanitizer report). Prints `ok NAME` /
`FAIL NAME: why`, then `N passed, M failed`. Timeouts scale with $WSG_TEST_TIMEOUT_MULT.
"""

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

MULT = float(os.environ.get("WSG_TEST_TIMEOUT_MULT", "1") or "1")
PROCS = []


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


def spawn(argv):
    log = tempfile.TemporaryFile()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                         start_new_session=True)
    p.log = log
    PROCS.append(p)
    return p


def stderr_of(p):
    p.log.seek(0)
    return p.log.read().decode(errors="replace")


def wait_port(port, proc, timeout=15):
    deadline = time.monotonic() + timeout * MULT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure(f"exited with {proc.returncode}: {stderr_of(proc)[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise Failure(f"nothing listening on {port} after {timeout}s")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def stop(p, expect_rc=0):
    """SIGTERM, then the exit status and a clean stderr."""
    os.killpg(p.pid, signal.SIGTERM)
    try:
        rc = p.wait(timeout=10 * MULT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise Failure("did not exit within 10 s of SIGTERM")
    err = stderr_of(p)
    check("Sanitizer" not in err and "runtime error" not in err, f"sanitizer report:\n{err}")
    check(rc == expect_rc, f"exit status {rc} after SIGTERM, expected {expect_rc}: {err}")


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
        self.bindir = bindir
        self.floor_bin = os.path.join(bindir, "wsgate-floor")
        self.echo_port = free_port()
        self.echo = spawn([os.path.join(bindir, "wsgate-echo"), "--listen",
                           f"127.0.0.1:{self.echo_port}", "--workers", "1"])
        wait_port(self.echo_port, self.echo)
        self.port, self.floor = self.start_floor()

    def start_floor(self, *extra, backend=None):
        port = free_port()
        p = spawn([self.floor_bin, "--listen", f"127.0.0.1:{port}", "--backend",
                   backend or f"127.0.0.1:{self.echo_port}", *extra])
        wait_port(port, p)
        return port, p

    def url(self, port=None):
        return f"ws://127.0.0.1:{port or self.port}/"


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60 * MULT))


async def echo_all(url, messages, pipeline=1):
    import websockets
    async with websockets.connect(url, max_size=None, compression=None,
                                  ping_interval=None) as ws:
        i = 0
        while i < len(messages):
            batch = messages[i:i + pipeline]
            for m in batch:
                await ws.send(m)
            for m in batch:
                got = await ws.recv()
                check(type(got) is type(m), f"message {i}: type {type(got)} for {type(m)}")
                if got != m:
                    n = min(len(got), len(m))
                    at = next((k for k in range(n) if got[k] != m[k]), n)
                    raise Failure(f"message {i} ({len(m)} B): differs at byte {at} "
                                  f"(got {len(got)} B)")
                i += 1
        return i


def payloads(rng, sizes):
    out = []
    for n in sizes:
        if rng.random() < 0.5:
            out.append(rng.randbytes(n))
        else:
            out.append("".join(rng.choice("abcdé€😀 xyz") for _ in range(n // 2)))
    return out


# ---------------------------------------------------------------------------------------------
# tests


def test_every_byte_of_every_size(ctx):
    rng = random.Random(11)
    sizes = [0, 1, 125, 126, 127, 65535, 65536, 65537, 16383, 16384, 16385, 100000, 1 << 20]
    sizes += [rng.randrange(0, 300000) for _ in range(20)]
    n = run(echo_all(ctx.url(), payloads(rng, sizes)))
    check(n == len(sizes), f"{n} of {len(sizes)} echoed")


def test_concurrent_clients_pipelined(ctx):
    async def many():
        rng = random.Random(3)
        jobs = []
        for c in range(8):
            sizes = [rng.randrange(0, 70000) for _ in range(40)]
            jobs.append(echo_all(ctx.url(), payloads(rng, sizes), pipeline=1 + c % 4 * 5))
        return await asyncio.gather(*jobs)
    counts = run(many())
    check(counts == [40] * 8, f"echoed per client {counts}")


def test_closed_clients_leave_no_sockets(ctx):
    base = fd_count(ctx.floor.pid)
    async def open_close():
        import websockets
        conns = [await websockets.connect(ctx.url(), ping_interval=None) for _ in range(20)]
        mid = fd_count(ctx.floor.pid)
        for ws in conns:
            await ws.send(b"x" * 10)
            check(await ws.recv() == b"x" * 10, "echo")
        for ws in conns:
            await ws.close()
        return mid
    mid = run(open_close())
    check(mid >= base + 40, f"fds {base} -> {mid} with 20 clients (expected 2 per client)")
    deadline = time.monotonic() + 5 * MULT
    while fd_count(ctx.floor.pid) > base and time.monotonic() < deadline:
        time.sleep(0.05)
    check(fd_count(ctx.floor.pid) == base, f"fds {base} -> {fd_count(ctx.floor.pid)} after close")


def test_refused_backend_ends_the_client(ctx):
    dead = free_port()  # nothing listens there
    port, p = ctx.start_floor(backend=f"127.0.0.1:{dead}")
    s = socket.create_connection(("127.0.0.1", port), timeout=5 * MULT)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        data = s.recv(100)
    except ConnectionResetError:
        data = b""
    s.close()
    check(data == b"", f"got {data!r} from a relay without a backend")
    stop(p)


def test_bench_through_it_with_two_threads(ctx):
    port, p = ctx.start_floor("--threads", "2")
    out = subprocess.run([os.path.join(ctx.bindir, "wsgate-bench"), "--json", "-c", "20", "-p",
                          "4", "-s", "3000", "-d", "1s", ctx.url(port)], capture_output=True,
                         text=True, timeout=30 * MULT)
    check(out.returncode == 0, f"wsgate-bench exit {out.returncode}: {out.stderr}")
    j = json.loads(out.stdout)
    check(j["messages"]["received"] > 0, f"no messages: {j['messages']}")
    check(j["messages"]["bad_echoes"] == 0, f"bad echoes {j['messages']['bad_echoes']}")
    check(j["conns"]["failed"] == 0 and j["conns"]["unexpected_closes"] == 0, f"{j['conns']}")
    stop(p)


def test_bad_flags_exit_2(ctx):
    for argv in (["--bogus"], ["--listen", "127.0.0.1"], ["--listen", "127.0.0.1:1"],
                 ["--listen", "127.0.0.1:1", "--backend", "127.0.0.1:2", "--threads", "0"]):
        r = subprocess.run([ctx.floor_bin, *argv], capture_output=True, text=True,
                           timeout=10 * MULT)
        check(r.returncode == 2, f"{argv}: exit {r.returncode}")
        lines = r.stderr.strip().splitlines()
        check(len(lines) == 1 and lines[0].startswith("wsgate-floor: "),
              f"{argv}: stderr {r.stderr!r}")


def test_sigterm_with_clients_connected(ctx):
    port, p = ctx.start_floor()
    async def hold():
        import websockets
        conns = [await websockets.connect(ctx.url(port), ping_interval=None) for _ in range(5)]
        await conns[0].send(b"y")
        check(await conns[0].recv() == b"y", "echo")
        stop(p)
        for ws in conns:
            try:
                await asyncio.wait_for(ws.recv(), 5 * MULT)
                raise Failure("a message after the relay stopped")
            except websockets.ConnectionClosed:
                pass
    run(hold())


TESTS = [
    test_every_byte_of_every_size,
    test_concurrent_clients_pipelined,
    test_closed_clients_leave_no_sockets,
    test_refused_backend_ends_the_client,
    test_bench_through_it_with_two_threads,
    test_bad_flags_exit_2,
    test_sigterm_with_clients_connected,
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="build dir's bin/ with wsgate-floor")
    ap.add_argument("-k", default="", help="run only tests whose name contains this")
    opts = ap.parse_args()
    passed = failed = 0
    ctx = None
    try:
        ctx = Ctx(opts.bin)
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
            for name, p in (("wsgate-echo", ctx.echo), ("wsgate-floor", ctx.floor)):
                if p.poll() is not None:
                    print(f"FAIL {name} died ({p.returncode}): {stderr_of(p)[-2000:]}")
                    failed += 1
            if ctx.echo.poll() is not None or ctx.floor.poll() is not None:
                break
        if ctx.floor.poll() is None:
            try:
                stop(ctx.floor)
                print("ok test_sigterm_exits_0")
                passed += 1
            except Failure as e:
                print(f"FAIL test_sigterm_exits_0: {e}")
                failed += 1
    except Failure as e:
        print(f"FAIL setup: {e}")
        failed += 1
    finally:
        kill_all()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or passed == 0 else 0)


if __name__ == "__main__":
    main()
