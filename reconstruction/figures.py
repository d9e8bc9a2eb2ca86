"""The named figures of a finished reconstruction: what the node sends and the CLI writes.

One place decides which figures a :class:`~reconstruction.types.Reconstruction3D` gets and
how they face the viewer, so that ``facenode analyze --3d`` (PNG files) and the DICOM
results (Secondary Captures) show the same pictures:

* ``front``, ``right_profile``, ``left_profile``: the surface from each
  :class:`~reconstruction.render.RenderView`, noting the scale source;
* ``asymmetry``: the signed asymmetry map with its colour bar in mm, when the
  reconstruction has a symmetry analysis.

The views face the face frame (:func:`face_axes`): the mid-sagittal plane's axes when
symmetry was analysed; the mesh's own axes when the mesh is already in the face frame;
otherwise the first registered photo's camera, so a face without landmarks is still seen
from the front.
"""

from __future__ import annotations

import numpy as np

from reconstruction.render import RenderView, scene_of
from reconstruction.render_figure import DEFAULT_SIZE, Figure, asymmetry_figure, surface_figure
from reconstruction.types import FloatArray, Reconstruction3D

#: The asymmetry map's figure name (the surface figures are named by their view's value).
ASYMMETRY = "asymmetry"
#: Every figure name in the order they are made (``asymmetry`` only with symmetry).
FIGURE_NAMES: tuple[str, ...] = (*(v.value for v in RenderView), ASYMMETRY)


def face_axes(recon: Reconstruction3D) -> FloatArray | None:
    """The face frame's axes (rows x, y, z) in the mesh's coordinates for the named views;
    None when the mesh's own axes are the face frame's."""
    if recon.symmetry is not None:
        return np.asarray(recon.symmetry.plane.axes)
    if recon.face_frame:
        return None
    cam = next((c for c in recon.cameras if c is not None), None)
    if cam is None:  # no camera to face: the mesh's own axes
        return None
    return np.vstack([cam.R[0], -cam.R[1], -cam.R[2]])


def reconstruction_figures(
    recon: Reconstruction3D,
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    supersample: int = 2,
) -> dict[str, Figure]:
    """The named figures of ``recon`` (module docstring), keyed by :data:`FIGURE_NAMES`
    in that order; ``size`` is each rendering's (width, height) in pixels."""
    scene = scene_of(recon.mesh)
    axes = face_axes(recon)
    note = f"scale: {recon.scale.source.value}; mm"
    figures = {
        view.value: surface_figure(
            scene, view, size=size, axes=axes, notes=(note,), supersample=supersample
        )
        for view in RenderView
    }
    if recon.symmetry is not None:
        figures[ASYMMETRY] = asymmetry_figure(
            scene,
            recon.symmetry.vertex_asymmetry_mm,
            size=size,
            axes=axes,
            supersample=supersample,
        )
    return figures
