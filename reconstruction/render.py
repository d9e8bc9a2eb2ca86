"""Headless CPU rendering of a face mesh by ray casting: no GPU, no display, no Vulkan.

Open3D's ``RaycastingScene`` casts one ray through each pixel centre of a
:class:`~reconstruction.types.PinholeCamera` (OpenCV convention: pixel centres at integer
coordinates); the hit triangle's barycentric weights interpolate whatever lives on the
surface: texture coordinates (bilinear texture lookup, OBJ's v origin at the bottom),
vertex colours, vertex normals (Lambert shading) or a per-vertex scalar (the asymmetry
map). The same core renders the synthetic benchmark's photos
(:mod:`tests.bench.multiview_synth`) and the renderings the node returns as Secondary
Captures (:func:`render_surface`, :func:`render_scalar`; the figure around them is
:mod:`reconstruction.render_figure`).

Named views (:class:`RenderView`) are taken in the **face frame**: x toward the subject's
left, y up, z out of the face (the frame :mod:`tests.bench.multiview_synth` builds and the
3D landmarks use); a mesh in another frame passes its face axes. A front view looks along
−z; the right profile is seen from the subject's right (−x), nose toward the image's right;
the left profile from +x, nose toward the image's left. Anti-aliasing: the image is ray-cast
at ``supersample``× the size and averaged down (``cv2.INTER_AREA``), with a camera whose
pixel centres line up with the final image's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np
import numpy.typing as npt
import open3d as o3d

from analysis.types import ImageArray, InvalidInputError
from reconstruction.types import FloatArray, IndexArray, PinholeCamera, SurfaceMesh

Colour = tuple[int, int, int]

#: Light direction in camera coordinates (x right, y down, z forward), toward the light:
#: a head light slightly above and left of the lens, so that relief shows.
HEAD_LIGHT: tuple[float, float, float] = (-0.3, -0.45, -1.0)
BACKGROUND: Colour = (40, 40, 40)
#: Colour of an untextured, uncoloured surface (a light neutral clay).
CLAY: Colour = (205, 195, 182)


class RenderView(StrEnum):
    """A named view of the face (module docstring: face frame, where the camera stands)."""

    FRONT = "front"
    RIGHT_PROFILE = "right_profile"
    LEFT_PROFILE = "left_profile"


#: Direction from the face toward the camera, face frame.
_VIEW_DIRECTION: dict[RenderView, tuple[float, float, float]] = {
    RenderView.FRONT: (0.0, 0.0, 1.0),
    RenderView.RIGHT_PROFILE: (-1.0, 0.0, 0.0),
    RenderView.LEFT_PROFILE: (1.0, 0.0, 0.0),
}


# ---- the scene ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RayScene:
    """Triangles ready to ray-cast, with what the surface carries.

    ``normals``: unit normal per vertex; ``corner_uv``: M×3×2 texture pixel coordinates of
    each triangle corner; ``texture_of``: which of ``textures`` each triangle samples (−1:
    none, it takes its vertex ``colors`` when given, else a flat colour).
    """

    vertices: FloatArray
    triangles: IndexArray
    normals: FloatArray
    corner_uv: FloatArray
    texture_of: IndexArray
    textures: tuple[ImageArray, ...]
    raycaster: o3d.t.geometry.RaycastingScene = field(repr=False)
    colors: FloatArray | None = None  # N×3 RGB per vertex, 0..255


def tensor(a: npt.NDArray[np.generic]) -> o3d.core.Tensor:
    """An Open3D tensor over a contiguous copy of ``a``."""
    return o3d.core.Tensor.from_numpy(np.ascontiguousarray(a))


def vertex_normals(vertices: FloatArray, triangles: IndexArray) -> FloatArray:
    """Area-weighted unit vertex normals (right-hand rule)."""
    v, tri = vertices, triangles
    fn = np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]])
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, tri[:, k], fn)
    return np.asarray(vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12))


def make_scene(
    vertices: FloatArray,
    triangles: IndexArray,
    *,
    normals: FloatArray | None = None,
    corner_uv: FloatArray | None = None,
    texture_of: IndexArray | None = None,
    textures: Sequence[ImageArray] = (),
    colors: npt.NDArray[np.generic] | None = None,
) -> RayScene:
    """A :class:`RayScene` of the given triangles (untextured unless told otherwise)."""
    v = np.asarray(vertices, dtype=np.float64)
    t = np.asarray(triangles, dtype=np.int64)
    m = len(t)
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(tensor(v.astype(np.float32)), tensor(t.astype(np.uint32)))
    return RayScene(
        vertices=v,
        triangles=t,
        normals=vertex_normals(v, t) if normals is None else np.asarray(normals, np.float64),
        corner_uv=np.zeros((m, 3, 2)) if corner_uv is None else np.asarray(corner_uv, np.float64),
        texture_of=np.full(m, -1, np.int64) if texture_of is None else np.asarray(texture_of),
        textures=tuple(textures),
        raycaster=rc,
        colors=None if colors is None else np.asarray(colors, dtype=np.float64),
    )


def texture_pixels(uv: FloatArray, width: int, height: int) -> FloatArray:
    """OBJ texture coordinates (v up, [0, 1]) → texture pixel coordinates (centres at
    integers)."""
    uv = np.asarray(uv, dtype=np.float64)
    return np.stack([uv[..., 0] * width - 0.5, (1.0 - uv[..., 1]) * height - 0.5], axis=-1)


def scene_of(mesh: SurfaceMesh) -> RayScene:
    """The mesh as a scene: its texture, else its vertex colours, else clay."""
    corner_uv = texture_of = None
    textures: tuple[ImageArray, ...] = ()
    if mesh.texture is not None:
        th, tw = mesh.texture.image.shape[:2]
        corner_uv = texture_pixels(mesh.texture.uv[mesh.texture.uv_triangles], tw, th)
        texture_of = np.zeros(mesh.n_triangles, np.int64)
        textures = (mesh.texture.image,)
    return make_scene(
        mesh.vertices, mesh.triangles, corner_uv=corner_uv, texture_of=texture_of,
        textures=textures, colors=mesh.colors,
    )  # fmt: skip


# ---- casting and what a hit carries --------------------------------------------------


@dataclass(frozen=True, eq=False)
class Hits:
    """Rays of one camera that hit the scene: flat pixel index, triangle, barycentric
    weights of its corners (v0, v1, v2), unit ray direction and distance along the ray."""

    height: int
    width: int
    pixels: IndexArray
    primitives: IndexArray
    weights: FloatArray  # n×3
    directions: npt.NDArray[np.float32]  # n×3
    distance: FloatArray


def cast(scene: RayScene, cam: PinholeCamera) -> Hits:
    """One ray through each pixel centre of ``cam``."""
    h, w = cam.height, cam.width
    kinv = np.linalg.inv(cam.K).astype(np.float32)
    jj = np.arange(w, dtype=np.float32) * kinv[0, 0] + kinv[0, 2]
    ii = np.arange(h, dtype=np.float32) * kinv[1, 1] + kinv[1, 2]
    r = cam.R.astype(np.float32)  # world ray = R.T @ (x, y, 1)
    grid = np.empty((h, w, 6), np.float32)
    grid[..., :3] = cam.centre.astype(np.float32)
    grid[..., 3:] = jj[None, :, None] * r[0] + ii[:, None, None] * r[1] + r[2]
    rays = grid.reshape(-1, 6)
    rays[:, 3:] /= np.linalg.norm(rays[:, 3:], axis=1, keepdims=True)
    hit = scene.raycaster.cast_rays(tensor(rays))
    t_hit = hit["t_hit"].numpy()
    idx = np.nonzero(np.isfinite(t_hit))[0]
    b = hit["primitive_uvs"].numpy()[idx].astype(np.float64)
    return Hits(
        height=h,
        width=w,
        pixels=idx.astype(np.int64),
        primitives=hit["primitive_ids"].numpy()[idx].astype(np.int64),
        weights=np.column_stack([1.0 - b[:, 0] - b[:, 1], b[:, 0], b[:, 1]]),
        directions=rays[idx, 3:],
        distance=t_hit[idx].astype(np.float64),
    )


def interpolate(scene: RayScene, hits: Hits, values: npt.NDArray[np.generic]) -> FloatArray:
    """Per-vertex ``values`` (N or N×k) at the hit points (barycentric)."""
    vals = np.asarray(values, dtype=np.float64)
    corner = vals[scene.triangles[hits.primitives]]  # n×3(×k)
    wts = hits.weights if vals.ndim == 1 else hits.weights[..., None]
    return np.asarray(np.sum(corner * wts, axis=1))


def surface_normals(scene: RayScene, hits: Hits) -> FloatArray:
    """Interpolated unit normals at the hits, turned toward the camera (a surface seen
    from behind is lit as its front)."""
    wts = hits.weights
    vn = scene.normals[scene.triangles[hits.primitives]]
    nrm = sum(wts[:, k, None] * vn[:, k] for k in range(3))
    assert isinstance(nrm, np.ndarray)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    facing_away = np.sum(nrm * hits.directions, axis=1) > 0
    nrm[facing_away] *= -1.0
    return nrm


def surface_colours(scene: RayScene, hits: Hits, flat: Colour = CLAY) -> FloatArray:
    """RGB (0..255, float) at the hits: texture, else vertex colour, else ``flat``."""
    p = hits.primitives
    colour = np.empty((len(p), 3))
    colour[:] = flat
    which = scene.texture_of[p]
    if scene.textures:
        wts = hits.weights
        cuv = scene.corner_uv[p]
        tex_xy = sum(wts[:, k, None] * cuv[:, k] for k in range(3))
        assert isinstance(tex_xy, np.ndarray)
        for k, tex in enumerate(scene.textures):
            sel = which == k
            if sel.any():
                colour[sel] = bilinear(tex, tex_xy[sel])
    if scene.colors is not None:
        sel = which < 0
        if sel.any():
            sub = Hits(hits.height, hits.width, hits.pixels[sel], p[sel], hits.weights[sel],
                       hits.directions[sel], hits.distance[sel])  # fmt: skip
            colour[sel] = interpolate(scene, sub, scene.colors)
    return colour


def lambert(normals: FloatArray, light: FloatArray, ambient: float) -> FloatArray:
    """``ambient + (1 − ambient) · max(0, n · l)`` per normal (``light`` toward the light)."""
    ll = np.asarray(light, dtype=np.float64)
    ll = ll / np.linalg.norm(ll)
    return np.asarray(ambient + (1.0 - ambient) * np.clip(normals @ ll, 0.0, 1.0))


def bilinear(tex: ImageArray, xy: FloatArray) -> FloatArray:
    """Bilinear samples of ``tex`` at N pixel positions (cv2.remap on a folded map: its
    maps must be narrower than 32767)."""
    n, cols = len(xy), 4096
    rows = -(-n // cols)
    m = np.zeros((2, rows * cols), np.float32)
    m[:, :n] = np.asarray(xy).T
    mx, my = m[0].reshape(rows, cols), m[1].reshape(rows, cols)
    out = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out.reshape(-1, 3)[:n], dtype=np.float64)


def visible(
    scene: RayScene, cam: PinholeCamera, points: FloatArray, tol_mm: float = 5.0
) -> npt.NDArray[np.bool_]:
    """Whether each point is seen by ``cam``: in front of it, inside the image, and the
    first surface along its ray lies no nearer than ``tol_mm`` before it (a ray grazing
    the silhouette, e.g. to the nasal tip in profile, enters the surface a few mm early;
    an occluded point lies centimetres behind)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    px, z = cam.project(pts)
    inside = (z > 0) & np.all(np.isfinite(px), axis=1)
    inside &= (px[:, 0] >= -0.5) & (px[:, 0] <= cam.width - 0.5)
    inside &= (px[:, 1] >= -0.5) & (px[:, 1] <= cam.height - 0.5)
    c = cam.centre
    d = pts - c
    dist = np.linalg.norm(d, axis=1)
    rays = np.hstack([np.tile(c, (len(pts), 1)), d / np.maximum(dist[:, None], 1e-12)])
    t_hit = scene.raycaster.cast_rays(tensor(rays.astype(np.float32)))["t_hit"].numpy()
    return np.asarray(inside & (t_hit >= dist - tol_mm))


