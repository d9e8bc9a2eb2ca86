"""Cameras from photos: structure from motion with pycolmap (COLMAP) on the CPU.

SIFT features, exhaustive matching (a face series has 8–24 views: every pair is cheap and
finds the loop), incremental mapping and bundle adjustment, on RGB arrays held in memory
(written to a temporary folder as COLMAP reads files). Each view gets its own camera
(photos may differ in zoom); a focal length known from DICOM/EXIF is passed in per view
and marked as a prior, so COLMAP starts from it instead of guessing.

The mapper's settings are :func:`mapping_options`. The one that departs from COLMAP's
defaults: a view registers from 15 2D–3D inliers, not 30. Where neighbouring views share few
triangulated points (the skull benchmark: 66 photos in several passes around a skull, parts
of its smooth vault with a few hundred SIFT features), 30 stalls the model: COLMAP can place
no further view, starts another model from the rest, and only the largest is kept (1000 px:
44 of 66 views, the rest in models of 21 and 5; at 15: 64 of 66 in one model, the 44 at the
same relative orientations within 0.5°). Neither the shared camera nor the focal prior
causes that split: without either it splits the same way.

The result is typed (:class:`reconstruction.types.SfmResult`): per input view its
:class:`PinholeCamera` (OpenCV convention: COLMAP's principal point, whose pixel centres
sit at +½, is moved by −½) or None, plus the sparse cloud. Fewer registered views than
``min_views`` raises :class:`reconstruction.errors.TooFewViewsError`.

No CUDA-specific call is made: ``Device.auto`` lets a CUDA build of pycolmap use the GPU
for SIFT and matching, and the CPU wheel runs the same code.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pycolmap

from analysis.types import ImageArray, InvalidInputError
from reconstruction.errors import TooFewViewsError
from reconstruction.types import PinholeCamera, SfmResult

#: ``callback(stage, fraction)``: stage name and 0–1 progress through it.
Progress = Callable[[str, float], None]

STAGES = ("features", "matching", "mapping", "done")
CAMERA_MODELS = ("SIMPLE_RADIAL", "SIMPLE_PINHOLE")


def _name(i: int) -> str:
    return f"view_{i:03d}.png"


def run_sfm(
    images: Sequence[ImageArray],
    *,
    focal_px: Sequence[float | None] | None = None,
    min_views: int = 3,
    camera_model: str = "SIMPLE_RADIAL",
    shared_camera: bool = False,
    max_features: int = 8192,
    num_threads: int = -1,
    seed: int = 0,
    progress: Progress | None = None,
) -> SfmResult:
    """Cameras of ``images`` (RGB uint8, H×W×3) by incremental structure from motion.

    ``focal_px``: one focal length in pixels per view (None where unknown), taken as a
    prior. ``camera_model``: SIMPLE_RADIAL (one radial term, for real lenses) or
    SIMPLE_PINHOLE (for undistorted or rendered images). ``shared_camera``: one set of
    intrinsics for every view (one camera at one zoom: better constrained); otherwise one
    per view. ``num_threads`` (−1: all cores): with one thread and a fixed ``seed`` the
    result repeats exactly; more threads are faster but not bit-exact. Raises
    :class:`TooFewViewsError` when fewer than ``min_views`` views register and
    :class:`InvalidInputError` for malformed input.
    """
    n = len(images)
    if camera_model not in CAMERA_MODELS:
        raise InvalidInputError(
            f"camera_model must be one of {CAMERA_MODELS}, got {camera_model!r}"
        )
    if focal_px is not None and len(focal_px) != n:
        raise InvalidInputError(f"focal_px needs one entry per view ({n}), got {len(focal_px)}")
    for i, im in enumerate(images):
        a = np.asarray(im)
        if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
            raise InvalidInputError(f"view {i} must be H×W×3 uint8 RGB, got {a.shape} {a.dtype}")
    if n < min_views:
        raise TooFewViewsError(0, n, min_views)
    report = progress or (lambda stage, fraction: None)

    with tempfile.TemporaryDirectory(prefix="facenode-sfm-") as tmp:
        root = Path(tmp)
        img_dir, out_dir, db_path = root / "images", root / "sparse", root / "database.db"
        img_dir.mkdir()
        out_dir.mkdir()
        names = [_name(i) for i in range(n)]
        for i, (name, im) in enumerate(zip(names, images, strict=True)):
            bgr = cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2BGR)
            cv2.imwrite(str(img_dir / name), bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])
            report("features", 0.2 * (i + 1) / n)

        mode = pycolmap.CameraMode.SINGLE if shared_camera else pycolmap.CameraMode.PER_IMAGE
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = camera_model
        extraction = pycolmap.FeatureExtractionOptions()
        extraction.num_threads = num_threads
        extraction.sift.max_num_features = max_features
        # COLMAP's SIFT thresholds: a lower peak threshold found 2× the features on the
        # dark skull photos (one more view registered), but cost the 16-view synthetic set
        # 1.5× the extraction and 2× the matching time.
        pycolmap.extract_features(
            db_path,
            img_dir,
            image_names=names,
            camera_mode=mode,
            reader_options=reader,
            extraction_options=extraction,
            device=pycolmap.Device.auto,
        )
        if focal_px is not None:
            _set_focal_priors(db_path, names, focal_px)
        report("features", 1.0)

        report("matching", 0.0)
        matching = pycolmap.FeatureMatchingOptions()
        matching.num_threads = num_threads
        # Off: a second, epipolar-guided pass took five times as long on the 66-view skull
        # set for one view more than the mapper settings below give (65 of 66, not 64).
        matching.guided_matching = False
        # Exhaustive, not sequential: the order of the photos need not follow the path of
        # the camera (several passes, a loop back to the first view), and a sequential
        # window would miss those pairs.
        pycolmap.match_exhaustive(db_path, matching_options=matching, device=pycolmap.Device.auto)
        report("matching", 1.0)

        options = mapping_options(n, num_threads=num_threads, seed=seed)
        registered = [0]

        def next_image() -> None:
            registered[0] += 1
            report("mapping", min(registered[0] / n, 0.99))

        report("mapping", 0.0)
        models = pycolmap.incremental_mapping(
            db_path, img_dir, out_dir, options, next_image_callback=next_image
        )
        report("mapping", 1.0)
        result = _result(models, names)
    report("done", 1.0)
    if result.n_registered < min_views:
        raise TooFewViewsError(result.n_registered, n, min_views)
    return result


def mapping_options(
    n_views: int, *, num_threads: int = -1, seed: int = 0
) -> pycolmap.IncrementalPipelineOptions:
    """COLMAP's incremental mapper as :func:`run_sfm` runs it on ``n_views`` views; each
    setting that matters is set here, with why (module docstring)."""
    options = pycolmap.IncrementalPipelineOptions()
    options.num_threads = num_threads
    options.random_seed = seed
    options.mapper.random_seed = seed
    # A view joins the model from 15 inliers of its 2D–3D matches (COLMAP: 30), so that a
    # thin overlap between passes around the head does not split the series in two. The
    # inlier share (a quarter, COLMAP's) and the 12 px RANSAC error still refuse a view
    # whose matches are mostly wrong.
    options.mapper.abs_pose_min_num_inliers = 15
    options.mapper.abs_pose_min_inlier_ratio = 0.25
    # When views are left over, COLMAP starts further models from them; run_sfm keeps the
    # largest.
    options.multiple_models = True
    options.min_model_size = min(3, n_views)
    return options


def _set_focal_priors(
    db_path: Path, names: Sequence[str], focal_px: Sequence[float | None]
) -> None:
    """Write each known focal length into its view's camera, flagged as a prior (a camera
    shared by several views takes the median of theirs)."""
    db = pycolmap.Database.open(db_path)
    try:
        by_name = {img.name: img for img in db.read_all_images()}
        per_camera: dict[int, list[float]] = {}
        for name, f in zip(names, focal_px, strict=True):
            if f is None:
                continue
            if not (np.isfinite(f) and f > 0):
                raise InvalidInputError(f"focal_px for {name} must be a positive number, got {f!r}")
            per_camera.setdefault(by_name[name].camera_id, []).append(float(f))
        for camera_id, focals in per_camera.items():
            cam = db.read_camera(camera_id)
            params = np.array(cam.params, dtype=np.float64)
            params[list(cam.focal_length_idxs())] = float(np.median(focals))
            cam.params = [float(x) for x in params]
            cam.has_prior_focal_length = True
            db.update_camera(cam)
    finally:
        db.close()


def _result(
    models: dict[int, pycolmap.Reconstruction],
    names: Sequence[str],
) -> SfmResult:
    """The largest model as an :class:`SfmResult` (empty when nothing reconstructed)."""
    n = len(names)
    if not models:
        return SfmResult(
            (None,) * n, (0.0,) * n, np.zeros((0, 3)), np.zeros((0, 3), np.uint8), float("nan")
        )
    rec = max(models.values(), key=lambda r: r.num_reg_images())
    cams: list[PinholeCamera | None] = [None] * n
    k1 = [0.0] * n
    index = {name: i for i, name in enumerate(names)}
    for image_id in rec.reg_image_ids():
        image = rec.image(image_id)
        i = index[image.name]
        cam = rec.camera(image.camera_id)
        pose = image.cam_from_world()
        k = np.array(cam.calibration_matrix(), dtype=np.float64)
        k[0, 2] -= 0.5  # COLMAP's pixel centres are at +½, OpenCV's at integers
        k[1, 2] -= 0.5
        cams[i] = PinholeCamera(
            width=int(cam.width),
            height=int(cam.height),
            K=k,
            R=np.array(pose.rotation.matrix(), dtype=np.float64),
            t=np.array(pose.translation, dtype=np.float64),
        )
        if cam.model_name == "SIMPLE_RADIAL":
            k1[i] = float(cam.params[3])
    pts = rec.points3D
    xyz = np.array([p.xyz for p in pts.values()], dtype=np.float64).reshape(-1, 3)
    rgb = np.array([p.color for p in pts.values()], dtype=np.uint8).reshape(-1, 3)
    return SfmResult(
        cameras=tuple(cams),
        radial_k1=tuple(k1),
        points=xyz,
        point_colors=rgb,
        mean_reprojection_error_px=float(rec.compute_mean_reprojection_error()),
    )
