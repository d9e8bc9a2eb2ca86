"""The PDF report as an Encapsulated PDF object (modality DOC) in the photo's study.

highdicom has no encapsulated-document class, so the object is built here with pydicom,
module by module (PS3.3 A.45.1 Encapsulated PDF IOD): Patient and General Study copied
from the source photo, Encapsulated Document Series (a new series of the node's, like the
SR and SC results), General and SC Equipment naming the node, the Encapsulated Document
itself (the PDF, padded to even length, its true length in Encapsulated Document Length;
Source Instance Sequence naming every photo it reports on) and SOP Common with UTF-8
(``ISO_IR 192``) and Contributing Equipment (node and models, as on the SR and SC).

The PDF names and identifies the patient, so Burned In Annotation is YES; it shows the
face, so Recognizable Visual Features is YES.

This module also turns a source header into the report's header and photo label
(:func:`report_header`, :func:`photo_section`): the report layout (``analysis.report``)
knows nothing of DICOM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence as SequenceOf
from dataclasses import replace
from functools import cache

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian
from pydicom.valuerep import PersonName

from analysis.report import (
    PhotoSection,
    ReportHeader,
    ReportRequest,
    Software,
    prepare_images,
    render_report,
)
from analysis.types import ImageArray, ModelIdentity, PhotoAnalysis
from config.norms import load_norms
from config.tables import NormTable
from dicom.context import ResultContext
from dicom.equipment import apply_general_equipment, contributing_equipment
from dicom.source import study_header
from dicom.uids import new_uid

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
PDF_MIME = "application/pdf"
DOCUMENT_TITLE = "Facial photo analysis report"

#: Patient module and General Study module attributes the report copies from its source.
_PATIENT_STUDY = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "OtherPatientIDsSequence",
    "EthnicGroup",
    "PatientComments",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "IssuerOfAccessionNumberSequence",
    "StudyDescription",
)
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate",
          "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber")  # fmt: skip


def build_report(
    sources: SequenceOf[Dataset],
    sections: SequenceOf[PhotoSection],
    ctx: ResultContext,
    instance_number: int,
    norms: NormTable | None = None,
) -> Dataset:
    """The Encapsulated PDF report on ``sections`` (one per photo of ``sources``)."""
    document = render_pdf(sources, sections, ctx, norms)
    models = tuple(dict.fromkeys(m for s in sections for m in s.analysis.models))
    return build_pdf(sources, document, ctx, instance_number, models=models)


def render_pdf(
    sources: SequenceOf[Dataset],
    sections: SequenceOf[PhotoSection],
    ctx: ResultContext,
    norms: NormTable | None = None,
) -> bytes:
    """The report's PDF bytes; header from the first source (all share patient and study).

    ``norms`` None: the shipped norm table; the source's Patient's Sex picks its rows.
    """
    request = report_request(sources, ctx, sections)
    return render_report(request, norms if norms is not None else shipped_norms())


def report_request(
    sources: SequenceOf[Dataset],
    ctx: ResultContext,
    sections: SequenceOf[PhotoSection] = (),
    title: str | None = None,
) -> ReportRequest:
    """What a report or a note (:func:`analysis.report.render_note`) on ``sources`` is made
    of: the header from the first source (all share patient and study), the node as the
    software, the time now, the source's Patient's Sex; ``title`` None: the report's."""
    if not sources:
        raise ValueError("a report needs at least one source photo")
    first = sources[0]
    sex = str(first.get("PatientSex", "") or "").strip().upper()
    request = ReportRequest(
        header=report_header(first),
        sections=tuple(sections),
        software=Software(
            ctx.manufacturer, ctx.model_name, ctx.software_version, str(ctx.node_device_uid)
        ),
        created=dt.datetime.now(),
        sex=sex if sex in ("M", "F") else None,
    )
    return request if title is None else replace(request, title=title)


