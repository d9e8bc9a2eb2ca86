"""The mapper settings of :func:`reconstruction.cameras.run_sfm` on a series that COLMAP's
defaults split: two halves of a ring of views that share only 20 points across the cut
(as passes around a skull share few points on its smooth vault). Built with COLMAP's own
synthetic scene and matches, so the mapper runs for real, in a fraction of a second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pycolmap
import pytest

from reconstruction.cameras import mapping_options
from reconstruction.similarity import fit_similarity

N_VIEWS = 12
BRIDGE = 20  # points seen across the cut: under COLMAP's 30, over run_sfm's 15


def _two_halves(db_path: Path) -> pycolmap.Reconstruction:
    """A database whose views 1–6 and 7–12 share only ``BRIDGE`` points (each half also
    sees its own points), and the true scene."""
    pycolmap.set_random_seed(0)
    opts = pycolmap.SyntheticDatasetOptions()
    opts.num_rigs = 1
    opts.num_frames_per_rig = N_VIEWS
    opts.num_points3D = 600
    opts.num_points2D_without_point3D = 0
    db = pycolmap.Database.open(db_path)
    try:
        truth = pycolmap.synthesize_dataset(opts, db)
        ids = sorted(truth.reg_image_ids())
        first_half = {iid: k < N_VIEWS // 2 for k, iid in enumerate(ids)}
        points = np.random.default_rng(0).permutation(sorted(truth.point3D_ids()))
        bridge = set(points[:BRIDGE].tolist())
        rest = points[BRIDGE:]
        own = {
            True: set(rest[: len(rest) // 2].tolist()),
            False: set(rest[len(rest) // 2 :].tolist()),
        }
        seen = {
            iid: [p.point3D_id if p.has_point3D() else -1 for p in truth.image(iid).points2D]
            for iid in ids
        }
        for pair_id, geometry in zip(*db.read_two_view_geometries(), strict=True):
            a, b = pycolmap.pair_id_to_image_pair(pair_id)
            kept = bridge if first_half[a] != first_half[b] else bridge | own[first_half[a]]
            m = geometry.inlier_matches
            geometry.inlier_matches = m[[seen[a][i] in kept for i in m[:, 0]]]
            db.update_two_view_geometry(a, b, geometry)
    finally:
        db.close()
    return truth


def _map(
    tmp_path: Path, options: pycolmap.IncrementalPipelineOptions, label: str
) -> list[pycolmap.Reconstruction]:
    options.extract_colors = False  # no image files here
    out = tmp_path / label
    out.mkdir()
    models = pycolmap.incremental_mapping(tmp_path / "db.db", tmp_path, out, options)
    return sorted(models.values(), key=lambda r: -r.num_reg_images())


@pytest.fixture()
def truth(tmp_path: Path) -> pycolmap.Reconstruction:
    return _two_halves(tmp_path / "db.db")


def test_colmap_defaults_split_the_series(tmp_path: Path, truth: pycolmap.Reconstruction) -> None:
    defaults = pycolmap.IncrementalPipelineOptions()
    defaults.random_seed = defaults.mapper.random_seed = 0
    defaults.num_threads = 1
    defaults.min_model_size = 3
    models = _map(tmp_path, defaults, "defaults")
    assert len(models) >= 2
    assert models[0].num_reg_images() < N_VIEWS


def test_run_sfm_settings_register_every_view_in_one_model(
    tmp_path: Path, truth: pycolmap.Reconstruction
) -> None:
    models = _map(tmp_path, mapping_options(N_VIEWS, num_threads=1, seed=0), "run_sfm")
    assert [m.num_reg_images() for m in models] == [N_VIEWS]
    rec = models[0]
    assert rec.compute_mean_reprojection_error() < 0.1
    # the cameras are the true ones up to a similarity
    names = sorted(rec.image(i).name for i in rec.reg_image_ids())
    est = np.array([rec.find_image_with_name(n).projection_center() for n in names])
    true = np.array([truth.find_image_with_name(n).projection_center() for n in names])
    sim = fit_similarity(est, true)
    spread = np.linalg.norm(true - true.mean(axis=0), axis=1).mean()
    assert np.linalg.norm(sim.apply(est) - true, axis=1).max() < 1e-3 * spread
