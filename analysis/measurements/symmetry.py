"""Left/right symmetry of a frontal face.

Mirrored-landmark asymmetry
    The facial midline is *fitted*: the reflection axis that best maps the inner-face
    landmarks (iBUG 17–67) onto their relabelled bilateral counterparts (closed-form
    Procrustes, :func:`analysis.geometry.fit_mirror_axis`). For each landmark
    i the distance |p_i − mirror(p_m(i))| to the mirror image of its counterpart is taken
    (a midline point is its own counterpart, so its distance is twice its offset from the
    axis). ``asymmetry_<region>`` is the RMS of those distances over a region of
    :data:`analysis.landmark_names.IBUG68_REGIONS`, in mm; ``asymmetry_overall`` over all
    68 points.

``symmetry_index``
    The same RMS over the *inner face* (iBUG 17–67: brows, nose, eyes, mouth) divided by the
    interpupillary distance, in % — a scale-free asymmetry score (0 = perfectly symmetric;
    larger = more asymmetric). Dividing by the IPD makes it independent of image
    resolution, camera distance and the mm scale. The jaw contour is left out because its
    points are silhouette points that slide with a few degrees of head turn (on public
    near-frontal photos the jaw alone moved the index by several %); it is reported on its
    own as ``asymmetry_jaw``. Near-frontal, neutral faces score ≈ 2–5 %.

``facial_asymmetry_index``
    Dynaface's FAI (jeffheaton/dynaface, ``measures_frontal.AnalyzeFAI``): on the WFLW
    98-point scheme it is |d(lm64, lm76) − d(lm68, lm82)|, i.e. the difference between the
    right inner-canthus→right-mouth-corner and left inner-canthus→left-mouth-corner
    distances. On our landmarks: |d(endocanthion_r, cheilion_r) − d(endocanthion_l,
    cheilion_l)| = |d(ibug_39, ibug_48) − d(ibug_42, ibug_54)|, in mm.

Signs: ``oral_commissure_height_difference`` and ``brow_height_difference`` are right − left
heights (+ = the subject's right side higher); ``canthal_tilt_difference`` is right − left.
Ratios are right / left.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from analysis.geometry import face_frame
from analysis.landmark_names import (
    IBUG68_REGIONS,
    INNER_FACE_INDICES,
    LEFT_BROW,
    LEFT_EYE,
    RIGHT_BROW,
    RIGHT_EYE,
    ibug_names,
)
from analysis.measurements.definition import (
    EYES_CLOSED,
    MOUTH_OPEN,
    SMILING,
    Definition,
    Kind,
)
from analysis.measurements.frontal import (
    EYES,
    brow_height,
    canthal_tilt,
    fissure_height,
    interpupillary_distance,
)
from analysis.measurements.geometry import Pts, dist, mirror_rms, polygon_area, ratio
from analysis.types import FloatArray

Formula = Callable[[Pts], FloatArray]
ALL68 = tuple(range(68))
#: Minimum landmarks for the symmetry measures: the eyes (for the IPD) and the inner face.
INNER_FACE = ibug_names(INNER_FACE_INDICES)


def _region_rms(indices: tuple[int, ...]) -> Formula:
    def formula(p: Pts) -> FloatArray:
        return mirror_rms(p, indices)

    return formula


def symmetry_index(p: Pts) -> FloatArray:
    rms = mirror_rms(p, INNER_FACE_INDICES)
    return 100.0 * ratio(rms, interpupillary_distance(p))


def facial_asymmetry_index(p: Pts) -> FloatArray:
    return np.abs(
        dist(p["endocanthion_r"], p["cheilion_r"]) - dist(p["endocanthion_l"], p["cheilion_l"])
    )


def eye_area_ratio(p: Pts) -> FloatArray:
    return ratio(polygon_area(p.array(RIGHT_EYE)), polygon_area(p.array(LEFT_EYE)))


def oral_commissure_height_difference(p: Pts) -> FloatArray:
    f = face_frame(p)
    return f.y(p["cheilion_l"]) - f.y(p["cheilion_r"])


def brow_height_difference(p: Pts) -> FloatArray:
    return brow_height(p, "r") - brow_height(p, "l")


def canthal_tilt_difference(p: Pts) -> FloatArray:
    return canthal_tilt(p, "r") - canthal_tilt(p, "l")


def palpebral_fissure_height_ratio(p: Pts) -> FloatArray:
    return ratio(fissure_height(p, "r"), fissure_height(p, "l"))


#: The upper- and lower-lid points the refinement confirms (iBUG 37, 38, 40, 41 / 43, 44, 46, 47).
_LIDS = ibug_names((37, 38, 40, 41, 43, 44, 46, 47))

_REGION_NEEDS = {
    "jaw": INNER_FACE + ibug_names(IBUG68_REGIONS["jaw"]),
}

DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        id="symmetry_index",
        name="Symmetry index (mirrored-landmark RMS / IPD)",
        landmarks=INNER_FACE,
        formula=symmetry_index,
        kind=Kind.PERCENT,
        yaw_sensitive=True,
        sensitive_to=frozenset({SMILING, MOUTH_OPEN}),
        description="RMS distance between each inner-face landmark (iBUG 17–67) and the "
        "mirror of its counterpart about the fitted midline, as % of the IPD; "
        "0 = perfectly symmetric.",
    ),
    Definition(
        id="asymmetry_overall",
        name="Mirrored-landmark asymmetry, whole face (RMS)",
        landmarks=INNER_FACE,
        formula=_region_rms(ALL68),
        kind=Kind.LENGTH,
        yaw_sensitive=True,
        sensitive_to=frozenset({SMILING, MOUTH_OPEN}),
        description="RMS of |p − mirror(counterpart)| over all available iBUG points.",
    ),
    *(
        Definition(
            id=f"asymmetry_{region}",
            name=f"Mirrored-landmark asymmetry, {region} (RMS)",
            landmarks=_REGION_NEEDS.get(region, INNER_FACE),
            formula=_region_rms(indices),
            kind=Kind.LENGTH,
            yaw_sensitive=True,
            norm_key="asymmetry_region",
            sensitive_to=(
                frozenset({SMILING, MOUTH_OPEN}) if region in ("mouth", "jaw") else frozenset()
            ),
            description=f"RMS of |p − mirror(counterpart)| over the {region} points, "
            "about the axis fitted on the inner face.",
        )
        for region, indices in IBUG68_REGIONS.items()
    ),
    Definition(
        id="facial_asymmetry_index",
        name="Facial asymmetry index (Dynaface FAI)",
        landmarks=("endocanthion_r", "cheilion_r", "endocanthion_l", "cheilion_l"),
        formula=facial_asymmetry_index,
        kind=Kind.LENGTH,
        yaw_sensitive=True,
        sensitive_to=frozenset({SMILING, MOUTH_OPEN}),
        description="|d(en_r, ch_r) − d(en_l, ch_l)| (Dynaface's lm64–lm76 vs lm68–lm82).",
    ),
    Definition(
        id="eye_area_ratio",
        name="Eye area ratio (right / left)",
        landmarks=EYES,
        formula=eye_area_ratio,
        kind=Kind.RATIO,
        yaw_sensitive=True,
        sensitive_to=frozenset({EYES_CLOSED, SMILING}),
        confirm=_LIDS,
        description="Area of the right eye-contour polygon over the left one.",
    ),
    Definition(
        id="palpebral_fissure_height_ratio",
        name="Palpebral fissure height ratio (right / left)",
        landmarks=EYES,
        formula=palpebral_fissure_height_ratio,
        kind=Kind.RATIO,
        yaw_sensitive=True,
        sensitive_to=frozenset({EYES_CLOSED, SMILING}),
        confirm=_LIDS,
        description="Eyelid aperture of the right eye over the left one.",
    ),
    Definition(
        id="oral_commissure_height_difference",
        name="Oral commissure height difference (right − left)",
        landmarks=EYES + ("endocanthion_r", "endocanthion_l", "cheilion_r", "cheilion_l"),
        formula=oral_commissure_height_difference,
        kind=Kind.LENGTH,
        sensitive_to=frozenset({SMILING, MOUTH_OPEN}),
        confirm=("cheilion_r", "cheilion_l"),
        description="Signed, + when the right commissure is higher, along the face vertical.",
    ),
    Definition(
        id="brow_height_difference",
        name="Brow height difference (right − left)",
        landmarks=EYES + RIGHT_BROW + LEFT_BROW,
        formula=brow_height_difference,
        kind=Kind.LENGTH,
        confirm=RIGHT_BROW + LEFT_BROW,
        description="Signed, + when the right brow sits higher above its eye.",
    ),
    Definition(
        id="canthal_tilt_difference",
        name="Canthal tilt difference (right − left)",
        landmarks=EYES,
        formula=canthal_tilt_difference,
        kind=Kind.ANGLE,
        description="Right minus left canthal tilt.",
    ),
)
