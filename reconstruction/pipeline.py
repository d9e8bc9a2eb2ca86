"""The whole photogrammetric pipeline: a photo series in, a metric face mesh with 3D
landmarks, asymmetry and 3D measurements out (:class:`reconstruction.types.Reconstruction3D`).

Stages, in order (names as the progress callback and the timings report them):

``sfm``
    Cameras by structure from motion (:func:`reconstruction.cameras.run_sfm`); photos with
    a radial distortion are undistorted for everything after.
``scale``
    Millimetres, best source first: the marker board when seen
    (:func:`reconstruction.board.board_scale`); else a configured known distance between
    two named landmarks; else a given factor; else the iris diameter, triangulated from the
    2D iris edges (population 11.7 ± 0.5 mm, as :mod:`analysis.scale`). None of them: the
    stage fails (no value is ever reported in arbitrary units as mm). The landmarks are
    triangulated here once without a mesh; their bilateral pairs give the face frame, and
    one similarity (scale, rotation, translation) takes the cameras and sparse points into
    it, so the mesh is made in mm in the face frame.
``dense``, ``meshing``
    :func:`reconstruction.dense.dense_point_cloud` and :func:`reconstruction.meshing.poisson_mesh`.
``landmarks``
    The 2D landmarks of every view triangulated again, now gated by the surface's
    occlusion and snapped to it (:func:`reconstruction.landmarks3d.triangulate`).
``symmetry``
    Mid-sagittal plane by mirror + ICP, asymmetry map and regions
    (:func:`reconstruction.symmetry3d.analyse`); then the midline points placed on the
    surface's profile (:func:`reconstruction.profile3d.refine_midline`).
``measurements``
    :func:`reconstruction.measurements3d.measure`, each value carrying the mesh's scale.

Progress: ``progress(stage, fraction)``, ``fraction`` the whole pipeline's (0–1), each
stage weighted by its usual share of the time (:data:`STAGE_WEIGHTS`); stages that report
their own progress (SfM, dense, meshing) move it within their share. A stage that fails
raises :class:`reconstruction.errors.ReconstructionStageError` naming it; a refusal with
its own type (:class:`~reconstruction.errors.TooFewViewsError`, a CUDA device asked for
but absent: :class:`analysis.types.BackendUnavailableError`) propagates as it is.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from analysis.scale import HVID_MEAN_MM, HVID_SD_MM
from analysis.types import (
    AnalysisError,
    BackendUnavailableError,
    ImageArray,
    InvalidInputError,
    ModelIdentity,
    PhotoAnalysis,
)
from reconstruction import landmarks3d, measurements3d, profile3d, symmetry3d
from reconstruction.board import MarkerBoard, board_scale
from reconstruction.cameras import run_sfm
from reconstruction.dense import DenseOptions, Device, dense_point_cloud, resolve_device
from reconstruction.errors import ReconstructionError, ReconstructionStageError
from reconstruction.landmarks3d import TriangulationOptions, ViewLandmarks
from reconstruction.meshing import (
    ALGORITHM,
    PATCHMATCH_ALGORITHM,
    MeshingOptions,
    poisson_mesh,
)
from reconstruction.profile3d import ProfileOptions
from reconstruction.similarity import Similarity
from reconstruction.types import (
    FloatArray,
    Landmark3D,
    Measurement3D,
    MeshScale,
    MeshScaleSource,
    PinholeCamera,
    Reconstruction3D,
    SfmResult,
    SymmetryResult,
)

log = logging.getLogger(__name__)

#: ``progress(stage, fraction of the whole pipeline)``.
Progress = Callable[[str, float], None]

#: Each stage's share of the progress bar (its usual share of the time on the CPU).
STAGE_WEIGHTS: dict[str, float] = {
    "sfm": 0.30,
    "scale": 0.04,
    "dense": 0.40,
    "meshing": 0.12,
    "landmarks": 0.04,
    "symmetry": 0.08,
    "measurements": 0.02,
}
#: Within a stage that reports sub-stages: each one's share of the stage.
_SUBSTAGES: dict[str, dict[str, tuple[float, float]]] = {
    "sfm": {"features": (0.0, 0.45), "matching": (0.45, 0.7), "mapping": (0.7, 1.0),
            "done": (1.0, 1.0)},
    "dense": {"stereo": (0.0, 0.7), "fusion": (0.7, 1.0)},
    "meshing": {"meshing": (0.0, 1.0)},
}  # fmt: skip
IRIS_EDGES = (("iris_r_lateral", "iris_r_medial"), ("iris_l_lateral", "iris_l_medial"))
#: A single eye's iris diameter: its own measurement error on top of the population's.
ONE_EYE_REL = 0.05


@dataclass(frozen=True)
class InputView:
    """One photo of the series: RGB pixels, the focal length in pixels when known (from
    DICOM / EXIF: a prior for SfM), and its 2D analysis when the caller ran one."""

    image: ImageArray
    focal_px: float | None = None
    analysis: PhotoAnalysis | None = None


@dataclass(frozen=True)
class KnownDistance:
    """A distance the clinic knows between two named landmarks (e.g. a marked ruler's
    ends, or a measured intercanthal width), with its relative 1-sigma uncertainty."""

    a: str
    b: str
    mm: float
    relative_uncertainty: float = 0.01

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mm) and self.mm > 0):
            raise InvalidInputError(f"known distance must be > 0 mm, got {self.mm!r}")


@dataclass(frozen=True)
class ReconstructionOptions:
    """Settings of :func:`reconstruct`.

    ``min_views``: registered views needed (fewer: :class:`TooFewViewsError`). ``device``:
    ``auto`` | ``cpu`` | ``cuda`` for the dense stage. ``board``: the printed ChArUco
    board looked for (None: none used). ``known_distance`` / ``scale_factor`` (SfM units →
    mm, with ``scale_factor_uncertainty`` relative): the fallbacks after the board, in
    that order, then the iris. ``camera_model`` / ``shared_camera``: as
    :func:`reconstruction.cameras.run_sfm` (one camera at one zoom: share it).
    """

    min_views: int = 8
    device: Device = "auto"
    target_triangles: int | None = 100_000
    board: MarkerBoard | None = field(default_factory=MarkerBoard)
    known_distance: KnownDistance | None = None
    scale_factor: float | None = None
    scale_factor_uncertainty: float = 0.01
    camera_model: str = "SIMPLE_RADIAL"
    shared_camera: bool = False
    max_features: int = 8192
    num_threads: int = -1
    seed: int = 0
    dense: DenseOptions = field(default_factory=DenseOptions)
    meshing: MeshingOptions = field(default_factory=MeshingOptions)
    triangulation: TriangulationOptions = field(default_factory=TriangulationOptions)
    #: How the mid-sagittal profile bridges or steps around holes across the midline.
    profile: ProfileOptions = field(default_factory=ProfileOptions)
    #: The face frame needs this many landmarks triangulated before meshing.
    min_landmarks: int = 12


class _Stages:
    """Progress across weighted stages, per-stage wall time, and failures named by stage."""

    def __init__(self, progress: Progress | None) -> None:
        self.report = progress or (lambda stage, fraction: None)
        self.timings: dict[str, float] = {}
        self._done = 0.0
        self._last_logged = -1

    def _emit(self, stage: str, fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        self.report(stage, fraction)
        pct = int(100 * fraction) // 10
        if pct != self._last_logged:
            self._last_logged = pct
            log.info("3D reconstruction: %s, %d %%", stage, round(100 * fraction))

    def sub(self, stage: str) -> Progress:
        """A sub-stage callback (``(name, fraction of it)``) moving within ``stage``'s share."""
        weight, base, table = STAGE_WEIGHTS[stage], self._done, _SUBSTAGES.get(stage, {})

        def report(name: str, fraction: float) -> None:
            lo, hi = table.get(name, (0.0, 1.0))
            self._emit(stage, base + weight * (lo + (hi - lo) * min(max(fraction, 0.0), 1.0)))

        return report

    @contextmanager
    def stage(self, stage: str) -> Iterator[None]:
        self._emit(stage, self._done)
        t0 = time.perf_counter()
        try:
            yield
        except (ReconstructionError, BackendUnavailableError):
            raise
        except (AnalysisError, RuntimeError, ValueError, np.linalg.LinAlgError, cv2.error) as exc:
            raise ReconstructionStageError(stage, str(exc) or type(exc).__name__) from exc
        finally:
            self.timings[stage] = time.perf_counter() - t0
        self._done += STAGE_WEIGHTS[stage]
        self._emit(stage, self._done)


