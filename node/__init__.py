"""facenode's running service: CLI, DICOM SCP/SCU, storage, series, jobs, outbox."""

__version__ = "0.1.0"
