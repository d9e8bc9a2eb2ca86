"""The node's 3D results read back from the DICOM objects it sent, for
:mod:`tests.bench.bench_3d_node`: the mesh from the Encapsulated STL (series 904), and from
the Comprehensive 3D SR (series 906) the SCOORD3D landmarks in the mesh's Frame of
Reference and every NUM measurement (the catalogue's and the regional asymmetry), by the
private code values :mod:`dicom.codes` gives them (``lm:<key>``, ``m:<id>``). Also dciodvfy
on every object, the Encapsulated OBJ and MTL through :func:`tests.support.dciodvfy.stl_proxy`
(the installed dicom3tools predates their IODs).

Read with pydicom only, walking the content tree, so nothing of the writer's code is
trusted to read its own output.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset

from dicom import codes
from dicom.mesh import (
    ENCAPSULATED_MTL_STORAGE,
    ENCAPSULATED_OBJ_STORAGE,
    ENCAPSULATED_STL_STORAGE,
    document_bytes,
)
from dicom.render_sc import REPORT3D_SERIES_NUMBER
from dicom.sr3d import LANDMARK_3D
from reconstruction.mesh_io import read_stl
from reconstruction.types import FloatArray
from tests.support.dciodvfy import dciodvfy_errors, stl_proxy

COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
UPPER = codes.UPPER_UNCERTAINTY.value
MESH_SERIES, RENDER_SERIES = 904, 905
SERIES_3D = (MESH_SERIES, RENDER_SERIES, REPORT3D_SERIES_NUMBER)


@dataclass(frozen=True)
class Measurement:
    value: float
    unit: str  # UCUM code value
    name: str
    uncertainty: float  # the upper uncertainty stated (1 SD), NaN when none


@dataclass
class Results3D:
    """What one reconstruction's objects state (module docstring)."""

    vertices: np.ndarray[Any, Any]
    triangles: np.ndarray[Any, Any]
    frame_of_reference_uid: str
    landmarks: dict[str, FloatArray]
    measurements: dict[str, Measurement]
    objects: dict[int, list[str]] = field(default_factory=dict)  # series → SOP classes


def read_folder(folder: Path) -> list[tuple[Path, Dataset]]:
    """Every DICOM file in ``folder`` (a storescp output folder), in name order."""
    return [(p, dcmread(p)) for p in sorted(folder.iterdir()) if p.is_file()]


def in_study(objects: Sequence[tuple[Path, Dataset]], study_uid: str) -> list[tuple[Path, Dataset]]:
    return [(p, ds) for p, ds in objects if ds.get("StudyInstanceUID") == study_uid]


def is_3d(ds: Dataset) -> bool:
    return int(ds.get("SeriesNumber", 0) or 0) in SERIES_3D


def read_results(objects: Sequence[Dataset]) -> Results3D:
    """The mesh, landmarks and measurements of one reconstruction's objects (exactly one
    Encapsulated STL and one 3D SR among them; anything else is counted, not read)."""
    stls = [ds for ds in objects if ds.SOPClassUID == ENCAPSULATED_STL_STORAGE]
    srs = [
        ds
        for ds in objects
        if ds.SOPClassUID == COMPREHENSIVE_3D_SR and int(ds.SeriesNumber) == REPORT3D_SERIES_NUMBER
    ]
    if len(stls) != 1 or len(srs) != 1:
        raise ValueError(f"expected one STL and one 3D SR, got {len(stls)} and {len(srs)}")
    stl = read_stl(document_bytes(stls[0]))
    landmarks, measurements = sr_contents(srs[0])
    found: dict[int, list[str]] = {}
    for ds in objects:
        found.setdefault(int(ds.SeriesNumber), []).append(str(ds.SOPClassUID))
    return Results3D(
        np.asarray(stl.vertices, np.float64),
        np.asarray(stl.triangles),
        str(stls[0].FrameOfReferenceUID),
        landmarks,
        measurements,
        found,
    )


def _walk(items: Sequence[Dataset]) -> Iterator[Dataset]:
    for item in items:
        yield item
        yield from _walk(item.get("ContentSequence", []))


def _concept(item: Dataset, keyword: str) -> str:
    """The code value of the item's first ``keyword`` code (a long one too), or ""."""
    seq = item.get(keyword) or []
    if not len(seq):
        return ""
    code = seq[0]
    return str(code.get("CodeValue") or code.get("LongCodeValue") or code.get("URNCodeValue", ""))


def sr_contents(sr: Dataset) -> tuple[dict[str, FloatArray], dict[str, Measurement]]:
    """(landmark key → SCOORD3D point in mm, measurement id → value) of a 3D SR."""
    landmarks: dict[str, FloatArray] = {}
    measurements: dict[str, Measurement] = {}
    for item in _walk(sr.ContentSequence):
        kind = item.get("ValueType")
        name = _concept(item, "ConceptNameCodeSequence")
        if kind == "CODE" and name == LANDMARK_3D.value:
            key = codes.parse_private(_concept(item, "ConceptCodeSequence"))
            points = [k for k in item.get("ContentSequence", []) if k.ValueType == "SCOORD3D"]
            if key is not None and key[0] == "landmark" and points:
                landmarks[key[1]] = np.asarray(points[0].GraphicData, np.float64).reshape(3)
        elif kind == "NUM":
            parsed = codes.parse_private(name)
            if parsed is not None and parsed[0] == "measurement":
                mv = item.MeasuredValueSequence[0]
                measurements[parsed[1]] = Measurement(
                    float(mv.NumericValue),
                    _concept(mv, "MeasurementUnitsCodeSequence"),
                    str(item.ConceptNameCodeSequence[0].CodeMeaning),
                    _uncertainty(item),
                )
    return landmarks, measurements


def _uncertainty(num: Dataset) -> float:
    for k in num.get("ContentSequence", []):
        if k.ValueType == "NUM" and _concept(k, "ConceptNameCodeSequence") == UPPER:
            return float(k.MeasuredValueSequence[0].NumericValue)
    return float("nan")


def dciodvfy_all(objects: Sequence[tuple[Path, Dataset]], scratch: Path) -> dict[str, Any]:
    """dciodvfy's error lines per object (by file name; OBJ and MTL checked as their STL
    proxy on the STL's Frame of Reference), and the total."""
    frames = [str(ds.FrameOfReferenceUID) for _, ds in objects
              if ds.SOPClassUID == ENCAPSULATED_STL_STORAGE]  # fmt: skip
    scratch.mkdir(parents=True, exist_ok=True)
    errors: dict[str, list[str]] = {}
    for path, ds in objects:
        target = path
        if ds.SOPClassUID in (ENCAPSULATED_OBJ_STORAGE, ENCAPSULATED_MTL_STORAGE):
            frame = frames[0] if frames else "1.2.3"
            target = stl_proxy(ds, frame, scratch / f"{path.name}-stl-proxy.dcm")
        errors[path.name] = dciodvfy_errors(target)
    return {
        "objects": len(errors),
        "errors": sum(len(e) for e in errors.values()),
        "with_errors": {k: v for k, v in errors.items() if v},
    }
