"""``facenode analyze --3d``: a synthetic photo series (the menpo3d scan with a ChArUco
board, rendered from known cameras) becomes a mesh in millimetres, renderings, 3D
measurements and a summary; too few photos, or photos that do not register, end with one
clear line and a non-zero exit, no traceback."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from reconstruction.mesh_io import read_stl
from tests.bench import multiview_synth as ms
from tests.support.recon3d import needs_mesh

pytestmark = [
    pytest.mark.slow,
    needs_mesh,
]
REPO = Path(__file__).resolve().parents[2]


def _facenode(*args: str, var: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACENODE_")}
    env["FACENODE_STORAGE_DIR"] = str(var)
    if "FACENODE_SHARED_DATA" in os.environ:  # where the generator found the scan
        env["FACENODE_SHARED_DATA"] = os.environ["FACENODE_SHARED_DATA"]
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], ms.SynthSet]:
    s = ms.make_set(10, 480)
    folder = tmp_path_factory.mktemp("series")
    paths = []
    for i, im in enumerate(s.images):
        p = folder / f"view_{i:02d}.png"
        cv2.imwrite(str(p), cv2.cvtColor(im, cv2.COLOR_RGB2BGR))
        paths.append(p)
    return paths, s


def test_a_series_becomes_a_metric_mesh_renderings_and_measurements(
    series: tuple[list[Path], ms.SynthSet], tmp_path: Path
) -> None:
    paths, truth = series
    out = tmp_path / "out"
    run = _facenode("analyze", "--3d", *map(str, paths), "-o", str(out), var=tmp_path / "var")
    assert run.returncode == 0, run.stderr[-3000:]
    for name in ("mesh.stl", "mesh.obj", "mesh.mtl", "render_front.png",
                 "render_right_profile.png", "render_left_profile.png", "render_asymmetry.png",
                 "measurements.csv", "measurements.json", "landmarks.json", "summary.txt"):  # fmt: skip
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert "mtllib mesh.mtl" in (out / "mesh.obj").read_text()
    front = cv2.imread(str(out / "render_front.png"))
    assert front is not None and front.shape[0] > 500
    summary = (out / "summary.txt").read_text()
    assert "10 views registered" in summary and "marker_board" in summary
    assert summary in run.stdout

    # The mesh is in millimetres: a head's extent, and the outer canthal width as true.
    stl = read_stl((out / "mesh.stl").read_bytes())
    extent = np.ptp(stl.vertices, axis=0)
    assert 120 < float(extent.max()) < 400, extent
    with (out / "measurements.csv").open(newline="") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    ocw = float(rows["outer_canthal_width"]["value"])
    true_ocw = float(np.linalg.norm(truth.face.landmarks[36] - truth.face.landmarks[45]))
    assert abs(ocw / true_ocw - 1) < 0.04, (ocw, true_ocw)
    assert rows["outer_canthal_width"]["unit"] == "mm"
    assert rows["outer_canthal_width"]["scale_source"] == "marker_board"
    as_json = json.loads((out / "measurements.json").read_text())
    assert {m["id"] for m in as_json} == set(rows)
    landmarks = json.loads((out / "landmarks.json").read_text())
    assert {"ibug_30", "ibug_36", "ibug_45"} <= set(landmarks)


def test_too_few_photos_is_refused_with_a_clear_message(
    series: tuple[list[Path], ms.SynthSet], tmp_path: Path
) -> None:
    paths, _ = series
    run = _facenode("analyze", "--3d", *map(str, paths[:3]), "-o", str(tmp_path / "out"),
                    var=tmp_path / "var")  # fmt: skip
    assert run.returncode == 1
    assert "3 photo(s) given" in run.stderr and "at least 8" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_photos_that_do_not_register_are_refused_without_a_traceback(
    series: tuple[list[Path], ms.SynthSet], tmp_path: Path
) -> None:
    paths, _ = series
    blanks = []
    for i in range(5):  # plain grey: no features, nothing registers
        p = tmp_path / f"blank_{i}.png"
        cv2.imwrite(str(p), np.full((480, 480, 3), 90 + 10 * i, np.uint8))
        blanks.append(p)
    run = _facenode("analyze", "--3d", *map(str, paths[:4] + blanks), "-o",
                    str(tmp_path / "out"), var=tmp_path / "var")  # fmt: skip
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "registered" in run.stderr and "at least 8 are needed" in run.stderr
