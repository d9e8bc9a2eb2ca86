from __future__ import annotations

import logging
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from highdicom.sr import Comprehensive3DSR, GraphicTypeValues, srread
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import JPEGBaseline8Bit

from analysis.landmark_names import resolve
from analysis.types import Flag, Measurement, PhotoAnalysis, View
from dicom import codes
from dicom.context import ResultContext
from dicom.sr import CHARACTER_SET, LANDMARK_GROUP_PREFIX, build_sr
from dicom.sr_arrows import ARROW_TRACKING_ID
from dicom.sr_drawn import outline
from dicom.sr_families import FAMILIES, SHOWN, family_of, rank
from dicom.uids import device_uid
from tests.factories import (
    DLIB_MODEL,
    MULTIFRAME_TRUE_COLOR_SC,
    astronaut,
    make_photo_analysis,
    make_vl_photo,
)
from tests.support.dciodvfy import dciodvfy_errors
from tests.support.ohif_sr_model import (
    TEXT_BOX_OFFSET_PX,
    TEXT_LINE_PX,
    annotations,
    hydrated_as,
    rehydratable,
    remeasured,
    text_box_anchor,
)

COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
OHIF_VERSIONS = ("3.12.10", "3.13.2")


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


def _code_value(item: Dataset) -> str:
    c = item.ConceptCodeSequence[0]
    return str(c.get("CodeValue") or c.get("LongCodeValue"))


def _children(item: Dataset, concept_value: str | None = None) -> list[Dataset]:
    out = list(item.get("ContentSequence", []))
    if concept_value is not None:
        out = [c for c in out if "ConceptNameCodeSequence" in c and _value(c) == concept_value]
    return out


def _count(items) -> int:  # type: ignore[no-untyped-def]
    return sum(1 + _count(i.get("ContentSequence", [])) for i in items)


def _evaluations(raw: Dataset) -> dict[str, Dataset]:
    """The report's Qualitative Evaluations container, by concept code value."""
    (container,) = _children(raw, codes.QUALITATIVE_EVALUATIONS.value)
    return {_value(i): i for i in container.ContentSequence}


def _measurements(sr: Comprehensive3DSR) -> dict[str, tuple[object, object]]:
    """Measurement id → (its TID 1410 group, its NUM), from every drawn group."""
    out = {}
    for g in sr.content.get_planar_roi_measurement_groups():
        for m in g.get_measurements():
            assert m.name.value.startswith("m:")
            out[m.name.value.removeprefix("m:")] = (g, m)
    return out


def _family_groups(sr: Comprehensive3DSR) -> list[Any]:
    """The TID 1410 groups of the families (not the measurements' arrows)."""
    groups = sr.content.get_planar_roi_measurement_groups()
    return [g for g in groups if g.tracking_identifier != ARROW_TRACKING_ID]


def _arrow_groups(sr: Comprehensive3DSR) -> list[Any]:
    groups = sr.content.get_planar_roi_measurement_groups()
    return [g for g in groups if g.tracking_identifier == ARROW_TRACKING_ID]


def _landmark_groups(sr: Comprehensive3DSR) -> dict[str, object]:
    return {
        g.tracking_identifier.removeprefix(LANDMARK_GROUP_PREFIX): g
        for g in sr.content.get_image_measurement_groups()
        if g.tracking_identifier.startswith(LANDMARK_GROUP_PREFIX)
    }


def _landmarks(sr: Comprehensive3DSR) -> dict[str, tuple[np.ndarray, float]]:
    """Landmark key → (SCOORD point, confidence), from the per-region groups."""
    out = {}
    for group in _landmark_groups(sr).values():
        carrier, *per_landmark = group.get_measurements()
        (coords,) = carrier.referenced_coordinates
        assert coords.graphic_type == GraphicTypeValues.MULTIPOINT
        assert carrier.value == len(per_landmark) == len(coords.value)
        for m, point in zip(per_landmark, coords.value, strict=True):
            assert m.name.value.startswith("lm:")
            out[m.name.value.removeprefix("lm:")] = (point, m.value)
    return out


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


def test_sr_header_same_study_own_series_utf8_and_flags(written, module_photo, module_ctx):
    photo_ds, ctx = module_photo, module_ctx
    raw, _ = written
    assert raw.SOPClassUID == COMPREHENSIVE_3D_SR
    assert raw.SpecificCharacterSet == CHARACTER_SET == "ISO_IR 192"
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
    assert sr.content.get_planar_roi_measurement_groups()


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


