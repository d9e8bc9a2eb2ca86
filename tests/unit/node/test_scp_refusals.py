"""The C-STORE handler's outcomes and their audit rows: an invalid UID is refused at C-STORE
time (0xC000) and never names a file; the same SOP Instance UID with the same content is
answered Success with no new work; with other content it is stored as a new version and its
series analysed again; the node's own results keep being stored once. The peer's address is
kept with each instance."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import load_settings
from dicom.equipment import OUR_MANUFACTURER
from node.db import AuditRecord, Instance, Series
from node.scp import CANNOT_UNDERSTAND, SUCCESS, StoreHandler
from node.storage import Storage
from tests.factories import make_vl_photo, with_raw_uid


class RawStoreEvent:
    """pynetdicom's EVT_C_STORE event as the handler reads it, from the bytes a peer sent."""

    def __init__(self, ds: Dataset, peer_ip: str = "10.1.2.3", calling: str = "MODALITY",
                 affected_sop: str | None = None) -> None:
        buf = io.BytesIO()
        with warnings.catch_warnings():  # a sender's invalid UID: pydicom warns writing it
            warnings.simplefilter("ignore")
            ds.save_as(buf, enforce_file_format=True)
        self._raw = buf.getvalue()
        sop = affected_sop if affected_sop is not None else _raw_sop(ds)
        self.assoc = SimpleNamespace(requestor=SimpleNamespace(
            ae_title=calling, address=peer_ip,
            primitive=SimpleNamespace(called_ae_title="FACENODE")))
        self.request = SimpleNamespace(AffectedSOPInstanceUID=sop,
                                       AffectedSOPClassUID=str(ds.SOPClassUID))
        # the accepted presentation context's transfer syntax (a received dataset has no meta)
        self.context = SimpleNamespace(transfer_syntax=str(ds.file_meta.TransferSyntaxUID))

    def encoded_dataset(self, include_meta: bool = True) -> bytes:
        return self._raw

    @property
    def dataset(self) -> Dataset:
        return dcmread(io.BytesIO(self._raw))


def _raw_sop(ds: Dataset) -> str:
    value = ds.get_item(0x00080018).value
    return value.decode().rstrip("\x00 ") if isinstance(value, bytes) else str(value)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "var")


@pytest.fixture
def handler(storage: Storage, sessions: sessionmaker[Session]) -> StoreHandler:
    settings = load_settings(env={}, storage_dir=storage.root, min_free_disk_mb=0)
    return StoreHandler(settings, storage, sessions)


def _instances(sessions: sessionmaker[Session]) -> list[Instance]:
    with sessions() as s:
        return list(s.scalars(select(Instance).order_by(Instance.id)))


def _audit(sessions: sessionmaker[Session]) -> list[AuditRecord]:
    with sessions() as s:
        return list(s.scalars(select(AuditRecord).order_by(AuditRecord.id)))


def _files(storage: Storage) -> list[Path]:
    return sorted(p for p in storage.root.rglob("*") if p.is_file())


@pytest.mark.parametrize("value", ["1.2.3/../../../etc/x", "1.2.826.0.1.ABC", "1.2.03.4"])
def test_an_invalid_sop_instance_uid_is_refused_at_c_store(
    handler: StoreHandler, sessions: sessionmaker[Session], storage: Storage, value: str
) -> None:
    ds = with_raw_uid(make_vl_photo(), "SOPInstanceUID", value)
    assert handler(RawStoreEvent(ds)) == CANNOT_UNDERSTAND
    [row] = _instances(sessions)
    assert row.role == "quarantined" and "SOPInstanceUID is not a valid UID" in row.note
    # the only file is the quarantined copy, under a name the UID did not choose
    [kept] = _files(storage)
    assert kept.parent == storage.root / "quarantine" and kept.name.startswith("h")
    assert list((storage.root / "instances").iterdir()) == []
    assert ".." not in str(kept) and "ABC" not in str(kept)
    refused, quarantined = _audit(sessions)
    assert (refused.event, refused.status) == ("refused", CANNOT_UNDERSTAND)
    assert refused.sop_instance_uid == ""  # an invalid UID is not copied into the trail
    assert refused.actor == "MODALITY@10.1.2.3" and refused.peer_ip == "10.1.2.3"
    assert refused.called_ae == "FACENODE" and "not a valid UID" in refused.detail
    assert quarantined.event == "quarantined"


@pytest.mark.parametrize("keyword", ["StudyInstanceUID", "SeriesInstanceUID"])
def test_invalid_study_or_series_uids_are_refused_too(
    handler: StoreHandler, sessions: sessionmaker[Session], storage: Storage, keyword: str
) -> None:
    ds = with_raw_uid(make_vl_photo(), keyword, "../../outside")
    assert handler(RawStoreEvent(ds)) == CANNOT_UNDERSTAND
    assert list((storage.root / "instances").iterdir()) == []
    assert not (storage.root.parent / "outside").exists()


