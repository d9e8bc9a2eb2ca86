"""Analysis in worker processes, each bounded in memory and time.

The node's main process receives, stores and schedules; every photo is decoded and analysed
in a child process, so a photo can neither exhaust the node's memory nor hold the
listener's interpreter lock:

* Each of the node's job threads (:class:`node.jobs.WorkerPool`, ``workers`` of them) owns
  one long-lived worker process, started on first use with the ``spawn`` method (a fresh
  interpreter: no inherited listening socket, database connection, threads or locks) and
  replaced after it dies. The thread sends one task at a time over a pipe and waits for the
  answer at most ``job_timeout_s``; then it kills the process (SIGKILL).
* In the child: ``RLIMIT_AS`` of ``job_memory_mb`` (an allocation past it raises
  :class:`MemoryError`, reported, and the process exits); the ``SCHED_IDLE`` scheduling
  policy (and ``nice +10`` where that is refused), so that a listener thread that wakes up
  takes the CPU from the analysis at once — analysis uses the CPU time ingest leaves — in
  a session of its own (:func:`_own_session`: with autogroups, else it spends the node's
  share of the CPU); and death with the node (``PR_SET_PDEATHSIG``), so a killed node
  leaves no orphan analysing.
* What crosses the pipe: the task (a stored file's path and the result context) one way;
  the result (encoded result files as bytes, the summary, the report section) or a failure
  the other, and the child's log records, which the parent hands to its own handlers (the
  patient-identifier filter and the log file apply as to its own lines). The child writes
  no file and no database row (:mod:`node.worker_task`).

A task that kills its worker (out of memory, a signal, the time limit) raises
:class:`WorkerFailure` in the calling thread; :func:`node.pipeline.run_job`
counts it against the photo and quarantines the photo after ``job_max_attempts``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any, Final

from config.errors import FacenodeError
from node.jobs import JobInterrupted

if TYPE_CHECKING:  # the child imports the analysis when it starts, not with this module
    from config.settings import Settings
    from config.tables import FindingTables
    from node.worker_task import Analyzers, PhotoResult, PhotoTask, ReportTask, ResultFile
    from node.worker_task3d import ReconstructionResult, ReconstructionTask

log = logging.getLogger(__name__)

#: Starting a worker (interpreter, imports, model load) is not the photo's time.
STARTUP_TIMEOUT_S: Final = 180.0
WORKER_NICE: Final = 10  # where SCHED_IDLE is not available
_POLL_S: Final = 0.5  # how often a waiting thread looks at the stop flag
_PR_SET_PDEATHSIG: Final = 1
_M_ARENA_MAX: Final = -8

Task = Callable[[Any, Any], Any]
#: ``on_progress(stage, fraction)``: a long task's progress, as the child reports it.
OnProgress = Callable[[str, float], None]


class WorkerFailure(FacenodeError):
    """A photo's analysis ended its worker: out of memory, killed, or over its time limit.
    Counts as one of the photo's attempts; the message says which."""


class WorkerStopped(JobInterrupted):
    """The node is stopping: the task was abandoned, not failed (no attempt is counted)."""


