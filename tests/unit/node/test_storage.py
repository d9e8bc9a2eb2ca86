from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.storage import Storage, safe_component, write_atomic


def test_wellformed_uid_is_kept_others_are_hashed() -> None:
    assert safe_component("1.2.840.10008.1") == "1.2.840.10008.1"
    assert safe_component("1.2\x00") == "1.2"  # DICOM UI padding
    for evil in ("../../etc/passwd", "1.2/3", "", "1." * 40, "a b"):
        out = safe_component(evil)
        assert out.startswith("h") and "/" not in out and ".." not in out and len(out) == 41


def test_instance_path_stays_inside_storage(tmp_path: Path) -> None:
    st = Storage(tmp_path)
    p = st.instance_path("../../x", "1.2.3", "/abs/path")
    assert p.resolve().is_relative_to(tmp_path.resolve())
    assert p.parent.name == "1.2.3"


def test_write_atomic_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.dcm"
    write_atomic(target, b"x" * 1000)
    write_atomic(target, b"y" * 10)
    assert target.read_bytes() == b"y" * 10
    assert [p.name for p in target.parent.iterdir()] == ["b.dcm"]


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture(params=[0o000, 0o022, 0o077])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """The process umask must not decide who can read patient data."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_stored_files_and_folders_are_private_whatever_the_umask(tmp_path: Path,
                                                                 umask: int) -> None:
    st = Storage(tmp_path / "var")
    path = st.instance_path("1.2.3", "1.2.3.4", "1.2.3.4.5")
    write_atomic(path, b"x" * 100)
    write_atomic(st.result_path("1.2.3", "1.2.3.9", "1.2.3.9.1"), b"y")
    assert _mode(path) == 0o600
    for folder in (st.root, st.root / "instances", st.root / "results", st.root / "quarantine",
                   path.parent, path.parent.parent):
        assert _mode(folder) == 0o700, folder
    for p in st.root.rglob("*"):
        assert _mode(p) == (0o700 if p.is_dir() else 0o600), p


def test_an_existing_storage_folder_is_tightened(tmp_path: Path) -> None:
    root = tmp_path / "var"
    (root / "instances").mkdir(parents=True, mode=0o755)
    root.chmod(0o755)
    Storage(root)
    assert _mode(root) == 0o700 and _mode(root / "instances") == 0o700


def test_the_database_and_its_wal_are_private_whatever_the_umask(tmp_path: Path,
                                                                 umask: int) -> None:
    from node.db import Job, open_database

    sessions = open_database(f"sqlite:///{tmp_path / 'db' / 'facenode.db'}")
    with sessions.begin() as s:  # a write: the -wal and -shm files exist now
        s.add(Job(series_uid="1.2.3"))
    files = sorted((tmp_path / "db").iterdir())
    assert {p.name for p in files} >= {"facenode.db", "facenode.db-wal", "facenode.db-shm"}
    assert all(_mode(p) == 0o600 for p in files), [(p.name, oct(_mode(p))) for p in files]
    assert _mode(tmp_path / "db") == 0o700


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    from node.db import open_database

    db = tmp_path / "facenode.db"
    open_database(f"sqlite:///{db}")
    db.chmod(0o644)
    open_database(f"sqlite:///{db}")
    assert _mode(db) == 0o600


def test_uids_with_leading_zeros_are_hashed_too() -> None:
    assert safe_component("1.02.3").startswith("h")
    assert safe_component("1.0.3") == "1.0.3"
