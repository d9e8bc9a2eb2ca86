"""Checks on a received object: each refusal has its own type and a message that names the
attribute, so the SCP can choose the DIMSE status by type."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydicom.dataset import Dataset

from dicom.errors import DicomInputError, InvalidAttributeError, MissingAttributeError
from dicom.photo import VL_PHOTOGRAPHIC_IMAGE
from dicom.received import check_received
from tests.factories import make_vl_photo, with_raw_uid

PHOTO_CLASSES = {VL_PHOTOGRAPHIC_IMAGE}
STORED_CLASS = "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR: stored, not a photo


def _check(ds: Dataset, *, sop: str | None = None, cls: str | None = None) -> None:
    check_received(ds, sop if sop is not None else str(ds.get("SOPInstanceUID", "")),
                   cls if cls is not None else str(ds.get("SOPClassUID", "")), PHOTO_CLASSES)


def test_a_complete_photo_passes() -> None:
    _check(make_vl_photo())


def _delete(keyword: str) -> Callable[[Dataset], None]:
    return lambda ds: delattr(ds, keyword)


def _blank(keyword: str) -> Callable[[Dataset], None]:
    return lambda ds: setattr(ds, keyword, "")


@pytest.mark.parametrize(
    ("damage", "keyword"),
    [
        (_delete("StudyInstanceUID"), "StudyInstanceUID"),
        (_blank("SeriesInstanceUID"), "SeriesInstanceUID"),
        (_delete("PixelData"), "PixelData"),
        (_delete("Rows"), "Rows"),
        (_delete("Columns"), "Columns"),
    ],
)
def test_absent_or_empty_required_attributes_are_missing_attribute_errors(
    damage: Callable[[Dataset], None], keyword: str
) -> None:
    ds = make_vl_photo()
    damage(ds)
    with pytest.raises(MissingAttributeError, match=keyword):
        _check(ds)


def test_a_non_photo_needs_no_pixels() -> None:
    ds = make_vl_photo()
    ds.SOPClassUID = STORED_CLASS
    del ds.PixelData
    _check(ds)


#: deliberately over-long UI value: pydicom warns, the node must refuse it
@pytest.mark.filterwarnings("ignore:The value length .* exceeds the maximum length:UserWarning")
def test_an_overlong_uid_is_an_invalid_attribute() -> None:
    ds = make_vl_photo()
    ds.SeriesInstanceUID = "1." + "2" * 70
    with pytest.raises(InvalidAttributeError, match="SeriesInstanceUID is longer than 64"):
        _check(ds)


def test_uids_that_differ_from_the_request_are_invalid_attributes() -> None:
    ds = make_vl_photo()
    with pytest.raises(InvalidAttributeError, match="Affected SOP Instance"):
        _check(ds, sop="1.2.3")
    with pytest.raises(InvalidAttributeError, match="Affected SOP Class"):
        _check(ds, cls=STORED_CLASS)


def test_refusals_are_value_errors_under_the_dicom_root() -> None:
    for cls in (MissingAttributeError, InvalidAttributeError):
        assert issubclass(cls, DicomInputError) and issubclass(cls, ValueError)
    assert not issubclass(MissingAttributeError, InvalidAttributeError)
    assert not issubclass(InvalidAttributeError, MissingAttributeError)


INVALID_UIDS = [
    "1.2.3/../../etc",  # a path
    "../../x",
    "1.2.abc",  # letters
    "1.02.3",  # leading zero in a component
    "1..2",  # empty component
    "1.2.",  # trailing dot
    ".1.2",
    "1.2.3 4",  # a space inside
]


@pytest.mark.parametrize("value", INVALID_UIDS)
@pytest.mark.parametrize("keyword", ["SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"])
def test_invalid_uids_are_invalid_attributes_read_without_warnings(keyword: str,
                                                                  value: str) -> None:
    """Read from the raw bytes: pydicom never converts (and warns about) the bad value."""
    ds = with_raw_uid(make_vl_photo(), keyword, value)
    with pytest.raises(InvalidAttributeError, match=f"{keyword} is not a valid UID"):
        check_received(ds, value if keyword == "SOPInstanceUID" else str(ds.SOPInstanceUID),
                       VL_PHOTOGRAPHIC_IMAGE, PHOTO_CLASSES)


def test_the_uid_grammar() -> None:
    from dicom.received import is_valid_uid

    assert is_valid_uid("1.2.840.10008.5.1.4.1.1.77.1.4")
    assert is_valid_uid("0") and is_valid_uid("1.0.2") and is_valid_uid("2.25." + "9" * 59)
    assert not is_valid_uid("2.25." + "9" * 60)  # 65 characters
    assert not any(is_valid_uid(v) for v in [*INVALID_UIDS, "", "1.2\x00"])


def test_a_valid_uid_padded_with_a_nul_passes() -> None:
    ds = with_raw_uid(make_vl_photo(), "SeriesInstanceUID", "1.2.3.4\x00")
    check_received(ds, str(ds.SOPInstanceUID), VL_PHOTOGRAPHIC_IMAGE, PHOTO_CLASSES)


def test_the_content_digest_leaves_the_file_meta_out() -> None:
    """Two sends of one object differ in their file meta (the sender's AE title and
    implementation), never in the dataset: the digest is the dataset's."""
    import io

    from dicom.received import content_digest, dataset_offset

    ds = make_vl_photo()
    first, second = io.BytesIO(), io.BytesIO()
    ds.save_as(first, enforce_file_format=True)
    ds.file_meta.SourceApplicationEntityTitle = "OTHER_SENDER"
    ds.file_meta.ImplementationVersionName = "OTHER_1.0"
    ds.save_as(second, enforce_file_format=True)
    a, b = first.getvalue(), second.getvalue()
    assert a != b and dataset_offset(a) != dataset_offset(b)
    assert a[dataset_offset(a):] == b[dataset_offset(b):]
    assert content_digest(a) == content_digest(b)
    ds.InstanceNumber = 7  # other content
    third = io.BytesIO()
    ds.save_as(third, enforce_file_format=True)
    assert content_digest(third.getvalue()) != content_digest(a)
    assert dataset_offset(b"no preamble") == 0
