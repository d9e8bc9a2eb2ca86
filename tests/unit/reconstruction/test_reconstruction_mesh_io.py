"""SurfaceMesh validation and the STL / OBJ / MTL writers and readers, on a generated mesh
and the shared textured face (skipped where ../shared/data is absent)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from analysis.types import InvalidInputError, ModelIdentity
from reconstruction.mesh_io import (
    mtl_bytes,
    obj_bytes,
    read_mtl,
    read_obj,
    read_obj_file,
    read_stl,
    stl_bytes,
    texture_bytes,
)
from reconstruction.types import MeshScale, MeshScaleSource, MeshTexture, SurfaceMesh
from tests.bench.photos import data_root

ALGO = ModelIdentity("test", "test mesh", "1", "MIT")
SCALE = MeshScale(MeshScaleSource.SOURCE_DATA, 0.0)


def _grid(n: int = 6, colors: bool = False, texture: bool = False) -> SurfaceMesh:
    """A bumpy n×n height field in mm (2(n-1)² triangles, outward normals +z)."""
    y, x = np.mgrid[0:n, 0:n].astype(float)
    z = 3.0 * np.sin(x) * np.cos(y)
    v = np.column_stack([x.ravel() * 7.3, y.ravel() * 7.3, z.ravel()])
    i = np.arange(n * n).reshape(n, n)
    a, b, c, d = i[:-1, :-1].ravel(), i[:-1, 1:].ravel(), i[1:, :-1].ravel(), i[1:, 1:].ravel()
    t = np.concatenate([np.column_stack([a, b, d]), np.column_stack([a, d, c])])
    rgb = (np.arange(n * n * 3).reshape(-1, 3) % 256).astype(np.uint8) if colors else None
    tex = None
    if texture:
        uv = np.column_stack([x.ravel(), y.ravel()]) / (n - 1)
        img = np.zeros((8, 12, 3), np.uint8)
        img[..., 0] = 200
        tex = MeshTexture(uv, t.copy(), img)
    return SurfaceMesh(v, t, scale=SCALE, algorithm=ALGO, colors=rgb, texture=tex)


def test_stl_round_trip_and_layout() -> None:
    mesh = _grid()
    data = stl_bytes(mesh)
    assert len(data) == 84 + 50 * mesh.n_triangles
    assert not data.startswith(b"solid")
    back = read_stl(data)
    assert back.vertices.shape == mesh.vertices.shape
    v32 = mesh.vertices.astype(np.float32)
    np.testing.assert_array_equal(
        back.vertices[back.triangles].astype(np.float32), v32[mesh.triangles]
    )
    np.testing.assert_allclose(back.normals[:, 2], 1.0, atol=0.5)  # upward-facing bumps
    assert (back.normals[:, 2] > 0).all()


def test_obj_round_trip_with_colors_and_texture() -> None:
    mesh = _grid(colors=True, texture=True)
    back = read_obj(obj_bytes(mesh, "m.mtl"))
    np.testing.assert_array_equal(
        back.vertices.astype(np.float32), mesh.vertices.astype(np.float32)
    )
    np.testing.assert_array_equal(back.triangles, mesh.triangles)
    assert back.colors is not None and mesh.colors is not None
    np.testing.assert_array_equal(back.colors, mesh.colors)
    assert back.uv is not None and mesh.texture is not None
    np.testing.assert_allclose(back.uv, mesh.texture.uv, atol=1e-7)
    assert back.mtllibs == ("m.mtl",) and back.materials == ("facenode_surface",)
    assert read_mtl(mtl_bytes("t.png")) == {"facenode_surface": "t.png"}
    png = Image.open(io.BytesIO(texture_bytes(mesh)))
    np.testing.assert_array_equal(np.asarray(png), mesh.texture.image)
    assert texture_bytes(mesh, "jpeg")[:2] == b"\xff\xd8"


def test_obj_reader_handles_quads_relative_indices_and_normals() -> None:
    text = b"v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvn 0 0 1\nf 1//1 2//1 3//1 4//1\nf -4 -3 -2\n"
    back = read_obj(text)
    np.testing.assert_array_equal(back.triangles, [[0, 1, 2], [0, 2, 3], [0, 1, 2]])
    assert back.uv is None and back.colors is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"vertices": np.zeros((4, 2))}, "N×3"),
        ({"triangles": np.array([[0, 1, 9]])}, r"\[0, 3\]"),
        ({"triangles": np.array([[0.0, 1.0, 2.0]])}, "integer"),
        ({"vertices": np.full((4, 3), np.nan)}, "finite"),
        ({"colors": np.zeros((3, 3), np.uint8)}, "colors"),
    ],
)
def test_mesh_validation_names_actual_and_expected(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {
        "vertices": np.eye(4, 3),
        "triangles": np.array([[0, 1, 2], [0, 2, 3]]),
        "scale": SCALE,
        "algorithm": ALGO,
    }
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=match):
        SurfaceMesh(**args)  # type: ignore[arg-type]


def test_scale_and_arrays_are_immutable() -> None:
    with pytest.raises(InvalidInputError):
        MeshScale(MeshScaleSource.IRIS_DIAMETER, -0.1)
    mesh = _grid()
    with pytest.raises(ValueError):
        mesh.vertices[0, 0] = 1.0
    assert not MeshScale(MeshScaleSource.NONE, 0.0).is_metric


def test_shared_textured_face_reads_with_texture() -> None:
    path = data_root() / "mesh3d/menpo3d_james/james.obj"
    if not path.is_file():
        pytest.skip(f"shared mesh {path} is absent")
    mesh = read_obj_file(path)
    assert (mesh.n_vertices, mesh.n_triangles) == (6393, 12228)
    assert mesh.texture is not None and mesh.texture.image.shape == (1600, 2400, 3)
    assert mesh.texture.uv.shape == (6680, 2)
    lo, hi = mesh.bounds()
    assert 100 < float(np.max(hi - lo)) < 400  # a head, in mm
