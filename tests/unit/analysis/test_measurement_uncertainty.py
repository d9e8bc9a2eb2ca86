"""Pinned values and uncertainties of the measurement catalogue on two synthetic faces.

The numbers were recorded with the scalar engine (one formula call per landmark
perturbation) before the engine was vectorised; they pin both the values (to 1e-9) and the
propagated uncertainties (to 1e-6, relative) so any change to the formulas, the noise model
or the propagation shows up here. ``test_uncertainty_is_the_per_landmark_central_difference``
re-derives a few uncertainties independently, one perturbed photo at a time.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import measurements
from analysis.landmark_names import resolve
from analysis.measurements import engine, noise
from analysis.types import Measurement, Scale, SemanticLandmarks, View
from tests.unit.analysis.faces import (
    FRONTAL_MM,
    PROFILE_MM,
    pixel_scale,
    quality,
    semantic,
    to_pixels,
)

#: Landmarks the backend is unsure of: they widen σ (and flag low confidence below 0.3).
CONF = {"ibug_31": 0.5, "pupil_r": 0.8, "ibug_08": 0.25, "ibug_19": 0.6, "subnasale": 0.7}


def jitter(mm: dict[str, tuple[float, float]], amp: float) -> dict[str, tuple[float, float]]:
    """Deterministic, asymmetric displacement of every point (no RNG stream to drift)."""
    return {
        k: (x + amp * math.sin(3.7 * i + 1.0), y + amp * math.cos(2.3 * i + 0.5))
        for i, (k, (x, y)) in enumerate(sorted(mm.items()))
    }


def frontal_inputs() -> tuple[SemanticLandmarks, Scale, View]:
    px = to_pixels(jitter(FRONTAL_MM, 1.5), mm_per_px=0.25, roll_deg=8.0)
    return semantic(px, CONF), pixel_scale(0.25, 0.03), View.FRONTAL


def profile_inputs() -> tuple[SemanticLandmarks, Scale, View]:
    # the points pinned before neck_point joined the catalogue keep their jitter; the neck
    # point (cervicomental angle) is jittered after them
    older = {k: v for k, v in PROFILE_MM.items() if k != "neck_point"}
    moved = jitter(older, 2.0)
    nx, ny = PROFILE_MM["neck_point"]
    i = len(older)
    moved["neck_point"] = (nx + 2.0 * math.sin(3.7 * i + 1.0), ny + 2.0 * math.cos(2.3 * i + 0.5))
    px = to_pixels(moved, mm_per_px=0.25, roll_deg=-3.0, mirror_x=True)
    return semantic(px, CONF), pixel_scale(0.25, 0.03), View.PROFILE_LEFT


def compute(sem: SemanticLandmarks, scale: Scale, view: View) -> dict[str, Measurement]:
    return {m.id: m for m in measurements.compute(sem, scale, quality(view))}


# id: (value, uncertainty), recorded with the scalar engine.
# Re-pinned when the face frame moved from the eye-contour centres to the pupils (the
# interpupillary line), and again when it became the robust mirror fit of the upper face
# (analysis.geometry.fit_frame_axis); the engine refactor itself was pinned against the
# scalar engine, and test_uncertainty_is_the_per_landmark_central_difference re-derives
# uncertainties through the new frame one perturbed photo at a time.
PINNED_FRONTAL: dict[str, tuple[float, float]] = {
    "interpupillary_distance": (61.169659146293945, 1.8898158637570954),
    "intercanthal_width": (33.65547604155853, 1.8881351093910628),
    "outer_canthal_width": (94.01597993616988, 3.2404840985166357),
    "palpebral_fissure_width_r": (29.159470373572837, 1.8195817644360026),
    "palpebral_fissure_width_l": (31.34673426312524, 1.852022904518597),
    "palpebral_fissure_height_r": (9.601051439461491, 1.165209132723969),
    "palpebral_fissure_height_l": (9.808582769714823, 1.1661198475230798),
    "canthal_tilt_r": (5.509226551922292, 3.1379956384166157),
    "canthal_tilt_l": (2.4482516963127017, 2.925338128989611),
    "brow_height_r": (16.710416657581945, 1.3533592317138268),
    "brow_height_l": (17.00539140091625, 1.2175776009046488),
    "alar_width": (35.138175375331315, 3.928155585469596),
    "alar_intercanthal_ratio": (1.0440552179960823, 0.12284777263832672),
    "mouth_width": (49.44372543636397, 2.593411584353355),
    "mouth_alar_ratio": (1.4071227349805944, 0.16318210446083053),
    "upper_vermilion_height": (6.819082071008758, 2.1373011872143852),
    "lower_vermilion_height": (8.623098247529597, 2.143104136674319),
    "vermilion_ratio": (1.2645541082707585, 0.5030063121898709),
    "vermilion_mouth_ratio": (0.31231830090176055, 0.06232006238542069),
    "upper_lip_height": (24.863388660008695, 2.133468095866485),
    "lower_lip_chin_height": (42.5630642885566, 12.148254866468601),
    "upper_lip_proportion": (0.3687482816124875, 0.0695071187292571),
    "facial_third_upper": (59.78443303059241, 3.100995151204875),
    "facial_third_middle": (45.23432479561727, 2.7513833254284616),
    "facial_third_lower": (67.4264529485653, 12.319652911282216),
    "facial_third_upper_ratio": (0.34668653749204376, 0.027062448738868317),
    "facial_third_middle_ratio": (0.2623112847981399, 0.02314945561992741),
    "facial_third_lower_ratio": (0.3910021777098163, 0.04382503284617138),
    "lower_middle_third_ratio": (1.4906037230182823, 0.28734913630605247),
    "nasal_height_ratio": (0.40150907619624543, 0.0463234218762591),
    "facial_fifth_lateral_r": (0.1657850232864207, 0.020146912233078247),
    "facial_fifth_eye_r": (0.20909031811676093, 0.013160792150624427),
    "facial_fifth_intercanthal": (0.24236331001912456, 0.01368550512182473),
    "facial_fifth_eye_l": (0.2256112519177231, 0.013413707293036477),
    "facial_fifth_lateral_l": (0.15715009665997082, 0.020281463028549926),
    "bizygomatic_width": (131.9863411881787, 5.812114998116214),
    "bigonial_width": (111.71312224880009, 5.416099943029926),
    "face_height": (112.66077774418257, 12.613712610942489),
    "face_height_width_ratio": (0.8535790653031071, 0.09609734979932356),
    "nasal_tip_deviation": (0.7555629259837806, 1.7232103684343898),
    "philtrum_deviation": (-0.06520358171210905, 1.2297588408932072),
    "chin_deviation": (0.3846470108409594, 12.070437021000293),
    "symmetry_index": (4.1200534829637, 0.7620115203805116),
    "asymmetry_overall": (2.3153043817721555, 0.47099778968909295),
    "asymmetry_jaw": (1.5453059790847918, 1.6113549929693605),
    "asymmetry_brows": (2.38409924528283, 1.5254553262801076),
    "asymmetry_nose": (2.256177780282185, 1.1884342799832908),
    "asymmetry_eyes": (2.6018661393118676, 0.6560497356268634),
    "asymmetry_mouth": (2.6461180397121744, 0.6771968520385178),
    "facial_asymmetry_index": (1.9133548624143941, 2.659792771746889),
    "eye_area_ratio": (1.0152903811222824, 0.18044337326359902),
    "palpebral_fissure_height_ratio": (0.9788418637915653, 0.16102997917818923),
    "oral_commissure_height_difference": (-1.1537057404184168, 2.1685866128953),
    "brow_height_difference": (-0.2949747433343042, 1.6680217078172146),
    "canthal_tilt_difference": (3.06097485560959, 4.298406426252667),
}
PINNED_PROFILE: dict[str, tuple[float, float]] = {
    "nasolabial_angle": (88.97552598041412, 16.29875468411808),
    "nasofrontal_angle": (137.19871054268907, 11.025884249048767),
    "nasofacial_angle": (38.32055008664583, 3.3498717889382266),
    "nasomental_angle": (121.78048977109098, 4.020507075522803),
    "facial_convexity_angle": (171.4595574403791, 5.198713354348397),
    "lower_face_throat_angle": (109.97129535516714, 5.396092778402185),
    # added with neck_point after the scalar engine was retired: pinned from the batch engine
    "cervicomental_angle": (84.77655321583471, 5.483959770624234),
    "goode_ratio": (0.622352915125474, 0.04651243701485888),
    "e_line_upper_lip": (-4.876250471780565, 2.149354790631052),
    "e_line_lower_lip": (0.7163365146488639, 2.221706320045397),
    "chin_projection": (2.96048209048152, 2.4775504720988746),
}

CASES = {
    "frontal": (frontal_inputs, PINNED_FRONTAL),
    "profile": (profile_inputs, PINNED_PROFILE),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_values_and_uncertainties_match_the_pinned_scalar_engine(case: str) -> None:
    inputs, pinned = CASES[case]
    ms = compute(*inputs())
    assert set(ms) == set(pinned)
    for mid, (value, sigma) in pinned.items():
        assert ms[mid].value == pytest.approx(value, rel=1e-9, abs=1e-12), mid
        assert ms[mid].uncertainty == pytest.approx(sigma, rel=1e-6), mid


def test_pinned_faces_cover_the_whole_catalogue() -> None:
    assert set(PINNED_FRONTAL) | set(PINNED_PROFILE) == {d.id for d in measurements.CATALOGUE}


@pytest.mark.parametrize(
    ("case", "mid"),
    [
        ("frontal", "symmetry_index"),
        ("frontal", "canthal_tilt_l"),
        ("frontal", "eye_area_ratio"),
        ("frontal", "facial_fifth_intercanthal"),
        ("profile", "goode_ratio"),
        ("profile", "nasolabial_angle"),
    ],
)
def test_uncertainty_is_the_per_landmark_central_difference(case: str, mid: str) -> None:
    """σ² = Σ σ_i² |∇_i f|², each partial from two separately computed, perturbed photos."""
    sem, scale, view = CASES[case][0]()
    d = measurements.definition(mid)
    assert d.unit in ("deg", "{ratio}", "%")  # scale-free: σ is the propagated noise only
    m = compute(sem, scale, view)[mid]
    points = {k: (float(x), float(y)) for k, (x, y) in sem.points.items()}
    ref = noise.reference_px({k: np.asarray(v, dtype=np.float64) for k, v in points.items()})
    h = max(engine._STEP_FRACTION * ref, 1e-4)

    def value_with(key: str, axis: int, step: float) -> float:
        moved = dict(points)
        xy = list(moved[key])
        xy[axis] += step
        moved[key] = (xy[0], xy[1])
        perturbed = SemanticLandmarks(moved, sem.confidence, sem.sources)
        (only,) = engine.compute_all([d], perturbed, scale, quality(view))
        return only.value

    var = 0.0
    for key in m.landmarks:
        s = noise.sigma_px(key, sem.confidence.get(resolve(key), 1.0), ref)
        for axis in (0, 1):
            grad = (value_with(key, axis, h) - value_with(key, axis, -h)) / (2.0 * h)
            var += (s * grad) ** 2
    assert m.uncertainty == pytest.approx(math.sqrt(var), rel=1e-9)
    assert m.uncertainty > 0
