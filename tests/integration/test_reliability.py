"""Reliability against real processes: the node (``facenode serve`` as a subprocess), dcmtk's
storescu as the sender and Orthanc as the PACS.

* kill -9 at four points — mid-receive, right after store, mid-job, mid-send — each followed
  by a restart on the same storage and database. Then three counts are compared: what the
  sender was told (storescu's answer per object), what the node holds (its ``instances``,
  ``jobs`` and ``outbox`` tables, and the files they name), and what the PACS received
  (Orthanc's instances of the study, by SOP Instance UID). Every object the sender was told
  stored is held and analysed, every result reaches the PACS (a result sent twice is the
  same SOP Instance UID, which the PACS keeps once), nothing refused to the sender is held as
  a photo, and no job is left queued or running.
* A PACS outage: results produced while Orthanc is down wait in the outbox (visible in
  ``facenode status --json``) and are all delivered once it is back on the same port.
* Patient identifiers: after a round trip with a distinctive (non-ASCII) name, ID and birth
  date, none of them is in the node's output, its log files or any file or folder name.

Photos without a face make most of the load: the analysis finds none in a fraction of a
second yet still produces results (an SR, an annotated image and a PDF), so a scenario can
be many photos long and still quick. The kill points print their counts (``pytest -s``).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid
from skimage.data import astronaut

from dicom.wrap import wrap_rgb_image
from tests.support import node_db, storescu
from tests.support.net import free_port
from tests.support.node_proc import NodeProcess
from tests.support.orthanc import Orthanc, new_orthanc

pytestmark = pytest.mark.integration

T = TypeVar("T")

BACKEND = "dlib"  # a quick landmark model; any backend would do
SETTLE_S = 150.0  # the longest wait for a node to finish what it holds (the slowest: mid-job)

#: The study the PACS is slow for: each of its objects is held 0.3 s before Orthanc answers,
#: so that a delivery to it is an association with time inside it (the mid-send kill).
SLOW_STUDY = generate_uid()
SLOW_FILTER = """
function ReceivedInstanceFilter(dicom, origin, info)
  if dicom['StudyInstanceUID'] == '%s' then
    os.execute('sleep 0.3')
  end
  return true
