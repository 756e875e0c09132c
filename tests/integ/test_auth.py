#!/usr/bin/python3
"""Bearer tokens at the edge (issue 9): tokens in the Authorization header, the access_token
query parameter and cookie; every forgery answered 401 with the RFC 6750 challenge; every
algorithm with keys made by openssl for this run; JWKS with kid and its SIGHUP reload;
auth=optional/off per route; X-Auth-Subject and the token's removal as the backend sees them;
close 1008 "token expired"; --check-config on bad key files. Real requests through wsgate on
loopback, tokens minted independently (tests/integ/jwt_mint.py).

Run: /usr/bin/python3 test_auth.py --bin <builddir>/bin [-k name]
"""

import asyncio
import atexit
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (RawWS, Runner, T, TestFailure, check, check_eq, http_exchange,  # noqa: E402
                     run_async, run_cmd, upgrade_request, ws_connect)
from jwt_mint import Keys, b64url  # noqa: E402

runner = Runner(__doc__)

_tmp = tempfile.mkdtemp(prefix="wsgate-auth-")
atexit.register(shutil.rmtree, _tmp, True)
_keys = None


def keys():
    global _keys
    if _keys is None:
        _keys = Keys(_tmp)
    return _keys


def now():
    return int(time.time())


def claims(sub="alice", ttl=300, **kw):
    c = {"sub": sub, "exp": now() + ttl}
    c.update(kw)
    return c


def answer(gw, path="/", extra=()):
    return http_exchange(gw.port, upgrade_request(path=path, extra=list(extra)),
                         check_closed=False)


def expect_401(gw, extra, what, invalid=True, path="/"):
    r = answer(gw, path, extra)
    check_eq(r.status, 401, what)
    want = 'Bearer error="invalid_token"' if invalid else "Bearer"
    check_eq(r.header("www-authenticate"), want, f"{what}: WWW-Authenticate")


def expect_101(gw, extra, what, path="/"):
    ws = RawWS(gw.port, path, extra=list(extra))
    try:
        check_eq(ws.response.status, 101, what)
    finally:
        ws.close()


def bearer(tok):
    return [f"Authorization: Bearer {tok}"]


def secret_args(ks):
    return ["--jwt-secret-file", ks.secret_file()]


@runner.test(timeout=60)
def token_in_header_query_and_cookie_reaches_backend_as_subject_only(ctx):
    ks = keys()
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/={be.url}"], args=secret_args(ks))
    tok = ks.mint("HS256", claims("alice"))
    # Header, with a forged X-Auth-Subject that must not survive.
    expect_101(gw, bearer(tok) + ["X-Auth-Subject: root"], "token in Authorization")
    r = be.requests[-1]
    subj = [v for k, v in r["headers"] if k == "x-auth-subject"]
    check_eq(subj, ["alice"], "X-Auth-Subject at the backend (the client's own removed)")
    check("authorization" not in r["hdr"], f"token forwarded in Authorization: {r['hdr']!r}")
    # Query: the parameter goes, the others stay in order.
    expect_101(gw, [], "token in the query", path=f"/room?a=1&access_token={tok}&b=2")
    r = be.requests[-1]
    check_eq(r["line"], "GET /room?a=1&b=2 HTTP/1.1", "the backend's request line")
    check_eq(r["hdr"].get("x-auth-subject"), "alice", "X-Auth-Subject (query token)")
    expect_101(gw, [], "query token alone", path=f"/x?access_token={tok}")
    check_eq(be.requests[-1]["line"], "GET /x HTTP/1.1", "no empty '?' left behind")
    # Cookie: the other cookies stay.
    expect_101(gw, [f"Cookie: a=1; access_token={tok}; b=2"], "token in the cookie")
    r = be.requests[-1]
    check_eq([v for k, v in r["headers"] if k == "cookie"], ["a=1; b=2"],
             "Cookie at the backend")
    check_eq(r["hdr"].get("x-auth-subject"), "alice", "X-Auth-Subject (cookie token)")
    expect_101(gw, [f"Cookie: access_token={tok}"], "the only cookie")
    check("cookie" not in be.requests[-1]["hdr"], "an empty Cookie line was forwarded")
    # Missing token: the bare challenge. Another scheme is not a bearer token.
    expect_401(gw, [], "no token", invalid=False)
    expect_401(gw, ["Authorization: Basic YTpi"], "Basic credentials", invalid=False)
    expect_401(gw, [f"Cookie: session={tok}"], "token under another cookie name", invalid=False)
    # Order: the header wins over the query, and a bad header token is not saved by a good
    # query token.
    expect_401(gw, bearer("not.a.token"), "bad header, good query",
               path=f"/?access_token={tok}")
    expect_101(gw, bearer(tok), "good header, bad query", path="/?access_token=junk")
    check_eq(be.requests[-1]["line"], "GET /?access_token=junk HTTP/1.1",
             "a query parameter that was not the token is left alone")
    # The subject's bytes are passed as they are.
    expect_101(gw, bearer(ks.mint("HS512", claims("user:42@example.com"))), "HS512")
    check_eq(be.requests[-1]["hdr"].get("x-auth-subject"), "user:42@example.com", "sub")
    # The log thread writes behind the workers: wait (bounded) for the failures' lines.
    deadline = time.monotonic() + T(5)
    while gw.stderr().count("ev=auth_failed") < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    log = gw.stderr()
    fails = [ln for ln in log.split("\n") if "ev=auth_failed" in ln]
    check_eq(len(fails), 4, f"auth_failed lines: {fails!r}")
    # (Workers log on their own; lines of two workers may come in either order.)
    check(sum("reason=missing where=none" in ln for ln in fails) == 3 and
          sum("where=header" in ln and "reason=missing" not in ln for ln in fails) == 1,
          f"failure reasons logged: {fails!r}")
    check(tok not in log and "not.a.token" not in log, "a token appears in the log")