def test_a_received_photo_keeps_the_peer_address_and_is_audited(
    handler: StoreHandler, sessions: sessionmaker[Session]
) -> None:
    ds = make_vl_photo()
    assert handler(RawStoreEvent(ds, peer_ip="192.0.2.7", calling="PACS")) == SUCCESS
    [row] = _instances(sessions)
    assert (row.peer_ip, row.calling_ae, row.version) == ("192.0.2.7", "PACS", 1)
    assert len(row.content_sha256) == 64
    [entry] = _audit(sessions)
    assert entry.event == "received" and entry.status == SUCCESS
    assert entry.actor == "PACS@192.0.2.7"
    assert (entry.sop_instance_uid, entry.study_uid, entry.series_uid) == (
        str(ds.SOPInstanceUID), str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID))
    assert str(ds.PatientName) not in repr(vars(entry))  # no patient identifiers


def test_the_same_content_again_is_success_without_new_work(
    handler: StoreHandler, sessions: sessionmaker[Session], storage: Storage
) -> None:
    ds = make_vl_photo()
    assert handler(RawStoreEvent(ds)) == SUCCESS
    ds.file_meta.SourceApplicationEntityTitle = "ANOTHER_SENDER"  # meta differs, data does not
    assert handler(RawStoreEvent(ds, calling="ANOTHER")) == SUCCESS
    assert len(_instances(sessions)) == 1 and len(_files(storage)) == 1
    with sessions() as s:
        assert s.scalars(select(Series)).one().instance_count == 1
    assert [a.event for a in _audit(sessions)] == ["received", "duplicate"]


def test_other_content_under_the_same_uid_is_a_new_version_analysed_again(
    handler: StoreHandler, sessions: sessionmaker[Session], storage: Storage
) -> None:
    ds = make_vl_photo()
    assert handler(RawStoreEvent(ds)) == SUCCESS
    with sessions.begin() as s:  # the first version was analysed; its series done
        first = s.scalars(select(Instance)).one()
        first.analysed_at = first.received_at
        s.scalars(select(Series)).one().state = "queued"
    corrected = make_vl_photo()
    corrected.SOPInstanceUID = ds.SOPInstanceUID
    corrected.StudyInstanceUID, corrected.SeriesInstanceUID = (ds.StudyInstanceUID,
                                                               ds.SeriesInstanceUID)
    corrected.PixelData = bytes(255 - b for b in corrected.PixelData)  # other pixels
    assert handler(RawStoreEvent(corrected)) == SUCCESS

    old, new = _instances(sessions)
    assert (old.version, old.role) == (1, "superseded")
    assert (new.version, new.role, new.analysed_at) == (2, "photo", None)  # to be analysed
    assert new.sop_instance_uid == old.sop_instance_uid and new.path != old.path
    assert Path(old.path).exists() and Path(new.path).name.endswith(".v2.dcm")
    assert dcmread(new.path).PixelData == corrected.PixelData
    with sessions() as s:
        series = s.scalars(select(Series)).one()
    assert series.state == "receiving"  # a new job follows once the series is quiet
    assert [a.event for a in _audit(sessions)] == ["received", "new-version"]
    assert "version 2 replaces version 1" in _audit(sessions)[-1].detail
    # the second version sent again is a duplicate of it, not a third version
    assert handler(RawStoreEvent(corrected)) == SUCCESS
    assert len(_instances(sessions)) == 2 and _audit(sessions)[-1].event == "duplicate"


def test_our_own_result_coming_back_is_stored_once_and_never_analysed(
    handler: StoreHandler, sessions: sessionmaker[Session]
) -> None:
    ds = make_vl_photo()
    ds.Manufacturer, ds.ImageType = OUR_MANUFACTURER, ["DERIVED", "SECONDARY"]
    assert handler(RawStoreEvent(ds)) == SUCCESS
    ds.InstanceNumber = 99  # even changed, our own result is kept as first received
    assert handler(RawStoreEvent(ds)) == SUCCESS
    [row] = _instances(sessions)
    assert row.role == "stored"
    with sessions() as s:
        assert s.scalars(select(Series)).all() == []
    assert [a.event for a in _audit(sessions)] == ["received", "duplicate"]


def test_a_refusal_before_the_bytes_are_read_is_audited(
    storage: Storage, sessions: sessionmaker[Session]
) -> None:
    settings = load_settings(env={}, storage_dir=storage.root, min_free_disk_mb=10**12)
    handler = StoreHandler(settings, storage, sessions)
    assert handler(RawStoreEvent(make_vl_photo())) == 0xA700
    [entry] = _audit(sessions)
    assert (entry.event, entry.status) == ("refused", 0xA700) and "free disk" in entry.detail
