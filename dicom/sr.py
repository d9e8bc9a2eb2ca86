"""PhotoAnalysis → Comprehensive 3D SR (TID 1500 Measurement Report) in the photo's study.

The tree is shaped by what viewers draw (OHIF 3.12 / 3.13, see REFERENCES.md and
``tests/support/ohif_sr_model.py``). OHIF makes one annotation per Tracking Unique
Identifier, draws its first SCOORD and labels it, beside the shape's right edge, with the
first five top-level NUMs: "<name>: <value> <unit>". So the measurements are drawn by
anatomical family (:mod:`dicom.sr_families`): one TID 1410 group per family whose region
outlines the landmarks of its first five measurements, led by one point right of the face
that sets where the viewer puts the label box (:mod:`dicom.sr_layout`: a ladder of boxes
beside the face instead of a pile), and, when the family has more, a
second TID 1410 group with the same Tracking UID (one annotation, one label box in OHIF;
every value in any SR reader). About ten label boxes on a frontal photo instead of 55.
The landmarks are one TID 1501 group per face region, and everything that has no place on
the image sits in the report's Qualitative Evaluations container, which viewers do not
draw. SCOORD coordinates are on the source photo, origin at the top-left *corner* of the
first pixel (our pixel-centre coordinates + 0.5)::

    Imaging Measurement Report (TID 1500), UTF-8
    ├── language, device observer (the node), procedure reported, image library (the photo)
    ├── Imaging Measurements
    │   ├── per family: Measurement Group (TID 1410), Tracking Identifier = family title
    │   │   ├── Image Region SCOORD: label leader point, then the outline of its
    │   │   │   measurements' landmarks (scale reference points left out)
    │   │   └── NUM per measurement (≤ 5 in the first group) + UCUM unit, with
    │   │       method = scale source, ± 1 SD uncertainty, CODE Reliability flag per
    │   │       flag, TEXT Landmarks (the landmark keys the value stands on)
    │   ├── per measurement: Measurement Group, Tracking Identifier = Cornerstone3D's
    │   │   ArrowAnnotate (what OHIF's measurement panel lists once tracked,
    │   │   :mod:`dicom.sr_arrows`): arrow at its landmark, Comment "<name>: <value>
    │   │   <unit>", text position on a ladder right of the face
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

No group is drawn as a lone POINT or a 4/5-point POLYLINE: OHIF would "track" those as
its probe / rectangle tools and re-measure them in pixels (only the arrows are tracked)
(:mod:`dicom.sr_drawn` builds the families' groups, which the 3D report shares). A result
without landmarks (no face) has one group: the photo's outline labelled with the number of
faces (0), as OHIF fails on an SR without a measurement.

The items are built as pydicom Datasets shaped as highdicom writes them
(:mod:`dicom.sr_items`): highdicom's validating constructors took 1–2 s a report.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Iterable
from functools import cache

from highdicom._standard_utils import (
    get_iod_module_map,
    get_module_attribute_map,
    get_sop_class_iod_map,
)
from highdicom.sr.templates import _get_coded_modality
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sr.coding import Code
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

from analysis.landmark_names import ALL_NAMES, IBUG68_REGIONS, IRIS, PROFILE, UPPER_FACE
from analysis.types import Finding, ModelIdentity, PhotoAnalysis, Quality, Scale
from analysis.types import Measurement as MeasurementResult
from dicom import codes
from dicom import sr_codes as tid
from dicom import sr_items as it
from dicom.context import ResultContext
from dicom.equipment import (
    DISCLAIMER_TEXT,
    contributing_equipment,
    licence_note,
    model_device_uid,
)
from dicom.source import is_multiframe, reference_header
from dicom.sr_arrows import arrow_groups
from dicom.sr_drawn import SCOORD_OFFSET, family_groups, not_a_rectangle, scoord
from dicom.uids import new_uid

log = logging.getLogger(__name__)

COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
LANDMARK_GROUP_PREFIX = "Landmarks: "
CHARACTER_SET = "ISO_IR 192"  # UTF-8: names, "±", "–" in any text

_CONTAINS = it.CONTAINS
_HAS_PROPERTIES = it.HAS_PROPERTIES
_OBS = it.HAS_OBS_CONTEXT

# structural codes of the templates (TID 1500, 1410, 1501, 1600, 1001, 4019)
_MODALITY = Code("121139", "DCM", "Modality")
_ROWS = Code("110910", "DCM", "Pixel Data Rows")
_COLUMNS = Code("110911", "DCM", "Pixel Data Columns")
_PIXELS = Code("{pixels}", "UCUM", "Pixels")

Point = tuple[float, float]
Points = dict[str, tuple[Point, float]]


def build_sr(source: Dataset, result: PhotoAnalysis, ctx: ResultContext) -> Dataset:
    """The TID 1500 report of one photo's analysis, in ``ctx``'s SR series."""
    header = reference_header(source)
    image = it.ImageRef(
        str(header.SOPClassUID),
        str(header.SOPInstanceUID),
        1 if is_multiframe(header) else None,
    )
    groups: list[Dataset] = []
    if result.face_found:
        points = _points(result)
        at = {k: p for k, (p, _) in points.items()}
        groups.extend(
            family_groups(result.measurements, at, image, _measurement_num, skip=_SCALE_REFERENCE)
        )
        groups.extend(arrow_groups(result.measurements, at, _SCALE_REFERENCE, image, SCOORD_OFFSET))
        groups.extend(_landmark_groups(points, image))
    if not groups:
        groups.append(_whole_photo_group(result, image, header))
    content = [
        it.code_item(tid.LANGUAGE, tid.EN_US, it.HAS_CONCEPT_MOD),
        *_observer(ctx),
        it.code_item(tid.PROCEDURE_REPORTED, codes.IMAGING_PROCEDURE, it.HAS_CONCEPT_MOD),
        _image_library(header, image),
        it.container(tid.IMAGING_MEASUREMENTS, _CONTAINS, groups),
        _evaluations(result, ctx),
    ]
    sr = _document(header, ctx, result)
    it.put(
        sr,
        ValueType="CONTAINER",
        ConceptNameCodeSequence=[it.code(codes.REPORT_TITLE)],
        ContinuityOfContent="CONTINUOUS",
        ContentTemplateSequence=[it.dataset(MappingResource="DCMR", TemplateIdentifier="1500")],
        ContentSequence=content,
    )
    return sr


# --- the document: patient, study, series, equipment, SR document general ------------


@cache
def _patient_study_keywords(sop_class_uid: str) -> tuple[str, ...]:
    """Root attributes of the source IOD's Patient and Study modules (what highdicom copies)."""
    iod = get_sop_class_iod_map()[sop_class_uid]
    attributes = get_module_attribute_map()
    out: list[str] = []
    for module in get_iod_module_map()[iod]:
        if module["ie"] in ("Patient", "Study"):
            out += [str(a["keyword"]) for a in attributes[module["key"]] if not a["path"]]
    return tuple(dict.fromkeys(out))


