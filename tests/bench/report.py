"""Where every benchmark leaves its figures (one JSON file under ``bench-results/``), and
the peak memory of the benchmark's own process that several of them report."""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import Any


def write_json(path: Path, data: Any) -> None:
    """``data`` as JSON at ``path`` (folders made as needed), one trailing newline."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB (VmHWM; ``ru_maxrss`` where /proc is not
    there). :func:`reset_peak_rss` starts a new peak, so one stage can be measured."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); a no-op where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
