"""The overlays' caption text: measurements as ``Name: value unit +/- sigma``, the scale,
and what makes a value unreliable (ASCII, for OpenCV's fonts)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from analysis.overlay.canvas import to_ascii
from analysis.types import ASYMMETRY_UNCONFIRMED, Measurement, PhotoAnalysis

MAX_CAPTION_MEASUREMENTS: Final[int] = 8


def finite_measurements(result: PhotoAnalysis) -> dict[str, Measurement]:
    """The result's measurements with a value, by id."""
    return {m.id: m for m in result.measurements if math.isfinite(m.value)}


def caption_for(result: PhotoAnalysis, ids: Sequence[str], note: str) -> list[str]:
    """``note`` and the measurements ``ids`` the result has, with the unreliability key."""
    ms = finite_measurements(result)
    lines = [note] + [format_measurement(ms[i]) for i in ids if i in ms]
    if any(not ms[i].reliable for i in ids if i in ms):
        lines.append("* flagged unreliable")
    return lines


def unit_text(unit: str) -> str:
    """A UCUM unit as drawn next to a value on the face."""
    return {"deg": "deg", "mm": "mm", "[px]": "px", "%": "%", "{ratio}": ""}.get(unit, unit)


def _only_unconfirmed(m: Measurement) -> bool:
    """The value's only flag is ASYMMETRY_UNCONFIRMED: usable as a lower bound."""
    return m.flags == (ASYMMETRY_UNCONFIRMED,)


def format_measurement(m: Measurement) -> str:
    """``Name: value unit +/- sigma`` in ASCII; '*' marks a value flagged unreliable, '+'
    an asymmetry the photo did not confirm (the landmark model's value, may be larger)."""
    unit = {"deg": " deg", "%": " %", "{ratio}": "", "mm": " mm", "[px]": " px"}.get(
        m.unit, f" {m.unit}"
    )
    decimals = 2 if m.unit == "{ratio}" else 1
    text = f"{to_ascii(m.name)}: {m.value:.{decimals}f}{unit}"
    if math.isfinite(m.uncertainty) and m.uncertainty > 0:
        text += f" +/- {m.uncertainty:.{decimals}f}"
    if _only_unconfirmed(m):
        text += " +"
    elif not m.reliable:
        text += " *"
    return text


def caption_lines(result: PhotoAnalysis) -> list[str]:
    """Key measurements (reliable ones first, catalogue order), scale and reliability."""
    ms = [m for m in result.measurements if math.isfinite(m.value)]
    ms.sort(key=lambda m: not m.reliable)  # stable: keeps catalogue order within each group
    shown = ms[:MAX_CAPTION_MEASUREMENTS]
    lines = [format_measurement(m) for m in shown]
    if len(ms) > MAX_CAPTION_MEASUREMENTS:
        lines.append(f"... {len(ms) - MAX_CAPTION_MEASUREMENTS} more in the structured report")
    if any(not m.reliable and not _only_unconfirmed(m) for m in shown):
        lines.append("* flagged unreliable")
    if any(_only_unconfirmed(m) for m in shown):
        lines.append("+ asymmetry not confirmed in the photo: the model's value, may be larger")
    if result.scale is not None:
        sc = result.scale
        if sc.mm_per_px is not None:
            lines.append(
                f"Scale: {sc.mm_per_px:.4f} mm/px from {sc.source.value.replace('_', ' ')} "
                f"(+/- {100 * sc.relative_uncertainty:.0f} %)"
            )
        else:
            lines.append("Scale: none - distances in pixels")
    if result.quality is not None and not result.quality.reliable:
        lines.append("UNRELIABLE: " + ", ".join(result.quality.flags))
    return [to_ascii(line) for line in lines] or ["No measurements"]
