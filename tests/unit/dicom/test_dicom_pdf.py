"""The Encapsulated PDF report object: valid (dciodvfy), in the source study, UTF-8, on
real photos (the astronaut always, the shared portraits when present, one without a face)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from skimage.data import coffee

from analysis.overlay import render_overlays
from analysis.types import BackendUnavailableError
from dicom.context import ResultContext
from dicom.pdf import (
    ENCAPSULATED_PDF_STORAGE,
    build_pdf,
    build_report,
    pdf_bytes,
    person_name,
    photo_section,
)
from dicom.photo import dataset_to_photo
from tests.bench.photos import data_root, read_rgb
from tests.factories import astronaut, make_photo_analysis, make_vl_photo
from tests.support.dciodvfy import dciodvfy_errors

#: Photos with a face from the shared data (skipped when absent): frontal portraits of
#: several sizes (up to 12.6 MP), a profile, a photo with two people.
SHARED_FACES = (
    "photos/dynaface/img4-1024-frontal.jpg",
    "photos/dynaface/img2-1024-right-lateral.jpg",
    "photos/face_recognition/obama.jpg",
    "photos/face_recognition/two_people.jpg",
    "photos/frontal_dev/deepface_img49.jpg",
)


def _text(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian package poppler-utils) is not installed")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                         check=True, timeout=60)  # fmt: skip
    return " ".join(out.stdout.split())


def _save(ds: Dataset, path: Path) -> Dataset:
    ds.save_as(path, enforce_file_format=True)
    return dcmread(path)


@pytest.fixture(scope="module")
def analyzer():  # type: ignore[no-untyped-def]
    from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
    from config.norms import load_tables

    try:
        return PhotoAnalyzer(AnalysisOptions(tables=load_tables()))
    except BackendUnavailableError as exc:
        pytest.skip(f"default landmark backend unavailable: {exc}")


def _photos() -> list[object]:
    out: list[object] = [pytest.param("astronaut", id="astronaut")]
    out.append(pytest.param("coffee (no face)", id="no-face"))
    for rel in SHARED_FACES:
        out.append(pytest.param(rel, id=Path(rel).stem))
    return out


@pytest.mark.parametrize("name", _photos())
def test_report_on_real_photos_is_valid_and_says_what_it_found(
    name, analyzer, ctx, tmp_path, dciodvfy
):
    if name == "astronaut":
        pixels = astronaut()
    elif name.startswith("coffee"):
        pixels = np.ascontiguousarray(coffee())
    else:
        path = data_root() / name
        if not path.is_file():
            pytest.skip(f"shared data absent: {path}")
        pixels = read_rgb(path)
        assert pixels is not None
    source = make_vl_photo(pixels)
    source.PatientName = "Müller^Zoë"
    photo = dataset_to_photo(source)
    result = analyzer.analyze(photo)
    overlays = render_overlays(photo, result)
    ds = build_report([source], [photo_section(source, result, overlays)], ctx, 5)
    back = _save(ds, tmp_path / "pdf.dcm")
    assert dciodvfy_errors(tmp_path / "pdf.dcm") == []
    assert back.SOPClassUID == ENCAPSULATED_PDF_STORAGE and back.Modality == "DOC"
    assert back.StudyInstanceUID == source.StudyInstanceUID
    assert back.SeriesInstanceUID == ctx.pdf_series_uid
    assert back.SpecificCharacterSet == "ISO_IR 192"
    assert str(back.PatientName) == "Müller^Zoë"
    text = _text(pdf_bytes(back), tmp_path)
    assert "Müller, Zoë" in text and "AI result – not a diagnosis" in text
    if name.startswith("coffee"):
        assert not result.face_found
        assert "No face was detected in this photo" in text
    else:
        assert result.face_found, name
        assert "Quality and reliability" in text
        if result.measurements:
            assert "Measurements against norms" in text
            assert result.measurements[0].name.split(" (")[0] in text


def test_report_object_header_equipment_and_document(photo_ds, ctx, tmp_path, dciodvfy):
    result = make_photo_analysis()
    section = photo_section(photo_ds, result, render_overlays(dataset_to_photo(photo_ds), result))
    back = _save(build_report([photo_ds], [section], ctx, 9), tmp_path / "r.dcm")
    assert dciodvfy_errors(tmp_path / "r.dcm") == []
    assert back.file_meta.MediaStorageSOPClassUID == ENCAPSULATED_PDF_STORAGE
    assert back.InstanceNumber == 9
    for keyword in ("PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyID"):
        assert back.get(keyword) == photo_ds.get(keyword), keyword
    assert back.Manufacturer == ctx.manufacturer and back.DeviceUID == str(ctx.node_device_uid)
    assert back.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert back.BurnedInAnnotation == "YES"  # the PDF names the patient
    assert len(back.EncapsulatedDocument) % 2 == 0
    pdf = pdf_bytes(back)
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(pdf) == back.EncapsulatedDocumentLength
    [src] = back.SourceInstanceSequence
    assert src.ReferencedSOPInstanceUID == photo_ds.SOPInstanceUID
    devices = {item.ManufacturerModelName for item in back.ContributingEquipmentSequence}
    assert {"facenode", "dlib shape predictor 68"} <= devices


@pytest.mark.parametrize("charset", ["ISO_IR 100", None])
def test_names_from_another_character_set_come_out_utf8(charset, ctx, tmp_path, dciodvfy):
    source = make_vl_photo()
    if charset is None:
        del source.SpecificCharacterSet  # common: a sender declaring none (ASCII only)
        source.PatientName = "Mueller^Zoe"
        expected = "Mueller, Zoe"
    else:
        source.SpecificCharacterSet = charset
        source.PatientName = "Müller^Zoë"
        source.StudyDescription = "Nase Ästhetik"
        expected = "Müller, Zoë"
        raw = tmp_path / "latin1.dcm"
        source.save_as(raw, enforce_file_format=True)
        source = dcmread(raw)  # as received: Latin-1 bytes on disk
    result = make_photo_analysis(face_found=False)
    section = photo_section(source, result, [])
    back = _save(build_report([source], [section], ctx, 1), tmp_path / "r.dcm")
    assert dciodvfy_errors(tmp_path / "r.dcm") == []
    assert back.SpecificCharacterSet == "ISO_IR 192"
    assert person_name(back.PatientName) == expected
    assert expected in _text(pdf_bytes(back), tmp_path)


def test_series_report_references_every_photo(ctx, tmp_path, dciodvfy):
    first = make_vl_photo()
    second = make_vl_photo(study_uid=str(first.StudyInstanceUID))
    result = make_photo_analysis()
    sections = [photo_section(s, result, []) for s in (first, second)]
    back = _save(build_report([first, second], sections, ctx, 3), tmp_path / "s.dcm")
    assert dciodvfy_errors(tmp_path / "s.dcm") == []
    refs = [i.ReferencedSOPInstanceUID for i in back.SourceInstanceSequence]
    assert refs == [first.SOPInstanceUID, second.SOPInstanceUID]
    text = _text(pdf_bytes(back), tmp_path)
    assert "Photo 1 of 2" in text and "Photo 2 of 2" in text
    with pytest.raises(ValueError, match="one study"):
        build_pdf([first, make_vl_photo()], pdf_bytes(back), ctx, 4)


def test_build_pdf_refuses_what_is_not_a_pdf(photo_ds, ctx):
    with pytest.raises(ValueError, match="not a PDF"):
        build_pdf([photo_ds], b"<html>", ctx, 1)
    with pytest.raises(ValueError, match="at least one source"):
        build_pdf([], b"%PDF-1.4", ctx, 1)


def test_person_name_formatting():
    assert person_name("Müller^Zoë") == "Müller, Zoë"
    assert person_name("Smith^John^Paul^Dr^Jr") == "Smith, John Paul Dr Jr"
    assert person_name("Cher") == "Cher"
    assert person_name("") == "" and person_name(None) == ""


def test_context_gives_the_report_its_own_series():
    ctx = ResultContext.new()
    assert len({ctx.sr_series_uid, ctx.sc_series_uid, ctx.pdf_series_uid}) == 3
    assert ctx.pdf_series_number == 903
    with pytest.raises(ValueError, match="own series UID"):
        ResultContext("m", "n", "1", sr_series_uid="1.2.3", sc_series_uid="1.2.4",
                      pdf_series_uid="1.2.3")  # fmt: skip


def test_photo_section_label_from_the_header(photo_ds):
    section = photo_section(photo_ds, make_photo_analysis(face_found=False), [])
    assert str(photo_ds.SeriesDescription) in section.label
    assert dict(section.details)["Image size"] == f"{photo_ds.Columns} × {photo_ds.Rows} px"
    assert section.images == ()


def test_a_megabyte_header_text_is_clipped_not_laid_out() -> None:
    # a malformed source's 1 MB name took reportlab minutes to break into lines
    from dicom.pdf import MAX_HEADER_TEXT, person_name

    assert len(person_name("A" * 1_000_000)) == MAX_HEADER_TEXT
    assert person_name("Müller^Zoë") == "Müller, Zoë"
