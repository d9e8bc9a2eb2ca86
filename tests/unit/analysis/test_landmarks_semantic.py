"""Scheme → semantic mapping, on point sets the tests build (no model runs here)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from analysis.landmark_names import ALL_NAMES, IBUG68, IBUG68_MIRROR, IRIS, PROFILE
from analysis.landmarks.semantic import (
    ESTIMATED_PUPIL_FACTOR,
    INSIGHTFACE106_TO_IBUG68,
    MEDIAPIPE_IRIS,
    MEDIAPIPE_TO_IBUG68,
    MEDIAPIPE_UPPER_FACE,
    semantic_rows,
    to_semantic,
)
from analysis.types import InvalidInputError, LandmarkSet, ModelIdentity

MODEL = ModelIdentity(id="test", name="test", version="0", licence="none")
CANONICAL = (
    Path(
        os.environ.get("FACENODE_SHARED_DATA", Path(__file__).resolve().parents[4] / "shared/data")
    )
    / "mesh3d/mediapipe_canonical/canonical_face_model.obj"
)


def _ls(scheme: str, pts: np.ndarray, conf: np.ndarray | None = None) -> LandmarkSet:
    c = np.full(len(pts), 0.9) if conf is None else conf
    return LandmarkSet(scheme=scheme, points=pts, confidence=c, overall_confidence=0.9, model=MODEL)


def test_ibug68_is_identity_and_pupils_are_flagged_estimates() -> None:
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 500, size=(68, 2))
    conf = np.linspace(0.2, 1.0, 68)
    sem = to_semantic(_ls("ibug68", pts, conf))
    for i, name in enumerate(IBUG68):
        assert sem.points[name] == pytest.approx(tuple(pts[i]))
        assert sem.confidence[name] == pytest.approx(conf[i])
    assert sem.points["pupil_r"] == pytest.approx(tuple(pts[36:42].mean(axis=0)))
    assert sem.points["pupil_l"] == pytest.approx(tuple(pts[42:48].mean(axis=0)))
    # an estimated pupil is less trusted than the eye contour it comes from
    assert sem.confidence["pupil_r"] == pytest.approx(conf[36:42].min() * ESTIMATED_PUPIL_FACTOR)
    assert sem.confidence["pupil_r"] < conf[36:42].min()
    assert "iris_r_lateral" not in sem.points and "trichion" not in sem.points
    assert sem.sources == (MODEL,)
    # aliases resolve through the contract's helpers
    assert np.allclose(sem.xy("exocanthion_r"), pts[36])


def test_mediapipe_mapping_uses_the_table_iris_and_forehead() -> None:
    pts = np.stack([np.arange(478, dtype=float), np.zeros(478)], axis=1)  # x = vertex index
    conf = np.full(478, 0.8)
    sem = to_semantic(_ls("mediapipe478", pts, conf))
    for i, verts in enumerate(MEDIAPIPE_TO_IBUG68):
        assert sem.points[IBUG68[i]][0] == pytest.approx(np.mean(verts))
    for name, v in MEDIAPIPE_IRIS.items():
        assert sem.points[name][0] == v
        assert sem.confidence[name] == pytest.approx(0.8)
    for name, (v, factor) in MEDIAPIPE_UPPER_FACE.items():
        assert sem.points[name][0] == v
        assert sem.confidence[name] == pytest.approx(0.8 * factor)
    assert set(IRIS) <= set(sem.points)
    assert not set(PROFILE) & set(sem.points)


def test_mediapipe_table_is_well_formed() -> None:
    assert len(MEDIAPIPE_TO_IBUG68) == 68
    assert all(1 <= len(v) <= 2 and all(0 <= i < 468 for i in v) for v in MEDIAPIPE_TO_IBUG68)
    # the canthi and mouth corners are MediaPipe's own corner vertices
    assert [MEDIAPIPE_TO_IBUG68[i] for i in (36, 39, 42, 45, 48, 54)] == [
        (33,),
        (133,),
        (362,),
        (263,),
        (61,),
        (291,),
    ]
    # iris 468-472 is on the side of vertex 33 (subject's right), 473-477 on 263's
    assert MEDIAPIPE_IRIS["pupil_r"] == 468 and MEDIAPIPE_IRIS["pupil_l"] == 473


@pytest.mark.skipif(not CANONICAL.is_file(), reason=f"shared data absent: {CANONICAL}")
def test_mediapipe_table_is_mirror_symmetric_on_the_canonical_face() -> None:
    verts = np.array(
        [
            [float(t) for t in line.split()[1:4]]
            for line in CANONICAL.read_text().splitlines()
            if line.startswith("v ")
        ]
    )
    mirror = np.array(
        [int(np.argmin(np.linalg.norm(verts - verts[i] * [-1, 1, 1], axis=1))) for i in range(468)]
    )
    for i, j in IBUG68_MIRROR.items():
        assert sorted(mirror[list(MEDIAPIPE_TO_IBUG68[i])]) == sorted(MEDIAPIPE_TO_IBUG68[j]), i
    # the canonical model is the face seen from the front with +x to the image's right...
    x = {i: verts[list(v)].mean(axis=0)[0] for i, v in enumerate(MEDIAPIPE_TO_IBUG68)}
    # ... so the subject's right side (iBUG 0, 36) has the smaller x
    assert x[0] < x[8] < x[16] and x[36] < x[39] < x[42] < x[45]


def test_insightface106_table_is_a_selection_of_distinct_points() -> None:
    assert len(INSIGHTFACE106_TO_IBUG68) == 68
    assert len(set(INSIGHTFACE106_TO_IBUG68)) == 68
    assert all(0 <= i < 106 for i in INSIGHTFACE106_TO_IBUG68)
    pts = np.stack([np.arange(106, dtype=float), np.ones(106)], axis=1)
    sem = to_semantic(_ls("insightface106", pts))
    assert [sem.points[n][0] for n in IBUG68] == list(INSIGHTFACE106_TO_IBUG68)
    assert "pupil_l" in sem.points


def test_semantic_rows_round_trip_keeps_present_names_only() -> None:
    pts = np.full((len(ALL_NAMES), 2), np.nan)
    conf = np.zeros(len(ALL_NAMES))
    pts[:68] = np.arange(136, dtype=float).reshape(68, 2)
    conf[:68] = 0.7
    sem = to_semantic(_ls("semantic", pts, conf))
    assert set(sem.points) == set(IBUG68)
    back_pts, back_conf = semantic_rows(sem)
    assert np.array_equal(np.isnan(back_pts), np.isnan(pts))
    assert np.allclose(back_pts[:68], pts[:68]) and np.allclose(back_conf, conf)


def test_bad_scheme_or_shape_is_refused_with_the_expected_shape() -> None:
    with pytest.raises(InvalidInputError, match="unknown landmark scheme"):
        to_semantic(_ls("ibug98", np.zeros((98, 2))))
    with pytest.raises(InvalidInputError, match=r"\(68, 2\)"):
        to_semantic(_ls("ibug68", np.zeros((67, 2))))
