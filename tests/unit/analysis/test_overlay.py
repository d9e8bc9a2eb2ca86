from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.overlay import (
    BANNER_BG,
    OVERLAYS,
    caption_lines,
    facial_midline,
    format_measurement,
    landmark_points,
    render_overlays,
)
from analysis.types import Measurement, Photo, PhotoAnalysis, View
from tests.factories import astronaut, make_photo_analysis


@pytest.fixture(scope="module")
def photo() -> Photo:
    return Photo(astronaut())


def _banner_height(img: np.ndarray) -> int:
    col = img[:, 0]
    h = 0
    while h < len(col) and tuple(col[h]) == BANNER_BG:
        h += 1
    return h


def test_landmarks_overlay_has_banner_photo_marks_and_caption(photo):
    result = make_photo_analysis()
    (title, img), *rest = render_overlays(photo, result)
    assert title == "Landmarks" and rest == []
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    top = _banner_height(img)
    assert top > 10, "red banner on top"
    banner = img[:top]
    assert (banner.min(axis=2) > 200).sum() > 50, "white banner text is drawn"
    h, w = photo.pixels.shape[:2]
    assert img.shape[1] == w and img.shape[0] > top + h, "caption band below the photo"
    body = img[top : top + h]
    changed = np.any(body != photo.pixels, axis=2)
    assert result.semantic is not None
    for x, y in result.semantic.points.values():  # every landmark is marked where it is
        assert changed[round(y), round(x)]
    assert changed.mean() < 0.05, "the photo itself is not repainted"
    caption = img[top + h :]
    assert (caption.min(axis=2) > 200).sum() > 100, "caption text is drawn"


def test_no_face_gives_one_overlay_that_says_so(photo):
    result = make_photo_analysis(face_found=False)
    ((title, img),) = render_overlays(photo, result)
    assert title == "No face detected"
    top = _banner_height(img)
    assert top > 10
    assert np.array_equal(img[top : top + photo.height], photo.pixels)


def test_tiny_photo_gets_a_canvas_wide_enough_for_the_banner():
    tiny = Photo(np.full((20, 20, 3), 90, np.uint8))
    ((_, img),) = render_overlays(tiny, make_photo_analysis(face_found=False))
    assert img.shape[1] > 20
    top = _banner_height(img)
    assert np.array_equal(img[top : top + 20, :20], tiny.pixels)


def test_overlays_are_a_list_of_renderers():
    assert [t for t, _ in OVERLAYS][0] == "Landmarks"
    assert all(callable(r) for _, r in OVERLAYS)


def test_midline_is_perpendicular_to_the_pupil_axis_through_its_middle():
    pts = {"pupil_r": (100.0, 100.0), "pupil_l": (160.0, 110.0), "ibug_08": (135.0, 250.0)}
    (x0, y0), (x1, y1) = facial_midline(pts, 300, 300)
    d = np.array([x1 - x0, y1 - y0])
    axis = np.array([60.0, 10.0])
    assert abs(float(d @ axis)) / (np.linalg.norm(d) * np.linalg.norm(axis)) < 1e-9
    mid = np.array([130.0, 105.0])
    cross = d[0] * (mid[1] - y0) - d[1] * (mid[0] - x0)
    assert abs(cross) / np.linalg.norm(d) < 1e-6
    assert y1 > y0


def test_midline_falls_back_to_a_fit_through_midline_points():
    pts = {f"ibug_{i:02d}": (200.0, 50.0 + 10 * i) for i in (27, 28, 29, 30, 33)}
    (x0, _), (x1, _) = facial_midline(pts, 400, 400)
    assert x0 == pytest.approx(200.0) and x1 == pytest.approx(200.0)
    assert facial_midline({"ibug_27": (1.0, 1.0)}, 10, 10) is None


def test_profile_views_get_no_midline(photo):
    front = render_overlays(photo, make_photo_analysis(view=View.FRONTAL))[0][1]
    profile = render_overlays(photo, make_photo_analysis(view=View.PROFILE_RIGHT))[0][1]
    assert not np.array_equal(front, profile)

    def cyan(img: np.ndarray) -> int:  # the midline colour (0, 220, 255), anti-aliased
        r, g, b = (img[..., i].astype(int) for i in range(3))
        return int(((r < 90) & (g > 150) & (b > 200)).sum())

    assert cyan(front) > cyan(profile) + 20


def test_caption_lists_measurements_scale_and_unreliability():
    result = make_photo_analysis(flags=("small_face",))
    lines = caption_lines(result)
    text = "\n".join(lines)
    assert "Intercanthal width:" in text and " mm +/- " in text
    assert "Scale:" in text and "assumed interpupillary distance" in text
    assert "UNRELIABLE: small_face" in text
    assert "* flagged unreliable" in text
    assert all(line.isascii() for line in lines)


def test_format_measurement():
    m = Measurement("a", "Nasolabial angle", 101.234, "deg", 2.5, ("x",), flags=("pose",))
    assert format_measurement(m) == "Nasolabial angle: 101.2 deg +/- 2.5 *"
    r = Measurement("b", "Ratio", 0.8123, "{ratio}", 0.0, ("x",))
    assert format_measurement(r) == "Ratio: 0.81"


def test_raw_points_used_without_semantic_landmarks():
    full = make_photo_analysis()
    raw_only = PhotoAnalysis(face_found=True, message="", landmarks=full.landmarks)
    pts = landmark_points(raw_only)
    assert len(pts) == 68 and "ibug68_000" in pts
    assert all(math.isfinite(v) for p in pts.values() for v in p)
