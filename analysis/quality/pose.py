"""Head pose from 2D landmarks, and the view (frontal, oblique, profile) it implies.

Head pose
    ``cv2.solvePnP`` (SQPnP, then Levenberg–Marquardt) of up to 12 landmarks (only the 7
    rigid canthal and nasal ones when the mouth is open or smiling) against
    :data:`TEMPLATE_MM`, a generic mean face: the vertices of MediaPipe's canonical face
    model (``canonical_face_model.obj``, google/mediapipe, Apache-2.0; cm → mm) that
    :mod:`analysis.landmarks.semantic` maps to the same iBUG points. Camera: focal length
    = the image's larger side in pixels, principal point at the centre, no distortion.
    Template frame: X toward the subject's left, Y down, Z away from the camera (the
    OpenCV camera frame of a face looking into the lens). The rotation is decomposed as
    R = R_y(−yaw) · R_x(−pitch) · R_z(roll):

    * yaw > 0: the subject turns to *their left* (the nose moves to the image's right and
      the camera sees the right side of the face);
    * pitch > 0: chin up (the nose moves up in the image);
    * roll > 0: the head tilts toward the subject's left shoulder (in a frontal photo the
      right eye, on the image's left, rises).

View by pose
    :func:`view_from_yaw`: |yaw| < 15° frontal, < 60° oblique, else profile; the side is the
    side of the face the camera sees (yaw > 0 → right). The photo's view is decided in
    :mod:`analysis.quality.view` (DICOM header first, then the photo's own evidence of a
    profile, then this).
"""

from __future__ import annotations

import logging
import math
from typing import Final

import cv2
import numpy as np

from analysis.types import FloatArray, HeadPose, SemanticLandmarks, View

log = logging.getLogger(__name__)

FRONTAL_MAX_YAW = 15.0
OBLIQUE_MAX_YAW = 60.0

#: Generic mean face (mm) from MediaPipe's canonical face model, keyed by the iBUG point
#: each vertex stands for (vertex numbers as in analysis.landmarks.semantic).
TEMPLATE_MM: Final[dict[str, tuple[float, float, float]]] = {
    "ibug_36": (-44.459, -26.640, -31.734),  # vertex 33, right exocanthion
    "ibug_39": (-18.564, -25.852, -37.579),  # vertex 133, right endocanthion
    "ibug_42": (18.564, -25.852, -37.579),  # vertex 362, left endocanthion
    "ibug_45": (44.459, -26.640, -31.734),  # vertex 263, left exocanthion
    "ibug_27": (0.0, -28.721, -55.123),  # mean of vertices 168 and 6, nasal bridge
    "ibug_30": (0.0, 4.632, -75.866),  # vertex 4, nasal tip
    "ibug_33": (0.0, 20.890, -60.583),  # vertex 2, subnasale
    "ibug_48": (-24.562, 43.426, -42.839),  # vertex 61, right cheilion
    "ibug_54": (24.562, 43.426, -42.839),  # vertex 291, left cheilion
    "ibug_51": (0.0, 34.064, -59.795),  # vertex 0, labrale superius
    "ibug_57": (0.0, 53.651, -55.354),  # vertex 17, labrale inferius
    "ibug_08": (0.0, 94.034, -42.645),  # vertex 152, menton
}

#: Template points that expression does not move: canthi and nose.
RIGID_TEMPLATE: Final = frozenset(
    {"ibug_36", "ibug_39", "ibug_42", "ibug_45", "ibug_27", "ibug_30", "ibug_33"}
)


# --- pose ------------------------------------------------------------------------------


def rotation_from_pose(pose: HeadPose) -> FloatArray:
    """The camera-from-template rotation for ``pose`` (convention in the module docstring)."""
    a, b, c = (math.radians(v) for v in (-pose.yaw, -pose.pitch, pose.roll))
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz  # type: ignore[no-any-return]


def pose_from_rotation(r: FloatArray) -> HeadPose:
    """Inverse of :func:`rotation_from_pose`."""
    b = math.asin(max(-1.0, min(1.0, -float(r[1, 2]))))
    a = math.atan2(float(r[0, 2]), float(r[2, 2]))
    c = math.atan2(float(r[1, 0]), float(r[1, 1]))
    return HeadPose(yaw=-math.degrees(a), pitch=-math.degrees(b), roll=math.degrees(c))


def camera_matrix(width: int, height: int) -> FloatArray:
    """The assumed pinhole camera: focal length the larger side, centred, in pixels."""
    f = float(max(width, height))
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0, 0, 1.0]])


def estimate_pose(
    semantic: SemanticLandmarks, width: int, height: int, *, rigid_only: bool = False
) -> tuple[HeadPose | None, float | None]:
    """Head pose and the reprojection RMS (fraction of the eye span), or (None, None).

    ``rigid_only`` drops the lip and chin points, which an open mouth or a smile moves
    (an open jaw otherwise reads as the chin tipping down).
    """
    names = [n for n in TEMPLATE_MM if n in semantic.points]
    if rigid_only:
        names = [n for n in names if n in RIGID_TEMPLATE]
    if len(names) < 6:
        return None, None
    obj = np.array([TEMPLATE_MM[n] for n in names], dtype=np.float64)
    img = np.array([semantic.points[n] for n in names], dtype=np.float64)
    k = camera_matrix(width, height)
    dist = np.zeros(4)
    try:
        ok, rvec, tvec = cv2.solvePnP(obj, img, k, dist, flags=cv2.SOLVEPNP_SQPNP)
        if not ok:
            return None, None
        rvec, tvec = cv2.solvePnPRefineLM(obj, img, k, dist, rvec, tvec)
    except cv2.error as exc:
        log.debug("solvePnP failed: %s", exc)
        return None, None
    if float(tvec[2, 0]) <= 0:
        return None, None
    r = np.asarray(cv2.Rodrigues(rvec)[0], dtype=np.float64)
    proj, _ = cv2.projectPoints(obj, rvec, tvec, k, dist)
    rms = float(np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - img) ** 2, axis=1))))
    span = _span(semantic)
    return pose_from_rotation(r), (rms / span if span else None)


def _span(semantic: SemanticLandmarks) -> float | None:
    """The outer-canthal distance (px) that the fit error is measured against."""
    a, b = semantic.points.get("ibug_36"), semantic.points.get("ibug_45")
    if a is None or b is None:
        return None
    d = math.dist(a, b)
    return d if d > 0 else None


# --- view ------------------------------------------------------------------------------


def view_from_yaw(yaw: float) -> View:
    """Frontal, oblique or profile, on the side the camera sees (see the module docstring)."""
    if abs(yaw) < FRONTAL_MAX_YAW:
        return View.FRONTAL
    right = yaw > 0
    if abs(yaw) < OBLIQUE_MAX_YAW:
        return View.OBLIQUE_RIGHT if right else View.OBLIQUE_LEFT
    return View.PROFILE_RIGHT if right else View.PROFILE_LEFT
