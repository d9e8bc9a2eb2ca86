"""``facenode analyze``: DICOM or plain image files in, result objects plus a JSON summary
out — the node's own pipeline without the network, for ad-hoc use and debugging.

Per photo it writes the result objects (``<n>_<k>_<modality>.dcm``), the PDF report as a
plain file (``<n>_report.pdf``, the same bytes the Encapsulated PDF object holds) and, with
``--csv FILE``, one spreadsheet row (:mod:`analysis.report.spreadsheet`)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from analysis.report.spreadsheet import row as csv_row
from analysis.report.spreadsheet import write_csv
from analysis.serialize import analysis_summary
from config.settings import Settings
from dicom.pdf import ENCAPSULATED_PDF_STORAGE, dicom_date, pdf_bytes
from dicom.wrap import wrap_rgb_image
from node.identifiers import remember
from node.pipeline import Analyzers, analyse_dataset, node_context, write_dataset

log = logging.getLogger(__name__)


def load_source(path: Path) -> Dataset:
    """A DICOM file as is, or an image file (JPEG, PNG, TIFF, …) wrapped as VL Photographic."""
    try:
        return dcmread(path)
    except InvalidDicomError:
        pass
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: neither a DICOM file nor an image OpenCV can read")
    rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    return wrap_rgb_image(rgb, series_description=f"ad hoc: {path.name}")


def analyze_paths(
    paths: list[Path], output: Path, settings: Settings, csv_path: Path | None = None
) -> int:
    """Analyse each file; write ``<output>/<n>_<k>_<kind>.dcm``, ``<n>_report.pdf`` and
    ``summary.json`` (and the CSV when asked). Returns the exit code: 0 when every file was
    analysed (with or without a face)."""
    output.mkdir(parents=True, exist_ok=True)
    analyzers = Analyzers(settings)  # loads the finding tables once for every file
    summary: list[dict[str, Any]] = []
    rows: list[dict[str, str]] = []
    failures = 0
    for index, path in enumerate(paths, start=1):
        entry: dict[str, Any] = {"input": str(path)}
        try:
            ds = load_source(path)
            remember(ds)
            outcome = analyse_dataset(
                ds, analyzers.get(), node_context(settings), analyzers.limits
            )
        except (OSError, ValueError) as exc:
            outcome = None
            entry["error"] = str(exc)
        if outcome is not None and outcome.error:
            entry["error"] = outcome.error
        if "error" in entry or outcome is None or outcome.analysis is None:
            failures += 1
            print(f"{path}: ERROR {entry.get('error')}", file=sys.stderr)
            summary.append(entry)
            continue
        files = []
        for k, out in enumerate(outcome.outputs, start=1):
            name = f"{index:03d}_{k:02d}_{str(out.Modality).lower()}.dcm"
            write_dataset(out, output / name)
            files.append(name)
            if str(out.SOPClassUID) == ENCAPSULATED_PDF_STORAGE:
                report = f"{index:03d}_report.pdf"
                (output / report).write_bytes(pdf_bytes(out))
                entry["report"] = report
        entry["outputs"] = files
        entry.update(analysis_summary(outcome.analysis))
        summary.append(entry)
        info = {
            "input": str(path),
            "patient_id": str(ds.get("PatientID", "") or ""),
            "study_date": dicom_date(ds.get("StudyDate")),
        }
        rows.append(csv_row(outcome.analysis, info))
        print(f"{path}: {outcome.analysis.message}; {len(files)} object(s) written")
    (output / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"summary: {output / 'summary.json'}")
    if csv_path is not None:
        write_csv(csv_path, rows)
        print(f"table: {csv_path} ({len(rows)} photo(s))")
    return 1 if failures else 0
