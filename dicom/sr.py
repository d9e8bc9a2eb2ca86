"""PhotoAnalysis → Comprehensive 3D SR (TID 1500 Measurement Report) in the photo's study.

Content tree (all coordinates are SCOORD on the source photo, origin at the top-left
*corner* of the first pixel, i.e. our pixel-centre coordinates + 0.5)::

    Imaging Measurement Report (TID 1500)
    ├── language, device observer (the node), procedure reported, image library (the photo)
    └── Imaging Measurements
        ├── Measurement Group "Facial photo analysis" (TID 1501)
        │   ├── algorithm (TID 4019: main model, version, licence note), finding site Face
        │   ├── NUM per measurement: UCUM unit, method = scale source, ± uncertainty
        │   │   (1 sigma), reliability flags, INFERRED FROM SCOORD POINT per landmark
        │   ├── CODE Face detection = Face detected | No face detected (+ TEXT message)
        │   ├── CODE Image View, CODE Result reliability (+ quality flags)
        │   ├── CODE per finding (name = finding, value = severity) with Certainty of
        │   │   Finding (%), TEXT description and TEXT evidence
        │   └── TEXT Disclaimer "AI result - not a diagnosis"
        ├── Measurement Group "Photo quality" (TID 1501): pose, detection, scale, hints
        └── Measurement Group per landmark (TID 1410): SCOORD POINT + confidence

A result without a face has only the first group, saying so, with no measurements.
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
    CoordinatesForMeasurement,
    DeviceObserverIdentifyingAttributes,
    FindingSite,
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
    SourceImageForMeasurementGroup,
    SourceImageForRegion,
    TextContentItem,
    TrackingIdentifier,
)
from highdicom.sr.value_types import ContentItem, ContentSequence
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code

from analysis.landmark_names import ALL_NAMES, resolve
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

PHOTO_GROUP_ID = "Facial photo analysis"
QUALITY_GROUP_ID = "Photo quality"
LANDMARK_GROUP_PREFIX = "Landmark "
SCOORD_OFFSET = 0.5  # pixel centre (analysis) → pixel corner origin (DICOM SCOORD)

_HAS_PROPERTIES = RelationshipTypeValues.HAS_PROPERTIES


class _Image:
    """The source photo as SR references need it (frame 1 for multi-frame objects)."""

    def __init__(self, header: Dataset) -> None:
        self.sop_class_uid = str(header.SOPClassUID)
        self.sop_instance_uid = str(header.SOPInstanceUID)
        self.frames = [1] if is_multiframe(header) else None

    def for_region(self) -> SourceImageForRegion:
        return SourceImageForRegion(self.sop_class_uid, self.sop_instance_uid, self.frames)

    def for_group(self) -> SourceImageForMeasurementGroup:
        return SourceImageForMeasurementGroup(
            self.sop_class_uid, self.sop_instance_uid, self.frames
        )

    @property
    def origin(self) -> str | None:
        return "FRAME" if self.frames else None


def build_sr(source: Dataset, result: PhotoAnalysis, ctx: ResultContext) -> Comprehensive3DSR:
    """The TID 1500 report of one photo's analysis, in ``ctx``'s SR series."""
    header = reference_header(source)
    image = _Image(header)
    main_model = _main_model(result)
    groups: list[
        MeasurementsAndQualitativeEvaluations | PlanarROIMeasurementsAndQualitativeEvaluations
    ] = [_photo_group(result, image, main_model, ctx)]
    if result.face_found:
        quality = _quality_group(result.quality, result.scale, image)
        if quality is not None:
            groups.append(quality)
        groups.extend(_landmark_groups(result, image, ctx))

    report = MeasurementReport(
        observation_context=_observation_context(ctx),
        procedure_reported=codes.concept(codes.IMAGING_PROCEDURE),
        imaging_measurements=groups,
        title=codes.concept(codes.REPORT_TITLE),
        referenced_images=[header],
    )
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
    apply_general_equipment(sr, ctx)
    return sr


# --- context and algorithm ------------------------------------------------------------


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


def _main_model(result: PhotoAnalysis) -> ModelIdentity | None:
    if result.landmarks is not None:
        return result.landmarks.model
    return result.models[0] if result.models else None


def _algorithm(
    model: ModelIdentity, others: Iterable[ModelIdentity], ctx: ResultContext
) -> AlgorithmIdentification:
    params = [
        f"model id: {model.id}",
        licence_note(model),
        f"device UID: {model_device_uid(model)}",
        f"measurements and findings: {ctx.model_name} {ctx.software_version}",
    ]
    for other in others:
        if (other.id, other.version) != (model.id, model.version):
            params.append(f"also used: {other.name} {other.version} ({licence_note(other)})")
    return AlgorithmIdentification(
        name=model.name or model.id,
        version=model.version or "unknown",
        parameters=params,
        family=codes.concept(codes.ALGORITHM_FAMILY_AI),
        manufacturer=ctx.manufacturer,
    )


# --- the photo group ------------------------------------------------------------------


def _photo_group(
    result: PhotoAnalysis,
    image: _Image,
    model: ModelIdentity | None,
    ctx: ResultContext,
) -> MeasurementsAndQualitativeEvaluations:
    evaluations = [_face_detection(result)]
    measurements: list[Measurement] = []
    if result.face_found:
        if result.quality is not None:
            evaluations.append(_view(result.quality))
            evaluations.append(_reliability(result.quality))
        points = _points(result)
        for m in result.measurements:
            item = _measurement(m, points, image)
            if item is not None:
                measurements.append(item)
        evaluations.extend(_finding(f) for f in result.findings)
    group = MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=str(new_uid()), identifier=PHOTO_GROUP_ID),
        algorithm_id=_algorithm(model, result.models, ctx) if model is not None else None,
        finding_sites=[FindingSite(codes.concept(codes.FACE))],
        measurements=measurements,
        qualitative_evaluations=evaluations,
        source_images=[image.for_group()],
    )
    group[0].ContentSequence.append(
        TextContentItem(
            name=codes.concept(codes.DISCLAIMER),
            value=f"{DISCLAIMER_TEXT}. Measurements and findings were made by software and "
            "must be reviewed by a clinician.",
            relationship_type=RelationshipTypeValues.CONTAINS,
        )
    )
    return group


def _with_children(evaluation: QualitativeEvaluation, children: Sequence[ContentItem]) -> None:
    if children:
        evaluation[0].ContentSequence = ContentSequence(list(children))


def _text(name: CodedConcept, value: str) -> TextContentItem:
    return TextContentItem(name=name, value=value or "-", relationship_type=_HAS_PROPERTIES)


def _face_detection(result: PhotoAnalysis) -> QualitativeEvaluation:
    value = codes.FACE_DETECTED if result.face_found else codes.NO_FACE_DETECTED
    ev = QualitativeEvaluation(codes.concept(codes.FACE_DETECTION), codes.concept(value))
    _with_children(ev, [_text(codes.concept(codes.ANALYSIS_MESSAGE), result.message)])
    return ev


def _view(quality: Quality) -> QualitativeEvaluation:
    ev = QualitativeEvaluation(codes.concept(codes.IMAGE_VIEW), codes.view_code(quality.view))
    _with_children(ev, [_text(codes.concept(codes.VIEW_SOURCE), quality.view_source)])
    return ev


def _reliability(quality: Quality) -> QualitativeEvaluation:
    value = codes.RELIABLE if quality.reliable else codes.UNRELIABLE
    ev = QualitativeEvaluation(codes.concept(codes.RESULT_RELIABILITY), codes.concept(value))
    _with_children(ev, [_code(codes.QUALITY_FLAG, codes.flag_code(f)) for f in quality.flags])
    return ev


def _code(name: Code, value: CodedConcept) -> CodeContentItem:
    return CodeContentItem(name=codes.concept(name), value=value, relationship_type=_HAS_PROPERTIES)


def _finding(finding: Finding) -> QualitativeEvaluation:
    ev = QualitativeEvaluation(
        codes.finding_concept(finding.id, finding.title), codes.severity_code(finding.severity)
    )
    children: list[ContentItem] = [
        NumContentItem(
            name=codes.concept(codes.CERTAINTY_OF_FINDING),
            value=round(100.0 * min(max(finding.confidence, 0.0), 1.0), 3),
            unit=codes.concept(codes.UNIT_PERCENT),
            relationship_type=_HAS_PROPERTIES,
        ),
        _text(codes.concept(codes.FINDING_DESCRIPTION), finding.text),
    ]
    for evidence in finding.evidence:
        text = f"{evidence.measurement_id} = {evidence.value:.4g} {evidence.unit}"
        if evidence.norm_mean is not None:
            text += f"; norm {evidence.norm_mean:.4g}"
            if evidence.norm_sd is not None:
                text += f" +/- {evidence.norm_sd:.4g}"
        if evidence.z_score is not None:
            text += f"; z = {evidence.z_score:+.2f}"
        if evidence.population:
            text += f"; population: {evidence.population}"
        if evidence.norm_citation:
            text += f"; source: {evidence.norm_citation}"
        children.append(_text(codes.concept(codes.FINDING_EVIDENCE), text))
    _with_children(ev, children)
    return ev


def _points(result: PhotoAnalysis) -> dict[str, tuple[tuple[float, float], float]]:
    """Landmark key → (pixel-centre point, confidence): semantic names, else raw points."""
    if result.semantic is not None:
        sem = result.semantic
        return {k: (p, float(sem.confidence.get(k, math.nan))) for k, p in sem.points.items()}
    if result.landmarks is not None:
        ls = result.landmarks
        return {
            f"{ls.scheme}_{i:03d}": (
                (float(ls.points[i, 0]), float(ls.points[i, 1])),
                float(ls.confidence[i]) if i < len(ls.confidence) else math.nan,
            )
            for i in range(ls.points.shape[0])
        }
    return {}


def _scoord(point: tuple[float, float]) -> np.ndarray:
    return np.array([[point[0] + SCOORD_OFFSET, point[1] + SCOORD_OFFSET]], dtype=np.float64)


def _measurement(
    m: MeasurementResult,
    points: dict[str, tuple[tuple[float, float], float]],
    image: _Image,
) -> Measurement | None:
    if not math.isfinite(m.value):
        log.warning("measurement %s has no finite value (%r); not written", m.id, m.value)
        return None
    coordinates = []
    for name in m.landmarks:
        key = resolve(name)
        if key not in points:
            log.debug("landmark %s of measurement %s not available", key, m.id)
            continue
        coordinates.append(
            CoordinatesForMeasurement(
                graphic_type="POINT",
                graphic_data=_scoord(points[key][0]),
                source_image=image.for_region(),
                purpose=codes.landmark_concept(key),
            )
        )
    unit = codes.unit_code(m.unit)
    item = Measurement(
        name=codes.measurement_concept(m.id, m.name),
        value=float(m.value),
        unit=unit,
        method=codes.scale_source_code(m.scale_source) if m.scale_source is not None else None,
        referenced_coordinates=coordinates or None,
    )
    extra: list[ContentItem] = []
    if math.isfinite(m.uncertainty) and m.uncertainty >= 0:
        for bound in (codes.UPPER_UNCERTAINTY, codes.LOWER_UNCERTAINTY):
            extra.append(
                NumContentItem(
                    name=codes.concept(bound),
                    value=float(m.uncertainty),
                    unit=codes.unit_code(m.unit),
                    relationship_type=_HAS_PROPERTIES,
                )
            )
    extra.extend(_code(codes.MEASUREMENT_FLAG, codes.flag_code(f)) for f in m.flags)
    if extra:
        num = item[0]
        if "ContentSequence" not in num:
            num.ContentSequence = ContentSequence()
        num.ContentSequence.extend(extra)
    return item


# --- the quality group ----------------------------------------------------------------


def _num(code: Code, value: float, unit: Code) -> Measurement | None:
    if not math.isfinite(value):
        return None
    return Measurement(name=codes.concept(code), value=float(value), unit=codes.concept(unit))


def _quality_group(
    quality: Quality | None, scale: Scale | None, image: _Image
) -> MeasurementsAndQualitativeEvaluations | None:
    if quality is None and scale is None:
        return None
    nums: list[Measurement | None] = []
    evaluations: list[QualitativeEvaluation] = []
    if quality is not None:
        nums += [
            _num(codes.FACE_COUNT, quality.face_count, codes.UNIT_NONE),
            _num(codes.DETECTION_CONFIDENCE, quality.detection_confidence, codes.UNIT_NONE),
            _num(codes.FACE_SIZE, quality.face_size_px, codes.UNIT_PIXELS),
            _num(codes.BLUR, quality.blur, codes.UNIT_NONE),
        ]
        if quality.pose is not None:
            nums += [
                _num(codes.HEAD_YAW, quality.pose.yaw, codes.UNIT_DEG),
                _num(codes.HEAD_PITCH, quality.pose.pitch, codes.UNIT_DEG),
                _num(codes.HEAD_ROLL, quality.pose.roll, codes.UNIT_DEG),
            ]
        for name, present in ((codes.MOUTH_OPEN, quality.mouth_open), (codes.SMILE, quality.smile)):
            evaluations.append(
                QualitativeEvaluation(
                    codes.concept(name), codes.concept(codes.PRESENT if present else codes.ABSENT)
                )
            )
        evaluations.extend(
            QualitativeEvaluation(codes.concept(codes.OCCLUSION_HINT), codes.flag_code(h))
            for h in quality.occlusion_hints
        )
    if scale is not None and scale.mm_per_px is not None and math.isfinite(scale.mm_per_px):
        sc = Measurement(
            name=codes.concept(codes.IMAGE_SCALE),
            value=float(scale.mm_per_px),
            unit=codes.concept(codes.UNIT_MM_PER_PIXEL),
            method=codes.scale_source_code(scale.source),
        )
        unc = scale.relative_uncertainty * scale.mm_per_px
        children: list[ContentItem] = []
        if math.isfinite(unc) and unc >= 0:
            children += [
                NumContentItem(
                    name=codes.concept(n),
                    value=float(unc),
                    unit=codes.concept(codes.UNIT_MM_PER_PIXEL),
                    relationship_type=_HAS_PROPERTIES,
                )
                for n in (codes.UPPER_UNCERTAINTY, codes.LOWER_UNCERTAINTY)
            ]
        if scale.note:
            children.append(_text(codes.concept(codes.SCALE_NOTE), scale.note))
        if children:
            sc[0].ContentSequence.extend(children)
        nums.append(sc)
    return MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=str(new_uid()), identifier=QUALITY_GROUP_ID),
        measurements=[n for n in nums if n is not None],
        qualitative_evaluations=evaluations,
        source_images=[image.for_group()],
    )


# --- landmark groups ------------------------------------------------------------------


def _landmark_order(keys: Iterable[str]) -> list[str]:
    rank = {name: i for i, name in enumerate(ALL_NAMES)}
    return sorted(keys, key=lambda k: (rank.get(k, len(rank)), k))


def _landmark_groups(
    result: PhotoAnalysis, image: _Image, ctx: ResultContext
) -> list[PlanarROIMeasurementsAndQualitativeEvaluations]:
    points = _points(result)
    model = result.landmarks.model if result.landmarks is not None else _main_model(result)
    groups = []
    for key in _landmark_order(points):
        point, confidence = points[key]
        if not (math.isfinite(point[0]) and math.isfinite(point[1])):
            log.warning("landmark %s has no finite position; not written", key)
            continue
        region = ImageRegion(
            graphic_type="POINT",
            graphic_data=_scoord(point),
            source_image=image.for_region(),
            pixel_origin_interpretation=image.origin,
        )
        conf = _num(codes.LANDMARK_CONFIDENCE, confidence, codes.UNIT_NONE)
        groups.append(
            PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=TrackingIdentifier(
                    uid=str(new_uid()), identifier=f"{LANDMARK_GROUP_PREFIX}{key}"
                ),
                referenced_region=region,
                finding_type=codes.landmark_concept(key),
                algorithm_id=_algorithm(model, (), ctx) if model is not None else None,
                measurements=[conf] if conf is not None else None,
            )
        )
    return groups
