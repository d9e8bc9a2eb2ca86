"""Structure from motion and the board scale on synthetic renders with known cameras: every
view registers, the camera centres match the true ones after a similarity, the board gives
the true millimetre scale, and too few views are refused with a clear message."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from reconstruction.board import MarkerBoard, board_scale
from reconstruction.cameras import run_sfm
from reconstruction.errors import ReconstructionError, TooFewViewsError
from reconstruction.similarity import Similarity, fit_similarity
from reconstruction.types import MeshScaleSource, SfmResult
from tests.bench import multiview_synth as ms
from tests.support.recon3d import needs_mesh

pytestmark = needs_mesh


@dataclass
class Solved:
    truth: ms.SynthSet
    sfm: SfmResult
    to_true: Similarity  # reconstruction → face frame (mm), from the camera centres
    stages: list[tuple[str, float]]


@pytest.fixture(scope="module")
def solved() -> Solved:
    truth = ms.make_set(10, 640)
    stages: list[tuple[str, float]] = []
    sfm = run_sfm(
        list(truth.images),
        focal_px=[c.K[0, 0] for c in truth.cameras],
        camera_model="SIMPLE_PINHOLE",
        shared_camera=True,
        num_threads=1,  # with a fixed seed, one thread makes COLMAP repeatable
        progress=lambda stage, fraction: stages.append((stage, fraction)),
    )
    est = np.array([c.centre for c in sfm.cameras if c is not None])
    true = np.array(
        [c.centre for c, e in zip(truth.cameras, sfm.cameras, strict=True) if e is not None]
    )
    return Solved(truth, sfm, fit_similarity(est, true), stages)


def test_sfm_registers_every_view_and_recovers_the_cameras(solved: Solved) -> None:
    sfm, truth = solved.sfm, solved.truth
    assert sfm.n_registered == sfm.n_views == 10
    assert sfm.mean_reprojection_error_px < 0.8
    assert len(sfm.points) > 300 and sfm.point_colors.shape == sfm.points.shape
    centres = np.array([c.centre for c in truth.cameras])
    baseline = float(np.linalg.norm(centres[0] - centres[-1]))
    est = solved.to_true.apply(np.array([c.centre for c in sfm.cameras if c is not None]))
    err = np.linalg.norm(est - centres, axis=1)
    assert err.max() < 0.01 * baseline, (err, baseline)
    for e, t in zip(sfm.cameras, truth.cameras, strict=True):
        assert e is not None
        aligned = solved.to_true.camera(e)
        angle = np.degrees(np.arccos(np.clip((np.trace(aligned.R @ t.R.T) - 1) / 2, -1, 1)))
        assert angle < 0.5
        assert e.K[0, 0] == pytest.approx(t.K[0, 0], rel=0.02)
        assert e.K[:2, 2] == pytest.approx(t.K[:2, 2], abs=1e-6)  # OpenCV pixel centres


def test_sfm_reports_progress_through_its_stages(solved: Solved) -> None:
    names = [s for s, _ in solved.stages]
    assert [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n] == [
        "features", "matching", "mapping", "done",
    ]  # fmt: skip
    assert all(0.0 <= f <= 1.0 for _, f in solved.stages)
    assert solved.stages[-1] == ("done", 1.0)


def test_board_recovers_the_millimetre_scale(solved: Solved) -> None:
    spec = solved.truth.board
    assert spec is not None
    board = MarkerBoard(spec.squares, spec.square_mm, spec.marker_mm, spec.dictionary)
    got = board_scale(list(solved.truth.images), solved.sfm.cameras, board)
    assert got is not None
    assert got.scale.source is MeshScaleSource.MARKER_BOARD and got.scale.is_metric
    assert got.factor == pytest.approx(solved.to_true.scale, rel=0.01)
    assert 0 < got.scale.relative_uncertainty < 0.01
    assert got.n_corners >= 12 and got.n_pairs > got.n_corners
    # the triangulated corners are the printed board's corners up to a similarity whose
    # scale is the factor
    true = spec.corners_world()[got.corner_ids]
    fit = fit_similarity(got.corners, true)
    assert np.linalg.norm(fit.apply(got.corners) - true, axis=1).max() < 0.3
    assert fit.scale == pytest.approx(got.factor, rel=0.005)


def test_no_board_in_view_gives_no_scale(solved: Solved) -> None:
    grey = [np.full_like(im, 118) for im in solved.truth.images]
    assert board_scale(grey, solved.sfm.cameras, MarkerBoard()) is None


def test_too_few_registered_views_are_refused_with_the_counts(solved: Solved) -> None:
    views = [solved.truth.images[i] for i in (3, 4, 5)]
    blank = [np.full_like(views[0], 118)] * 2
    with pytest.raises(TooFewViewsError) as err:
        run_sfm(views + blank, camera_model="SIMPLE_PINHOLE", shared_camera=True, min_views=5)
    assert isinstance(err.value, ReconstructionError)
    assert err.value.total == 5 and err.value.minimum == 5 and err.value.registered <= 3
    assert f"registered {err.value.registered} of 5 views" in str(err.value)
    assert "at least 5" in str(err.value)


def test_fewer_views_than_the_minimum_are_refused_before_any_work() -> None:
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(TooFewViewsError, match="registered 0 of 2 views; at least 8"):
        run_sfm([img, img], min_views=8)
