"""Soft-tissue profile points from the silhouette of a profile (lateral) photo.

Face-mesh models are trained on frontal and oblique faces; in a true profile they often
find no face, or put the midline points on the cheek. The profile points, though, lie on
(or, for the alar crease, just inside) the face's outline against the backdrop, which a
clinical profile photo shows cleanly. So no model is needed: :mod:`analysis.profile_silhouette`
gives the anterior outline from the top of the head down to the neck as a 1-D curve, and
each point is found here as an extremum, a concavity or a tangent point of that curve.

Facing
    ``View.PROFILE_RIGHT`` — the subject's right side is seen (DICOM "right lateral",
    SCT 399198007): the subject looks toward the image's **right**, the nose points to +x.
    ``View.PROFILE_LEFT`` ("left lateral", SCT 399173006) is its mirror: the nose points
    to −x. This is :mod:`analysis.quality`'s convention (yaw > 0 turns the nose toward the
    image's right and shows the right side). Internally a left profile is mirrored so the
    nose points to +x; the points are mirrored back before they are returned.

Points
    "Anterior" is the way the nose points and "down" its perpendicular, in the face's frame
    (the image's, unless the head is tilted — see below). ``U`` is the nasal length
    (soft-tissue nasion to pronasale); windows and thresholds are fractions of it, so
    nothing depends on the photo's scale.

    * pronasale — the most anterior point of the nose. Candidates are the outline's peaks,
      scored by their two-sided prominence at two window sizes (:data:`TIP_WINDOWS`: the
      small one beats a broad forehead or chest, the large one a lip or the chin); a
      candidate is accepted only with a nasion above and a nasolabial concavity below it.
    * soft-tissue nasion — the deepest point of the deepest dent under the outline's
      anterior convex hull above the tip (a dorsal hump does not hide it), refined as the
      deepest point behind the glabella–pronasale chord.
    * profile glabella — where the tangent from nasion touches the forehead (the "line
      tangent to glabella through nasion" of the nasofrontal angle), within 1 U above.
    * rhinion — the top of a dorsal hump when there is one (the dorsum point farthest in
      front of the nasion–tip chord, 20–70 % of the way, at least 0.02 U), else the dorsum
      point 45 % of the way from nasion to tip (confidence 0.3: no silhouette feature).
    * subnasale, labrale superius, stomion, labrale inferius, mentolabial sulcus — below
      the tip the outline alternates concave (subnasale), convex (upper lip), concave
      (stomion), convex (lower lip), concave (sulcus), convex (chin). Curvature signs do
      not change with head tilt, so the stretches (depth behind the chord of ±0.1 U
      neighbours beyond ±0.01 U) are labelled by order, and the points are refined by
      chords: subnasale the deepest point between pronasale and labrale superius, each lip
      point the most prominent in front of the chord between its neighbouring concavities
      (the points the E-line and the nasolabial angle use), stomion and sulcus the deepest
      between their neighbours. A missing sulcus (a flat lip–chin) gets half confidence.
    * columella — where the tangent from subnasale touches the underside of the nose (the
      columella tangent of the nasolabial angle).
    * soft-tissue pogonion — where the soft-tissue facial line from nasion touches the
      chin (Holdaway): the chin's most anterior point in natural head position, and a
      definition that does not move with tilt. The chin is the last convex stretch before
      the submental line: the first stretch running backward (within 60° of posterior)
      for more than 0.45 U.
    * cervical point — the deepest point behind the line from menton to the neck point;
      soft-tissue menton — where the submental tangent from the cervical point touches the
      chin; :data:`NECK_POINT` ("neck_point", not yet in :mod:`analysis.landmark_names`) —
      where the anterior-neck tangent from the cervical point touches the neck within 0.8 U
      below it. The three are iterated to a fixed point; they are left out when the photo
      ends at the chin. Menton, cervical point and neck point give the cervicomental angle.
    * alar crease — not on the outline: the most posterior point of the alar–facial groove,
      found in the photo as the strongest dark-valley ridge (Hessian, σ = 0.025 U) in a box
      0.08–0.6 U behind and up to 0.4 U above subnasale; a semantic ``alare`` point, when
      given, narrows the box. Confidence is capped at :data:`ALAR_MAX_CONFIDENCE`; left out
      when no groove stands out.

Head tilt
    A first pass runs in the image frame. When the soft-tissue facial line (nasion→
    pogonion) then leans more than :data:`TILT_DEAD_BAND_DEG` from the image vertical —
    people differ by about that much in natural head position — the frame is rotated by
    the excess and the points are found again. Only "most anterior" (pronasale) and the
    tangent searches' reference directions use the frame.

Plausibility
    A result is returned only when it makes a face: glabella, nasion, subnasale, both lips
    and pogonion found in top-to-bottom order, nasofrontal 90–180°, nasolabial 50–170°,
    nasomental 90–165°, pronasale–pogonion 0.9–2.8 U, and U 4–60 % of the outline's length.
    A segmentation that strayed onto the backdrop or clothes (or a frontal photo, or the
    wrong ``facing``) fails this and gives ``None``.

Confidence
    Per point: the silhouette's confidence (how plain the backdrop, how sharp the edge)
    times the feature's own strength — its depth or prominence relative to U, mapped to
    0.3–0.9 — lower for points placed by a fallback rule.

Semantic landmarks from a face model are only hints: a nasal tip (``pronasale`` or
``ibug_30``) picks among rival nose candidates, an ``alare`` point (the visible side's)
narrows the alar-crease search.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from analysis.profile_silhouette import extract_silhouette, smooth
from analysis.types import FloatArray, ImageArray, ModelIdentity, Photo, SemanticLandmarks, View

log = logging.getLogger(__name__)

PROFILE_MODEL: Final = ModelIdentity(
    id="facenode-profile-silhouette",
    name="facenode profile silhouette",
    version="1.0",
    licence="facenode (no third-party weights)",
    commercial_use=True,
)

#: A point on the anterior neck below the cervical point (proposed for
#: :data:`analysis.landmark_names.PROFILE`).
NECK_POINT: Final = "neck_point"

TILT_DEAD_BAND_DEG: Final = 8.0
ALAR_MAX_CONFIDENCE: Final = 0.5
#: Half-windows (fractions of the outline's length) of the nasal tip's two-sided prominence.
TIP_WINDOWS: Final = (0.05, 0.12)

_FACING: Final = {View.PROFILE_RIGHT: True, View.PROFILE_LEFT: False}


def find_profile_points(
    photo: Photo, facing: View, semantic: SemanticLandmarks | None = None
) -> SemanticLandmarks | None:
    """The soft-tissue profile points of a profile photo, or ``None`` without a face outline.

    ``facing`` is ``View.PROFILE_RIGHT`` (nose toward the image's right) or
    ``View.PROFILE_LEFT`` (toward the left); anything else is a ``ValueError``. Points are
    pixels (x = column, y = row, origin at the centre of the top-left pixel) keyed by
    :data:`analysis.landmark_names.PROFILE` names plus :data:`NECK_POINT`; a point that
    cannot be placed (e.g. the neck in a photo cut at the chin) is left out. ``semantic``
    landmarks, if any, are used only as hints.
    """
    if facing not in _FACING:
        raise ValueError(f"facing must be View.PROFILE_LEFT or View.PROFILE_RIGHT, got {facing!r}")
    nose_right = _FACING[facing]
    sil = extract_silhouette(photo.pixels, nose_right)
    if sil is None:
        return None
    w = photo.width
    hints = _hints(semantic, nose_right, w)
    found = locate_on_curve(sil.curve, hints)
    if found is None:
        return None
    points, conf, frame = found
    alar = _alar_crease(photo.pixels, nose_right, points, frame, hints)
    if alar is not None:
        points["alar_crease"], conf["alar_crease"] = alar
    out_pts: dict[str, tuple[float, float]] = {}
    out_conf: dict[str, float] = {}
    for name, (x, y) in points.items():
        out_pts[name] = (float(x if nose_right else (w - 1) - x), float(y))
        out_conf[name] = float(np.clip(conf[name] * sil.confidence, 0.0, 1.0))
    return SemanticLandmarks(points=out_pts, confidence=out_conf, sources=(PROFILE_MODEL,))


def guess_facing(photo: Photo) -> View | None:
    """Which way a profile photo faces, when neither the DICOM view nor a pose says.

    Tries both facings; a wrong one puts the "backdrop" strips on the back of the head and
    finds no face-like outline. When both pass, the one with the higher mean confidence.
    """
    best: tuple[float, View] | None = None
    for view in (View.PROFILE_RIGHT, View.PROFILE_LEFT):
        res = find_profile_points(photo, view)
        if res is None:
            continue
        score = float(np.mean(list(res.confidence.values())))
        if best is None or score > best[0]:
            best = (score, view)
    return best[1] if best is not None else None


# --- points on the outline ---------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """The face's frame in the nose-toward-+x image: unit anterior and down vectors."""

    anterior: FloatArray
    down: FloatArray

    @staticmethod
    def tilted(deg: float) -> Frame:
        a = math.radians(deg)
        return Frame(np.array([math.cos(a), math.sin(a)]), np.array([-math.sin(a), math.cos(a)]))


@dataclass(frozen=True)
class _Run:
    """A stretch of the outline that bends one way: sign +1 concave, −1 convex."""

    sign: int
    lo: int
    hi: int
    k: int  # the most bent sample
    value: float  # its bend (depth over nasal length), positive


@dataclass(frozen=True)
class _Hints:
    tip: FloatArray | None = None
    alare: FloatArray | None = None


def _hints(semantic: SemanticLandmarks | None, nose_right: bool, width: int) -> _Hints:
    if semantic is None:
        return _Hints()

    def get(*names: str) -> FloatArray | None:
        for n in names:
            if n in semantic.points:
                x, y = semantic.points[n]
                if math.isfinite(x) and math.isfinite(y):
                    return np.array([x if nose_right else (width - 1) - x, y])
        return None

    # the visible ala: the subject's right one in a right profile
    alare = get("ibug_31", "ibug_35") if nose_right else get("ibug_35", "ibug_31")
    return _Hints(tip=get("pronasale", "ibug_30"), alare=alare)


Found = tuple[dict[str, tuple[float, float]], dict[str, float], Frame]


def locate_on_curve(curve: FloatArray, hints: _Hints | None = None) -> Found | None:
    """Profile points on an anterior outline (top → bottom, nose toward +x).

    Returns (points, per-point confidence of the feature itself, the face frame used), or
    ``None`` when no nose tip stands out. Pure geometry: the benchmark runs it on exact
    mesh silhouettes to separate its error from the segmentation's.
    """
    hints = hints or _Hints()
    first = _Locator(curve, Frame.tilted(0.0), hints).run()
    if first is None:
        return None
    tilt = first.tilt_deg()
    if tilt is not None and abs(tilt) > TILT_DEAD_BAND_DEG:
        excess = math.copysign(abs(tilt) - TILT_DEAD_BAND_DEG, tilt)
        second = _Locator(curve, Frame.tilted(excess), hints).run()
        if second is not None:
            first = second
    if not first.plausible():
        log.debug("profile outline found, but its proportions are not a face's")
        return None
    return first.result()


class _Locator:
    """One pass of the point search in one frame."""

    def __init__(self, curve: FloatArray, frame: Frame, hints: _Hints) -> None:
        self.p = curve
        self.n = len(curve)
        self.step = float(np.median(np.linalg.norm(np.diff(curve, axis=0), axis=1)))
        self.frame = frame
        self.hints = hints
        self.a = curve @ frame.anterior
        self.idx: dict[str, int] = {}
        self.conf: dict[str, float] = {}
        self.u = 0.0  # nasal length (nasion–pronasale), px
        self._pog_tangent = False
        self.tip_prominence = 0.0

    # -- helpers

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
        if j - i < 2:
            return (i + j) // 2, 0.0
        dep = self.depth(i, j)
        k = 1 + int(np.argmax(dep[1:-1]))
        return i + k, float(dep[k])

    def most_anterior(self, i: int, j: int) -> int:
        return i + int(np.argmax(self.a[i : j + 1]))

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

    def tangent(self, q: int, lo: int, hi: int, tol_deg: float = 1.0) -> int | None:
        """The point of lo..hi (one side of q) that the outer tangent from q touches.

        Callers leave a gap between q and the range: the smoothed curve is round at q, and
        its nearest points would otherwise be "tangent". Among near-ties (within
        ``tol_deg``) the one farthest from q along the curve, so that a straight stretch
        yields its far end rather than a noise-picked point.
        """
        lo, hi = max(lo, 0), min(hi, self.n - 1)
        if hi < lo:
            return None
        w = self.p[lo : hi + 1] - self.p[q]
        along = w @ self.frame.down
        ant = w @ self.frame.anterior
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

    # -- the search

    def run(self) -> _Locator | None:
        for tip, prominence in self._tip_candidates():
            self.idx, self.conf = {"pronasale": tip}, {}
            self.tip_prominence = prominence
            if self._upper(tip) and self._nose_like(tip):
                self._lower(tip)
                return self
        return None

    def _nose_like(self, tip: int) -> bool:
        """A tip candidate is a nose when it stands out by a nose's share of its length
        and has the nasolabial concavity below it (a forehead or chin has neither)."""
        u = self.u
        if not 0.12 <= self.tip_prominence / u <= 1.5:
            return False
        conc = self.concavity(self.arc(0.1 * u))
        below = conc[tip + self.arc(0.1 * u) : min(self.n, tip + self.arc(0.9 * u))]
        return bool(below.size and below.max() > 0.02)

    def _tip_candidates(self) -> list[tuple[int, float]]:
        """Nasal tip candidates, best first, with their large-window prominence.

        Peaks are scored by their two-sided prominence at two scales (TIP_WINDOWS), each
        normalised by the best. A prognathic or raised chin can rival the tip; of rivals
        (sharp, and scoring within 75 % of the best) the upper ones come first, since the
        nose is above the chin. A semantic nasal tip, when given, picks among the rivals.
        """
        a, n = self.a, self.n
        if n < 20:
            return []
        peaks = np.flatnonzero((a[1:-1] >= a[:-2]) & (a[1:-1] > a[2:])) + 1
        margin = max(2, round(0.01 * n))
        peaks = peaks[(peaks > margin) & (peaks < n - 1 - margin)]
        if len(peaks) == 0:
            return []
        proms = []
        for frac in TIP_WINDOWS:
            win = max(3, round(frac * n))
            prom = np.empty(len(peaks))
            for m, i in enumerate(peaks):
                left = a[max(0, i - win) : i + 1].min()
                right = a[i : min(n, i + win + 1)].min()
                prom[m] = a[i] - max(left, right)
            proms.append(prom)
        score = np.sum([p / max(float(p.max()), 1e-9) for p in proms], axis=0)
        keep = proms[-1] > 3 * self.step
        best = float(score[keep].max()) if keep.any() else 0.0
        rivals = keep & (proms[0] >= 0.5 * proms[0].max()) & (score >= 0.75 * best)
        order = list(np.flatnonzero(rivals))  # upper first
        if self.hints.tip is not None and order:
            d = np.linalg.norm(self.p[peaks[order]] - self.hints.tip, axis=1)
            order = [order[int(np.argmin(d))]] + [m for m in order if m != order[int(np.argmin(d))]]
        rest = [int(m) for m in np.argsort(-score) if keep[m] and m not in order]
        return [(int(peaks[m]), float(proms[-1][m])) for m in (order + rest)[:4]]

    def _upper(self, tip: int) -> bool:
        """Nasion, glabella and rhinion above the tip; sets the nasal length."""
        if tip < 10:
            return False
        pocket = self.deepest_pocket(max(0, tip - round(0.45 * self.n)), tip)
        if pocket is None:
            return False
        g_far, n_idx = pocket
        g = g_far
        for _ in range(3):
            u = float(np.hypot(*(self.p[tip] - self.p[n_idx])))
            lo = n_idx - self.arc(1.0 * u)
            g_new = self.tangent(n_idx, lo, n_idx - self.arc(0.08 * u), tol_deg=0.3)
            if g_new is None:
                break
            g = g_new
            n_new, _ = self.deepest(g, tip)
            if n_new == n_idx:
                break
            n_idx = n_new
        self.u = float(np.hypot(*(self.p[tip] - self.p[n_idx])))
        if self.u < 10 * self.step:
            return False
        n_depth = self.deepest(g, tip)[1]
        self.idx["soft_tissue_nasion"] = n_idx
        self.conf["soft_tissue_nasion"] = _strength(n_depth / self.u, 0.04)
        self.idx["profile_glabella"] = g
        self.conf["profile_glabella"] = 0.8 if g > 2 else 0.3
        self.conf["pronasale"] = _strength(self.tip_prominence / self.u, 0.15)

        dep = self.depth(n_idx, tip)
        q0, q1 = round(0.2 * len(dep)), round(0.7 * len(dep))
        k = q0 + int(np.argmin(dep[q0:q1])) if q1 - q0 > 2 else 0
        if q0 < k < q1 - 1 and -dep[k] >= 0.02 * self.u:
            self.idx["rhinion"] = n_idx + k
            self.conf["rhinion"] = 0.5
        else:
            target = self.p[n_idx] + 0.45 * (self.p[tip] - self.p[n_idx])
            seg = self.p[n_idx : tip + 1]
            self.idx["rhinion"] = n_idx + int(np.argmin(np.linalg.norm(seg - target, axis=1)))
            self.conf["rhinion"] = 0.3
        return True

    def concavity(self, w: int) -> FloatArray:
        """Depth of each sample behind the chord of its ±w neighbours over U (+ = concave)."""
        i = np.arange(self.n)
        i0, i1 = np.clip(i - w, 0, self.n - 1), np.clip(i + w, 0, self.n - 1)
        d = self.p[i1] - self.p[i0]
        norm = np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)
        out = np.column_stack([d[:, 1], -d[:, 0]]) / norm[:, None]
        return -np.sum((self.p - self.p[i0]) * out, axis=1) / self.u  # type: ignore[no-any-return]

    @staticmethod
    def runs(conc: FloatArray, start: int, tau: float) -> list[_Run]:
        """Alternating concave (+1) / convex (−1) stretches beyond ±tau from ``start`` on.

        Stretches of one sign separated only by near-straight samples are one stretch, so a
        broad concavity with a flat spot is not counted twice.
        """
        sign = np.where(conc > tau, 1, np.where(conc < -tau, -1, 0))
        sign[:start] = 0
        nz = np.flatnonzero(sign)
        out: list[_Run] = []
        if len(nz) == 0:
            return out
        cuts = np.flatnonzero(np.diff(sign[nz]) != 0) + 1
        for group in np.split(nz, cuts):
            lo, hi = int(group[0]), int(group[-1])
            sg = int(sign[lo])
            seg = conc[lo : hi + 1] * sg
            k = lo + int(np.argmax(seg))
            out.append(_Run(sg, lo, hi, k, float(conc[k]) * sg))
        return out

    def prominent(self, i: int, j: int) -> tuple[int, float]:
        """The sample of i..j farthest in front of the chord i→j, and that distance."""
        if j - i < 2:
            return (i + j) // 2, 0.0
        dep = self.depth(i, j)
        k = 1 + int(np.argmin(dep[1:-1]))
        return i + k, float(-dep[k])

    def _lower(self, tip: int) -> None:
        """Lip and chin points from the alternation of concave and convex stretches.

        Below the tip the outline alternates: subnasale (concave), upper lip (convex),
        stomion (concave), lower lip (convex), mentolabial sulcus (concave), chin
        (convex), chin–neck angle (concave). Curvature signs do not depend on head tilt,
        so the stretches are labelled by their order; positions inside them use chords.
        """
        u = self.u
        conc = self.concavity(self.arc(0.1 * u))
        runs = [r for r in self.runs(conc, tip, 0.01) if r.lo > tip + self.arc(0.05 * u)]
        concave = [r for r in runs if r.sign > 0]
        if not concave:
            return
        sn_run = concave[0]
        sub = self._submental(sn_run.hi)
        convex = [r for r in runs if r.sign < 0 and sn_run.hi < r.lo < sub]
        if not convex:
            return
        chin = convex[-1]
        mids = [r for r in concave if sn_run.hi < r.lo and r.hi < chin.lo]
        if len(mids) > 2:
            span = max(chin.lo - sn_run.k, 1)
            # stomion is the strongest notch, weighted toward 40 % of the way to the chin
            score = [
                r.value * math.exp(-0.5 * ((r.k - sn_run.k) / span - 0.4) ** 2 / 0.04) for r in mids
            ]
            st_run = mids[int(np.argmax(score))]
            after = [r for r in mids if r.lo > st_run.hi]
            mids = [st_run] + ([max(after, key=lambda r: r.value)] if after else [])
        chin_end = chin.hi
        n_idx = self.idx["soft_tissue_nasion"]
        pog = self._pogonion(n_idx, chin.lo, chin_end, chin.k)
        if len(mids) == 0:
            self.idx["soft_tissue_pogonion"] = pog
            self.conf["soft_tissue_pogonion"] = 0.5
            sn, sn_depth = self.deepest(tip, pog)
            self.idx["subnasale"] = sn
            self.conf["subnasale"] = 0.5 * _strength(sn_depth / u, 0.06)
            self._chin_neck(pog, runs)
            return
        st = mids[0].k
        has_sulcus = len(mids) == 2
        sul = mids[1].k if has_sulcus else self.deepest(st, pog)[0]
        sn = sn_run.k
        ls = self.prominent(sn, st)[0]
        li = self.prominent(st, sul)[0]
        for _ in range(3):
            before = (sn, ls, st, li, sul, pog)
            ls = self.prominent(sn, st)[0]
            sn = self.deepest(tip, ls)[0]
            li = self.prominent(st, sul)[0] if has_sulcus else self.prominent(st, pog)[0]
            st = self.deepest(ls, li)[0]
            sul = self.deepest(li, pog)[0]
            pog = self._pogonion(n_idx, sul, chin_end, chin.k)
            if (sn, ls, st, li, sul, pog) == before:
                break
        sn_depth = self.deepest(tip, ls)[1]
        st_depth = self.deepest(ls, li)[1]
        sul_depth = self.deepest(li, pog)[1]
        ls_prom = self.prominent(sn, st)[1]
        li_prom = self.prominent(st, sul)[1]
        self.idx.update(subnasale=sn, labrale_superius=ls, stomion=st)
        self.idx.update(labrale_inferius=li, mentolabial_sulcus=sul, soft_tissue_pogonion=pog)
        self.conf["subnasale"] = _strength(sn_depth / u, 0.06)
        self.conf["labrale_superius"] = _strength(ls_prom / u, 0.03)
        self.conf["stomion"] = _strength(st_depth / u, 0.03)
        self.conf["labrale_inferius"] = _strength(li_prom / u, 0.03)
        self.conf["mentolabial_sulcus"] = _strength(sul_depth / u, 0.03) * (
            1.0 if has_sulcus else 0.5
        )
        self.conf["soft_tissue_pogonion"] = 0.8 if self._pog_tangent else 0.4
        col = self.tangent(sn, tip + 1, sn - self.arc(0.05 * u))
        if col is not None:
            self.idx["columella"] = col
            self.conf["columella"] = 0.7 * self.conf["subnasale"] + 0.1
        self._chin_neck(pog, runs)

    def _submental(self, start: int) -> int:
        """Where the outline first runs backward for a while: the submental line.

        Below subnasale only the underside of the chin runs backward (within 60° of
        posterior) for more than a quarter of the nasal length; a lower lip's underside
        does so only briefly. Without one (a photo cropped at the chin) the curve's end.
        """
        t = smooth(np.gradient(self.p, axis=0), self.arc(0.05 * self.u) / 2.0)
        t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)
        back = -(t @ self.frame.anterior) > 0.5
        back[: start + 1] = False
        need = self.arc(0.45 * self.u)
        idx = np.flatnonzero(back)
        if len(idx) == 0:
            return self.n - 1
        cuts = np.flatnonzero(np.diff(idx) > 1) + 1
        for group in np.split(idx, cuts):
            if len(group) >= need:
                return int(group[0])
        return self.n - 1

    def _pogonion(self, n_idx: int, lo: int, hi: int, fallback: int) -> int:
        """Where the soft-tissue facial line from nasion touches the chin (Holdaway).

        In natural head position that line is near vertical, so this is the chin's most
        anterior point; unlike "most anterior" it does not move when the head is tilted.
        Falls back to the chin's most convex sample when the tangent lands on an end.
        """
        gap = self.arc(0.05 * self.u)
        t = self.tangent(n_idx, lo + gap, hi, tol_deg=0.0)
        self._pog_tangent = t is not None and lo + gap < t < hi
        return t if t is not None and self._pog_tangent else fallback

    def _chin_neck(self, pog: int, runs: list[_Run]) -> None:
        """Cervical point, menton and the neck point by fixed-point iteration."""
        u, n = self.u, self.n
        end = min(n - 1, pog + self.arc(1.6 * u))
        if end - pog < self.arc(0.3 * u):
            return
        after = [r for r in runs if r.sign > 0 and r.lo > pog and r.k < end]
        c = after[0].k if after else self.deepest(pog, end)[0]
        me: int | None = None
        neck: int | None = None
        for _ in range(4):
            me = self.tangent(c, pog, c - self.arc(0.05 * u))
            neck = self.tangent(c, c + self.arc(0.05 * u), min(n - 1, c + self.arc(0.8 * u)))
            if me is None:
                return
            stop = neck if neck is not None else end
            c_new, _ = self.deepest(me, stop)
            if c_new == c:
                break
            c = c_new
        if me is None:
            return
        if self.n - 1 - c < self.arc(0.2 * u):
            return  # the photo ends at the chin: no neck to make an angle with
        stop = neck if neck is not None else end
        c_depth = self.deepest(me, stop)[1]
        self.idx["soft_tissue_menton"] = me
        self.conf["soft_tissue_menton"] = 0.7
        self.idx["cervical_point"] = c
        self.conf["cervical_point"] = _strength(c_depth / u, 0.05) * (0.9 if neck else 0.5)
        if neck is not None and neck - c >= self.arc(0.15 * u):
            self.idx[NECK_POINT] = neck
            self.conf[NECK_POINT] = 0.6

    # -- results

    def plausible(self) -> bool:
        """Whether the points make a face: the lips and chin found below the nose, and the
        nose's size and the three profile angles far inside what faces show (nasofrontal
        90–180°, nasolabial 50–170°, nasomental 90–165°, tip–pogonion 0.9–2.8 nasal
        lengths). A segmentation that strayed onto the backdrop or clothes fails this."""
        need = (
            "profile_glabella",
            "soft_tissue_nasion",
            "subnasale",
            "labrale_superius",
            "labrale_inferius",
            "soft_tissue_pogonion",
        )
        if any(k not in self.idx for k in need):
            return False
        p = {k: self.p[i] for k, i in self.idx.items()}
        u = self.u
        length = self.step * (self.n - 1)
        if not 0.04 <= u / max(length, 1e-9) <= 0.6:
            return False
        checks = [
            (_angle(p["soft_tissue_nasion"], p["profile_glabella"], p["pronasale"]), 90, 180),
            (_angle(p["pronasale"], p["soft_tissue_nasion"], p["soft_tissue_pogonion"]), 90, 165),
            (float(np.hypot(*(p["soft_tissue_pogonion"] - p["pronasale"]))) / u, 0.9, 2.8),
        ]
        if "columella" in p:
            checks.append((_angle(p["subnasale"], p["columella"], p["labrale_superius"]), 50, 170))
        order = [
            "profile_glabella",
            "soft_tissue_nasion",
            "pronasale",
            "subnasale",
            "labrale_superius",
            "stomion",
            "labrale_inferius",
            "mentolabial_sulcus",
            "soft_tissue_pogonion",
        ]
        down = [float(p[k] @ self.frame.down) for k in order if k in p]
        if any(b <= a for a, b in zip(down[:-1], down[1:], strict=True)):
            return False
        return all(lo <= v <= hi for v, lo, hi in checks)

    def tilt_deg(self) -> float | None:
        """The face's rotation in the image from nasion→pogonion (+ = chin toward −x)."""
        if "soft_tissue_nasion" not in self.idx or "soft_tissue_pogonion" not in self.idx:
            return None
        v = self.p[self.idx["soft_tissue_pogonion"]] - self.p[self.idx["soft_tissue_nasion"]]
        return -math.degrees(math.atan2(float(v[0]), float(v[1])))

    def result(self) -> Found:
        pts = {k: (float(self.p[i, 0]), float(self.p[i, 1])) for k, i in self.idx.items()}
        conf = {k: float(self.conf.get(k, 0.5)) for k in self.idx}
        return pts, conf, self.frame