def build_pdf(
    sources: SequenceOf[Dataset],
    document: bytes,
    ctx: ResultContext,
    instance_number: int,
    title: str = DOCUMENT_TITLE,
    models: SequenceOf[ModelIdentity] = (),
) -> Dataset:
    """An Encapsulated PDF Storage dataset holding ``document``, in the sources' study."""
    if not document.startswith(b"%PDF-"):
        raise ValueError("document is not a PDF (it does not start with %PDF-)")
    header = study_header(sources, "one report")
    now = dt.datetime.now()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    copy_patient_study(header, ds)
    # Encapsulated Document Series
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = ctx.pdf_series_uid
    ds.SeriesNumber = ctx.pdf_series_number
    ds.SeriesDescription = ctx.pdf_series_description
    ds.SeriesDate = now.strftime("%Y%m%d")
    ds.SeriesTime = now.strftime("%H%M%S")
    # General Equipment and SC Equipment
    ds.Manufacturer = ctx.manufacturer
    ds.ManufacturerModelName = ctx.model_name
    ds.SoftwareVersions = ctx.software_version or "0"
    if ctx.institution_name:
        ds.InstitutionName = ctx.institution_name
    if ctx.device_serial:
        ds.DeviceSerialNumber = ctx.device_serial
    apply_general_equipment(ds, ctx)
    ds.ConversionType = "WSD"
    # Encapsulated Document
    ds.InstanceNumber = instance_number
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"  # the PDF names the patient
    ds.RecognizableVisualFeatures = "YES"  # and shows the face
    ds.SourceInstanceSequence = Sequence([_reference(s) for s in sources])
    ds.DocumentTitle = title
    ds.ConceptNameCodeSequence = Sequence()
    ds.VerificationFlag = "UNVERIFIED"
    ds.MIMETypeOfEncapsulatedDocument = PDF_MIME
    ds.EncapsulatedDocumentLength = len(document)
    ds.EncapsulatedDocument = document + (b"\x00" if len(document) % 2 else b"")
    # SOP Common
    ds.SOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.SOPInstanceUID = str(new_uid())
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    ds.ContributingEquipmentSequence = Sequence(contributing_equipment(ctx, models))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(ENCAPSULATED_PDF_STORAGE)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(ds.SOPInstanceUID)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return ds


def pdf_bytes(ds: Dataset) -> bytes:
    """The PDF an Encapsulated PDF dataset holds, without the padding byte."""
    if str(ds.get("SOPClassUID", "")) != ENCAPSULATED_PDF_STORAGE:
        raise ValueError(f"not an Encapsulated PDF object: SOP Class {ds.get('SOPClassUID')}")
    data = bytes(ds.EncapsulatedDocument)
    length = ds.get("EncapsulatedDocumentLength")
    return data[: int(length)] if length is not None else data.rstrip(b"\x00")


# --- header → report text --------------------------------------------------------------


def report_header(source: Dataset) -> ReportHeader:
    """The report's patient and study lines from a photo's header."""
    sex = str(source.get("PatientSex", "") or "").strip().upper()
    return ReportHeader(
        patient_name=person_name(source.get("PatientName")),
        patient_id=_text(source.get("PatientID")),
        birth_date=dicom_date(source.get("PatientBirthDate")),
        sex={"M": "male", "F": "female", "O": "other"}.get(sex, sex),
        study_date=_join(dicom_date(source.get("StudyDate")), dicom_time(source.get("StudyTime"))),
        study_description=_text(source.get("StudyDescription")),
        accession_number=_text(source.get("AccessionNumber")),
        referring_physician=person_name(source.get("ReferringPhysicianName")),
        institution=_text(source.get("InstitutionName")),
    )


