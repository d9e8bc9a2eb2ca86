"""The soft-tissue profile points on an anterior outline: curve in, named samples out.

The outline runs from the top of the head down to the neck with the nose toward +x
(:mod:`.silhouette` gives it; the package entry mirrors a left profile). Each point is an
extremum, a concavity or a tangent point of that curve, built from :mod:`.curve`'s chords
and tangents. Pure geometry: the benchmark runs :func:`locate_on_curve` on exact mesh
silhouettes to separate its error from the segmentation's.

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

    The alar crease is not on the outline; :mod:`.alar` finds it in the photo.

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
    wrong facing) fails this and gives ``None``.

Confidence
    Per point, of the feature itself: its depth or prominence relative to U, mapped to
    0.3–0.9 — lower for points placed by a fallback rule.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from analysis.profile.curve import Curve, Frame, Run, angle_deg, runs, smooth
from analysis.types import FloatArray

log = logging.getLogger(__name__)

#: A point on the anterior neck below the cervical point (proposed for
#: :data:`analysis.landmark_names.PROFILE`).
NECK_POINT: Final = "neck_point"

TILT_DEAD_BAND_DEG: Final = 8.0
#: Half-windows (fractions of the outline's length) of the nasal tip's two-sided prominence.
TIP_WINDOWS: Final = (0.05, 0.12)

#: (points in px, per-point confidence of the feature itself, the face frame used).
Found = tuple[dict[str, tuple[float, float]], dict[str, float], Frame]


def locate_on_curve(curve: FloatArray, tip_hint: FloatArray | None = None) -> Found | None:
    """Profile points on an anterior outline (top → bottom, nose toward +x).

    ``tip_hint`` (a nasal tip from a face model, same frame) picks among rival nose
    candidates. ``None`` when no nose tip stands out or the points do not make a face.
    """
    c = Curve(curve)
    first = _search(c, Frame.tilted(0.0), tip_hint)
    if first is None:
        return None
    tilt = _tilt_deg(c, first)
    if tilt is not None and abs(tilt) > TILT_DEAD_BAND_DEG:
        excess = math.copysign(abs(tilt) - TILT_DEAD_BAND_DEG, tilt)
        second = _search(c, Frame.tilted(excess), tip_hint)
        if second is not None:
            first = second
    if not _plausible(c, first):
        log.debug("profile outline found, but its proportions are not a face's")
        return None
    pts = {k: (float(c.p[i, 0]), float(c.p[i, 1])) for k, i in first.idx.items()}
    conf = {k: float(first.conf.get(k, 0.5)) for k in first.idx}
    return pts, conf, first.frame


@dataclass
class _Points:
    """The points of one pass, in the order found: sample indices and confidences."""

    frame: Frame
    u: float  # nasal length (nasion–pronasale), px
    idx: dict[str, int] = field(default_factory=dict)
    conf: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, i: int, confidence: float) -> None:
        self.idx[name] = i
        self.conf[name] = confidence


def _search(c: Curve, frame: Frame, tip_hint: FloatArray | None) -> _Points | None:
    """One pass of the point search in one frame: the first tip candidate that is a nose."""
    for tip, prominence in tip_candidates(c, frame, tip_hint):
        pts = _upper(c, frame, tip, prominence)
        if pts is not None and _nose_like(c, tip, prominence, pts.u):
            _lower(c, pts, tip)
            return pts
    return None


def _strength(ratio: float, full: float) -> float:
    """Confidence from a feature's size relative to the size at which it is unmistakable."""
    return float(np.clip(0.3 + 0.6 * ratio / full, 0.1, 0.9))


# --- the nose --------------------------------------------------------------------------------


def tip_candidates(
    c: Curve, frame: Frame, tip_hint: FloatArray | None = None
) -> list[tuple[int, float]]:
    """Nasal tip candidates, best first, with their large-window prominence.

    Peaks are scored by their two-sided prominence at two scales (TIP_WINDOWS), each
    normalised by the best. A prognathic or raised chin can rival the tip; of rivals
    (sharp, and scoring within 75 % of the best) the upper ones come first, since the
    nose is above the chin. A semantic nasal tip, when given, picks among the rivals.
    """
    a, n = c.p @ frame.anterior, c.n
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
    keep = proms[-1] > 3 * c.step
    best = float(score[keep].max()) if keep.any() else 0.0
    rivals = keep & (proms[0] >= 0.5 * proms[0].max()) & (score >= 0.75 * best)
    order = list(np.flatnonzero(rivals))  # upper first
    if tip_hint is not None and order:
        d = np.linalg.norm(c.p[peaks[order]] - tip_hint, axis=1)
        order = [order[int(np.argmin(d))]] + [m for m in order if m != order[int(np.argmin(d))]]
    rest = [int(m) for m in np.argsort(-score) if keep[m] and m not in order]
    return [(int(peaks[m]), float(proms[-1][m])) for m in (order + rest)[:4]]


