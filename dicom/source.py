"""What results need from their source photo: its identity, header and image reference.

Results are written into the source's study and reference the source image, so the UIDs
must be there; the patient / study attributes highdicom copies are filled with empty
values (DICOM type 2) where a sender left them out.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import UID

from dicom.errors import IncompleteHeaderError

_PIXEL_GROUP_START = Tag(0x7FE0, 0x0000)
_REQUIRED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
_TYPE2_DEFAULTS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)


def check_source_uids(ds: Dataset) -> None:
    """Raise :class:`IncompleteHeaderError` unless the four identifying UIDs are valid."""
    for keyword in _REQUIRED_UIDS:
        value = str(ds.get(keyword, "") or "").strip()
        if not value:
            raise IncompleteHeaderError(
                f"{keyword} is missing or empty; results must reference the source photo "
                "by Study, Series and SOP Instance UID and SOP Class UID"
            )
        if not UID(value).is_valid:
            raise IncompleteHeaderError(f"{keyword} {value!r} is not a valid UID")


def reference_header(source: Dataset) -> Dataset:
    """A pixel-free shallow copy of ``source`` that highdicom can use as evidence / reference.

    Elements from (7FE0,0000) on (pixel data, padding) are left out, so building results
    never copies image data; missing type 2 patient / study attributes are added empty.
    """
    check_source_uids(source)
    header = Dataset()
    for elem in source:
        if elem.tag >= _PIXEL_GROUP_START:
            break
        header.add(elem)
    for keyword in _TYPE2_DEFAULTS:
        if keyword not in header:
            setattr(header, keyword, "")
    if hasattr(source, "file_meta"):
        header.file_meta = source.file_meta
    return header


def study_header(sources: Sequence[Dataset], what: str) -> Dataset:
    """The first source's pixel-free header, once there is a source, every one has valid
    UIDs and all share one study: results that derive from several photos (a PDF report, a
    mesh, its renderings) go into exactly one study. ``what`` names the result in errors."""
    if not sources:
        raise ValueError(f"{what} needs at least one source photo")
    for s in sources:
        check_source_uids(s)
    study = {str(s.StudyInstanceUID) for s in sources}
    if len(study) != 1:
        raise ValueError(f"the photos of {what} must share one study, got {sorted(study)}")
    return reference_header(sources[0])


def is_multiframe(ds: Dataset) -> bool:
    return int(ds.get("NumberOfFrames", 1) or 1) > 1
