"""Outbound C-STORE behind a tiny interface: :class:`DicomSender` (pynetdicom) for real
peers, :class:`MemorySender` for tests of the logic above it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.presentation import PresentationContext, build_context

from config.errors import FacenodeError
from config.settings import Destination
from node.identifiers import remember
from node.reactor import guard

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
    association to release, contexts from the files themselves."""

    calling_ae: str
    timeout_s: float = 60.0

    def _ae(self) -> AE:
        ae = AE(ae_title=self.calling_ae)
        ae.network_timeout = self.timeout_s
        ae.acse_timeout = self.timeout_s
        ae.dimse_timeout = self.timeout_s
        ae.connection_timeout = min(self.timeout_s, 10.0)
        return ae

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
        assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
        if not assoc.is_established:
            raise SendError(
                f"no association with {destination.name} "
                f"({destination.ae_title}@{destination.host}:{destination.port})"
            )
        statuses: list[int] = []
        checkpoint = guard(assoc)  # race-free reactor pause (node/reactor.py)
        try:
            for ds in datasets:
                if not assoc.is_established:
                    statuses.append(-1)
                    continue
                out = _as_accepted(ds, assoc.accepted_contexts)
                checkpoint.pause(assoc)
                status = assoc.send_c_store(out)
                statuses.append(int(status.Status) if "Status" in status else -1)
        finally:
            if assoc.is_established:
                checkpoint.pause(assoc)
                assoc.release()
        return statuses

    def echo(self, destination: Destination) -> int:
        ae = self._ae()
        ae.add_requested_context("1.2.840.10008.1.1")
        assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
        if not assoc.is_established:
            raise SendError(f"no association with {destination.name}")
        checkpoint = guard(assoc)
        try:
            checkpoint.pause(assoc)
            status = assoc.send_c_echo()
            return int(status.Status) if "Status" in status else -1
        finally:
            if assoc.is_established:
                checkpoint.pause(assoc)
                assoc.release()


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
