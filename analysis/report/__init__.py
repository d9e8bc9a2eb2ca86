"""The radiology-style PDF report of a photo or a series (reportlab; no DICOM).

Build a :class:`ReportRequest` (header strings, one :class:`PhotoSection` per photo with
its overlays reduced by :func:`prepare_images`) and call :func:`render_report` with the
norm table that judges the measurements. ``dicom.pdf`` wraps the bytes as an Encapsulated
PDF; ``facenode analyze`` writes them as ``report.pdf``. :func:`render_note` makes a
short note in the same look instead (e.g. that the 3D reconstruction was not made, and why).
"""

from analysis.report.document import DISCLAIMER, render_note, render_report
from analysis.report.fonts import ReportFonts, report_fonts
from analysis.report.images import prepare_image, prepare_images
from analysis.report.model import (
    PhotoSection,
    ReportHeader,
    ReportImage,
    ReportRequest,
    Software,
)
from analysis.report.rows import Row, grouped_rows, judge

__all__ = [
    "DISCLAIMER",
    "PhotoSection",
    "ReportFonts",
    "ReportHeader",
    "ReportImage",
    "ReportRequest",
    "Row",
    "Software",
    "grouped_rows",
    "judge",
    "prepare_image",
    "prepare_images",
    "render_note",
    "render_report",
    "report_fonts",
]
