"""Mid-sagittal plane (mirror + ICP), per-vertex asymmetry map and per-region asymmetry.

Plane
    Mirror + ICP, constrained to a reflection: points spread evenly over the face's surface
    are mirrored about the plane, each is paired with the closest point of the surface, and
    the plane (its normal and offset: a reflection has no other freedom) is moved to bring
    the mirrored points onto the surface, point-to-plane, by Gauss–Newton; pairing and
    fitting alternate until the plane stops moving (:func:`fit_plane`). The plane must not
    follow what it is there to measure — a shifted chin or nasal tip, a raised brow — so,
    as the 2D face frame does (:mod:`analysis.geometry`), it reads the **stable upper
    face**:

    * the start is the mirror plane of the upper-face landmarks (brows, eyes, nasal bridge;
      Tukey-reweighted on their mirror residuals), not of every pair: the jaw, nose and
      mouth pairs move with a deviated chin or tip (:func:`upper_face_plane`);
    * the surface fitted is the face above the middle of the nasal dorsum (iBUG 29) and
      :data:`FOREHEAD_MM` of forehead above the brows; the lower face, the nasal tip and
      the chin are left out, and so are the eyes' lids and surface (gaze, a ptotic lid);
      the edges of that region are soft, so that a point crossing one does not jump the fit
      (:func:`support`);
    * each point weighs the surface area it stands for (:func:`surface_samples`: a dense
      patch of the mesh is not more face, and a coarse mesh still gives a smooth fit), and
      Tukey's biweight of its mirror residual (:data:`TUKEY_C` robust sigmas, 1.4826 × the
      median residual) weighs one-sided changes down; a mirrored point whose closest
      surface point lies off to its side (beyond the scan's edge) counts nothing;
    * the region is chosen again in the fitted plane's frame and the fit repeated.

    On the true james scan a 4 mm chin shift, 4 mm tip shift and 4 mm brow lift together
    move the plane ≤ 0.1 mm at menton, tip and nasion (the former whole-face fit: 0.34 mm).

Asymmetry map
    Each vertex's signed distance to the mesh mirrored about the plane (closest point on
    the mirrored triangles, ``RaycastingScene``): + where the vertex lies outside the
    mirrored surface (along its outward normal: this side bulges more than the other),
    − inside. NaN where the mirrored surface is farther than ``reach_mm`` (no counterpart:
    the scan's edge).

Regions
    Vertices within a radius of a region's landmarks: chin, nose, brows, cheeks, lips;
    mean and max |distance| and the signed peak.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from analysis.landmark_names import mirror_key
from reconstruction.errors import ReconstructionError
from reconstruction.landmarks3d import MeshQuery, side
from reconstruction.types import (
    FloatArray,
    IndexArray,
    Landmark3D,
    MidSagittalPlane,
    RegionAsymmetry,
    SurfaceMesh,
    SymmetryResult,
)

Points = Mapping[str, FloatArray]

#: Region → (anchor landmarks, radius mm). A vertex within the radius of any anchor belongs.
REGIONS: dict[str, tuple[tuple[str, ...], float]] = {
    "chin": (("ibug_07", "ibug_08", "ibug_09", "soft_tissue_pogonion", "soft_tissue_menton"), 14.0),
    "nose": (("ibug_28", "ibug_29", "ibug_30", "ibug_31", "ibug_33", "ibug_35", "pronasale"), 9.0),
    "brows": (tuple(f"ibug_{i:02d}" for i in range(17, 27)), 10.0),
    "cheeks": (("cheek_r", "cheek_l"), 18.0),
    "lips": (tuple(f"ibug_{i:02d}" for i in range(48, 60)), 6.0),
}
#: Cheek centre → the landmarks it is the mean of (outer face, alar base, lower lid).
CHEEK_CENTRES: dict[str, tuple[str, str, str]] = {
    "cheek_r": ("ibug_02", "ibug_31", "ibug_41"),
    "cheek_l": ("ibug_14", "ibug_35", "ibug_46"),
}


def positions(landmarks: Mapping[str, Landmark3D]) -> dict[str, FloatArray]:
    return {k: np.asarray(v.position) for k, v in landmarks.items()}


def _up_hint(p: Points) -> FloatArray:
    if "ibug_27" in p and "ibug_08" in p:
        return np.asarray(p["ibug_27"] - p["ibug_08"])
    eyes = [p[k] for k in ("ibug_36", "ibug_45") if k in p]
    mouth = [p[k] for k in ("ibug_48", "ibug_54") if k in p]
    if not eyes or not mouth:
        raise ReconstructionError("the face frame needs nasion and menton, or eyes and mouth")
    return np.asarray(np.mean(eyes, axis=0) - np.mean(mouth, axis=0))


def _origin_hint(p: Points) -> FloatArray:
    if "ibug_39" in p and "ibug_42" in p:
        return np.asarray((p["ibug_39"] + p["ibug_42"]) / 2.0)
    return np.asarray(np.mean(list(p.values()), axis=0))


def frame(normal: FloatArray, offset: float, p: Points, *, rms: float = float("nan"),
          fitness: float = float("nan")) -> MidSagittalPlane:  # fmt: skip
    """The face frame on the plane n·x = offset: x = n, y = the landmarks' up direction
    orthogonalised, origin = the inner canthi midpoint projected onto the plane."""
    x = normal / np.linalg.norm(normal)
    up = _up_hint(p)
    y = up - (up @ x) * x
    y /= np.linalg.norm(y)
    o = _origin_hint(p)
    o = o - (o @ x - offset) * x
    return MidSagittalPlane(np.vstack([x, y, np.cross(x, y)]), o, rms, fitness)


def _pairs(p: Points) -> list[tuple[FloatArray, FloatArray]]:
    out = []
    for name, left in p.items():
        other = mirror_key(name)
        if side(name) > 0 and other is not None and other != name and other in p:
            out.append((np.asarray(p[other]), np.asarray(left)))
    return out


def initial_plane(landmarks: Points) -> MidSagittalPlane:
    """The plane from the bilateral landmark pairs (module docstring)."""
    pairs = _pairs(landmarks)
    if len(pairs) < 3:
        raise ReconstructionError(f"a mid-sagittal plane needs 3 bilateral pairs, got {len(pairs)}")
    d = np.array([b - a for a, b in pairs])
    n = np.mean(d / np.linalg.norm(d, axis=1, keepdims=True), axis=0)
    n /= np.linalg.norm(n)
    mids = np.array([(a + b) / 2.0 for a, b in pairs])
    return frame(n, float(np.mean(mids @ n)), landmarks)


def face_vertices(mesh: SurfaceMesh, landmarks: Points, plane: MidSagittalPlane,
                  pad_mm: float = 5.0, forehead_mm: float = 0.0) -> IndexArray:  # fmt: skip
    """Indices of the vertices inside the landmarks' box in the face frame (``pad_mm``
    wider, up to at least ``forehead_mm`` above the brows, symmetric about the plane,
    nothing behind the jaw line): the face, not the scan's ears, neck or edges, which a
    mirror cannot match."""
    lm = plane.to_face(np.array(list(landmarks.values())))
    f = plane.to_face(mesh.vertices)
    half = float(np.max(np.abs(lm[:, 0]))) + pad_mm
    top = float(lm[:, 1].max()) + pad_mm
    brows = [landmarks[k] for k in BROWS if k in landmarks]
    if forehead_mm > 0 and brows:
        top = max(top, float(np.max(plane.to_face(np.array(brows))[:, 1])) + forehead_mm)
    inside = (
        (np.abs(f[:, 0]) < half)
        & (f[:, 1] > lm[:, 1].min() - pad_mm)
        & (f[:, 1] < top)
        & (f[:, 2] > lm[:, 2].min() - pad_mm)
    )
    return np.flatnonzero(inside).astype(np.int64)


#: Tukey's biweight constant of the plane fit (95 % efficiency under Gaussian residuals), as
#: the 2D face frame's (:data:`analysis.geometry.FRAME_TUKEY_C`).
TUKEY_C = 4.685
#: The landmark below which the face is left out of the plane fit (mid nasal dorsum).
UPPER_FACE_BELOW = "ibug_29"
#: The eye contours (iBUG 36–47) and how near them (mm) the plane fit does not look: the
#: lids and the eyes' surface (gaze, a ptotic lid) are no symmetry of the face.
EYE_CONTOURS = tuple(f"ibug_{i}" for i in range(36, 48))
EYE_MM = 6.0
#: The brows (iBUG 17–26), and how far above them (mm) the plane fit reads the forehead:
#: the face's largest stable surface, which holds the plane's roll when one brow is lifted.
BROWS = tuple(f"ibug_{i}" for i in range(17, 27))
FOREHEAD_MM = 35.0
#: Surface area (mm²) per point the plane is fitted on.
SAMPLE_AREA_MM2 = 2.0
#: Width (mm) of the soft edges of the fitted region (below the dorsum, around the eyes).
EDGE_MM = 3.0
#: The landmarks the surface fit starts from: the brows, the eyes and the nasal bridge,
#: which a deviated chin or nasal tip leaves where they are.
UPPER_FACE_LANDMARKS = tuple(f"ibug_{i}" for i in (*range(17, 29), *range(36, 48)))


def _distance_to(points: FloatArray, anchors: FloatArray) -> FloatArray:
    """Each point's distance to the nearest anchor."""
    return np.asarray(
        np.min(np.linalg.norm(points[:, None, :] - anchors[None, :, :], axis=2), axis=1)
    )


