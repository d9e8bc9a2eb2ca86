"""The outbox's association hand-off against real dcmtk storescp receivers.

1. pynetdicom's own reactor pause lets the reactor steal a C-STORE response ("Received
   unexpected C-STORE service message"; the sender then waits the whole DIMSE timeout and the
   result is sent again). The race is made to happen on purpose — the reactor is held in its
   stale "paused" window and the sender is slowed before it reads the response — to show
   that pynetdicom's pause loses the response and :mod:`node.reactor`'s does not.
2. Under concurrent load — three destinations, 40 results each, delivery rounds started from
   four threads at once while CPU-bound threads compete for the interpreter — every result
   reaches every receiver exactly once, no response is stolen, nothing stalls.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom import dcmread
from pynetdicom import AE
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import Destination, load_settings
from node.db import OutboxItem, OutboxState, ResultKind, open_database, utcnow
from node.outbox import deliver_due
from node.reactor import ReactorCheckpoint, guard
from node.sender import DicomSender
from tests.factories import make_vl_photo
from tests.support.net import free_port, wait_for_port

pytestmark = pytest.mark.integration


class Receiver:
    """dcmtk's storescp writing every object it gets to its own file (``+uf``: a second
    copy of the same SOP Instance becomes a second file, not an overwrite)."""

    def __init__(self, root: Path, ae_title: str) -> None:
        self.ae_title, self.port, self.folder = ae_title, free_port(), root / ae_title
        self.folder.mkdir(parents=True)
        self.process = subprocess.Popen(
            ["/usr/bin/storescp", "--aetitle", ae_title, "+uf", "--output-directory",
             str(self.folder), str(self.port)],
            env={**os.environ, "TCP_NODELAY": "1"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    def destination(self) -> Destination:
        return Destination(name=self.ae_title, ae_title=self.ae_title, host="127.0.0.1",
                           port=self.port)

    def received_uids(self) -> list[str]:
        return [str(dcmread(p, stop_before_pixels=True).SOPInstanceUID)
                for p in sorted(self.folder.iterdir())]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def receivers(tmp_path: Path) -> Iterator[list[Receiver]]:
    started = [Receiver(tmp_path / "in", name) for name in ("PACS", "ARCHIVE", "VNA")]
    try:
        for r in started:
            wait_for_port(r.port)
        yield started
    finally:
        for r in started:
            r.stop()


class StolenResponses(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Received unexpected" in record.getMessage():
            self.count += 1


@pytest.fixture
def stolen() -> Iterator[StolenResponses]:
    handler = StolenResponses()
    logger = logging.getLogger("pynetdicom")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


class StaleWindowCheckpoint(ReactorCheckpoint):
    """Keeps the reactor, after its wait returned, in the window where pynetdicom's reactor
    still says ``_is_paused`` — until a message is queued (or 50 ms passed): the reactor
    thread resuming just as the response arrives, as a preempted thread may."""

    def __init__(self, assoc: Any) -> None:
        super().__init__()
        self.assoc = assoc

    def wait(self, timeout: float | None = None) -> bool:
        result = super().wait(timeout)
        deadline = time.monotonic() + 0.05
        while self.assoc.dimse.msg_queue.empty() and time.monotonic() < deadline:
            time.sleep(0.0005)
        return result


def _stores_with_the_race_provoked(port: int, guarded: bool, count: int = 30) -> list[bool]:
    """``count`` C-STOREs on one association; True for each answered with a status."""
    ds = make_vl_photo(np.zeros((32, 32, 3), np.uint8))
    ae = AE("RACE")
    ae.dimse_timeout = 2
    ae.add_requested_context(ds.SOPClassUID, [ds.file_meta.TransferSyntaxUID])
    assoc = ae.associate("127.0.0.1", port, ae_title="PACS")
    assert assoc.is_established
    checkpoint = StaleWindowCheckpoint(assoc)
    assoc._reactor_checkpoint = checkpoint  # what node.reactor.guard installs, slowed down
    get_msg = assoc.dimse.get_msg

    def slow_reader(block: bool = False):  # type: ignore[no-untyped-def]
        if block:  # the sending thread, preempted before it reads the response
            time.sleep(0.1)
        return get_msg(block)

    assoc.dimse.get_msg = slow_reader  # type: ignore[method-assign]
    answered = []
    try:
        for i in range(count):
            ds.SOPInstanceUID = f"1.2.826.0.1.3680043.10.77.{i + 1}"
            if guarded:
                checkpoint.pause(assoc)
            if not assoc.is_established:
                break
            status = assoc.send_c_store(ds)
            answered.append("Status" in status)
            if not answered[-1]:
                break  # pynetdicom aborts the association after a lost response
    finally:
        if assoc.is_established:
            assoc.release()
    return answered


def test_pynetdicom_s_pause_loses_responses_and_ours_does_not(
    receivers: list[Receiver], stolen: StolenResponses
) -> None:
    port = receivers[0].port
    naive = _stores_with_the_race_provoked(port, guarded=False)
    assert not all(naive), "the provoked race must show with pynetdicom's own pause"
    assert stolen.count >= 1
    stolen.count = 0
    assert _stores_with_the_race_provoked(port, guarded=True) == [True] * 30
    assert stolen.count == 0


def test_guard_refuses_an_association_without_the_checkpoint() -> None:
    class NotAnAssociation:
        pass

    with pytest.raises(RuntimeError, match="_reactor_checkpoint"):
        guard(NotAnAssociation())


def _busy(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():  # pure-Python work: holds the interpreter, like analysis
        x = (x * 31 + 7) % 1_000_003


def test_every_result_reaches_every_receiver_exactly_once_under_load(
    receivers: list[Receiver], stolen: StolenResponses, tmp_path: Path
) -> None:
    settings = load_settings(
        env={}, storage_dir=tmp_path / "var", network_timeout_s=20,
        destinations=[r.destination().model_dump() for r in receivers],
    )
    sessions: sessionmaker[Session] = open_database(settings.db_url)
    uids = [f"1.2.826.0.1.3680043.10.78.{i + 1}" for i in range(40)]
    with sessions.begin() as s:
        for uid in uids:
            ds = make_vl_photo(np.full((48, 48, 3), len(uid) % 250, np.uint8))
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
            path = tmp_path / "results" / f"{uid}.dcm"
            path.parent.mkdir(exist_ok=True)
            ds.save_as(path, enforce_file_format=True)
            for r in receivers:
                s.add(OutboxItem(destination=r.ae_title, sop_instance_uid=uid,
                                 sop_class_uid=str(ds.SOPClassUID), kind=ResultKind.SC,
                                 path=str(path), next_attempt_at=utcnow()))
    sender = DicomSender("FACENODE", timeout_s=settings.network_timeout_s)
    stop = threading.Event()
    load = [threading.Thread(target=_busy, args=(stop,), daemon=True) for _ in range(2)]
    rounds = [threading.Thread(target=deliver_due, args=(sessions, sender, settings, None, 15))
              for _ in range(4)]
    started = time.monotonic()
    try:
        for t in load:
            t.start()
        while True:  # rounds from four threads at a time until nothing is left
            for t in rounds:
                t.start()
            for t in rounds:
                t.join(120)
            with sessions() as s:
                pending = s.scalars(select(OutboxItem).where(
                    OutboxItem.state == OutboxState.PENDING)).all()
            if not pending or time.monotonic() - started > 240:
                break
            rounds = [threading.Thread(target=deliver_due,
                                       args=(sessions, sender, settings, None, 15))
                      for _ in range(4)]
    finally:
        stop.set()
        for t in load:
            t.join(5)
    elapsed = time.monotonic() - started
    with sessions() as s:
        states = [(o.state, o.attempts) for o in s.scalars(select(OutboxItem))]
    assert all(state == "sent" and attempts == 0 for state, attempts in states), states
    for r in receivers:
        got = r.received_uids()
        assert sorted(got) == sorted(uids), f"{r.ae_title}: not exactly once"
    assert stolen.count == 0, "a C-STORE response was taken by the reactor"
    assert elapsed < settings.network_timeout_s * 3, f"delivery stalled: {elapsed:.0f} s"
