"""Test data the tests build themselves: DICOM photo wrappers and realistic analyses.

* :func:`make_vl_photo` wraps any RGB / grey image (default: ``skimage.data.astronaut()``,
  a real portrait) as a VL Photographic Image (XC) in any common transfer syntax; with the
  defaults the object passes ``dciodvfy`` with no errors.
* :func:`make_photo_analysis` returns a :class:`PhotoAnalysis` of the astronaut photo with
  real dlib 68-point landmarks (recorded once, hard-coded here so no model is needed),
  measurements computed from them and two findings; ``face_found=False`` gives the
  no-face result.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels.processing import convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import (
    JPEG2000,
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    generate_uid,
)

from analysis.types import (
    Evidence,
    FaceBox,
    Finding,
    Flag,
    HeadPose,
    LandmarkSet,
    Measurement,
    ModelIdentity,
    PhotoAnalysis,
    Quality,
    Scale,
    ScaleSource,
    SemanticLandmarks,
    View,
)
from dicom.codes import code_item

VL_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
MULTIFRAME_TRUE_COLOR_SC = "1.2.840.10008.5.1.4.1.1.7.4"

#: Transfer syntaxes :func:`make_vl_photo` can encode.
TRANSFER_SYNTAXES: tuple[UID, ...] = (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
)
LOSSLESS_SYNTAXES = frozenset(
    {ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless, JPEGLSLossless, JPEG2000Lossless}
)

_VIEW_CODES = {
    View.FRONTAL: ("399033003", "frontal"),
    View.PROFILE_RIGHT: ("399198007", "right lateral"),
    View.PROFILE_LEFT: ("399173006", "left lateral"),
    View.OBLIQUE_RIGHT: ("399236003", "right oblique"),
    View.OBLIQUE_LEFT: ("399184004", "left oblique"),
}


def astronaut() -> np.ndarray[Any, Any]:
    """The 512×512 RGB portrait scikit-image ships (public domain)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def make_vl_photo(
    pixels: np.ndarray[Any, Any] | None = None,
    transfer_syntax: str = ExplicitVRLittleEndian,
    view: View | tuple[str, str, str] | None = View.FRONTAL,
    pixel_spacing: tuple[float, float] | None = None,
    *,
    imager_pixel_spacing: tuple[float, float] | None = None,
    photometric: str | None = None,
    sop_class_uid: str = VL_PHOTOGRAPHIC,
    study_uid: str | None = None,
    patient_name: str = "Test^Astronaut",
    patient_id: str = "FN-TEST-0001",
    patient_sex: str = "F",
    jpeg_quality: int = 95,
) -> Dataset:
    """A VL Photographic Image (or, with ``sop_class_uid``, SC) around ``pixels``.

    ``pixels``: H×W×3 uint8 RGB (default the astronaut), H×W uint8/uint16 grey
    (MONOCHROME2), or F×H×W×3 for a multi-frame SC. ``view``: a :class:`View` or a raw
    (value, scheme, meaning) code for the View Code Sequence. ``photometric`` forces
    ``YBR_FULL`` for native RGB data. JPEG baseline is encoded with OpenCV (4:2:2).
    """
    arr = astronaut() if pixels is None else np.ascontiguousarray(pixels)
    ts = UID(transfer_syntax)
    frames = arr.shape[0] if arr.ndim == 4 else 1
    frame0 = arr[0] if arr.ndim == 4 else arr
    color = frame0.ndim == 3
    now = dt.datetime(2024, 5, 17, 10, 30, 0)

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class_uid
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ts
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = now.strftime("%H%M%S")
    ds.AccessionNumber = "ACC0001"
    ds.Modality = "XC" if sop_class_uid == VL_PHOTOGRAPHIC else "OT"
    ds.Manufacturer = "Test Camera Co"
    ds.ManufacturerModelName = "TC-1"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Facial photography"
    ds.SeriesDescription = "Pre-operative photos"
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19790101"
    ds.PatientSex = patient_sex
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.StudyID = "S1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "NO"
    if sop_class_uid == VL_PHOTOGRAPHIC:
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
        ds.AcquisitionContextSequence = Sequence()
        ds.AnatomicRegionSequence = Sequence([code_item("774007", "SCT", "Head and Neck")])
    else:
        ds.ConversionType = "DI"
    if isinstance(view, View) and view in _VIEW_CODES:
        value, meaning = _VIEW_CODES[view]
        ds.ViewCodeSequence = Sequence([code_item(value, "SCT", meaning)])
    elif isinstance(view, tuple):
        ds.ViewCodeSequence = Sequence([code_item(*view)])
    if pixel_spacing is not None:
        ds.PixelSpacing = [f"{v:.6g}" for v in pixel_spacing]
    if imager_pixel_spacing is not None:
        ds.ImagerPixelSpacing = [f"{v:.6g}" for v in imager_pixel_spacing]

    ds.Rows, ds.Columns = int(frame0.shape[0]), int(frame0.shape[1])
    if frames > 1:
        ds.NumberOfFrames = frames
        ds.FrameIncrementPointer = 0x00181063  # Frame Time
        ds.FrameTime = 100
    bits = 16 if arr.dtype == np.uint16 else 8
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if color:
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
    else:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
    ds.LossyImageCompression = "00"

    native = np.ascontiguousarray(arr)
    if photometric == "YBR_FULL" and color:
        native = convert_color_space(native, "RGB", "YBR_FULL")
        ds.PhotometricInterpretation = "YBR_FULL"
    _encode(ds, native, ts, jpeg_quality)
    return ds


