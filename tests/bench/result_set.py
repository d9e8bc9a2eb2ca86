"""Build time and size of one photo's result set (SR, JPEG-LS SCs, PDF), against the 2D
analysis of the same photo timed in the same run, and dciodvfy on every object built.

Used by :mod:`tests.bench.bench_roundtrip`. Every time is the median of ``repeats`` runs
after one warm-up; every object is encoded as the node writes it (Part 10 bytes by
:func:`dicom.part10.encode`), since that is what is stored and sent. The SR is also
encoded by pydicom's writer in the same run (the same bytes; what the node used before),
for the ratio.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from tests.support.dciodvfy import dciodvfy_errors

#: Targets of issue 12, per photo.
SR_TARGET_MS = 50.0
RESULT_SET_TARGET_MS = 500.0


def _median_ms(fn: Callable[[], object], repeats: int) -> float:
    return _median_wall_cpu_ms(fn, repeats)[0]


def _median_wall_cpu_ms(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU (this process, all threads) ms. On the shared machine the wall
    time of single-threaded work is its CPU time plus waiting for a core; the CPU time is
    close to what the same work takes on an idle machine."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.process_time() - c0) * 1000.0)
    return statistics.median(wall), statistics.median(cpu)


def part10(ds: Dataset) -> bytes:
    """Part 10 bytes as the node encodes them (:class:`node.worker_task.ResultFile`)."""
    from dicom.part10 import encode

    return encode(ds)


def pydicom_part10(ds: Dataset) -> bytes:
    """The same bytes by pydicom's writer (what the node used before), for the ratio."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def bench_result_set(name: str, source: Dataset, analyzer: Any, repeats: int) -> dict[str, Any]:
    """One row: the times (ms and ÷ the 2D analysis), the sizes and the dciodvfy errors."""
    from analysis.overlay import render_overlays
    from dicom.context import ResultContext
    from dicom.pdf import build_report, photo_section
    from dicom.photo import dataset_to_photo
    from dicom.results import build_results
    from dicom.sc import build_sc
    from dicom.sr import build_sr

    photo = dataset_to_photo(source)
    analyse_ms = _median_ms(lambda: analyzer.analyze(photo), repeats)
    result = analyzer.analyze(photo)
    overlays = render_overlays(photo, result)
    ctx = ResultContext.new()
    sr_build_ms = _median_ms(lambda: build_sr(source, result, ctx), repeats)
    sr_ms, sr_cpu_ms = _median_wall_cpu_ms(lambda: part10(build_sr(source, result, ctx)), repeats)
    sr_pydicom_ms, sr_pydicom_cpu_ms = _median_wall_cpu_ms(
        lambda: pydicom_part10(build_sr(source, result, ctx)), repeats
    )
    scs: list[dict[str, Any]] = []
    for k, (title, image) in enumerate(overlays, start=2):

        def sc(t: str = title, i: Any = image, n: int = k) -> bytes:
            return part10(build_sc(source, i, t, ctx, n))

        ms = _median_ms(sc, repeats)
        data = part10(build_sc(source, image, title, ctx, k))
        scs.append(
            {
                "title": title,
                "size": f"{image.shape[1]}x{image.shape[0]}",
                "ms": round(ms, 1),
                "bytes": len(data),
                "uncompressed_bytes": image.nbytes,
            }
        )

    def pdf() -> bytes:
        section = photo_section(source, result, overlays)
        return part10(build_report([source], [section], ctx, len(overlays) + 2))

    pdf_ms = _median_ms(pdf, repeats)

    def result_set() -> list[bytes]:
        return [part10(ds) for ds in build_results(source, result, overlays, ctx)]

    set_ms, set_cpu_ms = _median_wall_cpu_ms(result_set, repeats)
    files = result_set()
    errors = _dciodvfy(files)
    return {
        "photo": name,
        "size": f"{int(source.Columns)}x{int(source.Rows)}",
        "megapixels": round(int(source.Columns) * int(source.Rows) / 1e6, 2),
        "analysis_ms": round(analyse_ms, 1),
        "analysis_stages_ms": {k: round(v, 1) for k, v in result.timings_ms.items()},
        "sr_build_ms": round(sr_build_ms, 1),  # the Dataset only
        "sr_ms": round(sr_ms, 1),  # built and encoded, as the node does
        "sr_pydicom_ms": round(sr_pydicom_ms, 1),  # built and encoded by pydicom's writer
        "ratio_sr_to_pydicom": round(sr_ms / sr_pydicom_ms, 3),
        "sr_cpu_ms": round(sr_cpu_ms, 1),  # CPU time: ≈ the wall time on an idle machine
        "sr_pydicom_cpu_ms": round(sr_pydicom_cpu_ms, 1),
        "sc_ms_total": round(sum(s["ms"] for s in scs), 1),
        "pdf_ms": round(pdf_ms, 1),
        "result_set_ms": round(set_ms, 1),
        "result_set_cpu_ms": round(set_cpu_ms, 1),
        "ratio_sr_to_analysis": round(sr_ms / analyse_ms, 2),
        "ratio_sc_to_analysis": round(sum(s["ms"] for s in scs) / analyse_ms, 2),
        "ratio_pdf_to_analysis": round(pdf_ms / analyse_ms, 2),
        "ratio_result_set_to_analysis": round(set_ms / analyse_ms, 2),
        "sr_bytes": len(files[0]),
        "scs": scs,
        "sc_bytes_total": sum(s["bytes"] for s in scs),
        "sc_uncompressed_bytes_total": sum(s["uncompressed_bytes"] for s in scs),
        "pdf_bytes": len(files[-1]),
        "objects": len(files),
        "dciodvfy_errors": errors,
        "within_targets": sr_ms <= SR_TARGET_MS and set_ms <= RESULT_SET_TARGET_MS,
    }


