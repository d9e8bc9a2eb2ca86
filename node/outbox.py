"""Durable delivery of results: rows are written before sending, sent by C-STORE to every
destination, retried with exponential backoff while a destination is down, marked "sent"
only on a Success (0x0000) status, and dead-lettered after ``outbox_max_attempts``.

One delivery round at a time per process (:data:`_ROUND`): a second caller does not send the
same rows again. In a round each destination gets one association, made, used and released
by one thread; destinations are served side by side, so a slow or down one does not hold
up the others. :class:`OutboxWorker` runs the rounds on a thread of their own, so a stalled
peer never holds up series-stability detection. Each attempt leaves an audit row (sent,
send-failed, dead) in the transaction that records it.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Destination, Settings
from node import audit
from node.db import AuditEvent, OutboxItem, OutboxState, utcnow
from node.sender import Sender, SendError

log = logging.getLogger(__name__)

#: Held for a whole delivery round, so no two rounds of one process send the same rows.
_ROUND = threading.Lock()
MAX_PARALLEL_DESTINATIONS = 8


def backoff_s(attempts: int, initial: float, cap: float) -> float:
    """Delay before the next try after ``attempts`` failures: initial·2^(n-1), capped."""
    return float(min(cap, initial * (2 ** max(attempts - 1, 0))))


def deliver_due(
    sessions: sessionmaker[Session],
    sender: Sender,
    settings: Settings,
    now: dt.datetime | None = None,
    batch: int = 200,
) -> int:
    """Try every pending item whose time has come; returns how many were delivered (0 at
    once when another thread's round is under way: it delivers them)."""
    if not _ROUND.acquire(blocking=False):
        return 0
    try:
        return _deliver_round(sessions, sender, settings, now or utcnow(), batch)
    finally:
        _ROUND.release()


def _deliver_round(
    sessions: sessionmaker[Session],
    sender: Sender,
    settings: Settings,
    now: dt.datetime,
    batch: int,
) -> int:
    with sessions() as session:
        due = session.scalars(
            select(OutboxItem)
            .where(OutboxItem.state == OutboxState.PENDING, OutboxItem.next_attempt_at <= now)
            .order_by(OutboxItem.id)
            .limit(batch)
        ).all()
    by_dest: dict[str, list[OutboxItem]] = defaultdict(list)
    for item in due:
        by_dest[item.destination].append(item)
    if len(by_dest) <= 1:
        return sum(_deliver_to(sessions, sender, settings, name, items, now)
                   for name, items in by_dest.items())
    workers = min(len(by_dest), MAX_PARALLEL_DESTINATIONS)
    with ThreadPoolExecutor(workers, thread_name_prefix="facenode-send") as pool:
        futures = [pool.submit(_deliver_to, sessions, sender, settings, name, items, now)
                   for name, items in by_dest.items()]
        return sum(f.result() for f in futures)


def _deliver_to(
    sessions: sessionmaker[Session],
    sender: Sender,
    settings: Settings,
    name: str,
    items: list[OutboxItem],
    now: dt.datetime,
) -> int:
    """One destination's share of a round: one association (inside ``sender.send``), made
    and released by this thread."""
    try:
        dest: Destination = settings.destination(name)
    except ValueError as exc:
        return _record(sessions, items, [None] * len(items), str(exc), settings, now)
    try:
        statuses: list[int | None] = list(sender.send(dest, [Path(i.path) for i in items]))
        error = ""
    except (SendError, OSError) as exc:
        statuses = [None] * len(items)
        error = str(exc)
    except Exception as exc:  # a broken file must not stop the outbox
        log.exception("sending to %s failed", name)
        statuses = [None] * len(items)
        error = f"{type(exc).__name__}: {exc}"
    return _record(sessions, items, statuses, error, settings, now)


def _record(
    sessions: sessionmaker[Session],
    items: list[OutboxItem],
    statuses: list[int | None],
    error: str,
    settings: Settings,
    now: dt.datetime,
) -> int:
    delivered = 0
    with sessions.begin() as session:
        for item, status in zip(items, statuses, strict=True):
            row = session.get(OutboxItem, item.id)
            if row is None:
                continue
            if row.state != OutboxState.PENDING:
                continue  # settled meanwhile (never by this process: one round at a time)
            if status == 0x0000:
                row.state = OutboxState.SENT
                row.sent_at = now
                row.last_error = ""
                delivered += 1
                session.add(_audit(AuditEvent.SENT, row, status))
                continue
            row.attempts += 1
            row.last_error = error or (
                f"status 0x{status:04X}" if status is not None and status >= 0 else "not sent"
            )
            if row.attempts >= settings.outbox_max_attempts:
                row.state = OutboxState.DEAD
                log.error("result %s to %s dead-lettered after %d attempts: %s",
                          row.id, row.destination, row.attempts, row.last_error)
                session.add(_audit(AuditEvent.DEAD, row, status))
            else:
                delay = backoff_s(row.attempts, settings.outbox_retry_initial_s,
                                  settings.outbox_retry_max_s)
                row.next_attempt_at = now + dt.timedelta(seconds=delay)
                session.add(_audit(AuditEvent.SEND_FAILED, row, status))
    if delivered:
        log.info("delivered %d result object(s)", delivered)
    if error:
        log.warning("delivery failed, will retry: %s", error)
    return delivered


def _audit(event: AuditEvent, row: OutboxItem, status: int | None) -> audit.AuditRecord:
    return audit.entry(
        event,
        sop_instance_uid=row.sop_instance_uid,
        sop_class_uid=row.sop_class_uid,
        destination=row.destination,
        status=status if status is not None and status >= 0 else None,
        detail=f"attempt {row.attempts}" + (f": {row.last_error}" if row.last_error else ""),
    )


def requeue_dead(sessions: sessionmaker[Session], now: dt.datetime | None = None) -> int:
    """Put dead-lettered items back in the queue (after the admin fixed the destination)."""
    now = now or utcnow()
    with sessions.begin() as session:
        rows = session.scalars(select(OutboxItem).where(OutboxItem.state == OutboxState.DEAD)).all()
        for row in rows:
            row.state = OutboxState.PENDING
            row.attempts = 0
            row.next_attempt_at = now
        return len(rows)


class OutboxWorker:
    """The delivery thread: a round every ``poll_s`` and whenever :meth:`wake` is called
    (results were just queued)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sender: Sender,
        settings: Settings,
        poll_s: float = 1.0,
    ) -> None:
        self.sessions, self.sender, self.settings, self.poll_s = sessions, sender, settings, poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="facenode-outbox", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            if not self.settings.destinations:
                continue
            try:
                deliver_due(self.sessions, self.sender, self.settings)
            except Exception:
                log.exception("delivery round failed; will try again")
