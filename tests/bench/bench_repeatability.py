"""Repeatability: the same photo rescaled, shifted and re-encoded should measure the same.

Run: ``.venv/bin/python -m tests.bench.bench_repeatability [--configs mediapipe,...]``.

Each real photo (the astronaut and the shared portraits) is analysed as it is and in
variants that change nothing about the face: rescaled (× 0.6, 0.8, 1.25), shifted by a
few pixels (sub-pixel and whole), and re-encoded as JPEG at quality 50, 75, 90 and 95.
Per configuration (backend, refinement on/off) and measurement, over each photo's
variants: the standard deviation (SD, in the measurement's unit) and the coefficient of
variation (CV = SD / |mean|). The table gives the median over photos. CV means little for
signed quantities that are near zero (midline deviations, left−right differences): read
their SD instead. Lengths are compared in mm, so the scale estimate's own jitter (iris
diameter, or the assumed IPD) is part of the figure. Results: table on stdout, JSON in
``bench-results/repeatability.json``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tests.bench import asymmetry_warps as aw
from tests.bench.photos import REPO, real_photos
from tests.bench.report import write_json

Variant = tuple[str, Callable[[np.ndarray], np.ndarray]]
VARIANTS: tuple[Variant, ...] = (
    ("original", lambda im: im),
    ("scale_0.6", lambda im: aw.rescale_image(im, 0.6)),
    ("scale_0.8", lambda im: aw.rescale_image(im, 0.8)),
    ("scale_1.25", lambda im: aw.rescale_image(im, 1.25)),
    ("shift_0.5_0.5", lambda im: aw.shift_image(im, 0.5, 0.5)),
    ("shift_3_-2", lambda im: aw.shift_image(im, 3.0, -2.0)),
    ("jpeg_50", lambda im: aw.jpeg_roundtrip(im, 50)),
    ("jpeg_75", lambda im: aw.jpeg_roundtrip(im, 75)),
    ("jpeg_90", lambda im: aw.jpeg_roundtrip(im, 90)),
    ("jpeg_95", lambda im: aw.jpeg_roundtrip(im, 95)),
)
CONFIGS = {
    "mediapipe": ("mediapipe", False),
    "mediapipe+refine": ("mediapipe", True),
    "dlib+refine": ("dlib", True),
}
#: Measurements whose CV is uninformative (signed, near zero for a symmetric face).
SIGNED = (
    "deviation",
    "difference",
    "asymmetry",
    "symmetry_index",
    "facial_asymmetry_index",
    "canthal_tilt",
)


def make_analyzers(names: list[str]) -> dict[str, Any]:
    from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
    from config.norms import load_tables

    tables = load_tables()  # the shipped norms and rules, read once
    loaded: dict[str, Any] = {}
    out = {}
    for name in names:
        backend, refine = CONFIGS[name]
        try:
            if backend not in loaded:
                loaded[backend] = PhotoAnalyzer(AnalysisOptions(tables=tables, backend=backend))
        except Exception as exc:
            print(f"{name}: unavailable ({type(exc).__name__}: {exc})", file=sys.stderr)
            continue
        an = copy.copy(loaded[backend])
        an.options = replace(an.options, refine=refine)
        out[name] = an
    return out


def run(config_names: list[str]) -> dict[str, Any]:
    from analysis.types import Photo

    analyzers = make_analyzers(config_names)
    per_photo: dict[str, dict[str, dict[str, list[float]]]] = {c: {} for c in analyzers}
    units: dict[str, str] = {}
    photos_used = []
    for photo_name, rgb, _ in real_photos():
        variants = [(n, f(rgb)) for n, f in VARIANTS]
        photos_used.append(photo_name)
        for cname, an in analyzers.items():
            values: dict[str, list[float]] = {}
            for _, img in variants:
                result = an.analyze(Photo(img))
                for m in result.measurements:
                    values.setdefault(m.id, []).append(m.value)
                    units[m.id] = m.unit
            per_photo[cname][photo_name] = values
        print(f"  {photo_name}: done", file=sys.stderr, flush=True)
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for cname, photos in per_photo.items():
        ids = sorted({mid for v in photos.values() for mid in v})
        summary[cname] = {}
        for mid in ids:
            sds, cvs = [], []
            for vals in photos.values():
                x = np.asarray(vals.get(mid, []), dtype=np.float64)
                if x.size < len(VARIANTS) // 2:
                    continue
                sd = float(x.std(ddof=1))
                sds.append(sd)
                if abs(float(x.mean())) > 1e-9:
                    cvs.append(sd / abs(float(x.mean())))
            if sds:
                summary[cname][mid] = {
                    "unit": units.get(mid, ""),
                    "photos": len(sds),
                    "sd_median": statistics.median(sds),
                    "sd_max": max(sds),
                    "cv_median": statistics.median(cvs) if cvs else None,
                    "signed": any(s in mid for s in SIGNED),
                }
    return {
        "variants": [n for n, _ in VARIANTS],
        "photos": photos_used,
        "summary": summary,
        "values": per_photo,
    }


def format_table(report: dict[str, Any]) -> str:
    cfgs = list(report["summary"])
    ids = sorted({mid for c in cfgs for mid in report["summary"][c]})
    head = f"{'measurement':<34} {'unit':<8}" + "".join(f"{c:>26}" for c in cfgs)
    lines = [
        f"Median over {len(report['photos'])} photos of the SD (and CV) across "
        f"{len(report['variants'])} variants; CV of signed near-zero measurements in brackets",
        head,
        "-" * len(head),
    ]
    for mid in ids:
        row = ""
        unit = ""
        for c in cfgs:
            s = report["summary"][c].get(mid)
            if s is None:
                row += f"{'-':>26}"
                continue
            unit = s["unit"]
            cv = "n/a" if s["cv_median"] is None else f"{100 * s['cv_median']:.1f}%"
            if s["signed"]:
                cv = f"[{cv}]"
            row += f"{s['sd_median']:>14.3f} {cv:>11}"
        lines.append(f"{mid:<34} {unit:<8}" + row)
    for c in cfgs:
        cvs = [
            s["cv_median"]
            for s in report["summary"][c].values()
            if s["cv_median"] is not None and not s["signed"]
        ]
        if cvs:
            lines.append(
                f"{c}: median CV over the unsigned measurements {100 * statistics.median(cvs):.2f}% "
                f"(worst {100 * max(cvs):.1f}%)"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "repeatability.json")
    args = ap.parse_args(argv)
    names = [c.strip() for c in args.configs.split(",") if c.strip() in CONFIGS]
    report = run(names)
    write_json(args.out, report)
    print(format_table(report))
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
