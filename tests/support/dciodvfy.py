"""Run dicom3tools' ``dciodvfy`` and return its error lines.

The installed dicom3tools (2022) knows the Encapsulated STL IOD but not the OBJ and MTL IODs
(Supplement 208; it answers "Information Object Not found"). Those are checked as
:func:`stl_proxy`: the same dataset with the STL SOP Class and MIME type (and, for the MTL,
whose IOD has no Frame of Reference module, a Frame of Reference added), which makes
dciodvfy check every module the three IODs share.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import UID

ENCAPSULATED_STL_STORAGE = "1.2.840.10008.5.1.4.1.1.104.3"

DCIODVFY = shutil.which("dciodvfy") or "/usr/bin/dciodvfy"


def dciodvfy_errors(path: Path) -> list[str]:
    out = subprocess.run([DCIODVFY, str(path)], capture_output=True, text=True, timeout=120)
    text = out.stdout + out.stderr
    return [line for line in text.splitlines() if line.startswith("Error")]


def stl_proxy(ds: Dataset, frame_of_reference_uid: str, path: Path) -> Path:
    """``ds`` (an Encapsulated OBJ or MTL) saved to ``path`` as Encapsulated STL, so that
    dciodvfy 2022 checks its modules; ``frame_of_reference_uid`` is added where it has none."""
    proxy = copy.deepcopy(ds)
    proxy.SOPClassUID = ENCAPSULATED_STL_STORAGE
    proxy.file_meta.MediaStorageSOPClassUID = UID(ENCAPSULATED_STL_STORAGE)
    proxy.MIMETypeOfEncapsulatedDocument = "model/stl"
    if "FrameOfReferenceUID" not in proxy:
        proxy.FrameOfReferenceUID = frame_of_reference_uid
        proxy.PositionReferenceIndicator = ""
    proxy.save_as(path, enforce_file_format=True)
    return path
