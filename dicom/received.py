"""Checks on an object received over C-STORE, made before it is stored.

Each refusal is a typed error of :mod:`dicom.errors` (absent or empty required attribute:
:class:`MissingAttributeError`; a value that cannot be accepted: :class:`InvalidAttributeError`)
so that the SCP chooses the DIMSE status by type, never by reading the message.

The identifying UIDs are read from the elements' raw bytes and checked against the UID
grammar of PS3.5 §9.1 before pydicom converts them (converting an invalid UID makes pydicom
warn, quoting it); a storage path is built only from UIDs that passed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Container
from typing import Final

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from dicom.errors import InvalidAttributeError, MissingAttributeError

#: Identify the object; results and the database need all four.
IDENTIFYING_UIDS: Final = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
#: What a photo needs before anything can decode it.
PHOTO_ATTRIBUTES: Final = ("Rows", "Columns", "PixelData")
MAX_UID_LENGTH: Final = 64  # PS3.5 §9.1
#: PS3.5 §9.1: components of digits separated by dots; a component is 0 or has no leading 0.
UID_PATTERN: Final = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


def is_valid_uid(value: str) -> bool:
    """True for a UID that PS3.5 §9.1 allows: at most 64 characters, digits and dots, no
    empty component, no leading zero in a component."""
    return 0 < len(value) <= MAX_UID_LENGTH and UID_PATTERN.fullmatch(value) is not None


def raw_uid(ds: Dataset, keyword: str) -> str | None:
    """The UID ``keyword`` as text (padding stripped), without pydicom converting it;
    None when the element is absent."""
    tag = tag_for_keyword(keyword)
    if tag is None or tag not in ds:
        return None
    value = ds.get_item(tag).value
    if value is None:
        return ""
    if isinstance(value, bytes):
        text = value.decode("ascii", "replace")
    else:
        text = str(value)
    return text.rstrip("\x00 ").lstrip(" ")


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
    uids: dict[str, str] = {}
    for keyword in IDENTIFYING_UIDS:
        value = raw_uid(ds, keyword)
        if not value:
            raise MissingAttributeError(f"required attribute {keyword} is missing or empty")
        if len(value) > MAX_UID_LENGTH:
            raise InvalidAttributeError(f"{keyword} is longer than {MAX_UID_LENGTH} characters")
        if not is_valid_uid(value):
            raise InvalidAttributeError(
                f"{keyword} is not a valid UID (PS3.5 9.1: digits and dots, no leading zeros"
                f" in a component, at most {MAX_UID_LENGTH} characters)"
            )
        uids[keyword] = value
    if uids["SOPInstanceUID"] != affected_sop_instance.rstrip("\x00 "):
        raise InvalidAttributeError(
            "SOP Instance UID in the dataset differs from the request's Affected SOP Instance"
        )
    if uids["SOPClassUID"] != affected_sop_class.rstrip("\x00 "):
        raise InvalidAttributeError(
            "SOP Class UID in the dataset differs from the request's Affected SOP Class"
        )
    if uids["SOPClassUID"] in photo_classes:
        for keyword in PHOTO_ATTRIBUTES:
            if keyword not in ds:
                raise MissingAttributeError(f"photo is missing required attribute {keyword}")


_LONG_LENGTH_VRS: Final = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)


def dataset_offset(data: bytes | memoryview) -> int:
    """Where the dataset starts in a DICOM Part 10 byte string: after the preamble, the
    ``DICM`` prefix and the file meta group (explicit VR little endian); 0 for bytes that
    have no preamble (a bare dataset)."""
    view = memoryview(data)
    if bytes(view[128:132]) != b"DICM":
        return 0
    pos = 132
    while pos + 8 <= len(view) and int.from_bytes(view[pos : pos + 2], "little") == 0x0002:
        vr = bytes(view[pos + 4 : pos + 6])
        if vr in _LONG_LENGTH_VRS:
            length = int.from_bytes(view[pos + 8 : pos + 12], "little")
            pos += 12 + length
        else:
            length = int.from_bytes(view[pos + 6 : pos + 8], "little")
            pos += 8 + length
    return min(pos, len(view))


def content_digest(data: bytes | memoryview) -> str:
    """sha256 of a received object's dataset, file meta left out: the sender's own meta
    (its AE title, implementation) differ between two sends of the same object, the
    dataset does not. The dataset is hashed as encoded, so the same object re-sent in
    another transfer syntax counts as other content."""
    view = memoryview(data)
    return hashlib.sha256(view[dataset_offset(view) :]).hexdigest()
