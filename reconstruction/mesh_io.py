"""A :class:`~reconstruction.types.SurfaceMesh` as file bytes: binary STL, Wavefront OBJ + MTL
+ texture image, and readers of the same formats.

Writers return ``bytes`` (the DICOM writers encapsulate them; nothing here touches files
except :func:`read_obj_file`). Coordinates are written as float32 (STL's own type; OBJ with
9 significant digits, which round-trips float32 exactly), so a mesh read back equals the
written one to float32 precision.

Binary STL (the only STL the Encapsulated STL IOD allows): an 80-byte header that does not
start with ``solid`` (readers take such a file for ASCII STL), a little-endian uint32
triangle count, then per triangle the unit normal, three vertices (12 float32) and a zero
uint16 attribute byte count. STL has no shared vertices; :func:`read_stl` merges equal
coordinates back into an indexed mesh.

OBJ: ``v x y z [r g b]`` (the common vertex-colour extension, colours in [0, 1]), ``vt u v``,
``usemtl`` and ``f a/ta b/tb c/tc`` (1-based). The MTL names one material whose ``map_Kd``
is the texture file. Readers accept what common exporters write: polygons (fan
triangulated), ``v/vt/vn`` and ``v//vn`` corners, negative (relative) indices, comments.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from analysis.types import ImageArray, InvalidInputError, ModelIdentity
from reconstruction.types import (
    FloatArray,
    IndexArray,
    MeshScale,
    MeshScaleSource,
    MeshTexture,
    SurfaceMesh,
)

STL_HEADER_SIZE = 80
_STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")])
MATERIAL_NAME = "facenode_surface"


# --- STL ---------------------------------------------------------------------------------


def stl_bytes(mesh: SurfaceMesh, header: str = "facenode surface mesh, mm") -> bytes:
    """Binary STL of ``mesh`` (normals from the right-hand rule, coordinates float32)."""
    text = header.encode("ascii", "replace")[:STL_HEADER_SIZE]
    if text[:5].lower() == b"solid":
        raise InvalidInputError("a binary STL header must not start with 'solid'")
    records = np.zeros(mesh.n_triangles, dtype=_STL_RECORD)
    records["normal"] = mesh.face_normals()
    records["vertices"] = mesh.vertices[mesh.triangles]
    count = int(mesh.n_triangles).to_bytes(4, "little")
    return text.ljust(STL_HEADER_SIZE, b" ") + count + records.tobytes()


@dataclass(frozen=True, eq=False)
class StlContents:
    """What a binary STL holds: merged vertices, triangles and the stored normals."""

    vertices: FloatArray
    triangles: IndexArray
    normals: FloatArray
    header: bytes


def read_stl(data: bytes) -> StlContents:
    """Parse binary STL bytes; equal float32 coordinates become one vertex."""
    if len(data) < STL_HEADER_SIZE + 4:
        raise InvalidInputError(f"binary STL needs at least 84 bytes, got {len(data)}")
    count = int(np.frombuffer(data, "<u4", 1, STL_HEADER_SIZE)[0])
    expected = STL_HEADER_SIZE + 4 + count * _STL_RECORD.itemsize
    if len(data) != expected:
        raise InvalidInputError(
            f"binary STL with {count} triangles must be {expected} bytes, got {len(data)}"
        )
    records = np.frombuffer(data, _STL_RECORD, count, STL_HEADER_SIZE + 4)
    corners = records["vertices"].reshape(-1, 3)
    unique, inverse = np.unique(corners, axis=0, return_inverse=True)
    return StlContents(
        vertices=unique.astype(np.float64),
        triangles=inverse.reshape(-1, 3).astype(np.int64),
        normals=records["normal"].astype(np.float64),
        header=bytes(data[:STL_HEADER_SIZE]),
    )


# --- OBJ / MTL ---------------------------------------------------------------------------


def obj_bytes(
    mesh: SurfaceMesh, mtl_name: str | None = None, material: str = MATERIAL_NAME
) -> bytes:
    """Wavefront OBJ of ``mesh``; with ``mtl_name`` it names that material library
    (``mtllib``) and uses ``material`` for every face."""
    out = io.StringIO()
    out.write("# facenode surface mesh; units: mm\n")
    out.write(f"# vertices: {mesh.n_vertices}; triangles: {mesh.n_triangles}\n")
    if mtl_name is not None:
        _check_name("mtl_name", mtl_name)
        out.write(f"mtllib {mtl_name}\n")
    v = mesh.vertices.astype(np.float32)
    if mesh.colors is not None:
        rows = np.hstack([v.astype(np.float64), mesh.colors.astype(np.float64) / 255.0])
        np.savetxt(out, rows, fmt="v %.9g %.9g %.9g %.6g %.6g %.6g")
    else:
        np.savetxt(out, v, fmt="v %.9g %.9g %.9g")
    tex = mesh.texture
    if tex is not None:
        np.savetxt(out, tex.uv.astype(np.float32), fmt="vt %.9g %.9g")
    if mtl_name is not None:
        out.write(f"usemtl {material}\n")
    f = mesh.triangles + 1
    if tex is not None:
        t = tex.uv_triangles + 1
        corners = np.stack([f, t], axis=2).reshape(-1, 6)
        np.savetxt(out, corners, fmt="f %d/%d %d/%d %d/%d")
    else:
        np.savetxt(out, f, fmt="f %d %d %d")
    return out.getvalue().encode("ascii")


def mtl_bytes(texture_name: str | None, material: str = MATERIAL_NAME) -> bytes:
    """A one-material MTL; ``texture_name`` is its diffuse map (``map_Kd``) when given."""
    lines = [
        "# facenode surface material",
        f"newmtl {material}",
        "Ka 1.000000 1.000000 1.000000",
        "Kd 1.000000 1.000000 1.000000",
        "Ks 0.000000 0.000000 0.000000",
        "d 1.000000",
        "illum 1",
    ]
    if texture_name is not None:
        _check_name("texture_name", texture_name)
        lines.append(f"map_Kd {texture_name}")
    return ("\n".join(lines) + "\n").encode("ascii")


def texture_bytes(mesh: SurfaceMesh, fmt: str = "PNG", quality: int = 95) -> bytes:
    """The mesh's texture image as PNG (lossless) or JPEG bytes."""
    if mesh.texture is None:
        raise InvalidInputError("the mesh has no texture")
    kind = fmt.upper()
    if kind not in ("PNG", "JPEG"):
        raise InvalidInputError(f"texture format must be PNG or JPEG, got {fmt!r}")
    buf = io.BytesIO()
    image = Image.fromarray(mesh.texture.image, mode="RGB")
    if kind == "JPEG":
        image.save(buf, format="JPEG", quality=quality)
    else:
        image.save(buf, format="PNG")
    return buf.getvalue()


