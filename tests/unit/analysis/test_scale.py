"""Scale: DICOM spacing, iris diameter, assumed IPD, in that order, with uncertainties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import scale
from analysis.measurements import noise
from analysis.types import Photo, ScaleSource, View
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


def test_iris_diameter_of_both_eyes() -> None:
    sc = scale.estimate(photo(), semantic(to_pixels(FRONTAL_MM)))
    d_px = 12.0 / S  # the synthetic irises are 12 mm wide
    assert sc.source is ScaleSource.IRIS_DIAMETER
    assert sc.mm_per_px == pytest.approx(scale.HVID_MEAN_MM / d_px)
    ref_px = 92.0 / S
    per_eye = math.sqrt(2) * noise.IRIS_POINT_SIGMA * ref_px / d_px
    expected = math.sqrt((0.5 / 11.7) ** 2 + (math.sqrt(2) * per_eye / 2) ** 2)
    assert sc.relative_uncertainty == pytest.approx(expected, rel=1e-6)
    assert "both eyes" in sc.note


def test_one_iris_is_enough_but_less_certain() -> None:
    both = scale.estimate(photo(), semantic(to_pixels(FRONTAL_MM)))
    one = scale.estimate(photo(), semantic(to_pixels(without("iris_l"))))
    assert one.source is ScaleSource.IRIS_DIAMETER
    assert one.mm_per_px == pytest.approx(both.mm_per_px)
    assert one.relative_uncertainty > both.relative_uncertainty


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
