"""Synthetic multi-view ground truth: a real textured face scan with a printed ChArUco board,
ray-cast from known cameras on an arc, with optional injected local deviations.

Subject: menpo3d's "james" scan (``mesh3d/menpo3d_james``, BSD-3): a textured OBJ (6393
vertices, 12228 triangles, a 2400×1600 JPEG) and 68 3D landmarks (``james.ljson``). Its
coordinates are millimetres (outer canthi 95 mm apart, inner 37 mm, jaw width 162 mm) with
x toward the subject's left, y up and z out of the face, but the head is turned a few
degrees and the origin is arbitrary. :func:`load_face` moves it into the **face frame**
used everywhere here (millimetres, right-handed):

* x toward the subject's left (left→right in a frontal photo), from the landmarks' mirror
  pairs;
* y up (nasion above menton), orthogonalised to x;
* z = x × y, out of the face toward a frontal camera;
* origin at the midpoint of the inner canthi (iBUG 39 and 42).

Landmarks are returned in **iBUG-68 order** (the scan's file orders them 0–16 jaw, 17–28
eyes, 29–33 right brow, 34–42 nose, 43–47 left brow, 48–67 mouth; :data:`JAMES_TO_IBUG`
reorders them), so iBUG 8 is menton, 30 pronasale, 33 subnasale, 19/24 mid-brows.

Deviations (:func:`deform`): a smooth Gaussian bump, ``d · exp(−r²/2σ²) · direction`` with
``r`` the 3D distance to a landmark, moves the surface and every landmark by the same
field, so the true displaced landmarks are known exactly.

Rendering (:func:`render`, on the ray-cast core of :mod:`reconstruction.render` that also
renders the node's 3D Secondary Captures): Open3D's ``RaycastingScene`` (no GPU, no
display) casts one ray through each pixel centre of a :class:`reconstruction.types.PinholeCamera` (OpenCV
convention, pixel centres at integer coordinates); the hit triangle's barycentric
coordinates interpolate the texture UVs (bilinear lookup, OBJ's v origin at the bottom) and
the vertex normals (Lambert shading under one fixed light, plus ambient), on a plain grey
background with mild sensor noise. Everything is seeded: the same arguments give the same
pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from pydicom.uid import generate_uid

from dicom.wrap import wrap_rgb_image
from reconstruction import render as rr
from reconstruction.mesh_io import read_obj_file
from reconstruction.render import look_at
from reconstruction.types import PinholeCamera
from tests.bench.photos import data_root

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Image = npt.NDArray[np.uint8]

#: ``ibug[i] = james[JAMES_TO_IBUG[i]]``: the scan's landmark file in iBUG-68 order.
JAMES_TO_IBUG: tuple[int, ...] = (
    tuple(range(17))  # jaw
    + tuple(range(29, 34))  # right brow (iBUG 17–21)
    + tuple(range(43, 48))  # left brow (iBUG 22–26)
    + tuple(range(34, 43))  # nose (iBUG 27–35)
    + tuple(range(17, 29))  # eyes (iBUG 36–47)
    + tuple(range(48, 68))  # mouth
)
#: iBUG-68 left/right mirror pairs (subject's right first), for the face frame's x axis.
IBUG_MIRROR_PAIRS: tuple[tuple[int, int], ...] = (
    *((i, 16 - i) for i in range(8)),
    *((17 + i, 26 - i) for i in range(5)),
    (31, 35), (32, 34),
    (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
    (48, 54), (49, 53), (50, 52), (59, 55), (58, 56), (60, 64), (61, 63), (67, 65),
)  # fmt: skip
MENTON, PRONASALE, LEFT_MID_BROW = 8, 30, 24


def data_dir() -> Path:
    return data_root() / "mesh3d" / "menpo3d_james"


@dataclass(frozen=True, eq=False)
class FaceModel:
    """A textured triangle mesh in the face frame (mm) and its 68 iBUG landmarks."""

    vertices: FloatArray  # N×3
    triangles: IntArray  # M×3
    uv: FloatArray  # K×2, OBJ convention (v up)
    uv_triangles: IntArray  # M×3 indices into uv
    texture: Image  # H×W×3 RGB
    landmarks: FloatArray  # 68×3, iBUG order


def face_frame(landmarks: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(R, origin): rows of R are the face frame's x, y, z axes in the input coordinates.

    ``landmarks`` are 68×3 in iBUG order; face-frame coordinates are ``(p − origin) @ R.T``.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    dirs = [lm[b] - lm[a] for a, b in IBUG_MIRROR_PAIRS]
    x = np.mean([d / np.linalg.norm(d) for d in dirs], axis=0)
    x /= np.linalg.norm(x)
    up = lm[27] - lm[8]  # nasion → menton, reversed
    y = up - up.dot(x) * x
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    origin = (lm[39] + lm[42]) / 2.0
    return np.vstack([x, y, z]), origin


def load_face(folder: Path | None = None) -> FaceModel:
    """The james scan in the face frame (module docstring), landmarks in iBUG order."""
    folder = folder or data_dir()
    mesh = read_obj_file(folder / "james.obj")
    if mesh.texture is None:
        raise FileNotFoundError(f"{folder / 'james.obj'} has no texture")
    import json

    lj = json.loads((folder / "james.ljson").read_text(encoding="utf-8"))
    raw = np.array(lj["groups"]["LJSON"]["landmarks"]["points"], dtype=np.float64)
    lm = raw[list(JAMES_TO_IBUG)]
    r, origin = face_frame(lm)
    return FaceModel(
        vertices=(mesh.vertices - origin) @ r.T,
        triangles=np.asarray(mesh.triangles, dtype=np.int64),
        uv=np.asarray(mesh.texture.uv, dtype=np.float64),
        uv_triangles=np.asarray(mesh.texture.uv_triangles, dtype=np.int64),
        texture=np.array(mesh.texture.image),
        landmarks=(lm - origin) @ r.T,
    )


# ---- injected deviations ---------------------------------------------------------------


@dataclass(frozen=True)
class Deviation:
    """A smooth local displacement of ``distance_mm`` along ``direction`` (face frame),
    centred on iBUG landmark ``landmark`` with Gaussian radius ``sigma_mm``."""

    name: str
    landmark: int
    direction: tuple[float, float, float]
    distance_mm: float
    sigma_mm: float = 10.0

    def field(self, centre: FloatArray, points: FloatArray) -> FloatArray:
        """Displacement of each of ``points`` (N×3) for a bump centred at ``centre``."""
        d = np.asarray(self.direction, dtype=np.float64)
        d /= np.linalg.norm(d)
        r2 = np.sum((points - centre) ** 2, axis=1)
        w = np.exp(-r2 / (2.0 * self.sigma_mm**2))
        return np.asarray(self.distance_mm * w[:, None] * d[None, :])


def standard_deviations(distance_mm: float) -> tuple[Deviation, ...]:
    """The benchmark's three: chin and nasal tip toward the subject's left, left brow up."""
    return (
        Deviation("chin", MENTON, (1.0, 0.0, 0.0), distance_mm, 12.0),
        Deviation("nasal_tip", PRONASALE, (1.0, 0.0, 0.0), distance_mm, 8.0),
        Deviation("left_brow", LEFT_MID_BROW, (0.0, 1.0, 0.0), distance_mm, 10.0),
    )


def deform(face: FaceModel, deviations: Sequence[Deviation]) -> FaceModel:
    """The face with each deviation applied in turn (centres taken on the undeformed face);
    vertices and landmarks move by the same field."""
    v, lm = face.vertices.copy(), face.landmarks.copy()
    for dev in deviations:
        c = face.landmarks[dev.landmark]
        v += dev.field(c, face.vertices)
        lm += dev.field(c, face.landmarks)
    return replace(face, vertices=v, landmarks=lm)


# ---- the printed board -------------------------------------------------------------------


@dataclass(frozen=True)
class BoardSpec:
    """A printed ChArUco board and where it stands in the face frame.

    Board coordinates (OpenCV's: x along a row, y down the printed image, mm from the
    top-left corner) map to the face frame as ``origin + bx·x_axis + by·y_axis``. The
    default lies below the chin, tilted up toward the cameras, printed side facing them.
    """

    squares: tuple[int, int] = (7, 5)
    square_mm: float = 15.0
    marker_mm: float = 11.0
    dictionary: int = cv2.aruco.DICT_4X4_50
    centre: tuple[float, float, float] = (0.0, -185.0, 55.0)
    facing: tuple[float, float, float] = (0.0, 0.6, 1.0)  # normal of the printed side
    px_per_mm: float = 8.0

    @property
    def size_mm(self) -> tuple[float, float]:
        return self.squares[0] * self.square_mm, self.squares[1] * self.square_mm

    def axes(self) -> tuple[FloatArray, FloatArray]:
        """(x_axis, y_axis) of the board in the face frame (x_axis along face x)."""
        f = np.asarray(self.facing, dtype=np.float64)
        f /= np.linalg.norm(f)
        ex = np.array([1.0, 0.0, 0.0])
        ex -= ex.dot(f) * f
        ex /= np.linalg.norm(ex)
        ey = np.cross(ex, f)  # so that ey × ex = f: the printed side faces f
        return ex, ey

    def to_world(self, board_xy: FloatArray) -> FloatArray:
        """Face-frame points (N×3) of board-plane points (N×2, mm)."""
        ex, ey = self.axes()
        w, h = self.size_mm
        origin = np.asarray(self.centre) - ex * w / 2 - ey * h / 2
        b = np.asarray(board_xy, dtype=np.float64)
        return np.asarray(origin + b[:, :1] * ex + b[:, 1:2] * ey)

    def board(self) -> cv2.aruco.CharucoBoard:
        d = cv2.aruco.getPredefinedDictionary(self.dictionary)
        return cv2.aruco.CharucoBoard(self.squares, self.square_mm, self.marker_mm, d)

    def corners_world(self) -> FloatArray:
        """The board's chessboard (ChArUco) corners in the face frame, in id order."""
        obj = np.asarray(self.board().getChessboardCorners(), dtype=np.float64)
        return self.to_world(obj[:, :2])

    def image(self) -> Image:
        """The printed board, RGB, ``px_per_mm`` resolution (corner at mm m → px m·ppm − ½)."""
        w, h = self.size_mm
        size = (round(w * self.px_per_mm), round(h * self.px_per_mm))
        grey = self.board().generateImage(size, marginSize=0, borderBits=1)
        return np.asarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB), dtype=np.uint8)