def reconstruct(
    views: Sequence[InputView],
    options: ReconstructionOptions | None = None,
    progress: Progress | None = None,
) -> Reconstruction3D:
    """The metric 3D face of a photo series (module docstring)."""
    opt = options or ReconstructionOptions()
    stages = _Stages(progress)
    notes: list[str] = []
    images = [np.ascontiguousarray(v.image) for v in views]

    with stages.stage("sfm"):
        sfm = run_sfm(
            images,
            focal_px=[v.focal_px for v in views],
            min_views=opt.min_views,
            camera_model=opt.camera_model,
            shared_camera=opt.shared_camera,
            max_features=opt.max_features,
            num_threads=opt.num_threads,
            seed=opt.seed,
            progress=stages.sub("sfm"),
        )
        registered = [i for i, c in enumerate(sfm.cameras) if c is not None]
        undistorted = [_undistort(images[i], sfm.cameras[i], sfm.radial_k1[i]) for i in registered]
        lm_views = _landmark_views(views, sfm, registered)
        log.info(
            "SfM: %d of %d views registered, mean reprojection error %.2f px",
            sfm.n_registered, sfm.n_views, sfm.mean_reprojection_error_px,
        )  # fmt: skip

    with stages.stage("scale"):
        rough = (
            landmarks3d.triangulate(lm_views, None, options=opt.triangulation)
            if len(lm_views) >= opt.triangulation.min_views
            else {}
        )
        factor, scale = _metric_scale(images, sfm, rough, opt, notes)
        to_mesh, face_frame = _to_mesh_frame(factor, rough, opt.min_landmarks, notes)
        cams = [sfm.cameras[i] for i in registered]
        mesh_cams = [to_mesh.camera(c) for c in cams if c is not None]
        sparse = to_mesh.apply(sfm.points) if len(sfm.points) else None

    with stages.stage("dense"):
        cloud = dense_point_cloud(
            undistorted,
            mesh_cams,
            sparse,
            replace(opt.dense, device=opt.device),
            progress=stages.sub("dense"),
        )
        log.info("dense: %d points", len(cloud))

    with stages.stage("meshing"):
        mesh = poisson_mesh(
            cloud,
            scale,
            replace(opt.meshing, target_triangles=opt.target_triangles),
            camera_centres=np.array([c.centre for c in mesh_cams]),
            progress=stages.sub("meshing"),
            algorithm=mesh_algorithm(opt.device),
        )

    landmarks: dict[str, Landmark3D] = {}
    symmetry: SymmetryResult | None = None
    measurements: tuple[Measurement3D, ...] = ()
    if len(rough) >= opt.min_landmarks:
        with stages.stage("landmarks"):
            framed = [replace(v, camera=to_mesh.camera(v.camera)) for v in lm_views]
            landmarks = landmarks3d.triangulate(framed, mesh, options=opt.triangulation)
        with stages.stage("symmetry"):
            symmetry = symmetry3d.analyse(mesh, landmarks)
            landmarks = profile3d.refine_midline(
                landmarks, mesh, symmetry.plane, profile=opt.profile
            )
            if "pronasale" not in landmarks:
                notes.append(
                    "no mid-sagittal profile found on the mesh (a hole across the midline?): "
                    "midline points stay triangulated, profile measurements left out"
                )
        with stages.stage("measurements"):
            measurements = measurements3d.measure(landmarks, symmetry.plane, scale)
    else:
        notes.append(
            f"3D landmarks, asymmetry and measurements skipped: {len(rough)} landmarks "
            f"triangulated from the views' 2D analyses, {opt.min_landmarks} needed"
        )
    stages.report("done", 1.0)
    all_cams: list[PinholeCamera | None] = [None] * len(views)
    for i, cam in zip(registered, mesh_cams, strict=True):
        all_cams[i] = cam
    return Reconstruction3D(
        mesh=mesh,
        cameras=tuple(all_cams),
        scale=scale,
        scale_factor=factor,
        face_frame=face_frame,
        n_registered=sfm.n_registered,
        reprojection_error_px=sfm.mean_reprojection_error_px,
        dense_points=len(cloud),
        landmarks=landmarks,
        symmetry=symmetry,
        measurements=tuple(measurements),
        timings_s=dict(stages.timings),
        notes=tuple(notes),
    )


