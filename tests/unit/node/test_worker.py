"""node.worker: real child processes (spawn) bounded in memory and time. A task that runs
out of memory, is killed or outlasts its time limit ends its worker with a WorkerFailure
that says which, and the next call gets a fresh worker; the node stopping ends a call with
WorkerStopped; the child runs at idle priority (SCHED_IDLE, nice +10) in a session of its own
(where Linux has autogroups: a CPU group of its own), under RLIMIT_AS, and its log records
reach the parent's handlers.

The tasks below are module functions so that the child can import them by name."""

from __future__ import annotations

import logging
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from node.worker import (
    WORKER_NICE,
    WorkerFailure,
    WorkerProcess,
    WorkerStopped,
    describe_exit,
    report_progress,
)

MEMORY_MB = 1024
REPO = Path(__file__).resolve().parents[3]


def init_state(arg: str) -> dict[str, Any]:
    return {"arg": arg, "pid": os.getpid()}


def report(state: dict[str, Any], _: object) -> dict[str, Any]:
    logging.getLogger("tests.worker.child").warning("hello from the child %s", state["arg"])
    return {
        **state,
        "rlimit_as": resource.getrlimit(resource.RLIMIT_AS),
        "nice": os.nice(0),
        "policy": os.sched_getscheduler(0),
        "sid": os.getsid(0),
        "autogroup": _autogroup(),
    }


def _autogroup() -> str | None:
    """This process's autogroup id (``/autogroup-ID`` from ``/autogroup-ID nice N``).

    None without autogroups: the file may be absent, unreadable or empty (some container
    kernels), and then the test has no group to compare.
    """
    try:
        text = Path("/proc/self/autogroup").read_text().strip()
    except OSError:
        return None
    first = text.split()[0] if text else ""
    return first if first.startswith("/autogroup-") else None


def allocate(_state: object, megabytes: int) -> int:
    block = bytearray(megabytes * 1024 * 1024)  # over RLIMIT_AS: MemoryError
    return len(block)


def sleep(_state: object, seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def progress(_state: object, steps: int) -> str:
    for i in range(steps + 1):
        report_progress("counting", i / steps)
        report_progress("counting", i / steps)  # the same percent again: sent once
    report_progress("done", 1.0)
    return "finished"


def die(_state: object, signum: int) -> None:
    os.kill(os.getpid(), signum)


@pytest.fixture
def worker() -> Any:
    w = WorkerProcess(init_state, "x", MEMORY_MB, name="test-worker")
    yield w
    w.close()


def test_the_child_is_limited_niced_and_logs_through_the_parent(
    worker: WorkerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        state = worker.call(report, None, timeout_s=60)
    assert state["arg"] == "x" and state["pid"] == worker.pid != os.getpid()
    assert state["rlimit_as"] == (MEMORY_MB * 1024 * 1024,) * 2
    assert state["nice"] >= WORKER_NICE and state["policy"] == os.SCHED_IDLE
    # its own session: where the CPU is shared by session (autogroups), the worker's
    # CPU time is its own group's, not the node's
    assert state["sid"] == worker.pid != os.getsid(0)
    parent = _autogroup()
    if parent is not None and state["autogroup"] is not None:
        assert state["autogroup"] != parent
    forwarded = [r for r in caplog.records if r.name == "tests.worker.child"]
    assert [r.getMessage() for r in forwarded] == ["hello from the child x"]
    assert forwarded[0].process == worker.pid


def test_out_of_memory_ends_the_worker_and_the_next_call_gets_a_new_one(
    worker: WorkerProcess,
) -> None:
    assert worker.call(allocate, 16, timeout_s=60) == 16 * 1024 * 1024
    first = worker.pid
    with pytest.raises(WorkerFailure, match=rf"out of memory \(job_memory_mb {MEMORY_MB}\)"):
        worker.call(allocate, 2 * MEMORY_MB, timeout_s=60)
    assert not worker.alive()
    assert worker.call(allocate, 16, timeout_s=60) == 16 * 1024 * 1024
    assert worker.pid != first


def test_a_task_over_its_time_is_killed(worker: WorkerProcess) -> None:
    worker.call(sleep, 0, timeout_s=60)  # started: the limit below is the task's own
    pid = worker.pid
    assert pid is not None
    t0 = time.monotonic()
    with pytest.raises(WorkerFailure, match=r"took longer than 0\.5 s \(job_timeout_s\)"):
        worker.call(sleep, 30, timeout_s=0.5)
    assert time.monotonic() - t0 < 5
    assert not worker.alive()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # killed and reaped, not left running


def test_a_killed_worker_is_reported_with_its_signal(worker: WorkerProcess) -> None:
    with pytest.raises(WorkerFailure, match="died while analysing.*SIGKILL"):
        worker.call(die, int(signal.SIGKILL), timeout_s=60)
    assert worker.call(sleep, 0, timeout_s=60) == 0


def test_stopping_abandons_the_call(worker: WorkerProcess) -> None:
    worker.call(sleep, 0, timeout_s=60)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(WorkerStopped):
        worker.call(sleep, 30, timeout_s=60, stop=stop)
    assert not worker.alive()


#: A stand-in for the node: starts a worker, prints its pid and session, then keeps it busy.
NODE_SCRIPT = """
from node.worker import WorkerProcess
from tests.unit.node.test_worker import init_state, report, sleep
worker = WorkerProcess(init_state, "x", 1024)
state = worker.call(report, None, timeout_s=60)
print(state["pid"], state["sid"], flush=True)
worker.call(sleep, 600, timeout_s=700)
"""


def test_a_killed_node_takes_its_busy_worker_with_it() -> None:
    """The worker is out of the node's process group (its own session), so a SIGKILL of
    the node's group misses it, and busy with a task it does not see its pipe close:
    ``PR_SET_PDEATHSIG`` alone must end it."""
    with subprocess.Popen([sys.executable, "-c", NODE_SCRIPT], stdout=subprocess.PIPE,
                          text=True, cwd=REPO, start_new_session=True) as node:  # fmt: skip
        pid, sid = map(int, node.stdout.readline().split())  # type: ignore[union-attr]
        try:
            assert sid == pid and os.getpgid(pid) != node.pid
            os.killpg(node.pid, signal.SIGKILL)
            node.wait(30)
            deadline = time.monotonic() + 10
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(pid), f"worker {pid} outlived its node"
        finally:
            node.kill()
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)  # no orphan left behind by a failure


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_exit_descriptions() -> None:
    assert describe_exit(-9) == "killed by SIGKILL"
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(None) == "exit status unknown"


def test_a_task_reports_progress_to_the_calling_thread(worker: WorkerProcess) -> None:
    seen: list[tuple[str, float]] = []
    caller = threading.current_thread()
    threads: set[threading.Thread] = set()

    def on_progress(stage: str, fraction: float) -> None:
        seen.append((stage, fraction))
        threads.add(threading.current_thread())

    assert worker.call(progress, 4, timeout_s=60, on_progress=on_progress) == "finished"
    assert seen == [("counting", 0.0), ("counting", 0.25), ("counting", 0.5),
                    ("counting", 0.75), ("counting", 1.0), ("done", 1.0)]  # fmt: skip
    assert threads == {caller}
    # without a listener the reports are dropped, the task is unaffected
    assert worker.call(progress, 2, timeout_s=60) == "finished"


def test_report_progress_outside_a_worker_does_nothing() -> None:
    report_progress("anything", 0.5)  # the node's own process: no pipe, no error
