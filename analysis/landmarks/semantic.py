"""Backend point schemes → the one semantic vocabulary of :mod:`analysis.landmark_names`.

Schemes handled
---------------
``ibug68``
    Identity onto ``ibug_00..67``. Pupils are *estimated* as the centroid of each eye's six
    contour points; their confidence is the eye's confidence × :data:`ESTIMATED_PUPIL_FACTOR`
    (0.5), which is how a consumer can tell an estimate from a detected iris centre.
``mediapipe478``
    MediaPipe Face Mesh with iris refinement. The 68 iBUG meanings come from
    :data:`MEDIAPIPE_TO_IBUG68` (each iBUG point the mean of one or two mesh vertices). It
    started from the widely used correspondence of Peizhi Yan's ``Mediapipe_2_Dlib_Landmarks``
    (2024) and was then fitted to 68-point ground truth (see the table's comment and
    ``tests/bench/bench_nme.py``). Iris: 468 is the centre of the *subject's
    right* iris (the same side as mesh vertex 33, the right exocanthion), 469–472 its
    medial / top / lateral / bottom edge; 473 is the left centre, 474–477 its lateral / top /
    medial / bottom edge (checked on a frontal portrait). ``glabella`` is vertex 9 (between
    the brows); ``trichion`` is vertex 10, the top of the mesh, which lies on the upper
    forehead and usually *below* the real hairline — hence its low confidence factor.
``insightface106``
    insightface ``2d106det``. :data:`INSIGHTFACE106_TO_IBUG68` is the index map circulating
    since a 2021 Stack Overflow answer (question 67174339) and used by e.g. DMDNet; it has not
    been measured here because the weights are not available offline — run the NME benchmark
    once they are provisioned. Pupils are estimated as for ibug68.
``semantic``
    Already semantic (the ensemble's output): ``points`` holds one row per name of
    :data:`analysis.landmark_names.ALL_NAMES`, in that order, NaN where the name is missing;
    rows with a NaN or zero confidence are left out.

Right/left are always the subject's (see :mod:`analysis.landmark_names`).
"""

from __future__ import annotations

from typing import Final

import numpy as np

from analysis.landmark_names import ALL_NAMES, IBUG68, LEFT_EYE_INDICES, RIGHT_EYE_INDICES
from analysis.types import FloatArray, InvalidInputError, LandmarkSet, SemanticLandmarks

SEMANTIC_SCHEME: Final = "semantic"
ESTIMATED_PUPIL_FACTOR: Final = 0.5

#: iBUG-68 index → MediaPipe mesh vertices whose mean is that point. Fitted on the
#: *training* XML of dlib's 68-point faces (18 faces) under constraints that keep it
#: anatomical: a single vertex or a mesh edge's two vertices, left/right choices mirror
#: images of each other, midline points on midline vertices; the canthi (36, 39, 42, 45)
#: and mouth corners (48, 54) are MediaPipe's own corner vertices. On the held-out testing
#: XML (23 faces) this cut NME from 0.0536 (Peizhi Yan's map) to 0.0424.
MEDIAPIPE_TO_IBUG68: Final[tuple[tuple[int, ...], ...]] = (
    # jaw 0-16 (0 on the image's left = subject's right)
    (34, 127), (137, 227), (177,), (215,), (138, 172), (136, 150), (149,), (148, 176),
    (152,),
    (377, 400), (378,), (365, 379), (367, 397), (435,), (401,), (366, 447), (264, 356),
    # brows 17-21 (subject's right), 22-26 (left)
    (46, 156), (53, 63), (52, 105), (65, 66), (55, 107),
    (285, 336), (295, 296), (282, 334), (283, 293), (276, 383),
    # nose bridge 27-30, lower nose 31-35
    (6, 168), (197,), (5, 195), (4,),
    (98, 99), (97,), (2, 164), (326,), (327, 328),
    # eyes 36-41 (right), 42-47 (left)
    (33,), (159, 160), (157, 158), (133,), (153,), (144,),
    (362,), (384, 385), (386, 387), (263,), (373,), (380,),
    # outer lips 48-59
    (61,), (40, 73), (37, 72), (11,), (267, 302), (270, 303), (291,),
    (321, 405), (314,), (17,), (84,), (91, 181),
    # inner lips 60-67
    (62, 191), (38,), (13,), (268,), (292, 415), (316, 317), (14, 15), (86, 87),
)  # fmt: skip

MEDIAPIPE_IRIS: Final[dict[str, int]] = {
    "pupil_r": 468,
    "iris_r_medial": 469,
    "iris_r_top": 470,
    "iris_r_lateral": 471,
    "iris_r_bottom": 472,
    "pupil_l": 473,
    "iris_l_lateral": 474,
    "iris_l_top": 475,
    "iris_l_medial": 476,
    "iris_l_bottom": 477,
}

