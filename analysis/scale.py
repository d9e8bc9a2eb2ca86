"""Millimetres per pixel for one photo, best source first, with its 1-sigma uncertainty.

1. DICOM Pixel Spacing / Imager Pixel Spacing, when the Photo carries one. A photo's
   spacing holds in one plane only; the face's relief (≈ ±50 mm at 1–1.5 m) changes the
   magnification by a few per cent, hence :data:`PIXEL_SPACING_REL` (3 %). Imager Pixel
   Spacing is at the sensor, so the magnification is unknown: :data:`IMAGER_SPACING_REL`
   (10 %) — and it is checked for plausibility below.
2. Horizontal visible iris diameter (HVID): adult mean 11.7 mm, SD 0.5 mm (ophthalmic
   biometry; the value MediaPipe Iris also assumes — Ablavatski et al., "Real-time pupil
   tracking from monocular video for digital puppetry", arXiv:2006.11341, 2020). Both
   eyes are averaged. The relative uncertainty combines the population SD (0.5/11.7 ≈ 4.3 %),
   the landmark noise of the iris edges and, with two eyes, half their disagreement.
3. An assumed interpupillary distance (default 63 mm; adult SD ≈ 3.5–3.8 mm, Dodgson,
   Proc SPIE 5291, 2004) → ≈ 6 % relative uncertainty. This is what Dynaface does.

Every source is checked against the eyes when they are visible: a scale that would make
the IPD fall outside :data:`PLAUSIBLE_IPD_MM` is not used (the note says why) and the next
source is tried (only for frontal or unhinted photos: a turned head foreshortens the IPD).
Iris and IPD are not used for a photo whose view hint is a profile.
"""

from __future__ import annotations

import math

import numpy as np

from analysis.geometry import NamedPoints, interpupillary
from analysis.measurements.noise import reference_px, sigma_px
from analysis.types import FloatArray, Photo, Scale, ScaleSource, SemanticLandmarks, View

HVID_MEAN_MM = 11.7
HVID_SD_MM = 0.5
IPD_SD_MM = 3.5
PIXEL_SPACING_REL = 0.03
IMAGER_SPACING_REL = 0.10
PLAUSIBLE_IPD_MM = (45.0, 80.0)  # adult range ≈ 50–75 mm (Dodgson 2004), with margin
MIN_IRIS_PX = 5.0
#: Iris diameters of the two eyes differing by more than this mean a turned head or a bad
#: iris fit; the iris is then not used.
MAX_IRIS_DISAGREEMENT = 0.25
_PROFILE_HINTS = frozenset({View.PROFILE_LEFT, View.PROFILE_RIGHT})
_CHECKABLE_HINTS = frozenset({None, View.FRONTAL, View.UNKNOWN})


def estimate(photo: Photo, semantic: SemanticLandmarks, *, assumed_ipd_mm: float = 63.0) -> Scale:
    """The best available scale for ``photo`` (``ScaleSource.NONE`` when there is none)."""
    if not assumed_ipd_mm > 0:
        raise ValueError(f"assumed_ipd_mm must be > 0, got {assumed_ipd_mm}")
    points = {k: np.asarray(v, dtype=np.float64) for k, v in semantic.points.items()}
    conf = semantic.confidence
    ipd_px = _ipd_px(points) if photo.view_hint in _CHECKABLE_HINTS else None
    profile = photo.view_hint in _PROFILE_HINTS
    notes: list[str] = []

    spacing = _from_spacing(photo)
    if spacing is not None:
        ok, why = _plausible(spacing.mm_per_px, ipd_px)
        if ok:
            return _with_notes(spacing, notes)
        notes.append(f"{spacing.source.value} ignored: {why}")

    if not profile:
        iris = _from_iris(points, conf)
        if isinstance(iris, Scale):
            ok, why = _plausible(iris.mm_per_px, ipd_px)
            if ok:
                return _with_notes(iris, notes)
            notes.append(f"iris diameter ignored: {why}")
        elif iris:
            notes.append(iris)

        ipd_any = _ipd_px(points)
        if ipd_any is not None:
            return _with_notes(
                Scale(
                    mm_per_px=assumed_ipd_mm / ipd_any,
                    source=ScaleSource.ASSUMED_IPD,
                    relative_uncertainty=IPD_SD_MM / assumed_ipd_mm,
                    note=f"assumed interpupillary distance {assumed_ipd_mm:g} mm "
                    f"(adult SD ≈ {IPD_SD_MM:g} mm); measured IPD {ipd_any:.1f} px",
                ),
                notes,
            )
    notes.append("no pixel spacing, no iris and no pupils: lengths are in pixels")
    return Scale(
        mm_per_px=None,
        source=ScaleSource.NONE,
        relative_uncertainty=math.inf,
        note="; ".join(notes),
    )


