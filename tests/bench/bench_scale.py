"""Does the scale's uncertainty cover its error? The IPD each frontal photo's scale implies.

Run: ``.venv/bin/python -m tests.bench.bench_scale [--split tuning|reporting] [--out FILE]``.

No shared photo has a known scale, but every adult face has an interpupillary distance
drawn from a known population (63 ± 3.5 mm, Dodgson 2004; :mod:`analysis.scale`). For each
photo of one set of :mod:`tests.bench.asymmetry_split` that the pipeline calls frontal,
the whole 2D pipeline (default backend) runs and this prints the scale's source, its
claimed relative uncertainty, and the IPD it implies; then ``z`` = log(IPD / 63) over
√(r_scale² + r_prior²): a scale whose uncertainty is honest gives |z| ≤ 1 for ≈ 68 % and
|z| ≤ 2 for ≈ 95 % of faces. Printed too: the same for the iris alone (before the
cross-check), the share of |IPD − 63| covered by the scale's own uncertainty, the two
eyes' iris disagreement (what :data:`analysis.iris_fit.MODEL_REL` was set from) and the
intercanthal width the scale implies (adults ≈ 31–39 mm by population, Bouhadana 2022).

Tune on ``--split tuning`` only; README reports ``reporting``. JSON in
``bench-results/scale-<split>.json``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from analysis import iris_fit, scale
from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
from analysis.types import Photo, ScaleSource, View
from config.norms import load_tables
from tests.bench.asymmetry_split import Split, faces
from tests.bench.photos import REPO
from tests.bench.report import write_json

PRIOR_MM = 63.0


def _z(ipd_mm: float, rel: float) -> float:
    return math.log(ipd_mm / PRIOR_MM) / math.hypot(rel, scale.IPD_SD_MM / PRIOR_MM)


def measure(split: Split) -> list[dict[str, Any]]:
    analyzer = PhotoAnalyzer(AnalysisOptions(tables=load_tables()))
    rows: list[dict[str, Any]] = []
    for face, rgb in faces(split):
        result = analyzer.analyze(Photo(rgb))
        sc, q, sem = result.scale, result.quality, result.semantic
        if sc is None or sem is None or q is None or q.view is not View.FRONTAL:
            continue
        if sc.mm_per_px is None:
            continue
        pts = {k: np.asarray(v, dtype=np.float64) for k, v in sem.points.items()}
        ipd_px = float(np.hypot(*(pts["pupil_r"] - pts["pupil_l"])))
        icw_px = float(np.hypot(*(pts["ibug_39"] - pts["ibug_42"])))
        fit = iris_fit.fit(pts)
        row: dict[str, Any] = {
            "photo": face.name,
            "person": face.person,
            "source": sc.source.value,
            "rel": sc.relative_uncertainty,
            "ipd_mm": sc.mm_per_px * ipd_px,
            "icw_mm": sc.mm_per_px * icw_px,
            "z": _z(sc.mm_per_px * ipd_px, sc.relative_uncertainty),
            "note": sc.note,
        }
        if isinstance(fit, iris_fit.IrisFit):
            iris_rel = math.hypot(scale.HVID_SD_MM / scale.HVID_MEAN_MM, fit.relative_error)
            iris_ipd = scale.HVID_MEAN_MM / fit.diameter_px * ipd_px
            row |= {
                "iris_px": fit.diameter_px,
                "eye_disagreement": fit.disagreement,
                "iris_ipd_mm": iris_ipd,
                "iris_rel": iris_rel,
                "iris_z": _z(iris_ipd, iris_rel),
            }
        rows.append(row)
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def share(values: list[float], k: float) -> float:
        return float(np.mean(np.abs(values) <= k)) if values else math.nan

    z = [r["z"] for r in rows]
    iris_z = [r["iris_z"] for r in rows if "iris_z" in r]
    own = [math.log(r["ipd_mm"] / PRIOR_MM) / r["rel"] for r in rows]
    eyes = [r["eye_disagreement"] for r in rows if "eye_disagreement" in r]
    ipd = [r["ipd_mm"] for r in rows]
    return {
        "photos": len(rows),
        "sources": {s.value: sum(r["source"] == s.value for r in rows) for s in ScaleSource},
        "ipd_mean_sd_mm": [float(np.mean(ipd)), float(np.std(ipd, ddof=1))] if rows else [],
        "median_rel": float(np.median([r["rel"] for r in rows])) if rows else math.nan,
        "z_within_1_2": [share(z, 1), share(z, 2)],
        "iris_z_within_1_2": [share(iris_z, 1), share(iris_z, 2)],
        "own_sigma_within_1_2": [share(own, 1), share(own, 2)],
        "eye_disagreement_rms": float(np.sqrt(np.mean(np.square(eyes)))) if eyes else math.nan,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", choices=("tuning", "reporting"), default="reporting")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rows = measure(args.split)
    print(f"{'photo':38s} {'source':10s} {'±%':>5s} {'IPD':>5s} {'z':>5s} "
          f"{'iris px':>7s} {'eyes Δ%':>7s} {'irisIPD':>7s} {'iris z':>6s} {'ICW':>5s}")  # fmt: skip
    for r in rows:
        print(
            f"{r['photo'][:38]:38s} {r['source'][:10]:10s} {100 * r['rel']:5.1f} "
            f"{r['ipd_mm']:5.1f} {r['z']:+5.2f} {r.get('iris_px', math.nan):7.1f} "
            f"{100 * r.get('eye_disagreement', math.nan):7.1f} "
            f"{r.get('iris_ipd_mm', math.nan):7.1f} {r.get('iris_z', math.nan):+6.2f} "
            f"{r['icw_mm']:5.1f}"
        )
    s = summary(rows)
    print(f"\n{args.split} set, frontal photos: {s['photos']}; sources {s['sources']}")
    print(f"implied IPD {s['ipd_mean_sd_mm'][0]:.1f} ± {s['ipd_mean_sd_mm'][1]:.1f} mm "
          f"(mean ± SD); median claimed uncertainty {100 * s['median_rel']:.1f} %")  # fmt: skip
    for label, key in (
        ("final scale, |z| (scale and prior SD)", "z_within_1_2"),
        ("iris alone, |z| (scale and prior SD)", "iris_z_within_1_2"),
        ("|IPD − 63| / the scale's own SD", "own_sigma_within_1_2"),
    ):
        one, two = s[key]
        print(f"{label:40s} within ±1: {one:4.0%}   within ±2: {two:4.0%}")
    print(f"two eyes' iris disagreement, RMS: {100 * s['eye_disagreement_rms']:.1f} %")
    write_json(args.out or REPO / "bench-results" / f"scale-{args.split}.json",
               {"split": args.split, "summary": s, "photos": rows})  # fmt: skip


if __name__ == "__main__":
    main()
