"""PhotoAnalysis → Comprehensive 3D SR (TID 1500 Measurement Report) in the photo's study.

The tree is shaped by what viewers draw (OHIF 3.12 / 3.13, see REFERENCES.md). A viewer
makes one annotation per Measurement Group and needs image coordinates in every group: a
group-level SCOORD (TID 1410), or a NUM whose *only* child is its SCOORD (OHIF 3.12 skips
a NUM with more children). It labels the annotation "<NUM name>: <value> <unit>" from the
group's top-level NUMs (five at most). So each measurement is its own TID 1410 group with
its region, the landmarks are one TID 1501 group per face region, and everything that has
no place on the image sits in the report's Qualitative Evaluations container, which
viewers do not draw. SCOORD coordinates are on the source photo, origin at the top-left
*corner* of the first pixel (our pixel-centre coordinates + 0.5)::

    Imaging Measurement Report (TID 1500), UTF-8
    ├── language, device observer (the node), procedure reported, image library (the photo)
    ├── Imaging Measurements
    │   ├── per measurement: Measurement Group (TID 1410), Tracking Identifier = its name
    │   │   ├── Image Region SCOORD: a line for two landmarks, else their outline
    │   │   ├── NUM value + UCUM unit (method = scale source, ± 1 SD uncertainty)
    │   │   ├── CODE Reliability flag per flag
    │   │   └── TEXT Landmarks: the landmark keys the value stands on
    │   └── per face region: Measurement Group (TID 1501) "Landmarks: eyes"
    │       ├── NUM Landmarks in region ── INFERRED FROM SCOORD MULTIPOINT (in order)
    │       └── NUM per landmark, named by the landmark, valued by its confidence
    └── Qualitative Evaluations (not drawn)
        ├── algorithm (TID 4019: main model, version, licence, Device UID), once
        ├── CODE Face detection (+ message, face count, detection confidence, face size)
        ├── CODE Image View (+ view source, head yaw / pitch / roll)
        ├── CODE Measurement Method = scale source (+ image scale ± 1 SD, note)
        ├── CODE Result reliability (+ quality flags, blur, mouth open, smile, occlusion)
        ├── CODE per finding (value = severity; + certainty, description, evidence)
        └── TEXT Disclaimer "AI result - not a diagnosis"

No group is drawn as a lone POINT or a 4/5-point POLYLINE: OHIF would offer to "track"
those as its probe / rectangle tools and re-measure them in pixels (see
:func:`_not_a_rectangle`). A result without landmarks (no face) has one group: the photo's outline
labelled with the number of faces (0), as OHIF fails on an SR without a measurement.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence

import numpy as np
from highdicom.sr import (
    AlgorithmIdentification,
    CodeContentItem,
    CodedConcept,
    Comprehensive3DSR,
    ContainerContentItem,
    CoordinatesForMeasurement,
    DeviceObserverIdentifyingAttributes,
    ImageRegion,
    Measurement,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    NumContentItem,
    ObservationContext,
    ObserverContext,
    PlanarROIMeasurementsAndQualitativeEvaluations,
    QualitativeEvaluation,
    RelationshipTypeValues,
    SourceImageForRegion,
    TextContentItem,
    TrackingIdentifier,
)
from highdicom.sr.value_types import ContentItem, ContentSequence
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from analysis.landmark_names import ALL_NAMES, IBUG68_REGIONS, IRIS, PROFILE, UPPER_FACE, resolve
from analysis.types import Finding, ModelIdentity, PhotoAnalysis, Quality, Scale
from analysis.types import Measurement as MeasurementResult
from dicom import codes
from dicom.context import ResultContext
from dicom.equipment import (
    DISCLAIMER_TEXT,
    apply_general_equipment,
    contributing_equipment,
    licence_note,
    model_device_uid,
)
from dicom.source import is_multiframe, reference_header
from dicom.uids import new_uid

log = logging.getLogger(__name__)

LANDMARK_GROUP_PREFIX = "Landmarks: "
SCOORD_OFFSET = 0.5  # pixel centre (analysis) → pixel corner origin (DICOM SCOORD)
CHARACTER_SET = "ISO_IR 192"  # UTF-8: names, "±", "–" in any text

_HAS_PROPERTIES = RelationshipTypeValues.HAS_PROPERTIES
_CONTAINS = RelationshipTypeValues.CONTAINS

Point = tuple[float, float]
Points = dict[str, tuple[Point, float]]


class _Image:
    """The source photo as SR references need it (frame 1 for multi-frame objects)."""

    def __init__(self, header: Dataset) -> None:
        self.sop_class_uid = str(header.SOPClassUID)
        self.sop_instance_uid = str(header.SOPInstanceUID)
        self.frames = [1] if is_multiframe(header) else None

    def for_region(self) -> SourceImageForRegion:
        return SourceImageForRegion(self.sop_class_uid, self.sop_instance_uid, self.frames)

    @property
    def origin(self) -> str | None:
        return "FRAME" if self.frames else None


def build_sr(source: Dataset, result: PhotoAnalysis, ctx: ResultContext) -> Comprehensive3DSR:
    """The TID 1500 report of one photo's analysis, in ``ctx``'s SR series."""
    header = reference_header(source)
    image = _Image(header)
    groups: list[
        PlanarROIMeasurementsAndQualitativeEvaluations | MeasurementsAndQualitativeEvaluations
    ] = []
    if result.face_found:
        points = _points(result)
        for m in result.measurements:
            group = _measurement_group(m, points, image)
            if group is not None:
                groups.append(group)
        groups.extend(_landmark_groups(points, image))
    if not groups:
        groups.append(_whole_photo_group(result, image, header))
    report = MeasurementReport(
        observation_context=_observation_context(ctx),
        procedure_reported=codes.concept(codes.IMAGING_PROCEDURE),
        imaging_measurements=groups,
        title=codes.concept(codes.REPORT_TITLE),
        referenced_images=[header],
    )
    report[0].ContentSequence.append(_evaluations(result, ctx))
    sr = Comprehensive3DSR(
        evidence=[header],
        content=report,
        series_instance_uid=ctx.sr_series_uid,
        series_number=ctx.sr_series_number,
        sop_instance_uid=str(new_uid()),
        instance_number=ctx.instance_number_start,
        manufacturer=ctx.manufacturer,
        is_complete=True,
        is_final=False,
        is_verified=False,
        institution_name=ctx.institution_name,
        performed_procedure_codes=[codes.concept(codes.IMAGING_PROCEDURE)],
        contributing_equipment=contributing_equipment(ctx, result.models),
        coding_schemes=[codes.coding_scheme_item(ctx.manufacturer)],
        series_description=ctx.sr_series_description,
        manufacturer_model_name=ctx.model_name,
        software_versions=ctx.software_version or "0",
        device_serial_number=ctx.device_serial,
    )
    sr.SpecificCharacterSet = CHARACTER_SET
    apply_general_equipment(sr, ctx)
    return sr


def _whole_photo_group(
    result: PhotoAnalysis, image: _Image, header: Dataset
) -> PlanarROIMeasurementsAndQualitativeEvaluations:
    """The one group of a report without landmarks: the faces counted on the whole photo.

    OHIF opens an SR at its first measurement and fails on an SR without one, so even
    "no face" is said where it is drawn: the photo's outline, labelled with the count.
    """
    w, h = float(header.Columns), float(header.Rows)
    corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h), (0.0, 0.0)]
    count = result.quality.face_count if result.quality is not None else int(result.face_found)
    region = ImageRegion(
        graphic_type="POLYLINE",
        graphic_data=np.array(_not_a_rectangle("POLYLINE", corners), dtype=np.float64),
        source_image=image.for_region(),
        pixel_origin_interpretation=image.origin,
    )
    return PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=str(new_uid()), identifier="Face detection"),
        referenced_region=region,
        measurements=[
            Measurement(
                name=codes.concept(codes.FACE_COUNT),
                value=float(count),
                unit=codes.concept(codes.UNIT_FACES),
            )
        ],
    )


def _observation_context(ctx: ResultContext) -> ObservationContext:
    device = DeviceObserverIdentifyingAttributes(
        uid=str(ctx.node_device_uid),
        name=ctx.station_name or ctx.model_name,
        manufacturer_name=ctx.manufacturer,
        model_name=ctx.model_name,
        serial_number=ctx.device_serial,
    )
    return ObservationContext(
        observer_device_context=ObserverContext(
            observer_type=codes.concept(codes.OBSERVER_DEVICE),
            observer_identifying_attributes=device,
        )
    )


# --- landmarks and coordinates --------------------------------------------------------


def _points(result: PhotoAnalysis) -> Points:
    """Landmark key → (pixel-centre point, confidence): semantic names, else raw points.

    Points without a finite position are left out (a SCOORD cannot hold them).
    """
    raw: Points = {}
    if result.semantic is not None:
        sem = result.semantic
        raw = {k: (p, float(sem.confidence.get(k, math.nan))) for k, p in sem.points.items()}
    elif result.landmarks is not None:
        ls = result.landmarks
        raw = {
            f"{ls.scheme}_{i:03d}": (
                (float(ls.points[i, 0]), float(ls.points[i, 1])),
                float(ls.confidence[i]) if i < len(ls.confidence) else math.nan,
            )
            for i in range(ls.points.shape[0])
        }
    out: Points = {}
    for key, (point, conf) in raw.items():
        if math.isfinite(point[0]) and math.isfinite(point[1]):
            out[key] = ((float(point[0]), float(point[1])), conf)
        else:
            log.warning("landmark %s has no finite position; not written", key)
    return out


def _scoord(points: Sequence[Point]) -> np.ndarray:
    return np.array([[x + SCOORD_OFFSET, y + SCOORD_OFFSET] for x, y in points], dtype=np.float64)


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def outline(points: Sequence[Point]) -> tuple[str, list[Point]]:
    """How a measurement is drawn: (graphic type, points) for its landmarks.

    One point is a POINT, two a line; more are their convex outline as a closed
    POLYLINE (first point repeated), or a line through the extremes when they are
    collinear, so a viewer draws the area a value stands on, not a zigzag through it.
    """
    ordered = list(dict.fromkeys(points))
    if len(ordered) == 1:
        return "POINT", ordered
    if len(ordered) == 2:
        return "POLYLINE", ordered
    unique = sorted(ordered)
    lower: list[Point] = []
    for p in unique:  # Andrew's monotone chain
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[Point] = []
    for p in reversed(unique):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    if len(hull) < 3:
        return "POLYLINE", [unique[0], unique[-1]]
    return "POLYLINE", [*hull, hull[0]]


def _coordinates(graphic: str, pts: Sequence[Point], image: _Image) -> CoordinatesForMeasurement:
    return CoordinatesForMeasurement(
        graphic_type=graphic, graphic_data=_scoord(pts), source_image=image.for_region()
    )


# --- one group per measurement --------------------------------------------------------


def _not_a_rectangle(graphic: str, pts: list[Point]) -> list[Point]:
    """A closed outline of 3 or 4 corners with its edge midpoints added (same polygon).

    OHIF offers to "track" an SR whose Image Region is a POLYLINE of 4 or 5 points as its
    rectangle tool, and then re-measures it in pixels; a region of any other point count
    is drawn, labelled with our values, and left alone.
    """
    if graphic != "POLYLINE" or len(pts) not in (4, 5) or pts[0] != pts[-1]:
        return pts
    out: list[Point] = []
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        out += [a, ((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0)]
    return [*out, out[0]]


def _region(graphic: str, pts: list[Point], image: _Image) -> ImageRegion:
    if graphic == "POINT":  # a lone point would be "tracked" as a probe: a small circle
        (x, y), radius = pts[0], 2.0
        graphic, pts = "CIRCLE", [(x, y), (x + radius, y)]
    return ImageRegion(
        graphic_type=graphic,
        graphic_data=_scoord(_not_a_rectangle(graphic, pts)),
        source_image=image.for_region(),
        pixel_origin_interpretation=image.origin,
    )


def _uncertainty(m: MeasurementResult) -> list[ContentItem]:
    """TID 300's ± range of measurement uncertainty (1 SD, symmetric)."""
    if not (math.isfinite(m.uncertainty) and m.uncertainty >= 0):
        return []
    return [
        NumContentItem(
            name=codes.concept(bound),
            value=float(m.uncertainty),
            unit=codes.unit_code(m.unit),
            relationship_type=_HAS_PROPERTIES,
        )
        for bound in (codes.UPPER_UNCERTAINTY, codes.LOWER_UNCERTAINTY)
    ]


