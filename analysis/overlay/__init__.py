"""Annotated copies of a photo for surgeons (numpy / OpenCV only, no DICOM).

:func:`render_overlays` runs every renderer in :data:`OVERLAYS` and returns
``(title, image)`` pairs; the DICOM layer turns each into a Secondary Capture. Each image is
the photo on a canvas with a red top banner "AI result - not a diagnosis" and a caption band
below, so no annotation ever hides part of the face. The overlays: landmarks; the facial
midline with the sideways offsets of nasal tip, philtrum and chin; vertical thirds and
horizontal fifths; measured angles (profile angles with their arms, canthal tilts on
frontal views); right-right / left-left mirrored composites. Add one by appending a
renderer to :data:`OVERLAYS`.

The package has no geometry of its own: the face frame and the mirror axis it draws are
those of :mod:`analysis.geometry`, which the measurements use.

Modules
    :mod:`.renderers` (one function per overlay), :mod:`.marks` (lines, contours, angles
    on the photo), :mod:`.composites` (mirrored halves), :mod:`.captions` (measurement
    text), :mod:`.canvas` (banner, caption band, text layout).
"""

from __future__ import annotations

from analysis.overlay.canvas import BANNER_BG, BANNER_TEXT
from analysis.overlay.captions import caption_lines, format_measurement
from analysis.overlay.composites import mirror_composites
from analysis.overlay.marks import ANGLE, FIFTHS, MIDLINE, MIRROR_AXIS, THIRDS
from analysis.overlay.renderers import (
    NO_FACE_TEXT,
    OVERLAYS,
    landmark_points,
    render_angles,
    render_landmarks,
    render_midline,
    render_mirror_composites,
    render_no_face,
    render_thirds_fifths,
)
from analysis.types import ImageArray, Photo, PhotoAnalysis


def render_overlays(photo: Photo, result: PhotoAnalysis) -> list[tuple[str, ImageArray]]:
    """Every overlay that has something to show; a no-face result gives one that says so."""
    if not result.face_found:
        return [(NO_FACE_TEXT, render_no_face(photo, result))]
    out: list[tuple[str, ImageArray]] = []
    for title, renderer in OVERLAYS:
        image = renderer(photo, result)
        if image is not None:
            out.append((title, image))
    return out


__all__ = [
    "ANGLE",
    "BANNER_BG",
    "BANNER_TEXT",
    "FIFTHS",
    "MIDLINE",
    "MIRROR_AXIS",
    "NO_FACE_TEXT",
    "OVERLAYS",
    "THIRDS",
    "caption_lines",
    "format_measurement",
    "landmark_points",
    "mirror_composites",
    "render_angles",
    "render_landmarks",
    "render_midline",
    "render_mirror_composites",
    "render_no_face",
    "render_overlays",
    "render_thirds_fifths",
]
