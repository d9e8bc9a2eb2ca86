"""The listening sockets: pynetdicom's association server with admission control in front.

pynetdicom alone counts a silent TCP connection (no A-ASSOCIATE-RQ yet) as one of
``AE.maximum_associations`` until ``acse_timeout`` ends it, so a few dozen silent
connections or idle associations lock every sender out; it wraps TLS sockets on its accept
thread, where one client that never finishes its handshake stops all accepting; its
accepted sockets have no read timeout, so a PDU half sent holds its threads for ever; and
it reads a PDU of whatever length the header announces into memory. Here:

1. every connection is served on its own thread from the start; its address is checked
   against ``accepted_peer_networks`` (else closed before anything is read);
2. it is registered in the :class:`~node.peers.ConnectionTable` (which may close the oldest
   silent connection to make room, see there);
3. the TLS handshake (on the TLS port) and the first byte of the A-ASSOCIATE-RQ must come
   within ``acse_timeout_s``, on our thread, before pynetdicom gets the socket;
4. pynetdicom's association then runs on a socket with a read timeout (``acse_timeout_s``
   until the request is admitted, ``network_timeout_s`` after) and a PDU size limit
   (:data:`MAX_PDU_BYTES`); a sweeper closes connections whose request has not come
   within ``acse_timeout_s`` (plus a grace), however slowly their bytes trickle in;
5. at its A-ASSOCIATE-RQ the policy and the limits decide: accepted, or A-ASSOCIATE-RJ
   with the reason (:mod:`node.peers`), and the decision goes to ``on_association``.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.transport import (
    AssociationSocket,
    RequestHandler,
    ThreadedAssociationServer,
)

from config.settings import Settings
from node.peers import (
    REFUSALS,
    AssociationDecision,
    Connection,
    ConnectionTable,
    OnAssociation,
    PeerPolicy,
    Phase,
    Reason,
    Refusal,
    normalise_ip,
)
from node.tls import server_context

log = logging.getLogger(__name__)

#: The largest PDU a peer may announce (A-ASSOCIATE-RQ or P-DATA-TF), unless the AE's
#: maximum PDU size asks for more: ours is 16 KiB by default and peers must respect it, so
#: this only stops a header that claims gigabytes from being read into memory.
MAX_PDU_BYTES = 1 << 20

#: Seconds between two sweeps for connections overdue for their association request.
SWEEP_INTERVAL_S = 1.0

#: Seconds an evicted association has to send its A-ABORT before its socket is shut.
ABORT_GRACE_S = 2.0


class BoundedAssociationSocket(AssociationSocket):
    """pynetdicom's socket, refusing to read a PDU larger than ``max_pdu_bytes``: the DUL
    reads the 6-byte header, then exactly the announced length, in one ``recv`` call."""

    max_pdu_bytes: int = MAX_PDU_BYTES

    def recv(self, nr_bytes: int) -> bytearray:
        if nr_bytes > self.max_pdu_bytes:
            raise OSError(
                f"the peer announced a PDU of {nr_bytes} bytes, more than {self.max_pdu_bytes}"
            )
        return super().recv(nr_bytes)


def _shutdown(sock: socket.socket) -> None:
    """Shut ``sock`` down from any thread: whoever is blocked reading it wakes up to an
    end of file, and closes it. For a TLS socket this is the plain socket's shutdown,
    which needs no TLS exchange."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _shut(sock: socket.socket) -> None:
    """Shut and close ``sock`` (by the thread that owns it)."""
    _shutdown(sock)
    try:
        sock.close()
    except OSError:
        pass


def _abort_in_background(assoc: Association, sock: socket.socket) -> None:
    """A-ABORT ``assoc`` from another thread; shut its socket if that takes too long (its
    DUL may be blocked reading a half-sent PDU)."""

    def run() -> None:
        timer = threading.Timer(ABORT_GRACE_S, _shutdown, (sock,))
        timer.daemon = True
        timer.start()
        try:
            assoc.abort()
        except Exception:
            log.debug("aborting an evicted association failed", exc_info=True)
            _shutdown(sock)
        finally:
            timer.cancel()

    threading.Thread(target=run, name="facenode-evict", daemon=True).start()


def _holds_slot(assoc: Association) -> bool:
    return assoc.is_alive() and not (assoc.is_released or assoc.is_aborted or assoc.is_rejected)


def _quiet_for(assoc: Association) -> float:
    """Seconds since ``assoc`` last received a PDU: its DUL restarts this timer, which runs
    for ``network_timeout``, on every PDU it reads."""
    timer = assoc.dul._idle_timer
    return 0.0 if timer.timeout is None else max(0.0, timer.timeout - timer.remaining)


def _ae_text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value or "").strip()