class WorkerProcess:
    """One child process that runs ``task(state, arg)`` calls one at a time; ``state`` is
    made once in the child by ``init(init_arg)``. Started on the first :meth:`call`."""

    def __init__(
        self,
        init: Callable[[Any], Any],
        init_arg: Any,
        memory_mb: int,
        name: str = "facenode-analysis",
    ) -> None:
        self.init = init
        self.init_arg = init_arg
        self.memory_mb = memory_mb
        self.name = name
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.RLock()  # start / kill / close from the owner or the runner
        self.busy = False  # a call is in progress on the owner's thread

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def alive(self) -> bool:
        with self._lock:
            try:
                return self._process is not None and self._process.is_alive()
            except ValueError:  # closed
                return False

    def start(self, stop: threading.Event | None = None) -> None:
        """Start the child and wait until it is ready (its models loaded)."""
        self.kill()
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        level = logging.getLogger().getEffectiveLevel()
        process = ctx.Process(
            target=_child_main,
            args=(child_conn, self.init, self.init_arg, self.memory_mb, level),
            name=self.name,
            daemon=True,
        )
        process.start()
        child_conn.close()  # the child's end lives in the child only: its death is EOF here
        self._process, self._conn = process, parent_conn
        try:
            self._wait("ready", STARTUP_TIMEOUT_S, stop, "starting")
        except WorkerFailure as exc:
            raise WorkerFailure(f"analysis worker did not start: {exc}") from None
        log.info(
            "analysis worker started (pid %s, memory limit %s)",
            process.pid,
            f"{self.memory_mb} MB" if self.memory_mb else "none",
        )

    def call(
        self,
        task: Task,
        arg: Any,
        timeout_s: float,
        stop: threading.Event | None = None,
        on_progress: OnProgress | None = None,
    ) -> Any:
        """``task(state, arg)`` in the child; raises :class:`WorkerFailure` when the child
        dies, runs out of memory or outlasts ``timeout_s`` (it is then killed), and
        :class:`WorkerStopped` when ``stop`` is set meanwhile. What the task reports with
        :func:`report_progress` reaches ``on_progress`` on the calling thread."""
        self.busy = True
        try:
            if not self.alive():
                self.start(stop)
            assert self._conn is not None
            try:
                self._conn.send((task, arg))
            except (OSError, ValueError) as exc:
                raise WorkerFailure(f"analysis worker died ({self._reap()}): {exc}") from None
            return self._wait("result", timeout_s, stop, "analysing", on_progress)
        finally:
            self.busy = False

    def close(self, timeout_s: float = 5.0) -> None:
        """Ask the child to exit; kill it if it does not within ``timeout_s``. Not while a
        call is in progress: that call's thread ends it (``stop``)."""
        with self._lock:
            if self._conn is not None and self.alive():
                with contextlib.suppress(OSError, ValueError):
                    self._conn.send(None)
                assert self._process is not None
                self._process.join(timeout_s)
            self.kill()

    def kill(self) -> None:
        with self._lock:
            if self._process is not None:
                with contextlib.suppress(ValueError):  # already closed
                    if self._process.is_alive():
                        self._process.kill()
                    self._process.join(10)
                    self._process.close()
            if self._conn is not None:
                self._conn.close()
            self._process, self._conn = None, None

    def _wait(
        self,
        expected: str,
        timeout_s: float,
        stop: threading.Event | None,
        doing: str,
        on_progress: OnProgress | None = None,
    ) -> Any:
        conn = self._conn
        assert conn is not None
        deadline = time.monotonic() + timeout_s
        while True:
            if stop is not None and stop.is_set():
                self.kill()
                raise WorkerStopped("the node is stopping")
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise WorkerFailure(
                    f"{doing} took longer than {timeout_s:g} s (job_timeout_s); worker killed"
                )
            try:
                if not conn.poll(min(left, _POLL_S)):
                    continue
                kind, payload = conn.recv()
            except (EOFError, OSError):
                if stop is not None and stop.is_set():
                    self.kill()
                    raise WorkerStopped("the node is stopping") from None
                died = f"analysis worker died while {doing} ({self._reap()})"
                raise WorkerFailure(died) from None
            if kind == "log":
                _handle_record(payload)
            elif kind == "progress":
                if on_progress is not None:
                    try:
                        on_progress(*payload)
                    except Exception:  # a status line must not fail the task
                        log.exception("could not record progress")
            elif kind == expected:
                return payload
            elif kind == "failed":
                reason = f"{payload} ({self._reap()})"
                raise WorkerFailure(reason)
            else:  # pragma: no cover - a protocol error is a bug
                self.kill()
                raise WorkerFailure(f"analysis worker sent {kind!r} while {doing}")

    def _reap(self) -> str:
        """Wait for the dead child; how it ended, in words. Forgets the process."""
        process = self._process
        code: int | None = None
        if process is not None:
            process.join(10)
            code = process.exitcode
        self.kill()
        return describe_exit(code)


def describe_exit(code: int | None) -> str:
    if code is None:
        return "exit status unknown"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


