"""The benchmark's warps do what their names say, on a synthetic face of known geometry.

The face is :data:`tests.unit.analysis.faces.FRONTAL_MM` (62 mm IPD, the upper-lid margin
6 mm above the pupil, the lower lid 4 mm below it) in pixels, rolled 5° so that the
warps' face axes are not the image's.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.bench import asymmetry_warps as aw
from tests.unit.analysis import faces

PTS = faces.to_pixels(faces.FRONTAL_MM, mm_per_px=0.25, roll_deg=5.0)
AX = aw.face_axes(PTS)


def _moves(w: aw.Warp) -> dict[str, np.ndarray]:
    moved = w.forward(PTS)
    return {k: np.subtract(moved[k], PTS[k]) for k in PTS}


def _all_variants() -> list[tuple[str, str, int]]:
    return [(k, s, d) for k in aw.KINDS for s, d in aw.VARIANTS[k]]


@pytest.mark.parametrize(("side", "direction"), aw.VARIANTS["upper_lid_ptosis"])
def test_a_ptosis_moves_the_lid_margin_over_a_fixed_pupil_and_lower_lid(
    side: str, direction: int
) -> None:
    level = 2.0
    w = aw.make_warp("upper_lid_ptosis", PTS, level, side, direction)
    m = aw.magnitude_px(level, AX.ipd_px)
    d = _moves(w)
    for k in aw.UPPER_LID[side]:  # down the face (lowered) or up (raised) by the level
        assert d[k] @ AX.v == pytest.approx(direction * m, rel=0.01)
        assert abs(d[k] @ AX.u) < 1e-9
    eye = aw.RIGHT_EYE if side == "r" else aw.LEFT_EYE
    still = [k for k in eye if k not in aw.UPPER_LID[side]] + [f"pupil_{side}"]
    for k in still:  # canthi, lower lid and pupil: < 5 % of the level
        assert np.hypot(*d[k]) < 0.05 * m, k
    other = aw.LEFT_EYE if side == "r" else aw.RIGHT_EYE
    assert max(np.hypot(*d[k]) for k in other) < 1e-9
    # the injected change is the margin points' motion only
    assert w.targets == aw.UPPER_LID[side]
    injected = w.injected(PTS)
    assert all(injected[k] == PTS[k] for k in PTS if k not in w.targets)


@pytest.mark.parametrize(("side", "direction"), aw.VARIANTS["brow_lift"])
def test_a_brow_lift_moves_the_whole_brow_and_not_the_eyes(side: str, direction: int) -> None:
    level = 3.0
    w = aw.make_warp("brow_lift", PTS, level, side, direction)
    m = aw.magnitude_px(level, AX.ipd_px)
    d = _moves(w)
    brow = [f"ibug_{i:02d}" for i in (range(17, 22) if side == "r" else range(22, 27))]
    for k in brow:  # up the face (lift) or down (drop), all five points alike
        assert -(d[k] @ AX.v) == pytest.approx(direction * m, rel=0.01), k
    eyes = [*aw.RIGHT_EYE, *aw.LEFT_EYE, "pupil_r", "pupil_l"]
    other = [f"ibug_{i:02d}" for i in (range(22, 27) if side == "r" else range(17, 22))]
    assert max(np.hypot(*d[k]) for k in eyes + other) < 1e-9


@pytest.mark.parametrize("kind", ["chin_shift", "nasal_tip_shift"])
@pytest.mark.parametrize("side", ["r", "l"])
def test_chin_and_tip_shifts_are_lateral_away_from_the_side_named(kind: str, side: str) -> None:
    level = 3.0
    w = aw.make_warp(kind, PTS, level, side)
    m = aw.magnitude_px(level, AX.ipd_px)
    key = "ibug_08" if kind == "chin_shift" else "ibug_30"
    d = _moves(w)[key]
    toward = 1.0 if side == "r" else -1.0  # u points toward the subject's left
    assert d @ AX.u == pytest.approx(toward * m, rel=1e-6)
    assert abs(d @ AX.v) < 1e-9  # lateral only, everywhere: D is along u
    assert np.abs(w.displacement(np.array(list(PTS.values()))) @ AX.v).max() < 1e-9


@pytest.mark.parametrize(("side", "direction"), aw.VARIANTS["mouth_corner_drop"])
def test_a_mouth_corner_drop_moves_one_corner_down_or_up(side: str, direction: int) -> None:
    w = aw.make_warp("mouth_corner_drop", PTS, 3.0, side, direction)
    m = aw.magnitude_px(3.0, AX.ipd_px)
    d = _moves(w)
    this, other = ("ibug_48", "ibug_54") if side == "r" else ("ibug_54", "ibug_48")
    assert d[this] @ AX.v == pytest.approx(direction * m, rel=1e-6)
    assert np.hypot(*d[other]) < 0.01 * m


@pytest.mark.parametrize(("kind", "side", "direction"), _all_variants())
def test_every_warp_is_invertible_and_its_inverse_map_is_exact(
    kind: str, side: str, direction: int
) -> None:
    w = aw.make_warp(kind, PTS, max(aw.LEVELS_MM[kind]), side, direction)
    assert w.min_jacobian > aw.MIN_JACOBIAN
    width, height = 800, 900
    inv = w.inverse_map(width, height)
    x0, y0, x1, y1 = w.support(width, height)
    assert x1 > x0 and y1 > y0
    y = np.stack(np.meshgrid(np.arange(x0, x1), np.arange(y0, y1)), axis=-1).astype(float)
    x = inv[y0:y1, x0:x1]
    assert np.abs(x + w.displacement(x) - y).max() < 1e-3  # φ(φ⁻¹(y)) = y


def test_a_ptosis_that_would_fold_the_lid_onto_the_pupil_is_refused() -> None:
    # the margin 6 mm above the pupil: 4 mm fits, 6 mm would cover the pupil
    aw.make_warp("upper_lid_ptosis", PTS, 4.0)
    with pytest.raises(ValueError, match="fold"):
        aw.make_warp("upper_lid_ptosis", PTS, 6.0)


def test_the_warped_image_moves_a_mark_where_the_warp_says() -> None:
    img = np.zeros((900, 800, 3), np.uint8)
    x, y = (round(c) for c in PTS["ibug_08"])
    img[y - 2 : y + 3, x - 2 : x + 3] = 255
    w = aw.make_warp("chin_shift", PTS, 3.0, "l")
    out = w.apply(img)[..., 0].astype(float)
    ys, xs = np.nonzero(out > 0)
    centre = np.array([np.average(xs, weights=out[ys, xs]), np.average(ys, weights=out[ys, xs])])
    expected = np.add((x, y), w.displacement(np.array([[x, y]], float))[0])
    assert np.hypot(*(centre - expected)) < 0.3
