"""Who may talk to the listener, and how many at once.

:class:`PeerPolicy` judges who a connection or association request is from: its source
address (``accepted_peer_networks``), the called AE title (must be ours) and the calling AE
title (``accepted_calling_ae_titles``). :class:`ConnectionTable` counts the open
connections per peer IP address and overall and decides who gives way at a limit, so that
neither silent connections nor idle associations keep a legitimate sender out:

- a connection that has not sent its A-ASSOCIATE-RQ yet (TLS handshake included) is
  *waiting*; it is closed after ``acse_timeout_s``, and when one peer's waiting
  connections (or everyone's) reach the limit, the oldest waiting one is closed to make
  room for the new one — a sender sends its request within milliseconds of connecting;
- when one peer's associations (or everyone's) reach the limit, the one idle longest — no
  PDU for at least :data:`IDLE_EVICTABLE_S` and no request being handled — is aborted to
  make room; only when none is idle is the request rejected (transient, local limit
  exceeded), and the sender retries.

Every admission decision becomes one :class:`AssociationDecision`, handed to a single
callback (``on_association``; :func:`log_decision` by default): the audit trail plugs in
there.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

from config.settings import Settings

log = logging.getLogger(__name__)

#: An association with no PDU for this many seconds and no request in progress may be
#: aborted to admit another when a limit is reached (never otherwise: idle associations
#: are only ended by ``network_timeout_s``).
IDLE_EVICTABLE_S = 3.0

#: The grace beyond ``acse_timeout_s`` after which a connection still waiting for its
#: A-ASSOCIATE-RQ is closed by the table itself (normally its own timer closes it first).
WAITING_GRACE_S = 2.0


class Reason(StrEnum):
    """Why an association was accepted or refused (the audit trail stores these)."""

    ACCEPTED = "accepted"
    PEER_NETWORK = "peer address not in accepted_peer_networks"
    CALLED_AE = "called AE title not recognised"
    CALLING_AE = "calling AE title not in accepted_calling_ae_titles"
    PEER_LIMIT = "max_associations_per_peer reached, none idle"
    TOTAL_LIMIT = "max_associations reached, none idle"
    TLS_HANDSHAKE = "TLS handshake failed"
    CLOSED = "connection closed to make room before its request was judged"
    INTERNAL = "internal error while judging the request"


@dataclass(frozen=True)
class Refusal:
    """A reason with its A-ASSOCIATE-RJ result, source and diagnostic (PS3.8 Table 9-21)."""

    reason: Reason
    result: int  # 1 rejected-permanent, 2 rejected-transient
    source: int  # 1 service user, 2 service provider (ACSE), 3 service provider (presentation)
    diagnostic: int


REFUSALS = {
    Reason.CALLED_AE: Refusal(Reason.CALLED_AE, 0x01, 0x01, 0x07),
    Reason.CALLING_AE: Refusal(Reason.CALLING_AE, 0x01, 0x01, 0x03),
    Reason.PEER_LIMIT: Refusal(Reason.PEER_LIMIT, 0x02, 0x03, 0x02),  # local-limit-exceeded
    Reason.TOTAL_LIMIT: Refusal(Reason.TOTAL_LIMIT, 0x02, 0x03, 0x02),
    Reason.CLOSED: Refusal(Reason.CLOSED, 0x02, 0x03, 0x01),  # temporary congestion
    Reason.INTERNAL: Refusal(Reason.INTERNAL, 0x02, 0x01, 0x01),  # transient, no reason
}


@dataclass(frozen=True)
class AssociationDecision:
    """One admission decision: an association request accepted or rejected, or a
    connection refused before any request (then ``calling_ae`` and ``called_ae`` are "")."""

    accepted: bool
    reason: str
    peer_ip: str
    calling_ae: str
    called_ae: str
    tls: bool = False


OnAssociation = Callable[[AssociationDecision], None]


def log_decision(decision: AssociationDecision) -> None:
    """The default ``on_association``: accepted at INFO, refused at WARNING."""
    transport = "TLS" if decision.tls else "TCP"
    if decision.accepted:
        log.info("association accepted from %s over %s: calling %r, called %r",
                 decision.peer_ip, transport, decision.calling_ae, decision.called_ae)
    else:
        log.warning("association refused from %s over %s: calling %r, called %r: %s",
                    decision.peer_ip, transport, decision.calling_ae, decision.called_ae,
                    decision.reason)


def normalise_ip(address: str) -> str:
    """``address`` as the table keys it: an IPv4-mapped IPv6 address as plain IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class PeerPolicy:
    """The allow-lists and our AE title; empty lists allow anyone."""

    def __init__(self, ae_title: str, calling_ae_titles: Sequence[str] = (),
                 networks: Sequence[str] = ()) -> None:
        self.ae_title = ae_title.strip()
        self.calling_ae_titles = frozenset(a.strip() for a in calling_ae_titles)
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]

    @classmethod
    def from_settings(cls, settings: Settings) -> PeerPolicy:
        return cls(settings.ae_title, settings.accepted_calling_ae_titles,
                   settings.accepted_peer_networks)

    def network_allows(self, peer_ip: str) -> bool:
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address(normalise_ip(peer_ip))
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in self.networks)

    def check_request(self, calling_ae: str, called_ae: str) -> Refusal | None:
        """The refusal for an A-ASSOCIATE-RQ with these AE titles, or None."""
        if called_ae.strip() != self.ae_title:
            return REFUSALS[Reason.CALLED_AE]
        if self.calling_ae_titles and calling_ae.strip() not in self.calling_ae_titles:
            return REFUSALS[Reason.CALLING_AE]
        return None


