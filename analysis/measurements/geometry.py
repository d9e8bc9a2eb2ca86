"""Plane geometry on named landmarks: the face frame, the mirror axis, angles and areas.

Every measurement formula is a pure function of a :class:`Pts` view of the landmarks, so the
engine can differentiate it numerically (uncertainty propagation) and record which landmarks
it used.

Face frame (frontal views)
--------------------------
``u`` is the unit vector from the centre of the subject's right eye to the centre of the
left eye (eye centre = mean of the six iBUG eye-contour points, so it does not depend on
gaze); in a frontal photo it points to the image's right. ``v`` is ``u`` turned by +90° in
image coordinates (y down), so it points *down* the face. The facial midline is the line
through the midpoint of the two endocanthia along ``v`` — the clinical vertical midline
perpendicular to the interocular line. Horizontal offsets along ``u`` are therefore
positive toward the **subject's left**; heights are measured along ``v``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from analysis.landmark_names import IBUG68_MIRROR, resolve
from analysis.types import FloatArray

RIGHT_EYE: tuple[str, ...] = tuple(f"ibug_{i:02d}" for i in range(36, 42))
LEFT_EYE: tuple[str, ...] = tuple(f"ibug_{i:02d}" for i in range(42, 48))
RIGHT_BROW: tuple[str, ...] = tuple(f"ibug_{i:02d}" for i in range(17, 22))
LEFT_BROW: tuple[str, ...] = tuple(f"ibug_{i:02d}" for i in range(22, 27))
#: Points the mirror axis is fitted on: everything but the jaw contour, whose points slide
#: along the silhouette and would let contour noise tilt the axis.
AXIS_FIT_POINTS: tuple[int, ...] = tuple(range(17, 68))
_IBUG: tuple[str, ...] = tuple(f"ibug_{i:02d}" for i in range(68))


class GeometryError(ValueError):
    """A formula met degenerate geometry (coincident points, zero length)."""


class Pts:
    """Read-only named-point access that records which landmarks a formula touched."""

    def __init__(self, points: Mapping[str, FloatArray]) -> None:
        self._points = points
        self.used: dict[str, None] = {}

    def __getitem__(self, name: str) -> FloatArray:
        key = resolve(name)
        try:
            p = self._points[key]
        except KeyError:
            raise KeyError(f"landmark {name!r} ({key}) not available") from None
        self.used[key] = None
        return p

    def has(self, *names: str) -> bool:
        return all(resolve(n) in self._points for n in names)

    def array(self, names: Iterable[str]) -> FloatArray:
        """Canonical-named points as an (n, 2) array (marks them used)."""
        rows = []
        for key in names:
            rows.append(self._points[key])
            self.used[key] = None
        return np.array(rows, dtype=np.float64).reshape(-1, 2)

    def present(self, key: str) -> bool:
        """Fast membership test for a canonical key (no alias resolution)."""
        return key in self._points

    def mean(self, names: Iterable[str]) -> FloatArray:
        return np.mean([self[n] for n in names], axis=0)  # type: ignore[no-any-return]

    def keys(self) -> list[str]:
        return list(self._points)


@dataclass(frozen=True)
class FaceFrame:
    """Origin on the midline, ``u`` toward the subject's left, ``v`` down the face."""

    origin: FloatArray
    u: FloatArray
    v: FloatArray

    def x(self, p: FloatArray) -> float:
        """Signed offset from the midline, + toward the subject's left."""
        return float(np.dot(p - self.origin, self.u))

    def y(self, p: FloatArray) -> float:
        """Position along the face's vertical, + downward."""
        return float(np.dot(p - self.origin, self.v))


def unit(vec: FloatArray) -> FloatArray:
    n = float(np.hypot(vec[0], vec[1]))
    if not n > 1e-9:
        raise GeometryError("zero-length direction")
    return vec / n  # type: ignore[no-any-return]


def dist(a: FloatArray, b: FloatArray) -> float:
    return float(np.hypot(*(a - b)))


def eye_centre(p: Pts, side: str) -> FloatArray:
    """Mean of the six eye-contour points of the subject's ``side`` ("r" or "l")."""
    return p.mean(RIGHT_EYE if side == "r" else LEFT_EYE)


def pupil(p: Pts, side: str) -> FloatArray:
    """The pupil when a backend gave it, else the eye-contour centre."""
    name = f"pupil_{side}"
    return p[name] if p.has(name) else eye_centre(p, side)


def face_frame(p: Pts) -> FaceFrame:
    """The frontal face frame described in the module docstring."""
    u = unit(eye_centre(p, "l") - eye_centre(p, "r"))
    v = np.array([-u[1], u[0]])
    origin = (p["endocanthion_r"] + p["endocanthion_l"]) / 2.0
    return FaceFrame(origin=origin, u=u, v=v)


def angle_at(vertex: FloatArray, a: FloatArray, b: FloatArray) -> float:
    """Angle a–vertex–b in degrees (0..180)."""
    return angle_between(a - vertex, b - vertex)


