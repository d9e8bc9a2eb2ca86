"""Encapsulated STL / OBJ / MTL objects of a real face mesh: valid (dciodvfy), in the source
study, UTF-8, and their encapsulated files read back to the same mesh.

The installed dicom3tools (2022) knows the Encapsulated STL IOD but not the OBJ and MTL IODs
(Supplement 208; it answers "Information Object Not found"). Those two are checked as
proxies: the same dataset with the STL SOP Class and MIME type (and, for the MTL, whose IOD
has no Frame of Reference module, a Frame of Reference added), which makes dciodvfy check
every module the three IODs share — Patient, Study, Series, Frame of Reference, both
Equipment modules, Encapsulated Document (Referenced Instance Sequence with the relative
URI included), Manufacturing 3D Model, SOP Common, Common Instance Reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from analysis.types import ModelIdentity
from dicom.context import ResultContext
from dicom.mesh import (
    ENCAPSULATED_MTL_STORAGE,
    ENCAPSULATED_OBJ_STORAGE,
    ENCAPSULATED_STL_STORAGE,
    MeshTarget,
    build_mesh_objects,
    build_obj_mtl,
    build_stl,
    document_bytes,
)
from reconstruction.mesh_io import read_mtl, read_obj, read_obj_file, read_stl
from reconstruction.types import MeshScale, MeshScaleSource, SurfaceMesh
from tests.bench.photos import data_root
from tests.factories import make_vl_photo
from tests.support.dciodvfy import dciodvfy_errors, stl_proxy

MESHES = {
    "james": "mesh3d/menpo3d_james/james.obj",  # textured (JPEG), per-corner UVs
    "demoface": "mesh3d/meshmonk_demoface/DemoFace_10K.obj",
}
PATIENT = "Łukasiewicz^Zoë Ångström"
ALGORITHM = ModelIdentity("facenode-photogrammetry", "facenode photogrammetry", "0.1", "MIT")


def _mesh(name: str) -> SurfaceMesh:
    path = data_root() / MESHES[name]
    if not path.is_file():
        pytest.skip(f"shared mesh {path} is absent (see ../shared/data/README)")
    return read_obj_file(
        path,
        scale=MeshScale(MeshScaleSource.MARKER_BOARD, 0.004, note="ChArUco 20 mm squares"),
        algorithm=ALGORITHM,
    )


def _sources() -> list[Dataset]:
    first = make_vl_photo(patient_name=PATIENT, patient_id="ID-ÄÖÜ-7")
    second = make_vl_photo(patient_name=PATIENT, patient_id="ID-ÄÖÜ-7")
    second.StudyInstanceUID = first.StudyInstanceUID
    second.SeriesInstanceUID = first.SeriesInstanceUID
    return [first, second]


def _save(ds: Dataset, path: Path) -> Dataset:
    ds.save_as(path, enforce_file_format=True)
    return dcmread(path)


def _proxy(ds: Dataset, target: MeshTarget, path: Path) -> Path:
    return stl_proxy(ds, target.frame_of_reference_uid, path)


@pytest.fixture(scope="module", params=sorted(MESHES))
def built(request):  # type: ignore[no-untyped-def]
    mesh = _mesh(request.param)
    ctx = ResultContext.new(software_version="0.1.0", device_serial="SN-0001",
                            institution_name="Klinik Zürich")  # fmt: skip
    target = MeshTarget(series_number=904, instance_number_start=1)
    sources = _sources()
    return mesh, sources, target, build_mesh_objects(sources, mesh, ctx, target)


def test_stl_passes_dciodvfy(built, tmp_path, dciodvfy) -> None:  # type: ignore[no-untyped-def]
    _, _, _, (stl, _, _) = built
    path = tmp_path / "stl.dcm"
    stl.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []


@pytest.mark.parametrize("index", [1, 2], ids=["obj", "mtl"])
def test_obj_and_mtl_modules_pass_dciodvfy(built, index, tmp_path, dciodvfy) -> None:  # type: ignore[no-untyped-def]
    _, _, target, objects = built
    ds = objects[index]
    path = tmp_path / "doc.dcm"
    ds.save_as(path, enforce_file_format=True)
    errors = dciodvfy_errors(path)
    # dicom3tools 2022 predates the OBJ / MTL IODs; a newer one must find nothing.
    assert errors in ([], ["Error - Information Object Not found"])
    assert dciodvfy_errors(_proxy(ds, target, tmp_path / "proxy.dcm")) == []


def test_encapsulated_files_read_back_to_the_mesh(built, tmp_path) -> None:  # type: ignore[no-untyped-def]
    mesh, _, _, (stl, obj, mtl) = built
    v32 = mesh.vertices.astype(np.float32)

    stl_back = _save(stl, tmp_path / "stl.dcm")
    contents = read_stl(document_bytes(stl_back))
    assert contents.triangles.shape == (mesh.n_triangles, 3)
    used = np.unique(mesh.triangles)
    assert len(contents.vertices) == len(np.unique(v32[used], axis=0))
    # same triangles, corner by corner, to float32 precision
    np.testing.assert_array_equal(
        contents.vertices[contents.triangles].astype(np.float32), v32[mesh.triangles]
    )
    np.testing.assert_allclose(contents.normals, mesh.face_normals(), atol=1e-5)
    assert int(stl_back.EncapsulatedDocumentLength) == 84 + 50 * mesh.n_triangles

    obj_back = _save(obj, tmp_path / "obj.dcm")
    parsed = read_obj(document_bytes(obj_back))
    assert parsed.vertices.shape == (mesh.n_vertices, 3)
    np.testing.assert_array_equal(parsed.vertices.astype(np.float32), v32)
    np.testing.assert_array_equal(parsed.triangles, mesh.triangles)
    if mesh.texture is not None:
        assert parsed.uv is not None and parsed.uv_triangles is not None
        np.testing.assert_allclose(parsed.uv, mesh.texture.uv, atol=1e-6)
        np.testing.assert_array_equal(parsed.uv_triangles, mesh.texture.uv_triangles)
    else:
        assert parsed.uv is None

    mtl_back = _save(mtl, tmp_path / "mtl.dcm")
    materials = read_mtl(document_bytes(mtl_back))
    assert parsed.materials and set(parsed.materials) <= set(materials)


def test_obj_references_its_mtl(built) -> None:  # type: ignore[no-untyped-def]
    _, _, _, (_, obj, mtl) = built
    ref = obj.ReferencedInstanceSequence[0]
    assert ref.ReferencedSOPClassUID == ENCAPSULATED_MTL_STORAGE
    assert ref.ReferencedSOPInstanceUID == mtl.SOPInstanceUID
    name = str(ref.RelativeURIReferenceWithinEncapsulatedDocument)
    assert read_obj(document_bytes(obj)).mtllibs == (name,)
    assert _values(obj.ListOfMIMETypes) == ["model/mtl"]
    # the Common Instance Reference lists the MTL in the mesh series
    series = {str(s.SeriesInstanceUID): s for s in obj.ReferencedSeriesSequence}
    refs = series[str(mtl.SeriesInstanceUID)].ReferencedInstanceSequence
    assert [r.ReferencedSOPInstanceUID for r in refs] == [mtl.SOPInstanceUID]


def test_identity_series_frame_and_units(built) -> None:  # type: ignore[no-untyped-def]
    mesh, sources, target, objects = built
    src = sources[0]
    classes = [str(ds.SOPClassUID) for ds in objects]
    assert classes == [ENCAPSULATED_STL_STORAGE, ENCAPSULATED_OBJ_STORAGE, ENCAPSULATED_MTL_STORAGE]
    assert [ds.MIMETypeOfEncapsulatedDocument for ds in objects] == [
        "model/stl", "model/obj", "model/mtl"]  # fmt: skip
    assert [int(ds.InstanceNumber) for ds in objects] == [1, 2, 3]
    assert len({str(ds.SOPInstanceUID) for ds in objects}) == 3
    for ds in objects:
        assert ds.Modality == "M3D"
        assert ds.StudyInstanceUID == src.StudyInstanceUID
        assert ds.SeriesInstanceUID == target.series_uid != src.SeriesInstanceUID
        assert ds.PatientID == src.PatientID and ds.AccessionNumber == src.AccessionNumber
        unit = ds.MeasurementUnitsCodeSequence[0]
        assert (unit.CodeValue, unit.CodingSchemeDesignator) == ("mm", "UCUM")
        assert [r.ReferencedSOPInstanceUID for r in ds.SourceInstanceSequence] == [
            s.SOPInstanceUID for s in sources]  # fmt: skip
        algo = ds.DerivationAlgorithmSequence[0]
        assert algo.AlgorithmName == ALGORITHM.name and algo.AlgorithmVersion == "0.1"
        assert "scale_source=marker_board" in algo.AlgorithmParameters
        assert "scale_relative_uncertainty=0.004" in algo.AlgorithmParameters
        assert ds.Manufacturer and ds.DeviceSerialNumber == "SN-0001"
    # STL and OBJ share the reconstruction's frame; the MTL IOD has none
    assert objects[0].FrameOfReferenceUID == objects[1].FrameOfReferenceUID
    assert objects[0].FrameOfReferenceUID == target.frame_of_reference_uid
    assert "FrameOfReferenceUID" not in objects[2]
    assert "PositionReferenceIndicator" in objects[0]


def test_utf8_names_survive_the_file(built, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _, _, _, objects = built
    for i, ds in enumerate(objects):
        back = _save(ds, tmp_path / f"{i}.dcm")
        assert back.SpecificCharacterSet == "ISO_IR 192"
        assert str(back.PatientName) == PATIENT
        assert back.PatientID == "ID-ÄÖÜ-7"
        assert back.InstitutionName == "Klinik Zürich"
        raw = (tmp_path / f"{i}.dcm").read_bytes()
        assert PATIENT.encode("utf-8") in raw


def test_refuses_unscaled_mesh_and_foreign_studies() -> None:
    mesh = _tetrahedron(MeshScale(MeshScaleSource.NONE, 0.0))
    ctx = ResultContext.new()
    with pytest.raises(ValueError, match="no metric scale"):
        build_stl(_sources(), mesh, ctx, MeshTarget())
    scaled = _tetrahedron(MeshScale(MeshScaleSource.KNOWN_DISTANCE, 0.01))
    a, b = make_vl_photo(), make_vl_photo()
    b.StudyInstanceUID = "1.2.3.4.5"
    with pytest.raises(ValueError, match="one study"):
        build_obj_mtl([a, b], scaled, ctx, MeshTarget())
    with pytest.raises(ValueError, match="at least one source"):
        build_stl([], scaled, ctx, MeshTarget())


def test_odd_length_document_is_padded_and_length_kept() -> None:
    mesh = _tetrahedron(MeshScale(MeshScaleSource.KNOWN_DISTANCE, 0.01))
    _, mtl = build_obj_mtl(_sources(), mesh, ResultContext.new(), MeshTarget())
    stored = bytes(mtl.EncapsulatedDocument)
    assert len(stored) % 2 == 0
    assert document_bytes(mtl) == stored[: int(mtl.EncapsulatedDocumentLength)]
    assert document_bytes(mtl).endswith(b"\n")


def test_texture_image_object_is_referenced_by_the_mtl(tmp_path, dciodvfy) -> None:  # type: ignore[no-untyped-def]
    mesh = _tetrahedron(MeshScale(MeshScaleSource.IRIS_DIAMETER, 0.05))
    sources = _sources()
    texture = make_vl_photo()  # stands in for the texture image object
    texture.StudyInstanceUID = sources[0].StudyInstanceUID
    target = MeshTarget()
    obj, mtl = build_obj_mtl(sources, mesh, ResultContext.new(), target, texture=texture,
                             texture_name="face.jpg")  # fmt: skip
    assert read_mtl(document_bytes(mtl)) == {"facenode_surface": "face.jpg"}
    ref = mtl.ReferencedInstanceSequence[0]
    assert ref.ReferencedSOPInstanceUID == texture.SOPInstanceUID
    assert ref.RelativeURIReferenceWithinEncapsulatedDocument == "face.jpg"
    assert _values(mtl.ListOfMIMETypes) == ["image/jpeg"]
    assert dciodvfy_errors(_proxy(mtl, target, tmp_path / "mtl.dcm")) == []


def _values(value: object) -> list[str]:
    """A multi-valued element as a list (pydicom keeps a single value as a plain str)."""
    return [value] if isinstance(value, str) else [str(v) for v in value]  # type: ignore[attr-defined]


def _tetrahedron(scale: MeshScale) -> SurfaceMesh:
    v = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]], dtype=float)
    t = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return SurfaceMesh(v, t, scale=scale, algorithm=ALGORITHM)
