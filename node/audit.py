"""The audit trail: one ``audit`` row per association, C-ECHO, object received, refused,
quarantined, produced, sent (or failed, or dead-lettered), amended and purged — who
(``CALLING_AE@ip``, ``node``, ``cli:<user>``), what (an :class:`AuditEvent`, the SOP
Instance / Study / Series UIDs, a destination, a DIMSE status, a reason), when (UTC).

Never a patient identifier: only UIDs, AE titles, addresses and the node's own reasons go
in. Rows are only ever added; ``facenode purge`` deletes files and keeps the rows.

Where a row belongs with a change of state (a stored instance, a queued result, a delivery
recorded), :func:`entry` makes it for the caller's own transaction, so the trail and the
state cannot disagree. :func:`record` writes a row on its own (associations, refusals) and
never raises: a failing audit write is logged, it does not refuse a photo.
"""

from __future__ import annotations

import datetime as dt
import getpass
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dicom.received import is_valid_uid
from node.db import AuditEvent, AuditRecord, Instance
from node.identifiers import redact

log = logging.getLogger(__name__)

NODE: Final = "node"

__all__ = [
    "NODE",
    "AuditEvent",
    "AuditRecord",
    "abort_handlers",
    "cli_actor",
    "entry",
    "instance_entry",
    "peer_actor",
    "produced_entries",
    "query",
    "record",
    "record_association",
    "record_decision",
]


