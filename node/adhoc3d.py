"""``facenode analyze --3d PHOTOS...``: a photo series in, a metric 3D face out, as plain files.

Each photo (DICOM or an image file) goes through the node's 2D analysis, then the series
through :func:`reconstruction.pipeline.reconstruct` with a progress bar. Written to the
output folder: the mesh (``mesh.stl``; ``mesh.obj`` + ``mesh.mtl``, vertex colours), the
renderings (``render_front.png``, ``render_right_profile.png``, ``render_left_profile.png``,
``render_asymmetry.png``), the 3D measurements (``measurements.csv``, ``measurements.json``),
the 3D landmarks (``landmarks.json``) and a short text summary (``summary.txt``). A focal
length in an image file's EXIF is passed on as the SfM prior.

A series that cannot be reconstructed (too few photos or registered views, no metric
scale, a stage failing) ends with one clear line on stderr and exit status 1, no traceback.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydicom.errors import InvalidDicomError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from analysis.types import AnalysisError
from config.settings import Settings
from dicom.errors import DicomInputError
from dicom.photo import dataset_to_photo
from node.adhoc import load_source
from node.pipeline import Analyzers
from node.worker_task3d import Options3D, quiet_colmap
from reconstruction import mesh_io
from reconstruction.figures import reconstruction_figures
from reconstruction.pipeline import InputView, reconstruct
from reconstruction.types import Reconstruction3D

#: EXIF tags: FocalLength, FocalPlaneXResolution, FocalPlaneResolutionUnit, PixelXDimension.
_EXIF_IFD, _FOCAL, _FP_XRES, _FP_UNIT, _EXIF_WIDTH = 0x8769, 0x920A, 0xA20E, 0xA210, 0xA002
_MM_PER_UNIT = {2: 25.4, 3: 10.0}  # inch, centimetre


def exif_focal_px(path: Path, width: int) -> float | None:
    """The focal length in pixels of an image ``width`` px wide, from the file's EXIF
    (focal length × focal-plane resolution, rescaled to ``width``); None if absent."""
    try:
        with Image.open(path) as im:
            exif = im.getexif().get_ifd(_EXIF_IFD)
    except (OSError, ValueError):
        return None
    f_mm, res, unit, exif_w = (exif.get(k) for k in (_FOCAL, _FP_XRES, _FP_UNIT, _EXIF_WIDTH))
    if not (f_mm and res and unit in _MM_PER_UNIT and exif_w):
        return None
    px_per_mm = float(res) / _MM_PER_UNIT[int(unit)]
    return float(f_mm) * px_per_mm * width / float(exif_w)


def _load_views(paths: Sequence[Path], analyzers: Analyzers) -> list[InputView]:
    analyzer = analyzers.get()
    views = []
    for path in paths:
        try:
            ds = load_source(path)
            photo = dataset_to_photo(ds, analyzers.limits)
        except (OSError, ValueError, InvalidDicomError, DicomInputError) as exc:
            raise ValueError(f"{path}: {exc}") from exc
        focal = exif_focal_px(path, photo.pixels.shape[1])  # None for a DICOM file
        views.append(InputView(photo.pixels, focal, analyzer.analyze(photo)))
    return views


@contextmanager
def _progress_bar(console: Console) -> Iterator[Callable[[str, float], None]]:
    columns = (
        TextColumn("3D {task.description:<13}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f} %"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("photos", total=100.0)

        def report(stage: str, fraction: float) -> None:
            bar.update(task, description=stage, completed=100.0 * fraction)

        yield report


def analyze_3d(
    paths: Sequence[Path], output: Path, settings: Settings, options: Options3D | None = None
) -> int:
    """Reconstruct the series in ``paths`` into ``output`` (module docstring); exit status."""
    opt = options or Options3D()
    err = Console(stderr=True)
    if len(paths) < opt.min_views:
        print(
            f"facenode analyze --3d: {len(paths)} photo(s) given; a 3D reconstruction needs "
            f"at least {opt.min_views} views of the face from different directions",
            file=sys.stderr,
        )
        return 1
    quiet_colmap()
    try:
        with err.status(f"2D analysis of {len(paths)} photos"):
            views = _load_views(paths, Analyzers(settings))
        with _progress_bar(err) as report:
            result = reconstruct(views, opt.reconstruction_options(), progress=report)
    except (AnalysisError, ValueError) as exc:
        print(f"facenode analyze --3d: {exc}", file=sys.stderr)
        return 1
    output.mkdir(parents=True, exist_ok=True)
    written = write_outputs(result, output)
    summary = summary_text(result, paths)
    (output / "summary.txt").write_text(summary)
    print(summary, end="")
    print(f"{len(written) + 1} files written to {output}")
    return 0


def write_outputs(result: Reconstruction3D, output: Path) -> list[str]:
    """Mesh, renderings, measurements and landmarks as files; their names."""
    mesh = result.mesh
    files: dict[str, bytes] = {
        "mesh.stl": mesh_io.stl_bytes(mesh),
        "mesh.obj": mesh_io.obj_bytes(mesh, "mesh.mtl"),
        "mesh.mtl": mesh_io.mtl_bytes(None),
    }
    for name, fig in reconstruction_figures(result).items():
        files[f"render_{name}.png"] = _png(fig.image)
    rows = [_measurement_row(m) for m in result.measurements]
    files["measurements.json"] = json.dumps(rows, indent=2).encode()
    files["measurements.csv"] = _csv(rows)
    files["landmarks.json"] = json.dumps(
        {
            k: {
                "position_mm": [round(float(x), 3) for x in lm.position],
                "uncertainty_mm": round(lm.uncertainty_mm, 3),
                "source": lm.source.value,
                "views": list(lm.views),
            }
            for k, lm in sorted(result.landmarks.items())
        },
        indent=2,
    ).encode()
    for name, data in files.items():
        (output / name).write_bytes(data)
    return list(files)


def _png(image: np.ndarray[Any, Any]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _measurement_row(m: Any) -> dict[str, Any]:
    return {
        "id": m.id,
        "name": m.name,
        "value": round(float(m.value), 3),
        "unit": m.unit,
        "uncertainty": round(float(m.uncertainty), 3),
        "landmarks": " ".join(m.landmarks),
        "scale_source": m.scale.source.value,
    }


def _csv(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    fields = ["id", "name", "value", "unit", "uncertainty", "landmarks", "scale_source"]
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def summary_text(result: Reconstruction3D, paths: Sequence[Path]) -> str:
    """A few lines a person reads: views, scale, mesh, asymmetry, key measurements, time."""
    s = result.scale
    lines = [
        f"3D reconstruction of {len(paths)} photos: {result.n_registered} views registered, "
        f"mean reprojection error {result.reprojection_error_px:.2f} px",
        f"metric scale: {s.source.value} (±{100 * s.relative_uncertainty:.1f} %) {s.note}",
        f"mesh: {result.mesh.n_vertices} vertices, {result.mesh.n_triangles} triangles, "
        f"mm{', face frame' if result.face_frame else ''}; {result.dense_points} dense points",
        f"3D landmarks: {len(result.landmarks)}; 3D measurements: {len(result.measurements)}",
    ]
    if result.symmetry is not None:
        regions = ", ".join(
            f"{r.region} {r.peak_signed_mm:+.1f} mm" for r in result.symmetry.regions
        )
        lines.append(f"asymmetry (signed peak per region): {regions}")
    for key in ("outer_canthal_width", "intercanthal_width", "face_height", "nasolabial_angle",
                "nasal_tip_deviation", "chin_deviation"):  # fmt: skip
        try:
            m = result.measurement(key)
        except KeyError:
            continue
        lines.append(f"  {m.name}: {m.value:.1f} ± {m.uncertainty:.1f} {m.unit}")
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings_s.items())
    lines.append(f"time: {sum(result.timings_s.values()):.1f} s ({timings})")
    lines.extend(f"note: {n}" for n in result.notes)
    return "\n".join(lines) + "\n"
