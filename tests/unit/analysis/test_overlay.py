from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from analysis import measurements as catalogue
from analysis.geometry import face_frame, fit_mirror_axis, frame_of
from analysis.landmark_names import INNER_FACE_INDICES, LEFT_EYE, RIGHT_EYE, mirror_pair
from analysis.measurements.geometry import Pts
from analysis.overlay import (
    ANGLE,
    BANNER_BG,
    FIFTHS,
    MIDLINE,
    MIRROR_AXIS,
    OVERLAYS,
    THIRDS,
    caption_lines,
    format_measurement,
    landmark_points,
    marks,
    mirror_composites,
    render_angles,
    render_landmarks,
    render_midline,
    render_mirror_composites,
    render_overlays,
    render_thirds_fifths,
)
from analysis.types import ASYMMETRY_UNCONFIRMED, Flag, Measurement, Photo, PhotoAnalysis, View
from tests.factories import astronaut, make_photo_analysis
from tests.unit.analysis import faces


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
    (title, img), *_ = render_overlays(photo, result)
    assert title == "Landmarks"
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


def test_without_eyes_there_is_no_midline_to_draw(photo):
    """The midline is the face frame's, which needs the eyes: no guess from other points."""
    result = make_photo_analysis()
    assert result.semantic is not None
    pts = {k: v for k, v in result.semantic.points.items() if k in ("ibug_27", "ibug_30")}
    no_eyes = replace(result, semantic=replace(result.semantic, points=pts))
    assert render_midline(photo, no_eyes) is None
    assert render_landmarks(photo, no_eyes) is not None


def _cyan(img: np.ndarray) -> int:  # the midline colour (0, 220, 255), anti-aliased
    r, g, b = (img[..., i].astype(int) for i in range(3))
    return int(((r < 90) & (g > 150) & (b > 200)).sum())


def test_profile_views_get_no_midline(photo):
    front = render_overlays(photo, make_photo_analysis(view=View.FRONTAL))[0][1]
    profile = render_overlays(photo, make_photo_analysis(view=View.PROFILE_RIGHT))[0][1]
    assert not np.array_equal(front, profile)
    assert _cyan(front) > _cyan(profile) + 20


def test_a_turned_head_gets_no_midline_on_its_landmarks(photo):
    """The midline is a left/right reference: not drawn where the pose check rejects the
    photo for left/right comparison, not even on the landmarks overlay (issue 12)."""
    front = make_photo_analysis(view=View.FRONTAL)
    turned = make_photo_analysis(view=View.FRONTAL, flags=(Flag.HEAD_ROTATED,))
    straight_img, turned_img = (render_landmarks(photo, r) for r in (front, turned))
    assert straight_img is not None and turned_img is not None
    assert _cyan(straight_img) > _cyan(turned_img) + 20
    titles = {t for t, _ in render_overlays(photo, turned)}
    assert "Landmarks" in titles
    assert not titles & {"Facial midline", "Mirrored composites"}


def test_caption_lists_measurements_scale_and_unreliability():
    result = make_photo_analysis(flags=(Flag.FACE_TOO_SMALL,))
    lines = caption_lines(result)
    text = "\n".join(lines)
    assert "Intercanthal width:" in text and " mm +/- " in text
    assert "Scale:" in text and "assumed interpupillary distance" in text
    assert "UNRELIABLE: face_too_small" in text
    assert "* flagged unreliable" in text
    assert all(line.isascii() for line in lines)


def test_format_measurement():
    m = Measurement("a", "Nasolabial angle", 101.234, "deg", 2.5, ("x",), flags=(Flag.HEAD_ROTATED,))
    assert format_measurement(m) == "Nasolabial angle: 101.2 deg +/- 2.5 *"
    r = Measurement("b", "Ratio", 0.8123, "{ratio}", 0.0, ("x",))
    assert format_measurement(r) == "Ratio: 0.81"
    u = Measurement("c", "Chin deviation", 2.04, "mm", 0.4, ("x",), flags=(ASYMMETRY_UNCONFIRMED,))
    assert format_measurement(u) == "Chin deviation: 2.0 mm +/- 0.4 +"
    both = replace(u, flags=(ASYMMETRY_UNCONFIRMED, "head_rotated"))
    assert format_measurement(both).endswith(" *")


