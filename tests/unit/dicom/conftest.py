from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from dicom.context import ResultContext
from tests.factories import make_vl_photo
from tests.support.dciodvfy import DCIODVFY


@pytest.fixture
def ctx() -> ResultContext:
    return ResultContext.new(
        manufacturer="facenode",
        model_name="facenode",
        software_version="0.1.0",
        institution_name="Test Clinic",
        station_name="FACENODE1",
        device_serial="SN-0001",
    )


@pytest.fixture
def photo_ds() -> Dataset:
    return make_vl_photo()


@pytest.fixture
def dciodvfy() -> str:
    if not Path(DCIODVFY).exists():
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    return DCIODVFY
