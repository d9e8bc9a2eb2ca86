"""TLS contexts for DICOM's secure transport connection profiles (PS3.15 B.1 / B.2, BCP 195).

The listener serves the node's certificate and, with a CA bundle, verifies the clients'
(required under mutual TLS, else checked when offered); the sender verifies the
destination's certificate and host name and presents the node's certificate when it has
one. TLS 1.2 is the floor, as BCP 195 asks; Python's default cipher list already excludes
the suites it forbids.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from config.errors import FacenodeError
from config.settings import Destination, Settings


class TlsConfigError(FacenodeError):
    """A certificate, key or CA file named in the settings cannot be used."""


def server_context(settings: Settings) -> ssl.SSLContext:
    """The context of the TLS listener (``tls_port``)."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        raise TlsConfigError("tls_port needs tls_cert_file and tls_key_file")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(ctx, settings.tls_cert_file, settings.tls_key_file)
    if settings.tls_ca_file is not None:
        _load_ca(ctx, settings.tls_ca_file)
        ctx.verify_mode = (
            ssl.CERT_REQUIRED if settings.tls_require_client_cert else ssl.CERT_OPTIONAL
        )
    return ctx


def client_context(destination: Destination, settings: Settings | None = None) -> ssl.SSLContext:
    """The context for one TLS destination: its CA only (else the node's CA only, else the
    system's CAs), host-name check on, the node's certificate presented when configured."""
    ca = destination.tls_ca_file or (settings.tls_ca_file if settings else None)
    if ca is None:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificate and host name
        _load_ca(ctx, ca)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings and settings.tls_cert_file is not None and settings.tls_key_file is not None:
        _load_chain(ctx, settings.tls_cert_file, settings.tls_key_file)
    return ctx


def _load_chain(ctx: ssl.SSLContext, cert: Path, key: Path) -> None:
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(
            f"cannot load the certificate {cert} with the key {key}: {exc}"
        ) from None


def _load_ca(ctx: ssl.SSLContext, ca: Path) -> None:
    try:
        ctx.load_verify_locations(cafile=str(ca))
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"cannot load the CA bundle {ca}: {exc}") from None
