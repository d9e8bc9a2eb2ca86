"""Typed results of facial analysis: numpy in, frozen dataclasses out, no DICOM.

This module is the contract between the analysis stages, the DICOM writers (``dicom/``)
and the node (``node/``). Coordinates follow :mod:`analysis.landmark_names`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

import numpy as np
import numpy.typing as npt

from config.errors import FacenodeError

FloatArray = npt.NDArray[np.float64]
ImageArray = npt.NDArray[np.uint8]


class AnalysisError(FacenodeError):
    """Root of the analysis errors (the whole tree is drawn in :mod:`config.errors`)."""


class InvalidInputError(AnalysisError, ValueError):
    """An input (photo, landmark set) cannot be analysed; the message says what was found
    and what was expected."""


class BackendUnavailableError(AnalysisError, RuntimeError):
    """A backend cannot run here (missing extra, missing or corrupt provisioned weights)."""


class View(StrEnum):
    """Photographic view of the face, from the subject's point of view."""

    FRONTAL = "frontal"
    OBLIQUE_LEFT = "oblique_left"
    OBLIQUE_RIGHT = "oblique_right"
    PROFILE_LEFT = "profile_left"
    PROFILE_RIGHT = "profile_right"
    UNKNOWN = "unknown"


class Flag(StrEnum):
    """Why a photo (``Quality.flags``) or a value (``Measurement.flags``) may not be trusted.

    The values are stored: they are written to the SR as private codes ``flag:<value>``, to
    ``summary.json`` and the job summaries. Never rename one; add a member instead.
    Photo flags are set by :mod:`analysis.quality`; a measurement carries the photo's flags
    that apply to it plus its own (:mod:`analysis.measurements.engine`).
    """

    # photo quality (analysis.quality)
    NO_FACE = "no_face"
    LOW_DETECTION_CONFIDENCE = "low_detection_confidence"
    FACE_TOO_SMALL = "face_too_small"
    BLURRED = "blurred"
    LOW_LANDMARK_CONFIDENCE = "low_landmark_confidence"
    LANDMARKS_OUTSIDE_IMAGE = "landmarks_outside_image"
    HEAD_ROTATED = "head_rotated"
    # expression: only the measurements sensitive to it carry these
    EYES_CLOSED = "eyes_closed"
    MOUTH_OPEN = "mouth_open"
    SMILING = "smiling"
    # measurement only (analysis.measurements.engine)
    VIEW_NOT_IDEAL = "view_not_ideal"
    NO_SCALE = "no_scale"
    SCALE_ASSUMED = "scale_assumed"
    SCALE_FROM_THIS_MEASUREMENT = "scale_from_this_measurement"
    ASYMMETRY_UNCONFIRMED = "asymmetry_unconfirmed"


def as_flags(values: Iterable[str]) -> tuple[Flag, ...]:
    """``values`` as flags, in order without repeats; an unknown name raises
    :class:`InvalidInputError` listing the known ones (a drifted name fails loudly)."""
    out: dict[Flag, None] = {}
    for v in values:
        try:
            out[Flag(v)] = None
        except ValueError:
            known = ", ".join(f.value for f in Flag)
            raise InvalidInputError(f"unknown flag {v!r}; expected one of: {known}") from None
    return tuple(out)


class Severity(StrEnum):
    """How marked a finding is; ``info`` is a note, not a deviation. Stored in the SR
    (:func:`dicom.codes.severity_code`) and named by the finding rules (``config/data``)."""

    INFO = "info"
    MILD = "mild"
    MODERATE = "moderate"
    MARKED = "marked"


class ViewSource(StrEnum):
    """Where ``Quality.view`` came from: the DICOM header's View Code Sequence, the photo's
    own evidence of a profile (a hidden eye, the nose on the silhouette's outline; see
    :mod:`analysis.quality.view`), or the head pose estimated from the landmarks."""

    DICOM = "dicom"
    POSE = "pose"
    PHOTO = "photo"


class ScaleSource(StrEnum):
    """Where a photo's millimetre-per-pixel factor came from, best first."""

    PIXEL_SPACING = "dicom_pixel_spacing"
    IMAGER_PIXEL_SPACING = "dicom_imager_pixel_spacing"
    IRIS_DIAMETER = "iris_diameter"
    #: The iris scale disagreed with the IPD prior; both combined (:mod:`analysis.scale`).
    IRIS_AND_IPD = "iris_diameter_and_assumed_interpupillary_distance"
    ASSUMED_IPD = "assumed_interpupillary_distance"
    NONE = "none"


