"""What a node holds, read straight from its SQLite file: the public tables ``instances``,
``jobs`` and ``outbox``, by plain SQL (no ORM, no node code), so that a test counts the same
rows whatever the node's internals, and can read them while the node runs or after a kill.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HeldInstance:
    sop_instance_uid: str
    study_uid: str
    role: str  # photo | stored | quarantined
    analysed: bool
    path: str


@dataclass(frozen=True)
class JobRow:
    id: int
    state: str  # queued | running | done | failed
    attempts: int
    error: str


@dataclass(frozen=True)
class OutboxRow:
    sop_instance_uid: str
    kind: str  # sr | sc | pdf | ...
    state: str  # pending | sent | dead
    attempts: int


@dataclass(frozen=True)
class NodeRecords:
    instances: list[HeldInstance]
    jobs: list[JobRow]
    outbox: list[OutboxRow]

    def photos(self) -> list[HeldInstance]:
        return [i for i in self.instances if i.role == "photo"]

    def job_states(self) -> dict[str, int]:
        return dict(Counter(j.state for j in self.jobs))

    def outbox_states(self) -> dict[str, int]:
        return dict(Counter(o.state for o in self.outbox))

    def summary(self) -> str:
        """One line for a failure message."""
        roles = dict(Counter(i.role for i in self.instances))
        unanalysed = sum(1 for p in self.photos() if not p.analysed)
        return (f"instances {roles} (photos not analysed: {unanalysed}), "
                f"jobs {self.job_states()}, outbox {self.outbox_states()}")


def read(database: Path) -> NodeRecords:
    """The rows now; an absent database reads as empty."""
    if not database.exists():
        return NodeRecords([], [], [])
    con = sqlite3.connect(database, timeout=30)
    try:
        instances = [
            HeldInstance(uid, study, role, analysed is not None, path)
            for uid, study, role, analysed, path in con.execute(
                "SELECT sop_instance_uid, study_uid, role, analysed_at, path FROM instances"
            )
        ]
        jobs = [JobRow(*row) for row in con.execute(
            "SELECT id, state, attempts, error FROM jobs ORDER BY id")]
        outbox = [OutboxRow(*row) for row in con.execute(
            "SELECT sop_instance_uid, kind, state, attempts FROM outbox ORDER BY id")]
    finally:
        con.close()
    return NodeRecords(instances, jobs, outbox)
