"""get_backend / available_backends: names, reasons, and no silent fallbacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.landmarks import BACKENDS, available_backends, get_backend
from analysis.landmarks.base import LandmarkBackend
from analysis.types import BackendUnavailableError


def test_available_backends_reports_every_name_with_a_reason(tmp_path: Path) -> None:
    avail = available_backends(None)
    assert set(avail) == set(BACKENDS)
    assert avail["mediapipe"] == "ok" and avail["dlib"] == "ok"
    for name in ("fan2d", "fan3d", "insightface", "insightface68"):
        assert "no model folder is configured" in avail[name]
    assert avail["ensemble"] == "ok"  # mediapipe + dlib are enough
    in_empty = available_backends(tmp_path)
    assert "2DFAN4-11f355bf06.pth.tar is missing" in in_empty["fan2d"]
    assert "det_10g.onnx is missing" in in_empty["insightface"]


def test_unknown_name_is_a_value_error_listing_the_names() -> None:
    with pytest.raises(ValueError, match="mediapipe, dlib"):
        get_backend("openface", None)


@pytest.mark.parametrize("name", ["fan2d", "fan3d", "insightface", "insightface68"])
def test_provisioned_backend_without_weights_is_unavailable_not_downloaded(
    name: str, tmp_path: Path
) -> None:
    with pytest.raises(BackendUnavailableError, match="models provision"):
        get_backend(name, tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing was fetched or written


def test_get_backend_returns_a_protocol_instance() -> None:
    backend = get_backend("dlib", None)
    assert isinstance(backend, LandmarkBackend)
    assert backend.identity.commercial_use is False


def test_one_registry_behind_both_functions() -> None:
    from analysis.landmarks import registry

    assert BACKENDS == registry.NAMES == tuple(available_backends(None))
    for name in registry.NAMES:
        assert registry.spec(f" {name.upper()} ").name == name
    with pytest.raises(ValueError, match="insightface68, ensemble"):
        registry.spec("openface")


def test_registry_entries_agree_with_the_model_manifest() -> None:
    """Licence flag, extra and weight files: the registry (what the node loads) and the
    manifest (what provisioning checks and `models list` shows) say the same."""
    from analysis.landmarks.registry import REGISTRY
    from models.manifest import load_manifest

    manifest = {e.name: e for e in load_manifest()}
    assert set(manifest) == {n for n, s in REGISTRY.items() if not s.members}
    for name, entry in manifest.items():
        spec = REGISTRY[name]
        assert spec.commercial_use == entry.commercial_use, name
        assert spec.extra == entry.kind, name
        if entry.kind == "provisioned":
            assert [w.filename for w in spec.files] == [f.name for f in entry.files], name
        else:
            assert spec.files == (), name


def test_the_device_setting_reaches_the_backends() -> None:
    """A CPU-only backend runs on the CPU whatever the setting; ONNX Runtime's providers
    follow it; an unknown device is refused with the known ones."""
    from analysis.landmarks.insightface_backend import providers_for

    assert get_backend("mediapipe", None, "cuda").name == "mediapipe"
    with pytest.raises(ValueError, match="auto, cpu, cuda"):
        get_backend("mediapipe", None, "gpu")
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    assert providers_for("auto") is None  # the backend's own choice: CUDA when offered
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert providers_for("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    else:
        with pytest.raises(BackendUnavailableError, match="no CUDA provider"):
            providers_for("cuda")
