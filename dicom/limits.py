"""Size limits on a received image, checked from headers before anything decodes it.

A 10 MB JPEG whose frame header says 25000 × 25000 asks its decoder for 1.9 GB, and a
decoder believes the codestream, not the DICOM header: so both are read — Rows × Columns ×
Number of Frames from the DICOM header, and each frame's own dimensions from its codestream
(the SOF segment of a JPEG / JPEG-LS frame, the SIZ segment of a JPEG 2000 codestream,
reached by skipping segments by their lengths: a few bytes read per segment). Either over
``max_pixels`` refuses the object with :class:`TooLargeError` (the node answers C-STORE
0xA700, out of resources: the node's configured resources, not the sender's data, are what
is exceeded; see :mod:`node.scp`).

The limit counts pixels (Rows × Columns × Number of Frames), the unit an administrator
knows a camera by ("100 megapixels"); Samples per Pixel (at most 3 for a photo) and Bits
Allocated (at most 16) then bound the decoded bytes to six per pixel. ``max_object_bytes``
bounds the encoded object itself (what is received, stored and read back).

A compressed frame must also be whole: a JPEG, JPEG-LS or JPEG 2000 frame ends with its
EOI / EOC marker (FFD9; trailing zero padding allowed), and there must be as many frames as
Number of Frames says. The decoders here turn a half-missing JPEG into a complete-looking
image without a word, so a frame that stops early is refused with
:class:`TruncatedPixelDataError` rather than analysed as a normal photo.

pydicom only; no pixel is decoded here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from struct import unpack_from
from typing import Any, Final

from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragmented_frames
from pydicom.uid import UID

from dicom.errors import DicomInputError, UnreadablePixelsError

#: The defaults of the ``max_pixels`` / ``max_object_mb`` settings.
DEFAULT_MAX_PIXELS: Final = 100_000_000
DEFAULT_MAX_OBJECT_MB: Final = 320

_JPEG_SYNTAXES: Final = frozenset(
    {
        "1.2.840.10008.1.2.4.50",  # baseline
        "1.2.840.10008.1.2.4.51",  # extended
        "1.2.840.10008.1.2.4.57",  # lossless
        "1.2.840.10008.1.2.4.70",  # lossless SV1
        "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
        "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    }
)
_J2K_SYNTAXES: Final = frozenset(
    {
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.201",  # HTJ2K lossless
        "1.2.840.10008.1.2.4.202",  # HTJ2K lossless RPCL
        "1.2.840.10008.1.2.4.203",  # HTJ2K
    }
)
#: JPEG start-of-frame markers (ITU T.81 B.1.1.3; FFC4, FFC8 and FFCC are not SOFs) and
#: JPEG-LS's SOF55 (FFF7): all share the layout Lf, P, Y, X, Nf.
_SOF_MARKERS: Final = frozenset(
    {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}
)
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length
_MAX_SEGMENTS: Final = 10_000  # a frame header comes after a handful of segments
_EOI: Final = b"\xff\xd9"  # JPEG EOI and JPEG 2000 EOC alike


class TooLargeError(DicomInputError, ValueError):
    """The object, or the image it carries, is over a configured size limit
    (C-STORE: 0xA700, refused: out of resources)."""


class TruncatedPixelDataError(UnreadablePixelsError):
    """Compressed pixel data stops early: a frame without its end marker, or fewer frames
    than Number of Frames (C-STORE: 0xC000)."""


@dataclass(frozen=True)
class PixelLimits:
    """``max_pixels``: Rows × Columns × Number of Frames, from the DICOM header and from each
    frame's codestream; ``max_object_bytes``: the encoded object."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    max_object_bytes: int = DEFAULT_MAX_OBJECT_MB * 1_000_000

    @classmethod
    def of(cls, max_pixels: int, max_object_mb: int) -> PixelLimits:
        """The limits as the settings give them (megabytes of 10^6 bytes)."""
        return cls(max_pixels=int(max_pixels), max_object_bytes=int(max_object_mb) * 1_000_000)


@dataclass(frozen=True)
class FrameHeader:
    """A codestream's own idea of its image: what its decoder will allocate for."""

    kind: str  # "JPEG" or "JPEG 2000"
    columns: int
    rows: int
    components: int

    @property
    def pixels(self) -> int:
        return self.columns * self.rows


