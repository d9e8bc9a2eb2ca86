"""Plane geometry on named landmarks for the measurement formulas: angles, areas, lines.

Every measurement formula is a pure function of a :class:`Pts` view of the landmarks, so the
engine can differentiate it numerically (uncertainty propagation) and record which landmarks
it used. Formulas are *vectorised*: :class:`Pts` holds a batch of B landmark configurations
(the photo's landmarks and their perturbed copies), ``p[name]`` is a (B, 2) array and a
formula returns B values, so one call evaluates a measurement on every perturbation at once.
Helpers here therefore work on the last axis (``[..., 0]`` is x) and never reduce over the
batch; a degeneracy check fails if *any* configuration of the batch is degenerate.

The face frame and the mirror axis are not defined here but in :mod:`analysis.geometry`,
the one face geometry that the overlays, the refinement, quality and scale use too;
:class:`Pts` is one of the two point sources it reads (see its module docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

import numpy as np

from analysis.geometry import GeometryError, dot, fit_mirror_axis, norm, paired, unit
from analysis.landmark_names import mirror_pair, resolve
from analysis.types import FloatArray

T = TypeVar("T")
_PLANES = "__planes__"


class Pts:
    """Read-only named-point access over a batch of configurations; records what was read.

    ``xy`` is (B, N, 2) — B configurations of N points — and ``index`` maps each canonical
    key to its column. ``shared`` holds intermediates (face frame, mirror axis) computed once
    per batch and reused by every formula evaluated on the same batch.
    """

    def __init__(
        self,
        xy: FloatArray,
        index: Mapping[str, int],
        shared: dict[str, tuple[Any, tuple[str, ...]]] | None = None,
    ) -> None:
        self._xy = xy
        self._index = index
        self._shared: dict[str, tuple[Any, tuple[str, ...]]] = {} if shared is None else shared
        self.used: dict[str, None] = {}

    @property
    def batch(self) -> int:
        return int(self._xy.shape[0])

    def __getitem__(self, name: str) -> FloatArray:
        key = resolve(name)
        try:
            i = self._index[key]
        except KeyError:
            raise KeyError(f"landmark {name!r} ({key}) not available") from None
        self.used[key] = None
        return self._xy[:, i]

    def has(self, *names: str) -> bool:
        return all(resolve(n) in self._index for n in names)

    def array(self, names: Iterable[str]) -> FloatArray:
        """Canonical-named points as a (B, n, 2) array (marks them used)."""
        cols = []
        for key in names:
            cols.append(self._index[key])
            self.used[key] = None
        return self._xy[:, cols]

    def planar(self, names: Iterable[str], *, mark: bool = True) -> tuple[FloatArray, FloatArray]:
        """x and y of canonical-named points as two contiguous (n, B) arrays.

        The layout for bulk arithmetic on many points (the mirror fit): point-major, so a
        gather copies whole rows and no operation runs over a strided (B, n, 2) array.
        ``mark=False`` reads without recording, for shared intermediates whose callers mark
        the points they depend on themselves.
        """
        cols = []
        for key in names:
            cols.append(self._index[key])
            if mark:
                self.used[key] = None
        hit = self._shared.get(_PLANES)
        if hit is None:
            xy = self._xy
            planes = (np.ascontiguousarray(xy[..., 0].T), np.ascontiguousarray(xy[..., 1].T))
            hit = (planes, ())
            self._shared[_PLANES] = hit
        xs, ys = cast(tuple[FloatArray, FloatArray], hit[0])
        return xs[cols], ys[cols]

    def present(self, key: str) -> bool:
        """Fast membership test for a canonical key (no alias resolution)."""
        return key in self._index

    def mean(self, names: Iterable[str]) -> FloatArray:
        """Mean of the named points (aliases allowed), (B, 2)."""
        cols = []
        for name in names:
            key = resolve(name)
            try:
                cols.append(self._index[key])
            except KeyError:
                raise KeyError(f"landmark {name!r} ({key}) not available") from None
            self.used[key] = None
        return self._xy[:, cols].mean(axis=1)  # type: ignore[no-any-return]

    def keys(self) -> list[str]:
        return list(self._index)

    def shared(self, name: str, compute: Callable[[Pts], T]) -> T:
        """``compute(self)``, evaluated once per batch and cached under ``name``.

        The points the computation read are marked used on every call, in the order it read
        them, so a formula records the same landmarks whether or not the value was cached.
        ``compute`` must depend only on the batch (not on the calling formula).
        """
        hit = self._shared.get(name)
        if hit is None:
            sub = Pts(self._xy, self._index, self._shared)
            hit = (compute(sub), tuple(sub.used))
            self._shared[name] = hit
        for key in hit[1]:
            self.used[key] = None
        return cast(T, hit[0])


def cross(a: FloatArray, b: FloatArray) -> FloatArray:
    """z of the cross product over the last (x, y) axis."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def dist(a: FloatArray, b: FloatArray) -> FloatArray:
    return norm(a - b)


