"""Is this photo fit to be measured? Face count, size, sharpness, pose, expression, view.

Everything here is reported, nothing is silently corrected: a photo that fails a check
keeps its measurements, and they carry the reasons (``Quality.flags``).

Flags (photo level; ``Quality.reliable`` is false when any is set)
    ``no_face``, ``face_too_small`` (< :data:`MIN_FACE_PX`), ``blurred`` (sharpness below
    :data:`BLUR_THRESHOLD`), ``low_detection_confidence``, ``low_landmark_confidence``,
    ``landmarks_outside_image`` (an inner-face point or menton outside the frame),
    ``head_rotated`` (a frontal photo turned or tilted beyond :data:`FRONTAL_LIMITS_DEG`),
    ``eyes_closed`` (both eyes), ``mouth_open``, ``smiling``. The expression flags are
    passed on only to the measurements they affect (see the catalogue).
Mouth in a profile
    A frontal landmark model fitted to a profile guesses the hidden half of the mouth: its
    mouth width shrinks and its inner lips part (a real closed-mouth profile measured an
    inner-lip gap of 0.16 of the mouth width, over the frontal threshold). So in a profile
    view the mouth is judged on the silhouette's outline instead: open when the stomion
    lies deeper behind the labrale superius–labrale inferius chord than
    :data:`PROFILE_LIP_NOTCH` of the chord, or the chord is longer than
    :data:`PROFILE_LIP_GAP` of subnasale–soft-tissue menton (closed mouths measured
    0.17–0.22 and 0.25–0.35: a real lateral portrait and a rendered face scan; lips parted
    ≈ 10 mm put the stomion on the teeth, ≈ 0.3 of the chord). The thresholds rest on those
    two closed mouths and that geometry: no real open-mouth profile was at hand. A smile is
    not judged in a profile.
Hints (``occlusion_hints``, informational)
    ``low_confidence:<region>``, ``outside_image:<region>``, ``eye_nearly_closed:<r|l>``
    (one eye only — possibly ptosis, which the findings look at), ``pose_fit_poor``, and
    ``multiple_faces:<n>`` (the largest face is analysed; not a reliability problem).

Blur
    ``Quality.blur`` is a *sharpness* score — the variance of the Laplacian of the face
    crop (the detector's box) resampled to :data:`BLUR_CROP_PX` pixels square, divided by
    the crop's intensity variance, ×100. Resampling to a fixed face size makes it measure
    blur relative to the face, whatever the photo's resolution; dividing by the variance
    removes contrast and exposure. Higher is sharper; sharp portraits score ≈ 5–75, the
    astronaut test photo ≈ 22 sharp and ≈ 0.4 after a Gaussian blur of σ = 3 px.

Head pose and view
    :mod:`analysis.quality.pose` (PnP against a mean face) and :mod:`analysis.quality.view`
    (the DICOM header's view, else the photo's evidence of a profile, else the yaw's).
"""

from __future__ import annotations

import math
from typing import Final

import cv2
import numpy as np

from analysis.geometry import NamedPoints, interpupillary
from analysis.landmark_names import IBUG68, IBUG68_REGIONS, LEFT_EYE, RIGHT_EYE, resolve
from analysis.quality.pose import estimate_pose
from analysis.quality.view import PROFILE_VIEWS, classify_view
from analysis.types import (
    Flag,
    FloatArray,
    ImageArray,
    LandmarkSet,
    Photo,
    Quality,
    SemanticLandmarks,
    View,
)

MIN_FACE_PX = 80.0  # face box side; below it 1 px of landmark error is > 2.5 % of the IPD
BLUR_CROP_PX = 96
BLUR_THRESHOLD = 2.0
MIN_DETECTION_CONFIDENCE = 0.5
MIN_LANDMARK_CONFIDENCE = 0.5
REGION_LOW_CONFIDENCE = 0.4
FRONTAL_LIMITS_DEG: Final = {"yaw": 10.0, "pitch": 20.0, "roll": 15.0}
#: Inner-lip gap over mouth width above which the mouth counts as open.
MOUTH_OPEN_RATIO = 0.10
#: A smile: the commissures rise above the upper inner-lip midpoint by this fraction of the
#: mouth width, or the mouth widens beyond this multiple of the eye-centre distance
#: (neutral ≈ 0.8: Farkas' ≈ 52 mm mouth over a ≈ 63 mm IPD; broad smiles on public
#: portraits measured 1.04–1.17, neutral faces 0.75–0.93).
SMILE_LIFT_RATIO = 0.08
#: Profile mouth (see the module docstring): stomion depth over the labial chord, and the
#: labial chord over subnasale–soft-tissue menton, above which the mouth counts as open.
PROFILE_LIP_NOTCH = 0.3
PROFILE_LIP_GAP = 0.42
SMILE_WIDTH_RATIO = 1.0
#: Eye aspect ratio (Soukupová & Čech, CVWW 2016) below which an eye counts as closed.
EYE_CLOSED_EAR = 0.15
#: Reprojection RMS (fraction of the outer-canthal distance) above which the pose is poor.
POSE_FIT_POOR = 0.12

