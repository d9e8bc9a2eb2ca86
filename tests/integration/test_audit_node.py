"""The audit trail of a real node (``facenode serve`` as a subprocess) driven by dcmtk:
accepted and rejected associations, a C-ECHO, a stored photo, a photo refused for its
invalid SOP Instance UID, a corrected photo re-sent under the same UID, all queried with
``facenode audit`` and forwarded live to a syslog collector (a UDP socket of the test);
the database and every stored file readable by the node's user only; ``facenode purge``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dicom.wrap import wrap_rgb_image
from tests.factories import with_raw_uid
from tests.integration.conftest import storescu
from tests.support.net import wait_until
from tests.support.node_proc import NodeProcess

pytestmark = pytest.mark.integration

INVALID_UID = "1.2.3/../../x"


@pytest.fixture
def collector() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    yield sock
    sock.close()


@pytest.fixture
def node(tmp_path: Path, collector: socket.socket) -> Iterator[NodeProcess]:
    proc = NodeProcess(tmp_path / "node", env_extra={
        "FACENODE_ACCEPTED_CALLING_AE_TITLES": "STORESCU",
        "FACENODE_AUDIT_SYSLOG": f"127.0.0.1:{collector.getsockname()[1]}",
        "FACENODE_STABLE_AGE_S": "3600",  # no analysis: this test is about ingest
    })
    proc.start()
    yield proc
    proc.stop()


def _photo(path: Path, pixels: np.ndarray, **uids: str) -> Path:
    ds = wrap_rgb_image(pixels, patient_name="Audit^Probe", patient_id="AUD-4711", **uids)
    ds.save_as(path, enforce_file_format=True)
    return path


def _audit(node: NodeProcess, *args: str) -> list[dict[str, object]]:
    out = node.cli("audit", "--json", *args)
    assert out.returncode == 0, out.stderr
    return list(json.loads(out.stdout))


def _received(collector: socket.socket) -> list[str]:
    got = []
    while True:
        try:
            got.append(collector.recv(9000).decode())
        except TimeoutError:
            return got


def test_the_node_audits_what_peers_do_and_keeps_its_files_private(
    node: NodeProcess, tmp_path: Path, collector: socket.socket
) -> None:
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)
    good = _photo(tmp_path / "good.dcm", pixels)
    from pydicom import dcmread

    first = dcmread(good)
    uid = str(first.SOPInstanceUID)
    assert storescu(good, node.port, "FACENODE").returncode == 0
    bad = with_raw_uid(dcmread(good), "SOPInstanceUID", INVALID_UID)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bad.save_as(tmp_path / "bad.dcm", enforce_file_format=True)
    refused = storescu(tmp_path / "bad.dcm", node.port, "FACENODE")
    assert "0xc000" in (refused.stdout + refused.stderr).lower() or refused.returncode != 0
    intruder = storescu(good, node.port, "FACENODE", calling_ae="INTRUDER")
    assert intruder.returncode != 0
    echo = subprocess.run(["/usr/bin/echoscu", "-aet", "STORESCU", "-aec", "FACENODE",
                           "127.0.0.1", str(node.port)], capture_output=True, timeout=30)
    assert echo.returncode == 0
    corrected = _photo(tmp_path / "corrected.dcm", 255 - pixels, sop_uid=uid,
                       study_uid=str(first.StudyInstanceUID),
                       series_uid=str(first.SeriesInstanceUID))
    assert storescu(corrected, node.port, "FACENODE").returncode == 0
    assert storescu(corrected, node.port, "FACENODE").returncode == 0  # same again

    rows = wait_until(lambda: _audit(node) if len(_audit(node)) >= 12 else None,
                      timeout=30, what="audit rows")
    events = [r["event"] for r in rows]
    # four accepted stores + one echo; one rejected association
    assert events.count("assoc-accepted") == 5 and events.count("assoc-rejected") == 1
    assert events.count("echo") == 1
    by_event = {e: [r for r in rows if r["event"] == e] for e in set(events)}
    [received] = by_event["received"]
    assert received["sop_instance_uid"] == uid and received["actor"] == "STORESCU@127.0.0.1"
    [new_version] = by_event["new-version"]
    assert new_version["sop_instance_uid"] == uid
    assert "version 2 replaces version 1" in str(new_version["detail"])
    [duplicate] = by_event["duplicate"]
    assert duplicate["sop_instance_uid"] == uid and duplicate["status"] == 0
    [refusal] = by_event["refused"]
    assert refusal["status"] == 0xC000 and refusal["sop_instance_uid"] == ""
    assert "SOPInstanceUID is not a valid UID" in str(refusal["detail"])
    assert len(by_event["quarantined"]) == 1
    [rejected] = by_event["assoc-rejected"]
    assert rejected["calling_ae"] == "INTRUDER" and rejected["peer_ip"] == "127.0.0.1"
    assert "calling ae title not in accepted_calling_ae_titles" in str(rejected["detail"]).lower()
    assert all(r["called_ae"] == "FACENODE" for r in by_event["assoc-accepted"])
    text = json.dumps(rows)
    assert "Audit^Probe" not in text and "AUD-4711" not in text  # no patient identifiers

    # the query options
    assert [r["event"] for r in _audit(node, "--event", "refused")] == ["refused"]
    assert {r["event"] for r in _audit(node, "--sop", uid)} == {"received", "new-version",
                                                              "duplicate"}
    assert _audit(node, "--since", "2999-01-01") == []
    plain = node.cli("audit", "--event", "assoc-rejected")
    assert "assoc-rejected" in plain.stdout and "INTRUDER@127.0.0.1" in plain.stdout

    # forwarded live to the collector, one RFC 5424 message per row
    messages = wait_until(lambda: _received(collector) or None, timeout=15,
                          what="syslog messages")
    messages += _received(collector)
    assert all(m.startswith("<") and ">1 " in m and " facenode " in m for m in messages)
    assert {json.loads(m.split(" - ", 1)[1])["event"] for m in messages} >= {
        "assoc-accepted", "assoc-rejected", "received", "refused", "new-version", "echo"}
    # and on demand
    out = node.cli("audit", "--event", "echo", "--syslog",
                   f"127.0.0.1:{collector.getsockname()[1]}")
    assert out.returncode == 0 and "1 audit row(s) sent" in out.stderr
    assert any(" echo - " in m for m in _received(collector))

    # private: the database, its WAL and every stored file 0600, every folder 0700
    var = node.root / "var"
    for path in [var, *var.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"
    assert {"facenode.db", "facenode.db-wal"} <= {p.name for p in var.iterdir()}
    stored = list((var / "instances").rglob("*.dcm"))
    assert sorted(p.name for p in stored) == sorted([f"{uid}.dcm", f"{uid}.v2.dcm"])
    assert not any("x" in p.name.split(".dcm")[0] for p in var.rglob("*.dcm")
                   if "quarantine" not in str(p))

    # retention at 0 days: the quarantined object and the replaced first version go (the
    # second version waits for its analysis and delivery)
    dry = node.cli("purge", "--older-than", "0", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)
    assert (plan["quarantine"]["objects"], plan["photos"]["objects"]) == (1, 1)
    assert len(list((var / "quarantine").iterdir())) == 1
    done = node.cli("purge", "--older-than", "0")
    assert done.returncode == 0 and done.stdout.startswith("purged ")
    assert list((var / "quarantine").iterdir()) == []
    assert [p.name for p in (var / "instances").rglob("*.dcm")] == [f"{uid}.v2.dcm"]
    purged = _audit(node, "--event", "purged")
    assert len(purged) == 2 and all(str(p["actor"]).startswith("cli:") for p in purged)
    assert {p["sop_instance_uid"] for p in purged} == {"", uid}
    assert len(_audit(node)) > len(rows)  # nothing deleted from the trail


def test_purge_refuses_a_negative_age(node: NodeProcess) -> None:
    out = node.cli("purge", "--older-than", "-3")
    assert out.returncode == 2 and "--older-than" in out.stderr
    assert os.path.exists(node.root / "var")
