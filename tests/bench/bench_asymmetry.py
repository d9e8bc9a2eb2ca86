"""How much of a real, one-sided asymmetry the 2D analysis reports, on faces it was not tuned on.

Run: ``.venv/bin/python -m tests.bench.bench_asymmetry [--split reporting|tuning|both]
[--quick] [--photos N] [--configs default,plain]``.

Photos
    The fixed person split of :mod:`tests.bench.asymmetry_split`: README reports the
    ``reporting`` set (the default); parameters are chosen on ``tuning`` only. In each photo
    the largest face is analysed, as the node does. Only **usable frontal faces** count: a
    face is skipped, and listed with the reason, when the node's default analysis of the
    unwarped photo finds none, sees a non-frontal view or a turned head (``head_rotated``),
    or a face too small (``face_too_small`` or an IPD under :data:`MIN_IPD_PX`).

Warps (:mod:`tests.bench.asymmetry_warps`)
    Five realistic, smooth, invertible warps — mouth-corner drop/lift, brow lift/drop
    (the eye fixed), upper-lid lowered/raised over a fixed pupil and lower lid, chin and
    nasal-tip shifted laterally — on the subject's right and left side, in both directions,
    at 1.5 and 3 mm (lid: 1 and 2 mm), mm at a 63 mm IPD from the photo's IPD. They are
    built on the default analysis's landmarks of the unwarped photo, so every configuration
    sees the same warped photo. A warp that would nearly fold a photo (the lid on a face
    whose margin sits close to the pupil) is refused and listed. Expected change: the
    catalogue formula on the unwarped landmarks as the warp moves them, minus on the
    unwarped ones (:meth:`Warp.injected`: for the lid, the margin points only).

Configurations (``--configs``)
    ``default`` — :class:`analysis.pipeline.PhotoAnalyzer` with default
    :class:`AnalysisOptions`: whatever the node analyses with; ``plain`` — the same with
    ``refine=False`` (the landmark model's asymmetry, a reference row). ``dlib`` and
    ``dlib+refine`` can be named too.

Figures (:mod:`tests.bench.asymmetry_summary`), per warp × side and both sides pooled
    gain (LS slope through the origin) over all frontal values and over the confirmed ones
    (neither the unwarped nor the warped value flagged ``asymmetry_unconfirmed``), coverage
    (share confirmed), confirmed values with the wrong sign (|expected| ≥ 0.5 mm), RMS
    error, and the share of errors within ±1 and ±2 combined uncertainties
    (sqrt(u_unwarped² + u_warped²) from ``Measurement.uncertainty``). Noise floor: RMS
    change when the unwarped photo is re-encoded (JPEG q85), shifted by (0.5, 0.3) and
    (1, 2) px, or rescaled by 0.9 and 1.1 — over all and over confirmed values. Timing:
    median ms of the whole analysis per configuration and of ``backend.detect`` alone, on
    the same images (the unwarped photos and their noise variants) in the same run.

Lengths are compared in pixels (mm values turned back with the analysis's own scale) and
printed as mm at a 63 mm IPD (px × 63 / IPD px of the unwarped photo).

Cost: per face and configuration 1 + 5 noise variants + 32 warps (3 bilateral kinds × 2
sides × 2 directions × 2 magnitudes + 2 midline kinds × 2 directions × 2 magnitudes) = 38
analyses. The reporting set has 23 photos, 17 of them usable frontal faces: 646 default
analyses (≈ 3.2 min at 300 ms each), as many ``plain`` ones (≈ 2 min at 200 ms), 102
``detect`` calls and 544 warped photos (≈ 0.05–0.4 s each) — measured 849 s on the loaded
2-core machine at 264 ms per analysis, so ≈ 15 min at 300 ms: within the 20 min allowed
without cutting magnitudes or noise variants. ``--quick``: 3 faces, the larger magnitude
only (22 analyses per face and configuration).
Results: tables on stdout, then README's markdown table (:func:`markdown_table`), JSON in
``bench-results/asymmetry.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.types import ASYMMETRY_UNCONFIRMED, Flag, View
from tests.bench import asymmetry_warps as aw
from tests.bench.asymmetry_split import faces
from tests.bench.asymmetry_summary import (
    format_tables,
    markdown_table,
    summarise,
    summarise_noise,
    summarise_timing,
)
from tests.bench.photos import REPO, astronaut
from tests.bench.report import write_json

MIN_IPD_PX = 30.0
QUICK_PHOTOS = 3
#: The unwarped variants that measure the noise floor: (image transform, px scale factor).
NOISE_VARIANTS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "jpeg85": (lambda im: aw.jpeg_roundtrip(im, 85), 1.0),
    "shift.5,.3": (lambda im: aw.shift_image(im, 0.5, 0.3), 1.0),
    "shift1,2": (lambda im: aw.shift_image(im, 1.0, 2.0), 1.0),
    "scale0.9": (lambda im: aw.rescale_image(im, 0.9), 0.9),
    "scale1.1": (lambda im: aw.rescale_image(im, 1.1), 1.1),
}
FISSURE = "palpebral_fissure_height_difference"
#: The measurements whose flags and uncertainties make up the bench's fissure difference.
FISSURE_PARTS = ("palpebral_fissure_height_r", "palpebral_fissure_height_l")
#: The fissure measurement whose flag (or absence: withheld) says if the R − L asymmetry held.
FISSURE_RATIO = "palpebral_fissure_height_ratio"


@dataclass(frozen=True)
class Config:
    name: str
    backend: str | None = None  # None: AnalysisOptions' default
    refine: bool | None = None


CONFIGS = {
    c.name: c
    for c in (
        Config("default"),
        Config("plain", refine=False),
        Config("dlib", "dlib", False),
        Config("dlib+refine", "dlib", True),
    )
}
DEFAULT_CONFIGS = ("default", "plain")


# --- reading a result ---------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    px: float
    u_px: float | None
    confirmed: bool


def values(result: Any) -> dict[str, Value]:
    """The five benchmark measurements of a result, in pixels (mm turned back with the
    analysis's own scale), with their uncertainty and whether they are confirmed."""
    by_id = {m.id: m for m in result.measurements} if result.face_found else {}
    mmpp = result.scale.mm_per_px if result.scale is not None else None

    def px(m: Any) -> tuple[float, float] | None:
        if m.unit == "mm" and mmpp:
            return m.value / mmpp, m.uncertainty / mmpp
        if m.unit == "[px]":
            return m.value, m.uncertainty
        return None

    out: dict[str, Value] = {}
    for kind in aw.KINDS:
        mid = aw.MEASUREMENT[kind]
        parts = FISSURE_PARTS if mid == FISSURE else (mid,)
        got = [px(by_id[p]) if p in by_id else None for p in parts]
        if any(g is None for g in got):
            continue
        vals = [g for g in got if g is not None]
        flag_ids = (*parts, FISSURE_RATIO) if mid == FISSURE else parts
        # the two heights are reported whatever their asymmetry; the ratio is the value that
        # says whether it was confirmed (withheld when it was not)
        confirmed = all(p in by_id and ASYMMETRY_UNCONFIRMED not in by_id[p].flags
                        for p in flag_ids)  # fmt: skip
        value = vals[0][0] - vals[1][0] if mid == FISSURE else vals[0][0]
        u = float(np.sqrt(sum(v[1] ** 2 for v in vals)))
        out[mid] = Value(value, u if np.isfinite(u) else None, confirmed)
    return out


def formula_px(points: dict[str, tuple[float, float]], mid: str) -> float | None:
    """The catalogue value of ``mid`` (or the bench's fissure-height difference) in pixels."""
    from analysis import measurements
    from analysis.types import (
        HeadPose,
        Quality,
        Scale,
        ScaleSource,
        SemanticLandmarks,
        ViewSource,
    )

    sem = SemanticLandmarks(points=dict(points), confidence=dict.fromkeys(points, 1.0), sources=())
    scale = Scale(1.0, ScaleSource.PIXEL_SPACING, 0.0)
    quality = Quality(1, 0, 1.0, 400.0, 20.0, HeadPose(0, 0, 0), False, False, (), View.FRONTAL,
                      ViewSource.POSE)  # fmt: skip
    got = {m.id: m.value for m in measurements.compute(sem, scale, quality)}
    if mid == FISSURE:
        r, left = (got.get(p) for p in FISSURE_PARTS)
        return None if r is None or left is None else r - left
    return got.get(mid)


def unusable(result: Any) -> str | None:
    """Why this face is not a usable frontal face (None: it is)."""
    if not result.face_found or result.semantic is None or result.quality is None:
        return "no face"
    q = result.quality
    if q.view is not View.FRONTAL:
        return f"not frontal (view {q.view})"
    if Flag.HEAD_ROTATED in q.flags:
        p = q.pose
        pose = f" (yaw {p.yaw:.1f}°, pitch {p.pitch:.1f}°, roll {p.roll:.1f}°)" if p else ""
        return "head rotated" + pose
    if Flag.FACE_TOO_SMALL in q.flags:
        return "face too small"
    try:
        ipd = aw.face_axes(result.semantic.points).ipd_px
    except (KeyError, ValueError):
        return "no eyes"
    return f"face too small (IPD {ipd:.0f} px)" if ipd < MIN_IPD_PX else None


def same_face(result: Any, ref_pts: dict[str, tuple[float, float]], ipd: float) -> bool:
    """The analysed face is the reference face (multi-face photos: configurations may differ)."""
    if not result.face_found or result.semantic is None:
        return False
    p, q = result.semantic.points.get("ibug_30"), ref_pts.get("ibug_30")
    return p is not None and q is not None and float(np.hypot(p[0] - q[0], p[1] - q[1])) < 0.5 * ipd


# --- the run ------------------------------------------------------------------------------


def make_analyzers(names: list[str]) -> dict[str, Any]:
    """One PhotoAnalyzer per configuration (a missing backend is reported, not fatal)."""
    from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
    from config.norms import load_tables

    tables = load_tables()
    out: dict[str, Any] = {}
    for name in names:
        cfg = CONFIGS[name]
        kw: dict[str, Any] = {}
        if cfg.backend is not None:
            kw["backend"] = cfg.backend
        if cfg.refine is not None:
            kw["refine"] = cfg.refine
        try:
            out[name] = PhotoAnalyzer(AnalysisOptions(tables=tables, **kw))
        except Exception as exc:
            print(f"{name}: unavailable ({type(exc).__name__}: {exc})", file=sys.stderr)
    return out


class _Timed:
    """Runs analyses and records how long each took, by configuration."""

    def __init__(self) -> None:
        self.times: list[dict[str, Any]] = []

    def __call__(self, what: str, fn: Callable[..., Any], *args: Any, record: bool = True) -> Any:
        t0 = time.perf_counter()
        out = fn(*args)
        if record:
            self.times.append({"what": what, "ms": (time.perf_counter() - t0) * 1000.0})
        return out


def _warps(pts: dict[str, tuple[float, float]], quick: bool, log: list[dict[str, Any]],
           photo: str, kinds: tuple[str, ...] = aw.KINDS) -> list[aw.Warp]:  # fmt: skip
    out = []
    for kind in kinds:
        levels = aw.LEVELS_MM[kind][-1:] if quick else aw.LEVELS_MM[kind]
        for side, direction in aw.VARIANTS[kind]:
            for level in levels:
                try:
                    out.append(aw.make_warp(kind, pts, level, side, direction))
                except ValueError as exc:
                    log.append({"photo": photo, "kind": kind, "side": side,
                                "direction": direction, "level_mm": level, "why": str(exc)})  # fmt: skip
    return out


def run(split: str = "reporting", quick: bool = False, n_photos: int | None = None,
        configs: tuple[str, ...] = DEFAULT_CONFIGS,
        kinds: tuple[str, ...] = aw.KINDS) -> dict[str, Any]:  # fmt: skip
    from analysis.types import Photo

    analyzers = make_analyzers(list(configs))
    if not analyzers:
        raise SystemExit("no configuration could be loaded")
    ref_name = next(iter(analyzers))
    warm = Photo(astronaut())  # first calls pay one-off set-up: kept out of the timings
    for an in analyzers.values():
        an.analyze(warm)
    limit = QUICK_PHOTOS if quick and n_photos is None else n_photos
    timed = _Timed()
    rows: list[dict[str, Any]] = []
    noise: list[dict[str, Any]] = []
    used: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for photo, img in faces(None if split == "both" else split):  # type: ignore[arg-type]
        if limit is not None and sum("ipd_px" in u for u in used) >= limit:
            break
        ref = timed(ref_name, analyzers[ref_name].analyze, Photo(img))
        why = unusable(ref)
        if why:
            used.append({"photo": photo.name, "person": photo.person, "skipped": why})
            continue
        ref_pts = dict(ref.semantic.points)
        ipd = aw.face_axes(ref_pts).ipd_px
        mm63 = aw.ASSUMED_IPD_MM / ipd
        pose = ref.quality.pose
        used.append({"photo": photo.name, "person": photo.person, "ipd_px": ipd,
                     "yaw_deg": pose.yaw if pose else None,
                     "flags": [str(f) for f in ref.quality.flags]})  # fmt: skip
        warps = _warps(ref_pts, quick, refused, photo.name, kinds)
        warped = [(w, w.apply(img)) for w in warps]
        variants = {k: (fn(img), f) for k, (fn, f) in NOISE_VARIANTS.items()}
        detector = analyzers[ref_name].backend
        for vimg in (img, *(v for v, _ in variants.values())):
            timed("detect", detector.detect, vimg)
        for cfg, an in analyzers.items():
            base = ref if cfg == ref_name else timed(cfg, an.analyze, Photo(img))
            if not same_face(base, ref_pts, ipd):
                used[-1].setdefault("config_skipped", []).append(cfg)
                continue
            b = values(base)
            for vname, (vimg, factor) in variants.items():
                res = timed(cfg, an.analyze, Photo(vimg))
                same = same_face(res, {k: (x * factor, y * factor) for k, (x, y) in ref_pts.items()},
                                 ipd * factor)  # fmt: skip
                v = values(res) if same else {}
                for kind in aw.KINDS:
                    mid = aw.MEASUREMENT[kind]
                    b0, v1 = b.get(mid), v.get(mid)
                    if b0 is None:
                        continue
                    noise.append({
                        "photo": photo.name, "config": cfg, "kind": kind, "variant": vname,
                        "change_mm63": None if v1 is None else (v1.px / factor - b0.px) * mm63,
                        "confirmed": v1 is not None and b0.confirmed and v1.confirmed,
                    })  # fmt: skip
            assert base.semantic is not None
            base_pts = dict(base.semantic.points)
            for w, wimg in warped:
                res = timed(cfg, an.analyze, Photo(wimg), record=False)
                mid = aw.MEASUREMENT[w.kind]
                f0, f1 = formula_px(base_pts, mid), formula_px(w.injected(base_pts), mid)
                b0 = b.get(mid)
                same = same_face(res, ref_pts, ipd)
                v1 = values(res).get(mid) if same else None
                expected = None if f0 is None or f1 is None else (f1 - f0) * mm63
                measured = None if b0 is None or v1 is None else (v1.px - b0.px) * mm63
                u = (None if b0 is None or v1 is None or b0.u_px is None or v1.u_px is None
                     else float(np.hypot(b0.u_px, v1.u_px)) * mm63)  # fmt: skip
                flags = res.quality.flags if res.quality is not None else ()
                rows.append({
                    "photo": photo.name, "person": photo.person, "config": cfg,
                    "kind": w.kind, "side": w.side, "direction": w.direction,
                    "level_mm": w.level_mm, "min_jacobian": round(w.min_jacobian, 3),
                    "expected_mm63": expected, "measured_mm63": measured, "u_mm63": u,
                    "confirmed": b0 is not None and v1 is not None and b0.confirmed
                    and v1.confirmed,
                    "warped_head_rotated": Flag.HEAD_ROTATED in flags,
                    # the face was analysed but the value left out (unconfirmed, withheld)
                    "withheld": b0 is None or (same and v1 is None),
                })  # fmt: skip
        print(f"  {photo.name}: done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr,
              flush=True)  # fmt: skip
    return {
        "split": split,
        "quick": quick,
        "photos": used,
        "configs": list(analyzers),
        "warps": {
            k: {
                "measurement": aw.MEASUREMENT[k],
                "levels_mm": aw.LEVELS_MM[k],
                "variants": aw.VARIANTS[k],
            }
            for k in aw.KINDS
        },  # fmt: skip
        "skipped_warps": refused,
        "rows": rows,
        "noise": noise,
        "summary": summarise(rows),
        "noise_floor": summarise_noise(noise),
        "timing": summarise_timing(timed.times),
        "seconds": time.perf_counter() - t0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--split", choices=("tuning", "reporting", "both"), default="reporting")
    ap.add_argument("--quick", action="store_true",
                    help=f"{QUICK_PHOTOS} photos, the larger magnitude only")  # fmt: skip
    ap.add_argument("--photos", type=int, default=None, help="at most N usable faces")
    ap.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                    help=f"comma-separated, first is the reference; of {', '.join(CONFIGS)}")  # fmt: skip
    ap.add_argument("--warps", default=",".join(aw.KINDS),
                    help=f"comma-separated warp kinds (A/B runs on one feature); of {', '.join(aw.KINDS)}")  # fmt: skip
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "asymmetry.json")
    args = ap.parse_args(argv)
    names = tuple(n for n in args.configs.split(",") if n)
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        ap.error(f"unknown configuration(s) {unknown}; choose from {', '.join(CONFIGS)}")
    kinds = tuple(k for k in args.warps.split(",") if k)
    if not kinds or set(kinds) - set(aw.KINDS):
        ap.error(f"--warps: choose from {', '.join(aw.KINDS)}")
    report = run(args.split, args.quick, args.photos, names, kinds)
    write_json(args.out, report)
    print(format_tables(report))
    print("\nREADME's table (the first configuration; the second as reference):\n")
    print(markdown_table(report))
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
