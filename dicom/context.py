"""Who writes the results and where they go: one immutable context per job.

The node makes one :class:`ResultContext` per analysed series (``ResultContext.new``), so
every result of that series lands in the same three new series (SR, SC, PDF report) of the
source study, and advances it after each photo so instance numbers keep counting up.

Secondary Captures are stored JPEG-LS lossless by default (PS3.5 A.4.3, 1.2.840.10008.1.2.4.80):
pixel-exact, about a fifth of the uncompressed size on photos, and read by OHIF
(cornerstone's CharLS decoder) and Orthanc (DCMTK). RLE lossless halves the encode time
but saves little on photographic content; uncompressed remains available.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGLSLossless,
    RLELossless,
)

from dicom.uids import device_uid, new_uid

#: Secondary Capture transfer syntaxes highdicom can encode for RGB, all lossless, all read
#: by OHIF and Orthanc: implicit / explicit VR little endian, RLE lossless, JPEG-LS lossless.
_SC_SYNTAXES = frozenset(
    {ImplicitVRLittleEndian, ExplicitVRLittleEndian, RLELossless, JPEGLSLossless}
)
#: The default: lossless and about 5x smaller than uncompressed on photos.
DEFAULT_SC_TRANSFER_SYNTAX = JPEGLSLossless


_UID_RE = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+")


def _valid_uid(uid: str) -> bool:
    return len(uid) <= 64 and _UID_RE.fullmatch(uid) is not None


def _check_len(name: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise ValueError(f"{name} must be at most {limit} characters, got {len(value)}: {value!r}")


@dataclass(frozen=True)
class ResultContext:
    """The node's identity and the target series of one batch of results.

    Instance numbers run across the series: a photo's SR gets ``instance_number_start``,
    its overlays and its report the next numbers; :meth:`advance` moves past them for the
    next photo.
    """

    manufacturer: str
    model_name: str
    software_version: str
    sr_series_uid: str
    sc_series_uid: str
    sr_series_number: int = 901
    sc_series_number: int = 902
    instance_number_start: int = 1
    institution_name: str | None = None
    station_name: str | None = None
    device_serial: str | None = None
    sr_series_description: str = "facenode AI measurements"
    sc_series_description: str = "facenode AI annotated photos"
    sc_transfer_syntax: str = DEFAULT_SC_TRANSFER_SYNTAX
    pdf_series_uid: str = field(default_factory=lambda: str(new_uid()))
    pdf_series_number: int = 903
    pdf_series_description: str = "facenode AI report"

    def __post_init__(self) -> None:
        for name, value in (("manufacturer", self.manufacturer), ("model_name", self.model_name)):
            if not value:
                raise ValueError(f"{name} must not be empty")
            _check_len(name, value, 64)
        _check_len("software_version", self.software_version, 64)
        _check_len("institution_name", self.institution_name, 64)
        _check_len("station_name", self.station_name, 16)
        _check_len("device_serial", self.device_serial, 64)
        _check_len("sr_series_description", self.sr_series_description, 64)
        _check_len("sc_series_description", self.sc_series_description, 64)
        _check_len("pdf_series_description", self.pdf_series_description, 64)
        uids = (
            ("sr_series_uid", self.sr_series_uid),
            ("sc_series_uid", self.sc_series_uid),
            ("pdf_series_uid", self.pdf_series_uid),
        )
        for name, uid in uids:
            if not _valid_uid(uid):
                raise ValueError(f"{name} is not a valid UID: {uid!r}")
        if self.sr_series_uid == self.sc_series_uid:
            raise ValueError("the SR and SC results need two different series UIDs")
        if self.pdf_series_uid in (self.sr_series_uid, self.sc_series_uid):
            raise ValueError("the PDF report needs its own series UID, not the SR's or SC's")
        for name, number in (
            ("sr_series_number", self.sr_series_number),
            ("sc_series_number", self.sc_series_number),
            ("pdf_series_number", self.pdf_series_number),
            ("instance_number_start", self.instance_number_start),
        ):
            if number < 1:
                raise ValueError(f"{name} must be >= 1, got {number}")
        if self.sc_transfer_syntax not in _SC_SYNTAXES:
            raise ValueError(
                "sc_transfer_syntax must be a lossless syntax viewers read (implicit/explicit "
                f"VR little endian, RLE lossless, JPEG-LS lossless), got {self.sc_transfer_syntax}"
            )

    @classmethod
    def new(
        cls,
        manufacturer: str = "facenode",
        model_name: str = "facenode",
        software_version: str = "0",
        *,
        institution_name: str | None = None,
        station_name: str | None = None,
        device_serial: str | None = None,
        sr_series_number: int = 901,
        sc_series_number: int = 902,
        pdf_series_number: int = 903,
        instance_number_start: int = 1,
        sc_transfer_syntax: str = DEFAULT_SC_TRANSFER_SYNTAX,
    ) -> ResultContext:
        """A context with freshly generated series UIDs."""
        return cls(
            manufacturer=manufacturer,
            model_name=model_name,
            software_version=software_version,
            sr_series_uid=str(new_uid()),
            sc_series_uid=str(new_uid()),
            pdf_series_uid=str(new_uid()),
            sr_series_number=sr_series_number,
            sc_series_number=sc_series_number,
            pdf_series_number=pdf_series_number,
            instance_number_start=instance_number_start,
            institution_name=institution_name,
            station_name=station_name,
            device_serial=device_serial,
            sc_transfer_syntax=sc_transfer_syntax,
        )

    def advance(self, count: int) -> ResultContext:
        """The same context with instance numbering moved past ``count`` written objects."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        return replace(self, instance_number_start=self.instance_number_start + count)

    @property
    def node_device_uid(self) -> UID:
        """Device (Observer) UID of this node: stable per software version and serial."""
        ident = f"{self.manufacturer}/{self.model_name}/{self.device_serial or ''}"
        return device_uid(ident, self.software_version or "0")
