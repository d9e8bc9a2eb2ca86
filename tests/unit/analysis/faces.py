"""Synthetic landmark sets whose true measurements are known by construction.

FRONTAL_MM is a bilaterally symmetric face in millimetres, in the face frame of
``analysis.geometry``: x toward the subject's left (the image's right in a
frontal photo), y down, origin midway between the endocanthia. PROFILE_MM is a soft-tissue
profile facing the image's right, built from angles (see ``profile_points``).
"""

from __future__ import annotations

import math

import numpy as np

from analysis.landmark_names import IBUG68_MIRROR
from analysis.types import (
    HeadPose,
    ModelIdentity,
    Quality,
    Scale,
    ScaleSource,
    SemanticLandmarks,
    View,
)

MODEL = ModelIdentity(id="synthetic", name="synthetic", version="1", licence="test")

# Subject's right half (x < 0) and the midline; the left half is mirrored.
_RIGHT_AND_MIDLINE: dict[int, tuple[float, float]] = {
    # jaw
    0: (-68, 0), 1: (-67, 16), 2: (-65, 32), 3: (-62, 48), 4: (-57, 63), 5: (-49, 77),
    6: (-38, 90), 7: (-21, 102), 8: (0, 110),
    # right brow
    17: (-50, -14), 18: (-42, -19), 19: (-33, -21), 20: (-24, -20), 21: (-16, -16),
    # nose
    27: (0, -3), 28: (0, 7), 29: (0, 17), 30: (0, 28), 31: (-17, 38), 32: (-8, 41), 33: (0, 43),
    # right eye
    36: (-46, -2), 37: (-38, -6), 38: (-26, -6), 39: (-16, 0), 40: (-26, 4), 41: (-38, 4),
    # outer lips
    48: (-25, 64), 49: (-16, 60), 50: (-6, 58), 51: (0, 59), 57: (0, 75), 58: (-7, 74),
    59: (-16, 71),
    # inner lips
    60: (-22, 64), 61: (-8, 66), 62: (0, 66), 66: (0, 67), 67: (-8, 67),
}  # fmt: skip


def _frontal() -> dict[str, tuple[float, float]]:
    pts: dict[int, tuple[float, float]] = dict(_RIGHT_AND_MIDLINE)
    for i, (x, y) in _RIGHT_AND_MIDLINE.items():
        pts[IBUG68_MIRROR[i]] = (-x, y) if x != 0 else (x, y)
    assert len(pts) == 68, sorted(set(range(68)) - set(pts))
    out = {f"ibug_{i:02d}": (float(x), float(y)) for i, (x, y) in sorted(pts.items())}
    out.update(
        {
            "pupil_r": (-31.0, 0.0),
            "pupil_l": (31.0, 0.0),
            "iris_r_lateral": (-37.0, 0.0),
            "iris_r_medial": (-25.0, 0.0),
            "iris_r_top": (-31.0, -6.0),
            "iris_r_bottom": (-31.0, 6.0),
            "iris_l_lateral": (37.0, 0.0),
            "iris_l_medial": (25.0, 0.0),
            "iris_l_top": (31.0, -6.0),
            "iris_l_bottom": (31.0, 6.0),
            "trichion": (0.0, -65.0),
            "glabella": (0.0, -18.0),
        }
    )
    return out


FRONTAL_MM: dict[str, tuple[float, float]] = _frontal()


def _pol(origin: tuple[float, float], length: float, angle_deg: float) -> tuple[float, float]:
    """Point at ``length`` from ``origin`` in direction ``angle_deg`` (0 = facing forward,
    i.e. the image's +x; positive angles turn upward, i.e. toward −y)."""
    a = math.radians(angle_deg)
    return (origin[0] + length * math.cos(a), origin[1] - length * math.sin(a))


def profile_points() -> dict[str, tuple[float, float]]:
    """A profile facing +x with nasofrontal 130°, nasomental 126°, nasolabial 100°,
    upper lip 4 mm behind and lower lip 1 mm in front of the E-line."""
    n = (0.0, 0.0)
    g = _pol(n, 15.0, 80.0)
    prn = _pol(n, 45.0, -50.0)  # dorsum 50° below forward → nasofrontal 80 − (−50) = 130
    pog = _pol(prn, 75.0, -104.0)  # prn→n is at 130°; 130 − (−104) = 234 → 126
    d = np.subtract(pog, prn) / 75.0
    posterior = np.array([-d[1], d[0]])  # the normal with −x component
    if posterior[0] > 0:
        posterior = -posterior
    ls = tuple(np.asarray(prn) + 40.0 * d + 4.0 * posterior)
    li = tuple(np.asarray(prn) + 55.0 * d - 1.0 * posterior)
    sn = _pol((float(ls[0]), float(ls[1])), 20.0, 100.0)  # ls lies at −80° from sn
    col = _pol(sn, 10.0, 20.0)  # 20 − (−80) = 100 → nasolabial 100
    return {
        "profile_glabella": g,
        "soft_tissue_nasion": n,
        "rhinion": _pol(n, 22.0, -50.0),
        "pronasale": prn,
        "columella": col,
        "subnasale": sn,
        "alar_crease": (2.0, 45.0),
        "labrale_superius": (float(ls[0]), float(ls[1])),
        "stomion": (12.0, 80.0),
        "labrale_inferius": (float(li[0]), float(li[1])),
        "mentolabial_sulcus": (8.0, 95.0),
        "soft_tissue_pogonion": pog,
        "soft_tissue_menton": (0.0, 118.0),
        "cervical_point": (-30.0, 125.0),
        "neck_point": (-22.0, 160.0),
    }


PROFILE_MM = profile_points()


def to_pixels(
    mm: dict[str, tuple[float, float]],
    *,
    mm_per_px: float = 0.25,
    roll_deg: float = 0.0,
    origin: tuple[float, float] = (400.0, 300.0),
    mirror_x: bool = False,
) -> dict[str, tuple[float, float]]:
    """Face-frame millimetres → image pixels (rotated by ``roll_deg`` in the image)."""
    a = math.radians(roll_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    out = {}
    for k, (x, y) in mm.items():
        v = np.array([-x if mirror_x else x, y]) / mm_per_px
        p = rot @ v + np.asarray(origin)
        out[k] = (float(p[0]), float(p[1]))
    return out


def semantic(
    points_px: dict[str, tuple[float, float]],
    confidence: float | dict[str, float] = 1.0,
) -> SemanticLandmarks:
    conf = (
        {k: float(confidence) for k in points_px}
        if isinstance(confidence, int | float)
        else {k: confidence.get(k, 1.0) for k in points_px}
    )
    return SemanticLandmarks(points=dict(points_px), confidence=conf, sources=(MODEL,))


def quality(
    view: View = View.FRONTAL,
    *,
    flags: tuple[str, ...] = (),
    yaw: float = 0.0,
    mouth_open: bool = False,
    smile: bool = False,
) -> Quality:
    return Quality(
        face_count=1,
        main_face_index=0,
        detection_confidence=1.0,
        face_size_px=400.0,
        blur=20.0,
        pose=HeadPose(yaw=yaw, pitch=0.0, roll=0.0),
        mouth_open=mouth_open,
        smile=smile,
        occlusion_hints=(),
        view=view,
        view_source="pose",
        flags=flags,
    )


def pixel_scale(mm_per_px: float = 0.25, rel: float = 0.03) -> Scale:
    return Scale(mm_per_px=mm_per_px, source=ScaleSource.PIXEL_SPACING, relative_uncertainty=rel)
