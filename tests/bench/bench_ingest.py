"""Durable ingest while analysis runs: the node against a bare pynetdicom SCP, same burst,
same load, same run.

Run: ``.venv/bin/python -m tests.bench.bench_ingest [--photos 300] [--associations 4]
[--workers 2] [--repeats 3]`` (about 2 minutes; bounded by ``--deadline``).

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
each analysis worker, the bare SCP. Results: table on stdout, JSON in ``bench-results/ingest.json``.
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
from tests.bench.report import analysis_workers, cpu_seconds, process_peak_mb, write_json
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


# --- processes --------------------------------------------------------------------------


def node_rows(node: NodeProcess) -> int:
    with sqlite3.connect(node.root / "var" / "facenode.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM instances").fetchone()[0])


def running_jobs(node: NodeProcess) -> int:
    with sqlite3.connect(node.root / "var" / "facenode.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'running'").fetchone()[0])


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
    try:
        bare.start()
        node.start()  # series never stable: no analysis yet
        for _ in range(args.repeats):
            times["bare_idle"].append(send_burst(burst.write(), bare.port, bare.ae_title))
            times["node_idle"].append(send_burst(burst.write(), node.port, node.ae_title))
            expected_bare += args.photos
            expected_node += args.photos
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
                times[phase].append(send_burst(groups, target.port, target.ae_title))
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--associations", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--deadline", type=float, default=270.0, help="seconds for the whole run")
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
