"""Scale: DICOM spacing, iris diameter, assumed IPD, in that order, with uncertainties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import iris_fit, scale
from analysis.types import Photo, Scale, ScaleSource, View
from tests.unit.analysis.faces import FRONTAL_MM, PROFILE_MM, semantic, to_pixels

S = 0.25  # true mm per pixel of the synthetic face
PIXELS = np.zeros((900, 900, 3), dtype=np.uint8)


def photo(**kw: object) -> Photo:
    return Photo(PIXELS, **kw)  # type: ignore[arg-type]


def without(
    prefix: str, mm: dict[str, tuple[float, float]] = FRONTAL_MM
) -> dict[str, tuple[float, float]]:
    return {k: v for k, v in mm.items() if not k.startswith(prefix)}


def test_dicom_pixel_spacing_comes_first() -> None:
    sc = scale.estimate(
        photo(pixel_spacing_mm=(0.25, 0.25), pixel_spacing_source=ScaleSource.PIXEL_SPACING),
        semantic(to_pixels(FRONTAL_MM)),
    )
    assert sc.source is ScaleSource.PIXEL_SPACING
    assert sc.mm_per_px == pytest.approx(0.25)
    assert sc.relative_uncertainty == pytest.approx(scale.PIXEL_SPACING_REL)


def test_imager_pixel_spacing_has_a_wider_uncertainty() -> None:
    sc = scale.estimate(
        photo(pixel_spacing_mm=(0.25, 0.25), pixel_spacing_source=ScaleSource.IMAGER_PIXEL_SPACING),
        semantic(to_pixels(FRONTAL_MM)),
    )
    assert sc.source is ScaleSource.IMAGER_PIXEL_SPACING
    assert sc.relative_uncertainty == pytest.approx(scale.IMAGER_SPACING_REL)


def test_anisotropic_spacing_uses_the_mean_and_says_so() -> None:
    sc = scale.estimate(photo(pixel_spacing_mm=(0.24, 0.26)), semantic(to_pixels(FRONTAL_MM)))
    assert sc.mm_per_px == pytest.approx(math.sqrt(0.24 * 0.26))
    assert sc.relative_uncertainty > scale.PIXEL_SPACING_REL
    assert "anisotropic" in sc.note


def test_implausible_spacing_is_ignored_for_the_next_source() -> None:
    # a sensor-plane spacing (5 µm) would make the IPD 1.2 mm
    sc = scale.estimate(
        photo(
            pixel_spacing_mm=(0.005, 0.005), pixel_spacing_source=ScaleSource.IMAGER_PIXEL_SPACING
        ),
        semantic(to_pixels(FRONTAL_MM)),
    )
    assert sc.source is ScaleSource.IRIS_DIAMETER
    assert "dicom_imager_pixel_spacing ignored" in sc.note and "plausible" in sc.note


POP = scale.HVID_SD_MM / scale.HVID_MEAN_MM  # ≈ 4.3 %
PRIOR = scale.IPD_SD_MM / 63.0  # ≈ 5.6 %


def iris_face(
    iris_mm: float = 12.0, ipd_mm: float = 62.0, left_iris_mm: float | None = None
) -> dict[str, tuple[float, float]]:
    """FRONTAL_MM with irises of the given widths (mm) around pupils ``ipd_mm`` apart."""
    mm = dict(FRONTAL_MM)
    for side, sign, width in (("r", -1.0, iris_mm), ("l", 1.0, left_iris_mm or iris_mm)):
        x = sign * ipd_mm / 2
        mm[f"pupil_{side}"] = (x, 0.0)
        mm[f"iris_{side}_lateral"] = (x + sign * width / 2, 0.0)
        mm[f"iris_{side}_medial"] = (x - sign * width / 2, 0.0)
        mm[f"iris_{side}_top"] = (x, -width / 2)
        mm[f"iris_{side}_bottom"] = (x, width / 2)
    return mm


def iris_only_rel(d_px: float, eyes: int = 2) -> float:
    """The documented iris uncertainty of a clean fit whose eyes agree."""
    per_eye = iris_fit.FLOOR_PX**2 + (iris_fit.MODEL_REL * d_px) ** 2
    return math.hypot(POP, math.sqrt(per_eye / eyes) / d_px)


def implied_ipd(sc: Scale, mm: dict[str, tuple[float, float]], mm_per_px: float = S) -> float:
    ipd_px = (mm["pupil_l"][0] - mm["pupil_r"][0]) / mm_per_px
    assert sc.mm_per_px is not None
    return sc.mm_per_px * ipd_px


def test_iris_diameter_of_both_eyes() -> None:
    sc = scale.estimate(photo(), semantic(to_pixels(FRONTAL_MM)))
    d_px = 12.0 / S  # the synthetic irises are 12 mm wide
    assert sc.source is ScaleSource.IRIS_DIAMETER
    assert sc.mm_per_px == pytest.approx(scale.HVID_MEAN_MM / d_px)
    assert sc.relative_uncertainty == pytest.approx(iris_only_rel(d_px), rel=1e-9)
    assert "both eyes" in sc.note and "implies an IPD of 60.4 mm" in sc.note


def test_a_consistent_iris_keeps_about_the_population_uncertainty() -> None:
    # a clean, large iris whose IPD agrees with the prior: no widening by the cross-check,
    # the fit's share (the model's per-eye error over two eyes) stays below the population's
    sc = scale.estimate(photo(), semantic(to_pixels(iris_face(11.7, 63.0))))
    assert sc.source is ScaleSource.IRIS_DIAMETER
    assert implied_ipd(sc, iris_face(11.7, 63.0)) == pytest.approx(63.0)
    assert sc.relative_uncertainty == pytest.approx(iris_only_rel(11.7 / S))
    assert POP < sc.relative_uncertainty < 1.45 * POP


def test_a_jittery_iris_contour_is_less_certain_than_a_clean_one() -> None:
    clean_mm = iris_face()
    jitter = {"iris_r_top": (1.2, -0.6), "iris_r_bottom": (0.8, 1.0),
              "iris_l_top": (-1.0, 0.8), "iris_l_bottom": (-0.6, -1.2)}  # fmt: skip
    jittery_mm = dict(clean_mm)
    for k, (dx, dy) in jitter.items():  # mm; the horizontal diameters are unchanged
        jittery_mm[k] = (clean_mm[k][0] + dx, clean_mm[k][1] + dy)
    clean = scale.estimate(photo(), semantic(to_pixels(clean_mm)))
    jittery = scale.estimate(photo(), semantic(to_pixels(jittery_mm)))
    assert jittery.mm_per_px == pytest.approx(clean.mm_per_px)
    assert jittery.relative_uncertainty > clean.relative_uncertainty + 0.005


def test_disagreeing_eyes_widen_the_uncertainty() -> None:
    agree = scale.estimate(photo(), semantic(to_pixels(iris_face(12.0))))
    differ = scale.estimate(photo(), semantic(to_pixels(iris_face(11.0, left_iris_mm=13.0))))
    assert differ.mm_per_px == pytest.approx(agree.mm_per_px)
    # half the disagreement (1 mm of 12, 8.3 %) exceeds the expected error of the mean
    assert differ.relative_uncertainty == pytest.approx(math.hypot(POP, 1.0 / 12.0))


def test_a_7px_iris_implying_a_72mm_ipd_is_not_claimed_at_6_percent() -> None:
    # the face: iris 6.9 px, IPD 72 mm by the iris scale (adults 63 ± 3.5)
    mm_per_px = 10.08 / 6.9  # a 10.08 mm wide synthetic iris spans 6.9 px
    mm = iris_face(10.08, 62.0)
    sc = scale.estimate(photo(), semantic(to_pixels(mm, mm_per_px=mm_per_px)))
    ipd = implied_ipd(sc, mm, mm_per_px)
    assert sc.source in (ScaleSource.IRIS_DIAMETER, ScaleSource.IRIS_AND_IPD)
    assert "implies an IPD of 72.0 mm" in sc.note
    assert sc.relative_uncertainty > 0.075  # the pixel floor counts: 0.5 px of 6.9
    assert abs(ipd - 63.0) < 2 * ipd * sc.relative_uncertainty  # covers 63 within 2 sigma


def test_an_iris_the_prior_contradicts_is_combined_flagged_and_widened() -> None:
    mm = iris_face(12.0, 79.0)  # a clean iris implying an IPD of 77 mm (prior 63 ± 3.5)
    iris_alone = iris_only_rel(12.0 / S)
    iris_ipd = scale.HVID_MEAN_MM / 12.0 * 79.0
    z = math.log(iris_ipd / 63.0) / math.hypot(iris_alone, PRIOR)
    assert z > scale.MAX_PRIOR_Z
    sc = scale.estimate(photo(), semantic(to_pixels(mm)))
    assert sc.source is ScaleSource.IRIS_AND_IPD
    assert "combined" in sc.note and f"{z:+.1f} sigma" in sc.note
    ipd = implied_ipd(sc, mm)
    assert 63.0 < ipd < iris_ipd
    sigma = ipd * sc.relative_uncertainty
    assert sc.relative_uncertainty > max(iris_alone, PRIOR)
    # widened so that it covers both the prior and the iris's own IPD
    assert abs(ipd - 63.0) < 1.5 * sigma and abs(ipd - iris_ipd) < 1.5 * sigma


def test_the_cross_check_waits_for_a_frontal_view() -> None:
    # a turned head (oblique hint) foreshortens the IPD: no check, the iris scale as it is
    mm = iris_face(12.0, 79.0)
    sc = scale.estimate(photo(view_hint=View.OBLIQUE_LEFT), semantic(to_pixels(mm)))
    assert sc.source is ScaleSource.IRIS_DIAMETER and "implies" not in sc.note


@pytest.mark.parametrize(("iris_px", "eyes"), [(4.0, 2), (6.0, 2), (8.0, 1)])
def test_an_iris_too_small_to_calibrate_falls_back_to_the_assumed_ipd(
    iris_px: float, eyes: int
) -> None:
    mm = iris_face()
    if eyes == 1:
        mm = without("iris_l", mm)
    sc = scale.estimate(photo(), semantic(to_pixels(mm, mm_per_px=12.0 / iris_px)))
    assert sc.source is ScaleSource.ASSUMED_IPD
    assert sc.relative_uncertainty == pytest.approx(PRIOR)
    assert "iris too small to calibrate" in sc.note
    assert f"{iris_px:.1f} px" in sc.note


def test_the_smallest_iris_follows_from_its_pixel_floor() -> None:
    # below it, the pixel floor alone is as uncertain as the assumed IPD
    two = iris_fit.min_diameter_px(2, PRIOR)
    assert two == pytest.approx(iris_fit.FLOOR_PX / math.sqrt(2) / PRIOR)  # ≈ 6.4 px
    assert 6.0 < two < 7.0 and iris_fit.min_diameter_px(1, PRIOR) == pytest.approx(two * 2**0.5)
    ok = scale.estimate(photo(), semantic(to_pixels(FRONTAL_MM, mm_per_px=12.0 / 7.0)))
    assert ok.source is ScaleSource.IRIS_DIAMETER


def test_one_iris_is_enough_but_less_certain() -> None:
    both = scale.estimate(photo(), semantic(to_pixels(FRONTAL_MM)))
    one = scale.estimate(photo(), semantic(to_pixels(without("iris_l"))))
    assert one.source is ScaleSource.IRIS_DIAMETER
    assert one.mm_per_px == pytest.approx(both.mm_per_px)
    assert one.relative_uncertainty > both.relative_uncertainty
    assert one.relative_uncertainty == pytest.approx(iris_only_rel(12.0 / S, eyes=1))


def test_disagreeing_irises_fall_back_to_the_assumed_ipd() -> None:
    mm = dict(FRONTAL_MM)
    mm["iris_l_lateral"] = (41.0, 0.0)  # left iris 16 mm vs right 12 mm
    sc = scale.estimate(photo(), semantic(to_pixels(mm)))
    assert sc.source is ScaleSource.ASSUMED_IPD
    assert "disagree" in sc.note


def test_assumed_ipd_from_pupils() -> None:
    sc = scale.estimate(photo(), semantic(to_pixels(without("iris"))), assumed_ipd_mm=60.0)
    assert sc.source is ScaleSource.ASSUMED_IPD
    assert sc.mm_per_px == pytest.approx(60.0 / (62.0 / S))
    assert sc.relative_uncertainty == pytest.approx(3.5 / 60.0)
    default = scale.estimate(photo(), semantic(to_pixels(without("iris"))))
    assert default.relative_uncertainty == pytest.approx(3.5 / 63.0)  # ≈ 6 %


def test_assumed_ipd_from_eye_centres_without_pupils() -> None:
    mm = without("pupil", without("iris"))
    sc = scale.estimate(photo(), semantic(to_pixels(mm)))
    assert sc.mm_per_px == pytest.approx(63.0 / ((2 * 190 / 6) / S))


def test_no_eyes_no_spacing_means_no_scale() -> None:
    sc = scale.estimate(photo(), semantic(to_pixels(PROFILE_MM)))
    assert sc.source is ScaleSource.NONE and sc.mm_per_px is None
    assert "pixels" in sc.note


def test_profile_hint_does_not_use_eyes() -> None:
    sc = scale.estimate(photo(view_hint=View.PROFILE_LEFT), semantic(to_pixels(FRONTAL_MM)))
    assert sc.source is ScaleSource.NONE
    with_spacing = scale.estimate(
        photo(view_hint=View.PROFILE_LEFT, pixel_spacing_mm=(0.3, 0.3)),
        semantic(to_pixels(PROFILE_MM)),
    )
    assert with_spacing.source is ScaleSource.PIXEL_SPACING


def test_invalid_assumed_ipd_is_refused() -> None:
    with pytest.raises(ValueError, match="assumed_ipd_mm"):
        scale.estimate(photo(), semantic(to_pixels(FRONTAL_MM)), assumed_ipd_mm=0.0)
