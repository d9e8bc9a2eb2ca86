"""Closed vocabularies: a drifted name fails loudly, stored values stay what they were."""

from __future__ import annotations

import pytest

from analysis.types import (
    Finding,
    Flag,
    InvalidInputError,
    Measurement,
    Severity,
    ViewSource,
)
from config.tables import SEVERITIES
from tests.factories import make_photo_analysis


def test_an_unknown_flag_is_refused_with_the_known_ones() -> None:
    with pytest.raises(InvalidInputError, match="unknown flag 'small_face'.*face_too_small"):
        Measurement("a", "A", 1.0, "mm", 0.1, ("x",), flags=("small_face",))


def test_flags_given_as_strings_become_members_in_order_without_repeats() -> None:
    m = Measurement("a", "A", 1.0, "mm", 0.1, ("x",), flags=("blurred", "head_rotated", "blurred"))
    assert m.flags == (Flag.BLURRED, Flag.HEAD_ROTATED)
    assert all(type(f) is Flag for f in m.flags)


def test_stored_values_are_unchanged() -> None:
    # Written to SRs, summaries and job rows by earlier versions: never renamed.
    assert Flag.FACE_TOO_SMALL == "face_too_small"
    assert Flag.ASYMMETRY_UNCONFIRMED == "asymmetry_unconfirmed"
    assert Flag.SCALE_ASSUMED == "scale_assumed"
    assert [s.value for s in ViewSource] == ["dicom", "pose", "photo"]  # members only added


def test_the_rules_severities_are_the_findings_severities() -> None:
    assert tuple(s.value for s in Severity) == SEVERITIES


def test_an_unknown_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="extreme"):
        Finding("f", "F", "text", "extreme", 0.5)  # type: ignore[arg-type]


def test_a_photo_analysis_carries_members() -> None:
    result = make_photo_analysis(flags=("blurred",))
    assert result.quality is not None and result.quality.flags == (Flag.BLURRED,)
    assert type(result.quality.view_source) is ViewSource
    assert all(type(f.severity) is Severity for f in result.findings)
