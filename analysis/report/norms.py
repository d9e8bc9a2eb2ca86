"""The norm table a report uses when its caller passes none: the shipped one, read once."""

from __future__ import annotations

from functools import cache

from config.norms import NormTable, load_norms


@cache
def default_norms() -> NormTable:
    return load_norms()
