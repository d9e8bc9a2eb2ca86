"""Where every benchmark leaves its figures (one JSON file under ``bench-results/``), the
peak memory of the benchmark's own process that several of them report, and the node's
processes (its analysis workers, their peak memory and CPU time) for the benches that run a
node."""

from __future__ import annotations

import json
import os
import re
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


# --- other processes (a node and its workers) -------------------------------------------


def children(pid: int) -> list[int]:
    """The process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def analysis_workers(node_pid: int) -> list[int]:
    """The node's analysis worker processes (not multiprocessing's resource tracker)."""
    out = []
    for pid in children(node_pid):
        try:
            if "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text():
                out.append(pid)
        except OSError:
            continue  # gone meanwhile
    return out


def process_peak_mb(pid: int, field: str = "VmHWM") -> float:
    """Peak resident memory (VmHWM) of process ``pid``, or with ``field="VmPeak"`` its peak
    address space (what ``job_memory_mb`` limits), in MB; NaN when not found."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(found[1]) / 1024 if found else float("nan")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds the processes ``pids`` used so far (gone ones count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total
