from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from node.db import Instance, Job, Series, utcnow
from node.jobs import MAX_JOB_ATTEMPTS, WorkerPool, claim_next, finish, resume_interrupted
from node.series import queue_stable_series


def _arrive(sessions: sessionmaker[Session], series_uid: str, at: dt.datetime, n: int = 1) -> None:
    with sessions.begin() as s:
        row = s.scalar(select(Series).where(Series.series_uid == series_uid))
        if row is None:
            s.add(Series(series_uid=series_uid, study_uid="1.2", modality="XC",
                         first_received_at=at, last_received_at=at, instance_count=n,
                         state="receiving"))
        else:
            row.last_received_at, row.state = at, "receiving"
            row.instance_count += n


def test_one_job_after_quiet_period_even_over_several_associations(
    sessions: sessionmaker[Session],
) -> None:
    t0 = utcnow()
    _arrive(sessions, "1.2.3", t0)
    _arrive(sessions, "1.2.3", t0 + dt.timedelta(seconds=6))  # second association
    assert queue_stable_series(sessions, 10, now=t0 + dt.timedelta(seconds=12)) == []
    created = queue_stable_series(sessions, 10, now=t0 + dt.timedelta(seconds=16.5))
    assert len(created) == 1
    assert queue_stable_series(sessions, 10, now=t0 + dt.timedelta(seconds=60)) == []
    with sessions() as s:
        assert s.scalar(select(Series.state)) == "queued"
        assert len(s.scalars(select(Job)).all()) == 1


def test_late_photos_join_a_queued_job_or_get_a_new_one(sessions: sessionmaker[Session]) -> None:
    t0 = utcnow()
    _arrive(sessions, "1.2.3", t0)
    [first] = queue_stable_series(sessions, 1, now=t0 + dt.timedelta(seconds=2))
    _arrive(sessions, "1.2.3", t0 + dt.timedelta(seconds=3))
    assert queue_stable_series(sessions, 1, now=t0 + dt.timedelta(seconds=5)) == []  # still queued
    assert claim_next(sessions) == first  # now running
    _arrive(sessions, "1.2.3", t0 + dt.timedelta(seconds=6))
    second = queue_stable_series(sessions, 1, now=t0 + dt.timedelta(seconds=8))
    assert len(second) == 1 and second[0] != first


def test_claim_is_exclusive_and_failures_are_bounded(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        s.add(Job(series_uid="1.2", state="queued"))
    job = claim_next(sessions)
    assert job is not None and claim_next(sessions) is None
    for _ in range(MAX_JOB_ATTEMPTS - 1):
        finish(sessions, job, "boom")
        assert claim_next(sessions) == job
    finish(sessions, job, "boom")
    with sessions() as s:
        row = s.get(Job, job)
        assert row is not None and row.state == "failed" and row.error == "boom"


def test_running_job_resumes_after_restart(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        s.add(Job(series_uid="1.2", state="queued"))
    job = claim_next(sessions)
    assert resume_interrupted(sessions) == 1  # node restarted while job was running
    assert claim_next(sessions) == job


def test_worker_pool_runs_jobs_off_the_caller_thread(sessions: sessionmaker[Session]) -> None:
    import threading

    ran: list[tuple[int, str]] = []
    done = threading.Event()

    def run(job_id: int) -> None:
        ran.append((job_id, threading.current_thread().name))
        if job_id == 2:
            raise RuntimeError("photo broken")
        done.set()

    with sessions.begin() as s:
        s.add_all([Job(series_uid="a", state="queued"), Job(series_uid="b", state="queued")])
    pool = WorkerPool(sessions, run, count=2, poll_s=0.05)
    pool.start()
    try:
        assert done.wait(10)
        import time

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with sessions() as s:
                states = {j.id: (j.state, j.error) for j in s.scalars(select(Job))}
            # job 1 is marked done after its run returns (after `done` is set): wait for both
            if states[1][0] == "done" and states[2][0] == "failed":
                break
            time.sleep(0.05)
    finally:
        pool.stop()
    assert states[1] == ("done", "")
    assert states[2] == ("failed", "RuntimeError: photo broken")
    assert all(name.startswith("facenode-worker") for _, name in ran)


def test_instances_table_accepts_roles(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        s.add(Instance(sop_instance_uid="1.2.3.4", sop_class_uid="1.2", study_uid="1",
                       series_uid="2", path="/x", role="photo"))
    with sessions() as s:
        assert s.scalar(select(Instance.role)) == "photo"


def test_migrations_upgrade_an_old_database_in_place(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A database made by revision 0001 is upgraded at start without losing rows."""
    from pathlib import Path

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect, text

    from node.db import make_engine, open_database

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parents[3] / "node" / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO instances (sop_instance_uid, sop_class_uid, study_uid, series_uid, path,"
            " calling_ae, received_at, role, note) VALUES ('1.2', '1', '1', '2', '/x', '', "
            "'2026-01-01', 'photo', '')"))
    assert "analysed_at" not in {c["name"] for c in inspect(engine).get_columns("instances")}
    sessions = open_database(url)
    with sessions() as s:
        row = s.scalars(select(Instance)).one()
    assert row.sop_instance_uid == "1.2" and row.analysed_at is None


def test_an_interrupted_job_goes_back_uncounted_and_attempts_are_configurable(
    sessions: sessionmaker[Session],
) -> None:
    import threading
    import time

    from node.jobs import JobInterrupted

    runs: list[int] = []
    interrupted = threading.Event()

    def run(job_id: int) -> None:
        runs.append(job_id)
        if len(runs) == 1:
            interrupted.set()
            raise JobInterrupted("the node is stopping")
        raise RuntimeError("broken")

    with sessions.begin() as s:
        s.add(Job(series_uid="a", state="queued"))
    pool = WorkerPool(sessions, run, count=1, poll_s=0.05, max_attempts=2)
    pool.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with sessions() as s:
                job = s.scalars(select(Job)).one()
            if job.state == "failed":
                break
            time.sleep(0.05)
    finally:
        pool.stop()
    assert interrupted.is_set()
    # one interrupted start (not counted) + two failing ones = max_attempts
    assert runs == [1, 1, 1] and job.state == "failed" and job.attempts == 2
