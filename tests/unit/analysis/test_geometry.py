"""The one face geometry: face frame and mirror axis, on a dict and on the engine's batch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.geometry import (
    NamedPoints,
    face_frame,
    fit_mirror_axis,
    frame_of,
    interpupillary,
    mirror_axis_of,
)
from analysis.landmark_names import IBUG68, LEFT_EYE, RIGHT_EYE
from analysis.measurements.geometry import Pts
from tests.unit.analysis import faces


def test_frame_u_runs_from_pupil_to_pupil_and_the_origin_sits_between_the_endocanthia():
    pts = {
        "pupil_r": (100.0, 100.0),
        "pupil_l": (160.0, 110.0),
        "ibug_39": (118.0, 103.0),
        "ibug_42": (142.0, 108.0),
    }
    frame = frame_of(pts)
    assert frame is not None
    d = np.array([60.0, 10.0])
    assert np.allclose(frame.u, d / np.linalg.norm(d), atol=1e-12)
    assert np.allclose(frame.v, [-frame.u[1], frame.u[0]]) and frame.v[1] > 0  # down the face
    assert np.allclose(frame.origin, [130.0, 105.5])
    assert float(frame.ipd) == pytest.approx(float(np.linalg.norm(d)))
    assert float(frame.x(np.array([160.0, 110.0]))) > 0  # + toward the subject's left
    assert np.allclose(frame.point(0.0, 0.0), frame.origin)
    assert np.allclose(frame.point(3.0, -2.0), frame.origin + 3.0 * frame.u - 2.0 * frame.v)


def test_without_pupils_the_eye_contour_centres_stand_in():
    px = faces.to_pixels(faces.FRONTAL_MM, mm_per_px=0.25, roll_deg=-9.0)
    no_pupils = {k: v for k, v in px.items() if not k.startswith("pupil")}
    frame = frame_of(no_pupils)
    assert frame is not None
    eyes = [np.mean([no_pupils[k] for k in group], axis=0) for group in (RIGHT_EYE, LEFT_EYE)]
    d = eyes[1] - eyes[0]
    assert np.allclose(frame.u, d / np.linalg.norm(d), atol=1e-12)
    assert float(interpupillary(NamedPoints(no_pupils))) == pytest.approx(np.linalg.norm(d))


def test_no_frame_without_eyes_or_endocanthia():
    assert frame_of({"ibug_27": (1.0, 1.0), "ibug_30": (1.0, 9.0)}) is None
    px = faces.to_pixels(faces.FRONTAL_MM)
    assert frame_of({k: v for k, v in px.items() if k != "ibug_42"}) is None
    same = {**px, "pupil_l": px["pupil_r"]}
    assert frame_of(same) is None  # coincident pupils: no direction


def test_mirror_axis_recovers_the_axis_of_a_rotated_symmetric_face():
    px = faces.to_pixels(faces.FRONTAL_MM, mm_per_px=0.25, roll_deg=12.0, origin=(300.0, 280.0))
    axis = mirror_axis_of(px)
    assert axis is not None
    a = math.radians(12.0)
    expected = np.array([-math.sin(a), math.cos(a)])  # the face's v axis, rotated by the roll
    assert float(axis.direction @ expected) == pytest.approx(1.0, abs=1e-12)
    r = axis.centre - np.array([300.0, 280.0])  # the frame's origin (x = 0) lies on the axis
    assert abs(r[0] * axis.direction[1] - r[1] * axis.direction[0]) < 1e-9
    mx, my = axis.reflect(np.array([px["ibug_36"][0]]), np.array([px["ibug_36"][1]]))
    assert np.allclose([mx[0], my[0]], px["ibug_45"], atol=1e-9)  # exocanthia swap


def test_no_mirror_axis_from_fewer_than_six_pairs():
    px = faces.to_pixels(faces.FRONTAL_MM)
    nose = {k: px[k] for k in IBUG68[27:36]}  # 2 bilateral pairs and 5 midline points: 9 rows
    assert mirror_axis_of(nose) is not None
    assert mirror_axis_of({k: px[k] for k in IBUG68[31:36]}) is None  # 5 points


def test_the_engine_batch_and_a_dict_give_the_same_frame_and_axis():
    """One implementation, two representations: every row of a batch is its own face."""
    rng = np.random.default_rng(3)
    dicts = []
    for roll in (0.0, 7.0, -20.0):
        px = faces.to_pixels(faces.FRONTAL_MM, roll_deg=roll)
        dicts.append(
            {k: (x + rng.normal(0, 2.0), y + rng.normal(0, 2.0)) for k, (x, y) in px.items()}
        )
    keys = list(dicts[0])
    batch = Pts(np.array([[d[k] for k in keys] for d in dicts]), {k: i for i, k in enumerate(keys)})
    frames, axis = face_frame(batch), fit_mirror_axis(batch)
    for row, d in enumerate(dicts):
        one = NamedPoints(d)
        f, a = face_frame(one), fit_mirror_axis(one)
        for name in ("origin", "u", "v", "ipd"):
            assert np.allclose(getattr(frames, name)[row], getattr(f, name), rtol=0, atol=1e-9)
        assert np.allclose(axis.centre[row], a.centre, rtol=0, atol=1e-9)
        assert np.allclose(axis.direction[row], a.direction, rtol=0, atol=1e-12)
    # the batch records the points the frame was built from, as a formula's landmarks
    assert list(batch.used)[:2] == ["pupil_l", "pupil_r"]
