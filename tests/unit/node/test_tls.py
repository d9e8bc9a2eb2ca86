"""TLS contexts from the settings: verification modes, TLS 1.2 floor, host-name check, and
a readable error for a file that cannot be used."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from config.settings import Destination, load_settings
from node.tls import TlsConfigError, client_context, server_context
from tests.support.pki import Leaf, make_ca, make_leaf


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Leaf, Leaf]:
    folder = tmp_path_factory.mktemp("pki")
    ca = make_ca(folder, "ca")
    return ca, make_leaf(ca, folder, "node")


def _settings(pki: tuple[Leaf, Leaf], **kw: object):  # type: ignore[no-untyped-def]
    ca, node = pki
    return load_settings(env={}, tls_port=2762, tls_cert_file=node.cert,
                         tls_key_file=node.key, **kw)


@pytest.mark.parametrize(
    ("with_ca", "required", "mode"),
    [(False, False, ssl.CERT_NONE), (True, False, ssl.CERT_OPTIONAL),
     (True, True, ssl.CERT_REQUIRED)],
)
def test_server_verification_modes(pki: tuple[Leaf, Leaf], with_ca: bool, required: bool,
                                   mode: ssl.VerifyMode) -> None:
    extra = {"tls_ca_file": pki[0].cert} if with_ca else {}
    ctx = server_context(_settings(pki, tls_require_client_cert=required, **extra))
    assert ctx.verify_mode == mode
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2


def test_client_verifies_certificate_and_host_name(pki: tuple[Leaf, Leaf]) -> None:
    dest = Destination(name="P", ae_title="P", host="10.0.0.5", port=2762, tls=True,
                       tls_ca_file=pki[0].cert)
    ctx = client_context(dest, _settings(pki))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "ca"),),)]
    system = client_context(Destination(name="P", ae_title="P", host="h", port=1, tls=True))
    assert system.verify_mode == ssl.CERT_REQUIRED and system.check_hostname


def test_unusable_files_are_named(pki: tuple[Leaf, Leaf], tmp_path: Path) -> None:
    with pytest.raises(TlsConfigError, match="nope.crt"):
        server_context(load_settings(env={}, tls_port=2762, tls_cert_file=tmp_path / "nope.crt",
                                     tls_key_file=pki[1].key))
    with pytest.raises(TlsConfigError, match="CA bundle .*missing.pem"):
        server_context(_settings(pki, tls_ca_file=tmp_path / "missing.pem"))
