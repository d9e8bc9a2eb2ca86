from __future__ import annotations

import numpy as np
import pytest
from highdicom.sr import Comprehensive3DSR, GraphicTypeValues, srread
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import JPEGBaseline8Bit

from analysis.landmark_names import resolve
from analysis.types import Flag, PhotoAnalysis, View
from dicom import codes
from dicom.context import ResultContext
from dicom.sr import LANDMARK_GROUP_PREFIX, PHOTO_GROUP_ID, QUALITY_GROUP_ID, build_sr
from dicom.uids import device_uid
from tests.factories import (
    DLIB_MODEL,
    MULTIFRAME_TRUE_COLOR_SC,
    astronaut,
    make_photo_analysis,
    make_vl_photo,
)
from tests.support.dciodvfy import dciodvfy_errors

COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"


def _write_read(sr: Dataset, tmp_path, name: str = "sr.dcm") -> Dataset:
    path = tmp_path / name
    sr.save_as(path, enforce_file_format=True)
    return dcmread(path)


def _errors(sr: Dataset, tmp_path) -> list[str]:
    path = tmp_path / "check.dcm"
    sr.save_as(path, enforce_file_format=True)
    return dciodvfy_errors(path)


def _value(item: Dataset) -> str:
    c = item.ConceptNameCodeSequence[0]
    return str(c.get("CodeValue") or c.get("LongCodeValue"))


def _children(item: Dataset, concept_value: str | None = None) -> list[Dataset]:
    out = list(item.get("ContentSequence", []))
    if concept_value is not None:
        out = [c for c in out if "ConceptNameCodeSequence" in c and _value(c) == concept_value]
    return out


def _code_value(item: Dataset) -> str:
    c = item.ConceptCodeSequence[0]
    return str(c.get("CodeValue") or c.get("LongCodeValue"))


def _group(sr: Comprehensive3DSR, ident: str):
    groups = [
        g for g in sr.content.get_image_measurement_groups() if g.tracking_identifier == ident
    ]
    assert len(groups) == 1, ident
    return groups[0]


@pytest.fixture(scope="module")
def analysis() -> PhotoAnalysis:
    return make_photo_analysis(flags=(Flag.FACE_TOO_SMALL,))


@pytest.fixture(scope="module")
def module_ctx() -> ResultContext:
    return ResultContext.new(software_version="0.1.0", station_name="FACENODE1", device_serial="S1")


@pytest.fixture(scope="module")
def module_photo() -> Dataset:
    return make_vl_photo()


@pytest.fixture(scope="module")
def written(
    module_photo, analysis, module_ctx, tmp_path_factory
) -> tuple[Dataset, Comprehensive3DSR]:
    """One SR written to disk and read back, shared by the read-back tests."""
    sr = build_sr(module_photo, analysis, module_ctx)
    raw = _write_read(sr, tmp_path_factory.mktemp("sr"))
    return raw, Comprehensive3DSR.from_dataset(raw)


def test_sr_passes_dciodvfy_with_zero_errors(written, tmp_path, dciodvfy):
    raw, _ = written
    assert _errors(raw, tmp_path) == []


def test_sr_header_same_study_own_series_and_flags(written, module_photo, module_ctx):
    photo_ds, ctx = module_photo, module_ctx
    raw, _ = written
    assert raw.SOPClassUID == COMPREHENSIVE_3D_SR
    assert raw.StudyInstanceUID == photo_ds.StudyInstanceUID
    assert raw.PatientID == photo_ds.PatientID and raw.PatientName == photo_ds.PatientName
    assert raw.SeriesInstanceUID == ctx.sr_series_uid != photo_ds.SeriesInstanceUID
    assert raw.SeriesNumber == ctx.sr_series_number
    assert raw.InstanceNumber == ctx.instance_number_start
    assert raw.Modality == "SR"
    assert raw.CompletionFlag == "COMPLETE"
    assert raw.VerificationFlag == "UNVERIFIED"
    assert raw.PerformedProcedureCodeSequence[0].CodeValue == codes.IMAGING_PROCEDURE.value
    assert raw.Manufacturer == ctx.manufacturer
    assert raw.ManufacturerModelName == ctx.model_name
    assert raw.SoftwareVersions == ctx.software_version
    assert raw.StationName == ctx.station_name
    schemes = [i.CodingSchemeDesignator for i in raw.CodingSchemeIdentificationSequence]
    assert codes.PRIVATE_SCHEME in schemes
    ev = raw.CurrentRequestedProcedureEvidenceSequence[0]
    ref = ev.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
    assert ref.ReferencedSOPInstanceUID == photo_ds.SOPInstanceUID


