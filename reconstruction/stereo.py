"""Two-view stereo for the CPU dense stage: neighbour pairs, rectification, SGBM, depth maps.

Each ordered pair (reference, source) gives one depth map in the reference view's own pixel
grid. Rectification is the standard one (Fusiello et al. 2000): both cameras are rotated to
a common orientation whose x axis runs from the reference to the source centre, so the
reference is always the left image whatever side the source is on, and a vertical baseline
needs no special case (``cv2.stereoRectify`` would switch to vertical rectification there).
The rectified principal points are chosen from the scene points so that the window covers
just the object and the disparity search spans just its depth range: at a 20° baseline the
raw disparities are hundreds of pixels but their spread over a face is a few dozen.
OpenCV's StereoSGBM matches, with its internal left-right check (``disp12MaxDiff``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from reconstruction.types import FloatArray, PinholeCamera

DepthMap = npt.NDArray[np.float32]  # H×W, NaN where unknown


def view_angles(cameras: list[PinholeCamera], centre: FloatArray) -> FloatArray:
    """N×N angles (degrees) between the views' lines of sight to ``centre``."""
    d = np.stack([c.centre - centre for c in cameras])
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return np.asarray(np.degrees(np.arccos(np.clip(d @ d.T, -1.0, 1.0))))


def choose_pairs(
    cameras: list[PinholeCamera],
    centre: FloatArray,
    neighbours: int = 2,
    angle_range: tuple[float, float] = (8.0, 35.0),
    target_angle: float = 18.0,
) -> list[tuple[int, int]]:
    """Ordered (reference, source) pairs: for each view its ``neighbours`` sources whose
    baseline angle lies in ``angle_range``, nearest ``target_angle`` first, each further
    one on another side (at least the minimum angle away from those already chosen)."""
    ang = view_angles(cameras, centre)
    lo, hi = angle_range
    pairs: list[tuple[int, int]] = []
    for i in range(len(cameras)):
        cand = [j for j in range(len(cameras)) if j != i and lo <= ang[i, j] <= hi]
        cand.sort(key=lambda j: abs(ang[i, j] - target_angle))
        chosen: list[int] = []
        for j in cand:
            if len(chosen) == neighbours:
                break
            if all(ang[j, k] >= lo for k in chosen):
                chosen.append(j)
        pairs += [(i, j) for j in chosen]
    return pairs


@dataclass(frozen=True)
class Rectification:
    """A rectified pair: ``h_ref`` / ``h_src`` map rectified pixels to original ones;
    disparity ``d`` (reference x minus source x, both rectified) gives the rectified depth
    ``focal_baseline / (d - shift)``; SGBM searches ``[0, num_disparities)``."""

    size: tuple[int, int]  # (width, height)
    h_ref: FloatArray
    h_src: FloatArray
    focal_baseline: float
    shift: float
    num_disparities: int


def rectify(
    ref: PinholeCamera, src: PinholeCamera, points: FloatArray, margin: float = 0.06
) -> Rectification | None:
    """The rectification of ``(ref, src)`` framing ``points`` (the scene, world units);
    None when fewer than 8 of them lie in front of both cameras inside both images."""
    c_ref, c_src = ref.centre, src.centre
    x = c_src - c_ref
    baseline = float(np.linalg.norm(x))
    x /= baseline
    z_mean = ref.R[2] + src.R[2]
    y = np.cross(z_mean, x)
    y /= np.linalg.norm(y)
    rn = np.stack([x, y, np.cross(x, y)])  # world → rectified
    pts = points[_visible(ref, points) & _visible(src, points)]
    if len(pts) < 8:
        return None
    f = float(np.sqrt(abs(np.linalg.det(ref.K[:2, :2]))))
    q = (pts - c_ref) @ rn.T
    u_ref, v = f * q[:, 0] / q[:, 2], f * q[:, 1] / q[:, 2]
    d = f * baseline / q[:, 2]
    d_lo, d_hi = np.percentile(d, [0.5, 99.5])
    d_pad = 0.15 * (d_hi - d_lo) + 4.0
    num_disp = int(16 * math.ceil((d_hi - d_lo + 2 * d_pad) / 16))
    shift = d_pad - d_lo  # rectified disparity = true disparity + shift ∈ [0, num_disp)
    u_lo, u_hi = np.percentile(u_ref, [0.5, 99.5])
    v_lo, v_hi = np.percentile(v, [0.5, 99.5])
    pad = margin * max(u_hi - u_lo, v_hi - v_lo) + 4.0
    cx = num_disp + pad - u_lo
    cy = pad - v_lo
    width = int(math.ceil(u_hi - u_lo + 2 * pad + num_disp))
    height = int(math.ceil(v_hi - v_lo + 2 * pad))
    k_ref = np.array([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])
    k_src = k_ref.copy()
    k_src[0, 2] = cx - shift
    return Rectification(
        size=(width, height),
        h_ref=ref.K @ ref.R @ rn.T @ np.linalg.inv(k_ref),
        h_src=src.K @ src.R @ rn.T @ np.linalg.inv(k_src),
        focal_baseline=f * baseline,
        shift=shift,
        num_disparities=num_disp,
    )


