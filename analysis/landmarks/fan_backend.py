"""face-alignment FAN (2D or 3D, 68 points) with its S3FD face detector — provisioned.

``face_alignment.FaceAlignment`` downloads its weights through ``load_file_from_url`` /
``torch.hub`` when they are not in the hub cache; this backend never calls it. It builds
the same networks (``face_alignment.models.FAN(4)``, ``SFDDetector``) and loads their
state dicts from the model folder with ``torch.load(weights_only=True)`` after the
sha256 check against ``provisioned.json``. The inference mirrors
``FaceAlignment.get_landmarks_from_image`` (same crop, centre offset, flip averaging and
heatmap decoding, re-implemented in numpy by :func:`decode_heatmaps`: the library's numba
version compiles for several seconds on a node's first photo, and it truncates the final
coordinates to whole pixels, which this one does not). For the 3D model only the
heatmap x, y are used (the depth network is not needed for 2D landmarks), so 3D gives the
3D-FAN's *projected* contour — the jaw follows the 3D face rather than the visible outline.

Licence: face-alignment's code is BSD-3-Clause; its FAN weights were trained on 300W-LP /
300-W and S3FD on WIDER FACE, data sets licensed for non-commercial research — marked
``commercial_use=False``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Final

import numpy as np

from analysis.landmarks.base import (
    PROVISIONED,
    check_image,
    clip01,
    downscaled,
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

SCHEME: Final = "ibug68"
S3FD: Final = WeightFile("s3fd-619a316812.pth", "S3FD face detector")
FAN2D: Final = WeightFile("2DFAN4-11f355bf06.pth.tar", "FAN 2D network")
FAN3D: Final = WeightFile("3DFAN4-7835d9f11d.pth.tar", "FAN 3D network")
FAN2D_FILES: Final = (FAN2D, S3FD)
FAN3D_FILES: Final = (FAN3D, S3FD)
NON_COMMERCIAL_NOTE: Final = (
    "weights trained on 300W-LP/300-W (FAN) and WIDER FACE (S3FD): non-commercial research "
    "licences (face-alignment code: BSD-3-Clause)"
)


def files_for(three_d: bool) -> tuple[WeightFile, ...]:
    return FAN3D_FILES if three_d else FAN2D_FILES


def torch_device(torch: Any, device: str | None) -> str:
    """The torch device for the node's ``device`` setting: ``auto`` / None → the GPU when
    torch sees one (a CUDA wheel and a device), else the CPU; ``cuda`` must be usable."""
    usable = bool(torch.cuda.is_available())
    if device in (None, "auto"):
        return "cuda" if usable else "cpu"
    if device == "cuda" and not usable:
        raise BackendUnavailableError(
            "device 'cuda' asked for, but torch sees no usable CUDA device (the CPU wheel, "
            "or no GPU); use device 'cpu' or 'auto'"
        )
    return str(device)


class FanBackend:
    """FAN-4 heatmap regression on S3FD boxes; weights only from the model folder."""

    def __init__(
        self,
        model_dir: Path | None,
        three_d: bool = False,
        device: str | None = None,
        max_faces: int = 5,
        flip_input: bool = True,
        detection_threshold: float = 0.5,
    ) -> None:
        self.name = "fan3d" if three_d else "fan2d"
        net_file = FAN3D if three_d else FAN2D
        paths = verified_paths(model_dir, self.name, files_for(three_d))
        torch = require("torch", PROVISIONED)
        fa_models = require("face_alignment.models", PROVISIONED)
        self._fa: Any = require("face_alignment.utils", PROVISIONED)
        sfd = require("face_alignment.detection.sfd.sfd_detector", PROVISIONED)
        self._cv2: Any = require("cv2", PROVISIONED)
        self._torch: Any = torch
        device = torch_device(torch, device)
        self.device = device
        self.flip_input = flip_input
        self.max_faces = max_faces

        net_path, net_entry = paths[net_file.filename]
        det_path, _ = paths[S3FD.filename]
        net: Any = fa_models.FAN(4)
        try:
            state = torch.load(str(net_path), map_location=device, weights_only=True)
            net.load_state_dict(state)
        except Exception as exc:
            raise BackendUnavailableError(
                f"{net_path} is not a FAN-4 state dict as face-alignment saves it ({exc})"
            ) from exc
        self._net = net.to(device).eval()
        try:
            self._detector: Any = sfd.SFDDetector(
                device=device, path_to_detector=str(det_path), filter_threshold=detection_threshold
            )
        except Exception as exc:
            raise BackendUnavailableError(
                f"{det_path} is not an S3FD state dict as face-alignment saves it ({exc})"
            ) from exc
        self._lock = threading.Lock()
        self.identity = ModelIdentity(
            id=f"face-alignment-{'3D' if three_d else '2D'}FAN4",
            name=f"face-alignment {'3D' if three_d else '2D'}-FAN-4 + S3FD",
            version=(
                f"face-alignment {package_version('face-alignment')}, "
                f"weights sha256 {net_entry.sha256[:12]}"
            ),
            licence=NON_COMMERCIAL_NOTE,
            commercial_use=False,
        )

    def detect(self, image: ImageArray) -> list[LandmarkSet]:
        img = check_image(image)
        with self._lock, self._torch.no_grad():
            boxes = self._detect_boxes(img)
            faces = [self._landmarks(img, box) for box in boxes]
        return largest_first(faces)[: self.max_faces]

    def _detect_boxes(self, img: ImageArray) -> list[FaceBox]:
        small, scale = downscaled(self._cv2, img)
        raw = self._detector.detect_from_image(small.copy())  # RGB in; S3FD flips to BGR
        boxes = []
        for d in raw:
            x0, y0, x1, y1, s = (float(v) for v in d[:5])
            if x1 - x0 < 2 or y1 - y0 < 2 or not np.isfinite([x0, y0, x1, y1, s]).all():
                continue
            boxes.append(FaceBox(x0 / scale, y0 / scale, x1 / scale, y1 / scale, s))
        boxes.sort(key=lambda b: b.score, reverse=True)
        return boxes[: self.max_faces]  # FAN costs ~0.3 s a face on a CPU: only those kept

    def _landmarks(self, img: ImageArray, box: FaceBox) -> LandmarkSet:
        fa, torch = self._fa, self._torch
        centre = np.array([(box.x0 + box.x1) / 2.0, (box.y0 + box.y1) / 2.0])
        centre[1] -= (box.y1 - box.y0) * fa.CENTER_Y_OFFSET
        scale = ((box.x1 - box.x0) + (box.y1 - box.y0)) / fa.REFERENCE_SCALE
        crop = fa.crop(img, centre, scale).transpose((2, 0, 1)).astype(np.float32) / 255.0
        inp = torch.from_numpy(crop).unsqueeze(0).to(self.device)
        out = self._net(inp)[-1].detach()
        n_views = 1
        if self.flip_input:
            flipped = self._net(fa.flip(inp))[-1].detach()
            out = out + fa.flip(flipped, is_label=True)
            n_views = 2
        heatmaps = out.to("cpu", dtype=torch.float32).numpy()[0]
        pts, scores = decode_heatmaps(heatmaps, centre, scale)
        conf = clip01(scores / n_views)
        return LandmarkSet(
            scheme=SCHEME,
            points=pts,
            confidence=conf,
            overall_confidence=float(box.score),
            model=self.identity,
            box=box,
        )


def decode_heatmaps(
    heatmaps: FloatArray, centre: FloatArray, scale: float
) -> tuple[FloatArray, FloatArray]:
    """Heatmaps (N×H×W) → image points (N×2) and peak scores (N), as face-alignment's
    ``get_preds_fromhm``: arg-max, a quarter-pixel step towards the higher neighbour,
    then the inverse of the crop transform (``h = 200·scale`` source pixels per crop) —
    without its final truncation to whole pixels."""
    n, hgt, wid = heatmaps.shape
    flat = heatmaps.reshape(n, -1)
    idx = np.argmax(flat, axis=1)
    scores = flat[np.arange(n), idx].astype(np.float64)
    px, py = (idx % wid).astype(np.intp), (idx // wid).astype(np.intp)
    pts = np.stack([px + 1.0, py + 1.0], axis=1)
    inner = (px > 0) & (px < wid - 1) & (py > 0) & (py < hgt - 1)
    j = np.nonzero(inner)[0]
    dx = heatmaps[j, py[j], px[j] + 1] - heatmaps[j, py[j], px[j] - 1]
    dy = heatmaps[j, py[j] + 1, px[j]] - heatmaps[j, py[j] - 1, px[j]]
    pts[j] += np.stack([np.sign(dx), np.sign(dy)], axis=1) * 0.25
    pts -= 0.5
    h = 200.0 * scale
    image_pts = pts * (h / wid) + (np.asarray(centre, dtype=np.float64) - h / 2.0)
    return image_pts, scores
