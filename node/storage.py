"""Local file storage: every object is written to a temp file, fsynced, then renamed, so a
file that exists is always complete. Paths are never built from unchecked UIDs.

Everything here is readable by the node's user only — files 0600, folders 0700 — set
explicitly, whatever the process umask: the folders are named by Study / Series UID and the
files carry patient data.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Final

from dicom.received import is_valid_uid

FILE_MODE: Final = 0o600
DIR_MODE: Final = 0o700


def safe_component(uid: str) -> str:
    """A path component for a UID: the UID itself when it is a valid DICOM UID (PS3.5 §9.1:
    digits and dots, no leading zeros, at most 64 characters), otherwise a hash of it."""
    text = uid.strip().rstrip("\x00")
    if is_valid_uid(text):
        return text
    return "h" + hashlib.sha256(uid.encode("utf-8", "surrogateescape")).hexdigest()[:40]


def private_dir(path: Path) -> None:
    """Create ``path`` and any missing parents as 0700 folders (the umask does not apply);
    folders that already exist are left as they are."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # made by another thread meanwhile
            continue
        os.chmod(folder, DIR_MODE)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600) so that readers see either nothing or the
    whole file."""
    commit_staged(stage(path.parent, data), path)


def stage(folder: Path, data: bytes) -> Path:
    """``data`` in a hidden temp file of ``folder`` (mode 0600), written and fsynced: the
    slow half of :func:`write_atomic`, which the C-STORE handler does before it takes its
    lock, so concurrent associations do not queue behind each other's fsync."""
    private_dir(folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    except FileNotFoundError:  # an empty folder removed by ``facenode purge`` meanwhile
        private_dir(folder)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def commit_staged(staged: Path, path: Path) -> None:
    """Rename a :func:`stage`d file to ``path`` (same folder) and make the rename durable."""
    try:
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class Storage:
    """The node's folder: ``instances/`` (received), ``results/`` (ours), ``quarantine/``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        private_dir(self.root)
        os.chmod(self.root, DIR_MODE)  # the node's own folder: tightened if it was not
        for sub in ("instances", "results", "quarantine"):
            private_dir(self.root / sub)
            os.chmod(self.root / sub, DIR_MODE)

    def instance_path(
        self, study_uid: str, series_uid: str, sop_uid: str, version: int = 1
    ) -> Path:
        """Where a received object is kept; a later version of the same SOP Instance UID
        (other content) gets its own file, ``<uid>.v<n>.dcm``."""
        name = safe_component(sop_uid) + (f".v{version}" if version > 1 else "")
        return (
            self.root
            / "instances"
            / safe_component(study_uid)
            / safe_component(series_uid)
            / f"{name}.dcm"
        )

    def result_path(self, study_uid: str, series_uid: str, sop_uid: str) -> Path:
        return (
            self.root
            / "results"
            / safe_component(study_uid)
            / safe_component(series_uid)
            / f"{safe_component(sop_uid)}.dcm"
        )

    def quarantine_path(self, name: str) -> Path:
        return self.root / "quarantine" / f"{safe_component(name)}.dcm"

    def free_mb(self) -> float:
        return shutil.disk_usage(self.root).free / 1e6
