"""A reconstructed face mesh as Encapsulated STL, OBJ and MTL objects (modality M3D).

No library builds these, so they are built here with pydicom, module by module, after
PS3.3 A.85 (Encapsulated STL / OBJ / MTL IODs, Supplements 205 and 208):

- Patient, General Study: copied from the source photos (as the Encapsulated PDF does).
- Encapsulated Document Series: one new series of the node's (``MeshTarget``), modality
  ``M3D`` (the IODs' Enumerated Value), holding the STL, the OBJ and its MTL.
- Frame of Reference (STL and OBJ; the MTL IOD has none): the reconstruction's frame,
  ``MeshTarget.frame_of_reference_uid``; the SR's 3D coordinates use the same UID. Position
  Reference Indicator is empty (type 2: the frame is not tied to an anatomical reference).
- General and Enhanced General Equipment: the node (Manufacturer, Model Name, Device Serial
  Number and Software Versions are type 1 in the latter).
- Encapsulated Document: the file bytes (padded to even length, true length in Encapsulated
  Document Length), its MIME type (``model/stl``, ``model/obj``, ``model/mtl``), Document
  Title and Concept Name from CID 7061 "Model Document Title" (DCM 129020 "Photogrammetric
  Imaging 3D CAM model"), the source photos in Source Instance Sequence with purpose
  CID 7060 (DCM 121324 "Source image"). The OBJ names its MTL with ``mtllib``, so it lists
  the MTL object in Referenced Instance Sequence with Relative URI Reference Within
  Encapsulated Document = that ``mtllib`` name, and the MTL does the same for its texture
  image object when there is one; List of MIME Types names the referenced documents'
  types.
- Manufacturing 3D Model: Measurement Units Code Sequence (UCUM ``mm``, CID 7063), Model
  Usage (DCM 129013 "Planning Intent", CID 7064), Derivation Algorithm Sequence (the
  reconstruction algorithm's name and version) and a Content Description that states the
  scale source and its uncertainty.
- SOP Common: UTF-8 (``ISO_IR 192``), Contributing Equipment (node and algorithm).

A mesh without metric scale (``MeshScaleSource.NONE``) is refused: these objects declare
millimetres.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass, field

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

from dicom.codes import code_item
from dicom.context import ResultContext
from dicom.equipment import apply_general_equipment, contributing_equipment
from dicom.pdf import copy_patient_study
from dicom.source import study_header
from dicom.uids import new_uid
from reconstruction.mesh_io import mtl_bytes, obj_bytes, stl_bytes
from reconstruction.types import SurfaceMesh

ENCAPSULATED_STL_STORAGE = "1.2.840.10008.5.1.4.1.1.104.3"
ENCAPSULATED_OBJ_STORAGE = "1.2.840.10008.5.1.4.1.1.104.4"
ENCAPSULATED_MTL_STORAGE = "1.2.840.10008.5.1.4.1.1.104.5"
STL_MIME = "model/stl"
OBJ_MIME = "model/obj"
MTL_MIME = "model/mtl"
MODALITY = "M3D"

#: (code value, coding scheme designator, code meaning)
MODEL_TITLE = ("129020", "DCM", "Photogrammetric Imaging 3D CAM model")  # CID 7061
SOURCE_IMAGE = ("121324", "DCM", "Source image")  # CID 7060
MILLIMETRE = ("mm", "UCUM", "mm")  # CID 7063
PLANNING_INTENT = ("129013", "DCM", "Planning Intent")  # CID 7064
#: Algorithm Family of the Derivation Algorithm Sequence: SfM + dense stereo + meshing.
RECONSTRUCTION_ALGORITHM = ("113961", "DCM", "Reconstruction Algorithm")

_IMAGE_MIME = {
    "1.2.840.10008.5.1.4.1.1.7": "image/jpeg",  # SC: texture stored as an image object
    "1.2.840.10008.5.1.4.1.1.77.1.4": "image/jpeg",  # VL Photographic
}


@dataclass(frozen=True)
class MeshTarget:
    """Where the mesh objects go: their series, and the reconstruction's Frame of Reference.

    One target per reconstruction: the STL, OBJ and MTL share the series and the OBJ and
    STL the Frame of Reference, which the 3D SR references too.
    """

    series_uid: str = field(default_factory=lambda: str(new_uid()))
    frame_of_reference_uid: str = field(default_factory=lambda: str(new_uid()))
    series_number: int = 904
    series_description: str = "facenode AI 3D face model"
    instance_number_start: int = 1

    def __post_init__(self) -> None:
        for name, uid in (("series_uid", self.series_uid),
                          ("frame_of_reference_uid", self.frame_of_reference_uid)):  # fmt: skip
            if not UID(uid).is_valid:
                raise ValueError(f"{name} is not a valid UID: {uid!r}")
        if self.series_uid == self.frame_of_reference_uid:
            raise ValueError("series_uid and frame_of_reference_uid must differ")
        if self.series_number < 1 or self.instance_number_start < 1:
            raise ValueError(
                "series_number and instance_number_start must be >= 1, got "
                f"{self.series_number}, {self.instance_number_start}"
            )
        if len(self.series_description) > 64:
            raise ValueError(
                f"series_description must be at most 64 characters, got "
                f"{len(self.series_description)}"
            )


def build_stl(
    sources: SequenceOf[Dataset],
    mesh: SurfaceMesh,
    ctx: ResultContext,
    target: MeshTarget,
    instance_number: int | None = None,
) -> Dataset:
    """An Encapsulated STL Storage dataset of ``mesh`` (binary STL, mm)."""
    number = target.instance_number_start if instance_number is None else instance_number
    ds = _base(sources, mesh, ctx, target, number, ENCAPSULATED_STL_STORAGE, STL_MIME,
               stl_bytes(mesh), "3D face surface (STL)")  # fmt: skip
    _frame_of_reference(ds, target)
    _common_instance_reference(ds, sources, [])
    return ds


def build_obj_mtl(
    sources: SequenceOf[Dataset],
    mesh: SurfaceMesh,
    ctx: ResultContext,
    target: MeshTarget,
    instance_number: int | None = None,
    texture: Dataset | None = None,
    texture_name: str = "texture.jpg",
) -> tuple[Dataset, Dataset]:
    """(Encapsulated OBJ, Encapsulated MTL) of ``mesh``, the OBJ referencing the MTL.

    ``texture``: the texture image as a DICOM image object (built by the caller, e.g. a
    Secondary Capture of ``mesh.texture.image``); the MTL then names it ``texture_name`` in
    ``map_Kd`` and references it. Without it the MTL carries the material only.
    """
    number = target.instance_number_start + 1 if instance_number is None else instance_number
    mtl_name = "facenode_surface.mtl"
    map_name = texture_name if texture is not None else None
    mtl = _base(sources, mesh, ctx, target, number + 1, ENCAPSULATED_MTL_STORAGE, MTL_MIME,
                mtl_bytes(map_name), "3D face surface material (MTL)")  # fmt: skip
    if texture is not None:
        mime = _IMAGE_MIME.get(str(texture.SOPClassUID), "image/jpeg")
        mtl.ReferencedInstanceSequence = Sequence([_uri_reference(texture, texture_name)])
        mtl.ListOfMIMETypes = [mime]
    obj = _base(sources, mesh, ctx, target, number, ENCAPSULATED_OBJ_STORAGE, OBJ_MIME,
                obj_bytes(mesh, mtl_name), "3D face surface (OBJ)")  # fmt: skip
    _frame_of_reference(obj, target)
    obj.ReferencedInstanceSequence = Sequence([_uri_reference(mtl, mtl_name)])
    obj.ListOfMIMETypes = [MTL_MIME]
    _common_instance_reference(obj, sources, [mtl])
    _common_instance_reference(mtl, sources, [texture] if texture is not None else [])
    return obj, mtl


def build_mesh_objects(
    sources: SequenceOf[Dataset],
    mesh: SurfaceMesh,
    ctx: ResultContext,
    target: MeshTarget,
) -> list[Dataset]:
    """[STL, OBJ, MTL] of one reconstruction, numbered from ``target.instance_number_start``."""
    stl = build_stl(sources, mesh, ctx, target)
    obj, mtl = build_obj_mtl(sources, mesh, ctx, target)
    return [stl, obj, mtl]


def document_bytes(ds: Dataset) -> bytes:
    """The file an Encapsulated STL / OBJ / MTL dataset holds, without the padding byte."""
    classes = (ENCAPSULATED_STL_STORAGE, ENCAPSULATED_OBJ_STORAGE, ENCAPSULATED_MTL_STORAGE)
    if str(ds.get("SOPClassUID", "")) not in classes:
        raise ValueError(
            f"not an Encapsulated STL/OBJ/MTL object: SOP Class {ds.get('SOPClassUID')}"
        )
    data = bytes(ds.EncapsulatedDocument)
    length = ds.get("EncapsulatedDocumentLength")
    return data[: int(length)] if length is not None else data


# --- modules -----------------------------------------------------------------------------


def _base(
    sources: SequenceOf[Dataset],
    mesh: SurfaceMesh,
    ctx: ResultContext,
    target: MeshTarget,
    instance_number: int,
    sop_class: str,
    mime: str,
    document: bytes,
    title: str,
) -> Dataset:
    if not mesh.scale.is_metric:
        raise ValueError(
            "the mesh has no metric scale (scale source 'none'); mesh objects declare mm"
        )
    header = study_header(sources, "one mesh")
    now = dt.datetime.now()
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    copy_patient_study(header, ds)
    # Encapsulated Document Series
    ds.Modality = MODALITY
    ds.SeriesInstanceUID = target.series_uid
    ds.SeriesNumber = target.series_number
    ds.SeriesDescription = target.series_description
    ds.SeriesDate = now.strftime("%Y%m%d")
    ds.SeriesTime = now.strftime("%H%M%S")
    # General Equipment + Enhanced General Equipment (all four type 1)
    ds.Manufacturer = ctx.manufacturer
    ds.ManufacturerModelName = ctx.model_name
    ds.DeviceSerialNumber = ctx.device_serial or str(ctx.node_device_uid)[:64]
    ds.SoftwareVersions = ctx.software_version or "0"
    if ctx.institution_name:
        ds.InstitutionName = ctx.institution_name
    apply_general_equipment(ds, ctx)
    # Encapsulated Document
    ds.InstanceNumber = instance_number
    ds.ContentDate = now.strftime("%Y%m%d")
    ds.ContentTime = now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "NO"  # geometry and material carry no patient identification
    # a textured face surface is recognisable; geometry alone is treated as such as well
    ds.RecognizableVisualFeatures = "YES"
    ds.SourceInstanceSequence = Sequence([_source_reference(s) for s in sources])
    ds.DocumentTitle = MODEL_TITLE[2]
    ds.ConceptNameCodeSequence = Sequence([code_item(*MODEL_TITLE)])
    ds.MIMETypeOfEncapsulatedDocument = mime
    ds.EncapsulatedDocumentLength = len(document)
    ds.EncapsulatedDocument = document + (b"\x00" if len(document) % 2 else b"")
    # Manufacturing 3D Model
    ds.MeasurementUnitsCodeSequence = Sequence([code_item(*MILLIMETRE)])
    ds.ModelModification = "NO"
    ds.ModelMirroring = "NO"
    ds.ModelUsageCodeSequence = Sequence([code_item(*PLANNING_INTENT)])
    ds.ContentDescription = _description(title, mesh)
    ds.DerivationAlgorithmSequence = Sequence([_algorithm(mesh)])
    # SOP Common
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = str(new_uid())
    ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.InstanceCreationTime = now.strftime("%H%M%S")
    ds.ContributingEquipmentSequence = Sequence(contributing_equipment(ctx, [mesh.algorithm]))
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(sop_class)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(ds.SOPInstanceUID)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return ds


def _common_instance_reference(
    ds: Dataset, sources: SequenceOf[Dataset], others: SequenceOf[Dataset]
) -> None:
    """Common Instance Reference module: every instance this one references (the source
    photos, the MTL or texture), grouped by series; all lie in the sources' study."""
    series: dict[str, list[Dataset]] = {}
    for ref in [*sources, *others]:
        series.setdefault(str(ref.SeriesInstanceUID), []).append(ref)
    items = []
    for uid, refs in series.items():
        item = Dataset()
        item.SeriesInstanceUID = uid
        item.ReferencedInstanceSequence = Sequence(
            [_instance(r) for r in dict((str(r.SOPInstanceUID), r) for r in refs).values()]
        )
        items.append(item)
    ds.ReferencedSeriesSequence = Sequence(items)


