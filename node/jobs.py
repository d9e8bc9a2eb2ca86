"""The embedded job runner: jobs are database rows; worker threads claim them one at a
time. A job that was running when the node stopped is put back in the queue at start."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from node.db import Job, JobState, utcnow

log = logging.getLogger(__name__)

MAX_JOB_ATTEMPTS = 3


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


def claim_next(sessions: sessionmaker[Session]) -> int | None:
    """Atomically take the oldest queued job; None when there is none."""
    with sessions.begin() as session:
        job_id = session.scalar(
            select(Job.id).where(Job.state == JobState.QUEUED).order_by(Job.id).limit(1)
        )
        if job_id is None:
            return None
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == JobState.QUEUED)
            .values(state=JobState.RUNNING, started_at=utcnow(), attempts=Job.attempts + 1)
        )
        return job_id if result.rowcount == 1 else None  # type: ignore[attr-defined]


def finish(sessions: sessionmaker[Session], job_id: int, error: str = "") -> None:
    """Mark done, or on error re-queue until MAX_JOB_ATTEMPTS, then "failed"."""
    with sessions.begin() as session:
        job = session.get(Job, job_id)
        if job is None:
            return
        if not error:
            job.state, job.finished_at, job.error = JobState.DONE, utcnow(), ""
        elif job.attempts >= MAX_JOB_ATTEMPTS:
            job.state, job.finished_at, job.error = JobState.FAILED, utcnow(), error[:4000]
        else:
            job.state, job.error = JobState.QUEUED, error[:4000]


class WorkerPool:
    """``count`` threads that run ``run(job_id)`` for each claimed job until stopped."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        run: Callable[[int], None],
        count: int,
        poll_s: float = 0.5,
    ) -> None:
        self.sessions = sessions
        self.run = run
        self.count = count
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.count):
            t = threading.Thread(target=self._loop, name=f"facenode-worker-{i}", daemon=True)
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
                job_id = claim_next(self.sessions)
            except Exception:
                log.exception("could not claim a job")
                job_id = None
            if job_id is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            try:
                self.run(job_id)
            except Exception as exc:
                log.exception("job %d failed", job_id)
                finish(self.sessions, job_id, f"{type(exc).__name__}: {exc}")
            else:
                finish(self.sessions, job_id)
