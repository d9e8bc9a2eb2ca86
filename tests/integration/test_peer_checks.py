"""Who may associate (issue 11 item 4): the called AE title must be ours, the calling AE
title and the source address must be on their allow-lists when those are set; each
refusal is an A-ASSOCIATE-RJ with its reason (or, for a foreign network, a connection
closed before anything is read) and a decision with the peer's IP and both AE titles."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, evt
from sqlalchemy import select

from config.settings import load_settings
from node.db import Instance, open_database
from node.peers import AssociationDecision, Reason
from node.scp import start_scp
from node.storage import Storage
from tests.integration.conftest import storescu
from tests.support.net import free_port

pytestmark = pytest.mark.integration


class Scp:
    def __init__(self, tmp_path: Path, **overrides: Any) -> None:
        self.settings = load_settings(env={}, storage_dir=tmp_path / "var", port=free_port(),
                                      bind_address="127.0.0.1", min_free_disk_mb=0,
                                      **overrides)
        self.sessions = open_database(self.settings.db_url)
        self.decisions: list[AssociationDecision] = []
        self.listener = start_scp(self.settings, Storage(self.settings.storage_dir),
                                  self.sessions, on_association=self.decisions.append)

    def stored(self) -> int:
        with self.sessions() as s:
            return len(s.scalars(select(Instance)).all())


@pytest.fixture
def scp(tmp_path: Path) -> Iterator[Callable[..., Scp]]:
    started: list[Scp] = []

    def start(**overrides: Any) -> Scp:
        started.append(Scp(tmp_path, **overrides))
        return started[-1]

    yield start
    for s in started:
        s.listener.shutdown()


def _echo_from(source: str, port: int, calling: str = "PROBE") -> bool:
    ae = AE(ae_title=calling)
    ae.add_requested_context("1.2.840.10008.1.1")
    opened: list[socket.socket] = []  # pynetdicom does not close it when the peer hung up

    def keep(event: evt.Event) -> None:
        opened.append(event.assoc.dul.socket.socket)

    assoc = ae.associate("127.0.0.1", port, ae_title="FACENODE", bind_address=(source, 0),
                         evt_handlers=[(evt.EVT_CONN_OPEN, keep)])
    try:
        return assoc.is_established and assoc.send_c_echo().Status == 0
    finally:
        if assoc.is_established:
            assoc.release()
        for sock in opened:
            sock.close()


def test_an_association_calling_another_ae_title_is_rejected(
    scp: Callable[..., Scp], astronaut_photo: Path
) -> None:
    node = scp()
    out = storescu(astronaut_photo, node.settings.port, "ANY-SCP")
    assert out.returncode != 0
    assert "called ae title not recognized" in (out.stdout + out.stderr).lower()
    assert node.stored() == 0
    assert node.decisions == [AssociationDecision(
        accepted=False, reason=str(Reason.CALLED_AE), peer_ip="127.0.0.1",
        calling_ae="STORESCU", called_ae="ANY-SCP")]
    assert storescu(astronaut_photo, node.settings.port, "FACENODE").returncode == 0
    assert node.decisions[-1].accepted


def test_calling_ae_title_allow_list(scp: Callable[..., Scp], astronaut_photo: Path) -> None:
    node = scp(accepted_calling_ae_titles=["PACS"])
    out = storescu(astronaut_photo, node.settings.port, "FACENODE", calling_ae="STORESCU")
    assert out.returncode != 0
    assert "calling ae title not recognized" in (out.stdout + out.stderr).lower()
    assert node.decisions[-1].reason == Reason.CALLING_AE
    assert node.decisions[-1].calling_ae == "STORESCU"
    out = storescu(astronaut_photo, node.settings.port, "FACENODE", calling_ae="PACS")
    assert out.returncode == 0, out.stderr
    assert node.stored() == 1


def test_a_foreign_network_is_refused_before_any_dicom(
    scp: Callable[..., Scp], astronaut_photo: Path
) -> None:
    node = scp(accepted_peer_networks=["10.0.0.0/8"])
    out = storescu(astronaut_photo, node.settings.port, "FACENODE")
    assert out.returncode != 0
    assert node.stored() == 0
    assert node.decisions == [AssociationDecision(
        accepted=False, reason=str(Reason.PEER_NETWORK), peer_ip="127.0.0.1",
        calling_ae="", called_ae="")]


def test_peer_network_allow_list_admits_its_members_only(scp: Callable[..., Scp]) -> None:
    node = scp(accepted_peer_networks=["127.0.0.1", "127.0.1.0/24"])
    assert _echo_from("127.0.0.1", node.settings.port)
    assert _echo_from("127.0.1.7", node.settings.port)
    assert not _echo_from("127.0.0.2", node.settings.port)
    assert [(d.peer_ip, d.accepted) for d in node.decisions] == [
        ("127.0.0.1", True), ("127.0.1.7", True), ("127.0.0.2", False)]
