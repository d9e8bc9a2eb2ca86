"""Errors of the reconstruction stages (their place in the tree: :mod:`config.errors`)."""

from __future__ import annotations

from analysis.types import AnalysisError


class ReconstructionError(AnalysisError):
    """A photo series could not be turned into 3D; the message says what was found and what
    was needed."""


class TooFewViewsError(ReconstructionError):
    """Fewer views registered in structure from motion than the configured minimum."""

    def __init__(self, registered: int, total: int, minimum: int) -> None:
        super().__init__(
            f"structure from motion registered {registered} of {total} views; "
            f"at least {minimum} are needed (configured minimum)"
        )
        self.registered = registered
        self.total = total
        self.minimum = minimum


class ReconstructionStageError(ReconstructionError):
    """One stage of the 3D pipeline failed; ``stage`` names it (sfm, scale, dense, meshing,
    landmarks, symmetry, measurements) and the message says what it found."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"3D reconstruction failed in the {stage} stage: {message}")
        self.stage = stage
