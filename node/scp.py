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
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from dicom.equipment import OUR_MANUFACTURER
from dicom.errors import DicomInputError, MissingAttributeError, UnparsableDatasetError
from dicom.received import check_received
from node.db import Instance, InstanceRole, Series, SeriesState, utcnow
from node.identifiers import remember
from node.listener import Listener, listen
from node.peers import OnAssociation, log_decision
from node.sopclasses import ACCEPTED_CLASSES, ACCEPTED_TRANSFER_SYNTAXES, PHOTO_CLASSES
from node.storage import Storage, write_atomic

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


class StoreHandler:
    """Persists one received object; the pynetdicom EVT_C_STORE binding calls it."""

    def __init__(self, settings: Settings, storage: Storage, sessions: sessionmaker[Session]):
        self.settings = settings
        self.storage = storage
        self.sessions = sessions
        self._lock = threading.Lock()  # one writer at a time keeps SQLite happy and fast

    def __call__(self, event: Any) -> int:
        try:
            outcome = self.store(event)
        except Exception:
            log.exception("C-STORE failed unexpectedly; answered processing failure")
            return PROCESSING_FAILURE
        if outcome.status != SUCCESS:
            log.warning("C-STORE refused (0x%04X): %s", outcome.status, outcome.reason)
        return outcome.status

    def store(self, event: Any) -> StoreOutcome:
        if self.storage.free_mb() < self.settings.min_free_disk_mb:
            return StoreOutcome(OUT_OF_RESOURCES, "free disk below min_free_disk_mb")
        calling = str(event.assoc.requestor.ae_title).strip()
        try:
            raw = event.encoded_dataset(include_meta=True)
        except Exception as exc:
            return StoreOutcome(CANNOT_UNDERSTAND, f"cannot encode received dataset: {exc}")
        try:
            ds: Dataset = event.dataset
            remember(ds)  # from now on the log filter redacts this patient's identifiers
            check_received(ds, str(event.request.AffectedSOPInstanceUID),
                           str(event.request.AffectedSOPClassUID), PHOTO_CLASSES)
        except Exception as exc:
            refusal = as_refusal(exc)
            self._quarantine(raw, str(event.request.AffectedSOPInstanceUID), str(refusal), calling)
            return StoreOutcome(refusal_status(refusal), str(refusal))
        sop_uid = str(ds.SOPInstanceUID)
        with self._lock, self.sessions.begin() as session:
            existing = session.scalar(select(Instance).where(Instance.sop_instance_uid == sop_uid))
            if existing is not None:
                log.info("duplicate SOP instance received again; kept the first copy")
                return StoreOutcome(SUCCESS)
            path = self.storage.instance_path(
                str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), sop_uid
            )
            write_atomic(path, raw)
            is_photo = str(ds.SOPClassUID) in PHOTO_CLASSES and not _is_our_result(ds)
            session.add(
                Instance(
                    sop_instance_uid=sop_uid,
                    sop_class_uid=str(ds.SOPClassUID),
                    study_uid=str(ds.StudyInstanceUID),
                    series_uid=str(ds.SeriesInstanceUID),
                    path=str(path),
                    calling_ae=calling[:16],
                    role=InstanceRole.PHOTO if is_photo else InstanceRole.STORED,
                )
            )
            if is_photo:
                _touch_series(session, ds)
        return StoreOutcome(SUCCESS)

    def _quarantine(self, raw: bytes, name: str, reason: str, calling: str) -> None:
        try:
            path = self.storage.quarantine_path(f"{utcnow():%Y%m%dT%H%M%S%f}-{name}")
            write_atomic(path, raw)
            with self._lock, self.sessions.begin() as session:
                session.add(
                    Instance(
                        sop_instance_uid=f"quarantine:{path.stem}"[:64],
                        sop_class_uid="",
                        study_uid="",
                        series_uid="",
                        path=str(path),
                        calling_ae=calling[:16],
                        role=InstanceRole.QUARANTINED,
                        note=reason[:2000],
                    )
                )
        except Exception:
            log.exception("could not quarantine a refused object")


def as_refusal(exc: Exception) -> DicomInputError:
    """``exc`` as the typed reason to refuse an object: any error that is not already one of
    :mod:`dicom.errors` came from pydicom decoding the bytes."""
    if isinstance(exc, DicomInputError):
        return exc
    return UnparsableDatasetError(f"dataset cannot be parsed: {type(exc).__name__}: {exc}")


def refusal_status(refusal: DicomInputError) -> int:
    """The C-STORE failure status (PS3.4 Table B.2-1) for a refusal, chosen by its type."""
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


def _handle_echo(_event: Any) -> int:
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
    handlers: list[Any] = [(evt.EVT_C_STORE, handler), (evt.EVT_C_ECHO, _handle_echo)]
    listener = listen(ae, settings, handlers, on_association or log_decision)
    for kind, port in listener.ports.items():
        log.info("listening as %s on %s:%d (%s)", settings.ae_title, settings.bind_address,
                 port, kind.upper())
    if _wide_open(settings):
        log.warning(
            "any host may send: listening on all interfaces with no accepted_peer_networks, "
            "no accepted_calling_ae_titles and no mutual TLS (README: Deployment checklist)"
        )
    return listener


def _wide_open(settings: Settings) -> bool:
    return (
        settings.bind_address in ("0.0.0.0", "::", "")  # noqa: S104 - the check, not a bind
        and not settings.accepted_peer_networks
        and not settings.accepted_calling_ae_titles
        and not (settings.tls_require_client_cert and settings.port == 0)
    )
