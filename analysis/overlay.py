"""Annotated copies of a photo for surgeons (numpy / OpenCV only, no DICOM).

:func:`render_overlays` runs every renderer in :data:`OVERLAYS` and returns
``(title, image)`` pairs; the DICOM layer turns each into a Secondary Capture. Each image is
the photo on a canvas with a red top banner "AI result - not a diagnosis" and a caption band
below, so no annotation ever hides part of the face. The overlays (:data:`OVERLAYS`):
landmarks; the fitted facial midline with the sideways offsets of nasal tip, philtrum and
chin; vertical thirds and horizontal fifths; measured angles (profile angles with their
arms, canthal tilts on frontal views); right-right / left-left mirrored composites. Add one
by appending a renderer; a renderer returns None when it has nothing to show for this
result (e.g. no midline on a profile view).

Points are pixel-centre coordinates (:mod:`analysis.landmark_names`), which is what OpenCV
draws with; text is ASCII because OpenCV's Hershey fonts are.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Final

import cv2
import numpy as np

from analysis.landmark_names import IBUG68_MIRROR, IBUG68_REGIONS, IRIS, PROFILE, UPPER_FACE
from analysis.types import (
    ASYMMETRY_UNCONFIRMED,
    ImageArray,
    Measurement,
    Photo,
    PhotoAnalysis,
    View,
)

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
    label_scale: float | None = None  # font scale of labels drawn on the face

    def for_face(self, points: dict[str, tuple[float, float]]) -> _Style:
        """The same style with labels sized to the face (a small face gets small labels)."""
        if not points:
            return self
        xy = np.asarray(list(points.values()), dtype=np.float64)
        face = float(np.ptp(xy[:, 0]))
        return replace(self, label_scale=float(np.clip(face / 420.0, 0.3, self.font_scale * 0.8)))

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


_PROFILE_VIEWS: Final = (View.PROFILE_LEFT, View.PROFILE_RIGHT)
#: Composite panels of a small face are enlarged to at least this height (pixels).
MIN_COMPOSITE_PX: Final = 420
THIRDS: Final[Color] = (255, 230, 0)
FIFTHS: Final[Color] = (0, 255, 160)
ANGLE: Final[Color] = (255, 90, 200)
LABEL_BG: Final[Color] = (0, 0, 0)
#: Midline points whose deviation is drawn: (label, measurement id, points averaged).
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
_THIRDS_IDS: Final = (
    "facial_third_upper_ratio", "facial_third_middle_ratio", "facial_third_lower_ratio",
    "lower_middle_third_ratio",
    "facial_fifth_lateral_r", "facial_fifth_eye_r", "facial_fifth_intercanthal",
    "facial_fifth_eye_l", "facial_fifth_lateral_l",
)  # fmt: skip


def _view(result: PhotoAnalysis) -> View:
    return result.quality.view if result.quality is not None else View.UNKNOWN


def _measurements(result: PhotoAnalysis) -> dict[str, Measurement]:
    return {m.id: m for m in result.measurements if math.isfinite(m.value)}


def _caption_for(result: PhotoAnalysis, ids: Sequence[str], note: str) -> list[str]:
    ms = _measurements(result)
    lines = [note] + [format_measurement(ms[i]) for i in ids if i in ms]
    if any(not ms[i].reliable for i in ids if i in ms):
        lines.append("* flagged unreliable")
    return lines


def render_midline(photo: Photo, result: PhotoAnalysis) -> ImageArray | None:
    """The fitted facial midline with the sideways offsets of nasal tip, philtrum and chin."""
    points = landmark_points(result)
    if _view(result) in _PROFILE_VIEWS:
        return None
    axis = fitted_midline(points)
    if axis is None:
        return None
    centre, direction = axis
    img = photo.pixels.copy()
    style = _Style.for_image(photo.width, photo.height).for_face(points)
    (x0, y0), (x1, y1) = _span(centre, direction, points)
    cv2.line(img, _ipt((x0, y0)), _ipt((x1, y1)), MIDLINE, style.thickness, cv2.LINE_AA)
    ms = _measurements(result)
    for label, mid, keys in _DEVIATIONS:
        if not all(k in points for k in keys):
            continue
        p = np.mean([points[k] for k in keys], axis=0)
        foot = centre + direction * float((p - centre) @ direction)
        cv2.line(img, _ipt(tuple(foot)), _ipt(tuple(p)), ANGLE, style.thickness, cv2.LINE_AA)
        cv2.circle(img, _ipt(tuple(p)), style.radius + 1, ANGLE, -1, cv2.LINE_AA)
        text = label
        if mid in ms:
            text += f" {ms[mid].value:+.1f} {_unit_text(ms[mid].unit)}"
        _label(img, text, p + np.array([3.0 * style.radius + 4, 0.0]), style, ANGLE)
    note = "Fitted facial midline (mirror axis of the landmarks); + = toward the subject's left"
    return compose(img, _caption_for(result, _SYMMETRY_IDS, note), style)


def render_thirds_fifths(photo: Photo, result: PhotoAnalysis) -> ImageArray | None:
    """Vertical thirds (tr, n, sn, me) and horizontal fifths (face edges, canthi)."""
    points = landmark_points(result)
    if _view(result) in _PROFILE_VIEWS:
        return None
    frame = face_frame(points)
    needed = ("ibug_00", "ibug_16", "ibug_27", "ibug_33", "ibug_08", "ibug_36", "ibug_45")
    if frame is None or not all(k in points for k in needed):
        return None
    origin, u, v = frame
    img = photo.pixels.copy()
    style = _Style.for_image(photo.width, photo.height).for_face(points)
    xs = {k: float((np.asarray(points[k]) - origin) @ u) for k in _FIFTH_KEYS if k in points}
    third_keys = [k for k in ("trichion", "ibug_27", "ibug_33", "ibug_08") if k in points]
    ys = {k: float((np.asarray(points[k]) - origin) @ v) for k in third_keys}
    pad = 0.08 * (max(xs.values()) - min(xs.values()))
    left, right = min(xs.values()) - pad, max(xs.values()) + pad
    top, bottom = min(ys.values()) - pad, max(ys.values()) + pad

    def at(x: float, y: float) -> tuple[int, int]:
        return _ipt(tuple(origin + x * u + y * v))

    for y in ys.values():
        cv2.line(img, at(left, y), at(right, y), THIRDS, style.thickness, cv2.LINE_AA)
    for x in xs.values():
        cv2.line(img, at(x, top), at(x, bottom), FIFTHS, style.thickness, cv2.LINE_AA)
    ms = _measurements(result)
    third_ids = (
        "facial_third_upper_ratio",
        "facial_third_middle_ratio",
        "facial_third_lower_ratio",
    )
    levels = sorted(ys.values())
    if len(levels) == 4:
        for mid, (ya, yb) in zip(third_ids, zip(levels[:-1], levels[1:], strict=True), strict=True):
            if mid in ms:
                pos = origin + right * u + 0.5 * (ya + yb) * v
                _label(img, f"{ms[mid].value:.2f}", pos, style, THIRDS)
    fifth_ids = ("facial_fifth_lateral_r", "facial_fifth_eye_r", "facial_fifth_intercanthal",
                 "facial_fifth_eye_l", "facial_fifth_lateral_l")  # fmt: skip
    cols = [xs[k] for k in _FIFTH_KEYS if k in xs]
    if len(cols) == 6:
        for i, mid in enumerate(fifth_ids):
            if mid in ms:
                pos = origin + 0.5 * (cols[i] + cols[i + 1]) * u + (top - 0.02 * (bottom - top)) * v
                _label(img, f"{ms[mid].value:.2f}", pos, style, FIFTHS, centred=True)
    note = (
        "Thirds: trichion, nasion, subnasale, menton; fifths: face edges, canthi (canons 1/3, 1/5)"
    )
    return compose(img, _caption_for(result, _THIRDS_IDS, note), style)


def render_angles(photo: Photo, result: PhotoAnalysis) -> ImageArray | None:
    """Measured angles with their arms: profile angles, or the canthal tilts of a frontal view."""
    points = landmark_points(result)
    ms = _measurements(result)
    img = photo.pixels.copy()
    style = _Style.for_image(photo.width, photo.height).for_face(points)
    drawn: list[str] = []
    for mid, (vertex, a, b) in ANGLE_ARMS.items():
        if mid in ms and all(k in points for k in (vertex, a, b)):
            _draw_angle(img, points[vertex], points[a], points[b], ms[mid], style)
            drawn.append(mid)
    frame = face_frame(points)
    if _view(result) not in _PROFILE_VIEWS and frame is not None:
        _, u, _v = frame
        for side, en, ex in (("r", "ibug_39", "ibug_36"), ("l", "ibug_42", "ibug_45")):
            mid = f"canthal_tilt_{side}"
            if mid not in ms or en not in points or ex not in points:
                continue
            p_en, p_ex = np.asarray(points[en]), np.asarray(points[ex])
            lateral = u if side == "l" else -u
            ref = p_en + lateral * float(np.hypot(*(p_ex - p_en)))
            _draw_angle(img, points[en], (float(ref[0]), float(ref[1])), points[ex], ms[mid], style)
            drawn.append(mid)
    if not drawn:
        return None
    note = "Angles: vertex and arms as measured (canthal tilt: + = lateral canthus higher)"
    return compose(img, _caption_for(result, drawn, note), style)


def render_mirror_composites(photo: Photo, result: PhotoAnalysis) -> ImageArray | None:
    """Right-right and left-left composites: each half of the face mirrored about the midline."""
    points = landmark_points(result)
    if _view(result) in _PROFILE_VIEWS:
        return None
    axis = fitted_midline(points)
    if axis is None or not all(f"ibug_{i:02d}" in points for i in range(36, 42)):
        return None
    right_eye = np.mean([points[f"ibug_{i:02d}"] for i in range(36, 42)], axis=0)
    box = _face_crop(points, axis, photo.width, photo.height)
    rr, ll = mirror_composites(photo.pixels, axis[0], axis[1], right_eye, box)
    zoom = max(1.0, MIN_COMPOSITE_PX / max(box[3] - box[1], 1))
    panels: list[ImageArray] = [
        np.ascontiguousarray(
            cv2.resize(c, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
            if zoom > 1.0
            else c,
            dtype=np.uint8,
        )
        for c in (rr, ll)
    ]
    ph, pw = panels[0].shape[:2]
    style = _Style.for_image(2 * pw, ph)
    for panel, text in zip(panels, ("Right-right", "Left-left"), strict=True):
        _label(panel, text, np.array([style.margin, style.line_height]), style, WHITE)
    gap = np.full((ph, max(2, style.margin // 2), 3), 255, dtype=np.uint8)
    img = np.ascontiguousarray(np.hstack([panels[0], gap, panels[1]]))
    lines = [
        "Each half of the face (subject's right / left) mirrored about the fitted midline.",
        "Composites exaggerate asymmetry; for discussion, not a diagnosis.",
    ]
    ms = _measurements(result)
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


_PAIRS_INNER: Final = tuple((i, IBUG68_MIRROR[i]) for i in range(17, 68))
_FIFTH_KEYS: Final = ("ibug_00", "ibug_36", "ibug_39", "ibug_42", "ibug_45", "ibug_16")


def fitted_midline(
    points: dict[str, tuple[float, float]],
) -> tuple[np.ndarray, np.ndarray] | None:
    """The facial midline as (centre, unit direction pointing down the face).

    The reflection that best maps the inner-face iBUG points (17–67) onto their bilateral
    counterparts (orthogonal Procrustes constrained to a reflection, as the symmetry
    measurements fit it); its axis is the eigenvector of the reflection with eigenvalue +1,
    through the points' centroid. Falls back to :func:`facial_midline` with fewer than six
    pairs.
    """
    pairs = [
        (f"ibug_{i:02d}", f"ibug_{j:02d}")
        for i, j in _PAIRS_INNER
        if f"ibug_{i:02d}" in points and f"ibug_{j:02d}" in points
    ]
    if len(pairs) >= 6:
        a = np.asarray([points[p] for p, _ in pairs], dtype=np.float64)
        b = np.asarray([points[q] for _, q in pairs], dtype=np.float64)
        c = a.mean(axis=0)
        uu, _, vt = np.linalg.svd((a - c).T @ (b - c))
        q = uu @ vt
        if np.linalg.det(q) > 0:
            q = uu @ np.diag([1.0, -1.0]) @ vt
        w, vecs = np.linalg.eigh((q + q.T) / 2.0)
        d = vecs[:, int(np.argmax(w))]
        d = d / float(np.hypot(*d))
        return c, (d if d[1] >= 0 else -d)
    line = facial_midline(points, 0, 0)
    if line is None:
        return None
    p0, p1 = np.asarray(line[0]), np.asarray(line[1])
    d = (p1 - p0) / max(float(np.hypot(*(p1 - p0))), 1e-9)
    return (p0 + p1) / 2.0, d


def face_frame(
    points: dict[str, tuple[float, float]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(origin, u, v) of the measurement catalogue's frontal frame: u from the right to the
    left eye centre, v down the face, origin midway between the endocanthia."""
    eyes = [f"ibug_{i:02d}" for i in range(36, 48)]
    if not all(k in points for k in eyes):
        return None
    r = np.mean([points[k] for k in eyes[:6]], axis=0)
    left = np.mean([points[k] for k in eyes[6:]], axis=0)
    n = float(np.hypot(*(left - r)))
    if n < 1e-6:
        return None
    u = (left - r) / n
    v = np.array([-u[1], u[0]])
    origin = (np.asarray(points["ibug_39"]) + np.asarray(points["ibug_42"])) / 2.0
    return origin, u, v


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


