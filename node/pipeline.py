"""What a job does: for each new photo of a series, have it analysed (decode → analyse →
render overlays → build result objects: SR, SCs, PDF report) by a
:class:`~node.worker_task.PhotoRunner` — worker processes in the node
(:mod:`node.worker`), this process in tests — then store the result files and queue them in
the outbox for every destination; when the job analysed two or more photos, one more PDF
report on all of them (the series report). The database, the storage folders and the outbox
are written here, in the node's process, never by a worker.

A photo that cannot be decoded or analysed is quarantined with its reason; the others go on.

Attempts are bounded per photo, across restarts, with the job's ``attempts`` column: it
counts the starts of the photo at the head of the job's queue — the claim of the job counts
one (:func:`node.jobs.claim_next`), a worker that died, ran out of memory or timed out on
the photo counts one more, and a photo done (results stored, or quarantined) sets it back to
1 (the current start counts for the next photo). Photos are taken in order, so a node killed
during a photo finds, on restart, that photo at the head with the starts it already had. A
photo started ``job_max_attempts`` times is quarantined with the reason instead of started
again: a photo that kills whatever analyses it cannot make the node loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydicom import dcmread
from pydicom.dataset import Dataset
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from analysis.report import PhotoSection
from config.settings import Settings
from dicom.context import ResultContext
from dicom.source import reference_header
from node import audit
from node.db import AuditEvent, Instance, InstanceRole, Job, OutboxItem, ResultKind, utcnow
from node.identifiers import describe_patient, remember
from node.series3d import queue_if_wanted
from node.storage import Storage, write_atomic
from node.worker import WorkerFailure, WorkerStopped
from node.worker_task import (
    Analyzers,
    PhotoOutcome,
    PhotoResult,
    PhotoRunner,
    PhotoTask,
    ReportTask,
    ResultFile,
    analyse_dataset,
    analysis_options,
    finding_tables,
    node_context,
)

__all__ = [  # the in-process analysis, used by ``facenode analyze`` and the tests
    "Analyzers",
    "PhotoOutcome",
    "analyse_dataset",
    "analysis_options",
    "finding_tables",
    "node_context",
    "run_job",
    "store_outputs",
    "write_dataset",
]

log = logging.getLogger(__name__)

_KIND_BY_MODALITY = {
    "SR": ResultKind.SR,
    "OT": ResultKind.SC,
    "XC": ResultKind.SC,
    "DOC": ResultKind.PDF,
    "M3D": ResultKind.MESH,
}


def run_job(
    job_id: int,
    sessions: sessionmaker[Session],
    storage: Storage,
    settings: Settings,
    analyzers: PhotoRunner,
) -> None:
    """Analyse the photos this job owns (claims unclaimed photos of its series first).

    Raises :class:`~node.jobs.JobInterrupted` (a :class:`~node.worker.WorkerStopped`)
    when the node stops meanwhile: the job goes back to the queue."""
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
        series_uid = job.series_uid
        starts, last_error = max(1, job.attempts), job.error
    summaries: list[dict[str, Any]] = []
    reported: list[tuple[Dataset, PhotoSection]] = []
    ctx = node_context(settings)
    for instance_id, path, sop_uid in work:
        header = _read_header(path)
        patient = describe_patient(header, settings.log_patient_identifiers) if header else ""
        log.info("job %d: analysing %s%s", job_id, sop_uid, f" of {patient}" if patient else "")
        result = _attempt(
            sessions,
            analyzers,
            job_id,
            PhotoTask(path, sop_uid, ctx),
            starts,
            last_error,
            settings.job_max_attempts,
        )
        starts, last_error = 1, ""
        if result.error:
            _quarantine_instance(
                sessions, storage, instance_id, Path(path), result.error, job_id=job_id
            )
            summaries.append({"sop_instance_uid": sop_uid, "error": result.error})
            continue
        store_outputs(sessions, storage, settings, job_id, instance_id, result.files)
        summaries.append({"sop_instance_uid": sop_uid, **result.summary})
        ctx = ctx.advance(len(result.files))
        if result.section is not None and header is not None:
            reported.append((reference_header(header), result.section))
    if len(reported) >= 2:
        _store_series_report(sessions, storage, settings, job_id, reported, ctx, analyzers)
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.summary = json.dumps(summaries)
    log.info("job %d analysed %d photo(s)", job_id, len(work))
    if work:  # the series changed: it may now be (still) a multi-view series for 3D
        try:
            queue_if_wanted(sessions, settings, series_uid)
        except Exception:  # the 2D results are stored: a failed check must not undo them
            log.exception("job %d: could not decide on a 3D reconstruction", job_id)


def _attempt(
    sessions: sessionmaker[Session],
    analyzers: PhotoRunner,
    job_id: int,
    task: PhotoTask,
    starts: int,
    last_error: str,
    max_attempts: int,
) -> PhotoResult:
    """The photo's result, trying again after a worker failure until it was started
    ``max_attempts`` times (``starts`` counts this start and the earlier ones); then a
    result whose error quarantines it."""
    while starts <= max_attempts:
        try:
            return analyzers.analyse(task)
        except WorkerFailure as exc:
            last_error = str(exc)
            log.warning(
                "job %d: photo %s: %s (attempt %d of %d)",
                job_id,
                task.sop_instance_uid,
                last_error,
                starts,
                max_attempts,
            )
            starts += 1
            _record_start(sessions, job_id, starts, last_error)
    reason = (
        f"analysis did not finish in {max_attempts} attempt(s) (job_max_attempts); last: "
        f"{last_error or 'the node stopped during the analysis'}"
    )
    return PhotoResult(task.sop_instance_uid, error=reason)


def _record_start(sessions: sessionmaker[Session], job_id: int, starts: int, error: str) -> None:
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        if job is not None:
            job.attempts, job.error = starts, error[:4000]


def _read_header(path: str) -> Dataset | None:
    """The photo's header (no pixel data), its identifiers remembered for the log filter;
    None when it cannot be read (the worker then says why)."""
    try:
        header = dcmread(path, stop_before_pixels=True)
        remember(header)
        reference_header(header)  # the series report needs it whole
    except Exception:  # malformed files raise anything; the worker reports the reason
        return None
    return header


def _store_series_report(
    sessions: sessionmaker[Session],
    storage: Storage,
    settings: Settings,
    job_id: int,
    reported: list[tuple[Dataset, PhotoSection]],
    ctx: ResultContext,
    analyzers: PhotoRunner,
) -> None:
    """One PDF report on every photo this job analysed (each also has its own report)."""
    task = ReportTask(tuple(h for h, _ in reported), tuple(s for _, s in reported), ctx)
    try:
        report = analyzers.series_report(task)
    except WorkerStopped:
        raise
    except WorkerFailure as exc:
        log.error("series report could not be built: %s", exc)
        return
    except Exception:  # the photos' own results are stored already; this one is extra
        log.exception("series report could not be built")
        return
    store_outputs(sessions, storage, settings, job_id, None, [report])


def store_outputs(
    sessions: sessionmaker[Session],
    storage: Storage,
    settings: Settings,
    job_id: int,
    instance_id: int | None,
    outputs: Sequence[ResultFile],
) -> None:
    """Write the result files, then in one transaction queue them and mark the photo
    (``instance_id``; None for a result of the whole series) done."""
    items: list[OutboxItem] = []
    for out in outputs:
        path = storage.result_path(out.study_uid, out.series_uid, out.sop_instance_uid)
        write_atomic(path, out.data)
        kind = _KIND_BY_MODALITY.get(out.modality, ResultKind.OTHER)
        for dest in settings.destinations:
            items.append(
                OutboxItem(
                    job_id=job_id,
                    destination=dest.name,
                    sop_instance_uid=out.sop_instance_uid,
                    sop_class_uid=out.sop_class_uid,
                    kind=kind,
                    path=str(path),
                    next_attempt_at=utcnow(),
                )
            )
    with sessions.begin() as session:
        session.add_all(items)
        session.add_all(audit.produced_entries(outputs, job_id))  # audit: produced
        if instance_id is not None:
            photo = session.get(Instance, instance_id)
            if photo is not None:
                photo.analysed_at = utcnow()
            _photo_done(session, job_id)


def _photo_done(session: Session, job_id: int) -> None:
    """The job made progress: its current start now counts for its next photo."""
    job = session.get(Job, job_id)
    if job is not None:
        job.attempts, job.error = 1, ""


def write_dataset(ds: Dataset, path: Path) -> None:
    """Write a result dataset atomically as a DICOM Part 10 file."""
    write_atomic(path, ResultFile.of(ds).data)


def _quarantine_instance(
    sessions: sessionmaker[Session],
    storage: Storage,
    instance_id: int,
    path: Path,
    reason: str,
    job_id: int | None = None,
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
        if job_id is not None:
            _photo_done(session, job_id)
    log.warning("photo quarantined: %s", reason)