@dataclass(frozen=True, eq=False)
class ObjContents:
    """What an OBJ holds: vertices, triangles, optional vertex colours (N×3 uint8), optional
    UVs with one UV-index row per triangle, and the material libraries / materials named."""

    vertices: FloatArray
    triangles: IndexArray
    colors: ImageArray | None = None
    uv: FloatArray | None = None
    uv_triangles: IndexArray | None = None
    mtllibs: tuple[str, ...] = ()
    materials: tuple[str, ...] = field(default=())


def read_obj(data: bytes) -> ObjContents:
    """Parse OBJ bytes (polygons fan-triangulated; normals and groups ignored)."""
    verts: list[list[float]] = []
    uvs: list[list[float]] = []
    faces: list[tuple[int, int, int]] = []
    face_uvs: list[tuple[int, int, int]] = []
    mtllibs: list[str] = []
    materials: list[str] = []
    all_uv = True
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, _, rest = line.partition(" ")
        parts = rest.split()
        if key == "v":
            verts.append([float(x) for x in parts[:6]])
        elif key == "vt":
            uvs.append([float(x) for x in parts[:2]])
        elif key == "f":
            corners = [_corner(p, len(verts), len(uvs)) for p in parts]
            if len(corners) < 3:
                raise InvalidInputError(f"an OBJ face needs 3 or more corners: {raw!r}")
            for i in range(1, len(corners) - 1):
                a, b, c = corners[0], corners[i], corners[i + 1]
                faces.append((a[0], b[0], c[0]))
                if a[1] < 0 or b[1] < 0 or c[1] < 0:
                    all_uv = False
                    face_uvs.append((0, 0, 0))
                else:
                    face_uvs.append((a[1], b[1], c[1]))
        elif key == "mtllib":
            mtllibs.append(rest.strip())
        elif key == "usemtl":
            materials.append(rest.strip())
    if not verts or not faces:
        raise InvalidInputError(f"OBJ has {len(verts)} vertices and {len(faces)} faces")
    widths = {len(v) for v in verts}
    xyz = np.array([v[:3] for v in verts], dtype=np.float64)
    colors = None
    if widths == {6}:
        rgb = np.array([v[3:6] for v in verts], dtype=np.float64)
        colors = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    with_uv = bool(uvs) and all_uv
    return ObjContents(
        vertices=xyz,
        triangles=np.array(faces, dtype=np.int64),
        colors=colors,
        uv=np.array(uvs, dtype=np.float64) if with_uv else None,
        uv_triangles=np.array(face_uvs, dtype=np.int64) if with_uv else None,
        mtllibs=tuple(mtllibs),
        materials=tuple(dict.fromkeys(materials)),
    )


