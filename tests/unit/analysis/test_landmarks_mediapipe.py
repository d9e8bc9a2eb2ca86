"""The embedded default backend on a real portrait (skimage's astronaut)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from analysis.landmark_names import IBUG68, IRIS, UPPER_FACE
from analysis.landmarks.mediapipe_backend import MediaPipeBackend, square_crop
from analysis.landmarks.semantic import to_semantic
from analysis.types import InvalidInputError, LandmarkSet


@pytest.fixture(scope="module")
def backend() -> MediaPipeBackend:
    return MediaPipeBackend()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="module")
def face(backend: MediaPipeBackend, astronaut: np.ndarray) -> LandmarkSet:
    faces = backend.detect(astronaut)
    assert len(faces) == 1
    return faces[0]


def test_astronaut_has_one_well_formed_face(face: LandmarkSet, astronaut: np.ndarray) -> None:
    h, w = astronaut.shape[:2]
    assert face.scheme == "mediapipe478"
    assert face.points.shape == (478, 2) and np.isfinite(face.points).all()
    assert face.confidence.shape == (478,)
    assert ((face.confidence > 0) & (face.confidence <= 1)).all()
    assert 0.5 < face.overall_confidence <= 1
    assert face.box is not None and 0 <= face.box.x0 < face.box.x1 <= w
    # the astronaut's face is in the upper middle of the photo, ~100 px wide
    assert 60 < face.box.x1 - face.box.x0 < 160 and face.box.y1 < h / 2
    assert face.model.licence == "Apache-2.0" and face.model.commercial_use


def test_semantic_points_have_anatomical_order(face: LandmarkSet) -> None:
    sem = to_semantic(face)
    assert set(IBUG68) | set(IRIS) | set(UPPER_FACE) <= set(sem.points)
    names = [
        "exocanthion_r",
        "endocanthion_r",
        "endocanthion_l",
        "exocanthion_l",
        *IRIS,
        *UPPER_FACE,
        "nasion",
        "nasal_tip",
        "subnasale_frontal",
        "labrale_superius_frontal",
        "labrale_inferius_frontal",
        "menton",
    ]
    x = {n: sem.xy(n)[0] for n in names}
    y = {n: sem.xy(n)[1] for n in names}
    # subject's right is the image's left in a frontal photo
    assert x["exocanthion_r"] < x["endocanthion_r"] < x["endocanthion_l"] < x["exocanthion_l"]
    assert x["iris_r_lateral"] < x["pupil_r"] < x["iris_r_medial"]
    assert x["iris_l_medial"] < x["pupil_l"] < x["iris_l_lateral"]
    assert y["iris_r_top"] < y["pupil_r"] < y["iris_r_bottom"]
    # the pupil lies between the canthi of its own eye
    assert x["exocanthion_r"] < x["pupil_r"] < x["endocanthion_r"]
    assert x["endocanthion_l"] < x["pupil_l"] < x["exocanthion_l"]
    # top to bottom: trichion, glabella, nasion, nasal tip, subnasale, lips, menton
    order = [
        "trichion",
        "glabella",
        "nasion",
        "nasal_tip",
        "subnasale_frontal",
        "labrale_superius_frontal",
        "labrale_inferius_frontal",
        "menton",
    ]
    ys = [y[n] for n in order]
    assert ys == sorted(ys)
    # visible iris diameter ≈ 11.7 mm against a ≈ 63 mm pupil distance (ratio ≈ 0.19)
    iris = np.linalg.norm(sem.xy("iris_r_lateral") - sem.xy("iris_r_medial"))
    ipd = np.linalg.norm(sem.xy("pupil_r") - sem.xy("pupil_l"))
    assert 0.12 < iris / ipd < 0.3
    assert sem.confidence["trichion"] < sem.confidence["glabella"] < sem.confidence["ibug_27"]


def test_mirrored_photo_swaps_the_subjects_sides(
    backend: MediaPipeBackend, astronaut: np.ndarray, face: LandmarkSet
) -> None:
    w = astronaut.shape[1]
    mirrored = backend.detect(np.ascontiguousarray(astronaut[:, ::-1]))
    assert len(mirrored) == 1
    a, b = to_semantic(face), to_semantic(mirrored[0])
    for right, left in (
        ("pupil_r", "pupil_l"),
        ("exocanthion_r", "exocanthion_l"),
        ("cheilion_r", "cheilion_l"),
    ):
        # the subject's right in the mirror image is where their left was, mirrored
        assert b.xy(right)[0] == pytest.approx(w - 1 - a.xy(left)[0], abs=3.0)
        assert b.xy(right)[1] == pytest.approx(a.xy(left)[1], abs=3.0)


def test_two_faces_come_back_largest_first(
    backend: MediaPipeBackend, astronaut: np.ndarray
) -> None:
    import cv2

    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((512, 768, 3), dtype=np.uint8)
    canvas[:, :512] = astronaut
    canvas[:256, 512:] = small
    faces = backend.detect(canvas)
    assert len(faces) == 2
    sizes = [f.box.x1 - f.box.x0 for f in faces if f.box]
    assert sizes[0] > 1.6 * sizes[1]
    assert faces[1].box is not None and faces[1].box.x0 > 512


def test_no_face_gives_an_empty_list_and_results_are_repeatable(
    backend: MediaPipeBackend, astronaut: np.ndarray, face: LandmarkSet
) -> None:
    assert backend.detect(np.full((240, 320, 3), 128, dtype=np.uint8)) == []
    again = backend.detect(astronaut)
    assert np.allclose(again[0].points, face.points)  # same loaded graphs, same answer


def test_bad_input_is_refused_with_its_shape(backend: MediaPipeBackend) -> None:
    with pytest.raises(InvalidInputError, match=r"H×W×3.*\(64, 64\)"):
        backend.detect(np.zeros((64, 64), dtype=np.uint8))
    with pytest.raises(InvalidInputError, match="uint8"):
        backend.detect(np.zeros((64, 64, 3), dtype=np.float32))


def test_square_crop_maps_back_to_pixel_centres() -> None:
    import cv2

    img = np.zeros((100, 120, 3), dtype=np.uint8)
    img[40, 70] = 255  # one bright pixel
    crop, x0, y0, f = square_crop(cv2, img, cx=60, cy=50, side=40, out=160)
    yy, xx = np.unravel_index(np.argmax(crop[:, :, 0]), crop.shape[:2])
    assert x0 + xx / f == pytest.approx(70, abs=0.5)
    assert y0 + yy / f == pytest.approx(40, abs=0.5)
    # beyond the photo's edge the crop is black, not wrapped
    edge, *_ = square_crop(cv2, img, cx=0, cy=0, side=40, out=40)
    assert edge[:15, :15].max() == 0
