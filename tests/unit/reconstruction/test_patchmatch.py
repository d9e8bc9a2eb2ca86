"""The PatchMatch (CUDA) dense path: device routing, the COLMAP workspace it writes (read
back by pycolmap), COLMAP's real stereo fusion of that workspace (on the CPU, fed the true
depth maps in place of PatchMatch's), reading fused clouds back, and, only where pycolmap
has CUDA and a device, PatchMatch itself."""

from __future__ import annotations

import ctypes
import struct
from pathlib import Path

import cv2
import numpy as np
import open3d as o3d
import pycolmap
import pytest

from analysis.types import BackendUnavailableError, InvalidInputError
from reconstruction import dense, patchmatch
from reconstruction.dense import DenseOptions, dense_point_cloud, resolve_device
from reconstruction.types import DensePointCloud, FloatArray, PinholeCamera
from tests.unit.reconstruction.face_scene import face_views, sparse_points

SIZE = 360
YAWS = (-40.0, -20.0, 0.0, 20.0, 40.0)


def _cam(x: float) -> PinholeCamera:
    k = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    return PinholeCamera(100, 100, k, np.eye(3), np.array([x, 0, 100.0]))


# --- device routing -------------------------------------------------------------------


def test_the_real_probe_reports_what_is_missing_here() -> None:
    problem = dense._cuda_problem()
    if pycolmap.has_cuda:
        pytest.skip("this pycolmap has CUDA; the device count decides")
    assert problem == "the installed pycolmap has no CUDA support"
    with pytest.raises(BackendUnavailableError, match="no CUDA support"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"


def test_a_cuda_build_without_a_device_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pycolmap, "has_cuda", True)
    monkeypatch.setattr(dense, "_cuda_device_count", lambda: 0)
    with pytest.raises(BackendUnavailableError, match="no CUDA device is visible"):
        resolve_device("cuda")
    assert resolve_device("auto") == "cpu"
    monkeypatch.setattr(dense, "_cuda_device_count", lambda: 1)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cpu") == "cpu"  # asked for, the CPU is always used


def test_the_driver_probe_answers_without_a_driver() -> None:
    n = dense._cuda_device_count()
    assert isinstance(n, int) and n >= 0
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        assert n == 0  # no NVIDIA driver here: no device, and no exception


def test_with_cuda_auto_routes_to_patchmatch(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, DenseOptions]] = []
    marker = DensePointCloud(np.zeros((1, 3)), np.zeros((1, 3), np.uint8), np.ones(1, np.int64))

    def fake(images, cams, sparse, opt, progress):  # type: ignore[no-untyped-def]
        calls.append((len(cams), opt))
        return marker

    monkeypatch.setattr(dense, "_cuda_problem", lambda: None)
    monkeypatch.setattr(patchmatch, "patchmatch_point_cloud", fake)
    img = np.zeros((100, 100, 3), np.uint8)
    cams = [_cam(x) for x in (-20.0, 0.0, 20.0)]
    assert dense_point_cloud([img] * 3, cams) is marker
    assert calls[0][0] == 3 and calls[0][1].device == "auto"
    # The inputs are still checked before the GPU path runs.
    with pytest.raises(InvalidInputError, match="image 1"):
        dense_point_cloud([img, img[:50], img], cams)
    assert len(calls) == 1


# --- the workspace ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[PinholeCamera], list[np.ndarray], FloatArray]:
    scene, cams, images, _ = face_views(SIZE, YAWS)
    root = tmp_path_factory.mktemp("mvs")
    sparse = sparse_points(np.asarray(scene.mesh.vertices))
    sources = patchmatch.source_views(cams, np.median(sparse, axis=0), DenseOptions())
    patchmatch.write_workspace(root, images, cams, sparse, sources)
    return root, cams, images, sparse


def test_the_sparse_model_reads_back_with_our_cameras(
    workspace: tuple[Path, list[PinholeCamera], list[np.ndarray], FloatArray],
) -> None:
    root, cams, _, _ = workspace
    rec = pycolmap.Reconstruction(root / "sparse")
    assert rec.num_reg_images() == len(cams) == rec.num_cameras()
    for i, cam in enumerate(cams):
        image = rec.find_image_with_name(patchmatch.image_name(i))
        assert image is not None
        camera = rec.camera(image.camera_id)
        assert camera.model_name == "PINHOLE"
        assert (camera.width, camera.height) == (cam.width, cam.height)
        np.testing.assert_allclose(camera.calibration_matrix(), cam.K, atol=1e-12)
        pose = image.cam_from_world()
        np.testing.assert_allclose(pose.rotation.matrix(), cam.R, atol=1e-12)
        np.testing.assert_allclose(pose.translation, cam.t, atol=1e-9)


