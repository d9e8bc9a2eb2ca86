"""node.pipeline3d: a 3D job stores what its worker made and queues it for every destination;
a series the photos do not allow to reconstruct gets a note saying why (the photos and their
2D results untouched); the worker's progress reaches the job row."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from dicom.pdf import pdf_bytes
from node.db import Instance, InstanceRole, Job, JobKind, JobState, OutboxItem, ResultKind
from node.jobs import claim_next, finish
from node.pipeline import Analyzers
from node.pipeline3d import run_reconstruction_job
from node.storage import Storage
from node.worker import OnProgress, WorkerFailure
from node.worker_task import ResultFile
from node.worker_task3d import ReconstructionResult, ReconstructionTask
from tests.factories import astronaut, make_vl_photo
from tests.support.dciodvfy import dciodvfy_errors

SERIES = "1.2.826.0.1.3680043.8.498.4242"


def _series_job(sessions: sessionmaker[Session], storage: Storage, n: int) -> int:
    """``n`` stored photos of one series (the astronaut, each a little shifted) and a claimed
    3D job for it."""
    study = "1.2.826.0.1.3680043.8.498.4241"
    with sessions.begin() as s:
        for i in range(n):
            ds = make_vl_photo(np.roll(astronaut(), 3 * i, axis=1), study_uid=study)
            ds.SeriesInstanceUID = SERIES
            path = storage.root / f"photo{i}.dcm"
            ds.save_as(path, enforce_file_format=True)
            s.add(Instance(sop_instance_uid=str(ds.SOPInstanceUID), sop_class_uid=str(ds.SOPClassUID),
                           study_uid=study, series_uid=SERIES, path=str(path)))  # fmt: skip
        s.add(Job(series_uid=SERIES, kind=JobKind.RECONSTRUCT, state=JobState.QUEUED))
    job_id = claim_next(sessions, (JobKind.RECONSTRUCT,))
    assert job_id is not None
    return job_id


def test_a_series_that_cannot_be_reconstructed_gets_a_note_saying_why(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    pytest.importorskip("pycolmap")
    storage = Storage(settings.storage_dir)
    job_id = _series_job(sessions, storage, 8)  # eight near-identical frontal photos
    run_reconstruction_job(job_id, sessions, storage, settings, Analyzers(settings))

    with sessions() as s:
        job = s.get(Job, job_id)
        assert job is not None
        summary = json.loads(job.summary)
        (item,) = s.scalars(select(OutboxItem)).all()
        roles = set(s.scalars(select(Instance.role)))
    assert summary["refused"] and summary["photos"] == 8
    assert roles == {InstanceRole.PHOTO}, "a 3D job never quarantines the photos"
    assert item.kind == ResultKind.PDF and item.destination == "PACS"
    assert dciodvfy_errors(Path(item.path)) == []
    note = dcmread(item.path)
    assert note.SeriesInstanceUID != SERIES and note.PatientName == "Test^Astronaut"
    pdf = pdf_bytes(note)
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True,
                          timeout=60).stdout.decode()  # fmt: skip
    words = " ".join(text.split())
    assert "3D face reconstruction of this photo series was not made" in words
    assert " ".join(summary["refused"].split()[:6]) in words  # the reason, as the job says it


class _Recorded:
    """A runner that reports progress and returns prepared files, as a worker would."""

    def __init__(self, files: tuple[ResultFile, ...], stages: list[tuple[str, float]]) -> None:
        self.files, self.stages = files, stages
        self.tasks: list[ReconstructionTask] = []

    def reconstruct(
        self, task: ReconstructionTask, on_progress: OnProgress | None = None
    ) -> ReconstructionResult:
        self.tasks.append(task)
        assert on_progress is not None
        for stage, fraction in self.stages:
            on_progress(stage, fraction)
        return ReconstructionResult(self.files, {"registered": 8, "seconds": 1.0})


def test_results_are_stored_queued_and_progress_recorded(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    storage = Storage(settings.storage_dir)
    job_id = _series_job(sessions, storage, 3)
    source = dcmread(storage.root / "photo0.dcm")
    source.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.99"
    source.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.98"
    source.Modality = "M3D"  # stands in for a mesh object
    files = (ResultFile.of(source),)
    runner = _Recorded(files, [("photos", 0.05), ("sfm", 0.2), ("sfm", 0.21), ("dense", 0.55)])
    run_reconstruction_job(job_id, sessions, storage, settings, runner)

    (task,) = runner.tasks
    assert len(task.paths) == 3 and task.options.min_views == settings.reconstruction_min_views
    with sessions() as s:
        job = s.get(Job, job_id)
        assert job is not None
        # the last stage reported (a new stage is always written; the same stage again
        # within a second is not)
        assert (job.stage, job.progress) == ("dense", 0.55)
        assert json.loads(job.summary)["registered"] == 8
        (item,) = s.scalars(select(OutboxItem)).all()
    assert item.kind == ResultKind.MESH and Path(item.path).read_bytes() == files[0].data


class _Dying:
    """A runner whose worker dies on every attempt."""

    def reconstruct(
        self, task: ReconstructionTask, on_progress: OnProgress | None = None
    ) -> ReconstructionResult:
        raise WorkerFailure("analysis worker died while analysing (killed by SIGKILL)")


def test_the_last_failed_attempt_sends_a_note_with_the_reason(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    storage = Storage(settings.storage_dir)
    job_id = _series_job(sessions, storage, 3)
    assert settings.job_max_attempts == 3
    for attempt in (1, 2, 3):
        with pytest.raises(WorkerFailure):
            run_reconstruction_job(job_id, sessions, storage, settings, _Dying())
        with sessions() as s:
            items = s.scalars(select(OutboxItem)).all()
        assert len(items) == (1 if attempt == 3 else 0), "a note only when no attempt is left"
        if attempt < 3:
            finish(sessions, job_id, "died", settings.job_max_attempts)  # as the pool does
            assert claim_next(sessions, (JobKind.RECONSTRUCT,)) == job_id
    (item,) = items
    assert item.kind == ResultKind.PDF and dciodvfy_errors(Path(item.path)) == []
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf_bytes(dcmread(item.path)),
                          capture_output=True, check=True, timeout=60).stdout.decode()  # fmt: skip
    assert "failed 3 times" in " ".join(text.split()) and "SIGKILL" in text