def photo_section(
    source: Dataset, result: PhotoAnalysis, overlays: SequenceOf[tuple[str, ImageArray]]
) -> PhotoSection:
    """One photo's part of a report: its label from the header, its overlays as JPEG."""
    series = _text(source.get("SeriesDescription")) or "photo"
    number = source.get("SeriesNumber")
    label = f"series {number} “{series}”" if number not in (None, "") else f"“{series}”"
    if source.get("InstanceNumber") not in (None, ""):
        label += f", image {source.InstanceNumber}"
    details: list[tuple[str, str]] = []
    acquired = _acquired(source)
    if acquired:
        details.append(("Acquired", acquired))
    rows, cols = source.get("Rows"), source.get("Columns")
    if rows and cols:
        details.append(("Image size", f"{cols} × {rows} px"))
    return PhotoSection(label, result, prepare_images(overlays), tuple(details))


def person_name(value: object) -> str:
    """A DICOM PN as "Family, Given Middle" (components beyond those appended)."""
    if value is None or str(value).strip() == "":
        return ""
    if len(str(value)) > MAX_HEADER_TEXT:  # malformed: printed as clipped text
        return _clip(str(value).replace("^", " ").strip())
    pn = value if isinstance(value, PersonName) else PersonName(str(value))
    family, given = pn.family_name.strip(), pn.given_name.strip()
    rest = " ".join(x for x in (pn.middle_name, pn.name_prefix, pn.name_suffix) if x.strip())
    first = " ".join(x for x in (given, rest) if x)
    if family and first:
        return f"{family}, {first}"
    return family or first or str(value).replace("^", " ").strip()


def dicom_date(value: object) -> str:
    """DA "YYYYMMDD" as "YYYY-MM-DD" (as written when it is not a plain date)."""
    text = _text(value)
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text


def dicom_time(value: object) -> str:
    text = _text(value)
    digits = text.split(".")[0]
    if len(digits) >= 4 and digits.isdigit():
        return f"{digits[:2]}:{digits[2:4]}"
    return text


# --- helpers ---------------------------------------------------------------------------


#: Longest header text the report prints. DICOM's LO and PN groups hold 64 characters; a
#: malformed source may hold megabytes, which reportlab's line breaking handles in quadratic
#: time (a 300 s job timeout on one corpus object before this limit).
MAX_HEADER_TEXT = 128


def _clip(text: str) -> str:
    return text if len(text) <= MAX_HEADER_TEXT else text[: MAX_HEADER_TEXT - 1] + "…"


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return _clip("\\".join(str(v) for v in value).strip())
    return _clip(str(value).strip())


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _acquired(source: Dataset) -> str:
    stamp = _text(source.get("AcquisitionDateTime"))
    if len(stamp) >= 8:
        return _join(dicom_date(stamp[:8]), dicom_time(stamp[8:]))
    for date, time in (("AcquisitionDate", "AcquisitionTime"), ("ContentDate", "ContentTime")):
        if source.get(date):
            return _join(dicom_date(source.get(date)), dicom_time(source.get(time)))
    return ""


def copy_patient_study(header: Dataset, ds: Dataset) -> None:
    """Copy the patient / study attributes as text, so they re-encode as UTF-8."""
    for keyword in _PATIENT_STUDY:
        if keyword not in header:
            continue
        elem = header[keyword]
        if elem.VR == "SQ":
            ds[keyword] = elem
        elif elem.VR == "PN":
            setattr(ds, keyword, _text(elem.value))
        else:
            setattr(ds, keyword, elem.value)
    for keyword in _TYPE2:
        if keyword not in ds:
            setattr(ds, keyword, "")


def _reference(source: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    return item


__all__ = [
    "DOCUMENT_TITLE",
    "ENCAPSULATED_PDF_STORAGE",
    "build_pdf",
    "build_report",
    "pdf_bytes",
    "photo_section",
    "render_pdf",
    "report_header",
    "report_request",
]


@cache
def shipped_norms() -> NormTable:
    """The shipped norm table, read once: for callers (tests, tools) that pass none. The node
    passes the table its findings use (loaded once at start)."""
    return load_norms()
