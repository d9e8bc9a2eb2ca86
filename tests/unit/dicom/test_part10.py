"""dicom.part10 writes the same bytes as pydicom's writer: on the result sets (SR, SCs,
PDF) of real analyses, and on datasets made of the element kinds it hands to pydicom."""

from __future__ import annotations

import warnings
from io import BytesIO

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pydicom.valuerep import DA, PersonName

from analysis.types import PhotoAnalysis, ScaleSource, View
from dicom import part10
from dicom.context import ResultContext
from dicom.wrap import wrap_rgb_image
from tests.factories import astronaut, make_vl_photo

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def _pydicom(ds: Dataset) -> bytes:
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _same_bytes(ds: Dataset) -> None:
    fast = part10.encode(ds)
    assert fast == _pydicom(ds)
    assert part10.encode(ds) == fast  # and again, after pydicom's writer touched ds


@pytest.fixture(scope="module")
def analyzers():  # type: ignore[no-untyped-def]
    from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
    from config.norms import load_tables

    tables = load_tables()
    made: dict[str, PhotoAnalyzer] = {}

    def get(backend: str) -> PhotoAnalyzer:
        if backend not in made:
            made[backend] = PhotoAnalyzer(AnalysisOptions(backend=backend, tables=tables))
        return made[backend]

    return get


def _shared_photo(rel: str) -> np.ndarray:
    from tests.bench.photos import data_root, read_rgb

    rgb = read_rgb(data_root() / "photos" / rel)
    if rgb is None:
        pytest.skip(f"shared photo {rel} is not there (FACENODE_SHARED_DATA)")
    return rgb


def _analysed(source: Dataset, analyzer) -> tuple[PhotoAnalysis, list[Dataset]]:  # type: ignore[no-untyped-def]
    from analysis.overlay import render_overlays
    from dicom.photo import dataset_to_photo
    from dicom.results import build_results

    photo = dataset_to_photo(source)
    result = analyzer.analyze(photo)
    overlays = render_overlays(photo, result)
    ctx = ResultContext.new(software_version="0.1.0", station_name="FACENODE1")
    return result, build_results(source, result, overlays, ctx)


