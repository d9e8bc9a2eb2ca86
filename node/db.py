"""Database schema and sessions (SQLAlchemy 2). The schema is owned by Alembic migrations
in ``node/migrations``; :func:`open_database` brings any database to the newest revision.

SQLite is the embedded default (WAL, busy timeout, one file in the storage folder);
PostgreSQL uses the same models and migrations.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


class InstanceRole(StrEnum):
    """What a received object is to the node."""

    PHOTO = "photo"  # analysed
    STORED = "stored"  # kept, not analysed: SR, PDF, mesh
    QUARANTINED = "quarantined"  # refused or unusable; the note says why


class SeriesState(StrEnum):
    """``receiving`` → ``queued`` (a job exists); back to ``receiving`` if more photos arrive."""

    RECEIVING = "receiving"
    QUEUED = "queued"


class JobState(StrEnum):
    """``queued`` → ``running`` → ``done``, or back to ``queued`` on an error until the job's
    attempts run out, then ``failed``."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class OutboxState(StrEnum):
    """``pending`` → ``sent`` on a Success status; ``dead`` after ``outbox_max_attempts``."""

    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class ResultKind(StrEnum):
    """What an outbox item carries."""

    SR = "sr"
    SC = "sc"
    PDF = "pdf"
    MESH = "mesh"
    OTHER = "other"


class _Vocabulary(TypeDecorator[StrEnum]):
    """A closed vocabulary stored as its plain string value (VARCHAR(16), the schema of the
    migrations) and read back as the enum member; an unknown value fails on write."""

    impl = String(16)
    cache_ok = True

    def __init__(self, enum: type[StrEnum]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Instance(Base):
    """One received DICOM object, stored as a file before we answered Success."""

    __tablename__ = "instances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    study_uid: Mapped[str] = mapped_column(String(64), index=True)
    series_uid: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(Text)
    calling_ae: Mapped[str] = mapped_column(String(16), default="")
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    role: Mapped[InstanceRole] = mapped_column(
        _Vocabulary(InstanceRole), default=InstanceRole.PHOTO
    )
    analysed_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    analysed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class Series(Base):
    """A series as it arrives; complete after ``stable_age_s`` without new instances."""

    __tablename__ = "series"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_uid: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    study_uid: Mapped[str] = mapped_column(String(64))
    modality: Mapped[str] = mapped_column(String(16), default="")
    first_received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    instance_count: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[SeriesState] = mapped_column(
        _Vocabulary(SeriesState), default=SeriesState.RECEIVING, index=True
    )


class Job(Base):
    """Analysis of the not-yet-analysed photos of one series; resumable after a stop."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    series_uid: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32), default="analyze_series")
    state: Mapped[JobState] = mapped_column(
        _Vocabulary(JobState), default=JobState.QUEUED, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")  # JSON of the analyses


class OutboxItem(Base):
    """A result object waiting for (or done with) delivery to one destination."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    destination: Mapped[str] = mapped_column(String(64), index=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64))
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    kind: Mapped[ResultKind] = mapped_column(_Vocabulary(ResultKind))
    path: Mapped[str] = mapped_column(Text)
    state: Mapped[OutboxState] = mapped_column(
        _Vocabulary(OutboxState), default=OutboxState.PENDING, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    # Take over BEGIN from pysqlite so that every transaction is BEGIN IMMEDIATE (below):
    # writers then queue on the busy timeout instead of failing with "database is locked".
    dbapi_conn.isolation_level = None  # type: ignore[attr-defined]
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine tuned for many threads writing short transactions."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=True
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the database to the newest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def open_database(url: str) -> sessionmaker:  # type: ignore[type-arg]
    """Engine + migrations + a session factory: everything the node needs from the DB."""
    engine = make_engine(url)
    migrate(engine)
    return sessionmaker(engine, expire_on_commit=False)
