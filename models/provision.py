"""Copy provisioned weights into the model folder, checked, once.

``provision(src, model_dir)`` looks for every provisioned file of the manifest under
``src`` (at any depth, so an unzipped ``buffalo_l`` folder or a torch hub cache works),
checks each against the manifest (full sha256, or the official file name's hash prefix),
copies it atomically (temporary file in the model folder, fsync, re-hash, rename) and
records its full sha256 in ``provisioned.json``, which every later load verifies.
Nothing is ever downloaded; a file not found under ``src`` is reported as missing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from analysis.landmarks.weights import LockEntry, read_lock, sha256_file, write_lock
from models.manifest import ManifestFile, load_manifest, provisioned_files

Status = Literal["copied", "unchanged", "missing", "rejected"]


@dataclass(frozen=True)
class ProvisionResult:
    filename: str
    models: tuple[str, ...]
    status: Status
    message: str
    path: Path | None = None  # the file in the model folder (copied / unchanged)
    sha256: str = ""


def provision(src: Path, model_dir: Path, manifest: Path | None = None) -> list[ProvisionResult]:
    """Provision every manifest file found under ``src``; one result per manifest file.

    Raises FileNotFoundError when ``src`` is not a folder; everything else (a file missing
    or with the wrong hash) is a result, so one bad file does not block the others.
    """
    if not src.is_dir():
        raise FileNotFoundError(f"provisioning source {src} is not a folder")
    model_dir.mkdir(parents=True, exist_ok=True)
    lock = read_lock(model_dir)
    results = []
    for name, (mf, models) in provisioned_files(load_manifest(manifest)).items():
        res, entry = _one(src, model_dir, mf, tuple(models), lock.get(name))
        if entry is not None:
            lock[name] = entry
        results.append(res)
    write_lock(model_dir, lock)
    return results


def _find(src: Path, name: str) -> Path | None:
    direct = src / name
    if direct.is_file():
        return direct
    hits = sorted((p for p in src.rglob(name) if p.is_file()), key=lambda p: (len(p.parts), str(p)))
    return hits[0] if hits else None


def _one(
    src: Path,
    model_dir: Path,
    mf: ManifestFile,
    models: tuple[str, ...],
    existing: LockEntry | None,
) -> tuple[ProvisionResult, LockEntry | None]:
    found = _find(src, mf.name)
    dest = model_dir / mf.name
    if found is None:
        return ProvisionResult(mf.name, models, "missing", f"not found under {src}"), None
    digest = sha256_file(found)
    bad = mf.check_hash(digest)
    if bad:
        return ProvisionResult(
            mf.name, models, "rejected", f"{found}: {bad}; not copied", sha256=digest
        ), None
    entry = LockEntry(
        sha256=digest,
        size=found.stat().st_size,
        model=",".join(models),
        provisioned_at=datetime.now(UTC).isoformat(timespec="seconds"),
        verified=mf.verified_by,
    )
    same_place = dest.exists() and dest.resolve() == found.resolve()
    if dest.is_file() and (same_place or sha256_file(dest) == digest):
        if existing is not None and existing.sha256 == digest:
            entry = existing
        return ProvisionResult(
            mf.name, models, "unchanged", f"already in {model_dir}", dest, digest
        ), entry
    _atomic_copy(found, dest, digest)
    return ProvisionResult(
        mf.name, models, "copied", f"copied from {found} ({mf.verified_by})", dest, digest
    ), entry


def _atomic_copy(found: Path, dest: Path, digest: str) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, found.open("rb") as inp:
            shutil.copyfileobj(inp, out, length=1 << 20)
            out.flush()
            os.fsync(out.fileno())
        copied = sha256_file(tmp)
        if copied != digest:
            raise OSError(f"copy of {found} is corrupt (sha256 {copied}, expected {digest})")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
