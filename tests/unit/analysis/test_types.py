"""LandmarkSet validates its arrays in its constructor, and says what it got and expected."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from analysis.landmark_names import ALL_NAMES
from analysis.landmarks.semantic import SEMANTIC_SCHEME, semantic_rows
from analysis.types import InvalidInputError, LandmarkSet, ModelIdentity, SemanticLandmarks

MODEL = ModelIdentity("test", "Test model", "1", "MIT")


def _set(points: Any = None, confidence: Any = None, overall: Any = 0.9) -> LandmarkSet:
    pts = np.zeros((5, 2)) if points is None else points
    conf = np.full(len(pts), 0.8) if confidence is None else confidence
    return LandmarkSet("ibug68", pts, conf, overall, MODEL)


def test_well_formed_sets_are_accepted() -> None:
    ls = _set(np.arange(136, dtype=np.float32).reshape(68, 2), np.linspace(0, 1, 68), 1.0)
    assert ls.points.shape == (68, 2)
    _set(np.zeros((0, 2)), np.zeros(0), 0.0)  # a backend may return an empty set


def test_the_fused_ensemble_s_nan_holes_are_accepted() -> None:
    """The ensemble's ``semantic`` rows are NaN for every point no member found."""
    sem = SemanticLandmarks(points={"ibug_30": (10.0, 20.0)}, confidence={"ibug_30": 0.7},
                            sources=(MODEL,))
    pts, conf = semantic_rows(sem)
    assert np.isnan(pts).any()
    ls = LandmarkSet(SEMANTIC_SCHEME, pts, conf, 0.7, MODEL)
    assert ls.points.shape == (len(ALL_NAMES), 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"points": np.zeros((5, 3))}, "LandmarkSet.points must be N×2, got shape (5, 3)"),
        ({"points": np.zeros(10)}, "LandmarkSet.points must be N×2, got shape (10,)"),
        ({"points": [[0.0, 1.0]]}, "LandmarkSet.points must be N×2, got shape None"),
        ({"points": np.zeros((5, 2), dtype=np.int64)},
         "LandmarkSet.points must be float, got int64"),
        ({"points": np.array([[0.0, 1.0], [np.inf, 2.0]])},
         "LandmarkSet.points must be finite or NaN (absent), got ±inf in rows [1]"),
        ({"confidence": np.ones(4)},
         "LandmarkSet.confidence must have shape (5,) like the points, got (4,)"),
        ({"confidence": np.ones((5, 1))},
         "LandmarkSet.confidence must have shape (5,) like the points, got (5, 1)"),
        ({"confidence": np.array([0.5, 1.5, 0.5, np.nan, -0.1])},
         "LandmarkSet.confidence must lie in 0..1, got [1.5, nan, -0.1] in rows [1, 3, 4]"),
        ({"overall": 1.01}, "LandmarkSet.overall_confidence must be a finite number in 0..1, got 1.01"),
        ({"overall": float("nan")},
         "LandmarkSet.overall_confidence must be a finite number in 0..1, got nan"),
        ({"overall": "0.5"},
         "LandmarkSet.overall_confidence must be a finite number in 0..1, got '0.5'"),
    ],
)
def test_malformed_sets_are_refused_with_actual_and_expected(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=f"^{re.escape(message)}$"):
        _set(**kwargs)


def test_many_bad_rows_are_shortened() -> None:
    with pytest.raises(InvalidInputError, match=re.escape("in rows [0, 1, 2] …")):
        _set(confidence=np.full(5, 2.0))
