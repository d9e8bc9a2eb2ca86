"""Views recognised from the photo itself and honestly handled (issue 12, item 4).

Real photos through the whole pipeline with its default (embedded MediaPipe) backend: the
right-lateral portrait of the shared data and its mirror image as the left-lateral one (no
real left-lateral photo is in the shared data), a real oblique portrait (a couple, the
larger face turned ≈ 30°), and the astronaut. A synthetic face turned in depth checks the
oblique result and the overlay gating without a model.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset

from analysis import quality
from analysis.overlay import render_overlays
from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
from analysis.quality.coverage import coverage_note, missing_measurements, valid_for
from analysis.types import Flag, Photo, PhotoAnalysis, View, ViewSource
from config.norms import load_tables
from tests.bench.photos import astronaut, data_root, read_rgb
from tests.support.fake_backend import FakeBackend, ibug68_face
from tests.unit.analysis.faces import FRONTAL_MM

OPTIONS = AnalysisOptions(tables=load_tables())
LATERAL = Path("photos", "dynaface", "img2-1024-right-lateral.jpg")
OBLIQUE = Path("photos", "frontal_dev", "deepface_couple.jpg")
LEFT_RIGHT_OVERLAYS = {"Facial midline", "Mirrored composites"}


def _shared(rel: Path) -> np.ndarray:
    path = data_root() / rel
    if not path.is_file():
        pytest.skip(f"shared data absent: {path}")
    rgb = read_rgb(path)
    assert rgb is not None, path
    return rgb


@pytest.fixture(scope="module")
def analyzer() -> PhotoAnalyzer:
    return PhotoAnalyzer(OPTIONS)


def _titles(photo: Photo, result: PhotoAnalysis) -> set[str]:
    return {title for title, _ in render_overlays(photo, result)}


# --- real lateral photos, both sides ------------------------------------------------------


@pytest.mark.parametrize("view", [View.PROFILE_RIGHT, View.PROFILE_LEFT])
def test_a_real_profile_is_recognised_and_measured_without_a_view_code(
    analyzer: PhotoAnalyzer, view: View
) -> None:
    rgb = _shared(LATERAL)
    if view is View.PROFILE_LEFT:
        rgb = np.ascontiguousarray(rgb[:, ::-1])
    photo = Photo(rgb)  # no View Code Sequence: view_hint None
    result = analyzer.analyze(photo)
    q = result.quality
    assert result.face_found and q is not None
    assert (q.view, q.view_source) == (view, ViewSource.PHOTO)
    nasolabial = result.measurement("nasolabial_angle").value
    nasofrontal = result.measurement("nasofrontal_angle").value
    assert 90.0 <= nasolabial <= 115.0
    assert 120.0 <= nasofrontal <= 150.0
    # the closed-mouth profile: the mouth is judged on the outline, not the guessed mesh
    assert Flag.MOUTH_OPEN not in q.flags and not q.mouth_open
    assert all(Flag.MOUTH_OPEN not in m.flags for m in result.measurements)
    # the message says what a profile leaves out, and why
    assert f"{view.value.replace('_', ' ')} view" in result.message
    assert "frontal measurements (not valid for a profile" in result.message
    assert not _titles(photo, result) & LEFT_RIGHT_OVERLAYS


def test_the_view_code_still_wins_and_gives_the_same_angles(analyzer: PhotoAnalyzer) -> None:
    rgb = _shared(LATERAL)
    seen = analyzer.analyze(Photo(rgb))
    told = analyzer.analyze(Photo(rgb, view_hint=View.PROFILE_RIGHT))
    assert told.quality is not None and told.quality.view_source is ViewSource.DICOM
    for mid in ("nasolabial_angle", "nasofrontal_angle"):
        assert seen.measurement(mid).value == pytest.approx(told.measurement(mid).value)


def test_the_pose_alone_calls_the_real_profile_oblique() -> None:
    """Why the photo's evidence is needed: the frontal model's PnP puts it under 60°."""
    from analysis.landmarks import get_backend
    from analysis.landmarks.semantic import to_semantic

    rgb = _shared(LATERAL)
    [face] = get_backend("mediapipe", None).detect(rgb)
    semantic = to_semantic(face)
    pose, _ = quality.estimate_pose(semantic, rgb.shape[1], rgb.shape[0], rigid_only=True)
    assert pose is not None and quality.view_from_yaw(pose.yaw) is View.OBLIQUE_RIGHT
    points = {k: np.asarray(v) for k, v in semantic.points.items()}
    eyes = quality.eye_width_ratio(points)
    assert eyes is not None and eyes[0] < quality.EYE_GONE_RATIO
    assert eyes[1] is View.PROFILE_RIGHT  # the wider eye is the one the camera sees


# --- frontal and oblique --------------------------------------------------------------------


def test_the_astronaut_stays_frontal_with_its_left_right_overlays(
    analyzer: PhotoAnalyzer,
) -> None:
    photo = Photo(astronaut())
    result = analyzer.analyze(photo)
    assert result.quality is not None
    assert (result.quality.view, result.quality.view_source) == (View.FRONTAL, ViewSource.POSE)
    assert "view:" not in result.message  # a frontal result needs no note
    assert LEFT_RIGHT_OVERLAYS <= _titles(photo, result)


@pytest.mark.parametrize("view", [View.OBLIQUE_RIGHT, View.OBLIQUE_LEFT])
def test_a_real_oblique_photo_says_what_was_not_made_and_why(
    analyzer: PhotoAnalyzer, view: View
) -> None:
    rgb = _shared(OBLIQUE)
    if view is View.OBLIQUE_LEFT:  # the mirror image turns the head the other way
        rgb = np.ascontiguousarray(rgb[:, ::-1])
    photo = Photo(rgb)
    result = analyzer.analyze(photo)
    q = result.quality
    assert q is not None and q.pose is not None and 20.0 < abs(q.pose.yaw) < 45.0
    assert (q.view, q.view_source) == (view, ViewSource.POSE)
    assert result.measurements == ()
    side = view.value.replace("_", " ")
    assert f"{side} view: no catalogue measurement is valid for it" in result.message
    assert f"not valid for an {side} view: a turned head foreshortens" in result.message
    assert _titles(photo, result) == {"Landmarks"}  # no midline, composite or fifths


def _turned(yaw_deg: float) -> dict[str, tuple[float, float]]:
    """FRONTAL_MM turned in depth by ``yaw_deg`` (orthographic): the face recedes toward
    its sides and the nose stands out, so the far side foreshortens."""
    a = math.radians(yaw_deg)
    nose = {"ibug_28": 12.0, "ibug_29": 16.0, **{f"ibug_{i}": 20.0 for i in range(30, 36)}}
    out = {}
    for name, (x, y) in FRONTAL_MM.items():
        z = 0.012 * x * x - nose.get(name, 0.0)  # mm away from the camera
        out[name] = (x * math.cos(a) - z * math.sin(a), y)
    return out


def _synthetic(yaw_deg: float) -> tuple[Photo, PhotoAnalysis]:
    photo = Photo(np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8))
    backend = FakeBackend(faces=[ibug68_face(_turned(yaw_deg))])
    return photo, PhotoAnalyzer(OPTIONS, backend=backend).analyze(photo)


def test_a_synthetic_oblique_face_is_oblique_with_its_message() -> None:
    photo, result = _synthetic(30.0)
    q = result.quality
    assert q is not None and q.view is View.OBLIQUE_RIGHT and q.view_source is ViewSource.POSE
    assert result.measurements == ()
    n_frontal = sum(1 for m in valid_for(View.FRONTAL) if m not in valid_for(View.PROFILE_RIGHT))
    assert f"not made: {n_frontal} frontal and" in result.message
    assert _titles(photo, result) == {"Landmarks"}


def test_a_turned_frontal_face_gets_no_left_right_overlay() -> None:
    photo, result = _synthetic(18.0)
    q = result.quality
    assert q is not None and q.view is View.FRONTAL and Flag.HEAD_ROTATED in q.flags
    titles = _titles(photo, result)
    assert not titles & LEFT_RIGHT_OVERLAYS
    assert {"Landmarks", "Thirds and fifths"} <= titles

    photo, straight = _synthetic(0.0)
    assert straight.quality is not None and straight.quality.flags == ()
    assert LEFT_RIGHT_OVERLAYS <= _titles(photo, straight)


# --- the pieces -------------------------------------------------------------------------


def test_coverage_note_and_missing_measurements_agree() -> None:
    profile_ids = valid_for(View.PROFILE_RIGHT)
    frontal_only = [m for m in valid_for(View.FRONTAL) if m not in profile_ids]
    note = coverage_note(profile_ids[:-1], View.PROFILE_RIGHT)
    assert note.startswith(
        f"profile right view: {len(profile_ids) - 1} of its {len(profile_ids)} measurements made"
    )
    assert f"{len(frontal_only)} frontal measurements (not valid for a profile right view" in note
    assert "1 profile measurement (landmarks needed were not found)" in note
    reasons = [r for r, _ in missing_measurements(profile_ids[:-1], View.PROFILE_RIGHT)]
    assert reasons == ["not valid for a profile right view", "landmarks needed were not found"]


def _lips(open_mm: float) -> dict[str, np.ndarray]:
    """Profile lip points (mm, nose toward +x); ``open_mm`` parts the lips."""
    pts = {
        "subnasale": (0.0, 0.0),
        "labrale_superius": (2.0, 16.0),
        "stomion": (-2.0, 25.0 + 0.5 * open_mm),
        "labrale_inferius": (1.0, 34.0 + open_mm),
        "soft_tissue_menton": (-10.0, 70.0 + open_mm),
    }
    return {k: np.asarray(v) for k, v in pts.items()}


def test_profile_mouth_is_judged_on_the_outline() -> None:
    assert not quality.profile_mouth_open(_lips(0.0))
    assert quality.profile_mouth_open(_lips(25.0))  # the lips parted: a long labial chord
    deep = _lips(0.0)
    deep["stomion"] = np.array([-10.0, 25.0])  # the outline runs in to the teeth
    assert quality.profile_mouth_open(deep)
    assert not quality.profile_mouth_open({})


def test_an_outline_alone_is_no_face_unless_it_is_clearly_one(analyzer: PhotoAnalyzer) -> None:
    # A coffee cup re-encoded as JPEG traces a weak "profile" outline; with no face model
    # and no view code behind it, the report must say there is no face.
    import cv2
    from skimage.data import coffee

    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(coffee(), cv2.COLOR_RGB2BGR))
    assert ok
    pixels = cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    result = analyzer.analyze(Photo(np.ascontiguousarray(pixels)))
    assert not result.face_found and "No face" in result.message


# --- the result objects of a mirrored (left) lateral photo ---------------------------------


def _content(items: Sequence[Dataset]) -> Iterator[Dataset]:
    for item in items:
        yield item
        yield from _content(item.get("ContentSequence", []))


def _code_of(sr: Dataset, concept: str) -> str:
    [item] = [i for i in _content(sr.ContentSequence)
              if i.ConceptNameCodeSequence[0].CodeMeaning == concept]  # fmt: skip
    return str(item.ConceptCodeSequence[0].CodeMeaning)


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (Debian package poppler-utils) is not installed")
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                         text=True, check=True, timeout=60)  # fmt: skip
    return " ".join(out.stdout.split())


def test_a_mirrored_lateral_is_reported_as_a_left_profile_and_says_how_sure(
    analyzer: PhotoAnalyzer, tmp_path: Path
) -> None:
    """The right-lateral portrait flipped: the landmark model barely finds this face, so
    the view rests on the photo's profile outline. Every result object calls it a left
    profile; none compares left with right; the low confidence is stated, not hidden."""
    from dicom.context import ResultContext
    from dicom.photo import dataset_to_photo
    from dicom.results import build_results
    from dicom.wrap import wrap_rgb_image

    source = wrap_rgb_image(np.ascontiguousarray(_shared(LATERAL)[:, ::-1]))
    photo = dataset_to_photo(source)
    assert photo.view_hint is None  # no View Code Sequence: the photo decides
    result = analyzer.analyze(photo)
    q = result.quality
    assert q is not None and (q.view, q.view_source) == (View.PROFILE_LEFT, ViewSource.PHOTO)
    right = analyzer.analyze(Photo(_shared(LATERAL)))
    for mid in ("nasolabial_angle", "nasofrontal_angle"):  # a mirror keeps every angle
        assert result.measurement(mid).value == pytest.approx(right.measurement(mid).value,
                                                               abs=1.0)  # fmt: skip
    overlays = render_overlays(photo, result)
    assert {t for t, _ in overlays} == {"Landmarks", "Angles"}
    sr, *scs, pdf = build_results(source, result, overlays, ResultContext.new())
    assert len(scs) == len(overlays)
    assert _code_of(sr, "Image View") == "left lateral"
    text = _pdf_text(bytes(pdf.EncapsulatedDocument), tmp_path)
    assert "profile left (estimated)" in text
    assert "The view (profile left) was estimated from the photo" in text
    if result.reliable:
        assert _code_of(sr, "Result reliability") == "Reliable"
    else:  # low confidence: said in the SR, the report and the message
        assert _code_of(sr, "Result reliability") == "Unreliable"
        assert "UNRELIABLE" in text and "UNRELIABLE" in result.message
        for flag in q.flags:
            assert flag in result.message
