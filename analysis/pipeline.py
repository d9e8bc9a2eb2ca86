"""The 2D analysis of one photo: detect → landmarks → refine → quality → scale →
measurements → findings. Pure numpy in, :class:`PhotoAnalysis` out.

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

from analysis.types import LandmarkSet, Photo, PhotoAnalysis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyse; built by the node from its settings (analysis never reads config)."""

    backend: str = "mediapipe"  # mediapipe | dlib | fan2d | fan3d | insightface | ensemble
    model_dir: Path | None = None  # provisioned weights (models provision --from)
    assumed_ipd_mm: float = 63.0
    refine: bool = True
    sex: str | None = None  # "M" / "F" from DICOM Patient's Sex, selects norm rows
    norms_path: Path | None = None  # override the shipped norm table
    rules_path: Path | None = None  # override the shipped finding rules
    extra: dict[str, str] = field(default_factory=dict)


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
    """Holds loaded models so repeated photos do not pay the model load again."""

    def __init__(self, options: AnalysisOptions | None = None) -> None:
        from analysis.landmarks import get_backend

        self.options = options or AnalysisOptions()
        self.backend = get_backend(self.options.backend, self.options.model_dir)

    def analyze(self, photo: Photo) -> PhotoAnalysis:
        from analysis import findings, measurements, quality, refine, scale
        from analysis.landmarks.semantic import to_semantic

        opts = self.options
        timer = _Timer()
        with timer.stage("landmarks"):
            faces = self.backend.detect(photo.pixels)
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
            semantic = to_semantic(chosen)
        if opts.refine:
            with timer.stage("refine"):
                semantic = refine.refine(photo, semantic)
        with timer.stage("quality"):
            q = quality.assess(photo, faces, main, semantic)
        with timer.stage("scale"):
            sc = scale.estimate(photo, semantic, assumed_ipd_mm=opts.assumed_ipd_mm)
        with timer.stage("measurements"):
            ms = measurements.compute(semantic, sc, q)
        with timer.stage("findings"):
            fs = findings.evaluate(
                ms, q, sex=opts.sex, norms_path=opts.norms_path, rules_path=opts.rules_path
            )
        message = f"{len(faces)} face(s) detected"
        if len(faces) > 1:
            message += "; the largest face was analysed"
        if not q.reliable:
            message += "; UNRELIABLE: " + ", ".join(q.flags)
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


def _face_area(ls: LandmarkSet) -> float:
    """Area of the face's landmark extent (NaN-safe: fused sets leave unknown points NaN)."""
    pts = ls.points[np.isfinite(ls.points).all(axis=1)]
    if len(pts) == 0:
        return ls.box.size**2 if ls.box is not None else 0.0
    return float(np.ptp(pts[:, 0]) * np.ptp(pts[:, 1]))


def analyze_photo(photo: Photo, options: AnalysisOptions | None = None) -> PhotoAnalysis:
    """One-shot convenience: loads the backend, analyses, returns the result."""
    return PhotoAnalyzer(options).analyze(photo)
