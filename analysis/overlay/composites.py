"""Mirrored composites: the photo with one half of the face replaced by the other's
mirror image about the fitted mirror axis (:func:`analysis.geometry.fit_mirror_axis`)."""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np

from analysis.geometry import MirrorAxis
from analysis.types import ImageArray

#: Composite panels of a small face are enlarged to at least this height (pixels).
MIN_COMPOSITE_PX: Final = 420


def mirror_composites(
    pixels: ImageArray,
    centre: np.ndarray,
    direction: np.ndarray,
    right_point: np.ndarray,
    box: tuple[int, int, int, int] | None = None,
) -> tuple[ImageArray, ImageArray]:
    """(right-right, left-left): the photo with one side replaced by the other's mirror image.

    ``right_point`` is any point on the subject's right side (e.g. the right eye centre).
    The seam along the axis is feathered over a few pixels. With ``box`` (x0, y0, x1, y1)
    only that part of the photo is composed (what the overlay shows; much faster on a
    large photo).
    """
    h, w = pixels.shape[:2]
    x0, y0, x1, y1 = box if box is not None else (0, 0, w, h)
    d = np.asarray(direction, dtype=np.float64)
    c = np.asarray(centre, dtype=np.float64)
    r = 2.0 * np.outer(d, d) - np.eye(2)
    off = np.array([x0, y0], dtype=np.float64)
    # output pixel q (box coordinates) shows source pixel R((q + off) - c) + c
    m = np.column_stack([r, r @ (off - c) + c])
    mirrored = cv2.warpAffine(
        pixels, m, (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT,
    )  # fmt: skip
    src = pixels[y0:y1, x0:x1]
    normal = np.array([-d[1], d[0]])
    if float((np.asarray(right_point) - c) @ normal) < 0:
        normal = -normal  # normal points to the subject's right
    gx, gy = np.meshgrid(np.arange(x0, x1, dtype=np.float32), np.arange(y0, y1, dtype=np.float32))
    cx, cy = c.astype(np.float32)
    nx, ny = normal.astype(np.float32)
    signed = (gx - cx) * nx + (gy - cy) * ny
    feather = max(1.0, 0.003 * max(h, w))
    keep_right = np.clip(0.5 + signed / np.float32(2 * feather), 0.0, 1.0)[..., None]
    srcf = src.astype(np.float32)
    mirf = mirrored.astype(np.float32)
    rr = mirf + keep_right * (srcf - mirf)
    ll = srcf + keep_right * (mirf - srcf)
    return (
        np.clip(np.rint(rr), 0, 255).astype(np.uint8),
        np.clip(np.rint(ll), 0, 255).astype(np.uint8),
    )


def composite_panels(
    pixels: ImageArray,
    axis: MirrorAxis,
    right_point: np.ndarray,
    points: dict[str, tuple[float, float]],
) -> list[ImageArray]:
    """The right-right and left-left composites of the face's box, a small face enlarged to
    :data:`MIN_COMPOSITE_PX`."""
    h, w = pixels.shape[:2]
    box = face_crop(points, axis, w, h)
    rr, ll = mirror_composites(pixels, axis.centre, axis.direction, right_point, box)
    zoom = max(1.0, MIN_COMPOSITE_PX / max(box[3] - box[1], 1))
    return [
        np.ascontiguousarray(
            cv2.resize(c, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
            if zoom > 1.0
            else c,
            dtype=np.uint8,
        )
        for c in (rr, ll)
    ]


def face_crop(
    points: dict[str, tuple[float, float]], axis: MirrorAxis, width: int, height: int
) -> tuple[int, int, int, int]:
    """A box around the face (and its mirror image), clipped to the photo."""
    pts = np.asarray(list(points.values()), dtype=np.float64)
    mx, my = axis.reflect(pts[:, 0], pts[:, 1])
    both = np.vstack([pts, np.column_stack([mx, my])])
    lo, hi = both.min(axis=0), both.max(axis=0)
    pad = 0.25 * (hi - lo)
    x0, y0 = np.floor(lo - pad).astype(int)
    x1, y1 = np.ceil(hi + pad).astype(int)
    x0, y0 = max(int(x0), 0), max(int(y0), 0)
    x1, y1 = min(int(x1), width), min(int(y1), height)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return 0, 0, width, height
    return x0, y0, x1, y1