_INNER = tuple(range(17, 68)) + (8,)


def assess(
    photo: Photo, faces: list[LandmarkSet], main: int, semantic: SemanticLandmarks
) -> Quality:
    """Quality of the main face (``faces[main]``, the largest) of ``photo``."""
    return assess_with_outline(photo, faces, main, semantic)[0]


def assess_with_outline(
    photo: Photo, faces: list[LandmarkSet], main: int, semantic: SemanticLandmarks
) -> tuple[Quality, SemanticLandmarks | None]:
    """:func:`assess`, and the profile outline's points when the view step traced one (the
    pipeline merges them instead of tracing the outline again)."""
    flags: list[Flag] = []
    hints: list[str] = []
    points = {k: np.asarray(v, dtype=np.float64) for k, v in semantic.points.items()}

    if not faces:
        flags.append(Flag.NO_FACE)
        chosen = None
    else:
        if not 0 <= main < len(faces):
            raise IndexError(f"main face index {main} out of range for {len(faces)} face(s)")
        chosen = faces[main]
        if len(faces) > 1:
            hints.append(f"multiple_faces:{len(faces)}")

    detection = _detection_confidence(chosen)
    if chosen is not None and detection < MIN_DETECTION_CONFIDENCE:
        flags.append(Flag.LOW_DETECTION_CONFIDENCE)
    box = _box(chosen, points, photo)
    face_size = math.sqrt(max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0))
    if chosen is not None and face_size < MIN_FACE_PX:
        flags.append(Flag.FACE_TOO_SMALL)
    sharpness = sharpness_score(photo.pixels, box)
    if sharpness < BLUR_THRESHOLD:
        flags.append(Flag.BLURRED)

    mean_conf = _mean_confidence(semantic)
    if mean_conf is not None and mean_conf < MIN_LANDMARK_CONFIDENCE:
        flags.append(Flag.LOW_LANDMARK_CONFIDENCE)
    outside = _occlusion_hints(points, semantic.confidence, photo, hints)
    if outside:
        flags.append(Flag.LANDMARKS_OUTSIDE_IMAGE)

    mouth_open, smile = _mouth_state(points)
    pose, fit_error = estimate_pose(
        semantic, photo.width, photo.height, rigid_only=mouth_open or smile
    )
    if fit_error is not None and fit_error > POSE_FIT_POOR:
        hints.append("pose_fit_poor")

    seen = classify_view(photo, pose, points, semantic)
    view = seen.view
    if view in PROFILE_VIEWS:
        lips = dict(points)
        if seen.outline is not None:
            lips.update({k: np.asarray(v, np.float64) for k, v in seen.outline.points.items()})
        mouth_open, smile = profile_mouth_open(lips), False
    if view is View.FRONTAL and pose is not None:
        for axis, limit in FRONTAL_LIMITS_DEG.items():
            if abs(getattr(pose, axis)) > limit:
                flags.append(Flag.HEAD_ROTATED)
                break

    closed = [side for side, ear in _eye_aspect_ratios(points).items() if ear < EYE_CLOSED_EAR]
    if len(closed) == 2:
        flags.append(Flag.EYES_CLOSED)
    elif closed:
        hints.append(f"eye_nearly_closed:{closed[0]}")
    if mouth_open:
        flags.append(Flag.MOUTH_OPEN)
    if smile:
        flags.append(Flag.SMILING)

    quality = Quality(
        face_count=len(faces),
        main_face_index=main if faces else -1,
        detection_confidence=detection,
        face_size_px=face_size,
        blur=sharpness,
        pose=pose,
        mouth_open=mouth_open,
        smile=smile,
        occlusion_hints=tuple(dict.fromkeys(hints)),
        view=view,
        view_source=seen.source,
        flags=tuple(dict.fromkeys(flags)),
    )
    return quality, seen.outline


# --- sharpness -------------------------------------------------------------------------


