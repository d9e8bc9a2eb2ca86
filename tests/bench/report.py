"""Where every benchmark leaves its figures (one JSON file under ``bench-results/``), the
peak memory of the benchmark's own process that several of them report, and the node's
processes (its analysis workers, their peak memory and CPU time) for the benches that run a
node."""

from __future__ import annotations

import json
import os
import re
import resource
import threading
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


def thread_run_delays(pid: int) -> dict[int, float]:
    """Seconds each live thread of process ``pid`` has waited, runnable, for a CPU so far
    (``/proc/PID/task/TID/schedstat``'s second field), by thread id."""
    out: dict[int, float] = {}
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out  # gone
    for task in tasks:
        try:
            out[int(task.name)] = int((task / "schedstat").read_text().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            continue  # ended meanwhile
    return out


class RunDelayMeter:
    """``with RunDelayMeter(pid) as m: ...``; then ``m.seconds``: how long the threads of
    process ``pid`` waited, runnable, for a CPU inside the block — what a receiver loses to
    other processes on a busy machine, as opposed to waiting for the disk or the network.
    Sampled every ``interval`` s, so that threads that end inside the block (an SCP's
    association threads) count up to their last sample; threads born inside count from 0."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.seconds = 0.0
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RunDelayMeter:
        self._first = thread_run_delays(self.pid)
        self._last = dict(self._first)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.seconds = sum(v - self._first.get(tid, 0.0) for tid, v in self._last.items())

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        self._last.update(thread_run_delays(self.pid))


def bytes_written(pids: list[int]) -> int:
    """Bytes the processes ``pids`` have caused to be written to storage so far
    (``/proc/PID/io`` ``write_bytes``; gone ones count 0)."""
    total = 0
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/io").read_text()
        except OSError:
            continue
        found = re.search(r"^write_bytes:\s+(\d+)", text, re.MULTILINE)
        total += int(found[1]) if found else 0
    return total


def disk_busy_seconds() -> float:
    """Seconds the machine's disks (``/sys/block``, loop and RAM disks left out) have been
    busy so far (``/proc/diskstats`` io_ticks)."""
    disks = {p.name for p in Path("/sys/block").iterdir() if not p.name.startswith(("loop", "ram"))}
    total = 0
    for line in Path("/proc/diskstats").read_text().splitlines():
        f = line.split()
        if len(f) > 12 and f[2] in disks:
            total += int(f[12])
    return total / 1000