def _angle(at: FloatArray, a: FloatArray, b: FloatArray) -> float:
    """Angle a–at–b in degrees."""
    va, vb = a - at, b - at
    den = float(np.hypot(*va) * np.hypot(*vb))
    if den < 1e-12:
        return float("nan")
    return math.degrees(math.acos(float(np.clip(va @ vb / den, -1.0, 1.0))))


def _strength(ratio: float, full: float) -> float:
    """Confidence from a feature's size relative to the size at which it is unmistakable."""
    return float(np.clip(0.3 + 0.6 * ratio / full, 0.1, 0.9))


# --- alar crease ----------------------------------------------------------------------------


def _alar_crease(
    pixels: ImageArray,
    nose_right: bool,
    points: dict[str, tuple[float, float]],
    frame: Frame,
    hints: _Hints,
) -> tuple[tuple[float, float], float] | None:
    """The most posterior point of the alar–facial groove (see the module docstring)."""
    if not all(k in points for k in ("subnasale", "pronasale", "soft_tissue_nasion")):
        return None
    sn = np.asarray(points["subnasale"])
    prn = np.asarray(points["pronasale"])
    u = float(np.hypot(*(prn - np.asarray(points["soft_tissue_nasion"]))))
    if u < 20:
        return None
    h0, w0 = pixels.shape[:2]
    # search box in the face frame, relative to subnasale (px): behind and above it
    a_lo, a_hi = -0.60 * u, -0.08 * u
    d_lo, d_hi = -0.40 * u, 0.05 * u
    corners = np.array(
        [sn + a * frame.anterior + d * frame.down for a in (a_lo, a_hi) for d in (d_lo, d_hi)]
    )
    x0, y0 = np.floor(corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
    # the crop in the nose-toward-+x frame
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
    target = 96.0
    if max(gray.shape) > target:
        scale = target / max(gray.shape)
        gray = np.asarray(
            cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA),
            dtype=np.float32,
        )
    sigma = max(1.0, 0.025 * u * scale)
    g = cv2.GaussianBlur(gray, (0, 0), sigma)
    gxx = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3)
    gyy = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3)
    gxy = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3)
    lam = 0.5 * (gxx + gyy) + np.sqrt(0.25 * (gxx - gyy) ** 2 + gxy**2)
    ridge = np.maximum(lam, 0.0) * sigma**2  # dark valleys: positive curvature
    hh, ww = ridge.shape
    yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float64)
    px = xs0 + (xx + 0.5) / scale - 0.5
    py = ys0 + (yy + 0.5) / scale - 0.5
    rel = np.stack([px - sn[0], py - sn[1]], axis=-1)
    ra = rel @ frame.anterior
    rd = rel @ frame.down
    inside = (ra >= a_lo) & (ra <= a_hi) & (rd >= d_lo) & (rd <= d_hi)
    # stay inside the face: behind the silhouette, i.e. away from the backdrop
    if hints.alare is not None:
        da = np.hypot(px - hints.alare[0], py - hints.alare[1])
        inside &= da < 0.35 * u
    vals = ridge[inside]
    if vals.size < 20:
        return None
    noise = float(np.median(vals)) + 1e-6
    strong = inside & (ridge > max(np.percentile(vals, 92), 3.0 * noise))
    if strong.sum() < 4:
        return None
    # the groove: the connected set of strong ridge pixels with the most ridge strength
    n_lab, lab, stats, _ = cv2.connectedComponentsWithStats(strong.astype(np.uint8), connectivity=8)
    if n_lab < 2:
        return None
    weight = np.array([ridge[lab == i].sum() for i in range(1, n_lab)])
    best = 1 + int(np.argmax(weight))
    sel = lab == best
    # its most posterior point, taken as the apex of the curve: the pixel farthest behind
    # the chord between the groove's ends (on a groove that runs nearly straight for a
    # while, the most posterior pixel would jump along it with a little head tilt)
    gx, gy = px[sel], py[sel]
    centred = np.column_stack([gx - gx.mean(), gy - gy.mean()])
    axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    along = centred @ axis
    e0, e1 = int(np.argmin(along)), int(np.argmax(along))
    normal = np.array([-axis[1], axis[0]])
    if normal @ frame.anterior > 0:
        normal = -normal  # point backward
    behind = (centred - centred[e0]) @ normal
    k_sel = int(np.argmax(behind)) if behind.max() > 0 else (e0 + e1) // 2
    k = int(np.flatnonzero(sel.ravel())[k_sel])
    ky, kx = np.unravel_index(k, ra.shape)
    contrast = float(ridge[sel].mean()) / noise
    conf = ALAR_MAX_CONFIDENCE * float(np.clip((contrast - 2.0) / 6.0, 0.2, 1.0))
    return (float(px[ky, kx]), float(py[ky, kx])), conf