def _instance(ref: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = ref.SOPClassUID
    item.ReferencedSOPInstanceUID = ref.SOPInstanceUID
    return item


def _frame_of_reference(ds: Dataset, target: MeshTarget) -> None:
    ds.FrameOfReferenceUID = target.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""


def _description(title: str, mesh: SurfaceMesh) -> str:
    """Content Description (LO, 64 characters): what the file is, in a few words."""
    text = f"{title}, {mesh.n_vertices} vertices, {mesh.n_triangles} triangles"
    return text[:64]


def _algorithm(mesh: SurfaceMesh) -> Dataset:
    """Algorithm Identification Macro item: the reconstruction algorithm, and the scale
    provenance as its parameters."""
    model, scale = mesh.algorithm, mesh.scale
    item = Dataset()
    item.AlgorithmFamilyCodeSequence = Sequence([code_item(*RECONSTRUCTION_ALGORITHM)])
    item.AlgorithmName = (model.name or model.id)[:64]
    item.AlgorithmVersion = (model.version or "0")[:64]
    item.AlgorithmSource = f"{model.id}; licence: {model.licence or 'unknown'}"[:64]
    params = (
        f"units=mm; scale_source={scale.source.value}; "
        f"scale_relative_uncertainty={scale.relative_uncertainty:.6g}"
    )
    if scale.note:
        params += f"; scale_note={scale.note}"
    item.AlgorithmParameters = params[:10240]
    return item


def _source_reference(source: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    item.PurposeOfReferenceCodeSequence = Sequence([code_item(*SOURCE_IMAGE)])
    return item


def _uri_reference(target: Dataset, name: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = target.SOPClassUID
    item.ReferencedSOPInstanceUID = target.SOPInstanceUID
    item.RelativeURIReferenceWithinEncapsulatedDocument = name
    return item


__all__ = [
    "ENCAPSULATED_MTL_STORAGE",
    "ENCAPSULATED_OBJ_STORAGE",
    "ENCAPSULATED_STL_STORAGE",
    "MeshTarget",
    "build_mesh_objects",
    "build_obj_mtl",
    "build_stl",
    "document_bytes",
]