class WorkerRunner:
    """:class:`~node.worker_task.PhotoRunner` over worker processes: the calling thread's
    own process (one per job thread), replaced after a failure."""

    def __init__(self, settings: Settings, tables: FindingTables | None = None) -> None:
        from node.worker_task import analysis_options, finding_tables

        self.settings = settings
        # loaded here too: a bad table stops the node at start, not in each worker
        self.options = analysis_options(settings, tables or finding_tables())
        self._local = threading.local()
        self._all: list[WorkerProcess] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def analyse(self, task: PhotoTask) -> PhotoResult:
        result: PhotoResult = self._call(_analyse, task)
        return result

    def series_report(self, task: ReportTask) -> ResultFile:
        report: ResultFile = self._call(_series_report, task)
        return report

    def reconstruct(
        self, task: ReconstructionTask, on_progress: OnProgress | None = None
    ) -> ReconstructionResult:
        """A series' 3D reconstruction in this thread's worker process, under the 3D
        limits (``reconstruction_memory_mb``, ``reconstruction_timeout_s``)."""
        result: ReconstructionResult = self._call(
            _reconstruct,
            task,
            memory_mb=self.settings.reconstruction_memory_mb,
            timeout_s=self.settings.reconstruction_timeout_s,
            on_progress=on_progress,
        )
        return result

    def close(self) -> None:
        """Stop every worker; calls in progress end with :class:`WorkerStopped`."""
        self._stop.set()
        with self._lock:
            workers = list(self._all)
        for worker in workers:
            if not worker.busy:  # a busy one is killed by its own thread, seeing the stop
                worker.close()

    def pids(self) -> list[int]:
        with self._lock:
            return [p for p in (w.pid for w in self._all if w.alive()) if p is not None]

    def _call(
        self,
        task: Task,
        arg: Any,
        *,
        memory_mb: int | None = None,
        timeout_s: float | None = None,
        on_progress: OnProgress | None = None,
    ) -> Any:
        """``task`` in this thread's worker process with ``memory_mb`` (one process per
        thread and limit: a 3D job thread's process is not a photo thread's)."""
        if self._stop.is_set():
            raise WorkerStopped("the node is stopping")
        memory = self.settings.job_memory_mb if memory_mb is None else memory_mb
        workers: dict[int, WorkerProcess] | None = getattr(self._local, "workers", None)
        if workers is None:
            workers = self._local.workers = {}
        worker = workers.get(memory)
        if worker is None:
            worker = WorkerProcess(
                _start_analyzers,
                self.settings,
                memory,
                name=f"facenode-analysis-{threading.current_thread().name}",
            )
            workers[memory] = worker
            with self._lock:
                self._all.append(worker)
        timeout = self.settings.job_timeout_s if timeout_s is None else timeout_s
        return worker.call(task, arg, timeout, self._stop, on_progress)


# --- in the child ----------------------------------------------------------------------


def _start_analyzers(settings: Settings) -> Analyzers:
    from node.worker_task import Analyzers

    analyzers = Analyzers(settings)
    try:
        analyzers.get()  # load the model now, not in the first photo's time
    except Exception:  # the same error comes back, per photo, as in-process
        log.exception("landmark backend could not be loaded")
    return analyzers


def _analyse(analyzers: Analyzers, task: PhotoTask) -> PhotoResult:
    from node.worker_task import run_photo

    return run_photo(analyzers, task)


def _series_report(analyzers: Analyzers, task: ReportTask) -> ResultFile:
    from node.worker_task import run_series_report

    return run_series_report(analyzers, task)


def _reconstruct(analyzers: Analyzers, task: ReconstructionTask) -> ReconstructionResult:
    from node.worker_task3d import run_reconstruction

    return run_reconstruction(analyzers, task, report_progress)


#: In a worker process: sends a progress message to the node (set by ``_child_main``).
_progress_send: Callable[[tuple[str, Any]], None] | None = None
_last_progress: tuple[str, int] = ("", -1)


