"""How much of a real, one-sided asymmetry the 2D analysis reports (and how much it invents).

Run: ``.venv/bin/python -m tests.bench.bench_asymmetry [--quick] [--out FILE]``.

For every real photo (``skimage.data.astronaut()``, the portraits in
``shared/data/photos/face_recognition``, and dlib's example photos whose main face is big
enough), every warp of :mod:`tests.bench.asymmetry_warps` and every magnitude, the photo is
warped and analysed by the real pipeline (:class:`analysis.pipeline.PhotoAnalyzer`) with
each configuration: MediaPipe and dlib, each without and with the refinement stage
(:mod:`analysis.refine`). Reported per configuration and warp:

* ``gain`` — measured / injected change of the measurement that should see the warp, as
  the least-squares slope through the origin over all photos and magnitudes (1 = the
  whole asymmetry is reported, 0 = none of it); ``median`` — the median of the per-photo
  slopes, which one bad photo cannot move; ``rms`` — RMS of measured − injected.
* The injected change is f(φ(L)) − f(L): the catalogue formula on the unwarped photo's
  landmarks L moved by the warp φ, so it counts what the warp's tails do to nearby points.
* ``confirmed`` — the same gain over the measurements the analysis stands behind: neither
  the unwarped nor the warped value carries the ``asymmetry_unconfirmed`` flag (the
  refinement could not confirm the feature in the photo, so the value is the landmark
  model's), with how many of all were kept, and the noise floor over those.
* ``clean`` — the gain over the values that carry no other flag (head turned, smiling,
  mouth open, …: the values a report would otherwise stand behind), confirmed or not,
  and how many of those were confirmed. ``frontal`` — the same over the values whose
  photo passed the pose check (no ``head_rotated``), whatever the expression: clinical
  photos are taken frontal, and a turned head is where the mirror evidence is weakest.
* Noise floor (false asymmetry): the same measurements on the unwarped photos (median
  absolute value) and their change when the photo is only re-encoded as JPEG (q 75, 90)
  or shifted by a few pixels (RMS) — what a configuration reports when nothing changed.

Lengths are compared in pixels (mm values are turned back into pixels with the scale the
analysis reported) and printed as "mm at a 63 mm IPD" (px × 63 / IPD px) so that photos of
any resolution add up. Warps are built from MediaPipe's landmarks of the unwarped photo, so
every configuration sees the same warped photo. Results: table on stdout, JSON in
``bench-results/asymmetry.json``.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from analysis.types import ASYMMETRY_UNCONFIRMED, Flag
from tests.bench import asymmetry_warps as aw
from tests.bench.photos import REPO, real_photos
from tests.bench.report import write_json

MIN_IPD_PX = 30.0
PX_SCALE_MM = 1.0
#: The unwarped variants that measure the noise floor.
NOISE_VARIANTS = ("jpeg75", "jpeg90", "shift_2.5_-1.5", "shift_-1.25_2")


@dataclass(frozen=True)
class Config:
    name: str
    backend: str
    refine: bool


CONFIGS = (
    Config("mediapipe", "mediapipe", False),
    Config("mediapipe+refine", "mediapipe", True),
    Config("dlib", "dlib", False),
    Config("dlib+refine", "dlib", True),
)


def photos(quick: bool = False) -> Iterator[tuple[str, np.ndarray]]:
    """The astronaut, then the shared portraits and dlib's example photos (skipped if absent)."""
    for name, rgb, _ in real_photos(portraits=not quick, dlib_faces=not quick):
        yield name, rgb


def variant(image: np.ndarray, name: str) -> np.ndarray:
    if name.startswith("jpeg"):
        return aw.jpeg_roundtrip(image, int(name[4:]))
    _, dx, dy = name.split("_")
    return aw.shift_image(image, float(dx), float(dy))


# --- measuring ----------------------------------------------------------------------------


