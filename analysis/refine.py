"""Landmark refinement by bilateral mirror registration: give back the asymmetry the
landmark model took away.

Why
    A landmark model regresses toward the faces it was trained on, which are on average
    symmetric. On real photos with known one-sided warps (``tests/bench/bench_asymmetry``)
    MediaPipe reports ≈ 0.75 of a mouth-corner drop, ≈ 0.7 of a brow lift, ≈ 0.5 of a
    lowered upper lid and ≈ 0.25 of a sideways chin or nasal tip; dlib ≈ 0.7, 0.65, ≈ 0,
    0.6 and 0.7. The photo itself holds the answer: a face is nearly mirror-symmetric, so
    one side's image, mirrored, is a template for the other side's.

How
    1. The face is resampled into a canonical frame (:func:`canonical_frame`): the one
       face frame of :mod:`analysis.geometry` (``v`` down the robust mirror axis of the
       upper face, ``u`` across it, origin at the endocanthia's midpoint on the axis: the
       midline the deviation measurements use), at :data:`CANON_IPD_PX`
       pixels per interpupillary distance (IPD), with its mirror image about the midline
       column
       (:class:`CanonicalImages`: grey levels, or their derivatives where shading misleads).
    2. For each :class:`Feature` (mouth corners, each brow point, upper and lower lids,
       chin, nasal tip) a Gaussian-weighted window of the *mirror* image, centred on the
       mirrored left feature, is matched against the canonical image around the right
       feature (zero-mean normalised cross-correlation, ``cv2.matchTemplate`` with a weight
       mask, parabolic sub-pixel peak), then matched again with both windows re-centred
       where the first match put the features. The best shift ``t`` is where the right
       feature lies relative to the mirrored left one (``t = R − mirror(L)``); for a
       midline point, twice its offset from the midline.
    3. The model's own relative offset ``t_model`` is replaced by the image's: each right
       point moves by ``(t − t_model)/2`` and its left counterpart by the mirror of
       ``−(t − t_model)/2``, so the pair's mean (what the model is good at) stays and the
       model's shape is kept; a midline point moves to its registered offset. Only the
       well-conditioned components are corrected (:attr:`Feature.components`): heights
       for brows and lids, both for the mouth corners, the sideways offset for midline
       points. The left/right *split* of an asymmetry is therefore the model's (kept
       mean); the asymmetry itself is the image's.

Robustness
    A feature is left as the model gave it when the match is unsure: window outside the
    photo or without texture, correlation below the feature's ``min_score``, best match on
    the border of the search range, or (per-point features) fewer than all but one of its
    windows matched. Near-equal rival peaks (a symmetric structure matched one part over)
    are settled in favour of the one nearest the model's estimate. A correction is applied
    whole or not at all: the match must clear ``min_score`` by :data:`SURE_MARGIN`, and for
    the features that can match one part over (lids, nasal tip) the window sizes
    (:data:`MULTI_SCALE`, :data:`TIP_SCALES`) must agree within :data:`AGREE_IPD`. A
    partial correction (the fade-in this module once had) moves a point by a share of a
    shift whose direction nothing checked: on unseen bearded faces it reported −3.53 mm
    for a 1.86 mm chin shift the model alone put at −0.02. The nasal tip is read at its
    tightest window, from the trend over its window sizes (``read_smallest``): wider
    windows also see the alae, which a tip change moves less.
    The chin, whose beard, shadow or double chin can hold a second symmetric structure,
    searches wide (so a large deviation is not cut off at the border) but must pass a
    reverse match (``reverse_tol``) and may not move more than ``max_correction`` (5 mm
    at a 63 mm IPD) from the model — twice that when the match is strong
    (:data:`STRONG_MATCH_SCORE`): a clear chin 6–10 mm off is a finding, not a doubt.

    A moved point keeps the model's confidence; the refinement is named in ``sources``
    (:data:`IDENTITY`). :func:`refine_report` says, per feature, what was found, whether
    it was applied and why a feature was not refined. Only frontal-looking faces are refined (eye
    contours present, eyes at least :data:`MIN_IPD_PX` apart, eye widths within
    :data:`MAX_EYE_WIDTH_RATIO` of each other).

Confirmation
    Where the photo did not confirm a feature (not refined, or the face not refinable at
    all) its points are the model's, unchanged, and named in
    ``SemanticLandmarks.unconfirmed``: the model's value understates asymmetry. The
    measurement engine flags the asymmetry measurements built on them
    ``asymmetry_unconfirmed``. A match on one photo is necessary, not sufficient:
    :mod:`analysis.confirm` repeats the model and this refinement on perturbed copies of
    the photo and confirms a value only where every copy matched and the values agree.

Cost: ≈ 15–19 ms per face on one core (≈ 45 correlations of small windows, in canonical
images at two resolutions).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Any, Final

import cv2
import numpy as np
import numpy.typing as npt

from analysis.geometry import frame_of
from analysis.landmark_names import IBUG68, LEFT_EYE, RIGHT_BROW_INDICES, RIGHT_EYE, mirror_pair
from analysis.types import FloatArray, ImageArray, ModelIdentity, Photo, SemanticLandmarks

Image32 = npt.NDArray[np.float32]

log = logging.getLogger(__name__)

CANON_IPD_PX: Final = 96.0
#: The midline points (chin, nasal tip) are matched at a coarser resolution: their windows
#: then see the lobule's and the chin's outline rather than skin texture, which a side light
#: or a re-encode changes on one side only (bench_asymmetry: the nasal tip confirmed on 32
#: instead of 16 of 45 values at the same accuracy). The lids and brows need the finer one.
MIDLINE_IPD_PX: Final = 80.0
#: Canonical image: from −HALF_WIDTH to +HALF_WIDTH IPD across, TOP to BOTTOM IPD down
#: from the endocanthion midpoint.
HALF_WIDTH_IPD: Final = 1.45
TOP_IPD: Final = -1.0
BOTTOM_IPD: Final = 2.6
MIN_IPD_PX: Final = 20.0
#: A correction is applied (whole) only when the match clears the feature's min_score by
#: this much; below, the points stay the model's (where the former fade-in reached full).
SURE_MARGIN: Final = 0.15
#: Registration passes: the second re-centres both windows where the first found the
#: features and searches SECOND_PASS_SEARCH of the first range around that.
REFINE_PASSES: Final = 2
SECOND_PASS_SEARCH: Final = 0.4
#: Window sizes (× the feature's sigma) whose answers must agree within AGREE_IPD (else
#: nothing is applied), for the features that can match one part over (midline points, lids).
MULTI_SCALE: Final = (0.75, 1.0, 1.4)
AGREE_IPD: Final = 0.02
MAX_EYE_WIDTH_RATIO: Final = 1.35
#: The nasal tip's window sizes: tighter than MULTI_SCALE, so the lobule (which moves with
#: the tip) outweighs the alar creases (which move ≈ 0.75 as much).
TIP_SCALES: Final = (0.85, 1.0, 1.2)
#: A match at least this strong is not a beard, shadow or double chin matched one part
#: over (those scored 0.39–0.76 on the bench's photos, a clear chin 0.85–0.94): the
#: feature's ``max_correction`` is multiplied by STRONG_MATCH_CAP_FACTOR, so that a large
#: deviation the photo shows clearly is measured rather than refused.
STRONG_MATCH_SCORE: Final = 0.85
STRONG_MATCH_CAP_FACTOR: Final = 2.0

IDENTITY: Final = ModelIdentity(
    id="facenode-mirror-refine",
    name="facenode landmark refinement by bilateral mirror registration",
    version="1",
    licence="facenode (own code)",
    commercial_use=True,
)


@dataclass(frozen=True)
class Feature:
    """One region registered against its mirror image.

    ``pairs`` are (subject's right, subject's left) point names; a midline point is paired
    with itself. Sizes are in IPD: ``half_size`` of the window (u, v); ``sigma`` of its
    Gaussian weight along u, upward and downward; ``search`` the largest correction of
    the relative offset (u, v); ``offset`` of the window centre from the points (u, v).
    ``per_pair`` registers each pair in its own window (for features whose points can
    move by different amounts, like a brow's ends), else one window covers the feature.
    ``components`` says which parts of the correction are applied: "u", "v" or "uv".
    ``rep`` is the :class:`CanonicalImages` representation matched; ``min_score`` the
    correlation a match needs; ``min_margin`` how close a rival peak must come to count
    as one; ``scales`` the window sizes (× ``sigma``) whose answers must agree.
    ``reverse_tol`` (IPD, 0 = off): the match is repeated the other way round — the
    photo's window sought in the mirror — and must land back within this distance.
    ``max_correction`` (IPD): a larger disagreement between photo and model is not
    trusted either way (a wide search can lock onto a second symmetric structure); a
    strong match may disagree more (:func:`max_correction`).
    ``ipd_px``: the resolution of the canonical images it is matched in (px per IPD).
    ``read_smallest``: the answer is read at the smallest window size, from the trend over
    ``scales``, not their median (the nasal tip: see :func:`_read_at_smallest`).
    """

    name: str
    pairs: tuple[tuple[str, str], ...]
    half_size: tuple[float, float]
    sigma: tuple[float, float, float]
    search: tuple[float, float]
    components: str
    offset: tuple[float, float] = (0.0, 0.0)
    per_pair: bool = False
    rep: str = "grey"
    min_score: float = 0.5
    min_margin: float = 0.02
    scales: tuple[float, ...] = (1.0,)
    reverse_tol: float = 0.0
    max_correction: float = math.inf
    ipd_px: float = CANON_IPD_PX
    read_smallest: bool = False

    @property
    def midline(self) -> bool:
        return all(r == left for r, left in self.pairs)


FEATURES: Final[tuple[Feature, ...]] = (
    Feature(
        "mouth_corners",
        (mirror_pair(48), mirror_pair(60)),
        half_size=(0.14, 0.12),
        sigma=(0.07, 0.06, 0.06),
        search=(0.12, 0.12),
        components="uv",
    ),
    Feature(
        "brows",
        tuple(mirror_pair(i) for i in RIGHT_BROW_INDICES),
        half_size=(0.12, 0.12),
        sigma=(0.06, 0.06, 0.06),
        search=(0.1, 0.08),
        components="v",
        per_pair=True,
    ),
    # The upper lid's window is narrow across (σu 0.05 IPD, the margin between iBUG 37 and
    # 38 that the fissure height reads) and short below the margin (σ 0.015 IPD): a ptosis
    # lowers the margin over a fixed iris, so the band just below it and the margin's
    # tapering ends toward the canthi move less than the margin itself. With (0.1, 0.04,
    # 0.025) the match read 0.81 of a lowered margin on the tuning set (same landmarks,
    # warp vs none); bench_asymmetry (tuning): fissure gain confirmed 0.86 → 0.89, over all
    # frontal values 0.78 → 0.86, coverage 56 → 66 %, confirmed noise 0.12 → 0.14 mm.
    Feature(
        "upper_lids",
        (mirror_pair(37), mirror_pair(38)),
        half_size=(0.16, 0.08),
        sigma=(0.05, 0.04, 0.015),
        search=(0.1, 0.05),
        components="v",
        scales=MULTI_SCALE,
    ),
    Feature(
        "lower_lids",
        (mirror_pair(41), mirror_pair(40)),
        half_size=(0.16, 0.08),
        sigma=(0.1, 0.015, 0.04),
        search=(0.1, 0.05),
        components="v",
        scales=MULTI_SCALE,
    ),
    Feature(
        "chin",
        (mirror_pair(8),),
        half_size=(0.4, 0.25),
        sigma=(0.22, 0.12, 0.06),
        search=(0.4, 0.06),
        components="u",
        offset=(0.0, -0.05),
        rep="grad",
        min_score=0.3,
        reverse_tol=0.02,
        max_correction=0.08,
        ipd_px=MIDLINE_IPD_PX,
    ),
    Feature(
        "nasal_tip",
        (mirror_pair(30),),
        half_size=(0.16, 0.16),
        sigma=(0.0525, 0.06, 0.06),
        search=(0.25, 0.06),
        components="u",
        offset=(0.0, 0.05),
        rep="grad",
        min_score=0.6,
        scales=TIP_SCALES,
        ipd_px=MIDLINE_IPD_PX,
        read_smallest=True,
    ),
)


@dataclass(frozen=True)
class CanonicalFrame:
    """Image ↔ canonical coordinates: X = A + k·(p−o)·u, Y = Y0 + k·(p−o)·v."""

    origin: FloatArray
    u: FloatArray
    v: FloatArray
    k: float  # canonical px per image px
    width: int
    height: int
    y0: float
    ipd_px: float = CANON_IPD_PX  # canonical px per interpupillary distance

    @property
    def axis_x(self) -> float:
        """Canonical column of the midline (the mirror maps X to 2·axis_x − X)."""
        return (self.width - 1) / 2.0

    def to_canon(self, p: FloatArray) -> FloatArray:
        r = np.asarray(p, dtype=np.float64) - self.origin
        return np.array(
            [self.axis_x + self.k * float(r @ self.u), self.y0 + self.k * float(r @ self.v)]
        )

    def displacement_to_image(self, d: FloatArray) -> FloatArray:
        return (d[0] * self.u + d[1] * self.v) / self.k  # type: ignore[no-any-return]

    def affine_canon_to_image(self) -> FloatArray:
        """2×3 matrix mapping canonical (X, Y, 1) to image (x, y)."""
        a = np.column_stack([self.u / self.k, self.v / self.k])
        t = self.origin - a @ np.array([self.axis_x, self.y0])
        return np.column_stack([a, t])


@dataclass(frozen=True)
class FeatureResult:
    """What the registration found for one feature, in canonical px (at the feature's
    ``ipd_px``) and image px."""

    feature: str
    applied: bool
    reason: str
    score: float
    weight: float  # 1 when the image's correction was applied (whole), else 0
    correction_px: tuple[float, float]  # image px, of the right point (left gets its mirror)
    relative_model: tuple[float, float]  # t_model (u, v) in canonical px
    relative_image: tuple[float, float]  # t from the image (u, v) in canonical px


@dataclass(frozen=True)
class RefineReport:
    """The refined landmarks, each feature's evidence, and why nothing was done (if so)."""

    semantic: SemanticLandmarks
    features: tuple[FeatureResult, ...]
    frame: CanonicalFrame | None
    reason: str = ""


def refine(photo: Photo, semantic: SemanticLandmarks) -> SemanticLandmarks:
    """The landmarks with bilateral features corrected by mirror registration (see module)."""
    return refine_report(photo, semantic).semantic


def unrefined(semantic: SemanticLandmarks) -> SemanticLandmarks:
    """The landmarks as the model gave them, every refinable point marked unconfirmed
    (refinement switched off: nothing checked the model's asymmetry against the photo)."""
    names = {n for f in FEATURES for pair in f.pairs for n in pair if n in semantic.points}
    return _unconfirm(semantic, names)


def refine_report(
    photo: Photo, semantic: SemanticLandmarks, features: tuple[Feature, ...] = FEATURES
) -> RefineReport:
    """:func:`refine` with the per-feature evidence."""
    pts = {k: np.asarray(v, dtype=np.float64) for k, v in semantic.points.items()}
    frame, why = canonical_frame(pts, photo.width, photo.height)
    if frame is None:
        log.debug("refinement skipped: %s", why)
        every = {n for f in features for pair in f.pairs for n in pair if n in pts}
        return RefineReport(_unconfirm(semantic, every), (), None, why)
    views: dict[float, tuple[CanonicalFrame, CanonicalImages]] = {}
    new_points = dict(semantic.points)
    results: list[FeatureResult] = []
    unconfirmed: set[str] = set()
    for feat in features:
        if feat.ipd_px not in views:  # the same face at each resolution the features use
            f: CanonicalFrame | None = frame
            if feat.ipd_px != frame.ipd_px:
                f, _ = canonical_frame(pts, photo.width, photo.height, feat.ipd_px)
            assert f is not None  # same landmarks, same checks as above
            views[feat.ipd_px] = (f, CanonicalImages(photo.pixels, f))
        res, moves = _register(feat, pts, *views[feat.ipd_px])
        results.append(res)
        if not res.applied:
            unconfirmed.update(n for pair in feat.pairs for n in pair if n in pts)
        if not res.applied:
            continue
        for name, delta in moves.items():
            x, y = new_points[name]
            new_points[name] = (float(x + delta[0]), float(y + delta[1]))
    if not any(r.applied for r in results):
        out = _unconfirm(semantic, unconfirmed)
        return RefineReport(out, tuple(results), frame, "no confident feature")
    sources = semantic.sources if IDENTITY in semantic.sources else (*semantic.sources, IDENTITY)
    out = replace(semantic, points=new_points, sources=sources)
    return RefineReport(_unconfirm(out, unconfirmed), tuple(results), frame)


def _unconfirm(semantic: SemanticLandmarks, names: set[str]) -> SemanticLandmarks:
    """``semantic`` with ``names`` added to the points the photo did not confirm."""
    if not names:
        return semantic
    return replace(semantic, unconfirmed=semantic.unconfirmed | frozenset(names))


def canonical_frame(
    pts: dict[str, FloatArray], width: int, height: int, ipd_px: float = CANON_IPD_PX
) -> tuple[CanonicalFrame | None, str]:
    """The canonical frame of a frontal-looking face at ``ipd_px`` canonical px per IPD,
    or None and why not."""
    if not all(k in pts for k in (*RIGHT_EYE, *LEFT_EYE)):
        return None, "eye contours missing"
    face = frame_of(pts)
    ipd = float(face.ipd) if face is not None else 0.0
    if face is None or not ipd >= MIN_IPD_PX:
        return None, f"eyes {ipd:.1f} px apart (< {MIN_IPD_PX})"
    wr = float(np.hypot(*(pts[IBUG68[39]] - pts[IBUG68[36]])))
    wl = float(np.hypot(*(pts[IBUG68[45]] - pts[IBUG68[42]])))
    if min(wr, wl) <= 0 or max(wr, wl) / min(wr, wl) > MAX_EYE_WIDTH_RATIO:
        return None, "eye widths disagree: the face is turned"
    k = ipd_px / ipd
    w = 2 * int(math.ceil(HALF_WIDTH_IPD * ipd_px))
    h = int(math.ceil((BOTTOM_IPD - TOP_IPD) * ipd_px))
    frame = CanonicalFrame(face.origin, face.u, face.v, k, w, h, -TOP_IPD * ipd_px, ipd_px)
    return frame, ""


def _footprint(
    m: FloatArray, width: int, height: int, shape: tuple[int, ...], pad: float
) -> tuple[int, int, int, int]:
    """The photo's pixel box (x0, y0, x1, y1) under the canonical image of ``width`` ×
    ``height`` mapped by ``m`` (canonical → photo), grown by ``pad`` px, clipped to the photo.
    A canonical pixel then maps inside the box exactly when it maps inside the photo."""
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], float)
    xy = corners @ m.T
    lo = np.floor(xy.min(axis=0) - pad).astype(int)
    hi = np.ceil(xy.max(axis=0) + pad).astype(int) + 1
    h, w = shape[:2]
    x0, y0 = int(np.clip(lo[0], 0, w - 1)), int(np.clip(lo[1], 0, h - 1))
    return x0, y0, int(np.clip(hi[0], x0 + 1, w)), int(np.clip(hi[1], y0 + 1, h))


