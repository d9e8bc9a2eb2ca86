"""Landmark backends: pick one by name, or ask which can run here.

Names: ``mediapipe`` (default, embedded), ``dlib`` (embedded, non-commercial model),
``fan2d`` / ``fan3d`` (face-alignment, provisioned), ``insightface`` (106 points,
provisioned), ``insightface68`` (insightface's 3D 68-point network as iBUG-68) and
``ensemble`` (fuses the usable ones). Backend modules are imported only when asked for,
so choosing ``mediapipe`` never imports torch.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Final

from analysis.landmarks.base import EMBEDDED, PROVISIONED, LandmarkBackend
from analysis.types import BackendUnavailableError

log = logging.getLogger(__name__)

BACKENDS: Final = (
    "mediapipe",
    "dlib",
    "fan2d",
    "fan3d",
    "insightface",
    "insightface68",
    "ensemble",
)
DEFAULT_BACKEND: Final = "mediapipe"

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "LandmarkBackend", "available_backends", "get_backend"]


def get_backend(name: str = DEFAULT_BACKEND, model_dir: Path | None = None) -> LandmarkBackend:
    """Load a backend (its models load now, once).

    Raises ValueError for an unknown name and BackendUnavailableError, naming the missing
    extra or weight file, when the backend cannot run here.
    """
    key = name.strip().lower()
    if key == "mediapipe":
        from analysis.landmarks.mediapipe_backend import MediaPipeBackend

        return MediaPipeBackend()
    if key == "dlib":
        from analysis.landmarks.dlib_backend import DlibBackend

        return DlibBackend()
    if key in ("fan2d", "fan3d"):
        from analysis.landmarks.fan_backend import FanBackend

        return FanBackend(model_dir, three_d=key == "fan3d")
    if key in ("insightface", "insightface68"):
        from analysis.landmarks.insightface_backend import InsightFaceBackend

        scheme = "insightface106" if key == "insightface" else "ibug68"
        return InsightFaceBackend(model_dir, scheme=scheme)
    if key == "ensemble":
        return _ensemble(model_dir)
    raise ValueError(f"unknown landmark backend {name!r}; choose one of {', '.join(BACKENDS)}")


def _ensemble(model_dir: Path | None) -> LandmarkBackend:
    from analysis.landmarks.ensemble import DEFAULT_MEMBERS, EnsembleBackend

    members: list[LandmarkBackend] = []
    skipped: list[str] = []
    for member in DEFAULT_MEMBERS:
        try:
            members.append(get_backend(member, model_dir))
        except BackendUnavailableError as exc:
            skipped.append(f"{member}: {exc}")
            log.info("ensemble runs without %s: %s", member, exc)
    if len(members) < 2:
        raise BackendUnavailableError(
            "the ensemble needs at least two usable backends; " + "; ".join(skipped)
        )
    return EnsembleBackend(members)


def _missing_packages(*modules: str) -> list[str]:
    missing = []
    for m in modules:
        try:
            if importlib.util.find_spec(m) is None:
                missing.append(m)
        except (ImportError, ValueError):
            missing.append(m)
    return missing


def _package_reason(extra: str, *modules: str) -> str | None:
    missing = _missing_packages(*modules)
    if missing:
        return f"missing package(s) {', '.join(missing)}: pip install 'facenode[{extra}]'"
    return None


def available_backends(model_dir: Path | None = None) -> dict[str, str]:
    """Backend name → "ok" or why it cannot run. Cheap: nothing is imported or hashed.

    "ok" means the packages are installed and (for provisioned backends) every file is in
    the model folder and the lock with its provisioned size; the full sha256 check runs
    when the backend loads.
    """
    from analysis.landmarks import fan_backend, insightface_backend
    from analysis.landmarks.weights import quick_check

    out: dict[str, str] = {}
    out["mediapipe"] = _package_reason(EMBEDDED, "mediapipe", "cv2") or "ok"
    reason = _package_reason(EMBEDDED, "dlib", "cv2")
    if reason is None:
        from analysis.landmarks.dlib_backend import predictor_path

        try:
            predictor_path()
        except BackendUnavailableError as exc:
            reason = str(exc)
    out["dlib"] = reason or "ok"
    for name, three_d in (("fan2d", False), ("fan3d", True)):
        out[name] = (
            _package_reason(PROVISIONED, "torch", "face_alignment")
            or quick_check(model_dir, name, fan_backend.files_for(three_d))
            or "ok"
        )
    for name, scheme in (("insightface", "insightface106"), ("insightface68", "ibug68")):
        out[name] = (
            _package_reason(PROVISIONED, "insightface", "onnxruntime", "onnx")
            or quick_check(model_dir, name, insightface_backend.files_for(scheme))
            or "ok"
        )
    from analysis.landmarks.ensemble import DEFAULT_MEMBERS

    usable = [m for m in DEFAULT_MEMBERS if out.get(m) == "ok"]
    out["ensemble"] = (
        "ok"
        if len(usable) >= 2
        else f"needs at least two usable backends of {', '.join(DEFAULT_MEMBERS)}; "
        f"usable: {', '.join(usable) or 'none'}"
    )
    return out
