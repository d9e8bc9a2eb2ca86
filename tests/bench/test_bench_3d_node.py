"""What :mod:`tests.bench.bench_3d_node` judges the node by, checked where the answer is
known (``pytest tests/bench/test_bench_3d_node.py``; the whole bench with ``-m bench``):

* the reader gets back, from the eight objects :func:`dicom.results3d.build_results_3d`
  makes of a known reconstruction (written as files, read as a destination would), the
  mesh, every landmark and every measurement, and dciodvfy finds no error in them;
* the evaluation, given the true face moved rigidly (with landmarks off by up to 3 mm to
  start from), finds it again to ~0 mm — and does not absorb a 2 % scale error, which it
  must report, since the alignment is rigid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import Dataset

from analysis.landmark_names import resolve
from dicom.context import ResultContext
from dicom.results3d import build_results_3d
from reconstruction.types import Reconstruction3D
from tests.bench import bench_3d_node
from tests.bench import multiview_synth as ms
from tests.bench.bench_3d import truth_measures
from tests.bench.node_results3d import Results3D, dciodvfy_all, read_folder, read_results
from tests.factories import make_vl_photo
from tests.support.recon3d import ALGORITHM, deformed_recon, needs_mesh

pytestmark = needs_mesh


@pytest.fixture(scope="module")
def face() -> ms.FaceModel:
    return ms.load_face()


@pytest.fixture(scope="module")
def true_m(face: ms.FaceModel) -> dict[str, Any]:
    return truth_measures(face)


def _outputs(recon: Reconstruction3D) -> list[Dataset]:
    photo = make_vl_photo(patient_name="Bench^Reader", patient_id="R1")
    ctx = ResultContext.new(software_version="0.1.0", station_name="FACENODE1",
                            device_serial="SN-1", instance_number_start=1)  # fmt: skip
    return build_results_3d([photo], recon, ctx, ALGORITHM)


def test_the_reader_gets_the_mesh_landmarks_and_measurements_back(tmp_path: Path) -> None:
    recon = deformed_recon()
    folder = tmp_path / "received"
    folder.mkdir()
    for i, ds in enumerate(_outputs(recon)):
        ds.save_as(folder / f"obj{i}", enforce_file_format=True)
    objects = read_folder(folder)
    res = read_results([ds for _, ds in objects])

    assert res.objects == {
        904: ["1.2.840.10008.5.1.4.1.1.104.3", "1.2.840.10008.5.1.4.1.1.104.4",
              "1.2.840.10008.5.1.4.1.1.104.5"],
        905: ["1.2.840.10008.5.1.4.1.1.7"] * 4,
        906: ["1.2.840.10008.5.1.4.1.1.88.34"],
    }  # fmt: skip
    assert len(res.triangles) == recon.mesh.n_triangles
    assert np.allclose(res.vertices[res.triangles], recon.mesh.vertices[recon.mesh.triangles],
                       atol=1e-4)  # fmt: skip  # float32 in the STL
    assert len(res.landmarks) == len(recon.landmarks) > 68
    for key, lm in recon.landmarks.items():
        assert np.allclose(res.landmarks[resolve(key)], lm.position, atol=1e-4), key
    expected = {m.id: m.value for m in recon.measurements}
    assert recon.symmetry is not None
    for r in recon.symmetry.regions:
        expected[f"asymmetry_{r.region}"] = r.peak_signed_mm
        expected[f"asymmetry_{r.region}_mean_abs"] = r.mean_abs_mm
    assert set(res.measurements) == set(expected)
    for mid, value in expected.items():
        assert res.measurements[mid].value == pytest.approx(value, rel=1e-6, abs=1e-9), mid
    assert res.measurements["outer_canthal_width"].unit == "mm"
    assert np.isfinite(res.measurements["outer_canthal_width"].uncertainty)
    assert dciodvfy_all(objects, tmp_path / "proxies")["errors"] == 0


def _moved(face: ms.FaceModel, scale: float = 1.0, off_mm: float = 1.7) -> Results3D:
    """The true face, scaled by ``scale`` about its origin and moved rigidly (10° about a
    tilted axis, 50 mm); its landmarks' coordinates off by up to ``off_mm`` each."""
    axis = np.array([0.3, 1.0, 0.2]) / np.linalg.norm([0.3, 1.0, 0.2])
    a = np.radians(10.0)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    r = np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k
    t = np.array([40.0, -12.0, 25.0])

    def move(p: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return np.asarray((scale * p) @ r.T + t)

    noise = np.random.default_rng(0).uniform(-off_mm, off_mm, (68, 3))
    lms = {f"ibug_{i:02d}": move(face.landmarks[i]) + noise[i] for i in range(68)}
    return Results3D(move(face.vertices), np.asarray(face.triangles), "1.2.3", lms, {})


def test_a_rigidly_moved_truth_is_found_again(face: ms.FaceModel, true_m: dict[str, Any]) -> None:
    got = bench_3d_node.evaluate(_moved(face), face, true_m)
    se = got["surface_error"]
    assert se["landmarks_only"]["mean_mm"] > 0.3  # the noisy landmarks alone do not do it
    assert se["all"]["mean_mm"] < 0.02 and se["all"]["p95_mm"] < 0.05
    noise = np.random.default_rng(0).uniform(-1.7, 1.7, (68, 3))  # _moved's
    # the landmarks' own error and no more: the surface, not they, placed the mesh
    rms = float(np.sqrt(np.mean(np.sum(noise**2, axis=1))))
    assert got["landmark_rms_mm"] == pytest.approx(rms, abs=0.05)


def test_exact_landmarks_give_the_true_brow_lift(
    face: ms.FaceModel, true_m: dict[str, Any]
) -> None:
    got = bench_3d_node.evaluate(_moved(face, off_mm=0.0), face, true_m)
    assert got["landmark_rms_mm"] < 0.05
    assert got["brow_lift"]["value"] == pytest.approx(got["brow_lift"]["truth"], abs=0.05)


def test_a_scale_error_is_reported_not_aligned_away(
    face: ms.FaceModel, true_m: dict[str, Any]
) -> None:
    got = bench_3d_node.evaluate(_moved(face, scale=1.02), face, true_m)
    assert got["surface_error"]["all"]["mean_mm"] > 0.4