def sharpness_score(pixels: ImageArray, box: tuple[float, float, float, float]) -> float:
    """Normalised variance of the Laplacian of the face crop (see the module docstring)."""
    h, w = pixels.shape[:2]
    x0, y0 = max(int(math.floor(box[0])), 0), max(int(math.floor(box[1])), 0)
    x1, y1 = min(int(math.ceil(box[2])), w), min(int(math.ceil(box[3])), h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        x0, y0, x1, y1 = 0, 0, w, h
    gray = cv2.cvtColor(np.ascontiguousarray(pixels[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    n = BLUR_CROP_PX
    interp = cv2.INTER_AREA if min(gray.shape) > n else cv2.INTER_CUBIC
    crop = np.asarray(
        cv2.resize(gray.astype(np.float64) / 255.0, (n, n), interpolation=interp),
        dtype=np.float64,
    )
    var = float(crop.var())
    if var < 1e-6:
        return 0.0
    lap = cv2.Laplacian(crop, cv2.CV_64F)
    return 100.0 * float(lap.var()) / var


# --- expression ------------------------------------------------------------------------


def _mouth_state(points: dict[str, FloatArray]) -> tuple[bool, bool]:
    """(mouth open, smiling) from the lip points (and the eyes, for the smile's width)."""
    need = [resolve(n) for n in ("cheilion_r", "cheilion_l", "stomion_upper", "stomion_lower")]
    if not all(k in points for k in need):
        return False, False
    ch_r, ch_l, up, lo = (points[k] for k in need)
    width = float(np.hypot(*(ch_l - ch_r)))
    if width <= 0:
        return False, False
    u = (ch_l - ch_r) / width
    v = np.array([-u[1], u[0]])  # down the face
    gap = float(np.dot(lo - up, v)) / width
    # Measured from the upper lip, not the stomion midpoint, so that an open jaw alone
    # does not read as raised corners.
    lift = float(np.dot(up - (ch_r + ch_l) / 2.0, v)) / width
    smile = lift > SMILE_LIFT_RATIO
    if all(k in points for k in RIGHT_EYE + LEFT_EYE):
        eyes = float(interpupillary(NamedPoints(points)))
        smile = smile or (eyes > 0 and width / eyes > SMILE_WIDTH_RATIO)
    return gap > MOUTH_OPEN_RATIO, smile


def profile_mouth_open(points: dict[str, FloatArray]) -> bool:
    """Open lips on a profile's outline (see the module docstring); False without it."""
    need = ("labrale_superius", "stomion", "labrale_inferius")
    if not all(k in points for k in need):
        return False
    ls, st, li = (points[k] for k in need)
    chord = float(np.hypot(*(li - ls)))
    if chord <= 0:
        return False
    normal = np.array([li[1] - ls[1], ls[0] - li[0]]) / chord
    if abs(float(np.dot(st - ls, normal))) / chord > PROFILE_LIP_NOTCH:
        return True
    sn, me = points.get("subnasale"), points.get("soft_tissue_menton")
    if sn is None or me is None:
        return False
    height = float(np.hypot(*(me - sn)))
    return height > 0 and chord / height > PROFILE_LIP_GAP


def eye_aspect_ratio(contour: list[FloatArray]) -> float:
    """(|p2−p6| + |p3−p5|) / (2 |p1−p4|) over the six iBUG eye points."""
    p1, p2, p3, p4, p5, p6 = contour
    width = float(np.hypot(*(p1 - p4)))
    if width <= 0:
        return math.nan
    return (float(np.hypot(*(p2 - p6))) + float(np.hypot(*(p3 - p5)))) / (2.0 * width)


def _eye_aspect_ratios(points: dict[str, FloatArray]) -> dict[str, float]:
    out = {}
    for side, names in (("r", RIGHT_EYE), ("l", LEFT_EYE)):
        if all(n in points for n in names):
            ear = eye_aspect_ratio([points[n] for n in names])
            if math.isfinite(ear):
                out[side] = ear
    return out


# --- detection, size, confidence, occlusion ---------------------------------------------


def _detection_confidence(face: LandmarkSet | None) -> float:
    if face is None:
        return 0.0
    if face.box is not None:
        return float(face.box.score)
    return float(face.overall_confidence)


def _box(
    face: LandmarkSet | None, points: dict[str, FloatArray], photo: Photo
) -> tuple[float, float, float, float]:
    if face is not None and face.box is not None:
        b = face.box
        return (b.x0, b.y0, b.x1, b.y1)
    if face is not None and len(face.points):
        xy = np.asarray(face.points, dtype=np.float64)
    elif points:
        xy = np.array(list(points.values()))
    else:
        return (0.0, 0.0, float(photo.width), float(photo.height))
    lo, hi = np.nanmin(xy, axis=0), np.nanmax(xy, axis=0)
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def _mean_confidence(semantic: SemanticLandmarks) -> float | None:
    vals = [c for k, c in semantic.confidence.items() if k.startswith("ibug_")]
    if not vals:
        vals = list(semantic.confidence.values())
    return float(np.mean(vals)) if vals else None


def _occlusion_hints(
    points: dict[str, FloatArray], conf: dict[str, float], photo: Photo, hints: list[str]
) -> bool:
    """Adds region hints; True when an inner-face point (or menton) is outside the image."""
    inner_outside = False
    for region, indices in IBUG68_REGIONS.items():
        names = [IBUG68[i] for i in indices if IBUG68[i] in points]
        if not names:
            continue
        region_conf = [conf.get(n, 1.0) for n in names]
        if float(np.mean(region_conf)) < REGION_LOW_CONFIDENCE:
            hints.append(f"low_confidence:{region}")
        out = [n for n in names if not _inside(points[n], photo)]
        if out:
            hints.append(f"outside_image:{region}")
            if any(int(n[5:]) in _INNER for n in out):
                inner_outside = True
    return inner_outside


def _inside(p: FloatArray, photo: Photo) -> bool:
    return bool(-0.5 <= p[0] <= photo.width - 0.5 and -0.5 <= p[1] <= photo.height - 0.5)
