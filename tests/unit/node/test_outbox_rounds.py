"""Delivery rounds: one at a time per process (a second caller sends nothing twice), each
destination served by its own thread with its own association, side by side, and the
outbox thread delivering as soon as it is woken."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Destination, load_settings
from node.db import OutboxItem, utcnow
from node.outbox import OutboxWorker, deliver_due
from node.sender import MemorySender
from tests.support.net import wait_until

DESTINATIONS = [{"name": n, "ae_title": n, "host": "127.0.0.1", "port": 104 + i}
                for i, n in enumerate(("PACS", "ARCHIVE", "VNA"))]


class SlowSender(MemorySender):
    """A MemorySender that takes its time per destination and notes which thread sent."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s
        self.threads: dict[str, set[str]] = {}
        self.concurrent = 0
        self.max_concurrent = 0
        self._lock = threading.Lock()

    def send(self, destination: Destination, paths: Sequence[Path]) -> list[int]:
        with self._lock:
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
            self.threads.setdefault(destination.name, set()).add(
                threading.current_thread().name)
        time.sleep(self.delay_s)
        try:
            return super().send(destination, paths)
        finally:
            with self._lock:
                self.concurrent -= 1


def _queue(sessions: sessionmaker[Session], tmp_path: Path, per_destination: int) -> None:
    with sessions.begin() as s:
        for d in DESTINATIONS:
            for i in range(per_destination):
                p = tmp_path / f"r{i}.dcm"
                p.write_bytes(b"x")
                s.add(OutboxItem(destination=d["name"], sop_instance_uid=f"1.2.{i}",
                                 sop_class_uid="1.2.840.10008.5.1.4.1.1.88.34", kind="sr",
                                 path=str(p), next_attempt_at=utcnow()))


def test_concurrent_rounds_send_every_item_exactly_once(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = load_settings(env={}, storage_dir=tmp_path / "var", destinations=DESTINATIONS)
    _queue(sessions, tmp_path, 20)
    sender = SlowSender(0.3)
    callers = [threading.Thread(target=deliver_due, args=(sessions, sender, settings))
               for _ in range(4)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(30)
    deliver_due(sessions, sender, settings)  # nothing left to send
    sent = Counter((d, p.name) for d, p in sender.sent)
    assert len(sent) == 60 and set(sent.values()) == {1}, "each item sent exactly once"
    assert sender.max_concurrent == 3, "the three destinations are served side by side"
    assert all(len(names) == 1 for names in sender.threads.values())
    with sessions() as s:
        assert set(s.scalars(select(OutboxItem.state))) == {"sent"}


def test_the_outbox_thread_delivers_when_woken(sessions: sessionmaker[Session],
                                               tmp_path: Path) -> None:
    settings = load_settings(env={}, storage_dir=tmp_path / "var", destinations=DESTINATIONS)
    sender = MemorySender()
    worker = OutboxWorker(sessions, sender, settings, poll_s=60)  # only a wake() sends
    worker.start()
    try:
        time.sleep(0.2)
        _queue(sessions, tmp_path, 2)
        worker.wake()
        wait_until(lambda: len(sender.sent) == 6, timeout=10, what="delivery after wake()")
    finally:
        worker.stop()
