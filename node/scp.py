"""The DICOM listener: C-ECHO and C-STORE (pynetdicom).

Who may connect, how many at once, and TLS are decided in front of these handlers
(:mod:`node.listener`, :mod:`node.peers`, :mod:`node.tls`).

The C-STORE handler only persists: the object is written to storage (atomic, fsynced),
recorded in the database, and only then answered with Success. Analysis runs elsewhere
(:mod:`node.jobs`). Every failure becomes a DIMSE failure status and, when we could read
the bytes, a copy in quarantine — never a dropped association, never a crash.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from dicom.equipment import OUR_MANUFACTURER
from dicom.errors import DicomInputError, MissingAttributeError, UnparsableDatasetError
from dicom.limits import PixelLimits, TooLargeError, check_limits
from dicom.received import check_received, content_digest
from node import audit
from node.db import AuditEvent, Instance, InstanceRole, Series, SeriesState, utcnow
from node.identifiers import remember
from node.listener import Listener, listen
from node.peers import AssociationDecision, OnAssociation, log_decision
from node.sopclasses import ACCEPTED_CLASSES, ACCEPTED_TRANSFER_SYNTAXES, PHOTO_CLASSES
from node.storage import Storage, commit_staged, stage, write_atomic

log = logging.getLogger(__name__)

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
DATASET_MISMATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
PROCESSING_FAILURE = 0x0110


@dataclass(frozen=True)
class StoreOutcome:
    status: int
    reason: str = ""
    audited: bool = False  # the audit row was written with the outcome's own transaction


class StoreHandler:
    """Persists one received object; the pynetdicom EVT_C_STORE binding calls it.

    Every outcome leaves an audit row (``node.audit``): received, duplicate, new-version,
    or refused with its status (and quarantined when the bytes could be kept)."""

    def __init__(self, settings: Settings, storage: Storage, sessions: sessionmaker[Session]):
        self.settings = settings
        self.storage = storage
        self.sessions = sessions
        self._lock = threading.Lock()  # one writer at a time keeps SQLite happy and fast

    def __call__(self, event: Any) -> int:
        try:
            outcome = self.store(event)
        except Exception as exc:
            log.exception("C-STORE failed unexpectedly; answered processing failure")
            outcome = StoreOutcome(PROCESSING_FAILURE, f"{type(exc).__name__}: {exc}")
        if outcome.status != SUCCESS:
            log.warning("C-STORE refused (0x%04X): %s", outcome.status, outcome.reason)
        if not outcome.audited:
            audit.record(self.sessions, AuditEvent.REFUSED if outcome.status != SUCCESS
                         else AuditEvent.RECEIVED, status=outcome.status, detail=outcome.reason,
                         sop_instance_uid=audit.uid_or_blank(_request_uid(event)),
                         **audit.peer_fields(event.assoc))
        return outcome.status

    def store(self, event: Any) -> StoreOutcome:
        if self.storage.free_mb() < self.settings.min_free_disk_mb:
            return StoreOutcome(OUT_OF_RESOURCES, "free disk below min_free_disk_mb")
        peer = audit.peer_fields(event.assoc)
        try:
            raw = event.encoded_dataset(include_meta=True)
        except Exception as exc:
            return StoreOutcome(CANNOT_UNDERSTAND, f"cannot encode received dataset: {exc}")
        try:
            ds: Dataset = event.dataset
            remember(ds)  # from now on the log filter redacts this patient's identifiers
            check_received(ds, _request_uid(event), str(event.request.AffectedSOPClassUID),
                           PHOTO_CLASSES)
            # size limits and truncated frames, from the headers only (dicom/limits.py)
            check_limits(ds, len(raw), PixelLimits.of(self.settings.max_pixels,
                         self.settings.max_object_mb), str(event.context.transfer_syntax))
        except Exception as exc:
            refusal = as_refusal(exc)
            status = refusal_status(refusal)
            self._quarantine(raw, _request_uid(event), str(refusal), status, peer)
            return StoreOutcome(status, str(refusal), audited=True)
        # check_received validated these four: only now may they name files
        sop_uid, study_uid, series_uid = (
            str(ds.SOPInstanceUID), str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)
        )
        digest = content_digest(raw)
        ours = _is_our_result(ds)
        is_photo = str(ds.SOPClassUID) in PHOTO_CLASSES and not ours
        uids = {"sop_instance_uid": sop_uid, "sop_class_uid": str(ds.SOPClassUID),
                "study_uid": study_uid, "series_uid": series_uid}
        folder = self.storage.instance_path(study_uid, series_uid, sop_uid).parent
        staged = stage(folder, raw)  # the fsync, outside the lock
        try:
            return self._commit(staged, ds, sop_uid, study_uid, series_uid, digest, ours,
                                is_photo, uids, peer)
        finally:
            staged.unlink(missing_ok=True)  # a duplicate's copy; gone already when committed

    def _commit(self, staged: Path, ds: Dataset, sop_uid: str, study_uid: str,
                series_uid: str, digest: str, ours: bool, is_photo: bool,
                uids: dict[str, str], peer: dict[str, str]) -> StoreOutcome:
        """Decide the version, move the staged file into place and record it, under the lock."""
        with self._lock, self.sessions.begin() as session:
            latest = session.scalar(
                select(Instance)
                .where(Instance.sop_instance_uid == sop_uid)
                .order_by(Instance.version.desc())
                .limit(1)
            )
            version = 1
            if latest is not None:
                if ours or _same_content(latest, digest):
                    # the same object again (or our own result routed back): nothing to do
                    log.info("SOP instance received again with the same content; kept once")
                    session.add(audit.entry(AuditEvent.DUPLICATE, status=SUCCESS, **uids,
                                            **peer, detail=f"same as version {latest.version}"))
                    return StoreOutcome(SUCCESS, audited=True)
                version = latest.version + 1
                if latest.role == InstanceRole.PHOTO:
                    latest.role = InstanceRole.SUPERSEDED
            path = self.storage.instance_path(study_uid, series_uid, sop_uid, version)
            commit_staged(staged, path)
            session.add(
                Instance(
                    sop_instance_uid=sop_uid,
                    version=version,
                    content_sha256=digest,
                    sop_class_uid=str(ds.SOPClassUID),
                    study_uid=study_uid,
                    series_uid=series_uid,
                    path=str(path),
                    calling_ae=peer["calling_ae"][:16],
                    peer_ip=peer["peer_ip"][:45],
                    role=InstanceRole.PHOTO if is_photo else InstanceRole.STORED,
                )
            )
            if is_photo:
                _touch_series(session, ds)
            if version == 1:
                session.add(audit.entry(AuditEvent.RECEIVED, status=SUCCESS, **uids, **peer))
            else:
                log.info("SOP instance received again with other content: version %d", version)
                detail = f"version {version} replaces version {version - 1}" + (
                    "; analysed again" if is_photo else "")
                session.add(audit.entry(AuditEvent.NEW_VERSION, status=SUCCESS, **uids, **peer,
                                        detail=detail))
        return StoreOutcome(SUCCESS, audited=True)

    def _quarantine(self, raw: bytes, name: str, reason: str, status: int,
                    peer: dict[str, str]) -> None:
        """Keep the refused bytes in quarantine; audit the refusal (and the quarantine)."""
        refused = audit.entry(AuditEvent.REFUSED, status=status, detail=reason,
                              sop_instance_uid=audit.uid_or_blank(name), **peer)
        try:
            path = self.storage.quarantine_path(f"{utcnow():%Y%m%dT%H%M%S%f}-{name}")
            write_atomic(path, raw)
            with self._lock, self.sessions.begin() as session:
                row = Instance(
                    sop_instance_uid=f"quarantine:{path.stem}"[:64],
                    sop_class_uid="",
                    study_uid="",
                    series_uid="",
                    path=str(path),
                    calling_ae=peer["calling_ae"][:16],
                    peer_ip=peer["peer_ip"][:45],
                    role=InstanceRole.QUARANTINED,
                    note=reason[:2000],
                )
                session.add(row)
                session.add(refused)
                session.add(audit.instance_entry(
                    AuditEvent.QUARANTINED, row, actor=peer["actor"],
                    detail=f"refused at C-STORE: {reason}"))
        except Exception:
            log.exception("could not quarantine a refused object")
            audit.record(self.sessions, AuditEvent.REFUSED, status=status, detail=reason,
                         sop_instance_uid=audit.uid_or_blank(name), **peer)


def _request_uid(event: Any) -> str:
    """The request's Affected SOP Instance UID as text; not validated (it names nothing
    until :func:`check_received` has compared it with the validated dataset's)."""
    return str(getattr(event.request, "AffectedSOPInstanceUID", "") or "").rstrip("\x00 ")