def _encode(ds: Dataset, arr: np.ndarray[Any, Any], ts: UID, jpeg_quality: int) -> None:
    if ts in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        ds.PixelData = arr.tobytes()
        if ds.BitsAllocated == 16:
            ds["PixelData"].VR = "OW"
        return
    if ts == JPEGBaseline8Bit:
        if arr.dtype != np.uint8:
            raise ValueError("JPEG baseline needs 8-bit pixels")
        frames = (
            arr
            if arr.ndim == (4 if arr.shape[-1] == 3 and ds.SamplesPerPixel == 3 else 3)
            else arr[None]
        )
        params = [
            cv2.IMWRITE_JPEG_QUALITY,
            jpeg_quality,
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
        ]
        encoded = []
        for frame in frames:
            img = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if frame.ndim == 3 else frame
            ok, buf = cv2.imencode(".jpg", img, params)
            if not ok:
                raise RuntimeError("OpenCV failed to encode JPEG")
            encoded.append(buf.tobytes())
        ds.PixelData = encapsulate(encoded)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
        if ds.SamplesPerPixel == 3:
            ds.PhotometricInterpretation = "YBR_FULL_422"
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        ds.LossyImageCompressionRatio = f"{arr.nbytes / sum(len(e) for e in encoded):.4g}"
        ds.file_meta.TransferSyntaxUID = ts
        return
    kwargs: dict[str, Any] = {}
    if ts == JPEGLSNearLossless:
        kwargs["jls_error"] = 2
    if ts == JPEG2000:
        kwargs["j2k_cr"] = [20]
    if ts in (JPEG2000Lossless, JPEG2000) and ds.SamplesPerPixel == 3:
        # the encoder applies the multiple-component transform; DICOM names it in PI
        ds.PhotometricInterpretation = "YBR_RCT" if ts == JPEG2000Lossless else "YBR_ICT"
    ds.compress(ts, arr, **kwargs)
    if ts in (JPEGLSNearLossless, JPEG2000):
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = (
            "ISO_14495_1" if ts == JPEGLSNearLossless else "ISO_15444_1"
        )


# --- a realistic analysis of the astronaut photo ---------------------------------------