def test_caption_says_what_an_unconfirmed_asymmetry_means():
    result = make_photo_analysis()
    ms = tuple(
        replace(m, flags=(ASYMMETRY_UNCONFIRMED,)) if i == 0 else replace(m, flags=())
        for i, m in enumerate(result.measurements)
    )
    text = "\n".join(caption_lines(replace(result, measurements=ms)))
    assert "+ asymmetry not confirmed in the photo" in text and "may be larger" in text
    assert "* flagged unreliable" not in text


def test_raw_points_used_without_semantic_landmarks():
    full = make_photo_analysis()
    raw_only = PhotoAnalysis(face_found=True, message="", landmarks=full.landmarks)
    pts = landmark_points(raw_only)
    assert len(pts) == 68 and "ibug68_000" in pts
    assert all(math.isfinite(v) for p in pts.values() for v in p)


# --- midline, thirds and fifths, angles, mirrored composites -----------------------------

ALL_TITLES = ["Landmarks", "Facial midline", "Thirds and fifths", "Angles", "Mirrored composites"]


def _with_catalogue(result: PhotoAnalysis, view: View = View.FRONTAL) -> PhotoAnalysis:
    """The factory analysis with every catalogue measurement computed from its landmarks."""
    assert result.semantic is not None and result.scale is not None
    ms = catalogue.compute(result.semantic, result.scale, faces.quality(view))
    return replace(result, measurements=ms, quality=faces.quality(view))


def _synthetic(
    mm: dict[str, tuple[float, float]], view: View, *, roll: float = 0.0, size=(700, 800)
) -> tuple[Photo, PhotoAnalysis]:
    """A grey canvas and the analysis of known landmarks drawn on it (real catalogue)."""
    px = faces.to_pixels(mm, mm_per_px=0.4, roll_deg=roll, origin=(400.0, 250.0))
    sem = faces.semantic(px)
    q = faces.quality(view)
    sc = faces.pixel_scale(0.4)
    ms = catalogue.compute(sem, sc, q)
    photo = Photo(np.full((*size, 3), 128, np.uint8))
    return photo, PhotoAnalysis(
        face_found=True, message="", semantic=sem, quality=q, scale=sc, measurements=ms
    )


def _count(img: np.ndarray, color: tuple[int, int, int], tol: int = 40) -> int:
    return int((np.abs(img.astype(int) - np.array(color)).max(axis=2) <= tol).sum())


def _body(img: np.ndarray, photo: Photo) -> np.ndarray:
    top = _banner_height(img)
    return img[top : top + photo.height, : photo.width]


def test_a_frontal_face_gets_every_overlay_each_with_the_banner(photo):
    result = _with_catalogue(make_photo_analysis())
    out = render_overlays(photo, result)
    assert [t for t, _ in out] == ALL_TITLES
    for title, img in out:
        top = _banner_height(img)
        assert top > 10, title
        assert (img[:top].min(axis=2) > 200).sum() > 50, f"{title}: banner text drawn"


def test_profile_views_get_angles_but_no_frontal_overlays():
    photo, result = _synthetic(faces.PROFILE_MM, View.PROFILE_RIGHT)
    titles = [t for t, _ in render_overlays(photo, result)]
    assert "Angles" in titles
    assert not {"Facial midline", "Thirds and fifths", "Mirrored composites"} & set(titles)


