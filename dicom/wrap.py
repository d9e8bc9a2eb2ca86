"""Wrap a plain RGB image as a VL Photographic Image (XC), so ad-hoc photos (``facenode
analyze photo.jpg``) go through exactly the same DICOM path as photos from the PACS."""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian, generate_uid

from analysis.types import ImageArray, View
from dicom.codes import VIEW_CODES, code_item
from dicom.photo import VL_PHOTOGRAPHIC_IMAGE as VL_PHOTOGRAPHIC


def wrap_rgb_image(
    pixels: ImageArray,
    *,
    patient_name: str = "Anonymous^Adhoc",
    patient_id: str = "ADHOC",
    patient_sex: str = "",
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    view: View | None = None,
    pixel_spacing_mm: float | None = None,
    instance_number: int = 1,
    series_description: str = "Facial photographs",
) -> Dataset:
    """A complete VL Photographic Image dataset (explicit VR little endian) around pixels."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError(f"expected H×W×3 uint8 RGB, got {pixels.shape} {pixels.dtype}")
    now = dt.datetime.now()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID(VL_PHOTOGRAPHIC)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid) if sop_uid else generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID = VL_PHOTOGRAPHIC
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.AccessionNumber = ""
    ds.Modality = "XC"
    ds.Manufacturer = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Facial photography"
    ds.SeriesDescription = series_description
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = patient_sex
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    ds.PatientOrientation = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"
    ds.AcquisitionContextSequence = Sequence()
    ds.AnatomicRegionSequence = Sequence([code_item("774007", "SCT", "Head and Neck")])
    if view in VIEW_CODES and view is not View.UNKNOWN:
        code = VIEW_CODES[view]
        view_item = code_item(code.value, code.scheme_designator, code.meaning)
        ds.ViewCodeSequence = Sequence([view_item])
    if pixel_spacing_mm:
        ds.PixelSpacing = [pixel_spacing_mm, pixel_spacing_mm]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    return ds
