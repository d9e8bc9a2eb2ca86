"""Metric scale from a printed ChArUco board seen in the photos.

Each view's board corners are found with OpenCV's ``CharucoDetector`` (sub-pixel chessboard
corners with their ids), triangulated with the structure-from-motion cameras (linear DLT
over every registered view that sees the corner, then views reprojecting worse than
``gate_px`` dropped and the corner re-triangulated), and compared with the board's known
geometry: for every pair of triangulated corners at least two squares apart, the true
distance in millimetres over the reconstructed distance is one estimate of the scale. The
factor is their median, and its relative 1-sigma uncertainty the robust spread (1.4826 ×
MAD) of those ratios over √(number of corners) — corners, not pairs, are the independent
measurements. That uncertainty covers the corners' noise only, not a scale error of the
reconstruction itself (a focal length off by 0.3 % stretches depth by as much). No board,
or fewer than ``min_corners`` triangulated corners, gives None: the caller falls back to a
known distance or the iris.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from analysis.types import ImageArray, InvalidInputError
from reconstruction.types import (
    BoardScale,
    FloatArray,
    IndexArray,
    MeshScale,
    MeshScaleSource,
    PinholeCamera,
)


@dataclass(frozen=True)
class MarkerBoard:
    """A printed ChArUco board: ``squares`` (columns, rows), square and marker sides in mm,
    and the ArUco dictionary (a ``cv2.aruco.DICT_*`` constant)."""

    squares: tuple[int, int] = (7, 5)
    square_mm: float = 15.0
    marker_mm: float = 11.0
    dictionary: int = cv2.aruco.DICT_4X4_50

    def __post_init__(self) -> None:
        if min(self.squares) < 2 or not 0 < self.marker_mm < self.square_mm:
            raise InvalidInputError(
                f"a ChArUco board needs ≥ 2×2 squares and 0 < marker < square, got "
                f"{self.squares} squares, {self.marker_mm} / {self.square_mm} mm"
            )

    def cv_board(self) -> cv2.aruco.CharucoBoard:
        d = cv2.aruco.getPredefinedDictionary(self.dictionary)
        return cv2.aruco.CharucoBoard(self.squares, self.square_mm, self.marker_mm, d)

    def corner_positions(self) -> FloatArray:
        """Board-plane positions (mm, K×3 with z = 0) of the chessboard corners, id order."""
        return np.asarray(self.cv_board().getChessboardCorners(), dtype=np.float64)


@dataclass(frozen=True)
class BoardDetection:
    """One view's detected corners: ids (K,) and pixel positions (K×2, OpenCV pixels)."""

    ids: IndexArray
    pixels: FloatArray


def detect(image: ImageArray, board: MarkerBoard) -> BoardDetection:
    """The ChArUco corners visible in one RGB photo (possibly none)."""
    grey = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2GRAY)
    detector = cv2.aruco.CharucoDetector(board.cv_board())
    corners, ids, _, _ = detector.detectBoard(grey)
    if ids is None or corners is None or len(ids) == 0:
        return BoardDetection(np.zeros(0, np.int64), np.zeros((0, 2)))
    return BoardDetection(
        np.asarray(ids, dtype=np.int64).ravel(),
        np.asarray(corners, dtype=np.float64).reshape(-1, 2),
    )


def triangulate(
    observations: Sequence[tuple[PinholeCamera, FloatArray]],
) -> FloatArray:
    """Linear (DLT) triangulation of one point from (camera, pixel) pairs, ≥ 2 of them."""
    rows = []
    for cam, px in observations:
        p = cam.K @ np.hstack([cam.R, cam.t[:, None]])
        x, y = float(px[0]), float(px[1])
        rows.append(x * p[2] - p[0])
        rows.append(y * p[2] - p[1])
    a = np.asarray(rows)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    _, _, vt = np.linalg.svd(a)
    h = vt[-1]
    return np.asarray(h[:3] / h[3])


def _reproj_errors(
    point: FloatArray, observations: Sequence[tuple[PinholeCamera, FloatArray]]
) -> FloatArray:
    errs = []
    for cam, px in observations:
        uv, z = cam.project(point[None, :])
        errs.append(float(np.linalg.norm(uv[0] - px)) if z[0] > 0 else np.inf)
    return np.asarray(errs)


def _undistort(px: FloatArray, cam: PinholeCamera, k1: float) -> FloatArray:
    if k1 == 0.0 or len(px) == 0:
        return px
    dist = np.array([k1, 0.0, 0.0, 0.0])
    out = cv2.undistortPoints(px.reshape(-1, 1, 2), cam.K, dist, P=cam.K)
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def board_scale(
    images: Sequence[ImageArray],
    cameras: Sequence[PinholeCamera | None],
    board: MarkerBoard,
    *,
    radial_k1: Sequence[float] | None = None,
    gate_px: float = 2.0,
    min_corners: int = 6,
    min_separation_squares: float = 2.0,
) -> BoardScale | None:
    """The millimetre scale of a reconstruction from the board seen in ``images`` (module
    docstring), or None when the board is not seen well enough."""
    if len(images) != len(cameras):
        raise InvalidInputError(f"{len(images)} images but {len(cameras)} cameras")
    k1s = list(radial_k1) if radial_k1 is not None else [0.0] * len(images)
    seen: dict[int, list[tuple[PinholeCamera, FloatArray]]] = {}
    for image, cam, k1 in zip(images, cameras, k1s, strict=True):
        if cam is None:
            continue
        det = detect(image, board)
        pixels = _undistort(det.pixels, cam, k1)
        for cid, px in zip(det.ids.tolist(), pixels, strict=True):
            seen.setdefault(int(cid), []).append((cam, px))

    ids, points = [], []
    for cid, obs in sorted(seen.items()):
        if len(obs) < 2:
            continue
        x = triangulate(obs)
        err = _reproj_errors(x, obs)
        kept = [o for o, e in zip(obs, err, strict=True) if e <= gate_px]
        if len(kept) < 2:
            continue
        if len(kept) < len(obs):
            x = triangulate(kept)
        if float(np.max(_reproj_errors(x, kept))) > gate_px:
            continue
        ids.append(cid)
        points.append(x)
    if len(ids) < min_corners:
        return None

    truth = board.corner_positions()
    pts = np.asarray(points)
    ratios = []
    for a, b in itertools.combinations(range(len(ids)), 2):
        true_mm = float(np.linalg.norm(truth[ids[a]] - truth[ids[b]]))
        if true_mm < min_separation_squares * board.square_mm:
            continue
        measured = float(np.linalg.norm(pts[a] - pts[b]))
        if measured > 0:
            ratios.append(true_mm / measured)
    if not ratios:
        return None
    r = np.asarray(ratios)
    factor = float(np.median(r))
    spread = 1.4826 * float(np.median(np.abs(r - factor)))
    rel = float(spread / factor / np.sqrt(len(ids)))
    scale = MeshScale(
        MeshScaleSource.MARKER_BOARD,
        rel,
        note=(
            f"ChArUco {board.squares[0]}×{board.squares[1]}, {board.square_mm:g} mm squares: "
            f"{len(ids)} corners triangulated, median of {len(r)} corner-pair distances"
        ),
    )
    return BoardScale(
        factor=factor,
        scale=scale,
        n_corners=len(ids),
        n_pairs=len(r),
        corners=pts,
        corner_ids=np.asarray(ids, dtype=np.int64),
    )
