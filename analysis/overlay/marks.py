"""Marks drawn on the photo: lines, landmark contours and colours, angles with their arms.

Points are pixel-centre coordinates (:mod:`analysis.landmark_names`), which is what OpenCV
draws with. Every straight mark goes through :func:`line`, which takes the float
geometry and rounds only to draw: what an overlay draws is exactly what it was given.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import cv2
import numpy as np

from analysis.landmark_names import (
    IBUG68_REGIONS,
    IRIS,
    LEFT_BROW_INDICES,
    LEFT_EYE_INDICES,
    PROFILE,
    RIGHT_BROW_INDICES,
    RIGHT_EYE_INDICES,
    UPPER_FACE,
    ibug_names,
)
from analysis.overlay.canvas import Color, Style, label
from analysis.overlay.captions import unit_text
from analysis.types import ImageArray, Measurement

Point = Sequence[float] | np.ndarray

MIDLINE: Final[Color] = (0, 220, 255)
MIRROR_AXIS: Final[Color] = (200, 120, 255)
THIRDS: Final[Color] = (255, 230, 0)
FIFTHS: Final[Color] = (0, 255, 160)
ANGLE: Final[Color] = (255, 90, 200)
REGION_COLORS: Final[dict[str, Color]] = {
    "jaw": (255, 210, 0),
    "brows": (255, 140, 0),
    "nose": (0, 255, 120),
    "eyes": (80, 170, 255),
    "mouth": (255, 80, 160),
    "iris": (0, 255, 255),
    "other": (230, 230, 230),
}
#: Closed / open polylines that make the iBUG-68 points readable as a face.
_IBUG_CONTOURS: Final[tuple[tuple[tuple[str, ...], bool, str], ...]] = (
    (ibug_names(range(17)), False, "jaw"),
    (ibug_names(RIGHT_BROW_INDICES), False, "brows"),
    (ibug_names(LEFT_BROW_INDICES), False, "brows"),
    (ibug_names(range(27, 31)), False, "nose"),
    (ibug_names(range(31, 36)), False, "nose"),
    (ibug_names(RIGHT_EYE_INDICES), True, "eyes"),
    (ibug_names(LEFT_EYE_INDICES), True, "eyes"),
    (ibug_names(range(48, 60)), True, "mouth"),
    (ibug_names(range(60, 68)), True, "mouth"),
)


def ipt(p: Point) -> tuple[int, int]:
    """The nearest pixel centre."""
    return int(round(float(p[0]))), int(round(float(p[1])))


def line(img: ImageArray, p0: Point, p1: Point, color: Color, thickness: int) -> None:
    """A straight segment from ``p0`` to ``p1`` (float pixel coordinates)."""
    cv2.line(img, ipt(p0), ipt(p1), color, thickness, cv2.LINE_AA)


def dashed_line(img: ImageArray, p0: Point, p1: Point, color: Color, thickness: int) -> None:
    """:func:`line` drawn as dashes (each dash a segment of the same line)."""
    a, b = np.asarray(p0, dtype=np.float64), np.asarray(p1, dtype=np.float64)
    length = float(np.hypot(*(b - a)))
    dash = max(4.0, 4.0 * thickness)
    for start in np.arange(0.0, length, 2.0 * dash):
        end = min(start + dash, length)
        line(img, a + (b - a) * (start / length), a + (b - a) * (end / length), color, thickness)


def span(
    centre: np.ndarray, direction: np.ndarray, points: dict[str, tuple[float, float]]
) -> tuple[np.ndarray, np.ndarray]:
    """The segment of the line through ``centre`` along unit ``direction`` that covers the
    landmarks' extent, plus a margin."""
    pts = np.asarray(list(points.values()))
    t = (pts - centre) @ direction
    pad = 0.12 * float(t.max() - t.min() + 1.0)
    return centre + direction * (float(t.min()) - pad), centre + direction * (float(t.max()) + pad)


def dot(img: ImageArray, p: Point, radius: int, color: Color) -> None:
    """A filled disc at ``p``."""
    cv2.circle(img, ipt(p), radius, color, -1, cv2.LINE_AA)


def color_of(key: str) -> Color:
    """The colour of a landmark: its iBUG region's, else its vocabulary group's."""
    if key.startswith("ibug_") and key[5:].isdigit():
        i = int(key[5:])
        for region, indices in IBUG68_REGIONS.items():
            if i in indices:
                return REGION_COLORS[region]
    if key in IRIS:
        return REGION_COLORS["iris"]
    if key in PROFILE or key in UPPER_FACE:
        return REGION_COLORS["nose"]
    return REGION_COLORS["other"]


def draw_contours(img: ImageArray, points: dict[str, tuple[float, float]], style: Style) -> None:
    """The iBUG-68 outlines (jaw, brows, nose, eyes, lips) whose points are all present."""
    for keys, closed, region in _IBUG_CONTOURS:
        if not all(k in points for k in keys):
            continue
        poly = np.round(np.asarray([points[k] for k in keys])).astype(np.int32)
        cv2.polylines(
            img, [poly], closed, REGION_COLORS[region], max(1, style.thickness // 2), cv2.LINE_AA
        )


def draw_angle(
    img: ImageArray,
    vertex: Point,
    a: Point,
    b: Point,
    m: Measurement,
    style: Style,
) -> None:
    """Two arms from the vertex, an arc between them and the value."""
    pv, pa, pb = (np.asarray(p, dtype=np.float64) for p in (vertex, a, b))
    for p in (pa, pb):
        line(img, pv, p, ANGLE, style.thickness)
    dot(img, pv, style.radius + 1, ANGLE)
    ra = float(np.hypot(*(pa - pv)))
    rb = float(np.hypot(*(pb - pv)))
    radius = max(3, int(round(0.35 * min(ra, rb))))
    t0 = math.degrees(math.atan2(pa[1] - pv[1], pa[0] - pv[0]))
    t1 = math.degrees(math.atan2(pb[1] - pv[1], pb[0] - pv[0]))
    sweep = (t1 - t0 + 540.0) % 360.0 - 180.0  # the short way round, as the angle is measured
    cv2.ellipse(
        img, ipt(pv), (radius, radius), 0.0, t0, t0 + sweep, ANGLE, style.thickness, cv2.LINE_AA,
    )  # fmt: skip
    mid = math.radians(t0 + sweep / 2.0)
    pos = pv + (radius + 4 * style.radius + 4) * np.array([math.cos(mid), math.sin(mid)])
    label(img, f"{m.value:.1f} {unit_text(m.unit)}", pos, style, ANGLE, centred=True)
