"""JSON-ready views of analysis results (for the CLI's summary, the job record and logs)."""

from __future__ import annotations

import math
from dataclasses import asdict
from enum import Enum
from typing import Any

import numpy as np

from analysis.types import PhotoAnalysis


def _clean(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 4)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def analysis_summary(result: PhotoAnalysis, *, include_points: bool = True) -> dict[str, Any]:
    """The whole analysis as plain JSON types; raw backend points only when asked."""
    out: dict[str, Any] = {
        "face_found": result.face_found,
        "message": result.message,
        "reliable": result.reliable,
        "models": [asdict(m) for m in result.models],
        "quality": asdict(result.quality) if result.quality else None,
        "scale": asdict(result.scale) if result.scale else None,
        "measurements": [asdict(m) for m in result.measurements],
        "findings": [asdict(f) for f in result.findings],
        "timings_ms": result.timings_ms,
    }
    if include_points and result.semantic is not None:
        out["landmarks"] = {
            name: {"x": xy[0], "y": xy[1], "confidence": result.semantic.confidence.get(name)}
            for name, xy in result.semantic.points.items()
        }
    return _clean(out)  # type: ignore[no-any-return]