# ---- helpers --------------------------------------------------------------------------


def mesh_algorithm(device: Device) -> ModelIdentity:
    """The identity the mesh (and so its DICOM objects and the 3D report) names: the dense
    path ``device`` resolves to, then Poisson meshing."""
    return PATCHMATCH_ALGORITHM if resolve_device(device) == "cuda" else ALGORITHM


def _undistort(image: ImageArray, cam: PinholeCamera | None, k1: float) -> ImageArray:
    """The photo as the pinhole ``cam`` sees it (SIMPLE_RADIAL's k1 removed)."""
    if cam is None or k1 == 0.0:
        return image
    out = cv2.undistort(image, cam.K, np.array([k1, 0.0, 0.0, 0.0]))
    return np.asarray(out, dtype=np.uint8)


def _undistort_points(
    points: Mapping[str, tuple[float, float]], cam: PinholeCamera, k1: float
) -> dict[str, tuple[float, float]]:
    if k1 == 0.0 or not points:
        return dict(points)
    names = list(points)
    px = np.array([points[n] for n in names], dtype=np.float64).reshape(-1, 1, 2)
    out = cv2.undistortPoints(px, cam.K, np.array([k1, 0.0, 0.0, 0.0]), P=cam.K).reshape(-1, 2)
    return {n: (float(x), float(y)) for n, (x, y) in zip(names, out, strict=True)}


