"""One catalogue entry: everything needed to compute, flag and judge one measurement.

Adding a measurement is one :class:`Definition` in the right module (``frontal``,
``symmetry``, ``profile``) plus, if it should be judged, one norm row in
``config/data/norms.toml`` keyed by :attr:`Definition.norm_key`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from analysis.measurements.geometry import Pts
from analysis.types import Flag, FloatArray, View


class Kind(StrEnum):
    """What a formula returns, which decides unit and scale handling."""

    LENGTH = "length"  # formula returns pixels; reported in mm (or [px] without a scale)
    ANGLE = "angle"  # degrees, scale-free
    RATIO = "ratio"  # dimensionless, scale-free
    PERCENT = "percent"  # dimensionless ×100, scale-free


UNITS: dict[Kind, str] = {
    Kind.LENGTH: "mm",
    Kind.ANGLE: "deg",
    Kind.RATIO: "{ratio}",
    Kind.PERCENT: "%",
}

FRONTAL_VIEWS = frozenset({View.FRONTAL, View.UNKNOWN})
PROFILE_VIEWS = frozenset({View.PROFILE_LEFT, View.PROFILE_RIGHT, View.UNKNOWN})

#: Expression states a measurement can be sensitive to (the Quality flags of the same name).
MOUTH_OPEN: Final = Flag.MOUTH_OPEN
SMILING: Final = Flag.SMILING
EYES_CLOSED: Final = Flag.EYES_CLOSED


@dataclass(frozen=True)
class Definition:
    """A measurement of the catalogue.

    ``landmarks`` must all exist for the measurement to be computed (aliases allowed);
    the formula may read further optional points (e.g. pupils), and the engine records
    every point actually read. ``formula`` is vectorised: it gets a :class:`Pts` over a
    batch of B landmark configurations and returns B values (see :mod:`.geometry`).
    ``views`` are the views it is computed for; outside ``ideal_views`` it carries the flag
    ``view_not_ideal``. ``yaw_sensitive`` marks left/right comparisons that a few degrees
    of head turn distort. ``confirm`` names the points whose left/right or midline
    position the value stands on: where the photo did not confirm one of them
    (``SemanticLandmarks.unconfirmed``) the value is flagged ``asymmetry_unconfirmed``.
    """

    id: str
    name: str
    landmarks: tuple[str, ...]
    formula: Callable[[Pts], FloatArray]
    kind: Kind
    views: frozenset[View] = FRONTAL_VIEWS
    ideal_views: frozenset[View] = frozenset({View.FRONTAL})
    norm_key: str = ""
    sensitive_to: frozenset[Flag] = field(default_factory=frozenset)
    yaw_sensitive: bool = False
    confirm: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if not self.norm_key:
            object.__setattr__(self, "norm_key", self.id)

    @property
    def unit(self) -> str:
        return UNITS[self.kind]
