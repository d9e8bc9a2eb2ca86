"""One CSV row per photo with every catalogue measurement, for a surgeon's spreadsheet.

Layout (``facenode analyze --csv FILE``; README "Command line"): the columns are fixed by
the measurement catalogue, so files from different runs line up. After the photo columns
(:data:`PHOTO_COLUMNS`) come three per measurement, in catalogue order:

* ``<id> [<unit>]`` — the value in the catalogue's unit (mm, deg, ratio, %),
* ``<id> ± [<unit>]`` — its 1-sigma uncertainty,
* ``<id> flags`` — reliability reasons, ``;``-separated (empty when reliable).

A cell is empty when the measurement was not made. A length without a millimetre scale is
not written as millimetres: its value cells stay empty and its flags say
``no_scale (123.4 px)``. Numbers use a dot and no thousands separator; the file is UTF-8
with a byte-order mark so spreadsheet programs read accents in names correctly.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

from analysis import measurements as catalogue
from analysis.types import PhotoAnalysis

PHOTO_COLUMNS: Final = (
    "input",
    "patient_id",
    "study_date",
    "face_found",
    "reliable",
    "quality_flags",
    "view",
    "scale_source",
    "mm_per_px",
    "findings",
)
_UNIT_LABEL: Final = {"mm": "mm", "deg": "deg", "{ratio}": "ratio", "%": "%"}
_DIGITS: Final = {"mm": 2, "deg": 2, "{ratio}": 4, "%": 2, "[px]": 1}


def columns() -> list[str]:
    """Every column, in order."""
    out = list(PHOTO_COLUMNS)
    for d in catalogue.CATALOGUE:
        unit = _UNIT_LABEL.get(d.unit, d.unit)
        out += [f"{d.id} [{unit}]", f"{d.id} ± [{unit}]", f"{d.id} flags"]
    return out


def row(result: PhotoAnalysis, info: Mapping[str, str]) -> dict[str, str]:
    """The row of one photo; ``info`` fills photo columns the analysis does not know
    (``input``, ``patient_id``, ``study_date``)."""
    out = {c: "" for c in columns()}
    out.update({k: v for k, v in info.items() if k in PHOTO_COLUMNS})
    q, sc = result.quality, result.scale
    out["face_found"] = "yes" if result.face_found else "no"
    out["reliable"] = "yes" if result.reliable else "no"
    out["quality_flags"] = ";".join(str(f) for f in q.flags) if q is not None else ""
    out["view"] = str(q.view.value) if q is not None else ""
    out["scale_source"] = str(sc.source.value) if sc is not None else ""
    out["mm_per_px"] = f"{sc.mm_per_px:.5f}" if sc is not None and sc.mm_per_px else ""
    out["findings"] = ";".join(f.id for f in result.findings)
    for m in result.measurements:
        try:
            unit = catalogue.definition(m.id).unit
        except KeyError:
            continue  # not a catalogue measurement: no column for it
        label = _UNIT_LABEL.get(unit, unit)
        flags = [str(f) for f in m.flags]
        if m.unit == unit:
            digits = _DIGITS.get(unit, 3)
            out[f"{m.id} [{label}]"] = f"{m.value:.{digits}f}"
            out[f"{m.id} ± [{label}]"] = f"{m.uncertainty:.{digits}f}"
        else:
            flags = [f for f in flags if f != "no_scale"]
            flags.insert(0, f"no_scale ({m.value:.1f} {m.unit.strip('[]')})")
        out[f"{m.id} flags"] = ";".join(flags)
    return out


def write_csv(path: Path, rows: Iterable[Mapping[str, str]]) -> None:
    """Write ``rows`` (from :func:`row`) with the header, UTF-8 with BOM."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(), lineterminator="\r\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    path.write_text(buf.getvalue(), encoding="utf-8-sig")