def _landmark_views(
    views: Sequence[InputView], sfm: SfmResult, registered: Sequence[int]
) -> list[ViewLandmarks]:
    """The registered views' 2D landmarks (undistorted) with their SfM cameras."""
    out = []
    for i in registered:
        cam, analysis = sfm.cameras[i], views[i].analysis
        if cam is None or analysis is None or analysis.semantic is None:
            continue
        lv = landmarks3d.from_analysis(cam, analysis)
        if lv.points:
            out.append(replace(lv, points=_undistort_points(lv.points, cam, sfm.radial_k1[i])))
    return out


def _metric_scale(
    images: Sequence[ImageArray],
    sfm: SfmResult,
    rough: Mapping[str, Landmark3D],
    opt: ReconstructionOptions,
    notes: list[str],
) -> tuple[float, MeshScale]:
    """(SfM units → mm factor, its provenance), best source first (module docstring)."""
    if opt.board is not None:
        got = board_scale(images, sfm.cameras, opt.board, radial_k1=sfm.radial_k1)
        if got is not None:
            return got.factor, got.scale
        notes.append("no marker board seen well enough: scale from the next source")
    kd = opt.known_distance
    if kd is not None:
        if kd.a in rough and kd.b in rough:
            d = float(np.linalg.norm(rough[kd.a].position - rough[kd.b].position))
            if d > 0:
                return kd.mm / d, MeshScale(
                    MeshScaleSource.KNOWN_DISTANCE,
                    kd.relative_uncertainty,
                    note=f"configured {kd.a}–{kd.b} distance {kd.mm:g} mm",
                )
        notes.append(f"known distance {kd.a}–{kd.b}: landmarks not triangulated")
    if opt.scale_factor is not None:
        return opt.scale_factor, MeshScale(
            MeshScaleSource.KNOWN_DISTANCE,
            opt.scale_factor_uncertainty,
            note=f"configured scale factor {opt.scale_factor:g} mm per SfM unit",
        )
    iris = _iris_scale(rough)
    if iris is not None:
        return iris
    raise ReconstructionStageError(
        "scale",
        "no metric scale: no marker board seen, no known distance configured and no iris "
        "edges triangulated (the photos need a 2D analysis with iris landmarks)",
    )


def _iris_scale(rough: Mapping[str, Landmark3D]) -> tuple[float, MeshScale] | None:
    """The factor making the triangulated iris diameters the population's 11.7 mm."""
    diameters = [
        float(np.linalg.norm(rough[a].position - rough[b].position))
        for a, b in IRIS_EDGES
        if a in rough and b in rough
    ]
    diameters = [d for d in diameters if d > 0]
    if not diameters:
        return None
    mean = float(np.mean(diameters))
    population = HVID_SD_MM / HVID_MEAN_MM
    own = abs(diameters[0] - diameters[1]) / (2 * mean) if len(diameters) == 2 else ONE_EYE_REL
    rel = math.hypot(population, own)
    return HVID_MEAN_MM / mean, MeshScale(
        MeshScaleSource.IRIS_DIAMETER,
        rel,
        note=f"iris diameter {HVID_MEAN_MM:g} ± {HVID_SD_MM:g} mm (population), "
        f"{len(diameters)} eye(s) triangulated",
    )


def _to_mesh_frame(
    factor: float, rough: Mapping[str, Landmark3D], min_landmarks: int, notes: list[str]
) -> tuple[Similarity, bool]:
    """SfM units → mm, and into the face frame of the rough landmarks when they allow
    (the flag says whether it did)."""
    plain = Similarity(factor, np.eye(3), np.zeros(3))
    if len(rough) < min_landmarks:
        notes.append("mesh left in the SfM orientation: too few landmarks for a face frame")
        return plain, False
    pts: dict[str, FloatArray] = {k: factor * v.position for k, v in rough.items()}
    try:
        plane = symmetry3d.initial_plane(pts)
    except ReconstructionError as exc:
        notes.append(f"mesh left in the SfM orientation: {exc}")
        return plain, False
    axes = np.asarray(plane.axes)
    return Similarity(factor, axes, -axes @ plane.origin), True


__all__ = [
    "STAGE_WEIGHTS",
    "InputView",
    "KnownDistance",
    "Progress",
    "ReconstructionOptions",
    "reconstruct",
]