@dataclass
class Gate:
    """What every connection of one node shares: the policy, the table, the timeouts and
    the decision callback."""

    policy: PeerPolicy
    table: ConnectionTable
    on_association: OnAssociation
    acse_timeout_s: float
    network_timeout_s: float
    _by_assoc: weakref.WeakKeyDictionary[Association, tuple[Connection, bool]] = field(
        default_factory=weakref.WeakKeyDictionary
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, decision: AssociationDecision) -> None:
        try:
            self.on_association(decision)
        except Exception:
            log.exception("on_association failed for a decision about %s", decision.peer_ip)

    def attach(self, assoc: Association, conn: Connection, tls: bool) -> None:
        with self._lock:
            self._by_assoc[assoc] = (conn, tls)

    def _lookup(self, assoc: Association) -> tuple[Connection | None, bool]:
        with self._lock:
            return self._by_assoc.get(assoc, (None, False))

    def connection(self, assoc: Association) -> Connection | None:
        return self._lookup(assoc)[0]

    def on_requested(self, event: evt.Event) -> None:
        """EVT_REQUESTED: judge the A-ASSOCIATE-RQ; reject it here or let pynetdicom
        negotiate. Fails closed: an error while judging rejects the request."""
        assoc = event.assoc
        conn, tls = self._lookup(assoc)
        calling = called = ""
        refusal: Refusal | None
        try:
            rq = assoc.requestor.primitive
            calling = _ae_text(getattr(rq, "calling_ae_title", ""))
            called = _ae_text(getattr(rq, "called_ae_title", ""))
            refusal = self.policy.check_request(calling, called)
            if refusal is None:
                refusal = self.table.admit(conn) if conn else REFUSALS[Reason.INTERNAL]
        except Exception:
            log.exception("judging an association request failed; rejected")
            refusal = REFUSALS[Reason.INTERNAL]
        peer_ip = conn.peer_ip if conn else normalise_ip(str(assoc.requestor.address))
        self.decide(AssociationDecision(  # recorded before the peer hears the answer
            accepted=refusal is None,
            reason=str(refusal.reason if refusal else Reason.ACCEPTED),
            peer_ip=peer_ip, calling_ae=calling, called_ae=called, tls=tls,
        ))
        if refusal is None:
            sock = assoc.dul.socket.socket if assoc.dul.socket else None
            if sock is not None:
                sock.settimeout(self.network_timeout_s)  # from now on silence means idle
            return
        if conn is not None:
            self.table.closed(conn)
        try:
            assoc.acse.send_reject(refusal.result, refusal.source, refusal.diagnostic)
            evt.trigger(assoc, evt.EVT_REJECTED, {})
        finally:
            assoc.kill()  # as pynetdicom's own rejections do: the DUL stops after the RJ

    def tracking(self, handler: Callable[[evt.Event], Any]) -> Callable[[evt.Event], Any]:
        """``handler`` with its association marked busy (never evicted) while it runs."""

        def tracked(event: evt.Event) -> Any:
            with self.table.busy(self.connection(event.assoc)):
                return handler(event)

        return tracked


class GatedRequestHandler(RequestHandler):
    """One connection, from accept to the hand-over to pynetdicom (steps 1-4 above)."""

    server: GatedAssociationServer

    def handle(self) -> None:
        gate = self.server.gate
        sock: socket.socket = self.request
        tls = self.server.ssl_context is not None
        peer_ip = normalise_ip(str(self.client_address[0]))
        if not gate.policy.network_allows(peer_ip):
            gate.decide(AssociationDecision(False, str(Reason.PEER_NETWORK), peer_ip, "", "",
                                            tls))
            _shut(sock)
            return
        conn = gate.table.open(peer_ip, close=partial(_shutdown, sock))
        try:
            ready = self._await_request(sock, conn, tls)
        except Exception:
            log.debug("connection from %s failed before its request", peer_ip, exc_info=True)
            ready = False
        if not ready:
            gate.table.closed(conn)
            _shut(sock)
            return
        sock.settimeout(gate.acse_timeout_s)  # until admitted (Gate.on_requested)
        assoc = self._create_association()
        bounded = cast(BoundedAssociationSocket, assoc.dul.socket)
        bounded.__class__ = BoundedAssociationSocket  # same object, bounded recv
        if self.ae.maximum_pdu_size:
            bounded.max_pdu_bytes = max(MAX_PDU_BYTES, 2 * self.ae.maximum_pdu_size + 6)
        gate.attach(assoc, conn, tls)
        conn.evict = partial(_abort_in_background, assoc, sock)
        conn.quiet_for = partial(_quiet_for, assoc)
        evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": self.client_address})
        assoc.start()
        conn.alive = partial(_holds_slot, assoc)

    def _await_request(self, sock: socket.socket, conn: Connection, tls: bool) -> bool:
        """True once the peer finished the TLS handshake (if any) and sent a first byte,
        within ``acse_timeout_s``; False if it went silent, hung up or was evicted."""
        gate = self.server.gate
        deadline = time.monotonic() + gate.acse_timeout_s
        if tls:
            ssock = cast(ssl.SSLSocket, sock)
            ssock.settimeout(gate.acse_timeout_s)
            try:
                ssock.do_handshake()
            except (TimeoutError, ssl.SSLEOFError, ConnectionError):
                log.info("connection from %s went silent or hung up during the TLS handshake; "
                         "closed", conn.peer_ip)
                return False
            except (OSError, ValueError) as exc:  # a TLS alert: certificate, protocol, ...
                if conn.phase is not Phase.CLOSED:  # not merely evicted while handshaking
                    gate.decide(AssociationDecision(
                        False, f"{Reason.TLS_HANDSHAKE}: {exc}", conn.peer_ip, "", "", True))
                return False
            if ssock.pending():
                return conn.phase is Phase.WAITING
        readable, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not readable:
            log.info("connection from %s sent no association request within %.0f s; closed",
                     conn.peer_ip, gate.acse_timeout_s)
            return False
        if not tls and not sock.recv(1, socket.MSG_PEEK):
            return False  # the peer hung up
        return conn.phase is Phase.WAITING


