"""The measurement catalogue: one :class:`Definition` per measurement, computed by one engine.

``compute(semantic, scale, quality)`` returns every measurement whose definition is valid
for the photo's view and whose landmarks exist. Definitions live in :mod:`.frontal`,
:mod:`.symmetry` and :mod:`.profile`; conventions (face frame, signs) in :mod:`analysis.geometry`.
"""

from __future__ import annotations

from analysis.measurements import frontal, profile, symmetry
from analysis.measurements.definition import Definition, Kind
from analysis.measurements.engine import compute_all
from analysis.types import Measurement, Quality, Scale, SemanticLandmarks

CATALOGUE: tuple[Definition, ...] = frontal.DEFINITIONS + symmetry.DEFINITIONS + profile.DEFINITIONS

_BY_ID: dict[str, Definition] = {}
for _d in CATALOGUE:
    if _d.id in _BY_ID:
        raise RuntimeError(f"measurement id {_d.id!r} is defined twice in the catalogue")
    _BY_ID[_d.id] = _d
del _d


def definition(measurement_id: str) -> Definition:
    """The catalogue entry for ``measurement_id``; KeyError names the unknown id."""
    try:
        return _BY_ID[measurement_id]
    except KeyError:
        raise KeyError(f"no measurement {measurement_id!r} in the catalogue") from None


def compute(semantic: SemanticLandmarks, scale: Scale, quality: Quality) -> tuple[Measurement, ...]:
    """Every catalogue measurement valid for ``quality.view`` whose landmarks exist."""
    return compute_all(CATALOGUE, semantic, scale, quality)


__all__ = ["CATALOGUE", "Definition", "Kind", "compute", "definition"]