def test_srread_gives_a_tid1500_report(tmp_path, written):
    path = tmp_path / "sr.dcm"
    written[0].save_as(path, enforce_file_format=True)
    sr = srread(path)
    assert isinstance(sr, Comprehensive3DSR)
    assert sr.content.get_image_measurement_groups()


def test_contributing_equipment_identifies_node_and_model(written, module_ctx):
    ctx = module_ctx
    raw, _ = written
    items = raw.ContributingEquipmentSequence
    by_model = {i.get("ManufacturerModelName"): i for i in items}
    model = by_model[DLIB_MODEL.name]
    assert model.DeviceUID == device_uid(DLIB_MODEL.id, DLIB_MODEL.version)
    assert model.SoftwareVersions == DLIB_MODEL.version
    assert model.PurposeOfReferenceCodeSequence[0].CodeValue == "109102"
    assert "Processing Algorithm" in model.ContributionDescription
    assert "NON-COMMERCIAL" in model.ContributionDescription
    node = by_model[ctx.model_name]
    assert node.DeviceUID == ctx.node_device_uid
    assert node.Manufacturer == ctx.manufacturer


def test_observer_is_the_node_device(written, module_ctx):
    ctx = module_ctx
    _, sr = written
    (observer,) = sr.content.get_observer_contexts()
    assert observer.observer_type.meaning == "Device"
    assert observer.observer_identifying_attributes.uid == ctx.node_device_uid
    assert observer.observer_identifying_attributes.model_name == ctx.model_name


def test_landmarks_are_scoord_points_on_the_source_image(written, analysis, module_photo):
    photo_ds = module_photo
    _, sr = written
    groups = sr.content.get_planar_roi_measurement_groups(graphic_type=GraphicTypeValues.POINT)
    assert analysis.semantic is not None
    assert len(groups) == len(analysis.semantic.points)
    seen = set()
    for g in groups:
        key = g.tracking_identifier.removeprefix(LANDMARK_GROUP_PREFIX)
        seen.add(key)
        x, y = analysis.semantic.points[key]
        roi = g.roi
        assert roi.graphic_type == GraphicTypeValues.POINT
        np.testing.assert_allclose(roi.value, [[x + 0.5, y + 0.5]], atol=1e-4)
        src = roi.ContentSequence[0].ReferencedSOPSequence[0]
        assert src.ReferencedSOPInstanceUID == photo_ds.SOPInstanceUID
        assert g.finding_type.value == f"lm:{key}"
        (conf,) = g.get_measurements()
        assert conf.value == pytest.approx(analysis.semantic.confidence[key])
    assert seen == set(analysis.semantic.points)


