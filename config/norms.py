"""Norm tables and finding rules: TOML data files with their sources, read and validated.

Shipped defaults are ``config/data/norms.toml`` and ``config/data/rules.toml``;
:func:`load_tables` takes other files instead (tests, a clinic's own copies). The node
calls it once at start and passes the :class:`~config.tables.FindingTables` to the
analysis, which never reads files itself (:mod:`config.tables` holds the types). Loading
checks everything at once and raises :class:`NormsError` listing every problem with the
file, the entry and the key, so a table is fixed in one go. Whether the rules' measurements
exist and their norm rows are there is the catalogue's business:
:func:`analysis.findings.check_tables`. This module imports nothing from the rest of the
project but :mod:`config.tables` (it only knows measurement ids as strings).

Norm rows (``[[norm]]``)
    ``measurement`` (a measurement id or the catalogue's shared norm key, e.g.
    ``canthal_tilt`` for ``canthal_tilt_r``/``_l``), ``unit`` (UCUM: mm, deg, {ratio}, %),
    ``sex`` ("M", "F" or "any"), ``mean``, ``sd`` (> 0), optional ``min``/``max`` (a range
    the rules can test against), ``population``, ``citation``. Every measurement needs an
    "any" row (used when the patient's sex is unknown); at most one row per measurement
    and sex.

Rules (``[[rule]]``)
    ``id``, ``title``, ``severity`` ("info", "mild", "moderate", "marked" or "graded":
    by how far the value lies beyond the threshold), ``combine`` ("any", default, or
    "all"), ``text`` (may use the fields in :data:`TEXT_FIELDS` as ``{value}`` etc., no
    format specs) and one or more ``[[rule.condition]]`` with ``measurement``, ``test``
    (see :data:`TESTS`) and, for the z and value tests, ``threshold`` — taken literally:
    ``z_below = -2`` fires when z < −2, ``abs_z_above = 2`` when |z| > 2.
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from pathlib import Path
from typing import Any, Final

from config.tables import (
    GRADED,
    RANGE_TESTS,
    SEVERITIES,
    SEXES,
    TESTS,
    TEXT_FIELDS,
    UNITS,
    VALUE_TESTS,
    Z_TESTS,
    Condition,
    FindingTables,
    NormRow,
    NormsError,
    NormTable,
    Rule,
)

__all__ = [
    "DEFAULT_NORMS_PATH",
    "DEFAULT_RULES_PATH",
    "FindingTables",
    "NormsError",
    "load_norms",
    "load_rules",
    "load_tables",
]

DATA_DIR: Final = Path(__file__).resolve().parent / "data"
DEFAULT_NORMS_PATH: Final = DATA_DIR / "norms.toml"
DEFAULT_RULES_PATH: Final = DATA_DIR / "rules.toml"
_ID_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def load_tables(norms_path: Path | None = None, rules_path: Path | None = None) -> FindingTables:
    """Read and validate a norm table and a rules file (``None``: the shipped default)."""
    return FindingTables(norms=load_norms(norms_path), rules=load_rules(rules_path))


# --- loading ---------------------------------------------------------------------------


def load_norms(path: Path | None = None) -> NormTable:
    """Read and validate a norm table (``None``: the shipped default)."""
    p = Path(path) if path is not None else DEFAULT_NORMS_PATH
    doc = _read_toml(p)
    problems: list[str] = []
    entries = _entries(doc, "norm", p, problems)
    rows: list[NormRow] = []
    seen: set[tuple[str, str]] = set()
    for i, e in enumerate(entries, start=1):
        where = f"{p.name}: [[norm]] #{i}"
        mid = e.get("measurement")
        if isinstance(mid, str):
            where += f" ({mid!r})"
        before = len(problems)
        _unknown_keys(
            e,
            {"measurement", "unit", "sex", "mean", "sd", "min", "max", "population", "citation"},
            where,
            problems,
        )
        mid = _str(e, "measurement", where, problems)
        if mid and not _ID_RE.match(mid):
            problems.append(f"{where}: 'measurement' must be lower_snake_case, got {mid!r}")
        unit = _choice(e, "unit", UNITS, where, problems)
        sex = _choice(e, "sex", SEXES, where, problems)
        mean = _num(e, "mean", where, problems, required=True)
        sd = _num(e, "sd", where, problems, required=True)
        lo = _num(e, "min", where, problems, required=False)
        hi = _num(e, "max", where, problems, required=False)
        population = _str(e, "population", where, problems)
        citation = _str(e, "citation", where, problems)
        if sd is not None and not sd > 0:
            problems.append(f"{where}: 'sd' must be > 0, got {sd}")
        if lo is not None and hi is not None and not lo < hi:
            problems.append(f"{where}: 'min' ({lo}) must be below 'max' ({hi})")
        if mean is not None and lo is not None and mean < lo:
            problems.append(f"{where}: 'mean' ({mean}) is below 'min' ({lo})")
        if mean is not None and hi is not None and mean > hi:
            problems.append(f"{where}: 'mean' ({mean}) is above 'max' ({hi})")
        if mid and sex:
            if (mid, sex) in seen:
                problems.append(f"{where}: a second row for {mid!r}, sex {sex!r}")
            seen.add((mid, sex))
        if len(problems) == before:
            assert mid and unit and sex and mean is not None and sd is not None
            rows.append(NormRow(mid, mean, sd, sex, population or "", citation or "", unit, lo, hi))
    for mid in sorted({m for m, _ in seen}):
        if (mid, "any") not in seen:
            problems.append(
                f'{p.name}: {mid!r} has no sex = "any" row (used when the '
                "patient's sex is unknown)"
            )
    units: dict[str, str] = {}
    for r in rows:
        if units.setdefault(r.measurement_id, r.unit) != r.unit:
            problems.append(
                f"{p.name}: {r.measurement_id!r} rows disagree on the unit "
                f"({units[r.measurement_id]!r} vs {r.unit!r})"
            )
    _raise(problems, p)
    return NormTable(rows=tuple(rows), source=str(p))


def load_rules(path: Path | None = None) -> tuple[Rule, ...]:
    """Read and validate a rules file (``None``: the shipped default)."""
    p = Path(path) if path is not None else DEFAULT_RULES_PATH
    doc = _read_toml(p)
    problems: list[str] = []
    entries = _entries(doc, "rule", p, problems)
    rules: list[Rule] = []
    ids: set[str] = set()
    for i, e in enumerate(entries, start=1):
        where = f"{p.name}: [[rule]] #{i}"
        rid = e.get("id")
        if isinstance(rid, str):
            where += f" ({rid!r})"
        before = len(problems)
        _unknown_keys(
            e, {"id", "title", "severity", "combine", "text", "condition"}, where, problems
        )
        rid = _str(e, "id", where, problems)
        if rid and not _ID_RE.match(rid):
            problems.append(f"{where}: 'id' must be lower_snake_case, got {rid!r}")
        if rid in ids:
            problems.append(f"{where}: duplicate rule id {rid!r}")
        ids.add(rid or "")
        title = _str(e, "title", where, problems)
        severity = _choice(e, "severity", (*SEVERITIES, GRADED), where, problems)
        combine = e.get("combine", "any")
        if combine not in ("any", "all"):
            problems.append(f'{where}: \'combine\' must be "any" or "all", got {combine!r}')
        text = _str(e, "text", where, problems)
        if text:
            _check_template(text, where, problems)
        conditions = _conditions(e.get("condition"), where, problems)
        if len(problems) == before:
            assert rid and title and severity and text
            rules.append(Rule(rid, title, conditions, severity, text, str(combine)))
    _raise(problems, p)
    return tuple(rules)


# --- helpers ---------------------------------------------------------------------------


def _read_toml(p: Path) -> dict[str, Any]:
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise NormsError(f"{p}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise NormsError(f"{p}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise NormsError(f"{p}: cannot be read: {exc}") from None


def _entries(doc: dict[str, Any], table: str, p: Path, problems: list[str]) -> list[Any]:
    extra = sorted(set(doc) - {table, "schema"})
    if extra:
        problems.append(f"{p.name}: unknown top-level key(s) {extra}; expected [[{table}]]")
    schema = doc.get("schema", 1)
    if schema != 1:
        problems.append(f"{p.name}: 'schema' must be 1, got {schema!r}")
    entries = doc.get(table)
    if entries is None:
        problems.append(f"{p.name}: no [[{table}]] entries")
        return []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        problems.append(f"{p.name}: '{table}' must be an array of tables ([[{table}]])")
        return []
    return entries


def _conditions(raw: Any, where: str, problems: list[str]) -> tuple[Condition, ...]:
    if raw is None:
        problems.append(f"{where}: needs at least one [[rule.condition]]")
        return ()
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw) or not raw:
        problems.append(f"{where}: 'condition' must be one or more [[rule.condition]] tables")
        return ()
    out = []
    for j, c in enumerate(raw, start=1):
        w = f"{where} condition #{j}"
        before = len(problems)
        _unknown_keys(c, {"measurement", "test", "threshold"}, w, problems)
        mid = _str(c, "measurement", w, problems)
        test = _choice(c, "test", tuple(sorted(TESTS)), w, problems)
        threshold = _num(c, "threshold", w, problems, required=False)
        if test in Z_TESTS | VALUE_TESTS and threshold is None and "threshold" not in c:
            problems.append(f"{w}: test {test!r} needs a numeric 'threshold'")
        if test in RANGE_TESTS and "threshold" in c:
            problems.append(f"{w}: test {test!r} uses the norm's min/max; remove 'threshold'")
        if test in ("abs_z_above", "abs_value_above") and threshold is not None and threshold < 0:
            problems.append(f"{w}: test {test!r} needs a threshold >= 0, got {threshold}")
        if len(problems) == before:
            assert mid and test
            out.append(Condition(mid, test, threshold))
    return tuple(out)


def _check_template(text: str, where: str, problems: list[str]) -> None:
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        problems.append(
            f"{where}: 'text' is not a valid template ({exc}); write literal "
            "braces as {{ and }}"
        )
        return
    for _, field, spec, conv in parsed:
        if field is None:
            continue
        if field not in TEXT_FIELDS:
            problems.append(
                f"{where}: 'text' uses unknown field {{{field}}}; allowed: "
                + ", ".join(sorted(TEXT_FIELDS))
            )
        if spec or conv:
            problems.append(
                f"{where}: 'text' field {{{field}}} must not have a format spec "
                "or conversion (values are formatted for you)"
            )


def _unknown_keys(e: dict[str, Any], allowed: set[str], where: str, problems: list[str]) -> None:
    extra = sorted(set(e) - allowed)
    if extra:
        problems.append(f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}")


def _str(e: dict[str, Any], key: str, where: str, problems: list[str]) -> str | None:
    v = e.get(key)
    if v is None:
        problems.append(f"{where}: missing {key!r}")
        return None
    if not isinstance(v, str) or not v.strip():
        problems.append(f"{where}: {key!r} must be a non-empty string, got {v!r}")
        return None
    return v.strip()


def _choice(
    e: dict[str, Any], key: str, allowed: tuple[str, ...], where: str, problems: list[str]
) -> str | None:
    v = e.get(key)
    if v is None:
        problems.append(f"{where}: missing {key!r} (one of {', '.join(allowed)})")
        return None
    if v not in allowed:
        problems.append(f"{where}: {key!r} must be one of {', '.join(allowed)}; got {v!r}")
        return None
    return str(v)


def _num(
    e: dict[str, Any], key: str, where: str, problems: list[str], *, required: bool
) -> float | None:
    v = e.get(key)
    if v is None:
        if required:
            problems.append(f"{where}: missing {key!r}")
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        problems.append(f"{where}: {key!r} must be a finite number, got {v!r}")
        return None
    return float(v)


def _raise(problems: list[str], p: Path) -> None:
    if problems:
        raise NormsError(f"{p}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))