def _measurement_group(
    m: MeasurementResult, points: Points, image: _Image
) -> PlanarROIMeasurementsAndQualitativeEvaluations | None:
    if not math.isfinite(m.value):
        log.warning("measurement %s has no finite value (%r); not written", m.id, m.value)
        return None
    keys = [resolve(name) for name in m.landmarks]
    known = [k for k in keys if k in points]
    if not known:
        # a group without image coordinates is what makes viewers fail
        log.warning("measurement %s has none of its landmarks; not written", m.id)
        return None
    graphic, drawn = outline([points[k][0] for k in known])
    num = Measurement(
        name=codes.measurement_concept(m.id, m.name),
        value=float(m.value),
        unit=codes.unit_code(m.unit),
        method=codes.scale_source_code(m.scale_source) if m.scale_source is not None else None,
    )
    extra = _uncertainty(m)
    if extra:
        if "ContentSequence" not in num[0]:
            num[0].ContentSequence = ContentSequence()
        num[0].ContentSequence.extend(extra)
    group = PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=str(new_uid()), identifier=m.name or m.id),
        referenced_region=_region(graphic, drawn, image),
        measurements=[num],
        qualitative_evaluations=[
            QualitativeEvaluation(codes.concept(codes.MEASUREMENT_FLAG), codes.flag_code(f))
            for f in m.flags
        ]
        or None,
    )
    group[0].ContentSequence.append(
        TextContentItem(
            name=codes.concept(codes.LANDMARKS_USED),
            value=", ".join(keys),
            relationship_type=_CONTAINS,
        )
    )
    return group