def _visible(cam: PinholeCamera, points: FloatArray) -> npt.NDArray[np.bool_]:
    px, z = cam.project(points)
    with np.errstate(invalid="ignore"):
        inside = (
            (px[:, 0] >= 0) & (px[:, 0] < cam.width) & (px[:, 1] >= 0) & (px[:, 1] < cam.height)
        )
    return np.asarray((z > 0) & inside)


def make_matcher(image_size: int, num_disparities: int) -> cv2.StereoSGBM:
    """StereoSGBM with its block and smoothness scaled to the image size (5 px blocks at
    1024, 3 px at ≤ 640) and its left-right check, uniqueness and speckle filters on."""
    block = 3 if image_size <= 640 else 5
    speckle = int(100 * (image_size / 1024) ** 2) + 20
    return cv2.StereoSGBM.create(
        minDisparity=0,
        numDisparities=num_disparities,
        blockSize=block,
        P1=8 * block * block,
        P2=32 * block * block,
        disp12MaxDiff=1,
        preFilterCap=31,
        uniquenessRatio=5,
        speckleWindowSize=speckle,
        speckleRange=2,
        mode=cv2.STEREO_SGBM_MODE_SGBM_3WAY,
    )


def _trusted(
    gray: npt.NDArray[np.uint8], block: int, min_std: float = 2.0
) -> npt.NDArray[np.bool_]:
    """Pixels SGBM's match can be trusted at: textured (local grey-level spread above
    ``min_std``; a plain backdrop matches anything), and not within a block of an
    untextured region (where the smoothness term drags the foreground's disparity out
    over the background: edge fattening)."""
    g = gray.astype(np.float32)
    win = (2 * block + 1, 2 * block + 1)
    mean = cv2.boxFilter(g, -1, win)
    var = cv2.boxFilter(g * g, -1, win) - mean * mean
    ok = (var > min_std**2).astype(np.uint8)
    kernel = np.ones((2 * block + 1, 2 * block + 1), np.uint8)
    return np.asarray(cv2.erode(ok, kernel) > 0)


def pair_depth(
    gray_ref: npt.NDArray[np.uint8],
    gray_src: npt.NDArray[np.uint8],
    ref: PinholeCamera,
    rect: Rectification,
) -> DepthMap:
    """The reference view's depth map (its own pixel grid, NaN where unmatched)."""
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    a = np.asarray(cv2.warpPerspective(gray_ref, rect.h_ref, rect.size, flags=flags), np.uint8)
    b = np.asarray(cv2.warpPerspective(gray_src, rect.h_src, rect.size, flags=flags), np.uint8)
    matcher = make_matcher(max(ref.width, ref.height), rect.num_disparities)
    disp = matcher.compute(a, b).astype(np.float32) / 16.0
    disp[(disp < 0) | ~_trusted(a, matcher.getBlockSize())] = np.nan
    # Each original pixel's rectified position: h_ref⁻¹ p = (x, y, w) with w the depth ratio.
    yy, xx = np.mgrid[0 : ref.height, 0 : ref.width].astype(np.float32)
    hinv = np.linalg.inv(rect.h_ref)
    hx, hy, w = (hinv[r, 0] * xx + hinv[r, 1] * yy + hinv[r, 2] for r in range(3))  # no BLAS
    mx, my = (hx / w).astype(np.float32), (hy / w).astype(np.float32)
    d = cv2.remap(
        disp, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=float("nan")
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        depth = rect.focal_baseline / (d - rect.shift) / w
    depth[~(depth > 0)] = np.nan
    return np.asarray(depth, np.float32)
