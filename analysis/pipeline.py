"""The 2D analysis of one photo: detect → landmarks → refine → perturb (confirm the
asymmetry on perturbed copies) → quality → scale → measurements → findings. Pure numpy
in, :class:`PhotoAnalysis` out.

Each stage lives in its own module; this one only orders them, times them and turns
"no face" into a result that says so (never an exception).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis import confirm, findings, measurements, quality, refine, scale
from analysis.landmarks import LandmarkBackend, get_backend
from analysis.landmarks.semantic import to_semantic
from analysis.profile import find_profile_points, trace_either_facing
from analysis.quality.coverage import coverage_note, withheld_note
from analysis.types import (
    FaceBox,
    LandmarkSet,
    Photo,
    PhotoAnalysis,
    SemanticLandmarks,
    View,
)
from config.tables import FindingTables

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyse; built by the node from its settings (analysis never reads config).

    ``tables`` are the norm table and finding rules, loaded once by the caller
    (:func:`config.norms.load_tables`; with no arguments it gives the shipped ones).
    ``confirm`` repeats the landmark model and the refinement on perturbed copies of the
    photo (:mod:`analysis.confirm`, 3 more model runs on the face's crop) and withholds the
    asymmetry values that do not hold; without it (tests, benchmarks) a value is confirmed
    by the one photo's match, the spread is not in its uncertainty, and an unconfirmed
    value is reported as the model's, flagged.
    """

    tables: FindingTables = field(kw_only=True)
    backend: str = "mediapipe"  # a name in analysis.landmarks.registry
    model_dir: Path | None = None  # provisioned weights (models provision --from)
    assumed_ipd_mm: float = 63.0
    refine: bool = True
    confirm: bool = True
    #: ``auto`` | ``cpu`` | ``cuda``: where a landmark backend with a GPU path runs
    device: str = "auto"


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - t0) * 1000.0


class PhotoAnalyzer:
    """Holds loaded models so repeated photos do not pay the model load again.

    The options are fixed for its lifetime: everything that differs per photo (pixels,
    scale and view hints, the subject's sex) comes in with the :class:`Photo`. ``backend`` is
    an already loaded landmark backend to use instead of the one ``options.backend`` names
    (tests pass a fake one; the node never does).
    """

    def __init__(self, options: AnalysisOptions, backend: LandmarkBackend | None = None) -> None:
        findings.check_tables(options.tables)  # a bad table fails here, not on a photo
        self.options = options
        if backend is None:
            backend = get_backend(options.backend, options.model_dir, options.device)
        self.backend = backend

    def analyze(self, photo: Photo) -> PhotoAnalysis:
        opts = self.options
        timer = _Timer()
        with timer.stage("landmarks"):
            faces = self.backend.detect(photo.pixels)
        profile_only = None
        if not faces and photo.view_hint in (*PROFILE_VIEWS, None, View.UNKNOWN):
            # Face-mesh models rarely see a true profile; its outline still can (either
            # facing, when the header does not say which).
            with timer.stage("profile"):
                profile_only = _trace_profile(photo)
            if profile_only is not None:
                faces = [_as_landmark_set(profile_only)]
        if not faces:
            return PhotoAnalysis(
                face_found=False,
                message="No face was detected in this photo; no measurements were made.",
                models=(self.backend.identity,),
                timings_ms=timer.ms,
            )
        main = max(range(len(faces)), key=lambda i: _face_area(faces[i]))
        chosen = faces[main]
        with timer.stage("semantic"):
            semantic = profile_only or to_semantic(chosen)
        versions: list[confirm.Version | None] = []
        if profile_only is None:
            model = semantic
            with timer.stage("refine"):
                report = refine.refine_report(photo, semantic) if opts.refine else None
                semantic = report.semantic if report else refine.unrefined(semantic)
            if opts.confirm and report is not None and any(f.applied for f in report.features):
                # (nothing matched on the photo itself: no copy can confirm anything)
                with timer.stage("perturb"):
                    copies = confirm.perturbed_versions(self.backend, photo, model)
                    versions = [confirm.version_of(model, report), *copies]
                    semantic, _ = confirm.combine(semantic, versions)
        with timer.stage("quality"):
            # the view step traces the profile outline when it needs it (its evidence, or
            # a profile view to measure); it is measured, not traced again
            q, outline = quality.assess_with_outline(photo, faces, main, semantic)
        if q.view in PROFILE_VIEWS and profile_only is None and outline is not None:
            semantic = _merge(semantic, outline)
        with timer.stage("scale"):
            sc = scale.estimate(photo, semantic, assumed_ipd_mm=opts.assumed_ipd_mm)
        spreads: dict[str, float] = {}
        if versions:
            with timer.stage("confirm"):
                settled = confirm.settle(semantic, versions, sc, q)
                semantic, spreads = settled.semantic, settled.spreads
        with timer.stage("measurements"):
            ms = measurements.compute(semantic, sc, q)
            if opts.refine and opts.confirm and profile_only is None:
                ms = confirm.with_spread(ms, spreads)
        with timer.stage("findings"):
            fs = findings.evaluate(ms, q, sex=photo.sex, tables=opts.tables)
        message = f"{len(faces)} face(s) detected"
        if len(faces) > 1:
            message += "; the largest face was analysed"
        if not q.reliable:
            message += "; UNRELIABLE: " + ", ".join(q.flags)
        if q.view is not View.FRONTAL:
            message += "; " + coverage_note((m.id for m in ms), q.view, semantic.unconfirmed)
        else:
            withheld = withheld_note((m.id for m in ms), q.view, semantic.unconfirmed)
            if withheld:  # unconfirmed asymmetry is withheld: say which and why
                message += "; " + withheld
        return PhotoAnalysis(
            face_found=True,
            message=message,
            landmarks=chosen,
            semantic=semantic,
            quality=q,
            scale=sc,
            measurements=ms,
            findings=fs,
            models=tuple(dict.fromkeys((chosen.model, *semantic.sources))),
            timings_ms=timer.ms,
        )