# --- what OHIF makes of it ------------------------------------------------------------


@pytest.mark.parametrize("version", OHIF_VERSIONS)
def test_ohif_draws_one_labelled_region_per_family_and_does_not_retrack(written, analysis, version):
    raw, _ = written
    anns = annotations(raw, version)
    assert anns, "the viewer gets annotations"
    assert [a for a in anns if a.crashes or a.warnings] == []
    assert remeasured(anns) == [], "OHIF would re-measure our values in pixels"
    arrows = [a for a in anns if hydrated_as(a) == "ArrowAnnotate"]
    assert rehydratable(anns) and len(arrows) == len(analysis.measurements)
    assert all(a.graphics[0][:2] == ("POLYLINE", 2) and not a.text_lines for a in arrows)
    boxes = {a.tracking_identifier: a for a in anns if a.text_lines}
    families = {family_of(m.id) for m in analysis.measurements}
    assert set(boxes) == families  # one label box per family, not one per measurement
    for title, ann in boxes.items():
        members = sorted(
            (m for m in analysis.measurements if family_of(m.id) == title), key=lambda m: rank(m.id)
        )
        lines = [f"{m.name}: {m.value:.2f} {codes.unit_code(m.unit).value}" for m in members]
        assert ann.labels == lines  # every value in the annotation (merged groups) ...
        assert ann.text_lines == lines[:SHOWN]  # ... the first five in its box
        assert ann.graphics[0][0] == "POLYLINE" and ann.region
    dots = [a for a in anns if a.graphics[0][0] == "MULTIPOINT"]
    assert {a.tracking_identifier for a in dots} == {
        f"{LANDMARK_GROUP_PREFIX}{r}" for r in ("brows", "eyes", "nose", "mouth", "jaw")
    }


def _full_catalogue() -> PhotoAnalysis:
    """The astronaut's landmarks with every family's measurements (as a frontal photo
    gives them), each on the landmarks the catalogue names."""
    base = make_photo_analysis()
    assert base.semantic is not None
    keys = sorted(base.semantic.points)
    by_family = {
        "Brows": ("ibug_19", "ibug_24"), "Eyes": ("ibug_36", "ibug_45"),
        "Nose": ("ibug_31", "ibug_35", "ibug_27"), "Lips and mouth": ("ibug_48", "ibug_54"),
        "Chin": ("ibug_57", "ibug_08"), "Facial thirds": ("ibug_27", "ibug_33", "ibug_08"),
        "Facial fifths": ("ibug_00", "ibug_36", "ibug_39", "ibug_42", "ibug_45", "ibug_16"),
        "Face width and height": ("ibug_01", "ibug_15", "ibug_04", "ibug_12", "ibug_08"),
        "Symmetry": tuple(keys),
    }  # fmt: skip
    extra = tuple(
        Measurement(mid, mid.replace("_", " "), float(i), "mm", 0.1, by_family[title])
        for title, ids in FAMILIES
        for i, mid in enumerate(ids, start=1)
    )
    return PhotoAnalysis(**{**base.__dict__, "measurements": extra})


@pytest.mark.parametrize("version", OHIF_VERSIONS)
def test_label_boxes_do_not_overlap_once_the_face_is_zoomed_to(photo_ds, ctx, tmp_path, version):
    """OHIF's label placement (mirrored in the model) on the family regions: a ladder of
    boxes right of the face, none overlapping at the layout's on-screen face height."""
    from dicom.sr_layout import FACE_SCREEN_PX

    result = _full_catalogue()
    raw = _write_read(build_sr(photo_ds, result, ctx), tmp_path)
    assert result.semantic is not None
    face = np.array(list(result.semantic.points.values()))
    scale = FACE_SCREEN_PX / np.ptp(face[:, 1])  # screen px per image px
    root = _children(raw, "126010")[0]
    boxes, seen = [], set()
    for group in _children(root, "125007"):
        (uid,) = _children(group, "112040")
        regions = [i for i in group.ContentSequence if i.ValueType == "SCOORD"]
        (ident,) = _children(group, "112039")
        if uid.UID in seen or not regions or ident.TextValue == ARROW_TRACKING_ID:
            continue  # a family's second group, landmarks, or a measurement's arrow
            continue
        seen.add(uid.UID)
        (region,) = regions
        pts = np.asarray(region.GraphicData, dtype=float).reshape(-1, 2)
        ax, ay = text_box_anchor([(float(x), float(y)) for x, y in pts], version)
        lines = min(len([i for i in group.ContentSequence if i.ValueType == "NUM"]), SHOWN)
        top = ay * scale + TEXT_BOX_OFFSET_PX
        boxes.append((top, top + lines * TEXT_LINE_PX, ax))
        assert ax > face[:, 0].max()  # right of the face: boxes do not cover it
    assert len(boxes) == len(FAMILIES)
    boxes.sort()
    for (_, bottom, _), (top, _, _) in zip(boxes, boxes[1:], strict=False):
        assert top >= bottom - 2.0
    span = (boxes[-1][0] - boxes[0][0]) / scale
    assert span < 1.2 * np.ptp(face[:, 1])  # the ladder stays about the face's height