def _nose_like(c: Curve, tip: int, prominence: float, u: float) -> bool:
    """A tip candidate is a nose when it stands out by a nose's share of its length
    and has the nasolabial concavity below it (a forehead or chin has neither)."""
    if not 0.12 <= prominence / u <= 1.5:
        return False
    conc = c.concavity(c.arc(0.1 * u)) / u
    below = conc[tip + c.arc(0.1 * u) : min(c.n, tip + c.arc(0.9 * u))]
    return bool(below.size and below.max() > 0.02)


def _upper(c: Curve, frame: Frame, tip: int, prominence: float) -> _Points | None:
    """Pronasale, then nasion, glabella and rhinion above it; sets the nasal length."""
    if tip < 10:
        return None
    pocket = c.deepest_pocket(max(0, tip - round(0.45 * c.n)), tip)
    if pocket is None:
        return None
    g_far, n_idx = pocket
    g = g_far
    for _ in range(3):
        u = float(np.hypot(*(c.p[tip] - c.p[n_idx])))
        lo = n_idx - c.arc(1.0 * u)
        g_new = c.tangent(frame, n_idx, lo, n_idx - c.arc(0.08 * u), tol_deg=0.3)
        if g_new is None:
            break
        g = g_new
        n_new, _ = c.deepest(g, tip)
        if n_new == n_idx:
            break
        n_idx = n_new
    u = float(np.hypot(*(c.p[tip] - c.p[n_idx])))
    if u < 10 * c.step:
        return None
    pts = _Points(frame, u)
    pts.add("pronasale", tip, _strength(prominence / u, 0.15))
    n_depth = c.deepest(g, tip)[1]
    pts.add("soft_tissue_nasion", n_idx, _strength(n_depth / u, 0.04))
    pts.add("profile_glabella", g, 0.8 if g > 2 else 0.3)
    pts.add("rhinion", *_rhinion(c, n_idx, tip, u))
    return pts


def _rhinion(c: Curve, n_idx: int, tip: int, u: float) -> tuple[int, float]:
    """The top of a dorsal hump, else the dorsum 45 % of the way from nasion to tip."""
    dep = c.depth(n_idx, tip)
    q0, q1 = round(0.2 * len(dep)), round(0.7 * len(dep))
    k = q0 + int(np.argmin(dep[q0:q1])) if q1 - q0 > 2 else 0
    if q0 < k < q1 - 1 and -dep[k] >= 0.02 * u:
        return n_idx + k, 0.5
    target = c.p[n_idx] + 0.45 * (c.p[tip] - c.p[n_idx])
    seg = c.p[n_idx : tip + 1]
    return n_idx + int(np.argmin(np.linalg.norm(seg - target, axis=1))), 0.3


# --- lips and chin ---------------------------------------------------------------------------


def _lower(c: Curve, pts: _Points, tip: int) -> None:
    """Lip and chin points from the alternation of concave and convex stretches.

    Below the tip the outline alternates: subnasale (concave), upper lip (convex),
    stomion (concave), lower lip (convex), mentolabial sulcus (concave), chin
    (convex), chin–neck angle (concave). Curvature signs do not depend on head tilt,
    so the stretches are labelled by their order; positions inside them use chords.
    """
    u, frame = pts.u, pts.frame
    conc = c.concavity(c.arc(0.1 * u)) / u
    bends = [r for r in runs(conc, tip, 0.01) if r.lo > tip + c.arc(0.05 * u)]
    concave = [r for r in bends if r.sign > 0]
    if not concave:
        return
    sn_run = concave[0]
    sub = _submental(c, frame, u, sn_run.hi)
    convex = [r for r in bends if r.sign < 0 and sn_run.hi < r.lo < sub]
    if not convex:
        return
    chin = convex[-1]
    mids = _lip_notches(sn_run, chin, concave)
    n_idx = pts.idx["soft_tissue_nasion"]
    pog, _ = _pogonion(c, frame, u, n_idx, chin.lo, chin.hi, chin.k)
    if len(mids) == 0:
        pts.add("soft_tissue_pogonion", pog, 0.5)
        sn, sn_depth = c.deepest(tip, pog)
        pts.add("subnasale", sn, 0.5 * _strength(sn_depth / u, 0.06))
        _chin_neck(c, pts, pog, bends)
        return
    pog = _lips(c, pts, tip, sn_run.k, mids, chin, pog)
    sn = pts.idx["subnasale"]
    col = c.tangent(frame, sn, tip + 1, sn - c.arc(0.05 * u))  # the columella tangent
    if col is not None:
        pts.add("columella", col, 0.7 * pts.conf["subnasale"] + 0.1)
    _chin_neck(c, pts, pog, bends)


