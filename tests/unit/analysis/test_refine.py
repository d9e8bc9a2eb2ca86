"""Refinement by mirror registration, on the astronaut portrait and known warps of it.

The landmarks are the factory's real dlib points of the astronaut (no model is run). The
exact tests use a perfectly mirror-symmetric face built from the photo itself (its right
half and that half's mirror image) with mirror-symmetric landmarks: there the true
asymmetry is zero before a warp and exactly the warp's after it, and the landmarks are
deliberately left where they were, as if the landmark model had seen nothing.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from analysis import measurements as catalogue
from analysis.landmark_names import IBUG68_MIRROR
from analysis.overlay import mirror_composites
from analysis.refine import (
    FEATURES,
    IDENTITY,
    STRONG_MATCH_SCORE,
    refine,
    refine_report,
    unrefined,
)
from analysis.types import Photo, SemanticLandmarks
from tests.bench import asymmetry_warps as aw
from tests.factories import astronaut, make_photo_analysis
from tests.unit.analysis import faces

_MIDLINE = (8, 27, 28, 29, 30, 33, 51, 57, 62, 66)


def _value_px(points: dict[str, tuple[float, float]], mid: str) -> float:
    """A catalogue measurement in pixels (scale 1 mm/px), or the bench's fissure difference."""
    sem = faces.semantic(points)
    ms = {m.id: m.value for m in catalogue.compute(sem, faces.pixel_scale(1.0), faces.quality())}
    if mid == "palpebral_fissure_height_difference":
        return ms["palpebral_fissure_height_r"] - ms["palpebral_fissure_height_l"]
    return ms[mid]


@pytest.fixture(scope="module")
def real() -> tuple[Photo, SemanticLandmarks]:
    sem = make_photo_analysis().semantic
    assert sem is not None
    return Photo(astronaut()), sem


@pytest.fixture(scope="module")
def symmetric(real: tuple[Photo, SemanticLandmarks]) -> tuple[Photo, SemanticLandmarks]:
    """The astronaut's right half + its mirror image, with mirror-symmetric landmarks."""
    photo, sem = real
    p = {k: np.asarray(v) for k, v in sem.points.items()}
    cx = round(2 * np.mean([p[f"ibug_{i:02d}"][0] for i in _MIDLINE])) / 2  # exact flip
    rr, _ = mirror_composites(photo.pixels, np.array([cx, 0.0]), np.array([0.0, 1.0]), p["ibug_36"])
    pts: dict[str, tuple[float, float]] = {}
    for i in range(68):
        j, key = IBUG68_MIRROR[i], f"ibug_{i:02d}"
        x, y = p[key]
        if i == j:
            pts[key] = (cx, float(y))
        elif x < cx:  # the subject's right half is on the image's left
            pts[key] = (float(x), float(y))
            pts[f"ibug_{j:02d}"] = (2 * cx - float(x), float(y))
    assert len(pts) == 68
    return Photo(rr), SemanticLandmarks(pts, dict.fromkeys(pts, 0.9), sem.sources)


def _moves(a: SemanticLandmarks, b: SemanticLandmarks) -> dict[str, float]:
    return {k: float(np.hypot(*np.subtract(b.points[k], a.points[k]))) for k in a.points}


def test_a_symmetric_face_is_left_where_it_is(symmetric):
    photo, sem = symmetric
    report = refine_report(photo, sem)
    assert [f.feature for f in report.features] == [f.name for f in FEATURES]
    assert all(f.applied for f in report.features), [(f.feature, f.reason) for f in report.features]
    assert max(_moves(sem, report.semantic).values()) < 0.05  # px
    for f in report.features:  # the image says: no asymmetry
        assert np.abs(f.relative_image).max() < 0.2, f.feature


@pytest.mark.parametrize("kind", aw.KINDS)
def test_an_injected_asymmetry_is_recovered_although_the_landmarks_did_not_move(symmetric, kind):
    photo, sem = symmetric
    level = 2.0 if kind == "upper_lid_ptosis" else 4.0
    warp = aw.make_warp(kind, sem.points, level)
    warped = Photo(warp.apply(photo.pixels))
    out = refine(warped, sem)
    mid = aw.MEASUREMENT[kind]
    injected = _value_px(warp.forward(sem.points), mid) - _value_px(sem.points, mid)
    measured = _value_px(out.points, mid) - _value_px(sem.points, mid)
    assert abs(injected) > 0.7  # px: the warp is there to be seen
    assert measured / injected == pytest.approx(1.0, abs=0.2), (measured, injected)
    assert abs(_value_px(sem.points, mid)) < 1e-6  # the model alone reports nothing


