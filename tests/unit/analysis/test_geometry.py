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


def test_the_frame_of_a_symmetric_face_is_its_mirror_axis_through_the_endocanthia():
    """u is perpendicular to the fitted mirror axis (here: along the pupils), v runs down it,
    and the origin is the endocanthia's midpoint on it."""
    a = math.radians(9.5)
    u, v = np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)])
    centre = np.array([130.0, 105.0])
    half = {"pupil": (30.0, 0.0), "ibug_42": (12.0, 1.0), "ibug_45": (40.0, 0.5)}
    pts: dict[str, np.ndarray] = {}
    for key, (x, y) in half.items():
        left, right = (key + "_l", key + "_r") if key == "pupil" else (key, None)
        pts[left] = centre + x * u + y * v
        mirrored = {"ibug_42": "ibug_39", "ibug_45": "ibug_36"}.get(key, right)
        assert mirrored is not None
        pts[mirrored] = centre - x * u + y * v
    frame = frame_of(pts)
    assert frame is not None
    assert np.allclose(frame.u, u, atol=1e-12)
    assert np.allclose(frame.v, [-frame.u[1], frame.u[0]]) and frame.v[1] > 0  # down the face
    assert np.allclose(frame.origin, centre + 1.0 * v, atol=1e-9)
    assert float(frame.ipd) == pytest.approx(60.0)
    assert float(frame.x(pts["pupil_l"])) == pytest.approx(30.0)  # + toward the subject's left
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


# --- the robust face frame ----------------------------------------------------------------


def _frame_pixels(mm: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    return faces.to_pixels(mm, mm_per_px=0.25, roll_deg=-7.0, origin=(310.0, 260.0))


def _same_frame(a: object, b: object, atol: float) -> bool:
    return all(
        np.allclose(getattr(a, n), getattr(b, n), rtol=0, atol=atol) for n in ("origin", "u", "v")
    )


def test_a_rotated_and_translated_symmetric_face_gives_its_exact_axis():
    px = _frame_pixels(faces.FRONTAL_MM)
    frame = frame_of(px)
    assert frame is not None
    a = math.radians(-7.0)
    assert np.allclose(frame.u, [math.cos(a), math.sin(a)], rtol=0, atol=1e-12)
    assert np.allclose(frame.v, [-math.sin(a), math.cos(a)], rtol=0, atol=1e-12)
    # the origin: the endocanthia's midpoint
    assert np.allclose(frame.origin, [310.0, 260.0], rtol=0, atol=1e-9)
    assert float(frame.x(np.asarray(px["ibug_08"]))) == pytest.approx(0.0, abs=1e-9)


def test_moving_the_points_whose_deviation_is_measured_does_not_move_the_frame():
    """Chin, nasal tip, the mouth and the jaw are not in the fit: one-sided shifts of them
    leave the frame exactly where it was, and the chin reads its own shift."""
    base = frame_of(_frame_pixels(faces.FRONTAL_MM))
    mm = dict(faces.FRONTAL_MM)
    for i in (*range(17), *range(29, 36), *range(48, 68)):  # jaw, lower nose, mouth
        x, y = mm[IBUG68[i]]
        mm[IBUG68[i]] = (x + 3.0, y + 1.0)
    moved = frame_of(_frame_pixels(mm))
    assert base is not None and moved is not None
    assert _same_frame(base, moved, atol=1e-9)
    assert float(moved.x(np.asarray(_frame_pixels(mm)["ibug_08"]))) == pytest.approx(12.0)  # 3 mm


@pytest.mark.parametrize(
    "change",
    [
        {i: (0.0, -4.0) for i in range(17, 22)},  # the right brow lifted 4 mm
        {37: (0.0, 3.0), 38: (0.0, 3.0)},  # the right upper lid 3 mm lower (ptosis)
        {26: (2.0, 5.0)},  # one misplaced brow point
    ],
)
def test_a_one_sided_change_of_fitted_points_is_rejected(change):
    """Brows and lids are fitted, but a one-sided lift or droop is an outlier of the mirror
    fit and gets no weight: the frame does not move (a least-squares fit would tilt)."""
    px = _frame_pixels(faces.FRONTAL_MM)
    mm = dict(faces.FRONTAL_MM)
    for i, (dx, dy) in change.items():
        x, y = mm[IBUG68[i]]
        mm[IBUG68[i]] = (x + dx, y + dy)
    base, moved = frame_of(px), frame_of(_frame_pixels(mm))
    assert base is not None and moved is not None
    assert _same_frame(base, moved, atol=1e-9)


def test_noise_on_a_few_points_barely_turns_the_frame():
    """1 px of noise on the pupils and two canthi turns a two-pupil axis; the fit of ≈ 25
    rows turns far less, and its midline at the chin moves far less."""
    px = _frame_pixels(faces.FRONTAL_MM)
    base = frame_of(px)
    assert base is not None
    chin = np.asarray(px["ibug_08"])
    rng = np.random.default_rng(11)
    turns, shifts, pupil_turns = [], [], []
    for _ in range(40):
        noisy = dict(px)
        for key in ("pupil_r", "pupil_l", "ibug_36", "ibug_42"):
            x, y = noisy[key]
            noisy[key] = (x + rng.normal(0, 1.0), y + rng.normal(0, 1.0))
        f = frame_of(noisy)
        assert f is not None
        turns.append(math.degrees(math.asin(float(base.u[0] * f.u[1] - base.u[1] * f.u[0]))))
        shifts.append(float(f.x(chin) - base.x(chin)))
        d = np.asarray(noisy["pupil_l"]) - np.asarray(noisy["pupil_r"])
        pupil_turns.append(math.degrees(math.atan2(d[1], d[0])) + 7.0)
    rms = lambda v: float(np.sqrt(np.mean(np.square(v))))  # noqa: E731
    assert rms(turns) < 0.35 * rms(pupil_turns)
    assert rms(shifts) < 0.5  # px (IPD ≈ 250 px): < 0.13 mm at the chin


def test_the_frame_needs_two_pairs():
    px = faces.to_pixels(faces.FRONTAL_MM)
    only = {k: px[k] for k in ("pupil_r", "pupil_l", "ibug_39", "ibug_42")}
    assert frame_of(only) is not None
    assert frame_of({k: px[k] for k in ("pupil_r", "pupil_l", "ibug_39")}) is None
