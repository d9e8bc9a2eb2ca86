"""3D landmarks and measurements → a Comprehensive 3D SR (TID 1500) for the 3D series.

The 3D coordinates (SCOORD3D, millimetres) are in the mesh's Frame of Reference
(:attr:`dicom.mesh.MeshTarget.frame_of_reference_uid`, the UID the Encapsulated STL / OBJ
carry), so a 3D viewer places the landmarks on the mesh. OHIF draws TID 1500 groups on 2D
images only and crashes on a Measurement Group without image coordinates
(``tests/support/ohif_sr_model.py``; :mod:`dicom.sr` solved the same problem for the 2D
report), so the tree is split the same way: what a 2D viewer can draw is drawn on the
front rendering (a Secondary Capture of :mod:`dicom.render_sc`, whose camera projects the
3D points to its pixels), and the 3D coordinates sit in the Qualitative Evaluations
container, which viewers do not draw::

    Imaging Measurement Report (TID 1500), UTF-8
    ├── language, device observer (the node), procedure reported
    ├── Image Library: the front rendering
    ├── Imaging Measurements
    │   ├── per ≤ 5 measurements: Measurement Group (TID 1410), one Tracking UID for all,
    │   │   Tracking Identifier "3D measurements"
    │   │   ├── Image Region SCOORD on the rendering: outline of the measurements'
    │   │   │   landmarks as projected (the rendering's face outline when none is seen)
    │   │   └── NUM per measurement + UCUM unit, method = the mesh's scale source,
    │   │       ± 1 SD uncertainty, reliability flags, TEXT Landmarks
    │   └── Measurement Group (TID 1501) "3D landmarks (front view)": NUM landmark count
    │       ── INFERRED FROM SCOORD MULTIPOINT of the landmarks projected into the view
    │       (a report with neither: one group, the face outline, 0 landmarks, since OHIF
    │       fails on an SR without a drawn group)
    └── Qualitative Evaluations (not drawn)
        ├── algorithm (TID 4019: reconstruction algorithm, version, licence, Device UID)
        ├── CODE Measurement Method = scale source (+ relative uncertainty %, note)
        ├── CODE finding = severity, per finding (as the 2D report: certainty, text,
        │   evidence; :func:`dicom.sr.finding_item`)
        ├── CODE "3D landmark" = the landmark, per landmark
        │   ├── SCOORD3D POINT (mm, mesh Frame of Reference)
        │   └── NUM ± 1 SD position uncertainty (mm)
        └── TEXT Disclaimer

The inputs are small typed records (:class:`Landmark3DEntry`, :class:`Measurement3DEntry`,
:class:`Report3D`) that the 3D landmark and measurement stages fill. Built with highdicom's
validating content items: a 3D report has a few hundred items, built once per series.
"""

from __future__ import annotations

import math
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass

import cv2
import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from analysis.types import Finding, ModelIdentity, ScaleSource
from dicom import codes
from dicom import sr_codes as tid
from dicom.context import ResultContext
from dicom.equipment import DISCLAIMER_TEXT, contributing_equipment, licence_note, model_device_uid
from dicom.mesh import MeshTarget
from dicom.render_sc import REPORT3D_SERIES_NUMBER, SeriesTarget
from dicom.source import study_header
from dicom.sr import finding_item
from dicom.uids import new_uid
from reconstruction.render_figure import Figure
from reconstruction.types import MeshScale, MeshScaleSource

CHARACTER_SET = "ISO_IR 192"
MEASUREMENTS_TRACKING_ID = "3D measurements"
LANDMARKS_TRACKING_ID = "3D landmarks (front view)"
SHOWN = 5  # OHIF draws at most five label lines per annotation
SCOORD_OFFSET = 0.5  # pixel centre → DICOM's pixel-corner origin

