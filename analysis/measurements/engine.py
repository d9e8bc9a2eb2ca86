"""Runs the catalogue: value, unit, propagated uncertainty and reliability flags.

Uncertainty
    Each landmark has an isotropic per-axis position error σ_i (:mod:`.noise`). The
    formula's gradient is taken by central differences and σ_f² = Σ σ_i² |∇_i f|²
    (first-order propagation, landmarks independent). Lengths then add the scale's
    relative uncertainty in quadrature: σ_mm² = (s·σ_px)² + (value_mm · r_s)². The
    correlation between a scale derived from landmarks (iris, IPD) and the measured
    landmarks is ignored.

Flags (a measurement with any flag is unreliable; findings treat ``scale_assumed`` as a
confidence downgrade and every other flag as disqualifying)
    * every photo-level quality flag except the expression ones;
    * ``mouth_open`` / ``smiling`` / ``eyes_closed`` only where the definition is sensitive;
    * ``head_rotated`` on left/right comparisons when |yaw| > :data:`YAW_LIMIT_SYMMETRY_DEG`;
    * ``view_not_ideal`` outside the definition's ideal views (e.g. an unknown view);
    * ``low_landmark_confidence`` when a landmark used is below :data:`LOW_CONFIDENCE`;
    * ``scale_assumed`` (mm from the assumed IPD), ``scale_from_this_measurement`` (the IPD
      itself under that assumption: the value only restates it), ``no_scale`` (reported in
      ``[px]``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import numpy as np

from analysis.landmark_names import resolve
from analysis.measurements.definition import EYES_CLOSED, MOUTH_OPEN, SMILING, Definition, Kind
from analysis.measurements.geometry import GeometryError, Pts
from analysis.measurements.noise import reference_px, sigma_px
from analysis.types import FloatArray, Measurement, Quality, Scale, ScaleSource, SemanticLandmarks

log = logging.getLogger(__name__)

LOW_CONFIDENCE = 0.3
#: A 5° head turn moves the nasal tip ≈ 3 mm sideways (≈ 37 mm tip depth in front of the
#: canthi in MediaPipe's canonical face), the size of the asymmetries being judged.
YAW_LIMIT_SYMMETRY_DEG = 5.0
EXPRESSION_FLAGS = frozenset({MOUTH_OPEN, SMILING, EYES_CLOSED})
_STEP_FRACTION = 1e-3


def compute_all(
    definitions: Iterable[Definition],
    semantic: SemanticLandmarks,
    scale: Scale,
    quality: Quality,
) -> tuple[Measurement, ...]:
    points = {k: np.asarray(v, dtype=np.float64) for k, v in semantic.points.items()}
    points = {k: v for k, v in points.items() if v.shape == (2,) and np.all(np.isfinite(v))}
    ref = reference_px(points)
    expression = _expression_flags(quality)
    photo_flags = tuple(f for f in quality.flags if f not in EXPRESSION_FLAGS)
    out: list[Measurement] = []
    for d in definitions:
        if quality.view not in d.views:
            continue
        if not all(resolve(n) in points for n in d.landmarks):
            continue
        try:
            value, used = _evaluate(d, points)
            sigma = _propagate(d, points, used, semantic.confidence, ref)
        except (GeometryError, KeyError, FloatingPointError) as exc:
            log.debug("measurement %s skipped: %s", d.id, exc)
            continue
        if not math.isfinite(value):
            log.debug("measurement %s skipped: non-finite value", d.id)
            continue
        flags = list(photo_flags)
        flags += [f for f in expression if f in d.sensitive_to]
        if d.yaw_sensitive and quality.pose is not None:
            if abs(quality.pose.yaw) > YAW_LIMIT_SYMMETRY_DEG:
                flags.append("head_rotated")
        if quality.view not in d.ideal_views:
            flags.append("view_not_ideal")
        if any(semantic.confidence.get(k, 1.0) < LOW_CONFIDENCE for k in used):
            flags.append("low_landmark_confidence")
        unit, scale_source = d.unit, None
        if d.kind is Kind.LENGTH:
            value, sigma, unit, scale_source, scale_flags = _to_mm(d, value, sigma, scale)
            flags += scale_flags
        out.append(
            Measurement(
                id=d.id,
                name=d.name,
                value=float(value),
                unit=unit,
                uncertainty=float(sigma),
                landmarks=tuple(used),
                scale_source=scale_source,
                flags=tuple(dict.fromkeys(flags)),
            )
        )
    return tuple(out)


def _expression_flags(quality: Quality) -> set[str]:
    flags = {f for f in quality.flags if f in EXPRESSION_FLAGS}
    if quality.mouth_open:
        flags.add(MOUTH_OPEN)
    if quality.smile:
        flags.add(SMILING)
    return flags


def _evaluate(d: Definition, points: dict[str, FloatArray]) -> tuple[float, list[str]]:
    p = Pts(points)
    with np.errstate(all="raise"):
        value = float(d.formula(p))
    return value, list(p.used)


def _propagate(
    d: Definition,
    points: dict[str, FloatArray],
    used: list[str],
    confidence: dict[str, float],
    ref: float,
) -> float:
    h = max(_STEP_FRACTION * ref, 1e-4)
    var = 0.0
    work = dict(points)
    for key in used:
        s = sigma_px(key, confidence.get(key, 1.0), ref)
        base = points[key]
        for axis in (0, 1):
            step = np.zeros(2)
            step[axis] = h
            work[key] = base + step
            hi = float(d.formula(Pts(work)))
            work[key] = base - step
            lo = float(d.formula(Pts(work)))
            work[key] = base
            var += (s * (hi - lo) / (2.0 * h)) ** 2
    return math.sqrt(var)


def _to_mm(
    d: Definition, value_px: float, sigma_px_: float, scale: Scale
) -> tuple[float, float, str, ScaleSource, list[str]]:
    if scale.mm_per_px is None or scale.source is ScaleSource.NONE:
        return value_px, sigma_px_, "[px]", ScaleSource.NONE, ["no_scale"]
    s = scale.mm_per_px
    value = value_px * s
    sigma = math.hypot(s * sigma_px_, abs(value) * scale.relative_uncertainty)
    flags: list[str] = []
    if scale.source is ScaleSource.ASSUMED_IPD:
        flags.append("scale_assumed")
        if d.id == "interpupillary_distance":
            flags.append("scale_from_this_measurement")
    return value, sigma, "mm", scale.source, flags
