"""Everything the node sends back for one photo: the SR and one SC per overlay.

Instance numbers follow ``ctx.instance_number_start``: the SR takes it, the overlays the
numbers after it, so ``ctx.advance(len(outputs))`` is the context for the next photo.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset

from analysis.types import ImageArray, PhotoAnalysis
from dicom.context import ResultContext
from dicom.sc import build_sc
from dicom.source import check_source_uids
from dicom.sr import build_sr


def build_results(
    source: Dataset,
    result: PhotoAnalysis,
    overlays: Sequence[tuple[str, ImageArray]],
    ctx: ResultContext,
) -> list[Dataset]:
    """[SR, SC for each overlay] for one analysed photo, all in the source's study."""
    check_source_uids(source)
    outputs: list[Dataset] = [build_sr(source, result, ctx)]
    for offset, (title, image) in enumerate(overlays, start=1):
        outputs.append(build_sc(source, image, title, ctx, ctx.instance_number_start + offset))
    return outputs
