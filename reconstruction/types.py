"""Typed results of photogrammetric reconstruction: numpy in, frozen dataclasses out, no DICOM.

A :class:`SurfaceMesh` is the reconstructed face surface: vertices in millimetres in the
reconstruction's own Frame of Reference (the DICOM writers give that frame a Frame of
Reference UID; 3D landmarks and measurements use the same frame), triangles as vertex
indices, optional per-vertex colours, an optional texture (UV coordinates per triangle
corner and the RGB image they index), and its provenance: where the metric scale came from
and how uncertain it is (:class:`MeshScale`), and which algorithm made it
(:class:`analysis.types.ModelIdentity`, the same identity the 2D results carry).

Invalid input raises :class:`analysis.types.InvalidInputError` naming the actual and the
expected shape or value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from analysis.types import ImageArray, InvalidInputError, ModelIdentity

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.int64]
_T = TypeVar("_T", bound=np.generic)


class MeshScaleSource(StrEnum):
    """Where a mesh's millimetre scale came from, best first (DESIGN.md §6)."""

    #: A printed ChArUco / ArUco board of known square size seen in the photos.
    MARKER_BOARD = "marker_board"
    #: A distance the clinic configured (e.g. a ruler or a fixed camera rig baseline).
    KNOWN_DISTANCE = "known_distance"
    #: The iris diameter triangulated from the 2D iris landmarks (population mean).
    IRIS_DIAMETER = "iris_diameter"
    #: The coordinates came in millimetres already (an imported or synthetic mesh).
    SOURCE_DATA = "source_data"
    #: No metric scale: coordinates are in arbitrary units, never reported as mm.
    NONE = "none"


@dataclass(frozen=True)
class MeshScale:
    """The metric scale of a mesh: its source and relative (1-sigma) uncertainty."""

    source: MeshScaleSource
    relative_uncertainty: float
    note: str = ""

    def __post_init__(self) -> None:
        u = self.relative_uncertainty
        if not (math.isfinite(u) and u >= 0.0):
            raise InvalidInputError(f"relative_uncertainty must be a finite number >= 0, got {u!r}")

    @property
    def is_metric(self) -> bool:
        return self.source is not MeshScaleSource.NONE


@dataclass(frozen=True, eq=False)
class MeshTexture:
    """A texture map: ``uv`` (K×2, [0, 1], origin bottom-left as in OBJ), ``uv_triangles``
    (M×3 indices into ``uv``, one row per mesh triangle) and ``image`` (H×W×3 RGB uint8)."""

    uv: FloatArray
    uv_triangles: IndexArray
    image: ImageArray

    def __post_init__(self) -> None:
        uv = np.asarray(self.uv, dtype=np.float64)
        tri = np.asarray(self.uv_triangles)
        image = np.asarray(self.image)
        if uv.ndim != 2 or uv.shape[1] != 2 or len(uv) == 0:
            raise InvalidInputError(f"texture uv must be K×2 with K >= 1, got shape {uv.shape}")
        if not np.isfinite(uv).all():
            raise InvalidInputError("texture uv must be finite")
        tri = _index_array("texture uv_triangles", tri, len(uv))
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or image.size == 0:
            raise InvalidInputError(
                f"texture image must be H×W×3 uint8, got shape {image.shape} {image.dtype}"
            )
        object.__setattr__(self, "uv", _readonly(uv))
        object.__setattr__(self, "uv_triangles", _readonly(tri))
        object.__setattr__(self, "image", _readonly(np.ascontiguousarray(image)))


