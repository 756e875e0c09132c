"""JWS compact tokens and keys for the token tests and the auth benchmark, made independently
of the gateway: HMAC with Python's hmac/hashlib, everything asymmetric signed by the openssl
CLI (keys generated per run into a temporary folder, never committed). JWKS documents are
built from the public keys' DER (a few lines of ASN.1 reading below).

Use: ks = Keys(tmpdir); tok = ks.mint("ES256", {"sub": "a", "exp": ...}); ks.pub("ec256").
"""

import base64
import hashlib
import hmac
import json
import os
import subprocess


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _run(argv, data=None):
    r = subprocess.run(argv, input=data, capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.decode(errors='replace')}")
    return r.stdout


def _der_item(b, i):
    """(tag, content start, content end) of the DER item at b[i]."""
    tag, n = b[i], b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    return tag, i, i + n


def _spki_bits(der):
    """The subjectPublicKey BIT STRING's bytes of a SubjectPublicKeyInfo."""
    _, s, _ = _der_item(der, 0)         # SEQUENCE
    _, a, ae = _der_item(der, s)        # AlgorithmIdentifier
    tag, bs, be = _der_item(der, ae)    # BIT STRING
    assert tag == 0x03
    return der[bs + 1:be]               # skip the unused-bits byte


def _ecdsa_raw(der_sig, size):
    """openssl's DER ECDSA signature -> JWS r || s, each `size` bytes (RFC 7518 3.4)."""
    _, s, _ = _der_item(der_sig, 0)
    _, rs, re_ = _der_item(der_sig, s)
    _, ss, se = _der_item(der_sig, re_)
    r = int.from_bytes(der_sig[rs:re_], "big")
    sv = int.from_bytes(der_sig[ss:se], "big")
    return r.to_bytes(size, "big") + sv.to_bytes(size, "big")


HASH = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


class Keys:
    """An RSA 2048 key, EC P-256 and P-384 keys, an Ed25519 key and an HMAC secret."""

    NAMES = ("rsa", "ec256", "ec384", "ed")

    def __init__(self, folder, secret=b"integ-test-secret-of-32-bytes-ok"):
        self.dir = folder
        self.secret = secret
        gen = {
            "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            "ec256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "ec384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            "ed": ["-algorithm", "ed25519"],
        }
        for name, opts in gen.items():
            key = os.path.join(folder, f"{name}.key")
            if not os.path.exists(key):
                _run(["openssl", "genpkey", *opts, "-out", key])
                _run(["openssl", "pkey", "-in", key, "-pubout", "-out", self.pub(name)])
        with open(os.path.join(folder, "secret"), "wb") as f:
            f.write(secret)

    def key(self, name):
        return os.path.join(self.dir, f"{name}.key")

    def pub(self, name):
        return os.path.join(self.dir, f"{name}.pub")

    def secret_file(self):
        return os.path.join(self.dir, "secret")

    def sign(self, alg, data, key=None):
        """The raw JWS signature of data (bytes) under alg."""
        bits = alg[2:]
        if alg.startswith("HS"):
            k = self.secret if key is None else key
            return hmac.new(k, data, HASH[bits]).digest()
        tmp = os.path.join(self.dir, "to-sign")
        with open(tmp, "wb") as f:
            f.write(data)
        if alg == "EdDSA":
            return _run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key or self.key("ed"),
                         "-in", tmp])
        if alg.startswith("RS"):
            return _run(["openssl", "dgst", f"-sha{bits}", "-sign", key or self.key("rsa"), tmp])
        if alg.startswith("PS"):
            return _run(["openssl", "dgst", f"-sha{bits}", "-sigopt", "rsa_padding_mode:pss",
                         "-sigopt", "rsa_pss_saltlen:-1", "-sign", key or self.key("rsa"), tmp])
        if alg.startswith("ES"):
            der = _run(["openssl", "dgst", f"-sha{bits}", "-sign", key or self.key(f"ec{bits}"),
                        tmp])
            return _ecdsa_raw(der, 32 if bits == "256" else 48)
        raise ValueError(alg)

    def mint(self, alg, claims, header=None, key=None, sig=None):
        """A JWS compact token. header: extra header members (kid, crit, or a replaced alg);
        sig: bytes to use instead of the real signature."""
        h = {"alg": alg, "typ": "JWT"}
        h.update(header or {})
        head = b64url(json.dumps(h, separators=(",", ":")).encode())
        body = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing = f"{head}.{body}".encode()
        s = sig if sig is not None else (b"" if alg == "none" else self.sign(alg, signing, key))
        return f"{head}.{body}.{b64url(s)}"

    def jwk(self, name, kid, alg=None):
        """The public key `name` as a JWK (or the HMAC secret for name "oct")."""
        if name == "oct":
            j = {"kty": "oct", "k": b64url(self.secret)}
        else:
            der = _run(["openssl", "pkey", "-pubin", "-in", self.pub(name), "-outform", "DER"])
            bits = _spki_bits(der)
            if name == "rsa":
                _, s, _ = _der_item(bits, 0)
                _, ns, ne = _der_item(bits, s)
                _, es, ee = _der_item(bits, ne)
                n = bits[ns:ne].lstrip(b"\0")
                j = {"kty": "RSA", "n": b64url(n), "e": b64url(bits[es:ee])}
            elif name in ("ec256", "ec384"):
                size = 32 if name == "ec256" else 48
                assert bits[0] == 4
                j = {"kty": "EC", "crv": "P-256" if size == 32 else "P-384",
                     "x": b64url(bits[1:1 + size]), "y": b64url(bits[1 + size:])}
            else:
                j = {"kty": "OKP", "crv": "Ed25519", "x": b64url(bits)}
        j["kid"] = kid
        if alg:
            j["alg"] = alg
        j["use"] = "sig"
        return j
