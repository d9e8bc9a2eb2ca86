"""The anterior outline of a profile photo's subject: image in, 1-D curve out.

Clinical profile photos are taken against a plain backdrop, so the subject is separated by
colour, without a model. The package entry (:mod:`analysis.profile`) passes the curve to
:mod:`.anatomy`; everything works in a frame where the nose points to +x (the caller
mirrors a left profile).

Method
    The working image is the photo downscaled to :data:`WORK_PX` on its longer side. The
    backdrop is modelled from the border strips on the facing side — the top strip and the
    strip the nose looks at, where only backdrop is expected — as a colour that varies
    linearly across the image (light fall-off), fitted robustly from the median colour on
    (hair or a shoulder touching a strip are rejected as outliers), with its residual colour
    covariance. Each pixel's Mahalanobis distance from that model separates the subject at
    twice the backdrop's own 99th-percentile distance (at least :data:`MIN_THRESHOLD`): a
    threshold set by the backdrop's noise, not by the subject's colours, so that dark
    brows, lips or a beard are not cut out of the face.

    The outer contour of the largest foreground region is walked from the top of the head
    along the facing side down to the image frame (or the region's lowest point). Each
    contour pixel is moved along its normal to where the distance crosses half-way between
    its local inside and outside values (sub-pixel, unbiased for a symmetric edge blur);
    the curve is then resampled at equal arc-length steps (half a working pixel) and
    lightly smoothed (σ = half a working pixel: more rounds the corners at subnasale and
    nasion, and a three-point nasolabial angle opens by several degrees).

    A backdrop is "plain" when at least :data:`MIN_BACKDROP_INLIERS` of the strip pixels
    fit the model and their spread is at most :data:`MAX_BACKDROP_SIGMA` grey levels.
    Otherwise, when the optional MediaPipe selfie segmenter is installed (``embedded``
    extra, ``selfie_segmentation.tflite``), its person probability is used instead: coarser
    edges (256-pixel model), so a lower confidence. Neither → ``None``.

Confidence
    0..1: the fraction of strip pixels that fit the backdrop (or 0.6 for the segmenter),
    times how far the median edge contrast clears :data:`MIN_CONTRAST`.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from analysis.landmarks.base import EMBEDDED, require
from analysis.profile.curve import normals, resample_curve, smooth
from analysis.types import BackendUnavailableError, FloatArray, ImageArray

log = logging.getLogger(__name__)

Float32Array = npt.NDArray[np.float32]

WORK_PX: Final = 512
#: Below this fraction of backdrop-like strip pixels the backdrop is not plain.
MIN_BACKDROP_INLIERS: Final = 0.5
#: Largest colour spread (grey levels, 1 sigma, after the linear fall-off) of a backdrop.
MAX_BACKDROP_SIGMA: Final = 12.0
#: Edge contrast (backdrop-noise units) below which the silhouette is not trusted at all.
MIN_CONTRAST: Final = 5.0
#: Lowest subject threshold (Mahalanobis units; chi with 3 d.o.f. exceeds 4 in 0.7 %).
MIN_THRESHOLD: Final = 6.0
_CLIP: Final = 80.0
_SELFIE_SCALE: Final = 40.0  # person probability → distance-like units


@dataclass(frozen=True)
class Silhouette:
    """The anterior outline, top of the head → neck, nose toward +x.

    ``curve`` is N×2 (x, y) in pixels of the photo (mirrored for a left profile), sampled at
    equal arc-length steps; ``confidence`` 0..1 says how cleanly the subject separated
    from the backdrop; ``method`` is "backdrop" or "selfie".
    """

    curve: FloatArray
    confidence: float
    method: str


def extract_silhouette(pixels: ImageArray, nose_right: bool) -> Silhouette | None:
    """The anterior outline of the photo's largest subject region, or ``None``."""
    h0, w0 = pixels.shape[:2]
    f = min(1.0, WORK_PX / max(h0, w0))
    small = pixels
    if f < 1.0:
        size = (max(16, round(w0 * f)), max(16, round(h0 * f)))
        small = np.asarray(cv2.resize(pixels, size, interpolation=cv2.INTER_AREA), np.uint8)
    if not nose_right:
        small = small[:, ::-1]
    img = np.ascontiguousarray(small, dtype=np.float32)
    h, w = img.shape[:2]
    sx, sy = w / w0, h / h0

    mapped = _distance_map(img)
    if mapped is None:
        return None
    dist, thr, conf, method = mapped
    chain = _chain(dist, thr)
    if chain is None:
        return None
    pts, contrast = chain
    if contrast < MIN_CONTRAST:
        return None
    conf *= float(np.clip((contrast - MIN_CONTRAST) / 10.0, 0.2, 1.0))
    # working pixels → photo pixels (pixel centres)
    pts = np.column_stack(((pts[:, 0] + 0.5) / sx - 0.5, (pts[:, 1] + 0.5) / sy - 0.5))
    curve = resample_curve(pts, 0.5 / min(sx, sy), sigma=0.5 / min(sx, sy))
    if len(curve) < 50:
        return None
    return Silhouette(curve=curve, confidence=conf, method=method)