@dataclass(frozen=True)
class ModelIdentity:
    """Which model produced a result; goes into the SR's algorithm identification."""

    id: str
    name: str
    version: str
    licence: str
    commercial_use: bool = True


@dataclass(frozen=True)
class Photo:
    """One photo ready for analysis.

    ``pixels`` is H×W×3 RGB uint8. ``pixel_spacing_mm`` is (row, column) spacing when the
    DICOM header gave one; ``view_hint`` comes from the View Code Sequence when present.
    ``sex`` is the subject's sex as the findings' norm rows know it ("M" / "F", from DICOM
    Patient's Sex); None when unknown or other, and the sex-neutral rows are used.
    """

    pixels: ImageArray
    pixel_spacing_mm: tuple[float, float] | None = None
    pixel_spacing_source: ScaleSource | None = None
    view_hint: View | None = None
    label: str = ""
    sex: str | None = None

    def __post_init__(self) -> None:
        if self.sex not in (None, "M", "F"):
            raise InvalidInputError(f"photo sex must be 'M', 'F' or None, got {self.sex!r}")
        px = self.pixels
        if not isinstance(px, np.ndarray) or px.ndim != 3 or px.shape[2] != 3:
            shape = getattr(px, "shape", None)
            raise InvalidInputError(f"photo pixels must be H×W×3, got shape {shape}")
        if px.dtype != np.uint8:
            raise InvalidInputError(f"photo pixels must be uint8, got {px.dtype}")
        if px.shape[0] < 16 or px.shape[1] < 16:
            raise InvalidInputError(f"photo is too small to analyse: {px.shape[1]}×{px.shape[0]}")

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


