"""Time of the 2D analysis per stage and per photo, against baselines measured in the same run.

Run: ``.venv/bin/python -m tests.bench.bench_timing [--repeats 5] [--backends mediapipe,dlib]``.

The machine is shared and noisy, so every figure comes with two baselines timed in the same
run, between the photos: decoding that photo from a JPEG (``cv2.imdecode``, quality 95) and
a fixed numpy workload (sorting 400 000 doubles, single-threaded). Ratios against them travel
between machines; absolute milliseconds are printed too. Per photo and backend: the median
over ``--repeats`` runs (after one warm-up) of each stage in ``PhotoAnalysis.timings_ms``,
the whole analysis (wall clock), rendering the overlays and building the DICOM results
(SR, one SC per overlay, PDF report). Model load (``PhotoAnalyzer(...)``) is reported separately and
is not in the per-photo figures. The target is a 2D analysis ≤ 150 ms per photo.
Results: table on stdout, JSON in ``bench-results/timing.json``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tests.bench.photos import REPO, real_photos
from tests.bench.report import write_json

TARGET_MS = 150.0
_REF = np.random.default_rng(0).random(400_000)


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def numpy_reference() -> float:
    """Sorting 400 000 doubles: single-threaded (unlike a BLAS product), so it measures the
    same core the analysis runs on."""
    return float(np.sort(_REF)[0])


def jpeg_bytes(rgb: np.ndarray) -> np.ndarray:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return np.asarray(buf)


def load_analyzer(backend: str) -> tuple[Any, float]:
    from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
    from config.norms import load_tables

    tables = load_tables()  # read by the node once at start, not part of the model load
    t0 = time.perf_counter()
    an = PhotoAnalyzer(AnalysisOptions(tables=tables, backend=backend))
    return an, (time.perf_counter() - t0) * 1000.0


def dicom_builder() -> Callable[[np.ndarray, Any, list[tuple[str, np.ndarray]]], object] | None:
    """build_results on a VL photo wrapper of the pixels, or None when dicom/ is unusable."""
    try:
        from pydicom.uid import generate_uid

        from dicom.context import ResultContext
        from dicom.results import build_results
        from tests.factories import make_vl_photo
    except Exception as exc:  # the bench still runs without the DICOM layer
        print(f"(DICOM timing skipped: {type(exc).__name__}: {exc})", file=sys.stderr)
        return None
    ctx = ResultContext(
        manufacturer="facenode", model_name="facenode bench", software_version="bench",
        sr_series_uid=str(generate_uid()), sc_series_uid=str(generate_uid()),
    )  # fmt: skip

    def build(pixels: np.ndarray, result: Any, overlays: list[tuple[str, np.ndarray]]) -> object:
        return build_results(make_vl_photo(pixels), result, overlays, ctx)

    return build


def run(backends: list[str], repeats: int) -> dict[str, Any]:
    from analysis.overlay import render_overlays
    from analysis.types import Photo

    report: dict[str, Any] = {"repeats": repeats, "target_ms": TARGET_MS, "model_load_ms": {}}
    analyzers = {}
    for name in backends:
        try:
            an, first = load_analyzer(name)
            _, again = load_analyzer(name)
        except Exception as exc:
            report["model_load_ms"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        analyzers[name] = an
        report["model_load_ms"][name] = {"first": first, "again": again}
    build = dicom_builder()
    rows = []
    ref_runs = [median_ms(numpy_reference, repeats)]
    for photo_name, rgb, _ in real_photos():
        photo = Photo(rgb)
        jpg = jpeg_bytes(rgb)
        decode = median_ms(lambda jpg=jpg: cv2.imdecode(jpg, cv2.IMREAD_COLOR), repeats)
        ref = median_ms(numpy_reference, repeats)
        ref_runs.append(ref)
        for name, an in analyzers.items():
            stages: dict[str, list[float]] = {}
            totals = []
            result = an.analyze(photo)  # warm-up
            for _ in range(repeats):
                t0 = time.perf_counter()
                result = an.analyze(photo)
                totals.append((time.perf_counter() - t0) * 1000.0)
                for k, v in result.timings_ms.items():
                    stages.setdefault(k, []).append(v)
            row: dict[str, Any] = {
                "photo": photo_name, "size": f"{photo.width}x{photo.height}", "backend": name,
                "face_found": result.face_found,
                "stages_ms": {k: statistics.median(v) for k, v in stages.items()},
                "analysis_ms": statistics.median(totals),
                "jpeg_decode_ms": decode, "numpy_ref_ms": ref,
            }  # fmt: skip
            row["analysis_per_decode"] = row["analysis_ms"] / decode
            row["analysis_per_ref"] = row["analysis_ms"] / ref
            overlays = render_overlays(photo, result)
            row["overlays_ms"] = median_ms(lambda r=result, p=photo: render_overlays(p, r), repeats)
            row["overlays"] = len(overlays)
            if build is not None:
                row["dicom_ms"] = median_ms(
                    lambda r=result, o=overlays, px=rgb: build(px, r, o), max(1, repeats // 2)
                )
            rows.append(row)
        print(f"  {photo_name}: done", file=sys.stderr, flush=True)
    report["rows"] = rows
    report["numpy_ref_ms_runs"] = ref_runs
    report["summary"] = summarise(rows)
    return report


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sorted({r["backend"] for r in rows}):
        sel = [r for r in rows if r["backend"] == name and r["face_found"]]
        if not sel:
            continue
        a = [r["analysis_ms"] for r in sel]
        out[name] = {
            "photos": len(sel),
            "analysis_ms_median": statistics.median(a),
            "analysis_ms_max": max(a),
            "analysis_per_decode_median": statistics.median(r["analysis_per_decode"] for r in sel),
            "analysis_per_ref_median": statistics.median(r["analysis_per_ref"] for r in sel),
            "within_target": sum(x <= TARGET_MS for x in a),
            "stage_ms_median": {
                k: statistics.median(r["stages_ms"].get(k, 0.0) for r in sel)
                for k in sel[0]["stages_ms"]
            },
        }
    return out


def format_table(report: dict[str, Any]) -> str:
    lines = ["Model load (ms, not in the per-photo figures):"]
    for name, v in report["model_load_ms"].items():
        lines.append(
            f"  {name:<10} "
            + (v["error"] if "error" in v else f"first {v['first']:.0f}, again {v['again']:.0f}")
        )
    stages = [
        "landmarks",
        "semantic",
        "refine",
        "quality",
        "profile",
        "scale",
        "measurements",
        "findings",
    ]
    head = (
        f"{'photo':<34} {'size':>10} {'backend':<10}"
        + "".join(f"{s[:8]:>9}" for s in stages)
        + f"{'total':>8}{'/decode':>9}{'/numpy':>8}{'overlay':>9}{'dicom':>8}"
    )
    lines += [
        "",
        f"Median ms over {report['repeats']} runs (ratios: total / baseline of the same run)",
        head,
        "-" * len(head),
    ]
    for r in report["rows"]:
        s = r["stages_ms"]
        lines.append(
            f"{r['photo'][-34:]:<34} {r['size']:>10} {r['backend']:<10}"
            + "".join(f"{s[k]:9.1f}" if k in s else f"{'-':>9}" for k in stages)
            + f"{r['analysis_ms']:8.1f}{r['analysis_per_decode']:9.1f}{r['analysis_per_ref']:8.2f}"
            + f"{r['overlays_ms']:9.1f}"
            + (f"{r['dicom_ms']:8.1f}" if "dicom_ms" in r else f"{'-':>8}")
        )
    lines.append("")
    for name, s in report["summary"].items():
        lines.append(
            f"{name}: median {s['analysis_ms_median']:.0f} ms (max {s['analysis_ms_max']:.0f}) per photo "
            f"= {s['analysis_per_decode_median']:.1f}× JPEG decode = {s['analysis_per_ref_median']:.2f}× numpy "
            f"reference; {s['within_target']}/{s['photos']} photos within {report['target_ms']:.0f} ms"
        )
    refs = report["numpy_ref_ms_runs"]
    lines.append(
        f"numpy reference: {min(refs):.1f}–{max(refs):.1f} ms over the run (machine noise)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--backends", default="mediapipe,dlib")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "timing.json")
    args = ap.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    report = run(backends, max(1, args.repeats))
    write_json(args.out, report)
    print(format_table(report))
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