_CONTAINS = hd.sr.RelationshipTypeValues.CONTAINS
_PROPS = hd.sr.RelationshipTypeValues.HAS_PROPERTIES
_MOD = hd.sr.RelationshipTypeValues.HAS_CONCEPT_MOD
_OBS = hd.sr.RelationshipTypeValues.HAS_OBS_CONTEXT
_INFERRED = hd.sr.RelationshipTypeValues.INFERRED_FROM
_SELECTED = hd.sr.RelationshipTypeValues.SELECTED_FROM

_SOURCE = Code("260753009", "SCT", "Source")
_RECONSTRUCTION = Code("113961", "DCM", "Reconstruction Algorithm")

#: Private codes of the 3D report (scheme :data:`dicom.codes.PRIVATE_SCHEME`), kept here so
#: the 2D report's table is left as it is; values are unique across both tables (a test).
LANDMARK_3D = Code("lm3d", codes.PRIVATE_SCHEME, "3D landmark")
POSITION_UNCERTAINTY = Code("lm3d-sd", codes.PRIVATE_SCHEME, "3D position uncertainty (1 SD)")
SCALE_UNCERTAINTY = Code("scale-rel-sd", codes.PRIVATE_SCHEME, "Scale relative uncertainty")
SCALE_SOURCE_3D: dict[MeshScaleSource, Code] = {
    MeshScaleSource.MARKER_BOARD: Code("scale-board", codes.PRIVATE_SCHEME, "Marker board"),
    MeshScaleSource.KNOWN_DISTANCE: Code(
        "scale-known", codes.PRIVATE_SCHEME, "Configured known distance"
    ),
    MeshScaleSource.IRIS_DIAMETER: codes.SCALE_SOURCE_CODES[ScaleSource.IRIS_DIAMETER],
    MeshScaleSource.SOURCE_DATA: Code("scale-source", codes.PRIVATE_SCHEME, "Source data in mm"),
    MeshScaleSource.NONE: codes.SCALE_SOURCE_CODES[ScaleSource.NONE],
}
PHOTOS_IN_SERIES = Code("views-photos", codes.PRIVATE_SCHEME, "Photos in the series")
VIEWS_REGISTERED = Code("views-registered", codes.PRIVATE_SCHEME, "Views registered")
REPROJECTION_ERROR = Code(
    "reproj-px", codes.PRIVATE_SCHEME, "Mean reprojection error of the camera registration"
)
UNIT_PHOTOS = Code("{photos}", "UCUM", "photos")
UNIT_VIEWS = Code("{views}", "UCUM", "views")
UNIT_PIXELS = Code("{pixels}", "UCUM", "pixels")
TABLE_3D: tuple[Code, ...] = (
    PHOTOS_IN_SERIES,
    VIEWS_REGISTERED,
    REPROJECTION_ERROR,
    LANDMARK_3D,
    POSITION_UNCERTAINTY,
    SCALE_UNCERTAINTY,
    *(c for c in SCALE_SOURCE_3D.values() if c not in codes.TABLE),
)


@dataclass(frozen=True)
class Landmark3DEntry:
    """One 3D landmark: its key (the 2D vocabulary's, :mod:`analysis.landmark_names`),
    position in the mesh's frame (mm) and 1-SD position uncertainty (mm)."""

    key: str
    position_mm: tuple[float, float, float]
    uncertainty_mm: float


@dataclass(frozen=True)
class Measurement3DEntry:
    """One 3D measurement: id and name as in the 2D catalogue, value in UCUM ``unit``, 1-SD
    ``uncertainty`` in the same unit, the landmark keys it stands on, reliability flags."""

    id: str
    name: str
    value: float
    unit: str
    uncertainty: float
    landmarks: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Registration:
    """How the cameras were found: the series' photos, the views structure from motion
    registered, and their mean reprojection error (px) — the reconstruction's first
    quality figure, stated in the report."""

    photos: int
    registered: int
    reprojection_error_px: float


@dataclass(frozen=True)
class Report3D:
    """What the 3D report states: landmarks, measurements, the mesh's scale provenance,
    the reconstruction algorithm (plus any other models the values depend on) and the
    findings the rules raised on the measurements."""

    landmarks: tuple[Landmark3DEntry, ...]
    measurements: tuple[Measurement3DEntry, ...]
    scale: MeshScale
    algorithm: ModelIdentity
    models: tuple[ModelIdentity, ...] = ()
    findings: tuple[Finding, ...] = ()
    registration: Registration | None = None