def _tangents(n: FloatArray) -> tuple[FloatArray, FloatArray]:
    a = np.cross(n, [0.0, 0.0, 1.0]) if abs(n[2]) < 0.9 else np.cross(n, [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    return a, np.cross(n, a)


def _reflection(a: FloatArray, b: FloatArray, w: FloatArray) -> tuple[FloatArray, float]:
    """(n, offset) of the plane whose reflection best maps points ``b`` onto ``a`` (rows
    weighted by ``w``, both orders of each pair present): through the weighted centroid,
    n the eigenvector of the symmetrised cross-covariance with the smallest eigenvalue
    (the 3D form of :func:`analysis.geometry.fit_mirror_axis`)."""
    c = np.sum(w[:, None] * (a + b) / 2.0, axis=0) / np.sum(w)
    h = ((a - c) * w[:, None]).T @ (b - c)
    n = np.linalg.eigh((h + h.T) / 2.0)[1][:, 0]
    return n, float(n @ c)


def upper_face_plane(landmarks: Points, iterations: int = 6) -> MidSagittalPlane:
    """The mirror plane of the upper-face landmarks (:data:`UPPER_FACE_LANDMARKS`, Tukey-
    reweighted on their mirror residuals as the 2D face frame is): where the surface fit
    starts, so that a shifted chin or nose tip does not move its start. The plane of every
    pair (:func:`initial_plane`) where fewer than 4 upper-face pairs are found."""
    rows = []
    for k in UPPER_FACE_LANDMARKS:
        other = mirror_key(k) or k
        if k in landmarks and other in landmarks:
            rows.append((landmarks[k], landmarks[other]))
    if sum(1 for k in UPPER_FACE_LANDMARKS if side(k) > 0 and k in landmarks) < 4:
        return initial_plane(landmarks)
    a, b = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    w = np.ones(len(a))
    n, offset = _reflection(a, b, w)
    for _ in range(iterations):
        r = np.linalg.norm(a - (b - 2.0 * (b @ n - offset)[:, None] * n), axis=1)
        z = np.minimum(r / (TUKEY_C * max(1.4826 * float(np.median(r)), 0.5)), 1.0)
        n, offset = _reflection(a, b, (1.0 - z * z) ** 2)
    ref = initial_plane(landmarks).normal
    return frame(n, offset, landmarks) if n @ ref > 0 else frame(-n, -offset, landmarks)


def _ramp(value: FloatArray, start: float, width: float) -> FloatArray:
    """0 below ``start``, 1 above ``start + width``, linear between (a soft edge: a vertex
    crossing it does not jump the fit)."""
    return np.asarray(np.clip((value - start) / width, 0.0, 1.0))


def surface_samples(
    mesh: SurfaceMesh, triangles: IndexArray, area_mm2: float = SAMPLE_AREA_MM2
) -> tuple[FloatArray, FloatArray, IndexArray]:
    """(points, the surface area each stands for, their triangle) spread evenly over the
    given triangles, one per ``area_mm2`` (at least one per triangle; a fixed
    low-discrepancy pattern, so the same mesh gives the same points). A mirror fit on
    these reads the surface, not the mesh's vertex density, and a coarse mesh (a few mm per
    triangle) still gives a smooth fit."""
    v = mesh.vertices[mesh.triangles[triangles]]  # T×3×3
    area = np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1) / 2.0
    count = np.maximum(1, np.rint(area / area_mm2)).astype(np.int64)
    tri = np.repeat(np.arange(len(triangles)), count)
    k = np.arange(len(tri)) - np.repeat(np.cumsum(count) - count, count)
    g = 1.32471795724474602596  # the plastic number: Roberts' R2 sequence
    u = (0.5 + k / g) % 1.0
    w = (0.5 + k / (g * g)) % 1.0
    fold = u + w > 1.0
    u, w = np.where(fold, 1.0 - u, u), np.where(fold, 1.0 - w, w)
    p = v[tri, 0] + u[:, None] * (v[tri, 1] - v[tri, 0]) + w[:, None] * (v[tri, 2] - v[tri, 0])
    return p, (area / count)[tri], np.asarray(triangles[tri], dtype=np.int64)


def support(
    mesh: SurfaceMesh,
    landmarks: Points,
    plane: MidSagittalPlane,
    *,
    lower_weight: float = 0.0,
    eye_mm: float = EYE_MM,
    forehead_mm: float = FOREHEAD_MM,
    edge_mm: float = EDGE_MM,
) -> tuple[FloatArray, FloatArray]:
    """(surface points, weights) the plane is fitted on, in ``plane``'s face frame: points
    spread over the face's triangles (:func:`surface_samples`; a triangle whose vertices
    are all in :func:`face_vertices`), each weighing the area it stands for, those below
    :data:`UPPER_FACE_BELOW` ``lower_weight`` of it and those within ``eye_mm`` of an eye
    contour nothing; both edges soft over ``edge_mm``."""
    inside = np.zeros(len(mesh.vertices), dtype=bool)
    inside[face_vertices(mesh, landmarks, plane, forehead_mm=forehead_mm)] = True
    tris = np.flatnonzero(inside[mesh.triangles].all(axis=1)).astype(np.int64)
    p, w, _ = surface_samples(mesh, tris)
    f = plane.to_face(p)
    if UPPER_FACE_BELOW in landmarks:
        split = float(plane.to_face(landmarks[UPPER_FACE_BELOW])[1])
        w = w * (lower_weight + (1.0 - lower_weight) * _ramp(f[:, 1], split - edge_mm, edge_mm))
    eyes = [landmarks[k] for k in EYE_CONTOURS if k in landmarks]
    if eye_mm > 0 and eyes:
        w = w * _ramp(_distance_to(p, np.array(eyes)), eye_mm, edge_mm)
    keep = w > 0
    return p[keep], w[keep]


def _mirror_icp(
    query: MeshQuery, points: FloatArray, prior: FloatArray, plane: MidSagittalPlane,
    iterations: int, sigma_floor_mm: float, tolerance_mm: float = 0.005,
) -> tuple[FloatArray, float, float, float]:  # fmt: skip
    """(n, offset, inlier RMS, share of points kept) of the reflection that brings the
    mirrored ``points`` onto the surface, from ``plane`` (module docstring). Stops when a
    step moves the plane less than ``tolerance_mm`` within 100 mm of the points' centre
    (on a coarse mesh the closest points keep switching facets below that)."""
    centre = np.average(points, axis=0, weights=prior)
    v = points - centre
    n = plane.normal.copy()
    offset = float(n @ (plane.origin - centre))
    rms = fitness = math.nan
    for _ in range(iterations):
        s = v @ n - offset
        mirrored = v - 2.0 * s[:, None] * n
        q, m = query.closest(mirrored + centre)
        d = mirrored - (q - centre)
        e = np.sum(d * m, axis=1)
        sigma = max(1.4826 * float(np.median(np.abs(e))), sigma_floor_mm)
        z = np.minimum(np.abs(e) / (TUKEY_C * sigma), 1.0)
        w = prior * (1.0 - z * z) ** 2
        w[np.linalg.norm(d, axis=1) > 3.0 * np.abs(e) + 1.0] = 0.0  # off the scan's edge
        t1, t2 = _tangents(n)
        jac = np.column_stack([
            -2.0 * np.sum(m * ((v @ t1)[:, None] * n + s[:, None] * t1), axis=1),
            -2.0 * np.sum(m * ((v @ t2)[:, None] * n + s[:, None] * t2), axis=1),
            2.0 * (m @ n),
        ])  # fmt: skip
        step = np.linalg.lstsq(jac * np.sqrt(w)[:, None], -e * np.sqrt(w), rcond=None)[0]
        n = n + step[0] * t1 + step[1] * t2
        n /= np.linalg.norm(n)
        offset += float(step[2])
        used = w > 0
        if used.any():
            rms = float(np.sqrt(np.average(e[used] ** 2, weights=w[used])))
        fitness = float(np.count_nonzero(used) / len(w))
        if max(100.0 * float(np.hypot(step[0], step[1])), abs(float(step[2]))) < tolerance_mm:
            break
    return n, offset + float(n @ centre), rms, fitness


def fit_plane(
    mesh: SurfaceMesh,
    landmarks: Points,
    *,
    lower_weight: float = 0.0,
    eye_mm: float = EYE_MM,
    forehead_mm: float = FOREHEAD_MM,
    rounds: int = 2,
    iterations: int = 40,
    sigma_floor_mm: float = 0.1,
) -> MidSagittalPlane:
    """The mid-sagittal plane by mirror + ICP on the upper face (module docstring), from
    :func:`upper_face_plane`; the fitted vertices (:func:`support`) are chosen again in
    each round's plane.

    ``lower_weight``: the weight of the face below :data:`UPPER_FACE_BELOW` (0: left out);
    ``eye_mm``: vertices this close to an eye-contour landmark are left out;
    ``sigma_floor_mm``: the robust sigma's floor, for an exactly symmetric surface."""
    plane = upper_face_plane(landmarks)
    query = MeshQuery(mesh)
    for _ in range(rounds):
        points, prior = support(mesh, landmarks, plane, lower_weight=lower_weight,
                                eye_mm=eye_mm, forehead_mm=forehead_mm)  # fmt: skip
        if len(points) < 50:
            raise ReconstructionError(f"only {len(points)} upper-face surface points found")
        n, offset, rms, fitness = _mirror_icp(
            query, points, prior, plane, iterations, sigma_floor_mm
        )
        plane = frame(n, offset, landmarks, rms=rms, fitness=fitness)
    return plane


def asymmetry_map(
    mesh: SurfaceMesh, plane: MidSagittalPlane, *, reach_mm: float = 15.0
) -> FloatArray:
    """Each vertex's signed distance to the mirrored surface, mm (module docstring)."""
    mirrored = SurfaceMesh(
        vertices=plane.reflect(mesh.vertices),
        triangles=mesh.triangles[:, ::-1],  # mirroring flips the winding back outward
        scale=mesh.scale,
        algorithm=mesh.algorithm,
    )
    q, n = MeshQuery(mirrored).closest(mesh.vertices)
    d = mesh.vertices - q
    dist = np.linalg.norm(d, axis=1)
    signed = np.where(np.sum(d * n, axis=1) >= 0.0, dist, -dist)
    return np.asarray(np.where(dist <= reach_mm, signed, np.nan))


def _anchors(p: Points) -> dict[str, FloatArray]:
    """The landmarks plus the cheek centres the cheek region needs."""
    out = dict(p)
    for centre, made_of in CHEEK_CENTRES.items():
        if all(k in p for k in made_of):
            out[centre] = np.mean([p[k] for k in made_of], axis=0)
    return out


def region_landmarks(region: str) -> tuple[str, ...]:
    """The landmark keys a region of :data:`REGIONS` is anchored on (a cheek centre as
    the landmarks it is the mean of): where a report points at the region."""
    names = REGIONS[region][0]
    return tuple(dict.fromkeys(k for n in names for k in CHEEK_CENTRES.get(n, (n,))))


def region_asymmetry(
    mesh: SurfaceMesh, distances: FloatArray, landmarks: Points
) -> tuple[RegionAsymmetry, ...]:
    """Per region of :data:`REGIONS` with at least one anchor present."""
    anchors = _anchors(landmarks)
    out = []
    for region, (names, radius) in REGIONS.items():
        pts = [anchors[k] for k in names if k in anchors]
        if not pts:
            continue
        dmin = _distance_to(mesh.vertices, np.array(pts))
        vals = distances[(dmin < radius) & np.isfinite(distances)]
        if len(vals) == 0:
            continue
        k = int(np.argmax(np.abs(vals)))
        out.append(
            RegionAsymmetry(
                region=region,
                mean_abs_mm=float(np.mean(np.abs(vals))),
                max_abs_mm=float(np.abs(vals[k])),
                peak_signed_mm=float(vals[k]),
                n_vertices=int(len(vals)),
            )
        )
    return tuple(out)


def analyse(mesh: SurfaceMesh, landmarks: Mapping[str, Landmark3D]) -> SymmetryResult:
    """Plane, asymmetry map and regions of a mesh from its 3D landmarks."""
    p = positions(landmarks)
    plane = fit_plane(mesh, p)
    dist = asymmetry_map(mesh, plane)
    return SymmetryResult(plane, dist, region_asymmetry(mesh, dist, p))
