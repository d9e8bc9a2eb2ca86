"""dicom.limits: an image over max_pixels is refused from its DICOM header or from its own
codestream header (a lying DICOM header does not hide a huge JPEG), an object over
max_object_mb by its size, and a compressed frame cut short by its missing end marker —
all before anything decodes. dicom.photo applies the same checks, so ``facenode analyze``
and a job refuse what the SCP would."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import JPEG2000, JPEGLSLossless, RLELossless

from dicom.errors import UnreadablePixelsError
from dicom.limits import (
    PixelLimits,
    TooLargeError,
    TruncatedPixelDataError,
    check_limits,
    check_pixel_data,
    j2k_frame_header,
    jpeg_frame_header,
)
from dicom.photo import dataset_to_photo
from tests.factories import make_vl_photo
from tests.support.bombs import (
    frame,
    j2k_lying_header,
    jpeg_bomb,
    lying_header,
    set_frame,
    small_jpeg_photo,
    truncated_jpeg,
    with_sof_size,
)

LIMITS = PixelLimits()  # the defaults: 100 MP, 320 MB


def test_a_25000_square_header_is_refused_before_decoding() -> None:
    with pytest.raises(TooLargeError, match=r"25000 x 25000 .* 625\.0 MP.* 100\.0 MP"):
        check_pixel_data(jpeg_bomb(), LIMITS)


def test_a_lying_dicom_header_does_not_hide_a_huge_jpeg() -> None:
    ds = lying_header()
    assert (ds.Rows, ds.Columns) == (64, 64)
    with pytest.raises(TooLargeError, match=r"JPEG header says 25000 x 25000 .*says 64 x 64"):
        check_pixel_data(ds, LIMITS)


def test_a_lying_dicom_header_does_not_hide_a_huge_jpeg_2000() -> None:
    with pytest.raises(TooLargeError, match="JPEG 2000 header says 25000 x 25000"):
        check_pixel_data(j2k_lying_header(), LIMITS)


def test_frames_multiply_the_pixels() -> None:
    pixels = np.zeros((4, 100, 100, 3), dtype=np.uint8)
    ds = make_vl_photo(pixels, sop_class_uid="1.2.840.10008.5.1.4.1.1.7.4")
    check_pixel_data(ds, PixelLimits(max_pixels=40_000))
    with pytest.raises(TooLargeError, match="4 frame"):
        check_pixel_data(ds, PixelLimits(max_pixels=39_999))


def test_the_object_size_is_limited() -> None:
    ds = make_vl_photo()
    check_limits(ds, 10_000_000, PixelLimits.of(100_000_000, 10))
    with pytest.raises(TooLargeError, match=r"10\.0 MB.*max_object_mb.* 9 MB"):
        check_limits(ds, 10_000_000, PixelLimits.of(100_000_000, 9))


@pytest.mark.parametrize("fraction", [0.3, 0.9, 0.999])
def test_a_truncated_jpeg_is_refused(fraction: float) -> None:
    with pytest.raises(TruncatedPixelDataError, match="end marker"):
        check_pixel_data(truncated_jpeg(fraction), LIMITS)


@pytest.mark.parametrize("syntax", [JPEG2000, JPEGLSLossless])
def test_truncated_jpeg_2000_and_jpeg_ls_are_refused(syntax: str) -> None:
    ds = make_vl_photo(transfer_syntax=syntax)
    data = frame(ds)
    check_pixel_data(ds, LIMITS)
    set_frame(ds, data[: len(data) - 7])
    with pytest.raises(TruncatedPixelDataError):
        check_pixel_data(ds, LIMITS)


def test_zero_padding_after_the_end_marker_is_whole() -> None:
    ds = small_jpeg_photo()
    set_frame(ds, frame(ds) + b"\x00\x00")
    check_pixel_data(ds, LIMITS)


def test_fewer_fragments_than_frames_is_truncated() -> None:
    pixels = np.zeros((3, 32, 32, 3), dtype=np.uint8)
    ds = make_vl_photo(pixels, transfer_syntax="1.2.840.10008.1.2.4.50",
                       sop_class_uid="1.2.840.10008.5.1.4.1.1.7.4")
    one = frame(small_jpeg_photo(32))
    ds.PixelData = encapsulate([one, one])  # two of three frames, offsets table says two
    with pytest.raises(TruncatedPixelDataError, match="2 complete frame.*says 3"):
        check_pixel_data(ds, LIMITS)
    ds.PixelData = encapsulate([one, one], has_bot=False)  # no offsets table
    with pytest.raises(TruncatedPixelDataError, match="fewer fragments than its 3 frames"):
        check_pixel_data(ds, LIMITS)
    ds.PixelData = encapsulate([one, one, one], has_bot=False)
    check_pixel_data(ds, LIMITS)


def test_rle_and_native_pass_by_their_dicom_header() -> None:
    check_pixel_data(make_vl_photo(transfer_syntax=RLELossless), LIMITS)
    check_pixel_data(make_vl_photo(), LIMITS)
    with pytest.raises(TooLargeError):
        check_pixel_data(make_vl_photo(transfer_syntax=RLELossless), PixelLimits(max_pixels=1000))


def test_the_sof_is_found_past_app_segments_and_fill_bytes() -> None:
    jpeg = frame(small_jpeg_photo())
    app = b"\xff\xe1" + struct.pack(">H", 2 + 3000) + b"x" * 3000  # an EXIF-sized APP1
    padded = jpeg[:2] + app + b"\xff\xff" + jpeg[2:]  # and fill bytes before the next marker
    header = jpeg_frame_header(padded)
    assert (header.rows, header.columns, header.components) == (64, 64, 3)


def test_a_jpeg_without_frame_header_or_with_dnl_height_is_unreadable() -> None:
    jpeg = frame(small_jpeg_photo())
    with pytest.raises(UnreadablePixelsError, match="DNL"):
        jpeg_frame_header(with_sof_size(jpeg, 0, 64))
    with pytest.raises(UnreadablePixelsError, match="SOI"):
        jpeg_frame_header(b"\x00" + jpeg)
    with pytest.raises(UnreadablePixelsError, match="no frame header"):
        jpeg_frame_header(b"\xff\xd8\xff\xda\x00\x02\xff\xd9")


def test_a_jp2_file_is_read_through_to_its_codestream() -> None:
    codestream = frame(make_vl_photo(transfer_syntax=JPEG2000))
    signature = struct.pack(">I4s", 12, b"jP  ") + b"\r\n\x87\n"
    ftyp = struct.pack(">I4s", 20, b"ftyp") + b"jp2 " + b"\0\0\0\0" + b"jp2 "
    jp2 = signature + ftyp + struct.pack(">I4s", 8 + len(codestream), b"jp2c") + codestream
    header = j2k_frame_header(jp2)
    assert (header.rows, header.columns) == (512, 512)


def test_photo_decoding_refuses_what_the_scp_would() -> None:
    """dataset_to_photo: the bomb and the lying header are refused before the decoder runs
    (which would ask for 1.9 GB), the truncated JPEG instead of decoding to a whole-looking
    image."""
    with pytest.raises(TooLargeError):
        dataset_to_photo(jpeg_bomb())
    with pytest.raises(TooLargeError):
        dataset_to_photo(lying_header())
    with pytest.raises(TruncatedPixelDataError):
        dataset_to_photo(truncated_jpeg(0.9))
    with pytest.raises(TooLargeError):  # the caller's limits, not only the defaults
        dataset_to_photo(small_jpeg_photo(), PixelLimits(max_pixels=64 * 64 - 1))
    assert dataset_to_photo(small_jpeg_photo()).pixels.shape == (64, 64, 3)