@dataclass(frozen=True)
class FaceBox:
    """A detected face: box corners in pixels and the detector's score (0..1)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def size(self) -> float:
        """Geometric mean of box width and height, in pixels."""
        return float(np.sqrt(max(self.x1 - self.x0, 0.0) * max(self.y1 - self.y0, 0.0)))


@dataclass(frozen=True)
class LandmarkSet:
    """A backend's raw output for one face, in the backend's own point scheme.

    ``scheme`` names the point order ("ibug68", "mediapipe478", "insightface106").
    ``points`` is N×2 (x, y) float pixels, NaN where a point is absent (the fused ensemble's
    ``semantic`` rows the members did not find); ``confidence`` N values in 0..1;
    ``overall_confidence`` a finite value in 0..1. The constructor checks all three.
    """

    scheme: str
    points: FloatArray
    confidence: FloatArray
    overall_confidence: float
    model: ModelIdentity
    box: FaceBox | None = None

    def __post_init__(self) -> None:
        pts, conf = self.points, self.confidence
        if not isinstance(pts, np.ndarray) or pts.ndim != 2 or pts.shape[1] != 2:
            raise InvalidInputError(
                f"LandmarkSet.points must be N×2, got shape {getattr(pts, 'shape', None)}"
            )
        if not np.issubdtype(pts.dtype, np.floating):
            raise InvalidInputError(f"LandmarkSet.points must be float, got {pts.dtype}")
        infinite = np.isinf(pts[:, 0]) | np.isinf(pts[:, 1])
        if infinite.any():
            raise InvalidInputError(
                f"LandmarkSet.points must be finite or NaN (absent), got ±inf in {_rows(infinite)}"
            )
        if not isinstance(conf, np.ndarray) or conf.shape != (len(pts),):
            raise InvalidInputError(
                f"LandmarkSet.confidence must have shape ({len(pts)},) like the points, "
                f"got {getattr(conf, 'shape', None)}"
            )
        outside = ~((conf >= 0.0) & (conf <= 1.0))  # NaN counts as outside
        if outside.any():
            raise InvalidInputError(
                f"LandmarkSet.confidence must lie in 0..1, got {conf[outside][:3].tolist()} "
                f"in {_rows(outside)}"
            )
        overall = self.overall_confidence
        if not isinstance(overall, int | float | np.integer | np.floating) or not (
            0.0 <= overall <= 1.0
        ):
            raise InvalidInputError(
                f"LandmarkSet.overall_confidence must be a finite number in 0..1, got {overall!r}"
            )


def _rows(mask: npt.NDArray[np.bool_]) -> str:
    """The first offending rows of a check, for its message."""
    rows = np.flatnonzero(mask)
    return f"rows {rows[:3].tolist()}{' …' if len(rows) > 3 else ''}"


@dataclass(frozen=True)
class SemanticLandmarks:
    """Named points (see :mod:`analysis.landmark_names`) with per-point confidence.

    ``unconfirmed`` names the points whose left/right or midline position the photo could
    not confirm (:mod:`analysis.refine`, :mod:`analysis.confirm`): there the position is the
    landmark model's, which is known to understate asymmetry, and measurements of asymmetry
    built on them are flagged.
    """

    points: dict[str, tuple[float, float]]
    confidence: dict[str, float]
    sources: tuple[ModelIdentity, ...]
    unconfirmed: frozenset[str] = frozenset()

    def has(self, *names: str) -> bool:
        from analysis.landmark_names import resolve

        return all(resolve(n) in self.points for n in names)

    def xy(self, name: str) -> FloatArray:
        """The point as a float array; KeyError names the missing landmark."""
        from analysis.landmark_names import resolve

        key = resolve(name)
        if key not in self.points:
            raise KeyError(f"landmark {name!r} ({key}) not available")
        return np.asarray(self.points[key], dtype=np.float64)


@dataclass(frozen=True)
class Scale:
    """Millimetres per pixel with its source and relative (1-sigma) uncertainty."""

    mm_per_px: float | None
    source: ScaleSource
    relative_uncertainty: float
    note: str = ""


@dataclass(frozen=True)
class HeadPose:
    """Head rotation in degrees: yaw (+ = subject turns to their left), pitch, roll."""

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class Quality:
    """Photo and face quality, with the reasons a result may not be trusted."""

    face_count: int
    main_face_index: int
    detection_confidence: float
    face_size_px: float
    blur: float
    pose: HeadPose | None
    mouth_open: bool
    smile: bool
    occlusion_hints: tuple[str, ...]
    view: View
    view_source: ViewSource
    flags: tuple[Flag, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "view_source", ViewSource(self.view_source))
        object.__setattr__(self, "flags", as_flags(self.flags))

    @property
    def reliable(self) -> bool:
        return not self.flags


#: Measurement flag: the photo did not confirm the asymmetry this value reports — the mirror
#: registration did not match on the photo and all its perturbed copies, or the value did
#: not hold across them —; the value is the landmark model's, which understates asymmetry
#: (set by the measurement engine from ``SemanticLandmarks.unconfirmed``; see
#: analysis.refine and analysis.confirm).
ASYMMETRY_UNCONFIRMED: Final = Flag.ASYMMETRY_UNCONFIRMED


@dataclass(frozen=True)
class Measurement:
    """One value of the measurement catalogue.

    ``unit`` is UCUM ("mm", "deg", "{ratio}", "%", "[px]"); ``uncertainty`` is 1-sigma in
    the same unit. ``flags`` are reliability reasons; an unreliable value is reported as
    such, never hidden.
    """

    id: str
    name: str
    value: float
    unit: str
    uncertainty: float
    landmarks: tuple[str, ...]
    scale_source: ScaleSource | None = None
    flags: tuple[Flag, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "flags", as_flags(self.flags))

    @property
    def reliable(self) -> bool:
        return not self.flags


@dataclass(frozen=True)
class Evidence:
    """Why a finding was raised: a measurement against a norm."""

    measurement_id: str
    value: float
    unit: str
    norm_mean: float | None = None
    norm_sd: float | None = None
    z_score: float | None = None
    norm_citation: str = ""
    population: str = ""


@dataclass(frozen=True)
class Finding:
    """An AI finding (not a diagnosis) with its evidence and confidence (0..1)."""

    id: str
    title: str
    text: str
    severity: Severity
    confidence: float
    evidence: tuple[Evidence, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))


@dataclass(frozen=True)
class PhotoAnalysis:
    """Everything the 2D analysis says about one photo."""

    face_found: bool
    message: str
    landmarks: LandmarkSet | None = None
    semantic: SemanticLandmarks | None = None
    quality: Quality | None = None
    scale: Scale | None = None
    measurements: tuple[Measurement, ...] = ()
    findings: tuple[Finding, ...] = ()
    models: tuple[ModelIdentity, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def reliable(self) -> bool:
        return self.face_found and self.quality is not None and self.quality.reliable

    def measurement(self, measurement_id: str) -> Measurement:
        for m in self.measurements:
            if m.id == measurement_id:
                return m
        raise KeyError(f"measurement {measurement_id!r} not in this analysis")