def test_a_large_family_is_one_annotation_of_two_groups(photo_ds, ctx, tmp_path):
    """Eyes (12 measurements): two TID 1410 groups, one Tracking UID, one label box."""
    base = make_photo_analysis()
    eye_ids = [mid for title, ids in FAMILIES if title == "Eyes" for mid in ids]
    extra = tuple(
        Measurement(mid, mid.replace("_", " "), float(i), "mm", 0.1, ("pupil_r", "pupil_l"))
        for i, mid in enumerate(eye_ids, start=1)
    )
    result = PhotoAnalysis(**{**base.__dict__, "measurements": extra})
    raw = _write_read(build_sr(photo_ds, result, ctx), tmp_path)
    sr = Comprehensive3DSR.from_dataset(raw)
    groups = _family_groups(sr)
    assert [len(g.get_measurements()) for g in groups] == [SHOWN, len(eye_ids) - SHOWN]
    assert len({g.tracking_uid for g in groups}) == 1
    (ann,) = [a for a in annotations(raw) if a.text_lines]
    assert len(ann.labels) == len(eye_ids) and len(ann.text_lines) == SHOWN


def test_the_previous_sr_shape_is_what_crashed_ohif():
    """The model reproduces the reported failure: a group without coordinates."""
    sr = Dataset()
    item = Dataset()
    item.ConceptNameCodeSequence = [_concept("DCM", "126010")]
    group = Dataset()
    group.ValueType = "CONTAINER"
    group.ConceptNameCodeSequence = [_concept("DCM", "125007")]
    uid = Dataset()
    uid.ValueType, uid.UID = "UIDREF", "1.2.3"
    uid.ConceptNameCodeSequence = [_concept("DCM", "112040")]
    group.ContentSequence = [uid]
    item.ContentSequence = [group]
    sr.ContentSequence = [item]
    (ann,) = annotations(sr)
    assert ann.crashes


def _concept(scheme: str, value: str) -> Dataset:
    c = Dataset()
    c.CodingSchemeDesignator, c.CodeValue, c.CodeMeaning = scheme, value, value
    return c


# --- measurements ---------------------------------------------------------------------


def test_measurements_round_trip_values_units_method_uncertainty_flags(written, analysis):
    _, sr = written
    found = _measurements(sr)
    assert set(found) == {m.id for m in analysis.measurements}
    for m in analysis.measurements:
        group, item = found[m.id]
        assert group.tracking_identifier == family_of(m.id)
        assert item.name.value == f"m:{m.id}" and item.name.meaning == m.name
        assert item.value == pytest.approx(m.value, rel=1e-9)
        assert item.unit.value == codes.unit_code(m.unit).value
        assert item.unit.scheme_designator == "UCUM"
        if m.scale_source is not None:
            assert item.method.value == codes.scale_source_code(m.scale_source).value
        else:
            assert item.method is None
        upper = _children(item[0], codes.UPPER_UNCERTAINTY.value)
        lower = _children(item[0], codes.LOWER_UNCERTAINTY.value)
        assert float(upper[0].MeasuredValueSequence[0].NumericValue) == pytest.approx(m.uncertainty)
        assert float(lower[0].MeasuredValueSequence[0].NumericValue) == pytest.approx(m.uncertainty)
        flags = [_code_value(c) for c in _children(item[0], codes.MEASUREMENT_FLAG.value)]
        assert flags == [f"flag:{f}" for f in m.flags]
    assert any(m.flags for m in analysis.measurements)  # the factory exercises flags


