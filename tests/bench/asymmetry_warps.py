"""Known, smooth, one-sided deformations of a real photo: the ground truth for asymmetry.

A landmark model trained on many faces pulls one-sided features back toward an average,
symmetric face. To measure how much of a real asymmetry an analysis reports, we make one:
a photo of a real face is deformed by a smooth local displacement field centred on a
landmark found on the *unwarped* photo (a mouth corner dropped, a brow lifted, the chin or
the nasal tip moved sideways, an upper lid lowered), and the analysis of the warped photo
is compared with the analysis of the original.

The field
    D(x) = d · g(x − c), a sum of "split Gaussian" bumps: g is a Gaussian along the face's
    horizontal u and vertical v (:func:`face_axes`), with a different sigma on each side of
    the centre (C¹ at the centre), so that e.g. a lowered upper lid can fall off quickly
    toward the lower lid and slowly toward the brow. The forward map is φ(x) = x + D(x);
    it is a diffeomorphism when sup‖∇D‖ < 1 (then φ is a contraction perturbation of the
    identity, invertible by the fixed-point iteration x ← y − D(x)). Every warp checks
    this numerically (:attr:`Warp.max_gradient`, refused above :data:`MAX_GRADIENT`).

The image
    J(y) = I(φ⁻¹(y)), computed with ``cv2.remap`` from the inverse map (fixed-point
    iteration on the bump's support only; identity elsewhere).

What was injected
    A point p of the original moves to φ(p) (:meth:`Warp.forward`). The injected change of
    a measurement is therefore f(φ(L)) − f(L) for the landmarks L of the original, which
    accounts for the field's tails moving nearby landmarks too.

Sizes scale with the face: sigmas are fractions of the interpupillary distance (IPD, eye
centre to eye centre), and magnitudes are given in millimetres at an assumed 63 mm IPD
(:func:`magnitude_px`), so a small and a large photo of the same face get the same warp.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Points = Mapping[str, tuple[float, float]]

ASSUMED_IPD_MM: Final = 63.0
#: sup‖∇D‖ above which a warp is refused (1 would already fold the image).
MAX_GRADIENT: Final = 0.8

#: Warp kinds, the side they act on (subject's right, "r") and the measurement id (or the
#: bench's derived id) that should see them.
KINDS: Final[tuple[str, ...]] = (
    "mouth_corner_drop",
    "brow_lift",
    "chin_shift",
    "nasal_tip_shift",
    "upper_lid_ptosis",
)
MEASUREMENT: Final[dict[str, str]] = {
    "mouth_corner_drop": "oral_commissure_height_difference",
    "brow_lift": "brow_height_difference",
    "chin_shift": "chin_deviation",
    "nasal_tip_shift": "nasal_tip_deviation",
    "upper_lid_ptosis": "palpebral_fissure_height_difference",
}
#: Magnitudes in mm at a 63 mm IPD. A lowered lid is limited by the fissure height
#: (≈ 9 mm): the lid's field must fall to ≈ 0 at the lower lid without folding.
LEVELS_MM: Final[dict[str, tuple[float, ...]]] = {
    "mouth_corner_drop": (1.0, 2.0, 4.0, 6.0),
    "brow_lift": (1.0, 2.0, 4.0, 6.0),
    "chin_shift": (1.0, 2.0, 4.0, 6.0),
    "nasal_tip_shift": (1.0, 2.0, 4.0, 6.0),
    "upper_lid_ptosis": (0.5, 1.0, 2.0, 3.0),
}

_RIGHT_EYE = tuple(f"ibug_{i:02d}" for i in range(36, 42))
_LEFT_EYE = tuple(f"ibug_{i:02d}" for i in range(42, 48))


@dataclass(frozen=True)
class FaceAxes:
    """Face horizontal ``u`` (toward the subject's left), vertical ``v`` (down), IPD in px."""

    u: FloatArray
    v: FloatArray
    ipd_px: float


def face_axes(points: Points) -> FaceAxes:
    """The warps' own axes: u from eye centre to eye centre. Not necessarily the
    measurements' frame (:mod:`analysis.geometry`, pupils first): what a warp injected is
    measured with the catalogue itself (:meth:`Warp.forward`)."""
    r = np.mean([points[k] for k in _RIGHT_EYE], axis=0)
    left = np.mean([points[k] for k in _LEFT_EYE], axis=0)
    d = left - r
    ipd = float(np.hypot(*d))
    if ipd < 1e-6:
        raise ValueError("eye centres coincide")
    u = d / ipd
    return FaceAxes(u=u, v=np.array([-u[1], u[0]]), ipd_px=ipd)


def magnitude_px(level_mm: float, ipd_px: float, ipd_mm: float = ASSUMED_IPD_MM) -> float:
    """A displacement given in mm at an assumed IPD, in pixels of this photo."""
    return level_mm * ipd_px / ipd_mm


@dataclass(frozen=True)
class Bump:
    """One split-Gaussian displacement: ``d`` at ``centre``, falling off along u and v.

    ``sigma`` is (u−, u+, v−, v+) in pixels: the fall-off toward −u, +u, −v (up), +v (down).
    ``curve`` (c1, c2) bends the bump's horizontal ridge into the parabola
    v = c1·u + c2·u² through the centre (u, v relative to it), and ``flat`` (px) widens the
    ridge into a plateau that far above and below it, so that e.g. a whole curved brow
    moves by the same amount (the fall-off starts with zero slope: the field stays C¹).
    """

    centre: FloatArray
    d: FloatArray
    u: FloatArray
    v: FloatArray
    sigma: tuple[float, float, float, float]
    curve: tuple[float, float] = (0.0, 0.0)
    flat: float = 0.0

    def weight(self, xy: FloatArray) -> FloatArray:
        r = xy - self.centre
        a, b = r @ self.u, r @ self.v
        b = b - (self.curve[0] * a + self.curve[1] * a * a)
        b = np.sign(b) * np.maximum(np.abs(b) - self.flat, 0.0)
        su = np.where(a < 0, self.sigma[0], self.sigma[1])
        sv = np.where(b < 0, self.sigma[2], self.sigma[3])
        return np.asarray(np.exp(-0.5 * ((a / su) ** 2 + (b / sv) ** 2)), dtype=np.float64)

    def radius(self) -> float:
        """Beyond this distance the bump moves nothing visible (< 0.001 of d)."""
        r = 3.8 * max(self.sigma) + self.flat
        return r + abs(self.curve[0]) * r + abs(self.curve[1]) * r * r


@dataclass(frozen=True)
class Warp:
    """A smooth deformation made of bumps; see the module docstring."""

    kind: str
    level_mm: float
    magnitude_px: float
    bumps: tuple[Bump, ...]

    def displacement(self, xy: FloatArray) -> FloatArray:
        """D at the points ``xy`` (…, 2)."""
        xy = np.asarray(xy, dtype=np.float64)
        out = np.zeros_like(xy)
        for b in self.bumps:
            out += b.weight(xy)[..., None] * b.d
        return out

    def forward(self, points: Points) -> dict[str, tuple[float, float]]:
        """Where each point of the original lies in the warped photo: φ(p) = p + D(p)."""
        keys = list(points)
        if not keys:
            return {}
        xy = np.array([points[k] for k in keys], dtype=np.float64)
        moved = xy + self.displacement(xy)
        return {k: (float(x), float(y)) for k, (x, y) in zip(keys, moved, strict=True)}

    @property
    def max_gradient(self) -> float:
        """sup over the support of the spectral norm of ∇D (numerical, 0.25 px grid)."""
        worst = 0.0
        for b in self.bumps:
            r = b.radius() * 0.6
            n = int(min(max(2 * r / 0.25, 64), 400))
            s = np.linspace(-r, r, n)
            aa, bb = np.meshgrid(s, s)
            xy = b.centre + aa[..., None] * b.u + bb[..., None] * b.v
            h = 1e-3 * max(min(b.sigma), 1.0)
            jx = (self.displacement(xy + [h, 0]) - self.displacement(xy - [h, 0])) / (2 * h)
            jy = (self.displacement(xy + [0, h]) - self.displacement(xy - [0, h])) / (2 * h)
            jac = np.stack([jx, jy], axis=-1)  # (..., 2 components, 2 derivatives)
            worst = max(worst, float(np.linalg.norm(jac, ord=2, axis=(-2, -1)).max()))
        return worst

    def support(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Pixel box (x0, y0, x1, y1) outside which the warp is the identity."""
        x0, y0, x1, y1 = width, height, 0, 0
        for b in self.bumps:
            r = b.radius() + float(np.hypot(*b.d))
            x0 = min(x0, int(np.floor(b.centre[0] - r)))
            y0 = min(y0, int(np.floor(b.centre[1] - r)))
            x1 = max(x1, int(np.ceil(b.centre[0] + r)) + 1)
            y1 = max(y1, int(np.ceil(b.centre[1] + r)) + 1)
        return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)

    def inverse_map(self, width: int, height: int, iterations: int = 30) -> FloatArray:
        """φ⁻¹ on the pixel grid, (height, width, 2) as ``cv2.remap`` wants it."""
        gx, gy = np.meshgrid(
            np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64)
        )
        grid = np.stack([gx, gy], axis=-1)
        x0, y0, x1, y1 = self.support(width, height)
        if x1 > x0 and y1 > y0:
            y = grid[y0:y1, x0:x1]
            x = y.copy()
            for _ in range(iterations):
                x = y - self.displacement(x)
            grid[y0:y1, x0:x1] = x
        return grid

    def apply(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """The warped photo J(y) = I(φ⁻¹(y)), bicubic, borders replicated."""
        h, w = image.shape[:2]
        inv = self.inverse_map(w, h).astype(np.float32)
        out = cv2.remap(
            image, inv[..., 0], inv[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
        )
        return np.ascontiguousarray(out)


def _mean(points: Points, keys: tuple[str, ...]) -> FloatArray:
    return np.mean([points[k] for k in keys], axis=0)  # type: ignore[no-any-return]


def _bump(
    centre: FloatArray, d: FloatArray, ax: FaceAxes, sigma_ipd: tuple[float, float, float, float]
) -> Bump:
    sig = tuple(float(s * ax.ipd_px) for s in sigma_ipd)
    return Bump(centre=centre, d=d, u=ax.u, v=ax.v, sigma=(sig[0], sig[1], sig[2], sig[3]))


def make_warp(kind: str, points: Points, level_mm: float, side: str = "r") -> Warp:
    """The warp ``kind`` at ``level_mm`` (mm at a 63 mm IPD) for a face with these points.

    ``points`` are semantic landmarks (iBUG-68 keys) of the unwarped photo — use one
    reference set (the bench uses MediaPipe's) so that every backend is tested on the same
    warped photo; brow points are taken as the brow's centre line. ``side`` is the
    subject's side that is changed ("r" or "l"); midline shifts go toward the subject's
    left for "r" and toward the right for "l". Sigmas (fractions of the IPD):

    * mouth_corner_drop: the commissure (ibug 48 / 54) down, isotropic 0.22 (≈ 14 mm);
    * brow_lift: the brow up; the bump's ridge follows the parabola fitted to the brow's 5
      points, flat 0.05 IPD above and below it (the brow's thickness), then 0.3 upward and
      0.1 downward, 0.45 along u: the brow moves as a whole, the eye centre below ≈ 0.1 as
      much;
    * chin_shift: menton (ibug 08) sideways, 0.8 along u and 0.4 along v (the chin and the
      mandible's front move together; the mouth corners ≈ 0.2 of it);
    * nasal_tip_shift: the nasal tip (ibug 30) sideways, 0.35 along u and 0.22 along v:
      the lobule, columella and nostrils move nearly as one, the alae ≈ 0.75 as much, the
      canthi ≈ 0.03;
    * upper_lid_ptosis: the upper-lid margin (mean of ibug 37, 38 / 43, 44) down; along u
      0.35 × the fissure width, upward 0.25 IPD, downward 0.6 × the fissure height so
      that the lower lid moves ≈ 0.25 as much.
    """
    if side not in ("r", "l"):
        raise ValueError(f"side must be 'r' or 'l', got {side!r}")
    ax = face_axes(points)
    m = magnitude_px(level_mm, ax.ipd_px)
    right = side == "r"
    p = {k: np.asarray(v, dtype=np.float64) for k, v in points.items()}
    if kind == "mouth_corner_drop":
        c = p["ibug_48" if right else "ibug_54"]
        bumps = (_bump(c, m * ax.v, ax, (0.22, 0.22, 0.22, 0.22)),)
    elif kind == "brow_lift":
        brow = tuple(f"ibug_{i:02d}" for i in (range(17, 22) if right else range(22, 27)))
        mean = _mean(points, brow)
        rel = np.array([points[k] for k in brow]) - mean
        a, b = rel @ ax.u, rel @ ax.v
        c2, c1, c0 = np.polyfit(a, b, 2)
        c = mean + c0 * ax.v
        b = _bump(c, -m * ax.v, ax, (0.45, 0.45, 0.3, 0.1))
        curve = (float(c1), float(c2))
        bumps = (Bump(b.centre, b.d, b.u, b.v, b.sigma, curve, 0.05 * ax.ipd_px),)
    elif kind == "chin_shift":
        sign = 1.0 if right else -1.0
        bumps = (_bump(p["ibug_08"], sign * m * ax.u, ax, (0.8, 0.8, 0.4, 0.4)),)
    elif kind == "nasal_tip_shift":
        sign = 1.0 if right else -1.0
        bumps = (_bump(p["ibug_30"], sign * m * ax.u, ax, (0.35, 0.35, 0.22, 0.22)),)
    elif kind == "upper_lid_ptosis":
        ids = (36, 37, 38, 39, 40, 41) if right else (45, 44, 43, 42, 47, 46)
        ex, up1, up2, en, lo1, lo2 = (p[f"ibug_{i:02d}"] for i in ids)
        width = float(np.hypot(*(ex - en)))
        upper, lower = (up1 + up2) / 2, (lo1 + lo2) / 2
        height = float(abs(np.dot(lower - upper, ax.v)))
        su = 0.35 * width / ax.ipd_px
        sd = 0.6 * height / ax.ipd_px
        bumps = (_bump(upper, m * ax.v, ax, (su, su, 0.25, sd)),)
    else:
        raise ValueError(f"unknown warp kind {kind!r}; choose one of {', '.join(KINDS)}")
    warp = Warp(kind=kind, level_mm=level_mm, magnitude_px=m, bumps=bumps)
    g = warp.max_gradient
    if g >= MAX_GRADIENT:
        raise ValueError(
            f"{kind} at {level_mm} mm ({m:.1f} px) is not a safe diffeomorphism: "
            f"sup|grad D| = {g:.2f} >= {MAX_GRADIENT}"
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
