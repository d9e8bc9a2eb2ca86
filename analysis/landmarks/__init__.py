"""Landmark backends: pick one by name, or ask which can run here.

Names: ``mediapipe`` (default, embedded), ``dlib`` (embedded, non-commercial model),
``fan2d`` / ``fan3d`` (face-alignment, provisioned), ``insightface`` (106 points,
provisioned), ``insightface68`` (insightface's 3D 68-point network as iBUG-68) and
``ensemble`` (fuses the usable ones). What each needs and how it loads is one table,
:mod:`analysis.landmarks.registry`; both functions here read it. Backend modules are
imported only when asked for, so choosing ``mediapipe`` never imports torch.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Final

from analysis.landmarks.base import LandmarkBackend
from analysis.landmarks.registry import NAMES, REGISTRY, BackendSpec, spec
from analysis.landmarks.weights import quick_check
from analysis.types import BackendUnavailableError

BACKENDS: Final = NAMES
DEVICES: Final = ("auto", "cpu", "cuda")
DEFAULT_BACKEND: Final = "mediapipe"

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "LandmarkBackend", "available_backends", "get_backend"]


def get_backend(
    name: str = DEFAULT_BACKEND, model_dir: Path | None = None, device: str = "auto"
) -> LandmarkBackend:
    """Load a backend (its models load now, once) on ``device`` (``auto``: the GPU where the
    backend has a GPU path and one is usable; ``cpu``; ``cuda``: the GPU or an error, for
    the backends that have a GPU path — the others run on the CPU).

    Raises ValueError for an unknown name or device and BackendUnavailableError, naming the
    missing extra, weight file or GPU, when the backend cannot run here.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    return spec(name).load(model_dir, device)


def available_backends(model_dir: Path | None = None) -> dict[str, str]:
    """Backend name → "ok" or why it cannot run. Cheap: nothing is imported or hashed.

    "ok" means the packages are installed and (for provisioned backends) every file is in
    the model folder and the lock with its provisioned size; the full sha256 check runs
    when the backend loads.
    """
    out: dict[str, str] = {}
    for entry in REGISTRY.values():
        if not entry.members:
            out[entry.name] = _reason(entry, model_dir) or "ok"
    for entry in REGISTRY.values():
        if entry.members:
            usable = [m for m in entry.members if out.get(m) == "ok"]
            out[entry.name] = (
                "ok"
                if len(usable) >= 2
                else f"needs at least two usable backends of {', '.join(entry.members)}; "
                f"usable: {', '.join(usable) or 'none'}"
            )
    return {name: out[name] for name in REGISTRY}


def _reason(entry: BackendSpec, model_dir: Path | None) -> str | None:
    """Why ``entry`` cannot run here (missing package, weight file), or None."""
    missing = _missing_packages(*entry.modules)
    if missing:
        return f"missing package(s) {', '.join(missing)}: pip install 'facenode[{entry.extra}]'"
    if entry.files:
        return quick_check(model_dir, entry.name, entry.files)
    if entry.check is not None:
        try:
            entry.check()
        except BackendUnavailableError as exc:
            return str(exc)
    return None


def _missing_packages(*modules: str) -> list[str]:
    missing = []
    for m in modules:
        try:
            if importlib.util.find_spec(m) is None:
                missing.append(m)
        except (ImportError, ValueError):
            missing.append(m)
    return missing