def test_measurements_values_units_landmarks_scale_and_uncertainty(written, analysis):
    _, sr = written
    group = _group(sr, PHOTO_GROUP_ID)
    got = {m.name.value: m for m in group.get_measurements()}
    assert set(got) == {f"m:{m.id}" for m in analysis.measurements}
    assert analysis.semantic is not None
    for m in analysis.measurements:
        item = got[f"m:{m.id}"]
        assert item.name.meaning == m.name
        assert item.value == pytest.approx(m.value, rel=1e-9)
        assert item.unit.value == codes.unit_code(m.unit).value
        assert item.unit.scheme_designator == "UCUM"
        if m.scale_source is not None:
            assert item.method.value == codes.scale_source_code(m.scale_source).value
        else:
            assert item.method is None
        coords = {c.name.value: c.value for c in item.referenced_coordinates}
        assert set(coords) == {f"lm:{resolve(n)}" for n in m.landmarks}
        for n in m.landmarks:
            x, y = analysis.semantic.points[resolve(n)]
            np.testing.assert_allclose(coords[f"lm:{resolve(n)}"], [[x + 0.5, y + 0.5]], atol=1e-4)
        upper = _children(item[0], codes.UPPER_UNCERTAINTY.value)
        lower = _children(item[0], codes.LOWER_UNCERTAINTY.value)
        assert float(upper[0].MeasuredValueSequence[0].NumericValue) == pytest.approx(m.uncertainty)
        assert float(lower[0].MeasuredValueSequence[0].NumericValue) == pytest.approx(m.uncertainty)
        flags = [_code_value(c) for c in _children(item[0], codes.MEASUREMENT_FLAG.value)]
        assert flags == [f"flag:{f}" for f in m.flags]
    assert any(m.flags for m in analysis.measurements)  # the factory exercises flags


def test_findings_with_severity_confidence_text_and_evidence(written, analysis):
    _, sr = written
    group = _group(sr, PHOTO_GROUP_ID)
    evals = {q.name.value: q for q in group.get_qualitative_evaluations()}
    items = {_value(i): i for i in group[0].ContentSequence if i.ValueType == "CODE"}
    for f in analysis.findings:
        key = f"f:{f.id}"
        assert evals[key].name.meaning == f.title
        assert evals[key].value.value == codes.severity_code(f.severity).value
        item = items[key]
        (certainty,) = _children(item, codes.CERTAINTY_OF_FINDING.value)
        measured = certainty.MeasuredValueSequence[0]
        assert float(measured.NumericValue) == pytest.approx(100 * f.confidence)
        assert measured.MeasurementUnitsCodeSequence[0].CodeValue == "%"
        (text,) = _children(item, codes.FINDING_DESCRIPTION.value)
        assert text.TextValue == f.text
        evidence = [c.TextValue for c in _children(item, codes.FINDING_EVIDENCE.value)]
        assert len(evidence) == len(f.evidence)
        for e, t in zip(f.evidence, evidence, strict=True):
            assert e.measurement_id in t and e.norm_citation in t and e.population in t


def test_face_view_reliability_and_disclaimer(written, analysis):
    _, sr = written
    group = _group(sr, PHOTO_GROUP_ID)
    evals = {q.name.value: q.value for q in group.get_qualitative_evaluations()}
    assert evals[codes.FACE_DETECTION.value].value == codes.FACE_DETECTED.value
    assert evals[codes.IMAGE_VIEW.value].value == codes.VIEW_FRONTAL.value
    assert evals[codes.RESULT_RELIABILITY.value].value == codes.UNRELIABLE.value
    items = {_value(i): i for i in group[0].ContentSequence}
    flags = _children(items[codes.RESULT_RELIABILITY.value], codes.QUALITY_FLAG.value)
    assert [_code_value(c) for c in flags] == ["flag:face_too_small"]
    (msg,) = _children(items[codes.FACE_DETECTION.value], codes.ANALYSIS_MESSAGE.value)
    assert msg.TextValue == analysis.message
    assert "not a diagnosis" in items[codes.DISCLAIMER.value].TextValue
    assert [s.referenced_sop_instance_uid for s in group.source_images]


def test_algorithm_identification_with_licence_note(written):
    raw, _ = written
    photo_group = raw.ContentSequence[-1].ContentSequence[0]
    texts = {
        _value(c): [x.TextValue for x in _children(photo_group, _value(c))]
        for c in _children(photo_group)
        if c.ValueType == "TEXT"
    }
    assert texts["111001"] == [DLIB_MODEL.name]
    assert texts["111003"] == [DLIB_MODEL.version]
    params = " | ".join(texts["111002"])
    assert DLIB_MODEL.licence in params and "NON-COMMERCIAL" in params
    assert f"model id: {DLIB_MODEL.id}" in params


