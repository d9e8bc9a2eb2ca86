"""Meshing on the true surface points a few views see: the mesh lies on the true surface,
is one piece facing the cameras, carries the views' colours and meets its triangle budget."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest

from analysis.types import InvalidInputError
from reconstruction.meshing import MeshingOptions, poisson_mesh
from reconstruction.types import DensePointCloud, MeshScale, MeshScaleSource, SurfaceMesh
from tests.unit.reconstruction.face_scene import face_views

SIZE = 360
YAWS = (-40.0, -20.0, 0.0, 20.0, 40.0)
SCALE = MeshScale(MeshScaleSource.SOURCE_DATA, 0.0, "rendered")


def _true_cloud(step: int = 2) -> DensePointCloud:
    """Back-projected true depth of three views, every ``step``-th pixel, with colours."""
    _, cams, images, depths = face_views(SIZE, YAWS)
    pts, rgb = [], []
    for i in (1, 2, 3):
        cam, depth = cams[i], depths[i]
        ys, xs = np.nonzero(np.isfinite(depth[::step, ::step]))
        ys, xs = ys * step, xs * step
        ray = np.column_stack([xs, ys, np.ones(len(xs))]) @ np.linalg.inv(cam.K).T
        pts.append((ray * depth[ys, xs, None] - cam.t) @ cam.R)
        rgb.append(images[i][ys, xs])
    p = np.concatenate(pts)
    return DensePointCloud(p, np.concatenate(rgb), np.ones(len(p), np.int64))


def _surface_distance(mesh: SurfaceMesh, n: int = 50_000) -> np.ndarray:
    scene, *_ = face_views(SIZE, YAWS)
    legacy = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(np.array(mesh.vertices)),
        o3d.utility.Vector3iVector(np.array(mesh.triangles, np.int32)),
    )
    o3d.utility.random.seed(0)
    return scene.distance(np.asarray(legacy.sample_points_uniformly(n).points))


@pytest.fixture(scope="module")
def meshed() -> tuple[SurfaceMesh, list[float]]:
    _, cams, _, _ = face_views(SIZE, YAWS)
    fractions: list[float] = []
    mesh = poisson_mesh(
        _true_cloud(),
        SCALE,
        MeshingOptions(target_triangles=30_000),
        camera_centres=np.stack([c.centre for c in cams]),
        progress=lambda stage, f: fractions.append(f),
    )
    return mesh, fractions


def test_mesh_lies_on_the_true_surface(meshed: tuple[SurfaceMesh, list[float]]) -> None:
    mesh, _ = meshed
    d = _surface_distance(mesh)
    assert d.mean() < 0.25
    assert np.percentile(d, 95) < 0.8
    assert mesh.scale == SCALE


def test_mesh_is_one_piece_facing_the_cameras(meshed: tuple[SurfaceMesh, list[float]]) -> None:
    _, cams, _, _ = face_views(SIZE, YAWS)
    mesh, _ = meshed
    legacy = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(np.array(mesh.vertices)),
        o3d.utility.Vector3iVector(np.array(mesh.triangles, np.int32)),
    )
    _, counts, _ = legacy.cluster_connected_triangles()
    assert len(counts) == 1
    centres = mesh.vertices[mesh.triangles].mean(axis=1)
    toward = cams[2].centre - centres
    assert (np.einsum("ij,ij->i", mesh.face_normals(), toward) > 0).mean() > 0.9


def test_decimation_meets_the_target_and_colours_follow(
    meshed: tuple[SurfaceMesh, list[float]],
) -> None:
    mesh, fractions = meshed
    assert 0.9 * 30_000 <= mesh.n_triangles <= 30_000
    assert mesh.colors is not None
    assert mesh.colors.mean(axis=0)[0] > mesh.colors.mean(axis=0)[2] + 10  # skin, not grey
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)


def test_a_cloud_without_normals_needs_the_cameras() -> None:
    with pytest.raises(InvalidInputError, match="camera_centres"):
        poisson_mesh(_true_cloud(step=6), SCALE)
    with pytest.raises(InvalidInputError, match="100 points"):
        p = np.zeros((10, 3))
        poisson_mesh(DensePointCloud(p, np.zeros((10, 3), np.uint8), np.ones(10, np.int64)), SCALE)
