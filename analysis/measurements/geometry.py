"""Plane geometry on named landmarks: the face frame, the mirror axis, angles and areas.

Every measurement formula is a pure function of a :class:`Pts` view of the landmarks, so the
engine can differentiate it numerically (uncertainty propagation) and record which landmarks
it used. Formulas are *vectorised*: :class:`Pts` holds a batch of B landmark configurations
(the photo's landmarks and their perturbed copies), ``p[name]`` is a (B, 2) array and a
formula returns B values, so one call evaluates a measurement on every perturbation at once.
Helpers here therefore work on the last axis (``[..., 0]`` is x) and never reduce over the
batch; a degeneracy check fails if *any* configuration of the batch is degenerate.

Face frame (frontal views)
--------------------------
``u`` is the unit vector from the subject's right pupil to the left one — the
interpupillary line, the clinical horizontal reference. Without detected pupils the eye
centre (mean of the six iBUG eye-contour points) stands in. The pupils do not move with the
eyelids, so a ptotic or blinking lid (or the lid refinement) does not tilt the frame and
shift every height measured in it; in a frontal photo ``u`` points to the image's right.
``v`` is ``u`` turned by +90° in image coordinates (y down), so it points *down* the face.
The facial midline is the line through the midpoint of the two endocanthia along ``v`` —
the clinical vertical midline perpendicular to the interpupillary line. Horizontal offsets
along ``u`` are therefore positive toward the **subject's left**; heights are measured
along ``v``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np

from analysis.landmark_names import IBUG68_MIRROR, resolve
from analysis.types import AnalysisError, FloatArray

RIGHT_EYE: tuple[str, ...] = tuple(f"ibug_{i:02d}" for i in range(36, 42))
LEFT_EYE: tuple[str, ...] = tuple(f"ibug_{i:02d}" for i in range(42, 48))
RIGHT_BROW: tuple[str, ...] = tuple(f"ibug_{i:02d}" for i in range(17, 22))
LEFT_BROW: tuple[str, ...] = tuple(f"ibug_{i:02d}" for i in range(22, 27))
#: Points the mirror axis is fitted on: everything but the jaw contour, whose points slide
#: along the silhouette and would let contour noise tilt the axis.
AXIS_FIT_POINTS: tuple[int, ...] = tuple(range(17, 68))
_IBUG: tuple[str, ...] = tuple(f"ibug_{i:02d}" for i in range(68))

T = TypeVar("T")
_PLANES = "__planes__"


class GeometryError(AnalysisError, ValueError):
    """A formula met degenerate geometry (coincident points, zero length)."""


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


@dataclass(frozen=True)
class FaceFrame:
    """Origin on the midline, ``u`` toward the subject's left, ``v`` down the face."""

    origin: FloatArray
    u: FloatArray
    v: FloatArray

    def x(self, p: FloatArray) -> FloatArray:
        """Signed offset from the midline, + toward the subject's left."""
        return dot(p - self.origin, self.u)

    def y(self, p: FloatArray) -> FloatArray:
        """Position along the face's vertical, + downward."""
        return dot(p - self.origin, self.v)


def dot(a: FloatArray, b: FloatArray) -> FloatArray:
    """Dot product over the last (x, y) axis."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1]


def cross(a: FloatArray, b: FloatArray) -> FloatArray:
    """z of the cross product over the last (x, y) axis."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def norm(vec: FloatArray) -> FloatArray:
    return np.hypot(vec[..., 0], vec[..., 1])


def unit(vec: FloatArray) -> FloatArray:
    n = norm(vec)
    if not np.all(n > 1e-9):
        raise GeometryError("zero-length direction")
    return vec / n[..., None]


def dist(a: FloatArray, b: FloatArray) -> FloatArray:
    return norm(a - b)


def eye_centre(p: Pts, side: str) -> FloatArray:
    """Mean of the six eye-contour points of the subject's ``side`` ("r" or "l")."""
    return p.mean(RIGHT_EYE if side == "r" else LEFT_EYE)


def pupil(p: Pts, side: str) -> FloatArray:
    """The pupil when a backend gave it, else the eye-contour centre."""
    name = f"pupil_{side}"
    return p[name] if p.has(name) else eye_centre(p, side)


def face_frame(p: Pts) -> FaceFrame:
    """The frontal face frame described in the module docstring (computed once per batch)."""
    return p.shared("face_frame", _face_frame)


def _face_frame(p: Pts) -> FaceFrame:
    u = unit(pupil(p, "l") - pupil(p, "r"))
    v = np.stack([-u[..., 1], u[..., 0]], axis=-1)
    origin = (p["endocanthion_r"] + p["endocanthion_l"]) / 2.0
    return FaceFrame(origin=origin, u=u, v=v)


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


