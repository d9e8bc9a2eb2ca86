"""Which measurements the SR draws together: one labelled region per anatomical family.

A viewer labels each drawn Measurement Group with its first five NUMs beside the region's
right edge (OHIF: ``_getTextBoxLinesFromLabels``, ``getTextBoxCoordsCanvas``). One group per
measurement gave 55 labels piled on the face; one group per family gives about ten boxes.
Each family lists its measurements most important first: the first :data:`SHOWN` are the
ones a viewer shows; the rest follow in a second group with the same Tracking UID, which
OHIF merges into the same annotation (no second box) and every SR reader lists in full.
Measurements not named here join the report group of :mod:`analysis.report.rows`.
"""

from __future__ import annotations

from typing import Final

from analysis.report.rows import group_of

SHOWN: Final = 5  # OHIF draws at most five label lines per annotation

#: (family title, measurement ids, most important first). Short titles: they are the
#: Tracking Identifier a viewer shows for the region.
FAMILIES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("Brows", ("brow_height_r", "brow_height_l", "brow_height_difference")),
    (
        "Eyes",
        (
            "interpupillary_distance",
            "intercanthal_width",
            "outer_canthal_width",
            "palpebral_fissure_width_r",
            "palpebral_fissure_width_l",
            "palpebral_fissure_height_r",
            "palpebral_fissure_height_l",
            "palpebral_fissure_height_ratio",
            "canthal_tilt_r",
            "canthal_tilt_l",
            "canthal_tilt_difference",
            "eye_area_ratio",
        ),
    ),
    (
        "Nose",
        ("alar_width", "alar_intercanthal_ratio", "nasal_height_ratio", "nasal_tip_deviation"),
    ),
    (
        "Lips and mouth",
        (
            "mouth_width",
            "upper_lip_height",
            "upper_vermilion_height",
            "lower_vermilion_height",
            "vermilion_ratio",
            "mouth_alar_ratio",
            "vermilion_mouth_ratio",
            "upper_lip_proportion",
            "oral_commissure_height_difference",
            "philtrum_deviation",
        ),
    ),
    ("Chin", ("lower_lip_chin_height", "chin_deviation")),
    (
        "Facial thirds",
        (
            "facial_third_upper",
            "facial_third_middle",
            "facial_third_lower",
            "lower_middle_third_ratio",
            "facial_third_upper_ratio",
            "facial_third_middle_ratio",
            "facial_third_lower_ratio",
        ),
    ),
    (
        "Facial fifths",
        (
            "facial_fifth_lateral_r",
            "facial_fifth_eye_r",
            "facial_fifth_intercanthal",
            "facial_fifth_eye_l",
            "facial_fifth_lateral_l",
        ),
    ),
    (
        "Face width and height",
        ("bizygomatic_width", "bigonial_width", "face_height", "face_height_width_ratio"),
    ),
    (
        "Symmetry",
        (
            "symmetry_index",
            "facial_asymmetry_index",
            "asymmetry_overall",
            "asymmetry_eyes",
            "asymmetry_mouth",
            "asymmetry_brows",
            "asymmetry_nose",
            "asymmetry_jaw",
        ),
    ),
)

_FAMILY_OF: Final = {mid: title for title, ids in FAMILIES for mid in ids}
_RANK: Final = {mid: i for _, ids in FAMILIES for i, mid in enumerate(ids)}
_ORDER: Final = [title for title, _ in FAMILIES]


def family_of(measurement_id: str) -> str:
    """The family a measurement is drawn with (its report group for unlisted ids)."""
    return _FAMILY_OF.get(measurement_id) or group_of(measurement_id)


def rank(measurement_id: str) -> int:
    """Position within its family (unlisted ids after the listed ones)."""
    return _RANK.get(measurement_id, len(_RANK))


def family_order(title: str) -> int:
    return _ORDER.index(title) if title in _ORDER else len(_ORDER)
