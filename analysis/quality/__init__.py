"""Is this photo fit to be measured, and which way does the head face?

* :mod:`.checks` — the verdict :func:`assess`: face count and size, sharpness, landmark
  confidence and occlusion, expression (eyes, mouth, smile), and the flags and hints
  they raise;
* :mod:`.pose` — head pose (yaw, pitch, roll) by PnP against a mean face, and the view
  (frontal, oblique, profile) from the DICOM header or the pose.
"""

from __future__ import annotations

from analysis.quality.checks import (
    BLUR_CROP_PX,
    BLUR_THRESHOLD,
    EYE_CLOSED_EAR,
    FRONTAL_LIMITS_DEG,
    MIN_DETECTION_CONFIDENCE,
    MIN_FACE_PX,
    MIN_LANDMARK_CONFIDENCE,
    MOUTH_OPEN_RATIO,
    POSE_FIT_POOR,
    REGION_LOW_CONFIDENCE,
    SMILE_LIFT_RATIO,
    SMILE_WIDTH_RATIO,
    assess,
    eye_aspect_ratio,
    sharpness_score,
)
from analysis.quality.pose import (
    FRONTAL_MAX_YAW,
    OBLIQUE_MAX_YAW,
    RIGID_TEMPLATE,
    TEMPLATE_MM,
    camera_matrix,
    estimate_pose,
    photo_view,
    pose_from_rotation,
    rotation_from_pose,
    view_from_yaw,
)

__all__ = [
    "BLUR_CROP_PX",
    "BLUR_THRESHOLD",
    "EYE_CLOSED_EAR",
    "FRONTAL_LIMITS_DEG",
    "FRONTAL_MAX_YAW",
    "MIN_DETECTION_CONFIDENCE",
    "MIN_FACE_PX",
    "MIN_LANDMARK_CONFIDENCE",
    "MOUTH_OPEN_RATIO",
    "OBLIQUE_MAX_YAW",
    "POSE_FIT_POOR",
    "REGION_LOW_CONFIDENCE",
    "RIGID_TEMPLATE",
    "SMILE_LIFT_RATIO",
    "SMILE_WIDTH_RATIO",
    "TEMPLATE_MM",
    "assess",
    "camera_matrix",
    "estimate_pose",
    "eye_aspect_ratio",
    "photo_view",
    "pose_from_rotation",
    "rotation_from_pose",
    "sharpness_score",
    "view_from_yaw",
]