@pytest.mark.parametrize("kind", ["mouth_corner_drop", "nasal_tip_shift"])
def test_the_side_that_moved_moves_and_the_mirror_split_keeps_the_pair_mean(symmetric, kind):
    photo, sem = symmetric
    warp = aw.make_warp(kind, sem.points, 4.0)
    out = refine(Photo(warp.apply(photo.pixels)), sem)
    if kind == "mouth_corner_drop":
        r0, l0 = np.asarray(sem.points["ibug_48"]), np.asarray(sem.points["ibug_54"])
        r1, l1 = np.asarray(out.points["ibug_48"]), np.asarray(out.points["ibug_54"])
        drop = warp.displacement(r0[None])[0][1]
        assert (r1 - l1)[1] == pytest.approx(drop, abs=0.3 * drop)  # right now lower
        assert ((r1 + l1) / 2)[1] == pytest.approx(((r0 + l0) / 2)[1], abs=0.05)
    else:
        tip0, tip1 = np.asarray(sem.points["ibug_30"]), np.asarray(out.points["ibug_30"])
        shift = warp.displacement(tip0[None])[0][0]
        assert tip1[0] - tip0[0] == pytest.approx(shift, abs=0.2 * shift)


def test_the_real_photo_moves_points_by_little_and_refining_twice_changes_nothing(real):
    photo, sem = real
    once = refine(photo, sem)
    ipd = aw.face_axes(sem.points).ipd_px
    moves = _moves(sem, once)
    assert max(moves.values()) < 0.04 * ipd  # < 2.5 mm at a 63 mm IPD
    twice = refine(photo, once)
    assert max(_moves(once, twice).values()) < 0.5  # px


def test_moved_points_keep_or_lower_their_confidence_and_name_the_refinement(real):
    photo, sem = real
    out = refine(photo, sem)
    moved = [k for k, d in _moves(sem, out).items() if d > 0]
    assert moved
    for k in out.points:
        assert out.confidence[k] <= sem.confidence[k] + 1e-12
    assert IDENTITY in out.sources and out.sources[0] == sem.sources[0]


def test_nothing_to_register_on_a_blank_photo_leaves_the_landmarks_alone(real):
    _, sem = real
    blank = Photo(np.full((512, 512, 3), 120, np.uint8))
    report = refine_report(blank, sem)
    assert report.semantic.points == sem.points
    assert not any(f.applied for f in report.features)
    assert {f.reason for f in report.features} == {"no texture in the window"}
    # nothing confirmed: every refinable point is the model's, and says so
    assert report.semantic.unconfirmed == _REFINABLE


_REFINABLE = frozenset(n for f in FEATURES for pair in f.pairs for n in pair)


def test_a_symmetric_face_confirms_every_feature_and_flags_nothing(symmetric):
    photo, sem = symmetric
    out = refine(photo, sem)
    assert out.unconfirmed == frozenset()
    ms = catalogue.compute(out, faces.pixel_scale(1.0), faces.quality())
    assert not any("asymmetry_unconfirmed" in m.flags for m in ms)


def test_an_unconfirmed_feature_flags_only_the_asymmetry_built_on_it(symmetric):
    photo, sem = symmetric
    # the chin region painted flat: the chin cannot be registered, everything else can
    pixels = photo.pixels.copy()
    x, y = (int(round(c)) for c in sem.points["ibug_08"])
    ipd = aw.face_axes(sem.points).ipd_px
    r = int(0.45 * ipd)
    pixels[y - r : y + r, x - r : x + r] = 120
    report = refine_report(Photo(pixels), sem)
    chin = next(f for f in report.features if f.feature == "chin")
    assert not chin.applied
    assert "ibug_08" in report.semantic.unconfirmed
    assert "ibug_30" not in report.semantic.unconfirmed
    ms = {m.id: m for m in catalogue.compute(report.semantic, faces.pixel_scale(1.0),
                                                faces.quality())}  # fmt: skip
    assert "asymmetry_unconfirmed" in ms["chin_deviation"].flags
    assert "asymmetry_unconfirmed" not in ms["nasal_tip_deviation"].flags
    assert "asymmetry_unconfirmed" not in ms["mouth_width"].flags


