"""dlib's embedded 68-point backend on the astronaut, cross-checked against MediaPipe."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from analysis.landmark_names import IBUG68
from analysis.landmarks.dlib_backend import DlibBackend, predictor_path, score_to_confidence
from analysis.landmarks.semantic import ESTIMATED_PUPIL_FACTOR, to_semantic
from analysis.types import LandmarkSet


@pytest.fixture(scope="module")
def face() -> LandmarkSet:
    faces = DlibBackend().detect(np.ascontiguousarray(data.astronaut()))
    assert len(faces) == 1
    return faces[0]


def test_predictor_is_found_without_importing_face_recognition_models() -> None:
    import sys

    path = predictor_path()
    assert path.name == "shape_predictor_68_face_landmarks.dat" and path.stat().st_size > 90e6
    assert "face_recognition_models" not in sys.modules


def test_astronaut_face_is_well_formed_and_marked_non_commercial(face: LandmarkSet) -> None:
    assert face.scheme == "ibug68"
    assert face.points.shape == (68, 2) and np.isfinite(face.points).all()
    assert face.box is not None
    inside = (face.points[:, 0] > face.box.x0 - 20) & (face.points[:, 0] < face.box.x1 + 20)
    assert inside.all()
    assert 0.5 <= face.overall_confidence <= 1 and np.all(
        face.confidence == face.overall_confidence
    )
    assert face.model.commercial_use is False
    assert "300-W" in face.model.licence and "commercial" in face.model.licence


def test_dlib_and_mediapipe_agree_on_the_astronaut(face: LandmarkSet) -> None:
    """Two independent models through the semantic mapping: mean error < 8 % of the
    outer-eye-corner distance (the benchmark's NME, here on a real portrait)."""
    from analysis.landmarks.mediapipe_backend import MediaPipeBackend

    mp = to_semantic(MediaPipeBackend().detect(np.ascontiguousarray(data.astronaut()))[0])
    dl = to_semantic(face)
    a = np.array([mp.points[n] for n in IBUG68])
    b = np.array([dl.points[n] for n in IBUG68])
    nme = np.linalg.norm(a - b, axis=1).mean() / np.linalg.norm(b[36] - b[45])
    assert nme < 0.08
    # dlib has no iris: its pupils are estimates, marked by a lower confidence
    assert dl.confidence["pupil_r"] == pytest.approx(
        face.overall_confidence * ESTIMATED_PUPIL_FACTOR
    )
    assert np.linalg.norm(dl.xy("pupil_r") - mp.xy("pupil_r")) < 0.1 * np.linalg.norm(b[36] - b[45])


def test_blank_photo_has_no_face_and_scores_map_monotonically() -> None:
    assert DlibBackend().detect(np.zeros((200, 300, 3), dtype=np.uint8)) == []
    assert (
        score_to_confidence(-0.5) < score_to_confidence(0.0) == 0.5 < score_to_confidence(1.0) < 1
    )
