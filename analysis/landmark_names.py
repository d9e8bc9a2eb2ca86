"""The one semantic landmark vocabulary every backend maps into.

Measurements are defined on these names only, so they never depend on which backend ran.

Conventions
-----------
* Keys ``ibug_00`` … ``ibug_67`` carry the iBUG-300W 68-point meanings (0-based, as in
  dlib and face-alignment). iBUG numbers the face as seen in the image: point 0 is on the
  image's left, which is the *subject's right* side in a frontal photo.
* ``_r`` / ``_l`` always mean the **subject's** right / left.
* Coordinates are pixels, x = column, y = row, origin at the *centre* of the top-left
  pixel (numpy / OpenCV convention). The DICOM writer converts to SCOORD (origin at the
  pixel's corner) by adding 0.5.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

IBUG68: Final[tuple[str, ...]] = tuple(f"ibug_{i:02d}" for i in range(68))


def ibug_names(indices: Iterable[int]) -> tuple[str, ...]:
    """The keys of iBUG-68 points given by index (``ibug_names([36]) == ("ibug_36",)``)."""
    return tuple(IBUG68[i] for i in indices)


#: Point groups by iBUG index (subject's right / left). Each eye is its six contour points:
#: exocanthion, two upper-lid points, endocanthion, two lower-lid points.
RIGHT_EYE_INDICES: Final[tuple[int, ...]] = tuple(range(36, 42))
LEFT_EYE_INDICES: Final[tuple[int, ...]] = tuple(range(42, 48))
RIGHT_BROW_INDICES: Final[tuple[int, ...]] = tuple(range(17, 22))
LEFT_BROW_INDICES: Final[tuple[int, ...]] = tuple(range(22, 27))
#: The inner face: everything but the jaw contour (brows, nose, eyes, mouth), whose points
#: are anatomical rather than silhouette points that slide with a slight head turn.
INNER_FACE_INDICES: Final[tuple[int, ...]] = tuple(range(17, 68))

RIGHT_EYE: Final[tuple[str, ...]] = ibug_names(RIGHT_EYE_INDICES)
LEFT_EYE: Final[tuple[str, ...]] = ibug_names(LEFT_EYE_INDICES)
RIGHT_BROW: Final[tuple[str, ...]] = ibug_names(RIGHT_BROW_INDICES)
LEFT_BROW: Final[tuple[str, ...]] = ibug_names(LEFT_BROW_INDICES)

#: Eye and iris points not in iBUG-68 (MediaPipe iris, insightface 106, refinement).
IRIS: Final[tuple[str, ...]] = (
    "pupil_r",
    "pupil_l",
    "iris_r_lateral",
    "iris_r_medial",
    "iris_r_top",
    "iris_r_bottom",
    "iris_l_lateral",
    "iris_l_medial",
    "iris_l_top",
    "iris_l_bottom",
)

#: Upper-face points frontal models can give (MediaPipe has a forehead).
UPPER_FACE: Final[tuple[str, ...]] = ("trichion", "glabella")

#: Soft-tissue profile points (from a profile view's silhouette, or a 3D model).
PROFILE: Final[tuple[str, ...]] = (
    "profile_glabella",
    "soft_tissue_nasion",
    "rhinion",
    "pronasale",
    "columella",
    "subnasale",
    "alar_crease",
    "labrale_superius",
    "stomion",
    "labrale_inferius",
    "mentolabial_sulcus",
    "soft_tissue_pogonion",
    "soft_tissue_menton",
    "cervical_point",
    "neck_point",  # anterior neck, where the tangent from cervical_point touches it
)

ALL_NAMES: Final[tuple[str, ...]] = IBUG68 + IRIS + UPPER_FACE + PROFILE

#: Anatomical aliases for the iBUG points the measurement catalogue uses most.
ALIAS: Final[dict[str, str]] = {
    "exocanthion_r": "ibug_36",
    "endocanthion_r": "ibug_39",
    "exocanthion_l": "ibug_45",
    "endocanthion_l": "ibug_42",
    "upper_lid_r": "ibug_37",  # with ibug_38 the upper lid margin
    "lower_lid_r": "ibug_41",  # with ibug_40
    "upper_lid_l": "ibug_44",  # with ibug_43
    "lower_lid_l": "ibug_46",  # with ibug_47
    "brow_lateral_r": "ibug_17",
    "brow_peak_r": "ibug_19",
    "brow_medial_r": "ibug_21",
    "brow_medial_l": "ibug_22",
    "brow_peak_l": "ibug_24",
    "brow_lateral_l": "ibug_26",
    "nasion": "ibug_27",
    "nasal_tip": "ibug_30",
    "alare_r": "ibug_31",
    "subnasale_frontal": "ibug_33",
    "alare_l": "ibug_35",
    "cheilion_r": "ibug_48",
    "labrale_superius_frontal": "ibug_51",
    "cheilion_l": "ibug_54",
    "labrale_inferius_frontal": "ibug_57",
    "stomion_upper": "ibug_62",
    "stomion_lower": "ibug_66",
    "menton": "ibug_08",
    "zygion_r": "ibug_01",
    "zygion_l": "ibug_15",
    "gonion_r": "ibug_04",
    "gonion_l": "ibug_12",
}

#: iBUG-68 left/right mirror pairs (index in the image-left half -> its mirror).
#: Points on the midline (8, 27-30, 33, 51, 57, 62, 66) mirror to themselves.
IBUG68_MIRROR: Final[dict[int, int]] = {
    **{i: 16 - i for i in range(17)},
    **{17 + i: 26 - i for i in range(5)},
    **{22 + i: 21 - i for i in range(5)},
    27: 27, 28: 28, 29: 29, 30: 30,
    31: 35, 32: 34, 33: 33, 34: 32, 35: 31,
    36: 45, 37: 44, 38: 43, 39: 42, 40: 47, 41: 46,
    45: 36, 44: 37, 43: 38, 42: 39, 47: 40, 46: 41,
    48: 54, 49: 53, 50: 52, 51: 51, 52: 50, 53: 49, 54: 48,
    55: 59, 56: 58, 57: 57, 58: 56, 59: 55,
    60: 64, 61: 63, 62: 62, 63: 61, 64: 60,
    65: 67, 66: 66, 67: 65,
}

#: iBUG-68 regions, for per-region asymmetry and for drawing.
IBUG68_REGIONS: Final[dict[str, tuple[int, ...]]] = {
    "jaw": tuple(range(17)),
    "brows": RIGHT_BROW_INDICES + LEFT_BROW_INDICES,
    "nose": tuple(range(27, 36)),
    "eyes": RIGHT_EYE_INDICES + LEFT_EYE_INDICES,
    "mouth": tuple(range(48, 68)),
}


#: Bilateral counterparts of the named points outside iBUG-68 that a frontal face has
#: (pupil and iris edges swap sides; the forehead points are on the midline). Together with
#: :data:`IBUG68_MIRROR` it is the mirror map :func:`mirror_key` reads.
NAMED_MIRROR: Final[dict[str, str]] = {
    **{n: "_".join({"r": "l", "l": "r"}.get(part, part) for part in n.split("_")) for n in IRIS},
    **{n: n for n in UPPER_FACE},
}


def mirror_key(key: str) -> str | None:
    """The canonical key of ``key``'s bilateral counterpart (itself on the midline); None
    for a point without one (the profile points)."""
    if key in NAMED_MIRROR:
        return NAMED_MIRROR[key]
    if key.startswith("ibug_") and key in _IBUG_INDEX:
        return IBUG68[IBUG68_MIRROR[_IBUG_INDEX[key]]]
    return None


_IBUG_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(IBUG68)}


def mirror_pair(i: int) -> tuple[str, str]:
    """(iBUG point ``i``, its bilateral counterpart) as keys; a midline point pairs with itself."""
    return IBUG68[i], IBUG68[IBUG68_MIRROR[i]]


def resolve(name: str) -> str:
    """Map an anatomical alias to its canonical key (canonical keys map to themselves)."""
    return ALIAS.get(name, name)
