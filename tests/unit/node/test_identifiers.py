"""Patient identifiers and the logs: what the filter redacts, and what the setting switches."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pynetdicom import _config

from node.identifiers import (
    REDACTED,
    IdentifierFilter,
    describe_patient,
    forget_all,
    protect_logs,
    remember,
)
from tests.factories import make_vl_photo

NAME, FAMILY, GIVEN = "Quillfeather^Ottoline", "Quillfeather", "Ottoline"
PID, BIRTH = "QX-740213", "19580317"


def patient() -> Dataset:
    ds = Dataset()
    ds.PatientName = NAME
    ds.PatientID = PID
    ds.PatientBirthDate = BIRTH
    return ds


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, Lines]]:
    """A private logger with one handler, the filter on it, and a clean memory."""
    forget_all()
    logger = logging.getLogger("facenode.test.identifiers")
    logger.propagate, logger.level = False, logging.DEBUG
    lines = Lines()
    lines.addFilter(IdentifierFilter())
    logger.addHandler(lines)
    yield logger, lines
    logger.removeHandler(lines)
    forget_all()


def test_remembered_values_are_redacted_in_message_args_and_traceback(
    logged: tuple[logging.Logger, Lines],
) -> None:
    logger, out = logged
    logger.info("before: %s", NAME)  # not yet remembered: nothing to recognise
    remember(patient())
    logger.info("patient %s, id %s, born %s", NAME, PID, BIRTH)
    logger.warning(f"free text about {GIVEN.upper()} {FAMILY} born 1958-03-17")
    try:
        raise ValueError(f"bad value {PID!r} in the header")
    except ValueError:
        logger.exception("failed")
    text = "\n".join(out.lines)
    assert NAME in out.lines[0]
    rest = "\n".join(out.lines[1:])
    for value in (NAME, FAMILY, GIVEN, PID, BIRTH, "1958-03-17"):
        assert value.casefold() not in rest.casefold(), value
    assert rest.count(REDACTED) >= 7
    assert "ValueError: bad value" in text  # the traceback is still there, minus the ID


def test_short_values_only_as_whole_tokens_and_tiny_ones_not_at_all(
    logged: tuple[logging.Logger, Lines],
) -> None:
    logger, out = logged
    ds = patient()
    ds.PatientName = "Li^Wei"
    ds.PatientID = "7"
    remember(ds)
    logger.info("job 7: Li^Wei, Wei Li, Weiss, embedded X%sY", PID)
    assert out.lines == [
        f"facenode.test.identifiers job 7: {REDACTED}, {REDACTED} Li, Weiss, embedded X"
        f"{PID}Y"
    ]
    remember(patient())
    logger.info("embedded X%sY", PID)
    assert out.lines[-1] == f"facenode.test.identifiers embedded X{REDACTED}Y"


def test_a_broken_dataset_is_not_an_error() -> None:
    class Broken(Dataset):
        def get(self, *_: object, **__: object) -> object:
            raise ValueError("cannot decode")

    remember(Broken())  # must not raise


def test_describe_patient_only_when_allowed() -> None:
    assert describe_patient(patient(), allowed=False) == ""
    text = describe_patient(patient(), allowed=True)
    assert NAME in text and PID in text and BIRTH in text


def test_protect_logs_follows_the_setting() -> None:
    logger = logging.getLogger("facenode.test.protect")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    saved = (_config.LOG_REQUEST_IDENTIFIERS, _config.LOG_RESPONSE_IDENTIFIERS)
    try:
        protect_logs(False, logger)
        protect_logs(False, logger)  # once, however often it is called
        assert [type(f) for f in handler.filters] == [IdentifierFilter]
        assert (_config.LOG_REQUEST_IDENTIFIERS, _config.LOG_RESPONSE_IDENTIFIERS) == (
            False,
            False,
        )
        protect_logs(True, logger)
        assert handler.filters == []
        assert _config.LOG_REQUEST_IDENTIFIERS and _config.LOG_RESPONSE_IDENTIFIERS
    finally:
        logger.removeHandler(handler)
        _config.LOG_REQUEST_IDENTIFIERS, _config.LOG_RESPONSE_IDENTIFIERS = saved


def test_the_cli_applies_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    import node.cli
    import node.identifiers

    calls: list[bool] = []
    monkeypatch.setattr(node.identifiers, "protect_logs", calls.append)
    monkeypatch.setattr(node.cli, "_setup_logging", lambda level: None)
    monkeypatch.setattr(node.cli, "cmd_status", lambda args, settings: 0)
    for value, expected in (("true", True), ("false", False)):
        monkeypatch.setenv("FACENODE_LOG_PATIENT_IDENTIFIERS", value)
        monkeypatch.setenv("FACENODE_STORAGE_DIR", str(tmp_path))
        assert node.cli.main(["status"]) == 0
        assert calls[-1] is expected


def test_remembering_leaves_the_elements_raw_and_splits_multiple_values(
    tmp_path: Path, logged: tuple[logging.Logger, Lines]
) -> None:
    """Remembering happens first thing in the SCP: it must not convert (and so validate, and
    perhaps log) the values, and an ID list "A\\B" is two identifiers."""
    logger, out = logged
    ds = make_vl_photo(np.zeros((16, 16, 3), np.uint8), patient_name=NAME)
    ds.PatientID = [PID, "ALT-99817"]
    ds.PatientBirthDate = BIRTH
    path = tmp_path / "p.dcm"
    ds.save_as(path, enforce_file_format=True)
    stored = dcmread(path)
    remember(stored)
    for keyword in ("PatientName", "PatientID", "PatientBirthDate"):
        assert isinstance(stored.get_item(keyword), RawDataElement), keyword
    logger.info("ids %s and %s, born 1958-03-17", PID, "ALT-99817")
    assert out.lines == [f"facenode.test.identifiers ids {REDACTED} and {REDACTED}, born {REDACTED}"]