def test_each_track_observation_is_the_points_projection(
    workspace: tuple[Path, list[PinholeCamera], list[np.ndarray], FloatArray],
) -> None:
    root, cams, _, sparse = workspace
    rec = pycolmap.Reconstruction(root / "sparse")
    assert rec.num_points3D() > 0.9 * len(sparse)  # the face is in every view
    lengths = []
    for point in rec.points3D.values():
        lengths.append(point.track.length())
        for el in point.track.elements:
            image = rec.image(el.image_id)
            cam = cams[int(image.name[5:8])]
            px, z = cam.project(point.xyz[None])
            assert z[0] > 0
            np.testing.assert_allclose(image.points2D[el.point2D_idx].xy, px[0], atol=1e-6)
    assert np.median(lengths) == len(cams)


def test_the_images_and_the_stereo_lists(
    workspace: tuple[Path, list[PinholeCamera], list[np.ndarray], FloatArray],
) -> None:
    root, cams, images, _ = workspace
    for i, im in enumerate(images):
        back = cv2.imread(str(root / "images" / patchmatch.image_name(i)), cv2.IMREAD_COLOR)
        assert back is not None
        np.testing.assert_array_equal(cv2.cvtColor(back, cv2.COLOR_BGR2RGB), im)  # lossless
    lines = (root / "stereo" / "patch-match.cfg").read_text().splitlines()
    assert len(lines) == 2 * len(cams)
    refs = lines[0::2]
    assert refs == [patchmatch.image_name(i) for i in range(len(cams))]
    # 20° steps: the frontal view's nearest sources are its two 20° neighbours.
    assert lines[5].split(", ")[:2] in (
        [patchmatch.image_name(1), patchmatch.image_name(3)],
        [patchmatch.image_name(3), patchmatch.image_name(1)],
    )
    assert patchmatch.image_name(2) not in lines[5]
    fusion = (root / "stereo" / "fusion.cfg").read_text().splitlines()
    assert fusion == refs
    for sub in ("depth_maps", "normal_maps", "consistency_graphs"):
        assert (root / "stereo" / sub).is_dir()


def test_source_views_keep_to_the_fusion_angle() -> None:
    cams = [_cam(x) for x in (-60.0, 0.0, 0.5, 60.0)]
    src = patchmatch.source_views(cams, np.array([0.0, 0.0, 0.0]), DenseOptions(fusion_angle=40))
    # 0.5 is under 1° from 0 (no baseline); ±60 are about 31° from the middle views
    # and 62° apart.
    assert src[1] == [3, 0] or src[1] == [0, 3]
    assert 2 not in src[1] and 1 not in src[2]
    assert src[0] == [2, 1] or src[0] == [1, 2]


def test_patchmatch_options_follow_ours() -> None:
    pm = patchmatch.patch_match_options(DenseOptions(max_image_size=800, min_agreeing=3))
    assert (pm.max_image_size, pm.filter_min_num_consistent) == (800, 3)
    assert pm.geom_consistency and pm.filter
    assert patchmatch.patch_match_options(DenseOptions()).max_image_size == -1  # full size


def test_a_workspace_without_neighbouring_views_is_refused(tmp_path: Path) -> None:
    img = np.zeros((100, 100, 3), np.uint8)
    cams = [_cam(0.0)] * 3
    with pytest.raises(InvalidInputError, match="neighbours"):
        patchmatch.write_workspace(tmp_path, [img] * 3, cams, np.zeros((10, 3)), [[], [], []])


def test_a_skewed_camera_is_refused() -> None:
    k = np.array([[100.0, 3.0, 50], [0, 100.0, 50], [0, 0, 1]])
    cam = PinholeCamera(100, 100, k, np.eye(3), np.array([0, 0, 100.0]))
    with pytest.raises(InvalidInputError, match="skew"):
        patchmatch.colmap_model([cam], np.zeros((3, 3)))


# --- COLMAP's fusion of the workspace, on the true depth maps ---------------------------


def _write_map(path: Path, planes: np.ndarray) -> None:
    """A COLMAP MVS map: ``width&height&channels&`` then float32 planes, row-major."""
    c, h, w = planes.shape
    path.write_bytes(f"{w}&{h}&{c}&".encode() + np.ascontiguousarray(planes, "<f4").tobytes())


def _true_maps(root: Path, cams: list[PinholeCamera], depths: list[FloatArray]) -> None:
    for i, (cam, depth) in enumerate(zip(cams, depths, strict=True)):
        world = dense._backproject(cam, depth.astype(np.float32))
        n_world = dense._normals(world, cam.centre)
        n_cam = np.einsum("ij,hwj->hwi", cam.R, n_world)
        ok = np.isfinite(depth) & np.isfinite(n_cam).all(axis=-1)
        d = np.where(ok, depth, 0.0)[None]
        n = np.where(ok[..., None], n_cam, 0.0).transpose(2, 0, 1)
        name = f"{patchmatch.image_name(i)}.geometric.bin"
        _write_map(root / "stereo" / "depth_maps" / name, d)
        _write_map(root / "stereo" / "normal_maps" / name, n)