# --- one group per face region of landmarks -------------------------------------------

_IBUG_REGION = {i: region for region, idx in IBUG68_REGIONS.items() for i in idx}
_REGION_ORDER = ("forehead", "brows", "eyes", "nose", "mouth", "jaw", "profile", "other")


def _face_region(key: str) -> str:
    """The face region a landmark key belongs to (semantic or raw ``<scheme>_<i>`` keys)."""
    if key in IRIS:
        return "eyes"
    if key in UPPER_FACE:
        return "forehead"
    if key in PROFILE:
        return "profile"
    prefix, _, index = key.rpartition("_")
    if prefix in ("ibug", "ibug68") and index.isdigit() and int(index) in _IBUG_REGION:
        return _IBUG_REGION[int(index)]
    return "other"


def _landmark_order(keys: Iterable[str]) -> list[str]:
    rank = {name: i for i, name in enumerate(ALL_NAMES)}
    return sorted(keys, key=lambda k: (rank.get(k, len(rank)), k))


def _confidence(key: str, confidence: float) -> Measurement:
    if math.isfinite(confidence):
        return Measurement(
            name=codes.landmark_concept(key),
            value=float(confidence),
            unit=codes.concept(codes.UNIT_NONE),
        )
    return Measurement(
        name=codes.landmark_concept(key),
        value=0.0,
        unit=codes.concept(codes.UNIT_NONE),
        qualifier=codes.concept(codes.NOT_A_NUMBER),
    )