# --- subject / backdrop -------------------------------------------------------------------


def _distance_map(img: Float32Array) -> tuple[Float32Array, float, float, str] | None:
    """(distance from the backdrop per pixel, subject threshold, confidence, method)."""
    model = _fit_backdrop(img)
    if model is not None:
        coef, chol_inv, conf, noise99 = model
        h, w = img.shape[:2]
        m = chol_inv.astype(np.float32)
        # whitened residual = L⁻¹·img − L⁻¹·(c0 + c1·x/w + c2·y/h)
        white = np.asarray(cv2.transform(img, m), dtype=np.float32)
        off = (m @ coef.T.astype(np.float32)).T  # rows: constant, x, y terms
        xs = np.arange(w, dtype=np.float32) / w
        ys = np.arange(h, dtype=np.float32) / h
        white -= off[0][None, None, :]
        white -= xs[None, :, None] * off[1][None, None, :]
        white -= ys[:, None, None] * off[2][None, None, :]
        d = np.sqrt(np.einsum("ijk,ijk->ij", white, white))
        thr = max(MIN_THRESHOLD, 2.0 * noise99)
        return np.minimum(d, _CLIP), thr, conf, "backdrop"
    prob = _selfie_probability(img)
    if prob is None:
        log.debug("backdrop is not plain and no person segmenter is installed")
        return None
    return prob * _SELFIE_SCALE, 0.5 * _SELFIE_SCALE, 0.6, "selfie"


def _fit_backdrop(img: Float32Array) -> tuple[FloatArray, FloatArray, float, float] | None:
    """Linear colour model of the backdrop from the facing-side border strips.

    Returns (3×3 coefficients — constant, x and y rows; inverse Cholesky factor of the
    residual covariance; confidence from the inlier fraction; 99th percentile of the
    inliers' Mahalanobis distance), or ``None`` when the strips are not a plain backdrop.
    """
    h, w = img.shape[:2]
    bw, bh = max(3, round(0.04 * w)), max(3, round(0.04 * h))
    ys, xs = np.mgrid[0 : round(0.8 * h), w - bw : w]
    yt, xt = np.mgrid[0:bh, round(0.35 * w) : w]
    yy = np.concatenate([ys.ravel(), yt.ravel()])
    xx = np.concatenate([xs.ravel(), xt.ravel()])
    if len(yy) > 6000:
        keep = np.linspace(0, len(yy) - 1, 6000).astype(int)
        yy, xx = yy[keep], xx[keep]
    c = img[yy, xx].astype(np.float64)
    design = np.column_stack([np.ones(len(yy)), xx / w, yy / h])
    # start from the median colour (robust to hair or a shoulder in a strip), generously
    rn = np.sqrt(np.sum((c - np.median(c, axis=0)) ** 2, axis=1))
    inl = rn < max(30.0, 3.0 * 1.4826 * float(np.median(rn)))
    coef = np.zeros((3, 3))
    r = c
    for _ in range(5):
        if inl.sum() < 30:
            return None
        coef = np.linalg.lstsq(design[inl], c[inl], rcond=None)[0]
        r = c - design @ coef
        rn = np.sqrt(np.sum(r * r, axis=1))
        inl = rn < 4.0 * (1.4826 * float(np.median(rn[inl])) + 1.0)
    frac = float(inl.mean())
    if frac < MIN_BACKDROP_INLIERS:
        return None
    cov = np.cov(r[inl].T) + 4.0 * np.eye(3)
    if math.sqrt(float(np.trace(cov)) / 3.0) > MAX_BACKDROP_SIGMA:
        return None  # textured or cluttered: not a backdrop
    chol_inv = np.linalg.inv(np.linalg.cholesky(cov))
    white = np.sqrt(np.sum((r[inl] @ chol_inv.T) ** 2, axis=1))
    conf = min(1.0, (frac - MIN_BACKDROP_INLIERS) / 0.4 + 0.3)
    return coef, chol_inv, conf, float(np.percentile(white, 99))


_SELFIE_LOCK = threading.Lock()
_SELFIE: list[Any] = []  # the loaded segmenter, once


