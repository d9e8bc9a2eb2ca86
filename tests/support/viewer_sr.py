"""What the viewer tests expect of an SR in OHIF, read from the SR itself with highdicom:
the groups OHIF draws and labels, their regions and the landmark dots, the label lines
and how a drawn or listed line states a measurement; and the tools the tests need.

Shared by ``tests/integration/test_viewer.py`` (the 2D report on a photo) and
``tests/integration/test_viewer_3d.py`` (the 3D report on the front rendering).
"""

from __future__ import annotations

import re
from typing import Any

import highdicom as hd
import numpy as np
import pytest

from dicom.sr_arrows import ARROW_TRACKING_ID
from dicom.sr_families import SHOWN
from tests.support.ohif_server import OHIF_VERSIONS, ohif_dist
from tests.support.orthanc import DICOMWEB_PLUGIN
from tests.support.viewer import CHROMIUM

#: An OHIF label line or panel entry: "<name>: <value, 2 decimals> <UCUM unit>".
LABEL = re.compile(r"^(?P<name>.*): (?P<value>-?\d+\.\d\d) (?P<unit>\S+)$")
#: Console text of an SR annotation OHIF skipped (it drew less than the SR holds).
FAILING_HINTS = ("not currently supported", "No spatial coordinates", "skipping annotation")


def require_tools() -> None:
    """Fail (not skip) without the browser, Orthanc's DICOMweb plugin, OHIF or Playwright."""
    missing = [
        what
        for what, ok in (
            ("chromium (Debian package)", CHROMIUM.exists()),
            ("orthanc-dicomweb (Debian package)", DICOMWEB_PLUGIN.exists()),
            *(
                (f"OHIF {v} (make ohif)", (ohif_dist(v) / "index.html").exists())
                for v in OHIF_VERSIONS
            ),
        )
        if not ok
    ]
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip, the dev extra)")
    if missing:
        pytest.fail("the viewer test needs: " + ", ".join(missing) + "; `make test` installs them")


def _report(sr: hd.sr.Comprehensive3DSR) -> Any:
    """The SR's TID 1500 report (highdicom types ``content`` as a plain ContentSequence)."""
    return sr.content


def drawn_groups(sr: hd.sr.Comprehensive3DSR) -> list[Any]:
    """The first group of each family's Tracking UID: OHIF merges the others into its
    annotation (the measurements' arrows are not families)."""
    first: dict[str, Any] = {}
    for g in _report(sr).get_planar_roi_measurement_groups():
        if g.tracking_identifier != ARROW_TRACKING_ID:
            first.setdefault(str(g.tracking_uid), g)
    return list(first.values())


def arrow_labels(sr: hd.sr.Comprehensive3DSR) -> dict[str, tuple[float, str]]:
    """Every measurement of the SR (all NUMs of the families): name → (value, unit), as
    its arrow's comment must state them."""
    return {
        m.name.meaning: (float(m.value), m.unit.value)
        for g in _report(sr).get_planar_roi_measurement_groups()
        for m in g.get_measurements()
    }


def expected_labels(sr: hd.sr.Comprehensive3DSR) -> dict[str, tuple[float, str]]:
    """Measurement name → (value, UCUM unit) of what OHIF labels: the first five NUMs of
    each family's annotation (its first group holds exactly those)."""
    out = {}
    for group in drawn_groups(sr):
        for m in group.get_measurements()[:SHOWN]:
            out[m.name.meaning] = (float(m.value), m.unit.value)
    return out


def drawn_labels(lines: list[str]) -> dict[str, tuple[float, str]]:
    """Name → (value, unit) of each drawn label line; every line must read
    "<name>: <value> <unit>"."""
    labels = {}
    for line in lines:
        match = LABEL.match(line)
        assert match, f"label without value and unit: {line!r}"
        labels[match["name"]] = (float(match["value"]), match["unit"])
    return labels


def stated(lines: list[str], name: str, value: float, unit: str) -> bool:
    """Whether a line reads "<name>: <value> <unit>" with the NUM's value and unit (the
    arrow's text has the full name where a Code Meaning ends "..." at 64 characters)."""
    for line in lines:
        match = LABEL.match(line)
        if match is None or match["unit"] != unit:
            continue
        said = match["name"]
        if said == name or (name.endswith("...") and said.startswith(name[:-3])):
            if abs(float(match["value"]) - value) < 0.0051:
                return True
    return False


def assert_tracked(panel: str, labels: list[str], listed: dict[str, tuple[float, str]]) -> None:
    """Once tracked, the panel lists every measurement with the SR's value and unit, the
    image's arrows state the same, one label each, and nothing is re-measured in px."""
    lines = [line.strip() for line in panel.splitlines()]
    assert f"({len(listed)})" in panel
    for name, (value, unit) in listed.items():
        assert stated(lines, name, value, unit), name
        assert stated(labels, name, value, unit), name
    assert len(labels) == len(listed)
    assert not re.search(r"\bpx\b", panel + "\n".join(labels))


def region_points(sr: hd.sr.Comprehensive3DSR) -> list[np.ndarray]:
    """Each drawn family's region (SCOORD image coordinates), circles left out."""
    return [
        np.asarray(g.roi.value, dtype=float)
        for g in drawn_groups(sr)
        if g.roi is not None and g.roi.graphic_type != hd.sr.GraphicTypeValues.CIRCLE
    ]


def landmark_points(sr: hd.sr.Comprehensive3DSR) -> np.ndarray:
    """Every landmark dot the SR draws (its MULTIPOINTs), image coordinates."""
    pts = [
        np.asarray(c.value, dtype=float)
        for g in _report(sr).get_image_measurement_groups()
        for m in g.get_measurements()
        for c in (m.referenced_coordinates or [])
        if c.graphic_type == hd.sr.GraphicTypeValues.MULTIPOINT
    ]
    return np.concatenate(pts)


def nearest(points: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Each point's distance to the nearest candidate."""
    d = np.linalg.norm(points[:, None, :] - candidates[None, :, :], axis=2)
    return np.asarray(d.min(axis=1))