def _same_content(row: Instance, digest: str) -> bool:
    """Whether ``row`` holds ``digest``'s content; a row from before content hashes were
    kept is hashed from its file."""
    if row.content_sha256:
        return row.content_sha256 == digest
    try:
        return content_digest(Path(row.path).read_bytes()) == digest
    except OSError:
        return False


def as_refusal(exc: Exception) -> DicomInputError:
    """``exc`` as the typed reason to refuse an object: any error that is not already one of
    :mod:`dicom.errors` came from pydicom decoding the bytes."""
    if isinstance(exc, DicomInputError):
        return exc
    return UnparsableDatasetError(f"dataset cannot be parsed: {type(exc).__name__}: {exc}")


def refusal_status(refusal: DicomInputError) -> int:
    """The C-STORE failure status (PS3.4 Table B.2-1) for a refusal, chosen by its type:
    over a size limit is "out of resources" (the node's configured ones)."""
    if isinstance(refusal, TooLargeError):
        return OUT_OF_RESOURCES
    return DATASET_MISMATCH if isinstance(refusal, MissingAttributeError) else CANNOT_UNDERSTAND


def _is_our_result(ds: Dataset) -> bool:
    """An annotated image we produced (routed back by a PACS rule): stored, never analysed."""
    image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
    return str(ds.get("Manufacturer", "")) == OUR_MANUFACTURER and "DERIVED" in image_type


