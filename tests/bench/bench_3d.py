"""The whole photogrammetric pipeline (:func:`reconstruction.pipeline.reconstruct`) end to end.

Run: ``nice .venv/bin/python -m tests.bench.bench_3d [--views 16] [--size 1024]
[--deviations 0,2,4] [--skull-views 66] [--skull-size 1000] [--out bench-results/3d.json]``.

* **synthetic** — :mod:`tests.bench.multiview_synth`: the menpo3d "james" scan with the
  standard injected deviations (chin and nasal tip shifted toward the subject's left, left
  brow raised) of each ``--deviations`` mm and a ChArUco board, ``--views`` renders of
  ``--size``² on a ±70° arc. Each photo goes through the node's 2D analysis (MediaPipe,
  timed apart), then the whole pipeline with the board's scale and nothing else: no focal
  length, no true camera. Reported: wall time per stage, the pipeline against SfM alone on
  the same photos (ratio), peak resident memory (VmHWM, reset before the pipeline), the
  board scale's error (against the similarity that takes the recovered camera centres
  onto the true ones), the mesh's surface error (200 000 points sampled on it, distance to
  the true mesh: mean / p95, all and the face alone) after a **rigid** alignment to the
  truth (camera centres, then rigid point-to-plane ICP — never a scale), the 3D landmark
  RMS over the 68 true landmarks (same alignment), each measurement against the same
  measurement on the true mesh and landmarks, the share of distances (mm, > 10 mm) within
  1 %, and the recovered injected deviations (chin and nasal-tip midline deviation, left
  minus right brow height: the set's value minus the 0 mm set's, against the same
  difference on the truth).
* **skull** — ``multiview/skull_ccby`` (66 real photos, CC BY 4.0), downscaled to
  ``--skull-size`` (default 1000, the most :func:`tests.bench.bench_sfm.skull_images`
  gives: at 640 the skull is 200–300 px wide and too few features link its views, 28 of 66
  register), EXIF focal length as the prior of one shared camera, no board and no face (a
  given unit factor stands in for the scale): views registered, reprojection error, time
  per stage.

Issue 10's targets: mean surface error ≤ 0.3 mm, p95 ≤ 1.0 mm; landmark RMS ≤ 1.0 mm;
2–4 mm deviations within ±0.5 mm; distances within 1 %; the whole pipeline ≤ 90 s for 16
views of 1024² on the 2-core CPU. JSON in ``bench-results/3d.json``.
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

from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
from analysis.types import Photo
from config.norms import load_tables
from reconstruction.cameras import run_sfm
from reconstruction.errors import ReconstructionError
from reconstruction.pipeline import InputView, ReconstructionOptions, reconstruct
from reconstruction.similarity import fit_similarity
from reconstruction.types import FloatArray, Landmark3D, LandmarkSource, Reconstruction3D
from tests.bench import multiview_synth as ms
from tests.bench.bench_landmarks3d import _mesh, _pipeline
from tests.bench.bench_sfm import skull_images
from tests.bench.photos import REPO
from tests.bench.report import peak_rss_mb, reset_peak_rss, write_json

#: Synthetic renders have no lens distortion and come from one camera.
SYNTH_OPTIONS = ReconstructionOptions(camera_model="SIMPLE_PINHOLE", shared_camera=True)


def rigid(src: FloatArray, dst: FloatArray) -> FloatArray:
    """The 4×4 least-squares rotation + translation taking ``src`` onto ``dst`` (Kabsch)."""
    ms_, md = src.mean(axis=0), dst.mean(axis=0)
    u, _, vt = np.linalg.svd((dst - md).T @ (src - ms_))
    d = np.eye(3)
    d[2, 2] = np.sign(np.linalg.det(u @ vt))
    r = u @ d @ vt
    t = np.eye(4)
    t[:3, :3], t[:3, 3] = r, md - r @ ms_
    return t


def _apply(t: FloatArray, p: FloatArray) -> FloatArray:
    return np.asarray(p @ t[:3, :3].T + t[:3, 3])


def _stats(d: FloatArray) -> dict[str, float]:
    return {"mean_mm": float(d.mean()), "p95_mm": float(np.percentile(d, 95)),
            "max_mm": float(d.max())}  # fmt: skip


def _legacy(v: FloatArray, t: np.ndarray[Any, Any]) -> o3d.geometry.TriangleMesh:
    return o3d.geometry.TriangleMesh(
        o3d.utility.Vector3dVector(np.array(v, np.float64)),
        o3d.utility.Vector3iVector(np.array(t, np.int32)),
    )


def surface_error(
    result: Reconstruction3D, truth: ms.SynthSet
) -> tuple[FloatArray, dict[str, Any]]:
    """(rigid 4×4 mesh frame → true frame, error figures), starting from the rigid fit of
    the recovered camera centres onto the true ones (``cameras_only``: that fit alone)."""
    pairs = [(c.centre, tc.centre) for c, tc in zip(result.cameras, truth.cameras, strict=True)
             if c is not None]  # fmt: skip
    t_cams = rigid(np.array([a for a, _ in pairs]), np.array([b for _, b in pairs]))
    t, figures = mesh_surface_error(result.mesh.vertices, result.mesh.triangles, truth.face, t_cams)
    return t, {"cameras_only": figures.pop("initial"), **figures}


def mesh_surface_error(
    vertices: FloatArray,
    triangles: np.ndarray[Any, Any],
    face: ms.FaceModel,
    initial: FloatArray,
) -> tuple[FloatArray, dict[str, Any]]:
    """(rigid 4×4 mesh frame → true frame, error figures) of a mesh against the true face:
    from the ``initial`` rigid alignment, rigid point-to-plane ICP (never a scale) of 200 000
    points sampled on the mesh onto the true surface, then their distances to it — ``all``,
    ``face`` (the landmarks' box + 5 mm) and ``initial`` (before ICP), and how far ICP
    moved the initial alignment."""
    true_mesh = _legacy(face.vertices, face.triangles)
    true_mesh.compute_vertex_normals()
    rec = _legacy(vertices, triangles)
    o3d.utility.random.seed(0)
    samples = np.asarray(rec.sample_points_uniformly(200_000).points)
    target = true_mesh.sample_points_uniformly(200_000)
    target.estimate_normals()
    source = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(samples))
    est = o3d.pipelines.registration.TransformationEstimationPointToPlane(
        o3d.pipelines.registration.TukeyLoss(k=1.0)
    )
    t = np.asarray(initial, np.float64)
    for radius in (4.0, 2.0, 1.0):
        t = np.asarray(
            o3d.pipelines.registration.registration_icp(
                source, target, radius, t, est
            ).transformation
        )
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(true_mesh))

    def dist(p: FloatArray) -> FloatArray:
        q = o3d.core.Tensor(np.asarray(p, np.float32))
        return np.asarray(scene.compute_distance(q).numpy(), np.float64)

    lm = face.landmarks
    aligned = _apply(t, samples)
    in_face = (
        (np.abs(aligned[:, 0]) < np.abs(lm[:, 0]).max() + 5)
        & (aligned[:, 1] > lm[:, 1].min() - 5)
        & (aligned[:, 1] < lm[:, 1].max() + 5)
        & (aligned[:, 2] > lm[:, 2].min() - 5)
    )
    rot_icp = np.degrees(
        np.arccos(np.clip((np.trace(t[:3, :3] @ initial[:3, :3].T) - 1) / 2, -1, 1))
    )
    return t, {
        "initial": _stats(dist(_apply(initial, samples))),
        "all": _stats(dist(aligned)),
        "face": _stats(dist(aligned[in_face])),
        "icp_correction": {"deg": float(rot_icp),
                           "mm": float(np.linalg.norm(t[:3, 3] - initial[:3, 3]))},
    }  # fmt: skip


def truth_measures(face: ms.FaceModel) -> dict[str, Any]:
    """The pipeline's symmetry, midline refinement and measurements on the true mesh and its
    68 true landmarks: what every recovered value is compared with."""
    lm = {
        f"ibug_{i:02d}": Landmark3D(
            f"ibug_{i:02d}", face.landmarks[i], 0.0, LandmarkSource.TRIANGULATED
        )
        for i in range(68)
    }
    return _pipeline(_mesh(face), lm)


def _brow_lift(p: dict[str, FloatArray], plane: Any) -> float:
    """Left minus right mid-brow height in the face frame (mm)."""
    return float(plane.to_face(p["ibug_24"])[1] - plane.to_face(p["ibug_19"])[1])


def landmark_errors(
    positions: dict[str, FloatArray], to_true: FloatArray, true_landmarks: FloatArray
) -> dict[str, float]:
    """RMS distance (mm) of the 68 iBUG landmarks found, taken by ``to_true`` into the true
    frame, to the true ones (68×3, iBUG order): all, and the inner face (17–67, without the
    jaw contour)."""
    err = {}
    for i in range(68):
        k = f"ibug_{i:02d}"
        if k in positions:
            p = _apply(to_true, np.asarray(positions[k], np.float64)[None, :])[0]
            err[i] = float(np.linalg.norm(p - true_landmarks[i]))
    inner = [v for i, v in err.items() if i >= 17]
    return {
        "landmark_rms_mm": float(np.sqrt(np.mean(np.square(list(err.values()))))),
        "landmark_rms_inner_mm": float(np.sqrt(np.mean(np.square(inner)))),
    }


def measurement_errors(
    values: dict[str, tuple[float, str, float]], true_m: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Each measurement (id → value, unit, uncertainty) that the true mesh has too, against
    it; distances over 10 mm also in % of the true value."""
    out = {}
    for mid, (value, unit, sd) in values.items():
        if mid not in true_m["m"]:
            continue
        tv = true_m["m"][mid].value
        out[mid] = {
            "value": value, "truth": tv, "unit": unit, "error": value - tv,
            "error_pct": 100.0 * (value - tv) / tv if unit == "mm" and abs(tv) > 10 else None,
            "uncertainty": sd,
        }  # fmt: skip
    return out


def brow_lift(
    positions: dict[str, FloatArray], plane: Any, true_m: dict[str, Any]
) -> dict[str, float]:
    """The left minus right mid-brow height in its face frame (``plane``) and the truth's;
    empty when a mid-brow landmark is missing."""
    if not {"ibug_19", "ibug_24"} <= set(positions):
        return {}
    true_p = {k: v.position for k, v in true_m["refined"].items()}
    return {"value": _brow_lift(positions, plane), "truth": _brow_lift(true_p, true_m["sym"].plane)}


def run_set(analyzer: PhotoAnalyzer, d: float, views: int, size: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    truth = ms.make_set(views, size, deviations=ms.standard_deviations(d) if d else ())
    render_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    inputs = [InputView(im, None, analyzer.analyze(Photo(im))) for im in truth.images]
    analysis_2d_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    run_sfm(list(truth.images), min_views=8, camera_model="SIMPLE_PINHOLE", shared_camera=True)
    sfm_alone_s = time.perf_counter() - t0

    reset_peak_rss()
    t0, c0 = time.perf_counter(), time.process_time()
    result = reconstruct(inputs, SYNTH_OPTIONS)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = peak_rss_mb()

    est = np.array([c.centre for c in result.cameras if c is not None])
    true_c = np.array([tc.centre for c, tc in zip(result.cameras, truth.cameras, strict=True)
                       if c is not None])  # fmt: skip
    scale_err = 100.0 * (fit_similarity(est, true_c).scale - 1.0)  # mesh frame is mm already
    to_true, surface = surface_error(result, truth)

    got_p = {k: v.position for k, v in result.landmarks.items()}
    lm = landmark_errors(got_p, to_true, truth.face.landmarks)
    true_m = truth_measures(truth.face)
    measures = measurement_errors(
        {m.id: (m.value, m.unit, m.uncertainty) for m in result.measurements}, true_m
    )
    pcts = [abs(v["error_pct"]) for v in measures.values() if v["error_pct"] is not None]
    brow = brow_lift(got_p, result.symmetry.plane, true_m) if result.symmetry is not None else {}
    return {
        "deviation_mm": d,
        "views": views,
        "size": size,
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "render_s": render_s,
        "analysis_2d_s": analysis_2d_s,
        "stages_s": result.timings_s,
        "pipeline_wall_s": wall,
        "pipeline_cpu_s": cpu,
        "sfm_alone_s": sfm_alone_s,
        "ratio_to_sfm": wall / sfm_alone_s,
        "peak_rss_mb": peak,
        "registered": result.n_registered,
        "reprojection_px": result.reprojection_error_px,
        "scale": {
            "source": result.scale.source.value,
            "relative_uncertainty": result.scale.relative_uncertainty,
            "error_pct": scale_err,
        },  # fmt: skip
        "dense_points": result.dense_points,
        "mesh_triangles": result.mesh.n_triangles,
        "surface_error": surface,
        "landmarks_found": len(result.landmarks),
        **lm,
        "measurements": measures,
        "distances_within_1pct": float(np.mean(np.asarray(pcts) <= 1.0)) if pcts else None,
        "n_distances": len(pcts),
        "brow_lift": brow,
        "notes": list(result.notes),
    }


def recovered(sets: list[dict[str, Any]]) -> None:
    """Each set's injected deviations as recovered: its value minus the 0 mm set's."""
    base = next((s for s in sets if s["deviation_mm"] == 0.0), None)
    if base is None:
        return
    for s in sets:
        rec: dict[str, dict[str, float]] = {}
        for key in ("chin_deviation", "nasal_tip_deviation"):
            m, b = s["measurements"].get(key), base["measurements"].get(key)
            if m and b:
                rec[key] = {"recovered": m["value"] - b["value"], "true": m["truth"] - b["truth"]}
        if s["brow_lift"] and base["brow_lift"]:
            rec["left_brow_lift"] = {
                "recovered": s["brow_lift"]["value"] - base["brow_lift"]["value"],
                "true": s["brow_lift"]["truth"] - base["brow_lift"]["truth"],
            }
        for v in rec.values():
            v["error"] = v["recovered"] - v["true"]
        s["recovered"] = rec


def run_skull(views: int, size: int) -> dict[str, Any]:
    images, focal = skull_images(views)
    s = size / max(images[0].shape[:2])
    if s < 1:
        images = [np.ascontiguousarray(cv2.resize(im, None, fx=s, fy=s,
                                                  interpolation=cv2.INTER_AREA)) for im in images]  # fmt: skip
        focal = None if focal is None else focal * s
    opts = ReconstructionOptions(shared_camera=True, board=None, scale_factor=1.0)
    reset_peak_rss()
    t0 = time.perf_counter()
    try:
        result = reconstruct([InputView(im, focal) for im in images], opts)
    except ReconstructionError as exc:
        return {"views": len(images), "error": str(exc), "wall_s": time.perf_counter() - t0}
    return {
        "views": len(images),
        "size_px": list(images[0].shape[1::-1]),
        "registered": result.n_registered,
        "reprojection_px": result.reprojection_error_px,
        "stages_s": result.timings_s,
        "wall_s": time.perf_counter() - t0,
        "peak_rss_mb": peak_rss_mb(),
        "dense_points": result.dense_points,
        "mesh_triangles": result.mesh.n_triangles,
    }


def _print(sets: list[dict[str, Any]], skull: dict[str, Any] | None) -> None:
    for r in sets:
        st = r["stages_s"]
        print(
            f"\n--- synthetic, deviations {r['deviation_mm']:g} mm: {r['views']} views of "
            f"{r['size']}² (load {r['load_average_1min']:.1f} on {r['cpu_count']} cores) ---"
        )
        print(
            "stage s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in st.items())
            + f"; pipeline {r['pipeline_wall_s']:.1f} s wall / {r['pipeline_cpu_s']:.1f} s cpu; "
            f"SfM alone {r['sfm_alone_s']:.1f} s (ratio {r['ratio_to_sfm']:.1f}); "
            f"2D analysis {r['analysis_2d_s']:.1f} s, render {r['render_s']:.1f} s (apart)"
        )
        se = r["surface_error"]
        print(
            f"peak memory {r['peak_rss_mb']:.0f} MB; registered {r['registered']}, "
            f"reprojection {r['reprojection_px']:.2f} px; scale {r['scale']['source']} "
            f"error {r['scale']['error_pct']:+.2f} % (±{100 * r['scale']['relative_uncertainty']:.2f} %)"
        )
        for k in ("cameras_only", "all", "face"):
            e = se[k]
            print(
                f"surface error {k:<12} mean {e['mean_mm']:.3f}  p95 {e['p95_mm']:.3f}  "
                f"max {e['max_mm']:.2f} mm"
            )
        print(
            f"landmarks {r['landmarks_found']}: RMS {r['landmark_rms_mm']:.2f} mm (inner face "
            f"{r['landmark_rms_inner_mm']:.2f}); distances within 1 %: "
            f"{r['distances_within_1pct']:.0%} of {r['n_distances']}"
        )
        for key, m in r["measurements"].items():
            pct = f" ({m['error_pct']:+.1f} %)" if m["error_pct"] is not None else ""
            print(
                f"  {key:28s} {m['value']:8.2f} {m['truth']:8.2f} {m['error']:+7.2f} "
                f"{m['unit']}{pct}"
            )
        for key, v in r.get("recovered", {}).items():
            print(
                f"  recovered {key:22s} {v['recovered']:+.2f} mm (true {v['true']:+.2f}, "
                f"error {v['error']:+.2f})"
            )
        for n in r["notes"]:
            print(f"  note: {n}")
    if skull and "error" in skull:
        print(f"\n--- skull_ccby: {skull['views']} views: {skull['error']}")
    elif skull:
        print(
            f"\n--- skull_ccby: {skull['views']} views of {skull['size_px']} --- registered "
            f"{skull['registered']}, reprojection {skull['reprojection_px']:.2f} px, "
            f"{skull['wall_s']:.0f} s ("
            + ", ".join(f"{k} {v:.1f}" for k, v in skull["stages_s"].items())
            + f"), peak {skull['peak_rss_mb']:.0f} MB, mesh {skull['mesh_triangles']} triangles"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--views", type=int, default=16)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--deviations", default="0,2,4")
    ap.add_argument("--skull-views", type=int, default=66, help="0: skip the skull")
    ap.add_argument("--skull-size", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "3d.json")
    args = ap.parse_args()
    analyzer = PhotoAnalyzer(AnalysisOptions(tables=load_tables()))
    sets = [run_set(analyzer, float(d), args.views, args.size)
            for d in args.deviations.split(",") if d]  # fmt: skip
    recovered(sets)
    skull = run_skull(args.skull_views, args.skull_size) if args.skull_views else None
    _print(sets, skull)
    write_json(args.out, {"synthetic": sets, "skull": skull})
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
