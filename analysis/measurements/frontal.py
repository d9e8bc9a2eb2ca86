"""Frontal-view proportions: distances, heights, widths, canons, tilts, midline deviations.

Landmark caveats (iBUG-68 semantics, not the anthropometric points themselves):
``ibug_27`` (top of the nasal bridge) stands in for soft-tissue nasion, ``ibug_33`` for
subnasale, ``ibug_08`` for menton, ``ibug_31``/``ibug_35`` (alar base) for alare — they lie
a little medial to the widest alar points, so alar widths read slightly narrow —,
``ibug_01``/``ibug_15`` for zygion and ``ibug_04``/``ibug_12`` for gonion (points of the
visible face outline), ``ibug_00``/``ibug_16`` for the face edge at eye level. Heights are
taken along the face's vertical ``v`` and widths of the fifths along its horizontal ``u``
(see :mod:`analysis.geometry`). Signs: deviations are + toward the subject's
left; canthal tilt is + when the lateral canthus is higher than the medial one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from analysis.geometry import dot, eye_centre, face_frame, interpupillary, norm
from analysis.landmark_names import LEFT_BROW, LEFT_EYE, RIGHT_BROW, RIGHT_EYE
from analysis.measurements.definition import (
    EYES_CLOSED,
    MOUTH_OPEN,
    SMILING,
    Definition,
    Kind,
)
from analysis.measurements.geometry import Pts, cross, dist, ratio
from analysis.types import Flag, FloatArray

Formula = Callable[[Pts], FloatArray]
EYES = RIGHT_EYE + LEFT_EYE
LIPS_OPEN = frozenset({MOUTH_OPEN, SMILING})


def _stomion(p: Pts) -> FloatArray:
    return (p["stomion_upper"] + p["stomion_lower"]) / 2.0


# --- distances ----------------------------------------------------------------------


def interpupillary_distance(p: Pts) -> FloatArray:
    return interpupillary(p)


def intercanthal_width(p: Pts) -> FloatArray:
    return dist(p["endocanthion_r"], p["endocanthion_l"])


def outer_canthal_width(p: Pts) -> FloatArray:
    return dist(p["exocanthion_r"], p["exocanthion_l"])


def fissure_width(p: Pts, side: str) -> FloatArray:
    return dist(p[f"exocanthion_{side}"], p[f"endocanthion_{side}"])


def fissure_height(p: Pts, side: str) -> FloatArray:
    """Upper-lid midpoint to lower-lid midpoint, perpendicular to the canthal axis."""
    if side == "r":
        upper = p.mean(("ibug_37", "ibug_38"))
        lower = p.mean(("ibug_41", "ibug_40"))
        axis = p["ibug_39"] - p["ibug_36"]
    else:
        upper = p.mean(("ibug_43", "ibug_44"))
        lower = p.mean(("ibug_47", "ibug_46"))
        axis = p["ibug_45"] - p["ibug_42"]
    d = axis / np.maximum(norm(axis), 1e-9)[..., None]
    return np.abs(cross(d, lower - upper))


def canthal_tilt(p: Pts, side: str) -> FloatArray:
    f = face_frame(p)
    d = p[f"exocanthion_{side}"] - p[f"endocanthion_{side}"]
    lateral = dot(d, f.u) * (-1.0 if side == "r" else 1.0)
    up = -dot(d, f.v)
    return np.degrees(np.arctan2(up, lateral))


def brow_height(p: Pts, side: str) -> FloatArray:
    """Height of the brow (mean of its five points) above the eye centre, along ``v``."""
    f = face_frame(p)
    brow = p.mean(RIGHT_BROW if side == "r" else LEFT_BROW)
    return dot(eye_centre(p, side) - brow, f.v)


def alar_width(p: Pts) -> FloatArray:
    return dist(p["alare_r"], p["alare_l"])


def mouth_width(p: Pts) -> FloatArray:
    return dist(p["cheilion_r"], p["cheilion_l"])


def upper_vermilion_height(p: Pts) -> FloatArray:
    f = face_frame(p)
    return f.y(p["stomion_upper"]) - f.y(p["labrale_superius_frontal"])


def lower_vermilion_height(p: Pts) -> FloatArray:
    f = face_frame(p)
    return f.y(p["labrale_inferius_frontal"]) - f.y(p["stomion_lower"])


def upper_lip_height(p: Pts) -> FloatArray:
    f = face_frame(p)
    return f.y(_stomion(p)) - f.y(p["subnasale_frontal"])


def lower_lip_chin_height(p: Pts) -> FloatArray:
    f = face_frame(p)
    return f.y(p["menton"]) - f.y(_stomion(p))


def bizygomatic_width(p: Pts) -> FloatArray:
    return np.abs(face_frame(p).x(p["zygion_l"]) - face_frame(p).x(p["zygion_r"]))


def bigonial_width(p: Pts) -> FloatArray:
    return np.abs(face_frame(p).x(p["gonion_l"]) - face_frame(p).x(p["gonion_r"]))


def face_height(p: Pts) -> FloatArray:
    f = face_frame(p)
    return f.y(p["menton"]) - f.y(p["nasion"])


# --- thirds and fifths ----------------------------------------------------------------


def _thirds(p: Pts) -> tuple[FloatArray, FloatArray, FloatArray]:
    f = face_frame(p)
    tr, n, sn, me = (f.y(p[k]) for k in ("trichion", "nasion", "subnasale_frontal", "menton"))
    return n - tr, sn - n, me - sn


def _thirds_mid_low(p: Pts) -> tuple[FloatArray, FloatArray]:
    f = face_frame(p)
    n, sn, me = (f.y(p[k]) for k in ("nasion", "subnasale_frontal", "menton"))
    return sn - n, me - sn


def _fifths(p: Pts) -> tuple[FloatArray, ...]:
    f = face_frame(p)
    xs = [f.x(p[k]) for k in ("ibug_00", "ibug_36", "ibug_39", "ibug_42", "ibug_45", "ibug_16")]
    return tuple(b - a for a, b in zip(xs[:-1], xs[1:], strict=True))


def _sum(parts: tuple[FloatArray, ...]) -> FloatArray:
    """Left-to-right sum of the parts, as the builtin ``sum`` adds them."""
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _fifth(i: int) -> Formula:
    def formula(p: Pts) -> FloatArray:
        parts = _fifths(p)
        return ratio(parts[i], _sum(parts))

    return formula


def _third(i: int) -> Formula:
    def formula(p: Pts) -> FloatArray:
        parts = _thirds(p)
        return ratio(parts[i], _sum(parts))

    return formula


# --- midline deviations ----------------------------------------------------------------


def _deviation(p: Pts, point: FloatArray) -> FloatArray:
    return face_frame(p).x(point)


def nasal_tip_deviation(p: Pts) -> FloatArray:
    return _deviation(p, p["nasal_tip"])


def philtrum_deviation(p: Pts) -> FloatArray:
    """Philtrum midpoint (halfway subnasale–labrale superius) from the midline."""
    return _deviation(p, (p["subnasale_frontal"] + p["labrale_superius_frontal"]) / 2.0)


def chin_deviation(p: Pts) -> FloatArray:
    return _deviation(p, p["menton"])


def _side_pair(fn: Callable[[Pts, str], FloatArray], side: str) -> Formula:
    def formula(p: Pts) -> FloatArray:
        return fn(p, side)

    return formula


def _d(
    id: str,
    name: str,
    landmarks: tuple[str, ...],
    formula: Formula,
    kind: Kind,
    description: str,
    *,
    norm_key: str = "",
    sensitive_to: frozenset[Flag] = frozenset(),
    yaw_sensitive: bool = False,
    confirm: tuple[str, ...] = (),
) -> Definition:
    return Definition(
        id=id,
        name=name,
        landmarks=landmarks,
        formula=formula,
        kind=kind,
        description=description,
        norm_key=norm_key,
        sensitive_to=sensitive_to,
        yaw_sensitive=yaw_sensitive,
        confirm=confirm,
    )


_FRAME = EYES + ("endocanthion_r", "endocanthion_l")
_RIGHT_FISSURE = ("ibug_36", "ibug_37", "ibug_38", "ibug_39", "ibug_40", "ibug_41")
_LEFT_FISSURE = ("ibug_42", "ibug_43", "ibug_44", "ibug_45", "ibug_46", "ibug_47")
_LIPS = ("labrale_superius_frontal", "stomion_upper", "stomion_lower", "labrale_inferius_frontal")

DEFINITIONS: tuple[Definition, ...] = (
    _d(
        "interpupillary_distance",
        "Interpupillary distance",
        EYES,
        interpupillary_distance,
        Kind.LENGTH,
        "Pupil to pupil; eye-contour centres when no pupil was detected.",
        sensitive_to=frozenset({EYES_CLOSED}),
    ),
    _d(
        "intercanthal_width",
        "Intercanthal width (en–en)",
        ("endocanthion_r", "endocanthion_l"),
        intercanthal_width,
        Kind.LENGTH,
        "Medial canthus to medial canthus.",
    ),
    _d(
        "outer_canthal_width",
        "Outer canthal width (ex–ex)",
        ("exocanthion_r", "exocanthion_l"),
        outer_canthal_width,
        Kind.LENGTH,
        "Lateral canthus to lateral canthus.",
    ),
    _d(
        "palpebral_fissure_width_r",
        "Palpebral fissure width, right",
        ("exocanthion_r", "endocanthion_r"),
        _side_pair(fissure_width, "r"),
        Kind.LENGTH,
        "Exocanthion–endocanthion, subject's right.",
        norm_key="palpebral_fissure_width",
    ),
    _d(
        "palpebral_fissure_width_l",
        "Palpebral fissure width, left",
        ("exocanthion_l", "endocanthion_l"),
        _side_pair(fissure_width, "l"),
        Kind.LENGTH,
        "Exocanthion–endocanthion, subject's left.",
        norm_key="palpebral_fissure_width",
    ),
    _d(
        "palpebral_fissure_height_r",
        "Palpebral fissure height, right",
        _RIGHT_FISSURE,
        _side_pair(fissure_height, "r"),
        Kind.LENGTH,
        "Upper- to lower-lid midpoint, perpendicular to the canthal axis, subject's right.",
        norm_key="palpebral_fissure_height",
        sensitive_to=frozenset({EYES_CLOSED, SMILING}),
    ),
    _d(
        "palpebral_fissure_height_l",
        "Palpebral fissure height, left",
        _LEFT_FISSURE,
        _side_pair(fissure_height, "l"),
        Kind.LENGTH,
        "Upper- to lower-lid midpoint, perpendicular to the canthal axis, subject's left.",
        norm_key="palpebral_fissure_height",
        sensitive_to=frozenset({EYES_CLOSED, SMILING}),
    ),
    _d(
        "canthal_tilt_r",
        "Canthal tilt, right",
        _FRAME,
        _side_pair(canthal_tilt, "r"),
        Kind.ANGLE,
        "Angle of the endocanthion→exocanthion line above the face horizontal "
        "(+ = lateral canthus higher), subject's right.",
        norm_key="canthal_tilt",
    ),
    _d(
        "canthal_tilt_l",
        "Canthal tilt, left",
        _FRAME,
        _side_pair(canthal_tilt, "l"),
        Kind.ANGLE,
        "Angle of the endocanthion→exocanthion line above the face horizontal "
        "(+ = lateral canthus higher), subject's left.",
        norm_key="canthal_tilt",
    ),
    _d(
        "brow_height_r",
        "Brow height, right",
        EYES + RIGHT_BROW,
        _side_pair(brow_height, "r"),
        Kind.LENGTH,
        "Mean of the brow points above the eye-contour centre, along the face "
        "vertical, subject's right.",
        norm_key="brow_height",
    ),
    _d(
        "brow_height_l",
        "Brow height, left",
        EYES + LEFT_BROW,
        _side_pair(brow_height, "l"),
        Kind.LENGTH,
        "Mean of the brow points above the eye-contour centre, along the face "
        "vertical, subject's left.",
        norm_key="brow_height",
    ),
    _d(
        "alar_width",
        "Alar base width (al–al)",
        ("alare_r", "alare_l"),
        alar_width,
        Kind.LENGTH,
        "iBUG alar-base points 31–35 (read slightly narrower than true alare).",
    ),
    _d(
        "alar_intercanthal_ratio",
        "Alar width / intercanthal width",
        ("alare_r", "alare_l", "endocanthion_r", "endocanthion_l"),
        lambda p: ratio(alar_width(p), intercanthal_width(p)),
        Kind.RATIO,
        "Neoclassical canon: 1 (alar width = intercanthal width).",
    ),
    _d(
        "mouth_width",
        "Mouth width (ch–ch)",
        ("cheilion_r", "cheilion_l"),
        mouth_width,
        Kind.LENGTH,
        "Commissure to commissure.",
        sensitive_to=LIPS_OPEN,
    ),
    _d(
        "mouth_alar_ratio",
        "Mouth width / alar width",
        ("cheilion_r", "cheilion_l", "alare_r", "alare_l"),
        lambda p: ratio(mouth_width(p), alar_width(p)),
        Kind.RATIO,
        "Canon ≈ 1.5 (Jayaratne & Zwahlen 2012).",
        sensitive_to=LIPS_OPEN,
    ),
    _d(
        "upper_vermilion_height",
        "Upper vermilion height (ls–sto)",
        _FRAME + _LIPS,
        upper_vermilion_height,
        Kind.LENGTH,
        "Labrale superius to upper stomion, along v.",
        sensitive_to=LIPS_OPEN,
    ),
    _d(
        "lower_vermilion_height",
        "Lower vermilion height (sto–li)",
        _FRAME + _LIPS,
        lower_vermilion_height,
        Kind.LENGTH,
        "Lower stomion to labrale inferius, along v.",
        sensitive_to=LIPS_OPEN,
    ),
    _d(
        "vermilion_ratio",
        "Lower / upper vermilion height",
        _FRAME + _LIPS,
        lambda p: ratio(lower_vermilion_height(p), upper_vermilion_height(p)),
        Kind.RATIO,
        "Lower over upper vermilion height; literature ≈ 1.6.",
        sensitive_to=LIPS_OPEN,
    ),
    _d(
        "vermilion_mouth_ratio",
        "Total vermilion height / mouth width",
        _FRAME + _LIPS + ("cheilion_r", "cheilion_l"),
        lambda p: ratio(upper_vermilion_height(p) + lower_vermilion_height(p), mouth_width(p)),
        Kind.RATIO,
        "Lip fullness independent of scale.",
        sensitive_to=LIPS_OPEN,
    ),
    _d(
        "upper_lip_height",
        "Upper lip height (sn–sto)",
        _FRAME + ("subnasale_frontal", "stomion_upper", "stomion_lower"),
        upper_lip_height,
        Kind.LENGTH,
        "Subnasale to stomion (mean of the inner-lip midpoints), along v.",
        sensitive_to=LIPS_OPEN,
    ),
    _d(
        "lower_lip_chin_height",
        "Lower lip and chin height (sto–me)",
        _FRAME + ("menton", "stomion_upper", "stomion_lower"),
        lower_lip_chin_height,
        Kind.LENGTH,
        "Stomion to menton, along v.",
        sensitive_to=LIPS_OPEN,
    ),
    _d(
        "upper_lip_proportion",
        "Upper lip share of the lower face (sn–sto / sn–me)",
        _FRAME + ("subnasale_frontal", "stomion_upper", "stomion_lower", "menton"),
        lambda p: ratio(upper_lip_height(p), upper_lip_height(p) + lower_lip_chin_height(p)),
        Kind.RATIO,
        "Upper lip ≈ 30 %, lip–chin ≈ 70 % of subnasale–menton (Mommaerts 2011).",
        sensitive_to=LIPS_OPEN,
    ),
    _d(
        "facial_third_upper",
        "Upper facial third (tr–n)",
        _FRAME + ("trichion", "nasion"),
        lambda p: _thirds(p)[0],
        Kind.LENGTH,
        "Trichion to nasion along v.",
    ),
    _d(
        "facial_third_middle",
        "Middle facial third (n–sn)",
        _FRAME + ("nasion", "subnasale_frontal"),
        lambda p: _thirds_mid_low(p)[0],
        Kind.LENGTH,
        "Nasion to subnasale along v.",
    ),
    _d(
        "facial_third_lower",
        "Lower facial third (sn–me)",
        _FRAME + ("subnasale_frontal", "menton"),
        lambda p: _thirds_mid_low(p)[1],
        Kind.LENGTH,
        "Subnasale to menton along v.",
        sensitive_to=frozenset({MOUTH_OPEN}),
    ),
    _d(
        "facial_third_upper_ratio",
        "Upper third / face height (tr–me)",
        _FRAME + ("trichion", "nasion", "subnasale_frontal", "menton"),
        _third(0),
        Kind.RATIO,
        "Canon 1/3.",
        norm_key="facial_third_ratio",
        sensitive_to=frozenset({MOUTH_OPEN}),
    ),
    _d(
        "facial_third_middle_ratio",
        "Middle third / face height (tr–me)",
        _FRAME + ("trichion", "nasion", "subnasale_frontal", "menton"),
        _third(1),
        Kind.RATIO,
        "Canon 1/3.",
        norm_key="facial_third_ratio",
        sensitive_to=frozenset({MOUTH_OPEN}),
    ),
    _d(
        "facial_third_lower_ratio",
        "Lower third / face height (tr–me)",
        _FRAME + ("trichion", "nasion", "subnasale_frontal", "menton"),
        _third(2),
        Kind.RATIO,
        "Canon 1/3.",
        norm_key="facial_third_ratio",
        sensitive_to=frozenset({MOUTH_OPEN}),
    ),
    _d(
        "lower_middle_third_ratio",
        "Lower third / middle third (sn–me / n–sn)",
        _FRAME + ("nasion", "subnasale_frontal", "menton"),
        lambda p: ratio(_thirds_mid_low(p)[1], _thirds_mid_low(p)[0]),
        Kind.RATIO,
        "Canon 1; works without trichion.",
        sensitive_to=frozenset({MOUTH_OPEN}),
    ),
    _d(
        "nasal_height_ratio",
        "Nasal height / face height (n–sn / n–me)",
        _FRAME + ("nasion", "subnasale_frontal", "menton"),
        lambda p: ratio(_thirds_mid_low(p)[0], _sum(_thirds_mid_low(p))),
        Kind.RATIO,
        "Nose length relative to the face (Farkas 1994 means ≈ 0.45).",
        sensitive_to=frozenset({MOUTH_OPEN}),
    ),
    *(
        _d(
            f"facial_fifth_{k}",
            f"Facial fifth: {label} / face width at eye level",
            _FRAME + ("ibug_00", "ibug_16"),
            _fifth(i),
            Kind.RATIO,
            f"{label} along u over ibug_00–ibug_16 width; canon 1/5.",
            norm_key="facial_fifth",
        )
        for i, (k, label) in enumerate(
            (
                ("lateral_r", "right lateral fifth (face edge to exocanthion)"),
                ("eye_r", "right eye fissure"),
                ("intercanthal", "intercanthal fifth"),
                ("eye_l", "left eye fissure"),
                ("lateral_l", "left lateral fifth (exocanthion to face edge)"),
            )
        )
    ),
    _d(
        "bizygomatic_width",
        "Bizygomatic width (zy–zy)",
        _FRAME + ("zygion_r", "zygion_l"),
        bizygomatic_width,
        Kind.LENGTH,
        "Face outline points ibug_01–ibug_15, along u.",
    ),
    _d(
        "bigonial_width",
        "Bigonial width (go–go)",
        _FRAME + ("gonion_r", "gonion_l"),
        bigonial_width,
        Kind.LENGTH,
        "Face outline points ibug_04–ibug_12, along u.",
    ),
    _d(
        "face_height",
        "Face height (n–me)",
        _FRAME + ("nasion", "menton"),
        face_height,
        Kind.LENGTH,
        "Nasion to menton along v.",
        sensitive_to=frozenset({MOUTH_OPEN}),
    ),
    _d(
        "face_height_width_ratio",
        "Face height / bizygomatic width (n–me / zy–zy)",
        _FRAME + ("nasion", "menton", "zygion_r", "zygion_l"),
        lambda p: ratio(face_height(p), bizygomatic_width(p)),
        Kind.RATIO,
        "Farkas' facial index without the ×100.",
        sensitive_to=frozenset({MOUTH_OPEN}),
    ),
    _d(
        "nasal_tip_deviation",
        "Nasal tip deviation from the midline",
        _FRAME + ("nasal_tip",),
        nasal_tip_deviation,
        Kind.LENGTH,
        "Signed, + toward the subject's left.",
        norm_key="midline_deviation",
        yaw_sensitive=True,
        confirm=("nasal_tip",),
    ),
    _d(
        "philtrum_deviation",
        "Philtrum deviation from the midline",
        _FRAME + ("subnasale_frontal", "labrale_superius_frontal"),
        philtrum_deviation,
        Kind.LENGTH,
        "Signed, + toward the subject's left.",
        norm_key="midline_deviation",
        yaw_sensitive=True,
        sensitive_to=frozenset({SMILING}),
    ),
    _d(
        "chin_deviation",
        "Chin (menton) deviation from the midline",
        _FRAME + ("menton",),
        chin_deviation,
        Kind.LENGTH,
        "Signed, + toward the subject's left.",
        yaw_sensitive=True,
        sensitive_to=frozenset({MOUTH_OPEN}),
        confirm=("menton",),
    ),
)
