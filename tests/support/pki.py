"""Real certificates for TLS tests, made with the ``openssl`` command line: a CA, leaf
certificates it signs (for 127.0.0.1 and localhost), and a rogue CA nobody trusts."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = "/usr/bin/openssl"
_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Leaf:
    cert: Path
    key: Path


def _run(*args: str) -> None:
    out = subprocess.run([OPENSSL, *args], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {out.stderr}")


def make_ca(folder: Path, name: str) -> Leaf:
    folder.mkdir(parents=True, exist_ok=True)
    ca = Leaf(folder / f"{name}.crt", folder / f"{name}.key")
    _run("req", "-x509", *_EC, "-keyout", str(ca.key), "-out", str(ca.cert), "-days", "2",
         "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return ca


def make_leaf(ca: Leaf, folder: Path, name: str) -> Leaf:
    """A certificate for ``name`` signed by ``ca``, good for server and client use on
    127.0.0.1 / localhost."""
    leaf = Leaf(folder / f"{name}.crt", folder / f"{name}.key")
    csr, ext = folder / f"{name}.csr", folder / f"{name}.ext"
    ext.write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyAgreement\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    _run("req", *_EC, "-keyout", str(leaf.key), "-out", str(csr), "-subj", f"/CN={name}")
    _run("x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
         "-CAcreateserial", "-out", str(leaf.cert), "-days", "2", "-extfile", str(ext))
    leaf.key.chmod(0o600)
    return leaf
