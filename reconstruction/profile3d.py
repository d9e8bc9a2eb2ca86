"""Midline landmarks found on the surface itself: the mid-sagittal profile and its extrema.

2D landmark models pull midline points toward the face's symmetry, so a chin or nasal tip
that is shifted sideways comes out (nearly) on the midline. Here they are placed on the
mesh's geometry:

1. **Profile.** The mesh is cut by the mid-sagittal plane (face frame x = 0); the longest
   section polyline, top to bottom with the nose forward, is the soft-tissue profile, and
   :func:`analysis.profile.locate_on_curve` — the same point definitions the 2D profile
   analysis uses on a photo's outline — names its points: pronasale (most anterior point of
   the nose), soft-tissue nasion (deepest point behind the glabella–pronasale chord),
   subnasale (deepest between tip and upper lip), pogonion (the chin's most anterior
   point in the facial line), menton (where the submental tangent touches the chin), lips,
   glabella, columella.
   A Poisson mesh may have a small hole or thin gap across the midline, which cuts the
   section into pieces: pieces whose ends lie within a few mm (:class:`ProfileOptions`)
   and continue one another are joined into one polyline (the gap bridged by a chord).
   When a piece of the face stays apart (a wider gap), the planes a millimetre or two
   beside the midline are tried in turn; when each is broken inside the face, no profile
   point is named (:func:`midline_points`).
2. **Sideways.** A shifted structure is not on the plane, so each point is then moved to
   its own extremum across the face: the nasal tip and pogonion are peaks (the highest
   point of the surface's height field in z over a small x–y window around the profile
   point); nasion and subnasale are the crest of the nose root / columella base (the
   highest point of the horizontal section through them); menton the lowest point of the
   coronal section through it.
3. **The chin sideways** (``ibug_08``, what ``chin_deviation`` reads). A chin's underside
   and front are nearly flat across: on the reconstructed james chin the lowest point of a
   coronal section wanders by mm under 0.1 mm of surface error, and MediaPipe's chin point
   is held near the midline by its shape prior. The chin is rounded across at its corner,
   where the profile turns from the front to the underside: **gnathion**, the section
   point farthest down-and-forward (:data:`CHIN_DIRECTION_DEG` below the face's forward
   axis) near the triangulated chin point. The surface's height field seen from that
   direction, over a window around gnathion (:data:`CHIN_WINDOW_MM`), is fitted with a
   quadratic; the crest of the fit (where it peaks across x, the window moved there and
   fitted again until it stays) is the chin's sideways position. A chin off the midline
   is cut beside its crest by the plane, so gnathion is taken again on the section through
   the crest and the crest refitted (:func:`_chin`); menton is then placed on the chin's
   bottom at the crest. The fit reads every sample of the window, so the surface's noise
   averages out instead of deciding an extremum. What it reads is the chin's corner: a
   chin shifted as a whole moves it by the shift, a bump centred on menton (the
   benchmark's, σ 12 mm) by ≈ 0.8 of its peak. Where no crest is found (a hole under the
   chin), the lowest point near the triangulated one stands.
   Without a profile (a hole across the midline) the nasal tip is still the nose's peak
   around the triangulated tip.

Uncertainty per point: the mesh's own (``surface_sigma_mm``) and the extremum's spread —
the region within 0.1 mm of the extreme value, a flat chin being less sharply placed than
a pointed nose; for the chin's crest, the quadratic fit's standard error (its residuals
counted once per mesh triangle, not per sample).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from analysis.profile import locate_on_curve
from analysis.profile.curve import resample_curve
from reconstruction.landmarks3d import MeshQuery
from reconstruction.types import (
    FloatArray,
    Landmark3D,
    LandmarkSource,
    MidSagittalPlane,
    SurfaceMesh,
)

#: Curve units per millimetre handed to the 2D profile search (it works in pixels; its
#: windows are fractions of the nasal length, so only the sampling density matters).
UNITS_PER_MM = 4.0
#: Profile point → the iBUG-68 point it stands for (both keys are returned).
IBUG_FOR = {"pronasale": "ibug_30", "subnasale": "ibug_33"}
PEAKS = ("pronasale", "soft_tissue_pogonion")
CRESTS = ("soft_tissue_nasion", "subnasale", "labrale_superius", "labrale_inferius")
LOWEST = ("soft_tissue_menton",)
FAR = 400.0  # mm: ray origins outside any face
#: Default widest gap (mm) of the section bridged: a small hole of a Poisson mesh, a few
#: of its triangles across the midline, not a missing nose or lip.
GAP_MM = 4.0
#: Pieces a joined profile is grown from (the longest ones: the profile holds one of them).
SEEDS = 8
#: Gnathion's direction: this far (degrees) below the face's forward axis, toward the chin's
#: underside; the chin's height field is seen from there.
CHIN_DIRECTION_DEG = 45.0
#: Half-widths (mm) of the window fitted around gnathion: across (x) and along the profile.
CHIN_WINDOW_MM = (6.0, 6.0)
#: How far (mm) from the triangulated chin point (``ibug_08``) gnathion is looked for.
CHIN_REACH_MM = 20.0


@dataclass(frozen=True)
class ProfileOptions:
    """How the profile is taken from a mesh whose section may be broken by holes."""

    #: Section pieces whose ends lie within this distance (mm) are joined into one profile
    #: (a small hole or thin gap of the mesh across the midline).
    gap_mm: float = GAP_MM
    #: Planes tried in turn (mm off the mid-sagittal plane) while the section stays broken.
    offsets_mm: tuple[float, ...] = (0.0, 1.0, -1.0, 2.0, -2.0)
    #: A piece left unjoined at least this long (mm) means the profile is broken there.
    min_piece_mm: float = 10.0
    #: The face's part of the profile, where a break is not tolerated: from this far (mm)
    #: above the triangulated top of the nasal bridge (``ibug_27``: up past the glabella)
    #: to this far below the chin's bottom (``ibug_08``: past the submental tangent).
    face_above_mm: float = 30.0
    face_below_mm: float = 15.0


@dataclass(frozen=True, eq=False)
class Section:
    """The mesh cut by one face-frame plane x = const: the profile (N×3 face-frame points,
    top to bottom, empty when the plane misses) and the open pieces not joined into it."""

    profile: FloatArray
    left_out: tuple[FloatArray, ...] = ()

    def apart(self, min_piece_mm: float) -> tuple[FloatArray, ...]:
        """The pieces at least ``min_piece_mm`` long left apart: each one is the profile's
        continuation beyond a gap too wide to bridge (none: the profile is whole)."""
        return tuple(p for p in self.left_out if _length(p) >= min_piece_mm)


def _length(points: FloatArray) -> float:
    return float(np.sum(np.linalg.norm(np.diff(points, axis=0), axis=1)))


def _pieces(
    mesh: SurfaceMesh, plane: MidSagittalPlane, x_mm: float
) -> tuple[list[FloatArray], list[FloatArray]]:
    """(open polylines, closed loops) of the mesh cut by the face-frame plane x = ``x_mm``,
    face-frame points, each in walking order."""
    f = plane.to_face(mesh.vertices)
    s = f[:, 0] - x_mm
    s = np.where(np.abs(s) < 1e-9, 1e-9, s)
    tri = mesh.triangles
    st = s[tri]
    cross = np.flatnonzero((st.min(axis=1) < 0) & (st.max(axis=1) > 0))
    links: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    point: dict[tuple[int, int], FloatArray] = {}
    for t in cross:
        keys = []
        for a, b in ((0, 1), (1, 2), (2, 0)):
            i, j = int(tri[t, a]), int(tri[t, b])
            if (s[i] < 0) != (s[j] < 0):
                key = (min(i, j), max(i, j))
                if key not in point:
                    w = s[i] / (s[i] - s[j])
                    point[key] = f[i] + w * (f[j] - f[i])
                keys.append(key)
        if len(keys) == 2:
            links[keys[0]].append(keys[1])
            links[keys[1]].append(keys[0])
    seen: set[tuple[int, int]] = set()
    open_: list[FloatArray] = []
    closed: list[FloatArray] = []
    starts = [k for k, v in links.items() if len(v) == 1] + list(links)
    for start in starts:
        if start in seen:
            continue
        chain, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [k for k in links[cur] if k != prev and k not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            seen.add(cur)
            chain.append(cur)
        pts = np.array([point[k] for k in chain])
        loop = len(chain) > 2 and start in links[cur]
        (closed if loop else open_).append(pts)
    return open_, closed


def _tangent(points: FloatArray, reach_mm: float = 2.0) -> FloatArray:
    """Unit direction in which the polyline leaves its last point, over ``reach_mm`` of arc."""
    back = np.cumsum(np.linalg.norm(np.diff(points[::-1], axis=0), axis=1))
    k = min(int(np.searchsorted(back, reach_mm)) + 1, len(points) - 1)
    d = points[-1] - points[-1 - k]
    return np.asarray(d / max(float(np.linalg.norm(d)), 1e-12))


def _grow(chain: FloatArray, pieces: list[FloatArray], free: set[int], gap_mm: float) -> FloatArray:
    """``chain`` extended at its end, piece by piece, by the nearest free piece end within
    ``gap_mm`` that continues it: the step across the gap goes on in the direction the chain
    leaves and the piece enters, and the two do not fold back onto each other. Used
    pieces leave ``free``."""
    while True:
        end, out = chain[-1], _tangent(chain)
        best: tuple[float, int, FloatArray] | None = None
        for j in free:
            for cand in (pieces[j], pieces[j][::-1]):
                step = cand[0] - end
                d = float(np.linalg.norm(step))
                if d > gap_mm or (best is not None and d >= best[0]):
                    continue
                into = -_tangent(cand[::-1])
                if out @ into <= 0 or (d > 1e-9 and (step @ out <= 0 or step @ into <= 0)):
                    continue
                best = (d, j, cand)
        if best is None:
            return chain
        free.discard(best[1])
        chain = np.vstack([chain, best[2]])


def cut(mesh: SurfaceMesh, plane: MidSagittalPlane, x_mm: float = 0.0,
        gap_mm: float = GAP_MM) -> Section:  # fmt: skip
    """The section at x = ``x_mm``: its pieces joined end to end across gaps up to
    ``gap_mm`` (:func:`_grow`, both ways from each of the longest pieces), the longest such
    profile kept.
    Closed loops (a tunnel or an island of the mesh) join nothing; one is the profile only
    when nothing longer is found."""
    pieces, loops = _pieces(mesh, plane, x_mm)
    best: tuple[float, FloatArray, set[int]] = (-1.0, np.zeros((0, 3)), set(range(len(pieces))))
    for i in sorted(range(len(pieces)), key=lambda i: -_length(pieces[i]))[:SEEDS]:
        free = set(range(len(pieces))) - {i}
        chain = _grow(_grow(pieces[i], pieces, free, gap_mm)[::-1], pieces, free, gap_mm)
        if _length(chain) > best[0]:
            best = (_length(chain), chain, free)
    for loop in loops:
        if _length(loop) > best[0]:
            best = (_length(loop), loop, set(range(len(pieces))))
    out = best[1]
    if len(out) and out[0, 1] < out[-1, 1]:
        out = out[::-1]
    return Section(out, tuple(pieces[j] for j in sorted(best[2])))


def section(mesh: SurfaceMesh, plane: MidSagittalPlane, x_mm: float = 0.0,
            gap_mm: float = GAP_MM) -> FloatArray:  # fmt: skip
    """The profile of :func:`cut`: N×3 face-frame points from top (largest y) to bottom,
    pieces joined across gaps up to ``gap_mm``; empty when the plane misses."""
    return cut(mesh, plane, x_mm, gap_mm).profile


def _name(sec: FloatArray, x_mm: float, tip_hint: FloatArray | None) -> dict[str, FloatArray]:
    """Named profile points (face frame, mm) of one section; empty when it is no face."""
    if len(sec) < 20:
        return {}
    curve = resample_curve(np.column_stack([sec[:, 2], -sec[:, 1]]) * UNITS_PER_MM, 1.0, 0.5)
    hint = None if tip_hint is None else np.array([tip_hint[2], -tip_hint[1]]) * UNITS_PER_MM
    found = locate_on_curve(curve, hint)
    if found is None:
        return {}
    pts, _, _ = found
    return {k: np.array([x_mm, -y / UNITS_PER_MM, x / UNITS_PER_MM]) for k, (x, y) in pts.items()}


def midline_points(
    mesh: SurfaceMesh,
    plane: MidSagittalPlane,
    tip_hint: FloatArray | None = None,
    options: ProfileOptions | None = None,
    span: tuple[float, float] | None = None,
) -> dict[str, FloatArray]:
    """Named profile points of the first usable section that makes a face, among the
    planes ``options.offsets_mm`` off the mid-sagittal one, in turn: a hole too wide to
    bridge on the plane itself is often missed a millimetre or two beside it.

    Usable: every long piece left apart (:meth:`Section.apart`) lies outside ``span``
    (face-frame y, low to high: :func:`face_span`) — a hole at the scalp or the neck,
    where no point that matters is named; without a span, only a whole section. A profile
    broken inside the face names nothing (its longest piece alone would be named wrongly:
    a profile cut at the chin reads the lower lip as pogonion). Points carry their plane's x."""
    opt = options or ProfileOptions()
    lo, hi = span if span is not None else (-math.inf, math.inf)
    for x in opt.offsets_mm:
        sec = cut(mesh, plane, x, opt.gap_mm)
        if all(p[:, 1].min() > hi or p[:, 1].max() < lo for p in sec.apart(opt.min_piece_mm)):
            pts = _name(sec.profile, x, tip_hint)
            if pts:
                return pts
    return {}


