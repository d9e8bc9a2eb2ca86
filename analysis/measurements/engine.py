"""Runs the catalogue: value, unit, propagated uncertainty and reliability flags.

Uncertainty
    Each landmark has an isotropic per-axis position error σ_i (:mod:`.noise`). The
    formula's gradient is taken by central differences (step h = 10⁻³ of the outer-canthal
    distance) and σ_f² = Σ σ_i² |∇_i f|² over the landmarks the formula read (first-order
    propagation, landmarks independent). Lengths then add the scale's relative uncertainty
    in quadrature: σ_mm² = (s·σ_px)² + (value_mm · r_s)². The correlation between a scale
    derived from landmarks (iris, IPD) and the measured landmarks is ignored.

    For speed the differences are vectorised: the photo's N landmarks are stacked once
    into a batch of 1 + 4N configurations — the landmarks themselves, then each point moved
    by +h and −h along x and along y — and every formula is evaluated once on the whole
    batch (row 0 is the value). Intermediates shared by many formulas (face frame, mirror
    axis) are computed once per batch, per configuration, so they follow each perturbation
    exactly as a per-formula recomputation would. A degenerate geometry or floating-point
    error in any configuration skips the measurement.

Flags (a measurement with any flag is unreliable; findings treat ``scale_assumed`` as a
confidence downgrade and every other flag as disqualifying)
    * every photo-level quality flag except the expression ones;
    * ``mouth_open`` / ``smiling`` / ``eyes_closed`` only where the definition is sensitive;
    * ``head_rotated`` on left/right comparisons when |yaw| > :data:`YAW_LIMIT_SYMMETRY_DEG`;
    * ``view_not_ideal`` outside the definition's ideal views (e.g. an unknown view);
    * ``low_landmark_confidence`` when a landmark used is below :data:`LOW_CONFIDENCE`;
    * ``asymmetry_unconfirmed`` when a point the definition's ``confirm`` names is one the
      photo did not confirm (``SemanticLandmarks.unconfirmed``, set by the refinement and
      its perturbation test, :mod:`analysis.confirm`): the value is the landmark model's,
      which understates asymmetry;
    * ``scale_assumed`` (mm from the assumed IPD, or in part: an iris scale that disagreed
      with it and was combined with it), ``scale_from_this_measurement`` (the IPD
      itself under that assumption: the value only restates it), ``no_scale`` (reported in
      ``[px]``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

import numpy as np

from analysis.geometry import GeometryError
from analysis.landmark_names import resolve
from analysis.measurements.definition import EYES_CLOSED, MOUTH_OPEN, SMILING, Definition, Kind
from analysis.measurements.geometry import Pts
from analysis.measurements.noise import reference_px, sigma_px
from analysis.types import (
    ASYMMETRY_UNCONFIRMED,
    Flag,
    FloatArray,
    Measurement,
    Quality,
    Scale,
    ScaleSource,
    SemanticLandmarks,
)

log = logging.getLogger(__name__)

LOW_CONFIDENCE = 0.3
#: A 5° head turn moves the nasal tip ≈ 3 mm sideways (≈ 37 mm tip depth in front of the
#: canthi in MediaPipe's canonical face), the size of the asymmetries being judged.
YAW_LIMIT_SYMMETRY_DEG = 5.0
EXPRESSION_FLAGS = frozenset({MOUTH_OPEN, SMILING, EYES_CLOSED})
_STEP_FRACTION = 1e-3
#: Scale sources whose millimetres rest, wholly or in part, on the assumed IPD.
_ASSUMED = frozenset({ScaleSource.ASSUMED_IPD, ScaleSource.IRIS_AND_IPD})


def compute_all(
    definitions: Iterable[Definition],
    semantic: SemanticLandmarks,
    scale: Scale,
    quality: Quality,
) -> tuple[Measurement, ...]:
    points = {k: np.asarray(v, dtype=np.float64) for k, v in semantic.points.items()}
    points = {k: v for k, v in points.items() if v.shape == (2,) and np.all(np.isfinite(v))}
    ref = reference_px(points)
    batch = _Batch(points, semantic.confidence, ref)
    expression = _expression_flags(quality)
    photo_flags = tuple(f for f in quality.flags if f not in EXPRESSION_FLAGS)
    out: list[Measurement] = []
    for d in definitions:
        if quality.view not in d.views:
            continue
        if not all(resolve(n) in points for n in d.landmarks):
            continue
        try:
            values, used = batch.evaluate(d)
        except (GeometryError, KeyError, FloatingPointError) as exc:
            log.debug("measurement %s skipped: %s", d.id, exc)
            continue
        value = float(values[0])
        sigma = batch.propagate(values, used)
        if not math.isfinite(value):
            log.debug("measurement %s skipped: non-finite value", d.id)
            continue
        flags = list(photo_flags)
        flags += [f for f in expression if f in d.sensitive_to]
        if d.yaw_sensitive and quality.pose is not None:
            if abs(quality.pose.yaw) > YAW_LIMIT_SYMMETRY_DEG:
                flags.append(Flag.HEAD_ROTATED)
        if quality.view not in d.ideal_views:
            flags.append(Flag.VIEW_NOT_IDEAL)
        if any(semantic.confidence.get(k, 1.0) < LOW_CONFIDENCE for k in used):
            flags.append(Flag.LOW_LANDMARK_CONFIDENCE)
        if any(resolve(n) in semantic.unconfirmed for n in d.confirm):
            flags.append(ASYMMETRY_UNCONFIRMED)
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


class _Batch:
    """The photo's landmarks and their ±h perturbations, evaluated by every formula at once.

    Row 0 of ``xy`` holds the landmarks; for landmark column i and axis a, row
    ``1 + 4i + 2a`` moves it by +h and the next row by −h along that axis.
    """

    def __init__(self, points: dict[str, FloatArray], confidence: dict[str, float], ref: float):
        keys = list(points)
        self.index = {k: i for i, k in enumerate(keys)}
        base = np.array([points[k] for k in keys], dtype=np.float64).reshape(-1, 2)
        n = len(keys)
        self.h = max(_STEP_FRACTION * ref, 1e-4)
        xy = np.repeat(base[None], 1 + 4 * n, axis=0)
        col = np.repeat(np.arange(n), 4)
        axis = np.tile([0, 0, 1, 1], n)
        sign = np.tile([1.0, -1.0, 1.0, -1.0], n)
        xy[1 + np.arange(4 * n), col, axis] = base[col, axis] + sign * self.h
        self.xy = xy
        self.sigma = np.array([sigma_px(k, confidence.get(k, 1.0), ref) for k in keys])
        self.shared: dict[str, tuple[object, tuple[str, ...]]] = {}

    def evaluate(self, d: Definition) -> tuple[FloatArray, list[str]]:
        """The formula on every configuration, and the landmarks it read."""
        p = Pts(self.xy, self.index, self.shared)
        with np.errstate(all="raise"):
            values = np.asarray(d.formula(p), dtype=np.float64)
        return np.broadcast_to(values, (self.xy.shape[0],)), list(p.used)

    def propagate(self, values: FloatArray, used: list[str]) -> float:
        """First-order σ of the formula from its central differences over ``used``."""
        cols = np.array([self.index[k] for k in used], dtype=np.intp)
        hi = 1 + 4 * cols[:, None] + np.array([0, 2])  # (n_used, axis)
        s = self.sigma[cols][:, None]
        terms = (s * (values[hi] - values[hi + 1]) / (2.0 * self.h)) ** 2
        var = 0.0
        for t in terms.ravel().tolist():  # summed in the order of the scalar reference
            var += t
        return math.sqrt(var)


def _expression_flags(quality: Quality) -> tuple[Flag, ...]:
    """Expression flags in a fixed order (photo flags first), so output is reproducible."""
    flags = [f for f in quality.flags if f in EXPRESSION_FLAGS]
    if quality.mouth_open:
        flags.append(MOUTH_OPEN)
    if quality.smile:
        flags.append(SMILING)
    return tuple(dict.fromkeys(flags))


def _to_mm(
    d: Definition, value_px: float, sigma_px_: float, scale: Scale
) -> tuple[float, float, str, ScaleSource, list[Flag]]:
    if scale.mm_per_px is None or scale.source is ScaleSource.NONE:
        return value_px, sigma_px_, "[px]", ScaleSource.NONE, [Flag.NO_SCALE]
    s = scale.mm_per_px
    value = value_px * s
    sigma = math.hypot(s * sigma_px_, abs(value) * scale.relative_uncertainty)
    flags: list[Flag] = []
    if scale.source in _ASSUMED:  # the mm rest (in part) on the assumed IPD
        flags.append(Flag.SCALE_ASSUMED)
        if d.id == "interpupillary_distance":
            flags.append(Flag.SCALE_FROM_THIS_MEASUREMENT)
    return value, sigma, "mm", scale.source, flags
