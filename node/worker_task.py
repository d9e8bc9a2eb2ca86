"""One photo's analysis as a unit of work that runs the same in a worker process
(:mod:`node.worker`) or in the caller's process (:class:`Analyzers`, for ``facenode analyze``
and fast tests): a stored file's path in, encoded result files out.

The task reads the photo, checks its size limits (:mod:`dicom.limits`), decodes, analyses,
renders the overlays, builds the result objects and encodes each as DICOM Part 10 bytes. It
writes nothing: the node's main process writes the bytes (fsynced), records them in the
database and queues them in the outbox, so a worker killed at any instant leaves no
half-written file and the database keeps a single writing process.

Errors of the photo (not decodable, no usable pixels, over a limit, the analysis raising)
come back in :attr:`PhotoResult.error` and quarantine the photo at once. Running out of
memory is not one of them: :class:`MemoryError` is raised on, so that the worker reports it
as a :class:`WorkerFailure`, which counts against the photo's attempts
(``job_max_attempts``) like a worker killed or timed out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydicom import dcmread
from pydicom.dataset import Dataset

from analysis import findings
from analysis.overlay import render_overlays
from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
from analysis.report import PhotoSection
from analysis.serialize import analysis_summary
from analysis.types import PhotoAnalysis
from config.norms import load_tables
from config.settings import Settings
from config.tables import FindingTables
from dicom import part10
from dicom.context import ResultContext
from dicom.equipment import OUR_MANUFACTURER, OUR_MODEL_NAME
from dicom.errors import DicomInputError
from dicom.limits import PixelLimits
from dicom.pdf import build_report, photo_section
from dicom.photo import dataset_to_photo
from dicom.results import build_results
from node import __version__
from node.identifiers import remember
from node.worker import WorkerFailure

if TYPE_CHECKING:
    from node.worker_task3d import ReconstructionResult, ReconstructionTask

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResultFile:
    """One result object, encoded; the identifiers name its place in storage and outbox."""

    study_uid: str
    series_uid: str
    sop_instance_uid: str
    sop_class_uid: str
    modality: str
    data: bytes

    @classmethod
    def of(cls, ds: Dataset) -> ResultFile:
        """``ds`` encoded as pydicom's ``save_as`` would, by :func:`dicom.part10.encode`
        (the SR's ~1,700 nested items took pydicom's writer ~120 ms)."""
        return cls(
            study_uid=str(ds.StudyInstanceUID),
            series_uid=str(ds.SeriesInstanceUID),
            sop_instance_uid=str(ds.SOPInstanceUID),
            sop_class_uid=str(ds.SOPClassUID),
            modality=str(ds.get("Modality", "")),
            data=part10.encode(ds),
        )


@dataclass(frozen=True)
class PhotoTask:
    """Analyse the stored photo at ``path``; its results take instance numbers and series
    from ``ctx``."""

    path: str
    sop_instance_uid: str
    ctx: ResultContext


@dataclass(frozen=True)
class PhotoResult:
    """What a photo's analysis gave: result files, or the reason to quarantine it."""

    sop_instance_uid: str
    files: tuple[ResultFile, ...] = ()
    error: str = ""
    summary: dict[str, Any] = field(default_factory=dict)  # analysis_summary, no points
    section: PhotoSection | None = None  # the photo's part of a series report


@dataclass(frozen=True)
class ReportTask:
    """One PDF report on several analysed photos (the series report)."""

    headers: tuple[Dataset, ...]  # reference headers (no pixel data)
    sections: tuple[PhotoSection, ...]
    ctx: ResultContext


class PhotoRunner(Protocol):
    """Where photos are analysed: :class:`Analyzers` (this process) or
    :class:`node.worker.WorkerRunner` (worker processes)."""

    options: AnalysisOptions

    def analyse(self, task: PhotoTask) -> PhotoResult:
        """The photo's result; raises :class:`WorkerFailure` / :class:`WorkerStopped`."""

    def series_report(self, task: ReportTask) -> ResultFile:
        """The series report; raises like :meth:`analyse`, or any error of the build."""

    def reconstruct(
        self,
        task: ReconstructionTask,
        on_progress: Callable[[str, float], None] | None = None,
    ) -> ReconstructionResult:
        """A series' 3D reconstruction; raises like :meth:`analyse`."""

    def close(self) -> None:
        """Stop analysing; a call in progress ends with :class:`WorkerStopped`."""


@dataclass
class PhotoOutcome:
    sop_instance_uid: str
    analysis: PhotoAnalysis | None
    outputs: list[Dataset]
    error: str = ""
    section: PhotoSection | None = None  # the photo's part of a series report


