#!/usr/bin/python3
"""TLS at the edge (issue 8): wsgate terminating wss:// on a --tls-listen listener, driven by
independent clients: Python's ssl + websockets, openssl s_client and curl. Certificates are
made by this run (openssl) in a temporary directory: a CA, an ECDSA P-256 certificate for
a.example (the default pair), an RSA certificate for *.b.example, and a second a.example
certificate with another serial for the SIGHUP reload.

Run: /usr/bin/python3 test_tls.py --bin <builddir>/bin [-k name]
"""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import note as harness_note  # noqa: E402
from harness import (OP_BINARY, OP_TEXT, Runner, T, TestFailure, check, check_eq,  # noqa: E402
                     free_port, run_async, run_cmd, tcp_connectable, upgrade_request)

runner = Runner(__doc__)
PKI = tempfile.mkdtemp(prefix="wsg-tls-")


def sh(*argv):
    r = subprocess.run(list(argv), cwd=PKI, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    if r.returncode != 0:
        raise TestFailure(f"{' '.join(argv)}: {r.stderr.decode()[-500:]}")


def make_pki():
    if os.path.exists(os.path.join(PKI, "a2.crt")):
        return
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=wsgate test CA")

    def leaf(name, cn, sans, keyopt, serial):
        sh("openssl", "req", "-newkey", *keyopt, "-nodes", "-keyout", f"{name}.key",
           "-out", f"{name}.csr", "-subj", f"/CN={cn}")
        with open(os.path.join(PKI, f"{name}.ext"), "w") as f:
            f.write("subjectAltName=" + ",".join(f"DNS:{s}" for s in sans) + "\n")
        sh("openssl", "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
           "-set_serial", str(serial), "-days", "2", "-extfile", f"{name}.ext", "-out",
           f"{name}.crt")

    ec = ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    leaf("lh", "localhost", ["localhost"], ec, 4004)
    # A second CA nobody trusts, for the wrong-CA case.
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.crt", "-days", "2", "-subj",
       "/CN=some other CA")
    leaf("a", "a.example", ["a.example"], ec, 1001)
    leaf("b", "*.b.example", ["*.b.example"], ["rsa:2048"], 2002)
    leaf("a2", "a.example", ["a.example"], ec, 3003)
    for k in ("a.key", "b.key", "a2.key"):
        os.chmod(os.path.join(PKI, k), 0o600)


def pki(name):
    return os.path.join(PKI, name)


def tls_gateway(ctx, backend_url, extra=()):
    make_pki()
    tport = free_port()
    args = ["--tls-listen", f"127.0.0.1:{tport}", "--tls-cert", pki("a.crt"), "--tls-key",
            pki("a.key"), "--tls-cert", pki("b.crt"), "--tls-key", pki("b.key"), *extra]
    gw = ctx.gateway([f"/={backend_url}"], args=args)
    gw.tls_port = tport
    return gw


def client_ctx(server_name=True):
    c = ssl.create_default_context(cafile=pki("ca.crt"))
    if not server_name:
        c.check_hostname = False
    return c


def s_client(port, *args, stdin=b"", timeout=10, linger=0.0):
    """openssl s_client; linger: seconds to stay connected before stdin ends (a TLS 1.3
    ticket arrives after the handshake)."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", pki("ca.crt"),
            *args]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if linger:
            time.sleep(linger)
        out, _ = p.communicate(stdin, timeout=T(timeout))
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
    return p.returncode, out.decode("latin-1")


def peer_cert_serial(port, server_name):
    """The serial of the certificate wsgate presents for server_name (None: no SNI)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=T(5))
    c = ssl.create_default_context(cafile=pki("ca.crt"))
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    with c.wrap_socket(raw, server_hostname=server_name) as s:
        der = s.getpeercert(binary_form=True)
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der,
                       stdout=subprocess.PIPE, timeout=T(10))
    return int(p.stdout.decode().strip().split("=")[1], 16)


