"""insightface (buffalo_l's detector and landmark networks) — provisioned.

``insightface.app.FaceAnalysis`` looks for a model pack under ``~/.insightface`` and
downloads it when absent; this backend never uses it. Each ONNX file is loaded from the
model folder with ``insightface.model_zoo.get_model(<path>.onnx)`` (a direct ``.onnx`` path
never downloads; ``download`` stays False) after the sha256 check against
``provisioned.json``, with explicit ONNX Runtime providers.

Files: ``det_10g.onnx`` (the SCRFD-10GF "RetinaFace" detector), ``2d106det.onnx``
(106 points, scheme ``insightface106``) and ``1k3d68.onnx`` (68 3D points in iBUG order,
used as 2D ``ibug68``). The backend runs in one of the two landmark modes.

Licence: insightface's code is MIT, but its pretrained models are released for
non-commercial research purposes only — ``commercial_use=False``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Final

import numpy as np

from analysis.landmarks.base import (
    PROVISIONED,
    check_image,
    largest_first,
    package_version,
    require,
)
from analysis.landmarks.weights import WeightFile, verified_paths
from analysis.types import (
    BackendUnavailableError,
    FaceBox,
    FloatArray,
    ImageArray,
    LandmarkSet,
    ModelIdentity,
)

DETECTOR: Final = WeightFile("det_10g.onnx", "SCRFD-10GF (RetinaFace) face detector")
LMK106: Final = WeightFile("2d106det.onnx", "2D 106-point landmark network")
LMK3D68: Final = WeightFile("1k3d68.onnx", "3D 68-point landmark network")
ALL_FILES: Final = (DETECTOR, LMK106, LMK3D68)
NON_COMMERCIAL_NOTE: Final = (
    "insightface pretrained models: non-commercial research use only (code: MIT)"
)
MODES: Final[dict[str, tuple[WeightFile, int, int]]] = {
    # scheme: (landmark file, points, dimensions)
    "insightface106": (LMK106, 106, 2),
    "ibug68": (LMK3D68, 68, 3),
}


def files_for(scheme: str) -> tuple[WeightFile, ...]:
    return (DETECTOR, MODES[scheme][0])


def providers_for(device: str) -> list[str] | None:
    """ONNX Runtime providers for the node's ``device`` setting: None (``auto``: CUDA when
    the installed runtime offers it, then the CPU), the CPU only, or CUDA first — which must
    be offered (onnxruntime-gpu), else :class:`BackendUnavailableError`."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "cuda":
        ort = require("onnxruntime", PROVISIONED)
        if "CUDAExecutionProvider" not in set(ort.get_available_providers()):
            raise BackendUnavailableError(
                "device 'cuda' asked for, but the installed ONNX Runtime has no CUDA provider "
                "(install onnxruntime-gpu); use device 'cpu' or 'auto'"
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return None


class InsightFaceBackend:
    """SCRFD detection, then the 106-point or the 3D 68-point network per face."""

    def __init__(
        self,
        model_dir: Path | None,
        scheme: str = "insightface106",
        max_faces: int = 5,
        det_size: int = 640,
        det_threshold: float = 0.5,
        providers: list[str] | None = None,
    ) -> None:
        if scheme not in MODES:
            raise ValueError(f"scheme must be one of {sorted(MODES)}, got {scheme!r}")
        self.scheme = scheme
        self.name = "insightface" if scheme == "insightface106" else "insightface68"
        lmk_file, n_points, dims = MODES[scheme]
        paths = verified_paths(model_dir, self.name, files_for(scheme))
        ort = require("onnxruntime", PROVISIONED)
        zoo: Any = require("insightface.model_zoo", PROVISIONED)
        common: Any = require("insightface.app.common", PROVISIONED)
        self._face_cls: Any = common.Face
        if providers is None:
            available = set(ort.get_available_providers())
            providers = [p for p in ("CUDAExecutionProvider",) if p in available]
            providers.append("CPUExecutionProvider")
        self.max_faces = max_faces

        det_path = paths[DETECTOR.filename][0]
        self._det: Any = _load(zoo, det_path, providers)
        if not isinstance(self._det, zoo.SCRFD):
            raise BackendUnavailableError(
                f"{det_path} is not a face-detector graph (insightface routed it to "
                f"{type(self._det).__name__}); provision the official det_10g.onnx"
            )
        self._det.prepare(-1, input_size=(det_size, det_size), det_thresh=det_threshold)

        lmk_path, lmk_entry = paths[lmk_file.filename]
        self._lmk: Any = _load(zoo, lmk_path, providers)
        if (
            not isinstance(self._lmk, zoo.Landmark)
            or self._lmk.lmk_num != n_points
            or self._lmk.lmk_dim != dims
        ):
            raise BackendUnavailableError(
                f"{lmk_path} is not the {n_points}-point {dims}D landmark graph insightface "
                f"expects (got {type(self._lmk).__name__}); provision the official "
                f"{lmk_file.filename}"
            )
        self._lock = threading.Lock()
        self.identity = ModelIdentity(
            id=f"insightface-{Path(lmk_file.filename).stem}",
            name=f"insightface det_10g + {lmk_file.filename}",
            version=(
                f"insightface {package_version('insightface')}, "
                f"weights sha256 {lmk_entry.sha256[:12]}"
            ),
            licence=NON_COMMERCIAL_NOTE,
            commercial_use=False,
        )

    def detect(self, image: ImageArray) -> list[LandmarkSet]:
        img = check_image(image)
        bgr = np.ascontiguousarray(img[:, :, ::-1])  # insightface works in OpenCV's BGR
        with self._lock:
            dets, kpss = self._det.detect(bgr, max_num=self.max_faces)
            faces = []
            for i, det in enumerate(dets):
                x0, y0, x1, y1, score = (float(v) for v in det[:5])
                if not np.isfinite([x0, y0, x1, y1, score]).all() or x1 - x0 < 2 or y1 - y0 < 2:
                    continue
                face = self._face_cls(
                    bbox=np.array([x0, y0, x1, y1], dtype=np.float32),
                    kps=None if kpss is None else kpss[i],
                    det_score=score,
                )
                raw = np.asarray(self._lmk.get(bgr, face), dtype=np.float64)
                pts: FloatArray = np.ascontiguousarray(raw[:, :2])
                if not np.isfinite(pts).all():
                    continue
                faces.append(
                    LandmarkSet(
                        scheme=self.scheme,
                        points=pts,
                        # the networks regress coordinates and report no per-point score
                        confidence=np.full(len(pts), np.clip(score, 0.0, 1.0)),
                        overall_confidence=float(np.clip(score, 0.0, 1.0)),
                        model=self.identity,
                        box=FaceBox(x0, y0, x1, y1, float(np.clip(score, 0.0, 1.0))),
                    )
                )
        return largest_first(faces)[: self.max_faces]


def _load(zoo: Any, path: Path, providers: list[str]) -> Any:
    try:
        return zoo.get_model(str(path), providers=providers, download=False)
    except Exception as exc:
        raise BackendUnavailableError(
            f"{path} could not be loaded as an ONNX model ({exc})"
        ) from exc
