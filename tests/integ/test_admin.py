#!/usr/bin/python3
"""The minimal admin listener (SPEC "Admin API"): GET /healthz and GET /readyz, checked with
an independent client (curl), and --admin off.

Run: /usr/bin/python3 test_admin.py --bin <builddir>/bin [-k name]
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Runner, T, TestFailure, check, check_eq, free_port, run_cmd,  # noqa: E402
             tcp_connectable)

runner = Runner(__doc__)


def _setup(ctx):
    echo = ctx.echo()
    return ctx.gateway([f"/={echo.url}"])


shared = runner.share(_setup)


def curl(port, path, method="GET"):
    """(status, body) from curl; status 0 when curl could not connect."""
    rc, out, err = run_cmd(["curl", "-s", "-X", method, "-o", "-", "-w", "\n%{http_code}",
                "--max-time", str(T(5)), f"http://127.0.0.1:{port}{path}"], T(10))
    body, _, code = out.rpartition("\n")
    try:
        return int(code), body
    except ValueError:
        raise TestFailure(f"curl output {out!r} (rc {rc}, stderr {err!r})")


@runner.test(timeout=30)
def healthz_200_status_ok(ctx):
    gw = shared.get(ctx.bindir)
    code, body = curl(gw.admin_port, "/healthz")
    check_eq(code, 200, "GET /healthz status")
    try:
        doc = json.loads(body)
    except ValueError:
        raise TestFailure(f"/healthz body is not JSON: {body!r}")
    check_eq(doc, {"status": "ok"}, "/healthz body")


@runner.test(timeout=30)
def readyz_200_while_running(ctx):
    gw = shared.get(ctx.bindir)
    for _ in range(3):
        code, _ = curl(gw.admin_port, "/readyz")
        check_eq(code, 200, "GET /readyz status")


@runner.test(timeout=30)
def unknown_admin_path_404(ctx):
    gw = shared.get(ctx.bindir)
    code, _ = curl(gw.admin_port, "/no-such-endpoint")
    check_eq(code, 404, "GET /no-such-endpoint on the admin listener")


@runner.test(timeout=30)
def admin_not_on_data_listener(ctx):
    # /healthz is an admin path only: on the client listener, where "/" is routed, a plain GET
    # is "not an upgrade" (426), not a health answer.
    gw = shared.get(ctx.bindir)
    code, _ = curl(gw.port, "/healthz")
    check_eq(code, 426, "GET /healthz on the client listener (route / exists, not an upgrade)")


@runner.test(timeout=30)
def admin_off_has_no_listener(ctx):
    echo = ctx.echo()
    port = free_port()
    admin_default_busy = tcp_connectable(9090)
    p = ctx.proc([os.path.join(ctx.bindir, "wsgate"), "--listen", f"127.0.0.1:{port}", "--admin", "off",
              "--workers", "1", "--route", f"/={echo.url}"], name="wsgate")
    deadline = time.monotonic() + T(15)
    while not tcp_connectable(port):
        check(p.alive(), f"wsgate --admin off exited with {p.returncode()}: {p.stderr_tail()}")
        check(time.monotonic() < deadline, "wsgate --admin off: listener never came up")
        time.sleep(0.05)
    if not admin_default_busy:
        check(not tcp_connectable(9090), "--admin off, yet something listens on 127.0.0.1:9090")
    check(p.alive(), "wsgate exited")


if __name__ == "__main__":
    runner.main()
