"""The audit trail: rows written by every step (pipeline produced / quarantined, outbox sent /
send-failed / dead), queried by time, event and UID, kept free of patient identifiers, and
exported as RFC 5424 syslog messages over UDP to a real socket."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Settings
from node import audit
from node.audit_syslog import AuditForwarder, parse_target, send, syslog_message
from node.db import AuditEvent, AuditRecord, OutboxItem, utcnow
from node.identifiers import forget_all, remember
from node.outbox import deliver_due
from node.pipeline import run_job
from node.sender import MemorySender
from node.storage import Storage
from tests.factories import make_vl_photo
from tests.support.fake_backend import FakeBackend
from tests.unit.node.test_outbox import _queue
from tests.unit.node.test_pipeline import BROKEN_WIDTH, FakeAnalyzers, _photo, _receive


def _rows(sessions: sessionmaker[Session]) -> list[AuditRecord]:
    with sessions() as s:
        return list(s.scalars(select(AuditRecord).order_by(AuditRecord.id)))


@dataclass
class Decision:
    """What the association check hands to ``on_association`` (duck-typed)."""

    peer_ip: str
    calling_ae: str
    called_ae: str
    accepted: bool
    reason: str


def test_association_decisions_are_recorded(sessions: sessionmaker[Session]) -> None:
    audit.record_decision(sessions, Decision("10.0.0.9", "INTRUDER", "FACENODE", False,
                                             "calling AE title not allowed"))
    audit.record_association(sessions, peer_ip="10.0.0.5", calling_ae="PACS",
                             called_ae="FACENODE", accepted=True)
    rejected, accepted = _rows(sessions)
    assert (rejected.event, rejected.actor, rejected.detail) == (
        "assoc-rejected", "INTRUDER@10.0.0.9", "calling AE title not allowed")
    assert (accepted.event, accepted.peer_ip, accepted.calling_ae, accepted.called_ae) == (
        "assoc-accepted", "10.0.0.5", "PACS", "FACENODE")


def test_query_filters_by_time_event_and_uid(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        old = audit.entry(AuditEvent.RECEIVED, sop_instance_uid="1.2.3")
        old.at = utcnow() - dt.timedelta(days=3)
        s.add_all([old, audit.entry(AuditEvent.RECEIVED, sop_instance_uid="1.2.4"),
                   audit.entry(AuditEvent.SENT, sop_instance_uid="1.2.4", destination="PACS",
                               status=0)])
    yesterday = utcnow() - dt.timedelta(days=1)
    assert [r.sop_instance_uid for r in audit.query(sessions, since=yesterday)] == ["1.2.4"] * 2
    assert [r.event for r in audit.query(sessions, events=[AuditEvent.SENT])] == ["sent"]
    assert len(audit.query(sessions, sop_instance_uid="1.2.3")) == 1
    assert len(audit.query(sessions, events=[AuditEvent.RECEIVED, AuditEvent.SENT])) == 3


def test_reasons_never_carry_a_remembered_patient_identifier(
    sessions: sessionmaker[Session],
) -> None:
    photo = make_vl_photo(patient_name="Zabriskie^Quentin", patient_id="PID-778899")
    remember(photo)
    try:
        audit.record(sessions, AuditEvent.QUARANTINED,
                     detail="decoder failed on Zabriskie^Quentin (PID-778899)")
    finally:
        forget_all()
    [row] = _rows(sessions)
    assert "Zabriskie" not in row.detail and "778899" not in row.detail


def test_a_failing_audit_write_does_not_raise(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    broken = sessionmaker(create_engine(f"sqlite:///{tmp_path / 'no-tables.db'}"))
    audit.record(broken, AuditEvent.ECHO)  # logged, not raised


def test_the_pipeline_audits_results_produced_and_photos_quarantined(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    from config.settings import load_settings

    settings = load_settings(env={}, storage_dir=tmp_path / "var", destinations=[
        {"name": "PACS", "ae_title": "ORTHANC", "host": "127.0.0.1", "port": 4242}])
    storage = Storage(settings.storage_dir)
    good, crashing = _photo(number=1), _photo(BROKEN_WIDTH, 2)
    job_id = _receive(sessions, storage, [good, crashing])
    run_job(job_id, sessions, storage, settings,
            FakeAnalyzers(settings, FakeBackend(broken_width=BROKEN_WIDTH)))
    rows = _rows(sessions)
    with sessions() as s:
        results = set(s.scalars(select(OutboxItem.sop_instance_uid)))
    produced = [r for r in rows if r.event == "produced"]
    assert {r.sop_instance_uid for r in produced} == results and len(produced) == len(results)
    assert all(r.actor == "node" and r.study_uid and r.series_uid for r in produced)
    [quarantined] = [r for r in rows if r.event == "quarantined"]
    assert quarantined.sop_instance_uid == str(crashing.SOPInstanceUID)
    assert "fake model crashed" in quarantined.detail




def test_the_outbox_audits_each_attempt(sessions: sessionmaker[Session], settings: Settings,
                                        tmp_path: Path) -> None:
    _queue(sessions, tmp_path, 1)
    t = utcnow()
    deliver_due(sessions, MemorySender(status=0xA700), settings, now=t)
    deliver_due(sessions, MemorySender(), settings, now=t + dt.timedelta(hours=1))
    failed, sent = _rows(sessions)
    assert (failed.event, failed.status, failed.destination) == ("send-failed", 0xA700, "PACS")
    assert (sent.event, sent.status, sent.sop_instance_uid) == ("sent", 0, "1.2.0")
    _queue(sessions, tmp_path, 1)
    for k in range(settings.outbox_max_attempts):
        deliver_due(sessions, MemorySender(down={"PACS"}), settings,
                    now=t + dt.timedelta(days=k + 1))
    events = [r.event for r in _rows(sessions)[2:]]
    assert events == ["send-failed"] * (settings.outbox_max_attempts - 1) + ["dead"]


def _udp_listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    return sock


RFC5424 = re.compile(
    r"^<(\d+)>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+) facenode (\d+) (\S+) - (\{.*\})$"
)


def test_syslog_messages_are_rfc5424_with_the_row_as_json(
    sessions: sessionmaker[Session],
) -> None:
    audit.record(sessions, AuditEvent.REFUSED, actor="X@10.0.0.1", status=0xC000,
                 detail="SOPInstanceUID is not a valid UID")
    audit.record(sessions, AuditEvent.SENT, sop_instance_uid="1.2.3", destination="PACS",
                 status=0)
    refused, sent = _rows(sessions)
    m = RFC5424.match(syslog_message(refused, "host1").decode())
    assert m is not None
    assert int(m[1]) == 10 * 8 + 4 and m[3] == "host1" and m[5] == "refused"
    body = json.loads(m[6])
    assert body["status"] == 0xC000 and body["actor"] == "X@10.0.0.1"
    m = RFC5424.match(syslog_message(sent).decode())
    assert m is not None and int(m[1]) == 10 * 8 + 5

    listener = _udp_listener()
    try:
        port = listener.getsockname()[1]
        assert send([refused, sent], f"127.0.0.1:{port}") == 2
        got = [listener.recv(9000).decode() for _ in range(2)]
    finally:
        listener.close()
    assert [json.loads(RFC5424.match(g)[6])["event"] for g in got] == [  # type: ignore[index]
        "refused", "sent"]


def test_the_forwarder_sends_rows_written_after_it_started(
    sessions: sessionmaker[Session],
) -> None:
    audit.record(sessions, AuditEvent.ECHO)  # before: not forwarded
    listener = _udp_listener()
    try:
        forwarder = AuditForwarder(sessions, f"127.0.0.1:{listener.getsockname()[1]}",
                                   poll_s=0.05)
        forwarder.start()
        audit.record(sessions, AuditEvent.PURGED, actor="cli:admin", detail="x")
        message = listener.recv(9000).decode()
        forwarder.stop()
    finally:
        listener.close()
    assert " purged - " in message and '"actor":"cli:admin"' in message


@pytest.mark.parametrize("bad", ["localhost", "host:", ":514", "host:port", "h:70000"])
def test_a_bad_syslog_target_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_target(bad)
    assert parse_target("[::1]:514") == ("::1", 514)


def test_the_audit_syslog_setting_is_checked() -> None:
    from config.settings import SettingsError, load_settings

    assert load_settings(env={}, audit_syslog="127.0.0.1:514").audit_syslog == "127.0.0.1:514"
    with pytest.raises(SettingsError, match="audit_syslog must look like HOST:PORT"):
        load_settings(env={}, audit_syslog="syslog.example")