def report_progress(stage: str, fraction: float) -> None:
    """A task's progress, sent to the node when the stage or the whole percent changes
    (a no-op outside a worker process)."""
    global _last_progress
    key = (stage, int(100 * min(max(fraction, 0.0), 1.0)))
    if _progress_send is None or key == _last_progress:
        return
    _last_progress = key
    with contextlib.suppress(Exception):
        _progress_send(("progress", (stage, fraction)))


def _child_main(
    conn: Connection, init: Callable[[Any], Any], init_arg: Any, memory_mb: int, level: int
) -> None:
    parent = os.getppid()
    _die_with_parent(parent)
    send_lock = threading.Lock()

    def send(message: tuple[str, Any]) -> None:
        with send_lock:
            conn.send(message)

    global _progress_send
    _progress_send = send
    _forward_logs(send, level)
    _limit(memory_mb)
    try:
        state = init(init_arg)
    except MemoryError:
        send(("failed", f"out of memory while starting (job_memory_mb {memory_mb})"))
        os._exit(3)
    except Exception as exc:
        send(("failed", f"could not start: {type(exc).__name__}: {exc}"))
        os._exit(2)
    send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the node is gone
        if message is None:
            return
        task, arg = message
        try:
            result = task(state, arg)
        except MemoryError:
            with contextlib.suppress(Exception):
                send(("failed", f"out of memory (job_memory_mb {memory_mb}): MemoryError"))
            os._exit(3)  # a heap that ran out is not trusted with the next photo
        except Exception as exc:
            with contextlib.suppress(Exception):
                send(("failed", f"{type(exc).__name__}: {exc}"))
            os._exit(4)
        try:
            send(("result", result))
        except MemoryError:
            os._exit(3)


def _die_with_parent(parent: int) -> None:
    """SIGKILL this process when the node's thread that started it ends (Linux)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the node died before the line above
        os._exit(1)


def _limit(memory_mb: int) -> None:
    """Address-space limit, lower priority, and few malloc arenas (each reserves 64 MB of
    address space per thread that uses it: reserved, not used, yet counted by RLIMIT_AS)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).mallopt(_M_ARENA_MAX, 2)
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)
    _own_session()


def _own_session() -> None:
    """A session of its own. Linux with autogroups (the default where the node runs from a
    login session rather than in a container or a systemd unit) shares the CPU between
    sessions first and only then between a session's processes: a worker in the node's
    session spends the node's share — ``SCHED_IDLE`` ranks it only within the session — so
    that on a machine other sessions keep busy, the listener finds that share used up and
    waits. Measured (``tests/bench/bench_ingest.py``, load average 5–8 from other
    sessions): 100 photos over 4 associations took 1.34–1.77 × the idle node's time with a
    3D job running, 1.01–1.06 × with the worker in its own session; the 3D job itself took
    as long. Its own group is the node's peer: the listener's share is its own again, at
    the price that it no longer preempts the analysis outright (a group at a lower nice
    would starve the analysis wherever other sessions are busy: 4–7 × slower 3D jobs
    measured at nice 19). Leaving the node's process group also spares the worker a
    terminal's Ctrl-C (the node stops it; ``PR_SET_PDEATHSIG`` still ends it with the
    node). Where autogroups do not apply this changes nothing; where it fails the worker
    stays where it was."""
    with contextlib.suppress(OSError):
        os.setsid()


class _PipeHandler(logging.Handler):
    """Sends each record to the parent, formatted (arguments merged, traceback as text)."""

    def __init__(self, send: Callable[[tuple[str, Any]], None]) -> None:
        super().__init__()
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = dict(record.__dict__)
            data["msg"] = record.getMessage()
            data["args"] = None
            if record.exc_info:
                data["exc_text"] = logging.Formatter().formatException(record.exc_info)
            data["exc_info"] = None
            self._send(("log", data))
        except Exception:
            self.handleError(record)


def _forward_logs(send: Callable[[tuple[str, Any]], None], level: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_PipeHandler(send))
    root.setLevel(level)
    logging.captureWarnings(True)  # a decoder's warnings reach the node's log too


def _handle_record(data: dict[str, Any]) -> None:
    record = logging.makeLogRecord(data)
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)