end
"""


# ---------------------------------------------------------------------------------------
# what is sent
# ---------------------------------------------------------------------------------------
def _no_face(size: int) -> np.ndarray:
    """A smooth colour ramp: a valid photo in which no face can be found."""
    ramp = (np.arange(size) * 255 // max(size - 1, 1)).astype(np.uint8)
    img = np.zeros((size, size, 3), np.uint8)
    img[..., 0] = ramp[None, :]
    img[..., 1] = ramp[:, None]
    img[..., 2] = 96
    return img


def _face() -> np.ndarray:
    """A real face photo (scikit-image's astronaut): seconds of analysis."""
    return np.asarray(astronaut())  # type: ignore[no-untyped-call]


@dataclass
class Delivery:
    """The objects of one storescu run, in sending order, and what each should become."""

    study_uid: str
    files: list[Path]
    photos: dict[Path, str]  # file → SOP Instance UID: photos the node must store and analyse
    refused: dict[Path, str]  # the node must refuse these (a photo without pixel data)


def _delivery(folder: Path, study_uid: str, pixels: list[np.ndarray],
              refused_at: int | None = None, patient_name: str = "Reliability^Test",
              patient_id: str = "REL-1") -> Delivery:
    """One series of photos (``pixels``), plus, at index ``refused_at``, one object the node
    must refuse. Files are written under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    photos: dict[Path, str] = {}
    for n, img in enumerate(pixels, start=1):
        ds = wrap_rgb_image(img, study_uid=study_uid, series_uid=series_uid,
                            instance_number=n, patient_name=patient_name,
                            patient_id=patient_id)
        path = folder / f"photo-{n:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        photos[path] = str(ds.SOPInstanceUID)
    files = list(photos)
    refused: dict[Path, str] = {}
    if refused_at is not None:
        bad = wrap_rgb_image(_no_face(32), study_uid=study_uid, series_uid=series_uid,
                             instance_number=len(pixels) + 1)
        del bad.PixelData  # a photo must carry an image: refused at C-STORE time
        path = folder / "no-pixels.dcm"
        bad.save_as(path, enforce_file_format=True)
        refused[path] = str(bad.SOPInstanceUID)
        files.insert(refused_at, path)
    return Delivery(study_uid, files, photos, refused)


def _send(delivery: Delivery, node: NodeProcess, log: Path) -> subprocess.Popen[bytes]:
    return storescu.start(delivery.files, node.port, node.ae_title, log)


def _finish(scu: subprocess.Popen[bytes], timeout: float = 120) -> None:
    try:
        scu.wait(timeout)
    except subprocess.TimeoutExpired:
        scu.kill()
        scu.wait(10)
        pytest.fail(f"storescu still running after {timeout:.0f} s")


# ---------------------------------------------------------------------------------------
# the processes
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pacs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """One Orthanc for the kill points and the identifier round trip (each uses its own
    study); slow for :data:`SLOW_STUDY` only."""
    root = tmp_path_factory.mktemp("pacs")
    slow = root / "slow-study.lua"
    slow.write_text(SLOW_FILTER % SLOW_STUDY)
    orthanc = new_orthanc(root / "orthanc")
    orthanc.start({}, lua_scripts=(slow,))
    yield orthanc
    orthanc.stop()


def _node(root: Path, pacs: Orthanc, stop_later: list[object], **env: str) -> NodeProcess:
    node = NodeProcess(root=root, port=free_port(), env_extra={
        "FACENODE_ANALYSIS_BACKEND": BACKEND,
        "FACENODE_DESTINATIONS": f"PACS={pacs.aet}@127.0.0.1:{pacs.dicom_port}",
        **env,
    })
    stop_later.append(node)
    return node


def _wait(what: str, probe: Callable[[], T | None], timeout: float, node: NodeProcess,
          seen: Callable[[], str], interval: float = 0.25) -> T:
    """Poll ``probe`` until it returns something truthy; on timeout fail with what was
    expected, what was seen last and the end of the node's log."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"expected {what} within {timeout:.0f} s; seen: {seen()}\n"
                        f"--- node log (end) ---\n{node.log_text()[-3000:]}")
        time.sleep(interval)


def _settled(node: NodeProcess, timeout: float = SETTLE_S) -> node_db.NodeRecords:
    """Wait until the node has finished with what it holds: every photo analysed, no job
    queued or running, no result waiting in the outbox."""
    def probe() -> node_db.NodeRecords | None:
        r = node_db.read(node.database)
        busy = (any(not p.analysed for p in r.photos())
                or any(j.state in ("queued", "running") for j in r.jobs)
                or any(o.state == "pending" for o in r.outbox))
        return None if busy else r

    return _wait("every photo analysed, no job queued or running, no result pending",
                 probe, timeout, node, lambda: node_db.read(node.database).summary())


# ---------------------------------------------------------------------------------------
# the count
# ---------------------------------------------------------------------------------------
@dataclass
class Count:
    point: str
    sent: int  # objects storescu sent or tried to send
    told_stored: int
    told_refused: int
    unanswered: int
    held_photos: int
    held_unanswered: int  # held although the answer never reached the sender
    analysed: int
    refused_held: int  # told refused, yet held as a photo (must be 0)
    results: int  # result objects the node queued for the PACS
    delivered: int  # of those, marked sent
    in_pacs: int  # of those, in the PACS (by SOP Instance UID)
    pacs_unknown: int  # instances of the study in the PACS that the node never queued
    resent: int  # results the PACS had already when the kill came (sent again after)
    jobs: dict[str, int]
    attempts: int  # the most attempts one job took

    def line(self) -> str:
        return (f"kill -9 {self.point}: sent {self.sent}, told stored {self.told_stored}, "
                f"told refused {self.told_refused}, no answer {self.unanswered} | node holds "
                f"{self.held_photos} photos ({self.held_unanswered} of them unanswered), "
                f"analysed {self.analysed}, refused-but-held {self.refused_held} | results "
                f"{self.results}, delivered {self.delivered}, in PACS {self.in_pacs} "
                f"(re-sent after the kill {self.resent}, unknown {self.pacs_unknown}) | jobs "
                f"{self.jobs}, most attempts {self.attempts}")


