"""Compressed (JPEG-LS lossless) Secondary Captures reach any peer: as they are where the
peer accepts JPEG-LS, decoded to the same pixels where it accepts only uncompressed
(dcmtk's storescp by default)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless

from config.settings import Destination
from dicom.context import ResultContext
from dicom.sc import build_sc
from node.sender import DicomSender
from tests.factories import astronaut, make_vl_photo
from tests.support.net import free_port, wait_for_port

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("accept_all", "arrives_as"), [(True, JPEGLSLossless), (False, ExplicitVRLittleEndian)]
)
def test_jpeg_ls_sc_reaches_storescp(accept_all, arrives_as, tmp_path: Path) -> None:
    image = astronaut()
    sc = build_sc(make_vl_photo(), image, "Landmarks", ResultContext.new(), 1)
    assert sc.file_meta.TransferSyntaxUID == JPEGLSLossless
    path = tmp_path / "sc.dcm"
    sc.save_as(path, enforce_file_format=True)
    port, received = free_port(), tmp_path / "in"
    received.mkdir()
    args = ["/usr/bin/storescp", "--aetitle", "PEER", "--output-directory", str(received)]
    peer = subprocess.Popen([*args, *(["+xa"] if accept_all else []), str(port)],
                            env={**os.environ, "TCP_NODELAY": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for_port(port)
        statuses = DicomSender("FACENODE").send(
            Destination(name="PEER", ae_title="PEER", host="127.0.0.1", port=port), [path]
        )
        assert statuses == [0]
    finally:
        peer.terminate()
        peer.wait(10)
    [got] = list(received.iterdir())
    back = dcmread(got)
    assert back.file_meta.TransferSyntaxUID == arrives_as
    assert back.SOPInstanceUID == sc.SOPInstanceUID
    assert np.array_equal(back.pixel_array, image)