def read_mtl(data: bytes) -> dict[str, str | None]:
    """Material name → its diffuse texture file (``map_Kd``, last token), or None."""
    out: dict[str, str | None] = {}
    current: str | None = None
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.split("#", 1)[0].strip()
        key, _, rest = line.partition(" ")
        if key == "newmtl":
            current = rest.strip()
            out[current] = None
        elif key == "map_Kd" and current is not None:
            out[current] = rest.split()[-1] if rest.split() else None
    return out


def read_obj_file(
    path: Path,
    scale: MeshScale | None = None,
    algorithm: ModelIdentity | None = None,
) -> SurfaceMesh:
    """A mesh from an OBJ file on disk, with its MTL's diffuse texture when there is one.

    Default provenance: coordinates taken as millimetres from the file
    (:attr:`MeshScaleSource.SOURCE_DATA`) and an "imported OBJ" algorithm identity.
    """
    path = Path(path)
    obj = read_obj(path.read_bytes())
    texture = None
    if obj.uv is not None and obj.uv_triangles is not None and obj.mtllibs:
        mtl_path = path.parent / obj.mtllibs[0]
        maps = read_mtl(mtl_path.read_bytes()) if mtl_path.is_file() else {}
        wanted = obj.materials[0] if obj.materials else next(iter(maps), None)
        image_name = maps.get(wanted) if wanted is not None else None
        if image_name:
            with Image.open(mtl_path.parent / image_name) as im:
                pixels = np.asarray(im.convert("RGB"), dtype=np.uint8)
            texture = MeshTexture(obj.uv, obj.uv_triangles, pixels)
    return SurfaceMesh(
        vertices=obj.vertices,
        triangles=obj.triangles,
        scale=scale or MeshScale(MeshScaleSource.SOURCE_DATA, 0.0, note=f"read from {path.name}"),
        algorithm=algorithm or ModelIdentity("obj-import", "OBJ import", "1", "n/a"),
        colors=obj.colors,
        texture=texture,
    )


def _corner(token: str, n_v: int, n_vt: int) -> tuple[int, int]:
    """(vertex index, uv index or -1), 0-based, from ``v``, ``v/vt``, ``v/vt/vn``, ``v//vn``."""
    fields = token.split("/")
    v = _resolve(int(fields[0]), n_v)
    vt = _resolve(int(fields[1]), n_vt) if len(fields) > 1 and fields[1] else -1
    return v, vt


def _resolve(index: int, count: int) -> int:
    if index > 0:
        return index - 1
    if index < 0:
        return count + index
    raise InvalidInputError("OBJ indices are 1-based; found 0")


def _check_name(name: str, value: str) -> None:
    if not value or any(c.isspace() for c in value) or "/" in value or "\\" in value:
        raise InvalidInputError(
            f"{name} must be a plain file name without spaces or slashes, got {value!r}"
        )


__all__ = [
    "MATERIAL_NAME",
    "ObjContents",
    "StlContents",
    "mtl_bytes",
    "obj_bytes",
    "read_mtl",
    "read_obj",
    "read_obj_file",
    "read_stl",
    "stl_bytes",
    "texture_bytes",
]