class GatedAssociationServer(ThreadedAssociationServer):
    """pynetdicom's server with :class:`GatedRequestHandler` and no TLS on the accept
    thread (the handshake happens on the connection's own thread)."""

    daemon_threads = True
    #: The kernel's queue of connections not yet accepted (socketserver's default is 5: a
    #: burst of connections beyond it waits a 1 s SYN retry each).
    request_queue_size = 128

    def __init__(self, ae: AE, address: tuple[str, int], ae_title: str,
                 contexts: list[Any], ssl_context: ssl.SSLContext | None = None,
                 evt_handlers: list[Any] | None = None, *, gate: Gate) -> None:
        self.gate = gate
        super().__init__(ae, address, ae_title, contexts, ssl_context,
                         evt_handlers=evt_handlers, request_handler=GatedRequestHandler)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        sock = cast(socket.socket, self.socket)
        client, address = sock.accept()
        if self.ssl_context:
            client = self.ssl_context.wrap_socket(
                client, server_side=True, do_handshake_on_connect=False
            )
        return client, address


@dataclass
class Listener:
    """The node's listening servers (plain and/or TLS), their shared gate, and the sweeper
    that closes connections overdue for their association request."""

    servers: list[GatedAssociationServer]
    gate: Gate
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread(target=self._sweep, name="facenode-sweeper", daemon=True).start()

    def _sweep(self) -> None:
        while not self._stop.wait(SWEEP_INTERVAL_S):
            try:
                self.gate.table.counts()  # prunes, closing the overdue waiting ones
            except Exception:
                log.exception("sweeping connections failed; will try again")

    def shutdown(self) -> None:
        self._stop.set()
        for server in self.servers:
            server.shutdown()
        self.gate.table.close_all()

    @property
    def ports(self) -> dict[str, int]:
        """``{"tcp": port, "tls": port}`` for the listeners that run."""
        return {
            ("tls" if s.ssl_context else "tcp"): int(s.server_address[1]) for s in self.servers
        }


def listen(ae: AE, settings: Settings, handlers: Sequence[tuple[Any, Callable[..., Any]]],
           on_association: OnAssociation) -> Listener:
    """Start the plain (``port``) and TLS (``tls_port``) listeners in the background, with
    ``handlers`` (``(event, callable)``) marked busy while they run."""
    gate = Gate(
        policy=PeerPolicy.from_settings(settings),
        table=ConnectionTable.from_settings(settings),
        on_association=on_association,
        acse_timeout_s=settings.acse_timeout_s,
        network_timeout_s=settings.network_timeout_s,
    )
    bound: list[Any] = [(event, gate.tracking(fn)) for event, fn in handlers]
    bound.append((evt.EVT_REQUESTED, gate.on_requested))
    wanted: list[tuple[int, ssl.SSLContext | None]] = []
    if settings.port:
        wanted.append((settings.port, None))
    if settings.tls_port:
        wanted.append((settings.tls_port, server_context(settings)))
    servers: list[GatedAssociationServer] = []
    try:
        for port, context in wanted:
            server = cast(GatedAssociationServer, ae.make_server(
                (settings.bind_address, port), ssl_context=context, evt_handlers=bound,
                server_class=GatedAssociationServer, gate=gate,
            ))
            threading.Thread(target=server.serve_forever, daemon=True,
                             name=f"facenode-listener-{port}").start()
            ae._servers.append(server)  # as AE.start_server does; server.shutdown() removes it
            servers.append(server)
    except Exception:
        for server in servers:
            server.shutdown()
        raise
    return Listener(servers, gate)
