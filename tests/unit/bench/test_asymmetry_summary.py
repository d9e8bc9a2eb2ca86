"""The asymmetry benchmark's summary maths, on hand-made rows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bench.asymmetry_summary import (
    markdown_table,
    summarise,
    summarise_noise,
    summarise_timing,
)


def _row(side: str, expected: float, measured: float | None, confirmed: bool,
         u: float | None = 0.5, kind: str = "chin_shift") -> dict[str, Any]:  # fmt: skip
    return {
        "config": "c", "kind": kind, "side": side, "expected_mm63": expected,
        "measured_mm63": measured, "u_mm63": u, "confirmed": confirmed,
    }  # fmt: skip


ROWS = [
    _row("r", 2.0, 2.0, True),  # exact
    _row("r", -2.0, -1.0, True),  # half; error 1.0 = 2 u
    _row("l", 2.0, -0.5, True),  # confirmed, wrong sign; error 2.5 = 5 u
    _row("l", 0.4, -0.3, True),  # opposite sign but |expected| < 0.5 mm: not counted
    _row("l", 2.0, 0.0, False),  # unconfirmed, measured nothing
    _row("r", 2.0, None, False),  # the warped face was lost: missing, not a value
]


def test_gains_are_least_squares_slopes_over_their_own_values() -> None:
    s = summarise(ROWS)["c"]["chin_shift"]
    both, right, left = s["both"], s["r"], s["l"]
    # all: e·m = 4 + 2 − 1 − 0.12 + 0 = 4.88; e·e = 4 + 4 + 4 + 0.16 + 4 = 16.16
    assert both["n"] == 5 and both["n_missing"] == 1
    assert both["gain_all"] == pytest.approx(4.88 / 16.16)
    # confirmed: the first four
    assert both["n_confirmed"] == 4 and both["coverage"] == pytest.approx(0.8)
    assert both["gain_confirmed"] == pytest.approx(4.88 / 12.16)
    assert right["gain_confirmed"] == pytest.approx(6.0 / 8.0)
    assert right["n"] == 2 and right["n_missing"] == 1 and right["coverage"] == 1.0
    assert left["gain_all"] == pytest.approx(-1.12 / 8.16)
    assert left["coverage"] == pytest.approx(2 / 3)


def test_withheld_values_count_against_coverage_not_as_missing() -> None:
    withheld = {**_row("l", 2.0, None, False), "withheld": True}
    s = summarise([*ROWS, withheld])["c"]["chin_shift"]["both"]
    assert (s["n"], s["n_withheld"], s["n_frontal"], s["n_missing"]) == (5, 1, 6, 1)
    assert s["coverage"] == pytest.approx(4 / 6)
    assert s["gain_all"] == pytest.approx(4.88 / 16.16)  # over the values reported


def test_wrong_signs_count_confirmed_values_opposite_a_real_expected_change() -> None:
    s = summarise(ROWS)["c"]["chin_shift"]
    assert s["both"]["wrong_sign_confirmed"] == 1  # not the 0.4 mm one
    assert s["l"]["wrong_sign_confirmed"] == 1 and s["r"]["wrong_sign_confirmed"] == 0
    rows = [*ROWS, _row("r", -1.0, 0.2, False)]  # unconfirmed wrong sign: only in "all"
    s = summarise(rows)["c"]["chin_shift"]["both"]
    assert (s["wrong_sign_confirmed"], s["wrong_sign_all"]) == (1, 2)


def test_uncertainty_coverage_is_the_share_of_errors_within_k_uncertainties() -> None:
    s = summarise(ROWS)["c"]["chin_shift"]["both"]
    # confirmed errors / u: 0, 2, 5, 1.4 → within 1u: 1 of 4; within 2u: 3 of 4
    assert s["within1u_confirmed"] == pytest.approx(0.25)
    assert s["within2u_confirmed"] == pytest.approx(0.75)
    # all five values (the unconfirmed one: error 2 = 4 u)
    assert s["within1u_all"] == pytest.approx(0.2)
    assert s["within2u_all"] == pytest.approx(0.6)
    assert s["n_u_all"] == 5
    # a value without an uncertainty is left out of the share, not counted as covered
    s = summarise([_row("r", 1.0, 1.0, True, u=None), _row("r", 1.0, 3.0, True)])
    b = s["c"]["chin_shift"]["both"]
    assert (b["within2u_confirmed"], b["n_u_confirmed"]) == (0.0, 1)


def test_rms_error_and_an_empty_subset() -> None:
    s = summarise(ROWS)["c"]["chin_shift"]["both"]
    assert s["rms_error_all"] == pytest.approx(((0 + 1 + 6.25 + 0.49 + 4) / 5) ** 0.5)
    lone = summarise([_row("r", 2.0, 1.0, False)])["c"]["chin_shift"]["both"]
    assert lone["gain_confirmed"] is None and lone["coverage"] == 0.0
    assert lone["within1u_confirmed"] is None


def test_noise_floor_over_all_and_confirmed_values_and_per_variant() -> None:
    def noise(variant: str, change: float | None, confirmed: bool) -> dict[str, Any]:
        return {"config": "c", "kind": "brow_lift", "variant": variant,
                "change_mm63": change, "confirmed": confirmed}  # fmt: skip

    nf = summarise_noise([
        noise("jpeg85", 0.3, True), noise("jpeg85", -0.4, False),
        noise("shift1,2", 1.2, False), noise("shift1,2", None, False),
    ])["c"]["brow_lift"]  # fmt: skip
    assert nf["n"] == 3 and nf["n_missing"] == 1
    assert nf["rms_all"] == pytest.approx(((0.09 + 0.16 + 1.44) / 3) ** 0.5)
    assert nf["rms_confirmed"] == pytest.approx(0.3) and nf["n_confirmed"] == 1
    assert nf["max_abs_all"] == pytest.approx(1.2)
    assert nf["by_variant_all"]["jpeg85"] == pytest.approx(0.125**0.5)
    assert nf["by_variant_confirmed"]["shift1,2"] is None


def test_timing_ratios_are_to_detect_alone() -> None:
    times = [{"what": "detect", "ms": v} for v in (30, 40, 50)]
    times += [{"what": "default", "ms": v} for v in (100, 120, 400)]
    t = summarise_timing(times)
    assert t["median_ms"] == {"detect": 40.0, "default": 120.0}
    assert t["ratio_to_detect"]["default"] == pytest.approx(3.0)


def test_the_markdown_table_has_one_row_per_warp_with_both_sides() -> None:
    rows = ROWS + [{**r, "config": "plain"} for r in ROWS]
    rows += [_row("r", 2.0, 2.0, True, kind="brow_lift")]
    report = {"summary": summarise(rows), "noise_floor": {}}
    md = markdown_table(report, "c", "plain").splitlines()
    assert len(md) == 2 + 2  # header, rule, chin, brow
    chin = next(line for line in md if line.startswith("| chin shift"))
    assert "(0.75 / " in chin and "| 1 |" in chin  # right's confirmed gain; one wrong sign
    assert md[0].count("|") == md[1].count("|") == chin.count("|")
