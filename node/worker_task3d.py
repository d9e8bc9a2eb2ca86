"""A series' photogrammetric 3D reconstruction as a unit of work, run in a worker process
(:mod:`node.worker`, the 3D job threads' own processes) or in the caller's process (tests):
the stored photos' paths in, encoded result files out — as :mod:`node.worker_task` does for
one photo, and like it writing nothing.

Each photo is read and analysed in 2D again (its landmarks, iris edges included, are what
the 3D landmarks and, without a marker board, the metric scale are triangulated from; the
2D job keeps no landmarks), then :func:`reconstruction.pipeline.reconstruct` runs, then the
result objects are built (:func:`dicom.results3d.build_results_3d`: mesh as Encapsulated
STL / OBJ / MTL, renderings, 3D report). Progress goes to ``progress(stage, fraction)``
throughout, the fraction being the whole task's.

A series that cannot be reconstructed — too few usable photos or registered views, no
metric scale, a stage that fails on these photos — is not an error of the node: the result
is a note for the surgeon (an Encapsulated PDF in the study, :attr:`ReconstructionResult.refused`
says why) and the job ends. Running out of memory raises on, as in 2D, so that the worker
reports it and the job's attempts bound it.

Heavy imports (Open3D, pycolmap) happen inside :func:`run_reconstruction`, so the node's
main process, which only builds tasks and reads results, never loads them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from dicom.context import ResultContext
from node.worker_task import ResultFile

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from node.worker_task import Analyzers
    from reconstruction.pipeline import InputView, ReconstructionOptions
    from reconstruction.types import Reconstruction3D

log = logging.getLogger(__name__)

#: Shares of the task's progress: the photos' 2D analysis, the reconstruction, the objects.
PHOTOS_SHARE: Final = 0.12
BUILD_SHARE: Final = 0.05

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Options3D:
    """What a 3D reconstruction is asked for — by the node's settings (they reach the worker:
    plain values, they cross a pipe) or by ``facenode analyze --3d``."""

    min_views: int = 8
    device: str = "auto"
    target_triangles: int = 100_000
    #: (landmark a, landmark b, mm): ``reconstruction_known_distance`` / ``--known-distance``
    known_distance: tuple[str, str, float] | None = None

    def reconstruction_options(self) -> ReconstructionOptions:
        """The pipeline's options (imports the 3D pipeline: call it where it runs)."""
        from reconstruction.pipeline import KnownDistance, ReconstructionOptions

        known = KnownDistance(*self.known_distance) if self.known_distance else None
        return ReconstructionOptions(
            min_views=self.min_views,
            device=self.device,  # type: ignore[arg-type]  # checked by the dense stage
            target_triangles=self.target_triangles,
            known_distance=known,
        )


def quiet_colmap() -> None:
    """COLMAP logs every SfM step at INFO; the progress (bar or job stage) says enough."""
    import pycolmap

    pycolmap.logging.minloglevel = 2  # errors only


@dataclass(frozen=True)
class ReconstructionTask:
    """Reconstruct the stored photos at ``paths`` (one series); the results take their
    instance numbers from ``ctx``."""

    paths: tuple[str, ...]
    ctx: ResultContext
    options: Options3D = field(default_factory=Options3D)


@dataclass(frozen=True)
class ReconstructionResult:
    """The result files (the 3D objects, or the note saying why there are none), a JSON
    summary for the job record, and the reason when the reconstruction was not made."""

    files: tuple[ResultFile, ...]
    summary: dict[str, Any]
    refused: str = ""


def run_reconstruction(
    analyzers: Analyzers, task: ReconstructionTask, progress: Progress | None = None
) -> ReconstructionResult:
    """The unit of work (module docstring)."""
    from analysis.types import AnalysisError
    from dicom.note3d import build_reconstruction_note

    report = progress or (lambda stage, fraction: None)
    t0 = time.perf_counter()
    sources, views, skipped = _read_views(analyzers, task, report)
    opt = task.options
    if len(views) < opt.min_views:
        reason = (
            f"{len(views)} of {len(task.paths)} photos could be used "
            f"({opt.min_views} views needed){_skipped_text(skipped)}"
        )
        return _refusal(sources, reason, task, t0, build_reconstruction_note)
    try:
        result = _reconstruct(views, opt, report)
    except MemoryError:
        raise
    except (AnalysisError, ValueError, RuntimeError) as exc:
        # a refusal (too few views, no scale, no CUDA) or a stage failing on these photos
        log.warning("3D reconstruction not made: %s", exc)
        return _refusal(sources, str(exc), task, t0, build_reconstruction_note)
    report("results", 1.0 - BUILD_SHARE)
    files = _build(sources, result, views, analyzers, task.ctx)
    report("done", 1.0)
    return ReconstructionResult(files, _summary(result, len(task.paths), skipped, t0))


