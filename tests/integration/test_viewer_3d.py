"""The node's 3D results in the viewer clinics use: OHIF 3.12.10 and 3.13.2 (served as in
``test_viewer.py``, same origin with a ``/dicom-web/`` proxy to a real Orthanc with its
DICOMweb plugin) in headless Chromium driven by Playwright.

The result set is what :func:`dicom.results3d.build_results_3d` sends for a multi-view
series: the known reconstruction of the james face scan with its 4 mm chin, nasal-tip and
brow deviations (``tests/support/recon3d.py``, read in place), in the study of two photos
(stored too), at the node's own rendering size. Stored in Orthanc and opened in OHIF, the
test asserts, in each version:

* the study browser lists the photos, the renderings (series 905, four images, with a
  thumbnail) and the 3D SR (906); OHIF has no viewer for Encapsulated STL / OBJ / MTL: it
  lists each (904, modality M3D) with a warning icon that reads "SOP Class UID is not
  supported", and a double-click on one leaves the viewport as it was (OHIF refuses the
  display set: ``HangingProtocolService`` throws "Unsupported displaySet", which the study
  browser catches and logs as a *warning*; no error, no crash);
* the renderings open on the front view and scroll to the asymmetry map: each on screen
  is the Secondary Capture's own pixels (correlation with them, not a black or blank
  canvas), the heat map in its colours;
* the 3D SR opens on the front rendering: every family's label "<name>: <value> <unit>"
  with the SR's value and unit (mm, deg, ratio), the report's value; the outlines and
  the landmark dots where the SR's coordinates put them; and, unlike the 2D photo, no two
  label boxes overlapping at fit-to-window, all inside the viewport (the 3D report spaces
  its ladder for the rendering ≥ :data:`dicom.sr3d.RENDERING_SCREEN_PX` tall on screen,
  and OHIF shows it ≈ 1000 px tall on the 1920 × 1080 page: asserted first);
* after "Yes" to OHIF's tracking prompt (a second page, as in ``test_viewer.py``) the
  measurement panel lists every measurement of the SR by name with its value and unit
  ("Additional Findings (35)"), nothing in px, and the rendering shows the same texts on
  the arrows' ladder, none overlapping at fit;
* no console error: nothing ``test_viewer.py`` counts as one (error boundary, TypeError,
  ReferenceError, "Something went wrong", a skipped annotation) but the one it allows once
  tracked ("Unable to generate tool state": the adapter probing the landmark group, which
  has no region, catches its TypeError and logs a warning), and, stricter than it, no
  ``console.error`` but the guided tour's two (its first step's element is not there yet,
  on every OHIF page).

Screenshots: ``test-artifacts/viewer/ohif3d-<version>-*.png``; the ``-sr-docs`` and
``-asymmetry-docs`` ones are the small (≤ 400 kB, 128 colours) images ``docs/ohif-3d.png``
and ``docs/ohif-3d-asymmetry.png`` are copied from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import highdicom as hd
import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from dicom import codes
from dicom.context import ResultContext
from dicom.render_sc import REPORT3D_SERIES_NUMBER
from dicom.results3d import asymmetry_entries, build_results_3d
from dicom.sr3d import RENDERING_SCREEN_PX
from tests.factories import make_vl_photo
from tests.support.ohif_server import OHIF_VERSIONS, OhifServer, ohif_dist
from tests.support.orthanc import Orthanc, new_orthanc
from tests.support.recon3d import ALGORITHM, LANDMARK_MODEL, deformed_recon, needs_mesh
from tests.support.viewer import (
    FAILURE,
    Drawn,
    Series,
    compact_png,
    viewer_page,
)
from tests.support.viewer_sr import (
    FAILING_HINTS,
    arrow_labels,
    assert_tracked,
    drawn_groups,
    drawn_labels,
    expected_labels,
    landmark_points,
    nearest,
    region_points,
    require_tools,
)

pytestmark = [
    pytest.mark.integration,
    needs_mesh,
]

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "viewer"
PHOTO_SERIES, MESH_SERIES, RENDER_SERIES = 1, 904, 905
FRONT, ASYMMETRY = 0, 3  # the renderings' order in their series
DOC_PNG_BYTES = 400_000
#: The guided tour's console errors (Shepherd: its first step's element is not there yet).
TOUR_ERRORS = ("Shepherd step was not found", "selector supplied to advanceOn")
#: The adapter's warning for the landmark group once tracked (``test_viewer.py``).
TOOL_STATE = "Unable to generate tool state"


@dataclass
class Study3D:
    uid: str
    renderings: list[Dataset]  # front, right profile, left profile, asymmetry map
    sr: hd.sr.Comprehensive3DSR
    values: dict[str, tuple[float, str]]  # the reconstruction's: name → (value, unit)


def _photos(folder: Path) -> list[Path]:
    """Two photos of one series, one patient (the 3D results' sources)."""
    first = make_vl_photo(patient_name="Müller^Zoë", patient_id="VIEW-3D", patient_sex="F")
    second = make_vl_photo(patient_name="Müller^Zoë", patient_id="VIEW-3D", patient_sex="F")
    second.StudyInstanceUID, second.SeriesInstanceUID = (
        first.StudyInstanceUID,
        first.SeriesInstanceUID,
    )
    second.InstanceNumber = 2
    paths = [folder / "photo-1.dcm", folder / "photo-2.dcm"]
    for ds, path in zip((first, second), paths, strict=True):
        ds.save_as(path, enforce_file_format=True)
    return paths


def _study(folder: Path) -> Study3D:
    folder.mkdir(parents=True)
    headers = [dcmread(p, stop_before_pixels=True) for p in _photos(folder)]  # as the node
    recon = deformed_recon()
    ctx = ResultContext.new(software_version="0.1.0", station_name="FACENODE",
                            device_serial="T1", instance_number_start=3)  # fmt: skip
    outputs = build_results_3d(headers, recon, ctx, ALGORITHM, [LANDMARK_MODEL])
    back: list[Dataset] = []
    for i, ds in enumerate(outputs):
        ds.save_as(folder / f"result-{i}.dcm", enforce_file_format=True)
        back.append(dcmread(folder / f"result-{i}.dcm"))
    assert [int(ds.SeriesNumber) for ds in back] == [904] * 3 + [905] * 4 + [906]
    assert recon.symmetry is not None
    values = {m.name: (m.value, codes.unit_code(m.unit).value) for m in recon.measurements}
    for a in asymmetry_entries(recon.symmetry, recon.scale):
        values[a.name] = (a.value, codes.unit_code(a.unit).value)
    sr = hd.sr.Comprehensive3DSR.from_dataset(back[-1])
    return Study3D(str(headers[0].StudyInstanceUID), back[3:7], sr, values)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, Study3D]]:
    """The photos and their 3D results in one Orthanc with DICOMweb."""
    require_tools()
    root = tmp_path_factory.mktemp("viewer3d")
    made = _study(root / "study")
    orthanc = new_orthanc(root / "orthanc")
    orthanc.start({}, dicomweb=True)
    try:
        for path in sorted((root / "study").glob("*.dcm")):
            orthanc.upload(path)
        yield orthanc, made
    finally:
        orthanc.stop()


