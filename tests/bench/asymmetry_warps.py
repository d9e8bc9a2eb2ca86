"""Known, smooth, one-sided deformations of a real photo: the ground truth for asymmetry.

A landmark model trained on many faces pulls one-sided features back toward an average,
symmetric face. To measure how much of a real asymmetry an analysis reports, we make one:
a photo of a real face is deformed by a smooth displacement field built on the landmarks of
the *unwarped* photo, and the analysis of the warped photo is compared with the analysis of
the original.

The warps, each on either side and in either direction (:data:`VARIANTS`)
    * mouth_corner_drop — one commissure down (or up): a Gaussian bump, 0.22 IPD wide;
    * brow_lift — one brow up (or down) **without moving the eye**: the whole brow (a band
      around the parabola through its five points) and the forehead above it move; below
      the brow the skin takes up the motion and the field is exactly zero from just above
      the upper-lid margin down, so the lid, the canthi and the pupil stay where they were;
    * chin_shift, nasal_tip_shift — the menton / the nasal tip moved **laterally** (along
      the face's horizontal only), away from the side named (as a weakness of that side
      lets the other pull the midline over): side "r" moves it toward the subject's left;
    * upper_lid_ptosis — one upper-lid margin lowered (or raised) **over a fixed pupil and
      lower lid**: the margin and the lid above it move; below the margin the iris band the
      lid now covers is compressed, and the field is exactly zero from the pupil centre
      down and at both canthi. A smooth invertible warp cannot hide the covered band; it
      squeezes it into a thin sliver under the margin, which is what a ptosis looks like.

The field
    Every warp moves points along one unit direction e only: D(x) = s(x) · e. Its Jacobian
    determinant is then 1 + ∂s/∂e, and φ(x) = x + D(x) is a diffeomorphism exactly when that
    stays positive (each line along e is mapped monotonically onto itself). Every warp checks
    it numerically (:attr:`Warp.min_jacobian`) and is refused below :data:`MIN_JACOBIAN`.
    Profiles are C¹: Gaussians, and ramps with quadratic ends (:func:`ramp`).

The image
    J(y) = I(φ⁻¹(y)), computed with ``cv2.remap`` from the inverse map: on each line along e,
    φ⁻¹(y) = y + t·e with t + s(y + t·e) = 0, a monotone equation solved by bisection on the
    warp's support box only (identity elsewhere).

What was injected
    A point p of the original moves to φ(p) (:meth:`Warp.forward`). The injected change of
    a measurement is f(φ(L)) − f(L) for the landmarks L of the original. For the ptosis it
    is taken over the upper-lid margin points only (:attr:`Warp.targets`): the canthi, the
    lower lid and the pupil are fixed by construction.

Sizes scale with the face: widths are fractions of the interpupillary distance (IPD, eye
centre to eye centre), and magnitudes are given in millimetres at an assumed 63 mm IPD
(:func:`magnitude_px`), so a small and a large photo of the same face get the same warp.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Final, Protocol

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Points = Mapping[str, tuple[float, float]]

ASSUMED_IPD_MM: Final = 63.0
#: det ∇φ below which a warp is refused. Low on purpose: a ptosis squeezes the iris band
#: the lid now covers (0.1 = that band shown at a tenth of its height); ≤ 0 would fold.
MIN_JACOBIAN: Final = 0.1

KINDS: Final[tuple[str, ...]] = (
    "mouth_corner_drop",
    "brow_lift",
    "chin_shift",
    "nasal_tip_shift",
    "upper_lid_ptosis",
)
#: The measurement id (or the bench's derived id) that should see each warp.
MEASUREMENT: Final[dict[str, str]] = {
    "mouth_corner_drop": "oral_commissure_height_difference",
    "brow_lift": "brow_height_difference",
    "chin_shift": "chin_deviation",
    "nasal_tip_shift": "nasal_tip_deviation",
    "upper_lid_ptosis": "palpebral_fissure_height_difference",
}
#: Warps of one side's feature; the others move a midline feature toward a side.
BILATERAL: Final = frozenset({"mouth_corner_drop", "brow_lift", "upper_lid_ptosis"})
#: (side, direction) of each kind's variants. Bilateral: the subject's side warped, +1 as
#: the name says (drop, lift, lower), −1 the other way. Midline: the side moved away from.
VARIANTS: Final[dict[str, tuple[tuple[str, int], ...]]] = {
    k: (("r", 1), ("r", -1), ("l", 1), ("l", -1)) if k in BILATERAL else (("r", 1), ("l", 1))
    for k in KINDS
}
#: What each direction does, for the tables: (direction +1, direction −1).
MOTION: Final[dict[str, tuple[str, str]]] = {
    "mouth_corner_drop": ("drop", "lift"),
    "brow_lift": ("lift", "drop"),
    "chin_shift": ("shift", "shift"),
    "nasal_tip_shift": ("shift", "shift"),
    "upper_lid_ptosis": ("lower", "raise"),
}
#: Magnitudes in mm at a 63 mm IPD. The lid's is limited by the pupil: the margin sits
#: 1–4 mm above it on real photos, and the band between must not fold (:data:`MIN_JACOBIAN`).
LEVELS_MM: Final[dict[str, tuple[float, ...]]] = {
    "mouth_corner_drop": (1.5, 3.0),
    "brow_lift": (1.5, 3.0),
    "chin_shift": (1.5, 3.0),
    "nasal_tip_shift": (1.5, 3.0),
    "upper_lid_ptosis": (1.0, 2.0),
}

RIGHT_EYE: Final = tuple(f"ibug_{i:02d}" for i in range(36, 42))
LEFT_EYE: Final = tuple(f"ibug_{i:02d}" for i in range(42, 48))
#: (exocanthion, upper margin ×2, endocanthion, lower margin ×2) per side.
_EYE_IDS: Final = {"r": (36, 37, 38, 39, 40, 41), "l": (45, 44, 43, 42, 47, 46)}
#: The points a ptosis is meant to move: the upper-lid margin.
UPPER_LID: Final = {"r": ("ibug_37", "ibug_38"), "l": ("ibug_43", "ibug_44")}


@dataclass(frozen=True)
class FaceAxes:
    """Face horizontal ``u`` (toward the subject's left), vertical ``v`` (down), IPD in px."""

    u: FloatArray
    v: FloatArray
    ipd_px: float


def face_axes(points: Points) -> FaceAxes:
    """The warps' own axes: u from eye centre to eye centre. Not necessarily the
    measurements' frame: what a warp injected is measured with the catalogue itself
    (:meth:`Warp.forward`)."""
    r = np.mean([points[k] for k in RIGHT_EYE], axis=0)
    left = np.mean([points[k] for k in LEFT_EYE], axis=0)
    d = left - r
    ipd = float(np.hypot(*d))
    if ipd < 1e-6:
        raise ValueError("eye centres coincide")
    u = d / ipd
    return FaceAxes(u=u, v=np.array([-u[1], u[0]]), ipd_px=ipd)


def magnitude_px(level_mm: float, ipd_px: float, ipd_mm: float = ASSUMED_IPD_MM) -> float:
    """A displacement given in mm at an assumed IPD, in pixels of this photo."""
    return level_mm * ipd_px / ipd_mm


#: Share of a ramp spent speeding up and slowing down (C¹ ends); its steepest slope is
#: 1 / (1 − RAMP_ENDS) per unit length, the least a C¹ ramp of this shape can have.
RAMP_ENDS: Final = 0.25


def ramp(x: FloatArray) -> FloatArray:
    """0 → 1 over x ∈ [0, 1], C¹: quadratic, linear, quadratic (flat outside)."""
    r = RAMP_ENDS
    vmax = 1.0 / (1.0 - r)
    x = np.clip(x, 0.0, 1.0)
    head = vmax * x * x / (2 * r)
    mid = vmax * (x - r / 2)
    tail = 1.0 - vmax * (1.0 - x) ** 2 / (2 * r)
    return np.where(x < r, head, np.where(x > 1 - r, tail, mid))


class Field(Protocol):
    """A scalar displacement (px along the warp's direction) with a bounded support."""

    def __call__(self, xy: FloatArray) -> FloatArray: ...

    def box(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) in image px outside which the field is ≈ 0 (< 0.001 of it)."""
        ...


def _corners_box(
    centre: FloatArray, u: FloatArray, v: FloatArray, a: tuple[float, float],
    b: tuple[float, float], pad: float,
) -> tuple[float, float, float, float]:  # fmt: skip
    pts = np.array([centre + ai * u + bi * v for ai in a for bi in b])
    (x0, y0), (x1, y1) = pts.min(axis=0) - pad, pts.max(axis=0) + pad
    return float(x0), float(y0), float(x1), float(y1)


@dataclass(frozen=True)
class GaussianField:
    """m · exp(−½((a/σa)² + (b/σb)²)) in the face axes (a, b) about ``centre``; ``sigma`` is
    (σ toward −u, σ toward +u, σ up, σ down) in px (split Gaussian, C¹ at the centre)."""

    centre: FloatArray
    u: FloatArray
    v: FloatArray
    m: float
    sigma: tuple[float, float, float, float]

    def __call__(self, xy: FloatArray) -> FloatArray:
        r = np.asarray(xy, dtype=np.float64) - self.centre
        a, b = r @ self.u, r @ self.v
        sa = np.where(a < 0, self.sigma[0], self.sigma[1])
        sb = np.where(b < 0, self.sigma[2], self.sigma[3])
        return np.asarray(self.m * np.exp(-0.5 * ((a / sa) ** 2 + (b / sb) ** 2)))

    def box(self) -> tuple[float, float, float, float]:
        s = self.sigma
        k = 3.8  # exp(−½·3.8²) < 0.001
        return _corners_box(self.centre, self.u, self.v, (-k * s[0], k * s[1]),
                            (-k * s[2], k * s[3]), abs(self.m) + 2)  # fmt: skip


@dataclass(frozen=True)
class BandField:
    """A curved band that moves as a whole, e.g. a brow or an upper-lid margin.

    In the face axes (a, b) about ``centre``, the band's ridge is b = r(a) = c1·a + c2·a²
    (``ridge``). Across it (t = b − r(a)) the profile is 1 from −``up_flat`` to
    ``down_flat``, a Gaussian of ``up_sigma`` above, and below a :func:`ramp` down to 0 at
    the ``end`` curve b = e0 + e1·a' + e2·a'² (a' = a clamped to ``end_range``): beyond it
    nothing moves. Along the band, a window is 1 on ``plateau`` (a0, a1) and ramps to 0
    over ``widths`` (toward −u, toward +u). The field is m · window · profile.
    """

    centre: FloatArray
    u: FloatArray
    v: FloatArray
    m: float
    ridge: tuple[float, float]
    ridge_range: tuple[float, float]
    up_flat: float
    up_sigma: float
    down_flat: float
    end: tuple[float, float, float]
    end_range: tuple[float, float]
    plateau: tuple[float, float]
    widths: tuple[float, float]

    def _ridge(self, a: FloatArray) -> FloatArray:
        a = np.clip(a, *self.ridge_range)
        return np.asarray(self.ridge[0] * a + self.ridge[1] * a * a)

    def _end(self, a: FloatArray) -> FloatArray:
        a = np.clip(a, *self.end_range)
        e0, e1, e2 = self.end
        return np.asarray(e0 + e1 * a + e2 * a * a)

    def window(self, a: FloatArray) -> FloatArray:
        (a0, a1), (w0, w1) = self.plateau, self.widths
        left = ramp((a - (a0 - w0)) / max(w0, 1e-9))
        right = 1.0 - ramp((a - a1) / max(w1, 1e-9))
        return np.asarray(np.minimum(left, right))

    def profile(self, a: FloatArray, b: FloatArray) -> FloatArray:
        ridge = self._ridge(a)
        t = b - ridge
        above = np.exp(-0.5 * (np.minimum(t + self.up_flat, 0.0) / self.up_sigma) ** 2)
        length = np.maximum(self._end(a) - ridge - self.down_flat, 1.0)
        below = 1.0 - ramp((t - self.down_flat) / length)
        return np.asarray(np.where(t <= self.down_flat, above, below))

    def __call__(self, xy: FloatArray) -> FloatArray:
        r = np.asarray(xy, dtype=np.float64) - self.centre
        a, b = r @ self.u, r @ self.v
        return np.asarray(self.m * self.window(a) * self.profile(a, b))

    def box(self) -> tuple[float, float, float, float]:
        (a0, a1), (w0, w1) = self.plateau, self.widths
        a = np.linspace(a0 - w0, a1 + w1, 64)
        top = float((self._ridge(a) - self.up_flat).min() - 3.8 * self.up_sigma)
        bottom = float(self._end(a).max())
        return _corners_box(self.centre, self.u, self.v, (a0 - w0, a1 + w1), (top, bottom),
                            abs(self.m) + 2)  # fmt: skip


@dataclass(frozen=True)
class Warp:
    """φ(x) = x + s(x)·e: ``field`` s (px) along the unit ``direction`` e; see the module
    docstring. ``targets``: the landmarks whose motion is the injected change (None: all)."""

    kind: str
    side: str
    direction: int
    level_mm: float
    magnitude_px: float
    field: Field
    e: FloatArray
    targets: tuple[str, ...] | None = None

    def displacement(self, xy: FloatArray) -> FloatArray:
        """D at the points ``xy`` (…, 2)."""
        xy = np.asarray(xy, dtype=np.float64)
        return np.asarray(self.field(xy)[..., None] * self.e)

    def forward(self, points: Points) -> dict[str, tuple[float, float]]:
        """Where each point of the original lies in the warped photo: φ(p) = p + D(p)."""
        keys = list(points)
        if not keys:
            return {}
        xy = np.array([points[k] for k in keys], dtype=np.float64)
        moved = xy + self.displacement(xy)
        return {k: (float(x), float(y)) for k, (x, y) in zip(keys, moved, strict=True)}

    def injected(self, points: Points) -> dict[str, tuple[float, float]]:
        """The landmarks as the warp is meant to change them: every point moved by φ, or
        only :attr:`targets` (the rest left where they were)."""
        moved = self.forward(points)
        if self.targets is None:
            return moved
        return {k: moved[k] if k in self.targets else points[k] for k in points}

    def _grid(self, step: float = 1.0, cap: int = 400) -> FloatArray:
        x0, y0, x1, y1 = self.field.box()
        nx = int(min(max((x1 - x0) / step, 16), cap))
        ny = int(min(max((y1 - y0) / step, 16), cap))
        gx, gy = np.meshgrid(np.linspace(x0, x1, nx), np.linspace(y0, y1, ny))
        return np.stack([gx, gy], axis=-1)

    @cached_property
    def _slopes(self) -> tuple[float, float]:
        """(min, max) over the support of ∂s/∂e (numerical, ≤ 1 px grid)."""
        xy = self._grid()
        h = 0.05
        ds = (self.field(xy + h * self.e) - self.field(xy - h * self.e)) / (2 * h)
        return float(ds.min()), float(ds.max())

    @property
    def min_jacobian(self) -> float:
        """min over the support of det ∇φ = 1 + ∂s/∂e."""
        return 1.0 + self._slopes[0]

    def support(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Pixel box (x0, y0, x1, y1) outside which the warp is the identity."""
        x0, y0, x1, y1 = self.field.box()
        return (max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0),
                min(int(np.ceil(x1)) + 1, width), min(int(np.ceil(y1)) + 1, height))  # fmt: skip

    def inverse_map(self, width: int, height: int, tol_px: float = 1e-3) -> FloatArray:
        """φ⁻¹ on the pixel grid, (height, width, 2) as ``cv2.remap`` wants it."""
        gx, gy = np.meshgrid(
            np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
        )
        grid = np.stack([gx, gy], axis=-1)
        x0, y0, x1, y1 = self.support(width, height)
        if x1 > x0 and y1 > y0:
            grid[y0:y1, x0:x1] = self._inverse(grid[y0:y1, x0:x1], tol_px)
        return grid

    def _inverse(self, y: FloatArray, tol_px: float) -> FloatArray:
        bound = abs(self.magnitude_px) + 1.0
        k = max(abs(v) for v in self._slopes)
        if k < 0.5:  # a contraction: x ← y − D(x) gains a factor k per step
            x = y.copy()
            for _ in range(int(np.ceil(np.log(tol_px / bound) / np.log(max(k, 1e-6))))):
                x = y - self.displacement(x)
            return x
        # else t + s(y + t·e) = 0 is increasing in t (det > 0) and |t| ≤ |m|: bisection
        lo, hi = np.full(y.shape[:-1], -bound), np.full(y.shape[:-1], bound)
        for _ in range(int(np.ceil(np.log2(2 * bound / tol_px)))):
            mid = (lo + hi) / 2
            below = mid + self.field(y + mid[..., None] * self.e) < 0
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        return np.asarray(y + ((lo + hi) / 2)[..., None] * self.e)

    def apply(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """The warped photo J(y) = I(φ⁻¹(y)), bicubic, borders replicated; pixels outside
        the support are copied unchanged."""
        h, w = image.shape[:2]
        out = image.copy()
        x0, y0, x1, y1 = self.support(w, h)
        if x1 <= x0 or y1 <= y0:
            return out
        gx, gy = np.meshgrid(
            np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64)
        )
        inv = self._inverse(np.stack([gx, gy], axis=-1), 1e-3).astype(np.float32)
        out[y0:y1, x0:x1] = cv2.remap(
            image, inv[..., 0], inv[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
        )
        return np.ascontiguousarray(out)


def _rel(p: FloatArray, centre: FloatArray, ax: FaceAxes) -> tuple[float, float]:
    r = p - centre
    return float(r @ ax.u), float(r @ ax.v)


def _parabola(pts: list[FloatArray], centre: FloatArray, ax: FaceAxes) -> FloatArray:
    """(c2, c1, c0) of b = c2·a² + c1·a + c0 through ``pts`` (least squares), about centre."""
    ab = np.array([_rel(p, centre, ax) for p in pts])
    return np.polyfit(ab[:, 0], ab[:, 1], 2)  # type: ignore[no-any-return]


def _pupil(p: dict[str, FloatArray], side: str) -> FloatArray:
    key = f"pupil_{side}"
    if key in p:
        return p[key]
    return np.mean([p[k] for k in (RIGHT_EYE if side == "r" else LEFT_EYE)], axis=0)  # type: ignore[no-any-return]


def _brow_field(p: dict[str, FloatArray], ax: FaceAxes, m: float, side: str) -> BandField:
    ipd = ax.ipd_px
    ids = range(17, 22) if side == "r" else range(22, 27)
    brow = [p[f"ibug_{i:02d}"] for i in ids]
    mean = np.mean(brow, axis=0)
    c2, c1, c0 = _parabola(brow, mean, ax)
    centre = mean + c0 * ax.v
    a = [_rel(q, centre, ax)[0] for q in brow]
    # the brow's medial end and the midline between the two brows' medial ends
    medial = _rel(p["ibug_21" if side == "r" else "ibug_22"], centre, ax)[0]
    other = _rel(p["ibug_22" if side == "r" else "ibug_21"], centre, ax)[0]
    to_mid = max(abs(other - medial) / 2, 0.03 * ipd)
    lateral = 0.12 * ipd
    widths = (lateral, to_mid) if side == "r" else (to_mid, lateral)
    # the field ends just above this eye's upper-lid margin (parabola through its canthi
    # and margin points), held flat beyond the canthi
    ex, up1, up2, en = (p[f"ibug_{i:02d}"] for i in _EYE_IDS[side][:4])
    e2, e1, e0 = _parabola([ex, up1, up2, en], centre, ax)
    ea = sorted((_rel(ex, centre, ax)[0], _rel(en, centre, ax)[0]))
    return BandField(
        centre=centre, u=ax.u, v=ax.v, m=m, ridge=(float(c1), float(c2)),
        ridge_range=(min(a), max(a)), up_flat=0.06 * ipd, up_sigma=0.3 * ipd,
        down_flat=0.04 * ipd, end=(float(e0 - 0.02 * ipd), float(e1), float(e2)),
        end_range=(ea[0], ea[1]),
        plateau=(min(a), max(a)), widths=widths,
    )  # fmt: skip


def _lid_field(p: dict[str, FloatArray], ax: FaceAxes, m: float, side: str) -> BandField:
    ipd = ax.ipd_px
    ex, up1, up2, en = (p[f"ibug_{i:02d}"] for i in _EYE_IDS[side][:4])
    mean = (up1 + up2) / 2
    c2, c1, c0 = _parabola([ex, up1, up2, en], mean, ax)
    centre = mean + c0 * ax.v
    ridge = (float(c1), float(c2))

    def t(q: FloatArray) -> tuple[float, float]:
        a, b = _rel(q, centre, ax)
        return a, b - (ridge[0] * a + ridge[1] * a * a)

    (a1, t1), (a2, t2) = t(up1), t(up2)
    down_flat = max(t1, t2, 0.0) + 0.003 * ipd  # both margin points on the plateau
    _, tp = t(_pupil(p, side))  # the pupil centre: where the field has fallen to 0
    plateau = (min(a1, a2), max(a1, a2))
    pad = 0.05 * abs(a2 - a1)
    plateau = (plateau[0] - pad, plateau[1] + pad)
    ac = sorted((t(ex)[0], t(en)[0]))  # the canthi: where the window has fallen to 0
    return BandField(
        centre=centre, u=ax.u, v=ax.v, m=m, ridge=ridge, ridge_range=(ac[0], ac[1]),
        up_flat=0.03 * ipd, up_sigma=0.06 * ipd, down_flat=down_flat,
        end=(tp, ridge[0], ridge[1]), end_range=(-np.inf, np.inf),
        plateau=plateau, widths=(plateau[0] - ac[0], ac[1] - plateau[1]),
    )  # fmt: skip


def make_warp(
    kind: str, points: Points, level_mm: float, side: str = "r", direction: int = 1
) -> Warp:
    """The warp ``kind`` at ``level_mm`` (mm at a 63 mm IPD) for a face with these points.

    ``points`` are semantic landmarks (iBUG-68 keys, ``pupil_r/l`` if known) of the unwarped
    photo; use one reference set so that every configuration sees the same warped photo.
    ``side`` is the subject's side warped ("r", "l"); chin and nasal tip move away from
    it, toward the other side; ``direction`` −1 reverses a bilateral warp (a corner lifted, a brow
    dropped, a lid raised). Raises ValueError for a warp that would (nearly) fold.
    """
    if side not in ("r", "l") or direction not in (1, -1):
        raise ValueError(f"side must be 'r' or 'l' and direction ±1, got {side!r}, {direction!r}")
    ax = face_axes(points)
    m = magnitude_px(level_mm, ax.ipd_px)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in points.items()}
    right = side == "r"
    targets: tuple[str, ...] | None = None
    field: Field
    if kind == "mouth_corner_drop":
        s = 0.22 * ax.ipd_px
        field = GaussianField(p["ibug_48" if right else "ibug_54"], ax.u, ax.v, m, (s,) * 4)
        e = direction * ax.v
    elif kind == "brow_lift":
        field, e = _brow_field(p, ax, m, side), -direction * ax.v
    elif kind in ("chin_shift", "nasal_tip_shift"):
        chin = kind == "chin_shift"
        sa, sb = (0.8, 0.4) if chin else (0.35, 0.22)
        sig = (sa * ax.ipd_px,) * 2 + (sb * ax.ipd_px,) * 2
        field = GaussianField(p["ibug_08" if chin else "ibug_30"], ax.u, ax.v, m, sig)
        e = (1.0 if right else -1.0) * direction * ax.u  # u: toward the subject's left
    elif kind == "upper_lid_ptosis":
        field, e = _lid_field(p, ax, m, side), direction * ax.v
        targets = UPPER_LID[side]
    else:
        raise ValueError(f"unknown warp kind {kind!r}; choose one of {', '.join(KINDS)}")
    warp = Warp(kind, side, direction, level_mm, m, field, np.asarray(e, np.float64), targets)
    det = warp.min_jacobian
    if det < MIN_JACOBIAN:
        raise ValueError(
            f"{kind} {side}{direction:+d} at {level_mm} mm ({m:.1f} px) would nearly fold "
            f"the photo: min det = {det:.2f} < {MIN_JACOBIAN}"
        )
    return warp


def shift_image(image: npt.NDArray[np.uint8], dx: float, dy: float) -> npt.NDArray[np.uint8]:
    """The photo translated by (dx, dy) pixels (sub-pixel, bicubic, borders replicated)."""
    h, w = image.shape[:2]
    m = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(out)


def jpeg_roundtrip(image: npt.NDArray[np.uint8], quality: int) -> npt.NDArray[np.uint8]:
    """The RGB photo encoded as JPEG at ``quality`` and decoded again."""
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def rescale_image(image: npt.NDArray[np.uint8], factor: float) -> npt.NDArray[np.uint8]:
    """The photo resized by ``factor`` (area interpolation down, bicubic up)."""
    h, w = image.shape[:2]
    size = (max(16, round(w * factor)), max(16, round(h * factor)))
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=interp))
