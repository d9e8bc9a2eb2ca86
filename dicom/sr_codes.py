"""The DICOM (DCM / RFC 5646) codes of the TID 1500 structure that both of the node's
Measurement Reports use — the 2D one (:mod:`dicom.sr`) and the 3D one (:mod:`dicom.sr3d`):
language, observer context (TID 1001/1004), procedure, image library (TID 1600), imaging
measurements and measurement groups (TID 1500/1501/1410), algorithm identification
(TID 4019). Defined once so the two reports cannot drift apart."""

from __future__ import annotations

from typing import Final

from pydicom.sr.coding import Code

LANGUAGE: Final = Code("121049", "DCM", "Language of Content Item and Descendants")
EN_US: Final = Code("en-US", "RFC5646", "English (United States)")
OBSERVER_TYPE: Final = Code("121005", "DCM", "Observer Type")
DEVICE_UID: Final = Code("121012", "DCM", "Device Observer UID")
DEVICE_NAME: Final = Code("121013", "DCM", "Device Observer Name")
DEVICE_MANUFACTURER: Final = Code("121014", "DCM", "Device Observer Manufacturer")
DEVICE_MODEL: Final = Code("121015", "DCM", "Device Observer Model Name")
DEVICE_SERIAL: Final = Code("121016", "DCM", "Device Observer Serial Number")
PROCEDURE_REPORTED: Final = Code("121058", "DCM", "Procedure reported")
IMAGE_LIBRARY: Final = Code("111028", "DCM", "Image Library")
IMAGE_LIBRARY_GROUP: Final = Code("126200", "DCM", "Image Library Group")
IMAGING_MEASUREMENTS: Final = Code("126010", "DCM", "Imaging Measurements")
MEASUREMENT_GROUP: Final = Code("125007", "DCM", "Measurement Group")
TRACKING_ID: Final = Code("112039", "DCM", "Tracking Identifier")
TRACKING_UID: Final = Code("112040", "DCM", "Tracking Unique Identifier")
IMAGE_REGION: Final = Code("111030", "DCM", "Image Region")
ALGORITHM_NAME: Final = Code("111001", "DCM", "Algorithm Name")
ALGORITHM_VERSION: Final = Code("111003", "DCM", "Algorithm Version")
ALGORITHM_MANUFACTURER: Final = Code("122405", "DCM", "Algorithm Manufacturer")
ALGORITHM_PARAMETERS: Final = Code("111002", "DCM", "Algorithm Parameters")
ALGORITHM_FAMILY: Final = Code("111000", "DCM", "Algorithm Family")
