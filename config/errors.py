"""The one root of facenode's exceptions, and the whole tree drawn in one place.

Every error facenode's own code raises derives from :class:`FacenodeError`, so a caller can
catch "something the node refused or could not do" in one clause and still let real bugs
(``TypeError``, ``KeyError`` …) through. The root lives here, in the lowest layer, so that
every package can import it; each class lives beside the code that raises it (second
column). A builtin base in brackets is kept so that ``except ValueError`` callers keep
working. Messages say what was found and what was expected::

    FacenodeError                                  config.errors
    ├── SettingsError (ValueError)                 config.settings
    ├── NormsError (ValueError)                    config.tables
    ├── AnalysisError                              analysis.types
    │   ├── InvalidInputError (ValueError)         analysis.types
    │   ├── BackendUnavailableError (RuntimeError) analysis.types
    │   ├── GeometryError (ValueError)             analysis.geometry
    │   └── ReconstructionError                    reconstruction.errors
    │       ├── TooFewViewsError                   reconstruction.errors
    │       └── ReconstructionStageError           reconstruction.errors
    ├── ManifestError (ValueError)                 models.manifest
    ├── DicomInputError                            dicom.errors
    │   ├── NotAPhotoError (ValueError)            dicom.errors
    │   ├── UnreadablePixelsError (ValueError)     dicom.errors    C-STORE status 0xC000
    │   │   └── TruncatedPixelDataError            dicom.limits    C-STORE status 0xC000
    │   ├── IncompleteHeaderError (ValueError)     dicom.errors
    │   ├── MissingAttributeError (ValueError)     dicom.errors    C-STORE status 0xA900
    │   ├── InvalidAttributeError (ValueError)     dicom.errors    C-STORE status 0xC000
    │   ├── UnparsableDatasetError (ValueError)    dicom.errors    C-STORE status 0xC000
    │   └── TooLargeError (ValueError)             dicom.limits    C-STORE status 0xA700
    ├── NeedsPydicomWriter                         dicom.part10    internal: its fallback
    ├── JobInterrupted                             node.jobs
    │   └── WorkerStopped                          node.worker
    ├── WorkerFailure                              node.worker
    ├── TlsConfigError                             node.tls
    └── SendError                                  node.sender

``tests/unit/config/test_errors.py`` checks this drawing against the code (every exception
class the packages define, its parent, its builtin base and its module), so it cannot drift.
"""

from __future__ import annotations


class FacenodeError(Exception):
    """Root of every error facenode's own code raises (the tree is in the module docstring)."""