def _with_notes(scale: Scale, notes: list[str]) -> Scale:
    if not notes:
        return scale
    note = "; ".join([scale.note, *notes]) if scale.note else "; ".join(notes)
    return Scale(scale.mm_per_px, scale.source, scale.relative_uncertainty, note)


def _from_spacing(photo: Photo) -> Scale | None:
    if photo.pixel_spacing_mm is None:
        return None
    row, col = (float(v) for v in photo.pixel_spacing_mm)
    if not (row > 0 and col > 0 and math.isfinite(row) and math.isfinite(col)):
        return None
    source = photo.pixel_spacing_source or ScaleSource.PIXEL_SPACING
    if source not in (ScaleSource.PIXEL_SPACING, ScaleSource.IMAGER_PIXEL_SPACING):
        source = ScaleSource.PIXEL_SPACING
    rel = PIXEL_SPACING_REL if source is ScaleSource.PIXEL_SPACING else IMAGER_SPACING_REL
    note = f"DICOM spacing {row:g} × {col:g} mm (row × column)"
    aniso = abs(row - col) / max(row, col)
    if aniso > 0.01:
        # Distances are measured in isotropic pixels: use the mean and widen the error.
        rel = math.hypot(rel, aniso / 2.0)
        note += f"; anisotropic by {100 * aniso:.1f} %, mean used"
    return Scale(mm_per_px=math.sqrt(row * col), source=source, relative_uncertainty=rel, note=note)


def _from_iris(points: dict[str, FloatArray], conf: dict[str, float]) -> Scale | str | None:
    """Scale from the iris edges, a note saying why not, or None when there are no irises."""
    ref = reference_px(points)
    diameters: list[tuple[float, float]] = []  # (diameter px, relative landmark noise)
    for side in ("r", "l"):
        a, b = f"iris_{side}_lateral", f"iris_{side}_medial"
        if a in points and b in points:
            d = float(np.hypot(*(points[a] - points[b])))
            s = math.hypot(sigma_px(a, conf.get(a, 1.0), ref), sigma_px(b, conf.get(b, 1.0), ref))
            if d >= MIN_IRIS_PX:
                diameters.append((d, s / d))
    if not diameters:
        present = any(k.startswith("iris_") for k in points)
        return f"iris too small (< {MIN_IRIS_PX:g} px) to use" if present else None
    ds = np.array([d for d, _ in diameters])
    noise = math.sqrt(sum(r * r for _, r in diameters)) / len(diameters)
    disagreement = 0.0
    if len(diameters) == 2:
        disagreement = abs(ds[0] - ds[1]) / float(ds.mean())
        if disagreement > MAX_IRIS_DISAGREEMENT:
            return (
                f"iris diameters disagree by {100 * disagreement:.0f} % "
                "(turned head or poor iris fit)"
            )
    d_px = float(ds.mean())
    rel = math.sqrt((HVID_SD_MM / HVID_MEAN_MM) ** 2 + noise**2 + (disagreement / 2.0) ** 2)
    eyes = "both eyes" if len(diameters) == 2 else "one eye"
    return Scale(
        mm_per_px=HVID_MEAN_MM / d_px,
        source=ScaleSource.IRIS_DIAMETER,
        relative_uncertainty=rel,
        note=f"horizontal visible iris diameter {d_px:.1f} px ({eyes}) = "
        f"{HVID_MEAN_MM:g} ± {HVID_SD_MM:g} mm",
    )


def _ipd_px(points: dict[str, FloatArray]) -> float | None:
    """Pupil distance in pixels, from the pupils or else the eye-contour centres (the IPD
    of :mod:`analysis.geometry`, as the measurements take it)."""
    try:
        d = float(interpupillary(NamedPoints(points)))
    except KeyError:
        return None
    return d if d > 0 else None


def _plausible(mm_per_px: float | None, ipd_px: float | None) -> tuple[bool, str]:
    if mm_per_px is None or ipd_px is None:
        return True, ""
    ipd = mm_per_px * ipd_px
    lo, hi = PLAUSIBLE_IPD_MM
    if lo <= ipd <= hi:
        return True, ""
    return False, f"it makes the IPD {ipd:.1f} mm, outside the plausible {lo:g}–{hi:g} mm"
