"""The measurement catalogue on synthetic landmarks whose true values are known."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy.optimize import minimize

from analysis import measurements
from analysis.landmark_names import IBUG68_MIRROR, IBUG68_REGIONS
from analysis.measurements import noise
from analysis.types import Measurement, Scale, ScaleSource, View
from tests.unit.analysis.faces import (
    FRONTAL_MM,
    PROFILE_MM,
    pixel_scale,
    quality,
    semantic,
    to_pixels,
)

S = 0.25  # mm per pixel of the synthetic photos


def run(
    mm: dict[str, tuple[float, float]],
    *,
    view: View = View.FRONTAL,
    scale: Scale | None = None,
    roll: float = 0.0,
    mm_per_px: float = S,
    mirror_x: bool = False,
    **q: object,
) -> dict[str, Measurement]:
    px = to_pixels(mm, mm_per_px=mm_per_px, roll_deg=roll, mirror_x=mirror_x)
    sc = scale or pixel_scale(mm_per_px)
    ms = measurements.compute(semantic(px), sc, quality(view, **q))  # type: ignore[arg-type]
    return {m.id: m for m in ms}


def moved(**shifts: tuple[float, float]) -> dict[str, tuple[float, float]]:
    """FRONTAL_MM with some points shifted by (dx, dy) mm."""
    out = dict(FRONTAL_MM)
    for k, (dx, dy) in shifts.items():
        x, y = out[k]
        out[k] = (x + dx, y + dy)
    return out


def deg(a: float) -> float:
    return math.degrees(a)


# True values of the symmetric synthetic face (see tests/unit/analysis/faces.py).
FISSURE_W = math.hypot(30, 2)
FISSURE_H = 30 * 10 / FISSURE_W
TILT = deg(math.atan2(2, 30))
EXPECTED_FRONTAL: dict[str, float] = {
    "interpupillary_distance": 62.0,
    "intercanthal_width": 32.0,
    "outer_canthal_width": 92.0,
    "palpebral_fissure_width_r": FISSURE_W,
    "palpebral_fissure_width_l": FISSURE_W,
    "palpebral_fissure_height_r": FISSURE_H,
    "palpebral_fissure_height_l": FISSURE_H,
    "canthal_tilt_r": TILT,
    "canthal_tilt_l": TILT,
    "brow_height_r": 17.0,
    "brow_height_l": 17.0,
    "alar_width": 34.0,
    "alar_intercanthal_ratio": 34 / 32,
    "mouth_width": 50.0,
    "mouth_alar_ratio": 50 / 34,
    "upper_vermilion_height": 7.0,
    "lower_vermilion_height": 8.0,
    "vermilion_ratio": 8 / 7,
    "vermilion_mouth_ratio": 15 / 50,
    "upper_lip_height": 23.5,
    "lower_lip_chin_height": 43.5,
    "upper_lip_proportion": 23.5 / 67,
    "facial_third_upper": 62.0,
    "facial_third_middle": 46.0,
    "facial_third_lower": 67.0,
    "facial_third_upper_ratio": 62 / 175,
    "facial_third_middle_ratio": 46 / 175,
    "facial_third_lower_ratio": 67 / 175,
    "lower_middle_third_ratio": 67 / 46,
    "nasal_height_ratio": 46 / 113,
    "facial_fifth_lateral_r": 22 / 136,
    "facial_fifth_eye_r": 30 / 136,
    "facial_fifth_intercanthal": 32 / 136,
    "facial_fifth_eye_l": 30 / 136,
    "facial_fifth_lateral_l": 22 / 136,
    "bizygomatic_width": 134.0,
    "bigonial_width": 114.0,
    "face_height": 113.0,
    "face_height_width_ratio": 113 / 134,
    "nasal_tip_deviation": 0.0,
    "philtrum_deviation": 0.0,
    "chin_deviation": 0.0,
    "symmetry_index": 0.0,
    "asymmetry_overall": 0.0,
    **{f"asymmetry_{r}": 0.0 for r in IBUG68_REGIONS},
    "facial_asymmetry_index": 0.0,
    "eye_area_ratio": 1.0,
    "palpebral_fissure_height_ratio": 1.0,
    "oral_commissure_height_difference": 0.0,
    "brow_height_difference": 0.0,
    "canthal_tilt_difference": 0.0,
}


def _profile_expected() -> dict[str, float]:
    p = {k: np.asarray(v) for k, v in PROFILE_MM.items()}

    def ang(v1: np.ndarray, v2: np.ndarray) -> float:
        return deg(math.acos(float(v1 @ v2) / (np.linalg.norm(v1) * np.linalg.norm(v2))))

    n, g, prn, pog = (
        p["soft_tissue_nasion"],
        p["profile_glabella"],
        p["pronasale"],
        p["soft_tissue_pogonion"],
    )
    sn, me, c, ac = p["subnasale"], p["soft_tissue_menton"], p["cervical_point"], p["alar_crease"]
    d = (ac - n) / np.linalg.norm(ac - n)
    projection = abs(d[0] * (prn - n)[1] - d[1] * (prn - n)[0])
    return {
        "nasolabial_angle": 100.0,
        "nasofrontal_angle": 130.0,
        "nasomental_angle": 126.0,
        "nasofacial_angle": ang(pog - g, prn - n),
        "facial_convexity_angle": ang(g - sn, pog - sn),
        "lower_face_throat_angle": ang(sn - me, c - me),
        "cervicomental_angle": ang(me - c, p["neck_point"] - c),
        "goode_ratio": projection / float(np.linalg.norm(prn - n)),
        "e_line_upper_lip": -4.0,
        "e_line_lower_lip": 1.0,
        "chin_projection": float(pog[0] - n[0]),
    }


EXPECTED_PROFILE = _profile_expected()


def test_every_catalogue_measurement_has_a_known_value_test() -> None:
    ids = {d.id for d in measurements.CATALOGUE}
    assert ids == set(EXPECTED_FRONTAL) | set(EXPECTED_PROFILE)


@functools.cache
def base_frontal() -> dict[str, Measurement]:
    return run(FRONTAL_MM)


@pytest.mark.parametrize("mid", sorted(EXPECTED_FRONTAL))
def test_frontal_measurement_true_value(mid: str) -> None:
    m = base_frontal()[mid]
    assert m.value == pytest.approx(EXPECTED_FRONTAL[mid], abs=1e-6)
    assert m.unit == measurements.definition(mid).unit
    assert m.flags == ()


@pytest.mark.parametrize("mid", sorted(EXPECTED_PROFILE))
@pytest.mark.parametrize("view", [View.PROFILE_RIGHT, View.PROFILE_LEFT])
def test_profile_measurement_true_value_either_facing(mid: str, view: View) -> None:
    ms = run(PROFILE_MM, view=view, mirror_x=view is View.PROFILE_LEFT)
    assert ms[mid].value == pytest.approx(EXPECTED_PROFILE[mid], abs=1e-6)
    assert ms[mid].flags == ()


def test_profile_constructed_angles_are_plausible() -> None:
    # guards the construction itself: the derived angles must be anatomically sane
    assert 25 < EXPECTED_PROFILE["nasofacial_angle"] < 45
    assert 150 < EXPECTED_PROFILE["facial_convexity_angle"] < 180
    assert 0.4 < EXPECTED_PROFILE["goode_ratio"] < 0.8


def test_values_do_not_depend_on_roll_translation_or_resolution() -> None:
    a = base_frontal()
    b = run(FRONTAL_MM, roll=17.0, mm_per_px=0.4)
    for mid in EXPECTED_FRONTAL:
        assert b[mid].value == pytest.approx(a[mid].value, abs=1e-6), mid


def test_lengths_without_scale_are_pixels_and_flagged() -> None:
    none = Scale(mm_per_px=None, source=ScaleSource.NONE, relative_uncertainty=math.inf)
    ms = run(FRONTAL_MM, scale=none)
    ipd = ms["interpupillary_distance"]
    assert ipd.unit == "[px]"
    assert ipd.value == pytest.approx(62.0 / S)
    assert "no_scale" in ipd.flags
    assert ms["alar_intercanthal_ratio"].unit == "{ratio}"
    assert "no_scale" not in ms["alar_intercanthal_ratio"].flags


# --- signed and perturbed measurements --------------------------------------------------


def test_midline_deviations_are_signed_toward_the_subjects_left() -> None:
    ms = run(moved(ibug_30=(2.0, 0.0), ibug_08=(-3.0, 0.0), ibug_33=(1.5, 0), ibug_51=(1.5, 0)))
    assert ms["nasal_tip_deviation"].value == pytest.approx(2.0)
    assert ms["chin_deviation"].value == pytest.approx(-3.0)
    assert ms["philtrum_deviation"].value == pytest.approx(1.5)


def test_oral_commissure_difference_and_dynaface_index() -> None:
    ms = run(moved(ibug_54=(0.0, 3.0)))  # left corner 3 mm lower: right is higher
    assert ms["oral_commissure_height_difference"].value == pytest.approx(3.0)
    expected_fai = abs(math.hypot(9, 64) - math.hypot(9, 67))
    assert ms["facial_asymmetry_index"].value == pytest.approx(expected_fai)


def test_brow_height_difference_right_higher_is_positive() -> None:
    ms = run(moved(**{f"ibug_{i}": (0.0, -2.0) for i in range(17, 22)}))
    assert ms["brow_height_r"].value == pytest.approx(19.0)
    assert ms["brow_height_l"].value == pytest.approx(17.0)
    assert ms["brow_height_difference"].value == pytest.approx(2.0)


def test_canthal_tilt_difference() -> None:
    # raise the left lateral canthus 1 mm and lower a left lower-lid point 1 mm. The face
    # frame is a robust fit of ≈ 25 upper-face rows: a 1 mm change is within what a real
    # face's asymmetry and landmark noise look like, so it is not rejected outright, but
    # one point among many tilts the frame by ≈ 0.01° only
    ms = run(moved(ibug_45=(0.0, -1.0), ibug_46=(0.0, 1.0)))
    assert ms["canthal_tilt_l"].value == pytest.approx(deg(math.atan2(3, 30)), abs=0.02)
    assert ms["canthal_tilt_r"].value == pytest.approx(TILT, abs=0.02)
    assert ms["canthal_tilt_difference"].value == pytest.approx(
        TILT - deg(math.atan2(3, 30)), abs=0.04
    )


def test_eye_area_and_aperture_ratio() -> None:
    mm = dict(FRONTAL_MM)
    for i in range(36, 42):  # stretch the right eye vertically by 1.2 about y = 0
        x, y = mm[f"ibug_{i}"]
        mm[f"ibug_{i}"] = (x, 1.2 * y)
    ms = run(mm)
    assert ms["eye_area_ratio"].value == pytest.approx(1.2)
    height_r = 12.0 * 30 / math.hypot(30, 2.4)
    assert ms["palpebral_fissure_height_r"].value == pytest.approx(height_r)
    assert ms["palpebral_fissure_height_ratio"].value == pytest.approx(height_r / FISSURE_H)


def _brute_force_asymmetry(mm: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Independent reference: numerically search the reflection line, then region RMS."""
    p = {i: np.asarray(mm[f"ibug_{i:02d}"]) for i in range(68)}
    fit = range(17, 68)

    def reflect(x: np.ndarray, th: float, rho: float) -> np.ndarray:
        n = np.array([math.cos(th), math.sin(th)])
        return x - 2 * (x @ n - rho) * n

    def cost(v: np.ndarray) -> float:
        return sum(float(np.sum((p[i] - reflect(p[IBUG68_MIRROR[i]], *v)) ** 2)) for i in fit)

    best = minimize(
        cost,
        x0=np.zeros(2),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000},
    )
    th, rho = best.x

    def rms(idx: range | tuple[int, ...]) -> float:
        return math.sqrt(
            np.mean([np.sum((p[i] - reflect(p[IBUG68_MIRROR[i]], th, rho)) ** 2) for i in idx])
        )

    out = {f"asymmetry_{r}": rms(idx) for r, idx in IBUG68_REGIONS.items()}
    out["asymmetry_overall"] = rms(range(68))
    ipd = float(np.linalg.norm(np.asarray(mm["pupil_l"]) - np.asarray(mm["pupil_r"])))
    out["symmetry_index"] = 100 * rms(fit) / ipd
    return out


