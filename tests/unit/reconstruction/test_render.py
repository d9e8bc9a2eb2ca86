"""Headless renderings of real face meshes (read in place): the named views frame the face
and show it from the side they claim, and the asymmetry map's colours and colour bar read
back to the values drawn."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from analysis.overlay.canvas import BANNER_BG, CAPTION_BG
from analysis.types import ModelIdentity
from reconstruction import render as rr
from reconstruction import render_figure as rf
from reconstruction.mesh_io import read_obj_file
from reconstruction.types import MeshScale, MeshScaleSource, MeshTexture, SurfaceMesh
from tests.bench import multiview_synth as ms
from tests.bench.photos import data_root
from tests.support.recon3d import needs_mesh

DEMOFACE = data_root() / "mesh3d" / "meshmonk_demoface"
SIZE = (240, 288)
PRONASALE, LEFT_EXOCANTHION, RIGHT_EXOCANTHION = 30, 45, 36

pytestmark = needs_mesh


@pytest.fixture(scope="module")
def face() -> ms.FaceModel:
    return ms.load_face()


@pytest.fixture(scope="module")
def scene(face: ms.FaceModel) -> rr.RayScene:
    mesh = SurfaceMesh(
        face.vertices,
        face.triangles,
        MeshScale(MeshScaleSource.SOURCE_DATA, 0.0),
        ModelIdentity("test", "test", "1", "MIT"),
        texture=MeshTexture(face.uv, face.uv_triangles, face.texture),
    )
    return rr.scene_of(mesh)


@pytest.mark.parametrize("view", list(rr.RenderView))
def test_named_views_frame_the_face_and_show_the_nose_where_the_view_says(
    scene: rr.RayScene, face: ms.FaceModel, view: rr.RenderView
) -> None:
    cam = rr.view_camera(scene.vertices, view, *SIZE)
    out = rr.render_surface(scene, cam)
    w, h = SIZE
    assert out.image.shape == (h, w, 3) and out.image.dtype == np.uint8
    fg = out.coverage > 0.5
    assert 0.15 < fg.mean() < 0.8  # the face fills the frame, with a margin
    ys, xs = np.nonzero(fg)
    # the whole surface is in the frame and centred (its box, margins on both sides)
    assert xs.min() > 2 and xs.max() < w - 3 and ys.min() > 2 and ys.max() < h - 3
    assert abs((xs.min() + xs.max()) / 2 - (w - 1) / 2) < 0.05 * w
    assert abs((ys.min() + ys.max()) / 2 - (h - 1) / 2) < 0.05 * h
    # textured: skin and hair colours, not the clay colour or the background
    assert np.ptp(out.image[fg].astype(float), axis=0).min() > 100
    ((nx, ny),), _ = cam.project(face.landmarks[[PRONASALE]])
    iy, ix = round(ny), round(nx)
    assert fg[iy - 2 : iy + 3, ix - 2 : ix + 3].any()  # on the surface (profiles: its edge)
    assert rr.visible(scene, cam, face.landmarks[[PRONASALE]]).all()
    eyes = rr.visible(scene, cam, face.landmarks[[LEFT_EXOCANTHION, RIGHT_EXOCANTHION]])
    if view is rr.RenderView.FRONT:
        assert abs(nx - (w - 1) / 2) < 0.08 * w
        assert eyes.all()
    else:
        rows = fg[max(round(ny) - 3, 0) : round(ny) + 4]
        cols = np.nonzero(rows.any(axis=0))[0]
        if view is rr.RenderView.RIGHT_PROFILE:  # seen from the subject's right: nose right
            assert nx > 0.7 * w and abs(cols.max() - nx) < 0.03 * w
            assert list(eyes) == [False, True]  # the left eye is hidden behind the face
        else:
            assert nx < 0.3 * w and abs(cols.min() - nx) < 0.03 * w
            assert list(eyes) == [True, False]


def test_supersampling_antialiases_edges(scene: rr.RayScene) -> None:
    cam = rr.view_camera(scene.vertices, rr.RenderView.FRONT, *SIZE)
    aa = rr.render_surface(scene, cam, supersample=2)
    hard = rr.render_surface(scene, cam, supersample=1)
    partial = (aa.coverage > 0.05) & (aa.coverage < 0.95)
    assert partial.sum() > 100  # edge pixels are blends
    assert set(np.unique(hard.coverage)) <= {0.0, 1.0}


def test_untextured_mesh_renders_in_clay_with_its_nose_toward_the_profile_side() -> None:
    path = DEMOFACE / "DemoFace_1K.obj"
    if not path.is_file():
        pytest.skip(f"shared mesh {path} is absent")
    mesh = read_obj_file(path)
    nose = np.loadtxt(DEMOFACE / "DemoFaceLandmarks.csv", delimiter=",")[2]  # the most anterior
    scene = rr.scene_of(mesh)
    for view, side in ((rr.RenderView.RIGHT_PROFILE, 1), (rr.RenderView.LEFT_PROFILE, -1)):
        cam = rr.view_camera(scene.vertices, view, *SIZE)
        out = rr.render_surface(scene, cam)
        fg = out.coverage > 0.99
        assert fg.mean() > 0.1
        rgb = out.image[fg].astype(float)
        # clay: neutral, warm, brightness follows the shading
        assert np.all(rgb[:, 0] >= rgb[:, 2]) and rgb[:, 0].std() > 10
        ((nx, _),), _ = cam.project(nose[None, :])
        assert side * (nx - (SIZE[0] - 1) / 2) > 0.2 * SIZE[0]


def test_colour_map_reads_back() -> None:
    cmap = rr.ColourMap.diverging(3.0)
    v = np.linspace(-3.0, 3.0, 121)
    assert np.abs(cmap.value_of(cmap(v)) - v).max() < 0.02
    assert np.allclose(cmap(np.array([10.0, -10.0])), cmap(np.array([3.0, -3.0])))
    assert np.allclose(cmap(np.array([np.nan])), [cmap.missing])
    red, blue = cmap(np.array([2.0, -2.0]))
    assert red[0] > red[2] + 60 and blue[2] > blue[0] + 60  # red positive, blue negative


@pytest.fixture(scope="module")
def heat(scene: rr.RayScene) -> tuple[rf.Figure, np.ndarray]:
    values = np.clip(scene.vertices[:, 0] / 15.0, -4.0, 4.0)  # −4…+4 mm across the face
    fig = rf.asymmetry_figure(scene, values, limit_mm=3.0, size=SIZE, ambient=1.0)
    return fig, values


def test_heat_map_colours_map_back_to_the_scalar(
    scene: rr.RayScene, heat: tuple[rf.Figure, np.ndarray]
) -> None:
    fig, values = heat
    hits = rr.cast(scene, fig.camera)  # one ray per final pixel: the value at its centre
    expected = np.full(SIZE[0] * SIZE[1], np.nan)
    expected[hits.pixels] = rr.interpolate(scene, hits, values)
    expected = np.clip(expected.reshape(SIZE[1], SIZE[0]), -3.0, 3.0)
    x0, y0, x1, y1 = fig.render_box
    pixels = fig.image[y0:y1, x0:x1]
    inside = cv2.erode(np.isfinite(expected).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    got = fig.colour_bar.colour_map.value_of(pixels[inside]) if fig.colour_bar else None
    assert got is not None and inside.sum() > 5000
    err = np.abs(got - expected[inside])
    assert np.median(err) < 0.05 and np.percentile(err, 99) < 0.25, np.percentile(err, [50, 99])


def test_colour_bar_ticks_labels_unit_title_and_banner(heat: tuple[rf.Figure, np.ndarray]) -> None:
    fig, _ = heat
    bar = fig.colour_bar
    assert bar is not None and bar.unit == "mm"
    assert [v for v, _ in bar.ticks] == [3.0, 2.0, 1.0, 0.0, -1.0, -2.0, -3.0]
    bx0, by0, bx1, by1 = bar.box
    img = fig.image.astype(int)
    rx1 = fig.render_box[2]
    assert bx0 >= rx1  # beside the rendering, never over the face
    for (value, y), (lx0, ly0, lx1, ly1) in zip(bar.ticks, bar.label_boxes, strict=True):
        read = bar.colour_map.value_of(img[y, (bx0 + bx1) // 2][None])[0]
        assert abs(read - value) < 0.1, (value, read)
        assert lx0 > bx1 and ly0 <= y <= ly1 and lx1 <= img.shape[1]
        label = img[ly0:ly1, lx0:lx1]
        assert (label.min(axis=2) > 200).sum() > 10  # white text drawn in the box
    ux0, uy0, ux1, uy1 = bar.unit_box
    assert uy1 <= by0 and (img[uy0:uy1, ux0:ux1].min(axis=2) > 200).sum() > 10
    # the top band stays empty (OHIF's cine control); the banner lies below the rendering
    top = fig.origin[1]
    assert top >= 20 and np.all(fig.image[:top] == CAPTION_BG)
    red = np.all(fig.image == BANNER_BG, axis=2).any(axis=1)
    assert red.any() and np.nonzero(red)[0].min() > fig.render_box[3]
    title_rows = (fig.image[fig.render_box[3] :].min(axis=2) > 200).any(axis=1)
    assert title_rows.any()


def test_figure_maps_landmarks_onto_the_face(scene: rr.RayScene, face: ms.FaceModel) -> None:
    fig = rf.surface_figure(scene, rr.RenderView.FRONT, size=SIZE)
    xy, z = fig.to_canvas(face.landmarks)
    assert (z > 0).all()
    x0, y0, x1, y1 = fig.render_box
    face_px = fig.image[y0:y1, x0:x1].astype(int)
    bg = np.all(face_px == rr.BACKGROUND, axis=2)
    for x, y in xy[[30, 36, 45, 48, 54, 8]]:
        assert x0 <= x < x1 and y0 <= y < y1
        assert not bg[round(y) - y0, round(x) - x0]
