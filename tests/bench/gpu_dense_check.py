"""GPU check of the dense stage: the whole pipeline on one synthetic set, PatchMatch (cuda)
against the CPU stage (cpu), same photos, same options otherwise.

Run where pycolmap's CUDA build and a GPU are: ``nice .venv/bin/python -m
tests.bench.gpu_dense_check [--views 16] [--size 1024] [--devices cuda,cpu]
[--out bench-results/gpu_dense.json]``.

:func:`tests.bench.multiview_synth.make_set` renders ``--views`` views of ``--size``² (the
ChArUco board, no injected deviation); :func:`reconstruction.pipeline.reconstruct` runs once
per device without 2D analyses (the board gives the scale; 3D landmarks are skipped: this
checks the surface). Reported per device: wall time per stage, dense points, triangles,
and the mesh's surface error after a rigid alignment to the truth
(:func:`tests.bench.bench_3d.surface_error`: mean / p95, all and the face alone, mm). A
device that cannot run is reported with its error. Exit status 2 when the cuda run did
not happen (the CPU figures alone say nothing about the GPU path).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from analysis.types import BackendUnavailableError
from reconstruction.dense import Device, resolve_device
from reconstruction.pipeline import InputView, reconstruct
from tests.bench import multiview_synth as ms
from tests.bench.bench_3d import SYNTH_OPTIONS, surface_error
from tests.bench.photos import REPO
from tests.bench.report import peak_rss_mb, reset_peak_rss, write_json


def run_device(truth: ms.SynthSet, device: Device) -> dict[str, Any]:
    try:
        resolve_device(device)
    except BackendUnavailableError as exc:
        return {"device": device, "error": str(exc)}
    opt = replace(SYNTH_OPTIONS, device=device)
    reset_peak_rss()
    t0 = time.perf_counter()
    result = reconstruct([InputView(im) for im in truth.images], opt)
    wall = time.perf_counter() - t0
    _, surface = surface_error(result, truth)
    return {
        "device": device,
        "pipeline_wall_s": wall,
        "stages_s": result.timings_s,
        "peak_rss_mb": peak_rss_mb(),
        "registered": result.n_registered,
        "dense_points": result.dense_points,
        "mesh_triangles": result.mesh.n_triangles,
        "surface_error": surface,
        "notes": list(result.notes),
    }


def _print(runs: list[dict[str, Any]]) -> None:
    for r in runs:
        if "error" in r:
            print(f"{r['device']:>4}: not run: {r['error']}")
            continue
        s, e = r["stages_s"], r["surface_error"]
        print(
            f"{r['device']:>4}: {r['pipeline_wall_s']:6.1f} s (sfm {s.get('sfm', 0):.1f}, "
            f"dense {s.get('dense', 0):.1f}, meshing {s.get('meshing', 0):.1f}), "
            f"{r['dense_points']} points, {r['mesh_triangles']} triangles, "
            f"surface mean / p95 {e['all']['mean_mm']:.3f} / {e['all']['p95_mm']:.3f} mm "
            f"(face {e['face']['mean_mm']:.3f} / {e['face']['p95_mm']:.3f}), "
            f"peak RSS {r['peak_rss_mb']:.0f} MB"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--views", type=int, default=16)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--devices", default="cuda,cpu")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "gpu_dense.json")
    args = ap.parse_args()
    t0 = time.perf_counter()
    truth = ms.make_set(args.views, args.size)
    print(f"rendered {args.views} views of {args.size}² in {time.perf_counter() - t0:.1f} s")
    devices = [d for d in args.devices.split(",") if d]
    bad = [d for d in devices if d not in ("cuda", "cpu", "auto")]
    if bad:
        ap.error(f"--devices takes cuda, cpu or auto, got {bad}")
    runs = [run_device(truth, d) for d in devices]  # type: ignore[arg-type]  # checked
    _print(runs)
    write_json(args.out, {"views": args.views, "size": args.size, "runs": runs})
    print(f"wrote {args.out}")
    ran_cuda = any(r["device"] == "cuda" and "error" not in r for r in runs)
    return 0 if ran_cuda else 2


if __name__ == "__main__":
    sys.exit(main())
