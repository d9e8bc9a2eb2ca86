"""node.series3d: which analysed series become 3D jobs; jobs of each kind go to their own
job threads; a running job's stage and progress reach ``facenode status``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings, SettingsError, load_settings, parse_known_distance
from node import status
from node.db import Instance, Job, JobKind, JobState, utcnow
from node.jobs import claim_next, finish, report_progress
from node.series import queue_stable_series
from node.series3d import PhotoFacts, decide, queue_if_wanted
from tests.factories import make_vl_photo

PATTERN = load_settings(env={}).reconstruction_series_pattern
SERIES = "1.2.826.0.1.3680043.8.498.77"


def facts(n: int, yaws: list[float] | None = None, **kw: str) -> list[PhotoFacts]:
    yaws = yaws if yaws is not None else [0.0] * n
    return [PhotoFacts(True, yaws[i], **kw) for i in range(n)]


def test_enough_faces_from_different_directions_make_a_3d_job() -> None:
    turning = list(np.linspace(-40, 40, 12))
    assert decide(facts(12, turning), 8, PATTERN, 30).run
    assert "yaw spans 80°" in decide(facts(12, turning), 8, PATTERN, 30).reason
    described = decide(facts(8, series_description="3D photogrammetry"), 8, PATTERN, 30)
    assert described.run and "Series Description" in described.reason
    coded = [PhotoFacts(True, 0.0, view_code=c) for c in ["A", "B"] * 5]
    assert decide(coded, 8, PATTERN, 30).run


def test_one_view_few_faces_or_3d_off_make_none() -> None:
    same_view = decide(facts(12, [0.0, 3.0] * 6), 8, PATTERN, 30)
    assert not same_view.run and "one view" in same_view.reason
    few = decide(facts(7, list(np.linspace(-40, 40, 7))), 8, PATTERN, 30)
    assert not few.run and "7 photo(s) with a face" in few.reason
    no_faces = [PhotoFacts(False, None, series_description="3D")] * 12
    assert not decide(no_faces, 8, PATTERN, 30).run
    assert not decide(facts(12, list(np.linspace(-40, 40, 12))), 0, PATTERN, 30).run
    # the pattern matches words, not any "3d" inside a longer token
    assert not decide(facts(8, series_description="Pre-op series 13d"), 8, PATTERN, 30).run


def test_known_distance_setting_is_parsed_or_refused() -> None:
    assert parse_known_distance("ibug_39-ibug_42=31.5") == ("ibug_39", "ibug_42", 31.5)
    s = load_settings(env={"FACENODE_RECONSTRUCTION_KNOWN_DISTANCE": "pupil_r - pupil_l = 63"})
    assert parse_known_distance(s.reconstruction_known_distance) == ("pupil_r", "pupil_l", 63.0)
    for bad in ("ibug_39=31", "a-a=3", "a-b=0", "a-b=1.2.3"):
        with pytest.raises(SettingsError, match="reconstruction_known_distance"):
            load_settings(env={"FACENODE_RECONSTRUCTION_KNOWN_DISTANCE": bad})
    with pytest.raises(SettingsError, match="reconstruction_series_pattern"):
        load_settings(env={"FACENODE_RECONSTRUCTION_SERIES_PATTERN": "(unclosed"})
    with pytest.raises(SettingsError, match="device"):
        load_settings(env={"FACENODE_DEVICE": "tpu"})


def _analysed_series(
    sessions: sessionmaker[Session], tmp_path: Path, yaws: list[float], description: str
) -> None:
    """A series whose photos are stored and analysed by one done 2D job (its summary)."""
    rows = []
    with sessions.begin() as s:
        job = Job(series_uid=SERIES, kind=JobKind.ANALYZE, state=JobState.DONE)
        s.add(job)
        s.flush()
        for i, yaw in enumerate(yaws):
            ds = make_vl_photo(np.zeros((8, 8, 3), np.uint8), view=None)
            ds.SeriesDescription = description
            path = tmp_path / f"p{i}.dcm"
            ds.save_as(path, enforce_file_format=True)
            uid = str(ds.SOPInstanceUID)
            s.add(Instance(sop_instance_uid=uid, sop_class_uid=str(ds.SOPClassUID),
                           study_uid="1.2", series_uid=SERIES, path=str(path),
                           analysed_job_id=job.id, analysed_at=utcnow()))  # fmt: skip
            rows.append({"sop_instance_uid": uid, "face_found": True,
                         "quality": {"pose": {"yaw": yaw, "pitch": 0.0, "roll": 0.0}}})  # fmt: skip
        job.summary = json.dumps(rows)


def _jobs(sessions: sessionmaker[Session]) -> list[tuple[JobKind, JobState]]:
    with sessions() as s:
        return [(j.kind, j.state) for j in s.scalars(select(Job).order_by(Job.id))]


def test_an_analysed_multiview_series_is_queued_once_for_3d(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    _analysed_series(sessions, tmp_path, list(np.linspace(-35, 35, 9)), "Pre-operative photos")
    first = queue_if_wanted(sessions, settings, SERIES)
    assert first is not None
    assert queue_if_wanted(sessions, settings, SERIES) is None  # one is waiting already
    assert _jobs(sessions)[-1] == (JobKind.RECONSTRUCT, JobState.QUEUED)
    # the 2D job threads do not take it; the 3D ones do
    assert claim_next(sessions, (JobKind.ANALYZE,)) is None
    assert claim_next(sessions, (JobKind.RECONSTRUCT,)) == first
    # a 3D job that started does not stop a new one when the series changes again
    second = queue_if_wanted(sessions, settings, SERIES)
    assert second is not None and second != first


def test_a_series_of_one_view_is_not_queued_for_3d(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    _analysed_series(sessions, tmp_path, [0.0, 2.0, -2.0] * 3, "Pre-operative photos")
    assert queue_if_wanted(sessions, settings, SERIES) is None
    (tmp_path / "more").mkdir()
    _analysed_series(sessions, tmp_path / "more", [0.0] * 9, "3D photogrammetry")  # 18 now
    assert queue_if_wanted(sessions, settings, SERIES) is not None  # the description says so


def test_a_queued_3d_job_does_not_hide_new_photos_from_the_2d_queue(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    from node.db import Series

    _analysed_series(sessions, tmp_path, list(np.linspace(-35, 35, 9)), "")
    assert queue_if_wanted(sessions, settings, SERIES) is not None
    past = utcnow().replace(year=2020)
    with sessions.begin() as s:  # more photos arrived meanwhile
        s.add(Series(series_uid=SERIES, study_uid="1.2", last_received_at=past,
                     instance_count=10, state="receiving"))  # fmt: skip
    created = queue_stable_series(sessions, 10.0)
    assert len(created) == 1
    with sessions() as s:
        assert s.get(Job, created[0]).kind == JobKind.ANALYZE  # type: ignore[union-attr]


def test_status_shows_a_running_3d_jobs_stage_and_progress(
    sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    _analysed_series(sessions, tmp_path, list(np.linspace(-35, 35, 9)), "")
    job_id = queue_if_wanted(sessions, settings, SERIES)
    assert job_id is not None and claim_next(sessions, (JobKind.RECONSTRUCT,)) == job_id
    report_progress(sessions, job_id, "dense", 0.473)
    data = status.collect(sessions)
    (running,) = data["running_jobs"]
    assert (running["id"], running["kind"], running["stage"], running["progress"]) == (
        job_id, "3D", "dense", 47.3)  # fmt: skip
    text = status.render(data)
    assert f"#{job_id:<5} 3D series {SERIES}  dense 47 %" in text
    finish(sessions, job_id)
    data = status.collect(sessions)
    assert data["running_jobs"] == []
    assert data["recent_jobs"][0]["stage"] == "" and data["recent_jobs"][0]["progress"] is None
    report_progress(sessions, job_id, "late", 0.9)  # after the end: not recorded
    assert status.collect(sessions)["recent_jobs"][0]["stage"] == ""