def test_family_regions_outline_their_measurements_landmarks(written, analysis, module_photo):
    _, sr = written
    assert analysis.semantic is not None
    face_right = max(x for x, _ in analysis.semantic.points.values()) + 0.5
    seen: set[object] = set()
    for group in _family_groups(sr):
        pts = []
        for item in group.get_measurements():
            (text,) = _children(item[0], codes.LANDMARKS_USED.value)
            m = next(m for m in analysis.measurements if f"m:{m.id}" == item.name.value)
            keys = [resolve(n) for n in m.landmarks]
            assert text.TextValue.split(", ") == keys
            pts += [analysis.semantic.points[k] for k in keys]
        pts_arr = np.array(pts) + 0.5
        roi = group.roi
        region = np.asarray(roi.value, dtype=float)
        src = roi.ContentSequence[0].ReferencedSOPSequence[0]
        assert src.ReferencedSOPInstanceUID == module_photo.SOPInstanceUID
        assert roi.graphic_type == GraphicTypeValues.POLYLINE
        drawn_first = group.tracking_uid not in seen
        seen.add(group.tracking_uid)
        if drawn_first:  # a leader point right of the face, then the outline
            leader, region = region[0], region[1:]
            assert leader[0] > face_right
        for p in region:  # through landmarks of the group's measurements only
            assert np.min(np.hypot(*(pts_arr - p).T)) < 1e-3 or len(region) > 5
        if len(region) > 2:  # an outline: closed, not a 4/5-point "rectangle"
            np.testing.assert_allclose(region[0], region[-1])
            assert len(region) + drawn_first not in (4, 5)


def test_outline_shapes():
    assert outline([(1.0, 1.0)]) == ("POINT", [(1.0, 1.0)])
    assert outline([(3.0, 1.0), (1.0, 1.0)]) == ("POLYLINE", [(3.0, 1.0), (1.0, 1.0)])
    assert outline([(0.0, 0.0), (1.0, 1.0), (2.0, 2.0)]) == ("POLYLINE", [(0.0, 0.0), (2.0, 2.0)])
    graphic, pts = outline([(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0), (2.0, 2.0)])
    assert graphic == "POLYLINE" and pts[0] == pts[-1]
    assert set(pts) == {(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)}


@pytest.mark.parametrize(
    ("landmarks", "drawn"),
    [
        (("nasion",), ("POLYLINE", 2)),  # its leader and the point: not a probe
        (("ibug_31", "ibug_35", "ibug_48", "ibug_54"), ("POLYLINE", 6)),
        (("ibug_31", "ibug_35", "ibug_08"), ("POLYLINE", 6)),  # 4 + leader: one point more
    ],
)
def test_one_point_and_four_corner_regions_are_not_offered_for_tracking(
    landmarks, drawn, photo_ds, ctx, tmp_path
):
    base = make_photo_analysis()
    only = (Measurement("odd", "Odd shape", 1.0, "mm", 0.1, landmarks),)
    result = PhotoAnalysis(**{**base.__dict__, "measurements": only})
    raw = _write_read(build_sr(photo_ds, result, ctx), tmp_path)
    anns = annotations(raw)
    assert remeasured(anns) == []
    (ann,) = [a for a in anns if a.text_lines]
    assert ann.graphics[0][:2] == drawn


# --- landmarks ------------------------------------------------------------------------


def test_landmarks_are_named_points_grouped_by_face_region(written, analysis, module_photo):
    raw, sr = written
    assert analysis.semantic is not None
    got = _landmarks(sr)
    assert set(got) == set(analysis.semantic.points)
    for key, (point, conf) in got.items():
        x, y = analysis.semantic.points[key]
        np.testing.assert_allclose(point, [x + 0.5, y + 0.5], atol=1e-4)
        assert conf == pytest.approx(analysis.semantic.confidence[key])
    eyes = _landmark_groups(sr)["eyes"]
    names = {m.name.value for m in eyes.get_measurements()[1:]}
    assert {"lm:pupil_r", "lm:pupil_l", "lm:ibug_39", "lm:ibug_42"} <= names
    (coords,) = eyes.get_measurements()[0].referenced_coordinates
    src = coords.ContentSequence[0].ReferencedSOPSequence[0]
    assert src.ReferencedSOPInstanceUID == module_photo.SOPInstanceUID