def _face_crop(
    points: dict[str, tuple[float, float]],
    axis: tuple[np.ndarray, np.ndarray],
    width: int,
    height: int,
) -> tuple[int, int, int, int]:
    """A box around the face (and its mirror image), clipped to the photo."""
    pts = np.asarray(list(points.values()), dtype=np.float64)
    c, d = axis
    r = 2.0 * np.outer(d, d) - np.eye(2)
    both = np.vstack([pts, (pts - c) @ r.T + c])
    lo, hi = both.min(axis=0), both.max(axis=0)
    pad = 0.25 * (hi - lo)
    x0, y0 = np.floor(lo - pad).astype(int)
    x1, y1 = np.ceil(hi + pad).astype(int)
    x0, y0 = max(int(x0), 0), max(int(y0), 0)
    x1, y1 = min(int(x1), width), min(int(y1), height)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return 0, 0, width, height
    return x0, y0, x1, y1


def _draw_angle(
    img: ImageArray,
    vertex: tuple[float, float],
    a: tuple[float, float],
    b: tuple[float, float],
    m: Measurement,
    style: _Style,
) -> None:
    """Two arms from the vertex, an arc between them and the value."""
    pv, pa, pb = (np.asarray(p, dtype=np.float64) for p in (vertex, a, b))
    for p in (pa, pb):
        cv2.line(img, _ipt(tuple(pv)), _ipt(tuple(p)), ANGLE, style.thickness, cv2.LINE_AA)
    cv2.circle(img, _ipt(tuple(pv)), style.radius + 1, ANGLE, -1, cv2.LINE_AA)
    ra = float(np.hypot(*(pa - pv)))
    rb = float(np.hypot(*(pb - pv)))
    radius = max(3, int(round(0.35 * min(ra, rb))))
    t0 = math.degrees(math.atan2(pa[1] - pv[1], pa[0] - pv[0]))
    t1 = math.degrees(math.atan2(pb[1] - pv[1], pb[0] - pv[0]))
    sweep = (t1 - t0 + 540.0) % 360.0 - 180.0  # the short way round, as the angle is measured
    cv2.ellipse(
        img, _ipt(tuple(pv)), (radius, radius), 0.0, t0, t0 + sweep, ANGLE,
        style.thickness, cv2.LINE_AA,
    )  # fmt: skip
    mid = math.radians(t0 + sweep / 2.0)
    pos = pv + (radius + 4 * style.radius + 4) * np.array([math.cos(mid), math.sin(mid)])
    _label(img, f"{m.value:.1f} {_unit_text(m.unit)}", pos, style, ANGLE, centred=True)


