"""The whole 3D result set of a real face mesh (james, read in place, with injected chin,
nose and brow deviations): its 3D landmarks, symmetry and measurements made by the real
stages without SfM, turned into the eight objects the node sends — in the photos' study,
valid (dciodvfy), one Frame of Reference from the mesh to the SR, the SR read back with
highdicom to the same landmarks, measurements, regional asymmetry and findings — and the
"not made" note a surgeon reads instead when there is no reconstruction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from highdicom.sr import Comprehensive3DSR, Scoord3DContentItem
from pydicom import dcmread
from pydicom.dataset import Dataset

from analysis.landmark_names import resolve
from config.norms import load_tables
from dicom import codes
from dicom.context import ResultContext
from dicom.mesh import ENCAPSULATED_MTL_STORAGE, ENCAPSULATED_OBJ_STORAGE, ENCAPSULATED_STL_STORAGE
from dicom.note3d import NOTE_TITLE, build_reconstruction_note
from dicom.pdf import ENCAPSULATED_PDF_STORAGE, pdf_bytes
from dicom.results3d import REGIONAL_ASYMMETRY, build_results_3d
from dicom.sr3d import LANDMARK_3D, RENDERING_SCREEN_PX
from dicom.sr_arrows import ARROW_TRACKING_ID, BOX_PX, TEXT_POSITION
from dicom.sr_families import SHOWN
from reconstruction import measurements3d, symmetry3d
from reconstruction.figures import reconstruction_figures
from reconstruction.render_figure import Figure
from reconstruction.types import MeshScale, MeshScaleSource, Reconstruction3D
from tests.factories import make_vl_photo
from tests.support.dciodvfy import dciodvfy_errors, stl_proxy
from tests.support.ohif_sr_model import (
    TEXT_BOX_OFFSET_PX,
    TEXT_LINE_PX,
    annotations,
    hydrated_as,
    remeasured,
    text_box_anchor,
)
from tests.support.recon3d import (
    ALGORITHM,
    LANDMARK_MODEL,
    SCALE,
    deformed_recon,
    needs_mesh,
)
from tests.unit.dicom.test_dicom_pdf import _text as pdf_text

PATIENT = "Łukasiewicz^Zoë Ångström"
SC_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
SR_3D_STORAGE = "1.2.840.10008.5.1.4.1.1.88.34"
SIZE = (240, 288)
FIRST = 5  # the job wrote four objects before the 3D results

pytestmark = needs_mesh


@pytest.fixture(scope="module")
def recon() -> Reconstruction3D:
    return deformed_recon()


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[Dataset]:
    """Two photos' headers as the node reads them (no pixel data)."""
    first = make_vl_photo(patient_name=PATIENT, patient_id="ID-ÄÖÜ-7", patient_sex="F")
    second = make_vl_photo(patient_name=PATIENT, patient_id="ID-ÄÖÜ-7", patient_sex="F")
    second.StudyInstanceUID = first.StudyInstanceUID
    second.SeriesInstanceUID = first.SeriesInstanceUID
    out: list[Dataset] = []
    for i, ds in enumerate((first, second)):
        path = tmp_path_factory.mktemp("photos") / f"{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        out.append(dcmread(path, stop_before_pixels=True))
    return out


@pytest.fixture(scope="module")
def ctx() -> ResultContext:
    return ResultContext.new(software_version="0.1.0", station_name="FACENODE1",
                             device_serial="SN-0001", instance_number_start=FIRST)  # fmt: skip


@pytest.fixture(scope="module")
def figures(recon: Reconstruction3D) -> dict[str, Figure]:
    return reconstruction_figures(recon, size=SIZE)


@pytest.fixture(scope="module")
def outputs(sources, recon, ctx, figures) -> list[Dataset]:  # type: ignore[no-untyped-def]
    return build_results_3d(sources, recon, ctx, ALGORITHM, [LANDMARK_MODEL], figures=figures)