def _chin_after_shift(symmetric, level_mm: float, noise: float = 0.0):
    """Refine the symmetric face with its chin moved ``level_mm`` sideways in the photo
    only (the landmarks stay put: the model saw nothing), Gaussian noise of SD ``noise``
    grey levels added around the chin. (report, chin result, injected change in px)."""
    photo, sem = symmetric
    warp = aw.make_warp("chin_shift", sem.points, level_mm)
    pixels = warp.apply(photo.pixels)
    if noise:
        x, y = (int(round(c)) for c in sem.points["ibug_08"])
        r = int(0.5 * aw.face_axes(sem.points).ipd_px)
        patch = pixels[y - r : y + r, x - r : x + r].astype(np.float64)
        patch += np.random.default_rng(7).normal(0.0, noise, patch.shape)
        pixels[y - r : y + r, x - r : x + r] = np.clip(patch, 0, 255).astype(np.uint8)
    report = refine_report(Photo(pixels), sem)
    result = next(f for f in report.features if f.feature == "chin")
    injected = _value_px(warp.forward(sem.points), "chin_deviation") - _value_px(
        sem.points, "chin_deviation"
    )
    return report, result, injected


def test_a_clear_chin_far_from_the_model_is_measured(symmetric):
    _, sem = symmetric
    chin = next(f for f in FEATURES if f.name == "chin")
    # 8 mm is beyond the chin's max_correction (5 mm at a 63 mm IPD) but within twice it
    assert chin.max_correction * aw.ASSUMED_IPD_MM < 6.0
    report, result, injected = _chin_after_shift(symmetric, 8.0)
    assert result.score >= STRONG_MATCH_SCORE and result.applied, result.reason
    measured = _value_px(report.semantic.points, "chin_deviation") - _value_px(
        sem.points, "chin_deviation"
    )
    assert measured == pytest.approx(injected, rel=0.15)
    assert "ibug_08" not in report.semantic.unconfirmed


def test_a_chin_too_far_from_the_model_is_not_trusted_but_flagged(symmetric):
    _, sem = symmetric
    # 12 mm: beyond even a strong match's allowance (2 × 5 mm)
    report, result, _ = _chin_after_shift(symmetric, 12.0)
    assert not result.applied and "disagree" in result.reason
    assert report.semantic.points["ibug_08"] == sem.points["ibug_08"]
    assert "ibug_08" in report.semantic.unconfirmed


def test_a_doubtful_chin_far_from_the_model_is_not_trusted(symmetric):
    _, sem = symmetric
    # 8 mm again, but noise around the chin weakens the match below a strong one
    report, result, _ = _chin_after_shift(symmetric, 8.0, noise=40.0)
    assert chin_min_score() <= result.score < STRONG_MATCH_SCORE
    assert not result.applied and "disagree" in result.reason, result.reason
    assert "ibug_08" in report.semantic.unconfirmed
    # the same noise with a 4 mm shift (within max_correction): measured
    report, result, injected = _chin_after_shift(symmetric, 4.0, noise=40.0)
    assert result.applied and result.score < STRONG_MATCH_SCORE, result.reason
    measured = _value_px(report.semantic.points, "chin_deviation") - _value_px(
        sem.points, "chin_deviation"
    )
    assert measured == pytest.approx(injected, rel=0.15)


def chin_min_score() -> float:
    return next(f for f in FEATURES if f.name == "chin").min_score


def test_the_reverse_match_must_land_back_where_it_started(symmetric):
    from analysis.refine import CanonicalImages, _match, canonical_frame

    photo, sem = symmetric
    warp = aw.make_warp("chin_shift", sem.points, 4.0)  # the photo's chin now sits off-axis
    pts = {k: np.asarray(v) for k, v in sem.points.items()}
    chin = next(f for f in FEATURES if f.name == "chin")
    frame, _ = canonical_frame(pts, photo.width, photo.height, chin.ipd_px)
    assert frame is not None
    images = CanonicalImages(warp.apply(photo.pixels), frame)
    centre = frame.to_canon(pts["ibug_08"]) + np.array(chin.offset) * chin.ipd_px
    t, _, why = _match(chin, images, centre, np.zeros(2))
    assert t is not None, why
    assert t[0] > 4.0  # canonical px: twice the chin's offset
    back, _, why = _match(chin, images, centre + t, -t, 0.4, swap=True)
    assert back is not None, why
    assert abs(back[0] + t[0]) < 0.5  # canonical px: forward and reverse agree