# ---- cameras -------------------------------------------------------------------------


def look_at(centre: FloatArray, target: FloatArray, up: FloatArray) -> FloatArray:
    """World→camera rotation (OpenCV axes) of a camera at ``centre`` looking at ``target``."""
    z = np.asarray(target, dtype=np.float64) - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))  # image x: right, image y: down
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.vstack([x, y, z])


def view_camera(
    points: FloatArray,
    view: RenderView,
    width: int,
    height: int,
    *,
    axes: FloatArray | None = None,
    margin: float = 0.06,
    distance_mm: float = 1200.0,
) -> PinholeCamera:
    """A camera of ``view`` that frames ``points`` (the mesh's vertices), centred.

    ``axes``: rows are the face frame's x (subject's left), y (up) and z (out of the face)
    in the points' coordinates; None when the points are in the face frame already. The
    camera stands ``distance_mm`` from the centre of the points' extent (a long lens: little
    perspective) and its focal length leaves ``margin`` of the image free on each side.
    """
    pts = np.asarray(points, dtype=np.float64)
    a = np.eye(3) if axes is None else np.asarray(axes, dtype=np.float64)
    if a.shape != (3, 3) or not np.isfinite(a).all():
        raise InvalidInputError(f"axes must be a finite 3×3 matrix, got shape {a.shape}")
    d_face = np.asarray(_VIEW_DIRECTION[RenderView(view)])
    toward = a.T @ d_face  # toward the camera, point coordinates
    up = a[1]
    rot = look_at(np.zeros(3), -toward, up)  # orientation only
    local = pts @ rot.T  # camera axes: x right, y down, z away from the camera
    lo, hi = local.min(axis=0), local.max(axis=0)
    mid = (lo + hi) / 2.0
    target = rot.T @ mid
    centre = target + toward * distance_mm
    nearest = distance_mm - (mid[2] - lo[2])  # the nearest point's depth
    ext_x, ext_y = max(hi[0] - lo[0], 1e-6), max(hi[1] - lo[1], 1e-6)
    usable = 1.0 - 2.0 * margin
    f = usable * min(width / ext_x, height / ext_y) * nearest
    k = np.array([[f, 0.0, (width - 1) / 2], [0.0, f, (height - 1) / 2], [0.0, 0.0, 1.0]])
    return PinholeCamera(width, height, k, rot, -rot @ centre)


