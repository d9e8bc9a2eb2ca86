"""The asymmetry benchmark's figures from its rows, and the tables that print them.

Kept apart from the run (:mod:`tests.bench.bench_asymmetry`) so that the maths can be
tested on hand-made rows. All lengths are "mm at a 63 mm IPD" (``*_mm63``).

A warp row: ``config``, ``kind``, ``side`` ("r"/"l"), ``expected_mm63``, ``measured_mm63``
(None: the warped face or the value was lost), ``u_mm63`` (the combined 1-sigma
uncertainty sqrt(u_unwarped² + u_warped²), None if unknown) and ``confirmed`` (neither
value carries ``asymmetry_unconfirmed``). A noise row: ``config``, ``kind``, ``variant``,
``change_mm63`` (None: lost) and ``confirmed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from tests.bench import asymmetry_warps as aw

#: |expected| from which a measured change of the opposite sign counts as a wrong sign.
WRONG_SIGN_MIN_MM: float = 0.5
SIDES = ("both", "r", "l")
#: Short names of the measurements for the tables.
SHORT = {
    "oral_commissure_height_difference": "commissure height diff",
    "brow_height_difference": "brow height diff",
    "chin_deviation": "chin deviation",
    "nasal_tip_deviation": "nasal tip deviation",
    "palpebral_fissure_height_difference": "fissure height R - L",
}


def gain(expected: Sequence[float], measured: Sequence[float]) -> float | None:
    """Least-squares slope through the origin (None when there is nothing to fit)."""
    e, m = np.asarray(expected, float), np.asarray(measured, float)
    den = float(e @ e)
    return float(e @ m / den) if e.size and den > 0 else None


def _rms(values: Iterable[float]) -> float | None:
    a = np.asarray(list(values), float)
    return float(np.sqrt(np.mean(a**2))) if a.size else None


def wrong_signs(rows: Iterable[dict[str, Any]]) -> int:
    """Values whose measured change has the opposite sign of a non-trivial expected one."""
    return sum(
        1
        for r in rows
        if abs(r["expected_mm63"]) >= WRONG_SIGN_MIN_MM
        and r["expected_mm63"] * r["measured_mm63"] < 0
    )


def within(rows: Sequence[dict[str, Any]], k: float) -> tuple[float | None, int]:
    """(share of |measured − expected| ≤ k · u, over the rows that have u; how many had u)."""
    have = [r for r in rows if r.get("u_mm63") is not None]
    if not have:
        return None, 0
    hit = sum(abs(r["measured_mm63"] - r["expected_mm63"]) <= k * r["u_mm63"] for r in have)
    return hit / len(have), len(have)


def stats(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The figures of one set of warp rows (one warp kind, one or both sides)."""
    ok = [r for r in rows if r["expected_mm63"] is not None and r["measured_mm63"] is not None]
    conf = [r for r in ok if r["confirmed"]]
    # a value the analysis withheld (unconfirmed asymmetry is not reported) is a frontal
    # value it did not confirm: it counts against coverage, not as missing
    withheld = [r for r in rows if r["expected_mm63"] is not None and r["measured_mm63"] is None
                and r.get("withheld")]  # fmt: skip
    frontal = len(ok) + len(withheld)

    def em(sel: Sequence[dict[str, Any]]) -> tuple[list[float], list[float]]:
        return [r["expected_mm63"] for r in sel], [r["measured_mm63"] for r in sel]

    out: dict[str, Any] = {
        "n": len(ok),
        "n_missing": len(rows) - len(ok) - len(withheld),
        "n_withheld": len(withheld),
        "n_frontal": frontal,
        "n_confirmed": len(conf),
        "coverage": len(conf) / frontal if frontal else None,
        "gain_all": gain(*em(ok)),
        "gain_confirmed": gain(*em(conf)),
        "wrong_sign_confirmed": wrong_signs(conf),
        "wrong_sign_all": wrong_signs(ok),
        "rms_error_all": _rms(m - e for e, m in zip(*em(ok), strict=True)),
        "rms_error_confirmed": _rms(m - e for e, m in zip(*em(conf), strict=True)),
    }
    for label, sel in (("confirmed", conf), ("all", ok)):
        for k in (1, 2):
            out[f"within{k}u_{label}"], out[f"n_u_{label}"] = within(sel, k)
    return out


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """{config: {kind: {"both" | "r" | "l": :func:`stats`}}}."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for cfg in dict.fromkeys(r["config"] for r in rows):
        out[cfg] = {}
        for kind in aw.KINDS:
            sel = [r for r in rows if r["config"] == cfg and r["kind"] == kind]
            if sel:
                out[cfg][kind] = {
                    s: stats([r for r in sel if s == "both" or r["side"] == s]) for s in SIDES
                }
    return out


def summarise_noise(noise: Sequence[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """{config: {kind: RMS change over all values and over the confirmed ones (both the
    unwarped and the variant's value confirmed), the largest, and the RMS per variant}}."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for cfg in dict.fromkeys(r["config"] for r in noise):
        out[cfg] = {}
        for kind in aw.KINDS:
            sel = [r for r in noise if r["config"] == cfg and r["kind"] == kind]
            ok = [r for r in sel if r["change_mm63"] is not None]
            if not sel:
                continue
            conf = [r for r in ok if r["confirmed"]]
            variants = dict.fromkeys(r["variant"] for r in sel)
            out[cfg][kind] = {
                "measurement": aw.MEASUREMENT[kind],
                "n": len(ok),
                "n_missing": len(sel) - len(ok),
                "rms_all": _rms(r["change_mm63"] for r in ok),
                "max_abs_all": max((abs(r["change_mm63"]) for r in ok), default=None),
                "n_confirmed": len(conf),
                "rms_confirmed": _rms(r["change_mm63"] for r in conf),
                "by_variant_all": {
                    v: _rms(r["change_mm63"] for r in ok if r["variant"] == v) for v in variants
                },
                "by_variant_confirmed": {
                    v: _rms(r["change_mm63"] for r in conf if r["variant"] == v) for v in variants
                },
            }
    return out


def summarise_timing(times: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Median ms per analysis for each configuration and for ``backend.detect`` alone, on
    the same images of the same run, and each configuration's ratio to it."""
    med: dict[str, float] = {}
    for what in dict.fromkeys(t["what"] for t in times):
        med[what] = float(np.median([t["ms"] for t in times if t["what"] == what]))
    detect = med.get("detect")
    return {
        "median_ms": med,
        "ratio_to_detect": {
            k: (v / detect if detect else None) for k, v in med.items() if k != "detect"
        },
        "n": {k: sum(1 for t in times if t["what"] == k) for k in med},
    }


# --- tables -------------------------------------------------------------------------------


def _f(v: Any, fmt: str = ".2f") -> str:
    return "n/a" if v is None else format(v, fmt)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def warp_table(summary: dict[str, dict[str, Any]], config: str) -> list[str]:
    """One row per warp (both sides pooled), then one per side."""
    head = (
        f"{'warp / side':<24}{'n':>5}{'gain all':>10}{'gain conf':>10}{'coverage':>10}"
        f"{'wrong sign c/a':>16}{'RMS err':>9}{'±1u c':>7}{'±2u c':>7}{'±1u a':>7}{'±2u a':>7}"
    )
    lines = [f"[{config}] gain = LS slope measured/expected; conf = confirmed values; "
             "wrong sign: |expected| >= 0.5 mm; ±ku: share of errors within k combined "
             "uncertainties (c: confirmed, a: all frontal)", head, "-" * len(head)]  # fmt: skip
    for kind, by_side in summary.items():
        for side in SIDES:
            s = by_side[side]
            label = kind if side == "both" else f"  {_side_label(kind, side)}"
            lines.append(
                f"{label:<24}{s['n_frontal']:>5}{_f(s['gain_all']):>10}{_f(s['gain_confirmed']):>10}"
                f"{_pct(s['coverage']):>10}"
                f"{str(s['wrong_sign_confirmed']) + '/' + str(s['wrong_sign_all']):>16}"
                f"{_f(s['rms_error_all']):>9}{_pct(s['within1u_confirmed']):>7}"
                f"{_pct(s['within2u_confirmed']):>7}{_pct(s['within1u_all']):>7}"
                f"{_pct(s['within2u_all']):>7}"
            )
    return lines


def _side_label(kind: str, side: str) -> str:
    name = "right" if side == "r" else "left"
    if kind in aw.BILATERAL:
        return f"{name} ({', '.join(aw.MOTION[kind])})"
    return f"{name}: toward {'left' if side == 'r' else 'right'}"


def noise_table(noise: dict[str, dict[str, Any]], config: str) -> list[str]:
    variants = list(next(iter(noise.values()))["by_variant_all"]) if noise else []
    head = f"{'measurement':<24}{'all':>7}{'conf [n]':>14}{'max':>7}" + "".join(
        f"{v:>12}" for v in variants
    )
    lines = [f"[{config}] noise floor: RMS change (mm at 63 mm IPD) of the unwarped photo "
             "re-encoded / shifted / rescaled; per variant over all values", head,
             "-" * len(head)]  # fmt: skip
    for s in noise.values():
        conf = f"{_f(s['rms_confirmed'])} [{s['n_confirmed']}/{s['n']}]"
        lines.append(
            f"{SHORT[s['measurement']]:<24}{_f(s['rms_all']):>7}{conf:>14}"
            f"{_f(s['max_abs_all']):>7}"
            + "".join(f"{_f(s['by_variant_all'][v]):>12}" for v in variants)
        )
    return lines


def format_tables(report: dict[str, Any]) -> str:
    lines: list[str] = []
    for cfg, summary in report["summary"].items():
        lines += warp_table(summary, cfg) + [""]
    for cfg, noise in report["noise_floor"].items():
        lines += noise_table(noise, cfg) + [""]
    t = report["timing"]
    det = t["median_ms"].get("detect")
    lines.append(
        "timing (median ms per analysis, same images, same run): "
        + ", ".join(
            f"{k} {_f(v, '.0f')} ms (x{_f(t['ratio_to_detect'].get(k), '.1f')} of detect)"
            for k, v in t["median_ms"].items()
            if k != "detect"
        )
        + f"; backend.detect alone {_f(det, '.0f')} ms"
    )
    used = [p for p in report["photos"] if "ipd_px" in p]
    lines.append(f"set: {report['split']}; usable frontal faces: {len(used)} of "
                 f"{len(report['photos'])}; {report['seconds']:.0f} s")  # fmt: skip
    for p in report["photos"]:
        if "skipped" in p:
            lines.append(f"  skipped {p['photo']}: {p['skipped']}")
    if report.get("skipped_warps"):
        lines.append(f"  warps refused (would fold): {len(report['skipped_warps'])} "
                     "(listed in the JSON)")  # fmt: skip
    return "\n".join(lines)


def markdown_table(report: dict[str, Any], config: str | None = None,
                   reference: str | None = None) -> str:  # fmt: skip
    """The table README holds: one row per warp, right / left in each cell."""
    cfgs = list(report["summary"])
    config = config or cfgs[0]
    reference = reference or next((c for c in cfgs if c != config), None)
    s_all, nf = report["summary"][config], report["noise_floor"].get(config, {})
    head = ("| warp → measurement | gain, confirmed: both (R / L) | gain, all frontal: both "
            "(R / L) | coverage | confirmed wrong sign | errors within ±1u / ±2u (confirmed) "
            "| noise RMS all / confirmed |")  # fmt: skip
    if reference:
        head += f" {reference}: gain all (R / L) |"
    lines = [head, "|---" * (head.count("|") - 1) + "|"]
    for kind, by in s_all.items():
        b, r, l_ = by["both"], by["r"], by["l"]
        n = nf.get(kind, {})
        row = (
            f"| {kind.replace('_', ' ')} → {SHORT[aw.MEASUREMENT[kind]]} "
            f"| **{_f(b['gain_confirmed'])}** ({_f(r['gain_confirmed'])} / "
            f"{_f(l_['gain_confirmed'])}) "
            f"| {_f(b['gain_all'])} ({_f(r['gain_all'])} / {_f(l_['gain_all'])}) "
            f"| {_pct(b['coverage'])} [{b['n_confirmed']}/{b['n_frontal']}] "
            f"| {b['wrong_sign_confirmed']} "
            f"| {_pct(b['within1u_confirmed'])} / {_pct(b['within2u_confirmed'])} "
            f"| {_f(n.get('rms_all'))} / {_f(n.get('rms_confirmed'))} |"
        )
        if reference:
            ref = report["summary"].get(reference, {}).get(kind)
            row += (
                f" {_f(ref['both']['gain_all'])} ({_f(ref['r']['gain_all'])} / "
                f"{_f(ref['l']['gain_all'])}) |"
                if ref
                else " n/a |"
            )
        lines.append(row)
    return "\n".join(lines)
