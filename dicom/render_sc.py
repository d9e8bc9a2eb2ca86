"""Renderings of the reconstructed face mesh → Secondary Captures in the photos' study.

The 3D results get series of their own (:class:`SeriesTarget`): the renderings (front,
both profiles, asymmetry map) one, the 3D report another, beside the mesh series
(:class:`dicom.mesh.MeshTarget`). Each rendering is an SC the way :mod:`dicom.sc` builds
the 2D overlays (highdicom ``SCImage``, Image Type DERIVED\\SECONDARY, the node as
manufacturer, Conversion Type WSD, JPEG-LS lossless by default through
``ResultContext.sc_transfer_syntax``), except that it derives from *every* photo of the
series: all of them are in Source Image Sequence (purpose "Source image for image
processing operation"), and Derivation Code Sequence says DCM 113075 "Surface rendering".
The "AI result" banner is burned in by :mod:`reconstruction.render_figure`; Image Comments
and Derivation Description say it again. Patient Orientation is the view's (front L\\F,
right profile A\\F, left profile P\\F: the image's row and column directions in the
patient).
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass, field

import numpy as np
from highdicom.sc import SCImage
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from analysis.types import ImageArray
from dicom import codes
from dicom.codes import code_item
from dicom.context import ResultContext
from dicom.equipment import DISCLAIMER_TEXT, apply_general_equipment, contributing_equipment
from dicom.source import check_source_uids, is_multiframe, reference_header
from dicom.uids import new_uid
from reconstruction.render import RenderView

RENDER_SERIES_NUMBER = 905
REPORT3D_SERIES_NUMBER = 906
SURFACE_RENDERING = ("113075", "DCM", "Surface rendering")  # CID 7203 Image Derivation

#: Patient Orientation (row direction, column direction) of each named view's image.
VIEW_ORIENTATION: dict[RenderView, tuple[str, str]] = {
    RenderView.FRONT: ("L", "F"),
    RenderView.RIGHT_PROFILE: ("A", "F"),
    RenderView.LEFT_PROFILE: ("P", "F"),
}


@dataclass(frozen=True)
class SeriesTarget:
    """A new series of the 3D results in the source study (renderings, or the 3D report)."""

    series_number: int = RENDER_SERIES_NUMBER
    series_description: str = "facenode AI 3D renderings"
    series_uid: str = field(default_factory=lambda: str(new_uid()))
    instance_number_start: int = 1

    def __post_init__(self) -> None:
        if not UID(self.series_uid).is_valid:
            raise ValueError(f"series_uid is not a valid UID: {self.series_uid!r}")
        if self.series_number < 1 or self.instance_number_start < 1:
            raise ValueError(
                "series_number and instance_number_start must be >= 1, got "
                f"{self.series_number}, {self.instance_number_start}"
            )
        if not 0 < len(self.series_description) <= 64:
            raise ValueError(
                f"series_description must have 1..64 characters, got {self.series_description!r}"
            )


def check_one_study(sources: SequenceOf[Dataset]) -> Dataset:
    """The first source's pixel-free header, once every source is valid and in one study."""
    if not sources:
        raise ValueError("3D results need at least one source photo")
    for s in sources:
        check_source_uids(s)
    studies = {str(s.StudyInstanceUID) for s in sources}
    if len(studies) != 1:
        raise ValueError(f"the photos of one reconstruction must share one study, got {studies}")
    return reference_header(sources[0])


def build_render_sc(
    sources: SequenceOf[Dataset],
    image: ImageArray,
    title: str,
    ctx: ResultContext,
    target: SeriesTarget,
    instance_number: int,
    view: RenderView | None = None,
) -> SCImage:
    """A Secondary Capture of a rendering (H×W×3 RGB uint8) derived from ``sources``."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"rendering must be H×W×3, got shape {getattr(image, 'shape', None)}")
    if image.dtype != np.uint8:
        raise ValueError(f"rendering must be uint8, got {image.dtype}")
    header = check_one_study(sources)
    orientation = VIEW_ORIENTATION.get(view) if view is not None else None
    sc = SCImage.from_ref_dataset(
        ref_dataset=header,
        pixel_array=np.ascontiguousarray(image),
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        series_instance_uid=target.series_uid,
        series_number=target.series_number,
        sop_instance_uid=str(new_uid()),
        instance_number=instance_number,
        manufacturer=ctx.manufacturer,
        patient_orientation=orientation or ("L", "F"),
        transfer_syntax_uid=ctx.sc_transfer_syntax,
        contributing_equipment=contributing_equipment(ctx, ()),
        series_description=target.series_description,
        manufacturer_model_name=ctx.model_name,
        software_versions=ctx.software_version or "0",
        device_serial_number=ctx.device_serial,
        institution_name=ctx.institution_name,
    )
    if orientation is None:
        sc.PatientOrientation = []  # type 2C: present, empty (a view we cannot name)
    apply_general_equipment(sc, ctx)
    sc.ConversionType = "WSD"
    sc.BodyPartExamined = str(header.get("BodyPartExamined", "") or "HEAD")
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.SourceImageSequence = Sequence([_source_item(s) for s in _unique(sources)])
    sc.DerivationCodeSequence = Sequence([code_item(*SURFACE_RENDERING)])
    sc.DerivationDescription = _short(
        f"{title}: rendering of the 3D face surface reconstructed from {len(sources)} "
        f"photos by {ctx.manufacturer} {ctx.model_name} {ctx.software_version}. "
        f"{DISCLAIMER_TEXT}.",
        1024,
    )
    sc.ImageComments = _short(f"{title} - {DISCLAIMER_TEXT}", 10240)
    sc.BurnedInAnnotation = "NO"  # the burned-in text identifies no patient
    sc.RecognizableVisualFeatures = "YES"  # a textured face
    if any(str(s.get("LossyImageCompression", "")) == "01" for s in sources):
        sc.LossyImageCompression = "01"  # textured from lossy photos: stays marked lossy
    return sc


def _unique(sources: SequenceOf[Dataset]) -> list[Dataset]:
    return list({str(s.SOPInstanceUID): s for s in sources}.values())


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _source_item(source: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    if is_multiframe(source):
        item.ReferencedFrameNumber = 1
    c = codes.SOURCE_IMAGE_FOR_PROCESSING
    purpose = code_item(c.value, c.scheme_designator, c.meaning)
    item.PurposeOfReferenceCodeSequence = Sequence([purpose])
    return item
