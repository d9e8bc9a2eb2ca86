"""The CPU dense stage and meshing against a known surface: time, memory, surface error.

Run: ``nice .venv/bin/python -m tests.bench.bench_dense [--views 16] [--size 1024] [--out FILE]``.

The shared textured face (menpo3d ``james``, mm) is rendered from known cameras on two
rings (yaw −70…70°, pitch ±10°, 450 mm, 40° field of view) by the unit tests' raycasting
helper; the sparse points given to the dense stage are 3000 of its vertices with 0.5 mm
noise (what SfM tracks would bound the depth range with). Reported: wall and CPU seconds
per stage (rectify + SGBM, fusion, meshing; taken from the progress callback), the peak
resident memory of the pipeline (VmHWM, reset after rendering), the fused cloud's distance
to the true surface, and the mesh's: mean / p95 / max distance of 200 000 points sampled
uniformly on it to the true mesh (mm), and its coverage (share of the true surface seen
by ≥ 3 views that lies within 1 mm of the mesh; all of it, and the face alone). Issue 10's targets: mean ≤ 0.3 mm,
p95 ≤ 1.0 mm, the whole pipeline ≤ 90 s for 16 views of 1024² on the 2-core CPU.
JSON in ``bench-results/dense.json``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import open3d as o3d

from reconstruction.dense import DenseOptions, dense_point_cloud
from reconstruction.meshing import MeshingOptions, poisson_mesh
from reconstruction.types import MeshScale, MeshScaleSource, PinholeCamera
from tests.bench.photos import REPO, data_root
from tests.bench.report import peak_rss_mb, reset_peak_rss, write_json
from tests.unit.reconstruction.face_scene import FaceScene, load_face, look_at, render


def cameras(scene: FaceScene, n_views: int, size: int) -> list[PinholeCamera]:
    per_ring = (n_views + 1) // 2
    yaws = np.linspace(-70.0, 70.0, per_ring)
    out = [look_at(scene, float(y), p, 450.0, size) for p in (-10.0, 10.0) for y in yaws]
    return out[:n_views]


class StageClock:
    """Wall and CPU seconds per stage, from the pipeline's progress callbacks."""

    def __init__(self) -> None:
        self.marks: list[tuple[str, float, float]] = []

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.marks or self.marks[-1][0] != stage:
            self.marks.append((stage, time.perf_counter(), time.process_time()))

    def start(self, stage: str) -> None:
        self.marks.append((stage, time.perf_counter(), time.process_time()))

    def table(self, end_wall: float, end_cpu: float) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        ends = [(w, c) for _, w, c in self.marks[1:]] + [(end_wall, end_cpu)]
        for (stage, w, c), (w2, c2) in zip(self.marks, ends, strict=True):
            row = out.setdefault(stage, {"wall_s": 0.0, "cpu_s": 0.0})
            row["wall_s"] += w2 - w
            row["cpu_s"] += c2 - c
        return out


def _stats(d: np.ndarray) -> dict[str, float]:
    return {
        "mean_mm": float(d.mean()),
        "median_mm": float(np.median(d)),
        "p95_mm": float(np.percentile(d, 95)),
        "max_mm": float(d.max()),
    }


def _coverage(
    scene: FaceScene, cams: list[PinholeCamera], mesh: o3d.geometry.TriangleMesh, face: bool
) -> float:
    """Share of true-surface samples seen by ≥ 3 views within 1 mm of the mesh; ``face``:
    only those inside the hull of the 68 landmarks seen from the front (no hair, no ears)."""
    truth = np.asarray(scene.mesh.sample_points_uniformly(100_000).points)
    if face:
        front = look_at(scene, 0.0, 0.0, 450.0, 1024)
        hull = cv2.convexHull(front.project(scene.landmarks)[0].astype(np.float32))
        px = front.project(truth)[0]
        inside = [cv2.pointPolygonTest(hull, (float(x), float(y)), False) >= 0 for x, y in px]
        truth = truth[np.array(inside) & (truth[:, 2] > np.median(scene.landmarks[:, 2]) - 30)]
    seen = np.zeros(len(truth), np.int64)
    for cam in cams:
        px, z = cam.project(truth)
        ext = np.eye(4)
        ext[:3, :3], ext[:3, 3] = cam.R, cam.t
        origin = np.broadcast_to(cam.centre, truth.shape)
        rays = np.hstack([origin, truth - origin]).astype(np.float32)
        hit = scene.scene.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
        inside = (
            (px[:, 0] >= 0) & (px[:, 0] < cam.width) & (px[:, 1] >= 0) & (px[:, 1] < cam.height)
        )
        seen += inside & (z > 0) & (hit > 0.999)
    visible = truth[seen >= 3]
    rec = o3d.t.geometry.RaycastingScene()
    rec.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    d = rec.compute_distance(o3d.core.Tensor(visible.astype(np.float32))).numpy()
    return float((d <= 1.0).mean())


