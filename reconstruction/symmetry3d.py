"""Mid-sagittal plane (mirror + ICP), per-vertex asymmetry map and per-region asymmetry.

Plane
    A first plane comes from the bilateral landmark pairs (its normal the mean unit
    right→left direction, through the mean of the pairs' midpoints). The face's vertices
    near the landmarks are mirrored about it and registered back onto the face with
    Open3D's point-to-plane ICP (a Tukey kernel, so a local deviation does not drag the
    plane along; three shrinking correspondence radii). The mirror followed by the ICP
    transform is an improper isometry x ↦ A x + b; for a face that is symmetric about a
    plane it *is* the reflection about that plane, so the plane's normal is A's eigenvector
    of eigenvalue −1 and its offset n·b / 2. Done twice (the second from the first's plane).

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

from collections.abc import Mapping

import numpy as np
import open3d as o3d

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


def _vertex_normals(mesh: SurfaceMesh) -> FloatArray:
    v, t = mesh.vertices, mesh.triangles
    fn = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
    vn = np.zeros_like(mesh.vertices)
    for k in range(3):
        np.add.at(vn, mesh.triangles[:, k], fn)
    return np.asarray(vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12))


def face_vertices(mesh: SurfaceMesh, landmarks: Points, plane: MidSagittalPlane,
                  pad_mm: float = 5.0) -> IndexArray:  # fmt: skip
    """Indices of the vertices inside the landmarks' box in the face frame (``pad_mm``
    wider, symmetric about the plane, nothing behind the jaw line): the face, not the
    scan's ears, neck or edges, which a mirror cannot match."""
    lm = plane.to_face(np.array(list(landmarks.values())))
    f = plane.to_face(mesh.vertices)
    half = float(np.max(np.abs(lm[:, 0]))) + pad_mm
    inside = (
        (np.abs(f[:, 0]) < half)
        & (f[:, 1] > lm[:, 1].min() - pad_mm)
        & (f[:, 1] < lm[:, 1].max() + pad_mm)
        & (f[:, 2] > lm[:, 2].min() - pad_mm)
    )
    return np.flatnonzero(inside).astype(np.int64)


def fit_plane(
    mesh: SurfaceMesh,
    landmarks: Points,
    *,
    radii_mm: tuple[float, ...] = (8.0, 4.0, 2.0),
    rounds: int = 2,
    tukey_mm: float = 2.0,
) -> MidSagittalPlane:
    """The mid-sagittal plane by mirror + ICP (module docstring)."""
    plane = initial_plane(landmarks)
    sel = face_vertices(mesh, landmarks, plane)
    if len(sel) < 50:
        raise ReconstructionError(f"only {len(sel)} mesh vertices near the landmarks")
    v = mesh.vertices[sel]
    target = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(v))
    target.normals = o3d.utility.Vector3dVector(_vertex_normals(mesh)[sel])
    est = o3d.pipelines.registration.TransformationEstimationPointToPlane(
        o3d.pipelines.registration.TukeyLoss(k=tukey_mm)
    )
    rms = fitness = float("nan")
    for _ in range(rounds):
        n0, d0 = plane.normal, float(plane.origin @ plane.normal)
        h0 = np.eye(3) - 2.0 * np.outer(n0, n0)
        b0 = 2.0 * d0 * n0
        source = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(v @ h0.T + b0))
        t = np.eye(4)
        for r in radii_mm:
            reg = o3d.pipelines.registration.registration_icp(
                source, target, r, t, est,
                o3d.pipelines.registration.ICPConvergenceCriteria(max_iteration=50),
            )  # fmt: skip
            t = np.asarray(reg.transformation)
            rms, fitness = float(reg.inlier_rmse), float(reg.fitness)
        a = t[:3, :3] @ h0
        b = t[:3, :3] @ b0 + t[:3, 3]
        w, vec = np.linalg.eigh((a + a.T) / 2.0)
        n = vec[:, int(np.argmin(w))]
        if n @ n0 < 0:
            n = -n
        plane = frame(n, float(n @ b) / 2.0, landmarks, rms=rms, fitness=fitness)
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
        dmin = np.min(
            np.linalg.norm(mesh.vertices[:, None, :] - np.array(pts)[None], axis=2), axis=1
        )
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
