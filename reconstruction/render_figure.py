"""Renderings of the face mesh as figures a surgeon reads in the viewer: the rendering, a
colour bar in mm for a scalar map, a title, notes and the "AI result" banner.

The layout keeps text away from the top edge, which OHIF's cine control covers when it
opens (issue 12): the top band is left empty, and the title, the notes and the red banner
(:data:`analysis.overlay.canvas.BANNER_TEXT`, the 2D overlays' banner) lie below the
rendering. Text is ASCII in OpenCV's Hershey font, sized with the 2D overlays'
:class:`~analysis.overlay.canvas.Style`. A :class:`Figure` keeps the rendering's camera
and where the rendering sits on the canvas, so 3D points (landmarks) map to canvas pixels
(:meth:`Figure.to_canvas`), which is what the 3D report's drawn regions need.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from analysis.overlay.canvas import BANNER_BG, BANNER_TEXT, CAPTION_BG, WHITE, Style, to_ascii
from analysis.types import ImageArray, InvalidInputError
from reconstruction.render import (
    ColourMap,
    RayScene,
    Rendering,
    RenderView,
    render_scalar,
    render_surface,
    view_camera,
)
from reconstruction.types import FloatArray, PinholeCamera

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive ends)
NOTE_COLOUR = (200, 200, 200)
DEFAULT_SIZE = (720, 860)  # width, height of the rendering (a face is taller than wide)
VIEW_TITLES: dict[RenderView, str] = {
    RenderView.FRONT: "3D face surface - front view",
    RenderView.RIGHT_PROFILE: "3D face surface - right profile",
    RenderView.LEFT_PROFILE: "3D face surface - left profile",
}


@dataclass(frozen=True)
class ColourBar:
    """Where the colour bar was drawn: the bar, each tick's value and row, each tick label's
    box, and the unit label's box (canvas pixels)."""

    box: Box
    ticks: tuple[tuple[float, int], ...]
    label_boxes: tuple[Box, ...]
    unit: str
    unit_box: Box
    colour_map: ColourMap


@dataclass(frozen=True, eq=False)
class Figure:
    """A composed figure: ``image`` (RGB canvas), the rendering's ``camera`` and the canvas
    position of its top-left pixel (``origin``), and the colour bar when there is one."""

    image: ImageArray
    camera: PinholeCamera
    origin: tuple[int, int]
    title: str
    view: RenderView | None = None
    colour_bar: ColourBar | None = None

    @property
    def render_box(self) -> Box:
        x, y = self.origin
        return x, y, x + self.camera.width, y + self.camera.height

    def to_canvas(self, points: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(N×2 canvas pixel coordinates, N depths) of N×3 points in the mesh's frame."""
        px, z = self.camera.project(np.asarray(points, dtype=np.float64).reshape(-1, 3))
        return np.asarray(px + np.asarray(self.origin, dtype=np.float64)), z


def nice_step(limit: float, max_ticks: int = 7) -> float:
    """A 1-2-5 tick step giving at most ``max_ticks`` ticks over ``[−limit, +limit]``."""
    raw = 2.0 * limit / max(max_ticks - 1, 1)
    base = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if m * base >= raw - 1e-12:
            return m * base
    return 10.0 * base


def _tick_text(value: float, step: float) -> str:
    decimals = 0 if step >= 1.0 else max(1, -math.floor(math.log10(step)))
    v = 0.0 if abs(value) < step * 1e-6 else value
    return f"{v:+.{decimals}f}" if v else f"{0.0:.{decimals}f}"


def _text_size(text: str, scale: float, thickness: int) -> tuple[int, int, int]:
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    return int(w), int(h), int(base)


def _put(img: ImageArray, text: str, x: int, y: int, scale: float, thick: int,
         colour: tuple[int, int, int]) -> None:  # fmt: skip
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)


def _wrap(text: str, width: int, scale: float, thick: int) -> list[str]:
    words, lines, cur = to_ascii(text).split(), [], ""
    for word in words:
        trial = f"{cur} {word}".strip()
        if cur and _text_size(trial, scale, thick)[0] > width:
            lines.append(cur)
            cur = word
        else:
            cur = trial
    return [*lines, cur] if cur else lines or [""]


