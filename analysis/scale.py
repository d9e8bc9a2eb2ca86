"""Millimetres per pixel for one photo, best source first, with its 1-sigma uncertainty.

1. DICOM Pixel Spacing / Imager Pixel Spacing, when the Photo carries one. A photo's
   spacing holds in one plane only; the face's relief (≈ ±50 mm at 1–1.5 m) changes the
   magnification by a few per cent, hence :data:`PIXEL_SPACING_REL` (3 %). Imager Pixel
   Spacing is at the sensor, so the magnification is unknown: :data:`IMAGER_SPACING_REL`
   (10 %) — and it is checked for plausibility below.
2. Horizontal visible iris diameter (HVID): adult mean 11.7 mm, SD 0.5 mm (ophthalmic
   biometry; the value MediaPipe Iris also assumes — Ablavatski et al., "Real-time pupil
   tracking from monocular video for digital puppetry", arXiv:2006.11341, 2020). Both
   eyes are averaged. The relative uncertainty is the population SD (0.5/11.7 ≈ 4.3 %) and
   the fit's pixel error in quadrature (:mod:`analysis.iris_fit`: a pixel floor, the
   contour's irregularity, the model's per-eye error and the two eyes' disagreement).
   The iris scale is then **cross-checked** against the interpupillary prior (below): when
   the IPD it implies is more than :data:`MAX_PRIOR_Z` combined sigmas from the prior, the
   two are combined by inverse-variance weighting (``ScaleSource.IRIS_AND_IPD``) and the
   uncertainty is widened by the disagreement (Birge ratio), so that it covers both.
3. An assumed interpupillary distance (default 63 mm; adult SD ≈ 3.5–3.8 mm, Dodgson,
   Proc SPIE 5291, 2004) → ≈ 6 % relative uncertainty. This is what Dynaface does. Used
   when there is no usable iris — also when the iris is too small to calibrate: its pixel
   floor alone (:data:`analysis.iris_fit.FLOOR_PX`) would be at least the prior's 5.6 %,
   i.e. below ≈ 6.4 px (two eyes) or 9 px (one eye) at the default IPD.

Why combine only on disagreement: a consistent iris scale leaves the interpupillary and
intercanthal widths free of the population prior (hyper- and hypotelorism stay visible);
only a scale that the prior contradicts is pulled towards it, flagged (the mm values carry
``scale_assumed``) and said in the note. Evidence, on the tuning set's 25 frontal photos
(``python -m tests.bench.bench_scale --split tuning``): the iris alone implies an IPD of
58.9 ± 4.0 mm (mean ± SD), within ±1 / ±2 combined sigma of 63 ± 3.5 mm for 64 % / 84 %;
the four beyond −2 sigma (52–53 mm) also give intercanthal widths of 26–29 mm, below
every population's norm (31–39 mm, Bouhadana 2022): more likely a wrong iris scale than
four unusual faces. Hence :data:`MAX_PRIOR_Z` = 2; after the cross-check 80 % / 100 % are
within ±1 / ±2 (the combined scale leans on the prior, so this part is by construction).

Every source is checked against the eyes when they are visible: a scale that would make
the IPD fall outside :data:`PLAUSIBLE_IPD_MM` is not used (the note says why) and the next
source is tried (only for frontal or unhinted photos: a turned head foreshortens the IPD).
Iris and IPD are not used for a photo whose view hint is a profile.
"""

from __future__ import annotations

import math

import numpy as np

from analysis import iris_fit
from analysis.geometry import NamedPoints, interpupillary
from analysis.types import FloatArray, Photo, Scale, ScaleSource, SemanticLandmarks, View

HVID_MEAN_MM = 11.7
HVID_SD_MM = 0.5
IPD_SD_MM = 3.5
PIXEL_SPACING_REL = 0.03
IMAGER_SPACING_REL = 0.10
PLAUSIBLE_IPD_MM = (45.0, 80.0)  # adult range ≈ 50–75 mm (Dodgson 2004), with margin
#: The iris scale and the IPD prior disagree when the IPD the iris implies is more than
#: this many combined sigmas from the prior (≈ 5 % of faces by chance; why 2: module doc).
MAX_PRIOR_Z = 2.0
_PROFILE_HINTS = frozenset({View.PROFILE_LEFT, View.PROFILE_RIGHT})
_CHECKABLE_HINTS = frozenset({None, View.FRONTAL, View.UNKNOWN})