def _correlation(drawn: Drawn, sc: Dataset) -> float:
    """Pearson correlation of the viewport's pixels over the image with the SC's own."""
    shown = drawn.image_pixels((int(sc.Columns), int(sc.Rows))).astype(float)
    own = cv2.resize(sc.pixel_array, shown.shape[1::-1], interpolation=cv2.INTER_AREA)
    return float(np.corrcoef(shown.ravel(), own.astype(float).ravel())[0, 1])


def _saturated(rgb: np.ndarray) -> float:
    """Share of strongly coloured pixels (the heat map's reds and blues)."""
    return float(((rgb.max(axis=2).astype(int) - rgb.min(axis=2)) > 80).mean())


def _error(line: str) -> bool:
    """A console error other than the guided tour's (it looks for a viewport element
    before one exists; every OHIF page logs it, the 2D test's pages too)."""
    return line.startswith("[error]") and not any(t in line for t in TOUR_ERRORS)


def _inside(drawn: Drawn) -> bool:
    x, y, w, h = drawn.boxes.T
    (_, _, vw, vh) = drawn.viewport_box
    return bool((x >= 0).all() and (y >= 0).all() and (x + w <= vw).all() and (y + h <= vh).all())


def _docs_png(png: bytes, path: Path) -> int:
    """A small copy of a screenshot for the README (128 colours); its size in bytes."""
    data = compact_png(png)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


