"""A series is queued when it becomes stable, not up to a polling interval later.

With the node's fixed 1 s tick, a one-photo series waited between 0 and 1 s beyond its
``stable_age_s`` before its job was queued (a median 0.5 s of every PACS round trip). Three
series arriving a third of a second apart cannot all fall just before a fixed tick: at
least two of them would wait ≥ 0.3 s beyond their stable age.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import load_settings
from node.db import Job, Series, utcnow
from node.series import seconds_until_stable
from node.service import Node
from tests.support.net import free_port, wait_until

STABLE_AGE_S = 1.0
#: Beyond the stable age: one database round and a thread's wake-up on a loaded machine.
LATE_S = 0.25


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    settings = load_settings(env={}, storage_dir=tmp_path / "var", port=free_port(),
                             bind_address="127.0.0.1", min_free_disk_mb=0,
                             stable_age_s=STABLE_AGE_S, workers=1)  # fmt: skip
    running = Node(settings, in_process=True)
    running.start()
    yield running
    running.stop()


def _arrive(node: Node, series_uid: str) -> dt.datetime:
    at = utcnow()
    with node.sessions.begin() as s:
        s.add(Series(series_uid=series_uid, study_uid="1.2", modality="XC",
                     first_received_at=at, last_received_at=at, instance_count=1,
                     state="receiving"))  # fmt: skip
    return at


def test_series_are_queued_when_they_become_stable(node: Node) -> None:
    arrived = {}
    for k in range(3):
        arrived[f"1.2.{k}"] = _arrive(node, f"1.2.{k}")
        time.sleep(STABLE_AGE_S / 3)

    def queued() -> bool:
        with node.sessions() as s:
            return len(s.scalars(select(Job)).all()) == 3

    wait_until(queued, timeout=10, interval=0.05, what="three jobs queued")
    with node.sessions() as s:
        created = {j.series_uid: j.created_at for j in s.scalars(select(Job))}
    late = {uid: (created[uid] - at).total_seconds() - STABLE_AGE_S for uid, at in arrived.items()}
    assert all(-0.01 <= v <= LATE_S for v in late.values()), late


def test_seconds_until_stable(sessions: sessionmaker[Session]) -> None:
    assert seconds_until_stable(sessions, 10.0) is None
    t0 = utcnow()
    with sessions.begin() as s:
        for uid, ago in (("a", 2.0), ("b", 7.0)):
            at = t0 - dt.timedelta(seconds=ago)
            s.add(Series(series_uid=uid, study_uid="1.2", modality="XC", first_received_at=at,
                         last_received_at=at, instance_count=1, state="receiving"))  # fmt: skip
        at = t0 - dt.timedelta(seconds=9.5)
        s.add(Series(series_uid="done", study_uid="1.2", modality="XC", first_received_at=at,
                     last_received_at=at, instance_count=1, state="queued"))  # fmt: skip
    assert seconds_until_stable(sessions, 10.0, now=t0) == pytest.approx(3.0)
    assert seconds_until_stable(sessions, 5.0, now=t0) == 0.0
