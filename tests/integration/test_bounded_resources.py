"""Bounded resources against a real node (``facenode serve`` subprocess) and dcmtk's storescu.

* A small JPEG whose headers say 25000 × 25000 (the JPEG bomb), one whose DICOM header says
  64 × 64 while its JPEG (or JPEG 2000) frame header says 25000 × 25000, and a JPEG cut in
  half: each refused at C-STORE with a failure status (0xA700 out of resources for a size
  limit, 0xC000 for the truncated one) and kept in quarantine with the reason; the node's
  memory stays bounded (peak RSS < 1 GB) and a following good photo stores fine.
* Past the header checks (``max_pixels`` raised to let a 60000 × 60000 JPEG through), the
  decoder's allocation meets the worker's memory limit: the worker dies, not the node; the
  photo is tried ``job_max_attempts`` times and quarantined with the reason, and the node
  goes on analysing.
* A photo whose analysis outlasts ``job_timeout_s`` has its worker killed and is
  quarantined after its attempts, never resumed for ever.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from skimage.data import astronaut

from dicom.wrap import wrap_rgb_image
from tests.integration.conftest import storescu
from tests.support.bombs import j2k_lying_header, jpeg_bomb, lying_header, truncated_jpeg
from tests.support.net import wait_until
from tests.support.node_proc import NodeProcess

pytestmark = pytest.mark.integration

OUT_OF_RESOURCES = "Refused: OutOfResources"
CANNOT_UNDERSTAND = "Error: CannotUnderstand"
MAX_NODE_RSS_KB = 1_000_000  # 1 GB


def _send(node: NodeProcess, ds: Dataset, folder: Path, name: str) -> str:
    """C-STORE with dcmtk's storescu, proposing the file's own transfer syntax; the status
    text from its verbose log ("Success", "Refused: OutOfResources", …)."""
    path = folder / f"{name}.dcm"
    ds.save_as(path, enforce_file_format=True)
    propose = {"1.2.840.10008.1.2.4.50": ("-xy",), "1.2.840.10008.1.2.4.90": ("-xv",)}
    extra = ("-v", *propose.get(str(ds.file_meta.TransferSyntaxUID), ()))
    out = storescu(path, node.port, node.ae_title, extra=extra)
    found = re.search(r"Received Store Response \((.+?)\)", out.stdout + out.stderr)
    assert found, f"no store response from storescu:\n{out.stdout}{out.stderr}"
    return found[1]


def _instances(node: NodeProcess) -> dict[str, tuple[str, str, str]]:
    """sop_instance_uid → (role, note, path), read from the node's database."""
    with sqlite3.connect(node.root / "var" / "facenode.db") as db:
        rows = db.execute("SELECT sop_instance_uid, role, note, path FROM instances").fetchall()
    return {uid: (role, note, path) for uid, role, note, path in rows}


def _quarantined_notes(node: NodeProcess) -> list[str]:
    return [note for role, note, _ in _instances(node).values() if role == "quarantined"]


def _peak_rss_kb(pid: int) -> int:
    """VmHWM: the most resident memory the process ever had."""
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    assert found
    return int(found[1])


def _job_states(node: NodeProcess) -> list[str]:
    with sqlite3.connect(node.root / "var" / "facenode.db") as db:
        return [s for (s,) in db.execute("SELECT state FROM jobs")]


def _analysed(node: NodeProcess, uid: str) -> bool:
    with sqlite3.connect(node.root / "var" / "facenode.db") as db:
        row = db.execute("SELECT role, analysed_at FROM instances WHERE sop_instance_uid = ?",
                         (uid,)).fetchone()
    return row is not None and row[0] == "photo" and row[1] is not None


def _good_photo() -> Dataset:
    return wrap_rgb_image(astronaut(), patient_name="Good^Photo")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """One node with the default limits, for the refusals at C-STORE."""
    running = NodeProcess(root=tmp_path_factory.mktemp("bounded"),
                          env_extra={"FACENODE_STABLE_AGE_S": "3600"})
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("make", "status", "reason"),
    [
        (jpeg_bomb, OUT_OF_RESOURCES, "25000 x 25000 pixels x 1 frame(s) = 625.0 MP"),
        (lying_header, OUT_OF_RESOURCES, "JPEG header says 25000 x 25000"),
        (j2k_lying_header, OUT_OF_RESOURCES, "JPEG 2000 header says 25000 x 25000"),
        (truncated_jpeg, CANNOT_UNDERSTAND, "without its end marker (FFD9)"),
    ],
    ids=["jpeg-bomb", "lying-header-jpeg", "lying-header-j2k", "truncated-jpeg"],
)
def test_refused_at_c_store_quarantined_and_the_node_goes_on(
    node: NodeProcess, tmp_path: Path, make: object, status: str, reason: str
) -> None:
    hostile: Dataset = make()  # type: ignore[operator]
    assert _send(node, hostile, tmp_path, "hostile") == status
    assert any(reason in note for note in _quarantined_notes(node))
    kept = [Path(p) for role, note, p in _instances(node).values()
            if role == "quarantined" and reason in note]
    assert kept and all(p.is_relative_to(node.root / "var" / "quarantine") and p.exists()
                        for p in kept)
    assert str(hostile.SOPInstanceUID) not in _instances(node)  # not stored as received
    assert node.process is not None and node.process.poll() is None
    assert _peak_rss_kb(node.process.pid) < MAX_NODE_RSS_KB

    good = _good_photo()
    assert _send(node, good, tmp_path, "good") == "Success"
    assert _instances(node)[str(good.SOPInstanceUID)][0] == "photo"