def formula_px(points: dict[str, tuple[float, float]], mid: str) -> float | None:
    """The catalogue value of ``mid`` (or the bench's fissure-height difference) in pixels."""
    from analysis import measurements
    from analysis.types import HeadPose, Quality, Scale, ScaleSource, SemanticLandmarks, View

    sem = SemanticLandmarks(points=dict(points), confidence=dict.fromkeys(points, 1.0), sources=())
    scale = Scale(PX_SCALE_MM, ScaleSource.PIXEL_SPACING, 0.0)
    quality = Quality(1, 0, 1.0, 400.0, 20.0, HeadPose(0, 0, 0), False, False, (), View.FRONTAL,
                      "pose")  # fmt: skip
    values = {m.id: m.value / PX_SCALE_MM for m in measurements.compute(sem, scale, quality)}
    return _pick(values, mid)


def result_px(result: Any, mid: str) -> float | None:
    """The pipeline's value of ``mid`` in pixels (mm turned back with its own scale)."""
    values: dict[str, float] = {}
    for m in result.measurements:
        if m.unit == "mm" and result.scale is not None and result.scale.mm_per_px:
            values[m.id] = m.value / result.scale.mm_per_px
        elif m.unit in ("mm", "[px]"):
            values[m.id] = m.value
    return _pick(values, mid)


def _flags(result: Any, mid: str) -> tuple[str, ...] | None:
    """The flags of the value of ``mid`` (None: no value). The bench's fissure-height
    difference takes those of the fissure height ratio."""
    mid = "palpebral_fissure_height_ratio" if mid == "palpebral_fissure_height_difference" else mid
    return next((m.flags for m in result.measurements if m.id == mid), None)


def unconfirmed(result: Any, mid: str) -> bool:
    """The analysis did not stand behind this value's asymmetry (flag, or no value at all)."""
    flags = _flags(result, mid)
    return flags is None or ASYMMETRY_UNCONFIRMED in flags


#: Flags that do not stop the report from standing behind a value (the bench's photos
#: carry no pixel spacing, so their scale is the iris or the assumed IPD).
SOFT = frozenset({ASYMMETRY_UNCONFIRMED, Flag.SCALE_ASSUMED})


def other_flags(result: Any, mid: str) -> list[str]:
    """The value's flags besides :data:`SOFT` (head turned, smiling, …; "missing")."""
    flags = _flags(result, mid)
    return [f for f in (flags if flags is not None else ("missing",)) if f not in SOFT]


def _pick(values: dict[str, float], mid: str) -> float | None:
    if mid == "palpebral_fissure_height_difference":
        r, left = values.get("palpebral_fissure_height_r"), values.get("palpebral_fissure_height_l")
        return None if r is None or left is None else r - left
    return values.get(mid)


def refined(result: Any) -> bool:
    from analysis.refine import IDENTITY

    return result.semantic is not None and IDENTITY in result.semantic.sources


# --- the run ------------------------------------------------------------------------------


def make_analyzers() -> dict[str, Any]:
    """One loaded backend per name; refine on/off are shallow copies sharing it."""
    from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
    from config.norms import load_tables

    tables = load_tables()  # the shipped norms and rules, read once
    loaded: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for cfg in CONFIGS:
        try:
            if cfg.backend not in loaded:
                options = AnalysisOptions(tables=tables, backend=cfg.backend)
                loaded[cfg.backend] = PhotoAnalyzer(options)
        except Exception as exc:  # a missing backend is reported, not fatal
            print(f"{cfg.name}: unavailable ({type(exc).__name__}: {exc})", file=sys.stderr)
            continue
        an = copy.copy(loaded[cfg.backend])
        an.options = replace(an.options, refine=cfg.refine)
        out[cfg.name] = an
    return out


