"""Provisioned weight files: where they live and how a backend checks them before loading.

Provisioned weights are copied once into a model folder by ``facenode models provision``,
which checks each file against the model manifest and records its full sha256 in the lock
file ``provisioned.json`` in that folder. Every later load re-hashes the file and compares
it with the lock, so a truncated, replaced or hand-copied file is refused with a message
that says what to do — never loaded, never downloaded.

Lock file format (JSON)::

    {"format": 1,
     "files": {"<file name>": {"sha256": "<64 hex>", "size": <bytes>, "model": "<name>",
                               "provisioned_at": "<ISO 8601 UTC>", "verified": "<how>"}}}

This module lives in ``analysis`` (not ``models``) because the backends need it and
``analysis`` may not import ``models``; ``models.provision`` writes the lock through it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analysis.types import BackendUnavailableError

LOCK_NAME = "provisioned.json"
LOCK_FORMAT = 1
PROVISION_HINT = "run: facenode models provision --from <folder holding the official files>"


@dataclass(frozen=True)
class WeightFile:
    """One file a provisioned backend needs, by its official file name."""

    filename: str
    role: str  # what the file is, for messages ("FAN 2D network", "face detector")


@dataclass(frozen=True)
class LockEntry:
    sha256: str
    size: int
    model: str
    provisioned_at: str = ""
    verified: str = ""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Full sha256 of a file, read in chunks (weights are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def read_lock(model_dir: Path) -> dict[str, LockEntry]:
    """The lock's entries by file name; {} when there is no lock yet.

    A lock that cannot be parsed raises BackendUnavailableError: silently ignoring it would
    make every provisioned backend look unprovisioned for a reason nobody can see.
    """
    path = model_dir / LOCK_NAME
    if not path.is_file():
        return {}
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        files = raw["files"]
        return {
            str(name): LockEntry(
                sha256=str(e["sha256"]).lower(),
                size=int(e["size"]),
                model=str(e.get("model", "")),
                provisioned_at=str(e.get("provisioned_at", "")),
                verified=str(e.get("verified", "")),
            )
            for name, e in files.items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackendUnavailableError(
            f"the lock file {path} is unreadable ({exc}); {PROVISION_HINT} to rewrite it"
        ) from exc


def write_lock(model_dir: Path, entries: dict[str, LockEntry]) -> Path:
    """Write the whole lock atomically (temp file + rename in the same folder)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": LOCK_FORMAT,
        "files": {
            name: {
                "sha256": e.sha256,
                "size": e.size,
                "model": e.model,
                "provisioned_at": e.provisioned_at,
                "verified": e.verified,
            }
            for name, e in sorted(entries.items())
        },
    }
    path = model_dir / LOCK_NAME
    fd, tmp = tempfile.mkstemp(prefix=".provisioned-", suffix=".tmp", dir=model_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _not_configured(backend: str) -> BackendUnavailableError:
    return BackendUnavailableError(
        f"backend {backend!r} needs provisioned weights, but no model folder is configured "
        f"(set the node's model_dir); then {PROVISION_HINT}"
    )


def quick_check(model_dir: Path | None, backend: str, files: tuple[WeightFile, ...]) -> str | None:
    """Cheap availability check (presence, lock entry, size — no hashing).

    Returns the reason the backend cannot run, or None. Loading still does the full
    sha256 check; this is what ``available_backends`` and ``models list`` show quickly.
    """
    if model_dir is None:
        return str(_not_configured(backend))
    try:
        lock = read_lock(model_dir)
    except BackendUnavailableError as exc:
        return str(exc)
    for wf in files:
        path = model_dir / wf.filename
        if not path.is_file():
            return f"{wf.role} {wf.filename} is missing from {model_dir}; {PROVISION_HINT}"
        entry = lock.get(wf.filename)
        if entry is None:
            return f"{wf.filename} is not recorded in {LOCK_NAME}; {PROVISION_HINT}"
        if path.stat().st_size != entry.size:
            return (
                f"{wf.filename} has {path.stat().st_size} bytes but {entry.size} were "
                f"provisioned; the file changed — {PROVISION_HINT}"
            )
    return None


def verified_paths(
    model_dir: Path | None, backend: str, files: tuple[WeightFile, ...]
) -> dict[str, tuple[Path, LockEntry]]:
    """Check every file against the lock (full sha256) and return their paths and entries.

    Raises BackendUnavailableError naming the file and the remedy on any problem.
    """
    if model_dir is None:
        raise _not_configured(backend)
    reason = quick_check(model_dir, backend, files)
    if reason is not None:
        raise BackendUnavailableError(f"backend {backend!r} cannot load: {reason}")
    lock = read_lock(model_dir)
    out: dict[str, tuple[Path, LockEntry]] = {}
    for wf in files:
        path = model_dir / wf.filename
        entry = lock[wf.filename]
        actual = sha256_file(path)
        if actual != entry.sha256:
            raise BackendUnavailableError(
                f"backend {backend!r} cannot load: sha256 of {path} is {actual}, but "
                f"{entry.sha256} was provisioned — the file is corrupt or was replaced; "
                f"{PROVISION_HINT}"
            )
        out[wf.filename] = (path, entry)
    return out
