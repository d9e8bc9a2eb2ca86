"""``facenode purge --older-than DAYS`` on real files and database rows: only what is old
enough and finished (photos whose results were all delivered, delivered results, quarantined
objects) goes; everything else stays; every object purged leaves a ``purged`` audit row and no
audit row is ever deleted; a dry run changes nothing; a re-send of a purged photo's content is
still recognised."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import load_settings
from node.db import AuditRecord, Instance, Job, OutboxItem, utcnow
from node.purge import purge
from node.scp import SUCCESS, StoreHandler
from node.storage import Storage, write_atomic
from tests.factories import make_vl_photo
from tests.unit.node.test_scp_refusals import RawStoreEvent

OLD = utcnow() - dt.timedelta(days=10)


class Scene:
    """A storage folder and database with objects of every kind, old and new."""

    def __init__(self, sessions: sessionmaker[Session], tmp_path: Path) -> None:
        self.sessions = sessions
        self.storage = Storage(tmp_path / "var")
        settings = load_settings(env={}, storage_dir=self.storage.root, min_free_disk_mb=0)
        self.handler = StoreHandler(settings, self.storage, sessions)
        self.photos = {name: make_vl_photo() for name in
                       ("delivered", "undelivered", "recent", "unanalysed", "dead")}
        for ds in self.photos.values():
            assert self.handler(RawStoreEvent(ds)) == SUCCESS
        self.sr = make_vl_photo()
        self.sr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.33"  # kept, not analysed
        self.sr.file_meta.MediaStorageSOPClassUID = self.sr.SOPClassUID
        assert self.handler(RawStoreEvent(self.sr)) == SUCCESS
        self.quarantined = make_vl_photo()
        del self.quarantined.PixelData  # refused at C-STORE, kept in quarantine
        assert self.handler(RawStoreEvent(self.quarantined)) != SUCCESS
        self.orphan = self.storage.quarantine_path("orphan")
        write_atomic(self.orphan, b"left by a crash")
        os.utime(self.orphan, (OLD.timestamp(), OLD.timestamp()))
        self.results: dict[str, list[Path]] = {}
        states = {"delivered": ["sent", "sent"], "undelivered": ["sent", "pending"],
                  "recent": ["sent", "sent"], "dead": ["sent", "dead"]}
        with sessions.begin() as s:
            for name, ds in self.photos.items():
                row = s.scalars(select(Instance).where(
                    Instance.sop_instance_uid == str(ds.SOPInstanceUID))).one()
                if name != "recent":
                    row.received_at = OLD
                if name == "unanalysed":
                    continue
                job = Job(series_uid=row.series_uid, state="done")
                s.add(job)
                s.flush()
                row.analysed_job_id, row.analysed_at = job.id, utcnow()
                path = self.storage.result_path(row.study_uid, "1.2.3.9", f"1.2.3.9.{job.id}")
                write_atomic(path, b"result " * 100)
                self.results[name] = [path]
                for dest, state in zip(("PACS", "ARCHIVE"), states[name], strict=True):
                    s.add(OutboxItem(job_id=job.id, destination=dest,
                                     sop_instance_uid=f"1.2.3.9.{job.id}",
                                     sop_class_uid="1.2.840.10008.5.1.4.1.1.88.34", kind="sr",
                                     path=str(path), state=state,
                                     created_at=OLD if name != "recent" else utcnow()))
            for row in s.scalars(select(Instance).where(Instance.role.in_(
                    ["quarantined", "stored"]))):
                row.received_at = OLD

    def row(self, ds: object) -> Instance:
        with self.sessions() as s:
            return s.scalars(select(Instance).where(
                Instance.sop_instance_uid == str(ds.SOPInstanceUID))  # type: ignore[attr-defined]
                .order_by(Instance.version.desc())).first()  # type: ignore[return-value]

    def audit(self) -> list[AuditRecord]:
        with self.sessions() as s:
            return list(s.scalars(select(AuditRecord).order_by(AuditRecord.id)))

    def files(self) -> set[Path]:
        return {p for p in self.storage.root.rglob("*") if p.is_file()}


@pytest.fixture
def scene(sessions: sessionmaker[Session], tmp_path: Path) -> Scene:
    return Scene(sessions, tmp_path)


def test_a_dry_run_changes_nothing(scene: Scene) -> None:
    files, audit_rows = scene.files(), len(scene.audit())
    report = purge(scene.sessions, scene.storage, 7, dry_run=True, actor="cli:test")
    assert (report.photos.objects, report.results.objects, report.quarantine.objects) == (
        1, 1, 2)
    assert report.photos.bytes > 1000 and report.results.bytes == 700
    assert scene.files() == files and len(scene.audit()) == audit_rows


def test_purge_deletes_only_what_is_old_and_finished(scene: Scene) -> None:
    before = scene.audit()
    report = purge(scene.sessions, scene.storage, 7, actor="cli:test")
    assert (report.photos.objects, report.results.objects, report.quarantine.objects) == (
        1, 1, 2)

    gone = scene.row(scene.photos["delivered"])
    assert gone.path == "" and gone.purged_at is not None
    for name in ("undelivered", "recent", "unanalysed", "dead"):  # results not all delivered
        row = scene.row(scene.photos[name])  # or too new, or not analysed yet
        assert Path(row.path).exists() and row.purged_at is None, name
    assert Path(scene.row(scene.sr).path).exists()  # kept, not analysed: not purged
    assert not scene.results["delivered"][0].exists()
    for name in ("undelivered", "recent", "dead"):
        assert scene.results[name][0].exists(), name
    assert not scene.orphan.exists()
    assert list((scene.storage.root / "quarantine").iterdir()) == []
    with scene.sessions() as s:
        items = list(s.scalars(select(OutboxItem)))
    assert len(items) == 6  # the delivered result's two rows went, the others stay

    after = scene.audit()
    assert [a.id for a in after[: len(before)]] == [b.id for b in before]  # none deleted
    purged = after[len(before):]
    assert [a.event for a in purged] == ["purged"] * 4
    assert all(a.actor == "cli:test" for a in purged)
    assert {a.sop_instance_uid for a in purged} >= {
        str(scene.photos["delivered"].SOPInstanceUID),
        f"1.2.3.9.{gone.analysed_job_id}"}
    # empty study / series folders are gone too
    assert not Path(scene.storage.instance_path(
        str(scene.photos["delivered"].StudyInstanceUID), "1", "1")).parent.parent.exists()

    again = purge(scene.sessions, scene.storage, 7, actor="cli:test")  # nothing left
    assert (again.photos.objects, again.results.objects, again.quarantine.objects) == (0, 0, 0)
    assert len(scene.audit()) == len(after)


def test_a_purged_photo_sent_again_is_still_recognised(scene: Scene) -> None:
    purge(scene.sessions, scene.storage, 7, actor="cli:test")
    assert scene.handler(RawStoreEvent(scene.photos["delivered"])) == SUCCESS
    assert scene.audit()[-1].event == "duplicate"
    assert scene.row(scene.photos["delivered"]).version == 1


def test_older_than_zero_takes_everything_finished(scene: Scene) -> None:
    report = purge(scene.sessions, scene.storage, 0, actor="cli:test")
    assert report.photos.objects == 2 and report.results.objects == 2  # "recent" too
    with pytest.raises(ValueError, match="0 or more"):
        purge(scene.sessions, scene.storage, -1)