# ---- cameras -----------------------------------------------------------------------------


def arc_cameras(
    n: int = 16,
    size: int = 1024,
    *,
    yaw_deg: tuple[float, float] = (-70.0, 70.0),
    pitch_deg: tuple[float, float] = (-8.0, 12.0),
    distance_mm: float = 520.0,
    target: tuple[float, float, float] = (0.0, -55.0, 10.0),
    field_mm: float = 380.0,
) -> list[PinholeCamera]:
    """``n`` cameras on an arc around the face (yaw from the subject's right to left,
    pitch alternating between the two bounds), all looking at ``target``; the focal
    length makes ``field_mm`` at ``distance_mm`` fill the image width."""
    f = size * distance_mm / field_mm
    k = np.array([[f, 0.0, (size - 1) / 2], [0.0, f, (size - 1) / 2], [0.0, 0.0, 1.0]])
    tgt = np.asarray(target, dtype=np.float64)
    cams = []
    for i, yaw in enumerate(np.linspace(yaw_deg[0], yaw_deg[1], n)):
        pitch = pitch_deg[i % 2]
        a, p = math.radians(float(yaw)), math.radians(pitch)
        d = np.array([math.sin(a) * math.cos(p), math.sin(p), math.cos(a) * math.cos(p)])
        c = tgt + distance_mm * d
        r = look_at(c, tgt, np.array([0.0, 1.0, 0.0]))
        cams.append(PinholeCamera(size, size, k, r, -r @ c))
    return cams


