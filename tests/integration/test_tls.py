"""DICOM TLS (issue 11 item 4) with real certificates (openssl) against dcmtk's TLS-enabled
storescu / storescp: the listener, mutual TLS, and the outbound sender."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from sqlalchemy import select

from config.settings import Destination, Settings, load_settings
from node.db import Instance, open_database
from node.listener import Listener
from node.peers import AssociationDecision, Reason
from node.scp import start_scp
from node.sender import DicomSender, SendError
from node.storage import Storage
from tests.integration.conftest import storescu
from tests.support.net import free_port, wait_for_port, wait_until
from tests.support.node_proc import NodeProcess
from tests.support.pki import Leaf, make_ca, make_leaf

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Pki:
    ca: Leaf
    node: Leaf
    pacs: Leaf
    rogue: Leaf  # signed by a CA nobody trusts
    rogue_ca: Leaf


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, rogue_ca = make_ca(folder, "clinic-ca"), make_ca(folder, "rogue-ca")
    return Pki(ca, make_leaf(ca, folder, "node"), make_leaf(ca, folder, "pacs"),
               make_leaf(rogue_ca, folder, "rogue"), rogue_ca)


class RunningNode:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.decisions: list[AssociationDecision] = []
        self.sessions = open_database(settings.db_url)
        self.listener: Listener = start_scp(settings, Storage(settings.storage_dir),
                                            self.sessions, on_association=self.decisions.append)

    def stored(self) -> int:
        with self.sessions() as s:
            return len(s.scalars(select(Instance)).all())


def _node(tmp_path: Path, pki: Pki, **overrides: Any) -> Iterator[RunningNode]:
    settings = load_settings(
        env={}, storage_dir=tmp_path / "var", port=free_port(), tls_port=free_port(),
        bind_address="127.0.0.1", min_free_disk_mb=0, acse_timeout_s=3,
        tls_cert_file=pki.node.cert, tls_key_file=pki.node.key, tls_ca_file=pki.ca.cert,
        **overrides,
    )
    node = RunningNode(settings)
    yield node
    node.listener.shutdown()


@pytest.fixture
def mutual(tmp_path: Path, pki: Pki) -> Iterator[RunningNode]:
    yield from _node(tmp_path, pki, tls_require_client_cert=True)


@pytest.fixture
def optional(tmp_path: Path, pki: Pki) -> Iterator[RunningNode]:
    yield from _node(tmp_path, pki, tls_require_client_cert=False)


def _tls(leaf: Leaf | None, ca: Leaf) -> tuple[str, ...]:
    """storescu's TLS options: its certificate (or none: anonymous TLS) and the CA it trusts."""
    mine = ("+tls", str(leaf.key), str(leaf.cert)) if leaf else ("+tla",)
    return (*mine, *(("-pw",) if leaf else ()), "+cf", str(ca.cert))


def _tls_failures(node: RunningNode, expected: int = 1) -> list[AssociationDecision]:
    """The handshake failures, once ``expected`` of them are there: the node sees its side
    of the handshake fail at about the moment the client does."""

    def found() -> list[AssociationDecision]:
        return [d for d in node.decisions if d.reason.startswith(Reason.TLS_HANDSHAKE)]

    wait_until(lambda: len(found()) >= expected, 10, what="the handshake failure decision")
    return found()


def test_storescu_over_mutual_tls_is_stored(mutual: RunningNode, pki: Pki,
                                            astronaut_photo: Path) -> None:
    out = storescu(astronaut_photo, mutual.settings.tls_port, "FACENODE",
                   extra=_tls(pki.pacs, pki.ca))
    assert out.returncode == 0, out.stdout + out.stderr
    assert mutual.stored() == 1
    [decision] = mutual.decisions
    assert decision.accepted and decision.tls and decision.peer_ip == "127.0.0.1"
    assert (decision.calling_ae, decision.called_ae) == ("STORESCU", "FACENODE")


@pytest.mark.parametrize("client", ["no certificate", "untrusted certificate"])
def test_mutual_tls_refuses_a_client_without_a_trusted_certificate(
    mutual: RunningNode, pki: Pki, astronaut_photo: Path, client: str
) -> None:
    leaf = pki.rogue if client == "untrusted certificate" else None
    out = storescu(astronaut_photo, mutual.settings.tls_port, "FACENODE", extra=_tls(leaf, pki.ca))
    assert out.returncode != 0
    assert mutual.stored() == 0
    [failure] = _tls_failures(mutual)
    assert not failure.accepted and failure.tls and failure.peer_ip == "127.0.0.1"
    assert not any(d.accepted for d in mutual.decisions)


def test_optional_client_certificate(optional: RunningNode, pki: Pki,
                                     astronaut_photo: Path) -> None:
    port = optional.settings.tls_port
    assert storescu(astronaut_photo, port, "FACENODE", extra=_tls(None, pki.ca)).returncode == 0
    out = storescu(astronaut_photo, port, "FACENODE", extra=_tls(pki.rogue, pki.ca))
    assert out.returncode != 0, "a certificate that is offered is verified"
    assert len(_tls_failures(optional)) == 1


