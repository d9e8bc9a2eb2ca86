"""Structure-from-motion benchmark: the cameras stage on a real set and on synthetic ground truth.

Run: ``.venv/bin/python -m tests.bench.bench_sfm [--out bench-results/sfm.json]
[--skull-views N] [--synth-views 16] [--synth-size 1024]``.

* **skull** — ``multiview/skull_ccby`` (66 real photos of a skull, CC BY 4.0, Canon EOS
  Rebel T3 at 55 mm), downscaled to ≤ 1000 px; the focal length from EXIF (focal length ×
  focal-plane resolution, rescaled from the EXIF pixel size to the used size) is the prior
  of one shared SIMPLE_RADIAL camera. Reported: views registered, mean reprojection error,
  time, peak memory.
* **synthetic** — :mod:`tests.bench.multiview_synth`: the menpo3d "james" scan with a
  ChArUco board, 16 views of 1024² on a ±70° arc (render time reported apart). Same
  figures, plus the camera-centre error after a similarity alignment to the true cameras
  (mm, the true scene is in mm), and the board's millimetre scale against the true one.

Each case runs in its own process so that its peak memory (``ru_maxrss``) is its own.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from reconstruction.board import MarkerBoard, board_scale
from reconstruction.cameras import run_sfm
from reconstruction.similarity import fit_similarity
from tests.bench.photos import REPO, data_root
from tests.bench.report import write_json

MAX_SIDE = 1000


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def skull_images(limit: int | None = None) -> tuple[list[np.ndarray], float | None]:
    """The skull photos (RGB, ≤ MAX_SIDE px) and the EXIF focal length in used pixels."""
    folder = data_root() / "multiview" / "skull_ccby" / "images"
    paths = sorted(folder.glob("*.jpg"))[:limit]
    images, focal = [], None
    for p in paths:
        with Image.open(p) as im:
            exif = im.getexif().get_ifd(0x8769)
            rgb = np.asarray(im.convert("RGB"))
        s = MAX_SIDE / max(rgb.shape[:2])
        if s < 1:
            rgb = cv2.resize(rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        images.append(np.ascontiguousarray(rgb))
        f_mm, res, unit, exif_w = (exif.get(k) for k in (0x920A, 0xA20E, 0xA210, 0xA002))
        if focal is None and f_mm and res and unit in (2, 3) and exif_w:
            per_mm = float(res) / (25.4 if unit == 2 else 10.0)
            focal = float(f_mm) * per_mm * rgb.shape[1] / float(exif_w)
    return images, focal


def run_skull(limit: int | None) -> dict[str, Any]:
    images, focal = skull_images(limit)
    t0 = time.perf_counter()
    sfm = run_sfm(images, focal_px=[focal] * len(images), shared_camera=True, min_views=3)
    seconds = time.perf_counter() - t0
    est_f = next(c.K[0, 0] for c in sfm.cameras if c is not None)
    return {
        "case": "skull_ccby",
        "views": sfm.n_views,
        "size_px": list(images[0].shape[1::-1]),
        "registered": sfm.n_registered,
        "points": len(sfm.points),
        "reprojection_px": sfm.mean_reprojection_error_px,
        "sfm_s": seconds,
        "peak_mib": _peak_mib(),
        "exif_focal_px": focal,
        "estimated_focal_px": float(est_f),
    }


def run_synthetic(n_views: int, size: int) -> dict[str, Any]:
    from tests.bench import multiview_synth as ms

    t0 = time.perf_counter()
    truth = ms.make_set(n_views, size)
    render_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    sfm = run_sfm(
        list(truth.images),
        focal_px=[c.K[0, 0] for c in truth.cameras],
        camera_model="SIMPLE_PINHOLE",
        shared_camera=True,
    )
    sfm_s = time.perf_counter() - t0
    pairs = [(e, t) for e, t in zip(sfm.cameras, truth.cameras, strict=True) if e is not None]
    est = np.array([e.centre for e, _ in pairs])
    true = np.array([t.centre for _, t in pairs])
    sim = fit_similarity(est, true)
    err = np.linalg.norm(sim.apply(est) - true, axis=1)
    out: dict[str, Any] = {
        "case": "synthetic_james",
        "views": sfm.n_views,
        "size_px": [size, size],
        "registered": sfm.n_registered,
        "points": len(sfm.points),
        "reprojection_px": sfm.mean_reprojection_error_px,
        "render_s": render_s,
        "sfm_s": sfm_s,
        "centre_error_mm_mean": float(err.mean()),
        "centre_error_mm_max": float(err.max()),
        "camera_distance_mm": float(np.linalg.norm(truth.cameras[0].centre - [0, -55, 10])),
    }
    spec = truth.board
    if spec is not None:
        t0 = time.perf_counter()
        board = MarkerBoard(spec.squares, spec.square_mm, spec.marker_mm, spec.dictionary)
        got = board_scale(list(truth.images), sfm.cameras, board)
        out["board_s"] = time.perf_counter() - t0
        if got is not None:
            out["board_scale_error_pct"] = 100.0 * (got.factor / sim.scale - 1.0)
            out["board_claimed_uncertainty_pct"] = 100.0 * got.scale.relative_uncertainty
            out["board_corners"] = got.n_corners
    out["peak_mib"] = _peak_mib()
    return out


def _in_process(fn: Any, *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        result: dict[str, Any] = pool.submit(fn, *args).result()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "sfm.json")
    ap.add_argument("--skull-views", type=int, default=None, help="first N photos only")
    ap.add_argument("--synth-views", type=int, default=16)
    ap.add_argument("--synth-size", type=int, default=1024)
    args = ap.parse_args()
    rows = []
    if (data_root() / "mesh3d" / "menpo3d_james" / "james.obj").is_file():
        rows.append(_in_process(run_synthetic, args.synth_views, args.synth_size))
    else:
        print("menpo3d_james absent: synthetic case skipped")
    if (data_root() / "multiview" / "skull_ccby" / "images").is_dir():
        rows.append(_in_process(run_skull, args.skull_views))
    else:
        print("skull_ccby absent: real case skipped")
    print(
        f"\n{'case':16s} {'views':>5s} {'reg':>4s} {'pts':>6s} {'reproj px':>9s} "
        f"{'SfM s':>6s} {'peak MiB':>8s} {'centre mm':>10s} {'board %':>8s}"
    )
    for r in rows:
        centre = r.get("centre_error_mm_mean")
        board = r.get("board_scale_error_pct")
        print(
            f"{r['case']:16s} {r['views']:5d} {r['registered']:4d} {r['points']:6d} "
            f"{r['reprojection_px']:9.3f} {r['sfm_s']:6.1f} {r['peak_mib']:8.0f} "
            f"{'' if centre is None else f'{centre:.2f}':>10s} "
            f"{'' if board is None else f'{board:+.2f}':>8s}"
        )
    write_json(args.out, {"rows": rows})


if __name__ == "__main__":
    main()