@runner.test(timeout=90)
def every_forgery_is_401_invalid_token(ctx):
    ks = keys()
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/={be.url}"],
                     args=secret_args(ks) + ["--jwt-public-key", ks.pub("rsa"),
                                             "--jwt-issuer", "https://issuer.example",
                                             "--jwt-audience", "chat", "--jwt-leeway", "10s"])
    good = claims(iss="https://issuer.example", aud="chat")
    expect_101(gw, bearer(ks.mint("HS256", good)), "a good HS256 token")
    expect_101(gw, bearer(ks.mint("RS256", good)), "a good RS256 token")
    expect_101(gw, bearer(ks.mint("RS256", dict(good, aud=["x", "chat"]))), "aud array")
    with open(ks.pub("rsa"), "rb") as f:
        rsa_pem = f.read()
    head, body, _ = ks.mint("HS256", good).split(".")
    cases = [
        ("expired beyond the leeway", ks.mint("HS256", dict(good, exp=now() - 60))),
        ("no exp", ks.mint("HS256", {k: v for k, v in good.items() if k != "exp"})),
        ("nbf in the future", ks.mint("HS256", dict(good, nbf=now() + 120))),
        ("iat in the future", ks.mint("HS256", dict(good, iat=now() + 120))),
        ("wrong iss", ks.mint("HS256", dict(good, iss="https://evil.example"))),
        ("wrong aud", ks.mint("HS256", dict(good, aud="other"))),
        ("no aud", ks.mint("HS256", {k: v for k, v in good.items() if k != "aud"})),
        ("wrong signature", ks.mint("HS256", good, key=b"another-secret-of-32-bytes-long!")),
        ("RS256 signed by another key", ks.mint("RS256", good, sig=b"\x01" * 256)),
        ("alg none", ks.mint("none", good)),
        ("alg None", ks.mint("none", good, header={"alg": "None"})),
        # The classic confusion: HMAC keyed with the RSA public key's PEM text.
        ("HS256 keyed with the RSA public key", ks.mint("HS256", good, key=rsa_pem)),
        ("RS256 header on an HMAC signature",
         ks.mint("HS256", good, header={"alg": "RS256"})),
        ("crit header", ks.mint("HS256", good, header={"crit": ["exp"], "exp": 1})),
        ("unknown alg", ks.mint("HS256", good, header={"alg": "HS1024"})),
        ("two segments", f"{head}.{body}"),
        ("padding in base64url", f"{head}=.{body}.{b64url(b'x' * 32)}"),
        ("standard base64 characters", f"{head}.{body}+/.{b64url(b'x' * 32)}"),
        ("header not JSON", f"{b64url(b'{nope')}.{body}.{b64url(b'x' * 32)}"),
        ("claims an array", ks.mint("HS256", ["sub"])),
        ("over 8 KiB", ks.mint("HS256", dict(good, pad="x" * 9000))),
        ("empty bearer", ""),
    ]
    for what, tok in cases:
        expect_401(gw, [f"Authorization: Bearer {tok}"], what)
    # Within the leeway, an expired token still passes (clock skew).
    expect_101(gw, bearer(ks.mint("HS256", dict(good, exp=now() - 2))), "expired 2 s ago, leeway 10 s")
    check_eq(be.upgrades, 4, "upgrades that reached the backend (only the good tokens)")


