"""Norm and rule tables: the shipped files are valid, and bad files fail with clear errors."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from config.norms import (
    DEFAULT_NORMS_PATH,
    DEFAULT_RULES_PATH,
    load_norms,
    load_rules,
    load_tables,
)
from config.tables import Condition, NormsError, Rule, check_rules_against_norms

ROW = """
[[norm]]
measurement = "{mid}"
unit = "{unit}"
sex = "{sex}"
mean = {mean}
sd = {sd}
population = "test population"
citation = "test citation"
"""

RULE = """
[[rule]]
id = "{rid}"
title = "A title"
severity = "{severity}"
text = "{text}"
[[rule.condition]]
measurement = "alar_intercanthal_ratio"
test = "{test}"
{threshold}
"""


def write(tmp_path: Path, name: str, body: str) -> Path:
    p = tmp_path / name
    p.write_text("schema = 1\n" + body, encoding="utf-8")
    return p


def row(
    mid: str = "alar_width",
    unit: str = "mm",
    sex: str = "any",
    mean: object = 33.0,
    sd: object = 2.0,
) -> str:
    return ROW.format(mid=mid, unit=unit, sex=sex, mean=mean, sd=sd)


def rule(
    rid: str = "wide_nose",
    severity: str = "graded",
    text: str = "Value {value}.",
    test: str = "z_above",
    threshold: str = "threshold = 2.0",
) -> str:
    return RULE.format(rid=rid, severity=severity, text=text, test=test, threshold=threshold)


# --- shipped tables ----------------------------------------------------------------------


def test_shipped_norms_load_with_sources() -> None:
    table = load_norms()
    assert len(table.rows) >= 30
    for r in table.rows:
        assert r.citation and r.population, r.measurement_id
        assert r.sd > 0
    assert table.lookup("nasolabial_angle", "F").sex == "F"  # type: ignore[union-attr]
    assert table.lookup("nasolabial_angle", None).sex == "any"  # type: ignore[union-attr]
    assert table.lookup("symmetry_index", "M").sex == "any"  # type: ignore[union-attr]
    assert table.lookup("nope", None) is None


def test_shipped_rules_load_and_match_the_norms() -> None:
    rules = load_rules()
    ids = {r.id for r in rules}
    assert {
        "facial_asymmetry",
        "wide_nose",
        "long_nose",
        "short_nose",
        "thin_lips",
        "lip_ratio_atypical",
        "canthal_tilt_asymmetry",
        "brow_asymmetry",
        "chin_deviation",
        "eyelid_aperture_asymmetry",
        "retrusive_chin",
        "acute_nasolabial_angle",
        "obtuse_nasolabial_angle",
        "nasofrontal_angle_out_of_range",
    } <= ids
    # (checked against the norms with the catalogue's norm keys in test_findings.py)


def test_defaults_are_package_data_files() -> None:
    assert DEFAULT_NORMS_PATH.is_file() and DEFAULT_RULES_PATH.is_file()
    assert DEFAULT_NORMS_PATH.parent.name == "data"


@pytest.mark.parametrize("module", ["norms.py", "tables.py"])
def test_config_imports_nothing_from_the_project(module: str) -> None:
    project = {"analysis", "dicom", "node", "models", "reconstruction"}
    tree = ast.parse(Path(__file__).parents[3].joinpath("config", module).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not {a.name.split(".")[0] for a in node.names} & project
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in project


def test_the_types_module_reads_no_files() -> None:
    """analysis may import config.tables (pyproject's import-linter contract), so it must
    not open files or parse TOML."""
    tree = ast.parse(Path(__file__).parents[3].joinpath("config", "tables.py").read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"tomllib", "pathlib", "os", "io", "json"}
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name)}
    assert "open" not in calls


def test_load_tables_reads_both_files(tmp_path: Path) -> None:
    shipped = load_tables()
    assert shipped.norms == load_norms() and shipped.rules == load_rules()
    custom = load_tables(rules_path=write(tmp_path, "r.toml", rule()))
    assert custom.norms == shipped.norms and [r.id for r in custom.rules] == ["wide_nose"]


# --- norm table errors -------------------------------------------------------------------


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(NormsError, match="file not found"):
        load_norms(tmp_path / "absent.toml")
    p = write(tmp_path, "bad.toml", "[[norm]\n")
    with pytest.raises(NormsError, match="not valid TOML"):
        load_norms(p)


def test_every_problem_is_listed_with_its_place(tmp_path: Path) -> None:
    body = (
        row(sd=0)
        + row(mid="intercanthal_width", sex="X")
        + row(mid="mouth_width", mean='"wide"')
        + row(mid="face_height", unit="cm")
    )
    with pytest.raises(NormsError) as exc:
        load_norms(write(tmp_path, "n.toml", body))
    msg = str(exc.value)
    assert "4 problem(s)" in msg
    assert "n.toml: [[norm]] #1 ('alar_width'): 'sd' must be > 0, got 0.0" in msg
    assert "#2 ('intercanthal_width'): 'sex' must be one of M, F, any; got 'X'" in msg
    assert "#3 ('mouth_width'): 'mean' must be a finite number, got 'wide'" in msg
    assert "#4 ('face_height'): 'unit' must be one of mm, deg, {ratio}, %; got 'cm'" in msg


def test_missing_and_unknown_keys(tmp_path: Path) -> None:
    body = '[[norm]]\nmeasurement = "alar_width"\nunit = "mm"\nsex = "any"\nmean = 1\nstdev = 2\n'
    with pytest.raises(NormsError) as exc:
        load_norms(write(tmp_path, "n.toml", body))
    msg = str(exc.value)
    assert "unknown key(s) ['stdev']" in msg
    assert "missing 'sd'" in msg and "missing 'citation'" in msg


def test_every_measurement_needs_an_any_row_and_one_row_per_sex(tmp_path: Path) -> None:
    with pytest.raises(NormsError, match="'alar_width' has no sex = \"any\" row"):
        load_norms(write(tmp_path, "n.toml", row(sex="M")))
    with pytest.raises(NormsError, match="a second row for 'alar_width', sex 'any'"):
        load_norms(write(tmp_path, "n2.toml", row() + row()))


def test_range_must_be_ordered_and_contain_the_mean(tmp_path: Path) -> None:
    with pytest.raises(NormsError, match=r"'min' \(40.0\) must be below 'max' \(30.0\)"):
        load_norms(write(tmp_path, "n.toml", row() + "min = 40\nmax = 30\n"))
    with pytest.raises(NormsError, match=r"'mean' \(33.0\) is above 'max' \(32.0\)"):
        load_norms(write(tmp_path, "n2.toml", row() + "max = 32\n"))


def test_unknown_top_level_and_schema(tmp_path: Path) -> None:
    p = tmp_path / "n.toml"
    p.write_text("schema = 2\n[[norms]]\nx = 1\n", encoding="utf-8")
    with pytest.raises(NormsError) as exc:
        load_norms(p)
    assert "unknown top-level key(s) ['norms']" in str(exc.value)
    assert "'schema' must be 1" in str(exc.value)


# --- rules errors ------------------------------------------------------------------------


def test_valid_custom_rule(tmp_path: Path) -> None:
    (r,) = load_rules(write(tmp_path, "r.toml", rule()))
    assert r == Rule(
        "wide_nose",
        "A title",
        (Condition("alar_intercanthal_ratio", "z_above", 2.0),),
        "graded",
        "Value {value}.",
        "any",
    )


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"test": "bigger"}, "'test' must be one of"),
        ({"threshold": ""}, "test 'z_above' needs a numeric 'threshold'"),
        ({"test": "below_min"}, "test 'below_min' uses the norm's min/max; remove 'threshold'"),
        ({"text": "Value {valeu}."}, "'text' uses unknown field {valeu}"),
        ({"text": "Value {value:.2f}."}, "must not have a format spec"),
        ({"text": "Value {value."}, "'text' is not a valid template"),
        ({"severity": "severe"}, "'severity' must be one of info, mild, moderate, marked, graded"),
        ({"rid": "Wide Nose"}, "'id' must be lower_snake_case"),
    ],
)
def test_rule_errors_are_clear(tmp_path: Path, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(NormsError) as exc:
        load_rules(write(tmp_path, "r.toml", rule(**kwargs)))
    assert message in str(exc.value)
    assert "r.toml: [[rule]] #1" in str(exc.value)


def test_duplicate_rule_ids_and_missing_conditions(tmp_path: Path) -> None:
    with pytest.raises(NormsError, match="duplicate rule id 'wide_nose'"):
        load_rules(write(tmp_path, "r.toml", rule() + rule()))
    body = '[[rule]]\nid = "x"\ntitle = "t"\nseverity = "mild"\ntext = "t"\n'
    with pytest.raises(NormsError, match="needs at least one \\[\\[rule.condition\\]\\]"):
        load_rules(write(tmp_path, "r2.toml", body))


def test_rules_checked_against_norms(tmp_path: Path) -> None:
    norms = load_norms(
        write(
            tmp_path, "n.toml", row(mid="alar_intercanthal_ratio", unit="{ratio}", mean=1.0, sd=0.1)
        )
    )
    (z_rule,) = load_rules(write(tmp_path, "r.toml", rule()))
    check_rules_against_norms((z_rule,), norms)
    (range_rule,) = load_rules(write(tmp_path, "r2.toml", rule(test="above_max", threshold="")))
    with pytest.raises(NormsError, match="test 'above_max' needs 'max'"):
        check_rules_against_norms((range_rule,), norms)
    other = load_norms(write(tmp_path, "n2.toml", row()))
    with pytest.raises(NormsError, match="needs a norm row for 'alar_intercanthal_ratio'"):
        check_rules_against_norms((z_rule,), other)
