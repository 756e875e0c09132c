#!/usr/bin/python3
"""The access log (--access-log): one JSON line per connection that sent a request head, with
the spec's keys, for upgrades (101 with counters, subject, close code and side), refusals
(with the route when one matched) and backend failures (502, 504); SIGUSR1
reopens the file (log rotation); "-" writes to stderr; an unwritable path is exit 2 with one
line. Real clients through wsgate on loopback.

Run: /usr/bin/python3 test_access_log.py --bin <builddir>/bin [-k name]
"""

import json
import os
import shutil
import signal
import sys
import tempfile
import time
import atexit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (OP_TEXT, RawWS, Runner, T, build_frame, check, check_eq,  # noqa: E402
                     free_port, http_exchange, run_cmd, upgrade_request)
from jwt_mint import Keys  # noqa: E402

runner = Runner(__doc__)
_tmp = tempfile.mkdtemp(prefix="wsgate-access-")
atexit.register(shutil.rmtree, _tmp, True)

KEYS = ("time", "id", "peer", "route", "backend", "status", "reason", "subject", "duration_ms",
        "msgs_up", "msgs_down", "bytes_up", "bytes_down", "close_code", "closed_by")


def read_lines(path, want, timeout=5.0):
    """The file's JSON lines once there are at least `want` (the control thread writes them
    within a loop turn of the connection's end)."""
    deadline = time.monotonic() + T(timeout)
    while True:
        lines = []
        if os.path.exists(path):
            with open(path) as f:
                lines = [json.loads(ln) for ln in f if ln.strip()]
        if len(lines) >= want or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


@runner.test(timeout=60)
def every_kind_of_ending_is_one_line(ctx):
    ks = Keys(_tmp)
    log = os.path.join(_tmp, "access.log")
    be = ctx.backend(after="echo")
    dead = free_port()
    silent = ctx.backend(mode="silent")
    gw = ctx.gateway([f"/chat={be.url}", f"/dead=ws://127.0.0.1:{dead}", f"/slow={silent.url}"],
                     args=["--access-log", log, "--jwt-secret-file", ks.secret_file(),
                           "--auth", "optional", "--connect-timeout", "1s"])
    tok = ks.mint("HS256", {"sub": "alice", "exp": int(time.time()) + 300})
    # 1. an upgrade with messages and a close from the client
    w = RawWS(gw.port, "/chat/room", extra=[f"Authorization: Bearer {tok}"])
    w.send_frame(OP_TEXT, b"hello")
    check_eq(w.recv_message(), (OP_TEXT, b"hello"), "echo")
    w.send_close(1000)
    w.expect_close(1000, reply=False)
    w.close()
    # 2. no route; 3. not an upgrade on a route; 4. a bad token; 5. a dead backend
    http_exchange(gw.port, upgrade_request(path="/nowhere"), check_closed=False)
    http_exchange(gw.port, b"GET /chat HTTP/1.1\r\nHost: x\r\n\r\n", check_closed=False)
    http_exchange(gw.port, upgrade_request(path="/chat", extra=["Authorization: Bearer x.y.z"]),
                  check_closed=False)
    http_exchange(gw.port, upgrade_request(path="/dead"), check_closed=False)
    # 6. a backend that accepts and never answers: 504 after --connect-timeout
    check_eq(http_exchange(gw.port, upgrade_request(path="/slow"), check_closed=False).status,
             504, "the silent backend")
    lines = read_lines(log, 6)
    check_eq(len(lines), 6, f"lines in the access log: {lines!r}")
    for ln in lines:
        check_eq(tuple(ln.keys()), KEYS, "keys of a line, in order")
        check(ln["peer"].startswith("127.0.0.1:"), f"peer: {ln!r}")
        check(ln["time"].endswith("Z") and "T" in ln["time"], f"time: {ln!r}")
    by = {ln["status"]: ln for ln in lines}
    up = by[101]
    check_eq((up["route"], up["backend"], up["subject"]), ("/chat", be.url, "alice"),
             "the upgrade's route, backend and subject")
    check_eq((up["msgs_up"], up["msgs_down"], up["bytes_up"], up["bytes_down"]), (1, 1, 5, 5),
             "the upgrade's counters")
    check_eq((up["close_code"], up["closed_by"], up["reason"]), (1000, "client", None),
             "the upgrade's close")
    check(up["id"] and "." in up["id"], f"a connection id: {up!r}")
    check_eq((by[404]["route"], by[404]["reason"], by[404]["id"]), (None, "no_route", None),
             "the 404")
    check_eq((by[426]["route"], by[426]["reason"]), ("/chat", "not_upgrade"),
             "the 426 names the route it matched")
    check_eq((by[401]["route"], by[401]["reason"], by[401]["subject"]),
             ("/chat", "invalid_token", None), "the 401")
    check_eq((by[502]["route"], by[502]["backend"], by[502]["reason"], by[502]["closed_by"]),
             ("/dead", f"ws://127.0.0.1:{dead}", "bad_gateway", "gateway"), "the 502")
    check_eq((by[504]["route"], by[504]["backend"], by[504]["reason"]),
             ("/slow", silent.url, "gateway_timeout"), "the 504")
    check(by[504]["duration_ms"] >= 900, f"the 504 took the connect timeout: {by[504]!r}")
    check(tok not in open(log).read(), "the token in the access log")


@runner.test(timeout=60)
def sigusr1_reopens_the_file_after_rotation(ctx):
    log = os.path.join(_tmp, "rot.log")
    echo = ctx.echo()
    gw = ctx.gateway([f"/={echo.url}"], args=["--access-log", log])
    http_exchange(gw.port, upgrade_request(path="/", version="8"), check_closed=False)
    check_eq(len(read_lines(log, 1)), 1, "the first line")
    os.rename(log, log + ".1")
    gw.signal(signal.SIGUSR1)
    deadline = time.monotonic() + T(5)
    while "access_log_reopened" not in gw.stderr():
        check(time.monotonic() < deadline, f"no reopen logged: {gw.stderr_tail(5)}")
        time.sleep(0.05)
    http_exchange(gw.port, upgrade_request(path="/", version="8"), check_closed=False)
    check_eq(len(read_lines(log, 1)), 1, "a line in the new file")
    check_eq(len(read_lines(log + ".1", 1)), 1, "the rotated file keeps its line only")
    check(gw.alive(), "SIGUSR1 must not stop the gateway")


@runner.test(timeout=60)
def dash_is_stderr_and_a_bad_path_is_exit_2(ctx):
    echo = ctx.echo()
    gw = ctx.gateway([f"/={echo.url}"], args=["--access-log", "-"])
    http_exchange(gw.port, upgrade_request(path="/", version="8"), check_closed=False)
    deadline = time.monotonic() + T(5)
    while '"status":426' not in gw.stderr():
        check(time.monotonic() < deadline, f"no access line on stderr: {gw.stderr_tail(5)}")
        time.sleep(0.05)
    line = [ln for ln in gw.stderr().split("\n") if '"status":426' in ln][0]
    check_eq(json.loads(line)["reason"], "ws_version", "the line on stderr is JSON")
    rc, out, err = run_cmd([os.path.join(ctx.bindir, "wsgate"), "--listen",
                            f"127.0.0.1:{free_port()}", "--admin", "off", "--route",
                            f"/={echo.url}", "--access-log", "/nonexistent-dir/a.log"], T(10))
    lines = [ln for ln in err.split("\n") if ln.strip()]
    check(rc == 2 and len(lines) == 1 and "--access-log" in lines[0],
          f"an unwritable access log: rc {rc} {err!r}")


if __name__ == "__main__":
    runner.main()
