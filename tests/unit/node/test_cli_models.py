"""``facenode models list`` / ``facenode models provision --from DIR`` through the real CLI."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from node.cli import main
from node.cli_models import cmd_provision, register


@pytest.fixture(autouse=True)
def _no_facenode_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() reads FACENODE_* variables (settings refuse unknown ones, such as the tests'
    FACENODE_SHARED_DATA): these tests use their own settings file only."""
    for name in [k for k in os.environ if k.startswith("FACENODE_")]:
        monkeypatch.delenv(name)


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "facenode.toml"
    cfg.write_text(f'storage_dir = "{tmp_path / "var"}"\nmodel_dir = "{tmp_path / "models"}"\n')
    return cfg


def test_models_list_shows_licences_and_the_non_commercial_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(_config(tmp_path)), "models", "list"]) == 0
    out = capsys.readouterr().out
    assert f"model folder: {tmp_path / 'models'}" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line[0].isspace()}
    assert "Apache-2.0" in lines["mediapipe"] and " yes " in lines["mediapipe"]
    assert "NO (non-commercial)" in lines["dlib"]
    assert "NO (non-commercial)" in lines["insightface"]
    assert "NON-COMMERCIAL:" in out
    assert "2DFAN4-11f355bf06.pth.tar is missing" in out  # why fan2d cannot run


def test_models_provision_reports_rejected_and_missing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "buffalo_l"
    src.mkdir()
    (src / "det_10g.onnx").write_bytes(b"not the official detector")
    rc = main(["--config", str(_config(tmp_path)), "models", "provision", "--from", str(src)])
    captured = capsys.readouterr()
    assert rc == 1
    assert "rejected  det_10g.onnx" in captured.out
    assert "missing   2d106det.onnx" in captured.out
    assert "REJECTED" in captured.err
    assert not (tmp_path / "models" / "det_10g.onnx").exists()


def test_provision_with_nothing_found_or_no_model_folder_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    empty = tmp_path / "empty"
    empty.mkdir()
    args = parser.parse_args(["models", "provision", "--from", str(empty)])
    assert args.func is cmd_provision
    args.model_dir = tmp_path / "models"
    assert args.func(args) == 1
    assert "no model files found" in capsys.readouterr().err
    args.model_dir = None
    assert args.func(args) == 2
    args.model_dir = tmp_path / "models"
    args.source = tmp_path / "does-not-exist"
    assert args.func(args) == 2
    assert "is not a folder" in capsys.readouterr().err