def test_raw_landmarks_are_written_when_there_are_no_semantic_points(photo_ds, ctx, tmp_path):
    full = make_photo_analysis()
    result = PhotoAnalysis(
        face_found=True,
        message=full.message,
        landmarks=full.landmarks,
        models=full.models,
    )
    sr = Comprehensive3DSR.from_dataset(_write_read(build_sr(photo_ds, result, ctx), tmp_path))
    got = _landmarks(sr)
    assert full.landmarks is not None
    assert len(got) == 68
    x, y = full.landmarks.points[0]
    np.testing.assert_allclose(got["ibug68_000"][0], [x + 0.5, y + 0.5], atol=1e-4)
    assert set(_landmark_groups(sr)) == {"brows", "eyes", "nose", "mouth", "jaw"}


def test_a_landmark_without_confidence_is_marked_not_a_number(photo_ds, ctx, tmp_path):
    base = make_photo_analysis()
    assert base.semantic is not None
    conf = {**base.semantic.confidence, "pupil_r": math.nan}
    semantic = type(base.semantic)(base.semantic.points, conf, base.semantic.sources)
    result = PhotoAnalysis(**{**base.__dict__, "semantic": semantic})
    raw = _write_read(build_sr(photo_ds, result, ctx), tmp_path)
    sr = Comprehensive3DSR.from_dataset(raw)
    (pupil,) = [
        m for m in _landmark_groups(sr)["eyes"].get_measurements() if m.name.value == "lm:pupil_r"
    ]
    assert pupil.qualifier is not None and pupil.qualifier.value == codes.NOT_A_NUMBER.value


# --- what is not drawn ----------------------------------------------------------------


def test_algorithm_identification_once_with_licence_and_device_uid(written):
    raw, _ = written

    def names(items):  # type: ignore[no-untyped-def]
        for i in items:
            yield _value(i)
            yield from names(i.get("ContentSequence", []))

    all_names = list(names(raw.ContentSequence))
    assert all_names.count("111001") == 1  # Algorithm Name
    assert all_names.count("111003") == 1  # Algorithm Version
    evals = _evaluations(raw)
    assert evals["111001"].TextValue == DLIB_MODEL.name
    assert evals["111003"].TextValue == DLIB_MODEL.version
    (container,) = _children(raw, codes.QUALITATIVE_EVALUATIONS.value)
    params = " | ".join(c.TextValue for c in _children(container, "111002"))
    assert DLIB_MODEL.licence in params and "NON-COMMERCIAL" in params
    assert f"model id: {DLIB_MODEL.id}" in params
    assert str(device_uid(DLIB_MODEL.id, DLIB_MODEL.version)) in params


def test_face_view_pose_scale_reliability_and_disclaimer(written, analysis):
    raw, _ = written
    evals = _evaluations(raw)
    face = evals[codes.FACE_DETECTION.value]
    assert _code_value(face) == codes.FACE_DETECTED.value
    (msg,) = _children(face, codes.ANALYSIS_MESSAGE.value)
    assert msg.TextValue == analysis.message
    view = evals[codes.IMAGE_VIEW.value]
    assert _code_value(view) == codes.VIEW_FRONTAL.value
    assert analysis.quality is not None and analysis.quality.pose is not None
    (yaw,) = _children(view, codes.HEAD_YAW.value)
    assert float(yaw.MeasuredValueSequence[0].NumericValue) == pytest.approx(
        analysis.quality.pose.yaw
    )
    scale = evals[codes.MEASUREMENT_METHOD.value]
    assert analysis.scale is not None
    assert _code_value(scale) == codes.scale_source_code(analysis.scale.source).value
    (value,) = _children(scale, codes.IMAGE_SCALE.value)
    assert float(value.MeasuredValueSequence[0].NumericValue) == pytest.approx(
        analysis.scale.mm_per_px
    )
    (upper,) = _children(value, codes.UPPER_UNCERTAINTY.value)
    assert float(upper.MeasuredValueSequence[0].NumericValue) == pytest.approx(
        analysis.scale.relative_uncertainty * analysis.scale.mm_per_px
    )
    (note,) = _children(scale, codes.SCALE_NOTE.value)
    assert note.TextValue == analysis.scale.note
    reliability = evals[codes.RESULT_RELIABILITY.value]
    assert _code_value(reliability) == codes.UNRELIABLE.value
    flags = _children(reliability, codes.QUALITY_FLAG.value)
    assert [_code_value(c) for c in flags] == ["flag:face_too_small"]
    assert "not a diagnosis" in evals[codes.DISCLAIMER.value].TextValue