def test_quality_group_has_pose_and_scale(written, analysis):
    _, sr = written
    group = _group(sr, QUALITY_GROUP_ID)
    nums = {m.name.value: m for m in group.get_measurements()}
    assert analysis.quality is not None and analysis.quality.pose is not None
    assert analysis.scale is not None
    assert nums[codes.HEAD_YAW.value].value == pytest.approx(analysis.quality.pose.yaw)
    assert nums[codes.HEAD_YAW.value].unit.value == "deg"
    scale = nums[codes.IMAGE_SCALE.value]
    assert scale.value == pytest.approx(analysis.scale.mm_per_px)
    assert scale.method.value == codes.scale_source_code(analysis.scale.source).value


def test_no_face_sr_says_so_without_measurements(photo_ds, ctx, tmp_path, dciodvfy):
    result = make_photo_analysis(face_found=False)
    sr_ds = build_sr(photo_ds, result, ctx)
    assert _errors(sr_ds, tmp_path) == []
    sr = Comprehensive3DSR.from_dataset(_write_read(sr_ds, tmp_path))
    assert sr.content.get_planar_roi_measurement_groups() == []
    (group,) = sr.content.get_image_measurement_groups()
    assert group.get_measurements() == []
    evals = {q.name.value: q.value for q in group.get_qualitative_evaluations()}
    detection = evals[codes.FACE_DETECTION.value]
    assert detection.value == codes.NO_FACE_DETECTED.value
    assert detection.meaning == "No face detected"
    items = {_value(i): i for i in group[0].ContentSequence}
    (msg,) = _children(items[codes.FACE_DETECTION.value], codes.ANALYSIS_MESSAGE.value)
    assert msg.TextValue == result.message


def test_raw_landmarks_are_written_when_there_are_no_semantic_points(photo_ds, ctx, tmp_path):
    full = make_photo_analysis()
    result = PhotoAnalysis(
        face_found=True,
        message=full.message,
        landmarks=full.landmarks,
        models=full.models,
    )
    sr = Comprehensive3DSR.from_dataset(_write_read(build_sr(photo_ds, result, ctx), tmp_path))
    groups = sr.content.get_planar_roi_measurement_groups()
    assert full.landmarks is not None
    assert len(groups) == 68
    first = next(g for g in groups if g.tracking_identifier.endswith("ibug68_000"))
    x, y = full.landmarks.points[0]
    np.testing.assert_allclose(first.roi.value, [[x + 0.5, y + 0.5]], atol=1e-4)


def test_sr_for_multiframe_and_jpeg_sources(ctx, tmp_path, dciodvfy):
    frames = np.stack([astronaut(), astronaut()])
    mf = make_vl_photo(frames, sop_class_uid=MULTIFRAME_TRUE_COLOR_SC)
    sr_ds = build_sr(mf, make_photo_analysis(), ctx)
    assert _errors(sr_ds, tmp_path) == []
    sr = Comprehensive3DSR.from_dataset(_write_read(sr_ds, tmp_path))
    roi = sr.content.get_planar_roi_measurement_groups()[0].roi
    assert roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedFrameNumber == 1
    jpeg = make_vl_photo(transfer_syntax=JPEGBaseline8Bit, view=View.PROFILE_RIGHT)
    assert (
        _errors(build_sr(jpeg, make_photo_analysis(view=View.PROFILE_RIGHT), ctx), tmp_path) == []
    )


def test_source_missing_type2_patient_attributes_still_builds(photo_ds, ctx, tmp_path, dciodvfy):
    for keyword in ("PatientBirthDate", "PatientSex", "AccessionNumber", "ReferringPhysicianName"):
        del photo_ds[keyword]
    sr = build_sr(photo_ds, make_photo_analysis(), ctx)
    assert _errors(sr, tmp_path) == []
    assert sr.PatientBirthDate in ("", None)