#: dlib's 68 points on skimage.data.astronaut() (shape_predictor_68_face_landmarks, once).
ASTRONAUT_IBUG68: tuple[tuple[float, float], ...] = (
    (179, 104), (180, 116), (181, 127), (182, 139), (185, 150), (191, 160), (200, 168),
    (209, 176), (220, 178), (232, 177), (243, 171), (253, 163), (260, 154), (265, 143),
    (268, 131), (270, 120), (272, 108), (186, 94), (192, 88), (200, 87), (208, 89),
    (216, 92), (236, 93), (244, 91), (252, 91), (260, 92), (265, 99), (226, 102),
    (225, 111), (225, 119), (225, 127), (214, 131), (219, 133), (224, 134), (229, 133),
    (234, 132), (195, 101), (200, 98), (207, 98), (212, 104), (206, 104), (199, 104),
    (237, 106), (243, 100), (250, 100), (255, 105), (250, 107), (244, 107), (201, 139),
    (209, 139), (218, 139), (224, 141), (230, 140), (238, 140), (246, 141), (238, 151),
    (229, 155), (222, 156), (216, 155), (208, 150), (204, 141), (218, 143), (223, 144),
    (230, 143), (243, 142), (229, 150), (223, 151), (217, 150),
)  # fmt: skip
ASTRONAUT_FACE_BOX = FaceBox(175.0, 76.0, 265.0, 166.0, 0.97)

DLIB_MODEL = ModelIdentity(
    id="dlib68",
    name="dlib shape predictor 68",
    version="19.24",
    licence="Boost (code); iBUG 300-W training data: non-commercial research only",
    commercial_use=False,
)


