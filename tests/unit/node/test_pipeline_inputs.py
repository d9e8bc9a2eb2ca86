"""What the node hands the analysis: options fixed once, the sex with each photo, its own
identity as the equipment — no per-photo swapping of a shared analyzer's options."""

from __future__ import annotations

from typing import Any

import pytest

import analysis.pipeline
import node.worker_task
from analysis.types import ImageArray, LandmarkSet
from config.settings import Settings
from dicom.equipment import OUR_MANUFACTURER, OUR_MODEL_NAME
from node import __version__
from node.pipeline import Analyzers, analyse_dataset, node_context
from tests.factories import DLIB_MODEL, make_photo_analysis, make_vl_photo


class AstronautBackend:
    """Stands in for a landmark model: the astronaut's recorded dlib points."""

    identity = DLIB_MODEL

    def detect(self, image: ImageArray) -> list[LandmarkSet]:
        landmarks = make_photo_analysis().landmarks
        assert landmarks is not None
        return [landmarks]


@pytest.fixture
def sexes_seen(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The sex each analysis judged by; the result objects are not built (slow, and
    tested in tests/unit/dicom)."""
    monkeypatch.setattr(analysis.pipeline, "get_backend", lambda *a: AstronautBackend())
    monkeypatch.setattr(node.worker_task, "render_overlays", lambda photo, result: [])
    monkeypatch.setattr(node.worker_task, "build_results", lambda *a, **k: [])
    seen: list[str | None] = []
    real = analysis.pipeline.findings.evaluate

    def evaluate(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["sex"])
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis.pipeline.findings, "evaluate", evaluate)
    return seen


def test_the_sex_comes_with_each_photo_and_the_options_stay(
    settings: Settings, sexes_seen: list[str | None]
) -> None:
    analyzers = Analyzers(settings)
    analyzer = analyzers.get()
    options = analyzer.options
    for stored in ("M", "F", "O", "M"):
        ds = make_vl_photo(patient_sex=stored)
        outcome = analyse_dataset(ds, analyzer, node_context(settings))
        assert outcome.analysis is not None and outcome.analysis.face_found
    assert sexes_seen == ["M", "F", None, "M"]
    assert analyzer.options is options and analyzers.get() is analyzer


def test_node_context_is_the_node_and_its_settings(settings: Settings) -> None:
    ctx = node_context(settings)
    assert (ctx.manufacturer, ctx.model_name) == (OUR_MANUFACTURER, OUR_MODEL_NAME)
    assert ctx.software_version == __version__
    assert ctx.station_name == settings.ae_title
    assert node_context(settings).sr_series_uid != ctx.sr_series_uid  # a new batch each time
