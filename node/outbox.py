"""Durable delivery of results: rows are written before sending, sent by C-STORE to every
destination, retried with exponential backoff while a destination is down, marked "sent"
only on a Success (0x0000) status, and dead-lettered after ``outbox_max_attempts``."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from node.db import OutboxItem, OutboxState, utcnow
from node.sender import Sender, SendError

log = logging.getLogger(__name__)


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
    """Try every pending item whose time has come; returns how many were delivered."""
    now = now or utcnow()
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
    delivered = 0
    for name, items in by_dest.items():
        try:
            dest = settings.destination(name)
        except ValueError as exc:
            _record(sessions, items, [None] * len(items), str(exc), settings, now)
            continue
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
        delivered += _record(sessions, items, statuses, error, settings, now)
    return delivered


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
            if status == 0x0000:
                row.state = OutboxState.SENT
                row.sent_at = now
                row.last_error = ""
                delivered += 1
                continue
            row.attempts += 1
            row.last_error = error or (
                f"status 0x{status:04X}" if status is not None and status >= 0 else "not sent"
            )
            if row.attempts >= settings.outbox_max_attempts:
                row.state = OutboxState.DEAD
                log.error("result %s to %s dead-lettered after %d attempts: %s",
                          row.id, row.destination, row.attempts, row.last_error)
            else:
                delay = backoff_s(row.attempts, settings.outbox_retry_initial_s,
                                  settings.outbox_retry_max_s)
                row.next_attempt_at = now + dt.timedelta(seconds=delay)
    if delivered:
        log.info("delivered %d result object(s)", delivered)
    if error:
        log.warning("delivery failed, will retry: %s", error)
    return delivered


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
