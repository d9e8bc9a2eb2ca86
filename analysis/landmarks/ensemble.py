"""Fuse several landmark backends into one, in the semantic space.

Why semantic: backends use different point schemes, but after :func:`to_semantic` every
one says "ibug_36" for the same anatomical point, so fusion is a per-name problem.

Algorithm (per photo)
---------------------
1. Run every member; a member that fails on this photo is logged and skipped.
2. Match faces across members by the IoU (≥ :data:`MATCH_IOU`) of the tight boxes around
   their 68 iBUG points — detector boxes follow each detector's own convention, the
   landmark boxes do not. Each member gives at most one face to a group.
3. Per name (pupils: only from members that detect the iris, when any does): one
   source → its point, confidence × :data:`SINGLE_SOURCE_FACTOR`
   (uncorroborated). Two → confidence-weighted mean. Three or more → confidence-weighted
   median per coordinate (one wild member cannot drag the result).
4. Confidence from agreement: ``mean member confidence × exp(-½ (s / (τ·IOD))²)`` where
   ``s`` is the confidence-weighted RMS distance of the sources from the fused point, IOD
   the fused outer-eye-corner distance and τ = :data:`AGREEMENT_TAU` (0.08: members 5 % of
   IOD apart keep 82 %, 10 % apart 46 %).
5. A face's overall confidence is the members' mean × √(members that found it / members).

Output: :meth:`EnsembleBackend.detect_semantic` gives :class:`SemanticLandmarks`;
:meth:`EnsembleBackend.detect` gives LandmarkSets with scheme ``"semantic"``: one row per
name of :data:`analysis.landmark_names.ALL_NAMES` in that order, NaN (confidence 0) where
no member gives that name; :func:`analysis.landmarks.semantic.to_semantic` reads them back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

import numpy as np

from analysis.landmark_names import ALL_NAMES, IBUG68
from analysis.landmarks.base import LandmarkBackend, box_from_points, check_image, iou
from analysis.landmarks.semantic import SEMANTIC_SCHEME, semantic_rows, to_semantic
from analysis.types import (
    BackendUnavailableError,
    FaceBox,
    FloatArray,
    ImageArray,
    LandmarkSet,
    ModelIdentity,
    SemanticLandmarks,
)

log = logging.getLogger(__name__)

MATCH_IOU: Final = 0.4
SINGLE_SOURCE_FACTOR: Final = 0.7
AGREEMENT_TAU: Final = 0.08
#: Members tried by default, most independent first. ``insightface68`` (1k3d68, native
#: iBUG order) rather than ``insightface`` (106 points through an unmeasured map), and not
#: ``fan3d`` beside ``fan2d`` (same detector and training family: a correlated vote).
DEFAULT_MEMBERS: Final = ("mediapipe", "dlib", "fan2d", "insightface68")
#: A pupil from a member that sees the iris beats one estimated from the eye contour
#: (ibug68 schemes): when any member has the witness point, only such members vote.
_MEASURED_BY: Final = {"pupil_r": "iris_r_lateral", "pupil_l": "iris_l_lateral"}


@dataclass(frozen=True)
class _Member:
    identity: ModelIdentity
    box: FaceBox
    sem: SemanticLandmarks
    overall: float


@dataclass(frozen=True)
class FusedFace:
    semantic: SemanticLandmarks
    box: FaceBox
    overall_confidence: float


def ensemble_identity(members: list[ModelIdentity]) -> ModelIdentity:
    licences = list(dict.fromkeys(m.licence for m in members))
    return ModelIdentity(
        id="ensemble(" + "+".join(m.id for m in members) + ")",
        name="Ensemble of " + ", ".join(m.name for m in members),
        version="; ".join(f"{m.id}: {m.version}" for m in members),
        licence=" | ".join(licences),
        commercial_use=all(m.commercial_use for m in members),
    )


class EnsembleBackend:
    """Runs its members on each photo and fuses their faces point by point."""

    name: Final = "ensemble"

    def __init__(self, members: list[LandmarkBackend]) -> None:
        if not members:
            raise BackendUnavailableError("the ensemble needs at least one usable backend")
        self.members = list(members)
        self.identity = ensemble_identity([m.identity for m in self.members])

    def detect(self, image: ImageArray) -> list[LandmarkSet]:
        out = []
        for face in self.detect_fused(image):
            pts, conf = semantic_rows(face.semantic)
            out.append(
                LandmarkSet(
                    scheme=SEMANTIC_SCHEME,
                    points=pts,
                    confidence=conf,
                    overall_confidence=face.overall_confidence,
                    model=self.identity,
                    box=face.box,
                )
            )
        return out

    def detect_semantic(self, image: ImageArray) -> list[SemanticLandmarks]:
        return [f.semantic for f in self.detect_fused(image)]

    def detect_fused(self, image: ImageArray) -> list[FusedFace]:
        """Fused faces, largest first."""
        img = check_image(image)
        groups: list[dict[int, _Member]] = []
        for k, member in enumerate(self.members):
            try:
                faces = member.detect(img)
            except BackendUnavailableError:
                raise
            except Exception:  # one member's failure must not lose the others' result
                log.warning(
                    "ensemble member %s failed on this photo", member.identity.id, exc_info=True
                )
                continue
            for ls in faces:
                sem = to_semantic(ls)
                m = _Member(
                    ls.model, _ibug_box(sem, ls.overall_confidence), sem, ls.overall_confidence
                )
                _assign(groups, k, m)
        fused = [self._fuse(g) for g in groups]
        fused.sort(key=lambda f: (f.box.x1 - f.box.x0) * (f.box.y1 - f.box.y0), reverse=True)
        return fused

    def _fuse(self, group: dict[int, _Member]) -> FusedFace:
        members = list(group.values())
        names = [n for n in ALL_NAMES if any(n in m.sem.points for m in members)]
        raw: dict[str, tuple[FloatArray, FloatArray]] = {}
        for name in names:
            voters = [m for m in members if name in m.sem.points]
            witness = _MEASURED_BY.get(name)
            if witness and any(witness in m.sem.points for m in voters):
                voters = [m for m in voters if witness in m.sem.points]
            xy = np.array([m.sem.points[name] for m in voters])
            w = np.array([m.sem.confidence[name] for m in voters])
            raw[name] = (xy, np.clip(w, 1e-6, 1.0))
        fused_xy = {name: _combine(xy, w) for name, (xy, w) in raw.items()}
        scale = _scale(fused_xy, members)
        points: dict[str, tuple[float, float]] = {}
        confidence: dict[str, float] = {}
        for name, (xy, w) in raw.items():
            p = fused_xy[name]
            if len(xy) == 1:
                c = float(w[0]) * SINGLE_SOURCE_FACTOR
            else:
                spread = float(np.sqrt(np.sum(w * np.sum((xy - p) ** 2, axis=1)) / np.sum(w)))
                agreement = float(np.exp(-0.5 * (spread / (AGREEMENT_TAU * scale)) ** 2))
                c = max(float(np.mean(w)) * agreement, 1e-6)  # 0 would read as "absent"
            points[name] = (float(p[0]), float(p[1]))
            confidence[name] = c
        overall = float(np.mean([m.overall for m in members])) * float(
            np.sqrt(len(members) / len(self.members))
        )
        sem = SemanticLandmarks(
            points=points,
            confidence=confidence,
            sources=tuple(dict.fromkeys(m.identity for m in members)),
        )
        return FusedFace(semantic=sem, box=_ibug_box(sem, overall), overall_confidence=overall)


def _assign(groups: list[dict[int, _Member]], k: int, m: _Member) -> None:
    best, best_iou = None, MATCH_IOU
    for g in groups:
        if k in g:
            continue
        o = max(iou(m.box, other.box) for other in g.values())
        if o >= best_iou:
            best, best_iou = g, o
    if best is None:
        groups.append({k: m})
    else:
        best[k] = m


def _combine(xy: FloatArray, w: FloatArray) -> FloatArray:
    if len(xy) == 1:
        return np.asarray(xy[0], dtype=np.float64)
    if len(xy) == 2:
        return np.asarray((w[:, None] * xy).sum(axis=0) / w.sum(), dtype=np.float64)
    return np.array([_weighted_median(xy[:, d], w) for d in range(2)])


def _weighted_median(values: FloatArray, weights: FloatArray) -> float:
    order = np.argsort(values)
    v, cw = values[order], np.cumsum(weights[order])
    half = cw[-1] / 2.0
    i = int(np.searchsorted(cw, half))
    if np.isclose(cw[i], half) and i + 1 < len(v):
        return float((v[i] + v[i + 1]) / 2.0)
    return float(v[i])


def _scale(fused: dict[str, FloatArray], members: list[_Member]) -> float:
    """Outer-eye-corner distance of the fused face (fallback: box size), never below 1 px."""
    if "ibug_36" in fused and "ibug_45" in fused:
        d = float(np.linalg.norm(fused["ibug_36"] - fused["ibug_45"]))
        if d > 1.0:
            return d
    return max(float(np.mean([m.box.size for m in members])) * 0.4, 1.0)


def _ibug_box(sem: SemanticLandmarks, score: float) -> FaceBox:
    pts = np.array([sem.points[n] for n in IBUG68 if n in sem.points], dtype=np.float64)
    if pts.size == 0:
        pts = np.array(list(sem.points.values()), dtype=np.float64).reshape(-1, 2)
    return box_from_points(pts, score)
