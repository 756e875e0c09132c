"""Shared helpers for wsgate's integration tests (tests/integ/test_*.py).

Standard library only (plus Debian's python3-websockets in the files that use it). Pieces:

- processes: `Proc` starts a program in its own process group with stderr (and stdout) captured
  to temp files; every process is killed (whole group) at the end of its test and again at exit.
- `Gateway` / `Echo`: the real wsgate and wsgate-echo on free loopback ports, started and waited
  for (admin GET /readyz, or a TCP connect for the echo) with a bounded deadline.
- `RawWS` and `http_exchange`: a tiny raw WebSocket / HTTP client over sockets, for the cases
  a real client library refuses to produce (unmasked frames, reserved opcodes, bad heads...).
- `Backend`: a scripted WebSocket backend (threads + sockets) whose behaviour per test is set by
  its constructor: never answer, answer a status, answer 101 with a wrong accept or a chosen
  subprotocol, echo, drop/RST on a trigger message, flood.
- `Runner`: each test is a function; prints `ok name` / `FAIL name: reason`, then
  `N passed, M failed`, and exits non-zero on any failure.

Every wait is bounded; timeouts are multiplied by $WSG_TEST_TIMEOUT_MULT (default 1).
WSG_TEST_READY=tcp (debugging aid) waits for the gateway's client listener instead of /readyz.
"""

import argparse
import atexit
import base64
import hashlib
import os
import re
import resource
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

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def T(seconds):
    """A timeout scaled by WSG_TEST_TIMEOUT_MULT."""
    return seconds * MULT


class TestFailure(AssertionError):
    pass


class TestTimeout(Exception):
    pass


def note(msg):
    """A measurement worth seeing in the log (printed under the test's result line)."""
    _NOTES.append(msg)


_NOTES = []


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def check_eq(actual, expected, what):
    if actual != expected:
        raise TestFailure(f"{what}: expected {expected!r}, got {actual!r}")


# ---------------------------------------------------------------------------------------------
# ports and limits


def free_port():
    """A loopback TCP port that nothing listens on right now (bind 127.0.0.1:0, then release)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def raise_nofile():
    """Raise RLIMIT_NOFILE's soft limit to the hard limit (children inherit it). Returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def tcp_connectable(port, host="127.0.0.1", timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# processes

_ALL_PROCS = []
_ALL_PROCS_LOCK = threading.Lock()


def _kill_all_at_exit():
    with _ALL_PROCS_LOCK:
        procs = list(_ALL_PROCS)
    for p in procs:
        p.kill()


atexit.register(_kill_all_at_exit)

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
             "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")


