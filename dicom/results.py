"""Everything the node sends back for one photo: the SR, one SC per overlay, the PDF report.

Instance numbers follow ``ctx.instance_number_start``: the SR takes it, the overlays the
numbers after it and the report the last one, so ``ctx.advance(len(outputs))`` is the
context for the next photo.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset

from analysis.report import PhotoSection
from analysis.types import ImageArray, PhotoAnalysis
from config.tables import NormTable
from dicom.context import ResultContext
from dicom.pdf import build_report, photo_section
from dicom.sc import build_sc
from dicom.source import check_source_uids
from dicom.sr import build_sr


def build_results(
    source: Dataset,
    result: PhotoAnalysis,
    overlays: Sequence[tuple[str, ImageArray]],
    ctx: ResultContext,
    *,
    norms: NormTable | None = None,
    section: PhotoSection | None = None,
) -> list[Dataset]:
    """[SR, SC for each overlay, PDF report] for one analysed photo, in the source's study.

    ``norms`` judge the report's measurements (None: the shipped table); ``section`` is the
    photo's report section when the caller made it already (:func:`dicom.pdf.photo_section`,
    e.g. to reuse it in a series report), else it is made here from ``overlays``.
    """
    check_source_uids(source)
    outputs: list[Dataset] = [build_sr(source, result, ctx)]
    for offset, (title, image) in enumerate(overlays, start=1):
        outputs.append(build_sc(source, image, title, ctx, ctx.instance_number_start + offset))
    if section is None:
        section = photo_section(source, result, overlays)
    number = ctx.instance_number_start + len(outputs)
    outputs.append(build_report([source], [section], ctx, number, norms))
    return outputs
