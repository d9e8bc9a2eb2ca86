from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)

from analysis.types import InvalidInputError, Photo, ScaleSource, View
from dicom.errors import (
    DicomInputError,
    IncompleteHeaderError,
    NotAPhotoError,
    UnreadablePixelsError,
)
from dicom.photo import PHOTO_SOP_CLASS_UIDS, dataset_to_photo, is_photo_sop_class
from tests.factories import (
    LOSSLESS_SYNTAXES,
    MULTIFRAME_TRUE_COLOR_SC,
    SECONDARY_CAPTURE,
    TRANSFER_SYNTAXES,
    VL_PHOTOGRAPHIC,
    astronaut,
    make_vl_photo,
)
from tests.support.dciodvfy import dciodvfy_errors


@pytest.mark.parametrize("ts", TRANSFER_SYNTAXES, ids=lambda t: t.name)
def test_every_transfer_syntax_decodes_to_the_same_rgb_photo(ts, tmp_path, dciodvfy):
    ds = make_vl_photo(transfer_syntax=ts)
    path = tmp_path / "photo.dcm"
    assert dciodvfy_errors_of(ds, path) == []  # the factory makes valid objects

    photo = dataset_to_photo(ds)

    ref = astronaut()
    assert photo.pixels.shape == ref.shape and photo.pixels.dtype == np.uint8
    diff = np.abs(photo.pixels.astype(int) - ref.astype(int))
    if ts in LOSSLESS_SYNTAXES:
        assert diff.max() == 0
    else:  # lossy, but still the same picture in RGB (not YBR, not channel-swapped)
        assert diff.mean() < 4.0
        assert np.corrcoef(photo.pixels[..., 0].ravel(), ref[..., 0].ravel())[0, 1] > 0.98
    assert photo.view_hint is View.FRONTAL


def dciodvfy_errors_of(ds: Dataset, path) -> list[str]:
    ds.save_as(path, enforce_file_format=True)
    return dciodvfy_errors(path)


def test_native_ybr_full_is_converted_to_rgb():
    ds = make_vl_photo(photometric="YBR_FULL")
    assert ds.PhotometricInterpretation == "YBR_FULL"
    photo = dataset_to_photo(ds)
    assert np.abs(photo.pixels.astype(int) - astronaut().astype(int)).max() <= 2


def test_monochrome2_8bit_becomes_grey_rgb():
    grey = astronaut()[..., 1]
    photo = dataset_to_photo(make_vl_photo(grey, sop_class_uid=SECONDARY_CAPTURE))
    assert photo.pixels.shape == (*grey.shape, 3)
    for c in range(3):
        assert np.array_equal(photo.pixels[..., c], grey)


def test_monochrome1_is_inverted():
    grey = astronaut()[..., 1]
    ds = make_vl_photo(grey, sop_class_uid=SECONDARY_CAPTURE)
    ds.PhotometricInterpretation = "MONOCHROME1"
    photo = dataset_to_photo(ds)
    assert np.array_equal(photo.pixels[..., 0], 255 - grey)


def test_16bit_grey_is_scaled_to_uint8_over_the_stored_range():
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (32, 1))
    photo = dataset_to_photo(make_vl_photo(ramp, sop_class_uid=SECONDARY_CAPTURE))
    assert photo.pixels.dtype == np.uint8
    assert photo.pixels[0, 0, 0] == 0 and photo.pixels[0, -1, 0] == 255
    expected = np.rint(ramp.astype(float) * 255 / 65535).astype(np.uint8)
    assert np.array_equal(photo.pixels[..., 2], expected)


def test_12bit_stored_in_16_uses_bits_stored():
    img = np.full((32, 32), 4095, dtype=np.uint16)
    img[:, :16] = 2048
    ds = make_vl_photo(img, sop_class_uid=SECONDARY_CAPTURE)
    ds.BitsStored, ds.HighBit = 12, 11
    photo = dataset_to_photo(ds)
    assert photo.pixels[0, 31, 0] == 255
    assert photo.pixels[0, 0, 0] == 128


def test_a_window_of_nan_is_ignored_with_a_warning(caplog):
    """A NaN Window Center / Width (seen in a malformed corpus) would turn every sample NaN."""
    grey = astronaut()[..., 1]
    ds = make_vl_photo(grey, sop_class_uid=SECONDARY_CAPTURE)
    with pytest.warns(UserWarning, match="Invalid value for VR DS"):  # pydicom: as it should
        ds.WindowCenter, ds.WindowWidth = "NaN", "NaN"
    photo = dataset_to_photo(ds)
    assert np.array_equal(photo.pixels[..., 0], grey)
    assert "ignoring an unusable window" in caplog.text