def _document(header: Dataset, ctx: ResultContext, result: PhotoAnalysis) -> Dataset:
    now = dt.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S.%f")
    sop_uid = str(new_uid())
    sr = Dataset()
    sr.file_meta = FileMetaDataset()
    sr.file_meta.MediaStorageSOPClassUID = UID(COMPREHENSIVE_3D_SR)
    sr.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    sr.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sr.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    d = sr._dict
    try:
        keywords = _patient_study_keywords(str(header.SOPClassUID))
    except KeyError:  # an IOD highdicom does not know: the common ones
        keywords = _COMMON_PATIENT_STUDY
    for keyword in keywords:
        elem = header.data_element(keyword) if keyword in header else None
        if elem is not None:
            d[elem.tag] = elem
    for keyword in _TYPE2_PATIENT_STUDY:
        if keyword not in sr:
            it.put(sr, **{keyword: None})
    it.put(
        sr,
        SpecificCharacterSet=CHARACTER_SET,
        SOPClassUID=COMPREHENSIVE_3D_SR,
        SOPInstanceUID=sop_uid,
        InstanceCreationDate=date,
        InstanceCreationTime=time,
        ContentDate=date,
        ContentTime=time,
        Modality="SR",
        SeriesInstanceUID=str(ctx.sr_series_uid),
        SeriesNumber=ctx.sr_series_number,
        SeriesDescription=ctx.sr_series_description,
        InstanceNumber=ctx.instance_number_start,
        Manufacturer=ctx.manufacturer,
        ManufacturerModelName=ctx.model_name,
        SoftwareVersions=ctx.software_version or "0",
        DeviceUID=str(ctx.node_device_uid),
        ReferencedPerformedProcedureStepSequence=[],
        PerformedProcedureCodeSequence=[it.code(codes.IMAGING_PROCEDURE)],
        CompletionFlag="COMPLETE",
        VerificationFlag="UNVERIFIED",
        PreliminaryFlag="PRELIMINARY",
        CurrentRequestedProcedureEvidenceSequence=[_evidence(header)],
        CodingSchemeIdentificationSequence=[codes.coding_scheme_item(ctx.manufacturer)],
        ContributingEquipmentSequence=contributing_equipment(ctx, result.models),
    )
    if ctx.station_name:
        it.put(sr, StationName=ctx.station_name)
    if ctx.institution_name:
        it.put(sr, InstitutionName=ctx.institution_name)
    if ctx.device_serial:
        it.put(sr, DeviceSerialNumber=ctx.device_serial)
    return sr


