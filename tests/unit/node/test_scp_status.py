"""The C-STORE handler answers each refusal with the status of its type (0xA900 for an absent
required attribute, 0xC000 for anything it cannot understand), quarantines the bytes with
the reason, and never chooses the status by reading the message."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydicom.dataset import Dataset
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import load_settings
from node.db import Instance
from node.scp import CANNOT_UNDERSTAND, DATASET_MISMATCH, SUCCESS, StoreHandler
from node.storage import Storage
from tests.factories import make_vl_photo


class FakeStoreEvent:
    """The parts of pynetdicom's EVT_C_STORE event the handler reads."""

    def __init__(self, ds: Dataset, *, affected_sop: str | None = None,
                 parse_error: Exception | None = None) -> None:
        self._ds, self._parse_error = ds, parse_error
        self.assoc = SimpleNamespace(requestor=SimpleNamespace(ae_title="PACS"))
        self.request = SimpleNamespace(
            AffectedSOPInstanceUID=affected_sop or str(ds.SOPInstanceUID),
            AffectedSOPClassUID=str(ds.SOPClassUID),
        )
        meta = getattr(ds, "file_meta", None) or {}
        syntax = meta.get("TransferSyntaxUID") or "1.2.840.10008.1.2.1"
        self.context = SimpleNamespace(transfer_syntax=syntax)  # the accepted context's

    def encoded_dataset(self, include_meta: bool = True) -> bytes:
        buf = io.BytesIO()
        self._ds.save_as(buf, enforce_file_format=include_meta)
        return buf.getvalue()

    @property
    def dataset(self) -> Dataset:
        if self._parse_error is not None:
            raise self._parse_error
        return self._ds


@pytest.fixture
def handler(tmp_path: Path, sessions: sessionmaker[Session]) -> StoreHandler:
    settings = load_settings(env={}, storage_dir=tmp_path / "var", min_free_disk_mb=0)
    return StoreHandler(settings, Storage(tmp_path / "var"), sessions)


def _without(keyword: str) -> Callable[[Dataset], None]:
    return lambda ds: delattr(ds, keyword)


def _overlong_series_uid(ds: Dataset) -> None:
    ds.SeriesInstanceUID = "1." + "2" * 70


#: deliberately over-long UI value: pydicom warns, the node must refuse it
@pytest.mark.filterwarnings("ignore:The value length .* exceeds the maximum length:UserWarning")
@pytest.mark.parametrize(
    ("damage", "status", "reason"),
    [
        (_without("StudyInstanceUID"), DATASET_MISMATCH,
         "required attribute StudyInstanceUID is missing or empty"),
        (_without("PixelData"), DATASET_MISMATCH,
         "photo is missing required attribute PixelData"),
        (_overlong_series_uid, CANNOT_UNDERSTAND,
         "SeriesInstanceUID is longer than 64 characters"),
    ],
)
def test_refused_objects_get_their_type_s_status_and_are_quarantined(
    handler: StoreHandler, sessions: sessionmaker[Session],
    damage: Callable[[Dataset], None], status: int, reason: str,
) -> None:
    ds = make_vl_photo()
    damage(ds)
    assert handler(FakeStoreEvent(ds)) == status
    with sessions() as s:
        [row] = s.scalars(select(Instance)).all()
    assert row.role == "quarantined" and row.note == reason
    assert Path(row.path).read_bytes() == FakeStoreEvent(ds).encoded_dataset()


def test_a_uid_other_than_the_request_s_cannot_be_understood(handler: StoreHandler) -> None:
    assert handler(FakeStoreEvent(make_vl_photo(), affected_sop="1.2.3.4")) == CANNOT_UNDERSTAND


def test_a_parse_error_cannot_be_understood_even_if_it_says_missing(
    handler: StoreHandler, sessions: sessionmaker[Session]
) -> None:
    """The status used to be chosen by searching the reason for "missing"."""
    error = OSError("missing delimiter after tag (0008,0016)")
    assert handler(FakeStoreEvent(make_vl_photo(), parse_error=error)) == CANNOT_UNDERSTAND
    with sessions() as s:
        [row] = s.scalars(select(Instance)).all()
    assert row.note == "dataset cannot be parsed: OSError: missing delimiter after tag (0008,0016)"


def test_a_complete_photo_is_stored(handler: StoreHandler,
                                    sessions: sessionmaker[Session]) -> None:
    ds = make_vl_photo()
    assert handler(FakeStoreEvent(ds)) == SUCCESS
    with sessions() as s:
        [row] = s.scalars(select(Instance)).all()
    assert row.role == "photo" and row.sop_instance_uid == str(ds.SOPInstanceUID)