def test_multiframe_uses_the_first_frame_and_says_so(caplog):
    frames = np.stack([astronaut(), 255 - astronaut()])
    ds = make_vl_photo(frames, sop_class_uid=MULTIFRAME_TRUE_COLOR_SC)
    with caplog.at_level("INFO", logger="dicom.photo"):
        photo = dataset_to_photo(ds)
    assert np.array_equal(photo.pixels, astronaut())
    assert "first of 2 frames" in photo.label
    assert "only the first frame" in caplog.text


def test_multiframe_jpeg_decodes_only_first_frame():
    frames = np.stack([astronaut(), astronaut()[::-1]])
    ds = make_vl_photo(frames, JPEGBaseline8Bit, sop_class_uid=MULTIFRAME_TRUE_COLOR_SC)
    photo = dataset_to_photo(ds)
    assert np.abs(photo.pixels.astype(int) - astronaut().astype(int)).mean() < 4.0


def test_pixel_spacing_wins_over_imager_pixel_spacing():
    ds = make_vl_photo(pixel_spacing=(0.1, 0.12), imager_pixel_spacing=(0.2, 0.2))
    photo = dataset_to_photo(ds)
    assert photo.pixel_spacing_mm == pytest.approx((0.1, 0.12))
    assert photo.pixel_spacing_source is ScaleSource.PIXEL_SPACING


def test_imager_pixel_spacing_used_when_alone():
    photo = dataset_to_photo(make_vl_photo(imager_pixel_spacing=(0.25, 0.25)))
    assert photo.pixel_spacing_mm == pytest.approx((0.25, 0.25))
    assert photo.pixel_spacing_source is ScaleSource.IMAGER_PIXEL_SPACING


def test_no_spacing_gives_none():
    photo = dataset_to_photo(make_vl_photo())
    assert photo.pixel_spacing_mm is None and photo.pixel_spacing_source is None


def test_invalid_spacing_is_ignored_with_a_warning(caplog):
    ds = make_vl_photo(pixel_spacing=(0.1, 0.1), imager_pixel_spacing=(0.3, 0.3))
    ds.PixelSpacing = ["0", "0.1"]
    with caplog.at_level("WARNING", logger="dicom.photo"):
        photo = dataset_to_photo(ds)
    assert photo.pixel_spacing_source is ScaleSource.IMAGER_PIXEL_SPACING
    assert "PixelSpacing" in caplog.text


@pytest.mark.parametrize(
    ("code", "view"),
    [
        (("399033003", "SCT", "frontal"), View.FRONTAL),
        (("399198007", "SCT", "right lateral"), View.PROFILE_RIGHT),
        (("399173006", "SCT", "left lateral"), View.PROFILE_LEFT),
        (("399236003", "SCT", "right oblique"), View.OBLIQUE_RIGHT),
        (("399184004", "SCT", "left oblique"), View.OBLIQUE_LEFT),
        (("399356000", "SCT", "right anterior oblique"), View.OBLIQUE_RIGHT),
        (("399135007", "SCT", "left anterior oblique"), View.OBLIQUE_LEFT),
        (("399067008", "SCT", "lateral"), None),  # no side: the pose decides
        (("12345", "99LOCAL", "portrait"), None),
    ],
)
def test_view_code_sequence_maps_to_view(code, view):
    assert dataset_to_photo(make_vl_photo(view=code)).view_hint is view


def test_no_view_code_sequence_gives_none():
    assert dataset_to_photo(make_vl_photo(view=None)).view_hint is None


@pytest.mark.parametrize(
    "stored,sex", [("F", "F"), ("M", "M"), ("M ", "M"), ("O", None), ("", None), (None, None)]
)
def test_patient_sex_comes_with_the_photo(stored, sex):
    ds = make_vl_photo(pixels=np.zeros((32, 32, 3), np.uint8))
    if stored is None:
        del ds.PatientSex
    else:
        ds.PatientSex = stored
    assert dataset_to_photo(ds).sex == sex


def test_photo_refuses_a_sex_the_norm_rows_do_not_know():
    with pytest.raises(InvalidInputError, match="'M', 'F' or None, got 'O'"):
        Photo(np.zeros((32, 32, 3), np.uint8), sex="O")


