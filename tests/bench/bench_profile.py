"""Profile-silhouette benchmark on a real textured 3D face scan rendered in profile.

Run: ``.venv/bin/python -m tests.bench.bench_profile [--out bench-results/profile.json]``
or ``pytest -m bench tests/bench``.

Subject: menpo3d's "james" scan (``mesh3d/menpo3d_james``: textured OBJ, 68 3D landmarks,
BSD-3). It is rendered in profile by a small numpy/OpenCV z-buffer rasteriser (triangle ids
drawn far-to-near, then per-pixel barycentric texture lookup and Lambert shading, 3×
supersampled) on a plain backdrop with noise, from the right and the left, with the head
pitched (= rotated in the image plane in a profile) and turned a little off 90°.

Three comparisons per render:

* ``vs_exact`` — :func:`analysis.profile.find_profile_points` on the photo
  against :func:`analysis.profile.locate_on_curve` run on the *exact* silhouette
  of the projected mesh (union of its triangles at 3× resolution): the error the
  segmentation adds, same point definitions.
* ``vs_scan`` — against the scan's own 3D landmarks projected into the photo where one
  means the same point (nose tip → pronasale, subnasale, upper/lower lip midpoints →
  labrale superius/inferius, inner-lip midpoint → stomion). Those landmarks were placed on
  the 3D surface by an annotator with frontal definitions, so this mixes definition
  differences (millimetres) with detection error.
* angles — nasolabial and nasofrontal angles (analysis.measurements formulas) from the
  photo's points against those from the exact silhouette.

Millimetres are exact here: the render's scale is known.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from analysis import profile as pl
from analysis.measurements.geometry import Pts
from analysis.measurements.profile import nasofrontal_angle, nasolabial_angle
from analysis.profile.curve import resample_curve
from analysis.profile.silhouette import anterior_outline, extract_silhouette
from analysis.types import Photo, View
from tests.bench.photos import REPO, data_root
from tests.bench.report import write_json

SUPER = 3
MM_PER_PX = 0.34
SIZE = (720, 1000)
#: menpo3d james landmark order: 0–16 jaw, 17–22 / 23–28 eyes, 29–33 brow, 34–42 nose
#: (34 top of the bridge … 37 tip, 38–42 nostril base, 40 the midline one), 43–47 brow,
#: 48–67 mouth as in iBUG.
SCAN_POINTS = {
    "pronasale": (37,),
    "subnasale": (40,),
    "labrale_superius": (51,),
    "labrale_inferius": (57,),
    "stomion": (62, 66),
}
MIRROR_PAIRS = [(i, 16 - i) for i in range(8)] + [
    (48, 54), (49, 53), (50, 52), (59, 55), (58, 56), (38, 42), (39, 41),
]  # fmt: skip
TARGET_MEDIAN_MM = 1.5  # photo vs exact silhouette, median over points
TARGET_MS = 40.0


def data_dir() -> Path:
    return data_root() / "mesh3d" / "menpo3d_james"


@dataclass
class Mesh:
    v: np.ndarray  # V×3
    vt: np.ndarray  # T×2
    f: np.ndarray  # F×3 vertex indices
    ft: np.ndarray  # F×3 texture indices
    texture: np.ndarray  # RGB
    landmarks: np.ndarray  # 68×3


def load_mesh(folder: Path) -> Mesh:
    v: list[list[float]] = []
    vt: list[list[float]] = []
    f: list[list[int]] = []
    ft: list[list[int]] = []
    with open(folder / "james.obj", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("v "):
                v.append([float(t) for t in line.split()[1:4]])
            elif line.startswith("vt "):
                vt.append([float(t) for t in line.split()[1:3]])
            elif line.startswith("f "):
                parts = [p.split("/") for p in line.split()[1:4]]
                f.append([int(p[0]) - 1 for p in parts])
                ft.append([int(p[1]) - 1 for p in parts])
    tex = cv2.imread(str(folder / "james.jpg"), cv2.IMREAD_COLOR)
    if tex is None:
        raise FileNotFoundError(folder / "james.jpg")
    lj = json.loads((folder / "james.ljson").read_text(encoding="utf-8"))
    lm = np.array(lj["groups"]["LJSON"]["landmarks"]["points"], dtype=np.float64)
    return Mesh(np.array(v), np.array(vt), np.array(f), np.array(ft), tex[:, :, ::-1].copy(), lm)


def head_axes(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(toward the subject's left, up, forward) unit vectors from the mirror pairs."""
    lr = np.mean([(lm[b] - lm[a]) / np.linalg.norm(lm[b] - lm[a]) for a, b in MIRROR_PAIRS], 0)
    lr /= np.linalg.norm(lr)
    up = lm[34] - lm[8]
    up -= up.dot(lr) * lr
    up /= np.linalg.norm(up)
    fwd = np.cross(lr, up)
    if fwd.dot(lm[37] - lm[8]) < 0:
        fwd = -fwd
    return lr, up, fwd


