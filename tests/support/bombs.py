"""Hostile photos made by the tests themselves: a small real JPEG whose frame header (SOF)
claims a huge image, a DICOM header that lies about the size of the JPEG it carries, and a
JPEG cut short. Each is a VL Photographic Image from :func:`tests.factories.make_vl_photo`
with its one JPEG frame rewritten."""

from __future__ import annotations

import struct

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit

from tests.factories import make_vl_photo

SOF0 = b"\xff\xc0"


def small_jpeg_photo(size: int = 64, seed: int = 0, **kwargs: object) -> Dataset:
    """A real size × size JPEG baseline VL Photographic Image (noise: not a face)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return make_vl_photo(pixels, transfer_syntax=JPEGBaseline8Bit, **kwargs)  # type: ignore[arg-type]


def frame(ds: Dataset) -> bytes:
    """The dataset's one encoded frame."""
    return next(generate_frames(ds.PixelData, number_of_frames=1))


def set_frame(ds: Dataset, data: bytes) -> Dataset:
    ds.PixelData = encapsulate([data])
    return ds


def with_sof_size(jpeg: bytes, rows: int, columns: int) -> bytes:
    """``jpeg`` with its SOF0 frame header saying rows × columns (the scan data unchanged:
    a decoder believes the header and allocates for it)."""
    at = jpeg.index(SOF0)
    return jpeg[: at + 5] + struct.pack(">HH", rows, columns) + jpeg[at + 9 :]


def with_siz_size(j2k: bytes, rows: int, columns: int) -> bytes:
    """A JPEG 2000 codestream with its SIZ segment saying rows × columns (no offsets)."""
    assert j2k[:4] == b"\xff\x4f\xff\x51"
    return j2k[:8] + struct.pack(">IIII", columns, rows, 0, 0) + j2k[24:]


def jpeg_bomb(rows: int = 25000, columns: int = 25000, **kwargs: object) -> Dataset:
    """A small JPEG whose DICOM header and SOF both say rows × columns."""
    ds = small_jpeg_photo(**kwargs)
    set_frame(ds, with_sof_size(frame(ds), rows, columns))
    ds.Rows, ds.Columns = rows, columns
    return ds


def lying_header(rows: int = 25000, columns: int = 25000, **kwargs: object) -> Dataset:
    """The DICOM header says 64 × 64; the JPEG inside says rows × columns."""
    ds = small_jpeg_photo(**kwargs)
    return set_frame(ds, with_sof_size(frame(ds), rows, columns))


def j2k_lying_header(rows: int = 25000, columns: int = 25000) -> Dataset:
    """A JPEG 2000 photo whose SIZ says rows × columns, its DICOM header 64 × 64."""
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    ds = make_vl_photo(pixels, transfer_syntax=JPEG2000Lossless)
    return set_frame(ds, with_siz_size(frame(ds), rows, columns))


def truncated_jpeg(fraction: float = 0.5, **kwargs: object) -> Dataset:
    """A JPEG photo with only the first ``fraction`` of its frame (no EOI)."""
    ds = small_jpeg_photo(**kwargs)
    data = frame(ds)
    return set_frame(ds, data[: int(len(data) * fraction)])