def _touch_series(session: Session, ds: Dataset) -> None:
    series_uid = str(ds.SeriesInstanceUID)
    row = session.scalar(select(Series).where(Series.series_uid == series_uid))
    now = utcnow()
    if row is None:
        session.add(
            Series(
                series_uid=series_uid,
                study_uid=str(ds.StudyInstanceUID),
                modality=str(ds.get("Modality", ""))[:16],
                first_received_at=now,
                last_received_at=now,
                instance_count=1,
                state=SeriesState.RECEIVING,
            )
        )
    else:
        row.last_received_at = now
        row.instance_count += 1
        row.state = SeriesState.RECEIVING


def _handle_echo(event: Any, sessions: sessionmaker[Session] | None = None) -> int:
    if sessions is not None:
        audit.record(sessions, AuditEvent.ECHO, status=SUCCESS, **audit.peer_fields(event.assoc))
    return SUCCESS


def build_ae(settings: Settings) -> AE:
    """An AE accepting our SOP classes over our transfer syntaxes, with the settings'
    timeouts. The AE-title and address checks and the association limits are the
    listener's (:mod:`node.peers`), so that each refusal is logged with its reason;
    pynetdicom's own ``maximum_associations``, which also counts connections that have not
    yet asked for an association, is only a backstop far above ``max_associations``."""
    ae = AE(ae_title=settings.ae_title)
    ae.add_supported_context("1.2.840.10008.1.1")  # Verification
    for uid in ACCEPTED_CLASSES:
        ae.add_supported_context(uid, list(ACCEPTED_TRANSFER_SYNTAXES))
    ae.acse_timeout = settings.acse_timeout_s
    ae.dimse_timeout = settings.dimse_timeout_s
    ae.network_timeout = settings.network_timeout_s
    ae.maximum_associations = 4 * settings.max_associations
    return ae


def start_scp(
    settings: Settings, storage: Storage, sessions: sessionmaker[Session],
    on_association: OnAssociation | None = None,
) -> Listener:
    """Start listening in the background (``port`` and/or ``tls_port``); stop with
    ``listener.shutdown()``. ``on_association`` receives every admission decision (default:
    logged)."""
    ae = build_ae(settings)
    handler = StoreHandler(settings, storage, sessions)
    handlers: list[Any] = [(evt.EVT_C_STORE, handler),
                           (evt.EVT_C_ECHO, partial(_handle_echo, sessions=sessions)),
                           *audit.abort_handlers(sessions)]
    listener = listen(ae, settings, handlers,
                      _audited(sessions, on_association or log_decision))
    for kind, port in listener.ports.items():
        log.info("listening as %s on %s:%d (%s)", settings.ae_title, settings.bind_address,
                 port, kind.upper())
    if _wide_open(settings):
        log.warning(
            "any host may send: listening on all interfaces with no accepted_peer_networks, "
            "no accepted_calling_ae_titles and no mutual TLS (README: Deployment checklist)"
        )
    return listener


def _audited(sessions: sessionmaker[Session], then: OnAssociation) -> OnAssociation:
    """Every admission decision into the audit trail, then to ``then``."""

    def on_association(decision: AssociationDecision) -> None:
        audit.record_decision(sessions, decision)
        then(decision)

    return on_association


def _wide_open(settings: Settings) -> bool:
    return (
        settings.bind_address in ("0.0.0.0", "::", "")  # noqa: S104 - the check, not a bind
        and not settings.accepted_peer_networks
        and not settings.accepted_calling_ae_titles
        and not (settings.tls_require_client_cert and settings.port == 0)
    )
