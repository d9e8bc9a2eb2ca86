"""A job stores every photo's results with its PDF report, plus one series report when it
analysed two or more photos; all queued in the outbox for each destination."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from analysis.types import BackendUnavailableError
from config.settings import Settings
from dicom.pdf import ENCAPSULATED_PDF_STORAGE
from node.db import Instance, Job, OutboxItem
from node.pipeline import Analyzers, run_job
from node.storage import Storage
from tests.factories import make_vl_photo


def _receive(sessions: sessionmaker[Session], storage: Storage, n: int) -> str:
    first = make_vl_photo()
    series = str(first.SeriesInstanceUID)
    with sessions.begin() as s:
        for i in range(n):
            ds = make_vl_photo(study_uid=str(first.StudyInstanceUID)) if i else first
            ds.SeriesInstanceUID = series
            ds.InstanceNumber = i + 1
            path = storage.instance_path(str(ds.StudyInstanceUID), series, str(ds.SOPInstanceUID))
            path.parent.mkdir(parents=True, exist_ok=True)
            ds.save_as(path, enforce_file_format=True)
            s.add(Instance(sop_instance_uid=str(ds.SOPInstanceUID), sop_class_uid=ds.SOPClassUID,
                           study_uid=str(ds.StudyInstanceUID), series_uid=series,
                           path=str(path)))  # fmt: skip
        s.add(Job(series_uid=series, state="running"))
    return series


@pytest.mark.parametrize("photos", [1, 2])
def test_job_stores_photo_reports_and_a_series_report(
    photos: int, sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    storage = Storage(tmp_path / "store")
    _receive(sessions, storage, photos)
    try:
        analyzers = Analyzers(settings)
        analyzers.get()
    except BackendUnavailableError as exc:
        pytest.skip(f"default landmark backend unavailable: {exc}")
    with sessions() as s:
        job_id = s.scalars(select(Job.id)).one()
    run_job(job_id, sessions, storage, settings, analyzers)
    with sessions() as s:
        items = s.scalars(select(OutboxItem).order_by(OutboxItem.id)).all()
        reports = [i for i in items if i.sop_class_uid == ENCAPSULATED_PDF_STORAGE]
        assert {i.kind for i in reports} == {"pdf"}
        assert all(i.destination == "PACS" for i in items)
        assert all(p.analysed_at is not None for p in s.scalars(select(Instance)))
    series_report = 1 if photos >= 2 else 0
    assert len(reports) == photos + series_report
    docs = [dcmread(i.path) for i in reports]
    assert len({d.SeriesInstanceUID for d in docs}) == 1  # one report series per job
    numbers = [int(d.InstanceNumber) for d in docs]
    assert numbers == sorted(numbers)
    sources = [len(d.SourceInstanceSequence) for d in docs]
    assert sources == [1] * photos + ([photos] if series_report else [])
