"""3D landmarks, mid-sagittal plane, asymmetry and 3D measurements from the real 2D analysis.

Run: ``.venv/bin/python -m tests.bench.bench_landmarks3d [--out bench-results/landmarks3d.json]
[--views 16] [--size 1024]``.

Ground truth: :mod:`tests.bench.multiview_synth` (the menpo3d "james" scan with the
standard injected deviations — chin and nasal tip shifted toward the subject's left, left
brow raised — of 0, 1, 2, 3, 4 mm), ``--views`` renders of ``--size``² on a ±70° arc. Each
view goes through the node's 2D analysis (:class:`analysis.pipeline.PhotoAnalyzer`,
MediaPipe, default options); the 3D stage runs with the TRUE cameras and the TRUE mesh, so
these figures are the landmark stage's own error, not the SfM's or the dense surface's.

Reported per set: 3D landmark RMS error against the scan's 68 landmarks (all, inner face
iBUG 17–67, jaw contour 0–16), midline points before/after surface refinement, each
measurement against the same measurement on the true landmarks and true mesh, and the
recovered injected deviations (chin / nasal-tip deviation minus the undeformed set's).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
from analysis.types import ModelIdentity, Photo
from config.norms import load_tables
from reconstruction import landmarks3d, measurements3d, profile3d, symmetry3d
from reconstruction.types import (
    Landmark3D,
    LandmarkSource,
    MeshScale,
    MeshScaleSource,
    SurfaceMesh,
)
from tests.bench import multiview_synth as ms
from tests.bench.photos import REPO
from tests.bench.report import write_json

SCALE = MeshScale(MeshScaleSource.SOURCE_DATA, 0.0)
MIDLINE = ("ibug_08", "ibug_27", "ibug_30", "ibug_33")
DEVIATIONS = (0.0, 1.0, 2.0, 3.0, 4.0)


def _mesh(face: ms.FaceModel) -> SurfaceMesh:
    return SurfaceMesh(
        face.vertices, face.triangles, SCALE, ModelIdentity("synthetic", "james", "1", "BSD-3")
    )


def _pipeline(mesh: SurfaceMesh, lm: dict[str, Landmark3D]) -> dict[str, Any]:
    sym = symmetry3d.analyse(mesh, lm)
    refined = profile3d.refine_midline(lm, mesh, sym.plane)
    meas = {m.id: m for m in measurements3d.measure(refined, sym.plane, SCALE)}
    return {"sym": sym, "refined": refined, "m": meas}


def _rms(e: list[float]) -> float:
    return float(np.sqrt(np.mean(np.square(e)))) if e else float("nan")


def run_set(analyzer: PhotoAnalyzer, d: float, views: int, size: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    s = ms.make_set(views, size, deviations=ms.standard_deviations(d) if d else ())
    t_render = time.perf_counter() - t0
    t0 = time.perf_counter()
    obs = []
    for img, cam in zip(s.images, s.cameras, strict=True):
        obs.append(landmarks3d.from_analysis(cam, analyzer.analyze(Photo(img))))
    t_2d = time.perf_counter() - t0
    det2d = []  # the 2D detector's own error against the true projection, mm at the face
    for v in obs:
        uv, z = v.camera.project(s.face.landmarks)
        for i in range(17, 68):
            k = f"ibug_{i:02d}"
            if k in v.points:
                px = float(np.linalg.norm(np.asarray(v.points[k]) - uv[i]))
                det2d.append(px * z[i] / v.camera.K[0, 0])
    mesh = _mesh(s.face)
    t0 = time.perf_counter()
    tri = landmarks3d.triangulate(obs, mesh)
    got = _pipeline(mesh, tri)
    t_3d = time.perf_counter() - t0
    truth_lm = {
        f"ibug_{i:02d}": Landmark3D(
            f"ibug_{i:02d}", s.face.landmarks[i], 0.0, LandmarkSource.TRIANGULATED
        )
        for i in range(68)
    }
    truth = _pipeline(mesh, truth_lm)
    err_before = {
        k: float(np.linalg.norm(tri[k].position - s.face.landmarks[int(k[5:])]))
        for k in truth_lm
        if k in tri
    }
    refined = got["refined"]
    err_after = {
        k: float(np.linalg.norm(refined[k].position - s.face.landmarks[int(k[5:])]))
        for k in truth_lm
        if k in refined
    }
    inner = [v for k, v in err_after.items() if int(k[5:]) >= 17]
    jaw = [v for k, v in err_after.items() if int(k[5:]) < 17]
    measures = {}
    for key, m in got["m"].items():
        if key in truth["m"]:
            t = truth["m"][key].value
            measures[key] = {
                "value": m.value,
                "truth": t,
                "unit": m.unit,
                "error": m.value - t,
                "error_pct": 100.0 * (m.value - t) / t if m.unit == "mm" and abs(t) > 10 else None,
                "uncertainty": m.uncertainty,
            }
    plane = got["sym"].plane
    return {
        "deviation_mm": d,
        "views": views,
        "size": size,
        "landmarks_found": len(tri),
        "rms_all_mm": _rms(list(err_after.values())),
        "rms_inner_mm": _rms(inner),
        "rms_jaw_mm": _rms(jaw),
        "detector_2d_inner_rms_mm": _rms(det2d),
        "worst_inner": sorted(
            ((k, round(v, 2)) for k, v in err_after.items() if int(k[5:]) >= 17),
            key=lambda kv: -kv[1],
        )[:8],
        "rms_all_before_refinement_mm": _rms(list(err_before.values())),
        "midline_before_mm": {k: err_before.get(k) for k in MIDLINE},
        "midline_after_mm": {k: err_after.get(k) for k in MIDLINE},
        "median_uncertainty_mm": float(np.median([v.uncertainty_mm for v in tri.values()])),
        "median_views_per_landmark": float(np.median([len(v.views) for v in tri.values()])),
        "plane_angle_to_true_plane_deg": float(
            np.degrees(np.arccos(min(1.0, abs(float(plane.normal @ truth["sym"].plane.normal)))))
        ),
        "regions": {r.region: r.max_abs_mm for r in got["sym"].regions},
        "measurements": measures,
        "time_s": {"render": t_render, "analysis_2d": t_2d, "landmarks_3d": t_3d},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "landmarks3d.json")
    ap.add_argument("--views", type=int, default=16)
    ap.add_argument("--size", type=int, default=1024)
    args = ap.parse_args()
    analyzer = PhotoAnalyzer(AnalysisOptions(tables=load_tables()))
    sets = [run_set(analyzer, d, args.views, args.size) for d in DEVIATIONS]
    base = sets[0]["measurements"]
    for r in sets:
        r["recovered"] = {
            k: r["measurements"][k]["value"] - base[k]["value"]
            for k in ("chin_deviation", "nasal_tip_deviation")
            if k in r["measurements"] and k in base
        }
    print(f"\n{'dev mm':>6s} {'found':>5s} {'RMS all':>8s} {'inner':>6s} {'jaw':>6s} "
          f"{'before':>7s} {'2D mm':>6s} {'plane°':>6s} {'chin rec':>8s} {'tip rec':>8s}")  # fmt: skip
    for r in sets:
        rec = r["recovered"]
        print(
            f"{r['deviation_mm']:6.1f} {r['landmarks_found']:5d} {r['rms_all_mm']:8.2f} "
            f"{r['rms_inner_mm']:6.2f} {r['rms_jaw_mm']:6.2f} "
            f"{r['rms_all_before_refinement_mm']:7.2f} {r['detector_2d_inner_rms_mm']:6.2f} "
            f"{r['plane_angle_to_true_plane_deg']:6.2f} "
            f"{rec.get('chin_deviation', float('nan')):8.2f} "
            f"{rec.get('nasal_tip_deviation', float('nan')):8.2f}"
        )
    print("\nmidline points, error mm before → after surface refinement (per set):")
    for k in MIDLINE:
        cells = [
            f"{r['midline_before_mm'][k] or float('nan'):.2f}→{r['midline_after_mm'][k] or float('nan'):.2f}"
            for r in sets
        ]
        print(f"  {k}: " + "  ".join(cells))
    print("\nworst inner-face landmarks (mm):", sets[0]["worst_inner"])
    print(f"\nmeasurements (set {sets[0]['deviation_mm']} mm): value, truth, error")
    for key, m in sets[0]["measurements"].items():
        pct = f" ({m['error_pct']:+.1f} %)" if m["error_pct"] is not None else ""
        print(f"  {key:28s} {m['value']:8.2f} {m['truth']:8.2f} {m['error']:+7.2f} {m['unit']}{pct}"
              f"  ±{m['uncertainty']:.2f}")  # fmt: skip
    print("\ntime s per set:", [{k: round(v, 1) for k, v in r["time_s"].items()} for r in sets])
    write_json(args.out, {"sets": sets})
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
