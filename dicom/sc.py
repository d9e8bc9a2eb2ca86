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
from dicom.codes import code_item
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
    header = reference_header(source)
    sc = derived_rgb_sc(
        header,
        image,
        ctx,
        what="overlay image",
        series_uid=ctx.sc_series_uid,
        series_number=ctx.sc_series_number,
        series_description=ctx.sc_series_description,
        instance_number=instance_number,
        orientation=_orientation(header),
    )
    sc.SourceImageSequence = Sequence([source_item(header)])
    sc.DerivationDescription = short(
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


def derived_rgb_sc(
    header: Dataset,
    image: ImageArray,
    ctx: ResultContext,
    *,
    what: str,
    series_uid: str,
    series_number: int,
    series_description: str,
    instance_number: int,
    orientation: tuple[str, str] | None,
) -> SCImage:
    """The part every SC the node makes shares (overlays here, 3D renderings in
    :mod:`dicom.render_sc`): an RGB image checked and wrapped in the source's study with the
    node as manufacturer, its equipment, Conversion Type WSD and the body part. ``what``
    names the image in the error; ``orientation`` None leaves Patient Orientation empty."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{what} must be H×W×3, got shape {getattr(image, 'shape', None)}")
    if image.dtype != np.uint8:
        raise ValueError(f"{what} must be uint8, got {image.dtype}")
    sc = SCImage.from_ref_dataset(
        ref_dataset=header,
        pixel_array=np.ascontiguousarray(image),
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=str(new_uid()),
        instance_number=instance_number,
        manufacturer=ctx.manufacturer,
        patient_orientation=orientation or _PLACEHOLDER,
        transfer_syntax_uid=ctx.sc_transfer_syntax,
        contributing_equipment=contributing_equipment(ctx, ()),
        series_description=series_description,
        manufacturer_model_name=ctx.model_name,
        software_versions=ctx.software_version or "0",
        device_serial_number=ctx.device_serial,
        institution_name=ctx.institution_name,
    )
    if orientation is None:
        sc.PatientOrientation = []  # type 2C: present, empty (a view we cannot name)
    apply_general_equipment(sc, ctx)
    sc.ConversionType = "WSD"  # made on a workstation, not digitised from a device
    sc.BodyPartExamined = str(header.get("BodyPartExamined", "") or "HEAD")
    return sc


def short(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked "..." where cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _orientation(header: Dataset) -> tuple[str, str] | None:
    value = header.get("PatientOrientation")
    if value is not None and not isinstance(value, str) and len(value) == 2 and all(value):
        return str(value[0]), str(value[1])
    view = view_hint(header)
    return _ORIENTATION.get(view) if view is not None else None


def source_item(header: Dataset) -> Dataset:
    """A Source Image Sequence item: ``header``'s instance (its first frame), as the
    source image for an image processing operation."""
    item = Dataset()
    item.ReferencedSOPClassUID = header.SOPClassUID
    item.ReferencedSOPInstanceUID = header.SOPInstanceUID
    if is_multiframe(header):
        item.ReferencedFrameNumber = 1
    c = codes.SOURCE_IMAGE_FOR_PROCESSING
    item.PurposeOfReferenceCodeSequence = Sequence(
        [code_item(c.value, c.scheme_designator, c.meaning)]
    )
    return item