@pytest.fixture(scope="module")
def sr(outputs: list[Dataset], tmp_path_factory: pytest.TempPathFactory) -> Comprehensive3DSR:
    path = tmp_path_factory.mktemp("sr") / "sr.dcm"
    outputs[-1].save_as(path, enforce_file_format=True)
    return Comprehensive3DSR.from_dataset(dcmread(path))


def test_eight_objects_in_the_photos_study_in_three_new_series(outputs, sources, ctx) -> None:  # type: ignore[no-untyped-def]
    classes = [str(ds.SOPClassUID) for ds in outputs]
    assert classes == [ENCAPSULATED_STL_STORAGE, ENCAPSULATED_OBJ_STORAGE,
                       ENCAPSULATED_MTL_STORAGE, *[SC_STORAGE] * 4, SR_3D_STORAGE]  # fmt: skip
    assert {str(ds.StudyInstanceUID) for ds in outputs} == {str(sources[0].StudyInstanceUID)}
    assert [int(ds.SeriesNumber) for ds in outputs] == [904] * 3 + [905] * 4 + [906]
    series = [str(ds.SeriesInstanceUID) for ds in outputs]
    assert len(set(series[:3])) == len(set(series[3:7])) == 1 and len(set(series)) == 3
    assert str(sources[0].SeriesInstanceUID) not in series
    # numbered on from the context, as the 2D results are: advance(8) comes next
    assert [int(ds.InstanceNumber) for ds in outputs] == list(range(FIRST, FIRST + 8))
    assert ctx.advance(len(outputs)).instance_number_start == FIRST + 8
    assert len({str(ds.SOPInstanceUID) for ds in outputs}) == 8
    for ds in outputs:
        assert ds.SpecificCharacterSet == "ISO_IR 192" and str(ds.PatientName) == PATIENT


def test_every_object_passes_dciodvfy(outputs, tmp_path, dciodvfy) -> None:  # type: ignore[no-untyped-def]
    frame = str(outputs[0].FrameOfReferenceUID)
    for i, ds in enumerate(outputs):
        path = tmp_path / f"{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        if str(ds.SOPClassUID) in (ENCAPSULATED_OBJ_STORAGE, ENCAPSULATED_MTL_STORAGE):
            # dicom3tools 2022 predates these IODs: their modules are checked as STL
            assert dciodvfy_errors(path) in ([], ["Error - Information Object Not found"])
            path = stl_proxy(ds, frame, tmp_path / f"{i}-proxy.dcm")
        assert dciodvfy_errors(path) == [], (i, str(ds.SOPClassUID))