def angle_at(vertex: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """Angle a–vertex–b in degrees (0..180)."""
    return angle_between(a - vertex, b - vertex)


def angle_between(d1: FloatArray, d2: FloatArray) -> FloatArray:
    """Unsigned angle between two directions in degrees (0..180)."""
    u1, u2 = unit(d1), unit(d2)
    return np.degrees(np.arctan2(np.abs(cross(u1, u2)), dot(u1, u2)))


def signed_distance_to_line(
    p: FloatArray, a: FloatArray, b: FloatArray, normal_hint: FloatArray
) -> FloatArray:
    """Distance of ``p`` from line a–b, positive on the side ``normal_hint`` points to."""
    d = unit(b - a)
    n = np.stack([-d[..., 1], d[..., 0]], axis=-1)
    n = np.where((dot(n, normal_hint) < 0)[..., None], -n, n)
    return dot(p - a, n)


def distance_to_line(p: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    return np.abs(cross(unit(b - a), p - a))


def polygon_area(xy: FloatArray) -> FloatArray:
    """Shoelace area of a simple polygon (absolute); ``xy`` is (..., n, 2)."""
    x, y = xy[..., 0], xy[..., 1]
    twice = np.sum(x * np.roll(y, -1, axis=-1), axis=-1) - np.sum(
        y * np.roll(x, -1, axis=-1), axis=-1
    )
    return np.abs(twice) / 2.0  # type: ignore[no-any-return]


def ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    if not np.all(np.abs(den) > 1e-9):
        raise GeometryError("ratio with a zero denominator")
    return num / den


# --- mirror symmetry -------------------------------------------------------------------


def _mirror_residuals(p: Pts) -> FloatArray:
    """|p_i − mirror(p_m(i))|² about the fitted axis for every iBUG i, (68, B).

    Rows of points without a counterpart are NaN. Marks only the axis fit's points: each
    region's RMS marks its own (:func:`mirror_rms`).
    """
    axis = fit_mirror_axis(p)
    rows = paired(p, range(68))
    pairs = [mirror_pair(i) for i in rows]
    ax, ay = p.planar((a for a, _ in pairs), mark=False)
    mx, my = axis.reflect(*p.planar((b for _, b in pairs), mark=False))
    out = np.full((68, p.batch), np.nan)
    out[rows] = (ax - mx) ** 2 + (ay - my) ** 2
    return out


def mirror_rms(p: Pts, indices: Iterable[int]) -> FloatArray:
    """RMS of |p_i − mirror(p_m(i))| over the given iBUG indices, about the fitted axis (px).

    The squared residuals of all points are computed once per batch; the points of the
    region are marked used here, as they are read.
    """
    rows = paired(p, indices)
    if not rows:
        raise GeometryError("no paired landmarks in this region")
    sq = p.shared("mirror_residuals", _mirror_residuals)
    pairs = [mirror_pair(i) for i in rows]
    for a, _ in pairs:
        p.used[a] = None
    for _, b in pairs:
        p.used[b] = None
    return np.sqrt(np.mean(sq[rows], axis=0))  # type: ignore[no-any-return]


# --- profile ----------------------------------------------------------------------------


def anterior_direction(p: Pts) -> FloatArray:
    """Unit image-horizontal vector pointing the way the face looks in a profile photo.

    The nasal tip lies in front of both soft-tissue nasion and subnasale in any profile,
    whichever way the subject faces.
    """
    tip = p["pronasale"]
    dx = (tip - p["soft_tissue_nasion"])[..., 0] + (tip - p["subnasale"])[..., 0]
    if np.any(np.abs(dx) < 1e-9):
        raise GeometryError("cannot tell which way the profile faces")
    return np.stack([np.copysign(1.0, dx), np.zeros_like(dx)], axis=-1)