def _selfie_probability(img: Float32Array) -> Float32Array | None:
    """MediaPipe selfie-segmentation person probability, or ``None`` without mediapipe.

    The segmenter (a graph that takes ~0.5 s to start) is loaded once and shared; a
    MediaPipe graph is not re-entrant, hence the lock.
    """
    with _SELFIE_LOCK:
        if not _SELFIE:
            try:
                seg = require("mediapipe.python.solutions.selfie_segmentation", EMBEDDED)
            except BackendUnavailableError as exc:
                log.debug("no person segmenter: %s", exc)
                return None
            _SELFIE.append(seg.SelfieSegmentation(model_selection=0))
        rgb = np.ascontiguousarray(np.clip(img, 0, 255).astype(np.uint8))
        res = _SELFIE[0].process(rgb)
    mask = getattr(res, "segmentation_mask", None)
    if mask is None:
        return None
    return np.asarray(mask, dtype=np.float32)


# --- the outline ------------------------------------------------------------------------------


def _chain(dist: Float32Array, thr: float) -> tuple[FloatArray, float] | None:
    """Sub-pixel anterior outline (working pixels) and its median edge contrast."""
    h, w = dist.shape
    mask = (dist > thr).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    mask = np.asarray(cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel), dtype=np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n < 2:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[best, cv2.CC_STAT_AREA] < 0.02 * h * w:
        return None
    region = (labels == best).astype(np.uint8)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    contour = max(contours, key=len).reshape(-1, 2).astype(np.float64)
    pts = anterior_outline(contour, w, h)
    if pts is None or len(pts) < 30:
        return None
    return _subpixel(pts, dist)


def anterior_outline(contour: FloatArray, width: int, height: int) -> FloatArray | None:
    """The part of a closed contour from the top of the head along its +x side.

    Starts at the topmost point (the rightmost of several, so a head cut by the top edge
    starts where the forehead leaves the frame) and follows the contour toward +x until it
    meets the image frame or reaches its lowest point.
    """
    n = len(contour)
    x, y = contour[:, 0], contour[:, 1]
    top = np.flatnonzero(y == y.min())
    i0 = int(top[np.argmax(x[top])])
    k = max(2, min(20, n // 8))
    ahead = float(np.mean(x[(i0 + np.arange(1, k + 1)) % n]))
    behind = float(np.mean(x[(i0 - np.arange(1, k + 1)) % n]))
    step = 1 if ahead >= behind else -1
    pts = contour[(i0 + step * np.arange(n)) % n]
    on_frame = (
        (pts[:, 0] <= 0) | (pts[:, 0] >= width - 1) | (pts[:, 1] <= 0) | (pts[:, 1] >= height - 1)
    )
    start = int(np.argmax(~on_frame))
    if on_frame[start]:
        return None
    rest = on_frame[start:]
    end = start + (int(np.argmax(rest)) if rest.any() else len(rest))
    pts = pts[start:end]
    if len(pts) < 2:
        return None
    return pts[: int(np.argmax(pts[:, 1])) + 1]


def _subpixel(pts: FloatArray, dist: Float32Array) -> tuple[FloatArray, float]:
    """Moves each contour pixel along its normal to the local half-way crossing."""
    nrm = normals(smooth(pts, 2.0))
    ts = np.linspace(-3.0, 3.0, 13)
    sx = (pts[:, 0:1] + ts[None, :] * nrm[:, 0:1]).astype(np.float32)
    sy = (pts[:, 1:2] + ts[None, :] * nrm[:, 1:2]).astype(np.float32)
    prof = np.asarray(
        cv2.remap(dist, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
        dtype=np.float64,
    )
    inside = prof[:, ts <= -2.0].mean(axis=1)
    outside = prof[:, ts >= 2.0].mean(axis=1)
    d = prof - (0.5 * (inside + outside))[:, None]
    cross = (d[:, :-1] > 0) & (d[:, 1:] <= 0)  # inside → outside between samples j, j+1
    frac = np.where(cross, d[:, :-1] / np.where(cross, d[:, :-1] - d[:, 1:], 1.0), 0.0)
    tc = ts[None, :-1] + frac * (ts[1] - ts[0])
    score = np.where(cross, np.abs(tc - 0.5), np.inf)  # the crossing nearest the pixel edge
    rows = np.arange(len(pts))
    j = np.argmin(score, axis=1)
    t = np.where(np.isfinite(score[rows, j]), np.clip(tc[rows, j], -2.5, 2.5), 0.5)
    return pts + t[:, None] * nrm, float(np.median(inside - outside))