@dataclass(frozen=True)
class MirrorAxis:
    """Reflection about the line through ``centre`` along ``direction`` (both (B, 2))."""

    centre: FloatArray
    direction: FloatArray

    def reflect(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Mirror images of points given as x, y arrays (n, B), each column about its axis."""
        cx, cy = self.centre[:, 0], self.centre[:, 1]
        dx, dy = self.direction[:, 0], self.direction[:, 1]
        rx, ry = x - cx, y - cy
        along = rx * dx + ry * dy
        return cx + 2.0 * along * dx - rx, cy + 2.0 * along * dy - ry


def mirror_pairs(p: Pts, indices: Iterable[int]) -> list[tuple[str, str]]:
    """(point, its bilateral counterpart) for the given iBUG indices where both exist."""
    return [(_IBUG[i], _IBUG[IBUG68_MIRROR[i]]) for i in _paired(p, indices)]


def _paired(p: Pts, indices: Iterable[int]) -> list[int]:
    """The given iBUG indices whose point and counterpart both exist."""
    return [i for i in indices if p.present(_IBUG[i]) and p.present(_IBUG[IBUG68_MIRROR[i]])]


def fit_mirror_axis(p: Pts) -> MirrorAxis:
    """Best reflection axis of the inner-face points (least squares, closed form).

    Minimises Σ|p_i − R(p_m(i))|² over reflections R, where m(i) is i's bilateral
    counterpart (midline points are their own). The set {p_m(i)} is a permutation of {p_i},
    so both centroids coincide and the axis passes through it (Klingenberg & McIntyre,
    Evolution 1998, for this use of relabelled reflections in asymmetry analysis). About
    the centroid, with a_i = p_i − c, b_i = p_m(i) − c and the reflection R_θ about an axis
    at angle θ, the cost is minimal where Σ a_iᵀ R_θ b_i = cos 2θ (Hxx − Hyy) +
    sin 2θ (Hxy + Hyx) is maximal (H = Σ a_i b_iᵀ), i.e. at 2θ = atan2(Hxy + Hyx, Hxx − Hyy):
    the orthogonal Procrustes solution constrained to det = −1, without an SVD.
    Computed once per batch.
    """
    return p.shared("mirror_axis", _fit_mirror_axis)


def _fit_mirror_axis(p: Pts) -> MirrorAxis:
    pairs = mirror_pairs(p, AXIS_FIT_POINTS)
    if len(pairs) < 6:
        raise GeometryError("too few paired landmarks to fit a mirror axis")
    ax, ay = p.planar(x for x, _ in pairs)
    bx, by = p.planar(y for _, y in pairs)
    cx, cy = ax.mean(axis=0), ay.mean(axis=0)
    ax, ay, bx, by = ax - cx, ay - cy, bx - cx, by - cy
    cos2 = np.sum(ax * bx - ay * by, axis=0)  # Hxx − Hyy
    sin2 = np.sum(ax * by + ay * bx, axis=0)  # Hxy + Hyx
    theta = np.arctan2(sin2, cos2) / 2.0
    direction = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    # point down the face, for a stable sign
    direction = np.where((direction[:, 1] < 0)[:, None], -direction, direction)
    return MirrorAxis(centre=np.stack([cx, cy], axis=-1), direction=unit(direction))


def _mirror_residuals(p: Pts) -> FloatArray:
    """|p_i − mirror(p_m(i))|² about the fitted axis for every iBUG i, (68, B).

    Rows of points without a counterpart are NaN. Marks only the axis fit's points: each
    region's RMS marks its own (:func:`mirror_rms`).
    """
    axis = fit_mirror_axis(p)
    rows = _paired(p, range(68))
    ax, ay = p.planar((_IBUG[i] for i in rows), mark=False)
    mx, my = axis.reflect(*p.planar((_IBUG[IBUG68_MIRROR[i]] for i in rows), mark=False))
    out = np.full((68, p.batch), np.nan)
    out[rows] = (ax - mx) ** 2 + (ay - my) ** 2
    return out


def mirror_rms(p: Pts, indices: Iterable[int]) -> FloatArray:
    """RMS of |p_i − mirror(p_m(i))| over the given iBUG indices, about the fitted axis (px).

    The squared residuals of all points are computed once per batch; the points of the
    region are marked used here, as they are read.
    """
    rows = _paired(p, indices)
    if not rows:
        raise GeometryError("no paired landmarks in this region")
    sq = p.shared("mirror_residuals", _mirror_residuals)
    for i in rows:
        p.used[_IBUG[i]] = None
    for i in rows:
        p.used[_IBUG[IBUG68_MIRROR[i]]] = None
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
