"""The asymmetry benchmark's summary: which values each gain is taken over."""

from __future__ import annotations

from typing import Any

import pytest

from tests.bench.bench_asymmetry import summarise


def _row(photo: str, expected: float, measured: float, confirmed: bool, flags: list[str]
         ) -> dict[str, Any]:  # fmt: skip
    return {
        "photo": photo, "config": "c", "kind": "chin_shift", "expected_mm63": expected,
        "measured_mm63": measured, "confirmed": confirmed, "other_flags": flags,
    }  # fmt: skip


def test_each_gain_is_taken_over_its_own_values() -> None:
    rows = [
        _row("frontal_neutral", 2.0, 2.0, True, []),  # gain 1, in every subset
        _row("frontal_smiling", 2.0, 1.0, True, ["smiling"]),  # not clean, frontal
        _row("turned", 2.0, 0.0, False, ["head_rotated"]),  # neither clean nor frontal
        _row("lost", 2.0, 0.0, False, ["missing"]),  # the warped face was not found
    ]
    s = summarise(rows)["c"]["chin_shift"]
    assert s["n"] == 4 and s["gain"] == pytest.approx(3.0 / 8.0)
    assert (s["confirmed_n"], s["confirmed_gain"]) == (2, pytest.approx(0.75))
    assert (s["clean_n"], s["clean_gain"], s["clean_confirmed_n"]) == (1, pytest.approx(1.0), 1)
    assert (s["frontal_n"], s["frontal_gain"]) == (2, pytest.approx(0.75))
    assert s["frontal_confirmed_n"] == 2
    assert s["per_photo_gain"]["turned"] == 0.0


def test_an_empty_subset_has_no_gain() -> None:
    s = summarise([_row("turned", 2.0, 1.0, False, ["head_rotated"])])["c"]["chin_shift"]
    assert s["frontal_n"] == 0 and s["frontal_gain"] is None and s["clean_gain"] is None


def test_the_frontal_noise_floor_leaves_out_turned_heads() -> None:
    from tests.bench.bench_asymmetry import summarise_noise

    def noise(change: float, flags: list[str]) -> dict[str, Any]:
        return {"photo": "p", "config": "c", "kind": "chin_shift", "variant": "jpeg75",
                "base_mm63": 1.0, "change_mm63": change, "confirmed": False,
                "other_flags": flags}  # fmt: skip

    nf = summarise_noise([noise(3.0, ["head_rotated"]), noise(0.4, ["smiling"]), noise(-0.4, [])])
    s = nf["c"]["chin_shift"]
    assert s["n"] == 3 and s["rms_change_mm63"] == pytest.approx((9.32 / 3) ** 0.5)
    assert s["frontal_n"] == 2 and s["frontal_rms_change_mm63"] == pytest.approx(0.4)
    assert s["confirmed_n"] == 0 and s["confirmed_rms_change_mm63"] is None


def test_the_refinement_noise_is_compared_with_its_model_pair_for_pair() -> None:
    from tests.bench.bench_asymmetry import summarise_noise

    def noise(cfg: str, variant: str, change: float, confirmed: bool) -> dict[str, Any]:
        return {"photo": "p", "config": cfg, "kind": "chin_shift", "variant": variant,
                "base_mm63": 1.0, "change_mm63": change, "confirmed": confirmed,
                "other_flags": []}  # fmt: skip

    nf = summarise_noise([
        noise("mediapipe", "jpeg75", 0.6, False), noise("mediapipe", "jpeg90", 2.0, False),
        noise("mediapipe+refine", "jpeg75", 0.3, True),  # confirmed: paired with 0.6
        noise("mediapipe+refine", "jpeg90", 5.0, False),  # not confirmed: left out
    ])  # fmt: skip
    s = nf["mediapipe+refine"]["chin_shift"]
    assert s["confirmed_rms_change_mm63"] == pytest.approx(0.3)
    assert s["confirmed_model_rms_change_mm63"] == pytest.approx(0.6)
    assert s["frontal_model_rms_change_mm63"] == pytest.approx(2.18**0.5)
    assert "confirmed_model_rms_change_mm63" not in nf["mediapipe"]["chin_shift"]
