"""Soft-tissue profile points from the silhouette of a profile (lateral) photo.

Face-mesh models are trained on frontal and oblique faces; in a true profile they often
find no face, or put the midline points on the cheek. The profile points, though, lie on
(or, for the alar crease, just inside) the face's outline against the backdrop, which a
clinical profile photo shows cleanly. So no model is needed. The steps, one module each:

* :mod:`.silhouette` — photo → the anterior outline, top of the head to the neck, as a
  1-D curve (backdrop colour model; MediaPipe's selfie segmenter as a fallback);
* :mod:`.anatomy` — outline → the named points (pronasale, nasion, glabella, lips, chin,
  neck …) as extrema, concavities and tangent points, with the head-tilt pass and the
  plausibility check;
* :mod:`.alar` — the alar crease, a dark valley found in the photo just inside the outline;
* :mod:`.curve` — the curve tools the others share (smoothing, resampling, chords,
  tangents, the face frame).

This module joins them: :func:`find_profile_points` (and :func:`guess_facing` when the
facing is not known).

Facing
    ``View.PROFILE_RIGHT`` — the subject's right side is seen (DICOM "right lateral",
    SCT 399198007): the subject looks toward the image's **right**, the nose points to +x.
    ``View.PROFILE_LEFT`` ("left lateral", SCT 399173006) is its mirror: the nose points
    to −x. This is :mod:`analysis.quality.pose`'s convention (yaw > 0 turns the nose toward
    the image's right and shows the right side). Internally a left profile is mirrored so
    the nose points to +x; the points are mirrored back before they are returned.

Confidence
    Per point: the silhouette's confidence (how plain the backdrop, how sharp the edge)
    times the feature's own strength (see :mod:`.anatomy` and :mod:`.alar`).

Semantic landmarks from a face model are only hints: a nasal tip (``pronasale`` or
``ibug_30``) picks among rival nose candidates, an ``alare`` point (the visible side's)
narrows the alar-crease search.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np

from analysis.profile.alar import ALAR_MAX_CONFIDENCE, alar_crease
from analysis.profile.anatomy import (
    NECK_POINT,
    TILT_DEAD_BAND_DEG,
    TIP_WINDOWS,
    Found,
    locate_on_curve,
)
from analysis.profile.curve import Frame
from analysis.profile.silhouette import Silhouette, extract_silhouette
from analysis.types import FloatArray, ModelIdentity, Photo, SemanticLandmarks, View

PROFILE_MODEL: Final = ModelIdentity(
    id="facenode-profile-silhouette",
    name="facenode profile silhouette",
    version="1.0",
    licence="facenode (no third-party weights)",
    commercial_use=True,
)

_FACING: Final = {View.PROFILE_RIGHT: True, View.PROFILE_LEFT: False}


def find_profile_points(
    photo: Photo, facing: View, semantic: SemanticLandmarks | None = None
) -> SemanticLandmarks | None:
    """The soft-tissue profile points of a profile photo, or ``None`` without a face outline.

    ``facing`` is ``View.PROFILE_RIGHT`` (nose toward the image's right) or
    ``View.PROFILE_LEFT`` (toward the left); anything else is a ``ValueError``. Points are
    pixels (x = column, y = row, origin at the centre of the top-left pixel) keyed by
    :data:`analysis.landmark_names.PROFILE` names plus :data:`NECK_POINT`; a point that
    cannot be placed (e.g. the neck in a photo cut at the chin) is left out. ``semantic``
    landmarks, if any, are used only as hints.
    """
    if facing not in _FACING:
        raise ValueError(f"facing must be View.PROFILE_LEFT or View.PROFILE_RIGHT, got {facing!r}")
    nose_right = _FACING[facing]
    sil = extract_silhouette(photo.pixels, nose_right)
    if sil is None:
        return None
    w = photo.width
    tip_hint, alare_hint = _hints(semantic, nose_right, w)
    found = locate_on_curve(sil.curve, tip_hint)
    if found is None:
        return None
    points, conf, frame = found
    alar = alar_crease(photo.pixels, nose_right, points, frame, alare_hint)
    if alar is not None:
        points["alar_crease"], conf["alar_crease"] = alar
    out_pts: dict[str, tuple[float, float]] = {}
    out_conf: dict[str, float] = {}
    for name, (x, y) in points.items():
        out_pts[name] = (float(x if nose_right else (w - 1) - x), float(y))
        out_conf[name] = float(np.clip(conf[name] * sil.confidence, 0.0, 1.0))
    return SemanticLandmarks(points=out_pts, confidence=out_conf, sources=(PROFILE_MODEL,))


def guess_facing(photo: Photo) -> View | None:
    """Which way a profile photo faces, when neither the DICOM view nor a pose says."""
    traced = trace_either_facing(photo)
    return traced[0] if traced is not None else None


def trace_either_facing(photo: Photo) -> tuple[View, SemanticLandmarks] | None:
    """(facing, profile points) of a photo whose facing nothing else tells, or ``None``.

    Tries both facings; a wrong one puts the "backdrop" strips on the back of the head and
    finds no face-like outline. When both pass, the one with the higher mean confidence.
    """
    best: tuple[float, View, SemanticLandmarks] | None = None
    for view in (View.PROFILE_RIGHT, View.PROFILE_LEFT):
        res = find_profile_points(photo, view)
        if res is None:
            continue
        score = float(np.mean(list(res.confidence.values())))
        if best is None or score > best[0]:
            best = (score, view, res)
    return (best[1], best[2]) if best is not None else None


def _hints(
    semantic: SemanticLandmarks | None, nose_right: bool, width: int
) -> tuple[FloatArray | None, FloatArray | None]:
    """(nasal tip, visible ala) from a face model, in the nose-toward-+x frame."""
    if semantic is None:
        return None, None

    def get(*names: str) -> FloatArray | None:
        for n in names:
            if n in semantic.points:
                x, y = semantic.points[n]
                if math.isfinite(x) and math.isfinite(y):
                    return np.array([x if nose_right else (width - 1) - x, y])
        return None

    # the visible ala: the subject's right one in a right profile
    alare = get("ibug_31", "ibug_35") if nose_right else get("ibug_35", "ibug_31")
    return get("pronasale", "ibug_30"), alare


__all__ = [
    "ALAR_MAX_CONFIDENCE",
    "NECK_POINT",
    "PROFILE_MODEL",
    "TILT_DEAD_BAND_DEG",
    "TIP_WINDOWS",
    "Found",
    "Frame",
    "Silhouette",
    "extract_silhouette",
    "find_profile_points",
    "guess_facing",
    "locate_on_curve",
    "trace_either_facing",
]
