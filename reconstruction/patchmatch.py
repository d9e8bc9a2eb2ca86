"""The dense stage on a CUDA GPU: COLMAP PatchMatch stereo and stereo fusion (pycolmap's
CUDA build), behind the same call and result as the CPU stage (:mod:`reconstruction.dense`).

COLMAP's multi-view stereo reads files, so the views go into a dense workspace in a
temporary folder: ``images/`` (the undistorted RGB views, PNG), ``sparse/`` (a
:class:`pycolmap.Reconstruction`: one PINHOLE camera and one posed image per view, and the
sparse points) and ``stereo/`` (which views PatchMatch matches each view against, and which
views fusion merges). PatchMatch computes a depth and a normal map per view, photometric
first, then with geometric consistency, and filters them; fusion joins the pixels that
agree across views into points (``fused.ply``, with the views behind each point in
``fused.ply.vis``). Those points are read back, points seen by fewer than
``1 + min_agreeing`` views are dropped, and the rest are merged on the CPU path's voxel grid
(:func:`reconstruction.dense.voxel_merge`), so meshing gets the same density either way.

Conventions worth knowing:

* ``K`` goes in unchanged: COLMAP's MVS puts pixel centres at integer coordinates, as
  :class:`PinholeCamera` does (its SfM puts them at +½; :mod:`reconstruction.cameras`
  shifts by −½ on the way in, and nothing is shifted back here). ``max_image_size`` makes
  COLMAP scale ``K`` as its SfM convention would, which shifts the downscaled maps by
  ½ (1 − scale) px: leave it None where full accuracy matters.
* COLMAP sets each view's depth range from the points its *track* says it sees (1st–99th
  percentile, widened by 25 %) and links views for fusion by the points they share. Our
  sparse points carry no tracks, so each is taken as seen by every view it projects into
  (in front of the camera, inside the image); without sparse points the CPU path's scene
  grid (:func:`reconstruction.dense.scene_points`) stands in.
* PatchMatch's source views for a view are the ``fusion_views`` views nearest it within
  ``fusion_angle`` degrees (the CPU fusion's neighbourhood), at least 1° away.
* ``support`` is the number of views fused into a point (largest in its voxel), as on the
  CPU path; a point's colour is the median of its pixels', its normal faces the cameras.
"""

from __future__ import annotations

import logging
import struct
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import open3d as o3d
import pycolmap

from analysis.types import ImageArray, InvalidInputError
from reconstruction import stereo
from reconstruction.dense import (
    DenseOptions,
    Progress,
    pixel_footprint,
    scene_points,
    voxel_merge,
)
from reconstruction.types import DensePointCloud, FloatArray, IndexArray, PinholeCamera

log = logging.getLogger(__name__)

#: Source views nearer a reference than this (degrees) add no baseline.
MIN_SOURCE_ANGLE = 1.0


def image_name(i: int) -> str:
    return f"view_{i:03d}.png"


def patchmatch_point_cloud(
    images: Sequence[ImageArray],
    cameras: Sequence[PinholeCamera],
    sparse_points: FloatArray | None = None,
    options: DenseOptions | None = None,
    progress: Progress | None = None,
) -> DensePointCloud:
    """:func:`reconstruction.dense.dense_point_cloud` by PatchMatch on the GPU (which
    checks the inputs and the device, then calls this)."""
    opt = options or DenseOptions()
    report = progress or (lambda stage, fraction: None)
    cams = list(cameras)
    scene = scene_points(cams, sparse_points)
    sources = source_views(cams, np.median(scene, axis=0), opt)
    with tempfile.TemporaryDirectory(prefix="facenode-mvs-") as tmp:
        root = Path(tmp)
        write_workspace(root, images, cams, scene, sources)
        report("stereo", 0.0)
        pycolmap.patch_match_stereo(root, options=patch_match_options(opt))
        report("stereo", 1.0)
        report("fusion", 0.0)
        cloud = fuse(root, cams, scene, opt)
        report("fusion", 1.0)
    log.info("PatchMatch dense: %d views, %d points", len(cams), len(cloud))
    return cloud


def patch_match_options(opt: DenseOptions) -> pycolmap.PatchMatchOptions:
    """COLMAP's defaults (geometric consistency and filtering on), our size and agreement."""
    pm = pycolmap.PatchMatchOptions()
    pm.max_image_size = opt.max_image_size or -1
    pm.geom_consistency = True
    pm.filter = True
    pm.filter_min_num_consistent = opt.min_agreeing
    return pm


def source_views(
    cams: list[PinholeCamera], centre: FloatArray, opt: DenseOptions
) -> list[list[int]]:
    """Per view, the views PatchMatch matches it against (nearest first)."""
    angles = stereo.view_angles(cams, centre)
    out = []
    for i in range(len(cams)):
        near = [
            int(j)
            for j in np.argsort(angles[i])
            if j != i and MIN_SOURCE_ANGLE <= angles[i, j] <= opt.fusion_angle
        ]
        out.append(near[: opt.fusion_views])
    return out


def write_workspace(
    root: Path,
    images: Sequence[ImageArray],
    cams: list[PinholeCamera],
    scene: FloatArray,
    sources: list[list[int]],
) -> None:
    """A COLMAP dense workspace at ``root`` (module docstring); views without a source are
    left out of the stereo and fusion lists."""
    for sub in ("images", "sparse", "stereo/depth_maps", "stereo/normal_maps",
                "stereo/consistency_graphs"):  # fmt: skip
        (root / sub).mkdir(parents=True, exist_ok=True)
    colmap_model(cams, scene).write_binary(root / "sparse")
    for i, im in enumerate(images):
        bgr = cv2.cvtColor(np.asarray(im, np.uint8), cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(root / "images" / image_name(i)), bgr):
            raise InvalidInputError(f"could not write view {i} into the MVS workspace {root}")
    used = [i for i, src in enumerate(sources) if src]
    if len(used) < 2:
        raise InvalidInputError(
            f"PatchMatch needs views with neighbours within the fusion angle; "
            f"{len(used)} of {len(cams)} have one"
        )
    config = "".join(
        f"{image_name(i)}\n{', '.join(image_name(j) for j in sources[i])}\n" for i in used
    )
    (root / "stereo" / "patch-match.cfg").write_text(config)
    (root / "stereo" / "fusion.cfg").write_text("".join(f"{image_name(i)}\n" for i in used))