def _dist(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    return float(np.hypot(*(a - b)))


def make_photo_analysis(
    *,
    face_found: bool = True,
    view: View = View.FRONTAL,
    flags: tuple[str, ...] = (),
    model: ModelIdentity = DLIB_MODEL,
) -> PhotoAnalysis:
    """The astronaut's analysis: 68 + 2 pupil landmarks, 6 measurements, 2 findings."""
    if not face_found:
        return PhotoAnalysis(
            face_found=False,
            message="No face was detected in this photo; no measurements were made.",
            models=(model,),
            timings_ms={"landmarks": 12.5},
        )
    pts = np.asarray(ASTRONAUT_IBUG68, dtype=np.float64) + 0.25  # sub-pixel, not on the grid
    names = {f"ibug_{i:02d}": (float(x), float(y)) for i, (x, y) in enumerate(pts)}
    pupil_r = pts[36:42].mean(axis=0)
    pupil_l = pts[42:48].mean(axis=0)
    points = {**names, "pupil_r": tuple(map(float, pupil_r)), "pupil_l": tuple(map(float, pupil_l))}
    conf = {k: 0.9 for k in points}
    conf["pupil_r"] = conf["pupil_l"] = 0.75
    landmarks = LandmarkSet(
        scheme="ibug68",
        points=pts,
        confidence=np.full(68, 0.9),
        overall_confidence=0.9,
        model=model,
        box=ASTRONAUT_FACE_BOX,
    )
    semantic = SemanticLandmarks(points=points, confidence=conf, sources=(model,))
    ipd_px = _dist(pupil_r, pupil_l)
    mm = 63.0 / ipd_px
    scale = Scale(mm, ScaleSource.ASSUMED_IPD, 0.08, note="assumed adult IPD 63 mm")
    src = ScaleSource.ASSUMED_IPD

    def lin(mid: str, name: str, a: int, b: int, lms: tuple[str, str]) -> Measurement:
        value = _dist(pts[a], pts[b]) * mm
        return Measurement(mid, name, value, "mm", value * 0.08 + 0.3, lms, src)

    icw = lin(
        "intercanthal_width", "Intercanthal width", 39, 42, ("endocanthion_r", "endocanthion_l")
    )
    alar = lin("alar_width", "Alar base width", 31, 35, ("alare_r", "alare_l"))
    mouth = lin("mouth_width", "Mouth width", 48, 54, ("cheilion_r", "cheilion_l"))
    ratio = alar.value / icw.value
    dx, dy = pts[45] - pts[36]
    tilt = math.degrees(math.atan2(-dy, dx))
    lower = _dist(pts[33], pts[8]) / _dist(pts[27], pts[8]) * 100.0
    measurements = (
        icw,
        alar,
        mouth,
        Measurement(
            "alar_intercanthal_ratio",
            "Alar width / intercanthal width",
            ratio,
            "{ratio}",
            ratio * 0.05,
            ("alare_r", "alare_l", "endocanthion_r", "endocanthion_l"),
        ),
        Measurement(
            "eye_axis_tilt",
            "Intercanthal axis tilt",
            tilt,
            "deg",
            1.5,
            ("exocanthion_r", "exocanthion_l"),
            flags=(Flag.HEAD_ROTATED,),
        ),
        Measurement(
            "lower_face_percent",
            "Lower face height (subnasale-menton) / nasion-menton",
            lower,
            "%",
            2.0,
            ("subnasale_frontal", "menton", "nasion"),
        ),
    )
    findings = (
        Finding(
            id="alar_wider_than_intercanthal",
            title="Alar base wider than intercanthal width",
            text=(
                f"The alar base is {ratio:.2f} times the intercanthal width; the neoclassical "
                "canon expects about 1.0. Canons hold for a minority of faces."
            ),
            severity="mild",
            confidence=0.72,
            evidence=(
                Evidence(
                    measurement_id="alar_intercanthal_ratio",
                    value=ratio,
                    unit="{ratio}",
                    norm_mean=1.0,
                    norm_sd=0.1,
                    z_score=(ratio - 1.0) / 0.1,
                    norm_citation="Farkas et al. 1985",
                    population="North American white adults",
                ),
            ),
        ),
        Finding(
            id="eye_axis_tilt_note",
            title="Intercanthal axis tilt measured",
            text=f"The intercanthal axis is tilted {tilt:.1f} deg; head roll is not corrected.",
            severity="info",
            confidence=0.5,
        ),
    )
    quality = Quality(
        face_count=1,
        main_face_index=0,
        detection_confidence=0.97,
        face_size_px=ASTRONAUT_FACE_BOX.size,
        blur=412.0,
        pose=HeadPose(yaw=3.5, pitch=-2.0, roll=1.2),
        mouth_open=False,
        smile=True,
        occlusion_hints=(),
        view=view,
        view_source="dicom",
        flags=flags,
    )
    message = "1 face(s) detected"
    if flags:
        message += "; UNRELIABLE: " + ", ".join(flags)
    return PhotoAnalysis(
        face_found=True,
        message=message,
        landmarks=landmarks,
        semantic=semantic,
        quality=quality,
        scale=scale,
        measurements=measurements,
        findings=findings,
        models=(model,),
        timings_ms={"landmarks": 35.0, "measurements": 1.2},
    )


def with_raw_uid(ds: Dataset, keyword: str, value: str) -> Dataset:
    """``ds`` written and read back with ``keyword`` set to ``value`` as a sender's bytes
    would carry it (pydicom's own checks bypassed), so the element is still raw."""
    import io
    import warnings

    from pydicom import config, dcmread
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataelem import DataElement

    tag = tag_for_keyword(keyword)
    assert tag is not None
    ds[tag] = DataElement(tag, "UI", value, validation_mode=config.IGNORE)
    if keyword == "SOPInstanceUID":
        ds.file_meta[0x00020003] = DataElement(0x00020003, "UI", value,
                                               validation_mode=config.IGNORE)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # writing the sender's bad value: pydicom warns
        warnings.simplefilter("ignore")
        ds.save_as(buf, enforce_file_format=True)
    return dcmread(io.BytesIO(buf.getvalue()))  # read back: the elements are raw again