def _read_views(
    analyzers: Analyzers, task: ReconstructionTask, report: Progress
) -> tuple[list[Dataset], list[InputView], list[str]]:
    """(reference headers, views, what was skipped and why) of the series' photos."""
    from pydicom import dcmread

    from dicom.errors import DicomInputError
    from dicom.photo import dataset_to_photo, focal_length_px
    from dicom.source import reference_header
    from node.identifiers import remember
    from reconstruction.pipeline import InputView

    analyzer = analyzers.get()
    sources: list[Dataset] = []
    views: list[InputView] = []
    skipped: list[str] = []
    report("photos", 0.0)
    for i, path in enumerate(task.paths):
        try:
            ds = dcmread(path)
            remember(ds)
            photo = dataset_to_photo(ds, analyzers.limits)
            header = reference_header(ds)
        except (OSError, ValueError, DicomInputError) as exc:
            skipped.append(f"photo {i + 1}: {exc}")
            continue
        analysis = analyzer.analyze(photo)
        if not analysis.face_found:
            skipped.append(f"photo {i + 1}: no face found")
        h, w = photo.pixels.shape[:2]
        views.append(InputView(photo.pixels, focal_length_px(ds, w, h), analysis))
        sources.append(header)
        report("photos", PHOTOS_SHARE * (i + 1) / len(task.paths))
    return sources, views, skipped


def _reconstruct(views: list[InputView], opt: Options3D, report: Progress) -> Reconstruction3D:
    from reconstruction.pipeline import reconstruct

    quiet_colmap()
    span = 1.0 - PHOTOS_SHARE - BUILD_SHARE
    return reconstruct(
        views,
        opt.reconstruction_options(),
        progress=lambda stage, f: report(stage, PHOTOS_SHARE + span * f),
    )


def _build(
    sources: list[Dataset],
    result: Reconstruction3D,
    views: list[InputView],
    analyzers: Analyzers,
    ctx: ResultContext,
) -> tuple[ResultFile, ...]:
    """The 3D objects; the findings judged by the node's tables, as in 2D; the 2D landmark
    models named beside the reconstruction algorithm (the 3D landmarks stand on them)."""
    from dicom.results3d import build_results_3d

    models = {m.id: m for v in views if v.analysis is not None for m in v.analysis.models}
    outputs = build_results_3d(
        sources,
        result,
        ctx,
        result.mesh.algorithm,
        tuple(models.values()),
        tables=analyzers.options.tables,
    )
    return tuple(ResultFile.of(ds) for ds in outputs)


def _refusal(
    sources: list[Dataset],
    reason: str,
    task: ReconstructionTask,
    t0: float,
    build_note: Callable[..., Dataset],
) -> ReconstructionResult:
    summary = {"refused": reason, "photos": len(task.paths), "seconds": _since(t0)}
    if not sources:  # nothing readable to put a note into the study of
        return ReconstructionResult((), summary, reason)
    note = build_note(
        sources, reason, task.ctx, n_photos=len(task.paths), min_views=task.options.min_views
    )
    return ReconstructionResult((ResultFile.of(note),), summary, reason)


def _skipped_text(skipped: list[str]) -> str:
    if not skipped:
        return ""
    shown = "; ".join(skipped[:4])
    more = f"; {len(skipped) - 4} more" if len(skipped) > 4 else ""
    return f" — {shown}{more}"


def _summary(
    result: Reconstruction3D, photos: int, skipped: list[str], t0: float
) -> dict[str, Any]:
    """What the job record keeps: views, scale, mesh size, regional asymmetry, timings."""
    regions = (
        {r.region: round(r.peak_signed_mm, 2) for r in result.symmetry.regions}
        if result.symmetry is not None
        else {}
    )
    return {
        "photos": photos,
        "registered": result.n_registered,
        "reprojection_error_px": round(result.reprojection_error_px, 3),
        "scale": result.scale.source.value,
        "scale_relative_uncertainty": round(result.scale.relative_uncertainty, 4),
        "triangles": result.mesh.n_triangles,
        "landmarks": len(result.landmarks),
        "measurements": len(result.measurements),
        "asymmetry_peak_mm": regions,
        "timings_s": {k: round(v, 2) for k, v in result.timings_s.items()},
        "seconds": _since(t0),
        "skipped": skipped,
        "notes": list(result.notes),
    }


def _since(t0: float) -> float:
    return round(time.perf_counter() - t0, 2)