def build_sr3d(
    sources: SequenceOf[Dataset],
    report: Report3D,
    ctx: ResultContext,
    mesh_target: MeshTarget,
    front: tuple[Dataset, Figure],
    target: SeriesTarget | None = None,
    instance_number: int | None = None,
) -> hd.sr.Comprehensive3DSR:
    """The 3D report in its own series (``target``; default: a new one, number 906).

    ``front`` is the front rendering's SC and the figure it was made of (its camera maps
    the 3D landmarks onto the SC's pixels for the drawn regions).
    """
    if not report.scale.is_metric:
        raise ValueError("the 3D report needs a metric scale (scale source 'none')")
    header = study_header(sources, "one reconstruction")
    target = target or SeriesTarget(REPORT3D_SERIES_NUMBER, "facenode AI 3D measurements")
    sc, figure = front
    if str(sc.StudyInstanceUID) != str(header.StudyInstanceUID):
        raise ValueError("the front rendering must be in the photos' study")
    image = _ImageRef(str(sc.SOPClassUID), str(sc.SOPInstanceUID), int(sc.Rows), int(sc.Columns))
    landmarks = {lm.key: lm for lm in report.landmarks if _finite(lm.position_mm)}
    projected = _project(landmarks, figure)
    groups = _measurement_groups(report, projected, figure, image)
    groups += _landmark_group(projected, image)
    if not groups:  # OHIF fails on an SR without a drawn group: say "none" on the rendering
        groups = _empty_group(figure, image)
    root = hd.sr.ContainerContentItem(codes.REPORT_TITLE, template_id="1500")
    root.ContentSequence = hd.sr.ContentSequence(
        [
            hd.sr.CodeContentItem(tid.LANGUAGE, tid.EN_US, relationship_type=_MOD),
            *_observer(ctx),
            hd.sr.CodeContentItem(
                tid.PROCEDURE_REPORTED, codes.IMAGING_PROCEDURE, relationship_type=_MOD
            ),
            _image_library(image),
            _container(tid.IMAGING_MEASUREMENTS, groups),
            _evaluations(report, ctx, landmarks, mesh_target),
        ],
        is_root=False,
    )
    number = target.instance_number_start if instance_number is None else instance_number
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*sources, sc],
        content=root,
        series_instance_uid=target.series_uid,
        series_number=target.series_number,
        sop_instance_uid=str(new_uid()),
        instance_number=number,
        manufacturer=ctx.manufacturer,
        is_complete=True,
        institution_name=ctx.institution_name,
        contributing_equipment=contributing_equipment(ctx, [report.algorithm, *report.models]),
        series_description=target.series_description,
        manufacturer_model_name=ctx.model_name,
        software_versions=ctx.software_version or "0",
        device_serial_number=ctx.device_serial,
    )
    sr.SpecificCharacterSet = CHARACTER_SET
    sr.DeviceUID = str(ctx.node_device_uid)
    if ctx.station_name:
        sr.StationName = ctx.station_name
    sr.CodingSchemeIdentificationSequence = [codes.coding_scheme_item(ctx.manufacturer)]
    return sr


# --- items ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ImageRef:
    sop_class_uid: str
    sop_instance_uid: str
    rows: int
    columns: int

    def item(self, name: Code, relationship: hd.sr.RelationshipTypeValues) -> hd.sr.ContentItem:
        return hd.sr.ImageContentItem(
            name, self.sop_class_uid, self.sop_instance_uid, relationship_type=relationship
        )


def _container(
    name: Code, children: list[hd.sr.ContentItem], template: str | None = None
) -> hd.sr.ContainerContentItem:
    item = hd.sr.ContainerContentItem(name, template_id=template, relationship_type=_CONTAINS)
    item.ContentSequence = hd.sr.ContentSequence(children)
    return item


