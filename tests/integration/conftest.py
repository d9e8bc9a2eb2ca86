"""Fixtures that start real processes: Orthanc (the PACS), the node, dcmtk tools."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from skimage.data import astronaut

from analysis.types import View
from dicom.wrap import wrap_rgb_image

STORESCU = "/usr/bin/storescu"  # dcmtk's, not pynetdicom's console script in the venv


def _require(binary: str) -> None:
    if not (Path(binary).exists() or shutil.which(binary)):
        pytest.fail(f"{binary} is not installed; `make test` installs it (Debian package)")


@pytest.fixture
def astronaut_photo(tmp_path: Path) -> Path:
    """A real face photo (scikit-image's astronaut) wrapped as VL Photographic (XC)."""
    ds = wrap_rgb_image(
        astronaut(), patient_name="Test^Astronaut", patient_id="T001", patient_sex="F",
        view=View.FRONTAL,
    )
    path = tmp_path / "astronaut.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def storescu(path: Path, port: int, called_ae: str, calling_ae: str = "STORESCU",
             extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """Send files with dcmtk's storescu (the real peer)."""
    _require(STORESCU)
    return subprocess.run(
        [STORESCU, "-aet", calling_ae, "-aec", called_ae, *extra, "127.0.0.1", str(port), str(path)],
        capture_output=True, text=True, timeout=120,
    )


@pytest.fixture
def stop_later() -> Iterator[list[object]]:
    """Processes registered here are stopped when the test ends, whatever happened."""
    started: list[object] = []
    yield started
    for proc in reversed(started):
        proc.stop()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium driven by Playwright, one per module (the OHIF viewer tests)."""
    from tests.support.viewer import chromium
    from tests.support.viewer_sr import require_tools

    require_tools()
    with chromium() as b:
        yield b
