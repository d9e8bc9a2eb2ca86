"""AI findings: measurements judged against norm tables by declarative rules.

Rules and norms are data (``config/data/rules.toml``, ``config/data/norms.toml``, or a
clinic's own files) that the caller loads (:func:`config.norms.load_tables`) and passes in
as :class:`~config.tables.FindingTables`; this module reads no files, it only checks the
tables against the measurement catalogue (:func:`check_tables`) and evaluates them. Every
finding carries its evidence (value, norm mean and SD, z-score, population, citation), is
worded as an AI finding for review and never as a diagnosis.

Reliability
    A measurement with any flag other than those in :data:`SOFT_FLAGS` is not used: its
    rule is skipped (and logged). ``scale_assumed`` (a mm value resting on the assumed
    IPD) is allowed but halves the confidence, and the text says so;
    ``asymmetry_unconfirmed`` (:data:`NOTED_FLAGS`) is allowed and said in the text.
    When the photo as a whole failed a quality check, an ``info`` finding
    ``photo_quality`` says which.

Confidence
    The probability, under the measurement's own 1-sigma uncertainty, that the true value
    lies beyond the rule's boundary: Φ(|value − boundary| / uncertainty) (≥ 0.5 for a
    rule that fired), times :data:`DOWNGRADE` for soft flags.

Severity "graded"
    By how far the value lies beyond the boundary in norm SDs: < 1 mild, < 2 moderate,
    otherwise marked (fixed-value tests without a norm: mild).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from analysis import measurements as catalogue
from analysis.types import (
    ASYMMETRY_UNCONFIRMED,
    Evidence,
    Finding,
    Flag,
    Measurement,
    Quality,
    Severity,
)
from config.tables import (
    GRADED,
    Condition,
    FindingTables,
    NormRow,
    NormsError,
    NormTable,
    Rule,
    check_rules_against_norms,
)

log = logging.getLogger(__name__)

SOFT_FLAGS = frozenset({Flag.SCALE_ASSUMED})
#: Allowed without a downgrade but said in the text: the asymmetry is the landmark model's,
#: not confirmed in the photo. Models understate asymmetry, so a rule that fires on it
#: fires on a lower bound; one that does not fire proves nothing (and says nothing).
NOTED_FLAGS = frozenset({ASYMMETRY_UNCONFIRMED})
DOWNGRADE = 0.5
DISCLAIMER = "This is an AI finding for clinical review, not a diagnosis."
_PRECISION = {"mm": 1, "deg": 1, "%": 1, "{ratio}": 2, "[px]": 0}
_TEXT_UNIT = {"deg": "°", "{ratio}": "", "[px]": "px"}


def evaluate(
    measurements: Sequence[Measurement],
    quality: Quality,
    *,
    sex: str | None,
    tables: FindingTables,
) -> tuple[Finding, ...]:
    """Findings for one photo's measurements, judged by ``tables`` (see :func:`check_tables`)."""
    rules = evaluate_measurements(measurements, sex=sex, tables=tables)
    if not quality.reliable:
        return (_photo_quality_finding(quality), *rules)
    return rules


def evaluate_measurements(
    measurements: Sequence[Measurement],
    *,
    sex: str | None,
    tables: FindingTables,
) -> tuple[Finding, ...]:
    """The rules' findings on ``measurements`` alone, with no photo behind them: what the
    3D results use, whose values share the catalogue's ids but come from no one photo."""
    sex_key = sex.strip().upper() if isinstance(sex, str) else None
    if sex_key not in ("M", "F"):
        sex_key = None
    by_id = {m.id: m for m in measurements}
    out: list[Finding] = []
    for rule in tables.rules:
        finding = _evaluate_rule(rule, by_id, tables.norms, sex_key)
        if finding is not None:
            out.append(finding)
    return tuple(out)