# ---- rendering ---------------------------------------------------------------------------


#: Triangles of every textured surface, ready to ray-cast (face first, then board): the
#: renderer's scene (:class:`reconstruction.render.RayScene`).
Scene = rr.RayScene


def build_scene(face: FaceModel, board: BoardSpec | None = BoardSpec()) -> Scene:
    """The face (and the board, when given) as one ray-castable, textured scene."""
    th, tw = face.texture.shape[:2]
    face_px = rr.texture_pixels(face.uv[face.uv_triangles], tw, th)  # M×3×2
    verts, tris, corner, which = [face.vertices], [face.triangles], [face_px], [0]
    textures: list[Image] = [face.texture]
    normals = [rr.vertex_normals(face.vertices, face.triangles)]
    if board is not None:
        w, h = board.size_mm
        quad = np.array([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]])
        bt = np.array([[0, 2, 1], [0, 3, 2]])  # wound so that normals face `facing`
        verts.append(board.to_world(quad))
        tris.append(bt + len(face.vertices))
        corner.append((quad * board.px_per_mm - 0.5)[bt])
        f = np.asarray(board.facing, dtype=np.float64)
        normals.append(np.tile(f / np.linalg.norm(f), (4, 1)))
        textures.append(board.image())
        which.append(1)
    v = np.vstack(verts)
    t = np.vstack(tris).astype(np.int64)
    tex_of = np.concatenate(
        [np.full(len(tr), k, np.int64) for tr, k in zip(tris, which, strict=True)]
    )
    return rr.make_scene(
        v, t, normals=np.vstack(normals), corner_uv=np.concatenate(corner), texture_of=tex_of,
        textures=textures,
    )  # fmt: skip


