from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from node.db import OutboxItem, utcnow
from node.outbox import backoff_s, deliver_due, requeue_dead
from node.sender import MemorySender


def _queue(sessions: sessionmaker[Session], tmp_path: Path, n: int = 2) -> None:
    with sessions.begin() as s:
        for i in range(n):
            p = tmp_path / f"r{i}.dcm"
            p.write_bytes(b"x")
            s.add(OutboxItem(destination="PACS", sop_instance_uid=f"1.2.{i}",
                             sop_class_uid="1.2.840.10008.5.1.4.1.1.88.34", kind="sr",
                             path=str(p), next_attempt_at=utcnow()))


def _states(sessions: sessionmaker[Session]) -> list[tuple[str, int]]:
    with sessions() as s:
        return [(o.state, o.attempts) for o in s.scalars(select(OutboxItem).order_by(OutboxItem.id))]


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_s(n, 5, 60) for n in (1, 2, 3, 4, 5, 9)] == [5, 10, 20, 40, 60, 60]


def test_delivered_only_on_success(sessions: sessionmaker[Session], settings: Settings,
                                   tmp_path: Path) -> None:
    _queue(sessions, tmp_path)
    sender = MemorySender()
    assert deliver_due(sessions, sender, settings) == 2
    assert _states(sessions) == [("sent", 0), ("sent", 0)]
    assert [d for d, _ in sender.sent] == ["PACS", "PACS"]


def test_warning_or_failure_status_is_not_delivery(sessions: sessionmaker[Session],
                                                   settings: Settings, tmp_path: Path) -> None:
    _queue(sessions, tmp_path, 1)
    assert deliver_due(sessions, MemorySender(status=0xB000), settings) == 0
    with sessions() as s:
        row = s.scalars(select(OutboxItem)).one()
    assert row.state == "pending" and row.attempts == 1 and "0xB000" in row.last_error


def test_down_destination_retries_with_backoff_then_delivers(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    _queue(sessions, tmp_path)
    sender = MemorySender(down={"PACS"})
    t = utcnow()
    assert deliver_due(sessions, sender, settings, now=t) == 0
    assert _states(sessions) == [("pending", 1), ("pending", 1)]
    # not due yet: nothing attempted
    assert deliver_due(sessions, sender, settings, now=t + dt.timedelta(seconds=4)) == 0
    assert _states(sessions) == [("pending", 1), ("pending", 1)]
    deliver_due(sessions, sender, settings, now=t + dt.timedelta(seconds=6))
    assert _states(sessions) == [("pending", 2), ("pending", 2)]
    sender.down.clear()
    assert deliver_due(sessions, sender, settings, now=t + dt.timedelta(seconds=30)) == 2
    assert _states(sessions) == [("sent", 2), ("sent", 2)]


def test_dead_letter_after_max_attempts_and_requeue(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    _queue(sessions, tmp_path, 1)
    sender = MemorySender(down={"PACS"})
    t = utcnow()
    for k in range(settings.outbox_max_attempts):
        deliver_due(sessions, sender, settings, now=t + dt.timedelta(hours=k))
    assert _states(sessions) == [("dead", settings.outbox_max_attempts)]
    deliver_due(sessions, sender, settings, now=t + dt.timedelta(days=9))
    assert _states(sessions) == [("dead", settings.outbox_max_attempts)]  # no more tries
    assert requeue_dead(sessions) == 1
    sender.down.clear()
    assert deliver_due(sessions, sender, settings) == 1


def test_unknown_destination_is_recorded_not_crashed(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    with sessions.begin() as s:
        s.add(OutboxItem(destination="GONE", sop_instance_uid="1", sop_class_uid="1", kind="sr",
                         path=str(tmp_path / "x"), next_attempt_at=utcnow()))
    assert deliver_due(sessions, MemorySender(), settings) == 0
    with sessions() as s:
        row = s.scalars(select(OutboxItem)).one()
    assert "unknown destination" in row.last_error and row.attempts == 1
