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
PINNED_FRONTAL: dict[str, tuple[float, float]] = {
    "interpupillary_distance": (61.169659146293945, 1.8898158637570954),
    "intercanthal_width": (33.65547604155853, 1.8881351093910628),
    "outer_canthal_width": (94.01597993616988, 3.2404840985166357),
    "palpebral_fissure_width_r": (29.159470373572837, 1.8195817644360026),
    "palpebral_fissure_width_l": (31.34673426312524, 1.852022904518597),
    "palpebral_fissure_height_r": (9.601051439461491, 1.165209132723969),
    "palpebral_fissure_height_l": (9.808582769714823, 1.1661198475230798),
    "canthal_tilt_r": (5.395652059110578, 3.1895742327400205),
    "canthal_tilt_l": (2.561826189124415, 2.9748361001911885),
    "brow_height_r": (16.707940310211697, 1.3609908850380743),
    "brow_height_l": (17.00777136070406, 1.2242465823707824),
    "alar_width": (35.138175375331315, 3.928155585469596),
    "alar_intercanthal_ratio": (1.0440552179960823, 0.12284777263832672),
    "mouth_width": (49.44372543636397, 2.593411584353355),
    "mouth_alar_ratio": (1.4071227349805944, 0.16318210446083053),
    "upper_vermilion_height": (6.8131777428485805, 2.1373545558409295),
    "lower_vermilion_height": (8.618392636200952, 2.1431322629842837),
    "vermilion_ratio": (1.264959312891434, 0.5035429061041162),
    "vermilion_mouth_ratio": (0.3121037147354637, 0.062321277274797075),
    "upper_lip_height": (24.86551583417949, 2.1334971429291385),
    "lower_lip_chin_height": (42.56271703964947, 12.148253923458288),
    "upper_lip_proportion": (0.3687700948756524, 0.06950887398292122),
    "facial_third_upper": (59.78397868075846, 3.100993338943162),
    "facial_third_middle": (45.22914148339207, 2.7512771842065415),
    "facial_third_lower": (67.42823287382896, 12.319661904389855),
    "facial_third_upper_ratio": (0.34669165851181466, 0.027063317977184292),
    "facial_third_middle_ratio": (0.26228709463576605, 0.02314845713764159),
    "facial_third_lower_ratio": (0.3910212468524193, 0.04382477792076437),
    "lower_middle_third_ratio": (1.4908139014442336, 0.28738577278041183),
    "nasal_height_ratio": (0.40147519628832007, 0.046321509663038885),
    "facial_fifth_lateral_r": (0.16575917844827082, 0.020146210670703043),
    "facial_fifth_eye_r": (0.20912761069544009, 0.013161526506484354),
    "facial_fifth_intercanthal": (0.24237299259597037, 0.01368546293171632),
    "facial_fifth_eye_l": (0.22558923570681622, 0.013413578454688987),
    "facial_fifth_lateral_l": (0.15715098255350252, 0.020281206072561637),
    "bizygomatic_width": (131.98764401324092, 5.812140282645477),
    "bigonial_width": (111.71191471182485, 5.4160809034986945),
    "face_height": (112.65737435722103, 12.613681221431127),
    "face_height_width_ratio": (0.8535448541374018, 0.09609602302946499),
    "nasal_tip_deviation": (1.4680046911288342, 1.8909764862489733),
    "philtrum_deviation": (0.6951511092757165, 1.479183302882925),
    "chin_deviation": (1.2602123205591527, 12.11194745041377),
    "symmetry_index": (4.1200534829637006, 0.7620115203804988),
    "asymmetry_overall": (2.3153043817721564, 0.47099778968909156),
    "asymmetry_jaw": (1.5453059790847934, 1.6113549929693682),
    "asymmetry_brows": (2.384099245282834, 1.5254553262801474),
    "asymmetry_nose": (2.256177780282185, 1.1884342799832326),
    "asymmetry_eyes": (2.6018661393118663, 0.656049735626832),
    "asymmetry_mouth": (2.6461180397121753, 0.6771968520385011),
    "facial_asymmetry_index": (1.9133548624143941, 2.659792771746889),
    "eye_area_ratio": (1.0152903811222553, 0.18044337326377385),
    "palpebral_fissure_height_ratio": (0.9788418637915653, 0.16102997917818923),
    "oral_commissure_height_difference": (-1.2516864923584023, 2.187182855295068),
    "brow_height_difference": (-0.2998310504923616, 1.690045064071223),
    "canthal_tilt_difference": (2.8338258699861627, 4.43994655736818),
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
