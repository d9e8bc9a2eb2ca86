"""Synthetic profile photos with known soft-tissue points, for the silhouette tests.

A head-and-shoulders outline facing +x is built as a polygon in millimetres (origin at
soft-tissue nasion, x forward, y down) whose vertices *are* the profile points, so each
point's definition (most anterior, deepest concavity, tangent point) picks exactly that
vertex. It is painted with skin texture, hair, a shirt, an alar groove and a nostril
shadow on a plain, slightly graded, noisy backdrop, anti-aliased, optionally rotated and
mirrored (a left profile).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from analysis.types import View

Pt = tuple[float, float]


def _pol(origin: Pt, length: float, angle_deg: float) -> Pt:
    """Point at ``length`` from ``origin``; 0° = forward (+x), positive = upward."""
    a = math.radians(angle_deg)
    return (origin[0] + length * math.cos(a), origin[1] - length * math.sin(a))


@dataclass(frozen=True)
class Shape:
    """Angles (degrees) and lengths (mm) the outline is built from (defaults: faces.py's)."""

    nasofrontal: float = 130.0
    dorsum: float = -50.0  # direction of nasion→pronasale (0 = forward, − = downward)
    nasal_length: float = 45.0
    e_line: float = -104.0  # direction of pronasale→pogonion
    upper_lip_e: float = 4.0  # labrale superius behind the E-line
    lower_lip_e: float = -1.0  # labrale inferius behind the E-line (− = in front)
    nasolabial: float = 100.0
    lip_incline: float = -80.0  # direction subnasale→labrale superius
    upper_lip: float = 20.0  # subnasale→labrale superius
    columella: float = 10.0
    sulcus_depth: float = 6.0
    cervicomental: float = 110.0

    def plausible(self) -> bool:
        """The lobule turns convexly into the columella and the tip leads the lips."""
        _, p = outline(self)
        prn, col, sn, ls = (
            np.asarray(p[k]) for k in ("pronasale", "columella", "subnasale", "labrale_superius")
        )
        col_dir = self.lip_incline + self.nasolabial
        lob = math.degrees(math.atan2(-(prn - col)[1], (prn - col)[0]))
        return bool(
            25.0 <= lob - col_dir <= 75.0
            and 4.0 <= float(np.hypot(*(prn - col))) <= 18.0
            and prn[0] - sn[0] >= 8.0
            and prn[0] - ls[0] >= 8.0
            and sn[1] > prn[1] + 5.0
        )


def _round_corner(before: Pt, corner: Pt, after: Pt, radius: float) -> list[Pt]:
    """Points of the arc of ``radius`` tangent to both edges at a convex ``corner``."""
    c = np.asarray(corner)
    u1 = (np.asarray(before) - c) / np.linalg.norm(np.asarray(before) - c)
    u2 = (np.asarray(after) - c) / np.linalg.norm(np.asarray(after) - c)
    half = 0.5 * math.acos(float(np.clip(u1 @ u2, -1.0, 1.0)))
    bis = (u1 + u2) / np.linalg.norm(u1 + u2)
    centre = c + bis * radius / math.sin(half)
    t1 = c + u1 * radius / math.tan(half)
    t2 = c + u2 * radius / math.tan(half)
    a1 = math.atan2(*(t1 - centre)[::-1])
    a2 = math.atan2(*(t2 - centre)[::-1])
    da = (a2 - a1 + math.pi) % (2 * math.pi) - math.pi
    return [
        (
            float(centre[0] + radius * math.cos(a1 + da * k / 12)),
            float(centre[1] + radius * math.sin(a1 + da * k / 12)),
        )
        for k in range(13)
    ]


def _deepest(arc: list[Pt], a: Pt, b: Pt) -> Pt:
    """The arc point farthest behind (toward −x of) the chord a→b."""
    d = np.asarray(b) - np.asarray(a)
    out = np.array([d[1], -d[0]]) / np.linalg.norm(d)  # the chord's +x-side normal
    return min(arc, key=lambda q: float((np.asarray(q) - np.asarray(a)) @ out))


def outline(shape: Shape = Shape()) -> tuple[list[Pt], dict[str, Pt]]:
    """The closed outline (mm) and its named points."""
    s = shape
    n: Pt = (0.0, 0.0)
    g_dir = s.dorsum + s.nasofrontal  # glabella direction from nasion
    g = _pol(n, 15.0, g_dir)
    prn = _pol(n, s.nasal_length, s.dorsum)
    rh_base = _pol(n, 0.45 * s.nasal_length, s.dorsum)
    hump = _pol(rh_base, 1.5, s.dorsum + 90.0)  # 1.5 mm dorsal hump in front of the chord
    e_len = 1.67 * s.nasal_length
    pog = _pol(prn, e_len, s.e_line)
    d = (np.asarray(pog) - np.asarray(prn)) / e_len
    post = np.array([-d[1], d[0]]) if -d[1] < 0 else np.array([d[1], -d[0]])  # −x normal

    def on_e(frac: float, behind: float) -> Pt:
        q = np.asarray(prn) + frac * e_len * d + behind * post
        return (float(q[0]), float(q[1]))

    ls = on_e(0.533, s.upper_lip_e)
    li = on_e(0.733, s.lower_lip_e)
    sn = _pol(ls, s.upper_lip, s.lip_incline + 180.0)
    col = _pol(sn, s.columella, s.lip_incline + s.nasolabial)
    st = (min(ls[0], li[0]) - 4.0, 0.5 * (ls[1] + li[1]))
    sul_chord = (0.5 * (li[0] + pog[0]), 0.5 * (li[1] + pog[1]))
    sul = (sul_chord[0] - s.sulcus_depth, sul_chord[1])
    me = (pog[0] - 11.0, pog[1] + 11.0)
    c = (me[0] - 30.0, me[1] + 7.0)
    # the neck line leaves the cervical point at the cervicomental angle to the submental line
    sub_dir = math.degrees(math.atan2(-(me[1] - c[1]), me[0] - c[0]))  # c→me, upward +
    neck_dir = sub_dir - s.cervicomental
    neck = _pol(c, 25.0, neck_dir)
    notch = _pol(neck, 25.0, neck_dir - 15.0)
    alar: Pt = (sn[0] - 10.0, sn[1] - 7.0)
    # a rounded tip (radius 3 mm): pronasale is its most anterior point; rounded nasion
    # (2 mm) and subnasale (1.5 mm): each is the arc point deepest behind the chord of its
    # neighbours, as anatomy (and the detector) defines them
    tip_arc = _round_corner(hump, prn, col, 3.0)
    prn = max(tip_arc, key=lambda q: q[0])
    n_arc = _round_corner(g, n, hump, 2.0)
    n = _deepest(n_arc, g, prn)
    sn_arc = _round_corner(col, sn, ls, 1.5)
    sn = _deepest(sn_arc, prn, ls)
    points = {
        "profile_glabella": g,
        "soft_tissue_nasion": n,
        "rhinion": hump,
        "pronasale": prn,
        "columella": col,
        "subnasale": sn,
        "alar_crease": alar,
        "labrale_superius": ls,
        "stomion": st,
        "labrale_inferius": li,
        "mentolabial_sulcus": sul,
        "soft_tissue_pogonion": pog,
        "soft_tissue_menton": me,
        "cervical_point": c,
        "neck_point": neck,
    }
    above_g = _pol(g, 16.0, g_dir + 12.0)
    forehead = [
        (-75.0, -118.0),
        (-45.0, -108.0),
        (-22.0, -88.0),
        (above_g[0] - 5.0, above_g[1] - 28.0),
        above_g,
    ]
    front = [
        *forehead,
        g,
        *n_arc,
        hump,
        *tip_arc,
        col,
        *sn_arc,
        ls,
        st,
        li,
        sul,
        pog,
        me,
        c,
        neck,
        notch,
        (notch[0] + 30.0, notch[1] + 30.0),
        (notch[0] + 35.0, 400.0),
    ]
    back = [(-260.0, 400.0), (-150.0, 180.0), (-120.0, 120.0), (-185.0, 20.0), (-150.0, -95.0)]
    return front + back, points


def render(
    shape: Shape = Shape(),
    *,
    facing: View = View.PROFILE_RIGHT,
    roll_deg: float = 0.0,
    mm_per_px: float = 0.4,
    size: tuple[int, int] = (720, 960),
    seed: int = 0,
    backdrop: tuple[int, int, int] = (70, 98, 135),
) -> tuple[np.ndarray, dict[str, tuple[float, float]]]:
    """(RGB uint8 photo, true points in pixels) for ``shape`` seen from ``facing``."""
    rng = np.random.default_rng(seed)
    w, h = size
    poly_mm, pts_mm = outline(shape)
    origin = np.array([0.58 * w, 0.36 * h])
    a = math.radians(roll_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])

    def to_px(p: Pt) -> np.ndarray:
        v = np.asarray(rot @ (np.asarray(p) / mm_per_px) + origin, dtype=np.float64)
        if facing is View.PROFILE_LEFT:
            v = np.array([(w - 1) - v[0], v[1]])
        return v

    def fill(poly: list[Pt]) -> np.ndarray:
        # 4× supersampled coverage: OpenCV fills pixels whose centres touch the polygon,
        # which fattens it by ~½ pixel; at 4× that is ⅛ of a photo pixel
        k = 4
        m = np.zeros((h * k, w * k), np.uint8)
        q = (np.array([to_px(p) for p in poly]) + 0.5) * k - 0.5
        cv2.fillPoly(m, [np.round(q * 16).astype(np.int32)], 255, cv2.LINE_8, shift=4)
        cover = cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA)
        return np.asarray(cover, dtype=np.float32) / 255.0

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    bg = np.empty((h, w, 3), np.float32)
    for ch in range(3):
        bg[..., ch] = backdrop[ch] * (0.9 + 0.2 * yy / h) + rng.normal(0, 3.0, (h, w))

    skin_base = np.array([214.0, 164.0, 138.0])
    low = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 25) * 12
    shade = 0.8 + 0.25 * (xx / w) + low
    skin = skin_base[None, None, :] * shade[..., None] + rng.normal(0, 7.0, (h, w, 3))
    pores = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.5) * 25
    skin += pores[..., None]

    face = fill(poly_mm)
    img = bg * (1 - face[..., None]) + skin * face[..., None]

    # hair over the top and back of the head (not on the anterior outline below the hairline)
    hair_poly: list[Pt] = [
        (-75.0, -118.0),
        (-45.0, -108.0),
        (-30.0, -96.0),
        (-60.0, -70.0),
        (-110.0, -30.0),
        (-125.0, 60.0),
        (-120.0, 120.0),
        (-185.0, 20.0),
        (-150.0, -95.0),
    ]
    hair = fill(hair_poly)
    hair_col = np.array([45.0, 32.0, 25.0])[None, None, :] + rng.normal(0, 6.0, (h, w, 3))
    img = img * (1 - hair[..., None]) + hair_col * hair[..., None]
    # a shirt below the neck
    n_y = pts_mm["neck_point"][1]
    shirt_poly: list[Pt] = [
        (-300.0, n_y + 45.0),
        (80.0, n_y + 45.0),
        (80.0, 420.0),
        (-300.0, 420.0),
    ]
    shirt = fill(shirt_poly) * face
    shirt_col = np.array([225.0, 225.0, 232.0])[None, None, :] + rng.normal(0, 4.0, (h, w, 3))
    img = img * (1 - shirt[..., None]) + shirt_col * shirt[..., None]

    # nostril shadow and the alar groove (a C opening forward; its back is alar_crease)
    ac = pts_mm["alar_crease"]
    sn = pts_mm["subnasale"]
    dark = np.zeros((h, w), np.float32)
    centre = to_px((ac[0] + 6.0, ac[1]))
    axes = (6.0 / mm_per_px, 8.0 / mm_per_px)
    rot_deg = roll_deg if facing is View.PROFILE_RIGHT else -roll_deg
    start, end = (100, 260) if facing is View.PROFILE_RIGHT else (-80, 80)
    cv2.ellipse(
        dark,
        (round(centre[0] * 16), round(centre[1] * 16)),
        (round(axes[0] * 16), round(axes[1] * 16)),
        rot_deg,
        start,
        end,
        1.0,
        max(1, round(0.9 / mm_per_px)),
        cv2.LINE_AA,
        shift=4,
    )
    nostril = to_px((sn[0] + 3.5, sn[1] - 2.0))
    cv2.ellipse(
        dark,
        (round(nostril[0] * 16), round(nostril[1] * 16)),
        (round(3.5 / mm_per_px * 16), round(1.6 / mm_per_px * 16)),
        rot_deg - (10 if facing is View.PROFILE_RIGHT else -10),
        0,
        360,
        0.8,
        -1,
        cv2.LINE_AA,
        shift=4,
    )
    dark = cv2.GaussianBlur(dark, (0, 0), 0.5 / mm_per_px) * face
    img *= 1.0 - 0.45 * dark[..., None]

    img = cv2.GaussianBlur(img, (0, 0), 0.7)
    photo = np.clip(img, 0, 255).astype(np.uint8)
    truth = {k: (float(v[0]), float(v[1])) for k, v in ((k, to_px(p)) for k, p in pts_mm.items())}
    return photo, truth