def _with(item: hd.sr.ContentItem, children: list[hd.sr.ContentItem]) -> hd.sr.ContentItem:
    if children:
        item.ContentSequence = hd.sr.ContentSequence(children)
    return item


def _text(name: Code, value: str, relationship: hd.sr.RelationshipTypeValues) -> hd.sr.ContentItem:
    return hd.sr.TextContentItem(name, value or "-", relationship_type=relationship)


def _scoord(
    name: Code,
    graphic: str,
    points: np.ndarray,
    image: _ImageRef,
    relationship: hd.sr.RelationshipTypeValues,
) -> hd.sr.ContentItem:
    item = hd.sr.ScoordContentItem(
        name, graphic, np.asarray(points, dtype=np.float64) + SCOORD_OFFSET,
        relationship_type=relationship,
    )  # fmt: skip
    return _with(item, [image.item(_SOURCE, _SELECTED)])


def _finite(p: SequenceOf[float]) -> bool:
    return all(math.isfinite(float(c)) for c in p)


def _observer(ctx: ResultContext) -> list[hd.sr.ContentItem]:
    items: list[hd.sr.ContentItem] = [
        hd.sr.CodeContentItem(tid.OBSERVER_TYPE, codes.OBSERVER_DEVICE, relationship_type=_OBS),
        hd.sr.UIDRefContentItem(tid.DEVICE_UID, str(ctx.node_device_uid), relationship_type=_OBS),
    ]
    for name, value in (
        (tid.DEVICE_NAME, ctx.station_name or ctx.model_name),
        (tid.DEVICE_MANUFACTURER, ctx.manufacturer),
        (tid.DEVICE_MODEL, ctx.model_name),
    ):
        items.append(_text(name, value, _OBS))
    return items


def _image_library(image: _ImageRef) -> hd.sr.ContentItem:
    entry = image.item(_SOURCE, _CONTAINS)
    group = _container(tid.IMAGE_LIBRARY_GROUP, [entry])
    return _container(tid.IMAGE_LIBRARY, [group])


# --- drawn on the front rendering -------------------------------------------------------


def _project(landmarks: dict[str, Landmark3DEntry], figure: Figure) -> dict[str, np.ndarray]:
    """Canvas pixel (centre convention) of each landmark inside the rendering's box."""
    if not landmarks:
        return {}
    keys = list(landmarks)
    xy, z = figure.to_canvas(np.array([landmarks[k].position_mm for k in keys]))
    x0, y0, x1, y1 = figure.render_box
    out = {}
    for k, (x, y), depth in zip(keys, xy, z, strict=True):
        if depth > 0 and x0 <= x <= x1 - 1 and y0 <= y <= y1 - 1:
            out[k] = np.array([x, y])
    return out


def _outline(points: list[np.ndarray], figure: Figure) -> np.ndarray:
    """A closed POLYLINE around ``points`` (convex hull), never of 4–5 points (OHIF would
    offer to re-measure that as its rectangle tool); the rendering's box inset when fewer
    than three distinct points are given."""
    pts = np.unique(np.round(np.asarray(points, dtype=np.float64).reshape(-1, 2), 3), axis=0)
    if len(pts) >= 3:
        hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    else:
        x0, y0, x1, y1 = figure.render_box
        c = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        r = np.array([0.35 * (x1 - x0), 0.4 * (y1 - y0)])
        if len(pts):
            c = pts.mean(axis=0)
            r = np.maximum(np.ptp(pts, axis=0) / 2, 6.0) if len(pts) > 1 else np.array([6.0, 6.0])
        t = np.linspace(0, 2 * np.pi, 8, endpoint=False)
        hull = c + np.column_stack([np.cos(t), np.sin(t)]) * r
    if len(hull) in (3, 4):  # with the closing point it would be 4 or 5 points
        mids = (hull + np.roll(hull, -1, axis=0)) / 2
        hull = np.stack([hull, mids], axis=1).reshape(-1, 2)
    return np.vstack([hull, hull[:1]])


