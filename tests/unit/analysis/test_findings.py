"""Findings: rules fire or stay quiet, carry their evidence, respect reliability."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from analysis import findings, measurements
from analysis.types import Measurement, Scale, ScaleSource, View
from config.norms import load_tables
from config.tables import Condition, FindingTables, NormRow, NormsError, NormTable, Rule
from tests.unit.analysis.faces import (
    FRONTAL_MM,
    PROFILE_MM,
    pixel_scale,
    quality,
    semantic,
    to_pixels,
)

SHIPPED = load_tables()


def evaluate(
    ms: list[Measurement] | tuple[Measurement, ...],
    q: object = None,
    sex: str | None = None,
    tables: FindingTables = SHIPPED,
) -> dict[str, findings.Finding]:
    out = findings.evaluate(ms, q or quality(), sex=sex, tables=tables)  # type: ignore[arg-type]
    return {f.id: f for f in out}


def checked(norms: Path | None = None, rules: Path | None = None) -> FindingTables:
    """Tables as the node gets them: read by config.norms, checked by the analysis."""
    tables = load_tables(norms, rules)
    findings.check_tables(tables)
    return tables


def m(
    mid: str, value: float, unit: str, sigma: float = 0.0, flags: tuple[str, ...] = ()
) -> Measurement:
    return Measurement(mid, mid.replace("_", " "), value, unit, sigma, ("ibug_00",), None, flags)


def compute(
    mm: dict[str, tuple[float, float]],
    view: View = View.FRONTAL,
    scale: Scale | None = None,
    **q: object,
) -> tuple[Measurement, ...]:
    return measurements.compute(semantic(to_pixels(mm)), scale or pixel_scale(), quality(view, **q))  # type: ignore[arg-type]


def phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


# --- shipped tables -----------------------------------------------------------------------


def test_shipped_tables_match_the_catalogue() -> None:
    findings.check_tables(SHIPPED)
    keys = {d.norm_key for d in measurements.CATALOGUE} | {d.id for d in measurements.CATALOGUE}
    assert SHIPPED.norms.measurement_ids() <= keys
    assert len(SHIPPED.rules) >= 14


def test_the_symmetric_synthetic_face_raises_nothing() -> None:
    assert evaluate(compute(FRONTAL_MM)) == {}
    assert evaluate(compute(PROFILE_MM, View.PROFILE_RIGHT)) == {}


# --- one rule in detail ---------------------------------------------------------------------


def test_wide_nose_fires_with_its_evidence_and_wording() -> None:
    f = evaluate([m("alar_intercanthal_ratio", 1.3, "{ratio}", sigma=0.05)])["wide_nose"]
    # boundary = 1.0 + 2 × 0.1 = 1.2; the value is 2 sigma beyond it
    assert f.confidence == pytest.approx(phi(2.0), abs=1e-3)
    assert f.severity == "moderate"  # 1 SD beyond the threshold
    (ev,) = f.evidence
    assert (ev.measurement_id, ev.value, ev.unit) == ("alar_intercanthal_ratio", 1.3, "{ratio}")
    assert (ev.norm_mean, ev.norm_sd, ev.z_score) == (1.0, 0.1, pytest.approx(3.0))
    assert "Farkas" in ev.norm_citation and "canon" in ev.population
    assert "not a diagnosis" in f.text and "AI finding" in f.text
    assert "1.30" in f.text and "z = +3.0" in f.text
    assert "{" not in f.text


def test_sex_selects_the_norm_row() -> None:
    ms = [m("alar_intercanthal_ratio", 1.3, "{ratio}", sigma=0.05)]
    men = evaluate(ms, sex="M")["wide_nose"]
    assert men.evidence[0].norm_mean == 1.05 and "men" in men.evidence[0].population
    assert evaluate(ms, sex="f")["wide_nose"].evidence[0].norm_mean == 0.99
    assert evaluate(ms, sex="O")["wide_nose"].evidence[0].norm_mean == 1.0


def test_graded_severity() -> None:
    def sev(v: float) -> str:
        return evaluate([m("alar_intercanthal_ratio", v, "{ratio}", 0.01)])["wide_nose"].severity

    assert sev(1.25) == "mild"
    assert sev(1.35) == "moderate"
    assert sev(1.45) == "marked"


def test_a_value_within_the_norm_raises_nothing() -> None:
    assert "wide_nose" not in evaluate([m("alar_intercanthal_ratio", 1.15, "{ratio}", 0.05)])


def test_flagged_measurements_raise_nothing_and_the_photo_is_reported() -> None:
    ms = [m("alar_intercanthal_ratio", 1.5, "{ratio}", 0.05, flags=("blurred",))]
    out = evaluate(ms, q=quality(flags=("blurred",)))
    assert "wide_nose" not in out
    info = out["photo_quality"]
    assert info.severity == "info" and "blurred" in info.text and "not a diagnosis" in info.text


def test_measurements_alone_are_judged_as_a_photos_are_without_the_photo_finding() -> None:
    """What the 3D results use: the same rules, no photo and so no photo-quality finding."""
    ms = [m("alar_intercanthal_ratio", 1.5, "{ratio}", 0.05)]
    photo = findings.evaluate(ms, quality(flags=("blurred",)), sex="F", tables=SHIPPED)  # type: ignore[arg-type]
    alone = findings.evaluate_measurements(ms, sex="F", tables=SHIPPED)
    assert [f.id for f in photo] == ["photo_quality", "wide_nose"]
    assert alone == photo[1:]


def test_assumed_scale_halves_confidence_and_says_so() -> None:
    sure = evaluate([m("brow_height_difference", 6.0, "mm", 0.5)])["brow_asymmetry"]
    unsure = evaluate([m("brow_height_difference", 6.0, "mm", 0.5, ("scale_assumed",))])[
        "brow_asymmetry"
    ]
    assert unsure.confidence == pytest.approx(sure.confidence * findings.DOWNGRADE, abs=1e-3)
    assert "assumed" in unsure.text and "assumed" not in sure.text


def test_an_unconfirmed_asymmetry_still_fires_and_says_it_may_be_larger() -> None:
    sure = evaluate([m("chin_deviation", 6.0, "mm", 0.5)])["chin_deviation"]
    model_only = evaluate([m("chin_deviation", 6.0, "mm", 0.5, ("asymmetry_unconfirmed",))])[
        "chin_deviation"
    ]
    assert model_only.confidence == pytest.approx(sure.confidence)  # a lower bound: no penalty
    assert "could not be confirmed" in model_only.text and "may be larger" in model_only.text
    assert "confirmed" not in sure.text
    below = evaluate([m("chin_deviation", 0.5, "mm", 0.5, ("asymmetry_unconfirmed",))])
    assert "chin_deviation" not in below


def test_pixel_lengths_are_not_judged_against_mm_norms() -> None:
    assert evaluate([m("chin_projection", -300.0, "[px]", 1.0)]) == {}


# --- the required findings ---------------------------------------------------------------


@pytest.mark.parametrize(
    "finding,measurement,value,unit",
    [
        ("facial_asymmetry", "symmetry_index", 9.0, "%"),
        ("wide_nose", "alar_intercanthal_ratio", 1.4, "{ratio}"),
        ("long_nose", "nasal_height_ratio", 0.55, "{ratio}"),
        ("short_nose", "nasal_height_ratio", 0.35, "{ratio}"),
        ("thin_lips", "vermilion_mouth_ratio", 0.2, "{ratio}"),
        ("lip_ratio_atypical", "vermilion_ratio", 0.8, "{ratio}"),
        ("canthal_tilt_asymmetry", "canthal_tilt_difference", -6.0, "deg"),
        ("brow_asymmetry", "brow_height_difference", 4.5, "mm"),
        ("chin_deviation", "chin_deviation", -6.0, "mm"),
        ("nasal_tip_deviation", "nasal_tip_deviation", 4.0, "mm"),
        ("eyelid_aperture_asymmetry", "palpebral_fissure_height_ratio", 0.7, "{ratio}"),
        ("oral_commissure_asymmetry", "oral_commissure_height_difference", 4.0, "mm"),
        ("retrusive_chin", "chin_projection", -12.0, "mm"),
        ("retrusive_chin", "facial_convexity_angle", 155.0, "deg"),
        ("acute_nasolabial_angle", "nasolabial_angle", 82.0, "deg"),
        ("obtuse_nasolabial_angle", "nasolabial_angle", 126.0, "deg"),
        ("nasofrontal_angle_out_of_range", "nasofrontal_angle", 108.0, "deg"),
        ("nasofrontal_angle_out_of_range", "nasofrontal_angle", 150.0, "deg"),
    ],
)
def test_each_required_rule_fires(finding: str, measurement: str, value: float, unit: str) -> None:
    out = evaluate([m(measurement, value, unit, 0.01)])
    assert finding in out
    assert out[finding].evidence[0].measurement_id == measurement
    assert "{" not in out[finding].text


def test_nasofrontal_direction_is_worded() -> None:
    low = evaluate([m("nasofrontal_angle", 108.0, "deg", 1.0)])["nasofrontal_angle_out_of_range"]
    high = evaluate([m("nasofrontal_angle", 150.0, "deg", 1.0)])["nasofrontal_angle_out_of_range"]
    assert "below" in low.text and "above" in high.text
    assert "115.0-142.0°" in low.text


def test_retrusive_chin_carries_both_pieces_of_evidence() -> None:
    f = evaluate(
        [m("chin_projection", -12.0, "mm", 1.0), m("facial_convexity_angle", 155.0, "deg", 1.0)]
    )["retrusive_chin"]
    assert {e.measurement_id for e in f.evidence} == {"chin_projection", "facial_convexity_angle"}


# --- end to end from landmarks --------------------------------------------------------------


def test_ptosis_like_aperture_difference_from_landmarks() -> None:
    mm = dict(FRONTAL_MM)
    for i in (37, 38):  # right upper lid 4 mm lower
        x, y = mm[f"ibug_{i}"]
        mm[f"ibug_{i}"] = (x, y + 4.0)
    out = evaluate(compute(mm))
    f = out["eyelid_aperture_asymmetry"]
    assert f.evidence[0].value < 0.8 and "ptosis" in f.title


def test_wide_nose_from_landmarks_and_not_when_the_photo_is_blurred() -> None:
    mm = dict(FRONTAL_MM, ibug_31=(-24.0, 38.0), ibug_35=(24.0, 38.0))  # al-al 48 vs en-en 32
    assert "wide_nose" in evaluate(compute(mm))
    blurred = compute(mm, flags=("blurred",))
    assert "wide_nose" not in evaluate(blurred, q=quality(flags=("blurred",)))


def test_profile_findings_from_landmarks() -> None:
    mm = dict(PROFILE_MM)
    x, y = mm["columella"]
    sn = mm["subnasale"]
    # rotate the columella 25° down about subnasale: nasolabial 100° → 75°
    a = math.radians(25)  # image y points down: +25° turns the columella downward
    dx, dy = x - sn[0], y - sn[1]
    mm["columella"] = (
        sn[0] + dx * math.cos(a) - dy * math.sin(a),
        sn[1] + dx * math.sin(a) + dy * math.cos(a),
    )
    out = evaluate(compute(mm, View.PROFILE_RIGHT))
    assert "acute_nasolabial_angle" in out
    assert out["acute_nasolabial_angle"].evidence[0].value == pytest.approx(75.0, abs=1e-6)


# --- custom tables ------------------------------------------------------------------------


CUSTOM_NORMS = """schema = 1
[[norm]]
measurement = "mouth_width"
unit = "mm"
sex = "any"
mean = 50.0
sd = 3.0
population = "clinic sample"
citation = "local audit 2026"
"""

CUSTOM_RULES = """schema = 1
[[rule]]
id = "wide_mouth"
title = "Wide mouth"
severity = "mild"
text = "Mouth width {value} {unit} is {direction} {mean} {unit} ({population})."
[[rule.condition]]
measurement = "mouth_width"
test = "value_above"
threshold = {threshold}
"""


def test_custom_rules_and_norms_files(tmp_path: Path) -> None:
    norms = tmp_path / "norms.toml"
    rules = tmp_path / "rules.toml"
    norms.write_text(CUSTOM_NORMS)
    rules.write_text(CUSTOM_RULES.replace("{threshold}", "55.0"))
    ms = [m("mouth_width", 58.0, "mm", 1.0), m("alar_intercanthal_ratio", 1.5, "{ratio}")]
    out = evaluate(ms, tables=checked(norms, rules))
    assert set(out) == {"wide_mouth"}  # the shipped rules are replaced, not added to
    f = out["wide_mouth"]
    assert f.severity == "mild"
    assert f.text.startswith("Mouth width 58.0 mm is above 50.0 mm (clinic sample).")
    assert f.confidence == pytest.approx(phi(3.0), abs=1e-3)
    assert f.evidence[0].norm_citation == "local audit 2026"


def test_evaluation_reads_no_files(tmp_path: Path) -> None:
    """The tables are read once by the caller; evaluating never goes back to the files."""
    norms = tmp_path / "norms.toml"
    rules = tmp_path / "rules.toml"
    norms.write_text(CUSTOM_NORMS)
    rules.write_text(CUSTOM_RULES.replace("{threshold}", "55.0"))
    tables = checked(norms, rules)
    norms.unlink()
    rules.unlink()
    assert "wide_mouth" in evaluate([m("mouth_width", 58.0, "mm", 1.0)], tables=tables)


def test_tables_built_in_memory() -> None:
    """Tables need not come from a file at all (the types live in config.tables)."""
    tables = FindingTables(
        norms=NormTable((NormRow("mouth_width", 50.0, 3.0, "any", "p", "c", "mm"),)),
        rules=(
            Rule(
                "wide_mouth",
                "Wide mouth",
                (Condition("mouth_width", "z_above", 2.0),),
                "mild",
                "Mouth {value} {unit}.",
            ),
        ),
    )
    findings.check_tables(tables)
    assert evaluate([m("mouth_width", 57.0, "mm", 0.1)], tables=tables)["wide_mouth"]
    assert evaluate([m("mouth_width", 55.0, "mm", 0.1)], tables=tables) == {}


def test_rules_must_name_catalogue_measurements(tmp_path: Path) -> None:
    norms = tmp_path / "norms.toml"
    rules = tmp_path / "rules.toml"
    norms.write_text(CUSTOM_NORMS)
    rules.write_text(
        CUSTOM_RULES.replace("{threshold}", "1").replace(
            'measurement = "mouth_width"\ntest', 'measurement = "mouth_wdth"\ntest'
        )
    )
    with pytest.raises(NormsError, match="measurement 'mouth_wdth' is not in the catalogue"):
        checked(norms, rules)


def test_norm_units_must_match_the_catalogue(tmp_path: Path) -> None:
    norms = tmp_path / "norms.toml"
    norms.write_text(CUSTOM_NORMS.replace('unit = "mm"', 'unit = "deg"'))
    with pytest.raises(NormsError, match="unit 'deg', but the measurement is in 'mm'"):
        checked(norms)


def test_z_tests_need_their_norm_row_under_the_catalogue_key(tmp_path: Path) -> None:
    norms = tmp_path / "norms.toml"
    norms.write_text(CUSTOM_NORMS)  # no canthal_tilt rows, which shipped rules z-test
    with pytest.raises(NormsError, match="needs a norm row"):
        checked(norms)


def test_combine_all_needs_every_condition(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("""schema = 1
[[rule]]
id = "both"
title = "Both"
severity = "info"
combine = "all"
text = "Both."
[[rule.condition]]
measurement = "mouth_width"
test = "value_above"
threshold = 55.0
[[rule.condition]]
measurement = "alar_width"
test = "value_above"
threshold = 40.0
""")
    one = [m("mouth_width", 58.0, "mm", 1.0), m("alar_width", 35.0, "mm", 1.0)]
    two = [m("mouth_width", 58.0, "mm", 1.0), m("alar_width", 42.0, "mm", 1.0)]
    tables = checked(rules=rules)
    assert evaluate(one, tables=tables) == {}
    f = evaluate(two, tables=tables)["both"]
    assert f.severity == "info" and len(f.evidence) == 2
    assert f.confidence == pytest.approx(min(phi(3.0), phi(2.0)), abs=1e-3)


def test_scale_source_round_trip_through_compute() -> None:
    assumed = Scale(mm_per_px=0.25, source=ScaleSource.ASSUMED_IPD, relative_uncertainty=0.056)
    mm = dict(FRONTAL_MM)
    for i in range(17, 22):  # right brow 5 mm higher
        x, y = mm[f"ibug_{i}"]
        mm[f"ibug_{i}"] = (x, y - 5.0)
    f = evaluate(compute(mm, scale=assumed))["brow_asymmetry"]
    assert f.confidence <= findings.DOWNGRADE
    assert f.evidence[0].value == pytest.approx(5.0)