class CanonicalImages:
    """The face in the canonical frame and its mirror, in the representations features use.

    ``grey``: intensity. ``dx`` / ``dy``: its horizontal / vertical derivative (Scharr after
    a 1 px blur); the mirror of ``dx`` changes sign, since mirroring reverses the horizontal.
    ``grad``: both derivatives as two channels. Derivatives ignore the slow shading a side
    light puts across a face and weigh the edges that fix a feature's position.
    """

    def __init__(self, pixels: ImageArray, frame: CanonicalFrame) -> None:
        # Only the part of the photo the canonical frame covers is converted and blurred:
        # on a 24-MP photo the whole-photo work cost ≈ 60 ms per resolution.
        blur = 0.5 / frame.k if frame.k < 0.5 else 0.0  # downsampling by > 2: low-pass first
        m = frame.affine_canon_to_image()
        x0, y0, x1, y1 = _footprint(m, frame.width, frame.height, pixels.shape, 3 * blur + 2)
        grey = cv2.cvtColor(pixels[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
        if blur:
            grey = cv2.GaussianBlur(grey, (0, 0), blur)
        m = m - np.array([[0.0, 0.0, x0], [0.0, 0.0, y0]])  # canonical → crop coordinates
        canon = cv2.warpAffine(
            grey.astype(np.float32),
            m,
            (frame.width, frame.height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        ones = np.ones(grey.shape, dtype=np.uint8)
        inside = cv2.warpAffine(
            ones, m, (frame.width, frame.height), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
        )
        self.valid = inside.astype(bool)
        self.valid_mirror = np.ascontiguousarray(self.valid[:, ::-1])
        self.grey: Image32 = np.asarray(canon, dtype=np.float32)
        self.frame = frame
        self._reps: dict[str, tuple[Image32, Image32]] = {}

    def rep(self, name: str) -> tuple[Image32, Image32]:
        """(canonical, mirror) in representation ``name``."""
        if name not in self._reps:
            self._reps[name] = self._make(name)
        return self._reps[name]

    def _make(self, name: str) -> tuple[Image32, Image32]:
        if name == "grey":
            return self.grey, np.ascontiguousarray(self.grey[:, ::-1])
        smooth = cv2.GaussianBlur(self.grey, (0, 0), 1.0)
        dx: Image32 = np.asarray(cv2.Scharr(smooth, cv2.CV_32F, 1, 0), dtype=np.float32)
        dy: Image32 = np.asarray(cv2.Scharr(smooth, cv2.CV_32F, 0, 1), dtype=np.float32)
        mdx = np.ascontiguousarray(-dx[:, ::-1])
        mdy = np.ascontiguousarray(dy[:, ::-1])
        if name == "dx":
            return dx, mdx
        if name == "dy":
            return dy, mdy
        if name == "grad":
            both = np.ascontiguousarray(np.dstack([dx, dy]), dtype=np.float32)
            return both, np.ascontiguousarray(np.dstack([mdx, mdy]), dtype=np.float32)
        raise ValueError(f"unknown representation {name!r}")


def _register(
    feat: Feature,
    pts: dict[str, FloatArray],
    frame: CanonicalFrame,
    images: CanonicalImages,
) -> tuple[FeatureResult, dict[str, FloatArray]]:
    """Register one feature; the result and the image-pixel moves of its points."""
    if not all(r in pts and left in pts for r, left in feat.pairs):
        return _failed(feat, "points missing", 0.0, np.zeros(2)), {}
    right = np.array([frame.to_canon(pts[r]) for r, _ in feat.pairs])
    left_m = np.array([frame.to_canon(pts[left]) for _, left in feat.pairs])
    left_m[:, 0] = 2 * frame.axis_x - left_m[:, 0]  # mirror(L)
    tms = right - left_m  # the model's relative offsets t_model, per pair
    tm = tms.mean(axis=0)
    # the template is centred on the mirrored left feature, the search on the right one
    centres = left_m + np.array(feat.offset) * frame.ipd_px
    if feat.per_pair:
        windows = [(centres[i], tms[i]) for i in range(len(feat.pairs))]
    else:
        windows = [(centres.mean(axis=0), tm)]
    found: dict[int, tuple[FloatArray, float, bool]] = {}  # window → t, score, sizes agree
    first_failure = ("", 0.0)
    for i, (centre, t_model) in enumerate(windows):
        t, score, why, agree = _match_scales(feat, images, centre, t_model)
        if t is None:
            first_failure = first_failure if first_failure[0] else (why, score)
            continue
        found[i] = (t, score, agree)
    if len(found) < _quorum(len(windows)):
        return _failed(feat, first_failure[0], first_failure[1], tm), {}
    score = float(np.mean([f[1] for f in found.values()]))
    if score < feat.min_score + SURE_MARGIN:
        return _failed(feat, f"unsure (score {score:.2f} < {feat.min_score + SURE_MARGIN:.2f})",
                       score, tm), {}  # fmt: skip
    if not all(f[2] for f in found.values()):
        return _failed(feat, "window sizes disagree", score, tm), {}
    corr = {i: _masked((f[0] - windows[i][1]) / 2.0, feat.components) for i, f in found.items()}
    mean_corr: FloatArray = np.mean(np.array(list(corr.values())), axis=0)
    disagree = float(np.abs(mean_corr).max()) / frame.ipd_px
    cap = max_correction(feat, score)
    if disagree > cap:
        why = f"photo and model disagree by {disagree:.3f} IPD (> {cap:.2f} at score {score:.2f})"
        return _failed(feat, why, score, tm), {}
    deltas: list[FloatArray]
    if feat.per_pair:
        deltas = [corr.get(i, mean_corr) for i in range(len(windows))]
    else:
        deltas = [mean_corr] * len(feat.pairs)
    moves: dict[str, FloatArray] = {}
    for (r, left_name), d in zip(feat.pairs, deltas, strict=True):
        moves[r] = frame.displacement_to_image(d)
        if left_name != r:  # the mirror of the right point's move
            moves[left_name] = frame.displacement_to_image(np.array([d[0], -d[1]]))
    first = moves[feat.pairs[0][0]]
    t_img = tm + 2.0 * mean_corr
    res = FeatureResult(
        feat.name, True, "", score, 1.0, (float(first[0]), float(first[1])),
        (float(tm[0]), float(tm[1])), (float(t_img[0]), float(t_img[1])),
    )  # fmt: skip
    return res, moves


def max_correction(feat: Feature, score: float) -> float:
    """The largest photo–model disagreement (IPD) trusted at this match score."""
    return feat.max_correction * (STRONG_MATCH_CAP_FACTOR if score >= STRONG_MATCH_SCORE else 1.0)


def _quorum(n: int) -> int:
    """Windows (or window sizes) that must match: all of 1–2, all but one of 3–5."""
    return n if n <= 2 else n - 1


def _failed(feat: Feature, reason: str, score: float, tm: FloatArray) -> FeatureResult:
    return FeatureResult(
        feat.name, False, reason, score, 0.0, (0.0, 0.0), (float(tm[0]), float(tm[1])),
        (math.nan, math.nan),
    )  # fmt: skip


def _match_scales(
    feat: Feature, images: CanonicalImages, centre: FloatArray, t_model: FloatArray
) -> tuple[FloatArray | None, float, str, bool]:
    """:func:`_match_twice` with the window's Gaussian at several sizes (``feat.scales``).

    A symmetric structure can match one part over at one window size but not at all of
    them: the median answer is kept, with whether the sizes agree within :data:`AGREE_IPD`
    (if not, the feature stays as the model gave it). With ``feat.read_smallest`` and
    every size matched, the answer is instead the straight line through (size², answer)
    read at the smallest size (:func:`_read_at_smallest`).
    """
    ts: list[FloatArray] = []
    sizes: list[float] = []
    scores: list[float] = []
    why = ""
    for k in feat.scales:
        sig = (feat.sigma[0] * k, feat.sigma[1] * k, feat.sigma[2] * k)
        t, score, w = _match_twice(replace(feat, sigma=sig), images, centre, t_model)
        scores.append(score)
        if t is None:
            why = why or w
        else:
            ts.append(t)
            sizes.append(k)
    if len(ts) < _quorum(len(feat.scales)):
        return None, float(np.median(scores)), why, False
    t_med = np.median(np.array(ts), axis=0)
    spread = max(float(np.abs(_masked(t - t_med, feat.components)).max()) for t in ts)
    agree = spread <= AGREE_IPD * images.frame.ipd_px
    answer = t_med
    if feat.read_smallest and len(ts) == len(feat.scales) >= 3:
        answer = _read_at_smallest(np.array(sizes), np.array(ts))
    return answer, float(np.median(scores)), "", agree


def _read_at_smallest(sizes: FloatArray, ts: FloatArray) -> FloatArray:
    """The least-squares line through (size², t) per component, at the smallest size.

    Why: a larger window mixes in structures that a one-sided change moves less (around
    the nasal tip, the alae); the answers drift with window size, and the line reads that
    drift at the tightest window, with the other sizes averaging its noise. The sizes
    have already agreed within :data:`AGREE_IPD`, which bounds what this can change.
    """
    s2 = sizes.astype(np.float64) ** 2
    design = np.column_stack([np.ones_like(s2), s2])
    coef, *_ = np.linalg.lstsq(design, ts, rcond=None)
    return np.asarray(coef[0] + coef[1] * s2.min(), dtype=np.float64)


def _match_twice(
    feat: Feature, images: CanonicalImages, centre: FloatArray, t_model: FloatArray
) -> tuple[FloatArray | None, float, str]:
    """Register, then register again with both windows re-centred on the features where
    the first pass found them, so that where the model put its points matters less."""
    t, score, why = _match(feat, images, centre, t_model)
    if t is None or REFINE_PASSES < 2:
        return t, score, why
    shift = _masked((t - t_model) / 2.0, feat.components)
    t2, score2, _ = _match(feat, images, centre - shift, t, SECOND_PASS_SEARCH)
    t, score, centre = (t2, score2, centre - shift) if t2 is not None else (t, score, centre)
    if feat.reverse_tol > 0:
        back, _, _ = _match(feat, images, centre + t, -t, SECOND_PASS_SEARCH, swap=True)
        if back is None:
            return None, score, "the reverse match failed"
        miss = float(np.abs(_masked(back + t, feat.components)).max())
        s = images.frame.ipd_px
        if miss > feat.reverse_tol * s:
            return None, score, f"the reverse match disagrees by {miss / s:.3f} IPD"
    return t, score, ""


def _masked(d: FloatArray, components: str) -> FloatArray:
    out = np.array(d, dtype=np.float64)
    if "u" not in components:
        out[0] = 0.0
    if "v" not in components:
        out[1] = 0.0
    return out


def _match(
    feat: Feature,
    images: CanonicalImages,
    centre: FloatArray,
    t_model: FloatArray,
    search_scale: float = 1.0,
    swap: bool = False,
) -> tuple[FloatArray | None, float, str]:
    """Where the mirror image's window around ``centre`` lies in the canonical image,
    relative to ``centre``: the relative offset ``t`` (None, score, why when unsure).
    ``swap`` exchanges the roles: the canonical image's window, sought in the mirror."""
    s = images.frame.ipd_px
    hx, hy = (int(round(feat.half_size[0] * s)), int(round(feat.half_size[1] * s)))
    rx = max(2, int(math.ceil(feat.search[0] * s * search_scale)))
    ry = max(2, int(math.ceil(feat.search[1] * s * search_scale)))
    cx, cy = int(round(centre[0])), int(round(centre[1]))
    sx, sy = int(round(centre[0] + t_model[0])), int(round(centre[1] + t_model[1]))
    t_box = (cx - hx, cy - hy, 2 * hx + 1, 2 * hy + 1)
    a_box = (sx - hx - rx, sy - hy - ry, 2 * (hx + rx) + 1, 2 * (hy + ry) + 1)
    valid_t, valid_a = images.valid_mirror, images.valid
    src, dst = images.rep(feat.rep)[::-1]
    grey_t = images.grey[:, ::-1]
    if swap:
        valid_t, valid_a, src, dst, grey_t = valid_a, valid_t, dst, src, images.grey
    t_ok = _crop(valid_t, *t_box)
    a_ok = _crop(valid_a, *a_box)
    if t_ok is None or a_ok is None or not t_ok.all() or not a_ok.all():
        return None, 0.0, "window outside the photo"
    tmpl = _crop(src, *t_box)
    area = _crop(dst, *a_box)
    assert tmpl is not None and area is not None
    if float(_crop(grey_t, *t_box).std()) < 1.0:  # type: ignore[union-attr]
        return None, 0.0, "no texture in the window"
    gy, gx = np.mgrid[-hy : hy + 1, -hx : hx + 1].astype(np.float64)
    gx -= centre[0] - cx  # keep the weight centred on the true centre
    gy -= centre[1] - cy
    su = feat.sigma[0] * s
    sv = np.where(gy < 0, feat.sigma[1], feat.sigma[2]) * s
    weight = np.exp(-0.5 * ((gx / su) ** 2 + (gy / sv) ** 2)).astype(np.float32)
    raw = cv2.matchTemplate(area, tmpl, cv2.TM_CCOEFF_NORMED, mask=weight)
    ncc: FloatArray = np.nan_to_num(np.asarray(raw, dtype=np.float64), nan=-1.0)
    iy, ix = _pick_peak(ncc, feat, rx, ry)
    score = float(ncc[iy, ix])
    on_u = ix in (0, ncc.shape[1] - 1)
    on_v = iy in (0, ncc.shape[0] - 1)
    if (on_u and "u" in feat.components) or (on_v and "v" in feat.components):
        return None, score, "best match on the border of the search range"
    if score < feat.min_score:
        return None, score, f"weak match (score {score:.2f} < {feat.min_score})"
    fx = ix + (0.0 if on_u else _parabola(ncc[iy, ix - 1], ncc[iy, ix], ncc[iy, ix + 1]))
    fy = iy + (0.0 if on_v else _parabola(ncc[iy - 1, ix], ncc[iy, ix], ncc[iy + 1, ix]))
    # matched window centre in canon: (sx - rx + fx, sy - ry + fy); template centre (cx, cy)
    return np.array([sx - rx + fx - cx, sy - ry + fy - cy]), score, ""


def _pick_peak(ncc: FloatArray, feat: Feature, rx: int, ry: int) -> tuple[int, int]:
    """The correlation peak to trust: the best one, or — when other distinct peaks come
    within ``feat.min_margin`` of it (a symmetric structure matched one part over) — the
    one of those nearest to the model's estimate (the search centre, (ry, rx)).

    Distance is taken along the applied direction(s) only, so that a ridge along an
    ignored direction (a brow's length, a lid's edge) does not count as a rival.
    """
    best = float(ncc.max())
    local_max = ncc >= cv2.dilate(ncc, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(local_max & (ncc >= best - feat.min_margin))
    if len(ys) == 0:
        iy, ix = np.unravel_index(int(np.argmax(ncc)), ncc.shape)
        return int(iy), int(ix)
    du = (xs - rx) if "u" in feat.components else np.zeros(len(xs))
    dv = (ys - ry) if "v" in feat.components else np.zeros(len(ys))
    dist = du.astype(np.float64) ** 2 + dv.astype(np.float64) ** 2
    order = np.lexsort((-ncc[ys, xs], dist))  # nearest first, then the higher
    return int(ys[order[0]]), int(xs[order[0]])


def _crop(img: npt.NDArray[Any], x0: int, y0: int, w: int, h: int) -> npt.NDArray[Any] | None:
    if x0 < 0 or y0 < 0 or x0 + w > img.shape[1] or y0 + h > img.shape[0]:
        return None
    return np.ascontiguousarray(img[y0 : y0 + h, x0 : x0 + w])


def _parabola(a: float, b: float, c: float) -> float:
    """Offset of the vertex of the parabola through (−1, a), (0, b), (1, c)."""
    den = a - 2 * b + c
    if not den < 0:
        return 0.0
    return float(np.clip(0.5 * (a - c) / den, -0.5, 0.5))
