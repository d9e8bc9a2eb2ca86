"""The SCP against dcmtk as the real peer: transfer syntaxes, durability before Success,
idempotency, refusals with a failure status, calling-AE checks, C-ECHO."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.uid import JPEG2000Lossless, RLELossless
from skimage.data import astronaut
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings, load_settings
from dicom.wrap import wrap_rgb_image
from node.db import Instance, Series, open_database
from node.scp import start_scp
from node.storage import Storage
from tests.integration.conftest import storescu
from tests.support.net import free_port

pytestmark = pytest.mark.integration


class RunningScp:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings, self.sessions = settings, sessions
        self.server = start_scp(settings, Storage(settings.storage_dir), sessions)

    def instances(self) -> list[Instance]:
        with self.sessions() as s:
            return list(s.scalars(select(Instance).order_by(Instance.id)))


@pytest.fixture
def scp(tmp_path: Path) -> Iterator[RunningScp]:
    settings = load_settings(env={}, storage_dir=tmp_path / "var", port=free_port(),
                             bind_address="127.0.0.1", min_free_disk_mb=0,
                             accepted_calling_ae_titles=["STORESCU", "ORTHANC"])
    running = RunningScp(settings, open_database(settings.db_url))
    yield running
    running.server.shutdown()


def _photo(tmp_path: Path, name: str, **kw: object) -> Path:
    ds = wrap_rgb_image(astronaut()[:256, 128:384].copy(), **kw)  # type: ignore[arg-type]
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True)
    return path


def _dcmtk(tool: str, *args: str) -> None:
    out = subprocess.run([f"/usr/bin/{tool}", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def _encoded(tmp_path: Path, src: Path, syntax: str) -> Path:
    dst = tmp_path / f"{syntax}.dcm"
    if syntax == "jpeg-baseline":
        _dcmtk("dcmcjpeg", "+eb", str(src), str(dst))
    elif syntax == "jpeg-ls":
        _dcmtk("dcmcjpls", "+el", str(src), str(dst))
    elif syntax == "rle":
        ds = dcmread(src)
        ds.compress(RLELossless)
        ds.save_as(dst, enforce_file_format=True)
    elif syntax == "jpeg2000":
        ds = dcmread(src)
        ds.compress(JPEG2000Lossless)
        ds.save_as(dst, enforce_file_format=True)
    elif syntax == "implicit":
        _dcmtk("dcmconv", "+ti", str(src), str(dst))
    else:
        dst = src
    return dst


@pytest.mark.parametrize("syntax", ["explicit", "implicit", "jpeg-baseline", "jpeg-ls", "rle",
                                    "jpeg2000"])
def test_store_every_transfer_syntax_durably(scp: RunningScp, tmp_path: Path, syntax: str) -> None:
    from dicom.photo import dataset_to_photo

    src = _encoded(tmp_path, _photo(tmp_path, "p.dcm"), syntax)
    sent_ts = str(dcmread(src).file_meta.TransferSyntaxUID)
    propose = {"jpeg-baseline": "-xy", "jpeg-ls": "-xt", "rle": "-xr", "jpeg2000": "-xv"}
    extra = ("-R", propose[syntax]) if syntax in propose else ()
    out = storescu(src, scp.settings.port, "FACENODE", extra=extra)
    assert out.returncode == 0, out.stderr
    [row] = scp.instances()
    assert row.role == "photo" and row.calling_ae == "STORESCU"
    stored = dcmread(row.path)
    assert stored.SOPInstanceUID == row.sop_instance_uid
    assert str(stored.file_meta.TransferSyntaxUID) == sent_ts  # stored as received
    photo = dataset_to_photo(stored)
    reference = astronaut()[:256, 128:384].astype(int)
    err = np.abs(photo.pixels.astype(int) - reference).mean()
    assert err < (8 if syntax == "jpeg-baseline" else 0.01), f"pixels differ: {err}"
    with scp.sessions() as s:
        series = s.scalars(select(Series)).one()
    assert series.state == "receiving" and series.instance_count == 1


def test_repeated_instance_is_idempotent(scp: RunningScp, tmp_path: Path) -> None:
    path = _photo(tmp_path, "p.dcm")
    for _ in range(2):
        assert storescu(path, scp.settings.port, "FACENODE").returncode == 0
    assert len(scp.instances()) == 1


def test_series_over_two_associations_counts_both(scp: RunningScp, tmp_path: Path) -> None:
    a = _photo(tmp_path, "a.dcm", series_uid="1.2.3.4.5", study_uid="1.2.3.4")
    b = _photo(tmp_path, "b.dcm", series_uid="1.2.3.4.5", study_uid="1.2.3.4", instance_number=2)
    assert storescu(a, scp.settings.port, "FACENODE").returncode == 0
    assert storescu(b, scp.settings.port, "FACENODE").returncode == 0
    with scp.sessions() as s:
        series = s.scalars(select(Series)).one()
    assert series.instance_count == 2


def test_photo_without_pixels_is_refused_and_quarantined(scp: RunningScp, tmp_path: Path) -> None:
    path = _photo(tmp_path, "p.dcm")
    ds = dcmread(path)
    del ds.PixelData
    ds.save_as(path, enforce_file_format=True)
    out = storescu(path, scp.settings.port, "FACENODE")
    assert "0xa900" in (out.stdout + out.stderr).lower() or out.returncode != 0
    [row] = scp.instances()
    assert row.role == "quarantined" and "PixelData" in row.note
    assert Path(row.path).exists() and Path(row.path).stat().st_size > 1000


def test_unknown_calling_ae_is_rejected(scp: RunningScp, tmp_path: Path) -> None:
    out = storescu(_photo(tmp_path, "p.dcm"), scp.settings.port, "FACENODE", calling_ae="INTRUDER")
    assert out.returncode != 0
    assert "reject" in (out.stdout + out.stderr).lower()
    assert scp.instances() == []


def test_echo(scp: RunningScp) -> None:
    out = subprocess.run(["/usr/bin/echoscu", "-aet", "STORESCU", "-aec", "FACENODE",
                          "127.0.0.1", str(scp.settings.port)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
