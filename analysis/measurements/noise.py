"""Landmark noise model: the 1-sigma position error (per axis, pixels) of each named point.

Modern 68-point detectors reach a normalised mean error of roughly 3 % of the
outer-canthal ("inter-ocular") distance on 300-W (Sagonas et al., Image Vis Comput 2016,
and the FAN / 3DDFA papers that report on it). A mean Euclidean error e of an isotropic
2D Gaussian is 1.25 σ, so a per-axis σ of 2 % of that distance is used for a point the
backend is sure of. Iris points come from a dedicated eye-crop model (MediaPipe Iris) and
are far more precise: 0.3 % of the outer-canthal distance (≈ 0.3 mm, i.e. ≈ 3 % of an iris
diameter per eye). Lower confidence
inflates σ as 1/confidence (floored at :data:`MIN_CONFIDENCE`). Errors are not uniform
over the face: per-landmark error profiles reported on 300-W put the jaw contour at
≈ 1.5–2× the mean error and the eye corners at ≈ 0.5–0.7×, hence :data:`REGION_FACTOR`
(its count-weighted mean over the 68 points is ≈ 1).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from analysis.landmark_names import IBUG68, IBUG68_REGIONS, IRIS, resolve
from analysis.types import FloatArray

FACE_POINT_SIGMA = 0.02
IRIS_POINT_SIGMA = 0.003
MIN_CONFIDENCE = 0.2
#: Outer-canthal distance ≈ 0.75 × nasion–menton height (≈ 90 mm vs ≈ 120 mm; Farkas 1994).
OCD_PER_FACE_HEIGHT = 0.75
_IRIS = frozenset(IRIS)
REGION_FACTOR: dict[str, float] = {"jaw": 1.6, "brows": 1.2, "nose": 0.9, "eyes": 0.6, "mouth": 0.8}
_FACTOR_BY_NAME: dict[str, float] = {
    IBUG68[i]: REGION_FACTOR[region] for region, indices in IBUG68_REGIONS.items() for i in indices
}


def reference_px(points: Mapping[str, FloatArray]) -> float:
    """The outer-canthal distance in pixels, or a stand-in when the eyes are missing."""
    ex_r, ex_l = resolve("exocanthion_r"), resolve("exocanthion_l")
    if ex_r in points and ex_l in points:
        d = float(np.hypot(*(points[ex_r] - points[ex_l])))
        if d > 1e-6:
            return d
    n, me = points.get("soft_tissue_nasion"), points.get("soft_tissue_menton")
    if n is not None and me is not None:
        return OCD_PER_FACE_HEIGHT * float(np.hypot(*(n - me)))
    if not points:
        return 1.0
    xy = np.array(list(points.values()))
    span = xy.max(axis=0) - xy.min(axis=0)
    return max(0.5 * float(np.sqrt(max(span[0], 1.0) * max(span[1], 1.0))), 1.0)


def sigma_px(name: str, confidence: float, ref_px: float) -> float:
    """Per-axis 1-sigma position error of landmark ``name`` in pixels."""
    key = resolve(name)
    base = IRIS_POINT_SIGMA if key in _IRIS else FACE_POINT_SIGMA * _FACTOR_BY_NAME.get(key, 1.0)
    conf = min(max(float(confidence), MIN_CONFIDENCE), 1.0)
    return base * ref_px / conf