def _account(point: str, delivery: Delivery, told: dict[Path, str | None],
             node: NodeProcess, pacs: Orthanc, resent: int = 0) -> Count:
    """Wait for the restarted node to settle, then compare the three counts and assert."""
    held = _settled(node)
    rows = {i.sop_instance_uid: i for i in held.instances}
    in_pacs = set(pacs.sop_uids_of_study(delivery.study_uid))
    queued = {o.sop_instance_uid for o in held.outbox}
    uid_of = {**delivery.photos, **delivery.refused}
    told_stored = [f for f, s in told.items() if storescu.stored(s)]
    told_refused = [f for f, s in told.items() if s is not None and not storescu.stored(s)]
    unanswered = [f for f, s in told.items() if s is None]
    count = Count(
        point=point, sent=len(told), told_stored=len(told_stored),
        told_refused=len(told_refused), unanswered=len(unanswered),
        held_photos=len(held.photos()),
        held_unanswered=sum(1 for f in unanswered if uid_of[f] in rows),
        analysed=sum(1 for p in held.photos() if p.analysed),
        refused_held=sum(1 for f in told_refused
                         if uid_of[f] in rows and rows[uid_of[f]].role == "photo"),
        results=len(queued),
        delivered=sum(1 for o in held.outbox if o.state == "sent"),
        in_pacs=len(queued & in_pacs), pacs_unknown=len(in_pacs - queued), resent=resent,
        jobs=held.job_states(), attempts=max((j.attempts for j in held.jobs), default=0),
    )
    print(count.line())

    # the sender's view against the node's
    lost = [f.name for f in told_stored if uid_of[f] not in rows]
    assert not lost, f"{point}: told stored but not held by the node: {lost}"
    for f in told_stored:
        row = rows[uid_of[f]]
        assert f in delivery.photos, f"{point}: {f.name} was to be refused, yet was told stored"
        assert row.role == "photo" and row.analysed, (
            f"{point}: {f.name} told stored, held as {row.role}, analysed={row.analysed}")
        assert Path(row.path).is_file(), f"{point}: {f.name} held, its file is gone"
        assert str(dcmread(row.path).SOPInstanceUID) == uid_of[f], f"{point}: {row.path}"
    assert count.refused_held == 0, f"{point}: objects told refused are held as photos"
    assert all(delivery.refused[f] not in rows or rows[delivery.refused[f]].role != "photo"
               for f in delivery.refused), f"{point}: the invalid object is held as a photo"
    # the node's view: nothing stuck, nothing failed
    assert count.analysed == count.held_photos, f"{point}: {held.summary()}"
    assert set(count.jobs) == {"done"}, f"{point}: jobs {count.jobs} (all must be done)"
    # one analysis per photo: one SR each (a re-analysis would add an SR with a new UID)
    srs = sum(1 for o in held.outbox if o.kind == "sr")
    assert srs == count.analysed, f"{point}: {srs} SRs for {count.analysed} analysed photos"
    # the node's view against the PACS's
    assert count.delivered == count.results, f"{point}: outbox {held.outbox_states()}"
    missing = sorted(queued - in_pacs)
    assert not missing, f"{point}: {len(missing)} results marked sent are not in the PACS"
    assert count.pacs_unknown == 0, (
        f"{point}: the PACS holds {count.pacs_unknown} objects of the study the node never "
        "queued (a duplicate under a new SOP Instance UID?)")
    return count


