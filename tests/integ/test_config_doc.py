#!/usr/bin/python3
"""docs/CONFIGURATION.md's example config runs on this build: the fenced ```json block right
after the <!-- example-config --> marker is extracted and given to `wsgate --check-config
--config`, which must exit 0 and print the effective config (resolved backend addresses
included), and that output must itself read back as a config that prints the same.

Run: /usr/bin/python3 test_config_doc.py --bin <builddir>/bin [-k name]
"""

import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, T, TestFailure, check, check_eq, run_cmd  # noqa: E402

runner = Runner(__doc__)

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                   "CONFIGURATION.md")
MARKER = "<!-- example-config -->"


def example_text():
    """The JSON block after the marker: the marker line, then (blank lines allowed) ```json."""
    with open(DOC, encoding="utf-8") as f:
        text = f.read()
    check(text.count(MARKER) == 1, f"{DOC}: expected exactly one {MARKER} marker")
    m = re.search(re.escape(MARKER) + r"\s*\n```json\n(.*?)\n```", text, re.S)
    if m is None:
        raise TestFailure(f"{DOC}: no ```json block right after {MARKER}")
    return m.group(1)


def check_config(ctx, text):
    """(rc, stdout, stderr) of wsgate --check-config --config FILE holding text."""
    fd, path = tempfile.mkstemp(prefix="wsg_config_doc_", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return run_cmd([os.path.join(ctx.bindir, "wsgate"), "--check-config", "--config", path],
                       T(10))
    finally:
        os.unlink(path)


@runner.test(timeout=30)
def example_is_valid_json_with_local_backends(ctx):
    text = example_text()
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise TestFailure(f"the example is not JSON ({e}):\n{text}")
    check(isinstance(doc.get("routes"), list) and doc["routes"], "the example has no routes")
    for r in doc["routes"]:
        spec = r if isinstance(r, str) else ",".join(r["backends"])
        for host in re.findall(r"wss?://([^:/,;]+)", spec):
            check_eq(host, "127.0.0.1", f"backend host in {spec!r} (must resolve anywhere)")


@runner.test(timeout=30)
def example_passes_check_config(ctx):
    text = example_text()
    rc, out, err = check_config(ctx, text)
    check_eq(rc, 0, f"--check-config exit status on the example (stderr {err.strip()!r})")
    check_eq(err, "", "--check-config stderr")
    try:
        cfg = json.loads(out)
    except ValueError as e:
        raise TestFailure(f"--check-config stdout is not JSON ({e}): {out[:500]!r}")
    doc = json.loads(text)
    check_eq(len(cfg["routes"]), len(doc["routes"]), "routes printed")
    for r in cfg["routes"]:
        check(isinstance(r.get("resolved"), list), f"route {r.get('path')!r} has no resolved list")
        check_eq(len(r["resolved"]), len(r["backends"]), f"resolved entries of {r['path']!r}")
        for url, addr in zip(r["backends"], r["resolved"]):
            port = re.search(r":(\d+)(/|$)", url).group(1)
            check_eq(addr, f"127.0.0.1:{port}", f"resolved address of {url}")
    check_eq(cfg["admin-reuse-port"], doc.get("admin-reuse-port", False), "admin-reuse-port")


@runner.test(timeout=30)
def check_config_output_reads_back_the_same(ctx):
    rc, out, err = check_config(ctx, example_text())
    check_eq(rc, 0, f"--check-config exit status (stderr {err.strip()!r})")
    rc2, out2, err2 = check_config(ctx, out)
    check_eq(rc2, 0, f"--check-config on its own output (stderr {err2.strip()!r})")
    check_eq(out2, out, "printing the re-read output")


if __name__ == "__main__":
    runner.main()