class Proc:
    """A child process in its own process group, stdout/stderr captured to temp files."""

    def __init__(self, argv, name=None, env=None):
        self.argv = [str(a) for a in argv]
        self.name = name or os.path.basename(self.argv[0])
        self.err_file = tempfile.TemporaryFile(prefix="wsg-integ-err-")
        self.out_file = tempfile.TemporaryFile(prefix="wsg-integ-out-")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.out_file,
                          stderr=self.err_file, start_new_session=True, env=full_env)
        self.pid = self.popen.pid
        with _ALL_PROCS_LOCK:
            _ALL_PROCS.append(self)

    def alive(self):
        return self.popen.poll() is None

    def returncode(self):
        return self.popen.poll()

    def wait(self, timeout):
        """Wait up to `timeout` seconds; returns the exit status or None if still running."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def kill(self):
        """SIGKILL the whole process group (it was started with start_new_session)."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        with _ALL_PROCS_LOCK:
            if self in _ALL_PROCS:
                _ALL_PROCS.remove(self)

    def _read(self, f):
        f.flush()
        f.seek(0)
        return f.read().decode("utf-8", "replace")

    def stderr(self):
        return self._read(self.err_file)

    def stdout(self):
        return self._read(self.out_file)

    def stderr_tail(self, lines=40):
        text = self.stderr().rstrip("\n").split("\n")
        return "\n".join(text[-lines:])

    def sanitizer_report(self):
        err = self.stderr()
        for m in SANITIZER_MARKERS:
            i = err.find(m)
            if i >= 0:
                return err[max(0, i - 200):i + 3000]
        return None

    def vm_rss_kib(self):
        """VmRSS from /proc/<pid>/status in KiB, or None when the process is gone."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None


def run_cmd(argv, timeout):
    """Run a short-lived command (own session, bounded time). Returns (rc, stdout, stderr)."""
    p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise TestFailure(f"{' '.join(map(str, argv))}: still running after {timeout:.1f}s")
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def http_get(port, path, timeout=None, host="127.0.0.1"):
    """Plain HTTP/1.1 GET with Connection: close. Returns (status, headers, body bytes)."""
    timeout = T(3) if timeout is None else timeout
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        r = SockReader(s)
        resp = read_http_response(r, time.monotonic() + timeout)
        return resp.status, resp.headers, resp.body


class GatewayPortTaken(TestFailure):
    """wsgate could not bind a port picked as free: someone took it in between; retried."""


class Gateway(Proc):
    """wsgate on free loopback ports. `routes` are --route values; `{name}` placeholders are
    not used: build route strings with the ports of the backends you started."""

    def __init__(self, bindir, routes, args=(), workers=2, ready_timeout=None, env=None):
        self.port = free_port()
        self.admin_port = free_port()
        argv = [os.path.join(bindir, "wsgate"), "--listen", f"127.0.0.1:{self.port}",
            "--admin", f"127.0.0.1:{self.admin_port}", "--workers", str(workers)]
        for r in routes:
            argv += ["--route", r]
        argv += list(args)
        super().__init__(argv, name="wsgate", env=env)
        try:
            self.wait_ready(T(10) if ready_timeout is None else ready_timeout)
        except BaseException:
            self.kill()  # not handed to any Ctx yet: nobody else would stop it
            raise

    def readyz(self, timeout=None):
        """Status of GET /readyz, or None if the admin listener does not answer."""
        try:
            status, _, _ = http_get(self.admin_port, "/readyz", timeout=timeout or T(2))
            return status
        except (OSError, TestFailure, EOFError, TestTimeout):
            return None

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                msg = (f"wsgate exited with status {self.returncode()} before it was ready:\n"
                       f"{self.stderr_tail()}")
                if self.returncode() == 1 and "in use" in self.stderr().lower():
                    raise GatewayPortTaken(msg)
                raise TestFailure(msg)
            if os.environ.get("WSG_TEST_READY") == "tcp":
                # debugging aid only: wait for the client listener instead of /readyz
                last = "not asked (WSG_TEST_READY=tcp)"
                if tcp_connectable(self.port):
                    return
            else:
                last = self.readyz(timeout=1)
                if last == 200:
                    return
            if time.monotonic() > deadline:
                raise TestFailure(f"wsgate not ready after {timeout:.1f}s (last GET /readyz: "
                                  f"{'no answer' if last is None else last}):\n"
                          f"{self.stderr_tail()}")
            time.sleep(0.05)


class Echo(Proc):
    """wsgate-echo on a free loopback port, waited for by TCP connect."""

    def __init__(self, bindir, workers=1, ready_timeout=None):
        self.port = free_port()
        super().__init__([os.path.join(bindir, "wsgate-echo"), "--listen", f"127.0.0.1:{self.port}",
                  "--workers", str(workers)], name="wsgate-echo")
        try:
            timeout = T(10) if ready_timeout is None else ready_timeout
            deadline = time.monotonic() + timeout
            while not tcp_connectable(self.port):
                if not self.alive():
                    raise TestFailure(f"wsgate-echo exited with status {self.returncode()}:\n"
                              f"{self.stderr_tail()}")
                if time.monotonic() > deadline:
                    raise TestFailure(f"wsgate-echo not accepting after {timeout:.1f}s:\n"
                              f"{self.stderr_tail()}")
                time.sleep(0.05)
        except BaseException:
            self.kill()
            raise

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}"


# ---------------------------------------------------------------------------------------------
# raw bytes: frames, HTTP heads, a buffered socket reader


def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def ws_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def xor_mask(data, key):
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def build_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, mask_key=None, length=None):
    """One frame. `length` overrides the declared payload length (to send a header alone)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        return head + key + xor_mask(payload, key)
    return head + payload


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class PeerClosed(Exception):
    """The peer closed the TCP connection (EOF or reset) while we waited for bytes."""

    def __init__(self, reset, partial=b""):
        super().__init__("connection reset by peer" if reset else "EOF from peer")
        self.reset = reset
        self.partial = partial