@runner.test(timeout=90)
def websockets_over_tls_echo_sizes(ctx):
    echo = ctx.echo()
    gw = tls_gateway(ctx, echo.url)

    async def go():
        import websockets
        uri = f"wss://a.example:{gw.tls_port}/"
        async with websockets.connect(uri, ssl=client_ctx(), max_size=None, ping_interval=None,
                                      host="127.0.0.1", port=gw.tls_port,
                                      server_hostname="a.example") as ws:
            for size in (0, 1, 125, 126, 65535, 65536, 100000, 1 << 20):
                data = os.urandom(size)
                await ws.send(data)
                check_eq(await ws.recv(), data, f"binary echo of {size} bytes")
                text = ("é" * (size // 2))
                await ws.send(text)
                check_eq(await ws.recv(), text, f"text echo of {len(text)} chars")

    run_async(go(), T(60))


@runner.test(timeout=60)
def sni_picks_exact_wildcard_and_default(ctx):
    gw = tls_gateway(ctx, ctx.echo().url)
    check_eq(peer_cert_serial(gw.tls_port, "a.example"), 1001, "SNI a.example")
    check_eq(peer_cert_serial(gw.tls_port, "x.b.example"), 2002, "SNI x.b.example (wildcard)")
    check_eq(peer_cert_serial(gw.tls_port, "x.y.b.example"), 1001,
             "SNI x.y.b.example (two labels: not the wildcard, the default)")
    check_eq(peer_cert_serial(gw.tls_port, None), 1001, "no SNI: the default pair")


@runner.test(timeout=60)
def versions_alpn_and_resumption_with_s_client(ctx):
    gw = tls_gateway(ctx, ctx.echo().url)
    port = gw.tls_port
    for flag in ("-tls1", "-tls1_1"):
        rc, out = s_client(port, "-servername", "a.example", flag)
        check("Cipher is (NONE)" in out or rc != 0, f"{flag} must be refused:\n{out[-800:]}")
    for flag, want in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        rc, out = s_client(port, "-servername", "a.example", flag, "-alpn", "http/1.1")
        check(f"Protocol  : {want}" in out or f"New, {want}" in out,
              f"{flag} must be accepted:\n{out[-1200:]}")
        check("ALPN protocol: http/1.1" in out, f"ALPN http/1.1 with {flag}:\n{out[-1200:]}")
        check("Verify return code: 0 (ok)" in out, f"chain verifies with {flag}")
    rc, out = s_client(port, "-servername", "a.example", "-alpn", "h2")
    check("ALPN protocol: h2" not in out and ("no application protocol" in out or
                                               "alert" in out.lower() or rc != 0),
          f"a client offering only h2 is refused:\n{out[-800:]}")
    sess = os.path.join(PKI, "sess.pem")
    for ver in ("-tls1_2", "-tls1_3"):
        rc, out = s_client(port, "-servername", "a.example", ver, "-sess_out", sess,
                           linger=1.0)
        rc, out = s_client(port, "-servername", "a.example", ver, "-sess_in", sess)
        check("Reused," in out, f"resumption with {ver} (-sess_in):\n{out[-1200:]}")


def s_client_steps(port, version, steps):
    """An interactive openssl s_client session to the gateway's TLS port: each step is bytes
    written to its stdin (s_client's own commands, 'k' or 'R', or an upgrade request) after
    `settle` seconds; returns everything it printed. The session may end under a step (a
    refused renegotiation): later writes are then dropped."""
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername",
            "a.example", "-CAfile", pki("ca.crt"), version]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for data, settle in steps:
            time.sleep(settle)
            try:
                p.stdin.write(data)
                p.stdin.flush()
            except BrokenPipeError:
                pass
        time.sleep(1.0)
        out, _ = p.communicate(b"", timeout=T(10))
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
    return out.decode("latin-1")


@runner.test(timeout=60)
def tls13_key_update_then_upgrade(ctx):
    """s_client's 'k' sends a TLS 1.3 KeyUpdate; the session carries on with the new keys and
    the upgrade that follows is answered."""
    gw = tls_gateway(ctx, ctx.echo().url)
    text = s_client_steps(gw.tls_port, "-tls1_3",
                          [(b"k\n", 0.5), (upgrade_request(path="/", host="a.example"), 0.5)])
    check("KEYUPDATE" in text, f"s_client sent a key update:\n{text[-800:]}")
    check("HTTP/1.1 101" in text, f"the upgrade after the key update:\n{text[-800:]}")


@runner.test(timeout=60)
def tls12_renegotiation_is_refused_and_the_gateway_serves_on(ctx):
    """s_client's 'R' asks for a TLS 1.2 renegotiation (a ClientHello inside the session).
    wolfSSL refuses it with an alert and the session ends: client-initiated renegotiation is
    a CPU sink for attackers, and no WebSocket client needs it. Nothing relayed is lost: the
    gateway is fine afterwards and answers the next client."""
    gw = tls_gateway(ctx, ctx.echo().url)
    up = upgrade_request(path="/", host="a.example")
    text = s_client_steps(gw.tls_port, "-tls1_2", [(b"R\n", 0.5), (up, 1.0)])
    check("RENEGOTIATING" in text, f"s_client asked for a renegotiation:\n{text[-800:]}")
    check("HTTP/1.1 101" not in text, f"the renegotiated session was served:\n{text[-800:]}")
    check("alert" in text, f"no alert ended the session:\n{text[-800:]}")
    text = s_client_steps(gw.tls_port, "-tls1_2", [(up, 0.5)])
    check("HTTP/1.1 101" in text, f"the next client after the refused renegotiation:\n{text[-800:]}")


@runner.test(timeout=60)
def min_version_1_3_refuses_1_2(ctx):
    gw = tls_gateway(ctx, ctx.echo().url, extra=["--tls-min-version", "1.3"])
    rc, out = s_client(gw.tls_port, "-servername", "a.example", "-tls1_2")
    check("Cipher is (NONE)" in out or rc != 0, f"TLS 1.2 must be refused:\n{out[-800:]}")
    rc, out = s_client(gw.tls_port, "-servername", "a.example", "-tls1_3")
    check("TLSv1.3" in out, f"TLS 1.3 accepted:\n{out[-800:]}")


@runner.test(timeout=60)
def curl_upgrade_over_tls_and_forwarded_proto(ctx):
    be = ctx.backend(after="echo")
    gw = tls_gateway(ctx, be.url)
    rc, out, err = run_cmd(["curl", "-sS", "-i", "--http1.1", "--max-time", "3",
                            "--cacert", pki("ca.crt"), "--resolve",
                            f"a.example:{gw.tls_port}:127.0.0.1",
                            "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
                            "-H", "Sec-WebSocket-Version: 13",
                            "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                            f"https://a.example:{gw.tls_port}/x"], T(15))
    check("101 Switching Protocols" in out, f"curl over TLS: rc {rc}\n{out[:600]}\n{err[-400:]}")
    check("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in out, "the RFC 6455 sample accept")
    hdr = be.requests[-1]["hdr"]
    check_eq(hdr.get("x-forwarded-proto"), "https", "X-Forwarded-Proto on a TLS listener")


@runner.test(timeout=60)
def broken_handshakes_are_cut_cleanly(ctx):
    gw = tls_gateway(ctx, ctx.echo().url, extra=["--handshake-timeout", "1s"])
    port = gw.tls_port
    # A client that stalls mid-handshake: cut at --handshake-timeout.
    s = socket.create_connection(("127.0.0.1", port), timeout=T(5))
    s.sendall(b"\x16\x03\x01\x00\x50")  # a record header, then nothing
    t0 = time.monotonic()
    s.settimeout(T(5))
    try:
        while s.recv(4096):
            pass
    except (ConnectionResetError, socket.timeout):
        pass
    dt = time.monotonic() - t0
    s.close()
    check(dt < T(4), f"stalled handshake cut after {dt:.1f}s (timeout 1s)")
    # Random bytes: an alert or a close, never a hang or a crash.
    for _ in range(5):
        s = socket.create_connection(("127.0.0.1", port), timeout=T(5))
        s.sendall(os.urandom(3000))
        s.settimeout(T(5))
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout, BrokenPipeError):
            pass
        s.close()
    # A client that closes after its ClientHello.
    raw = socket.create_connection(("127.0.0.1", port), timeout=T(5))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx().wrap_bio(incoming, outgoing, server_hostname="a.example")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    check(len(hello) > 100 and hello[0] == 0x16, f"a ClientHello record ({len(hello)} bytes)")
    raw.sendall(hello)
    raw.close()
    check(gw.alive(), "the gateway survived")
    check(tcp_connectable(port), "and still accepts")
    rc, out = s_client(port, "-servername", "a.example")
    check("Verify return code: 0 (ok)" in out, "a good handshake after the broken ones")


@runner.test(timeout=60)
def sighup_reloads_certificates(ctx):
    make_pki()
    work = tempfile.mkdtemp(prefix="wsg-tls-reload-", dir=PKI)
    shutil.copy(pki("a.crt"), os.path.join(work, "srv.crt"))
    shutil.copy(pki("a.key"), os.path.join(work, "srv.key"))
    echo = ctx.echo()
    tport = free_port()
    gw = ctx.gateway([f"/={echo.url}"], args=["--tls-listen", f"127.0.0.1:{tport}", "--tls-cert",
                                             os.path.join(work, "srv.crt"), "--tls-key",
                                             os.path.join(work, "srv.key")])
    check_eq(peer_cert_serial(tport, "a.example"), 1001, "serial before the reload")
    # An open TLS connection across the reload.
    raw = socket.create_connection(("127.0.0.1", tport), timeout=T(5))
    s = client_ctx().wrap_socket(raw, server_hostname="a.example")
    s.sendall(upgrade_request(path="/", host="a.example"))
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    check(head.startswith(b"HTTP/1.1 101"), f"upgrade over TLS: {head[:60]!r}")
    shutil.copy(pki("a2.crt"), os.path.join(work, "srv.crt"))
    shutil.copy(pki("a2.key"), os.path.join(work, "srv.key"))
    gw.signal(signal.SIGHUP)
    deadline = time.monotonic() + T(5)
    while peer_cert_serial(tport, "a.example") != 3003:
        check(time.monotonic() < deadline, f"new serial not served:\n{gw.stderr_tail()}")
        time.sleep(0.1)
    # The open connection still works (a masked text frame "ok" and its echo).
    s.sendall(bytes([0x81, 0x82, 1, 2, 3, 4, ord("o") ^ 1, ord("k") ^ 2]))
    got = s.recv(16)
    check_eq(got[:4], b"\x81\x02ok", "echo on the connection opened before the reload")
    s.close()
    # A broken key file is refused and the current certificate stays.
    with open(os.path.join(work, "srv.key"), "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    gw.signal(signal.SIGHUP)
    deadline = time.monotonic() + T(5)
    while "tls_reload_failed" not in gw.stderr():
        check(time.monotonic() < deadline, f"no tls_reload_failed line:\n{gw.stderr_tail()}")
        time.sleep(0.1)
    check_eq(peer_cert_serial(tport, "a.example"), 3003, "serial after a refused reload")


def tls_backend_server():
    """A websockets echo server over TLS (certificate for localhost, signed by the test CA) on
    127.0.0.1 in a thread of its own; returns (port, stop)."""
    import asyncio
    import threading
    import websockets
    srv_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    srv_ctx.load_cert_chain(pki("lh.crt"), pki("lh.key"))
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box = {}

    box["resumed"] = []

    async def echo(ws, path=None):
        sslobj = ws.transport.get_extra_info("ssl_object")
        box["resumed"].append(bool(sslobj is not None and sslobj.session_reused))
        async for m in ws:
            await ws.send(m)

    async def main():
        box["srv"] = await websockets.serve(echo, "127.0.0.1", 0, ssl=srv_ctx, max_size=None)
        box["port"] = box["srv"].sockets[0].getsockname()[1]
        started.set()
        await box["srv"].wait_closed()

    t = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    t.start()
    check(started.wait(T(10)), "TLS backend did not start")

    def stop():
        loop.call_soon_threadsafe(box["srv"].close)
        t.join(T(10))
    stop.resumed = box["resumed"]
    return box["port"], stop


def through(gw, path="/"):
    """Upgrade status through the gateway's plain listener, and the echo of b"hi" if 101."""
    from harness import RawWS
    try:
        w = RawWS(gw.port, path)
    except TestFailure as e:
        m = re.search(r"Response\((\d{3})", str(e))
        return int(m.group(1)) if m else str(e), None
    try:
        w.send_frame(OP_TEXT, b"hi")
        return 101, w.recv_message(T(5))
    finally:
        w.close()


@runner.test(timeout=90)
def wss_backends_verified_refused_and_unverified(ctx):
    make_pki()
    port, stop = tls_backend_server()
    try:
        # Names: the certificate says localhost; 127.0.0.1 in the URL is a wrong host name.
        routes = [f"/ok=wss://localhost:{port}", f"/wrongname=wss://127.0.0.1:{port}",
                  f"/noverify=wss://127.0.0.1:{port};tls-verify=false"]
        gw = ctx.gateway(routes, args=["--backend-ca", pki("ca.crt")])
        st, msg = through(gw, "/ok")
        check_eq((st, msg), (101, (OP_TEXT, b"hi")), "verified wss:// backend")
        check_eq(through(gw, "/wrongname")[0], 502, "a certificate for another host name")
        check_eq(through(gw, "/noverify"), (101, (OP_TEXT, b"hi")), "tls-verify=false")
        check("tls_verify_off" in gw.stderr(), "a warning at start for tls-verify=false")
        gw2 = ctx.gateway([f"/=wss://localhost:{port}"], args=["--backend-ca", pki("other-ca.crt")])
        check_eq(through(gw2, "/")[0], 502, "a backend whose CA is not trusted")
        # The upstream session cache: after each worker's first full handshake to the
        # backend, the next dials resume.
        del stop.resumed[:]
        for _ in range(8):
            check_eq(through(gw, "/ok")[0], 101, "upgrade to a verified wss:// backend")
        resumed = sum(stop.resumed)
        harness_note(f"upstream TLS handshakes: {len(stop.resumed)}, resumed {resumed}")
        check(resumed >= len(stop.resumed) - 2, f"resumed upstream handshakes: {stop.resumed}")
    finally:
        stop()


@runner.test(timeout=60)
def sighup_rereads_the_backend_ca(ctx):
    """--backend-ca rotated in place: new wss:// dials verify against the file as it is after
    SIGHUP; a broken file is refused and the CA in use stays."""
    make_pki()
    port, stop = tls_backend_server()
    try:
        ca = os.path.join(PKI, "rotating-ca.crt")
        shutil.copy(pki("other-ca.crt"), ca)
        gw = ctx.gateway([f"/=wss://localhost:{port}"], args=["--backend-ca", ca])
        check_eq(through(gw, "/")[0], 502, "the backend's CA is not in the file yet")
        shutil.copy(pki("ca.crt"), ca)
        gw.signal(signal.SIGHUP)
        deadline = time.monotonic() + T(5)
        while through(gw, "/")[0] != 101:
            check(time.monotonic() < deadline, f"the new CA not used: {gw.stderr_tail(5)}")
            time.sleep(0.1)
        with open(ca, "w") as f:
            f.write("not a certificate\n")
        gw.signal(signal.SIGHUP)
        deadline = time.monotonic() + T(5)
        while "backend_ca_reload_failed" not in gw.stderr():
            check(time.monotonic() < deadline, f"no backend_ca_reload_failed: {gw.stderr_tail(5)}")
            time.sleep(0.1)
        check_eq(through(gw, "/")[0], 101, "the CA in use after a refused reload")
    finally:
        stop()


@runner.test(timeout=30)
def check_config_validates_the_files(ctx):
    make_pki()
    wsgate = os.path.join(ctx.bindir, "wsgate")
    base = [wsgate, "--check-config", "--route", "/=ws://127.0.0.1:1", "--tls-listen",
            f"127.0.0.1:{free_port()}"]
    rc, out, err = run_cmd(base + ["--tls-cert", pki("a.crt"), "--tls-key", pki("a.key")], T(10))
    check_eq(rc, 0, f"good pair: {err}")
    rc, out, err = run_cmd(base + ["--tls-cert", pki("a.crt"), "--tls-key", pki("b.key")], T(10))
    lines = [ln for ln in err.split("\n") if ln.strip()]
    check_eq(rc, 2, "a key that does not match its certificate")
    check_eq(len(lines), 1, f"one line: {err!r}")
    check("b.key" in lines[0] or "a.crt" in lines[0], f"names the file: {lines[0]!r}")
    rc, out, err = run_cmd(base + ["--tls-cert", pki("ca.srl") if os.path.exists(pki("ca.srl"))
                                   else pki("a.ext"), "--tls-key", pki("a.key")], T(10))
    check_eq(rc, 2, f"a certificate file that is not PEM: {err!r}")
    # A CA bundle for wss:// backends that does not parse: exit 2 too, one line.
    rc, out, err = run_cmd([wsgate, "--check-config", "--route", "/=wss://localhost:1",
                            "--backend-ca", pki("a.ext")], T(10))
    lines = [ln for ln in err.split("\n") if ln.strip()]
    check_eq(rc, 2, f"a --backend-ca that is not PEM: {err!r}")
    check(len(lines) == 1 and "--backend-ca" in lines[0], f"one line naming the flag: {err!r}")
    # A key readable by others: served, with a warning.
    os.chmod(pki("b.key"), 0o644)
    try:
        gw = ctx.gateway(["/=ws://127.0.0.1:1"], args=["--tls-listen", f"127.0.0.1:{free_port()}",
                                                      "--tls-cert", pki("b.crt"), "--tls-key",
                                                      pki("b.key")])
        check("ev=tls_key_readable" in gw.stderr(), f"warning for a 0644 key:\n{gw.stderr_tail()}")
    finally:
        os.chmod(pki("b.key"), 0o600)


if __name__ == "__main__":
    runner.main()