def face_span(
    landmarks: Mapping[str, Landmark3D], plane: MidSagittalPlane, options: ProfileOptions
) -> tuple[float, float] | None:
    """The face's part of the profile, face-frame y (low, high), from the triangulated top of
    the nasal bridge and bottom of the chin (:class:`ProfileOptions`); None without them."""
    if "ibug_27" not in landmarks or "ibug_08" not in landmarks:
        return None
    top = float(plane.to_face(_before(landmarks["ibug_27"]))[1])
    bottom = float(plane.to_face(_before(landmarks["ibug_08"]))[1])
    return bottom - options.face_below_mm, top + options.face_above_mm


class _Field:
    """Height fields of the mesh in the face frame, by ray casting."""

    def __init__(self, query: MeshQuery, plane: MidSagittalPlane) -> None:
        self.q, self.plane = query, plane
        t = query.mesh.vertices[query.mesh.triangles]
        #: The mesh's typical triangle edge (mm): how far apart its independent samples lie.
        self.spacing_mm = float(np.median(np.linalg.norm(t[:, 1] - t[:, 0], axis=1)))

    def _cast(self, face_origins: FloatArray, face_dir: FloatArray) -> FloatArray:
        o = self.plane.from_face(face_origins)
        d = np.tile(face_dir @ self.plane.axes, (len(o), 1))
        return self.q.cast(o, d)

    def front(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """Surface z seen from the front at face (x, y) (NaN on a miss)."""
        t = self._cast(np.column_stack([x, y, np.full(len(x), FAR)]), np.array([0.0, 0.0, -1.0]))
        return np.where(np.isfinite(t), FAR - t, np.nan)

    def height(self, points: FloatArray, u: FloatArray) -> FloatArray:
        """How far along the unit face direction ``u`` the surface lies, seen from ``u``'s
        side, on the line through each face point along ``u`` (NaN on a miss)."""
        t = self._cast(points + FAR * u, -u)
        return np.where(np.isfinite(t), FAR - t, np.nan)

    def below(self, x: FloatArray, z: FloatArray) -> FloatArray:
        """Surface y seen from below at face (x, z)."""
        t = self._cast(np.column_stack([x, np.full(len(x), -FAR), z]), np.array([0.0, 1.0, 0.0]))
        return np.where(np.isfinite(t), t - FAR, np.nan)


def _cap(
    values: FloatArray, coords: FloatArray, sign: float, cap: float
) -> tuple[FloatArray, float]:
    """(centroid, RMS spread) of the coords whose sign·value lies within ``cap`` mm of the
    extreme: the centre of a broad tip or chin, steadier than the single extreme sample
    on a coarse mesh; NaNs when every sample missed."""
    v = sign * values
    if not np.isfinite(v).any():
        return np.full(coords.shape[1], np.nan), math.nan
    near = np.isfinite(v) & (v >= np.nanmax(v) - cap)
    c = coords[near].mean(axis=0)
    return c, float(np.sqrt(np.mean(np.sum((coords[near] - c) ** 2, axis=1))))


def _peak(
    field: _Field, p: FloatArray, half: float, step: float, cap: float
) -> tuple[FloatArray, float]:
    g = np.arange(-half, half + step / 2, step)
    xx, yy = (a.ravel() for a in np.meshgrid(p[0] + g, p[1] + g))
    c, spread = _cap(field.front(xx, yy), np.column_stack([xx, yy]), 1.0, cap)
    z = field.front(c[:1], c[1:2])
    return np.array([c[0], c[1], z[0]]), spread


def _crest(
    field: _Field, p: FloatArray, half: float, step: float, cap: float
) -> tuple[FloatArray, float]:
    x = p[0] + np.arange(-half, half + step / 2, step)
    c, spread = _cap(field.front(x, np.full(len(x), p[1])), x[:, None], 1.0, cap)
    z = field.front(c, np.array([p[1]]))
    return np.array([c[0], p[1], z[0]]), spread


def _lowest(
    field: _Field, p: FloatArray, half: float, step: float, cap: float
) -> tuple[FloatArray, float]:
    x = p[0] + np.arange(-half, half + step / 2, step)
    c, spread = _cap(field.below(x, np.full(len(x), p[2])), x[:, None], -1.0, cap)
    y = field.below(c, np.array([p[2]]))
    return np.array([c[0], y[0], p[2]]), spread


def chin_direction(degrees: float = CHIN_DIRECTION_DEG) -> FloatArray:
    """Unit face-frame direction ``degrees`` below forward (+z toward −y)."""
    a = math.radians(degrees)
    return np.array([0.0, -math.sin(a), math.cos(a)])


def gnathion(
    points: FloatArray, chin: FloatArray, u: FloatArray, reach_mm: float = CHIN_REACH_MM
) -> FloatArray | None:
    """The point of a section (face frame) within ``reach_mm`` of the face point ``chin``
    that lies farthest along ``u``: the chin's corner (None when none is that near)."""
    near = points[np.linalg.norm(points - chin, axis=1) < reach_mm] if len(points) else points
    return None if len(near) == 0 else np.asarray(near[int(np.argmax(near @ u))])


def section_points(mesh: SurfaceMesh, plane: MidSagittalPlane, x_mm: float) -> FloatArray:
    """Every point of the section x = ``x_mm`` (face frame), joined or not: the chin's
    corner is found on it even where holes higher up break the profile."""
    open_, closed = _pieces(mesh, plane, x_mm)
    pieces = open_ + closed
    return np.vstack(pieces) if pieces else np.zeros((0, 3))


def chin_crest(
    field: _Field,
    corner: FloatArray,
    u: FloatArray,
    window: tuple[float, float] = CHIN_WINDOW_MM,
    step: float = 0.25,
    iterations: int = 8,
) -> tuple[float, float] | None:
    """(x, standard error) of the crest of the surface's height field along ``u`` around
    the face point ``corner``: a quadratic in (x, v) fitted over ``window`` (v along the
    profile, ⟂ u), its peak across x at v = 0, the window moved there and fitted again
    until it stays (module docstring). None where the fit does not peak across x or the
    crest runs off (more than a window's width from ``corner``)."""
    ev = np.cross(u, np.array([1.0, 0.0, 0.0]))
    gx = np.arange(-window[0], window[0] + step / 2, step)
    gv = np.arange(-window[1], window[1] + step / 2, step)
    xx, vv = (a.ravel() for a in np.meshgrid(gx, gv))
    x0 = float(corner[0])
    for _ in range(iterations):
        base = np.array([x0, corner[1], corner[2]])
        h = field.height(base + xx[:, None] * np.array([1.0, 0.0, 0.0]) + vv[:, None] * ev, u)
        ok = np.isfinite(h)
        if np.count_nonzero(ok) < 0.8 * len(h):
            return None
        a = np.column_stack([np.ones(ok.sum()), xx[ok], vv[ok], xx[ok] ** 2, xx[ok] * vv[ok],
                             vv[ok] ** 2])  # fmt: skip
        coef, *_ = np.linalg.lstsq(a, h[ok], rcond=None)
        if coef[3] >= 0:
            return None
        shift = float(np.clip(-coef[1] / (2.0 * coef[3]), -window[0] / 2, window[0] / 2))
        x0 += shift
        if abs(x0 - corner[0]) > 2 * window[0]:
            return None
        if abs(shift) < 0.01:
            r = h[ok] - a @ coef
            # the samples are denser than the mesh's triangles: one residual per triangle
            # is independent, so the error is scaled up by the samples per triangle width
            dof = max(len(r) - 6, 1) * min(1.0, (step / field.spacing_mm) ** 2)
            cov = np.linalg.pinv(a.T @ a) * float(r @ r) / max(dof, 1.0)
            return x0, math.sqrt(float(cov[1, 1])) / (2.0 * abs(float(coef[3])))
    return None


def _chin(
    field: _Field, mesh: SurfaceMesh, plane: MidSagittalPlane, chin: FloatArray, rounds: int = 3
) -> tuple[FloatArray, float] | None:
    """``ibug_08`` placed sideways on the chin's crest (:func:`chin_crest` around
    :func:`gnathion`, near the triangulated ``chin``, face frame) and on the chin's bottom
    there, in the coronal section through ``chin``; None where no crest is found. A chin
    off the midline is cut beside its crest by the mid-sagittal plane, so gnathion is
    taken again on the section through the crest found, and the crest fitted again there,
    until it stays: the window sits on the same part of the chin wherever the chin is."""
    u = chin_direction()
    crest: tuple[float, float] | None = None
    x = 0.0
    for _ in range(rounds):
        corner = gnathion(section_points(mesh, plane, x), chin, u)
        found = None if corner is None else chin_crest(field, corner, u)
        if found is None:
            break
        moved = crest is None or abs(found[0] - crest[0]) > 0.05
        crest, x = found, found[0]
        if not moved:
            break
    if crest is None:
        return None
    y = field.below(np.array([crest[0]]), np.array([chin[2]]))[0]
    return (np.array([crest[0], y, chin[2]]), crest[1]) if np.isfinite(y) else None


def _before(lm: Landmark3D) -> FloatArray:
    return lm.triangulated if lm.triangulated is not None else lm.position


def refine_midline(
    landmarks: Mapping[str, Landmark3D],
    mesh: SurfaceMesh,
    plane: MidSagittalPlane,
    *,
    half_window_mm: float = 8.0,
    step_mm: float = 0.25,
    cap_mm: float = 0.2,
    surface_sigma_mm: float = 0.2,
    profile: ProfileOptions | None = None,
) -> dict[str, Landmark3D]:
    """``landmarks`` with the midline points placed on the surface (module docstring).

    The profile points are added; ``ibug_30`` and ``ibug_33`` become pronasale and
    subnasale (the same anatomical points). ``ibug_27`` (top of the nasal bridge) and
    ``ibug_08`` (bottom of the chin's frontal outline) are not the profile's soft-tissue
    nasion and menton, so they keep their triangulated height and take their sideways
    position from the surface: the crest of the nose root and the lowest point of the
    chin's coronal section — at the chin's crest (:func:`chin_crest`; the lowest point
    near the triangulated one where no crest is found). Each keeps its triangulated
    position in ``triangulated``. The profile is :func:`midline_points`' (``profile``:
    how holes across the midline are bridged or stepped around; :func:`face_span` where
    a break is not tolerated)."""
    out = dict(landmarks)
    tip = landmarks.get("ibug_30")
    hint = None if tip is None else plane.to_face(tip.position)
    field = _Field(MeshQuery(mesh), plane)
    found: dict[str, tuple[FloatArray, float]] = {}
    opt = profile or ProfileOptions()
    span = face_span(landmarks, plane, opt)
    for name, p in midline_points(mesh, plane, hint, opt, span).items():
        if name in PEAKS:
            found[name] = _peak(field, p, half_window_mm, step_mm, cap_mm)
        elif name in CRESTS:
            found[name] = _crest(field, p, half_window_mm, step_mm, cap_mm)
        elif name in LOWEST:
            found[name] = _lowest(field, p, half_window_mm, step_mm, cap_mm)
        else:
            found[name] = (p, 0.0)
    for key, how in (("ibug_27", _crest), ("ibug_08", _lowest)):
        if key in landmarks:
            found[key] = how(field, plane.to_face(landmarks[key].position), half_window_mm,
                             step_mm, cap_mm)  # fmt: skip
    if "pronasale" not in found and "ibug_30" in landmarks:  # no profile: the nose's peak
        found["ibug_30"] = _peak(field, plane.to_face(landmarks["ibug_30"].position),
                                 half_window_mm, step_mm, cap_mm)  # fmt: skip
    if "ibug_08" in landmarks:
        chin = _chin(field, mesh, plane, plane.to_face(landmarks["ibug_08"].position))
        if chin is not None:
            found["ibug_08"] = chin
    for name, (q, spread) in found.items():
        if not np.isfinite(q).all():
            continue
        sigma = math.hypot(surface_sigma_mm, spread)
        for key in (name, *([IBUG_FOR[name]] if name in IBUG_FOR else [])):
            before = landmarks.get(key)
            out[key] = Landmark3D(
                name=key,
                position=plane.from_face(q),
                uncertainty_mm=sigma,
                source=LandmarkSource.SURFACE,
                views=before.views if before is not None else (),
                reprojection_px=before.reprojection_px if before is not None else math.nan,
                triangulated=None if before is None else _before(before),
            )
    return out