class SockReader:
    """Buffered reads with absolute deadlines. Raises TestTimeout or PeerClosed."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TestTimeout("timed out waiting for data")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(262144)
        except socket.timeout:
            raise TestTimeout("timed out waiting for data")
        except ConnectionResetError:
            raise PeerClosed(True, bytes(self.buf))
        if not data:
            raise PeerClosed(False, bytes(self.buf))
        self.buf += data

    def read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_until(self, delim, deadline, limit=1 << 20):
        while True:
            i = self.buf.find(delim)
            if i >= 0:
                out = bytes(self.buf[:i + len(delim)])
                del self.buf[:i + len(delim)]
                return out
            if len(self.buf) > limit:
                raise TestFailure(f"no {delim!r} within {limit} bytes")
            self._fill(deadline)

    def read_to_eof(self, deadline, limit=1 << 26):
        """Everything until EOF/reset (returns (bytes, reset))."""
        while True:
            if len(self.buf) > limit:
                raise TestFailure(f"more than {limit} bytes without EOF")
            try:
                self._fill(deadline)
            except PeerClosed as e:
                out = bytes(self.buf)
                self.buf.clear()
                return out, e.reset


class Frame:
    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode, self.masked, self.payload = fin, rsv, opcode, masked, payload

    @property
    def close_code(self):
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self):
        return self.payload[2:]

    def __repr__(self):
        p = self.payload if len(self.payload) <= 40 else self.payload[:40] + b"..."
        return f"Frame(fin={self.fin}, rsv={self.rsv}, op={self.opcode:#x}, masked={self.masked}, " \
               f"len={len(self.payload)}, payload={p!r})"


def read_frame(reader, deadline, max_len=1 << 28):
    b0, b1 = reader.read_exact(2, deadline)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", reader.read_exact(2, deadline))[0]
    elif n == 127:
        n = struct.unpack("!Q", reader.read_exact(8, deadline))[0]
    if n > max_len:
        raise TestFailure(f"frame length {n} over {max_len}")
    masked = bool(b1 & 0x80)
    key = reader.read_exact(4, deadline) if masked else None
    payload = reader.read_exact(n, deadline) if n else b""
    if masked:
        payload = xor_mask(payload, key)
    return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, masked, payload)


class Response:
    def __init__(self, version, status, reason, headers, head, body):
        self.version, self.status, self.reason = version, status, reason
        self.headers = headers  # list of (lower-case name, value)
        self.head, self.body = head, body

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def __repr__(self):
        return f"Response({self.status} {self.reason!r}, headers={self.headers!r}, body={self.body[:200]!r})"


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
    if not m:
        raise TestFailure(f"bad status line {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        if not line:
            continue
        k, sep, v = line.partition(":")
        if not sep:
            raise TestFailure(f"bad header line {line!r}")
        headers.append((k.strip().lower(), v.strip()))
    return m.group(1), int(m.group(2)), m.group(3) or "", headers


def read_http_response(reader, deadline, body_for_101=False):
    """Status line + headers, and the body (Content-Length, or until EOF when the answer is not
    101 and has no Content-Length). A reset after the head is tolerated (body is what came)."""
    head = reader.read_until(b"\r\n\r\n", deadline, limit=65536)
    version, status, reason, headers = parse_head(head[:-4])
    resp = Response(version, status, reason, headers, head, b"")
    if status == 101 and not body_for_101:
        return resp
    cl = resp.header("content-length")
    try:
        if cl is not None:
            resp.body = reader.read_exact(int(cl), deadline)
        elif (resp.header("transfer-encoding") or "").lower() == "chunked":
            body = b""
            while True:
                size = int(reader.read_until(b"\r\n", deadline).strip().split(b";")[0], 16)
                if size == 0:
                    reader.read_until(b"\r\n", deadline)
                    break
                body += reader.read_exact(size, deadline)
                reader.read_exact(2, deadline)
            resp.body = body
        else:
            resp.body, _ = reader.read_to_eof(deadline)
            resp.eof_seen = True
    except PeerClosed as e:
        resp.body = e.partial
        resp.eof_seen = True
    return resp


def expect_eof(reader, timeout, what="connection"):
    """The peer must close (EOF or reset) within timeout, sending nothing more."""
    deadline = time.monotonic() + timeout
    try:
        extra, _ = reader.read_to_eof(deadline, limit=1 << 16)
    except TestTimeout:
        raise TestFailure(f"{what}: not closed by the gateway within {timeout:.1f}s")
    check(extra == b"", f"{what}: unexpected bytes before EOF: {extra[:100]!r}")


def upgrade_request(path="/", host="127.0.0.1", key=None, version="13", extra=(), protocols=None,
            method="GET", http="HTTP/1.1"):
    """A client upgrade request head (bytes). `extra` = list of raw 'Name: value' lines."""
    key = ws_key() if key is None else key
    lines = [f"{method} {path} {http}", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade"]
    if key is not False:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if version is not None:
        lines.append(f"Sec-WebSocket-Version: {version}")
    if protocols:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
    lines += list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def http_exchange(port, raw, timeout=None, check_closed=True):
    """Send raw request bytes; read the answer. For a non-101 answer, also checks that the
    gateway closes the socket after it (`resp.closed_after`). Returns the Response."""
    timeout = T(5) if timeout is None else timeout
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(raw)
        r = SockReader(s)
        resp = read_http_response(r, time.monotonic() + timeout)
        resp.closed_after = None
        resp.after_bytes = b""  # anything the gateway sent after the answer
        if resp.status != 101 and check_closed:
            if getattr(resp, "eof_seen", False):
                resp.closed_after = True
            else:
                try:
                    extra, _ = r.read_to_eof(time.monotonic() + T(3), limit=1 << 16)
                    resp.after_bytes = extra
                    resp.closed_after = extra == b""
                except TestTimeout:
                    resp.closed_after = False
                    resp.after_bytes = bytes(r.buf)
        return resp
    finally:
        s.close()


class RawWS:
    """A raw WebSocket client: handshake, then frames of any shape, byte-exact."""

    def __init__(self, port, path="/", protocols=None, extra=(), timeout=None, host="127.0.0.1"):
        self.timeout = T(5) if timeout is None else timeout
        self.sock = socket.create_connection((host, port), timeout=self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = SockReader(self.sock)
        key = ws_key()
        self.sock.sendall(upgrade_request(path=path, host=f"{host}:{port}", key=key,
                          protocols=protocols, extra=extra))
        self.response = read_http_response(self.reader, time.monotonic() + self.timeout)
        if self.response.status != 101:
            self.sock.close()
            raise TestFailure(f"upgrade refused: {self.response!r}")
        got = self.response.header("sec-websocket-accept")
        if got != ws_accept(key):
            self.sock.close()
            raise TestFailure(f"bad Sec-WebSocket-Accept {got!r}")

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.sock.sendall(build_frame(opcode, payload, **kw))

    def send_close(self, code=None, reason=b"", payload=None):
        self.send_frame(OP_CLOSE, close_payload(code, reason) if payload is None else payload)

    def recv_frame(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        return read_frame(self.reader, deadline)

    def recv_message(self, timeout=None, answer_pings=True):
        """Next whole data message: (opcode, payload). Control frames in between: pings are
        answered (if asked) and recorded in self.controls; a close raises TestFailure."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        self.controls = getattr(self, "controls", [])
        opcode, parts = None, []
        while True:
            f = read_frame(self.reader, deadline)
            if f.opcode >= 8:
                self.controls.append(f)
                if f.opcode == OP_CLOSE:
                    raise TestFailure(f"close frame {f.close_code} {f.close_reason!r} while "
                              f"waiting for a message")
                if f.opcode == OP_PING and answer_pings:
                    self.send_frame(OP_PONG, f.payload)
                continue
            if opcode is None:
                check(f.opcode in (OP_TEXT, OP_BINARY), f"message starts with {f!r}")
                opcode = f.opcode
            else:
                check(f.opcode == OP_CONT, f"expected a continuation, got {f!r}")
            parts.append(f.payload)
            if f.fin:
                return opcode, b"".join(parts)

    def expect_close(self, code, timeout=None, reply=True, skip_data=True, what=None):
        """Next close frame from the gateway must carry `code` (None: any / empty). Data frames
        (echoes of earlier valid input) and pings before it are skipped. Then we answer the
        close (if `reply`) and the gateway must close TCP. Returns the close frame."""
        what = what or f"expecting close {code}"
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        seen = []
        while True:
            try:
                f = read_frame(self.reader, deadline)
            except TestTimeout:
                raise TestFailure(f"{what}: no close frame within the timeout (frames seen: {seen!r})")
            except PeerClosed as e:
                raise TestFailure(f"{what}: gateway closed TCP ({e}) without a close frame "
                          f"(frames seen: {seen!r})")
            if f.opcode == OP_CLOSE:
                break
            if not skip_data and f.opcode < 8:
                raise TestFailure(f"{what}: got {f!r} before the close")
            seen.append(f)
            if len(seen) > 10000:
                raise TestFailure(f"{what}: too many frames before the close")
        check(not f.masked, f"{what}: gateway sent a masked close frame")
        if code is not None:
            check_eq(f.close_code, code, f"{what}: close code (reason {f.close_reason!r})")
        if reply:
            try:
                self.send_close(f.close_code) if f.close_code is not None else self.send_close()
            except OSError:
                pass
        expect_eof(self.reader, T(5), what=f"{what}: after the close frame")
        return f

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# scripted backend


