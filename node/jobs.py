"""The embedded job runner: jobs are database rows; worker threads claim them one at a
time (each thread has its photos analysed in its own worker process, :mod:`node.worker`).
A job that was running when the node stopped is put back in the queue at start; one the
node stopped on purpose (:class:`JobInterrupted`) goes back at once, its start uncounted.

A job's ``attempts`` counts its starts (:func:`claim_next`); :mod:`node.pipeline` also
counts a worker's failures there and sets it back as photos are done, so that it bounds the
attempts of each photo (``job_max_attempts``), not only of the whole job."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from config.errors import FacenodeError
from node.db import Job, JobKind, JobState, utcnow

log = logging.getLogger(__name__)

MAX_JOB_ATTEMPTS = 3  # the default of the job_max_attempts setting


class JobInterrupted(FacenodeError):
    """The node stopped during the job: it goes back to the queue, this start uncounted."""


def resume_interrupted(sessions: sessionmaker[Session]) -> int:
    """Jobs left "running" by a stopped node go back to "queued"; returns how many."""
    with sessions.begin() as session:
        result = session.execute(
            update(Job)
            .where(Job.state == JobState.RUNNING)
            .values(state=JobState.QUEUED, started_at=None)
        )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        log.info("resumed %d interrupted job(s)", count)
    return count


def claim_next(
    sessions: sessionmaker[Session], kinds: Collection[JobKind] | None = None
) -> int | None:
    """Atomically take the oldest queued job (of ``kinds``; None: any); None when there is
    none."""
    with sessions.begin() as session:
        query = select(Job.id).where(Job.state == JobState.QUEUED)
        if kinds is not None:
            query = query.where(Job.kind.in_([JobKind(k) for k in kinds]))
        job_id = session.scalar(query.order_by(Job.id).limit(1))
        if job_id is None:
            return None
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == JobState.QUEUED)
            .values(
                state=JobState.RUNNING,
                started_at=utcnow(),
                attempts=Job.attempts + 1,
                stage="",
                progress=None,
            )
        )
        return job_id if result.rowcount == 1 else None  # type: ignore[attr-defined]


def finish(
    sessions: sessionmaker[Session],
    job_id: int,
    error: str = "",
    max_attempts: int = MAX_JOB_ATTEMPTS,
) -> None:
    """Mark done, or on error re-queue until ``max_attempts``, then "failed"."""
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        if job is None:
            return
        job.stage, job.progress = "", None
        if not error:
            job.state, job.finished_at, job.error = JobState.DONE, utcnow(), ""
        elif job.attempts >= max_attempts:
            job.state, job.finished_at, job.error = JobState.FAILED, utcnow(), error[:4000]
        else:
            job.state, job.error = JobState.QUEUED, error[:4000]


def report_progress(
    sessions: sessionmaker[Session], job_id: int, stage: str, fraction: float
) -> None:
    """Record a running job's stage and progress (0–1) for ``facenode status``."""
    with sessions.begin() as session:
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == JobState.RUNNING)
            .values(stage=stage[:32], progress=min(max(float(fraction), 0.0), 1.0))
        )


def release(sessions: sessionmaker[Session], job_id: int) -> None:
    """Put a running job back in the queue without counting the start it was in."""
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        if job is not None and job.state == JobState.RUNNING:
            job.state, job.started_at, job.stage, job.progress = JobState.QUEUED, None, "", None
            job.attempts = max(0, job.attempts - 1)


class WorkerPool:
    """``count`` threads that run ``run(job_id)`` for each claimed job (of ``kinds``;
    None: any) until stopped. The node has one pool per job kind, so that minutes-long 3D
    jobs never hold up the photos' 2D analysis."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        run: Callable[[int], None],
        count: int,
        poll_s: float = 0.5,
        max_attempts: int = MAX_JOB_ATTEMPTS,
        kinds: Collection[JobKind] | None = None,
        name: str = "facenode-worker",
    ) -> None:
        self.sessions = sessions
        self.kinds = kinds
        self.name = name
        self.run = run
        self.count = count
        self.poll_s = poll_s
        self.max_attempts = max_attempts
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.count):
            t = threading.Thread(target=self._loop, name=f"{self.name}-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                job_id = claim_next(self.sessions, self.kinds)
            except Exception:
                log.exception("could not claim a job")
                job_id = None
            if job_id is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            try:
                self.run(job_id)
            except JobInterrupted:
                log.info("job %d interrupted; back in the queue", job_id)
                release(self.sessions, job_id)
            except Exception as exc:
                log.exception("job %d failed", job_id)
                finish(self.sessions, job_id, f"{type(exc).__name__}: {exc}", self.max_attempts)
            else:
                finish(self.sessions, job_id, max_attempts=self.max_attempts)
