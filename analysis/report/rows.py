"""Each measurement against its norm row: z-score, out-of-range flag, and its group.

The finding rules (:mod:`analysis.findings`) judge only what a rule names; the report's
table judges every measurement that has a norm, so a surgeon sees all values in context.
A measurement is "high" / "low" when it lies beyond ±:data:`Z_LIMIT` norm SDs, and
"above range" / "below range" when the norm row gives a range it leaves. A length left in
pixels (no scale) has no norm: the norm is in millimetres.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from analysis import measurements as catalogue
from analysis.types import Measurement, View
from config.tables import NormRow, NormTable

Z_LIMIT: Final = 2.0

#: Report groups: a measurement joins the first whose pattern matches its id (symmetry
#: first: its ratios and differences share words with the regional groups). Profile
#: measurements (not valid on a frontal view) form their own group.
GROUPS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    (
        "Symmetry and midline",
        re.compile(r".*(deviation|asymmetry.*|symmetry_index|_difference|_ratio_rl|area_ratio)$"
                   r"|palpebral_fissure_height_ratio"),
    ),
    ("Eyes and brows", re.compile(r"(interpupillary|intercanthal|outer_canthal|palpebral"
                                  r"|canthal|brow)")),
    ("Nose", re.compile(r"(alar|nasal)")),
    ("Lips and mouth", re.compile(r"(mouth|(upper_|lower_)?vermilion|upper_lip|lower_lip)")),
    ("Facial thirds and fifths", re.compile(r"(facial_third|lower_middle_third|facial_fifth)")),
    ("Face width and height", re.compile(r"(bizygomatic|bigonial|face_height)")),
)  # fmt: skip
PROFILE_GROUP: Final = "Profile"
OTHER_GROUP: Final = "Other"
#: The order groups are shown in: regions top to bottom, then symmetry, then profile.
ORDER: Final = (
    "Eyes and brows",
    "Nose",
    "Lips and mouth",
    "Facial thirds and fifths",
    "Face width and height",
    "Symmetry and midline",
    PROFILE_GROUP,
    OTHER_GROUP,
)


@dataclass(frozen=True)
class Row:
    """One measurement with its norm (if any), z-score and flag ("" when within norms)."""

    measurement: Measurement
    norm: NormRow | None
    z: float | None
    flag: str

    @property
    def out_of_norm(self) -> bool:
        return bool(self.flag)


def norm_key(measurement_id: str) -> str:
    try:
        return catalogue.definition(measurement_id).norm_key
    except KeyError:
        return measurement_id


def judge(m: Measurement, norms: NormTable | None, sex: str | None) -> Row:
    """``m`` against its norm row for ``sex`` (else the "any" row)."""
    norm = norms.lookup(norm_key(m.id), sex) if norms is not None else None
    if norm is None or norm.unit != m.unit:
        return Row(m, None, None, "")
    z = (m.value - norm.mean) / norm.sd
    flag = ""
    if norm.min is not None and m.value < norm.min:
        flag = "below range"
    elif norm.max is not None and m.value > norm.max:
        flag = "above range"
    elif z > Z_LIMIT:
        flag = "high"
    elif z < -Z_LIMIT:
        flag = "low"
    return Row(m, norm, z, flag)


def group_of(measurement_id: str) -> str:
    try:
        if View.FRONTAL not in catalogue.definition(measurement_id).views:
            return PROFILE_GROUP
    except KeyError:
        pass
    for title, pattern in GROUPS:
        if pattern.match(measurement_id):
            return title
    return OTHER_GROUP


def grouped_rows(
    measurements: Iterable[Measurement], norms: NormTable | None, sex: str | None
) -> list[tuple[str, list[Row]]]:
    """Rows by report group, groups in :data:`ORDER`, measurements in the given order."""
    groups: dict[str, list[Row]] = {t: [] for t in ORDER}
    for m in measurements:
        groups[group_of(m.id)].append(judge(m, norms, sex))
    return [(t, rows) for t, rows in groups.items() if rows]
