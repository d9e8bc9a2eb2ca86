"""Overlay images reduced for the report: at most :data:`MAX_SIDE` pixels, JPEG.

A PDF page shows an image at most ~18 cm wide; 1600 px is ~225 dpi there, sharp on paper
and on screen, and keeps a report of five overlays around a megabyte instead of the tens
of megabytes the full-size overlays of a 24-MP photo would make.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import cv2
import numpy as np

from analysis.report.model import ReportImage
from analysis.types import ImageArray

MAX_SIDE: Final = 1600
JPEG_QUALITY: Final = 88


def prepare_image(title: str, image: ImageArray, max_side: int = MAX_SIDE) -> ReportImage:
    """``image`` (H×W×3 RGB uint8) scaled down to ``max_side`` and JPEG-encoded."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"report image must be H×W×3, got shape {getattr(image, 'shape', None)}")
    if image.dtype != np.uint8:
        raise ValueError(f"report image must be uint8, got {image.dtype}")
    h, w = image.shape[:2]
    factor = min(1.0, max_side / max(h, w))
    small: ImageArray = image
    if factor < 1.0:
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        small = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
    bgr = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 RGB image
        raise ValueError(f"could not JPEG-encode the report image {title!r}")
    return ReportImage(title, buf.tobytes(), int(bgr.shape[1]), int(bgr.shape[0]))


def prepare_images(overlays: Sequence[tuple[str, ImageArray]]) -> tuple[ReportImage, ...]:
    """Every ``(title, image)`` overlay as a :class:`ReportImage`, in order."""
    return tuple(prepare_image(title, image) for title, image in overlays)
