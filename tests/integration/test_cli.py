"""The command line as an operator uses it: analyze files into a folder, echo a peer (dcmtk's
storescp as the real peer), status on a fresh node."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import highdicom as hd
import pytest
from pydicom import dcmread
from skimage.data import astronaut, coffee

from tests.support.dciodvfy import dciodvfy_errors
from tests.support.net import free_port, wait_for_port

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _facenode(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("FACENODE_")}
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "node.cli", *args], cwd=REPO, env=base,
                          capture_output=True, text=True, timeout=300)


def test_analyze_image_files_into_dicom_and_json(tmp_path: Path) -> None:
    face = tmp_path / "astronaut.png"
    cv2.imwrite(str(face), cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
    empty = tmp_path / "coffee.jpg"
    cv2.imwrite(str(empty), cv2.cvtColor(coffee(), cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    table = tmp_path / "measurements.csv"
    run = _facenode("analyze", str(face), str(empty), "-o", str(out), "--csv", str(table),
                    env={"FACENODE_STORAGE_DIR": str(tmp_path / "var")})
    assert run.returncode == 0, run.stderr
    summary = json.loads((out / "summary.json").read_text())
    for entry in summary:  # the PDF report beside the objects, same bytes as the DOC object
        pdf = (out / entry["report"]).read_bytes()
        assert pdf.startswith(b"%PDF-")
        doc = next(out / n for n in entry["outputs"] if n.endswith("_doc.dcm"))
        assert dcmread(doc).EncapsulatedDocument.startswith(pdf)
    with table.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["input"] for r in rows] == [str(face), str(empty)]
    assert float(rows[0]["interpupillary_distance [mm]"]) > 40
    assert rows[1]["face_found"] == "no" and rows[1]["interpupillary_distance [mm]"] == ""
    assert [e["face_found"] for e in summary] == [True, False]
    ids = {m["id"] for m in summary[0]["measurements"]}
    assert {"interpupillary_distance", "symmetry_index"} <= ids
    assert summary[0]["scale"]["source"] == "iris_diameter"
    assert "No face" in summary[1]["message"]
    for name in summary[0]["outputs"] + summary[1]["outputs"]:
        assert dciodvfy_errors(out / name) == [], name
    no_face_sr = next(out / n for n in summary[1]["outputs"] if n.endswith("_sr.dcm"))
    sr = hd.sr.Comprehensive3DSR.from_dataset(dcmread(no_face_sr))
    [group] = sr.content.get_planar_roi_measurement_groups()  # the photo, 0 faces
    [count] = group.get_measurements()
    assert count.value == 0
    [evaluations] = [i for i in sr.ContentSequence
                     if i.ConceptNameCodeSequence[0].CodeMeaning == "Qualitative Evaluations"]
    detection = next(i for i in evaluations.ContentSequence
                     if i.ConceptNameCodeSequence[0].CodeMeaning == "Face detection")
    assert detection.ConceptCodeSequence[0].CodeMeaning == "No face detected"
    assert "No face was detected" in detection.ContentSequence[0].TextValue


def test_analyze_reports_unreadable_input(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not an image")
    run = _facenode("analyze", str(junk), "-o", str(tmp_path / "out"),
                    env={"FACENODE_STORAGE_DIR": str(tmp_path / "var")})
    assert run.returncode == 1
    assert "neither a DICOM file nor an image" in run.stderr


def test_echo_a_real_peer_and_a_dead_one(tmp_path: Path) -> None:
    port, dead = free_port(), free_port()
    peer = subprocess.Popen(["/usr/bin/storescp", "--aetitle", "PEER", str(port)],
                            cwd=tmp_path, env={**os.environ, "TCP_NODELAY": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        env = {"FACENODE_DESTINATIONS": f"PEER=PEER@127.0.0.1:{port};DEAD=DEAD@127.0.0.1:{dead}",
               "FACENODE_NETWORK_TIMEOUT_S": "5"}
        ok = _facenode("echo", "PEER", env=env)
        assert ok.returncode == 0, ok.stderr
        assert "Success" in ok.stdout
        down = _facenode("echo", "DEAD", env=env)
        assert down.returncode == 1 and "FAILED" in down.stderr
        unknown = _facenode("echo", "NOPE", env=env)
        assert unknown.returncode == 2 and "known: PEER, DEAD" in unknown.stderr
    finally:
        peer.terminate()
        peer.wait(10)


def test_bad_configuration_is_a_clear_error(tmp_path: Path) -> None:
    run = _facenode("status", env={"FACENODE_PORT": "0", "FACENODE_STORAGE_DIR": str(tmp_path)})
    assert run.returncode == 2
    assert "invalid configuration" in run.stderr and "port" in run.stderr


def test_status_of_a_fresh_node(tmp_path: Path) -> None:
    run = _facenode("status", env={"FACENODE_STORAGE_DIR": str(tmp_path / "var")})
    assert run.returncode == 0, run.stderr
    assert "outbox" in run.stdout and "none" in run.stdout


def test_status_answers_without_log_noise_unless_asked(tmp_path: Path) -> None:
    """A one-shot command logs warnings only: the migrations it ran stay out of its answer."""
    env = {"FACENODE_STORAGE_DIR": str(tmp_path / "var")}
    quiet = _facenode("status", env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "alembic" not in quiet.stdout + quiet.stderr
    assert " INFO " not in quiet.stdout + quiet.stderr
    assert quiet.stdout.startswith("instances")
    verbose = _facenode("-v", "status", env=env)  # asked for: INFO lines on stderr
    assert verbose.returncode == 0, verbose.stderr
    assert "INFO alembic" in verbose.stderr and "alembic" not in verbose.stdout
    assert verbose.stdout == quiet.stdout
