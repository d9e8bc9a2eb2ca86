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

from analysis.overlay import render_overlays
from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
from analysis.report import PhotoSection
from analysis.serialize import analysis_summary
from analysis.types import PhotoAnalysis
from config.settings import Settings
from dicom.context import ResultContext
from dicom.errors import DicomInputError
from dicom.pdf import build_report, photo_section
from dicom.photo import dataset_to_photo
from dicom.results import build_results
from dicom.source import reference_header
from node import __version__
from node.db import Instance, Job, OutboxItem, utcnow
from node.scp import OUR_MANUFACTURER
from node.storage import Storage

log = logging.getLogger(__name__)

_KIND_BY_MODALITY = {"SR": "sr", "OT": "sc", "XC": "sc", "DOC": "pdf", "M3D": "mesh"}


@dataclass
class PhotoOutcome:
    sop_instance_uid: str
    analysis: PhotoAnalysis | None
    outputs: list[Dataset]
    error: str = ""
    section: PhotoSection | None = None  # the photo's part of a series report


def analysis_options(settings: Settings, source: Dataset | None = None) -> AnalysisOptions:
    sex = str(source.get("PatientSex", "")).upper() if source is not None else ""
    return AnalysisOptions(
        backend=settings.analysis_backend,
        model_dir=settings.models_dir,
        assumed_ipd_mm=settings.assumed_ipd_mm,
        sex=sex if sex in ("M", "F") else None,
    )


class Analyzers:
    """One analyzer per worker thread (the landmark models are not thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._local = threading.local()

    def get(self) -> PhotoAnalyzer:
        analyzer = getattr(self._local, "analyzer", None)
        if analyzer is None:
            analyzer = PhotoAnalyzer(analysis_options(self.settings))
            self._local.analyzer = analyzer
        return analyzer


def analyse_dataset(
    ds: Dataset, analyzer: PhotoAnalyzer, ctx: ResultContext, settings: Settings
) -> PhotoOutcome:
    """Analyse one photo dataset into result datasets (no storage, no database)."""
    uid = str(ds.SOPInstanceUID)
    try:
        photo = dataset_to_photo(ds)
    except DicomInputError as exc:
        return PhotoOutcome(uid, None, [], error=str(exc))
    opts = analysis_options(settings, ds)
    if opts.sex != analyzer.options.sex:
        analyzer.options = opts  # same models, other norm rows
    result = analyzer.analyze(photo)
    overlays = render_overlays(photo, result)
    section = photo_section(ds, result, overlays)
    outputs = build_results(ds, result, overlays, ctx, section=section)
    return PhotoOutcome(uid, result, outputs, section=section)


def node_context(settings: Settings, source: Dataset) -> ResultContext:
    return ResultContext.new(
        manufacturer=OUR_MANUFACTURER,
        model_name="facenode",
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
                Instance.role == "photo",
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
    ctx: ResultContext | None = None
    for instance_id, path, sop_uid in work:
        try:
            ds = dcmread(path)
            if ctx is None:
                ctx = node_context(settings, ds)
            outcome = analyse_dataset(ds, analyzers.get(), ctx, settings)
        except Exception as exc:  # one bad photo must not cost the series its results
            log.exception("photo could not be analysed")
            reason = f"analysis failed: {type(exc).__name__}: {exc}"
            outcome = PhotoOutcome(sop_uid, None, [], reason)
        if outcome.error:
            _quarantine_instance(sessions, storage, instance_id, Path(path), outcome.error)
            summaries.append({"sop_instance_uid": sop_uid, "error": outcome.error})
            continue
        _store_outputs(sessions, storage, settings, job_id, instance_id, outcome.outputs)
        assert outcome.analysis is not None and ctx is not None
        summary = analysis_summary(outcome.analysis, include_points=False)
        summaries.append({"sop_instance_uid": sop_uid, **summary})
        ctx = ctx.advance(len(outcome.outputs))
        if outcome.section is not None:
            reported.append((reference_header(ds), outcome.section))
    if len(reported) >= 2 and ctx is not None:
        _store_series_report(sessions, storage, settings, job_id, reported, ctx)
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
) -> None:
    """One PDF report on every photo this job analysed (each also has its own report)."""
    try:
        headers = [header for header, _ in reported]
        report = build_report(headers, [s for _, s in reported], ctx, ctx.instance_number_start)
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
        kind = _KIND_BY_MODALITY.get(str(out.get("Modality", "")), "other")
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
            row.role = "quarantined"
            row.path = str(target)
            row.note = reason[:2000]
    log.warning("photo quarantined: %s", reason)
