"""Durable ingest while analysis runs: the node against a bare pynetdicom SCP, same burst,
same load, same run.

Run: ``nice .venv/bin/python -m tests.bench.bench_ingest [--photos 300] [--associations 4]
[--workers 2] [--repeats 3] [--views 16] [--size 1024]`` (about 4 minutes, 2 without the 3D
phase, ``--views 0``; bounded by ``--deadline``).

The burst: ``--photos`` small photos (the astronaut at 256 × 256, JPEG baseline, ~15 kB, a
new SOP Instance UID each time) sent by ``--associations`` dcmtk ``storescu`` processes at
once, one association each; the time is from their start until the last one ends, every
photo answered Success. Receivers:

* **node**: ``facenode serve`` (a subprocess; ``workers`` analysis worker processes): each
  photo parsed, checked, written (temp file, fsync, rename, folder fsync), recorded in SQLite
  (WAL, synchronous=FULL) before Success.
* **bare**: a pynetdicom SCP that writes each dataset to a file with fsync and inserts one
  SQLite row (WAL, synchronous=FULL) before Success — the least a durable receiver does.

Phases, ``--repeats`` times each, in turn: (c) bare and (d) node with no analysis running
(the node's series are never stable: no job); then the node is started again with series
stable after 5 s, the bursts of (d) become its queue, and while every worker analyses
(shown by the workers' CPU time per second in each phase) (a) the node and (b) the bare SCP
receive bursts in turn. The analysis workers run at SCHED_IDLE priority (:mod:`node.worker`),
for (a) and (b) alike. Ratios: node / bare under load (target ≤ 1.5) and without load
(target ≤ 1.2), of the medians and of each pair of bursts sent one after the other (on a
shared machine the other load changes less within a pair than between pairs). Peak resident
memory (VmHWM) of each process: the node's main process (listener, database, scheduler),
each analysis worker, the bare SCP.

With a 3D job running (between the two, unless ``--views 0``): a fresh node (stable age
``--stable-3d``, longer than the phase's bursts, so none of them becomes a 2D job) receives a
synthetic multi-view series (:mod:`tests.bench.multiview_synth`, ``--views`` renders of
``--size``², rendered before any burst); its 2D job queues a 3D job, which runs in the 3D
worker process (SCHED_IDLE, ``reconstruction_memory_mb``). Once the job's stage is ``sfm`` or
``dense``, (e) the node and (f) the bare SCP receive bursts in turn (written beforehand). Per
burst: the job's stage sampled at each end and every 0.5 s ("through" when every sample is
a reconstruction stage: sfm, scale, dense, meshing), the 3D worker's and the node's CPU
time per second, the 2D jobs that ran meanwhile (none expected). Then the job runs to its
end: the 3D worker's peak resident memory and address space, the node's peak (results
received). Ratios: (e) / (d), the node with the job against its own idle ingest (target
≤ 1.2), and against (c) and (f); (f) / (c) is what the job costs a receiver that is not the
node. Results: table on stdout, JSON in ``bench-results/ingest.json``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cv2
from pydicom.uid import JPEGBaseline8Bit, generate_uid

from tests.bench.photos import REPO, astronaut
from tests.bench.report import (
    RunDelayMeter,
    analysis_workers,
    bytes_written,
    cpu_seconds,
    disk_busy_seconds,
    process_peak_mb,
    write_json,
)
from tests.factories import make_vl_photo
from tests.support.net import free_port, wait_for_port, wait_until
from tests.support.node_proc import NodeProcess

STORESCU = "/usr/bin/storescu"
TARGET_LOADED = 1.5
TARGET_IDLE = 1.2


# --- the bare SCP (runs in its own process: python -m tests.bench.bench_ingest --bare-scp) --


def bare_scp(port: int, folder: Path) -> None:
    """fsync each file, insert one SQLite row, answer Success; until killed."""
    from pynetdicom import AE, evt

    from node.sopclasses import ACCEPTED_CLASSES, ACCEPTED_TRANSFER_SYNTAXES

    folder.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(folder / "bare.db", check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS instances (sop_instance_uid TEXT PRIMARY KEY, "
        "path TEXT, received_at REAL)"
    )
    lock = threading.Lock()

    def store(event: Any) -> int:
        data = event.encoded_dataset(include_meta=True)
        uid = str(event.request.AffectedSOPInstanceUID)
        path = folder / f"{uid}.dcm"
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        with lock:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT OR IGNORE INTO instances VALUES (?, ?, ?)", (uid, str(path), time.time())
            )
            db.execute("COMMIT")
        return 0x0000

    ae = AE(ae_title="BARE")
    for uid in ACCEPTED_CLASSES:
        ae.add_supported_context(uid, list(ACCEPTED_TRANSFER_SYNTAXES))
    ae.maximum_associations = 16
    ae.start_server(("127.0.0.1", port), block=True, evt_handlers=[(evt.EVT_C_STORE, store)])


class BareScp:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.ae_title = "BARE"
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.bench.bench_ingest",
                "--bare-scp",
                str(self.port),
                str(self.folder),
            ],
            cwd=REPO,
        )
        wait_for_port(self.port, 60)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)

    def count(self) -> int:
        with sqlite3.connect(self.folder / "bare.db") as db:
            return int(db.execute("SELECT COUNT(*) FROM instances").fetchone()[0])


# --- bursts -----------------------------------------------------------------------------


class Burst:
    """The photos, written anew with fresh UIDs for each burst (a repeated SOP Instance UID
    would be answered without being stored)."""

    def __init__(self, folder: Path, photos: int, associations: int) -> None:
        self.folder = folder
        self.photos = photos
        self.associations = associations
        small = cv2.resize(astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
        self.template = make_vl_photo(
            small,
            transfer_syntax=JPEGBaseline8Bit,
            patient_name="Bench^Ingest",
            patient_id="BENCH-1",
        )
        self.number = 0

    def write(self) -> list[list[Path]]:
        """One list of files per association (one series each)."""
        self.number += 1
        out = self.folder / f"burst{self.number}"
        out.mkdir(parents=True)
        ds = self.template
        ds.StudyInstanceUID = generate_uid()
        groups: list[list[Path]] = []
        for a in range(self.associations):
            ds.SeriesInstanceUID = generate_uid()
            files = []
            for i in range(a, self.photos, self.associations):
                ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
                ds.InstanceNumber = i + 1
                path = out / f"{i:04d}.dcm"
                ds.save_as(path, enforce_file_format=True)
                files.append(path)
            groups.append(files)
        return groups


def send_burst(groups: list[list[Path]], port: int, called: str) -> float:
    """Seconds from starting one storescu per group until the last ends; all Success."""
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                STORESCU,
                "-xy",
                "-aec",
                called,
                "-aet",
                f"BENCH{n}",
                "127.0.0.1",
                str(port),
                *map(str, files),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for n, files in enumerate(groups)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    elapsed = time.perf_counter() - t0
    for p, out in zip(procs, outputs, strict=True):
        if p.returncode != 0:
            raise RuntimeError(f"storescu failed ({p.returncode}): {out.decode()[-2000:]}")
    return elapsed


class Waits:
    """Per phase, the receiver's CPU time during each burst, and what it waited for: a CPU
    (its threads' run delay, :class:`tests.bench.report.RunDelayMeter`) and the disk
    (seconds the machine's disks were busy, whoever's I/O)."""

    def __init__(self) -> None:
        self.used_s: dict[str, list[float]] = {}
        self.cpu_s: dict[str, list[float]] = {}
        self.disk_busy_s: dict[str, list[float]] = {}

    def burst(self, phase: str, groups: list[list[Path]], target: BareScp | NodeProcess) -> float:
        """:func:`send_burst` to ``target``, recorded under ``phase``; its seconds."""
        assert target.process is not None
        disk0, used0 = disk_busy_seconds(), cpu_seconds([target.process.pid])
        with RunDelayMeter(target.process.pid) as meter:
            seconds = send_burst(groups, target.port, target.ae_title)
        self.used_s.setdefault(phase, []).append(cpu_seconds([target.process.pid]) - used0)
        self.cpu_s.setdefault(phase, []).append(meter.seconds)
        self.disk_busy_s.setdefault(phase, []).append(disk_busy_seconds() - disk0)
        return seconds


# --- processes --------------------------------------------------------------------------


def node_rows(node: NodeProcess) -> int:
    with sqlite3.connect(node.root / "var" / "facenode.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM instances").fetchone()[0])


def running_jobs(node: NodeProcess) -> int:
    with sqlite3.connect(node.root / "var" / "facenode.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'running'").fetchone()[0])


# --- a 3D job running ------------------------------------------------------------------

#: The 3D job's stages that are the reconstruction itself (:mod:`reconstruction.pipeline`);
#: a burst counts as "through" when every stage sample during it is one of these.
RECONSTRUCTING = ("sfm", "scale", "dense", "meshing")
#: Ingest with a 3D job running / the node's own idle ingest (medians): the issue's "never
#: slow ingest", read as at most ~20 % slower.
TARGET_3D = 1.2
FINISHED = ("done", "failed")  # node.db.JobState values (not imported: the bare SCP's memory)


def multiview_series(views: int, size: int, folder: Path) -> list[Path]:
    """The synthetic multi-view series (:mod:`tests.bench.multiview_synth`) as files; a
    node makes a 3D job of it after its 2D job."""
    from tests.bench import multiview_synth as ms

    paths, _ = ms.write_series(ms.make_set(views, size), folder)
    return paths


def run_3d(
    args: argparse.Namespace,
    burst: Burst,
    bare: BareScp,
    series: list[Path],
    root: Path,
    deadline: float,
    waits: Waits,
) -> dict[str, Any]:
    """(e) and (f): a fresh node receives ``series``; once its 3D job is in SfM or dense,
    node and bare receive ``--repeats`` bursts each in turn (no further pair once the
    reconstruction is over). Per burst: the 3D job's stage samples, the 3D worker's and the
    node's CPU time, the 2D jobs that ran meanwhile. Peak memory of the node and 3D worker."""
    from node.db import JobKind
    from tests.bench.bench_3d_node import Watch, node_stamps

    bursts = [burst.write() for _ in range(2 * args.repeats)]  # not during the 3D job
    node = NodeProcess(
        root=root,
        env_extra={
            "FACENODE_WORKERS": str(args.workers),
            # the bursts' series stay unstable through the phase: no 2D job of theirs
            "FACENODE_STABLE_AGE_S": f"{args.stable_3d:g}",
            "FACENODE_LOG_LEVEL": "WARNING",
        },
    )
    times: dict[str, list[float]] = {"node_3d": [], "bare_3d": []}
    windows: list[dict[str, Any]] = []
    load_average = [os.getloadavg()[0]]
    node.start()
    assert node.process is not None
    pid = node.process.pid
    watch = Watch(pid, node.database)
    watch.start()
    try:
        sent = time.time()
        send_burst([series], node.port, node.ae_title)
        wait_until(
            lambda: _stage(watch) in ("sfm", "dense") or node.process.poll() is not None,  # type: ignore[union-attr]
            timeout=max(1.0, deadline - time.monotonic()),
            interval=0.5,
            what="the 3D job in SfM or dense",
        )
        if node.process.poll() is not None:
            raise RuntimeError(f"the node ended:\n{node.log_text()[-3000:]}")
        reconstructing = time.time()
        workers_3d = watch.workers_3d()
        for _ in range(args.repeats):
            if _stage(watch) not in RECONSTRUCTING:
                break  # the reconstruction is over: a burst now would not measure it
            for phase, target in (("node_3d", node), ("bare_3d", bare)):
                if time.monotonic() > deadline:
                    raise TimeoutError("benchmark deadline reached")
                groups = bursts.pop()
                t0 = time.time()
                watch.poll()  # a stage sample at each end of the burst
                cpu0, main0 = cpu_seconds(workers_3d), cpu_seconds([pid])
                written0 = bytes_written(workers_3d)
                times[phase].append(waits.burst(phase, groups, target))
                cpu1, main1 = cpu_seconds(workers_3d), cpu_seconds([pid])
                written = bytes_written(workers_3d) - written0
                watch.poll()
                windows.append({"phase": phase, "start": t0, "end": time.time(),
                                "worker_3d_cpu_s": cpu1 - cpu0, "node_main_cpu_s": main1 - main0,
                                "worker_3d_written_mb": written / 1e6})  # fmt: skip
        load_average.append(os.getloadavg()[0])
        stage_after = _stage(watch)
        # to its end: the 3D worker's whole peak, the node's with the results received
        wait_until(
            lambda: _latest(watch)[0] in FINISHED or node.process.poll() is not None,  # type: ignore[union-attr]
            timeout=max(1.0, deadline - time.monotonic()),
            interval=0.5,
            what="the 3D job's end",
        )
        watch.done.set()
        watch.join()
        watch.poll()  # the last peaks
        memory = {
            "node (listener, db, scheduler)": process_peak_mb(pid),
            "3D worker": max((watch.peak_mb.get(p, float("nan")) for p in workers_3d),
                             default=float("nan")),
            "3D worker address space": max((_peak_or_nan(p, "VmPeak") for p in workers_3d),
                                           default=float("nan")),
        }  # fmt: skip
        stamps = node_stamps(node.database)
        stored = node_rows(node)
    finally:
        watch.done.set()
        node.stop()
    expected = len(series) + args.photos * len(times["node_3d"])
    assert stored == expected, f"node with the 3D job stored {stored}, expected {expected}"
    job = next(j for j in stamps["jobs"] if j["kind"] == JobKind.RECONSTRUCT.value)
    return {
        "views": args.views,
        "size": args.size,
        "stable_age_s": args.stable_3d,
        "seconds": times,
        "bursts": [_burst_facts(w, watch.samples, stamps["jobs"], reconstructing) for w in windows],
        "series_sent_to_reconstructing_s": reconstructing - sent,
        "job_3d": {
            "started_after_sent_s": job["started"] - sent if job["started"] else None,
            "stage_after_bursts": stage_after or None,
            "state": job["state"],
            "seconds": job["finished"] - job["started"] if job["finished"] else None,
            "error": job["error"],
        },
        "load_average": load_average,
        "peak_memory_mb": memory,
        "reconstruction_memory_mb_limit": _setting_default("reconstruction_memory_mb"),
        "stored_node": stored,
    }


def _latest(watch: Any) -> tuple[str, str]:
    """The 3D job's (state, stage) in the latest sample; ("", "") before the first."""
    if not watch.samples:
        return "", ""
    _, state, stage = max(watch.samples)
    return str(state), str(stage)


def _stage(watch: Any) -> str:
    """The 3D job's stage while it runs; "" otherwise."""
    from node.db import JobState

    state, stage = _latest(watch)
    return stage if state == JobState.RUNNING.value else ""


def _burst_facts(
    w: dict[str, Any],
    samples: list[tuple[float, str, str]],
    jobs: list[dict[str, Any]],
    since: float,
) -> dict[str, Any]:
    """One burst: its stage samples, whether the reconstruction ran through it, CPU rates,
    and the 2D jobs that ran during it (they would be a second load)."""
    from node.db import JobKind, JobState

    start, end = w["start"], w["end"]
    inside = sorted(x for x in samples if start <= x[0] <= end)
    running = JobState.RUNNING.value
    two_d = [
        j["id"]
        for j in jobs
        if j["kind"] != JobKind.RECONSTRUCT.value
        and j["started"] is not None
        and j["started"] <= end
        and (j["finished"] is None or j["finished"] >= start)
    ]
    through = bool(inside) and all(st == running and sg in RECONSTRUCTING for _, st, sg in inside)
    return {
        "phase": w["phase"],
        "start_s": start - since,  # from the moment the job was seen in SfM or dense
        "seconds": end - start,
        "stages": [f"{t - start:.1f}s {stage or state}" for t, state, stage in inside],
        "through": through,
        "worker_3d_cpu_s": w["worker_3d_cpu_s"],
        "worker_3d_cpu_s_per_s": w["worker_3d_cpu_s"] / (end - start),
        "node_main_cpu_s_per_s": w["node_main_cpu_s"] / (end - start),
        "worker_3d_written_mb": w["worker_3d_written_mb"],
        "jobs_2d_running": two_d,
    }


def _peak_or_nan(pid: int, field: str) -> float:
    try:
        return process_peak_mb(pid, field)
    except OSError:
        return float("nan")  # the process ended


def _setting_default(name: str) -> Any:
    from config.settings import Settings

    return Settings.model_fields[name].default


def ratios_3d(times: dict[str, list[float]], med: dict[str, float]) -> dict[str, Any]:
    """Ingest with the 3D job running against the node idle, the bare SCP idle and the bare
    SCP at the same time (medians; and each node/bare pair)."""
    if not times["node_3d"] or not times["bare_3d"]:
        return {"error": "the reconstruction was over before the first burst"}
    m = {k: statistics.median(v) for k, v in times.items()}
    return {
        "median_s": m,
        "ratio_to_node_idle": m["node_3d"] / med["node_idle"],
        "ratio_to_bare_idle": m["node_3d"] / med["bare_idle"],
        "ratio_to_bare_3d": m["node_3d"] / m["bare_3d"],
        "pair_ratios_to_bare_3d": _pairs(times["node_3d"], times["bare_3d"]),
        "bare_3d_to_bare_idle": m["bare_3d"] / med["bare_idle"],
        "target_to_node_idle": TARGET_3D,
    }


# --- the run ----------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.deadline
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    burst = Burst(tmp / "photos", args.photos, args.associations)
    bare = BareScp(tmp / "bare")
    node = NodeProcess(
        root=tmp / "node",
        env_extra={
            "FACENODE_WORKERS": str(args.workers),
            "FACENODE_STABLE_AGE_S": "3600",
            "FACENODE_LOG_LEVEL": "WARNING",
        },
    )
    times: dict[str, list[float]] = {
        "bare_idle": [],
        "node_idle": [],
        "node_load": [],
        "bare_load": [],
    }
    load_cpu: dict[str, list[float]] = {"node_load": [], "bare_load": []}
    main_cpu: dict[str, list[float]] = {"node_load": [], "bare_load": []}
    expected_node = expected_bare = 0
    waits = Waits()
    # rendered before any burst: the bench's own CPU work is not in any phase
    series = multiview_series(args.views, args.size, tmp / "multiview") if args.views else None
    with_3d: dict[str, Any] | None = None
    try:
        bare.start()
        node.start()  # series never stable: no analysis yet
        for _ in range(args.repeats):
            times["bare_idle"].append(waits.burst("bare_idle", burst.write(), bare))
            times["node_idle"].append(waits.burst("node_idle", burst.write(), node))
            expected_bare += args.photos
            expected_node += args.photos
        if series is not None:  # (e) and (f): a fresh node, the same bare SCP
            node.stop()
            with_3d = run_3d(args, burst, bare, series, tmp / "node3d", deadline, waits)
            expected_bare += args.photos * len(with_3d["seconds"]["bare_3d"])
        # started again with series stable after 5 s: the bursts received so far become the
        # analysis load; wait until every worker analyses
        node.stop()
        node.env_extra["FACENODE_STABLE_AGE_S"] = "5"
        node.start()
        assert node.process is not None
        wait_until(
            lambda: (
                len(analysis_workers(node.process.pid)) >= args.workers  # type: ignore[union-attr]
                and running_jobs(node) >= args.workers
            ),
            timeout=180,
            interval=0.5,
            what="every analysis worker busy",
        )
        time.sleep(3)  # the workers past their start, analysing
        workers = analysis_workers(node.process.pid)
        for _ in range(args.repeats):
            for phase, target in (("node_load", node), ("bare_load", bare)):
                if time.monotonic() > deadline:
                    raise TimeoutError("benchmark deadline reached")
                groups = burst.write()
                cpu0, t0 = cpu_seconds(workers), time.perf_counter()
                main0 = cpu_seconds([node.process.pid])
                times[phase].append(waits.burst(phase, groups, target))
                elapsed = time.perf_counter() - t0
                load_cpu[phase].append((cpu_seconds(workers) - cpu0) / elapsed)
                main_cpu[phase].append((cpu_seconds([node.process.pid]) - main0) / elapsed)
                if phase == "node_load":
                    expected_node += args.photos
                else:
                    expected_bare += args.photos
        still_loaded = running_jobs(node) >= args.workers
        rss = {"node (listener, db, scheduler)": process_peak_mb(node.process.pid)}
        address_space = {}
        for n, pid in enumerate(workers, start=1):
            rss[f"analysis worker {n}"] = process_peak_mb(pid)
            address_space[f"analysis worker {n}"] = process_peak_mb(pid, "VmPeak")
        assert bare.process is not None
        rss["bare SCP"] = process_peak_mb(bare.process.pid)
        stored = {"node": node_rows(node), "bare": bare.count()}
    finally:
        node.stop()
        bare.stop()
    assert stored == {"node": expected_node, "bare": expected_bare}, stored
    med = {k: statistics.median(v) for k, v in times.items()}
    if with_3d is not None:
        with_3d.update(ratios_3d(with_3d["seconds"], med))
    return {
        "photos": args.photos,
        "associations": args.associations,
        "workers": args.workers,
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "seconds": times,
        "median_s": med,
        "ratio_loaded": med["node_load"] / med["bare_load"],
        "ratio_idle": med["node_idle"] / med["bare_idle"],
        "pair_ratios_loaded": _pairs(times["node_load"], times["bare_load"]),
        "pair_ratios_idle": _pairs(times["node_idle"], times["bare_idle"]),
        "target_loaded": TARGET_LOADED,
        "target_idle": TARGET_IDLE,
        "worker_cpu_s_per_s": load_cpu,
        "node_main_cpu_s_per_s": main_cpu,
        "load_lasted": still_loaded,
        "peak_rss_mb": rss,
        "worker_peak_address_space_mb": address_space,
        "stored": stored,
        "receiver_cpu_used_s": waits.used_s,
        "receiver_cpu_wait_s": waits.cpu_s,
        "disk_busy_s": waits.disk_busy_s,
        "with_3d": with_3d,
    }


def _pairs(node: list[float], bare: list[float]) -> list[float]:
    """node / bare of each pair of bursts sent one after the other (the machine's other load
    changes between pairs more than within one)."""
    return [n / b for n, b in zip(node, bare, strict=True)]


def print_table(r: dict[str, Any]) -> None:
    print(
        f"\n{r['photos']} photos over {r['associations']} associations; node with "
        f"{r['workers']} analysis workers; {r['cpus']} CPUs"
    )
    print(f"{'phase':<26} {'median s':>9} {'photos/s':>9}  runs")
    names = {
        "bare_idle": "(c) bare, no load",
        "node_idle": "(d) node, no load",
        "node_load": "(a) node, analysis load",
        "bare_load": "(b) bare, analysis load",
    }
    for key, name in names.items():
        runs = " ".join(f"{t:.2f}" for t in r["seconds"][key])
        print(
            f"{name:<26} {r['median_s'][key]:>9.2f} {r['photos'] / r['median_s'][key]:>9.1f}"
            f"  {runs}"
        )
    for key in ("node_load", "bare_load"):
        cpu = " ".join(f"{c:.2f}" for c in r["worker_cpu_s_per_s"][key])
        main = " ".join(f"{c:.2f}" for c in r["node_main_cpu_s_per_s"][key])
        print(f"during {key}: workers' CPU s/s {cpu}; node main process CPU s/s {main}")
    ok = {True: "ok", False: "OVER"}
    for label, key, target in (
        ("under load", "loaded", TARGET_LOADED),
        ("no load   ", "idle", TARGET_IDLE),
    ):
        ratio, pairs = r[f"ratio_{key}"], r[f"pair_ratios_{key}"]
        print(
            f"node / bare {label}: {ratio:.2f} of the medians, pairs "
            f"{' '.join(f'{p:.2f}' for p in pairs)} (target <= {target}: "
            f"{ok[ratio <= target]})"
        )
    print("peak RSS (VmHWM), and for workers peak address space (VmPeak; job_memory_mb):")
    for name, mb in r["peak_rss_mb"].items():
        vm = r["worker_peak_address_space_mb"].get(name)
        print(f"  {name:<32} {mb:8.0f} MB" + (f"   {vm:8.0f} MB" if vm else ""))
    print("per burst, the receiver's CPU time / its threads waiting for a CPU / disks busy, s:")
    for key, cpu in r["receiver_cpu_wait_s"].items():
        rows = zip(r["receiver_cpu_used_s"][key], cpu, r["disk_busy_s"][key], strict=True)
        print(f"  {key:<10} " + "   ".join(f"{u:.2f} / {c:.2f} / {d:.2f}" for u, c, d in rows))
    if r["with_3d"] is not None:
        print_3d(r["with_3d"], r["photos"])


def print_3d(t: dict[str, Any], photos: int) -> None:
    """(e) and (f): the bursts while a 3D job reconstructs, and what ran beside them."""
    print(
        f"\nwith a 3D job running ({t['views']} views of {t['size']}², stable age "
        f"{t['stable_age_s']:g} s; in SfM or dense {t['series_sent_to_reconstructing_s']:.0f} s "
        f"after the series was sent; load average {t['load_average'][0]:.1f} → "
        f"{t['load_average'][-1]:.1f}):"
    )
    if "error" in t:
        print(f"  NOT MEASURED: {t['error']}")
        return
    for key, name in (("node_3d", "(e) node, 3D job"), ("bare_3d", "(f) bare, 3D job")):
        runs = " ".join(f"{x:.2f}" for x in t["seconds"][key])
        med = t["median_s"][key]
        print(f"{name:<26} {med:>9.2f} {photos / med:>9.1f}  {runs}")
    ok = "ok" if t["ratio_to_node_idle"] <= TARGET_3D else "OVER"
    print(
        f"node with the 3D job / node idle {t['ratio_to_node_idle']:.2f} (target <= "
        f"{TARGET_3D}: {ok}); / bare idle {t['ratio_to_bare_idle']:.2f}; / bare beside the "
        f"same job {t['ratio_to_bare_3d']:.2f} (pairs "
        f"{' '.join(f'{p:.2f}' for p in t['pair_ratios_to_bare_3d'])}); bare beside the job / "
        f"bare idle {t['bare_3d_to_bare_idle']:.2f}"
    )
    for b in t["bursts"]:
        through = "through" if b["through"] else "NOT through"
        print(
            f"  {b['phase']} at +{b['start_s']:.0f} s, {b['seconds']:.2f} s: 3D job {through} "
            f"[{', '.join(b['stages'])}]; 3D worker CPU {b['worker_3d_cpu_s_per_s']:.2f} s/s, "
            f"node main {b['node_main_cpu_s_per_s']:.2f} s/s; 3D worker wrote "
            f"{b['worker_3d_written_mb']:.0f} MB; 2D jobs running {len(b['jobs_2d_running'])}"
        )
    j = t["job_3d"]
    took = f" in {j['seconds']:.0f} s" if j["seconds"] is not None else ""
    print(
        f"  3D job: stage {j['stage_after_bursts']} after the last burst; {j['state']}{took}"
        + (f" ({j['error']})" if j["error"] else "")
    )
    pm = t["peak_memory_mb"]
    print(
        f"  peak RSS (VmHWM): node {pm['node (listener, db, scheduler)']:.0f} MB, 3D worker "
        f"{pm['3D worker']:.0f} MB (address space {pm['3D worker address space']:.0f} MB of its "
        f"{t['reconstruction_memory_mb_limit']} MB limit)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--associations", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--views", type=int, default=16, help="multi-view series for (e)/(f); 0: none")
    ap.add_argument("--size", type=int, default=1024, help="its photos' side, px")
    ap.add_argument("--stable-3d", type=float, default=60.0,
                    help="the 3D phase's stable age, s: longer than its bursts")  # fmt: skip
    ap.add_argument("--deadline", type=float, default=900.0, help="seconds for the whole run")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "ingest.json")
    ap.add_argument("--bare-scp", nargs=2, metavar=("PORT", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.bare_scp:
        bare_scp(int(args.bare_scp[0]), Path(args.bare_scp[1]))
        return 0
    if not Path(STORESCU).exists():
        print(f"{STORESCU} (dcmtk) is needed", file=sys.stderr)
        return 2
    result = run(args)
    print_table(result)
    write_json(args.out, result)
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
