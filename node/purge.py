"""Retention: ``facenode purge --older-than DAYS`` deletes, among what is older than DAYS,

* received photos whose results were all delivered (every outbox row of the job that
  analysed them is ``sent``), and older versions of re-sent photos that were never analysed;
* result files delivered to every destination (their outbox rows go; the audit keeps
  the deliveries);
* quarantined objects (and files in ``quarantine/`` that no row names).

Audit rows are never deleted; each object purged adds a ``purged`` row. An instance row stays
(``path`` empty, ``purged_at`` set) so that a re-send of the same content is still answered
without new work. Photos still waiting for analysis or delivery, dead-lettered results and
objects kept but not analysed (SRs, PDFs) are left alone. Files are deleted before the rows
are changed, so a purge that stops half-way is finished by the next one.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import and_, delete, exists, or_, select
from sqlalchemy.orm import Session, sessionmaker

from node import audit
from node.db import AuditEvent, Instance, InstanceRole, OutboxItem, OutboxState, utcnow
from node.storage import Storage


@dataclass
class PurgeCount:
    objects: int = 0
    bytes: int = 0

    def add(self, path: str | Path) -> None:
        self.objects += 1
        try:
            self.bytes += Path(path).stat().st_size
        except OSError:
            pass


@dataclass
class PurgeReport:
    cutoff: dt.datetime
    dry_run: bool
    photos: PurgeCount = field(default_factory=PurgeCount)
    results: PurgeCount = field(default_factory=PurgeCount)
    quarantine: PurgeCount = field(default_factory=PurgeCount)

    def as_dict(self) -> dict[str, object]:
        return {
            "cutoff": self.cutoff.isoformat(timespec="seconds") + "Z",
            "dry_run": self.dry_run,
            **{name: {"objects": c.objects, "bytes": c.bytes}
               for name, c in (("photos", self.photos), ("results", self.results),
                               ("quarantine", self.quarantine))},
        }

    def render(self) -> str:
        verb = "would purge" if self.dry_run else "purged"
        parts = [f"{c.objects} {name} ({c.bytes / 1e6:.1f} MB)"
                 for name, c in (("received photo(s)", self.photos),
                                 ("delivered result(s)", self.results),
                                 ("quarantined object(s)", self.quarantine))]
        return f"{verb} {', '.join(parts)} older than {self.cutoff:%Y-%m-%d %H:%M:%S} UTC"


def purge(
    sessions: sessionmaker[Session],
    storage: Storage,
    older_than_days: float,
    *,
    dry_run: bool = False,
    actor: str | None = None,
    now: dt.datetime | None = None,
) -> PurgeReport:
    """Delete what the module docstring lists, older than ``older_than_days``."""
    if older_than_days < 0:
        raise ValueError(f"older_than_days must be 0 or more, got {older_than_days}")
    now = now or utcnow()
    report = PurgeReport(now - dt.timedelta(days=older_than_days), dry_run)
    who = actor or audit.cli_actor()
    _purge_instances(sessions, report, who, now)
    _purge_results(sessions, report, who)
    _purge_unrecorded_quarantine(sessions, storage, report, who)
    if not dry_run:
        for sub in ("instances", "results"):
            _remove_empty_folders(storage.root / sub)
    return report


def _instances_due(session: Session, cutoff: dt.datetime) -> list[Instance]:
    undelivered = exists().where(
        OutboxItem.job_id == Instance.analysed_job_id, OutboxItem.state != OutboxState.SENT
    )
    delivered_photo = and_(
        Instance.role.in_([InstanceRole.PHOTO, InstanceRole.SUPERSEDED]),
        Instance.analysed_at.is_not(None),
        ~undelivered,
    )
    never_analysed_old_version = and_(
        Instance.role == InstanceRole.SUPERSEDED,
        Instance.analysed_at.is_(None),
        Instance.analysed_job_id.is_(None),
    )
    stmt = (
        select(Instance)
        .where(
            Instance.purged_at.is_(None),
            Instance.path != "",
            Instance.received_at < cutoff,
            or_(delivered_photo, never_analysed_old_version,
                Instance.role == InstanceRole.QUARANTINED),
        )
        .order_by(Instance.id)
    )
    return list(session.scalars(stmt))


def _purge_instances(
    sessions: sessionmaker[Session], report: PurgeReport, who: str, now: dt.datetime
) -> None:
    with sessions() as session:
        rows = _instances_due(session, report.cutoff)
    for row in rows:
        quarantined = row.role == InstanceRole.QUARANTINED
        (report.quarantine if quarantined else report.photos).add(row.path)
        if report.dry_run:
            continue
        Path(row.path).unlink(missing_ok=True)
        with sessions.begin() as session:
            current = session.get(Instance, row.id)
            if current is None or current.purged_at is not None:
                continue
            what = (f"quarantined object: {current.note}" if quarantined
                    else f"received {current.role}, version {current.version}")
            session.add(audit.instance_entry(AuditEvent.PURGED, current, actor=who,
                                             detail=what))
            current.path = ""
            current.purged_at = now


def _purge_results(sessions: sessionmaker[Session], report: PurgeReport, who: str) -> None:
    with sessions() as session:
        rows = list(session.scalars(
            select(OutboxItem)
            .where(OutboxItem.created_at < report.cutoff)
            .order_by(OutboxItem.id)
        ))
        by_path: dict[str, list[OutboxItem]] = {}
        for row in rows:
            by_path.setdefault(row.path, []).append(row)
        newer = set(session.scalars(
            select(OutboxItem.path).where(OutboxItem.created_at >= report.cutoff)
        ))
    for path, items in by_path.items():
        if path in newer or any(i.state != OutboxState.SENT for i in items):
            continue  # still to be delivered somewhere: keep
        report.results.add(path)
        if report.dry_run:
            continue
        Path(path).unlink(missing_ok=True)
        with sessions.begin() as session:
            first = items[0]
            destinations = ", ".join(sorted({i.destination for i in items}))
            session.add(audit.entry(
                AuditEvent.PURGED, actor=who, sop_instance_uid=first.sop_instance_uid,
                sop_class_uid=first.sop_class_uid,
                detail=f"result {first.kind}, delivered to {destinations}"))
            session.execute(delete(OutboxItem).where(OutboxItem.id.in_([i.id for i in items])))


def _purge_unrecorded_quarantine(
    sessions: sessionmaker[Session], storage: Storage, report: PurgeReport, who: str
) -> None:
    """Files in ``quarantine/`` no row names (a crash between writing and recording)."""
    folder = storage.root / "quarantine"
    with sessions() as session:
        known = set(session.scalars(
            select(Instance.path).where(Instance.role == InstanceRole.QUARANTINED)
        ))
    cutoff = report.cutoff.replace(tzinfo=dt.UTC).timestamp()
    for path in sorted(folder.iterdir()):
        if not path.is_file() or str(path) in known or path.stat().st_mtime >= cutoff:
            continue
        report.quarantine.add(path)
        if report.dry_run:
            continue
        path.unlink(missing_ok=True)
        audit.record(sessions, AuditEvent.PURGED, actor=who,
                     detail="quarantine file without a database row")


def _remove_empty_folders(root: Path) -> None:
    """Study and series folders left empty (never ``root`` itself)."""
    for folder, _subdirs, _files in os.walk(root, topdown=False):
        if Path(folder) != root:
            try:
                os.rmdir(folder)
            except OSError:
                pass  # not empty