def supersampled(cam: PinholeCamera, factor: int) -> PinholeCamera:
    """The same view at ``factor``× the resolution, pixel blocks aligned with ``cam``'s
    pixels (block (i, j) averages down to pixel (i, j))."""
    s = float(factor)
    k = cam.K.copy()
    k[0, 0] *= s
    k[1, 1] *= s
    k[0, 1] *= s
    k[0, 2] = s * (k[0, 2] + 0.5) - 0.5
    k[1, 2] = s * (k[1, 2] + 0.5) - 0.5
    return PinholeCamera(cam.width * factor, cam.height * factor, k, cam.R, cam.t)


# ---- renderings ----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Rendering:
    """An RGB image of a scene from ``camera`` and the fraction of each pixel the surface
    covers (0..1; anti-aliased edges in between)."""

    image: ImageArray
    coverage: FloatArray
    camera: PinholeCamera


def _shade_and_downscale(
    cam: PinholeCamera,
    hits: Hits,
    colour: FloatArray,
    shade: FloatArray,
    background: Colour,
    factor: int,
) -> Rendering:
    h, w = hits.height, hits.width
    img = np.empty((h * w, 3), np.float32)
    img[:] = background
    img[hits.pixels] = (colour * shade[:, None]).astype(np.float32)
    cover = np.zeros(h * w, np.float32)
    cover[hits.pixels] = 1.0
    img3: npt.NDArray[np.float32] = img.reshape(h, w, 3)
    cov: npt.NDArray[np.float32] = cover.reshape(h, w)
    if factor > 1:
        size = (cam.width, cam.height)
        img3 = np.asarray(cv2.resize(img3, size, interpolation=cv2.INTER_AREA), np.float32)
        cov = np.asarray(cv2.resize(cov, size, interpolation=cv2.INTER_AREA), np.float32)
    out = np.clip(np.rint(img3), 0, 255).astype(np.uint8)
    return Rendering(out, cov.astype(np.float64), cam)


