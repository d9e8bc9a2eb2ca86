"""Errors raised while turning received DICOM objects into analysis inputs.

One root, :class:`DicomInputError`, so the node can catch every refusal of an input in one
place and turn it into a quarantine note or a DIMSE failure status, never a crash. The
types, not the messages, choose the status (:mod:`node.scp`). The whole tree of facenode's
errors is drawn in :mod:`config.errors`. Messages always say what was found and what was
expected.
"""

from __future__ import annotations

from config.errors import FacenodeError


class DicomInputError(FacenodeError):
    """Root of the input errors of :mod:`dicom`."""


class NotAPhotoError(DicomInputError, ValueError):
    """The object is not a photo the node analyses (SOP Class, missing pixel module)."""


class UnreadablePixelsError(DicomInputError, ValueError):
    """The photo's pixel data cannot be decoded or converted to an RGB uint8 image."""


class IncompleteHeaderError(DicomInputError, ValueError):
    """The object lacks an identifier (Study/Series/SOP Instance UID) results must carry."""


class MissingAttributeError(DicomInputError, ValueError):
    """A received object lacks an attribute its SOP Class requires, or has it empty
    (C-STORE: 0xA900, dataset does not match SOP Class)."""


class InvalidAttributeError(DicomInputError, ValueError):
    """A received object has an attribute whose value cannot be accepted: too long, or not
    the one the C-STORE request announced (C-STORE: 0xC000, cannot understand)."""


class UnparsableDatasetError(DicomInputError, ValueError):
    """A received object's bytes cannot be decoded into a dataset (C-STORE: 0xC000)."""
