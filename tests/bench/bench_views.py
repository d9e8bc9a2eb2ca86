"""The view each real photo gets from the photo itself (no View Code Sequence).

Run: ``.venv/bin/python -m tests.bench.bench_views [--out bench-results/views.json]``.

Every photo of ``photos/*`` in the shared data, the right-lateral portrait mirrored (the
only real left-lateral one at hand), the astronaut, and the menpo3d "james" scan rendered
(:mod:`tests.bench.bench_profile`) from a true profile (0°) to frontal (90°) in steps,
both sides, go through the whole 2D pipeline with the default backend. Per photo: the
view, where it came from, the pose's yaw, the eye-width ratio, the nasolabial angle when
one was made, the flags. The expected view is known for the lateral portrait, its mirror
and the renders (true yaw = 90° − the turn toward the camera; frontal below 15°, oblique
below 60°); the frontal sets are mostly frontal, with a few turned faces.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from analysis import quality
from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
from analysis.types import Photo, View
from config.norms import load_tables
from tests.bench import bench_profile
from tests.bench.photos import REPO, astronaut, data_root, read_rgb
from tests.bench.report import write_json

LATERAL = Path("photos", "dynaface", "img2-1024-right-lateral.jpg")
RENDER_TURNS = (0, 15, 30, 45, 60, 75, 90)  # degrees toward the camera from a true profile


def expected_for_render(facing: View, turn: int) -> View:
    yaw = 90 - turn
    if yaw < 15:
        return View.FRONTAL
    right = facing is View.PROFILE_RIGHT
    if yaw < 60:
        return View.OBLIQUE_RIGHT if right else View.OBLIQUE_LEFT
    return facing


def photos() -> list[tuple[str, np.ndarray, View | None]]:
    """(name, RGB pixels, expected view or None when not known)."""
    out: list[tuple[str, np.ndarray, View | None]] = [("astronaut", astronaut(), View.FRONTAL)]
    root = data_root() / "photos"
    if root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            for path in sorted(folder.iterdir()):
                if path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
                    continue
                rgb = read_rgb(path)
                if rgb is None:
                    continue
                rel = f"{folder.name}/{path.name}"
                known = View.PROFILE_RIGHT if path.name.endswith("right-lateral.jpg") else None
                out.append((rel, rgb, known))
    lateral = data_root() / LATERAL
    if lateral.is_file():
        rgb = read_rgb(lateral)
        if rgb is not None:
            out.append(("mirrored/" + lateral.name, rgb[:, ::-1].copy(), View.PROFILE_LEFT))
    if (bench_profile.data_dir() / "james.obj").is_file():
        mesh = bench_profile.load_mesh(bench_profile.data_dir())
        for facing in (View.PROFILE_RIGHT, View.PROFILE_LEFT):
            for turn in RENDER_TURNS:
                off = turn if facing is View.PROFILE_RIGHT else -turn
                r = bench_profile.render(mesh, facing, yaw_off_deg=off)
                name = f"james/{facing.value}+{turn}"
                out.append((name, r.photo, expected_for_render(facing, turn)))
    return out


def run(out: Path | None) -> dict[str, Any]:
    analyzer = PhotoAnalyzer(AnalysisOptions(tables=load_tables()))
    rows = []
    for name, rgb, expected in photos():
        result = analyzer.analyze(Photo(rgb))
        q = result.quality
        ratio = None
        if result.semantic is not None:
            pts = {k: np.asarray(v) for k, v in result.semantic.points.items()}
            eyes = quality.eye_width_ratio(pts)
            ratio = round(eyes[0], 3) if eyes is not None else None
        ids = {m.id: m.value for m in result.measurements}
        rows.append(
            {
                "photo": name,
                "view": q.view.value if q is not None else "no face",
                "source": q.view_source.value if q is not None else "",
                "expected": expected.value if expected is not None else None,
                "yaw": round(q.pose.yaw, 1) if q is not None and q.pose is not None else None,
                "eye_ratio": ratio,
                "nasolabial": round(ids["nasolabial_angle"], 1)
                if "nasolabial_angle" in ids
                else None,
                "flags": [str(f) for f in q.flags] if q is not None else [],
            }
        )
    judged = [r for r in rows if r["expected"] is not None]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["view"]] = counts.get(r["view"], 0) + 1
    report = {
        "rows": rows,
        "summary": {
            "photos": len(rows),
            "views": counts,
            "known": len(judged),
            "known_correct": sum(1 for r in judged if r["view"] == r["expected"]),
        },
    }
    if out is not None:
        write_json(out, report)
    return report


def format_table(report: dict[str, Any]) -> str:
    lines = [
        f"{'photo':<48} {'view':<14} {'source':<6} {'expected':<14} {'yaw':>6} {'eyes':>5} "
        f"{'nl':>6}  flags"
    ]
    for r in report["rows"]:
        yaw = f"{r['yaw']:6.1f}" if r["yaw"] is not None else f"{'-':>6}"
        eyes = f"{r['eye_ratio']:5.2f}" if r["eye_ratio"] is not None else f"{'-':>5}"
        nl = f"{r['nasolabial']:6.1f}" if r["nasolabial"] is not None else f"{'-':>6}"
        mark = "" if r["expected"] in (None, r["view"]) else "  <-- expected " + r["expected"]
        lines.append(
            f"{r['photo']:<48} {r['view']:<14} {r['source']:<6} {r['expected'] or '':<14} "
            f"{yaw} {eyes} {nl}  {','.join(r['flags'])}{mark}"
        )
    s = report["summary"]
    lines.append("")
    lines.append(
        f"{s['photos']} photos: {s['views']}; known views right: "
        f"{s['known_correct']} of {s['known']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "views.json")
    args = ap.parse_args(argv)
    if not (data_root() / "photos").is_dir():
        print(
            f"(shared photos absent: {data_root() / 'photos'}; the astronaut only)", file=sys.stderr
        )
    report = run(args.out)
    print(format_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
