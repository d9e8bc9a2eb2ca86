"""The 3D results' DICOM objects from a real face mesh (james, read in place): renderings as
Secondary Captures and the 3D report as a Comprehensive 3D SR — zero dciodvfy errors, in
the photos' study, UTF-8, read back with highdicom to the same values and coordinates, and
an SR that OHIF (as modelled in ``tests/support/ohif_sr_model.py``) draws without crashing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from highdicom.sr import Comprehensive3DSR, Scoord3DContentItem
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import JPEGLSLossless

from dicom import codes
from dicom.context import ResultContext
from dicom.mesh import MeshTarget
from dicom.render_sc import SURFACE_RENDERING, SeriesTarget, build_render_sc
from dicom.sr3d import (
    LANDMARK_3D,
    LANDMARKS_TRACKING_ID,
    MEASUREMENTS_TRACKING_ID,
    POSITION_UNCERTAINTY,
    SCALE_SOURCE_3D,
    TABLE_3D,
    Landmark3DEntry,
    Measurement3DEntry,
    Report3D,
    build_sr3d,
)
from dicom.sr_families import family_of, rank
from reconstruction import render as rr
from reconstruction import render_figure as rf
from reconstruction.types import MeshScale, MeshScaleSource
from tests.bench import multiview_synth as ms
from tests.factories import make_vl_photo
from tests.support.dciodvfy import dciodvfy_errors
from tests.support.ohif_sr_model import annotations, hydrated_as, rehydratable, remeasured
from tests.support.recon3d import ALGORITHM, needs_mesh

PATIENT = "Łukasiewicz^Zoë Ångström"
SIZE = (200, 240)
SCALE = MeshScale(MeshScaleSource.MARKER_BOARD, 0.004, note="ChArUco 15 mm squares ± 0.05 mm")

pytestmark = needs_mesh


@pytest.fixture(scope="module")
def face() -> ms.FaceModel:
    return ms.load_face()


@pytest.fixture(scope="module")
def figures(face: ms.FaceModel) -> dict[str, rf.Figure]:
    scene = ms.build_scene(face, board=None)
    out = {v.value: rf.surface_figure(scene, v, size=SIZE) for v in rr.RenderView}
    out["heat"] = rf.asymmetry_figure(scene, face.vertices[:, 0] / 20.0, size=SIZE)
    return out


@pytest.fixture(scope="module")
def sources() -> list[Dataset]:
    first = make_vl_photo(patient_name=PATIENT, patient_id="ID-ÄÖÜ-7")
    second = make_vl_photo(patient_name=PATIENT, patient_id="ID-ÄÖÜ-7")
    second.StudyInstanceUID = first.StudyInstanceUID
    second.SeriesInstanceUID = first.SeriesInstanceUID
    return [first, second]


@pytest.fixture(scope="module")
def module_ctx() -> ResultContext:
    return ResultContext.new(
        institution_name="Test Clinic", station_name="FACENODE1", device_serial="SN-0001"
    )


@pytest.fixture(scope="module")
def scs(figures, sources, module_ctx) -> dict[str, Dataset]:
    target = SeriesTarget()
    views = {v.value: v for v in rr.RenderView}
    return {
        name: build_render_sc(sources, fig.image, fig.title, module_ctx, target, i, views.get(name))
        for i, (name, fig) in enumerate(figures.items(), start=1)
    }


def _save(ds: Dataset, path: Path) -> Dataset:
    ds.save_as(path, enforce_file_format=True)
    return dcmread(path)


def test_renderings_are_valid_scs_of_every_photo_in_their_own_series(
    scs, figures, sources, tmp_path, dciodvfy
) -> None:
    series = {str(sc.SeriesInstanceUID) for sc in scs.values()}
    assert len(series) == 1 and series.isdisjoint({str(s.SeriesInstanceUID) for s in sources})
    orientation = {"front": ["L", "F"], "right_profile": ["A", "F"], "left_profile": ["P", "F"]}
    for name, sc in scs.items():
        path = tmp_path / f"{name}.dcm"
        back = _save(sc, path)
        assert dciodvfy_errors(path) == [], name
        assert back.file_meta.TransferSyntaxUID == JPEGLSLossless
        assert np.array_equal(back.pixel_array, figures[name].image)  # lossless
        assert back.StudyInstanceUID == sources[0].StudyInstanceUID
        assert str(back.PatientName) == PATIENT and back.SpecificCharacterSet == "ISO_IR 192"
        assert list(back.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        refs = {str(i.ReferencedSOPInstanceUID) for i in back.SourceImageSequence}
        assert refs == {str(s.SOPInstanceUID) for s in sources}
        assert back.DerivationCodeSequence[0].CodeValue == SURFACE_RENDERING[0]
        assert "not a diagnosis" in back.ImageComments
        assert list(back.PatientOrientation) == orientation.get(name, [])


def _report(face: ms.FaceModel) -> Report3D:
    landmarks = tuple(
        Landmark3DEntry(f"ibug_{i}", tuple(float(c) for c in face.landmarks[i]), 0.3 + i / 100)
        for i in range(68)
    )
    lm = face.landmarks
    measurements = (
        Measurement3DEntry("intercanthal_width", "Intercanthal width", 
                           float(np.linalg.norm(lm[42] - lm[39])), "mm", 0.4,
                           ("ibug_39", "ibug_42")),
        Measurement3DEntry("nasolabial_angle", "Nasolabial angle – true 3D", 104.5, "deg", 2.5,
                           ("ibug_33", "ibug_31", "ibug_51")),
        Measurement3DEntry("nasal_tip_projection", "Nasal tip projection", 31.2, "mm", 0.6,
                           ("ibug_30",), ("landmark_uncertain",)),
        Measurement3DEntry("face_height", "Face height (N–Me)", 118.0, "mm", 0.8,
                           ("ibug_27", "ibug_8")),
        Measurement3DEntry("mouth_width", "Mouth width", 52.0, "mm", 0.5, ("ibug_48", "ibug_54")),
        Measurement3DEntry("chin_deviation", "Chin deviation ±", 2.9, "mm", 0.4, ("ibug_8",)),
        Measurement3DEntry("alar_width", "Alar width", 36.0, "mm", 0.4, ("ibug_31", "ibug_35")),
    )  # fmt: skip
    return Report3D(landmarks, measurements, SCALE, ALGORITHM)


@pytest.fixture(scope="module")
def sr3d(face, sources, module_ctx, scs, figures) -> tuple[Dataset, Report3D, MeshTarget]:
    report = _report(face)
    target = MeshTarget()
    sr = build_sr3d(sources, report, module_ctx, target, (scs["front"], figures["front"]))
    return sr, report, target


def test_sr3d_passes_dciodvfy_in_the_study_utf8(sr3d, sources, tmp_path, dciodvfy) -> None:
    sr, _, _ = sr3d
    path = tmp_path / "sr3d.dcm"
    back = _save(sr, path)
    assert dciodvfy_errors(path) == []
    assert back.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.34"
    assert back.SpecificCharacterSet == "ISO_IR 192" and str(back.PatientName) == PATIENT
    assert back.StudyInstanceUID == sources[0].StudyInstanceUID
    assert back.Modality == "SR" and back.SeriesNumber == 906


def _walk(items):
    for item in items:
        yield item
        yield from _walk(item.get("ContentSequence", []))


def _evaluations(sr: Comprehensive3DSR):
    root = sr.content[0]  # highdicom's typed content items
    wanted = codes.QUALITATIVE_EVALUATIONS.value
    return next(i for i in root.ContentSequence if i.name.value == wanted)


def test_landmarks_read_back_as_scoord3d_in_the_mesh_frame(sr3d, tmp_path) -> None:
    sr_ds, report, target = sr3d
    sr = Comprehensive3DSR.from_dataset(_save(sr_ds, tmp_path / "sr.dcm"))
    got = {}
    for item in _evaluations(sr).ContentSequence:
        if item.name.value != LANDMARK_3D.value:
            continue
        key = codes.parse_private(item.value.value)
        assert key is not None and key[0] == "landmark"
        kids = list(item.ContentSequence)
        point = next(k for k in kids if isinstance(k, Scoord3DContentItem))
        assert point.graphic_type.value == "POINT"
        assert point.frame_of_reference_uid == target.frame_of_reference_uid
        sd = next(k for k in kids if k.name.value == POSITION_UNCERTAINTY.value)
        assert sd.unit.value == "mm"
        got[key[1]] = (point.value[0], float(sd.value))
    assert len(got) == 68
    for lm in report.landmarks:
        xyz, sd = got[lm.key]
        assert np.allclose(xyz, lm.position_mm, atol=1e-4)  # float32 in the SR
        assert sd == pytest.approx(lm.uncertainty_mm)


def test_measurements_read_back_with_units_uncertainty_method_and_utf8_names(
    sr3d, tmp_path
) -> None:
    sr_ds, report, _ = sr3d
    sr = Comprehensive3DSR.from_dataset(_save(sr_ds, tmp_path / "sr.dcm"))
    imaging = next(i for i in sr.content[0].ContentSequence if i.name.value == "126010")
    nums = {}
    for group in imaging.ContentSequence:
        for item in group.ContentSequence:
            parsed = codes.parse_private(item.name.value)
            if item.value_type.value == "NUM" and parsed and parsed[0] == "measurement":
                nums[parsed[1]] = item
    assert set(nums) == {m.id for m in report.measurements}
    method = SCALE_SOURCE_3D[SCALE.source]
    for m in report.measurements:
        item = nums[m.id]
        assert item.name.meaning == m.name  # "–", "±" survive (UTF-8)
        assert float(item.value) == pytest.approx(m.value)
        assert item.unit.value == codes.unit_code(m.unit).value
        kids = {k.name.value: k for k in item.ContentSequence}
        assert float(kids[codes.UPPER_UNCERTAINTY.value].value) == pytest.approx(m.uncertainty)
        assert kids[codes.MEASUREMENT_METHOD.value].value.value == method.value
        assert kids[codes.LANDMARKS_USED.value].value == ", ".join(m.landmarks)
    flagged = nums["nasal_tip_projection"].ContentSequence
    assert any(k.name.value == codes.MEASUREMENT_FLAG.value for k in flagged)
    # scale provenance and algorithm once, in the evaluations
    ev = list(_evaluations(sr).ContentSequence)
    scale = next(i for i in ev if i.name.value == codes.MEASUREMENT_METHOD.value)
    assert scale.value.value == method.value
    assert any("±" in str(k.value) for k in scale.ContentSequence if k.value_type.value == "TEXT")
    names = [i for i in ev if i.name.value == "111001"]
    assert len(names) == 1 and names[0].value == ALGORITHM.name


@pytest.mark.parametrize("version", ["3.12.10", "3.13.2"])
def test_ohif_draws_the_3d_report_on_the_front_rendering_as_the_2d_one(
    sr3d, figures, scs, version
) -> None:
    """One labelled region per family (the 2D report's families, :mod:`dicom.sr_drawn`),
    one arrow per measurement that OHIF tracks as ArrowAnnotate (nothing re-measured), the
    landmark dots; every SCOORD on the front rendering."""
    sr, report, _ = sr3d
    anns = annotations(sr, version)
    assert anns and not any(a.crashes or a.warnings for a in anns)
    assert rehydratable(anns) and remeasured(anns) == []
    arrows = [a for a in anns if hydrated_as(a) == "ArrowAnnotate"]
    assert len(arrows) == len(report.measurements)
    boxes = {a.tracking_identifier: a for a in anns if a.text_lines}
    families = {family_of(m.id) for m in report.measurements}
    assert families == {"Eyes", "Profile", "Nose", "Face width and height", "Lips and mouth",
                        "Chin"}  # fmt: skip
    assert set(boxes) == families
    for title, ann in boxes.items():
        members = sorted((m for m in report.measurements if family_of(m.id) == title),
                         key=lambda m: rank(m.id))  # fmt: skip
        assert ann.text_lines == [
            f"{m.name}: {m.value:.2f} {codes.unit_code(m.unit).value}" for m in members
        ]
    assert boxes["Eyes"].text_lines[0].startswith("Intercanthal width: ")
    assert boxes["Profile"].text_lines == ["Nasolabial angle – true 3D: 104.50 deg"]
    (dots,) = [a for a in anns if a.graphics[0][0] == "MULTIPOINT"]
    assert dots.tracking_identifier == LANDMARKS_TRACKING_ID
    # every SCOORD is on the front rendering, the drawn outlines inside the rendered box
    front = scs["front"]
    x0, y0, x1, y1 = figures["front"].render_box
    for item in _walk(sr.ContentSequence):
        if item.get("ValueType") != "SCOORD":
            continue
        ref = item.ContentSequence[0].ReferencedSOPSequence[0]
        assert ref.ReferencedSOPInstanceUID == front.SOPInstanceUID
        xy = np.asarray(item.GraphicData).reshape(-1, 2)
        if item.get("GraphicType") == "MULTIPOINT":
            assert (xy[:, 0] >= x0).all() and (xy[:, 0] <= x1).all()
            assert (xy[:, 1] >= y0).all() and (xy[:, 1] <= y1).all()
    # the landmark dots are the 3D landmarks projected by the rendering's camera
    multipoint = next(i for i in _walk(sr.ContentSequence) if i.get("GraphicType") == "MULTIPOINT")
    expected, _ = figures["front"].to_canvas(np.array([lm.position_mm for lm in report.landmarks]))
    assert np.allclose(np.asarray(multipoint.GraphicData).reshape(-1, 2), expected + 0.5, atol=1e-3)


def test_a_value_without_a_landmark_on_the_rendering_is_labelled_on_the_face_outline(
    face, sources, module_ctx, scs, figures, tmp_path, dciodvfy
) -> None:
    """A value none of whose landmarks projects into the rendering is still stated, on an
    outline inside the rendering (no arrow: nowhere to point), and OHIF draws it."""
    report = _report(face)
    lost = Measurement3DEntry("facial_depth", "Facial depth", 101.0, "mm", 1.0, ("tragion_r",))
    report = Report3D(report.landmarks, (*report.measurements, lost), SCALE, ALGORITHM)
    sr = build_sr3d(sources, report, module_ctx, MeshTarget(), (scs["front"], figures["front"]))
    anns = annotations(sr)
    assert not any(a.crashes or a.warnings for a in anns)
    (alone,) = [a for a in anns if a.tracking_identifier == MEASUREMENTS_TRACKING_ID]
    assert alone.text_lines == ["Facial depth: 101.00 mm"]
    assert len([a for a in anns if hydrated_as(a) == "ArrowAnnotate"]) == 7
    path = tmp_path / "lost.dcm"
    _save(sr, path)
    assert dciodvfy_errors(path) == []


def test_sr3d_without_landmarks_or_measurements_still_has_a_drawn_group(
    sources, module_ctx, scs, figures, tmp_path, dciodvfy
) -> None:
    report = Report3D((), (), SCALE, ALGORITHM)
    sr = build_sr3d(sources, report, module_ctx, MeshTarget(), (scs["front"], figures["front"]))
    anns = annotations(sr)
    assert len(anns) == 1 and not anns[0].crashes and not rehydratable(anns)
    path = tmp_path / "empty.dcm"
    _save(sr, path)
    assert dciodvfy_errors(path) == []


def test_sr3d_refuses_an_unscaled_report(sources, module_ctx, scs, figures, face) -> None:
    report = Report3D((), (), MeshScale(MeshScaleSource.NONE, 0.0), ALGORITHM)
    with pytest.raises(ValueError, match="metric scale"):
        build_sr3d(sources, report, module_ctx, MeshTarget(), (scs["front"], figures["front"]))


def test_3d_private_codes_are_valid_and_distinct_from_the_2d_table() -> None:
    private_2d = {c.value for c in codes.TABLE if c.scheme_designator == codes.PRIVATE_SCHEME}
    for code in TABLE_3D:
        assert 0 < len(code.value) <= 16 and 0 < len(code.meaning) <= 64
        assert code.scheme_designator == codes.PRIVATE_SCHEME
        assert code.value not in private_2d
    assert len({c.value for c in TABLE_3D}) == len(TABLE_3D)
    assert set(SCALE_SOURCE_3D) == set(MeshScaleSource)
