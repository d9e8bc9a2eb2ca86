"""A landmark backend that needs no model, for fast tests of the pipelines around it.

Like :class:`node.sender.MemorySender` for the network: it answers every photo with the
faces it was given, records what it was asked, and can be told to fail. The faces come
from :mod:`tests.unit.analysis.faces`, whose true measurements are known by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis.types import FaceBox, ImageArray, LandmarkSet, ModelIdentity
from tests.unit.analysis.faces import FRONTAL_MM, to_pixels

FAKE_MODEL = ModelIdentity(id="fake", name="fake landmarks", version="0", licence="test")


@dataclass
class FakeBackend:
    """Returns ``faces`` for every photo; a photo ``broken_width`` px wide makes it raise."""

    faces: list[LandmarkSet] = field(default_factory=list)
    broken_width: int | None = None
    identity: ModelIdentity = FAKE_MODEL
    seen: list[tuple[int, int]] = field(default_factory=list)  # (height, width) per call

    def detect(self, image: ImageArray) -> list[LandmarkSet]:
        self.seen.append((int(image.shape[0]), int(image.shape[1])))
        if image.shape[1] == self.broken_width:
            raise RuntimeError("fake model crashed")
        return list(self.faces)


def ibug68_face(
    mm: dict[str, tuple[float, float]] | None = None,
    *,
    mm_per_px: float = 0.5,
    origin: tuple[float, float] = (256.0, 200.0),
    confidence: float = 0.9,
) -> LandmarkSet:
    """A 68-point face (default the symmetric FRONTAL_MM face) as a backend would report it;
    the defaults place it inside a 512 × 512 photo."""
    px = to_pixels(FRONTAL_MM if mm is None else mm, mm_per_px=mm_per_px, origin=origin)
    pts = np.array([px[f"ibug_{i:02d}"] for i in range(68)], dtype=np.float64)
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    return LandmarkSet(
        scheme="ibug68",
        points=pts,
        confidence=np.full(68, confidence),
        overall_confidence=confidence,
        model=FAKE_MODEL,
        box=FaceBox(float(x0), float(y0), float(x1), float(y1), confidence),
    )


def wide_nosed_face(widen_mm: float = 8.0) -> LandmarkSet:
    """The FRONTAL_MM face with each ala ``widen_mm`` further out: the alar base is then wide
    for the intercanthal width, which the shipped rules report as the ``wide_nose`` finding."""
    mm = dict(FRONTAL_MM)
    for name, dx in (("ibug_31", -widen_mm), ("ibug_35", widen_mm)):
        x, y = mm[name]
        mm[name] = (x + dx, y)
    return ibug68_face(mm)