def _measurement_num(m: Measurement3DEntry, scale: MeshScale) -> hd.sr.ContentItem:
    unit = codes.unit_code(m.unit)
    children: list[hd.sr.ContentItem] = [
        hd.sr.CodeContentItem(
            codes.MEASUREMENT_METHOD, SCALE_SOURCE_3D[scale.source], relationship_type=_MOD
        )
    ]
    if math.isfinite(m.uncertainty) and m.uncertainty >= 0:
        children += [
            hd.sr.NumContentItem(bound, m.uncertainty, unit, relationship_type=_PROPS)
            for bound in (codes.UPPER_UNCERTAINTY, codes.LOWER_UNCERTAINTY)
        ]
    children += [
        hd.sr.CodeContentItem(codes.MEASUREMENT_FLAG, codes.flag_code(f), relationship_type=_PROPS)
        for f in m.flags
    ]
    if m.landmarks:
        children.append(_text(codes.LANDMARKS_USED, ", ".join(m.landmarks), _PROPS))
    num = hd.sr.NumContentItem(
        codes.measurement_concept(m.id, m.name), m.value, unit, relationship_type=_CONTAINS
    )
    return _with(num, children)


def _measurement_groups(
    report: Report3D, projected: dict[str, np.ndarray], figure: Figure, image: _ImageRef
) -> list[hd.sr.ContentItem]:
    values = [m for m in report.measurements if math.isfinite(m.value)]
    uid = str(new_uid())
    groups: list[hd.sr.ContentItem] = []
    for start in range(0, len(values), SHOWN):
        chunk = values[start : start + SHOWN]
        pts = [projected[k] for m in chunk for k in m.landmarks if k in projected]
        region = _scoord(tid.IMAGE_REGION, "POLYLINE", _outline(pts, figure), image, _CONTAINS)
        groups.append(
            _container(
                tid.MEASUREMENT_GROUP,
                [
                    _text(tid.TRACKING_ID, MEASUREMENTS_TRACKING_ID, _OBS),
                    hd.sr.UIDRefContentItem(tid.TRACKING_UID, uid, relationship_type=_OBS),
                    region,
                    *(_measurement_num(m, report.scale) for m in chunk),
                ],
                template="1410",
            )
        )
    return groups


def _landmark_group(projected: dict[str, np.ndarray], image: _ImageRef) -> list[hd.sr.ContentItem]:
    if not projected:
        return []
    pts = np.array(list(projected.values()))
    coords = _scoord(_SOURCE, "MULTIPOINT", pts, image, _INFERRED)
    carrier = hd.sr.NumContentItem(
        codes.LANDMARK_COUNT, float(len(pts)), codes.UNIT_NONE, relationship_type=_CONTAINS
    )
    return [
        _container(
            tid.MEASUREMENT_GROUP,
            [
                _text(tid.TRACKING_ID, LANDMARKS_TRACKING_ID, _OBS),
                hd.sr.UIDRefContentItem(tid.TRACKING_UID, str(new_uid()), relationship_type=_OBS),
                _with(carrier, [coords]),
            ],
            template="1501",
        )
    ]


def _empty_group(figure: Figure, image: _ImageRef) -> list[hd.sr.ContentItem]:
    region = _scoord(tid.IMAGE_REGION, "POLYLINE", _outline([], figure), image, _CONTAINS)
    count = hd.sr.NumContentItem(
        codes.LANDMARK_COUNT, 0.0, codes.UNIT_NONE, relationship_type=_CONTAINS
    )
    return [
        _container(
            tid.MEASUREMENT_GROUP,
            [
                _text(tid.TRACKING_ID, MEASUREMENTS_TRACKING_ID, _OBS),
                hd.sr.UIDRefContentItem(tid.TRACKING_UID, str(new_uid()), relationship_type=_OBS),
                region,
                count,
            ],
            template="1410",
        )
    ]


# --- Qualitative Evaluations: not drawn ---------------------------------------------------