def check_tables(tables: FindingTables) -> None:
    """Raise :class:`NormsError` unless the tables fit the measurement catalogue.

    Every rule must name catalogue measurements, every norm row a measurement or norm key
    in the catalogue's unit, and every z or range test must find its norm row. Run once
    when the tables are handed over (:class:`analysis.pipeline.PhotoAnalyzer` does), not
    per photo.
    """
    _check_against_catalogue(tables.norms, tables.rules)
    check_rules_against_norms(tables.rules, tables.norms, norm_key=_norm_key)


def _norm_key(measurement_id: str) -> str:
    try:
        return catalogue.definition(measurement_id).norm_key
    except KeyError:
        return measurement_id


def _check_against_catalogue(norms: NormTable, rules: tuple[Rule, ...]) -> None:
    ids = {d.id for d in catalogue.CATALOGUE}
    keys = ids | {d.norm_key for d in catalogue.CATALOGUE}
    units = {d.norm_key: d.unit for d in catalogue.CATALOGUE} | {
        d.id: d.unit for d in catalogue.CATALOGUE
    }
    problems = []
    for row in norms.rows:
        if row.measurement_id not in keys:
            problems.append(
                f"norm row for {row.measurement_id!r}: no such measurement or norm "
                "key in the catalogue"
            )
        elif units[row.measurement_id] != row.unit:
            problems.append(
                f"norm row for {row.measurement_id!r}: unit {row.unit!r}, but the "
                f"measurement is in {units[row.measurement_id]!r}"
            )
    for rule in rules:
        for c in rule.conditions:
            if c.measurement_id not in ids:
                problems.append(
                    f"rule {rule.id!r}: measurement {c.measurement_id!r} is not in the catalogue"
                )
    if problems:
        raise NormsError(
            "norms/rules do not match the measurement catalogue:\n  - "
            + "\n  - ".join(dict.fromkeys(problems))
        )


# --- one rule --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    measurement: Measurement
    norm: NormRow | None
    z: float | None
    excess_sd: float | None
    confidence: float
    direction: str
    downgraded: bool


def _evaluate_rule(
    rule: Rule, by_id: dict[str, Measurement], norms: NormTable, sex: str | None
) -> Finding | None:
    results: list[_Hit | None] = []
    for c in rule.conditions:
        m = by_id.get(c.measurement_id)
        if m is None:
            results.append(None)
            continue
        hard = [f for f in m.flags if f not in SOFT_FLAGS | NOTED_FLAGS]
        if hard:
            log.debug("rule %s: %s not used (%s)", rule.id, m.id, ", ".join(hard))
            results.append(None)
            continue
        results.append(_test(c, m, norms.lookup(_norm_key(m.id), sex)))
    hits = [h for h in results if h is not None]
    if rule.combine == "all":
        if not hits or len(hits) != len(results):
            return None
        confidence = min(h.confidence for h in hits)
    else:
        if not hits:
            return None
        confidence = max(h.confidence for h in hits)
    primary = max(hits, key=lambda h: h.confidence)
    severity = Severity(rule.severity) if rule.severity != GRADED else _grade(primary.excess_sd)
    return Finding(
        id=rule.id,
        title=rule.title,
        text=_text(rule, primary, hits),
        severity=severity,
        confidence=round(confidence, 3),
        evidence=tuple(_evidence(h) for h in hits),
    )


