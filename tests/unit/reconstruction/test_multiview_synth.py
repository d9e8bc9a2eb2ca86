"""The synthetic multi-view ground truth is what it claims: face frame, deviations, and renders
whose pixels sit where the true cameras project the true surface points."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.bench import multiview_synth as ms
from tests.support.recon3d import needs_mesh

pytestmark = needs_mesh


@pytest.fixture(scope="module")
def face() -> ms.FaceModel:
    return ms.load_face()


def test_face_frame_is_millimetres_x_left_y_up_z_out(face: ms.FaceModel) -> None:
    lm = face.landmarks
    assert np.allclose((lm[39] + lm[42]) / 2, 0.0, atol=1e-9)  # origin: inner canthi midpoint
    assert 85 < np.linalg.norm(lm[45] - lm[36]) < 105  # outer canthi, mm
    assert lm[45, 0] > 30 and lm[36, 0] < -30  # iBUG 45 is the subject's left eye: +x
    assert lm[27, 1] > 0 > lm[8, 1]  # nasion above, menton below
    assert lm[30, 2] == pytest.approx(lm[:, 2].max())  # pronasale the most anterior
    assert abs(lm[8, 0]) < 5 and abs(lm[30, 0]) < 5  # midline points near x = 0


def test_deviation_moves_surface_and_landmark_by_the_same_field(face: ms.FaceModel) -> None:
    dev = ms.Deviation("chin", ms.MENTON, (1.0, 0.0, 0.0), 3.0, sigma_mm=10.0)
    moved = ms.deform(face, [dev])
    shift = moved.landmarks - face.landmarks
    assert np.allclose(shift[ms.MENTON], [3.0, 0.0, 0.0])
    assert np.abs(shift[[36, 45, 27]]).max() < 1e-6  # eyes and nasion far away: untouched
    dv = np.linalg.norm(moved.vertices - face.vertices, axis=1)
    assert dv.max() <= 3.0 + 1e-9 and (dv > 1.0).sum() > 20  # a bump, not a point


def test_render_puts_texture_marks_at_the_cameras_projection(face: ms.FaceModel) -> None:
    """Paint dots into the texture where given surface points are, render, and find each
    dot's centroid at the true camera's projection of its point (±1 px)."""
    targets = [30, 36, 45, 48, 54, 8, 19, 24]
    scene = ms.build_scene(face, ms.BoardSpec())
    which, xy = ms.surface_texture_xy(scene, face.landmarks[targets])
    assert (which == 0).all()
    tex = scene.textures[0].copy()
    for x, y in xy:
        cv2.circle(tex, (round(x * 16), round(y * 16)), 5 * 16, (255, 0, 255), -1, cv2.LINE_AA, 4)
    marked = ms.Scene(
        scene.vertices, scene.triangles, scene.normals, scene.corner_uv, scene.texture_of,
        (tex, *scene.textures[1:]), scene.raycaster,
    )  # fmt: skip
    errors = []
    for cam in ms.arc_cameras(5, 480)[1:4]:
        img = ms.render(marked, cam, noise=0.0).astype(np.int32)
        magenta = ((img[..., 0] - img[..., 1]) > 40) & ((img[..., 2] - img[..., 1]) > 40)
        n, labels, _, centroids = cv2.connectedComponentsWithStats(magenta.astype(np.uint8))
        uv, _ = cam.project(face.landmarks[targets])
        for k in range(1, n):
            d = np.linalg.norm(uv - centroids[k], axis=1)
            if d.min() < 8 and (labels == k).sum() >= 4:
                errors.append(float(d.min()))
    assert len(errors) >= 15  # most dots seen in the three views
    assert max(errors) <= 1.0, errors


def test_board_corners_render_where_the_camera_projects_them(face: ms.FaceModel) -> None:
    spec = ms.BoardSpec()
    scene = ms.build_scene(face, spec)
    cam = ms.arc_cameras(5, 640)[2]  # frontal
    img = ms.render(scene, cam)
    board = spec.board()
    corners, ids, _, _ = cv2.aruco.CharucoDetector(board).detectBoard(
        cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    )
    assert ids is not None and len(ids) == len(board.getChessboardCorners())
    uv, _ = cam.project(spec.corners_world()[ids.ravel()])
    diff = corners.reshape(-1, 2) - uv
    err = np.linalg.norm(diff, axis=1)
    # no bias (pixel-centre and texture conventions agree); the scatter is the renderer's
    # single sample per pixel on the squares' edges
    assert np.abs(diff.mean(axis=0)).max() < 0.1, diff.mean(axis=0)
    assert np.median(err) < 0.5 and err.max() < 1.0, err


def test_renders_are_deterministic(face: ms.FaceModel) -> None:
    scene = ms.build_scene(face)
    cam = ms.arc_cameras(3, 160)[1]
    a, b = ms.render(scene, cam, seed=3), ms.render(scene, cam, seed=3)
    assert a.shape == (160, 160, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
