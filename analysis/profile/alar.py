"""The alar crease: a dark valley in the photo just inside the outline, not on it.

The most posterior point of the alar–facial groove is found in the photo as the strongest
dark-valley ridge (Hessian, σ = 0.025 U, U the nasal length) in a box 0.08–0.6 U behind and
up to 0.4 U above subnasale, in the face frame that :mod:`.anatomy` used; a semantic
``alare`` point, when given, narrows the box. The point is the apex of the groove (the
pixel farthest behind the chord between its ends). Confidence, from the ridge's contrast
over the box's median, is capped at :data:`ALAR_MAX_CONFIDENCE`; ``None`` when no groove
stands out.
"""

from __future__ import annotations

from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from analysis.profile.curve import Frame
from analysis.types import FloatArray, ImageArray

Float32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

ALAR_MAX_CONFIDENCE: Final = 0.5
#: Search box around subnasale in the face frame, in nasal lengths: anterior (behind it)
#: and down (above it) ranges.
_ANTERIOR: Final = (-0.60, -0.08)
_DOWN: Final = (-0.40, 0.05)
#: Longer side (px) the crop is reduced to before the Hessian.
_WORK_PX: Final = 96.0


def alar_crease(
    pixels: ImageArray,
    nose_right: bool,
    points: dict[str, tuple[float, float]],
    frame: Frame,
    alare: FloatArray | None = None,
) -> tuple[tuple[float, float], float] | None:
    """The most posterior point of the alar–facial groove and its confidence, or ``None``.

    ``points`` are the outline's points in the nose-toward-+x frame (subnasale, pronasale
    and nasion are needed), ``pixels`` the photo as taken (``nose_right`` says whether it
    must be mirrored), ``alare`` an optional visible-ala hint in the same frame.
    """
    if not all(k in points for k in ("subnasale", "pronasale", "soft_tissue_nasion")):
        return None
    sn = np.asarray(points["subnasale"])
    prn = np.asarray(points["pronasale"])
    u = float(np.hypot(*(prn - np.asarray(points["soft_tissue_nasion"]))))
    if u < 20:
        return None
    a_lo, a_hi = _ANTERIOR[0] * u, _ANTERIOR[1] * u
    d_lo, d_hi = _DOWN[0] * u, _DOWN[1] * u
    corners = np.array(
        [sn + a * frame.anterior + d * frame.down for a in (a_lo, a_hi) for d in (d_lo, d_hi)]
    )
    cropped = _grey_crop(pixels, nose_right, corners)
    if cropped is None:
        return None
    gray, xs0, ys0, scale = cropped
    sigma = max(1.0, 0.025 * u * scale)
    ridge = _valleys(gray, sigma)
    # every crop pixel's centre in photo pixels (nose-toward-+x frame)
    hh, ww = ridge.shape
    yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float64)
    px = xs0 + (xx + 0.5) / scale - 0.5
    py = ys0 + (yy + 0.5) / scale - 0.5
    rel = np.stack([px - sn[0], py - sn[1]], axis=-1)
    ra = rel @ frame.anterior
    rd = rel @ frame.down
    inside = (ra >= a_lo) & (ra <= a_hi) & (rd >= d_lo) & (rd <= d_hi)
    # stay inside the face: behind the silhouette, i.e. away from the backdrop
    if alare is not None:
        da = np.hypot(px - alare[0], py - alare[1])
        inside &= da < 0.35 * u
    groove = _groove(ridge, inside)
    if groove is None:
        return None
    sel, noise = groove
    k_sel = _apex(px[sel], py[sel], frame)
    k = int(np.flatnonzero(sel.ravel())[k_sel])
    ky, kx = np.unravel_index(k, ra.shape)
    contrast = float(ridge[sel].mean()) / noise
    conf = ALAR_MAX_CONFIDENCE * float(np.clip((contrast - 2.0) / 6.0, 0.2, 1.0))
    return (float(px[ky, kx]), float(py[ky, kx])), conf


def _grey_crop(
    pixels: ImageArray, nose_right: bool, corners: FloatArray
) -> tuple[Float32Array, int, int, float] | None:
    """The grey box around ``corners`` (nose-toward-+x frame), reduced to :data:`_WORK_PX`.

    Returns (grey crop, its left and top photo pixel, the reduction factor), or ``None``
    when the box leaves too little of the photo.
    """
    h0, w0 = pixels.shape[:2]
    x0, y0 = np.floor(corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
    xs0, xs1 = max(0, x0), min(w0 - 1, x1)
    ys0, ys1 = max(0, y0), min(h0 - 1, y1)
    if xs1 - xs0 < 8 or ys1 - ys0 < 8:
        return None
    if nose_right:
        crop = pixels[ys0 : ys1 + 1, xs0 : xs1 + 1]
    else:
        crop = pixels[ys0 : ys1 + 1, (w0 - 1) - xs1 : (w0 - 1) - xs0 + 1][:, ::-1]
    gray = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY).astype(np.float32)
    scale = 1.0
    if max(gray.shape) > _WORK_PX:
        scale = _WORK_PX / max(gray.shape)
        gray = np.asarray(
            cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA),
            dtype=np.float32,
        )
    return gray, int(xs0), int(ys0), scale


def _valleys(gray: Float32Array, sigma: float) -> Float32Array:
    """Dark-valley strength: the Hessian's larger eigenvalue where positive, scale-normalised."""
    g = cv2.GaussianBlur(gray, (0, 0), sigma)
    gxx = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3)
    gyy = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3)
    gxy = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3)
    lam = 0.5 * (gxx + gyy) + np.sqrt(0.25 * (gxx - gyy) ** 2 + gxy**2)
    return np.maximum(lam, 0.0) * sigma**2  # type: ignore[no-any-return]


def _groove(ridge: Float32Array, inside: BoolArray) -> tuple[BoolArray, float] | None:
    """The connected set of strong ridge pixels in the box with the most ridge strength,
    and the box's median ridge (the noise it must stand out from); ``None`` without one."""
    vals = ridge[inside]
    if vals.size < 20:
        return None
    noise = float(np.median(vals)) + 1e-6
    # np.float64 or float, left as it comes: the float32 comparison differs between them
    cut: Any = max(np.percentile(vals, 92), 3.0 * noise)
    strong = inside & (ridge > cut)
    if strong.sum() < 4:
        return None
    n_lab, lab, stats, _ = cv2.connectedComponentsWithStats(strong.astype(np.uint8), connectivity=8)
    if n_lab < 2:
        return None
    weight = np.array([ridge[lab == i].sum() for i in range(1, n_lab)])
    best = 1 + int(np.argmax(weight))
    return lab == best, noise


def _apex(gx: FloatArray, gy: FloatArray, frame: Frame) -> int:
    """Which of the groove's pixels is its most posterior point, taken as the curve's apex.

    The pixel farthest behind the chord between the groove's ends: on a groove that runs
    nearly straight for a while, the most posterior pixel would jump along it with a
    little head tilt.
    """
    centred = np.column_stack([gx - gx.mean(), gy - gy.mean()])
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    along = centred @ axis
    e0, e1 = int(np.argmin(along)), int(np.argmax(along))
    normal = np.array([-axis[1], axis[0]])
    if normal @ frame.anterior > 0:
        normal = -normal  # point backward
    behind = (centred - centred[e0]) @ normal
    return int(np.argmax(behind)) if behind.max() > 0 else (e0 + e1) // 2
