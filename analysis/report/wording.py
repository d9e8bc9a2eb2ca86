"""How the report words values, units and reliability reasons (plain, for a surgeon)."""

from __future__ import annotations

from typing import Final

_PRECISION: Final = {"mm": 1, "deg": 1, "%": 1, "{ratio}": 2, "[px]": 0}
_UNIT: Final = {"mm": " mm", "deg": "°", "%": " %", "{ratio}": "", "[px]": " px"}

#: Per-measurement reliability flags, as the table's notes say them.
MEASUREMENT_FLAGS: Final = {
    "scale_assumed": "scale rests on the average IPD",
    "scale_from_this_measurement": "sets the scale",
    "view_not_ideal": "view not ideal",
    "head_rotated": "head turned",
    "low_landmark_confidence": "uncertain landmarks",
    "asymmetry_unconfirmed": "asymmetry not confirmed in photo",
    "mouth_open": "mouth open",
    "smiling": "smiling",
    "eyes_closed": "eyes closed",
    "no_scale": "no scale (pixels)",
}

#: Photo-level quality flags, as the warnings section explains them.
QUALITY_FLAGS: Final = {
    "no_face": "No face was detected.",
    "low_detection_confidence": "The face detector was not confident that this is a face.",
    "face_too_small": "The face is small in the photo, so landmarks are less precise.",
    "blurred": "The photo is blurred; landmarks are less precise.",
    "low_landmark_confidence": "Landmark placement is uncertain.",
    "landmarks_outside_image": "Part of the face lies outside the photo.",
    "head_rotated": "The head is turned or tilted: left/right comparisons are distorted.",
    "eyes_closed": "Eyes closed: eye measurements are affected.",
    "mouth_open": "Mouth open: lip and lower-face measurements are affected.",
    "smiling": "Smiling: lip, mouth and cheek measurements are affected.",
}

SEVERITY_LABEL: Final = {"info": "Info", "mild": "Mild", "moderate": "Moderate", "marked": "Marked"}


def number(x: float | None, unit: str) -> str:
    """``x`` at the unit's precision, with a real minus sign; "–" for no value."""
    if x is None:
        return "–"
    text = f"{x:.{_PRECISION.get(unit, 2)}f}"
    if text.startswith("-") and not text.strip("-0."):
        text = text[1:]  # no "-0.0"
    return text.replace("-", "\u2212")


def with_unit(x: float | None, unit: str) -> str:
    return number(x, unit) + (_UNIT.get(unit, f" {unit}") if x is not None else "")


def unit_text(unit: str) -> str:
    return _UNIT.get(unit, f" {unit}").strip()


def signed(z: float | None) -> str:
    if z is None:
        return "–"
    text = f"{z:+.1f}"
    if text == "-0.0":
        text = "+0.0"
    return text.replace("-", "\u2212")


def flag_text(flag: str) -> str:
    key = str(flag)
    return MEASUREMENT_FLAGS.get(key, key.replace("_", " "))


def quality_text(flag: str) -> str:
    key = str(flag)
    return QUALITY_FLAGS.get(key, key.replace("_", " ").capitalize() + ".")


def words(value: str) -> str:
    """An enum value or id as words ("oblique_right" → "oblique right")."""
    return str(value).replace("_", " ")
