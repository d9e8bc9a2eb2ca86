"""What a job does: for each new photo of a series, decode → analyse → render overlays →
build result objects (SR, SCs, PDF report) → store them → queue them in the outbox for
every destination; when the job analysed two or more photos, one more PDF report on all of
them (the series report).

A photo that cannot be decoded is quarantined with its reason; the others go on.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from analysis import findings
from analysis.overlay import render_overlays
from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
from analysis.report import PhotoSection
from analysis.serialize import analysis_summary
from analysis.types import PhotoAnalysis
from config.norms import load_tables
from config.settings import Settings
from config.tables import FindingTables, NormTable
from dicom.context import ResultContext
from dicom.equipment import OUR_MANUFACTURER, OUR_MODEL_NAME
from dicom.errors import DicomInputError
from dicom.pdf import build_report, photo_section
from dicom.photo import dataset_to_photo
from dicom.results import build_results
from dicom.source import reference_header
from node import __version__, audit
from node.db import AuditEvent, Instance, InstanceRole, Job, OutboxItem, ResultKind, utcnow
from node.identifiers import describe_patient, remember
from node.storage import Storage

log = logging.getLogger(__name__)

_KIND_BY_MODALITY = {
    "SR": ResultKind.SR,
    "OT": ResultKind.SC,
    "XC": ResultKind.SC,
    "DOC": ResultKind.PDF,
    "M3D": ResultKind.MESH,
}


@dataclass
class PhotoOutcome:
    sop_instance_uid: str
    analysis: PhotoAnalysis | None
    outputs: list[Dataset]
    error: str = ""
    section: PhotoSection | None = None  # the photo's part of a series report


def finding_tables() -> FindingTables:
    """The norm table and finding rules, read once and checked against the measurement
    catalogue, so a bad table stops the node at start rather than failing every photo."""
    tables = load_tables()
    findings.check_tables(tables)
    return tables


def analysis_options(settings: Settings, tables: FindingTables) -> AnalysisOptions:
    return AnalysisOptions(
        tables=tables,
        backend=settings.analysis_backend,
        model_dir=settings.models_dir,
        assumed_ipd_mm=settings.assumed_ipd_mm,
    )


class Analyzers:
    """One analyzer per worker thread (the landmark models are not thread-safe), all with
    the same options: the settings and the finding tables, loaded once here."""

    def __init__(self, settings: Settings, tables: FindingTables | None = None) -> None:
        self.options = analysis_options(settings, tables or finding_tables())
        self._local = threading.local()

    def get(self) -> PhotoAnalyzer:
        analyzer = getattr(self._local, "analyzer", None)
        if analyzer is None:
            analyzer = PhotoAnalyzer(self.options)
            self._local.analyzer = analyzer
        return analyzer


def analyse_dataset(ds: Dataset, analyzer: PhotoAnalyzer, ctx: ResultContext) -> PhotoOutcome:
    """Analyse one photo dataset into result datasets (no storage, no database)."""
    uid = str(ds.SOPInstanceUID)
    try:
        photo = dataset_to_photo(ds)  # carries the subject's sex for the norm rows
    except DicomInputError as exc:
        return PhotoOutcome(uid, None, [], error=str(exc))
    result = analyzer.analyze(photo)
    overlays = render_overlays(photo, result)
    section = photo_section(ds, result, overlays)
    norms = analyzer.options.tables.norms  # the table the findings were judged against
    outputs = build_results(ds, result, overlays, ctx, section=section, norms=norms)
    return PhotoOutcome(uid, result, outputs, section=section)


def node_context(settings: Settings) -> ResultContext:
    """The node as the equipment that writes one batch of results (new series UIDs)."""
    return ResultContext.new(
        manufacturer=OUR_MANUFACTURER,
        model_name=OUR_MODEL_NAME,
        software_version=__version__,
        station_name=settings.ae_title,
        device_serial=settings.ae_title,
    )


def run_job(
    job_id: int,
    sessions: sessionmaker[Session],
    storage: Storage,
    settings: Settings,
    analyzers: Analyzers,
) -> None:
    """Analyse the photos this job owns (claims unclaimed photos of its series first)."""
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise LookupError(f"job {job_id} does not exist")
        photos = session.scalars(
            select(Instance)
            .where(
                Instance.series_uid == job.series_uid,
                Instance.role == InstanceRole.PHOTO,
                Instance.analysed_at.is_(None),  # a resumed job does not repeat finished photos
                or_(Instance.analysed_job_id.is_(None), Instance.analysed_job_id == job_id),
            )
            .order_by(Instance.id)
        ).all()
        for p in photos:
            p.analysed_job_id = job_id
        work = [(p.id, p.path, p.sop_instance_uid) for p in photos]
    summaries: list[dict[str, Any]] = []
    reported: list[tuple[Dataset, PhotoSection]] = []
    ctx = node_context(settings)
    for instance_id, path, sop_uid in work:
        try:
            ds = dcmread(path)
            remember(ds)
            patient = describe_patient(ds, settings.log_patient_identifiers)
            log.info("job %d: analysing %s%s", job_id, sop_uid, f" of {patient}" if patient else "")
            outcome = analyse_dataset(ds, analyzers.get(), ctx)
        except Exception as exc:  # one bad photo must not cost the series its results
            log.exception("photo could not be analysed")
            reason = f"analysis failed: {type(exc).__name__}: {exc}"
            outcome = PhotoOutcome(sop_uid, None, [], reason)
        if outcome.error:
            _quarantine_instance(sessions, storage, instance_id, Path(path), outcome.error)
            summaries.append({"sop_instance_uid": sop_uid, "error": outcome.error})
            continue
        _store_outputs(sessions, storage, settings, job_id, instance_id, outcome.outputs)
        assert outcome.analysis is not None
        summary = analysis_summary(outcome.analysis, include_points=False)
        summaries.append({"sop_instance_uid": sop_uid, **summary})
        ctx = ctx.advance(len(outcome.outputs))
        if outcome.section is not None:
            reported.append((reference_header(ds), outcome.section))
    if len(reported) >= 2:
        norms = analyzers.options.tables.norms
        _store_series_report(sessions, storage, settings, job_id, reported, ctx, norms)
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.summary = json.dumps(summaries)
    log.info("job %d analysed %d photo(s)", job_id, len(work))


def _store_series_report(
    sessions: sessionmaker[Session],
    storage: Storage,
    settings: Settings,
    job_id: int,
    reported: list[tuple[Dataset, PhotoSection]],
    ctx: ResultContext,
    norms: NormTable,
) -> None:
    """One PDF report on every photo this job analysed (each also has its own report)."""
    try:
        headers = [header for header, _ in reported]
        report = build_report(
            headers, [s for _, s in reported], ctx, ctx.instance_number_start, norms
        )
    except Exception:  # the photos' own results are stored already; this one is extra
        log.exception("series report could not be built")
        return
    _store_outputs(sessions, storage, settings, job_id, None, [report])


def _store_outputs(
    sessions: sessionmaker[Session],
    storage: Storage,
    settings: Settings,
    job_id: int,
    instance_id: int | None,
    outputs: list[Dataset],
) -> None:
    """Write the result files, then in one transaction queue them and mark the photo
    (``instance_id``; None for a result of the whole series) done."""
    items: list[OutboxItem] = []
    for out in outputs:
        path = storage.result_path(
            str(out.StudyInstanceUID), str(out.SeriesInstanceUID), str(out.SOPInstanceUID)
        )
        write_dataset(out, path)
        kind = _KIND_BY_MODALITY.get(str(out.get("Modality", "")), ResultKind.OTHER)
        for dest in settings.destinations:
            items.append(
                OutboxItem(
                    job_id=job_id,
                    destination=dest.name,
                    sop_instance_uid=str(out.SOPInstanceUID),
                    sop_class_uid=str(out.SOPClassUID),
                    kind=kind,
                    path=str(path),
                    next_attempt_at=utcnow(),
                )
            )
    with sessions.begin() as session:
        session.add_all(items)
        session.add_all(audit.produced_entries(outputs, job_id))  # audit: produced
        photo = session.get(Instance, instance_id) if instance_id is not None else None
        if photo is not None:
            photo.analysed_at = utcnow()


def write_dataset(ds: Dataset, path: Path) -> None:
    """Write a result dataset atomically as a DICOM Part 10 file."""
    from io import BytesIO

    from node.storage import write_atomic

    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    write_atomic(path, buf.getvalue())


def _quarantine_instance(
    sessions: sessionmaker[Session], storage: Storage, instance_id: int, path: Path, reason: str
) -> None:
    target = storage.quarantine_path(path.stem)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)
    except OSError:
        target = path
    with sessions.begin() as session:
        row = session.get(Instance, instance_id)
        if row is not None:
            row.role = InstanceRole.QUARANTINED
            row.path = str(target)
            row.note = reason[:2000]
            session.add(audit.instance_entry(AuditEvent.QUARANTINED, row, detail=reason))
    log.warning("photo quarantined: %s", reason)
