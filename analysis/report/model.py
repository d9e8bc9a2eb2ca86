"""What a report is made of: plain strings and analysis results, no DICOM.

The DICOM layer (``dicom.pdf``) fills :class:`ReportHeader` from the source photo's header
and :class:`PhotoSection` per analysed photo; the CLI does the same for files. Images are
already reduced to JPEG (:func:`analysis.report.images.prepare_images`) so a series report
can hold many photos without holding their full-size overlays.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from analysis.types import ModelIdentity, PhotoAnalysis


@dataclass(frozen=True)
class ReportHeader:
    """Patient and study lines of the report, already formatted for reading."""

    patient_name: str = ""
    patient_id: str = ""
    birth_date: str = ""
    sex: str = ""
    study_date: str = ""
    study_description: str = ""
    accession_number: str = ""
    referring_physician: str = ""
    institution: str = ""


@dataclass(frozen=True)
class ReportImage:
    """One annotated image as JPEG bytes with its pixel size."""

    title: str
    jpeg: bytes
    width: int
    height: int


@dataclass(frozen=True)
class PhotoSection:
    """One analysed photo: where it came from, what the analysis said, its overlays."""

    label: str
    analysis: PhotoAnalysis
    images: tuple[ReportImage, ...] = ()
    details: tuple[tuple[str, str], ...] = ()  # e.g. ("Acquired", "2024-03-01 10:22")


@dataclass(frozen=True)
class Software:
    """The program that wrote the report (the node), named in its algorithm section."""

    manufacturer: str
    name: str
    version: str
    device_uid: str = ""


@dataclass(frozen=True)
class ReportRequest:
    """Everything :func:`analysis.report.render_report` needs besides the norm table."""

    header: ReportHeader
    sections: tuple[PhotoSection, ...]
    software: Software
    created: dt.datetime
    sex: str | None = None  # "M" / "F": selects norm rows; otherwise the "any" rows
    title: str = "Facial photo analysis"

    @property
    def models(self) -> tuple[ModelIdentity, ...]:
        """Every distinct model version that contributed to any photo, in order."""
        seen: dict[tuple[str, str], ModelIdentity] = {}
        for s in self.sections:
            for m in s.analysis.models:
                seen.setdefault((m.id, m.version), m)
        return tuple(seen.values())
