from __future__ import annotations

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from analysis.overlay import render_overlays
from analysis.types import View
from dicom.context import ResultContext
from dicom.photo import dataset_to_photo
from dicom.results import build_results
from dicom.sc import build_sc
from tests.bench.photos import data_root, read_rgb
from tests.factories import astronaut, make_photo_analysis, make_vl_photo
from tests.support.dciodvfy import dciodvfy_errors

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"


def _overlay() -> np.ndarray:
    img = astronaut().copy()
    img[:40] = (170, 20, 20)  # stands in for the banner
    return img


def test_sc_is_valid_derived_and_references_the_source(photo_ds, ctx, tmp_path, dciodvfy):
    image = _overlay()
    sc = build_sc(photo_ds, image, "Landmarks", ctx, instance_number=7)
    path = tmp_path / "sc.dcm"
    sc.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []

    back = dcmread(path)
    assert back.SOPClassUID == SECONDARY_CAPTURE
    assert back.StudyInstanceUID == photo_ds.StudyInstanceUID
    assert back.PatientID == photo_ds.PatientID
    assert back.SeriesInstanceUID == ctx.sc_series_uid
    assert back.SeriesNumber == ctx.sc_series_number
    assert back.InstanceNumber == 7
    assert list(back.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    src = back.SourceImageSequence[0]
    assert src.ReferencedSOPInstanceUID == photo_ds.SOPInstanceUID
    assert src.ReferencedSOPClassUID == photo_ds.SOPClassUID
    assert src.PurposeOfReferenceCodeSequence[0].CodeValue == "121322"
    assert back.Manufacturer == ctx.manufacturer
    assert back.ManufacturerModelName == ctx.model_name
    assert "not a diagnosis" in back.ImageComments
    assert "Landmarks" in back.DerivationDescription
    assert back.PhotometricInterpretation == "RGB"
    assert np.array_equal(back.pixel_array, image)
    assert list(back.PatientOrientation) == ["L", "F"]  # frontal view of the source


def test_sc_from_a_lossy_profile_photo_stays_marked_lossy(ctx, tmp_path, dciodvfy):
    src = make_vl_photo(transfer_syntax=JPEGBaseline8Bit, view=View.PROFILE_LEFT)
    sc = build_sc(src, _overlay(), "Landmarks", ctx, 1)
    path = tmp_path / "sc.dcm"
    sc.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []
    assert sc.LossyImageCompression == "01"
    assert list(sc.PatientOrientation) == ["P", "F"]


def test_sc_without_known_orientation_leaves_it_empty(ctx, tmp_path, dciodvfy):
    src = make_vl_photo(view=None)
    sc = build_sc(src, _overlay(), "Landmarks", ctx, 1)
    path = tmp_path / "sc.dcm"
    sc.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []
    assert "PatientOrientation" in sc and not sc.PatientOrientation


def test_sc_default_is_jpeg_ls_lossless():
    assert ResultContext.new().sc_transfer_syntax == JPEGLSLossless


@pytest.mark.parametrize(
    "syntax", [JPEGLSLossless, RLELossless, ExplicitVRLittleEndian, ImplicitVRLittleEndian]
)
def test_sc_round_trips_pixel_exact_in_every_allowed_syntax(syntax, photo_ds, tmp_path, dciodvfy):
    ctx = ResultContext.new(software_version="0.1.0", sc_transfer_syntax=syntax)
    image = _overlay()
    sc = build_sc(photo_ds, image, "Landmarks", ctx, 1)
    path = tmp_path / "sc.dcm"
    sc.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []
    back = dcmread(path)
    assert back.file_meta.TransferSyntaxUID == syntax
    assert back.PhotometricInterpretation == "RGB"
    assert "LossyImageCompression" not in back or back.LossyImageCompression == "00"
    assert np.array_equal(back.pixel_array, image)


def test_sc_of_a_big_photo_is_lossless_and_much_smaller(tmp_path, dciodvfy):
    path = data_root() / "photos/frontal_dev/deepface_img49.jpg"  # 4352 × 2903
    pixels = read_rgb(path) if path.is_file() else None
    if pixels is None:
        pytest.skip(f"shared data absent: {path}")
    source = make_vl_photo(pixels[:64, :64].copy())
    ctx = ResultContext.new(software_version="0.1.0")
    sc = build_sc(source, pixels, "Landmarks", ctx, 1)
    out = tmp_path / "big.dcm"
    sc.save_as(out, enforce_file_format=True)
    assert dciodvfy_errors(out) == []
    assert out.stat().st_size < 0.4 * pixels.nbytes  # JPEG-LS: ~0.18 of raw on this photo
    assert np.array_equal(dcmread(out).pixel_array, pixels)


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.uint16)])
def test_sc_refuses_non_rgb8_images(photo_ds, ctx, bad):
    with pytest.raises(ValueError, match="overlay image"):
        build_sc(photo_ds, bad, "x", ctx, 1)


def test_build_results_gives_sr_then_one_sc_per_overlay_then_the_report(
    photo_ds, ctx, tmp_path, dciodvfy
):
    photo = dataset_to_photo(photo_ds)
    result = make_photo_analysis()
    overlays = render_overlays(photo, result)
    outputs = build_results(photo_ds, result, overlays, ctx)
    assert len(outputs) == 1 + len(overlays) + 1 >= 3
    sr, *scs, pdf = outputs
    assert sr.SOPClassUID == COMPREHENSIVE_3D_SR
    assert sr.SeriesInstanceUID == ctx.sr_series_uid
    assert [s.SOPClassUID for s in scs] == [SECONDARY_CAPTURE] * len(overlays)
    assert {s.SeriesInstanceUID for s in scs} == {ctx.sc_series_uid}
    assert pdf.SOPClassUID == ENCAPSULATED_PDF and pdf.Modality == "DOC"
    assert pdf.SeriesInstanceUID == ctx.pdf_series_uid
    numbers = [int(o.InstanceNumber) for o in outputs]
    assert numbers == list(
        range(ctx.instance_number_start, ctx.instance_number_start + len(outputs))
    )
    assert len({str(o.SOPInstanceUID) for o in outputs}) == len(outputs)
    assert {o.StudyInstanceUID for o in outputs} == {photo_ds.StudyInstanceUID}
    for i, (title, image) in enumerate(overlays):
        assert title in scs[i].ImageComments
        assert (scs[i].Rows, scs[i].Columns) == image.shape[:2]
    for i, out in enumerate(outputs):
        path = tmp_path / f"out{i}.dcm"
        out.save_as(path, enforce_file_format=True)
        assert dciodvfy_errors(path) == [], f"output {i}"
    nxt = ctx.advance(len(outputs))
    again = build_results(photo_ds, result, overlays[:1], nxt)
    assert int(again[0].InstanceNumber) == numbers[-1] + 1


def test_build_results_for_no_face(photo_ds, ctx):
    photo = dataset_to_photo(photo_ds)
    result = make_photo_analysis(face_found=False)
    overlays = render_overlays(photo, result)
    outputs = build_results(photo_ds, result, overlays, ctx)
    classes = [o.SOPClassUID for o in outputs]
    assert classes == [COMPREHENSIVE_3D_SR, SECONDARY_CAPTURE, ENCAPSULATED_PDF]
    assert "No face detected" in outputs[1].ImageComments