def test_findings_with_severity_confidence_text_and_evidence(written, analysis):
    raw, _ = written
    evals = _evaluations(raw)
    for f in analysis.findings:
        item = evals[f"f:{f.id}"]
        assert item.ConceptNameCodeSequence[0].CodeMeaning == f.title
        assert _code_value(item) == codes.severity_code(f.severity).value
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
            assert "±" in t  # written as such: the SR is UTF-8


def test_no_face_sr_says_so_on_the_photo_and_in_its_evaluations(photo_ds, ctx, tmp_path, dciodvfy):
    result = make_photo_analysis(face_found=False)
    sr_ds = build_sr(photo_ds, result, ctx)
    assert _errors(sr_ds, tmp_path) == []
    raw = _write_read(sr_ds, tmp_path)
    sr = Comprehensive3DSR.from_dataset(raw)
    assert sr.content.get_image_measurement_groups() == []
    (group,) = sr.content.get_planar_roi_measurement_groups()
    (count,) = group.get_measurements()
    assert count.value == 0 and count.name.value == codes.FACE_COUNT.value
    w, h = photo_ds.Columns, photo_ds.Rows
    corners = {(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)}
    assert corners <= {tuple(p) for p in np.asarray(group.roi.value, dtype=float)}
    for version in OHIF_VERSIONS:  # OHIF fails on an SR without a measurement
        (ann,) = annotations(raw, version)
        assert ann.text_lines == ["Number of faces:  {faces}"]  # OHIF shows no 0
        assert not ann.crashes and not rehydratable([ann])
    face = _evaluations(raw)[codes.FACE_DETECTION.value]
    assert _code_value(face) == codes.NO_FACE_DETECTED.value
    assert face.ConceptCodeSequence[0].CodeMeaning == "No face detected"
    (msg,) = _children(face, codes.ANALYSIS_MESSAGE.value)
    assert msg.TextValue == result.message


# --- size, sources, text --------------------------------------------------------------


def test_sr_is_small(written, analysis):
    raw, _ = written
    assert analysis.semantic is not None
    n_landmarks, n_measurements = len(analysis.semantic.points), len(analysis.measurements)
    items = _count(raw.ContentSequence)
    # ≈ 10 items a measurement + 8 for its arrow, 1 a landmark, 3 a region, ≈ 40 the rest
    assert items <= 20 * n_measurements + n_landmarks + 3 * 6 + 60, items


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


@pytest.mark.parametrize("charset", [None, "ISO_IR 100", "ISO_IR 192"])
def test_non_ascii_text_is_encoded_whatever_the_source_declares(
    charset, ctx, tmp_path, dciodvfy, caplog
):
    photo = make_vl_photo(patient_name="Müller-Łukasz^Zoë")
    if charset is None:
        del photo.SpecificCharacterSet
    else:
        photo.SpecificCharacterSet = charset
    photo.StudyDescription = "Gesichtsfotografie – frontal"
    result = make_photo_analysis()
    assert result.scale is not None
    note = "assumed interpupillary distance 63 mm (adult SD ≈ 3.5 mm) – ±6 %"
    result = PhotoAnalysis(
        **{
            **result.__dict__,
            "scale": type(result.scale)(
                result.scale.mm_per_px, result.scale.source, result.scale.relative_uncertainty, note
            ),
        }
    )
    sr = build_sr(photo, result, ctx)
    with caplog.at_level(logging.WARNING), warnings.catch_warnings():
        warnings.simplefilter("error")  # pydicom warns "Failed to encode value"
        raw = _write_read(sr, tmp_path)
    assert not [r for r in caplog.records if "encode" in r.getMessage()]
    assert raw.SpecificCharacterSet == "ISO_IR 192"
    assert str(raw.PatientName) == "Müller-Łukasz^Zoë"
    (scale_note,) = _children(
        _evaluations(raw)[codes.MEASUREMENT_METHOD.value], codes.SCALE_NOTE.value
    )
    assert scale_note.TextValue == note
    assert _errors(raw, tmp_path) == []