def angle_between(d1: FloatArray, d2: FloatArray) -> float:
    """Unsigned angle between two directions in degrees (0..180)."""
    u1, u2 = unit(d1), unit(d2)
    cross = u1[0] * u2[1] - u1[1] * u2[0]
    return math.degrees(math.atan2(abs(float(cross)), float(np.dot(u1, u2))))


def signed_distance_to_line(
    p: FloatArray, a: FloatArray, b: FloatArray, normal_hint: FloatArray
) -> float:
    """Distance of ``p`` from line a–b, positive on the side ``normal_hint`` points to."""
    d = unit(b - a)
    n = np.array([-d[1], d[0]])
    if float(np.dot(n, normal_hint)) < 0:
        n = -n
    return float(np.dot(p - a, n))


def distance_to_line(p: FloatArray, a: FloatArray, b: FloatArray) -> float:
    d = unit(b - a)
    r = p - a
    return abs(float(d[0] * r[1] - d[1] * r[0]))


def polygon_area(points: list[FloatArray]) -> float:
    """Shoelace area of a simple polygon (absolute)."""
    xy = np.asarray(points)
    x, y = xy[:, 0], xy[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def ratio(num: float, den: float) -> float:
    if not abs(den) > 1e-9:
        raise GeometryError("ratio with a zero denominator")
    return num / den


# --- mirror symmetry -------------------------------------------------------------------


@dataclass(frozen=True)
class MirrorAxis:
    """Reflection about the line through ``centre`` along ``direction``."""

    centre: FloatArray
    direction: FloatArray

    def reflect(self, p: FloatArray) -> FloatArray:
        """Mirror image of one point (2,) or of many (n, 2)."""
        d = self.direction
        r = p - self.centre
        along = r @ d
        return self.centre + 2.0 * np.multiply.outer(along, d) - r  # type: ignore[no-any-return]


def mirror_pairs(p: Pts, indices: Iterable[int]) -> list[tuple[str, str]]:
    """(point, its bilateral counterpart) for the given iBUG indices where both exist."""
    out = []
    for i in indices:
        a, b = _IBUG[i], _IBUG[IBUG68_MIRROR[i]]
        if p.present(a) and p.present(b):
            out.append((a, b))
    return out


def fit_mirror_axis(p: Pts) -> MirrorAxis:
    """Best reflection axis of the inner-face points (least squares, closed form).

    Minimises Σ|p_i − R(p_m(i))|² over reflections R, where m(i) is i's bilateral
    counterpart (midline points are their own). The set {p_m(i)} is a permutation of {p_i},
    so both centroids coincide and the axis passes through it; the reflection matrix is the
    orthogonal Procrustes solution constrained to det = −1 (via SVD). See Klingenberg &
    McIntyre, Evolution 1998, for this use of relabelled reflections in asymmetry analysis.
    """
    pairs = mirror_pairs(p, AXIS_FIT_POINTS)
    if len(pairs) < 6:
        raise GeometryError("too few paired landmarks to fit a mirror axis")
    a = p.array(x for x, _ in pairs)
    b = p.array(y for _, y in pairs)
    c = a.mean(axis=0)
    h = (a - c).T @ (b - c)  # Σ (p_i − c)(q_i − c)^T
    uu, _, vt = np.linalg.svd(h)
    q = uu @ vt
    if np.linalg.det(q) > 0:
        q = uu @ np.diag([1.0, -1.0]) @ vt
    # A 2D reflection's axis is its eigenvector with eigenvalue +1.
    w, vecs = np.linalg.eigh((q + q.T) / 2.0)
    direction = vecs[:, int(np.argmax(w))]
    if direction[1] < 0:  # point down the face, for a stable sign
        direction = -direction
    return MirrorAxis(centre=c, direction=unit(direction))


def mirror_rms(p: Pts, axis: MirrorAxis, indices: Iterable[int]) -> float:
    """RMS of |p_i − mirror(p_m(i))| over the given iBUG indices (pixels)."""
    pairs = mirror_pairs(p, indices)
    if not pairs:
        raise GeometryError("no paired landmarks in this region")
    a = p.array(x for x, _ in pairs)
    b = p.array(y for _, y in pairs)
    return math.sqrt(float(np.mean(np.sum((a - axis.reflect(b)) ** 2, axis=1))))


# --- profile ----------------------------------------------------------------------------


def anterior_direction(p: Pts) -> FloatArray:
    """Unit image-horizontal vector pointing the way the face looks in a profile photo.

    The nasal tip lies in front of both soft-tissue nasion and subnasale in any profile,
    whichever way the subject faces.
    """
    dx = float((p["pronasale"] - p["soft_tissue_nasion"])[0] + (p["pronasale"] - p["subnasale"])[0])
    if abs(dx) < 1e-9:
        raise GeometryError("cannot tell which way the profile faces")
    return np.array([math.copysign(1.0, dx), 0.0])
