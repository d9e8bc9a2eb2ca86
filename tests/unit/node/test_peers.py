"""Admission rules: the allow-lists and our AE title, and who gives way at a limit."""

from __future__ import annotations

import pytest

from node.peers import (
    REFUSALS,
    ConnectionTable,
    PeerPolicy,
    Phase,
    Reason,
    normalise_ip,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Closed(list[str]):
    def closer(self, name: str):  # type: ignore[no-untyped-def]
        return lambda: self.append(name)


def test_called_ae_must_be_ours() -> None:
    policy = PeerPolicy("FACENODE")
    assert policy.check_request("ANY", "FACENODE") is None
    assert policy.check_request("ANY", "FACENODE  ") is None  # padding is not significant
    refusal = policy.check_request("ANY", "ANY-SCP")
    assert refusal is not None and refusal.reason is Reason.CALLED_AE
    assert (refusal.result, refusal.source, refusal.diagnostic) == (1, 1, 7)


def test_calling_ae_allow_list() -> None:
    policy = PeerPolicy("FACENODE", calling_ae_titles=["PACS", "MODALITY"])
    assert policy.check_request("PACS", "FACENODE") is None
    refusal = policy.check_request("INTRUDER", "FACENODE")
    assert refusal is not None and refusal.reason is Reason.CALLING_AE
    assert (refusal.result, refusal.source, refusal.diagnostic) == (1, 1, 3)
    assert PeerPolicy("FACENODE").check_request("INTRUDER", "FACENODE") is None  # empty: any


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [("10.1.2.3", True), ("192.168.1.20", True), ("192.168.1.21", False),
     ("::ffff:10.0.0.9", True), ("127.0.0.1", False), ("fd00::1", True), ("fe80::1", False),
     ("not-an-ip", False)],
)
def test_peer_networks(ip: str, allowed: bool) -> None:
    policy = PeerPolicy("FACENODE", networks=["10.0.0.0/8", "192.168.1.20/32", "fd00::/8"])
    assert policy.network_allows(ip) is allowed
    assert PeerPolicy("FACENODE").network_allows(ip)  # empty: any


def test_ipv4_mapped_addresses_are_keyed_as_ipv4() -> None:
    assert normalise_ip("::ffff:10.0.0.9") == "10.0.0.9"
    assert normalise_ip("fe80::1%eth0") == "fe80::1"


def test_silent_connections_of_one_peer_make_room_for_its_next() -> None:
    clock, closed = Clock(), Closed()
    table = ConnectionTable(max_total=10, max_per_peer=2, waiting_timeout_s=10, clock=clock)
    a = table.open("10.0.0.1", closed.closer("a"))
    clock.now += 1
    table.open("10.0.0.1", closed.closer("b"))
    clock.now += 1
    c = table.open("10.0.0.1", closed.closer("c"))  # the oldest silent one gives way
    assert closed == ["a"] and a.phase is Phase.CLOSED
    assert table.admit(c) is None and c.phase is Phase.ASSOCIATED
    assert table.admit(a) == REFUSALS[Reason.CLOSED]  # an evicted connection is not admitted


def test_silent_connections_of_many_peers_make_room_for_a_new_one() -> None:
    clock, closed = Clock(), Closed()
    table = ConnectionTable(max_total=3, max_per_peer=3, waiting_timeout_s=10, clock=clock)
    for i in range(3):
        table.open(f"10.0.0.{i}", closed.closer(str(i)))
        clock.now += 1
    new = table.open("10.9.9.9", closed.closer("new"))
    assert closed == ["0"]
    assert table.admit(new) is None


def test_overdue_silent_connections_are_closed() -> None:
    clock, closed = Clock(), Closed()
    table = ConnectionTable(max_total=10, max_per_peer=5, waiting_timeout_s=10, clock=clock)
    table.open("10.0.0.1", closed.closer("old"))
    clock.now += 12.5  # past acse timeout + grace: its own timer should have fired
    assert table.counts() == {"waiting": 0, "associated": 0}
    assert closed == ["old"]


def test_per_peer_limit_evicts_the_idlest_association_of_that_peer() -> None:
    clock, closed = Clock(), Closed()
    table = ConnectionTable(max_total=10, max_per_peer=2, waiting_timeout_s=10,
                            idle_evictable_s=3, clock=clock)
    first = table.open("10.0.0.1", closed.closer("first"))
    assert table.admit(first) is None
    clock.now += 1
    second = table.open("10.0.0.1", closed.closer("second"))
    assert table.admit(second) is None
    other = table.open("10.0.0.2", closed.closer("other"))  # another peer, idle for longest
    clock.now -= 5
    assert table.admit(other) is None
    clock.now += 5
    # the peer's associations are too recent to count as idle: refused, transient
    third = table.open("10.0.0.1", closed.closer("third"))
    refusal = table.admit(third)
    assert refusal == REFUSALS[Reason.PEER_LIMIT]
    assert (refusal.result, refusal.source, refusal.diagnostic) == (2, 3, 2)
    clock.now += 2.5
    table.touch(second)  # second just received a PDU
    fourth = table.open("10.0.0.1", closed.closer("fourth"))
    assert table.admit(fourth) is None
    assert closed == ["first"]  # the idlest of that peer, not the other peer's
    assert table.counts() == {"waiting": 1, "associated": 3}  # third still waits


def test_an_association_handling_a_request_is_never_evicted() -> None:
    clock, closed = Clock(), Closed()
    table = ConnectionTable(max_total=1, max_per_peer=1, waiting_timeout_s=10,
                            idle_evictable_s=3, clock=clock)
    busy = table.open("10.0.0.1", closed.closer("busy"))
    assert table.admit(busy) is None
    with table.busy(busy):
        clock.now += 60  # a long C-STORE: no PDU, but not idle
        late = table.open("10.0.0.2", closed.closer("late"))
        assert table.admit(late) == REFUSALS[Reason.TOTAL_LIMIT]
        table.closed(late)  # as the listener does after the A-ASSOCIATE-RJ
    clock.now += 5
    again = table.open("10.0.0.2", closed.closer("again"))
    assert table.admit(again) is None
    assert closed == ["busy"]


def test_evict_callback_preferred_and_ended_connections_forgotten() -> None:
    clock, closed = Clock(), Closed()
    table = ConnectionTable(max_total=2, max_per_peer=2, waiting_timeout_s=10,
                            idle_evictable_s=3, clock=clock)
    a = table.open("10.0.0.1", closed.closer("a-close"))
    a.evict = closed.closer("a-evict")
    assert table.admit(a) is None
    b = table.open("10.0.0.2", closed.closer("b"))
    assert table.admit(b) is None
    b.alive = lambda: False  # released: its slot is free again
    clock.now += 10
    c = table.open("10.0.0.3", closed.closer("c"))
    assert table.admit(c) is None
    assert closed == []  # room without evicting anyone
    d = table.open("10.0.0.4", closed.closer("d"))
    assert table.admit(d) is None
    assert closed == ["a-evict"]
