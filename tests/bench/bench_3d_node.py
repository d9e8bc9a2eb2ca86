"""The whole photogrammetric pipeline through the node: photos in by C-STORE, 3D results out
to a real destination, judged from the DICOM objects the node sent.

Run: ``nice .venv/bin/python -m tests.bench.bench_3d_node [--views 16] [--size 1024]
[--deviations 0,4] [--out bench-results/3d_node.json]``.

For each ``--deviations`` set (mm; :func:`tests.bench.multiview_synth.standard_deviations`:
chin and nasal tip shifted toward the subject's left, left brow raised):

1. The synthetic ground truth (:mod:`tests.bench.multiview_synth`, ``--views`` renders of
   ``--size``² on a ±70° arc, a ChArUco board in view) wrapped as one VL Photographic
   series (:func:`dicom.wrap.wrap_rgb_image`, one study and series, no focal length).
2. The baseline, in the same run and before the node starts: pycolmap SfM alone
   (:func:`reconstruction.cameras.run_sfm`) on the same pixels with the node's own SfM
   settings (one SIMPLE_RADIAL camera per view, no focal prior).
3. A real node (``facenode serve``, :class:`tests.support.node_proc.NodeProcess`: SQLite,
   its worker processes) sending to dcmtk's ``storescp`` (promiscuous: it takes the
   Encapsulated OBJ/MTL too); dcmtk's ``storescu`` C-STOREs the series to the node. The
   node analyses the photos in 2D, sees a multi-view series, runs the ``reconstruct_series``
   job in its 3D worker process and sends everything. While it runs, every 0.5 s, the
   bench reads the node's worker processes' peak resident memory (VmHWM) and the 3D job's
   stage from the node's database.
4. From the objects ``storescp`` received: dciodvfy on each (errors must be 0; OBJ and MTL
   through the STL proxy); the mesh from the Encapsulated STL, aligned to the truth
   **rigidly** — the rigid fit of the SR's inner-face landmarks (iBUG 17–67) onto the true
   ones, then rigid point-to-plane ICP of the surface (never a scale; the node's objects
   carry no cameras) — for the surface error (200 000 points on the mesh, distance to the
   true surface: mean / p95 / max, all and the face alone) and, with the same transform,
   the RMS of the SR's SCOORD3D landmarks against the 68 true ones; each SR measurement
   against the same measurement on the true mesh; each region's peak signed asymmetry
   against the truth's; the left brow lift (in the face frame of the symmetry plane fitted
   to the node's STL and SR landmarks by :func:`reconstruction.symmetry3d.analyse`, the
   plane the pipeline fits — the SR does not state it).

Then the recovered injected deviations: a set's value minus the 0 mm set's, against the
same difference on the truth (chin and nasal-tip deviation, brow lift, each region's peak
asymmetry). Times: the node's own stamps (3D job started → finished, the job summary's
per-stage timings, the photos' and the results' stages as seen), and from the first
C-STORE to the 2D job done, the 3D results stored and sent. Issue 10's target: the whole
pipeline ≤ 90 s for 16 views of 1024² on the 2-core CPU, quoted as a ratio to SfM alone.

The node's worker processes run at ``SCHED_IDLE`` (they take only the CPU nothing else
wants), the baseline at the bench's own priority: on a shared machine the load average
printed beside the figures says how far that matters. JSON in ``bench-results/3d_node.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pycolmap

from analysis.types import ModelIdentity
from node.db import JobKind, JobState, OutboxState
from reconstruction import symmetry3d
from reconstruction.cameras import run_sfm
from reconstruction.types import Landmark3D, LandmarkSource, SurfaceMesh
from tests.bench import multiview_synth as ms
from tests.bench.bench_3d import (
    brow_lift,
    landmark_errors,
    measurement_errors,
    mesh_surface_error,
    recovered,
    rigid,
    truth_measures,
)
from tests.bench.bench_landmarks3d import SCALE
from tests.bench.node_results3d import (
    Results3D,
    dciodvfy_all,
    in_study,
    is_3d,
    read_folder,
    read_results,
)
from tests.bench.photos import REPO
from tests.bench.report import analysis_workers, cpu_seconds, process_peak_mb, write_json
from tests.bench.roundtrip_phases import epoch
from tests.support.net import free_port, wait_for_port
from tests.support.node_proc import NodeProcess
from tests.support.storescu import STORESCU

STORESCP = "/usr/bin/storescp"
TARGET_S = 90.0
POLL_S = 0.5
RECONSTRUCT, RUNNING = JobKind.RECONSTRUCT.value, JobState.RUNNING.value
FINISHED = (JobState.DONE.value, JobState.FAILED.value)


# --- the series, the destination, the node --------------------------------------------


class Peer:
    """dcmtk's storescp as the node's destination, writing what it receives to ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True)
        self.process = subprocess.Popen(
            [STORESCP, "-pm", "+xa", "--aetitle", "PEER", "-od", str(self.folder),
             str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port, 30)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def _rows(database: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


class Watch(threading.Thread):
    """Every :data:`POLL_S`: the node's worker processes (when first seen, peak resident
    memory) and its 3D job's state and stage (when each was first seen, and every sample:
    whether the job ran through a given time window)."""

    def __init__(self, node_pid: int, database: Path) -> None:
        super().__init__(daemon=True)
        self.node_pid, self.database = node_pid, database
        self.first_seen: dict[int, float] = {}
        self.peak_mb: dict[int, float] = {}
        self.stages: dict[str, float] = {}  # the 3D job's stage → first seen (epoch)
        self.samples: list[tuple[float, str, str]] = []  # the 3D job: (epoch, state, stage)
        self.job_running_at: float | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.poll()
            self.done.wait(POLL_S)

    def poll(self) -> None:
        now = time.time()
        for pid in analysis_workers(self.node_pid):
            self.first_seen.setdefault(pid, now)
            try:
                self.peak_mb[pid] = max(self.peak_mb.get(pid, 0.0), process_peak_mb(pid))
            except OSError:
                pass  # ended meanwhile
        try:
            row = _rows(self.database, "SELECT state, stage FROM jobs WHERE kind = ?",
                        (RECONSTRUCT,))  # fmt: skip
        except sqlite3.Error:
            return  # the node holds a write lock: next time
        if row:
            self.samples.append((now, str(row[0][0]), str(row[0][1] or "")))
        if row and row[0][0] == RUNNING:
            if self.job_running_at is None:
                self.job_running_at = now
            if row[0][1]:
                self.stages.setdefault(str(row[0][1]), now)

    def workers_3d(self) -> list[int]:
        """Worker processes that appeared once the 3D job ran (its own: 3D job threads
        start theirs on their first job)."""
        t = self.job_running_at
        return [p for p, seen in self.first_seen.items() if t is not None and seen >= t]


def _finished(database: Path) -> bool:
    """The 3D job ended and no result waits in the outbox."""
    try:
        jobs = _rows(database, "SELECT state FROM jobs WHERE kind = ?", (RECONSTRUCT,))
        pending = _rows(database, "SELECT count(*) FROM outbox WHERE state = ?",
                        (OutboxState.PENDING.value,))[0][0]  # fmt: skip
    except sqlite3.Error:
        return False
    return bool(jobs) and jobs[0][0] in FINISHED and pending == 0


def run_node(paths: list[Path], work: Path, timeout_s: float) -> dict[str, Any]:
    """C-STORE ``paths`` to a fresh node sending to a fresh storescp; wait for the 3D job
    and every result sent; the node's and the bench's stamps, memory and CPU."""
    peer = Peer(work / "received")
    destination = f"PEER=PEER@127.0.0.1:{peer.port}"
    node = NodeProcess(work / "node", free_port(), env_extra={"FACENODE_DESTINATIONS": destination})
    peer.start()
    try:
        node.start()
        assert node.process is not None
        watch = Watch(node.process.pid, node.database)
        watch.start()
        t0 = time.time()
        sent = subprocess.run(
            [STORESCU, "-aet", "BENCH", "-aec", node.ae_title, "127.0.0.1", str(node.port),
             *map(str, paths)],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        stored_s = time.time() - t0
        if sent.returncode != 0:
            raise RuntimeError(f"storescu failed: {sent.stderr[-2000:]}")
        deadline = time.monotonic() + timeout_s
        while not _finished(node.database):
            if time.monotonic() > deadline or node.process.poll() is not None:
                raise TimeoutError(
                    f"no 3D result after {timeout_s:.0f} s:\n{node.log_text()[-4000:]}"
                )
            time.sleep(POLL_S)
        watch.done.set()
        watch.join()
        watch.poll()  # the last peaks, the workers still alive
        w3d = watch.workers_3d()
        memory = {
            "node_main_mb": process_peak_mb(node.process.pid),
            "worker_3d_mb": max((watch.peak_mb[p] for p in w3d), default=float("nan")),
            "worker_2d_mb": max((m for p, m in watch.peak_mb.items() if p not in w3d),
                                default=float("nan")),
            "worker_3d_address_space_mb": max((process_peak_mb(p, "VmPeak") for p in w3d),
                                              default=float("nan")),
        }  # fmt: skip
        cpu = {"worker_3d_s": cpu_seconds(w3d), "node_main_s": cpu_seconds([node.process.pid])}
        stamps = node_stamps(node.database)
    finally:
        node.stop()
        peer.stop()
    return {
        "t0": t0,
        "storescu_s": stored_s,
        "stamps": stamps,
        "stages_seen": watch.stages,
        "worker_3d_pids": w3d,
        "worker_3d_seen": min((watch.first_seen[p] for p in w3d), default=None),
        "peak_memory": memory,
        "cpu": cpu,
        "log_tail": node.log_text()[-3000:],
    }


def node_stamps(database: Path) -> dict[str, Any]:
    """The node's own record: each job (kind, state, times, summary) and the 3D job's results
    in the outbox (first stored, last sent)."""
    jobs = _rows(database, "SELECT id, kind, state, created_at, started_at, finished_at, "
                           "summary, error FROM jobs ORDER BY id")  # fmt: skip
    out: dict[str, Any] = {"jobs": []}
    for jid, kind, state, created, started, finished, summary, error in jobs:
        job = {"id": jid, "kind": kind, "state": state, "created": epoch(created),
               "started": epoch(started) if started else None,
               "finished": epoch(finished) if finished else None, "error": error}  # fmt: skip
        if kind == RECONSTRUCT:
            job["summary"] = json.loads(summary) if summary else {}
            sql = "SELECT min(created_at), max(sent_at), count(*) FROM outbox WHERE job_id = ?"
            stored, sent, n = _rows(database, sql, (jid,))[0]
            out["results_3d"] = {"stored": epoch(stored) if stored else None,
                                 "sent": epoch(sent) if sent else None, "objects": n}  # fmt: skip
        out["jobs"].append(job)
    return out


# --- timing -----------------------------------------------------------------------------


def timing(run: dict[str, Any], sfm_alone_s: float) -> dict[str, Any]:
    """Seconds from the first C-STORE, the 3D job's wall time and its stages, the ratio."""
    t0, st = run["t0"], run["stamps"]
    job3d = next(j for j in st["jobs"] if j["kind"] == RECONSTRUCT)
    jobs2d = [j for j in st["jobs"] if j["kind"] != RECONSTRUCT and j["finished"]]
    summary = job3d.get("summary", {})
    seen = sorted(run["stages_seen"].items(), key=lambda kv: kv[1])
    ends = [t for _, t in seen[1:]] + [job3d["finished"]]
    seen_s = {name: end - start for (name, start), end in zip(seen, ends, strict=True)}
    job_s = job3d["finished"] - job3d["started"]
    res = st.get("results_3d", {})

    def since(t: float | None) -> float | None:
        return None if t is None else t - t0

    return {
        "storescu_s": run["storescu_s"],
        "from_first_store_s": {
            "2d_done": since(max((j["finished"] for j in jobs2d), default=None)),
            "3d_queued": since(job3d["created"]),
            "3d_started": since(job3d["started"]),
            "3d_finished": since(job3d["finished"]),
            "3d_results_stored": since(res.get("stored")),
            "3d_results_sent": since(res.get("sent")),
        },
        "job_3d_s": job_s,
        "worker_task_s": summary.get("seconds"),
        "worker_start_s": (min(run["stages_seen"].values()) - run["worker_3d_seen"])
        if run["stages_seen"] and run["worker_3d_seen"] else None,
        "stages_s": summary.get("timings_s", {}),
        "stages_seen_s": seen_s,
        "sfm_alone_s": sfm_alone_s,
        "ratio_to_sfm": job_s / sfm_alone_s,
        "target_s": TARGET_S,
    }  # fmt: skip


# --- evaluation from the objects ----------------------------------------------------------


def evaluate(res: Results3D, face: ms.FaceModel, true_m: dict[str, Any]) -> dict[str, Any]:
    """Surface, landmark, measurement and asymmetry errors of the node's objects against the
    true ``face`` and ``true_m`` (:func:`tests.bench.bench_3d.truth_measures` of it)."""
    inner = [f"ibug_{i:02d}" for i in range(17, 68) if f"ibug_{i:02d}" in res.landmarks]
    if len(inner) < 6:
        raise ValueError(f"the SR has {len(inner)} inner-face landmarks; 6 needed to align")
    initial = rigid(
        np.array([res.landmarks[k] for k in inner]),
        np.array([face.landmarks[int(k[5:])] for k in inner]),
    )
    to_true, surface = mesh_surface_error(res.vertices, res.triangles, face, initial)
    surface = {"landmarks_only": surface.pop("initial"), **surface}
    values = {k: (m.value, m.unit, m.uncertainty) for k, m in res.measurements.items()}
    measures = measurement_errors(values, true_m)
    pcts = [abs(v["error_pct"]) for v in measures.values() if v["error_pct"] is not None]
    asym = {}
    for r in true_m["sym"].regions:
        peak = res.measurements.get(f"asymmetry_{r.region}")
        mean_abs = res.measurements.get(f"asymmetry_{r.region}_mean_abs")
        if peak is not None:
            asym[r.region] = {
                "value": peak.value, "truth": r.peak_signed_mm,
                "error": peak.value - r.peak_signed_mm,
                "mean_abs": mean_abs.value if mean_abs else None, "mean_abs_truth": r.mean_abs_mm,
            }  # fmt: skip
    mesh = SurfaceMesh(res.vertices, res.triangles, SCALE, ModelIdentity("node", "stl", "1", "-"))
    lms = {k: Landmark3D(k, p, 0.0, LandmarkSource.TRIANGULATED) for k, p in res.landmarks.items()}
    plane = symmetry3d.analyse(mesh, lms).plane
    return {
        "mesh_triangles": len(res.triangles),
        "objects_by_series": {str(k): len(v) for k, v in sorted(res.objects.items())},
        "surface_error": surface,
        "landmarks_found": len(res.landmarks),
        "alignment_landmarks": len(inner),
        **landmark_errors(res.landmarks, to_true, face.landmarks),
        "measurements": measures,
        "distances_within_1pct": float(np.mean(np.asarray(pcts) <= 1.0)) if pcts else None,
        "n_distances": len(pcts),
        "asymmetry": asym,
        "brow_lift": brow_lift(res.landmarks, plane, true_m),
    }


def recovered_asymmetry(sets: list[dict[str, Any]]) -> None:
    """Each region's peak asymmetry in a set minus the 0 mm set's, against the truth's."""
    base = next((s for s in sets if s["deviation_mm"] == 0.0 and "asymmetry" in s), None)
    for s in sets:
        if base is None or "asymmetry" not in s:
            continue
        s["recovered_asymmetry"] = {
            region: {
                "recovered": v["value"] - base["asymmetry"][region]["value"],
                "true": v["truth"] - base["asymmetry"][region]["truth"],
            }
            for region, v in s["asymmetry"].items()
            if region in base["asymmetry"]
        }
        for v in s["recovered_asymmetry"].values():
            v["error"] = v["recovered"] - v["true"]


# --- one set --------------------------------------------------------------------------------


def run_set(d: float, views: int, size: int, work: Path, timeout_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "deviation_mm": d,
        "views": views,
        "size": size,
        "cpu_count": os.cpu_count(),
        "load_average_start": os.getloadavg(),
    }
    t = time.perf_counter()
    truth = ms.make_set(views, size, deviations=ms.standard_deviations(d) if d else ())
    out["render_s"] = time.perf_counter() - t
    paths, study = ms.write_series(truth, work / "photos")

    pycolmap.logging.minloglevel = 2  # as in the node's worker: errors only
    t, c = time.perf_counter(), time.process_time()
    run_sfm(list(truth.images), min_views=8)  # the node's SfM settings (ReconstructionOptions)
    sfm_s, sfm_cpu = time.perf_counter() - t, time.process_time() - c

    run = run_node(paths, work, timeout_s)
    out["load_average_end"] = os.getloadavg()
    out["timing"] = timing(run, sfm_s)
    out["timing"]["sfm_alone_cpu_s"] = sfm_cpu
    out["peak_memory_mb"] = run["peak_memory"]
    out["cpu_s"] = run["cpu"]
    job3d = next(j for j in run["stamps"]["jobs"] if j["kind"] == RECONSTRUCT)
    out["job_3d"] = {k: job3d[k] for k in ("state", "error", "summary") if k in job3d}

    objects = in_study(read_folder(work / "received"), study)
    out["dciodvfy"] = dciodvfy_all(objects, work / "proxies")
    results = [ds for _, ds in objects if is_3d(ds)]
    out["objects"] = {"all": len(objects), "3d": len(results)}
    if job3d["state"] != JobState.DONE.value or job3d.get("summary", {}).get("refused"):
        out["error"] = f"3D job {job3d['state']}: {job3d.get('error') or job3d.get('summary')}"
        out["log_tail"] = run["log_tail"]
        return out
    out.update(evaluate(read_results(results), truth.face, truth_measures(truth.face)))
    return out


# --- report -----------------------------------------------------------------------------------


def _print(sets: list[dict[str, Any]]) -> None:
    for r in sets:
        tm = r["timing"]
        la = r["load_average_start"][0], r["load_average_end"][0]
        print(
            f"\n--- through the node, deviations {r['deviation_mm']:g} mm: {r['views']} views of "
            f"{r['size']}² (load {la[0]:.1f} → {la[1]:.1f} on {r['cpu_count']} cores) ---"
        )
        fs = tm["from_first_store_s"]
        print(
            "from the first C-STORE, s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in fs.items() if v is not None)
            + f" (storescu {tm['storescu_s']:.1f})"
        )
        ok = "ok" if tm["job_3d_s"] <= TARGET_S else "OVER"
        print(
            f"3D job {tm['job_3d_s']:.1f} s wall (target ≤ {TARGET_S:.0f}: {ok}); worker task "
            f"{tm['worker_task_s']} s; SfM alone {tm['sfm_alone_s']:.1f} s "
            f"({tm['sfm_alone_cpu_s']:.0f} s cpu) → ratio {tm['ratio_to_sfm']:.2f}; "
            f"3D worker cpu {r['cpu_s']['worker_3d_s']:.0f} s"
        )
        print(
            "stages (job summary), s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in tm["stages_s"].items())
        )
        print(
            "stages (as seen, ±0.5), s: "
            + ", ".join(f"{k} {v:.1f}" for k, v in tm["stages_seen_s"].items())
        )
        pm = r["peak_memory_mb"]
        print(
            f"peak memory (VmHWM): 3D worker {pm['worker_3d_mb']:.0f} MB (address space "
            f"{pm['worker_3d_address_space_mb']:.0f} MB), 2D worker {pm['worker_2d_mb']:.0f} MB, "
            f"node {pm['node_main_mb']:.0f} MB"
        )
        dv = r["dciodvfy"]
        print(f"dciodvfy: {dv['errors']} errors over {dv['objects']} objects "
              f"({r['objects']['3d']} of them 3D)"
              + (f": {dv['with_errors']}" if dv["with_errors"] else ""))  # fmt: skip
        if "error" in r:
            print(f"NO 3D RESULT: {r['error']}")
            continue
        js = r["job_3d"]["summary"]
        print(
            f"registered {js['registered']} of {js['photos']}, reprojection "
            f"{js['reprojection_error_px']:.2f} px, scale {js['scale']} "
            f"(±{100 * js['scale_relative_uncertainty']:.2f} %); 3D worker start "
            f"{tm['worker_start_s'] or float('nan'):.1f} s; notes: {js['notes'] or 'none'}"
        )
        for k in ("landmarks_only", "all", "face"):
            e = r["surface_error"][k]
            print(f"surface error {k:<14} mean {e['mean_mm']:.3f}  p95 {e['p95_mm']:.3f}  "
                  f"max {e['max_mm']:.2f} mm")  # fmt: skip
        ic = r["surface_error"]["icp_correction"]
        print(
            f"  (ICP moved the landmark fit by {ic['deg']:.2f}° / {ic['mm']:.2f} mm; mesh "
            f"{r['mesh_triangles']} triangles)"
        )
        pct = r["distances_within_1pct"]
        print(
            f"landmarks {r['landmarks_found']}: RMS {r['landmark_rms_mm']:.2f} mm (inner face "
            f"{r['landmark_rms_inner_mm']:.2f}); distances within 1 %: "
            + (f"{pct:.0%} of {r['n_distances']}" if pct is not None else "none")
        )
        _print_values(r)


def _print_values(r: dict[str, Any]) -> None:
    """Each value against the truth, then what was recovered of the injected deviations."""
    rows = [(k, m["value"], m["truth"], m["unit"], m["error_pct"])
            for k, m in r["measurements"].items()]  # fmt: skip
    rows += [(f"asymmetry {k} (peak)", a["value"], a["truth"], "mm", None)
             for k, a in r["asymmetry"].items()]  # fmt: skip
    rows += [(f"asymmetry {k} (mean abs)", a["mean_abs"], a["mean_abs_truth"], "mm", None)
             for k, a in r["asymmetry"].items() if a["mean_abs"] is not None]  # fmt: skip
    if r["brow_lift"]:
        rows.append(
            ("left brow lift", r["brow_lift"]["value"], r["brow_lift"]["truth"], "mm", None)
        )
    print(f"  {'value':32s} {'node':>8} {'truth':>8} {'error':>7}")
    for key, value, truth, unit, pct in rows:
        tail = f" ({pct:+.1f} %)" if pct is not None else ""
        print(f"  {key:32s} {value:8.2f} {truth:8.2f} {value - truth:+7.2f} {unit}{tail}")
    if r["deviation_mm"] == 0:
        return
    rec = dict(r.get("recovered", {}))
    rec.update({f"asymmetry {k}": v for k, v in r.get("recovered_asymmetry", {}).items()})
    for key, v in rec.items():
        print(f"  recovered {key:22s} {v['recovered']:+6.2f} mm (true {v['true']:+6.2f}, "
              f"error {v['error']:+.2f})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--views", type=int, default=16)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--deviations", default="0,4")
    ap.add_argument("--timeout", type=float, default=1200.0, help="s per set, for the node")
    ap.add_argument("--keep", type=Path, default=None, help="keep each set's files here")
    ap.add_argument("--out", type=Path, default=REPO / "bench-results" / "3d_node.json")
    args = ap.parse_args(argv)
    sets = []
    for d in (float(x) for x in args.deviations.split(",") if x):
        with tempfile.TemporaryDirectory(prefix="bench3dnode-") as tmp:
            work = (args.keep / f"dev{d:g}") if args.keep else Path(tmp)
            sets.append(run_set(d, args.views, args.size, work, args.timeout))
    recovered([s for s in sets if "error" not in s])
    recovered_asymmetry(sets)
    _print(sets)
    write_json(args.out, {"sets": sets})
    print(f"\nwrote {args.out}")
    return 0 if all("error" not in s and s["dciodvfy"]["errors"] == 0 for s in sets) else 1


if __name__ == "__main__":
    raise SystemExit(main())
