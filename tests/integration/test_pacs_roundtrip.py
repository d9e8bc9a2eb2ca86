"""The node beside a real PACS: Orthanc routes a photographic series to the node with the
clinic's Lua rule, the node analyses it and C-STOREs an SR and an annotated SC back."""

from __future__ import annotations

import json
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from pydicom import dcmread

from tests.integration.conftest import storescu
from tests.support.dciodvfy import dciodvfy_errors
from tests.support.net import free_port, wait_until
from tests.support.node_proc import NodeProcess
from tests.support.orthanc import new_orthanc

pytestmark = pytest.mark.integration

SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"
PDF_CLASS = "1.2.840.10008.5.1.4.1.1.104.1"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"


def _results_in_orthanc(orthanc, source_uid: str) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    """Orthanc instance ids of our results, by SOP class, excluding the source photo."""
    out: dict[str, list[str]] = {}
    for iid in orthanc.get("/instances"):
        tags = orthanc.get(f"/instances/{iid}/simplified-tags")
        if tags.get("SOPInstanceUID") == source_uid:
            continue
        out.setdefault(tags.get("SOPClassUID", ""), []).append(iid)
    return out


def _setup(tmp_path: Path, stop_later: list[object], start_orthanc: bool = True):  # type: ignore[no-untyped-def]
    orthanc = new_orthanc(tmp_path / "orthanc")
    node = NodeProcess(root=tmp_path / "node", port=free_port(), env_extra={
        "FACENODE_DESTINATIONS": f"PACS=ORTHANC@127.0.0.1:{orthanc.dicom_port}",
    })
    stop_later.extend([node, orthanc])
    node.start()
    if start_orthanc:
        orthanc.start({"facenode": ("FACENODE", "127.0.0.1", node.port)})
    return orthanc, node


def test_photo_routed_by_orthanc_comes_back_as_sr_and_sc(
    tmp_path: Path, astronaut_photo: Path, stop_later: list[object]
) -> None:
    orthanc, node = _setup(tmp_path, stop_later)
    source = dcmread(astronaut_photo)
    sent = storescu(astronaut_photo, orthanc.dicom_port, orthanc.aet)
    assert sent.returncode == 0, sent.stderr

    def results_back() -> dict[str, list[str]] | None:
        found = _results_in_orthanc(orthanc, str(source.SOPInstanceUID))
        return found if {SR_CLASS, SC_CLASS, PDF_CLASS} <= set(found) else None

    try:
        found = wait_until(results_back, timeout=180, interval=1.0,
                           what="SR, SC and PDF in Orthanc")  # fmt: skip
    except TimeoutError:
        pytest.fail("no results in Orthanc.\nnode log:\n" + node.log_text()[-4000:]
                    + "\northanc log:\n" + orthanc.log_text()[-3000:])

    for sop_class, ids in found.items():
        for iid in ids:
            path = tmp_path / f"{iid}.dcm"
            path.write_bytes(orthanc.get_bytes(f"/instances/{iid}/file"))
            assert dciodvfy_errors(path) == [], f"dciodvfy errors in {sop_class}"
            ds = dcmread(path)
            assert ds.StudyInstanceUID == source.StudyInstanceUID
            assert ds.PatientID == source.PatientID
            assert ds.SeriesInstanceUID != source.SeriesInstanceUID
            if sop_class == SC_CLASS:  # stored compressed, losslessly, as the node sent it
                assert ds.file_meta.TransferSyntaxUID == JPEG_LS_LOSSLESS
            if sop_class == PDF_CLASS:
                assert ds.Modality == "DOC" and ds.EncapsulatedDocument.startswith(b"%PDF-")

    sr_path = tmp_path / f"{found[SR_CLASS][0]}.dcm"
    sr = hd.sr.Comprehensive3DSR.from_dataset(dcmread(sr_path))
    landmarks: dict[str, np.ndarray] = {}
    for group in sr.content.get_image_measurement_groups():  # one per face region
        points, *named = group.get_measurements()
        (coords,) = points.referenced_coordinates
        ref = coords.ContentSequence[0].ReferencedSOPSequence[0]
        assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
        for m, xy in zip(named, np.asarray(coords.value, dtype=float), strict=True):
            landmarks[m.name.value] = xy
    assert len(landmarks) >= 68, "the SR carries the landmarks on the source photo"
    pts = np.array(list(landmarks.values()))
    assert (pts[:, 0] > 0).all() and (pts[:, 0] < source.Columns).all()
    assert (pts[:, 1] > 0).all() and (pts[:, 1] < source.Rows).all()
    # the astronaut's pupils (SCOORD: pixel centre + 0.5), checked by eye on the photo
    np.testing.assert_allclose(landmarks["lm:pupil_r"], [203.6, 101.4], atol=6)
    np.testing.assert_allclose(landmarks["lm:pupil_l"], [246.8, 103.7], atol=6)
    measured = {
        m.name.value: m
        for g in sr.content.get_planar_roi_measurement_groups()
        for m in g.get_measurements()
    }
    ipd = measured["m:interpupillary_distance"]
    assert ipd.unit.value == "mm" and 50 < ipd.value < 75
    assert "m:symmetry_index" in measured

    status = node.cli("status", "--json")
    assert status.returncode == 0, status.stderr
    state = json.loads(status.stdout)
    assert state["jobs"].get("done") == 1
    assert state["outbox"].get("sent", 0) >= 2 and not state["outbox"].get("pending")


def test_results_wait_in_outbox_while_pacs_is_down(
    tmp_path: Path, astronaut_photo: Path, stop_later: list[object]
) -> None:
    orthanc, node = _setup(tmp_path, stop_later, start_orthanc=False)
    sent = storescu(astronaut_photo, node.port, "FACENODE")  # straight to the node
    assert sent.returncode == 0, sent.stderr

    def waiting() -> dict | None:  # type: ignore[type-arg]
        st = json.loads(node.cli("status", "--json").stdout)
        retried = [o for o in st["outbox_problems"] if o["attempts"] >= 2]
        return st if st["jobs"].get("done") == 1 and len(retried) >= 2 else None

    state = wait_until(waiting, timeout=180, interval=1.0, what="results retried in the outbox")
    assert state["outbox"].get("pending", 0) >= 2
    assert not state["outbox"].get("sent")

    orthanc.start({"facenode": ("FACENODE", "127.0.0.1", node.port)})

    def delivered() -> dict | None:  # type: ignore[type-arg]
        st = json.loads(node.cli("status", "--json").stdout)
        return st if st["outbox"].get("sent", 0) >= 2 and not st["outbox"].get("pending") else None

    wait_until(delivered, timeout=60, interval=1.0, what="delivery after the PACS came back")
    source_uid = str(dcmread(astronaut_photo).SOPInstanceUID)
    found = _results_in_orthanc(orthanc, source_uid)
    assert SR_CLASS in found and SC_CLASS in found