def _unit_text(unit: str) -> str:
    return {"deg": "deg", "mm": "mm", "[px]": "px", "%": "%", "{ratio}": ""}.get(unit, unit)


def _label(
    img: ImageArray,
    text: str,
    pos: np.ndarray,
    style: _Style,
    color: Color,
    *,
    centred: bool = False,
) -> None:
    """ASCII text on a dark box at ``pos`` (its left end, or its centre), kept inside."""
    text = _ascii(text)
    scale = style.font_scale * 0.8 if style.label_scale is None else style.label_scale
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, style.font_thickness)
    x = int(round(pos[0] - (tw / 2 if centred else 0)))
    y = int(round(pos[1] + th / 2))
    h, w = img.shape[:2]
    x = min(max(x, 1), max(w - tw - 2, 1))
    y = min(max(y, th + 2), max(h - base - 2, th + 2))
    cv2.rectangle(img, (x - 2, y - th - 2), (x + tw + 2, y + base), LABEL_BG, -1)
    cv2.putText(
        img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, style.font_thickness,
        cv2.LINE_AA,
    )  # fmt: skip


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


def _only_unconfirmed(m: Measurement) -> bool:
    """The value's only flag is ASYMMETRY_UNCONFIRMED: usable as a lower bound."""
    return m.flags == (ASYMMETRY_UNCONFIRMED,)


