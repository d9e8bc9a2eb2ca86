"""The note a surgeon reads in the viewer when a photo series' 3D reconstruction was not
made: that and why, and that the 2D results stand — an Encapsulated PDF in the photos' study,
in the context's report series (903) with ``ctx.instance_number_start`` (advance by one).

Apart from :mod:`dicom.results3d` because the node's own process builds it too (after a
3D worker failed for good), and that process never loads the 3D libraries.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset

from analysis.report import render_note
from dicom.context import ResultContext
from dicom.pdf import build_pdf, report_request

NOTE_TITLE = "3D face reconstruction not made"


def build_reconstruction_note(
    sources: Sequence[Dataset],
    reason: str,
    ctx: ResultContext,
    *,
    n_photos: int | None = None,
    min_views: int | None = None,
) -> Dataset:
    """An Encapsulated PDF in the sources' study saying that the 3D reconstruction of the
    series was not made and why (``reason``, e.g. "only 5 of 12 views registered; 8
    needed"), that the 2D results are unaffected, and, given ``min_views``, what a series
    needs for one. ``n_photos``: the photos the series had (None: ``len(sources)``)."""
    reason = " ".join(reason.split()).rstrip(".")
    if not reason:
        raise ValueError("the note needs the reason the reconstruction was not made")
    count = len(sources) if n_photos is None else n_photos
    paragraphs = [
        f"The 3D face reconstruction of this photo series was not made: {reason}.",
        f"The series had {count} photo{'s' if count != 1 else ''}.",
        "The 2D analysis of each photo is not affected: its measurements, findings, "
        "annotated images and report are sent as usual.",
    ]
    if min_views is not None:
        paragraphs.append(
            f"A 3D reconstruction needs at least {min_views} sharp, evenly lit photos of the "
            "still face taken from different directions (an arc from one profile to the "
            "other); a printed marker board in view gives the most accurate millimetre scale."
        )
    request = report_request(sources, ctx, title="3D face reconstruction")
    document = render_note(request, NOTE_TITLE, paragraphs)
    return build_pdf(sources, document, ctx, ctx.instance_number_start, title=NOTE_TITLE)
