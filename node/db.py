"""Database schema and sessions (SQLAlchemy 2). The schema is owned by Alembic migrations
in ``node/migrations``; :func:`open_database` brings any database to the newest revision.

SQLite is the embedded default (WAL, busy timeout, one file in the storage folder);
PostgreSQL uses the same models and migrations.
"""

from __future__ import annotations

import datetime as dt
import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
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
    SUPERSEDED = "superseded"  # an older version: the same SOP Instance UID came again, changed


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


class JobKind(StrEnum):
    """What a job does: the 2D analysis of a series' new photos, or the 3D reconstruction of
    the whole series (``node.series3d``), each claimed by its own job threads."""

    ANALYZE = "analyze_series"
    RECONSTRUCT = "reconstruct_series"


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


class AuditEvent(StrEnum):
    """What an audit row records (``node.audit``); the values are stored as they are."""

    ASSOC_ACCEPTED = "assoc-accepted"
    ASSOC_REJECTED = "assoc-rejected"
    ASSOC_ABORTED = "assoc-aborted"
    ECHO = "echo"
    RECEIVED = "received"  # stored, answered Success
    DUPLICATE = "duplicate"  # the same content again: Success, nothing stored, no work
    NEW_VERSION = "new-version"  # the same SOP Instance UID with other content: stored, analysed
    REFUSED = "refused"  # answered with a failure status
    QUARANTINED = "quarantined"
    PRODUCED = "produced"  # a result object the node made
    SENT = "sent"  # a result delivered (Success status)
    SEND_FAILED = "send-failed"  # one delivery attempt failed; retried
    DEAD = "dead"  # dead-lettered after outbox_max_attempts
    AMENDED = "amended"  # an amended report came back
    PURGED = "purged"  # a file deleted by ``facenode purge``


class _Vocabulary(TypeDecorator[StrEnum]):
    """A closed vocabulary stored as its plain string value (VARCHAR(16), the schema of the
    migrations) and read back as the enum member; an unknown value fails on write."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int = 16) -> None:
        super().__init__(length)
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
    __table_args__ = (
        UniqueConstraint("sop_instance_uid", "version", name="uq_instances_sop_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), index=True)
    #: 1, then 2, 3… when the same SOP Instance UID is received again with other content
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: sha256 of the dataset as received (without the file meta): "the same content"
    content_sha256: Mapped[str] = mapped_column(String(64), default="")
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    study_uid: Mapped[str] = mapped_column(String(64), index=True)
    series_uid: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(Text)
    calling_ae: Mapped[str] = mapped_column(String(16), default="")
    peer_ip: Mapped[str] = mapped_column(String(45), default="")
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    role: Mapped[InstanceRole] = mapped_column(
        _Vocabulary(InstanceRole), default=InstanceRole.PHOTO
    )
    analysed_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"), nullable=True)
    analysed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    #: when ``facenode purge`` deleted the file (``path`` is then empty); the row stays so
    #: that a re-send of the same content is still recognised
    purged_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


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
    kind: Mapped[JobKind] = mapped_column(_Vocabulary(JobKind, 32), default=JobKind.ANALYZE)
    state: Mapped[JobState] = mapped_column(
        _Vocabulary(JobState), default=JobState.QUEUED, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    summary: Mapped[str] = mapped_column(Text, default="")  # JSON of the analyses
    #: A running job's current stage and its progress through the whole job (0–1), for
    #: ``facenode status`` (a 3D reconstruction takes minutes); empty / None otherwise.
    stage: Mapped[str] = mapped_column(String(32), default="")
    progress: Mapped[float | None] = mapped_column(Float, nullable=True)


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


class AuditRecord(Base):
    """Who did what, when, to which object — never a patient identifier. Rows are only
    added (``node.audit``); ``facenode purge`` keeps them."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    event: Mapped[AuditEvent] = mapped_column(_Vocabulary(AuditEvent, 32), index=True)
    #: "CALLING_AE@ip" for a peer, "node" for the node itself, "cli:<user>" for a command
    actor: Mapped[str] = mapped_column(String(128), default="")
    peer_ip: Mapped[str] = mapped_column(String(45), default="")
    calling_ae: Mapped[str] = mapped_column(String(16), default="")
    called_ae: Mapped[str] = mapped_column(String(16), default="")
    sop_instance_uid: Mapped[str] = mapped_column(String(64), default="", index=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64), default="")
    study_uid: Mapped[str] = mapped_column(String(64), default="")
    series_uid: Mapped[str] = mapped_column(String(64), default="")
    destination: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)  # DIMSE status
    detail: Mapped[str] = mapped_column(Text, default="")  # the reason, never identifiers


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


def private_sqlite_file(path: Path) -> None:
    """Make the database file (and its WAL and shared-memory files) readable by the node's
    user only, whatever the umask: SQLite gives ``-wal`` and ``-shm`` the mode of the main
    file, so creating that one 0600 before SQLite opens it is what keeps all three private."""
    from node.storage import FILE_MODE, private_dir

    private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm", "-journal"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.chmod(FILE_MODE)


def make_engine(url: str) -> Engine:
    """An engine tuned for many threads writing short transactions."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            private_sqlite_file(Path(path))
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
