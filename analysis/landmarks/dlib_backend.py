"""dlib: HOG frontal face detector + the 68-point shape predictor (embedded).

The predictor file ``shape_predictor_68_face_landmarks.dat`` ships inside the
``face_recognition_models`` wheel; its folder is located with ``importlib.util.find_spec``
because importing that package breaks on recent setuptools.

Licence: dlib's code is Boost-licensed, but this model was trained on the iBUG 300-W
data set, whose licence excludes commercial use — the identity says
``commercial_use=False`` and ``facenode models list`` repeats it.

Confidence: dlib gives a detector margin (an SVM score, 0 at the threshold) and nothing
per point; every point gets ``0.5 + 0.5·tanh(score)`` — monotonic, not calibrated.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from pathlib import Path
from typing import Any, Final

import numpy as np

from analysis.landmarks.base import (
    EMBEDDED,
    check_image,
    downscaled,
    largest_first,
    package_version,
    require,
)
from analysis.types import BackendUnavailableError, FaceBox, ImageArray, LandmarkSet, ModelIdentity

SCHEME: Final = "ibug68"
PREDICTOR_FILE: Final = "shape_predictor_68_face_landmarks.dat"
#: HOG margin a detection needs. dlib's default is 0; at 0 the astronaut photo gets a false
#: face (margin 0.12) on the suit, while the weakest true face in dlib's own example photos
#: scores 0.22.
DETECT_THRESHOLD: Final = 0.2
NON_COMMERCIAL_NOTE: Final = (
    "model trained on iBUG 300-W, whose licence excludes commercial use (dlib code: BSL-1.0)"
)
LICENCE: Final = f"BSL-1.0 code; {NON_COMMERCIAL_NOTE}"


def identity() -> ModelIdentity:
    return ModelIdentity(
        id="dlib-shape-predictor-68",
        name="dlib HOG face detector + shape_predictor_68_face_landmarks",
        version=(
            f"dlib {package_version('dlib-bin')}, "
            f"face_recognition_models {package_version('face_recognition_models')}"
        ),
        licence=LICENCE,
        commercial_use=False,
    )


def models_folder() -> Path:
    """The ``face_recognition_models/models`` folder, found without importing the package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError(
            "the package 'face_recognition_models' (dlib's model files) is not installed; "
            f"install it with: pip install 'facenode[{EMBEDDED}]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def predictor_path() -> Path:
    path = models_folder() / PREDICTOR_FILE
    if not path.is_file():
        raise BackendUnavailableError(
            f"{path} is missing from the face_recognition_models package; reinstall it with: "
            f"pip install --force-reinstall 'facenode[{EMBEDDED}]'"
        )
    return path


def score_to_confidence(score: float) -> float:
    return 0.5 + 0.5 * math.tanh(score)


class DlibBackend:
    """HOG detection on a copy at most 1280 px wide, landmarks on the full-resolution photo."""

    name: Final = "dlib"

    def __init__(
        self, max_faces: int = 5, upsample: int | None = None, threshold: float = DETECT_THRESHOLD
    ) -> None:
        dlib = require("dlib", EMBEDDED)
        self._cv2: Any = require("cv2", EMBEDDED)
        self._dlib: Any = dlib
        self._detector: Any = dlib.get_frontal_face_detector()
        self._predictor: Any = dlib.shape_predictor(str(predictor_path()))
        self.max_faces = max_faces
        self.upsample = upsample
        self.threshold = threshold
        self._lock = threading.Lock()
        self.identity = identity()

    def detect(self, image: ImageArray) -> list[LandmarkSet]:
        img = check_image(image)
        h, w = img.shape[:2]
        small, scale = downscaled(self._cv2, img)
        # HOG's window is 80 px: upsample smaller photos once so 40-px faces are found.
        upsample = self.upsample if self.upsample is not None else (1 if max(h, w) < 1000 else 0)
        with self._lock:
            rects, scores, _ = self._detector.run(small, upsample, self.threshold)
            faces = []
            for rect, score in zip(rects, scores, strict=True):
                full = self._dlib.rectangle(
                    int(round(rect.left() / scale)),
                    int(round(rect.top() / scale)),
                    int(round(rect.right() / scale)),
                    int(round(rect.bottom() / scale)),
                )
                shape = self._predictor(img, full)
                pts = np.array(
                    [(shape.part(i).x, shape.part(i).y) for i in range(68)], dtype=np.float64
                )
                conf = score_to_confidence(float(score))
                faces.append(
                    LandmarkSet(
                        scheme=SCHEME,
                        points=pts,
                        confidence=np.full(68, conf),
                        overall_confidence=conf,
                        model=self.identity,
                        box=FaceBox(
                            float(full.left()),
                            float(full.top()),
                            float(full.right()),
                            float(full.bottom()),
                            conf,
                        ),
                    )
                )
        return largest_first(faces)[: self.max_faces]