def colmap_model(cams: list[PinholeCamera], scene: FloatArray) -> pycolmap.Reconstruction:
    """Our cameras as a COLMAP reconstruction (camera, rig, frame and image id ``i + 1``
    for view ``i``) with ``scene`` as its points, each tracked in the views it projects into."""
    pts = np.asarray(scene, np.float64)
    seen = np.zeros((len(cams), len(pts)), bool)
    pixels = []
    for i, cam in enumerate(cams):
        k = cam.K
        if abs(k[0, 1]) > 1e-9 * abs(k[0, 0]):
            raise InvalidInputError(f"camera {i} has a skewed K; COLMAP's PINHOLE has none")
        px, z = cam.project(pts)
        with np.errstate(invalid="ignore"):
            seen[i] = (
                (z > 0)
                & (px[:, 0] > -0.5) & (px[:, 0] < cam.width - 0.5)
                & (px[:, 1] > -0.5) & (px[:, 1] < cam.height - 0.5)
            )  # fmt: skip
        pixels.append(px)
    tracked = seen.sum(axis=0) >= 2
    rec = pycolmap.Reconstruction()
    index = np.zeros_like(seen, dtype=np.int64)  # point → its point2D index in each view
    for i, cam in enumerate(cams):
        k = cam.K
        rec.add_camera_with_trivial_rig(
            pycolmap.Camera(
                camera_id=i + 1,
                model="PINHOLE",
                width=cam.width,
                height=cam.height,
                params=[k[0, 0], k[1, 1], k[0, 2], k[1, 2]],
            )
        )
        mine = seen[i] & tracked
        index[i, mine] = np.arange(int(mine.sum()))
        image = pycolmap.Image(
            name=image_name(i), keypoints=pixels[i][mine], camera_id=i + 1, image_id=i + 1
        )
        pose = pycolmap.Rigid3d(pycolmap.Rotation3d(cam.R), cam.t)
        rec.add_image_with_trivial_frame(image, pose)
    for p in np.flatnonzero(tracked):
        track = pycolmap.Track()
        for v in np.flatnonzero(seen[:, p]):
            track.add_element(int(v) + 1, int(index[v, p]))
        rec.add_point3D(pts[p], track)
    return rec


def fuse(
    root: Path, cams: list[PinholeCamera], scene: FloatArray, opt: DenseOptions
) -> DensePointCloud:
    """Stereo fusion of the workspace's geometric depth maps, read back, filtered by
    support and voxel-merged (module docstring)."""
    fo = pycolmap.StereoFusionOptions()
    fo.max_image_size = opt.max_image_size or -1
    ply = root / "fused.ply"
    pycolmap.stereo_fusion(ply, root, input_type="geometric", options=fo, output_type="ply")
    pts, rgb, nrm, support = read_fused(ply)
    keep = support >= 1 + opt.min_agreeing
    if not keep.any():
        raise InvalidInputError("no surface point is seen consistently by enough views")
    voxel = opt.voxel_size or 1.5 * pixel_footprint(cams, scene)
    return voxel_merge(pts[keep], rgb[keep].astype(np.float64), nrm[keep], support[keep], voxel)


def read_fused(ply: Path) -> tuple[FloatArray, IndexArray, FloatArray, IndexArray]:
    """(points, RGB 0–255, unit normals, views per point) of a fused cloud and the
    ``.vis`` file beside it; support 1 for every point when there is none."""
    pcd = o3d.io.read_point_cloud(ply)
    pts = np.asarray(pcd.points, np.float64)
    if not pcd.has_normals() or not pcd.has_colors():
        raise InvalidInputError(f"{ply.name} must carry normals and colours")
    rgb = np.rint(np.asarray(pcd.colors) * 255.0).astype(np.int64)
    nrm = np.asarray(pcd.normals, np.float64)
    vis = ply.with_name(ply.name + ".vis")
    support = read_visibility(vis) if vis.exists() else np.ones(len(pts), np.int64)
    if len(support) != len(pts):
        raise InvalidInputError(f"{vis.name} lists {len(support)} points, {ply.name} {len(pts)}")
    ok = np.isfinite(pts).all(axis=1) & np.isfinite(nrm).all(axis=1)
    return pts[ok], rgb[ok], nrm[ok], support[ok]


def read_visibility(path: Path) -> IndexArray:
    """How many views each point lists in a COLMAP ``.vis`` file (uint64 point count, then
    per point a uint32 count and that many uint32 view indices, little-endian)."""
    data = path.read_bytes()
    (n,) = struct.unpack_from("<Q", data)
    words = np.frombuffer(data, "<u4", offset=8).tolist()
    counts = np.empty(n, np.int64)
    pos = 0
    for k in range(n):
        if pos >= len(words) or pos + 1 + words[pos] > len(words):
            raise InvalidInputError(f"{path.name} ends after {k} of {n} points")
        counts[k] = words[pos]
        pos += 1 + words[pos]
    if pos != len(words):
        raise InvalidInputError(f"{path.name} holds {len(words) - pos} words past its points")
    return counts
