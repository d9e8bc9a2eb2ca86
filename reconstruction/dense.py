"""The dense stage: calibrated views in, a fused, coloured point cloud of the surface out.

On the CPU (the tested default): each view is matched against its nearest neighbours at a
useful baseline (:mod:`reconstruction.stereo`: rectification + StereoSGBM) into a per-view
depth map (untextured pixels and their borders left out); then multi-view depth-consistency
fusion keeps a pixel's 3D point, unless the view sees its surface at a grazing angle, only where at
least ``min_agreeing`` *other* views' depth maps agree with it (relative tolerance) when
it is projected into them, and averages the agreeing depths along each view's ray: single
pairs make gross errors at occlusions and on weak texture, independent views rarely make
the same one. The points are merged on a voxel grid (one point per voxel: the mean of
its samples), which bounds their number and averages away the remaining noise.

``device``: ``"cuda"`` runs COLMAP PatchMatch stereo and its fusion instead
(:mod:`reconstruction.patchmatch`), which needs pycolmap's CUDA build and a visible CUDA
device; without them ``"cuda"`` raises :class:`BackendUnavailableError` saying which is
missing, and ``"auto"`` runs the CPU stage. Both return the same
:class:`~reconstruction.types.DensePointCloud`, merged on the same voxel grid.
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from analysis.types import BackendUnavailableError, ImageArray, InvalidInputError
from reconstruction import stereo
from reconstruction.types import DensePointCloud, FloatArray, PinholeCamera

log = logging.getLogger(__name__)

Device = Literal["cpu", "cuda", "auto"]
Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class DenseOptions:
    """Knobs of the dense stage (defaults suit 8–24 photos around a face). All but the
    stereo knobs (neighbours, angles, depth tolerance, stride, incidence) apply to the
    PatchMatch path too: ``min_agreeing``, the fusion neighbourhood, the voxel edge."""

    device: Device = "auto"
    #: Stereo partners per view and the baseline angles (degrees) they may have.
    neighbours: int = 2
    angle_range: tuple[float, float] = (8.0, 35.0)
    target_angle: float = 18.0
    #: Other views whose depth maps must agree with a point, and how closely (relative).
    min_agreeing: int = 2
    depth_tolerance: float = 0.004
    #: Only the ``fusion_views`` views nearest the reference, within ``fusion_angle``
    #: degrees of it, are checked (others see other sides of the head).
    fusion_angle: float = 70.0
    fusion_views: int = 8
    #: Pixels whose surface is seen more obliquely than this (degrees) are not fused.
    max_incidence: float = 75.0
    #: Every ``stride``-th pixel of each depth map is fused; None: 1 up to 640 px, then
    #: about one per 640th of the image (the voxel merge bounds the density anyway).
    stride: int | None = None
    #: Voxel edge of the merged cloud, world units; None: 1.5 × the median pixel footprint.
    voxel_size: float | None = None
    #: PatchMatch only: the longest image side its depth maps are computed at; None: full.
    max_image_size: int | None = None


def resolve_device(device: str) -> Literal["cpu", "cuda"]:
    """ "cpu" or "cuda" for a requested ``device``; "cuda" must be available if asked for."""
    if device not in ("cpu", "cuda", "auto"):
        raise InvalidInputError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    if device == "cpu":
        return "cpu"
    problem = _cuda_problem()
    if problem is None:
        return "cuda"
    if device == "cuda":
        raise BackendUnavailableError(
            f"device 'cuda' asked for, but {problem} (PatchMatch stereo needs pycolmap's CUDA "
            "build and a CUDA device); use device 'cpu' or 'auto'"
        )
    return "cpu"


def _cuda_problem() -> str | None:
    """Why PatchMatch cannot run here, or None when it can."""
    try:
        import pycolmap
    except ImportError:
        return "pycolmap is not installed"
    if not getattr(pycolmap, "has_cuda", False):
        return "the installed pycolmap has no CUDA support"
    if _cuda_device_count() == 0:
        return "no CUDA device is visible"
    return None


def _cuda_device_count() -> int:
    """CUDA devices the driver shows this process (CUDA_VISIBLE_DEVICES honoured), asked
    of the driver library (Linux's libcuda.so.1) itself: importing torch for this would
    cost seconds and memory. 0 where there is no driver."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return int(count.value)


def dense_point_cloud(
    images: Sequence[ImageArray],
    cameras: Sequence[PinholeCamera],
    sparse_points: FloatArray | None = None,
    options: DenseOptions | None = None,
    progress: Progress | None = None,
) -> DensePointCloud:
    """Fuse undistorted RGB ``images`` seen by ``cameras`` into a dense point cloud.

    ``sparse_points`` (N×3, e.g. the SfM tracks) bound the depth range and the image
    region searched; without them the scene is taken to lie within a sphere around the
    point the optical axes converge on.
    """
    opt = options or DenseOptions()
    device = resolve_device(opt.device)
    cams = list(cameras)
    _check_inputs(images, cams)
    if device == "cuda":
        from reconstruction import patchmatch  # pycolmap's MVS, imported only when used

        return patchmatch.patchmatch_point_cloud(images, cams, sparse_points, opt, progress)
    report = progress or (lambda stage, fraction: None)
    scene = scene_points(cams, sparse_points)
    centre = np.median(scene, axis=0)
    pairs = stereo.choose_pairs(cams, centre, opt.neighbours, opt.angle_range, opt.target_angle)
    log.info("dense: %d views, %d stereo pairs", len(cams), len(pairs))
    grays = [
        np.asarray(cv2.cvtColor(np.asarray(im, np.uint8), cv2.COLOR_RGB2GRAY), np.uint8)
        for im in images
    ]
    per_view: list[list[stereo.DepthMap]] = [[] for _ in cams]
    report("stereo", 0.0)
    for n, (i, j) in enumerate(pairs):
        rect = stereo.rectify(cams[i], cams[j], scene)
        if rect is not None:
            per_view[i].append(stereo.pair_depth(grays[i], grays[j], cams[i], rect))
        report("stereo", (n + 1) / len(pairs))
    depths = [
        _merge_pair_depths(maps, opt.depth_tolerance, cam)
        for maps, cam in zip(per_view, cams, strict=True)
    ]
    report("fusion", 0.0)
    angles = stereo.view_angles(cams, centre)
    parts = []
    for i in range(len(cams)):
        near = [j for j in np.argsort(angles[i]) if j != i and angles[i, j] <= opt.fusion_angle]
        parts.append(_fuse_view(i, near[: opt.fusion_views], depths, cams, images, opt))
        report("fusion", (i + 1) / len(cams))
    pts = np.concatenate([p[0] for p in parts])
    if len(pts) == 0:
        raise InvalidInputError("no surface point is seen consistently by enough views")
    voxel = opt.voxel_size or 1.5 * pixel_footprint(cams, scene)
    return voxel_merge(
        pts,
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
        np.concatenate([p[3] for p in parts]),
        voxel,
    )


def _check_inputs(images: Sequence[ImageArray], cams: list[PinholeCamera]) -> None:
    if len(images) != len(cams) or len(cams) < 3:
        raise InvalidInputError(
            f"need one camera per image and at least 3 views, got {len(images)} images "
            f"and {len(cams)} cameras"
        )
    for n, (im, cam) in enumerate(zip(images, cams, strict=True)):
        shape = np.asarray(im).shape
        if shape != (cam.height, cam.width, 3):
            raise InvalidInputError(
                f"image {n} must be {cam.height}×{cam.width}×3 like its camera, got {shape}"
            )


def scene_points(cams: list[PinholeCamera], sparse: FloatArray | None) -> FloatArray:
    """The scene's extent: the sparse points when there are enough, else a 5×5×5 grid
    spanning a cube around the point the optical axes converge on."""
    if sparse is not None and len(sparse) >= 8:
        return np.asarray(sparse, np.float64)
    # Least-squares point nearest all optical axes; the scene within 35 % of its distance.
    a, b = np.zeros((3, 3)), np.zeros(3)
    for c in cams:
        d = c.R[2]
        m = np.eye(3) - np.outer(d, d)
        a += m
        b += m @ c.centre
    centre = np.linalg.solve(a, b)
    radius = 0.35 * float(np.median([np.linalg.norm(c.centre - centre) for c in cams]))
    g = np.linspace(-1.0, 1.0, 5)
    cube = np.stack(np.meshgrid(g, g, g), axis=-1).reshape(-1, 3)
    return np.asarray(centre + radius * cube)


def pixel_footprint(cams: list[PinholeCamera], scene: FloatArray) -> float:
    """The median size of a pixel on the scene, world units."""
    sizes = []
    for c in cams:
        _, z = c.project(scene)
        sizes.append(np.median(z[z > 0]) / c.K[0, 0])
    return float(np.median(sizes))


def _merge_pair_depths(
    maps: list[stereo.DepthMap], tol: float, cam: PinholeCamera
) -> stereo.DepthMap:
    """One depth map from a view's pairs: the mean where they agree, the single one where
    only one saw the pixel, nothing where they contradict each other."""
    if not maps:
        return np.full((cam.height, cam.width), np.nan, np.float32)
    stack = np.stack(maps)
    # The (lower) median of the known values, NaN sorting last (np.nanmedian warns per
    # all-NaN pixel, millions of times).
    known = np.isfinite(stack).sum(axis=0)
    mid = np.maximum(known - 1, 0) // 2
    med = np.take_along_axis(np.sort(stack, axis=0), mid[None], axis=0)[0]
    with np.errstate(invalid="ignore"):
        agree = np.abs(stack - med) <= tol * med
    count = agree.sum(axis=0)
    total = np.where(agree, stack, 0.0).sum(axis=0)
    valid = np.isfinite(stack).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where((count >= 1) & (count == valid), total / count, np.nan)
    return np.asarray(out, np.float32)


def _bilinear(img: npt.NDArray[np.float32], x: FloatArray, y: FloatArray) -> FloatArray:
    """Bilinear samples of ``img`` at (x, y); NaN outside or next to an unknown pixel."""
    h, w = img.shape
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    ok = (x0 >= 0) & (y0 >= 0) & (x0 < w - 1) & (y0 < h - 1)
    x0, y0 = np.where(ok, x0, 0), np.where(ok, y0, 0)
    fx, fy = x - x0, y - y0
    v = (
        img[y0, x0] * (1 - fx) * (1 - fy)
        + img[y0, x0 + 1] * fx * (1 - fy)
        + img[y0 + 1, x0] * (1 - fx) * fy
        + img[y0 + 1, x0 + 1] * fx * fy
    )
    return np.where(ok, v, np.nan)


def _fuse_view(
    i: int,
    others: list[int],
    depths: list[stereo.DepthMap],
    cams: list[PinholeCamera],
    images: Sequence[ImageArray],
    opt: DenseOptions,
) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """View ``i``'s consistent points: (points, colour sums / count as float, normals,
    support), the point the mean of its agreeing views' estimates along their rays."""
    cam, depth = cams[i], depths[i]
    world = _backproject(cam, depth)  # H×W×3, NaN where unknown
    normals = _normals(world, cam.centre)
    step = opt.stride or max(1, round(max(cam.width, cam.height) / 640))
    ray = cam.centre - world
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.einsum("ijk,ijk->ij", normals, ray) / np.linalg.norm(ray, axis=-1)
    valid = np.isfinite(depth) & (cos > np.cos(np.radians(opt.max_incidence)))
    ys, xs = np.nonzero(valid[::step, ::step])
    ys, xs = ys * step, xs * step
    x = world[ys, xs]
    acc = x.copy()
    rgb = np.asarray(images[i], np.float64)[ys, xs]
    support = np.ones(len(x), np.int64)
    for j in others:
        px, z = _project(cams[j], x)
        dj = _bilinear(depths[j], px[:, 0], px[:, 1])
        with np.errstate(invalid="ignore"):
            ok = np.abs(dj - z) <= opt.depth_tolerance * z
        cj = cams[j].centre
        acc[ok] += cj + (x[ok] - cj) * (dj[ok] / z[ok])[:, None]
        u = np.clip(np.rint(px[ok]).astype(np.int64), 0, [cams[j].width - 1, cams[j].height - 1])
        rgb[ok] += np.asarray(images[j])[u[:, 1], u[:, 0]]
        support += ok
    keep = support >= 1 + opt.min_agreeing
    s = support[keep]
    return (
        acc[keep] / s[:, None],
        rgb[keep] / s[:, None],
        normals[ys[keep], xs[keep]],
        s,
    )


def _project(cam: PinholeCamera, x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """:meth:`PinholeCamera.project` without BLAS: an N×3 @ 3×3 product through BLAS is
    slow, and its threads spin on a busy machine."""
    c = [
        x[:, 0] * cam.R[k, 0] + x[:, 1] * cam.R[k, 1] + x[:, 2] * cam.R[k, 2] + cam.t[k]
        for k in range(3)
    ]
    k = cam.K
    with np.errstate(divide="ignore", invalid="ignore"):
        u = (k[0, 0] * c[0] + k[0, 1] * c[1]) / c[2] + k[0, 2]
        v = k[1, 1] * c[1] / c[2] + k[1, 2]
    return np.column_stack([u, v]), c[2]


def _backproject(cam: PinholeCamera, depth: stereo.DepthMap) -> FloatArray:
    """H×W×3 world points of a depth map, R^T (depth · K^-1 p − t) (no BLAS, see _project)."""
    yy, xx = np.mgrid[0 : cam.height, 0 : cam.width].astype(np.float64)
    kinv = np.linalg.inv(cam.K)
    d = depth.astype(np.float64)
    xc = [d * (kinv[r, 0] * xx + kinv[r, 1] * yy + kinv[r, 2]) - cam.t[r] for r in range(3)]
    r = cam.R
    return np.stack([r[0, k] * xc[0] + r[1, k] * xc[1] + r[2, k] * xc[2] for k in range(3)], -1)


def _normals(world: FloatArray, centre: FloatArray) -> FloatArray:
    """Per-pixel unit normals from the depth map's neighbours, turned toward the camera."""
    n = np.full_like(world, np.nan)
    dx = world[1:-1, 2:] - world[1:-1, :-2]
    dy = world[2:, 1:-1] - world[:-2, 1:-1]
    c = np.cross(dx, dy)
    with np.errstate(invalid="ignore", divide="ignore"):
        c /= np.linalg.norm(c, axis=-1, keepdims=True)
        flip = np.einsum("ijk,ijk->ij", c, centre - world[1:-1, 1:-1]) < 0
    c[flip] *= -1
    n[1:-1, 1:-1] = c
    return n


def voxel_merge(
    pts: FloatArray, rgb: FloatArray, nrm: FloatArray, support: npt.NDArray[np.int64], voxel: float
) -> DensePointCloud:
    """One point per occupied voxel: the mean of its points, colours and normals, and the
    largest support among them."""
    cell = np.floor((pts - pts.min(axis=0)) / voxel).astype(np.int64)
    dims = cell.max(axis=0) + 1
    key = cell[:, 0] + dims[0] * (cell[:, 1] + dims[1] * cell[:, 2])
    _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
    m = len(counts)

    def mean(a: FloatArray) -> FloatArray:
        cols = [np.bincount(inv, weights=a[:, k], minlength=m) for k in range(a.shape[1])]
        return np.stack(cols, axis=1) / counts[:, None]

    n = mean(nrm)
    length = np.linalg.norm(n, axis=1, keepdims=True)
    ok = length[:, 0] > 1e-6
    sup = np.zeros(m, np.int64)
    np.maximum.at(sup, inv, support)
    colors = np.clip(np.rint(mean(rgb)), 0, 255).astype(np.uint8)
    return DensePointCloud(
        points=mean(pts)[ok],
        colors=colors[ok],
        support=sup[ok],
        normals=(n / np.where(ok[:, None], length, 1.0))[ok],
    )