def _dciodvfy(files: list[bytes]) -> list[str]:
    """dciodvfy's error lines for every object (prefixed with its index in the set)."""
    errors: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, data in enumerate(files):
            path = Path(tmp) / f"{k}.dcm"
            path.write_bytes(data)
            errors += [f"object {k}: {line}" for line in dciodvfy_errors(path)]
    return errors


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'photo':<34}{'MP':>5}{'2D ms':>7}{'SR bld':>7}{'SR ms':>7}{'×2D':>6}{'pyd ms':>7}"
          f"{'SCs ms':>8}{'×2D':>6}"
          f"{'PDF ms':>8}{'×2D':>6}{'set ms':>8}{'×2D':>6}{'SR cpu':>7}{'set cpu':>8}"
          f"{'SR kB':>7}{'SCs MB':>8}{'raw MB':>8}{'PDF MB':>8}{'dciodvfy':>9}")  # fmt: skip
    for r in rows:
        print(f"{r['photo']:<34}{r['megapixels']:>5.2f}{r['analysis_ms']:>7.0f}"
              f"{r['sr_build_ms']:>7.1f}{r['sr_ms']:>7.1f}"
              f"{r['ratio_sr_to_analysis']:>6.2f}{r['sr_pydicom_ms']:>7.0f}{r['sc_ms_total']:>8.0f}"
              f"{r['ratio_sc_to_analysis']:>6.1f}{r['pdf_ms']:>8.0f}"
              f"{r['ratio_pdf_to_analysis']:>6.1f}{r['result_set_ms']:>8.0f}"
              f"{r['ratio_result_set_to_analysis']:>6.1f}{r['sr_cpu_ms']:>7.1f}"
              f"{r['result_set_cpu_ms']:>8.0f}{r['sr_bytes'] / 1e3:>7.1f}"
              f"{r['sc_bytes_total'] / 1e6:>8.2f}{r['sc_uncompressed_bytes_total'] / 1e6:>8.2f}"
              f"{r['pdf_bytes'] / 1e6:>8.2f}{len(r['dciodvfy_errors']):>9d}")  # fmt: skip
    for r in rows:
        for line in r["dciodvfy_errors"]:
            print(f"  {r['photo']}: {line}")


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def col(key: str) -> list[float]:
        return [float(r[key]) for r in rows]

    return {
        "sr_build_ms_median": statistics.median(col("sr_build_ms")),
        "sr_ms_median": statistics.median(col("sr_ms")),
        "ratio_sr_to_analysis_median": statistics.median(col("ratio_sr_to_analysis")),
        "sr_ms_max": max(col("sr_ms")),
        "sr_pydicom_ms_median": statistics.median(col("sr_pydicom_ms")),
        "ratio_sr_to_pydicom_median": statistics.median(col("ratio_sr_to_pydicom")),
        "result_set_ms_median": statistics.median(col("result_set_ms")),
        "result_set_ms_max": max(col("result_set_ms")),
        "sr_cpu_ms_median": statistics.median(col("sr_cpu_ms")),
        "sr_pydicom_cpu_ms_median": statistics.median(col("sr_pydicom_cpu_ms")),
        "result_set_cpu_ms_median": statistics.median(col("result_set_cpu_ms")),
        "result_set_cpu_ms_max": max(col("result_set_cpu_ms")),
        "ratio_result_set_to_analysis_median": statistics.median(
            col("ratio_result_set_to_analysis")
        ),
        "sr_bytes_median": statistics.median(col("sr_bytes")),
        "sc_compression_ratio_median": float(
            np.median([r["sc_uncompressed_bytes_total"] / r["sc_bytes_total"] for r in rows])
        ),  # fmt: skip
        "dciodvfy_errors": sum(len(r["dciodvfy_errors"]) for r in rows),
        "all_within_targets": all(r["within_targets"] for r in rows),
    }