def run(quick: bool = False) -> dict[str, Any]:
    from analysis.types import Photo

    analyzers = make_analyzers()
    ref_name = "mediapipe" if "mediapipe" in analyzers else next(iter(analyzers))
    rows: list[dict[str, Any]] = []
    noise: list[dict[str, Any]] = []
    used: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for name, img in photos(quick):
        ref = analyzers[ref_name].analyze(Photo(img))
        if not ref.face_found or ref.semantic is None:
            used.append({"photo": name, "skipped": "no face"})
            continue
        ref_pts = ref.semantic.points
        try:
            ipd = aw.face_axes(ref_pts).ipd_px
        except (KeyError, ValueError):
            used.append({"photo": name, "skipped": "no eyes"})
            continue
        if ipd < MIN_IPD_PX:
            used.append({"photo": name, "skipped": f"face too small (IPD {ipd:.0f} px)"})
            continue
        used.append({"photo": name, "ipd_px": ipd})
        mm63 = aw.ASSUMED_IPD_MM / ipd
        warped: dict[tuple[str, float], tuple[aw.Warp, np.ndarray]] = {}
        for kind in aw.KINDS:
            for level in aw.LEVELS_MM[kind][1:] if quick else aw.LEVELS_MM[kind]:
                w = aw.make_warp(kind, ref_pts, level)
                warped[(kind, level)] = (w, w.apply(img))
        variants = {v: variant(img, v) for v in NOISE_VARIANTS}
        for cfg_name, an in analyzers.items():
            base = an.analyze(Photo(img))
            if not _same_face(base, ref_pts, ipd):
                used[-1].setdefault("config_skipped", []).append(cfg_name)
                continue
            assert base.semantic is not None
            for kind in aw.KINDS:
                mid = aw.MEASUREMENT[kind]
                b = result_px(base, mid)
                for vname, vimg in variants.items():
                    res = an.analyze(Photo(vimg))
                    same = _same_face(res, ref_pts, ipd)
                    v = result_px(res, mid) if same else None
                    noise.append({
                        "photo": name, "config": cfg_name, "kind": kind, "measurement": mid,
                        "variant": vname,
                        "base_mm63": None if b is None else b * mm63,
                        "change_mm63": None if b is None or v is None else (v - b) * mm63,
                        "confirmed": not unconfirmed(base, mid)
                        and same and not unconfirmed(res, mid),
                        "other_flags": sorted(set(other_flags(base, mid))
                                              | set(other_flags(res, mid) if same else ["missing"])),
                    })  # fmt: skip
                for (k2, level), (w, wimg) in warped.items():
                    if k2 != kind:
                        continue
                    res = an.analyze(Photo(wimg))
                    f0 = formula_px(base.semantic.points, mid)
                    f1 = formula_px(w.forward(base.semantic.points), mid)
                    same = _same_face(res, ref_pts, ipd)
                    m1 = result_px(res, mid) if same else None
                    expected = None if f0 is None or f1 is None else f1 - f0
                    measured = None if b is None or m1 is None else m1 - b
                    rows.append({
                        "photo": name, "config": cfg_name, "kind": kind, "measurement": mid,
                        "level_mm": level, "magnitude_px": w.magnitude_px,
                        "max_gradient": round(w.max_gradient, 3),
                        "expected_px": expected, "measured_px": measured,
                        "expected_mm63": None if expected is None else expected * mm63,
                        "measured_mm63": None if measured is None else measured * mm63,
                        "refined_unwarped": refined(base), "refined_warped": refined(res),
                        "confirmed": not unconfirmed(base, mid)
                        and same and not unconfirmed(res, mid),
                        "other_flags": sorted(set(other_flags(base, mid))
                                              | set(other_flags(res, mid) if same else ["missing"])),
                        "photo_ipd_px": ipd,
                    })  # fmt: skip
        print(f"  {name}: done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return {
        "photos": used,
        "configs": list(analyzers),
        "warps": {k: {"measurement": aw.MEASUREMENT[k], "levels_mm": aw.LEVELS_MM[k]} for k in aw.KINDS},
        "rows": rows,
        "noise": noise,
        "summary": summarise(rows),
        "noise_floor": summarise_noise(noise),
        "seconds": time.perf_counter() - t0,
    }  # fmt: skip