def format_measurement(m: Measurement) -> str:
    """``Name: value unit +/- sigma`` in ASCII; '*' marks a value flagged unreliable, '+'
    an asymmetry the photo did not confirm (the landmark model's value, may be larger)."""
    unit = {"deg": " deg", "%": " %", "{ratio}": "", "mm": " mm", "[px]": " px"}.get(
        m.unit, f" {m.unit}"
    )
    decimals = 2 if m.unit == "{ratio}" else 1
    text = f"{_ascii(m.name)}: {m.value:.{decimals}f}{unit}"
    if math.isfinite(m.uncertainty) and m.uncertainty > 0:
        text += f" +/- {m.uncertainty:.{decimals}f}"
    if _only_unconfirmed(m):
        text += " +"
    elif not m.reliable:
        text += " *"
    return text


def caption_lines(result: PhotoAnalysis) -> list[str]:
    """Key measurements (reliable ones first, catalogue order), scale and reliability."""
    ms = [m for m in result.measurements if math.isfinite(m.value)]
    ms.sort(key=lambda m: not m.reliable)  # stable: keeps catalogue order within each group
    shown = ms[:MAX_CAPTION_MEASUREMENTS]
    lines = [format_measurement(m) for m in shown]
    if len(ms) > MAX_CAPTION_MEASUREMENTS:
        lines.append(f"... {len(ms) - MAX_CAPTION_MEASUREMENTS} more in the structured report")
    if any(not m.reliable and not _only_unconfirmed(m) for m in shown):
        lines.append("* flagged unreliable")
    if any(_only_unconfirmed(m) for m in shown):
        lines.append("+ asymmetry not confirmed in the photo: the model's value, may be larger")
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
    table = {
        "\u00b1": "+/-",
        "\u00b0": " deg",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00d7": "x",
        "\u2192": "->",
    }
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