def _walk(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        yield item
        yield from _walk(item.get("ContentSequence", []))


def _evaluations(sr: Comprehensive3DSR) -> list:  # type: ignore[type-arg]
    wanted = codes.QUALITATIVE_EVALUATIONS.value
    return list(next(i for i in sr.content[0].ContentSequence if i.name.value == wanted)
                .ContentSequence)  # fmt: skip


def test_mesh_and_sr_share_one_frame_of_reference_and_the_sr_draws_on_the_front(
    outputs: list[Dataset], sr: Comprehensive3DSR
) -> None:
    stl, obj = outputs[0], outputs[1]
    assert stl.FrameOfReferenceUID == obj.FrameOfReferenceUID
    points = [i for i in _walk(sr.ContentSequence) if i.get("ValueType") == "SCOORD3D"]
    assert points
    assert {p.ReferencedFrameOfReferenceUID for p in points} == {stl.FrameOfReferenceUID}
    front = outputs[3]
    assert "front view" in front.ImageComments
    drawn = [i for i in _walk(sr.ContentSequence) if i.get("ValueType") == "SCOORD"]
    refs = {i.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID for i in drawn}
    assert refs == {front.SOPInstanceUID}
    anns = annotations(sr)  # as OHIF draws it: every group, none crashing
    assert not any(a.crashes or a.warnings for a in anns)
    arrows = [a for a in anns if hydrated_as(a) == "ArrowAnnotate"]  # one per value
    assert len(arrows) == len(_nums(sr)) == 35 and remeasured(anns) == []


def _drawn_families(sr: Comprehensive3DSR) -> list[tuple[Any, list[Any]]]:
    """(first group, its NUMs) of each family: what OHIF labels (not the arrows)."""
    imaging = next(i for i in sr.content[0].ContentSequence if i.name.value == "126010")
    out, seen = [], set()
    for group in imaging.ContentSequence:
        kids = list(group.ContentSequence)
        ident = next(k.value for k in kids if k.name.value == "112039")
        uid = next(k.value for k in kids if k.name.value == "112040")
        region = [k for k in kids if k.value_type.value == "SCOORD"]
        if ident == ARROW_TRACKING_ID or uid in seen or not region:
            continue
        seen.add(uid)
        out.append((group, [k for k in kids if k.value_type.value == "NUM"]))
    return out


@pytest.mark.parametrize("version", ["3.12.10", "3.13.2"])
def test_label_boxes_and_arrow_texts_clear_each_other_with_the_rendering_fitted_on_screen(
    sr: Comprehensive3DSR, outputs: list[Dataset], version: str
) -> None:
    """OHIF's label placement (the model's anchors) on the families' regions, and the
    arrows' text positions: ladders whose boxes do not overlap once the front rendering is
    :data:`~dicom.sr3d.RENDERING_SCREEN_PX` tall on screen (about what OHIF shows fitted
    to its viewport on a 1080-line screen), right of the face."""
    scale = RENDERING_SCREEN_PX / int(outputs[3].Rows)  # screen px per image px
    dots = next(i for i in _walk(sr.ContentSequence) if i.get("GraphicType") == "MULTIPOINT")
    face_right = float(np.asarray(dots.GraphicData).reshape(-1, 2)[:, 0].max())
    boxes = []
    for group, nums in _drawn_families(sr):
        region = next(k for k in group.ContentSequence if k.value_type.value == "SCOORD")
        pts = [(float(x), float(y)) for x, y in np.asarray(region.GraphicData).reshape(-1, 2)]
        ax, ay = text_box_anchor(pts, version)
        assert ax > face_right  # the box beside the face, not on it
        top = ay * scale + TEXT_BOX_OFFSET_PX
        boxes.append((top, top + min(len(nums), SHOWN) * TEXT_LINE_PX))
    assert len(boxes) == 8
    boxes.sort()
    for (_, bottom), (top, _) in zip(boxes, boxes[1:], strict=False):
        assert top >= bottom - 2.0
    texts = sorted(
        float(np.asarray(i.GraphicData)[1]) * scale
        for i in _walk(sr.ContentSequence)
        if i.get("ValueType") == "SCOORD"
        and i.ConceptNameCodeSequence[0].CodeValue == TEXT_POSITION.value
    )
    assert len(texts) == 35 and np.diff(texts).min() >= BOX_PX - 1e-3


def test_regional_asymmetry_is_one_family_its_peaks_labelled_on_their_regions(sr, recon) -> None:  # type: ignore[no-untyped-def]
    anns = {a.tracking_identifier: a for a in annotations(sr) if a.text_lines}
    regions = [r.region for r in recon.symmetry.regions]
    peaks = [f"Asymmetry, {r.region} (peak signed): {r.peak_signed_mm:.2f} mm"
             for r in recon.symmetry.regions]  # fmt: skip
    assert anns[REGIONAL_ASYMMETRY].text_lines == peaks
    assert len(anns[REGIONAL_ASYMMETRY].labels) == 2 * len(regions)  # the means follow
    nums = _nums(sr)
    for region in regions:
        for mid in (f"asymmetry_{region}", f"asymmetry_{region}_mean_abs"):
            kids = {k.name.value: k for k in nums[mid].ContentSequence}
            used = kids[codes.LANDMARKS_USED.value].value.split(", ")
            assert used == list(symmetry3d.region_landmarks(region)), mid
    assert "ibug_31" in symmetry3d.region_landmarks("cheeks")  # a cheek centre's landmarks


def test_sr_reads_back_to_the_landmarks(sr, recon) -> None:  # type: ignore[no-untyped-def]
    got = {}
    for item in _evaluations(sr):
        if item.name.value == LANDMARK_3D.value:
            key = codes.parse_private(item.value.value)
            assert key is not None and key[0] == "landmark"
            point = next(k for k in item.ContentSequence if isinstance(k, Scoord3DContentItem))
            got[key[1]] = point.value[0]
    assert len(got) == len(recon.landmarks) > 68
    for key, lm in recon.landmarks.items():
        assert np.allclose(got[resolve(key)], lm.position, atol=1e-4)  # FL in the SR


def _nums(sr: Comprehensive3DSR) -> dict[str, Any]:
    out = {}
    for item in _walk(sr.content[0].ContentSequence):
        parsed = codes.parse_private(getattr(item.name, "value", ""))
        if item.value_type.value == "NUM" and parsed and parsed[0] == "measurement":
            out[parsed[1]] = item
    return out


def test_sr_reads_back_to_the_measurements_and_the_regional_asymmetry_in_mm(sr, recon) -> None:  # type: ignore[no-untyped-def]
    nums = _nums(sr)
    expected = {m.id: (m.value, m.unit, m.uncertainty) for m in recon.measurements}
    assert recon.symmetry is not None and len(recon.symmetry.regions) == 5
    for r in recon.symmetry.regions:
        for mid, value in ((f"asymmetry_{r.region}", r.peak_signed_mm),
                           (f"asymmetry_{r.region}_mean_abs", r.mean_abs_mm)):  # fmt: skip
            expected[mid] = (value, "mm", abs(value) * SCALE.relative_uncertainty)
    assert set(nums) == set(expected)
    for mid, (value, unit, sd) in expected.items():
        item = nums[mid]
        assert float(item.value) == pytest.approx(value, rel=1e-6, abs=1e-9), mid
        assert item.unit.value == codes.unit_code(unit).value
        kids = {k.name.value: k for k in item.ContentSequence}
        assert float(kids[codes.UPPER_UNCERTAINTY.value].value) == pytest.approx(sd, abs=1e-9)
    chin = nums["asymmetry_chin"]
    assert chin.name.meaning == "Asymmetry, chin (peak signed)" and chin.unit.value == "mm"


def test_sr_states_the_findings_the_rules_raise_on_the_3d_values(sr, recon) -> None:  # type: ignore[no-untyped-def]
    wanted = measurements3d.findings(recon.measurements, sex="F", tables=load_tables())
    assert wanted  # the deformed face fires rules (e.g. the nasolabial angle)
    stated = {}
    for item in _evaluations(sr):
        parsed = codes.parse_private(item.name.value)
        if parsed and parsed[0] == "finding":
            stated[parsed[1]] = item
    assert set(stated) == {f.id for f in wanted}
    for f in wanted:
        item = stated[f.id]
        assert item.value.value == codes.severity_code(f.severity).value
        kids = {k.name.value: k for k in item.ContentSequence}
        assert kids[codes.FINDING_DESCRIPTION.value].value == f.text
        assert float(kids[codes.CERTAINTY_OF_FINDING.value].value) == pytest.approx(
            100 * f.confidence
        )


def test_renderings_are_the_figures_and_the_asymmetry_map_has_its_colour_bar(
    outputs: list[Dataset], figures: dict[str, Figure]
) -> None:
    scs = outputs[3:7]
    names = ["front", "right_profile", "left_profile", "asymmetry"]
    for sc, name in zip(scs, names, strict=True):
        assert np.array_equal(sc.pixel_array, figures[name].image), name  # lossless
        assert figures[name].title in sc.ImageComments
    bar = figures["asymmetry"].colour_bar
    assert bar is not None and bar.unit == "mm"
    x0, y0, x1, y1 = bar.box
    top, bottom = scs[3].pixel_array[y0, (x0 + x1) // 2], scs[3].pixel_array[y1 - 1, (x0 + x1) // 2]
    limit = bar.colour_map.limit
    assert np.abs(top.astype(int) - np.rint(bar.colour_map(np.array([limit]))[0])).max() <= 8
    assert np.abs(bottom.astype(int) - np.rint(bar.colour_map(np.array([-limit]))[0])).max() <= 8
    assert [v for v, _ in bar.ticks][0] == pytest.approx(limit)


def test_without_symmetry_seven_objects_at_the_default_figure_size(
    recon: Reconstruction3D,
    sources: list[Dataset],
    ctx: ResultContext,
    tmp_path: Path,
    dciodvfy: str,
) -> None:
    bare = replace(recon, landmarks={}, symmetry=None, measurements=())
    out = build_results_3d(sources, bare, ctx, ALGORITHM)
    assert [int(ds.SeriesNumber) for ds in out] == [904] * 3 + [905] * 3 + [906]
    assert int(out[3].Columns) == 720  # reconstruction_figures' default rendering width
    path = tmp_path / "sr.dcm"
    out[-1].save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []
    assert not _nums(Comprehensive3DSR.from_dataset(dcmread(path)))


def test_an_unscaled_reconstruction_is_refused(recon, sources, ctx) -> None:  # type: ignore[no-untyped-def]
    unscaled = replace(recon, scale=MeshScale(MeshScaleSource.NONE, 0.0))
    with pytest.raises(ValueError, match="metric scale"):
        build_results_3d(sources, unscaled, ctx, ALGORITHM)


def test_note_says_why_no_reconstruction_was_made(sources, ctx, tmp_path, dciodvfy) -> None:  # type: ignore[no-untyped-def]
    reason = "only 5 of 12 views registered; 8 needed"
    note = build_reconstruction_note(sources, reason, ctx, n_photos=12, min_views=8)
    path = tmp_path / "note.dcm"
    note.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []
    back = dcmread(path)
    assert back.SOPClassUID == ENCAPSULATED_PDF_STORAGE and back.Modality == "DOC"
    assert back.StudyInstanceUID == sources[0].StudyInstanceUID
    assert back.SeriesInstanceUID == ctx.pdf_series_uid and back.InstanceNumber == FIRST
    assert back.DocumentTitle == NOTE_TITLE and str(back.PatientName) == PATIENT
    text = pdf_text(pdf_bytes(back), tmp_path)
    assert reason in text
    assert "12 photos" in text and "not affected" in text and "at least 8" in text
    assert "Łukasiewicz" in text and "NOT A DIAGNOSIS" in text


def test_note_needs_a_reason(sources, ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="reason"):
        build_reconstruction_note(sources, "  ", ctx)


def test_sr_states_the_camera_registration(sr, recon) -> None:  # type: ignore[no-untyped-def]
    """Photos, views registered and the mean reprojection error: the first figures a
    reviewer checks before trusting a reconstruction."""
    from dicom.sr3d import PHOTOS_IN_SERIES, REPROJECTION_ERROR, VIEWS_REGISTERED

    nums = {i.name.value: i for i in _evaluations(sr) if i.value_type.value == "NUM"}
    assert float(nums[PHOTOS_IN_SERIES.value].value) == len(recon.cameras) == 12
    assert float(nums[VIEWS_REGISTERED.value].value) == recon.n_registered == 12
    assert float(nums[REPROJECTION_ERROR.value].value) == pytest.approx(0.6)
    assert nums[REPROJECTION_ERROR.value].unit.value == "{pixels}"
