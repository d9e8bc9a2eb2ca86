"""The pipeline's orchestration: weighted progress, stage-named failures, typed refusals
passing through, and the metric scale's fallbacks (known distance, factor, iris)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.scale import HVID_MEAN_MM, HVID_SD_MM
from analysis.types import BackendUnavailableError, InvalidInputError
from reconstruction.errors import ReconstructionStageError, TooFewViewsError
from reconstruction.pipeline import (
    STAGE_WEIGHTS,
    InputView,
    KnownDistance,
    ReconstructionOptions,
    _iris_scale,
    _metric_scale,
    _Stages,
    reconstruct,
)
from reconstruction.types import Landmark3D, LandmarkSource, MeshScaleSource, SfmResult


def _lm(name: str, p: tuple[float, float, float]) -> Landmark3D:
    return Landmark3D(name, np.array(p, dtype=np.float64), 0.0, LandmarkSource.TRIANGULATED)


def _sfm() -> SfmResult:
    return SfmResult((None,), (0.0,), np.zeros((0, 3)), np.zeros((0, 3), np.uint8), 0.3)


def test_progress_rises_through_the_weighted_stages_to_one() -> None:
    seen: list[tuple[str, float]] = []
    stages = _Stages(lambda stage, fraction: seen.append((stage, fraction)))
    for name in STAGE_WEIGHTS:
        with stages.stage(name):
            stages.sub(name)("stereo" if name == "dense" else name, 0.5)
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)
    assert math.isclose(sum(STAGE_WEIGHTS.values()), 1.0)
    assert list(stages.timings) == list(STAGE_WEIGHTS)


def test_a_failing_stage_is_named_and_typed_refusals_pass_through() -> None:
    stages = _Stages(None)
    with pytest.raises(ReconstructionStageError, match="in the dense stage: no surface") as err:
        with stages.stage("dense"):
            raise InvalidInputError("no surface point is seen consistently by enough views")
    assert err.value.stage == "dense" and isinstance(err.value.__cause__, InvalidInputError)
    with pytest.raises(TooFewViewsError), stages.stage("sfm"):
        raise TooFewViewsError(2, 10, 8)
    with pytest.raises(BackendUnavailableError), stages.stage("dense"):
        raise BackendUnavailableError("no CUDA")
    with pytest.raises(KeyError), stages.stage("symmetry"):  # a bug stays a bug
        raise KeyError("x")
    assert "dense" in stages.timings


def test_too_few_photos_are_refused_before_any_work() -> None:
    img = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(TooFewViewsError, match="at least 8"):
        reconstruct([InputView(img)] * 3, ReconstructionOptions(min_views=8))


def test_iris_scale_makes_the_triangulated_iris_the_population_diameter() -> None:
    rough = {
        "iris_r_lateral": _lm("iris_r_lateral", (0.0, 0, 0)),
        "iris_r_medial": _lm("iris_r_medial", (1.1, 0, 0)),
        "iris_l_lateral": _lm("iris_l_lateral", (5.0, 0, 0)),
        "iris_l_medial": _lm("iris_l_medial", (3.8, 0, 0)),
    }
    got = _iris_scale(rough)
    assert got is not None
    factor, scale = got
    assert factor == pytest.approx(HVID_MEAN_MM / 1.15)
    assert scale.source is MeshScaleSource.IRIS_DIAMETER
    own = 0.1 / (2 * 1.15)  # the two eyes' disagreement
    assert scale.relative_uncertainty == pytest.approx(math.hypot(HVID_SD_MM / HVID_MEAN_MM, own))
    assert _iris_scale({}) is None


def test_scale_falls_back_from_known_distance_to_factor_to_iris_else_fails() -> None:
    rough = {"ibug_39": _lm("ibug_39", (0.0, 0, 0)), "ibug_42": _lm("ibug_42", (0.5, 0, 0))}
    notes: list[str] = []
    known = ReconstructionOptions(
        board=None, known_distance=KnownDistance("ibug_39", "ibug_42", 34.0)
    )
    factor, scale = _metric_scale([], _sfm(), rough, known, notes)
    assert factor == pytest.approx(68.0) and scale.source is MeshScaleSource.KNOWN_DISTANCE
    missing = ReconstructionOptions(
        board=None, known_distance=KnownDistance("ibug_36", "ibug_45", 95.0), scale_factor=2.0
    )
    factor, scale = _metric_scale([], _sfm(), rough, missing, notes)
    assert factor == 2.0 and "ibug_36–ibug_45" in notes[-1]
    with pytest.raises(ReconstructionStageError, match="scale stage: no metric scale"):
        _metric_scale([], _sfm(), rough, ReconstructionOptions(board=None), [])
    with pytest.raises(InvalidInputError):
        KnownDistance("a", "b", -1.0)


def test_the_mesh_names_the_dense_path_that_made_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SGBM path's identity on the CPU; PatchMatch's where the GPU path is taken (the
    CUDA probe faked: no GPU here), so the DICOM objects state what really ran."""
    from reconstruction import dense
    from reconstruction.meshing import ALGORITHM, PATCHMATCH_ALGORITHM
    from reconstruction.pipeline import mesh_algorithm

    assert mesh_algorithm("cpu") == ALGORITHM
    monkeypatch.setattr(dense, "_cuda_problem", lambda: None)
    assert mesh_algorithm("auto") == PATCHMATCH_ALGORITHM
    assert mesh_algorithm("cpu") == ALGORITHM