def _test(c: Condition, m: Measurement, norm: NormRow | None) -> _Hit | None:
    v = m.value
    if norm is not None and norm.unit != m.unit:
        norm = None  # e.g. a length left in pixels for want of a scale
    z = (v - norm.mean) / norm.sd if norm is not None else None
    t = c.threshold
    boundary: float | None = None
    if c.test in ("z_above", "z_below", "abs_z_above"):
        if norm is None or z is None or t is None:
            return None
        fired = {"z_above": z > t, "z_below": z < t, "abs_z_above": abs(z) > t}[c.test]
        if c.test == "abs_z_above":
            boundary = norm.mean + math.copysign(t, z) * norm.sd
        else:
            boundary = norm.mean + t * norm.sd
    elif c.test in ("value_above", "value_below", "abs_value_above"):
        if t is None:
            return None
        fired = {"value_above": v > t, "value_below": v < t, "abs_value_above": abs(v) > t}[c.test]
        boundary = math.copysign(t, v) if c.test == "abs_value_above" else t
    else:
        if norm is None:
            return None
        below = norm.min is not None and v < norm.min and c.test in ("below_min", "outside_range")
        above = norm.max is not None and v > norm.max and c.test in ("above_max", "outside_range")
        fired = below or above
        boundary = norm.min if below else norm.max if above else None
    if not fired or boundary is None:
        return None
    excess = abs(v - boundary) / norm.sd if norm is not None else None
    sigma = m.uncertainty if m.uncertainty > 0 else 0.0
    confidence = _phi(abs(v - boundary) / sigma) if sigma > 0 else 1.0
    downgraded = any(f in SOFT_FLAGS for f in m.flags)
    if downgraded:
        confidence *= DOWNGRADE
    reference = norm.mean if norm is not None else boundary
    direction = "below" if v < reference else "above"
    return _Hit(m, norm, z, excess, confidence, direction, downgraded)


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _grade(excess_sd: float | None) -> Severity:
    if excess_sd is None or excess_sd < 1.0:
        return Severity.MILD
    return Severity.MODERATE if excess_sd < 2.0 else Severity.MARKED


# --- wording ---------------------------------------------------------------------------


def _fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "n/a"
    return f"{x:.{_PRECISION.get(unit, 2)}f}"


def _fields(h: _Hit) -> dict[str, str]:
    m, n = h.measurement, h.norm
    u = m.unit
    return {
        "name": m.name,
        "measurement": m.id,
        "value": _fmt(m.value, u),
        "unit": _TEXT_UNIT.get(u, u),
        "mean": _fmt(n.mean if n else None, u),
        "sd": _fmt(n.sd if n else None, u),
        "z": "n/a" if h.z is None else f"{h.z:+.1f}",
        "min": _fmt(n.min if n else None, u),
        "max": _fmt(n.max if n else None, u),
        "direction": h.direction,
        "population": n.population if n else "no norm",
        "citation": n.citation if n else "",
    }


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r" ([.,;:)°%])", r"\1", text)
    return text.strip()


def _text(rule: Rule, primary: _Hit, hits: list[_Hit]) -> str:
    parts = [rule.text.format(**_fields(primary))]
    for h in hits:
        f = _fields(h)
        if h.norm is not None:
            parts.append(
                f"Evidence: {f['name']} = {f['value']} {f['unit']} versus a reference of "
                f"{f['mean']} ± {f['sd']} {f['unit']} (z = {f['z']}; {f['population']})."
            )
        else:
            parts.append(f"Evidence: {f['name']} = {f['value']} {f['unit']}.")
    if any(h.downgraded for h in hits):
        parts.append(
            "Confidence lowered: the millimetre scale is assumed from an average "
            "interpupillary distance."
        )
    if any(ASYMMETRY_UNCONFIRMED in h.measurement.flags for h in hits):
        parts.append(
            "The size of this asymmetry is the landmark model's and could not be confirmed "
            "in the photo; landmark models understate asymmetry, so it may be larger."
        )
    parts.append(DISCLAIMER)
    return _tidy(" ".join(parts))


def _evidence(h: _Hit) -> Evidence:
    n = h.norm
    return Evidence(
        measurement_id=h.measurement.id,
        value=h.measurement.value,
        unit=h.measurement.unit,
        norm_mean=n.mean if n else None,
        norm_sd=n.sd if n else None,
        z_score=None if h.z is None else round(h.z, 3),
        norm_citation=n.citation if n else "",
        population=n.population if n else "",
    )


def _photo_quality_finding(quality: Quality) -> Finding:
    flags = ", ".join(f.replace("_", " ") for f in quality.flags)
    return Finding(
        id="photo_quality",
        title="Photo quality limits the analysis",
        text=_tidy(
            f"The photo did not pass the automated quality checks ({flags}). Measurements "
            "are reported with these reasons attached, and findings that depend on affected "
            f"measurements were not raised. {DISCLAIMER}"
        ),
        severity=Severity.INFO,
        confidence=1.0,
    )
