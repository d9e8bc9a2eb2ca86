"""The one table of landmark backends: name → loader, extra, packages, weight files, licence.

:func:`analysis.landmarks.get_backend` loads from it, :func:`analysis.landmarks.available_backends`
checks from it (and so ``models list``), and the node's ``analysis_backend`` setting is
validated against its names (``config.settings.ANALYSIS_BACKENDS`` mirrors them, because
``config`` sits below ``analysis``; a test keeps the two equal). A new backend is one entry
here, its name in that copy and its model in ``models/manifest.toml``; the tests fail until
all three agree.

Importing this module imports no heavy library: the backend modules it names import torch,
mediapipe, dlib or insightface only inside their constructors
(:func:`analysis.landmarks.base.require`), which the loaders call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from analysis.landmarks import (
    dlib_backend,
    ensemble,
    fan_backend,
    insightface_backend,
    mediapipe_backend,
)
from analysis.landmarks.base import EMBEDDED, PROVISIONED, LandmarkBackend
from analysis.landmarks.weights import WeightFile
from analysis.types import BackendUnavailableError

log = logging.getLogger(__name__)

#: ``load(model_dir, device)``: ``device`` is ``auto`` | ``cpu`` | ``cuda`` (the node's
#: setting); backends without a GPU path run on the CPU whatever it says.
Loader = Callable[[Path | None, str], LandmarkBackend]


@dataclass(frozen=True)
class BackendSpec:
    """What one backend needs and how to load it.

    ``extra`` is the optional-dependency group that installs ``modules`` (``pip install
    'facenode[<extra>]'``); ``files`` are the weights it needs in the model folder
    (provisioned backends; empty for embedded ones, whose weights come with a package).
    ``licence`` and ``commercial_use`` are the model's, as the report states them.
    ``check`` (embedded backends whose weights a package ships) raises
    :class:`BackendUnavailableError` when those weights are missing. ``members`` is set
    only for the ensemble, which runs on other backends.
    """

    name: str
    extra: str
    modules: tuple[str, ...]
    files: tuple[WeightFile, ...]
    licence: str
    commercial_use: bool
    load: Loader
    check: Callable[[], object] | None = None
    members: tuple[str, ...] = ()


def _mediapipe(_model_dir: Path | None, _device: str) -> LandmarkBackend:
    return mediapipe_backend.MediaPipeBackend()


def _dlib(_model_dir: Path | None, _device: str) -> LandmarkBackend:
    return dlib_backend.DlibBackend()


def _fan(three_d: bool) -> Loader:
    def load(model_dir: Path | None, device: str) -> LandmarkBackend:
        return fan_backend.FanBackend(model_dir, three_d=three_d, device=device)

    return load


def _insightface(scheme: str) -> Loader:
    def load(model_dir: Path | None, device: str) -> LandmarkBackend:
        providers = insightface_backend.providers_for(device)
        return insightface_backend.InsightFaceBackend(model_dir, scheme=scheme, providers=providers)

    return load


def _ensemble(model_dir: Path | None, device: str) -> LandmarkBackend:
    """Every member that can run here; at least two, or the ensemble is unavailable."""
    members: list[LandmarkBackend] = []
    skipped: list[str] = []
    for member in ensemble.DEFAULT_MEMBERS:
        try:
            members.append(REGISTRY[member].load(model_dir, device))
        except BackendUnavailableError as exc:
            skipped.append(f"{member}: {exc}")
            log.info("ensemble runs without %s: %s", member, exc)
    if len(members) < 2:
        raise BackendUnavailableError(
            "the ensemble needs at least two usable backends; " + "; ".join(skipped)
        )
    return ensemble.EnsembleBackend(members)


_FAN_MODULES: Final = ("torch", "face_alignment")
_INSIGHTFACE_MODULES: Final = ("insightface", "onnxruntime", "onnx")

SPECS: Final[tuple[BackendSpec, ...]] = (
    BackendSpec(
        name="mediapipe",
        extra=EMBEDDED,
        modules=("mediapipe", "cv2"),
        files=(),
        licence=mediapipe_backend.LICENCE,
        commercial_use=True,
        load=_mediapipe,
    ),
    BackendSpec(
        name="dlib",
        extra=EMBEDDED,
        modules=("dlib", "cv2"),
        files=(),
        licence=dlib_backend.LICENCE,
        commercial_use=False,
        load=_dlib,
        check=dlib_backend.predictor_path,
    ),
    BackendSpec(
        name="fan2d",
        extra=PROVISIONED,
        modules=_FAN_MODULES,
        files=fan_backend.files_for(False),
        licence=fan_backend.NON_COMMERCIAL_NOTE,
        commercial_use=False,
        load=_fan(False),
    ),
    BackendSpec(
        name="fan3d",
        extra=PROVISIONED,
        modules=_FAN_MODULES,
        files=fan_backend.files_for(True),
        licence=fan_backend.NON_COMMERCIAL_NOTE,
        commercial_use=False,
        load=_fan(True),
    ),
    BackendSpec(
        name="insightface",
        extra=PROVISIONED,
        modules=_INSIGHTFACE_MODULES,
        files=insightface_backend.files_for("insightface106"),
        licence=insightface_backend.NON_COMMERCIAL_NOTE,
        commercial_use=False,
        load=_insightface("insightface106"),
    ),
    BackendSpec(
        name="insightface68",
        extra=PROVISIONED,
        modules=_INSIGHTFACE_MODULES,
        files=insightface_backend.files_for("ibug68"),
        licence=insightface_backend.NON_COMMERCIAL_NOTE,
        commercial_use=False,
        load=_insightface("ibug68"),
    ),
    BackendSpec(
        name="ensemble",
        extra=EMBEDDED,
        modules=(),
        files=(),
        licence="that of each member used (the report lists them)",
        commercial_use=False,
        load=_ensemble,
        members=ensemble.DEFAULT_MEMBERS,
    ),
)

REGISTRY: Final[dict[str, BackendSpec]] = {s.name: s for s in SPECS}
NAMES: Final[tuple[str, ...]] = tuple(REGISTRY)


def spec(name: str) -> BackendSpec:
    """The entry for ``name`` (case and surrounding spaces ignored).

    Raises ValueError naming every known backend for an unknown name.
    """
    found = REGISTRY.get(name.strip().lower())
    if found is None:
        raise ValueError(f"unknown landmark backend {name!r}; choose one of {', '.join(NAMES)}")
    return found
