"""Which way the head faces, from the DICOM header or from the photo itself.

Most clinic cameras write no View Code Sequence, and a frontal landmark model's pose is
not enough to tell a profile: fitted to a true profile (its hidden half guessed), its PnP
yaw came out ≈ 52° on a real right-lateral portrait, well short of the 60° that makes a
profile. So the view is decided in this order:

1. **DICOM** (``ViewSource.DICOM``): ``photo.view_hint`` when the header gave one.
2. **Photo evidence** (``ViewSource.PHOTO``), looked for only when the pose turns the head
   by at least :data:`EVIDENCE_MIN_YAW` (a frontal photo pays nothing):

   * *one eye hidden* — the far eye's fissure (exocanthion–endocanthion, image pixels) is
     under :data:`EYE_HIDDEN_RATIO` of the near one's: the model squeezed an eye it could
     not see. On the real lateral portrait 0.29; on renders of a real face scan turned
     30° from frontal 0.47–0.50, on the real frontal and oblique portraits 0.76–1.0;
   * *nose on the outline* — the silhouette (:mod:`analysis.profile`) finds a profile
     outline whose nasal tip is where the model put it (within :data:`TIP_AGREEMENT` of
     the nasion–menton height): the nose stands out of the face's outline, as it does only
     near a profile. On the lateral portrait 0.05; on turned or frontal faces, where the
     "outline" is a cheek, an ear or the back of the head, 0.86 and more.

   Profile when the far eye is hidden and the outline agrees (or cannot be traced on a
   busy backdrop), or when the far eye is all but gone (< :data:`EYE_GONE_RATIO`). The
   side is the side the camera sees, where the wider eye is; it must agree with the
   pose's sign, else the evidence is not used.
3. **Pose** (``ViewSource.POSE``): :func:`analysis.quality.pose.view_from_yaw`.

A face the landmark model did not see at all but whose outline the silhouette traced
(the pipeline tries both facings) comes in as profile points only: it is a profile facing
the way its nose points, from the photo's evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from analysis.landmark_names import LEFT_EYE, RIGHT_EYE
from analysis.profile import find_profile_points
from analysis.quality.pose import view_from_yaw
from analysis.types import FloatArray, HeadPose, Photo, SemanticLandmarks, View, ViewSource

#: |yaw| (degrees) from which the photo's own evidence of a profile is looked for.
EVIDENCE_MIN_YAW: Final = 30.0
#: Far-eye fissure over near-eye fissure below which the far eye counts as hidden.
EYE_HIDDEN_RATIO: Final = 0.45
#: ... below which it counts as gone, whatever the outline says.
EYE_GONE_RATIO: Final = 0.35
#: Largest distance (fraction of nasion–menton) between the outline's and the model's tip.
TIP_AGREEMENT: Final = 0.15

PROFILE_VIEWS: Final = (View.PROFILE_LEFT, View.PROFILE_RIGHT)


@dataclass(frozen=True)
class ViewCall:
    """The view, where it came from, and the profile outline's points when one was traced
    for it (the pipeline measures them instead of tracing the outline again)."""

    view: View
    source: ViewSource
    outline: SemanticLandmarks | None = None


def classify_view(
    photo: Photo,
    pose: HeadPose | None,
    points: dict[str, FloatArray],
    semantic: SemanticLandmarks | None = None,
) -> ViewCall:
    """The photo's view (see the module docstring); ``points`` are ``semantic``'s as arrays."""
    profile_only = "pronasale" in points and not any(k.startswith("ibug_") for k in points)
    if photo.view_hint is not None and photo.view_hint is not View.UNKNOWN:
        hint = photo.view_hint
        outline = None
        if hint in PROFILE_VIEWS and not profile_only:
            outline = find_profile_points(photo, hint, semantic)
        return ViewCall(hint, ViewSource.DICOM, outline)
    if pose is None:
        facing = _facing_of_profile(points)
        if facing is not None:
            return ViewCall(facing, ViewSource.PHOTO)
        return ViewCall(View.UNKNOWN, ViewSource.POSE)
    by_pose = view_from_yaw(pose.yaw)
    if abs(pose.yaw) < EVIDENCE_MIN_YAW and by_pose not in PROFILE_VIEWS:
        return ViewCall(by_pose, ViewSource.POSE)
    side = View.PROFILE_RIGHT if pose.yaw > 0 else View.PROFILE_LEFT
    outline = find_profile_points(photo, side, semantic)
    if _profile_evidence(points, side, outline):
        return ViewCall(side, ViewSource.PHOTO, outline)
    return ViewCall(by_pose, ViewSource.POSE, outline if by_pose in PROFILE_VIEWS else None)


def eye_width_ratio(points: dict[str, FloatArray]) -> tuple[float, View] | None:
    """(narrower over wider eye fissure, the profile side of the wider eye), or None.

    The subject's right eye is the wider one when the camera sees their right side.
    """
    widths = []
    for eye in (RIGHT_EYE, LEFT_EYE):
        ex, en = points.get(eye[0]), points.get(eye[3])
        if ex is None or en is None:
            return None
        widths.append(float(np.hypot(*(ex - en))))
    right, left = widths
    if max(right, left) <= 0:
        return None
    seen = View.PROFILE_RIGHT if right >= left else View.PROFILE_LEFT
    return min(right, left) / max(right, left), seen


def tip_agreement(points: dict[str, FloatArray], outline: SemanticLandmarks) -> float | None:
    """Distance between the outline's and the landmark model's nasal tip, as a fraction
    of the model's nasion–menton height; None without the points."""
    tip, n, me = points.get("ibug_30"), points.get("ibug_27"), points.get("ibug_08")
    prn = outline.points.get("pronasale")
    if tip is None or n is None or me is None or prn is None:
        return None
    height = float(np.hypot(*(me - n)))
    if height <= 0:
        return None
    return math.dist((float(tip[0]), float(tip[1])), prn) / height


def _profile_evidence(
    points: dict[str, FloatArray], side: View, outline: SemanticLandmarks | None
) -> bool:
    eyes = eye_width_ratio(points)
    if eyes is None or eyes[1] is not side:
        return False
    ratio = eyes[0]
    if ratio < EYE_GONE_RATIO:
        return True
    if ratio >= EYE_HIDDEN_RATIO:
        return False
    if outline is None:
        return True  # no outline to check against (busy backdrop): the eyes decide
    agreement = tip_agreement(points, outline)
    return agreement is not None and agreement <= TIP_AGREEMENT


def _facing_of_profile(points: dict[str, FloatArray]) -> View | None:
    """A face given only as profile points faces the way its nose points."""
    prn, n = points.get("pronasale"), points.get("soft_tissue_nasion")
    if prn is None or n is None or abs(float(prn[0] - n[0])) <= 1e-6:
        return None
    return View.PROFILE_RIGHT if prn[0] > n[0] else View.PROFILE_LEFT