def _same_face(result: Any, ref_pts: dict[str, tuple[float, float]], ipd: float) -> bool:
    """The analysed face is the reference face (multi-face photos: backends may differ)."""
    if not result.face_found or result.semantic is None:
        return False
    p, q = result.semantic.points.get("ibug_30"), ref_pts.get("ibug_30")
    return p is not None and q is not None and float(np.hypot(p[0] - q[0], p[1] - q[1])) < 0.5 * ipd


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for cfg in sorted({r["config"] for r in rows}, key=_cfg_order):
        out[cfg] = {}
        for kind in aw.KINDS:
            sel = [r for r in rows if r["config"] == cfg and r["kind"] == kind]
            ok = [
                r for r in sel if r["expected_mm63"] is not None and r["measured_mm63"] is not None
            ]
            if not ok:
                out[cfg][kind] = {"n": 0}
                continue
            e = np.array([r["expected_mm63"] for r in ok])
            m = np.array([r["measured_mm63"] for r in ok])
            by_photo: dict[str, float] = {}
            for photo in sorted({r["photo"] for r in ok}):
                pe = np.array([r["expected_mm63"] for r in ok if r["photo"] == photo])
                pm = np.array([r["measured_mm63"] for r in ok if r["photo"] == photo])
                if float(pe @ pe) > 0:
                    by_photo[photo] = float(pe @ pm / (pe @ pe))
            per_photo = list(by_photo.values())
            conf = [r for r in ok if r.get("confirmed")]
            ce = np.array([r["expected_mm63"] for r in conf])
            cm = np.array([r["measured_mm63"] for r in conf])
            clean = [r for r in ok if not r.get("other_flags")]
            frontal = [r for r in ok if not {Flag.HEAD_ROTATED, "missing"} & set(r["other_flags"])]
            out[cfg][kind] = {
                **_subset_gain("clean", clean),
                **_subset_gain("frontal", frontal),
                "confirmed_n": len(conf),
                "confirmed_gain": float(ce @ cm / (ce @ ce)) if conf else None,
                "confirmed_photos": len({r["photo"] for r in conf}),
                "n": len(ok),
                "photos": len(per_photo),
                "gain": float(e @ m / (e @ e)),
                "median_gain": float(np.median(per_photo)) if per_photo else None,
                "photos_within_20pct": int(sum(0.8 <= g <= 1.2 for g in per_photo)),
                "per_photo_gain": by_photo,
                "rms_error_mm63": float(np.sqrt(np.mean((m - e) ** 2))),
            }
    return out


