"""Annotated copies of a photo for surgeons (numpy / OpenCV only, no DICOM).

:func:`render_overlays` runs every renderer in :data:`OVERLAYS` and returns
``(title, image)`` pairs; the DICOM layer turns each into a Secondary Capture. Each image is
the photo on a canvas with a red top banner "AI result - not a diagnosis" and a caption band
below, so no annotation ever hides part of the face. Add an overlay (thirds/fifths, angles,
mirrored composites) by appending a renderer to :data:`OVERLAYS`; a renderer returns None
when it has nothing to show for this result.

Points are pixel-centre coordinates (:mod:`analysis.landmark_names`), which is what OpenCV
draws with; text is ASCII because OpenCV's Hershey fonts are.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from analysis.landmark_names import IBUG68_REGIONS, IRIS, PROFILE, UPPER_FACE
from analysis.types import ImageArray, Measurement, Photo, PhotoAnalysis, View

BANNER_TEXT: Final[str] = "AI result - not a diagnosis"
NO_FACE_TEXT: Final[str] = "No face detected"

Color = tuple[int, int, int]  # RGB
BANNER_BG: Final[Color] = (170, 20, 20)
WHITE: Final[Color] = (255, 255, 255)
CAPTION_BG: Final[Color] = (24, 24, 24)
MIDLINE: Final[Color] = (0, 220, 255)
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
_IBUG_CONTOURS: Final[tuple[tuple[tuple[int, ...], bool, str], ...]] = (
    (tuple(range(17)), False, "jaw"),
    (tuple(range(17, 22)), False, "brows"),
    (tuple(range(22, 27)), False, "brows"),
    (tuple(range(27, 31)), False, "nose"),
    (tuple(range(31, 36)), False, "nose"),
    (tuple(range(36, 42)), True, "eyes"),
    (tuple(range(42, 48)), True, "eyes"),
    (tuple(range(48, 60)), True, "mouth"),
    (tuple(range(60, 68)), True, "mouth"),
)
_MIDLINE_KEYS: Final[tuple[str, ...]] = (
    "ibug_27", "ibug_28", "ibug_29", "ibug_30", "ibug_33", "ibug_51", "ibug_57", "ibug_08",
)  # fmt: skip
MAX_CAPTION_MEASUREMENTS: Final[int] = 8

Renderer = Callable[[Photo, PhotoAnalysis], ImageArray | None]


@dataclass(frozen=True)
class _Style:
    """Sizes that scale with the photo so marks stay visible on 512 px and 6000 px alike."""

    radius: int
    thickness: int
    font_scale: float
    font_thickness: int
    line_height: int
    margin: int

    @classmethod
    def for_image(cls, width: int, height: int) -> _Style:
        short = min(width, height)
        font_scale = max(0.45, min(width, 2400) / 1100.0)
        font_thickness = max(1, round(font_scale * 1.6))
        (_, text_h), baseline = cv2.getTextSize(
            "Ag", cv2.FONT_HERSHEY_SIMPLEX, font_scale, font_thickness
        )
        return cls(
            radius=max(1, round(short / 300)),
            thickness=max(1, round(short / 500)),
            font_scale=font_scale,
            font_thickness=font_thickness,
            line_height=int((text_h + baseline) * 1.5),
            margin=max(4, round(font_scale * 12)),
        )


def render_overlays(photo: Photo, result: PhotoAnalysis) -> list[tuple[str, ImageArray]]:
    """Every overlay that has something to show; a no-face result gives one that says so."""
    if not result.face_found:
        return [("No face detected", render_no_face(photo, result))]
    out: list[tuple[str, ImageArray]] = []
    for title, renderer in OVERLAYS:
        image = renderer(photo, result)
        if image is not None:
            out.append((title, image))
    return out


# --- renderers ------------------------------------------------------------------------


def render_landmarks(photo: Photo, result: PhotoAnalysis) -> ImageArray | None:
    """All landmarks, the facial midline (non-profile views) and the key measurements."""
    points = landmark_points(result)
    if not points:
        return None
    img = photo.pixels.copy()
    style = _Style.for_image(photo.width, photo.height)
    _draw_contours(img, points, style)
    view = result.quality.view if result.quality is not None else View.UNKNOWN
    if view not in (View.PROFILE_LEFT, View.PROFILE_RIGHT):
        line = facial_midline(points, photo.width, photo.height)
        if line is not None:
            cv2.line(img, _ipt(line[0]), _ipt(line[1]), MIDLINE, style.thickness, cv2.LINE_AA)
    radius = style.radius if len(points) <= 150 else max(1, style.radius // 2)  # dense raw sets
    for key, (x, y) in points.items():
        cv2.circle(img, _ipt((x, y)), radius, _color_of(key), -1, cv2.LINE_AA)
    return compose(img, caption_lines(result), style)


def render_no_face(photo: Photo, result: PhotoAnalysis) -> ImageArray:
    """The photo with the banner and a caption saying no face was found."""
    style = _Style.for_image(photo.width, photo.height)
    lines = [NO_FACE_TEXT]
    if result.message:
        lines.append(result.message)
    return compose(photo.pixels.copy(), lines, style)


#: The overlays made for a photo with a face, in order (title, renderer).
OVERLAYS: Final[list[tuple[str, Renderer]]] = [
    ("Landmarks", render_landmarks),
]


# --- geometry -------------------------------------------------------------------------


def landmark_points(result: PhotoAnalysis) -> dict[str, tuple[float, float]]:
    """Named points to draw: the semantic landmarks, else the backend's raw points."""
    if result.semantic is not None and result.semantic.points:
        pts = result.semantic.points
    elif result.landmarks is not None:
        ls = result.landmarks
        pts = {f"{ls.scheme}_{i:03d}": (float(p[0]), float(p[1])) for i, p in enumerate(ls.points)}
    else:
        return {}
    return {
        k: (float(x), float(y))
        for k, (x, y) in pts.items()
        if math.isfinite(x) and math.isfinite(y)
    }


