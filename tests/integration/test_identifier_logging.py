"""``log_patient_identifiers``: a full round trip — dcmtk's storescu sends a photo of a patient
with a name, ID and birth date found nowhere else, the node stores, analyses and C-STOREs its
results to dcmtk's storescp — with every logger at DEBUG, then every log line is scanned.
With the setting false no line may carry those values; with it true they do appear (so the
scan can see them, and the test can fail)."""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import _config
from skimage.data import astronaut
from sqlalchemy import select

from config.settings import load_settings
from dicom.wrap import wrap_rgb_image
from node.db import OutboxItem
from node.identifiers import forget_all, protect_logs
from node.service import Node
from tests.integration.conftest import storescu
from tests.support.net import free_port, wait_for_port, wait_until

pytestmark = pytest.mark.integration

FAMILY, GIVEN = "Vandersnoot", "Philippa"
NAME = f"{FAMILY}^{GIVEN}"
PATIENT_ID = "PX-58173-QZ"
BIRTH_DATE = "19490823"
VALUES = (NAME, FAMILY, GIVEN, PATIENT_ID, BIRTH_DATE, "1949-08-23")


class Lines(logging.Handler):
    """Every record, formatted with its traceback, as the CLI's handler would write it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def all_loggers_at_debug() -> Iterator[Lines]:
    """A handler on the root logger, and the root and every logger known so far at DEBUG
    (pynetdicom, pydicom, SQLAlchemy, alembic, ours); everything restored afterwards."""
    root = logging.getLogger()
    loggers = [root] + [
        lg for lg in root.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    saved_levels = [(lg, lg.level) for lg in loggers]
    saved_config = (_config.LOG_REQUEST_IDENTIFIERS, _config.LOG_RESPONSE_IDENTIFIERS)
    lines = Lines()
    root.addHandler(lines)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    forget_all()
    try:
        yield lines
    finally:
        root.removeHandler(lines)
        for lg, level in saved_levels:
            lg.setLevel(level)
        _config.LOG_REQUEST_IDENTIFIERS, _config.LOG_RESPONSE_IDENTIFIERS = saved_config
        forget_all()


def _photo(tmp_path: Path) -> Path:
    ds = wrap_rgb_image(astronaut(), patient_name=NAME, patient_id=PATIENT_ID, patient_sex="F")
    ds.PatientBirthDate = BIRTH_DATE
    path = tmp_path / "photo.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def _round_trip(tmp_path: Path, allowed: bool) -> Path:
    """Send the photo, wait for the results at the peer; returns the peer's folder."""
    received = tmp_path / "peer"
    received.mkdir()
    peer_port = free_port()
    peer = subprocess.Popen(
        ["/usr/bin/storescp", "--aetitle", "PEER", str(peer_port)],
        cwd=received, env={**os.environ, "TCP_NODELAY": "1"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    settings = load_settings(
        env={}, storage_dir=tmp_path / "var", port=free_port(), bind_address="127.0.0.1",
        min_free_disk_mb=0, stable_age_s=1, workers=1, analysis_backend="dlib",
        outbox_retry_initial_s=1, outbox_retry_max_s=2,
        destinations=[{"name": "PEER", "ae_title": "PEER", "host": "127.0.0.1",
                       "port": peer_port}],
        log_patient_identifiers=allowed,
    )
    protect_logs(settings.log_patient_identifiers)  # what the CLI does after its handlers
    node = Node(settings)
    try:
        wait_for_port(peer_port)
        node.start()
        sent = storescu(_photo(tmp_path), settings.port, settings.ae_title)
        assert sent.returncode == 0, sent.stderr

        def delivered() -> bool:
            with node.sessions() as s:
                states = list(s.scalars(select(OutboxItem.state)))
            return bool(states) and all(state == "sent" for state in states)

        wait_until(delivered, timeout=600, interval=0.5, what="results delivered to the peer")
    finally:
        node.stop()
        peer.terminate()
        peer.wait(10)
    return received


def _lines_with_identifiers(lines: list[str]) -> list[str]:
    return [line for line in lines if any(v.casefold() in line.casefold() for v in VALUES)]


def test_no_identifier_reaches_a_log_line(tmp_path: Path, all_loggers_at_debug: Lines) -> None:
    received = _round_trip(tmp_path, allowed=False)
    results = [dcmread(p) for p in received.iterdir()]
    assert "SR" in {str(ds.Modality) for ds in results} and len(results) >= 2
    assert all(str(ds.PatientName) == NAME and ds.PatientID == PATIENT_ID for ds in results)
    lines = all_loggers_at_debug.lines
    assert any(line.startswith("DEBUG pynetdicom") for line in lines)  # really at DEBUG
    assert any("analysing" in line for line in lines)
    leaks = _lines_with_identifiers(lines)
    assert leaks == [], "patient identifiers in the logs:\n" + "\n".join(leaks)


def test_with_the_setting_true_they_are_logged(
    tmp_path: Path, all_loggers_at_debug: Lines
) -> None:
    _round_trip(tmp_path, allowed=True)
    shown = "\n".join(_lines_with_identifiers(all_loggers_at_debug.lines))
    for value in (NAME, PATIENT_ID, BIRTH_DATE):
        assert value in shown
