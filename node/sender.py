"""Outbound C-STORE behind a tiny interface: :class:`DicomSender` (pynetdicom) for real
peers, :class:`MemorySender` for tests of the logic above it.

A destination with ``tls = true`` is reached over DICOM TLS (:func:`node.tls.client_context`:
its certificate verified, host name included; the node's certificate presented when set)."""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext, build_context

from config.errors import FacenodeError
from config.settings import Destination, Settings
from node.identifiers import remember
from node.reactor import ReactorCheckpoint, guard
from node.tls import client_context

log = logging.getLogger(__name__)


class SendError(FacenodeError):
    """The destination could not be reached or refused the association."""


class Sender(Protocol):
    def send(self, destination: Destination, paths: Sequence[Path]) -> list[int]:
        """C-STORE each file; return one DIMSE status per file (-1: not attempted).
        Raise :class:`SendError` when no association could be made."""
        ...

    def echo(self, destination: Destination) -> int:
        """C-ECHO; return the status (raise SendError when unreachable)."""
        ...


@dataclass
class DicomSender:
    """Real C-STORE SCU; one association per batch, owned by the calling thread from
    association to release, contexts from the files themselves.

    ``timeout_s`` bounds the wait for each DIMSE response and any silence on the
    connection; ``tls_context`` makes the context for a destination with ``tls = true``."""

    calling_ae: str
    timeout_s: float = 60.0
    acse_timeout_s: float = 30.0
    connection_timeout_s: float = 10.0
    network_timeout_s: float | None = None  # None: timeout_s
    tls_context: Callable[[Destination], ssl.SSLContext] = client_context

    @classmethod
    def from_settings(cls, settings: Settings) -> DicomSender:
        return cls(
            settings.ae_title,
            timeout_s=settings.dimse_timeout_s,
            acse_timeout_s=settings.acse_timeout_s,
            connection_timeout_s=settings.connection_timeout_s,
            network_timeout_s=settings.network_timeout_s,
            tls_context=partial(client_context, settings=settings),
        )

    def _ae(self) -> AE:
        ae = AE(ae_title=self.calling_ae)
        ae.network_timeout = self._network_timeout
        ae.acse_timeout = self.acse_timeout_s
        ae.dimse_timeout = self.timeout_s
        ae.connection_timeout = self.connection_timeout_s
        return ae

    @property
    def _network_timeout(self) -> float:
        return self.timeout_s if self.network_timeout_s is None else self.network_timeout_s

    @contextmanager
    def _association(
        self, ae: AE, destination: Destination
    ) -> Iterator[tuple[Association, ReactorCheckpoint]]:
        """An established association with ``destination`` (over TLS when it says so) and
        the race-free reactor pause to call before each request (:mod:`node.reactor`),
        released and its socket closed on exit; :class:`SendError` when none is made.

        The socket gets a read timeout, which pynetdicom leaves unset once connected, so a
        peer that stops halfway through a PDU cannot hold the send thread for ever; and it
        is closed here because pynetdicom skips the close when the shutdown before it
        fails (a peer that already hung up, a TLS alert)."""
        kwargs: dict[str, Any] = {}
        if destination.tls:
            kwargs["tls_args"] = (self.tls_context(destination), destination.host)
        opened: list[socket.socket] = []
        checkpoint: ReactorCheckpoint | None = None

        def on_open(event: evt.Event) -> None:
            sock = event.assoc.dul.socket
            if sock is not None and sock.socket is not None:
                sock.socket.settimeout(self._network_timeout)
                opened.append(sock.socket)

        handlers: list[Any] = [(evt.EVT_CONN_OPEN, on_open)]
        assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title,
                             evt_handlers=handlers, **kwargs)
        try:
            if not assoc.is_established:
                raise SendError(f"no association with {_describe(destination)}")
            checkpoint = guard(assoc)
            yield assoc, checkpoint
        finally:
            if assoc.is_established:
                if checkpoint is not None:
                    checkpoint.pause(assoc)
                assoc.release()
            for sock in opened:
                sock.close()

    def send(self, destination: Destination, paths: Sequence[Path]) -> list[int]:
        datasets = [dcmread(p) for p in paths]
        for ds in datasets:
            remember(ds)  # results carry the patient module: keep it out of the logs too
        ae = self._ae()
        seen: set[tuple[str, str]] = set()
        for ds in datasets:
            syntax = UID(str(ds.file_meta.TransferSyntaxUID))
            keys = [(str(ds.SOPClassUID), str(syntax))]
            if syntax.is_compressed:  # also offered uncompressed, for peers that decode none
                keys.append((str(ds.SOPClassUID), str(ExplicitVRLittleEndian)))
            seen.update(k for k in keys if len(seen) < 128)
        ae.requested_contexts = [build_context(c, [t]) for c, t in sorted(seen)]
        statuses: list[int] = []
        with self._association(ae, destination) as (assoc, checkpoint):
            for ds in datasets:
                if not assoc.is_established:
                    statuses.append(-1)
                    continue
                out = _as_accepted(ds, assoc.accepted_contexts)
                checkpoint.pause(assoc)
                status = assoc.send_c_store(out)
                statuses.append(int(status.Status) if "Status" in status else -1)
        return statuses

    def echo(self, destination: Destination) -> int:
        ae = self._ae()
        ae.add_requested_context("1.2.840.10008.1.1")
        with self._association(ae, destination) as (assoc, checkpoint):
            checkpoint.pause(assoc)  # race-free reactor pause (node/reactor.py)
            status = assoc.send_c_echo()
            return int(status.Status) if "Status" in status else -1


def _describe(destination: Destination) -> str:
    over = " over TLS" if destination.tls else ""
    return (f"{destination.name} ({destination.ae_title}@{destination.host}:"
            f"{destination.port}{over})")


def _as_accepted(ds: Dataset, accepted: Sequence[PresentationContext]) -> Dataset:
    """``ds``, decompressed when the peer accepted its class only uncompressed."""
    syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    if syntax.is_compressed and not any(
        cx.abstract_syntax == ds.SOPClassUID and syntax in cx.transfer_syntax for cx in accepted
    ):
        ds.decompress(generate_instance_uid=False)  # lossless: the same object, uncompressed
    return ds


@dataclass
class MemorySender:
    """Records what would be sent; ``down`` simulates an unreachable destination."""

    down: set[str] = field(default_factory=set)
    status: int = 0x0000
    sent: list[tuple[str, Path]] = field(default_factory=list)

    def send(self, destination: Destination, paths: Sequence[Path]) -> list[int]:
        if destination.name in self.down:
            raise SendError(f"{destination.name} is down")
        self.sent.extend((destination.name, p) for p in paths)
        return [self.status] * len(paths)

    def echo(self, destination: Destination) -> int:
        if destination.name in self.down:
            raise SendError(f"{destination.name} is down")
        return 0
