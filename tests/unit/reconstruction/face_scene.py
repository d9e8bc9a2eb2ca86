"""A small known scene for the dense and meshing tests: the shared textured face (menpo3d
``james``, mm) rendered from known :class:`PinholeCamera` s with Open3D's RaycastingScene.

Why its own helper: the dense stage is tested against known cameras and a known surface,
before (and independently of) the synthetic benchmark generator. The skin texture is
multiplied by a fine procedural pattern fixed to the surface (pores, freckles: what real
skin photographed at this resolution shows), so that stereo matching has texture to lock
on; shading is omitted (albedo only), which keeps views photo-consistent.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import open3d as o3d
import pytest

from reconstruction.types import FloatArray, PinholeCamera

JAMES = Path("mesh3d/menpo3d_james/james.obj")


@dataclass(frozen=True)
class FaceScene:
    """The true mesh (Open3D legacy), its raycasting scene, and the face's frame."""

    mesh: o3d.geometry.TriangleMesh
    scene: o3d.t.geometry.RaycastingScene
    texture: npt.NDArray[np.float32]  # H×W×3 in [0, 1]
    uvs: FloatArray  # (3M)×2 per-corner UVs
    centre: FloatArray  # a point inside the head, behind the face
    width_mm: float  # the face's width (x extent)
    landmarks: FloatArray  # the 68 iBUG landmarks on the mesh (68×3)

    def distance(self, points: FloatArray) -> FloatArray:
        """Unsigned distance of each point to the true surface (mm)."""
        q = o3d.core.Tensor(np.asarray(points, np.float32))
        return np.asarray(self.scene.compute_distance(q).numpy(), np.float64)


def load_face(root: Path) -> FaceScene:
    mesh = o3d.io.read_triangle_mesh(str(root / JAMES), True)
    tex = np.asarray(mesh.textures[0], np.float32)[..., :3] / 255.0
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    v = np.asarray(mesh.vertices)
    lo, hi = v.min(axis=0), v.max(axis=0)
    centre = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, hi[2] - 90.0])
    marks = json.loads((root / JAMES).with_suffix(".ljson").read_text())
    landmarks = np.asarray(marks["groups"]["LJSON"]["landmarks"]["points"], np.float64)
    width = float(hi[0] - lo[0])
    return FaceScene(mesh, scene, tex, np.asarray(mesh.triangle_uvs), centre, width, landmarks)


def look_at(
    scene: FaceScene,
    yaw_deg: float,
    pitch_deg: float,
    distance: float,
    size: int,
    fov_deg: float = 40.0,
) -> PinholeCamera:
    """A camera ``distance`` mm from the face centre, turned by yaw/pitch, looking at it."""
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    direction = np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
    c = scene.centre + distance * direction
    z = -direction
    x = np.cross(np.array([0.0, 1.0, 0.0]), z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    r = np.stack([x, y, z])
    f = 0.5 * size / np.tan(np.radians(fov_deg) / 2)
    k = np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1.0]])
    return PinholeCamera(size, size, k, r, -r @ c)


def _pattern(p: FloatArray) -> FloatArray:
    """A fixed multiplicative speckle on the surface (0.6–1.0), a sum of 3D sinusoids."""
    rng = np.random.default_rng(7)
    acc = np.zeros(len(p))
    for _ in range(24):
        w = rng.normal(size=3)
        w *= rng.uniform(0.4, 2.5) / np.linalg.norm(w)  # wavelengths ~2.5–16 mm
        acc += np.sin(p @ w + rng.uniform(0, 2 * np.pi))
    return np.asarray(0.8 + 0.2 * np.tanh(acc / 3.0))


def _rays(scene: FaceScene, cam: PinholeCamera, s: int) -> o3d.core.Tensor:
    k = cam.K.copy()
    k[:2] *= s
    # Original pixel u ↔ supersampled s·u + (s−1)/2; Open3D casts through pixel + 0.5.
    k[:2, 2] += (s - 1) / 2 + 0.5
    ext = np.eye(4)
    ext[:3, :3], ext[:3, 3] = cam.R, cam.t
    return scene.scene.create_rays_pinhole(
        o3d.core.Tensor(k), o3d.core.Tensor(ext), cam.width * s, cam.height * s
    )


def render(
    scene: FaceScene, cam: PinholeCamera, supersample: int = 2
) -> tuple[npt.NDArray[np.uint8], FloatArray]:
    """(H×W×3 uint8 RGB, H×W depth with NaN off the face) of the face seen by ``cam``."""
    s = supersample
    rays = _rays(scene, cam, s)
    hit = scene.scene.cast_rays(rays)
    t = hit["t_hit"].numpy()
    ok = np.isfinite(t)
    r = rays.numpy()
    pts = r[..., :3] + r[..., 3:] * np.where(ok, t, 0)[..., None]
    prim = hit["primitive_ids"].numpy()[ok].astype(np.int64)
    bu, bv = hit["primitive_uvs"].numpy()[ok].T
    uv = scene.uvs.reshape(-1, 3, 2)[prim]
    tc = (1 - bu - bv)[:, None] * uv[:, 0] + bu[:, None] * uv[:, 1] + bv[:, None] * uv[:, 2]
    th, tw = scene.texture.shape[:2]
    mx = np.full(t.shape, -1.0, np.float32)
    my = np.full(t.shape, -1.0, np.float32)
    mx[ok], my[ok] = tc[:, 0] * (tw - 1), (1 - tc[:, 1]) * (th - 1)
    img = cv2.remap(scene.texture, mx, my, cv2.INTER_LINEAR, borderValue=(0.15, 0.15, 0.15))
    img[ok] *= _pattern(pts[ok])[:, None]
    rgb = cv2.resize(img, (cam.width, cam.height), interpolation=cv2.INTER_AREA)
    centre_rays = _rays(scene, cam, 1)  # the depth exactly at the pixel centres
    t1 = scene.scene.cast_rays(centre_rays)["t_hit"].numpy()
    r1 = centre_rays.numpy()
    hit1 = r1[..., :3] + r1[..., 3:] * np.where(np.isfinite(t1), t1, 0)[..., None]
    depth = np.where(np.isfinite(t1), (hit1 @ cam.R.T + cam.t)[..., 2], np.nan)
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8), depth


@functools.cache
def face_views(
    size: int, yaws: tuple[float, ...], distance: float = 450.0
) -> tuple[FaceScene, list[PinholeCamera], list[npt.NDArray[np.uint8]], list[FloatArray]]:
    """(scene, cameras, images, true depths) of the shared face from ``yaws`` (cached: the
    dense and meshing tests share one rendering); skips where ../shared/data is absent."""
    from tests.bench.photos import data_root

    root = data_root()
    if not (root / JAMES).exists():
        pytest.skip(f"{root / JAMES} is absent (../shared/data)")
    scene = load_face(root)
    cams = [look_at(scene, y, 0.0, distance, size) for y in yaws]
    rendered = [render(scene, c) for c in cams]
    return scene, cams, [r[0] for r in rendered], [r[1] for r in rendered]


def sparse_points(verts: FloatArray, n: int = 1500) -> FloatArray:
    """``n`` of the true vertices with 0.5 mm noise: a stand-in for the SfM tracks."""
    rng = np.random.default_rng(0)
    return np.asarray(verts[rng.choice(len(verts), n, replace=False)] + rng.normal(0, 0.5, (n, 3)))
