"""What a 3D job does (``reconstruct_series``, queued by :mod:`node.series3d`): have the
series' photos reconstructed (:mod:`node.worker_task3d`, in a 3D job thread's worker
process), record the progress the worker reports for ``facenode status``, then store the
result files and queue them in the outbox for every destination — the same path as the 2D
results (:func:`node.pipeline.store_outputs`).

A reconstruction the photos do not allow (too few views, no scale…) ends the job as done
with a note for the surgeon and the reason in the job's summary; a worker that dies, runs
out of memory or outlasts ``reconstruction_timeout_s`` raises
:class:`~node.worker.WorkerFailure`, so the job is tried again until ``job_max_attempts``
and then marked failed with the reason — and at that last attempt the node itself sends
the note, with that reason, so the surgeon is not left waiting for a reconstruction that
will not come. The photos themselves are never quarantined by a 3D job: their 2D results
stand.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Final, Protocol

from pydicom import dcmread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings, parse_known_distance
from dicom.note3d import build_reconstruction_note
from dicom.source import reference_header
from node.db import Instance, InstanceRole, Job
from node.jobs import report_progress
from node.pipeline import store_outputs
from node.storage import Storage
from node.worker import OnProgress, WorkerFailure
from node.worker_task import ResultFile, node_context
from node.worker_task3d import Options3D, ReconstructionResult, ReconstructionTask

log = logging.getLogger(__name__)

#: Progress is written to the database at most this often (s), and at each new stage.
PROGRESS_EVERY_S: Final = 1.0


class ReconstructionRunner(Protocol):
    """Where a 3D job runs: :class:`node.worker.WorkerRunner` or, in tests,
    :class:`node.worker_task.Analyzers`."""

    def reconstruct(
        self, task: ReconstructionTask, on_progress: OnProgress | None = None
    ) -> ReconstructionResult: ...


def options_3d(settings: Settings) -> Options3D:
    known = settings.reconstruction_known_distance
    return Options3D(
        min_views=settings.reconstruction_min_views,
        device=settings.device,
        target_triangles=settings.reconstruction_target_triangles,
        known_distance=parse_known_distance(known) if known else None,
    )


def run_reconstruction_job(
    job_id: int,
    sessions: sessionmaker[Session],
    storage: Storage,
    settings: Settings,
    runner: ReconstructionRunner,
) -> None:
    """Reconstruct the series of job ``job_id`` from all its photos (module docstring)."""
    with sessions() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise LookupError(f"job {job_id} does not exist")
        series_uid = job.series_uid
        paths = session.scalars(
            select(Instance.path)
            .where(Instance.series_uid == series_uid, Instance.role == InstanceRole.PHOTO)
            .order_by(Instance.id)
        ).all()
    log.info("job %d: 3D reconstruction of %d photos", job_id, len(paths))
    task = ReconstructionTask(tuple(paths), node_context(settings), options_3d(settings))
    try:
        result = runner.reconstruct(task, _ProgressRecorder(sessions, job_id))
    except WorkerFailure as exc:
        if _attempts(sessions, job_id) >= settings.job_max_attempts:
            _failure_note(sessions, storage, settings, job_id, task, str(exc))
        raise
    store_outputs(sessions, storage, settings, job_id, None, result.files)
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        assert job is not None
        job.summary = json.dumps(result.summary)
    if result.refused:
        log.warning("job %d: 3D reconstruction not made: %s", job_id, result.refused)
    else:
        log.info("job %d: 3D reconstruction done, %d result objects in %.0f s", job_id,
                 len(result.files), float(result.summary.get("seconds", 0.0)))  # fmt: skip


def _attempts(sessions: sessionmaker[Session], job_id: int) -> int:
    with sessions() as session:
        job = session.get(Job, job_id)
        return job.attempts if job is not None else 0


def _failure_note(
    sessions: sessionmaker[Session],
    storage: Storage,
    settings: Settings,
    job_id: int,
    task: ReconstructionTask,
    error: str,
) -> None:
    """The note for a job whose last attempt failed, built here (light: no 3D library)."""
    try:
        headers = []
        for path in task.paths:
            try:
                headers.append(reference_header(dcmread(path, stop_before_pixels=True)))
            except Exception as exc:  # an unreadable photo is left out of the references
                log.debug("photo left out of the 3D note: %s", exc)
        if not headers:
            return
        reason = f"the reconstruction failed {settings.job_max_attempts} times ({error})"
        note = build_reconstruction_note(headers, reason, task.ctx, n_photos=len(task.paths),
                                         min_views=task.options.min_views)  # fmt: skip
        store_outputs(sessions, storage, settings, job_id, None, [ResultFile.of(note)])
    except Exception:  # the job fails with its own reason either way
        log.exception("job %d: the note on the failed 3D reconstruction could not be built",
                      job_id)  # fmt: skip


class _ProgressRecorder:
    """``on_progress`` for a worker: the job's stage and progress into the database, at a
    new stage or after :data:`PROGRESS_EVERY_S`."""

    def __init__(self, sessions: sessionmaker[Session], job_id: int) -> None:
        self.sessions = sessions
        self.job_id = job_id
        self._stage = ""
        self._at = 0.0

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if stage == self._stage and now - self._at < PROGRESS_EVERY_S:
            return
        self._stage, self._at = stage, now
        report_progress(self.sessions, self.job_id, stage, fraction)
