"""The CPU dense stage on a rendered face with known cameras and surface: the fused points
lie on the true surface and cover what the views see; device selection; input checks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial import cKDTree

from analysis.types import BackendUnavailableError, InvalidInputError
from reconstruction import dense
from reconstruction.dense import DenseOptions, dense_point_cloud, resolve_device
from reconstruction.types import DensePointCloud, FloatArray, PinholeCamera
from tests.unit.reconstruction.face_scene import face_views, sparse_points

SIZE = 360
YAWS = (-40.0, -20.0, 0.0, 20.0, 40.0)


def _visible_surface(cam: PinholeCamera, depth: FloatArray) -> FloatArray:
    """The true surface points one view sees (its true depth map, back-projected)."""
    ys, xs = np.nonzero(np.isfinite(depth))
    ray = np.column_stack([xs, ys, np.ones(len(xs))]) @ np.linalg.inv(cam.K).T
    return np.asarray((ray * depth[ys, xs, None] - cam.t) @ cam.R)


@pytest.fixture(scope="module")
def fused() -> tuple[DensePointCloud, list[str]]:
    scene, cams, images, _ = face_views(SIZE, YAWS)
    stages: list[str] = []
    cloud = dense_point_cloud(
        images,
        cams,
        sparse_points(np.asarray(scene.mesh.vertices)),
        DenseOptions(device="cpu"),
        progress=lambda stage, fraction: stages.append(f"{stage}:{fraction:.2f}"),
    )
    return cloud, stages


def test_fused_points_lie_on_the_true_surface(fused: tuple[DensePointCloud, list[str]]) -> None:
    scene, *_ = face_views(SIZE, YAWS)
    cloud, _ = fused
    d = scene.distance(cloud.points)
    assert len(cloud) > 5000
    # 0.5 % of the face's width (≈ 1 mm) for the median; gross errors stay rare.
    assert np.median(d) < 0.005 * scene.width_mm
    assert np.percentile(d, 95) < 0.01 * scene.width_mm
    assert (d > 5.0).mean() < 0.01
    assert cloud.support.min() >= 3  # the reference and at least 2 agreeing views
    assert cloud.normals is not None
    assert np.allclose(np.linalg.norm(cloud.normals, axis=1), 1.0)


def _seen_by(cams: list[PinholeCamera], depths: list[FloatArray], points: FloatArray) -> FloatArray:
    """How many views see each point (their true depth there within 1 mm of its own)."""
    count = np.zeros(len(points), np.int64)
    for cam, depth in zip(cams, depths, strict=True):
        px, z = cam.project(points)
        u = np.clip(np.rint(px).astype(np.int64), 0, [cam.width - 1, cam.height - 1])
        count += np.abs(depth[u[:, 1], u[:, 0]] - z) < 1.0  # NaN compares False
    return count


def test_fused_points_cover_the_frontal_surface(fused: tuple[DensePointCloud, list[str]]) -> None:
    scene, cams, _, depths = face_views(SIZE, YAWS)
    cloud, _ = fused
    frontal = _visible_surface(cams[2], depths[2])
    # The face proper (inside the hull of its 68 landmarks; hair is too dark to match)
    # as far as fusion can reach it: seen by the reference and the 2 views that must agree.
    hull = cv2.convexHull(cams[2].project(scene.landmarks)[0].astype(np.float32))
    px = cams[2].project(frontal)[0]
    inside = np.array([cv2.pointPolygonTest(hull, (float(x), float(y)), False) >= 0 for x, y in px])
    face = frontal[inside & (_seen_by(cams, depths, frontal) >= 3)]
    assert len(face) > 0.9 * inside.sum()
    gap, _ = cKDTree(cloud.points).query(face)
    assert (gap < 1.5).mean() > 0.9  # the misses: the mesh's own defect by the left eye


def test_colours_come_from_the_views(fused: tuple[DensePointCloud, list[str]]) -> None:
    cloud, _ = fused
    # Skin under the speckle: reddish on average, never the grey background.
    mean = cloud.colors.reshape(-1, 3).mean(axis=0)
    assert mean[0] > mean[2] + 10


def test_progress_runs_through_stereo_then_fusion(fused: tuple[DensePointCloud, list[str]]) -> None:
    _, stages = fused
    names = [s.split(":")[0] for s in stages]
    assert names[0] == "stereo" and names[-1] == "fusion"
    assert names.index("fusion") > len(names) - names[::-1].index("stereo") - 1
    assert "stereo:1.00" in stages and "fusion:1.00" in stages


def test_without_sparse_points_the_depth_range_comes_from_the_cameras() -> None:
    scene, cams, images, _ = face_views(SIZE, YAWS)
    cloud = dense_point_cloud(images[1:4], cams[1:4], None, DenseOptions(min_agreeing=1))
    d = scene.distance(cloud.points)
    assert len(cloud) > 2000
    assert np.median(d) < 0.005 * scene.width_mm


def test_cuda_without_cuda_is_refused_and_auto_runs_on_the_cpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dense, "_cuda_problem", lambda: "no CUDA device is visible")
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(InvalidInputError, match="device"):
        resolve_device("gpu")


def test_inputs_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    k = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    cam = PinholeCamera(100, 100, k, np.eye(3), np.array([0, 0, 100.0]))
    img = np.zeros((100, 100, 3), np.uint8)
    with pytest.raises(InvalidInputError, match="3 views"):
        dense_point_cloud([img, img], [cam, cam])
    with pytest.raises(InvalidInputError, match="image 1"):
        dense_point_cloud([img, img[:50], img], [cam, cam, cam])
    monkeypatch.setattr(dense, "_cuda_problem", lambda: "no CUDA device is visible")
    with pytest.raises(BackendUnavailableError, match="no CUDA device"):
        dense_point_cloud([img] * 3, [cam] * 3, options=DenseOptions(device="cuda"))


def test_dense_point_cloud_validates_its_arrays() -> None:
    p = np.zeros((4, 3))
    c = np.zeros((4, 3), np.uint8)
    DensePointCloud(p, c, np.ones(4, np.int64))
    with pytest.raises(InvalidInputError, match="colors"):
        DensePointCloud(p, c[:3], np.ones(4, np.int64))
    with pytest.raises(InvalidInputError, match="support"):
        DensePointCloud(p, c, np.ones(4))
    with pytest.raises(InvalidInputError, match="normals"):
        DensePointCloud(p, c, np.ones(4, np.int64), normals=np.zeros((3, 3)))