def test_mirror_asymmetry_matches_an_independent_brute_force_fit() -> None:
    rng = np.random.default_rng(7)
    mm = {
        k: (x + rng.normal(0, 1.5), y + rng.normal(0, 1.5)) if k.startswith("ibug") else (x, y)
        for k, (x, y) in FRONTAL_MM.items()
    }
    ms = run(mm, roll=8.0)
    ref = _brute_force_asymmetry(mm)
    for mid, value in ref.items():
        assert ms[mid].value == pytest.approx(value, rel=1e-4, abs=1e-6), mid
    assert ms["symmetry_index"].value > 1.0  # the perturbation is clearly asymmetric


def test_a_deviated_nose_raises_the_nose_asymmetry_most() -> None:
    ms = run(moved(**{f"ibug_{i}": (3.0, 0.0) for i in range(27, 36)}))
    regional = {r: ms[f"asymmetry_{r}"].value for r in IBUG68_REGIONS}
    assert max(regional, key=lambda r: regional[r]) == "nose"
    assert ms["symmetry_index"].value > 0.5


# --- uncertainty --------------------------------------------------------------------------


def test_ipd_uncertainty_is_the_propagated_landmark_noise_plus_scale() -> None:
    rel = 0.03
    m = run(FRONTAL_MM, scale=pixel_scale(S, rel))["interpupillary_distance"]
    ref_px = 92.0 / S  # outer-canthal distance in pixels
    sigma_pupil = noise.IRIS_POINT_SIGMA * ref_px  # per axis; IPD is horizontal
    sigma_px = math.sqrt(2) * sigma_pupil
    expected = math.hypot(S * sigma_px, 62.0 * rel)
    assert m.uncertainty == pytest.approx(expected, rel=1e-3)
    assert m.scale_source is ScaleSource.PIXEL_SPACING


