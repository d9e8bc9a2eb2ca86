"""The shipped model manifest, its validation, and list_models."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.landmarks import BACKENDS, fan_backend, insightface_backend
from models.manifest import ManifestError, list_models, load_manifest, provisioned_files


def test_manifest_covers_every_backend_and_matches_the_backends_files() -> None:
    entries = {e.name: e for e in load_manifest()}
    assert set(entries) == set(BACKENDS) - {"ensemble"}
    expected = {
        "fan2d": fan_backend.files_for(False),
        "fan3d": fan_backend.files_for(True),
        "insightface": insightface_backend.files_for("insightface106"),
        "insightface68": insightface_backend.files_for("ibug68"),
    }
    for name, files in expected.items():
        assert [f.name for f in entries[name].files] == [w.filename for w in files], name
        assert entries[name].kind == "provisioned"


def test_licences_and_commercial_flags() -> None:
    entries = {e.name: e for e in load_manifest()}
    assert entries["mediapipe"].commercial_use and entries["mediapipe"].licence == "Apache-2.0"
    for name in ("dlib", "fan2d", "fan3d", "insightface", "insightface68"):
        assert entries[name].commercial_use is False, name
        assert "NON-COMMERCIAL" in entries[name].note
    assert "300-W" in entries["dlib"].licence


def test_every_provisioned_file_has_an_official_hash_or_prefix() -> None:
    files = provisioned_files(load_manifest())
    assert set(files) == {
        "2DFAN4-11f355bf06.pth.tar", "3DFAN4-7835d9f11d.pth.tar", "s3fd-619a316812.pth",
        "det_10g.onnx", "2d106det.onnx", "1k3d68.onnx",
    }
    for name, (mf, _models) in files.items():
        assert mf.sha256 or mf.sha256_prefix, name
        if "-" in name and mf.sha256_prefix:  # torch.hub names carry the sha256 prefix
            assert mf.sha256_prefix in name
    assert files["s3fd-619a316812.pth"][1] == ["fan2d", "fan3d"]


def test_embedded_models_are_available_and_verified_here(tmp_path: Path) -> None:
    status = {s.name: s for s in list_models(tmp_path)}
    for name in ("mediapipe", "dlib"):
        assert status[name].available and status[name].verified, status[name].reason
        assert status[name].kind == "embedded"
    for name in ("fan2d", "insightface"):
        assert not status[name].available
        assert "missing" in status[name].reason and "provision" in status[name].reason
    assert "no model folder" in {s.name: s for s in list_models(None)}["fan3d"].reason


@pytest.mark.parametrize(
    ("key", "snippet", "message"),
    [
        ("kind", 'kind = "downloaded"', "kind must be embedded or provisioned"),
        ("sha", 'sha256 = "abc"', "sha256 must be 64 hex digits"),
        ("commercial", "commercial_use = 1", "commercial_use must be true or false"),
    ],
)
def test_malformed_entries_are_refused(tmp_path: Path, key: str, snippet: str, message: str) -> None:
    base = {
        "kind": 'kind = "provisioned"',
        "sha": 'sha256 = "' + "a" * 64 + '"',
        "commercial": "commercial_use = false",
    }
    base[key] = snippet
    text = f"""
[[model]]
name = "x"
{base["kind"]}
title = "t"
version = "1"
licence = "l"
{base["commercial"]}
source = "s"
files = [{{ name = "f.bin", {base["sha"]} }}]
"""
    path = tmp_path / "manifest.toml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=message):
        load_manifest(path)


def test_unparseable_manifest_is_a_manifest_error(tmp_path: Path) -> None:
    path = tmp_path / "manifest.toml"
    path.write_text("[[model]\nname=")
    with pytest.raises(ManifestError, match="cannot read model manifest"):
        load_manifest(path)
