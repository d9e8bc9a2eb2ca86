"""A known 3D reconstruction for the tests of what the node sends: the shared james face
mesh (``tests/bench/multiview_synth.py``, read in place), optionally deformed, put through
the pipeline's real landmark, symmetry and measurement stages without SfM.

Shared by the DICOM unit tests of the 3D result set, the viewer test that opens it in OHIF
and the 3D bench's reader test, so all three judge the same reconstruction.
"""

from __future__ import annotations

import pytest

from analysis.types import ModelIdentity
from reconstruction import measurements3d, profile3d, symmetry3d
from reconstruction.types import (
    Landmark3D,
    LandmarkSource,
    MeshScale,
    MeshScaleSource,
    MeshTexture,
    Reconstruction3D,
    SurfaceMesh,
)
from tests.bench import multiview_synth as ms

ALGORITHM = ModelIdentity("facenode-photogrammetry", "facenode photogrammetry", "0.1", "MIT")
LANDMARK_MODEL = ModelIdentity("mediapipe-face-mesh", "MediaPipe face mesh", "0.10", "Apache-2.0")
SCALE = MeshScale(MeshScaleSource.MARKER_BOARD, 0.004, note="ChArUco 15 mm squares")
#: The deviations the 3D tests inject (chin and nasal tip 4 mm left, left brow 4 mm up).
SHIFT_MM = 4.0


def has_mesh() -> bool:
    """Whether the shared face scan is there (the 3D tests skip without it)."""
    return (ms.data_dir() / "james.obj").is_file()


#: The mark of a test (or module) that needs the shared face scan.
needs_mesh = pytest.mark.skipif(not has_mesh(), reason=f"shared mesh {ms.data_dir()} is absent")


def true_landmarks(face: ms.FaceModel) -> dict[str, Landmark3D]:
    """The scan's 68 landmarks as triangulated 3D landmarks (0.5 mm SD)."""
    return {
        f"ibug_{i:02d}": Landmark3D(
            f"ibug_{i:02d}", face.landmarks[i], 0.5, LandmarkSource.TRIANGULATED
        )
        for i in range(68)
    }


def synthetic_recon(face: ms.FaceModel, scale: MeshScale = SCALE) -> Reconstruction3D:
    """What the pipeline's landmark, symmetry and measurement stages make of ``face``'s
    mesh, as if 12 of 12 views had registered (0.6 px reprojection error)."""
    texture = MeshTexture(face.uv, face.uv_triangles, face.texture)
    mesh = SurfaceMesh(face.vertices, face.triangles, scale, ALGORITHM, texture=texture)
    sym = symmetry3d.analyse(mesh, true_landmarks(face))
    landmarks = profile3d.refine_midline(true_landmarks(face), mesh, sym.plane)
    measurements = measurements3d.measure(landmarks, sym.plane, scale)
    return Reconstruction3D(mesh, (None,) * 12, scale, 1.0, True, 12, 0.6, 50_000, landmarks,
                            sym, measurements, {"sfm": 1.0})  # fmt: skip


def deformed_recon() -> Reconstruction3D:
    """The reconstruction of the james face with the standard deviations injected."""
    return synthetic_recon(ms.deform(ms.load_face(), ms.standard_deviations(SHIFT_MM)))
