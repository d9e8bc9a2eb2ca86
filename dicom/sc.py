"""An overlay image → Secondary Capture (highdicom SCImage) in the photo's study.

Marked as derived (Image Type DERIVED\\SECONDARY), referencing the source photo in the
Source Image Sequence, with the node as manufacturer. The "AI result - not a diagnosis"
banner is burned into the pixels by the overlay renderer; this module only states it
again in the header (Image Comments, Derivation Description).
"""

from __future__ import annotations

import numpy as np
from highdicom.sc import SCImage
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from analysis.types import ImageArray, View
from dicom import codes
from dicom.context import ResultContext
from dicom.equipment import DISCLAIMER_TEXT, apply_general_equipment, contributing_equipment
from dicom.photo import view_hint
from dicom.source import is_multiframe, reference_header
from dicom.uids import new_uid

#: Patient Orientation (row direction, column direction) of an upright photo per view.
_ORIENTATION: dict[View, tuple[str, str]] = {
    View.FRONTAL: ("L", "F"),
    View.PROFILE_RIGHT: ("A", "F"),
    View.PROFILE_LEFT: ("P", "F"),
}
_PLACEHOLDER = ("L", "F")  # highdicom requires a value; replaced by an empty one (type 2C)


def build_sc(
    source: Dataset,
    image: ImageArray,
    title: str,
    ctx: ResultContext,
    instance_number: int,
) -> SCImage:
    """A Secondary Capture of ``image`` (H×W×3 RGB uint8) derived from ``source``."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"overlay image must be H×W×3, got shape {getattr(image, 'shape', None)}")
    if image.dtype != np.uint8:
        raise ValueError(f"overlay image must be uint8, got {image.dtype}")
    header = reference_header(source)
    orientation = _orientation(header)
    sc = SCImage.from_ref_dataset(
        ref_dataset=header,
        pixel_array=np.ascontiguousarray(image),
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        series_instance_uid=ctx.sc_series_uid,
        series_number=ctx.sc_series_number,
        sop_instance_uid=str(new_uid()),
        instance_number=instance_number,
        manufacturer=ctx.manufacturer,
        patient_orientation=orientation or _PLACEHOLDER,
        transfer_syntax_uid=ctx.sc_transfer_syntax,
        contributing_equipment=contributing_equipment(ctx, ()),
        series_description=ctx.sc_series_description,
        manufacturer_model_name=ctx.model_name,
        software_versions=ctx.software_version or "0",
        device_serial_number=ctx.device_serial,
        institution_name=ctx.institution_name,
    )
    if orientation is None:
        sc.PatientOrientation = []  # type 2C: present, empty
    apply_general_equipment(sc, ctx)
    sc.ConversionType = "WSD"  # made on a workstation, not digitised from a device
    sc.BodyPartExamined = str(header.get("BodyPartExamined", "") or "HEAD")
    sc.SourceImageSequence = Sequence([_source_item(header)])
    sc.DerivationDescription = _short(
        f"{title}: annotated copy of the source photo made by {ctx.manufacturer} "
        f"{ctx.model_name} {ctx.software_version}. {DISCLAIMER_TEXT}.",
        1024,
    )
    sc.ImageComments = f"{title} - {DISCLAIMER_TEXT}"
    sc.BurnedInAnnotation = "NO"  # the burned-in text identifies no patient
    sc.RecognizableVisualFeatures = "YES"  # it is a face
    if str(header.get("LossyImageCompression", "")) == "01":
        sc.LossyImageCompression = "01"  # derived from a lossy photo stays marked lossy
        for keyword in ("LossyImageCompressionRatio", "LossyImageCompressionMethod"):
            if keyword in header:
                sc[keyword] = header[keyword]
    return sc


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _orientation(header: Dataset) -> tuple[str, str] | None:
    value = header.get("PatientOrientation")
    if value is not None and not isinstance(value, str) and len(value) == 2 and all(value):
        return str(value[0]), str(value[1])
    view = view_hint(header)
    return _ORIENTATION.get(view) if view is not None else None


def _source_item(header: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = header.SOPClassUID
    item.ReferencedSOPInstanceUID = header.SOPInstanceUID
    if is_multiframe(header):
        item.ReferencedFrameNumber = 1
    purpose = Dataset()
    code = codes.SOURCE_IMAGE_FOR_PROCESSING
    purpose.CodeValue = code.value
    purpose.CodingSchemeDesignator = code.scheme_designator
    purpose.CodeMeaning = code.meaning
    item.PurposeOfReferenceCodeSequence = Sequence([purpose])
    return item
