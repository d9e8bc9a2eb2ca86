"""The one face geometry: the frontal face frame and the bilateral mirror axis.

Whatever measures, draws or resamples a face in its own frame takes that frame from here —
the measurement catalogue (:mod:`analysis.measurements`), the overlays, the refinement,
quality and scale — so the numbers in the report and the lines on the pictures are the
same lines.

Face frame (frontal views)
--------------------------
The facial midline is the face's *mirror axis* fitted robustly to the upper face
(:func:`fit_frame_axis`): ≈ 25 bilateral pairs and midline points — canthi, pupils and iris
edges, brows, lids, the nasal bridge and the glabella — with Tukey weights, so that the
jitter of any one point averages out (two pupils alone turned the frame 0.6° on a photo
shifted by one pixel) and a one-sided brow lift or lid droop gets no say. The chin, the
nasal tip and the mouth around them are not fitted: their deviations are what is read in
this frame. ``v`` runs down that axis; ``u`` is perpendicular to it, toward the subject's
left (in a frontal photo the image's right). The origin is the midpoint of the two
endocanthia projected onto the axis. Horizontal offsets along ``u`` are therefore positive
toward the **subject's left**; heights are measured along ``v``. ``ipd`` is the distance
between the pupils (eye-contour centres where a backend gives no pupil), the frame's unit.

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
    IRIS,
    LEFT_BROW_INDICES,
    LEFT_EYE,
    LEFT_EYE_INDICES,
    RIGHT_BROW_INDICES,
    RIGHT_EYE,
    RIGHT_EYE_INDICES,
    ibug_names,
    mirror_key,
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

#: Where the face frame's robust fit starts: points that no clinical one-sided change moves
#: — the canthi, the pupils and iris edges, the nasal bridge above the nose (iBUG 27, 28)
#: and the glabella.
FRAME_ANCHOR_POINTS: tuple[str, ...] = ibug_names((36, 39, 42, 45, 27, 28)) + IRIS + ("glabella",)
#: Every point the face frame is fitted on: the anchors plus the brows and lids, whose
#: one-sided lifts and droops the robust weights reject. The lower face is left out on
#: purpose: the chin, the nasal tip and the mouth around them move with the deviations
#: that are read in this frame (a chin shifted 3 mm takes the lower lip ≈ 1.5 mm along).
FRAME_FIT_POINTS: tuple[str, ...] = FRAME_ANCHOR_POINTS + ibug_names(
    RIGHT_BROW_INDICES
    + LEFT_BROW_INDICES
    + tuple(i for i in RIGHT_EYE_INDICES + LEFT_EYE_INDICES if i not in (36, 39, 42, 45))
)
#: Tukey's biweight constant (95 % efficiency under Gaussian residuals): a point whose
#: mirror residual exceeds this many robust sigmas gets no weight at all.
FRAME_TUKEY_C = 4.685
#: The robust sigma's floor, a fraction of the fit points' RMS radius (≈ 0.5 IPD): on an
#: exactly symmetric face the median residual is 0, and the floor keeps the weights finite.
FRAME_SIGMA_FLOOR = 0.01
#: Reweighting passes after the anchors' least-squares start.
FRAME_IRLS_ITERATIONS = 6
#: Fewest rows (a point and its counterpart) the frame is fitted on: two bilateral pairs
#: (the pupils and the endocanthia, say) fix an axis.
MIN_FRAME_ROWS = 4


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

    ``ipd`` is the distance between the two pupils (px). The facial midline is the line
    through ``origin`` along ``v`` (x = 0), the robust mirror axis of the upper face.
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
    mid = (p["endocanthion_r"] + p["endocanthion_l"]) / 2.0
    ipd = norm(d)
    unit(d)  # coincident pupils: no frame
    axis = fit_frame_axis(p)
    v = axis.direction
    u = np.stack([v[..., 1], -v[..., 0]], axis=-1)
    flip = (dot(u, d) < 0)[..., None]  # u toward the subject's left, whatever the roll
    u, v = np.where(flip, -u, u), np.where(flip, -v, v)
    origin = axis.centre + dot(mid - axis.centre, v)[..., None] * v
    return FaceFrame(origin=origin, u=u, v=v, ipd=ipd)


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
    return _reflection_fit(ax, ay, bx, by, np.ones_like(ax))


def _reflection_fit(
    ax: FloatArray, ay: FloatArray, bx: FloatArray, by: FloatArray, w: FloatArray
) -> MirrorAxis:
    """The weighted least-squares reflection axis mapping points b onto points a.

    Rows are (point, counterpart) pairs, (n, ...) each; both orders of every bilateral pair
    are rows, with equal weights, so the weighted centroids of a and b coincide and the
    axis passes through it (see :func:`fit_mirror_axis` for the closed form).
    """
    total = np.sum(w, axis=0)
    cx = np.sum(w * ax, axis=0) / total
    cy = np.sum(w * ay, axis=0) / total
    ax, ay, bx, by = ax - cx, ay - cy, bx - cx, by - cy
    cos2 = np.sum(w * (ax * bx - ay * by), axis=0)  # Hxx − Hyy
    sin2 = np.sum(w * (ax * by + ay * bx), axis=0)  # Hxy + Hyx
    theta = np.arctan2(sin2, cos2) / 2.0
    direction = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    # point down the face, for a stable sign
    direction = np.where((direction[..., 1] < 0)[..., None], -direction, direction)
    return MirrorAxis(centre=np.stack([cx, cy], axis=-1), direction=unit(direction))


def _frame_pairs(p: PointSource) -> list[tuple[str, str]]:
    """(point, counterpart) rows of :data:`FRAME_FIT_POINTS` present on both sides."""
    rows = []
    for key in FRAME_FIT_POINTS:
        other = mirror_key(key)
        if other is not None and p.present(key) and p.present(other):
            rows.append((key, other))
    return rows


def fit_frame_axis(p: PointSource) -> MirrorAxis:
    """The face frame's midline: a robust reflection fit of the upper face (computed once).

    Why not two pupils: a pupil moves ≈ 0.4 mm when the photo is re-encoded or shifted by
    a pixel, which turned the pupil axis 0.6° and moved the chin 1.5 mm against it. The fit
    reads every bilateral pair and midline point of :data:`FRAME_FIT_POINTS` (≈ 25 rows
    with MediaPipe's iris), so the points' independent jitter averages out.

    Why robust: a brow lift or a ptotic lid is one-sided and would drag a least-squares
    axis. The fit starts from the least-squares axis of :data:`FRAME_ANCHOR_POINTS` (points
    those changes leave alone) and reweights every row by Tukey's biweight of its mirror
    residual |p_i − R(p_m(i))| over :data:`FRAME_TUKEY_C` robust sigmas (1.4826 × the
    median residual, floored at :data:`FRAME_SIGMA_FLOOR` of the anchors' RMS radius);
    a row far off gets weight 0 and no influence. The biweight is smooth, so the
    engine's numerical derivatives through the frame stay meaningful. Works on a batch
    (the engine's perturbed copies): every configuration gets its own weights.
    """
    return p.shared("frame_axis", _fit_frame_axis)


def _fit_frame_axis(p: PointSource) -> MirrorAxis:
    rows = _frame_pairs(p)
    if len(rows) < MIN_FRAME_ROWS:
        raise GeometryError("too few paired landmarks to fit the face frame")
    ax, ay = p.planar(a for a, _ in rows)
    bx, by = p.planar(b for _, b in rows)
    anchors = set(FRAME_ANCHOR_POINTS)
    w = np.zeros_like(ax)
    w[[i for i, (a, _) in enumerate(rows) if a in anchors]] = 1.0
    axis = _reflection_fit(ax, ay, bx, by, w)
    # the anchors' spread sets the scale below which residuals count as noise
    rx, ry = ax - axis.centre[..., 0], ay - axis.centre[..., 1]
    radius = np.sqrt(np.sum(w * (rx * rx + ry * ry), axis=0) / np.sum(w, axis=0))
    floor = FRAME_SIGMA_FLOOR * radius
    for _ in range(FRAME_IRLS_ITERATIONS):
        mx, my = axis.reflect(bx, by)
        r = np.hypot(ax - mx, ay - my)
        sigma = np.maximum(1.4826 * np.median(r, axis=0), floor)
        z = np.minimum(r / (FRAME_TUKEY_C * sigma), 1.0)
        w = (1.0 - z * z) ** 2
        axis = _reflection_fit(ax, ay, bx, by, w)
    return axis


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