def _lip_notches(sn_run: Run, chin: Run, concave: list[Run]) -> list[Run]:
    """The concave stretches between subnasale and the chin: stomion, then the sulcus.

    With more than two, stomion is the strongest notch, weighted toward 40 % of the way
    to the chin, and the sulcus the strongest after it.
    """
    mids = [r for r in concave if sn_run.hi < r.lo and r.hi < chin.lo]
    if len(mids) > 2:
        span = max(chin.lo - sn_run.k, 1)
        score = [
            r.value * math.exp(-0.5 * ((r.k - sn_run.k) / span - 0.4) ** 2 / 0.04) for r in mids
        ]
        st_run = mids[int(np.argmax(score))]
        after = [r for r in mids if r.lo > st_run.hi]
        mids = [st_run] + ([max(after, key=lambda r: r.value)] if after else [])
    return mids


def _lips(c: Curve, pts: _Points, tip: int, sn: int, mids: list[Run], chin: Run, pog: int) -> int:
    """Subnasale, both lips, stomion, sulcus and pogonion refined by chords; returns pogonion.

    Starts from the stretches' most bent samples (``sn``, ``mids``) and a first pogonion;
    each point becomes the deepest (or most prominent) between its current neighbours,
    until none moves.
    """
    u, frame = pts.u, pts.frame
    n_idx = pts.idx["soft_tissue_nasion"]
    on_tangent = False
    st = mids[0].k
    has_sulcus = len(mids) == 2
    sul = mids[1].k if has_sulcus else c.deepest(st, pog)[0]
    ls = c.prominent(sn, st)[0]
    li = c.prominent(st, sul)[0]
    for _ in range(3):
        before = (sn, ls, st, li, sul, pog)
        ls = c.prominent(sn, st)[0]
        sn = c.deepest(tip, ls)[0]
        li = c.prominent(st, sul)[0] if has_sulcus else c.prominent(st, pog)[0]
        st = c.deepest(ls, li)[0]
        sul = c.deepest(li, pog)[0]
        pog, on_tangent = _pogonion(c, frame, u, n_idx, sul, chin.hi, chin.k)
        if (sn, ls, st, li, sul, pog) == before:
            break
    sn_depth = c.deepest(tip, ls)[1]
    st_depth = c.deepest(ls, li)[1]
    sul_depth = c.deepest(li, pog)[1]
    ls_prom = c.prominent(sn, st)[1]
    li_prom = c.prominent(st, sul)[1]
    pts.add("subnasale", sn, _strength(sn_depth / u, 0.06))
    pts.add("labrale_superius", ls, _strength(ls_prom / u, 0.03))
    pts.add("stomion", st, _strength(st_depth / u, 0.03))
    pts.add("labrale_inferius", li, _strength(li_prom / u, 0.03))
    sulcus_conf = _strength(sul_depth / u, 0.03) * (1.0 if has_sulcus else 0.5)
    pts.add("mentolabial_sulcus", sul, sulcus_conf)
    pts.add("soft_tissue_pogonion", pog, 0.8 if on_tangent else 0.4)
    return pog


def _submental(c: Curve, frame: Frame, u: float, start: int) -> int:
    """Where the outline first runs backward for a while: the submental line.

    Below subnasale only the underside of the chin runs backward (within 60° of
    posterior) for more than a quarter of the nasal length; a lower lip's underside
    does so only briefly. Without one (a photo cropped at the chin) the curve's end.
    """
    t = smooth(np.gradient(c.p, axis=0), c.arc(0.05 * u) / 2.0)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)
    back = -(t @ frame.anterior) > 0.5
    back[: start + 1] = False
    need = c.arc(0.45 * u)
    idx = np.flatnonzero(back)
    if len(idx) == 0:
        return c.n - 1
    cuts = np.flatnonzero(np.diff(idx) > 1) + 1
    for group in np.split(idx, cuts):
        if len(group) >= need:
            return int(group[0])
    return c.n - 1


