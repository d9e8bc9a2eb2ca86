"""The iris diameter in pixels with the fit's own 1-sigma pixel error, for the iris scale.

Per eye, the horizontal diameter is lateral − medial edge. Its error (variance, px²) sums:

* :data:`FLOOR_PX` — two edge points, each quantised to a pixel (1/√12 px each, 0.41 px
  on their distance), rounded up; the largest SD under perturbation (JPEG q70/85, 0.5–2 px
  shifts, 0.9/1.1 rescale) of a small (≤ 10 px) iris on the tuning set was 0.39 px.
* The contour's irregularity: the midpoint of the horizontal pair and that of the vertical
  pair are both the iris centre on a clean fit; their distance is what a jittery contour
  shows (one point's jitter σ per axis gives a distance of √2 σ, the diameter's error).
* :data:`MODEL_REL` × diameter — the model's per-eye error. MediaPipe Iris regresses a
  clean ellipse (the two midpoints agree within 0.2 px), and it repeats under perturbation
  to ≈ 2 %, yet the two eyes of one face differ by 7.7 % RMS on the tuning set's 25 frontal
  photos (``tests/bench/bench_scale.py``), while true left/right HVIDs differ by ≈ 1 %:
  a per-eye error of 7.7 %/√2 ≈ 5.5 %, invisible in any single fit.

Two eyes are averaged; the mean's variance is the larger of the expected one (the sum
above / 4) and the one the two eyes' disagreement shows ((Δ/2)²: one sample, so it only
widens). The vertical diameter is not used: the lids cover the iris's top and bottom, so
it is shorter than the horizontal one by a face- and gaze-dependent share (median 0.85,
0.73–1.0 on the tuning set) — a systematic difference, not an error of the fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.types import FloatArray

FLOOR_PX = 0.5
MODEL_REL = 0.055
#: Iris diameters of the two eyes differing by more than this mean a turned head or a bad
#: iris fit; the iris is then not used.
MAX_DISAGREEMENT = 0.25


@dataclass(frozen=True)
class IrisFit:
    """Mean horizontal iris diameter (px) over ``eyes`` eyes and its 1-sigma error (px)."""

    diameter_px: float
    sigma_px: float
    eyes: int
    disagreement: float  # |d_r − d_l| / mean, 0 with one eye

    @property
    def relative_error(self) -> float:
        return self.sigma_px / self.diameter_px


def fit(points: dict[str, FloatArray]) -> IrisFit | str | None:
    """The iris fit, a note saying why it is unusable, or None when there are no irises."""
    eyes = [e for e in (_eye(points, side) for side in ("r", "l")) if e is not None]
    if not eyes:
        return None
    ds = np.array([d for d, _ in eyes])
    d_mean = float(ds.mean())
    if not d_mean > 0:
        return "iris edges coincide: no iris diameter"
    disagreement = 0.0
    if len(eyes) == 2:
        disagreement = abs(float(ds[0] - ds[1])) / d_mean
        if disagreement > MAX_DISAGREEMENT:
            return (
                f"iris diameters disagree by {100 * disagreement:.0f} % "
                "(turned head or poor iris fit)"
            )
    n = len(eyes)
    var = sum(v for _, v in eyes) / n**2
    if n == 2:
        var = max(var, (float(ds[0] - ds[1]) / 2.0) ** 2)
    return IrisFit(d_mean, math.sqrt(var), n, disagreement)


def min_diameter_px(eyes: int, prior_rel: float) -> float:
    """Below this mean diameter the pixel floor alone makes the iris's error at least
    ``prior_rel``: it cannot improve on the prior (the assumed IPD), so it is not used."""
    return FLOOR_PX / (math.sqrt(eyes) * prior_rel)


def _eye(points: dict[str, FloatArray], side: str) -> tuple[float, float] | None:
    """(horizontal diameter px, its variance px²) of one eye, None when its edges are missing."""
    lat, med = points.get(f"iris_{side}_lateral"), points.get(f"iris_{side}_medial")
    if lat is None or med is None:
        return None
    d = float(np.hypot(*(lat - med)))
    top, bottom = points.get(f"iris_{side}_top"), points.get(f"iris_{side}_bottom")
    irregular = 0.0
    if top is not None and bottom is not None:
        irregular = float(np.hypot(*((lat + med) / 2.0 - (top + bottom) / 2.0)))
    return d, FLOOR_PX**2 + irregular**2 + (MODEL_REL * d) ** 2
