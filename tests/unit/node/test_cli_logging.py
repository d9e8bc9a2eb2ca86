"""Which level a ``facenode`` run logs at: serve as configured, one-shot commands quietly."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import load_settings
from node.cli import build_parser, log_level_for


@pytest.mark.parametrize(
    ("argv", "configured", "expected"),
    [
        (["serve"], "DEBUG", "DEBUG"),  # serve keeps settings.log_level
        (["serve"], "INFO", "INFO"),
        (["status"], "DEBUG", "WARNING"),  # one-shot commands: warnings and errors only
        (["analyze", "x.dcm"], "INFO", "WARNING"),
        (["models", "list"], "INFO", "WARNING"),
        (["-v", "status"], "INFO", "INFO"),
        (["-vv", "echo", "PACS"], "INFO", "DEBUG"),
        (["--log-level", "error", "serve"], "DEBUG", "ERROR"),  # asked for wins
        (["--log-level", "debug", "-v", "status"], "INFO", "DEBUG"),
    ],
)
def test_log_level(argv: list[str], configured: str, expected: str, tmp_path: Path) -> None:
    settings = load_settings(env={}, storage_dir=tmp_path, log_level=configured)
    assert log_level_for(build_parser().parse_args(argv), settings) == expected


def test_an_unknown_level_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--log-level", "chatty", "status"])
    assert "invalid choice: 'CHATTY'" in capsys.readouterr().err