def _pogonion(
    c: Curve, frame: Frame, u: float, n_idx: int, lo: int, hi: int, fallback: int
) -> tuple[int, bool]:
    """Where the soft-tissue facial line from nasion touches the chin (Holdaway).

    In natural head position that line is near vertical, so this is the chin's most
    anterior point; unlike "most anterior" it does not move when the head is tilted.
    Falls back to the chin's most convex sample when the tangent lands on an end; the
    flag says whether the tangent was used.
    """
    gap = c.arc(0.05 * u)
    t = c.tangent(frame, n_idx, lo + gap, hi, tol_deg=0.0)
    on_tangent = t is not None and lo + gap < t < hi
    return (t if t is not None and on_tangent else fallback), on_tangent


# --- chin and neck ---------------------------------------------------------------------------


def _chin_neck(c: Curve, pts: _Points, pog: int, bends: list[Run]) -> None:
    """Cervical point, menton and the neck point by fixed-point iteration."""
    u, n, frame = pts.u, c.n, pts.frame
    end = min(n - 1, pog + c.arc(1.6 * u))
    if end - pog < c.arc(0.3 * u):
        return
    after = [r for r in bends if r.sign > 0 and r.lo > pog and r.k < end]
    cp = after[0].k if after else c.deepest(pog, end)[0]
    me: int | None = None
    neck: int | None = None
    for _ in range(4):
        me = c.tangent(frame, cp, pog, cp - c.arc(0.05 * u))
        neck = c.tangent(frame, cp, cp + c.arc(0.05 * u), min(n - 1, cp + c.arc(0.8 * u)))
        if me is None:
            return
        stop = neck if neck is not None else end
        c_new, _ = c.deepest(me, stop)
        if c_new == cp:
            break
        cp = c_new
    if me is None:
        return
    if n - 1 - cp < c.arc(0.2 * u):
        return  # the photo ends at the chin: no neck to make an angle with
    stop = neck if neck is not None else end
    c_depth = c.deepest(me, stop)[1]
    pts.add("soft_tissue_menton", me, 0.7)
    pts.add("cervical_point", cp, _strength(c_depth / u, 0.05) * (0.9 if neck else 0.5))
    if neck is not None and neck - cp >= c.arc(0.15 * u):
        pts.add(NECK_POINT, neck, 0.6)


# --- the whole -------------------------------------------------------------------------------


def _plausible(c: Curve, pts: _Points) -> bool:
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
    if any(k not in pts.idx for k in need):
        return False
    p = {k: c.p[i] for k, i in pts.idx.items()}
    u = pts.u
    length = c.step * (c.n - 1)
    if not 0.04 <= u / max(length, 1e-9) <= 0.6:
        return False
    checks = [
        (angle_deg(p["soft_tissue_nasion"], p["profile_glabella"], p["pronasale"]), 90, 180),
        (angle_deg(p["pronasale"], p["soft_tissue_nasion"], p["soft_tissue_pogonion"]), 90, 165),
        (float(np.hypot(*(p["soft_tissue_pogonion"] - p["pronasale"]))) / u, 0.9, 2.8),
    ]
    if "columella" in p:
        checks.append((angle_deg(p["subnasale"], p["columella"], p["labrale_superius"]), 50, 170))
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
    down = [float(p[k] @ pts.frame.down) for k in order if k in p]
    if any(b <= a for a, b in zip(down[:-1], down[1:], strict=True)):
        return False
    return all(lo <= v <= hi for v, lo, hi in checks)


def _tilt_deg(c: Curve, pts: _Points) -> float | None:
    """The face's rotation in the image from nasion→pogonion (+ = chin toward −x)."""
    if "soft_tissue_nasion" not in pts.idx or "soft_tissue_pogonion" not in pts.idx:
        return None
    v = c.p[pts.idx["soft_tissue_pogonion"]] - c.p[pts.idx["soft_tissue_nasion"]]
    return -math.degrees(math.atan2(float(v[0]), float(v[1])))
