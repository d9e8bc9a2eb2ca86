"""Similarity transforms (scale, rotation, translation) between point sets, for aligning a
reconstruction to another frame: ``dst ≈ s · R @ src + t`` (Umeyama 1991, least squares)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.types import InvalidInputError
from reconstruction.types import FloatArray, PinholeCamera


@dataclass(frozen=True)
class Similarity:
    """``x' = scale · R @ x + t``."""

    scale: float
    R: FloatArray
    t: FloatArray

    def apply(self, points: FloatArray) -> FloatArray:
        return np.asarray(self.scale * np.asarray(points, dtype=np.float64) @ self.R.T + self.t)

    def camera(self, cam: PinholeCamera) -> PinholeCamera:
        """The same camera seen in the transformed frame (same pixels for mapped points)."""
        r = cam.R @ self.R.T
        t = self.scale * cam.t - r @ self.t
        return PinholeCamera(cam.width, cam.height, cam.K, r, t)


def fit_similarity(src: FloatArray, dst: FloatArray) -> Similarity:
    """The least-squares similarity taking ``src`` (N×3) onto ``dst`` (N×3), N ≥ 3."""
    a = np.asarray(src, dtype=np.float64)
    b = np.asarray(dst, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 3 or len(a) < 3:
        raise InvalidInputError(f"need two N×3 point sets with N >= 3, got {a.shape} and {b.shape}")
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    ac, bc = a - ma, b - mb
    var = float(np.sum(ac**2)) / len(a)
    if var <= 0:
        raise InvalidInputError("source points are all identical")
    u, d, vt = np.linalg.svd(bc.T @ ac / len(a))
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1.0
    r = u @ sign @ vt
    s = float(np.trace(np.diag(d) @ sign)) / var
    return Similarity(s, r, mb - s * r @ ma)