_COMMON_PATIENT_STUDY = (
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
    "PatientAge", "PatientSize", "PatientWeight", "OtherPatientIDsSequence", "EthnicGroup",
    "PatientComments", "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName",
    "StudyID", "AccessionNumber", "StudyDescription",
)  # fmt: skip
_TYPE2_PATIENT_STUDY = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
    "ReferringPhysicianName", "StudyID", "AccessionNumber",
)  # fmt: skip


def _evidence(header: Dataset) -> Dataset:
    """Current Requested Procedure Evidence: the photo, in its study and series."""
    series = it.dataset(
        ReferencedSOPSequence=[
            it.dataset(
                ReferencedSOPClassUID=str(header.SOPClassUID),
                ReferencedSOPInstanceUID=str(header.SOPInstanceUID),
            )
        ],
        SeriesInstanceUID=str(header.SeriesInstanceUID),
    )
    return it.dataset(
        ReferencedSeriesSequence=[series], StudyInstanceUID=str(header.StudyInstanceUID)
    )


def _observer(ctx: ResultContext) -> list[Dataset]:
    """TID 1001 / 1004: the node is the observer device."""
    items = [
        it.code_item(tid.OBSERVER_TYPE, codes.OBSERVER_DEVICE, _OBS),
        it.uidref(tid.DEVICE_UID, str(ctx.node_device_uid), _OBS),
    ]
    for name, value in (
        (tid.DEVICE_NAME, ctx.station_name or ctx.model_name),
        (tid.DEVICE_MANUFACTURER, ctx.manufacturer),
        (tid.DEVICE_MODEL, ctx.model_name),
        (tid.DEVICE_SERIAL, ctx.device_serial),
    ):
        if value:
            items.append(it.text(name, value, _OBS))
    return items


def _image_library(header: Dataset, image: it.ImageRef) -> Dataset:
    """TID 1600: the photo, with its modality and size."""
    descriptors: list[Dataset] = []
    modality = _modality(image.sop_class_uid)
    if modality is not None:
        descriptors.append(it.code_item(_MODALITY, modality, "HAS ACQ CONTEXT"))
    descriptors += [
        _int_num(_ROWS, int(header.Rows), "HAS ACQ CONTEXT"),
        _int_num(_COLUMNS, int(header.Columns), "HAS ACQ CONTEXT"),
    ]
    entry = it.with_children(image.image(it.SOURCE, _CONTAINS), descriptors)
    group = it.container(tid.IMAGE_LIBRARY_GROUP, _CONTAINS, [entry])
    return it.container(tid.IMAGE_LIBRARY, _CONTAINS, [group])


@cache
def _modality(sop_class_uid: str) -> Code | None:
    try:
        c = _get_coded_modality(sop_class_uid)
    except (KeyError, ValueError):
        return None
    return Code(c.value, c.scheme_designator, c.meaning)


def _int_num(name: Code, value: int, relationship: str) -> Dataset:
    """A NUM of an integer, as highdicom writes it (Numeric Value only)."""
    item = it.num(name, float(value), _PIXELS, relationship)
    measured = item.MeasuredValueSequence[0]
    del measured.FloatingPointValue
    return item


