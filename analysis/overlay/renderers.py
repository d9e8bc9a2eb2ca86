"""One renderer per overlay: landmarks, facial midline, thirds and fifths, angles, mirrored
composites (:data:`OVERLAYS`). A renderer returns None when it has nothing to show for this
result (e.g. no midline on a profile view).

Frontal geometry (midline, thirds and fifths, canthal tilts) is drawn only on the views the
frontal measurements are made for. Left/right comparisons (the midline, alone on the
landmarks or with its offsets and the mirror axis, the mirrored composites) are drawn only
when the pose check accepts the photo for them (:func:`left_right_comparable`): a frontal
view whose head is not turned or tilted (no ``head_rotated`` flag). A composite of a head
turned 56° shows two absurd half-faces; it is better not made.

Every line that stands for the face's geometry is the one the measurements use: the face
frame and the mirror axis of :mod:`analysis.geometry`, computed from the same landmarks
(``PhotoAnalysis.semantic``) as the structured report's values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

import numpy as np

from analysis.geometry import FaceFrame, frame_of, mirror_axis_of
from analysis.measurements.definition import FRONTAL_VIEWS
from analysis.overlay import marks
from analysis.overlay.canvas import WHITE, Style, compose, label
from analysis.overlay.captions import (
    caption_for,
    caption_lines,
    finite_measurements,
    format_measurement,
    unit_text,
)
from analysis.overlay.composites import composite_panels
from analysis.overlay.marks import ANGLE, FIFTHS, MIDLINE, MIRROR_AXIS, THIRDS
from analysis.types import Flag, ImageArray, Photo, PhotoAnalysis, View

NO_FACE_TEXT: Final[str] = "No face detected"

Renderer = Callable[[Photo, PhotoAnalysis], ImageArray | None]

#: Midline points whose deviation is drawn: (label, measurement id, points averaged) — the
#: points the deviation measurements take (nasal tip, philtrum midpoint, menton).
_DEVIATIONS: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("tip", "nasal_tip_deviation", ("ibug_30",)),
    ("philtrum", "philtrum_deviation", ("ibug_33", "ibug_51")),
    ("chin", "chin_deviation", ("ibug_08",)),
)
#: Angle measurements drawn as a vertex with two arms: id → (vertex, arm, arm).
ANGLE_ARMS: Final[dict[str, tuple[str, str, str]]] = {
    "nasolabial_angle": ("subnasale", "columella", "labrale_superius"),
    "nasofrontal_angle": ("soft_tissue_nasion", "profile_glabella", "pronasale"),
    "nasomental_angle": ("pronasale", "soft_tissue_nasion", "soft_tissue_pogonion"),
    "facial_convexity_angle": ("subnasale", "profile_glabella", "soft_tissue_pogonion"),
    "lower_face_throat_angle": ("soft_tissue_menton", "subnasale", "cervical_point"),
}
_SYMMETRY_IDS: Final = (
    "symmetry_index", "asymmetry_overall", "nasal_tip_deviation", "philtrum_deviation",
    "chin_deviation", "oral_commissure_height_difference", "brow_height_difference",
    "palpebral_fissure_height_ratio",
)  # fmt: skip
_THIRD_IDS: Final = (
    "facial_third_upper_ratio", "facial_third_middle_ratio", "facial_third_lower_ratio",
)  # fmt: skip
_FIFTH_IDS: Final = (
    "facial_fifth_lateral_r", "facial_fifth_eye_r", "facial_fifth_intercanthal",
    "facial_fifth_eye_l", "facial_fifth_lateral_l",
)  # fmt: skip
_THIRDS_IDS: Final = (*_THIRD_IDS, "lower_middle_third_ratio", *_FIFTH_IDS)
#: The points of the thirds (trichion, nasion, subnasale, menton) and the fifths (face
#: edges and canthi), as the catalogue takes them.
_THIRD_KEYS: Final = ("trichion", "ibug_27", "ibug_33", "ibug_08")
_FIFTH_KEYS: Final = ("ibug_00", "ibug_36", "ibug_39", "ibug_42", "ibug_45", "ibug_16")


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


def _view(result: PhotoAnalysis) -> View:
    return result.quality.view if result.quality is not None else View.UNKNOWN


def _frontal_frame(
    result: PhotoAnalysis, points: dict[str, tuple[float, float]]
) -> FaceFrame | None:
    """The measurements' face frame, for the views the frontal measurements are made for."""
    return frame_of(points) if _view(result) in FRONTAL_VIEWS else None