def _subset_gain(label: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``{label}_n``, ``{label}_gain`` (LS, None when empty) and ``{label}_confirmed_n``."""
    e = np.array([r["expected_mm63"] for r in rows])
    m = np.array([r["measured_mm63"] for r in rows])
    return {
        f"{label}_n": len(rows),
        f"{label}_gain": float(e @ m / (e @ e)) if rows else None,
        f"{label}_confirmed_n": sum(1 for r in rows if r.get("confirmed")),
    }


def _frontal(row: dict[str, Any]) -> bool:
    return not {Flag.HEAD_ROTATED, "missing"} & set(row.get("other_flags", ()))


def summarise_noise(noise: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per configuration and warp kind: the RMS change on re-encode/shift over all values,
    the confirmed ones and the frontal-pose ones. For a "+refine" configuration the subsets
    also get ``*_model_rms_change_mm63``: its landmark model alone on the *same* photos and
    variants, so that the refinement's noise is compared pair for pair."""
    index = {(r["config"], r["photo"], r["kind"], r["variant"]): r for r in noise}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for cfg in sorted({r["config"] for r in noise}, key=_cfg_order):
        out[cfg] = {}
        model = cfg.removesuffix("+refine") if cfg.endswith("+refine") else None
        for kind in aw.KINDS:
            sel = [r for r in noise if r["config"] == cfg and r["kind"] == kind]
            ch = np.array([r["change_mm63"] for r in sel if r["change_mm63"] is not None])
            base = {(r["photo"]): r["base_mm63"] for r in sel if r["base_mm63"] is not None}
            out[cfg][kind] = {
                "measurement": aw.MEASUREMENT[kind],
                "rms_change_mm63": _rms(ch),
                "max_change_mm63": float(np.abs(ch).max()) if ch.size else None,
                "median_abs_value_mm63": (
                    float(np.median(np.abs(list(base.values())))) if base else None
                ),
                "n": int(ch.size),
            }
            subsets = {"confirmed": lambda r: bool(r["confirmed"]), "frontal": _frontal}
            for label, keep in subsets.items():
                rows = [r for r in sel if r["change_mm63"] is not None and keep(r)]
                out[cfg][kind][f"{label}_rms_change_mm63"] = _rms(
                    np.array([r["change_mm63"] for r in rows])
                )
                out[cfg][kind][f"{label}_n"] = len(rows)
                if model is None:
                    continue
                twins = [index.get((model, r["photo"], kind, r["variant"])) for r in rows]
                paired = [t["change_mm63"] for t in twins if t and t["change_mm63"] is not None]
                out[cfg][kind][f"{label}_model_rms_change_mm63"] = _rms(np.array(paired))
    return out


def _rms(values: np.ndarray) -> float | None:
    return float(np.sqrt(np.mean(values**2))) if values.size else None


def _cfg_order(name: str) -> int:
    names = [c.name for c in CONFIGS]
    return names.index(name) if name in names else len(names)


def _f(v: Any, fmt: str = "5.2f") -> str:
    return "  n/a" if v is None else format(v, fmt)


def _table(
    report: dict[str, Any], title: str, cell: Callable[[dict[str, Any], dict[str, Any]], str]
) -> list[str]:
    """One row per warp, one column per configuration; ``cell(summary, noise_floor)``."""
    cfgs = list(report["summary"])
    head = f"{'warp':<20} {'measurement':<36}" + "".join(f"{c:>34}" for c in cfgs)
    lines = ["", title, head, "-" * len(head)]
    for kind in aw.KINDS:
        row = f"{kind:<20} {aw.MEASUREMENT[kind]:<36}"
        for c in cfgs:
            s, nf = report["summary"][c][kind], report["noise_floor"][c][kind]
            row += f"{'n/a' if not s.get('n') else cell(s, nf):>34}"
        lines.append(row)
    return lines


def _model(nf: dict[str, Any], label: str) -> str:
    """" (m 0.59)": the landmark model alone on the same pairs, for a "+refine" column."""
    key = f"{label}_model_rms_change_mm63"
    return f" (m {_f(nf[key], '.2f')})" if key in nf else ""


def format_tables(report: dict[str, Any]) -> str:
    lines = _table(
        report,
        "Reported / injected asymmetry: LS gain over all photos and magnitudes "
        "(median per-photo gain) [photos within +/-20 %]",
        lambda s, _: (
            f"{_f(s['gain'])} ({_f(s['median_gain'])}) [{s['photos_within_20pct']}/{s['photos']}]"
        ),
    )
    lines += _table(
        report,
        "Confirmed by the photo (neither value flagged asymmetry_unconfirmed): LS gain "
        "[measurements kept / all] | RMS change on re-encode/shift, mm at a 63 mm IPD "
        "(m: the landmark model alone on the same photos and variants)",
        lambda s, nf: (
            f"{_f(s['confirmed_gain'])} [{s['confirmed_n']}/{s['n']}] | "
            f"{_f(nf['confirmed_rms_change_mm63'])}{_model(nf, 'confirmed')}"
        ),
    )
    lines += _table(
        report,
        "Values with no other flag (frontal enough, neutral expression, …): LS gain over all "
        "of them [confirmed / all]",
        lambda s, _: f"{_f(s['clean_gain'])} [{s['clean_confirmed_n']}/{s['clean_n']}]",
    )
    lines += _table(
        report,
        "Values from a frontal pose (no head_rotated flag; expression allowed): LS gain "
        "[confirmed / all] | RMS change on re-encode/shift, mm at a 63 mm IPD (m: model alone)",
        lambda s, nf: (
            f"{_f(s['frontal_gain'])} [{s['frontal_confirmed_n']}/{s['frontal_n']}] | "
            f"{_f(nf['frontal_rms_change_mm63'])}{_model(nf, 'frontal')}"
        ),
    )
    lines += _table(
        report,
        "Noise floor, mm at a 63 mm IPD: RMS change on re-encode/shift | median |value| unwarped",
        lambda _, nf: f"{_f(nf['rms_change_mm63'])} | {_f(nf['median_abs_value_mm63'])}",
    )
    photos_used = [p["photo"] for p in report["photos"] if "ipd_px" in p]
    lines += [
        "",
        f"photos: {len(photos_used)} ({', '.join(photos_used)}); {report['seconds']:.0f} s",
    ]
    return "\n".join(lines[1:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="astronaut only, three magnitudes")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "asymmetry.json")
    args = ap.parse_args(argv)
    report = run(quick=args.quick)
    write_json(args.out, report)
    print(format_tables(report))
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
