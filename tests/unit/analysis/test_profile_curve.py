"""The outline tools of analysis.profile.curve on curves whose answers are known exactly.

Outlines run top → bottom (y grows) with the subject on the −x side, as the profile
search uses them: "deep" is toward −x, "prominent" toward +x.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.profile.curve import Curve, Frame, resample_curve, runs


def outline(x_of_y: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.column_stack([x_of_y, y]).astype(np.float64)


Y = np.arange(0.0, 101.0)
NOTCH = outline(-0.2 * (50.0 - np.abs(Y - 50.0)), Y)  # a dent 10 px deep at y = 50


def test_deepest_and_prominent_find_the_apex_and_its_distance_from_the_chord() -> None:
    c = Curve(NOTCH)
    assert c.step == pytest.approx(math.hypot(1.0, 0.2))
    assert c.deepest(0, 100) == (50, pytest.approx(10.0))
    bump = Curve(NOTCH * np.array([-1.0, 1.0]))  # the mirror image stands out instead
    assert bump.prominent(0, 100) == (50, pytest.approx(10.0))
    assert bump.deepest(0, 100)[1] <= 0.0


def test_deepest_pocket_returns_the_deeper_of_two_dents_and_the_hull_vertex_above_it() -> None:
    # two dents under the hull vertices y = 0, 100, 200; the lower one is 4 px deeper and,
    # measured from the chord 100 -> 200, symmetric about y = 150
    y = np.arange(0.0, 201.0)
    extra = np.where(y > 100, 4.0 * np.sin(np.pi * (y - 100.0) / 100.0), 0.0)
    x = 3.0 * np.cos(2 * np.pi * y / 100.0) - extra - 0.01 * np.abs(y - 100.0)
    assert Curve(outline(x, y)).deepest_pocket(0, 200) == (100, 150)
    assert Curve(outline(x, y)).deepest_pocket(0, 100) == (0, 50)  # only the upper one


def test_tangent_from_a_point_touches_the_most_anterior_side_and_prefers_the_far_end() -> None:
    # from the bottom of a straight vertical line, every point above is tangent: the far end
    line = Curve(outline(np.zeros_like(Y), Y))
    assert line.tangent(Frame.tilted(0.0), 100, 0, 90) == 0
    # from below a bump, the tangent touches the bump's front, not its top or bottom
    x = 10.0 * np.exp(-0.5 * ((Y - 40.0) / 8.0) ** 2)
    c = Curve(outline(x, Y))
    k = c.tangent(Frame.tilted(0.0), 100, 0, 90, tol_deg=0.0)
    assert k is not None and 40 < k < 55


def test_runs_alternate_concave_and_convex_stretches() -> None:
    y = np.arange(0.0, 400.0)
    c = Curve(outline(6.0 * np.sin(2 * np.pi * y / 100.0), y))
    conc = c.concavity(10) / 10.0
    found = runs(conc, 0, 0.05)
    assert [r.sign for r in found] == [-1, 1] * 4  # each bump (convex), then its dent
    assert [r.k for r in found] == [25 + 50 * m for m in range(8)]
    assert all(r.value > 0.05 for r in found)
    assert [r.k for r in runs(conc, 210, 0.05)] == [225, 275, 325, 375]  # from start on


def test_resample_curve_gives_equal_arc_length_steps() -> None:
    t = np.linspace(0.0, np.pi, 37) ** 2 / np.pi  # unevenly spaced samples on a half circle
    arc = np.column_stack([50.0 * np.sin(t), -50.0 * np.cos(t)])
    out = resample_curve(arc, 0.5, sigma=0.0)
    steps = np.linalg.norm(np.diff(out, axis=0), axis=1)
    assert np.allclose(steps, 0.5, atol=0.01)
    assert len(out) == pytest.approx(math.pi * 50.0 / 0.5, abs=3)
