"""A result object as DICOM Part 10 bytes: byte for byte what pydicom writes
(``ds.save_as(buf, enforce_file_format=True)``), in a fraction of the time.

pydicom's writer spent ~120 ms on one photo's SR (1,700 nested datasets, 5,700 elements):
per element a buffer object, a writer lookup and a charset conversion, and per item a
re-walk of the subtree to correct ambiguous VRs. The results are written in Explicit VR
Little Endian (the SC's pixel data encapsulated), so this writer does that one encoding
directly: the file meta, preamble and anything unusual go through pydicom's own functions
(the File Meta Information; a raw, buffered, person-name, date-object, binary or
undefined-length element; an over-long short-VR value, which pydicom writes as UN; text
that is not encodable in a single non-ISO-2022 character set), and an object this writer
does not cover at all (another transfer syntax, an ambiguous VR, command or file-meta
tags in the dataset) is written by pydicom's ``dcmwrite``. The fast paths follow
pydicom 3.0's ``write_string`` / ``write_text`` / ``write_number_string`` /
``write_numbers`` / ``write_sequence``; tests/unit/dicom/test_part10.py compares the bytes
with pydicom's on real results of every kind.
"""

from __future__ import annotations

from copy import deepcopy
from functools import cache
from io import BytesIO
from struct import pack
from typing import Any

from pydicom.charset import convert_encodings, custom_encoders
from pydicom.charset import need_tail_escape_sequence_encodings as _TAIL_ESCAPE
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset, validate_file_meta
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import (
    correct_ambiguous_vr_element,
    write_data_element,
    write_file_meta_info,
)
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pydicom.valuerep import AMBIGUOUS_VR, EXPLICIT_VR_LENGTH_32

from config.errors import FacenodeError

_DEFAULT = "iso8859"  # pydicom's default_encoding
_EXPLICIT_LE = (False, True)
_ITEM = b"\xfe\xff\x00\xe0"
_ITEM_END = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQUENCE_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_UNDEFINED = b"\xff\xff\xff\xff"
_LONG = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
_STRING = {"AE": " ", "AS": " ", "CS": " ", "UR": " ", "UI": "\0", "DA": " ", "DT": " ", "TM": " "}
_TEXT = frozenset({"LO", "LT", "SH", "ST", "UC", "UT"})
_NUMBER_STRING = frozenset({"DS", "IS"})
_NUMBERS = {"FD": "d", "FL": "f", "SL": "l", "SV": "q", "UL": "L", "US": "H", "UV": "Q"}
_MULTI = (list, MultiValue, tuple)
_PLAIN = (str, int, float, *_MULTI)  # value types the fast paths write


class NeedsPydicomWriter(FacenodeError):
    """The object needs pydicom's whole writer (see the module docstring); raised and
    caught inside this module only."""


def encode(ds: Dataset) -> bytes:
    """``ds`` as a Part 10 file (preamble, File Meta Information, dataset), the same bytes
    as ``ds.save_as(buf, enforce_file_format=True)``, with the same effects on ``ds``."""
    try:
        return _encode(ds)
    except NeedsPydicomWriter:
        buf = BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        return buf.getvalue()


def _encode(ds: Dataset) -> bytes:
    """The part of pydicom's ``dcmwrite(enforce_file_format=True)`` that applies to an
    Explicit VR Little Endian dataset, then the dataset by :func:`_dataset`."""
    if any(tag >> 16 in (0, 2) for tag in ds._dict):
        raise NeedsPydicomWriter  # pydicom raises a ValueError for these
    file_meta = deepcopy(ds.file_meta) if hasattr(ds, "file_meta") else FileMetaDataset()
    syntax: UID | None = file_meta.get("TransferSyntaxUID", None)
    if (
        syntax is None
        or syntax.is_private
        or not syntax.is_transfer_syntax
        or syntax.is_deflated
        or (syntax.is_implicit_VR, syntax.is_little_endian) != _EXPLICIT_LE
    ):
        raise NeedsPydicomWriter
    preamble = getattr(ds, "preamble", None)
    if preamble and len(preamble) != 128:
        raise NeedsPydicomWriter
    ds_class, ds_instance = ds.get("SOPClassUID", None), ds.get("SOPInstanceUID", None)
    meta_class = file_meta.get("MediaStorageSOPClassUID", None)
    if meta_class is None or (ds_class and ds_class != meta_class):
        file_meta.MediaStorageSOPClassUID = ds_class
    meta_instance = file_meta.get("MediaStorageSOPInstanceUID", None)
    if meta_instance is None or (ds_instance and ds_instance != meta_instance):
        file_meta.MediaStorageSOPInstanceUID = ds_instance
    validate_file_meta(file_meta, enforce_standard=True)
    if "PixelData" in ds:
        ds["PixelData"].is_undefined_length = syntax.is_compressed
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = _EXPLICIT_LE
    fp.write(preamble or b"\x00" * 128)
    fp.write(b"DICM")
    write_file_meta_info(fp, file_meta, enforce_standard=True)
    out = bytearray(fp.getvalue())
    _dataset(out, ds, _DEFAULT, root=True)
    return bytes(out)