class Backend:
    """A scripted WebSocket backend on a free loopback port (threads + blocking sockets).

    mode:
      'silent'  accept TCP, read, never answer.
      'status'  answer the upgrade with `status` (non-101) and close.
      'ws'      answer 101 (`wrong_accept` to corrupt Sec-WebSocket-Accept; `subprotocol` = name
                to choose, or a callable(offer list) -> name/None), then `after`:
                  'echo'  echo every frame as it comes (same opcode and FIN), answer pings with
                          pongs, answer a close with the same code and reason, then close.
                          Text messages 'die' / 'rst' / 'bye' trigger: close the socket without a
                          close frame (FIN) / close with SO_LINGER 0 (RST) / send 'bye' then FIN;
                          'badutf8' makes it send a text frame that is not valid UTF-8.
                  'flood' send `flood_size`-byte binary frames as fast as the socket takes them.
                  'stream' send `stream_count` text messages of `stream_size` bytes, each in
                          `stream_frag`-byte fragments (message i is b"m%05d:" % i then "x"s),
                          `stream_pause` seconds after each fragment (so that the stream is
                          still going while a test acts on it), then record
                          ("stream_done",); frames from the
                          gateway are read as in 'hold'.
                  'hold'  read and record frames, never send anything.
    Records: accepts (TCP connections), requests (parsed request heads), events (tuples).
    """

    def __init__(self, mode="ws", after="echo", status=403, subprotocol=None, wrong_accept=False,
             flood_size=65536, extra_headers=(), stream_count=100, stream_size=48 * 1024,
             stream_frag=4096, stream_pause=0.0):
        self.mode, self.after, self.status = mode, after, status
        self.stream_count, self.stream_size, self.stream_frag = stream_count, stream_size, stream_frag
        self.stream_pause = stream_pause
        self.subprotocol, self.wrong_accept = subprotocol, wrong_accept
        self.flood_size, self.extra_headers = flood_size, list(extra_headers)
        self.lock = threading.Lock()
        self.accepts = 0
        self.requests = []
        self.events = []
        self.flood_bytes = 0
        self.conns = []
        self.ws_conns = []  # sockets that completed the upgrade, in order
        self.closing = set()  # sockets on which this backend sent the first close
        self.stopped = False
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1024)
        self.port = self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}"

    @property
    def upgrades(self):
        with self.lock:
            return len(self.requests)

    def event(self, *ev):
        with self.lock:
            self.events.append((time.monotonic(),) + ev)

    def events_of(self, kind):
        with self.lock:
            return [e for e in self.events if e[1] == kind]

    def wait_event(self, kind, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            evs = self.events_of(kind)
            if evs:
                return evs[0]
            time.sleep(0.02)
        return None

    def stop(self):
        self.stopped = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass

    def send_on(self, index, data, closing=False):
        """Send raw bytes on the index-th upgraded connection (e.g. a ping or a close this
        backend starts). `closing` marks that this backend sent the first close."""
        with self.lock:
            c = self.ws_conns[index]
            if closing:
                self.closing.add(c)
        c.sendall(data)

    def _accept_loop(self):
        while not self.stopped:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.accepts += 1
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self._serve2(c)
        except (OSError, PeerClosed, TestTimeout) as e:
            self.event("conn_error", repr(e))
        except Exception:  # recorded, shown by tests that look at events
            self.event("exception", traceback.format_exc())
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _serve2(self, c):
        r = SockReader(c)
        far = time.monotonic() + 3600
        head = r.read_until(b"\r\n\r\n", far, limit=65536)
        lines = head.decode("latin-1").split("\r\n")
        req = {"line": lines[0], "headers": []}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                req["headers"].append((k.strip().lower(), v.strip()))
        hdr = {}
        for k, v in req["headers"]:
            hdr.setdefault(k, v)
        req["hdr"] = hdr
        if self.mode == "silent":
            with self.lock:
                self.requests.append(req)
            while not self.stopped:
                try:
                    r._fill(time.monotonic() + 3600)
                except PeerClosed:
                    self.event("eof")
                    return
        if self.mode == "status":
            with self.lock:
                self.requests.append(req)
            body = b"forbidden by backend\n"
            c.sendall(f"HTTP/1.1 {self.status} Whatever\r\nContent-Type: text/plain\r\n"
                  f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            c.shutdown(socket.SHUT_WR)
            return
        key = hdr.get("sec-websocket-key", "")
        accept = ws_accept(key)
        if self.wrong_accept:
            accept = ws_accept(key + "x")
        offer = [p.strip() for p in ",".join(v for k, v in req["headers"]
                              if k == "sec-websocket-protocol").split(",") if p.strip()]
        chosen = self.subprotocol(offer) if callable(self.subprotocol) else self.subprotocol
        lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept}"]
        if chosen:
            lines.append(f"Sec-WebSocket-Protocol: {chosen}")
        lines += self.extra_headers
        with self.lock:
            self.requests.append(req)
            self.ws_conns.append(c)
        c.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.after == "flood":
            threading.Thread(target=self._flood, args=(c,), daemon=True).start()
        if self.after == "stream":
            threading.Thread(target=self._stream, args=(c,), daemon=True).start()
        self._frames(c, r)

    def _stream(self, c):
        try:
            for i in range(self.stream_count):
                if self.stopped:
                    return
                msg = b"m%05d:" % i
                msg += b"x" * (self.stream_size - len(msg))
                for off in range(0, len(msg), self.stream_frag):
                    part = msg[off:off + self.stream_frag]
                    c.sendall(build_frame(OP_TEXT if off == 0 else OP_CONT, part,
                                          fin=off + self.stream_frag >= len(msg), mask=False))
                    if self.stream_pause:
                        time.sleep(self.stream_pause)
            self.event("stream_done")
        except OSError as e:
            self.event("stream_end", repr(e))

    def _flood(self, c):
        frame = build_frame(OP_BINARY, b"\xab" * self.flood_size, mask=False)
        self.event("flood_start")
        try:
            while not self.stopped:
                c.sendall(frame)
                with self.lock:
                    self.flood_bytes += len(frame)
        except OSError as e:
            self.event("flood_end", repr(e))

    def _frames(self, c, r):
        msg_op, msg_parts = None, []
        while not self.stopped:
            try:
                f = read_frame(r, time.monotonic() + 3600)
            except PeerClosed as e:
                self.event("eof", e.reset)
                return
            self.event("frame", f.opcode, f.fin, len(f.payload), f.masked)
            if f.opcode == OP_CLOSE:
                self.event("close_rcvd", f.close_code, f.close_reason)
                if c in self.closing:  # the answer to our own close: done, no second close
                    c.shutdown(socket.SHUT_RDWR)
                    return
                if self.after != "flood":
                    c.sendall(build_frame(OP_CLOSE, f.payload, mask=False))
                    c.shutdown(socket.SHUT_WR)
                    try:
                        r.read_to_eof(time.monotonic() + T(5))
                    except (TestTimeout, OSError):
                        pass
                    return
                continue
            if f.opcode == OP_PING:
                self.event("ping", f.payload)
                if self.after == "echo":
                    c.sendall(build_frame(OP_PONG, f.payload, mask=False))
                continue
            if f.opcode == OP_PONG:
                self.event("pong", f.payload)
                continue
            if self.after != "echo":
                continue
            if f.opcode != OP_CONT:
                msg_op, msg_parts = f.opcode, []
            msg_parts.append(f.payload)
            if f.fin and msg_op == OP_TEXT:
                whole = b"".join(msg_parts)
                if whole == b"die":
                    self.event("trigger", "die")
                    c.shutdown(socket.SHUT_RDWR)
                    return
                if whole == b"rst":
                    self.event("trigger", "rst")
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return  # _serve closes: RST
                if whole == b"badutf8":
                    self.event("trigger", "badutf8")
                    c.sendall(build_frame(OP_TEXT, b"ok\xff", mask=False))
                    continue
                if whole == b"bye":
                    self.event("trigger", "bye")
                    c.sendall(build_frame(OP_TEXT, b"bye", mask=False))
                    c.shutdown(socket.SHUT_RDWR)
                    return
            c.sendall(build_frame(f.opcode, f.payload, fin=f.fin, mask=False))


# ---------------------------------------------------------------------------------------------
# runner


class Ctx:
    """What a test function gets: the bin dir and factories whose products die with the test."""

    def __init__(self, bindir):
        self.bindir = bindir
        self.procs = []
        self.backends = []
        self.sockets = []

    def gateway(self, routes, args=(), workers=2, **kw):
        for attempt in range(3):
            try:
                g = Gateway(self.bindir, routes, args=args, workers=workers, **kw)
            except GatewayPortTaken:
                if attempt == 2:
                    raise
                continue
            self.procs.append(g)
            return g

    def echo(self, workers=1):
        e = Echo(self.bindir, workers=workers)
        self.procs.append(e)
        return e

    def backend(self, *a, **kw):
        b = Backend(*a, **kw)
        self.backends.append(b)
        return b

    def proc(self, argv, **kw):
        p = Proc(argv, **kw)
        self.procs.append(p)
        return p

    def track(self, sock):
        self.sockets.append(sock)
        return sock

    def cleanup(self):
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass
        for p in self.procs:
            p.kill()
        for b in self.backends:
            b.stop()


class Shared:
    """A fixture shared by the tests of one file (for example one gateway + echo) that is
    checked after every test and restarted if a test killed it."""

    def __init__(self, factory):
        self.factory = factory
        self.ctx = None
        self.value = None
        self.broken = None  # why the factory failed: later tests fail at once, not after a wait

    def get(self, bindir):
        if self.broken:
            raise TestFailure(f"shared fixture failed to start in an earlier test: {self.broken}")
        if self.ctx is not None and not all(p.alive() for p in self.ctx.procs):
            self.reset()
        if self.ctx is None:
            self.ctx = Ctx(bindir)
            try:
                self.value = self.factory(self.ctx)
            except TestFailure as e:
                self.broken = str(e).split("\n")[0]
                self.reset()
                raise
            except BaseException:
                self.reset()
                raise
        return self.value

    def procs(self):
        return list(self.ctx.procs) if self.ctx else []

    def reset(self):
        if self.ctx:
            self.ctx.cleanup()
        self.ctx, self.value = None, None


class Runner:
    def __init__(self, description=""):
        self.tests = []
        self.shared = []
        self.description = description

    def test(self, fn=None, timeout=60):
        """Decorator: @runner.test or @runner.test(timeout=...). The test gets a Ctx."""
        def deco(f):
            self.tests.append((f.__name__, f, timeout))
            return f
        return deco(fn) if fn is not None else deco

    def share(self, factory):
        s = Shared(factory)
        self.shared.append(s)
        return s

    def main(self):
        ap = argparse.ArgumentParser(description=self.description)
        ap.add_argument("--bin", required=True, help="folder holding wsgate and wsgate-echo")
        ap.add_argument("-k", dest="filter", default=None, help="run tests whose name contains this")
        ap.add_argument("-v", dest="verbose", action="store_true", help="show stderr of passing tests")
        ap.add_argument("--budget", type=float, default=None,
                        help="wall-clock seconds for the whole file (not scaled); tests not started by then "
                             "are reported as failures, so that the summary still prints before "
                             "CTest's TIMEOUT")
        args = ap.parse_args()
        bindir = os.path.abspath(args.bin)
        for prog in ("wsgate", "wsgate-echo"):
            path = os.path.join(bindir, prog)
            if not os.access(path, os.X_OK):
                print(f"FAIL setup: {path} missing or not executable")
                print("0 passed, 1 failed")
                sys.exit(1)

        def on_alarm(signum, frame):
            raise TestTimeout("test exceeded its time limit")

        signal.signal(signal.SIGALRM, on_alarm)
        signal.signal(signal.SIGTERM, lambda s, f: sys.exit(1))  # ctest timeout: run atexit
        passed = failed = 0
        t_all = time.monotonic()
        for name, fn, timeout in self.tests:
            if args.filter and args.filter not in name:
                continue
            if args.budget is not None and time.monotonic() - t_all > args.budget:
                failed += 1
                print(f"FAIL {name}: not run, the file's time budget ({args.budget:.0f}s) is used up",
                      flush=True)
                continue
            ctx = Ctx(bindir)
            t0 = time.monotonic()
            err = None
            signal.setitimer(signal.ITIMER_REAL, T(timeout))
            try:
                fn(ctx)
                # a test passes only if the processes it used are still healthy
                for p in ctx.procs + [p for s in self.shared for p in s.procs()]:
                    rep = p.sanitizer_report()
                    if rep:
                        raise TestFailure(f"{p.name} sanitizer report:\n{rep}")
                for s in self.shared:
                    for p in s.procs():
                        if not p.alive():
                            raise TestFailure(f"{p.name} (shared) exited with status "
                                      f"{p.returncode()}")
            except TestTimeout as e:
                err = f"timed out: {e} (test limit {T(timeout):.0f}s)\n" + traceback.format_exc(limit=4)
            except TestFailure as e:
                err = str(e) + "\n" + "".join(traceback.format_tb(e.__traceback__)[-2:])
            except Exception:
                err = traceback.format_exc(limit=6)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            dt = time.monotonic() - t0
            procs = ctx.procs + [p for s in self.shared for p in s.procs()]
            if err is None:
                passed += 1
                print(f"ok {name} ({dt:.1f}s)", flush=True)
                for n in _NOTES:
                    print(f"    note: {n}")
                if args.verbose:
                    for p in procs:
                        print(f"--- {p.name} stderr (last lines):\n{p.stderr_tail(20)}")
            else:
                failed += 1
                first, _, rest = err.partition("\n")
                print(f"FAIL {name}: {first} ({dt:.1f}s)", flush=True)
                if rest.strip():
                    print("    " + rest.rstrip().replace("\n", "\n    "))
                for p in procs:
                    print(f"    --- {p.name} (pid {p.pid}, status {p.returncode()}) stderr, last lines:")
                    print("    " + p.stderr_tail(25).replace("\n", "\n    "))
                # a shared fixture may be in a bad state after a failure: start it afresh
                for s in self.shared:
                    s.reset()
            _NOTES.clear()
            ctx.cleanup()
            sys.stdout.flush()
        # The shared gateway served every test of this file: it must now drain and exit 0 on
        # SIGTERM with no sanitizer report (under ASan, LeakSanitizer turns leaks at exit into
        # a non-zero status).
        for s in self.shared:
            gws = [p for p in s.procs() if p.name == "wsgate" and p.alive()]
            if not gws:
                s.reset()
                continue
            name = "shared_gateway_exits_cleanly_after_the_file"
            errs = []
            for p in gws:
                p.signal(signal.SIGTERM)
                rc = p.wait(T(10))
                rep = p.sanitizer_report()
                if rc is None:
                    errs.append(f"wsgate pid {p.pid} still running {T(10):.0f}s after SIGTERM")
                elif rc != 0:
                    errs.append(f"wsgate pid {p.pid} exit status {rc} after SIGTERM")
                if rep:
                    errs.append(f"sanitizer report:\n{rep}")
            if errs:
                failed += 1
                print(f"FAIL {name}: " + "\n    ".join(errs), flush=True)
                for p in gws:
                    print("    " + p.stderr_tail(25).replace("\n", "\n    "))
            else:
                passed += 1
                print(f"ok {name}", flush=True)
            s.reset()
        print(f"{passed} passed, {failed} failed ({time.monotonic() - t_all:.1f}s)", flush=True)
        sys.exit(1 if failed else 0)


# ---------------------------------------------------------------------------------------------
# asyncio + websockets (Debian's python3-websockets 10.4: the legacy asyncio client)


def ws_connect(port, path="/", **kw):
    """websockets.connect to the gateway with test-friendly defaults: no client keepalive
    pings, no client message size limit, bounded open/close times."""
    import websockets
    kw.setdefault("ping_interval", None)
    kw.setdefault("max_size", None)
    kw.setdefault("open_timeout", T(10))
    kw.setdefault("close_timeout", T(5))
    return websockets.connect(f"ws://127.0.0.1:{port}{path}", **kw)


def run_async(coro, timeout):
    """Run a coroutine to completion with a hard time bound."""
    import asyncio

    async def bounded():
        try:
            return await asyncio.wait_for(coro, timeout)
        except asyncio.TimeoutError:
            raise TestTimeout(f"asyncio part did not finish within {timeout:.1f}s")
    return asyncio.run(bounded())