@dataclass(frozen=True, eq=False)
class SurfaceMesh:
    """A triangle mesh in millimetres in the reconstruction's Frame of Reference.

    ``vertices``: N×3 float (mm when ``scale.is_metric``); ``triangles``: M×3 vertex indices,
    counter-clockwise seen from outside (outward normals); ``colors``: N×3 RGB uint8 per
    vertex or None; ``texture``: per-corner UVs and image, or None; ``scale`` and
    ``algorithm``: provenance. Arrays are stored read-only.
    """

    vertices: FloatArray
    triangles: IndexArray
    scale: MeshScale
    algorithm: ModelIdentity
    colors: ImageArray | None = None
    texture: MeshTexture | None = None

    def __post_init__(self) -> None:
        v = np.asarray(self.vertices, dtype=np.float64)
        if v.ndim != 2 or v.shape[1] != 3 or len(v) < 3:
            raise InvalidInputError(f"vertices must be N×3 with N >= 3, got shape {v.shape}")
        if not np.isfinite(v).all():
            raise InvalidInputError("vertices must be finite (found NaN or inf)")
        tri = _index_array("triangles", np.asarray(self.triangles), len(v))
        object.__setattr__(self, "vertices", _readonly(v))
        object.__setattr__(self, "triangles", _readonly(tri))
        if self.colors is not None:
            c = np.asarray(self.colors)
            if c.shape != v.shape or c.dtype != np.uint8:
                raise InvalidInputError(
                    f"colors must be N×3 uint8 matching {v.shape[0]} vertices, "
                    f"got shape {c.shape} {c.dtype}"
                )
            object.__setattr__(self, "colors", _readonly(c))
        if self.texture is not None and len(self.texture.uv_triangles) != len(tri):
            raise InvalidInputError(
                f"texture uv_triangles must have one row per triangle ({len(tri)}), "
                f"got {len(self.texture.uv_triangles)}"
            )

    @property
    def n_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def n_triangles(self) -> int:
        return int(self.triangles.shape[0])

    def face_normals(self) -> FloatArray:
        """Unit normal of each triangle (zero for a degenerate one), right-hand rule."""
        p = self.vertices[self.triangles]
        n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
        length = np.linalg.norm(n, axis=1, keepdims=True)
        out: FloatArray = np.divide(n, length, out=np.zeros_like(n), where=length > 0)
        return out

    def bounds(self) -> tuple[FloatArray, FloatArray]:
        """(min corner, max corner) of the vertices."""
        return self.vertices.min(axis=0), self.vertices.max(axis=0)


def _index_array(name: str, tri: npt.NDArray[np.generic], n: int) -> IndexArray:
    if tri.ndim != 2 or tri.shape[1] != 3 or len(tri) == 0:
        raise InvalidInputError(f"{name} must be M×3 with M >= 1, got shape {tri.shape}")
    if not np.issubdtype(tri.dtype, np.integer):
        raise InvalidInputError(f"{name} must hold integer indices, got dtype {tri.dtype}")
    lo, hi = int(tri.min()), int(tri.max())
    if lo < 0 or hi >= n:
        raise InvalidInputError(f"{name} indices must lie in [0, {n - 1}], got [{lo}, {hi}]")
    return tri.astype(np.int64)