class Phase(StrEnum):
    WAITING = "waiting"  # connected; no A-ASSOCIATE-RQ admitted yet
    ASSOCIATED = "associated"
    CLOSED = "closed"


def _alive() -> bool:
    return True


@dataclass(eq=False)
class Connection:
    """One accepted TCP connection as the table sees it.

    ``close`` shuts its socket (waking whoever reads it); ``evict``, set once associated,
    aborts it politely (A-ABORT, then close); ``alive`` says whether it still holds a slot;
    ``quiet_for``, when set, says how long ago its last PDU arrived (pynetdicom's own idle
    timer, so no code runs per PDU). All must return at once.
    """

    peer_ip: str
    opened_at: float
    close: Callable[[], None]
    last_activity: float = 0.0
    phase: Phase = Phase.WAITING
    busy: int = 0
    evict: Callable[[], None] | None = None
    alive: Callable[[], bool] = field(default=_alive)
    quiet_for: Callable[[], float] | None = None

    def idle_s(self, now: float) -> float:
        """Seconds since anything happened: its last PDU, or admission or the end of a
        request, whichever is later."""
        idle = now - self.last_activity
        return min(idle, self.quiet_for()) if self.quiet_for is not None else idle


class ConnectionTable:
    """Open connections, limits, and who gives way (see the module docstring)."""

    def __init__(self, max_total: int, max_per_peer: int, waiting_timeout_s: float,
                 idle_evictable_s: float = IDLE_EVICTABLE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_total = max_total
        self.max_per_peer = max_per_peer
        self.waiting_timeout_s = waiting_timeout_s
        self.idle_evictable_s = idle_evictable_s
        self.clock = clock
        self._lock = threading.Lock()
        self._conns: list[Connection] = []

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionTable:
        return cls(settings.max_associations, settings.max_associations_per_peer,
                   settings.acse_timeout_s)

    def open(self, peer_ip: str, close: Callable[[], None]) -> Connection:
        """Register a new connection (waiting); close the oldest waiting one of the same
        peer (or of all) when the waiting ones are at the limit."""
        with self._lock:
            now = self.clock()
            victims = self._prune(now)
            waiting = [c for c in self._conns if c.phase is Phase.WAITING]
            same_peer = [c for c in waiting if c.peer_ip == peer_ip]
            if len(same_peer) >= self.max_per_peer:
                victims.append(self._drop(min(same_peer, key=lambda c: c.opened_at)))
            elif len(waiting) >= self.max_total:
                victims.append(self._drop(min(waiting, key=lambda c: c.opened_at)))
            conn = Connection(peer_ip, now, close, last_activity=now)
            self._conns.append(conn)
        for victim in victims:
            log.info("closed a connection from %s that sent no association request for "
                     "%.1f s, to make room", victim.peer_ip, now - victim.opened_at)
            victim.close()
        return conn

    def admit(self, conn: Connection) -> Refusal | None:
        """At its A-ASSOCIATE-RQ: make ``conn`` associated, aborting the idlest association
        of the same peer (or of all) at a limit; the refusal when none can give way."""
        evicted: Connection | None = None
        with self._lock:
            now = self.clock()
            victims = self._prune(now)
            if conn.phase is not Phase.WAITING:
                refusal: Refusal | None = REFUSALS[Reason.CLOSED]
            else:
                refusal, evicted = self._make_room(conn.peer_ip, now)
                if refusal is None:
                    conn.phase = Phase.ASSOCIATED
                    conn.last_activity = now
        for victim in victims:
            victim.close()
        if evicted is not None:
            log.info("aborted an association from %s idle for %.1f s, to admit one from %s",
                     evicted.peer_ip, evicted.idle_s(now), conn.peer_ip)
            (evicted.evict or evicted.close)()
        return refusal

    def _make_room(self, peer_ip: str, now: float) -> tuple[Refusal | None, Connection | None]:
        associated = [c for c in self._conns if c.phase is Phase.ASSOCIATED]
        same_peer = [c for c in associated if c.peer_ip == peer_ip]
        if len(same_peer) >= self.max_per_peer:
            pool, reason = same_peer, Reason.PEER_LIMIT
        elif len(associated) >= self.max_total:
            pool, reason = associated, Reason.TOTAL_LIMIT
        else:
            return None, None
        idle = {c: c.idle_s(now) for c in pool if c.busy == 0}
        idle = {c: seconds for c, seconds in idle.items() if seconds >= self.idle_evictable_s}
        if not idle:
            return REFUSALS[reason], None
        return None, self._drop(max(idle, key=lambda c: idle[c]))

    def touch(self, conn: Connection) -> None:
        """Something happened on ``conn`` (for connections without ``quiet_for``)."""
        conn.last_activity = self.clock()

    @contextmanager
    def busy(self, conn: Connection | None) -> Iterator[None]:
        """``conn`` is handling a request: not idle, whatever the clock says."""
        if conn is None:
            yield
            return
        with self._lock:
            conn.busy += 1
        try:
            yield
        finally:
            with self._lock:
                conn.busy -= 1
                conn.last_activity = self.clock()

    def closed(self, conn: Connection) -> None:
        """``conn`` ended (or gave up before being handed on)."""
        with self._lock:
            if conn in self._conns:
                self._drop(conn)

    def close_all(self) -> None:
        with self._lock:
            conns = [self._drop(c) for c in list(self._conns)]
        for conn in conns:
            conn.close()

    def counts(self) -> dict[str, int]:
        """How many connections are waiting and associated (for tests and status)."""
        with self._lock:
            overdue = self._prune(self.clock())
            counts = {
                phase.value: sum(1 for c in self._conns if c.phase is phase)
                for phase in (Phase.WAITING, Phase.ASSOCIATED)
            }
        for conn in overdue:
            conn.close()
        return counts

    def _drop(self, conn: Connection) -> Connection:
        conn.phase = Phase.CLOSED
        self._conns.remove(conn)
        return conn

    def _prune(self, now: float) -> list[Connection]:
        """Forget ended connections; return the waiting ones past their time, to close."""
        overdue = []
        for conn in list(self._conns):
            if not conn.alive():
                self._drop(conn)
            elif (conn.phase is Phase.WAITING
                  and now - conn.opened_at > self.waiting_timeout_s + WAITING_GRACE_S):
                overdue.append(self._drop(conn))
        return overdue