def _light_world(cam: PinholeCamera, light_cam: Sequence[float]) -> FloatArray:
    return np.asarray(cam.R.T @ np.asarray(light_cam, dtype=np.float64))


def render_surface(
    scene: RayScene,
    cam: PinholeCamera,
    *,
    supersample: int = 2,
    ambient: float = 0.3,
    light: Sequence[float] = HEAD_LIGHT,
    background: Colour = BACKGROUND,
    flat: Colour = CLAY,
) -> Rendering:
    """The surface's texture / vertex colours (else clay) under a head light (``light`` in
    camera coordinates), anti-aliased by ``supersample``× supersampling."""
    _check_supersample(supersample)
    big = supersampled(cam, supersample)
    hits = cast(scene, big)
    shade = lambert(surface_normals(scene, hits), _light_world(big, light), ambient)
    return _shade_and_downscale(
        cam, hits, surface_colours(scene, hits, flat), shade, background, supersample
    )


def render_scalar(
    scene: RayScene,
    cam: PinholeCamera,
    values: FloatArray,
    colour_map: ColourMap,
    *,
    supersample: int = 2,
    ambient: float = 0.75,
    light: Sequence[float] = HEAD_LIGHT,
    background: Colour = BACKGROUND,
) -> Rendering:
    """The surface coloured by a per-vertex scalar (``colour_map``; NaN → its ``missing``
    colour), lightly shaded (``ambient`` near 1 keeps colours readable against the bar;
    1.0 renders them exactly)."""
    _check_supersample(supersample)
    vals = np.asarray(values, dtype=np.float64)
    if vals.shape != (len(scene.vertices),):
        raise InvalidInputError(
            f"values must hold one scalar per vertex ({len(scene.vertices)}), got {vals.shape}"
        )
    big = supersampled(cam, supersample)
    hits = cast(scene, big)
    finite = np.isfinite(vals)
    at = interpolate(scene, hits, np.where(finite, vals, 0.0))
    known = interpolate(scene, hits, finite.astype(np.float64)) > 0.999
    at[~known] = np.nan
    shade = lambert(surface_normals(scene, hits), _light_world(big, light), ambient)
    return _shade_and_downscale(cam, hits, colour_map(at), shade, background, supersample)


