"""Tools for a sampled 2-D outline: smoothing, resampling, chords, pockets and tangents.

Nothing here knows about faces. An outline is an N×2 array of (x, y) samples, top to
bottom, with the subject on the −x side (the nose points to +x); "depth" is distance
behind a chord, toward the subject, and "prominence" distance in front of it. The point
search in :mod:`.anatomy` is built from these; :mod:`.silhouette` uses the smoothing,
resampling and normals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from analysis.types import FloatArray

# --- 1-D / 2-D sample helpers --------------------------------------------------------------


def smooth(values: FloatArray, sigma: float) -> FloatArray:
    """Gaussian smoothing along the first axis (σ in samples), ends extended."""
    if sigma <= 0 or len(values) < 3:
        return values
    r = max(1, math.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.concatenate([np.repeat(values[:1], r, axis=0), values, np.repeat(values[-1:], r, 0)])
    if values.ndim == 1:
        return np.convolve(pad, k, mode="valid")
    cols = [np.convolve(pad[:, j], k, mode="valid") for j in range(values.shape[1])]
    return np.column_stack(cols)


def normals(pts: FloatArray) -> FloatArray:
    """Unit normals toward +x's side (the backdrop) of a top → bottom outline."""
    t = np.gradient(pts, axis=0)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)
    return np.column_stack([t[:, 1], -t[:, 0]])


def resample_curve(pts: FloatArray, step: float, sigma: float = 1.0) -> FloatArray:
    """Equal arc-length resampling every ``step`` px, smoothed by ``sigma`` px of arc."""
    spacing = float(np.median(np.linalg.norm(np.diff(pts, axis=0), axis=1))) if len(pts) > 1 else 1
    pts = smooth(pts, sigma / max(spacing, 1e-6))
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] < 10 * step:
        return pts
    q = np.arange(0.0, s[-1], step)
    out = np.column_stack([np.interp(q, s, pts[:, 0]), np.interp(q, s, pts[:, 1])])
    return smooth(out, sigma / step)


def angle_deg(at: FloatArray, a: FloatArray, b: FloatArray) -> float:
    """Angle a–at–b in degrees (NaN when an arm has no length)."""
    va, vb = a - at, b - at
    den = float(np.hypot(*va) * np.hypot(*vb))
    if den < 1e-12:
        return float("nan")
    return math.degrees(math.acos(float(np.clip(va @ vb / den, -1.0, 1.0))))


# --- directions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """The face's frame in the nose-toward-+x image: unit anterior and down vectors."""

    anterior: FloatArray
    down: FloatArray

    @staticmethod
    def tilted(deg: float) -> Frame:
        a = math.radians(deg)
        return Frame(np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)]))


# --- bends -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A stretch of the outline that bends one way: sign +1 concave, −1 convex."""

    sign: int
    lo: int
    hi: int
    k: int  # the most bent sample
    value: float  # its bend (depth over nasal length), positive


def runs(conc: FloatArray, start: int, tau: float) -> list[Run]:
    """Alternating concave (+1) / convex (−1) stretches beyond ±tau from ``start`` on.

    Stretches of one sign separated only by near-straight samples are one stretch, so a
    broad concavity with a flat spot is not counted twice.
    """
    sign = np.where(conc > tau, 1, np.where(conc < -tau, -1, 0))
    sign[:start] = 0
    nz = np.flatnonzero(sign)
    out: list[Run] = []
    if len(nz) == 0:
        return out
    cuts = np.flatnonzero(np.diff(sign[nz]) != 0) + 1
    for group in np.split(nz, cuts):
        lo, hi = int(group[0]), int(group[-1])
        sg = int(sign[lo])
        seg = conc[lo : hi + 1] * sg
        k = lo + int(np.argmax(seg))
        out.append(Run(sg, lo, hi, k, float(conc[k]) * sg))
    return out


# --- the outline -----------------------------------------------------------------------------