def _shared_photos() -> list[Path]:
    from tests.bench.photos import data_root

    root = data_root() / "photos"
    return sorted(p for p in root.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


@pytest.mark.slow
def test_every_shared_photo_gives_an_sr_with_zero_dciodvfy_errors(ctx, tmp_path, dciodvfy):
    """Real analyses of every photo of the shared set; every other source declares no
    Specific Character Set (common from cameras and converters), names are not ASCII."""
    import cv2

    from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
    from config.norms import load_tables
    from dicom.photo import dataset_to_photo
    from dicom.wrap import wrap_rgb_image

    photos = _shared_photos()
    if not photos:
        pytest.skip("the shared photo set is not there (FACENODE_SHARED_DATA)")
    analyzer = PhotoAnalyzer(AnalysisOptions(backend="mediapipe", tables=load_tables()))
    problems, checked = {}, 0
    for i, path in enumerate(photos):
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert bgr is not None, path
        source = wrap_rgb_image(
            np.ascontiguousarray(bgr[:, :, ::-1]), patient_name="Ødegård^Zoë", patient_id="P1"
        )
        if i % 2 == 0:
            del source.SpecificCharacterSet
        result = analyzer.analyze(dataset_to_photo(source))
        if not result.face_found:
            continue
        out = tmp_path / f"{path.stem}.dcm"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            build_sr(source, result, ctx).save_as(out, enforce_file_format=True)
        found = dciodvfy_errors(out) + [str(w.message) for w in caught]
        raw = dcmread(out)
        anns = annotations(raw)
        if any(a.crashes or a.warnings for a in anns) or remeasured(anns):
            found.append("not drawable by OHIF as such")
        if found:
            problems[f"{path.parent.name}/{path.name}"] = found[:3]
        checked += 1
    assert checked >= min(10, len(photos) // 2), "most shared photos show a face"
    assert problems == {}


def test_each_measurement_has_a_named_arrow_for_the_viewers_measurement_panel(
    photo_ds, ctx, tmp_path
):
    """One ArrowAnnotate group per measurement (what OHIF lists once tracked): the comment
    is OHIF's label of the NUM, the arrow's head on one of its landmarks, the text boxes a
    ladder right of the face with no overlap at the layout's on-screen face height."""
    from dicom.sr_arrows import BOX_PX, COMMENT, TEXT_POSITION, arrow_label
    from dicom.sr_layout import FACE_SCREEN_PX

    result = _full_catalogue()
    assert result.semantic is not None
    raw = _write_read(build_sr(photo_ds, result, ctx), tmp_path)
    sr = Comprehensive3DSR.from_dataset(raw)  # highdicom reads them as TID 1410 groups
    face = np.array(list(result.semantic.points.values())) + 0.5
    scale = FACE_SCREEN_PX / np.ptp(face[:, 1])
    labels, tops = [], []
    assert len(_arrow_groups(sr)) == len(result.measurements)
    for group in _children(_children(raw, "126010")[0], "125007"):
        if _children(group, "112039")[0].TextValue != ARROW_TRACKING_ID:
            continue
        assert not [i for i in group.ContentSequence if i.ValueType == "NUM"]  # once, in its family
        (comment,) = _children(group, COMMENT.value)
        (arrow, position) = [i for i in group.ContentSequence if i.ValueType == "SCOORD"]
        assert position.ConceptNameCodeSequence[0].CodeValue == TEXT_POSITION.value
        head, tail = np.asarray(arrow.GraphicData, dtype=float).reshape(2, 2)
        m = next(m for m in result.measurements if arrow_label(m) == comment.TextValue)
        keys = [resolve(n) for n in m.landmarks]
        assert tail[0] > head[0]
        assert any(np.allclose(result.semantic.points[k], head - 0.5) for k in keys)
        (x, y) = np.asarray(position.GraphicData, dtype=float)
        assert x > face[:, 0].max()
        labels.append(comment.TextValue)
        tops.append(y * scale)
    assert sorted(labels) == sorted(arrow_label(m) for m in result.measurements)
    tops.sort()
    assert np.diff(tops).min() >= BOX_PX - 1e-3  # GraphicData is float32