def finding_tables() -> FindingTables:
    """The norm table and finding rules, read once and checked against the measurement
    catalogue, so a bad table stops the node at start rather than failing every photo."""
    tables = load_tables()
    findings.check_tables(tables)
    return tables


def analysis_options(settings: Settings, tables: FindingTables) -> AnalysisOptions:
    return AnalysisOptions(
        tables=tables,
        backend=settings.analysis_backend,
        model_dir=settings.models_dir,
        assumed_ipd_mm=settings.assumed_ipd_mm,
        device=settings.device,
    )


def pixel_limits(settings: Settings) -> PixelLimits:
    return PixelLimits.of(settings.max_pixels, settings.max_object_mb)


def node_context(settings: Settings) -> ResultContext:
    """The node as the equipment that writes one batch of results (new series UIDs)."""
    return ResultContext.new(
        manufacturer=OUR_MANUFACTURER,
        model_name=OUR_MODEL_NAME,
        software_version=__version__,
        station_name=settings.ae_title,
        device_serial=settings.ae_title,
    )


def analyse_dataset(
    ds: Dataset,
    analyzer: PhotoAnalyzer,
    ctx: ResultContext,
    limits: PixelLimits | None = None,
) -> PhotoOutcome:
    """Analyse one photo dataset into result datasets (no storage, no database)."""
    uid = str(ds.SOPInstanceUID)
    try:
        photo = dataset_to_photo(ds, limits)  # carries the subject's sex for the norm rows
    except DicomInputError as exc:
        return PhotoOutcome(uid, None, [], error=str(exc))
    result = analyzer.analyze(photo)
    overlays = render_overlays(photo, result)
    section = photo_section(ds, result, overlays)
    norms = analyzer.options.tables.norms  # the table the findings were judged against
    outputs = build_results(ds, result, overlays, ctx, section=section, norms=norms)
    return PhotoOutcome(uid, result, outputs, section=section)


class Analyzers:
    """Analysis in this process: one analyzer per thread (the landmark models are not
    thread-safe), all with the same options, loaded once here. A worker process holds one
    of these; ``facenode analyze`` and the fast tests use it directly."""

    def __init__(self, settings: Settings, tables: FindingTables | None = None) -> None:
        self.options = analysis_options(settings, tables or finding_tables())
        self.limits = pixel_limits(settings)
        self._local = threading.local()

    def get(self) -> PhotoAnalyzer:
        analyzer = getattr(self._local, "analyzer", None)
        if analyzer is None:
            analyzer = PhotoAnalyzer(self.options)
            self._local.analyzer = analyzer
        return analyzer

    def analyse(self, task: PhotoTask) -> PhotoResult:
        try:
            return run_photo(self, task)
        except MemoryError as exc:
            raise WorkerFailure(f"out of memory while analysing: {exc}") from None

    def series_report(self, task: ReportTask) -> ResultFile:
        return run_series_report(self, task)

    def reconstruct(
        self,
        task: ReconstructionTask,
        on_progress: Callable[[str, float], None] | None = None,
    ) -> ReconstructionResult:
        """A series' 3D reconstruction on the caller's thread (:mod:`node.worker_task3d`)."""
        from node.worker_task3d import run_reconstruction

        try:
            return run_reconstruction(self, task, on_progress)
        except MemoryError as exc:
            raise WorkerFailure(f"out of memory while reconstructing: {exc}") from None

    def close(self) -> None:
        """Nothing to stop: the calls run on the caller's thread."""


def run_photo(analyzers: Analyzers, task: PhotoTask) -> PhotoResult:
    """The unit of work: read, check, decode, analyse, build and encode one photo's results."""
    try:
        ds = dcmread(task.path)
        remember(ds)  # this process's log filter redacts the patient's identifiers
        outcome = analyse_dataset(ds, analyzers.get(), task.ctx, analyzers.limits)
        if outcome.error:
            return PhotoResult(task.sop_instance_uid, error=outcome.error)
        assert outcome.analysis is not None
        files = tuple(ResultFile.of(out) for out in outcome.outputs)
        summary = analysis_summary(outcome.analysis, include_points=False)
    except MemoryError:
        raise
    except Exception as exc:  # one bad photo must not cost the series its results
        log.exception("photo could not be analysed")
        reason = f"analysis failed: {type(exc).__name__}: {exc}"
        return PhotoResult(task.sop_instance_uid, error=reason)
    return PhotoResult(task.sop_instance_uid, files, summary=summary, section=outcome.section)


def run_series_report(analyzers: Analyzers, task: ReportTask) -> ResultFile:
    """One PDF report on every photo of ``task`` (each also has its own report)."""
    norms = analyzers.options.tables.norms
    report = build_report(
        list(task.headers), list(task.sections), task.ctx, task.ctx.instance_number_start, norms
    )
    return ResultFile.of(report)
