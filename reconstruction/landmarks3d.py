"""3D landmarks: the 2D semantic landmarks of every view, triangulated and put on the mesh.

Each named point is triangulated from the views whose 2D analysis found it:

1. **Pose gate.** A bilateral point on the far side of a turned face (the view's head yaw
   beyond :attr:`TriangulationOptions.far_side_yaw_deg`, + = the subject turned to their
   left, which hides their left side) is a landmark model's guess, not an observation:
   that view is dropped for it.
2. **RANSAC over view pairs.** Every pair with enough parallax gives a two-view DLT point;
   the pair whose point most views reproject within the gate wins (ties: the smaller
   residual sum), and its inliers are refit by confidence-weighted Gauss–Newton on the
   reprojection error. A view whose 2D point is an outlier (a mislabelled or occluded
   landmark) is left out.
3. **Occlusion gate** (with a mesh): a view whose ray to the point hits the surface first
   is dropped and the point refit.
4. **Snap** to the mesh's closest surface point (Open3D ``RaycastingScene``).

Uncertainty: the refit's covariance σ²(JᵀJ)⁻¹, σ the pixel residual (never below
:attr:`TriangulationOptions.min_sigma_px`), so few views or little parallax give a wide
one; after snapping, its component in the surface's tangent plane (the mesh fixes depth).
``uncertainty_mm`` is the 1-sigma radius √trace.

Midline points whose 2D models pull toward symmetry are then placed on the surface
geometry itself (:func:`refine_midline`, see :mod:`reconstruction.profile3d`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import open3d as o3d

from analysis.landmark_names import IBUG68, PROFILE
from analysis.types import PhotoAnalysis
from reconstruction.errors import ReconstructionError
from reconstruction.types import (
    FloatArray,
    Landmark3D,
    LandmarkSource,
    PinholeCamera,
    SurfaceMesh,
)

#: iBUG-68 points on the subject's left (image right in a frontal photo).
_LEFT_IBUG = frozenset(
    (*range(9, 17), *range(22, 27), 34, 35, *range(42, 48), 52, 53, 54, 55, 56, 63, 64, 65)
)
#: Their mirror images: the subject's right.
_RIGHT_IBUG = frozenset(
    (*range(8), *range(17, 22), 31, 32, *range(36, 42), 48, 49, 50, 58, 59, 60, 61, 67)
)


def side(name: str) -> int:
    """+1 for a point on the subject's left, −1 on the right, 0 on the midline."""
    if name.startswith("ibug_"):
        i = int(name[5:])
        return 1 if i in _LEFT_IBUG else -1 if i in _RIGHT_IBUG else 0
    parts = name.split("_")
    return 1 if "l" in parts else -1 if "r" in parts else 0


@dataclass(frozen=True)
class ViewLandmarks:
    """One view's 2D landmarks (pixels, :mod:`analysis.landmark_names`) and its camera.

    ``yaw_deg`` is the head yaw the 2D analysis estimated in this view (+ = the subject
    turned to their left), None when unknown.
    """

    camera: PinholeCamera
    points: Mapping[str, tuple[float, float]]
    confidence: Mapping[str, float] = field(default_factory=dict)
    yaw_deg: float | None = None


def from_analysis(camera: PinholeCamera, analysis: PhotoAnalysis) -> ViewLandmarks:
    """A view's 2D analysis as triangulation input. The silhouette profile points are left
    out: they are where the outline of *this* view runs, a different surface point in each
    view, so they cannot be triangulated (the surface refinement finds them in 3D)."""
    sem = analysis.semantic
    if sem is None:
        return ViewLandmarks(camera, {}, {})
    keep = {k: v for k, v in sem.points.items() if k not in PROFILE}
    pose = analysis.quality.pose if analysis.quality is not None else None
    return ViewLandmarks(
        camera,
        keep,
        {k: sem.confidence.get(k, 1.0) for k in keep},
        None if pose is None else float(pose.yaw),
    )


@dataclass(frozen=True)
class TriangulationOptions:
    """Gates and floors of :func:`triangulate`."""

    gate_px: float = 12.0  # reprojection inlier gate, pixels (at the views' resolution)
    min_views: int = 2
    min_parallax_deg: float = 4.0  # a view pair closer than this gives no RANSAC hypothesis
    far_side_yaw_deg: float = 30.0
    occlusion_tolerance_mm: float = 2.0
    min_sigma_px: float = 1.0


# ---- geometry ---------------------------------------------------------------------------------


def _projections(cams: Sequence[PinholeCamera]) -> FloatArray:
    return np.stack([c.K @ np.column_stack([c.R, c.t]) for c in cams])