def facial_midline(
    points: dict[str, tuple[float, float]], width: int, height: int
) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Midline as a segment across the face: perpendicular to the pupil (else canthal)
    axis through its midpoint; else a line fitted through the midline points."""
    for left, right in (("pupil_l", "pupil_r"), ("ibug_45", "ibug_36"), ("ibug_42", "ibug_39")):
        if left in points and right in points:
            a, b = np.asarray(points[right]), np.asarray(points[left])
            axis = b - a
            norm = float(np.hypot(*axis))
            if norm > 1e-6:
                centre = (a + b) / 2
                direction = np.array([-axis[1], axis[0]]) / norm
                if direction[1] < 0:
                    direction = -direction  # point down the face
                return _span(centre, direction, points)
    mids = np.asarray([points[k] for k in _MIDLINE_KEYS if k in points])
    if len(mids) >= 2:
        centre = mids.mean(axis=0)
        _, _, vt = np.linalg.svd(mids - centre)
        direction = vt[0] if vt[0][1] >= 0 else -vt[0]
        return _span(centre, direction, points)
    return None


def _span(
    centre: np.ndarray, direction: np.ndarray, points: dict[str, tuple[float, float]]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The segment along ``direction`` covering the landmarks' extent plus a margin."""
    pts = np.asarray(list(points.values()))
    t = (pts - centre) @ direction
    pad = 0.12 * float(t.max() - t.min() + 1.0)
    p0 = centre + direction * (float(t.min()) - pad)
    p1 = centre + direction * (float(t.max()) + pad)
    return (float(p0[0]), float(p0[1])), (float(p1[0]), float(p1[1]))


def _ipt(p: Sequence[float] | tuple[float, float]) -> tuple[int, int]:
    return int(round(p[0])), int(round(p[1]))


def _color_of(key: str) -> Color:
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