def test_low_confidence_widens_uncertainty_and_flags() -> None:
    px = to_pixels(FRONTAL_MM)
    conf = {"ibug_31": 0.2, "ibug_35": 0.2}
    sure = {m.id: m for m in measurements.compute(semantic(px), pixel_scale(), quality())}
    unsure = {m.id: m for m in measurements.compute(semantic(px, conf), pixel_scale(), quality())}
    assert unsure["alar_width"].uncertainty > 2 * sure["alar_width"].uncertainty
    assert "low_landmark_confidence" in unsure["alar_width"].flags
    assert "low_landmark_confidence" not in unsure["mouth_width"].flags


def test_angles_and_ratios_ignore_scale_uncertainty() -> None:
    a = run(FRONTAL_MM, scale=pixel_scale(S, 0.0))
    b = run(FRONTAL_MM, scale=pixel_scale(S, 0.5))
    assert b["canthal_tilt_r"].uncertainty == pytest.approx(a["canthal_tilt_r"].uncertainty)
    assert b["alar_intercanthal_ratio"].uncertainty == pytest.approx(
        a["alar_intercanthal_ratio"].uncertainty
    )
    assert b["alar_width"].uncertainty > a["alar_width"].uncertainty
    assert a["canthal_tilt_r"].uncertainty > 0


