"""The lock file and the load-time sha256 check of provisioned weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from analysis.landmarks.base import require
from analysis.landmarks.weights import (
    LOCK_NAME,
    LockEntry,
    WeightFile,
    quick_check,
    read_lock,
    sha256_file,
    verified_paths,
    write_lock,
)
from analysis.types import BackendUnavailableError

FILES = (WeightFile("net.bin", "test network"), WeightFile("det.bin", "test detector"))


def _provision(folder: Path, contents: dict[str, bytes]) -> None:
    entries = {}
    for name, data in contents.items():
        (folder / name).write_bytes(data)
        entries[name] = LockEntry(hashlib.sha256(data).hexdigest(), len(data), "test")
    write_lock(folder, entries)


def test_lock_round_trip_and_verified_paths(tmp_path: Path) -> None:
    _provision(tmp_path, {"net.bin": b"network", "det.bin": b"detector"})
    lock = read_lock(tmp_path)
    assert lock["net.bin"].sha256 == hashlib.sha256(b"network").hexdigest()
    assert json.loads((tmp_path / LOCK_NAME).read_text())["format"] == 1
    assert quick_check(tmp_path, "test", FILES) is None
    paths = verified_paths(tmp_path, "test", FILES)
    assert paths["det.bin"][0] == tmp_path / "det.bin"
    assert paths["det.bin"][1].sha256 == sha256_file(tmp_path / "det.bin")
    assert not list(tmp_path.glob(".provisioned-*"))  # atomic write left no temp file


def test_same_size_but_changed_file_fails_the_sha256_check(tmp_path: Path) -> None:
    _provision(tmp_path, {"net.bin": b"network", "det.bin": b"detector"})
    (tmp_path / "net.bin").write_bytes(b"NETWORK")  # same size: only the hash can tell
    assert quick_check(tmp_path, "test", FILES) is None
    with pytest.raises(
        BackendUnavailableError, match=r"sha256 of .*net\.bin.*corrupt or was replaced"
    ):
        verified_paths(tmp_path, "test", FILES)


def test_missing_file_unrecorded_file_and_size_change_name_the_file(tmp_path: Path) -> None:
    _provision(tmp_path, {"net.bin": b"network"})
    with pytest.raises(BackendUnavailableError, match=r"det\.bin is missing .*models provision"):
        verified_paths(tmp_path, "test", FILES)
    (tmp_path / "det.bin").write_bytes(b"copied by hand")
    reason = quick_check(tmp_path, "test", FILES)
    assert reason is not None and "det.bin is not recorded in provisioned.json" in reason
    _provision(tmp_path, {"net.bin": b"network", "det.bin": b"detector"})
    (tmp_path / "det.bin").write_bytes(b"detector, truncated or grown")
    reason = quick_check(tmp_path, "test", FILES)
    assert reason is not None and "bytes but" in reason


def test_no_model_folder_and_broken_lock_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="no model folder is configured"):
        verified_paths(None, "fan2d", FILES)
    (tmp_path / LOCK_NAME).write_text("{not json")
    with pytest.raises(BackendUnavailableError, match="lock file .* is unreadable"):
        read_lock(tmp_path)
    assert "unreadable" in (quick_check(tmp_path, "x", FILES) or "")


def test_require_names_the_extra_to_install() -> None:
    with pytest.raises(BackendUnavailableError, match=r"pip install 'facenode\[provisioned\]'"):
        require("facenode_no_such_module_xyz", "provisioned")
    assert require("json", "embedded") is json
