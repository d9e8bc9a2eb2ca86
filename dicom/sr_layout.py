"""Where each family's label box lands in a viewer, and the drawn shape that puts it there.

OHIF draws an annotation's label box from an anchor on its shape, 25 px right of and
below it, lines 1.2 em (≈ 17 px) apart, and never moves it (``DICOMSRDisplayTool
.renderTextBox`` → cornerstone ``getTextBoxCoordsCanvas``; the position is stored in
world coordinates on the first render, so it zooms with the image while the box keeps
its size). The anchor differs between versions:

* 3.12: the right-most of the shape's *first two* points, at their mean height;
* 3.13: the shape's right-most x, at the middle of its vertical extent.

A family's outline alone sets both (most outlines share the face's right edge and the
eye-to-chin band, so the boxes piled up). Each family's region is therefore its
landmarks' outline plus one *leader* point right of the face, written first and followed
by the outline's top (or bottom) point: that pair gives 3.12 its anchor, and the leader
extends the shape's vertical extent so that 3.13's anchor is the same point. The anchors
form a ladder down the face's right side, each family as close to its own height as the
boxes above it allow (isotonic regression of the anatomical heights under the spacing
constraints), spaced so that the boxes do not overlap once the face is shown at least
:data:`FACE_SCREEN_PX` tall; below that zoom (a whole 512-px photo fitted to a window
shows the face ≈ 200 px tall, for ≈ 600 px of label text) no placement can avoid it. An
image whose size on screen is known passes its own scale instead (``image_per_px``: the 3D
report's front rendering, whose face fills a fixed part of it, is spaced for the rendering
fitted to a viewer's viewport, :data:`dicom.sr3d.RENDERING_SCREEN_PX`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

Point = tuple[float, float]

LINE_PX: Final = 16.8  # OHIF: 14 px font, one tspan per line at dy = 1.2 em
BOX_GAP_PX: Final = 4.0  # between one box's last line and the next box
FACE_SCREEN_PX: Final = 700.0  # the face's on-screen height at which no boxes overlap
LEADER_GAP: Final = 0.03  # leader points this fraction of the face width right of it


@dataclass(frozen=True)
class Family:
    """One label box: its line count and the outline it is drawn with (closed or a line)."""

    title: str
    lines: int
    outline: list[Point]


def band(points: Sequence[Point]) -> tuple[float, float]:
    ys = [p[1] for p in points]
    return min(ys), max(ys)


def ladder(centres: Sequence[float], heights: Sequence[float]) -> list[float]:
    """Anchor heights nearest ``centres`` (least squares) with ``y[i+1] - y[i] >= heights[i]``.

    ``centres`` in ladder order. With ``z[i] = y[i] - sum(heights[:i])`` the constraint
    is ``z`` non-decreasing: isotonic regression (pool adjacent violators).
    """
    offsets = [0.0]
    for h in heights[:-1]:
        offsets.append(offsets[-1] + h)
    targets = [c - o for c, o in zip(centres, offsets, strict=True)]
    blocks: list[list[float]] = []  # [mean, weight]
    for t in targets:
        blocks.append([t, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2 = blocks.pop()
            m1, w1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2])
    z = [m for m, w in blocks for _ in range(int(w))]
    return [zi + o for zi, o in zip(z, offsets, strict=True)]


def image_per_screen_px(face: Sequence[Point], image_per_px: float | None = None) -> float:
    """Image px per screen px at the least zoom the ladders are spaced for: ``image_per_px``
    when given (an image whose size on screen is known), else that of the face
    :data:`FACE_SCREEN_PX` tall."""
    if image_per_px is not None:
        return image_per_px
    top, bottom = band(face)
    return (bottom - top) / FACE_SCREEN_PX


def place(
    families: Sequence[Family], face: Sequence[Point], image_per_px: float | None = None
) -> dict[str, list[Point]]:
    """Each family's drawn polyline: leader point, then its outline from its top or bottom.

    ``face``: every landmark of the photo (its extent sets the leader's x); boxes spaced
    for :func:`image_per_screen_px` of ``face`` and ``image_per_px``.
    """
    x_right = max(p[0] for p in face)
    width = x_right - min(p[0] for p in face)
    image_per_px = image_per_screen_px(face, image_per_px)
    x_leader = x_right + LEADER_GAP * width
    order = sorted(families, key=lambda f: (sum(band(f.outline)) / 2, f.title))
    centres = [sum(band(f.outline)) / 2 for f in order]
    heights = [(f.lines * LINE_PX + BOX_GAP_PX) * image_per_px for f in order]
    shapes = {}
    for family, y in zip(order, ladder(centres, heights), strict=True):
        shapes[family.title] = _with_leader(family.outline, x_leader, y)
    return shapes


def _with_leader(outline: list[Point], x: float, y: float) -> list[Point]:
    """``outline`` with a leader point first, so that both OHIF rules anchor at (x, y)."""
    g0, g1 = band(outline)
    closed = len(outline) > 2 and outline[0] == outline[-1]
    ring = outline[:-1] if closed else outline
    if y >= (g0 + g1) / 2:  # leader below: it pairs with the outline's top point
        start = min(range(len(ring)), key=lambda i: (ring[i][1], -ring[i][0]))
        leader = (x, 2 * y - g0)
    else:
        start = max(range(len(ring)), key=lambda i: (ring[i][1], ring[i][0]))
        leader = (x, 2 * y - g1)
    if closed:
        path = ring[start:] + ring[:start]
        path.append(path[0])
    elif start == 0:
        path = list(ring)
    else:  # an open line (two points or more): walk it from the chosen end
        path = list(reversed(ring)) if start == len(ring) - 1 else ring[start:] + ring[:start]
    shape = [leader, *path]
    while len(shape) in (4, 5):  # never a "rectangle" OHIF would offer to re-measure
        a, b = shape[-2], shape[-1]
        shape.insert(-1, ((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0))
    return shape


def anchor(shape: Sequence[Point], version: str) -> Point:
    """Where OHIF ``version`` anchors the label box of a drawn polyline (image coordinates)."""
    if version.startswith("3.12"):
        (x0, y0), (x1, y1) = shape[0], shape[1]
        return max(x0, x1), (y0 + y1) / 2
    lo, hi = band(shape)
    return max(p[0] for p in shape), (lo + hi) / 2
