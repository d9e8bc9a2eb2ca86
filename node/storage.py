"""Local file storage: every object is written to a temp file, fsynced, then renamed, so a
file that exists is always complete. Paths are never built from unchecked UIDs."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def safe_component(uid: str) -> str:
    """A path component for a UID: the UID itself when it is a well-formed DICOM UID
    (digits and dots, at most 64 characters), otherwise a hash of it."""
    text = uid.strip().rstrip("\x00")
    if 0 < len(text) <= 64 and _UID_RE.match(text):
        return text
    return "h" + hashlib.sha256(uid.encode("utf-8", "surrogateescape")).hexdigest()[:40]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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
        for sub in ("instances", "results", "quarantine"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def instance_path(self, study_uid: str, series_uid: str, sop_uid: str) -> Path:
        return (
            self.root
            / "instances"
            / safe_component(study_uid)
            / safe_component(series_uid)
            / f"{safe_component(sop_uid)}.dcm"
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
