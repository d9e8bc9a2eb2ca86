"""Dense points to a clean surface mesh with Open3D: screened Poisson, then clean-up.

Poisson (Kazhdan & Hoppe 2013) fits a watertight implicit surface, so what it adds where no
point supports it is removed again: vertices of low point density (the lowest quantile)
and vertices farther than a few point spacings from any point (the closed-off back and
the rim), then every piece but the largest connected one. The octree depth follows the
point spacing (finest cell ≈ the spacing, capped), and the result is decimated (quadric error)
to a configurable triangle count. Vertex colours come from the points (Poisson
interpolates them). Units follow the points (and so the input cameras).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import open3d as o3d

from analysis.types import InvalidInputError, ModelIdentity
from reconstruction.dense import Progress
from reconstruction.types import DensePointCloud, FloatArray, MeshScale, SurfaceMesh

log = logging.getLogger(__name__)

ALGORITHM = ModelIdentity(
    id="facenode-dense-poisson",
    name="facenode multi-view stereo (SGBM + depth fusion) and screened Poisson meshing",
    version="1",
    licence="MIT",
)
#: The same meshing on the GPU path's dense cloud (:mod:`reconstruction.patchmatch`).
PATCHMATCH_ALGORITHM = ModelIdentity(
    id="facenode-patchmatch-poisson",
    name="COLMAP PatchMatch stereo and fusion (CUDA) and screened Poisson meshing",
    version="1",
    licence="MIT (COLMAP: BSD-3-Clause)",
)


@dataclass(frozen=True)
class MeshingOptions:
    """Knobs of the meshing stage."""

    #: Triangles in the returned mesh (quadric decimation); None keeps Poisson's.
    target_triangles: int | None = 100_000
    #: Octree depth; None: from the point spacing, at most ``max_depth`` (8: cells of
    #: 1/256 of the extent, ≈ 1.2 mm on a head, already below the points' noise after
    #: fusion; 9 costs 3× the time, and decimation more, for ≈ 0.01 mm).
    depth: int | None = None
    max_depth: int = 8
    #: Vertices of the lowest Poisson density quantile are dropped.
    density_quantile: float = 0.02
    #: Vertices farther than this many point spacings from every point are dropped.
    max_distance_spacings: float = 3.0


def poisson_mesh(
    cloud: DensePointCloud,
    scale: MeshScale,
    options: MeshingOptions | None = None,
    camera_centres: FloatArray | None = None,
    progress: Progress | None = None,
    algorithm: ModelIdentity = ALGORITHM,
) -> SurfaceMesh:
    """The surface of ``cloud`` as a :class:`SurfaceMesh` carrying ``scale``.

    Normals come from the cloud where it has them; otherwise they are estimated and turned
    toward the nearest of ``camera_centres`` (required then).
    """
    opt = options or MeshingOptions()
    report = progress or (lambda stage, fraction: None)
    if len(cloud) < 100:
        raise InvalidInputError(f"meshing needs at least 100 points, got {len(cloud)}")
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.array(cloud.points)))
    pcd.colors = o3d.utility.Vector3dVector(cloud.colors.astype(np.float64) / 255.0)
    spacing = float(np.median(np.asarray(pcd.compute_nearest_neighbor_distance())))
    report("meshing", 0.0)
    _set_normals(pcd, cloud, spacing, camera_centres)
    report("meshing", 0.15)
    depth = opt.depth or _octree_depth(cloud.points, spacing, opt.max_depth)
    mesh, densities = o3d.geometry.TriangleMesh.create_from_point_cloud_poisson(
        pcd, depth=depth, linear_fit=False, n_threads=0
    )
    density = np.asarray(densities)
    log.info("poisson depth %d: %d triangles (spacing %.3g)", depth, len(mesh.triangles), spacing)
    report("meshing", 0.6)
    far = _distance_to_points(mesh, pcd) > opt.max_distance_spacings * spacing
    thin = density < np.quantile(density, opt.density_quantile)
    mesh.remove_vertices_by_mask(far | thin)
    mesh = _largest_component(mesh)
    report("meshing", 0.75)
    if opt.target_triangles is not None and len(mesh.triangles) > opt.target_triangles:
        mesh = mesh.simplify_quadric_decimation(target_number_of_triangles=opt.target_triangles)
        mesh = _largest_component(mesh)
    mesh.remove_unreferenced_vertices()
    report("meshing", 1.0)
    verts = np.asarray(mesh.vertices)
    colors = np.clip(np.rint(np.asarray(mesh.vertex_colors) * 255), 0, 255).astype(np.uint8)
    return SurfaceMesh(
        vertices=verts,
        triangles=np.asarray(mesh.triangles, np.int64),
        scale=scale,
        algorithm=algorithm,
        colors=colors if len(colors) == len(verts) else None,
    )


def _set_normals(
    pcd: o3d.geometry.PointCloud,
    cloud: DensePointCloud,
    spacing: float,
    centres: FloatArray | None,
) -> None:
    if cloud.normals is not None:
        pcd.normals = o3d.utility.Vector3dVector(np.array(cloud.normals))
        return
    if centres is None or len(centres) == 0:
        raise InvalidInputError("a cloud without normals needs camera_centres to orient them")
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=4 * spacing, max_nn=30))
    pts, n = cloud.points, np.asarray(pcd.normals)
    c = np.asarray(centres, np.float64)
    nearest = np.argmin(((pts[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
    flip = np.einsum("ij,ij->i", n, c[nearest] - pts) < 0
    n[flip] *= -1
    pcd.normals = o3d.utility.Vector3dVector(n)


def _octree_depth(points: FloatArray, spacing: float, max_depth: int) -> int:
    extent = float(np.max(points.max(axis=0) - points.min(axis=0)))
    return int(min(max_depth, max(6, math.ceil(math.log2(extent / max(spacing, 1e-12))))))


def _distance_to_points(
    mesh: o3d.geometry.TriangleMesh, pcd: o3d.geometry.PointCloud
) -> FloatArray:
    verts = o3d.geometry.PointCloud(mesh.vertices)
    return np.asarray(verts.compute_point_cloud_distance(pcd))


def _largest_component(mesh: o3d.geometry.TriangleMesh) -> o3d.geometry.TriangleMesh:
    cluster, sizes, _ = mesh.cluster_connected_triangles()
    labels, counts = np.asarray(cluster), np.asarray(sizes)
    if len(counts) > 1:
        mesh.remove_triangles_by_mask((labels != int(np.argmax(counts))).tolist())
        mesh.remove_unreferenced_vertices()
    return mesh