def test_midline_overlay_draws_the_axis_through_the_nose(photo):
    result = _with_catalogue(make_photo_analysis())
    img = dict(render_overlays(photo, result))["Facial midline"]
    body = _body(img, photo)
    frame = frame_of(landmark_points(result))
    assert frame is not None
    hits = 0
    ts = np.linspace(-30.0, 60.0, 19)  # along the midline (x = 0 of the face frame)
    for t in ts:
        x, y = frame.point(0.0, t)
        patch = body[round(y) - 1 : round(y) + 2, round(x) - 1 : round(x) + 2]
        hits += _count(patch, MIDLINE, tol=60) > 0
    assert hits >= 0.7 * len(ts), "the midline is drawn where the frame has it (ticks may cross)"
    assert _count(body, MIDLINE, tol=60) > 60


def test_thirds_are_drawn_at_nasion_subnasale_and_menton_and_fifths_at_the_canthi():
    photo, result = _synthetic(faces.FRONTAL_MM, View.FRONTAL)
    img = render_thirds_fifths(photo, result)
    assert img is not None
    body = _body(img, photo)
    pts = landmark_points(result)
    for key in ("ibug_27", "ibug_33", "ibug_08", "trichion"):
        y = round(pts[key][1])
        row = body[y - 1 : y + 2]
        assert _count(row, THIRDS) > 100, key
    for key in ("ibug_36", "ibug_39", "ibug_42", "ibug_45"):
        x = round(pts[key][0])
        col = body[:, x - 1 : x + 2]
        assert _count(col, FIFTHS) > 100, key
    untouched = body[5:60, 5:60]
    assert (untouched == 128).all(), "nothing drawn far from the face"


def test_profile_angles_are_drawn_along_their_arms():
    photo, result = _synthetic(faces.PROFILE_MM, View.PROFILE_RIGHT)
    img = render_angles(photo, result)
    assert img is not None
    body = _body(img, photo)
    pts = landmark_points(result)
    for vertex, arm in (("subnasale", "labrale_superius"), ("soft_tissue_nasion", "pronasale")):
        mid = (np.asarray(pts[vertex]) * 0.3 + np.asarray(pts[arm]) * 0.7).round().astype(int)
        patch = body[mid[1] - 1 : mid[1] + 2, mid[0] - 1 : mid[0] + 2]
        assert _count(patch, ANGLE, tol=60) > 0, (vertex, arm)
    caption = "\n".join(caption_lines(result))
    assert "Nasolabial angle" in caption


def test_frontal_angles_show_the_canthal_tilts():
    photo, result = _synthetic(faces.FRONTAL_MM, View.FRONTAL, roll=0.0)
    img = render_angles(photo, result)
    assert img is not None
    body = _body(img, photo)
    pts = landmark_points(result)
    for en, ex in (("ibug_39", "ibug_36"), ("ibug_42", "ibug_45")):
        mid = ((np.asarray(pts[en]) + np.asarray(pts[ex])) / 2).round().astype(int)
        patch = body[mid[1] - 2 : mid[1] + 3, mid[0] - 2 : mid[0] + 3]
        assert _count(patch, ANGLE, tol=60) > 0


def test_no_angle_overlay_without_angle_measurements(photo):
    result = make_photo_analysis()  # the factory has no angle of the catalogue
    assert render_angles(photo, result) is None


def test_mirror_composites_are_symmetric_and_keep_their_own_half(photo):
    img = photo.pixels
    centre, direction = np.array([255.5, 200.0]), np.array([0.0, 1.0])
    right_point = np.array([200.0, 200.0])  # the subject's right is on the image's left here
    rr, ll = mirror_composites(img, centre, direction, right_point)
    assert np.array_equal(rr[:, :250], img[:, :250])  # away from the feathered seam
    assert np.array_equal(ll[:, 262:], img[:, 262:])
    flipped = rr[:, ::-1]  # x -> 511 - x is the reflection about x = 255.5
    assert np.abs(flipped.astype(int) - rr.astype(int))[:, :250].max() <= 1
    assert np.abs(ll[:, ::-1].astype(int) - ll.astype(int))[:, 262:].max() <= 1