def measure(n_views: int, size: int, target_triangles: int) -> dict[str, Any]:
    o3d.utility.random.seed(0)
    scene = load_face(data_root())
    cams = cameras(scene, n_views, size)
    t0 = time.perf_counter()
    images = [render(scene, c)[0] for c in cams]
    render_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    verts = np.asarray(scene.mesh.vertices)
    sparse = verts[rng.choice(len(verts), 3000, replace=False)] + rng.normal(0, 0.5, (3000, 3))

    reset_peak_rss()
    clock = StageClock()
    w0, c0 = time.perf_counter(), time.process_time()
    cloud = dense_point_cloud(images, cams, sparse, DenseOptions(device="cpu"), progress=clock)
    clock.start("meshing")
    mesh = poisson_mesh(
        cloud,
        MeshScale(MeshScaleSource.SOURCE_DATA, 0.0),
        MeshingOptions(target_triangles=target_triangles),
    )
    w1, c1 = time.perf_counter(), time.process_time()
    peak = peak_rss_mb()

    legacy = o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(np.array(mesh.vertices)),
        o3d.utility.Vector3iVector(np.array(mesh.triangles, np.int32)),
    )
    samples = np.asarray(legacy.sample_points_uniformly(200_000).points)
    return {
        "views": n_views,
        "size": size,
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "render_s": render_s,
        "stages": clock.table(w1, c1),
        "total_wall_s": w1 - w0,
        "total_cpu_s": c1 - c0,
        "peak_rss_mb": peak,
        "cloud_points": len(cloud),
        "cloud_error": _stats(scene.distance(cloud.points)),
        "mesh_vertices": mesh.n_vertices,
        "mesh_triangles": mesh.n_triangles,
        "mesh_error": _stats(scene.distance(samples)),
        "mesh_coverage_1mm": _coverage(scene, cams, legacy, face=False),
        "mesh_face_coverage_1mm": _coverage(scene, cams, legacy, face=True),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=16)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--triangles", type=int, default=200_000)
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "dense.json")
    args = ap.parse_args()
    r = measure(args.views, args.size, args.triangles)
    print(
        f"{r['views']} views of {r['size']}² (load average {r['load_average_1min']:.1f} "
        f"on {r['cpu_count']} cores; rendering {r['render_s']:.0f} s, not counted)"
    )
    print(f"{'stage':<10} {'wall s':>8} {'cpu s':>8}")
    for stage, row in r["stages"].items():
        print(f"{stage:<10} {row['wall_s']:8.1f} {row['cpu_s']:8.1f}")
    print(f"{'total':<10} {r['total_wall_s']:8.1f} {r['total_cpu_s']:8.1f}")
    print(
        f"peak memory {r['peak_rss_mb']:.0f} MB; cloud {r['cloud_points']} points, mesh "
        f"{r['mesh_vertices']} vertices / {r['mesh_triangles']} triangles"
    )
    for name in ("cloud_error", "mesh_error"):
        e = r[name]
        print(
            f"{name:<12} mean {e['mean_mm']:.3f}  median {e['median_mm']:.3f}  "
            f"p95 {e['p95_mm']:.3f}  max {e['max_mm']:.2f} mm"
        )
    print(
        f"mesh coverage of the surface seen by ≥ 3 views (within 1 mm): "
        f"{100 * r['mesh_coverage_1mm']:.1f} %, of the face (landmarks' hull): "
        f"{100 * r['mesh_face_coverage_1mm']:.1f} %"
    )
    write_json(args.out, r)


if __name__ == "__main__":
    main()