def _worker_node(root: Path, **env: str) -> NodeProcess:
    return NodeProcess(root=root, env_extra={
        "FACENODE_STABLE_AGE_S": "0.5", "FACENODE_JOB_MAX_ATTEMPTS": "2", **env})


def _wait_quarantined(node: NodeProcess, uid: str, timeout: float) -> str:
    def note() -> str | None:
        role, text, _ = _instances(node).get(uid, ("", "", ""))
        return text if role == "quarantined" else None

    text = wait_until(note, timeout=timeout, interval=0.5, what="photo quarantined")
    assert isinstance(text, str)
    return text


def test_a_bomb_past_the_header_limit_meets_the_worker_memory_limit(
    tmp_path: Path, stop_later: list[object]
) -> None:
    node = _worker_node(tmp_path / "node", FACENODE_MAX_PIXELS="4000000000",
                        FACENODE_JOB_MEMORY_MB="4096")
    stop_later.append(node)
    node.start()
    bomb = jpeg_bomb(60000, 60000)  # 10.8 GB decoded
    assert _send(node, bomb, tmp_path, "bomb") == "Success"  # allowed by max_pixels here

    note = _wait_quarantined(node, str(bomb.SOPInstanceUID), timeout=300)
    assert "did not finish in 2 attempt(s)" in note and "out of memory" in note
    assert node.process is not None and node.process.poll() is None
    assert _peak_rss_kb(node.process.pid) < MAX_NODE_RSS_KB  # the node never decoded it
    assert "analysis worker" in node.log_text()

    good = _good_photo()  # a fresh worker analyses the next photo
    assert _send(node, good, tmp_path, "good") == "Success"
    wait_until(lambda: _analysed(node, str(good.SOPInstanceUID)), timeout=300, interval=0.5,
               what="good photo analysed")


def test_an_analysis_over_its_time_is_killed_and_quarantined_not_resumed(
    tmp_path: Path, stop_later: list[object]
) -> None:
    node = _worker_node(tmp_path / "node", FACENODE_JOB_TIMEOUT_S="0.2")
    stop_later.append(node)
    node.start()
    photo = _good_photo()
    assert _send(node, photo, tmp_path, "slow") == "Success"
    note = _wait_quarantined(node, str(photo.SOPInstanceUID), timeout=300)
    assert "did not finish in 2 attempt(s)" in note
    assert "took longer than 0.2 s (job_timeout_s)" in note
    wait_until(lambda: _job_states(node) == ["done"], timeout=60, what="job finished")
    node.stop()  # a restart does not pick the photo up again
    node.start()
    time.sleep(2)
    assert _job_states(node) == ["done"]
    assert _instances(node)[str(photo.SOPInstanceUID)][0] == "quarantined"


def test_a_stop_during_analysis_puts_the_job_back_uncounted(tmp_path: Path) -> None:
    """The node stops while its worker is busy with a photo: the worker is killed, the job
    goes back to the queue with the start uncounted, no worker process is left behind."""
    from sqlalchemy import select

    from config.settings import load_settings
    from node.db import Instance, Job
    from node.service import Node
    from tests.support.net import free_port

    settings = load_settings(env={}, storage_dir=tmp_path / "var", port=free_port(),
                             bind_address="127.0.0.1", min_free_disk_mb=0, stable_age_s=0.2,
                             workers=1)
    running = Node(settings)
    running.start()
    try:
        photo = _good_photo()
        path = tmp_path / "photo.dcm"
        photo.save_as(path, enforce_file_format=True)
        assert storescu(path, settings.port, settings.ae_title).returncode == 0

        def job_running() -> bool:
            running.tick()
            with running.sessions() as s:
                return s.scalar(select(Job.state)) == "running"

        wait_until(job_running, timeout=60, interval=0.1, what="job running")
        wait_until(lambda: running.analyzers.pids(), timeout=60, interval=0.1,  # type: ignore[attr-defined]
                   what="worker process started")
        pids = running.analyzers.pids()  # type: ignore[attr-defined]
    finally:
        running.stop()
    with running.sessions() as s:
        job = s.scalars(select(Job)).one()
        row = s.scalars(select(Instance)).one()
    assert (job.state, job.attempts) == ("queued", 0)
    assert row.role == "photo" and row.analysed_at is None
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