def _check_supersample(factor: int) -> None:
    if not (isinstance(factor, int) and 1 <= factor <= 4):
        raise InvalidInputError(f"supersample must be an integer 1..4, got {factor!r}")


# ---- colour maps ---------------------------------------------------------------------

#: ColorBrewer RdBu (11 classes), reversed: blue for negative, white at 0, red positive.
_RDBU_R: tuple[Colour, ...] = (
    (5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240),
    (247, 247, 247),
    (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43), (103, 0, 31),
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class ColourMap:
    """A diverging colour map over ``[−limit, +limit]`` (values beyond clip to the ends).

    ``lut`` is 256 RGB entries from −limit to +limit; ``missing`` colours NaN.
    """

    limit: float
    lut: FloatArray = field(repr=False)
    missing: Colour = (128, 128, 128)

    @classmethod
    def diverging(cls, limit: float) -> ColourMap:
        if not (np.isfinite(limit) and limit > 0):
            raise InvalidInputError(f"colour map limit must be finite and > 0, got {limit!r}")
        anchors = np.asarray(_RDBU_R, dtype=np.float64)
        pos = np.linspace(0.0, 1.0, len(anchors))
        t = np.linspace(0.0, 1.0, 256)
        lut = np.column_stack([np.interp(t, pos, anchors[:, c]) for c in range(3)])
        return cls(float(limit), lut)

    def __call__(self, values: FloatArray) -> FloatArray:
        """RGB (0..255 float, n×3) of ``values`` (linear between LUT entries)."""
        v = np.asarray(values, dtype=np.float64)
        out = np.empty((*v.shape, 3))
        out[:] = self.missing
        ok = np.isfinite(v)
        f = (np.clip(v[ok], -self.limit, self.limit) + self.limit) / (2 * self.limit) * 255.0
        i0 = np.minimum(np.floor(f).astype(np.int64), 254)
        frac = (f - i0)[:, None]
        out[ok] = self.lut[i0] * (1.0 - frac) + self.lut[i0 + 1] * frac
        return out

    def value_of(self, rgb: npt.NDArray[np.generic]) -> FloatArray:
        """The value whose colour is nearest each RGB (n×3): the map read backwards."""
        c = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
        d = np.sum((c[:, None, :] - self.lut[None, :, :]) ** 2, axis=2)
        return np.asarray(np.argmin(d, axis=1) / 255.0 * 2 * self.limit - self.limit)
