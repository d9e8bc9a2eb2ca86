"""The one face geometry: the frontal face frame and the bilateral mirror axis.

Whatever measures, draws or resamples a face in its own frame takes that frame from here —
the measurement catalogue (:mod:`analysis.measurements`), the overlays, the refinement,
quality and scale — so the numbers in the report and the lines on the pictures are the
same lines.

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

Mirror axis
-----------
The reflection axis that best maps the inner-face points (iBUG 17–67) onto their
bilateral counterparts (:func:`fit_mirror_axis`): what the mirrored-landmark asymmetry
measures about, and what the mirrored composites are folded on.

Two representations, one piece of maths
---------------------------------------
The maths is written once against :class:`PointSource`, a small read interface over named
points. :class:`analysis.measurements.geometry.Pts` serves a *batch* of B configurations
(the measurement engine's perturbed copies; a point is a (B, 2) array);
:class:`NamedPoints` serves one plain dict of named points (a point is a (2,) array).
Helpers work on the last axis and never reduce over the batch, so both flow through the
same code. :func:`frame_of` and :func:`mirror_axis_of` are the entry points for dicts:
None where the points define no frame or axis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeVar, cast

import numpy as np

from analysis.landmark_names import (
    IBUG68,
    IBUG68_MIRROR,
    INNER_FACE_INDICES,
    LEFT_EYE,
    RIGHT_EYE,
    mirror_pair,
    resolve,
)
from analysis.types import AnalysisError, FloatArray

T = TypeVar("T")

#: Points the mirror axis is fitted on: everything but the jaw contour, whose points slide
#: along the silhouette and would let contour noise tilt the axis.
AXIS_FIT_POINTS: tuple[int, ...] = INNER_FACE_INDICES
#: Fewest bilateral pairs a mirror axis is fitted on.
MIN_AXIS_PAIRS = 6


class GeometryError(AnalysisError, ValueError):
    """A formula met degenerate geometry (coincident points, zero length)."""


class PointSource(Protocol):
    """Read access to named points, one configuration or a batch (see the module doc)."""

    def __getitem__(self, name: str) -> FloatArray:
        """The point (alias allowed); KeyError when it is missing."""
        ...

    def has(self, *names: str) -> bool:
        """Whether every named point (aliases allowed) is present."""
        ...

    def present(self, key: str) -> bool:
        """Whether the canonical key is present (no alias resolution)."""
        ...

    def mean(self, names: Iterable[str]) -> FloatArray:
        """Mean of the named points (aliases allowed)."""
        ...

    def planar(self, names: Iterable[str], *, mark: bool = True) -> tuple[FloatArray, FloatArray]:
        """x and y of canonical-named points, each (n, ...) — n first."""
        ...

    def shared(self, name: str, compute: Callable[[Self], T]) -> T:
        """``compute(self)``, computed once and cached under ``name``."""
        ...


class NamedPoints:
    """One plain dict of named points as a :class:`PointSource` (points are (2,) arrays).

    Points that are not a finite (x, y) pair are left out, as the measurement engine
    leaves them out.
    """

    def __init__(self, points: Mapping[str, Any]) -> None:
        self._xy: dict[str, FloatArray] = {}
        for key, value in points.items():
            xy = np.asarray(value, dtype=np.float64)
            if xy.shape == (2,) and bool(np.all(np.isfinite(xy))):
                self._xy[key] = xy
        self._shared: dict[str, object] = {}

    def __getitem__(self, name: str) -> FloatArray:
        key = resolve(name)
        try:
            return self._xy[key]
        except KeyError:
            raise KeyError(f"landmark {name!r} ({key}) not available") from None

    def has(self, *names: str) -> bool:
        return all(resolve(n) in self._xy for n in names)

    def present(self, key: str) -> bool:
        return key in self._xy

    def mean(self, names: Iterable[str]) -> FloatArray:
        return np.mean([self[n] for n in names], axis=0)  # type: ignore[no-any-return]

    def planar(self, names: Iterable[str], *, mark: bool = True) -> tuple[FloatArray, FloatArray]:
        xy = np.array([self._xy[k] for k in names], dtype=np.float64).reshape(-1, 2)
        return xy[:, 0], xy[:, 1]

    def shared(self, name: str, compute: Callable[[Self], T]) -> T:
        if name not in self._shared:
            self._shared[name] = compute(self)
        return cast(T, self._shared[name])


# --- vectors on the last axis --------------------------------------------------------------


def dot(a: FloatArray, b: FloatArray) -> FloatArray:
    """Dot product over the last (x, y) axis."""
    return a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1]


def norm(vec: FloatArray) -> FloatArray:
    return np.hypot(vec[..., 0], vec[..., 1])


def unit(vec: FloatArray) -> FloatArray:
    n = norm(vec)
    if not np.all(n > 1e-9):
        raise GeometryError("zero-length direction")
    return vec / n[..., None]


# --- face frame -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaceFrame:
    """Origin on the midline, ``u`` toward the subject's left, ``v`` down the face.

    ``ipd`` is the distance between the two pupils ``u`` was taken from (px). The facial
    midline is the line through ``origin`` along ``v`` (x = 0).
    """

    origin: FloatArray
    u: FloatArray
    v: FloatArray
    ipd: FloatArray

    def x(self, p: FloatArray) -> FloatArray:
        """Signed offset from the midline, + toward the subject's left."""
        return dot(p - self.origin, self.u)

    def y(self, p: FloatArray) -> FloatArray:
        """Position along the face's vertical, + downward."""
        return dot(p - self.origin, self.v)

    def point(self, x: float, y: float) -> FloatArray:
        """The image point at frame coordinates (x, y)."""
        return self.origin + x * self.u + y * self.v  # type: ignore[no-any-return]