def _dataset(
    out: bytearray, ds: Dataset, parent_encoding: Any, corrected: bool = False, root: bool = False
) -> None:
    """``ds``'s elements appended to ``out``, as pydicom's ``write_dataset``.

    pydicom re-encodes a dataset (``convert``) that was not read as Explicit VR Little
    Endian in its character set: it first corrects ambiguous VRs over the whole subtree,
    parsing every raw sequence on the way (``corrected`` below it), then writes every
    element parsed. Otherwise raw elements are written as read.
    """
    d = ds._dict
    convert = ds.original_encoding != _EXPLICIT_LE or (
        ds.original_character_set != ds._character_set
    )
    corrected = corrected or convert
    if root and convert:
        for elem in list(d.values()):
            if elem.VR in AMBIGUOUS_VR:  # e.g. the Pixel Data "OB or OW" highdicom leaves
                correct_ambiguous_vr_element(elem, ds, True, [ds])
    charset = parent_encoding
    if 0x00080005 in d:
        charset = ds.get("SpecificCharacterSet", parent_encoding)
    encodings = _encodings(charset)
    for tag in sorted(d, key=int):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # no retired group lengths
        elem = d[tag]
        if type(elem) is not DataElement:
            if isinstance(elem, RawDataElement):
                parse = convert or (corrected and elem.VR == "SQ")
                elem = ds[tag] if parse else ds.get_item(tag)
            if isinstance(elem, RawDataElement):
                _pydicom_element(out, elem, charset)
                continue
        vr = elem.VR
        if vr == "SQ":
            _sequence(out, elem, encodings, corrected)
            continue
        if len(vr) != 2:
            raise NeedsPydicomWriter  # an ambiguous VR below the root: pydicom corrects it
        value = _value(elem, vr, encodings)
        if value is None:
            _pydicom_element(out, elem, charset)
        else:
            out += _head(tag, vr)
            out += pack("<I" if vr in _LONG else "<H", len(value))
            out += value


def _sequence(out: bytearray, elem: DataElement, encodings: list[str], corrected: bool) -> None:
    """An SQ element, items and sequence with defined length unless marked undefined."""
    out += _head(elem.tag, "SQ")
    undefined = elem.is_undefined_length
    at = len(out)
    out += _UNDEFINED
    for item in elem.value if elem.value else ():
        out += _ITEM
        start = len(out)
        out += _UNDEFINED
        _dataset(out, item, encodings, corrected)
        if getattr(item, "is_undefined_length_sequence_item", False):
            out += _ITEM_END
        else:
            out[start : start + 4] = pack("<I", len(out) - start - 4)
    if undefined:
        out += _SEQUENCE_END
    else:
        out[at : at + 4] = pack("<I", len(out) - at - 4)


def _value(elem: DataElement, vr: str, encodings: list[str]) -> bytes | None:
    """The element's value bytes (padded), or None: pydicom's writer must write it (a
    buffered, binary, person-name or date-object value among others)."""
    if elem.is_undefined_length:
        return None
    v: Any = elem.value
    t = type(v)
    if v is None or ((t is str or t in _MULTI) and not v):
        return b""  # empty: pydicom writes no value
    if not isinstance(v, _PLAIN):
        return None
    return _plain_value(v, t, vr, encodings)


def _plain_value(v: Any, t: type, vr: str, encodings: list[str]) -> bytes | None:
    try:
        if vr in _TEXT:
            data = _text(v, encodings)
        elif vr in _STRING:
            data = _string(v, _STRING[vr])
        elif vr in _NUMBER_STRING:
            data = _number_string(v)
        elif vr in _NUMBERS:
            fmt = _NUMBERS[vr]
            if t is list or t is MultiValue:
                data = pack(f"<{len(v)}{fmt}", *v)
            elif isinstance(v, int | float):
                data = pack("<" + fmt, v)
            else:
                return None
        else:
            return None
    except Exception:
        return None  # pydicom's writer warns, replaces or raises as it does
    if data is None or (vr not in _LONG and len(data) > 0xFFFF):
        return None  # pydicom writes an over-long short-VR value as UN, with a warning
    return data


def _string(v: Any, padding: str) -> bytes | None:
    if not isinstance(v, str):
        if not isinstance(v, _MULTI) or not all(isinstance(x, str) for x in v):
            return None
        v = "\\".join(v)
    if len(v) % 2:
        v += padding
    return bytes(v, _DEFAULT)


def _text(v: Any, encodings: list[str]) -> bytes | None:
    if len(encodings) != 1 or encodings[0] in custom_encoders or encodings[0] in _TAIL_ESCAPE:
        return None  # ISO 2022 code extensions: pydicom's escape sequences
    codec = encodings[0]
    if isinstance(v, str):
        data = v.encode(codec)
    elif isinstance(v, _MULTI) and all(isinstance(x, str) for x in v):
        data = b"\\".join(x.encode(codec) for x in v)
    else:
        return None
    return data + b" " if len(data) % 2 else data


def _number_string(v: Any) -> bytes:
    if isinstance(v, _MULTI):
        text = "\\".join(x.original_string if hasattr(x, "original_string") else str(x) for x in v)
    else:
        text = v.original_string if hasattr(v, "original_string") else str(v)
    if len(text) % 2:
        text += " "
    return bytes(text, _DEFAULT)


def _pydicom_element(out: bytearray, elem: DataElement | RawDataElement, charset: Any) -> None:
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = _EXPLICIT_LE
    write_data_element(fp, elem, charset)
    out += fp.getvalue()


@cache
def _head(tag: int, vr: str) -> bytes:
    """Tag, VR and, for a 4-byte length, the two reserved bytes."""
    return pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode() + (b"\0\0" if vr in _LONG else b"")


def _encodings(charset: Any) -> list[str]:
    key = tuple(charset) if isinstance(charset, _MULTI) else charset
    return list(_converted(key or None))


@cache
def _converted(key: Any) -> tuple[str, ...]:
    """pydicom's ``convert_encodings`` of a Specific Character Set (as pydicom does per
    element), once per value."""
    encodings = list(key) if isinstance(key, tuple) else key
    return tuple(convert_encodings(encodings or [_DEFAULT]))