def _told(log: Path, delivery: Delivery) -> dict[Path, str | None]:
    return storescu.answers(log.read_text(errors="replace"), delivery.files)


# ---------------------------------------------------------------------------------------
# kill -9 at four points
# ---------------------------------------------------------------------------------------
def test_kill_mid_receive(pacs: Orthanc, tmp_path: Path, stop_later: list[object]) -> None:
    """SIGKILL while storescu is halfway through 24 large photos on one association."""
    node = _node(tmp_path / "node", pacs, stop_later)
    node.start()
    delivery = _delivery(tmp_path / "send", generate_uid(), [_no_face(1200)] * 24, refused_at=1)
    log = tmp_path / "storescu.log"
    scu = _send(delivery, node, log)
    instances = node.storage / "instances"
    try:
        _wait("3 photos stored while storescu is still sending",
              lambda: scu.poll() is not None or sum(1 for _ in instances.rglob("*.dcm")) >= 3,
              60, node, lambda: "storescu running" if scu.poll() is None else "storescu done",
              interval=0.02)
        in_flight = scu.poll() is None
        node.kill()
    finally:
        _finish(scu)
    assert in_flight, "storescu had sent everything before the kill: no mid-receive point"
    told = _told(log, delivery)
    assert any(s is None for s in told.values()), "the kill cut no object off"
    assert all(s is not None and not storescu.stored(s) for f, s in told.items()
               if f in delivery.refused), f"the invalid object was not refused: {told}"
    node.start()
    count = _account("mid-receive", delivery, told, node, pacs)
    assert count.told_stored >= 2 and count.unanswered >= 1


def test_kill_right_after_store(pacs: Orthanc, tmp_path: Path,
                                stop_later: list[object]) -> None:
    """SIGKILL once every photo was answered Success, before the series is stable."""
    node = _node(tmp_path / "node", pacs, stop_later, FACENODE_STABLE_AGE_S="5")
    node.start()
    delivery = _delivery(tmp_path / "send", generate_uid(), [_no_face(320)] * 3, refused_at=3)
    log = tmp_path / "storescu.log"
    _finish(_send(delivery, node, log))
    node.kill()
    at_kill = node_db.read(node.database)
    told = _told(log, delivery)
    assert sum(1 for s in told.values() if storescu.stored(s)) == 3, told
    assert not at_kill.jobs, f"a job had started before the kill: {at_kill.summary()}"
    assert len(at_kill.photos()) == 3 and not any(p.analysed for p in at_kill.photos())
    node.env_extra["FACENODE_STABLE_AGE_S"] = "1"
    node.start()
    count = _account("after store", delivery, told, node, pacs)
    assert count.told_stored == count.analysed == 3


def test_kill_mid_job(pacs: Orthanc, tmp_path: Path, stop_later: list[object]) -> None:
    """SIGKILL while the job analyses a real face (seconds), after it finished a first photo."""
    node = _node(tmp_path / "node", pacs, stop_later)
    node.start()
    pixels = [_no_face(320), _face(), _no_face(320)]
    delivery = _delivery(tmp_path / "send", generate_uid(), pixels)
    log = tmp_path / "storescu.log"
    _finish(_send(delivery, node, log))
    running_since: list[float] = []

    def analysing() -> bool:
        r = node_db.read(node.database)
        if not any(j.state == "running" for j in r.jobs):
            return False
        if not running_since:
            running_since.append(time.monotonic())
        done = sum(1 for p in r.photos() if p.analysed)
        # mid-job: a photo finished and one still to do; or (should the node mark photos
        # only at the end) the job has been running for a while
        return 0 < done < len(pixels) or (done == 0 and time.monotonic() - running_since[0] > 5)

    _wait("a job running, part of its photos analysed", analysing, 120, node,
          lambda: node_db.read(node.database).summary(), interval=0.1)
    node.kill()
    at_kill = node_db.read(node.database)
    assert any(j.state == "running" for j in at_kill.jobs), at_kill.summary()
    print(f"mid-job kill with {sum(p.analysed for p in at_kill.photos())} of {len(pixels)} "
          "photos analysed")
    analysed_at_kill = sum(p.analysed for p in at_kill.photos())
    node.start()
    count = _account("mid-job", delivery, _told(log, delivery), node, pacs)
    # the killed job ran again and finished what it had not (job attempts count per photo and
    # start again at 1 once a photo is done, so they do not show the restart)
    assert analysed_at_kill < 3 and count.analysed == 3