def estimate(photo: Photo, semantic: SemanticLandmarks, *, assumed_ipd_mm: float = 63.0) -> Scale:
    """The best available scale for ``photo`` (``ScaleSource.NONE`` when there is none)."""
    if not assumed_ipd_mm > 0:
        raise ValueError(f"assumed_ipd_mm must be > 0, got {assumed_ipd_mm}")
    points = {k: np.asarray(v, dtype=np.float64) for k, v in semantic.points.items()}
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
        iris = _from_iris(points, IPD_SD_MM / assumed_ipd_mm)
        if isinstance(iris, Scale):
            ok, why = _plausible(iris.mm_per_px, ipd_px)
            if ok:
                return _with_notes(_cross_check(iris, ipd_px, assumed_ipd_mm), notes)
            notes.append(f"iris diameter ignored: {why}")
        elif iris:
            notes.append(iris)

        ipd_any = _ipd_px(points)
        if ipd_any is not None:
            return _with_notes(_assumed_ipd(ipd_any, assumed_ipd_mm), notes)
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


def _assumed_ipd(ipd_px: float, assumed_ipd_mm: float) -> Scale:
    return Scale(
        mm_per_px=assumed_ipd_mm / ipd_px,
        source=ScaleSource.ASSUMED_IPD,
        relative_uncertainty=IPD_SD_MM / assumed_ipd_mm,
        note=f"assumed interpupillary distance {assumed_ipd_mm:g} mm "
        f"(adult SD ≈ {IPD_SD_MM:g} mm); measured IPD {ipd_px:.1f} px",
    )


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


def _from_iris(points: dict[str, FloatArray], prior_rel: float) -> Scale | str | None:
    """Scale from the iris edges, a note saying why not, or None when there are no irises.
    ``prior_rel`` is the assumed IPD's relative SD: an iris whose pixel floor alone is as
    uncertain cannot calibrate (:func:`analysis.iris_fit.min_diameter_px`)."""
    fit = iris_fit.fit(points)
    if fit is None or isinstance(fit, str):
        return fit
    eyes = "both eyes" if fit.eyes == 2 else "one eye"
    smallest = iris_fit.min_diameter_px(fit.eyes, prior_rel)
    if fit.diameter_px < smallest:
        return (
            f"iris too small to calibrate ({fit.diameter_px:.1f} px, {eyes}; below "
            f"{smallest:.1f} px its pixel error alone exceeds the assumed IPD's "
            f"{100 * prior_rel:.1f} %)"
        )
    pop = HVID_SD_MM / HVID_MEAN_MM
    return Scale(
        mm_per_px=HVID_MEAN_MM / fit.diameter_px,
        source=ScaleSource.IRIS_DIAMETER,
        relative_uncertainty=math.hypot(pop, fit.relative_error),
        note=f"horizontal visible iris diameter {fit.diameter_px:.1f} ± {fit.sigma_px:.1f} px "
        f"({eyes}) = {HVID_MEAN_MM:g} ± {HVID_SD_MM:g} mm",
    )


def _cross_check(iris: Scale, ipd_px: float | None, assumed_ipd_mm: float) -> Scale:
    """The iris scale checked against the IPD prior: kept when they agree; combined
    (inverse-variance in log scale, uncertainty × Birge ratio) when they do not."""
    if iris.mm_per_px is None or ipd_px is None:
        return iris
    prior_rel = IPD_SD_MM / assumed_ipd_mm
    implied = iris.mm_per_px * ipd_px
    gap = math.log(implied / assumed_ipd_mm)  # log(iris scale / prior scale)
    z = gap / math.hypot(iris.relative_uncertainty, prior_rel)
    said = f"it implies an IPD of {implied:.1f} mm"
    if abs(z) <= MAX_PRIOR_Z:
        return Scale(iris.mm_per_px, iris.source, iris.relative_uncertainty, f"{iris.note}; {said}")
    w_iris, w_prior = iris.relative_uncertainty**-2, prior_rel**-2
    log_ratio = w_iris * gap / (w_iris + w_prior)  # log(combined / prior scale)
    mm_per_px = assumed_ipd_mm / ipd_px * math.exp(log_ratio)
    rel = abs(z) / math.sqrt(w_iris + w_prior)
    return Scale(
        mm_per_px=mm_per_px,
        source=ScaleSource.IRIS_AND_IPD,
        relative_uncertainty=rel,
        note=f"{iris.note}; {said}, {z:+.1f} sigma from the adult {assumed_ipd_mm:g} ± "
        f"{IPD_SD_MM:g} mm: iris and assumed IPD combined (IPD {mm_per_px * ipd_px:.1f} mm), "
        f"uncertainty widened × {abs(z):.1f} to cover both",
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