#: Upper-face points from the mesh: vertex and confidence factor.
MEDIAPIPE_UPPER_FACE: Final[dict[str, tuple[int, float]]] = {
    "glabella": (9, 0.8),
    "trichion": (10, 0.3),
}

#: iBUG-68 index → insightface 2d106det index.
INSIGHTFACE106_TO_IBUG68: Final[tuple[int, ...]] = (
    1, 10, 12, 14, 16, 3, 5, 7, 0, 23, 21, 19, 32, 30, 28, 26, 17,
    43, 48, 49, 51, 50,
    102, 103, 104, 105, 101,
    72, 73, 74, 86, 78, 79, 80, 85, 84,
    35, 41, 42, 39, 37, 36,
    89, 95, 96, 93, 91, 90,
    52, 64, 63, 71, 67, 68, 61, 58, 59, 53, 56, 55, 65, 66, 62, 70, 69, 57, 60, 54,
)  # fmt: skip

_EXPECTED_POINTS: Final[dict[str, int]] = {
    "ibug68": 68,
    "mediapipe478": 478,
    "insightface106": 106,
    SEMANTIC_SCHEME: len(ALL_NAMES),
}


def to_semantic(ls: LandmarkSet) -> SemanticLandmarks:
    """Map one backend result into named points; raises InvalidInputError on a bad scheme."""
    n = _EXPECTED_POINTS.get(ls.scheme)
    if n is None:
        raise InvalidInputError(
            f"unknown landmark scheme {ls.scheme!r}; expected one of {sorted(_EXPECTED_POINTS)}"
        )
    pts = np.asarray(ls.points, dtype=np.float64)
    conf = np.asarray(ls.confidence, dtype=np.float64)
    if pts.shape != (n, 2) or conf.shape != (n,):
        raise InvalidInputError(
            f"scheme {ls.scheme!r} needs points ({n}, 2) and confidence ({n},), "
            f"got {pts.shape} and {conf.shape}"
        )
    if ls.scheme == "ibug68":
        named = _ibug68(pts, conf)
    elif ls.scheme == "mediapipe478":
        named = _mediapipe(pts, conf)
    elif ls.scheme == "insightface106":
        idx = np.asarray(INSIGHTFACE106_TO_IBUG68)
        named = _ibug68(pts[idx], conf[idx])
    else:
        named = _from_semantic_rows(pts, conf)
    points = {k: v[0] for k, v in named.items()}
    confidence = {k: v[1] for k, v in named.items()}
    return SemanticLandmarks(points=points, confidence=confidence, sources=(ls.model,))


def semantic_rows(sem: SemanticLandmarks) -> tuple[FloatArray, FloatArray]:
    """The inverse of the ``semantic`` scheme: (len(ALL_NAMES), 2) points with NaN holes."""
    pts = np.full((len(ALL_NAMES), 2), np.nan)
    conf = np.zeros(len(ALL_NAMES))
    for i, name in enumerate(ALL_NAMES):
        if name in sem.points:
            pts[i] = sem.points[name]
            conf[i] = sem.confidence.get(name, 0.0)
    return pts, conf


_Named = dict[str, tuple[tuple[float, float], float]]


def _pt(xy: FloatArray) -> tuple[float, float]:
    return (float(xy[0]), float(xy[1]))


def _ibug68(pts: FloatArray, conf: FloatArray) -> _Named:
    named: _Named = {name: (_pt(pts[i]), float(conf[i])) for i, name in enumerate(IBUG68)}
    for side, eye in (("r", list(RIGHT_EYE_INDICES)), ("l", list(LEFT_EYE_INDICES))):
        named[f"pupil_{side}"] = (
            _pt(pts[eye].mean(axis=0)),
            float(conf[eye].min()) * ESTIMATED_PUPIL_FACTOR,
        )
    return named


def _mediapipe(pts: FloatArray, conf: FloatArray) -> _Named:
    named: _Named = {}
    for i, verts in enumerate(MEDIAPIPE_TO_IBUG68):
        idx = list(verts)
        named[IBUG68[i]] = (_pt(pts[idx].mean(axis=0)), float(conf[idx].min()))
    for name, v in MEDIAPIPE_IRIS.items():
        named[name] = (_pt(pts[v]), float(conf[v]))
    for name, (v, factor) in MEDIAPIPE_UPPER_FACE.items():
        named[name] = (_pt(pts[v]), float(conf[v]) * factor)
    return named


def _from_semantic_rows(pts: FloatArray, conf: FloatArray) -> _Named:
    named: _Named = {}
    for i, name in enumerate(ALL_NAMES):
        if np.all(np.isfinite(pts[i])) and np.isfinite(conf[i]) and conf[i] > 0:
            named[name] = (_pt(pts[i]), float(conf[i]))
    return named
