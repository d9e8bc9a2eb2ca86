"""node.pipeline.run_job with a fake landmark backend: a job's photos become stored result
files and one outbox row per result and destination; a photo that cannot be decoded or
analysed is quarantined with its reason and the rest of the series goes on.

The fake finds no face: the node handles that result exactly like any other (an SR and an
overlay to store and send), and it is built in milliseconds where a full measurement SR takes
seconds; the measurement SR itself is tested in tests/unit/dicom.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from analysis.pipeline import PhotoAnalyzer
from config.settings import Settings, load_settings
from node.db import Instance, Job, OutboxItem
from node.jobs import JobInterrupted
from node.pipeline import Analyzers, run_job
from node.storage import Storage
from node.worker import WorkerFailure, WorkerStopped
from node.worker_task import PhotoResult, PhotoTask
from tests.factories import make_vl_photo
from tests.support.fake_backend import FakeBackend

SERIES, STUDY = "1.2.826.0.1.3680043.10.9.2", "1.2.826.0.1.3680043.10.9"
BROKEN_WIDTH = 320  # the fake model crashes on photos this wide


class FakeAnalyzers(Analyzers):
    """The node's analyzers, each with the fake backend instead of a loaded model."""

    def __init__(self, settings: Settings, backend: FakeBackend) -> None:
        super().__init__(settings)
        self.backend = backend

    def get(self) -> PhotoAnalyzer:
        return PhotoAnalyzer(self.options, backend=self.backend)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(env={}, storage_dir=tmp_path / "var", destinations=[
        {"name": "PACS", "ae_title": "ORTHANC", "host": "127.0.0.1", "port": 4242},
        {"name": "ARCHIVE", "ae_title": "ARCHIVE", "host": "127.0.0.1", "port": 4243},
    ])


def _photo(width: int = 512, number: int = 1) -> Dataset:
    pixels = np.random.default_rng(number).integers(0, 256, (512, width, 3), dtype=np.uint8)
    ds = make_vl_photo(pixels, study_uid=STUDY)
    ds.SeriesInstanceUID, ds.InstanceNumber = SERIES, number
    return ds


def _receive(sessions: sessionmaker[Session], storage: Storage, photos: list[Dataset]) -> int:
    """Store the photos as the SCP would and queue their series' job; returns the job id."""
    with sessions.begin() as s:
        for ds in photos:
            path = storage.instance_path(STUDY, SERIES, str(ds.SOPInstanceUID))
            path.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(path, enforce_file_format=True)
            s.add(Instance(sop_instance_uid=str(ds.SOPInstanceUID), sop_class_uid=str(ds.SOPClassUID),
                           study_uid=STUDY, series_uid=SERIES, path=str(path)))
        job = Job(series_uid=SERIES, state="running")
        s.add(job)
        s.flush()
        return job.id


def _rows(sessions: sessionmaker[Session]) -> tuple[dict[str, Instance], list[OutboxItem], Job]:
    with sessions() as s:
        instances = {r.sop_instance_uid: r for r in s.scalars(select(Instance))}
        outbox = list(s.scalars(select(OutboxItem).order_by(OutboxItem.id)))
        job = s.scalars(select(Job)).one()
        s.expunge_all()
    return instances, outbox, job


