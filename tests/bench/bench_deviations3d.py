"""Injected 3D deviations recovered by the whole pipeline, tuned on one configuration and
reported on others.

Run: ``nice .venv/bin/python -m tests.bench.bench_deviations3d [--groups default,arc,seed1]
[--size 1024] [--fresh] [--out bench-results/deviations3d.json]``.

Ground truth: :mod:`tests.bench.multiview_synth` (the standard injected deviations — chin
and nasal tip shifted toward the subject's left, left brow raised — of d mm), rendered with
a ChArUco board and reconstructed by :func:`reconstruction.pipeline.reconstruct` as
:mod:`tests.bench.bench_3d` does. Each *group* is one camera set-up and render seed, with a
0 mm set and d mm sets; a set's recovered deviation is its value minus its group's 0 mm
set's, against the same difference on the true mesh and true landmarks (``true``) and
against the injected ``d`` itself.

The split: the parameters of the mid-sagittal plane and of the surface-based deviation
points were chosen on the **tuning** set (:data:`TUNING`: the 2 mm set of the default
16-view ±70° arc, seed 0, with its 0 mm set) and on the true meshes (no reconstruction);
every other set is **reporting** — the 3 and 4 mm sets of that arc, another arc (12 views,
yaw −60° to +75°) and another render seed. The reporting sets were looked at during the
work; what changed after that was a failure fix each (the nasal tip and the chin's corner
found where a hole breaks the profile), no parameter. (A second
face was not added: the meshmonk demo face has no texture and five landmarks, so it
needs a borrowed texture and transferred iBUG points before it can be rendered and
scored.)

Reconstructions are slow (about a minute per set on 2 cores) and nothing after the 3D
landmarks stage depends on them, so each set's mesh and pre-symmetry landmarks are cached
under ``bench-results/cache/deviations3d/`` and the symmetry, midline and measurement
stages are re-run on the cache (``--fresh`` reconstructs again: do so after a change to
any stage up to the landmarks). Targets (issue 10): 2–4 mm deviations within ±0.5 mm.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import pickle
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
from analysis.types import Photo
from config.norms import load_tables
from reconstruction import measurements3d, profile3d, symmetry3d
from reconstruction.pipeline import InputView, reconstruct
from reconstruction.types import FloatArray, Landmark3D, LandmarkSource, MeshScale, SurfaceMesh
from tests.bench import multiview_synth as ms
from tests.bench.bench_3d import SYNTH_OPTIONS, surface_error
from tests.bench.bench_landmarks3d import _mesh
from tests.bench.photos import REPO
from tests.bench.report import write_json

CACHE = REPO / "bench-results" / "cache" / "deviations3d"
#: The values whose injected change is read: measurement id → the deviation it reads.
KEYS = ("chin_deviation", "nasal_tip_deviation", "left_brow_lift")


@dataclass(frozen=True)
class Group:
    """One camera set-up, render seed and face; its sets are ``deviations`` mm."""

    name: str
    deviations: tuple[float, ...]
    views: int = 16
    yaw_deg: tuple[float, float] = (-70.0, 70.0)
    seed: int = 0


GROUPS: dict[str, Group] = {
    g.name: g
    for g in (
        Group("default", (0.0, 2.0, 3.0, 4.0)),
        Group("arc", (0.0, 2.0, 4.0), views=12, yaw_deg=(-60.0, 75.0)),
        Group("seed1", (0.0, 2.0, 4.0), seed=1),
    )
}
#: The only set any parameter was tuned on: (group, deviation mm).
TUNING = ("default", 2.0)


@contextlib.contextmanager
def _capture_symmetry_input(into: dict[str, Any]) -> Iterator[None]:
    """Keep the mesh and landmarks the pipeline hands to its symmetry stage."""
    original: Callable[..., Any] = symmetry3d.analyse

    def spy(mesh: SurfaceMesh, landmarks: dict[str, Landmark3D]) -> Any:
        into["mesh"], into["landmarks"] = mesh, dict(landmarks)
        return original(mesh, landmarks)

    symmetry3d.analyse = spy  # type: ignore[assignment]
    try:
        yield
    finally:
        symmetry3d.analyse = original  # type: ignore[assignment]


def _cache_path(g: Group, d: float, size: int) -> Path:
    yaw = f"{g.yaw_deg[0]:+.0f}{g.yaw_deg[1]:+.0f}"
    return CACHE / f"james-v{g.views}-y{yaw}-s{g.seed}-px{size}-d{d:g}.pkl"


def _deviations(d: float) -> tuple[ms.Deviation, ...]:
    return ms.standard_deviations(d) if d else ()


def reconstruct_set(
    analyzer: PhotoAnalyzer, g: Group, d: float, size: int, fresh: bool, face: ms.FaceModel
) -> dict[str, Any]:
    """The set's mesh, pre-symmetry landmarks and mesh → true-frame transform (cached)."""
    path = _cache_path(g, d, size)
    if path.is_file() and not fresh:
        with path.open("rb") as f:
            cached: dict[str, Any] = pickle.load(f)  # noqa: S301 - our own cache
        return cached
    t0 = time.perf_counter()
    truth = ms.make_set(
        g.views, size, deviations=_deviations(d), face=face, seed=g.seed, yaw_deg=g.yaw_deg,
    )  # fmt: skip
    inputs = [InputView(im, None, analyzer.analyze(Photo(im))) for im in truth.images]
    got: dict[str, Any] = {}
    with _capture_symmetry_input(got):
        result = reconstruct(inputs, SYNTH_OPTIONS)
    if "mesh" not in got:
        raise RuntimeError(f"{path.name}: no 3D landmarks ({result.notes})")
    to_true, surface = surface_error(result, truth)
    out = {
        "mesh": got["mesh"],
        "landmarks": got["landmarks"],
        "to_true": to_true,
        "surface_face_mean_mm": surface["face"]["mean_mm"],
        "registered": result.n_registered,
        "notes": list(result.notes),
        "wall_s": time.perf_counter() - t0,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(out, f)
    return out


def _true_landmarks(face: ms.FaceModel) -> dict[str, Landmark3D]:
    return {
        f"ibug_{i:02d}": Landmark3D(
            f"ibug_{i:02d}", face.landmarks[i], 0.0, LandmarkSource.TRIANGULATED
        )
        for i in range(68)
    }


def evaluate(mesh: SurfaceMesh, landmarks: dict[str, Landmark3D]) -> dict[str, Any]:
    """The pipeline's symmetry, midline and measurement stages on one mesh."""
    sym = symmetry3d.analyse(mesh, landmarks)
    refined = profile3d.refine_midline(landmarks, mesh, sym.plane)
    scale = MeshScale(mesh.scale.source, mesh.scale.relative_uncertainty)
    meas = {m.id: m for m in measurements3d.measure(refined, sym.plane, scale)}
    values = {k: meas[k].value for k in KEYS if k in meas}
    sigma = {k: meas[k].uncertainty for k in KEYS if k in meas}
    if "brow_height_difference" in meas:  # right − left: a left lift reads negative
        values["left_brow_lift"] = -meas["brow_height_difference"].value
        sigma["left_brow_lift"] = meas["brow_height_difference"].uncertainty
    elif {"ibug_19", "ibug_24"} <= set(refined):  # bench_3d's landmark-based lift
        f = sym.plane.to_face(np.array([refined["ibug_24"].position, refined["ibug_19"].position]))
        values["left_brow_lift"] = float(f[0, 1] - f[1, 1])
        sigma["left_brow_lift"] = math.nan
    return {
        "plane": sym.plane,
        "values": values,
        "uncertainty": sigma,
    }


def _plane_x(plane: Any, to_true: FloatArray, points: FloatArray) -> FloatArray:
    """Signed distance (mm) from the plane, mapped into the true frame, of true-frame points."""
    n = to_true[:3, :3] @ plane.normal
    o = to_true[:3, :3] @ plane.origin + to_true[:3, 3]
    return np.asarray((points - o) @ n)


def run_group(analyzer: PhotoAnalyzer, g: Group, size: int, fresh: bool) -> list[dict[str, Any]]:
    base = ms.load_face()
    probes = base.landmarks[[ms.MENTON, ms.PRONASALE, 27]]  # where the plane's shift matters
    out = []
    for d in g.deviations:
        rec = reconstruct_set(analyzer, g, d, size, fresh, base)
        t0 = time.perf_counter()
        got = evaluate(rec["mesh"], rec["landmarks"])
        face = ms.deform(base, _deviations(d))
        truth = evaluate(_mesh(face), _true_landmarks(face))
        out.append({
            "group": g.name,
            "views": g.views,
            "yaw_deg": list(g.yaw_deg),
            "seed": g.seed,
            "size": size,
            "deviation_mm": d,
            "role": "tuning" if (g.name, d) == TUNING else ("baseline" if d == 0 else "reporting"),
            "registered": rec["registered"],
            "surface_face_mean_mm": rec["surface_face_mean_mm"],
            "values": got["values"],
            "uncertainty": got["uncertainty"],
            "truth": truth["values"],
            "plane_x_at_menton_tip_nasion_mm": _plane_x(got["plane"], rec["to_true"], probes).tolist(),
            "true_plane_x_at_menton_tip_nasion_mm": _plane_x(truth["plane"], np.eye(4), probes).tolist(),
            "evaluate_s": time.perf_counter() - t0,
            "reconstruct_s": rec["wall_s"],
        })  # fmt: skip
    recovered(out)
    return out


def recovered(sets: list[dict[str, Any]]) -> None:
    """Each set's injected deviations as recovered: its value minus its group's 0 mm set's
    and the plane's sideways shift against the 0 mm set's at menton, tip and nasion."""
    base = next(s for s in sets if s["deviation_mm"] == 0.0)
    for s in sets:
        rec = {}
        for k in KEYS:
            if k in s["values"] and k in base["values"]:
                got = s["values"][k] - base["values"][k]
                true = s["truth"][k] - base["truth"][k]
                rec[k] = {"recovered": got, "true": true, "error": got - true,
                          "error_vs_injected": got - s["deviation_mm"]}  # fmt: skip
        s["recovered"] = rec
        s["plane_shift_mm"] = (
            np.subtract(s["plane_x_at_menton_tip_nasion_mm"],
                        base["plane_x_at_menton_tip_nasion_mm"]).tolist()
        )  # fmt: skip


def _print(sets: list[dict[str, Any]]) -> None:
    short = {"chin_deviation": "chin", "nasal_tip_deviation": "tip",
             "left_brow_lift": "brow"}  # fmt: skip
    print(
        f"\n{'role':9s} {'group':9s} {'d':>3s}  "
        + "  ".join(f"{short[k]:>5s} rec/err(true)/err(inj)" for k in KEYS)
        + "  plane shift menton/tip/nasion"
    )
    for role in ("tuning", "reporting"):
        for s in (s for s in sets if s["role"] == role):
            cells = []
            for k in KEYS:
                r = s["recovered"].get(k)
                cells.append(
                    "      —" if r is None else
                    f"{r['recovered']:+6.2f} {r['error']:+6.2f} {r['error_vs_injected']:+6.2f}   "
                )  # fmt: skip
            shift = " ".join(f"{v:+.2f}" for v in s["plane_shift_mm"])
            print(f"{role:9s} {s['group']:9s} {s['deviation_mm']:3g}  " + "  ".join(cells)
                  + f"  {shift}")  # fmt: skip
    errs = [abs(r["error"]) for s in sets if s["role"] == "reporting"
            for r in s["recovered"].values()]  # fmt: skip
    if errs:
        within = np.mean(np.asarray(errs) <= 0.5)
        print(f"reporting sets: {within:.0%} of {len(errs)} values within ±0.5 mm of the truth, "
              f"worst {max(errs):.2f} mm")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--groups", default=",".join(GROUPS))
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--fresh", action="store_true", help="reconstruct again, ignore the cache")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "deviations3d.json")
    args = ap.parse_args()
    analyzer = PhotoAnalyzer(AnalysisOptions(tables=load_tables()))
    sets: list[dict[str, Any]] = []
    for name in args.groups.split(","):
        if name:
            sets += run_group(analyzer, GROUPS[name], args.size, args.fresh)
    _print(sets)
    write_json(args.out, {"tuning": list(TUNING), "sets": sets,
                          "nan": [k for s in sets for k, v in s["values"].items()
                                  if not math.isfinite(v)]})  # fmt: skip
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
