"""Run every benchmark (``tests/bench/bench_*.py``), each in its own process.

Run: ``.venv/bin/python -m tests.bench.run_all [--only timing,nme] [--skip roundtrip]``
(``make bench``). One benchmark failing or missing its data does not stop the others;
the summary lists each one's exit status and time, and goes to
``bench-results/run_all.json``. Each benchmark writes its own JSON next to it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.report import write_json

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parents[1]


def discover() -> list[str]:
    """Module names of the benchmarks, e.g. ``bench_timing``."""
    return sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))


def run_one(name: str, timeout_s: float) -> dict[str, object]:
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", f"tests.bench.{name}"],
            cwd=REPO,
            timeout=timeout_s,
            check=False,
        )
        rc: int | None = proc.returncode
        note = ""
    except subprocess.TimeoutExpired:
        rc, note = None, f"timed out after {timeout_s:.0f} s"
    return {"bench": name, "returncode": rc, "seconds": time.perf_counter() - t0, "note": note}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated names (with or without bench_)")
    ap.add_argument("--skip", default="", help="comma-separated names to leave out")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "run_all.json")
    args = ap.parse_args(argv)

    def names(text: str) -> set[str]:
        return {n if n.startswith("bench_") else f"bench_{n}" for n in text.split(",") if n}

    only, skip = names(args.only), names(args.skip)
    todo = [b for b in discover() if (not only or b in only) and b not in skip]
    results = []
    for name in todo:
        print(f"\n=== {name} ===", flush=True)
        results.append(run_one(name, args.timeout))
    print("\n=== summary ===")
    print(f"{'benchmark':<28} {'status':>10} {'seconds':>9}")
    for r in results:
        status = "ok" if r["returncode"] == 0 else (r["note"] or f"exit {r['returncode']}")
        print(f"{r['bench']:<28} {status:>10} {r['seconds']:>9.0f}")
    write_json(args.out, results)
    print(f"\nwritten: {args.out}")
    return 0 if all(r["returncode"] == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
