"""Ensemble fusion: its rules on faces the tests build, then the real embedded pair."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from analysis.landmark_names import ALL_NAMES, IBUG68, PROFILE
from analysis.landmarks import get_backend
from analysis.landmarks.ensemble import SINGLE_SOURCE_FACTOR, EnsembleBackend
from analysis.landmarks.semantic import to_semantic
from analysis.types import BackendUnavailableError, ImageArray, LandmarkSet, ModelIdentity

IMG = np.zeros((400, 600, 3), dtype=np.uint8)
# a plausible 68-point face: points on an ellipse, eye corners 36/45 100 px apart
_t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
BASE = np.stack([200 + 60 * np.cos(_t), 200 + 80 * np.sin(_t)], axis=1)
BASE[36], BASE[45] = (150, 180), (250, 180)


class Fixed:
    """A backend that returns the faces it was given (the ensemble's logic is what runs)."""

    def __init__(
        self, name: str, faces: list[np.ndarray], conf: float = 0.9, commercial: bool = True
    ) -> None:
        self.identity = ModelIdentity(
            id=name, name=name, version="1", licence=f"{name}-lic", commercial_use=commercial
        )
        self.faces, self.conf = faces, conf

    def detect(self, image: ImageArray) -> list[LandmarkSet]:
        return [
            LandmarkSet("ibug68", p, np.full(68, self.conf), self.conf, self.identity)
            for p in self.faces
        ]


class Broken:
    identity = ModelIdentity(id="broken", name="broken", version="1", licence="x")

    def detect(self, image: ImageArray) -> list[LandmarkSet]:
        raise RuntimeError("model crashed on this photo")


def test_two_agreeing_members_give_their_mean_with_high_confidence() -> None:
    ens = EnsembleBackend([Fixed("a", [BASE]), Fixed("b", [BASE + 2.0])])
    [sem] = ens.detect_semantic(IMG)
    assert sem.xy("ibug_10") == pytest.approx(BASE[10] + 1.0)
    assert sem.confidence["ibug_10"] > 0.85  # 1.4 px apart on a 100 px eye distance
    assert {m.id for m in sem.sources} == {"a", "b"}


def test_three_members_median_ignores_one_wild_member() -> None:
    wild = BASE.copy()
    wild[30] += (40.0, 40.0)
    ens = EnsembleBackend([Fixed("a", [BASE]), Fixed("b", [BASE + 1.0]), Fixed("c", [wild])])
    [sem] = ens.detect_semantic(IMG)
    assert np.linalg.norm(sem.xy("ibug_30") - BASE[30]) <= 1.5
    # disagreement lowers that point's confidence, not the others'
    assert sem.confidence["ibug_30"] < 0.5 < sem.confidence["ibug_29"]


def test_faces_are_matched_by_overlap_and_a_lone_face_is_less_trusted() -> None:
    other = BASE + (300.0, 0.0)
    ens = EnsembleBackend([Fixed("a", [BASE, other]), Fixed("b", [other + 1.0])])
    fused = ens.detect_fused(IMG)
    assert len(fused) == 2
    by_x = sorted(fused, key=lambda f: f.box.x0)
    lone, shared = by_x[0], by_x[1]
    assert lone.semantic.confidence["ibug_08"] == pytest.approx(0.9 * SINGLE_SOURCE_FACTOR)
    assert shared.semantic.xy("ibug_08") == pytest.approx(other[8] + 0.5)
    assert lone.overall_confidence < shared.overall_confidence


def test_a_failing_member_is_skipped_and_licences_combine() -> None:
    ens = EnsembleBackend([Broken(), Fixed("a", [BASE], commercial=False)])
    assert len(ens.detect(IMG)) == 1
    assert ens.identity.commercial_use is False
    assert "a-lic" in ens.identity.licence and "broken" in ens.identity.id
    with pytest.raises(BackendUnavailableError):
        EnsembleBackend([])


def test_detect_returns_semantic_rows_that_round_trip() -> None:
    ens = EnsembleBackend([Fixed("a", [BASE]), Fixed("b", [BASE])])
    [ls] = ens.detect(IMG)
    assert ls.scheme == "semantic" and ls.points.shape == (len(ALL_NAMES), 2)
    profile_rows = [ALL_NAMES.index(n) for n in PROFILE]
    assert np.isnan(ls.points[profile_rows]).all() and (ls.confidence[profile_rows] == 0).all()
    sem = to_semantic(ls)
    assert sem.xy("ibug_33") == pytest.approx(BASE[33])
    assert not set(PROFILE) & set(sem.points)


def test_real_embedded_ensemble_on_the_astronaut() -> None:
    ens = get_backend("ensemble", None)
    assert isinstance(ens, EnsembleBackend)
    assert {m.identity.id for m in ens.members} == {
        "mediapipe-facemesh-478",
        "dlib-shape-predictor-68",
    }
    img = np.ascontiguousarray(data.astronaut())
    faces = ens.detect(img)
    assert len(faces) == 1
    sem = to_semantic(faces[0])
    assert set(IBUG68) <= set(sem.points) and "iris_r_lateral" in sem.points
    assert all(0 < c <= 1 for c in sem.confidence.values())
    # each fused iBUG point lies between the two members' points (2 members: weighted mean)
    mp = to_semantic(ens.members[0].detect(img)[0])
    dl = to_semantic(ens.members[1].detect(img)[0])
    for n in ("ibug_36", "ibug_48", "ibug_08"):
        lo = np.minimum(mp.xy(n), dl.xy(n)) - 1e-6
        hi = np.maximum(mp.xy(n), dl.xy(n)) + 1e-6
        assert ((sem.xy(n) >= lo) & (sem.xy(n) <= hi)).all()
    # the iris comes from MediaPipe alone: its confidence carries the single-source factor
    assert sem.confidence["iris_r_lateral"] == pytest.approx(
        mp.confidence["iris_r_lateral"] * SINGLE_SOURCE_FACTOR
    )
    # and dlib's contour-centroid pupil does not pull MediaPipe's measured one
    assert sem.xy("pupil_r") == pytest.approx(mp.xy("pupil_r"))
    assert np.linalg.norm(dl.xy("pupil_r") - mp.xy("pupil_r")) > 0.5