def test_results_are_stored_and_queued_for_every_destination(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    storage = Storage(settings.storage_dir)
    photo = _photo()
    job_id = _receive(sessions, storage, [photo])
    backend = FakeBackend()

    run_job(job_id, sessions, storage, settings, FakeAnalyzers(settings, backend))

    assert backend.seen == [(512, 512)]
    instances, outbox, job = _rows(sessions)
    row = instances[str(photo.SOPInstanceUID)]
    assert row.role == "photo" and row.analysed_job_id == job_id and row.analysed_at is not None
    results = {r.sop_instance_uid for r in outbox}
    assert len(results) >= 2  # the SR and an overlay
    assert {r.kind for r in outbox} >= {"sr", "sc"}
    for uid in results:  # every result goes to every destination, once
        assert sorted(r.destination for r in outbox if r.sop_instance_uid == uid) == [
            "ARCHIVE", "PACS"]
    assert all(r.job_id == job_id and r.state == "pending" for r in outbox)
    for item in outbox:
        stored = dcmread(item.path)
        assert Path(item.path).is_relative_to(storage.root / "results")
        assert str(stored.SOPInstanceUID) == item.sop_instance_uid
        assert str(stored.SOPClassUID) == item.sop_class_uid
        assert str(stored.StudyInstanceUID) == STUDY
        assert str(stored.PatientID) == str(photo.PatientID)
    [summary] = json.loads(job.summary)
    assert summary["sop_instance_uid"] == str(photo.SOPInstanceUID)
    assert summary["face_found"] is False and "No face" in summary["message"]


def test_a_failing_photo_is_quarantined_and_the_series_goes_on(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    storage = Storage(settings.storage_dir)
    good, crashing, broken = _photo(number=1), _photo(BROKEN_WIDTH, 2), _photo(number=3)
    broken.PixelData = bytes(broken.PixelData)[: len(broken.PixelData) // 3]  # truncated
    job_id = _receive(sessions, storage, [good, crashing, broken])
    received = {str(ds.SOPInstanceUID): Path(storage.instance_path(
        STUDY, SERIES, str(ds.SOPInstanceUID))) for ds in (good, crashing, broken)}
    backend = FakeBackend(broken_width=BROKEN_WIDTH)

    run_job(job_id, sessions, storage, settings, FakeAnalyzers(settings, backend))

    assert backend.seen == [(512, 512), (512, BROKEN_WIDTH)]  # the broken photo never decoded
    instances, outbox, job = _rows(sessions)
    summary = {e["sop_instance_uid"]: e for e in json.loads(job.summary)}
    for ds, reason in ((crashing, "analysis failed: RuntimeError: fake model crashed"),
                       (broken, "pixel")):
        uid = str(ds.SOPInstanceUID)
        row = instances[uid]
        assert row.role == "quarantined" and reason in row.note
        assert row.analysed_at is None
        assert Path(row.path).is_relative_to(storage.root / "quarantine")
        assert str(dcmread(row.path).SOPInstanceUID) == uid  # moved there, intact
        assert not received[uid].exists()
        assert reason in summary[uid]["error"]
    assert instances[str(good.SOPInstanceUID)].role == "photo"
    assert instances[str(good.SOPInstanceUID)].analysed_at is not None
    assert summary[str(good.SOPInstanceUID)]["face_found"] is False  # analysed: no face
    # results were made for the good photo only
    sources = {str(dcmread(item.path).StudyInstanceUID) for item in outbox}
    assert outbox and sources == {STUDY}
    refs = {_referenced_uids(dcmread(item.path)) for item in outbox if item.kind == "sr"}
    assert refs == {frozenset({str(good.SOPInstanceUID)})}


def _referenced_uids(ds: Dataset) -> frozenset[str]:
    """The SOP instances a result names in its Current Requested Procedure Evidence."""
    return frozenset(
        str(inst.ReferencedSOPInstanceUID)
        for study in ds.get("CurrentRequestedProcedureEvidenceSequence", [])
        for series in study.ReferencedSeriesSequence
        for inst in series.ReferencedSOPSequence
    )


class KillingAnalyzers(FakeAnalyzers):
    """As if the photos of width ``killer_width`` killed their worker process each time."""

    def __init__(self, settings: Settings, backend: FakeBackend, killer_width: int) -> None:
        super().__init__(settings, backend)
        self.killer_width = killer_width
        self.calls: list[str] = []

    def analyse(self, task: PhotoTask) -> PhotoResult:
        self.calls.append(task.sop_instance_uid)
        if dcmread(task.path, stop_before_pixels=True).Columns == self.killer_width:
            raise WorkerFailure("analysis worker died while analysing (killed by SIGKILL)")
        return super().analyse(task)


def test_a_photo_that_kills_its_worker_is_quarantined_after_its_attempts(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    storage = Storage(settings.storage_dir)
    good, killer, later = _photo(number=1), _photo(BROKEN_WIDTH, 2), _photo(number=3)
    job_id = _receive(sessions, storage, [good, killer, later])
    analyzers = KillingAnalyzers(settings, FakeBackend(), killer_width=BROKEN_WIDTH)

    run_job(job_id, sessions, storage, settings, analyzers)

    uid = str(killer.SOPInstanceUID)
    assert analyzers.calls.count(uid) == settings.job_max_attempts == 3
    instances, _, job = _rows(sessions)
    row = instances[uid]
    assert row.role == "quarantined" and row.analysed_at is None
    assert "did not finish in 3 attempt(s)" in row.note and "SIGKILL" in row.note
    assert Path(row.path).is_relative_to(storage.root / "quarantine")
    for ds in (good, later):  # the series goes on around it
        assert instances[str(ds.SOPInstanceUID)].analysed_at is not None
    assert job.attempts == 1 and job.error == ""  # progress made: the count starts again


@pytest.mark.parametrize(("starts", "analysed"), [(3, True), (4, False)])
def test_a_photo_the_node_died_on_is_not_started_again_forever(
    sessions: sessionmaker[Session], settings: Settings, starts: int, analysed: bool
) -> None:
    """The node was killed during the head photo each time it ran the job: the job's claim
    count says how often. A fourth start quarantines that photo instead of analysing it."""
    storage = Storage(settings.storage_dir)
    head, other = _photo(number=1), _photo(number=2)
    job_id = _receive(sessions, storage, [head, other])
    with sessions.begin() as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.attempts = starts
    backend = FakeBackend()

    run_job(job_id, sessions, storage, settings, FakeAnalyzers(settings, backend))

    instances, _, _ = _rows(sessions)
    row = instances[str(head.SOPInstanceUID)]
    assert (row.role == "photo") is analysed
    assert len(backend.seen) == (2 if analysed else 1)
    if not analysed:
        assert "did not finish in 3 attempt(s)" in row.note
        assert "the node stopped during the analysis" in row.note
    assert instances[str(other.SOPInstanceUID)].analysed_at is not None


class StoppingAnalyzers(FakeAnalyzers):
    def analyse(self, task: PhotoTask) -> PhotoResult:
        raise WorkerStopped("the node is stopping")


def test_a_stop_during_a_photo_leaves_it_for_the_next_start(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    storage = Storage(settings.storage_dir)
    photo = _photo()
    job_id = _receive(sessions, storage, [photo])
    with pytest.raises(JobInterrupted):
        run_job(job_id, sessions, storage, settings, StoppingAnalyzers(settings, FakeBackend()))
    instances, outbox, _ = _rows(sessions)
    row = instances[str(photo.SOPInstanceUID)]
    assert row.role == "photo" and row.analysed_at is None and not outbox