@runner.test(timeout=90)
def every_algorithm_with_keys_made_by_openssl(ctx):
    ks = keys()
    be = ctx.backend(after="echo")
    args = secret_args(ks)
    for name in ("rsa", "ec256", "ec384", "ed"):
        args += ["--jwt-public-key", ks.pub(name)]
    gw = ctx.gateway([f"/={be.url}"], args=args)
    for alg in ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384",
                "PS512", "ES256", "ES384", "EdDSA"):
        expect_101(gw, bearer(ks.mint(alg, claims(alg.lower()))), alg)
        check_eq(be.requests[-1]["hdr"].get("x-auth-subject"), alg.lower(), f"{alg}: subject")
    # An ES256 signature presented as ES384 (the key type fits, the curve does not).
    es = ks.mint("ES256", claims()).split(".")
    expect_401(gw, bearer(ks.mint("ES384", claims(), sig=b64decode(es[2]))),
               "ES256 signature labelled ES384")
    # An EdDSA token with one signature byte flipped.
    t = ks.mint("EdDSA", claims()).split(".")
    raw = bytearray(b64decode(t[2]))
    raw[0] ^= 1
    expect_401(gw, bearer(f"{t[0]}.{t[1]}.{b64url(bytes(raw))}"), "EdDSA, one bit flipped")


def b64decode(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


@runner.test(timeout=90)
def jwks_kid_selects_the_key_and_sighup_reloads_it(ctx):
    ks = keys()
    be = ctx.backend(after="echo")
    folder = tempfile.mkdtemp(dir=_tmp)
    jwks = os.path.join(folder, "jwks.json")
    write_json(jwks, {"keys": [ks.jwk("ec256", "k1"), ks.jwk("rsa", "r1", alg="RS256"),
                               ks.jwk("oct", "h1")]})
    conf = os.path.join(folder, "wsgate.json")
    write_json(conf, {"jwt-jwks": jwks, "routes": [{"path": "/", "backends": [be.url]}]})
    gw = ctx.gateway([], args=["--config", conf])
    expect_101(gw, bearer(ks.mint("ES256", claims(), header={"kid": "k1"})), "ES256 kid k1")
    expect_101(gw, bearer(ks.mint("RS256", claims(), header={"kid": "r1"})), "RS256 kid r1")
    expect_101(gw, bearer(ks.mint("HS256", claims(), header={"kid": "h1"})), "HS256 kid h1 (oct)")
    expect_401(gw, bearer(ks.mint("PS256", claims(), header={"kid": "r1"})),
               "PS256 with a key pinned to RS256")
    expect_401(gw, bearer(ks.mint("ES256", claims(), header={"kid": "nope"})), "unknown kid")
    expect_401(gw, bearer(ks.mint("ES256", claims(), header={"kid": "r1"})),
               "ES256 naming an RSA key's kid")
    # Rotate: k2 (Ed25519) replaces everything; SIGHUP re-reads the file.
    write_json(jwks, {"keys": [ks.jwk("ed", "k2")]})
    gw.signal(signal.SIGHUP)
    tok_k2 = ks.mint("EdDSA", claims(), header={"kid": "k2"})
    deadline = time.monotonic() + T(5)
    while answer(gw, extra=bearer(tok_k2)).status != 101:
        check(time.monotonic() < deadline, f"k2 not accepted after SIGHUP: {gw.stderr_tail(5)}")
        time.sleep(0.1)
    expect_401(gw, bearer(ks.mint("ES256", claims(), header={"kid": "k1"})), "k1 after rotation")
    # A broken file is refused and the keys in use stay.
    with open(jwks, "w") as f:
        f.write('{"keys": [{"kty": "EC", "crv": "P-256", "x": "!!"}]}')
    gw.signal(signal.SIGHUP)
    deadline = time.monotonic() + T(5)
    while "auth_reload_failed" not in gw.stderr():
        check(time.monotonic() < deadline, f"no auth_reload_failed logged: {gw.stderr_tail(5)}")
        time.sleep(0.1)
    expect_101(gw, bearer(tok_k2), "k2 still accepted after a refused reload")


@runner.test(timeout=60)
def optional_off_and_forward_token_per_route(ctx):
    ks = keys()
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/={be.url}", f"/open={be.url};auth=off",
                      f"/fwd={be.url};forward-token=true", f"/must={be.url};auth=required"],
                     args=secret_args(ks) + ["--auth", "optional"])
    tok = ks.mint("HS256", claims("bob"))
    expect_101(gw, [], "optional: no token passes")
    check("x-auth-subject" not in be.requests[-1]["hdr"], "a subject without a token")
    expect_401(gw, bearer("bad.token.here"), "optional: a bad token is still 401")
    expect_101(gw, bearer(tok), "optional: a good token")
    check_eq(be.requests[-1]["hdr"].get("x-auth-subject"), "bob", "optional: subject")
    expect_101(gw, bearer("bad.token.here") + ["X-Auth-Subject: root"], "auth=off: anything passes",
               path="/open")
    r = be.requests[-1]
    check_eq(r["hdr"].get("authorization"), "Bearer bad.token.here", "auth=off: header unchanged")
    check("x-auth-subject" not in r["hdr"], "auth=off: the client's X-Auth-Subject is removed")
    expect_101(gw, bearer(tok), "forward-token=true", path=f"/fwd?access_token={tok}")
    r = be.requests[-1]
    check_eq(r["hdr"].get("authorization"), f"Bearer {tok}", "forward-token: header kept")
    check_eq(r["line"], f"GET /fwd?access_token={tok} HTTP/1.1", "forward-token: query kept")
    check_eq(r["hdr"].get("x-auth-subject"), "bob", "forward-token: subject")
    expect_401(gw, [], "auth=required on a route of an optional gateway", invalid=False,
               path="/must")