def test_client_refuses_a_node_it_does_not_trust(mutual: RunningNode, pki: Pki,
                                                 astronaut_photo: Path) -> None:
    out = storescu(astronaut_photo, mutual.settings.tls_port, "FACENODE",
                   extra=_tls(pki.pacs, pki.rogue_ca))
    assert out.returncode != 0
    assert mutual.stored() == 0


def test_plain_dicom_on_the_tls_port_is_refused_and_the_plain_port_still_serves(
    mutual: RunningNode, astronaut_photo: Path
) -> None:
    start = time.monotonic()
    out = storescu(astronaut_photo, mutual.settings.tls_port, "FACENODE")
    assert out.returncode != 0 and time.monotonic() - start < 10
    assert storescu(astronaut_photo, mutual.settings.port, "FACENODE").returncode == 0
    assert mutual.stored() == 1


def test_clients_that_never_handshake_do_not_stop_the_tls_listener(
    mutual: RunningNode, pki: Pki, astronaut_photo: Path
) -> None:
    """pynetdicom alone runs the handshake on its accept thread: one such client would
    stop all accepting."""
    silent = [socket.create_connection(("127.0.0.1", mutual.settings.tls_port))
              for _ in range(5)]
    try:
        start = time.monotonic()
        out = storescu(astronaut_photo, mutual.settings.tls_port, "FACENODE",
                       extra=_tls(pki.pacs, pki.ca))
        assert out.returncode == 0, out.stdout + out.stderr
        assert time.monotonic() - start < 3
    finally:
        for s in silent:
            s.close()


class TlsStorescp:
    """dcmtk's storescp over TLS as the destination; it requires a client certificate."""

    def __init__(self, folder: Path, pki: Pki) -> None:
        self.port, self.received = free_port(), folder / "in"
        self.received.mkdir()
        self.proc = subprocess.Popen(
            ["/usr/bin/storescp", "+tls", str(pki.pacs.key), str(pki.pacs.cert), "-pw",
             "+cf", str(pki.ca.cert), "--aetitle", "PEER", "--output-directory",
             str(self.received), str(self.port)],
            env={**os.environ, "TCP_NODELAY": "1"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def destination(self, **kw: Any) -> Destination:
        return Destination(name="PEER", ae_title="PEER", host="127.0.0.1", port=self.port,
                           tls=True, **kw)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def peer(tmp_path: Path, pki: Pki) -> Iterator[TlsStorescp]:
    scp = TlsStorescp(tmp_path, pki)
    yield scp
    scp.stop()


def _sender(tmp_path: Path, pki: Pki, with_cert: bool = True) -> DicomSender:
    mine: dict[str, Any] = (
        {"tls_cert_file": pki.node.cert, "tls_key_file": pki.node.key} if with_cert else {}
    )
    settings = load_settings(env={}, storage_dir=tmp_path / "var", tls_ca_file=pki.ca.cert,
                             acse_timeout_s=5, connection_timeout_s=5, **mine)
    return DicomSender.from_settings(settings)


def test_sender_delivers_to_a_tls_storescp(tmp_path: Path, pki: Pki, peer: TlsStorescp,
                                           astronaut_photo: Path) -> None:
    sender = _sender(tmp_path, pki)
    assert sender.echo(peer.destination()) == 0
    assert sender.send(peer.destination(), [astronaut_photo]) == [0]
    [got] = list(peer.received.iterdir())
    assert dcmread(got).SOPInstanceUID == dcmread(astronaut_photo).SOPInstanceUID


def test_sender_refuses_a_destination_it_cannot_verify(tmp_path: Path, pki: Pki,
                                                       peer: TlsStorescp,
                                                       astronaut_photo: Path) -> None:
    with pytest.raises(SendError, match="over TLS"):
        _sender(tmp_path, pki).send(peer.destination(tls_ca_file=pki.rogue_ca.cert),
                                    [astronaut_photo])
    assert list(peer.received.iterdir()) == []


def test_sender_without_a_certificate_is_refused_by_a_mutual_tls_peer(
    tmp_path: Path, pki: Pki, peer: TlsStorescp, astronaut_photo: Path
) -> None:
    with pytest.raises(SendError):
        _sender(tmp_path, pki, with_cert=False).send(peer.destination(), [astronaut_photo])
    assert list(peer.received.iterdir()) == []


def test_serve_refuses_to_start_with_an_unusable_certificate(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path / "node", env_extra={
        "FACENODE_TLS_PORT": str(free_port()),
        "FACENODE_TLS_CERT_FILE": str(tmp_path / "absent.crt"),
        "FACENODE_TLS_KEY_FILE": str(tmp_path / "absent.key"),
    })
    out = node.cli("serve", timeout=120)
    assert out.returncode == 2
    assert "cannot load the certificate" in out.stderr and "absent.crt" in out.stderr
