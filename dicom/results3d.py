"""Everything the node sends for one photo series' 3D reconstruction.

:func:`build_results_3d` turns a finished :class:`~reconstruction.types.Reconstruction3D`
into eight objects in the photos' study, three new series of the node's:

* 904 (``dicom.mesh``): the mesh as Encapsulated STL, OBJ and MTL, on one Frame of
  Reference;
* 905 (``dicom.render_sc``): Secondary Captures of the figures of
  :func:`reconstruction.figures.reconstruction_figures` — front, right and left profile,
  and the asymmetry map with its colour bar in mm;
* 906 (``dicom.sr3d``): the Comprehensive 3D SR, its SCOORD3D landmarks on the mesh's
  Frame of Reference and its drawn regions on the front rendering. It states the 3D
  landmarks, the catalogue measurements, each face region's asymmetry (peak signed and
  mean absolute distance to the mirrored surface, mm, ± the scale's relative uncertainty
  of the value) and the findings the finding rules raise on the measurements that share
  the 2D catalogue's ids (:func:`reconstruction.measurements3d.findings`).

Instance numbers continue from ``ctx.instance_number_start`` across the eight objects, as
the 2D results count across their SR, overlays and report, so ``ctx.advance(len(outputs))``
is the context for what the job writes next.

When no reconstruction was made, :func:`dicom.note3d.build_reconstruction_note` is what
the node sends instead.

Sources are the series' photos; their headers suffice (pixel data is never read).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache

from pydicom.dataset import Dataset

from analysis.types import ModelIdentity
from config.norms import load_tables
from config.tables import FindingTables
from dicom.context import ResultContext
from dicom.mesh import MeshTarget, build_mesh_objects
from dicom.render_sc import REPORT3D_SERIES_NUMBER, SeriesTarget, build_render_sc
from dicom.source import study_header
from dicom.sr3d import Landmark3DEntry, Measurement3DEntry, Registration, Report3D, build_sr3d
from reconstruction.figures import ASYMMETRY, reconstruction_figures
from reconstruction.measurements3d import findings
from reconstruction.render import RenderView
from reconstruction.render_figure import Figure
from reconstruction.symmetry3d import REGIONS, region_landmarks
from reconstruction.types import MeshScale, Reconstruction3D, SymmetryResult

REPORT3D_DESCRIPTION = "facenode AI 3D measurements"
#: The family the regional asymmetry values are drawn with in the 3D report.
REGIONAL_ASYMMETRY = "Regional asymmetry"
#: The surface figures every result set has, in order (the asymmetry map follows them).
SURFACE_FIGURES: tuple[str, ...] = tuple(v.value for v in RenderView)


def build_results_3d(
    sources: Sequence[Dataset],
    recon: Reconstruction3D,
    ctx: ResultContext,
    algorithm: ModelIdentity,
    models: Sequence[ModelIdentity] = (),
    *,
    tables: FindingTables | None = None,
    figures: Mapping[str, Figure] | None = None,
) -> list[Dataset]:
    """[STL, OBJ, MTL, front, right profile, left profile, asymmetry map (when ``recon``
    has symmetry), 3D SR] of ``recon``, in the sources' study (module docstring).

    ``algorithm`` is the reconstruction's identity, ``models`` the others its values rest
    on (e.g. the 2D landmark model). ``tables`` judge the measurements (None: the shipped
    norms and rules). ``figures``: the reconstruction's figures when the caller made them
    already (:func:`reconstruction.figures.reconstruction_figures`), else made here.
    """
    header = study_header(sources, "one reconstruction")
    if not recon.scale.is_metric or not recon.mesh.scale.is_metric:
        raise ValueError("the 3D results need a metric scale (scale source 'none'): they are in mm")
    figs = dict(figures) if figures is not None else reconstruction_figures(recon)
    missing = [name for name in SURFACE_FIGURES if name not in figs]
    if missing:
        raise ValueError(f"figures must include {list(SURFACE_FIGURES)}; missing {missing}")
    number = ctx.instance_number_start
    mesh_target = MeshTarget(instance_number_start=number)
    outputs = build_mesh_objects(sources, recon.mesh, ctx, mesh_target)
    number += len(outputs)
    render_target = SeriesTarget(instance_number_start=number)
    names = [*SURFACE_FIGURES, *([ASYMMETRY] if ASYMMETRY in figs else [])]
    renderings: dict[str, Dataset] = {}
    for name in names:
        fig = figs[name]
        renderings[name] = build_render_sc(
            sources, fig.image, fig.title, ctx, render_target, number, fig.view
        )
        number += 1
    outputs += renderings.values()
    sex = str(header.get("PatientSex", "") or "") or None
    judge = tables if tables is not None else shipped_tables()
    report = report_3d(recon, algorithm, models, judge, sex)
    front = (renderings[RenderView.FRONT.value], figs[RenderView.FRONT.value])
    report_target = SeriesTarget(REPORT3D_SERIES_NUMBER, REPORT3D_DESCRIPTION)
    outputs.append(build_sr3d(sources, report, ctx, mesh_target, front, report_target, number))
    return outputs


def report_3d(
    recon: Reconstruction3D,
    algorithm: ModelIdentity,
    models: Sequence[ModelIdentity],
    tables: FindingTables,
    sex: str | None,
) -> Report3D:
    """What the 3D SR states of ``recon``: landmarks, measurements, regional asymmetry and
    the findings ``tables`` raise (norm rows for ``sex`` "M" / "F", else pooled)."""
    landmarks = tuple(
        Landmark3DEntry(key, (float(x), float(y), float(z)), float(lm.uncertainty_mm))
        for key, lm in recon.landmarks.items()
        for x, y, z in [lm.position]
    )
    measurements = [
        Measurement3DEntry(m.id, m.name, m.value, m.unit, m.uncertainty, m.landmarks)
        for m in recon.measurements
    ]
    if recon.symmetry is not None:
        measurements += asymmetry_entries(recon.symmetry, recon.scale)
    return Report3D(
        landmarks=landmarks,
        measurements=tuple(measurements),
        scale=recon.scale,
        algorithm=algorithm,
        models=tuple(models),
        findings=findings(recon.measurements, sex=sex, tables=tables),
        registration=Registration(
            photos=len(recon.cameras),
            registered=recon.n_registered,
            reprojection_error_px=recon.reprojection_error_px,
        ),
    )


def asymmetry_entries(symmetry: SymmetryResult, scale: MeshScale) -> list[Measurement3DEntry]:
    """Two measurements per face region: ``asymmetry_<region>``, the signed distance of
    largest magnitude to the mirrored surface (+ this side bulges), and
    ``asymmetry_<region>_mean_abs``, the mean absolute distance; mm, 1-SD uncertainty the
    scale's relative uncertainty of the value (the mirror distance scales with the mesh).

    Every region's peak first, then the means: the family :data:`REGIONAL_ASYMMETRY` is
    drawn in this order, and a viewer labels its first five values. Each stands on its
    region's anchor landmarks (:func:`reconstruction.symmetry3d.region_landmarks`)."""
    out = []
    for suffix, what in (("", "peak signed"), ("_mean_abs", "mean absolute")):
        for r in symmetry.regions:
            value = r.peak_signed_mm if not suffix else r.mean_abs_mm
            out.append(
                Measurement3DEntry(
                    id=f"asymmetry_{r.region}{suffix}",
                    name=f"Asymmetry, {r.region.replace('_', ' ')} ({what})",
                    value=float(value),
                    unit="mm",
                    uncertainty=abs(float(value)) * scale.relative_uncertainty,
                    landmarks=_region_landmarks(r.region),
                    family=REGIONAL_ASYMMETRY,
                )
            )
    return out


def _region_landmarks(region: str) -> tuple[str, ...]:
    return region_landmarks(region) if region in REGIONS else ()


@cache
def shipped_tables() -> FindingTables:
    """The shipped norms and rules, read once, for callers that pass none."""
    return load_tables()


__all__ = [
    "asymmetry_entries",
    "build_results_3d",
    "report_3d",
]