def _dlt(p: FloatArray, xy: FloatArray, w: FloatArray) -> FloatArray:
    """Batched weighted DLT: ``p`` B×V×3×4, ``xy`` B×V×2, ``w`` B×V → B×3."""
    a = np.concatenate(
        [xy[..., 0:1] * p[..., 2, :] - p[..., 0, :], xy[..., 1:2] * p[..., 2, :] - p[..., 1, :]],
        axis=1,
    )  # B×2V×4
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    a = a * np.concatenate([w, w], axis=1)[..., None]
    _, _, vt = np.linalg.svd(a)
    h = vt[:, -1, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(h[:, :3] / h[:, 3:4])


def _reproject(p: FloatArray, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(V×2 pixels, V depths) of one point through V projection matrices."""
    h = p @ np.append(x, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(h[:, :2] / h[:, 2:3]), np.asarray(h[:, 2])


def _refine(
    p: FloatArray, xy: FloatArray, w: FloatArray, x0: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Gauss–Newton on the weighted reprojection error; (point, 3×3 JᵀWJ)."""
    x = x0.copy()
    jtj = np.eye(3)
    for _ in range(8):
        h = p @ np.append(x, 1.0)  # V×3
        uv = h[:, :2] / h[:, 2:3]
        r = (uv - xy).reshape(-1)
        # d(uv)/dX = (P[:2,:3] − uv ⊗ P[2,:3]) / h_z
        jac = (p[:, :2, :3] - uv[:, :, None] * p[:, 2:3, :3]) / h[:, 2:3, None]
        jac = jac.reshape(-1, 3)
        ww = np.repeat(w, 2)
        jtj = jac.T @ (jac * ww[:, None])
        step = np.linalg.solve(jtj + 1e-9 * np.eye(3), -(jac.T @ (r * ww)))
        x = x + step
        if float(np.linalg.norm(step)) < 1e-6:
            break
    return x, jtj


def _parallax_ok(
    cams: Sequence[PinholeCamera], x: FloatArray, i: int, j: int, min_deg: float
) -> bool:
    a, b = cams[i].centre - x, cams[j].centre - x
    c = float(a @ b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12)
    return math.degrees(math.acos(min(1.0, max(-1.0, c)))) >= min_deg


@dataclass(frozen=True)
class _Fit:
    point: FloatArray
    views: tuple[int, ...]
    rms_px: float
    cov: FloatArray


def _ransac(
    cams: Sequence[PinholeCamera], proj: FloatArray, xy: FloatArray, w: FloatArray,
    opts: TriangulationOptions,
) -> _Fit | None:  # fmt: skip
    """Best point of one landmark over its V observing views (indices local to the arrays)."""
    v = len(xy)
    if v < opts.min_views:
        return None
    pairs = np.array(list(itertools.combinations(range(v), 2)))
    hyp = _dlt(proj[pairs], xy[pairs], np.ones((len(pairs), 2)))
    best: tuple[int, float, FloatArray] | None = None
    for k, x in enumerate(hyp):
        if not np.isfinite(x).all() or not _parallax_ok(
            cams, x, int(pairs[k, 0]), int(pairs[k, 1]), opts.min_parallax_deg
        ):
            continue
        uv, z = _reproject(proj, x)
        if (z[pairs[k]] <= 0).any():
            continue
        err = np.where(z > 0, np.linalg.norm(uv - xy, axis=1), np.inf)
        inl = err < opts.gate_px
        score = (int(inl.sum()), -float(np.sum(np.minimum(err, opts.gate_px))))
        if best is None or score > (best[0], best[1]):
            best = (score[0], score[1], x)
    if best is None or best[0] < opts.min_views:
        return None
    x = best[2]
    inl = np.ones(v, dtype=bool)
    for _ in range(3):  # refit on the inliers, re-gate, until stable
        uv, z = _reproject(proj, x)
        err = np.where(z > 0, np.linalg.norm(uv - xy, axis=1), np.inf)
        new = err < opts.gate_px
        if new.sum() < opts.min_views:
            break
        inl = new
        x, _ = _refine(proj[inl], xy[inl], w[inl], x)
    return _finish(proj, xy, w, x, np.flatnonzero(inl), opts)


def _finish(
    proj: FloatArray, xy: FloatArray, w: FloatArray, x: FloatArray, idx: npt.NDArray[np.intp],
    opts: TriangulationOptions,
) -> _Fit:  # fmt: skip
    uv, _ = _reproject(proj[idx], x)
    res = np.linalg.norm(uv - xy[idx], axis=1)
    n = len(idx)
    rms = float(np.sqrt(np.mean(res**2)))
    dof = max(2 * n - 3, 1)
    sigma = max(float(np.sqrt(np.sum(res**2) / dof)), opts.min_sigma_px)
    _, jtj = _refine(proj[idx], xy[idx], np.ones(n), x)  # unweighted: pixel covariance
    cov = np.asarray(sigma**2 * np.linalg.pinv(jtj), dtype=np.float64)
    return _Fit(x, tuple(int(i) for i in idx), rms, cov)


# ---- mesh queries -----------------------------------------------------------------------------


def _tensor(a: npt.NDArray[np.generic]) -> o3d.core.Tensor:
    return o3d.core.Tensor.from_numpy(np.ascontiguousarray(a))


class MeshQuery:
    """Closest points and ray hits on one mesh (a ``RaycastingScene`` built once)."""

    def __init__(self, mesh: SurfaceMesh) -> None:
        self.mesh = mesh
        self.scene = o3d.t.geometry.RaycastingScene()
        self.scene.add_triangles(
            _tensor(np.asarray(mesh.vertices, dtype=np.float32)),
            _tensor(np.asarray(mesh.triangles, dtype=np.uint32)),
        )
        self.normals = mesh.face_normals()

    def closest(self, points: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(closest surface points N×3, their triangles' unit normals N×3)."""
        q = _tensor(np.atleast_2d(points).astype(np.float32))
        res = self.scene.compute_closest_points(q)
        prim = res["primitive_ids"].numpy().astype(np.int64)
        return res["points"].numpy().astype(np.float64), self.normals[prim]

    def cast(self, origins: FloatArray, directions: FloatArray) -> FloatArray:
        """Distance along each unit ray to its first hit (inf for a miss)."""
        rays = np.hstack([np.atleast_2d(origins), np.atleast_2d(directions)]).astype(np.float32)
        hit = self.scene.cast_rays(_tensor(rays))
        return np.asarray(hit["t_hit"].numpy(), dtype=np.float64)


def _occluded(
    query: MeshQuery, cams: Sequence[PinholeCamera], x: FloatArray, tol: float
) -> FloatArray:
    """Per camera: does the surface hide ``x`` (the ray from the centre hits it first)?"""
    c = np.stack([cam.centre for cam in cams])
    d = x[None, :] - c
    dist = np.linalg.norm(d, axis=1)
    t = query.cast(c, d / dist[:, None])
    return np.asarray(t < dist - tol)


# ---- the stage ----------------------------------------------------------------------------------


def triangulate(
    views: Sequence[ViewLandmarks],
    mesh: SurfaceMesh | None = None,
    *,
    options: TriangulationOptions | None = None,
    names: Sequence[str] | None = None,
) -> dict[str, Landmark3D]:
    """Every named point seen (after the gates) in at least ``min_views`` views, in the
    cameras' frame; snapped to ``mesh`` when given. A name found in too few views is left
    out (the caller sees which are missing)."""
    opts = options or TriangulationOptions()
    if len(views) < opts.min_views:
        raise ReconstructionError(
            f"triangulation needs at least {opts.min_views} views, got {len(views)}"
        )
    query = MeshQuery(mesh) if mesh is not None else None
    all_names = names or sorted({n for v in views for n in v.points})
    cams = [v.camera for v in views]
    proj_all = _projections(cams)
    out: dict[str, Landmark3D] = {}
    for name in all_names:
        s = side(name)
        idx = [
            i
            for i, v in enumerate(views)
            if name in v.points
            and np.isfinite(v.points[name]).all()
            and not (s and v.yaw_deg is not None and s * v.yaw_deg > opts.far_side_yaw_deg)
        ]
        if len(idx) < opts.min_views:
            continue
        xy = np.array([views[i].points[name] for i in idx], dtype=np.float64)
        w = np.array([min(max(views[i].confidence.get(name, 1.0), 0.1), 1.0) for i in idx])
        sub = [cams[i] for i in idx]
        fit = _ransac(sub, proj_all[idx], xy, w, opts)
        if fit is None:
            continue
        if query is not None:
            hidden = _occluded(query, sub, fit.point, opts.occlusion_tolerance_mm)
            keep = [k for k in fit.views if not hidden[k]]
            if len(keep) >= opts.min_views and len(keep) < len(fit.views):
                ki = np.array(keep)
                x, _ = _refine(proj_all[idx][ki], xy[ki], w[ki], fit.point)
                fit = _finish(proj_all[idx], xy, w, x, ki, opts)
        out[name] = _place(name, fit, [idx[k] for k in fit.views], query)
    return out


def _place(name: str, fit: _Fit, views: Sequence[int], query: MeshQuery | None) -> Landmark3D:
    if query is None:
        sigma = math.sqrt(max(float(np.trace(fit.cov)), 0.0))
        pos = fit.point
    else:
        snapped, n = query.closest(fit.point)
        pos, nn = snapped[0], n[0]
        tangent = np.eye(3) - np.outer(nn, nn)
        sigma = math.sqrt(max(float(np.trace(tangent @ fit.cov @ tangent)), 0.0))
    return Landmark3D(
        name=name,
        position=pos,
        uncertainty_mm=sigma,
        source=LandmarkSource.TRIANGULATED,
        views=tuple(views),
        reprojection_px=fit.rms_px,
        triangulated=fit.point,
    )


__all__ = [
    "IBUG68",
    "MeshQuery",
    "TriangulationOptions",
    "ViewLandmarks",
    "from_analysis",
    "side",
    "triangulate",
]
