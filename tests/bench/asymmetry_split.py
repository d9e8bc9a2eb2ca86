"""The asymmetry benchmark's fixed split of the shared frontal photos **by person**.

Why
    Figures tuned and reported on the same faces did not hold on faces the benchmark never
    saw (issue 9). Every photo of one person is in exactly one set; thresholds and
    parameters may be chosen on :data:`TUNING` only, and README reports :data:`REPORTING`
    only. The split is written down here once and never changed to improve a figure.

The sets
    * tuning — the faces the analysis was tuned on before this split existed (the
      astronaut, every ``photos/face_recognition`` portrait, dlib's example photos), plus two
      people of ``photos/frontal_dev`` (person03, person07);
    * reporting — the other eight people of ``photos/frontal_dev`` (``identities.csv``) and
      the two frontal portraits of ``photos/dynaface``. None of these was looked at while
      tuning.

``face_recognition/two_people.jpg`` shows people who also have portraits of their own; it
stays in the tuning set with them. In a photo of several people the largest face is the
one analysed (as the node does), so the person named for it is that face's.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from tests.bench.photos import DLIB_FACES, PORTRAITS, astronaut, data_root, read_rgb

Split = Literal["tuning", "reporting"]
FRONTAL_DEV = ("photos", "frontal_dev")
DYNAFACE = ("photos", "dynaface")
#: People of ``frontal_dev/identities.csv`` in the tuning set; every other one reports.
TUNING_PEOPLE_FRONTAL_DEV = frozenset({"person03", "person07"})
#: Dynaface's frontal portraits (the third is a profile); both report.
DYNAFACE_FRONTAL = ("img4-1024-frontal.jpg", "img1-512.jpg")
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class FacePhoto:
    name: str  # folder/file, as the tables print it
    person: str
    split: Split
    path: Path | None  # None: the astronaut (scikit-image)


def _photos_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        print(f"(skipped, not found: {folder})", file=sys.stderr)
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


def catalogue(root: Path | None = None) -> list[FacePhoto]:
    """Every frontal-candidate photo of the shared data with its person and set."""
    root = root or data_root()
    out = [FacePhoto("astronaut", "astronaut", "tuning", None)]
    for path in _photos_in(root.joinpath(*PORTRAITS)):
        # obama*.jpg are one person; two_people.jpg stays with the portraits' people
        person = "obama" if path.stem.startswith("obama") else path.stem
        out.append(FacePhoto(f"face_recognition/{path.name}", f"fr:{person}", "tuning", path))
    for path in _photos_in(root.joinpath(*DLIB_FACES)):
        out.append(FacePhoto(f"dlib_faces/{path.name}", f"dlib:{path.stem}", "tuning", path))
    dev = root.joinpath(*FRONTAL_DEV)
    ids = dev / "identities.csv"
    if ids.is_file():
        with ids.open(newline="") as fh:
            for row in csv.DictReader(fh):
                person = row["identity"]
                split: Split = "tuning" if person in TUNING_PEOPLE_FRONTAL_DEV else "reporting"
                out.append(FacePhoto(f"frontal_dev/{row['file']}", person, split, dev / row["file"]))
    else:
        print(f"(skipped, not found: {ids})", file=sys.stderr)
    for file in DYNAFACE_FRONTAL:
        path = root.joinpath(*DYNAFACE, file)
        if path.is_file():
            out.append(FacePhoto(f"dynaface/{file}", f"dynaface:{path.stem}", "reporting", path))
    return out


def faces(split: Split | None = None) -> Iterator[tuple[FacePhoto, np.ndarray]]:
    """(photo, RGB pixels) of one set (or both), in catalogue order; unreadable files skipped."""
    for photo in catalogue():
        if split is not None and photo.split != split:
            continue
        rgb = astronaut() if photo.path is None else read_rgb(photo.path)
        if rgb is not None:
            yield photo, rgb