class Curve:
    """An outline sampled at (near) equal arc-length steps, with chord and tangent queries.

    Indices are sample numbers; ranges ``i..j`` include both ends.
    """

    def __init__(self, points: FloatArray) -> None:
        self.p = points
        self.n = len(points)
        self.step = float(np.median(np.linalg.norm(np.diff(points, axis=0), axis=1)))

    def arc(self, length: float) -> int:
        """Number of samples spanning ``length`` px of arc."""
        return max(1, round(length / self.step))

    def depth(self, i: int, j: int) -> FloatArray:
        """Distance behind the chord i→j of the samples i..j (positive = inside the face)."""
        d = self.p[j] - self.p[i]
        norm = float(np.hypot(*d))
        if norm < 1e-9:
            return np.zeros(j - i + 1)
        out = np.array([d[1], -d[0]]) / norm
        return -((self.p[i : j + 1] - self.p[i]) @ out)  # type: ignore[no-any-return]

    def deepest(self, i: int, j: int) -> tuple[int, float]:
        """The sample of i..j farthest behind the chord i→j, and that depth."""
        if j - i < 2:
            return (i + j) // 2, 0.0
        dep = self.depth(i, j)
        k = 1 + int(np.argmax(dep[1:-1]))
        return i + k, float(dep[k])

    def prominent(self, i: int, j: int) -> tuple[int, float]:
        """The sample of i..j farthest in front of the chord i→j, and that distance."""
        if j - i < 2:
            return (i + j) // 2, 0.0
        dep = self.depth(i, j)
        k = 1 + int(np.argmin(dep[1:-1]))
        return i + k, float(-dep[k])

    def concavity(self, w: int) -> FloatArray:
        """Depth (px) of each sample behind the chord of its ±w neighbours (+ = concave)."""
        i = np.arange(self.n)
        i0, i1 = np.clip(i - w, 0, self.n - 1), np.clip(i + w, 0, self.n - 1)
        d = self.p[i1] - self.p[i0]
        norm = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)
        out = np.column_stack([d[:, 1], -d[:, 0]]) / norm[:, None]
        return -np.sum((self.p - self.p[i0]) * out, axis=1)  # type: ignore[no-any-return]

    def deepest_pocket(self, lo: int, hi: int) -> tuple[int, int] | None:
        """The deepest dent under the anterior convex hull of samples lo..hi.

        Returns (the hull vertex that closes the pocket on the ``lo`` side, the deepest
        sample). The hull is taken from the anterior side only (two far points behind the
        outline close it), so its vertices follow the curve's order.
        """
        if hi - lo < 4:
            return None
        pts = self.p[lo : hi + 1]
        far = float(np.ptp(pts[:, 0]) + np.ptp(pts[:, 1]) + 10.0) * 10.0
        back = pts[:, 0].min() - far
        ext = np.vstack([pts, [[back, pts[:, 1].min() - far], [back, pts[:, 1].max() + far]]])
        hull = cv2.convexHull(ext.astype(np.float32), returnPoints=False).ravel()
        verts = np.sort(hull[hull < len(pts)])
        best: tuple[int, int] | None = None
        best_depth = 0.0
        for v0, v1 in zip(verts[:-1], verts[1:], strict=True):
            if v1 - v0 < 3:
                continue
            k, depth = self.deepest(lo + int(v0), lo + int(v1))
            if depth > best_depth:
                best, best_depth = (lo + int(v0), k), depth
        return best

    def tangent(self, frame: Frame, q: int, lo: int, hi: int, tol_deg: float = 1.0) -> int | None:
        """The point of lo..hi (one side of q) that the outer tangent from q touches.

        "Outer" is toward ``frame.anterior``. Callers leave a gap between q and the range:
        the smoothed curve is round at q, and its nearest points would otherwise be
        "tangent". Among near-ties (within ``tol_deg``) the one farthest from q along the
        curve, so that a straight stretch yields its far end rather than a noise-picked point.
        """
        lo, hi = max(lo, 0), min(hi, self.n - 1)
        if hi < lo:
            return None
        w = self.p[lo : hi + 1] - self.p[q]
        along = w @ frame.down
        ant = w @ frame.anterior
        if hi < q:  # points above q: angle from "up" toward anterior
            ang = np.arctan2(ant, -along)
        else:  # points below: angle from "down" toward anterior
            ang = np.arctan2(ant, along)
        ok = np.hypot(ant, along) > 2 * self.step
        if not ok.any():
            return None
        ang = np.where(ok, ang, -np.inf)
        best = float(ang.max())
        near = np.flatnonzero(ang >= best - math.radians(tol_deg))
        k = int(near.min()) if hi < q else int(near.max())
        return lo + k
