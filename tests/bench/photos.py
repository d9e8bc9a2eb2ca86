"""The real photos the benchmarks use, read in place from the shared data folder.

``skimage.data.astronaut()`` always; the portraits of ``photos/face_recognition`` and
dlib's example photos of ``landmarks68/dlib_faces`` when the shared data is there (set
``FACENODE_SHARED_DATA`` to its folder; default ``../shared/data`` next to the repo).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATA_ENV = "FACENODE_SHARED_DATA"
PORTRAITS = ("photos", "face_recognition")
DLIB_FACES = ("landmarks68", "dlib_faces")


def data_root() -> Path:
    return Path(os.environ.get(DATA_ENV, REPO.parent / "shared" / "data"))


def read_rgb(path: Path) -> np.ndarray | None:
    """RGB uint8 pixels of a photo file (EXIF orientation applied), None if unreadable."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def real_photos(
    *, portraits: bool = True, dlib_faces: bool = False
) -> Iterator[tuple[str, np.ndarray, Path | None]]:
    """(name, RGB pixels, file or None) — the astronaut first, then the shared photos."""
    yield "astronaut", astronaut(), None
    folders = []
    if portraits:
        folders.append(data_root().joinpath(*PORTRAITS))
    if dlib_faces:
        folders.append(data_root().joinpath(*DLIB_FACES))
    for folder in folders:
        if not folder.is_dir():
            print(f"(skipped, not found: {folder}; set {DATA_ENV})", file=sys.stderr)
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
                rgb = read_rgb(path)
                if rgb is not None:
                    yield f"{folder.name}/{path.name}", rgb, path