PROFILE_VIEWS = (View.PROFILE_LEFT, View.PROFILE_RIGHT)
#: Mean confidence an outline needs to count as a face when no face model and no view code
#: say there is one (see :func:`_trace_profile`).
MIN_UNHINTED_OUTLINE_CONFIDENCE = 0.4


def _trace_profile(photo: Photo) -> SemanticLandmarks | None:
    """Profile points of a photo no face-mesh model could see: the header's facing, else
    whichever facing traces a face outline."""
    if photo.view_hint in PROFILE_VIEWS:
        return find_profile_points(photo, photo.view_hint)
    traced = trace_either_facing(photo)
    if traced is None:
        return None
    outline = traced[1]
    # Nothing but the outline says there is a face here: ask more of it than with a view
    # code. The real (mirrored) lateral portrait traces at ≈ 0.45; a coffee cup, re-encoded
    # as JPEG, at 0.27 — below this it is "no face", as it must be.
    score = float(np.mean(list(outline.confidence.values()))) if outline.confidence else 0.0
    return outline if score >= MIN_UNHINTED_OUTLINE_CONFIDENCE else None


def _as_landmark_set(outline: SemanticLandmarks) -> LandmarkSet:
    """Profile points as the "face" of a photo no face-mesh model could see."""
    names = list(outline.points)
    pts = np.array([outline.points[n] for n in names], dtype=np.float64)
    conf = np.array([outline.confidence.get(n, 0.0) for n in names], dtype=np.float64)
    overall = float(conf.mean()) if len(conf) else 0.0
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return LandmarkSet(
        scheme="profile_outline",
        points=pts,
        confidence=conf,
        overall_confidence=overall,
        model=outline.sources[0],
        box=FaceBox(float(x0), float(y0), float(x1), float(y1), overall),
    )


def _merge(base: SemanticLandmarks, extra: SemanticLandmarks) -> SemanticLandmarks:
    """Add ``extra``'s points; where both name a point, keep the more confident one."""
    points, conf = dict(base.points), dict(base.confidence)
    for name, xy in extra.points.items():
        c = extra.confidence.get(name, 0.0)
        if name not in points or c > conf.get(name, 0.0):
            points[name], conf[name] = xy, c
    sources = tuple(dict.fromkeys((*base.sources, *extra.sources)))
    unconfirmed = base.unconfirmed | extra.unconfirmed
    return SemanticLandmarks(points, conf, sources, unconfirmed)


def _face_area(ls: LandmarkSet) -> float:
    """Area of the face's landmark extent (NaN-safe: fused sets leave unknown points NaN)."""
    pts = ls.points[np.isfinite(ls.points).all(axis=1)]
    if len(pts) == 0:
        return ls.box.size**2 if ls.box is not None else 0.0
    return float(np.ptp(pts[:, 0]) * np.ptp(pts[:, 1]))


def analyze_photo(photo: Photo, options: AnalysisOptions) -> PhotoAnalysis:
    """One-shot convenience: loads the backend, analyses, returns the result."""
    return PhotoAnalyzer(options).analyze(photo)
