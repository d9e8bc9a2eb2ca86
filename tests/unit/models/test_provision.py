"""Provisioning: find, check, copy atomically, lock — and what a later load sees."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from analysis.landmarks.weights import LOCK_NAME, WeightFile, read_lock, verified_paths
from analysis.types import BackendUnavailableError
from models.manifest import list_models
from models.provision import provision

GOOD = b"the official network weights"
DET = b"the official detector"
PREFIXED = b"a file whose name carries its hash prefix"
PREFIX = hashlib.sha256(PREFIXED).hexdigest()[:10]


def _manifest(path: Path) -> Path:
    text = f"""
[[model]]
name = "netA"
kind = "provisioned"
title = "test network A"
version = "1"
licence = "test"
commercial_use = false
source = "nowhere"
files = [
  {{ name = "net.bin", sha256 = "{hashlib.sha256(GOOD).hexdigest()}" }},
  {{ name = "det.bin", sha256 = "{hashlib.sha256(DET).hexdigest()}" }},
]

[[model]]
name = "netB"
kind = "provisioned"
title = "test network B"
version = "1"
licence = "test"
commercial_use = true
source = "nowhere"
files = [
  {{ name = "net-{PREFIX}.pth", sha256_prefix = "{PREFIX}" }},
  {{ name = "det.bin", sha256 = "{hashlib.sha256(DET).hexdigest()}" }},
  {{ name = "unhashed.onnx" }},
]
"""
    path.write_text(text)
    return path


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return _manifest(tmp_path / "manifest.toml")


def test_provision_copies_checks_and_locks(tmp_path: Path, manifest: Path) -> None:
    src = tmp_path / "download" / "nested" / "deeper"
    src.mkdir(parents=True)
    (src / "net.bin").write_bytes(GOOD)
    (src.parent / "det.bin").write_bytes(DET)  # found at any depth under --from
    (src / f"net-{PREFIX}.pth").write_bytes(PREFIXED)
    (src / "unhashed.onnx").write_bytes(b"no official hash known")
    model_dir = tmp_path / "models"
    results = {r.filename: r for r in provision(tmp_path / "download", model_dir, manifest)}
    assert {r.status for r in results.values()} == {"copied"}
    assert results["det.bin"].models == ("netA", "netB")  # shared files are copied once
    lock = read_lock(model_dir)
    assert lock["net.bin"].sha256 == hashlib.sha256(GOOD).hexdigest()
    assert lock["net.bin"].verified == "manifest sha256"
    assert "prefix" in lock[f"net-{PREFIX}.pth"].verified
    assert "recorded at provisioning" in lock["unhashed.onnx"].verified
    assert (model_dir / "net.bin").read_bytes() == GOOD
    assert not list(model_dir.glob(".*.part"))
    # what a backend's load-time check sees
    paths = verified_paths(model_dir, "netA", (WeightFile("net.bin", "n"), WeightFile("det.bin", "d")))
    assert paths["net.bin"][0] == model_dir / "net.bin"
    # provisioning again changes nothing
    again = provision(tmp_path / "download", model_dir, manifest)
    assert {r.status for r in again} == {"unchanged"}
    assert read_lock(model_dir)["net.bin"].provisioned_at == lock["net.bin"].provisioned_at


def test_wrong_hash_is_rejected_and_not_copied_missing_is_reported(
    tmp_path: Path, manifest: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "net.bin").write_bytes(b"a tampered network")
    (src / f"net-{PREFIX}.pth").write_bytes(b"right name, wrong content")
    (src / "det.bin").write_bytes(DET)
    model_dir = tmp_path / "models"
    results = {r.filename: r for r in provision(src, model_dir, manifest)}
    assert results["net.bin"].status == "rejected"
    assert "is not the manifest's" in results["net.bin"].message
    assert results[f"net-{PREFIX}.pth"].status == "rejected"
    assert "does not start with" in results[f"net-{PREFIX}.pth"].message
    assert results["det.bin"].status == "copied"
    assert results["unhashed.onnx"].status == "missing"
    assert not (model_dir / "net.bin").exists()
    assert set(read_lock(model_dir)) == {"det.bin"}
    with pytest.raises(BackendUnavailableError, match=r"net\.bin is missing"):
        verified_paths(model_dir, "netA", (WeightFile("net.bin", "n"),))


def test_a_replaced_file_is_caught_at_load_and_repaired_by_provisioning(
    tmp_path: Path, manifest: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "net.bin").write_bytes(GOOD)
    model_dir = tmp_path / "models"
    provision(src, model_dir, manifest)
    (model_dir / "net.bin").write_bytes(b"x" * len(GOOD))  # replaced after provisioning
    with pytest.raises(BackendUnavailableError, match="corrupt or was replaced"):
        verified_paths(model_dir, "netA", (WeightFile("net.bin", "n"),))
    [fixed] = [r for r in provision(src, model_dir, manifest) if r.filename == "net.bin"]
    assert fixed.status == "copied"
    verified_paths(model_dir, "netA", (WeightFile("net.bin", "n"),))


def test_source_must_be_a_folder(tmp_path: Path, manifest: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        provision(tmp_path / "nope", tmp_path / "models", manifest)


def test_real_manifest_rejects_a_stand_in_for_an_official_file(tmp_path: Path) -> None:
    src = tmp_path / "buffalo_l"
    src.mkdir()
    (src / "det_10g.onnx").write_bytes(b"not the official detector")
    model_dir = tmp_path / "models"
    results = {r.filename: r for r in provision(src, model_dir)}
    assert results["det_10g.onnx"].status == "rejected"
    assert results["2DFAN4-11f355bf06.pth.tar"].status == "missing"
    assert not (model_dir / "det_10g.onnx").exists()
    assert (model_dir / LOCK_NAME).is_file()
    status = {s.name: s for s in list_models(model_dir)}
    assert not status["insightface"].available