def _rot(axis: np.ndarray, deg: float) -> np.ndarray:
    a = math.radians(deg)
    k = axis / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(a) * kx + (1 - math.cos(a)) * kx @ kx  # type: ignore[no-any-return]


@dataclass
class Render:
    photo: np.ndarray
    exact_curve: np.ndarray  # nose-toward-+x frame, photo pixels
    scan_points: dict[str, tuple[float, float]]  # photo pixels
    alar_base: tuple[float, float]  # the visible side's alar base (iBUG 31/35), photo pixels


def render(
    mesh: Mesh,
    facing: View,
    *,
    pitch_deg: float = 0.0,
    yaw_off_deg: float = 0.0,
    seed: int = 0,
) -> Render:
    """Orthographic profile render; pitch > 0 raises the chin, yaw_off turns toward camera."""
    lr, up, fwd = head_axes(mesh.landmarks)
    # camera frame (nose toward +x): image x = fwd, image y = −up, view direction = +lr
    # (camera on the subject's right) for a right profile
    r = _rot(lr, pitch_deg) @ _rot(up, yaw_off_deg)
    verts = (mesh.v - mesh.landmarks[37]) @ r.T
    lms = (mesh.landmarks - mesh.landmarks[37]) @ r.T
    right = facing is View.PROFILE_RIGHT
    depth_axis = lr if right else -lr
    w, h = SIZE
    origin = np.array([0.66 * w, 0.42 * h])

    def project(p: np.ndarray) -> np.ndarray:
        x = p @ fwd / MM_PER_PX
        y = -(p @ up) / MM_PER_PX
        xy: np.ndarray = np.column_stack([x, y]) + origin
        if not right:
            xy[:, 0] = (w - 1) - xy[:, 0]
        return xy

    xy = project(verts)
    z = verts @ depth_axis  # larger = farther from the camera
    hs, ws = h * SUPER, w * SUPER
    xy_s = (xy + 0.5) * SUPER - 0.5
    ids = np.full((hs, ws), -1, np.int32)
    order = np.argsort(-z[mesh.f].mean(axis=1))
    tri = np.round(xy_s[mesh.f] * 16).astype(np.int32)
    for i in order:
        cv2.fillConvexPoly(ids, tri[i], int(i), cv2.LINE_8, 4)

    # per-pixel barycentric texture lookup and Lambert shading
    yy, xx = np.nonzero(ids >= 0)
    fid = ids[yy, xx]
    a, b, c = (xy_s[mesh.f[fid, k]] for k in range(3))
    p = np.column_stack([xx, yy]).astype(np.float64)
    v0, v1, v2 = b - a, c - a, p - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    den = np.where(np.abs(den) < 1e-12, 1e-12, den)
    l1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    l2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    l0 = 1 - l1 - l2
    uv = (
        l0[:, None] * mesh.vt[mesh.ft[fid, 0]]
        + l1[:, None] * mesh.vt[mesh.ft[fid, 1]]
        + l2[:, None] * mesh.vt[mesh.ft[fid, 2]]
    )
    th, tw = mesh.texture.shape[:2]
    col = _sample(mesh.texture, uv[:, 0] * (tw - 1), (1 - uv[:, 1]) * (th - 1))
    vn = np.zeros_like(verts)
    fn = np.cross(
        verts[mesh.f[:, 1]] - verts[mesh.f[:, 0]], verts[mesh.f[:, 2]] - verts[mesh.f[:, 0]]
    )
    for k in range(3):
        np.add.at(vn, mesh.f[:, k], fn)
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
    nrm = (
        l0[:, None] * vn[mesh.f[fid, 0]]
        + l1[:, None] * vn[mesh.f[fid, 1]]
        + l2[:, None] * vn[mesh.f[fid, 2]]
    )
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    light = -depth_axis + 0.4 * up + 0.3 * fwd
    light /= np.linalg.norm(light)
    shade = 0.35 + 0.75 * np.clip(np.abs(nrm @ light), 0, 1)

    rng = np.random.default_rng(seed)
    img = np.empty((hs, ws, 3), np.float64)
    grad = (np.arange(hs) / hs)[:, None]
    for ch, base in enumerate((62.0, 92.0, 128.0)):
        img[..., ch] = base * (0.9 + 0.2 * grad)
    img[yy, xx] = col * shade[:, None]
    small = np.asarray(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA), np.float64)
    small += rng.normal(0, 2.5, small.shape)
    photo = np.clip(small, 0, 255).astype(np.uint8)

    # exact silhouette: the union of the projected triangles at SUPER× resolution
    mask = (ids >= 0).astype(np.uint8)
    if not right:
        mask = mask[:, ::-1].copy()
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cont = max(contours, key=len).reshape(-1, 2).astype(np.float64)
    chain = anterior_outline(cont, ws, hs)
    assert chain is not None
    chain = (chain + 0.5) / SUPER - 0.5
    exact = resample_curve(chain, 0.5, sigma=0.5)

    scan = {}
    lxy = project(lms)
    for name, idx in SCAN_POINTS.items():
        q = lxy[list(idx)].mean(axis=0)
        scan[name] = (float(q[0]), float(q[1]))
    ala = lxy[38 if right else 42]  # the subject's right ala is seen in a right profile
    return Render(photo, exact, scan, (float(ala[0]), float(ala[1])))