def _landmark_groups(points: Points, image: _Image) -> list[MeasurementsAndQualitativeEvaluations]:
    by_region: dict[str, list[str]] = {}
    for key in _landmark_order(points):
        by_region.setdefault(_face_region(key), []).append(key)
    groups = []
    for region in sorted(by_region, key=_REGION_ORDER.index):
        keys = by_region[region]
        carrier = Measurement(
            name=codes.concept(codes.LANDMARK_COUNT),
            value=float(len(keys)),
            unit=codes.concept(codes.UNIT_NONE),
            referenced_coordinates=[
                _coordinates("MULTIPOINT", [points[k][0] for k in keys], image)
            ],
        )
        groups.append(
            MeasurementsAndQualitativeEvaluations(
                tracking_identifier=TrackingIdentifier(
                    uid=str(new_uid()), identifier=f"{LANDMARK_GROUP_PREFIX}{region}"
                ),
                measurements=[carrier, *(_confidence(k, points[k][1]) for k in keys)],
            )
        )
    return groups


# --- Qualitative Evaluations: everything that is not drawn ----------------------------


def _text(code: Code, value: str, relationship: RelationshipTypeValues) -> TextContentItem:
    return TextContentItem(
        name=codes.concept(code), value=value or "-", relationship_type=relationship
    )