@pytest.mark.parametrize("version", OHIF_VERSIONS)
def test_ohif_lists_the_3d_results_shows_the_renderings_and_the_3d_sr_with_its_values(
    version: str, study: tuple[Orthanc, Study3D], browser: Any, tmp_path: Path
) -> None:
    orthanc, s = study
    front_sc, heat_sc = s.renderings[FRONT], s.renderings[ASYMMETRY]
    expected = expected_labels(s.sr)
    families = len(drawn_groups(s.sr))
    listed = arrow_labels(s.sr)
    assert 6 <= families <= 12 and len(expected) >= 20 and len(listed) == len(s.values) == 35
    server = OhifServer(ohif_dist(version), tmp_path / "overlay", orthanc.http_port).start()
    try:
        with viewer_page(browser) as viewer:
            viewer.open_study(server.url, s.uid)
            entries = viewer.series()
            mesh_note = viewer.series_messages(MESH_SERIES)
            before_mesh = viewer.current_image()
            viewer.open_series(MESH_SERIES)  # a user tries the 3D model
            viewer.page.wait_for_timeout(3000)
            after_mesh = viewer.current_image()
            viewer.show_series(RENDER_SERIES)
            front_uid, front = viewer.current_image(), viewer.drawn()
            viewer.show_image(ASYMMETRY)
            heat_uid, heat = viewer.current_image(), viewer.drawn()
            viewer.screenshot(ARTIFACTS / f"ohif3d-{version}-asymmetry.png", heat.viewport_box)
            heat_doc = _docs_png(
                heat.viewport_png, ARTIFACTS / f"ohif3d-{version}-asymmetry-docs.png"
            )
            viewer.open_sr(expected_labels=len(expected))
            sr_uid, drawn = viewer.current_image(), viewer.drawn()
            panel = viewer.panel_text()
            viewer.screenshot(ARTIFACTS / f"ohif3d-{version}-sr-page.png")
            sr_doc = _docs_png(drawn.viewport_png, ARTIFACTS / f"ohif3d-{version}-sr-docs.png")
            console = list(viewer.console)
        with viewer_page(browser) as viewer:
            viewer.open_study(server.url, s.uid)
            panel_tracked = viewer.open_sr_and_track(rows=len(listed))
            tracked = viewer.drawn()
            viewer.screenshot(ARTIFACTS / f"ohif3d-{version}-tracked.png")
            after = list(viewer.console)
    finally:
        server.stop()

    # 1. the study lists the photos, the renderings and the 3D SR; the mesh objects as
    #    unsupported entries that open nothing (and break nothing)
    by_number: dict[int, list[Series]] = {}
    for e in entries:
        by_number.setdefault(e.number, []).append(e)
    assert [(e.modality, e.thumbnail, e.flagged) for e in by_number[PHOTO_SERIES]] == [
        ("XC", True, False)
    ]
    renders = by_number[RENDER_SERIES]
    assert [(e.modality, e.description, e.instances, e.thumbnail, e.flagged) for e in renders] == [
        ("OT", "facenode AI 3D renderings", 4, True, False)
    ]
    reports = by_number[REPORT3D_SERIES_NUMBER]
    assert [(e.modality, e.description, e.thumbnail, e.flagged) for e in reports] == [
        ("SR", "facenode AI 3D measurements", False, False)
    ]
    meshes = by_number[MESH_SERIES]  # one display set per object: STL, OBJ, MTL
    assert len(meshes) == 3 and all(e.modality == "M3D" and e.flagged for e in meshes)
    assert not any(e.thumbnail for e in meshes)
    assert "SOP Class UID is not supported" in mesh_note
    assert after_mesh == before_mesh  # the viewport kept its image
    refused = [c for c in console if "Unsupported displaySet" in c]
    assert refused and all(c.startswith("[warning]") for c in refused)

    # 2. the renderings on screen: the front, then the asymmetry map, each its SC's pixels
    assert front_uid == str(front_sc.SOPInstanceUID) and heat_uid == str(heat_sc.SOPInstanceUID)
    for shown, sc in ((front, front_sc), (heat, heat_sc)):
        pixels = shown.image_pixels((int(sc.Columns), int(sc.Rows)))
        assert pixels.std() > 20, "a blank canvas"
        assert _correlation(shown, sc) > 0.9
    heat_pixels = heat.image_pixels((int(heat_sc.Columns), int(heat_sc.Rows)))
    assert _saturated(heat_pixels) > 0.5 * _saturated(heat_sc.pixel_array) > 0.01

    # 3. the SR on the front rendering: no error, every family labelled with the SR's
    #    values, boxes clear of each other at fit-to-window
    assert sr_uid == str(front_sc.SOPInstanceUID)
    failures = [c for c in console if FAILURE.search(c) or _error(c)]
    assert failures == [], "\n".join(failures[:5])
    skipped = [c for c in console if any(h in c for h in FAILING_HINTS)]
    assert skipped == [], "\n".join(skipped[:5])
    assert "Something went wrong" not in panel
    assert _correlation(drawn, front_sc) > 0.6  # the rendering under the annotations
    labels = drawn_labels(drawn.labels)
    assert set(labels) == set(expected)
    for name, (value, unit) in expected.items():
        said, said_unit = labels[name]
        assert said_unit == unit == s.values[name][1], name
        assert said == pytest.approx(value, abs=0.0051) == pytest.approx(s.values[name][0]), name
    assert {"mm", "deg"} <= {unit for _, unit in labels.values()}
    rows = int(front_sc.Rows)
    assert drawn.image_scale[1] * rows >= RENDERING_SCREEN_PX  # what the ladder is spaced for
    assert len(drawn.boxes) == families
    assert drawn.overlaps() == []
    assert _inside(drawn)
    regions = np.concatenate(region_points(s.sr))
    assert nearest(drawn.to_canvas(regions), drawn.vertices).max() < 1.5
    dots = drawn.to_canvas(landmark_points(s.sr))
    assert len(dots) > 68 and nearest(dots, drawn.circles).max() < 1.5

    # 4. tracked: the panel lists every measurement with the SR's value and unit, the
    #    rendering the same texts, none overlapping, none in px
    assert_tracked(panel_tracked, tracked.labels, listed)
    assert tracked.overlaps() == [] and _inside(tracked)
    errors = [c for c in after if (FAILURE.search(c) or _error(c)) and TOOL_STATE not in c]
    assert errors == [], "\n".join(errors[:5])

    # 5. the README's copies are small
    assert sr_doc <= DOC_PNG_BYTES and heat_doc <= DOC_PNG_BYTES
