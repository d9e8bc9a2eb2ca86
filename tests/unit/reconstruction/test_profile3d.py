"""The mid-sagittal profile of a mesh with holes across the midline: a small hole is
bridged, a wider one is stepped around on a plane beside the midline or, inside the face,
leaves the profile unnamed rather than misnamed; on the true james mesh with triangles
removed, and on a synthetic sheet for the joining rule itself."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from analysis.types import ModelIdentity
from reconstruction import profile3d, symmetry3d
from reconstruction.types import (
    FloatArray,
    Landmark3D,
    LandmarkSource,
    MeshScale,
    MeshScaleSource,
    MidSagittalPlane,
    SurfaceMesh,
)
from tests.bench import multiview_synth as ms
from tests.support.recon3d import needs_mesh, true_landmarks
from tests.unit.reconstruction.test_landmarks3d import as_mesh

#: The normal of the plane the holes are laid out on, and a point of it (james' frame).
LAID_OUT_ON = np.array([0.9990344383, 0.0247106794, -0.0363259344])
LAID_OUT_AT = np.array([0.621897154, 0.015382354, -0.022612829])
#: The points the profile measurements rest on, compared with the intact mesh's.
KEY = ("pronasale", "subnasale", "soft_tissue_pogonion")


@dataclass(frozen=True)
class Face:
    mesh: SurfaceMesh
    landmarks: dict[str, Landmark3D]
    plane: MidSagittalPlane
    refined: dict[str, Landmark3D]  # refine_midline on the intact mesh

    def without(self, remove: np.ndarray) -> SurfaceMesh:
        return SurfaceMesh(
            self.mesh.vertices, self.mesh.triangles[~remove], self.mesh.scale, self.mesh.algorithm
        )

    def punched(self, y_lo: float, y_hi: float, half_width: float) -> SurfaceMesh:
        """The mesh less its front triangles whose centres lie within ``half_width`` mm of
        the plane and between the face-frame heights ``y_lo`` and ``y_hi``."""
        c = self.plane.to_face(self.mesh.vertices)[self.mesh.triangles].mean(axis=1)
        band = (c[:, 1] > y_lo) & (c[:, 1] < y_hi) & (c[:, 2] > 0)
        return self.without(band & (np.abs(c[:, 0]) < half_width))

    def slit(self, y_lo: float, y_hi: float) -> SurfaceMesh:
        """The mesh less exactly the triangles the plane cuts between two heights: a gap on
        the midline only, about one triangle (≈ 2 mm) wide."""
        t = self.plane.to_face(self.mesh.vertices)[self.mesh.triangles]
        c = t.mean(axis=1)
        cut = (t[:, :, 0].min(axis=1) < 0) & (t[:, :, 0].max(axis=1) > 0)
        return self.without(cut & (c[:, 1] > y_lo) & (c[:, 1] < y_hi))

    def offsets(self, refined: dict[str, Landmark3D]) -> dict[str, float]:
        return {
            k: float(np.linalg.norm(refined[k].position - self.refined[k].position)) for k in KEY
        }


@pytest.fixture(scope="module")
def face() -> Face:
    model = ms.load_face()
    mesh, lm = as_mesh(model), true_landmarks(model)
    # the plane the holes below were laid out on (a whole-face mirror fit of this scan),
    # fixed: these tests are about the section's holes, not about the plane
    plane = symmetry3d.frame(
        LAID_OUT_ON, float(LAID_OUT_ON @ LAID_OUT_AT), symmetry3d.positions(lm)
    )
    return Face(mesh, lm, plane, profile3d.refine_midline(lm, mesh, plane))


def length(points: FloatArray) -> float:
    return float(np.sum(np.linalg.norm(np.diff(points, axis=0), axis=1)))


@needs_mesh
@pytest.mark.parametrize(
    ("where", "y_lo", "y_hi"), [("upper lip", -56.0, -54.0), ("nasal dorsum", -15.0, -12.0)]
)
def test_a_small_hole_across_the_midline_is_bridged(
    face: Face, where: str, y_lo: float, y_hi: float
) -> None:
    holed = face.punched(y_lo, y_hi, 3.0)
    refined = profile3d.refine_midline(face.landmarks, holed, face.plane)
    assert set(KEY) <= set(refined), where
    assert all(refined[k].source is LandmarkSource.SURFACE for k in KEY)
    assert max(face.offsets(refined).values()) < 1.0, (where, face.offsets(refined))
    intact = profile3d.section(face.mesh, face.plane)
    sec = profile3d.cut(holed, face.plane)
    assert sec.apart(10.0) == ()
    assert np.allclose(sec.profile[[0, -1]], intact[[0, -1]], atol=0.5), where  # top to bottom
    assert abs(length(sec.profile) - length(intact)) < 3.0
    assert profile3d.cut(holed, face.plane, 0.0, gap_mm=0.0).apart(10.0), "the hole cuts nothing"


@needs_mesh
def test_a_gap_wider_than_the_tolerance_is_not_bridged(face: Face) -> None:
    """A 10 mm hole across the upper lip, wider than every plane tried beside the midline:
    each section stays in two pieces, the profile is the longer one, and no profile point
    is named (the pipeline's "no mid-sagittal profile" note) — unless the tolerance is
    widened past the gap."""
    holed = face.punched(-60.0, -50.0, 6.0)
    for x in profile3d.ProfileOptions().offsets_mm:
        sec = profile3d.cut(holed, face.plane, x)
        (other,) = sec.apart(10.0)
        assert length(sec.profile) > length(other)
        assert sec.profile[:, 1].min() > -55.0 or sec.profile[:, 1].max() < -55.0, x
        ends = [np.linalg.norm(a - b) for a in sec.profile[[0, -1]] for b in other[[0, -1]]]
        assert min(ends) > profile3d.GAP_MM
    refined = profile3d.refine_midline(face.landmarks, holed, face.plane)
    assert "pronasale" not in refined and "soft_tissue_pogonion" not in refined
    tip = refined["ibug_30"]  # no profile: the nasal tip is still the nose's peak
    assert tip.source is LandmarkSource.SURFACE
    assert np.linalg.norm(tip.position - face.refined["pronasale"].position) < 0.5
    wide = profile3d.ProfileOptions(gap_mm=15.0)
    assert profile3d.cut(holed, face.plane, 0.0, wide.gap_mm).apart(10.0) == ()
    bridged = profile3d.refine_midline(face.landmarks, holed, face.plane, profile=wide)
    assert max(face.offsets(bridged).values()) < 1.0


@needs_mesh
def test_a_slit_on_the_plane_is_stepped_around_beside_it(face: Face) -> None:
    """A gap wider than the tolerance only on the midline: the section 1 mm beside the
    plane is whole and gives the same points."""
    holed = face.slit(-20.0, -12.0)
    refined = profile3d.refine_midline(face.landmarks, holed, face.plane)
    assert set(KEY) <= set(refined)
    assert max(face.offsets(refined).values()) < 1.0, face.offsets(refined)
    assert profile3d.cut(holed, face.plane, 0.0).apart(10.0)
    pts = profile3d.midline_points(holed, face.plane)
    assert pts["pronasale"][0] in (1.0, -1.0, 2.0, -2.0)


@needs_mesh
def test_a_break_at_the_chin_names_nothing_rather_than_the_lower_lip(face: Face) -> None:
    """Cut below the lower lip at every plane tried, the longest piece (forehead to chin)
    alone would read the lower lip as pogonion; the profile is left unnamed instead."""
    holed = face.slit(-112.0, -104.0)
    refined = profile3d.refine_midline(face.landmarks, holed, face.plane)
    assert not set(KEY) & set(refined)
    opt = profile3d.ProfileOptions()
    assert all(profile3d.cut(holed, face.plane, x).apart(10.0) for x in opt.offsets_mm)


@needs_mesh
def test_a_break_below_the_face_keeps_the_profile(face: Face) -> None:
    """A gap across the neck, below the chin and the submental tangent, is outside the
    face span (from the triangulated nasal bridge and chin): the points stay; without that
    span nothing tells the break from one in the face, and nothing is named."""
    holed = face.slit(-170.0, -160.0)
    refined = profile3d.refine_midline(face.landmarks, holed, face.plane)
    assert max(face.offsets(refined).values()) < 1.0, face.offsets(refined)
    opt = profile3d.ProfileOptions()
    assert all(profile3d.cut(holed, face.plane, x).apart(10.0) for x in opt.offsets_mm)
    span = profile3d.face_span(face.landmarks, face.plane, opt)
    assert span is not None and span[0] > -160.0
    assert profile3d.midline_points(holed, face.plane) == {}


def sheet_with_flap() -> SurfaceMesh:
    """A flat sheet z = 0 (x ±5, y −40…50, 1 mm grid) with a 2 mm hole across it at
    y = −1…1, and a separate flap behind it (z = −1.5, y 1…20) whose lower edge is nearer
    the hole's upper edge than the sheet's lower part is."""

    def grid(ys: np.ndarray, z: float, base: int) -> tuple[np.ndarray, list[list[int]]]:
        xs = np.arange(-5.25, 5.3, 1.0)  # no vertex on the plane
        gx, gy = np.meshgrid(xs, ys)
        v = np.column_stack([gx.ravel(), gy.ravel(), np.full(gx.size, z)])
        n, tris = len(xs), []
        for r in range(len(ys) - 1):
            if ys[r] >= -1.0 and ys[r + 1] <= 1.0 and z == 0.0:
                continue  # the hole
            for c in range(n - 1):
                a = base + r * n + c
                tris += [[a, a + 1, a + n + 1], [a, a + n + 1, a + n]]
        return v, tris

    v1, t1 = grid(np.arange(-40.0, 50.5, 1.0), 0.0, 0)
    v2, t2 = grid(np.arange(1.0, 20.5, 1.0), -1.5, len(v1))
    return SurfaceMesh(
        np.vstack([v1, v2]), np.array(t1 + t2), MeshScale(MeshScaleSource.SOURCE_DATA, 0.0),
        ModelIdentity("synthetic", "sheet", "1", "MIT"),
    )  # fmt: skip


def test_pieces_join_where_they_continue_one_another_not_onto_a_nearer_flap() -> None:
    plane = MidSagittalPlane(np.eye(3), np.zeros(3))
    mesh = sheet_with_flap()
    sec = profile3d.cut(mesh, plane, 0.0, gap_mm=3.0)
    y = sec.profile[:, 1]
    assert y[0] == pytest.approx(50.0) and y[-1] == pytest.approx(-40.0)
    assert np.all(np.diff(y) < 0)  # top to bottom, no fold onto the flap
    assert np.all(sec.profile[:, 2] == 0.0)
    (flap,) = sec.apart(10.0)
    assert np.all(flap[:, 2] == -1.5)
    apart = profile3d.cut(mesh, plane, 0.0, gap_mm=1.0)  # the 2 mm hole is then too wide
    assert len(apart.apart(10.0)) == 2  # the sheet's lower part and the flap
    assert apart.profile[:, 1].min() == pytest.approx(1.0)  # the longest piece, above the hole
    assert apart.profile[:, 1].max() == pytest.approx(50.0)
