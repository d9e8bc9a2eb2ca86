"""SOP classes and transfer syntaxes the node accepts (its conformance, in one place)."""

from __future__ import annotations

from typing import Final

from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from dicom.photo import MULTIFRAME_TRUE_COLOR_SC, PHOTO_SOP_CLASSES
from dicom.photo import SECONDARY_CAPTURE_IMAGE as SECONDARY_CAPTURE
from dicom.photo import VL_PHOTOGRAPHIC_IMAGE as VL_PHOTOGRAPHIC

ENHANCED_SR = "1.2.840.10008.5.1.4.1.1.88.22"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
ENCAPSULATED_STL = "1.2.840.10008.5.1.4.1.1.104.3"
ENCAPSULATED_OBJ = "1.2.840.10008.5.1.4.1.1.104.4"
ENCAPSULATED_MTL = "1.2.840.10008.5.1.4.1.1.104.5"

#: Photos the SCP accepts and analyses: the colour photo classes of :mod:`dicom.photo`
#: (which can also decode the grey multi-frame SC classes; the node does not ask for them).
PHOTO_CLASSES: Final[dict[str, str]] = {
    uid: PHOTO_SOP_CLASSES[uid]
    for uid in (VL_PHOTOGRAPHIC, SECONDARY_CAPTURE, MULTIFRAME_TRUE_COLOR_SC)
}
#: Accepted and stored, not analysed as photos (amended reports, our own kinds of result).
STORED_CLASSES: Final[dict[str, str]] = {
    ENHANCED_SR: "Enhanced SR Storage",
    COMPREHENSIVE_SR: "Comprehensive SR Storage",
    COMPREHENSIVE_3D_SR: "Comprehensive 3D SR Storage",
    ENCAPSULATED_PDF: "Encapsulated PDF Storage",
    ENCAPSULATED_STL: "Encapsulated STL Storage",
    ENCAPSULATED_OBJ: "Encapsulated OBJ Storage",
    ENCAPSULATED_MTL: "Encapsulated MTL Storage",
}
ACCEPTED_CLASSES: Final[dict[str, str]] = {**PHOTO_CLASSES, **STORED_CLASSES}

ACCEPTED_TRANSFER_SYNTAXES: Final[tuple[str, ...]] = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
)