def _draw_contours(img: ImageArray, points: dict[str, tuple[float, float]], style: _Style) -> None:
    for indices, closed, region in _IBUG_CONTOURS:
        keys = [f"ibug_{i:02d}" for i in indices]
        if not all(k in points for k in keys):
            continue
        poly = np.round(np.asarray([points[k] for k in keys])).astype(np.int32)
        cv2.polylines(
            img, [poly], closed, REGION_COLORS[region], max(1, style.thickness // 2), cv2.LINE_AA
        )


# --- text -----------------------------------------------------------------------------


def format_measurement(m: Measurement) -> str:
    """``Name: value unit +/- sigma`` in ASCII; '*' marks a value flagged unreliable."""
    unit = {"deg": " deg", "%": " %", "{ratio}": "", "mm": " mm", "[px]": " px"}.get(
        m.unit, f" {m.unit}"
    )
    decimals = 2 if m.unit == "{ratio}" else 1
    text = f"{_ascii(m.name)}: {m.value:.{decimals}f}{unit}"
    if math.isfinite(m.uncertainty) and m.uncertainty > 0:
        text += f" +/- {m.uncertainty:.{decimals}f}"
    if not m.reliable:
        text += " *"
    return text


def caption_lines(result: PhotoAnalysis) -> list[str]:
    """Key measurements (reliable ones first, catalogue order), scale and reliability."""
    ms = [m for m in result.measurements if math.isfinite(m.value)]
    ms.sort(key=lambda m: not m.reliable)  # stable: keeps catalogue order within each group
    lines = [format_measurement(m) for m in ms[:MAX_CAPTION_MEASUREMENTS]]
    if len(ms) > MAX_CAPTION_MEASUREMENTS:
        lines.append(f"... {len(ms) - MAX_CAPTION_MEASUREMENTS} more in the structured report")
    if any(not m.reliable for m in ms[:MAX_CAPTION_MEASUREMENTS]):
        lines.append("* flagged unreliable")
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
    return [_ascii(line) for line in lines] or ["No measurements"]


def _ascii(text: str) -> str:
    table = {"\u00b1": "+/-", "\u00b0": " deg", "\u2013": "-", "\u2014": "-", "\u00d7": "x"}
    for k, v in table.items():
        text = text.replace(k, v)
    return text.encode("ascii", "replace").decode("ascii")


def _wrap(text: str, max_width: int, style: _Style) -> list[str]:
    words, lines, current = text.split(), [], ""
    for word in words:
        trial = f"{current} {word}".strip()
        if current and _text_width(trial, style) > max_width:
            lines.append(current)
            current = word
        else:
            current = trial
    if current:
        lines.append(current)
    return lines or [""]


def _text_width(text: str, style: _Style) -> int:
    (w, _), _ = cv2.getTextSize(
        text, cv2.FONT_HERSHEY_SIMPLEX, style.font_scale, style.font_thickness
    )
    return int(w)


def _put(img: ImageArray, text: str, x: int, y: int, style: _Style, color: Color) -> None:
    cv2.putText(
        img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, style.font_scale, color,
        style.font_thickness, cv2.LINE_AA,
    )  # fmt: skip


def compose(image: ImageArray, caption: Sequence[str], style: _Style) -> ImageArray:
    """Photo on a canvas: banner on top, caption band below (wider canvas for tiny photos)."""
    h, w = image.shape[:2]
    width = max(w, _text_width(BANNER_TEXT, style) + 2 * style.margin)
    text_w = width - 2 * style.margin
    lines = [wrapped for line in caption for wrapped in _wrap(_ascii(line), text_w, style)]
    banner_h = style.line_height + style.margin
    caption_h = style.line_height * len(lines) + style.margin
    canvas = np.zeros((banner_h + h + caption_h, width, 3), dtype=np.uint8)
    canvas[:banner_h] = BANNER_BG
    canvas[banner_h : banner_h + h, :w] = image
    canvas[banner_h + h :] = CAPTION_BG
    bx = max(style.margin, (width - _text_width(BANNER_TEXT, style)) // 2)
    _put(canvas, BANNER_TEXT, bx, banner_h - style.margin, style, WHITE)
    y = banner_h + h
    for line in lines:
        y += style.line_height
        _put(canvas, line, style.margin, y - style.margin // 2, style, WHITE)
    return canvas