def test_colmap_fusion_of_the_workspace_lies_on_the_true_surface(
    workspace: tuple[Path, list[PinholeCamera], list[np.ndarray], FloatArray],
) -> None:
    scene, _, _, depths = face_views(SIZE, YAWS)
    root, cams, _, sparse = workspace
    _true_maps(root, cams, depths)
    cloud = patchmatch.fuse(root, cams, sparse, DenseOptions())
    assert (root / "fused.ply").exists() and (root / "fused.ply.vis").exists()
    d = scene.distance(cloud.points)
    assert len(cloud) > 5000
    # True depths in, so only fusion's own averaging and the voxel merge remain (≈ 0.02 mm
    # median). A principal point off by COLMAP's SfM half pixel makes it ≈ 0.15 mm.
    assert np.median(d) < 0.0003 * scene.width_mm
    assert np.percentile(d, 95) < 0.001 * scene.width_mm
    assert cloud.support.min() >= 3 and cloud.support.max() <= len(cams)
    assert cloud.normals is not None
    assert np.allclose(np.linalg.norm(cloud.normals, axis=1), 1.0)
    towards = np.mean([c.centre for c in cams], axis=0) - cloud.points
    assert (np.einsum("ij,ij->i", cloud.normals, towards) > 0).mean() > 0.95
    mean = cloud.colors.reshape(-1, 3).mean(axis=0)
    assert mean[0] > mean[2] + 10  # skin, from the workspace's images


# --- reading fused clouds ---------------------------------------------------------------


def _write_vis(path: Path, views: list[list[int]]) -> None:
    out = struct.pack("<Q", len(views))
    for v in views:
        out += struct.pack(f"<I{len(v)}I", len(v), *v)
    path.write_bytes(out)


def _write_ply(path: Path, n: int) -> tuple[FloatArray, np.ndarray, FloatArray]:
    rng = np.random.default_rng(1)
    pts = rng.normal(0, 10, (n, 3))
    nrm = rng.normal(0, 1, (n, 3))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    rgb = rng.integers(0, 256, (n, 3))
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    pcd.normals = o3d.utility.Vector3dVector(nrm)
    pcd.colors = o3d.utility.Vector3dVector(rgb / 255.0)
    assert o3d.io.write_point_cloud(path, pcd, write_ascii=False)
    return pts, rgb, nrm


def test_a_fused_ply_and_its_visibility_read_back(tmp_path: Path) -> None:
    ply = tmp_path / "fused.ply"
    pts, rgb, nrm = _write_ply(ply, 4)
    _write_vis(tmp_path / "fused.ply.vis", [[0, 1, 2], [4], [1, 3, 5, 7, 9], [2, 0]])
    p, c, n, s = patchmatch.read_fused(ply)
    np.testing.assert_allclose(p, pts, atol=1e-6)
    np.testing.assert_array_equal(c, rgb)
    np.testing.assert_allclose(n, nrm, atol=1e-6)
    np.testing.assert_array_equal(s, [3, 1, 5, 2])


def test_without_a_visibility_file_support_is_one(tmp_path: Path) -> None:
    ply = tmp_path / "fused.ply"
    _write_ply(ply, 3)
    assert patchmatch.read_fused(ply)[3].tolist() == [1, 1, 1]


def test_inconsistent_visibility_is_refused(tmp_path: Path) -> None:
    ply = tmp_path / "fused.ply"
    _write_ply(ply, 3)
    vis = tmp_path / "fused.ply.vis"
    _write_vis(vis, [[0, 1], [2]])
    with pytest.raises(InvalidInputError, match="lists 2 points"):
        patchmatch.read_fused(ply)
    vis.write_bytes(vis.read_bytes()[:-4])  # the last point's view index cut off
    with pytest.raises(InvalidInputError, match="ends after 1 of 2"):
        patchmatch.read_visibility(vis)
    _write_vis(vis, [[0], [1]])
    vis.write_bytes(vis.read_bytes() + struct.pack("<I", 7))
    with pytest.raises(InvalidInputError, match="past its points"):
        patchmatch.read_visibility(vis)


def test_a_ply_without_normals_is_refused(tmp_path: Path) -> None:
    ply = tmp_path / "bare.ply"
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.zeros((2, 3))))
    assert o3d.io.write_point_cloud(ply, pcd)
    with pytest.raises(InvalidInputError, match="normals and colours"):
        patchmatch.read_fused(ply)


# --- PatchMatch itself (a CUDA build and a device only) ---------------------------------


@pytest.mark.slow
@pytest.mark.skipif(
    dense._cuda_problem() is not None,
    reason=f"PatchMatch needs CUDA: {dense._cuda_problem()}",
)
def test_patchmatch_on_the_gpu_lies_on_the_true_surface() -> None:
    scene, cams, images, _ = face_views(SIZE, YAWS)
    stages: list[str] = []
    cloud = dense_point_cloud(
        images,
        cams,
        sparse_points(np.asarray(scene.mesh.vertices)),
        DenseOptions(device="cuda"),
        progress=lambda stage, fraction: stages.append(f"{stage}:{fraction:.2f}"),
    )
    d = scene.distance(cloud.points)
    assert len(cloud) > 5000
    assert np.median(d) < 0.005 * scene.width_mm
    assert np.percentile(d, 95) < 0.01 * scene.width_mm
    assert cloud.support.min() >= 3
    assert cloud.normals is not None
    assert stages[0] == "stereo:0.00" and stages[-1] == "fusion:1.00"
