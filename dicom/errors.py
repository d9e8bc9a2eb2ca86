"""Errors raised while turning received DICOM objects into analysis inputs.

One root, so the node can catch every refusal of an input in one place and turn it into a
quarantine note or a DIMSE failure status, never a crash::

    DicomInputError              an object the node cannot analyse (message says why)
    ├── NotAPhotoError           not a photo: wrong SOP Class, no image, unsupported layout
    ├── UnreadablePixelsError    a photo whose pixels cannot be decoded or used
    └── IncompleteHeaderError    a photo without the UIDs results must reference

Messages always say what was found and what was expected.
"""

from __future__ import annotations


class DicomInputError(Exception):
    """Root of the input errors of :mod:`dicom`."""


class NotAPhotoError(DicomInputError, ValueError):
    """The object is not a photo the node analyses (SOP Class, missing pixel module)."""


class UnreadablePixelsError(DicomInputError, ValueError):
    """The photo's pixel data cannot be decoded or converted to an RGB uint8 image."""


class IncompleteHeaderError(DicomInputError, ValueError):
    """The object lacks an identifier (Study/Series/SOP Instance UID) results must carry."""