def _code(name: Code, value: CodedConcept, relationship: RelationshipTypeValues) -> ContentItem:
    return CodeContentItem(name=codes.concept(name), value=value, relationship_type=relationship)


def _num(code: Code, value: float, unit: Code | CodedConcept) -> NumContentItem | None:
    if not math.isfinite(value):
        return None
    return NumContentItem(
        name=codes.concept(code),
        value=float(value),
        unit=codes.concept(unit) if isinstance(unit, Code) else unit,
        relationship_type=_HAS_PROPERTIES,
    )


def _evaluation(
    name: Code | CodedConcept, value: CodedConcept, children: Iterable[ContentItem | None]
) -> ContentItem:
    item = CodeContentItem(
        name=codes.concept(name) if isinstance(name, Code) else name,
        value=value,
        relationship_type=_CONTAINS,
    )
    kids = [c for c in children if c is not None]
    if kids:
        item.ContentSequence = ContentSequence(kids)
    return item


def _main_model(result: PhotoAnalysis) -> ModelIdentity | None:
    if result.landmarks is not None:
        return result.landmarks.model
    return result.models[0] if result.models else None


def _algorithm(result: PhotoAnalysis, ctx: ResultContext) -> list[ContentItem]:
    """TID 4019 once for the report: the landmark model, its licence and Device UID."""
    model = _main_model(result)
    if model is None:
        return []
    params = [
        f"model id: {model.id}",
        licence_note(model),
        f"device UID: {model_device_uid(model)}",
        f"measurements and findings: {ctx.model_name} {ctx.software_version}",
    ]
    for other in result.models:
        if (other.id, other.version) != (model.id, model.version):
            params.append(f"also used: {other.name} {other.version} ({licence_note(other)})")
    algorithm = AlgorithmIdentification(
        name=model.name or model.id,
        version=model.version or "unknown",
        parameters=params,
        family=codes.concept(codes.ALGORITHM_FAMILY_AI),
        manufacturer=ctx.manufacturer,
    )
    return [item for item in algorithm if isinstance(item, ContentItem)]


def _face_detection(result: PhotoAnalysis) -> ContentItem:
    value = codes.FACE_DETECTED if result.face_found else codes.NO_FACE_DETECTED
    q = result.quality
    children: list[ContentItem | None] = [
        _text(codes.ANALYSIS_MESSAGE, result.message, _HAS_PROPERTIES)
    ]
    if q is not None and result.face_found:
        children += [
            _num(codes.FACE_COUNT, q.face_count, codes.UNIT_NONE),
            _num(codes.DETECTION_CONFIDENCE, q.detection_confidence, codes.UNIT_NONE),
            _num(codes.FACE_SIZE, q.face_size_px, codes.UNIT_PIXELS),
        ]
    return _evaluation(codes.FACE_DETECTION, codes.concept(value), children)


def _view(quality: Quality) -> ContentItem:
    children: list[ContentItem | None] = [
        _text(codes.VIEW_SOURCE, quality.view_source, _HAS_PROPERTIES)
    ]
    if quality.pose is not None:
        children += [
            _num(codes.HEAD_YAW, quality.pose.yaw, codes.UNIT_DEG),
            _num(codes.HEAD_PITCH, quality.pose.pitch, codes.UNIT_DEG),
            _num(codes.HEAD_ROLL, quality.pose.roll, codes.UNIT_DEG),
        ]
    return _evaluation(codes.IMAGE_VIEW, codes.view_code(quality.view), children)


