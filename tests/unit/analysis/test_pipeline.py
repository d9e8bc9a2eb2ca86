"""PhotoAnalyzer with a fake landmark backend: what the pipeline itself adds (no face as a
result, the stage order, timings, the main face) in milliseconds, without any model."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.pipeline import AnalysisOptions, PhotoAnalyzer
from analysis.types import Photo, View
from config.norms import load_tables
from tests.support.fake_backend import FAKE_MODEL, FakeBackend, ibug68_face, wide_nosed_face

OPTIONS = AnalysisOptions(tables=load_tables())
STAGES = ["landmarks", "semantic", "refine", "quality", "scale", "measurements", "findings"]


def _photo(view: View | None = View.FRONTAL) -> Photo:
    pixels = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    return Photo(pixels, view_hint=view)


def test_no_face_is_a_result_that_says_so() -> None:
    backend = FakeBackend()
    result = PhotoAnalyzer(OPTIONS, backend=backend).analyze(_photo())
    assert backend.seen == [(512, 512)]
    assert result.face_found is False and not result.reliable
    assert "No face" in result.message
    assert result.measurements == () and result.findings == ()
    assert result.landmarks is None and result.quality is None and result.scale is None
    assert result.models == (FAKE_MODEL,)  # the SR still says which model looked
    assert list(result.timings_ms) == ["landmarks"]


def test_a_face_runs_every_stage_in_order_and_is_measured() -> None:
    backend = FakeBackend(faces=[wide_nosed_face()])
    result = PhotoAnalyzer(OPTIONS, backend=backend).analyze(_photo())
    assert backend.seen == [(512, 512)]
    assert result.face_found is True
    # the blank photo behind the fake face cannot confirm any asymmetry: withheld, and said
    head, _, withheld = result.message.partition("; not reported: ")
    assert head == "1 face(s) detected"
    assert "Chin (menton) deviation" in withheld and "not confirmed in this photo" in withheld
    assert "chin_deviation" not in {m.id for m in result.measurements}
    assert list(result.timings_ms) == STAGES  # insertion order = the order the stages ran
    assert all(ms >= 0.0 for ms in result.timings_ms.values())
    assert result.models[0] == FAKE_MODEL
    assert result.quality is not None and result.quality.view == View.FRONTAL
    assert result.scale is not None and result.scale.mm_per_px is not None
    # FRONTAL_MM: alar base 34 + 2·8 = 50 mm over an intercanthal width of 32 mm
    ratio = result.measurement("alar_intercanthal_ratio").value
    assert ratio == pytest.approx(50 / 32, rel=0.01)
    assert result.measurement("symmetry_index").value == pytest.approx(0.0, abs=1e-6)
    [finding] = [f for f in result.findings if f.id == "wide_nose"]
    assert [e.measurement_id for e in finding.evidence] == ["alar_intercanthal_ratio"]
    assert all(f.id != "facial_asymmetry" for f in result.findings)


def test_the_symmetric_face_raises_no_nose_finding() -> None:
    result = PhotoAnalyzer(OPTIONS, backend=FakeBackend(faces=[ibug68_face()])).analyze(_photo())
    assert result.measurement("alar_intercanthal_ratio").value == pytest.approx(34 / 32, rel=0.01)
    assert all(f.id != "wide_nose" for f in result.findings)


def test_of_several_faces_the_largest_is_analysed() -> None:
    small = ibug68_face(mm_per_px=2.0, origin=(60.0, 60.0))
    large = ibug68_face()
    result = PhotoAnalyzer(OPTIONS, backend=FakeBackend(faces=[small, large])).analyze(_photo())
    assert result.landmarks is large
    assert result.message.startswith("2 face(s) detected; the largest face was analysed")
    assert result.quality is not None and result.quality.face_count == 2


def test_a_backend_failure_is_not_swallowed() -> None:
    """The pipeline does not hide a crashing model; the node quarantines the photo."""
    analyzer = PhotoAnalyzer(OPTIONS, backend=FakeBackend(broken_width=512))
    with pytest.raises(RuntimeError, match="fake model crashed"):
        analyzer.analyze(_photo())
