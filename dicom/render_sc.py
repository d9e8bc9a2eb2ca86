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

from highdicom.sc import SCImage
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from analysis.types import ImageArray
from dicom.codes import code_item
from dicom.context import ResultContext
from dicom.equipment import DISCLAIMER_TEXT
from dicom.sc import derived_rgb_sc, short, source_item
from dicom.source import study_header
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
    header = study_header(sources, "one reconstruction")
    sc = derived_rgb_sc(
        header,
        image,
        ctx,
        what="rendering",
        series_uid=target.series_uid,
        series_number=target.series_number,
        series_description=target.series_description,
        instance_number=instance_number,
        orientation=VIEW_ORIENTATION.get(view) if view is not None else None,
    )
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.SourceImageSequence = Sequence([source_item(s) for s in _unique(sources)])
    sc.DerivationCodeSequence = Sequence([code_item(*SURFACE_RENDERING)])
    sc.DerivationDescription = short(
        f"{title}: rendering of the 3D face surface reconstructed from {len(sources)} "
        f"photos by {ctx.manufacturer} {ctx.model_name} {ctx.software_version}. "
        f"{DISCLAIMER_TEXT}.",
        1024,
    )
    sc.ImageComments = short(f"{title} - {DISCLAIMER_TEXT}", 10240)
    sc.BurnedInAnnotation = "NO"  # the burned-in text identifies no patient
    sc.RecognizableVisualFeatures = "YES"  # a textured face
    if any(str(s.get("LossyImageCompression", "")) == "01" for s in sources):
        sc.LossyImageCompression = "01"  # textured from lossy photos: stays marked lossy
    return sc


def _unique(sources: SequenceOf[Dataset]) -> list[Dataset]:
    return list({str(s.SOPInstanceUID): s for s in sources}.values())
