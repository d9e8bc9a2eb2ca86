"""Is this photo fit to be measured, and which way does the head face?

* :mod:`.checks` — the verdict :func:`assess`: face count and size, sharpness, landmark
  confidence and occlusion, expression (eyes, mouth, smile), and the flags and hints
  they raise;
* :mod:`.pose` — head pose (yaw, pitch, roll) by PnP against a mean face, and the view it
  implies;
* :mod:`.view` — the photo's view (frontal, oblique, profile): the DICOM header's, else the
  photo's own evidence of a profile (a hidden eye, the nose on the outline), else the pose's;
* :mod:`.coverage` — which measurements that view allows, and why the others were not made.
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
    PROFILE_LIP_GAP,
    PROFILE_LIP_NOTCH,
    REGION_LOW_CONFIDENCE,
    SMILE_LIFT_RATIO,
    SMILE_WIDTH_RATIO,
    assess,
    assess_with_outline,
    eye_aspect_ratio,
    profile_mouth_open,
    sharpness_score,
)
from analysis.quality.pose import (
    FRONTAL_MAX_YAW,
    OBLIQUE_MAX_YAW,
    RIGID_TEMPLATE,
    TEMPLATE_MM,
    camera_matrix,
    estimate_pose,
    pose_from_rotation,
    rotation_from_pose,
    view_from_yaw,
)
from analysis.quality.view import (
    EVIDENCE_MIN_YAW,
    EYE_GONE_RATIO,
    EYE_HIDDEN_RATIO,
    TIP_AGREEMENT,
    ViewCall,
    classify_view,
    eye_width_ratio,
)

__all__ = [
    "BLUR_CROP_PX",
    "BLUR_THRESHOLD",
    "EVIDENCE_MIN_YAW",
    "EYE_CLOSED_EAR",
    "EYE_GONE_RATIO",
    "EYE_HIDDEN_RATIO",
    "FRONTAL_LIMITS_DEG",
    "FRONTAL_MAX_YAW",
    "MIN_DETECTION_CONFIDENCE",
    "MIN_FACE_PX",
    "MIN_LANDMARK_CONFIDENCE",
    "MOUTH_OPEN_RATIO",
    "OBLIQUE_MAX_YAW",
    "POSE_FIT_POOR",
    "PROFILE_LIP_GAP",
    "PROFILE_LIP_NOTCH",
    "REGION_LOW_CONFIDENCE",
    "RIGID_TEMPLATE",
    "SMILE_LIFT_RATIO",
    "SMILE_WIDTH_RATIO",
    "TEMPLATE_MM",
    "TIP_AGREEMENT",
    "ViewCall",
    "assess",
    "assess_with_outline",
    "camera_matrix",
    "classify_view",
    "estimate_pose",
    "eye_aspect_ratio",
    "eye_width_ratio",
    "pose_from_rotation",
    "profile_mouth_open",
    "rotation_from_pose",
    "sharpness_score",
    "view_from_yaw",
]
