"""The model manifest (``models/manifest.toml``): what each landmark model is and where its
files come from, and :func:`list_models`, which says which of them can run here and why not.

The manifest is data, validated when read: a bad entry is a packaging bug and raises
:class:`ManifestError` naming the entry.
"""

from __future__ import annotations

import importlib.util
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from analysis.landmarks.weights import LockEntry, read_lock, sha256_file
from analysis.types import BackendUnavailableError
from config.errors import FacenodeError

MANIFEST_PATH = Path(__file__).with_name("manifest.toml")
Kind = Literal["embedded", "provisioned"]
_HEX = set("0123456789abcdef")


class ManifestError(FacenodeError, ValueError):
    """The manifest file is malformed; the message names the entry and field."""


@dataclass(frozen=True)
class ManifestFile:
    """One file of a model. ``name`` is a path relative to the package (embedded) or the
    file name inside the model folder (provisioned)."""

    name: str
    sha256: str = ""
    sha256_prefix: str = ""
    size: int | None = None
    source: str = ""

    def check_hash(self, actual: str) -> str | None:
        """None when ``actual`` matches what the manifest knows, else the reason."""
        if self.sha256 and actual != self.sha256:
            return f"sha256 {actual} is not the manifest's {self.sha256}"
        if not self.sha256 and self.sha256_prefix and not actual.startswith(self.sha256_prefix):
            return (
                f"sha256 {actual} does not start with {self.sha256_prefix}, the prefix in "
                "the official file name"
            )
        return None

    @property
    def verified_by(self) -> str:
        if self.sha256:
            return "manifest sha256"
        if self.sha256_prefix:
            return f"sha256 prefix {self.sha256_prefix} from the official file name"
        return "no official hash known; recorded at provisioning"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: Kind
    title: str
    version: str
    licence: str
    commercial_use: bool
    source: str
    files: tuple[ManifestFile, ...]
    package: str = ""
    note: str = ""


@dataclass(frozen=True)
class ModelStatus:
    """What ``facenode models list`` shows for one model."""

    name: str
    title: str
    kind: Kind
    available: bool
    verified: bool  # every file's sha256 matches the manifest (embedded) / the lock (provisioned)
    licence: str
    commercial_use: bool
    version: str
    reason: str  # why not available / not verified; "" when both hold
    note: str = ""


def load_manifest(path: Path | None = None) -> list[ModelEntry]:
    path = path or MANIFEST_PATH
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"cannot read model manifest {path}: {exc}") from exc
    entries = [_entry(m, i) for i, m in enumerate(raw.get("model", []))]
    names = [e.name for e in entries]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ManifestError(f"model manifest {path} lists {sorted(dupes)} more than once")
    _check_same_file_same_hash(entries)
    return entries


def _entry(m: Any, i: int) -> ModelEntry:
    where = f"model #{i + 1} ({m.get('name', '?') if isinstance(m, dict) else '?'})"
    if not isinstance(m, dict):
        raise ManifestError(f"{where}: must be a table")
    try:
        kind = m["kind"]
        if kind not in ("embedded", "provisioned"):
            raise ManifestError(f"{where}: kind must be embedded or provisioned, got {kind!r}")
        files = tuple(_file(f, where) for f in m["files"])
        entry = ModelEntry(
            name=str(m["name"]),
            kind=kind,
            title=str(m["title"]),
            version=str(m["version"]),
            licence=str(m["licence"]),
            commercial_use=_bool(m["commercial_use"], where),
            source=str(m["source"]),
            files=files,
            package=str(m.get("package", "")),
            note=str(m.get("note", "")),
        )
    except KeyError as exc:
        raise ManifestError(f"{where}: missing field {exc}") from exc
    if entry.kind == "embedded" and not entry.package:
        raise ManifestError(f"{where}: an embedded model needs `package`")
    if not entry.files:
        raise ManifestError(f"{where}: lists no files")
    return entry


def _bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise ManifestError(f"{where}: commercial_use must be true or false, got {v!r}")
    return v


