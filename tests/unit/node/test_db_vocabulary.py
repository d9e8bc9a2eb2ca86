"""Job, series, outbox and instance states are stored as their plain values and read back as
enum members; a value outside the vocabulary is refused before it reaches the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError

from node.db import Job, JobState, OutboxItem, OutboxState, ResultKind, open_database


def test_states_round_trip_as_members_and_plain_strings(tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path / 'f.db'}")
    with sessions.begin() as s:
        s.add(Job(series_uid="1.2.3", state=JobState.RUNNING))
        s.add(OutboxItem(destination="PACS", sop_instance_uid="1.2", sop_class_uid="1.2",
                         kind=ResultKind.SR, path="/x"))
    with sessions.begin() as s:
        job = s.query(Job).one()
        item = s.query(OutboxItem).one()
        assert job.state is JobState.RUNNING
        assert item.state is OutboxState.PENDING and item.kind is ResultKind.SR
        raw = s.execute(text("SELECT state FROM jobs")).scalar_one()
        assert raw == "running" and type(raw) is str


def test_a_state_outside_the_vocabulary_is_refused(tmp_path: Path) -> None:
    sessions = open_database(f"sqlite:///{tmp_path / 'f.db'}")
    with pytest.raises(StatementError, match="'finished' is not a valid JobState"):
        with sessions.begin() as s:
            s.add(Job(series_uid="1.2.3", state="finished"))