def left_right_comparable(result: PhotoAnalysis) -> bool:
    """Whether the pose check accepts the photo for left/right comparison: a frontal view
    (from the header or the photo) without the ``head_rotated`` flag."""
    q = result.quality
    return q is not None and q.view is View.FRONTAL and Flag.HEAD_ROTATED not in q.flags


def _draw_midline(
    img: ImageArray, frame: FaceFrame, points: dict[str, tuple[float, float]], style: Style
) -> None:
    """The facial midline (x = 0 of the face frame) across the face."""
    marks.line(img, *marks.span(frame.origin, frame.v, points), MIDLINE, style.thickness)


# --- renderers ------------------------------------------------------------------------


def render_landmarks(photo: Photo, result: PhotoAnalysis) -> ImageArray | None:
    """All landmarks, the facial midline (when the pose check accepts the photo for
    left/right comparison) and the key measurements."""
    points = landmark_points(result)
    if not points:
        return None
    img = photo.pixels.copy()
    style = Style.for_image(photo.width, photo.height)
    marks.draw_contours(img, points, style)
    frame = _frontal_frame(result, points) if left_right_comparable(result) else None
    if frame is not None:
        _draw_midline(img, frame, points, style)
    radius = style.radius if len(points) <= 150 else max(1, style.radius // 2)  # dense raw sets
    for key, xy in points.items():
        marks.dot(img, xy, radius, marks.color_of(key))
    return compose(img, caption_lines(result), style)


def render_no_face(photo: Photo, result: PhotoAnalysis) -> ImageArray:
    """The photo with the banner and a caption saying no face was found."""
    style = Style.for_image(photo.width, photo.height)
    lines = [NO_FACE_TEXT]
    if result.message:
        lines.append(result.message)
    return compose(photo.pixels.copy(), lines, style)


def render_midline(photo: Photo, result: PhotoAnalysis) -> ImageArray | None:
    """The facial midline with the sideways offsets of nasal tip, philtrum and chin
    measured from it, and the fitted mirror axis the mirrored-landmark asymmetry uses."""
    points = landmark_points(result)
    frame = _frontal_frame(result, points) if left_right_comparable(result) else None
    if frame is None:
        return None
    img = photo.pixels.copy()
    style = Style.for_image(photo.width, photo.height).for_face(points)
    axis = mirror_axis_of(points)
    if axis is not None:  # under the midline: it shows where the two lines part
        ends = marks.span(axis.centre, axis.direction, points)
        marks.dashed_line(img, *ends, MIRROR_AXIS, style.thickness)
    _draw_midline(img, frame, points, style)
    ms = finite_measurements(result)
    for text, mid, keys in _DEVIATIONS:
        if not all(k in points for k in keys):
            continue
        p = np.mean([points[k] for k in keys], axis=0)
        foot = frame.point(0.0, float(frame.y(p)))  # where the offset is measured from
        marks.line(img, foot, p, ANGLE, style.thickness)
        marks.dot(img, p, style.radius + 1, ANGLE)
        if mid in ms:
            text += f" {ms[mid].value:+.1f} {unit_text(ms[mid].unit)}"
        label(img, text, p + np.array([3.0 * style.radius + 4, 0.0]), style, ANGLE)
    note = (
        "Facial midline: the robust mirror axis of the upper face (eyes, brows, nasal "
        "bridge); offsets from it, + = toward the subject's left. Dashed: the fitted mirror "
        "axis the mirrored-landmark asymmetry is measured about"
    )
    return compose(img, caption_for(result, _SYMMETRY_IDS, note), style)


def render_thirds_fifths(photo: Photo, result: PhotoAnalysis) -> ImageArray | None:
    """Vertical thirds (tr, n, sn, me) and horizontal fifths (face edges, canthi), along
    the face frame's axes as the catalogue measures them."""
    points = landmark_points(result)
    frame = _frontal_frame(result, points)
    needed = ("ibug_00", "ibug_16", "ibug_27", "ibug_33", "ibug_08", "ibug_36", "ibug_45")
    if frame is None or not all(k in points for k in needed):
        return None
    img = photo.pixels.copy()
    style = Style.for_image(photo.width, photo.height).for_face(points)
    xs = {k: float(frame.x(np.asarray(points[k]))) for k in _FIFTH_KEYS if k in points}
    ys = {k: float(frame.y(np.asarray(points[k]))) for k in _THIRD_KEYS if k in points}
    pad = 0.08 * (max(xs.values()) - min(xs.values()))
    left, right = min(xs.values()) - pad, max(xs.values()) + pad
    top, bottom = min(ys.values()) - pad, max(ys.values()) + pad
    for y in ys.values():
        marks.line(img, frame.point(left, y), frame.point(right, y), THIRDS, style.thickness)
    for x in xs.values():
        marks.line(img, frame.point(x, top), frame.point(x, bottom), FIFTHS, style.thickness)
    ms = finite_measurements(result)
    levels = sorted(ys.values())
    if len(levels) == 4:
        for mid, ya, yb in zip(_THIRD_IDS, levels[:-1], levels[1:], strict=True):
            if mid in ms:
                label(img, f"{ms[mid].value:.2f}", frame.point(right, (ya + yb) / 2), style, THIRDS)
    cols = [xs[k] for k in _FIFTH_KEYS if k in xs]
    if len(cols) == 6:
        for i, mid in enumerate(_FIFTH_IDS):
            if mid in ms:
                pos = frame.point(0.5 * (cols[i] + cols[i + 1]), top - 0.02 * (bottom - top))
                label(img, f"{ms[mid].value:.2f}", pos, style, FIFTHS, centred=True)
    note = (
        "Thirds: trichion, nasion, subnasale, menton; fifths: face edges, canthi (canons 1/3, 1/5)"
    )
    return compose(img, caption_for(result, _THIRDS_IDS, note), style)


def render_angles(photo: Photo, result: PhotoAnalysis) -> ImageArray | None:
    """Measured angles with their arms: profile angles, or the canthal tilts of a frontal view."""
    points = landmark_points(result)
    ms = finite_measurements(result)
    img = photo.pixels.copy()
    style = Style.for_image(photo.width, photo.height).for_face(points)
    drawn: list[str] = []
    for mid, (vertex, a, b) in ANGLE_ARMS.items():
        if mid in ms and all(k in points for k in (vertex, a, b)):
            marks.draw_angle(img, points[vertex], points[a], points[b], ms[mid], style)
            drawn.append(mid)
    frame = _frontal_frame(result, points)
    if frame is not None:
        for side, en, ex in (("r", "ibug_39", "ibug_36"), ("l", "ibug_42", "ibug_45")):
            mid = f"canthal_tilt_{side}"
            if mid not in ms or en not in points or ex not in points:
                continue
            p_en, p_ex = np.asarray(points[en]), np.asarray(points[ex])
            lateral = frame.u if side == "l" else -frame.u  # the face horizontal, outward
            ref = p_en + lateral * float(np.hypot(*(p_ex - p_en)))
            marks.draw_angle(img, p_en, ref, p_ex, ms[mid], style)
            drawn.append(mid)
    if not drawn:
        return None
    note = "Angles: vertex and arms as measured (canthal tilt: + = lateral canthus higher)"
    return compose(img, caption_for(result, drawn, note), style)


def render_mirror_composites(photo: Photo, result: PhotoAnalysis) -> ImageArray | None:
    """Right-right and left-left composites: each half of the face mirrored about the
    fitted mirror axis."""
    points = landmark_points(result)
    frame = _frontal_frame(result, points) if left_right_comparable(result) else None
    axis = mirror_axis_of(points) if frame is not None else None
    if frame is None or axis is None:
        return None
    right_point = frame.point(-float(frame.ipd), 0.0)  # a pupil's width to the subject's right
    panels = composite_panels(photo.pixels, axis, right_point, points)
    ph, pw = panels[0].shape[:2]
    style = Style.for_image(2 * pw, ph)
    for panel, text in zip(panels, ("Right-right", "Left-left"), strict=True):
        label(panel, text, np.array([style.margin, style.line_height]), style, WHITE)
    gap = np.full((ph, max(2, style.margin // 2), 3), 255, dtype=np.uint8)
    img = np.ascontiguousarray(np.hstack([panels[0], gap, panels[1]]))
    lines = [
        "Each half of the face (subject's right / left) mirrored about the fitted mirror axis.",
        "Composites exaggerate asymmetry; for discussion, not a diagnosis.",
    ]
    ms = finite_measurements(result)
    if "symmetry_index" in ms:
        lines.append(format_measurement(ms["symmetry_index"]))
    return compose(img, lines, style)


#: The overlays made for a photo with a face, in order (title, renderer).
OVERLAYS: Final[list[tuple[str, Renderer]]] = [
    ("Landmarks", render_landmarks),
    ("Facial midline", render_midline),
    ("Thirds and fifths", render_thirds_fifths),
    ("Angles", render_angles),
    ("Mirrored composites", render_mirror_composites),
]
