"""The running node: storage + database + SCP + series monitor + workers + outbox, wired
together with one start/stop. ``facenode serve`` is this and nothing else.

This process receives, stores and schedules; photos are decoded and analysed in worker
processes (:mod:`node.worker`), bounded in memory and time, so no photo can slow or crash
ingest. ``in_process=True`` analyses on the job threads instead (tests only)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Final

from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from node.audit_syslog import AuditForwarder
from node.db import JobKind, open_database
from node.jobs import WorkerPool, resume_interrupted
from node.listener import Listener
from node.outbox import OutboxWorker
from node.peers import OnAssociation
from node.pipeline import Analyzers, run_job
from node.pipeline3d import run_reconstruction_job
from node.scp import start_scp
from node.sender import DicomSender, Sender
from node.series import queue_stable_series, seconds_until_stable
from node.storage import Storage
from node.worker import WorkerRunner
from node.worker_task import PhotoRunner

log = logging.getLogger(__name__)

#: The ticker's longest sleep (s) when nothing is due: stable series, results to deliver.
TICK_S: Final = 1.0
#: Its shortest (s): a series due now is queued by this tick, never in a busy loop.
MIN_TICK_S: Final = 0.01


class Node:
    """Start with :meth:`start`, stop with :meth:`stop`; the threads are daemons."""

    def __init__(
        self,
        settings: Settings,
        sender: Sender | None = None,
        on_association: OnAssociation | None = None,
        *,
        in_process: bool = False,
    ) -> None:
        self.settings = settings
        self.on_association = on_association  # every admission decision (default: logged)
        self.storage = Storage(settings.storage_dir)
        self.sessions: sessionmaker[Session] = open_database(settings.db_url)
        self.sender: Sender = sender or DicomSender.from_settings(settings)
        self.analyzers: PhotoRunner = Analyzers(settings) if in_process else WorkerRunner(settings)
        self._run = partial(
            run_job,
            sessions=self.sessions,
            storage=self.storage,
            settings=settings,
            analyzers=self.analyzers,
        )
        self._run3d = partial(
            run_reconstruction_job,
            sessions=self.sessions,
            storage=self.storage,
            settings=settings,
            runner=self.analyzers,
        )
        self.workers = WorkerPool(
            self.sessions,
            partial(self._run_then_deliver, self._run),
            settings.workers,
            max_attempts=settings.job_max_attempts,
            kinds=(JobKind.ANALYZE,),
        )
        # 3D jobs take minutes: threads (and worker processes) of their own, so that the
        # photos of other series are analysed meanwhile
        self.workers3d = WorkerPool(
            self.sessions,
            partial(self._run_then_deliver, self._run3d),
            settings.reconstruction_workers,
            max_attempts=settings.job_max_attempts,
            kinds=(JobKind.RECONSTRUCT,),
            name="facenode-3d",
        )
        self.outbox = OutboxWorker(self.sessions, self.sender, settings)  # its own thread
        self.audit_forwarder = (
            AuditForwarder(self.sessions, settings.audit_syslog) if settings.audit_syslog else None
        )
        self._stop = threading.Event()
        self._kick = threading.Event()  # results are waiting: deliver now, not at the next tick
        self._ticker: threading.Thread | None = None
        self._server: Listener | None = None

    def start(self) -> None:
        resume_interrupted(self.sessions)
        if self.audit_forwarder is not None:
            self.audit_forwarder.start()
        self.workers.start()
        self.workers3d.start()
        self.outbox.start()
        self._server = start_scp(
            self.settings, self.storage, self.sessions, on_association=self.on_association
        )
        self._ticker = threading.Thread(target=self._tick_loop, name="facenode-ticker", daemon=True)
        self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._server is not None:
            self._server.shutdown()
        if self._ticker is not None:
            self._ticker.join(10)
        self.analyzers.close()  # a job waiting on its worker goes back to the queue
        self.workers.stop()
        self.workers3d.stop()
        self.outbox.stop()
        if self.audit_forwarder is not None:
            self.audit_forwarder.stop()

    def wait(self) -> None:
        self._stop.wait()

    def tick(self) -> None:
        """One round of housekeeping: queue stable series, deliver due results."""
        if queue_stable_series(self.sessions, self.settings.stable_age_s):
            self.workers.wake()
        self.workers3d.wake()  # a 2D job may have queued a 3D one
        if self.settings.destinations:
            self.outbox.wake()  # delivered on the outbox thread: a slow peer stalls only it

    def _run_then_deliver(self, run: Callable[[int], None], job_id: int) -> None:
        try:
            run(job_id)
        finally:
            self._kick.set()

    def _next_tick_s(self) -> float:
        """How long the ticker sleeps: until the next series becomes stable, at most
        :data:`TICK_S`, and at most half the stable age, so that a series that arrives
        between ticks is seen before it is due. With a fixed 1 s tick, a series waited
        up to 1 s beyond its stable age (a median 0.5 s of every round trip)."""
        wait = min(TICK_S, self.settings.stable_age_s / 2)
        try:
            due = seconds_until_stable(self.sessions, self.settings.stable_age_s)
        except Exception:
            log.exception("could not read the receiving series; ticking as usual")
            due = None
        return max(MIN_TICK_S, wait if due is None else min(wait, due))

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            self._kick.wait(self._next_tick_s())
            self._kick.clear()
            if self._stop.is_set():
                break
            try:
                self.tick()
            except Exception:
                log.exception("housekeeping round failed; will try again")