def _algorithm(report: Report3D, ctx: ResultContext) -> list[hd.sr.ContentItem]:
    model = report.algorithm
    params = [
        f"model id: {model.id}",
        licence_note(model),
        f"device UID: {model_device_uid(model)}",
        f"3D landmarks and measurements: {ctx.model_name} {ctx.software_version}",
    ]
    params += [f"also used: {o.name} {o.version} ({licence_note(o)})" for o in report.models]
    return [
        _text(tid.ALGORITHM_NAME, model.name or model.id, _MOD),
        _text(tid.ALGORITHM_VERSION, model.version or "unknown", _MOD),
        _text(tid.ALGORITHM_MANUFACTURER, ctx.manufacturer, _MOD),
        *(_text(tid.ALGORITHM_PARAMETERS, p, _MOD) for p in params),
        hd.sr.CodeContentItem(tid.ALGORITHM_FAMILY, _RECONSTRUCTION, relationship_type=_MOD),
    ]


def _registration(registration: Registration | None) -> list[hd.sr.ContentItem]:
    if registration is None:
        return []
    r = registration
    return [
        hd.sr.NumContentItem(PHOTOS_IN_SERIES, r.photos, UNIT_PHOTOS, relationship_type=_CONTAINS),
        hd.sr.NumContentItem(
            VIEWS_REGISTERED, r.registered, UNIT_VIEWS, relationship_type=_CONTAINS
        ),
        hd.sr.NumContentItem(
            REPROJECTION_ERROR,
            round(r.reprojection_error_px, 3),
            UNIT_PIXELS,
            relationship_type=_CONTAINS,
        ),
    ]


def _scale(scale: MeshScale) -> hd.sr.ContentItem:
    children: list[hd.sr.ContentItem] = [
        hd.sr.NumContentItem(
            SCALE_UNCERTAINTY,
            100.0 * scale.relative_uncertainty,
            codes.UNIT_PERCENT,
            relationship_type=_PROPS,
        )  # fmt: skip
    ]
    if scale.note:
        children.append(_text(codes.SCALE_NOTE, scale.note, _PROPS))
    item = hd.sr.CodeContentItem(
        codes.MEASUREMENT_METHOD, SCALE_SOURCE_3D[scale.source], relationship_type=_CONTAINS
    )
    return _with(item, children)


def _landmark_3d(lm: Landmark3DEntry, frame_uid: str) -> hd.sr.ContentItem:
    point = hd.sr.Scoord3DContentItem(
        _SOURCE, "POINT", np.asarray([lm.position_mm], dtype=np.float64), frame_uid,
        relationship_type=_PROPS,
    )  # fmt: skip
    children: list[hd.sr.ContentItem] = [point]
    if math.isfinite(lm.uncertainty_mm) and lm.uncertainty_mm >= 0:
        children.append(
            hd.sr.NumContentItem(
                POSITION_UNCERTAINTY, lm.uncertainty_mm, codes.UNIT_MM, relationship_type=_PROPS
            )
        )
    item = hd.sr.CodeContentItem(
        LANDMARK_3D, codes.landmark_concept(lm.key), relationship_type=_CONTAINS
    )
    return _with(item, children)


def _evaluations(
    report: Report3D,
    ctx: ResultContext,
    landmarks: dict[str, Landmark3DEntry],
    mesh_target: MeshTarget,
) -> hd.sr.ContentItem:
    items = [
        *_algorithm(report, ctx),
        *_registration(report.registration),
        _scale(report.scale),
        *(hd.sr.CodeContentItem.from_dataset(finding_item(f)) for f in report.findings),
        *(_landmark_3d(lm, mesh_target.frame_of_reference_uid) for lm in landmarks.values()),
        _text(
            codes.DISCLAIMER,
            f"{DISCLAIMER_TEXT}. 3D landmarks, measurements and findings were made by "
            "software from a photogrammetric reconstruction and must be reviewed by a "
            "clinician.",
            _CONTAINS,
        ),
    ]
    return _container(codes.QUALITATIVE_EVALUATIONS, items)
