"""The PDF report layout (no DICOM): content, fonts, norms, no-face and CSV rows."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from analysis.measurements import CATALOGUE
from analysis.overlay import render_overlays
from analysis.quality.coverage import missing_measurements
from analysis.report import (
    PhotoSection,
    ReportHeader,
    ReportRequest,
    Software,
    grouped_rows,
    judge,
    prepare_images,
    render_report,
)
from analysis.report import fonts as report_fonts_module
from analysis.report.rows import OTHER_GROUP, PROFILE_GROUP, group_of
from analysis.report.spreadsheet import columns, row, write_csv
from analysis.types import Measurement, ModelIdentity, Photo, ScaleSource, View
from config.norms import NormRow, NormTable, load_norms
from tests.factories import astronaut, make_photo_analysis

HEADER = ReportHeader(
    patient_name="Müller, Zoë",
    patient_id="PID–42",
    birth_date="1980-02-03",
    sex="female",
    study_date="2024-05-06 10:30",
    study_description="Rhinoplasty ± septum – pre-op",
    accession_number="ACC123",
)
SOFTWARE = Software("facenode", "facenode", "0.1.0", "2.25.1")


def _request(*, face_found: bool = True, sections: int = 1) -> ReportRequest:
    photo = Photo(astronaut())
    result = make_photo_analysis(face_found=face_found)
    images = prepare_images(render_overlays(photo, result))
    section = PhotoSection("series 1 “Frontal”, image 1", result, images, (("Acquired", "x"),))
    return ReportRequest(HEADER, (section,) * sections, SOFTWARE, dt.datetime(2024, 5, 6), "F")


def _text(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian package poppler-utils) is not installed")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                         text=True, check=True, timeout=60)  # fmt: skip
    return " ".join(out.stdout.split())


def _fonts(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdffonts") is None:
        pytest.skip("pdffonts (Debian package poppler-utils) is not installed")
    path = tmp_path / "f.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                          check=True, timeout=60).stdout  # fmt: skip


def test_report_carries_header_findings_measurements_models_and_disclaimer(tmp_path):
    request = _request()
    pdf = render_report(request, load_norms())
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    text = _text(pdf, tmp_path)
    for expected in (
        "Müller, Zoë", "PID–42", "1980-02-03", "Rhinoplasty ± septum – pre-op", "ACC123",
        "AI result – not a diagnosis", "AI RESULT – NOT A DIAGNOSIS",
        "Findings", "Alar base wider than intercanthal width", "confidence 72 %",
        "Measurements against norms", "Intercanthal width", "Quality and reliability",
        "Annotated images", "Algorithms and models", "dlib shape predictor 68", "19.24",
        "NON-COMMERCIAL USE ONLY", "Norm sources", "Page 1 of", "Reliable",
    ):  # fmt: skip
        assert expected in text, expected
    result = request.sections[0].analysis
    icw = result.measurement("intercanthal_width")
    assert f"{icw.value:.1f} ± {icw.uncertainty:.1f} mm" in text
    fonts = _fonts(pdf, tmp_path)
    assert "Helvetica" not in fonts  # every font is the embedded Unicode family
    assert all(line.split()[-5] == "yes" for line in fonts.splitlines()[2:])  # embedded


def test_no_face_report_says_so_and_has_no_measurement_table(tmp_path):
    pdf = render_report(_request(face_found=False), load_norms())
    text = _text(pdf, tmp_path)
    assert "No face was detected in this photo" in text
    assert "No face detected" in text  # the result line
    assert "Measurements against norms" not in text
    assert "AI result – not a diagnosis" in text


def test_series_report_lists_every_photo(tmp_path):
    text = _text(render_report(_request(sections=3), load_norms()), tmp_path)
    assert "Summary" in text
    for i in (1, 2, 3):
        assert f"Photo {i} of 3" in text


def test_fallback_font_does_not_crash_and_keeps_latin1(tmp_path, monkeypatch):
    fonts = report_fonts_module.load_fonts([("Nope", tmp_path, ("a.ttf", "b.ttf", "c.ttf"))])
    assert fonts.regular == "Helvetica" and not fonts.unicode
    assert fonts.safe("Müller ± – 山田") == "Müller ± – ??"
    monkeypatch.setattr("analysis.report.document.report_fonts", lambda: fonts)
    request = _request()
    request = replace(request, header=replace(request.header, patient_name="山田, Zoë"))
    text = _text(render_report(request, load_norms()), tmp_path)
    assert "??, Zoë" in text and "Rhinoplasty ± septum – pre-op" in text


def test_unicode_font_covers_the_report_characters():
    fonts = report_fonts_module.report_fonts()
    assert fonts.unicode, "no TrueType font found (fonts-dejavu-core or reportlab's Vera)"
    sample = "Müller^Zoë ± – − ° σ “ ” • …"
    assert fonts.safe(sample) == sample


def test_judge_flags_out_of_norm_and_range():
    norm = NormRow("mouth_width", 50.0, 3.0, "any", "pop", "cite", "mm", 40.0, 70.0)
    table = NormTable((norm,))

    def m(value: float, unit: str = "mm") -> Measurement:
        return Measurement("mouth_width", "Mouth width", value, unit, 1.0, ())

    assert judge(m(51.0), table, None).flag == ""
    assert judge(m(57.0), table, None).flag == "high"
    assert judge(m(43.0), table, None).flag == "low"
    assert judge(m(75.0), table, "F").flag == "above range"
    assert judge(m(39.0), table, None).flag == "below range"
    assert judge(m(57.0), table, None).z == pytest.approx(7 / 3)
    in_px = judge(m(300.0, "[px]"), table, None)  # no scale: never compared with mm norms
    assert in_px.norm is None and in_px.z is None and in_px.flag == ""


def test_every_catalogue_measurement_has_a_named_group():
    groups = {d.id: group_of(d.id) for d in CATALOGUE}
    assert OTHER_GROUP not in groups.values()
    assert groups["nasolabial_angle"] == PROFILE_GROUP
    assert groups["alar_intercanthal_ratio"] == "Nose"
    assert groups["mouth_alar_ratio"] == "Lips and mouth"
    assert groups["palpebral_fissure_height_ratio"] == "Symmetry and midline"
    result = make_photo_analysis()
    rows = grouped_rows(result.measurements, load_norms(), "F")
    assert sum(len(r) for _, r in rows) == len(result.measurements)


def test_missing_measurements_say_why():
    frontal_ids = [d.id for d in CATALOGUE if View.FRONTAL in d.views]
    reasons = dict(missing_measurements(frontal_ids[:-1], View.FRONTAL))
    assert reasons["landmarks needed were not found"] == [frontal_ids[-1]]
    assert "nasolabial_angle" in reasons["not valid for a frontal view"]
    oblique = dict(missing_measurements([], View.OBLIQUE_RIGHT))
    assert len(oblique["not valid for an oblique right view"]) == len(CATALOGUE)


def test_withheld_asymmetry_is_named_with_its_reason(tmp_path):
    from analysis.landmark_names import resolve
    from analysis.quality.coverage import NOT_CONFIRMED, withheld_note

    chin = next(d for d in CATALOGUE if d.id == "chin_deviation")
    unconfirmed = {resolve(n) for n in chin.confirm}
    frontal_ids = [d.id for d in CATALOGUE if View.FRONTAL in d.views]
    present = [i for i in frontal_ids if i != "chin_deviation"]
    reasons = dict(missing_measurements(present, View.FRONTAL, unconfirmed))
    assert reasons[NOT_CONFIRMED] == ["chin_deviation"]
    assert "landmarks needed were not found" not in reasons
    note = withheld_note(present, View.FRONTAL, unconfirmed)
    assert note is not None and chin.name in note and "re-encoded" in note
    assert withheld_note(frontal_ids, View.FRONTAL, unconfirmed) is None  # nothing missing
    # the PDF says it too
    result = make_photo_analysis()
    sem = replace(result.semantic, unconfirmed=frozenset(unconfirmed))
    kept = tuple(m for m in result.measurements if m.id != "chin_deviation")
    request = _request()
    section = replace(request.sections[0],
                      analysis=replace(result, semantic=sem, measurements=kept))  # fmt: skip
    text = " ".join(_text(render_report(replace(request, sections=(section,)), None), tmp_path).split())
    assert "asymmetry not confirmed in this photo" in text


def test_csv_row_has_every_measurement_in_its_unit(tmp_path):
    result = make_photo_analysis()
    cols = columns()
    assert len(cols) == len(set(cols)) == 10 + 3 * len(CATALOGUE)
    r = row(result, {"input": "a.png", "patient_id": "P1"})
    icw = result.measurement("intercanthal_width")
    assert float(r["intercanthal_width [mm]"]) == pytest.approx(icw.value, abs=0.01)
    assert float(r["intercanthal_width ± [mm]"]) == pytest.approx(icw.uncertainty, abs=0.01)
    assert r["nasolabial_angle [deg]"] == ""  # not made on a frontal photo
    assert r["face_found"] == "yes" and r["scale_source"] == "assumed_interpupillary_distance"
    px = replace(icw, unit="[px]", value=40.0, scale_source=ScaleSource.NONE, flags=("no_scale",))
    r2 = row(replace(result, measurements=(px,)), {})
    assert (
        r2["intercanthal_width [mm]"] == ""
        and r2["intercanthal_width flags"] == "no_scale (40.0 px)"
    )
    path = tmp_path / "t.csv"
    write_csv(path, [r, row(make_photo_analysis(face_found=False), {"input": "Zoë.jpg"})])
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read UTF-8
    with path.open(encoding="utf-8-sig", newline="") as f:
        back = list(csv.DictReader(f))
    assert [b["input"] for b in back] == ["a.png", "Zoë.jpg"]
    assert back[1]["face_found"] == "no" and back[1]["intercanthal_width [mm]"] == ""


def test_non_commercial_model_is_marked_even_among_others(tmp_path):
    request = _request()
    result = request.sections[0].analysis
    free = ModelIdentity("m2", "Free model", "2", "Apache-2.0", True)
    section = replace(request.sections[0], analysis=replace(result, models=(*result.models, free)))
    text = _text(render_report(replace(request, sections=(section,)), None), tmp_path)
    assert "Free model" in text and "commercial use permitted" in text
    assert "NON-COMMERCIAL USE ONLY" in text
    assert "Norm sources" not in text  # no norm table: no norm columns, no sources


def test_images_are_reduced_jpeg():
    big = np.zeros((4000, 3000, 3), np.uint8)
    big[::7] = 255
    (img,) = prepare_images([("Big", big)])
    assert img.jpeg[:2] == b"\xff\xd8" and (img.width, img.height) == (662, 882)  # 200 dpi
    assert img.width / img.height == pytest.approx(3000 / 4000, abs=1e-3)