@runner.test(timeout=60)
def token_expiry_closes_both_legs_with_1008(ctx):
    import websockets
    ks = keys()
    be = ctx.backend(after="echo")
    gw = ctx.gateway([f"/={be.url}"], args=secret_args(ks) + ["--jwt-leeway", "0"])
    tok = ks.mint("HS256", claims("carol", ttl=2))

    async def go():
        async with ws_connect(gw.port, "/",
                              extra_headers={"Authorization": f"Bearer {tok}"}) as ws:
            await ws.send("before")
            check_eq(await ws.recv(), "before", "echo while the token is valid")
            t0 = time.monotonic()
            try:
                await asyncio.wait_for(ws.recv(), T(8))
                raise TestFailure("a message instead of the close")
            except websockets.ConnectionClosed as e:
                rcvd = e.rcvd
                check(rcvd is not None, "no close frame from the gateway")
                check_eq((rcvd.code, rcvd.reason), (1008, "token expired"), "the client's close")
            check(time.monotonic() - t0 < T(5), "closed within the token's life + a tick")
    run_async(go(), T(20))
    ev = be.wait_event("close_rcvd", T(5))
    check(ev is not None and ev[2] == 1008, f"the backend's close: {be.events!r}")


@runner.test(timeout=60)
def check_config_refuses_bad_key_files_with_one_line(ctx):
    ks = keys()
    wsgate = os.path.join(ctx.bindir, "wsgate")
    garbage = os.path.join(_tmp, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    badjwks = os.path.join(_tmp, "bad.jwks")
    with open(badjwks, "w") as f:
        f.write('{"keys": [{"kty": "RSA", "n": "AQAB"}]}')
    short = os.path.join(_tmp, "short.secret")
    with open(short, "w") as f:
        f.write("tooshort\n")
    cases = [
        (["--jwt-public-key", os.path.join(_tmp, "missing.pem")], "jwt-public-key"),
        (["--jwt-public-key", garbage], "jwt-public-key"),
        (["--jwt-public-key", ks.key("rsa")], "jwt-public-key"),  # a private key file
        (["--jwt-jwks", badjwks], "jwt-jwks"),
        (["--jwt-secret-file", short], "jwt-secret-file"),
        (["--jwt-secret", "short"], "jwt-secret"),
        (["--auth", "required"], "auth"),
        (["--route", "/a=ws://127.0.0.1:9;auth=optional"], "auth"),
        (["--jwt-leeway", "soon"], "jwt-leeway"),
    ]
    for extra, flag in cases:
        rc, out, err = run_cmd([wsgate, "--check-config", "--route", "/=ws://127.0.0.1:9", *extra],
                               T(10))
        lines = [ln for ln in err.split("\n") if ln.strip()]
        check(rc == 2 and len(lines) == 1 and flag in lines[0],
              f"{extra}: want exit 2 and one line naming {flag}, got rc {rc} {err!r}")
        check("tooshort" not in err and "short\n" not in err.replace("short.secret", ""),
              f"a secret echoed: {err!r}")
    rc, out, err = run_cmd([wsgate, "--check-config", "--route", "/=ws://127.0.0.1:9",
                            "--jwt-secret-file", ks.secret_file(), "--jwt-public-key", ks.pub("ed"),
                            "--jwt-public-key", ks.pub("ec384")], T(10))
    check_eq(rc, 0, f"good key files: {err!r}")
    cfg = json.loads(out)
    check_eq(cfg.get("auth"), "required", "--auth defaults to required with a key")
    check_eq(cfg.get("jwt-public-key"), [ks.pub("ed"), ks.pub("ec384")], "both public keys")
    check_eq(cfg.get("jwt-leeway"), "30s", "--jwt-leeway default")
    check(ks.secret.decode() not in out, "the secret printed by --check-config")


if __name__ == "__main__":
    runner.main()