def test_kill_mid_send(pacs: Orthanc, tmp_path: Path, stop_later: list[object]) -> None:
    """SIGKILL inside a delivery: the PACS has part of the batch, the node has not yet
    recorded it as sent, so it sends those again after the restart."""
    node = _node(tmp_path / "node", pacs, stop_later)
    node.start()
    delivery = _delivery(tmp_path / "send", SLOW_STUDY, [_no_face(320)] * 4)
    log = tmp_path / "storescu.log"
    _finish(_send(delivery, node, log))

    def in_pacs_not_recorded() -> set[str]:
        pending = {o.sop_instance_uid for o in node_db.read(node.database).outbox
                   if o.state == "pending"}
        both = pending & set(pacs.sop_uids_of_study(SLOW_STUDY))
        return both if len(both) >= 2 else set()

    _wait("2 results in the PACS that the node still has pending (a delivery under way)",
          in_pacs_not_recorded, 120, node, lambda: node_db.read(node.database).summary(),
          interval=0.05)
    node.kill()
    at_kill = node_db.read(node.database)
    pending = {o.sop_instance_uid for o in at_kill.outbox if o.state == "pending"}
    resent = len(pending & set(pacs.sop_uids_of_study(SLOW_STUDY)))
    node.start()
    count = _account("mid-send", delivery, _told(log, delivery), node, pacs, resent=resent)
    assert count.resent >= 2 and count.analysed == 4


# ---------------------------------------------------------------------------------------
# a PACS outage
# ---------------------------------------------------------------------------------------
def _status(node: NodeProcess) -> dict[str, Any]:
    out = node.cli("status", "--json")
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_pacs_outage_results_wait_then_all_delivered(tmp_path: Path,
                                                     stop_later: list[object]) -> None:
    orthanc = new_orthanc(tmp_path / "orthanc")
    stop_later.append(orthanc)
    orthanc.start({})
    node = _node(tmp_path / "node", orthanc, stop_later)
    node.start()
    study = generate_uid()
    before = _delivery(tmp_path / "before", study, [_no_face(320)])
    _finish(_send(before, node, tmp_path / "before.log"))
    first = _settled(node)
    assert set(orthanc.sop_uids_of_study(study)) == {o.sop_instance_uid for o in first.outbox}

    orthanc.stop()  # the outage: the PACS is down while new results are produced
    during = _delivery(tmp_path / "during", study, [_no_face(320)] * 2)
    _finish(_send(during, node, tmp_path / "during.log"))

    def waiting() -> dict[str, Any] | None:
        r = node_db.read(node.database)
        pending = [o for o in r.outbox if o.state == "pending"]
        return ({"pending": len(pending)} if r.job_states() == {"done": 2}
                and pending and all(o.attempts >= 2 for o in pending) else None)

    _wait("both jobs done and every new result retried at least twice", waiting, 120, node,
          lambda: node_db.read(node.database).summary())
    status = _status(node)
    pending = status["outbox"].get("pending", 0)
    assert pending >= 7, status["outbox"]  # 2 photos × (SR, SC, PDF) + the series report
    assert status["outbox"].get("sent") == len(first.outbox), status["outbox"]
    assert status["outbox_problems"] and all(
        o["state"] == "pending" and o["attempts"] >= 2 for o in status["outbox_problems"])
    retries = max(o["attempts"] for o in status["outbox_problems"])

    orthanc.start({})  # back, on the same ports, with what it had before
    after = _settled(node, timeout=60)
    status = _status(node)
    assert status["outbox"] == {"sent": len(after.outbox)}, status["outbox"]
    in_pacs = set(orthanc.sop_uids_of_study(study))
    assert in_pacs == {o.sop_instance_uid for o in after.outbox}
    print(f"PACS outage: {pending} results waited (up to {retries} attempts each), "
          f"all {len(after.outbox)} results in the PACS after it came back")