def test_accepted_sop_classes():
    assert is_photo_sop_class(VL_PHOTOGRAPHIC)
    assert is_photo_sop_class(SECONDARY_CAPTURE)
    assert is_photo_sop_class(MULTIFRAME_TRUE_COLOR_SC)
    assert not is_photo_sop_class(CTImageStorage)
    assert VL_PHOTOGRAPHIC in PHOTO_SOP_CLASS_UIDS


def test_ct_image_is_refused_naming_what_was_found_and_expected():
    ds = make_vl_photo()
    ds.SOPClassUID = CTImageStorage
    with pytest.raises(NotAPhotoError) as err:
        dataset_to_photo(ds)
    msg = str(err.value)
    assert "CT Image Storage" in msg and CTImageStorage in msg
    assert "VL Photographic Image Storage" in msg


def test_sr_document_is_refused():
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.34"
    ds.SOPInstanceUID = generate_uid()
    with pytest.raises(NotAPhotoError, match="Comprehensive 3D SR"):
        dataset_to_photo(ds)


def test_object_without_sop_class_is_refused():
    with pytest.raises(NotAPhotoError, match="no SOP Class UID"):
        dataset_to_photo(Dataset())


def test_photo_class_without_pixel_data_is_refused():
    ds = make_vl_photo()
    del ds.PixelData
    with pytest.raises(NotAPhotoError, match="no Pixel Data"):
        dataset_to_photo(ds)


def test_missing_study_uid_is_refused():
    ds = make_vl_photo()
    del ds.StudyInstanceUID
    with pytest.raises(IncompleteHeaderError, match="StudyInstanceUID"):
        dataset_to_photo(ds)


def test_corrupt_jpeg_is_unreadable():
    ds = make_vl_photo(transfer_syntax=JPEGBaseline8Bit)
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xe0 this is not a jpeg stream \xff\xd9"])
    with pytest.raises(UnreadablePixelsError, match="JPEG Baseline"):
        dataset_to_photo(ds)


def test_truncated_native_pixels_are_unreadable():
    ds = make_vl_photo()
    ds.PixelData = ds.PixelData[:1000]
    with pytest.raises(UnreadablePixelsError, match="cannot decode"):
        dataset_to_photo(ds)


def test_missing_image_pixel_attribute_is_unreadable():
    ds = make_vl_photo()
    del ds.Rows
    with pytest.raises(UnreadablePixelsError, match="Rows"):
        dataset_to_photo(ds)


def test_unknown_transfer_syntax_is_unreadable():
    ds = make_vl_photo()
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6"
    with pytest.raises(UnreadablePixelsError, match="no pixel decoder"):
        dataset_to_photo(ds)


def test_too_small_photo_is_unreadable_not_a_crash():
    ds = make_vl_photo(np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(UnreadablePixelsError, match="too small"):
        dataset_to_photo(ds)


def test_all_refusals_share_one_root():
    for cls in (NotAPhotoError, UnreadablePixelsError, IncompleteHeaderError):
        assert issubclass(cls, DicomInputError)


def test_dataset_without_file_meta_still_decodes_native_pixels():
    ds = make_vl_photo()
    del ds.file_meta
    assert np.array_equal(dataset_to_photo(ds).pixels, astronaut())


def test_explicit_little_endian_default_is_the_astronaut():
    ds = make_vl_photo()
    assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert ds.Rows == 512 and ds.Columns == 512


def test_deflated_file_decodes(tmp_path):
    from pydicom import dcmread
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = make_vl_photo()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    path = tmp_path / "deflated.dcm"
    ds.save_as(path, enforce_file_format=True)
    back = dcmread(path)
    assert back.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    assert np.array_equal(dataset_to_photo(back).pixels, astronaut())


def test_focal_length_prior_from_the_35mm_equivalent() -> None:
    """Focal Length In 35mm Film (0016,0045): a 50 mm equivalent on a 6000 × 4000 photo is
    50 / 36 of the longer side in pixels; absent or nonsense gives no prior."""
    from dicom.photo import focal_length_px

    ds = make_vl_photo(np.zeros((40, 60, 3), np.uint8))
    assert focal_length_px(ds, 6000, 4000) is None
    ds.FocalLengthIn35mmFilm = 50
    assert focal_length_px(ds, 6000, 4000) == pytest.approx(50 / 36 * 6000)
    assert focal_length_px(ds, 4000, 6000) == pytest.approx(50 / 36 * 6000)  # portrait
    ds.FocalLengthIn35mmFilm = 0
    assert focal_length_px(ds, 6000, 4000) is None