# --- views and flags ----------------------------------------------------------------------


def test_view_selects_the_definitions() -> None:
    both = {**FRONTAL_MM, **{k: (x + 300, y) for k, (x, y) in PROFILE_MM.items()}}
    frontal = run(both, view=View.FRONTAL)
    profile = run(both, view=View.PROFILE_RIGHT)
    assert "interpupillary_distance" in frontal and "nasolabial_angle" not in frontal
    assert "nasolabial_angle" in profile and "interpupillary_distance" not in profile
    assert run(both, view=View.OBLIQUE_LEFT) == {}
    unknown = run(both, view=View.UNKNOWN)
    assert "view_not_ideal" in unknown["interpupillary_distance"].flags
    assert "view_not_ideal" in unknown["nasolabial_angle"].flags


def test_missing_landmarks_skip_only_their_measurements() -> None:
    mm = {k: v for k, v in FRONTAL_MM.items() if k != "trichion"}
    ms = run(mm)
    assert "facial_third_upper" not in ms and "facial_third_upper_ratio" not in ms
    assert "facial_third_middle" in ms and "lower_middle_third_ratio" in ms


def test_ipd_falls_back_to_eye_centres_without_pupils() -> None:
    mm = {k: v for k, v in FRONTAL_MM.items() if not k.startswith("pupil")}
    m = run(mm)["interpupillary_distance"]
    assert m.value == pytest.approx(2 * 190 / 6)  # eye-contour centres at x = ±31.67
    assert "ibug_36" in m.landmarks and "pupil_r" not in m.landmarks


