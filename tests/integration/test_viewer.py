"""The node's SR in the viewer clinics use: OHIF (prebuilt npm ``@ohif/app``, two pinned
versions) served same-origin with a ``/dicom-web/`` proxy to a real Orthanc with its
DICOMweb plugin, in headless Chromium driven by Playwright.

Two real analyses of a real portrait (scikit-image's astronaut): one whose scale comes from
the iris (MediaPipe backend) and one from an assumed interpupillary distance (dlib: no iris
points). For each, the study (photo, SR, annotated SCs) is stored in Orthanc, opened in
OHIF, the SR is opened, and the test asserts: no error in the console, a photo on screen
(not a black viewport), every measurement labelled with its name, value and unit as the SR
holds them (the first five of each family's annotation: OHIF shows five lines), and every
drawn shape where the SR's coordinates put it, on the face.

Label boxes: OHIF puts each box 25 px right of and below an anchor on its shape and keeps
it there in image space (3.12: the first two points of the polyline; 3.13: the shape's
right edge and vertical middle; ``tests/support/ohif_sr_model.text_box_anchor``). The SR
leads each family's outline with a point that puts both anchors on a ladder beside the
face (``dicom/sr_layout.py``), so once the view is zoomed to the face (face
``FACE_SCREEN_PX`` tall, as a user zooms to read it) the test asserts that no two boxes
overlap (> 2 px) and that all lie inside the viewport, on a 1920 × 1080 page. At
fit-to-window the whole 512-px photo shows the face ≈ 200 px tall for ≈ 640 px of label
text, and the boxes overlap whatever the shapes; that count is only reported.

The measurement panel lists only measurements OHIF *tracks*: when the SR opens, its
viewport asks "Do you want to continue tracking measurements for this study?" (3.12.10
and 3.13.2 alike, ``TrackedMeasurementsContext`` → ``promptHydrateStructuredReport``;
a click elsewhere dismisses it for good, and the SR badge offers no "load" for an SR), and
"Yes" hydrates every group whose Tracking Identifier names a cornerstone tool
(``hydrateStructuredReport`` → @cornerstonejs/adapters ``MeasurementReport
.generateToolState``). The families are not such groups (the measuring tools re-measure a
shape in pixels on a photo: ``tests/support/ohif_sr_model.remeasured``); each measurement
also has an ``ArrowAnnotate`` group (``dicom/sr_arrows.py``): an arrow at its landmark whose
text is the group's Comment "<name>: <value> <unit>" and whose text box sits on a ladder
right of the face (Cornerstone3D's "Text Annotation Position"). So a second page opens the
SR, answers "Yes", and the test asserts: the panel lists every measurement of the SR by
name with its value and unit ("Additional Findings (55)" on the astronaut), nothing in px,
the photo then shows the same texts, and zoomed to the face no two arrow boxes overlap (the
ladder is then taller than the viewport: the user pans). The adapter probes every group
for a tool and logs "Unable to generate tool state" (a TypeError it catches) for each
landmark group, which has no region: expected, and the only console error allowed there.
Before tracking, the SR view draws each arrow as a short tick at its landmark, no text.

Screenshots: ``test-artifacts/viewer/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pytest
from pydicom import dcmread
from skimage.data import astronaut

from analysis.overlay import render_overlays
from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
from analysis.types import FaceBox, ScaleSource, View
from config.norms import load_tables
from dicom.context import ResultContext
from dicom.photo import dataset_to_photo
from dicom.results import build_results
from dicom.sr_layout import FACE_SCREEN_PX
from dicom.wrap import wrap_rgb_image
from tests.support.ohif_server import OHIF_VERSIONS, OhifServer, ohif_dist
from tests.support.orthanc import new_orthanc
from tests.support.viewer import FAILURE, Drawn, png_rgb, viewer_page
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

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "viewer"
#: case → (landmark backend, expected scale source, patient name)
CASES = {
    "iris-scale": ("mediapipe", ScaleSource.IRIS_DIAMETER, "Müller^Zoë"),
    "assumed-ipd": ("dlib", ScaleSource.ASSUMED_IPD, "Test^Astronaut"),
}
LABEL_WIDTH_PX = 480  # the widest label line: a 64-character name, value and unit


@dataclass
class Study:
    uid: str
    sr: hd.sr.Comprehensive3DSR
    face: FaceBox


def _study(case: str, out: Path) -> Study:
    backend, scale_source, patient = CASES[case]
    photo = wrap_rgb_image(
        astronaut(),
        patient_name=patient,
        patient_id=f"VIEW-{case}",
        patient_sex="F",
        view=View.FRONTAL,
        series_description="Facial photographs – frontal",
    )
    result = PhotoAnalyzer(AnalysisOptions(backend=backend, tables=load_tables())).analyze(
        dataset_to_photo(photo)
    )
    assert result.face_found and result.scale is not None and result.landmarks is not None
    assert result.scale.source == scale_source, result.scale
    assert result.landmarks.box is not None
    ctx = ResultContext.new(software_version="0.1.0", station_name="FACENODE", device_serial="T1")
    outputs = build_results(photo, result, render_overlays(dataset_to_photo(photo), result), ctx)
    out.mkdir(parents=True, exist_ok=True)
    photo.save_as(out / "photo.dcm", enforce_file_format=True)
    for i, ds in enumerate(outputs):
        ds.save_as(out / f"result-{i}.dcm", enforce_file_format=True)
    sr = hd.sr.Comprehensive3DSR.from_dataset(dcmread(out / "result-0.dcm"))
    return Study(str(photo.StudyInstanceUID), sr, result.landmarks.box)


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, Study]]]:
    """Both studies stored in one Orthanc with DICOMweb, for every test of the module."""
    require_tools()
    root = tmp_path_factory.mktemp("viewer")
    made = {case: _study(case, root / case) for case in CASES}
    orthanc = new_orthanc(root / "orthanc")
    orthanc.start({}, dicomweb=True)
    try:
        for case in CASES:
            for path in sorted((root / case).glob("*.dcm")):
                orthanc.upload(path)
        yield orthanc, made
    finally:
        orthanc.stop()


def _close_up(sr: hd.sr.Comprehensive3DSR, drawn: Drawn) -> tuple[tuple[float, float], float]:
    """Centre and zoom (× fit) at which the face is :data:`FACE_SCREEN_PX` (+ 3 %) tall,
    centred on the face and its label column (which starts right of the face)."""
    face = landmark_points(sr)
    (x0, y0), (x1, y1) = face.min(axis=0), face.max(axis=0)
    scale = 1.03 * FACE_SCREEN_PX / (y1 - y0)
    zoom = scale / float(drawn.image_scale[1])
    right = x1 + (LABEL_WIDTH_PX + 25) / scale  # the widest label box's right edge
    return ((x0 + right) / 2, (y0 + y1) / 2 + 40 / scale), zoom


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("version", OHIF_VERSIONS)
def test_ohif_draws_the_sr_with_named_measurements_on_the_face(
    version: str,
    case: str,
    studies: tuple[Any, dict[str, Study]],
    browser: Any,
    tmp_path: Path,
) -> None:
    orthanc, made = studies
    study = made[case]
    expected = expected_labels(study.sr)
    families = len(drawn_groups(study.sr))
    assert 8 <= families <= 14, "one label box per family of measurements"
    assert len(expected) >= 30, "a frontal photo gives the full measurement catalogue"
    server = OhifServer(ohif_dist(version), tmp_path / "overlay", orthanc.http_port).start()
    try:
        with viewer_page(browser) as viewer:
            viewer.open_study(server.url, study.uid)
            viewer.open_sr(expected_labels=len(expected))
            drawn = viewer.drawn()
            panel = viewer.panel_text()
            viewer.screenshot(ARTIFACTS / f"ohif-{version}-{case}.png")
            viewer.screenshot(
                ARTIFACTS / f"ohif-{version}-{case}-viewport.png", clip=drawn.viewport_box
            )
            fitted = drawn.overlaps()
            centre, zoom = _close_up(study.sr, drawn)
            viewer.zoom_to(centre, zoom)
            close = viewer.drawn()
            viewer.screenshot(ARTIFACTS / f"ohif-{version}-{case}-face.png", close.viewport_box)
            console = list(viewer.console)
            failures = viewer.failures()
        # 6. tracked (a fresh page: the prompt comes when the SR opens)
        listed = arrow_labels(study.sr)
        with viewer_page(browser) as viewer:
            viewer.open_study(server.url, study.uid)
            panel_tracked = viewer.open_sr_and_track(rows=len(listed))
            tracked = viewer.drawn()
            viewer.screenshot(ARTIFACTS / f"ohif-{version}-{case}-tracked.png")
            viewer.zoom_to(centre, zoom)
            tracked_close = viewer.drawn()
            viewer.screenshot(
                ARTIFACTS / f"ohif-{version}-{case}-tracked-face.png", tracked_close.viewport_box
            )
            after = list(viewer.console)
    finally:
        server.stop()

    # 1. no error: no error boundary, no exception, no skipped annotation
    assert failures == [], "\n".join(failures)
    skipped = [line for line in console if any(h in line for h in FAILING_HINTS)]
    assert skipped == [], "\n".join(skipped[:5])
    assert "Something went wrong" not in panel

    # 2. the photo is on screen: the image area is lit and textured, the margins are black
    rgb = png_rgb(drawn.viewport_png).astype(float)
    (x0, y0) = np.floor(drawn.image_origin).astype(int)
    (x1, y1) = np.ceil(drawn.to_canvas(np.array([512.0, 512.0]))).astype(int)
    image = rgb[max(y0, 0) : y1, max(x0, 0) : x1]
    assert image.mean() > 60 and image.std() > 30, (image.mean(), image.std())
    if x0 > 20:  # the letterbox left of the photo is black (but for the overlay text)
        margin = rgb[5:-5, 5 : x0 - 5].max(axis=2)
        assert (margin < 16).mean() > 0.9

    # 3. every measurement labelled "<name>: <value> <unit>" with the SR's value and unit
    labels = drawn_labels(drawn.labels)
    assert set(labels) == set(expected)
    for name, (value, unit) in expected.items():
        assert labels[name][1] == unit, name
        assert labels[name][0] == pytest.approx(value, abs=0.0051), name

    # 4. every shape where the SR's coordinates put it, and the landmarks on the face
    regions = np.concatenate(region_points(study.sr))
    assert nearest(drawn.to_canvas(regions), drawn.vertices).max() < 1.5
    landmarks = drawn.to_canvas(landmark_points(study.sr))
    assert len(drawn.circles) >= len(landmarks) > 60
    assert nearest(landmarks, drawn.circles).max() < 1.5
    f = study.face
    margin = 0.35 * max(f.x1 - f.x0, f.y1 - f.y0)  # forehead and chin reach past the box
    lo = drawn.to_canvas(np.array([f.x0 - margin, f.y0 - margin]))
    hi = drawn.to_canvas(np.array([f.x1 + margin, f.y1 + margin]))
    assert ((landmarks >= lo) & (landmarks <= hi)).all()
    # each family's outline on the face; its leader point (first) sets the label's place
    outlines = drawn.to_canvas(np.concatenate([r[1:] for r in region_points(study.sr)]))
    assert ((outlines >= lo) & (outlines <= hi)).all()

    # 5. zoomed to the face, the label boxes form a ladder right of it: none overlaps
    #    another, and all lie inside the viewport (at fit-to-window they cannot: see above)
    assert len(close.boxes) == families
    assert close.overlaps() == [], (close.overlaps(), f"{len(fitted)} pairs at fit")
    x, y, w, h = close.boxes.T
    (_, _, vw, vh) = close.viewport_box
    assert (x >= 0).all() and (y >= 0).all() and (x + w <= vw).all() and (y + h <= vh).all()
    assert nearest(close.to_canvas(regions), close.vertices).max() < 1.5

    # 6. once tracked, the panel lists every measurement by name with the SR's value and
    #    unit (the arrows' comments), none re-measured in pixels; the photo shows the
    #    arrows with the same text, their boxes a ladder that does not overlap close up
    assert_tracked(panel_tracked, tracked.labels, listed)
    assert tracked_close.overlaps() == []
    # the adapter probes every group for a tool; the landmark groups (no region) make it
    # warn "Unable to generate tool state" and skip them, as it should
    errors = [c for c in after if FAILURE.search(c) and "Unable to generate tool state" not in c]
    assert errors == [], "\n".join(errors[:5])
