"""Norm tables and finding rules as typed values: what :mod:`config.norms` reads from TOML
and what :mod:`analysis.findings` evaluates.

This module reads no files (the import-linter contract in ``pyproject.toml`` lets
``analysis`` import it, and forbids :mod:`config.norms` and :mod:`config.settings`): the
node loads the tables once with :func:`config.norms.load_tables` and hands them to the
analysis as a :class:`FindingTables`. The vocabularies below are the ones the loader
validates against. It imports nothing from the project but the error root (it only knows
measurement ids as strings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from config.errors import FacenodeError

SEXES: Final = ("M", "F", "any")
UNITS: Final = ("mm", "deg", "{ratio}", "%")
SEVERITIES: Final = ("info", "mild", "moderate", "marked")
GRADED: Final = "graded"
Z_TESTS: Final = frozenset({"z_above", "z_below", "abs_z_above"})
VALUE_TESTS: Final = frozenset({"value_above", "value_below", "abs_value_above"})
RANGE_TESTS: Final = frozenset({"below_min", "above_max", "outside_range"})
TESTS: Final = Z_TESTS | VALUE_TESTS | RANGE_TESTS
TEXT_FIELDS: Final = frozenset(
    {
        "name",
        "measurement",
        "value",
        "unit",
        "mean",
        "sd",
        "z",
        "min",
        "max",
        "direction",
        "population",
        "citation",
    }
)


class NormsError(FacenodeError, ValueError):
    """A norm table or rules file is invalid; the message lists every problem found."""


@dataclass(frozen=True)
class NormRow:
    """Reference value of one measurement for one sex and population."""

    measurement_id: str
    mean: float
    sd: float
    sex: str
    population: str
    citation: str
    unit: str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class NormTable:
    """All norm rows, looked up by measurement (or norm key) and sex."""

    rows: tuple[NormRow, ...]
    source: str = ""

    def lookup(self, measurement_id: str, sex: str | None) -> NormRow | None:
        """The row for ``sex`` ("M"/"F"), else the "any" row, else None."""
        wanted = sex if sex in ("M", "F") else "any"
        fallback = None
        for row in self.rows:
            if row.measurement_id != measurement_id:
                continue
            if row.sex == wanted:
                return row
            if row.sex == "any":
                fallback = row
        return fallback

    def measurement_ids(self) -> frozenset[str]:
        return frozenset(r.measurement_id for r in self.rows)


@dataclass(frozen=True)
class Condition:
    """One test of one measurement against its norm or a fixed threshold."""

    measurement_id: str
    test: str
    threshold: float | None = None


@dataclass(frozen=True)
class Rule:
    """When to raise a finding, how severe it is and how to word it."""

    id: str
    title: str
    conditions: tuple[Condition, ...]
    severity: str
    text: str
    combine: str = "any"


@dataclass(frozen=True)
class FindingTables:
    """One norm table and the rules judged against it, loaded together and used together."""

    norms: NormTable
    rules: tuple[Rule, ...]


def check_rules_against_norms(
    rules: tuple[Rule, ...], norms: NormTable, norm_key: Callable[[str], str] | None = None
) -> None:
    """Raise NormsError when a z or range test has no norm row (or no min/max) to use.

    ``norm_key`` maps a measurement id to the key its norms are stored under (the
    catalogue's norm key); identity when omitted.
    """
    key: Callable[[str], str] = norm_key or (lambda m: m)
    problems: list[str] = []
    for rule in rules:
        for c in rule.conditions:
            if c.test in VALUE_TESTS:
                continue
            k = key(c.measurement_id)
            row = norms.lookup(k, None)
            where = f"rule {rule.id!r}, condition on {c.measurement_id!r}"
            if row is None:
                problems.append(
                    f"{where}: test {c.test!r} needs a norm row for {k!r}, "
                    f"and {norms.source or 'the norm table'} has none"
                )
                continue
            for sex in ("M", "F", "any"):
                r = norms.lookup(k, sex)
                assert r is not None
                missing = {
                    "below_min": r.min is None,
                    "above_max": r.max is None,
                    "outside_range": r.min is None and r.max is None,
                }.get(c.test, False)
                if missing:
                    bound = {"below_min": "'min'", "above_max": "'max'"}.get(
                        c.test, "'min' or 'max'"
                    )
                    problems.append(
                        f"{where}: test {c.test!r} needs {bound} in the {k!r} row for sex {r.sex!r}"
                    )
    if problems:
        raise NormsError(
            "rules do not match the norm table:\n  - " + "\n  - ".join(dict.fromkeys(problems))
        )