def check_limits(
    ds: Dataset, encoded_size: int, limits: PixelLimits, transfer_syntax: str | None = None
) -> None:
    """Everything :mod:`node.scp` checks before storing: the object's encoded size, then
    :func:`check_pixel_data`. Raises :class:`TooLargeError` or an
    :class:`UnreadablePixelsError` (a :class:`TruncatedPixelDataError`)."""
    if encoded_size > limits.max_object_bytes:
        raise TooLargeError(
            f"object is {encoded_size / 1e6:.1f} MB; the limit (max_object_mb) is "
            f"{limits.max_object_bytes / 1e6:.0f} MB"
        )
    check_pixel_data(ds, limits, transfer_syntax)


def check_pixel_data(
    ds: Dataset, limits: PixelLimits, transfer_syntax: str | None = None
) -> None:
    """Refuse an image over ``limits.max_pixels`` by its DICOM header or by any frame's
    codestream header, or whose compressed frames are missing or cut short. Reads headers
    and a few bytes per frame; decodes nothing. Objects without Pixel Data pass.

    ``transfer_syntax``: the one the object came in (a received dataset has no file meta);
    default the file meta's."""
    if "PixelData" not in ds:
        return
    frames = number_of_frames(ds)
    rows, columns = _dimension(ds, "Rows"), _dimension(ds, "Columns")
    declared = rows * columns * frames
    if declared > limits.max_pixels:
        raise TooLargeError(
            f"image header says {rows} x {columns} pixels x {frames} frame(s) = "
            f"{declared / 1e6:.1f} MP; the limit (max_pixels) is "
            f"{limits.max_pixels / 1e6:.1f} MP"
        )
    syntax = UID(transfer_syntax) if transfer_syntax else _transfer_syntax(ds)
    if syntax is None or not _is_encapsulated(syntax):
        return  # native pixels: the bytes are all there is, and the header bounds them
    data = ds.PixelData
    if not isinstance(data, bytes | bytearray):
        raise UnreadablePixelsError("encapsulated Pixel Data has no bytes")
    encoded = _frames(bytes(data), frames)
    for index, frame in enumerate(encoded):
        try:
            header = codestream_header(frame, str(syntax))
        except UnreadablePixelsError as exc:
            raise UnreadablePixelsError(f"{syntax.name} frame {index + 1}: {exc}") from None
        if header is not None and header.pixels * frames > limits.max_pixels:
            raise TooLargeError(
                f"frame {index + 1}'s {header.kind} header says {header.rows} x "
                f"{header.columns} pixels (the DICOM header says {rows} x {columns}); "
                f"x {frames} frame(s) = {header.pixels * frames / 1e6:.1f} MP, over the "
                f"limit (max_pixels) of {limits.max_pixels / 1e6:.1f} MP"
            )
        if (str(syntax) in _JPEG_SYNTAXES | _J2K_SYNTAXES) and not _ends_whole(frame):
            raise TruncatedPixelDataError(
                f"compressed frame {index + 1} of {frames} ends without its end marker "
                f"(FFD9) after {len(frame)} bytes: the pixel data is truncated"
            )


def number_of_frames(ds: Dataset) -> int:
    """Number of Frames; 1 when absent, empty or under 1 (as pydicom's decoders read it)."""
    value = ds.get("NumberOfFrames")
    if value in (None, ""):
        return 1
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        raise UnreadablePixelsError(
            f"Number of Frames {value!r} is not a positive integer"
        ) from None


def codestream_header(frame: bytes, syntax: str) -> FrameHeader | None:
    """The frame header of one encoded frame of ``syntax``; None for syntaxes whose frames
    carry no dimensions (RLE: its decoder sizes by the DICOM header, checked already)."""
    if syntax in _JPEG_SYNTAXES:
        return jpeg_frame_header(frame)
    if syntax in _J2K_SYNTAXES:
        return j2k_frame_header(frame)
    return None


def jpeg_frame_header(data: bytes) -> FrameHeader:
    """Dimensions from the SOF segment of a JPEG (ITU T.81) or JPEG-LS (T.87) stream,
    reached by skipping the segments before it by their lengths."""
    if data[:2] != b"\xff\xd8":
        raise UnreadablePixelsError(
            f"JPEG frame does not start with SOI (FFD8) but {data[:2].hex().upper()!r}"
        )
    pos = 2
    for _ in range(_MAX_SEGMENTS):
        if pos + 2 > len(data):
            break
        if data[pos] != 0xFF:
            raise UnreadablePixelsError(
                f"JPEG frame: expected a marker at byte {pos}, found {data[pos]:02X}"
            )
        while pos + 2 < len(data) and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes before a marker
        marker = data[pos + 1]
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI or start of scan: the frame header was never seen
            break
        if pos + 4 > len(data):
            break
        (length,) = unpack_from(">H", data, pos + 2)
        if marker in _SOF_MARKERS:
            if length < 8 or pos + 10 > len(data):
                break
            rows, columns = unpack_from(">HH", data, pos + 5)
            components = data[pos + 9]
            if rows == 0:
                raise UnreadablePixelsError(
                    "JPEG frame header gives 0 lines (height defined later by a DNL "
                    "marker): not supported, the size cannot be checked before decoding"
                )
            return FrameHeader("JPEG", columns, rows, components)
        if length < 2:
            raise UnreadablePixelsError(f"JPEG segment FF{marker:02X} has length {length} < 2")
        pos += 2 + length
    raise UnreadablePixelsError("JPEG frame has no frame header (SOF) before its scan data")