def _scale(scale: Scale) -> ContentItem | None:
    """Measurement Method = the scale source, with the scale and its ± 1 SD range."""
    value = _num(codes.IMAGE_SCALE, scale.mm_per_px or math.nan, codes.UNIT_MM_PER_PIXEL)
    if value is None:
        return None
    unc = scale.relative_uncertainty * (scale.mm_per_px or math.nan)
    bounds = [
        _num(b, unc, codes.UNIT_MM_PER_PIXEL)
        for b in (codes.UPPER_UNCERTAINTY, codes.LOWER_UNCERTAINTY)
    ]
    if unc >= 0 and all(b is not None for b in bounds):
        value.ContentSequence = ContentSequence([b for b in bounds if b is not None])
    note = _text(codes.SCALE_NOTE, scale.note, _HAS_PROPERTIES) if scale.note else None
    return _evaluation(
        codes.MEASUREMENT_METHOD, codes.scale_source_code(scale.source), [value, note]
    )


def _reliability(quality: Quality) -> ContentItem:
    value = codes.RELIABLE if quality.reliable else codes.UNRELIABLE
    children: list[ContentItem | None] = [
        _code(codes.QUALITY_FLAG, codes.flag_code(f), _HAS_PROPERTIES) for f in quality.flags
    ]
    children.append(_num(codes.BLUR, quality.blur, codes.UNIT_NONE))
    for name, present in ((codes.MOUTH_OPEN, quality.mouth_open), (codes.SMILE, quality.smile)):
        children.append(
            _code(name, codes.concept(codes.PRESENT if present else codes.ABSENT), _HAS_PROPERTIES)
        )
    children += [
        _code(codes.OCCLUSION_HINT, codes.flag_code(h), _HAS_PROPERTIES)
        for h in quality.occlusion_hints
    ]
    return _evaluation(codes.RESULT_RELIABILITY, codes.concept(value), children)


def _evidence_text(finding: Finding) -> list[ContentItem | None]:
    out: list[ContentItem | None] = []
    for evidence in finding.evidence:
        text = f"{evidence.measurement_id} = {evidence.value:.4g} {evidence.unit}"
        if evidence.norm_mean is not None:
            text += f"; norm {evidence.norm_mean:.4g}"
            if evidence.norm_sd is not None:
                text += f" ± {evidence.norm_sd:.4g}"
        if evidence.z_score is not None:
            text += f"; z = {evidence.z_score:+.2f}"
        if evidence.population:
            text += f"; population: {evidence.population}"
        if evidence.norm_citation:
            text += f"; source: {evidence.norm_citation}"
        out.append(_text(codes.FINDING_EVIDENCE, text, _HAS_PROPERTIES))
    return out


def _finding(finding: Finding) -> ContentItem:
    certainty = _num(
        codes.CERTAINTY_OF_FINDING,
        round(100.0 * min(max(finding.confidence, 0.0), 1.0), 3),
        codes.UNIT_PERCENT,
    )
    return _evaluation(
        codes.finding_concept(finding.id, finding.title),
        codes.severity_code(finding.severity),
        [
            certainty,
            _text(codes.FINDING_DESCRIPTION, finding.text, _HAS_PROPERTIES),
            *_evidence_text(finding),
        ],
    )


def _evaluations(result: PhotoAnalysis, ctx: ResultContext) -> ContainerContentItem:
    items: list[ContentItem | None] = [*_algorithm(result, ctx), _face_detection(result)]
    if result.face_found:
        if result.quality is not None:
            items.append(_view(result.quality))
        if result.scale is not None:
            items.append(_scale(result.scale))
        if result.quality is not None:
            items.append(_reliability(result.quality))
        items.extend(_finding(f) for f in result.findings)
    items.append(
        _text(
            codes.DISCLAIMER,
            f"{DISCLAIMER_TEXT}. Measurements and findings were made by software and "
            "must be reviewed by a clinician.",
            _CONTAINS,
        )
    )
    container = ContainerContentItem(
        name=codes.concept(codes.QUALITATIVE_EVALUATIONS), relationship_type=_CONTAINS
    )
    container.ContentSequence = ContentSequence([i for i in items if i is not None])
    return container