LIGHT = (0.25, 0.45, 1.0)  # toward the light, face frame
BACKGROUND = 118


def render(
    scene: Scene,
    cam: PinholeCamera,
    *,
    seed: int = 0,
    noise: float = 1.5,
    ambient: float = 0.35,
) -> Image:
    """The RGB view of ``scene`` from ``cam`` (module docstring), deterministic per seed."""
    h, w = cam.height, cam.width
    hits = rr.cast(scene, cam)
    shade = rr.lambert(rr.surface_normals(scene, hits), np.asarray(LIGHT), ambient)
    colour = rr.surface_colours(scene, hits)
    rng = np.random.default_rng(seed)
    img = rng.standard_normal((h * w, 3), dtype=np.float32) * np.float32(noise) + BACKGROUND
    img[hits.pixels] += (colour * shade[:, None] - BACKGROUND).astype(np.float32)
    return np.asarray(np.clip(np.rint(img), 0, 255).astype(np.uint8).reshape(h, w, 3))


# ---- the whole ground-truth set ----------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SynthSet:
    """A rendered multi-view set and everything true about it (face frame, mm)."""

    images: tuple[Image, ...]
    cameras: tuple[PinholeCamera, ...]
    face: FaceModel  # the (deformed) mesh and its true landmarks
    deviations: tuple[Deviation, ...]
    board: BoardSpec | None
    board_corners: FloatArray | None  # true 3D ChArUco corners, id order


def make_set(
    n_views: int = 16,
    size: int = 1024,
    *,
    deviations: Sequence[Deviation] = (),
    board: BoardSpec | None = BoardSpec(),
    face: FaceModel | None = None,
    seed: int = 0,
    **camera_kw: object,
) -> SynthSet:
    """Render ``n_views`` views of ``size``² of the (deformed) face and the board."""
    base = face or load_face()
    shaped = deform(base, deviations)
    scene = build_scene(shaped, board)
    cams = arc_cameras(n_views, size, **camera_kw)  # type: ignore[arg-type]
    images = tuple(render(scene, c, seed=seed + i) for i, c in enumerate(cams))
    return SynthSet(
        images=images,
        cameras=tuple(cams),
        face=shaped,
        deviations=tuple(deviations),
        board=board,
        board_corners=board.corners_world() if board is not None else None,
    )


def surface_texture_xy(scene: Scene, points: FloatArray) -> tuple[IntArray, FloatArray]:
    """(texture index, texture pixel xy) of the surface point closest to each of ``points``:
    where the renderer samples the colour of that point."""
    q = rr.tensor(np.asarray(points, dtype=np.float32))
    res = scene.raycaster.compute_closest_points(q)
    p = res["primitive_ids"].numpy().astype(np.int64)
    b = res["primitive_uvs"].numpy().astype(np.float64)
    wts = np.column_stack([1.0 - b[:, 0] - b[:, 1], b[:, 0], b[:, 1]])
    xy = np.einsum("nk,nkc->nc", wts, scene.corner_uv[p])
    return scene.texture_of[p], np.asarray(xy)


def write_series(
    truth: SynthSet,
    folder: Path,
    *,
    patient_name: str = "Bench^Multiview",
    patient_id: str = "FN-BENCH-3D",
) -> tuple[list[Path], str]:
    """The views as one VL Photographic series of one patient, as files in ``folder`` (made
    here): what a photographer's camera would send; (paths, Study Instance UID)."""
    folder.mkdir(parents=True)
    study, series = str(generate_uid()), str(generate_uid())
    paths = []
    for i, image in enumerate(truth.images):
        ds = wrap_rgb_image(image, patient_name=patient_name, patient_id=patient_id,
                            study_uid=study, series_uid=series, instance_number=i + 1)  # fmt: skip
        paths.append(folder / f"view{i:02d}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    return paths, study