def j2k_frame_header(data: bytes) -> FrameHeader:
    """Dimensions from the SIZ segment of a JPEG 2000 codestream (ISO 15444-1 A.5.1),
    also inside a JP2 file's ``jp2c`` box (which DICOM does not allow, yet some send)."""
    start = _j2k_codestream_start(data)
    if data[start : start + 4] != b"\xff\x4f\xff\x51" or start + 42 > len(data):
        raise UnreadablePixelsError(
            "JPEG 2000 frame does not start with SOC + SIZ (FF4F FF51)"
        )
    xsiz, ysiz, xosiz, yosiz = unpack_from(">IIII", data, start + 8)
    (components,) = unpack_from(">H", data, start + 40)
    if xsiz <= xosiz or ysiz <= yosiz:
        raise UnreadablePixelsError(
            f"JPEG 2000 SIZ gives an empty image ({xsiz}-{xosiz} x {ysiz}-{yosiz})"
        )
    return FrameHeader("JPEG 2000", xsiz - xosiz, ysiz - yosiz, components)


def _j2k_codestream_start(data: bytes) -> int:
    """0 for a bare codestream; the offset of the ``jp2c`` box's contents in a JP2 file."""
    if data[:2] == b"\xff\x4f" or data[4:8] != b"jP  ":
        return 0
    pos = 0
    for _ in range(_MAX_SEGMENTS):
        if pos + 8 > len(data):
            break
        length, box = unpack_from(">I4s", data, pos)
        header = 8
        if length == 1 and pos + 16 <= len(data):  # 64-bit length follows
            (length,) = unpack_from(">Q", data, pos + 8)
            header = 16
        if box == b"jp2c":
            return pos + header
        if length < header:
            break
        pos += length
    raise UnreadablePixelsError("JP2 file without a codestream (jp2c) box")


def _frames(data: bytes, expected: int) -> list[bytes]:
    """The encoded frames; fewer than ``expected`` (or pydicom's warning that it found
    fewer, or an end marker missing after the last) means the data stops early."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fragmented = generate_fragmented_frames(data, number_of_frames=expected)
            frames = [b"".join(f) for f in fragmented]
    except ValueError as exc:
        if "fewer fragments than frames" in str(exc):
            raise TruncatedPixelDataError(
                f"encapsulated pixel data holds fewer fragments than its {expected} frames"
            ) from None
        raise UnreadablePixelsError(f"encapsulated pixel data cannot be parsed: {exc}") from None
    except Exception as exc:  # struct errors on a cut-off item
        raise TruncatedPixelDataError(
            f"encapsulated pixel data cannot be parsed (cut short?): {exc}"
        ) from None
    short = [str(w.message) for w in caught if "fewer frames" in str(w.message)]
    if short or len(frames) < expected:
        raise TruncatedPixelDataError(
            f"encapsulated pixel data holds {len(frames)} complete frame(s); Number of "
            f"Frames says {expected}"
        )
    if not frames or not frames[0]:
        raise TruncatedPixelDataError("encapsulated pixel data holds no frame data")
    return frames[:expected]


def _ends_whole(frame: bytes) -> bool:
    return frame.rstrip(b"\x00").endswith(_EOI)


def _dimension(ds: Dataset, keyword: str) -> int:
    value: Any = ds.get(keyword)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise UnreadablePixelsError(f"{keyword} {value!r} is not a number") from None
    if number < 1:
        raise UnreadablePixelsError(f"{keyword} is {number}; expected a positive number")
    return number


def _is_encapsulated(syntax: UID) -> bool:
    try:
        return bool(syntax.is_encapsulated)
    except ValueError:  # not a transfer syntax pydicom knows: its decoder refuses it later
        return False


def _transfer_syntax(ds: Dataset) -> UID | None:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(ts)) if ts else None