def _sample(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at (x, y) (remap wants < 32767 columns: use rows)."""
    n = len(x)
    cols = 1024
    rows = -(-n // cols)
    mx = np.zeros(rows * cols, np.float32)
    my = np.zeros(rows * cols, np.float32)
    mx[:n], my[:n] = x, y
    out = cv2.remap(image, mx.reshape(rows, cols), my.reshape(rows, cols), cv2.INTER_LINEAR)
    return out.reshape(-1, image.shape[2])[:n].astype(np.float64)  # type: ignore[no-any-return]


def _curve_distance(curve: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Distance (px) from each point of ``curve`` in the face's span to the exact outline."""
    lo, hi = exact[:, 1].min(), exact[:, 1].max()
    pts = curve[(curve[:, 1] > lo + 20) & (curve[:, 1] < hi - 20)]
    out = np.empty(len(pts))
    for a in range(0, len(pts), 256):
        d = np.linalg.norm(pts[a : a + 256, None, :] - exact[None, :, :], axis=2)
        out[a : a + 256] = d.min(axis=1)
    return out


def _angles(points: dict[str, tuple[float, float]]) -> dict[str, float]:
    names = sorted(points)
    xy = np.array([[points[n] for n in names]], dtype=np.float64)
    p = Pts(xy, {n: i for i, n in enumerate(names)})
    out = {}
    for key, fn in (("nasolabial", nasolabial_angle), ("nasofrontal", nasofrontal_angle)):
        try:
            out[key] = float(fn(p)[0])
        except KeyError:
            out[key] = float("nan")
    return out


def evaluate(mesh: Mesh, facing: View, pitch: float, yaw_off: float) -> dict[str, Any]:
    r = render(mesh, facing, pitch_deg=pitch, yaw_off_deg=yaw_off)
    photo = Photo(r.photo)
    pl.find_profile_points(photo, facing)  # warm-up
    times = []
    res = None
    for _ in range(3):
        t0 = time.perf_counter()
        res = pl.find_profile_points(photo, facing)
        times.append((time.perf_counter() - t0) * 1000.0)
    w = photo.width
    found = res.points if res is not None else {}
    ref = pl.locate_on_curve(r.exact_curve)
    ref_pts: dict[str, tuple[float, float]] = {}
    if ref is not None:
        for k, (x, y) in ref[0].items():
            ref_pts[k] = (x if facing is View.PROFILE_RIGHT else (w - 1) - x, y)
    vs_exact = {
        k: float(math.dist(found[k], ref_pts[k]) * MM_PER_PX) for k in ref_pts if k in found
    }
    vs_scan = {
        k: float(math.dist(found[k], r.scan_points[k]) * MM_PER_PX)
        for k in r.scan_points
        if k in found
    }
    ang_photo, ang_ref = _angles(found), _angles(ref_pts)
    sil = extract_silhouette(r.photo, facing is View.PROFILE_RIGHT)
    sil_err = _curve_distance(sil.curve, r.exact_curve) if sil is not None else np.empty(0)
    alar = found.get("alar_crease")
    return {
        "facing": str(facing),
        "pitch_deg": pitch,
        "yaw_off_deg": yaw_off,
        "found": sorted(found),
        "missing_vs_exact": sorted(set(ref_pts) - set(found)),
        "ms": float(np.median(times)),
        "vs_exact_mm": vs_exact,
        "vs_scan_mm": vs_scan,
        "angles_photo": ang_photo,
        "angles_exact": ang_ref,
        "silhouette_median_px": float(np.median(sil_err)) if len(sil_err) else float("nan"),
        "silhouette_p95_px": float(np.percentile(sil_err, 95)) if len(sil_err) else float("nan"),
        "alar_crease_to_alar_base_mm": (
            float(math.dist(alar, r.alar_base) * MM_PER_PX) if alar else float("nan")
        ),
        "confidence": dict(res.confidence) if res is not None else {},
    }


def run(out: Path | None) -> dict[str, Any]:
    mesh = load_mesh(data_dir())
    cases = [
        (View.PROFILE_RIGHT, 0.0, 0.0),
        (View.PROFILE_LEFT, 0.0, 0.0),
        (View.PROFILE_RIGHT, 12.0, 0.0),
        (View.PROFILE_RIGHT, -12.0, 0.0),
        (View.PROFILE_LEFT, 20.0, 0.0),
        (View.PROFILE_RIGHT, 0.0, 10.0),
        (View.PROFILE_LEFT, 0.0, -10.0),
    ]
    rows = [evaluate(mesh, *c) for c in cases]
    all_exact = [v for r in rows for v in r["vs_exact_mm"].values()]
    per_point: dict[str, list[float]] = {}
    for r in rows:
        for k, v in r["vs_exact_mm"].items():
            per_point.setdefault(k, []).append(v)
    ang_err = [
        abs(r["angles_photo"][k] - r["angles_exact"][k])
        for r in rows
        for k in ("nasolabial", "nasofrontal")
        if math.isfinite(r["angles_photo"][k]) and math.isfinite(r["angles_exact"][k])
    ]
    report = {
        "subject": "menpo3d james (textured scan), orthographic render",
        "mm_per_px": MM_PER_PX,
        "image_size": list(SIZE),
        "cases": rows,
        "summary": {
            "median_vs_exact_mm": float(np.median(all_exact)) if all_exact else float("nan"),
            "p90_vs_exact_mm": float(np.percentile(all_exact, 90)) if all_exact else float("nan"),
            "per_point_median_vs_exact_mm": {k: float(np.median(v)) for k, v in per_point.items()},
            "max_angle_error_deg": float(max(ang_err)) if ang_err else float("nan"),
            "silhouette_median_px": float(np.median([r["silhouette_median_px"] for r in rows])),
            "alar_crease_to_alar_base_mm": float(
                np.nanmedian([r["alar_crease_to_alar_base_mm"] for r in rows])
            ),
            "median_ms": float(np.median([r["ms"] for r in rows])),
        },
    }
    if out is not None:
        write_json(out, report)
    return report


ABBR = {
    "profile_glabella": "g'",
    "soft_tissue_nasion": "n'",
    "rhinion": "rh",
    "pronasale": "prn",
    "columella": "cm",
    "subnasale": "sn",
    "labrale_superius": "ls",
    "stomion": "st",
    "labrale_inferius": "li",
    "mentolabial_sulcus": "sm",
    "soft_tissue_pogonion": "pog'",
    "soft_tissue_menton": "me'",
    "cervical_point": "C",
    "neck_point": "neck",
}


def format_table(report: dict[str, Any]) -> str:
    names = [n for n in ABBR if n in report["summary"]["per_point_median_vs_exact_mm"]]
    lines = [
        "photo vs exact mesh outline, same definitions (mm):",
        "case                          ms   " + " ".join(f"{ABBR[n]:>5}" for n in names),
    ]
    for r in report["cases"]:
        label = f"{r['facing']:<14} p{r['pitch_deg']:+5.0f} y{r['yaw_off_deg']:+4.0f}"
        vals = " ".join(
            f"{r['vs_exact_mm'][n]:5.2f}" if n in r["vs_exact_mm"] else f"{'-':>5}" for n in names
        )
        lines.append(f"{label:<28} {r['ms']:5.1f} {vals}")
    lines.append("")
    lines.append("photo vs scan landmarks (mm); silhouette vs exact outline (px):")
    for r in report["cases"]:
        label = f"{r['facing']:<14} p{r['pitch_deg']:+5.0f} y{r['yaw_off_deg']:+4.0f}"
        vals = "  ".join(f"{k}={v:.1f}" for k, v in r["vs_scan_mm"].items())
        vals += f"  alar_crease~alar_base={r['alar_crease_to_alar_base_mm']:.1f}"
        vals += f"  outline {r['silhouette_median_px']:.2f}/{r['silhouette_p95_px']:.2f}"
        lines.append(f"{label:<28} {vals}")
    lines.append("")
    lines.append("angles photo / exact silhouette (deg):")
    for r in report["cases"]:
        label = f"{r['facing']:<14} p{r['pitch_deg']:+5.0f} y{r['yaw_off_deg']:+4.0f}"
        vals = "  ".join(
            f"{k} {r['angles_photo'][k]:.1f}/{r['angles_exact'][k]:.1f}" for k in r["angles_photo"]
        )
        lines.append(f"{label:<28} {vals}")
    s = report["summary"]
    lines.append("")
    lines.append(
        f"median {s['median_vs_exact_mm']:.2f} mm, p90 {s['p90_vs_exact_mm']:.2f} mm, "
        f"max angle error {s['max_angle_error_deg']:.1f} deg, "
        f"outline median {s['silhouette_median_px']:.2f} px, median {s['median_ms']:.1f} ms"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "profile.json")
    args = ap.parse_args(argv)
    if not (data_dir() / "james.obj").is_file():
        print(f"benchmark data absent: {data_dir()}", file=sys.stderr)
        return 2
    report = run(args.out)
    print(format_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