def cli_actor() -> str:
    """``cli:<user>`` for what a command line run does (purge)."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry (a container with a bare uid)
        user = f"uid{os.getuid()}"
    return f"cli:{user}"


def peer_actor(calling_ae: str, peer_ip: str) -> str:
    return f"{calling_ae.strip()}@{peer_ip}"


def uid_or_blank(value: object) -> str:
    """A UID for the trail only when it is a valid one: an invalid UID is what got an
    object refused, and may be anything a sender typed."""
    text = str(value or "").rstrip("\x00 ")
    return text if is_valid_uid(text) else ""


def entry(
    event: AuditEvent,
    *,
    actor: str = NODE,
    peer_ip: str = "",
    calling_ae: str = "",
    called_ae: str = "",
    sop_instance_uid: str = "",
    sop_class_uid: str = "",
    study_uid: str = "",
    series_uid: str = "",
    destination: str = "",
    status: int | None = None,
    detail: str = "",
) -> AuditRecord:
    """One audit row, not yet added to any session; values cut to their columns."""
    return AuditRecord(
        event=AuditEvent(event),
        actor=actor[:128],
        peer_ip=peer_ip[:45],
        calling_ae=calling_ae.strip()[:16],
        called_ae=called_ae.strip()[:16],
        sop_instance_uid=sop_instance_uid[:64],
        sop_class_uid=sop_class_uid[:64],
        study_uid=study_uid[:64],
        series_uid=series_uid[:64],
        destination=destination[:64],
        status=status,
        detail=redact(detail)[:2000],
    )


def instance_entry(event: AuditEvent, row: Instance, *, actor: str = NODE,
                   detail: str = "") -> AuditRecord:
    """An audit row about a received object, from its database row."""
    return entry(
        event,
        actor=actor,
        peer_ip=row.peer_ip or "",
        calling_ae=row.calling_ae or "",
        sop_instance_uid=uid_or_blank(row.sop_instance_uid),
        sop_class_uid=uid_or_blank(row.sop_class_uid),
        study_uid=uid_or_blank(row.study_uid),
        series_uid=uid_or_blank(row.series_uid),
        detail=detail,
    )


class ResultIdentity(Protocol):
    """What the audit needs of a produced object (``node.worker_task.ResultFile``)."""

    @property
    def study_uid(self) -> str: ...
    @property
    def series_uid(self) -> str: ...
    @property
    def sop_instance_uid(self) -> str: ...
    @property
    def sop_class_uid(self) -> str: ...
    @property
    def modality(self) -> str: ...


def produced_entries(outputs: Iterable[ResultIdentity], job_id: int | None) -> list[AuditRecord]:
    """One ``produced`` row per result object a job made."""
    return [
        entry(
            AuditEvent.PRODUCED,
            sop_instance_uid=out.sop_instance_uid,
            sop_class_uid=out.sop_class_uid,
            study_uid=out.study_uid,
            series_uid=out.series_uid,
            detail=f"job {job_id}; modality {out.modality}",
        )
        for out in outputs
    ]


def record(sessions: sessionmaker[Session], event: AuditEvent, **fields: Any) -> None:
    """Write one audit row in its own transaction; a failure is logged, never raised."""
    try:
        with sessions.begin() as session:
            session.add(entry(event, **fields))
    except Exception:
        log.exception("audit row %s could not be written", event)


def record_association(
    sessions: sessionmaker[Session],
    *,
    peer_ip: str,
    calling_ae: str,
    called_ae: str,
    accepted: bool,
    reason: str = "",
) -> None:
    """An association request and what became of it (the hook for an association check
    that decides before, or instead of, pynetdicom's own negotiation)."""
    record(
        sessions,
        AuditEvent.ASSOC_ACCEPTED if accepted else AuditEvent.ASSOC_REJECTED,
        actor=peer_actor(calling_ae, peer_ip),
        peer_ip=peer_ip,
        calling_ae=calling_ae,
        called_ae=called_ae,
        detail=reason,
    )


class AssociationDecision(Protocol):
    """What the audit reads of the listener's decision (``node.peers.AssociationDecision``)."""

    @property
    def peer_ip(self) -> str: ...
    @property
    def calling_ae(self) -> str: ...
    @property
    def called_ae(self) -> str: ...
    @property
    def accepted(self) -> bool: ...
    @property
    def reason(self) -> str: ...


def record_decision(sessions: sessionmaker[Session], decision: AssociationDecision) -> None:
    """:func:`record_association` for a decision object (``on_association(decision)``)."""
    record_association(
        sessions,
        peer_ip=decision.peer_ip,
        calling_ae=decision.calling_ae,
        called_ae=decision.called_ae,
        accepted=decision.accepted,
        reason=decision.reason,
    )


def peer_fields(assoc: Any) -> dict[str, str]:
    """Peer address, calling and called AE of a pynetdicom association (acceptor side)."""
    requestor = getattr(assoc, "requestor", None)
    peer_ip = str(getattr(requestor, "address", "") or "")
    calling = str(getattr(requestor, "ae_title", "") or "").strip()
    primitive = getattr(requestor, "primitive", None)
    called = str(getattr(primitive, "called_ae_title", "") or "").strip()
    return {
        "actor": peer_actor(calling, peer_ip),
        "peer_ip": peer_ip,
        "calling_ae": calling,
        "called_ae": called,
    }


def _rejection_reason(assoc: Any) -> str:
    primitive = getattr(getattr(assoc, "acceptor", None), "primitive", None)
    try:
        return f"{primitive.result_str}: {primitive.reason_str}"  # type: ignore[union-attr]
    except Exception:
        return "rejected"


def abort_handlers(
    sessions: sessionmaker[Session],
) -> list[tuple[Any, Callable[[Any], None]]]:
    """pynetdicom notification handlers that audit an association's abort (the listener's
    admission decisions, accepted or rejected, come through :func:`record_decision`). Bind
    them with the others (``evt_handlers=[..., *abort_handlers(sessions)]``)."""
    from pynetdicom import evt

    def aborted(event: Any) -> None:
        record(sessions, AuditEvent.ASSOC_ABORTED, **peer_fields(event.assoc))

    return [(evt.EVT_ABORTED, aborted)]


def query(
    sessions: sessionmaker[Session],
    *,
    since: dt.datetime | None = None,
    events: Sequence[AuditEvent] = (),
    sop_instance_uid: str | None = None,
    after_id: int | None = None,
    limit: int | None = None,
) -> list[AuditRecord]:
    """Audit rows, oldest first, filtered by time (UTC), event type and SOP Instance UID."""
    stmt = select(AuditRecord).order_by(AuditRecord.id)
    if since is not None:
        stmt = stmt.where(AuditRecord.at >= since)
    if events:
        stmt = stmt.where(AuditRecord.event.in_([AuditEvent(e) for e in events]))
    if sop_instance_uid:
        stmt = stmt.where(AuditRecord.sop_instance_uid == sop_instance_uid)
    if after_id is not None:
        stmt = stmt.where(AuditRecord.id > after_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    with sessions() as session:
        return list(session.scalars(stmt))


def as_dict(row: AuditRecord) -> dict[str, Any]:
    """A row as plain JSON values (time as ISO 8601 UTC with ``Z``)."""
    return {
        "id": row.id,
        "at": row.at.isoformat(timespec="milliseconds") + "Z",
        "event": str(row.event),
        "actor": row.actor,
        "peer_ip": row.peer_ip,
        "calling_ae": row.calling_ae,
        "called_ae": row.called_ae,
        "sop_instance_uid": row.sop_instance_uid,
        "sop_class_uid": row.sop_class_uid,
        "study_uid": row.study_uid,
        "series_uid": row.series_uid,
        "destination": row.destination,
        "status": row.status,
        "detail": row.detail,
    }
