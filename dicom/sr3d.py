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
    ├── Imaging Measurements (drawn on the front rendering, as the 2D report on the photo)
    │   ├── per family (:mod:`dicom.sr_drawn`): Measurement Group (TID 1410), Tracking
    │   │   Identifier = family title ("Regional asymmetry" for the asymmetry values)
    │   │   ├── Image Region SCOORD: label leader point right of the face, then the
    │   │   │   outline of its measurements' landmarks as projected (a ladder of label
    │   │   │   boxes beside the face, :mod:`dicom.sr_layout`)
    │   │   └── NUM per measurement (≤ 5 in the first group, the rest in a second one
    │   │       with the same Tracking UID) + UCUM unit, method = the mesh's scale
    │   │       source, ± 1 SD uncertainty, reliability flags, TEXT Landmarks
    │   ├── per measurement: Measurement Group, Tracking Identifier = Cornerstone3D's
    │   │   ArrowAnnotate (what OHIF's measurement panel lists once tracked,
    │   │   :mod:`dicom.sr_arrows`): arrow at its landmark, Comment "<name>: <value>
    │   │   <unit>", text position on a ladder right of the face
    │   ├── values none of whose landmarks is on the rendering: per ≤ 5, a group
    │   │   "3D measurements" labelled on an ellipse inside the rendering (no arrow)
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
validating content items (the drawn groups with :mod:`dicom.sr_items`, shared with the 2D
report, and read into highdicom's items): a 3D report has a few hundred items, built once
per series.
"""

from __future__ import annotations

import math
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from analysis.landmark_names import resolve
from analysis.types import Finding, ModelIdentity, ScaleSource
from dicom import codes
from dicom import sr_codes as tid
from dicom import sr_items as it
from dicom.context import ResultContext
from dicom.equipment import DISCLAIMER_TEXT, contributing_equipment, licence_note, model_device_uid
from dicom.mesh import MeshTarget
from dicom.render_sc import REPORT3D_SERIES_NUMBER, SeriesTarget
from dicom.source import study_header
from dicom.sr import finding_item
from dicom.sr_arrows import arrow_groups
from dicom.sr_drawn import SCOORD_OFFSET, Point, family_groups, scoord
from dicom.sr_families import SHOWN, family_of, rank
from dicom.uids import new_uid
from reconstruction.render_figure import Figure
from reconstruction.types import MeshScale, MeshScaleSource

CHARACTER_SET = "ISO_IR 192"
MEASUREMENTS_TRACKING_ID = "3D measurements"
LANDMARKS_TRACKING_ID = "3D landmarks (front view)"
#: The front rendering's least height on screen (px) that its label boxes are spaced for
#: (:mod:`dicom.sr_layout`): fitted to OHIF's viewport on a 1920 × 1080 screen it is
#: ≈ 1000 px tall (side panels open or not), so the boxes do not overlap without a zoom;
#: a smaller viewport (a 2 × 2 layout) needs one.
RENDERING_SCREEN_PX = 900.0

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
    ``uncertainty`` in the same unit, the landmark keys it stands on, reliability flags,
    and the family it is drawn with ("": the 2D catalogue's, :mod:`dicom.sr_families`)."""

    id: str
    name: str
    value: float
    unit: str
    uncertainty: float
    landmarks: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    family: str = ""


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
    image = it.ImageRef(str(sc.SOPClassUID), str(sc.SOPInstanceUID), None)
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


def _image_library(image: it.ImageRef) -> hd.sr.ContentItem:
    entry = hd.sr.ImageContentItem(
        _SOURCE, image.sop_class_uid, image.sop_instance_uid, relationship_type=_CONTAINS
    )
    group = _container(tid.IMAGE_LIBRARY_GROUP, [entry])
    return _container(tid.IMAGE_LIBRARY, [group])


# --- drawn on the front rendering -------------------------------------------------------


def _project(landmarks: dict[str, Landmark3DEntry], figure: Figure) -> dict[str, Point]:
    """Canvas pixel (centre convention) of each landmark inside the rendering's box, by
    canonical key (:func:`analysis.landmark_names.resolve`, as the measurements name them)."""
    if not landmarks:
        return {}
    keys = list(landmarks)
    xy, z = figure.to_canvas(np.array([landmarks[k].position_mm for k in keys]))
    x0, y0, x1, y1 = figure.render_box
    out = {}
    for k, (x, y), depth in zip(keys, xy, z, strict=True):
        if depth > 0 and x0 <= x <= x1 - 1 and y0 <= y <= y1 - 1:
            out[resolve(k)] = (float(x), float(y))
    return out


def _face_outline(figure: Figure) -> list[Point]:
    """An ellipse inside the rendering's box (8 points, closed): where values are drawn
    that have no landmark on the rendering."""
    x0, y0, x1, y1 = figure.render_box
    t = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    xs = (x0 + x1) / 2 + 0.35 * (x1 - x0) * np.cos(t)
    ys = (y0 + y1) / 2 + 0.4 * (y1 - y0) * np.sin(t)
    ring = [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]
    return [*ring, ring[0]]


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


def _family(m: Measurement3DEntry) -> str:
    return m.family or family_of(m.id)


def _order(m: Measurement3DEntry) -> int:
    return 0 if m.family else rank(m.id)  # a family of its own: in the given order


def _measurement_groups(
    report: Report3D, projected: dict[str, Point], figure: Figure, image: it.ImageRef
) -> list[hd.sr.ContentItem]:
    """The families' labelled regions and the measurements' arrows (:mod:`dicom.sr_drawn`,
    :mod:`dicom.sr_arrows`), as in the 2D report; values none of whose landmarks is on
    the rendering are labelled on the face's outline (no arrow: nowhere to point)."""
    values = [m for m in report.measurements if math.isfinite(m.value)]
    drawn = [m for m in values if any(resolve(k) in projected for k in m.landmarks)]
    undrawn = [m for m in values if m not in drawn]

    def num(m: Measurement3DEntry, _keys: list[str]) -> Dataset:
        return _measurement_num(m, report.scale)

    scale = figure.image.shape[0] / RENDERING_SCREEN_PX  # image px per screen px
    groups = family_groups(
        drawn, projected, image, num, family=_family, order=_order, image_per_px=scale
    )
    groups += arrow_groups(drawn, projected, frozenset(), image, SCOORD_OFFSET, scale)
    uid = str(new_uid())
    for start in range(0, len(undrawn), SHOWN):
        region = it.scoord(
            tid.IMAGE_REGION, "POLYLINE", scoord(_face_outline(figure)), image, it.CONTAINS
        )
        chunk = [num(m, []) for m in undrawn[start : start + SHOWN]]
        groups.append(_group(MEASUREMENTS_TRACKING_ID, uid, [region, *chunk], "1410"))
    return [hd.sr.ContainerContentItem.from_dataset(g) for g in groups]


def _group(ident: str, uid: str, items: list[Dataset], template: str) -> Dataset:
    head = [
        it.text(tid.TRACKING_ID, ident, it.HAS_OBS_CONTEXT),
        it.uidref(tid.TRACKING_UID, uid, it.HAS_OBS_CONTEXT),
    ]
    return it.container(tid.MEASUREMENT_GROUP, it.CONTAINS, [*head, *items], template=template)


def _landmark_group(projected: dict[str, Point], image: it.ImageRef) -> list[hd.sr.ContentItem]:
    if not projected:
        return []
    coords = it.scoord(
        it.SOURCE, "MULTIPOINT", scoord(list(projected.values())), image, it.INFERRED_FROM
    )
    count = it.num(
        codes.LANDMARK_COUNT, float(len(projected)), codes.UNIT_NONE, it.CONTAINS, children=[coords]
    )
    group = _group(LANDMARKS_TRACKING_ID, str(new_uid()), [count], "1501")
    return [hd.sr.ContainerContentItem.from_dataset(group)]


def _empty_group(figure: Figure, image: it.ImageRef) -> list[hd.sr.ContentItem]:
    region = it.scoord(
        tid.IMAGE_REGION, "POLYLINE", scoord(_face_outline(figure)), image, it.CONTAINS
    )
    count = it.num(codes.LANDMARK_COUNT, 0.0, codes.UNIT_NONE, it.CONTAINS)
    group = _group(MEASUREMENTS_TRACKING_ID, str(new_uid()), [region, count], "1410")
    return [hd.sr.ContainerContentItem.from_dataset(group)]


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