def _readonly(a: npt.NDArray[_T]) -> npt.NDArray[_T]:
    out = np.array(a, copy=True)
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class PinholeCamera:
    """One view's undistorted pinhole camera, OpenCV convention (x right, y down, z forward).

    A world point ``X`` maps to ``x_cam = R @ X + t`` and to pixel ``K @ x_cam`` (divided by
    its depth); pixel centres are at integer coordinates. World units are the
    reconstruction's (millimetres once a metric scale is applied). Shared by the SfM stage
    (which estimates cameras), the dense stage (which uses them) and the synthetic benchmark
    (which knows them).
    """

    width: int
    height: int
    K: FloatArray  # 3×3 intrinsics
    R: FloatArray  # 3×3 rotation, world → camera
    t: FloatArray  # (3,) translation, world → camera

    def __post_init__(self) -> None:
        for name, arr, shape in (("K", self.K, (3, 3)), ("R", self.R, (3, 3)), ("t", self.t, (3,))):
            a = np.asarray(arr, dtype=np.float64)
            if a.shape != shape or not np.isfinite(a).all():
                raise InvalidInputError(f"{name} must be finite with shape {shape}, got {a.shape}")
            object.__setattr__(self, name, _readonly(a))
        if self.width <= 0 or self.height <= 0:
            raise InvalidInputError(f"image size must be positive, got {self.width}×{self.height}")

    @property
    def centre(self) -> FloatArray:
        """The camera centre in world coordinates (−Rᵀ t)."""
        return np.asarray(-self.R.T @ self.t)

    def project(self, points: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(N×2 pixel coordinates, N depths) of N×3 world points."""
        cam = np.asarray(points, dtype=np.float64) @ self.R.T + self.t
        z = cam[:, 2]
        uv = cam @ self.K.T
        with np.errstate(divide="ignore", invalid="ignore"):
            px = uv[:, :2] / z[:, None]
        return np.asarray(px), np.asarray(z)


@dataclass(frozen=True, eq=False)
class SfmResult:
    """What structure from motion recovered from N input views.

    ``cameras[i]`` is view i's undistorted pinhole camera in the reconstruction's arbitrary
    frame and units (a similarity away from millimetres until a scale is applied), or None
    where the view did not register. ``radial_k1[i]`` is its first radial distortion
    coefficient (COLMAP SIMPLE_RADIAL = OpenCV ``distCoeffs = (k1, 0, 0, 0)``; 0 for a pure
    pinhole): the photo must be undistorted with it before ``cameras[i]`` maps pixels
    exactly. ``points`` (P×3) and ``point_colors`` (P×3 uint8) are the sparse cloud;
    ``mean_reprojection_error_px`` is COLMAP's over every observation after bundle adjustment.
    """

    cameras: tuple[PinholeCamera | None, ...]
    radial_k1: tuple[float, ...]
    points: FloatArray
    point_colors: ImageArray
    mean_reprojection_error_px: float

    @property
    def n_views(self) -> int:
        return len(self.cameras)

    @property
    def n_registered(self) -> int:
        return sum(c is not None for c in self.cameras)


@dataclass(frozen=True)
class BoardScale:
    """The metric scale a marker board gave: ``factor`` multiplies reconstruction units into
    millimetres (``x_mm = factor · x``); ``scale`` is its provenance and relative 1-sigma
    uncertainty; ``n_corners`` triangulated corners and ``n_pairs`` corner pairs measured."""

    factor: float
    scale: MeshScale
    n_corners: int
    n_pairs: int
    corners: FloatArray  # K×3 triangulated corners, reconstruction units
    corner_ids: IndexArray  # K board corner ids


class LandmarkSource(StrEnum):
    """How a 3D landmark was placed."""

    #: Triangulated from the 2D landmarks of several views, then snapped to the mesh.
    TRIANGULATED = "triangulated"
    #: Found on the mesh surface itself (an extremal point of the mid-sagittal profile),
    #: starting from the triangulated point where there was one.
    SURFACE = "surface"


@dataclass(frozen=True, eq=False)
class Landmark3D:
    """One named 3D landmark (names of :mod:`analysis.landmark_names`), in the mesh's frame.

    ``uncertainty_mm`` is the 1-sigma radius (√trace of the covariance); ``views`` the input
    views whose 2D point it stands on (empty for a surface-only point); ``reprojection_px``
    the RMS reprojection residual over them; ``triangulated`` the position before surface
    refinement (None when the point was never triangulated).
    """

    name: str
    position: FloatArray
    uncertainty_mm: float
    source: LandmarkSource
    views: tuple[int, ...] = ()
    reprojection_px: float = float("nan")
    triangulated: FloatArray | None = None

    def __post_init__(self) -> None:
        p = np.asarray(self.position, dtype=np.float64)
        if p.shape != (3,) or not np.isfinite(p).all():
            raise InvalidInputError(f"landmark {self.name!r} position must be 3 finite values")
        object.__setattr__(self, "position", _readonly(p))
        if self.triangulated is not None:
            object.__setattr__(
                self, "triangulated", _readonly(np.asarray(self.triangulated, np.float64))
            )


@dataclass(frozen=True, eq=False)
class MidSagittalPlane:
    """The face's mid-sagittal plane and the face frame built on it.

    ``axes`` rows are the face frame's x (the plane normal, toward the subject's left), y
    (up, menton → nasion) and z (x × y, out of the face); ``origin`` lies on the plane.
    Face-frame coordinates are ``(p − origin) @ axes.T``, so x is the signed distance from
    the plane (+ = subject's left). ``icp_rms_mm``: the mirror registration's inlier RMS.
    """

    axes: FloatArray
    origin: FloatArray
    icp_rms_mm: float = float("nan")
    icp_fitness: float = float("nan")

    def __post_init__(self) -> None:
        a = np.asarray(self.axes, dtype=np.float64)
        o = np.asarray(self.origin, dtype=np.float64)
        if a.shape != (3, 3) or not np.allclose(a @ a.T, np.eye(3), atol=1e-6):
            raise InvalidInputError("plane axes must be a 3×3 rotation (orthonormal rows)")
        if o.shape != (3,) or not np.isfinite(o).all():
            raise InvalidInputError("plane origin must be 3 finite values")
        object.__setattr__(self, "axes", _readonly(a))
        object.__setattr__(self, "origin", _readonly(o))

    @property
    def normal(self) -> FloatArray:
        return np.asarray(self.axes[0])

    def to_face(self, points: FloatArray) -> FloatArray:
        """Face-frame coordinates (N×3 or 3) of points in the mesh's frame."""
        return np.asarray((np.asarray(points, dtype=np.float64) - self.origin) @ self.axes.T)

    def from_face(self, points: FloatArray) -> FloatArray:
        """Mesh-frame coordinates of face-frame points."""
        return np.asarray(np.asarray(points, dtype=np.float64) @ self.axes + self.origin)

    def signed_distance(self, points: FloatArray) -> FloatArray:
        """Distance from the plane, + toward the subject's left (mm)."""
        return np.asarray((np.asarray(points, dtype=np.float64) - self.origin) @ self.normal)

    def reflect(self, points: FloatArray) -> FloatArray:
        """Mirror images of points about the plane."""
        p = np.asarray(points, dtype=np.float64)
        return np.asarray(p - 2.0 * np.outer(self.signed_distance(p), self.normal).reshape(p.shape))


@dataclass(frozen=True)
class RegionAsymmetry:
    """Asymmetry of one face region: mean and max |signed distance| (mm) of its vertices to
    the mirrored surface, and the signed value of largest magnitude."""

    region: str
    mean_abs_mm: float
    max_abs_mm: float
    peak_signed_mm: float
    n_vertices: int


@dataclass(frozen=True, eq=False)
class SymmetryResult:
    """Mid-sagittal plane, per-vertex asymmetry map and per-region asymmetry of one mesh.

    ``vertex_asymmetry_mm[i]`` is vertex i's signed distance to the mirrored surface (+ =
    the vertex lies outside it, along the outward normal; NaN where the mirrored surface
    has no counterpart within reach).
    """

    plane: MidSagittalPlane
    vertex_asymmetry_mm: FloatArray
    regions: tuple[RegionAsymmetry, ...]

    def region(self, name: str) -> RegionAsymmetry:
        for r in self.regions:
            if r.region == name:
                return r
        raise KeyError(f"region {name!r} not in this result")


@dataclass(frozen=True)
class Measurement3D:
    """One 3D value of the measurement catalogue (ids of :mod:`analysis.measurements`, so
    norms and findings apply), with its metric scale's provenance.

    ``uncertainty`` is 1-sigma in ``unit``: the landmarks' uncertainties propagated through
    the formula, plus the scale's relative uncertainty for lengths.
    """

    id: str
    name: str
    value: float
    unit: str
    uncertainty: float
    landmarks: tuple[str, ...]
    scale: MeshScale
    description: str = ""


@dataclass(frozen=True, eq=False)
class DensePointCloud:
    """The dense stage's fused surface samples, in the input cameras' world units.

    ``points``: N×3; ``colors``: N×3 RGB uint8 (mean over the agreeing views); ``normals``:
    N×3 unit vectors facing the cameras, or None; ``support``: N views whose depth maps agree
    on each point (the reference view included), the confidence meshing may weigh.
    Arrays are stored read-only.
    """

    points: FloatArray
    colors: ImageArray
    support: IndexArray
    normals: FloatArray | None = None

    def __post_init__(self) -> None:
        p = np.asarray(self.points, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3 or not np.isfinite(p).all():
            raise InvalidInputError(f"points must be finite N×3, got shape {p.shape}")
        c, s = np.asarray(self.colors), np.asarray(self.support)
        if c.shape != p.shape or c.dtype != np.uint8:
            raise InvalidInputError(f"colors must be {p.shape} uint8, got {c.shape} {c.dtype}")
        if s.shape != (len(p),) or not np.issubdtype(s.dtype, np.integer):
            raise InvalidInputError(
                f"support must be ({len(p)},) integers, got {s.shape} {s.dtype}"
            )
        object.__setattr__(self, "points", _readonly(p))
        object.__setattr__(self, "colors", _readonly(c))
        object.__setattr__(self, "support", _readonly(s.astype(np.int64)))
        if self.normals is not None:
            n = np.asarray(self.normals, dtype=np.float64)
            if n.shape != p.shape or not np.isfinite(n).all():
                raise InvalidInputError(f"normals must be finite {p.shape}, got {n.shape}")
            object.__setattr__(self, "normals", _readonly(n))

    def __len__(self) -> int:
        return int(self.points.shape[0])


@dataclass(frozen=True, eq=False)
class Reconstruction3D:
    """What the whole photogrammetric pipeline (:mod:`reconstruction.pipeline`) made of a
    photo series, every 3D value in the mesh's frame and millimetres.

    ``cameras[i]``: input view i's camera in that frame (None where it did not register);
    ``scale`` / ``scale_factor``: the metric scale's provenance and the factor that took
    structure-from-motion units to mm; ``face_frame``: the frame is the face frame of the
    3D landmarks (x toward the subject's left, y up, z out of the face, origin between the
    inner canthi) rather than SfM's own orientation. ``landmarks``, ``symmetry`` and
    ``measurements`` are empty / None when the views came without a 2D analysis (or too few
    landmarks were found); ``notes`` say what was skipped or fell back, and why.
    ``timings_s``: wall seconds per stage.
    """

    mesh: SurfaceMesh
    cameras: tuple[PinholeCamera | None, ...]
    scale: MeshScale
    scale_factor: float
    face_frame: bool
    n_registered: int
    reprojection_error_px: float
    dense_points: int
    landmarks: dict[str, Landmark3D]
    symmetry: SymmetryResult | None
    measurements: tuple[Measurement3D, ...]
    timings_s: dict[str, float]
    notes: tuple[str, ...] = ()

    @property
    def n_views(self) -> int:
        return len(self.cameras)

    def measurement(self, measurement_id: str) -> Measurement3D:
        for m in self.measurements:
            if m.id == measurement_id:
                return m
        raise KeyError(f"measurement {measurement_id!r} not in this reconstruction")
