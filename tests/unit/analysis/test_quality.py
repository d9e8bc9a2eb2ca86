"""Photo quality: pose from a synthetic projection, blur on a real photo, flags and view."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage import data

from analysis import quality
from analysis.types import FaceBox, HeadPose, LandmarkSet, Photo, SemanticLandmarks, View
from tests.unit.analysis.faces import FRONTAL_MM, MODEL, semantic, to_pixels

# dlib's 68 points on skimage.data.astronaut() (shape_predictor_68_face_landmarks, detector
# box (175, 76)-(265, 166)); stored so the test needs no landmark backend.
ASTRONAUT_BOX = (175.0, 76.0, 265.0, 166.0)
ASTRONAUT_68 = [
    (179, 104), (180, 116), (181, 127), (182, 139), (185, 150), (191, 160), (200, 168),
    (209, 176), (220, 178), (232, 177), (243, 171), (253, 163), (260, 154), (265, 143),
    (268, 131), (270, 120), (272, 108), (186, 94), (192, 88), (200, 87), (208, 89), (216, 92),
    (236, 93), (244, 91), (252, 91), (260, 92), (265, 99), (226, 102), (225, 111), (225, 119),
    (225, 127), (214, 131), (219, 133), (224, 134), (229, 133), (234, 132), (195, 101),
    (200, 98), (207, 98), (212, 104), (206, 104), (199, 104), (237, 106), (243, 100),
    (250, 100), (255, 105), (250, 107), (244, 107), (201, 139), (209, 139), (218, 139),
    (224, 141), (230, 140), (238, 140), (246, 141), (238, 151), (229, 155), (222, 156),
    (216, 155), (208, 150), (204, 141), (218, 143), (223, 144), (230, 143), (243, 142),
    (229, 150), (223, 151), (217, 150),
]  # fmt: skip


def face(
    points: dict[str, tuple[float, float]],
    box: tuple[float, ...] | None = None,
    score: float = 0.99,
) -> LandmarkSet:
    xy = np.array(list(points.values()), dtype=np.float64)
    fb = FaceBox(*box, score=score) if box else None  # type: ignore[misc]
    return LandmarkSet("semantic", xy, np.ones(len(xy)), 0.9, MODEL, fb)


def astronaut_semantic(scale: float = 1.0) -> SemanticLandmarks:
    pts = {f"ibug_{i:02d}": (x * scale, y * scale) for i, (x, y) in enumerate(ASTRONAUT_68)}
    return semantic(pts)


def textured(w: int = 900, h: int = 900) -> Photo:
    rng = np.random.default_rng(0)
    return Photo(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


# --- pose -----------------------------------------------------------------------------


def project_template(
    yaw: float, pitch: float, roll: float, w: int = 900, h: int = 900
) -> dict[str, tuple[float, float]]:
    """Project the mean-face template with the documented convention
    R = R_y(−yaw) · R_x(−pitch) · R_z(roll), written out here independently."""
    a, b, c = math.radians(-yaw), math.radians(-pitch), math.radians(roll)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    r = ry @ rx @ rz
    f = float(max(w, h))
    out = {}
    for name, xyz in quality.TEMPLATE_MM.items():
        x, y, z = r @ np.asarray(xyz) + np.array([10.0, -5.0, 600.0])
        out[name] = (f * x / z + (w - 1) / 2, f * y / z + (h - 1) / 2)
    return out


@pytest.mark.parametrize(
    "yaw,pitch,roll",
    [(0, 0, 0), (12, -5, 3), (-25, 8, -10), (40, 0, 0), (5, 15, 20), (-8, -12, 6)],
)
def test_pose_recovered_from_a_synthetic_projection(yaw: float, pitch: float, roll: float) -> None:
    pts = project_template(yaw, pitch, roll)
    pose, err = quality.estimate_pose(semantic(pts), 900, 900)
    assert pose is not None and err is not None
    assert pose.yaw == pytest.approx(yaw, abs=0.2)
    assert pose.pitch == pytest.approx(pitch, abs=0.2)
    assert pose.roll == pytest.approx(roll, abs=0.2)
    assert err < 1e-3


def test_pose_signs_mean_what_the_docstring_says() -> None:
    front = project_template(0, 0, 0)
    turned = project_template(20, 0, 0)
    eyes_mid = (turned["ibug_36"][0] + turned["ibug_45"][0]) / 2
    assert turned["ibug_30"][0] > eyes_mid  # yaw > 0: nose toward the image's right
    up = project_template(0, 15, 0)
    assert up["ibug_30"][1] < front["ibug_30"][1]  # pitch > 0: nose rises (chin up)
    tilted = project_template(0, 0, 10)
    assert tilted["ibug_36"][1] < tilted["ibug_45"][1]  # roll > 0: right eye (image left) rises


def test_rotation_helpers_round_trip() -> None:
    pose = HeadPose(yaw=17.0, pitch=-9.0, roll=4.0)
    back = quality.pose_from_rotation(quality.rotation_from_pose(pose))
    assert (back.yaw, back.pitch, back.roll) == pytest.approx((17.0, -9.0, 4.0))


def test_pose_needs_six_template_points() -> None:
    pts = dict(list(project_template(0, 0, 0).items())[:5])
    assert quality.estimate_pose(semantic(pts), 900, 900) == (None, None)


# --- view -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "yaw,view",
    [
        (0, View.FRONTAL),
        (14, View.FRONTAL),
        (-20, View.OBLIQUE_LEFT),
        (30, View.OBLIQUE_RIGHT),
        (70, View.PROFILE_RIGHT),
        (-80, View.PROFILE_LEFT),
    ],
)
def test_view_from_yaw(yaw: float, view: View) -> None:
    assert quality.view_from_yaw(yaw) is view


def test_view_from_pose_and_head_rotated_flag() -> None:
    pts = project_template(30, 0, 0)
    q = quality.assess(textured(), [face(pts)], 0, semantic(pts))
    assert (q.view, q.view_source) == (View.OBLIQUE_RIGHT, "pose")
    assert "head_rotated" not in q.flags  # an oblique view is not a badly posed frontal one

    pts = project_template(12, 0, 0)
    q = quality.assess(textured(), [face(pts)], 0, semantic(pts))
    assert q.view is View.FRONTAL and "head_rotated" in q.flags

    pts = project_template(2, 3, 1)
    q = quality.assess(textured(), [face(pts)], 0, semantic(pts))
    assert q.view is View.FRONTAL and "head_rotated" not in q.flags


def test_view_hint_from_dicom_wins_and_a_turned_frontal_is_flagged() -> None:
    pts = project_template(25, 0, 0)
    photo = Photo(textured().pixels, view_hint=View.FRONTAL)
    q = quality.assess(photo, [face(pts)], 0, semantic(pts))
    assert (q.view, q.view_source) == (View.FRONTAL, "dicom")
    assert "head_rotated" in q.flags
    unknown = Photo(textured().pixels, view_hint=View.UNKNOWN)
    assert quality.assess(unknown, [face(pts)], 0, semantic(pts)).view_source == "pose"


def test_profile_points_only_give_a_profile_view_facing_the_nose() -> None:
    from tests.unit.analysis.faces import PROFILE_MM

    right = to_pixels(PROFILE_MM)
    left = to_pixels(PROFILE_MM, mirror_x=True)
    assert quality.assess(textured(), [face(right)], 0, semantic(right)).view is (
        View.PROFILE_RIGHT
    )
    assert quality.assess(textured(), [face(left)], 0, semantic(left)).view is View.PROFILE_LEFT


# --- blur on a real photo -----------------------------------------------------------------


def test_blur_sharp_vs_blurred_astronaut() -> None:
    img = data.astronaut()
    sem = astronaut_semantic()
    sharp = quality.assess(Photo(img), [face(sem.points, ASTRONAUT_BOX)], 0, sem)
    blurred_img = cv2.GaussianBlur(img, (0, 0), 3)
    blurred = quality.assess(Photo(blurred_img), [face(sem.points, ASTRONAUT_BOX)], 0, sem)
    assert sharp.blur > 5 * quality.BLUR_THRESHOLD
    assert "blurred" not in sharp.flags
    assert blurred.blur < quality.BLUR_THRESHOLD
    assert "blurred" in blurred.flags


def test_blur_score_does_not_depend_on_resolution() -> None:
    img = data.astronaut()
    big = cv2.resize(img, (2048, 2048), interpolation=cv2.INTER_LANCZOS4)
    box4 = tuple(4 * v for v in ASTRONAUT_BOX)
    small_blur = quality.sharpness_score(cv2.GaussianBlur(img, (0, 0), 2), ASTRONAUT_BOX)
    big_blur = quality.sharpness_score(cv2.GaussianBlur(big, (0, 0), 8), box4)  # same blur
    assert big_blur == pytest.approx(small_blur, rel=0.3)
    assert quality.sharpness_score(big, box4) > quality.BLUR_THRESHOLD  # upsampled, not blurred


def test_real_astronaut_is_assessed_as_smiling_with_an_open_mouth() -> None:
    sem = astronaut_semantic()
    q = quality.assess(Photo(data.astronaut()), [face(sem.points, ASTRONAUT_BOX, 0.98)], 0, sem)
    assert q.face_count == 1 and q.main_face_index == 0
    assert q.detection_confidence == pytest.approx(0.98)
    assert q.face_size_px == pytest.approx(90.0)
    assert q.mouth_open and q.smile
    assert {"mouth_open", "smiling"} <= set(q.flags)
    assert "face_too_small" not in q.flags and "blurred" not in q.flags
    assert q.view is View.FRONTAL and q.pose is not None and abs(q.pose.yaw) < 10
    assert not q.reliable


def test_small_face_is_flagged() -> None:
    img = cv2.resize(data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA)
    sem = astronaut_semantic(0.25)
    box = tuple(v * 0.25 for v in ASTRONAUT_BOX)
    q = quality.assess(Photo(img), [face(sem.points, box)], 0, sem)
    assert "face_too_small" in q.flags


# --- faces, confidence, occlusion, expression ----------------------------------------------


def test_multiple_faces_is_informational_and_the_main_face_is_reported() -> None:
    pts = to_pixels(FRONTAL_MM)
    other = {k: (x / 4, y / 4) for k, (x, y) in pts.items()}
    q = quality.assess(textured(), [face(other), face(pts)], 1, semantic(pts))
    assert q.face_count == 2 and q.main_face_index == 1
    assert "multiple_faces:2" in q.occlusion_hints
    assert not any(f.startswith("multiple") for f in q.flags)
    assert q.reliable


def test_no_face_and_low_confidences_are_flagged() -> None:
    pts = to_pixels(FRONTAL_MM)
    assert "no_face" in quality.assess(textured(), [], 0, semantic(pts)).flags
    q = quality.assess(textured(), [face(pts, (0, 0, 700, 700), score=0.2)], 0, semantic(pts, 0.3))
    assert {"low_detection_confidence", "low_landmark_confidence"} <= set(q.flags)
    assert any(h.startswith("low_confidence:") for h in q.occlusion_hints)
    with pytest.raises(IndexError):
        quality.assess(textured(), [face(pts)], 3, semantic(pts))


def test_landmarks_outside_the_image() -> None:
    pts = to_pixels(FRONTAL_MM, origin=(400.0, 60.0))  # brows and eyes above the top edge
    q = quality.assess(textured(), [face(pts)], 0, semantic(pts))
    assert "landmarks_outside_image" in q.flags
    assert "outside_image:brows" in q.occlusion_hints
    jaw_only = to_pixels(FRONTAL_MM, origin=(400.0, 300.0))
    jaw_only = {k: ((-5.0, y) if k == "ibug_00" else (x, y)) for k, (x, y) in jaw_only.items()}
    q = quality.assess(textured(), [face(jaw_only)], 0, semantic(jaw_only))
    assert "landmarks_outside_image" not in q.flags
    assert "outside_image:jaw" in q.occlusion_hints


def _closed(mm: dict[str, tuple[float, float]], eye: range) -> dict[str, tuple[float, float]]:
    out = dict(mm)
    for i in eye:
        x, _ = out[f"ibug_{i}"]
        out[f"ibug_{i}"] = (x, 0.5 if i in (40, 41, 46, 47) else -0.5)
    return out


def test_eyes_closed_and_one_eye_nearly_closed() -> None:
    both = to_pixels(_closed(_closed(FRONTAL_MM, range(36, 42)), range(42, 48)))
    q = quality.assess(textured(), [face(both)], 0, semantic(both))
    assert "eyes_closed" in q.flags
    one = to_pixels(_closed(FRONTAL_MM, range(36, 42)))
    q = quality.assess(textured(), [face(one)], 0, semantic(one))
    assert "eyes_closed" not in q.flags
    assert "eye_nearly_closed:r" in q.occlusion_hints


def test_neutral_synthetic_face_is_reliable_and_open_mouth_is_flagged() -> None:
    pts = to_pixels(FRONTAL_MM)
    q = quality.assess(textured(), [face(pts)], 0, semantic(pts))
    assert q.reliable, q.flags
    assert not q.mouth_open and not q.smile
    mm = dict(FRONTAL_MM)
    for i, dy in ((57, 10), (58, 10), (56, 10), (65, 10), (66, 10), (67, 10), (8, 10)):
        x, y = mm[f"ibug_{i:02d}"]
        mm[f"ibug_{i:02d}"] = (x, y + dy)
    pts = to_pixels(mm)
    q = quality.assess(textured(), [face(pts)], 0, semantic(pts))
    assert q.mouth_open and "mouth_open" in q.flags and not q.smile