@pytest.mark.parametrize(
    ("case", "backend", "scale"),
    [
        ("frontal", "mediapipe", ScaleSource.IRIS_DIAMETER),
        ("frontal", "dlib", ScaleSource.ASSUMED_IPD),
        ("latin1_from_file", "mediapipe", ScaleSource.IRIS_DIAMETER),
        ("profile", "mediapipe", None),
        ("oblique", "mediapipe", None),
        ("no_face", "mediapipe", None),
    ],
)
def test_real_result_sets_are_the_bytes_pydicom_writes(  # type: ignore[no-untyped-def]
    case, backend, scale, analyzers, monkeypatch
):
    if case == "frontal":
        source = make_vl_photo(patient_name="Ødegård^Zoë")
    elif case == "latin1_from_file":
        # a source as the node reads it: raw elements, Latin-1, copied into the results
        photo = make_vl_photo(patient_name="Müller^Zoë")
        photo.SpecificCharacterSet = "ISO_IR 100"
        photo.StudyDescription = "Gesichtsfotografie, Ärztin"
        source = dcmread(BytesIO(_pydicom(photo)))
    elif case == "profile":
        rgb = _shared_photo("dynaface/img2-1024-right-lateral.jpg")
        source = wrap_rgb_image(rgb, patient_name="Bench^Profile", view=View.PROFILE_RIGHT)
    elif case == "oblique":
        source = wrap_rgb_image(_shared_photo("frontal_dev/deepface_img58.jpg"))
        del source.SpecificCharacterSet  # common: no character set declared
    else:
        source = wrap_rgb_image(np.full((320, 240, 3), 128, np.uint8))
    result, outputs = _analysed(source, analyzers(backend))
    if scale is not None:
        assert result.scale is not None and result.scale.source == scale
    if case == "no_face":
        assert not result.face_found
    if case == "profile":
        assert result.quality.view is View.PROFILE_RIGHT
    assert [str(ds.Modality) for ds in outputs][:: len(outputs) - 1] == ["SR", "DOC"]

    def no_fallback(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a result object went to pydicom's whole writer")

    with monkeypatch.context() as m:  # first, as the node does: on the objects as built
        m.setattr(Dataset, "save_as", no_fallback)
        fast = [part10.encode(ds) for ds in outputs]
    assert fast == [_pydicom(ds) for ds in outputs]


def _code(value: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = "Ärzte – ±"
    return item


def _odd_dataset() -> Dataset:
    """Element kinds the fast paths hand to pydicom, and some they write themselves."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = generate_uid()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = PersonName("Łukasz^Zoë")
    ds.OtherPatientNames = ["A^B", "Ç^D"]
    ds.PatientBirthDate = DA("19790101")
    ds.StudyDate = ""
    ds.StudyTime = None
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.PixelSpacing = ["0.25", 0.5]
    ds.InstanceNumber = 7
    ds.ReferencedFrameNumber = [1, 2, 3]
    ds.StudyDescription = "odd"  # odd length, padded
    ds.ImageComments = "x" * 70_000  # LT is a 2-byte length: pydicom writes it as UN
    ds.FrameIncrementPointer = 0x00181063  # AT
    ds.add_new(0x00091010, "LO", "private")
    ds.add_new(0x00090010, "LO", "ACME")
    ds.add_new(0x00080000, "UL", 4)  # a retired group length: not written
    ds.Rows, ds.Columns = 2, 3
    ds.FloatPixelData = np.zeros(6, np.float32).tobytes()
    ds.EncapsulatedDocument = b"%PDF-1"  # OB
    ds.add_new(0x00189219, "SS", [-1, 2])
    ds.add_new(0x0040A30A, "DS", ["1.5", "2"])
    ds.add_new(0x0070022C, "FL", [1.0, 2.5])
    ds.add_new(0x0040A161, "FD", 3.25)
    ds.add_new(0x00660040, "UL", [1, 2])
    empty = Sequence()
    ds.ReferencedStudySequence = empty
    undefined = Sequence([_code("1"), _code("2")])
    ds.ConceptNameCodeSequence = undefined
    ds["ConceptNameCodeSequence"].is_undefined_length = True
    ds.ConceptNameCodeSequence[1].is_undefined_length_sequence_item = True
    latin = _code("3")
    latin.SpecificCharacterSet = "ISO_IR 100"
    latin.CodeMeaning = "Ärzte"
    ds.ConceptCodeSequence = [latin]
    nested = Dataset()
    nested.ContentSequence = [_code("4"), _code("5")]
    ds.ContentSequence = [nested]
    return ds


def test_odd_elements_are_the_bytes_pydicom_writes():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the over-long LT: "... changed from 'LT' to 'UN'"
        ds = _odd_dataset()
        _same_bytes(ds)


def test_text_the_character_set_cannot_hold_is_left_to_pydicom():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns and writes replacement characters
        ds = _odd_dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.StudyDescription = "Łódź"  # not Latin-1
        _same_bytes(ds)
        ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]  # code extensions
        ds.StudyDescription = "ABC"
        _same_bytes(ds)


def test_ambiguous_vr_and_other_encodings_go_to_pydicom_whole():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the over-long LT
        ds = _odd_dataset()
        ds.PixelRepresentation = 1
        ds.add_new(0x00280106, "US or SS", 5)  # Smallest Image Pixel Value
        _same_bytes(ds)
    implicit = make_vl_photo(pixels=astronaut()[:8, :8], transfer_syntax=ImplicitVRLittleEndian)
    _same_bytes(implicit)


def test_a_file_read_back_is_written_again_unchanged(tmp_path):
    ds = make_vl_photo(pixels=astronaut()[:16, :16], patient_name="Ødegård^Zoë")
    data = _pydicom(ds)
    read = dcmread(BytesIO(data))
    assert part10.encode(read) == data


@pytest.mark.slow
def test_every_shared_photo_s_result_set_is_the_bytes_pydicom_writes(analyzers):  # type: ignore[no-untyped-def]
    """The byte-identity on real analyses of every photo of the shared set."""
    from tests.bench.photos import data_root, read_rgb

    paths = sorted(
        p for p in (data_root() / "photos").glob("*/*") if p.suffix.lower() in (".jpg", ".png")
    )
    if not paths:
        pytest.skip("the shared photo set is not there (FACENODE_SHARED_DATA)")
    different = []
    for i, path in enumerate(paths):
        rgb = read_rgb(path)
        assert rgb is not None, path
        source = wrap_rgb_image(rgb, patient_name="Ødegård^Zoë", patient_id="P1")
        if i % 2:
            del source.SpecificCharacterSet
        _, outputs = _analysed(source, analyzers("mediapipe"))
        fast = [part10.encode(ds) for ds in outputs]
        if fast != [_pydicom(ds) for ds in outputs]:
            different.append(path.name)
    assert different == []
    assert len(paths) >= 10  # the walk found the set