# ---------------------------------------------------------------------------------------
# patient identifiers
# ---------------------------------------------------------------------------------------
FAMILY, GIVEN = "Ünal", "Zoë"
NAME = f"{FAMILY}^{GIVEN}"
PATIENT_ID = "ZÖ-80417-Ü"
BIRTH_DATE = "19370615"
IDENTIFIERS = (NAME, FAMILY, GIVEN, PATIENT_ID, BIRTH_DATE, "1937-06-15", "15.06.1937")


def _leaks(data: bytes) -> list[str]:
    """The identifiers in ``data``: as UTF-8 text (any case), or as Latin-1 bytes."""
    text = data.decode("utf-8", errors="replace").casefold()
    found = [v for v in IDENTIFIERS if v.casefold() in text]
    found += [f"{v} (Latin-1)" for v in IDENTIFIERS
              if not v.isascii() and v.encode("latin-1") in data]
    return found


def test_no_patient_identifier_in_logs_or_file_names(
    pacs: Orthanc, tmp_path: Path, stop_later: list[object]
) -> None:
    node = _node(tmp_path / "node", pacs, stop_later, FACENODE_LOG_LEVEL="DEBUG")
    node.start()
    delivery = _delivery(tmp_path / "send", generate_uid(), [_face()],
                         patient_name=NAME, patient_id=PATIENT_ID)
    photo = next(iter(delivery.photos))
    ds = dcmread(photo)
    ds.PatientBirthDate = BIRTH_DATE
    ds.save_as(photo, enforce_file_format=True)
    _finish(_send(delivery, node, tmp_path / "storescu.log"))
    held = _settled(node)
    node.stop()
    assert held.job_states() == {"done": 1} and held.outbox_states() == {"sent": len(held.outbox)}
    # the identifiers did make the round trip: in the node's copy, and in the PACS
    kept = node.storage / "instances"
    assert any(_leaks(p.read_bytes()) for p in kept.rglob("*.dcm")), "the scan sees nothing"
    sop_uids = pacs.sop_uids_of_study(delivery.study_uid)
    assert len(sop_uids) == len(held.outbox) >= 3
    first = pacs.post("/tools/lookup", sop_uids[0].encode())[0]["ID"]
    assert pacs.get(f"/instances/{first}/simplified-tags")["PatientName"] == NAME

    leaks: list[str] = []
    for cmd in (("status",), ("status", "--json")):  # what an admin would run
        out = node.cli(*cmd)
        leaks += [f"`facenode {' '.join(cmd)}`: {v}"
                  for v in _leaks((out.stdout + out.stderr).encode())]
    data_dirs = [node.storage / d for d in ("instances", "results", "quarantine")]
    scanned = 0
    for path in sorted(node.root.rglob("*")):
        rel = path.relative_to(node.root)
        leaks += [f"name {rel}: {v}" for v in _leaks(path.name.encode())]
        is_data = any(path.is_relative_to(d) for d in data_dirs)
        is_db = path.name.startswith("facenode.db")
        if path.is_file() and not is_data and not is_db:  # the node's output and log files
            scanned += 1
            leaks += [f"file {rel}: {v}" for v in _leaks(path.read_bytes())]
    log = node.log_text()
    assert "analysing" in log and "DEBUG" in log, "the node's log is not what was expected"
    names = sum(1 for _ in node.root.rglob("*"))
    print(f"identifier scan: {scanned} log/output files and {names} file and folder names, "
          f"{len(log.splitlines())} log lines: {len(leaks)} identifiers found")
    assert not leaks, "patient identifiers outside the DICOM data:\n" + "\n".join(leaks)
