#!/usr/bin/python3
"""No proxy may deliver bytes other than the ones it was given (issue 7's corruption): large
text and binary messages, whole and fragmented, both ways at once through wsgate, with slow
readers on both ends so that every send queue fills (backpressure, growth of the queues while
sends are in flight), and every byte checked where it arrives.

The backend is a websockets server in this process that checks each client message against
the pattern its first 8 bytes name, and pushes patterned messages of its own, which the client
checks the same way. The client also checks wsgate-echo's echoes byte for byte. Run under
ASan by make test.

Run: /usr/bin/python3 test_relay_integrity.py --bin <builddir>/bin [-k name]
"""

import asyncio
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, T, TestFailure, check, check_eq, run_async, ws_connect  # noqa: E402

runner = Runner(__doc__)

# Multi-byte UTF-8 on purpose: code points get split across frames, receives and sends.
TEXT_UNIT = "aé€𝄞bç£😀"


def pattern(seed, n, text):
    """n bytes (binary) or about n bytes of text, fully determined by seed (its first 8 bytes
    carry the seed so the receiver can regenerate it)."""
    rnd = random.Random(seed)
    head = struct.pack("!Q", seed)
    if not text:
        return head + rnd.randbytes(max(0, n - 8))
    k = rnd.randrange(len(TEXT_UNIT))
    unit = TEXT_UNIT[k:] + TEXT_UNIT[:k]
    chars = max(0, n // 2)
    return head.hex() + (unit * (chars // len(unit) + 1))[:chars]


def verify(msg):
    """Raises unless msg is exactly the pattern its head names. Returns its size."""
    if isinstance(msg, str):
        seed = int(msg[:16], 16)
        want = pattern(seed, 2 * (len(msg) - 16), True)
        if msg != want:
            i = next((i for i, (a, b) in enumerate(zip(msg, want)) if a != b), min(len(msg), len(want)))
            raise TestFailure(f"text message {seed:#x} corrupted at char {i} of {len(msg)} "
                              f"(want {len(want)})")
        return len(msg)
    seed = struct.unpack("!Q", msg[:8])[0]
    want = pattern(seed, len(msg), False)
    if msg != want:
        i = next((i for i, (a, b) in enumerate(zip(msg, want)) if a != b), min(len(msg), len(want)))
        raise TestFailure(f"binary message {seed:#x} corrupted at byte {i} of {len(msg)}")
    return len(msg)


def fragments(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)]


# 16 MiB messages are what showed the corruption (3-7% of runs each, before the fix);
# smaller ones keep the mix of queue growth and fragment boundaries.
SIZES = [(16 << 20, True), (4 << 20, False), (16 << 20, False), (1 << 20, True)]


async def slow_reader(ws, expect, checked, delay):
    for i in range(expect):
        msg = await ws.recv()
        checked.append(verify(msg))
        if i < 3:
            await asyncio.sleep(delay)  # let the gateway's queue toward us fill up


async def sender(ws, seeds, frag):
    for seed, (n, text) in seeds:
        data = pattern(seed, n, text)
        if frag:
            await ws.send(fragments(data, 100003 if not text else 50001))
        else:
            await ws.send(data)


@runner.test(timeout=240)
def messages_both_ways_checked_byte_for_byte(ctx):
    import websockets

    per_conn = 4
    conns = 2
    results = {"backend_checked": [], "errors": []}

    async def backend(ws, path=None):
        try:
            seeds = [(random.getrandbits(63), SIZES[i % len(SIZES)]) for i in range(per_conn)]
            await asyncio.gather(slow_reader(ws, per_conn, results["backend_checked"], 0.3),
                                 sender(ws, seeds, frag=True))
            await ws.wait_closed()
        except Exception as e:  # reported by the test below
            results["errors"].append(repr(e))

    async def client(port, idx):
        async with ws_connect(port, "/", max_queue=1, close_timeout=T(20)) as ws:
            seeds = [(random.getrandbits(63), SIZES[(i + idx) % len(SIZES)]) for i in range(per_conn)]
            got = []
            await asyncio.gather(sender(ws, seeds, frag=idx % 2 == 1),
                                 slow_reader(ws, per_conn, got, 0.3))
            return got

    async def main():
        srv = await websockets.serve(backend, "127.0.0.1", 0, max_size=None, max_queue=1,
                                     ping_interval=None, read_limit=1 << 16, write_limit=1 << 16)
        port = srv.sockets[0].getsockname()[1]
        gw = ctx.gateway([f"/=ws://127.0.0.1:{port}"], args=["--max-message", "32m"], workers=1)
        try:
            got = await asyncio.gather(*[client(gw.port, i) for i in range(conns)])
        finally:
            srv.close()
            await srv.wait_closed()
        return got

    got = run_async(main(), T(200))
    check_eq(results["errors"], [], "backend errors")
    check_eq(len(results["backend_checked"]), per_conn * conns, "messages the backend checked")
    check_eq(sum(len(g) for g in got), per_conn * conns, "messages the clients checked")


@runner.test(timeout=240)
def echo_roundtrip_checked_under_backpressure(ctx):
    echo = ctx.echo()
    gw = ctx.gateway([f"/={echo.url}"], args=["--max-message", "32m"], workers=1)

    async def one(idx):
        async with ws_connect(gw.port, "/", max_queue=1, close_timeout=T(20)) as ws:
            n = 0
            for i in range(4):
                size, text = SIZES[(i + idx) % len(SIZES)]
                data = pattern(random.getrandbits(63), size, text)
                if i % 2:
                    await ws.send(fragments(data, 65537 if not text else 30011))
                else:
                    await ws.send(data)
                if i % 3 == 0:
                    await asyncio.sleep(0.2)  # the echo piles up in the gateway meanwhile
                back = await ws.recv()
                check(back == data, f"echo {i} differs ({len(back)} vs {len(data)})")
                verify(back)
                n += 1
            return n

    async def main():
        return await asyncio.gather(*[one(i) for i in range(3)])

    counts = run_async(main(), T(200))
    check_eq(sum(counts), 12, "echoes checked")


if __name__ == "__main__":
    runner.main()