def test_mirror_composites_of_a_box_are_the_box_of_the_composites(photo):
    c, d, right = np.array([250.3, 180.0]), np.array([0.1, 0.995]), np.array([200.0, 150.0])
    d = d / np.linalg.norm(d)
    full = mirror_composites(photo.pixels, c, d, right)
    part = mirror_composites(photo.pixels, c, d, right, (150, 60, 360, 330))
    for f, p in zip(full, part, strict=True):
        assert p.shape == (270, 210, 3)
        assert np.abs(f[60:330, 150:360].astype(int) - p.astype(int)).max() <= 1


def test_mirror_composite_overlay_has_two_enlarged_panels(photo):
    result = _with_catalogue(make_photo_analysis())
    img = render_mirror_composites(photo, result)
    assert img is not None
    top = _banner_height(img)
    assert img.shape[0] - top > 420, "a small face is enlarged"
    body = img[top : top + (img.shape[0] - top)]
    half = img.shape[1] // 2
    assert not np.array_equal(body[:, :half], body[:, half:]), "two different composites"


# --- one geometry: what the overlays draw is what the report measures ----------------------

_ROLL = 8.0
_MM_PER_PX = 0.4


def _drooping_lid(mm: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """The face with the right upper lid (iBUG 37, 38) 3 mm lower, the nasal tip 2 mm and
    the chin 3 mm off the midline (so the deviations have a value to draw)."""
    out = dict(mm)
    for key in ("ibug_37", "ibug_38"):
        x, y = out[key]
        out[key] = (x, y + 3.0)
    out["ibug_30"] = (out["ibug_30"][0] + 2.0, out["ibug_30"][1])
    out["ibug_08"] = (out["ibug_08"][0] - 3.0, out["ibug_08"][1])
    return out


def _engine_points(points: dict[str, tuple[float, float]]) -> Pts:
    """The landmarks as the measurement engine reads them (a batch of one configuration)."""
    keys = list(points)
    xy = np.array([[points[k] for k in keys]], dtype=np.float64)
    return Pts(xy, {k: i for i, k in enumerate(keys)})


Segment = tuple[tuple[int, int, int], np.ndarray, np.ndarray]


def _drawn(monkeypatch: pytest.MonkeyPatch) -> list[Segment]:
    """Every straight mark the overlays draw from now on: (colour, start, end), in float px."""
    segments: list[Segment] = []
    draw = marks.line

    def record(img, p0, p1, color, thickness):  # type: ignore[no-untyped-def]
        segments.append((tuple(color), np.asarray(p0, float), np.asarray(p1, float)))
        draw(img, p0, p1, color, thickness)

    monkeypatch.setattr(marks, "line", record)
    return segments


def test_a_drooping_lid_overlays_draw_the_frame_and_axis_the_report_measures(monkeypatch):
    photo, result = _synthetic(_drooping_lid(faces.FRONTAL_MM), View.FRONTAL, roll=_ROLL)
    points = landmark_points(result)
    engine = _engine_points(points)
    frame, axis = face_frame(engine), fit_mirror_axis(engine)
    ms = {m.id: m.value for m in result.measurements}

    # the lid droop does not tilt the frame: u is the face's horizontal, the roll, as if
    # the lid had not moved; an eye-contour frame would have tilted (the old overlays')
    a = math.radians(_ROLL)
    assert np.allclose(frame.u[0], [math.cos(a), math.sin(a)], atol=1e-9)
    straight = _synthetic(faces.FRONTAL_MM, View.FRONTAL, roll=_ROLL)[1]
    unmoved = frame_of(landmark_points(straight))
    assert unmoved is not None
    assert np.allclose(frame.origin[0], unmoved.origin, atol=1e-9)
    d = np.mean([points[k] for k in LEFT_EYE], axis=0) - np.mean([points[k] for k in RIGHT_EYE], 0)
    assert abs(math.atan2(d[1], d[0]) - a) > 1e-3, (
        "the droop is large enough to tilt a contour frame"
    )

    segments = _drawn(monkeypatch)
    for renderer in (render_landmarks, render_midline, render_thirds_fifths, render_angles):
        assert renderer(photo, result) is not None

    def of(color: tuple[int, int, int]) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(p0, p1) for c, p0, p1 in segments if c == color]

    # the midline (landmarks and midline overlays) is x = 0 of the measurements' frame
    midlines = of(MIDLINE)
    assert len(midlines) == 2
    for p0, p1 in midlines:
        assert abs(float(frame.x(p0)[0])) < 1e-6 and abs(float(frame.x(p1)[0])) < 1e-6
        assert float(np.hypot(*(p1 - p0))) > 100.0

    # each deviation tick runs from the midline to its point: its length is the SR's value
    ticks = {"nasal_tip_deviation": ("ibug_30",), "philtrum_deviation": ("ibug_33", "ibug_51"),
             "chin_deviation": ("ibug_08",)}  # fmt: skip
    drawn_ticks = of(ANGLE)[:3]  # the midline overlay's; the angle overlay's arms follow
    for (foot, p), (mid, keys) in zip(drawn_ticks, ticks.items(), strict=True):
        assert np.allclose(p, np.mean([points[k] for k in keys], axis=0), atol=1e-9)
        assert abs(float(frame.x(foot)[0])) < 1e-6
        assert float((p - foot) @ frame.u[0]) * _MM_PER_PX == pytest.approx(ms[mid], abs=1e-6)
    assert ms["nasal_tip_deviation"] == pytest.approx(2.0, abs=1e-6)
    assert ms["chin_deviation"] == pytest.approx(-3.0, abs=1e-6)

    # the dashed mirror axis is the fitted axis: the symmetry index measured about it
    dashes = of(MIRROR_AXIS)
    assert len(dashes) > 5
    c = axis.centre[0]
    for p0, p1 in dashes:
        for q in (p0, p1):
            r = q - c
            assert abs(r[0] * axis.direction[0][1] - r[1] * axis.direction[0][0]) < 1e-6
    start, end = dashes[0][0], dashes[-1][1]
    u_axis = (end - start) / np.hypot(*(end - start))
    rr = 2.0 * np.outer(u_axis, u_axis) - np.eye(2)
    res = []
    for i in INNER_FACE_INDICES:
        pi, pj = (np.asarray(points[k]) for k in mirror_pair(i))
        res.append(float(np.sum((pi - ((pj - start) @ rr.T + start)) ** 2)))
    ipd = float(np.hypot(*np.subtract(points["pupil_l"], points["pupil_r"])))
    index = 100.0 * math.sqrt(float(np.mean(res))) / ipd
    assert index == pytest.approx(ms["symmetry_index"], abs=1e-6)

    # thirds run along u and fifths along v of the same frame
    for p0, p1 in of(THIRDS):
        assert abs(float(frame.y(p1)[0] - frame.y(p0)[0])) < 1e-6
    for p0, p1 in of(FIFTHS):
        assert abs(float(frame.x(p1)[0] - frame.x(p0)[0])) < 1e-6
    assert len(of(THIRDS)) == 4 and len(of(FIFTHS)) == 6

    # the canthal tilts' reference arms lie along u: the angle drawn is the SR's value
    arms = of(ANGLE)[3:]
    assert len(arms) == 4
    for side, ((v0, ref), (v1, canthus)) in zip("rl", (arms[:2], arms[2:]), strict=True):
        assert np.array_equal(v0, v1)
        assert abs(float(frame.y(ref)[0] - frame.y(v0)[0])) < 1e-6
        d1, d2 = ref - v0, canthus - v0
        drawn = math.degrees(math.atan2(abs(d1[0] * d2[1] - d1[1] * d2[0]), float(d1 @ d2)))
        assert drawn == pytest.approx(abs(ms[f"canthal_tilt_{side}"]), abs=1e-6)
