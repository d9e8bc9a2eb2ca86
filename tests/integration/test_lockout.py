"""No lock-out (issue 11 item 3), against the node as a subprocess: idle associations,
silent TCP connections, half-sent PDUs and PDU headers announcing gigabytes cannot keep a
legitimate sender (dcmtk's storescu) out.

Linux routes all of 127.0.0.0/8 to the loopback interface, so the "other hosts" here are
clients bound to 127.0.0.2, 127.0.0.3, ... while the legitimate sender is 127.0.0.1.
"""

from __future__ import annotations

import socket
import sqlite3
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pynetdicom import AE
from pynetdicom.association import Association

from node.peers import IDLE_EVICTABLE_S
from tests.integration.conftest import storescu
from tests.support.node_proc import NodeProcess

pytestmark = pytest.mark.integration

VERIFICATION = "1.2.840.10008.1.1"


def _hold_idle(port: int, n: int, source: str) -> list[Association]:
    """``n`` association requests from ``source`` that then do nothing."""
    held = []
    for _ in range(n):
        ae = AE(ae_title="IDLER")
        ae.add_requested_context(VERIFICATION)
        ae.network_timeout = 300  # the client side never gives up first
        held.append(ae.associate("127.0.0.1", port, ae_title="FACENODE",
                                 bind_address=(source, 0)))
    return held


def _hold_silent(port: int, n: int, source: str) -> list[socket.socket]:
    """``n`` TCP connections from ``source`` that never send a byte."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        socks.append(s)
    return socks


def _half_pdus(port: int, n: int, source: str) -> list[socket.socket]:
    """``n`` connections that start an A-ASSOCIATE-RQ of 1000 bytes and stop after 10."""
    socks = _hold_silent(port, n, source)
    for s in socks:
        s.sendall(b"\x01\x00" + struct.pack(">L", 1000) + b"\x00" * 10)
    return socks


def _release(held: list[Association], socks: list[socket.socket]) -> None:
    for assoc in held:
        if assoc.is_established:
            assoc.abort()
    for s in socks:
        s.close()


def _stored(node: NodeProcess) -> int:
    with sqlite3.connect(node.root / "var" / "facenode.db") as db:
        return int(db.execute("select count(*) from instances where role = 'photo'").fetchone()[0])


def _timed_store(node: NodeProcess, photo: Path) -> float:
    start = time.monotonic()
    out = storescu(photo, node.port, "FACENODE")
    elapsed = time.monotonic() - start
    assert out.returncode == 0, out.stdout + out.stderr
    return elapsed


def _closed_within(sock: socket.socket, timeout: float) -> float | None:
    """Seconds until the node closes ``sock`` (None: still open after ``timeout``)."""
    start = time.monotonic()
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return None
    except OSError:
        pass  # reset: closed too
    return time.monotonic() - start


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    proc = NodeProcess(tmp_path / "node", env_extra={"FACENODE_ACSE_TIMEOUT_S": "3"})
    proc.start()
    yield proc
    proc.stop()


def test_other_hosts_idle_and_silent_connections_do_not_block_a_sender(
    node: NodeProcess, astronaut_photo: Path
) -> None:
    held = _hold_idle(node.port, 20, "127.0.0.2")
    socks = _hold_silent(node.port, 40, "127.0.0.3") + _half_pdus(node.port, 10, "127.0.0.4")
    try:
        established = sum(a.is_established for a in held)
        assert established == 8, "max_associations_per_peer (8) bounds one host"
        elapsed = _timed_store(node, astronaut_photo)
        assert elapsed < 3.0, f"the store took {elapsed:.1f} s"
        assert _stored(node) == 1
    finally:
        _release(held, socks)
    log = node.log_text()
    assert "association refused from 127.0.0.2 over TCP: calling 'IDLER', called 'FACENODE': " \
           "max_associations_per_peer reached, none idle" in log
    assert "association accepted from 127.0.0.1 over TCP: calling 'STORESCU'" in log


def test_a_sender_that_leaked_its_own_associations_still_gets_in(
    node: NodeProcess, astronaut_photo: Path
) -> None:
    """Everything from 127.0.0.1, as a PACS whose own idle associations and dead
    connections pile up: its next association evicts the idlest one of its own."""
    held = _hold_idle(node.port, 20, "127.0.0.1")
    socks = _hold_silent(node.port, 40, "127.0.0.1")
    try:
        time.sleep(IDLE_EVICTABLE_S + 0.5)  # only associations idle this long give way
        elapsed = _timed_store(node, astronaut_photo)
        assert elapsed < 3.0, f"the store took {elapsed:.1f} s"
        assert _stored(node) == 1
        assert sum(a.is_established for a in held) == 7, "exactly one idle association evicted"
    finally:
        _release(held, socks)
    assert "aborted an association from 127.0.0.1 idle for" in node.log_text()


def test_silent_and_half_sent_connections_are_closed_after_the_acse_timeout(
    node: NodeProcess,
) -> None:
    [silent] = _hold_silent(node.port, 1, "127.0.0.5")
    [half] = _half_pdus(node.port, 1, "127.0.0.6")
    try:
        closed_after = _closed_within(silent, 10)
        assert closed_after is not None and 2.0 < closed_after < 4.5, closed_after
        # the half PDU is read by pynetdicom (its socket has a read timeout) or dropped by
        # the table once past the ACSE timeout: closed within acse + grace
        closed_after = _closed_within(half, 10)
        assert closed_after is not None and closed_after < 6.0, closed_after
    finally:
        _release([], [silent, half])


def test_a_pdu_header_announcing_gigabytes_is_not_read_into_memory(
    node: NodeProcess, astronaut_photo: Path
) -> None:
    s = socket.create_connection(("127.0.0.1", node.port))
    try:
        s.sendall(b"\x01\x00" + struct.pack(">L", 0xFFFFFFF0))
        sent = 0
        with pytest.raises(OSError):  # the node closes the connection: reset or broken pipe
            chunk = b"\x00" * 65536
            for _ in range(4096):  # 256 MiB at most, a reset comes long before
                sent += s.send(chunk)
        assert sent < 64 << 20
    finally:
        s.close()
    _timed_store(node, astronaut_photo)  # and the node still serves


def test_idle_associations_are_ended_by_the_network_timeout(
    tmp_path: Path, astronaut_photo: Path
) -> None:
    node = NodeProcess(tmp_path / "node", env_extra={"FACENODE_NETWORK_TIMEOUT_S": "2"})
    node.start()
    try:
        held = _hold_idle(node.port, 3, "127.0.0.7")
        assert all(a.is_established for a in held)
        deadline = time.monotonic() + 10
        while any(a.is_established for a in held) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(a.is_established for a in held), "the node aborts silent associations"
        _release(held, [])
    finally:
        node.stop()
