"""Received photo (VL Photographic Image or Secondary Capture) → :class:`Photo`.

Decodes the first frame in any transfer syntax pydicom has a decoder for here (native,
RLE, JPEG baseline/extended/lossless, JPEG-LS, JPEG 2000), brings it to RGB uint8 and
reads the scale (Pixel Spacing, else Imager Pixel Spacing) and view (View Code Sequence)
hints and the subject's sex (Patient's Sex, which selects the findings' norm rows).
Everything else is refused with a :mod:`dicom.errors` error that says what was found and
what was expected — never a crash deeper in the analysis. Before anything decodes, the size
limits and the completeness of compressed frames are checked from the headers
(:mod:`dicom.limits`), and a decoder's warning that the data ended early refuses the photo
too: a cut-off JPEG decodes to a complete-looking image otherwise.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from typing import Any, Final

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.processing import apply_color_lut, apply_windowing, convert_color_space
from pydicom.pixels.utils import get_nr_frames
from pydicom.uid import UID, ExplicitVRLittleEndian

from analysis.types import ImageArray, InvalidInputError, Photo, ScaleSource, View
from dicom.codes import view_from_code
from dicom.errors import NotAPhotoError, UnreadablePixelsError
from dicom.limits import PixelLimits, TruncatedPixelDataError, check_pixel_data
from dicom.source import check_source_uids

log = logging.getLogger(__name__)

VL_PHOTOGRAPHIC_IMAGE: Final[str] = "1.2.840.10008.5.1.4.1.1.77.1.4"
SECONDARY_CAPTURE_IMAGE: Final[str] = "1.2.840.10008.5.1.4.1.1.7"
MULTIFRAME_GRAYSCALE_BYTE_SC: Final[str] = "1.2.840.10008.5.1.4.1.1.7.2"
MULTIFRAME_GRAYSCALE_WORD_SC: Final[str] = "1.2.840.10008.5.1.4.1.1.7.3"
MULTIFRAME_TRUE_COLOR_SC: Final[str] = "1.2.840.10008.5.1.4.1.1.7.4"

#: SOP classes analysed as photos, with their names for messages.
PHOTO_SOP_CLASSES: Final[dict[str, str]] = {
    VL_PHOTOGRAPHIC_IMAGE: "VL Photographic Image Storage",
    SECONDARY_CAPTURE_IMAGE: "Secondary Capture Image Storage",
    MULTIFRAME_GRAYSCALE_BYTE_SC: "Multi-frame Grayscale Byte Secondary Capture Image Storage",
    MULTIFRAME_GRAYSCALE_WORD_SC: "Multi-frame Grayscale Word Secondary Capture Image Storage",
    MULTIFRAME_TRUE_COLOR_SC: "Multi-frame True Color Secondary Capture Image Storage",
}
PHOTO_SOP_CLASS_UIDS: Final[tuple[str, ...]] = tuple(PHOTO_SOP_CLASSES)

_ENCAPSULATED_ITEM = b"\xfe\xff\x00\xe0"  # (FFFE,E000) little endian: first fragment item
_RGB_LIKE = frozenset({"RGB", "YBR_ICT", "YBR_RCT"})  # J2K decoders undo the colour transform
_YBR = frozenset({"YBR_FULL", "YBR_FULL_422"})
_MONO = frozenset({"MONOCHROME1", "MONOCHROME2"})
#: Decoder warnings that mean the data stopped early (libjpeg's "Premature end of JPEG
#: file", pydicom's "fewer frames than expected", Pillow's "truncated", …).
_TRUNCATION_WARNING = re.compile(
    r"truncat|premature|end of (the )?(data|file|stream)|fewer|insufficient|incomplete|"
    r"corrupt|missing",
    re.IGNORECASE,
)


def is_photo_sop_class(uid: str) -> bool:
    """Whether objects of this SOP Class are analysed as photos."""
    return str(uid).strip() in PHOTO_SOP_CLASSES


def dataset_to_photo(ds: Dataset, limits: PixelLimits | None = None) -> Photo:
    """The first frame of a photo dataset as RGB uint8 with its scale and view hints.

    Raises :class:`NotAPhotoError` for other objects, :class:`~dicom.limits.TooLargeError`
    for an image over ``limits`` (default :class:`PixelLimits`' defaults) and
    :class:`UnreadablePixelsError` when the pixels cannot be decoded or used.
    """
    sop_class = str(ds.get("SOPClassUID", "") or "").strip()
    if not sop_class:
        raise NotAPhotoError(
            f"object has no SOP Class UID (0008,0016); expected one of: {_expected_classes()}"
        )
    if not is_photo_sop_class(sop_class):
        name = UID(sop_class).name if UID(sop_class).is_valid else "unknown SOP Class"
        raise NotAPhotoError(
            f"SOP Class {name} ({sop_class}) is not a photo; expected one of: {_expected_classes()}"
        )
    check_source_uids(ds)
    if "PixelData" not in ds:
        raise NotAPhotoError(
            f"{PHOTO_SOP_CLASSES[sop_class]} object has no Pixel Data (7FE0,0010); "
            "expected an image"
        )
    for keyword in (
        "Rows",
        "Columns",
        "SamplesPerPixel",
        "BitsAllocated",
        "PhotometricInterpretation",
    ):
        if ds.get(keyword) in (None, ""):
            raise UnreadablePixelsError(
                f"Image Pixel module incomplete: {keyword} is missing or empty; "
                "expected Rows, Columns, Samples per Pixel, Bits Allocated and "
                "Photometric Interpretation"
            )

    frames = _frame_count(ds)
    check_pixel_data(ds, limits or PixelLimits())
    arr, photometric = _decode_first_frame(ds)
    pixels = _to_rgb_uint8(arr, photometric, ds)
    spacing, spacing_source = pixel_spacing(ds)
    label = _label(ds)
    if frames > 1:
        log.info("multi-frame photo (%d frames): only the first frame is analysed", frames)
        label = f"{label} (first of {frames} frames)".strip()
    try:
        return Photo(
            pixels=pixels,
            pixel_spacing_mm=spacing,
            pixel_spacing_source=spacing_source,
            view_hint=view_hint(ds),
            label=label,
            sex=patient_sex(ds),
        )
    except InvalidInputError as exc:
        raise UnreadablePixelsError(f"decoded pixels are not usable as a photo: {exc}") from exc


def pixel_spacing(ds: Dataset) -> tuple[tuple[float, float] | None, ScaleSource | None]:
    """(row, column) spacing in mm from Pixel Spacing, else Imager Pixel Spacing.

    An invalid value (not two positive finite numbers) is ignored with a warning: a bad
    scale hint must not stop the analysis, which then estimates scale itself.
    """
    for keyword, source in (
        ("PixelSpacing", ScaleSource.PIXEL_SPACING),
        ("ImagerPixelSpacing", ScaleSource.IMAGER_PIXEL_SPACING),
    ):
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        values = _floats(value)
        if (
            values is None
            or len(values) != 2
            or not all(math.isfinite(v) and v > 0 for v in values)
        ):
            log.warning("ignoring %s %r: expected two positive numbers (mm)", keyword, value)
            continue
        return (values[0], values[1]), source
    return None, None


def patient_sex(ds: Dataset) -> str | None:
    """ "M" or "F" from Patient's Sex (0010,0040); None when absent, empty, "O" or unknown."""
    value = str(ds.get("PatientSex", "") or "").strip().upper()
    return value if value in ("M", "F") else None


def view_hint(ds: Dataset) -> View | None:
    """The view named by the View Code Sequence (0054,0220), None when absent or unmapped."""
    seq = ds.get("ViewCodeSequence")
    if not seq:
        return None
    item = seq[0]
    value = str(item.get("CodeValue", "") or item.get("LongCodeValue", "") or "")
    scheme = str(item.get("CodingSchemeDesignator", "") or "")
    view = view_from_code(value, scheme)
    if view is None:
        log.info(
            "View Code Sequence (%s, %s, %r) is not a face view we map; the view will be "
            "estimated from the head pose",
            value,
            scheme,
            str(item.get("CodeMeaning", "")),
        )
    return view


def focal_length_px(ds: Dataset, width: int, height: int) -> float | None:
    """The camera's focal length in pixels of this image, a prior for structure from
    motion: from Focal Length In 35mm Film (0016,0045, as EXIF's: the
    focal length a 36 × 24 mm frame would need for the same field of view, along the
    image's longer side); None when the header does not say."""
    f35 = _floats(ds.get("FocalLengthIn35mmFilm"))
    if not f35 or not (math.isfinite(f35[0]) and f35[0] > 0) or min(width, height) <= 0:
        return None
    return f35[0] * max(width, height) / 36.0


def _expected_classes() -> str:
    return ", ".join(f"{name} ({uid})" for uid, name in PHOTO_SOP_CLASSES.items())


def _floats(value: Any) -> list[float] | None:
    try:
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            return [float(value)]
        return [float(v) for v in value]
    except (TypeError, ValueError):
        return None


def _frame_count(ds: Dataset) -> int:
    try:
        return max(1, int(get_nr_frames(ds, warn=False)))
    except (TypeError, ValueError):
        raise UnreadablePixelsError(
            f"Number of Frames {ds.get('NumberOfFrames')!r} is not a positive integer"
        ) from None


def _transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        return UID(str(ts))
    data = ds.PixelData if isinstance(ds.get("PixelData"), bytes) else b""
    if data[:4] == _ENCAPSULATED_ITEM:
        raise UnreadablePixelsError(
            "compressed (encapsulated) Pixel Data but no Transfer Syntax UID in the file meta "
            "information; expected the transfer syntax the object was received with"
        )
    return ExplicitVRLittleEndian  # native pixels decode the same for every little endian TS


def _decode_first_frame(ds: Dataset) -> tuple[np.ndarray[Any, Any], str]:
    ts = _transfer_syntax(ds)
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise UnreadablePixelsError(
            f"no pixel decoder for transfer syntax {ts.name} ({ts}); expected native, RLE, "
            "JPEG, JPEG-LS or JPEG 2000"
        ) from None
    if not decoder.is_available:
        missing = "; ".join(decoder.missing_dependencies)
        raise UnreadablePixelsError(
            f"transfer syntax {ts.name} ({ts}) needs a decoder plugin that is not installed "
            f"({missing or 'none available'})"
        )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            arr, meta = decoder.as_array(ds, index=0)  # YBR → RGB by default
    except MemoryError:  # the worker's memory limit, not the photo's content: let it end
        raise
    except Exception as exc:  # plugins raise anything: the boundary turns it into one error
        raise UnreadablePixelsError(
            f"cannot decode {ts.name} pixel data "
            f"({ds.get('Rows')}x{ds.get('Columns')}, {ds.get('SamplesPerPixel')} sample(s), "
            f"{ds.get('BitsAllocated')} bits, {ds.get('PhotometricInterpretation')}): {exc}"
        ) from exc
    for warning in caught:
        text = str(warning.message)
        if _TRUNCATION_WARNING.search(text):
            raise TruncatedPixelDataError(f"{ts.name} decoder: {text}")
        log.warning("%s decoder: %s", ts.name, text)
    photometric = str(meta.get("photometric_interpretation", ds.PhotometricInterpretation))
    return arr, photometric


def _to_rgb_uint8(arr: np.ndarray[Any, Any], photometric: str, ds: Dataset) -> ImageArray:
    samples = 3 if arr.ndim == 3 else 1
    if photometric in _YBR and samples == 3:
        arr = convert_color_space(arr, photometric, "RGB")
        photometric = "RGB"
    if photometric == "PALETTE COLOR" and samples == 1:
        try:
            arr = apply_color_lut(arr, ds)
        except Exception as exc:  # missing or malformed palette
            raise UnreadablePixelsError(
                f"PALETTE COLOR image with an unusable palette: {exc}"
            ) from exc
        return _scale_to_uint8(arr, 8 * arr.dtype.itemsize, False)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    bits = int(ds.get("BitsStored", ds.BitsAllocated))
    if samples == 3 and photometric in _RGB_LIKE | _YBR:
        return _scale_to_uint8(arr, bits, signed)
    if samples == 1 and photometric in _MONO:
        if "WindowCenter" in ds and "WindowWidth" in ds:
            try:  # windowing keeps the stored value range, so the scaling below still holds
                windowed = apply_windowing(arr, ds)
                if not np.isfinite(windowed).all():  # e.g. a NaN Window Center / Width
                    raise ValueError("the window gives non-finite values")
                arr = windowed
            except Exception as exc:
                log.warning("ignoring an unusable window (%s)", exc)
        grey = _scale_to_uint8(arr, bits, signed)
        if photometric == "MONOCHROME1":
            grey = 255 - grey
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    raise UnreadablePixelsError(
        f"unsupported pixel layout: Photometric Interpretation {photometric} with "
        f"{samples} sample(s) per pixel; expected RGB / YBR_FULL / YBR_FULL_422 (3 samples), "
        "MONOCHROME1/2 or PALETTE COLOR (1 sample)"
    )


def _scale_to_uint8(arr: np.ndarray[Any, Any], bits_stored: int, signed: bool) -> ImageArray:
    """Map the stored value range (unsigned or two's complement) linearly onto 0..255."""
    if arr.dtype == np.uint8 and bits_stored == 8 and not signed:
        return np.ascontiguousarray(arr)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise UnreadablePixelsError(f"pixel data of type {arr.dtype}; expected numeric samples")
    bits = max(1, min(int(bits_stored), 32))
    if signed:
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    else:
        lo, hi = 0, 2**bits - 1
    scaled = (arr.astype(np.float64) - lo) * (255.0 / (hi - lo))
    return np.ascontiguousarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))


def _label(ds: Dataset) -> str:
    """Short, identifier-free description (safe to log): modality, series, instance."""
    parts = [str(ds.get("Modality", "") or "")]
    if ds.get("SeriesNumber") not in (None, ""):
        parts.append(f"series {ds.SeriesNumber}")
    if ds.get("InstanceNumber") not in (None, ""):
        parts.append(f"image {ds.InstanceNumber}")
    return " ".join(p for p in parts if p)