def test_photo_flags_reach_every_measurement_and_expression_only_its_own() -> None:
    ms = run(FRONTAL_MM, flags=("blurred", "mouth_open"), mouth_open=True)
    assert all("blurred" in m.flags for m in ms.values())
    assert "mouth_open" in ms["upper_vermilion_height"].flags
    assert "mouth_open" in ms["vermilion_ratio"].flags
    assert "mouth_open" not in ms["alar_intercanthal_ratio"].flags
    assert "mouth_open" not in ms["intercanthal_width"].flags


def test_smile_flags_lip_and_eye_aperture_measures() -> None:
    ms = run(FRONTAL_MM, flags=("smiling",), smile=True)
    assert "smiling" in ms["mouth_width"].flags
    assert "smiling" in ms["palpebral_fissure_height_r"].flags
    assert "smiling" not in ms["alar_width"].flags


def test_head_turn_flags_left_right_comparisons_only() -> None:
    ms = run(FRONTAL_MM, yaw=8.0)
    assert "head_rotated" in ms["symmetry_index"].flags
    assert "head_rotated" in ms["nasal_tip_deviation"].flags
    assert "head_rotated" not in ms["mouth_width"].flags
    assert "head_rotated" not in run(FRONTAL_MM, yaw=3.0)["symmetry_index"].flags


@pytest.mark.parametrize("source", [ScaleSource.ASSUMED_IPD, ScaleSource.IRIS_AND_IPD])
def test_assumed_scale_flags_lengths_and_marks_the_ipd_circular(source: ScaleSource) -> None:
    # the iris scale combined with the assumed IPD rests on it in part: flagged alike
    assumed = Scale(mm_per_px=S, source=source, relative_uncertainty=0.056)
    ms = run(FRONTAL_MM, scale=assumed)
    assert "scale_assumed" in ms["alar_width"].flags
    assert "scale_from_this_measurement" in ms["interpupillary_distance"].flags
    assert "scale_from_this_measurement" not in ms["alar_width"].flags
    assert ms["alar_width"].scale_source is source
    assert "scale_assumed" not in ms["canthal_tilt_r"].flags


def test_definitions_are_unique_and_well_formed() -> None:
    ids = [d.id for d in measurements.CATALOGUE]
    assert len(ids) == len(set(ids))
    for d in measurements.CATALOGUE:
        assert d.landmarks, d.id
        assert d.unit in ("mm", "deg", "{ratio}", "%")
        assert d.views, d.id
    with pytest.raises(KeyError, match="no measurement 'nope'"):
        measurements.definition("nope")