def compose(
    rendering: Rendering,
    title: str,
    notes: Sequence[str] = (),
    *,
    colour_map: ColourMap | None = None,
    unit: str = "mm",
    view: RenderView | None = None,
) -> Figure:
    """The rendering on a canvas: an empty top band, the rendering (with the colour bar of
    ``colour_map`` to its right), then the title, the notes and the banner below."""
    img = rendering.image
    h, w = img.shape[:2]
    style = Style.for_image(w, h)
    fs, ft, lh, mg = style.font_scale, style.font_thickness, style.line_height, style.margin
    panel_w = 0
    if colour_map is not None:
        label_w = _text_size(_tick_text(-colour_map.limit, nice_step(colour_map.limit)), fs, ft)[0]
        bar_w = max(12, round(0.035 * w))
        panel_w = mg + bar_w + mg // 2 + round(0.4 * mg) + label_w + 2 * mg
        panel_w = max(panel_w, _text_size(unit, fs, ft)[0] + 2 * mg)
    width = max(w + panel_w, _text_size(BANNER_TEXT, fs, ft)[0] + 2 * mg)
    text_w = width - 2 * mg
    title_scale, title_thick = fs * 1.25, ft + 1
    title_lh = round(lh * 1.25)
    title_lines = _wrap(title, text_w, title_scale, title_thick)
    note_scale, note_thick = fs * 0.8, max(1, ft - 1)
    note_lh = max(1, round(lh * 0.8))
    note_lines = [ln for n in notes for ln in _wrap(n, text_w, note_scale, note_thick)]
    top = 2 * lh  # left empty: OHIF's cine control opens over the top edge
    banner_h = lh + mg
    bottom = mg + title_lh * len(title_lines) + note_lh * len(note_lines) + mg + banner_h + mg
    canvas = np.empty((top + h + bottom, width, 3), np.uint8)
    canvas[:] = CAPTION_BG
    canvas[top : top + h, :w] = img
    y = top + h + mg
    for line in title_lines:
        y += title_lh
        _put(canvas, line, mg, y - mg // 2, title_scale, title_thick, WHITE)
    for line in note_lines:
        y += note_lh
        _put(canvas, line, mg, y - mg // 3, note_scale, note_thick, NOTE_COLOUR)
    y += mg
    canvas[y : y + banner_h] = BANNER_BG
    bx = max(mg, (width - _text_size(BANNER_TEXT, fs, ft)[0]) // 2)
    _put(canvas, BANNER_TEXT, bx, y + banner_h - mg, fs, ft, WHITE)
    bar = None
    if colour_map is not None:
        bar = _draw_colour_bar(canvas, colour_map, unit, (w, top, w + panel_w, top + h), style)
    return Figure(canvas, rendering.camera, (0, top), to_ascii(title), view, bar)


def _draw_colour_bar(
    canvas: ImageArray, cmap: ColourMap, unit: str, panel: Box, style: Style
) -> ColourBar:
    """A vertical bar, +limit at the top, with 1-2-5 ticks labelled in ``unit``."""
    fs, ft, mg = style.font_scale, style.font_thickness, style.margin
    px0, py0, _, py1 = panel
    ph = py1 - py0
    bar_w = max(12, round(0.035 * px0))  # as compose sized the panel: px0 is the render width
    x0, x1 = px0 + mg, px0 + mg + bar_w
    y0, y1 = py0 + round(0.14 * ph), py0 + round(0.86 * ph)
    rows = np.arange(y0, y1)
    values = cmap.limit - (rows - y0 + 0.5) / (y1 - y0) * 2 * cmap.limit
    colours = np.clip(np.rint(cmap(values)), 0, 255).astype(np.uint8)
    canvas[y0:y1, x0:x1] = colours[:, None, :]
    cv2.rectangle(canvas, (x0 - 1, y0 - 1), (x1, y1), WHITE, 1)
    step = nice_step(cmap.limit)
    n = int(math.floor(cmap.limit / step + 1e-9))
    ticks, boxes = [], []
    tick_len = max(4, round(0.4 * mg))
    for k in range(n, -n - 1, -1):
        v = k * step
        y = int(round(y0 + (cmap.limit - v) / (2 * cmap.limit) * (y1 - y0) - 0.5))
        y = min(max(y, y0), y1 - 1)  # the end ticks on the bar's first / last row
        cv2.line(canvas, (x1, y), (x1 + tick_len, y), WHITE, max(1, ft // 2), cv2.LINE_AA)
        text = _tick_text(v, step)
        tw, th, base = _text_size(text, fs, ft)
        tx, ty = x1 + tick_len + mg // 2, y + th // 2
        _put(canvas, text, tx, ty, fs, ft, WHITE)
        ticks.append((v, y))
        boxes.append((tx, ty - th, tx + tw, ty + base))
    uw, uh, ub = _text_size(unit, fs, ft)
    ux, uy = x0, y0 - mg - ub
    _put(canvas, unit, ux, uy, fs, ft, WHITE)
    return ColourBar(
        (x0, y0, x1, y1), tuple(ticks), tuple(boxes), unit, (ux, uy - uh, ux + uw, uy + ub), cmap
    )


def surface_figure(
    scene: RayScene,
    view: RenderView,
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    axes: FloatArray | None = None,
    notes: Sequence[str] = (),
    title: str | None = None,
    supersample: int = 2,
) -> Figure:
    """The textured (or vertex-coloured, or clay) surface from a named view."""
    cam = view_camera(scene.vertices, view, *size, axes=axes)
    rendering = render_surface(scene, cam, supersample=supersample)
    return compose(rendering, title or VIEW_TITLES[view], notes, view=view)


def asymmetry_figure(
    scene: RayScene,
    signed_mm: FloatArray,
    *,
    limit_mm: float = 3.0,
    view: RenderView = RenderView.FRONT,
    size: tuple[int, int] = DEFAULT_SIZE,
    axes: FloatArray | None = None,
    notes: Sequence[str] | None = None,
    title: str = "3D asymmetry map - signed distance to the mirrored surface",
    supersample: int = 2,
    ambient: float = 0.75,
) -> Figure:
    """The per-vertex signed asymmetry (mm) as a diverging colour map over ±``limit_mm``
    with its colour bar; values beyond the limit take the end colours."""
    values = np.asarray(signed_mm, dtype=np.float64)
    if values.shape != (len(scene.vertices),):
        raise InvalidInputError(
            f"signed_mm must hold one value per vertex ({len(scene.vertices)}), "
            f"got shape {values.shape}"
        )
    cmap = ColourMap.diverging(limit_mm)
    cam = view_camera(scene.vertices, view, *size, axes=axes)
    rendering = render_scalar(scene, cam, values, cmap, supersample=supersample, ambient=ambient)
    if notes is None:
        notes = (
            f"Red: surface in front of its mirror image; blue: behind it. Colours end at "
            f"+/-{limit_mm:g} mm; grey: no mirrored surface.",
        )
    return compose(rendering, title, notes, colour_map=cmap, view=view)