def _whole_photo_group(result: PhotoAnalysis, image: it.ImageRef, header: Dataset) -> Dataset:
    """The one group of a report without landmarks: the faces counted on the whole photo.

    OHIF opens an SR at its first measurement and fails on an SR without one, so even
    "no face" is said where it is drawn: the photo's outline, labelled with the count.
    """
    w, h = float(header.Columns), float(header.Rows)
    corners = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h), (0.0, 0.0)]
    count = result.quality.face_count if result.quality is not None else int(result.face_found)
    return it.container(
        tid.MEASUREMENT_GROUP,
        _CONTAINS,
        [
            it.text(tid.TRACKING_ID, "Face detection", _OBS),
            it.uidref(tid.TRACKING_UID, str(new_uid()), _OBS),
            it.scoord(
                tid.IMAGE_REGION,
                "POLYLINE",
                not_a_rectangle("POLYLINE", corners),
                image,
                _CONTAINS,
            ),
            it.num(codes.FACE_COUNT, float(count), codes.UNIT_FACES, _CONTAINS),
        ],
        template="1410",
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


# --- one labelled region per family of measurements ---------------------------------


def _measurement_num(m: MeasurementResult, keys: list[str]) -> Dataset:
    """NUM with TID 300's method and ± 1 SD, and our flags and landmark keys."""
    unit = codes.unit_code(m.unit)
    children: list[Dataset | None] = []
    if m.scale_source is not None:
        method = codes.scale_source_code(m.scale_source)
        children.append(it.code_item(codes.MEASUREMENT_METHOD, method, it.HAS_CONCEPT_MOD))
    if math.isfinite(m.uncertainty) and m.uncertainty >= 0:
        children += [
            it.num(bound, m.uncertainty, unit, _HAS_PROPERTIES)
            for bound in (codes.UPPER_UNCERTAINTY, codes.LOWER_UNCERTAINTY)
        ]
    children += [
        it.code_item(codes.MEASUREMENT_FLAG, codes.flag_code(f), _HAS_PROPERTIES) for f in m.flags
    ]
    children.append(it.text(codes.LANDMARKS_USED, ", ".join(keys), _HAS_PROPERTIES))
    return it.num(
        codes.measurement_concept(m.id, m.name), m.value, unit, _CONTAINS, children=children
    )


#: The scale reference most measurements list first (pupils, inner canthi): drawn only
#: where it is what a measurement measures, so each outline shows its own anatomy.
_SCALE_REFERENCE = frozenset({"pupil_l", "pupil_r", "ibug_39", "ibug_42"})


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


def _confidence(key: str, confidence: float) -> Dataset:
    name = codes.landmark_concept(key)
    if math.isfinite(confidence):
        return it.num(name, confidence, codes.UNIT_NONE, _CONTAINS)
    return it.num(name, 0.0, codes.UNIT_NONE, _CONTAINS, qualifier=codes.NOT_A_NUMBER)


def _landmark_groups(points: Points, image: it.ImageRef) -> list[Dataset]:
    by_region: dict[str, list[str]] = {}
    for key in _landmark_order(points):
        by_region.setdefault(_face_region(key), []).append(key)
    groups = []
    for region in sorted(by_region, key=_REGION_ORDER.index):
        keys = by_region[region]
        coords = it.scoord(
            it.SOURCE,
            "MULTIPOINT",
            scoord([points[k][0] for k in keys]),
            image,
            it.INFERRED_FROM,
            with_origin=False,
        )
        carrier = it.num(
            codes.LANDMARK_COUNT, float(len(keys)), codes.UNIT_NONE, _CONTAINS, children=[coords]
        )
        groups.append(
            it.container(
                tid.MEASUREMENT_GROUP,
                _CONTAINS,
                [
                    it.text(tid.TRACKING_ID, f"{LANDMARK_GROUP_PREFIX}{region}", _OBS),
                    it.uidref(tid.TRACKING_UID, str(new_uid()), _OBS),
                    carrier,
                    *(_confidence(k, points[k][1]) for k in keys),
                ],
                template="1501",
            )
        )
    return groups


# --- Qualitative Evaluations: everything that is not drawn ----------------------------


def _text(code: Code, value: str, relationship: str) -> Dataset:
    return it.text(code, value or "-", relationship)


def _code(name: Code, value: Code, relationship: str) -> Dataset:
    return it.code_item(name, value, relationship)


def _num(code: Code, value: float, unit: Code) -> Dataset | None:
    if not math.isfinite(value):
        return None
    return it.num(code, value, unit, _HAS_PROPERTIES)


def _evaluation(name: Code, value: Code, children: Iterable[Dataset | None]) -> Dataset:
    return it.with_children(it.code_item(name, value, _CONTAINS), children)


def _main_model(result: PhotoAnalysis) -> ModelIdentity | None:
    if result.landmarks is not None:
        return result.landmarks.model
    return result.models[0] if result.models else None


def _algorithm(result: PhotoAnalysis, ctx: ResultContext) -> list[Dataset]:
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
    mod = it.HAS_CONCEPT_MOD
    return [
        it.text(tid.ALGORITHM_NAME, model.name or model.id, mod),
        it.text(tid.ALGORITHM_VERSION, model.version or "unknown", mod),
        it.text(tid.ALGORITHM_MANUFACTURER, ctx.manufacturer, mod),
        *(it.text(tid.ALGORITHM_PARAMETERS, p, mod) for p in params),
        it.code_item(tid.ALGORITHM_FAMILY, codes.ALGORITHM_FAMILY_AI, mod),
    ]


def _face_detection(result: PhotoAnalysis) -> Dataset:
    value = codes.FACE_DETECTED if result.face_found else codes.NO_FACE_DETECTED
    q = result.quality
    children: list[Dataset | None] = [
        _text(codes.ANALYSIS_MESSAGE, result.message, _HAS_PROPERTIES)
    ]
    if q is not None and result.face_found:
        children += [
            _num(codes.FACE_COUNT, q.face_count, codes.UNIT_NONE),
            _num(codes.DETECTION_CONFIDENCE, q.detection_confidence, codes.UNIT_NONE),
            _num(codes.FACE_SIZE, q.face_size_px, codes.UNIT_PIXELS),
        ]
    return _evaluation(codes.FACE_DETECTION, value, children)


def _view(quality: Quality) -> Dataset:
    children: list[Dataset | None] = [
        _text(codes.VIEW_SOURCE, quality.view_source, _HAS_PROPERTIES)
    ]
    if quality.pose is not None:
        children += [
            _num(codes.HEAD_YAW, quality.pose.yaw, codes.UNIT_DEG),
            _num(codes.HEAD_PITCH, quality.pose.pitch, codes.UNIT_DEG),
            _num(codes.HEAD_ROLL, quality.pose.roll, codes.UNIT_DEG),
        ]
    return _evaluation(codes.IMAGE_VIEW, codes.view_code(quality.view), children)


def _scale(scale: Scale) -> Dataset | None:
    """Measurement Method = the scale source, with the scale and its ± 1 SD range."""
    mm_per_px = scale.mm_per_px or math.nan
    if not math.isfinite(mm_per_px):
        return None
    unc = scale.relative_uncertainty * mm_per_px
    bounds = [
        _num(b, unc, codes.UNIT_MM_PER_PIXEL)
        for b in (codes.UPPER_UNCERTAINTY, codes.LOWER_UNCERTAINTY)
    ]
    value = it.num(
        codes.IMAGE_SCALE,
        mm_per_px,
        codes.UNIT_MM_PER_PIXEL,
        _HAS_PROPERTIES,
        children=bounds if unc >= 0 else (),
    )
    note = _text(codes.SCALE_NOTE, scale.note, _HAS_PROPERTIES) if scale.note else None
    return _evaluation(
        codes.MEASUREMENT_METHOD, codes.scale_source_code(scale.source), [value, note]
    )


def _reliability(quality: Quality) -> Dataset:
    value = codes.RELIABLE if quality.reliable else codes.UNRELIABLE
    children: list[Dataset | None] = [
        _code(codes.QUALITY_FLAG, codes.flag_code(f), _HAS_PROPERTIES) for f in quality.flags
    ]
    children.append(_num(codes.BLUR, quality.blur, codes.UNIT_NONE))
    for name, present in ((codes.MOUTH_OPEN, quality.mouth_open), (codes.SMILE, quality.smile)):
        children.append(_code(name, codes.PRESENT if present else codes.ABSENT, _HAS_PROPERTIES))
    children += [
        _code(codes.OCCLUSION_HINT, codes.flag_code(h), _HAS_PROPERTIES)
        for h in quality.occlusion_hints
    ]
    return _evaluation(codes.RESULT_RELIABILITY, value, children)


def _evidence_text(finding: Finding) -> list[Dataset | None]:
    out: list[Dataset | None] = []
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


def finding_item(finding: Finding) -> Dataset:
    """A finding as the reports state it (the 2D and the 3D SR): a CODE item, the finding
    valued by its severity, with its certainty, its text and each piece of evidence."""
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


def _evaluations(result: PhotoAnalysis, ctx: ResultContext) -> Dataset:
    items: list[Dataset | None] = [*_algorithm(result, ctx), _face_detection(result)]
    if result.face_found:
        if result.quality is not None:
            items.append(_view(result.quality))
        if result.scale is not None:
            items.append(_scale(result.scale))
        if result.quality is not None:
            items.append(_reliability(result.quality))
        items.extend(finding_item(f) for f in result.findings)
    items.append(
        _text(
            codes.DISCLAIMER,
            f"{DISCLAIMER_TEXT}. Measurements and findings were made by software and "
            "must be reviewed by a clinician.",
            _CONTAINS,
        )
    )
    return it.container(codes.QUALITATIVE_EVALUATIONS, _CONTAINS, items)