def _file(f: Any, where: str) -> ManifestFile:
    if not isinstance(f, dict) or "name" not in f:
        raise ManifestError(f"{where}: each file needs a name")
    sha = str(f.get("sha256", "")).lower()
    prefix = str(f.get("sha256_prefix", "")).lower()
    if sha and (len(sha) != 64 or not set(sha) <= _HEX):
        raise ManifestError(f"{where}: {f['name']}: sha256 must be 64 hex digits")
    if prefix and not set(prefix) <= _HEX:
        raise ManifestError(f"{where}: {f['name']}: sha256_prefix must be hex")
    if sha and prefix and not sha.startswith(prefix):
        raise ManifestError(f"{where}: {f['name']}: sha256 does not start with sha256_prefix")
    size = f.get("size")
    return ManifestFile(
        name=str(f["name"]),
        sha256=sha,
        sha256_prefix=prefix,
        size=int(size) if size is not None else None,
        source=str(f.get("source", "")),
    )


def _check_same_file_same_hash(entries: list[ModelEntry]) -> None:
    seen: dict[str, ManifestFile] = {}
    for e in entries:
        if e.kind != "provisioned":
            continue
        for f in e.files:
            other = seen.setdefault(f.name, f)
            if (other.sha256, other.sha256_prefix) != (f.sha256, f.sha256_prefix):
                raise ManifestError(f"{f.name} has different hashes in different model entries")


def provisioned_files(entries: list[ModelEntry]) -> dict[str, tuple[ManifestFile, list[str]]]:
    """Each provisioned file once, with the models that use it."""
    out: dict[str, tuple[ManifestFile, list[str]]] = {}
    for e in entries:
        if e.kind == "provisioned":
            for f in e.files:
                out.setdefault(f.name, (f, []))[1].append(e.name)
    return out


def package_folder(package: str) -> Path | None:
    """An installed package's folder, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def list_models(model_dir: Path | None, manifest: Path | None = None) -> list[ModelStatus]:
    """Every manifest model with whether it can run here, its licence and the reason if not.

    Hashes every file (embedded against the manifest, provisioned against the lock), so it
    takes a second or two; it never loads a model.
    """
    from analysis.landmarks import available_backends

    runnable = available_backends(model_dir)
    out = []
    for e in load_manifest(manifest):
        if e.kind == "embedded":
            verified, why = _verify_embedded(e)
        else:
            verified, why = _verify_provisioned(e, model_dir)
        state = runnable.get(e.name, "not a known backend")
        available = state == "ok"
        reason = "" if available else state
        if available and not verified:
            reason = why
            # a provisioned file that fails its lock check would be refused at load
            available = e.kind == "embedded"
        out.append(
            ModelStatus(
                name=e.name,
                title=e.title,
                kind=e.kind,
                available=available,
                verified=available and verified,
                licence=e.licence,
                commercial_use=e.commercial_use,
                version=e.version,
                reason=reason,
                note=e.note,
            )
        )
    return out


def _verify_embedded(e: ModelEntry) -> tuple[bool, str]:
    folder = package_folder(e.package)
    if folder is None:
        return False, f"package {e.package!r} is not installed"
    for f in e.files:
        path = folder / f.name
        if not path.is_file():
            return False, f"{path} is missing"
        bad = f.check_hash(sha256_file(path))
        if bad:
            return False, (
                f"{path}: {bad} (a different package version? the model still runs, but its "
                "identity no longer matches the manifest)"
            )
    return True, ""


def _verify_provisioned(e: ModelEntry, model_dir: Path | None) -> tuple[bool, str]:
    if model_dir is None:
        return False, "no model folder configured"
    try:
        lock: dict[str, LockEntry] = read_lock(model_dir)
    except BackendUnavailableError as exc:
        return False, str(exc)
    for f in e.files:
        path = model_dir / f.name
        entry = lock.get(f.name)
        if entry is None or not path.is_file():
            return False, f"{f.name} is not provisioned"
        actual = sha256_file(path)
        if actual != entry.sha256:
            return False, f"{path}: sha256 {actual} differs from the provisioned {entry.sha256}"
    return True, ""
