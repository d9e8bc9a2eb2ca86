"""Checks on a received object: each refusal has its own type and a message that names the
attribute, so the SCP can choose the DIMSE status by type."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydicom.dataset import Dataset

from dicom.errors import DicomInputError, InvalidAttributeError, MissingAttributeError
from dicom.photo import VL_PHOTOGRAPHIC_IMAGE
from dicom.received import check_received
from tests.factories import make_vl_photo

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