def eye_centre(p: PointSource, side: str) -> FloatArray:
    """Mean of the six eye-contour points of the subject's ``side`` ("r" or "l")."""
    return p.mean(RIGHT_EYE if side == "r" else LEFT_EYE)


def pupil(p: PointSource, side: str) -> FloatArray:
    """The pupil when a backend gave it, else the eye-contour centre."""
    name = f"pupil_{side}"
    return p[name] if p.has(name) else eye_centre(p, side)


def interpupillary(p: PointSource) -> FloatArray:
    """Distance between the pupils (eye-contour centres where a pupil is missing)."""
    return norm(pupil(p, "r") - pupil(p, "l"))


def face_frame(p: PointSource) -> FaceFrame:
    """The frontal face frame described in the module docstring (computed once per source)."""
    return p.shared("face_frame", _face_frame)


def _face_frame(p: PointSource) -> FaceFrame:
    d = pupil(p, "l") - pupil(p, "r")
    u = unit(d)
    v = np.stack([-u[..., 1], u[..., 0]], axis=-1)
    origin = (p["endocanthion_r"] + p["endocanthion_l"]) / 2.0
    return FaceFrame(origin=origin, u=u, v=v, ipd=norm(d))


# --- mirror axis ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MirrorAxis:
    """Reflection about the line through ``centre`` along ``direction`` (pointing down the
    face); both (2,) for one configuration, (B, 2) for a batch."""

    centre: FloatArray
    direction: FloatArray

    def reflect(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Mirror images of points given as x, y arrays (n, ...), each about its axis."""
        cx, cy = self.centre[..., 0], self.centre[..., 1]
        dx, dy = self.direction[..., 0], self.direction[..., 1]
        rx, ry = x - cx, y - cy
        along = rx * dx + ry * dy
        return cx + 2.0 * along * dx - rx, cy + 2.0 * along * dy - ry


def paired(p: PointSource, indices: Iterable[int]) -> list[int]:
    """The given iBUG indices whose point and bilateral counterpart are both present."""
    return [i for i in indices if p.present(IBUG68[i]) and p.present(IBUG68[IBUG68_MIRROR[i]])]


def fit_mirror_axis(p: PointSource) -> MirrorAxis:
    """Best reflection axis of the inner-face points (least squares, closed form).

    Minimises Σ|p_i − R(p_m(i))|² over reflections R, where m(i) is i's bilateral
    counterpart (midline points are their own). The set {p_m(i)} is a permutation of {p_i},
    so both centroids coincide and the axis passes through it (Klingenberg & McIntyre,
    Evolution 1998, for this use of relabelled reflections in asymmetry analysis). About
    the centroid, with a_i = p_i − c, b_i = p_m(i) − c and the reflection R_θ about an axis
    at angle θ, the cost is minimal where Σ a_iᵀ R_θ b_i = cos 2θ (Hxx − Hyy) +
    sin 2θ (Hxy + Hyx) is maximal (H = Σ a_i b_iᵀ), i.e. at 2θ = atan2(Hxy + Hyx, Hxx − Hyy):
    the orthogonal Procrustes solution constrained to det = −1, without an SVD.
    Computed once per source.
    """
    return p.shared("mirror_axis", _fit_mirror_axis)


def _fit_mirror_axis(p: PointSource) -> MirrorAxis:
    pairs = [mirror_pair(i) for i in paired(p, AXIS_FIT_POINTS)]
    if len(pairs) < MIN_AXIS_PAIRS:
        raise GeometryError("too few paired landmarks to fit a mirror axis")
    ax, ay = p.planar(a for a, _ in pairs)
    bx, by = p.planar(b for _, b in pairs)
    cx, cy = ax.mean(axis=0), ay.mean(axis=0)
    ax, ay, bx, by = ax - cx, ay - cy, bx - cx, by - cy
    cos2 = np.sum(ax * bx - ay * by, axis=0)  # Hxx − Hyy
    sin2 = np.sum(ax * by + ay * bx, axis=0)  # Hxy + Hyx
    theta = np.arctan2(sin2, cos2) / 2.0
    direction = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    # point down the face, for a stable sign
    direction = np.where((direction[..., 1] < 0)[..., None], -direction, direction)
    return MirrorAxis(centre=np.stack([cx, cy], axis=-1), direction=unit(direction))


# --- entry points for a plain dict of named points ----------------------------------------------


def frame_of(points: Mapping[str, Any]) -> FaceFrame | None:
    """:func:`face_frame` of a dict of named points; None without eyes and endocanthia."""
    try:
        return face_frame(NamedPoints(points))
    except (KeyError, GeometryError):
        return None


def mirror_axis_of(points: Mapping[str, Any]) -> MirrorAxis | None:
    """:func:`fit_mirror_axis` of a dict of named points; None with too few pairs."""
    try:
        return fit_mirror_axis(NamedPoints(points))
    except GeometryError:
        return None
