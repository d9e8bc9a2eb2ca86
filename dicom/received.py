"""Checks on an object received over C-STORE, made before it is stored.

Each refusal is a typed error of :mod:`dicom.errors` (absent or empty required attribute:
:class:`MissingAttributeError`; a value that cannot be accepted: :class:`InvalidAttributeError`)
so that the SCP chooses the DIMSE status by type, never by reading the message.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Final

from pydicom.dataset import Dataset

from dicom.errors import InvalidAttributeError, MissingAttributeError

#: Identify the object; results and the database need all four.
IDENTIFYING_UIDS: Final = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
#: What a photo needs before anything can decode it.
PHOTO_ATTRIBUTES: Final = ("Rows", "Columns", "PixelData")
MAX_UID_LENGTH: Final = 64  # PS3.5 §9.1


def check_received(
    ds: Dataset,
    affected_sop_instance: str,
    affected_sop_class: str,
    photo_classes: Container[str],
) -> None:
    """Return when ``ds`` can be stored, else raise the reason to refuse it.

    ``affected_*`` are the C-STORE request's Affected SOP Instance / Class UIDs, which the
    dataset must repeat; objects of ``photo_classes`` must also carry an image. Attribute
    values are read here, so pydicom's errors on a malformed element propagate as they are.
    """
    for keyword in IDENTIFYING_UIDS:
        value = ds.get(keyword)
        if not value or not str(value).strip():
            raise MissingAttributeError(f"required attribute {keyword} is missing or empty")
        if len(str(value)) > MAX_UID_LENGTH:
            raise InvalidAttributeError(f"{keyword} is longer than {MAX_UID_LENGTH} characters")
    if str(ds.SOPInstanceUID) != affected_sop_instance:
        raise InvalidAttributeError(
            "SOP Instance UID in the dataset differs from the request's Affected SOP Instance"
        )
    if str(ds.SOPClassUID) != affected_sop_class:
        raise InvalidAttributeError(
            "SOP Class UID in the dataset differs from the request's Affected SOP Class"
        )
    if str(ds.SOPClassUID) in photo_classes:
        for keyword in PHOTO_ATTRIBUTES:
            if keyword not in ds:
                raise MissingAttributeError(f"photo is missing required attribute {keyword}")