def test_without_refinement_no_asymmetry_is_confirmed(real):
    _, sem = real
    out = unrefined(sem)
    assert out.points == sem.points and out.unconfirmed == _REFINABLE


def test_a_turned_or_eyeless_face_is_not_refined(real):
    photo, sem = real
    turned = dict(sem.points)
    x36, y36 = turned["ibug_36"]
    turned["ibug_36"] = (x36 + 0.5 * (turned["ibug_39"][0] - x36), y36)  # one eye foreshortened
    report = refine_report(photo, replace(sem, points=turned))
    assert report.semantic.points == turned and "turned" in report.reason
    assert report.semantic.unconfirmed == _REFINABLE
    no_eyes = {k: v for k, v in sem.points.items() if k != "ibug_40"}
    report = refine_report(photo, replace(sem, points=no_eyes))
    assert report.semantic.points == no_eyes and "eye" in report.reason


def test_the_nasal_tip_is_read_at_the_smallest_window():
    from analysis.refine import _read_at_smallest

    sizes = np.array([0.85, 1.0, 1.2])
    # answers drifting with window size (a larger window sees more of the alae, which
    # moved less): the line through (size², t) read at the smallest size
    ts = np.array([[10.0 - 2.0 * s * s, 0.0] for s in sizes])
    assert _read_at_smallest(sizes, ts) == pytest.approx([10.0 - 2.0 * 0.85**2, 0.0])
    # noisy answers without a drift: their mean, not the smallest window's own answer
    flat = np.array([[4.2, 0.0], [3.8, 0.0], [4.0, 0.0]])
    assert abs(_read_at_smallest(sizes, flat)[0] - 4.0) < abs(4.2 - 4.0)
    tip = next(f for f in FEATURES if f.name == "nasal_tip")
    assert tip.read_smallest and len(tip.scales) >= 3


def test_the_canonical_images_use_only_the_photo_they_cover(real):
    """Cropping to the frame's footprint before the grey conversion and the low-pass gives
    the canonical image the whole photo gives (large photos: the blur branch, k < 0.5)."""
    import cv2

    from analysis.refine import CanonicalImages, canonical_frame

    photo, sem = real
    big = cv2.resize(photo.pixels, None, fx=6.0, fy=6.0, interpolation=cv2.INTER_CUBIC)
    pts = {k: 6.0 * np.asarray(v) for k, v in sem.points.items()}
    frame, _ = canonical_frame(pts, big.shape[1], big.shape[0])
    assert frame is not None and frame.k < 0.5
    grey = cv2.GaussianBlur(cv2.cvtColor(big, cv2.COLOR_RGB2GRAY), (0, 0), 0.5 / frame.k)
    whole = cv2.warpAffine(grey.astype(np.float32), frame.affine_canon_to_image(),
                           (frame.width, frame.height),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    images = CanonicalImages(big, frame)
    inside = images.valid
    assert inside.mean() > 0.5
    assert np.abs(images.grey - whole)[inside].max() < 0.6  # grey levels (uint8 rounding)


def test_the_canonical_frame_is_the_face_frame_a_drooping_lid_does_not_tilt():
    """Refinement resamples the face in the measurements' frame (the robust mirror fit), so the
    midline it mirrors about is the one the deviations are measured from."""
    from analysis.geometry import frame_of
    from analysis.refine import CANON_IPD_PX, canonical_frame

    droop = dict(faces.FRONTAL_MM)
    for key in ("ibug_37", "ibug_38"):  # the right upper lid 3 mm lower
        droop[key] = (droop[key][0], droop[key][1] + 3.0)
    frames = []
    for mm in (faces.FRONTAL_MM, droop):
        px = faces.to_pixels(mm, mm_per_px=0.25, roll_deg=6.0)
        frame, why = canonical_frame({k: np.asarray(v) for k, v in px.items()}, 800, 700)
        face = frame_of(px)
        assert frame is not None and face is not None, why
        for name in ("origin", "u", "v"):
            assert np.allclose(getattr(frame, name), getattr(face, name), rtol=0, atol=1e-12)
        assert frame.k == pytest.approx(CANON_IPD_PX / float(face.ipd), rel=1e-12)
        frames.append(frame)
    assert np.allclose(frames[0].u, frames[1].u, rtol=0, atol=1e-12)  # the droop tilts nothing
    assert frames[0].k == frames[1].k
